//! Assignment of buildings to grids: the one place where that is decided.
//!
//! # Semantics
//!
//! A building is located at a point inside its footprint ([`Building::location`]: point on
//! surface, not the centroid) or at its point for point buildings. Then:
//!
//! - **in one grid**: the location lies in the interior of exactly one grid;
//! - **in no grid**: it lies in no grid (a gap, or outside every grid);
//! - **in many grids**: it lies in the interior of two or more grids (an overlap);
//! - a location exactly **on a shared edge** (on the boundary of some grids, in the interior of
//!   none) is not an overlap: the building goes to the grid holding the larger share of its
//!   footprint; ties, and point buildings, go to the grid whose code sorts first;
//! - **straddling**: an assigned building with more than the straddle share (default 0.10) of
//!   its footprint area outside its grid. It stays assigned; the share is reported.
//!
//! ```
//! use geo::{polygon, MultiPolygon};
//! use gridmap_core::assign::{assign_buildings, Assignment};
//! use gridmap_core::index::GridIndex;
//! use gridmap_core::model::{Building, Footprint, Grid};
//!
//! let square = |code: &str, x0: f64| Grid {
//!     code: code.into(), name: None, village: None,
//!     geometry: MultiPolygon(vec![polygon![(x: x0, y: 0.), (x: x0 + 1., y: 0.), (x: x0 + 1., y: 1.), (x: x0, y: 1.)]]),
//! };
//! let grids = vec![square("west", 0.0), square("east", 1.0)];
//! // A house whose point on surface falls exactly on the shared edge x = 1, half on each side:
//! // a tie, so it goes to the grid whose code sorts first, "east", with half its area outside.
//! let house = Building {
//!     id: "h1".into(), households: 3, floors: None, kind: None,
//!     footprint: Footprint::Area(MultiPolygon(vec![polygon![
//!         (x: 0.8, y: 0.4), (x: 1.2, y: 0.4), (x: 1.2, y: 0.6), (x: 0.8, y: 0.6)]])),
//! };
//! let index = GridIndex::new(&grids, |_| false);
//! match &assign_buildings(&index, &[house])[0] {
//!     Assignment::One { grid, on_edge: true, .. } => assert_eq!(grids[*grid as usize].code, "east"),
//!     other => panic!("{other:?}"),
//! }
//! ```

use geo::MultiPolygon;
use rayon::prelude::*;
use serde::Serialize;

use crate::index::GridIndex;
use crate::locate::{PreparedArea, bbox_of};
use crate::model::{Building, Footprint};
use crate::overlay::intersection_area;

mod shared;
pub use shared::Assignments;

/// Where one building went.
#[derive(Debug, Clone, PartialEq)]
pub enum Assignment {
    /// In no grid.
    NoGrid,
    /// In exactly one grid (by index), with the share of the footprint outside it (`None` for
    /// point buildings) and whether its location lay on the grid's edge.
    One {
        /// Index of the grid in the grids the [`GridIndex`] was built from.
        grid: u32,
        /// Share of the footprint's area outside the grid, 0..1; `None` for point buildings.
        outside_share: Option<f64>,
        /// The location lay on the grid's edge, in no grid's interior, and the larger share
        /// (or the first code) decided.
        on_edge: bool,
    },
    /// In the interiors of several grids (in code order).
    Many(Box<[u32]>),
}

/// The four statuses of a building, as written in reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// In exactly one grid, with no more than the straddle share outside it.
    InOneGrid,
    /// In no grid: in a gap, outside every grid, or without a location.
    InNoGrid,
    /// In the interiors of two or more grids: in an overlap.
    InManyGrids,
    /// In one grid, with more than the straddle share of its footprint outside it.
    Straddling,
}

impl Status {
    /// The status as written in reports and CSV files (`in_one_grid`, `in_no_grid`,
    /// `in_many_grids`, `straddling`), the same as its serde name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::InOneGrid => "in_one_grid",
            Status::InNoGrid => "in_no_grid",
            Status::InManyGrids => "in_many_grids",
            Status::Straddling => "straddling",
        }
    }
}

impl Assignment {
    /// The status of the building, straddling when more than `straddle_share` of it is outside.
    pub fn status(&self, straddle_share: f64) -> Status {
        match self {
            Assignment::NoGrid => Status::InNoGrid,
            Assignment::Many(_) => Status::InManyGrids,
            Assignment::One {
                outside_share: Some(s),
                ..
            } if *s > straddle_share => Status::Straddling,
            Assignment::One { .. } => Status::InOneGrid,
        }
    }

    /// The grid a building counts towards, when it counts towards exactly one.
    pub fn grid(&self) -> Option<u32> {
        match self {
            Assignment::One { grid, .. } => Some(*grid),
            _ => None,
        }
    }
}

/// Assigns every building, in parallel. Output order follows `buildings`.
///
/// # Performance
/// One R-tree probe and one banded point-in-polygon test per building; the footprint overlay
/// runs only for buildings whose envelope meets a grid edge.
pub fn assign_buildings(index: &GridIndex, buildings: &[Building]) -> Vec<Assignment> {
    buildings
        .par_iter()
        .with_min_len(1024)
        .map(|b| assign_building(index, b))
        .collect()
}

/// Assigns one building (see the module docs for the rules).
pub fn assign_building(index: &GridIndex, building: &Building) -> Assignment {
    // Well inside one grid (the index's interior cells say so from the envelope, every ring
    // included): the location is in that grid's interior and no part of the footprint is out.
    // (The envelope is made only when the index has the cells: edits reassign without them.)
    if let Some(grid) = index
        .interior
        .as_ref()
        .and_then(|_| envelope(&building.footprint))
        .and_then(|r| index.inside_one(&r))
    {
        let outside_share = match building.footprint {
            Footprint::Area(_) => Some(0.0),
            Footprint::Point(_) => None,
        };
        return Assignment::One {
            grid,
            outside_share,
            on_edge: false,
        };
    }
    let Some(loc) = building.location() else {
        return Assignment::NoGrid;
    };
    let at = index.grids_at(loc);
    let area = match &building.footprint {
        Footprint::Area(a) => Some(a),
        Footprint::Point(_) => None,
    };
    match at.inside.len() {
        0 if at.on_edge.is_empty() => Assignment::NoGrid,
        0 => {
            // On an edge: the grid holding the larger share of the footprint.
            let Some(area) = area else {
                return Assignment::One {
                    grid: at.on_edge[0],
                    outside_share: None,
                    on_edge: true,
                };
            };
            let fp = PreparedArea::new(area);
            let mut best = (at.on_edge[0], -1.0);
            for &g in &at.on_edge {
                let inside = index
                    .prepared(g)
                    .map_or(0.0, |grid| intersection_area(&fp, grid));
                if inside > best.1 {
                    best = (g, inside);
                }
            }
            Assignment::One {
                grid: best.0,
                outside_share: Some(share_outside(fp.planar_area(), best.1)),
                on_edge: true,
            }
        }
        1 => {
            let grid = at.inside[0];
            Assignment::One {
                grid,
                outside_share: area.map(|a| outside_share(index, grid, a)),
                on_edge: false,
            }
        }
        _ => Assignment::Many(at.inside.into_vec().into_boxed_slice()),
    }
}

/// The envelope of every ring of a footprint; `None` when empty or not finite.
fn envelope(footprint: &Footprint) -> Option<geo::Rect> {
    let rect = match footprint {
        Footprint::Area(a) => {
            let mut coords =
                a.0.iter()
                    .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
                    .flat_map(|r| r.0.iter());
            let first = *coords.next()?;
            let (mut min, mut max) = (first, first);
            let mut finite = first.x.is_finite() && first.y.is_finite();
            for c in coords {
                min.x = min.x.min(c.x);
                min.y = min.y.min(c.y);
                max.x = max.x.max(c.x);
                max.y = max.y.max(c.y);
                finite &= c.x.is_finite() && c.y.is_finite();
            }
            finite.then(|| geo::Rect::new(min, max))?
        }
        Footprint::Point(p) => geo::Rect::new(p.0, p.0),
    };
    Some(rect)
}

/// Share of `area` outside grid `grid`, given that its location is inside the grid.
fn outside_share(index: &GridIndex, grid: u32, area: &MultiPolygon) -> f64 {
    let Some(prepared) = index.prepared(grid) else {
        return 1.0;
    };
    let Some(bbox) = bbox_of(area.0.iter().flat_map(|p| p.exterior().0.iter().copied())) else {
        return 0.0;
    };
    // No grid edge meets the footprint's box and its location is inside: the whole box, and the
    // footprint with it, lies inside.
    if !prepared.has_edge_meeting(&bbox) {
        return 0.0;
    }
    let fp = PreparedArea::new(area);
    share_outside(fp.planar_area(), intersection_area(&fp, prepared))
}

fn share_outside(total: f64, inside: f64) -> f64 {
    if total <= 0.0 {
        return 0.0;
    }
    (1.0 - inside / total).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Grid;
    use geo::{Point, polygon};

    fn square(code: &str, x0: f64, y0: f64, w: f64) -> Grid {
        Grid {
            code: code.into(),
            name: None,
            village: None,
            geometry: MultiPolygon(vec![polygon![
                (x: x0, y: y0), (x: x0 + w, y: y0), (x: x0 + w, y: y0 + w), (x: x0, y: y0 + w)]]),
        }
    }

    fn house(x0: f64, y0: f64, x1: f64, y1: f64) -> Building {
        Building {
            id: "h".into(),
            footprint: Footprint::Area(MultiPolygon(vec![polygon![
                (x: x0, y: y0), (x: x1, y: y0), (x: x1, y: y1), (x: x0, y: y1)]])),
            households: 1,
            floors: None,
            kind: None,
        }
    }

    #[test]
    fn edge_location_goes_to_the_larger_share() {
        let grids = vec![square("w", 0., 0., 1.), square("e", 1., 0., 1.)];
        let idx = GridIndex::new(&grids, |_| false);
        // A T lying on its side: the scan line crosses its wide middle from x = 0.7 to 1.3, so
        // the location is x = 1.0 on the shared edge, but 80% of the area is east of it.
        let l = Building {
            footprint: Footprint::Area(MultiPolygon(vec![polygon![
                (x: 1.0, y: 0.1), (x: 1.3, y: 0.1), (x: 1.3, y: 0.9), (x: 1.0, y: 0.9),
                (x: 1.0, y: 0.6), (x: 0.7, y: 0.6), (x: 0.7, y: 0.4), (x: 1.0, y: 0.4)]])),
            ..house(0., 0., 0., 0.)
        };
        assert_eq!(l.location().map(|c| c.x), Some(1.0));
        match assign_building(&idx, &l) {
            Assignment::One {
                grid: 1,
                on_edge: true,
                outside_share: Some(s),
            } => assert!((s - 0.2).abs() < 1e-9, "{s}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn straddling_share_is_reported() {
        let grids = vec![square("w", 0., 0., 1.), square("e", 1., 0., 1.)];
        let idx = GridIndex::new(&grids, |_| false);
        let b = house(0.6, 0.4, 1.1, 0.6); // 0.1 of 0.5 wide is east: 20% outside "w"
        let a = assign_building(&idx, &b);
        match a {
            Assignment::One {
                grid: 0,
                outside_share: Some(s),
                on_edge: false,
            } => assert!((s - 0.2).abs() < 1e-9),
            ref other => panic!("{other:?}"),
        }
        assert_eq!(a.status(0.10), Status::Straddling);
        assert_eq!(a.status(0.25), Status::InOneGrid);
    }

    #[test]
    fn overlaps_and_gaps() {
        let grids = vec![square("a", 0., 0., 1.), square("b", 0.5, 0., 1.)];
        let idx = GridIndex::new(&grids, |_| false);
        let in_both = assign_building(&idx, &house(0.6, 0.1, 0.7, 0.2));
        assert_eq!(in_both, Assignment::Many(vec![0, 1].into_boxed_slice()));
        let outside = assign_building(&idx, &house(3., 3., 3.1, 3.1));
        assert_eq!(outside, Assignment::NoGrid);
    }

    #[test]
    fn point_building_on_an_edge_goes_to_the_first_code() {
        let grids = vec![square("b", 0., 0., 1.), square("a", 1., 0., 1.)];
        let idx = GridIndex::new(&grids, |_| false);
        let p = Building {
            footprint: Footprint::Point(Point::new(1.0, 0.5)),
            ..house(0., 0., 0., 0.)
        };
        assert_eq!(
            assign_building(&idx, &p),
            Assignment::One {
                grid: 1,
                outside_share: None,
                on_edge: true
            }
        );
    }
}
