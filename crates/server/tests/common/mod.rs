//! The demo project and users, shared by the server's test files.

#![allow(dead_code, clippy::unwrap_used)] // each test file uses a part; helpers fail loudly

use std::path::{Path, PathBuf};

use gridmap_core::model::BasemapLayer;
use gridmap_server::auth::hash_password;
use gridmap_store::{Change, GpkgStore, Mode, Store, User};

/// A file of the demo dataset.
pub fn demo(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/demo")
        .join(name)
}

/// A project at `path` holding the demo town: boundary, villages, grids, buildings, addresses,
/// and the basemap (OSM roads and water). No visits: the goldens count on none.
pub fn demo_store(path: &Path) -> GpkgStore {
    let mut s = GpkgStore::create(path, "310101001", "演示镇").unwrap();
    let fields = gridmap_io::Fields::default();
    s.set_town_boundary(&gridmap_io::read_boundary(&demo("town.geojson")).unwrap())
        .unwrap();
    let grids = gridmap_io::read_grids(&demo("grids.geojson"), &fields)
        .unwrap()
        .grids;
    let change = Change {
        who: "t".into(),
        why: "t".into(),
    };
    s.import_grids(&grids, Mode::Append, &change).unwrap();
    s.import_buildings(
        &gridmap_io::read_buildings(&demo("buildings.geojson"), &fields).unwrap(),
        Mode::Append,
    )
    .unwrap();
    s.import_addresses(
        &gridmap_io::read_addresses(&demo("addresses.geojson"), &fields).unwrap(),
        Mode::Append,
    )
    .unwrap();
    let villages: Vec<gridmap_core::Village> =
        gridmap_io::read_grids(&demo("villages.geojson"), &fields)
            .unwrap()
            .grids
            .into_iter()
            .map(|g| gridmap_core::Village {
                code: g.code,
                name: g.name.unwrap_or_default(),
                town: None,
                boundary: Some(g.geometry),
            })
            .collect();
    s.import_villages(&villages, Mode::Append).unwrap();
    for (layer, file) in [
        (BasemapLayer::Roads, "raw/roads.geojson"),
        (BasemapLayer::Water, "raw/water.geojson"),
    ] {
        let features = gridmap_io::read_basemap(&demo(file), layer, &fields).unwrap();
        s.import_basemap(layer, &features, Mode::Append).unwrap();
    }
    s
}

/// Adds a user whose password is `secret-pass`.
pub fn add_user(s: &mut GpkgStore, name: &str, role: &str, scope: &str) {
    s.put_user(&User {
        username: name.into(),
        role: role.into(),
        scope: scope.into(),
        password_hash: hash_password("secret-pass").unwrap(),
    })
    .unwrap();
}
