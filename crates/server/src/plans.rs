//! Re-partitioning through the API: `POST /api/partition` starts a plan for a village in the
//! background and answers its job id at once; `GET /api/partition/{job}` reports progress and,
//! when done, the plan (GeoJSON grids with workloads) and its report, so the web app can show
//! today's grids and a proposal side by side.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use gridmap_core::locate::{Location, PreparedArea};
use gridmap_partition::{PartitionInput, PartitionOptions, Target};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::state::AppState;

/// Jobs by id.
#[derive(Default)]
pub struct Jobs {
    jobs: Mutex<HashMap<String, Arc<Mutex<Value>>>>,
    next: Mutex<u64>,
}

#[derive(Debug, Deserialize)]
pub struct PlanRequest {
    village: String,
    grids: Option<usize>,
    target_households: Option<f64>,
    tolerance: Option<f64>,
    seed: Option<u64>,
    /// Start from the village's current grids, moving as few buildings as possible.
    #[serde(default)]
    from_current: bool,
}

/// `POST /api/partition`.
pub async fn start(
    State(state): State<AppState>,
    user: AuthUser,
    Json(req): Json<PlanRequest>,
) -> Result<Json<Value>, AppError> {
    if !matches!(
        user.0.role.as_str(),
        "admin" | "planner" | "town_supervisor" | "village_manager"
    ) {
        return Err(AppError::Forbidden);
    }
    let p = state.project();
    if !(user.0.role == "admin" || user.0.scope == p.town.code || user.0.scope == req.village) {
        return Err(AppError::Forbidden);
    }
    let village = p
        .villages
        .iter()
        .find(|v| v.code == req.village)
        .ok_or_else(|| AppError::NotFound(format!("village {}", req.village)))?;
    let boundary = village
        .boundary
        .clone()
        .ok_or_else(|| AppError::BadRequest(format!("village {} has no boundary", req.village)))?;
    let target = match (req.grids, req.target_households, req.from_current) {
        (Some(k), None, _) => Target::Grids(k),
        (None, Some(n), _) => Target::Workload(n),
        (None, None, true) => Target::Grids(
            p.grids
                .iter()
                .filter(|g| g.grid.village.as_deref() == Some(req.village.as_str()))
                .count()
                .max(1),
        ),
        _ => {
            return Err(AppError::BadRequest(
                "give grids or target_households (or from_current)".into(),
            ));
        }
    };
    let area = PreparedArea::new(&boundary);
    let buildings: Vec<_> = p
        .buildings
        .iter()
        .filter(|b| {
            b.location()
                .is_some_and(|c| area.locate(c) != Location::Outside)
        })
        .cloned()
        .collect();
    let current: Option<Vec<_>> = req.from_current.then(|| {
        p.grids
            .iter()
            .filter(|g| g.grid.village.as_deref() == Some(req.village.as_str()))
            .map(|g| g.grid.clone())
            .collect()
    });
    let options = PartitionOptions {
        target,
        tolerance: req.tolerance.unwrap_or(0.05),
        seed: req.seed.unwrap_or(1),
        ..PartitionOptions::default()
    };
    let id = {
        let mut n = state
            .0
            .plans
            .next
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *n += 1;
        format!("plan-{}", *n)
    };
    let status = Arc::new(Mutex::new(
        json!({"job": id, "status": "running", "phase": "starting", "village": req.village}),
    ));
    state
        .0
        .plans
        .jobs
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(id.clone(), status.clone());
    tokio::task::spawn_blocking(move || {
        let input = PartitionInput {
            boundary: &boundary,
            buildings: &buildings,
            barriers: &[],
            keep_whole: &[],
            current: current.as_deref(),
        };
        let progress_status = status.clone();
        let result = gridmap_partition::partition(&input, &options, &mut |phase, fraction| {
            let mut s = progress_status
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            s["phase"] = json!(phase);
            s["progress"] = json!(fraction);
        });
        let mut s = status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match result {
            Ok(plan) => {
                let features: Vec<Value> = plan
                    .grids
                    .iter()
                    .map(|g| {
                        json!({
                            "type": "Feature",
                            "properties": {"code": g.code, "households": g.households, "buildings": g.buildings,
                                           "deviation_pct": g.deviation_pct, "polsby_popper": g.polsby_popper},
                            "geometry": crate::api::geometry_json(&g.geometry),
                        })
                    })
                    .collect();
                s["status"] = json!("done");
                s["progress"] = json!(1.0);
                s["plan"] = json!({"type": "FeatureCollection", "features": features});
                s["report"] = serde_json::to_value(&plan.report).unwrap_or(Value::Null);
            }
            Err(e) => {
                s["status"] = json!("failed");
                s["error"] = json!(e.to_string());
            }
        }
    });
    Ok(Json(json!({"job": id, "status": "running"})))
}

/// `GET /api/partition/{job}`.
pub async fn status(
    State(state): State<AppState>,
    _user: AuthUser,
    Path(job): Path<String>,
) -> Result<Json<Value>, AppError> {
    let jobs = state
        .0
        .plans
        .jobs
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let s = jobs
        .get(&job)
        .ok_or_else(|| AppError::NotFound(format!("partition job {job}")))?;
    let v = s
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    Ok(Json(v))
}
