//! The HTTP API in process (no socket): sign-in, scope, grids with optimistic concurrency,
//! validation of candidate grids, visits with GPS flags, statistics, and the 4xx paths.

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

use std::path::Path;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use gridmap_server::{AppState, Settings, app, auth::hash_password};
use gridmap_store::{Change, GpkgStore, Mode, Store, User};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

fn demo(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/demo")
        .join(name)
}

const WORKER_GRID: &str = "310101001002-03";
const OTHER_GRID: &str = "310101001004-01";
const VILLAGE: &str = "310101001002";

fn state(dir: &Path) -> AppState {
    let mut s = GpkgStore::create(&dir.join("p.gpkg"), "310101001", "演示镇").unwrap();
    let fields = gridmap_io::Fields::default();
    s.set_town_boundary(&gridmap_io::read_boundary(&demo("town.geojson")).unwrap())
        .unwrap();
    let grids = gridmap_io::read_grids(&demo("grids.geojson"), &fields)
        .unwrap()
        .grids;
    s.import_grids(
        &grids,
        Mode::Append,
        &Change {
            who: "t".into(),
            why: "t".into(),
        },
    )
    .unwrap();
    s.import_buildings(
        &gridmap_io::read_buildings(&demo("buildings.geojson"), &fields).unwrap(),
        Mode::Append,
    )
    .unwrap();
    for (name, role, scope) in [
        ("admin", "admin", "310101001"),
        ("worker", "grid_worker", WORKER_GRID),
        ("leader", "grid_leader", WORKER_GRID),
        ("manager", "village_manager", VILLAGE),
    ] {
        s.put_user(&User {
            username: name.into(),
            role: role.into(),
            scope: scope.into(),
            password_hash: hash_password("secret-pass").unwrap(),
        })
        .unwrap();
    }
    AppState::new(s, Settings::default()).unwrap()
}

async fn call(
    state: &AppState,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
    extra: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let resp = app(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, json)
}

async fn login(state: &AppState, user: &str) -> String {
    let (status, body) = call(
        state,
        "POST",
        "/api/login",
        None,
        Some(json!({"username": user, "password": "secret-pass"})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn sign_in_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path());
    let (status, body) = call(&st, "GET", "/health", None, None, &[]).await;
    assert_eq!((status, body["grids"].as_u64()), (StatusCode::OK, Some(31)));
    let (status, _) = call(&st, "GET", "/api/grids", None, None, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&st, "GET", "/api/grids", Some("not-a-token"), None, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = call(
        &st,
        "POST",
        "/api/login",
        None,
        Some(json!({"username": "worker", "password": "wrong"})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!body.to_string().contains("secret"), "{body}");
    let token = login(&st, "worker").await;
    let (status, me) = call(&st, "GET", "/api/me", Some(&token), None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["scope"], WORKER_GRID);
    // Rate limit: five failures lock the username for the window.
    for _ in 0..5 {
        call(
            &st,
            "POST",
            "/api/login",
            None,
            Some(json!({"username": "manager", "password": "nope"})),
            &[],
        )
        .await;
    }
    let (status, _) = call(
        &st,
        "POST",
        "/api/login",
        None,
        Some(json!({"username": "manager", "password": "secret-pass"})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Malformed JSON is a 4xx, not a crash.
    let req = Request::builder()
        .method("POST")
        .uri("/api/login")
        .header("content-type", "application/json")
        .body(Body::from("{oops"))
        .unwrap();
    let resp = app(st.clone()).oneshot(req).await.unwrap();
    assert!(resp.status().is_client_error());
}

#[tokio::test]
async fn each_role_sees_only_its_part_of_the_org_tree() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path());
    for (user, want) in [("admin", 31), ("worker", 1), ("manager", 7)] {
        let token = login(&st, user).await;
        let (_, grids) = call(&st, "GET", "/api/grids", Some(&token), None, &[]).await;
        let codes: Vec<&str> = grids["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["properties"]["code"].as_str().unwrap())
            .collect();
        assert_eq!(codes.len(), want, "{user}: {codes:?}");
        if user == "manager" {
            assert!(codes.iter().all(|c| c.starts_with(VILLAGE)), "{codes:?}");
        }
        let (_, stats) = call(&st, "GET", "/api/stats?by=grid", Some(&token), None, &[]).await;
        assert_eq!(
            stats["rows"].as_array().unwrap().len(),
            want,
            "{user} stats"
        );
    }
    let token = login(&st, "worker").await;
    let (status, body) = call(
        &st,
        "GET",
        &format!("/api/grids/{OTHER_GRID}"),
        Some(&token),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body.get("geometry").is_none() && !body.to_string().contains("121."),
        "nothing leaked: {body}"
    );
    let (status, _) = call(&st, "GET", "/api/grids/NOPE", Some(&token), None, &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&st, "GET", "/api/stats?by=street", Some(&token), None, &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn visits_are_scoped_and_far_gps_points_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path());
    let token = login(&st, "worker").await;
    let p = st.project();
    let mine = (0..p.buildings.len())
        .find(|&i| p.grid_of(i) == Some(WORKER_GRID))
        .unwrap();
    let theirs = (0..p.buildings.len())
        .find(|&i| p.grid_of(i) == Some(OTHER_GRID))
        .unwrap();
    let at = p.location(mine).unwrap();
    let (id_mine, id_theirs) = (p.buildings[mine].id.clone(), p.buildings[theirs].id.clone());
    let households = p.buildings[mine].households;
    drop(p);
    let (status, body) = call(
        &st,
        "POST",
        "/api/visits",
        Some(&token),
        Some(json!({"building": id_mine, "outcome": "visited", "lon": at.x, "lat": at.y})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["flagged"].as_bool(), body["distance_m"].as_f64()),
        (Some(false), Some(0.0))
    );
    // 0.01° north is about 1.1 km away.
    let (_, body) = call(
        &st,
        "POST",
        "/api/visits",
        Some(&token),
        Some(json!({"building": id_mine, "outcome": "visited", "lon": at.x, "lat": at.y + 0.01})),
        &[],
    )
    .await;
    assert_eq!(body["flagged"], true);
    assert!(body["distance_m"].as_f64().unwrap() > 1000.0);
    let (status, _) = call(
        &st,
        "POST",
        "/api/visits",
        Some(&token),
        Some(json!({"building": id_theirs, "outcome": "visited"})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(
        &st,
        "POST",
        "/api/visits",
        Some(&token),
        Some(json!({"building": id_mine, "outcome": "maybe"})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, stats) = call(&st, "GET", "/api/stats?by=grid", Some(&token), None, &[]).await;
    let row = &stats["rows"][0];
    assert_eq!(row["grid"], WORKER_GRID);
    assert_eq!(row["visited_buildings"], 1);
    assert_eq!(row["visited_households"], households);
    assert_eq!(row["flagged_visits"], 1);
}

#[tokio::test]
async fn grid_edits_are_validated_and_never_lost() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path());
    let leader = login(&st, "leader").await;
    let worker = login(&st, "worker").await;
    let (_, grid) = call(
        &st,
        "GET",
        &format!("/api/grids/{WORKER_GRID}"),
        Some(&leader),
        None,
        &[],
    )
    .await;
    // A candidate that swallows a neighbour's area: grow the grid's bounding box a lot.
    let coords = grid["geometry"]["coordinates"][0][0].as_array().unwrap();
    let xs: Vec<f64> = coords.iter().map(|c| c[0].as_f64().unwrap()).collect();
    let ys: Vec<f64> = coords.iter().map(|c| c[1].as_f64().unwrap()).collect();
    let (x0, x1) = (
        xs.iter().cloned().fold(f64::MAX, f64::min) - 0.003,
        xs.iter().cloned().fold(f64::MIN, f64::max) + 0.003,
    );
    let (y0, y1) = (
        ys.iter().cloned().fold(f64::MAX, f64::min) - 0.003,
        ys.iter().cloned().fold(f64::MIN, f64::max) + 0.003,
    );
    let big = json!({"type": "Feature", "properties": {"code": WORKER_GRID}, "geometry": {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}});
    let (status, verdict) = call(
        &st,
        "POST",
        "/api/validate",
        Some(&leader),
        Some(json!({"feature": big})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{verdict}");
    assert_eq!(verdict["ok"], false);
    assert!(!verdict["overlaps"].as_array().unwrap().is_empty());
    assert!(
        !verdict["buildings_changing_grid"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Workers may not edit boundaries.
    let (status, _) = call(
        &st,
        "POST",
        "/api/validate",
        Some(&worker),
        Some(json!({"feature": big})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Saving the overlapping edit is refused without force; with a stale version, 412.
    let put =
        |feature: Value, force: bool| json!({"feature": feature, "reason": "test", "force": force});
    let (status, _) = call(
        &st,
        "PUT",
        &format!("/api/grids/{WORKER_GRID}"),
        Some(&leader),
        Some(put(big.clone(), false)),
        &[("if-match", "\"1\"")],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = call(
        &st,
        "PUT",
        &format!("/api/grids/{WORKER_GRID}"),
        Some(&leader),
        Some(put(grid.clone(), false)),
        &[],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::PRECONDITION_FAILED,
        "If-Match is required"
    );
    // A harmless save (same shape, new name) goes through and bumps the version.
    let mut renamed = grid.clone();
    renamed["properties"]["name"] = json!("改名网格");
    let (status, body) = call(
        &st,
        "PUT",
        &format!("/api/grids/{WORKER_GRID}"),
        Some(&leader),
        Some(put(renamed.clone(), false)),
        &[("if-match", "\"1\"")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], 2);
    // Someone still holding version 1 is told, not silently overwritten.
    let (status, body) = call(
        &st,
        "PUT",
        &format!("/api/grids/{WORKER_GRID}"),
        Some(&leader),
        Some(put(grid.clone(), false)),
        &[("if-match", "\"1\"")],
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("version 2"),
        "{body}"
    );
    // A self-intersecting polygon is a 400 with the reason.
    let bow = json!({"type": "Feature", "properties": {"code": WORKER_GRID}, "geometry": {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y1], [x1, y0], [x0, y1], [x0, y0]]]}});
    let (status, body) = call(
        &st,
        "PUT",
        &format!("/api/grids/{WORKER_GRID}"),
        Some(&leader),
        Some(put(bow, true)),
        &[("if-match", "\"2\"")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("self-intersection"),
        "{body}"
    );
    let (status, _) = call(
        &st,
        "PUT",
        &format!("/api/grids/{WORKER_GRID}"),
        Some(&leader),
        Some(json!({"feature": {"type": "Feature"}})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
