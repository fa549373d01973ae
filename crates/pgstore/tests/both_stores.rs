//! Users, sessions, the audit log, plans, the household registers, key subjects, QR door plates
//! and declarations, and the visit log's streamed reads behave the same on the
//! PostgreSQL store as on the GeoPackage store: each test writes the same things through both
//! and compares what they read back; then what only PostgreSQL has (several towns in one
//! database, what its raw tables hold, a statement failing half-way through an import).

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

mod common;

use std::path::{Path, PathBuf};

use common::{client, pg_url};
use gridmap_core::model::Address;
use gridmap_core::register::{FormRow, HouseNature, id_check_digit};
use gridmap_io::households::read_households;
use gridmap_io::{Fields, read_addresses, read_buildings, read_grids};
use gridmap_pgstore::PgStore;
use gridmap_store::declarations::{Declaration, DeclaredPerson, NewDeclaration};
use gridmap_store::key_subjects::{KeySubject, SubjectKind};
use gridmap_store::plates::{CopiedPlates, Plate, PlateSet, is_token};
use gridmap_store::registers::{
    FINGERPRINT_SCHEME, GroupBy, HouseholdImport, HouseholdOptions, RegisterError, RegisterKey,
    View,
};
use gridmap_store::{Change, GpkgStore, Mode, Store, StoreError, User};
use rust_xlsxwriter::{Format, Workbook};

const TOWN_NAME: &str = "测试街道";

/// The same town on both stores: a PostgreSQL town (with its guard) and a GeoPackage file.
struct Both {
    _guard: common::Town,
    pg: PgStore,
    _dir: tempfile::TempDir,
    gpkg: GpkgStore,
}

fn both(code: &str) -> Option<Both> {
    let (guard, pg) = common::town(code, TOWN_NAME)?;
    let dir = tempfile::tempdir().unwrap();
    let gpkg = GpkgStore::create(&dir.path().join("p.gpkg"), code, TOWN_NAME).unwrap();
    Some(Both {
        _guard: guard,
        pg,
        _dir: dir,
        gpkg,
    })
}

/// Runs the same statement on both stores and answers both results.
macro_rules! on_both {
    ($b:expr, |$s:ident| $body:expr) => {{
        let $s = &mut $b.pg;
        let pg = $body;
        let $s = &mut $b.gpkg;
        let gpkg = $body;
        (pg, gpkg)
    }};
}

/// Runs the same statement on both stores and asserts that they answer alike (`Debug`).
macro_rules! same {
    ($b:expr, |$s:ident| $body:expr) => {{
        let (pg, gpkg) = on_both!($b, |$s| $body);
        assert_eq!(
            format!("{pg:?}"),
            format!("{gpkg:?}"),
            "{}",
            stringify!($body)
        );
        pg
    }};
}

fn user(name: &str, role: &str, scope: &str) -> User {
    User {
        username: name.into(),
        role: role.into(),
        scope: scope.into(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA${name}"),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Visits read as they come ([`ProjectStore::each_visit_from`], how a server loads a
/// campaign's visit log) are the visits read at once, from any position, on both stores.
#[test]
fn visits_stream_from_any_position_as_they_read_at_once() {
    use gridmap_core::model::{Visit, VisitOutcome};
    use gridmap_store::ProjectStore;
    let Some(mut b) = both("pg_both_visits") else {
        return;
    };
    let visits: Vec<Visit> = (0..7)
        .map(|n| Visit {
            id: format!("v{n}"),
            building: Some(format!("b{}", n % 3)),
            house: (n % 2 == 0).then(|| format!("h{n}")),
            worker: "wang".into(),
            time: format!("2026-03-2{n}T09:00:00.000Z"),
            outcome: VisitOutcome::ALL[n % VisitOutcome::ALL.len()],
            point: Some(geo::Point::new(121.0 + n as f64 * 1e-3, 31.0)),
            note: (n == 3).then(|| "门口有狗".into()),
            flagged: n == 5,
            knows_worker: (n == 1).then_some(true),
            satisfaction: (n == 2).then_some(4),
        })
        .collect();
    same!(b, |s| s.import_visits(&visits, Mode::Append).unwrap());
    for from in 0..=visits.len() + 1 {
        let (pg, gpkg) = on_both!(b, |s| {
            let mut streamed = Vec::new();
            s.each_visit_from(from, &mut |v| streamed.push(v)).unwrap();
            assert_eq!(streamed, s.visits_from(from).unwrap(), "from {from}");
            streamed
        });
        assert_eq!(pg, gpkg, "from {from}");
        assert_eq!(pg, visits[from.min(visits.len())..], "from {from}");
    }
}

#[test]
fn users_round_trip_with_role_and_scope() {
    let Some(mut b) = both("pg_both_users") else {
        return;
    };
    same!(b, |s| s.users().unwrap());
    for u in [
        user("wang", "grid_leader", "310101001001001"),
        user("admin", "admin", "310101001"),
        user("李四", "grid_worker", "310101001001002"),
        user("Zhao", "village_manager", "310101001001"),
    ] {
        same!(b, |s| s.put_user(&u).unwrap());
    }
    // Replacing a user changes its role, scope and password, and adds no one.
    same!(b, |s| s
        .put_user(&user("wang", "planner", "310101001"))
        .unwrap());
    let users = same!(b, |s| s.users().unwrap());
    let names: Vec<&str> = users.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(
        names,
        ["Zhao", "admin", "wang", "李四"],
        "by name, byte order"
    );
    let wang = &users[2];
    assert_eq!(
        (wang.role.as_str(), wang.scope.as_str()),
        ("planner", "310101001")
    );
    assert_eq!(*wang, user("wang", "planner", "310101001"));
}

#[test]
fn sessions_expire_and_are_deleted() {
    let Some(mut b) = both("pg_both_sessions") else {
        return;
    };
    let later = now() + 3600;
    same!(b, |s| s.put_session("aa11", "wang", later).unwrap());
    same!(b, |s| s.put_session("bb22", "li", now() - 1).unwrap());
    assert_eq!(
        same!(b, |s| s.session("aa11").unwrap()),
        Some(("wang".to_string(), later))
    );
    assert_eq!(same!(b, |s| s.session("bb22").unwrap()), None, "expired");
    assert_eq!(same!(b, |s| s.session("cc33").unwrap()), None, "never kept");
    // The expired session is dropped by the next put.
    same!(b, |s| s.put_session("cc33", "zhao", later).unwrap());
    let kept: i64 = client(&pg_url().unwrap())
        .query_one(
            "SELECT count(*) FROM sessions WHERE town = 'pg_both_sessions'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(kept, 2);
    // Putting a token again replaces it.
    same!(b, |s| s.put_session("aa11", "li", later + 1).unwrap());
    assert_eq!(
        same!(b, |s| s.session("aa11").unwrap()),
        Some(("li".to_string(), later + 1))
    );
    same!(b, |s| s.delete_session("aa11").unwrap());
    same!(b, |s| s.delete_session("aa11").unwrap());
    assert_eq!(same!(b, |s| s.session("aa11").unwrap()), None);
    assert!(same!(b, |s| s.session("cc33").unwrap()).is_some());
}

#[test]
fn the_audit_log_keeps_its_order_and_its_town() {
    let Some(mut b) = both("pg_both_audit") else {
        return;
    };
    let Some((_other_guard, other)) = common::town("pg_both_audit_other", TOWN_NAME) else {
        return;
    };
    let entries = [
        ("wang", "read people in clear", "building B2", 3),
        ("li", "export people", "grid G1", 120),
        ("wang", "read people in clear", "building B1", 1),
    ];
    for (u, a, t, n) in entries {
        same!(b, |s| s.audit(u, a, t, n).unwrap());
    }
    other
        .audit("zhao", "read people in clear", "building X", 9)
        .unwrap();
    let (pg, gpkg) = on_both!(b, |s| s.audit_log().unwrap());
    let strip = |log: &[gridmap_store::AuditEntry]| -> Vec<(String, String, String, i64)> {
        log.iter()
            .map(|e| (e.user.clone(), e.action.clone(), e.target.clone(), e.count))
            .collect()
    };
    assert_eq!(strip(&pg), strip(&gpkg), "same entries, oldest first");
    assert_eq!(
        pg.len(),
        3,
        "the other town's entry is not in this town's log"
    );
    assert_eq!(pg[1].target, "grid G1");
    for (p, g) in pg.iter().zip(&gpkg) {
        // UTC, RFC 3339 with milliseconds, as the GeoPackage store writes it.
        assert_eq!(p.at.len(), g.at.len(), "{} vs {}", p.at, g.at);
        assert!(
            p.at.ends_with('Z') && p.at.as_bytes()[10] == b'T',
            "{}",
            p.at
        );
    }
    assert!(pg.windows(2).all(|w| w[0].at <= w[1].at));
    assert_eq!(other.audit_log().unwrap().len(), 1);
}

#[test]
fn plans_are_saved_listed_adopted_deleted_and_named_once_per_village() {
    let Some(mut b) = both("pg_both_plans") else {
        return;
    };
    let Some((_other_guard, mut other)) = common::town("pg_both_plans_other", TOWN_NAME) else {
        return;
    };
    assert!(same!(b, |s| s.plans().unwrap()).is_empty());
    let (a_pg, a_gpkg) = on_both!(b, |s| s
        .save_plan("  方案一 ", "V1", "planner", 4, r#"{"plan":1}"#)
        .unwrap());
    let (b_pg, b_gpkg) = on_both!(b, |s| s
        .save_plan("方案一", "V2", "planner", 3, "{}")
        .unwrap());
    // Ids are the stores' own numbers: compare everything else.
    let (pg, gpkg) = on_both!(b, |s| s.plans().unwrap());
    let strip = |list: &[gridmap_store::plans::PlanEntry]| {
        list.iter()
            .map(|e| {
                (
                    e.name.clone(),
                    e.village.clone(),
                    e.saved_by.clone(),
                    e.grids,
                    e.adopted,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&pg), strip(&gpkg));
    assert_eq!(pg[0].id, b_pg, "newest first");
    assert_eq!(gpkg[0].id, b_gpkg);
    assert_eq!(pg[1].name, "方案一", "trimmed");
    assert!(pg[1].saved_at.ends_with('Z'));
    assert_eq!(pg[1].saved_at.len(), gpkg[1].saved_at.len());

    // The same name in the same village: the same refusal on both.
    let (e_pg, e_gpkg) = on_both!(b, |s| s
        .save_plan("方案一", "V1", "p", 1, "{}")
        .unwrap_err());
    assert!(matches!(
        e_pg,
        StoreError::Import {
            layer: "gridmap_plans",
            ..
        }
    ));
    assert_eq!(e_pg.to_string(), e_gpkg.to_string());
    assert!(e_pg.to_string().contains("already has a plan named 方案一"));
    for bad in ["", "   ", "a\nb"] {
        let (p, g) = on_both!(b, |s| s.save_plan(bad, "V1", "p", 1, "{}").unwrap_err());
        assert_eq!(p.to_string(), g.to_string());
    }
    assert_eq!(same!(b, |s| s.plans().unwrap().len()), 2);

    let read = |s: &Option<gridmap_store::plans::SavedPlan>| {
        s.as_ref().map(|p| {
            (
                p.body.clone(),
                p.adopted.clone(),
                p.entry.adopted,
                p.entry.grids,
            )
        })
    };
    assert_eq!(
        read(&b.pg.plan(a_pg).unwrap()),
        read(&b.gpkg.plan(a_gpkg).unwrap())
    );
    assert_eq!(
        (
            b.pg.set_plan_adopted(a_pg, r#"{"saved":{}}"#).unwrap(),
            b.gpkg.set_plan_adopted(a_gpkg, r#"{"saved":{}}"#).unwrap()
        ),
        (true, true)
    );
    let got = b.pg.plan(a_pg).unwrap();
    assert_eq!(read(&got), read(&b.gpkg.plan(a_gpkg).unwrap()));
    assert_eq!(got.unwrap().adopted.as_deref(), Some(r#"{"saved":{}}"#));

    // Another town reaches the plan by none of these ids, and has its own names.
    assert_eq!(other.plan(a_pg).unwrap(), None);
    assert!(!other.set_plan_adopted(a_pg, "{}").unwrap());
    assert!(!other.delete_plan(a_pg).unwrap());
    other.save_plan("方案一", "V1", "p", 1, "{}").unwrap();
    assert_eq!(other.plans().unwrap().len(), 1);

    assert_eq!(
        (
            b.pg.delete_plan(b_pg).unwrap(),
            b.gpkg.delete_plan(b_gpkg).unwrap()
        ),
        (true, true)
    );
    assert_eq!(
        (
            b.pg.delete_plan(b_pg).unwrap(),
            b.gpkg.delete_plan(b_gpkg).unwrap()
        ),
        (false, false)
    );
    assert_eq!(
        (b.pg.plan(b_pg).unwrap(), b.gpkg.plan(b_gpkg).unwrap()),
        (None, None)
    );
    assert_eq!(
        (
            b.pg.set_plan_adopted(b_pg, "{}").unwrap(),
            b.gpkg.set_plan_adopted(b_gpkg, "{}").unwrap()
        ),
        (false, false)
    );
    assert_eq!(
        strip(&b.pg.plans().unwrap()),
        strip(&b.gpkg.plans().unwrap())
    );
    assert!(
        b.pg.plan(a_pg).unwrap().is_some(),
        "other town's calls left it alone"
    );
}

// ---- the household registers -------------------------------------------------------------

/// The key of the store's household tests (`crates/store/tests/households.rs`).
const KEY: &str = "6a1f0c2d9e8b7a6554433221100ffeeddccbbaa99887766554433221100f1e2d";
const NEW_KEY: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

fn key() -> RegisterKey {
    RegisterKey::from_hex(KEY).unwrap()
}

fn new_key() -> RegisterKey {
    RegisterKey::from_hex(NEW_KEY).unwrap()
}

fn demo(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/demo")
        .join(name)
}

/// The project of the store's household tests on `s`: the demo grids, buildings and standard
/// addresses, plus one compound address (阳光花园3幢) on the demo building 外滩三号.
fn demo_project<S: Store>(s: &mut S) {
    let f = Fields::default();
    let grids = read_grids(&demo("grids.geojson"), &f).unwrap().grids;
    let change = Change {
        who: "test".into(),
        why: "households".into(),
    };
    s.import_grids(&grids, Mode::Append, &change).unwrap();
    let buildings = read_buildings(&demo("buildings.geojson"), &f).unwrap();
    s.import_buildings(&buildings, Mode::Append).unwrap();
    let mut addresses = read_addresses(&demo("addresses.geojson"), &f).unwrap();
    addresses.push(Address {
        id: "addr-test-compound".into(),
        point: geo::Point::new(f64::NAN, f64::NAN),
        text: Some("上海市黄浦区阳光花园3幢".into()),
        declared_grid: None,
        declared_building: Some("osm-178408816".into()),
    });
    s.import_addresses(&addresses, Mode::Append).unwrap();
}

/// A fake ID number: region 110105, birth date 1990-01-dd, sequence `n`, valid check digit.
fn fake_id(n: u32) -> String {
    let body = format!(
        "1101051990{:02}{:02}{:03}",
        1 + n % 12,
        1 + n % 28,
        n % 1000
    );
    format!("{body}{}", id_check_digit(&body).unwrap())
}

const NAMES: [&str; 10] = [
    "测试甲",
    "测试乙",
    "测试丙",
    "测试丁",
    "测试戊",
    "测试己",
    "测试庚",
    "测试辛",
    "测试壬",
    "测试癸",
];

fn phone(n: u32) -> String {
    format!("1380000{n:04}")
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// Form A of the store's household tests (the form of the town notice's attachment 2, its
/// title merged over the columns), written as XLSX and read by `gridmap_io`: 8 rows, 6 houses,
/// one row on a road the project does not have; two rentals, one with remarks.
fn form_a() -> Vec<FormRow> {
    let dir = tempfile::tempdir().unwrap();
    let header = s(&[
        "序号",
        "住址",
        "姓名",
        "身份证号",
        "联系电话",
        "与户主关系",
        "婚姻状况",
        "人户一致",
        "房屋性质",
        "工作单位",
        "职业",
        "备注",
    ]);
    let row = |n: u32, addr: &str, rel: &str, nature: &str, remarks: &str| {
        vec![
            n.to_string(),
            addr.to_string(),
            NAMES[n as usize % 10].to_string(),
            fake_id(n),
            phone(n),
            rel.to_string(),
            "已婚".to_string(),
            "是".to_string(),
            nature.to_string(),
            "测试单位".to_string(),
            "职员".to_string(),
            remarks.to_string(),
        ]
    };
    let rows = vec![
        s(&["城乡社区网格住户基础信息登记表"]),
        header,
        row(1, "中山东一路12号", "户主", "自购", ""),
        row(2, "", "配偶", "", ""),
        row(
            3,
            "上海市黄浦区中山东一路18号301室",
            "户主",
            "租住",
            "房主测试房东甲，租期2026.1至2027.1，务工",
        ),
        row(
            4,
            "中山东一路１８号３０２室",
            "户主",
            "租住",
            "房东测试房东乙",
        ),
        row(5, "阳光花园3幢2单元301室", "户主", "自购", ""),
        row(6, "阳光花园三栋二单元301", "子女", "自购", ""),
        row(7, "阳光花园3-2-302", "户主", "单位宿舍", ""),
        row(8, "人民路999号", "户主", "自建", ""),
    ];
    let p = dir.path().join("form_a.xlsx");
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            if !v.is_empty() {
                ws.write_string(r as u32, c as u16, v).unwrap();
            }
        }
    }
    ws.merge_range(
        0,
        0,
        0,
        11,
        "城乡社区网格住户基础信息登记表",
        &Format::new(),
    )
    .unwrap();
    wb.save(&p).unwrap();
    let form = read_households(&p).unwrap();
    assert!(form.rejected.is_empty(), "{:?}", form.rejected);
    assert_eq!(form.rows.len(), 8);
    form.rows
}

/// Both stores with the demo project.
fn registers(code: &str) -> Option<Both> {
    let mut b = both(code)?;
    demo_project(&mut b.pg);
    demo_project(&mut b.gpkg);
    Some(b)
}

/// Asserts that both stores read the same registers back, under `key`.
fn assert_same_registers(b: &mut Both, key: &RegisterKey) {
    same!(b, |s| s.houses().unwrap());
    same!(b, |s| s.people(key, View::Clear).unwrap());
    same!(b, |s| s.people(key, View::Masked).unwrap());
    same!(b, |s| {
        let mut remarks: Vec<_> = s.house_remarks(key).unwrap().into_iter().collect();
        remarks.sort();
        remarks
    });
    same!(b, |s| {
        let mut by: Vec<_> = s.people_by_building().unwrap().into_iter().collect();
        by.sort();
        by
    });
    same!(b, |s| s.people_unlinked().unwrap());
    for by in [GroupBy::Grid, GroupBy::Village] {
        same!(b, |s| s.register_stats(by).unwrap());
    }
    same!(b, |s| s.fingerprint_scheme().unwrap());
    // One building's houses and people (what the building panel reads): exactly what the
    // whole lists hold of it, on both stores; a building without houses has nobody.
    let mut buildings: Vec<String> =
        b.pg.houses()
            .unwrap()
            .into_iter()
            .filter_map(|h| h.building)
            .collect();
    buildings.sort();
    buildings.dedup();
    buildings.push("no-such-building".into());
    for building in &buildings {
        let houses = same!(b, |s| s.houses_of(building).unwrap());
        let expected: Vec<_> =
            b.pg.houses()
                .unwrap()
                .into_iter()
                .filter(|h| h.building.as_deref() == Some(building.as_str()))
                .collect();
        assert_eq!(format!("{houses:?}"), format!("{expected:?}"), "{building}");
        let ids: Vec<&str> = houses.iter().map(|h| h.id.as_str()).collect();
        for view in [View::Clear, View::Masked] {
            let people = same!(b, |s| s.people_of(key, view, building).unwrap());
            let expected: Vec<_> =
                b.pg.people(key, view)
                    .unwrap()
                    .into_iter()
                    .filter(|p| ids.contains(&p.house.as_str()))
                    .collect();
            assert_eq!(format!("{people:?}"), format!("{expected:?}"), "{building}");
        }
    }
}

/// The PostgreSQL people rows of `town`: (id, the sealed ID number opened with `key`, the
/// fingerprint), in order.
fn pg_fingerprints(town: &str, key: &RegisterKey) -> Vec<(String, String)> {
    client(&pg_url().unwrap())
        .query(
            "SELECT id_number, id_fingerprint FROM people WHERE town = $1 ORDER BY fid",
            &[&town],
        )
        .unwrap()
        .iter()
        .map(|r| {
            let sealed: Vec<u8> = r.get(0);
            (key.open("id_number", &sealed).unwrap(), r.get(1))
        })
        .collect()
}

#[test]
fn a_household_import_reads_back_the_same_on_both_stores() {
    let Some(mut b) = registers("pg_both_households") else {
        return;
    };
    let rows = form_a();
    assert_eq!(
        same!(b, |s| s.fingerprint_scheme().unwrap()),
        1,
        "no record yet"
    );
    let done: HouseholdImport = same!(b, |s| s
        .import_households(&rows, &key(), HouseholdOptions::default())
        .unwrap());
    assert_eq!((done.houses_created, done.people_inserted), (6, 8));
    assert_eq!((done.rows_linked, done.unlinked.len()), (7, 1));
    assert_eq!(done.rentals_incomplete.len(), 1);
    assert_eq!(done.rentals_incomplete[0].row, 6);
    assert_same_registers(&mut b, &key());
    let stats = b.pg.register_stats(GroupBy::Grid).unwrap();
    assert_eq!(
        (
            stats.town.houses,
            stats.town.people,
            stats.town.people_linked
        ),
        (6, 8, 7)
    );
    assert_eq!(stats.town.buildings, 1321);
    assert_eq!(b.pg.fingerprint_scheme().unwrap(), FINGERPRINT_SCHEME);
    let houses = b.pg.houses().unwrap();
    let h12 = houses
        .iter()
        .find(|h| h.address_key == "中山东一路12号")
        .unwrap();
    assert_eq!(h12.building.as_deref(), Some("osm-r2380996"));
    assert_eq!(
        (
            same!(b, |s| s.house_in_building(&h12.id, "osm-r2380996").unwrap()),
            same!(b, |s| s
                .house_in_building(&h12.id, "osm-177999038")
                .unwrap()),
        ),
        (true, false)
    );
    let clear = b.pg.people(&key(), View::Clear).unwrap();
    assert_eq!(
        (clear[0].name.as_str(), clear[0].id_number.clone()),
        (NAMES[1], Some(fake_id(1)))
    );
    assert_eq!(clear[0].hukou_match, Some(true));

    // Importing the same form again finds every person by fingerprint: nothing doubles.
    let again = same!(b, |s| s
        .import_households(&rows, &key(), HouseholdOptions::default())
        .unwrap());
    assert_eq!((again.houses_created, again.houses_existing), (0, 6));
    assert_eq!((again.people_inserted, again.people_updated), (0, 8));
    assert_same_registers(&mut b, &key());
    let fps = pg_fingerprints("pg_both_households", &key());
    assert_eq!(fps.len(), 8);
    for (id, fp) in &fps {
        assert_eq!(
            *fp,
            key().fingerprint(id),
            "HMAC-SHA256 of the number, 64 hex digits"
        );
    }

    // A person without an ID number cannot be found again: added each time, on both.
    let lone = [FormRow {
        row: 2,
        address: "中山东一路12号".into(),
        name: "测试无证".into(),
        ..FormRow::default()
    }];
    for _ in 0..2 {
        same!(b, |s| s
            .import_households(&lone, &key(), HouseholdOptions::default())
            .unwrap());
    }
    assert_eq!(b.pg.people(&key(), View::Masked).unwrap().len(), 10);
    assert_same_registers(&mut b, &key());

    // Another key neither reads nor writes the registers, alike on both.
    let other = RegisterKey::from_hex(&KEY.replace('6', "7")).unwrap();
    let (p, g) = on_both!(b, |s| s.people(&other, View::Masked).unwrap_err());
    assert!(
        matches!(
            p,
            RegisterError::Decrypt {
                fid: 1,
                column: "name"
            }
        ),
        "{p}"
    );
    assert_eq!(p.to_string(), g.to_string());
    let (p, g) = on_both!(b, |s| s
        .import_households(&rows, &other, HouseholdOptions::default())
        .unwrap_err());
    assert!(matches!(p, RegisterError::WrongKey), "{p}");
    assert_eq!(p.to_string(), g.to_string());
    let (p, g) = on_both!(b, |s| s.house_remarks(&other).unwrap_err());
    assert_eq!(p.to_string(), g.to_string());
    assert_same_registers(&mut b, &key());
}

#[test]
fn personal_data_is_sealed_in_the_postgresql_tables() {
    let Some(mut b) = registers("pg_both_sealed") else {
        return;
    };
    let rows = form_a();
    b.pg.import_households(&rows, &key(), HouseholdOptions::default())
        .unwrap();
    let mut c = client(&pg_url().unwrap());
    let raw = c
        .query(
            "SELECT name, id_number, phone, people::text FROM people WHERE town = $1 ORDER BY fid",
            &[&"pg_both_sealed"],
        )
        .unwrap();
    assert_eq!(raw.len(), 8);
    for (i, r) in raw.iter().enumerate() {
        let n = i as u32 + 1;
        let whole: String = r.get(3);
        for (col, clear) in [
            (0, NAMES[n as usize % 10].to_string()),
            (1, fake_id(n)),
            (2, phone(n)),
        ] {
            let sealed: Vec<u8> = r.get(col);
            let needle = clear.as_bytes();
            assert!(
                !sealed.windows(needle.len()).any(|w| w == needle),
                "row {n}"
            );
            assert!(
                sealed.len() >= 1 + 12 + needle.len() + 16,
                "nonce, ciphertext, tag"
            );
            assert!(!whole.contains(&clear), "row {n}: clear text in the row");
        }
    }
    // Nothing of anyone's ID number, phone, name or landlord anywhere in the town's rows.
    let everything: String = c
        .query_one(
            "SELECT (SELECT string_agg(h::text, '|') FROM houses h WHERE town = $1)
                 || (SELECT string_agg(p::text, '|') FROM people p WHERE town = $1)
                 || (SELECT string_agg(m::text, '|') FROM register_meta m WHERE town = $1)",
            &[&"pg_both_sealed"],
        )
        .unwrap()
        .get(0);
    for n in 1..=8 {
        for clear in [fake_id(n), phone(n), NAMES[n as usize % 10].to_string()] {
            assert!(!everything.contains(&clear));
        }
    }
    assert!(!everything.contains("测试房东"), "remarks are sealed");
    let remarks = b.pg.house_remarks(&key()).unwrap();
    assert_eq!(remarks.len(), 2);
    assert!(remarks.values().any(|r| r.contains("测试房东甲")));
    assert!(b.pg.houses().unwrap().iter().all(|h| h.remarks.is_none()));
}

#[test]
fn rekey_and_fingerprint_upgrades_work_alike() {
    let Some(mut b) = registers("pg_both_rekey") else {
        return;
    };
    let rows = form_a();
    same!(b, |s| s
        .import_households(&rows, &key(), HouseholdOptions::default())
        .unwrap());
    assert_eq!(
        same!(b, |s| s.upgrade_fingerprints(&key()).unwrap()),
        0,
        "up to date"
    );
    let before = pg_fingerprints("pg_both_rekey", &key());

    // The wrong old key: refused, nothing changed.
    let other = RegisterKey::from_hex(&KEY.replace('6', "7")).unwrap();
    let (p, g) = on_both!(b, |s| s.rekey(&other, &new_key()).unwrap_err());
    assert!(matches!(p, RegisterError::WrongKey));
    assert_eq!(p.to_string(), g.to_string());
    assert_same_registers(&mut b, &key());

    assert_eq!(same!(b, |s| s.rekey(&key(), &new_key()).unwrap()), 8);
    assert_same_registers(&mut b, &new_key());
    let after = pg_fingerprints("pg_both_rekey", &new_key());
    for ((id_before, fp_before), (id_after, fp_after)) in before.iter().zip(&after) {
        assert_eq!(id_before, id_after);
        assert_ne!(fp_before, fp_after, "another key, another fingerprint");
        assert_eq!(*fp_after, new_key().fingerprint(id_after));
    }
    // The old key opens nothing any more; the new one finds everyone again.
    let (p, g) = on_both!(b, |s| s.people(&key(), View::Masked).unwrap_err());
    assert_eq!(p.to_string(), g.to_string());
    let (p, _) = on_both!(b, |s| s
        .import_households(&rows, &key(), HouseholdOptions::default())
        .unwrap_err());
    assert!(matches!(p, RegisterError::WrongKey));
    let again = same!(b, |s| s
        .import_households(&rows, &new_key(), HouseholdOptions::default())
        .unwrap());
    assert_eq!((again.people_inserted, again.people_updated), (0, 8));
    assert_eq!(b.pg.house_remarks(&new_key()).unwrap().len(), 2);

    // A town whose fingerprints predate the scheme record: the next import recomputes them.
    let mut c = client(&pg_url().unwrap());
    c.execute(
        "UPDATE register_meta SET fingerprint_scheme = NULL WHERE town = 'pg_both_rekey'",
        &[],
    )
    .unwrap();
    c.execute(
        "UPDATE people SET id_fingerprint = md5(id_fingerprint) WHERE town = 'pg_both_rekey'",
        &[],
    )
    .unwrap();
    assert_eq!(b.pg.fingerprint_scheme().unwrap(), 1);
    assert!(matches!(
        b.pg.upgrade_fingerprints(&key()),
        Err(RegisterError::WrongKey)
    ));
    assert_eq!(b.pg.upgrade_fingerprints(&new_key()).unwrap(), 8);
    assert_eq!(b.pg.fingerprint_scheme().unwrap(), FINGERPRINT_SCHEME);
    assert_eq!(pg_fingerprints("pg_both_rekey", &new_key()), after);

    // A scheme this gridmap does not know: refused, named as the GeoPackage store names it.
    c.execute(
        "UPDATE register_meta SET fingerprint_scheme = 3 WHERE town = 'pg_both_rekey'",
        &[],
    )
    .unwrap();
    let e =
        b.pg.import_households(&rows, &new_key(), HouseholdOptions::default())
            .unwrap_err();
    assert!(
        matches!(&e, RegisterError::UnknownFingerprintScheme { found } if found == "3"),
        "{e}"
    );
}

/// Everything a town's registers read, as text: to compare before and after a failed write.
fn snapshot(s: &PgStore, key: &RegisterKey) -> String {
    format!(
        "{:?}{:?}{:?}{:?}",
        s.houses().unwrap(),
        s.people(key, View::Clear).unwrap(),
        s.register_stats(GroupBy::Grid).unwrap(),
        s.fingerprint_scheme().unwrap()
    )
}

#[test]
fn a_failed_import_leaves_the_town_unchanged() {
    let Some(mut b) = registers("pg_both_failed") else {
        return;
    };
    let rows = form_a();
    // Rejected rows without skip_invalid: the same refusal, nothing written on either store.
    let mut bad = rows.clone();
    bad[3].address = "阳光花园".into();
    let (p, g) = on_both!(b, |s| s
        .import_households(&bad, &key(), HouseholdOptions::default())
        .unwrap_err());
    assert_eq!(p.to_string(), g.to_string());
    assert!(matches!(p, RegisterError::Rejected(ref r) if r.len() == 1 && r[0].row == 6));
    assert_same_registers(&mut b, &key());
    assert!(b.pg.houses().unwrap().is_empty());
    let skipped = same!(b, |s| s
        .import_households(&bad, &key(), HouseholdOptions { skip_invalid: true })
        .unwrap());
    assert_eq!(skipped.people_inserted, 7);
    same!(b, |s| s
        .import_households(&rows, &key(), HouseholdOptions::default())
        .unwrap());
    assert_same_registers(&mut b, &key());
    let before = snapshot(&b.pg, &key());

    // A NUL character PostgreSQL cannot store: refused by row and column, before any write.
    let mut nul = rows.clone();
    nul[2].occupation = Some("职\0员".into());
    let e =
        b.pg.import_households(&nul, &key(), HouseholdOptions::default())
            .unwrap_err();
    assert!(
        matches!(&e, RegisterError::Rejected(r) if r.len() == 1 && r[0].row == 5),
        "{e}"
    );
    assert!(e.to_string().contains("职业"), "{e}");
    assert_eq!(snapshot(&b.pg, &key()), before);

    // A statement failing half-way through (the seventh person of a changed form): the houses
    // and people written before it are rolled back with it.
    let mut c = client(&pg_url().unwrap());
    c.batch_execute(
        "CREATE FUNCTION pg_both_failed_fail() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.town = 'pg_both_failed' AND NEW.source_row = 9 THEN
             RAISE EXCEPTION 'test: fail here';
           END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER pg_both_failed_fail BEFORE INSERT OR UPDATE ON people
           FOR EACH ROW EXECUTE FUNCTION pg_both_failed_fail();",
    )
    .unwrap();
    let mut changed = rows.clone();
    for r in &mut changed {
        r.address = r.address.replace("中山东一路", "中山东二路");
        r.occupation = Some("教师".into());
    }
    let e =
        b.pg.import_households(&changed, &key(), HouseholdOptions::default())
            .unwrap_err();
    c.batch_execute(
        "DROP TRIGGER pg_both_failed_fail ON people; DROP FUNCTION pg_both_failed_fail();",
    )
    .unwrap();
    assert!(
        matches!(e, RegisterError::Store(StoreError::Backend(_))),
        "{e}"
    );
    assert_eq!(e.to_string(), "database error");
    assert_eq!(snapshot(&b.pg, &key()), before, "nothing of it was written");
}

#[test]
fn towns_keep_their_registers_and_keys_apart() {
    let Some(mut b) = registers("pg_both_town_a") else {
        return;
    };
    let Some((_guard, mut other)) = common::town("pg_both_town_b", "西镇") else {
        return;
    };
    demo_project(&mut other);
    let rows = form_a();
    b.pg.import_households(&rows, &key(), HouseholdOptions::default())
        .unwrap();
    assert!(other.houses().unwrap().is_empty());
    assert!(other.people(&key(), View::Masked).unwrap().is_empty());
    assert_eq!(other.fingerprint_scheme().unwrap(), 1);
    assert_eq!(other.people_unlinked().unwrap(), 0);
    // The other town has its own key, its own numbering and finds no one of the first.
    let done = other
        .import_households(&rows[..3], &new_key(), HouseholdOptions::default())
        .unwrap();
    assert_eq!((done.houses_created, done.people_inserted), (2, 3));
    let ids: Vec<String> = other
        .people(&new_key(), View::Masked)
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(ids, ["p1", "p2", "p3"]);
    assert_eq!(other.houses().unwrap()[0].id, "h1");
    assert_eq!(b.pg.people(&key(), View::Masked).unwrap().len(), 8);
    let stats = b.pg.register_stats(GroupBy::Grid).unwrap();
    assert_eq!((stats.town.houses, stats.town.people), (6, 8));
    let stats = other.register_stats(GroupBy::Grid).unwrap();
    assert_eq!((stats.town.houses, stats.town.people), (2, 3));
    // A rekey of one town leaves the other's registers as they were.
    b.pg.rekey(&key(), &new_key()).unwrap();
    assert_eq!(other.people(&new_key(), View::Masked).unwrap().len(), 3);
    assert!(matches!(
        other.rekey(&key(), &new_key()),
        Err(RegisterError::WrongKey)
    ));
    assert_eq!(
        b.pg.people(&new_key(), View::Clear).unwrap(),
        {
            let mut s = b.gpkg;
            s.import_households(&rows, &key(), HouseholdOptions::default())
                .unwrap();
            s.rekey(&key(), &new_key()).unwrap();
            s.people(&new_key(), View::Clear).unwrap()
        },
        "the same people as a GeoPackage project of this town alone"
    );
}

fn subject(id: &str, kind: SubjectKind, name: &str, attention: Option<u8>) -> KeySubject {
    KeySubject {
        id: id.into(),
        kind,
        category: kind.categories()[0].into(),
        name: name.into(),
        building: "building-1".into(),
        house: (kind == SubjectKind::Person).then(|| "h1".into()),
        attention,
        note: Some(format!("{name}的备注")),
        updated_by: "leader".into(),
        updated_at: "2026-03-21T09:00:00.000Z".into(),
    }
}

/// Key subjects are written, read, counted, re-keyed and moved alike on both stores; the
/// database holds their kind, category, name, level and note sealed.
#[test]
fn key_subjects_work_alike_and_are_sealed() {
    let Some(mut b) = registers("pg_both_keys") else {
        return;
    };
    let subjects = [
        subject("key-1", SubjectKind::Person, "测试重点甲", Some(1)),
        subject("key-2", SubjectKind::Place, "测试网吧乙", None),
        subject("key-3", SubjectKind::Unit, "测试单位丙", Some(3)),
    ];
    for k in &subjects {
        same!(b, |s| s.put_key_subject(&key(), k).unwrap());
    }
    // A change replaces the subject in place.
    let mut rated = subjects[1].clone();
    rated.attention = Some(2);
    same!(b, |s| s.put_key_subject(&key(), &rated).unwrap());
    let (pg, gpkg) = on_both!(b, |s| s.key_subjects(&key()).unwrap());
    assert_eq!(pg, gpkg);
    assert_eq!(
        pg,
        [subjects[0].clone(), rated.clone(), subjects[2].clone()]
    );
    same!(b, |s| s.key_subject_building("key-2").unwrap());
    assert_eq!(same!(b, |s| s.key_subject_building("key-9").unwrap()), None);
    let at = |b: &str| (b == "building-1").then_some(0);
    assert_eq!(
        same!(b, |s| s.key_subject_counts(&at).unwrap()),
        [(Some(0), true); 3]
    );
    // Another key is refused, and writes nothing.
    let other = RegisterKey::from_hex(&KEY.replace('6', "7")).unwrap();
    let (p, _) = on_both!(b, |s| s.put_key_subject(&other, &subjects[0]).unwrap_err());
    assert!(matches!(p, RegisterError::WrongKey));
    // Nothing of the sealed part in the database's row.
    let row: String = client(&pg_url().unwrap())
        .query_one(
            "SELECT string_agg(k::text, '|') FROM key_subjects k WHERE town = $1",
            &[&"pg_both_keys"],
        )
        .unwrap()
        .get(0);
    for clear in ["测试重点甲", "测试网吧乙", "社区服刑", "刑满释放", "备注"] {
        assert!(!row.contains(clear), "{clear} in clear");
    }
    // Re-keyed: the subjects open with the new key only, on both.
    same!(b, |s| s.rekey(&key(), &new_key()).unwrap());
    let (p, g) = on_both!(b, |s| s.key_subjects(&key()).unwrap_err());
    assert_eq!(p.to_string(), g.to_string());
    assert_eq!(same!(b, |s| s.key_subjects(&new_key()).unwrap().len()), 3);
    // A whole-town copy carries them sealed: GeoPackage → PostgreSQL → GeoPackage.
    let mut copy = b.gpkg.copy_out().unwrap();
    assert!(copy.left_out.is_empty(), "{:?}", copy.left_out);
    copy.town.code = "pg_both_keys_moved".into();
    let _moved_guard = common::Town::new(&pg_url().unwrap(), "pg_both_keys_moved");
    let moved = PgStore::create_copy(&pg_url().unwrap(), &copy).unwrap();
    assert_eq!(
        moved.key_subjects(&new_key()).unwrap(),
        b.gpkg.key_subjects(&new_key()).unwrap()
    );
    let dir = tempfile::tempdir().unwrap();
    let back = dir.path().join("back.gpkg");
    GpkgStore::write_copy(&back, &moved.copy_out().unwrap()).unwrap();
    let back = GpkgStore::open(&back).unwrap();
    assert_eq!(
        back.key_subjects(&new_key()).unwrap(),
        moved.key_subjects(&new_key()).unwrap()
    );
}

// ---- QR door plates and declarations -------------------------------------------------------

/// A plate without its token (random, so different on each store).
fn plate_seen(p: &Plate) -> (String, Option<String>, String, Option<usize>, u64) {
    (
        p.building.clone(),
        p.house.clone(),
        p.address.clone(),
        p.printed_at.as_ref().map(String::len),
        p.scans,
    )
}

/// A declaration without its number and arrival time (each store's own).
fn declaration_seen(d: &Declaration) -> String {
    let mut d = d.clone();
    assert!(
        d.received_at.ends_with('Z') && d.received_at.len() == 20,
        "{}",
        d.received_at
    );
    d.id = 0;
    d.received_at.clear();
    format!("{d:?}")
}

fn declared(n: u32, relation: &str) -> DeclaredPerson {
    DeclaredPerson {
        name: format!("申报{}", NAMES[n as usize % 10]),
        id_number: fake_id(100 + n),
        phone: Some(phone(100 + n)),
        relation: Some(relation.into()),
    }
}

/// Plates are made once per building and house and counted alike on both stores; declarations
/// through them are sealed, listed, confirmed into the registers and rejected alike; the
/// database's rows hold none of their people in clear; and a whole-town copy carries plates
/// and declarations GeoPackage → PostgreSQL → GeoPackage, each store opening what the other
/// sealed.
#[test]
fn plates_and_declarations_work_alike_and_are_sealed() {
    let Some(mut b) = registers("pg_both_plates") else {
        return;
    };
    same!(b, |s| s
        .import_households(&form_a(), &key(), HouseholdOptions::default())
        .unwrap());
    let by_grid = same!(b, |s| s.buildings_by_grid().unwrap());
    // Buildings with registered houses first (their houses get plates), then a grid's.
    let mut buildings: Vec<String> =
        b.pg.houses()
            .unwrap()
            .into_iter()
            .filter_map(|h| h.building)
            .collect();
    buildings.dedup();
    let grid = by_grid
        .iter()
        .find(|(g, list)| g.as_str() != "(unassigned)" && list.len() >= 5)
        .unwrap();
    buildings.extend(grid.1.iter().take(8).cloned());
    let (pg, gpkg) = on_both!(b, |s| s.plates_for(&buildings).unwrap());
    let seen = |set: &PlateSet| set.plates.iter().map(plate_seen).collect::<Vec<_>>();
    assert_eq!(seen(&pg), seen(&gpkg));
    assert_eq!(pg.without_address, gpkg.without_address);
    assert!(
        pg.plates.iter().any(|p| p.house.is_some()),
        "houses' plates"
    );
    assert!(pg.plates.iter().all(|p| is_token(&p.token)));
    let (pg_again, gpkg_again) = on_both!(b, |s| s.plates_for(&buildings).unwrap());
    assert_eq!(
        pg_again.plates, pg.plates,
        "the same plates, the same tokens"
    );
    assert_eq!(gpkg_again.plates, gpkg.plates);
    let tokens = |set: &PlateSet| {
        set.plates
            .iter()
            .map(|p| p.token.clone())
            .collect::<Vec<_>>()
    };
    let (pg_tokens, gpkg_tokens) = (tokens(&pg), tokens(&gpkg));
    let house_plate = pg.plates.iter().position(|p| p.house.is_some()).unwrap();

    // Printed, scanned: 二维码管理率's plates in use, alike.
    assert!(same!(b, |s| s.plates_in_use().unwrap()).is_empty());
    b.pg.mark_printed(&pg_tokens[..3]).unwrap();
    b.gpkg.mark_printed(&gpkg_tokens[..3]).unwrap();
    for (i, scans) in [(0, 2), (1, 1), (4, 1)] {
        for _ in 0..scans {
            assert!(b.pg.count_scan(&pg_tokens[i]).unwrap());
            assert!(b.gpkg.count_scan(&gpkg_tokens[i]).unwrap());
        }
    }
    for odd in ["abcdefghijkmnpqr", "not a token", &buildings[0]] {
        assert!(!same!(b, |s| s.count_scan(odd).unwrap()));
        assert_eq!(same!(b, |s| s.plate(odd).unwrap()), None);
    }
    let in_use = same!(b, |s| {
        let mut v: Vec<_> = s
            .plates_in_use()
            .unwrap()
            .into_iter()
            .map(|(b, h)| {
                let mut h: Vec<_> = h.into_iter().collect();
                h.sort();
                (b, h)
            })
            .collect();
        v.sort();
        v
    });
    assert_eq!(
        in_use.iter().map(|(_, h)| h.len()).sum::<usize>(),
        2,
        "printed and scanned"
    );
    for (p, g) in pg_tokens.iter().zip(&gpkg_tokens) {
        let (p, g) = (
            b.pg.plate(p).unwrap().unwrap(),
            b.gpkg.plate(g).unwrap().unwrap(),
        );
        assert_eq!(plate_seen(&p), plate_seen(&g));
    }
    assert_eq!(b.pg.plate(&pg_tokens[0]).unwrap().unwrap().scans, 2);

    // Declarations: through a building's plate (with a room) and a house's (without).
    let declare = |token: &str, room: Option<&str>, people: Vec<DeclaredPerson>| NewDeclaration {
        token: token.into(),
        grid: Some(grid.0.clone()),
        room: room.map(str::to_string),
        nature: Some(HouseNature::Rented),
        residence: Some("流入".into()),
        people,
    };
    let first = |t: &str| {
        declare(
            t,
            Some("501"),
            vec![declared(1, "户主"), declared(2, "配偶")],
        )
    };
    let second = |t: &str| declare(t, None, vec![declared(3, "子女")]);
    let third = |t: &str| declare(t, Some("502室"), vec![declared(4, "户主")]);
    let mut ids = Vec::new();
    let makers: [&dyn Fn(&str) -> NewDeclaration; 3] = [&first, &second, &third];
    for make in makers {
        let t = if ids.len() == 1 { house_plate } else { 0 };
        let p =
            b.pg.add_declaration(&key(), &make(&pg_tokens[t]))
                .unwrap()
                .unwrap();
        let g = b
            .gpkg
            .add_declaration(&key(), &make(&gpkg_tokens[t]))
            .unwrap()
            .unwrap();
        ids.push((p, g));
    }
    assert_eq!(
        same!(b, |s| s
            .add_declaration(&key(), &first("abcdefghijkmnpqr"))
            .unwrap()),
        None,
        "no such plate"
    );
    for view in [View::Masked, View::Clear] {
        let (p, g) = on_both!(b, |s| s.pending_declarations(&key(), view).unwrap());
        let seen = |l: &[Declaration]| l.iter().map(declaration_seen).collect::<Vec<_>>();
        assert_eq!(seen(&p), seen(&g));
        assert_eq!(
            p.iter().map(|d| d.id).collect::<Vec<_>>(),
            ids.iter().map(|i| i.0).collect::<Vec<_>>()
        );
        assert_eq!(p.len(), 3);
    }
    let clear =
        b.pg.declaration(&key(), View::Clear, ids[0].0)
            .unwrap()
            .unwrap();
    assert_eq!(clear.people[1], declared(2, "配偶"));
    assert!(clear.household_address().ends_with("501室"));
    for (p, g) in &ids {
        assert_eq!(
            b.pg.declaration_place(*p).unwrap(),
            b.gpkg.declaration_place(*g).unwrap()
        );
    }
    assert_eq!(same!(b, |s| s.declaration_place(-1).unwrap()), None);
    assert!(
        b.pg.declaration(&key(), View::Clear, ids[0].1 + 1_000_000)
            .unwrap()
            .is_none()
    );

    // Nothing of the declared people in clear in the database's rows.
    let rows: String = client(&pg_url().unwrap())
        .query_one(
            "SELECT (SELECT string_agg(d::text, '|') FROM declarations d WHERE town = $1)
                 || (SELECT string_agg(p::text, '|') FROM plates p WHERE town = $1)",
            &[&"pg_both_plates"],
        )
        .unwrap()
        .get(0);
    for n in 1..=4 {
        let p = declared(n, "");
        for clear in [p.name, p.id_number, p.phone.unwrap()] {
            assert!(!rows.contains(&clear), "{clear} in clear");
        }
    }

    // Another key opens nothing and confirms nothing, alike.
    let other = RegisterKey::from_hex(&KEY.replace('6', "7")).unwrap();
    let (p, g) = on_both!(b, |s| s
        .pending_declarations(&other, View::Masked)
        .unwrap_err());
    assert_eq!(
        p.to_string().replace(&ids[0].0.to_string(), "N"),
        g.to_string().replace(&ids[0].1.to_string(), "N")
    );
    let p =
        b.pg.confirm_declaration(&other, ids[0].0, "worker")
            .unwrap_err();
    let g = b
        .gpkg
        .confirm_declaration(&other, ids[0].1, "worker")
        .unwrap_err();
    assert!(
        matches!(
            p,
            RegisterError::Decrypt {
                column: "people",
                ..
            }
        ),
        "{p}"
    );
    assert!(
        matches!(
            g,
            RegisterError::Decrypt {
                column: "people",
                ..
            }
        ),
        "{g}"
    );

    // Confirmed: the household enters the registers alike, once.
    let done = |b: &mut Both, i: usize| {
        let p =
            b.pg.confirm_declaration(&key(), ids[i].0, "worker")
                .unwrap();
        let g = b
            .gpkg
            .confirm_declaration(&key(), ids[i].1, "worker")
            .unwrap();
        assert_eq!(format!("{p:?}"), format!("{g:?}"));
        p
    };
    let confirmed = done(&mut b, 0).unwrap();
    assert_eq!(
        (confirmed.houses_created, confirmed.people_inserted),
        (1, 2)
    );
    assert_same_registers(&mut b, &key());
    assert!(done(&mut b, 0).is_none(), "confirmed once");
    let through_house = done(&mut b, 1).unwrap();
    assert_eq!(
        (through_house.houses_created, through_house.houses_existing),
        (0, 1)
    );
    assert_same_registers(&mut b, &key());
    let (p, g) = (
        b.pg.declaration(&key(), View::Clear, ids[0].0)
            .unwrap()
            .unwrap(),
        b.gpkg
            .declaration(&key(), View::Clear, ids[0].1)
            .unwrap()
            .unwrap(),
    );
    assert_eq!(declaration_seen(&p), declaration_seen(&g));
    assert_eq!((p.status.as_str(), p.people.len()), ("confirmed", 0));
    assert_eq!(
        b.pg.declaration_place(ids[0].0).unwrap(),
        None,
        "no longer pending"
    );

    // The copy: GeoPackage → PostgreSQL → GeoPackage, plates and declarations as they were
    // (the pending one still sealed, opened by either store).
    let mut copy = b.gpkg.copy_out().unwrap();
    assert!(copy.left_out.is_empty(), "{:?}", copy.left_out);
    assert_eq!(
        (copy.plates.plates.len(), copy.plates.declarations.len()),
        (
            gpkg_tokens
                .iter()
                .collect::<std::collections::HashSet<_>>()
                .len(),
            3
        )
    );
    copy.town.code = "pg_both_plates_moved".into();
    let _moved_guard = common::Town::new(&pg_url().unwrap(), "pg_both_plates_moved");
    let moved = PgStore::create_copy(&pg_url().unwrap(), &copy).unwrap();
    let renumbered = |c: &CopiedPlates| {
        let mut c = c.clone();
        c.declarations.iter_mut().for_each(|d| d.id = 0);
        c
    };
    let moved_copy = moved.copy_out().unwrap();
    assert_eq!(renumbered(&moved_copy.plates), renumbered(&copy.plates));
    let seen = |l: Vec<Declaration>| l.iter().map(declaration_seen).collect::<Vec<_>>();
    assert_eq!(
        seen(moved.pending_declarations(&key(), View::Clear).unwrap()),
        seen(b.gpkg.pending_declarations(&key(), View::Clear).unwrap())
    );
    for p in &gpkg.plates {
        assert_eq!(
            moved.plate(&p.token).unwrap(),
            b.gpkg.plate(&p.token).unwrap()
        );
    }
    assert_eq!(
        moved.plates_in_use().unwrap(),
        b.gpkg.plates_in_use().unwrap()
    );
    let dir = tempfile::tempdir().unwrap();
    let back = dir.path().join("back.gpkg");
    GpkgStore::write_copy(&back, &moved_copy).unwrap();
    let back = GpkgStore::open(&back).unwrap();
    assert_eq!(back.copy_out().unwrap().plates, moved_copy.plates);
    // What PostgreSQL sealed opens in a GeoPackage project.
    let pg_back = dir.path().join("pg.gpkg");
    GpkgStore::write_copy(&pg_back, &b.pg.copy_out().unwrap()).unwrap();
    let pg_back = GpkgStore::open(&pg_back).unwrap();
    assert_eq!(
        seen(pg_back.pending_declarations(&key(), View::Clear).unwrap()),
        seen(b.pg.pending_declarations(&key(), View::Clear).unwrap())
    );

    // Rejected: gone, people and all, alike.
    assert_eq!(
        (
            b.pg.reject_declaration(ids[2].0).unwrap(),
            b.gpkg.reject_declaration(ids[2].1).unwrap()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(
        (
            b.pg.reject_declaration(ids[2].0).unwrap(),
            b.gpkg.reject_declaration(ids[2].1).unwrap()
        ),
        (None, None)
    );
    assert_eq!(
        b.pg.reject_declaration(ids[0].0).unwrap(),
        None,
        "confirmed: not rejected"
    );
    assert!(same!(b, |s| s.pending_declarations(&key(), View::Clear).unwrap()).is_empty());
    let left: i64 = client(&pg_url().unwrap())
        .query_one(
            "SELECT count(*) FROM declarations WHERE town = 'pg_both_plates' AND id = $1",
            &[&ids[2].0],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "rejecting keeps nothing");
}

/// A police extract of the town of [`form_a`]: people the register has (at their address, at
/// another, moved out), people it lacks (at a registered house, at a standard address, on a
/// road the project does not have), and one deceased whom neither lists. The police's names
/// are their own (`警…`), so that a name in clear is known for the police's.
fn police_rows() -> Vec<gridmap_core::police::PoliceRow> {
    use gridmap_core::police::{PoliceRow, PoliceStatus};
    let row = |n: usize, id: u32, address: &str, status: Option<PoliceStatus>| PoliceRow {
        row: n,
        id_number: fake_id(id),
        name: format!("警测试{n}"),
        address: address.into(),
        house_code: (n == 4).then(|| "HC-0004".into()),
        status,
    };
    vec![
        row(
            2,
            1,
            "上海市黄浦区中山东一路12号",
            Some(PoliceStatus::Resident),
        ),
        row(3, 3, "中山东一路18号305室", None),
        row(4, 20, "中山东一路18号301室", Some(PoliceStatus::Temporary)),
        row(5, 21, "阳光花园3幢2单元302室", None),
        row(6, 22, "人民路1000号", None),
        row(7, 23, "中山东一路12号", None),
        row(8, 5, "", Some(PoliceStatus::MovedOut)),
        row(9, 24, "", Some(PoliceStatus::Deceased)),
    ]
}

/// Tasks with their creation time left out (each store stamps its own clock).
fn untimed(tasks: Vec<gridmap_store::reconcile::Task>) -> Vec<gridmap_store::reconcile::Task> {
    tasks
        .into_iter()
        .map(|t| gridmap_store::reconcile::Task {
            created: String::new(),
            ..t
        })
        .collect()
}

/// The latest run with its time left out.
fn untimed_record(
    r: Option<gridmap_store::reconcile::ReconciliationRecord>,
) -> Option<gridmap_store::reconcile::ReconciliationRecord> {
    r.map(|r| gridmap_store::reconcile::ReconciliationRecord {
        at: String::new(),
        ..r
    })
}

/// The same police extract compared with the same registers gives the same reconciliation,
/// tasks and records on both stores; a second run of the extract adds no task, a finished
/// task is done alike, another extract makes a new task for it, and a wrong key changes
/// nothing. The scorecard reads the same figures through `ProjectStore`.
#[test]
fn a_reconciliation_runs_alike_on_both_stores() {
    use gridmap_store::reconcile::{ReconcileOptions, TASK_POLICE_ONLY};
    let Some(mut b) = registers("pg_both_reconcile") else {
        return;
    };
    same!(b, |s| s
        .import_households(&form_a(), &key(), HouseholdOptions::default())
        .unwrap());
    assert_eq!(same!(b, |s| s.latest_reconciliation().unwrap()), None);
    assert!(same!(b, |s| s.open_tasks(None).unwrap()).is_empty());
    assert!(!same!(b, |s| s.finish_task(1).unwrap()));
    let rows = police_rows();
    let options = |source: &str, apply_tasks| ReconcileOptions {
        source: source.into(),
        apply_tasks,
    };
    let first = options("police-2026-03.csv sha256:0011223344556677", true);

    let (pg, gpkg) = on_both!(b, |s| s.reconcile(&rows, &key(), &first).unwrap());
    assert_eq!(pg.reconciliation, gpkg.reconciliation);
    assert_eq!(
        (pg.run, pg.tasks_created, pg.tasks_existing),
        (gpkg.run, gpkg.tasks_created, gpkg.tasks_existing)
    );
    for at in [&pg.at, &gpkg.at] {
        assert!(at.len() == 20 && at.ends_with('Z'), "{at}");
    }
    let r = &pg.reconciliation;
    let s = &r.summary;
    assert_eq!(
        (
            s.police,
            s.police_gone,
            s.register,
            s.matched,
            s.police_only,
            s.register_only,
            s.address_mismatch
        ),
        (6, 2, 8, 2, 4, 6, 1),
        "{s:?}"
    );
    assert!(
        r.register_only
            .iter()
            .any(|d| d.police_status == Some("迁出"))
    );
    assert_eq!((pg.run, pg.tasks_created, pg.tasks_existing), (1, 4, 0));
    // The report's JSON, which the CLI writes, is the same, and names no one in clear.
    let json = serde_json::to_string(&pg.reconciliation).unwrap();
    assert_eq!(json, serde_json::to_string(&gpkg.reconciliation).unwrap());
    assert!(
        !json.contains("警测试") && !json.contains(&fake_id(20)),
        "{json}"
    );

    let tasks = same!(b, |s| untimed(s.open_tasks(None).unwrap()));
    let mut ids: Vec<i64> = tasks.iter().map(|t| t.id).collect();
    ids.sort();
    assert_eq!(ids, [1, 2, 3, 4]);
    assert!(tasks.iter().all(|t| t.kind == TASK_POLICE_ONLY && !t.done));
    assert_eq!(
        same!(b, |s| s.open_tasks(None).unwrap()[0].created.len()),
        20
    );
    for g in tasks.iter().filter_map(|t| t.grid.clone()) {
        same!(b, |s| untimed(s.open_tasks(Some(&g)).unwrap()));
    }
    assert!(same!(b, |s| s.open_tasks(Some("no-such-grid")).unwrap()).is_empty());
    let latest = same!(b, |s| untimed_record(s.latest_reconciliation().unwrap()));
    assert_eq!(latest.as_ref().map(|l| l.run), Some(1));
    assert_eq!(
        latest.as_ref().map(|l| l.town.reconciled()),
        Some(2 + 4 + 6)
    );
    let counts = same!(b, |s| gridmap_store::scorecard::reconciliation_counts(&*s)
        .unwrap());
    assert!(!counts.is_empty());

    // The same extract again: a new run, no new task.
    let (pg, gpkg) = on_both!(b, |s| s.reconcile(&rows, &key(), &first).unwrap());
    assert_eq!(pg.reconciliation, gpkg.reconciliation);
    assert_eq!((pg.run, pg.tasks_created, pg.tasks_existing), (2, 0, 4));
    assert_eq!(
        (gpkg.run, gpkg.tasks_created, gpkg.tasks_existing),
        (2, 0, 4)
    );
    // Without tasks: a run recorded, no task looked at.
    let (pg, gpkg) = on_both!(b, |s| s
        .reconcile(&rows[..2], &key(), &options("small.csv", false))
        .unwrap());
    assert_eq!(pg.reconciliation, gpkg.reconciliation);
    assert_eq!((pg.run, pg.tasks_created, pg.tasks_existing), (3, 0, 0));
    assert_eq!(gpkg.run, 3);
    let latest = same!(b, |s| untimed_record(s.latest_reconciliation().unwrap()));
    assert_eq!(
        latest.map(|l| (l.run, l.source)),
        Some((3, "small.csv".to_string()))
    );

    // A task finished once, alike.
    let id = tasks[0].id;
    assert!(same!(b, |s| s.finish_task(id).unwrap()));
    assert!(!same!(b, |s| s.finish_task(id).unwrap()), "done once");
    assert!(!same!(b, |s| s.finish_task(999).unwrap()));
    assert_eq!(
        same!(b, |s| untimed(s.open_tasks(None).unwrap())),
        tasks[1..]
    );
    // The next month's extract makes a new task for the person whose task is done.
    let (pg, gpkg) = on_both!(b, |s| s
        .reconcile(&rows, &key(), &options("police-2026-04.csv", true))
        .unwrap());
    assert_eq!(pg.reconciliation, gpkg.reconciliation);
    assert_eq!((pg.run, pg.tasks_created, pg.tasks_existing), (4, 1, 3));
    assert_eq!(
        (gpkg.run, gpkg.tasks_created, gpkg.tasks_existing),
        (4, 1, 3)
    );
    let open = same!(b, |s| untimed(s.open_tasks(None).unwrap()));
    assert_eq!(open.len(), 4);
    assert!(
        open.iter()
            .any(|t| t.id == 5 && t.source == "police-2026-04.csv")
    );

    // Another key is refused, and writes nothing.
    let other = RegisterKey::from_hex(&KEY.replace('6', "7")).unwrap();
    let (p, g) = on_both!(b, |s| s.reconcile(&rows, &other, &first).unwrap_err());
    assert!(matches!(p, RegisterError::WrongKey), "{p}");
    assert!(matches!(g, RegisterError::WrongKey), "{g}");
    assert_eq!(
        same!(b, |s| s.latest_reconciliation().unwrap().map(|l| l.run)),
        Some(4)
    );
    assert_eq!(same!(b, |s| s.open_tasks(None).unwrap().len()), 4);
    // Through `ProjectStore`, as the server and the CLI call it.
    let store: &mut dyn gridmap_store::ProjectStore = &mut b.pg;
    assert_eq!(store.open_tasks(None).unwrap().len(), 4);
    assert_eq!(
        store.latest_reconciliation().unwrap().map(|l| l.run),
        Some(4)
    );
}

/// The tasks and figures PostgreSQL keeps name no one: no police name, no register name, no ID
/// number in clear (a task's subject is the keyed fingerprint), as in the GeoPackage project.
#[test]
fn reconciliation_rows_name_no_one() {
    use gridmap_store::reconcile::ReconcileOptions;
    let Some(mut b) = registers("pg_both_reconcile_raw") else {
        return;
    };
    b.pg.import_households(&form_a(), &key(), HouseholdOptions::default())
        .unwrap();
    let options = ReconcileOptions {
        source: "police.csv".into(),
        apply_tasks: true,
    };
    b.pg.reconcile(&police_rows(), &key(), &options).unwrap();
    let mut c = client(&pg_url().unwrap());
    let raw: String = c
        .query_one(
            "SELECT (SELECT string_agg(t::text, '|') FROM tasks t WHERE town = $1) || '#' ||
                    (SELECT string_agg(r::text, '|') FROM reconciliations r WHERE town = $1)",
            &[&"pg_both_reconcile_raw"],
        )
        .unwrap()
        .get(0);
    for n in 1..=24 {
        assert!(!raw.contains(&fake_id(n)), "ID number {n} in clear");
    }
    for name in NAMES {
        assert!(!raw.contains(name), "{name} in clear");
    }
    assert!(!raw.contains("警测试"), "a police name in clear");
    let subjects: Vec<String> = c
        .query(
            "SELECT subject FROM tasks WHERE town = $1 ORDER BY id",
            &[&"pg_both_reconcile_raw"],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(subjects.len(), 4);
    let fingerprints: Vec<String> = [20, 21, 22, 23]
        .iter()
        .map(|n| key().fingerprint(&fake_id(*n)))
        .collect();
    for s in &subjects {
        assert!(fingerprints.contains(s), "{s} is a fingerprint");
    }
}

/// A whole-town copy carries the reconciliations and their tasks as they are, done or not:
/// GeoPackage → PostgreSQL → GeoPackage; the moved town goes on numbering runs and tasks.
#[test]
fn a_town_moves_with_its_reconciliations_and_tasks() {
    use gridmap_store::reconcile::ReconcileOptions;
    let Some(mut b) = registers("pg_both_reconcile_move") else {
        return;
    };
    let g = &mut b.gpkg;
    g.import_households(&form_a(), &key(), HouseholdOptions::default())
        .unwrap();
    let rows = police_rows();
    for (source, apply_tasks) in [("a.csv", true), ("b.csv", false)] {
        let options = ReconcileOptions {
            source: source.into(),
            apply_tasks,
        };
        g.reconcile(&rows, &key(), &options).unwrap();
    }
    assert!(g.finish_task(2).unwrap());
    let mut copy = g.copy_out().unwrap();
    assert!(copy.left_out.is_empty(), "{:?}", copy.left_out);
    assert_eq!(copy.registers.tasks.len(), 4);
    assert!(copy.registers.tasks[1].0.done);
    assert!(copy.registers.reconciliations.len() >= 2);
    copy.town.code = "pg_both_reconcile_moved".into();
    let _moved_guard = common::Town::new(&pg_url().unwrap(), "pg_both_reconcile_moved");
    let mut moved = PgStore::create_copy(&pg_url().unwrap(), &copy).unwrap();
    assert_eq!(moved.open_tasks(None).unwrap(), g.open_tasks(None).unwrap());
    assert_eq!(
        moved.latest_reconciliation().unwrap(),
        g.latest_reconciliation().unwrap()
    );
    let again = moved.copy_out().unwrap();
    assert_eq!(again.registers.tasks, copy.registers.tasks);
    assert_eq!(
        again.registers.reconciliations,
        copy.registers.reconciliations
    );
    let dir = tempfile::tempdir().unwrap();
    let back = dir.path().join("back.gpkg");
    GpkgStore::write_copy(&back, &again).unwrap();
    let back = GpkgStore::open(&back).unwrap();
    let round = back.copy_out().unwrap();
    assert_eq!(round.registers.tasks, copy.registers.tasks);
    assert_eq!(
        round.registers.reconciliations,
        copy.registers.reconciliations
    );
    assert_eq!(back.open_tasks(None).unwrap(), g.open_tasks(None).unwrap());
    assert_eq!(
        back.latest_reconciliation().unwrap(),
        g.latest_reconciliation().unwrap()
    );
    // The moved town numbers on from the copy's runs and tasks.
    let options = ReconcileOptions {
        source: "c.csv".into(),
        apply_tasks: true,
    };
    let run = moved.reconcile(&rows, &key(), &options).unwrap();
    assert_eq!((run.run, run.tasks_created, run.tasks_existing), (3, 1, 3));
    assert_eq!(
        moved.open_tasks(None).unwrap().iter().map(|t| t.id).max(),
        Some(5)
    );
}

/// The campaign scorecard counts the same on both stores: houses and people from the
/// registers, visits, key subjects, plates and reconciliations.
#[test]
fn the_scorecard_counts_alike_on_both_stores() {
    use gridmap_core::model::{Visit, VisitOutcome};
    use gridmap_store::ProjectStore;
    let Some(mut b) = registers("pg_both_scorecard") else {
        return;
    };
    same!(b, |s| s
        .import_households(&form_a(), &key(), HouseholdOptions::default())
        .unwrap());
    let buildings = b.gpkg.buildings().unwrap();
    let visits: Vec<Visit> = buildings
        .iter()
        .take(40)
        .enumerate()
        .map(|(n, bl)| Visit {
            id: format!("v{n}"),
            building: Some(bl.id.clone()),
            house: None,
            worker: "wang".into(),
            time: format!("2026-03-21T09:{:02}:00Z", n % 60),
            outcome: if n % 3 == 0 {
                VisitOutcome::NobodyHome
            } else {
                VisitOutcome::Visited
            },
            point: None,
            note: None,
            flagged: false,
            knows_worker: Some(n % 2 == 0),
            satisfaction: Some((n % 5) as u8 + 1),
        })
        .collect();
    same!(b, |s| s.import_visits(&visits, Mode::Append).unwrap());
    let (pg, gpkg) = on_both!(b, |s| ProjectStore::scorecard_counts(s).unwrap());
    assert_eq!(format!("{pg:?}"), format!("{gpkg:?}"));
    let visited: u64 =
        pg.0.iter()
            .map(|g| g.counts.households_visited)
            .sum::<u64>()
            + pg.1.households_visited;
    assert!(visited > 0, "{pg:?}");
}

/// A rekey re-seals the people of declarations still waiting for review, on both stores: they
/// open with the new key afterwards (before, the whole queue failed to open after a rekey).
#[test]
fn a_rekey_keeps_pending_declarations_readable() {
    let Some(mut b) = registers("pg_both_plates_rekey") else {
        return;
    };
    same!(b, |s| s
        .import_households(&form_a(), &key(), HouseholdOptions::default())
        .unwrap());
    let buildings: Vec<String> = b.gpkg.buildings().unwrap()[..3]
        .iter()
        .map(|x| x.id.clone())
        .collect();
    let (pg, gpkg) = on_both!(b, |s| s.plates_for(&buildings).unwrap());
    let declare = |token: &str| NewDeclaration {
        token: token.into(),
        grid: None,
        room: Some("101".into()),
        nature: None,
        residence: Some("流入".into()),
        people: vec![declared(1, "户主")],
    };
    b.pg.add_declaration(&key(), &declare(&pg.plates[0].token))
        .unwrap()
        .unwrap();
    b.gpkg
        .add_declaration(&key(), &declare(&gpkg.plates[0].token))
        .unwrap()
        .unwrap();
    same!(b, |s| s.rekey(&key(), &new_key()).unwrap());
    let (pg, gpkg) = on_both!(b, |s| s
        .pending_declarations(&new_key(), View::Clear)
        .unwrap());
    assert_eq!(pg.len(), 1);
    assert_eq!(declaration_seen(&pg[0]), declaration_seen(&gpkg[0]));
    assert_eq!(pg[0].people[0].name, declared(1, "户主").name);
    let (p, g) = on_both!(b, |s| s
        .pending_declarations(&key(), View::Clear)
        .unwrap_err());
    // The row numbers are each store's own (PostgreSQL's run on across towns and test runs).
    let column = |e: &RegisterError| match e {
        RegisterError::Decrypt { column, .. } => *column,
        other => panic!("not a decryption failure: {other}"),
    };
    assert_eq!(column(&p), column(&g), "the old key opens nothing");
}
