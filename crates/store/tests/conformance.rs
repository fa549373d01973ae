//! The store conformance suite (`gridmap_store::conformance`) on the GeoPackage store: each
//! test gets a new project file in its own temporary directory.

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

use gridmap_store::GpkgStore;
use gridmap_store::conformance::TOWN_NAME;

fn fresh(_test: &str) -> Option<(tempfile::TempDir, GpkgStore)> {
    let dir = tempfile::tempdir().unwrap();
    let store = GpkgStore::create(&dir.path().join("p.gpkg"), "310101001", TOWN_NAME).unwrap();
    Some((dir, store))
}

gridmap_store::store_conformance_tests!(fresh);
