//! `gridmap repair` on the demo town, whose planted coverage defects (data/README.md) must
//! each be repaired or reported with the reason: the 1,023 m² overlap goes back to the grid
//! its buildings belong to, the grid pushed into the Huangpu is clipped to the town, and the
//! 115 m² gap, which holds a building, is left for a human. The report is compared with a
//! golden digest (`tests/golden/repair_demo.json`; `UPDATE_GOLDEN=1` rewrites it).

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

mod support;

use serde_json::{Value, json};
use support::*;

/// The report with areas rounded to 0.1 m² and snapping left out (vertex counts are the
/// overlay's business): what a reviewer reads.
fn digest(r: &Value) -> Value {
    let round = |v: &Value| (v.as_f64().unwrap() * 10.0).round() / 10.0;
    let changes: Vec<Value> = r["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] != "snapped")
        .map(|c| {
            let mut c = c.clone();
            c["area_m2"] = json!(round(&c["area_m2"]));
            c.as_object_mut().unwrap().remove("point");
            c
        })
        .collect();
    let left: Vec<Value> = r["left"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let mut l = l.clone();
            l["area_m2"] = json!(round(&l["area_m2"]));
            l.as_object_mut().unwrap().remove("point");
            l
        })
        .collect();
    let s = &r["summary"];
    json!({
        "summary": {
            "overlaps": [s["overlaps_before"], s["overlaps_after"]],
            "gaps": [s["gaps_before"], s["gaps_after"]],
            "outside": [s["outside_before"], s["outside_after"]],
            "invalid": [s["invalid_before"], s["invalid_after"]],
            "buildings_moved": s["buildings_moved"],
            "households_moved": s["households_moved"],
        },
        "changes": changes,
        "moved_buildings": r["moved_buildings"],
        "left": left,
    })
}

#[test]
fn the_demo_defects_are_repaired_or_left_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("repaired.geojson");
    let report = dir.path().join("repair.json");
    let run = gridmap(&[
        "repair",
        "--grids",
        s(&demo("grids.geojson")),
        "--boundary",
        s(&demo("town.geojson")),
        "--buildings",
        s(&demo("buildings.geojson")),
        "--out",
        s(&out),
        "--report",
        s(&report),
    ]);
    // 1: something is left for a human (the gap with a building in it).
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    assert!(
        stdout(&run).contains("left for a human:"),
        "{}",
        stdout(&run)
    );

    let digest = digest(&read_json(&report));
    let golden = root().join("tests/golden/repair_demo.json");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(
            &golden,
            serde_json::to_string_pretty(&digest).unwrap() + "\n",
        )
        .unwrap();
    }
    assert_eq!(digest, read_json(&golden), "{digest:#}");

    // The planted defects one by one (data/README.md, "Planted defects").
    let overlap = &digest["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "overlap")
        .unwrap()
        .clone();
    assert_eq!(overlap["to"], "310101001001-02");
    assert_eq!(overlap["from"], "310101001001-01");
    assert_eq!(overlap["why"], "buildings");
    let moved: Vec<&str> = digest["moved_buildings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["building"].as_str().unwrap())
        .collect();
    assert_eq!(
        moved,
        ["osm-446939529", "osm-446939545", "osm-446939564"],
        "the overlap's buildings are now in one grid, and no other building moved"
    );
    assert!(
        digest["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["kind"] == "clipped" && c["grid"] == "310101001004-02")
    );
    let left = digest["left"].as_array().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["kind"], "gap");
    assert_eq!(left[0]["buildings"], json!(["osm-408450678"]));
    assert!(
        left[0]["why"]
            .as_str()
            .unwrap()
            .contains("holds 1 building"),
        "{}",
        left[0]["why"]
    );

    // The repaired grids validate with only that gap left.
    let v = dir.path().join("validate.json");
    gridmap(&[
        "validate",
        "--grids",
        s(&out),
        "--boundary",
        s(&demo("town.geojson")),
        "--buildings",
        s(&demo("buildings.geojson")),
        "--json",
        s(&v),
    ]);
    let v = read_json(&v);
    let summary = &v["summary"];
    assert_eq!(summary["overlaps"], 0, "{summary}");
    assert_eq!(summary["outside_boundary"], 0, "{summary}");
    assert_eq!(summary["invalid_grids"], 0, "{summary}");
    assert_eq!(summary["gaps"], 1, "{summary}");
    assert_eq!(summary["in_many_grids"], 0, "{summary}");
    // Every grid is one polygon.
    for f in read_json(&out)["features"].as_array().unwrap() {
        let g = &f["geometry"];
        let parts = match g["type"].as_str().unwrap() {
            "Polygon" => 1,
            _ => g["coordinates"].as_array().unwrap().len(),
        };
        assert_eq!(parts, 1, "grid {}", f["properties"]["code"]);
    }
}

#[test]
fn apply_saves_the_repaired_grids_as_one_change_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("demo.gpkg");
    demo_project(
        &p,
        &[
            ("boundary", "town.geojson"),
            ("grids", "grids.geojson"),
            ("buildings", "buildings.geojson"),
        ],
    );
    let out = dir.path().join("repaired.geojson");
    // --apply needs a reason.
    let run = gridmap(&["repair", s(&p), "--out", s(&out), "--apply"]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert!(stderr(&run).contains("--why"), "{}", stderr(&run));

    let run = gridmap(&[
        "repair",
        s(&p),
        "--out",
        s(&out),
        "--apply",
        "--why",
        "修复重叠和越界",
    ]);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    assert!(stdout(&run).contains("applied:"), "{}", stdout(&run));

    // The grid that lost the overlap has a new version with the reason; one never touched
    // has none.
    let history = |code: &str| {
        let h = gridmap(&["history", s(&p), code, "--json"]);
        assert!(h.status.success(), "{}", stderr(&h));
        serde_json::from_str::<Value>(&stdout(&h)).unwrap()
    };
    let h = history("310101001001-01");
    let versions = h.as_array().unwrap();
    assert_eq!(versions.len(), 2, "{h:#}");
    assert_eq!(versions[1]["why"], "修复重叠和越界");
    assert_eq!(versions[1]["who"], "gridmap repair");
    assert!(
        (versions[1]["previous_area_m2"].as_f64().unwrap()
            - versions[1]["area_m2"].as_f64().unwrap()
            - 1023.0)
            .abs()
            < 1.0,
        "{h:#}"
    );
    assert_eq!(history("310101001005-01").as_array().unwrap().len(), 1);

    // Validating the project now finds only the gap with a building in it.
    let v = dir.path().join("v.json");
    gridmap(&["validate", s(&p), "--json", s(&v)]);
    let summary = &read_json(&v)["summary"];
    assert_eq!(summary["overlaps"], 0, "{summary}");
    assert_eq!(summary["outside_boundary"], 0, "{summary}");
    assert_eq!(summary["gaps"], 1, "{summary}");

    // A second repair has nothing left to resolve: no building changes grid, and no grid
    // changes by more than a square metre. (It may still snap a vertex that the clip made
    // onto a boundary vertex within --snap-m; see the report.)
    let r2 = dir.path().join("again.json");
    let again = gridmap(&["repair", s(&p), "--out", s(&out), "--report", s(&r2)]);
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    let r2 = read_json(&r2);
    assert_eq!(r2["summary"]["buildings_moved"], 0, "{r2:#}");
    for c in r2["changes"].as_array().unwrap() {
        assert_eq!(c["kind"], "snapped", "{r2:#}");
    }
    for g in r2["grids"].as_array().unwrap() {
        let moved = g["added_m2"].as_f64().unwrap() + g["removed_m2"].as_f64().unwrap();
        assert!(moved < 1.0, "{r2:#}");
    }
}
