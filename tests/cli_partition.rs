//! `gridmap partition` on the real buildings and roads of the demo town (OpenStreetMap, the
//! Bund and Lujiazui): at a realistic grid size the plan must still be exact and whole.

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

mod support;

use support::*;

/// Regression: at 82 grids (about 400 households each, the norms' urban size) a grid was
/// drawn in two pieces where another grid's footprint closed the corridor the atom graph
/// joined them by; every grid must be one polygon, and the coverage exact.
#[test]
fn the_demo_town_at_82_grids_is_covered_exactly_by_whole_grids() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.geojson");
    let report = dir.path().join("plan.json");
    let out = gridmap(&[
        "partition",
        "--boundary",
        s(&demo("town.geojson")),
        "--buildings",
        s(&demo("buildings.geojson")),
        "--barriers",
        s(&demo("raw/roads.geojson")),
        "--grids",
        "82",
        "--out",
        s(&plan),
        "--report",
        s(&report),
    ]);
    let r = read_json(&report);
    let summary = &r["summary"];
    // 1 when a grid is outside the ±5% window (the report then says why), else 0.
    let all_within = summary["within_tolerance"] == 82;
    assert_eq!(
        out.status.code(),
        Some(i32::from(!all_within)),
        "{}",
        stderr(&out)
    );
    assert_eq!(summary["grids"], 82);
    assert_eq!(summary["contiguous_grids"], 82, "{summary}");
    assert_eq!(summary["enclaves"], 0, "{summary}");
    assert_eq!(summary["buildings_in_one_grid"], summary["buildings"]);
    // No grid edge cuts a building; OSM footprints that cross the village boundary are
    // counted apart (the boundary cuts them, not the plan).
    assert_eq!(summary["buildings_straddling"], 0, "{summary}");
    assert!(
        summary["buildings_crossing_boundary"].as_u64().unwrap() > 0,
        "{summary}"
    );
    assert!(summary["gap_area_m2"].as_f64().unwrap() < 0.01, "{summary}");
    assert!(
        summary["overlap_area_m2"].as_f64().unwrap() < 0.01,
        "{summary}"
    );
    let features: Vec<serde_json::Value> = read_json(&plan)["features"].as_array().unwrap().clone();
    assert_eq!(features.len(), 82);
    for f in &features {
        let g = &f["geometry"];
        let pieces = match g["type"].as_str().unwrap() {
            "Polygon" => 1,
            "MultiPolygon" => g["coordinates"].as_array().unwrap().len(),
            other => panic!("grid {} is a {other}", f["properties"]["code"]),
        };
        assert_eq!(
            pieces, 1,
            "grid {} is in {pieces} pieces",
            f["properties"]["code"]
        );
    }
    // Every tentacle left is named with the reason, on a grid drawn with one.
    let tentacle_notes = summary["tentacle_notes"].as_array().unwrap();
    assert_eq!(
        tentacle_notes.len() as u64,
        summary["tentacles"].as_u64().unwrap(),
        "{summary}"
    );
    for n in tentacle_notes {
        let grid = features
            .iter()
            .find(|f| f["properties"]["code"] == n["grid"])
            .unwrap();
        assert!(
            grid["properties"]["tentacles"].as_u64().unwrap() >= 1,
            "{n}"
        );
        assert!(!n["reason"].as_str().unwrap().is_empty(), "{n}");
    }
    // Every grid outside the tolerance is explained, and most are inside it.
    let within = summary["within_tolerance"].as_u64().unwrap();
    let notes = summary["notes"].as_array().unwrap().len() as u64;
    assert_eq!(within + notes, 82, "{summary}");
    assert!(within >= 70, "{summary}");
    assert!(
        summary["polsby_popper_mean"].as_f64().unwrap() > 0.35,
        "{summary}"
    );
}
