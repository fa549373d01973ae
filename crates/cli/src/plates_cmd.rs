//! `gridmap plates PROJECT --grid CODE --out plates.pdf`: the grid's QR door plates as an A4
//! PDF (made where missing and marked printed, see `gridmap_server::plates::print_grid`), and
//! with `--json` the list of plates printed.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;

/// Arguments of `gridmap plates`.
#[derive(Debug, Args)]
pub struct PlatesArgs {
    /// The project: a GeoPackage file or a `postgres://` town.
    pub project: PathBuf,
    /// With a PostgreSQL project: the town's code (needed when the database holds several).
    #[arg(long, value_name = "CODE")]
    pub town: Option<String>,
    /// The grid (code) whose plates to print.
    #[arg(long)]
    pub grid: String,
    /// The PDF to write.
    #[arg(long, value_name = "PLATES.pdf")]
    pub out: PathBuf,
    /// The address residents reach the server at; each plate's QR code holds BASE_URL/r/TOKEN.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    pub base_url: String,
    /// Also write the plates printed as JSON: [{"token", "url", "building", "house", "address"}].
    #[arg(long, value_name = "PLATES.json")]
    pub json: Option<PathBuf>,
}

/// Prints the grid's plates. Exit 0; 2 for an unknown grid, a bad base URL or a missing font.
pub fn run_plates(args: PlatesArgs) -> Result<ExitCode> {
    let opened = crate::target::Opened::open(&args.project, args.town.as_deref())?;
    let name = opened.name();
    let mut store = opened.into_project_store();
    let Some(grid) = store.grid(&args.grid)? else {
        bail!("{name}: there is no grid {}", args.grid);
    };
    let buildings = store
        .buildings_by_grid()?
        .remove(&args.grid)
        .unwrap_or_default();
    let printed = gridmap_server::plates::print_grid(
        store.as_mut(),
        &args.grid,
        grid.grid.name.as_deref(),
        &buildings,
        &args.base_url,
    )?;
    std::fs::write(&args.out, &printed.pdf)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    if let Some(path) = &args.json {
        let list: Vec<_> = printed
            .plates
            .iter()
            .zip(&printed.urls)
            .map(|(p, url)| {
                json!({"token": p.token, "url": url, "building": p.building, "house": p.house,
                       "address": p.address})
            })
            .collect();
        std::fs::write(path, serde_json::to_string_pretty(&list)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let houses = printed.plates.iter().filter(|p| p.house.is_some()).count();
    println!(
        "grid {}: {} plates ({} buildings, {} houses) written to {}",
        args.grid,
        printed.plates.len(),
        printed.plates.len() - houses,
        houses,
        args.out.display()
    );
    if !printed.without_address.is_empty() {
        println!(
            "{} buildings have no standard address and got no plate: {}",
            printed.without_address.len(),
            printed
                .without_address
                .iter()
                .take(20)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
