//! Reads one address a line on standard input and prints its parse as a JSON line:
//! `cargo run -p gridmap-address --example parse_stdin < addresses.txt`.

use std::io::{BufRead, Write};

fn main() -> std::io::Result<()> {
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in stdin.lock().lines() {
        let line = line?;
        let v = match gridmap_address::parse(&line) {
            Ok(p) => serde_json::json!({"input": line, "normalized": p.normalized,
                "levels": p.levels, "warnings": p.warnings, "error": null}),
            Err(e) => serde_json::json!({"input": line, "error": e.to_string()}),
        };
        writeln!(out, "{v}")?;
    }
    Ok(())
}
