//! The validation problems of the project as a table, like the QGIS topology checker's error
//! list: `GET /api/problems`.
//!
//! The rows come from the coverage validation the [`Project`] keeps (the same report the
//! `problems` tile layer draws), one row per problem, filtered to the caller's scope:
//!
//! - a problem tied to grids (an overlap, an invalid grid, a grid reaching outside the town, a
//!   building in several grids or straddling one, an address whose declared grid disagrees) is
//!   visible when any of its grids is;
//! - a problem tied to no grid (a gap, a building in no grid, an address in no building and no
//!   declared grid) is visible to town-wide users, and to others when its point lies in their
//!   area ([`crate::scope::Scope::holds_point`]: a village's boundary, a grid's geometry).
//!
//! `type` uses the strings of the `problems` tile layer's `kind` property (`overlap`, `gap`,
//! `in_no_grid`) and the validator's names for the rest, so that the table and the map agree.
//! Ids are `TYPE-N`, N counting from 1 in the report's own order; they are stable for one
//! snapshot of the project, whoever asks.

use std::collections::{BTreeMap, HashMap};

use crate::extract::Json;
use axum::extract::State;
use geo::{BoundingRect, Geometry, InteriorPoint, Rect};

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::state::{AppState, Project};

/// The problem types in the order the table lists them (the validator's one list, see
/// [`gridmap_core::validate::KINDS`]).
pub const TYPES: [&str; 9] = gridmap_core::validate::KINDS;

/// One validation problem.
#[derive(Debug, Clone)]
pub struct Problem {
    /// `TYPE-N`, stable for one project snapshot.
    pub id: String,
    /// One of [`TYPES`].
    pub kind: &'static str,
    /// The grids involved, in the report's order.
    pub grids: Vec<String>,
    /// Area in m² for overlaps, gaps and the part of a grid outside the town; `None` otherwise.
    pub area_m2: Option<f64>,
    /// Buildings inside the problem (1 for a building's own problem).
    pub buildings: usize,
    /// The building or address the problem is about, when it is about one.
    pub building: Option<String>,
    /// The address the problem is about (the two address kinds).
    pub address: Option<String>,
    /// Why a grid is invalid.
    pub reason: Option<String>,
    /// Where the problem is, WGS84 lon/lat: the overlap, gap or outside part, the grid, the
    /// building's footprint or the address point.
    pub geometry: Geometry,
    /// A point inside the problem (or on it), for a marker and to zoom to.
    pub point: Option<geo::Coord>,
}

impl Problem {
    fn new(kind: &'static str, n: usize, geometry: Geometry) -> Problem {
        Problem {
            id: format!("{kind}-{}", n + 1),
            kind,
            grids: Vec::new(),
            area_m2: None,
            buildings: 0,
            building: None,
            address: None,
            reason: None,
            point: inside(&geometry),
            geometry,
        }
    }

    /// The problem as a row of the table.
    pub fn row(&self) -> ProblemRow {
        let bbox = self
            .geometry
            .bounding_rect()
            .map(|r: Rect| [r.min().x, r.min().y, r.max().x, r.max().y]);
        ProblemRow {
            id: self.id.clone(),
            kind: self.kind,
            grids: self.grids.clone(),
            area_m2: self.area_m2,
            buildings: self.buildings,
            building: self.building.clone(),
            address: self.address.clone(),
            reason: self.reason.clone(),
            bbox,
            point: self.point.map(|c| [c.x, c.y]),
        }
    }
}

/// One row of `GET /api/problems`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ProblemRow {
    /// `TYPE-N`, stable for one project snapshot.
    pub id: String,
    /// One of [`TYPES`].
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The grids involved.
    pub grids: Vec<String>,
    /// Area in m² for overlaps, gaps and the part of a grid outside the town.
    pub area_m2: Option<f64>,
    /// Buildings inside the problem.
    pub buildings: usize,
    /// The building the problem is about, when it is about one.
    pub building: Option<String>,
    /// The address the problem is about.
    pub address: Option<String>,
    /// Why a grid is invalid.
    pub reason: Option<String>,
    /// Its bounds, `[west, south, east, north]`.
    pub bbox: Option<[f64; 4]>,
    /// A point inside it, `[lon, lat]`.
    pub point: Option<[f64; 2]>,
}

/// The answer of `GET /api/problems`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Problems {
    /// The problems in the caller's scope.
    pub problems: Vec<ProblemRow>,
    /// How many of each type (every type, zero when none is visible).
    pub counts: BTreeMap<&'static str, usize>,
}

/// A point in (or on) a geometry: an interior point of an area, else its first coordinate's
/// bounding-box centre.
fn inside(g: &Geometry) -> Option<geo::Coord> {
    let interior = match g {
        Geometry::Polygon(p) => p.interior_point(),
        Geometry::MultiPolygon(m) => m.interior_point(),
        Geometry::Point(p) => Some(*p),
        _ => None,
    };
    interior
        .map(|p| p.0)
        .or_else(|| g.bounding_rect().map(|r| r.center()))
}

/// Every problem of the project's validation report, in the report's order within each type
/// (not filtered by scope).
///
/// # Performance
/// Clones the problem geometries: O(size of the report).
pub fn all(p: &Project) -> Vec<Problem> {
    use gridmap_core::validate::Problem as P;
    let building = |id: &str| p.building_by_id.get(id).map(|&i| i as usize);
    let building_geometry = |id: &str| {
        building(id).map_or(Geometry::GeometryCollection(Default::default()), |i| {
            p.building_shape(i)
        })
    };
    let mut per_grid: Option<HashMap<&str, usize>> = None;
    let needs_addresses = !p.report.addresses.not_in_building.is_empty()
        || !p.report.addresses.grid_mismatch.is_empty();
    let address: HashMap<&str, &gridmap_core::model::Address> = if needs_addresses {
        p.addresses.iter().map(|a| (a.id.as_str(), a)).collect()
    } else {
        HashMap::new()
    };
    let address_point = |id: &str| {
        address
            .get(id)
            .map_or(Geometry::GeometryCollection(Default::default()), |a| {
                Geometry::Point(a.point)
            })
    };
    let mut out = Vec::new();
    for (n, problem) in p.report.problems() {
        let geometry = match problem {
            P::InvalidGrid(g) => p
                .grid(&g.grid)
                .map_or(Geometry::GeometryCollection(Default::default()), |s| {
                    Geometry::MultiPolygon(s.grid.geometry.clone())
                }),
            P::Overlap(o) => Geometry::MultiPolygon(o.geometry.clone()),
            P::Gap(g) => Geometry::Polygon(g.geometry.clone()),
            P::OutsideBoundary(o) => Geometry::MultiPolygon(o.geometry.clone()),
            P::InNoGrid(id) => building_geometry(id),
            P::InManyGrids(m) => building_geometry(&m.building),
            P::Straddling(s) => building_geometry(&s.building),
            P::AddressNotInBuilding(a) => address_point(&a.address),
            P::AddressGridMismatch(a) => address_point(&a.address),
        };
        let mut x = Problem::new(problem.kind(), n, geometry);
        x.grids = problem.grids().into_iter().map(str::to_string).collect();
        x.area_m2 = problem.area_m2();
        x.building = problem.building().map(str::to_string);
        x.address = problem.address().map(str::to_string);
        x.buildings = problem.buildings_inside().map_or(0, <[String]>::len);
        match problem {
            P::InvalidGrid(g) => {
                let per_grid = per_grid.get_or_insert_with(|| {
                    let mut m = HashMap::new();
                    for i in 0..p.buildings.len() {
                        if let Some(code) = p.grid_of(i) {
                            *m.entry(code).or_insert(0) += 1;
                        }
                    }
                    m
                });
                // An invalid ring has no reliable interior: mark the middle of its bounds.
                x.point = x.geometry.bounding_rect().map(|r| r.center());
                x.buildings = per_grid.get(g.grid.as_str()).copied().unwrap_or(0);
                x.reason = Some(g.reason.clone());
            }
            P::Gap(g) => {
                x.point = Some(geo::Coord {
                    x: g.point[0],
                    y: g.point[1],
                });
            }
            P::InNoGrid(_) | P::InManyGrids(_) | P::Straddling(_) => {
                x.point = problem
                    .building()
                    .and_then(building)
                    .and_then(|i| p.location(i))
                    .or(x.point);
                x.buildings = 1;
            }
            P::AddressNotInBuilding(a) => {
                // The grid the address declares, for scope.
                x.grids = address
                    .get(a.address.as_str())
                    .and_then(|a| a.declared_grid.clone())
                    .into_iter()
                    .collect();
            }
            _ => {}
        }
        out.push(x);
    }
    out
}

/// Whether a problem is in the area of `scope` (see the module's rules), by the one rule of
/// scope: by its grids when it has any, else by where it lies.
fn sees(scope: &crate::scope::Scope, x: &Problem) -> bool {
    if scope.town_wide() {
        return true;
    }
    if !x.grids.is_empty() {
        return x.grids.iter().any(|g| scope.grid_code(g));
    }
    x.point.is_some_and(|at| scope.holds_point(at))
}

/// The problems `user` may see, sorted by type (in [`TYPES`] order), then area, largest first,
/// then id.
pub fn visible(p: &Project, user: &AuthUser) -> Vec<Problem> {
    let scope = user.scope(p);
    let mut out: Vec<Problem> = all(p).into_iter().filter(|x| sees(&scope, x)).collect();
    let rank = |k: &str| TYPES.iter().position(|t| *t == k).unwrap_or(TYPES.len());
    out.sort_by(|a, b| {
        rank(a.kind)
            .cmp(&rank(b.kind))
            .then(
                b.area_m2
                    .unwrap_or(0.0)
                    .total_cmp(&a.area_m2.unwrap_or(0.0)),
            )
            .then_with(|| natural(&a.id).cmp(&natural(&b.id)))
    });
    out
}

/// An id as (type, number), so that `gap-10` sorts after `gap-9`.
fn natural(id: &str) -> (&str, usize) {
    match id.rsplit_once('-') {
        Some((kind, n)) => (kind, n.parse().unwrap_or(0)),
        None => (id, 0),
    }
}

/// `GET /api/problems` → `{"problems": [{"id", "type", "grids", "area_m2", "buildings",
/// "building", "address", "reason", "bbox": [w, s, e, n], "point": [lon, lat]}], "counts":
/// {type: n}}`: the current validation problems in the caller's scope. `counts` has every type
/// of [`TYPES`], zero when none is visible.
#[utoipa::path(get, path = "/api/problems", tag = "grids", responses((status = 200, description = "Problems in scope, and counts by type", body = Problems)))]
pub async fn problems(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Problems>, AppError> {
    crate::reading(move || problems_now(state, user)).await
}

/// [`problems`], on a blocking thread.
fn problems_now(state: AppState, user: AuthUser) -> Result<Json<Problems>, AppError> {
    let p = state.project();
    let rows = visible(&p, &user);
    let mut counts: BTreeMap<&str, usize> = TYPES.iter().map(|t| (*t, 0)).collect();
    for x in &rows {
        *counts.entry(x.kind).or_insert(0) += 1;
    }
    let problems = rows.iter().map(Problem::row).collect();
    Ok(Json(Problems { problems, counts }))
}
