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
//!   declared grid) is visible to town-wide users, and to a village's users when its point lies
//!   in their village.
//!
//! `type` uses the strings of the `problems` tile layer's `kind` property (`overlap`, `gap`,
//! `in_no_grid`) and the validator's names for the rest, so that the table and the map agree.
//! Ids are `TYPE-N`, N counting from 1 in the report's own order; they are stable for one
//! snapshot of the project, whoever asks.

use std::collections::{BTreeMap, HashMap};

use crate::extract::Json;
use axum::extract::State;
use geo::{BoundingRect, Geometry, InteriorPoint, Rect};
use gridmap_core::locate::{Location, PreparedArea};
use serde_json::{Value, json};

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::state::{AppState, Project};

/// The problem types in the order the table lists them: broken grids first, then what breaks
/// the one-building-one-grid invariant, then addresses.
pub const TYPES: [&str; 9] = [
    "invalid_grid",
    "overlap",
    "gap",
    "outside_boundary",
    "in_no_grid",
    "in_many_grids",
    "straddling",
    "address_not_in_building",
    "address_grid_mismatch",
];

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
    pub fn row(&self) -> Value {
        let bbox = self
            .geometry
            .bounding_rect()
            .map(|r: Rect| [r.min().x, r.min().y, r.max().x, r.max().y]);
        json!({
            "id": self.id, "type": self.kind, "grids": self.grids, "area_m2": self.area_m2,
            "buildings": self.buildings, "building": self.building, "address": self.address,
            "reason": self.reason, "bbox": bbox, "point": self.point.map(|c| [c.x, c.y]),
        })
    }
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
    let r = &p.report;
    let mut out = Vec::new();
    let building = |id: &str| p.building_by_id.get(id).map(|&i| i as usize);
    let building_geometry = |id: &str| {
        building(id).map_or(Geometry::GeometryCollection(Default::default()), |i| {
            p.building_geometry[i].clone()
        })
    };
    let mut per_grid: Option<HashMap<&str, usize>> = None;
    for (n, g) in r.invalid_grids.iter().enumerate() {
        let per_grid = per_grid.get_or_insert_with(|| {
            let mut m = HashMap::new();
            for i in 0..p.buildings.len() {
                if let Some(code) = p.grid_of(i) {
                    *m.entry(code).or_insert(0) += 1;
                }
            }
            m
        });
        let geometry = p
            .grid(&g.grid)
            .map_or(Geometry::GeometryCollection(Default::default()), |s| {
                Geometry::MultiPolygon(s.grid.geometry.clone())
            });
        let mut x = Problem::new("invalid_grid", n, geometry);
        // An invalid ring has no reliable interior: mark the middle of its bounds.
        x.point = x.geometry.bounding_rect().map(|r| r.center());
        x.grids = vec![g.grid.clone()];
        x.buildings = per_grid.get(g.grid.as_str()).copied().unwrap_or(0);
        x.reason = Some(g.reason.clone());
        out.push(x);
    }
    for (n, o) in r.overlaps.iter().enumerate() {
        let mut x = Problem::new("overlap", n, Geometry::MultiPolygon(o.geometry.clone()));
        x.grids = o.grids.to_vec();
        x.area_m2 = Some(o.area_m2);
        x.buildings = o.buildings.len();
        out.push(x);
    }
    for (n, g) in r.gaps.iter().enumerate() {
        let mut x = Problem::new("gap", n, Geometry::Polygon(g.geometry.clone()));
        x.point = Some(geo::Coord {
            x: g.point[0],
            y: g.point[1],
        });
        x.area_m2 = Some(g.area_m2);
        x.buildings = g.buildings.len();
        out.push(x);
    }
    for (n, o) in r.outside_boundary.iter().enumerate() {
        let mut x = Problem::new(
            "outside_boundary",
            n,
            Geometry::MultiPolygon(o.geometry.clone()),
        );
        x.grids = vec![o.grid.clone()];
        x.area_m2 = Some(o.area_m2);
        out.push(x);
    }
    for (n, id) in r.in_no_grid.iter().enumerate() {
        let mut x = Problem::new("in_no_grid", n, building_geometry(id));
        x.point = building(id).and_then(|i| p.location(i)).or(x.point);
        x.buildings = 1;
        x.building = Some(id.clone());
        out.push(x);
    }
    for (n, m) in r.in_many_grids.iter().enumerate() {
        let mut x = Problem::new("in_many_grids", n, building_geometry(&m.building));
        x.point = building(&m.building)
            .and_then(|i| p.location(i))
            .or(x.point);
        x.grids = m.grids.clone();
        x.buildings = 1;
        x.building = Some(m.building.clone());
        out.push(x);
    }
    for (n, s) in r.straddling.iter().enumerate() {
        let mut x = Problem::new("straddling", n, building_geometry(&s.building));
        x.point = building(&s.building)
            .and_then(|i| p.location(i))
            .or(x.point);
        x.grids = vec![s.grid.clone()];
        x.buildings = 1;
        x.building = Some(s.building.clone());
        out.push(x);
    }
    let address: HashMap<&str, &gridmap_core::model::Address> =
        if r.addresses.not_in_building.is_empty() && r.addresses.grid_mismatch.is_empty() {
            HashMap::new()
        } else {
            p.addresses.iter().map(|a| (a.id.as_str(), a)).collect()
        };
    let address_point = |id: &str| {
        address
            .get(id)
            .map_or(Geometry::GeometryCollection(Default::default()), |a| {
                Geometry::Point(a.point)
            })
    };
    for (n, a) in r.addresses.not_in_building.iter().enumerate() {
        let mut x = Problem::new("address_not_in_building", n, address_point(&a.address));
        x.grids = address
            .get(a.address.as_str())
            .and_then(|a| a.declared_grid.clone())
            .into_iter()
            .collect();
        x.address = Some(a.address.clone());
        x.building = a.nearest_building.clone();
        out.push(x);
    }
    for (n, a) in r.addresses.grid_mismatch.iter().enumerate() {
        let mut x = Problem::new("address_grid_mismatch", n, address_point(&a.address));
        x.grids = std::iter::once(a.declared.clone())
            .chain(a.actual.clone())
            .collect();
        x.address = Some(a.address.clone());
        out.push(x);
    }
    out
}

/// Whether `user` may see problem `x` (see the module's rules).
struct Scope<'a> {
    p: &'a Project,
    user: &'a AuthUser,
    town_wide: bool,
    /// The user's village, prepared, when their scope is a village.
    village: Option<PreparedArea>,
}

impl<'a> Scope<'a> {
    fn of(p: &'a Project, user: &'a AuthUser) -> Scope<'a> {
        let town_wide = user.town_wide(&p.town.code);
        let village = match user.reach(&p.town.code) {
            crate::scope::Reach::Village(v) => p.villages.iter().find(|x| x.code == v),
            _ => None,
        }
        .and_then(|v| v.boundary.as_ref())
        .map(PreparedArea::new);
        Scope {
            p,
            user,
            town_wide,
            village,
        }
    }

    fn sees(&self, x: &Problem) -> bool {
        if self.town_wide {
            return true;
        }
        if !x.grids.is_empty() {
            return x.grids.iter().any(|g| self.user.sees_code(self.p, g));
        }
        match (&self.village, x.point) {
            (Some(area), Some(at)) => area.locate(at) != Location::Outside,
            _ => false,
        }
    }
}

/// The problems `user` may see, sorted by type (in [`TYPES`] order), then area, largest first,
/// then id.
pub fn visible(p: &Project, user: &AuthUser) -> Vec<Problem> {
    let scope = Scope::of(p, user);
    let mut out: Vec<Problem> = all(p).into_iter().filter(|x| scope.sees(x)).collect();
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
pub async fn problems(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Value>, AppError> {
    crate::reading(move || problems_now(state, user)).await
}

/// [`problems`], on a blocking thread.
fn problems_now(state: AppState, user: AuthUser) -> Result<Json<Value>, AppError> {
    let p = state.project();
    let rows = visible(&p, &user);
    let mut counts: BTreeMap<&str, usize> = TYPES.iter().map(|t| (*t, 0)).collect();
    for x in &rows {
        *counts.entry(x.kind).or_insert(0) += 1;
    }
    let problems: Vec<Value> = rows.iter().map(Problem::row).collect();
    Ok(Json(json!({"problems": problems, "counts": counts})))
}
