//! Sign-in that cannot be used against anyone (issue 19, item 4), in process: bounded input and
//! memory, backoff by client that never refuses the right password from another client, the
//! same answer and work for unknown users and wrong passwords, sign-out, session lifetime, and
//! logs that never hold a typed username raw.

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
use gridmap_server::auth::throttle::{FailureEntries, TABLE_CAPACITY, USER_BASE_DELAY, user_delay};
use gridmap_server::{AppState, Settings, app};
use gridmap_store::GpkgStore;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

mod common;
use common::{add_user, on_each_store};
use gridmap_store::ProjectStore;

/// A project with the town only and two users (password `secret-pass`).
fn state(dir: &Path, settings: Settings) -> AppState {
    std::fs::create_dir_all(dir).unwrap();
    let s = GpkgStore::create(&dir.join("p.gpkg"), "310101001", "演示镇").unwrap();
    served_with(Box::new(s), settings)
}

/// `s` with this file's two users, served.
fn served_with(mut s: Box<dyn ProjectStore>, settings: Settings) -> AppState {
    add_user(s.as_mut(), "manager", "village_manager", "310101001002");
    add_user(s.as_mut(), "odd\nname", "admin", "310101001");
    AppState::with_store(s, settings, None).unwrap()
}

fn served(s: Box<dyn ProjectStore>) -> AppState {
    served_with(s, Settings::default())
}

fn addr(last: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, last], 40_000))
}

/// Sends one request as if from `from` (no address: as in-process requests are).
async fn send(
    router: &Router,
    method: &str,
    uri: &str,
    from: Option<SocketAddr>,
    token: Option<&str>,
    body: Body,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let mut req = req.body(body).unwrap();
    if let Some(a) = from {
        req.extensions_mut().insert(ConnectInfo(a));
    }
    let (parts, body) = router.clone().oneshot(req).await.unwrap().into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn login(
    router: &Router,
    from: Option<SocketAddr>,
    username: &str,
    password: &str,
) -> (StatusCode, HeaderMap, Value) {
    let body = json!({"username": username, "password": password}).to_string();
    send(router, "POST", "/api/login", from, None, Body::from(body)).await
}

#[test]
fn oversized_sign_ins_are_refused_before_any_work_and_memory_stays_bounded() {
    on_each_store(served, async |st: AppState| {
        let router = app(st.clone());
        // Within the 4 KiB body limit but over 64 characters: 400 naming the field.
        let long_name = "用户".repeat(600); // 3,600 bytes
        let medium = Bytes::from(json!({"username": long_name, "password": "x"}).to_string());
        // 1.5 MB, as the attacker sent: 413 before it is read whole.
        let huge =
            Bytes::from(json!({"username": "a".repeat(1_500_000), "password": "x"}).to_string());
        for i in 0..10_000u32 {
            let from = Some(SocketAddr::from((i.to_be_bytes(), 1)));
            let body = if i % 2 == 0 { &medium } else { &huge };
            let (status, _, answer) = send(
                &router,
                "POST",
                "/api/login",
                from,
                None,
                Body::from(body.clone()),
            )
            .await;
            if i % 2 == 0 {
                assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
                assert_eq!(answer["error"], "username: too long: at most 64 characters");
            } else {
                assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
                assert_eq!(
                    answer["error"],
                    "the body of a sign-in is at most 4096 bytes"
                );
            }
        }
        // Nothing was hashed, counted or kept.
        assert_eq!(st.password_checks(), 0);
        assert_eq!(
            st.failure_entries(),
            FailureEntries {
                clients: 0,
                usernames: 0
            }
        );
        // An over-long password is refused the same way.
        let (status, _, answer) = login(&router, None, "manager", &"p".repeat(257)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            answer["error"],
            "password: too long: at most 256 characters"
        );
        // Real failures are counted in tables of fixed capacity (their bound is tested in
        // auth::throttle with 20,000 clients and usernames).
        for i in 0..20u8 {
            let (status, _, _) = login(&router, Some(addr(i)), &format!("nobody{i}"), "x").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        let entries = st.failure_entries();
        assert_eq!(
            entries,
            FailureEntries {
                clients: 20,
                usernames: 20
            }
        );
        assert!(entries.clients <= TABLE_CAPACITY && entries.usernames <= TABLE_CAPACITY);
        assert_eq!(st.password_checks(), 20);
    });
}

#[test]
fn one_client_trying_many_usernames_must_wait() {
    on_each_store(served, async |st: AppState| {
        let router = app(st.clone());
        let mut answers = Vec::new();
        for i in 0..200 {
            let (status, headers, _) =
                login(&router, Some(addr(9)), &format!("user{i}"), "x").await;
            answers.push((status, headers.get(header::RETRY_AFTER).cloned()));
        }
        assert!(
            answers[..5]
                .iter()
                .all(|(s, _)| *s == StatusCode::UNAUTHORIZED)
        );
        assert!(
            answers[5..]
                .iter()
                .all(|(s, r)| *s == StatusCode::TOO_MANY_REQUESTS && r.is_some())
        );
        // Only five passwords were checked; the refused tries did no argon2 work.
        assert_eq!(st.password_checks(), 5);
        assert_eq!(st.failure_entries().usernames, 5);
    });
}

#[test]
fn the_right_password_works_from_another_client_during_a_guessing_attack() {
    on_each_store(served, async |st: AppState| {
        let router = app(st.clone());
        let attacker = Some(addr(66));
        let mut statuses = Vec::new();
        let mut retry_after = Vec::new();
        for i in 0..50 {
            let (status, headers, answer) =
                login(&router, attacker, "manager", &format!("guess-{i}")).await;
            statuses.push(status);
            if status == StatusCode::TOO_MANY_REQUESTS {
                assert_eq!(
                    answer["error"],
                    "too many failed sign-ins; wait a few minutes"
                );
                retry_after.push(
                    headers[header::RETRY_AFTER]
                        .to_str()
                        .unwrap()
                        .parse::<u64>()
                        .unwrap(),
                );
            }
        }
        assert_eq!(statuses[..5], [StatusCode::UNAUTHORIZED; 5]);
        assert!(
            statuses[5..]
                .iter()
                .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
            "{statuses:?}"
        );
        // After the fifth failure the attacker waits 1 s (the tries above take less).
        assert_eq!(retry_after.len(), 45);
        assert!(retry_after.iter().all(|&s| s == 1), "{retry_after:?}");
        // The attacker is refused even with the right password…
        let (status, headers, _) = login(&router, attacker, "manager", "secret-pass").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert!(headers.contains_key(header::RETRY_AFTER));
        // …the user, from another client, is not.
        let (status, _, answer) = login(&router, Some(addr(7)), "manager", "secret-pass").await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["username"], "manager");
        let token = answer["token"].as_str().unwrap();
        let (status, _, me) =
            send(&router, "GET", "/api/me", None, Some(token), Body::empty()).await;
        assert_eq!(
            (status, me["scope"].as_str()),
            (StatusCode::OK, Some("310101001002"))
        );
    });
}

#[test]
fn guesses_sent_in_parallel_cannot_slip_past_the_backoff() {
    on_each_store(served, async |st: AppState| {
        let router = app(st.clone());
        let mut tries = tokio::task::JoinSet::new();
        for i in 0..30 {
            let router = router.clone();
            tries.spawn(async move {
                login(&router, Some(addr(66)), "manager", &format!("guess-{i}"))
                    .await
                    .0
            });
        }
        let statuses = tries.join_all().await;
        let count = |s: StatusCode| statuses.iter().filter(|&&x| x == s).count();
        assert_eq!(count(StatusCode::UNAUTHORIZED), 5, "{statuses:?}");
        assert_eq!(count(StatusCode::TOO_MANY_REQUESTS), 25, "{statuses:?}");
        assert_eq!(st.password_checks(), 5);
    });
}

#[tokio::test(start_paused = true)]
async fn wrong_answers_for_a_username_under_attack_are_slowed_not_refused() {
    use tokio::time::Instant;
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path(), Settings::default());
    let router = app(st.clone());
    // Five clients guess once each: the username has five failures, no client is refused.
    for i in 1..=5 {
        let (status, _, _) = login(&router, Some(addr(i)), "manager", "guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // A sixth client's wrong answer takes 250 ms (on the paused test clock).
    let t = Instant::now();
    let (status, _, _) = login(&router, Some(addr(6)), "manager", "guess").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(t.elapsed() >= user_delay(5), "{:?}", t.elapsed());
    // The same client again: it has failed, so it waits before its password is even checked.
    let t = Instant::now();
    let (status, _, _) = login(&router, Some(addr(6)), "manager", "secret-pass").await;
    assert_eq!(status, StatusCode::OK, "slowed, never refused");
    assert!(t.elapsed() >= user_delay(6), "{:?}", t.elapsed());
    // A client that has not been failing gets the right answer at once.
    let t = Instant::now();
    let (status, _, _) = login(&router, Some(addr(7)), "manager", "secret-pass").await;
    assert_eq!(status, StatusCode::OK);
    assert!(t.elapsed() < USER_BASE_DELAY, "{:?}", t.elapsed());
}

#[test]
fn unknown_user_and_wrong_password_get_the_same_answer_and_work() {
    on_each_store(served, async |st: AppState| {
        let router = app(st.clone());
        let (s1, h1, a1) = login(&router, Some(addr(1)), "nobody", "secret-pass").await;
        assert_eq!(st.password_checks(), 1, "an unknown user is hashed too");
        let (s2, h2, a2) = login(&router, Some(addr(2)), "manager", "wrong-pass").await;
        assert_eq!(st.password_checks(), 2);
        assert_eq!(
            (s1, s2),
            (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
        );
        assert_eq!(a1, a2);
        assert_eq!(
            a1,
            json!({"error": "wrong username or password", "code": "bad_login"})
        );
        for h in [h1, h2] {
            assert_eq!(h[header::WWW_AUTHENTICATE], "Bearer");
        }
    });
}

#[test]
fn logout_revokes_the_token() {
    on_each_store(served, async |st: AppState| {
        let router = app(st.clone());
        let token = |a: &Value| a["token"].as_str().unwrap().to_string();
        let (_, _, first) = login(&router, None, "manager", "secret-pass").await;
        let (_, _, second) = login(&router, None, "manager", "secret-pass").await;
        let (first, second) = (token(&first), token(&second));
        let me = |t: String| {
            let router = router.clone();
            async move { send(&router, "GET", "/api/me", None, Some(&t), Body::empty()).await }
        };
        assert_eq!(me(first.clone()).await.0, StatusCode::OK);
        let (status, _, answer) = send(
            &router,
            "POST",
            "/api/logout",
            None,
            Some(&first),
            Body::empty(),
        )
        .await;
        assert_eq!(
            (status, answer),
            (StatusCode::OK, json!({"signed_out": true}))
        );
        let (status, headers, _) = me(first.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
        // Signing out twice, or without a token, is a 401; the other session lives on.
        let (status, _, _) = send(
            &router,
            "POST",
            "/api/logout",
            None,
            Some(&first),
            Body::empty(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _, _) = send(&router, "POST", "/api/logout", None, None, Body::empty()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(me(second).await.0, StatusCode::OK);
    });
}

#[tokio::test]
async fn the_session_lifetime_setting_is_respected() {
    let dir = tempfile::tempdir().unwrap();
    for (secs, want) in [(0, StatusCode::UNAUTHORIZED), (3600, StatusCode::OK)] {
        let st = state(
            &dir.path().join(secs.to_string()),
            Settings {
                session_secs: secs,
                ..Settings::default()
            },
        );
        let router = app(st);
        let (status, _, answer) = login(&router, None, "manager", "secret-pass").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(answer["expires_in"], secs);
        let token = answer["token"].as_str().unwrap();
        let (status, _, _) =
            send(&router, "GET", "/api/me", None, Some(token), Body::empty()).await;
        assert_eq!(status, want, "lifetime {secs} s");
    }
}

/// A log written into memory.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn typed_usernames_are_never_logged_raw() {
    let log = Log::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The test runtime has one thread: the handlers log into this subscriber.
    // tracing-core caches each callsite's interest once for all threads; while a single
    // dispatcher is registered it asks only the default of the thread that meets the callsite
    // first, and the other tests' threads have none. A second (silent) dispatcher makes it ask
    // every registered dispatcher, this one included.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let _guard = tracing::subscriber::set_default(subscriber);
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path(), Settings::default());
    let router = app(st.clone());
    let forged = "x\nFORGED INFO gridmap: admin signed in";
    for (username, password) in [
        (forged, "whatever"),
        ("MyS3cret-Passw0rd", "wrong"),
        ("110101199003074518", "wrong"),
        ("odd\nname", "wrong"),
    ] {
        let (status, _, _) = login(&router, Some(addr(3)), username, password).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // A user whose name holds a newline (possible in the store, not through `user add`).
    let (status, _, _) = login(&router, Some(addr(4)), "odd\nname", "secret-pass").await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert_eq!(text.matches("failed sign-in").count(), 4, "{text}");
    for secret in [
        "admin signed in",
        "MyS3cret",
        "110101199003074518",
        "whatever",
        "secret-pass",
    ] {
        assert!(!text.contains(secret), "{secret:?} is in the log:\n{text}");
    }
    // Failures carry an 8-hex-digit fingerprint; the one success the escaped name.
    assert!(
        text.lines()
            .filter(|l| l.contains("failed sign-in"))
            .all(|l| l.contains("user=") && l.contains("client=10.0.0.3")),
        "{text}"
    );
    assert!(text.contains(r#"username="odd\nname""#), "{text}");
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("name") || l.starts_with("FORGED")),
        "a forged line:\n{text}"
    );
}

/// A session survives a restart of the server (the store keeps the SHA-256 of its token, never
/// the token), takes the user's role and scope as they are after it, and a sign-out is
/// remembered across a restart too.
#[tokio::test]
async fn a_session_survives_a_restart_and_a_sign_out_does_too() {
    let dir = tempfile::tempdir().unwrap();
    let first = state(dir.path(), Settings::default());
    let router = app(first.clone());
    let (status, _, body) = login(&router, None, "manager", "secret-pass").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    // Nothing in the file signs anyone in.
    drop(router);
    drop(first);
    let bytes = std::fs::read(dir.path().join("p.gpkg")).unwrap();
    assert!(
        !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
        "a token is in the file"
    );
    // The manager is moved to another village meanwhile.
    {
        let mut s = GpkgStore::open(&dir.path().join("p.gpkg")).unwrap();
        add_user(&mut s, "manager", "village_manager", "310101001003");
    }
    let restarted = || {
        AppState::new(
            GpkgStore::open(&dir.path().join("p.gpkg")).unwrap(),
            Settings::default(),
        )
        .unwrap()
    };
    let router = app(restarted());
    let (status, _, me) = send(&router, "GET", "/api/me", None, Some(&token), Body::empty()).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["scope"], "310101001003", "the scope as it is now");
    // A made-up token of the same form is still refused.
    let fake = "0".repeat(64);
    let (status, _, _) = send(&router, "GET", "/api/me", None, Some(&fake), Body::empty()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = send(
        &router,
        "POST",
        "/api/logout",
        None,
        Some(&token),
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    drop(router);
    let router = app(restarted());
    let (status, _, _) = send(&router, "GET", "/api/me", None, Some(&token), Body::empty()).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "signed out stays signed out"
    );
}
