//! `gridmap import --layer households` and `gridmap stats` end to end: a CSV household form is
//! imported into the demo project, linked to its buildings, encrypted, and counted; the key is
//! required and personal data never appears in messages.

mod support;

use std::process::Command;

use support::*;

const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn gm(args: &[&str], key: Option<&str>) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gridmap"));
    c.args(args)
        .env_remove("GRIDMAP_KEY")
        .env_remove("GRIDMAP_KEY_FILE");
    if let Some(k) = key {
        c.env("GRIDMAP_KEY", k);
    }
    c.output().expect("gridmap runs")
}

/// A fake ID number (birth date 1990-01-0n) with a valid GB 11643 check digit.
fn fake_id(n: u32) -> String {
    let body = format!("1101051990010{n}00{n}");
    let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .chars()
        .zip(weights)
        .map(|(c, w)| c.to_digit(10).expect("digits") * w)
        .sum();
    let check = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'][(sum % 11) as usize];
    format!("{body}{check}")
}

/// A project with the demo grids, buildings and standard addresses.
fn demo_project(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("demo.gpkg");
    for args in [
        vec!["init", s(&p), "--town", "演示镇", "--code", "310101001"],
        vec![
            "import",
            s(&p),
            "--layer",
            "grids",
            s(&demo("grids.geojson")),
        ],
        vec![
            "import",
            s(&p),
            "--layer",
            "buildings",
            s(&demo("buildings.geojson")),
        ],
        vec![
            "import",
            s(&p),
            "--layer",
            "addresses",
            s(&demo("addresses.geojson")),
        ],
    ] {
        let out = gm(&args, None);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    p
}

#[test]
fn a_household_form_is_imported_linked_encrypted_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = demo_project(dir.path());
    let (good, bad) = (fake_id(1), {
        let id = fake_id(2);
        let last = if id.ends_with('0') { '1' } else { '0' };
        format!("{}{last}", &id[..17])
    });
    let form = dir.path().join("form.csv");
    std::fs::write(
        &form,
        format!(
            "住址,姓名,公民身份号码,联系电话,与户主关系,房屋性质\n\
             上海市黄浦区中山东一路18号301室,测试甲,{good},13800001111,户主,租住\n\
             上海市黄浦区中山东一路18号302室,测试乙,{bad},13800002222,户主,自购\n"
        ),
    )
    .expect("form written");
    // Without a key: refused, naming the variable.
    let out = gm(&["import", s(&p), "--layer", "households", s(&form)], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("GRIDMAP_KEY"), "{}", stderr(&out));
    // All or nothing: the bad check digit refuses the whole form, without printing the number.
    let out = gm(
        &["import", s(&p), "--layer", "households", s(&form)],
        Some(KEY),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("row 3") || err.contains("row"), "{err}");
    assert!(
        !err.contains(&bad) && !err.contains(&good),
        "no ID number in messages: {err}"
    );
    // With --skip-invalid the good row goes in and the bad one is listed.
    let side = dir.path().join("rejected.csv");
    let out = gm(
        &[
            "import",
            s(&p),
            "--layer",
            "households",
            s(&form),
            "--skip-invalid",
            "--rejected",
            s(&side),
        ],
        Some(KEY),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = std::fs::read_to_string(&side).expect("side file");
    assert!(
        listed.contains("check digit") && !listed.contains(&bad),
        "{listed}"
    );
    // The file does not give the people away.
    let bytes = std::fs::read(&p).expect("project");
    let wal = std::fs::read(p.with_extension("gpkg-wal")).unwrap_or_default();
    for secret in [good.as_str(), "13800001111", "测试甲"] {
        let needle = secret.as_bytes();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "{secret} in clear in the file"
        );
        assert!(
            !wal.windows(needle.len()).any(|w| w == needle),
            "{secret} in clear in the WAL"
        );
    }
    let out = gm(&["stats", s(&p), "--by", "grid", "--json"], Some(KEY));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains(&good), "stats carry no ID numbers");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let total = |field: &str| -> u64 {
        v["groups"]
            .as_array()
            .map(|rows| rows.iter().filter_map(|r| r[field].as_u64()).sum())
            .unwrap_or(0)
    };
    assert_eq!(total("people"), 1, "{text}");
    assert_eq!(total("people_linked"), 1, "{text}");
}

#[test]
fn the_demo_household_form_links_to_the_demo_buildings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = demo_project(dir.path());
    let side = dir.path().join("rejected.csv");
    let out = gm(
        &[
            "import",
            s(&p),
            "--layer",
            "households",
            s(&demo("households.csv")),
            "--skip-invalid",
            "--rejected",
            s(&side),
        ],
        Some(KEY),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = gm(&["stats", s(&p), "--by", "village", "--json"], Some(KEY));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(v["town"]["people"], 542);
    assert_eq!(v["town"]["people_linked"], 514);
}

/// `form.csv` in `dir`: the first `people` (at most 2) of 测试甲 in 中山东一路18号301室 and
/// 测试乙 in 302室, with ID numbers `fake_id(1)`, `fake_id(2)`.
fn form_csv(dir: &std::path::Path, people: usize) -> std::path::PathBuf {
    let rows = [
        format!(
            "上海市黄浦区中山东一路18号301室,测试甲,{},13800001111,户主,租住\n",
            fake_id(1)
        ),
        format!(
            "上海市黄浦区中山东一路18号302室,测试乙,{},13800002222,户主,租住\n",
            fake_id(2)
        ),
    ];
    let form = dir.join("form.csv");
    let text = "住址,姓名,公民身份号码,联系电话,与户主关系,房屋性质\n".to_string()
        + &rows[..people].concat();
    std::fs::write(&form, text).expect("form written");
    form
}

/// `gridmap rekey`: the registers move to a new key in one go; afterwards the new key reads
/// them and the old one is refused, and a wrong current key changes nothing.
#[test]
fn the_registers_move_to_a_new_key() {
    const NEW: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
    let dir = tempfile::tempdir().expect("tempdir");
    let p = demo_project(dir.path());
    let form = form_csv(dir.path(), 1);
    let out = gm(
        &["import", s(&p), "--layer", "households", s(&form)],
        Some(KEY),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let new_key = dir.path().join("new.key");
    std::fs::write(&new_key, format!("{NEW}\n")).expect("key file");
    // The wrong current key: refused, nothing changed.
    let out = gm(&["rekey", s(&p), "--new-key-file", s(&new_key)], Some(NEW));
    assert!(!out.status.success());
    let out = gm(&["stats", s(&p), "--json"], Some(KEY));
    assert!(out.status.success(), "{}", stderr(&out));
    // The right one: moved.
    let out = gm(&["rekey", s(&p), "--new-key-file", s(&new_key)], Some(KEY));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("1 people"), "{}", stdout(&out));
    let store = gridmap_store::GpkgStore::open(&p).expect("open");
    let new = gridmap_store::registers::RegisterKey::from_hex(NEW).expect("key");
    let old = gridmap_store::registers::RegisterKey::from_hex(KEY).expect("key");
    let people = store
        .people(&new, gridmap_store::registers::View::Clear)
        .expect("the new key reads the people");
    assert_eq!(people[0].name, "测试甲");
    assert_eq!(people[0].id_number.as_deref(), Some(fake_id(1).as_str()));
    assert!(
        store
            .people(&old, gridmap_store::registers::View::Clear)
            .is_err()
    );
    // Importing again with the new key finds the same person (the fingerprint moved too).
    let out = gm(
        &["import", s(&p), "--layer", "households", s(&form)],
        Some(NEW),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let people = store
        .people(&new, gridmap_store::registers::View::Clear)
        .expect("people");
    assert_eq!(people.len(), 1, "the same person, not a second one");
}

/// A project written before fingerprints were HMAC-SHA256 (no `id_fingerprint_scheme` record;
/// its fingerprints stand in for scheme 1's here, 32 hex digits that the new scheme never makes)
/// is upgraded by the next `import --layer households`: the person is found again, not added,
/// and the scheme is recorded. `stats` (no key) changes nothing.
#[test]
fn an_old_scheme_project_is_upgraded_by_the_next_import() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = demo_project(dir.path());
    let form = form_csv(dir.path(), 2);
    let import = || {
        gm(
            &["import", s(&p), "--layer", "households", s(&form)],
            Some(KEY),
        )
    };
    let out = import();
    assert!(out.status.success(), "{}", stderr(&out));
    let scheme = |conn: &rusqlite::Connection| -> Option<String> {
        conn.query_row(
            "SELECT value FROM gridmap_meta WHERE key = 'id_fingerprint_scheme'",
            [],
            |r| r.get(0),
        )
        .ok()
    };
    let fingerprints = |conn: &rusqlite::Connection| -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT id_fingerprint FROM people ORDER BY fid")
            .expect("people");
        stmt.query_map([], |r| r.get(0))
            .expect("rows")
            .map(|r| r.expect("row"))
            .collect()
    };
    let new_scheme = {
        let conn = rusqlite::Connection::open(&p).expect("open");
        assert_eq!(scheme(&conn).as_deref(), Some("2"));
        let fps = fingerprints(&conn);
        // Make it an old project.
        conn.execute(
            "DELETE FROM gridmap_meta WHERE key = 'id_fingerprint_scheme'",
            [],
        )
        .expect("delete");
        conn.execute(
            "UPDATE people SET id_fingerprint = printf('%032x', fid)",
            [],
        )
        .expect("update");
        fps
    };
    assert_eq!(new_scheme.len(), 2);
    let out = gm(&["stats", s(&p), "--json"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let conn = rusqlite::Connection::open(&p).expect("open");
    assert_eq!(
        scheme(&conn),
        None,
        "a read without the key upgrades nothing"
    );
    drop(conn);
    let out = import();
    assert!(out.status.success(), "{}", stderr(&out));
    let conn = rusqlite::Connection::open(&p).expect("open");
    assert_eq!(scheme(&conn).as_deref(), Some("2"));
    assert_eq!(
        fingerprints(&conn),
        new_scheme,
        "the same people, each with the fingerprint of its ID number"
    );
}
