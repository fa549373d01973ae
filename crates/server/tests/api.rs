//! The HTTP API in process (no socket): sign-in, scope, grids with optimistic concurrency,
//! validation of candidate grids, visits with GPS flags, statistics, and the 4xx paths.

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

use std::path::Path;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use gridmap_server::{AppState, Settings, app};
use serde_json::{Value, json};
use tower::ServiceExt;

mod common;
use common::{add_user, call, demo_store, login, off_runtime, send};
use gridmap_store::ProjectStore;

const WORKER_GRID: &str = "310101001002-03";
const OTHER_GRID: &str = "310101001004-01";
const VILLAGE: &str = "310101001002";

fn state(dir: &Path) -> AppState {
    served(Box::new(demo_store(&dir.join("p.gpkg"))))
}

/// The demo town in `store` with this file's users, served.
fn served(mut store: Box<dyn ProjectStore>) -> AppState {
    for (name, role, scope) in [
        ("admin", "admin", "310101001"),
        ("worker", "grid_worker", WORKER_GRID),
        ("leader", "grid_leader", WORKER_GRID),
        ("manager", "village_manager", VILLAGE),
    ] {
        add_user(store.as_mut(), name, role, scope);
    }
    AppState::with_store(store, Settings::default(), None).unwrap()
}

fn on_each_store(body: impl AsyncFn(AppState)) {
    common::on_each_store(served, body)
}

#[test]
fn sign_in_and_tokens() {
    on_each_store(async |st: AppState| {
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
        // Rate limit: after five failures the client (here: every in-process request, which has no
        // address) must wait, 429 even with the right password; see tests/signin.rs for clients
        // with addresses, where another client still signs in.
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
    });
}

#[test]
fn each_role_sees_only_its_part_of_the_org_tree() {
    on_each_store(async |st: AppState| {
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
    });
}

#[test]
fn visits_are_scoped_and_far_gps_points_flagged() {
    on_each_store(async |st: AppState| {
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
            Some(
                json!({"building": id_mine, "outcome": "visited", "lon": at.x, "lat": at.y + 0.01}),
            ),
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
    });
}

#[test]
fn grid_edits_are_validated_and_never_lost() {
    on_each_store(async |st: AppState| {
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
        // It takes buildings from grids the leader may not see: counted, refused, not named.
        assert!(
            verdict["summary"]["buildings_changing_grid"]
                .as_u64()
                .unwrap()
                > 0
        );
        assert!(
            !verdict["refused"].as_array().unwrap().is_empty(),
            "{verdict}"
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
        let put = |feature: Value, force: bool| json!({"feature": feature, "reason": "test", "force": force});
        let (status, _) = call(
            &st,
            "PUT",
            &format!("/api/grids/{WORKER_GRID}"),
            Some(&leader),
            Some(put(big.clone(), true)),
            &[("if-match", "\"1\"")],
        )
        .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "a leader may not take a neighbour's buildings, even with force"
        );
        let admin = login(&st, "admin").await;
        let (status, body) = call(
            &st,
            "PUT",
            &format!("/api/grids/{WORKER_GRID}"),
            Some(&admin),
            Some(put(big.clone(), false)),
            &[("if-match", "\"1\"")],
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
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
    });
}

async fn raw(
    state: &AppState,
    uri: &str,
    token: &str,
    extra: &[(&str, &str)],
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    send(state, "GET", uri, Some(token), None, extra).await
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn vector_tiles_are_scoped_cached_and_invalidated_by_edits() {
    on_each_store(async |st: AppState| {
        let worker = login(&st, "worker").await;
        let admin = login(&st, "admin").await;
        let p = st.project();
        let mine = (0..p.buildings.len())
            .find(|&i| p.grid_of(i) == Some(WORKER_GRID))
            .unwrap();
        let at = p.location(mine).unwrap();
        let tile = gridmap_tiles::TileId::containing(at, 16).unwrap();
        // Buildings of other grids in the same tile, which the worker must not receive.
        let area = tile.bounds_lonlat();
        let others: Vec<String> = (0..p.buildings.len())
            .filter(|&i| {
                p.grid_of(i).is_some_and(|g| g != WORKER_GRID)
                    && p.location(i)
                        .is_some_and(|c| geo::Intersects::intersects(&area, &c))
            })
            .map(|i| p.buildings[i].id.clone())
            .collect();
        let mine_id = p.buildings[mine].id.clone();
        drop(p);
        let uri = format!("/tiles/buildings/{}/{}/{}.mvt", tile.z, tile.x, tile.y);
        let (status, headers, body) = raw(&st, &uri, &worker, &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            headers["content-type"],
            "application/vnd.mapbox-vector-tile"
        );
        assert!(
            contains(&body, &mine_id),
            "the worker's own building is in the tile"
        );
        assert!(
            others.iter().all(|o| !contains(&body, o)),
            "no building of another grid leaks into the worker's tile"
        );
        let (_, _, admin_body) = raw(&st, &uri, &admin, &[]).await;
        assert!(
            others.iter().all(|o| contains(&admin_body, o)),
            "the admin sees them all"
        );
        let shapes_before = st.project().building_shapes.clone();
        // ETag / If-None-Match.
        let etag = headers["etag"].to_str().unwrap().to_string();
        let (status, _, _) = raw(&st, &uri, &worker, &[("if-none-match", &etag)]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        // A visit to the building changes its tile: the cached one is dropped.
        call(
            &st,
            "POST",
            "/api/visits",
            Some(&worker),
            Some(json!({"building": mine_id, "outcome": "visited"})),
            &[],
        )
        .await;
        let (status, headers, body) = raw(&st, &uri, &worker, &[("if-none-match", &etag)]).await;
        assert_eq!(status, StatusCode::OK, "the edit invalidated the tile");
        assert_ne!(headers["etag"].to_str().unwrap(), etag);
        assert!(contains(&body, "visited"));
        // It was written from the footprints encoded for the first request, which the worker
        // and the admin share and the visit left in place.
        let shapes = &st.project().building_shapes;
        assert!(std::sync::Arc::ptr_eq(shapes, &shapes_before));
        assert_eq!(
            shapes.len(),
            1,
            "one tile's shapes, made once for both users"
        );
        // Empty, bad and unknown tiles.
        let (status, _, _) = raw(&st, "/tiles/buildings/16/0/0.mvt", &admin, &[]).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _, _) = raw(&st, "/tiles/buildings/25/0/0.mvt", &admin, &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _, _) = raw(&st, "/tiles/buildings/3/8/0.mvt", &admin, &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "x out of range at z3");
        let (status, _, _) = raw(&st, "/tiles/roads/3/1/1.mvt", &admin, &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _, body) = raw(&st, "/tiles/grids.json", &admin, &[]).await;
        assert_eq!(status, StatusCode::OK);
        let tj: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(tj["tilejson"], "3.0.0");
        // Problems: the planted overlap is a feature for the admin.
        let o = st.project().report.overlaps[0].geometry.0[0].exterior().0[0];
        let t = gridmap_tiles::TileId::containing(o, 15).unwrap();
        let (status, _, body) = raw(
            &st,
            &format!("/tiles/problems/15/{}/{}.mvt", t.x, t.y),
            &admin,
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(contains(&body, "overlap"));
    });
}

#[test]
fn heatmaps_and_legends() {
    on_each_store(async |st: AppState| {
        let admin = login(&st, "admin").await;
        let at = st.project().location(0).unwrap();
        let t = gridmap_tiles::TileId::containing(at, 15).unwrap();
        for kind in ["visited", "unvisited", "coverage"] {
            let (status, headers, body) = raw(
                &st,
                &format!("/heatmap/{kind}/15/{}/{}.png", t.x, t.y),
                &admin,
                &[],
            )
            .await;
            if kind == "visited" {
                // Nothing visited yet: an empty tile.
                assert_eq!(status, StatusCode::NO_CONTENT, "{kind}");
                continue;
            }
            assert_eq!(status, StatusCode::OK, "{kind}");
            assert_eq!(headers["content-type"], "image/png");
            assert_eq!(&body[1..4], b"PNG");
            let (status, _, legend) =
                raw(&st, &format!("/heatmap/{kind}/legend.json"), &admin, &[]).await;
            assert_eq!(status, StatusCode::OK);
            assert!(serde_json::from_slice::<Value>(&legend).unwrap()["stops"].is_array());
        }
        let (status, _, _) = raw(&st, "/heatmap/rainbow/legend.json", &admin, &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    });
}

#[test]
fn ogc_api_features_and_exports() {
    on_each_store(async |st: AppState| {
        let worker = login(&st, "worker").await;
        let admin = login(&st, "admin").await;
        let (_, c) = call(&st, "GET", "/collections", Some(&admin), None, &[]).await;
        assert_eq!(c["collections"].as_array().unwrap().len(), 7);
        let (_, page) = call(
            &st,
            "GET",
            "/collections/buildings/items?limit=5",
            Some(&admin),
            None,
            &[],
        )
        .await;
        assert_eq!(page["numberReturned"], 5);
        assert!(page["numberMatched"].as_u64().unwrap() > 1000);
        assert!(
            page["links"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["rel"] == "next")
        );
        let (_, mine) = call(
            &st,
            "GET",
            "/collections/buildings/items?limit=10000",
            Some(&worker),
            None,
            &[],
        )
        .await;
        let features = mine["features"].as_array().unwrap();
        assert!(!features.is_empty());
        assert!(
            features
                .iter()
                .all(|f| f["properties"]["grid"] == WORKER_GRID),
            "only the worker's grid"
        );
        let (status, _) = call(
            &st,
            "GET",
            "/collections/buildings/items?bbox=1,2,3",
            Some(&admin),
            None,
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (_, boxed) = call(
            &st,
            "GET",
            "/collections/grids/items?bbox=121.48,31.24,121.49,31.25",
            Some(&admin),
            None,
            &[],
        )
        .await;
        let n = boxed["numberMatched"].as_u64().unwrap();
        assert!(n > 0 && n < 31, "{n}");
        let (status, headers, csv) = raw(&st, "/api/stats.csv?by=village", &admin, &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        let text = String::from_utf8(csv).unwrap();
        assert!(
            text.starts_with("village,rank,buildings,households"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 1 + 6);
        // The monthly report as XLSX, read back with an independent reader.
        let (status, _, xlsx) = raw(&st, "/api/stats.xlsx?by=grid", &admin, &[]).await;
        assert_eq!(status, StatusCode::OK);
        use calamine::{DataType, Reader};
        let mut book: calamine::Xlsx<_> =
            calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx)).unwrap();
        // One sheet per level, the one asked for first.
        assert_eq!(
            book.sheet_names(),
            ["走访统计（按网格）", "走访统计（按村社区）"]
        );
        let range = book.worksheet_range("走访统计（按网格）").unwrap();
        assert_eq!(
            range.height(),
            3 + 31,
            "a title, the campaign line, a header and one row per grid"
        );
        let title = range.get((0, 0)).unwrap().to_string();
        assert!(
            title.contains("演示镇") && title.contains("入户走访统计"),
            "{title}"
        );
        let line = range.get((1, 0)).unwrap().to_string();
        assert!(
            line.contains("走访活动") && line.contains("人房关联率"),
            "{line}"
        );
        let header: Vec<String> = (0..5)
            .map(|c| range.get((2, c)).unwrap().to_string())
            .collect();
        assert_eq!(
            header,
            ["排名", "网格编码", "网格名称", "所属村（社区）", "建筑数"]
        );
        let rate_column = (0..range.width())
            .find(|&c| *range.get((2, c)).unwrap() == "入户走访率")
            .unwrap();
        for r in 3..range.height() {
            // Rates are numbers (shown as percentages), names are filled in.
            let rate = range.get((r, rate_column)).unwrap().get_float().unwrap();
            assert!((0.0..=1.0).contains(&rate), "{rate}");
            assert!(
                !range.get((r, 3)).unwrap().to_string().is_empty(),
                "row {r} has its village"
            );
        }
        let (_, headers, xlsx) = raw(&st, "/api/stats.xlsx?by=village", &admin, &[]).await;
        assert!(
            headers["content-disposition"]
                .to_str()
                .unwrap()
                .contains("filename*=UTF-8''%E8%B5%B0%E8%AE%BF"),
            "a Chinese file name"
        );
        let mut book: calamine::Xlsx<_> =
            calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx)).unwrap();
        assert_eq!(book.sheet_names()[0], "走访统计（按村社区）");
        let range = book.worksheet_range("走访统计（按村社区）").unwrap();
        assert_eq!(range.get((2, 2)).unwrap().to_string(), "村（社区）名称");
        assert!(!range.get((3, 2)).unwrap().to_string().is_empty());
    });
}

#[test]
fn grids_are_created_and_deleted_with_history() {
    on_each_store(async |st: AppState| {
        let admin = login(&st, "admin").await;
        let far = json!({"type": "Feature", "properties": {"code": "310101001002-91", "village": VILLAGE}, "geometry": {"type": "Polygon", "coordinates": [[[121.55, 31.26], [121.56, 31.26], [121.56, 31.27], [121.55, 31.27], [121.55, 31.26]]]}});
        let (status, body) = call(
            &st,
            "POST",
            "/api/grids",
            Some(&admin),
            Some(json!({"feature": far, "reason": "new estate"})),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["version"], 1);
        let (status, _) = call(
            &st,
            "POST",
            "/api/grids",
            Some(&admin),
            Some(json!({"feature": far, "reason": "again"})),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT);
        let (status, _) = call(
            &st,
            "DELETE",
            "/api/grids/310101001002-91?reason=merged",
            Some(&admin),
            None,
            &[],
        )
        .await;
        assert_eq!(
            status,
            StatusCode::PRECONDITION_FAILED,
            "If-Match is required"
        );
        let (status, _) = call(
            &st,
            "DELETE",
            "/api/grids/310101001002-91?reason=merged",
            Some(&admin),
            None,
            &[("if-match", "\"1\"")],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = call(
            &st,
            "GET",
            "/api/grids/310101001002-91",
            Some(&admin),
            None,
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let h = off_runtime(|| {
            let store = st.0.store.lock().unwrap();
            store.grid_history("310101001002-91").unwrap()
        });
        assert_eq!(
            h.iter().map(|v| v.action.as_str()).collect::<Vec<_>>(),
            ["created", "deleted"]
        );
        assert_eq!(h[1].who, "admin");
    });
}

#[test]
fn the_openapi_document_describes_every_route() {
    on_each_store(async |st: AppState| {
        let (status, doc) = call(&st, "GET", "/api/openapi.json", None, None, &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(doc["openapi"], "3.1.0");
        let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
            .unwrap();
        // Every `.route("…", …)` in the router has an entry, with each of its methods (the
        // router's text without white space: `.route("/p",get(h).post(h2))`).
        let lib: String = lib.chars().filter(|c| !c.is_whitespace()).collect();
        let mut described = 0;
        for route in lib.split(".route(\"").skip(1) {
            let path = route.split('"').next().unwrap();
            if path == "/api/{*rest}" {
                continue;
            }
            let methods: Vec<&str> = ["get", "post", "put", "delete"]
                .into_iter()
                .filter(|m| {
                    route.contains(&format!("\",{m}(")) || route.contains(&format!(".{m}("))
                })
                .collect();
            assert!(!methods.is_empty(), "no method found for {path}");
            for m in methods {
                let op = &doc["paths"][path][m];
                assert!(op.is_object(), "{m} {path} is not in the OpenAPI document");
                assert!(
                    op["responses"]["200"].is_object(),
                    "{m} {path}: no 200 answer"
                );
                described += 1;
            }
        }
        assert!(
            described >= 45,
            "only {described} operations found in the router"
        );
        // Answers and bodies are described by their types.
        let schemas = &doc["components"]["schemas"];
        for name in [
            "StatsTable",
            "StatsRow",
            "NewVisit",
            "GridBody",
            "PlanRequest",
            "Progress",
            "Role",
        ] {
            assert!(schemas[name].is_object(), "no schema {name}");
        }
        assert_eq!(
            doc["paths"]["/api/stats"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
                ["$ref"],
            "#/components/schemas/StatsTable"
        );
        assert_eq!(doc["paths"]["/health"]["get"]["security"], json!([{}]));
        assert!(doc["paths"]["/api/stats"]["get"]["responses"]["401"].is_object());
    });
}

/// Every error carries a stable `code` beside its message, for clients to word it in their
/// user's language.
#[test]
fn errors_carry_a_stable_code() {
    on_each_store(async |st: AppState| {
        let worker = login(&st, "worker").await;
        for (method, uri, token, body, status, code) in [
            (
                "GET",
                "/api/stats",
                None,
                None,
                StatusCode::UNAUTHORIZED,
                "unauthorized",
            ),
            (
                "GET",
                "/api/grids/NOPE",
                Some(&worker),
                None,
                StatusCode::NOT_FOUND,
                "not_found",
            ),
            (
                "GET",
                "/api/stats?by=village",
                Some(&worker),
                None,
                StatusCode::FORBIDDEN,
                "forbidden",
            ),
            (
                "GET",
                "/api/uncovered?eps=0",
                Some(&worker),
                None,
                StatusCode::BAD_REQUEST,
                "bad_request",
            ),
            (
                "GET",
                "/api/nowhere",
                Some(&worker),
                None,
                StatusCode::NOT_FOUND,
                "invalid_request",
            ),
            (
                "POST",
                "/api/visits",
                Some(&worker),
                Some(json!({"building": 3})),
                StatusCode::BAD_REQUEST,
                "invalid_request",
            ),
        ] {
            let (got, answer) = call(&st, method, uri, token.map(String::as_str), body, &[]).await;
            assert_eq!(
                (got, answer["code"].as_str()),
                (status, Some(code)),
                "{method} {uri}: {answer}"
            );
            assert!(answer["error"].is_string());
        }
    });
}

#[test]
fn uncovered_blocks_for_the_supervisors_list() {
    on_each_store(async |st: AppState| {
        let admin = login(&st, "admin").await;
        let worker = login(&st, "worker").await;
        let (status, all) = call(
            &st,
            "GET",
            "/api/uncovered?eps=50&limit=10000",
            Some(&admin),
            None,
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let features = all["features"].as_array().unwrap();
        let count = |kind: &str| -> u64 {
            features
                .iter()
                .filter(|f| f["properties"]["kind"] == kind)
                .map(|f| f["properties"]["buildings"].as_u64().unwrap())
                .sum()
        };
        let p = st.project();
        let assigned = (0..p.buildings.len())
            .filter(|&i| p.grid_of(i).is_some())
            .count() as u64;
        assert_eq!(
            count("unvisited"),
            assigned,
            "nothing visited yet: every assigned building is in a block"
        );
        assert_eq!(count("in_no_grid"), p.report.in_no_grid.len() as u64);
        assert_eq!(count("in_many_grids"), p.report.in_many_grids.len() as u64);
        // Blocks are listed largest first.
        let hh: Vec<u64> = features
            .iter()
            .filter(|f| f["properties"]["kind"] == "unvisited")
            .map(|f| f["properties"]["households"].as_u64().unwrap())
            .collect();
        assert!(hh.windows(2).all(|w| w[0] >= w[1]));
        // Each unvisited block lies in one grid and says which, with its village and their names;
        // the others say their village.
        for f in features {
            let props = &f["properties"];
            if props["kind"] == "unvisited" {
                let grid = props["grid"]
                    .as_str()
                    .expect("an unvisited block names its grid");
                let g = p.grid(grid).unwrap();
                assert_eq!(props["village"].as_str(), g.grid.village.as_deref());
                assert_eq!(props["grid_name"].as_str(), g.grid.name.as_deref());
                for id in props["building_ids"].as_array().unwrap() {
                    let i = p.building_by_id[id.as_str().unwrap()] as usize;
                    assert_eq!(p.grid_of(i), Some(grid), "{id} is not in {grid}");
                }
                let village = p
                    .villages
                    .iter()
                    .find(|v| Some(v.code.as_str()) == props["village"].as_str());
                if let Some(v) = village {
                    assert_eq!(props["village_name"], v.name.as_str());
                }
            } else {
                assert!(props["grid"].is_null());
            }
        }
        // A worker sees only their grid's unvisited buildings and no town-wide gaps.
        let (_, mine) = call(
            &st,
            "GET",
            "/api/uncovered?limit=10000",
            Some(&worker),
            None,
            &[],
        )
        .await;
        let mine = mine["features"].as_array().unwrap();
        assert!(mine.iter().all(|f| f["properties"]["kind"] == "unvisited"));
        let in_grid = (0..p.buildings.len())
            .filter(|&i| p.grid_of(i) == Some(WORKER_GRID))
            .count() as u64;
        assert_eq!(
            mine.iter()
                .map(|f| f["properties"]["buildings"].as_u64().unwrap())
                .sum::<u64>(),
            in_grid
        );
        let (status, _) = call(&st, "GET", "/api/uncovered?eps=0", Some(&admin), None, &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    });
}

/// Polls a partition job until it is no longer running.
async fn finished(st: &AppState, token: &str, job: &str) -> Value {
    for _ in 0..600 {
        let (_, s) = call(
            st,
            "GET",
            &format!("/api/partition/{job}"),
            Some(token),
            None,
            &[],
        )
        .await;
        if s["status"] != "running" {
            return s;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("partition job {job} did not finish");
}

/// A plan becomes the village's grids: continued grids keep their code (and history), new ones
/// get the village's next codes, the others are deleted with the reason; the village is then
/// covered by exactly the plan's grids. Only the village-level roles adopt, only once, and not
/// after the village's grids changed.
#[test]
fn a_plan_is_adopted_as_the_villages_grids_with_history() {
    on_each_store(async |st: AppState| {
        let manager = login(&st, "manager").await;
        let leader = login(&st, "leader").await;
        let before: Vec<(String, u32)> = st
            .project()
            .grids
            .iter()
            .filter(|g| g.grid.village.as_deref() == Some(VILLAGE))
            .map(|g| (g.grid.code.clone(), g.version))
            .collect();
        let (status, started) = call(
            &st,
            "POST",
            "/api/partition",
            Some(&manager),
            Some(
                json!({"village": VILLAGE, "grids": before.len() - 1, "from_current": true, "seed": 3}),
            ),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{started}");
        let job = started["job"].as_str().unwrap().to_string();
        let done = finished(&st, &manager, &job).await;
        assert_eq!(done["status"], "done", "{done}");
        let url = format!("/api/partition/{job}/adopt");
        let (status, _) = call(
            &st,
            "POST",
            &url,
            Some(&leader),
            Some(json!({"reason": "x"})),
            &[],
        )
        .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "a grid leader does not adopt plans"
        );
        let (status, _) = call(&st, "POST", &url, Some(&manager), Some(json!({})), &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "a reason is needed");
        let (status, adopted) = call(
            &st,
            "POST",
            &url,
            Some(&manager),
            Some(json!({"reason": "按方案调整网格"})),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{adopted}");
        let saved = adopted["saved"].as_object().unwrap();
        let deleted: Vec<&str> = adopted["deleted"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap())
            .collect();
        assert_eq!(
            saved.len(),
            done["plan"]["features"].as_array().unwrap().len()
        );
        // Continued grids keep their code; every old code is either kept or deleted.
        let matching = done["matching"].as_object().unwrap();
        for current in matching.values() {
            assert!(
                saved.contains_key(current.as_str().unwrap()),
                "{current} lost its code"
            );
        }
        for (code, _) in &before {
            assert!(
                saved.contains_key(code) ^ deleted.contains(&code.as_str()),
                "{code}"
            );
        }
        // The village now has exactly the plan's grids; history says why, for every one.
        let p = st.project();
        let now: Vec<&str> = p
            .grids
            .iter()
            .filter(|g| g.grid.village.as_deref() == Some(VILLAGE))
            .map(|g| g.grid.code.as_str())
            .collect();
        assert_eq!(now.len(), saved.len());
        off_runtime(|| {
            let store = st.0.store.lock().unwrap();
            for code in saved
                .keys()
                .map(String::as_str)
                .chain(deleted.iter().copied())
            {
                let history = store.grid_history(code).unwrap();
                let newest = history.iter().max_by_key(|h| h.version).unwrap();
                assert_eq!(newest.why, "按方案调整网格", "{code}");
                if deleted.contains(&code) {
                    assert_eq!(newest.action, "deleted");
                }
            }
        });
        // Once only.
        let (status, _) = call(
            &st,
            "POST",
            &url,
            Some(&manager),
            Some(json!({"reason": "again"})),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT);
        // A plan computed before someone changed the village's grids is not adopted.
        let (_, started) = call(
            &st,
            "POST",
            "/api/partition",
            Some(&manager),
            Some(json!({"village": VILLAGE, "grids": 3, "seed": 1})),
            &[],
        )
        .await;
        let job = started["job"].as_str().unwrap().to_string();
        finished(&st, &manager, &job).await;
        off_runtime(|| {
            let mut s = st.0.store.lock().unwrap();
            let g = s.grid(now[0]).unwrap().unwrap();
            let renamed = gridmap_core::model::Grid {
                name: Some("改名".into()),
                ..g.grid.clone()
            };
            let change = gridmap_store::Change {
                who: "t".into(),
                why: "t".into(),
            };
            s.save_grid(&renamed, Some(g.version), &change).unwrap();
        });
        let (status, _) = call(
            &st,
            "POST",
            "/api/partition/plan-x/adopt",
            Some(&manager),
            Some(json!({"reason": "x"})),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, answer) = call(
            &st,
            "POST",
            &format!("/api/partition/{job}/adopt"),
            Some(&manager),
            Some(json!({"reason": "x"})),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{answer}");
    });
}

/// Adopting a plan is checked grid by grid as an edit is: a plan laid over another village's
/// grid inside this village's boundary is refused (403), and nothing is saved.
#[test]
fn an_adopted_plan_cannot_take_another_villages_grid() {
    on_each_store(async |st: AppState| {
        let admin = login(&st, "admin").await;
        let manager = login(&st, "manager").await;
        // The town puts a small grid of another village inside this village, over one of its grids.
        let inside = {
            let p = st.project();
            let g = p
                .grids
                .iter()
                .find(|g| g.grid.village.as_deref() == Some(VILLAGE))
                .unwrap();
            let r = geo::BoundingRect::bounding_rect(&g.grid.geometry).unwrap();
            r.center()
        };
        let d = 0.0002;
        let (x, y) = (inside.x, inside.y);
        let foreign = json!({"type": "Feature", "properties": {"code": "310101001003-91", "village": "310101001003"},
            "geometry": {"type": "Polygon", "coordinates": [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]}});
        let (status, answer) = call(
            &st,
            "POST",
            "/api/grids",
            Some(&admin),
            Some(json!({"feature": foreign, "reason": "t", "force": true})),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let (_, started) = call(
            &st,
            "POST",
            "/api/partition",
            Some(&manager),
            Some(json!({"village": VILLAGE, "grids": 3, "seed": 1})),
            &[],
        )
        .await;
        let job = started["job"].as_str().unwrap().to_string();
        assert_eq!(finished(&st, &manager, &job).await["status"], "done");
        let before = off_runtime(|| st.0.store.lock().unwrap().grids().unwrap());
        let (status, answer) = call(
            &st,
            "POST",
            &format!("/api/partition/{job}/adopt"),
            Some(&manager),
            Some(json!({"reason": "按方案调整网格"})),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
        assert!(
            answer["error"].as_str().unwrap().contains("may not edit"),
            "{answer}"
        );
        assert_eq!(
            off_runtime(|| st.0.store.lock().unwrap().grids().unwrap()),
            before
        );
    });
}

#[test]
fn a_plan_is_computed_in_the_background() {
    on_each_store(async |st: AppState| {
        let admin = login(&st, "admin").await;
        let worker = login(&st, "worker").await;
        let (status, _) = call(
            &st,
            "POST",
            "/api/partition",
            Some(&worker),
            Some(json!({"village": VILLAGE, "grids": 4})),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "workers do not re-partition");
        let (status, started) = call(
            &st,
            "POST",
            "/api/partition",
            Some(&admin),
            Some(json!({"village": VILLAGE, "grids": 4, "seed": 3})),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{started}");
        let job = started["job"].as_str().unwrap().to_string();
        let mut done = Value::Null;
        for _ in 0..300 {
            let (_, s) = call(
                &st,
                "GET",
                &format!("/api/partition/{job}"),
                Some(&admin),
                None,
                &[],
            )
            .await;
            if s["status"] != "running" {
                done = s;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(done["status"], "done", "{done}");
        assert_eq!(done["plan"]["features"].as_array().unwrap().len(), 4);
        assert_eq!(done["report"]["grids"], 4);
        assert!(
            done["report"]["max_deviation_pct"].as_f64().unwrap() <= 5.0,
            "{}",
            done["report"]
        );
        let (status, _) = call(
            &st,
            "POST",
            "/api/partition",
            Some(&admin),
            Some(json!({"village": "NOPE", "grids": 4})),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = call(
            &st,
            "GET",
            "/api/partition/plan-999",
            Some(&admin),
            None,
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    });
}

/// What each role sees, endpoint by endpoint: grids, statistics (JSON and CSV exports),
/// features, and the buildings in a tile.
#[test]
fn scope_matrix() {
    on_each_store(async |st: AppState| {
        off_runtime(|| {
            let mut store = st.0.store.lock().unwrap();
            for (name, role, scope) in [
                ("supervisor", "town_supervisor", "310101001"),
                ("planner", "planner", "310101001"),
            ] {
                add_user(store.as_mut(), name, role, scope);
            }
            *st.0.users.write().unwrap() = store.users().unwrap();
        });
        let p = st.project();
        let village_grids = p
            .grids
            .iter()
            .filter(|g| g.grid.village.as_deref() == Some(VILLAGE))
            .count();
        // (user, grids visible)
        for (user, grids) in [
            ("admin", 31),
            ("supervisor", 31),
            ("planner", 31),
            ("manager", village_grids),
            ("leader", 1),
            ("worker", 1),
        ] {
            let token = login(&st, user).await;
            let (_, g) = call(&st, "GET", "/api/grids", Some(&token), None, &[]).await;
            let codes: Vec<String> = g["features"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["properties"]["code"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(codes.len(), grids, "{user}: grids");
            let (_, stats) = call(&st, "GET", "/api/stats?by=grid", Some(&token), None, &[]).await;
            assert_eq!(
                stats["rows"].as_array().unwrap().len(),
                grids,
                "{user}: stats rows"
            );
            let (_, _, csv) = raw(&st, "/api/stats.csv?by=grid", &token, &[]).await;
            assert_eq!(
                String::from_utf8(csv).unwrap().lines().count(),
                1 + grids,
                "{user}: CSV export rows"
            );
            let (_, items) = call(
                &st,
                "GET",
                "/collections/buildings/items?limit=10000",
                Some(&token),
                None,
                &[],
            )
            .await;
            // A building counting towards no grid (grid "": in none, or in several) is seen by
            // where it lies (tests/ogc.rs checks who sees one); any other lies in the user's grids.
            for f in items["features"].as_array().unwrap() {
                let grid = f["properties"]["grid"].as_str().unwrap().to_string();
                assert!(
                    codes.contains(&grid) || grid.is_empty(),
                    "{user} received a building of grid {grid}"
                );
            }
            // Every building of a tile over the Bund that the user receives lies in their grids.
            let tile = gridmap_tiles::TileId::new(15, 27441, 13387).unwrap();
            let (status, _, body) = raw(
                &st,
                &format!("/tiles/buildings/15/{}/{}.mvt", tile.x, tile.y),
                &token,
                &[],
            )
            .await;
            assert!(status == StatusCode::OK || status == StatusCode::NO_CONTENT);
            for (i, b) in p.buildings.iter().enumerate() {
                if let Some(g) = p.grid_of(i)
                    && !codes.iter().any(|c| c == g)
                {
                    assert!(
                        !contains(&body, &b.id),
                        "{user} received building {} of grid {g} in a tile",
                        b.id
                    );
                }
            }
        }
    });
}

/// A finished plan is saved under a name (unique in its village), listed for those who may
/// plan the village, opened again by a server started afresh on the same file, exported as a
/// GeoPackage that GDAL reads back with every grid and its workload, adopted from its saved
/// form (which then says so), and deleted.
#[tokio::test]
async fn a_plan_is_saved_listed_reopened_exported_and_adopted() {
    let dir = tempfile::tempdir().unwrap();
    let st = {
        // Beside the usual users, the manager of another village.
        drop(state(dir.path()));
        let mut s = gridmap_store::GpkgStore::open(&dir.path().join("p.gpkg")).unwrap();
        add_user(&mut s, "elsewhere", "village_manager", "310101001004");
        AppState::new(s, Settings::default()).unwrap()
    };
    let manager = login(&st, "manager").await;
    let leader = login(&st, "leader").await;
    let elsewhere = login(&st, "elsewhere").await;
    let (_, started) = call(
        &st,
        "POST",
        "/api/partition",
        Some(&manager),
        Some(json!({"village": VILLAGE, "grids": 3, "seed": 2})),
        &[],
    )
    .await;
    let job = started["job"].as_str().unwrap().to_string();
    let done = finished(&st, &manager, &job).await;
    assert_eq!(done["status"], "done", "{done}");
    let save = format!("/api/partition/{job}/save");
    for bad in [
        json!({"name": "  "}),
        json!({"name": "x".repeat(61)}),
        json!({}),
    ] {
        let (status, _) = call(&st, "POST", &save, Some(&manager), Some(bad.clone()), &[]).await;
        assert!(status.is_client_error(), "{bad}: {status}");
    }
    let (status, _) = call(
        &st,
        "POST",
        &save,
        Some(&leader),
        Some(json!({"name": "三格方案"})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a grid leader does not plan");
    // Another village's manager reaches this village's plan by none of its ids.
    for (method, uri, body) in [
        ("GET", format!("/api/partition/{job}"), None),
        ("POST", save.clone(), Some(json!({"name": "偷看"}))),
        ("GET", format!("/api/partition/{job}/grids.gpkg"), None),
        (
            "POST",
            format!("/api/partition/{job}/adopt"),
            Some(json!({"reason": "x"})),
        ),
    ] {
        let (status, _) = call(&st, method, &uri, Some(&elsewhere), body, &[]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {uri}");
    }
    let (status, entry) = call(
        &st,
        "POST",
        &save,
        Some(&manager),
        Some(json!({"name": " 三格方案 "})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{entry}");
    assert_eq!(entry["name"], "三格方案");
    assert_eq!(entry["village"], VILLAGE);
    assert_eq!(entry["saved_by"], "manager");
    assert_eq!(entry["grids"], 3);
    let (status, _) = call(
        &st,
        "POST",
        &save,
        Some(&manager),
        Some(json!({"name": "again"})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "saved once");
    let (_, s) = call(
        &st,
        "GET",
        &format!("/api/partition/{job}"),
        Some(&manager),
        None,
        &[],
    )
    .await;
    assert_eq!(s["saved"]["name"], "三格方案");
    // A second plan of the same name in the village is refused.
    let (_, other) = call(
        &st,
        "POST",
        "/api/partition",
        Some(&manager),
        Some(json!({"village": VILLAGE, "grids": 2, "seed": 2})),
        &[],
    )
    .await;
    let other = other["job"].as_str().unwrap().to_string();
    finished(&st, &manager, &other).await;
    let (status, answer) = call(
        &st,
        "POST",
        &format!("/api/partition/{other}/save"),
        Some(&manager),
        Some(json!({"name": "三格方案"})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    let id = entry["id"].as_i64().unwrap();
    drop(st);

    // A server started afresh lists and opens it; a grid leader sees no plans.
    let st = AppState::new(
        gridmap_store::GpkgStore::open(&dir.path().join("p.gpkg")).unwrap(),
        Settings::default(),
    )
    .unwrap();
    let manager = login(&st, "manager").await;
    let leader = login(&st, "leader").await;
    let elsewhere = login(&st, "elsewhere").await;
    let (_, list) = call(&st, "GET", "/api/plans", Some(&elsewhere), None, &[]).await;
    assert!(list["plans"].as_array().unwrap().is_empty(), "{list}");
    for method in ["GET", "DELETE"] {
        let uri = format!("/api/plans/{id}");
        let (status, _) = call(&st, method, &uri, Some(&elsewhere), None, &[]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {uri}");
    }
    let (status, list) = call(&st, "GET", "/api/plans", Some(&manager), None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["plans"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["plans"][0]["name"], "三格方案");
    assert_eq!(list["plans"][0]["adopted"], false);
    let (status, list) = call(&st, "GET", "/api/plans", Some(&leader), None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(list["plans"].as_array().unwrap().is_empty(), "{list}");
    let (status, _) = call(
        &st,
        "GET",
        &format!("/api/plans/{id}"),
        Some(&leader),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, opened) = call(
        &st,
        "GET",
        &format!("/api/plans/{id}"),
        Some(&manager),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{opened}");
    assert_eq!(opened["job"], format!("saved-{id}"));
    assert_eq!(opened["status"], "done");
    assert_eq!(opened["plan"], done["plan"], "the plan as computed");
    assert_eq!(opened["report"], done["report"]);
    assert_eq!(opened["matching"], done["matching"]);
    let (status, _) = call(&st, "GET", "/api/plans/999", Some(&manager), None, &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Exported as a GeoPackage: every grid with its workload.
    let (status, headers, bytes) = send(
        &st,
        "GET",
        &format!("/api/partition/saved-{id}/grids.gpkg"),
        Some(&manager),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/geopackage+sqlite3");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&format!("plan-{VILLAGE}-")),
        "{headers:?}"
    );
    let file = dir.path().join("plan.gpkg");
    std::fs::write(&file, &bytes).unwrap();
    let read = gridmap_io::gdal_io::read(&file, &["code", "households"], None).unwrap();
    let features = done["plan"]["features"].as_array().unwrap();
    assert_eq!(read.len(), features.len());
    for (r, f) in read.iter().zip(features) {
        assert_eq!(r.properties[0].as_ref(), Some(&f["properties"]["code"]));
        assert_eq!(
            r.properties[1].as_ref().and_then(Value::as_u64),
            f["properties"]["households"].as_u64()
        );
        assert!(r.geometry.is_some());
    }
    let (status, _, _) = send(
        &st,
        "GET",
        &format!("/api/partition/saved-{id}/grids.gpkg"),
        Some(&leader),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Adopted from its saved form; the saved plan then says so.
    let (status, adopted) = call(
        &st,
        "POST",
        &format!("/api/partition/saved-{id}/adopt"),
        Some(&manager),
        Some(json!({"reason": "采用三格方案"})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{adopted}");
    assert_eq!(adopted["saved"].as_object().unwrap().len(), 3);
    let (_, list) = call(&st, "GET", "/api/plans", Some(&manager), None, &[]).await;
    assert_eq!(list["plans"][0]["adopted"], true);
    let (_, opened) = call(
        &st,
        "GET",
        &format!("/api/plans/{id}"),
        Some(&manager),
        None,
        &[],
    )
    .await;
    assert_eq!(opened["adopted"], adopted);

    // Deleted: gone from the list; the grids it became stay.
    let (status, _) = call(
        &st,
        "DELETE",
        &format!("/api/plans/{id}"),
        Some(&manager),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = call(&st, "GET", "/api/plans", Some(&manager), None, &[]).await;
    assert!(list["plans"].as_array().unwrap().is_empty());
    let village_grids = st
        .project()
        .grids
        .iter()
        .filter(|g| g.grid.village.as_deref() == Some(VILLAGE))
        .count();
    assert_eq!(village_grids, 3);
}

/// The statistics rows name their grid or village (the dashboard shows names, not codes only).
#[test]
fn statistics_rows_carry_names() {
    on_each_store(async |st: AppState| {
        let admin = login(&st, "admin").await;
        let p = st.project();
        let (_, by_village) =
            call(&st, "GET", "/api/stats?by=village", Some(&admin), None, &[]).await;
        let rows = by_village["rows"].as_array().unwrap();
        assert!(!rows.is_empty());
        for r in rows {
            let v = p
                .villages
                .iter()
                .find(|v| Some(v.code.as_str()) == r["village"].as_str())
                .unwrap();
            assert_eq!(r["name"], v.name.as_str(), "{r}");
        }
        let (_, by_grid) = call(&st, "GET", "/api/stats?by=grid", Some(&admin), None, &[]).await;
        for r in by_grid["rows"].as_array().unwrap() {
            let g = p.grid(r["grid"].as_str().unwrap()).unwrap();
            assert_eq!(r["name"].as_str(), g.grid.name.as_deref(), "{r}");
        }
    });
}

/// Callers who ask for an answer that is being made wait for it instead of making it again:
/// a district's uncovered blocks take a second of the one reading thread, and ten supervisors
/// opening the dashboard at once would otherwise queue ten of them before every tile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_being_made_is_made_once_for_everyone_who_waits() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path());
    let made = Arc::new(AtomicUsize::new(0));
    let ask = |key: &str| {
        let (st, made, key) = (st.clone(), made.clone(), key.to_string());
        tokio::spawn(async move {
            let fresh = std::time::Duration::from_secs(60);
            let answer = gridmap_server::api::shared_answer(&st, key, fresh, move || {
                let n = made.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(100));
                Ok(json!({"made": n}))
            });
            let response = answer.await.unwrap();
            axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap()
        })
    };
    let callers: Vec<_> = (0..8).map(|_| ask("the same")).collect();
    let mut answers = Vec::new();
    for c in callers {
        answers.push(c.await.unwrap());
    }
    assert_eq!(made.load(Ordering::SeqCst), 1, "made once");
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    // Another key is made on its own; the first is then served from the cache.
    let other = ask("another").await.unwrap();
    assert_eq!(made.load(Ordering::SeqCst), 2);
    assert_ne!(other, answers[0]);
    assert_eq!(ask("the same").await.unwrap(), answers[0]);
    assert_eq!(made.load(Ordering::SeqCst), 2);
}

/// A heatmap tile is drawn again at most once a second (`HEATMAP_FRESH`): a visit shows in it
/// after that; for a scoped user a new snapshot (grids changed) shows at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heatmap_shows_visits_within_a_second_and_a_new_snapshot_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path());
    let (admin, manager) = (login(&st, "admin").await, login(&st, "manager").await);
    let p = st.project();
    let mine: Vec<usize> = (0..p.buildings.len())
        .filter(|&i| p.grid_of(i) == Some(WORKER_GRID) && p.location(i).is_some())
        .collect();
    let tile = gridmap_tiles::TileId::containing(p.location(mine[0]).unwrap(), 14).unwrap();
    let area = tile.bounds_lonlat();
    let second = mine[1..]
        .iter()
        .copied()
        .find(|&i| geo::Intersects::intersects(&area, &p.location(i).unwrap()))
        .unwrap();
    let (first, second) = (
        p.buildings[mine[0]].id.clone(),
        p.buildings[second].id.clone(),
    );
    drop(p);
    let visit = async |id: &str| {
        let body = json!({"building": id, "outcome": "visited"});
        let (status, _) = call(&st, "POST", "/api/visits", Some(&admin), Some(body), &[]).await;
        assert_eq!(status, StatusCode::OK);
    };
    let uri = format!("/heatmap/visited/14/{}/{}.png", tile.x, tile.y);
    let (status, _, _) = raw(&st, &uri, &admin, &[]).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "nothing visited yet");
    visit(&first).await;
    let (status, _, _) = raw(&st, &uri, &admin, &[]).await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "the tile drawn a moment ago"
    );
    tokio::time::sleep(gridmap_server::tiles::HEATMAP_FRESH).await;
    let (status, _, visited) = raw(&st, &uri, &admin, &[]).await;
    assert_eq!(status, StatusCode::OK, "drawn again after a second");
    assert_eq!(&visited[1..4], b"PNG");
    // The village manager's tile is drawn from the snapshot, which a change of the grids (here
    // of the registers, which makes one the same way) replaces.
    let (status, _, before) = raw(&st, &uri, &manager, &[]).await;
    assert_eq!(status, StatusCode::OK);
    visit(&second).await;
    let (_, _, same) = raw(&st, &uri, &manager, &[]).await;
    assert_eq!(same, before, "the tile drawn a moment ago");
    let again = st.clone();
    tokio::task::spawn_blocking(move || again.registers_changed().unwrap())
        .await
        .unwrap();
    let (status, _, after) = raw(&st, &uri, &manager, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(
        after, before,
        "drawn from the new snapshot, with the second visit"
    );
}
