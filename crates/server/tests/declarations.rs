//! QR door plates and residents' self-report, tested as an attacker would: the public page
//! shows nothing of the register, unknown and enumerated tokens get nothing, bodies are
//! bounded and exact, floods are throttled; and as the grid team works: only the grid's
//! reviewers see and confirm its declarations, a confirmed household enters the register, a
//! rejected one leaves nothing. Each test runs on a GeoPackage, then on PostgreSQL.

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

use axum::http::StatusCode;
use gridmap_core::register::id_check_digit;
use gridmap_server::plates::{CLIENT_DECLARATIONS, DECLARATION_BODY_LIMIT};
use gridmap_server::{AppState, Settings};
use gridmap_store::ProjectStore;
use gridmap_store::registers::RegisterKey;
use serde_json::{Value, json};

mod common;
use common::{add_user, call, login, on_each_store_at, send};

const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const TOWN: &str = "310101001";

fn fake_id(n: u32) -> String {
    let body = format!("3206021985{:02}{:02}{:03}", 1 + n % 12, 1 + n % 28, n);
    format!("{body}{}", id_check_digit(&body).unwrap())
}

#[derive(Clone)]
struct Setup {
    state: AppState,
    grid: String,
    /// A building plate of `grid` and its building and address.
    token: String,
    building: String,
    address: String,
    /// Another building's plate in `grid`, for the per-plate limit.
    other_token: String,
    /// The PostgreSQL database's URL; `None` on the GeoPackage.
    pg: Option<String>,
}

/// The demo project with plates for one grid's buildings, a worker of that grid, a worker of
/// another grid, a town supervisor and an admin; the server holds the register key.
fn served(mut s: Box<dyn ProjectStore>, pg: Option<&str>) -> Setup {
    let by_grid = s.buildings_by_grid().unwrap();
    // The first grid with two buildings that have a standard address (and so plates).
    let (grid, plates) = by_grid
        .iter()
        .filter(|(g, _)| g.as_str() != "(unassigned)")
        .find_map(|(g, b)| {
            let plates = s.plates_for(b).unwrap().plates;
            (plates.len() >= 2).then_some((g, plates))
        })
        .unwrap();
    let other = by_grid
        .keys()
        .find(|g| *g != grid && g.as_str() != "(unassigned)")
        .unwrap();
    if let Some(gpkg) = s.as_gpkg() {
        gpkg.ensure_declarations_table().unwrap();
    }
    add_user(s.as_mut(), "worker", "grid_worker", grid);
    add_user(s.as_mut(), "stranger", "grid_worker", other);
    add_user(s.as_mut(), "supervisor", "town_supervisor", TOWN);
    add_user(s.as_mut(), "admin", "admin", TOWN);
    let state = AppState::with_store(
        s,
        Settings::default(),
        Some(RegisterKey::from_hex(KEY).unwrap()),
    )
    .unwrap();
    Setup {
        state,
        grid: grid.clone(),
        token: plates[0].token.clone(),
        building: plates[0].building.clone(),
        address: plates[0].address.clone(),
        other_token: plates[1].token.clone(),
        pg: pg.map(str::to_string),
    }
}

fn household(n: u32) -> Value {
    json!({
        "room": "301", "nature": "租住", "residence": "流入",
        "people": [
            {"name": "申报甲", "id_number": fake_id(n), "phone": "13800001111", "relation": "户主"},
            {"name": "申报乙", "id_number": fake_id(n + 1), "relation": "配偶"},
        ],
    })
}

async fn declare(st: &AppState, token: &str, body: Value) -> (StatusCode, Value) {
    call(st, "POST", &format!("/r/{token}"), None, Some(body), &[]).await
}

/// `GET /api/declarations` as the user of `session`.
async fn pending_seen_by(st: &AppState, session: &str) -> Value {
    call(st, "GET", "/api/declarations", Some(session), None, &[])
        .await
        .1
}

/// The number `sql` counts, in the tables of the GeoPackage or of the PostgreSQL database
/// (where the plates and declarations tables have no `gridmap_` prefix; the test's database
/// holds one town).
fn table_rows(s: &Setup, sql: &str) -> i64 {
    match &s.pg {
        None => s
            .state
            .0
            .store
            .lock()
            .unwrap()
            .as_gpkg()
            .unwrap()
            .connection()
            .query_row(sql, [], |r| r.get(0))
            .unwrap(),
        Some(url) => {
            let sql = sql
                .replace("gridmap_plates", "plates")
                .replace("gridmap_declarations", "declarations");
            let url = url.clone();
            // The synchronous client, off the runtime's threads.
            common::off_runtime(move || {
                let mut c = gridmap_pgstore::config(&url, |k| std::env::var(k).ok())
                    .unwrap()
                    .connect(postgres::NoTls)
                    .unwrap();
                let row = c.query_one(&sql, &[]).unwrap();
                row.try_get::<_, i64>(0)
                    .or_else(|_| row.try_get::<_, i32>(0).map(i64::from))
                    .unwrap()
            })
        }
    }
}

#[test]
fn a_plate_page_shows_its_address_only_and_counts_the_scan() {
    on_each_store_at(served, async |s: Setup| {
        let (status, headers, body) =
            send(&s.state, "GET", &format!("/r/{}", s.token), None, None, &[]).await;
        assert_eq!(status, StatusCode::OK);
        let page = String::from_utf8(body).unwrap();
        assert!(page.contains(&s.address), "the plate's address");
        assert!(!page.contains(&s.building), "no building id");
        assert!(!page.contains(&s.grid), "no grid code");
        assert!(
            headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'none'")
        );
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(
            table_rows(
                &s,
                &format!(
                    "SELECT scans FROM gridmap_plates WHERE token = '{}'",
                    s.token
                )
            ),
            1
        );
    });
}

/// Tokens are random: building ids, grid codes and made-up tokens find no plate, and a
/// declaration to one is answered exactly as a throttled one.
#[test]
fn unknown_and_enumerated_tokens_get_nothing() {
    on_each_store_at(served, async |s: Setup| {
        let ids: Vec<String> = s.state.project().buildings[..5]
            .iter()
            .map(|b| b.id.clone())
            .chain([
                s.building.clone(),
                s.grid.clone(),
                "abcdefghijkmnpqr".into(),
                s.token.to_uppercase(),
            ])
            .collect();
        let mut answers = Vec::new();
        for id in &ids {
            let (status, _, body) =
                send(&s.state, "GET", &format!("/r/{id}"), None, None, &[]).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
            let page = String::from_utf8(body).unwrap();
            assert!(
                !page.contains(&s.address) && !page.contains("<form"),
                "{id}"
            );
            let (status, body) = declare(&s.state, id, household(1)).await;
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{id}");
            answers.push(body);
        }
        assert_eq!(
            table_rows(&s, "SELECT count(*) FROM gridmap_declarations"),
            0
        );
        // A throttled declaration to a real plate gets the same answer.
        let mut throttled = None;
        for n in 0..CLIENT_DECLARATIONS + 1 {
            let (status, body) = declare(&s.state, &s.token, household(10 + 2 * n)).await;
            if status == StatusCode::TOO_MANY_REQUESTS {
                throttled = Some(body);
                break;
            }
        }
        let throttled = throttled.expect("throttled at last");
        assert!(
            answers.iter().all(|a| *a == throttled),
            "{answers:?} vs {throttled}"
        );
        assert_eq!(throttled["code"], "too_many_requests");
    });
}

#[test]
fn bodies_are_bounded_and_exactly_the_form() {
    on_each_store_at(served, async |s: Setup| {
        let big = json!({"people": [{"name": "x".repeat(DECLARATION_BODY_LIMIT), "id_number": fake_id(1)}]});
        let (status, _) = declare(&s.state, &s.token, big).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        let mut extra = household(1);
        extra["owner"] = json!("someone");
        let (status, body) = declare(&s.state, &s.token, extra).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body["error"].as_str().unwrap().contains("owner"), "{body}");
        let mut person_extra = household(1);
        person_extra["people"][0]["house"] = json!("h1");
        let (status, _) = declare(&s.state, &s.token, person_extra).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let mut bad_id = household(1);
        let wrong = format!("{}0", &fake_id(1)[..17]);
        let wrong = if wrong == fake_id(1) {
            format!("{}1", &fake_id(1)[..17])
        } else {
            wrong
        };
        bad_id["people"][1]["id_number"] = json!(wrong);
        let (status, body) = declare(&s.state, &s.token, bad_id).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let message = body["error"].as_str().unwrap();
        assert!(message.contains("people[1].id_number"), "{message}");
        assert!(!message.contains(&wrong[..6]), "never echoes the number");
        for (field, value) in [
            ("nature", json!("宫殿")),
            ("residence", json!("火星")),
            ("room", json!("301<script>")),
        ] {
            let mut b = household(1);
            b[field] = value;
            let (status, body) = declare(&s.state, &s.token, b).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{field}");
            assert!(body["error"].as_str().unwrap().starts_with(field), "{body}");
        }
        let (status, _) = declare(&s.state, &s.token, json!({"people": []})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            table_rows(&s, "SELECT count(*) FROM gridmap_declarations"),
            0
        );
    });
}

#[test]
fn floods_are_throttled() {
    on_each_store_at(served, async |s: Setup| {
        let mut accepted = 0;
        let mut refused = 0;
        for n in 0..CLIENT_DECLARATIONS + 5 {
            let token = if n % 2 == 0 { &s.token } else { &s.other_token };
            match declare(&s.state, token, household(100 + 2 * n)).await.0 {
                StatusCode::OK => accepted += 1,
                StatusCode::TOO_MANY_REQUESTS => refused += 1,
                other => panic!("{other}"),
            }
        }
        assert_eq!(accepted, CLIENT_DECLARATIONS);
        assert_eq!(refused, 5);
        assert_eq!(
            table_rows(&s, "SELECT count(*) FROM gridmap_declarations"),
            i64::from(CLIENT_DECLARATIONS)
        );
    });
}

#[test]
fn only_the_grids_reviewers_see_and_confirm_and_the_register_changes() {
    on_each_store_at(served, async |s: Setup| {
        let (status, body) = declare(&s.state, &s.token, household(1)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let worker = login(&s.state, "worker").await;
        let stranger = login(&s.state, "stranger").await;
        let supervisor = login(&s.state, "supervisor").await;

        let seen = pending_seen_by(&s.state, &stranger).await;
        assert_eq!(seen["declarations"], json!([]), "another grid's worker");
        let seen = pending_seen_by(&s.state, &worker).await;
        let d = &seen["declarations"][0];
        assert_eq!(d["people_view"], "clear");
        assert_eq!(d["people"][0]["name"], "申报甲");
        assert_eq!(d["grid"], json!(s.grid));
        assert_eq!(d["household_address"], json!(format!("{}301室", s.address)));
        let id = d["id"].as_i64().unwrap();
        let seen = pending_seen_by(&s.state, &supervisor).await;
        assert_eq!(seen["declarations"][0]["people_view"], "masked");
        assert_eq!(seen["declarations"][0]["people"][0]["name"], "申**");
        assert_eq!(seen["reviews"], false);

        let confirm = format!("/api/declarations/{id}/confirm");
        let reject = format!("/api/declarations/{id}/reject");
        for uri in [&confirm, &reject] {
            let (status, _) = call(&s.state, "POST", uri, Some(&stranger), None, &[]).await;
            assert_eq!(
                status,
                StatusCode::NOT_FOUND,
                "a stranger cannot tell it exists"
            );
            let (status, _) = call(&s.state, "POST", uri, Some(&supervisor), None, &[]).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "sees, does not review");
        }
        let (status, _) = call(&s.state, "POST", &confirm, None, None, &[]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        let building_uri = format!("/api/buildings/{}", s.building);
        let people = |b: &Value| {
            b["houses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["people"].as_array().unwrap().len())
                .sum::<usize>()
        };
        let (_, before) = call(&s.state, "GET", &building_uri, Some(&worker), None, &[]).await;
        let i = s.state.project().building_by_id[&s.building] as usize;
        let counted = s.state.project().people[i];
        let (status, done) = call(&s.state, "POST", &confirm, Some(&worker), None, &[]).await;
        assert_eq!(status, StatusCode::OK, "{done}");
        assert_eq!(done["import"]["people_inserted"], 2);
        assert_eq!(done["import"]["rows_linked"], 2, "{done} {}", s.address);
        let (_, after) = call(&s.state, "GET", &building_uri, Some(&worker), None, &[]).await;
        assert_eq!(people(&after), people(&before) + 2);
        assert_eq!(
            s.state.project().people[i],
            counted + 2,
            "the snapshot counts them"
        );
        let (status, _) = call(&s.state, "POST", &confirm, Some(&worker), None, &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "confirmed once");
        let seen = pending_seen_by(&s.state, &worker).await;
        assert_eq!(seen["declarations"], json!([]));

        let audit = common::off_runtime(|| s.state.0.store.lock().unwrap().audit_log().unwrap());
        assert!(
            audit
                .iter()
                .any(|e| e.user == "worker" && e.action == "confirmed declaration" && e.count == 2)
        );
        assert!(audit.iter().all(|e| !e.target.contains("申报")));
    });
}

#[test]
fn rejecting_keeps_nothing() {
    on_each_store_at(served, async |s: Setup| {
        declare(&s.state, &s.token, household(1)).await;
        let worker = login(&s.state, "worker").await;
        let seen = pending_seen_by(&s.state, &worker).await;
        let id = seen["declarations"][0]["id"].as_i64().unwrap();
        let (status, _) = call(
            &s.state,
            "POST",
            &format!("/api/declarations/{id}/reject"),
            Some(&worker),
            None,
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            table_rows(&s, "SELECT count(*) FROM gridmap_declarations"),
            0
        );
        assert_eq!(table_rows(&s, "SELECT count(*) FROM people"), 0);
    });
}

#[test]
fn the_plates_pdf_is_for_the_grids_users_only() {
    on_each_store_at(served, async |s: Setup| {
        let worker = login(&s.state, "worker").await;
        let stranger = login(&s.state, "stranger").await;
        let uri = format!("/api/plates.pdf?grid={}", s.grid);
        let (status, _, _) = send(&s.state, "GET", &uri, Some(&stranger), None, &[]).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _, _) = send(
            &s.state,
            "GET",
            "/api/plates.pdf?grid=NOPE",
            Some(&worker),
            None,
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, headers, body) = send(
            &s.state,
            "GET",
            &format!("{uri}&base_url=https://grid.example"),
            Some(&worker),
            None,
            &[],
        )
        .await;
        if status == StatusCode::SERVICE_UNAVAILABLE && std::env::var_os("CI").is_none() {
            eprintln!("skipped: no CJK font here (CI installs fonts-wqy-microhei)");
            return;
        }
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["content-type"], "application/pdf");
        assert!(body.starts_with(b"%PDF-"));
        assert_eq!(
            table_rows(
                &s,
                &format!(
                    "SELECT count(*) FROM gridmap_plates WHERE printed_at IS NOT NULL AND token IN ('{}', '{}')",
                    s.token, s.other_token
                )
            ),
            2,
            "marked printed"
        );
        let (status, _, _) = send(
            &s.state,
            "GET",
            &format!("{uri}&base_url=javascript:alert(1)"),
            Some(&worker),
            None,
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    });
}
