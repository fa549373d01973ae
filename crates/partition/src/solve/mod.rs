//! Assigning atoms to regions, and drawing the regions as grids.
//!
//! [`solve`] runs the solver from several seeds and keeps the best plan. Each start goes
//! through two stages, each in its file, which call on the files of the concerns below:
//!
//! 1. [`search_from_seed()`]: heavy atoms alone, whole grids per separate part of the boundary,
//!    the recursive bisection, and the local search from it and from a power diagram. The
//!    regions live on the atom graph.
//! 2. [`remove_arms_and_draw()`]: the narrow arms removed, the balance repaired, every grid
//!    drawn as one polygon, and the arms left listed with why.
//!
//! Between the two, [`starts`] ranks the starts: only the few with the fewest defects go on
//! to the costly second stage, and the best plan drawn is kept.
//!
//! The concerns, in the order a start meets them:
//! - [`parts`]: separate parts of the boundary and their whole numbers of grids;
//! - [`bisect`]: the recursive weighted bisection the first regions come from;
//! - [`contiguity`]: keeping every region in one piece on the atom graph;
//! - [`cost`]: what the local search lowers (balance, cut, roundness, Polsby-Popper);
//! - [`local_search`]: moving boundary atoms between regions while the cost falls;
//! - [`chains`]: passing weight along chains of regions when no single move helps;
//! - [`arms`]: trials that remove the arms of the drawn grids, kept only when no worse;
//! - [`recombine`]: drawing a grid afresh together with its neighbours, one such trial;
//! - [`balance`]: how far a plan is outside the tolerance, and the last repair into it;
//! - [`drawing`]: drawing the regions whole, and measuring the drawn grids.

use geo::MultiPolygon;
use gridmap_core::model::{Building, Grid};
use rayon::prelude::*;

use crate::PartitionOptions;
use crate::atoms::World;

mod arms;
mod balance;
mod bisect;
mod chains;
mod contiguity;
mod cost;
mod drawing;
mod local_search;
mod parts;
mod recombine;
mod remove_arms_and_draw;
mod search_from_seed;
mod starts;

use arms::Refusals;
pub(crate) use balance::trade_candidates;
pub(crate) use contiguity::ConnectivityCheck;
use remove_arms_and_draw::remove_arms_and_draw;
use search_from_seed::{SearchedStart, search_from_seed};
use starts::{PlanKey, RESHAPED, SEED_STEP, fewest, start_count};

/// The regions found, drawn as grids, with what the report needs to say why a grid is left
/// outside the tolerance or with an arm.
pub(crate) struct Solution {
    /// Region of every atom.
    pub labels: Vec<u32>,
    /// The drawn regions.
    pub geometry: Vec<MultiPolygon>,
    /// Target workload of every region.
    pub targets: Vec<f64>,
    /// Target of the regions without a heavy building.
    pub normal_target: f64,
    /// The building that alone makes a region, for regions that hold one.
    pub heavy: Vec<Option<usize>>,
    pub passes: usize,
    /// With current grids: the current region of every building.
    pub current_region: Option<Vec<Option<usize>>>,
    /// Why a region's workload cannot reach the target: the separate part of the boundary it
    /// lies in holds too much or too little for a whole number of grids.
    pub part_note: Vec<Option<PartNote>>,
    /// Tentacles moved whole to a neighbour after the search.
    pub tentacles_removed: usize,
    /// Tentacles of every grid of `geometry`.
    pub tentacles: Vec<usize>,
    /// The tentacles left, and why each was kept.
    pub arms: Vec<ArmLeft>,
}

/// A tentacle left on a drawn grid.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ArmLeft {
    pub region: u32,
    /// The atoms inside the drawn arm (none where it is land without a site of the grid's).
    pub atoms: Vec<usize>,
    /// The regions along the arm, longest shared edge first.
    pub along: Vec<u32>,
    /// Trials aimed at the grid's arms that were not kept, by why.
    pub refused: Refusals,
}

/// A grid's part of the boundary holds too much or too little workload for a whole number of
/// grids near the target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PartNote {
    /// Separate parts of the boundary that hold workload.
    pub parts: usize,
    /// Workload of this part, and its share of the total in %.
    pub workload: f64,
    pub share_pct: f64,
    /// Grids the part gets, the workload of each, and its deviation from the target in %.
    pub grids: usize,
    pub each: f64,
    pub deviation_pct: f64,
}

/// Solves from several seeds and keeps the best plan.
///
/// The local search is greedy, and where buildings are few and heavy (a real village) the
/// visiting order alone changes which grids end outside the tolerance or with an arm: on the
/// demo town at 300–500 households a grid, four seeds gave 3–14 tentacles and 1–5 grids off
/// balance. So a fresh plan is searched from [`start_count`] seeds derived from `options.seed`, in
/// parallel; the [`RESHAPED`] starts with the fewest defects on the atom graph go on to have
/// their arms removed, and of those the plan with the fewest grids in pieces, then the fewest
/// defects (grids outside the tolerance, tentacles, enclaves), then the highest Polsby-Popper
/// is kept; ties go to the earlier seed, so the result depends on the seed alone.
/// `--from-current` solves once: its measure is the buildings moved, which each start
/// already minimises.
pub(crate) fn solve(
    world: &World,
    buildings: &[Building],
    boundary: &MultiPolygon,
    k: usize,
    current: Option<&[Grid]>,
    options: &PartitionOptions,
) -> Solution {
    let starts = if current.is_some() {
        1
    } else {
        start_count(world.atoms.len())
    };
    let searched: Vec<SearchedStart> = (0..starts as u64)
        .into_par_iter()
        .map(|i| {
            let mut o = options.clone();
            o.seed = options.seed.wrapping_add(i.wrapping_mul(SEED_STEP));
            search_from_seed(world, buildings, k, current, o)
        })
        .collect();
    // Removing the arms is most of the work: only the starts that look best go on.
    let chosen = if searched.len() > RESHAPED {
        let keys: Vec<usize> = searched
            .par_iter()
            .map(|start| start.defects(world, options.tolerance, k))
            .collect();
        fewest(&keys, RESHAPED)
    } else {
        (0..searched.len()).collect()
    };
    let mut searched: Vec<Option<SearchedStart>> = searched.into_iter().map(Some).collect();
    let chosen: Vec<SearchedStart> = chosen.iter().filter_map(|&i| searched[i].take()).collect();
    let solutions: Vec<Solution> = chosen
        .into_par_iter()
        .map(|start| remove_arms_and_draw(world, boundary, k, current, start))
        .collect();
    // One start (the large towns) needs no ranking, and ranking measures every drawn grid.
    let best = if solutions.len() == 1 {
        0
    } else {
        let keys: Vec<PlanKey> = solutions
            .par_iter()
            .map(|s| PlanKey::of(world, s, options.tolerance, k))
            .collect();
        (0..solutions.len())
            .min_by(|&a, &b| keys[a].cmp(&keys[b]).then(a.cmp(&b)))
            .unwrap_or(0)
    };
    solutions.into_iter().nth(best).expect("at least one start")
}
