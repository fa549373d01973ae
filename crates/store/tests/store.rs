//! The GeoPackage store: layers round-trip, grid history and optimistic concurrency, imports
//! are all-or-nothing and upserts idempotent.

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

use geo::{MultiPolygon, Point, polygon};
use gridmap_core::model::{Address, Building, Footprint, Grid, Unit, Visit, VisitOutcome};
use gridmap_store::{Change, GpkgStore, Mode, Store, StoreError};

fn square(x0: f64, w: f64) -> MultiPolygon {
    MultiPolygon(vec![polygon![
        (x: x0, y: 31.0), (x: x0 + w, y: 31.0), (x: x0 + w, y: 31.0 + w), (x: x0, y: 31.0 + w)]])
}

fn grid(code: &str, x0: f64) -> Grid {
    Grid {
        code: code.into(),
        name: Some(format!("{code} 网格")),
        village: Some("V1".into()),
        geometry: square(x0, 0.01),
    }
}

fn who() -> Change {
    Change {
        who: "网格长 王".into(),
        why: "initial import".into(),
    }
}

fn project() -> (tempfile::TempDir, GpkgStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = GpkgStore::create(&dir.path().join("p.gpkg"), "310101001", "演示镇").unwrap();
    (dir, store)
}

#[test]
fn layers_round_trip_with_chinese_text() {
    let (_dir, mut s) = project();
    assert_eq!(s.town().unwrap().name, "演示镇");
    let buildings = vec![
        Building {
            id: "b1".into(),
            footprint: Footprint::Area(square(121.0, 0.001)),
            households: 12,
            floors: Some(6),
            kind: Some("住宅".into()),
        },
        Building {
            id: "b2".into(),
            footprint: Footprint::Point(Point::new(121.5, 31.2)),
            households: 0,
            floors: None,
            kind: None,
        },
    ];
    assert_eq!(
        s.import_buildings(&buildings, Mode::Append)
            .unwrap()
            .inserted,
        2
    );
    assert_eq!(s.buildings().unwrap(), buildings);
    let addresses = vec![Address {
        id: "a1".into(),
        point: Point::new(121.0005, 31.0005),
        text: Some("中山东一路12号".into()),
        declared_grid: Some("G1".into()),
        declared_building: Some("b1".into()),
    }];
    s.import_addresses(&addresses, Mode::Append).unwrap();
    assert_eq!(s.addresses().unwrap(), addresses);
    let units = vec![Unit {
        id: "u1".into(),
        name: "外滩银行".into(),
        category: Some("bank".into()),
        address: None,
        contact: None,
        point: Point::new(121.49, 31.24),
    }];
    s.import_units(&units, Mode::Append).unwrap();
    assert_eq!(s.units().unwrap(), units);
    let visits = vec![Visit {
        id: "v1".into(),
        building: Some("b1".into()),
        house: None,
        worker: "w1".into(),
        time: "2026-11-21T10:00:00+08:00".into(),
        outcome: VisitOutcome::NobodyHome,
        point: Some(Point::new(121.0, 31.0)),
        note: Some("敲不开门".into()),
        flagged: true,
        knows_worker: Some(true),
        satisfaction: Some(4),
    }];
    s.import_visits(&visits, Mode::Append).unwrap();
    assert_eq!(s.visits().unwrap(), visits);
    s.set_town_boundary(&square(120.9, 1.0)).unwrap();
    assert_eq!(s.town().unwrap().boundary, Some(square(120.9, 1.0)));
}

#[test]
fn upsert_twice_changes_nothing_the_second_time() {
    let (_dir, mut s) = project();
    let b: Vec<Building> = (0..50)
        .map(|i| Building {
            id: format!("b{i}"),
            footprint: Footprint::Area(square(121.0 + i as f64 * 0.01, 0.001)),
            households: i,
            floors: None,
            kind: None,
        })
        .collect();
    let first = s.import_buildings(&b, Mode::Upsert).unwrap();
    assert_eq!((first.inserted, first.updated, first.unchanged), (50, 0, 0));
    let second = s.import_buildings(&b, Mode::Upsert).unwrap();
    assert_eq!(
        (second.inserted, second.updated, second.unchanged),
        (0, 0, 50)
    );
    let mut changed = b.clone();
    changed[3].households = 99;
    let third = s.import_buildings(&changed, Mode::Upsert).unwrap();
    assert_eq!((third.inserted, third.updated, third.unchanged), (0, 1, 49));
    let grids = vec![grid("G1", 121.0), grid("G2", 121.01)];
    assert_eq!(
        s.import_grids(&grids, Mode::Upsert, &who())
            .unwrap()
            .inserted,
        2
    );
    assert_eq!(
        s.import_grids(&grids, Mode::Upsert, &who())
            .unwrap()
            .unchanged,
        2
    );
    assert_eq!(
        s.grid_history("G1").unwrap().len(),
        1,
        "no history for an unchanged grid"
    );
}

#[test]
fn append_of_an_existing_id_rolls_the_whole_import_back() {
    let (_dir, mut s) = project();
    let one = Building {
        id: "b1".into(),
        footprint: Footprint::Point(Point::new(121.0, 31.0)),
        households: 1,
        floors: None,
        kind: None,
    };
    s.import_buildings(std::slice::from_ref(&one), Mode::Append)
        .unwrap();
    let batch = vec![
        Building {
            id: "b0".into(),
            ..one.clone()
        },
        one.clone(),
    ];
    let err = s.import_buildings(&batch, Mode::Append).unwrap_err();
    assert!(err.to_string().contains("id b1 already exists"), "{err}");
    assert_eq!(
        s.count("buildings").unwrap(),
        1,
        "b0 was rolled back with the rest"
    );
    let dup = vec![
        Building {
            id: "b9".into(),
            ..one.clone()
        },
        Building {
            id: "b9".into(),
            ..one
        },
    ];
    assert!(
        s.import_buildings(&dup, Mode::Replace)
            .unwrap_err()
            .to_string()
            .contains("appears twice")
    );
    assert_eq!(
        s.count("buildings").unwrap(),
        1,
        "replace did not delete anything either"
    );
}

#[test]
fn grid_history_keeps_every_version_and_restores() {
    let (_dir, mut s) = project();
    let g1 = grid("G1", 121.0);
    assert_eq!(s.save_grid(&g1, None, &who()).unwrap(), 1);
    let moved = Grid {
        geometry: square(121.0, 0.02),
        ..g1.clone()
    };
    let edit = Change {
        who: "网格长 李".into(),
        why: "follow the new road".into(),
    };
    assert_eq!(s.save_grid(&moved, Some(1), &edit).unwrap(), 2);
    // A stale version is refused and changes nothing.
    let err = s.save_grid(&g1, Some(1), &edit).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::VersionConflict {
                expected: 1,
                actual: 2,
                ..
            }
        ),
        "{err}"
    );
    let h = s.grid_history("G1").unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(
        (h[0].action.as_str(), h[1].action.as_str()),
        ("created", "updated")
    );
    assert_eq!(h[1].who, "网格长 李");
    assert_eq!(h[1].why, "follow the new road");
    assert_eq!(h[1].previous, Some(g1.geometry.clone()));
    assert_eq!(h[1].geometry, Some(moved.geometry.clone()));
    assert_eq!(s.restore_grid("G1", 1, &edit).unwrap(), 3);
    assert_eq!(s.grid("G1").unwrap().unwrap().grid.geometry, g1.geometry);
    s.delete_grid("G1", Some(3), &edit).unwrap();
    assert!(s.grid("G1").unwrap().is_none());
    assert_eq!(
        s.grid_history("G1").unwrap().last().unwrap().action,
        "deleted"
    );
    assert_eq!(
        s.restore_grid("G1", 2, &edit).unwrap(),
        5,
        "a deleted grid comes back"
    );
    assert!(matches!(
        s.restore_grid("G1", 9, &edit),
        Err(StoreError::NoSuchVersion { .. })
    ));
}

#[test]
fn replace_deletes_grids_not_in_the_input_with_history() {
    let (_dir, mut s) = project();
    s.import_grids(
        &[grid("G1", 121.0), grid("G2", 121.01)],
        Mode::Append,
        &who(),
    )
    .unwrap();
    let c = s
        .import_grids(&[grid("G2", 121.01)], Mode::Replace, &who())
        .unwrap();
    assert_eq!((c.deleted, c.unchanged), (1, 1));
    assert_eq!(s.count("grids").unwrap(), 1);
    assert_eq!(
        s.grid_history("G1").unwrap().last().unwrap().action,
        "deleted"
    );
}

#[test]
fn the_file_is_a_geopackage_with_spatial_indexes() {
    let (dir, mut s) = project();
    s.import_grids(&[grid("G1", 121.0)], Mode::Append, &who())
        .unwrap();
    let c = s.connection();
    let app: i64 = c
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    assert_eq!(app, 0x4750_4B47);
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    // R-tree boxes are single precision, rounded outwards.
    let n: i64 = c.query_row("SELECT count(*) FROM rtree_grids_geom WHERE minx >= 120.9999 AND maxx <= 121.0101 AND minx < 121.0001", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 1);
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    drop(s);
    assert!(GpkgStore::open(&dir.path().join("p.gpkg")).is_ok());
    assert!(
        GpkgStore::open(&dir.path().join("missing.gpkg"))
            .unwrap_err()
            .to_string()
            .contains("gridmap init")
    );
    assert!(
        GpkgStore::create(&dir.path().join("p.gpkg"), "x", "y").is_err(),
        "never overwrites"
    );
}

#[test]
fn a_bulk_import_builds_a_correct_spatial_index() {
    let (_dir, mut s) = project();
    let b: Vec<Building> = (0..25_000)
        .map(|i| {
            let x = 121.0 + (i % 250) as f64 * 1e-3;
            let y = 31.0 + (i / 250) as f64 * 1e-3;
            Building { id: format!("b{i}"), footprint: Footprint::Area(MultiPolygon(vec![polygon![(x: x, y: y), (x: x + 3e-4, y: y), (x: x + 3e-4, y: y + 2e-4), (x: x, y: y + 2e-4)]])), households: 1, floors: None, kind: None }
        })
        .collect();
    s.import_buildings(&b[..1000], Mode::Append).unwrap(); // row by row, through the triggers
    s.import_buildings(&b[1000..], Mode::Append).unwrap(); // bulk: packs old and new boxes
    let c = s.connection();
    let check: String = c
        .query_row("SELECT rtreecheck('rtree_buildings_geom')", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(check, "ok");
    let n: i64 = c
        .query_row("SELECT count(*) FROM rtree_buildings_geom", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, 25_000);
    // A window query through the index finds exactly the buildings a scan finds.
    let hits: i64 = c
        .query_row(
            "SELECT count(*) FROM buildings b JOIN rtree_buildings_geom r ON r.id = b.fid
             WHERE r.maxx >= 121.1005 AND r.minx <= 121.1205 AND r.maxy >= 31.0305 AND r.miny <= 31.0505",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(hits, 20 * 20);
    // And the triggers are back: a later single insert is indexed.
    s.import_buildings(
        &[Building {
            id: "late".into(),
            footprint: Footprint::Point(Point::new(122.0, 32.0)),
            households: 0,
            floors: None,
            kind: None,
        }],
        Mode::Append,
    )
    .unwrap();
    let n: i64 = s
        .connection()
        .query_row(
            "SELECT count(*) FROM rtree_buildings_geom WHERE minx > 121.9",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn basemap_layers_round_trip_and_replace_only_their_own_rows() {
    use geo::{Geometry, LineString};
    use gridmap_core::model::{BasemapFeature, BasemapLayer};
    let (dir, mut s) = project();
    let road = |name: &str, x: f64| BasemapFeature {
        layer: BasemapLayer::Roads,
        kind: Some("major_road".into()),
        detail: Some("primary".into()),
        name: Some(name.into()),
        geometry: Geometry::LineString(LineString::from(vec![(x, 31.0), (x + 0.01, 31.01)])),
    };
    let roads = vec![road("中山东一路", 121.49), road("延安东路", 121.48)];
    let water = vec![BasemapFeature {
        layer: BasemapLayer::Water,
        kind: Some("water".into()),
        detail: None,
        name: Some("黄浦江".into()),
        geometry: Geometry::MultiPolygon(square(121.5, 0.01)),
    }];
    assert_eq!(
        s.import_basemap(BasemapLayer::Roads, &roads, Mode::Append)
            .unwrap()
            .inserted,
        2
    );
    s.import_basemap(BasemapLayer::Water, &water, Mode::Append)
        .unwrap();
    assert_eq!(s.count("basemap").unwrap(), 3);
    let stored = s.basemap().unwrap();
    assert_eq!(stored[..2], roads[..]);
    assert_eq!(stored[2], water[0]);
    // Replace swaps the roads and leaves the water alone; append adds.
    let counts = s
        .import_basemap(BasemapLayer::Roads, &roads[..1], Mode::Replace)
        .unwrap();
    assert_eq!((counts.deleted, counts.inserted), (2, 1));
    s.import_basemap(BasemapLayer::Roads, &roads[1..], Mode::Append)
        .unwrap();
    let stored = s.basemap().unwrap();
    assert_eq!(
        stored,
        vec![water[0].clone(), roads[0].clone(), roads[1].clone()]
    );
    // The spatial index holds every row.
    let indexed: i64 = s
        .connection()
        .query_row("SELECT count(*) FROM rtree_basemap_geom", [], |r| r.get(0))
        .unwrap();
    assert_eq!(indexed, 3);
    // Upsert has nothing to match on; a feature of the other layer is refused.
    assert!(
        s.import_basemap(BasemapLayer::Roads, &roads, Mode::Upsert)
            .is_err()
    );
    let err = s
        .import_basemap(BasemapLayer::Roads, &water, Mode::Append)
        .unwrap_err();
    assert!(
        err.to_string().contains("feature 0 belongs to layer water"),
        "{err}"
    );
    drop(s);
    // Reopened, it is all still there.
    let s = GpkgStore::open(&dir.path().join("p.gpkg")).unwrap();
    assert_eq!(s.basemap().unwrap().len(), 3);
}

#[test]
fn a_project_made_before_the_basemap_opens_and_gets_the_table() {
    let (dir, s) = project();
    let path = dir.path().join("p.gpkg");
    s.connection()
        .execute_batch(
            "DROP TABLE basemap; DROP TABLE rtree_basemap_geom;
             DELETE FROM gpkg_geometry_columns WHERE table_name = 'basemap';
             DELETE FROM gpkg_extensions WHERE table_name = 'basemap';
             DELETE FROM gpkg_contents WHERE table_name = 'basemap';",
        )
        .unwrap();
    drop(s);
    let s = GpkgStore::open(&path).unwrap();
    assert_eq!(s.count("basemap").unwrap(), 0);
    assert!(s.basemap().unwrap().is_empty());
    let registered: i64 = s
        .connection()
        .query_row(
            "SELECT count(*) FROM gpkg_geometry_columns WHERE table_name = 'basemap'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(registered, 1);
}

/// The extent recorded in `gpkg_contents` (what QGIS and GDAL zoom to) holds every row: grown
/// by appends without rescanning the table, recomputed after a replace.
#[test]
fn recorded_extent_follows_appends_and_replaces() {
    let (_dir, mut s) = project();
    let visit = |id: &str, x: f64, y: f64| Visit {
        id: id.into(),
        building: None,
        house: None,
        worker: "w".into(),
        time: "2026-11-21T10:00:00+08:00".into(),
        outcome: VisitOutcome::Visited,
        point: Some(Point::new(x, y)),
        note: None,
        flagged: false,
        knows_worker: None,
        satisfaction: None,
    };
    let extent = |s: &GpkgStore| -> [f64; 4] {
        s.connection()
            .query_row(
                "SELECT min_x, max_x, min_y, max_y FROM gpkg_contents WHERE table_name = 'visits'",
                [],
                |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?]),
            )
            .unwrap()
    };
    s.import_visits(&[visit("a", 121.0, 31.0)], Mode::Append)
        .unwrap();
    assert_eq!(extent(&s), [121.0, 121.0, 31.0, 31.0]);
    s.import_visits(
        &[visit("b", 121.5, 30.5), visit("c", 120.5, 31.2)],
        Mode::Append,
    )
    .unwrap();
    assert_eq!(extent(&s), [120.5, 121.5, 30.5, 31.2]);
    let mut none = visit("d", 0.0, 0.0);
    none.point = None;
    s.import_visits(&[none], Mode::Append).unwrap();
    assert_eq!(extent(&s), [120.5, 121.5, 30.5, 31.2]);
    s.import_visits(&[visit("e", 121.1, 31.1)], Mode::Replace)
        .unwrap();
    // Recomputed from the R-tree, whose 32-bit boxes are rounded outwards.
    let e = extent(&s);
    assert!(e[0] <= 121.1 && e[1] >= 121.1 && e[2] <= 31.1 && e[3] >= 31.1, "{e:?}");
    assert!(e.iter().zip([121.1, 121.1, 31.1, 31.1]).all(|(a, b)| (a - b).abs() < 1e-4), "{e:?}");
}
