//! `gridmap user add` refuses weak passwords, bad usernames and a scope that does not fit the
//! role, naming the field, with exit code 2 and nothing stored; a good user is stored.

mod support;

use std::path::{Path, PathBuf};

use support::*;

/// A project with the demo town's villages and grids (no buildings: not needed here).
fn project(dir: &Path) -> PathBuf {
    let p = dir.join("users.gpkg");
    demo_project(
        &p,
        &[("villages", "villages.geojson"), ("grids", "grids.geojson")],
    );
    p
}

fn users(p: &Path) -> Vec<String> {
    let db = rusqlite::Connection::open(p).expect("open");
    let mut stmt = db
        .prepare("SELECT username FROM gridmap_users ORDER BY username")
        .expect("users table");
    stmt.query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

const GRID: &str = "310101001002-03";
const VILLAGE: &str = "310101001002";
const TOWN: &str = "310101001";

#[test]
fn weak_passwords_bad_usernames_and_misfit_scopes_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = project(dir.path());
    let cases: &[(&str, &str, &str, &str, &str)] = &[
        // (username, role, scope, password, the start of the message)
        (
            "worker1",
            "grid_worker",
            GRID,
            "12345678",
            "password: too short: 8",
        ),
        (
            "worker1",
            "grid_worker",
            GRID,
            "password",
            "password: too short: 8",
        ),
        (
            "worker1",
            "grid_worker",
            GRID,
            "        ",
            "password: must not be empty",
        ),
        (
            "worker1",
            "grid_worker",
            GRID,
            "",
            "password: must not be empty",
        ),
        (
            "wangxiaoming",
            "grid_worker",
            GRID,
            "wangxiaoming",
            "password: must not be the username",
        ),
        (
            "wangxiaoming",
            "grid_worker",
            GRID,
            "WangXiaoming2026",
            "password: must not contain the username",
        ),
        (
            "worker1",
            "grid_worker",
            GRID,
            "woaini1314",
            "password: is one of the most common",
        ),
        (
            "worker1",
            "grid_worker",
            GRID,
            "1qaz2wsx3edc",
            "password: is one of the most common",
        ),
        (
            "worker1",
            "grid_worker",
            GRID,
            "qwertyuiop",
            "password: is one of the most common",
        ),
        (
            "worker1",
            "grid_worker",
            GRID,
            "Password123",
            "password: is one of the most common",
        ),
        (
            "worker1",
            "grid_worker",
            GRID,
            "1234567890",
            "password: is a run of consecutive",
        ),
        (
            "worker1",
            "grid_worker",
            GRID,
            "aaaaaaaaaaaa",
            "password: is one character repeated",
        ),
        (
            "",
            "grid_worker",
            GRID,
            "tide-lantern-47",
            "username: must not be empty",
        ),
        (
            "two words",
            "grid_worker",
            GRID,
            "tide-lantern-47",
            "username: must not hold spaces",
        ),
        (
            "worker1",
            "grid_worker",
            TOWN,
            "tide-lantern-47",
            "scope: a grid_worker's scope is a grid code of this project; 310101001 is the town",
        ),
        (
            "leader1",
            "grid_leader",
            VILLAGE,
            "tide-lantern-47",
            "scope: a grid_leader's scope is a grid code",
        ),
        (
            "manager1",
            "village_manager",
            GRID,
            "tide-lantern-47",
            "scope: a village_manager's scope is a village code",
        ),
        (
            "sup1",
            "town_supervisor",
            VILLAGE,
            "tide-lantern-47",
            "scope: a town_supervisor's scope is the town code",
        ),
        (
            "worker1",
            "grid_worker",
            "nowhere",
            "tide-lantern-47",
            "scope: a grid_worker's scope is a grid code of this project; \"nowhere\" is not",
        ),
        (
            "worker1",
            "superuser",
            TOWN,
            "tide-lantern-47",
            "role: unknown role \"superuser\"",
        ),
    ];
    for &(username, role, scope, password, want) in cases {
        let out = user_add(&p, username, role, scope, password);
        let err = stderr(&out);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{username} {role} {password:?}: {err}"
        );
        assert!(
            err.contains(&format!("error: {want}")),
            "{password:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        if !password.trim().is_empty() && password != "password" {
            assert!(!err.contains(password), "the password is echoed: {err}");
        }
    }
    assert_eq!(users(&p), Vec::<String>::new(), "nothing stored");

    // Good users of every role, with their kind of scope.
    for (username, role, scope, password) in [
        ("admin1", "admin", TOWN, "tide-lantern-47"),
        ("planner1", "planner", VILLAGE, "黄浦江边的网格员2026"),
        ("manager1", "village_manager", VILLAGE, "x7#Kp2!qLm"),
        (
            "worker1",
            "grid_worker",
            GRID,
            "Correct horse battery staple",
        ),
    ] {
        let out = user_add(&p, username, role, scope, password);
        assert!(out.status.success(), "{username}: {}", stderr(&out));
    }
    assert_eq!(users(&p), ["admin1", "manager1", "planner1", "worker1"]);
}
