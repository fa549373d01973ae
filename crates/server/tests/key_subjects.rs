//! Key units, places and persons: only admins and grid leaders see and rate them, within their
//! part, decided on the subject's building; they are sealed in the file, audited when read, and
//! count in the scorecard's attention rate.

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

use std::path::Path;

use axum::http::StatusCode;
use gridmap_server::{AppState, Settings};
use gridmap_store::registers::RegisterKey;
use serde_json::json;

mod common;
use common::{add_user, call, demo_store, login, off_runtime, on_each_store};
use gridmap_store::ProjectStore;

const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const GRID: &str = "310101001002-03";
const OTHER_GRID: &str = "310101001004-01";
const NAME: &str = "测试重点甲";

fn state(dir: &Path) -> AppState {
    served(Box::new(demo_store(&dir.join("p.gpkg"))))
}

/// The demo town in `s` with this file's users, served.
fn served(mut s: Box<dyn ProjectStore>) -> AppState {
    add_user(s.as_mut(), "admin", "admin", "310101001");
    add_user(s.as_mut(), "supervisor", "town_supervisor", "310101001");
    add_user(s.as_mut(), "leader", "grid_leader", GRID);
    add_user(s.as_mut(), "worker", "grid_worker", GRID);
    add_user(s.as_mut(), "other", "grid_leader", OTHER_GRID);
    let key = RegisterKey::from_hex(KEY).unwrap();
    AppState::with_store(s, Settings::default(), Some(key)).unwrap()
}

fn building_in(st: &AppState, grid: &str) -> String {
    let p = st.project();
    let i = (0..p.buildings.len())
        .find(|&i| p.grid_of(i) == Some(grid))
        .unwrap();
    p.buildings[i].id.clone()
}

#[test]
fn only_admins_and_grid_leaders_see_and_rate_key_subjects_in_their_part() {
    on_each_store(served, async |st: AppState| {
        let building = building_in(&st, GRID);
        let leader = login(&st, "leader").await;
        let new = json!({"kind": "person", "category": "社区服刑人员", "name": NAME,
                         "building": building});

        // Roles without the capability: 403 on every route, whatever they send.
        for user in ["worker", "supervisor"] {
            let token = login(&st, user).await;
            let (status, _) = call(&st, "GET", "/api/key-subjects", Some(&token), None, &[]).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{user}");
            let (status, _) = call(
                &st,
                "POST",
                "/api/key-subjects",
                Some(&token),
                Some(new.clone()),
                &[],
            )
            .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{user}");
        }
        // Bad input is named.
        for (bad, field) in [
            (
                json!({"kind": "person", "category": "网吧", "name": NAME, "building": building}),
                "category",
            ),
            (
                json!({"kind": "thing", "category": "其他", "name": NAME, "building": building}),
                "kind",
            ),
            (
                json!({"kind": "person", "category": "其他", "name": NAME, "building": building, "attention": 4}),
                "attention",
            ),
            (
                json!({"kind": "person", "category": "其他", "name": NAME, "building": building,
                       "house": "h-not-in-this-building"}),
                "house",
            ),
        ] {
            let (status, body) = call(
                &st,
                "POST",
                "/api/key-subjects",
                Some(&leader),
                Some(bad),
                &[],
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert!(body["error"].as_str().unwrap().contains(field), "{body}");
        }
        // The leader adds one in their grid, unrated; another grid's building is refused.
        let (status, made) = call(
            &st,
            "POST",
            "/api/key-subjects",
            Some(&leader),
            Some(new.clone()),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{made}");
        let id = made["id"].as_str().unwrap().to_string();
        let mut theirs = new.clone();
        theirs["building"] = json!(building_in(&st, OTHER_GRID));
        let (status, _) = call(
            &st,
            "POST",
            "/api/key-subjects",
            Some(&leader),
            Some(theirs),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // Another grid's leader neither lists nor rates it (decided on its building, not its id).
        let other = login(&st, "other").await;
        let (_, list) = call(&st, "GET", "/api/key-subjects", Some(&other), None, &[]).await;
        assert_eq!(list["subjects"].as_array().unwrap().len(), 0);
        let uri = format!("/api/key-subjects/{id}");
        let (status, _) = call(
            &st,
            "PUT",
            &uri,
            Some(&other),
            Some(json!({"attention": 1})),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // The scorecard counts it: 0 of 1 rated, then 1 of 1 once the leader sets a level.
        let admin = login(&st, "admin").await;
        let (_, card) = call(&st, "GET", "/api/scorecard", Some(&admin), None, &[]).await;
        let attention = &card["town"]["attention_rate"];
        assert_eq!(
            (
                attention["numerator"].as_u64(),
                attention["denominator"].as_u64()
            ),
            (Some(0), Some(1))
        );
        let (status, saved) = call(
            &st,
            "PUT",
            &uri,
            Some(&leader),
            Some(json!({"attention": 2})),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{saved}");
        assert_eq!(saved["attention_label"], "二级（一般关注）");
        let (grids, _) = off_runtime(|| st.0.store.lock().unwrap().scorecard_counts().unwrap());
        let g = grids.iter().find(|g| g.code == GRID).unwrap();
        assert_eq!((g.counts.key_subjects_rated, g.counts.key_subjects), (1, 1));

        // The leader's list has it, in clear; the read is audited, without the data.
        let (_, list) = call(&st, "GET", "/api/key-subjects", Some(&leader), None, &[]).await;
        assert_eq!(list["subjects"][0]["name"], NAME);
        assert_eq!(list["subjects"][0]["category"], "社区服刑人员");
        let log = off_runtime(|| st.0.store.lock().unwrap().audit_log().unwrap());
        assert!(
            log.iter()
                .any(|e| e.user == "leader" && e.action == "read key subjects")
        );
        let log_text = format!("{log:?}");
        assert!(!log_text.contains(NAME) && !log_text.contains("社区服刑"));

        // The worker of the same grid finds nothing of it in the building panel.
        let worker = login(&st, "worker").await;
        let (status, panel) = call(
            &st,
            "GET",
            &format!("/api/buildings/{building}"),
            Some(&worker),
            None,
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let text = panel.to_string();
        assert!(!text.contains(NAME) && !text.contains("社区服刑"), "{text}");
    });
}

#[tokio::test]
async fn key_subjects_are_sealed_in_the_project_file() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path());
    let building = building_in(&st, GRID);
    let leader = login(&st, "leader").await;
    let (status, _) = call(
        &st,
        "POST",
        "/api/key-subjects",
        Some(&leader),
        Some(
            json!({"kind": "person", "category": "吸毒人员", "name": NAME,
                    "building": building, "attention": 1, "note": "每月走访"}),
        ),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    drop(st); // closes the file (and its WAL)
    let mut bytes = std::fs::read(dir.path().join("p.gpkg")).unwrap();
    if let Ok(wal) = std::fs::read(dir.path().join("p.gpkg-wal")) {
        bytes.extend(wal);
    }
    for secret in [NAME, "吸毒人员", "每月走访"] {
        let needle = secret.as_bytes();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "{secret} is in the file in clear"
        );
    }
}
