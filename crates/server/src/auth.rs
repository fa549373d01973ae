//! Sign-in, sign-out, sessions and scope.
//!
//! Passwords are hashed with argon2 (PHC strings in the store). `POST /api/login`
//! `{"username", "password"}` answers a random bearer token valid for `Settings::session_secs`
//! (`gridmap serve --session-hours`, 12 h by default); every other request carries
//! `Authorization: Bearer TOKEN`; `POST /api/logout` closes that token's session at once. A 401
//! carries `WWW-Authenticate: Bearer`. `POST /api/oauth/token` ([`oauth_token`]) is the same
//! sign-in as OAuth 2.0's password grant, for QGIS's OAuth2 method, under the same policy.
//!
//! # Sign-in policy
//!
//! Sign-in must not let anyone be locked out by someone else, nor tell whether a username
//! exists, nor let the server be swollen or stalled. In the order a request meets them:
//!
//! 1. **Size.** The body is at most [`LOGIN_BODY_LIMIT`] (4 KiB; larger: 413, never read
//!    whole); the username at most [`policy::MAX_USERNAME_CHARS`] (64) characters and the
//!    password at most [`policy::MAX_PASSWORD_CHARS`] (256) characters (longer: 400 naming the
//!    field, never echoing it). Nothing is hashed, counted or logged for these.
//! 2. **Per client** (the IPv4 address, or the /64 network of an IPv6 address, from the
//!    connection; requests without an address, sent in process, count as one client): the
//!    first [`throttle::CLIENT_FREE_FAILURES`] (5) failures are free; after its k-th failure,
//!    k ≥ 5, the client must wait 2^(k−5) s (1 s, 2 s, 4 s, … at most
//!    [`throttle::CLIENT_MAX_WAIT`], 15 min) before it tries again. A try before then is
//!    refused with 429 and `Retry-After` (whole seconds left, rounded up), without looking at
//!    the username or hashing anything, and does not count. A try counts as a failure of its
//!    client from the moment it is let through until it succeeds, so tries sent in parallel
//!    cannot all slip through before the first one fails. A client's failures are forgotten
//!    [`throttle::CLIENT_MEMORY`] (1 h) after its last one, and cleared by a successful
//!    sign-in from it. So a client that guesses gets 5 guesses, then about one per doubling
//!    wait; a client that has not been failing is never refused.
//! 3. **Per username** (known or not, alike): a username is never refused. Once it has n ≥
//!    [`throttle::USER_FREE_FAILURES`] (5) failures, from any clients, every *wrong* answer for
//!    it takes at least 250 ms × 2^(n−5) (at most [`throttle::USER_MAX_DELAY`], 8 s): a client
//!    that has failures of its own waits that long before its password is checked (so it
//!    cannot learn the answer sooner by hanging up), a client without failures has its
//!    password checked at once and only a wrong answer is held back. The right password from a
//!    client that has not been failing is answered at once, however hard the username is
//!    attacked. A username's failures are forgotten [`throttle::USER_MEMORY`] (15 min) after
//!    its last one; a successful sign-in does not clear them.
//! 4. **Bounded memory.** Clients and usernames are counted in two LRU tables of
//!    [`throttle::TABLE_CAPACITY`] (10,000) entries each; a username is kept as a 64-bit keyed
//!    hash (random key per process), so an entry has a fixed size and nothing typed is kept.
//!    Sessions: see [`sessions`] (at most [`sessions::MAX_SESSIONS_PER_USER`] per user,
//!    expired ones swept).
//! 5. **Same work for unknown users.** An unknown username is checked against a dummy
//!    argon2 hash made once with the same parameters, so it costs what a wrong password costs
//!    and gets the same 401 and message.
//! 6. **Bounded hashing.** At most [`argon2_permits`] (the cores, 2 to 8) argon2 checks run at
//!    once, each on a blocking thread (`spawn_blocking`, the permit held until the hash is
//!    done even when the client hangs up), so sign-ins never stall the async threads; others
//!    queue (the 30 s request timeout bounds the wait).
//! 7. **Logs.** A failed sign-in is logged with the client and an 8-hex-digit fingerprint of
//!    the username (keyed hash, see 4), never the username; a successful one with the username
//!    Debug-escaped (`"a\nb"`), so nothing typed can forge a log line.
//!
//! Limits: behind a reverse proxy every client has the proxy's address, so rule 2 then treats
//! all users as one client (`X-Forwarded-For` is not trusted). A distributed guesser with many
//! addresses is limited by rule 3's delays per connection and by rule 6 overall.
//!
//! Scope: each user belongs to a node of the org tree (the town code, a village code or a grid
//! code) and sees that subtree only: a grid is in scope when its code, its village or the town
//! is the user's scope; `admin` sees everything. Roles, password hashing and the policy for new
//! users (`gridmap user add` applies [`policy`]) live in the `gridmap-users` crate; this module
//! keeps what is HTTP: sign-in, sessions, throttling and the extractors.

pub mod sessions;
pub mod throttle;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gridmap_users::{policy, verify_password as verify};
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::error::AppError;
use crate::state::{AppState, Session};
use throttle::{Client, FailureEntries, Throttle};

/// Hashes a password for storage (argon2id, see [`gridmap_users::hash_password`]).
fn hash_password(password: &str) -> Result<String, AppError> {
    gridmap_users::hash_password(password).map_err(|e| AppError::Internal(e.to_string()))
}

/// The signed-in user of a request.
#[derive(Debug, Clone)]
pub struct AuthUser(pub Session);

/// The largest body `POST /api/login` reads.
pub const LOGIN_BODY_LIMIT: usize = 4096;

/// How many argon2 checks may run at once: the cores, at least 2 and at most 8.
pub fn argon2_permits() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8))
}

/// A hash of a random password with the parameters of [`hash_password`], made once, that
/// unknown usernames are checked against.
fn dummy_hash() -> Result<&'static str, AppError> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(h) = DUMMY.get() {
        return Ok(h);
    }
    let made = hash_password(&new_token())?;
    Ok(DUMMY.get_or_init(|| made))
}

/// Makes the dummy hash now (on a blocking thread), so that the first sign-in of an unknown
/// username does not pay for it.
pub async fn warm_up() {
    let _ = tokio::task::spawn_blocking(dummy_hash).await;
}

/// A random bearer token (256 bits, hex).
fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What sign-in keeps between requests: failure counts and the argon2 permits.
pub struct SignIn {
    throttle: Mutex<Throttle>,
    argon2: Arc<Semaphore>,
    /// Argon2 checks started (for tests: refused requests must not reach one).
    checks: AtomicU64,
}

impl Default for SignIn {
    fn default() -> Self {
        SignIn {
            throttle: Mutex::new(Throttle::default()),
            argon2: Arc::new(Semaphore::new(argon2_permits())),
            checks: AtomicU64::new(0),
        }
    }
}

impl SignIn {
    fn throttle(&self) -> std::sync::MutexGuard<'_, Throttle> {
        self.throttle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Checks `password` against `hash`, or against the dummy hash when there is no user (and
    /// then answers false), holding an argon2 permit on a blocking thread.
    async fn check(&self, password: String, hash: Option<String>) -> Result<bool, AppError> {
        let permit = self
            .argon2
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?;
        self.checks.fetch_add(1, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            match &hash {
                Some(h) => Ok(verify(&password, h)),
                None => dummy_hash().map(|h| {
                    // The same work as for a user, and a refusal whatever the password.
                    std::hint::black_box(verify(&password, h));
                    false
                }),
            }
        })
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
    }
}

impl AppState {
    /// How many clients and usernames the failed-sign-in tables hold.
    pub fn failure_entries(&self) -> FailureEntries {
        self.0.signin.throttle().entries()
    }

    /// How many argon2 password checks sign-in has started.
    pub fn password_checks(&self) -> u64 {
        self.0.signin.checks.load(Ordering::Relaxed)
    }
}

/// The token of an `Authorization: Bearer TOKEN` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        no_accounts(state)?;
        let token = bearer(&parts.headers).ok_or(AppError::Unauthorized)?;
        if let Some(session) = state.0.sessions.get(token, Instant::now()) {
            return Ok(AuthUser(session));
        }
        restore_session(state, token)
            .await
            .map(AuthUser)
            .ok_or(AppError::Unauthorized)
    }
}

/// 501 with the store's message when it keeps no accounts yet (PostgreSQL, so far): nobody can
/// sign in, so every endpoint that needs a user says why instead of 401.
fn no_accounts(state: &AppState) -> Result<(), AppError> {
    match state.0.no_accounts {
        Some(what) => Err(AppError::Store(gridmap_store::StoreError::Unsupported {
            what,
        })),
        None => Ok(()),
    }
}

/// The hex SHA-256 of a token: what the store keeps of a session (the file never holds a
/// token that would sign anyone in).
pub(crate) fn token_hash(token: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Keeps a new session in the store, so that it survives a restart (best effort: the session
/// works from memory whatever happens here).
async fn keep_session(state: &AppState, token: &str, session: &Session, ttl: Duration) {
    let (shared, hash, username) = (state.0.clone(), token_hash(token), session.username.clone());
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| (d + ttl).as_secs() as i64);
    let kept = crate::blocking(move || {
        shared
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .put_session(&hash, &username, expires)
            .map_err(|e| AppError::Internal(e.to_string()))
    })
    .await;
    if let Err(e) = kept {
        tracing::warn!(error = %e, "a session is kept in memory only");
    }
}

/// A session the store kept from before a restart, with the user's role and scope as they are
/// now (a user removed since is signed out); it is kept in memory again from then on. Only a
/// token of the form gridmap makes is looked up.
async fn restore_session(state: &AppState, token: &str) -> Option<Session> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let (shared, hash) = (state.0.clone(), token_hash(token));
    let found = crate::blocking(move || {
        let store = crate::pool::read_store(&shared)?;
        let Some((username, expires_unix)) = store
            .session(&hash)
            .map_err(|e| AppError::Internal(e.to_string()))?
        else {
            return Ok(None);
        };
        let user = store
            .users()
            .map_err(|e| AppError::Internal(e.to_string()))?
            .into_iter()
            .find(|u| u.username == username);
        Ok(user.map(|u| (u, expires_unix)))
    })
    .await
    .ok()
    .flatten()?;
    let (user, expires_unix) = found;
    let now_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let left = Duration::from_secs(u64::try_from(expires_unix - now_unix).ok()?);
    let now = Instant::now();
    let session = Session {
        username: user.username,
        role: user.role,
        scope: user.scope,
        expires: now + left,
    };
    state
        .0
        .sessions
        .open(token.to_string(), session.clone(), now);
    Some(session)
}

/// The peer address of the connection, when the server was bound with connect info (`serve`
/// is; requests sent in process have none unless they carry `ConnectInfo`).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}

/// Body of `POST /api/login`: the user name and the password.
#[derive(Debug, Deserialize)]
pub struct Login {
    username: String,
    password: String,
}

/// Why a sign-in is refused.
#[derive(Debug)]
enum Refusal {
    /// The answer of an [`AppError`], with another status when given.
    Error(AppError, Option<StatusCode>),
    /// 429 with `Retry-After`: the client must wait this long.
    Wait(Duration),
}

impl From<AppError> for Refusal {
    fn from(e: AppError) -> Self {
        Refusal::Error(e, None)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Error(e, status) => {
                let mut r = e.into_response();
                if let Some(status) = status {
                    *r.status_mut() = status;
                }
                r
            }
            Refusal::Wait(wait) => {
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                let mut r = AppError::TooManyAttempts.into_response();
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
                r
            }
        }
    }
}

/// The body as a sign-in, or why it is refused (nothing of the body is echoed).
fn read_login(body: Result<Json<Login>, JsonRejection>) -> Result<Login, Refusal> {
    let Json(login) = body.map_err(|rejection| {
        let status = rejection.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!("the body of a sign-in is at most {LOGIN_BODY_LIMIT} bytes")
        } else {
            r#"send Content-Type: application/json and the body {"username": "…", "password": "…"}"#
                .to_string()
        };
        Refusal::Error(AppError::BadRequest(message), Some(status))
    })?;
    check_login(login)
}

/// The sign-in if its fields are within bounds (nothing of them is echoed).
fn check_login(login: Login) -> Result<Login, Refusal> {
    let too_long = |field: &str, max: usize| {
        Refusal::from(AppError::BadRequest(format!(
            "{field}: too long: at most {max} characters"
        )))
    };
    if login.username.chars().count() > policy::MAX_USERNAME_CHARS {
        return Err(too_long("username", policy::MAX_USERNAME_CHARS));
    }
    if login.password.chars().count() > policy::MAX_PASSWORD_CHARS {
        return Err(too_long("password", policy::MAX_PASSWORD_CHARS));
    }
    Ok(login)
}

/// `POST /api/login` `{"username", "password"}` → `{"token", "expires_in", "username", "role",
/// "scope"}`; 401 for an unknown user or a wrong password alike, 429 with `Retry-After` for a
/// client that must wait, 400/413 for a body out of bounds (see the module doc).
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    body: Result<Json<Login>, JsonRejection>,
) -> Response {
    match sign_in(&state, addr, body).await {
        Ok(answer) => Json(answer).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn sign_in(
    state: &AppState,
    addr: Option<SocketAddr>,
    body: Result<Json<Login>, JsonRejection>,
) -> Result<Value, Refusal> {
    let login = read_login(body)?;
    sign_in_as(state, addr, login).await
}

/// `POST /api/oauth/token`, form-encoded `grant_type=password&username=…&password=…` (other
/// fields, such as `client_id` and `scope`, are ignored): OAuth 2.0's resource owner password
/// grant (RFC 6749 §4.3), for clients whose authentication manager speaks OAuth 2 but cannot set
/// a header of its own — QGIS's *OAuth2* method with the *Resource Owner* grant, which then sends
/// `Authorization: Bearer` itself. The same sign-in as `/api/login` (same bounds, throttle and
/// logs), answered `{"access_token", "token_type": "bearer", "expires_in"}`; refusals as RFC 6749
/// §5.2 `{"error": "invalid_request" | "unsupported_grant_type" | "invalid_grant",
/// "error_description"}` (429 with `Retry-After` as for `/api/login`).
pub async fn oauth_token(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    body: Result<
        axum::Form<std::collections::HashMap<String, String>>,
        axum::extract::rejection::FormRejection,
    >,
) -> Response {
    let oauth_error = |status: StatusCode, code: &str, description: &str| {
        (
            status,
            Json(json!({"error": code, "error_description": description})),
        )
            .into_response()
    };
    let Ok(axum::Form(mut form)) = body else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send Content-Type: application/x-www-form-urlencoded and grant_type=password&username=…&password=…",
        );
    };
    if form.get("grant_type").map(String::as_str) != Some("password") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only grant_type=password is supported",
        );
    }
    let (Some(username), Some(password)) = (form.remove("username"), form.remove("password"))
    else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "username and password are required",
        );
    };
    let signed_in = match check_login(Login { username, password }) {
        Ok(login) => sign_in_as(&state, addr, login).await,
        Err(refusal) => Err(refusal),
    };
    match signed_in {
        Ok(answer) => {
            let mut r = Json(json!({
                "access_token": answer["token"], "token_type": "bearer",
                "expires_in": answer["expires_in"],
            }))
            .into_response();
            // RFC 6749 §5.1: a token answer is never cached.
            r.headers_mut()
                .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            r
        }
        Err(Refusal::Error(AppError::BadLogin, _)) => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "wrong username or password",
        ),
        Err(Refusal::Error(AppError::BadRequest(m), _)) => {
            oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &m)
        }
        Err(other) => other.into_response(),
    }
}

/// Signs `login` in: the throttle, the password check and the session (see the module doc).
async fn sign_in_as(
    state: &AppState,
    addr: Option<SocketAddr>,
    login: Login,
) -> Result<Value, Refusal> {
    no_accounts(state)?;
    let client = Client::of(addr.map(|a| a.ip()));
    let signin = &state.0.signin;
    let now = Instant::now();
    let (key, delay, failing) = {
        let mut t = signin.throttle();
        let earlier = match t.begin(client, now) {
            Ok(earlier) => earlier,
            Err(left) => {
                tracing::info!(%client, retry_after_ms = left.as_millis() as u64, "sign-in refused: the client must wait");
                return Err(Refusal::Wait(left));
            }
        };
        let key = t.user_key(&login.username);
        (key, t.user_delay(key, now), earlier > 0)
    };
    if failing && !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let user = state
        .0
        .users
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .find(|u| u.username == login.username)
        .cloned();
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let right = signin.check(login.password, hash).await?;
    let Some(user) = user.filter(|_| right) else {
        signin.throttle().failed(key, Instant::now());
        tracing::info!(%client, user = %Throttle::fingerprint(key), "failed sign-in");
        if !failing && !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        return Err(AppError::BadLogin.into());
    };
    signin.throttle().succeeded(client);
    let token = new_token();
    let ttl = state.0.settings.session_secs;
    let now = Instant::now();
    let session = Session {
        username: user.username.clone(),
        role: user.role.clone(),
        scope: user.scope.clone(),
        expires: now + Duration::from_secs(ttl),
    };
    keep_session(state, &token, &session, Duration::from_secs(ttl)).await;
    state.0.sessions.open(token.clone(), session, now);
    tracing::info!(%client, username = ?user.username, role = ?user.role, "signed in");
    Ok(json!({
        "token": token, "expires_in": ttl, "username": user.username, "role": user.role, "scope": user.scope,
    }))
}

/// `POST /api/logout` with the bearer token → `{"signed_out": true}`; the token is refused
/// (401) from then on. 401 for a token that is not signed in.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, AppError> {
    no_accounts(&state)?;
    let token = bearer(&headers).ok_or(AppError::Unauthorized)?;
    let in_memory = state.0.sessions.close(token, Instant::now());
    let session = match in_memory {
        Some(s) => s,
        // Signed in before a restart: forget it all the same.
        None => {
            restore_session(&state, token)
                .await
                .ok_or(AppError::Unauthorized)?;
            state
                .0
                .sessions
                .close(token, Instant::now())
                .ok_or(AppError::Unauthorized)?
        }
    };
    let (shared, hash) = (state.0.clone(), token_hash(token));
    let forgotten = crate::blocking(move || {
        shared
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .delete_session(&hash)
            .map_err(|e| AppError::Internal(e.to_string()))
    })
    .await;
    if let Err(e) = forgotten {
        tracing::warn!(error = %e, "a signed-out session stays in the store until it expires");
    }
    tracing::info!(username = ?session.username, "signed out");
    Ok(Json(json!({"signed_out": true})))
}

/// `GET /api/me`: who the token belongs to, and what their role may do (`capabilities`, see
/// [`crate::scope::Role::capabilities`]): the web app shows what the server will allow.
/// `reach` is what the scope is for this role: `town`, `village`, `grid` or `none`;
/// `town_name` the town's name, for titles.
pub async fn me(State(state): State<AppState>, user: AuthUser) -> Json<Value> {
    use crate::scope::Reach;
    let capabilities = user
        .role()
        .map(crate::scope::Role::capabilities)
        .unwrap_or_default();
    let reach = match user.reach(&state.project().town.code) {
        Reach::Town => "town",
        Reach::Village(_) => "village",
        Reach::Grid(_) => "grid",
        Reach::Nothing => "none",
    };
    let town_name = state.project().town.name.clone();
    let s = user.0;
    Json(
        json!({"username": s.username, "role": s.role, "scope": s.scope,
                "capabilities": capabilities, "reach": reach, "town_name": town_name}),
    )
}
