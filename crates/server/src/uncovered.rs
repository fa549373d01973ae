//! Uncovered blocks for the supervisor's list: clusters of unvisited buildings, and of
//! buildings in no grid or in several, in the caller's area ([`crate::scope::Scope`]), as
//! polygons with counts.
//!
//! Buildings are clustered by single linkage ([`gridmap_stats::cluster`]): two buildings whose
//! locations are within `eps` metres (default 50 m) join one block. Each block's polygon is the
//! convex hull of its buildings' footprints. Blocks are listed largest first (households, then
//! buildings). This module chooses the buildings (scope), caches and writes the answer.

use crate::extract::Json;
use crate::extract::Query;
use axum::extract::State;
use gridmap_core::assign::Assignment;
use gridmap_stats::Block;
use serde::Deserialize;
use serde_json::Value;

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::state::AppState;

/// Query of `GET /api/uncovered`: how buildings are clustered into blocks, and how many.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UncoveredQuery {
    /// Linkage distance in metres (5–500).
    eps: Option<f64>,
    /// At most this many blocks of each kind.
    limit: Option<usize>,
}

/// The answer of `GET /api/uncovered`: a GeoJSON FeatureCollection of blocks.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Blocks {
    /// `FeatureCollection`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The blocks: unvisited, then in no grid, then in several; each kind heaviest first.
    pub features: Vec<BlockFeature>,
    /// The linkage distance used, in metres.
    pub eps_m: f64,
}

/// One block, as a GeoJSON Feature.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct BlockFeature {
    /// `Feature`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The convex hull of its buildings' footprints: a GeoJSON Polygon.
    #[schema(value_type = Object)]
    pub geometry: Value,
    /// What it holds.
    pub properties: BlockProperties,
}

/// The properties of a [`BlockFeature`].
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct BlockProperties {
    /// `unvisited`, `in_no_grid` or `in_many_grids` ([`KINDS`]).
    pub kind: &'static str,
    /// How many buildings.
    pub buildings: usize,
    /// Their households.
    pub households: u64,
    /// Their ids, sorted; the first 1000 of a larger block.
    pub building_ids: Vec<String>,
    /// Whether `building_ids` leaves some out.
    pub building_ids_truncated: bool,
    /// Where to zoom to, `[lon, lat]`.
    pub zoom_to: [f64; 2],
    /// The grid of an `unvisited` block (blocks never span grids); `None` for the others.
    pub grid: Option<String>,
    /// The grid's name, when it has one.
    pub grid_name: Option<String>,
    /// The village the block lies in (its grid's, or the one whose boundary holds it).
    pub village: Option<String>,
    /// The village's name, when known.
    pub village_name: Option<String>,
}

/// Where a block is: its grid and village, with their names.
#[derive(Debug, Clone, Default)]
struct Place {
    grid: Option<String>,
    grid_name: Option<String>,
    village: Option<String>,
    village_name: Option<String>,
}

/// One uncovered block of `kind`, as a feature.
fn block_feature(kind: &'static str, block: Block, place: Place) -> BlockFeature {
    BlockFeature {
        kind: "Feature",
        geometry: gridmap_io::write::geometry_json(&block.hull),
        properties: BlockProperties {
            kind,
            buildings: block.buildings,
            households: block.households,
            building_ids: block.building_ids,
            building_ids_truncated: block.truncated,
            zoom_to: [block.zoom_to.x, block.zoom_to.y],
            grid: place.grid,
            grid_name: place.grid_name,
            village: place.village,
            village_name: place.village_name,
        },
    }
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
#[utoipa::path(get, path = "/api/uncovered", tag = "statistics", params(UncoveredQuery), responses((status = 200, description = "A GeoJSON FeatureCollection of blocks", body = Blocks)))]
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
) -> Result<Json<Blocks>, AppError> {
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
    // Blocks are made within one grid (unvisited) or one village (the others), so that each
    // says where it is and a grid worker's list is their own; the largest `limit` of each kind
    // are listed, largest first.
    let village_name = |code: &str| {
        p.villages
            .iter()
            .find(|v| v.code == code)
            .map(|v| v.name.clone())
            .filter(|n| !n.is_empty())
    };
    let place_of = |i: usize, grid: bool| -> Place {
        let g = grid
            .then(|| p.assignment[i].grid())
            .flatten()
            .and_then(|g| p.grids.get(g as usize));
        let village = match g {
            Some(g) => g.grid.village.clone(),
            None => scope.village_of_building(i).map(str::to_string),
        };
        Place {
            grid: g.map(|g| g.grid.code.clone()),
            grid_name: g.and_then(|g| g.grid.name.clone()),
            village_name: village.as_deref().and_then(village_name),
            village,
        }
    };
    let mut features = Vec::new();
    for (kind, members) in KINDS.into_iter().zip([unvisited, no_grid, many]) {
        let by_grid = kind == "unvisited";
        let mut groups: std::collections::BTreeMap<Option<String>, Vec<usize>> =
            std::collections::BTreeMap::new();
        for i in members {
            let key = if by_grid {
                p.assignment[i].grid().map(|g| g.to_string())
            } else {
                scope.village_of_building(i).map(str::to_string)
            };
            groups.entry(key).or_default().push(i);
        }
        let mut found: Vec<(Block, Place)> = Vec::new();
        for members in groups.values() {
            let place = place_of(members[0], by_grid);
            let blocks = gridmap_stats::cluster::blocks(
                &p.buildings,
                |i| p.location(i),
                members,
                eps,
                limit,
            );
            found.extend(blocks.into_iter().map(|b| (b, place.clone())));
        }
        found.sort_by(|a, b| {
            (b.0.households, b.0.buildings)
                .cmp(&(a.0.households, a.0.buildings))
                .then_with(|| a.0.building_ids.cmp(&b.0.building_ids))
        });
        found.truncate(limit);
        features.extend(
            found
                .into_iter()
                .map(|(b, place)| block_feature(kind, b, place)),
        );
    }
    Ok(Json(Blocks {
        kind: "FeatureCollection",
        features,
        eps_m: eps,
    }))
}
