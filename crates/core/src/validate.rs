//! Coverage validation: does every building lie in exactly one grid, and do the grids cover
//! their boundary with no gap and no overlap?
//!
//! [`validate`] reports every problem it finds, never only the first, and never panics on bad
//! geometry: an invalid grid is reported with its reason and left out, and the valid rest is
//! validated. Areas are true areas in square metres on the WGS84 ellipsoid.
//!
//! What is reported (see [`Report`]):
//! - `invalid_grids`: grids whose geometry is not a valid polygon (self-intersection, ring with
//!   fewer than three distinct points, unclosed ring found by the reader, …), with the reason;
//! - `overlaps`: every pair of grids whose intersection is larger than `min_area_m2`, as a
//!   polygon with its area and the buildings located in it;
//! - `gaps`: with a boundary, the parts of it covered by no grid; without one, the holes enclosed
//!   by the union of the grids; each larger than `min_area_m2`, with its area, a point inside it
//!   and the buildings located in it;
//! - `outside_boundary`: grids reaching outside the boundary by more than `min_area_m2`;
//! - the building statuses of [`crate::assign`], and for addresses: points in no building (with
//!   the distance to the nearest one) and declared grids that differ from the grid at the point.

use std::collections::HashMap;

use geo::{BooleanOps, Coord, MultiPolygon, Polygon, Validation, unary_union};
use rayon::prelude::*;
use serde::Serialize;

use crate::assign::{Assignment, Status, assign_buildings};
use crate::geodesy::{LocalMetres, area_m2, point_segment_distance_m};
use crate::index::{BuildingIndex, GridIndex};
use crate::locate::{Location, PreparedArea};
use crate::model::{Address, Building, Footprint, Grid};
use crate::overlay::intersection_area;
use crate::surface::point_on_surface;

mod incremental;
mod problems;
pub use incremental::{Before, Delta, Revalidation, revalidate};
pub(crate) use incremental::{grown, union_rect};
pub use problems::{KINDS, Problem};

/// Thresholds of a validation run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Overlaps, gaps and outside parts at or below this area (m²) are not reported.
    pub min_area_m2: f64,
    /// A building with more than this share of its footprint outside its grid is straddling.
    pub straddle_share: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            min_area_m2: 1.0,
            straddle_share: 0.10,
        }
    }
}

/// What to validate.
#[derive(Debug, Clone, Copy, Default)]
pub struct CoverageInput<'a> {
    /// The grid layer to check; codes should be unique, as the report names grids by code.
    pub grids: &'a [Grid],
    /// The buildings that must each lie in exactly one grid.
    pub buildings: &'a [Building],
    /// The outline the grids should cover exactly (village or town).
    pub boundary: Option<&'a MultiPolygon>,
    /// Address points to check against the buildings and their declared grids; may be empty.
    pub addresses: &'a [Address],
    /// Grids a reader already knows to be invalid (by index), with the reason, e.g. an unclosed
    /// ring that the geometry model cannot represent.
    pub input_defects: &'a [(usize, String)],
}

/// The counts of a report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Grids checked, invalid ones included.
    pub grids: usize,
    /// Buildings checked.
    pub buildings: usize,
    /// Buildings assigned to exactly one grid (straddling ones included).
    pub in_one_grid: usize,
    /// Buildings whose location lies in no valid grid (or that have no location).
    pub in_no_grid: usize,
    /// Buildings whose location lies inside overlapping grids.
    pub in_many_grids: usize,
    /// Assigned buildings with more than the straddle share outside their grid.
    pub straddling: usize,
    /// Buildings whose location lay exactly on a grid edge (assigned by the larger share).
    pub on_edge: usize,
    /// Pairs of grids overlapping by more than `min_area_m2`.
    pub overlaps: usize,
    /// Sum of the overlaps' areas, in m² (an area covered by three grids counts thrice).
    pub overlap_area_m2: f64,
    /// Gaps larger than `min_area_m2`.
    pub gaps: usize,
    /// Sum of the gaps' areas, in m².
    pub gap_area_m2: f64,
    /// Grids left out of the check for invalid geometry.
    pub invalid_grids: usize,
    /// Grids reaching outside the boundary by more than `min_area_m2`; 0 without a boundary.
    pub outside_boundary: usize,
    /// Sum of the grids' areas outside the boundary, in m².
    pub outside_area_m2: f64,
    /// Addresses checked.
    pub addresses: usize,
    /// Addresses whose point lies in no building footprint.
    pub addresses_not_in_building: usize,
    /// Addresses whose declared grid is not a grid at their point.
    pub addresses_grid_mismatch: usize,
}

/// A building whose location lies inside more than one grid (where grids overlap).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InManyGrids {
    /// Id of the building.
    pub building: String,
    /// Codes of the grids its location lies in, two or more.
    pub grids: Vec<String>,
}

/// A building assigned to one grid with more than the straddle share of its footprint outside
/// it: a grid edge cuts it.
///
/// Its strings are shared: a district has ~90,000 of these, and each grid edit carries the
/// list over to the next report, so a copy is two reference counts, not two allocations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Straddling {
    /// Id of the building.
    pub building: std::sync::Arc<str>,
    /// Code of the grid it is assigned to.
    pub grid: std::sync::Arc<str>,
    /// Share of its footprint's area outside that grid, 0..1.
    pub outside_share: f64,
}

/// Two grids whose intersection is larger than `min_area_m2`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overlap {
    /// Codes of the two grids, in code order.
    pub grids: [String; 2],
    /// Geodesic area of the intersection, in m².
    pub area_m2: f64,
    /// Ids of the buildings located in both grids, sorted.
    pub buildings: Vec<String>,
    /// The intersection, WGS84 lon/lat (not serialised).
    #[serde(skip)]
    pub geometry: MultiPolygon,
}

/// A part of the boundary covered by no grid (or without a boundary, a hole enclosed by the
/// grids), larger than `min_area_m2`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gap {
    /// Geodesic area, in m².
    pub area_m2: f64,
    /// A point inside the gap, `[lon, lat]`.
    pub point: [f64; 2],
    /// Ids of the buildings in no grid located in the gap (or within a hair of its outline),
    /// sorted.
    pub buildings: Vec<String>,
    /// The gap's outline, WGS84 lon/lat (not serialised).
    #[serde(skip)]
    pub geometry: Polygon,
}

/// A grid whose geometry is not a valid polygon; it is left out of every other check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvalidGrid {
    /// Code of the grid.
    pub grid: String,
    /// Why, in English: `empty geometry`, or the reader's defect and `geo`'s validation
    /// errors, joined by `; `.
    pub reason: String,
}

/// A grid reaching outside the boundary by more than `min_area_m2`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutsideBoundary {
    /// Code of the grid.
    pub grid: String,
    /// Geodesic area of the part outside, in m².
    pub area_m2: f64,
    /// The part outside, WGS84 lon/lat (not serialised).
    #[serde(skip)]
    pub geometry: MultiPolygon,
}

/// An address point that lies in no building footprint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotInBuilding {
    /// Id of the address.
    pub address: String,
    /// Metres to the nearest building footprint (or point), `None` when there is no building.
    pub distance_m: Option<f64>,
    /// Id of that nearest building, `None` when there is no building.
    pub nearest_building: Option<String>,
}

/// An address whose declared grid is not a grid its point lies in (or on the edge of).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GridMismatch {
    /// Id of the address.
    pub address: String,
    /// Code of the grid the address record declares.
    pub declared: String,
    /// The grid the address point lies in, `None` when in no grid.
    pub actual: Option<String>,
}

/// What the address check found, each list sorted by address id.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AddressProblems {
    /// Addresses whose point lies in no building.
    pub not_in_building: Vec<NotInBuilding>,
    /// Addresses whose declared grid differs from the grid at their point.
    pub grid_mismatch: Vec<GridMismatch>,
}

/// The full validation report; lists are sorted by id (overlaps and gaps by area, largest
/// first) so that reports are stable.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// The counts and total areas of the lists below.
    pub summary: Summary,
    /// Ids of the buildings in no grid.
    pub in_no_grid: Vec<String>,
    /// Buildings located inside more than one grid.
    pub in_many_grids: Vec<InManyGrids>,
    /// Buildings a grid edge cuts.
    pub straddling: Vec<Straddling>,
    /// Overlapping pairs of grids, largest first.
    pub overlaps: Vec<Overlap>,
    /// Uncovered parts, largest first.
    pub gaps: Vec<Gap>,
    /// Grids with invalid geometry, left out of the other checks.
    pub invalid_grids: Vec<InvalidGrid>,
    /// Grids reaching outside the boundary (empty without a boundary).
    pub outside_boundary: Vec<OutsideBoundary>,
    /// What the address check found (empty without addresses).
    pub addresses: AddressProblems,
}

impl Report {
    /// Whether anything at all was found.
    pub fn has_problems(&self) -> bool {
        let s = &self.summary;
        s.in_no_grid
            + s.in_many_grids
            + s.straddling
            + s.overlaps
            + s.gaps
            + s.invalid_grids
            + s.outside_boundary
            + s.addresses_not_in_building
            + s.addresses_grid_mismatch
            > 0
    }
}

/// How far (m) a gap's outline may move between two overlays over other inputs (see
/// [`Report::agrees_with`]): the overlay snaps to a precision that follows the extent of its
/// input, and with it slivers under a centimetre wide along a gap (grid edges that nearly
/// follow the boundary) join the gap or fall apart into pieces below the area threshold.
pub const OUTLINE_SLACK_M: f64 = 0.01;

/// The length of a polygon's rings in metres, near enough (degrees at the polygon's latitude).
fn perimeter_m(p: &Polygon) -> f64 {
    let Some(first) = p.exterior().0.first() else {
        return 0.0;
    };
    let frame = LocalMetres::at(*first);
    std::iter::once(p.exterior())
        .chain(p.interiors())
        .flat_map(|r| r.0.windows(2))
        .map(|w| {
            let (a, b) = (frame.project(w[0]), frame.project(w[1]));
            (a.x - b.x).hypot(a.y - b.y)
        })
        .sum()
}

impl Report {
    /// Whether `self` and `other` say the same, allowing for what overlays of the same grids
    /// made from other inputs may change: the outlines of gaps and the points inside them, so
    /// their areas (by a hundred-thousandth, or by their perimeter times [`OUTLINE_SLACK_M`]
    /// where that is more: the overlay's snapping moves an outline, and slivers along it, by
    /// up to a centimetre), and where
    /// two parts of a gap meet through a sliver of no width, whether they are one gap or two
    /// (the overlay snaps to a precision that depends on the extent of all its input, so a
    /// grid added far away can decide it). Answers the first difference.
    pub fn agrees_with(&self, other: &Report) -> Result<(), String> {
        let without_gaps = |r: &Report| Report {
            gaps: Vec::new(),
            summary: Summary {
                gaps: 0,
                gap_area_m2: 0.0,
                ..r.summary.clone()
            },
            ..r.clone()
        };
        if without_gaps(self) != without_gaps(other) {
            return Err(format!(
                "the reports differ:\n{:?}\n{:?}",
                without_gaps(self),
                without_gaps(other)
            ));
        }
        let close =
            |x: f64, y: f64, slack: f64| (x - y).abs() <= (1e-5 * x.abs().max(y.abs())).max(slack);
        let slack = |g: &Gap| 0.01f64.max(perimeter_m(&g.geometry) * OUTLINE_SLACK_M);
        let (x, y) = (self.summary.gap_area_m2, other.summary.gap_area_m2);
        let all_slack = |r: &Report| r.gaps.iter().map(slack).sum::<f64>();
        if !close(x, y, all_slack(self).max(all_slack(other))) {
            return Err(format!("gap areas in all: {x} and {y} m²"));
        }
        if self.summary.gaps != self.gaps.len() || other.summary.gaps != other.gaps.len() {
            return Err("a summary does not count its gaps".into());
        }
        if self.gaps.len() != other.gaps.len() {
            // Pieces split or joined: the same buildings must lie in the gaps in all.
            fn all_in_gaps(r: &Report) -> Vec<&str> {
                let mut ids: Vec<&str> = r
                    .gaps
                    .iter()
                    .flat_map(|g| g.buildings.iter().map(String::as_str))
                    .collect();
                ids.sort_unstable();
                ids
            }
            return if all_in_gaps(self) == all_in_gaps(other) {
                Ok(())
            } else {
                Err(format!(
                    "{} gaps holding {:?}, and {} holding {:?}",
                    self.gaps.len(),
                    all_in_gaps(self),
                    other.gaps.len(),
                    all_in_gaps(other)
                ))
            };
        }
        fn listed(r: &Report) -> Vec<(&[String], f64, &Gap)> {
            let mut gaps: Vec<(&[String], f64, &Gap)> = r
                .gaps
                .iter()
                .map(|g| (g.buildings.as_slice(), g.area_m2, g))
                .collect();
            gaps.sort_by(|a, b| a.0.cmp(b.0).then(a.1.total_cmp(&b.1)));
            gaps
        }
        for (a, b) in listed(self).into_iter().zip(listed(other)) {
            if a.0 != b.0 || !close(a.1, b.1, slack(a.2).max(slack(b.2))) {
                return Err(format!(
                    "a gap of {} m² with buildings {:?}, and one of {} m² with {:?}",
                    a.1, a.0, b.1, b.0
                ));
            }
        }
        Ok(())
    }
}

/// A validation run's report together with each building's assignment (in input order).
#[derive(Debug, Clone)]
pub struct Coverage {
    /// What was found.
    pub report: Report,
    /// Where each input building was assigned, by position in [`CoverageInput::buildings`].
    pub assignments: Vec<Assignment>,
}

/// Why each grid is invalid, `None` for valid grids.
pub fn grid_defects(grids: &[Grid], input_defects: &[(usize, String)]) -> Vec<Option<String>> {
    let mut reasons: Vec<Option<String>> = grids
        .par_iter()
        .map(|g| {
            if g.geometry.0.is_empty() {
                return Some("empty geometry".to_string());
            }
            let problems = g.geometry.validation_errors();
            (!problems.is_empty()).then(|| {
                problems
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            })
        })
        .collect();
    for (i, why) in input_defects {
        if let Some(slot) = reasons.get_mut(*i) {
            *slot = Some(match slot.take() {
                Some(more) => format!("{why}; {more}"),
                None => why.clone(),
            });
        }
    }
    reasons
}

/// Validates coverage; `progress` is told the name of each phase as it starts.
///
/// # Performance
/// Assignment is parallel and near-linear in buildings; overlaps cost one edge-local overlay
/// per pair of grids with intersecting envelopes; gaps cost one union of all grids.
pub fn validate(
    input: &CoverageInput,
    options: &Options,
    progress: &mut dyn FnMut(&str),
) -> Coverage {
    progress("checking grid geometries");
    let defects = grid_defects(input.grids, input.input_defects);
    let index = GridIndex::new(input.grids, |i| defects[i].is_some()).with_interior_cells();
    progress("assigning buildings to grids");
    let assignments = assign_buildings(&index, input.buildings);
    let mut report = Report {
        invalid_grids: invalid_grids(input.grids, &defects),
        ..Report::default()
    };
    let located_in_pair =
        building_lists(&mut report, assignments.iter().enumerate(), input, options);

    progress("finding overlaps");
    report.overlaps = overlaps(&index, &index.candidate_pairs(), options, &|a, b| {
        located_in_pair.get(&(a, b)).cloned().unwrap_or_default()
    });

    progress("finding gaps");
    let in_no_grid = buildings_in_no_grid(&assignments);
    report.gaps = gaps(&index, input, options, &in_no_grid);

    if let Some(boundary) = input.boundary {
        progress("checking grids against the boundary");
        report.outside_boundary = outside_parts(&index, boundary, options, |_| true);
    }

    if !input.addresses.is_empty() {
        progress("checking addresses");
        report.addresses = check_addresses(&index, input.buildings, input.addresses);
    }
    finish(&mut report, input);
    Coverage {
        report,
        assignments,
    }
}

/// The invalid grids of `defects` (by position in `grids`).
fn invalid_grids(grids: &[Grid], defects: &[Option<String>]) -> Vec<InvalidGrid> {
    defects
        .iter()
        .enumerate()
        .filter_map(|(i, d)| {
            Some(InvalidGrid {
                grid: grids[i].code.clone(),
                reason: d.clone()?,
            })
        })
        .collect()
}

/// Positions of the buildings in no grid.
fn buildings_in_no_grid(assignments: &[Assignment]) -> Vec<usize> {
    (0..assignments.len())
        .filter(|&i| assignments[i] == Assignment::NoGrid)
        .collect()
}

/// Adds to the building lists and counts of `report` from `assignments` (each with the
/// building's position); answers, for each pair
/// of grids (positions, in code order), the buildings located in both.
fn building_lists<'a>(
    report: &mut Report,
    assignments: impl Iterator<Item = (usize, &'a Assignment)>,
    input: &CoverageInput,
    options: &Options,
) -> HashMap<(u32, u32), Vec<String>> {
    let code = |i: u32| input.grids[i as usize].code.clone();
    let id = |i: usize| input.buildings[i].id.clone();
    let mut located_in_pair: HashMap<(u32, u32), Vec<String>> = HashMap::new();
    for (i, a) in assignments {
        match a {
            Assignment::NoGrid => report.in_no_grid.push(id(i)),
            Assignment::Many(grids) => {
                report.in_many_grids.push(InManyGrids {
                    building: id(i),
                    grids: grids.iter().map(|&g| code(g)).collect(),
                });
                for (k, &g) in grids.iter().enumerate() {
                    for &h in &grids[k + 1..] {
                        located_in_pair.entry((g, h)).or_default().push(id(i));
                    }
                }
            }
            Assignment::One {
                grid,
                outside_share,
                on_edge,
            } => {
                report.summary.in_one_grid += 1;
                report.summary.on_edge += usize::from(*on_edge);
                if a.status(options.straddle_share) == Status::Straddling {
                    report.straddling.push(Straddling {
                        building: id(i).into(),
                        grid: code(*grid).into(),
                        outside_share: outside_share.unwrap_or(0.0),
                    });
                }
            }
        }
    }
    located_in_pair
}

/// Sorts the lists of `report` and counts them into its summary.
fn finish(report: &mut Report, input: &CoverageInput) {
    report.in_no_grid.sort();
    report
        .in_many_grids
        .sort_by(|a, b| a.building.cmp(&b.building));
    report
        .straddling
        .sort_by(|a, b| a.building.cmp(&b.building));
    report.invalid_grids.sort_by(|a, b| a.grid.cmp(&b.grid));
    report.outside_boundary.sort_by(|a, b| a.grid.cmp(&b.grid));
    report
        .overlaps
        .sort_by(|x, y| y.area_m2.total_cmp(&x.area_m2).then(x.grids.cmp(&y.grids)));
    sort_gaps(&mut report.gaps);
    report
        .addresses
        .not_in_building
        .sort_by(|a, b| a.address.cmp(&b.address));
    report
        .addresses
        .grid_mismatch
        .sort_by(|a, b| a.address.cmp(&b.address));

    let s = &mut report.summary;
    s.grids = input.grids.len();
    s.buildings = input.buildings.len();
    s.in_no_grid = report.in_no_grid.len();
    s.in_many_grids = report.in_many_grids.len();
    s.straddling = report.straddling.len();
    s.overlaps = report.overlaps.len();
    s.overlap_area_m2 = report
        .overlaps
        .iter()
        .map(|o| o.area_m2)
        .fold(0.0, |a, b| a + b);
    s.gaps = report.gaps.len();
    s.gap_area_m2 = report
        .gaps
        .iter()
        .map(|g| g.area_m2)
        .fold(0.0, |a, b| a + b);
    s.invalid_grids = report.invalid_grids.len();
    s.outside_boundary = report.outside_boundary.len();
    s.outside_area_m2 = report
        .outside_boundary
        .iter()
        .map(|o| o.area_m2)
        .fold(0.0, |a, b| a + b);
    s.addresses = input.addresses.len();
    s.addresses_not_in_building = report.addresses.not_in_building.len();
    s.addresses_grid_mismatch = report.addresses.grid_mismatch.len();
}

/// Approximate square metres of a planar (degree²) area near `at`, for cheap pre-filtering
/// before the exact geodesic area is computed.
fn approx_m2(planar: f64, at: Coord) -> f64 {
    planar * LocalMetres::at(at).m2_per_deg2()
}

/// The overlaps among `pairs` of indexed grids (unsorted); `located(a, b)` names the buildings
/// located in both.
fn overlaps(
    index: &GridIndex,
    pairs: &[(u32, u32)],
    options: &Options,
    located: &(dyn Fn(u32, u32) -> Vec<String> + Sync),
) -> Vec<Overlap> {
    let grids = index.grids();
    pairs
        .par_iter()
        .filter_map(|&(a, b)| {
            let (pa, pb) = (index.prepared(a)?, index.prepared(b)?);
            let planar = intersection_area(pa, pb);
            let at = pa.bbox()?.center();
            // Half the threshold as slack for the planar approximation.
            if approx_m2(planar, at) <= options.min_area_m2 * 0.5 {
                return None;
            }
            let geometry = grids[a as usize]
                .geometry
                .intersection(&grids[b as usize].geometry);
            let area = area_m2(&geometry);
            (area > options.min_area_m2).then(|| {
                let mut buildings = located(a, b);
                buildings.sort();
                Overlap {
                    grids: [
                        grids[a as usize].code.clone(),
                        grids[b as usize].code.clone(),
                    ],
                    area_m2: area,
                    buildings,
                    geometry,
                }
            })
        })
        .collect()
}

/// The uncovered parts of the boundary, or without one the holes of the union of `grids` (the
/// valid ones).
fn uncovered(grids: &[&Grid], boundary: Option<&MultiPolygon>) -> Vec<Polygon> {
    let union = unary_union(grids.iter().flat_map(|g| g.geometry.0.iter()));
    match boundary {
        Some(boundary) => boundary.difference(&union).0,
        None => union
            .0
            .iter()
            .flat_map(|p| p.interiors().iter())
            .map(|ring| Polygon::new(ring.clone(), vec![]))
            .collect(),
    }
}

fn gaps(
    index: &GridIndex,
    input: &CoverageInput,
    options: &Options,
    in_no_grid: &[usize],
) -> Vec<Gap> {
    let valid: Vec<&Grid> = input
        .grids
        .iter()
        .enumerate()
        .filter(|(i, _)| index.prepared(*i as u32).is_some())
        .map(|(_, g)| g)
        .collect();
    uncovered(&valid, input.boundary)
        .into_par_iter()
        .filter_map(|part| gap(part, input.buildings, in_no_grid, options))
        .collect()
}

/// `part` as a gap with the buildings of `in_no_grid` located in it, `None` when it is no
/// larger than the threshold.
fn gap(
    part: Polygon,
    buildings: &[Building],
    in_no_grid: &[usize],
    options: &Options,
) -> Option<Gap> {
    let mp = MultiPolygon(vec![part]);
    let area = area_m2(&mp);
    if area <= options.min_area_m2 {
        return None;
    }
    let point = point_on_surface(&mp)?;
    let prepared = PreparedArea::new(&mp);
    let mut located: Vec<String> = in_no_grid
        .iter()
        .filter(|&&i| {
            buildings[i].location().is_some_and(|p| {
                prepared.locate(p) != Location::Outside || near_outline(&prepared, p)
            })
        })
        .map(|&i| buildings[i].id.clone())
        .collect();
    located.sort();
    let geometry = mp.0.into_iter().next()?;
    Some(Gap {
        area_m2: area,
        point: [point.x, point.y],
        buildings: located,
        geometry,
    })
}

/// Whether `p` lies within a hair (1e-9°, a tenth of a millimetre) of the outline of `area`.
///
/// A gap's outline comes out of an overlay a few units in the last place away from the grid
/// edges it follows, so a building in no grid whose location lies (nearly) on such an edge
/// would be in or out of the gap by rounding; it is counted in.
fn near_outline(area: &PreparedArea, p: Coord) -> bool {
    const HAIR_DEG: f64 = 1e-9;
    let around = geo::Rect::new(
        Coord {
            x: p.x - HAIR_DEG,
            y: p.y - HAIR_DEG,
        },
        Coord {
            x: p.x + HAIR_DEG,
            y: p.y + HAIR_DEG,
        },
    );
    let mut near = false;
    area.for_each_edge_in(&around, |e| {
        let (d, ap) = (e.b - e.a, p - e.a);
        let len2 = d.x * d.x + d.y * d.y;
        let t = if len2 > 0.0 {
            ((ap.x * d.x + ap.y * d.y) / len2).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let off = ap - d * t;
        near |= off.x.hypot(off.y) <= HAIR_DEG;
    });
    near
}

fn sort_gaps(gaps: &mut [Gap]) {
    gaps.sort_by(|x, y| {
        y.area_m2
            .total_cmp(&x.area_m2)
            .then(x.point[0].total_cmp(&y.point[0]))
    });
}

/// The parts outside `boundary` of the indexed grids for which `which` holds, when larger than
/// the threshold.
fn outside_parts(
    index: &GridIndex,
    boundary: &MultiPolygon,
    options: &Options,
    which: impl Fn(u32) -> bool + Sync,
) -> Vec<OutsideBoundary> {
    let prepared_boundary = PreparedArea::new(boundary);
    let grids = index.grids();
    (0..grids.len() as u32)
        .into_par_iter()
        .filter(|&i| which(i))
        .filter_map(|i| {
            outside_boundary(
                &grids[i as usize],
                index.prepared(i)?,
                boundary,
                &prepared_boundary,
                options,
            )
        })
        .collect()
}

/// The part of `grid` outside `boundary`, when larger than the threshold.
fn outside_boundary(
    grid: &Grid,
    prepared: &PreparedArea,
    boundary: &MultiPolygon,
    prepared_boundary: &PreparedArea,
    options: &Options,
) -> Option<OutsideBoundary> {
    let outside = prepared.planar_area() - intersection_area(prepared, prepared_boundary);
    if approx_m2(outside, prepared.bbox()?.center()) <= options.min_area_m2 * 0.5 {
        return None;
    }
    let geometry = grid.geometry.difference(boundary);
    let area = area_m2(&geometry);
    (area > options.min_area_m2).then(|| OutsideBoundary {
        grid: grid.code.clone(),
        area_m2: area,
        geometry,
    })
}

/// Whether the grid an address declares is not a grid at its point.
fn grid_mismatch(index: &GridIndex, a: &Address) -> Option<GridMismatch> {
    let declared = a.declared_grid.as_ref()?;
    let grids = index.grids();
    let at = index.grids_at(a.point.0);
    let codes: Vec<&str> = at
        .inside
        .iter()
        .chain(&at.on_edge)
        .map(|&g| grids[g as usize].code.as_str())
        .collect();
    (!codes.contains(&declared.as_str())).then(|| GridMismatch {
        address: a.id.clone(),
        declared: declared.clone(),
        actual: codes.first().map(|c| c.to_string()),
    })
}

fn check_addresses(
    index: &GridIndex,
    buildings: &[Building],
    addresses: &[Address],
) -> AddressProblems {
    let building_index = BuildingIndex::new(buildings);
    let per_address: Vec<(Option<NotInBuilding>, Option<GridMismatch>)> = addresses
        .par_iter()
        .map(|a| {
            let p = a.point.0;
            let not_in_building = building_index.buildings_at(p).is_empty().then(|| {
                let nearest = nearest_building(&building_index, p);
                NotInBuilding {
                    address: a.id.clone(),
                    distance_m: nearest.map(|n| n.1),
                    nearest_building: nearest.map(|n| buildings[n.0 as usize].id.clone()),
                }
            });
            (not_in_building, grid_mismatch(index, a))
        })
        .collect();
    let mut problems = AddressProblems::default();
    for (n, m) in per_address {
        problems.not_in_building.extend(n);
        problems.grid_mismatch.extend(m);
    }
    problems
}

/// The nearest building to `p` and its distance in metres (0 when `p` lies in a footprint).
///
/// # Performance
/// An R-tree nearest-neighbour walk that stops once envelope distances exceed the best exact
/// distance found: a handful of footprints for a typical address.
pub fn nearest_building(index: &BuildingIndex, p: Coord) -> Option<(u32, f64)> {
    let frame = LocalMetres::at(p);
    // Metres per degree in the least stretched direction: envelope distances in degrees times
    // this never exceed the true distance, so the search can stop once they pass the best.
    let min_scale = frame
        .project(Coord {
            x: p.x + 1.0,
            y: p.y,
        })
        .x
        .min(
            frame
                .project(Coord {
                    x: p.x,
                    y: p.y + 1.0,
                })
                .y,
        );
    let mut best: Option<(u32, f64)> = None;
    for (i, d2) in index.nearest_candidates(p) {
        if let Some((_, d)) = best
            && d2.sqrt() * min_scale > d
        {
            break;
        }
        let d = distance_to_footprint(&frame, p, &index.buildings()[i as usize].footprint);
        if best.is_none_or(|(_, bd)| d < bd) {
            best = Some((i, d));
        }
    }
    best
}

fn distance_to_footprint(frame: &LocalMetres, p: Coord, footprint: &Footprint) -> f64 {
    match footprint {
        Footprint::Point(q) => point_segment_distance_m(frame, p, q.0, q.0),
        Footprint::Area(area) => {
            if PreparedArea::new(area).locate(p) != Location::Outside {
                return 0.0;
            }
            area.0
                .iter()
                .flat_map(|poly| std::iter::once(poly.exterior()).chain(poly.interiors()))
                .flat_map(|ring| ring.0.windows(2))
                .map(|w| point_segment_distance_m(frame, p, w[0], w[1]))
                .fold(f64::INFINITY, f64::min)
        }
    }
}
