//! The basemap tile layer: the demo's OSM roads and water as `roads` and `water` MVT layers
//! (decoded by GDAL's MVT driver, independent of our encoder), the same tile for every
//! signed-in user whatever their scope, paths left out at low zoom, nothing below zoom 10.

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

use std::path::Path;
use std::process::Command;

use axum::http::StatusCode;
use gridmap_core::model::BasemapLayer;
use gridmap_server::{AppState, Settings};
use gridmap_tiles::TileId;
use serde_json::Value;

mod common;
#[path = "../../../tests/support/tools.rs"]
mod tools;
use common::{add_user, demo, demo_store, login, send};

fn state(dir: &Path) -> AppState {
    let mut s = demo_store(&dir.join("p.gpkg"));
    add_user(&mut s, "admin", "admin", "310101001");
    add_user(&mut s, "worker", "grid_worker", "310101001002-03");
    AppState::new(s, Settings::default()).unwrap()
}

async fn get(st: &AppState, uri: &str, token: Option<&str>) -> (StatusCode, Vec<u8>) {
    let (status, _, bytes) = send(st, "GET", uri, token, None, &[]).await;
    (status, bytes)
}

/// A tile at zoom `z` holding the first point of the demo's 中山东一路 (the Bund).
fn bund_tile(z: u8) -> TileId {
    let roads = gridmap_io::read_basemap(
        &demo("raw/roads.geojson"),
        BasemapLayer::Roads,
        &Default::default(),
    )
    .unwrap();
    let bund = roads
        .iter()
        .find(|r| r.name.as_deref() == Some("中山东一路"))
        .unwrap();
    let first = match &bund.geometry {
        geo::Geometry::LineString(l) => l.0[0],
        geo::Geometry::MultiLineString(m) => m.0[0].0[0],
        other => panic!("中山东一路 is a {other:?}"),
    };
    TileId::containing(first, z).unwrap()
}

fn uri(t: TileId) -> String {
    format!("/tiles/basemap/{}/{}/{}.mvt", t.z, t.x, t.y)
}

/// GDAL's reading of a tile: (layer name, feature count) and the attribute lines, or `None`
/// where `ogrinfo` is not installed.
fn ogrinfo(dir: &Path, bytes: &[u8]) -> Option<(Vec<(String, usize)>, String)> {
    if !tools::have("ogrinfo") {
        return None;
    }
    let file = dir.join("t.mvt");
    std::fs::write(&file, bytes).unwrap();
    let out = Command::new("ogrinfo")
        .args(["-ro", "-al", "-so"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8_lossy(&out.stdout).to_string();
    let mut layers = Vec::new();
    let mut name = None;
    for l in summary.lines() {
        if let Some(n) = l.strip_prefix("Layer name: ") {
            name = Some(n.trim().to_string());
        }
        if let Some(c) = l.strip_prefix("Feature Count: ") {
            layers.push((name.take().unwrap(), c.trim().parse().unwrap()));
        }
    }
    let full = Command::new("ogrinfo")
        .args(["-ro", "-al", "-q"])
        .arg(&file)
        .output()
        .unwrap();
    Some((layers, String::from_utf8_lossy(&full.stdout).to_string()))
}

#[tokio::test]
async fn a_basemap_tile_holds_roads_and_water_for_every_user_alike() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path());
    let admin = login(&st, "admin").await;
    let worker = login(&st, "worker").await;
    let tile = bund_tile(14);
    let (status, bytes) = get(&st, &uri(tile), Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    // The worker's scope is one grid; the basemap is the same tile all the same.
    let (status, worker_bytes) = get(&st, &uri(tile), Some(&worker)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        worker_bytes, bytes,
        "a grid worker gets the admin's basemap tile"
    );
    // Still behind sign-in.
    let (status, _) = get(&st, &uri(tile), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    if let Some((layers, text)) = ogrinfo(dir.path(), &bytes) {
        let count = |name: &str| {
            layers
                .iter()
                .find(|(n, _)| n == name)
                .map_or(0, |(_, c)| *c)
        };
        assert!(count("roads") > 50, "{layers:?}");
        assert!(count("water") >= 1, "the Huangpu: {layers:?}");
        assert!(count("landuse") >= 1, "{layers:?}");
        assert!(text.contains("name (String) = 中山东一路"), "{text}");
        assert!(text.contains("detail (String) = footway"), "paths at z14");
    }
}

#[tokio::test]
async fn low_zooms_leave_out_paths_and_below_zoom_10_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path());
    let admin = login(&st, "admin").await;
    let (status, bytes) = get(&st, &uri(bund_tile(12)), Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    if let Some((layers, text)) = ogrinfo(dir.path(), &bytes) {
        assert!(
            layers.iter().any(|(n, c)| n == "roads" && *c > 0),
            "{layers:?}"
        );
        assert!(!text.contains("kind (String) = path"), "no paths at z12");
        assert!(text.contains("kind (String) = major_road"), "{text}");
    }
    let (status, _) = get(&st, &uri(bund_tile(9)), Some(&admin)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // TileJSON names the three layers and the minimum zoom.
    let (status, body) = get(&st, "/tiles/basemap.json", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    let tj: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(tj["minzoom"], 10);
    let ids: Vec<&str> = tj["vector_layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["landuse", "water", "roads"]);
    // The OGC API lists the roads too, with line geometry.
    let (status, body) = get(&st, "/collections/roads/items?limit=2", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    let items: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(items["numberMatched"], 1094);
    assert_eq!(items["features"][0]["geometry"]["type"], "LineString");
}
