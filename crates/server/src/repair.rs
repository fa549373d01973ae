//! Coverage repair from the web app: `POST /api/repair` previews what
//! [`gridmap_core::repair`] would do to one village's grids, and `POST /api/repair/apply`
//! saves it as one change, a history version for each repaired grid.
//!
//! Who: the roles that create grids (village manager, town supervisor, admin), for a village in
//! their part of the town. What is repaired: the village's grids, clipped to the village's
//! boundary when it is surveyed; the buildings near them say who changes grid. Applying repairs
//! the coverage as it is then and refuses (412) when that is not what was previewed: a grid saved
//! since the preview, or a different set of grids to change.

use std::collections::BTreeMap;

use axum::extract::State;
use geo::{BoundingRect, Rect};
use gridmap_core::model::{Building, Grid};
use gridmap_core::repair::{RepairInput, RepairOptions, RepairReport, repair};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::extract::Json;
use crate::state::{AppState, Project};

/// The body of `POST /api/repair` and `POST /api/repair/apply`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepairBody {
    /// The village whose grids are repaired.
    village: String,
    /// Vertices and edges of neighbours closer than this (m) are made to coincide (default 1).
    snap_m: Option<f64>,
    /// Gaps up to this area (m²) are filled (default 100).
    max_gap_m2: Option<f64>,
    /// Overlaps up to this area (m²) go to one grid (default 2000).
    max_overlap_m2: Option<f64>,
    /// Apply only: why, kept in every repaired grid's history.
    reason: Option<String>,
    /// Apply only: the version of each grid the preview changed, as the preview answered.
    versions: Option<BTreeMap<String, u32>>,
}

/// The answer of `POST /api/repair`: what a repair would do.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RepairPreview {
    /// The village.
    pub village: String,
    /// Every change, the buildings that change grid and what is left for a human.
    #[schema(value_type = Object)]
    pub report: RepairReport,
    /// GeoJSON FeatureCollection: each changed grid before (`side: "before"`) and after
    /// (`side: "after"`).
    #[schema(value_type = Object)]
    pub grids: Value,
    /// The version of each grid the repair changes: send them back to apply.
    pub versions: BTreeMap<String, u32>,
}

/// The answer of `POST /api/repair/apply`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RepairApplied {
    /// The village.
    pub village: String,
    /// Each repaired grid's new version.
    pub saved: BTreeMap<String, u32>,
    /// What was done.
    #[schema(value_type = Object)]
    pub report: RepairReport,
}

/// `POST /api/repair {"village", "snap_m"?, "max_gap_m2"?, "max_overlap_m2"?}`: a preview.
#[utoipa::path(post, path = "/api/repair", tag = "grids", request_body = RepairBody, responses((status = 200, description = "What the repair would change", body = RepairPreview), (status = 403, description = "The village is not in the user's part, or the role may not repair", body = crate::openapi::ErrorBody)))]
pub async fn preview(
    State(state): State<AppState>,
    user: AuthUser,
    Json(body): Json<RepairBody>,
) -> Result<Json<RepairPreview>, AppError> {
    crate::reading(move || {
        let p = state.project();
        let (options, grids) = check(&p, &user, &body)?;
        let (report, repaired, versions) = run(&p, &body.village, &grids, &options);
        let mut features = Vec::new();
        for change in &report.grids {
            let before = grids.iter().find(|g| g.code == change.grid);
            let after = repaired.iter().find(|g| g.code == change.grid);
            for (side, g) in [("before", before), ("after", after)] {
                if let Some(g) = g {
                    features.push(json!({
                        "type": "Feature",
                        "properties": {"code": g.code, "side": side},
                        "geometry": gridmap_io::write::geometry_json(&g.geometry),
                    }));
                }
            }
        }
        Ok(Json(RepairPreview {
            village: body.village,
            report,
            grids: json!({"type": "FeatureCollection", "features": features}),
            versions,
        }))
    })
    .await
}

/// `POST /api/repair/apply {"village", "reason", "versions", thresholds as previewed}`: repairs
/// the village's grids as they are now and saves every changed grid in one transaction.
#[utoipa::path(post, path = "/api/repair/apply", tag = "grids", request_body = RepairBody, responses((status = 200, description = "Saved: each repaired grid's new version", body = RepairApplied), (status = 412, description = "The grids changed since the preview", body = crate::openapi::ErrorBody)))]
pub async fn apply(
    State(state): State<AppState>,
    user: AuthUser,
    Json(body): Json<RepairBody>,
) -> Result<Json<RepairApplied>, AppError> {
    crate::blocking(move || {
        let reason = crate::grid_edit::check_reason(body.reason.clone())?;
        let Some(previewed) = body.versions.clone() else {
            return Err(AppError::BadRequest(
                "versions: send back the versions the preview answered".into(),
            ));
        };
        let p = state.project();
        let (options, grids) = check(&p, &user, &body)?;
        let (report, repaired, versions) = run(&p, &body.village, &grids, &options);
        if versions != previewed {
            return Err(AppError::PreconditionFailed(
                "the village's grids changed since the preview: preview again".into(),
            ));
        }
        if report.grids.is_empty() {
            return Ok(Json(RepairApplied {
                village: body.village,
                saved: BTreeMap::new(),
                report,
            }));
        }
        let mut to_save: Vec<Grid> = repaired
            .into_iter()
            .filter(|g| versions.contains_key(&g.code))
            .collect();
        for g in &mut to_save {
            crate::grid_edit::check_reach(&p, &user, g)?;
        }
        let touched = to_save
            .iter()
            .chain(grids.iter().filter(|g| versions.contains_key(&g.code)))
            .filter_map(|g| g.geometry.bounding_rect())
            .reduce(|a, b| gridmap_stats::edit::union_rect(Some(a), Some(b)).unwrap_or(a));
        drop(p);
        let change = gridmap_store::Change {
            who: user.0.username.clone(),
            why: reason,
        };
        let codes: Vec<&str> = versions.keys().map(String::as_str).collect();
        state.write_grids(touched, &codes, |s| {
            // Saved only if each grid is still the version the repair read.
            for (code, v) in &versions {
                if s.grid(code)?.map(|g| g.version) != Some(*v) {
                    return Err(AppError::PreconditionFailed(format!(
                        "grid {code} was saved by someone else meanwhile: preview again"
                    )));
                }
            }
            s.import_grids(&to_save, gridmap_store::Mode::Upsert, &change)?;
            Ok(())
        })?;
        state.0.tiles.clear_layer("problems");
        let p = state.project();
        let saved = versions
            .keys()
            .filter_map(|c| Some((c.clone(), p.grid(c)?.version)))
            .collect();
        Ok(Json(RepairApplied {
            village: body.village,
            saved,
            report,
        }))
    })
    .await
}

/// The thresholds, and the village's grids, once the user may repair that village.
fn check(
    p: &Project,
    user: &AuthUser,
    body: &RepairBody,
) -> Result<(RepairOptions, Vec<Grid>), AppError> {
    let village = body.village.as_str();
    crate::scope::check_village_write(p, user, village)?;
    let known = p.villages.iter().any(|v| v.code == village);
    let grids: Vec<Grid> = p
        .grids
        .iter()
        .filter(|g| g.grid.village.as_deref() == Some(village))
        .map(|g| g.grid.clone())
        .collect();
    if !known && grids.is_empty() {
        return Err(AppError::NotFound(format!(
            "village {}",
            crate::input::short(village)
        )));
    }
    let mut options = RepairOptions::default();
    for (name, given, slot, max) in [
        ("snap_m", body.snap_m, &mut options.snap_m, 50.0),
        ("max_gap_m2", body.max_gap_m2, &mut options.max_gap_m2, 1e6),
        (
            "max_overlap_m2",
            body.max_overlap_m2,
            &mut options.max_overlap_m2,
            1e6,
        ),
    ] {
        if let Some(x) = given {
            if !(x.is_finite() && (0.0..=max).contains(&x)) {
                return Err(AppError::BadRequest(format!(
                    "{name}: a number from 0 to {max}"
                )));
            }
            *slot = x;
        }
    }
    Ok((options, grids))
}

/// Repairs `grids` (the village's) with its boundary and the buildings near them: the report,
/// the repaired grids, and the current version of each grid it changes.
fn run(
    p: &Project,
    village: &str,
    grids: &[Grid],
    options: &RepairOptions,
) -> (RepairReport, Vec<Grid>, BTreeMap<String, u32>) {
    let boundary = p
        .villages
        .iter()
        .find(|v| v.code == village)
        .and_then(|v| v.boundary.clone());
    let around: Option<Rect> = grids
        .iter()
        .filter_map(|g| g.geometry.bounding_rect())
        .chain(boundary.as_ref().and_then(BoundingRect::bounding_rect))
        .reduce(|a, b| gridmap_stats::edit::union_rect(Some(a), Some(b)).unwrap_or(a));
    let buildings: Vec<Building> = match around {
        Some(r) => p
            .buildings
            .iter()
            .filter(|b| b.footprint_rect().is_some_and(|f| intersects(&f, &r)))
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    let repaired = repair(
        &RepairInput {
            grids,
            boundary: boundary.as_ref(),
            buildings: &buildings,
        },
        options,
        &mut |_| {},
    );
    let versions = repaired
        .report
        .grids
        .iter()
        .filter_map(|c| Some((c.grid.clone(), p.grid(&c.grid)?.version)))
        .collect();
    (repaired.report, repaired.grids, versions)
}

fn intersects(a: &Rect, b: &Rect) -> bool {
    a.min().x <= b.max().x
        && a.max().x >= b.min().x
        && a.min().y <= b.max().y
        && a.max().y >= b.min().y
}
