//! A town moves between a GeoPackage project and a PostgreSQL database (issue #25 item 5):
//! `gridmap import postgres://… town.gpkg` (no --layer) adds the whole project as a new town,
//! all or nothing; `gridmap export postgres://… --town CODE backup.gpkg` (no --layer) writes the
//! whole town as a GeoPackage project. The demo project, with a grid history, users, audit
//! entries, plans and the household registers, goes gpkg → PostgreSQL → gpkg and comes back
//! the same: every layer, every grid's versions, users, audit log, plans, the registers in
//! clear with the key and byte for byte sealed, the validation report. An import that fails
//! leaves the database as it was.
//!
//! The database comes from `GRIDMAP_TEST_PG`, as in tests/cli_pg.rs (see `support/pg.rs`).

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

#[path = "support/pg.rs"]
mod pg;
mod support;
#[path = "support/tools.rs"]
mod tools;

use std::path::Path;
use std::process::Output;

use gridmap_pgstore::PgStore;
use gridmap_store::registers::{RegisterKey, View};
use gridmap_store::{GpkgStore, Store};
use pg::{Town, pg_url};
use serde_json::Value;
use support::*;

const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddee01";

/// Runs gridmap with the register key in `GRIDMAP_KEY` when given, and without any key else.
fn gm(args: &[&str], key: Option<&str>) -> Output {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_gridmap"));
    c.args(args)
        .env_remove("GRIDMAP_KEY")
        .env_remove("GRIDMAP_KEY_FILE");
    if let Some(k) = key {
        c.env("GRIDMAP_KEY", k);
    }
    c.output().expect("the gridmap binary runs")
}

fn ok(args: &[&str]) -> String {
    let out = gm(args, None);
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
    let out = gm(args, None);
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

/// The demo project of scripts/demo-project.sh for town `code` at `p`, with two units, a grid
/// renamed, one deleted and restored (so that its history holds every action), two users, two
/// audit entries and two plans (one adopted).
fn demo_project(dir: &Path, p: &Path, code: &str) {
    let ps = s(p);
    ok(&["init", ps, "--town", "外滩陆家嘴演示镇", "--code", code]);
    for (layer, file) in [
        ("boundary", "town.geojson"),
        ("villages", "villages.geojson"),
        ("buildings", "buildings.geojson"),
        ("addresses", "addresses.geojson"),
        ("roads", "raw/roads.geojson"),
        ("water", "raw/water.geojson"),
        ("landuse", "raw/landuse.geojson"),
        ("visits", "visits.geojson"),
    ] {
        ok(&["import", ps, "--layer", layer, s(&demo(file))]);
    }
    let grids = demo("grids.geojson");
    ok(&[
        "import",
        ps,
        "--layer",
        "grids",
        s(&grids),
        "--who",
        "demo",
        "--why",
        "demo data",
    ]);
    let rejected = dir.join("households.rejected.csv");
    let out = gm(
        &[
            "import",
            ps,
            "--layer",
            "households",
            s(&demo("households.csv")),
            "--skip-invalid",
            "--rejected",
            s(&rejected),
        ],
        Some(KEY),
    );
    assert!(out.status.success(), "households: {}", stderr(&out));
    let units = dir.join("units.geojson");
    std::fs::write(
        &units,
        r#"{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"id":"U1","name":"外滩社区卫生服务中心","category":"医疗","address":"中山东一路1号","contact":"021-00000000"},"geometry":{"type":"Point","coordinates":[121.49,31.24]}},
{"type":"Feature","properties":{"id":"U2","name":"北外滩小学","category":"教育"},"geometry":{"type":"Point","coordinates":[121.495,31.245]}}]}"#,
    )
    .unwrap();
    ok(&["import", ps, "--layer", "units", s(&units)]);

    // History: the first grid renamed (version 2), the last one deleted and restored.
    let mut g = read_json(&grids);
    let features = g["features"].as_array_mut().unwrap();
    features[0]["properties"]["name"] = "北外滩社区第一网格".into();
    let last = features.pop().unwrap();
    let last_code = last["properties"]["code"].as_str().unwrap().to_string();
    let edited = dir.join("grids-edited.geojson");
    std::fs::write(&edited, g.to_string()).unwrap();
    ok(&[
        "import",
        ps,
        "--layer",
        "grids",
        s(&edited),
        "--mode",
        "replace",
        "--who",
        "张网格长",
        "--why",
        "改名，撤销一个网格",
    ]);
    ok(&[
        "restore",
        ps,
        &last_code,
        "--version",
        "1",
        "--who",
        "李主任",
        "--why",
        "撤销有误",
    ]);

    user_added(p, "admin", "admin", code, "correct horse battery staple");
    user_added(
        p,
        "worker",
        "grid_worker",
        &last_code,
        "another long passphrase 2026",
    );
    let mut store = GpkgStore::open(p).unwrap();
    store
        .audit("admin", "read people in clear", "building B1", 3)
        .unwrap();
    store
        .audit("worker", "read people in clear", "grid G", 12)
        .unwrap();
    let village = last["properties"]["village"].as_str().unwrap();
    let a = store
        .save_plan("方案一", village, "admin", 3, r#"{"grids":3}"#)
        .unwrap();
    store
        .save_plan("方案二", village, "admin", 4, r#"{"grids":4}"#)
        .unwrap();
    store.set_plan_adopted(a, r#"{"saved":[1,2,3]}"#).unwrap();
}

/// Every register value of a project file, sealed, as stored: (people, houses, meta).
type Sealed = (
    Vec<Vec<Option<Vec<u8>>>>,
    Vec<Vec<Option<Vec<u8>>>>,
    Vec<(String, String)>,
);

fn sealed(p: &Path) -> Sealed {
    let c = rusqlite::Connection::open(p).unwrap();
    let rows = |sql: &str, n: usize| -> Vec<Vec<Option<Vec<u8>>>> {
        let mut st = c.prepare(sql).unwrap();
        st.query_map([], |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => None,
                        rusqlite::types::ValueRef::Blob(b) => Some(b.to_vec()),
                        rusqlite::types::ValueRef::Text(t) => Some(t.to_vec()),
                        rusqlite::types::ValueRef::Integer(i) => Some(i.to_string().into_bytes()),
                        rusqlite::types::ValueRef::Real(f) => Some(f.to_string().into_bytes()),
                    })
                })
                .collect()
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    };
    let people = rows(
        "SELECT fid, id, house, name, id_number, id_fingerprint, occupation, employer, relation,
           marital_status, hukou_match, phone, source_row, residence FROM people ORDER BY fid",
        14,
    );
    let houses = rows(
        "SELECT fid, id, building, address_key, address, nature, remarks, link, link_reason
         FROM houses ORDER BY fid",
        9,
    );
    let mut st = c
        .prepare(
            "SELECT key, value FROM gridmap_meta
             WHERE key IN ('register_key_check', 'id_fingerprint_scheme') ORDER BY key",
        )
        .unwrap();
    let meta = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    (people, houses, meta)
}

/// The users with when they were added, by name.
fn users(p: &Path) -> Vec<(String, String, String, String, String)> {
    let c = rusqlite::Connection::open(p).unwrap();
    let mut st = c
        .prepare(
            "SELECT username, role, scope, password_hash, created_at FROM gridmap_users
             ORDER BY username",
        )
        .unwrap();
    st.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

/// The codes of every grid with a history (deleted ones too).
fn history_codes(p: &Path) -> Vec<String> {
    let c = rusqlite::Connection::open(p).unwrap();
    let mut st = c
        .prepare("SELECT DISTINCT grid FROM grid_history ORDER BY grid")
        .unwrap();
    st.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// `gridmap validate --json` of a project; the report.
fn validate_report(project: &str, town: &[&str], out: &Path) -> Value {
    let mut args = vec!["validate", project, "--json", s(out)];
    args.extend_from_slice(town);
    let run = gm(&args, None);
    assert!(
        matches!(run.status.code(), Some(0 | 1)),
        "validate {project}: {}",
        stderr(&run)
    );
    read_json(out)
}

const LAYERS: [&str; 10] = [
    "boundary",
    "villages",
    "grids",
    "buildings",
    "addresses",
    "units",
    "visits",
    "roads",
    "water",
    "landuse",
];

#[test]
fn a_town_goes_to_postgres_and_back_the_same() {
    let Some(url) = pg_url() else { return };
    let code = "990200001";
    let _town = Town::new(&url, code);
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("town.gpkg");
    demo_project(dir.path(), &original, code);

    // No register key: the registers move sealed.
    let said = ok(&["import", &url, s(&original)]);
    assert!(said.contains(&format!("as town {code}")), "{said}");
    assert!(said.contains("people"), "{said}");
    let back = dir.path().join("back.gpkg");
    let said = ok(&["export", &url, "--town", code, s(&back)]);
    assert!(said.contains("31 grids"), "{said}");
    assert!(!dir.path().join("back.gpkg.partial").exists());

    // Every layer, as the export of one layer writes it: from the file, the database and the
    // backup.
    for layer in LAYERS {
        let out = |name: &str| dir.path().join(format!("{name}-{layer}.geojson"));
        ok(&["export", s(&original), "--layer", layer, s(&out("a"))]);
        ok(&[
            "export",
            &url,
            "--town",
            code,
            "--layer",
            layer,
            s(&out("pg")),
        ]);
        ok(&["export", s(&back), "--layer", layer, s(&out("b"))]);
        let a = read_json(&out("a"));
        assert!(!a["features"].as_array().unwrap().is_empty(), "{layer}");
        assert_eq!(a, read_json(&out("pg")), "{layer}");
        assert_eq!(a, read_json(&out("b")), "{layer}");
    }

    // Every version of every grid, with who, when and why.
    let codes = history_codes(&original);
    assert_eq!(codes.len(), 31);
    assert_eq!(codes, history_codes(&back));
    let mut actions = std::collections::BTreeSet::new();
    for grid in &codes {
        let a = ok(&["history", s(&original), grid, "--json"]);
        let b = ok(&["history", s(&back), grid, "--json"]);
        assert_eq!(a, b, "{grid}");
        for v in serde_json::from_str::<Value>(&a)
            .unwrap()
            .as_array()
            .unwrap()
        {
            actions.insert(v["action"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(
        actions.into_iter().collect::<Vec<_>>(),
        ["created", "deleted", "restored", "updated"]
    );

    // Users (their hashes), the audit log, plans (renumbered by the database, in order).
    assert_eq!(users(&original).len(), 2);
    assert_eq!(users(&original), users(&back));
    let (a, b) = (
        GpkgStore::open(&original).unwrap(),
        GpkgStore::open(&back).unwrap(),
    );
    let on_pg = PgStore::open(&url, code).unwrap();
    assert_eq!(a.audit_log().unwrap().len(), 2);
    assert_eq!(a.audit_log().unwrap(), b.audit_log().unwrap());
    assert_eq!(a.audit_log().unwrap(), on_pg.audit_log().unwrap());
    let plans = |s: &GpkgStore| {
        s.plans()
            .unwrap()
            .into_iter()
            .map(|mut e| {
                let p = s.plan(e.id).unwrap().unwrap();
                e.id = 0;
                (e, p.body, p.adopted)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(plans(&a).len(), 2);
    assert_eq!(plans(&a), plans(&b));

    // The registers: in clear with the key from each, and sealed byte for byte.
    let key = RegisterKey::from_hex(KEY).unwrap();
    let people = a.people(&key, View::Clear).unwrap();
    assert!(people.len() > 100);
    assert_eq!(people, b.people(&key, View::Clear).unwrap());
    assert_eq!(people, on_pg.people(&key, View::Clear).unwrap());
    assert_eq!(a.houses().unwrap(), b.houses().unwrap());
    assert_eq!(a.houses().unwrap(), on_pg.houses().unwrap());
    assert_eq!(
        a.house_remarks(&key).unwrap(),
        b.house_remarks(&key).unwrap()
    );
    assert_eq!(
        a.fingerprint_scheme().unwrap(),
        on_pg.fingerprint_scheme().unwrap()
    );
    let sealed_a = sealed(&original);
    assert_eq!(sealed_a.2.len(), 2, "key check and fingerprint scheme");
    assert_eq!(sealed_a, sealed(&back));
    drop((a, b));

    // The same report from the file, the database and the backup; the same register stats.
    let report = validate_report(s(&original), &[], &dir.path().join("a.json"));
    assert!(report["summary"]["grids"].as_u64().unwrap() > 0);
    assert_eq!(
        report,
        validate_report(&url, &["--town", code], &dir.path().join("pg.json"))
    );
    assert_eq!(
        report,
        validate_report(s(&back), &[], &dir.path().join("b.json"))
    );
    assert_eq!(
        ok(&["stats", s(&original), "--json"]),
        ok(&["stats", s(&back), "--json"])
    );

    // GDAL opens the backup and lists its layers.
    if tools::have("ogrinfo") {
        let out = std::process::Command::new("ogrinfo")
            .args(["-ro", "-q", s(&back)])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let listed = stdout(&out);
        for layer in [
            "town",
            "villages",
            "grids",
            "grid_history",
            "buildings",
            "addresses",
            "units",
            "visits",
            "basemap",
        ] {
            assert!(
                listed.contains(&format!(": {layer} ("))
                    || listed.contains(&format!(": {layer}\n")),
                "{layer}: {listed}"
            );
        }
    }

    // A second export to the same file is refused and leaves it alone.
    let before = std::fs::read(&back).unwrap();
    let err = fails(&["export", &url, "--town", code, s(&back)]);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(before, std::fs::read(&back).unwrap());
}

/// A town of the database as a copy of every row, to see that nothing changed.
fn town_rows(url: &str, code: &str) -> Option<gridmap_store::transfer::ProjectCopy> {
    let exists: bool = pg::connect(url)
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM town WHERE town = $1)",
            &[&code],
        )
        .unwrap()
        .get(0);
    exists.then(|| PgStore::open(url, code).unwrap().copy_out().unwrap())
}

#[test]
fn an_import_that_fails_leaves_the_database_as_it_was() {
    let Some(url) = pg_url() else { return };
    let (code, other) = ("990200002", "990200003");
    let _town = Town::new(&url, code);
    let _other = Town::new(&url, other);
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("town.gpkg");
    demo_project(dir.path(), &original, code);
    ok(&["import", &url, "--town", code, s(&original)]);
    let before = town_rows(&url, code).unwrap();
    assert_eq!(
        before.registers.people.len(),
        GpkgStore::open(&original)
            .unwrap()
            .copy_out()
            .unwrap()
            .registers
            .people
            .len()
    );

    // The town exists: refused, nothing written.
    let err = fails(&["import", &url, s(&original)]);
    assert!(
        err.contains(&format!("town {code} already exists")),
        "{err}"
    );
    assert_eq!(town_rows(&url, code).as_ref(), Some(&before));

    // --town must be the project's own code.
    let err = fails(&["import", &url, "--town", other, s(&original)]);
    assert!(err.contains(&format!("not {other}")), "{err}");
    assert!(town_rows(&url, other).is_none());

    // A project whose last rows break a constraint (a person in no house) fails at the end of
    // the transaction: no town, nothing of it.
    let broken = dir.path().join("broken.gpkg");
    std::fs::copy(&original, &broken).unwrap();
    {
        // Through the store's connection, which has the functions of the R-tree triggers.
        let store = GpkgStore::open(&broken).unwrap();
        store
            .connection()
            .execute_batch(&format!(
                "PRAGMA foreign_keys = OFF;
             UPDATE town SET code = '{other}';
             UPDATE people SET house = 'no-such-house' WHERE fid = (SELECT max(fid) FROM people);"
            ))
            .unwrap();
    }
    let err = fails(&["import", &url, s(&broken)]);
    assert!(err.contains("cannot import"), "{err}");
    assert!(town_rows(&url, other).is_none());

    // Not a project at all.
    let junk = dir.path().join("junk.gpkg");
    std::fs::write(&junk, "not a GeoPackage").unwrap();
    let err = fails(&["import", &url, s(&junk)]);
    assert!(err.contains("junk.gpkg"), "{err}");

    let plated = dir.path().join("plated.gpkg");
    std::fs::copy(&original, &plated).unwrap();
    {
        let mut store = GpkgStore::open(&plated).unwrap();
        store
            .connection()
            .execute("UPDATE town SET code = ?1", [other])
            .unwrap();
        let buildings: Vec<String> = store
            .buildings()
            .unwrap()
            .into_iter()
            .map(|b| b.id)
            .collect();
        assert!(!store.plates_for(&buildings).unwrap().plates.is_empty());
    }
    // QR door plates move with the project (they were refused before the database kept them).
    let out = ok(&["import", &url, s(&plated)]);
    assert!(out.contains(" plates"), "{out}");
    let source = GpkgStore::open(&plated).unwrap().copy_out().unwrap();
    let moved = town_rows(&url, other).unwrap();
    assert!(!moved.plates.plates.is_empty());
    assert_eq!(moved.plates.plates, source.plates.plates);
    assert_eq!(town_rows(&url, code).as_ref(), Some(&before));

    // Arguments that do not apply to a whole project, and a whole project into a file.
    let err = fails(&["import", &url, s(&original), "--mode", "upsert"]);
    assert!(err.contains("do not apply"), "{err}");
    let err = fails(&["import", s(&original), s(&broken)]);
    assert!(err.contains("PostgreSQL database"), "{err}");
    let err = fails(&["export", s(&original), s(&dir.path().join("copy.gpkg"))]);
    assert!(err.contains("GeoPackage project already"), "{err}");
    let err = fails(&[
        "export",
        &url,
        "--town",
        code,
        s(&dir.path().join("t.geojson")),
    ]);
    assert!(err.contains(".gpkg"), "{err}");
}
