//! Snapshot tests: a decoded vector tile (decoded by GDAL's MVT driver, independent of our
//! encoder) and a heatmap PNG (decoded pixels) of the demo project must match the golden files
//! in `tests/golden/`. After a deliberate change, rerun with `UPDATE_GOLDEN=1` and review the
//! diff.

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

use std::path::{Path, PathBuf};
use std::process::Command;

use axum::http::StatusCode;
use gridmap_server::{AppState, Settings};

mod common;
#[path = "../../../tests/support/tools.rs"]
mod tools;
use common::{add_user, demo_store};

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

fn state(dir: &Path) -> AppState {
    let mut s = demo_store(&dir.join("p.gpkg"));
    add_user(&mut s, "admin", "admin", "310101001");
    AppState::new(s, Settings::default()).unwrap()
}

async fn fetch(st: &AppState, uri: &str) -> (StatusCode, Vec<u8>) {
    let token = common::login(st, "admin").await;
    let (status, _, bytes) = common::send(st, "GET", uri, Some(&token), None, &[]).await;
    (status, bytes)
}

/// Compares with the golden file, or rewrites it under UPDATE_GOLDEN=1.
fn check(name: &str, got: &[u8]) {
    let path = golden(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read(&path)
        .unwrap_or_else(|_| panic!("{} missing: run with UPDATE_GOLDEN=1", path.display()));
    assert!(
        want == got,
        "{name} differs from {}; if intended, rerun with UPDATE_GOLDEN=1",
        path.display()
    );
}

#[tokio::test]
async fn a_grids_tile_decodes_to_the_snapshot() {
    if !tools::have("ogrinfo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path());
    // z15 tile over the Bund: several grids, the planted overlap.
    let (status, bytes) = fetch(&st, "/tiles/grids/15/27441/13387.mvt").await;
    assert_eq!(status, StatusCode::OK);
    let file = dir.path().join("t.mvt");
    std::fs::write(&file, &bytes).unwrap();
    // GDAL decodes the tile in tile coordinates (no georeferencing): ids, attributes, geometry.
    let out = Command::new("ogrinfo")
        .args(["-ro", "-al", "-q", "-oo", "CLIP=NO"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let features: String = text
        .lines()
        .filter(|l| !l.starts_with("Layer name") && !l.starts_with("INFO") && !l.trim().is_empty())
        .map(|l| format!("{}\n", l.trim_end()))
        .collect();
    assert!(
        features.contains("code (String) = 310101001001-01"),
        "{features}"
    );
    check("tile-grids-15-27441-13387.txt", features.as_bytes());
}

#[tokio::test]
async fn a_heatmap_renders_to_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path());
    let (status, png) = fetch(&st, "/heatmap/unvisited/15/27441/13387.png").await;
    assert_eq!(status, StatusCode::OK);
    let mut decoder = png::Decoder::new(std::io::Cursor::new(&png));
    decoder.set_transformations(png::Transformations::EXPAND); // a palette PNG, as RGBA
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((info.width, info.height), (256, 256));
    assert!(pixels.chunks(4).any(|p| p[3] > 0), "some density is drawn");
    // Pixels, not bytes: PNG compression may differ between library versions.
    check("heatmap-unvisited-15-27441-13387.rgba", &pixels);
}
