//! The behaviour every [`Store`] implementation must have, as a test suite that each backend
//! runs on itself (cargo feature `conformance`).
//!
//! Each function takes a fresh, empty store of a town named [`TOWN_NAME`] (any code) and
//! panics, as a test does, where the store behaves otherwise. [`store_conformance_tests!`](crate::store_conformance_tests)
//! turns the whole suite into `#[test]` functions for one backend:
//!
//! ```ignore
//! gridmap_store::store_conformance_tests!(fresh);
//! // fn fresh(test: &str) -> Option<(Guard, impl Store)>: a new store for the test named
//! // `test` (None: skip it), and whatever must live as long as the store (a temporary
//! // directory, a clean-up of the database…).
//! ```
//!
//! The GeoPackage store runs it in `crates/store/tests/conformance.rs`, the PostgreSQL store in
//! `crates/pgstore/tests/conformance.rs`. A behaviour that only one backend has (the
//! GeoPackage's R-tree tables, PostgreSQL's schema migrations) is tested by that backend alone.

#![allow(clippy::unwrap_used)] // a test suite: a failure panics, as tests do

use geo::{Geometry, LineString, MultiLineString, MultiPolygon, Point, Polygon, polygon};
use gridmap_core::model::{
    Address, BasemapFeature, BasemapLayer, Building, Footprint, Grid, Unit, Village, Visit,
    VisitOutcome,
};

use crate::{Change, ImportCounts, LAYERS, Mode, Store, StoreError};

/// The name of the town every store given to the suite is created with.
pub const TOWN_NAME: &str = "演示镇";

/// Every test of the suite, by name (the name of its function in this module).
pub const TESTS: [&str; 16] = [
    "town_and_boundary",
    "layers_round_trip_with_chinese_text",
    "geometries_round_trip_exactly",
    "villages_import_in_each_mode",
    "buildings_import_in_each_mode",
    "addresses_units_and_visits_import_in_each_mode",
    "append_of_an_existing_id_rolls_the_whole_import_back",
    "duplicate_ids_in_the_input_write_nothing",
    "grid_versions_conflicts_and_identical_saves",
    "grid_history_keeps_every_version_and_restores",
    "delete_grid_checks_existence_and_version",
    "replace_grids_is_all_or_nothing",
    "import_grids_in_each_mode",
    "basemap_layers_round_trip_and_replace_only_their_own_rows",
    "count_of_every_layer",
    "history_records_who_why_and_when",
];

/// Generates one `#[test]` per function of [`crate::conformance`], each calling
/// `$fresh(test_name)` for its store: `Some((guard, store))`, or `None` to skip the test (the
/// guard is dropped after the test, the store first).
#[macro_export]
macro_rules! store_conformance_tests {
    ($fresh:expr) => {
        $crate::store_conformance_tests!(@tests $fresh;
            town_and_boundary,
            layers_round_trip_with_chinese_text,
            geometries_round_trip_exactly,
            villages_import_in_each_mode,
            buildings_import_in_each_mode,
            addresses_units_and_visits_import_in_each_mode,
            append_of_an_existing_id_rolls_the_whole_import_back,
            duplicate_ids_in_the_input_write_nothing,
            grid_versions_conflicts_and_identical_saves,
            grid_history_keeps_every_version_and_restores,
            delete_grid_checks_existence_and_version,
            replace_grids_is_all_or_nothing,
            import_grids_in_each_mode,
            basemap_layers_round_trip_and_replace_only_their_own_rows,
            count_of_every_layer,
            history_records_who_why_and_when,
        );
    };
    (@tests $fresh:expr; $($name:ident,)*) => {
        $(
            #[test]
            fn $name() {
                let Some((_guard, mut store)) = ($fresh)(stringify!($name)) else {
                    return;
                };
                $crate::conformance::$name(&mut store);
            }
        )*
    };
}

/// A square of side `w` degrees from (`x0`, 31°N): the grids and footprints of the suite.
pub fn square(x0: f64, w: f64) -> MultiPolygon {
    MultiPolygon(vec![polygon![
        (x: x0, y: 31.0), (x: x0 + w, y: 31.0), (x: x0 + w, y: 31.0 + w), (x: x0, y: 31.0 + w)]])
}

/// Grid `code` of village `V1`, a 0.01° square from `x0`.
pub fn grid(code: &str, x0: f64) -> Grid {
    Grid {
        code: code.into(),
        name: Some(format!("{code} 网格")),
        village: Some("V1".into()),
        geometry: square(x0, 0.01),
    }
}

/// The change the suite's writes record.
pub fn who() -> Change {
    Change {
        who: "网格长 王".into(),
        why: "initial import".into(),
    }
}

fn building(id: &str, x: f64, households: u32) -> Building {
    Building {
        id: id.into(),
        footprint: Footprint::Area(square(x, 0.001)),
        households,
        floors: None,
        kind: None,
    }
}

fn counts(c: ImportCounts) -> (usize, usize, usize, usize) {
    (c.inserted, c.updated, c.unchanged, c.deleted)
}

/// A polygon with two holes whose coordinates are not round in binary, and a second part.
fn holey() -> MultiPolygon {
    let outer = LineString::from(vec![
        (121.1, 31.1),
        (121.2, 31.1),
        (121.2, 31.2),
        (121.1, 31.2),
        (121.1, 31.1),
    ]);
    let hole = |x: f64, y: f64| {
        LineString::from(vec![
            (x, y),
            (x, y + 0.01),
            (x + 0.013_333_333_333_333, y + 0.01),
            (x + 0.013_333_333_333_333, y),
            (x, y),
        ])
    };
    MultiPolygon(vec![
        Polygon::new(
            outer,
            vec![hole(121.12, 31.12), hole(121.15 + 1e-12, 31.15)],
        ),
        polygon![(x: 121.3, y: 31.3), (x: 121.31, y: 31.3), (x: 121.305, y: 31.31)],
    ])
}

/// The town row exists from creation, with [`TOWN_NAME`] and no boundary; the boundary is set,
/// replaced, and read back equal.
pub fn town_and_boundary(s: &mut dyn Store) {
    let t = s.town().unwrap();
    assert_eq!(t.name, TOWN_NAME);
    assert!(!t.code.is_empty());
    assert_eq!(t.boundary, None);
    s.set_town_boundary(&square(120.9, 1.0)).unwrap();
    assert_eq!(s.town().unwrap().boundary, Some(square(120.9, 1.0)));
    s.set_town_boundary(&holey()).unwrap();
    let again = s.town().unwrap();
    assert_eq!(again.boundary, Some(holey()));
    assert_eq!((again.code, again.name), (t.code, t.name));
    assert_eq!(s.count("town").unwrap(), 1);
}

/// Every layer round-trips with Chinese text, empty options and each footprint kind.
pub fn layers_round_trip_with_chinese_text(s: &mut dyn Store) {
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
    let addresses = vec![
        Address {
            id: "a1".into(),
            point: Point::new(121.0005, 31.0005),
            text: Some("中山东一路12号".into()),
            declared_grid: Some("G1".into()),
            declared_building: Some("b1".into()),
        },
        Address {
            id: "a2".into(),
            point: Point::new(121.0006, 31.0006),
            text: None,
            declared_grid: None,
            declared_building: None,
        },
    ];
    s.import_addresses(&addresses, Mode::Append).unwrap();
    assert_eq!(s.addresses().unwrap(), addresses);
    let units = vec![Unit {
        id: "u1".into(),
        name: "外滩银行".into(),
        category: Some("bank".into()),
        address: None,
        contact: Some("021-12345678".into()),
        point: Point::new(121.49, 31.24),
    }];
    s.import_units(&units, Mode::Append).unwrap();
    assert_eq!(s.units().unwrap(), units);
    let visits = vec![
        Visit {
            id: "v1".into(),
            building: Some("b1".into()),
            house: Some("101".into()),
            worker: "w1".into(),
            time: "2026-11-21T10:00:00+08:00".into(),
            outcome: VisitOutcome::NobodyHome,
            point: Some(Point::new(121.0, 31.0)),
            note: Some("敲不开门".into()),
            flagged: true,
            knows_worker: Some(true),
            satisfaction: Some(4),
        },
        Visit {
            id: "v2".into(),
            building: None,
            house: None,
            worker: "w2".into(),
            time: "2026-11-22T09:30:00+08:00".into(),
            outcome: VisitOutcome::Visited,
            point: None,
            note: None,
            flagged: false,
            knows_worker: Some(false),
            satisfaction: None,
        },
    ];
    s.import_visits(&visits, Mode::Append).unwrap();
    assert_eq!(s.visits().unwrap(), visits);
    let villages = vec![
        Village {
            code: "V1".into(),
            name: "东村".into(),
            town: Some("310101001".into()),
            boundary: Some(square(121.0, 0.1)),
        },
        Village {
            code: "V2".into(),
            name: "西村".into(),
            town: None,
            boundary: None,
        },
    ];
    s.import_villages(&villages, Mode::Append).unwrap();
    assert_eq!(s.villages().unwrap(), villages);
}

/// Geometries come back equal to what went in, coordinate for coordinate: multipolygons with
/// holes, points and lines, as grids, buildings, village boundaries and basemap features.
pub fn geometries_round_trip_exactly(s: &mut dyn Store) {
    let g = Grid {
        code: "G1".into(),
        name: None,
        village: None,
        geometry: holey(),
    };
    s.save_grid(&g, None, &who()).unwrap();
    assert_eq!(s.grid("G1").unwrap().unwrap().grid, g);
    let odd = Point::new(121.123_456_789_012_34, 31.987_654_321_098_76);
    let b = vec![
        Building {
            footprint: Footprint::Area(holey()),
            ..building("hole", 0.0, 3)
        },
        Building {
            footprint: Footprint::Point(odd),
            ..building("pt", 0.0, 1)
        },
    ];
    s.import_buildings(&b, Mode::Append).unwrap();
    assert_eq!(s.buildings().unwrap(), b);
    s.import_villages(
        &[Village {
            code: "V1".into(),
            name: "村".into(),
            town: None,
            boundary: Some(holey()),
        }],
        Mode::Append,
    )
    .unwrap();
    assert_eq!(s.villages().unwrap()[0].boundary, Some(holey()));
    let line = LineString::from(vec![(121.0, 31.0), (121.000_000_1, 31.5), (121.7, 31.2)]);
    let features: Vec<BasemapFeature> = [
        Geometry::LineString(line.clone()),
        Geometry::MultiLineString(MultiLineString(vec![
            line.clone(),
            LineString::from(vec![(122.0, 30.0), (122.1, 30.1)]),
        ])),
        Geometry::Polygon(holey().0[0].clone()),
        Geometry::MultiPolygon(holey()),
    ]
    .into_iter()
    .map(|geometry| BasemapFeature {
        layer: BasemapLayer::Water,
        kind: None,
        detail: None,
        name: None,
        geometry,
    })
    .collect();
    s.import_basemap(BasemapLayer::Water, &features, Mode::Append)
        .unwrap();
    assert_eq!(s.basemap().unwrap(), features);
    let history = s.grid_history("G1").unwrap();
    assert_eq!(history[0].geometry, Some(holey()));
}

/// Villages (keyed by code) in append, upsert and replace, with their counts.
pub fn villages_import_in_each_mode(s: &mut dyn Store) {
    let v = |code: &str, name: &str| Village {
        code: code.into(),
        name: name.into(),
        town: None,
        boundary: Some(square(121.0, 0.05)),
    };
    let c = s
        .import_villages(&[v("V1", "东村"), v("V2", "西村")], Mode::Append)
        .unwrap();
    assert_eq!(counts(c), (2, 0, 0, 0));
    let err = s
        .import_villages(&[v("V3", "南村"), v("V1", "东村")], Mode::Append)
        .unwrap_err();
    assert!(err.to_string().contains("id V1 already exists"), "{err}");
    assert_eq!(s.count("villages").unwrap(), 2);
    let c = s
        .import_villages(
            &[v("V1", "东村"), v("V2", "西村社区"), v("V3", "南村")],
            Mode::Upsert,
        )
        .unwrap();
    assert_eq!(counts(c), (1, 1, 1, 0));
    assert_eq!(s.villages().unwrap()[1].name, "西村社区");
    let c = s
        .import_villages(&[v("V3", "南村"), v("V4", "北村")], Mode::Replace)
        .unwrap();
    assert_eq!(counts(c), (2, 0, 0, 3));
    let codes: Vec<String> = s.villages().unwrap().into_iter().map(|v| v.code).collect();
    assert_eq!(codes, ["V3", "V4"]);
}

/// Buildings in each mode: upsert twice changes nothing the second time, a changed record is
/// updated, replace removes what is not in the input, append adds.
pub fn buildings_import_in_each_mode(s: &mut dyn Store) {
    let b: Vec<Building> = (0..50)
        .map(|i| building(&format!("b{i}"), 121.0 + f64::from(i) * 0.01, i))
        .collect();
    let first = s.import_buildings(&b, Mode::Upsert).unwrap();
    assert_eq!(counts(first), (50, 0, 0, 0));
    let second = s.import_buildings(&b, Mode::Upsert).unwrap();
    assert_eq!(counts(second), (0, 0, 50, 0));
    let mut changed = b.clone();
    changed[3].households = 99;
    changed[4].footprint = Footprint::Point(Point::new(121.0, 31.0));
    changed[5].kind = Some("商铺".into());
    changed.push(building("new", 122.0, 1));
    let third = s.import_buildings(&changed, Mode::Upsert).unwrap();
    assert_eq!(counts(third), (1, 3, 47, 0));
    assert_eq!(s.buildings().unwrap(), changed, "updates keep their place");
    let fourth = s.import_buildings(&b[..10], Mode::Replace).unwrap();
    assert_eq!(counts(fourth), (10, 0, 0, 51));
    assert_eq!(s.buildings().unwrap(), b[..10]);
    let fifth = s.import_buildings(&b[10..12], Mode::Append).unwrap();
    assert_eq!(counts(fifth), (2, 0, 0, 0));
    assert_eq!(s.buildings().unwrap(), b[..12]);
    assert_eq!(s.count("buildings").unwrap(), 12);
}

/// Addresses, units and visits in each mode, with their counts.
pub fn addresses_units_and_visits_import_in_each_mode(s: &mut dyn Store) {
    let a = |id: &str, text: &str| Address {
        id: id.into(),
        point: Point::new(121.0, 31.0),
        text: Some(text.into()),
        declared_grid: None,
        declared_building: None,
    };
    assert_eq!(
        counts(
            s.import_addresses(&[a("a1", "1号"), a("a2", "2号")], Mode::Append)
                .unwrap()
        ),
        (2, 0, 0, 0)
    );
    assert_eq!(
        counts(
            s.import_addresses(&[a("a1", "1号"), a("a2", "2号之一")], Mode::Upsert)
                .unwrap()
        ),
        (0, 1, 1, 0)
    );
    assert_eq!(
        counts(
            s.import_addresses(&[a("a3", "3号")], Mode::Replace)
                .unwrap()
        ),
        (1, 0, 0, 2)
    );
    assert_eq!(s.addresses().unwrap(), [a("a3", "3号")]);

    let u = |id: &str, name: &str| Unit {
        id: id.into(),
        name: name.into(),
        category: None,
        address: None,
        contact: None,
        point: Point::new(121.0, 31.0),
    };
    assert_eq!(
        counts(s.import_units(&[u("u1", "银行")], Mode::Append).unwrap()),
        (1, 0, 0, 0)
    );
    assert_eq!(
        counts(
            s.import_units(&[u("u1", "银行"), u("u2", "超市")], Mode::Upsert)
                .unwrap()
        ),
        (1, 0, 1, 0)
    );
    assert_eq!(
        counts(s.import_units(&[u("u2", "便利店")], Mode::Upsert).unwrap()),
        (0, 1, 0, 0)
    );
    assert_eq!(
        counts(s.import_units(&[], Mode::Replace).unwrap()),
        (0, 0, 0, 2)
    );
    assert!(s.units().unwrap().is_empty());

    let v = |id: &str, outcome: VisitOutcome| Visit {
        id: id.into(),
        building: Some("b1".into()),
        house: None,
        worker: "w1".into(),
        time: "2026-11-21T10:00:00+08:00".into(),
        outcome,
        point: None,
        note: None,
        flagged: false,
        knows_worker: None,
        satisfaction: None,
    };
    assert_eq!(
        counts(
            s.import_visits(&[v("v1", VisitOutcome::Visited)], Mode::Append)
                .unwrap()
        ),
        (1, 0, 0, 0)
    );
    let err = s
        .import_visits(&[v("v1", VisitOutcome::Visited)], Mode::Append)
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Import {
            layer: "visits",
            ..
        }
    ));
    assert!(err.to_string().contains("id v1 already exists"), "{err}");
    let flagged = Visit {
        flagged: true,
        satisfaction: Some(5),
        ..v("v1", VisitOutcome::Refused)
    };
    assert_eq!(
        counts(
            s.import_visits(
                &[flagged.clone(), v("v2", VisitOutcome::Demolished)],
                Mode::Upsert
            )
            .unwrap()
        ),
        (1, 1, 0, 0)
    );
    assert_eq!(
        s.visits().unwrap(),
        [flagged.clone(), v("v2", VisitOutcome::Demolished)]
    );
    assert_eq!(
        counts(
            s.import_visits(&[v("v3", VisitOutcome::NewlyFound)], Mode::Replace)
                .unwrap()
        ),
        (1, 0, 0, 2)
    );
    assert_eq!(s.count("visits").unwrap(), 1);
}

/// An append that meets an existing id writes nothing, not even the rows before it.
pub fn append_of_an_existing_id_rolls_the_whole_import_back(s: &mut dyn Store) {
    let one = Building {
        footprint: Footprint::Point(Point::new(121.0, 31.0)),
        ..building("b1", 0.0, 1)
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
    // Grids: the third of three exists; the first two are not written, nor their history.
    s.save_grid(&grid("G3", 121.02), None, &who()).unwrap();
    let err = s
        .import_grids(
            &[grid("G1", 121.0), grid("G2", 121.01), grid("G3", 121.02)],
            Mode::Append,
            &who(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("grid G3 already exists"), "{err}");
    assert_eq!(s.count("grids").unwrap(), 1);
    assert_eq!(s.count("grid_history").unwrap(), 1);
    assert!(s.grid_history("G1").unwrap().is_empty());
}

/// An id twice in one input is refused before anything is written, in every layer and mode:
/// replace does not even delete.
pub fn duplicate_ids_in_the_input_write_nothing(s: &mut dyn Store) {
    let one = building("b1", 121.0, 1);
    s.import_buildings(std::slice::from_ref(&one), Mode::Append)
        .unwrap();
    let dup = vec![building("b9", 121.0, 1), building("b9", 121.1, 2)];
    for mode in [Mode::Append, Mode::Replace, Mode::Upsert] {
        let err = s.import_buildings(&dup, mode).unwrap_err();
        assert!(err.to_string().contains("appears twice"), "{err}");
        assert_eq!(
            s.buildings().unwrap(),
            std::slice::from_ref(&one),
            "{mode:?}"
        );
    }
    let g = grid("G1", 121.0);
    s.save_grid(&g, None, &who()).unwrap();
    let err = s
        .import_grids(
            &[grid("G2", 121.0), grid("G2", 121.1)],
            Mode::Replace,
            &who(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("appears twice"), "{err}");
    assert_eq!(s.grids().unwrap().len(), 1);
    assert_eq!(s.count("grid_history").unwrap(), 1);
    let v = Village {
        code: "V1".into(),
        name: "东村".into(),
        town: None,
        boundary: None,
    };
    assert!(
        s.import_villages(&[v.clone(), v], Mode::Upsert)
            .unwrap_err()
            .to_string()
            .contains("appears twice")
    );
    assert_eq!(s.count("villages").unwrap(), 0);
}

/// Versions start at 1 and grow by one per change; a stale or invented expected version is a
/// conflict that writes nothing; saving an identical grid changes nothing.
pub fn grid_versions_conflicts_and_identical_saves(s: &mut dyn Store) {
    let g1 = grid("G1", 121.0);
    assert!(s.grid("G1").unwrap().is_none());
    assert!(matches!(
        s.save_grid(&g1, Some(1), &who()),
        Err(StoreError::VersionConflict {
            expected: 1,
            actual: 0,
            ..
        })
    ));
    assert_eq!(s.count("grids").unwrap(), 0);
    assert_eq!(s.save_grid(&g1, None, &who()).unwrap(), 1);
    let stored = s.grid("G1").unwrap().unwrap();
    assert_eq!((stored.grid, stored.version), (g1.clone(), 1));
    assert_eq!(s.save_grid(&g1, Some(1), &who()).unwrap(), 1, "identical");
    assert_eq!(s.save_grid(&g1, None, &who()).unwrap(), 1, "identical");
    assert_eq!(s.grid_history("G1").unwrap().len(), 1);
    let renamed = Grid {
        name: Some("新名".into()),
        ..g1.clone()
    };
    assert_eq!(s.save_grid(&renamed, Some(1), &who()).unwrap(), 2);
    let err = s.save_grid(&g1, Some(1), &who()).unwrap_err();
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
    assert_eq!(s.grid("G1").unwrap().unwrap().grid, renamed);
    let moved = Grid {
        village: Some("V2".into()),
        ..renamed.clone()
    };
    assert_eq!(s.save_grid(&moved, None, &who()).unwrap(), 3);
    let g2 = grid("G2", 121.01);
    assert_eq!(s.save_grid(&g2, Some(0), &who()).unwrap(), 1);
    let all = s.grids().unwrap();
    assert_eq!(
        all.iter()
            .map(|g| (g.grid.code.as_str(), g.version))
            .collect::<Vec<_>>(),
        [("G1", 3), ("G2", 1)]
    );
}

/// Every version is kept with its boundary before and after; an earlier version is restored
/// as a new one, a deleted grid too; a version that never was is refused.
pub fn grid_history_keeps_every_version_and_restores(s: &mut dyn Store) {
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
    let h = s.grid_history("G1").unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(
        (h[0].action.as_str(), h[1].action.as_str()),
        ("created", "updated")
    );
    assert_eq!((h[0].version, h[1].version), (1, 2));
    assert_eq!(h[0].previous, None);
    assert_eq!(h[0].geometry, Some(g1.geometry.clone()));
    assert_eq!(h[1].who, "网格长 李");
    assert_eq!(h[1].why, "follow the new road");
    assert_eq!(h[1].previous, Some(g1.geometry.clone()));
    assert_eq!(h[1].geometry, Some(moved.geometry.clone()));
    assert_eq!(h[1].name, g1.name);
    assert_eq!(h[1].village, g1.village);
    assert_eq!(s.restore_grid("G1", 1, &edit).unwrap(), 3);
    assert_eq!(s.grid("G1").unwrap().unwrap().grid.geometry, g1.geometry);
    let h = s.grid_history("G1").unwrap();
    assert_eq!(h[2].action, "restored");
    assert_eq!(h[2].why, "follow the new road (restores version 1)");
    s.delete_grid("G1", Some(3), &edit).unwrap();
    assert!(s.grid("G1").unwrap().is_none());
    let deleted = s.grid_history("G1").unwrap().pop().unwrap();
    assert_eq!((deleted.action.as_str(), deleted.version), ("deleted", 4));
    assert_eq!(deleted.geometry, None);
    assert_eq!(deleted.previous, Some(g1.geometry.clone()));
    assert_eq!(deleted.name, g1.name);
    assert!(
        matches!(
            s.restore_grid("G1", 4, &edit),
            Err(StoreError::NoSuchVersion { version: 4, .. })
        ),
        "the deleted version has no boundary to restore"
    );
    assert_eq!(
        s.restore_grid("G1", 2, &edit).unwrap(),
        5,
        "a deleted grid comes back"
    );
    assert_eq!(s.grid("G1").unwrap().unwrap().grid, moved);
    assert!(matches!(
        s.restore_grid("G1", 9, &edit),
        Err(StoreError::NoSuchVersion { version: 9, .. })
    ));
    assert!(matches!(
        s.restore_grid("nope", 1, &edit),
        Err(StoreError::NoSuchVersion { .. })
    ));
    assert!(s.grid_history("nope").unwrap().is_empty());
    // Created again after a delete, a grid carries on from its history.
    s.delete_grid("G1", None, &edit).unwrap();
    assert_eq!(s.save_grid(&g1, None, &edit).unwrap(), 7);
    assert_eq!(s.grid_history("G1").unwrap()[6].action, "created");
}

/// Deleting a grid that is not there, or at a stale version, fails and writes nothing.
pub fn delete_grid_checks_existence_and_version(s: &mut dyn Store) {
    assert!(matches!(
        s.delete_grid("G1", None, &who()),
        Err(StoreError::NoSuchGrid { .. })
    ));
    s.save_grid(&grid("G1", 121.0), None, &who()).unwrap();
    s.save_grid(&grid("G1", 121.5), Some(1), &who()).unwrap();
    assert!(matches!(
        s.delete_grid("G1", Some(1), &who()),
        Err(StoreError::VersionConflict {
            expected: 1,
            actual: 2,
            ..
        })
    ));
    assert_eq!(s.count("grids").unwrap(), 1);
    assert_eq!(s.grid_history("G1").unwrap().len(), 2);
    s.delete_grid("G1", Some(2), &who()).unwrap();
    assert_eq!(s.count("grids").unwrap(), 0);
    assert!(matches!(
        s.delete_grid("G1", None, &who()),
        Err(StoreError::NoSuchGrid { .. })
    ));
    assert_eq!(s.count("grid_history").unwrap(), 3);
}

/// `replace_grids` deletes and saves in one transaction: a conflict anywhere leaves every grid
/// and the history as they were.
pub fn replace_grids_is_all_or_nothing(s: &mut dyn Store) {
    s.import_grids(
        &[grid("G1", 121.0), grid("G2", 121.01), grid("G3", 121.02)],
        Mode::Append,
        &who(),
    )
    .unwrap();
    let plan = Change {
        who: "规划员".into(),
        why: "adopt plan A".into(),
    };
    // G3 is saved at a stale version: nothing happens, not even the deletes before it.
    let err = s
        .replace_grids(
            &[("G1".into(), 1), ("G2".into(), 1)],
            &[(grid("N1", 121.0), None), (grid("G3", 121.5), Some(7))],
            &plan,
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::VersionConflict { .. }), "{err}");
    assert_eq!(s.count("grids").unwrap(), 3);
    assert_eq!(s.count("grid_history").unwrap(), 3);
    // A new grid whose code exists is a conflict too.
    assert!(matches!(
        s.replace_grids(&[], &[(grid("G1", 121.3), None)], &plan),
        Err(StoreError::VersionConflict {
            expected: 0,
            actual: 1,
            ..
        })
    ));
    let versions = s
        .replace_grids(
            &[("G1".into(), 1), ("G2".into(), 1)],
            &[(grid("N1", 121.0), None), (grid("G3", 121.5), Some(1))],
            &plan,
        )
        .unwrap();
    assert_eq!(versions, [1, 2]);
    let codes: Vec<String> = s
        .grids()
        .unwrap()
        .into_iter()
        .map(|g| g.grid.code)
        .collect();
    assert_eq!(codes, ["G3", "N1"]);
    let h = s.grid_history("G1").unwrap();
    assert_eq!(
        (h[1].action.as_str(), h[1].why.as_str()),
        ("deleted", "adopt plan A")
    );
}

/// Grids in each mode: append refuses an existing code, upsert leaves identical grids (and
/// their history) alone, replace deletes the grids not in the input with a history entry.
pub fn import_grids_in_each_mode(s: &mut dyn Store) {
    let grids = vec![grid("G1", 121.0), grid("G2", 121.01)];
    assert_eq!(
        counts(s.import_grids(&grids, Mode::Append, &who()).unwrap()),
        (2, 0, 0, 0)
    );
    assert_eq!(
        counts(s.import_grids(&grids, Mode::Upsert, &who()).unwrap()),
        (0, 0, 2, 0)
    );
    assert_eq!(
        s.grid_history("G1").unwrap().len(),
        1,
        "no history for an unchanged grid"
    );
    let mut changed = grids.clone();
    changed[1].geometry = square(121.01, 0.02);
    changed.push(grid("G3", 121.03));
    assert_eq!(
        counts(s.import_grids(&changed, Mode::Upsert, &who()).unwrap()),
        (1, 1, 1, 0)
    );
    assert_eq!(s.grid("G2").unwrap().unwrap().version, 2);
    let c = s
        .import_grids(
            &[grid("G2", 121.01), grid("G4", 121.04)],
            Mode::Replace,
            &who(),
        )
        .unwrap();
    assert_eq!(counts(c), (1, 1, 0, 2));
    assert_eq!(s.count("grids").unwrap(), 2);
    for code in ["G1", "G3"] {
        assert_eq!(
            s.grid_history(code).unwrap().last().unwrap().action,
            "deleted"
        );
    }
    // The deleted G1 comes back through an import as version 3 (1 created, 2 deleted).
    assert_eq!(
        counts(
            s.import_grids(&[grid("G1", 121.0)], Mode::Append, &who())
                .unwrap()
        ),
        (1, 0, 0, 0)
    );
    assert_eq!(s.grid("G1").unwrap().unwrap().version, 3);
}

/// Basemap layers: append and replace (of that layer only), import order kept, upsert and a
/// feature of another layer refused.
pub fn basemap_layers_round_trip_and_replace_only_their_own_rows(s: &mut dyn Store) {
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
        counts(
            s.import_basemap(BasemapLayer::Roads, &roads, Mode::Append)
                .unwrap()
        ),
        (2, 0, 0, 0)
    );
    s.import_basemap(BasemapLayer::Water, &water, Mode::Append)
        .unwrap();
    assert_eq!(s.count("basemap").unwrap(), 3);
    let stored = s.basemap().unwrap();
    assert_eq!(stored[..2], roads[..]);
    assert_eq!(stored[2], water[0]);
    // Replace swaps the roads and leaves the water alone; append adds.
    let c = s
        .import_basemap(BasemapLayer::Roads, &roads[..1], Mode::Replace)
        .unwrap();
    assert_eq!(counts(c), (1, 0, 0, 2));
    s.import_basemap(BasemapLayer::Roads, &roads[1..], Mode::Append)
        .unwrap();
    assert_eq!(
        s.basemap().unwrap(),
        vec![water[0].clone(), roads[0].clone(), roads[1].clone()]
    );
    // Upsert has nothing to match on; a feature of the other layer is refused; neither writes.
    assert!(
        s.import_basemap(BasemapLayer::Roads, &roads, Mode::Upsert)
            .is_err()
    );
    let err = s
        .import_basemap(BasemapLayer::Roads, &water, Mode::Replace)
        .unwrap_err();
    assert!(
        err.to_string().contains("feature 0 belongs to layer water"),
        "{err}"
    );
    assert_eq!(s.count("basemap").unwrap(), 3);
}

/// `count` counts every layer of [`LAYERS`] and refuses another name.
pub fn count_of_every_layer(s: &mut dyn Store) {
    for layer in LAYERS {
        let expected = usize::from(layer == "town");
        assert_eq!(s.count(layer).unwrap(), expected, "{layer}");
    }
    s.import_villages(
        &[Village {
            code: "V1".into(),
            name: "东村".into(),
            town: None,
            boundary: None,
        }],
        Mode::Append,
    )
    .unwrap();
    s.import_grids(
        &[grid("G1", 121.0), grid("G2", 121.1)],
        Mode::Append,
        &who(),
    )
    .unwrap();
    s.save_grid(&grid("G1", 121.2), Some(1), &who()).unwrap();
    s.import_buildings(
        &[building("b1", 121.0, 1), building("b2", 121.0, 1)],
        Mode::Append,
    )
    .unwrap();
    s.import_basemap(
        BasemapLayer::Landuse,
        &[BasemapFeature {
            layer: BasemapLayer::Landuse,
            kind: Some("park".into()),
            detail: None,
            name: None,
            geometry: Geometry::MultiPolygon(square(121.0, 0.1)),
        }],
        Mode::Append,
    )
    .unwrap();
    let got: Vec<usize> = LAYERS.iter().map(|l| s.count(l).unwrap()).collect();
    assert_eq!(got, [1, 1, 2, 3, 2, 0, 0, 0, 1]);
    let err = s.count("people").unwrap_err();
    assert!(err.to_string().contains("no layer named people"), "{err}");
}

/// Each history entry says who, why and when (UTC, RFC 3339, not in the future and not long
/// ago).
pub fn history_records_who_why_and_when(s: &mut dyn Store) {
    let before = chrono::Utc::now() - chrono::Duration::seconds(5);
    s.save_grid(&grid("G1", 121.0), None, &who()).unwrap();
    let h = s.grid_history("G1").unwrap();
    assert_eq!(
        (h[0].who.as_str(), h[0].why.as_str()),
        ("网格长 王", "initial import")
    );
    let at = chrono::DateTime::parse_from_rfc3339(&h[0].at).unwrap();
    assert!(h[0].at.ends_with('Z'), "{}", h[0].at);
    assert!(at >= before && at <= chrono::Utc::now() + chrono::Duration::seconds(5));
}
