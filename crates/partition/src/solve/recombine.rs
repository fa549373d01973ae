//! Recombination (ReCom-style): a grid still drawn with an arm is drawn afresh together with
//! one to four of its neighbours, as a planner would merge two or three grids and cut them
//! again.
//!
//! The cluster's atoms are split again by a power diagram, the bisection, or both
//! ([`ResplitFrom`]); every other grid keeps its atoms. The local search then rebalances the
//! cluster and the grids around it, and the arm removal's rule ([`super::arms`]) keeps the
//! trial or drops it.

use super::arms::ArmTrials;
use super::bisect::initial_bisection;
use super::contiguity::repair_contiguity;
use super::parts::components;
use crate::atoms::{NONE, World};

/// Rounds of [`recombine`] over the grids drawn with a tentacle.
const RESPLIT_ROUNDS: usize = 2;

/// Atom count × re-splits allowed for each call of [`recombine`], as the arm removal's
/// `ARM_BUDGET`: 121 on the demo town's 4,112 atoms, [`MAX_RESPLITS`] up to about 3,900. Three
/// times as many took the demo at 300 households a grid from 22 to 20 tentacles over seven seeds,
/// in 40% more time.
const RESPLIT_BUDGET: usize = 500_000;

/// Most re-splits [`recombine`] tries in one call, however small the input.
const MAX_RESPLITS: usize = 128;

/// Neighbours of a grid with a tentacle drawn afresh with it, at most.
const RESPLIT_NEIGHBOURS: usize = 4;

/// Draws every grid that still has a drawn tentacle afresh together with some of its
/// neighbours ([`resplit`]): with the one it shares most edge with, the second, the third,
/// the first two, then the first [`RESPLIT_NEIGHBOURS`], each from the three starts of
/// [`ResplitFrom`]; [`ArmTrials::consider`] keeps the first trial that leaves fewer tentacles (or
/// as many, rounder). A cluster whose atoms were tried from a start is not tried again.
pub(super) fn recombine(work: &mut ArmTrials) {
    let (world, k) = (work.world, work.k);
    let budget = (RESPLIT_BUDGET / work.labels.len().max(1)).clamp(3, MAX_RESPLITS) + work.resplits;
    let part_of = components(&world.graph).0;
    for _ in 0..RESPLIT_ROUNDS {
        let mut changed = false;
        for r in 0..k as u32 {
            if work.drawn.tentacles[r as usize] == 0 {
                continue;
            }
            let closed = closed_regions(&work.labels, work.fixed, k);
            if closed[r as usize] {
                continue;
            }
            let members: Vec<usize> = (0..work.labels.len())
                .filter(|&a| work.labels[a] == r)
                .collect();
            let around: Vec<u32> = crate::shape::neighbours_of(world, &work.labels, &members, r)
                .into_iter()
                .filter(|&s| !closed[s as usize])
                .take(RESPLIT_NEIGHBOURS)
                .collect();
            let mut clusters: Vec<Vec<u32>> = around.iter().take(3).map(|&s| vec![r, s]).collect();
            if around.len() >= 2 {
                clusters.push(vec![r, around[0], around[1]]);
            }
            if around.len() > 2 {
                clusters.push(std::iter::once(r).chain(around.iter().copied()).collect());
            }
            'clusters: for mut cluster in clusters {
                cluster.sort_unstable();
                let held = cluster_hash(&work.labels, &cluster);
                for how in [
                    ResplitFrom::Power,
                    ResplitFrom::Bisection,
                    ResplitFrom::BisectionPower,
                ] {
                    if work.resplits == budget || work.drawn.tentacles() == 0 {
                        return;
                    }
                    if !work.resplits_tried.insert((cluster.clone(), held, how)) {
                        continue;
                    }
                    let mut trial = work.labels.clone();
                    if !resplit(
                        world,
                        work.weight,
                        &mut trial,
                        work.fixed,
                        work.targets.search,
                        &part_of,
                        &cluster,
                        how,
                        work.options.tolerance,
                        k,
                    ) || trial == work.labels
                    {
                        continue;
                    }
                    work.resplits += 1;
                    if work.consider(trial, r) {
                        changed = true;
                        break 'clusters;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
}

/// A fingerprint of which atoms the regions of `cluster` hold.
fn cluster_hash(labels: &[u32], cluster: &[u32]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    for (a, l) in labels.iter().enumerate() {
        if cluster.contains(l) {
            (a, *l).hash(&mut h);
        }
    }
    h.finish()
}

/// Regions holding a fixed (heavy) atom.
fn closed_regions(labels: &[u32], fixed: &[bool], k: usize) -> Vec<bool> {
    let mut closed = vec![false; k];
    for (&l, &f) in labels.iter().zip(fixed) {
        if f && l != NONE {
            closed[l as usize] = true;
        }
    }
    closed
}

/// How [`resplit`] draws a cluster of regions afresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum ResplitFrom {
    /// A balanced power diagram started from the regions as they are: convex cells, so an
    /// arm goes to whichever centre is nearer.
    Power,
    /// The recursive bisection of the cluster's atoms, whose cuts follow barriers.
    Bisection,
    /// The bisection, then the power diagram from it.
    BisectionPower,
}

/// Draws the regions of `cluster` (neighbours, none holding a fixed atom) afresh on the atoms
/// they hold together, `how` says from which start; every other region keeps its atoms, and
/// every region of the cluster comes out connected and holding a building. The local search
/// then balances them ([`ArmTrials::consider`]). Returns false, with `labels` unchanged, when
/// a start leaves a region of the cluster empty.
#[allow(clippy::too_many_arguments)]
fn resplit(
    world: &World,
    weight: &[f64],
    labels: &mut [u32],
    fixed: &[bool],
    targets: &[f64],
    part_of: &[u32],
    cluster: &[u32],
    how: ResplitFrom,
    tol: f64,
    k: usize,
) -> bool {
    let mut in_cluster = vec![false; k];
    for &r in cluster {
        in_cluster[r as usize] = true;
    }
    let inside = |l: u32| l != NONE && in_cluster[l as usize];
    let before = labels.to_vec();
    if matches!(how, ResplitFrom::Bisection | ResplitFrom::BisectionPower) {
        let member: Vec<u32> = labels.iter().map(|&l| u32::from(inside(l))).collect();
        for l in labels.iter_mut().filter(|l| inside(**l)) {
            *l = NONE;
        }
        let target =
            cluster.iter().map(|&r| targets[r as usize]).sum::<f64>() / cluster.len() as f64;
        // Regions k.. for the bisection, then the cluster's own.
        let m = cluster.len();
        initial_bisection(
            world,
            weight,
            labels,
            Some((&member, 1)),
            k,
            k + m,
            target,
            tol,
        );
        for l in labels.iter_mut() {
            if *l != NONE && *l as usize >= k {
                *l = cluster[*l as usize - k];
            }
        }
        repair_contiguity(world, labels, k, Some(&in_cluster));
    }
    if matches!(how, ResplitFrom::Power | ResplitFrom::BisectionPower) {
        let frozen: Vec<bool> = labels
            .iter()
            .zip(fixed)
            .map(|(&l, &f)| f || !inside(l))
            .collect();
        crate::power::refine(world, weight, labels, &frozen, targets, part_of, k);
        repair_contiguity(world, labels, k, Some(&in_cluster));
    }
    let mut holds = vec![false; k];
    for (a, &l) in labels.iter().enumerate() {
        if inside(l) && weight[a] > 0.0 {
            holds[l as usize] = true;
        }
    }
    if cluster.iter().any(|&r| !holds[r as usize]) {
        labels.copy_from_slice(&before);
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PartitionOptions;
    use crate::outline::Sketches;
    use crate::shape::polygon_arms;
    use crate::shape::tests::{label, lattice, load};
    use crate::solve::arms::Targets;
    use crate::solve::contiguity::pieces;
    use geo::MultiPolygon;

    /// Two grids of 600 whose edge zigzags between columns 12 and 28 every four rows: each
    /// has fingers 40 m wide and 160 m long into the other, and every finger is a tentacle.
    fn interlocked(i: usize, j: usize) -> u32 {
        let edge = if (j / 4).is_multiple_of(2) { 28 } else { 12 };
        u32::from(i >= edge)
    }

    /// [`interlocked`] grids 0 and 1 in the columns left of 30, a third grid (2) right of them.
    fn interlocked_beside_a_third(i: usize, j: usize) -> u32 {
        if i >= 30 { 2 } else { interlocked(i, j) }
    }

    /// Drawn afresh from every start, the two interlocked grids come out whole and balanced
    /// (450 each of the 900 buildings they hold), without the fingers, while the grid beside
    /// them keeps every atom it held.
    #[test]
    fn a_resplit_redraws_the_cluster_alone() {
        let (world, cell, boundary) = lattice();
        let labels = label(&cell, interlocked_beside_a_third);
        let weight: Vec<f64> = world.atoms.iter().map(|a| a.weight).collect();
        let fixed = vec![false; labels.len()];
        let part_of = vec![0u32; labels.len()];
        let targets = [450.0, 450.0, 300.0];
        let before = crate::outline::draw(&world, &labels, 3, &boundary);
        let arms = |g: &MultiPolygon| polygon_arms(&world.frame, g).len();
        assert!(
            arms(&before[0]) + arms(&before[1]) >= 4,
            "fingers are tentacles"
        );
        for how in [
            ResplitFrom::Power,
            ResplitFrom::Bisection,
            ResplitFrom::BisectionPower,
        ] {
            let mut trial = labels.clone();
            assert!(resplit(
                &world,
                &weight,
                &mut trial,
                &fixed,
                &targets,
                &part_of,
                &[0, 1],
                how,
                0.05,
                3,
            ));
            for a in 0..trial.len() {
                assert_eq!(
                    trial[a] == 2,
                    labels[a] == 2,
                    "{how:?}: atom {a} at {:?}",
                    cell[a]
                );
            }
            assert_eq!(pieces(&world, &trial, 3), vec![1, 1, 1], "{how:?}");
            for r in 0..2 {
                let l = load(&trial, &weight, r);
                assert_eq!(l, 450.0, "{how:?}: grid {r}");
            }
            let drawn = crate::outline::draw(&world, &trial, 3, &boundary);
            assert_eq!(arms(&drawn[0]) + arms(&drawn[1]), 0, "{how:?}");
        }
    }

    /// A heavy building's grid is closed, so [`recombine`] leaves it out of every cluster, and
    /// drawing its neighbours afresh leaves it as it was.
    #[test]
    fn a_resplit_leaves_a_heavy_buildings_grid_alone() {
        let (world, cell, _) = lattice();
        let mut labels = label(&cell, interlocked_beside_a_third);
        let weight: Vec<f64> = world.atoms.iter().map(|a| a.weight).collect();
        let fixed: Vec<bool> = (0..labels.len()).map(|a| cell[a] == (0, 0)).collect();
        let part_of = vec![0u32; labels.len()];
        let closed = closed_regions(&labels, &fixed, 3);
        assert_eq!(closed, vec![true, false, false]);
        let before = labels.clone();
        assert!(resplit(
            &world,
            &weight,
            &mut labels,
            &fixed,
            &[400.0; 3],
            &part_of,
            &[1, 2],
            ResplitFrom::Power,
            0.05,
            3,
        ));
        assert!((0..labels.len()).all(|a| (labels[a] == 0) == (before[a] == 0)));
    }

    /// The interlocked grids drawn afresh: every finger goes, both grids stay whole and within
    /// ±5%, and the drawing kept is that of the labels kept.
    #[test]
    fn recombining_removes_interlocked_fingers() {
        let (world, cell, boundary) = lattice();
        let mut labels = label(&cell, interlocked);
        let weight: Vec<f64> = world.atoms.iter().map(|a| a.weight).collect();
        let fixed = vec![false; labels.len()];
        let options = PartitionOptions::default();
        let mut sketches = Sketches::new(&world, &boundary);
        let targets = [600.0, 600.0];
        let mut work = ArmTrials::new(
            &world,
            &mut sketches,
            &weight,
            &labels,
            &fixed,
            Targets {
                search: &targets,
                report: &targets,
            },
            &options,
            2,
        );
        let before = work.drawn.tentacles();
        assert!(before >= 4, "{before} tentacles");
        recombine(&mut work);
        assert!(work.resplits >= 1);
        assert_eq!(work.drawn.tentacles(), 0);
        assert_eq!(work.removed, before);
        let drawing = work.into_drawing(&mut labels);
        assert_eq!(drawing.from, labels);
        assert_eq!(pieces(&world, &labels, 2), vec![1, 1]);
        for r in 0..2u32 {
            let l = load(&labels, &weight, r);
            assert!((l - 600.0).abs() <= 30.0, "grid {r}: {l}");
        }
        let drawn = crate::outline::draw(&world, &labels, 2, &boundary);
        assert!(
            drawn
                .iter()
                .all(|g| polygon_arms(&world.frame, g).is_empty())
        );
        assert!(cell.len() == labels.len());
    }
}
