//! Uncovered blocks for the supervisor's list: clusters of unvisited buildings, and of
//! buildings in no grid or in several, in the caller's area ([`crate::scope::Scope`]), as
//! polygons with counts.
//!
//! Buildings are clustered by single linkage: two buildings whose locations are within
//! `eps` metres (default 50 m) join one block. Each block's polygon is the convex hull of its
//! buildings' footprints. Blocks are listed largest first (households, then buildings).

use std::collections::HashMap;

use crate::extract::Json;
use crate::extract::Query;
use axum::extract::State;
use geo::{ConvexHull, Coord, CoordsIter, MultiPoint, Point};
use gridmap_core::assign::Assignment;
use gridmap_core::geodesy::LocalMetres;
use rstar::RTree;
use rstar::primitives::GeomWithData;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::state::{AppState, Project};

#[derive(Debug, Deserialize)]
pub struct UncoveredQuery {
    /// Linkage distance in metres (5–500).
    eps: Option<f64>,
    /// At most this many blocks of each kind.
    limit: Option<usize>,
}

/// Clusters `members` (building indices) by single linkage within `eps` metres.
fn clusters(p: &Project, members: &[usize], eps: f64) -> Vec<Vec<usize>> {
    let Some(origin) = members.first().and_then(|&i| p.location(i)) else {
        return Vec::new();
    };
    let frame = LocalMetres::at(origin);
    let pts: Vec<GeomWithData<[f64; 2], usize>> = members
        .iter()
        .filter_map(|&i| {
            let c = frame.project(p.location(i)?);
            Some(GeomWithData::new([c.x, c.y], i))
        })
        .collect();
    let tree = RTree::bulk_load(pts.clone());
    let mut label: HashMap<usize, usize> = HashMap::new();
    let mut out = Vec::new();
    for start in &pts {
        if label.contains_key(&start.data) {
            continue;
        }
        let id = out.len();
        let mut block = vec![start.data];
        label.insert(start.data, id);
        let mut stack = vec![*start.geom()];
        while let Some(at) = stack.pop() {
            for n in tree.locate_within_distance(at, eps * eps) {
                if let std::collections::hash_map::Entry::Vacant(e) = label.entry(n.data) {
                    e.insert(id);
                    block.push(n.data);
                    stack.push(*n.geom());
                }
            }
        }
        out.push(block);
    }
    out
}

fn block_json(p: &Project, kind: &str, block: &[usize]) -> Value {
    let coords: Vec<Point> = block
        .iter()
        .flat_map(|&i| p.building_geometry[i].coords_iter().collect::<Vec<Coord>>())
        .map(Point)
        .collect();
    let hull = MultiPoint(coords).convex_hull();
    let ring: Vec<Value> = hull
        .exterior()
        .0
        .iter()
        .map(|c| json!([c.x, c.y]))
        .collect();
    let households: u64 = block
        .iter()
        .map(|&i| u64::from(p.buildings[i].households))
        .sum();
    let mut ids: Vec<&str> = block.iter().map(|&i| p.buildings[i].id.as_str()).collect();
    ids.sort_unstable();
    let centre = hull
        .exterior()
        .0
        .first()
        .copied()
        .unwrap_or(Coord { x: 0.0, y: 0.0 });
    json!({
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {
            "kind": kind, "buildings": block.len(), "households": households,
            "building_ids": ids, "zoom_to": [centre.x, centre.y],
        },
    })
}

/// The kinds of uncovered block, in the order they are listed.
pub const KINDS: [&str; 3] = ["unvisited", "in_no_grid", "in_many_grids"];

/// `GET /api/uncovered?eps=50&limit=100`: blocks of unvisited buildings in the caller's scope
/// and of buildings in no grid or in several that the caller's area holds, as a GeoJSON
/// FeatureCollection.
pub async fn uncovered(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<UncoveredQuery>,
) -> Result<Json<Value>, AppError> {
    crate::reading(move || uncovered_now(state, user, q)).await
}

/// [`uncovered`], on a blocking thread.
fn uncovered_now(
    state: AppState,
    user: AuthUser,
    q: UncoveredQuery,
) -> Result<Json<Value>, AppError> {
    let eps = q.eps.unwrap_or(50.0);
    if !(5.0..=500.0).contains(&eps) {
        return Err(AppError::BadRequest(format!(
            "eps is a distance in metres between 5 and 500, not {eps}"
        )));
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    let p = state.project();
    let mut unvisited = Vec::new();
    let mut no_grid = Vec::new();
    let mut many = Vec::new();
    let scope = user.scope(&p);
    let live = p.live();
    // Buildings in no grid or in several are listed to whoever's area holds them (the one
    // rule of scope): town-level users, and the manager of the village they lie in.
    for i in 0..p.buildings.len() {
        if !scope.building(i) {
            continue;
        }
        match &p.assignment[i] {
            Assignment::One { .. } => {
                if !live.visited(i) {
                    unvisited.push(i);
                }
            }
            Assignment::Many(_) => many.push(i),
            Assignment::NoGrid => no_grid.push(i),
        }
    }
    let mut features = Vec::new();
    for (kind, members) in KINDS.into_iter().zip([unvisited, no_grid, many]) {
        let mut blocks = clusters(&p, &members, eps);
        let weight = |b: &Vec<usize>| -> (u64, usize) {
            (
                b.iter()
                    .map(|&i| u64::from(p.buildings[i].households))
                    .sum(),
                b.len(),
            )
        };
        blocks.sort_by_key(|b| std::cmp::Reverse(weight(b)));
        features.extend(blocks.iter().take(limit).map(|b| block_json(&p, kind, b)));
    }
    Ok(Json(
        json!({"type": "FeatureCollection", "features": features, "eps_m": eps}),
    ))
}
