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
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::state::{AppState, Project};

/// Query of `GET /api/uncovered`: how buildings are clustered into blocks, and how many.
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
    let pts: Vec<(usize, Coord)> = members
        .iter()
        .filter_map(|&i| Some((i, frame.project(p.location(i)?))))
        .collect();
    single_linkage(&pts, eps)
}

/// The blocks of `pts` (id, position in metres) joined by single linkage within `eps` (squared
/// distances compared, as an R-tree's distance search does): blocks
/// in the order of their first point, each in `pts` order.
///
/// # Performance
/// Points go into square cells of side `eps / √2`, so that the points of one cell are within
/// `eps` of each other and join at once. Cells are taken row by row; a cell joins each of the
/// cells after it up to two away when some pair of their points is within `eps`, checked only
/// when the two are not joined yet (union–find), which in dense areas they mostly are by then.
fn single_linkage(pts: &[(usize, Coord)], eps: f64) -> Vec<Vec<usize>> {
    let side = eps / std::f64::consts::SQRT_2;
    let eps2 = eps * eps;
    let keys: Vec<(i64, i64)> = pts
        .iter()
        .map(|(_, c)| ((c.y / side).floor() as i64, (c.x / side).floor() as i64))
        .collect();
    // Points by cell, cells row by row.
    let mut order: Vec<u32> = (0..pts.len() as u32).collect();
    order.sort_unstable_by_key(|&k| keys[k as usize]);
    let mut cells: Vec<((i64, i64), std::ops::Range<usize>)> = Vec::new();
    for (at, &k) in order.iter().enumerate() {
        let key = keys[k as usize];
        match cells.last_mut() {
            Some((last, range)) if *last == key => range.end = at + 1,
            _ => cells.push((key, at..at + 1)),
        }
    }
    let cell_at = |key: (i64, i64)| cells.binary_search_by(|(k, _)| k.cmp(&key)).ok();
    let mut parent: Vec<u32> = (0..cells.len() as u32).collect();
    fn find(parent: &mut [u32], mut i: u32) -> u32 {
        while parent[i as usize] != i {
            parent[i as usize] = parent[parent[i as usize] as usize];
            i = parent[i as usize];
        }
        i
    }
    let members = |c: usize| order[cells[c].1.clone()].iter().map(|&k| pts[k as usize].1);
    let near = |a: usize, b: usize| {
        members(a).any(|u| {
            members(b).any(|v| (u.x - v.x) * (u.x - v.x) + (u.y - v.y) * (u.y - v.y) <= eps2)
        })
    };
    for (a, &((y, x), _)) in cells.iter().enumerate() {
        for dy in 0..=2i64 {
            for dx in -2..=2i64 {
                if dy == 0 && dx <= 0 {
                    continue;
                }
                let Some(b) = cell_at((y + dy, x + dx)) else {
                    continue;
                };
                let (ra, rb) = (find(&mut parent, a as u32), find(&mut parent, b as u32));
                if ra != rb && near(a, b) {
                    parent[ra.max(rb) as usize] = ra.min(rb);
                }
            }
        }
    }
    // Each point's cell, then blocks in the order of their first point.
    let mut cell_of_point = vec![0u32; pts.len()];
    for (c, (_, range)) in cells.iter().enumerate() {
        for &k in &order[range.clone()] {
            cell_of_point[k as usize] = c as u32;
        }
    }
    let mut block_of_root: HashMap<u32, usize> = HashMap::new();
    let mut out: Vec<Vec<usize>> = Vec::new();
    for (k, (id, _)) in pts.iter().enumerate() {
        let root = find(&mut parent, cell_of_point[k]);
        let b = *block_of_root.entry(root).or_insert_with(|| {
            out.push(Vec::new());
            out.len() - 1
        });
        out[b].push(*id);
    }
    out
}

/// At most this many building ids are listed with a block (the first in order).
const MAX_IDS: usize = 1000;

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
    // The first ids in order name a block; a district's block of a million buildings is not
    // listed whole.
    let mut ids: Vec<&str> = block.iter().map(|&i| p.buildings[i].id.as_str()).collect();
    let truncated = ids.len() > MAX_IDS;
    if truncated {
        ids.select_nth_unstable(MAX_IDS);
        ids.truncate(MAX_IDS);
    }
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
            "building_ids": ids, "building_ids_truncated": truncated,
            "zoom_to": [centre.x, centre.y],
        },
    })
}

/// The kinds of uncovered block, in the order they are listed.
pub const KINDS: [&str; 3] = ["unvisited", "in_no_grid", "in_many_grids"];

/// `GET /api/uncovered?eps=50&limit=100`: blocks of unvisited buildings in the caller's scope
/// and of buildings in no grid or in several that the caller's area holds, as a GeoJSON
/// FeatureCollection.
///
/// Shared by the callers who reach the same part, and made again in the background when more
/// than [`FRESH`] old ([`crate::api::shared_answer`]): a district's blocks take a second of
/// work to make, and change slowly.
pub async fn uncovered(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<UncoveredQuery>,
) -> Result<axum::response::Response, AppError> {
    // Checked before the cache, so that a bad query is refused, not served.
    let eps = check_eps(q.eps)?;
    let key = format!(
        "uncovered|{}|{}|{}",
        user.reach_key(&state.project().town.code),
        eps,
        q.limit.unwrap_or(100)
    );
    let st = state.clone();
    crate::api::shared_answer(&state, key, FRESH, move || {
        uncovered_now(st, user, q).map(|Json(v)| v)
    })
    .await
}

/// How long uncovered blocks are served without being made again.
pub const FRESH: std::time::Duration = std::time::Duration::from_secs(10);

/// The linkage distance of a query, in metres (5–500, 50 by default).
fn check_eps(eps: Option<f64>) -> Result<f64, AppError> {
    let eps = eps.unwrap_or(50.0);
    if !(5.0..=500.0).contains(&eps) {
        return Err(AppError::BadRequest(format!(
            "eps is a distance in metres between 5 and 500, not {eps}"
        )));
    }
    Ok(eps)
}

/// [`uncovered`], on a blocking thread.
fn uncovered_now(
    state: AppState,
    user: AuthUser,
    q: UncoveredQuery,
) -> Result<Json<Value>, AppError> {
    let eps = check_eps(q.eps)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    let p = state.project();
    let mut unvisited = Vec::new();
    let mut no_grid = Vec::new();
    let mut many = Vec::new();
    let scope = user.scope(&p);
    // Buildings in no grid or in several are listed to whoever's area holds them (the one
    // rule of scope): town-level users, and the manager of the village they lie in.
    for i in 0..p.buildings.len() {
        if !scope.building(i) {
            continue;
        }
        match &p.assignment[i] {
            Assignment::One { .. } => unvisited.push(i),
            Assignment::Many(_) => many.push(i),
            Assignment::NoGrid => no_grid.push(i),
        }
    }
    {
        // Held only to look: the writer of visits waits while it is.
        let live = p.live();
        unvisited.retain(|&i| !live.visited(i));
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Connected components of "within `eps`", the slow way.
    fn brute(pts: &[(usize, Coord)], eps: f64) -> Vec<Vec<usize>> {
        let mut block = vec![usize::MAX; pts.len()];
        let mut out: Vec<Vec<usize>> = Vec::new();
        for s in 0..pts.len() {
            if block[s] != usize::MAX {
                continue;
            }
            let id = out.len();
            block[s] = id;
            let (mut stack, mut members) = (vec![s], vec![s]);
            while let Some(a) = stack.pop() {
                for b in 0..pts.len() {
                    let (u, v) = (pts[a].1, pts[b].1);
                    let d2 = (u.x - v.x) * (u.x - v.x) + (u.y - v.y) * (u.y - v.y);
                    if block[b] == usize::MAX && d2 <= eps * eps {
                        block[b] = id;
                        stack.push(b);
                        members.push(b);
                    }
                }
            }
            members.sort_unstable();
            out.push(members.into_iter().map(|k| pts[k].0).collect());
        }
        out
    }

    proptest! {
        #[test]
        fn cells_link_as_the_slow_way_does(
            raw in prop::collection::vec((-300i32..300, -300i32..300), 0..200),
            eps in prop_oneof![Just(50.0), 5.0f64..120.0],
        ) {
            // Half metres, so that distances of exactly `eps` occur.
            let pts: Vec<(usize, Coord)> = raw
                .iter()
                .enumerate()
                .map(|(i, &(x, y))| {
                    (i * 7, Coord { x: f64::from(x) / 2.0, y: f64::from(y) / 2.0 })
                })
                .collect();
            prop_assert_eq!(single_linkage(&pts, eps), brute(&pts, eps));
        }
    }
}
