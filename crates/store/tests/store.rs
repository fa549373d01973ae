//! What only the GeoPackage store has: the file is a GeoPackage with R-tree spatial indexes
//! (kept by triggers and by bulk loads), it reopens, and older files gain the newer tables.
//! The behaviour every store has (round trips, grid history and optimistic concurrency,
//! all-or-nothing imports, idempotent upserts) is `gridmap_store::conformance`, run on the
//! GeoPackage store by tests/conformance.rs.

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

use geo::{MultiPolygon, Point, polygon};
use gridmap_core::model::{Building, Footprint, Visit, VisitOutcome};
use gridmap_store::conformance::{grid, who};
use gridmap_store::{GpkgStore, Mode, Store};

/// A visit by worker `w` at (`x`, `y`).
fn visit(id: &str, x: f64, y: f64) -> Visit {
    Visit {
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
    }
}

fn project() -> (tempfile::TempDir, GpkgStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = GpkgStore::create(&dir.path().join("p.gpkg"), "310101001", "演示镇").unwrap();
    (dir, store)
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
fn basemap_rows_are_indexed_and_kept_when_reopened() {
    use geo::{Geometry, LineString};
    use gridmap_core::model::{BasemapFeature, BasemapLayer};
    let (dir, mut s) = project();
    let road = |x: f64| BasemapFeature {
        layer: BasemapLayer::Roads,
        kind: Some("major_road".into()),
        detail: None,
        name: None,
        geometry: Geometry::LineString(LineString::from(vec![(x, 31.0), (x + 0.01, 31.01)])),
    };
    s.import_basemap(
        BasemapLayer::Roads,
        &[road(121.4), road(121.5)],
        Mode::Append,
    )
    .unwrap();
    s.import_basemap(BasemapLayer::Roads, &[road(121.6)], Mode::Replace)
        .unwrap();
    s.import_basemap(BasemapLayer::Roads, &[road(121.7)], Mode::Append)
        .unwrap();
    // The spatial index holds every row, and only those.
    let indexed: i64 = s
        .connection()
        .query_row("SELECT count(*) FROM rtree_basemap_geom", [], |r| r.get(0))
        .unwrap();
    assert_eq!(indexed, 2);
    drop(s);
    // Reopened, it is all still there.
    let s = GpkgStore::open(&dir.path().join("p.gpkg")).unwrap();
    assert_eq!(s.basemap().unwrap(), [road(121.6), road(121.7)]);
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

/// `[min_x, max_x, min_y, max_y]` recorded in `gpkg_contents` for `table`.
fn recorded_extent(s: &GpkgStore, table: &str) -> [f64; 4] {
    s.connection()
        .query_row(
            "SELECT min_x, max_x, min_y, max_y FROM gpkg_contents WHERE table_name = ?1",
            [table],
            |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?]),
        )
        .unwrap()
}

/// The extent recorded in `gpkg_contents` (what QGIS and GDAL zoom to) holds every row: grown
/// by appends without rescanning the table, recomputed after a replace.
#[test]
fn recorded_extent_follows_appends_and_replaces() {
    let (_dir, mut s) = project();
    let extent = |s: &GpkgStore| recorded_extent(s, "visits");
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
    assert!(
        e[0] <= 121.1 && e[1] >= 121.1 && e[2] <= 31.1 && e[3] >= 31.1,
        "{e:?}"
    );
    assert!(
        e.iter()
            .zip([121.1, 121.1, 31.1, 31.1])
            .all(|(a, b)| (a - b).abs() < 1e-4),
        "{e:?}"
    );
}

/// A grid saved or restored widens the grids' recorded extent as far as it reaches, without
/// rescanning the table; one moved inwards leaves it wider, which GeoPackage allows.
#[test]
fn recorded_extent_of_grids_holds_every_saved_grid() {
    let (_dir, mut s) = project();
    let extent = |s: &GpkgStore| recorded_extent(s, "grids");
    let holds = |e: [f64; 4], x0: f64, x1: f64| e[0] <= x0 && e[1] >= x1;
    s.import_grids(
        &[grid("G1", 121.0), grid("G2", 121.02)],
        Mode::Append,
        &who(),
    )
    .unwrap();
    let first = extent(&s);
    assert!(holds(first, 121.0, 121.03), "{first:?}");
    // G2 moves east: the extent follows it.
    let v = s.save_grid(&grid("G2", 121.5), Some(1), &who()).unwrap();
    let moved = extent(&s);
    assert!(holds(moved, 121.0, 121.51), "{moved:?}");
    // Back again: the extent stays as wide (a superset is still true).
    s.save_grid(&grid("G2", 121.02), Some(v), &who()).unwrap();
    assert_eq!(extent(&s), moved);
    // A version far west, then an import that recomputes the extent without it: restoring
    // that version widens the extent again.
    s.save_grid(&grid("G1", 120.0), Some(1), &who()).unwrap();
    s.import_grids(&[grid("G1", 121.0)], Mode::Upsert, &who())
        .unwrap();
    assert!(extent(&s)[0] > 120.5, "{:?}", extent(&s));
    s.restore_grid("G1", 2, &who()).unwrap();
    let restored = extent(&s);
    assert!(holds(restored, 120.0, 121.03), "{restored:?}");
}

/// With the commits' own checkpoints off, a `Checkpointer` on another connection copies the
/// log into the file, and what was committed reads back after the store is reopened.
#[test]
fn a_checkpointer_copies_the_log_that_commits_leave() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.gpkg");
    let mut s = GpkgStore::create(&path, "T", "Town").unwrap();
    assert_eq!(s.path().as_deref(), Some(path.as_path()));
    s.set_auto_checkpoint(false).unwrap();
    let visits: Vec<Visit> = (0..2000)
        .map(|i| visit(&format!("v{i}"), 121.0 + f64::from(i) * 1e-5, 31.0))
        .collect();
    for chunk in visits.chunks(100) {
        s.import_visits(chunk, Mode::Append).unwrap();
    }
    let checkpointer = gridmap_store::Checkpointer::open(&path).unwrap();
    let (log, copied) = checkpointer.run().unwrap();
    assert!(log > 0, "the commits left their pages in the log");
    assert_eq!(
        copied, log,
        "a passive checkpoint with no reader copies it all"
    );
    drop(checkpointer);
    drop(s);
    let s = GpkgStore::open(&path).unwrap();
    assert_eq!(s.count("visits").unwrap(), 2000);
}
