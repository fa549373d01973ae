//! `GET /api/tasks` and `POST /api/tasks/{id}/done`: the visits `gridmap reconcile` asks for
//! (an address where the police register lists someone the grid's register lacks), for the
//! grid they fall to. A task holds an address, never a person.

use axum::extract::State;
use serde_json::{Value, json};

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::extract::{Json, Path};
use crate::scope::Role;
use crate::state::AppState;

/// Whether `user` sees task `t`: its grid is theirs; a task in no grid is the town's.
fn sees(state: &AppState, user: &AuthUser, t: &gridmap_store::reconcile::Task) -> bool {
    let p = state.project();
    match &t.grid {
        Some(code) => user.sees_code(&p, code),
        None => user.town_wide(&p.town.code),
    }
}

/// `GET /api/tasks`: the open tasks of the caller's part, by grid.
#[utoipa::path(get, path = "/api/tasks", tag = "visits", responses((status = 200, description = "Open visit tasks in scope", body = Object)))]
pub async fn list(State(state): State<AppState>, user: AuthUser) -> Result<Json<Value>, AppError> {
    let st = state.clone();
    let tasks = crate::reading(move || {
        crate::pool::read_store(&st.0)?
            .open_tasks(None)
            .map_err(|e| AppError::Internal(e.to_string()))
    })
    .await?;
    let mine: Vec<Value> = tasks
        .iter()
        .filter(|t| sees(&state, &user, t))
        .map(|t| {
            json!({"id": t.id, "grid": t.grid, "kind": t.kind, "address": t.address,
                   "house": t.house, "created": t.created})
        })
        .collect();
    Ok(Json(json!({ "tasks": mine })))
}

/// `POST /api/tasks/{id}/done`: the field roles (and admins) mark a task of their part done.
#[utoipa::path(post, path = "/api/tasks/{id}/done", tag = "visits", params(("id" = i64, Path, description = "The task's number")), responses((status = 200, description = "The task is done", body = Object), (status = 404, description = "No such open task in the caller's part", body = crate::openapi::ErrorBody)))]
pub async fn done(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<i64>,
) -> Result<Json<Value>, AppError> {
    user.require(Role::records_visits)?;
    let st = state.clone();
    let task = crate::blocking(move || {
        crate::pool::read_store(&st.0)?
            .open_tasks(None)
            .map(|ts| ts.into_iter().find(|t| t.id == id))
            .map_err(|e| AppError::Internal(e.to_string()))
    })
    .await?;
    // Outside the caller's part a task does not exist for them.
    let task = task
        .filter(|t| sees(&state, &user, t))
        .ok_or_else(|| AppError::NotFound(format!("open task {id}")))?;
    let (st, who) = (state.clone(), user.0.username.clone());
    crate::blocking(move || {
        let mut store =
            st.0.store
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        store
            .finish_task(task.id)
            .map_err(|e| AppError::Internal(e.to_string()))?;
        store.audit(
            &who,
            "finished a visit task",
            &format!("task {}", task.id),
            1,
        )?;
        Ok::<_, AppError>(())
    })
    .await?;
    Ok(Json(json!({"id": id, "done": true})))
}
