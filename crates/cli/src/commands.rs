use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use geo::Geometry;
use gridmap_core::assign::{Assignment, Status, assign_building};
use gridmap_core::index::GridIndex;
use gridmap_core::model::Building;
use gridmap_core::validate::{CoverageInput, Options, Report, grid_defects, validate};
use gridmap_io::Fields;
use rayon::prelude::*;
use serde_json::{Map, Value, json};

use crate::progress::Phases;

/// gridmap: grids, buildings and addresses for grid-based community governance (网格化管理).
#[derive(Debug, Parser)]
#[command(name = "gridmap", version, about, max_term_width = 100)]
pub struct Cli {
    /// Print the time each phase takes to standard error.
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check that every building lies in exactly one grid and that the grids cover their
    /// boundary with no gap and no overlap. Exit code 0: no problem; 1: problems found; 2: bad
    /// input or usage.
    Validate(ValidateArgs),
    /// Repair the grids' coverage with the least change: snap near-coincident edges, give
    /// each small overlap and empty gap to one grid, clip to the boundary, make invalid grids
    /// valid; report which buildings change grid and what is left for a human. Exit code 0:
    /// nothing left; 1: defects left for a human (see the report); 2: bad input or usage.
    Repair(crate::repair_cmd::RepairArgs),
    /// Write the grid of every building to a CSV file: building,grid,status,outside_share.
    Assign(AssignArgs),
    /// Generate a synthetic town (grids, buildings, boundary) for tests and benchmarks.
    Synth(SynthArgs),
    /// Create a project file (a GeoPackage) for a town, or add a town to a PostgreSQL database.
    Init(crate::project::InitArgs),
    /// Import a layer into a project, all or nothing; without --layer, a whole GeoPackage
    /// project into a PostgreSQL database as a new town.
    Import(crate::project::ImportArgs),
    /// Export a layer of a project to GeoJSON, FlatGeobuf, Shapefile, GeoPackage, KML, GML or CSV;
    /// without --layer, a whole town of a PostgreSQL database as a GeoPackage project.
    Export(crate::project::ExportArgs),
    /// Show every version of a grid: who changed it, when, why.
    History(crate::project::HistoryArgs),
    /// Make an earlier version of a grid current again.
    Restore(crate::project::RestoreArgs),
    /// Re-partition a boundary into balanced, contiguous, compact grids; the report names every
    /// grid outside the tolerance and why.
    Partition(crate::partition_cmd::PartitionArgs),
    /// Serve the project over HTTP: the API for the web app and other clients.
    Serve(crate::serve_cmd::ServeArgs),
    /// Manage the users who may sign in.
    #[command(subcommand)]
    User(crate::serve_cmd::UserCommand),
    /// The org tree above the town in a PostgreSQL database: provinces, cities and districts,
    /// and the ranking of a division's towns.
    #[command(subcommand)]
    Division(crate::division_cmd::DivisionCommand),
    /// Standard addresses: parse and normalise.
    #[command(subcommand)]
    Address(AddressCommand),
    /// Registers per grid or village: houses, people, person–house linkage, addresses matched,
    /// duplicate, in conflict, missing, malformed.
    Stats(StatsArgs),
    /// Print the QR door plates (二维码门牌) of a grid as an A4 PDF: one plate per building
    /// with a standard address and per house registered in it, the QR code of BASE_URL/r/TOKEN
    /// and the address in Chinese under it. Needs a CJK font (Debian: fonts-wqy-microhei).
    Plates(crate::plates_cmd::PlatesArgs),
    /// Re-encrypt the household registers with a new key (GRIDMAP_KEY or GRIDMAP_KEY_FILE holds
    /// the current one), all or nothing.
    Rekey(RekeyArgs),
    /// Compare the register with the police station's population extract (同增同减): people
    /// on one side only and at different addresses, per grid, with the consistency rate;
    /// optionally the exchange workbook for the station and tasks to visit.
    Reconcile(crate::reconcile_cmd::ReconcileArgs),
}

#[derive(Debug, Args)]
struct RekeyArgs {
    /// The project file, or a PostgreSQL database (postgres://…); stop the servers first.
    project: PathBuf,
    /// With a PostgreSQL project: the town's code (needed when the database holds several).
    #[arg(long, value_name = "CODE")]
    town: Option<String>,
    /// A file holding the new key: 64 hex characters (`openssl rand -hex 32`).
    #[arg(long)]
    new_key_file: PathBuf,
}

#[derive(Debug, Args)]
struct StatsArgs {
    /// The project file, or a PostgreSQL database (postgres://…, see `gridmap init`): there,
    /// the figures of buildings and addresses only (the registers are GeoPackage-only for now).
    project: PathBuf,
    /// With a PostgreSQL project: the town's code (needed when the database holds several).
    #[arg(long, value_name = "CODE")]
    town: Option<String>,
    #[arg(long, default_value = "grid", value_parser = ["grid", "village"])]
    by: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// The campaign scorecard instead of the register table: the eight rates (三个100%、
    /// 三个95%, 二维码管理率) for the town, each village and each grid, against their targets.
    #[arg(long)]
    scorecard: bool,
    /// With --scorecard: also write the monthly ranking report (Excel, Chinese headers) here.
    #[arg(long, value_name = "OUT.xlsx", requires = "scorecard")]
    xlsx: Option<PathBuf>,
    /// With --scorecard: also write the monthly ranking report as a PDF here (needs a CJK
    /// font: Debian's fonts-wqy-microhei, or GRIDMAP_CJK_FONT).
    #[arg(long, value_name = "OUT.pdf", requires = "scorecard")]
    pdf: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum AddressCommand {
    /// Read one address a line on standard input; write one JSON object a line:
    /// {"input","normalized","levels","error","warnings"}. Exit 0 even when some lines fail.
    Parse,
}

#[derive(Debug, Args)]
struct LayerArgs {
    /// Grid polygons (.geojson, .fgb, or any format GDAL reads), WGS84 lon/lat.
    #[arg(long, value_name = "FILE")]
    grids: Option<PathBuf>,
    /// Building footprints (polygons) or points.
    #[arg(long, value_name = "FILE")]
    buildings: Option<PathBuf>,
    /// Property holding each grid's unique code.
    #[arg(long, value_name = "FIELD", default_value = "code")]
    grid_id: String,
    /// Property holding each building's unique id.
    #[arg(long, value_name = "FIELD", default_value = "id")]
    building_id: String,
    /// A building with more than this share of its footprint outside its grid is straddling.
    #[arg(long, value_name = "F", default_value_t = 0.10)]
    straddle_share: f64,
}

#[derive(Debug, Args)]
struct ValidateArgs {
    /// A project file (.gpkg), or a PostgreSQL database (postgres://…, see `gridmap init`), to
    /// validate instead of --grids and --buildings; its town boundary and addresses are used
    /// unless --boundary or --addresses say otherwise.
    project: Option<PathBuf>,
    /// With a PostgreSQL project: the town's code (needed when the database holds several).
    #[arg(long, value_name = "CODE", requires = "project")]
    town: Option<String>,
    #[command(flatten)]
    layers: LayerArgs,
    /// The outline the grids must cover (village or town); several polygons are merged.
    /// Without it, gaps are the holes enclosed by the union of the grids.
    #[arg(long, value_name = "FILE")]
    boundary: Option<PathBuf>,
    /// Standard addresses (points, with optional declared `grid` and `building`).
    #[arg(long, value_name = "FILE")]
    addresses: Option<PathBuf>,
    /// Property holding each address's unique id.
    #[arg(long, value_name = "FIELD", default_value = "id")]
    address_id: String,
    /// Overlaps, gaps and parts outside the boundary this small (m²) or smaller are ignored.
    #[arg(long, value_name = "F", default_value_t = 1.0)]
    min_area_m2: f64,
    /// Write the full report as JSON.
    #[arg(long, value_name = "OUT")]
    json: Option<PathBuf>,
    /// Write every problem as a GeoJSON feature, to open in QGIS or on the web map.
    #[arg(long, value_name = "OUT.geojson")]
    problems: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct AssignArgs {
    #[command(flatten)]
    layers: LayerArgs,
    /// The CSV file to write.
    #[arg(long, value_name = "FILE.csv")]
    out: PathBuf,
}

#[derive(Debug, Args)]
struct SynthArgs {
    /// Number of buildings.
    #[arg(long, default_value_t = 10_000)]
    buildings: usize,
    /// Number of grids.
    #[arg(long, default_value_t = 100)]
    grids: usize,
    /// Random seed: the same seed gives the same town.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Grids to shrink by 3%, each opening a thin ring of gap.
    #[arg(long, default_value_t = 0)]
    gaps: usize,
    /// Grids to grow by 3%, each overlapping its neighbours.
    #[arg(long, default_value_t = 0)]
    overlaps: usize,
    /// Output format.
    #[arg(long, default_value = "fgb", value_parser = ["fgb", "geojson"])]
    format: String,
    /// Directory for grids.*, buildings.* and boundary.*.
    #[arg(long, value_name = "DIR")]
    out_dir: PathBuf,
}

/// Refuses a PostgreSQL project (`postgres://…`) for the commands that work on GeoPackage
/// projects only, before they read anything; and a password in any project URL.
fn check_project(command: &Command) -> Result<()> {
    use crate::target::{gpkg_only, project};
    let optional = |p: &Option<PathBuf>, name: &str| match p {
        Some(p) => gpkg_only(p, name),
        None => Ok(()),
    };
    match command {
        Command::Validate(a) => a
            .project
            .as_deref()
            .map_or(Ok(()), |p| project(p).map(|_| ())),
        Command::Repair(a) => optional(&a.project, "repair"),
        Command::Assign(_) | Command::Synth(_) | Command::Address(_) => Ok(()),
        Command::Init(_) | Command::Import(_) | Command::Export(_) => Ok(()),
        Command::History(a) => project(&a.project).map(|_| ()),
        Command::Restore(a) => project(&a.project).map(|_| ()),
        Command::Partition(a) => optional(&a.project, "partition"),
        Command::Serve(a) => project(&a.project).map(|_| ()),
        Command::User(crate::serve_cmd::UserCommand::Add(a)) => project(&a.project).map(|_| ()),
        Command::Division(_) => Ok(()),
        Command::Stats(a) if a.scorecard => project(&a.project).map(|_| ()),
        Command::Stats(a) => project(&a.project).map(|_| ()),
        Command::Plates(a) => project(&a.project).map(|_| ()),
        Command::Rekey(a) => project(&a.project).map(|_| ()),
        Command::Reconcile(a) => project(&a.project).map(|_| ()),
    }
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    check_project(&cli.command)?;
    match cli.command {
        Command::Validate(args) => run_validate(args, cli.verbose),
        Command::Repair(args) => crate::repair_cmd::run_repair(args, cli.verbose),
        Command::Assign(args) => run_assign(args, cli.verbose),
        Command::Synth(args) => run_synth(args),
        Command::Init(args) => crate::project::run_init(args),
        Command::Import(args) => crate::project::run_import(args, cli.verbose),
        Command::Export(args) => crate::project::run_export(args),
        Command::History(args) => crate::project::run_history(args),
        Command::Restore(args) => crate::project::run_restore(args),
        Command::Partition(args) => crate::partition_cmd::run_partition(args, cli.verbose),
        Command::Serve(args) => crate::serve_cmd::run_serve(args),
        Command::User(command) => crate::serve_cmd::run_user(command),
        Command::Division(command) => crate::division_cmd::run(command),
        Command::Address(AddressCommand::Parse) => crate::address_cmd::run_address_parse(),
        Command::Stats(a) if a.scorecard => crate::households_cmd::run_scorecard(
            &a.project,
            a.town.as_deref(),
            a.json,
            a.xlsx.as_deref(),
            a.pdf.as_deref(),
        ),
        Command::Stats(a) => {
            crate::households_cmd::run_stats(&a.project, a.town.as_deref(), &a.by, a.json)
        }
        Command::Plates(a) => crate::plates_cmd::run_plates(a),
        Command::Rekey(a) => {
            crate::households_cmd::run_rekey(&a.project, a.town.as_deref(), &a.new_key_file)
        }
        Command::Reconcile(args) => crate::reconcile_cmd::run_reconcile(args),
    }
}

fn check_share(share: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&share) {
        bail!("--straddle-share must be between 0 and 1, got {share}");
    }
    Ok(())
}

/// The --grids and --buildings files, which are required without a project.
fn layer_files(args: &LayerArgs) -> Result<(&Path, &Path)> {
    match (&args.grids, &args.buildings) {
        (Some(g), Some(b)) => Ok((g, b)),
        _ => bail!("give --grids FILE and --buildings FILE (or a project file)"),
    }
}

fn read_layers(
    args: &LayerArgs,
    phases: &mut Phases,
) -> Result<(gridmap_io::GridLayer, Vec<Building>)> {
    let (grid_file, building_file) = layer_files(args)?;
    let fields = Fields {
        grid_id: args.grid_id.clone(),
        building_id: args.building_id.clone(),
        ..Fields::default()
    };
    phases.phase("reading grids");
    let grids = gridmap_io::read_grids(grid_file, &fields)?;
    phases.phase("reading buildings");
    let buildings = gridmap_io::read_buildings(building_file, &fields)?;
    Ok((grids, buildings))
}

fn run_validate(args: ValidateArgs, verbose: bool) -> Result<ExitCode> {
    check_share(args.layers.straddle_share)?;
    if args.min_area_m2.is_nan() || args.min_area_m2 < 0.0 {
        bail!("--min-area-m2 must be 0 or more, got {}", args.min_area_m2);
    }
    let mut phases = Phases::new(verbose);
    let (layer, buildings, mut boundary, mut addresses) = match &args.project {
        Some(project) => {
            if args.layers.grids.is_some() || args.layers.buildings.is_some() {
                bail!("give either a project file or --grids and --buildings, not both");
            }
            phases.phase("reading the project");
            let project = crate::target::Opened::open(project, args.town.as_deref())?;
            let store = project.store();
            let grids = store.grids()?.into_iter().map(|g| g.grid).collect();
            let layer = gridmap_io::GridLayer {
                grids,
                defects: Vec::new(),
            };
            (
                layer,
                store.buildings()?,
                store.town()?.boundary,
                store.addresses()?,
            )
        }
        None => {
            let (layer, buildings) = read_layers(&args.layers, &mut phases)?;
            (layer, buildings, None, Vec::new())
        }
    };
    if let Some(path) = &args.boundary {
        phases.phase("reading boundary");
        boundary = Some(gridmap_io::read_boundary(path)?);
    }
    if let Some(path) = &args.addresses {
        phases.phase("reading addresses");
        let fields = Fields {
            address_id: args.address_id.clone(),
            ..Fields::default()
        };
        addresses = gridmap_io::read_addresses(path, &fields)?;
    }
    let input = CoverageInput {
        grids: &layer.grids,
        buildings: &buildings,
        boundary: boundary.as_ref(),
        addresses: &addresses,
        input_defects: &layer.defects,
    };
    let options = Options {
        min_area_m2: args.min_area_m2,
        straddle_share: args.layers.straddle_share,
    };
    let coverage = validate(&input, &options, &mut |name| phases.phase(name));
    let report = &coverage.report;
    if let Some(path) = &args.json {
        phases.phase("writing the JSON report");
        let file =
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut out = BufWriter::new(file);
        serde_json::to_writer_pretty(&mut out, report)?;
        writeln!(out)?;
        out.flush()
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.problems {
        phases.phase("writing problems");
        write_problems(path, report, &input)?;
    }
    let took = phases.finish();
    print_summary(&args, report, took.as_secs_f64());
    let code = if report.has_problems() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    };
    // Freeing a million footprints one by one only delays the exit.
    std::mem::forget(coverage);
    std::mem::forget(buildings);
    Ok(code)
}

fn print_summary(args: &ValidateArgs, r: &Report, seconds: f64) {
    let s = &r.summary;
    let name = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    let project = name(&args.project).unwrap_or_default();
    println!(
        "gridmap validate: {} grids ({}), {} buildings ({}) in {seconds:.2} s",
        thousands(s.grids),
        name(&args.layers.grids).unwrap_or_else(|| project.clone()),
        thousands(s.buildings),
        name(&args.layers.buildings).unwrap_or_else(|| project.clone())
    );
    println!(
        "  buildings: {} in one grid ({} straddling, {} on an edge), {} in no grid, {} in many grids",
        thousands(s.in_one_grid),
        thousands(s.straddling),
        thousands(s.on_edge),
        thousands(s.in_no_grid),
        thousands(s.in_many_grids)
    );
    println!(
        "  grids: {} invalid, {} overlaps ({:.1} m²), {} gaps ({:.1} m²){}",
        s.invalid_grids,
        s.overlaps,
        s.overlap_area_m2,
        s.gaps,
        s.gap_area_m2,
        if s.outside_boundary > 0 || args.boundary.is_some() || args.project.is_some() {
            format!(
                ", {} outside the boundary ({:.1} m²)",
                s.outside_boundary, s.outside_area_m2
            )
        } else {
            String::new()
        }
    );
    if s.addresses > 0 {
        println!(
            "  addresses: {}, {} not in a building, {} in another grid than declared",
            thousands(s.addresses),
            s.addresses_not_in_building,
            s.addresses_grid_mismatch
        );
    }
    let worst = worst_problems(r, 10);
    if worst.is_empty() {
        println!("no problems found");
    } else {
        println!("worst problems:");
        for line in worst {
            println!("  {line}");
        }
    }
}

/// The most serious problems first: invalid grids, then overlaps, gaps and leaks by area, then
/// buildings in many grids, in no grid, and straddling by share.
fn worst_problems(r: &Report, n: usize) -> Vec<String> {
    let mut out: Vec<String> = r
        .invalid_grids
        .iter()
        .map(|g| format!("invalid grid {}: {}", g.grid, g.reason))
        .collect();
    let mut by_area: Vec<(f64, String)> = Vec::new();
    for o in &r.overlaps {
        by_area.push((
            o.area_m2,
            format!(
                "overlap {} × {}: {:.1} m², {}",
                o.grids[0],
                o.grids[1],
                o.area_m2,
                buildings(o.buildings.len())
            ),
        ));
    }
    for g in &r.gaps {
        by_area.push((
            g.area_m2,
            format!(
                "gap at {:.6},{:.6}: {:.1} m², {}",
                g.point[0],
                g.point[1],
                g.area_m2,
                buildings(g.buildings.len())
            ),
        ));
    }
    for o in &r.outside_boundary {
        by_area.push((
            o.area_m2,
            format!(
                "grid {} reaches {:.1} m² outside the boundary",
                o.grid, o.area_m2
            ),
        ));
    }
    by_area.sort_by(|a, b| b.0.total_cmp(&a.0));
    out.extend(by_area.into_iter().map(|(_, line)| line));
    out.extend(
        r.in_many_grids
            .iter()
            .map(|b| format!("building {} in grids {}", b.building, b.grids.join(", "))),
    );
    out.extend(
        r.in_no_grid
            .iter()
            .map(|b| format!("building {b} in no grid")),
    );
    let mut straddling: Vec<_> = r.straddling.iter().collect();
    straddling.sort_by(|a, b| b.outside_share.total_cmp(&a.outside_share));
    out.extend(straddling.iter().map(|s| {
        format!(
            "building {} straddles grid {}: {:.0}% outside",
            s.building,
            s.grid,
            s.outside_share * 100.0
        )
    }));
    out.truncate(n);
    out
}

fn buildings(n: usize) -> String {
    format!("{n} building{}", if n == 1 { "" } else { "s" })
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn props(kind: &str, fields: Value) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("kind".into(), Value::String(kind.into()));
    if let Value::Object(rest) = fields {
        m.extend(rest);
    }
    m
}

/// Every problem as a GeoJSON feature with its `kind`, ids and area, in the report's one
/// order ([`Report::problems`]).
fn write_problems(path: &Path, r: &Report, input: &CoverageInput) -> Result<()> {
    use gridmap_core::validate::Problem as P;
    let grid = |code: &str| input.grids.iter().find(|g| g.code == code);
    let building = {
        let by_id: std::collections::HashMap<&str, &Building> =
            input.buildings.iter().map(|b| (b.id.as_str(), b)).collect();
        move |id: &str| by_id.get(id).copied()
    };
    let address = |id: &str| input.addresses.iter().find(|a| a.id == id);
    let footprint = |id: &str| building(id).map(|b| Geometry::from(&b.footprint));
    let point = |id: &str| address(id).map(|a| Geometry::Point(a.point));
    let features: Vec<(Option<Geometry>, Map<String, Value>)> = r
        .problems()
        .map(|(_, problem)| {
            let (geometry, fields) = match problem {
                P::InvalidGrid(g) => (
                    grid(&g.grid).map(|g| Geometry::MultiPolygon(g.geometry.clone())),
                    json!({"grid": g.grid, "reason": g.reason}),
                ),
                P::Overlap(o) => (
                    Some(Geometry::MultiPolygon(o.geometry.clone())),
                    json!({"grids": o.grids, "area_m2": o.area_m2, "buildings": o.buildings}),
                ),
                P::Gap(g) => (
                    Some(Geometry::Polygon(g.geometry.clone())),
                    json!({"area_m2": g.area_m2, "point": g.point, "buildings": g.buildings}),
                ),
                P::OutsideBoundary(o) => (
                    Some(Geometry::MultiPolygon(o.geometry.clone())),
                    json!({"grid": o.grid, "area_m2": o.area_m2}),
                ),
                P::InNoGrid(id) => (footprint(id), json!({"building": id})),
                P::InManyGrids(b) => (
                    footprint(&b.building),
                    json!({"building": b.building, "grids": b.grids}),
                ),
                P::Straddling(s) => (
                    footprint(&s.building),
                    json!({"building": s.building, "grid": s.grid, "outside_share": s.outside_share}),
                ),
                P::AddressNotInBuilding(a) => (
                    point(&a.address),
                    json!({"address": a.address, "distance_m": a.distance_m, "nearest_building": a.nearest_building}),
                ),
                P::AddressGridMismatch(a) => (
                    point(&a.address),
                    json!({"address": a.address, "declared": a.declared, "actual": a.actual}),
                ),
            };
            (geometry, props(problem.kind(), fields))
        })
        .collect();
    gridmap_io::write_geojson(path, features)?;
    Ok(())
}

fn run_assign(args: AssignArgs, verbose: bool) -> Result<ExitCode> {
    check_share(args.layers.straddle_share)?;
    let mut phases = Phases::new(verbose);
    phases.phase("reading grids");
    let fields = Fields {
        grid_id: args.layers.grid_id.clone(),
        building_id: args.layers.building_id.clone(),
        ..Fields::default()
    };
    let (grid_file, building_file) = layer_files(&args.layers)?;
    let layer = gridmap_io::read_grids(grid_file, &fields)?;
    phases.phase("checking grid geometries");
    let defects = grid_defects(&layer.grids, &layer.defects);
    let invalid = defects.iter().filter(|d| d.is_some()).count();
    let index = GridIndex::new(&layer.grids, |i| defects[i].is_some()).with_interior_cells();
    // Buildings are assigned as they are decoded; only the id and the answer are kept.
    phases.phase("reading and assigning buildings");
    let assigned = gridmap_io::read::read_buildings_with(building_file, &fields, |b| {
        let a = assign_building(&index, &b);
        (b.id, a)
    })?;
    phases.phase("checking ids and formatting CSV");
    let share = args.layers.straddle_share;
    let code = |g: u32| layer.grids[g as usize].code.as_str();
    // The id check runs beside the formatting (it is one thread's work, the formatting is
    // parallel); an error still stops before the file is created. Rows are formatted in
    // parallel chunks and written in order.
    let (unique, chunks) = rayon::join(
        || {
            gridmap_io::read::check_unique_ids(
                building_file,
                assigned.iter().map(|(id, _)| id.as_str()),
            )
        },
        || {
            assigned
                .par_chunks(16 * 1024)
                .map(|chunk| {
                    let mut csv = csv::Writer::from_writer(Vec::with_capacity(chunk.len() * 40));
                    let mut share_text = String::new();
                    for (id, a) in chunk {
                        let grids: std::borrow::Cow<str> = match a {
                            Assignment::One { grid, .. } => code(*grid).into(),
                            Assignment::Many(g) => g
                                .iter()
                                .map(|&g| code(g))
                                .collect::<Vec<_>>()
                                .join(";")
                                .into(),
                            Assignment::NoGrid => "".into(),
                        };
                        share_text.clear();
                        if let Assignment::One {
                            outside_share: Some(s),
                            ..
                        } = a
                        {
                            // Most buildings lie wholly inside their grid: their share needs no
                            // float formatting (a fifth of this phase's CPU otherwise).
                            if *s == 0.0 && s.is_sign_positive() {
                                share_text.push_str("0.000000");
                            } else {
                                use std::fmt::Write as _;
                                let _ = write!(share_text, "{s:.6}");
                            }
                        }
                        // Writing into a Vec cannot fail.
                        let _ = csv.write_record([
                            id.as_str(),
                            &grids,
                            a.status(share).as_str(),
                            &share_text,
                        ]);
                    }
                    csv.into_inner().unwrap_or_default()
                })
                .collect::<Vec<Vec<u8>>>()
        },
    );
    unique?;
    phases.phase("writing CSV");
    let file =
        File::create(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let written: std::io::Result<()> = (|| {
        out.write_all(b"building,grid,status,outside_share\n")?;
        for chunk in &chunks {
            out.write_all(chunk)?;
        }
        out.flush()
    })();
    written.with_context(|| format!("cannot write {}", args.out.display()))?;
    let took = phases.finish();
    let mut counts = [0usize; 4];
    for (_, a) in &assigned {
        counts[a.status(share) as usize] += 1;
    }
    eprintln!(
        "assigned {} buildings to {} grids in {:.2} s: {} in one grid, {} straddling, {} in no grid, {} in many grids{}",
        thousands(assigned.len()),
        thousands(layer.grids.len()),
        took.as_secs_f64(),
        thousands(counts[Status::InOneGrid as usize]),
        thousands(counts[Status::Straddling as usize]),
        thousands(counts[Status::InNoGrid as usize]),
        thousands(counts[Status::InManyGrids as usize]),
        if invalid > 0 {
            format!(
                "; {invalid} invalid grids were left out (run `gridmap validate` for the reasons)"
            )
        } else {
            String::new()
        }
    );
    // Freeing a million records one by one only delays the exit.
    std::mem::forget(assigned);
    Ok(ExitCode::SUCCESS)
}

fn run_synth(args: SynthArgs) -> Result<ExitCode> {
    if args.grids == 0 {
        bail!("--grids must be at least 1");
    }
    if args.gaps + args.overlaps > args.grids {
        bail!(
            "cannot plant {} gaps and {} overlaps in {} grids",
            args.gaps,
            args.overlaps,
            args.grids
        );
    }
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("cannot create {}", args.out_dir.display()))?;
    let spec = gridmap_synth::TownSpec {
        buildings: args.buildings,
        grids: args.grids,
        seed: args.seed,
        planted_gaps: args.gaps,
        planted_overlaps: args.overlaps,
        ..Default::default()
    };
    let town = gridmap_synth::town(&spec);
    let file = |stem: &str| args.out_dir.join(format!("{stem}.{}", args.format));
    if args.format == "fgb" {
        gridmap_io::write_grids_fgb(&file("grids"), &town.grids)?;
        gridmap_io::write_buildings_fgb(&file("buildings"), &town.buildings)?;
        gridmap_io::write::write_area_fgb(&file("boundary"), "synthetic town", &town.boundary)?;
    } else {
        gridmap_io::write_geojson(
            &file("grids"),
            town.grids.iter().map(|g| {
                (
                    Some(Geometry::MultiPolygon(g.geometry.clone())),
                    props_of(json!({"code": g.code, "name": g.name, "village": g.village})),
                )
            }),
        )?;
        gridmap_io::write_geojson(
            &file("buildings"),
            town.buildings.iter().map(|b| {
                (
                    Some(Geometry::from(&b.footprint)),
                    props_of(json!({"id": b.id, "households": b.households, "floors": b.floors, "kind": b.kind})),
                )
            }),
        )?;
        gridmap_io::write_geojson(
            &file("boundary"),
            [(
                Some(Geometry::MultiPolygon(town.boundary.clone())),
                props_of(json!({"name": "synthetic town"})),
            )],
        )?;
    }
    eprintln!(
        "wrote {} grids and {} buildings to {} (seed {}; shrunk: {:?}; grown: {:?})",
        town.grids.len(),
        town.buildings.len(),
        args.out_dir.display(),
        args.seed,
        town.shrunk,
        town.grown
    );
    Ok(ExitCode::SUCCESS)
}

fn props_of(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
