//! Moving a whole town between the stores (issue #25): `gridmap export postgres://… --town
//! CODE backup.gpkg` (no `--layer`) writes the town as a complete GeoPackage project, the
//! offline backup (离线备份) the town notices ask for; `gridmap import postgres://… town.gpkg`
//! (no `--layer`) adds a GeoPackage project to the database as a new town, all or nothing.
//! Both copy the rows as stored (see `gridmap_store::transfer`): grid history, users, audit
//! log and plans with their times, the household registers sealed (no register key needed).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use gridmap_pgstore::PgStore;
use gridmap_store::GpkgStore;
use gridmap_store::transfer::ProjectCopy;

use crate::target::{Opened, Project};

/// What a copy holds, for a message: `12 villages, 31 grids, …` (what it has none of is left
/// out).
fn summary(copy: &ProjectCopy) -> String {
    let parts: Vec<String> = copy
        .summary()
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(what, n)| format!("{n} {what}"))
        .collect();
    if parts.is_empty() {
        "no rows beside the town".into()
    } else {
        parts.join(", ")
    }
}

/// `gridmap export PROJECT [--town CODE] OUT.gpkg` without `--layer`: the whole town of a
/// PostgreSQL database as a new GeoPackage project at `out`.
pub fn export_project(project: &Path, town: Option<&str>, out: &Path) -> Result<ExitCode> {
    let is_gpkg = out
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("gpkg"));
    if !is_gpkg {
        bail!(
            "{}: a whole project is exported as a GeoPackage project (.gpkg); give --layer to \
             export one layer in another format",
            out.display()
        );
    }
    let store = match Opened::open(project, town)? {
        Opened::Pg(store) => store,
        Opened::Gpkg(_, path) => bail!(
            "{} is a GeoPackage project already: to back it up, copy the file (with `gridmap \
             serve` stopped); give --layer to export one layer",
            path.display()
        ),
    };
    let copy = store.copy_out()?;
    GpkgStore::write_copy(out, &copy).with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "exported town {} ({}) of {} to {}: {}",
        copy.town.code,
        copy.town.name,
        store.database(),
        out.display(),
        summary(&copy)
    );
    Ok(ExitCode::SUCCESS)
}

/// `gridmap import postgres://… [--town CODE] PROJECT.gpkg` without `--layer`: the whole
/// GeoPackage project `file` as a new town of the database, in one transaction. `town`, when
/// given, must be the project's own town code.
pub fn import_project(project: &Path, town: Option<&str>, file: &Path) -> Result<ExitCode> {
    let url = match crate::target::project(project)? {
        Project::Pg(url) => url,
        Project::File(path) => bail!(
            "{}: a whole project (import without --layer) goes into a PostgreSQL database \
             (postgres://…); a GeoPackage project is moved by copying its file",
            path.display()
        ),
    };
    let source = GpkgStore::open(file)?;
    let own = gridmap_store::Store::town(&source)?;
    if let Some(code) = town
        && code != own.code
    {
        bail!(
            "{}: the project's town is {}, not {code} (--town); a town keeps its code when it moves",
            file.display(),
            own.code
        );
    }
    let copy = source
        .copy_out()
        .with_context(|| format!("cannot read {}", file.display()))?;
    let store = PgStore::create_copy(url, &copy)
        .with_context(|| format!("cannot import {}", file.display()))?;
    println!(
        "imported {} into {} as town {} ({}): {}",
        file.display(),
        store.database(),
        copy.town.code,
        copy.town.name,
        summary(&copy)
    );
    Ok(ExitCode::SUCCESS)
}
