//! The building panel: a building's grid, visits, houses and the people living there.
//!
//! People are personal data. Grid workers and leaders (who visit and manage their own grid's
//! households) and admins see them in clear, within their scope; supervisors, village managers
//! and planners see them masked (`张*`, `3206**********1234`, `138****5678`). Every response
//! with clear personal data is written to the audit log (who, when, which building, how many
//! people), never the data itself. Out of scope: 403 and nothing else.

use crate::extract::Json;
use crate::extract::Path;
use axum::extract::State;
use geo::Contains;
use gridmap_core::model::Footprint;
use gridmap_store::registers::View;
use serde_json::{Value, json};

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::scope::Role;
use crate::state::AppState;

/// `GET /api/buildings/{id}`.
#[utoipa::path(get, path = "/api/buildings/{id}", tag = "people", params(("id" = String, Path, description = "The building's id")), responses((status = 200, description = "Visits, houses and people (masked or clear by role)", body = Object)))]
pub async fn building(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    crate::reading(move || building_now(state, user, id)).await
}

fn building_now(state: AppState, user: AuthUser, id: String) -> Result<Json<Value>, AppError> {
    let p = state.project();
    let &i = p
        .building_by_id
        .get(&id)
        .ok_or_else(|| AppError::NotFound(format!("building {id}")))?;
    let grid = p.grid_of(i as usize).map(str::to_string);
    if !user.sees_building(&p, i as usize) {
        return Err(AppError::Forbidden);
    }
    let b = &p.buildings[i as usize];
    let (visits, latest): (Vec<Value>, Option<&str>) = {
        let live = p.live();
        let log = &live.visits;
        let visits = live
            .visits_of(i as usize)
            .into_iter()
            .map(|n| {
                json!({
                    "time": log.time(n), "worker": log.worker(n),
                    "outcome": log.outcome(n).as_str(), "flagged": log.flagged(n),
                })
            })
            .collect();
        (visits, live.outcome(i as usize).map(|o| o.as_str()))
    };
    let clear = user.can(Role::sees_people_clear);
    let store = crate::pool::read_store(&state.0)?;
    let houses = store
        .houses_of(&id)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let (people, note) = match &state.0.register_key {
        None => (
            Vec::new(),
            Some("people are not served: the server has no register key (GRIDMAP_KEY)"),
        ),
        Some(key) => {
            let view = if clear { View::Clear } else { View::Masked };
            // Only this building's people are read and decrypted.
            let people = store
                .people_of(key, view, &id)
                .map_err(|e| AppError::Internal(e.to_string()))?;
            (people, None)
        }
    };
    if clear && !people.is_empty() {
        store.audit(
            &user.0.username,
            "read people in clear",
            &format!("building {id}"),
            people.len(),
        )?;
        tracing::info!(user = %user.0.username, building = %id, people = people.len(), "clear personal data read");
    }
    let houses_json: Vec<Value> = houses
        .iter()
        .map(|h| {
            let residents: Vec<Value> = people
                .iter()
                .filter(|p| p.house == h.id)
                .map(|p| {
                    json!({
                        "name": p.name, "id_number": p.id_number, "phone": p.phone,
                        "relation": p.relation, "occupation": p.occupation, "hukou_match": p.hukou_match,
                        "residence": p.residence.map(|r| r.as_str()),
                    })
                })
                .collect();
            json!({
                "id": h.id, "address": h.address, "nature": h.nature.map(|n| n.as_str()),
                "people": residents,
            })
        })
        .collect();
    // The standard addresses (标准地址) of the building: declared for it, or lying on it.
    let addresses: Vec<&str> = p
        .addresses
        .iter()
        .filter(|a| {
            a.declared_building.as_deref() == Some(id.as_str())
                || matches!(&b.footprint, Footprint::Area(area) if area.contains(&a.point))
        })
        .filter_map(|a| a.text.as_deref())
        .collect();
    Ok(Json(json!({
        "id": b.id, "grid": grid, "households": b.households, "floors": b.floors, "kind": b.kind,
        "address": addresses.first(), "addresses": addresses,
        "visit": latest,
        "visits": visits, "houses": houses_json,
        "people_view": if clear { "clear" } else { "masked" }, "note": note,
    })))
}

/// `GET /api/audit`: the audit log of clear personal-data reads (admins only).
#[utoipa::path(get, path = "/api/audit", tag = "people", responses((status = 200, description = "Reads of clear personal data, newest first", body = Object)))]
pub async fn audit(State(state): State<AppState>, user: AuthUser) -> Result<Json<Value>, AppError> {
    crate::reading(move || audit_now(state, user)).await
}

fn audit_now(state: AppState, user: AuthUser) -> Result<Json<Value>, AppError> {
    user.require(Role::reads_audit)?;
    Ok(Json(
        json!({"entries": crate::pool::read_store(&state.0)?.audit_log()?}),
    ))
}
