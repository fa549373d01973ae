//! Validation after a few grids changed, redoing only what they touch.
//!
//! # Design
//! A grid edit on a district (a million buildings, ten thousand grids) changes one grid or a
//! few; validating everything again costs a second. [`revalidate`] takes the coverage of the
//! grids as they were and the grids as they are now, finds the grids whose code or geometry
//! changed (added, removed or reshaped), and calls their old and new envelopes the *touched
//! regions*. Then:
//!
//! - a building's assignment depends only on the grids whose closure holds its location (the
//!   on-edge share and the straddling share look only at those), so buildings located outside
//!   every touched region keep theirs (grid positions renumbered) and the others are assigned
//!   again against the grids whose envelope meets a touched region;
//! - an overlap depends only on its two grids: pairs of unchanged grids keep theirs, pairs with
//!   a changed grid are measured again;
//! - outside the touched regions the union of the grids is unchanged, so with a boundary a gap
//!   that does not meet them is kept, and every gap that does lies within the touched regions
//!   together with the old gaps meeting them: the gaps are found again inside that window only,
//!   from the grids meeting it (the window is checked to hold them, else every gap is found
//!   again). Without a boundary a gap is a hole in the union, which may be made of what lay
//!   outside every grid: then the union is made anew;
//! - outside-boundary parts are per grid; an address's grid mismatch depends on the grids at
//!   its point; addresses outside buildings do not depend on grids at all.
//!
//! The lists are then sorted and counted as [`validate`](super::validate) does, so the result
//! equals a full validation of the new grids (a property test holds it to that). Only the area
//! of a gap may differ, by a hundred-thousandth at most: its outline, made from fewer grids,
//! can differ in the last bits and in collinear vertices, and a geodesic area sees those. When too much changed
//! for this to pay, or the input is one it does not cover (defects known to a reader, duplicate
//! codes), it validates in full.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use geo::{BooleanOps, BoundingRect, Coord, Intersects, MultiPolygon, Polygon, Rect};
use rayon::prelude::*;

use super::{
    CoverageInput, Gap, GridMismatch, Options, Overlap, Report, building_lists, finish, gap,
    grid_defects, grid_mismatch, invalid_grids, outside_parts, overlaps, uncovered, validate,
};
use crate::assign::{Assignment, Assignments, Status, assign_building};
use crate::index::GridIndex;
use crate::locate::{Location, PreparedArea};
use crate::model::Grid;
use crate::surface::point_on_surface;

/// The grids and their coverage before a change.
#[derive(Debug, Clone, Copy)]
pub struct Before<'a> {
    /// The grid layer as it was validated.
    pub grids: &'a [Grid],
    /// The report of that validation.
    pub report: &'a Report,
    /// Each building's assignment, in input order.
    pub assignments: &'a Assignments,
}

/// What [`revalidate`] made.
#[derive(Debug, Clone)]
pub struct Revalidation {
    /// The report on the changed grids, the same as a full [`validate`] would give (up to the
    /// slack of [`Report::agrees_with`]).
    pub report: Report,
    /// Each building's assignment, as a full [`validate`] would give; the chunks no building
    /// of which was assigned again are shared with [`Before::assignments`] when no grid moved
    /// in the list.
    pub assignments: Assignments,
    /// What was redone; `None` when everything was validated anew.
    pub delta: Option<Delta>,
}

/// What an incremental validation redid.
#[derive(Debug, Clone, PartialEq)]
pub struct Delta {
    /// The buildings (positions) assigned again, in order; every other building kept its
    /// assignment, its grid renumbered.
    pub reassigned: Vec<u32>,
    /// For each grid, its position among the old grids when its code and geometry are the
    /// same.
    pub old_grid: Vec<Option<u32>>,
}

/// The coverage of `input` (the grids as they are now), made from `before` (the same buildings,
/// addresses and boundary with the grids as they were) by redoing only what the changed grids
/// touch; see the module docs. `buildings_near(rect)` answers the positions of (at least) the
/// buildings whose footprint envelope meets `rect`, e.g. from an R-tree the caller keeps.
///
/// # Performance
/// The work of a full validation restricted to the touched regions (for one reshaped grid
/// among ten thousand, about a thousandth of it); the assignments are scanned only when a gap
/// is found again (for the buildings in no grid it holds), and in debug builds for a check of
/// this reasoning (the buildings of the changed grids). The assignments are shared with
/// `before` but for the chunks a reassigned building falls in ([`Assignments`]), unless grids
/// moved in the list (one added or removed before others): then every assignment is
/// renumbered into chunks of its own.
pub fn revalidate(
    before: Before,
    input: &CoverageInput,
    options: &Options,
    buildings_near: &(dyn Fn(Rect) -> Vec<u32> + Sync),
) -> Revalidation {
    let full = || {
        let coverage = validate(input, options, &mut |_| {});
        Revalidation {
            report: coverage.report,
            assignments: coverage.assignments.into(),
            delta: None,
        }
    };
    if !input.input_defects.is_empty() || before.assignments.len() != input.buildings.len() {
        return full();
    }
    let Some(change) = Change::between(before.grids, input.grids) else {
        return full();
    };
    // Past a tenth of the grids, one full pass is cheaper than many local ones.
    if change.regions.len() > 64.max(input.grids.len() / 10) {
        return full();
    }
    redo(&before, &change, input, options, buildings_near).unwrap_or_else(full)
}

/// What changed between two lists of grids.
struct Change {
    /// For each new grid, its position among the old grids when its code and geometry are the
    /// same.
    old_of: Vec<Option<u32>>,
    /// For each old grid, its position among the new grids when unchanged.
    new_of: Vec<Option<u32>>,
    /// Envelopes of the changed grids, old and new, [`widened`].
    regions: Vec<Rect>,
    /// Each new grid's envelope (`None` when empty).
    envelopes: Vec<Option<Rect>>,
}

impl Change {
    /// `None` when codes repeat (positions could not be matched).
    fn between(old: &[Grid], new: &[Grid]) -> Option<Change> {
        let mut old_by_code: HashMap<&str, u32> =
            HashMap::with_capacity_and_hasher(old.len(), Default::default());
        for (i, g) in old.iter().enumerate() {
            if old_by_code.insert(g.code.as_str(), i as u32).is_some() {
                return None;
            }
        }
        let mut seen: HashSet<&str> =
            HashSet::with_capacity_and_hasher(new.len(), Default::default());
        let mut old_of = Vec::with_capacity(new.len());
        let mut new_of = vec![None; old.len()];
        let mut regions = Vec::new();
        let envelopes: Vec<Option<Rect>> =
            new.par_iter().map(|g| g.geometry.bounding_rect()).collect();
        for (i, g) in new.iter().enumerate() {
            if !seen.insert(g.code.as_str()) {
                return None;
            }
            let same = old_by_code
                .get(g.code.as_str())
                .copied()
                .filter(|&j| old[j as usize].geometry == g.geometry);
            match same {
                Some(j) => new_of[j as usize] = Some(i as u32),
                None => regions.extend(envelopes[i].map(widened)),
            }
            old_of.push(same);
        }
        for (j, g) in old.iter().enumerate() {
            if new_of[j].is_none() {
                regions.extend(g.geometry.bounding_rect().map(widened));
            }
        }
        Some(Change {
            old_of,
            new_of,
            regions,
            envelopes,
        })
    }

    fn changed(&self, new: u32) -> bool {
        self.old_of[new as usize].is_none()
    }

    fn touches(&self, rect: &Rect) -> bool {
        self.regions.iter().any(|r| r.intersects(rect))
    }

    fn holds(&self, p: Coord) -> bool {
        self.regions.iter().any(|r| r.intersects(&p))
    }
}

/// The grids whose envelope meets a touched region, as a small index of their own.
struct Local {
    grids: Vec<Grid>,
    /// Position among all new grids, by position in `grids`.
    global: Vec<u32>,
}

impl Local {
    fn new(change: &Change, all: &[Grid]) -> Local {
        let global: Vec<u32> = (0..all.len() as u32)
            .filter(|&i| {
                change.envelopes[i as usize]
                    .as_ref()
                    .is_some_and(|e| change.touches(e))
            })
            .collect();
        Local {
            grids: global.iter().map(|&i| all[i as usize].clone()).collect(),
            global,
        }
    }

    /// An assignment made against the local index, in positions among all grids.
    fn to_global(&self, a: &Assignment) -> Assignment {
        regridded(a, |g| Some(self.global[g as usize])).unwrap_or(Assignment::NoGrid)
    }
}

/// An old assignment in new grid positions, `None` when one of its grids changed.
fn renumber(a: &Assignment, new_of: &[Option<u32>]) -> Option<Assignment> {
    regridded(a, |g| new_of[g as usize])
}

/// `a` with each grid position `g` replaced by `to(g)`, `None` when one has none.
fn regridded(a: &Assignment, to: impl Fn(u32) -> Option<u32>) -> Option<Assignment> {
    Some(match a {
        Assignment::NoGrid => Assignment::NoGrid,
        Assignment::One {
            grid,
            outside_share,
            on_edge,
        } => Assignment::One {
            grid: to(*grid)?,
            outside_share: *outside_share,
            on_edge: *on_edge,
        },
        Assignment::Many(grids) => Assignment::Many(
            grids
                .iter()
                .map(|&g| to(g))
                .collect::<Option<Box<[u32]>>>()?,
        ),
    })
}

/// The incremental validation; `None` when a check of its own reasoning fails (then the caller
/// validates in full).
fn redo(
    before: &Before,
    change: &Change,
    input: &CoverageInput,
    options: &Options,
    buildings_near: &(dyn Fn(Rect) -> Vec<u32> + Sync),
) -> Option<Revalidation> {
    let old = before.report;
    let grids = input.grids;

    // Validity: the changed grids are checked, the others keep their verdict.
    let old_reason: HashMap<&str, &str> = old
        .invalid_grids
        .iter()
        .map(|g| (g.grid.as_str(), g.reason.as_str()))
        .collect();
    let changed: Vec<u32> = (0..grids.len() as u32)
        .filter(|&i| change.changed(i))
        .collect();
    let checked = grid_defects(
        &changed
            .iter()
            .map(|&i| grids[i as usize].clone())
            .collect::<Vec<_>>(),
        &[],
    );
    let mut defects: Vec<Option<String>> = grids
        .iter()
        .map(|g| old_reason.get(g.code.as_str()).map(|r| r.to_string()))
        .collect();
    for (k, &i) in changed.iter().enumerate() {
        defects[i as usize] = checked[k].clone();
    }

    let local = Local::new(change, grids);
    let index = GridIndex::new(&local.grids, |k| {
        defects[local.global[k] as usize].is_some()
    });

    // Assignments: kept (their chunks shared) when every unchanged grid kept its position, else
    // renumbered; then made again where a touched region holds the location. A building of a
    // changed grid is listed in `lost`: it must be among those assigned again, for its kept
    // (or renumbered to no grid) assignment is stale.
    let in_place = change
        .new_of
        .iter()
        .enumerate()
        .all(|(j, n)| n.is_none_or(|n| n as usize == j));
    let mut assignments = if in_place {
        before.assignments.clone()
    } else {
        before
            .assignments
            .map(|a| renumber(a, &change.new_of).unwrap_or(Assignment::NoGrid))
    };
    let mut near: Vec<u32> = change
        .regions
        .iter()
        .flat_map(|r| buildings_near(*r))
        .collect();
    near.sort_unstable();
    near.dedup();
    let again: Vec<(u32, Assignment)> = near
        .par_iter()
        .filter_map(|&b| {
            let building = input.buildings.get(b as usize)?;
            let at = building.location()?;
            change
                .holds(at)
                .then(|| (b, local.to_global(&assign_building(&index, building))))
        })
        .collect();
    for (b, a) in &again {
        assignments.set(*b as usize, a.clone());
    }
    // A building assigned to a changed grid lies in a touched region, so it was assigned again
    // (`again` is in building order). Checked in debug builds, where the property tests run:
    // it scans every assignment, a sixth of an edit's time on a district.
    if cfg!(debug_assertions) {
        let lost: Vec<u32> = before.assignments.positions(|a| {
            let gone = |g: &u32| change.new_of[*g as usize].is_none();
            match a {
                Assignment::One { grid, .. } => gone(grid),
                Assignment::Many(grids) => grids.iter().any(gone),
                Assignment::NoGrid => false,
            }
        });
        if !lost
            .iter()
            .all(|b| again.binary_search_by_key(b, |(b, _)| *b).is_ok())
        {
            return None;
        }
    }

    // The building lists: the old ones but for the buildings assigned again, and theirs.
    let redone: HashSet<&str> = again
        .iter()
        .map(|(b, _)| input.buildings[*b as usize].id.as_str())
        .collect();
    let mut report = Report {
        invalid_grids: invalid_grids(grids, &defects),
        in_no_grid: old
            .in_no_grid
            .iter()
            .filter(|b| !redone.contains(b.as_str()))
            .cloned()
            .collect(),
        in_many_grids: old
            .in_many_grids
            .iter()
            .filter(|m| !redone.contains(m.building.as_str()))
            .cloned()
            .collect(),
        straddling: old
            .straddling
            .iter()
            .filter(|s| !redone.contains(&*s.building))
            .cloned()
            .collect(),
        ..Report::default()
    };
    let (mut no_grid, mut many, mut straddling) = (0, 0, 0);
    report.summary.in_one_grid = old.summary.in_one_grid;
    report.summary.on_edge = old.summary.on_edge;
    for (b, _) in &again {
        let was = &before.assignments[*b as usize];
        match was {
            Assignment::NoGrid => no_grid += 1,
            Assignment::Many(_) => many += 1,
            Assignment::One { on_edge, .. } => {
                report.summary.in_one_grid -= 1;
                report.summary.on_edge -= usize::from(*on_edge);
                straddling += usize::from(was.status(options.straddle_share) == Status::Straddling);
            }
        }
    }
    // Building ids that repeat would make the lists above drop another building's entry.
    if old.in_no_grid.len() - report.in_no_grid.len() != no_grid
        || old.in_many_grids.len() - report.in_many_grids.len() != many
        || old.straddling.len() - report.straddling.len() != straddling
    {
        return None;
    }
    let located_in_pair = building_lists(
        &mut report,
        again.iter().map(|(b, a)| (*b as usize, a)),
        input,
        options,
    );

    // Overlaps: kept between unchanged grids, measured again with a changed one.
    let unchanged: HashSet<&str> = grids
        .iter()
        .enumerate()
        .filter(|&(i, _)| !change.changed(i as u32))
        .map(|(_, g)| g.code.as_str())
        .collect();
    let kept = |codes: &[String]| codes.iter().all(|c| unchanged.contains(c.as_str()));
    report.overlaps = old
        .overlaps
        .iter()
        .filter(|o| kept(&o.grids))
        .cloned()
        .collect();
    let pairs: Vec<(u32, u32)> = index
        .candidate_pairs()
        .into_iter()
        .filter(|&(a, b)| {
            change.changed(local.global[a as usize]) || change.changed(local.global[b as usize])
        })
        .collect();
    let found: Vec<Overlap> = overlaps(&index, &pairs, options, &|a, b| {
        let key = (local.global[a as usize], local.global[b as usize]);
        located_in_pair.get(&key).cloned().unwrap_or_default()
    });
    report.overlaps.extend(found);

    report.gaps = gaps(change, input, options, &defects, &old.gaps, &assignments)?;

    if let Some(boundary) = input.boundary {
        report.outside_boundary = old
            .outside_boundary
            .iter()
            .filter(|o| unchanged.contains(o.grid.as_str()))
            .cloned()
            .collect();
        report
            .outside_boundary
            .extend(outside_parts(&index, boundary, options, |k| {
                change.changed(local.global[k as usize])
            }));
    }

    if !input.addresses.is_empty() {
        report.addresses.not_in_building = old.addresses.not_in_building.clone();
        let old_mismatch: HashMap<&str, &GridMismatch> = old
            .addresses
            .grid_mismatch
            .iter()
            .map(|m| (m.address.as_str(), m))
            .collect();
        report.addresses.grid_mismatch = input
            .addresses
            .par_iter()
            .filter_map(|a| {
                if change.holds(a.point.0) {
                    grid_mismatch(&index, a)
                } else {
                    old_mismatch.get(a.id.as_str()).map(|&m| m.clone())
                }
            })
            .collect();
    }
    finish(&mut report, input);
    Some(Revalidation {
        report,
        assignments,
        delta: Some(Delta {
            reassigned: again.into_iter().map(|(b, _)| b).collect(),
            old_grid: change.old_of.clone(),
        }),
    })
}

/// The gaps after the change: those of `old` that meet no touched region, and those found
/// again in a window holding every gap that does. `None` when the window proves too small.
fn gaps(
    change: &Change,
    input: &CoverageInput,
    options: &Options,
    defects: &[Option<String>],
    old: &[Gap],
    assignments: &Assignments,
) -> Option<Vec<Gap>> {
    if change.regions.is_empty() {
        return Some(old.to_vec());
    }
    let in_no_grid = || -> Vec<usize> {
        assignments
            .positions(|a| *a == Assignment::NoGrid)
            .into_iter()
            .map(|b| b as usize)
            .collect()
    };
    let Some(boundary) = input.boundary else {
        let in_no_grid = in_no_grid();
        // Without a boundary a gap is a hole in the union, and a new hole may be made of what
        // was outside every grid before: not a local question, so the union is made anew.
        let valid: Vec<&Grid> = input
            .grids
            .iter()
            .enumerate()
            .filter(|&(i, _)| defects[i].is_none())
            .map(|(_, g)| g)
            .collect();
        return Some(
            uncovered(&valid, None)
                .into_par_iter()
                .filter_map(|part| gap(part, input.buildings, &in_no_grid, options))
                .collect(),
        );
    };
    let meets = |g: &Polygon| change.regions.iter().any(|r| g.intersects(r));
    let (redo, kept): (Vec<&Gap>, Vec<&Gap>) = old.iter().partition(|g| meets(&g.geometry));
    let window = change
        .regions
        .iter()
        .copied()
        .chain(redo.iter().filter_map(|g| g.geometry.bounding_rect()))
        .reduce(|a, b| union_rect(&a, &b))?;
    // A margin, so that a gap reaching the window's edge is told from one cut by it.
    let outer = grown(
        window,
        (window.width().max(window.height()) * 0.01).max(1e-6),
    );
    let near: Vec<&Grid> = input
        .grids
        .iter()
        .enumerate()
        .filter(|&(i, _)| defects[i].is_none())
        .filter(|&(i, _)| change.envelopes[i].is_some_and(|e| e.intersects(&outer)))
        .map(|(_, g)| g)
        .collect();
    let clip = boundary.intersection(&MultiPolygon(vec![outer.to_polygon()]));
    // A gap made again may come out in another shape than before where its parts meet
    // through slivers of no width (the overlay's precision follows the extent of its input):
    // it is taken again when it meets a touched region or lies in a gap being made again.
    let redone: Vec<PreparedArea> = redo
        .iter()
        .map(|g| PreparedArea::new(&MultiPolygon(vec![g.geometry.clone()])))
        .collect();
    let in_redone = |p: &Polygon| {
        point_on_surface(&MultiPolygon(vec![p.clone()]))
            .is_some_and(|at| redone.iter().any(|r| r.locate(at) != Location::Outside))
    };
    let parts: Vec<Polygon> = uncovered(&near, Some(&clip))
        .into_iter()
        .filter(|p| meets(p) || in_redone(p))
        .collect();
    if parts.iter().any(|p| {
        p.bounding_rect()
            .is_none_or(|b| !outer_holds(&widened(window), &b))
    }) {
        return None;
    }
    // The buildings in no grid, which a gap counts, only when there is a gap to count them in
    // (a scan of every assignment).
    let in_no_grid = if parts.is_empty() {
        Vec::new()
    } else {
        in_no_grid()
    };
    let found: Vec<Gap> = parts
        .into_par_iter()
        .filter_map(|part| gap(part, input.buildings, &in_no_grid, options))
        .collect();
    // A kept gap that a gap made again took in is not listed twice.
    let taken: Vec<PreparedArea> = found
        .iter()
        .map(|g| PreparedArea::new(&MultiPolygon(vec![g.geometry.clone()])))
        .collect();
    let absorbed = |g: &Gap| {
        let at = Coord {
            x: g.point[0],
            y: g.point[1],
        };
        taken.iter().any(|t| t.locate(at) == Location::Inside)
    };
    Some(
        kept.into_iter()
            .filter(|g| !absorbed(g))
            .cloned()
            .chain(found)
            .collect(),
    )
}

/// A touched region: a changed grid's envelope, widened so that what touches the grid in
/// exact terms but is computed a few units in the last place away (a gap's outline from the
/// overlay) is still seen to meet it.
fn widened(r: Rect) -> Rect {
    const SLACK_DEG: f64 = 1e-7; // about a centimetre
    grown(r, SLACK_DEG)
}

/// `r` grown by `by` on every side.
pub(crate) fn grown(r: Rect, by: f64) -> Rect {
    Rect::new(
        Coord {
            x: r.min().x - by,
            y: r.min().y - by,
        },
        Coord {
            x: r.max().x + by,
            y: r.max().y + by,
        },
    )
}

/// The smallest rectangle holding `a` and `b`.
pub(crate) fn union_rect(a: &Rect, b: &Rect) -> Rect {
    Rect::new(
        Coord {
            x: a.min().x.min(b.min().x),
            y: a.min().y.min(b.min().y),
        },
        Coord {
            x: a.max().x.max(b.max().x),
            y: a.max().y.max(b.max().y),
        },
    )
}

/// Whether `inner` lies within `window` (edges included).
fn outer_holds(window: &Rect, inner: &Rect) -> bool {
    inner.min().x >= window.min().x
        && inner.min().y >= window.min().y
        && inner.max().x <= window.max().x
        && inner.max().y <= window.max().y
}
