//! Editing grid boundaries: `POST /api/validate` (what saving would do), `POST /api/grids`,
//! `PUT /api/grids/{code}` and `DELETE /api/grids/{code}`.
//!
//! Every write goes the same way: the body is checked field by field ([`crate::input`]), the
//! user's right to write this grid with this code and village is checked
//! ([`scope::check_grid_write`]), the validator measures what the new boundary would do
//! ([`gridmap_stats::edit`]), and the edit is refused when it reaches outside the user's part of the org tree
//! (403, even with `force`), is invalid (400) or would create overlaps without `force` (409).
//! `POST /api/validate` answers the same measurement without saving, with the reasons it would be
//! refused in `refused`, and names only the grids and buildings the caller may see.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use geo::{BoundingRect, MultiPolygon, Rect};
use gridmap_core::model::Grid;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::extract::{Json, Path, Query};
use crate::input;
use crate::scope;
use crate::state::{AppState, Project};
use gridmap_io::write::geometry_json;
use gridmap_stats::edit::{Impact, Layer, union_rect};

/// The longest grid name.
const MAX_NAME_CHARS: usize = 100;
/// The longest reason for an edit.
const MAX_REASON_CHARS: usize = 500;

/// A GeoJSON Feature as a grid edit sends it. Properties and geometry are taken as JSON and
/// checked field by field ([`crate::input`]), so that a bad one is named in the answer.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct FeatureBody {
    /// `code` (required), `name`, `village`: strings.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    properties: Option<Map<String, Value>>,
    /// A GeoJSON Polygon or MultiPolygon, WGS84 lon/lat.
    #[schema(value_type = Object)]
    geometry: Value,
}

/// `{"feature": …}`: the body of `POST /api/validate`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Candidate {
    /// A GeoJSON Feature with a `code` property and a Polygon or MultiPolygon.
    feature: FeatureBody,
}

/// `{"feature", "reason", "force"}`: the body of `POST /api/grids` and `PUT /api/grids/{code}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct GridBody {
    /// The grid as a GeoJSON Feature.
    feature: FeatureBody,
    /// Why (required, at most 500 characters): kept in the grid's history.
    reason: Option<String>,
    /// Save even if the grid would overlap others.
    #[serde(default)]
    force: bool,
}

/// The answer of `POST /api/grids` and `PUT /api/grids/{code}`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct GridSaved {
    /// The grid's code.
    pub grid: String,
    /// Its new version (send it as `If-Match` to change it again).
    pub version: u32,
    /// What saving did, as `POST /api/validate` answers it.
    pub validation: EditVerdict,
}

/// The answer of `DELETE /api/grids/{code}`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct GridDeleted {
    /// The grid's code.
    pub grid: String,
    /// Always `true`.
    pub deleted: bool,
}

/// A string property of a feature: absent or null is `None`, anything but a string is a 400.
fn string_property(props: &Map<String, Value>, key: &str) -> Result<Option<String>, AppError> {
    match props.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(AppError::BadRequest(format!(
            "feature.properties.{key} must be a string"
        ))),
    }
}

/// The grid a feature describes, every field checked (see [`crate::input`]).
fn parse_grid(p: &Project, feature: &FeatureBody) -> Result<Grid, AppError> {
    let empty = Map::new();
    let props = feature.properties.as_ref().unwrap_or(&empty);
    let code = string_property(props, "code")?.ok_or_else(|| {
        AppError::BadRequest("feature.properties.code is missing: a grid needs a code".into())
    })?;
    if code.is_empty() {
        return Err(AppError::BadRequest(
            "feature.properties.code is empty".into(),
        ));
    }
    // Existing grids may carry imported codes; a new code must follow the town's pattern
    // (checked with the village, in `scope::check_grid_write`).
    input::check_text("feature.properties.code", &code, input::MAX_CODE_CHARS)?;
    let name = string_property(props, "name")?;
    if let Some(n) = &name {
        input::check_text("feature.properties.name", n, MAX_NAME_CHARS)?;
    }
    let village = string_property(props, "village")?;
    if let Some(v) = &village {
        input::check_code("feature.properties.village", v)?;
    }
    let geometry = input::grid_geometry(&feature.geometry, input::neighbourhood(p))?;
    Ok(Grid {
        code,
        name,
        village,
        geometry,
    })
}

impl Layer for Project {
    fn grids(&self) -> impl Iterator<Item = &Grid> {
        self.grids.iter().map(|g| &g.grid)
    }

    fn grid(&self, code: &str) -> Option<&Grid> {
        Project::grid(self, code).map(|g| &g.grid)
    }

    fn buildings(&self) -> &[gridmap_core::Building] {
        &self.buildings
    }

    fn buildings_in(&self, area: Rect) -> Vec<usize> {
        let env =
            rstar::AABB::from_corners([area.min().x, area.min().y], [area.max().x, area.max().y]);
        self.building_tree
            .locate_in_envelope_intersecting(&env)
            .map(|e| e.data as usize)
            .collect()
    }

    fn grid_of(&self, i: usize) -> Option<&str> {
        Project::grid_of(self, i)
    }

    fn parent(&self, village: Option<&str>) -> Option<&MultiPolygon> {
        village
            .and_then(|code| self.villages.iter().find(|v| v.code == code))
            .and_then(|v| v.boundary.as_ref())
            .or(self.town.boundary.as_ref())
    }

    fn overlaps(&self) -> &[gridmap_core::validate::Overlap] {
        &self.report.overlaps
    }
}

/// What saving `candidate` would do, for `user`: the measurement ([`gridmap_stats::edit`]) and
/// how the answer shows it.
struct Verdict<'a> {
    impact: Impact,
    p: &'a Project,
}

/// Checks one grid of a write of several (a repair, an adopted plan) as a single edit is
/// checked: [`scope::check_grid_write`] on its code and village, then what it would reach
/// outside the user's part (another village's area, grids the user may not edit, their
/// buildings): 403 naming it.
pub(crate) fn check_reach(
    p: &Project,
    user: &AuthUser,
    candidate: &mut Grid,
) -> Result<(), AppError> {
    scope::check_grid_write(p, user, p.grid(&candidate.code), Some(candidate), false)?;
    let refused = impact(p, candidate).reach_violations(user);
    if refused.is_empty() {
        return Ok(());
    }
    let refused: Vec<String> = refused.iter().map(ToString::to_string).collect();
    Err(AppError::ForbiddenBecause(format!(
        "grid {}: this change reaches outside your part of the organisation: it {}",
        candidate.code,
        refused.join("; it ")
    )))
}

/// The validator's verdict on the project with `candidate` in place of its namesake.
fn impact<'a>(p: &'a Project, candidate: &Grid) -> Verdict<'a> {
    Verdict {
        impact: gridmap_stats::impact(p, candidate),
        p,
    }
}

impl Verdict<'_> {
    /// What the edit would do outside `user`'s part, in words (empty: nothing).
    fn reach_violations(&self, user: &AuthUser) -> Vec<scope::Violation> {
        let (p, i) = (self.p, &self.impact);
        scope::reach_violations(
            p,
            user,
            i.outside_more(p),
            &i.overlapping_more(p),
            &i.taken_from(),
        )
    }

    /// The answer for `user`: grids the user does not see are `null`, buildings the user does
    /// not see are left out of the lists (their counts stay).
    fn answer(&self, user: &AuthUser) -> EditVerdict {
        let (p, found) = (self.p, &self.impact);
        let code = |c: &str| -> Option<String> {
            (c == found.grid || user.sees_code(p, c)).then(|| c.to_string())
        };
        let seen = |ids: &[String]| -> Vec<String> {
            ids.iter()
                .filter(|id| {
                    p.building_by_id
                        .get(id.as_str())
                        .is_some_and(|&i| user.sees_building(p, i as usize))
                })
                .cloned()
                .collect()
        };
        let overlaps = found
            .overlaps
            .iter()
            .map(|o| OverlapAnswer {
                grids: o.grids.iter().map(|g| code(g)).collect(),
                area_m2: o.area_m2,
                buildings: seen(&o.buildings),
                building_count: o.buildings.len(),
                geometry: geometry_json(&o.geometry),
            })
            .collect();
        let gaps = found
            .gaps
            .iter()
            .map(|g| GapAnswer {
                area_m2: g.area_m2,
                point: g.point,
                buildings: seen(&g.buildings),
                building_count: g.buildings.len(),
                geometry: geometry_json(&g.geometry),
            })
            .collect();
        let moved = found
            .moved
            .iter()
            .filter(|(i, _, _)| user.sees_building(p, *i))
            .map(|(i, before, after)| MovedAnswer {
                building: p.buildings[*i].id.clone(),
                from: before.as_deref().and_then(code),
                to: after.as_deref().and_then(code),
            })
            .collect();
        let refused = self.reach_violations(user);
        let valid = found.valid();
        EditVerdict {
            grid: found.grid.clone(),
            valid,
            invalid_reasons: found.invalid.clone(),
            overlaps,
            gaps,
            buildings_changing_grid: moved,
            outside_parent: found.outside_parent_m2,
            ok: valid && found.overlaps.is_empty() && refused.is_empty(),
            refused,
            summary: EditSummary {
                overlap_area_m2: found.overlap_area_m2(),
                gap_area_m2: found.gap_area_m2(),
                buildings_changing_grid: found.moved.len(),
            },
        }
    }
}

/// What saving a grid would do, as `POST /api/validate` answers it (and the grid writes, in
/// `validation`). Grids the caller does not see are `null`; buildings the caller does not see
/// are left out of the lists, their counts kept.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct EditVerdict {
    /// The grid's code.
    pub grid: String,
    /// Whether its geometry is valid.
    pub valid: bool,
    /// Why it is not.
    pub invalid_reasons: Vec<String>,
    /// The overlaps it would take part in.
    pub overlaps: Vec<OverlapAnswer>,
    /// The gaps around it.
    pub gaps: Vec<GapAnswer>,
    /// The buildings whose grid would change to or from it.
    pub buildings_changing_grid: Vec<MovedAnswer>,
    /// Its area outside its village (or town), m², when above the validator's floor.
    pub outside_parent: Option<f64>,
    /// Why saving would be refused (the edit reaches outside the caller's part).
    #[schema(value_type = Vec<Object>)]
    pub refused: Vec<scope::Violation>,
    /// Whether it would be saved without `force`: valid, no overlap, not refused.
    pub ok: bool,
    /// Totals.
    pub summary: EditSummary,
}

/// An overlap in an [`EditVerdict`].
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct OverlapAnswer {
    /// The two grids (`null`: one the caller does not see).
    pub grids: Vec<Option<String>>,
    /// Its area, m².
    pub area_m2: f64,
    /// The buildings in it that the caller sees.
    pub buildings: Vec<String>,
    /// How many buildings are in it.
    pub building_count: usize,
    /// Its GeoJSON geometry.
    #[schema(value_type = Object)]
    pub geometry: Value,
}

/// A gap in an [`EditVerdict`].
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct GapAnswer {
    /// Its area, m².
    pub area_m2: f64,
    /// A point inside it, `[lon, lat]`.
    pub point: [f64; 2],
    /// The buildings in it that the caller sees.
    pub buildings: Vec<String>,
    /// How many buildings are in it.
    pub building_count: usize,
    /// Its GeoJSON geometry.
    #[schema(value_type = Object)]
    pub geometry: Value,
}

/// A building that would change grid, in an [`EditVerdict`].
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct MovedAnswer {
    /// The building's id.
    pub building: String,
    /// Its grid before (`null`: none, several, or one the caller does not see).
    pub from: Option<String>,
    /// Its grid after.
    pub to: Option<String>,
}

/// The totals of an [`EditVerdict`].
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct EditSummary {
    /// Area of the overlaps it would take part in, m².
    pub overlap_area_m2: f64,
    /// Area of the gaps around it, m².
    pub gap_area_m2: f64,
    /// How many buildings would change grid (seen or not).
    pub buildings_changing_grid: usize,
}

/// `POST /api/validate` `{"feature": GeoJSON Feature}`: what saving this grid would do, without
/// saving: whether its geometry is valid, the overlaps and gaps it would take part in, the
/// buildings that would change grid, and why saving would be refused (`refused`).
#[utoipa::path(post, path = "/api/validate", tag = "grids", request_body = Candidate, responses((status = 200, description = "What saving would do", body = Object)))]
pub async fn validate_candidate(
    State(state): State<AppState>,
    user: AuthUser,
    Json(c): Json<Candidate>,
) -> Result<Json<EditVerdict>, AppError> {
    crate::reading(move || validate_candidate_now(state, user, c)).await
}

/// [`validate_candidate`], on a blocking thread.
fn validate_candidate_now(
    state: AppState,
    user: AuthUser,
    c: Candidate,
) -> Result<Json<EditVerdict>, AppError> {
    let p = state.project();
    let mut candidate = parse_grid(&p, &c.feature)?;
    let existing = p.grid(&candidate.code);
    scope::check_grid_write(&p, &user, existing, Some(&mut candidate), false)?;
    Ok(Json(impact(&p, &candidate).answer(&user)))
}

/// The `reason` of an edit, required, non-blank and bounded: it goes into the grid's history.
pub(crate) fn check_reason(reason: Option<String>) -> Result<String, AppError> {
    let reason = reason
        .filter(|r| !r.trim().is_empty())
        .ok_or_else(|| AppError::BadRequest("say why in `reason`".into()))?;
    input::check_text("reason", &reason, MAX_REASON_CHARS)?;
    Ok(reason)
}

/// The verdict on saving `candidate` for `user`: 403 when it reaches outside the user's part,
/// 400 for an invalid geometry, 409 when it would create overlaps unless `force`.
fn save_verdict(
    p: &Project,
    user: &AuthUser,
    candidate: &Grid,
    force: bool,
) -> Result<EditVerdict, AppError> {
    let verdict = impact(p, candidate);
    let refused = verdict.reach_violations(user);
    if !refused.is_empty() {
        let refused: Vec<String> = refused.iter().map(ToString::to_string).collect();
        return Err(AppError::ForbiddenBecause(format!(
            "this edit reaches outside your part of the organisation: it {}",
            refused.join("; it ")
        )));
    }
    let found = &verdict.impact;
    if !found.valid() {
        return Err(AppError::BadRequest(format!(
            "invalid geometry: {}",
            found.invalid.join("; ")
        )));
    }
    if !found.overlaps.is_empty() && !force {
        // Grids and areas only: the geometries would drown the message.
        let overlaps: Vec<String> = found
            .overlaps
            .iter()
            .map(|o| {
                format!(
                    "{} ({:.1} m², {} buildings)",
                    o.grids.join(" × "),
                    o.area_m2,
                    o.buildings.len()
                )
            })
            .collect();
        return Err(AppError::Conflict(format!(
            "saving would create overlaps: {}; send \"force\": true to save anyway",
            overlaps.join(", ")
        )));
    }
    Ok(verdict.answer(user))
}

/// The version in `If-Match`: `None` when absent, 400 when it is not a version.
fn if_match(headers: &HeaderMap) -> Result<Option<u32>, AppError> {
    match headers.get(header::IF_MATCH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .map(|s| s.trim_matches('"'))
            .and_then(|s| s.parse::<u32>().ok())
            .map(Some)
            .ok_or_else(|| AppError::BadRequest("If-Match must be a version like \"3\"".into())),
    }
}

/// Saves `candidate` (checked) with `expected` as the version it replaces (0: a new grid).
fn save(
    state: &AppState,
    user: &AuthUser,
    candidate: &Grid,
    before: Option<&MultiPolygon>,
    expected: Option<u32>,
    reason: String,
) -> Result<u32, AppError> {
    let change = gridmap_store::Change {
        who: user.0.username.clone(),
        why: reason,
    };
    let touched = union_rect(
        before.and_then(BoundingRect::bounding_rect),
        candidate.geometry.bounding_rect(),
    );
    let version = state.write(touched, &candidate.code, |s| {
        Ok(s.save_grid(candidate, expected, &change)?)
    })?;
    state.0.tiles.clear_layer("problems");
    Ok(version)
}

/// `PUT /api/grids/{code}` with `If-Match: "VERSION"` and `{"feature", "reason", "force"}`:
/// saves a grid after validating it. Refused with 403 when it reaches outside the user's part,
/// 409 when it would create overlaps unless `force`, 412 when someone saved a newer version.
#[utoipa::path(put, path = "/api/grids/{code}", tag = "grids", params(("code" = String, Path, description = "The grid's code"), ("If-Match" = String, Header, description = "The version edited")), request_body = GridBody, responses((status = 200, description = "Saved: the new version and the validation", body = GridSaved), (status = 409, description = "Would create overlaps (send force)", body = crate::openapi::ErrorBody), (status = 412, description = "Someone saved a newer version", body = crate::openapi::ErrorBody)))]
pub async fn put_grid(
    State(state): State<AppState>,
    user: AuthUser,
    Path(code): Path<String>,
    headers: HeaderMap,
    Json(body): Json<GridBody>,
) -> Result<Json<GridSaved>, AppError> {
    crate::blocking(move || put_grid_now(state, user, code, headers, body)).await
}

/// [`put_grid`], on a blocking thread.
fn put_grid_now(
    state: AppState,
    user: AuthUser,
    code: String,
    headers: HeaderMap,
    body: GridBody,
) -> Result<Json<GridSaved>, AppError> {
    let p = state.project();
    let mut candidate = parse_grid(&p, &body.feature)?;
    if candidate.code != code {
        return Err(AppError::BadRequest(
            "feature.properties.code differs from the code in the URL".into(),
        ));
    }
    let reason = check_reason(body.reason)?;
    let expected = if_match(&headers)?;
    let existing = p.grid(&code);
    scope::check_grid_write(&p, &user, existing, Some(&mut candidate), false)?;
    if existing.is_some() && expected.is_none() {
        return Err(AppError::PreconditionFailed(
            "send If-Match with the version you edited (GET /api/grids/{code} gives it as ETag)"
                .into(),
        ));
    }
    let verdict = save_verdict(&p, &user, &candidate, body.force)?;
    let before = existing.map(|g| &g.grid.geometry);
    let version = save(&state, &user, &candidate, before, expected, reason)?;
    Ok(Json(GridSaved {
        grid: code,
        version,
        validation: verdict,
    }))
}

/// `POST /api/grids` `{"feature", "reason", "force"}`: creates a grid after validating it
/// (409 if the code exists or, without `force`, if it would create overlaps).
#[utoipa::path(post, path = "/api/grids", tag = "grids", request_body = GridBody, responses((status = 200, description = "Created: version 1 and the validation", body = GridSaved), (status = 409, description = "The code exists, or it would create overlaps (send force)", body = crate::openapi::ErrorBody)))]
pub async fn post_grid(
    State(state): State<AppState>,
    user: AuthUser,
    Json(body): Json<GridBody>,
) -> Result<Json<GridSaved>, AppError> {
    crate::blocking(move || post_grid_now(state, user, body)).await
}

/// [`post_grid`], on a blocking thread.
fn post_grid_now(
    state: AppState,
    user: AuthUser,
    body: GridBody,
) -> Result<Json<GridSaved>, AppError> {
    let p = state.project();
    let mut candidate = parse_grid(&p, &body.feature)?;
    if p.grid(&candidate.code).is_some() {
        return Err(AppError::Conflict(format!(
            "grid {} exists; change it with PUT /api/grids/{}",
            candidate.code, candidate.code
        )));
    }
    scope::check_grid_write(&p, &user, None, Some(&mut candidate), false)?;
    let reason = check_reason(body.reason)?;
    let verdict = save_verdict(&p, &user, &candidate, body.force)?;
    let version = save(&state, &user, &candidate, None, Some(0), reason)?;
    Ok(Json(GridSaved {
        grid: candidate.code,
        version,
        validation: verdict,
    }))
}

/// Query of `DELETE /api/grids/{code}`: `reason`, kept in the grid's history.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// Why (required, at most 500 characters).
    reason: Option<String>,
}

/// `DELETE /api/grids/{code}` with `If-Match: "VERSION"` and `?reason=`: deletes a grid,
/// keeping its history.
#[utoipa::path(delete, path = "/api/grids/{code}", tag = "grids", params(("code" = String, Path, description = "The grid's code"), ("If-Match" = String, Header, description = "The version deleted"), DeleteQuery), responses((status = 200, description = "Deleted (its history is kept)", body = GridDeleted), (status = 412, description = "Someone saved a newer version", body = crate::openapi::ErrorBody)))]
pub async fn delete_grid(
    State(state): State<AppState>,
    user: AuthUser,
    Path(code): Path<String>,
    headers: HeaderMap,
    Query(q): Query<DeleteQuery>,
) -> Result<Json<GridDeleted>, AppError> {
    crate::blocking(move || delete_grid_now(state, user, code, headers, q)).await
}

/// [`delete_grid`], on a blocking thread.
fn delete_grid_now(
    state: AppState,
    user: AuthUser,
    code: String,
    headers: HeaderMap,
    q: DeleteQuery,
) -> Result<Json<GridDeleted>, AppError> {
    let p = state.project();
    let g = p
        .grid(&code)
        .ok_or_else(|| AppError::NotFound(format!("grid {}", input::short(&code))))?;
    scope::check_grid_write(&p, &user, Some(g), None, true)?;
    let expected = if_match(&headers)?.ok_or_else(|| {
        AppError::PreconditionFailed("send If-Match with the version you saw".into())
    })?;
    let reason = check_reason(q.reason)
        .map_err(|_| AppError::BadRequest("say why: ?reason=… (at most 500 characters)".into()))?;
    let change = gridmap_store::Change {
        who: user.0.username.clone(),
        why: reason,
    };
    let touched = g.grid.geometry.bounding_rect();
    state.write(touched, &code, |s| {
        Ok(s.delete_grid(&code, Some(expected), &change)?)
    })?;
    state.0.tiles.clear_layer("problems");
    Ok(Json(GridDeleted {
        grid: code,
        deleted: true,
    }))
}
