//! `gridmap import PROJECT --layer households FORM` and `gridmap stats PROJECT`.
//!
//! Names, ID numbers and phones never reach the terminal: rows are named by number, and the
//! import prints counts only.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use gridmap_io::households::read_households;
use gridmap_store::registers::{
    GroupBy, GroupStats, HouseholdOptions, RegisterError, RegisterKey, RowProblem,
};

/// How many rows a message lists before it says "and N more".
const LIST: usize = 20;

fn list(rows: &[RowProblem]) -> String {
    let mut s = String::new();
    for r in rows.iter().take(LIST) {
        let _ = write!(s, "\n  {r}");
    }
    if rows.len() > LIST {
        let _ = write!(s, "\n  … and {} more", rows.len() - LIST);
    }
    s
}

/// Imports a household form (.xlsx or .csv) into the project's registers. The key comes from
/// `GRIDMAP_KEY` or `GRIDMAP_KEY_FILE`. All-or-nothing unless `skip_invalid`; then rejected
/// and unlinked rows, with their reasons, go to `rejected` (default `FORM.rejected.csv`).
pub fn run_import_households(
    project: &Path,
    town: Option<&str>,
    file: &Path,
    skip_invalid: bool,
    rejected: Option<&Path>,
) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    let key = RegisterKey::from_env()?;
    let opened = crate::target::Opened::open(project, town)?;
    let name = opened.name();
    let mut store = opened.into_project_store();
    let form = read_households(file)?;
    let mut rejected_rows: Vec<RowProblem> = form
        .rejected
        .iter()
        .map(|r| RowProblem {
            row: r.row,
            reason: r.reason.clone(),
        })
        .collect();
    if !rejected_rows.is_empty() && !skip_invalid {
        bail!(
            "{}: {} rows rejected, nothing imported (use --skip-invalid to import the others):{}",
            file.display(),
            rejected_rows.len(),
            list(&rejected_rows)
        );
    }
    let done = match store.import_households(&form.rows, &key, HouseholdOptions { skip_invalid }) {
        Ok(d) => d,
        Err(RegisterError::Rejected(rows)) => bail!(
            "{}: {} rows rejected, nothing imported (use --skip-invalid to import the others):{}",
            file.display(),
            rows.len(),
            list(&rows)
        ),
        Err(e) => return Err(e.into()),
    };
    rejected_rows.extend(done.rejected.iter().cloned());
    rejected_rows.sort_by_key(|r| r.row);
    let imported = done.people_inserted + done.people_updated;
    let mut side = String::new();
    if skip_invalid {
        let path: PathBuf = rejected.map(Path::to_path_buf).unwrap_or_else(|| {
            let mut name = file.file_name().unwrap_or_default().to_os_string();
            name.push(".rejected.csv");
            file.with_file_name(name)
        });
        let mut w = csv::Writer::from_path(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        w.write_record(["row", "status", "reason"])?;
        for (status, rows) in [
            ("rejected", &rejected_rows),
            ("unlinked", &done.unlinked),
            ("rental_incomplete", &done.rentals_incomplete),
        ] {
            for r in rows.iter() {
                w.write_record([r.row.to_string().as_str(), status, r.reason.as_str()])?;
            }
        }
        w.flush()?;
        side = format!(" (reasons in {})", path.display());
    }
    let rate = if imported > 0 {
        100.0 * done.rows_linked as f64 / imported as f64
    } else {
        0.0
    };
    println!(
        "imported households from {} into {} ({}, header row {}): read {} rows; {} people ({} new, {} updated) in {} houses ({} new, {} existing); rejected {}{side}; linked {} of {} rows to a building ({rate:.1}%) in {:.2} s",
        file.display(),
        name,
        form.encoding,
        form.header_row,
        form.rows.len() + form.rejected.len(),
        imported,
        done.people_inserted,
        done.people_updated,
        done.houses_created + done.houses_existing,
        done.houses_created,
        done.houses_existing,
        rejected_rows.len(),
        done.rows_linked,
        imported,
        started.elapsed().as_secs_f64(),
    );
    if !done.unlinked.is_empty() {
        println!(
            "{} rows not linked to a building:{}",
            done.unlinked.len(),
            list(&done.unlinked)
        );
    }
    if !done.rentals_incomplete.is_empty() {
        println!(
            "{} rented houses' remarks lack what the form asks (房主, 承租期限, 租赁原因):{}",
            done.rentals_incomplete.len(),
            list(&done.rentals_incomplete)
        );
    }
    if !form.ignored_columns.is_empty() {
        println!("columns left out: {}", form.ignored_columns.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

/// `gridmap stats PROJECT [--by grid|village] [--json]`: houses, people, linkage rate and the
/// state of the standard addresses per grid or village, with the town's totals. Reads no
/// personal data, so needs no key.
pub fn run_stats(project: &Path, town: Option<&str>, by: &str, json: bool) -> Result<ExitCode> {
    let by = match by {
        "grid" => GroupBy::Grid,
        "village" => GroupBy::Village,
        other => bail!("--by {other}: expected grid or village"),
    };
    let stats = crate::target::Opened::open(project, town)?
        .into_project_store()
        .register_stats(by)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<18} {:>6} {:>6} {:>7} {:>4} {:>5} {:>6} {:>5} {:>7} {:>6} {:>6} {:>6} {:>7} {:>7} {:>7}",
        stats.by,
        "bldgs",
        "addrs",
        "matched",
        "dup",
        "confl",
        "nobldg",
        "malf",
        "noaddr",
        "houses",
        "linked",
        "empty",
        "people",
        "linked",
        "rate"
    );
    let line = |g: &GroupStats| {
        println!(
            "{:<18} {:>6} {:>6} {:>7} {:>4} {:>5} {:>6} {:>5} {:>7} {:>6} {:>6} {:>6} {:>7} {:>7} {:>7}",
            g.code,
            g.buildings,
            g.addresses,
            g.addresses_matched,
            g.addresses_duplicate,
            g.addresses_conflict,
            g.addresses_without_building,
            g.addresses_malformed,
            g.buildings_without_address,
            g.houses,
            g.houses_linked,
            g.houses_without_people,
            g.people,
            g.people_linked,
            g.linkage_rate
                .map_or_else(|| "-".to_string(), |r| format!("{:.1}%", 100.0 * r)),
        );
    };
    stats.groups.iter().for_each(line);
    line(&stats.town);
    if let Some(r) = stats.town.linkage_rate {
        println!(
            "linkage rate {:.1}% ({} the {:.0}% target)",
            100.0 * r,
            if r >= stats.linkage_target {
                "meets"
            } else {
                "below"
            },
            100.0 * stats.linkage_target
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `gridmap stats PROJECT --scorecard [--json] [--xlsx OUT]`: the campaign scorecard, from the
/// same counting as the server's `/api/scorecard`.
pub fn run_scorecard(
    project: &Path,
    town: Option<&str>,
    json: bool,
    xlsx: Option<&Path>,
    pdf: Option<&Path>,
) -> Result<ExitCode> {
    let store = crate::target::Opened::open(project, town)?.into_project_store();
    let town = store.town()?;
    let (grids, outside) = store.scorecard_counts()?;
    let card = gridmap_stats::scorecard::scorecard(&town.name, &grids, &outside);
    if let Some(out) = xlsx {
        let names: std::collections::HashMap<String, String> = store
            .villages()?
            .into_iter()
            .map(|v| (v.code, v.name))
            .collect();
        let today = chrono::Local::now().format("%Y-%m-%d").to_string();
        let book = gridmap_server::scorecard::workbook(&town.name, &today, &card, &|v| {
            names.get(v).cloned()
        })?;
        std::fs::write(out, book).with_context(|| format!("cannot write {}", out.display()))?;
    }
    if let Some(out) = pdf {
        let font = gridmap_plates::Font::find()?;
        let today = chrono::Local::now().format("%Y-%m-%d").to_string();
        let bytes = gridmap_server::scorecard::pdf(&town.name, &today, &card, &font)?;
        std::fs::write(out, bytes).with_context(|| format!("cannot write {}", out.display()))?;
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&card)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} scorecard", town.name);
    for line in gridmap_server::scorecard::describe(&card.town) {
        println!("  {line}");
    }
    println!(
        "{:<20} {:>5} {:>5}  rates (visit registration attention consistency linkage awareness satisfaction plate)",
        "grid", "red", "green"
    );
    for c in &card.grids {
        let rates: Vec<String> = c
            .rates()
            .iter()
            .map(|(_, r)| {
                r.rate
                    .map_or_else(|| "-".into(), |v| format!("{:.1}%", v * 100.0))
            })
            .collect();
        println!(
            "{:<20} {:>5} {:>5}  {}",
            c.code,
            c.red,
            c.green,
            rates.join(" ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `gridmap rekey PROJECT --new-key-file F`: the registers re-encrypted from the key in the
/// environment to the key in F, in one transaction.
pub fn run_rekey(project: &Path, town: Option<&str>, new_key_file: &Path) -> Result<ExitCode> {
    let old = RegisterKey::from_env()?;
    let text = std::fs::read_to_string(new_key_file)
        .with_context(|| format!("cannot read the new key file {}", new_key_file.display()))?;
    let new = RegisterKey::from_hex(text.trim())
        .map_err(|e| anyhow::anyhow!("{}: {e}", new_key_file.display()))?;
    let opened = crate::target::Opened::open(project, town)?;
    let name = opened.name();
    let mut store = opened.into_project_store();
    let n = store.rekey(&old, &new)?;
    println!(
        "{name}: {n} people re-encrypted with the new key; start the server with it, then destroy the old key"
    );
    Ok(ExitCode::SUCCESS)
}
