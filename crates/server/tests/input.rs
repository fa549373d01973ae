//! Nothing invalid is saved: every bad value an attacker sent is a 4xx JSON error naming the
//! field, and leaves the store as it was; concurrent visits never collide; the HTTP answers carry
//! the header policy. A property test throws arbitrary JSON at the grid, visit and partition
//! bodies: no panic, no 5xx.

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

use std::path::Path;

use axum::http::StatusCode;
use gridmap_server::{AppState, Settings};
use proptest::prelude::*;
use serde_json::{Value, json};

mod common;
use common::{add_user, call, demo_store, login, off_runtime, on_each_store, send};
use gridmap_store::ProjectStore;

const TOWN: &str = "310101001";
const VILLAGE: &str = "310101001002";
const GRID: &str = "310101001002-03";

fn state(dir: &Path) -> AppState {
    served(Box::new(demo_store(&dir.join("p.gpkg"))))
}

/// The demo town in `s` with this file's users, served.
fn served(mut s: Box<dyn ProjectStore>) -> AppState {
    for (name, role, scope) in [
        ("admin", "admin", TOWN),
        ("leader", "grid_leader", GRID),
        ("worker", "grid_worker", GRID),
        ("manager", "village_manager", VILLAGE),
        ("planner", "planner", TOWN),
    ] {
        add_user(s.as_mut(), name, role, scope);
    }
    AppState::with_store(s, Settings::default(), None).unwrap()
}

/// Everything a refused write must leave as it was: grids with their versions and geometry,
/// and visits, as the store holds them.
fn snapshot(st: &AppState) -> (Vec<gridmap_store::StoredGrid>, usize) {
    off_runtime(|| {
        let store = st.0.store.lock().unwrap();
        (store.grids().unwrap(), store.visits().unwrap().len())
    })
}

fn building_of(st: &AppState, code: &str) -> String {
    let p = st.project();
    let i = (0..p.buildings.len())
        .find(|&i| p.grid_of(i) == Some(code))
        .unwrap();
    p.buildings[i].id.clone()
}

fn feature(code: &str, geometry: Value) -> Value {
    json!({"type": "Feature", "properties": {"code": code}, "geometry": geometry})
}

/// The square east of the town where a new grid overlaps nothing.
fn free_square() -> Value {
    json!({"type": "Polygon", "coordinates": [[[121.55, 31.26], [121.552, 31.26], [121.552, 31.262], [121.55, 31.262], [121.55, 31.26]]]})
}

/// Asserts a 4xx JSON error whose message contains `needle`.
fn assert_rejected(status: StatusCode, body: &Value, needle: &str, what: &str) {
    assert!(status.is_client_error(), "{what}: {status} {body}");
    let message = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no JSON error: {body}"));
    assert!(
        message.contains(needle),
        "{what}: {message:?} lacks {needle:?}"
    );
}

#[test]
fn bad_geometries_are_refused_and_nothing_is_saved() {
    on_each_store(served, async |st: AppState| {
        let admin = login(&st, "admin").await;
        let before = snapshot(&st);
        let bad = [
            (json!({"type": "Polygon", "coordinates": []}), "empty"),
            (json!({"type": "Polygon", "coordinates": [[]]}), "positions"),
            (
                json!({"type": "MultiPolygon", "coordinates": []}),
                "at least one polygon",
            ),
            (
                json!({"type": "MultiPolygon", "coordinates": [[]]}),
                "outer ring",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[1e308, 31.2], [121.5, 31.2], [121.5, 31.21], [1e308, 31.2]]]}),
                "longitude",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[200, 31.2], [121.5, 31.2], [121.5, 31.21], [200, 31.2]]]}),
                "longitude",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[121.5, 100], [121.5, 31.2], [121.51, 31.21], [121.5, 100]]]}),
                "latitude",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[121.5, 31.2, 9], [121.51, 31.2, 9], [121.51, 31.21, 9], [121.5, 31.2, 9]]]}),
                "2D",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[121.5, 31.2], [121.51, 31.2], [121.51, 31.21], [121.5, 31.25]]]}),
                "not closed",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[0.5, 0.2], [0.51, 0.2], [0.51, 0.21], [0.5, 0.2]]]}),
                "far outside the town",
            ),
            (
                json!({"type": "Point", "coordinates": [121.5, 31.2]}),
                "Polygon or MultiPolygon",
            ),
            (json!(null), "type"),
            // A bow tie: well-formed, but self-intersecting.
            (
                json!({"type": "Polygon", "coordinates": [[[121.55, 31.26], [121.552, 31.262], [121.552, 31.26], [121.55, 31.262], [121.55, 31.26]]]}),
                "self-intersection",
            ),
        ];
        for (geometry, needle) in &bad {
            // Created as a new grid …
            let (status, body) = call(
                &st,
                "POST",
                "/api/grids",
                Some(&admin),
                Some(json!({"feature": feature(&format!("{VILLAGE}-90"), geometry.clone()), "reason": "x", "force": true})),
                &[],
            )
            .await;
            assert_rejected(status, &body, needle, &format!("POST {geometry}"));
            // … and put over a real grid (an empty polygon used to empty it).
            let (status, body) = call(
                &st,
                "PUT",
                &format!("/api/grids/{GRID}"),
                Some(&admin),
                Some(json!({"feature": feature(GRID, geometry.clone()), "reason": "x", "force": true})),
                &[("if-match", "\"1\"")],
            )
            .await;
            assert_rejected(status, &body, needle, &format!("PUT {geometry}"));
            let (status, body) = call(
                &st,
                "POST",
                "/api/validate",
                Some(&admin),
                Some(json!({"feature": feature(GRID, geometry.clone())})),
                &[],
            )
            .await;
            if *needle != "self-intersection" {
                assert_rejected(status, &body, needle, &format!("validate {geometry}"));
            }
        }
        assert_eq!(snapshot(&st), before);
    });
}

#[test]
fn bad_codes_and_names_are_refused() {
    on_each_store(served, async |st: AppState| {
        let admin = login(&st, "admin").await;
        let before = snapshot(&st);
        let long = "9".repeat(10_000);
        for (code, needle) in [
            ("", "empty"),
            ("310101001002-\u{0}1", "control or invisible"),
            ("310101001002-0\n1", "control or invisible"),
            ("310101001002-\u{200B}1", "control or invisible"),
            (long.as_str(), "longer than"),
            ("<script>alert(1)</script>", "may hold only"),
            ("310101001002-a b", "may hold only"),
            ("XYZ-01", "pattern"),
        ] {
            let mut f = feature(code, free_square());
            f["properties"]["village"] = json!(VILLAGE);
            let (status, body) = call(
                &st,
                "POST",
                "/api/grids",
                Some(&admin),
                Some(json!({"feature": f, "reason": "x"})),
                &[],
            )
            .await;
            assert_rejected(
                status,
                &body,
                needle,
                &format!("code {:?}", &code[..code.len().min(20)]),
            );
            assert!(
                !body.to_string().contains(&long),
                "a long code is echoed back"
            );
        }
        // Wrong types name the field.
        for (props, needle) in [
            (json!({"code": 5}), "code must be a string"),
            (
                json!({"code": format!("{VILLAGE}-90"), "name": ["x"]}),
                "name must be a string",
            ),
            (
                json!({"code": format!("{VILLAGE}-90"), "name": "a\u{202E}b"}),
                "name",
            ),
            (
                json!({"code": format!("{VILLAGE}-90"), "village": "no such"}),
                "village",
            ),
            (
                json!({"code": format!("{VILLAGE}-90"), "village": "999999999999"}),
                "not a village",
            ),
        ] {
            let f = json!({"type": "Feature", "properties": props, "geometry": free_square()});
            let (status, body) = call(
                &st,
                "POST",
                "/api/grids",
                Some(&admin),
                Some(json!({"feature": f, "reason": "x"})),
                &[],
            )
            .await;
            assert_rejected(status, &body, needle, &props.to_string());
        }
        // A reason is required, bounded and printable.
        for reason in [
            json!(null),
            json!("  "),
            json!("x".repeat(501)),
            json!("a\u{0}b"),
            json!(5),
        ] {
            let mut f = feature(&format!("{VILLAGE}-90"), free_square());
            f["properties"]["village"] = json!(VILLAGE);
            let (status, body) = call(
                &st,
                "POST",
                "/api/grids",
                Some(&admin),
                Some(json!({"feature": f, "reason": reason})),
                &[],
            )
            .await;
            assert!(
                status.is_client_error() && body["error"].is_string(),
                "reason {reason}: {status} {body}"
            );
        }
        assert_eq!(snapshot(&st), before);
        // The same grid with a good code and reason is saved.
        let mut f = feature(&format!("{VILLAGE}-90"), free_square());
        f["properties"]["village"] = json!(VILLAGE);
        let (status, body) = call(
            &st,
            "POST",
            "/api/grids",
            Some(&admin),
            Some(json!({"feature": f, "reason": "new estate"})),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    });
}

#[test]
fn bad_visits_are_refused_and_flags_are_the_servers() {
    on_each_store(served, async |st: AppState| {
        let worker = login(&st, "worker").await;
        let b = building_of(&st, GRID);
        let before = snapshot(&st);
        let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
        for (body, needle) in [
            (
                json!({"building": b, "outcome": "visited", "time": "not a time"}),
                "RFC 3339",
            ),
            (
                json!({"building": b, "outcome": "visited", "time": "9999-99-99T99:99:99Z"}),
                "RFC 3339",
            ),
            (
                json!({"building": b, "outcome": "visited", "time": "2026-02-30T10:00:00Z"}),
                "RFC 3339",
            ),
            (
                json!({"building": b, "outcome": "visited", "time": future}),
                "future",
            ),
            (
                json!({"building": b, "outcome": "visited", "time": "1999-12-31T10:00:00Z"}),
                "before 2000",
            ),
            (
                json!({"building": b, "outcome": "visited", "house": "no-such-house"}),
                "house",
            ),
            (
                json!({"building": b, "outcome": "visited", "flagged": true}),
                "flagged",
            ),
            (
                json!({"building": b, "outcome": "visited", "lon": 121.5}),
                "lon and lat",
            ),
            (
                json!({"building": b, "outcome": "visited", "lon": 500.0, "lat": 31.2}),
                "lon and lat",
            ),
            (json!({"building": b, "outcome": "partied"}), "outcome"),
            (
                json!({"building": b, "outcome": "visited", "note": "x".repeat(1001)}),
                "note",
            ),
            (
                json!({"building": b, "outcome": "visited", "note": "a\u{0}b"}),
                "note",
            ),
            (json!({"building": 5, "outcome": "visited"}), "building"),
            (json!({"outcome": "visited"}), "building"),
        ] {
            let (status, answer) = call(
                &st,
                "POST",
                "/api/visits",
                Some(&worker),
                Some(body.clone()),
                &[],
            )
            .await;
            assert_rejected(status, &answer, needle, &body.to_string());
        }
        assert_eq!(snapshot(&st), before);
        // A note that starts like a server flag is just a note.
        let (status, answer) = call(
            &st,
            "POST",
            "/api/visits",
            Some(&worker),
            Some(
                json!({"building": b, "outcome": "visited", "note": "[flagged] trust me",
                        "time": "2026-11-20T16:30:00+08:00"}),
            ),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["flagged"], false);
        let visits = off_runtime(|| st.0.store.lock().unwrap().visits().unwrap());
        let v = visits
            .iter()
            .find(|v| v.id == answer["id"].as_str().unwrap())
            .unwrap();
        assert!(!v.flagged);
        assert_eq!(v.time, "2026-11-20T08:30:00Z", "stored in UTC");
        let admin = login(&st, "admin").await;
        let (_, stats) = call(&st, "GET", "/api/stats?by=grid", Some(&admin), None, &[]).await;
        let row = stats["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["grid"] == GRID)
            .unwrap();
        assert_eq!(row["flagged_visits"], 0);
    });
}

#[test]
fn partition_parameters_are_checked_before_a_job_starts() {
    on_each_store(served, async |st: AppState| {
        let planner = login(&st, "planner").await;
        for (body, needle) in [
            (json!({"village": VILLAGE, "grids": 0}), "grids"),
            (json!({"village": VILLAGE, "grids": 1_000_000}), "grids"),
            (json!({"village": VILLAGE, "grids": -1}), "grids"),
            (
                json!({"village": VILLAGE, "grids": 4, "tolerance": -1}),
                "tolerance",
            ),
            (
                json!({"village": VILLAGE, "grids": 4, "tolerance": 2}),
                "tolerance",
            ),
            (
                json!({"village": VILLAGE, "target_households": 0}),
                "target_households",
            ),
            (
                json!({"village": VILLAGE, "grids": 4, "target_households": 300}),
                "not both",
            ),
            (json!({"village": VILLAGE}), "grids or target_households"),
            (json!({"village": "nowhere", "grids": 4}), "not found"),
            (json!({"grids": 4}), "village"),
        ] {
            let (status, answer) = call(
                &st,
                "POST",
                "/api/partition",
                Some(&planner),
                Some(body.clone()),
                &[],
            )
            .await;
            assert_rejected(status, &answer, needle, &body.to_string());
        }
    });
}

/// 64 visits to one building at once: each answered 200, each a row (ids used to be built from
/// a count, and half of them collided and were lost).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_visits_to_one_building_are_all_kept() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path());
    let worker = login(&st, "worker").await;
    let b = building_of(&st, GRID);
    let mut tasks = Vec::new();
    for n in 0..64 {
        let (st, worker, b) = (st.clone(), worker.clone(), b.clone());
        tasks.push(tokio::spawn(async move {
            call(
                &st,
                "POST",
                "/api/visits",
                Some(&worker),
                Some(json!({"building": b, "outcome": "visited", "note": format!("visit {n}")})),
                &[],
            )
            .await
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        ids.insert(body["id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 64);
    let rows = off_runtime(|| st.0.store.lock().unwrap().visits().unwrap());
    assert_eq!(
        rows.iter()
            .filter(|v| v.building.as_deref() == Some(b.as_str()))
            .count(),
        64
    );
}

/// A visit sent again with its `client_id` (an offline phone that lost the answer, two tabs,
/// a retry racing the first send) is recorded once: every send answers 200, the later ones
/// with `duplicate: true`; another worker cannot take the id; a malformed id is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_visit_sent_again_with_its_client_id_is_recorded_once() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path());
    let worker = login(&st, "worker").await;
    let leader = login(&st, "leader").await;
    let b = building_of(&st, GRID);
    let before = off_runtime(|| st.0.store.lock().unwrap().visits().unwrap()).len();
    let body = json!({"building": b, "outcome": "nobody_home", "time": "2026-11-20T08:00:00Z",
                      "client_id": "0b8e6c2a-5f7e-4c47-9a55-0d6f1f8e2b11"});
    // Eight sends at once, as a flaky network might make them.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (st, worker, body) = (st.clone(), worker.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            call(&st, "POST", "/api/visits", Some(&worker), Some(body), &[]).await
        }));
    }
    let mut duplicates = 0;
    for t in tasks {
        let (status, answer) = t.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["id"], "visit-0b8e6c2a-5f7e-4c47-9a55-0d6f1f8e2b11");
        duplicates += usize::from(answer["duplicate"] == true);
    }
    assert_eq!(duplicates, 7, "exactly the first send records");
    let rows = off_runtime(|| st.0.store.lock().unwrap().visits().unwrap());
    assert_eq!(rows.len(), before + 1);
    let kept = rows
        .iter()
        .find(|v| v.id.ends_with("0b8e6c2a-5f7e-4c47-9a55-0d6f1f8e2b11"));
    assert_eq!(kept.map(|v| v.time.as_str()), Some("2026-11-20T08:00:00Z"));
    // The in-memory state counts it once too.
    assert_eq!(st.project().live().visits.len(), before + 1);
    // Another worker sending the same id is told so, and nothing is written.
    let (status, answer) = call(
        &st,
        "POST",
        "/api/visits",
        Some(&leader),
        Some(body.clone()),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    for bad in ["", "has space", "ü", &"x".repeat(65), "a/b"] {
        let mut b2 = body.clone();
        b2["client_id"] = json!(bad);
        let (status, answer) = call(&st, "POST", "/api/visits", Some(&worker), Some(b2), &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains("client_id"),
            "{answer}"
        );
    }
    assert_eq!(
        off_runtime(|| st.0.store.lock().unwrap().visits().unwrap()).len(),
        before + 1
    );
}

/// axum's own rejections come as the API's JSON errors, with their status.
#[test]
fn framework_rejections_are_json() {
    on_each_store(served, async |st: AppState| {
        let admin = login(&st, "admin").await;
        let auth = format!("Bearer {admin}");
        // Malformed JSON, a body that is no JSON object, no content type, a wrong type.
        for (body, ctype, want) in [
            ("{", "application/json", 400),
            ("[1,2]", "application/json", 400),
            (
                "{\"building\": \"x\", \"outcome\": \"visited\"}",
                "text/plain",
                415,
            ),
            (
                "{\"building\": \"x\", \"outcome\": 5}",
                "application/json",
                400,
            ),
        ] {
            let req = axum::http::Request::builder()
                .method("POST")
                .uri("/api/visits")
                .header("authorization", &auth)
                .header("content-type", ctype)
                .body(axum::body::Body::from(body))
                .unwrap();
            let (status, json) = common::oneshot_json(&st, req).await;
            assert_eq!(status.as_u16(), want, "{body}: {json}");
            assert!(json["error"].is_string(), "{body}: {json}");
        }
        for (method, uri, want) in [
            ("GET", "/api/no-such-thing", 404),
            ("DELETE", "/api/stats", 405),
            ("GET", "/tiles/grids/abc/1/2.mvt", 400),
            ("GET", "/api/uncovered?eps=abc", 400),
        ] {
            let (status, _, bytes) = send(&st, method, uri, Some(&admin), None, &[]).await;
            let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            assert_eq!(status.as_u16(), want, "{method} {uri}: {json}");
            assert!(json["error"].is_string(), "{method} {uri}: {json}");
        }
    });
}

#[test]
fn answers_carry_the_header_policy() {
    on_each_store(served, async |st: AppState| {
        let worker = login(&st, "worker").await;
        let b = building_of(&st, GRID);
        for uri in [
            "/api/me".to_string(),
            format!("/api/buildings/{b}"),
            "/api/stats".into(),
        ] {
            let (status, h, _) = send(&st, "GET", &uri, Some(&worker), None, &[]).await;
            assert_eq!(status, StatusCode::OK, "{uri}");
            assert_eq!(h["cache-control"], "no-store", "{uri}");
            assert_eq!(h["x-content-type-options"], "nosniff", "{uri}");
            assert_eq!(h["x-frame-options"], "DENY", "{uri}");
            assert_eq!(h["referrer-policy"], "no-referrer", "{uri}");
            let csp = h["content-security-policy"].to_str().unwrap();
            assert!(
                csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
                "{csp}"
            );
        }
        // The web app's inline import map is allowed by its hash, nothing else inline.
        let csp = gridmap_server::content_security_policy(gridmap_server::webapp::index_html());
        let csp = csp.to_str().unwrap();
        assert_eq!(csp.matches("'sha256-").count(), 1, "{csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
    });
}

/// Any JSON at all, up to a small depth.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        prop_oneof![
            Just(1e308),
            Just(-1e308),
            Just(200.0),
            Just(121.5),
            Just(31.24),
            Just(0.0)
        ]
        .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        Just(Value::from(VILLAGE)),
        Just(Value::from(GRID)),
        Just(Value::from("Polygon")),
        Just(Value::from("visited")),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("type".to_string()),
                    Just("coordinates".to_string()),
                    Just("properties".to_string()),
                    Just("geometry".to_string()),
                    Just("code".to_string()),
                    Just("village".to_string()),
                    "[a-z]{1,8}",
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A valid body of each kind with one field replaced by anything.
fn mutated(base: Value, value: Value, key: usize) -> Value {
    let mut base = base;
    fn paths(v: &Value, at: Vec<String>, out: &mut Vec<Vec<String>>) {
        if let Value::Object(m) = v {
            for (k, x) in m {
                let mut p = at.clone();
                p.push(k.clone());
                out.push(p.clone());
                paths(x, p, out);
            }
        }
    }
    let mut all = Vec::new();
    paths(&base, Vec::new(), &mut all);
    let path = &all[key % all.len()];
    let mut slot = &mut base;
    for k in path {
        slot = slot.get_mut(k).unwrap();
    }
    *slot = value;
    base
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// No body makes the server panic or answer 5xx, and a refused one saves nothing.
    #[test]
    fn arbitrary_bodies_never_fail_the_server(
        value in any_json(),
        key in any::<usize>(),
        route in 0usize..5,
        whole in any::<bool>(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let taken = FUZZ.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
            let (dir, st, admin) = match taken {
                Some(shared) => shared,
                None => {
                    let dir = tempfile::tempdir().unwrap();
                    let st = state(dir.path());
                    let admin = login(&st, "admin").await;
                    (dir, st, admin)
                }
            };
            let b = building_of(&st, GRID);
            let grid = json!({"feature": {"type": "Feature", "properties": {"code": format!("{VILLAGE}-90"), "village": VILLAGE}, "geometry": free_square()}, "reason": "r", "force": false});
            let (method, uri, base, extra): (&str, String, Value, Vec<(&str, &str)>) = match route {
                0 => ("POST", "/api/grids".into(), grid, vec![]),
                1 => ("PUT", format!("/api/grids/{GRID}"), json!({"feature": {"type": "Feature", "properties": {"code": GRID}, "geometry": free_square()}, "reason": "r", "force": true}), vec![("if-match", "\"1\"")]),
                2 => ("POST", "/api/visits".into(), json!({"building": b, "outcome": "visited", "time": "2026-11-20T08:00:00Z", "lon": 121.49, "lat": 31.24, "note": "n"}), vec![]),
                3 => ("POST", "/api/partition".into(), json!({"village": VILLAGE, "grids": 0, "tolerance": 0.05}), vec![]),
                _ => ("POST", "/api/validate".into(), json!({"feature": {"type": "Feature", "properties": {"code": GRID}, "geometry": free_square()}}), vec![]),
            };
            let body = if whole { value.clone() } else { mutated(base, value.clone(), key) };
            let before = snapshot(&st);
            let (status, answer) = call(&st, method, &uri, Some(&admin), Some(body.clone()), &extra).await;
            prop_assert!(!status.is_server_error(), "{method} {uri} {body}: {status} {answer}");
            if status.is_client_error() {
                prop_assert!(answer["error"].is_string(), "{method} {uri} {body}: {answer}");
                prop_assert_eq!(snapshot(&st), before, "{} {} {}: refused but saved", method, uri, body);
                // Nothing changed: the next case may use the same project.
                *FUZZ.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((dir, st, admin));
            }
            Ok(())
        })?;
    }
}

/// The project the fuzz cases share while they change nothing: (its folder, the state, an
/// admin's token). A case that saved something drops it, and the next builds a fresh one.
type Shared = (tempfile::TempDir, AppState, String);
static FUZZ: std::sync::Mutex<Option<Shared>> = std::sync::Mutex::new(None);
