//! The server over a town of a PostgreSQL/PostGIS database (issue #25): it loads the town as it
//! loads a GeoPackage, signs users in from the town's accounts, and serves grids, history,
//! visits, buildings and the audit log from PostgreSQL.
//!
//! The database comes from `GRIDMAP_TEST_PG` (scripts/test.sh starts a throw-away cluster with
//! scripts/pg-test-cluster.sh and sets it): unset, the test is skipped with a message, except
//! under CI (`CI` set), where it fails. It works in its own town, removed afterwards.

#![allow(clippy::unwrap_used)] // tests fail loudly

mod common;

use axum::http::StatusCode;
use common::*;
use gridmap_pgstore::PgStore;
use gridmap_server::{AppState, Settings};
use serde_json::json;

/// The town code of this test (other PostgreSQL tests use 9901…).
const TOWN: &str = "990200001";

/// The town of the test of two servers.
const TWO: &str = "990200002";

/// Removes the town (its rows by cascade) when made, in case an earlier run left it, and when
/// dropped: the database's URL and the town's code.
struct Town(String, &'static str);

impl Town {
    fn new(url: &str) -> Town {
        Town::named(url, TOWN)
    }

    fn named(url: &str, code: &'static str) -> Town {
        let town = Town(url.into(), code);
        town.remove();
        town
    }

    fn remove(&self) {
        let mut c = gridmap_pgstore::config(&self.0, |k| std::env::var(k).ok())
            .unwrap()
            .connect(postgres::NoTls)
            .unwrap();
        // Before the first town there is no table to delete from.
        let _ = c.execute("DELETE FROM town WHERE town = $1", &[&self.1]);
    }
}

impl Drop for Town {
    fn drop(&mut self) {
        self.remove();
    }
}

/// The PostgreSQL client is synchronous and runs a runtime of its own: the store is made and
/// dropped off the async runtime, as the server calls it (on blocking threads).
#[test]
fn a_postgresql_town_is_served_with_accounts() {
    let Some(url) = pg_url() else { return };
    let _town = Town::new(&url);
    let mut pg = PgStore::create(&url, TOWN, "演示镇").unwrap();
    fill_demo(&mut pg);
    add_user(&mut pg, "admin", "admin", "");
    let state = AppState::new(pg, Settings::default()).unwrap();
    // The same town in a GeoPackage, to compare with.
    let dir = tempfile::tempdir().unwrap();
    let gpkg = AppState::new(demo_store(&dir.path().join("p.gpkg")), Settings::default()).unwrap();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(requests(&state, &gpkg));
}

async fn requests(state: &AppState, gpkg: &AppState) {
    let (state, gpkg) = (state.clone(), gpkg.clone());

    // Loaded as the GeoPackage is: the same grids and buildings.
    let (status, health) = call(&state, "GET", "/health", None, None, &[]).await;
    assert_eq!(status, StatusCode::OK, "{health}");
    let (_, expected) = call(&gpkg, "GET", "/health", None, None, &[]).await;
    assert_eq!(health["town"], TOWN);
    assert_eq!(health["grids"], expected["grids"]);
    assert_eq!(health["buildings"], expected["buildings"]);
    assert!(health["grids"].as_u64().unwrap() > 0, "{health}");
    assert!(health["buildings"].as_u64().unwrap() > 0, "{health}");

    // What needs no user: the web app, the OGC API's landing page and conformance, OpenAPI.
    let (status, _, page) = send(&state, "GET", "/", None, None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.is_empty());
    let (status, landing) = call(
        &state,
        "GET",
        "/",
        None,
        None,
        &[("accept", "application/json")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{landing}");
    assert!(landing["links"].is_array(), "{landing}");
    for uri in ["/ogc/conformance", "/api/openapi.json"] {
        let (status, body) = call(&state, "GET", uri, None, None, &[]).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    }

    // Accounts in PostgreSQL: a wrong password is refused, the right one signs in, and the
    // signed-in routes answer from the town (on the runtime's threads the handlers must not
    // call the synchronous client: this runs them on a multi-threaded runtime).
    let wrong = json!({"username": "admin", "password": "wrong-pass"});
    let (status, _) = call(&state, "POST", "/api/login", None, Some(wrong), &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let token = login(&state, "admin").await;
    let (status, me) = call(&state, "GET", "/api/me", Some(&token), None, &[]).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    let (status, grids) = call(&state, "GET", "/api/grids", Some(&token), None, &[]).await;
    assert_eq!(status, StatusCode::OK, "{grids}");
    let (_, expected) = call(&gpkg, "GET", "/health", None, None, &[]).await;
    let features = grids["features"].as_array().unwrap();
    assert_eq!(Some(features.len() as u64), expected["grids"].as_u64());
    let code = features[0]["properties"]["code"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, history) = call(
        &state,
        "GET",
        &format!("/api/grids/{code}/history"),
        Some(&token),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    assert!(
        !history["versions"].as_array().unwrap().is_empty(),
        "{history}"
    );
    let (status, collections) =
        call(&state, "GET", "/ogc/collections", Some(&token), None, &[]).await;
    assert_eq!(status, StatusCode::OK, "{collections}");

    // A visit is kept in PostgreSQL and counted at once.
    let (building, at) = {
        let p = state.project();
        let i = (0..p.buildings.len())
            .find(|&i| p.grid_of(i).is_some())
            .unwrap();
        (p.buildings[i].id.clone(), p.location(i).unwrap())
    };
    let visit = json!({"building": building, "outcome": "visited", "lon": at.x, "lat": at.y});
    let (status, body) = call(
        &state,
        "POST",
        "/api/visits",
        Some(&token),
        Some(visit),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, b) = call(
        &state,
        "GET",
        &format!("/api/buildings/{building}"),
        Some(&token),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["visit"], "visited", "{b}");

    // The audit log is the town's, in PostgreSQL.
    let (status, audit) = call(&state, "GET", "/api/audit", Some(&token), None, &[]).await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    assert!(audit["entries"].is_array(), "{audit}");

    let (status, _) = call(&state, "POST", "/api/logout", Some(&token), None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&state, "GET", "/api/me", Some(&token), None, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The same requests on the GeoPackage keep their answers.
    let login = json!({"username": "admin", "password": "wrong-pass"});
    let (status, _) = call(&gpkg, "POST", "/api/login", None, Some(login), &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&gpkg, "GET", "/api/grids", None, None, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// Two servers over one town, each on a connection of its own: what one writes, the other
/// serves within a second (issue #25: `LISTEN/NOTIFY`).
#[test]
fn two_servers_of_one_town_see_each_others_writes() {
    let Some(url) = pg_url() else { return };
    let _town = Town::named(&url, TWO);
    let mut pg = PgStore::create(&url, TWO, "演示镇").unwrap();
    fill_demo(&mut pg);
    add_user(&mut pg, "admin", "admin", "");
    let a = AppState::new(pg, Settings::default()).unwrap();
    let b = AppState::new(PgStore::open(&url, TWO).unwrap(), Settings::default()).unwrap();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(two_servers(&a, &b));
}

/// The longest the tests wait for another server's write (the aim is 1 s).
const DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// Asks `done` every 20 ms until it holds, and answers how long that took; fails after
/// [`DEADLINE`] naming `what`.
async fn within_deadline<F: std::future::Future<Output = bool>>(
    what: &str,
    mut done: impl FnMut() -> F,
) -> std::time::Duration {
    let started = std::time::Instant::now();
    loop {
        if done().await {
            let took = started.elapsed();
            eprintln!("{what}: seen by the other server after {took:?}");
            return took;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{what}: not seen by the other server within {DEADLINE:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn two_servers(a: &AppState, b: &AppState) {
    let (a, b) = (a.clone(), b.clone());
    // The users are the town's: both servers sign them in.
    let token_a = login(&a, "admin").await;
    let token_b = login(&b, "admin").await;

    // A grid renamed through A: B's grid list and its cached grid tile follow.
    let (status, grids) = call(&a, "GET", "/api/grids", Some(&token_a), None, &[]).await;
    assert_eq!(status, StatusCode::OK, "{grids}");
    let mut feature = grids["features"][0].clone();
    let code = feature["properties"]["code"].as_str().unwrap().to_string();
    let version = feature["properties"]["version"].as_u64().unwrap();
    let tile = {
        let p = b.project();
        let g = p.grid(&code).unwrap();
        let c = geo::Centroid::centroid(&g.grid.geometry).unwrap();
        gridmap_tiles::TileId::containing(c.into(), 14).unwrap()
    };
    let tile_uri = format!("/tiles/grids/{}/{}/{}.mvt", tile.z, tile.x, tile.y);
    let renamed = "改名网格二";
    let (status, _, before) = send(&b, "GET", &tile_uri, Some(&token_b), None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let has = |body: &[u8]| body.windows(renamed.len()).any(|w| w == renamed.as_bytes());
    assert!(!has(&before));
    feature["properties"]["name"] = json!(renamed);
    let put = json!({"feature": feature, "reason": "two servers", "force": true});
    let (status, body) = call(
        &a,
        "PUT",
        &format!("/api/grids/{code}"),
        Some(&token_a),
        Some(put),
        &[("if-match", &format!("\"{version}\""))],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let named = |grids: &serde_json::Value| {
        grids["features"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["properties"]["code"] == code && f["properties"]["name"] == renamed)
    };
    within_deadline("a grid edit in B's /api/grids", || async {
        let (_, grids) = call(&b, "GET", "/api/grids", Some(&token_b), None, &[]).await;
        named(&grids)
    })
    .await;
    within_deadline("a grid edit in B's grid tile", || async {
        let (status, _, body) = send(&b, "GET", &tile_uri, Some(&token_b), None, &[]).await;
        status == StatusCode::OK && has(&body)
    })
    .await;

    // A visit recorded through B: A's building and statistics follow.
    let (building, at) = {
        let p = a.project();
        let i = (0..p.buildings.len())
            .find(|&i| p.grid_of(i).is_some() && !p.live().visited(i))
            .unwrap();
        (p.buildings[i].id.clone(), p.location(i).unwrap())
    };
    let building_uri = format!("/api/buildings/{building}");
    let (status, stats_before) = call(&a, "GET", "/api/stats", Some(&token_a), None, &[]).await;
    assert_eq!(status, StatusCode::OK, "{stats_before}");
    let (_, seen) = call(&a, "GET", &building_uri, Some(&token_a), None, &[]).await;
    assert_ne!(seen["visit"], "visited", "{seen}");
    let snapshot = a.project();
    let visit = json!({"building": building, "outcome": "visited", "lon": at.x, "lat": at.y});
    let (status, body) = call(&b, "POST", "/api/visits", Some(&token_b), Some(visit), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, stats_b) = call(&b, "GET", "/api/stats", Some(&token_b), None, &[]).await;
    assert_ne!(stats_b, stats_before, "B counts its own visit at once");
    within_deadline("a visit in A's /api/buildings", || async {
        let (_, seen) = call(&a, "GET", &building_uri, Some(&token_a), None, &[]).await;
        seen["visit"] == "visited"
    })
    .await;
    within_deadline("a visit in A's /api/stats", || async {
        let (_, stats) = call(&a, "GET", "/api/stats", Some(&token_a), None, &[]).await;
        stats == stats_b
    })
    .await;
    // Both hold the same log; A took the visit in without loading the town again.
    assert_eq!(*a.project().live(), *b.project().live());
    assert!(std::sync::Arc::ptr_eq(&snapshot, &a.project()));

    // A user added by another process (`gridmap user add` on the database): both sign them in.
    let url = pg_url().unwrap();
    tokio::task::spawn_blocking(move || {
        let mut third = PgStore::open(&url, TWO).unwrap();
        add_user(&mut third, "leader", "grid_leader", &code);
    })
    .await
    .unwrap();
    for (name, state) in [("A", &a), ("B", &b)] {
        within_deadline(
            &format!("a user added elsewhere in {name}'s users"),
            || async {
                state
                    .0
                    .users
                    .read()
                    .unwrap()
                    .iter()
                    .any(|u| u.username == "leader")
            },
        )
        .await;
        login(state, "leader").await;
    }

    // A token signed in on A works on B (sessions are in the database); signed out on A, it
    // stops working on B too, though B holds it in memory by then. B keeps the other sessions
    // it holds: the note names the one closed.
    let token = login(&a, "leader").await;
    let (status, _) = call(&b, "GET", "/api/me", Some(&token), None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let kept = login(&b, "leader").await;
    let (status, _) = call(&a, "POST", "/api/logout", Some(&token), None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let b2 = b.clone();
    within_deadline("a sign-out on A, on B", || {
        let (b, token) = (b2.clone(), token.clone());
        async move {
            call(&b, "GET", "/api/me", Some(&token), None, &[]).await.0 == StatusCode::UNAUTHORIZED
        }
    })
    .await;
    assert!(
        b.0.sessions.get(&kept, std::time::Instant::now()).is_some(),
        "B dropped a session the sign-out did not close"
    );
    // Another token of the same user on B still works.
    let other = login(&b, "leader").await;
    let (status, _) = call(&b, "GET", "/api/me", Some(&other), None, &[]).await;
    assert_eq!(status, StatusCode::OK);
}

const THREE: &str = "990200003";

/// The database drops the server's connection (as in a restart of PostgreSQL): the request that
/// meets it answers 503 with a message saying to try again, and the next one is served on a new
/// connection, without restarting gridmap.
#[test]
fn a_dropped_database_connection_is_a_503_then_served_again() {
    let Some(url) = pg_url() else { return };
    let _town = Town::named(&url, THREE);
    let sep = if url.contains('?') { '&' } else { '?' };
    let named = format!("{url}{sep}application_name=gridmap_pg_drop_test");
    let mut pg = PgStore::create(&named, THREE, "演示镇").unwrap();
    fill_demo(&mut pg);
    add_user(&mut pg, "admin", "admin", "");
    let state = AppState::new(pg, Settings::default()).unwrap();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(dropped(&state, &url));
}

async fn dropped(state: &AppState, url: &str) {
    let token = login(state, "admin").await;
    let (status, _) = call(state, "GET", "/api/audit", Some(&token), None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let url = url.to_string();
    let killed: i64 = tokio::task::spawn_blocking(move || {
        let mut c = gridmap_pgstore::config(&url, |k| std::env::var(k).ok())
            .unwrap()
            .connect(postgres::NoTls)
            .unwrap();
        c.query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE application_name = 'gridmap_pg_drop_test'",
            &[],
        )
        .unwrap()
        .get(0)
    })
    .await
    .unwrap();
    assert!(killed >= 1, "{killed}");
    let (status, body) = call(state, "GET", "/api/audit", Some(&token), None, &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "unavailable", "{body}");
    assert_eq!(
        body["error"],
        "the database is unavailable: try again in a moment"
    );
    let (status, body) = call(state, "GET", "/api/audit", Some(&token), None, &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
