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
