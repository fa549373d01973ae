//! What only the PostgreSQL store has: several towns in one database, the schema's layout
//! (town code first, PostGIS columns in EPSG:4326 with GiST indexes), versioned migrations,
//! connection settings from the PG* environment, no password in errors, two connections
//! agreeing on grid versions, and imports larger than one statement's chunk.

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

mod common;

use common::{client, pg_url, town};
use geo::{MultiPolygon, polygon};
use gridmap_core::model::{Building, Footprint, Grid};
use gridmap_pgstore::{PgStore, SCHEMA_VERSION, config, describe};
use gridmap_store::{Change, LAYERS, Mode, Store, StoreError};
use postgres::config::Host;

fn square(x0: f64, w: f64) -> MultiPolygon {
    MultiPolygon(vec![polygon![
        (x: x0, y: 31.0), (x: x0 + w, y: 31.0), (x: x0 + w, y: 31.0 + w), (x: x0, y: 31.0 + w)]])
}

fn grid(code: &str, x0: f64) -> Grid {
    Grid {
        code: code.into(),
        name: Some(format!("{code} 网格")),
        village: None,
        geometry: square(x0, 0.01),
    }
}

fn who() -> Change {
    Change {
        who: "网格长 王".into(),
        why: "test".into(),
    }
}

fn building(id: &str, i: usize) -> Building {
    Building {
        id: id.into(),
        footprint: Footprint::Area(square(121.0 + i as f64 * 1e-4, 5e-5)),
        households: (i % 7) as u32,
        floors: Some((i % 30) as u32),
        kind: None,
    }
}

/// `url` with libpq options added (`-c name=value` settings for the session).
fn with_options(url: &str, options: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!(
        "{url}{sep}options={}",
        options.replace(' ', "%20").replace('=', "%3D")
    )
}

#[test]
fn towns_share_the_database_and_see_only_their_own_rows() {
    let Some((_a_guard, mut a)) = town("pg_towns_a", "东镇") else {
        return;
    };
    let Some((_b_guard, mut b)) = town("pg_towns_b", "西镇") else {
        return;
    };
    a.import_buildings(&[building("b1", 1), building("b2", 2)], Mode::Append)
        .unwrap();
    b.import_buildings(&[building("b1", 3)], Mode::Append)
        .unwrap();
    a.save_grid(&grid("G1", 121.0), None, &who()).unwrap();
    a.save_grid(&grid("G1", 121.1), Some(1), &who()).unwrap();
    assert_eq!(
        b.save_grid(&grid("G1", 121.2), None, &who()).unwrap(),
        1,
        "the same grid code in another town has its own history"
    );
    assert_eq!(a.count("buildings").unwrap(), 2);
    assert_eq!(b.count("buildings").unwrap(), 1);
    assert_eq!(b.buildings().unwrap(), [building("b1", 3)]);
    assert_eq!(a.grid_history("G1").unwrap().len(), 2);
    assert_eq!(b.grid_history("G1").unwrap().len(), 1);
    // Replace in one town leaves the other alone.
    a.import_buildings(&[], Mode::Replace).unwrap();
    assert_eq!(b.count("buildings").unwrap(), 1);
    assert_eq!(a.town().unwrap().name, "东镇");
    assert_eq!(b.town().unwrap().name, "西镇");
    let towns = a.towns().unwrap();
    assert!(towns.contains(&"pg_towns_a".to_string()) && towns.contains(&"pg_towns_b".to_string()));
    assert_eq!((a.town_code(), b.town_code()), ("pg_towns_a", "pg_towns_b"));
}

#[test]
fn create_refuses_an_existing_town_and_open_a_missing_one() {
    let Some((_guard, s)) = town("pg_exists", "东镇") else {
        return;
    };
    let url = pg_url().unwrap();
    let err = PgStore::create(&url, "pg_exists", "又一个").unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }));
    assert!(
        err.to_string().contains("town pg_exists already exists"),
        "{err}"
    );
    assert_eq!(s.town().unwrap().name, "东镇", "the town is untouched");
    let opened = PgStore::open(&url, "pg_exists").unwrap();
    assert_eq!(opened.town().unwrap().name, "东镇");
    let err = PgStore::open(&url, "pg_no_such_town").unwrap_err();
    assert!(err.to_string().contains("no town pg_no_such_town"), "{err}");
    assert!(err.to_string().contains("gridmap init"), "{err}");
}

#[test]
fn every_table_leads_with_the_town_and_has_postgis_columns_with_gist_indexes() {
    let Some((_guard, s)) = town("pg_layout", "东镇") else {
        return;
    };
    let mut c = client(&pg_url().unwrap());
    // The layers, and what schema version 2 added beside them.
    let extra = [
        "users",
        "sessions",
        "audit",
        "plans",
        "register_meta",
        "houses",
        "people",
    ];
    for table in LAYERS.iter().chain(&extra) {
        let first_key_column: String = c
            .query_one(
                "SELECT a.attname FROM pg_index i
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                 WHERE i.indrelid = $1::text::regclass AND i.indisprimary",
                &[&table],
            )
            .unwrap()
            .get(0);
        assert_eq!(first_key_column, "town", "{table}");
    }
    let columns: Vec<(String, String, i32, String)> = c
        .query(
            "SELECT f_table_name::text, f_geometry_column::text, srid, type FROM geometry_columns
             WHERE f_table_schema = current_schema() ORDER BY 1, 2",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    let expected = [
        ("addresses", "geom", "POINT"),
        ("basemap", "geom", "GEOMETRY"),
        ("buildings", "geom", "GEOMETRY"),
        ("grid_history", "geom", "MULTIPOLYGON"),
        ("grid_history", "old_geom", "MULTIPOLYGON"),
        ("grids", "geom", "MULTIPOLYGON"),
        ("town", "geom", "MULTIPOLYGON"),
        ("units", "geom", "POINT"),
        ("villages", "geom", "MULTIPOLYGON"),
        ("visits", "geom", "POINT"),
    ];
    assert_eq!(
        columns,
        expected
            .iter()
            .map(|(t, c, k)| (t.to_string(), c.to_string(), 4326, k.to_string()))
            .collect::<Vec<_>>()
    );
    for table in LAYERS {
        let gist: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_indexes
                 WHERE schemaname = current_schema() AND tablename = $1
                   AND indexdef LIKE '%USING gist (geom)%'",
                &[&table],
            )
            .unwrap()
            .get(0);
        assert_eq!(gist, 1, "{table}");
    }
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn migrations_are_versioned_and_a_newer_schema_is_refused() {
    let Some(url) = pg_url() else {
        return;
    };
    // A schema of its own, so that the other tests' tables are not touched.
    let mut c = client(&url);
    c.batch_execute("DROP SCHEMA IF EXISTS gm_migrations CASCADE; CREATE SCHEMA gm_migrations")
        .unwrap();
    let url = with_options(&url, "-c search_path=gm_migrations,public");
    let err = PgStore::open(&url, "t1").unwrap_err();
    assert!(
        err.to_string().contains("not a gridmap database"),
        "opening an empty database changes nothing: {err}"
    );
    let tables: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'gm_migrations'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 0);
    let s = PgStore::create(&url, "t1", "东镇").unwrap();
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    let versions: Vec<i32> = c
        .query(
            "SELECT version FROM gm_migrations.gridmap_schema ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
    drop(s);
    // Opening again applies nothing twice.
    PgStore::open(&url, "t1").unwrap();
    PgStore::create(&url, "t2", "西镇").unwrap();
    let rows: i64 = c
        .query_one("SELECT count(*) FROM gm_migrations.gridmap_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, i64::from(SCHEMA_VERSION));
    // A database migrated by a newer gridmap is refused, with what to do.
    c.execute(
        "INSERT INTO gm_migrations.gridmap_schema (version) VALUES ($1)",
        &[&(SCHEMA_VERSION + 1)],
    )
    .unwrap();
    for err in [
        PgStore::open(&url, "t1").unwrap_err(),
        PgStore::create(&url, "t3", "南镇").unwrap_err(),
    ] {
        assert!(matches!(err, StoreError::Open { .. }));
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("version {}", SCHEMA_VERSION + 1))
                && msg.contains("upgrade gridmap"),
            "{msg}"
        );
    }
    c.batch_execute("DROP SCHEMA gm_migrations CASCADE")
        .unwrap();
}

#[test]
fn pg_environment_fills_what_the_url_leaves_out() {
    let env = |k: &str| {
        match k {
            "PGHOST" => Some("db.example"),
            "PGPORT" => Some("6543"),
            "PGUSER" => Some("grid"),
            "PGPASSWORD" => Some("from-env"),
            "PGDATABASE" => Some("city"),
            "USER" => Some("os-user"),
            _ => None,
        }
        .map(String::from)
    };
    let c = config("postgres://", env).unwrap();
    assert_eq!(c.get_hosts(), [Host::Tcp("db.example".into())]);
    assert_eq!(c.get_ports(), [6543]);
    assert_eq!(c.get_user(), Some("grid"));
    assert_eq!(c.get_password(), Some(&b"from-env"[..]));
    assert_eq!(c.get_dbname(), Some("city"));
    assert_eq!(describe(&c), "postgres://grid@db.example:6543/city");
    // What the URL says wins.
    let c = config("postgres://me:pw@here:5555/town", env).unwrap();
    assert_eq!(c.get_hosts(), [Host::Tcp("here".into())]);
    assert_eq!(c.get_ports(), [5555]);
    assert_eq!(c.get_user(), Some("me"));
    assert_eq!(c.get_password(), Some(&b"pw"[..]));
    assert_eq!(c.get_dbname(), Some("town"));
    // A socket directory in PGHOST; the OS user when there is no PGUSER; no password at all.
    let c = config("postgres:///db", |k| match k {
        "PGHOST" => Some("/run/postgresql".into()),
        "USER" => Some("os-user".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(c.get_hosts(), [Host::Unix("/run/postgresql".into())]);
    assert_eq!(c.get_user(), Some("os-user"));
    assert_eq!(c.get_password(), None);
    // PGPORT for a host given without a port; the URL's port when it has one.
    let port = |k: &str| (k == "PGPORT").then(|| "6543".to_string());
    let c = config("postgres://u@h/db", port).unwrap();
    assert_eq!(
        (c.get_hosts(), c.get_ports()),
        (&[Host::Tcp("h".into())][..], &[6543][..])
    );
    let c = config("postgresql://u:p%40w@h1,[::1]/db?connect_timeout=3", port).unwrap();
    assert_eq!(c.get_ports(), [6543, 6543]);
    assert_eq!(c.get_password(), Some(&b"p@w"[..]));
    assert_eq!(
        c.get_connect_timeout(),
        Some(&std::time::Duration::from_secs(3))
    );
    let c = config("postgres://u@h:5555,[::1]:5556/db", port).unwrap();
    assert_eq!(c.get_ports(), [5555, 5556]);
    let c = config("host=h user=u", port).unwrap();
    assert_eq!(c.get_ports(), [6543]);
    assert!(
        config("postgres://h/db", |_| None)
            .unwrap_err()
            .to_string()
            .contains("PGUSER")
    );
    assert!(
        config("postgres://u@h/db", |k| (k == "PGPORT").then(|| "x".into()))
            .unwrap_err()
            .to_string()
            .contains("PGPORT")
    );
}

/// The store connects with nothing but the PG* variables: run as a child process of this
/// test binary with them set (a test cannot change its own environment safely).
#[test]
fn connects_with_only_the_pg_environment() {
    const CHILD: &str = "GRIDMAP_PG_ENV_CHILD";
    if let Ok(code) = std::env::var(CHILD) {
        let s = PgStore::open("postgres://", &code).unwrap();
        assert_eq!(s.town().unwrap().name, "环境镇");
        return;
    }
    let Some((_guard, _s)) = town("pg_env", "环境镇") else {
        return;
    };
    let url = pg_url().unwrap();
    let c = config(&url, |_| None).unwrap();
    let host = match &c.get_hosts()[0] {
        Host::Tcp(h) => h.clone(),
        Host::Unix(p) => p.display().to_string(),
    };
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "connects_with_only_the_pg_environment",
            "--nocapture",
        ])
        .env(CHILD, "pg_env")
        .env_remove("GRIDMAP_TEST_PG")
        .env("PGHOST", host)
        .env("PGPORT", c.get_ports().first().unwrap_or(&5432).to_string())
        .env("PGUSER", c.get_user().unwrap())
        .env("PGDATABASE", c.get_dbname().unwrap())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_password_never_shows_in_errors() {
    let secret = "s3cr3t-Pa55";
    // Nothing listens on port 1: the connection fails, and says where it tried.
    let err =
        PgStore::open(&format!("postgres://gridmap:{secret}@127.0.0.1:1/db"), "t").unwrap_err();
    let (shown, debug) = (err.to_string(), format!("{err:?}"));
    assert!(
        shown.contains("postgres://gridmap@127.0.0.1:1/db"),
        "{shown}"
    );
    assert!(shown.contains("cannot connect"), "{shown}");
    assert!(
        !shown.contains(secret) && !debug.contains(secret),
        "{shown} / {debug}"
    );
    // Nor does a URL that cannot be parsed come back.
    let err = PgStore::open(
        &format!("postgres://gridmap:{secret}@127.0.0.1:port/db"),
        "t",
    )
    .unwrap_err();
    let (shown, debug) = (err.to_string(), format!("{err:?}"));
    assert!(shown.contains("not a PostgreSQL connection URL"), "{shown}");
    assert!(
        !shown.contains(secret) && !debug.contains(secret),
        "{shown} / {debug}"
    );
    // Nor the store's Debug.
    let Some(url) = pg_url() else {
        return;
    };
    let Some((_guard, _s)) = town("pg_password", "东镇") else {
        return;
    };
    let with_password = url.replacen("://gridmap@", &format!("://gridmap:{secret}@"), 1);
    let s = PgStore::open(&with_password, "pg_password").unwrap();
    let debug = format!("{s:?}");
    assert!(
        debug.contains("pg_password") && !debug.contains(secret),
        "{debug}"
    );
    assert!(!s.database().contains(secret));
}

#[test]
fn a_broken_connection_is_a_database_error_then_connects_again() {
    let Some((_guard, _s)) = town("pg_broken", "东镇") else {
        return;
    };
    let url = pg_url().unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    let s = PgStore::open(
        &format!("{url}{sep}application_name=pg_broken_test"),
        "pg_broken",
    )
    .unwrap();
    let mut c = client(&url);
    // Terminate exactly this store's session, found by its application name.
    let killed: i64 = c
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE application_name = 'pg_broken_test'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(killed, 1);
    let err = s.count("buildings").unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert_eq!(err.to_string(), "database error");
    assert!(std::error::Error::source(&err).is_some());
    // The next call connects again (as after a restart of PostgreSQL): no restart of gridmap.
    assert_eq!(s.count("buildings").unwrap(), 0);
}

#[test]
fn two_connections_agree_on_grid_versions() {
    let Some((_guard, mut a)) = town("pg_two", "东镇") else {
        return;
    };
    let mut b = PgStore::open(&pg_url().unwrap(), "pg_two").unwrap();
    a.save_grid(&grid("G1", 121.0), None, &who()).unwrap();
    let read_by_b = b.grid("G1").unwrap().unwrap();
    assert_eq!(a.save_grid(&grid("G1", 121.1), Some(1), &who()).unwrap(), 2);
    let err = b
        .save_grid(&grid("G1", 121.2), Some(read_by_b.version), &who())
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::VersionConflict {
                expected: 1,
                actual: 2,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(b.grid("G1").unwrap().unwrap().grid, grid("G1", 121.1));
    assert_eq!(a.grid_history("G1").unwrap().len(), 2);
}

/// An address without a location (its point NaN, NaN, as a form's compound address has) is
/// stored as `POINT EMPTY` and read back as NaN, NaN, as the GeoPackage store does.
#[test]
fn an_address_without_a_point_reads_back() {
    let Some((_guard, mut s)) = town("pg_empty_point", "东镇") else {
        return;
    };
    let a = gridmap_core::model::Address {
        id: "a1".into(),
        point: geo::Point::new(f64::NAN, f64::NAN),
        text: Some("阳光花园3幢".into()),
        declared_grid: None,
        declared_building: Some("b1".into()),
    };
    s.import_addresses(std::slice::from_ref(&a), Mode::Append)
        .unwrap();
    let back = s.addresses().unwrap();
    assert_eq!(back.len(), 1);
    assert!(back[0].point.x().is_nan() && back[0].point.y().is_nan());
    assert_eq!(
        (
            back[0].text.as_deref(),
            back[0].declared_building.as_deref()
        ),
        (Some("阳光花园3幢"), Some("b1"))
    );
}

#[test]
fn imports_larger_than_a_statement_chunk_count_and_keep_order() {
    let Some((_guard, mut s)) = town("pg_chunks", "东镇") else {
        return;
    };
    let b: Vec<Building> = (0..12_345).map(|i| building(&format!("b{i}"), i)).collect();
    assert_eq!(
        s.import_buildings(&b, Mode::Append).unwrap().inserted,
        12_345
    );
    assert_eq!(s.buildings().unwrap(), b);
    let mut changed = b.clone();
    for i in [0, 4_999, 5_000, 10_000, 12_344] {
        changed[i].households += 1;
    }
    let c = s.import_buildings(&changed, Mode::Upsert).unwrap();
    assert_eq!((c.inserted, c.updated, c.unchanged), (0, 5, 12_340));
    // An existing id in the last chunk: nothing of the first chunks is written.
    let mut more: Vec<Building> = (20_000..31_000)
        .map(|i| building(&format!("b{i}"), i))
        .collect();
    more.push(building("b7", 7));
    let err = s.import_buildings(&more, Mode::Append).unwrap_err();
    assert!(err.to_string().contains("id b7 already exists"), "{err}");
    assert_eq!(s.count("buildings").unwrap(), 12_345);
    // A text PostgreSQL cannot store is refused with its record named, before anything is written.
    let mut bad = changed.clone();
    bad[12_000].kind = Some("住\0宅".into());
    let err = s.import_buildings(&bad, Mode::Replace).unwrap_err();
    assert!(
        err.to_string().contains("id b12000: text with a NUL"),
        "{err}"
    );
    assert_eq!(s.buildings().unwrap(), changed);
}

#[test]
fn a_statement_failing_half_way_through_an_import_leaves_nothing_written() {
    let Some((_guard, mut s)) = town("pg_half_way", "东镇") else {
        return;
    };
    s.import_grids(&[grid("G1", 121.0)], Mode::Append, &who())
        .unwrap();
    // The third grid's name holds a NUL, which PostgreSQL refuses when it is written: after
    // G1 was updated and G2 created in the same transaction.
    let mut grids = vec![grid("G1", 121.5), grid("G2", 121.1), grid("G3", 121.2)];
    grids[2].name = Some("坏\0名".into());
    let err = s.import_grids(&grids, Mode::Upsert, &who()).unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert_eq!(err.to_string(), "database error");
    assert_eq!(s.grids().unwrap().len(), 1);
    assert_eq!(s.grid("G1").unwrap().unwrap().grid, grid("G1", 121.0));
    assert_eq!(s.count("grid_history").unwrap(), 1);
    // And the connection is usable again.
    grids[2].name = None;
    let c = s.import_grids(&grids, Mode::Upsert, &who()).unwrap();
    assert_eq!((c.inserted, c.updated), (2, 1));
}

#[test]
fn a_store_can_be_shared_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<PgStore>();
}

fn visit(id: &str) -> gridmap_core::model::Visit {
    gridmap_core::model::Visit {
        id: id.into(),
        building: Some("b1".into()),
        house: None,
        worker: "w".into(),
        time: "2026-03-01T10:00:00+08:00".into(),
        outcome: gridmap_core::model::VisitOutcome::Visited,
        point: None,
        note: None,
        flagged: false,
        knows_worker: None,
        satisfaction: None,
    }
}

/// Every committed change of a town is announced once per statement, in commit order, with
/// the counter one higher each time and the sender's backend; what another town or a
/// rolled-back transaction does is not heard, and the counter is what was announced last.
#[test]
fn committed_changes_are_announced_to_listeners_of_the_town() {
    use gridmap_store::{ChangeKind, ProjectStore};
    use std::time::Duration;
    let Some((_a_guard, mut a)) = town("pg_notes_a", "东镇") else {
        return;
    };
    let Some((_b_guard, mut b)) = town("pg_notes_b", "西镇") else {
        return;
    };
    let mut heard = a.listen().unwrap();
    let start = a.change_counter().unwrap();
    assert_eq!(heard.counter().unwrap(), start);
    assert_eq!(heard.own_sender(), a.backend_pid().unwrap());
    let other = a.reopen().unwrap();
    assert_ne!(other.backend_pid().unwrap(), a.backend_pid().unwrap());
    assert_eq!(other.town_code(), "pg_notes_a");

    // Another town's change is not heard.
    b.import_visits(&[visit("x")], Mode::Append).unwrap();
    // Visits added through this store: one note, from it, with the last fid.
    a.import_visits(&[visit("v1"), visit("v2")], Mode::Append)
        .unwrap();
    let n = heard.next(Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!(
        (n.counter, n.kind, n.sender),
        (start + 1, ChangeKind::Visits, a.backend_pid().unwrap())
    );
    assert!(n.last_visit.is_some());
    // A grid saved through the second connection: the grid and its history, "other", from it.
    let mut other = other;
    other.save_grid(&grid("g1", 121.0), None, &who()).unwrap();
    let mut counters = Vec::new();
    while let Some(n) = heard.next(Duration::from_millis(500)).unwrap() {
        assert_eq!(n.kind, ChangeKind::Other);
        assert_eq!(n.sender, other.backend_pid().unwrap());
        counters.push(n.counter);
    }
    assert!(!counters.is_empty());
    let expected: Vec<i64> = (start + 2..start + 2 + counters.len() as i64).collect();
    assert_eq!(
        counters, expected,
        "one more per statement, in commit order"
    );
    assert_eq!(a.change_counter().unwrap(), *counters.last().unwrap());
    // A transaction rolled back is neither counted nor heard.
    {
        let mut c = client(&pg_url().unwrap());
        let mut tx = c.transaction().unwrap();
        tx.execute("UPDATE grids SET name = 'x' WHERE town = 'pg_notes_a'", &[])
            .unwrap();
        tx.rollback().unwrap();
    }
    assert!(heard.next(Duration::from_millis(300)).unwrap().is_none());
    assert_eq!(heard.counter().unwrap(), *counters.last().unwrap());
    // A listener cut off says so, and hears again once connected again.
    let pid = heard.backend_pid().unwrap();
    client(&pg_url().unwrap())
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .unwrap();
    assert!(heard.next(Duration::from_secs(5)).is_err());
    heard.reconnect().unwrap();
    a.import_visits(&[visit("v3")], Mode::Append).unwrap();
    let n = heard.next(Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!(n.counter, counters.last().unwrap() + 1);
    // The visits a log holding the first one has not seen, in store order.
    let ids: Vec<String> = a
        .visits_from(1)
        .unwrap()
        .into_iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(ids, ["v2", "v3"]);
    let mut streamed = Vec::new();
    a.each_visit_from(1, &mut |v| streamed.push(v.id)).unwrap();
    assert_eq!(streamed, ids, "streamed as read at once");
    assert_eq!(a.visits_from(0).unwrap().len(), 3);
    assert!(a.visits_from(3).unwrap().is_empty());
    // The feed as the server sees it.
    let mut feed = ProjectStore::change_feed(&a).unwrap().unwrap();
    feed.reconnect().unwrap();
    assert_eq!(feed.counter().unwrap(), n.counter);
    // The store's notes stay its own after the database closed its connection: the store
    // connects again with a new backend, and the feed knows that one as the store's.
    let own = feed.own_sender();
    assert_eq!(own, a.backend_pid().unwrap());
    client(&pg_url().unwrap())
        .execute("SELECT pg_terminate_backend($1)", &[&own])
        .unwrap();
    let _ = a.import_visits(&[visit("v4")], Mode::Append); // may meet the closed connection
    a.import_visits(&[visit("v5")], Mode::Append).unwrap();
    let mut last = None;
    while let Some(n) = feed.next(Duration::from_secs(2)).unwrap() {
        last = Some(n);
    }
    let last = last.expect("the store's write was heard");
    assert_ne!(last.sender, own);
    assert_eq!(last.sender, feed.own_sender());
}
