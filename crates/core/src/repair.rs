//! Coverage repair: slivers, overlaps and gaps fixed with the least change, and a report of
//! what changed for whom.
//!
//! [`repair`] takes the grids of a village (or a town), optionally the boundary they should
//! cover, and the buildings, and answers repaired grids with a [`RepairReport`]. It lives in
//! `core` beside validation because it is validation's other half: it finds what to repair
//! with [`validate()`](fn@crate::validate::validate) itself (the same overlaps, the same gaps),
//! measures areas with [`geodesy`](crate::geodesy), and assigns buildings with
//! [`assign`](crate::assign), so that "repaired" means exactly "validation finds nothing".
//!
//! The steps, in order:
//! 1. **Make valid.** Repeated points and spikes (a vertex where the ring turns straight
//!    back) are dropped; a grid that is still not a valid polygon (self-intersection, ring
//!    too short) is overlaid with itself under the even–odd rule. Of several parts the
//!    largest stays the grid; the others become fragments (step 5).
//! 2. **Clip.** With a boundary, each grid is cut to it.
//! 3. **Snap.** Vertices of different grids (and of the boundary, which never moves) within
//!    `snap_m` of each other become one vertex (where most of them already are), and a vertex
//!    within `snap_m` of a neighbour's edge moves onto it and is inserted into it, so that
//!    every shared edge has the same vertices on both sides. Edges never bend, and vertices
//!    already shared keep their exact coordinates.
//! 4. **Overlaps.** Each overlap no larger than `max_overlap_m2` goes to one of its two grids:
//!    the one holding more of the footprints of the buildings that touch it (so that a building
//!    straddling the overlap's edge is not split when a choice avoids it), else the one
//!    sharing the longer edge with it; it is cut from the other. Larger ones are left.
//! 5. **Fragments.** A grid cut into several parts keeps its largest; the others go to the
//!    neighbour sharing the longest edge with them.
//! 6. **Gaps.** Each gap (inside the boundary, or without one a hole enclosed by the grids)
//!    no larger than `max_gap_m2` and holding no building goes to the neighbour sharing the
//!    longest edge with it. Larger ones and ones holding buildings are left for a human.
//! 7. **Tidy** (after step 5 and again after step 6). Overlays round the coordinates they
//!    output to a grid of their own, so the grids they changed get back the input coordinates
//!    they were within a millimetre of, and are snapped once more to their neighbours with a
//!    tolerance of a centimetre, the unchanged neighbours winning.
//!
//! The report lists each change with the grids and the area moved, every grid's area before
//! and after, the buildings (and households) whose grid changes, and what was left and why.
//!
//! Guarantees, held by the property tests in `crates/synth/tests/repair.rs`: validation of
//! the result finds no overlap and no gap that was not left and reported; every grid that was
//! repairable is one valid polygon; buildings away from every defect keep their grid.

use std::collections::BTreeMap;

use geo::algorithm::bool_ops::{FillRule, OpType};
use geo::{BooleanOps, BoundingRect, Coord, MultiPolygon, Polygon, Rect, Validation};
use serde::Serialize;

use crate::assign::Assignment;
use crate::geodesy::{LocalMetres, area_m2};
use crate::index::BuildingIndex;
use crate::locate::PreparedArea;
use crate::model::{Building, Footprint, Grid};
use crate::overlay::intersection_area;
use crate::surface::point_on_surface;
use crate::validate::{
    Coverage, CoverageInput, Options as ValidateOptions, grown, union_rect, validate,
};

mod snap;

/// Thresholds of a repair.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RepairOptions {
    /// Vertices and edges of neighbours closer than this (m) are made to coincide.
    pub snap_m: f64,
    /// Gaps up to this area (m²) are filled; larger ones are left for a human.
    pub max_gap_m2: f64,
    /// Overlaps up to this area (m²) are given to one grid; larger ones are left for a human.
    pub max_overlap_m2: f64,
    /// Overlaps and gaps at or below this area (m²) are not defects, as in validation.
    pub min_area_m2: f64,
}

impl Default for RepairOptions {
    fn default() -> Self {
        RepairOptions {
            snap_m: 1.0,
            max_gap_m2: 100.0,
            max_overlap_m2: 2_000.0,
            min_area_m2: ValidateOptions::default().min_area_m2,
        }
    }
}

/// What to repair.
#[derive(Debug, Clone, Copy, Default)]
pub struct RepairInput<'a> {
    /// The grids; codes should be unique, as the report names grids by code.
    pub grids: &'a [Grid],
    /// The outline the grids should cover exactly (village or town), if known.
    pub boundary: Option<&'a MultiPolygon>,
    /// The buildings, to keep them whole and to say which change grid.
    pub buildings: &'a [Building],
}

/// One change the repair made.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// An invalid grid made valid.
    MadeValid {
        /// Code of the grid.
        grid: String,
        /// What was wrong, as validation words it.
        reason: String,
    },
    /// Vertices of a grid snapped to its neighbours' (or the boundary's).
    Snapped {
        /// Code of the grid.
        grid: String,
        /// Vertices moved.
        moved: usize,
        /// Vertices inserted where a neighbour's vertex lies on its edge.
        inserted: usize,
    },
    /// The part of a grid outside the boundary cut off.
    Clipped {
        /// Code of the grid.
        grid: String,
        /// Area cut off, m².
        area_m2: f64,
    },
    /// An overlap given to one of its grids and cut from the other.
    Overlap {
        /// The grid that keeps it.
        to: String,
        /// The grid it is cut from.
        from: String,
        /// Its area, m².
        area_m2: f64,
        /// Why this grid: `buildings` or `longest shared edge`.
        why: String,
        /// A point inside it, `[lon, lat]`.
        point: [f64; 2],
    },
    /// A part cut off a grid (by making it valid or by an overlap) given to a neighbour.
    Fragment {
        /// The grid it was part of.
        from: String,
        /// The grid it now belongs to.
        to: String,
        /// Its area, m².
        area_m2: f64,
        /// A point inside it, `[lon, lat]`.
        point: [f64; 2],
    },
    /// A gap given to the neighbour sharing the longest edge with it.
    Gap {
        /// The grid it now belongs to.
        to: String,
        /// Its area, m².
        area_m2: f64,
        /// A point inside it, `[lon, lat]`.
        point: [f64; 2],
    },
}

/// A defect left for a human, with why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Left {
    /// `invalid_grid`, `overlap`, `gap` or `fragment`.
    pub kind: String,
    /// Codes of the grids concerned (none for a gap).
    pub grids: Vec<String>,
    /// Its area, m² (0 for an invalid grid).
    pub area_m2: f64,
    /// A point inside it, `[lon, lat]`, when it has an area.
    pub point: Option<[f64; 2]>,
    /// Ids of the buildings located in it, sorted.
    pub buildings: Vec<String>,
    /// Why it was left, in English.
    pub why: String,
}

/// How a grid's area changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GridChange {
    /// Code of the grid.
    pub grid: String,
    /// Area before, m².
    pub area_before_m2: f64,
    /// Area after, m².
    pub area_after_m2: f64,
    /// Area it gained, m².
    pub added_m2: f64,
    /// Area it lost, m².
    pub removed_m2: f64,
}

/// A building whose grid changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MovedBuilding {
    /// Id of the building.
    pub building: String,
    /// Households in it.
    pub households: u32,
    /// The grids its location lay in before (none: in a gap; several: in an overlap).
    pub from: Vec<String>,
    /// The grids its location lies in after.
    pub to: Vec<String>,
}

/// Counts of a repair.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RepairSummary {
    /// Grids in the input.
    pub grids: usize,
    /// Grids whose geometry changed.
    pub grids_changed: usize,
    /// Invalid grids before and after.
    pub invalid_before: usize,
    /// Invalid grids after.
    pub invalid_after: usize,
    /// Overlaps (above `min_area_m2`) before.
    pub overlaps_before: usize,
    /// Overlaps after.
    pub overlaps_after: usize,
    /// Gaps (above `min_area_m2`) before.
    pub gaps_before: usize,
    /// Gaps after.
    pub gaps_after: usize,
    /// Grids reaching outside the boundary before.
    pub outside_before: usize,
    /// Grids reaching outside the boundary after.
    pub outside_after: usize,
    /// Buildings whose grid changed.
    pub buildings_moved: usize,
    /// Households in them.
    pub households_moved: u64,
    /// Defects left for a human.
    pub left: usize,
}

/// What a repair did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RepairReport {
    /// The options it ran with.
    pub options: Option<RepairOptions>,
    /// Counts.
    pub summary: RepairSummary,
    /// Each change, in the order made.
    pub changes: Vec<Change>,
    /// Each grid whose geometry changed, in code order.
    pub grids: Vec<GridChange>,
    /// Each building whose grid changed, by id.
    pub moved_buildings: Vec<MovedBuilding>,
    /// What was left for a human, and why.
    pub left: Vec<Left>,
}

/// Repaired grids and the report.
#[derive(Debug, Clone)]
pub struct Repaired {
    /// The grids in input order, codes and names unchanged, geometries repaired.
    pub grids: Vec<Grid>,
    /// What was done.
    pub report: RepairReport,
}

/// Passes of overlap and gap resolution at most; the second rarely has anything to do.
const MAX_PASSES: usize = 3;

/// Tolerance of the final snap (m): overlays move coordinates by far less.
const TIDY_M: f64 = 0.01;

/// Repairs the coverage of `input` (see the module docs); `progress` is told each step.
///
/// # Performance
/// Three validation runs (before, during, after), one snap over all vertices (R-trees), and
/// one overlay per overlap, fragment and gap.
pub fn repair(
    input: &RepairInput,
    options: &RepairOptions,
    progress: &mut dyn FnMut(&str),
) -> Repaired {
    let vopts = ValidateOptions {
        min_area_m2: options.min_area_m2,
        ..ValidateOptions::default()
    };
    let check = |grids: &[Grid]| {
        validate(
            &CoverageInput {
                grids,
                buildings: input.buildings,
                boundary: input.boundary,
                ..CoverageInput::default()
            },
            &vopts,
            &mut |_| {},
        )
    };
    // Between the steps only the shapes matter: overlaps and gaps without the buildings
    // (a validation without them skips assigning a million buildings each time); the
    // buildings in an overlap or gap are looked up where needed.
    let shapes = |grids: &[Grid]| {
        validate(
            &CoverageInput {
                grids,
                boundary: input.boundary,
                ..CoverageInput::default()
            },
            &vopts,
            &mut |_| {},
        )
    };
    progress("validating the input");
    let before = check(input.grids);
    let mut work = Work::new(input, options);

    progress("making invalid grids valid");
    work.make_valid(&before);
    // Clip first, so that the vertices where grid edges cross the boundary are snapped with
    // their neighbours' like any other.
    if input.boundary.is_some() {
        progress("clipping to the boundary");
        work.clip();
    }
    progress("snapping shared edges");
    work.snap(options.snap_m, &|_| 0);
    // Snapping a grid that lost an overlap to its other neighbours can, rarely, open a new
    // sliver of overlap or gap: a second (and third) pass takes what the first left.
    for pass in 0..MAX_PASSES {
        let made = work.changes.len();
        progress("resolving overlaps");
        let mid = shapes(&work.grids());
        work.overlaps(&mid);
        work.fragments();
        // Before looking for gaps, close the seams of no width that overlays leave: without
        // a boundary a gap is a hole in the union, and a seam would open it to the outside.
        work.tidy();
        progress("filling gaps");
        let mid = shapes(&work.grids());
        work.gaps(&mid);
        work.fragments();
        progress("tidying");
        work.tidy();
        let resolved = work.changes[made..]
            .iter()
            .any(|c| !matches!(c, Change::Snapped { .. }));
        if !resolved || pass + 1 == MAX_PASSES {
            break;
        }
    }
    work.last_valid();

    progress("validating the result");
    let grids = work.grids();
    let after = check(&grids);
    let report = work.report(&before, &after, &grids);
    Repaired { grids, report }
}

/// The state of a repair in progress.
struct Work<'a> {
    input: &'a RepairInput<'a>,
    options: &'a RepairOptions,
    geoms: Vec<MultiPolygon>,
    /// Grids an overlay has output (their coordinates are rounded).
    touched: Vec<bool>,
    /// Grids that could not be made valid: left out of everything.
    broken: Vec<bool>,
    /// Parts cut off a grid, waiting for a neighbour.
    orphans: Vec<(usize, Polygon)>,
    changes: Vec<Change>,
    left: Vec<Left>,
    frame: LocalMetres,
    buildings: BuildingIndex<'a>,
}

/// `mp` made valid by an overlay of itself under the even–odd rule: self-intersections split
/// into their lobes, spikes and doubled edges cancel, holes stay holes. (geo's `MakeValid`
/// rebuilds rings from a triangulation and was seen to drop vertices of a valid notch next
/// to a spike; the overlay keeps every vertex, rounded by a few units in the last place,
/// which the tidy step puts back.)
fn make_valid(mp: &MultiPolygon) -> MultiPolygon {
    mp.boolean_op_with_fill_rule(&MultiPolygon(vec![]), OpType::Union, FillRule::EvenOdd)
}

/// The point inside `p` as `[lon, lat]`, or its first vertex.
fn point_in(p: &MultiPolygon) -> [f64; 2] {
    let c = point_on_surface(p)
        .or_else(|| p.0.first()?.exterior().0.first().copied())
        .unwrap_or(Coord { x: 0.0, y: 0.0 });
    [c.x, c.y]
}

/// Length (m) of the outline that `a` and `b` share: the parts of `b`'s edges along which an
/// edge of `a` runs within a centimetre. Overlays round coordinates, so outlines that should
/// coincide may be a few units in the last place apart; this measure does not care.
fn shared_edge_m(a: &MultiPolygon, b: &MultiPolygon, frame: &LocalMetres) -> f64 {
    let edges = |mp: &MultiPolygon| -> Vec<(Coord, Coord)> {
        mp.0.iter()
            .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
            .flat_map(|r| {
                r.0.windows(2)
                    .map(|w| (frame.project(w[0]), frame.project(w[1])))
            })
            .collect()
    };
    let ea = edges(a);
    let mut total = 0.0;
    let mut spans: Vec<(f64, f64)> = Vec::new();
    for (p, q) in edges(b) {
        let d = q - p;
        let len = d.x.hypot(d.y);
        if len <= 0.0 {
            continue;
        }
        let off = |c: Coord| ((c - p).x * d.y - (c - p).y * d.x).abs() / len;
        let t = |c: Coord| ((c - p).x * d.x + (c - p).y * d.y) / (len * len);
        spans.clear();
        for &(r, s) in &ea {
            if off(r) <= TIDY_M && off(s) <= TIDY_M {
                let (t0, t1) = (t(r).clamp(0.0, 1.0), t(s).clamp(0.0, 1.0));
                if t0 != t1 {
                    spans.push((t0.min(t1), t0.max(t1)));
                }
            }
        }
        spans.sort_by(|x, y| x.0.total_cmp(&y.0));
        let (mut covered, mut end) = (0.0, 0.0f64);
        for &(s0, s1) in &spans {
            let s0 = s0.max(end);
            if s1 > s0 {
                covered += s1 - s0;
                end = s1;
            }
        }
        total += covered * len;
    }
    total
}

fn rect_of(mp: &MultiPolygon) -> Option<Rect> {
    mp.bounding_rect()
}

fn rects_meet(a: &Rect, b: &Rect) -> bool {
    a.min().x <= b.max().x
        && b.min().x <= a.max().x
        && a.min().y <= b.max().y
        && b.min().y <= a.max().y
}

/// The parts of `mp` largest first (by planar area, enough to rank parts of one grid).
fn largest_first(mp: MultiPolygon) -> Vec<Polygon> {
    use geo::Area;
    let mut parts = mp.0;
    parts.sort_by(|a, b| b.unsigned_area().total_cmp(&a.unsigned_area()));
    parts
}

impl<'a> Work<'a> {
    fn new(input: &'a RepairInput<'a>, options: &'a RepairOptions) -> Self {
        let centre = input
            .grids
            .iter()
            .filter_map(|g| g.geometry.bounding_rect())
            .reduce(|a, b| union_rect(&a, &b))
            .map(|r| r.center())
            .unwrap_or(Coord { x: 0.0, y: 0.0 });
        Work {
            input,
            options,
            geoms: input
                .grids
                .iter()
                .map(|g| snap::clean(&g.geometry))
                .collect(),
            touched: vec![false; input.grids.len()],
            broken: vec![false; input.grids.len()],
            orphans: Vec::new(),
            changes: Vec::new(),
            left: Vec::new(),
            frame: LocalMetres::at(centre),
            buildings: BuildingIndex::new(input.buildings),
        }
    }

    fn code(&self, g: usize) -> String {
        self.input.grids[g].code.clone()
    }

    /// The grids as they stand (broken ones as they came).
    fn grids(&self) -> Vec<Grid> {
        self.input
            .grids
            .iter()
            .zip(&self.geoms)
            .map(|(g, geometry)| Grid {
                geometry: geometry.clone(),
                ..g.clone()
            })
            .collect()
    }

    /// Sets grid `g` to the largest part of `mp`, the other parts becoming orphans.
    fn set_parts(&mut self, g: usize, mp: MultiPolygon) {
        let mut parts = largest_first(mp).into_iter();
        let Some(first) = parts.next() else {
            self.geoms[g] = MultiPolygon(vec![]);
            return;
        };
        self.geoms[g] = MultiPolygon(vec![first]);
        self.orphans.extend(parts.map(|p| (g, p)));
    }

    fn make_valid(&mut self, before: &Coverage) {
        let reasons: BTreeMap<&str, &str> = before
            .report
            .invalid_grids
            .iter()
            .map(|i| (i.grid.as_str(), i.reason.as_str()))
            .collect();
        for g in 0..self.geoms.len() {
            let fixed = self.valid_or_repaired(g);
            match fixed {
                Ok(None) => {
                    // Cleaning repeated points and spikes was enough.
                    if let Some(reason) = reasons.get(self.input.grids[g].code.as_str()) {
                        self.changes.push(Change::MadeValid {
                            grid: self.code(g),
                            reason: reason.to_string(),
                        });
                    }
                }
                Ok(Some(mp)) => {
                    let reason = reasons
                        .get(self.input.grids[g].code.as_str())
                        .map_or("repeated points", |r| r)
                        .to_string();
                    self.changes.push(Change::MadeValid {
                        grid: self.code(g),
                        reason,
                    });
                    self.touched[g] = true;
                    self.set_parts(g, mp);
                }
                Err(why) => {
                    self.broken[g] = true;
                    self.geoms[g] = self.input.grids[g].geometry.clone();
                    self.left.push(Left {
                        kind: "invalid_grid".into(),
                        grids: vec![self.code(g)],
                        area_m2: 0.0,
                        point: None,
                        buildings: vec![],
                        why,
                    });
                }
            }
        }
    }

    /// `None` when grid `g` is one valid polygon, else the repaired geometry, or why it cannot
    /// be repaired.
    fn valid_or_repaired(&self, g: usize) -> Result<Option<MultiPolygon>, String> {
        let mp = &self.geoms[g];
        if mp.0.is_empty() {
            return Err("empty geometry: nothing to repair, draw it again".into());
        }
        if mp.is_valid() && mp.0.len() == 1 {
            return Ok(None);
        }
        if mp.is_valid() {
            return Ok(Some(mp.clone()));
        }
        let fixed = make_valid(mp);
        if fixed.0.is_empty() {
            return Err("no area is left once made valid: draw it again".into());
        }
        Ok(Some(fixed))
    }

    fn snap(&mut self, tol_m: f64, prefer: &dyn Fn(u32) -> u32) {
        // Broken grids take no part: give them no vertices.
        let mut held: Vec<(usize, MultiPolygon)> = Vec::new();
        for g in 0..self.geoms.len() {
            if self.broken[g] {
                held.push((
                    g,
                    std::mem::replace(&mut self.geoms[g], MultiPolygon(vec![])),
                ));
            }
        }
        let before = self.geoms.clone();
        let done = snap::snap(
            &mut self.geoms,
            self.input.boundary,
            tol_m,
            &self.frame,
            prefer,
        );
        for (g, mp) in held {
            self.geoms[g] = mp;
        }
        for (g, d) in done.into_iter().enumerate() {
            if d == snap::Snapped::default() {
                continue;
            }
            if tol_m >= self.options.snap_m {
                self.changes.push(Change::Snapped {
                    grid: self.code(g),
                    moved: d.moved,
                    inserted: d.inserted,
                });
            }
            // Snapping can fold a thin part over: make it valid again.
            let mp = snap::clean(&self.geoms[g]);
            self.geoms[g] = mp;
            match self.valid_or_repaired(g) {
                Ok(None) => {}
                Ok(Some(fixed)) => {
                    self.touched[g] = true;
                    self.set_parts(g, fixed);
                }
                Err(_) => {
                    // Snapping collapsed it: keep it as it was.
                    self.geoms[g] = before[g].clone();
                }
            }
        }
    }

    fn clip(&mut self) {
        let Some(boundary) = self.input.boundary else {
            return;
        };
        let pb = PreparedArea::new(boundary);
        for g in 0..self.geoms.len() {
            if self.broken[g] {
                continue;
            }
            let pg = PreparedArea::new(&self.geoms[g]);
            let outside = pg.planar_area() - intersection_area(&pg, &pb);
            let Some(at) = pg.bbox() else { continue };
            if outside * LocalMetres::at(at.center()).m2_per_deg2() <= 1e-6 {
                continue;
            }
            let cut = self.geoms[g].difference(boundary);
            let area = area_m2(&cut);
            let inside = self.geoms[g].intersection(boundary);
            self.changes.push(Change::Clipped {
                grid: self.code(g),
                area_m2: area,
            });
            self.touched[g] = true;
            self.set_parts(g, inside);
        }
    }

    /// Area of the footprints touching `region` held by grid `g` outside `region`, in
    /// planar units.
    fn held_outside(&self, g: usize, region: &MultiPolygon) -> f64 {
        let Some(r) = rect_of(region) else { return 0.0 };
        let pr = PreparedArea::new(region);
        let pg = PreparedArea::new(&self.geoms[g]);
        let mut held = 0.0;
        for b in self.buildings.buildings_in(r) {
            let Footprint::Area(fp) = &self.input.buildings[b as usize].footprint else {
                continue;
            };
            let pf = PreparedArea::new(fp);
            let in_region = intersection_area(&pf, &pr);
            if in_region <= 0.0 {
                continue;
            }
            held += (intersection_area(&pf, &pg) - in_region).max(0.0);
        }
        held
    }

    fn overlaps(&mut self, mid: &Coverage) {
        let index: BTreeMap<&str, usize> = self
            .input
            .grids
            .iter()
            .enumerate()
            .map(|(i, g)| (g.code.as_str(), i))
            .collect();
        // What an earlier pass left is found again.
        self.left.retain(|l| l.kind != "overlap");
        for o in &mid.report.overlaps {
            let (a, b) = (index[o.grids[0].as_str()], index[o.grids[1].as_str()]);
            let point = point_in(&o.geometry);
            if o.area_m2 > self.options.max_overlap_m2 {
                self.left.push(Left {
                    kind: "overlap".into(),
                    grids: o.grids.to_vec(),
                    area_m2: o.area_m2,
                    point: Some(point),
                    buildings: self.buildings_located_in(&o.geometry),
                    why: format!(
                        "larger than max_overlap_m2 ({} m²): a human decides which grid it belongs to",
                        self.options.max_overlap_m2
                    ),
                });
                continue;
            }
            // Each grid's remainder once the overlap is cut from it.
            // Each grid's remainder once the other is cut from it: exactly the overlap goes,
            // and the new edge is the other grid's.
            let rest_a = self.geoms[a].difference(&self.geoms[b]);
            let rest_b = self.geoms[b].difference(&self.geoms[a]);
            let (held_a, held_b) = (
                self.held_outside(a, &o.geometry),
                self.held_outside(b, &o.geometry),
            );
            let scale = (held_a + held_b).max(f64::MIN_POSITIVE);
            let (winner, why) = if (held_a - held_b).abs() / scale > 1e-6 {
                (if held_a > held_b { a } else { b }, "buildings")
            } else {
                let edge = |rest: &MultiPolygon| shared_edge_m(rest, &o.geometry, &self.frame);
                (
                    if edge(&rest_a) >= edge(&rest_b) { a } else { b },
                    "longest shared edge",
                )
            };
            let (loser, rest) = if winner == a {
                (b, rest_b)
            } else {
                (a, rest_a)
            };
            self.changes.push(Change::Overlap {
                to: self.code(winner),
                from: self.code(loser),
                area_m2: o.area_m2,
                why: why.into(),
                point,
            });
            self.touched[loser] = true;
            self.set_parts(loser, rest);
        }
    }

    /// The neighbour of `region` sharing the longest edge with it (at least a centimetre),
    /// other than `not`.
    fn best_neighbour(&self, region: &MultiPolygon, not: Option<usize>) -> Option<usize> {
        let r = grown(rect_of(region)?, 1e-7);
        let mut best: Option<(f64, usize)> = None;
        for g in 0..self.geoms.len() {
            if self.broken[g] || Some(g) == not {
                continue;
            }
            let Some(gr) = rect_of(&self.geoms[g]) else {
                continue;
            };
            if !rects_meet(&r, &gr) {
                continue;
            }
            let len = shared_edge_m(&self.geoms[g], region, &self.frame);
            if len > TIDY_M && best.is_none_or(|(l, _)| len > l) {
                best = Some((len, g));
            }
        }
        best.map(|(_, g)| g)
    }

    /// Gives `region` to grid `g`.
    fn give(&mut self, g: usize, region: &MultiPolygon) {
        // Overlays round: make the region's outline follow the grid's exactly first, or the
        // union would keep a seam of no width between them.
        let mut r = vec![region.clone()];
        snap::snap(&mut r, Some(&self.geoms[g]), TIDY_M, &self.frame, &|_| 0);
        let union = self.geoms[g].union(&r[0]);
        self.touched[g] = true;
        self.set_parts(g, union);
    }

    fn buildings_located_in(&self, region: &MultiPolygon) -> Vec<String> {
        let Some(r) = rect_of(region) else {
            return vec![];
        };
        let pr = PreparedArea::new(region);
        let mut ids: Vec<String> = self
            .buildings
            .buildings_in(r)
            .into_iter()
            .map(|b| &self.input.buildings[b as usize])
            .filter(|b| {
                b.location()
                    .is_some_and(|p| pr.locate(p) == crate::locate::Location::Inside)
            })
            .map(|b| b.id.clone())
            .collect();
        ids.sort();
        ids
    }

    fn fragments(&mut self) {
        // Giving a fragment away can cut off another; each round shrinks the orphans' area.
        for _ in 0..4 {
            let orphans = std::mem::take(&mut self.orphans);
            if orphans.is_empty() {
                return;
            }
            for (from, part) in orphans {
                let mp = MultiPolygon(vec![part]);
                let area = area_m2(&mp);
                if area <= 1e-6 {
                    continue;
                }
                let point = point_in(&mp);
                match self.best_neighbour(&mp, Some(from)) {
                    Some(to) => {
                        self.changes.push(Change::Fragment {
                            from: self.code(from),
                            to: self.code(to),
                            area_m2: area,
                            point,
                        });
                        self.give(to, &mp);
                    }
                    None => self.left.push(Left {
                        kind: "fragment".into(),
                        grids: vec![self.code(from)],
                        area_m2: area,
                        point: Some(point),
                        buildings: self.buildings_located_in(&mp),
                        why: "a part cut off the grid that touches no other grid: a human decides"
                            .into(),
                    }),
                }
            }
        }
    }

    fn gaps(&mut self, mid: &Coverage) {
        // What an earlier pass left is found again.
        self.left.retain(|l| l.kind != "gap");
        for gap in &mid.report.gaps {
            let mp = MultiPolygon(vec![gap.geometry.clone()]);
            let located = self.buildings_located_in(&mp);
            let left = |why: String| Left {
                kind: "gap".into(),
                grids: vec![],
                area_m2: gap.area_m2,
                point: Some(gap.point),
                buildings: located.clone(),
                why,
            };
            let mut why: Vec<String> = Vec::new();
            if gap.area_m2 > self.options.max_gap_m2 {
                why.push(format!(
                    "larger than max_gap_m2 ({} m²)",
                    self.options.max_gap_m2
                ));
            }
            if !located.is_empty() {
                why.push(format!("holds {} building(s) in no grid", located.len()));
            }
            if !why.is_empty() {
                self.left.push(left(format!(
                    "{}: a human decides which grid it belongs to",
                    why.join(" and ")
                )));
                continue;
            }
            match self.best_neighbour(&mp, None) {
                Some(to) => {
                    self.changes.push(Change::Gap {
                        to: self.code(to),
                        area_m2: gap.area_m2,
                        point: gap.point,
                    });
                    self.give(to, &mp);
                }
                None => self.left.push(left("touches no grid along an edge".into())),
            }
        }
    }

    /// Puts back rounded input coordinates and snaps the grids overlays output to their
    /// neighbours within [`TIDY_M`], the neighbours' vertices winning.
    fn tidy(&mut self) {
        self.restore();
        let touched = self.touched.clone();
        self.snap(TIDY_M.min(self.options.snap_m), &|g| {
            u32::from(touched[g as usize])
        });
    }

    /// Puts back the input coordinates of the vertices that overlays rounded (by less than a
    /// millimetre) in the grids they output.
    fn restore(&mut self) {
        for g in 0..self.geoms.len() {
            if !self.touched[g] || self.broken[g] {
                continue;
            }
            let mut one = vec![std::mem::replace(&mut self.geoms[g], MultiPolygon(vec![]))];
            snap::snap(
                &mut one,
                Some(&self.input.grids[g].geometry),
                TIDY_M / 10.0,
                &self.frame,
                &|_| 0,
            );
            self.geoms[g] = one.pop().unwrap_or_else(|| MultiPolygon(vec![]));
        }
    }

    /// After the tidy snap, every grid must be one valid polygon.
    fn last_valid(&mut self) {
        for g in 0..self.geoms.len() {
            if self.broken[g] {
                continue;
            }
            if let Ok(Some(fixed)) = self.valid_or_repaired(g) {
                self.set_parts(g, fixed);
            }
        }
        // Whatever falls off now is too small to matter for coverage; report it.
        for (from, part) in std::mem::take(&mut self.orphans) {
            let mp = MultiPolygon(vec![part]);
            let area = area_m2(&mp);
            if area > self.options.min_area_m2 {
                self.left.push(Left {
                    kind: "fragment".into(),
                    grids: vec![self.code(from)],
                    area_m2: area,
                    point: Some(point_in(&mp)),
                    buildings: self.buildings_located_in(&mp),
                    why: "a part that fell off the grid when its last vertices were snapped".into(),
                });
            }
        }
    }

    fn report(&self, before: &Coverage, after: &Coverage, grids: &[Grid]) -> RepairReport {
        let mut changed: Vec<GridChange> = Vec::new();
        for (g, old) in self.input.grids.iter().enumerate() {
            let new = &grids[g].geometry;
            if *new == old.geometry || self.broken[g] {
                continue;
            }
            changed.push(GridChange {
                grid: old.code.clone(),
                area_before_m2: area_m2(&old.geometry),
                area_after_m2: area_m2(new),
                added_m2: area_m2(&new.difference(&self.geoms_before_valid(g))),
                removed_m2: area_m2(&self.geoms_before_valid(g).difference(new)),
            });
        }
        changed.sort_by(|a, b| a.grid.cmp(&b.grid));
        let holding = |c: &Coverage, i: usize| -> Vec<String> {
            let code = |g: &u32| self.input.grids[*g as usize].code.clone();
            match &c.assignments[i] {
                Assignment::NoGrid => vec![],
                Assignment::One { grid, .. } => vec![code(grid)],
                Assignment::Many(gs) => gs.iter().map(code).collect(),
            }
        };
        let mut moved: Vec<MovedBuilding> = (0..self.input.buildings.len())
            .filter_map(|i| {
                let (from, to) = (holding(before, i), holding(after, i));
                (from != to).then(|| MovedBuilding {
                    building: self.input.buildings[i].id.clone(),
                    households: self.input.buildings[i].households,
                    from,
                    to,
                })
            })
            .collect();
        moved.sort_by(|a, b| a.building.cmp(&b.building));
        let (b, a) = (&before.report.summary, &after.report.summary);
        RepairReport {
            options: Some(*self.options),
            summary: RepairSummary {
                grids: self.input.grids.len(),
                grids_changed: changed.len(),
                invalid_before: b.invalid_grids,
                invalid_after: a.invalid_grids,
                overlaps_before: b.overlaps,
                overlaps_after: a.overlaps,
                gaps_before: b.gaps,
                gaps_after: a.gaps,
                outside_before: b.outside_boundary,
                outside_after: a.outside_boundary,
                buildings_moved: moved.len(),
                households_moved: moved.iter().map(|m| u64::from(m.households)).sum(),
                left: self.left.len(),
            },
            // Snapping that later steps undid (a vertex put back where it was) is no change.
            changes: self
                .changes
                .iter()
                .filter(|c| match c {
                    Change::Snapped { grid, .. } => changed.iter().any(|g| &g.grid == grid),
                    _ => true,
                })
                .cloned()
                .collect(),
            grids: changed,
            moved_buildings: moved,
            left: self.left.clone(),
        }
    }

    /// Grid `g` as it came, made valid when it was not (to measure what changed).
    fn geoms_before_valid(&self, g: usize) -> MultiPolygon {
        let old = &self.input.grids[g].geometry;
        if old.is_valid() {
            old.clone()
        } else {
            make_valid(old)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::polygon;

    fn grid(code: &str, poly: Polygon) -> Grid {
        Grid {
            code: code.into(),
            name: None,
            village: None,
            geometry: MultiPolygon(vec![poly]),
        }
    }

    fn house(id: &str, x: f64, y: f64, s: f64) -> Building {
        Building {
            id: id.into(),
            footprint: Footprint::Area(MultiPolygon(vec![polygon![
                (x: x, y: y), (x: x + s, y: y), (x: x + s, y: y + s), (x: x, y: y + s)]])),
            households: 2,
            floors: None,
            kind: None,
        }
    }

    const D: f64 = 1e-3; // about 100 m

    fn square(x: f64, y: f64, w: f64, h: f64) -> Polygon {
        polygon![(x: x, y: y), (x: x + w, y: y), (x: x + w, y: y + h), (x: x, y: y + h)]
    }

    /// The changes other than snapping.
    fn resolved(r: &Repaired) -> Vec<&Change> {
        r.report
            .changes
            .iter()
            .filter(|c| !matches!(c, Change::Snapped { .. }))
            .collect()
    }

    #[test]
    fn an_overlap_goes_to_the_grid_holding_the_building_it_cuts() {
        let (x, y) = (121.0, 31.0);
        // B reaches 10 m (1e-4°) into A; a house straddles B's edge, mostly in A.
        let grids = vec![
            grid("A", square(x, y, D, D)),
            grid("B", square(x + D - 1e-4, y, D + 1e-4, D)),
        ];
        let buildings = vec![house("h", x + D - 1.2e-4, y + D / 2.0, 1e-4)];
        let r = repair(
            &RepairInput {
                grids: &grids,
                boundary: None,
                buildings: &buildings,
            },
            &RepairOptions::default(),
            &mut |_| {},
        );
        assert!(
            matches!(&resolved(&r)[..], [Change::Overlap { to, why, .. }] if to == "A" && why == "buildings"),
            "{:?}",
            r.report.changes
        );
        assert_eq!(r.report.summary.overlaps_after, 0);
        assert_eq!(r.report.summary.gaps_after, 0);
        // The house was in both grids and is now in A alone.
        assert_eq!(
            r.report.moved_buildings,
            vec![MovedBuilding {
                building: "h".into(),
                households: 2,
                from: vec!["A".into(), "B".into()],
                to: vec!["A".into()],
            }]
        );
        // A keeps its shape (it only gains B's corners on its edge); B's left edge is now
        // A's right edge.
        let a = r.report.grids.iter().find(|g| g.grid == "A").unwrap();
        assert!(a.added_m2 < 0.01 && a.removed_m2 < 0.01, "{a:?}");
        assert!(
            r.grids[0].geometry.0[0]
                .exterior()
                .0
                .contains(&Coord { x: x + D - 1e-4, y })
        );
        let b = &r.grids[1].geometry.0[0].exterior().0;
        assert!(b[1..].iter().filter(|c| c.x == x + D).count() == 2, "{b:?}");
        // Its other corners are where they were, not where the overlay rounded them.
        assert!(b.contains(&Coord { x: x + 2.0 * D, y }), "{b:?}");
    }

    #[test]
    fn a_small_empty_gap_is_filled_and_one_holding_a_building_is_left() {
        let (x, y) = (121.0, 31.0);
        // A 2 m gap between A and B, 100 m long: 200 m² (fills with max_gap 300).
        let grids = vec![
            grid("A", square(x, y, D, D)),
            grid("B", square(x + D + 2e-5, y, D, D)),
            grid("C", square(x, y + D, 2.0 * D + 2e-5, D)),
            grid("E", square(x, y - D, 2.0 * D + 2e-5, D)),
        ];
        let opts = RepairOptions {
            max_gap_m2: 300.0,
            ..RepairOptions::default()
        };
        let r = repair(
            &RepairInput {
                grids: &grids,
                boundary: None,
                buildings: &[],
            },
            &opts,
            &mut |_| {},
        );
        assert_eq!(r.report.summary.gaps_before, 1);
        assert_eq!(r.report.summary.gaps_after, 0, "{:?}", r.report);
        assert!(
            matches!(&resolved(&r)[..], [Change::Gap { .. }]),
            "{:?}",
            r.report.changes
        );
        // With a building in it, it stays.
        let buildings = vec![house("h", x + D + 0.5e-5, y + D / 2.0, 1e-5)];
        let r = repair(
            &RepairInput {
                grids: &grids,
                boundary: None,
                buildings: &buildings,
            },
            &opts,
            &mut |_| {},
        );
        assert_eq!(r.report.summary.gaps_after, 1);
        assert_eq!(r.report.left.len(), 1);
        assert_eq!(r.report.left[0].buildings, vec!["h".to_string()]);
        assert!(r.report.left[0].why.contains("1 building"));
    }

    #[test]
    fn a_spike_is_made_valid() {
        let (x, y) = (121.0, 31.0);
        // A's right edge runs out 50 m and back: a spike of no area.
        let spike = polygon![(x: x, y: y), (x: x + D, y: y), (x: x + D, y: y + 0.5 * D),
            (x: x + 1.5 * D, y: y + 0.5 * D), (x: x + D, y: y + 0.5 * D),
            (x: x + D, y: y + D), (x: x, y: y + D)];
        assert!(!spike.is_valid());
        let grids = vec![grid("A", spike), grid("B", square(x + D, y, D, D))];
        let r = repair(
            &RepairInput {
                grids: &grids,
                boundary: None,
                buildings: &[],
            },
            &RepairOptions::default(),
            &mut |_| {},
        );
        assert_eq!(r.report.summary.invalid_before, 1);
        assert_eq!(r.report.summary.invalid_after, 0);
        assert!(
            r.grids
                .iter()
                .all(|g| g.geometry.is_valid() && g.geometry.0.len() == 1)
        );
        assert!(matches!(&r.report.changes[0], Change::MadeValid { grid, .. } if grid == "A"));
    }

    #[test]
    fn grids_are_clipped_to_the_boundary_and_the_boundary_sliver_filled() {
        let (x, y) = (121.0, 31.0);
        let boundary = MultiPolygon(vec![square(x, y, 2.0 * D, D)]);
        // A pokes 20 m out to the west; B stops 1.5 m short of the east side (150 m²).
        let grids = vec![
            grid("A", square(x - 2e-4, y, D + 2e-4, D)),
            grid("B", square(x + D, y, D - 1.5e-5, D)),
        ];
        let r = repair(
            &RepairInput {
                grids: &grids,
                boundary: Some(&boundary),
                buildings: &[],
            },
            &RepairOptions {
                max_gap_m2: 200.0,
                ..RepairOptions::default()
            },
            &mut |_| {},
        );
        assert_eq!(r.report.summary.outside_before, 1);
        assert_eq!(r.report.summary.outside_after, 0);
        assert_eq!(r.report.summary.gaps_before, 1);
        assert_eq!(r.report.summary.gaps_after, 0, "{:?}", r.report);
        assert!(r.report.left.is_empty());
    }
}
