//! Sign-in, sessions, roles and scope.
//!
//! Passwords are hashed with argon2 (PHC strings in the store). `POST /api/login` answers a
//! random bearer token valid for a configurable time (12 h by default); five failed sign-ins
//! for one username within five minutes lock it for the rest of the window (429). Every other
//! request carries `Authorization: Bearer TOKEN`.
//!
//! Scope: each user belongs to a node of the org tree (the town code, a village code or a grid
//! code) and sees that subtree only: a grid is in scope when its code, its village or the town
//! is the user's scope; `admin` sees everything. `gridmap user add` applies [`policy`].

pub mod policy;

use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::AppError;
use crate::state::{AppState, Session};

/// The roles, from broadest to narrowest.
pub const ROLES: [&str; 6] = [
    "admin",
    "town_supervisor",
    "village_manager",
    "grid_leader",
    "grid_worker",
    "planner",
];

/// Hashes a password for storage.
pub fn hash_password(password: &str) -> Result<String, AppError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| AppError::Internal(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(e.to_string()))
}

fn verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// The signed-in user of a request.
#[derive(Debug, Clone)]
pub struct AuthUser(pub Session);

impl AuthUser {
    /// Whether the grid (by code and village) lies in the user's part of the org tree.
    pub fn sees_grid(&self, town: &str, code: &str, village: Option<&str>) -> bool {
        let s = &self.0;
        s.role == "admin" || s.scope == town || s.scope == code || village == Some(&s.scope)
    }

    /// Whether the grid with `code` of project `p` is in the user's scope (false for an
    /// unknown code).
    pub fn sees_code(&self, p: &crate::state::Project, code: &str) -> bool {
        p.grid(code)
            .is_some_and(|g| self.sees_grid(&p.town.code, code, g.grid.village.as_deref()))
    }

    /// Whether the user may change grid boundaries.
    pub fn edits_grids(&self) -> bool {
        matches!(
            self.0.role.as_str(),
            "admin" | "town_supervisor" | "village_manager" | "grid_leader"
        )
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or(AppError::Unauthorized)?;
        let mut sessions = state
            .0
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match sessions.get(token) {
            Some(s) if s.expires > Instant::now() => Ok(AuthUser(s.clone())),
            Some(_) => {
                sessions.remove(token);
                Err(AppError::Unauthorized)
            }
            None => Err(AppError::Unauthorized),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct Login {
    username: String,
    password: String,
}

const WINDOW: Duration = Duration::from_secs(300);
const MAX_FAILURES: u32 = 5;

/// `POST /api/login` `{"username", "password"}` → `{"token", "expires_in", "role", "scope"}`.
pub async fn login(
    State(state): State<AppState>,
    Json(login): Json<Login>,
) -> Result<Json<Value>, AppError> {
    {
        let failures = state
            .0
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((since, n)) = failures.get(&login.username)
            && since.elapsed() < WINDOW
            && *n >= MAX_FAILURES
        {
            return Err(AppError::TooManyAttempts);
        }
    }
    let user = state
        .0
        .users
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .find(|u| u.username == login.username)
        .cloned();
    let Some(user) = user.filter(|u| verify(&login.password, &u.password_hash)) else {
        let mut failures = state
            .0
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = failures
            .entry(login.username.clone())
            .or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
        tracing::info!(username = %login.username, "failed sign-in");
        return Err(AppError::BadLogin);
    };
    state
        .0
        .failures
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(&user.username);
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let ttl = state.0.settings.session_secs;
    state
        .0
        .sessions
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(
            token.clone(),
            Session {
                username: user.username.clone(),
                role: user.role.clone(),
                scope: user.scope.clone(),
                expires: Instant::now() + Duration::from_secs(ttl),
            },
        );
    tracing::info!(username = %user.username, role = %user.role, "signed in");
    Ok(Json(json!({
        "token": token, "expires_in": ttl, "username": user.username, "role": user.role, "scope": user.scope,
    })))
}

/// `GET /api/me`: who the token belongs to.
pub async fn me(user: AuthUser) -> Json<Value> {
    let s = user.0;
    Json(json!({"username": s.username, "role": s.role, "scope": s.scope}))
}
