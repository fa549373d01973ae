//! The demo project and users, shared by the server's test files.

#![allow(dead_code, clippy::unwrap_used)] // each test file uses a part; helpers fail loudly

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use gridmap_server::{AppState, app};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use gridmap_core::model::BasemapLayer;
use gridmap_store::{Change, GpkgStore, Mode, ProjectStore, Store, User};
use gridmap_users::hash_password;

/// A file of the demo dataset.
pub fn demo(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/demo")
        .join(name)
}

/// A project at `path` holding the demo town: boundary, villages, grids, buildings, addresses,
/// and the basemap (OSM roads and water). No visits: the goldens count on none.
pub fn demo_store(path: &Path) -> GpkgStore {
    let mut s = GpkgStore::create(path, "310101001", "演示镇").unwrap();
    fill_demo(&mut s);
    s
}

/// Imports the demo town's data (as [`demo_store`] holds it) into any store.
pub fn fill_demo(s: &mut dyn Store) {
    let fields = gridmap_io::Fields::default();
    s.set_town_boundary(&gridmap_io::read_boundary(&demo("town.geojson")).unwrap())
        .unwrap();
    let grids = gridmap_io::read_grids(&demo("grids.geojson"), &fields)
        .unwrap()
        .grids;
    let change = Change {
        who: "t".into(),
        why: "t".into(),
    };
    s.import_grids(&grids, Mode::Append, &change).unwrap();
    s.import_buildings(
        &gridmap_io::read_buildings(&demo("buildings.geojson"), &fields).unwrap(),
        Mode::Append,
    )
    .unwrap();
    s.import_addresses(
        &gridmap_io::read_addresses(&demo("addresses.geojson"), &fields).unwrap(),
        Mode::Append,
    )
    .unwrap();
    let villages: Vec<gridmap_core::Village> =
        gridmap_io::read_grids(&demo("villages.geojson"), &fields)
            .unwrap()
            .grids
            .into_iter()
            .map(|g| gridmap_core::Village {
                code: g.code,
                name: g.name.unwrap_or_default(),
                town: None,
                boundary: Some(g.geometry),
            })
            .collect();
    s.import_villages(&villages, Mode::Append).unwrap();
    for (layer, file) in [
        (BasemapLayer::Roads, "raw/roads.geojson"),
        (BasemapLayer::Water, "raw/water.geojson"),
        (BasemapLayer::Landuse, "raw/landuse.geojson"),
    ] {
        let features = gridmap_io::read_basemap(&demo(file), layer, &fields).unwrap();
        s.import_basemap(layer, &features, Mode::Append).unwrap();
    }
}

/// Adds a user whose password is `secret-pass`.
pub fn add_user(s: &mut dyn ProjectStore, name: &str, role: &str, scope: &str) {
    s.put_user(&User {
        username: name.into(),
        role: role.into(),
        scope: scope.into(),
        password_hash: hash_password("secret-pass").unwrap(),
    })
    .unwrap();
}

/// Sends one request to the app in process (no socket): `token` as a bearer token, `body` as
/// JSON, `extra` headers. Returns the status, headers and body bytes.
pub async fn send(
    state: &AppState,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
    extra: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Vec<u8>) {
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
    let (parts, body) = app(state.clone()).oneshot(req).await.unwrap().into_parts();
    let bytes = body.collect().await.unwrap().to_bytes().to_vec();
    (parts.status, parts.headers, bytes)
}

/// Sends a ready-made request; the answer's status and body as JSON (`Null` when not JSON).
pub async fn oneshot_json(state: &AppState, req: Request<Body>) -> (StatusCode, Value) {
    let (parts, body) = app(state.clone()).oneshot(req).await.unwrap().into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// [`send`] with the answer read as JSON (`Null` when it is not JSON).
pub async fn call(
    state: &AppState,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
    extra: &[(&str, &str)],
) -> (StatusCode, Value) {
    let (status, _, bytes) = send(state, method, uri, token, body, extra).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Signs `user` in (password `secret-pass`, see [`add_user`]) and returns the token.
pub async fn login(state: &AppState, user: &str) -> String {
    let body = json!({"username": user, "password": "secret-pass"});
    let (status, body) = call(state, "POST", "/api/login", None, Some(body), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().unwrap().to_string()
}

/// The URL of the PostgreSQL test database; `None` (the PostgreSQL half of a test is skipped,
/// with a message) when `GRIDMAP_TEST_PG` is unset, except under CI, where that fails.
/// scripts/test.sh starts a throw-away cluster with scripts/pg-test-cluster.sh and sets it.
pub fn pg_url() -> Option<String> {
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

/// A database of its own on the PostgreSQL test server (with PostGIS), dropped with the
/// value: tests that each hold the demo town (always town 310101001) run side by side.
pub struct PgDatabase {
    /// The database's URL.
    pub url: String,
    server: String,
    name: String,
}

impl PgDatabase {
    /// Makes a new database on the server of `url` (the test database's URL).
    pub fn new(url: &str) -> PgDatabase {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "gridmap_t{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let (server, _) = url.rsplit_once('/').expect("a database URL ends in /NAME");
        let db = PgDatabase {
            url: format!("{server}/{name}"),
            server: format!("{server}/postgres"),
            name,
        };
        db.admin(&format!("CREATE DATABASE {} TEMPLATE template0", db.name));
        db
    }

    fn admin(&self, sql: &str) {
        let mut c = gridmap_pgstore::config(&self.server, |k| std::env::var(k).ok())
            .unwrap()
            .connect(postgres::NoTls)
            .unwrap();
        c.batch_execute(sql).unwrap();
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        self.admin(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

/// Calls the store from a test's async body: the PostgreSQL client blocks, so not on a thread
/// that drives tasks (the server does the same with its blocking pool). On the multi-threaded
/// runtime of [`on_each_store`] the thread leaves the runtime for the call; elsewhere (a
/// GeoPackage-only test on a one-thread runtime) it is made in place.
pub fn off_runtime<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Runs `body` on the demo town in a GeoPackage, then on the same town in a PostgreSQL
/// database of its own (`GRIDMAP_TEST_PG`; issue 25): every request of the test, and every
/// answer it checks, on both stores. `served` adds the test file's users and serves the store
/// (with whatever else the test needs to know of it).
/// The PostgreSQL client is synchronous: the store is made and dropped off the async runtime,
/// as the server itself calls it.
pub fn on_each_store<T: Clone>(served: impl Fn(Box<dyn ProjectStore>) -> T, body: impl AsyncFn(T)) {
    on_each_store_at(|s, _| served(s), body);
}

/// [`on_each_store`], where `served` also gets the PostgreSQL database's URL (`None` for the
/// GeoPackage), for a test that checks the tables themselves.
pub fn on_each_store_at<T: Clone>(
    served: impl Fn(Box<dyn ProjectStore>, Option<&str>) -> T,
    body: impl AsyncFn(T),
) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let st = served(Box::new(demo_store(&dir.path().join("p.gpkg"))), None);
    runtime.block_on(body(st.clone()));
    drop(st);
    let Some(url) = pg_url() else { return };
    let db = PgDatabase::new(&url);
    let mut store = gridmap_pgstore::PgStore::create(&db.url, "310101001", "演示镇").unwrap();
    fill_demo(&mut store);
    let st = served(Box::new(store), Some(&db.url));
    eprintln!("the same test on PostgreSQL");
    runtime.block_on(body(st.clone()));
    // The runtime's tasks first: the last handle on the state is then this one.
    drop(runtime);
    drop(st);
}
