//! The server over a town of a PostgreSQL/PostGIS database (issue #25): it loads the town as it
//! loads a GeoPackage and serves what needs no user; accounts are not in PostgreSQL yet, so a
//! sign-in and every route that needs a user answer 501 with the store's message.
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
use serde_json::{Value, json};

/// The town code of this test (other PostgreSQL tests use 9901…).
const TOWN: &str = "990200001";

/// The URL of the test database; `None` (the test is skipped) when `GRIDMAP_TEST_PG` is unset,
/// except under CI, where that fails.
fn pg_url() -> Option<String> {
    match std::env::var("GRIDMAP_TEST_PG") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "GRIDMAP_TEST_PG is not set, and CI is: the server's PostgreSQL tests must run \
                 (scripts/test.sh starts a cluster with scripts/pg-test-cluster.sh)"
            );
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "skipped: the server's PostgreSQL tests, as GRIDMAP_TEST_PG is not set \
                 (scripts/pg-test-cluster.sh start DIR prints a URL for it)"
            );
            None
        }
    }
}

/// Removes the town (its rows by cascade) when made, in case an earlier run left it, and when
/// dropped.
struct Town(String);

impl Town {
    fn new(url: &str) -> Town {
        let town = Town(url.into());
        town.remove();
        town
    }

    fn remove(&self) {
        let mut c = gridmap_pgstore::config(&self.0, |k| std::env::var(k).ok())
            .unwrap()
            .connect(postgres::NoTls)
            .unwrap();
        // Before the first town there is no table to delete from.
        let _ = c.execute("DELETE FROM town WHERE town = $1", &[&TOWN]);
    }
}

impl Drop for Town {
    fn drop(&mut self) {
        self.remove();
    }
}

const UNSUPPORTED: &str = "user accounts: not available on this store yet (issue #25)";

fn assert_unsupported(what: &str, status: StatusCode, body: &Value) {
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{what}: {body}");
    assert_eq!(
        body,
        &json!({"error": UNSUPPORTED, "code": "not_implemented"}),
        "{what}"
    );
}

/// The PostgreSQL client is synchronous and runs a runtime of its own: the store is made and
/// dropped off the async runtime, as the server calls it (on blocking threads).
#[test]
fn a_postgresql_town_is_served_without_accounts() {
    let Some(url) = pg_url() else { return };
    let _town = Town::new(&url);
    let mut pg = PgStore::create(&url, TOWN, "演示镇").unwrap();
    fill_demo(&mut pg);
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

    // No accounts: a sign-in, and every route that needs a user, with a token or without.
    let login = json!({"username": "admin", "password": "secret-pass"});
    let (status, body) = call(&state, "POST", "/api/login", None, Some(login), &[]).await;
    assert_unsupported("sign-in", status, &body);
    let token = "a".repeat(64);
    for (uri, token) in [
        ("/api/grids", None),
        ("/api/me", Some(token.as_str())),
        ("/tiles/grids/14/13722/6693", Some(token.as_str())),
        ("/ogc/collections", Some(token.as_str())),
    ] {
        let (status, body) = call(&state, "GET", uri, token, None, &[]).await;
        assert_unsupported(uri, status, &body);
    }
    let (status, body) = call(&state, "POST", "/api/logout", Some(&token), None, &[]).await;
    assert_unsupported("sign-out", status, &body);

    // The same requests on the GeoPackage keep their answers.
    let login = json!({"username": "admin", "password": "wrong-pass"});
    let (status, _) = call(&gpkg, "POST", "/api/login", None, Some(login), &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&gpkg, "GET", "/api/grids", None, None, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
