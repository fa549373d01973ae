//! Bad input never panics: it exits with code 2 and a message naming the file and the feature.
//! A grid with an invalid geometry is not bad input: it is reported, and the rest is validated.

mod support;

use std::path::{Path, PathBuf};

use support::*;

const GOOD_GRID: &str = r#"{"type":"Feature","properties":{"code":"G1"},"geometry":{"type":"Polygon","coordinates":[[[121.0,31.0],[121.01,31.0],[121.01,31.01],[121.0,31.01],[121.0,31.0]]]}}"#;
const GOOD_BUILDING: &str = r#"{"type":"Feature","properties":{"id":"B1","households":4},"geometry":{"type":"Polygon","coordinates":[[[121.004,31.004],[121.005,31.004],[121.005,31.005],[121.004,31.005],[121.004,31.004]]]}}"#;

fn collection(features: &[&str]) -> String {
    format!(
        r#"{{"type":"FeatureCollection","features":[{}]}}"#,
        features.join(",")
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write fixture");
    path
}

/// Validates `grids` against `buildings` and returns (exit code, stderr).
fn validate(grids: &Path, buildings: &Path) -> (Option<i32>, String) {
    let out = gridmap(&["validate", "--grids", s(grids), "--buildings", s(buildings)]);
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "no panic: {err}");
    (out.status.code(), err)
}

fn bad_buildings(text: &str, expect: &[&str]) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let grids = write(dir.path(), "grids.geojson", &collection(&[GOOD_GRID]));
    let buildings = write(dir.path(), "buildings.geojson", text);
    let (code, err) = validate(&grids, &buildings);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("buildings.geojson"), "names the file: {err}");
    for e in expect {
        assert!(err.contains(e), "expected {e:?} in: {err}");
    }
}

#[test]
fn malformed_json_names_line_and_column() {
    bad_buildings(
        r#"{"type":"FeatureCollection","features":[{"type":"Feature",,}]}"#,
        &["not valid GeoJSON", "line 1 column"],
    );
}

#[test]
fn truncated_geojson() {
    let full = collection(&[GOOD_BUILDING]);
    bad_buildings(&full[..full.len() / 2], &["not valid GeoJSON", "EOF"]);
}

#[test]
fn empty_file() {
    bad_buildings("", &["the file is empty"]);
    bad_buildings("  \n", &["the file is empty"]);
}

#[test]
fn null_geometry_names_the_feature() {
    let null = r#"{"type":"Feature","properties":{"id":"B2"},"geometry":null}"#;
    bad_buildings(
        &collection(&[GOOD_BUILDING, null]),
        &["feature 1 (id B2)", "geometry is null"],
    );
}

#[test]
fn longitude_out_of_range() {
    let far = GOOD_BUILDING
        .replace("[121.004,31.004],[121.005", "[221.004,31.004],[121.005")
        .replace("\"B1\"", "\"B9\"");
    bad_buildings(
        &collection(&[&far]),
        &["feature 0 (id B9)", "out of range", "221.004"],
    );
}

#[test]
fn duplicate_ids_name_both_features() {
    bad_buildings(
        &collection(&[GOOD_BUILDING, GOOD_BUILDING]),
        &["feature 1 (id B1)", "duplicate id", "feature 0"],
    );
}

#[test]
fn missing_id() {
    let no_id = GOOD_BUILDING.replace(r#""id":"B1","#, "");
    bad_buildings(
        &collection(&[&no_id]),
        &["feature 0", "missing id property `id`"],
    );
}

#[test]
fn bad_households_value() {
    let bad = GOOD_BUILDING.replace(r#""households":4"#, r#""households":-3"#);
    bad_buildings(
        &collection(&[&bad]),
        &["feature 0 (id B1)", "households", "-3"],
    );
}

#[test]
fn wrong_geometry_type_for_grids() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let line = r#"{"type":"Feature","properties":{"code":"L1"},"geometry":{"type":"LineString","coordinates":[[121,31],[121.1,31.1]]}}"#;
    let grids = write(dir.path(), "grids.geojson", &collection(&[line]));
    let buildings = write(dir.path(), "b.geojson", &collection(&[GOOD_BUILDING]));
    let (code, err) = validate(&grids, &buildings);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("grids.geojson: feature 0 (id L1): geometry is a LineString"),
        "{err}"
    );
}

#[test]
fn unreadable_format_and_missing_file() {
    let dir = tempfile::tempdir().expect("a temp dir");
    // Not GeoJSON or FlatGeobuf, so GDAL tries it, and says it cannot read it.
    let grids = write(dir.path(), "grids.xyz", "x");
    let buildings = write(dir.path(), "b.geojson", &collection(&[GOOD_BUILDING]));
    let (code, err) = validate(&grids, &buildings);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("grids.xyz") && err.contains("not recognized"),
        "{err}"
    );
    let (code, err) = validate(&dir.path().join("nope.geojson"), &buildings);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("nope.geojson") && err.contains("No such file"),
        "{err}"
    );
}

#[test]
fn truncated_flatgeobuf() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let out = gridmap(&[
        "synth",
        "--buildings",
        "500",
        "--grids",
        "4",
        "--out-dir",
        s(dir.path()),
    ]);
    assert!(out.status.success());
    let path = dir.path().join("buildings.fgb");
    let bytes = std::fs::read(&path).expect("read");
    let cut = dir.path().join("cut.fgb");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).expect("write");
    let (code, err) = validate(&dir.path().join("grids.fgb"), &cut);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("cut.fgb") && err.contains("truncated"),
        "{err}"
    );
    let junk = write(dir.path(), "junk.fgb", "this is not flatgeobuf");
    let (code, err) = validate(&dir.path().join("grids.fgb"), &junk);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("junk.fgb") && err.contains("magic bytes"),
        "{err}"
    );
}

#[test]
fn bad_options_are_usage_errors() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let grids = write(dir.path(), "g.geojson", &collection(&[GOOD_GRID]));
    let buildings = write(dir.path(), "b.geojson", &collection(&[GOOD_BUILDING]));
    let out = gridmap(&[
        "validate",
        "--grids",
        s(&grids),
        "--buildings",
        s(&buildings),
        "--straddle-share",
        "1.5",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--straddle-share must be between 0 and 1"));
    let out = gridmap(&["validate", "--grids", s(&grids)]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "missing --buildings is a usage error"
    );
}

#[test]
fn a_bow_tie_grid_is_reported_and_the_rest_still_validated() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let bow_tie = r#"{"type":"Feature","properties":{"code":"BOW"},"geometry":{"type":"Polygon","coordinates":[[[121.02,31.0],[121.03,31.01],[121.03,31.0],[121.02,31.01],[121.02,31.0]]]}}"#;
    let unclosed = r#"{"type":"Feature","properties":{"code":"OPEN"},"geometry":{"type":"Polygon","coordinates":[[[121.05,31.0],[121.06,31.0],[121.06,31.01],[121.05,31.01]]]}}"#;
    let outside = GOOD_BUILDING
        .replace("121.004", "121.104")
        .replace("121.005", "121.105")
        .replace("B1", "B2");
    let grids = write(
        dir.path(),
        "g.geojson",
        &collection(&[GOOD_GRID, bow_tie, unclosed]),
    );
    let buildings = write(
        dir.path(),
        "b.geojson",
        &collection(&[GOOD_BUILDING, &outside]),
    );
    let json = dir.path().join("r.json");
    let out = gridmap(&[
        "validate",
        "--grids",
        s(&grids),
        "--buildings",
        s(&buildings),
        "--json",
        s(&json),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let r = read_json(&json);
    let invalid = r["invalid_grids"].as_array().expect("list");
    assert_eq!(invalid.len(), 2, "{invalid:?}");
    assert_eq!(invalid[0]["grid"], "BOW");
    assert!(
        invalid[0]["reason"]
            .as_str()
            .expect("reason")
            .contains("self-intersection"),
        "{invalid:?}"
    );
    assert_eq!(invalid[1]["grid"], "OPEN");
    assert!(
        invalid[1]["reason"]
            .as_str()
            .expect("reason")
            .contains("not closed"),
        "{invalid:?}"
    );
    assert_eq!(r["summary"]["in_one_grid"], 1, "B1 still validated in G1");
    assert_eq!(r["in_no_grid"], serde_json::json!(["B2"]));
}
