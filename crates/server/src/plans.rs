//! Re-partitioning through the API: `POST /api/partition` starts a plan for a village in the
//! background and answers its job id at once; `GET /api/partition/{job}` reports progress and,
//! when done, the plan (GeoJSON grids with workloads) and its report, so the web app can show
//! today's grids and a proposal side by side.
//!
//! A finished job also compares the plan with today: `current` holds the village's grids as
//! they were when the job started, with their workload; `matching` pairs each plan grid with the
//! current grid it shares most households with (one to one, greedily, largest share first);
//! `moves` lists the buildings whose plan grid is not the match of their current grid
//! ([`gridmap_stats::compare()`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::extract::Json;
use crate::extract::Path;
use axum::extract::State;
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
    jobs: Mutex<HashMap<String, Arc<Mutex<PlanJob>>>>,
    next: Mutex<u64>,
}

/// A partition job as `GET /api/partition/{job}` answers it: fields appear as the job reaches
/// them (`progress` with the first report of progress; the plan and its comparison when done,
/// `error` when failed).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PlanJob {
    /// The job's id.
    pub job: String,
    /// `running`, `done` or `failed`.
    pub status: String,
    /// What the partitioner is doing (its last phase when done).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The village re-partitioned.
    pub village: String,
    /// Its name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub village_name: Option<String>,
    /// How far it is, 0 to 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<f64>,
    /// The plan's grids: a GeoJSON FeatureCollection with workloads and matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub plan: Option<Value>,
    /// Today's grids of the village, as a GeoJSON FeatureCollection with their workload.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub current: Option<Value>,
    /// Plan grid code → the current grid it continues.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matching: Option<std::collections::BTreeMap<String, String>>,
    /// The buildings whose grid would change.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub moves: Option<Vec<gridmap_stats::Move>>,
    /// The partitioner's report (figures and notes).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub report: Option<Value>,
    /// Why the job failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Once saved under a name: the saved plan's number, name, who saved it and when.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(value_type = Option<Object>)]
    pub saved: Option<gridmap_store::plans::PlanEntry>,
    /// Once adopted: each grid saved (code → its new version) and those deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub adopted: Option<Value>,
    /// The plan's grids, to adopt (not sent: `plan` carries them as GeoJSON).
    #[serde(skip)]
    #[schema(ignore)]
    pub grids: Vec<gridmap_core::model::Grid>,
    /// The version of each of the village's grids when the job started: adopting is refused
    /// when they are no longer the village's grids.
    #[serde(skip)]
    #[schema(ignore)]
    pub started_from: std::collections::BTreeMap<String, u32>,
}

/// Body of `POST /api/partition`: the village to re-partition and the partition options (see
/// `gridmap_partition::PartitionOptions`); absent options take their defaults.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PlanRequest {
    /// The village's code.
    village: String,
    /// How many grids to draw (1–10000); or give `target_households`.
    grids: Option<usize>,
    /// Households per grid to aim at; or give `grids`.
    target_households: Option<f64>,
    /// How far a grid's workload may stray from the target, as a share (0.05 is ±5%).
    tolerance: Option<f64>,
    /// The seed of the randomised search (1 by default): the same seed gives the same plan.
    seed: Option<u64>,
    /// Start from the village's current grids, moving as few buildings as possible.
    #[serde(default)]
    from_current: bool,
}

/// The answer of `POST /api/partition`: the job's id, to poll at `GET /api/partition/{job}`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PlanStarted {
    /// The job's id.
    pub job: String,
    /// Always `running`.
    pub status: String,
}

/// Whether `user` may re-partition `village` (and read its plans): planners, supervisors and
/// village managers whose scope holds the village.
fn may_plan(user: &AuthUser, town: &str, village: &str) -> bool {
    use crate::scope::{Reach, Role};
    user.can(Role::plans)
        && match user.reach(town) {
            Reach::Town => true,
            Reach::Village(v) => v == village,
            Reach::Grid(_) | Reach::Nothing => false,
        }
}

/// The most grids one plan may draw.
const MAX_PLAN_GRIDS: usize = 10_000;

/// Checks a plan's parameters before a job starts: `grids` 1 to [`MAX_PLAN_GRIDS`],
/// `target_households` a positive number, `tolerance` in (0, 0.5], not both `grids` and
/// `target_households`.
fn check_plan_request(req: &PlanRequest) -> Result<(), AppError> {
    let bad = |m: &str| Err(AppError::BadRequest(m.into()));
    if req.grids.is_some() && req.target_households.is_some() {
        return bad("give grids or target_households, not both");
    }
    if let Some(k) = req.grids
        && !(1..=MAX_PLAN_GRIDS).contains(&k)
    {
        return bad("grids must be a whole number from 1 to 10000");
    }
    if let Some(n) = req.target_households
        && !(n.is_finite() && n > 0.0)
    {
        return bad("target_households must be a number above 0");
    }
    if let Some(t) = req.tolerance
        && !(t.is_finite() && t > 0.0 && t <= 0.5)
    {
        return bad("tolerance must be a share above 0 and at most 0.5 (0.05 is ±5%)");
    }
    Ok(())
}

/// `POST /api/partition`.
#[utoipa::path(post, path = "/api/partition", tag = "planning", request_body = PlanRequest, responses((status = 200, description = "The job, running", body = PlanStarted)))]
pub async fn start(
    State(state): State<AppState>,
    user: AuthUser,
    Json(req): Json<PlanRequest>,
) -> Result<Json<PlanStarted>, AppError> {
    let p = state.project();
    if !may_plan(&user, &p.town.code, &req.village) {
        return Err(AppError::Forbidden);
    }
    check_plan_request(&req)?;
    let village = p
        .villages
        .iter()
        .find(|v| v.code == req.village)
        .ok_or_else(|| {
            AppError::NotFound(format!("village {}", crate::input::short(&req.village)))
        })?;
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
    // The buildings the plan divides, and each one's grid today (by the project's assignment).
    let inside: Vec<usize> = (0..p.buildings.len())
        .filter(|&i| {
            p.buildings[i]
                .location()
                .is_some_and(|c| area.locate(c) != Location::Outside)
        })
        .collect();
    let buildings: Vec<_> = inside.iter().map(|&i| p.buildings[i].clone()).collect();
    let today: Vec<Option<String>> = inside
        .iter()
        .map(|&i| p.grid_of(i).map(str::to_string))
        .collect();
    let current_grids = current_collection(&p, &req.village);
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
    let started_from = p
        .grids
        .iter()
        .filter(|g| g.grid.village.as_deref() == Some(req.village.as_str()))
        .map(|g| (g.grid.code.clone(), g.version))
        .collect();
    let status = Arc::new(Mutex::new(PlanJob {
        job: id.clone(),
        status: "running".into(),
        phase: Some("starting".into()),
        village: req.village.clone(),
        village_name: Some(village.name.clone()).filter(|n| !n.is_empty()),
        started_from,
        ..PlanJob::default()
    }));
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
            s.phase = Some(phase.to_string());
            s.progress = Some(fraction);
        });
        let mut s = status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match result {
            Ok(plan) => {
                let mut features: Vec<Value> = plan
                    .grids
                    .iter()
                    .map(|g| {
                        json!({
                            "type": "Feature",
                            "properties": {"code": g.code, "households": g.households, "buildings": g.buildings,
                                           "deviation_pct": g.deviation_pct, "polsby_popper": g.polsby_popper},
                            "geometry": gridmap_io::write::geometry_json(&g.geometry),
                        })
                    })
                    .collect();
                let compared = gridmap_stats::compare(&plan, &buildings, &today);
                for (f, g) in features.iter_mut().zip(&plan.grids) {
                    let matched = compared.matching.get(&g.code);
                    f["properties"]["matched_current"] = json!(matched);
                    f["properties"]["households_before"] =
                        json!(matched.and_then(|c| households_of(&current_grids, c)));
                }
                s.status = "done".into();
                s.progress = Some(1.0);
                s.plan = Some(json!({"type": "FeatureCollection", "features": features}));
                s.current = Some(current_grids);
                s.matching = Some(compared.matching);
                s.moves = Some(compared.moves);
                s.report = Some(serde_json::to_value(&plan.report).unwrap_or(Value::Null));
                s.grids = plan
                    .grids
                    .iter()
                    .map(|g| gridmap_core::model::Grid {
                        code: g.code.clone(),
                        name: None,
                        village: None,
                        geometry: g.geometry.clone(),
                    })
                    .collect();
            }
            Err(e) => {
                s.status = "failed".into();
                s.error = Some(e.to_string());
            }
        }
    });
    Ok(Json(PlanStarted {
        job: id,
        status: "running".into(),
    }))
}

/// Today's grids of `village` as a GeoJSON FeatureCollection with their workload (properties
/// `code`, `name`, `households`, `buildings`), counted by the project's assignment as
/// `/api/stats` counts them.
fn current_collection(p: &crate::state::Project, village: &str) -> Value {
    let mut load: HashMap<&str, (u64, u64)> = HashMap::new();
    for (i, b) in p.buildings.iter().enumerate() {
        if let Some(code) = p.grid_of(i) {
            let e = load.entry(code).or_default();
            e.0 += u64::from(b.households);
            e.1 += 1;
        }
    }
    let features: Vec<Value> = p
        .grids
        .iter()
        .filter(|g| g.grid.village.as_deref() == Some(village))
        .map(|g| {
            let (households, buildings) =
                load.get(g.grid.code.as_str()).copied().unwrap_or_default();
            json!({
                "type": "Feature", "id": g.grid.code,
                "properties": {"code": g.grid.code, "name": g.grid.name,
                               "households": households, "buildings": buildings},
                "geometry": gridmap_io::write::geometry_json(&g.grid.geometry),
            })
        })
        .collect();
    json!({"type": "FeatureCollection", "features": features})
}

/// The households of grid `code` in a collection made by [`current_collection`].
fn households_of(current: &Value, code: &str) -> Option<u64> {
    current["features"]
        .as_array()?
        .iter()
        .find(|f| f["properties"]["code"] == code)?["properties"]["households"]
        .as_u64()
}

/// `GET /api/partition/{job}`: the job's status; only for those who may plan its village.
#[utoipa::path(get, path = "/api/partition/{job}", tag = "planning", params(("job" = String, Path, description = "The job's id")), responses((status = 200, description = "Status and progress; when done the plan, report, current grids, matching and moves", body = PlanJob)))]
pub async fn status(
    State(state): State<AppState>,
    user: AuthUser,
    Path(job): Path<String>,
) -> Result<Json<PlanJob>, AppError> {
    let slot = job_for(&state, &user, &job)?;
    Ok(Json(lock(&slot).clone()))
}

/// The body of `POST /api/partition/{job}/adopt`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdoptBody {
    /// Why, kept in the history of every grid changed, created or deleted.
    reason: Option<String>,
}

/// `POST /api/partition/{job}/adopt {"reason"}`: the plan becomes the village's grids, in one
/// transaction. A plan grid that continues a current one (the job's `matching`) keeps that
/// grid's code and name; the others get new codes in the village's pattern (`VILLAGE-NN`);
/// current grids no plan grid continues are deleted. Every one keeps its history (deleted with
/// the reason). For village managers, town supervisors and administrators whose scope holds the
/// village; refused (412) when the village's grids changed since the plan was computed.
#[utoipa::path(post, path = "/api/partition/{job}/adopt", tag = "planning", params(("job" = String, Path, description = "The job's id")), request_body = AdoptBody, responses((status = 200, description = "Adopted: the grids saved and deleted", body = Object), (status = 412, description = "The village's grids changed since the plan was computed", body = crate::openapi::ErrorBody)))]
pub async fn adopt(
    State(state): State<AppState>,
    user: AuthUser,
    Path(job): Path<String>,
    Json(body): Json<AdoptBody>,
) -> Result<Json<Value>, AppError> {
    crate::blocking(move || {
        let reason = crate::grid_edit::check_reason(body.reason)?;
        let slot = state
            .0
            .plans
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&job)
            .cloned()
            .ok_or_else(|| AppError::NotFound(format!("partition job {}", crate::input::short(&job))))?;
        let plan = slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let p = state.project();
        crate::scope::check_village_write(&p, &user, &plan.village)?;
        if plan.status != "done" || plan.grids.is_empty() {
            return Err(AppError::Conflict(format!("partition job {job} is {}: only a finished plan can be adopted", plan.status)));
        }
        if plan.adopted.is_some() {
            return Err(AppError::Conflict(format!("partition job {job} was adopted already")));
        }
        let village = plan.village.clone();
        let now: std::collections::BTreeMap<String, u32> = p
            .grids
            .iter()
            .filter(|g| g.grid.village.as_deref() == Some(village.as_str()))
            .map(|g| (g.grid.code.clone(), g.version))
            .collect();
        if now != plan.started_from {
            return Err(AppError::PreconditionFailed(
                "the village's grids changed since this plan was computed: compute it again".into(),
            ));
        }
        // Codes: a continued grid keeps its code and name; new ones take the next free numbers.
        let matching = plan.matching.clone().unwrap_or_default();
        let mut taken: std::collections::HashSet<String> =
            p.grids.iter().map(|g| g.grid.code.clone()).collect();
        let mut next = 1;
        let mut fresh = || loop {
            let code = format!("{village}-{next:02}");
            next += 1;
            if taken.insert(code.clone()) {
                return code;
            }
        };
        let mut save = Vec::new();
        let mut kept = std::collections::HashSet::new();
        for g in &plan.grids {
            let (code, name, version) = match matching.get(&g.code).and_then(|c| p.grid(c)) {
                Some(cur) if kept.insert(cur.grid.code.clone()) => {
                    (cur.grid.code.clone(), cur.grid.name.clone(), Some(cur.version))
                }
                _ => (fresh(), None, None),
            };
            save.push((
                gridmap_core::model::Grid { code, name, village: Some(village.clone()), geometry: g.geometry.clone() },
                version,
            ));
        }
        // Each grid written is checked as an edit is: nothing reaches another village's area,
        // grids the user may not edit, or their buildings.
        for (g, _) in &mut save {
            crate::grid_edit::check_reach(&p, &user, g)?;
        }
        let delete: Vec<(String, u32)> = now
            .iter()
            .filter(|(c, _)| !kept.contains(*c))
            .map(|(c, v)| (c.clone(), *v))
            .collect();
        let touched = save
            .iter()
            .map(|(g, _)| &g.geometry)
            .chain(delete.iter().filter_map(|(c, _)| p.grid(c).map(|g| &g.grid.geometry)))
            .filter_map(geo::BoundingRect::bounding_rect)
            .reduce(|a, b| gridmap_stats::edit::union_rect(Some(a), Some(b)).unwrap_or(a));
        drop(p);
        let change = gridmap_store::Change { who: user.0.username.clone(), why: reason };
        let codes: Vec<String> = save.iter().map(|(g, _)| g.code.clone()).chain(delete.iter().map(|(c, _)| c.clone())).collect();
        let code_refs: Vec<&str> = codes.iter().map(String::as_str).collect();
        let versions = state.write_grids(touched, &code_refs, |s| {
            s.replace_grids(&delete, &save, &change).map_err(|e| match e {
                gridmap_store::StoreError::VersionConflict { .. } => AppError::PreconditionFailed(
                    "the village's grids changed since this plan was computed: compute it again".into(),
                ),
                e => AppError::from(e),
            })
        })?;
        state.0.tiles.clear_layer("problems");
        let saved: serde_json::Map<String, Value> = save
            .iter()
            .zip(&versions)
            .map(|((g, _), v)| (g.code.clone(), json!(v)))
            .collect();
        let deleted: Vec<&String> = delete.iter().map(|(c, _)| c).collect();
        let adopted = json!({"village": village, "saved": saved, "deleted": deleted});
        slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner).adopted = Some(adopted.clone());
        // A saved plan remembers that it was adopted (the grids are written already).
        if let Some(entry) = &plan.saved {
            lock(&state.0.store).set_plan_adopted(entry.id, &adopted.to_string())?;
        }
        Ok(Json(adopted))
    })
    .await
}

/// A plan as the store keeps it: the job as answered, with what adopting it needs (the grids'
/// geometries and the village's grid versions when it was computed).
#[derive(serde::Serialize, serde::Deserialize)]
struct Kept {
    job: PlanJob,
    grids: Vec<gridmap_core::model::Grid>,
    started_from: std::collections::BTreeMap<String, u32>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The job `job`, if the caller may plan its village.
fn job_for(state: &AppState, user: &AuthUser, job: &str) -> Result<Arc<Mutex<PlanJob>>, AppError> {
    let slot = lock(&state.0.plans.jobs)
        .get(job)
        .cloned()
        .ok_or_else(|| AppError::NotFound(format!("partition job {}", crate::input::short(job))))?;
    let village = lock(&slot).village.clone();
    if !may_plan(user, &state.project().town.code, &village) {
        return Err(AppError::Forbidden);
    }
    Ok(slot)
}

/// The body of `POST /api/partition/{job}/save`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveBody {
    /// The plan's name, unique within its village (1–60 characters).
    name: String,
}

/// `POST /api/partition/{job}/save {"name"}`: keeps a finished plan in the project under a
/// name, so that it outlives the server, can be listed (`GET /api/plans`), opened again and
/// adopted later. For those who may plan its village; 409 when the village already has a
/// plan of that name or this plan was saved already.
#[utoipa::path(post, path = "/api/partition/{job}/save", tag = "planning", params(("job" = String, Path, description = "The job's id")), request_body = SaveBody, responses((status = 200, description = "Saved: the plan's entry", body = Object), (status = 409, description = "The name is taken in the village, or the plan is saved already", body = crate::openapi::ErrorBody)))]
pub async fn save(
    State(state): State<AppState>,
    user: AuthUser,
    Path(job): Path<String>,
    Json(body): Json<SaveBody>,
) -> Result<Json<gridmap_store::plans::PlanEntry>, AppError> {
    let slot = job_for(&state, &user, &job)?;
    let name = gridmap_store::plans::check_plan_name(&body.name).map_err(AppError::BadRequest)?;
    let (st, who) = (state.clone(), user.0.username.clone());
    crate::blocking(move || {
        // The job stays locked until it is saved: two saves of one plan make one entry.
        let mut job_now = lock(&slot);
        let plan = job_now.clone();
        if plan.status != "done" || plan.grids.is_empty() {
            return Err(AppError::Conflict(format!(
                "partition job {job} is {}: only a finished plan can be saved",
                plan.status
            )));
        }
        if let Some(saved) = &plan.saved {
            return Err(AppError::Conflict(format!(
                "this plan is saved already, as {}",
                saved.name
            )));
        }
        let kept = Kept {
            grids: plan.grids.clone(),
            started_from: plan.started_from.clone(),
            job: plan,
        };
        let text = serde_json::to_string(&kept).map_err(|e| AppError::Internal(e.to_string()))?;
        let mut store = lock(&st.0.store);
        let n = u32::try_from(kept.grids.len()).unwrap_or(u32::MAX);
        let id = store
            .save_plan(&name, &kept.job.village, &who, n, &text)
            .map_err(|e| match e {
                gridmap_store::StoreError::Import { message, .. } => AppError::Conflict(message),
                e => AppError::from(e),
            })?;
        let entry = store
            .plan(id)?
            .map(|p| p.entry)
            .ok_or_else(|| AppError::Internal("a saved plan vanished".into()))?;
        job_now.saved = Some(entry.clone());
        Ok(Json(entry))
    })
    .await
}

/// `GET /api/plans`: the saved plans of the villages the caller may plan, newest first.
#[utoipa::path(get, path = "/api/plans", tag = "planning", responses((status = 200, description = "Saved plans: id, name, village, saved_by, saved_at, grids, adopted", body = Object)))]
pub async fn list(State(state): State<AppState>, user: AuthUser) -> Result<Json<Value>, AppError> {
    let st = state.clone();
    let plans = crate::reading(move || Ok(crate::pool::read_store(&st.0)?.plans()?)).await?;
    let town = state.project().town.code.clone();
    let mine: Vec<_> = plans
        .into_iter()
        .filter(|p| may_plan(&user, &town, &p.village))
        .collect();
    Ok(Json(json!({ "plans": mine })))
}

/// The saved plan `id` for `user`: 404 when there is none, 403 outside their villages.
async fn saved(
    state: &AppState,
    user: &AuthUser,
    id: i64,
) -> Result<gridmap_store::plans::SavedPlan, AppError> {
    let st = state.clone();
    let plan = crate::reading(move || Ok(crate::pool::read_store(&st.0)?.plan(id)?))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("plan {id}")))?;
    if !may_plan(user, &state.project().town.code, &plan.entry.village) {
        return Err(AppError::Forbidden);
    }
    Ok(plan)
}

/// `GET /api/plans/{id}`: a saved plan, answered as its job is (`GET /api/partition/{job}`),
/// under the job id `saved-{id}` with which it can be exported and adopted.
#[utoipa::path(get, path = "/api/plans/{id}", tag = "planning", params(("id" = i64, Path, description = "The plan's number")), responses((status = 200, description = "The plan, as a finished job", body = PlanJob), (status = 404, description = "No such plan", body = crate::openapi::ErrorBody)))]
pub async fn open(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<i64>,
) -> Result<Json<PlanJob>, AppError> {
    let plan = saved(&state, &user, id).await?;
    let kept: Kept = serde_json::from_str(&plan.body)
        .map_err(|e| AppError::Internal(format!("saved plan {id} is unreadable: {e}")))?;
    let mut job = kept.job;
    job.job = format!("saved-{id}");
    job.grids = kept.grids;
    job.started_from = kept.started_from;
    job.saved = Some(plan.entry);
    job.adopted = plan
        .adopted
        .as_deref()
        .and_then(|a| serde_json::from_str(a).ok());
    lock(&state.0.plans.jobs).insert(job.job.clone(), Arc::new(Mutex::new(job.clone())));
    Ok(Json(job))
}

/// `DELETE /api/plans/{id}`: forgets a saved plan (the grids it may have become stay).
#[utoipa::path(delete, path = "/api/plans/{id}", tag = "planning", params(("id" = i64, Path, description = "The plan's number")), responses((status = 200, description = "Deleted", body = Object), (status = 404, description = "No such plan", body = crate::openapi::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<i64>,
) -> Result<Json<Value>, AppError> {
    saved(&state, &user, id).await?;
    let st = state.clone();
    crate::blocking(move || Ok(lock(&st.0.store).delete_plan(id)?)).await?;
    let mut jobs = lock(&state.0.plans.jobs);
    jobs.remove(&format!("saved-{id}"));
    for slot in jobs.values() {
        let mut j = lock(slot);
        if j.saved.as_ref().is_some_and(|s| s.id == id) {
            j.saved = None;
        }
    }
    Ok(Json(json!({ "deleted": id })))
}

/// The columns of a plan's grids in an exported file.
const EXPORT_COLUMNS: [(&str, gridmap_io::gdal_io::Column); 7] = {
    use gridmap_io::gdal_io::Column::{Integer, Real, Text};
    [
        ("code", Text),
        ("matched_current", Text),
        ("households", Integer),
        ("households_before", Integer),
        ("buildings", Integer),
        ("deviation_pct", Real),
        ("polsby_popper", Real),
    ]
};

/// `GET /api/partition/{job}/grids.gpkg`: a finished plan's grids as a GeoPackage (layer
/// `plan`, EPSG:4326) with each grid's workload, its deviation from the target and the current
/// grid it continues: for QGIS, or `gridmap import --layer grids`.
#[utoipa::path(get, path = "/api/partition/{job}/grids.gpkg", tag = "planning", params(("job" = String, Path, description = "The job's id (`saved-N` for a saved plan)")), responses((status = 200, description = "The plan's grids, GeoPackage", content_type = "application/geopackage+sqlite3")))]
pub async fn export_gpkg(
    State(state): State<AppState>,
    user: AuthUser,
    Path(job): Path<String>,
) -> Result<axum::response::Response, AppError> {
    use axum::http::{HeaderMap, HeaderValue, header};
    use axum::response::IntoResponse;
    let slot = job_for(&state, &user, &job)?;
    let plan = lock(&slot).clone();
    let features = match (&plan.plan, plan.status.as_str()) {
        (Some(fc), "done") => fc["features"].as_array().cloned().unwrap_or_default(),
        _ => {
            return Err(AppError::Conflict(format!(
                "partition job {job} is {}: only a finished plan can be exported",
                plan.status
            )));
        }
    };
    let bytes = crate::blocking(move || {
        let dir = tempfile::tempdir().map_err(|e| AppError::Internal(e.to_string()))?;
        let path = dir.path().join("plan.gpkg");
        let rows = features.iter().zip(&plan.grids).map(|(f, g)| {
            let props = f["properties"].as_object().cloned().unwrap_or_default();
            (Some(geo::Geometry::MultiPolygon(g.geometry.clone())), props)
        });
        gridmap_io::gdal_io::write(&path, "plan", &EXPORT_COLUMNS, rows)
            .map_err(|e| AppError::Internal(e.to_string()))?;
        std::fs::read(&path).map_err(|e| AppError::Internal(e.to_string()))
    })
    .await?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/geopackage+sqlite3"),
    );
    let today = chrono::Local::now().format("%Y-%m-%d");
    let stem = match &plan.saved {
        Some(s) => format!("{}-{}", plan.village, s.name),
        None => format!("{}-{today}", plan.village),
    };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"plan.gpkg\"; filename*=UTF-8''{}",
        crate::api::percent_encoded(&format!("plan-{stem}.gpkg"))
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok((headers, bytes).into_response())
}
