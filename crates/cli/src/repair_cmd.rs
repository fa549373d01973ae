//! `gridmap repair`: reads the grids (from a project or files), runs
//! [`gridmap_core::repair`], writes the repaired grids and the report, and with `--apply`
//! saves the changed grids into the project as one change with a history version each.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use geo::{Geometry, MultiPolygon};
use gridmap_core::repair::{Change, RepairInput, RepairOptions, RepairReport, repair};
use gridmap_core::{Building, Grid};
use gridmap_io::Fields;
use serde_json::{Map, json};

use crate::progress::Phases;

/// Arguments of `gridmap repair`.
#[derive(Debug, Args)]
pub struct RepairArgs {
    /// A project file: repair its grids (all, against the town boundary, or one village's with
    /// --village) instead of files.
    pub project: Option<PathBuf>,
    /// The village (code) of the project whose grids to repair, against its boundary.
    #[arg(long, requires = "project")]
    pub village: Option<String>,
    /// Grid polygons (.geojson, .fgb, or any format GDAL reads), WGS84 lon/lat.
    #[arg(long, value_name = "FILE", conflicts_with = "project")]
    pub grids: Option<PathBuf>,
    /// The outline the grids must cover: grids are clipped to it and slivers along it filled.
    #[arg(long, value_name = "FILE", conflicts_with = "village")]
    pub boundary: Option<PathBuf>,
    /// Building footprints or points, with `id` and `households`.
    #[arg(long, value_name = "FILE", conflicts_with = "project")]
    pub buildings: Option<PathBuf>,
    /// Property holding each grid's unique code.
    #[arg(long, value_name = "FIELD", default_value = "code")]
    pub grid_id: String,
    /// Property holding each building's unique id.
    #[arg(long, value_name = "FIELD", default_value = "id")]
    pub building_id: String,
    /// Vertices and edges of neighbouring grids closer than this (m) are made to coincide.
    #[arg(long, value_name = "M", default_value_t = 1.0)]
    pub snap_m: f64,
    /// Gaps up to this area (m²) holding no building are given to a neighbour; larger ones
    /// are left for a human.
    #[arg(long, value_name = "F", default_value_t = 100.0)]
    pub max_gap_m2: f64,
    /// Overlaps up to this area (m²) are given to one of their grids; larger ones are left.
    #[arg(long, value_name = "F", default_value_t = 2000.0)]
    pub max_overlap_m2: f64,
    /// Overlaps and gaps this small (m²) or smaller are not defects, as in `validate`.
    #[arg(long, value_name = "F", default_value_t = 1.0)]
    pub min_area_m2: f64,
    /// The repaired grids (GeoJSON), each with `code`, `name`, `village` and `changed`.
    #[arg(long, value_name = "REPAIRED.geojson")]
    pub out: PathBuf,
    /// The report (JSON): every change, the area each grid gained and lost, the buildings and
    /// households that change grid, and what was left for a human and why.
    #[arg(long, value_name = "R.json")]
    pub report: Option<PathBuf>,
    /// Save the changed grids into the project, as one change: each gets a new history
    /// version with --why as the reason.
    #[arg(long, requires_all = ["project", "why"])]
    pub apply: bool,
    /// The reason kept in grid history (with --apply).
    #[arg(long, value_name = "TEXT")]
    pub why: Option<String>,
    /// Who applies (kept in grid history).
    #[arg(long, default_value = "gridmap repair")]
    pub who: String,
}

fn check_options(args: &RepairArgs) -> Result<RepairOptions> {
    for (name, v) in [
        ("--snap-m", args.snap_m),
        ("--max-gap-m2", args.max_gap_m2),
        ("--max-overlap-m2", args.max_overlap_m2),
        ("--min-area-m2", args.min_area_m2),
    ] {
        if !v.is_finite() || v < 0.0 {
            bail!("{name} must be a number, 0 or more, got {v}");
        }
    }
    if args.snap_m > 50.0 {
        bail!(
            "--snap-m {} is more than 50 m: snapping is for vertices that almost coincide",
            args.snap_m
        );
    }
    if args.apply && args.why.as_deref().is_none_or(|w| w.trim().is_empty()) {
        bail!("--apply needs a reason: --why TEXT (kept in every repaired grid's history)");
    }
    Ok(RepairOptions {
        snap_m: args.snap_m,
        max_gap_m2: args.max_gap_m2,
        max_overlap_m2: args.max_overlap_m2,
        min_area_m2: args.min_area_m2,
    })
}

/// The grids, boundary and buildings to repair.
fn read_input(
    args: &RepairArgs,
    phases: &mut Phases,
) -> Result<(Vec<Grid>, Option<MultiPolygon>, Vec<Building>)> {
    if let Some(project) = &args.project {
        phases.phase("reading the project");
        if let Some(code) = &args.village {
            let (boundary, buildings, grids) = crate::partition_cmd::village_layers(project, code)?;
            if grids.is_empty() {
                bail!("{}: village {code} has no grids", project.display());
            }
            return Ok((grids, Some(boundary), buildings));
        }
        use gridmap_store::Store;
        let store = gridmap_store::GpkgStore::open(project)?;
        let grids: Vec<Grid> = store.grids()?.into_iter().map(|g| g.grid).collect();
        let mut boundary = store.town()?.boundary;
        if let Some(path) = &args.boundary {
            phases.phase("reading boundary");
            boundary = Some(gridmap_io::read_boundary(path)?);
        }
        if grids.is_empty() {
            bail!("{}: the project has no grids", project.display());
        }
        return Ok((grids, boundary, store.buildings()?));
    }
    let (Some(grid_file), Some(building_file)) = (&args.grids, &args.buildings) else {
        bail!("give PROJECT.gpkg [--village CODE], or --grids FILE and --buildings FILE");
    };
    let fields = Fields {
        grid_id: args.grid_id.clone(),
        building_id: args.building_id.clone(),
        ..Fields::default()
    };
    phases.phase("reading grids");
    let layer = gridmap_io::read_grids(grid_file, &fields)?;
    phases.phase("reading buildings");
    let buildings = gridmap_io::read_buildings(building_file, &fields)?;
    let boundary = match &args.boundary {
        Some(path) => {
            phases.phase("reading boundary");
            Some(gridmap_io::read_boundary(path)?)
        }
        None => None,
    };
    Ok((layer.grids, boundary, buildings))
}

pub fn run_repair(args: RepairArgs, verbose: bool) -> Result<ExitCode> {
    let options = check_options(&args)?;
    let mut phases = Phases::new(verbose);
    let (grids, boundary, buildings) = read_input(&args, &mut phases)?;
    let input = RepairInput {
        grids: &grids,
        boundary: boundary.as_ref(),
        buildings: &buildings,
    };
    let repaired = repair(&input, &options, &mut |name| phases.phase(name));
    let report = &repaired.report;

    phases.phase("writing the repaired grids");
    let changed: std::collections::HashSet<&str> =
        report.grids.iter().map(|g| g.grid.as_str()).collect();
    gridmap_io::write_geojson(
        &args.out,
        repaired.grids.iter().map(|g| {
            let mut p = Map::new();
            p.insert("code".into(), json!(g.code));
            p.insert("name".into(), json!(g.name));
            p.insert("village".into(), json!(g.village));
            p.insert("changed".into(), json!(changed.contains(g.code.as_str())));
            (Some(Geometry::MultiPolygon(g.geometry.clone())), p)
        }),
    )?;
    if let Some(path) = &args.report {
        phases.phase("writing the report");
        let file =
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut out = BufWriter::new(file);
        serde_json::to_writer_pretty(&mut out, report)?;
        writeln!(out)?;
        out.flush()
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let mut applied = None;
    if args.apply
        && let Some(project) = &args.project
    {
        phases.phase("saving the repaired grids");
        use gridmap_store::Store;
        let mut store = gridmap_store::GpkgStore::open(project)?;
        // Someone may have edited a grid while this ran: then the repair was of another
        // coverage, and saving it would undo their edit.
        let now: HashMap<String, Grid> = store
            .grids()?
            .into_iter()
            .map(|g| (g.grid.code.clone(), g.grid))
            .collect();
        let edited: Vec<&str> = grids
            .iter()
            .filter(|g| changed.contains(g.code.as_str()))
            .filter(|g| now.get(&g.code) != Some(*g))
            .map(|g| g.code.as_str())
            .collect();
        if !edited.is_empty() {
            bail!(
                "{}: grid(s) {} changed while the repair ran; nothing was saved: run it again",
                project.display(),
                edited.join(", ")
            );
        }
        let to_save: Vec<Grid> = repaired
            .grids
            .iter()
            .filter(|g| changed.contains(g.code.as_str()))
            .cloned()
            .collect();
        let change = gridmap_store::Change {
            who: args.who.clone(),
            why: args.why.clone().unwrap_or_default(),
        };
        let counts = store
            .import_grids(&to_save, gridmap_store::Mode::Upsert, &change)
            .with_context(|| {
                format!("cannot save the repaired grids into {}", project.display())
            })?;
        applied = Some(counts.updated + counts.inserted);
    }
    let took = phases.finish();
    print_summary(
        &args,
        report,
        grids.len(),
        buildings.len(),
        took.as_secs_f64(),
    );
    if let Some(n) = applied {
        println!(
            "applied: {n} grid{} saved with a new history version ({:?})",
            if n == 1 { "" } else { "s" },
            args.why.as_deref().unwrap_or_default()
        );
    }
    std::mem::forget(buildings);
    Ok(if report.left.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_summary(args: &RepairArgs, r: &RepairReport, grids: usize, buildings: usize, s: f64) {
    let from = args
        .project
        .as_ref()
        .or(args.grids.as_ref())
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    println!("gridmap repair: {grids} grids, {buildings} buildings ({from}) in {s:.2} s");
    let count = |f: fn(&Change) -> bool| r.changes.iter().filter(|c| f(c)).count();
    let sum = &r.summary;
    println!(
        "  changed {} grids: {} made valid, {} snapped, {} clipped to the boundary, {} overlaps given to one grid, {} fragments and {} gaps given to a neighbour",
        sum.grids_changed,
        count(|c| matches!(c, Change::MadeValid { .. })),
        count(|c| matches!(c, Change::Snapped { .. })),
        count(|c| matches!(c, Change::Clipped { .. })),
        count(|c| matches!(c, Change::Overlap { .. })),
        count(|c| matches!(c, Change::Fragment { .. })),
        count(|c| matches!(c, Change::Gap { .. })),
    );
    println!(
        "  before → after: {} → {} invalid, {} → {} overlaps, {} → {} gaps, {} → {} outside the boundary",
        sum.invalid_before,
        sum.invalid_after,
        sum.overlaps_before,
        sum.overlaps_after,
        sum.gaps_before,
        sum.gaps_after,
        sum.outside_before,
        sum.outside_after
    );
    println!(
        "  {} buildings ({} households) change grid",
        sum.buildings_moved, sum.households_moved
    );
    if r.left.is_empty() {
        println!("nothing left for a human");
    } else {
        println!("left for a human:");
        for l in &r.left {
            let at = l
                .point
                .map(|p| format!(" at {:.6},{:.6}", p[0], p[1]))
                .unwrap_or_default();
            let grids = if l.grids.is_empty() {
                String::new()
            } else {
                format!(" {}", l.grids.join(" × "))
            };
            println!("  {}{grids}{at}: {:.1} m², {}", l.kind, l.area_m2, l.why);
        }
    }
}
