//! The local search: boundary atoms move to a neighbouring region while that lowers the cost
//! ([`super::cost`]), in a seeded random order, never leaving a region empty or in pieces.
//!
//! It runs in two stages: first balance and shape together, shape moves allowed to use most
//! of the tolerance ([`SHAPE_BAND`]), then a polish that evens the balance out with lighter
//! shape terms. When no single move helps, weight is passed along chains of regions
//! ([`super::chains`]). Every start of the solver is searched; so is every trial of the arm
//! removal, over the regions it changed and their neighbours.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_pcg::Pcg64;

use super::chains::{CHAIN_ROUNDS, chain_moves};
use super::cost::Search;
use crate::PartitionOptions;
use crate::atoms::{NONE, World};

/// Moves boundary atoms between neighbouring regions while that lowers the cost, and, when
/// no single move helps, passes weight along chains of regions ([`chain_moves`]); returns the
/// number of passes made and the cost reached (balance, cut and shape terms at their
/// first-stage weights), by which plans from different starts compare. With `active`, only
/// the atoms of active regions move, and only into active regions.
#[allow(clippy::too_many_arguments)]
pub(super) fn local_search(
    world: &World,
    weight: &[f64],
    labels: &mut [u32],
    fixed: &[bool],
    targets: &[f64],
    minimal_moves: bool,
    active: Option<&[bool]>,
    options: &PartitionOptions,
    k: usize,
) -> (usize, f64) {
    let g = &world.graph;
    let n = labels.len();
    let mut search = Search::new(
        world,
        weight,
        labels,
        fixed,
        targets,
        minimal_moves,
        active,
        options,
        k,
    );
    let tol = options.tolerance;

    let mut order: Vec<usize> = (0..n)
        .filter(|&a| !fixed[a] && labels[a] != NONE && search.active[labels[a] as usize])
        .collect();
    let mut rng = Pcg64::seed_from_u64(options.seed);
    order.shuffle(&mut rng);
    let mut passes = 0;
    let mut by_region: Vec<(u32, f64, f64)> = Vec::new();
    // First balance and shape together (shape moves may use most of the tolerance, see
    // [`SHAPE_BAND`]), then a polish that evens the balance out with lighter shape terms.
    for polish in [false, true] {
        search.polish = polish;
        let band = if polish { 0.0 } else { SHAPE_BAND * tol };
        for _ in 0..options.max_passes {
            passes += 1;
            let mut moves = 0usize;
            for &a in &order {
                let r = labels[a];
                if r == NONE || search.size[r as usize] <= 1 {
                    continue;
                }
                by_region.clear();
                for e in g.range(a) {
                    let q = labels[g.neighbours[e] as usize];
                    let len = g.cost[e];
                    match by_region.iter_mut().find(|(x, _, _)| *x == q) {
                        Some(x) => {
                            x.1 += g.cost[e];
                            x.2 += len;
                        }
                        None => by_region.push((q, g.cost[e], len)),
                    }
                }
                let (own, own_len) = by_region
                    .iter()
                    .find(|(x, _, _)| *x == r)
                    .map_or((0.0, 0.0), |x| (x.1, x.2));
                let ru = r as usize;
                let w = weight[a];
                let (load_r, load) = (search.load[ru], &search.load);
                let mut best: Option<(f64, u32)> = None;
                for &(s, shared, shared_len) in &by_region {
                    if s == r || s == NONE || !search.active[s as usize] {
                        continue;
                    }
                    let su = s as usize;
                    if search.closed[su] && w > 0.0 {
                        continue;
                    }
                    // Shape may not cost balance beyond [`SHAPE_BAND`] of the tolerance, and none
                    // at all when polishing.
                    let before = search
                        .deviation(ru, load_r)
                        .max(search.deviation(su, load[su]));
                    let after = search
                        .deviation(ru, load_r - w)
                        .max(search.deviation(su, load[su] + w));
                    if !minimal_moves && after > before.max(band) + 1e-12 {
                        continue;
                    }
                    let balance = search.balance_cost(ru, load_r - w)
                        + search.balance_cost(su, load[su] + w)
                        - search.balance_cost(ru, load_r)
                        - search.balance_cost(su, load[su]);
                    let delta = search.combine(
                        balance,
                        search.alpha * (own - shared)
                            + search.move_cost_change(a, r, s)
                            + search.shape_change(a, ru, su, own_len, shared_len),
                    );
                    if delta < -1e-12 && best.is_none_or(|(d, q)| (delta, s) < (d, q)) {
                        best = Some((delta, s));
                    }
                }
                let Some((_, s)) = best else { continue };
                // A region must keep a building if it has one, and stay connected.
                if !search.can_leave(labels, a) {
                    continue;
                }
                search.apply(labels, a, s);
                moves += 1;
            }
            if moves == 0 {
                let mut chains = 0;
                for _ in 0..CHAIN_ROUNDS {
                    match chain_moves(&mut search, labels, k) {
                        0 => break,
                        c => chains += c,
                    }
                }
                if chains == 0 {
                    break;
                }
            }
        }
    }
    (passes, search.total(labels))
}

/// The local search over the `active` regions (all with `None`), moving as few buildings as
/// it can with `minimal_moves` (`--from-current`), as a closure that returns the passes it
/// made.
#[allow(clippy::too_many_arguments)]
pub(super) fn searcher<'b>(
    world: &'b World,
    weight: &'b [f64],
    fixed: &'b [bool],
    targets: &'b [f64],
    options: &'b PartitionOptions,
    minimal_moves: bool,
    active: Option<&'b [bool]>,
    k: usize,
) -> impl FnMut(&mut [u32]) -> usize + 'b {
    move |l| {
        local_search(
            world,
            weight,
            l,
            fixed,
            targets,
            minimal_moves,
            active,
            options,
            k,
        )
        .0
    }
}

/// Share of the tolerance that shape moves may use in the first stage: the region's shape
/// needs room to change (a move of one building changes a grid's workload by a fraction of a
/// percent), and the polish then evens the balance out again.
const SHAPE_BAND: f64 = 0.8;
