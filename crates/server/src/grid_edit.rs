//! Editing grid boundaries: `POST /api/validate` (what saving would do), `POST /api/grids`,
//! `PUT /api/grids/{code}` and `DELETE /api/grids/{code}`.
//!
//! Every write goes the same way: the body is checked field by field ([`crate::input`]), the
//! user's right to write this grid with this code and village is checked
//! ([`scope::check_grid_write`]), the validator measures what the new boundary would do
//! ([`impact`]), and the edit is refused when it reaches outside the user's part of the org tree
//! (403, even with `force`), is invalid (400) or would create overlaps without `force` (409).
//! `POST /api/validate` answers the same measurement without saving, with the reasons it would be
//! refused in `refused`, and names only the grids and buildings the caller may see.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use geo::{BoundingRect, MultiPolygon, Rect};
use gridmap_core::model::Grid;
use gridmap_core::validate::{CoverageInput, Gap, Options, Overlap, validate};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::api::{geometry_json, union_rect};
use crate::auth::AuthUser;
use crate::error::AppError;
use crate::extract::{Json, Path, Query};
use crate::input;
use crate::scope;
use crate::state::{AppState, Project};

/// The longest grid name.
const MAX_NAME_CHARS: usize = 100;
/// The longest reason for an edit.
const MAX_REASON_CHARS: usize = 500;

/// A GeoJSON Feature as a grid edit sends it.
#[derive(Debug, Deserialize)]
pub struct FeatureBody {
    #[serde(default)]
    properties: Option<Map<String, Value>>,
    geometry: Value,
}

/// `{"feature": …}`: the body of `POST /api/validate`.
#[derive(Debug, Deserialize)]
pub struct Candidate {
    /// A GeoJSON Feature with a `code` property and a Polygon or MultiPolygon.
    feature: FeatureBody,
}

/// `{"feature", "reason", "force"}`: the body of `POST /api/grids` and `PUT /api/grids/{code}`.
#[derive(Debug, Deserialize)]
pub struct GridBody {
    feature: FeatureBody,
    reason: Option<String>,
    #[serde(default)]
    force: bool,
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

/// What saving a candidate grid would do, as the validator measures it within the grid's parent
/// (its village's boundary when known, else the town's).
pub struct Impact {
    /// The candidate's code.
    pub grid: String,
    /// Why its geometry is invalid (empty: valid).
    pub invalid: Vec<String>,
    /// Overlaps the candidate takes part in.
    pub overlaps: Vec<Overlap>,
    /// Gaps within the parent.
    pub gaps: Vec<Gap>,
    /// Buildings whose grid changes to or from the candidate: (index, before, after).
    pub moved: Vec<(usize, Option<String>, Option<String>)>,
    /// Area of the candidate outside its parent, when above the validator's floor (m²).
    pub outside_parent_m2: Option<f64>,
    /// The parent the candidate was measured in.
    parent: Option<MultiPolygon>,
}

/// The validator's verdict on the grid layer with `candidate` in place of its namesake.
pub fn impact(p: &Project, candidate: &Grid) -> Impact {
    // Only the neighbourhood can change: the old and new boundaries' bounds, widened a little.
    // Every grid meeting it and every building in it are validated, within the parent clipped
    // to it — a gap there is a gap whatever lies further away, and a grid overlapping the
    // candidate meets it — so an edit costs milliseconds whatever the size of the town.
    const MARGIN_DEG: f64 = 0.002;
    let old = p
        .grid(&candidate.code)
        .and_then(|g| g.grid.geometry.bounding_rect());
    let area = crate::api::union_rect(old, candidate.geometry.bounding_rect()).map(|r| {
        Rect::new(
            geo::coord! {x: r.min().x - MARGIN_DEG, y: r.min().y - MARGIN_DEG},
            geo::coord! {x: r.max().x + MARGIN_DEG, y: r.max().y + MARGIN_DEG},
        )
    });
    let near = |r: Option<Rect>| match (area, r) {
        (Some(a), Some(r)) => geo::Intersects::intersects(&a, &r),
        _ => true,
    };
    let mut grids: Vec<Grid> = p
        .grids
        .iter()
        .filter(|g| g.grid.code != candidate.code && near(g.grid.geometry.bounding_rect()))
        .map(|g| g.grid.clone())
        .collect();
    grids.push(candidate.clone());
    let local: Vec<usize> = match area {
        Some(a) => {
            let env = rstar::AABB::from_corners([a.min().x, a.min().y], [a.max().x, a.max().y]);
            let mut v: Vec<usize> = p
                .building_tree
                .locate_in_envelope_intersecting(&env)
                .map(|e| e.data as usize)
                .collect();
            v.sort_unstable();
            v
        }
        None => (0..p.buildings.len()).collect(),
    };
    let buildings: Vec<gridmap_core::Building> =
        local.iter().map(|&i| p.buildings[i].clone()).collect();
    let parent = candidate
        .village
        .as_deref()
        .and_then(|code| p.villages.iter().find(|v| v.code == code))
        .and_then(|v| v.boundary.as_ref())
        .or(p.town.boundary.as_ref());
    let clipped = match (parent, area) {
        (Some(b), Some(a)) => Some(geo::BooleanOps::intersection(b, &a.to_polygon())),
        (b, _) => b.cloned(),
    };
    let input = CoverageInput {
        grids: &grids,
        buildings: &buildings,
        boundary: clipped.as_ref(),
        ..CoverageInput::default()
    };
    let coverage = validate(&input, &Options::default(), &mut |_| {});
    let r = coverage.report;
    let code = candidate.code.as_str();
    let moved = coverage
        .assignments
        .iter()
        .zip(&local)
        .filter_map(|(a, &i)| {
            let before = p.grid_of(i);
            let after = a.grid().map(|g| grids[g as usize].code.as_str());
            (before != after && (before == Some(code) || after == Some(code)))
                .then(|| (i, before.map(String::from), after.map(String::from)))
        })
        .collect();
    Impact {
        grid: candidate.code.clone(),
        invalid: r
            .invalid_grids
            .into_iter()
            .filter(|g| g.grid == code)
            .map(|g| g.reason)
            .collect(),
        overlaps: r
            .overlaps
            .into_iter()
            .filter(|o| o.grids.iter().any(|g| g == code))
            .collect(),
        gaps: r.gaps,
        moved,
        outside_parent_m2: r
            .outside_boundary
            .iter()
            .find(|o| o.grid == code)
            .map(|o| o.area_m2),
        parent: parent.cloned(),
    }
}

/// How much an edit may add to an overlap or to the area outside the village before it counts
/// as reaching further (m²): the validator's floor.
const GROWTH_FLOOR_M2: f64 = 1.0;

impl Impact {
    /// The other grids the candidate would overlap more than today's grid of that code does
    /// (an overlap the user inherited does not block an edit that leaves it as it is).
    fn overlapping_more(&self, p: &Project) -> Vec<&str> {
        let today = |other: &str| -> f64 {
            p.report
                .overlaps
                .iter()
                .filter(|o| o.grids.contains(&self.grid) && o.grids.iter().any(|g| g == other))
                .map(|o| o.area_m2)
                .sum()
        };
        self.overlaps
            .iter()
            .filter_map(|o| {
                let other = o.grids.iter().find(|g| **g != self.grid)?;
                (o.area_m2 > today(other) + GROWTH_FLOOR_M2).then_some(other.as_str())
            })
            .collect()
    }

    /// The candidate's area outside its parent when it is larger than today's grid's (m²).
    fn outside_more(&self, p: &Project) -> Option<f64> {
        let after = self.outside_parent_m2?;
        let before = match (p.grid(&self.grid), &self.parent) {
            (Some(g), Some(parent)) => gridmap_core::geodesy::area_m2(
                &geo::BooleanOps::difference(&g.grid.geometry, parent),
            ),
            _ => 0.0,
        };
        (after > before + GROWTH_FLOOR_M2).then_some(after)
    }

    /// The grids the candidate takes buildings from, with how many.
    fn taken_from(&self) -> Vec<(String, usize)> {
        let mut out: Vec<(String, usize)> = Vec::new();
        for (_, before, after) in &self.moved {
            if after.as_deref() == Some(self.grid.as_str())
                && let Some(b) = before
            {
                match out.iter_mut().find(|(c, _)| c == b) {
                    Some((_, n)) => *n += 1,
                    None => out.push((b.clone(), 1)),
                }
            }
        }
        out
    }

    /// What the edit would do outside `user`'s part, in words (empty: nothing).
    pub fn reach_violations(&self, p: &Project, user: &AuthUser) -> Vec<scope::Violation> {
        scope::reach_violations(
            p,
            user,
            self.outside_more(p),
            &self.overlapping_more(p),
            &self.taken_from(),
        )
    }

    /// The answer for `user`: grids the user does not see are `null`, buildings the user does
    /// not see are left out of the lists (their counts stay).
    pub fn to_json(&self, p: &Project, user: &AuthUser) -> Value {
        let code = |c: &str| -> Value {
            if c == self.grid || user.sees_code(p, c) {
                Value::from(c)
            } else {
                Value::Null
            }
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
        let overlaps: Vec<Value> = self
            .overlaps
            .iter()
            .map(|o| {
                json!({"grids": o.grids.iter().map(|g| code(g)).collect::<Vec<_>>(),
                       "area_m2": o.area_m2, "buildings": seen(&o.buildings),
                       "building_count": o.buildings.len(), "geometry": geometry_json(&o.geometry)})
            })
            .collect();
        let gaps: Vec<Value> = self
            .gaps
            .iter()
            .map(|g| {
                json!({"area_m2": g.area_m2, "point": g.point, "buildings": seen(&g.buildings),
                       "building_count": g.buildings.len(), "geometry": geometry_json(&g.geometry)})
            })
            .collect();
        let moved: Vec<Value> = self
            .moved
            .iter()
            .filter(|(i, _, _)| user.sees_building(p, *i))
            .map(|(i, before, after)| {
                json!({"building": p.buildings[*i].id,
                       "from": before.as_deref().map(code), "to": after.as_deref().map(code)})
            })
            .collect();
        let refused = self.reach_violations(p, user);
        let valid = self.invalid.is_empty();
        json!({
            "grid": self.grid,
            "valid": valid,
            "invalid_reasons": self.invalid,
            "overlaps": overlaps,
            "gaps": gaps,
            "buildings_changing_grid": moved,
            "outside_parent": self.outside_parent_m2,
            "refused": refused,
            "ok": valid && self.overlaps.is_empty() && refused.is_empty(),
            "summary": {
                "overlap_area_m2": self.overlaps.iter().map(|o| o.area_m2).sum::<f64>(),
                "gap_area_m2": self.gaps.iter().map(|g| g.area_m2).sum::<f64>(),
                "buildings_changing_grid": self.moved.len(),
            },
        })
    }
}

/// `POST /api/validate` `{"feature": GeoJSON Feature}`: what saving this grid would do, without
/// saving: whether its geometry is valid, the overlaps and gaps it would take part in, the
/// buildings that would change grid, and why saving would be refused (`refused`).
pub async fn validate_candidate(
    State(state): State<AppState>,
    user: AuthUser,
    Json(c): Json<Candidate>,
) -> Result<Json<Value>, AppError> {
    crate::reading(move || validate_candidate_now(state, user, c)).await
}

/// [`validate_candidate`], on a blocking thread.
fn validate_candidate_now(
    state: AppState,
    user: AuthUser,
    c: Candidate,
) -> Result<Json<Value>, AppError> {
    let p = state.project();
    let mut candidate = parse_grid(&p, &c.feature)?;
    let existing = p.grid(&candidate.code);
    scope::check_grid_write(&p, &user, existing, Some(&mut candidate), false)?;
    Ok(Json(impact(&p, &candidate).to_json(&p, &user)))
}

/// The `reason` of an edit, required, non-blank and bounded: it goes into the grid's history.
fn check_reason(reason: Option<String>) -> Result<String, AppError> {
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
) -> Result<Value, AppError> {
    let verdict = impact(p, candidate);
    let refused = verdict.reach_violations(p, user);
    if !refused.is_empty() {
        let refused: Vec<String> = refused.iter().map(ToString::to_string).collect();
        return Err(AppError::ForbiddenBecause(format!(
            "this edit reaches outside your part of the organisation: it {}",
            refused.join("; it ")
        )));
    }
    if !verdict.invalid.is_empty() {
        return Err(AppError::BadRequest(format!(
            "invalid geometry: {}",
            verdict.invalid.join("; ")
        )));
    }
    if !verdict.overlaps.is_empty() && !force {
        // Grids and areas only: the geometries would drown the message.
        let overlaps: Vec<String> = verdict
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
    Ok(verdict.to_json(p, user))
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
        use gridmap_store::Store;
        Ok(s.save_grid(candidate, expected, &change)?)
    })?;
    state.0.tiles.clear_layer("problems");
    Ok(version)
}

/// `PUT /api/grids/{code}` with `If-Match: "VERSION"` and `{"feature", "reason", "force"}`:
/// saves a grid after validating it. Refused with 403 when it reaches outside the user's part,
/// 409 when it would create overlaps unless `force`, 412 when someone saved a newer version.
pub async fn put_grid(
    State(state): State<AppState>,
    user: AuthUser,
    Path(code): Path<String>,
    headers: HeaderMap,
    Json(body): Json<GridBody>,
) -> Result<Json<Value>, AppError> {
    crate::blocking(move || put_grid_now(state, user, code, headers, body)).await
}

/// [`put_grid`], on a blocking thread.
fn put_grid_now(
    state: AppState,
    user: AuthUser,
    code: String,
    headers: HeaderMap,
    body: GridBody,
) -> Result<Json<Value>, AppError> {
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
    Ok(Json(
        json!({"grid": code, "version": version, "validation": verdict}),
    ))
}

/// `POST /api/grids` `{"feature", "reason", "force"}`: creates a grid after validating it
/// (409 if the code exists or, without `force`, if it would create overlaps).
pub async fn post_grid(
    State(state): State<AppState>,
    user: AuthUser,
    Json(body): Json<GridBody>,
) -> Result<Json<Value>, AppError> {
    crate::blocking(move || post_grid_now(state, user, body)).await
}

/// [`post_grid`], on a blocking thread.
fn post_grid_now(state: AppState, user: AuthUser, body: GridBody) -> Result<Json<Value>, AppError> {
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
    Ok(Json(
        json!({"grid": candidate.code, "version": version, "validation": verdict}),
    ))
}

/// Query of `DELETE /api/grids/{code}`: `reason`, kept in the grid's history.
#[derive(Debug, Deserialize)]
pub struct DeleteQuery {
    reason: Option<String>,
}

/// `DELETE /api/grids/{code}` with `If-Match: "VERSION"` and `?reason=`: deletes a grid,
/// keeping its history.
pub async fn delete_grid(
    State(state): State<AppState>,
    user: AuthUser,
    Path(code): Path<String>,
    headers: HeaderMap,
    Query(q): Query<DeleteQuery>,
) -> Result<Json<Value>, AppError> {
    crate::blocking(move || delete_grid_now(state, user, code, headers, q)).await
}

/// [`delete_grid`], on a blocking thread.
fn delete_grid_now(
    state: AppState,
    user: AuthUser,
    code: String,
    headers: HeaderMap,
    q: DeleteQuery,
) -> Result<Json<Value>, AppError> {
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
        use gridmap_store::Store;
        Ok(s.delete_grid(&code, Some(expected), &change)?)
    })?;
    state.0.tiles.clear_layer("problems");
    Ok(Json(json!({"grid": code, "deleted": true})))
}
