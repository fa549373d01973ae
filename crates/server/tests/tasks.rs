//! `/api/tasks`: the visits a police reconciliation asks for, by the grid they fall to (on a
//! GeoPackage, then on PostgreSQL).

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

use axum::http::StatusCode;
use gridmap_core::police::PoliceRow;
use gridmap_server::{AppState, Settings};
use gridmap_store::registers::RegisterKey;

mod common;
use common::{add_user, call, login, on_each_store};
use gridmap_store::ProjectStore;

const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const GRID: &str = "310101001002-03";
const OTHER_GRID: &str = "310101001004-01";

fn fake_id() -> String {
    let body = "11010519900101001";
    format!(
        "{body}{}",
        gridmap_core::register::id_check_digit(body).unwrap()
    )
}

/// The demo town with its grid workers and a supervisor, served with the register key, and
/// one police row at a standard address of a building in `GRID` reconciled into a task.
fn served(mut s: Box<dyn ProjectStore>) -> AppState {
    for (name, role, scope) in [
        ("worker", "grid_worker", GRID),
        ("other", "grid_worker", OTHER_GRID),
        ("supervisor", "town_supervisor", "310101001"),
    ] {
        add_user(s.as_mut(), name, role, scope);
    }
    let key = || RegisterKey::from_hex(KEY).unwrap();
    let st = AppState::with_store(s, Settings::default(), Some(key())).unwrap();
    // A standard address of a building in GRID, as the police would write it.
    let address = {
        let p = st.project();
        p.addresses
            .iter()
            .find_map(|a| {
                let b = a.declared_building.as_ref()?;
                let &i = p.building_by_id.get(b)?;
                (p.grid_of(i as usize) == Some(GRID)).then(|| a.text.clone())?
            })
            .unwrap()
    };
    let row = PoliceRow {
        row: 2,
        id_number: fake_id(),
        name: "测试甲".into(),
        address,
        house_code: None,
        status: None,
    };
    let options = gridmap_store::reconcile::ReconcileOptions {
        source: "extract".into(),
        apply_tasks: true,
    };
    st.0.store
        .lock()
        .unwrap()
        .reconcile(&[row], &key(), &options)
        .unwrap();
    st
}

#[test]
fn a_police_only_address_becomes_a_task_of_its_grid_only() {
    on_each_store(served, async |st| {
        let worker = login(&st, "worker").await;
        let (status, body) = call(&st, "GET", "/api/tasks", Some(&worker), None, &[]).await;
        assert_eq!(status, StatusCode::OK);
        let tasks = body["tasks"].as_array().unwrap();
        assert_eq!(tasks.len(), 1, "{body}");
        assert_eq!(tasks[0]["grid"], GRID);
        assert!(!body.to_string().contains("测试甲"), "a task names no one");
        let id = tasks[0]["id"].as_i64().unwrap();
        let uri = format!("/api/tasks/{id}/done");

        let other = login(&st, "other").await;
        let (_, body) = call(&st, "GET", "/api/tasks", Some(&other), None, &[]).await;
        assert_eq!(body["tasks"].as_array().unwrap().len(), 0);
        let (status, _) = call(&st, "POST", &uri, Some(&other), None, &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let supervisor = login(&st, "supervisor").await;
        let (_, body) = call(&st, "GET", "/api/tasks", Some(&supervisor), None, &[]).await;
        assert_eq!(body["tasks"].as_array().unwrap().len(), 1);
        let (status, _) = call(&st, "POST", &uri, Some(&supervisor), None, &[]).await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        let (status, _) = call(&st, "POST", &uri, Some(&worker), None, &[]).await;
        assert_eq!(status, StatusCode::OK);
        let (_, body) = call(&st, "GET", "/api/tasks", Some(&worker), None, &[]).await;
        assert_eq!(body["tasks"].as_array().unwrap().len(), 0);
        let (status, _) = call(&st, "POST", &uri, Some(&worker), None, &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "done once");
    });
}
