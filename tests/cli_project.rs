//! The project file end to end: init, import in every format and CRS, export, history,
//! all-or-nothing imports, and a SIGKILL in the middle of an import.

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

mod support;
#[path = "support/tools.rs"]
mod tools;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::*;

fn ok(args: &[&str]) -> String {
    let out = gridmap(args);
    assert!(
        out.status.success(),
        "gridmap {args:?}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

fn fails(args: &[&str]) -> String {
    let out = gridmap(args);
    assert_eq!(
        out.status.code(),
        Some(2),
        "gridmap {args:?} should fail: {}",
        stdout(&out)
    );
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// A project holding the demo town.
fn demo_project(dir: &Path) -> PathBuf {
    let p = dir.join("demo.gpkg");
    ok(&[
        "init",
        s(&p),
        "--town",
        "外滩陆家嘴演示镇",
        "--code",
        "310101001",
    ]);
    ok(&[
        "import",
        s(&p),
        "--layer",
        "boundary",
        s(&demo("town.geojson")),
    ]);
    ok(&[
        "import",
        s(&p),
        "--layer",
        "grids",
        s(&demo("grids.geojson")),
    ]);
    ok(&[
        "import",
        s(&p),
        "--layer",
        "buildings",
        s(&demo("buildings.geojson")),
    ]);
    ok(&[
        "import",
        s(&p),
        "--layer",
        "addresses",
        s(&demo("addresses.geojson")),
    ]);
    p
}

fn geojson_features(path: &Path) -> Vec<Value> {
    read_json(path)["features"]
        .as_array()
        .expect("features")
        .clone()
}

/// All coordinates of a GeoJSON geometry, flattened.
fn coords(g: &Value, out: &mut Vec<(f64, f64)>) {
    match g {
        Value::Array(a) if a.len() >= 2 && a[0].is_number() => {
            out.push((a[0].as_f64().expect("x"), a[1].as_f64().expect("y")))
        }
        Value::Array(a) => a.iter().for_each(|x| coords(x, out)),
        Value::Object(o) => coords(&o["coordinates"], out),
        _ => {}
    }
}

/// Same vertices within `tol` degrees, in any order: Shapefiles store exterior rings
/// clockwise, so a round trip may reverse rings.
fn same_geometry(a: &Value, b: &Value, tol: f64) -> bool {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    coords(a, &mut x);
    coords(b, &mut y);
    let by_position =
        |p: &(f64, f64), q: &(f64, f64)| p.0.total_cmp(&q.0).then(p.1.total_cmp(&q.1));
    x.sort_by(by_position);
    y.sort_by(by_position);
    x.len() == y.len()
        && x.iter()
            .zip(&y)
            .all(|(p, q)| (p.0 - q.0).abs() <= tol && (p.1 - q.1).abs() <= tol)
}

#[test]
fn validating_a_project_gives_the_same_report_as_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = demo_project(dir.path());
    let from_project = dir.path().join("p.json");
    let out = gridmap(&["validate", s(&p), "--json", s(&from_project)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let from_files = dir.path().join("f.json");
    gridmap(&[
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
        s(&from_files),
    ]);
    assert_eq!(read_json(&from_project), read_json(&from_files));
}

#[test]
fn every_format_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let p = demo_project(dir.path());
    let original = dir.path().join("grids-original.geojson");
    ok(&["export", s(&p), "--layer", "grids", s(&original)]);
    let want = geojson_features(&original);
    assert_eq!(want.len(), 31);
    for ext in ["geojson", "fgb", "shp", "gpkg", "kml", "gml", "csv"] {
        let file = dir.path().join(format!("grids-out.{ext}"));
        ok(&["export", s(&p), "--layer", "grids", s(&file)]);
        let q = dir.path().join(format!("back-{ext}.gpkg"));
        ok(&["init", s(&q), "--town", "t", "--code", "1"]);
        ok(&["import", s(&q), "--layer", "grids", s(&file)]);
        let back = dir.path().join(format!("back-{ext}.geojson"));
        ok(&["export", s(&q), "--layer", "grids", s(&back)]);
        let got = geojson_features(&back);
        assert_eq!(got.len(), want.len(), "{ext}");
        for w in &want {
            let g = got
                .iter()
                .find(|g| g["properties"]["code"] == w["properties"]["code"])
                .unwrap_or_else(|| panic!("{ext}: grid {} lost", w["properties"]["code"]));
            assert_eq!(
                g["properties"]["name"], w["properties"]["name"],
                "{ext}: Chinese names intact"
            );
            assert_eq!(
                g["properties"]["village"], w["properties"]["village"],
                "{ext}"
            );
            assert!(
                same_geometry(&g["geometry"], &w["geometry"], 1e-7),
                "{ext}: geometry of {}",
                w["properties"]["code"]
            );
        }
    }
}

#[test]
fn upsert_of_the_same_file_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = demo_project(dir.path());
    let out = ok(&[
        "import",
        s(&p),
        "--layer",
        "buildings",
        s(&demo("buildings.geojson")),
        "--mode",
        "upsert",
    ]);
    assert!(
        out.contains("inserted 0, updated 0, unchanged 1321"),
        "{out}"
    );
    let out = ok(&[
        "import",
        s(&p),
        "--layer",
        "grids",
        s(&demo("grids.geojson")),
        "--mode",
        "upsert",
    ]);
    assert!(out.contains("inserted 0, updated 0, unchanged 31"), "{out}");
    let history = ok(&["history", s(&p), "310101001001-01", "--json"]);
    let h: Value = serde_json::from_str(&history).unwrap();
    assert_eq!(
        h.as_array().unwrap().len(),
        1,
        "no new version for an unchanged grid"
    );
}

fn cs2cs(from: &str, to: &str, x: f64, y: f64) -> Option<(f64, f64)> {
    // cs2cs speaks each CRS's authority axis order; -d 9 for nanodegree/mm output.
    let out = Command::new("cs2cs")
        .args(["-d", "9", from, to])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .ok()
        .and_then(|mut c| {
            use std::io::Write;
            writeln!(c.stdin.take()?, "{x} {y}").ok()?;
            c.wait_with_output().ok()
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace().map(|v| v.parse::<f64>());
    Some((it.next()?.ok()?, it.next()?.ok()?))
}

#[test]
fn gauss_kruger_and_cgcs2000_points_come_back_to_wgs84() {
    let (lon, lat) = (121.4901234, 31.2367891);
    if !tools::have("cs2cs") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // EPSG:4528 (zone 40, with the 40 prefix) and 4549 (CM 120°E) are northing-first in
    // EPSG; files store easting first. EPSG:4490 is latitude-first in EPSG, lon first in files.
    let cases = [
        (
            "EPSG:4528",
            cs2cs("EPSG:4326", "EPSG:4528", lat, lon).map(|(n, e)| (e, n)),
        ),
        (
            "EPSG:4549",
            cs2cs("EPSG:4326", "EPSG:4549", lat, lon).map(|(n, e)| (e, n)),
        ),
        (
            "EPSG:4490",
            cs2cs("EPSG:4326", "EPSG:4490", lat, lon).map(|(la, lo)| (lo, la)),
        ),
    ];
    for (crs, xy) in cases {
        let (x, y) = xy.expect("cs2cs converted");
        if crs == "EPSG:4528" {
            assert!(x > 40_000_000.0, "zone prefix in the easting: {x}");
        }
        let file = dir.path().join("a.geojson");
        std::fs::write(&file, format!(
            r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{"id":"a1"}},"geometry":{{"type":"Point","coordinates":[{x},{y}]}}}}]}}"#
        )).unwrap();
        let p = dir.path().join(format!("{}.gpkg", crs.replace(':', "")));
        ok(&["init", s(&p), "--town", "t", "--code", "1"]);
        let out = ok(&[
            "import",
            s(&p),
            "--layer",
            "addresses",
            s(&file),
            "--crs",
            crs,
        ]);
        assert!(
            out.contains(&format!("reprojected from {crs}")) || crs == "EPSG:4490",
            "{out}"
        );
        let back = dir.path().join("back.geojson");
        ok(&["export", s(&p), "--layer", "addresses", s(&back)]);
        let f = &geojson_features(&back)[0];
        let c = f["geometry"]["coordinates"].as_array().unwrap();
        let (gx, gy) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
        assert!(
            (gx - lon).abs() < 1e-7 && (gy - lat).abs() < 1e-7,
            "{crs}: ({gx}, {gy})"
        );
    }
}

#[test]
fn a_shapefile_prj_is_honoured() {
    if !tools::have("ogr2ogr") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let shp = dir.path().join("addr4528.shp");
    let st = Command::new("ogr2ogr")
        .args(["-t_srs", "EPSG:4528", "-lco", "ENCODING=UTF-8"])
        .arg(&shp)
        .arg(demo("addresses.geojson"))
        .status()
        .unwrap();
    assert!(st.success());
    let p = dir.path().join("p.gpkg");
    ok(&["init", s(&p), "--town", "t", "--code", "1"]);
    let out = ok(&["import", s(&p), "--layer", "addresses", s(&shp)]);
    assert!(out.contains("reprojected from EPSG:4528"), "{out}");
    let back = dir.path().join("back.geojson");
    ok(&["export", s(&p), "--layer", "addresses", s(&back)]);
    let want = geojson_features(&demo("addresses.geojson"));
    let got = geojson_features(&back);
    assert_eq!(got.len(), want.len());
    for w in &want {
        let g = got
            .iter()
            .find(|g| g["properties"]["id"] == w["properties"]["id"])
            .unwrap();
        assert_eq!(g["properties"]["text"], w["properties"]["text"]);
        assert!(
            same_geometry(&g["geometry"], &w["geometry"], 1e-7),
            "{}",
            w["properties"]["id"]
        );
    }
    // A .prj PROJ cannot read is an error naming the file, and nothing is imported.
    std::fs::write(
        shp.with_extension("prj"),
        "PROJCS[\"nonsense\",GEOGCS[broken",
    )
    .unwrap();
    let q = dir.path().join("q.gpkg");
    ok(&["init", s(&q), "--town", "t", "--code", "1"]);
    let out = gridmap(&["import", s(&q), "--layer", "addresses", s(&shp)]);
    // GDAL may ignore an unreadable .prj; then the coordinates are not lon/lat and say so.
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("addr4528"), "{err}");
    assert!(
        err.contains("out of range") || err.contains("PROJ") || err.contains("prj"),
        "{err}"
    );
}

#[test]
fn gcj02_and_bd09_round_trip_through_export_and_import() {
    let dir = tempfile::tempdir().unwrap();
    let p = demo_project(dir.path());
    let want = geojson_features(&demo("addresses.geojson"));
    for (to, from) in [("--to-gcj02", "--from-gcj02"), ("--to-bd09", "--from-bd09")] {
        let shifted = dir.path().join("shifted.geojson");
        ok(&["export", s(&p), "--layer", "addresses", s(&shifted), to]);
        let moved = geojson_features(&shifted);
        assert!(
            !same_geometry(&moved[0]["geometry"], &want[0]["geometry"], 1e-4),
            "{to} moves points"
        );
        let q = dir.path().join(format!("q{to}.gpkg"));
        ok(&["init", s(&q), "--town", "t", "--code", "1"]);
        ok(&["import", s(&q), "--layer", "addresses", s(&shifted), from]);
        let back = dir.path().join("back.geojson");
        ok(&["export", s(&q), "--layer", "addresses", s(&back)]);
        for (g, w) in geojson_features(&back).iter().zip(&want) {
            assert!(
                same_geometry(&g["geometry"], &w["geometry"], 1e-7),
                "{from}"
            );
        }
    }
}

#[test]
fn a_bad_feature_leaves_the_project_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let p = demo_project(dir.path());
    // GeoJSON with one null geometry among good features.
    let mut features = geojson_features(&demo("buildings.geojson"));
    for f in features.iter_mut() {
        let id = f["properties"]["id"].as_str().unwrap().to_string();
        f["properties"]["id"] = Value::String(format!("new-{id}"));
    }
    features[700]["geometry"] = Value::Null;
    let file = dir.path().join("b.geojson");
    std::fs::write(
        &file,
        serde_json::json!({"type": "FeatureCollection", "features": features}).to_string(),
    )
    .unwrap();
    let err = fails(&["import", s(&p), "--layer", "buildings", s(&file)]);
    assert!(
        err.contains("feature 700") && err.contains("geometry is null"),
        "{err}"
    );
    // A CSV whose row 5,001 has a bad WKT.
    let csv = dir.path().join("a.csv");
    let mut text = String::from("id,WKT\n");
    for i in 0..6000 {
        let wkt = if i == 5000 {
            "POINT (121.5 oops)".to_string()
        } else {
            format!("POINT (121.{i:04} 31.2)")
        };
        text += &format!("c{i},\"{wkt}\"\n");
    }
    std::fs::write(&csv, text).unwrap();
    let err = fails(&["import", s(&p), "--layer", "addresses", s(&csv)]);
    assert!(err.contains("feature 5000"), "{err}");
    // Nothing of either import landed.
    let json = dir.path().join("r.json");
    gridmap(&["validate", s(&p), "--json", s(&json)]);
    let r = read_json(&json);
    assert_eq!(r["summary"]["buildings"], 1321);
    assert_eq!(r["summary"]["addresses"], 115);
}

#[test]
fn a_gbk_shapefile_without_cpg_asks_for_the_encoding() {
    if !tools::have("ogr2ogr") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let shp = dir.path().join("gbk.shp");
    let st = Command::new("ogr2ogr")
        .args(["-lco", "ENCODING=GBK"])
        .arg(&shp)
        .arg(demo("addresses.geojson"))
        .status()
        .unwrap();
    assert!(st.success());
    let _ = std::fs::remove_file(shp.with_extension("cpg"));
    let mut dbf = std::fs::read(shp.with_extension("dbf")).unwrap();
    dbf[29] = 0; // no code page mark either
    std::fs::write(shp.with_extension("dbf"), dbf).unwrap();
    let p = dir.path().join("p.gpkg");
    ok(&["init", s(&p), "--town", "t", "--code", "1"]);
    let err = fails(&["import", s(&p), "--layer", "addresses", s(&shp)]);
    assert!(err.contains("--encoding GBK"), "{err}");
    ok(&[
        "import",
        s(&p),
        "--layer",
        "addresses",
        s(&shp),
        "--encoding",
        "GBK",
    ]);
    let back = dir.path().join("back.geojson");
    ok(&["export", s(&p), "--layer", "addresses", s(&back)]);
    let got = geojson_features(&back);
    let want = geojson_features(&demo("addresses.geojson"));
    let text = |v: &Vec<Value>, id: &str| {
        v.iter().find(|f| f["properties"]["id"] == id).unwrap()["properties"]["text"].clone()
    };
    assert_eq!(
        text(&got, "addr-1"),
        text(&want, "addr-1"),
        "Chinese text intact"
    );
}

#[test]
fn sigkill_during_an_import_leaves_before_or_after_never_half() {
    let dir = tempfile::tempdir().unwrap();
    let p = demo_project(dir.path());
    ok(&[
        "synth",
        "--buildings",
        "300000",
        "--grids",
        "100",
        "--out-dir",
        s(dir.path()),
    ]);
    let big = dir.path().join("buildings.fgb");
    for delay_ms in [150u64, 400, 900] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gridmap"))
            .args([
                "import",
                s(&p),
                "--layer",
                "buildings",
                s(&big),
                "--mode",
                "upsert",
            ])
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let conn = rusqlite::Connection::open(&p).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        let n: i64 = conn
            .query_row("SELECT count(*) FROM buildings", [], |r| r.get(0))
            .unwrap();
        let indexed: i64 = conn
            .query_row("SELECT count(*) FROM rtree_buildings_geom", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(
            n == 1321 || n == 301_321,
            "after a kill at {delay_ms} ms: {n} buildings"
        );
        assert_eq!(n, indexed, "the spatial index matches the table");
    }
}

#[test]
fn skip_invalid_imports_the_good_rows_and_lists_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.gpkg");
    ok(&["init", s(&p), "--town", "t", "--code", "1"]);
    let csv = dir.path().join("a.csv");
    let mut text = String::from("id,WKT\n");
    for i in 0..6000 {
        let wkt = match i {
            5000 => "POINT (121.5 oops)".to_string(),
            5001 => "POINT (221.5 31.2)".to_string(),
            _ => format!("POINT (121.{i:04} 31.2)"),
        };
        let id = if i == 5002 {
            "c7".to_string()
        } else {
            format!("c{i}")
        };
        text += &format!("{id},\"{wkt}\"\n");
    }
    std::fs::write(&csv, text).unwrap();
    let side = dir.path().join("rejected.csv");
    let out = ok(&[
        "import",
        s(&p),
        "--layer",
        "addresses",
        s(&csv),
        "--skip-invalid",
        "--rejected",
        s(&side),
    ]);
    assert!(
        out.contains("read 6000, inserted 5997") && out.contains("skipped 3"),
        "{out}"
    );
    let rejected = std::fs::read_to_string(&side).unwrap();
    let lines: Vec<&str> = rejected.lines().collect();
    assert_eq!(lines[0], "feature,id,reason");
    assert_eq!(lines.len(), 4, "{rejected}");
    assert!(
        lines[1].starts_with("5000,c5000,") && lines[1].contains("geometry is null"),
        "{rejected}"
    );
    assert!(
        lines[2].starts_with("5001,c5001,") && lines[2].contains("out of range"),
        "{rejected}"
    );
    assert!(
        lines[3].starts_with("5002,c7,") && lines[3].contains("duplicate id"),
        "{rejected}"
    );
}

#[test]
fn a_truncated_shapefile_is_refused_and_the_project_untouched() {
    if !tools::have("ogr2ogr") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let shp = dir.path().join("b.shp");
    assert!(
        Command::new("ogr2ogr")
            .arg(&shp)
            .arg(demo("buildings.geojson"))
            .status()
            .unwrap()
            .success()
    );
    let bytes = std::fs::read(&shp).unwrap();
    std::fs::write(&shp, &bytes[..bytes.len() / 2]).unwrap();
    let p = dir.path().join("p.gpkg");
    ok(&["init", s(&p), "--town", "t", "--code", "1"]);
    let err = fails(&["import", s(&p), "--layer", "buildings", s(&shp)]);
    assert!(err.contains("b.shp"), "{err}");
    let conn = rusqlite::Connection::open(&p).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM buildings", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn readers_see_before_or_after_while_a_writer_imports() {
    let dir = tempfile::tempdir().unwrap();
    let p = demo_project(dir.path());
    ok(&[
        "synth",
        "--buildings",
        "200000",
        "--grids",
        "50",
        "--out-dir",
        s(dir.path()),
    ]);
    let big = dir.path().join("buildings.fgb");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gridmap"))
        .args(["import", s(&p), "--layer", "buildings", s(&big)])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let conn = rusqlite::Connection::open(&p).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..200 {
        let (n, indexed): (i64, i64) = conn
            .query_row("SELECT (SELECT count(*) FROM buildings), (SELECT count(*) FROM rtree_buildings_geom)", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert!(n == 1321 || n == 201_321, "a reader saw {n} buildings");
        assert_eq!(n, indexed, "table and index agree in every snapshot");
        seen.insert(n);
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(child.wait().unwrap().success());
    assert!(seen.contains(&1321), "read while the import ran: {seen:?}");
}

#[test]
fn a_village_of_a_project_is_partitioned() {
    let dir = tempfile::tempdir().unwrap();
    let p = demo_project(dir.path());
    ok(&[
        "import",
        s(&p),
        "--layer",
        "villages",
        s(&demo("villages.geojson")),
    ]);
    let plan = dir.path().join("plan.geojson");
    let report = dir.path().join("plan.json");
    let out = gridmap(&[
        "partition",
        s(&p),
        "--village",
        "310101001002",
        "--grids",
        "4",
        "--out",
        s(&plan),
        "--report",
        s(&report),
    ]);
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}",
        stderr(&out)
    );
    let r = read_json(&report);
    assert_eq!(r["summary"]["grids"], 4);
    assert_eq!(geojson_features(&plan).len(), 4);
    assert!(
        r["summary"]["max_deviation_pct"].as_f64().unwrap() <= 5.0,
        "{}",
        r["summary"]
    );
    // From the village's current grids: some buildings move, the count of grids stays.
    let out = gridmap(&[
        "partition",
        s(&p),
        "--village",
        "310101001002",
        "--from-current",
        "--out",
        s(&plan),
    ]);
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("moved"), "{}", stdout(&out));
    let err = fails(&[
        "partition",
        s(&p),
        "--village",
        "NOPE",
        "--grids",
        "3",
        "--out",
        s(&plan),
    ]);
    assert!(err.contains("no village NOPE"), "{err}");
}

#[test]
fn roads_water_and_landuse_import_as_the_basemap_and_export_again() {
    let dir = tempfile::tempdir().unwrap();
    let p = demo_project(dir.path());
    let roads = demo("raw/roads.geojson");
    let water = demo("raw/water.geojson");
    let out = ok(&["import", s(&p), "--layer", "roads", s(&roads)]);
    assert!(
        out.contains("(Roads, WGS84): read 1094, inserted 1094"),
        "{out}"
    );
    let out = ok(&["import", s(&p), "--layer", "water", s(&water)]);
    assert!(out.contains("read 8, inserted 8"), "{out}");
    // Replace swaps the roads only; upsert has no ids to match.
    let out = ok(&[
        "import",
        s(&p),
        "--layer",
        "roads",
        s(&roads),
        "--mode",
        "replace",
    ]);
    assert!(
        out.contains("inserted 1094") && out.contains("deleted 1094"),
        "{out}"
    );
    let err = fails(&[
        "import",
        s(&p),
        "--layer",
        "water",
        s(&water),
        "--mode",
        "upsert",
    ]);
    assert!(err.contains("no ids to match"), "{err}");
    // A point among the roads: named, and nothing lands.
    let mut features = geojson_features(&roads);
    features[3]["geometry"] = serde_json::json!({"type": "Point", "coordinates": [121.49, 31.24]});
    let bad = dir.path().join("bad-roads.geojson");
    std::fs::write(
        &bad,
        serde_json::json!({"type": "FeatureCollection", "features": features}).to_string(),
    )
    .unwrap();
    let err = fails(&["import", s(&p), "--layer", "roads", s(&bad)]);
    assert!(
        err.contains("bad-roads.geojson: feature 3") && err.contains("geometry is a Point"),
        "{err}"
    );
    let exported = dir.path().join("roads.geojson");
    let out = ok(&["export", s(&p), "--layer", "roads", s(&exported)]);
    assert!(out.contains("exported 1094 roads features"), "{out}");
    let back = geojson_features(&exported);
    assert_eq!(back.len(), 1094);
    let bund = back
        .iter()
        .find(|f| f["properties"]["name"] == "中山东一路")
        .unwrap();
    assert_eq!(bund["properties"]["kind"], "major_road");
    let exported = dir.path().join("water.geojson");
    ok(&["export", s(&p), "--layer", "water", s(&exported)]);
    assert_eq!(geojson_features(&exported).len(), 8);
    // Land use: polygons classed by kind; a line is refused, named.
    let landuse = demo("raw/landuse.geojson");
    let out = ok(&["import", s(&p), "--layer", "landuse", s(&landuse)]);
    assert!(out.contains("read 175, inserted 175"), "{out}");
    let exported = dir.path().join("landuse.geojson");
    ok(&["export", s(&p), "--layer", "landuse", s(&exported)]);
    let back = geojson_features(&exported);
    assert_eq!(back.len(), 175);
    assert_eq!(
        back.iter()
            .filter(|f| f["properties"]["kind"] == "park")
            .count(),
        18
    );
    let mut features = geojson_features(&landuse);
    features[0]["geometry"] =
        serde_json::json!({"type": "LineString", "coordinates": [[121.49, 31.24], [121.5, 31.24]]});
    let bad = dir.path().join("bad-landuse.geojson");
    std::fs::write(
        &bad,
        serde_json::json!({"type": "FeatureCollection", "features": features}).to_string(),
    )
    .unwrap();
    let err = fails(&[
        "import",
        s(&p),
        "--layer",
        "landuse",
        s(&bad),
        "--mode",
        "replace",
    ]);
    assert!(err.contains("land use needs polygons"), "{err}");
    // GDAL sees one basemap layer of lines and polygons.
    if tools::have("ogrinfo") {
        let o = Command::new("ogrinfo")
            .args(["-ro", "-so", s(&p), "basemap"])
            .output()
            .expect("ogrinfo runs");
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("Feature Count: 1277"), "{text}");
    }
}
