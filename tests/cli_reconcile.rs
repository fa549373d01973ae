//! `gridmap reconcile` end to end (同增同减): synthetic police extracts made from the demo
//! register with planted differences (`gridmap_synth::police`) give exactly the planted counts,
//! in the JSON shape, in the exchange workbook (read back with calamine) and in the
//! recorded figures; police-only people become tasks once; bad extracts are refused with the
//! row and column named and leave the project file as it was.

mod support;
#[path = "support/tools.rs"]
mod tools;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use calamine::{Data, Reader, Xlsx, open_workbook};
use gridmap_core::police::PoliceRow;
use gridmap_store::GpkgStore;
use gridmap_store::registers::{RegisterKey, View};
use gridmap_synth::police::{PlantedCounts, PolicePlan, RegisterEntry, police_extract, to_csv};
use serde_json::Value;
use support::*;

const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn gm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gridmap"))
        .args(args)
        .env_remove("GRIDMAP_KEY_FILE")
        .env("GRIDMAP_KEY", KEY)
        .output()
        .expect("gridmap runs")
}

/// The demo project with its register: grids, buildings, standard addresses and the demo
/// household form (542 synthetic people).
fn demo_register(dir: &Path) -> PathBuf {
    let p = dir.join("demo.gpkg");
    demo_project(
        &p,
        &[
            ("grids", "grids.geojson"),
            ("buildings", "buildings.geojson"),
            ("addresses", "addresses.geojson"),
        ],
    );
    let side = dir.join("rejected.csv");
    let form = demo("households.csv");
    let out = gm(&[
        "import",
        s(&p),
        "--layer",
        "households",
        s(&form),
        "--skip-invalid",
        "--rejected",
        s(&side),
    ]);
    assert!(out.status.success(), "import households: {}", stderr(&out));
    p
}

/// The register's people with their house's address, in clear, as the extract is made from.
fn register_of(p: &Path) -> Vec<RegisterEntry> {
    let store = GpkgStore::open(p).expect("open");
    let key = RegisterKey::from_hex(KEY).expect("key");
    let houses: std::collections::HashMap<String, String> = store
        .houses()
        .expect("houses")
        .into_iter()
        .map(|h| (h.id, h.address))
        .collect();
    store
        .people(&key, View::Clear)
        .expect("people")
        .into_iter()
        .map(|p| RegisterEntry {
            id_number: p.id_number,
            name: p.name,
            address: houses[&p.house].clone(),
        })
        .collect()
}

/// Writes `rows` as a CSV extract in `dir`.
fn extract_csv(dir: &Path, name: &str, rows: &[PoliceRow]) -> PathBuf {
    let f = dir.join(name);
    std::fs::write(&f, to_csv(rows)).expect("extract written");
    f
}

/// Writes `rows` as an XLSX extract in `dir`, as a station exports it: a title merged across
/// the columns above the header, a serial number column, other titles for the same columns.
fn extract_xlsx(dir: &Path, name: &str, rows: &[PoliceRow]) -> PathBuf {
    use rust_xlsxwriter::{Format, Workbook};
    let f = dir.join(name);
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet
        .merge_range(0, 0, 0, 5, "某派出所实有人口信息（导出）", &Format::new())
        .expect("title");
    let titles = [
        "序号",
        "人员姓名",
        "身份证号码",
        "现居住地址",
        "房屋编号",
        "人口状态",
    ];
    for (c, t) in titles.iter().enumerate() {
        sheet.write_string(1, c as u16, *t).expect("cell");
    }
    for (i, r) in rows.iter().enumerate() {
        let row = i as u32 + 2;
        sheet.write_number(row, 0, i as f64 + 1.0).expect("cell");
        sheet.write_string(row, 1, &r.name).expect("cell");
        sheet.write_string(row, 2, &r.id_number).expect("cell");
        sheet.write_string(row, 3, &r.address).expect("cell");
        if let Some(code) = &r.house_code {
            sheet.write_string(row, 4, code).expect("cell");
        }
        let status = r.status.map_or("", |s| s.as_str());
        sheet.write_string(row, 5, status).expect("cell");
    }
    book.save(&f).expect("saved");
    f
}

fn reconcile(p: &Path, extract: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["reconcile", s(p), "--police", s(extract)];
    args.extend_from_slice(extra);
    gm(&args)
}

/// The summary the planted counts call for, as the JSON writes it.
fn expected_summary(c: &PlantedCounts) -> Value {
    let all = c.matched + c.police_only + c.register_only;
    serde_json::json!({
        "police": c.police,
        "register": c.register,
        "matched": c.matched,
        "police_only": c.police_only,
        "register_only": c.register_only,
        "address_mismatch": c.address_mismatch,
        "consistency_rate": c.matched_same_address as f64 / all as f64,
    })
}

fn sum(v: &Value, field: &str) -> u64 {
    v["by_grid"]
        .as_array()
        .expect("by_grid")
        .iter()
        .map(|g| g[field].as_u64().expect("a count"))
        .sum()
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    k.sort_unstable();
    k
}

/// Every cell of `sheet` as text, row by row.
fn sheet_rows(book: &Path, sheet: &str) -> Vec<Vec<String>> {
    let mut wb: Xlsx<_> = open_workbook(book).expect("the workbook opens");
    let range = wb.worksheet_range(sheet).expect("the sheet is there");
    range
        .rows()
        .map(|r| {
            r.iter()
                .map(|c| match c {
                    Data::Empty => String::new(),
                    Data::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect()
}

/// The full plan: every kind of difference at once gives exactly the planted counts in the
/// JSON (in the shape, names and ID numbers masked), per grid, in the workbook and in
/// the recorded run; the tasks are made once.
#[test]
fn planted_differences_give_exactly_the_planted_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = demo_register(dir.path());
    let register = register_of(&p);
    assert_eq!(register.len(), 542);
    let plan = PolicePlan {
        added: 7,
        removed: 5,
        moved: 4,
        variants: 12,
        gone: 3,
        seed: 42,
    };
    let (rows, planted) = police_extract(&register, &plan);
    assert_eq!(planted.address_mismatch, 4, "four moves possible");
    let extract = extract_csv(dir.path(), "police-2026-11.csv", &rows);
    let (json, book) = (dir.path().join("r.json"), dir.path().join("exchange.xlsx"));
    let out = reconcile(
        &p,
        &extract,
        &["--json", s(&json), "--xlsx", s(&book), "--apply-tasks"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("police 544, register 542, matched 537 (4 at another address), police only 7, register only 5"),
        "{text}"
    );
    assert!(
        text.contains("3 of people gone (迁出/注销/死亡) left out"),
        "{text}"
    );
    assert!(
        text.contains("tasks to visit: 7 made, 0 already there"),
        "{text}"
    );

    // The JSON: the shape, the planted counts, masked personal data.
    let v = read_json(&json);
    assert_eq!(
        keys(&v),
        [
            "address_mismatch",
            "by_grid",
            "police_only",
            "register_only",
            "summary"
        ]
    );
    assert_eq!(
        v["summary"],
        expected_summary(&planted),
        "{:#}",
        v["summary"]
    );
    for g in v["by_grid"].as_array().expect("by_grid") {
        assert_eq!(
            keys(g),
            [
                "address_mismatch",
                "consistency_rate",
                "grid",
                "police_only",
                "register_only"
            ]
        );
    }
    assert_eq!(sum(&v, "police_only"), 7);
    assert_eq!(sum(&v, "register_only"), 5);
    assert_eq!(sum(&v, "address_mismatch"), 4);
    for (list, n) in [
        ("police_only", 7),
        ("register_only", 5),
        ("address_mismatch", 4),
    ] {
        assert_eq!(v[list].as_array().map(Vec::len), Some(n), "{list}");
    }
    let raw = std::fs::read_to_string(&json).expect("json");
    for r in &rows {
        assert!(
            !raw.contains(&r.id_number),
            "an ID number in clear in the JSON"
        );
        assert!(!raw.contains(&r.name), "a name in clear in the JSON");
    }
    let moved = &v["address_mismatch"][0];
    assert_ne!(moved["police_address"], moved["register_address"]);
    assert!(moved["name"].as_str().is_some_and(|n| n.ends_with('*')));
    // Police-only people at the register's addresses: each found its house and grid.
    for d in v["police_only"].as_array().expect("list") {
        assert!(d["house"].is_string() && d["police_row"].is_u64(), "{d}");
    }

    // The exchange workbook: 新增 (register only), 注销 (police only), 更正 (moved), 汇总.
    let wb: Xlsx<_> = open_workbook(&book).expect("the workbook opens");
    assert_eq!(wb.sheet_names(), ["新增", "注销", "更正", "汇总"]);
    for (sheet, n) in [("新增", 5), ("注销", 7), ("更正", 4)] {
        let cells = sheet_rows(&book, sheet);
        assert!(
            cells[0][0].starts_with("演示镇 网格与公安人口数据比对"),
            "{:?}",
            cells[0]
        );
        assert!(cells[1][0].contains("police-2026-11.csv"), "{:?}", cells[1]);
        assert_eq!(cells[2][..3], ["序号", "姓名", "公民身份号码"], "{sheet}");
        assert_eq!(cells.len(), 3 + n, "{sheet}");
    }
    // ID numbers in clear in the exchange file, as text: the station acts on them.
    let police_only: Vec<&PoliceRow> = rows
        .iter()
        .filter(|r| r.name.starts_with("测试新"))
        .collect();
    let cancelled = sheet_rows(&book, "注销");
    for r in &police_only {
        assert!(
            cancelled
                .iter()
                .any(|row| row[2] == r.id_number && row[1] == r.name),
            "police-only row {} in 注销",
            r.row
        );
    }

    // The recorded figures and the tasks.
    let store = GpkgStore::open(&p).expect("open");
    let run = store.latest_reconciliation().expect("read").expect("a run");
    assert_eq!(run.run, 1);
    assert!(run.source.starts_with("police-2026-11.csv sha256:"));
    assert_eq!(
        (
            run.town.matched,
            run.town.matched_same_address,
            run.town.police_only,
            run.town.register_only,
            run.town.address_mismatch
        ),
        (537, 533, 7, 5, 4)
    );
    assert_eq!(
        run.town.consistency_rate,
        v["summary"]["consistency_rate"].as_f64()
    );
    // The scorecard's 一致率 is this run's, the same number.
    let card = gm(&["stats", p.to_str().expect("utf-8"), "--scorecard", "--json"]);
    assert!(
        card.status.success(),
        "{}",
        String::from_utf8_lossy(&card.stderr)
    );
    let card: Value = serde_json::from_slice(&card.stdout).expect("scorecard JSON");
    let rate = &card["town"]["consistency_rate"];
    assert_eq!(
        (rate["numerator"].as_u64(), rate["denominator"].as_u64()),
        (Some(533), Some(537 + 7 + 5))
    );
    assert_eq!(
        rate["rate"].as_f64(),
        v["summary"]["consistency_rate"].as_f64()
    );
    let audit = store.audit_log().expect("audit");
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(
        (audit[0].action.as_str(), audit[0].count),
        ("wrote the police exchange workbook in clear", 16)
    );
    let tasks = store.open_tasks(None).expect("tasks");
    assert_eq!(tasks.len(), 7);
    assert!(tasks.iter().all(|t| t.kind == "police_only" && !t.done));
    let grid = tasks[0].grid.clone().expect("the address has a grid");
    let in_grid = store.open_tasks(Some(&grid)).expect("tasks");
    assert!(!in_grid.is_empty() && in_grid.iter().all(|t| t.grid.as_deref() == Some(&*grid)));
    drop(store);

    // The same extract again: a second run recorded, no task doubled.
    let out = reconcile(&p, &extract, &["--apply-tasks"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("tasks to visit: 0 made, 7 already there"),
        "{}",
        stdout(&out)
    );
    let mut store = GpkgStore::open(&p).expect("open");
    assert_eq!(store.open_tasks(None).expect("tasks").len(), 7);
    assert_eq!(
        store.latest_reconciliation().expect("read").map(|r| r.run),
        Some(2)
    );
    // A task done, the same extract a third time: not made again (same extract) …
    assert!(store.finish_task(tasks[0].id).expect("finish"));
    drop(store);
    let out = reconcile(&p, &extract, &["--apply-tasks"]);
    assert!(
        stdout(&out).contains("0 made, 7 already there"),
        "{}",
        stdout(&out)
    );
    // … but next month's extract (other bytes) still listing the person makes a new one.
    let mut next = rows.clone();
    next.reverse();
    let next_month = extract_csv(dir.path(), "police-2026-12.csv", &next);
    let out = reconcile(&p, &next_month, &["--apply-tasks"]);
    assert!(
        stdout(&out).contains("1 made, 6 already there"),
        "{}",
        stdout(&out)
    );
}

/// Each kind of planted difference alone gives its count and nothing else: people added,
/// removed, moved, written otherwise (full-width digits, 號, spaces, all three — still the same
/// address) and gone (counted nowhere).
#[test]
fn each_kind_of_difference_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = demo_register(dir.path());
    let register = register_of(&p);
    let cases = [
        (
            "added",
            PolicePlan {
                added: 3,
                ..PolicePlan::default()
            },
            (3, 0, 0),
        ),
        (
            "removed",
            PolicePlan {
                removed: 3,
                ..PolicePlan::default()
            },
            (0, 3, 0),
        ),
        (
            "moved",
            PolicePlan {
                moved: 3,
                ..PolicePlan::default()
            },
            (0, 0, 3),
        ),
        (
            "variants",
            PolicePlan {
                variants: 40,
                ..PolicePlan::default()
            },
            (0, 0, 0),
        ),
        (
            "gone",
            PolicePlan {
                gone: 3,
                ..PolicePlan::default()
            },
            (0, 0, 0),
        ),
    ];
    for (name, plan, (police_only, register_only, moved)) in cases {
        let (rows, planted) = police_extract(&register, &PolicePlan { seed: 9, ..plan });
        let extract = extract_csv(dir.path(), &format!("{name}.csv"), &rows);
        let json = dir.path().join(format!("{name}.json"));
        let out = reconcile(&p, &extract, &["--json", s(&json)]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let v = read_json(&json);
        assert_eq!(v["summary"], expected_summary(&planted), "{name}");
        let got = |k: &str| v["summary"][k].as_u64().unwrap_or(u64::MAX) as usize;
        assert_eq!(
            (
                got("police_only"),
                got("register_only"),
                got("address_mismatch")
            ),
            (police_only, register_only, moved),
            "{name}"
        );
    }
}

/// An XLSX extract as a station exports it (a merged title above the header, other titles)
/// reads as the CSV does and gives the planted counts.
#[test]
fn an_xlsx_extract_with_a_title_row_gives_the_planted_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = demo_register(dir.path());
    let plan = PolicePlan {
        added: 4,
        removed: 2,
        moved: 3,
        variants: 10,
        gone: 2,
        seed: 11,
    };
    let (rows, planted) = police_extract(&register_of(&p), &plan);
    let extract = extract_xlsx(dir.path(), "police.xlsx", &rows);
    let json = dir.path().join("r.json");
    let out = reconcile(&p, &extract, &["--json", s(&json)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("(xlsx, header row 2, 546 rows, 2 of people gone"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("columns left out: 序号"),
        "{}",
        stdout(&out)
    );
    assert_eq!(read_json(&json)["summary"], expected_summary(&planted));
}

/// The golden report of the demo register against a fixed synthetic extract: grids, houses,
/// masked names and rows as they were reviewed (`UPDATE_GOLDEN=1` rewrites it).
#[test]
fn the_demo_report_is_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = demo_register(dir.path());
    let plan = PolicePlan {
        added: 3,
        removed: 3,
        moved: 2,
        variants: 8,
        gone: 2,
        seed: 2026,
    };
    let (rows, _) = police_extract(&register_of(&p), &plan);
    let extract = extract_csv(dir.path(), "police.csv", &rows);
    let json = dir.path().join("r.json");
    let out = reconcile(&p, &extract, &["--json", s(&json)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let got = read_json(&json);
    let golden = root().join("tests/golden/reconcile_demo.json");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let text = serde_json::to_string_pretty(&got).expect("json") + "\n";
        std::fs::write(&golden, text).expect("golden written");
    }
    assert_eq!(got, read_json(&golden), "{got:#}");
}

/// Bad extracts are refused with the file, the row and the column named, no personal data
/// in the message, and the project file left byte for byte as it was; a GBK extract is read.
#[test]
fn bad_extracts_are_named_by_row_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = demo_register(dir.path());
    let register = register_of(&p);
    let (rows, _) = police_extract(
        &register,
        &PolicePlan {
            seed: 3,
            ..PolicePlan::default()
        },
    );
    let before = std::fs::read(&p).expect("project bytes");

    // A bad check digit on spreadsheet row 5 of an XLSX, and an empty ID on row 9.
    let mut bad = rows[..10].to_vec();
    let id = bad[3].id_number.clone();
    let flipped = if id.ends_with('0') { '1' } else { '0' };
    bad[3].id_number = format!("{}{flipped}", &id[..17]);
    bad[7].id_number = String::new();
    let xlsx = dir.path().join("bad.xlsx");
    {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for (c, t) in ["姓名", "身份证号码", "居住地址", "人员状态"]
            .iter()
            .enumerate()
        {
            sheet.write_string(0, c as u16, *t).expect("cell");
        }
        for (i, r) in bad.iter().enumerate() {
            let row = i as u32 + 1;
            sheet.write_string(row, 0, &r.name).expect("cell");
            sheet.write_string(row, 1, &r.id_number).expect("cell");
            sheet.write_string(row, 2, &r.address).expect("cell");
            sheet.write_string(row, 3, "常住").expect("cell");
        }
        book.save(&xlsx).expect("saved");
    }
    let no_id = dir.path().join("no-id.csv");
    std::fs::write(&no_id, "姓名,现住址,人员状态\n测试甲,中山东一路1号,常住\n").expect("w");
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "").expect("w");
    let header_only = dir.path().join("header-only.csv");
    std::fs::write(&header_only, "公民身份号码,姓名,现住址\n").expect("w");
    let binary = dir.path().join("binary.csv");
    std::fs::write(&binary, b"\xff\xfe\xff\x00,\x81\xff").expect("w");
    let cases: [(&Path, &[&str]); 5] = [
        (
            &xlsx,
            &[
                "bad.xlsx: 2 rows with errors, nothing compared or changed",
                "row 5: column B 公民身份号码 has a wrong check digit (GB 11643)",
                "row 9: column B 公民身份号码 is empty",
            ],
        ),
        (&no_id, &["no-id.csv: row 1: no 公民身份号码 column"]),
        (&empty, &["empty.csv: the sheet is empty"]),
        (
            &header_only,
            &["header-only.csv: no person under the header (row 1)"],
        ),
        (&binary, &["binary.csv: neither UTF-8 nor GBK"]),
    ];
    for (file, says) in cases {
        let out = reconcile(
            &p,
            file,
            &["--apply-tasks", "--json", s(&dir.path().join("x.json"))],
        );
        assert_eq!(out.status.code(), Some(2), "{}", file.display());
        let err = stderr(&out);
        for want in says {
            assert!(err.contains(want), "{}: {err}", file.display());
        }
        for r in &bad {
            assert!(!err.contains(&r.name), "a name in the message: {err}");
            assert!(
                r.id_number.len() < 10 || !err.contains(&r.id_number[..10]),
                "an ID number in the message: {err}"
            );
        }
        assert!(!dir.path().join("x.json").exists(), "no report written");
        assert!(
            std::fs::read(&p).expect("bytes") == before,
            "{}: the project changed",
            file.display()
        );
    }
    let store = GpkgStore::open(&p).expect("open");
    assert_eq!(store.latest_reconciliation().expect("read"), None);
    assert!(store.open_tasks(None).expect("tasks").is_empty());
    drop(store);

    // GBK (as Excel on a Chinese Windows saves CSV): decoded and compared.
    let gbk = dir.path().join("gbk.csv");
    let text = to_csv(&rows);
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(&text);
    assert!(!unmappable);
    std::fs::write(&gbk, &bytes).expect("w");
    let out = reconcile(&p, &gbk, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("(GBK, header row 1"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("matched 542 (0 at another address)"),
        "{}",
        stdout(&out)
    );
}

/// A project made before reconciliation gets its two tables on the first run, as GeoPackage
/// attribute tables that GDAL lists; reading the figures of a project without them writes
/// nothing.
#[test]
fn the_tables_are_added_to_an_existing_project_and_stay_a_valid_geopackage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = demo_register(dir.path());
    let store = GpkgStore::open(&p).expect("open");
    assert_eq!(store.latest_reconciliation().expect("read"), None);
    assert!(
        store
            .open_tasks(Some("310101001001-01"))
            .expect("tasks")
            .is_empty()
    );
    drop(store);
    let (rows, _) = police_extract(
        &register_of(&p),
        &PolicePlan {
            added: 2,
            seed: 5,
            ..PolicePlan::default()
        },
    );
    let out = reconcile(
        &p,
        &extract_csv(dir.path(), "p.csv", &rows),
        &["--apply-tasks"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let conn = rusqlite::Connection::open(&p).expect("sqlite");
    let contents: Vec<(String, String)> = conn
        .prepare(
            "SELECT table_name, data_type FROM gpkg_contents
             WHERE table_name IN ('gridmap_tasks', 'gridmap_reconciliations') ORDER BY 1",
        )
        .expect("sql")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(
        contents,
        [
            (
                "gridmap_reconciliations".to_string(),
                "attributes".to_string()
            ),
            ("gridmap_tasks".to_string(), "attributes".to_string())
        ]
    );
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("check");
    assert_eq!(ok, "ok");
    drop(conn);
    if tools::have("ogrinfo") {
        let out = Command::new("ogrinfo")
            .args(["-ro", "-so", s(&p), "gridmap_tasks"])
            .output()
            .expect("ogrinfo runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("Feature Count: 2"), "{text}");
    }
}
