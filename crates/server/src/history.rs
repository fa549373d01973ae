//! A grid's history for the boundary editor: every saved version with who changed it, when and
//! why, and the boundary of any one version, so a leader can compare or copy an older outline.
//!
//! - `GET /api/grids/{code}/history` — the versions, newest first;
//! - `GET /api/grids/{code}/versions/{v}` — one version as a GeoJSON Feature.
//!
//! Both are scoped like `GET /api/grids/{code}`. A deleted grid keeps its history; it is scoped
//! by the village its last version recorded.

use crate::extract::Json;
use crate::extract::Path;
use axum::extract::State;
use gridmap_store::GridVersion;
use serde_json::{Value, json};

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::state::AppState;

/// The stored versions of grid `code`, oldest first, after checking that the caller may see it:
/// 404 when the grid never existed, 403 when it lies outside the caller's scope. The store is
/// read off the runtime's threads.
async fn versions_in_scope(
    state: &AppState,
    user: &AuthUser,
    code: &str,
) -> Result<Vec<GridVersion>, AppError> {
    let (state, user, code) = (state.clone(), user.clone(), code.to_string());
    crate::reading(move || versions_in_scope_now(&state, &user, &code)).await
}

fn versions_in_scope_now(
    state: &AppState,
    user: &AuthUser,
    code: &str,
) -> Result<Vec<GridVersion>, AppError> {
    let p = state.project();
    let history = crate::pool::read_store(&state.0)?.grid_history(code)?;
    // Today's village when the grid exists, else the one its last version recorded.
    let village = match p.grid(code) {
        Some(g) => g.grid.village.clone(),
        None => match history.last() {
            Some(v) => v.village.clone(),
            None => return Err(AppError::NotFound(format!("grid {code}"))),
        },
    };
    if !user.sees_grid(&p.town.code, code, village.as_deref()) {
        return Err(AppError::Forbidden);
    }
    Ok(history)
}

/// `GET /api/grids/{code}/history` → `{"grid", "versions": [{"version", "action", "at", "who",
/// "why", "deleted"}]}`, newest first. `action` is `created`, `updated`, `deleted` or `restored`.
#[utoipa::path(get, path = "/api/grids/{code}/history", tag = "grids", params(("code" = String, Path, description = "The grid's code")), responses((status = 200, description = "Its versions, newest first", body = History)))]
pub async fn history(
    State(state): State<AppState>,
    user: AuthUser,
    Path(code): Path<String>,
) -> Result<Json<History>, AppError> {
    let history = versions_in_scope(&state, &user, &code).await?;
    let versions = history
        .iter()
        .rev()
        .map(|v| Change {
            version: v.version,
            action: v.action.clone(),
            at: v.at.clone(),
            who: v.who.clone(),
            why: v.why.clone(),
            deleted: v.action == "deleted",
        })
        .collect();
    Ok(Json(History {
        grid: code,
        versions,
    }))
}

/// The answer of `GET /api/grids/{code}/history`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct History {
    /// The grid's code.
    pub grid: String,
    /// Its changes, newest first.
    pub versions: Vec<Change>,
}

/// One change of a grid.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Change {
    /// The version it made.
    pub version: u32,
    /// `created`, `updated`, `deleted` or `restored`.
    pub action: String,
    /// When (RFC 3339).
    pub at: String,
    /// Who made it.
    pub who: String,
    /// Why, in their words.
    pub why: String,
    /// Whether it deleted the grid.
    pub deleted: bool,
}

/// `GET /api/grids/{code}/versions/{v}` → the grid as it was after change `v`, a GeoJSON Feature
/// with properties `code`, `name`, `village`, `version`, `action`, `at`, `who`, `why`,
/// `deleted`. A deletion has no boundary: its geometry is `null` (the version before it holds
/// the last one).
#[utoipa::path(get, path = "/api/grids/{code}/versions/{version}", tag = "grids", params(("code" = String, Path, description = "The grid's code"), ("version" = u32, Path, description = "A version number")), responses((status = 200, description = "A GeoJSON Feature (null geometry for a deletion)", body = Object)))]
pub async fn version(
    State(state): State<AppState>,
    user: AuthUser,
    Path((code, v)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    let n: u32 = v.parse().map_err(|_| {
        AppError::BadRequest(format!(
            "the version in /api/grids/{code}/versions/{{v}} is a whole number like 2, not {v}"
        ))
    })?;
    let history = versions_in_scope(&state, &user, &code).await?;
    let found = history
        .iter()
        .find(|h| h.version == n)
        .ok_or_else(|| AppError::NotFound(format!("version {n} of grid {code}")))?;
    Ok(Json(json!({
        "type": "Feature", "id": format!("{code}@{n}"),
        "properties": {
            "code": code, "name": found.name, "village": found.village, "version": found.version,
            "action": found.action, "at": found.at, "who": found.who, "why": found.why,
            "deleted": found.action == "deleted",
        },
        "geometry": found.geometry.as_ref().map(gridmap_io::write::geometry_json),
    })))
}
