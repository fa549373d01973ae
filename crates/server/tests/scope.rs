//! Who may read and write what, route by route and role by role, inside and outside their
//! part of the org tree — including writes whose geometry or village reaches outside it — and
//! one named regression test for each bypass an attacker found (scope by code only, never by
//! geometry or village).

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

use std::path::Path;

use axum::http::StatusCode;
use geo::{BoundingRect, MultiPolygon};
use gridmap_server::{AppState, Settings};
use serde_json::{Value, json};

mod common;
use common::{add_user, call, demo_store, login, on_each_store};
use gridmap_store::ProjectStore;

const TOWN: &str = "310101001";
const VILLAGE: &str = "310101001002";
const GRID: &str = "310101001002-03";
const SIBLING: &str = "310101001002-01";
const OTHER_VILLAGE: &str = "310101001004";
const OTHER_GRID: &str = "310101001004-01";

/// The roles of the matrix, each with a user of that name.
const ROLES: [(&str, &str, &str); 6] = [
    ("admin", "admin", TOWN),
    ("supervisor", "town_supervisor", TOWN),
    ("planner", "planner", TOWN),
    ("manager", "village_manager", VILLAGE),
    ("leader", "grid_leader", GRID),
    ("worker", "grid_worker", GRID),
];

fn state(dir: &Path) -> AppState {
    served(Box::new(demo_store(&dir.join("p.gpkg"))))
}

/// The demo town in `s` with this file's users, served.
fn served(mut s: Box<dyn ProjectStore>) -> AppState {
    for (name, role, scope) in ROLES {
        add_user(s.as_mut(), name, role, scope);
    }
    add_user(s.as_mut(), "manager4", "village_manager", OTHER_VILLAGE);
    AppState::with_store(s, Settings::default(), None).unwrap()
}

/// A building of grid `code`, by id.
fn building_of(st: &AppState, code: &str) -> String {
    let p = st.project();
    let i = (0..p.buildings.len())
        .find(|&i| p.grid_of(i) == Some(code))
        .unwrap();
    p.buildings[i].id.clone()
}

/// Grid `code` as the API serves it, for writes.
fn grid_feature(st: &AppState, code: &str) -> Value {
    let p = st.project();
    let g = p.grid(code).unwrap();
    json!({"type": "Feature",
           "properties": {"code": code, "name": g.grid.name, "village": g.grid.village},
           "geometry": gridmap_io::write::geometry_json(&g.grid.geometry)})
}

fn multipolygon_json(m: &MultiPolygon) -> Value {
    gridmap_io::write::geometry_json(m)
}

/// A square of `half` degrees around (x, y), as GeoJSON polygon coordinates.
fn square(x: f64, y: f64, half: f64) -> Value {
    json!([[
        [x - half, y - half],
        [x + half, y - half],
        [x + half, y + half],
        [x - half, y + half],
        [x - half, y - half]
    ]])
}

/// (grids, buildings, visits) in the store: what a refused write must leave unchanged.
fn counts(st: &AppState) -> (usize, usize, usize) {
    let p = st.project();
    (p.grids.len(), p.buildings.len(), p.live().visits.len())
}

/// One request of the matrix: method, URI, body, and the statuses expected for the roles of
/// [`ROLES`] in order.
struct Case {
    method: &'static str,
    uri: String,
    body: Option<Value>,
    want: [u16; 6],
}

async fn run(st: &AppState, cases: &[Case]) {
    let mut tokens = Vec::new();
    for (name, _, _) in ROLES {
        tokens.push(login(st, name).await);
    }
    for case in cases {
        for (r, (name, _, _)) in ROLES.iter().enumerate() {
            let (status, body) = call(
                st,
                case.method,
                &case.uri,
                Some(&tokens[r]),
                case.body.clone(),
                &[],
            )
            .await;
            assert_eq!(
                status.as_u16(),
                case.want[r],
                "{} {} as {name}: {body}",
                case.method,
                case.uri
            );
            if status.is_client_error() {
                assert!(
                    body["error"].is_string(),
                    "{} {}: {body}",
                    case.method,
                    case.uri
                );
            }
        }
    }
}

fn get(uri: String, want: [u16; 6]) -> Case {
    Case {
        method: "GET",
        uri,
        body: None,
        want,
    }
}

fn post(uri: &str, body: Value, want: [u16; 6]) -> Case {
    Case {
        method: "POST",
        uri: uri.into(),
        body: Some(body),
        want,
    }
}

const ALL: [u16; 6] = [200; 6];
/// Town-wide users only.
const TOWN_ONLY: [u16; 6] = [200, 200, 200, 403, 403, 403];
/// Town-wide users and the village's manager.
const VILLAGE_UP: [u16; 6] = [200, 200, 200, 200, 403, 403];

/// Reads: every role, inside its part (the leader's grid, a sibling grid of the same village)
/// and outside it (a grid of another village).
#[test]
fn read_matrix() {
    on_each_store(served, async |st: AppState| {
        let (mine, sibling, other) = (
            building_of(&st, GRID),
            building_of(&st, SIBLING),
            building_of(&st, OTHER_GRID),
        );
        // The z16 tile over a building of the leader's grid: every role has something in it.
        let p = st.project();
        let at = p.location(p.building_by_id[&mine] as usize).unwrap();
        let t = gridmap_tiles::TileId::containing(at, 16).unwrap();
        let (z, x, y) = (t.z, t.x, t.y);
        let cases = [
            get("/api/me".into(), ALL),
            get("/api/grids".into(), ALL),
            get(format!("/api/grids/{GRID}"), ALL),
            get(format!("/api/grids/{SIBLING}"), VILLAGE_UP),
            get(format!("/api/grids/{OTHER_GRID}"), TOWN_ONLY),
            get(format!("/api/grids/{GRID}/history"), ALL),
            get(format!("/api/grids/{SIBLING}/history"), VILLAGE_UP),
            get(format!("/api/grids/{OTHER_GRID}/history"), TOWN_ONLY),
            get(format!("/api/grids/{GRID}/versions/1"), ALL),
            get(format!("/api/grids/{OTHER_GRID}/versions/1"), TOWN_ONLY),
            get(format!("/api/buildings/{mine}"), ALL),
            get(format!("/api/buildings/{sibling}"), VILLAGE_UP),
            get(format!("/api/buildings/{other}"), TOWN_ONLY),
            get("/api/stats?by=grid".into(), ALL),
            get("/api/stats?by=village".into(), VILLAGE_UP),
            get("/api/stats.csv?by=village".into(), VILLAGE_UP),
            get("/api/stats.xlsx?by=village".into(), VILLAGE_UP),
            get("/api/problems".into(), ALL),
            get("/api/progress".into(), ALL),
            get(
                format!("/api/progress?by=village&code={VILLAGE}"),
                VILLAGE_UP,
            ),
            get(
                format!("/api/progress?by=village&code={OTHER_VILLAGE}"),
                TOWN_ONLY,
            ),
            get(format!("/api/progress?by=grid&code={GRID}"), ALL),
            get(
                format!("/api/progress?by=grid&code={OTHER_GRID}"),
                TOWN_ONLY,
            ),
            get("/api/uncovered".into(), ALL),
            get("/api/audit".into(), [200, 403, 403, 403, 403, 403]),
            get("/collections/grids/items".into(), ALL),
            get("/collections".into(), ALL),
            get("/collections/buildings".into(), ALL),
            get("/tiles/grids.json".into(), ALL),
            get(format!("/tiles/grids/{z}/{x}/{y}.mvt"), ALL),
            get(format!("/tiles/buildings/{z}/{x}/{y}.mvt"), ALL),
            get(format!("/heatmap/unvisited/{z}/{x}/{y}.png"), ALL),
            get("/heatmap/unvisited/legend.json".into(), ALL),
        ];
        run(&st, &cases).await;
    });
}

/// Writes that touch nothing but the grid they name: validation, visits, plans.
#[test]
fn write_matrix_without_saving() {
    on_each_store(served, async |st: AppState| {
        let before = counts(&st);
        let (mine, other) = (building_of(&st, GRID), building_of(&st, OTHER_GRID));
        let cases = [
            // Validation of a grid as it is: the roles that edit grids, in their part.
            post(
                "/api/validate",
                json!({"feature": grid_feature(&st, GRID)}),
                [200, 200, 403, 200, 200, 403],
            ),
            post(
                "/api/validate",
                json!({"feature": grid_feature(&st, SIBLING)}),
                [200, 200, 403, 200, 403, 403],
            ),
            post(
                "/api/validate",
                json!({"feature": grid_feature(&st, OTHER_GRID)}),
                [200, 200, 403, 403, 403, 403],
            ),
            // Plans: refused (403) or, for those allowed, a 400 for `grids: 0` before any job
            // starts.
            post(
                "/api/partition",
                json!({"village": VILLAGE, "grids": 0}),
                [400, 400, 400, 400, 403, 403],
            ),
            post(
                "/api/partition",
                json!({"village": OTHER_VILLAGE, "grids": 0}),
                [400, 400, 400, 403, 403, 403],
            ),
            // Visits: only from the field roles and admin, in their part. A bad outcome makes the
            // allowed ones a 400 so that nothing is saved here.
            post(
                "/api/visits",
                json!({"building": mine, "outcome": "nope"}),
                [400, 403, 403, 403, 400, 400],
            ),
            post(
                "/api/visits",
                json!({"building": other, "outcome": "nope"}),
                [400, 403, 403, 403, 403, 403],
            ),
        ];
        run(&st, &cases).await;
        assert_eq!(counts(&st), before);
    });
}

/// Saving writes, each role on a fresh project: change a grid's name (its boundary as it is),
/// delete a grid, create one outside every village.
#[tokio::test]
async fn saving_write_matrix() {
    // (what, expected per role)
    let rename = |code: &'static str, want: [u16; 6]| (code, want);
    for (code, want) in [
        rename(GRID, [200, 200, 403, 200, 200, 403]),
        rename(SIBLING, [200, 200, 403, 200, 403, 403]),
        rename(OTHER_GRID, [200, 200, 403, 403, 403, 403]),
    ] {
        for (r, (name, _, _)) in ROLES.iter().enumerate() {
            let dir = tempfile::tempdir().unwrap();
            let st = state(dir.path());
            let token = login(&st, name).await;
            let mut f = grid_feature(&st, code);
            f["properties"]["name"] = json!("新名字");
            let (status, body) = call(
                &st,
                "PUT",
                &format!("/api/grids/{code}"),
                Some(&token),
                Some(json!({"feature": f, "reason": "rename"})),
                &[("if-match", "\"1\"")],
            )
            .await;
            assert_eq!(status.as_u16(), want[r], "PUT {code} as {name}: {body}");
        }
    }
    for (code, want) in [
        (GRID, [200, 200, 403, 200, 403, 403]),
        (OTHER_GRID, [200, 200, 403, 403, 403, 403]),
    ] {
        for (r, (name, _, _)) in ROLES.iter().enumerate() {
            let dir = tempfile::tempdir().unwrap();
            let st = state(dir.path());
            let token = login(&st, name).await;
            let (status, body) = call(
                &st,
                "DELETE",
                &format!("/api/grids/{code}?reason=merged"),
                Some(&token),
                None,
                &[("if-match", "\"1\"")],
            )
            .await;
            assert_eq!(status.as_u16(), want[r], "DELETE {code} as {name}: {body}");
        }
    }
    // A new grid of the village, drawn east of the town (inside its neighbourhood, outside
    // every village): town-wide editors may, the village's manager may not reach outside it.
    for (r, (name, _, _)) in ROLES.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let st = state(dir.path());
        let token = login(&st, name).await;
        let f = json!({"type": "Feature", "properties": {"code": format!("{VILLAGE}-91"), "village": VILLAGE},
                       "geometry": {"type": "Polygon", "coordinates": square(121.55, 31.26, 0.002)}});
        let (status, body) = call(
            &st,
            "POST",
            "/api/grids",
            Some(&token),
            Some(json!({"feature": f, "reason": "new estate"})),
            &[],
        )
        .await;
        let want = [200, 200, 403, 403, 403, 403][r];
        assert_eq!(status.as_u16(), want, "POST as {name}: {body}");
    }
}

/// A village manager `POST`s a grid whose geometry is a neighbouring village's boundary, with
/// `force`: it used to be saved, and the neighbour's statistics dropped to 0 buildings.
#[test]
fn manager_cannot_create_a_grid_over_another_village() {
    on_each_store(served, async |st: AppState| {
        let admin = login(&st, "admin").await;
        let (_, stats_before) =
            call(&st, "GET", "/api/stats?by=village", Some(&admin), None, &[]).await;
        let before = counts(&st);
        let manager = login(&st, "manager").await;
        let neighbour = st
            .project()
            .villages
            .iter()
            .find(|v| v.code == OTHER_VILLAGE)
            .unwrap()
            .boundary
            .clone()
            .unwrap();
        for village in [json!(VILLAGE), json!(OTHER_VILLAGE), Value::Null] {
            let f = json!({"type": "Feature", "properties": {"code": format!("{VILLAGE}-92"), "village": village},
                           "geometry": multipolygon_json(&neighbour)});
            let (status, body) = call(
                &st,
                "POST",
                "/api/grids",
                Some(&manager),
                Some(json!({"feature": f, "reason": "x", "force": true})),
                &[],
            )
            .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "village {village}: {body}");
        }
        assert_eq!(counts(&st), before);
        let (_, stats_after) =
            call(&st, "GET", "/api/stats?by=village", Some(&admin), None, &[]).await;
        assert_eq!(stats_before["rows"], stats_after["rows"]);
    });
}

/// A grid leader `PUT`s their grid plus a 4 m square around a building of another village
/// (`force`): it used to be saved, and that building's residents were then served in clear.
#[test]
fn leader_cannot_annex_a_building_of_another_village() {
    on_each_store(served, async |st: AppState| {
        let leader = login(&st, "leader").await;
        let target = building_of(&st, OTHER_GRID);
        let (status, _) = call(
            &st,
            "GET",
            &format!("/api/buildings/{target}"),
            Some(&leader),
            None,
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let p = st.project();
        let i = p.building_by_id[&target] as usize;
        let r = p.buildings[i].footprint_rect().unwrap();
        let c = r.center();
        let half = (r.width().max(r.height()) / 2.0) + 0.00002;
        let mut mine = p.grid(GRID).unwrap().grid.geometry.clone();
        let annex: MultiPolygon = geo::Rect::new(
            geo::coord! {x: c.x - half, y: c.y - half},
            geo::coord! {x: c.x + half, y: c.y + half},
        )
        .to_polygon()
        .into();
        mine.0.extend(annex.0);
        assert!(mine.bounding_rect().is_some());
        let f = json!({"type": "Feature", "properties": {"code": GRID}, "geometry": multipolygon_json(&mine)});
        let (status, body) = call(
            &st,
            "PUT",
            &format!("/api/grids/{GRID}"),
            Some(&leader),
            Some(json!({"feature": f, "reason": "annex", "force": true})),
            &[("if-match", "\"1\"")],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(
            body["error"].as_str().unwrap().contains("outside"),
            "{body}"
        );
        let (status, body) = call(
            &st,
            "GET",
            &format!("/api/buildings/{target}"),
            Some(&leader),
            None,
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(!body.to_string().contains("clear"));
        assert_eq!(st.project().grid(GRID).unwrap().version, 1);
    });
}

/// A grid leader changes their grid's `village` property to another village: it used to be
/// saved, moving the grid (and its statistics) under that village.
#[test]
fn leader_cannot_move_their_grid_to_another_village() {
    on_each_store(served, async |st: AppState| {
        for user in ["leader", "manager"] {
            let token = login(&st, user).await;
            let mut f = grid_feature(&st, GRID);
            f["properties"]["village"] = json!(OTHER_VILLAGE);
            let (status, body) = call(
                &st,
                "PUT",
                &format!("/api/grids/{GRID}"),
                Some(&token),
                Some(json!({"feature": f, "reason": "move", "force": true})),
                &[("if-match", "\"1\"")],
            )
            .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{user}: {body}");
        }
        let p = st.project();
        assert_eq!(p.grid(GRID).unwrap().grid.village.as_deref(), Some(VILLAGE));
        assert_eq!(p.grid(GRID).unwrap().version, 1);
    });
}

/// A manager creates a grid whose code equals their own scope code: it used to be saved in
/// another village, where the code made it visible to them.
#[test]
fn no_grid_takes_the_code_of_a_scope_node() {
    on_each_store(served, async |st: AppState| {
        let before = counts(&st);
        for (user, code, village) in [
            ("manager", VILLAGE, json!(OTHER_VILLAGE)),
            ("manager", VILLAGE, Value::Null),
            ("admin", TOWN, json!(VILLAGE)),
            ("admin", OTHER_VILLAGE, json!(VILLAGE)),
            ("admin", "G-1", json!(VILLAGE)),
        ] {
            let token = login(&st, user).await;
            let f = json!({"type": "Feature", "properties": {"code": code, "village": village},
                           "geometry": {"type": "Polygon", "coordinates": square(121.55, 31.26, 0.002)}});
            let (status, body) = call(
                &st,
                "POST",
                "/api/grids",
                Some(&token),
                Some(json!({"feature": f, "reason": "x", "force": true})),
                &[],
            )
            .await;
            assert!(
                status == StatusCode::BAD_REQUEST || status == StatusCode::FORBIDDEN,
                "{user} {code}: {status} {body}"
            );
        }
        assert_eq!(counts(&st), before);
    });
}

/// `/api/stats?by=village` gave a grid leader village-wide people and flagged-visit counts.
#[test]
fn grid_users_get_no_village_statistics() {
    on_each_store(served, async |st: AppState| {
        for user in ["leader", "worker"] {
            let token = login(&st, user).await;
            for uri in [
                "/api/stats?by=village",
                "/api/stats.csv?by=village",
                "/api/stats.xlsx?by=village",
            ] {
                let (status, _) = call(&st, "GET", uri, Some(&token), None, &[]).await;
                assert_eq!(status, StatusCode::FORBIDDEN, "{user} {uri}");
            }
            let (_, me) = call(&st, "GET", "/api/me", Some(&token), None, &[]).await;
            assert_eq!(me["reach"], "grid");
        }
    });
}

/// `POST /api/validate` returned building ids and grid codes outside the caller's scope.
#[test]
fn validation_names_nothing_outside_scope() {
    on_each_store(served, async |st: AppState| {
        let leader = login(&st, "leader").await;
        let p = st.project();
        // The leader's grid grown to the whole town's bounds: it overlaps every grid.
        let r = p.town.boundary.as_ref().unwrap().bounding_rect().unwrap();
        let f = json!({"type": "Feature", "properties": {"code": GRID},
                       "geometry": {"type": "Polygon", "coordinates": [[[r.min().x, r.min().y], [r.max().x, r.min().y], [r.max().x, r.max().y], [r.min().x, r.max().y], [r.min().x, r.min().y]]]}});
        let (status, v) = call(
            &st,
            "POST",
            "/api/validate",
            Some(&leader),
            Some(json!({"feature": f})),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert!(!v["refused"].as_array().unwrap().is_empty());
        let text = v.to_string();
        for g in &p.grids {
            if g.grid.code != GRID {
                assert!(
                    !text.contains(&format!("\"{}\"", g.grid.code)),
                    "names {}",
                    g.grid.code
                );
            }
        }
        for (i, b) in p.buildings.iter().enumerate() {
            if p.grid_of(i) != Some(GRID) {
                assert!(
                    !text.contains(&format!("\"{}\"", b.id)),
                    "names building {}",
                    b.id
                );
            }
        }
        assert!(v["summary"]["buildings_changing_grid"].as_u64().unwrap() > 0);
    });
}

/// Planners and supervisors could record visits (and so count towards a grid's rate).
#[test]
fn only_field_roles_record_visits() {
    on_each_store(served, async |st: AppState| {
        let b = building_of(&st, GRID);
        for (user, want) in [
            ("supervisor", StatusCode::FORBIDDEN),
            ("planner", StatusCode::FORBIDDEN),
            ("manager", StatusCode::FORBIDDEN),
            ("worker", StatusCode::OK),
            ("leader", StatusCode::OK),
            ("admin", StatusCode::OK),
        ] {
            let token = login(&st, user).await;
            let (status, body) = call(
                &st,
                "POST",
                "/api/visits",
                Some(&token),
                Some(json!({"building": b, "outcome": "visited"})),
                &[],
            )
            .await;
            assert_eq!(status, want, "{user}: {body}");
        }
        assert_eq!(st.project().live().visits.len(), 3);
    });
}
