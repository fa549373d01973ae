//! JSON endpoints: grids, statistics, visits, validation of candidate grids.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use geo::{BoundingRect, Coord, Geometry, MultiPolygon, Polygon, Rect};
use gridmap_core::geodesy::{LocalMetres, point_segment_distance_m};
use gridmap_core::model::{Footprint, Grid, Visit, VisitOutcome};
use gridmap_core::validate::{CoverageInput, Options, validate};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::state::{AppState, Project};

/// `GET /health`: liveness and what is loaded.
pub async fn health(State(state): State<AppState>) -> Json<Value> {
    let p = state.project();
    Json(json!({
        "status": "ok", "town": p.town.code, "grids": p.grids.len(), "buildings": p.buildings.len(),
    }))
}

/// A ring's coordinates as GeoJSON positions.
fn ring_json(l: &geo::LineString) -> Value {
    Value::Array(l.0.iter().map(|c| json!([c.x, c.y])).collect())
}

/// A polygon's rings, exterior first, as GeoJSON coordinates.
fn rings_json(p: &Polygon) -> Vec<Value> {
    std::iter::once(p.exterior())
        .chain(p.interiors())
        .map(ring_json)
        .collect()
}

/// A multipolygon as a GeoJSON geometry object.
pub fn geometry_json(g: &MultiPolygon) -> Value {
    json!({
        "type": "MultiPolygon",
        "coordinates": g.0.iter().map(rings_json).collect::<Vec<_>>(),
    })
}

/// A polygon as a GeoJSON geometry object.
pub fn polygon_json(p: &Polygon) -> Value {
    json!({"type": "Polygon", "coordinates": rings_json(p)})
}

fn visible(user: &AuthUser, p: &Project, grid: &Grid) -> bool {
    user.sees_grid(&p.town.code, &grid.code, grid.village.as_deref())
}

#[derive(Debug, Deserialize)]
pub struct GridsQuery {
    /// `1`: add, for users who edit grids, the outlines of the grids next to theirs.
    context: Option<u8>,
}

/// `GET /api/grids[?context=1]`: the grids in the user's scope as GeoJSON. With `context=1`, a
/// user who may edit grids also gets the grids outside their scope whose bounds meet (within
/// ~10 m) one of theirs, with `"context": true` and only code and geometry, so an edit can snap
/// to its neighbours' boundaries. Grid boundaries are not personal data.
pub async fn grids(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<GridsQuery>,
) -> Json<Value> {
    let p = state.project();
    let feature = |g: &gridmap_store::StoredGrid| {
        json!({
            "type": "Feature", "id": g.grid.code,
            "properties": {"code": g.grid.code, "name": g.grid.name, "village": g.grid.village, "version": g.version},
            "geometry": geometry_json(&g.grid.geometry),
        })
    };
    let (mine, others): (Vec<_>, Vec<_>) =
        p.grids.iter().partition(|g| visible(&user, &p, &g.grid));
    let mut features: Vec<Value> = mine.iter().map(|g| feature(g)).collect();
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
                features.push(json!({
                    "type": "Feature", "id": g.grid.code,
                    "properties": {"code": g.grid.code, "context": true},
                    "geometry": geometry_json(&g.grid.geometry),
                }));
            }
        }
    }
    Json(json!({"type": "FeatureCollection", "features": features}))
}

/// `GET /api/grids/{code}`: one grid, with its version as the `ETag`.
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
    let body = json!({
        "type": "Feature", "id": g.grid.code,
        "properties": {"code": g.grid.code, "name": g.grid.name, "village": g.grid.village, "version": g.version},
        "geometry": geometry_json(&g.grid.geometry),
    });
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", g.version)) {
        headers.insert(header::ETAG, v);
    }
    Ok((headers, Json(body)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct StatsQuery {
    by: Option<String>,
}

#[derive(Default)]
struct Row {
    buildings: u64,
    households: u64,
    visited_buildings: u64,
    visited_households: u64,
    flagged: u64,
}

/// `GET /api/stats?by=grid|village`: per grid or village in scope: buildings, households,
/// visited, visit rate (visited households / households), flagged visits, and the ranking by
/// visit rate.
pub async fn stats(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<StatsQuery>,
) -> Result<Json<Value>, AppError> {
    let by = q.by.as_deref().unwrap_or("grid");
    if by != "grid" && by != "village" {
        return Err(AppError::BadRequest(format!(
            "by must be grid or village, not {by}"
        )));
    }
    let p = state.project();
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    for g in &p.grids {
        if visible(&user, &p, &g.grid) {
            let key = if by == "grid" {
                g.grid.code.clone()
            } else {
                g.grid.village.clone().unwrap_or_default()
            };
            rows.entry(key).or_default();
        }
    }
    for (i, b) in p.buildings.iter().enumerate() {
        let Some(code) = p.grid_of(i) else { continue };
        let Some(g) = p.grid(code) else { continue };
        if !visible(&user, &p, &g.grid) {
            continue;
        }
        let key = if by == "grid" {
            code.to_string()
        } else {
            g.grid.village.clone().unwrap_or_default()
        };
        let row = rows.entry(key).or_default();
        row.buildings += 1;
        row.households += u64::from(b.households);
        if p.last_visit.get(&b.id) == Some(&VisitOutcome::Visited) {
            row.visited_buildings += 1;
            row.visited_households += u64::from(b.households);
        }
    }
    for v in &p.visits {
        if v.note
            .as_deref()
            .is_some_and(|n| n.starts_with("[flagged]"))
            && let Some(&i) = v.building.as_ref().and_then(|b| p.building_by_id.get(b))
            && let Some(code) = p.grid_of(i as usize)
            && let Some(g) = p.grid(code)
        {
            let key = if by == "grid" {
                code.to_string()
            } else {
                g.grid.village.clone().unwrap_or_default()
            };
            if let Some(row) = rows.get_mut(&key) {
                row.flagged += 1;
            }
        }
    }
    let rate = |r: &Row| {
        if r.households > 0 {
            r.visited_households as f64 / r.households as f64
        } else if r.buildings > 0 {
            r.visited_buildings as f64 / r.buildings as f64
        } else {
            0.0
        }
    };
    // People linked to houses in buildings (人房关联), from the registers.
    let registers = p.registers.get_or_init(|| {
        let store = state
            .0
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        use gridmap_store::registers::GroupBy;
        Some((
            store.register_stats(GroupBy::Grid).ok()?,
            store.register_stats(GroupBy::Village).ok()?,
        ))
    });
    let linkage = |key: &str| -> (usize, usize, Option<f64>) {
        let Some((g, v)) = registers else {
            return (0, 0, None);
        };
        let groups = if by == "grid" { &g.groups } else { &v.groups };
        groups
            .iter()
            .find(|s| s.code == key)
            .map_or((0, 0, None), |s| {
                (s.people, s.people_linked, s.linkage_rate)
            })
    };
    let expected = expected_rate(&state.0.settings);
    let mut ranked: Vec<(&String, &Row)> = rows.iter().collect();
    ranked.sort_by(|a, b| rate(b.1).total_cmp(&rate(a.1)).then(a.0.cmp(b.0)));
    let out: Vec<Value> = ranked
        .iter()
        .enumerate()
        .map(|(rank, (key, r))| {
            let (people, people_linked, linkage_rate) = linkage(key);
            json!({
                "people": people, "people_linked": people_linked, "linkage_rate": linkage_rate,
                by: key, "rank": rank + 1, "buildings": r.buildings, "households": r.households,
                "visited_buildings": r.visited_buildings, "visited_households": r.visited_households,
                "visit_rate": rate(r), "expected_rate": expected, "flagged_visits": r.flagged,
                "behind_schedule": expected.is_some_and(|e| rate(r) + 1e-9 < e),
            })
        })
        .collect();
    Ok(Json(json!({
        "by": by, "rows": out, "expected_rate": expected,
        "campaign": {"start": state.0.settings.campaign_start, "end": state.0.settings.campaign_end,
                     "target_visit_rate": 1.0, "target_linkage_rate": 0.95},
    })))
}

#[derive(Debug, Deserialize)]
pub struct NewVisit {
    building: String,
    house: Option<String>,
    /// RFC 3339; the server's time when absent.
    time: Option<String>,
    outcome: String,
    lon: Option<f64>,
    lat: Option<f64>,
    note: Option<String>,
}

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

/// `POST /api/visits`: records a visit by the signed-in worker. A GPS point farther than the
/// configured distance (50 m by default) from the building is stored but flagged.
pub async fn post_visit(
    State(state): State<AppState>,
    user: AuthUser,
    Json(v): Json<NewVisit>,
) -> Result<Json<Value>, AppError> {
    let p = state.project();
    let &i = p
        .building_by_id
        .get(&v.building)
        .ok_or_else(|| AppError::NotFound(format!("building {}", v.building)))?;
    let in_scope = p
        .grid_of(i as usize)
        .and_then(|c| p.grid(c))
        .is_some_and(|g| visible(&user, &p, &g.grid));
    if !in_scope {
        return Err(AppError::Forbidden);
    }
    let outcome = VisitOutcome::parse(&v.outcome).ok_or_else(|| {
        AppError::BadRequest(format!(
            "outcome must be one of visited, nobody_home, refused, demolished, newly_found, not {}",
            v.outcome
        ))
    })?;
    let point = match (v.lon, v.lat) {
        (Some(x), Some(y)) if x.abs() <= 180.0 && y.abs() <= 90.0 => Some(geo::Point::new(x, y)),
        (None, None) => None,
        _ => {
            return Err(AppError::BadRequest(
                "give both lon and lat in degrees, or neither".into(),
            ));
        }
    };
    let distance = point.map(|pt| distance_to_building(&p.buildings[i as usize], pt.0));
    let flagged = distance.is_some_and(|d| d > state.0.settings.gps_flag_m);
    let id = format!("visit-{}-{}", v.building, p.visits.len() + 1);
    let note = match (flagged, v.note) {
        (true, n) => Some(format!(
            "[flagged] GPS {:.0} m from the building{}",
            distance.unwrap_or_default(),
            n.map(|n| format!("; {n}")).unwrap_or_default()
        )),
        (false, n) => n,
    };
    let visit = Visit {
        id: id.clone(),
        building: Some(v.building.clone()),
        house: v.house,
        worker: user.0.username.clone(),
        time: v.time.unwrap_or_else(now_rfc3339),
        outcome,
        point,
        note,
    };
    let touched = p.buildings[i as usize].footprint_rect();
    state.write(touched, |s| {
        use gridmap_store::Store;
        s.import_visits(std::slice::from_ref(&visit), gridmap_store::Mode::Append)?;
        Ok(())
    })?;
    Ok(Json(
        json!({"id": id, "flagged": flagged, "distance_m": distance}),
    ))
}

fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[derive(Debug, Deserialize)]
pub struct Candidate {
    /// A GeoJSON Feature with a `code` property and a Polygon or MultiPolygon.
    feature: Value,
}

fn parse_grid(feature: &Value) -> Result<Grid, AppError> {
    let props = feature
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_else(Map::new);
    let code = props
        .get("code")
        .and_then(Value::as_str)
        .ok_or_else(|| AppError::BadRequest("the feature needs a `code` property".into()))?
        .to_string();
    let geometry: geojson::Geometry = serde_json::from_value(
        feature
            .get("geometry")
            .cloned()
            .ok_or_else(|| AppError::BadRequest("the feature has no geometry".into()))?,
    )
    .map_err(|e| AppError::BadRequest(format!("not a GeoJSON geometry: {e}")))?;
    let g: Geometry = Geometry::try_from(geometry)
        .map_err(|e| AppError::BadRequest(format!("unsupported geometry: {e}")))?;
    let geometry = match g {
        Geometry::Polygon(p) => MultiPolygon(vec![p]),
        Geometry::MultiPolygon(m) => m,
        other => {
            return Err(AppError::BadRequest(format!(
                "a grid must be a Polygon or MultiPolygon, not {}",
                geometry_name(&other)
            )));
        }
    };
    Ok(Grid {
        code,
        name: props.get("name").and_then(Value::as_str).map(String::from),
        village: props
            .get("village")
            .and_then(Value::as_str)
            .map(String::from),
        geometry,
    })
}

fn geometry_name(g: &Geometry) -> &'static str {
    match g {
        Geometry::Point(_) => "a Point",
        Geometry::LineString(_) | Geometry::Line(_) => "a LineString",
        Geometry::MultiPoint(_) => "a MultiPoint",
        Geometry::MultiLineString(_) => "a MultiLineString",
        _ => "this geometry",
    }
}

/// `POST /api/validate` `{"feature": GeoJSON Feature}`: what saving this grid would do, without
/// saving: whether its geometry is valid, the overlaps and gaps it would take part in, and the
/// buildings that would change grid.
pub async fn validate_candidate(
    State(state): State<AppState>,
    user: AuthUser,
    Json(c): Json<Candidate>,
) -> Result<Json<Value>, AppError> {
    let candidate = parse_grid(&c.feature)?;
    let p = state.project();
    if !user.edits_grids()
        || !user.sees_grid(&p.town.code, &candidate.code, candidate.village.as_deref())
    {
        return Err(AppError::Forbidden);
    }
    Ok(Json(impact(&p, &candidate)))
}

/// The validator's verdict on the grid layer with `candidate` in place of its namesake, within
/// its parent (its village's boundary when known, else the town's): overlaps with neighbours,
/// gaps, the area reaching outside the parent, buildings that change grid. Each overlap and gap
/// carries its `geometry` (GeoJSON) for the editor to draw; `summary` totals the overlap and
/// gap areas (m²) and counts the buildings changing grid.
pub fn impact(p: &Project, candidate: &Grid) -> Value {
    let mut grids: Vec<Grid> = p
        .grids
        .iter()
        .filter(|g| g.grid.code != candidate.code)
        .map(|g| g.grid.clone())
        .collect();
    grids.push(candidate.clone());
    // The parent: the grid's village when its boundary is known, else the town.
    let parent = candidate
        .village
        .as_deref()
        .and_then(|code| p.villages.iter().find(|v| v.code == code))
        .and_then(|v| v.boundary.as_ref())
        .or(p.town.boundary.as_ref());
    let input = CoverageInput {
        grids: &grids,
        buildings: &p.buildings,
        boundary: parent,
        ..CoverageInput::default()
    };
    let coverage = validate(&input, &Options::default(), &mut |_| {});
    let r = &coverage.report;
    let invalid: Vec<&str> = r
        .invalid_grids
        .iter()
        .filter(|g| g.grid == candidate.code)
        .map(|g| g.reason.as_str())
        .collect();
    let overlaps: Vec<Value> = r
        .overlaps
        .iter()
        .filter(|o| o.grids.contains(&candidate.code))
        .map(|o| {
            json!({"grids": o.grids, "area_m2": o.area_m2, "buildings": o.buildings,
                   "geometry": geometry_json(&o.geometry)})
        })
        .collect();
    let gaps: Vec<Value> = r
        .gaps
        .iter()
        .map(|g| {
            json!({"area_m2": g.area_m2, "point": g.point, "buildings": g.buildings,
                   "geometry": polygon_json(&g.geometry)})
        })
        .collect();
    let overlap_area_m2: f64 = r
        .overlaps
        .iter()
        .filter(|o| o.grids.contains(&candidate.code))
        .map(|o| o.area_m2)
        .sum();
    let gap_area_m2: f64 = r.gaps.iter().map(|g| g.area_m2).sum();
    let mut moved = Vec::new();
    for (i, a) in coverage.assignments.iter().enumerate() {
        let before = p.grid_of(i);
        let after = a.grid().map(|g| grids[g as usize].code.as_str());
        if before != after && (before == Some(&candidate.code) || after == Some(&candidate.code)) {
            moved.push(json!({"building": p.buildings[i].id, "from": before, "to": after}));
        }
    }
    json!({
        "grid": candidate.code,
        "valid": invalid.is_empty(),
        "invalid_reasons": invalid,
        "overlaps": overlaps,
        "gaps": gaps,
        "buildings_changing_grid": moved,
        "outside_parent": r.outside_boundary.iter().filter(|o| o.grid == candidate.code).map(|o| o.area_m2).next(),
        "ok": invalid.is_empty() && overlaps.is_empty(),
        "summary": {"overlap_area_m2": overlap_area_m2, "gap_area_m2": gap_area_m2,
                    "buildings_changing_grid": moved.len()},
    })
}

/// The `reason` of an edit, required and non-blank: it goes into the grid's history.
fn reason_of(body: &Value) -> Result<String, AppError> {
    body.get("reason")
        .and_then(Value::as_str)
        .filter(|r| !r.trim().is_empty())
        .map(str::to_string)
        .ok_or_else(|| AppError::BadRequest("say why in `reason`".into()))
}

/// The validator's verdict on saving `candidate`: 400 for an invalid geometry, 409 when it would
/// create overlaps unless `force`.
fn save_verdict(p: &Project, candidate: &Grid, force: bool) -> Result<Value, AppError> {
    let verdict = impact(p, candidate);
    if verdict["valid"] == Value::Bool(false) {
        return Err(AppError::BadRequest(format!(
            "invalid geometry: {}",
            verdict["invalid_reasons"]
        )));
    }
    if verdict["ok"] == Value::Bool(false) && !force {
        // Grids and areas only: the geometries would drown the message.
        let overlaps: Vec<String> = verdict["overlaps"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|o| {
                format!(
                    "{} ({:.1} m², {} buildings)",
                    o["grids"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(" × "),
                    o["area_m2"].as_f64().unwrap_or_default(),
                    o["buildings"].as_array().map_or(0, Vec::len)
                )
            })
            .collect();
        return Err(AppError::Conflict(format!(
            "saving would create overlaps: {}; send \"force\": true to save anyway",
            overlaps.join(", ")
        )));
    }
    Ok(verdict)
}

/// `PUT /api/grids/{code}` with `If-Match: "VERSION"` and `{"feature", "reason", "force"}`:
/// saves a grid after validating it. Refused with 409 when it would create overlaps, unless
/// `force`; with 412 when someone saved a newer version since.
pub async fn put_grid(
    State(state): State<AppState>,
    user: AuthUser,
    Path(code): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Result<Json<Value>, AppError> {
    let feature = body.get("feature").ok_or_else(|| {
        AppError::BadRequest("send {\"feature\": GeoJSON Feature, \"reason\": text}".into())
    })?;
    let mut candidate = parse_grid(feature)?;
    if candidate.code != code {
        return Err(AppError::BadRequest(format!(
            "the feature's code {} differs from the URL's {code}",
            candidate.code
        )));
    }
    let reason = reason_of(&body)?;
    let force = body.get("force").and_then(Value::as_bool).unwrap_or(false);
    let expected = match headers.get(header::IF_MATCH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .map(|s| s.trim_matches('"'))
                .and_then(|s| s.parse::<u32>().ok())
                .ok_or_else(|| {
                    AppError::BadRequest("If-Match must be a version like \"3\"".into())
                })?,
        ),
    };
    let p = state.project();
    let existing = p.grid(&code);
    if candidate.village.is_none() {
        candidate.village = existing.and_then(|g| g.grid.village.clone());
    }
    if !user.edits_grids()
        || !user.sees_grid(&p.town.code, &code, candidate.village.as_deref())
        || existing.is_some_and(|g| !visible(&user, &p, &g.grid))
    {
        return Err(AppError::Forbidden);
    }
    if existing.is_some() && expected.is_none() {
        return Err(AppError::PreconditionFailed(
            "send If-Match with the version you edited (GET /api/grids/{code} gives it as ETag)"
                .into(),
        ));
    }
    let verdict = save_verdict(&p, &candidate, force)?;
    let change = gridmap_store::Change {
        who: user.0.username.clone(),
        why: reason,
    };
    let touched = union_rect(
        existing.and_then(|g| g.grid.geometry.bounding_rect()),
        candidate.geometry.bounding_rect(),
    );
    let version = state.write(touched, |s| {
        use gridmap_store::Store;
        Ok(s.save_grid(&candidate, expected, &change)?)
    })?;
    state.0.tiles.clear_layer("problems");
    Ok(Json(
        json!({"grid": code, "version": version, "validation": verdict}),
    ))
}

/// `POST /api/grids` `{"feature", "reason", "force"}`: creates a grid after validating it
/// (409 if the code exists or, without `force`, if it would create overlaps).
pub async fn post_grid(
    State(state): State<AppState>,
    user: AuthUser,
    Json(body): Json<Value>,
) -> Result<Json<Value>, AppError> {
    let feature = body.get("feature").ok_or_else(|| {
        AppError::BadRequest("send {\"feature\": GeoJSON Feature, \"reason\": text}".into())
    })?;
    let candidate = parse_grid(feature)?;
    let p = state.project();
    if p.grid(&candidate.code).is_some() {
        return Err(AppError::Conflict(format!(
            "grid {} exists; change it with PUT /api/grids/{}",
            candidate.code, candidate.code
        )));
    }
    if !user.edits_grids()
        || !user.sees_grid(&p.town.code, &candidate.code, candidate.village.as_deref())
    {
        return Err(AppError::Forbidden);
    }
    let reason = reason_of(&body)?;
    let force = body.get("force").and_then(Value::as_bool).unwrap_or(false);
    let verdict = save_verdict(&p, &candidate, force)?;
    let change = gridmap_store::Change {
        who: user.0.username.clone(),
        why: reason,
    };
    let version = state.write(candidate.geometry.bounding_rect(), |s| {
        use gridmap_store::Store;
        Ok(s.save_grid(&candidate, Some(0), &change)?)
    })?;
    state.0.tiles.clear_layer("problems");
    Ok(Json(
        json!({"grid": candidate.code, "version": version, "validation": verdict}),
    ))
}

/// `DELETE /api/grids/{code}` with `If-Match: "VERSION"` and `?reason=`: deletes a grid,
/// keeping its history.
pub async fn delete_grid(
    State(state): State<AppState>,
    user: AuthUser,
    Path(code): Path<String>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Json<Value>, AppError> {
    let p = state.project();
    let g = p
        .grid(&code)
        .ok_or_else(|| AppError::NotFound(format!("grid {code}")))?;
    if !user.edits_grids() || !visible(&user, &p, &g.grid) {
        return Err(AppError::Forbidden);
    }
    let expected = headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim_matches('"').parse::<u32>().ok())
        .ok_or_else(|| {
            AppError::PreconditionFailed("send If-Match with the version you saw".into())
        })?;
    let reason = q
        .get("reason")
        .filter(|r| !r.trim().is_empty())
        .cloned()
        .ok_or_else(|| AppError::BadRequest("say why: ?reason=…".into()))?;
    let change = gridmap_store::Change {
        who: user.0.username.clone(),
        why: reason,
    };
    let touched = g.grid.geometry.bounding_rect();
    state.write(touched, |s| {
        use gridmap_store::Store;
        Ok(s.delete_grid(&code, Some(expected), &change)?)
    })?;
    state.0.tiles.clear_layer("problems");
    Ok(Json(json!({"grid": code, "deleted": true})))
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

/// `GET /api/stats.xlsx?by=grid|village`: the same table as an Excel workbook.
pub async fn stats_xlsx(
    state: State<AppState>,
    user: AuthUser,
    query: Query<StatsQuery>,
) -> Result<Response, AppError> {
    let Json(table) = stats(state, user, query).await?;
    let by = table["by"].as_str().unwrap_or("grid").to_string();
    let cols = stats_columns(&by);
    let xlsx = |e: rust_xlsxwriter::XlsxError| AppError::Internal(e.to_string());
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("stats").map_err(xlsx)?;
    for (c, name) in cols.iter().enumerate() {
        sheet.write_string(0, c as u16, *name).map_err(xlsx)?;
    }
    for (r, row) in table["rows"].as_array().into_iter().flatten().enumerate() {
        for (c, name) in cols.iter().enumerate() {
            let (r, c) = (r as u32 + 1, c as u16);
            match &row[*name] {
                Value::Number(n) => {
                    sheet
                        .write_number(r, c, n.as_f64().unwrap_or_default())
                        .map_err(xlsx)?;
                }
                Value::String(t) => {
                    sheet.write_string(r, c, t.as_str()).map_err(xlsx)?;
                }
                _ => {}
            }
        }
    }
    let bytes = book.save_to_buffer().map_err(xlsx)?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"gridmap-stats.xlsx\""),
    );
    Ok((headers, bytes).into_response())
}

/// `GET /api/stats.csv?by=grid|village`: the same table as CSV, for the monthly report.
pub async fn stats_csv(
    state: State<AppState>,
    user: AuthUser,
    query: Query<StatsQuery>,
) -> Result<Response, AppError> {
    let Json(table) = stats(state, user, query).await?;
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

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (or the date part of an RFC 3339 time).
pub(crate) fn day_number(date: &str) -> Option<i64> {
    let mut it = date.get(..10)?.split('-');
    let (y, m, d): (i64, i64, i64) = (
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// The visit rate expected by today when visits progress linearly over the campaign (target
/// 100%), `None` without a campaign.
pub fn expected_rate(settings: &crate::state::Settings) -> Option<f64> {
    let start = day_number(settings.campaign_start.as_deref()?)?;
    let end = day_number(settings.campaign_end.as_deref()?)?;
    let today = day_number(&now_rfc3339())?;
    if end <= start {
        return Some(1.0);
    }
    Some(((today - start) as f64 / (end - start) as f64).clamp(0.0, 1.0))
}

/// The smallest rectangle holding both (either may be missing).
pub(crate) fn union_rect(a: Option<Rect>, b: Option<Rect>) -> Option<Rect> {
    match (a, b) {
        (Some(a), Some(b)) => Some(Rect::new(
            Coord {
                x: a.min().x.min(b.min().x),
                y: a.min().y.min(b.min().y),
            },
            Coord {
                x: a.max().x.max(b.max().x),
                y: a.max().y.max(b.max().y),
            },
        )),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_count_days() {
        assert_eq!(day_number("1970-01-01"), Some(0));
        assert_eq!(day_number("2026-11-21"), Some(20_778));
        assert_eq!(
            day_number("2024-03-01")
                .zip(day_number("2024-02-28"))
                .map(|(a, b)| a - b),
            Some(2)
        );
        assert_eq!(day_number("2026-13-01"), None);
        assert!(now_rfc3339().starts_with("20"));
    }
}
