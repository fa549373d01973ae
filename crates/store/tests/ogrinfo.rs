//! GDAL's own tools read the project file: every layer, with its features and geometries.
//! Skipped (with a note) where `ogrinfo` is not installed; `scripts/setup.sh` installs it.

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

use geo::{MultiPolygon, Point, polygon};
use gridmap_core::model::{Address, Building, Footprint, Grid};
use gridmap_store::{Change, GpkgStore, Mode, Store};

#[path = "../../../tests/support/tools.rs"]
mod tools;

#[test]
fn ogrinfo_lists_every_layer_with_its_feature_count() {
    if !tools::have("ogrinfo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.gpkg");
    let mut s = GpkgStore::create(&path, "310101001", "演示镇").unwrap();
    let sq = |x: f64| {
        MultiPolygon(vec![
            polygon![(x: x, y: 31.0), (x: x + 0.01, y: 31.0), (x: x + 0.01, y: 31.01), (x: x, y: 31.01)],
        ])
    };
    let grids: Vec<Grid> = (0..3)
        .map(|i| Grid {
            code: format!("G{i}"),
            name: Some(format!("第{i}网格")),
            village: None,
            geometry: sq(121.0 + 0.01 * i as f64),
        })
        .collect();
    s.import_grids(
        &grids,
        Mode::Append,
        &Change {
            who: "t".into(),
            why: "t".into(),
        },
    )
    .unwrap();
    let buildings: Vec<Building> = (0..5)
        .map(|i| Building {
            id: format!("b{i}"),
            footprint: Footprint::Point(Point::new(121.001 + 0.001 * i as f64, 31.005)),
            households: i,
            floors: None,
            kind: Some("住宅".into()),
        })
        .collect();
    s.import_buildings(&buildings, Mode::Append).unwrap();
    s.import_addresses(
        &[Address {
            id: "a".into(),
            point: Point::new(121.0, 31.0),
            text: Some("一号".into()),
            declared_grid: None,
            declared_building: None,
        }],
        Mode::Append,
    )
    .unwrap();
    drop(s);
    let out = std::process::Command::new("ogrinfo")
        .args(["-ro", "-al", "-so"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (layer, count) in [
        ("grids", 3),
        ("grid_history", 3),
        ("buildings", 5),
        ("addresses", 1),
        ("town", 1),
        ("villages", 0),
        ("units", 0),
        ("visits", 0),
    ] {
        let block = text
            .split("Layer name: ")
            .find(|b| b.starts_with(&format!("{layer}\n")))
            .unwrap_or_else(|| panic!("layer {layer} missing:\n{text}"));
        assert!(
            block.contains(&format!("Feature Count: {count}\n")),
            "{layer}: {block}"
        );
    }
    // Geometries and Chinese attributes read back through GDAL.
    let out = std::process::Command::new("ogrinfo")
        .args(["-ro", "-q"])
        .arg(&path)
        .args(["grids", "-where", "code = 'G1'"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("第1网格") && text.contains("MULTIPOLYGON (((121.01 31"),
        "{text}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("ERROR"), "{err}");
}
