//! The scope matrix for personal data: who sees the people of a building, masked or in clear,
//! and the audit log of clear reads.

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

use axum::http::StatusCode;
use gridmap_server::{AppState, Settings};
use gridmap_store::registers::{HouseholdOptions, RegisterKey};
use serde_json::Value;

mod common;
use common::{add_user, on_each_store};
use gridmap_store::ProjectStore;

const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn fake_id(n: u32) -> String {
    let body = format!("1101051990010{n}00{n}");
    let w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .chars()
        .zip(w)
        .map(|(c, w)| c.to_digit(10).unwrap() * w)
        .sum();
    format!(
        "{body}{}",
        ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'][(sum % 11) as usize]
    )
}

/// The demo project with one household of two people, and users around it; returns the state
/// (with or without the key), the building id and its grid.
/// The household form's header and the two people of one house the tests share (a household
/// head and, on the form's next line without an address, their spouse).
const FORM: &str = "住址,姓名,公民身份号码,联系电话,与户主关系,房屋性质\n上海市黄浦区中山东一路18号301室,测试甲,{1},13800001111,户主,租住\n,测试乙,{2},13800002222,配偶,租住\n";

/// The demo project in `dir` with the form `FORM` (ids filled in) and `more` lines imported.
/// Imports the household form (the two people of [`FORM`], and `more` rows) into `s`.
fn with_form(s: &mut dyn ProjectStore, more: &str) {
    let dir = tempfile::tempdir().unwrap();
    let form = dir.path().join("form.csv");
    let text = FORM.replace("{1}", &fake_id(1)).replace("{2}", &fake_id(2)) + more;
    std::fs::write(&form, text).unwrap();
    let rows = gridmap_io::households::read_households(&form).unwrap().rows;
    let key = RegisterKey::from_hex(KEY).unwrap();
    s.import_households(
        &rows,
        &key,
        HouseholdOptions {
            skip_invalid: false,
        },
    )
    .unwrap();
}

/// The demo town in `s` with the form's people and this file's users, served (with the
/// registers' key when `with_key`): the state, the building of the form's house, its grid.
fn served(mut s: Box<dyn ProjectStore>, with_key: bool) -> (AppState, String, String) {
    with_form(s.as_mut(), "");
    let building = s.houses().unwrap()[0]
        .building
        .clone()
        .expect("the house is linked");
    let key = with_key.then(|| RegisterKey::from_hex(KEY).unwrap());
    let state = AppState::with_store(s, Settings::default(), key).unwrap();
    let i = state.project().building_by_id[&building] as usize;
    let grid = state.project().grid_of(i).unwrap().to_string();
    let other = state
        .project()
        .grids
        .iter()
        .find(|g| g.grid.code != grid)
        .unwrap()
        .grid
        .code
        .clone();
    {
        let mut store = state.0.store.lock().unwrap();
        for (name, role, scope) in [
            ("admin", "admin", "310101001".to_string()),
            ("supervisor", "town_supervisor", "310101001".to_string()),
            ("worker", "grid_worker", grid.clone()),
            ("stranger", "grid_worker", other),
        ] {
            add_user(store.as_mut(), name, role, &scope);
        }
        *state.0.users.write().unwrap() = store.users().unwrap();
    }
    (state, building, grid)
}

async fn get(state: &AppState, uri: &str, user: &str) -> (StatusCode, Value) {
    let token = common::login(state, user).await;
    common::call(state, "GET", uri, Some(&token), None, &[]).await
}

fn names(v: &Value) -> Vec<String> {
    v["houses"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|h| {
            h["people"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["name"].as_str().unwrap().to_string())
        })
        .collect()
}

#[test]
fn who_sees_whose_people() {
    on_each_store(
        |s| served(s, true),
        async |(st, building, grid)| {
            let uri = format!("/api/buildings/{building}");
            // The grid's worker: in clear, and audited.
            let (status, v) = get(&st, &uri, "worker").await;
            assert_eq!(status, StatusCode::OK, "{v}");
            assert_eq!(v["grid"], grid.as_str());
            assert_eq!(v["people_view"], "clear");
            assert_eq!(names(&v), ["测试甲", "测试乙"]);
            // A supervisor of the whole town: masked.
            let (_, v) = get(&st, &uri, "supervisor").await;
            assert_eq!(v["people_view"], "masked");
            assert_eq!(names(&v), ["测**", "测**"]);
            assert!(!v.to_string().contains(&fake_id(1)) && !v.to_string().contains("13800001111"));
            // A worker of another grid: refused, and nothing of the building leaks.
            let (status, v) = get(&st, &uri, "stranger").await;
            assert_eq!(status, StatusCode::FORBIDDEN);
            assert!(
                !v.to_string().contains("测试") && !v.to_string().contains(&building),
                "{v}"
            );
            // The audit log has the clear read, and only admins read it.
            let (status, log) = get(&st, "/api/audit", "admin").await;
            assert_eq!(status, StatusCode::OK);
            let entries = log["entries"].as_array().unwrap();
            assert_eq!(entries.len(), 1, "{log}");
            assert_eq!(entries[0]["user"], "worker");
            assert_eq!(entries[0]["count"], 2);
            assert!(
                !log.to_string().contains("测试"),
                "the log holds no personal data"
            );
            let (status, _) = get(&st, "/api/audit", "worker").await;
            assert_eq!(status, StatusCode::FORBIDDEN);
            // The grid's statistics carry the person-house linkage.
            let (_, stats) = get(&st, "/api/stats?by=grid", "worker").await;
            let row = &stats["rows"][0];
            assert_eq!(row["grid"], grid.as_str());
            assert_eq!(
                (row["people"].as_u64(), row["people_linked"].as_u64()),
                (Some(2), Some(2))
            );
            assert_eq!(row["linkage_rate"], 1.0);
            assert_eq!(stats["campaign"]["target_linkage_rate"], 0.95);
        },
    );
}

#[test]
fn without_the_key_people_are_not_served() {
    on_each_store(
        |s| served(s, false),
        async |(st, building, _)| {
            let (status, v) = get(&st, &format!("/api/buildings/{building}"), "worker").await;
            assert_eq!(status, StatusCode::OK);
            assert!(names(&v).is_empty());
            assert!(v["note"].as_str().unwrap().contains("GRIDMAP_KEY"));
            let (_, log) = get(&st, "/api/audit", "admin").await;
            assert!(log["entries"].as_array().unwrap().is_empty());
        },
    );
}

/// Reads of the store (a building's people, the audit log, a grid's history, the plans, the
/// tasks) are answered while a write holds the served store: they run on the read pool's
/// connections (`crate::pool`), not behind the lock the visit writer holds for its commits.
#[test]
fn reads_of_the_store_do_not_wait_for_a_write() {
    on_each_store(
        |s| served(s, true),
        async |(st, building, grid)| {
            // Signing in keeps the session through the served store: before the lock is taken.
            let worker = common::login(&st, "worker").await;
            let admin = common::login(&st, "admin").await;
            let (locked_tx, locked) = std::sync::mpsc::channel();
            let (release, released) = std::sync::mpsc::channel::<()>();
            let shared = st.0.clone();
            let writer = std::thread::spawn(move || {
                let _held = shared.store.lock().unwrap();
                locked_tx.send(()).unwrap();
                let _ = released.recv();
            });
            locked.recv().unwrap();
            let reads = [
                (format!("/api/buildings/{building}"), &worker),
                ("/api/audit".to_string(), &admin),
                (format!("/api/grids/{grid}/history"), &admin),
                ("/api/plans".to_string(), &admin),
                ("/api/tasks".to_string(), &worker),
            ];
            for (uri, token) in reads {
                let answered = tokio::time::timeout(
                    std::time::Duration::from_secs(60),
                    common::call(&st, "GET", &uri, Some(token), None, &[]),
                )
                .await;
                let Ok((status, v)) = answered else {
                    release.send(()).unwrap();
                    panic!("GET {uri} waited for the store's write lock");
                };
                assert_eq!(status, StatusCode::OK, "GET {uri}: {v}");
            }
            // The clear read was audited on a pooled connection, and is read back on another.
            let (_, v) = common::call(&st, "GET", "/api/audit", Some(&admin), None, &[]).await;
            assert_eq!(v["entries"].as_array().unwrap().len(), 1, "{v}");
            release.send(()).unwrap();
            writer.join().unwrap();
        },
    );
}

#[test]
fn the_panel_names_the_standard_addresses_of_the_building() {
    on_each_store(
        |s| served(s, true),
        async |(st, _, _)| {
            let fields = gridmap_io::Fields::default();
            let addresses =
                gridmap_io::read_addresses(&common::demo("addresses.geojson"), &fields).unwrap();
            let a = addresses
                .iter()
                .find(|a| a.declared_building.is_some() && a.text.is_some())
                .unwrap();
            let uri = format!("/api/buildings/{}", a.declared_building.as_ref().unwrap());
            let (status, v) = get(&st, &uri, "supervisor").await;
            assert_eq!(status, StatusCode::OK, "{v}");
            let listed: Vec<&str> = v["addresses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap())
                .collect();
            assert!(listed.contains(&a.text.as_deref().unwrap()), "{v}");
            assert_eq!(v["address"], listed[0]);
        },
    );
}

/// 人房关联率 has one definition: `/api/stats`' `linkage` for the town is the register's own
/// figure (`gridmap stats`' town row), counting the people whose house is linked to no
/// building; a grid's users see their grid's people, linked by construction.
#[test]
fn the_linkage_rate_is_the_registers_own_figure() {
    // A third person whose address names no building: in the register, linked to nothing.
    let third = format!(
        "上海市黄浦区无此路999号101室,测试丙,{},13800003333,户主,自购\n",
        fake_id(3)
    );
    let served = |mut s: Box<dyn ProjectStore>| {
        with_form(s.as_mut(), &third);
        let register = s
            .register_stats(gridmap_store::registers::GroupBy::Grid)
            .unwrap();
        assert_eq!((register.town.people, register.town.people_linked), (3, 2));
        let linked = s
            .houses()
            .unwrap()
            .into_iter()
            .find_map(|h| h.building)
            .unwrap();
        let key = RegisterKey::from_hex(KEY).unwrap();
        let state = AppState::with_store(s, Settings::default(), Some(key)).unwrap();
        let i = state.project().building_by_id[&linked] as usize;
        let grid = state.project().grid_of(i).unwrap().to_string();
        {
            let mut store = state.0.store.lock().unwrap();
            add_user(store.as_mut(), "admin", "admin", "310101001");
            add_user(store.as_mut(), "worker", "grid_worker", &grid);
            *state.0.users.write().unwrap() = store.users().unwrap();
        }
        (state, register.town.linkage_rate.unwrap())
    };
    on_each_store(served, async |(state, register_rate)| {
        let (_, stats) = get(&state, "/api/stats", "admin").await;
        assert_eq!(stats["linkage"]["people"], 3);
        assert_eq!(stats["linkage"]["people_linked"], 2);
        let rate = stats["linkage"]["rate"].as_f64().unwrap();
        assert!((rate - register_rate).abs() < 1e-12, "{rate}");
        let (_, mine) = get(&state, "/api/stats", "worker").await;
        assert_eq!(mine["linkage"]["people"], 2);
        assert_eq!(mine["linkage"]["rate"], 1.0);
    });
}
