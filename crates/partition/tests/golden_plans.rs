//! The plans `partition` makes on the benchmark inputs must stay byte-identical: a refactor of
//! the solver or the report may not change a coordinate, a figure or a word. Each case hashes
//! the plan (every grid with its geometry, in order, and every building's grid) and the report
//! (with `runtime_s` set to 0, the one figure that changes from run to run), both as JSON,
//! and compares the SHA-256 of each with `tests/golden/CASE.sha256`. After a deliberate change
//! of the plans, rerun with `UPDATE_GOLDEN=1` and say why in the commit.
//!
//! The cases: the demo town (data/demo, 1,321 buildings, the roads as barriers) at 82 grids,
//! at 300 households a grid, and rebalancing today's grids (`--from-current`); and a synthetic
//! town of 10,000 buildings (`gridmap synth --buildings 10000 --grids 100 --seed 7`) at 25
//! grids, as bench/partition_compare.py draws it (400 buildings a grid).

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

use std::path::{Path, PathBuf};

use gridmap_core::model::Grid;
use gridmap_partition::{PartitionInput, PartitionOptions, Plan, Target, partition};
use serde_json::json;
use sha2::{Digest, Sha256};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// Partitions the demo town as `gridmap partition` reads it (its boundary, buildings and
/// roads as barriers, seed 1), from today's grids with `current`, and checks the digests.
fn check_demo(name: &str, target: Target, current: Option<&[Grid]>) {
    let boundary = gridmap_io::read_boundary(&repo("data/demo/town.geojson")).unwrap();
    let fields = gridmap_io::Fields::default();
    let buildings =
        gridmap_io::read_buildings(&repo("data/demo/buildings.geojson"), &fields).unwrap();
    let roads = gridmap_io::read::read_lines(&repo("data/demo/raw/roads.geojson")).unwrap();
    let input = PartitionInput {
        boundary: &boundary,
        buildings: &buildings,
        barriers: &roads,
        keep_whole: &[],
        current,
    };
    check(name, &input, &options(target));
}

/// SHA-256 of the plan and of the report, in hex.
fn digests(plan: &Plan) -> (String, String) {
    let grids: Vec<_> = plan
        .grids
        .iter()
        .map(|g| json!({ "grid": g, "geometry": g.geometry }))
        .collect();
    let plan_json = serde_json::to_vec(&json!({
        "grids": grids,
        "assignment": plan.assignment,
    }))
    .unwrap();
    let mut report = plan.report.clone();
    report.runtime_s = 0.0;
    let report_json = serde_json::to_vec(&report).unwrap();
    let hex = |bytes: &[u8]| format!("{:x}", Sha256::digest(bytes));
    (hex(&plan_json), hex(&report_json))
}

/// Partitions and compares the digests with `tests/golden/{name}.sha256`, or rewrites it under
/// `UPDATE_GOLDEN=1`.
fn check(name: &str, input: &PartitionInput, options: &PartitionOptions) {
    let started = std::time::Instant::now();
    let plan = partition(input, options, &mut |_, _| {}).unwrap();
    eprintln!(
        "{name}: {} grids in {:.1} s",
        plan.grids.len(),
        started.elapsed().as_secs_f64()
    );
    let (plan_digest, report_digest) = digests(&plan);
    let got = format!("plan {plan_digest}\nreport {report_digest}\n");
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.sha256"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} missing: run with UPDATE_GOLDEN=1", path.display()));
    assert_eq!(
        want,
        got,
        "{name}: the plan or report differs from {}; if intended, rerun with UPDATE_GOLDEN=1",
        path.display()
    );
}

fn options(target: Target) -> PartitionOptions {
    PartitionOptions {
        target,
        seed: 1,
        ..PartitionOptions::default()
    }
}

/// `gridmap partition --boundary data/demo/town.geojson --buildings data/demo/buildings.geojson
/// --barriers data/demo/raw/roads.geojson --grids 82 --seed 1`
#[test]
fn the_demo_town_at_82_grids_is_unchanged() {
    check_demo("demo-82-grids", Target::Grids(82), None);
}

/// As above with `--target-households 300` instead of `--grids 82`.
#[test]
fn the_demo_town_at_300_households_a_grid_is_unchanged() {
    check_demo("demo-300-households", Target::Workload(300.0), None);
}

/// As above with `--from-current data/demo/grids.geojson` (today's grids rebalanced).
#[test]
fn the_demo_town_rebalanced_from_todays_grids_is_unchanged() {
    let fields = gridmap_io::Fields::default();
    let current: Vec<Grid> = gridmap_io::read_grids(&repo("data/demo/grids.geojson"), &fields)
        .unwrap()
        .grids;
    check_demo(
        "demo-from-current",
        Target::Grids(current.len()),
        Some(&current),
    );
}

/// `gridmap synth --buildings 10000 --grids 100 --seed 7`, then `gridmap partition` of its
/// boundary and buildings at 25 grids, without barriers.
#[test]
fn a_synthetic_town_of_10000_buildings_is_unchanged() {
    let town = gridmap_synth::town(&gridmap_synth::TownSpec {
        buildings: 10_000,
        grids: 100,
        seed: 7,
        ..Default::default()
    });
    let input = PartitionInput {
        boundary: &town.boundary,
        buildings: &town.buildings,
        barriers: &[],
        keep_whole: &[],
        current: None,
    };
    check("synth-10000", &input, &options(Target::Grids(25)));
}
