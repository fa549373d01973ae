//! Coverage repair through the API: `POST /api/repair` previews, `POST /api/repair/apply`
//! saves, for the roles that may and the villages they hold, and only what was previewed.
#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

mod common;

use axum::http::StatusCode;
use gridmap_server::{AppState, Settings};
use serde_json::{Value, json};

use common::{add_user, call, login, off_runtime, on_each_store};
use gridmap_store::ProjectStore;

const TOWN: &str = "310101001";
/// The demo's village with the planted overlap (310101001001-01 × -02).
const VILLAGE: &str = "310101001001";
const OTHER: &str = "310101001002";

/// The demo town in `s` with this file's users, served.
fn served(mut s: Box<dyn ProjectStore>) -> AppState {
    for (name, role, scope) in [
        ("admin", "admin", TOWN),
        ("manager", "village_manager", VILLAGE),
        ("other", "village_manager", OTHER),
        ("leader", "grid_leader", "310101001001-01"),
        ("planner", "planner", TOWN),
    ] {
        add_user(s.as_mut(), name, role, scope);
    }
    AppState::with_store(s, Settings::default(), None).unwrap()
}

fn overlaps_in(problems: &Value, village: &str) -> usize {
    problems["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] == "overlap")
        .filter(|p| {
            p["grids"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g.as_str().is_some_and(|g| g.starts_with(village)))
        })
        .count()
}

#[test]
fn a_village_manager_previews_and_applies_a_repair_with_history() {
    on_each_store(served, async |st: AppState| {
        let manager = login(&st, "manager").await;
        let (_, problems) = call(&st, "GET", "/api/problems", Some(&manager), None, &[]).await;
        assert!(
            overlaps_in(&problems, VILLAGE) > 0,
            "the demo has an overlap here"
        );

        let (status, preview) = call(
            &st,
            "POST",
            "/api/repair",
            Some(&manager),
            Some(json!({"village": VILLAGE})),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{preview}");
        let versions = preview["versions"].as_object().unwrap().clone();
        assert!(!versions.is_empty());
        let changes = preview["report"]["changes"].as_array().unwrap();
        assert!(
            changes.iter().any(|c| c["kind"] == "overlap"),
            "{changes:?}"
        );
        // Each changed grid is drawn before and after.
        let features = preview["grids"]["features"].as_array().unwrap();
        for code in versions.keys() {
            for side in ["before", "after"] {
                assert!(
                    features
                        .iter()
                        .any(|f| f["properties"]["code"] == code.as_str()
                            && f["properties"]["side"] == side)
                );
            }
        }
        // A preview changes nothing.
        let before = off_runtime(|| st.0.store.lock().unwrap().grids().unwrap());

        // Applying needs a reason.
        let (status, _) = call(
            &st,
            "POST",
            "/api/repair/apply",
            Some(&manager),
            Some(json!({"village": VILLAGE, "versions": versions})),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            off_runtime(|| st.0.store.lock().unwrap().grids().unwrap()),
            before
        );

        let (status, applied) = call(
            &st,
            "POST",
            "/api/repair/apply",
            Some(&manager),
            Some(json!({"village": VILLAGE, "versions": versions, "reason": "修复重叠"})),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{applied}");
        off_runtime(|| {
            let store = st.0.store.lock().unwrap();
            for (code, v) in &versions {
                let now = store.grid(code).unwrap().unwrap();
                assert_eq!(now.version, v.as_u64().unwrap() as u32 + 1, "{code}");
                assert_eq!(applied["saved"][code], now.version);
                let history = store.grid_history(code).unwrap();
                let newest = history.iter().max_by_key(|h| h.version).unwrap();
                assert_eq!(
                    (newest.version, newest.why.as_str()),
                    (now.version, "修复重叠"),
                    "{code}"
                );
            }
            // Grids outside the village are untouched.
            for g in before
                .iter()
                .filter(|g| g.grid.village.as_deref() != Some(VILLAGE))
            {
                assert_eq!(store.grid(&g.grid.code).unwrap().as_ref(), Some(g));
            }
        });
        let (_, problems) = call(&st, "GET", "/api/problems", Some(&manager), None, &[]).await;
        assert_eq!(overlaps_in(&problems, VILLAGE), 0, "{problems}");
    });
}

#[test]
fn repair_is_for_the_village_roles_within_their_village_and_what_was_previewed() {
    on_each_store(served, async |st: AppState| {
        let body = json!({"village": VILLAGE});
        for (user, want) in [
            ("other", StatusCode::FORBIDDEN),
            ("leader", StatusCode::FORBIDDEN),
            ("planner", StatusCode::FORBIDDEN),
            ("admin", StatusCode::OK),
        ] {
            let t = login(&st, user).await;
            let (status, answer) = call(
                &st,
                "POST",
                "/api/repair",
                Some(&t),
                Some(body.clone()),
                &[],
            )
            .await;
            assert_eq!(status, want, "{user}: {answer}");
        }
        let admin = login(&st, "admin").await;
        let (_, preview) = call(
            &st,
            "POST",
            "/api/repair",
            Some(&admin),
            Some(body.clone()),
            &[],
        )
        .await;
        let versions = preview["versions"].clone();
        // Bad thresholds and unknown villages are refused.
        for (bad, want) in [
            (
                json!({"village": VILLAGE, "snap_m": -1}),
                StatusCode::BAD_REQUEST,
            ),
            (
                json!({"village": VILLAGE, "max_gap_m2": "x"}),
                StatusCode::BAD_REQUEST,
            ),
            (json!({"village": "nowhere"}), StatusCode::NOT_FOUND),
        ] {
            let (status, answer) = call(
                &st,
                "POST",
                "/api/repair",
                Some(&admin),
                Some(bad.clone()),
                &[],
            )
            .await;
            assert_eq!(status, want, "{bad}: {answer}");
        }
        // Someone renames one of the grids after the preview: applying is refused, nothing saved.
        let code = versions.as_object().unwrap().keys().next().unwrap().clone();
        let (_, mut feature) = call(
            &st,
            "GET",
            &format!("/api/grids/{code}"),
            Some(&admin),
            None,
            &[],
        )
        .await;
        let version = feature["properties"]["version"].clone();
        feature["properties"]["name"] = json!("改名");
        let (status, answer) = call(
            &st,
            "PUT",
            &format!("/api/grids/{code}"),
            Some(&admin),
            Some(json!({"feature": feature, "reason": "meanwhile", "force": true})),
            &[("if-match", &format!("\"{version}\""))],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let before = off_runtime(|| st.0.store.lock().unwrap().grids().unwrap());
        let (status, answer) = call(
            &st,
            "POST",
            "/api/repair/apply",
            Some(&admin),
            Some(json!({"village": VILLAGE, "versions": versions, "reason": "修复"})),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{answer}");
        assert_eq!(
            off_runtime(|| st.0.store.lock().unwrap().grids().unwrap()),
            before
        );
    });
}
