//! Key units, places and persons (重点单位、场所、人员) and their attention level (关注等级).
//!
//! Only roles with the `key_subjects` capability (`Role::sees_key_subjects`: admins and grid
//! leaders) reach these routes, and only for buildings they see; every other role gets 403
//! here and finds key subjects nowhere else (not in the building panel, tiles, OGC items or
//! exports — only as counts in the scorecard's `attention_rate`). Every read and write is
//! written to the audit log (who, when, which subjects, how many), never the data itself.

use axum::extract::State;
use gridmap_store::key_subjects::{ATTENTION_LEVELS, KeySubject, SubjectKind};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::extract::{Json, Path};
use crate::scope::Role;
use crate::state::AppState;

/// The body of `POST /api/key-subjects`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeySubject {
    /// `unit`, `place` or `person`.
    kind: String,
    /// One of the kind's categories (see the README).
    category: String,
    /// The unit's, place's or person's name (at most 64 characters).
    name: String,
    /// The building's id.
    building: String,
    /// A registered house of the building, when known.
    house: Option<String>,
    /// 1 (closest attention) to 3.
    attention: Option<u8>,
    /// At most 500 characters.
    note: Option<String>,
}

/// The body of `PUT /api/key-subjects/{id}`: the attention level and note.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeySubjectUpdate {
    /// 1 (closest attention) to 3; `null` clears it.
    attention: Option<u8>,
    /// At most 500 characters.
    note: Option<String>,
}

fn key(state: &AppState) -> Result<&gridmap_store::registers::RegisterKey, AppError> {
    state.0.register_key.as_ref().ok_or_else(|| {
        AppError::Rejected(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "key subjects are not served: the server has no register key (GRIDMAP_KEY)".into(),
        )
    })
}

fn check_attention(a: Option<u8>) -> Result<(), AppError> {
    match a {
        Some(n) if !(1..=ATTENTION_LEVELS.len() as u8).contains(&n) => Err(AppError::BadRequest(
            format!("attention must be 1 to {}", ATTENTION_LEVELS.len()),
        )),
        _ => Ok(()),
    }
}

/// The building's position, when `user` sees it; 403 otherwise, 404 when there is none.
fn reach(state: &AppState, user: &AuthUser, building: &str) -> Result<(), AppError> {
    let p = state.project();
    let &i = p
        .building_by_id
        .get(building)
        .ok_or_else(|| AppError::NotFound(format!("building {}", crate::input::short(building))))?;
    if user.sees_building(&p, i as usize) {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

fn to_json(s: &KeySubject) -> Value {
    json!({
        "id": s.id, "kind": s.kind, "category": s.category, "name": s.name,
        "building": s.building, "house": s.house, "attention": s.attention,
        "attention_label": s.attention.and_then(|a| ATTENTION_LEVELS.get(usize::from(a) - 1)),
        "note": s.note, "updated_by": s.updated_by, "updated_at": s.updated_at,
    })
}

/// `GET /api/key-subjects`: the key subjects of the buildings the caller sees (admins and grid
/// leaders), with the categories and attention levels to choose from. Audited.
#[utoipa::path(get, path = "/api/key-subjects", tag = "people", responses((status = 200, description = "Key units, places and persons in scope", body = Object), (status = 403, description = "The role may not see key subjects", body = crate::openapi::ErrorBody)))]
pub async fn list(State(state): State<AppState>, user: AuthUser) -> Result<Json<Value>, AppError> {
    crate::reading(move || list_now(state, user)).await
}

fn list_now(state: AppState, user: AuthUser) -> Result<Json<Value>, AppError> {
    user.require(Role::sees_key_subjects)?;
    let key = key(&state)?;
    let p = state.project();
    let store = crate::pool::read_store(&state.0)?;
    let all = store
        .key_subjects(key)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let mine: Vec<&KeySubject> = all
        .iter()
        .filter(|s| {
            p.building_by_id
                .get(&s.building)
                .is_some_and(|&i| user.sees_building(&p, i as usize))
        })
        .collect();
    store.audit(
        &user.0.username,
        "read key subjects",
        "key subjects in scope",
        mine.len(),
    )?;
    let categories: Value = [SubjectKind::Unit, SubjectKind::Place, SubjectKind::Person]
        .iter()
        .map(|k| {
            (
                serde_json::to_value(k)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                json!(k.categories()),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into();
    Ok(Json(json!({
        "subjects": mine.iter().map(|s| to_json(s)).collect::<Vec<_>>(),
        "categories": categories,
        "attention_levels": ATTENTION_LEVELS,
    })))
}

/// `POST /api/key-subjects`: registers a key unit, place or person in a building the caller
/// sees. Audited.
#[utoipa::path(post, path = "/api/key-subjects", tag = "people", request_body = NewKeySubject, responses((status = 200, description = "The new subject", body = Object), (status = 403, description = "The role may not, or the building is not theirs", body = crate::openapi::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Json(body): Json<NewKeySubject>,
) -> Result<Json<Value>, AppError> {
    user.require(Role::sees_key_subjects)?;
    key(&state)?;
    let kind: SubjectKind = serde_json::from_value(Value::String(body.kind.clone()))
        .map_err(|_| AppError::BadRequest("kind must be unit, place or person".into()))?;
    if !kind.categories().contains(&body.category.as_str()) {
        return Err(AppError::BadRequest(format!(
            "category must be one of {}",
            kind.categories().join(", ")
        )));
    }
    crate::input::check_text("name", &body.name, 64)?;
    if body.name.trim().is_empty() {
        return Err(AppError::BadRequest("name must not be empty".into()));
    }
    if let Some(n) = &body.note {
        crate::input::check_text("note", n, 500)?;
    }
    check_attention(body.attention)?;
    reach(&state, &user, &body.building)?;
    if let Some(house) = body.house.clone() {
        // The house is the building's, or the subject would sit in one grid and name a house
        // of another.
        let (st, building) = (state.clone(), body.building.clone());
        let known = crate::blocking(move || {
            crate::pool::read_store(&st.0)?
                .house_in_building(&house, &building)
                .map_err(|e| AppError::Internal(e.to_string()))
        })
        .await?;
        if !known {
            return Err(AppError::BadRequest(
                "house is not a house of this building in the register".into(),
            ));
        }
    }
    let subject = KeySubject {
        id: format!("key-{}", uuid::Uuid::new_v4()),
        kind,
        category: body.category,
        name: body.name.trim().to_string(),
        building: body.building,
        house: body.house,
        attention: body.attention,
        note: body.note,
        updated_by: user.0.username.clone(),
        updated_at: crate::input::now_rfc3339(),
    };
    let answer = to_json(&subject);
    let (st, who) = (state.clone(), user.0.username.clone());
    crate::blocking(move || {
        let mut store =
            st.0.store
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        store
            .put_key_subject(key(&st)?, &subject)
            .map_err(|e| AppError::Internal(e.to_string()))?;
        store.audit(&who, "added a key subject", &subject.id, 1)?;
        Ok::<_, AppError>(())
    })
    .await?;
    Ok(Json(answer))
}

/// `PUT /api/key-subjects/{id}`: sets a subject's attention level (关注等级) and note.
/// Audited.
#[utoipa::path(put, path = "/api/key-subjects/{id}", tag = "people", params(("id" = String, Path, description = "The subject's id")), request_body = KeySubjectUpdate, responses((status = 200, description = "The subject as saved", body = Object), (status = 403, description = "The role may not, or the subject is not theirs", body = crate::openapi::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(body): Json<KeySubjectUpdate>,
) -> Result<Json<Value>, AppError> {
    user.require(Role::sees_key_subjects)?;
    key(&state)?;
    check_attention(body.attention)?;
    if let Some(n) = &body.note {
        crate::input::check_text("note", n, 500)?;
    }
    let (st, subject) = (state.clone(), id.clone());
    let building = crate::blocking(move || {
        crate::pool::read_store(&st.0)?
            .key_subject_building(&subject)
            .map_err(|e| AppError::Internal(e.to_string()))
    })
    .await?
    .ok_or_else(|| AppError::NotFound(format!("key subject {}", crate::input::short(&id))))?;
    // Decided on the subject's building, not on its id.
    reach(&state, &user, &building)?;
    let (st, who) = (state.clone(), user.0.username.clone());
    let saved = crate::blocking(move || {
        let mut store =
            st.0.store
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut subject = store
            .key_subjects(key(&st)?)
            .map_err(|e| AppError::Internal(e.to_string()))?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or_else(|| AppError::NotFound("key subject".into()))?;
        subject.attention = body.attention;
        subject.note = body.note;
        subject.updated_by = who.clone();
        subject.updated_at = crate::input::now_rfc3339();
        store
            .put_key_subject(key(&st)?, &subject)
            .map_err(|e| AppError::Internal(e.to_string()))?;
        store.audit(&who, "set a key subject's attention", &subject.id, 1)?;
        Ok::<_, AppError>(subject)
    })
    .await?;
    Ok(Json(to_json(&saved)))
}
