//! How many starts [`super::solve`] makes and how it ranks them.
//!
//! The local search is greedy: from a different visiting order (seed) it ends in a different
//! plan, and on a real village some are clearly better than others. So small inputs are solved
//! from several seeds ([`start_count`]), the few with the fewest defects on the atom graph go on to
//! the costly arm removal ([`fewest`], [`RESHAPED`]), and of the plans drawn the one with the
//! best [`PlanKey`] (whole grids, then fewest defects, then roundest) is kept. A defect is a
//! tentacle, an enclave, or a grid outside the tolerance, which counts once more for every
//! further tolerance it is off ([`outside_defects`]).

use super::{PartNote, Solution};
use crate::atoms::{NONE, World};

/// Atom count × starts allowed for [`solve`](super::solve): [`MAX_STARTS`] up to about 8,000 atoms,
/// one from 50,000 (the 100,000-building town keeps its single run within the time target).
const START_BUDGET: usize = 100_000;

/// Most starts [`solve`](super::solve) makes, however small the input. On the demo town at four
/// grid sizes and seven seeds, twelve starts instead of six left 180 tentacles instead of 260, and
/// at the default seed the worst grid at 82 grids and at 500 households a grid 5% off instead of
/// 10–11%, in about twice the time.
const MAX_STARTS: usize = 12;

/// Step between the seeds of successive starts (odd, so the seeds never repeat).
pub(super) const SEED_STEP: u64 = 0x9E37_79B9_7F4A_7C15;

/// Number of starts for a graph of `atoms` atoms.
pub(super) fn start_count(atoms: usize) -> usize {
    (START_BUDGET / atoms.max(1)).clamp(1, MAX_STARTS)
}

/// Most defects beyond the first that one grid outside the tolerance counts for (a tolerance
/// of 0 would count it without end).
const FAR_OUTSIDE: f64 = 100.0;

/// Defects a grid of workload `load` counts for in [`PlanKey`]: none within the tolerance,
/// else one and one more for every further tolerance it is off, so that one grid 46% off
/// ranks worse than a few tentacles (a start that rounds every grid off but leaves one far
/// too heavy was kept before).
fn outside_defects(load: f64, target: f64, tol: f64) -> usize {
    if target <= 0.0 {
        return 0;
    }
    let beyond = ((load - target) / target).abs() - tol;
    if beyond > 1e-12 {
        1 + (beyond / tol.max(1e-9)).floor().min(FAR_OUTSIDE) as usize
    } else {
        0
    }
}

/// Grids outside the tolerance, each counted as [`outside_defects`] says, but for grids of a
/// heavy atom. A grid in a separate part of the boundary whose share keeps it off the target
/// is measured against the part's workload per grid: that deviation is the same in every
/// start, and counting its size would hide the differences that are not.
pub(super) fn outside_count(
    world: &World,
    labels: &[u32],
    heavy: &[Option<usize>],
    targets: &[f64],
    part_note: &[Option<PartNote>],
    tol: f64,
    k: usize,
) -> usize {
    let mut load = vec![0.0; k];
    for (a, &l) in labels.iter().enumerate() {
        if l != NONE {
            load[l as usize] += world.atoms[a].weight;
        }
    }
    (0..k)
        .filter(|&r| heavy[r].is_none())
        .map(|r| {
            let target = part_note[r].as_ref().map_or(targets[r], |p| p.each);
            outside_defects(load[r], target, tol)
        })
        .sum()
}

/// How a plan ranks among the starts: lower is better.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct PlanKey {
    /// Grids drawn in more than one piece.
    split: usize,
    /// Grids outside the tolerance (more than once when far outside, see [`PlanKey::of`]),
    /// tentacles and enclaves.
    defects: usize,
    /// Sum of the grids' Polsby-Popper.
    pp: f64,
}

impl PlanKey {
    pub(super) fn of(world: &World, s: &Solution, tol: f64, k: usize) -> PlanKey {
        let outside = outside_count(world, &s.labels, &s.heavy, &s.targets, &s.part_note, tol, k);
        let tentacles: usize = s.tentacles.iter().sum();
        let enclaves = crate::shape::check(world, &s.labels, k)
            .enclave_in
            .iter()
            .filter(|e| e.is_some())
            .count();
        PlanKey {
            split: s.geometry.iter().filter(|g| g.0.len() > 1).count(),
            defects: outside + tentacles + enclaves,
            pp: s
                .geometry
                .iter()
                .map(|g| crate::shape::polygon_pp(&world.frame, g))
                .sum(),
        }
    }

    pub(super) fn cmp(&self, other: &PlanKey) -> std::cmp::Ordering {
        (self.split, self.defects)
            .cmp(&(other.split, other.defects))
            .then(other.pp.total_cmp(&self.pp))
    }
}

/// Starts that [`solve`](super::solve) takes on to remove the arms, of the [`start_count`] it
/// makes: the ones with the fewest defects on the atom graph (grids outside the tolerance, counted
/// as in [`PlanKey`], tentacles and enclaves). On the demo town at four grid sizes and seven seeds,
/// the best six of twelve left 18 tentacles where all twelve left 19, and 2,402 grids of 2,464
/// within ±5% where all twelve had 2,407, in half the time (300 households a grid: 10.0 → 5.6 s).
/// Twelve of 24 left 15, in as long as twelve of twelve.
pub(super) const RESHAPED: usize = 6;

/// The indices of the `keep` smallest `keys` (ties to the earlier), in increasing order.
pub(super) fn fewest(keys: &[usize], keep: usize) -> Vec<usize> {
    let mut chosen: Vec<usize> = (0..keys.len()).collect();
    chosen.sort_by_key(|&i| (keys[i], i));
    chosen.truncate(keep);
    chosen.sort_unstable();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_inputs_get_more_starts_than_large_ones() {
        assert_eq!(start_count(0), super::MAX_STARTS);
        assert_eq!(start_count(4_000), super::MAX_STARTS);
        assert_eq!(start_count(30_000), 3);
        assert_eq!(start_count(53_000), 1);
        assert_eq!(start_count(1_000_000), 1);
    }

    #[test]
    fn the_starts_with_the_fewest_defects_go_on_in_seed_order() {
        assert_eq!(fewest(&[5, 1, 9, 1, 0, 7], 3), vec![1, 3, 4]);
        // Ties go to the earlier start.
        assert_eq!(fewest(&[2, 2, 2, 2], 2), vec![0, 1]);
        assert_eq!(fewest(&[3, 1], 6), vec![0, 1]);
    }

    #[test]
    fn a_grid_far_outside_the_tolerance_counts_as_several_defects() {
        assert_eq!(outside_defects(420.0, 400.0, 0.05), 0);
        assert_eq!(outside_defects(380.0, 400.0, 0.05), 0);
        assert_eq!(outside_defects(421.0, 400.0, 0.05), 1);
        assert_eq!(outside_defects(360.0, 400.0, 0.05), 2);
        // 46% off: one for leaving the tolerance, eight more tolerances beyond it.
        assert_eq!(outside_defects(584.0, 400.0, 0.05), 9);
        // No tolerance: capped, not without end.
        assert_eq!(outside_defects(401.0, 400.0, 0.0), 101);
        assert_eq!(outside_defects(400.0, 400.0, 0.0), 0);
        assert_eq!(outside_defects(5.0, 0.0, 0.05), 0);
    }

    /// A plan with a grid in pieces loses to any whole one; then fewer defects win, then the
    /// rounder plan.
    #[test]
    fn starts_rank_by_whole_grids_then_defects_then_roundness() {
        let key = |split, defects, pp| PlanKey { split, defects, pp };
        let mut keys = [
            key(1, 0, 9.0),
            key(0, 3, 9.0),
            key(0, 2, 5.0),
            key(0, 2, 6.0),
        ];
        keys.sort_by(|a, b| a.cmp(b));
        assert_eq!(
            keys,
            [
                key(0, 2, 6.0),
                key(0, 2, 5.0),
                key(0, 3, 9.0),
                key(1, 0, 9.0)
            ]
        );
    }
}
