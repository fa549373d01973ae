//! The review queue of residents' self-reports (自主申报审核).
//!
//! - `GET /api/declarations`: the pending declarations whose building lies in the caller's
//!   part of the org tree, oldest first; people in clear for the roles that see people in
//!   clear (audited), masked for the others.
//! - `POST /api/declarations/{id}/confirm`: the household goes into the registers through the
//!   household import (the same linking, fingerprints and deduplication as a form), the queue
//!   keeps no personal data of it, the building's people are counted again; audited.
//! - `POST /api/declarations/{id}/reject`: the declaration is deleted, people and all; audited
//!   (who, which declaration, how many people — never the people).
//!
//! Who sees and who reviews is decided in [`crate::scope`] ([`AuthUser::sees_declaration`],
//! [`AuthUser::reviews_declaration`]); a declaration outside the caller's part is answered as
//! one that does not exist (404), so ids cannot be probed.

use axum::extract::State;
use gridmap_store::declarations::Declaration;
use gridmap_store::registers::{RegisterError, View};
use serde_json::{Value, json};

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::extract::{Json, Path};
use crate::scope::Role;
use crate::state::AppState;

fn no_key() -> AppError {
    AppError::Rejected(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "declarations are not served: the server has no register key (GRIDMAP_KEY)".into(),
    )
}

fn internal(e: RegisterError) -> AppError {
    AppError::Internal(e.to_string())
}

/// The JSON of a declaration.
fn declaration_json(d: &Declaration, view: View) -> Value {
    json!({
        "id": d.id, "building": d.building, "house": d.house, "grid": d.grid,
        "address": d.address, "household_address": d.household_address(), "room": d.room,
        "received_at": d.received_at, "nature": d.nature, "residence": d.residence,
        "people": d.people.iter().map(|p| json!({
            "name": p.name, "id_number": p.id_number, "phone": p.phone, "relation": p.relation,
        })).collect::<Vec<_>>(),
        "people_view": if view == View::Clear { "clear" } else { "masked" },
    })
}

/// `GET /api/declarations`: the pending self-reports in the caller's part.
#[utoipa::path(get, path = "/api/declarations", tag = "plates",
    responses((status = 200, description = "{declarations: [{id, building, house, grid, address, household_address, room, received_at, nature, residence, people: [{name, id_number, phone, relation}], people_view}], reviews: bool}", body = Object),
              (status = 503, description = "The server has no register key", body = crate::openapi::ErrorBody)))]
pub async fn list(State(state): State<AppState>, user: AuthUser) -> Result<Json<Value>, AppError> {
    if state.0.register_key.is_none() {
        return Err(no_key());
    }
    let clear = user.can(Role::sees_people_clear);
    let view = if clear { View::Clear } else { View::Masked };
    let st = state.clone();
    let u = user.clone();
    crate::reading(move || {
        let p = st.project();
        let scope = u.scope(&p);
        let key = st.0.register_key.as_ref().ok_or_else(no_key)?;
        let store = crate::pool::read_store(&st.0)?;
        let seen: Vec<Declaration> = store
            .pending_declarations(key, view)
            .map_err(internal)?
            .into_iter()
            .filter(|d| {
                let at = p.building_by_id.get(&d.building).map(|&i| i as usize);
                u.sees_declaration(&scope, at)
            })
            .collect();
        let people: usize = seen.iter().map(|d| d.people.len()).sum();
        if clear && people > 0 {
            store.audit(
                &u.0.username,
                "read declarations in clear",
                &format!("{} pending declarations", seen.len()),
                people,
            )?;
        }
        Ok(Json(json!({
            "declarations": seen.iter().map(|d| declaration_json(d, view)).collect::<Vec<_>>(),
            "reviews": u.can(Role::records_visits),
        })))
    })
    .await
}

/// The building (by position) of pending declaration `id` when `user` may review it; 404 when
/// there is no such pending declaration or the user does not see it, 403 when they see it but
/// may not review.
fn reviewable(state: &AppState, user: &AuthUser, id: i64) -> Result<(), AppError> {
    let place = crate::pool::read_store(&state.0)?
        .declaration_place(id)
        .map_err(internal)?;
    let p = state.project();
    let scope = user.scope(&p);
    let Some((building, _grid)) = place else {
        return Err(AppError::NotFound(format!("declaration {id}")));
    };
    let at = p.building_by_id.get(&building).map(|&i| i as usize);
    if !user.sees_declaration(&scope, at) {
        return Err(AppError::NotFound(format!("declaration {id}")));
    }
    if !user.reviews_declaration(&scope, at) {
        return Err(AppError::Forbidden);
    }
    Ok(())
}

/// `POST /api/declarations/{id}/confirm`: the declared household enters the registers.
#[utoipa::path(post, path = "/api/declarations/{id}/confirm", tag = "plates",
    params(("id" = i64, Path, description = "The declaration's number")),
    responses((status = 200, description = "{confirmed: id, import: {houses_created, houses_existing, people_inserted, people_updated, rows_linked, unlinked}}", body = Object),
              (status = 404, description = "No such pending declaration in your part", body = crate::openapi::ErrorBody)))]
pub async fn confirm(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<i64>,
) -> Result<Json<Value>, AppError> {
    if state.0.register_key.is_none() {
        return Err(no_key());
    }
    let st = state.clone();
    let u = user.clone();
    let done = crate::blocking(move || {
        reviewable(&st, &u, id)?;
        let key = st.0.register_key.as_ref().ok_or_else(no_key)?;
        let mut store =
            st.0.store
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        let done = match store.confirm_declaration(key, id, &u.0.username) {
            Ok(Some(done)) => done,
            Ok(None) => return Err(AppError::NotFound(format!("declaration {id}"))),
            Err(RegisterError::Rejected(rows)) => {
                return Err(AppError::Conflict(format!(
                    "the register refuses the household's address: {}",
                    rows.first().map(|r| r.reason.as_str()).unwrap_or("")
                )));
            }
            Err(e) => return Err(internal(e)),
        };
        store.audit(
            &u.0.username,
            "confirmed declaration",
            &format!("declaration {id}"),
            done.people_inserted + done.people_updated,
        )?;
        drop(store);
        st.registers_changed()?;
        Ok(done)
    })
    .await?;
    Ok(Json(json!({
        "confirmed": id,
        "import": {
            "houses_created": done.houses_created, "houses_existing": done.houses_existing,
            "people_inserted": done.people_inserted, "people_updated": done.people_updated,
            "rows_linked": done.rows_linked,
            "unlinked": done.unlinked.iter().map(|r| r.reason.clone()).collect::<Vec<_>>(),
        },
    })))
}

/// `POST /api/declarations/{id}/reject`: the declaration is deleted; nothing of it is kept.
#[utoipa::path(post, path = "/api/declarations/{id}/reject", tag = "plates",
    params(("id" = i64, Path, description = "The declaration's number")),
    responses((status = 200, description = "{rejected: id}", body = Object),
              (status = 404, description = "No such pending declaration in your part", body = crate::openapi::ErrorBody)))]
pub async fn reject(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<i64>,
) -> Result<Json<Value>, AppError> {
    let st = state.clone();
    let u = user.clone();
    crate::blocking(move || {
        reviewable(&st, &u, id)?;
        let mut store =
            st.0.store
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        let people = store
            .reject_declaration(id)
            .map_err(internal)?
            .ok_or_else(|| AppError::NotFound(format!("declaration {id}")))?;
        store.audit(
            &u.0.username,
            "rejected declaration (deleted)",
            &format!("declaration {id}"),
            people,
        )?;
        Ok(Json(json!({"rejected": id})))
    })
    .await
}
