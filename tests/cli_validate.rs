//! `gridmap validate` and `gridmap assign` end to end, on the demo data and on synthetic towns.
//!
//! The demo's expected results (`data/demo/expected.json`) come from an independent oracle:
//! Shapely/GEOS run by `data/build_demo.py`, with areas in UTM zone 51N. The report must agree
//! with it on every id, within 0.5% on areas and 0.001 on shares.

mod support;

use std::collections::BTreeSet;

use serde_json::Value;
use support::*;

fn ids(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|x| x.as_str().expect("an id").to_string())
        .collect()
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-9)
}

fn validate_demo(dir: &std::path::Path) -> (std::process::Output, Value) {
    let json = dir.join("report.json");
    let out = gridmap(&[
        "validate",
        "--grids",
        s(&demo("grids.geojson")),
        "--buildings",
        s(&demo("buildings.geojson")),
        "--boundary",
        s(&demo("town.geojson")),
        "--addresses",
        s(&demo("addresses.geojson")),
        "--json",
        s(&json),
        "--problems",
        s(&dir.join("problems.geojson")),
    ]);
    let report = read_json(&json);
    (out, report)
}

#[test]
fn demo_report_agrees_with_the_independent_oracle() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (out, got) = validate_demo(dir.path());
    assert_eq!(
        out.status.code(),
        Some(1),
        "problems found: {}",
        stderr(&out)
    );
    let want = read_json(&demo("expected.json"));

    for key in [
        "grids",
        "buildings",
        "in_one_grid",
        "in_no_grid",
        "in_many_grids",
        "straddling",
        "overlaps",
        "gaps",
        "outside_boundary",
    ] {
        assert_eq!(got["summary"][key], want["summary"][key], "summary.{key}");
    }
    assert_eq!(ids(&got["in_no_grid"]), ids(&want["in_no_grid"]));

    let many = |v: &Value| -> BTreeSet<(String, Vec<String>)> {
        v.as_array()
            .expect("a list")
            .iter()
            .map(|m| {
                let mut grids: Vec<String> = m["grids"]
                    .as_array()
                    .expect("grids")
                    .iter()
                    .map(|g| g.as_str().expect("a code").to_string())
                    .collect();
                grids.sort();
                (m["building"].as_str().expect("an id").to_string(), grids)
            })
            .collect()
    };
    assert_eq!(many(&got["in_many_grids"]), many(&want["in_many_grids"]));

    let straddling = |v: &Value| -> Vec<(String, String, f64)> {
        let mut out: Vec<_> = v
            .as_array()
            .expect("a list")
            .iter()
            .map(|x| {
                (
                    x["building"].as_str().expect("id").to_string(),
                    x["grid"].as_str().expect("code").to_string(),
                    x["outside_share"].as_f64().expect("share"),
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    };
    let (g, w) = (
        straddling(&got["straddling"]),
        straddling(&want["straddling"]),
    );
    assert_eq!(g.len(), w.len());
    for (g, w) in g.iter().zip(&w) {
        assert_eq!((&g.0, &g.1), (&w.0, &w.1));
        assert!((g.2 - w.2).abs() < 1e-3, "{} share {} vs {}", g.0, g.2, w.2);
    }

    let overlaps = got["overlaps"].as_array().expect("overlaps");
    let want_overlaps = want["overlaps"].as_array().expect("overlaps");
    assert_eq!(overlaps.len(), want_overlaps.len());
    for w in want_overlaps {
        let o = overlaps
            .iter()
            .find(|o| o["grids"] == w["grids"])
            .unwrap_or_else(|| panic!("overlap {} missing", w["grids"]));
        let (a, b) = (
            o["area_m2"].as_f64().expect("area"),
            w["area_m2"].as_f64().expect("area"),
        );
        assert!(close(a, b, 0.005), "overlap area {a} vs {b}");
        assert_eq!(ids(&o["buildings"]), ids(&w["buildings"]));
    }

    let gaps = got["gaps"].as_array().expect("gaps");
    for w in want["gaps"].as_array().expect("gaps") {
        let wa = w["area_m2"].as_f64().expect("area");
        let g = gaps
            .iter()
            .find(|g| close(g["area_m2"].as_f64().expect("area"), wa, 0.005))
            .unwrap_or_else(|| panic!("no gap of {wa} m²: {gaps:?}"));
        assert_eq!(ids(&g["buildings"]), ids(&w["buildings"]));
    }

    for w in want["outside_boundary"].as_array().expect("outside") {
        let o = got["outside_boundary"]
            .as_array()
            .expect("outside")
            .iter()
            .find(|o| o["grid"] == w["grid"])
            .unwrap_or_else(|| panic!("grid {} not reported outside", w["grid"]));
        let (a, b) = (
            o["area_m2"].as_f64().expect("area"),
            w["area_m2"].as_f64().expect("area"),
        );
        assert!(close(a, b, 0.005), "outside area {a} vs {b}");
    }

    let addr = |v: &Value, key: &str| -> BTreeSet<String> {
        v[key]
            .as_array()
            .expect("a list")
            .iter()
            .map(|a| a["address"].as_str().expect("id").to_string())
            .collect()
    };
    for key in ["not_in_building", "grid_mismatch"] {
        assert_eq!(
            addr(&got["addresses"], key),
            addr(&want["addresses"], key),
            "{key}"
        );
    }
    for w in want["addresses"]["not_in_building"]
        .as_array()
        .expect("list")
    {
        let g = got["addresses"]["not_in_building"]
            .as_array()
            .expect("list")
            .iter()
            .find(|g| g["address"] == w["address"])
            .expect("found above");
        let (a, b) = (
            g["distance_m"].as_f64().expect("m"),
            w["distance_m"].as_f64().expect("m"),
        );
        assert!((a - b).abs() < 0.05 + 0.005 * b, "distance {a} vs {b}");
    }
}

#[test]
fn demo_problems_file_holds_every_problem_as_a_feature() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (_, report) = validate_demo(dir.path());
    let problems = read_json(&dir.path().join("problems.geojson"));
    let features = problems["features"].as_array().expect("features");
    let count = |kind: &str| {
        features
            .iter()
            .filter(|f| f["properties"]["kind"] == kind)
            .count() as u64
    };
    let summary = &report["summary"];
    assert_eq!(count("overlap"), summary["overlaps"].as_u64().expect("n"));
    assert_eq!(count("gap"), summary["gaps"].as_u64().expect("n"));
    assert_eq!(
        count("in_no_grid"),
        summary["in_no_grid"].as_u64().expect("n")
    );
    assert_eq!(
        count("straddling"),
        summary["straddling"].as_u64().expect("n")
    );
    assert_eq!(
        count("outside_boundary"),
        summary["outside_boundary"].as_u64().expect("n")
    );
    assert_eq!(count("address_grid_mismatch"), 2);
    assert!(
        features.iter().all(|f| f["geometry"].is_object()),
        "every problem has a geometry"
    );
}

#[test]
fn demo_summary_names_the_worst_problems() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (out, _) = validate_demo(dir.path());
    let text = stdout(&out);
    assert!(text.contains("1 overlaps"), "{text}");
    assert!(text.contains("worst problems:"), "{text}");
    assert!(
        text.contains("overlap 310101001001-01 × 310101001001-02"),
        "{text}"
    );
}

fn synth(dir: &std::path::Path, extra: &[&str]) {
    let mut args = vec![
        "synth",
        "--buildings",
        "3000",
        "--grids",
        "30",
        "--seed",
        "5",
        "--out-dir",
        s(dir),
    ];
    args.extend(extra);
    let out = gridmap(&args);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_clean_synthetic_town_exits_zero_except_for_straddlers() {
    let dir = tempfile::tempdir().expect("a temp dir");
    synth(dir.path(), &[]);
    let json = dir.path().join("r.json");
    // With straddling switched off (share 1.0) a clean tiling has no problem at all.
    let out = gridmap(&[
        "validate",
        "--grids",
        s(&dir.path().join("grids.fgb")),
        "--buildings",
        s(&dir.path().join("buildings.fgb")),
        "--boundary",
        s(&dir.path().join("boundary.fgb")),
        "--straddle-share",
        "1.0",
        "--json",
        s(&json),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let r = read_json(&json);
    assert_eq!(r["summary"]["in_one_grid"], 3000);
    assert_eq!(r["summary"]["gap_area_m2"], 0.0);
}

#[test]
fn flatgeobuf_and_geojson_give_the_same_report() {
    let dir = tempfile::tempdir().expect("a temp dir");
    synth(dir.path(), &["--gaps", "1", "--overlaps", "1"]);
    synth(
        dir.path(),
        &["--gaps", "1", "--overlaps", "1", "--format", "geojson"],
    );
    let report = |ext: &str| {
        let json = dir.path().join(format!("r-{ext}.json"));
        let out = gridmap(&[
            "validate",
            "--grids",
            s(&dir.path().join(format!("grids.{ext}"))),
            "--buildings",
            s(&dir.path().join(format!("buildings.{ext}"))),
            "--json",
            s(&json),
        ]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        read_json(&json)
    };
    let (fgb, geojson) = (report("fgb"), report("geojson"));
    assert_eq!(fgb, geojson);
    assert_eq!(
        fgb["summary"]["gaps"], 1,
        "the shrunk grid opens one ring of gap"
    );
    assert!(fgb["summary"]["overlaps"].as_u64().expect("n") >= 2);
}

#[test]
fn assign_writes_every_building_with_its_status() {
    let dir = tempfile::tempdir().expect("a temp dir");
    synth(dir.path(), &["--gaps", "1", "--overlaps", "1"]);
    let csv = dir.path().join("a.csv");
    let json = dir.path().join("r.json");
    let grids = dir.path().join("grids.fgb");
    let buildings = dir.path().join("buildings.fgb");
    let out = gridmap(&[
        "assign",
        "--grids",
        s(&grids),
        "--buildings",
        s(&buildings),
        "--out",
        s(&csv),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&csv).expect("csv written");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("building,grid,status,outside_share"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3000);
    // The CSV agrees with the validation report, status by status.
    gridmap(&[
        "validate",
        "--grids",
        s(&grids),
        "--buildings",
        s(&buildings),
        "--json",
        s(&json),
    ]);
    let r = read_json(&json);
    let with = |status: &str| rows.iter().filter(|r| r[2] == status).count() as u64;
    assert_eq!(
        with("in_no_grid"),
        r["summary"]["in_no_grid"].as_u64().expect("n")
    );
    assert_eq!(
        with("in_many_grids"),
        r["summary"]["in_many_grids"].as_u64().expect("n")
    );
    assert_eq!(
        with("straddling"),
        r["summary"]["straddling"].as_u64().expect("n")
    );
    assert_eq!(
        with("in_one_grid") + with("straddling"),
        r["summary"]["in_one_grid"].as_u64().expect("n")
    );
    for row in &rows {
        match row[2] {
            "in_one_grid" | "straddling" => {
                assert!(row[1].starts_with('G'));
                let share: f64 = row[3].parse().expect("a share");
                assert!((0.0..=1.0).contains(&share));
                assert_eq!(row[2] == "straddling", share > 0.10);
            }
            "in_many_grids" => assert!(row[1].contains(';') && row[3].is_empty()),
            "in_no_grid" => assert!(row[1].is_empty() && row[3].is_empty()),
            other => panic!("unknown status {other}"),
        }
    }
}
