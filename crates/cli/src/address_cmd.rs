//! `gridmap address parse`: one address a line on standard input, one JSON object a line out.

use std::io::{BufRead, BufWriter, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};
use gridmap_address::{Levels, parse};
use serde::Serialize;

/// One output line, fields in the documented order.
#[derive(Serialize)]
struct Line<'a> {
    input: &'a str,
    normalized: Option<&'a str>,
    levels: &'a Levels,
    error: Option<&'a str>,
    warnings: &'a [String],
}

/// Reads addresses from standard input, one a line, and writes one JSON object a line:
/// `{"input", "normalized", "levels": {...}, "error", "warnings"}`. A line that cannot be
/// parsed (or is not UTF-8) gets its `error` and null levels; the exit code is still 0. An
/// I/O error on standard input or output is an `Err` (exit code 2 in `main`).
pub fn run_address_parse() -> Result<ExitCode> {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut buf = Vec::with_capacity(256);
    let mut line_no = 0usize;
    loop {
        buf.clear();
        let n = input
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading standard input after line {line_no}"))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        let written = match std::str::from_utf8(&buf) {
            Ok(text) => match parse(text) {
                Ok(p) => serde_json::to_writer(
                    &mut out,
                    &Line {
                        input: text,
                        normalized: Some(&p.normalized),
                        levels: &p.levels,
                        error: None,
                        warnings: &p.warnings,
                    },
                ),
                Err(e) => failed(&mut out, text, &e.to_string()),
            },
            Err(_) => failed(&mut out, &String::from_utf8_lossy(&buf), "not UTF-8 text"),
        };
        written.context("writing standard output")?;
        out.write_all(b"\n").context("writing standard output")?;
    }
    out.flush().context("writing standard output")?;
    Ok(ExitCode::SUCCESS)
}

fn failed(out: &mut impl Write, input: &str, error: &str) -> serde_json::Result<()> {
    let line = Line {
        input,
        normalized: None,
        levels: &Levels::default(),
        error: Some(error),
        warnings: &[],
    };
    serde_json::to_writer(out, &line)
}
