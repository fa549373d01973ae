//! JSON endpoints: grids, statistics, visits, validation of candidate grids.

use std::collections::BTreeMap;

use crate::extract::Json;
use crate::extract::{Path, Query};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use geo::{BoundingRect, Coord, Rect};
use gridmap_core::geodesy::{LocalMetres, point_segment_distance_m};
use gridmap_core::model::{Footprint, Grid, Visit, VisitOutcome};
use serde::Deserialize;
use serde_json::Value;

use gridmap_io::write::geometry_json;

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::input::day_number;
use crate::live::Tally;
use crate::state::{AppState, Project};

/// The answer of `GET /health`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
    /// The project's town code.
    pub town: String,
    /// How many grids are loaded.
    pub grids: usize,
    /// How many buildings are loaded.
    pub buildings: usize,
}

/// `GET /health`: liveness and what is loaded.
#[utoipa::path(get, path = "/health", tag = "server", security(()), responses((status = 200, description = "Alive; the town and what is loaded", body = crate::api::Health)))]
pub async fn health(State(state): State<AppState>) -> Json<Health> {
    let p = state.project();
    Json(Health {
        status: "ok".into(),
        town: p.town.code.clone(),
        grids: p.grids.len(),
        buildings: p.buildings.len(),
    })
}

fn visible(user: &AuthUser, p: &Project, grid: &Grid) -> bool {
    user.sees_grid(&p.town.code, &grid.code, grid.village.as_deref())
}

/// Grids as a GeoJSON FeatureCollection (`GET /api/grids`).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct GridCollection {
    /// `FeatureCollection`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The grids.
    pub features: Vec<GridFeature>,
}

/// A grid as a GeoJSON Feature, its code as the id.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct GridFeature {
    /// `Feature`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The grid's code.
    pub id: String,
    /// Its record, or only its code for a neighbour's outline.
    pub properties: GridProperties,
    /// Its GeoJSON MultiPolygon.
    #[schema(value_type = Object)]
    pub geometry: Value,
}

impl GridFeature {
    /// The feature of a stored grid, with its record.
    fn of(g: &gridmap_store::StoredGrid) -> GridFeature {
        GridFeature {
            kind: "Feature",
            id: g.grid.code.clone(),
            properties: GridProperties::Grid {
                code: g.grid.code.clone(),
                name: g.grid.name.clone(),
                village: g.grid.village.clone(),
                version: g.version,
            },
            geometry: geometry_json(&g.grid.geometry),
        }
    }
}

/// The properties of a [`GridFeature`].
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum GridProperties {
    /// A grid of the caller's.
    Grid {
        /// Its code.
        code: String,
        /// Its name.
        name: Option<String>,
        /// Its village's code.
        village: Option<String>,
        /// Its version (send it as `If-Match` to change it).
        version: u32,
    },
    /// The outline of a neighbour, for snapping (`?context=1`).
    Context {
        /// Its code.
        code: String,
        /// Always `true`.
        context: bool,
    },
}

/// Query of `GET /api/grids`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GridsQuery {
    /// `1`: add, for users who edit grids, the outlines of the grids next to theirs.
    context: Option<u8>,
}

/// `GET /api/grids[?context=1]`: the grids in the user's scope as GeoJSON. With `context=1`, a
/// user who may edit grids also gets the grids outside their scope whose bounds meet (within
/// ~10 m) one of theirs, with `"context": true` and only code and geometry, so an edit can snap
/// to its neighbours' boundaries. Grid boundaries are not personal data.
#[utoipa::path(get, path = "/api/grids", tag = "grids", params(GridsQuery), responses((status = 200, description = "A GeoJSON FeatureCollection of grids", body = GridCollection)))]
pub async fn grids(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<GridsQuery>,
) -> Json<GridCollection> {
    let p = state.project();
    let (mine, others): (Vec<_>, Vec<_>) =
        p.grids.iter().partition(|g| visible(&user, &p, &g.grid));
    let mut features: Vec<GridFeature> = mine.iter().map(|g| GridFeature::of(g)).collect();
    if q.context == Some(1) && user.edits_grids() {
        const MARGIN_DEG: f64 = 1e-4;
        let near: Vec<Rect> = mine
            .iter()
            .filter_map(|g| g.grid.geometry.bounding_rect())
            .map(|r| {
                Rect::new(
                    Coord {
                        x: r.min().x - MARGIN_DEG,
                        y: r.min().y - MARGIN_DEG,
                    },
                    Coord {
                        x: r.max().x + MARGIN_DEG,
                        y: r.max().y + MARGIN_DEG,
                    },
                )
            })
            .collect();
        for g in others {
            let Some(r) = g.grid.geometry.bounding_rect() else {
                continue;
            };
            if near.iter().any(|n| geo::Intersects::intersects(n, &r)) {
                features.push(GridFeature {
                    kind: "Feature",
                    id: g.grid.code.clone(),
                    properties: GridProperties::Context {
                        code: g.grid.code.clone(),
                        context: true,
                    },
                    geometry: geometry_json(&g.grid.geometry),
                });
            }
        }
    }
    Json(GridCollection {
        kind: "FeatureCollection",
        features,
    })
}

/// `GET /api/grids/{code}`: one grid, with its version as the `ETag`.
#[utoipa::path(get, path = "/api/grids/{code}", tag = "grids", params(("code" = String, Path, description = "The grid's code")), responses((status = 200, description = "A GeoJSON Feature; its version in the ETag", body = GridFeature), (status = 404, description = "No such grid", body = crate::openapi::ErrorBody)))]
pub async fn grid(
    State(state): State<AppState>,
    user: AuthUser,
    Path(code): Path<String>,
) -> Result<Response, AppError> {
    let p = state.project();
    let g = p
        .grid(&code)
        .ok_or_else(|| AppError::NotFound(format!("grid {code}")))?;
    if !visible(&user, &p, &g.grid) {
        return Err(AppError::Forbidden);
    }
    let body = GridFeature::of(g);
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", g.version)) {
        headers.insert(header::ETAG, v);
    }
    Ok((headers, Json(body)).into_response())
}

/// Query of the statistics endpoints and their CSV/XLSX exports: `by=grid` (the default)
/// or `by=village`, how rows are grouped.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// `grid` (the default) or `village`.
    by: Option<String>,
}

/// `GET /api/stats?by=grid|village`: per grid or village in scope: buildings, households,
/// visited, visit rate (visited households / households), flagged visits, and the ranking by
/// visit rate.
///
/// The answer is shared for [`STATS_FRESH`] by users who reach the same part: a district's
/// table is 10,000 rows (2.5 MB), and a dashboard refreshed by many supervisors during a
/// campaign need not be younger than a second.
#[utoipa::path(get, path = "/api/stats", tag = "statistics", params(StatsQuery), responses((status = 200, description = "The statistics table", body = StatsTable)))]
pub async fn stats(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<StatsQuery>,
) -> Result<Response, AppError> {
    let key = format!(
        "stats|{}|{}",
        user.reach_key(&state.project().town.code),
        q.by.as_deref().unwrap_or("grid")
    );
    let st = state.clone();
    shared_answer(&state, key, STATS_FRESH, move || stats_now(&st, &user, &q)).await
}

/// A JSON answer shared by the callers who reach the same part (`key`): served from the cache
/// while younger than `fresh`; up to ten times that old it is still served, and made again in
/// the background (once, on a reading thread) for those who come next; older, or never made,
/// the caller waits for `make`, which is made once for all the callers who wait meanwhile.
/// For answers that depend only on what the caller reaches and that a few seconds' age does
/// not spoil: statistics and uncovered blocks, which a district's supervisors refresh all day
/// and which take up to a second to make there.
pub async fn shared_answer<T: serde::Serialize + 'static>(
    state: &AppState,
    key: String,
    fresh: std::time::Duration,
    make: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<Response, AppError> {
    let json = |bytes: axum::body::Bytes| {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response()
    };
    let cached = || {
        state
            .0
            .stats_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            .map(|(at, bytes)| (at.elapsed(), bytes.clone()))
    };
    match cached() {
        Some((age, bytes)) if age < fresh => return Ok(json(bytes)),
        Some((age, bytes)) if age < fresh * 10 => {
            let first = state
                .0
                .refreshing
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(key.clone());
            if first {
                let st = state.clone();
                tokio::spawn(async move {
                    // A failure leaves the stale answer; the next caller past the limit waits.
                    let _ = make_and_keep(&st, &key, make, Lane::Background).await;
                    st.0.refreshing
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .remove(&key);
                });
            }
            return Ok(json(bytes));
        }
        _ => {}
    }
    // One caller makes the answer; those who come meanwhile wait for it instead of making it
    // again (a district's uncovered blocks take a second of the reading thread each).
    let gate = {
        let mut making = state
            .0
            .making
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if making.len() > 1024 {
            making.retain(|_, g| std::sync::Arc::strong_count(g) > 1);
        }
        making.entry(key.clone()).or_default().clone()
    };
    let _turn = gate.lock().await;
    if let Some((age, bytes)) = cached()
        && age < fresh
    {
        return Ok(json(bytes));
    }
    Ok(json(make_and_keep(state, &key, make, Lane::Caller).await?))
}

/// Where an answer of [`shared_answer`] is made.
enum Lane {
    /// For a caller who waits: with the other reads ([`crate::reading`]).
    Caller,
    /// A refresh nobody waits for: one at a time, beside the reads, so that a tile or a
    /// heatmap asked for meanwhile does not queue behind a district's statistics.
    Background,
}

/// Makes an answer of [`shared_answer`] and keeps it under `key`.
async fn make_and_keep<T: serde::Serialize + 'static>(
    state: &AppState,
    key: &str,
    make: impl FnOnce() -> Result<T, AppError> + Send + 'static,
    lane: Lane,
) -> Result<axum::body::Bytes, AppError> {
    static REFRESHES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);
    let work = move || {
        serde_json::to_vec(&make()?)
            .map(axum::body::Bytes::from)
            .map_err(|e| AppError::Internal(e.to_string()))
    };
    let bytes = match lane {
        Lane::Caller => crate::reading(work).await?,
        Lane::Background => {
            let _turn = REFRESHES
                .acquire()
                .await
                .map_err(|e| AppError::Internal(e.to_string()))?;
            crate::blocking(work).await?
        }
    };
    let mut cache = state
        .0
        .stats_cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if cache.len() > 1024 {
        cache.clear();
    }
    cache.insert(key.to_string(), (std::time::Instant::now(), bytes.clone()));
    Ok(bytes)
}

/// How long statistics are served without being made again (see [`shared_answer`]).
pub const STATS_FRESH: std::time::Duration = std::time::Duration::from_secs(1);

/// [`stats`], on a blocking thread (a district has 10,000 grids to rank and write).
fn stats_now(state: &AppState, user: &AuthUser, q: &StatsQuery) -> Result<StatsTable, AppError> {
    let by = q.by.as_deref().unwrap_or("grid");
    if by != "grid" && by != "village" {
        return Err(AppError::BadRequest("by must be grid or village".into()));
    }
    let p = state.project();
    if by == "village"
        && matches!(
            user.reach(&p.town.code),
            crate::scope::Reach::Grid(_) | crate::scope::Reach::Nothing
        )
    {
        return Err(AppError::ForbiddenBecause(
            "statistics by village need a village or town scope".into(),
        ));
    }
    // The grids' tallies, kept by the writer: O(grids), whatever the number of buildings.
    let mut rows: BTreeMap<String, Tally> = BTreeMap::new();
    {
        let tallies = p.tallies();
        for (g, tally) in p.grids.iter().zip(tallies.iter()) {
            if visible(user, &p, &g.grid) {
                let key = if by == "grid" {
                    g.grid.code.clone()
                } else {
                    g.grid.village.clone().unwrap_or_default()
                };
                rows.entry(key).or_default().add(tally);
            }
        }
    }
    if by == "village" {
        // Buildings that count towards no grid (in none, or in several) count towards the
        // village whose boundary holds them, for those who see them (the one rule of scope).
        let scope = user.scope(&p);
        let live = p.live();
        for (i, a) in p.assignment.iter().enumerate() {
            if a.grid().is_some() || !scope.building(i) {
                continue;
            }
            let Some(village) = scope.village_of_building(i) else {
                continue;
            };
            let b = &p.buildings[i];
            let households = u64::from(b.households);
            let visited = live.visited(i);
            rows.entry(village.to_string()).or_default().add(&Tally {
                buildings: 1,
                households,
                visited_buildings: u64::from(visited),
                visited_households: if visited { households } else { 0 },
                flagged: live.flagged.get(&(i as u32)).copied().unwrap_or(0),
                people: u64::from(p.people.get(i).copied().unwrap_or(0)),
            });
        }
    }
    let expected = expected_rate(&state.0.settings);
    let mut rows = gridmap_stats::rank(&rows, by == "grid", expected);
    if by == "grid" {
        gridmap_stats::name_rows(&mut rows, |c| p.grid(c).and_then(|g| g.grid.name.clone()));
    } else {
        gridmap_stats::name_rows(&mut rows, |c| {
            p.villages
                .iter()
                .find(|v| v.code == c)
                .map(|v| v.name.clone())
                .filter(|n| !n.is_empty())
        });
    }
    let settings = &state.0.settings;
    let linkage = linkage_in_scope(&p, user);
    Ok(StatsTable {
        by: by.to_string(),
        rows,
        linkage,
        expected_rate: expected,
        campaign: Campaign {
            start: settings.campaign_start.clone(),
            end: settings.campaign_end.clone(),
            target_visit_rate: 1.0,
            target_linkage_rate: 0.95,
        },
    })
}

/// The statistics answer (typed: a district has 10,000 rows, written straight to bytes).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct StatsTable {
    /// `grid` or `village`: what a row is.
    pub by: String,
    /// The rows, ranked by visit rate.
    pub rows: Vec<gridmap_stats::StatsRow>,
    /// 人房关联率 of the caller's whole scope, the one figure the CLI, the dashboard and the
    /// exports give (see [`Linkage`]).
    pub linkage: Linkage,
    /// The visit rate the campaign's schedule expects by today, `None` without a campaign.
    pub expected_rate: Option<f64>,
    /// The campaign and its targets.
    pub campaign: Campaign,
}

/// 人房关联率: of the people in the registers, the share whose house is linked to a building.
///
/// For town-wide users this is the register's own figure (`gridmap stats`' `town` row): every
/// person of the register, including those whose house is linked to no building or whose
/// building lies in no grid. A village or grid user sees the people of the buildings in their
/// part, which are linked by construction: a person whose house has no building belongs to no
/// part below the town.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Linkage {
    /// People counted.
    pub people: u64,
    /// Of them, those whose house is linked to a building.
    pub people_linked: u64,
    /// `people_linked / people`; `None` without people.
    pub rate: Option<f64>,
}

/// The linkage of everything `user` sees (see [`Linkage`]).
fn linkage_in_scope(p: &Project, user: &AuthUser) -> Linkage {
    let scope = user.scope(p);
    let linked: u64 = (0..p.buildings.len())
        .filter(|&i| scope.building(i))
        .map(|i| u64::from(p.people.get(i).copied().unwrap_or(0)))
        .sum();
    let unlinked = if user.town_wide(&p.town.code) {
        p.people_unlinked
    } else {
        0
    };
    let people = linked + unlinked;
    Linkage {
        people,
        people_linked: linked,
        rate: (people > 0).then(|| linked as f64 / people as f64),
    }
}

/// The campaign the statistics measure against.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Campaign {
    /// Its first day (RFC 3339 or `YYYY-MM-DD`), when set.
    pub start: Option<String>,
    /// Its last day, when set.
    pub end: Option<String>,
    /// The visit rate to reach by its end (100%).
    pub target_visit_rate: f64,
    /// The person–house linkage rate to reach (95%).
    pub target_linkage_rate: f64,
}

/// The body of `POST /api/visits`. Unknown fields are refused (a client cannot set `flagged`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVisit {
    /// The building's id.
    building: String,
    /// A house of the building in the register, when the visit was to one.
    house: Option<String>,
    /// RFC 3339; the server's time when absent.
    time: Option<String>,
    /// `visited`, `nobody_home`, `refused`, `demolished` or `newly_found`.
    outcome: String,
    /// Where the worker stood: longitude (give both or neither).
    lon: Option<f64>,
    /// Latitude.
    lat: Option<f64>,
    /// A note, at most 1000 characters.
    note: Option<String>,
    /// The client's own id for this visit (1–64 letters, digits and `-`; a UUID from an
    /// offline phone): sending the same visit again records it once and answers as the first
    /// time, with `duplicate: true`.
    client_id: Option<String>,
    /// The household's answer: does it know its grid worker (群众知晓率)?
    knows_worker: Option<bool>,
    /// The household's satisfaction, 1 to 5 (群众满意率; 4 and 5 count as satisfied).
    satisfaction: Option<u8>,
}

/// The answer of `POST /api/visits`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct VisitRecorded {
    /// The visit's id.
    pub id: String,
    /// Whether its GPS point lies farther from the building than allowed.
    pub flagged: bool,
    /// Metres from its GPS point to the building (0 inside), when a point was given.
    pub distance_m: Option<f64>,
    /// The visit had been recorded already (the same `client_id` sent again): nothing new was
    /// written.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

/// The longest note on a visit.
const MAX_NOTE_CHARS: usize = 1000;

/// Metres from `p` to a building's footprint (0 inside).
fn distance_to_building(b: &gridmap_core::Building, p: Coord) -> f64 {
    let frame = LocalMetres::at(p);
    match &b.footprint {
        Footprint::Point(q) => point_segment_distance_m(&frame, p, q.0, q.0),
        Footprint::Area(a) => {
            if gridmap_core::locate::PreparedArea::new(a).locate(p)
                != gridmap_core::locate::Location::Outside
            {
                return 0.0;
            }
            a.0.iter()
                .flat_map(|poly| std::iter::once(poly.exterior()).chain(poly.interiors()))
                .flat_map(|r| r.0.windows(2))
                .map(|w| point_segment_distance_m(&frame, p, w[0], w[1]))
                .fold(f64::INFINITY, f64::min)
        }
    }
}

/// `POST /api/visits`: records a visit by the signed-in worker (field roles and admin, see
/// [`crate::scope`]) to a building in their part. A GPS point farther than the configured
/// distance (50 m by default) from the building is stored but flagged. The id is a random UUID,
/// so concurrent visits never collide.
#[utoipa::path(post, path = "/api/visits", tag = "visits", request_body = NewVisit, responses((status = 200, description = "The visit's id; whether its GPS point is flagged", body = VisitRecorded), (status = 404, description = "No such building", body = crate::openapi::ErrorBody)))]
pub async fn post_visit(
    State(state): State<AppState>,
    user: AuthUser,
    Json(v): Json<NewVisit>,
) -> Result<Json<VisitRecorded>, AppError> {
    user.require(crate::scope::Role::records_visits)?;
    let p = state.project();
    let &i = p.building_by_id.get(&v.building).ok_or_else(|| {
        AppError::NotFound(format!("building {}", crate::input::short(&v.building)))
    })?;
    let in_scope = p.grid_of(i as usize).is_some() && user.sees_building(&p, i as usize);
    if !in_scope {
        return Err(AppError::Forbidden);
    }
    let outcome = VisitOutcome::parse(&v.outcome).ok_or_else(|| {
        AppError::BadRequest(
            "outcome must be one of visited, nobody_home, refused, demolished, newly_found".into(),
        )
    })?;
    let point = match (v.lon, v.lat) {
        (Some(x), Some(y))
            if x.is_finite() && y.is_finite() && x.abs() <= 180.0 && y.abs() <= 90.0 =>
        {
            Some(geo::Point::new(x, y))
        }
        (None, None) => None,
        _ => {
            return Err(AppError::BadRequest(
                "lon and lat: give both, in degrees (longitude in [-180, 180], latitude in [-90, 90]), or neither".into(),
            ));
        }
    };
    let time = match &v.time {
        Some(t) => crate::input::visit_time(t, chrono::Utc::now())?,
        None => crate::input::now_rfc3339(),
    };
    if let Some(n) = &v.note {
        crate::input::check_text("note", n, MAX_NOTE_CHARS)?;
    }
    if v.satisfaction.is_some_and(|s| !(1..=5).contains(&s)) {
        return Err(AppError::BadRequest(
            "satisfaction must be a whole number from 1 to 5".into(),
        ));
    }
    if let Some(house) = &v.house {
        // Off the runtime's threads, on a connection the visit writer does not hold.
        let (shared, house, building) = (state.0.clone(), house.clone(), v.building.clone());
        let known = crate::blocking(move || {
            crate::pool::read_store(&shared)?
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
    let distance = point.map(|pt| distance_to_building(&p.buildings[i as usize], pt.0));
    let flagged = distance.is_some_and(|d| d > state.0.settings.gps_flag_m);
    let id = match &v.client_id {
        Some(c) => {
            let ok = (1..=64).contains(&c.len())
                && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !ok {
                return Err(AppError::BadRequest(
                    "client_id: 1 to 64 letters, digits and '-' (a UUID)".into(),
                ));
            }
            format!("visit-{c}")
        }
        None => format!("visit-{}", uuid::Uuid::new_v4()),
    };
    let visit = Visit {
        id: id.clone(),
        building: Some(v.building.clone()),
        house: v.house,
        worker: user.0.username.clone(),
        time,
        outcome,
        point,
        note: v.note,
        flagged,
        knows_worker: v.knows_worker,
        satisfaction: v.satisfaction,
    };
    let touched = p.buildings[i as usize].footprint_rect();
    drop(p);
    let recorded = state.0.writer.record(visit, touched).await;
    let duplicate = match recorded {
        Ok(()) => false,
        // A visit sent again: the first is in the file already under the client's id.
        Err(e) if v.client_id.is_some() => {
            let (shared, key) = (state.0.clone(), id.clone());
            let worker = crate::blocking(move || {
                crate::pool::read_store(&shared)?
                    .visit_worker(&key)
                    .map_err(|e| AppError::Internal(e.to_string()))
            })
            .await?;
            match worker {
                Some(w) if w == user.0.username => true,
                Some(_) => {
                    return Err(AppError::Conflict(
                        "client_id is the id of another worker's visit; make a new one".into(),
                    ));
                }
                None => return Err(e),
            }
        }
        Err(e) => return Err(e),
    };
    Ok(Json(VisitRecorded {
        id,
        flagged,
        distance_m: distance,
        duplicate,
    }))
}

/// The columns of the exported statistics, the first named after the grouping.
fn stats_columns(by: &str) -> [&str; 12] {
    [
        by,
        "rank",
        "buildings",
        "households",
        "visited_buildings",
        "visited_households",
        "visit_rate",
        "expected_rate",
        "flagged_visits",
        "people",
        "people_linked",
        "linkage_rate",
    ]
}

/// `GET /api/stats.xlsx?by=grid|village`: the same table as an Excel workbook to hand on: one
/// sheet named for what it counts, Chinese column names, the grid's or village's name beside
/// its code (and a grid's village), rates as percentages, the header frozen and filterable.
#[utoipa::path(get, path = "/api/stats.xlsx", tag = "statistics", params(StatsQuery), responses((status = 200, description = "The statistics as an Excel workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>)))]
pub async fn stats_xlsx(
    state: State<AppState>,
    user: AuthUser,
    query: Query<StatsQuery>,
) -> Result<Response, AppError> {
    let (State(state), Query(q)) = (state, query);
    let (book, by_grid) = crate::reading(move || {
        let first = stats_now(&state, &user, &q)?;
        // The other level too, where the user may see it: one sheet per level, the one asked
        // for first.
        let other_by = if first.by == "grid" {
            "village"
        } else {
            "grid"
        };
        let other = stats_now(
            &state,
            &user,
            &StatsQuery {
                by: Some(other_by.to_string()),
            },
        )
        .ok();
        let by_grid = first.by == "grid";
        let tables: Vec<&StatsTable> = std::iter::once(&first).chain(other.as_ref()).collect();
        let book = stats_workbook(&state.project(), &tables)
            .map_err(|e| AppError::Internal(format!("the workbook: {e}")))?;
        Ok((book, by_grid))
    })
    .await?;
    let by = if by_grid { "grid" } else { "village" };
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
    );
    let name = if by_grid {
        "走访统计-按网格.xlsx"
    } else {
        "走访统计-按村社区.xlsx"
    };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"gridmap-stats-{by}.xlsx\"; filename*=UTF-8''{}",
        percent_encoded(name)
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok((headers, book).into_response())
}

/// `s` percent-encoded for a header's extended value (RFC 8187).
pub(crate) fn percent_encoded(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The statistics workbook a town office forwards: one sheet per level in `tables` (the first
/// the one asked for), each with a title row, the campaign and the scope's 人房关联率, Chinese
/// column names, names beside codes, percentages formatted as percent, a frozen header with
/// filters.
fn stats_workbook(
    p: &crate::state::Project,
    tables: &[&StatsTable],
) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, FormatAlign, Workbook};
    let village_name = |code: &str| {
        p.villages
            .iter()
            .find(|v| v.code == code)
            .map(|v| v.name.clone())
            .unwrap_or_default()
    };
    let mut book = Workbook::new();
    let title = Format::new().set_bold().set_font_size(14.0);
    let head = Format::new()
        .set_bold()
        .set_background_color("#DDEBF7")
        .set_align(FormatAlign::Center)
        .set_text_wrap();
    let percent = Format::new().set_num_format("0.0%");
    let whole = Format::new().set_num_format("#,##0");
    for table in tables {
        let by_grid = table.by == "grid";
        let level = if by_grid { "按网格" } else { "按村社区" };
        let sheet = book.add_worksheet();
        sheet.set_name(format!("走访统计（{level}）"))?;
        let mut columns: Vec<(&str, f64)> = vec![("排名", 6.0)];
        if by_grid {
            columns.extend([
                ("网格编码", 20.0),
                ("网格名称", 18.0),
                ("所属村（社区）", 18.0),
            ]);
        } else {
            columns.extend([("村（社区）编码", 18.0), ("村（社区）名称", 18.0)]);
        }
        columns.extend([
            ("建筑数", 9.0),
            ("户数", 9.0),
            ("已走访建筑", 11.0),
            ("已走访户数", 11.0),
            ("入户走访率", 11.0),
            ("应达进度", 10.0),
            ("进度落后", 9.0),
            ("定位异常走访", 12.0),
            ("登记人口", 10.0),
            ("人房关联人口", 12.0),
            ("人房关联率", 11.0),
        ]);
        let last = columns.len() as u16 - 1;
        // Row 0: the title; row 1: the campaign, the date and the scope's linkage; row 2: the
        // column names.
        sheet.merge_range(
            0,
            0,
            0,
            last,
            &format!("{} 入户走访统计（{level}）", p.town.name),
            &title,
        )?;
        let campaign = match (&table.campaign.start, &table.campaign.end) {
            (Some(a), Some(b)) => format!("走访活动：{a} 至 {b}"),
            _ => "走访活动：未设定".to_string(),
        };
        let linkage = table
            .linkage
            .rate
            .map_or("–".to_string(), |r| format!("{:.1}%", r * 100.0));
        let today = chrono::Local::now().format("%Y-%m-%d %H:%M");
        sheet.merge_range(
            1,
            0,
            1,
            last,
            &format!(
                "{campaign}　导出时间：{today}　人房关联率（本范围）：{linkage}（目标 {:.0}%）",
                table.campaign.target_linkage_rate * 100.0
            ),
            &Format::new(),
        )?;
        for (c, (name, width)) in columns.iter().enumerate() {
            sheet.write_string_with_format(2, c as u16, *name, &head)?;
            sheet.set_column_width(c as u16, *width)?;
        }
        for (r, row) in table.rows.iter().enumerate() {
            let r = r as u32 + 3;
            let mut c: u16 = 0;
            let mut next = || {
                c += 1;
                c - 1
            };
            sheet.write_number(r, next(), row.rank as f64)?;
            if let Some(code) = &row.grid {
                let grid = p.grid(code).map(|g| &g.grid);
                sheet.write_string(r, next(), code)?;
                sheet.write_string(
                    r,
                    next(),
                    grid.and_then(|g| g.name.clone()).unwrap_or_default(),
                )?;
                sheet.write_string(
                    r,
                    next(),
                    grid.and_then(|g| g.village.as_deref())
                        .map(village_name)
                        .unwrap_or_default(),
                )?;
            } else {
                let code = row.village.clone().unwrap_or_default();
                sheet.write_string(r, next(), &code)?;
                sheet.write_string(r, next(), village_name(&code))?;
            }
            for n in [
                row.buildings,
                row.households,
                row.visited_buildings,
                row.visited_households,
            ] {
                sheet.write_number_with_format(r, next(), n as f64, &whole)?;
            }
            sheet.write_number_with_format(r, next(), row.visit_rate, &percent)?;
            match row.expected_rate {
                Some(e) => sheet.write_number_with_format(r, next(), e, &percent)?,
                None => sheet.write_string(r, next(), "")?,
            };
            sheet.write_string(r, next(), if row.behind_schedule { "是" } else { "否" })?;
            for n in [row.flagged_visits, row.people, row.people_linked] {
                sheet.write_number_with_format(r, next(), n as f64, &whole)?;
            }
            match row.linkage_rate {
                Some(l) => sheet.write_number_with_format(r, next(), l, &percent)?,
                None => sheet.write_string(r, next(), "")?,
            };
        }
        sheet.set_freeze_panes(3, 0)?;
        sheet.autofilter(2, 0, table.rows.len() as u32 + 2, last)?;
    }
    book.save_to_buffer()
}

/// `GET /api/stats.csv?by=grid|village`: the same table as CSV, for the monthly report.
#[utoipa::path(get, path = "/api/stats.csv", tag = "statistics", params(StatsQuery), responses((status = 200, description = "The statistics as CSV", content_type = "text/csv", body = String)))]
pub async fn stats_csv(
    state: State<AppState>,
    user: AuthUser,
    query: Query<StatsQuery>,
) -> Result<Response, AppError> {
    let (State(state), Query(q)) = (state, query);
    let table = crate::reading(move || {
        serde_json::to_value(stats_now(&state, &user, &q)?)
            .map_err(|e| AppError::Internal(e.to_string()))
    })
    .await?;
    let by = table["by"].as_str().unwrap_or("grid").to_string();
    let cols = stats_columns(&by);
    let mut out = cols.join(",") + "\n";
    for row in table["rows"].as_array().into_iter().flatten() {
        let cells: Vec<String> = cols
            .iter()
            .map(|c| match &row[*c] {
                Value::String(s) if s.contains([',', '"', '\n']) => {
                    format!("\"{}\"", s.replace('"', "\"\""))
                }
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                v => v.to_string(),
            })
            .collect();
        out += &(cells.join(",") + "\n");
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"gridmap-stats.csv\""),
    );
    Ok((headers, out).into_response())
}

/// The visit rate expected by today when visits progress linearly over the campaign (target
/// 100%), `None` without a campaign.
pub fn expected_rate(settings: &crate::state::Settings) -> Option<f64> {
    let start = day_number(settings.campaign_start.as_deref()?)?;
    let end = day_number(settings.campaign_end.as_deref()?)?;
    let today = day_number(&crate::input::now_rfc3339())?;
    Some(gridmap_stats::expected_rate(start, end, today))
}
