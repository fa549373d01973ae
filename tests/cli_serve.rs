//! The real binary serving a project on a free port, driven over HTTP, then stopped with
//! SIGTERM (graceful shutdown).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use support::*;

/// One HTTP/1.1 request; returns (status, body).
fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let body = body.unwrap_or("");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or_default();
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

/// The body of a chunked HTTP/1.1 answer.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// The binary copied alone into an empty folder and started there serves the whole web app —
/// the page, its scripts and the vendored MapLibre and terra-draw modules — from itself.
#[test]
fn a_copied_binary_serves_the_whole_web_app() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("gridmap");
    std::fs::copy(env!("CARGO_BIN_EXE_gridmap"), &bin).expect("copy the binary");
    let p = dir.path().join("p.gpkg");
    let out = gridmap(&["init", s(&p), "--town", "演示镇", "--code", "310101001"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut command = Command::new(&bin);
    command.current_dir(dir.path());
    let (mut server, port) = serve(command, &p, &[]);
    let _guard = KillOnDrop(server.id());
    for (path, needle) in [
        ("/", "<script type=\"importmap\">"),
        ("/index.html", "/js/main.js"),
        ("/js/main.js", "import"),
        ("/style.css", "{"),
        ("/vendor/maplibre-gl/maplibre-gl.mjs", "maplibre"),
        ("/vendor/maplibre-gl/maplibre-gl-worker.mjs", ""),
        ("/vendor/maplibre-gl/maplibre-gl.css", ".maplibregl"),
        ("/vendor/terra-draw/terra-draw.module.js", "TerraDraw"),
        (
            "/vendor/terra-draw-maplibre-gl-adapter/terra-draw-maplibre-gl-adapter.module.js",
            "",
        ),
    ] {
        let (status, body) = http(port, "GET", path, None, None);
        assert_eq!(status, 200, "{path}");
        assert!(
            body.len() > 100 && body.contains(needle),
            "{path}: {} bytes",
            body.len()
        );
    }
    let (status, _) = http(port, "GET", "/no-such-file.js", None, None);
    assert_eq!(status, 404);
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    assert!(server.wait().expect("server exits").success());
}

#[test]
fn serves_the_demo_project_over_http() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("demo.gpkg");
    let run = |args: &[&str]| {
        let out = gridmap(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    };
    run(&["init", s(&p), "--town", "演示镇", "--code", "310101001"]);
    run(&[
        "import",
        s(&p),
        "--layer",
        "grids",
        s(&demo("grids.geojson")),
    ]);
    run(&[
        "import",
        s(&p),
        "--layer",
        "buildings",
        s(&demo("buildings.geojson")),
    ]);
    user_added(&p, "sup", "town_supervisor", "310101001", "demo-password");

    // A session lasts 1 to 720 hours.
    let out = gridmap(&["serve", s(&p), "--session-hours", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--session-hours"), "{}", stderr(&out));

    let (mut server, port) = serve(
        Command::new(env!("CARGO_BIN_EXE_gridmap")),
        &p,
        &["--session-hours", "2"],
    );

    let (status, body) = http(port, "GET", "/health", None, None);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"grids\":31"), "{body}");
    let (status, _) = http(port, "GET", "/api/stats", None, None);
    assert_eq!(status, 401);
    let (status, body) = http(
        port,
        "POST",
        "/api/login",
        None,
        Some(r#"{"username":"sup","password":"demo-password"}"#),
    );
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(answer["expires_in"], 7200, "--session-hours 2");
    let token = answer["token"].as_str().expect("token").to_string();
    let (status, body) = http(port, "GET", "/api/stats?by=village", Some(&token), None);
    assert_eq!(status, 200, "{body}");
    let stats: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(stats["rows"].as_array().expect("rows").len(), 6);
    // Signing out ends the token at once.
    let (status, body) = http(port, "POST", "/api/logout", Some(&token), None);
    assert_eq!((status, body.as_str()), (200, r#"{"signed_out":true}"#));
    let (status, _) = http(port, "GET", "/api/me", Some(&token), None);
    assert_eq!(status, 401);

    // SIGTERM: the server finishes and exits cleanly.
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let status = server.wait().expect("server exits");
    assert!(status.success(), "{status:?}");
}

/// Visits stream in from eight clients; the server is killed with SIGKILL mid-stream. After
/// that the file passes SQLite's integrity check and holds every visit that was answered 200.
#[test]
fn a_killed_server_keeps_every_answered_visit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("demo.gpkg");
    demo_project(
        &p,
        &[
            ("grids", "grids.geojson"),
            ("buildings", "buildings.geojson"),
        ],
    );
    user_added(&p, "admin", "admin", "310101001", "quiet-harbour-2026");
    let (mut server, port) = serve(Command::new(env!("CARGO_BIN_EXE_gridmap")), &p, &[]);
    let _guard = KillOnDrop(server.id());
    let (status, body) = http(
        port,
        "POST",
        "/api/login",
        None,
        Some(r#"{"username":"admin","password":"quiet-harbour-2026"}"#),
    );
    assert_eq!(status, 200, "{body}");
    let token: serde_json::Value = serde_json::from_str(&body).expect("json");
    let token = token["token"].as_str().expect("token").to_string();
    let ids: Vec<String> = {
        let store = gridmap_store::GpkgStore::open(&p).expect("open");
        use gridmap_store::Store;
        store
            .buildings()
            .expect("buildings")
            .into_iter()
            .take(200)
            .map(|b| b.id)
            .collect()
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
                            let v: serde_json::Value = serde_json::from_str(&answer).expect("json");
                            answered.push(v["id"].as_str().expect("id").to_string());
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
    let _ = Command::new("kill")
        .args(["-KILL", &server.id().to_string()])
        .status();
    let _ = server.wait();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answered: Vec<String> = clients
        .into_iter()
        .flat_map(|c| c.join().expect("client"))
        .collect();
    assert!(
        answered.len() > 10,
        "only {} visits answered",
        answered.len()
    );
    let store = gridmap_store::GpkgStore::open(&p).expect("the file opens after SIGKILL");
    let check: String = store
        .connection()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity check");
    assert_eq!(check, "ok");
    use gridmap_store::Store;
    let stored: std::collections::HashSet<String> = store
        .visits()
        .expect("visits")
        .into_iter()
        .map(|v| v.id)
        .collect();
    let lost: Vec<&String> = answered.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} answered visits lost",
        lost.len(),
        answered.len()
    );
}

/// What another process writes into the served file — `gridmap user add`, then at once
/// `gridmap import` — the server notices (SQLite's data_version, asked once a second) and
/// serves after loading the file again in the background.
#[test]
fn the_server_takes_in_what_the_cli_writes_to_its_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("demo.gpkg");
    demo_project(
        &p,
        &[
            ("grids", "grids.geojson"),
            ("buildings", "buildings.geojson"),
        ],
    );
    let add_user = |name: &str| user_added(&p, name, "admin", "310101001", "quiet-harbour-2026");
    add_user("first");
    let (mut server, port) = serve(Command::new(env!("CARGO_BIN_EXE_gridmap")), &p, &[]);
    let _guard = KillOnDrop(server.id());
    let login = |name: &str| {
        let body = format!(r#"{{"username":"{name}","password":"quiet-harbour-2026"}}"#);
        http(port, "POST", "/api/login", None, Some(&body))
    };
    let (status, body) = login("first");
    assert_eq!(status, 200, "{body}");
    let token: serde_json::Value = serde_json::from_str(&body).expect("json");
    let token = token["token"].as_str().expect("token").to_string();
    add_user("second");
    let grids: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(demo("grids.geojson")).expect("grids"))
            .expect("json");
    let mut one = grids["features"][0].clone();
    let code = one["properties"]["code"]
        .as_str()
        .expect("code")
        .to_string();
    one["properties"]["name"] = serde_json::json!("renamed-by-the-cli");
    let file = dir.path().join("one.geojson");
    let collection = serde_json::json!({"type": "FeatureCollection", "features": [one]});
    std::fs::write(&file, collection.to_string()).expect("write");
    let out = gridmap(&[
        "import",
        s(&p),
        "--layer",
        "grids",
        s(&file),
        "--mode",
        "upsert",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The reload happens in the background: wait for it (bounded; not a measure of speed).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut name = String::new();
    while std::time::Instant::now() < deadline && name != "renamed-by-the-cli" {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let (status, body) = http(
            port,
            "GET",
            &format!("/api/grids/{code}"),
            Some(&token),
            None,
        );
        if status == 200 {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            name = v["properties"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
        }
    }
    assert_eq!(
        name, "renamed-by-the-cli",
        "the grid renamed by the CLI is not served"
    );
    let (status, body) = login("second");
    assert_eq!(
        status, 200,
        "the user added by the CLI cannot sign in: {body}"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    assert!(server.wait().expect("server exits").success());
}
