//! The endpoints the web app's editor, problem table, dashboard chart and plan view read:
//! grid history, validation with geometries, the problems table, progress over time, and the
//! comparison of a plan with today's grids — each with its scope checks.

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use axum::http::StatusCode;
use gridmap_server::{AppState, Settings};
use serde_json::{Value, json};

mod common;
use common::{add_user, demo_store, login, on_each_store};
use gridmap_store::ProjectStore;

const WORKER_GRID: &str = "310101001002-03";
const OTHER_GRID: &str = "310101001004-01";
const VILLAGE: &str = "310101001002";

fn state_with(dir: &Path, settings: Settings) -> AppState {
    served_with(Box::new(demo_store(&dir.join("p.gpkg"))), settings)
}

/// The demo town in `s` with this file's users, served.
fn served_with(mut s: Box<dyn ProjectStore>, settings: Settings) -> AppState {
    for (name, role, scope) in [
        ("admin", "admin", "310101001"),
        ("worker", "grid_worker", WORKER_GRID),
        ("leader", "grid_leader", WORKER_GRID),
        ("manager", "village_manager", VILLAGE),
        ("other", "grid_leader", OTHER_GRID),
    ] {
        add_user(s.as_mut(), name, role, scope);
    }
    AppState::with_store(s, settings, None).unwrap()
}

fn served(s: Box<dyn ProjectStore>) -> AppState {
    served_with(s, Settings::default())
}

fn state(dir: &Path) -> AppState {
    state_with(dir, Settings::default())
}

async fn call(
    state: &AppState,
    method: &str,
    uri: &str,
    token: &str,
    body: Option<Value>,
    extra: &[(&str, &str)],
) -> (StatusCode, Value) {
    common::call(state, method, uri, Some(token), body, extra).await
}

async fn get(state: &AppState, uri: &str, token: &str) -> (StatusCode, Value) {
    call(state, "GET", uri, token, None, &[]).await
}

/// The exterior ring of a GeoJSON (Multi)Polygon feature's first polygon.
fn ring(feature: &Value) -> Vec<[f64; 2]> {
    let g = &feature["geometry"];
    let rings = if g["type"] == "Polygon" {
        &g["coordinates"]
    } else {
        &g["coordinates"][0]
    };
    rings[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| [c[0].as_f64().unwrap(), c[1].as_f64().unwrap()])
        .collect()
}

/// A polygon feature of `code` with the given ring.
fn feature(code: &str, ring: &[[f64; 2]]) -> Value {
    json!({"type": "Feature", "properties": {"code": code},
           "geometry": {"type": "Polygon", "coordinates": [ring]}})
}

#[test]
fn history_shows_each_version_and_its_boundary() {
    on_each_store(served, async |st: AppState| {
        let leader = login(&st, "leader").await;
        let uri = format!("/api/grids/{WORKER_GRID}");
        let (_, before) = get(&st, &uri, &leader).await;
        let old = ring(&before);
        // Shrink the grid a little towards its first vertex (saved by an admin with force: a
        // concave grid may then overlap a neighbour, which its leader may not do).
        let admin = login(&st, "admin").await;
        let [x0, y0] = old[0];
        let shrunk: Vec<[f64; 2]> = old
            .iter()
            .map(|[x, y]| [x0 + (x - x0) * 0.98, y0 + (y - y0) * 0.98])
            .collect();
        let (status, body) = call(
            &st,
            "PUT",
            &uri,
            &admin,
            Some(json!({"feature": feature(WORKER_GRID, &shrunk), "reason": "follow the new wall", "force": true})),
            &[("if-match", "\"1\"")],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, h) = get(&st, &format!("{uri}/history"), &leader).await;
        assert_eq!(status, StatusCode::OK, "{h}");
        assert_eq!(h["grid"], WORKER_GRID);
        let versions = h["versions"].as_array().unwrap();
        assert_eq!(versions.len(), 2, "{h}");
        assert_eq!(
            (
                versions[0]["version"].as_u64(),
                versions[1]["version"].as_u64()
            ),
            (Some(2), Some(1)),
            "newest first"
        );
        assert_eq!(versions[0]["who"], "admin");
        assert_eq!(versions[0]["why"], "follow the new wall");
        assert_eq!(versions[0]["deleted"], false);
        assert!(versions[0]["at"].as_str().unwrap().starts_with("20"));
        // Version 1 still has the old boundary, version 2 the new one.
        let (status, v1) = get(&st, &format!("{uri}/versions/1"), &leader).await;
        assert_eq!(status, StatusCode::OK, "{v1}");
        assert_eq!(v1["type"], "Feature");
        assert_eq!(v1["properties"]["version"], 1);
        assert_eq!(v1["properties"]["code"], WORKER_GRID);
        assert_eq!(ring(&v1), old);
        let (_, v2) = get(&st, &format!("{uri}/versions/2"), &leader).await;
        assert_eq!(v2["properties"]["why"], "follow the new wall");
        let got = ring(&v2);
        assert_eq!(got.len(), shrunk.len());
        assert!(
            got.iter()
                .zip(&shrunk)
                .all(|(a, b)| (a[0] - b[0]).abs() < 1e-9 && (a[1] - b[1]).abs() < 1e-9)
        );
        // 404 for a version or grid that never was, 400 for a version that is not a number.
        let (status, _) = get(&st, &format!("{uri}/versions/9"), &leader).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, body) = get(&st, &format!("{uri}/versions/latest"), &leader).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body["error"].as_str().unwrap().contains("latest"), "{body}");
        let (status, _) = get(&st, "/api/grids/NOPE/history", &leader).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // Another grid's leader sees neither the list nor a version, and nothing leaks.
        let other = login(&st, "other").await;
        for path in ["history", "versions/1"] {
            let (status, body) = get(&st, &format!("{uri}/{path}"), &other).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
            assert!(!body.to_string().contains("121."), "{body}");
        }
    });
}

#[test]
fn a_deleted_grid_keeps_its_history_in_its_village() {
    on_each_store(served, async |st: AppState| {
        let admin = login(&st, "admin").await;
        let far = feature(
            "310101001002-91",
            &[
                [121.55, 31.26],
                [121.56, 31.26],
                [121.56, 31.27],
                [121.55, 31.27],
                [121.55, 31.26],
            ],
        );
        let mut far = far;
        far["properties"]["village"] = json!(VILLAGE);
        let (status, body) = call(
            &st,
            "POST",
            "/api/grids",
            &admin,
            Some(json!({"feature": far, "reason": "new estate"})),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, _) = call(
            &st,
            "DELETE",
            "/api/grids/310101001002-91?reason=merged",
            &admin,
            None,
            &[("if-match", "\"1\"")],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let manager = login(&st, "manager").await;
        let (status, h) = get(&st, "/api/grids/310101001002-91/history", &manager).await;
        assert_eq!(status, StatusCode::OK, "{h}");
        let deleted: Vec<bool> = h["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["deleted"].as_bool().unwrap())
            .collect();
        assert_eq!(deleted, [true, false]);
        let (_, v2) = get(&st, "/api/grids/310101001002-91/versions/2", &manager).await;
        assert_eq!(v2["geometry"], Value::Null, "a deletion has no boundary");
        assert_eq!(v2["properties"]["village"], VILLAGE);
        let (_, v1) = get(&st, "/api/grids/310101001002-91/versions/1", &manager).await;
        assert_eq!(ring(&v1)[1], [121.56, 31.26]);
        let worker = login(&st, "worker").await;
        let (status, _) = get(&st, "/api/grids/310101001002-91/history", &worker).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    });
}

#[test]
fn validate_draws_the_overlap_of_a_grid_moved_over_its_neighbour() {
    on_each_store(served, async |st: AppState| {
        let leader = login(&st, "leader").await;
        let (_, grid) = get(&st, &format!("/api/grids/{WORKER_GRID}"), &leader).await;
        let old = ring(&grid);
        let (w, e) = old
            .iter()
            .fold((f64::MAX, f64::MIN), |(w, e), c| (w.min(c[0]), e.max(c[0])));
        // Half its width east: onto whatever lies there.
        let dx = (e - w) / 2.0;
        let moved: Vec<[f64; 2]> = old.iter().map(|[x, y]| [x + dx, *y]).collect();
        let (status, v) = call(
            &st,
            "POST",
            "/api/validate",
            &leader,
            Some(json!({"feature": feature(WORKER_GRID, &moved)})),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        let overlaps = v["overlaps"].as_array().unwrap();
        assert!(!overlaps.is_empty(), "{v}");
        let (s, n) = moved
            .iter()
            .fold((f64::MAX, f64::MIN), |(s, n), c| (s.min(c[1]), n.max(c[1])));
        let (mw, me) = (w + dx, e + dx);
        for o in overlaps {
            assert!(o["grids"].as_array().unwrap().contains(&json!(WORKER_GRID)));
            assert!(o["area_m2"].as_f64().unwrap() > 0.0);
            assert!(o["buildings"].is_array(), "existing fields are kept: {o}");
            assert_eq!(o["geometry"]["type"], "MultiPolygon");
            // The overlap lies inside the moved grid.
            let polys = o["geometry"]["coordinates"].as_array().unwrap();
            assert!(!polys.is_empty());
            for c in polys.iter().flat_map(|p| p[0].as_array().unwrap()) {
                let (x, y) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
                assert!(x >= mw - 1e-7 && x <= me + 1e-7 && y >= s - 1e-7 && y <= n + 1e-7);
            }
        }
        let gaps = v["gaps"].as_array().unwrap();
        assert!(!gaps.is_empty(), "moving away leaves a gap behind");
        for g in gaps {
            assert_eq!(g["geometry"]["type"], "Polygon");
            assert!(g["point"].is_array() && g["area_m2"].is_number());
        }
        let sum =
            |list: &[Value]| -> f64 { list.iter().map(|x| x["area_m2"].as_f64().unwrap()).sum() };
        let summary = &v["summary"];
        assert!((summary["overlap_area_m2"].as_f64().unwrap() - sum(overlaps)).abs() < 1e-6);
        assert!((summary["gap_area_m2"].as_f64().unwrap() - sum(gaps)).abs() < 1e-6);
        assert_eq!(
            summary["buildings_changing_grid"].as_u64().unwrap() as usize,
            v["buildings_changing_grid"].as_array().unwrap().len()
        );
        assert_eq!(v["ok"], false);
        assert!(!v["refused"].as_array().unwrap().is_empty(), "{v}");
        // The leader may not save it (it overlaps a neighbour they may not edit), force or not.
        let (status, body) = call(
            &st,
            "PUT",
            &format!("/api/grids/{WORKER_GRID}"),
            &leader,
            Some(json!({"feature": feature(WORKER_GRID, &moved), "reason": "test", "force": true})),
            &[("if-match", "\"1\"")],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        // An admin is refused with a message that names the grids, without geometry.
        let admin = login(&st, "admin").await;
        let (status, body) = call(
            &st,
            "PUT",
            &format!("/api/grids/{WORKER_GRID}"),
            &admin,
            Some(json!({"feature": feature(WORKER_GRID, &moved), "reason": "test"})),
            &[("if-match", "\"1\"")],
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT);
        let message = body["error"].as_str().unwrap();
        assert!(
            message.contains(WORKER_GRID) && !message.contains("coordinates"),
            "{message}"
        );
    });
}

#[test]
fn the_problem_table_agrees_with_the_report_and_is_scoped() {
    on_each_store(served, async |st: AppState| {
        let admin = login(&st, "admin").await;
        let (status, all) = get(&st, "/api/problems", &admin).await;
        assert_eq!(status, StatusCode::OK, "{all}");
        let report = st.project().report.clone();
        let s = &report.summary;
        let counts = &all["counts"];
        for (kind, want) in [
            ("invalid_grid", s.invalid_grids),
            ("overlap", s.overlaps),
            ("gap", s.gaps),
            ("outside_boundary", s.outside_boundary),
            ("in_no_grid", s.in_no_grid),
            ("in_many_grids", s.in_many_grids),
            ("straddling", s.straddling),
            ("address_not_in_building", s.addresses_not_in_building),
            ("address_grid_mismatch", s.addresses_grid_mismatch),
        ] {
            assert_eq!(counts[kind].as_u64(), Some(want as u64), "{kind}: {counts}");
        }
        let rows = all["problems"].as_array().unwrap();
        assert_eq!(
            rows.len() as u64,
            counts
                .as_object()
                .unwrap()
                .values()
                .map(|n| n.as_u64().unwrap())
                .sum::<u64>()
        );
        assert!(
            s.overlaps > 0 && s.in_no_grid > 0,
            "the demo plants problems"
        );
        // Ids are unique; rows sorted by type, then area, largest first; every row has a place.
        let ids: BTreeSet<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), rows.len());
        let types = gridmap_server::problems::TYPES;
        let key = |r: &Value| {
            (
                types.iter().position(|t| r["type"] == *t).unwrap(),
                -r["area_m2"].as_f64().unwrap_or(0.0),
            )
        };
        assert!(rows.windows(2).all(|w| key(&w[0]) <= key(&w[1])));
        for r in rows {
            let b = r["bbox"].as_array().unwrap();
            assert_eq!(b.len(), 4, "{r}");
            assert!(r["point"].as_array().is_some_and(|p| p.len() == 2), "{r}");
            assert!(
                r["id"]
                    .as_str()
                    .unwrap()
                    .starts_with(r["type"].as_str().unwrap())
            );
        }
        let overlap = rows.iter().find(|r| r["type"] == "overlap").unwrap();
        assert!((overlap["area_m2"].as_f64().unwrap() - report.overlaps[0].area_m2).abs() < 1e-9);
        // The grid leader gets a subset: problems touching their grid, and nothing town-wide.
        let leader = login(&st, "leader").await;
        let (_, mine) = get(&st, "/api/problems", &leader).await;
        let mine = mine["problems"].as_array().unwrap();
        assert!(!mine.is_empty() && mine.len() < rows.len());
        for r in mine {
            assert!(ids.contains(r["id"].as_str().unwrap()));
            assert!(
                r["grids"].as_array().unwrap().contains(&json!(WORKER_GRID)),
                "{r}"
            );
        }
        // The village manager sees problems of their village's grids and no other grid's.
        let manager = login(&st, "manager").await;
        let (_, village) = get(&st, "/api/problems", &manager).await;
        for r in village["problems"].as_array().unwrap() {
            let grids = r["grids"].as_array().unwrap();
            assert!(
                grids.is_empty()
                    || grids
                        .iter()
                        .any(|g| g.as_str().unwrap().starts_with(VILLAGE)),
                "{r}"
            );
        }
        // Tokens are required.
        let (status, _) = get(&st, "/api/problems", "nope").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    });
}

#[tokio::test]
async fn progress_counts_first_visits_day_by_day() {
    let dir = tempfile::tempdir().unwrap();
    let st = state_with(
        dir.path(),
        Settings {
            campaign_start: Some("2026-03-01".into()),
            campaign_end: Some("2026-03-31".into()),
            ..Settings::default()
        },
    );
    let worker = login(&st, "worker").await;
    let p = st.project();
    let mine: Vec<usize> = (0..p.buildings.len())
        .filter(|&i| p.grid_of(i) == Some(WORKER_GRID))
        .collect();
    let id = |k: usize| p.buildings[mine[k]].id.clone();
    let hh = |k: usize| u64::from(p.buildings[mine[k]].households);
    let grid_households: u64 = mine
        .iter()
        .map(|&i| u64::from(p.buildings[i].households))
        .sum();
    // The town's progress counts every building, those in no grid too (no one visits them).
    let all_households: u64 = p.buildings.iter().map(|b| u64::from(b.households)).sum();
    let visits = [
        (id(0), "2026-03-01T09:00:00+08:00", "visited"),
        (id(1), "2026-03-02T10:00:00+08:00", "visited"),
        (id(2), "2026-03-02T11:00:00+08:00", "nobody_home"),
        // A second visit does not count the building again.
        (id(0), "2026-03-03T09:00:00+08:00", "visited"),
        (id(2), "2026-03-05T11:00:00+08:00", "visited"),
    ];

    for (building, time, outcome) in &visits {
        let (status, body) = call(
            &st,
            "POST",
            "/api/visits",
            &worker,
            Some(json!({"building": building, "time": time, "outcome": outcome})),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, g) = get(
        &st,
        &format!("/api/progress?by=grid&code={WORKER_GRID}"),
        &worker,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{g}");
    assert_eq!(
        (g["by"].as_str(), g["code"].as_str()),
        (Some("grid"), Some(WORKER_GRID))
    );
    assert_eq!(g["households"].as_u64(), Some(grid_households));
    assert_eq!(g["buildings"].as_u64(), Some(mine.len() as u64));
    let days: Vec<(String, u64, u64)> = g["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["date"].as_str().unwrap().to_string(),
                d["visited_households"].as_u64().unwrap(),
                d["visited_buildings"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        days,
        [
            ("2026-03-01".to_string(), hh(0), 1),
            ("2026-03-02".to_string(), hh(0) + hh(1), 2),
            ("2026-03-05".to_string(), hh(0) + hh(1) + hh(2), 3),
        ]
    );
    let last = &g["days"][2];
    assert!(
        (last["visit_rate"].as_f64().unwrap()
            - (hh(0) + hh(1) + hh(2)) as f64 / grid_households as f64)
            .abs()
            < 1e-12
    );
    assert_eq!(
        g["expected"],
        json!([{"date": "2026-03-01", "rate": 0.0}, {"date": "2026-03-31", "rate": 1.0}])
    );
    // The worker's town is their grid; the admin's is the whole town.
    let (_, town) = get(&st, "/api/progress", &worker).await;
    assert_eq!(town["by"], "town");
    assert_eq!(town["households"].as_u64(), Some(grid_households));
    assert_eq!(town["days"], g["days"]);
    let admin = login(&st, "admin").await;
    let (_, town) = get(&st, "/api/progress?by=town", &admin).await;
    assert_eq!(town["households"].as_u64(), Some(all_households));
    assert_eq!(town["days"].as_array().unwrap().len(), 3);
    let manager = login(&st, "manager").await;
    let (status, v) = get(
        &st,
        &format!("/api/progress?by=village&code={VILLAGE}"),
        &manager,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["days"][2]["visited_buildings"], 3);
    // Scope and bad input.
    for (uri, want) in [
        (
            format!("/api/progress?by=grid&code={OTHER_GRID}"),
            StatusCode::FORBIDDEN,
        ),
        (
            format!("/api/progress?by=village&code={VILLAGE}"),
            StatusCode::FORBIDDEN,
        ),
        (
            "/api/progress?by=grid&code=NOPE".to_string(),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/progress?by=village&code=NOPE".to_string(),
            StatusCode::NOT_FOUND,
        ),
        ("/api/progress?by=grid".to_string(), StatusCode::BAD_REQUEST),
        (
            "/api/progress?by=street".to_string(),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (status, body) = get(&st, &uri, &worker).await;
        assert_eq!(status, want, "{uri}: {body}");
    }
    // Without a campaign there is no expected line.
    let dir2 = tempfile::tempdir().unwrap();
    let plain = state(dir2.path());
    let admin = login(&plain, "admin").await;
    let (_, empty) = get(&plain, "/api/progress", &admin).await;
    assert_eq!(
        (empty["days"].clone(), empty["expected"].clone()),
        (json!([]), json!([]))
    );
}

async fn finished(st: &AppState, token: &str, job: &str) -> Value {
    for _ in 0..600 {
        let (_, s) = get(st, &format!("/api/partition/{job}"), token).await;
        if s["status"] != "running" {
            return s;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("partition job {job} did not finish");
}

#[test]
fn a_plan_from_current_grids_lists_its_moves() {
    on_each_store(served, async |st: AppState| {
        let admin = login(&st, "admin").await;
        let (status, started) = call(
            &st,
            "POST",
            "/api/partition",
            &admin,
            Some(json!({"village": VILLAGE, "from_current": true, "seed": 3})),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{started}");
        let job = started["job"].as_str().unwrap().to_string();
        // Those who may not plan the village may not read its plan either.
        let worker = login(&st, "worker").await;
        let (status, _) = get(&st, &format!("/api/partition/{job}"), &worker).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let done = finished(&st, &admin, &job).await;
        assert_eq!(done["status"], "done", "{done}");
        // Today's grids with their workload, as /api/stats counts it.
        let (_, stats) = get(&st, "/api/stats?by=grid", &admin).await;
        let stats: HashMap<String, u64> = stats["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["grid"].as_str().unwrap().to_string(),
                    r["households"].as_u64().unwrap(),
                )
            })
            .collect();
        let current = done["current"]["features"].as_array().unwrap();
        let p = st.project();
        let village_grids: BTreeSet<&str> = p
            .grids
            .iter()
            .filter(|g| g.grid.village.as_deref() == Some(VILLAGE))
            .map(|g| g.grid.code.as_str())
            .collect();
        assert_eq!(current.len(), village_grids.len());
        for f in current {
            let code = f["properties"]["code"].as_str().unwrap();
            assert!(village_grids.contains(code));
            assert_eq!(
                f["properties"]["households"].as_u64(),
                stats.get(code).copied(),
                "{code}"
            );
            assert!(f["geometry"]["coordinates"].is_array());
        }
        // From current grids the plan keeps their codes, and each matches its namesake.
        let matching = done["matching"].as_object().unwrap();
        let plan = done["plan"]["features"].as_array().unwrap();
        for f in plan {
            let props = &f["properties"];
            let code = props["code"].as_str().unwrap();
            assert!(village_grids.contains(code), "{code}");
            assert_eq!(props["matched_current"], matching[code]);
            assert_eq!(props["matched_current"], code, "a kept grid matches itself");
            assert_eq!(
                props["households_before"].as_u64(),
                stats.get(code).copied()
            );
        }
        // The moves are the buildings whose grid changes: with codes kept, the same buildings and
        // households the partitioner's report counts.
        let moves = done["moves"].as_array().unwrap();
        assert!(!moves.is_empty(), "rebalancing moves some buildings");
        assert_eq!(
            Some(moves.len() as u64),
            done["report"]["moved_buildings"].as_u64()
        );
        let moved_households: u64 = moves
            .iter()
            .map(|m| m["households"].as_u64().unwrap())
            .sum();
        assert_eq!(
            Some(moved_households),
            done["report"]["moved_households"].as_u64()
        );
        let mut seen = BTreeSet::new();
        for m in moves {
            let b = m["building"].as_str().unwrap();
            assert!(seen.insert(b), "{b} listed twice");
            let i = p.building_by_id[b] as usize;
            assert_eq!(m["from"].as_str(), p.grid_of(i));
            assert_ne!(m["from"], m["to"]);
            assert!(village_grids.contains(m["to"].as_str().unwrap()));
            assert_eq!(
                m["households"].as_u64(),
                Some(u64::from(p.buildings[i].households))
            );
        }
    });
}

#[test]
fn editors_get_their_neighbours_outlines_for_snapping() {
    on_each_store(served, async |st: AppState| {
        let codes = |v: &Value, context: bool| -> BTreeSet<String> {
            v["features"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["properties"]["context"].as_bool().unwrap_or(false) == context)
                .map(|f| f["properties"]["code"].as_str().unwrap().to_string())
                .collect()
        };
        let leader = login(&st, "leader").await;
        let (status, plain) = get(&st, "/api/grids", &leader).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            codes(&plain, false),
            BTreeSet::from([WORKER_GRID.to_string()])
        );
        assert!(codes(&plain, true).is_empty());
        let (_, with) = get(&st, "/api/grids?context=1", &leader).await;
        assert_eq!(codes(&with, false), codes(&plain, false));
        let neighbours = codes(&with, true);
        assert!(!neighbours.is_empty() && !neighbours.contains(WORKER_GRID));
        // Only outlines: no names, versions or villages of grids outside the scope.
        for f in with["features"].as_array().unwrap() {
            if f["properties"]["context"] == true {
                assert!(f["properties"].get("name").is_none(), "{f}");
                assert!(f["properties"].get("version").is_none(), "{f}");
            }
        }
        // A grid worker does not edit grids: no context.
        let worker = login(&st, "worker").await;
        let (_, w) = get(&st, "/api/grids?context=1", &worker).await;
        assert!(codes(&w, true).is_empty());
    });
}

/// Problems tied to no grid (a gap, a building in no grid, an address in none) reach a village
/// manager exactly when their point lies in the village (the one rule of scope, by location),
/// and no grid role.
#[tokio::test]
async fn problems_in_no_grid_reach_the_manager_of_the_village_they_lie_in() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = demo_store(&dir.path().join("p.gpkg"));
    let villages = gridmap_store::Store::villages(&s).unwrap();
    add_user(&mut s, "admin", "admin", "310101001");
    add_user(&mut s, "leader", "grid_leader", WORKER_GRID);
    for v in &villages {
        add_user(&mut s, &format!("m{}", v.code), "village_manager", &v.code);
    }
    let st = AppState::new(s, Settings::default()).unwrap();
    let ids_in_no_grid = |rows: &Value, keep: &dyn Fn(&Value) -> bool| -> BTreeSet<String> {
        rows["problems"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["grids"].as_array().unwrap().is_empty() && keep(r))
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, all) = get(&st, "/api/problems", &login(&st, "admin").await).await;
    let mut seen_somewhere = 0;
    for v in &villages {
        let Some(boundary) = v.boundary.clone() else {
            continue;
        };
        let inside = |r: &Value| {
            let at = r["point"].as_array().unwrap();
            let at = geo::Point::new(at[0].as_f64().unwrap(), at[1].as_f64().unwrap());
            geo::Intersects::intersects(&boundary, &at)
        };
        let expected = ids_in_no_grid(&all, &inside);
        let manager = login(&st, &format!("m{}", v.code)).await;
        let (_, mine) = get(&st, "/api/problems", &manager).await;
        assert_eq!(
            ids_in_no_grid(&mine, &|_| true),
            expected,
            "village {}",
            v.code
        );
        seen_somewhere += expected.len();
    }
    assert!(
        seen_somewhere > 0,
        "the demo has problems in no grid inside villages"
    );
    let (_, mine) = get(&st, "/api/problems", &login(&st, "leader").await).await;
    assert!(
        ids_in_no_grid(&mine, &|_| true).is_empty(),
        "no grid role sees them"
    );
}
