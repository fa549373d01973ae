//! The `gridmap` command-line tool: glue between the readers, the core and the writers.

mod address_cmd;
mod commands;
mod division_cmd;
mod households_cmd;
mod moves;
mod partition_cmd;
mod plates_cmd;
mod progress;
mod project;
mod reconcile_cmd;
mod repair_cmd;
mod serve_cmd;
mod target;

use std::process::ExitCode;

use clap::Parser;

/// jemalloc rather than the system allocator: a million footprints are decoded, prepared and
/// freed across threads, which glibc's malloc does with more CPU (6% of `gridmap assign` on the
/// district) and more memory (peak RSS 196 MiB against 234 MiB); see `docs/benchmarks.md`.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = commands::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
