//! Real OGC API – Features clients against `gridmap serve` on the demo project: OWSLib (Python),
//! GDAL's OAPIF driver (`ogrinfo`, `ogr2ogr`) and QGIS (headless PyQGIS, its own OAPIF provider
//! with its OAuth2 authentication method), signed in with the Bearer token. They must open the
//! service as it is, page through every building, and count what the project holds in the
//! user's area (1,321 buildings for a town-level user).
//!
//! The clients are reference tools: outside CI a missing one skips its test with a message;
//! under `CI=true` (where `scripts/setup.sh` installs GDAL, Debian's QGIS and OWSLib, the latter
//! into the virtual environment `target/py`) a missing one fails it.

mod support;
#[path = "support/tools.rs"]
mod tools;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::*;

const TOWN: &str = "310101001";
const VILLAGE: &str = "310101001002";
const GRID: &str = "310101001002-03";
const PASSWORD: &str = "quiet-harbour-2026";
/// The demo's buildings.
const BUILDINGS: usize = 1321;

/// The demo project (no households: they need the register key) with one user per kind of
/// area, served on a free port.
fn serve_demo(dir: &Path) -> (KillOnDrop, u16) {
    let p = dir.join("demo.gpkg");
    demo_project(
        &p,
        &[
            ("boundary", "town.geojson"),
            ("villages", "villages.geojson"),
            ("grids", "grids.geojson"),
            ("buildings", "buildings.geojson"),
            ("addresses", "addresses.geojson"),
            ("visits", "visits.geojson"),
        ],
    );
    for (name, role, scope) in [
        ("supervisor", "town_supervisor", TOWN),
        ("manager", "village_manager", VILLAGE),
        ("worker", "grid_worker", GRID),
    ] {
        user_added(&p, name, role, scope, PASSWORD);
    }
    let (server, port) = serve(Command::new(env!("CARGO_BIN_EXE_gridmap")), &p, &[]);
    (KillOnDrop(server.id()), port)
}

/// Signs `user` in over HTTP; the bearer token.
fn token(port: u16, user: &str) -> String {
    let body = format!(r#"{{"username":"{user}","password":"{PASSWORD}"}}"#);
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        s,
        "POST /api/login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let json = &out[out.find('{').expect("a JSON answer")..];
    let v: serde_json::Value = serde_json::from_str(json.trim()).expect("json");
    v["token"].as_str().expect("token").to_string()
}

/// A Python that can import OWSLib: the one `scripts/setup.sh` makes under `target/py`, or
/// `python3`. Panics under CI when there is none (see [`tools::have`]).
fn python_with_owslib() -> Option<PathBuf> {
    let candidates = [
        root().join("target/py/bin/python3"),
        PathBuf::from("python3"),
    ];
    let found = candidates.into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import owslib.ogcapi.features"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if found.is_none() {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(
            !ci,
            "OWSLib is not installed, and under CI a reference test may not skip: run scripts/setup.sh"
        );
        eprintln!("SKIPPED: OWSLib is not installed (scripts/setup.sh installs it into target/py)");
    }
    found
}

const OWSLIB_SCRIPT: &str = r#"
import json, os
from owslib.ogcapi.features import Features

headers = {"Authorization": "Bearer " + os.environ["TOKEN"]}
w = Features(os.environ["URL"], headers=headers)
out = {}
out["conformance"] = w.conformance()["conformsTo"]
out["api"] = w.api()["openapi"]
out["collections"] = [c["id"] for c in w.collections()["collections"]]
out["buildings"] = w.collection("buildings")["title"]
ids, pages, offset, matched = [], 0, 0, None
while True:
    page = w.collection_items("buildings", limit=250, offset=offset)
    pages += 1
    matched = page["numberMatched"]
    ids += [f["id"] for f in page["features"]]
    if not any(l["rel"] == "next" for l in page["links"]):
        break
    offset += 250
out["ids"], out["pages"], out["matched"] = ids, pages, matched
box = w.collection_items("buildings", bbox=[121.485, 31.235, 121.495, 31.245], limit=1000)
out["bbox"] = [box["numberMatched"], len(box["features"])]
out["queryables"] = sorted(w.collection_queryables("buildings")["properties"])
one = w.collection_item("buildings", ids[0])
out["one"] = one["id"]
print(json.dumps(out))
"#;

#[test]
fn owslib_opens_the_service_and_pages_through_every_building() {
    let Some(python) = python_with_owslib() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, port) = serve_demo(dir.path());
    let run = |user: &str| -> serde_json::Value {
        let out = Command::new(&python)
            .args(["-c", OWSLIB_SCRIPT])
            .env("URL", format!("http://127.0.0.1:{port}/ogc"))
            .env("TOKEN", token(port, user))
            .output()
            .expect("python runs");
        assert!(out.status.success(), "{user}: {}", stderr(&out));
        serde_json::from_str(stdout(&out).trim()).expect("the script's JSON")
    };
    let v = run("supervisor");
    assert!(
        v["conformance"]
            .as_array()
            .expect("classes")
            .iter()
            .any(|c| c == "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core")
    );
    assert!(v["api"].as_str().expect("openapi").starts_with("3.0"));
    assert_eq!(
        v["collections"],
        serde_json::json!([
            "grids",
            "buildings",
            "addresses",
            "visits",
            "roads",
            "water",
            "landuse"
        ])
    );
    assert_eq!(v["matched"], BUILDINGS);
    assert_eq!(v["pages"], BUILDINGS.div_ceil(250), "every page reached");
    let ids: std::collections::BTreeSet<&str> = v["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|i| i.as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), BUILDINGS, "every building once");
    let (matched, returned) = (v["bbox"][0].as_u64(), v["bbox"][1].as_u64());
    assert!(
        matched.is_some_and(|m| m > 10) && matched == returned,
        "{}",
        v["bbox"]
    );
    assert_eq!(
        v["queryables"],
        serde_json::json!(["grid", "kind", "village", "visit"])
    );
    assert_eq!(v["one"], v["ids"][0]);
    // A grid worker pages through their grid's buildings only.
    let w = run("worker");
    let n = w["matched"].as_u64().expect("matched") as usize;
    assert!(n > 0 && n < BUILDINGS, "{n}");
    assert_eq!(w["ids"].as_array().expect("ids").len(), n);
}

/// `ogrinfo`/`ogr2ogr` with the token in `GDAL_HTTP_HEADERS`.
fn gdal(tool: &str, args: &[&str], token: &str) -> std::process::Output {
    Command::new(tool)
        .args(args)
        .env(
            "GDAL_HTTP_HEADERS",
            format!("Authorization: Bearer {token}"),
        )
        .env("GDAL_HTTP_UNSAFESSL", "NO")
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e}"))
}

#[test]
fn gdal_lists_the_layers_and_copies_every_page_of_a_collection() {
    if !tools::have("ogrinfo") || !tools::have("ogr2ogr") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, port) = serve_demo(dir.path());
    let url = format!("OAPIF:http://127.0.0.1:{port}/ogc");
    let supervisor = token(port, "supervisor");
    let out = gdal("ogrinfo", &["-ro", "-q", &url], &supervisor);
    assert!(out.status.success(), "{}", stderr(&out));
    let listing = stdout(&out);
    for layer in [
        "grids",
        "buildings",
        "addresses",
        "visits",
        "roads",
        "water",
    ] {
        assert!(
            listing.lines().any(|l| l.contains(&format!(": {layer} "))
                || l.trim_end().ends_with(&format!(": {layer}"))),
            "{layer} in {listing}"
        );
    }
    let out = gdal("ogrinfo", &["-ro", "-so", &url, "buildings"], &supervisor);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("Feature Count: {BUILDINGS}")),
        "{}",
        stdout(&out)
    );
    // A whole collection, page by page (200 a page: 7 pages).
    let copy = |user_token: &str, layer: &str, name: &str| -> serde_json::Value {
        let file = dir.path().join(name);
        let out = gdal(
            "ogr2ogr",
            &[
                "-f",
                "GeoJSON",
                s(&file),
                &url,
                layer,
                "-oo",
                "PAGE_SIZE=200",
            ],
            user_token,
        );
        assert!(out.status.success(), "{}", stderr(&out));
        read_json(&file)
    };
    let all = copy(&supervisor, "buildings", "buildings.geojson");
    let features = all["features"].as_array().expect("features");
    assert_eq!(features.len(), BUILDINGS, "every page copied");
    let ids: std::collections::BTreeSet<&str> = features
        .iter()
        .map(|f| f["properties"]["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), BUILDINGS, "every building once");
    // The buildings in no grid are there, for a town-level user.
    let in_none = features
        .iter()
        .filter(|f| f["properties"]["grid"] == "")
        .count();
    assert_eq!(in_none, 39 + 3, "39 in no grid, 3 in several");
    // A village manager: their village's buildings, including those in no grid inside it.
    let manager = token(port, "manager");
    let theirs = copy(&manager, "buildings", "village.geojson");
    let theirs = theirs["features"].as_array().expect("features");
    assert!(!theirs.is_empty() && theirs.len() < BUILDINGS);
    assert!(
        theirs.iter().all(|f| f["properties"]["village"] == VILLAGE),
        "only their village"
    );
    // Visits copy too, with their time.
    let visits = copy(&supervisor, "visits", "visits.geojson");
    let visits = visits["features"].as_array().expect("features");
    assert!(!visits.is_empty());
    assert!(visits.iter().all(|f| f["properties"]["time"].is_string()));
    // Without a token: refused, not an empty layer.
    let out = Command::new("ogrinfo")
        .args(["-ro", "-so", &url, "buildings"])
        .output()
        .expect("ogrinfo");
    assert!(!out.status.success() || !stdout(&out).contains("Feature Count: 1321"));
}

/// Headless QGIS (Debian's PyQGIS, on Debian's Python): an OAuth2 authentication configuration
/// with the Resource Owner grant against `/api/oauth/token`, as the README's steps make by
/// hand, then the `buildings` and `grids` collections through QGIS's own OAPIF provider, and the
/// project file itself through OGR. Prints one line of JSON last.
const QGIS_SCRIPT: &str = r#"
import json, os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
base, user, password, profile, project = sys.argv[1:6]
from qgis.core import QgsApplication, QgsVectorLayer, QgsAuthMethodConfig
app = QgsApplication([], False, profile)
app.initQgis()
am = QgsApplication.authManager()
assert am.setMasterPassword("headless-master-1", True), "master password"
cfg = QgsAuthMethodConfig()
cfg.setName("gridmap")
cfg.setMethod("OAuth2")
cfg.setConfig("oauth2config", json.dumps({
    "accessMethod": 0, "apiKey": "", "clientId": "qgis", "clientSecret": "", "configType": 1,
    "description": "", "grantFlow": 2, "name": "gridmap", "objectName": "", "password": password,
    "persistToken": False, "queryPairs": {}, "redirectPort": 7070, "redirectUrl": "",
    "refreshTokenUrl": "", "requestTimeout": 30, "requestUrl": "", "scope": "",
    "tokenUrl": base + "/api/oauth/token", "username": user, "version": 1,
}))
stored = am.storeAuthenticationConfig(cfg)
if isinstance(stored, tuple):
    stored, cfg = stored
def layer(name):
    return QgsVectorLayer(f"url='{base}/ogc' typename='{name}' authcfg={cfg.id()}", name, "OAPIF")
buildings = layer("buildings")
ids = [f["id"] for f in buildings.getFeatures()] if buildings.isValid() else []
grids = layer("grids")
gpkg = QgsVectorLayer(project + "|layername=buildings", "file", "ogr")
print(json.dumps({
    "stored": bool(stored), "valid": buildings.isValid(), "count": buildings.featureCount(),
    "ids": len(ids), "unique": len(set(ids)), "grids": grids.featureCount() if grids.isValid() else -1,
    "file": gpkg.featureCount() if gpkg.isValid() else -1,
}))
# PyQGIS 3.22 may crash tearing down providers at exit; what was printed is the answer.
sys.stdout.flush()
os._exit(0)
"#;

/// Debian's Python when it can import PyQGIS (`qgis` and `python3-qgis`, which
/// `scripts/setup.sh` installs). Panics under CI when it cannot (see [`tools::have`]).
fn python_with_qgis() -> Option<&'static str> {
    const PYTHON: &str = "/usr/bin/python3";
    let ok = Command::new(PYTHON)
        .args(["-c", "import qgis.core"])
        .env("QT_QPA_PLATFORM", "offscreen")
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(
            !ci,
            "PyQGIS is not installed, and under CI a reference test may not skip: run scripts/setup.sh"
        );
        eprintln!(
            "SKIPPED: PyQGIS is not installed (scripts/setup.sh installs qgis and python3-qgis)"
        );
    }
    ok.then_some(PYTHON)
}

#[test]
fn qgis_opens_the_service_with_its_oauth2_method_and_the_project_file() {
    let Some(python) = python_with_qgis() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, port) = serve_demo(dir.path());
    let run = |user: &str| -> serde_json::Value {
        let profile = dir.path().join(format!("qgis-{user}"));
        std::fs::create_dir_all(&profile).expect("profile folder");
        let out = Command::new(python)
            .args(["-c", QGIS_SCRIPT])
            .args([&format!("http://127.0.0.1:{port}"), user, PASSWORD])
            .args([s(&profile), s(&dir.path().join("demo.gpkg"))])
            .env("HOME", &profile)
            .output()
            .expect("python runs");
        assert!(out.status.success(), "{user}: {}", stderr(&out));
        let text = stdout(&out);
        let last = text
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .unwrap_or("");
        serde_json::from_str(last).unwrap_or_else(|_| panic!("{user}: {text}"))
    };
    let v = run("supervisor");
    assert_eq!(v["stored"], true, "{v}");
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["count"], BUILDINGS, "{v}");
    assert_eq!(
        (v["ids"].clone(), v["unique"].clone()),
        (BUILDINGS.into(), BUILDINGS.into()),
        "{v}"
    );
    assert_eq!(v["grids"], 31, "{v}");
    assert_eq!(v["file"], BUILDINGS, "the project file opens in QGIS: {v}");
    let w = run("worker");
    let n = w["count"].as_u64().expect("count") as usize;
    assert!(w["valid"] == true && n > 0 && n < BUILDINGS, "{w}");
    assert_eq!(w["grids"], 1, "{w}");
}
