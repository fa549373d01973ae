//! The CLI on a PostgreSQL/PostGIS project (`postgres://…`): init, import, export, validate and
//! stats give what they give on a GeoPackage; towns of one database stay apart; a server killed
//! with SIGKILL mid-write loses no visit it answered; a password on
//! the command line and the commands not yet ported are refused with one clear line.
//!
//! The tests that need a database take it from `GRIDMAP_TEST_PG` (scripts/test.sh starts a
//! throw-away cluster with scripts/pg-test-cluster.sh and sets it): unset, they are skipped with
//! a message, except under CI (`CI` set), where they fail. Each uses its own town codes, so they
//! run in parallel on one database, and removes its towns again.

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

#[path = "support/pg.rs"]
mod pg;
mod support;

use std::path::Path;

use pg::{Town, pg_url};
use serde_json::Value;
use support::*;

fn ok(args: &[&str]) -> String {
    let out = gridmap(args);
    assert!(
        out.status.success(),
        "gridmap {args:?}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// Runs a command that must fail with exit code 2 and no panic; its standard error.
fn fails(args: &[&str]) -> String {
    let out = gridmap(args);
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "gridmap {args:?} should fail: {}{err}",
        stdout(&out)
    );
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// The demo's layers, in the order and with the flags of scripts/demo-project.sh.
const DEMO: [(&str, &str, &[&str]); 5] = [
    ("boundary", "town.geojson", &[]),
    ("villages", "villages.geojson", &[]),
    (
        "grids",
        "grids.geojson",
        &["--who", "demo", "--why", "demo data"],
    ),
    ("buildings", "buildings.geojson", &[]),
    ("addresses", "addresses.geojson", &[]),
];

/// `gridmap init` of a town `code` at `project` (a file or a URL), then the imports of
/// `layers` of [`DEMO`]; `town` is added to every import as `--town CODE`.
fn demo_town(project: &str, code: &str, town: &[&str], layers: &[&str]) {
    ok(&[
        "init",
        project,
        "--town",
        "外滩陆家嘴演示镇",
        "--code",
        code,
    ]);
    for (layer, file, flags) in DEMO.iter().filter(|(l, _, _)| layers.contains(l)) {
        let file = demo(file);
        let mut args = vec!["import", project, "--layer", layer, s(&file)];
        args.extend_from_slice(flags);
        args.extend_from_slice(town);
        ok(&args);
    }
}

/// `gridmap validate --json` of a project; the report.
fn validate_report(project: &str, town: &[&str], out: &Path) -> Value {
    let mut args = vec!["validate", project, "--json", s(out)];
    args.extend_from_slice(town);
    let run = gridmap(&args);
    assert!(
        matches!(run.status.code(), Some(0 | 1)),
        "validate {project}: {}",
        stderr(&run)
    );
    read_json(out)
}

const ALL: [&str; 5] = ["boundary", "villages", "grids", "buildings", "addresses"];

#[test]
fn a_town_in_postgres_validates_counts_and_exports_as_its_geopackage_does() {
    let Some(url) = pg_url() else { return };
    let _town = Town::new(&url, "990100001");
    let dir = tempfile::tempdir().unwrap();
    let gpkg = dir.path().join("demo.gpkg");
    let gpkg = s(&gpkg);
    demo_town(gpkg, "990100001", &[], &ALL);
    let on_pg = ["--town", "990100001"];
    demo_town(&url, "990100001", &on_pg, &ALL);

    let from_pg = validate_report(&url, &on_pg, &dir.path().join("pg.json"));
    let from_file = validate_report(gpkg, &[], &dir.path().join("gpkg.json"));
    assert!(from_pg["summary"]["grids"].as_u64().unwrap() > 0);
    assert!(from_pg["summary"]["addresses"].as_u64().unwrap() > 0);
    assert_eq!(from_pg, from_file);

    let stats = |project: &str, town: &[&str], json: bool| {
        let mut args = vec!["stats", project];
        args.extend_from_slice(town);
        if json {
            args.push("--json");
        }
        ok(&args)
    };
    let pg_stats: Value = serde_json::from_str(&stats(&url, &on_pg, true)).unwrap();
    let file_stats: Value = serde_json::from_str(&stats(gpkg, &[], true)).unwrap();
    assert!(pg_stats["town"]["buildings"].as_u64().unwrap() > 0);
    assert_eq!(pg_stats, file_stats);
    assert_eq!(stats(&url, &on_pg, false), stats(gpkg, &[], false));
    // --town with a GeoPackage must name the project's own town.
    assert_eq!(stats(gpkg, &on_pg, false), stats(gpkg, &[], false));
    let err = fails(&["stats", gpkg, "--town", "990100999"]);
    assert!(err.contains("not 990100999"), "{err}");

    for layer in ["grids", "villages", "boundary", "buildings", "addresses"] {
        let pg_out = dir.path().join(format!("pg-{layer}.geojson"));
        let file_out = dir.path().join(format!("gpkg-{layer}.geojson"));
        ok(&[
            "export",
            &url,
            "--town",
            "990100001",
            "--layer",
            layer,
            s(&pg_out),
        ]);
        ok(&["export", gpkg, "--layer", layer, s(&file_out)]);
        let (a, b) = (read_json(&pg_out), read_json(&file_out));
        assert!(!a["features"].as_array().unwrap().is_empty(), "{layer}");
        assert_eq!(a, b, "{layer}");
    }
}

#[test]
fn the_basemap_and_visits_round_trip_as_in_a_geopackage() {
    let Some(url) = pg_url() else { return };
    let _town = Town::new(&url, "990100007");
    let dir = tempfile::tempdir().unwrap();
    let gpkg = dir.path().join("demo.gpkg");
    let gpkg = s(&gpkg);
    let on_pg = ["--town", "990100007"];
    demo_town(gpkg, "990100007", &[], &["grids", "buildings"]);
    demo_town(&url, "990100007", &on_pg, &["grids", "buildings"]);
    let layers = [
        ("roads", demo("raw/roads.geojson")),
        ("water", demo("raw/water.geojson")),
        ("landuse", demo("raw/landuse.geojson")),
        ("visits", demo("visits.geojson")),
    ];
    for (layer, file) in &layers {
        ok(&["import", gpkg, "--layer", layer, s(file)]);
        let said = ok(&[
            "import",
            &url,
            "--town",
            "990100007",
            "--layer",
            layer,
            s(file),
        ]);
        assert!(said.contains("town 990100007"), "{said}");
    }
    for (layer, _) in &layers {
        let pg_out = dir.path().join(format!("pg-{layer}.geojson"));
        let file_out = dir.path().join(format!("gpkg-{layer}.geojson"));
        ok(&[
            "export",
            &url,
            "--town",
            "990100007",
            "--layer",
            layer,
            s(&pg_out),
        ]);
        ok(&["export", gpkg, "--layer", layer, s(&file_out)]);
        let (a, b) = (read_json(&pg_out), read_json(&file_out));
        assert!(!a["features"].as_array().unwrap().is_empty(), "{layer}");
        assert_eq!(a, b, "{layer}");
    }
    // An upsert of the same grids changes nothing, on both.
    let grids = demo("grids.geojson");
    for project in [gpkg, url.as_str()] {
        let said = ok(&[
            "import",
            project,
            "--layer",
            "grids",
            s(&grids),
            "--mode",
            "upsert",
            "--town",
            "990100007",
        ]);
        assert!(
            said.contains("inserted 0, updated 0, unchanged 31"),
            "{said}"
        );
    }
}

#[test]
fn a_second_init_of_a_town_is_refused() {
    let Some(url) = pg_url() else { return };
    let _town = Town::new(&url, "990100002");
    let said = ok(&["init", &url, "--town", "甲镇", "--code", "990100002"]);
    assert!(said.contains("990100002"), "{said}");
    let err = fails(&["init", &url, "--town", "乙镇", "--code", "990100002"]);
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn an_import_that_fails_writes_nothing() {
    let Some(url) = pg_url() else { return };
    let _town = Town::new(&url, "990100003");
    let on_pg = ["--town", "990100003"];
    demo_town(&url, "990100003", &on_pg, &["grids"]);
    // The same grids again, appended: every code exists, so nothing is written.
    let grids = demo("grids.geojson");
    let err = fails(&[
        "import",
        &url,
        "--town",
        "990100003",
        "--layer",
        "grids",
        s(&grids),
    ]);
    assert!(err.contains("grids"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("grids.geojson");
    ok(&[
        "export",
        &url,
        "--town",
        "990100003",
        "--layer",
        "grids",
        s(&out),
    ]);
    let features = read_json(&out)["features"].as_array().unwrap().len();
    assert_eq!(
        features,
        read_json(&grids)["features"].as_array().unwrap().len()
    );
    assert!(
        read_json(&out)["features"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["properties"]["version"] == 1)
    );
}

#[test]
fn two_towns_in_one_database_stay_apart() {
    let Some(url) = pg_url() else { return };
    let _a = Town::new(&url, "990100004");
    let _b = Town::new(&url, "990100005");
    demo_town(
        &url,
        "990100004",
        &["--town", "990100004"],
        &["grids", "buildings"],
    );
    ok(&["init", &url, "--town", "乙镇", "--code", "990100005"]);
    let dir = tempfile::tempdir().unwrap();
    let a = validate_report(&url, &["--town", "990100004"], &dir.path().join("a.json"));
    let b = validate_report(&url, &["--town", "990100005"], &dir.path().join("b.json"));
    assert!(a["summary"]["grids"].as_u64().unwrap() > 0);
    assert!(a["summary"]["buildings"].as_u64().unwrap() > 0);
    assert_eq!(b["summary"]["grids"], 0);
    assert_eq!(b["summary"]["buildings"], 0);
    let out = dir.path().join("b-grids.geojson");
    ok(&[
        "export",
        &url,
        "--town",
        "990100005",
        "--layer",
        "grids",
        s(&out),
    ]);
    assert!(read_json(&out)["features"].as_array().unwrap().is_empty());

    // Without --town, a database of several towns is an error that lists them.
    let err = fails(&["validate", &url]);
    assert!(
        err.contains("--town") && err.contains("990100004") && err.contains("990100005"),
        "{err}"
    );
    // A town the database does not hold.
    let err = fails(&["stats", &url, "--town", "990100999"]);
    assert!(err.contains("no town 990100999"), "{err}");
}

#[test]
fn a_password_in_the_url_is_refused_and_not_echoed() {
    // Refused before any connection: no database needed.
    for url in [
        "postgres://gridmap:s3cr3t-pw@127.0.0.1:9/gridmap",
        "postgresql://gridmap@127.0.0.1:9/gridmap?password=s3cr3t-pw",
    ] {
        for args in [
            vec!["init", url, "--town", "甲镇", "--code", "990100006"],
            vec!["validate", url],
            vec!["stats", url],
            vec!["history", url, "G1"],
            vec!["serve", url],
        ] {
            let out = gridmap(&args);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(
                err.contains("PGPASSWORD") && err.contains("~/.pgpass"),
                "{err}"
            );
            assert!(
                !err.contains("s3cr3t") && !stdout(&out).contains("s3cr3t"),
                "{args:?}: {err}"
            );
        }
    }
}

#[test]
fn commands_not_yet_on_postgres_say_so_in_one_line() {
    // Refused before any connection: no database needed.
    let url = "postgres://gridmap@127.0.0.1:9/gridmap";
    let commands: [&[&str]; 2] = [
        &["repair", url, "--out", "r.geojson"],
        &[
            "partition",
            url,
            "--village",
            "V",
            "--grids",
            "2",
            "--out",
            "p.geojson",
        ],
    ];
    for args in commands {
        let err = fails(args);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.contains(
                "works on GeoPackage projects only for now; PostgreSQL support is coming (issue #25)"
            ),
            "{args:?}: {err}"
        );
    }
}

/// One HTTP/1.1 request without a body or with a JSON one; (status, body).
fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    http_with(port, method, path, body, None)
}

/// [`http`]: a GET with a bearer token.
fn http_auth(port: u16, path: &str, token: &str) -> (u16, String) {
    http_with(port, "GET", path, "", Some(token))
}

fn http_with(
    port: u16,
    method: &str,
    path: &str,
    body: &str,
    token: Option<&str>,
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out.split_once("\r\n\r\n").unwrap_or_default().1;
    (status, body.to_string())
}

/// `gridmap user add URL --town CODE` of an admin `admin` of the whole town with the password
/// `quiet-harbour-2026` (on standard input); what it printed.
fn admin_added(url: &str, code: &str) -> String {
    let mut add = std::process::Command::new(env!("CARGO_BIN_EXE_gridmap"))
        .args([
            "user",
            "add",
            url,
            "--town",
            code,
            "--username",
            "admin",
            "--role",
            "admin",
            "--scope",
            code,
            "--password-stdin",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        writeln!(add.stdin.take().unwrap(), "quiet-harbour-2026").unwrap();
    }
    let out = add.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A token of `admin` ([`admin_added`]) from the server on `port`.
fn admin_token(port: u16) -> String {
    token_of(port, "admin")
}

/// A token of `username` (password `quiet-harbour-2026`) from the server on `port`.
fn token_of(port: u16, username: &str) -> String {
    let (status, body) = http(
        port,
        "POST",
        "/api/login",
        &format!(r#"{{"username": "{username}", "password": "quiet-harbour-2026"}}"#),
    );
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Visits stream in from eight clients to a server of a PostgreSQL town; the server is killed
/// with SIGKILL mid-stream. Every visit it answered 200 is in the database, and a server
/// started again serves them all.
#[test]
fn a_killed_server_on_postgres_loses_no_answered_visit() {
    let Some(url) = pg_url() else { return };
    let code = "990100011";
    let _town = Town::new(&url, code);
    demo_town(&url, code, &["--town", code], &["grids", "buildings"]);
    admin_added(&url, code);
    let (mut server, port) = serve(
        std::process::Command::new(env!("CARGO_BIN_EXE_gridmap")),
        Path::new(&url),
        &["--town", code],
    );
    let guard = KillOnDrop(server.id());
    let token = admin_token(port);
    let ids: Vec<String> = {
        use gridmap_store::Store;
        let store = gridmap_pgstore::PgStore::open(&url, code).unwrap();
        let buildings = store.buildings().unwrap();
        buildings.into_iter().take(200).map(|b| b.id).collect()
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let (stop, token, ids) = (stop.clone(), token.clone(), ids.clone());
            std::thread::spawn(move || {
                let mut answered = Vec::new();
                let mut n = c;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let body = format!(
                        r#"{{"building":"{}","outcome":"visited"}}"#,
                        ids[n % ids.len()]
                    );
                    n += 8;
                    match try_http(port, "POST", "/api/visits", &token, &body) {
                        Some((200, answer)) => {
                            let v: Value = serde_json::from_str(&answer).unwrap();
                            answered.push(v["id"].as_str().unwrap().to_string());
                        }
                        Some(_) => {}
                        None => std::thread::sleep(std::time::Duration::from_millis(5)),
                    }
                }
                answered
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    std::process::Command::new("kill")
        .args(["-KILL", &server.id().to_string()])
        .status()
        .unwrap();
    let _ = server.wait();
    drop(guard);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answered: Vec<String> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    assert!(
        answered.len() > 10,
        "only {} visits answered",
        answered.len()
    );
    let stored: std::collections::HashSet<String> = {
        use gridmap_store::Store;
        let store = gridmap_pgstore::PgStore::open(&url, code).unwrap();
        store.visits().unwrap().into_iter().map(|v| v.id).collect()
    };
    let lost = answered.iter().filter(|id| !stored.contains(*id)).count();
    assert_eq!(lost, 0, "{lost} of {} answered visits lost", answered.len());
    // Started again, the server serves what the database holds.
    let (server, port) = serve(
        std::process::Command::new(env!("CARGO_BIN_EXE_gridmap")),
        Path::new(&url),
        &["--town", code],
    );
    let _guard = KillOnDrop(server.id());
    let token = admin_token(port);
    let (status, body) = http_auth(port, "/ogc/collections/visits/items?limit=1", &token);
    assert_eq!(status, 200, "{body}");
    let matched = serde_json::from_str::<Value>(&body).unwrap()["numberMatched"].as_u64();
    assert_eq!(matched, Some(stored.len() as u64), "{body}");
}

#[test]
fn serve_serves_a_postgres_town_to_a_user_added_there() {
    let Some(url) = pg_url() else { return };
    let _town = Town::new(&url, "990100008");
    demo_town(
        &url,
        "990100008",
        &["--town", "990100008"],
        &["grids", "buildings"],
    );
    // The user goes into the town's accounts in PostgreSQL, with the CLI's password policy.
    let out = admin_added(&url, "990100008");
    assert!(
        out.contains("user admin (admin, scope 990100008) saved"),
        "{out}"
    );
    let (mut server, port) = serve(
        std::process::Command::new(env!("CARGO_BIN_EXE_gridmap")),
        Path::new(&url),
        &["--town", "990100008"],
    );
    let guard = KillOnDrop(server.id());
    let (status, body) = http(port, "GET", "/health", "");
    assert_eq!(status, 200, "{body}");
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["town"], "990100008");
    assert_eq!(health["grids"], 31, "{health}");
    assert_eq!(health["buildings"], 1321, "{health}");
    let (status, body) = http(
        port,
        "POST",
        "/api/login",
        r#"{"username": "admin", "password": "wrong-pass-2026"}"#,
    );
    assert_eq!(status, 401, "{body}");
    let token = admin_token(port);
    let (status, body) = http_auth(port, "/api/grids", &token);
    assert_eq!(status, 200, "{body}");
    let grids: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(grids["features"].as_array().map(Vec::len), Some(31));
    // SIGTERM: a clean stop (the PostgreSQL connection is closed off the async threads).
    std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    let status = server.wait().unwrap();
    drop(guard);
    assert!(status.success(), "{status:?}");
}

/// The household form imported by the CLI into a PostgreSQL town does what it does in a
/// GeoPackage: the same people, houses, rejections and links (the summary lines equal but for
/// the project's name and the time taken).
#[test]
fn the_household_form_imports_into_postgres_as_into_a_geopackage() {
    let Some(url) = pg_url() else { return };
    let _town = Town::new(&url, "990100009");
    let dir = tempfile::tempdir().unwrap();
    let gpkg = dir.path().join("demo.gpkg");
    let gpkg = s(&gpkg);
    demo_town(gpkg, "990100009", &[], &ALL);
    let on_pg = ["--town", "990100009"];
    demo_town(&url, "990100009", &on_pg, &ALL);
    let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddee02";
    let form = demo("households.csv");
    let import = |project: &str, town: &[&str], rejected: &Path| {
        let mut args = vec![
            "import",
            project,
            "--layer",
            "households",
            s(&form),
            "--skip-invalid",
            "--rejected",
            s(rejected),
        ];
        args.extend_from_slice(town);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_gridmap"))
            .args(&args)
            .env_remove("GRIDMAP_KEY_FILE")
            .env("GRIDMAP_KEY", key)
            .output()
            .unwrap();
        assert!(out.status.success(), "{project}: {}", stderr(&out));
        // The counts and the lists, without the project's name, the side file and the time.
        let text = stdout(&out);
        let (first, rest) = text.split_once('\n').unwrap();
        let counts = first.split_once("read ").unwrap().1;
        let (counts, tail) = counts.split_once(" (reasons in ").unwrap();
        let linked = tail.split_once("; ").unwrap().1;
        let linked = linked.rsplit_once(" in ").unwrap().0;
        format!("{counts}; {linked}\n{rest}")
    };
    let on_file = import(gpkg, &[], &dir.path().join("file.rejected.csv"));
    let on_db = import(&url, &on_pg, &dir.path().join("db.rejected.csv"));
    assert!(on_file.contains("people"), "{on_file}");
    assert_eq!(
        on_db.replace("990100009", ""),
        on_file.replace("990100009", "")
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("db.rejected.csv")).unwrap(),
        std::fs::read_to_string(dir.path().join("file.rejected.csv")).unwrap()
    );
    // The registers' statistics (houses, people, linkage by village) count the same.
    let on_file: Value =
        serde_json::from_str(&ok(&["stats", gpkg, "--by", "village", "--json"])).unwrap();
    let on_db: Value = serde_json::from_str(&ok(&[
        "stats",
        &url,
        "--town",
        "990100009",
        "--by",
        "village",
        "--json",
    ]))
    .unwrap();
    assert_eq!(on_file["town"]["people"], 542, "{on_file}");
    assert_eq!(on_db, on_file);
    // The campaign scorecard counts the same.
    let on_file: Value =
        serde_json::from_str(&ok(&["stats", gpkg, "--scorecard", "--json"])).unwrap();
    let on_db: Value = serde_json::from_str(&ok(&[
        "stats",
        &url,
        "--town",
        "990100009",
        "--scorecard",
        "--json",
    ]))
    .unwrap();
    assert!(on_file["town"]["visit_rate"].is_object(), "{on_file}");
    assert_eq!(on_db, on_file);
    // `gridmap rekey` re-encrypts both alike; the old key then opens nothing.
    let new_key = dir.path().join("new.key");
    std::fs::write(
        &new_key,
        "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n",
    )
    .unwrap();
    let rekey = |project: &str, town: &[&str]| {
        let mut args = vec!["rekey", project, "--new-key-file", s(&new_key)];
        args.extend_from_slice(town);
        std::process::Command::new(env!("CARGO_BIN_EXE_gridmap"))
            .args(&args)
            .env_remove("GRIDMAP_KEY_FILE")
            .env("GRIDMAP_KEY", key)
            .output()
            .unwrap()
    };
    let (on_file, on_db) = (rekey(gpkg, &[]), rekey(&url, &on_pg));
    assert!(on_db.status.success(), "{}", stderr(&on_db));
    let tail = |out: &std::process::Output| stdout(out).split_once(": ").unwrap().1.to_string();
    assert_eq!(tail(&on_db), tail(&on_file));
    assert!(
        tail(&on_db).starts_with("542 people re-encrypted"),
        "{}",
        tail(&on_db)
    );
    let again = rekey(&url, &on_pg);
    assert_eq!(again.status.code(), Some(2), "{}", stdout(&again));
    assert!(stderr(&again).contains("key"), "{}", stderr(&again));
}

/// `gridmap history` and `gridmap restore` on a PostgreSQL town answer as on the GeoPackage.
#[test]
fn history_and_restore_work_on_a_postgres_town_as_on_a_geopackage() {
    let Some(url) = pg_url() else { return };
    let _town = Town::new(&url, "990100010");
    let dir = tempfile::tempdir().unwrap();
    let gpkg = dir.path().join("demo.gpkg");
    let gpkg = s(&gpkg);
    let layers = ["boundary", "villages", "grids"];
    demo_town(gpkg, "990100010", &[], &layers);
    let on_pg = ["--town", "990100010"];
    demo_town(&url, "990100010", &on_pg, &layers);
    let grid = "310101001004-02";
    let without_times = |text: String| -> Value {
        let mut v: Value = serde_json::from_str(&text).unwrap();
        for row in v.as_array_mut().unwrap() {
            row.as_object_mut().unwrap().remove("at");
        }
        v
    };
    for round in 0..2 {
        let on_file = without_times(ok(&["history", gpkg, grid, "--json"]));
        let on_db = without_times(ok(&[
            "history",
            &url,
            "--town",
            "990100010",
            grid,
            "--json",
        ]));
        assert_eq!(on_db, on_file, "round {round}");
        // Restoring version 1 of an unchanged grid makes no new version, on either store.
        assert_eq!(on_file.as_array().unwrap().len(), 1, "{on_file}");
        if round == 0 {
            let restore = |project: &str, town: &[&str]| {
                let mut args = vec![
                    "restore",
                    project,
                    grid,
                    "--version",
                    "1",
                    "--who",
                    "test",
                    "--why",
                    "test",
                ];
                args.extend_from_slice(town);
                ok(&args)
            };
            assert_eq!(restore(&url, &on_pg), restore(gpkg, &[]));
        }
    }
    let err = fails(&["history", &url, "--town", "990100010", "NO-SUCH-GRID"]);
    assert!(err.contains("has no history"), "{err}");
}

/// The org tree above the town: a district with two towns in one database; a district user
/// added once signs in on a town's server, reaches the whole town, and ranks the district's
/// towns (`GET /api/towns`, and `gridmap division rank`); a town's own admin may not.
#[test]
fn a_district_user_reaches_its_towns_and_ranks_them() {
    let Some(url) = pg_url() else { return };
    let (one, two) = ("990301001", "990301002");
    let _towns = (Town::new(&url, one), Town::new(&url, two));
    let clean = |url: &str| {
        let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
        c.execute("DELETE FROM division WHERE code LIKE '9903%'", &[])
            .unwrap();
    };
    // The divisions table exists once the schema is made (the first init below).
    demo_town(&url, one, &["--town", one], &["grids", "buildings"]);
    demo_town(&url, two, &["--town", two], &["grids", "buildings"]);
    clean(&url);
    ok(&[
        "division",
        "add",
        &url,
        "--code",
        "9903",
        "--name",
        "测试市",
    ]);
    ok(&[
        "division",
        "add",
        &url,
        "--code",
        "990301",
        "--name",
        "测试区",
    ]);
    let err = fails(&["division", "add", &url, "--code", "99030", "--name", "x"]);
    assert!(err.contains("is not a division code"), "{err}");
    let list = ok(&["division", "list", &url]);
    assert!(
        list.contains("990301   district  测试区 (2 towns)"),
        "{list}"
    );
    // The district's supervisor, added once; a grid role is refused at a division.
    let add = |role: &str| {
        let mut add = std::process::Command::new(env!("CARGO_BIN_EXE_gridmap"))
            .args([
                "user",
                "add",
                &url,
                "--division",
                "990301",
                "--username",
                "district",
            ])
            .args(["--role", role, "--password-stdin"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            writeln!(add.stdin.take().unwrap(), "quiet-harbour-2026").unwrap();
        }
        add.wait_with_output().unwrap()
    };
    let refused = add("grid_worker");
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("town_supervisor or a planner"),
        "{}",
        stderr(&refused)
    );
    let added = add("town_supervisor");
    assert!(added.status.success(), "{}", stderr(&added));
    admin_added(&url, one);

    let (server, port) = serve(
        std::process::Command::new(env!("CARGO_BIN_EXE_gridmap")),
        Path::new(&url),
        &["--town", one],
    );
    let _guard = KillOnDrop(server.id());
    // A visit in town one, by its admin.
    let admin = admin_token(port);
    let building = {
        use gridmap_store::Store;
        gridmap_pgstore::PgStore::open(&url, one)
            .unwrap()
            .buildings()
            .unwrap()[0]
            .id
            .clone()
    };
    let (status, body) = http_with(
        port,
        "POST",
        "/api/visits",
        &format!(r#"{{"building": "{building}", "outcome": "visited"}}"#),
        Some(&admin),
    );
    assert_eq!(status, 200, "{body}");
    // The town's admin is no division's user.
    let (status, _) = http_auth(port, "/api/towns", &admin);
    assert_eq!(status, 403);
    // The district's supervisor signs in on town one's server and reaches the whole town.
    let district = token_of(port, "district");
    let (status, body) = http_auth(port, "/api/me", &district);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["reach"],
        "town",
        "{body}"
    );
    let (_, body) = http_auth(port, "/api/grids", &district);
    let grids: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(grids["features"].as_array().map(Vec::len), Some(31));
    // The district's towns, ranked: the visited one first.
    let (status, body) = http_auth(port, "/api/towns", &district);
    assert_eq!(status, 200, "{body}");
    let ranking: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ranking["division"], "990301");
    let towns = ranking["towns"].as_array().unwrap();
    let codes: Vec<&str> = towns.iter().map(|t| t["code"].as_str().unwrap()).collect();
    assert_eq!(codes, [one, two], "{body}");
    assert_eq!(towns[0]["rank"], 1);
    assert_eq!(towns[0]["visited_buildings"], 1);
    assert_eq!(towns[0]["buildings"], 1321);
    assert_eq!(towns[1]["visited_buildings"], 0);
    assert_eq!(towns[1]["grids"], 31);
    // The CLI ranks them alike.
    let cli: Value = serde_json::from_str(&ok(&[
        "division", "rank", &url, "--code", "990301", "--json",
    ]))
    .unwrap();
    assert_eq!(cli["towns"][0]["code"], one);
    assert_eq!(
        cli["towns"][0]["visited_households"],
        towns[0]["visited_households"]
    );
    let city = ok(&["division", "rank", &url, "--code", "9903"]);
    assert!(city.contains(one) && city.contains(two), "{city}");
    clean(&url);
}

/// One process serves two towns of the database (`--towns`), each on its own port with its own
/// grids, accounts and visits: a visit recorded in one town is not in the other. A town the
/// database does not hold, and `--towns` with a GeoPackage, are refused before anything loads.
#[test]
fn one_process_serves_several_towns_each_on_its_port() {
    use std::io::BufRead;
    let Some(url) = pg_url() else { return };
    let (a, b) = ("990100012", "990100013");
    let (_a, _b) = (Town::new(&url, a), Town::new(&url, b));
    demo_town(&url, a, &["--town", a], &["grids", "buildings"]);
    demo_town(&url, b, &["--town", b], &["grids"]);
    admin_added(&url, a);
    admin_added(&url, b);

    let refused = gridmap(&["serve", &url, "--towns", &format!("{a},990100999")]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("no town 990100999 (--towns)"),
        "{}",
        stderr(&refused)
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.gpkg");
    ok(&["init", s(&file), "--town", "镇", "--code", a]);
    let refused = gridmap(&["serve", s(&file), "--towns", a]);
    assert!(
        stderr(&refused).contains("--towns is for a PostgreSQL database"),
        "{}",
        stderr(&refused)
    );

    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_gridmap"))
        .args(["serve", &url, "--towns", &format!("{a},{b}")])
        .args(["--bind", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _guard = KillOnDrop(server.id());
    let mut out = std::io::BufReader::new(server.stdout.take().unwrap());
    let mut ports = std::collections::HashMap::new();
    for _ in 0..2 {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        // gridmap serving town CODE on http://127.0.0.1:PORT/
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[..3], ["gridmap", "serving", "town"], "{line}");
        let port: u16 = words[5]
            .trim_end_matches('/')
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        ports.insert(words[3].to_string(), port);
    }
    let (pa, pb) = (ports[a], ports[b]);
    assert_ne!(pa, pb);
    for (code, port, buildings) in [(a, pa, 1321), (b, pb, 0)] {
        let (status, body) = http(port, "GET", "/health", "");
        assert_eq!(status, 200, "{body}");
        let health: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(health["town"], code, "{health}");
        assert_eq!(health["grids"], 31, "{health}");
        assert_eq!(health["buildings"], buildings, "{health}");
    }
    // Each town signs in its own users and keeps its own visits.
    let (ta, tb) = (admin_token(pa), admin_token(pb));
    let building = {
        use gridmap_store::Store;
        gridmap_pgstore::PgStore::open(&url, a)
            .unwrap()
            .buildings()
            .unwrap()[0]
            .id
            .clone()
    };
    let body = format!(r#"{{"building":"{building}","outcome":"visited"}}"#);
    let (status, answer) = try_http(pa, "POST", "/api/visits", &ta, &body).unwrap();
    assert_eq!(status, 200, "{answer}");
    let matched = |port: u16, token: &str| {
        let (status, body) = http_auth(port, "/ogc/collections/visits/items?limit=1", token);
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()["numberMatched"].as_u64()
    };
    assert_eq!(matched(pa, &ta), Some(1));
    assert_eq!(matched(pb, &tb), Some(0));
    // A token of one town is nobody in the other.
    let (status, _) = http_auth(pb, "/api/grids", &ta);
    assert_eq!(status, 401);
    // SIGTERM stops both servers cleanly.
    std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(server.wait().unwrap().success());
}
