//! `gridmap partition`: reads the layers, runs `gridmap-partition`, writes the plan and report.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use geo::Geometry;
use gridmap_io::Fields;
use gridmap_partition::{PartitionInput, PartitionOptions, Target, Weight, partition};
use serde_json::{Map, Value, json};

use crate::progress::Phases;

/// Arguments of `gridmap partition`.
#[derive(Debug, Args)]
pub struct PartitionArgs {
    /// A project file: partition one of its villages (with --village) instead of files.
    pub project: Option<PathBuf>,
    /// The village (code) of the project to partition.
    #[arg(long, requires = "project")]
    pub village: Option<String>,
    /// The area to partition (a village); several polygons are merged.
    #[arg(long, value_name = "FILE", required_unless_present = "project")]
    pub boundary: Option<PathBuf>,
    /// Building footprints or points, with `id` and `households`.
    #[arg(long, value_name = "FILE", required_unless_present = "project")]
    pub buildings: Option<PathBuf>,
    /// Workload per grid; the number of grids is total / N, rounded.
    #[arg(long, value_name = "N", conflicts_with = "grids", required_unless_present_any = ["grids", "from_current"])]
    pub target_households: Option<f64>,
    /// Number of grids.
    #[arg(long, value_name = "K")]
    pub grids: Option<usize>,
    /// Allowed deviation from the target workload (0.05 = ±5%).
    #[arg(long, value_name = "F", default_value_t = 0.05)]
    pub tolerance: f64,
    /// Workload of a building: `households`, `buildings` (1 each) or a numeric property name.
    #[arg(
        long,
        value_name = "households|buildings|FIELD",
        default_value = "households"
    )]
    pub weight: String,
    /// Line layers grid edges should follow (roads, rivers, railways); repeatable.
    #[arg(long, value_name = "FILE")]
    pub barriers: Vec<PathBuf>,
    /// Polygons no grid edge may cut (residential compounds).
    #[arg(long, value_name = "FILE")]
    pub keep_whole: Option<PathBuf>,
    /// Today's grids: rebalance them moving as few buildings as possible. With a project,
    /// `--from-current` alone takes the village's grids from it.
    #[arg(long, value_name = "GRIDS_FILE", num_args = 0..=1, default_missing_value = "-")]
    pub from_current: Option<PathBuf>,
    /// Seed of the search; the same inputs and seed give the same plan.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// The plan: grid polygons with code, households, buildings (GeoJSON).
    #[arg(long, value_name = "PLAN.geojson")]
    pub out: PathBuf,
    /// The report as JSON.
    #[arg(long, value_name = "PLAN.json")]
    pub report: Option<PathBuf>,
}

/// Runs `gridmap partition`; exit code 0 when every grid is within the tolerance, contiguous
/// and the coverage exact, 1 otherwise (the plan is still written).
pub fn run_partition(args: PartitionArgs, verbose: bool) -> Result<ExitCode> {
    let mut phases = Phases::new(verbose);
    phases.phase("reading layers");
    let fields = Fields::default();
    let (boundary, buildings, project_grids) =
        match (&args.project, &args.boundary, &args.buildings) {
            (Some(project), None, None) => {
                let Some(code) = &args.village else {
                    bail!("with a project file, say which village: --village CODE");
                };
                crate::partition_cmd::village_layers(project, code)?
            }
            (None, Some(b), Some(f)) => (
                gridmap_io::read_boundary(b)?,
                gridmap_io::read_buildings(f, &fields)?,
                Vec::new(),
            ),
            _ => {
                bail!("give either PROJECT.gpkg --village CODE or --boundary FILE --buildings FILE")
            }
        };
    let mut barriers = Vec::new();
    for path in &args.barriers {
        barriers.extend(gridmap_io::read::read_lines(path)?);
    }
    let keep_whole = match &args.keep_whole {
        Some(path) => gridmap_io::read_boundary(path)?.0,
        None => Vec::new(),
    };
    let current = match &args.from_current {
        Some(path) if path.as_os_str() == "-" => {
            if args.project.is_none() {
                bail!("--from-current needs a grids file, or a project file");
            }
            Some(project_grids)
        }
        Some(path) => Some(gridmap_io::read_grids(path, &fields)?.grids),
        None => None,
    };
    let weight = match args.weight.as_str() {
        "households" => Weight::Households,
        "buildings" => Weight::Buildings,
        field => {
            let Some(file) = &args.buildings else {
                bail!("--weight {field} reads the buildings file: give --buildings FILE");
            };
            let values = gridmap_io::read::read_features(file, &[field], |f| {
                Ok(f.properties[0].as_ref().and_then(Value::as_f64))
            })?;
            let mut out = Vec::with_capacity(values.len());
            for (i, v) in values.into_iter().enumerate() {
                match v {
                    Some(v) => out.push(v),
                    None => bail!(
                        "{}: feature {i} (id {}) has no numeric `{field}`",
                        file.display(),
                        buildings.get(i).map_or("?", |b| b.id.as_str())
                    ),
                }
            }
            Weight::Values(out)
        }
    };
    let target = match (args.grids, args.target_households) {
        (Some(k), _) => Target::Grids(k),
        (None, Some(n)) => Target::Workload(n),
        (None, None) => Target::Grids(current.as_ref().map_or(1, Vec::len)),
    };
    let options = PartitionOptions {
        target,
        tolerance: args.tolerance,
        weight,
        seed: args.seed,
        ..PartitionOptions::default()
    };
    let input = PartitionInput {
        boundary: &boundary,
        buildings: &buildings,
        barriers: &barriers,
        keep_whole: &keep_whole,
        current: current.as_deref(),
    };
    let plan = partition(&input, &options, &mut |name, _| phases.phase(name))
        .context("cannot partition")?;

    phases.phase("writing the plan");
    gridmap_io::write_geojson(
        &args.out,
        plan.grids.iter().map(|g| {
            let mut props = Map::new();
            props.insert("code".into(), json!(g.code));
            props.insert("households".into(), json!(g.households));
            props.insert("buildings".into(), json!(g.buildings));
            props.insert("workload".into(), json!(g.workload));
            props.insert("deviation_pct".into(), json!(g.deviation_pct));
            props.insert("polsby_popper".into(), json!(g.polsby_popper));
            props.insert("area_m2".into(), json!(g.area_m2));
            props.insert("enclave_in".into(), json!(g.enclave_in));
            props.insert("tentacles".into(), json!(g.tentacles));
            (Some(Geometry::MultiPolygon(g.geometry.clone())), props)
        }),
    )?;
    let r = &plan.report;
    if let Some(path) = &args.report {
        let report = json!({ "summary": r, "grids": plan.grids });
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    phases.finish();
    println!(
        "{} grids from {} buildings ({} households); target {:.1}, workload {:.0}–{:.0}, \
         max deviation {:.1}% ({} of {} within ±{:.0}%), spread {:.3}",
        r.grids,
        r.buildings,
        r.households,
        r.target,
        r.workload_min,
        r.workload_max,
        r.max_deviation_pct,
        r.within_tolerance,
        r.grids,
        100.0 * r.tolerance,
        r.spread
    );
    println!(
        "Polsby-Popper mean {:.3}, min {:.3}; contiguous {}/{}; gap {:.4} m², overlap {:.4} m²",
        r.polsby_popper_mean,
        r.polsby_popper_min,
        r.contiguous_grids,
        r.grids,
        r.gap_area_m2.unwrap_or(0.0),
        r.overlap_area_m2.unwrap_or(0.0)
    );
    println!(
        "shape: {} enclaves, {} tentacles ({} removed); holes {}",
        r.enclaves, r.tentacles, r.tentacles_removed, r.holes
    );
    if let (Some(one), Some(cut), Some(crossing)) = (
        r.buildings_in_one_grid,
        r.buildings_straddling,
        r.buildings_crossing_boundary,
    ) {
        println!(
            "buildings: {one} in one grid, {cut} cut by a grid edge, {crossing} crossing the boundary \
             (in one grid but for the part outside)"
        );
    }
    for g in &plan.grids {
        if let Some(around) = &g.enclave_in {
            println!("grid {}: an enclave in grid {around}", g.code);
        }
    }
    for n in &r.tentacle_notes {
        println!("grid {}: a tentacle: {}", n.grid, n.reason);
    }
    println!(
        "edges on barriers {:.0} m, off {:.0} m; runtime {:.2} s",
        r.boundary_on_barrier_m, r.boundary_off_barrier_m, r.runtime_s
    );
    if let (Some(b), Some(h)) = (r.moved_buildings, r.moved_households) {
        println!("moved {b} buildings, {h} households");
    }
    if !r.outside_boundary.is_empty() {
        println!(
            "{} buildings outside the boundary (in no grid): {}",
            r.outside_boundary.len(),
            r.outside_boundary.join(", ")
        );
    }
    for note in &r.notes {
        println!("grid {}: {}", note.grid, note.reason);
    }
    // Exact coverage up to floating point: the overlay that measures gaps and overlaps snaps
    // to a fine grid, leaving slivers of about 1e-9 of the area (0.016 m² over a 100k-building
    // town); anything above 1e-8 of the area, or 0.01 m² in a small one, is a real hole.
    let sliver_m2 = (1e-8 * gridmap_core::geodesy::area_m2(&boundary)).max(0.01);
    let clean = r.all_contiguous
        && r.gap_area_m2.unwrap_or(0.0) < sliver_m2
        && r.overlap_area_m2.unwrap_or(0.0) < sliver_m2
        && r.notes.is_empty();
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A village of a project: its boundary, the buildings located in it, and its grids.
pub fn village_layers(
    project: &std::path::Path,
    code: &str,
) -> Result<(
    geo::MultiPolygon,
    Vec<gridmap_core::Building>,
    Vec<gridmap_core::Grid>,
)> {
    use gridmap_core::locate::{Location, PreparedArea};
    use gridmap_store::Store;
    let store = gridmap_store::GpkgStore::open(project)?;
    let villages = store.villages()?;
    let Some(village) = villages.iter().find(|v| v.code == code) else {
        let known: Vec<&str> = villages.iter().map(|v| v.code.as_str()).collect();
        bail!(
            "{}: no village {code} (villages: {})",
            project.display(),
            if known.is_empty() {
                "none imported".to_string()
            } else {
                known.join(", ")
            }
        );
    };
    let Some(boundary) = village.boundary.clone() else {
        bail!("village {code} has no boundary: import the villages layer with geometries");
    };
    let area = PreparedArea::new(&boundary);
    let buildings = store
        .buildings()?
        .into_iter()
        .filter(|b| {
            b.location()
                .is_some_and(|p| area.locate(p) != Location::Outside)
        })
        .collect();
    let grids = store
        .grids()?
        .into_iter()
        .map(|g| g.grid)
        .filter(|g| g.village.as_deref() == Some(code))
        .collect();
    Ok((boundary, buildings, grids))
}
