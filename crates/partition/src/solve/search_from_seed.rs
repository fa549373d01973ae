//! The first stage of one start of the solver: from a seed to regions on the atom graph.
//!
//! Atoms heavier than the target get a region each; separate parts of the boundary get whole
//! numbers of grids ([`super::parts`]); the rest is split by the recursive bisection
//! ([`super::bisect`]) and made contiguous ([`super::contiguity`]). The local search
//! ([`super::local_search`]) then runs from the bisection, whose cuts follow barriers, and
//! from a balanced power diagram seeded by it ([`crate::power`]), whose grids are rounder;
//! the one whose cost is lower is kept. With today's grids (`--from-current`) the search
//! starts from them instead and moves as few buildings as it can.
//!
//! What comes out ([`SearchedStart`]) has no drawn grid yet: [`super::solve`] ranks the starts
//! by their defects on the atom graph and takes the best on to
//! [`super::remove_arms_and_draw()`].

use geo::Coord;
use gridmap_core::index::GridIndex;
use gridmap_core::model::{Building, Grid};

use super::PartNote;
use super::bisect::initial_bisection;
use super::contiguity::repair_contiguity;
use super::local_search::local_search;
use super::parts::{apportion, components};
use super::starts::outside_count;
use crate::PartitionOptions;
use crate::atoms::{NONE, World};

/// A start of the solver after its first stage: the regions the search found from the
/// bisection and the power diagram (or from today's grids), on the atom graph, and what the
/// second stage ([`super::remove_arms_and_draw()`]) needs of the start.
pub(super) struct SearchedStart {
    /// The options of this start, with its own seed.
    pub(super) options: PartitionOptions,
    /// Region of every atom.
    pub(super) labels: Vec<u32>,
    /// Atoms that may not change region: those heavier than the target, a region each.
    pub(super) fixed: Vec<bool>,
    /// The building that alone makes a region, for regions that hold one.
    pub(super) heavy: Vec<Option<usize>>,
    /// Target workload of every region, as the report measures it.
    pub(super) targets: Vec<f64>,
    /// What the search balances every region to: its target, or its part's workload per grid
    /// where the boundary is in separate parts.
    pub(super) search_targets: Vec<f64>,
    /// Target of the regions without a heavy building.
    pub(super) normal_target: f64,
    /// Why a region's part of the boundary keeps it off the target.
    pub(super) part_note: Vec<Option<PartNote>>,
    /// With today's grids: the current region of every building.
    pub(super) current_region: Option<Vec<Option<usize>>>,
    /// Local-search passes made.
    pub(super) passes: usize,
}

impl SearchedStart {
    /// Grids outside the tolerance (as [`PlanKey`](super::starts::PlanKey) counts them), tentacles
    /// and enclaves, on the atom graph.
    pub(super) fn defects(&self, world: &World, tol: f64, k: usize) -> usize {
        let (labels, heavy) = (&self.labels, &self.heavy);
        let outside = outside_count(world, labels, heavy, &self.targets, &self.part_note, tol, k);
        let shapes = crate::shape::check(world, &self.labels, k);
        let tentacles: usize = shapes.tentacles.iter().map(Vec::len).sum();
        let enclaves = shapes.enclave_in.iter().filter(|e| e.is_some()).count();
        outside + tentacles + enclaves
    }
}

/// The first stage of a run of the solver with `options.seed`: heavy atoms alone, the
/// bisection (per part of the boundary), and the local search from it and from the power
/// diagram; with `current`, the local search from today's grids.
pub(super) fn search_from_seed(
    world: &World,
    buildings: &[Building],
    k: usize,
    current: Option<&[Grid]>,
    options: PartitionOptions,
) -> SearchedStart {
    let n = world.atoms.len();
    let weight: Vec<f64> = world.atoms.iter().map(|a| a.weight).collect();
    let total: f64 = weight.iter().sum();
    let mut labels = vec![NONE; n];
    let mut fixed = vec![false; n];
    let mut heavy = vec![None; k];
    let mut targets = vec![total / k as f64; k];
    let mut normal_target = total / k as f64;
    let mut current_region = None;
    let mut part_note: Vec<Option<PartNote>> = vec![None; k];
    // Targets the search balances to: the target, or the part's when the boundary has parts.
    let mut search_targets = targets.clone();

    if let Some(current) = current {
        current_region = Some(labels_from_current(world, buildings, current, &mut labels));
    } else {
        // Atoms heavier than the target (which shrinks as they leave) get a region each.
        let tol = options.tolerance;
        let mut by_weight: Vec<usize> = (0..n).collect();
        by_weight.sort_by(|&a, &b| weight[b].total_cmp(&weight[a]).then(a.cmp(&b)));
        let mut h = 0;
        let mut rest = total;
        while h + 1 < k {
            let t = rest / (k - h) as f64;
            let a = by_weight[h];
            if weight[a] > t * (1.0 + tol) {
                rest -= weight[a];
                h += 1;
            } else {
                break;
            }
        }
        normal_target = rest / (k - h) as f64;
        for (r, &a) in by_weight[..h].iter().enumerate() {
            labels[a] = r as u32;
            fixed[a] = true;
            targets[r] = weight[a];
            heavy[r] = world.atoms[a].buildings.first().copied();
        }
        for t in &mut targets[h..] {
            *t = normal_target;
        }
        search_targets.clone_from(&targets);
        // A grid is one polygon, so separate parts of the boundary (components of the atom
        // graph) get whole numbers of grids, balanced within each part.
        let (part_of, parts) = components(&world.graph);
        let mut part_weight = vec![0.0; parts];
        for a in 0..n {
            if !fixed[a] {
                part_weight[part_of[a] as usize] += weight[a];
            }
        }
        match apportion(&part_weight, k - h, normal_target) {
            Some(grids) if parts > 1 => {
                let mut first = h;
                let loaded = part_weight.iter().filter(|w| **w > 0.0).count();
                for (p, &kp) in grids.iter().enumerate() {
                    if kp == 0 {
                        continue;
                    }
                    let t = part_weight[p] / kp as f64;
                    for r in first..first + kp {
                        search_targets[r] = t;
                        let dev = 100.0 * (t - normal_target) / normal_target;
                        if dev.abs() > 100.0 * tol {
                            part_note[r] = Some(PartNote {
                                parts: loaded,
                                workload: part_weight[p],
                                share_pct: 100.0 * part_weight[p] / rest.max(f64::MIN_POSITIVE),
                                grids: kp,
                                each: t,
                                deviation_pct: dev,
                            });
                        }
                    }
                    initial_bisection(
                        world,
                        &weight,
                        &mut labels,
                        Some((&part_of, p as u32)),
                        first,
                        first + kp,
                        t,
                        tol,
                    );
                    first += kp;
                }
            }
            _ => initial_bisection(world, &weight, &mut labels, None, h, k, normal_target, tol),
        }
    }
    repair_contiguity(world, &mut labels, k, None);
    let search = |labels: &mut [u32]| {
        local_search(
            world,
            &weight,
            labels,
            &fixed,
            &search_targets,
            current.is_some(),
            None,
            &options,
            k,
        )
    };
    // A fresh plan is searched from two starts and the one the search's own cost prefers is
    // kept: the bisection, whose cuts follow barriers, and a balanced power diagram seeded
    // by it, whose grids are rounder (see [`crate::power`]).
    let (mut passes, cost) = search(&mut labels);
    if current.is_none() {
        let (part_of, _) = components(&world.graph);
        let mut round = labels.clone();
        crate::power::refine(
            world,
            &weight,
            &mut round,
            &fixed,
            &search_targets,
            &part_of,
            k,
        );
        repair_contiguity(world, &mut round, k, None);
        let (round_passes, round_cost) = search(&mut round);
        passes += round_passes;
        if round_cost < cost {
            labels = round;
        }
    }
    SearchedStart {
        options,
        labels,
        fixed,
        heavy,
        targets,
        search_targets,
        normal_target,
        part_note,
        current_region,
        passes,
    }
}

/// Labels every atom with today's grid (`current`) that holds its first building, or its
/// position for an atom without one (`NONE` outside every grid); returns today's grid of every
/// building.
fn labels_from_current(
    world: &World,
    buildings: &[Building],
    current: &[Grid],
    labels: &mut [u32],
) -> Vec<Option<usize>> {
    let index = GridIndex::new(current, |_| false);
    let grid_at = |c: Coord| -> Option<usize> {
        let at = index.grids_at(c);
        at.inside
            .first()
            .or(at.on_edge.first())
            .map(|&g| g as usize)
    };
    let mut of_building = vec![None; world.atom_of_building.len()];
    for atom in &world.atoms {
        for &b in &atom.buildings {
            of_building[b] = buildings[b].location().and_then(grid_at);
        }
    }
    for (a, atom) in world.atoms.iter().enumerate() {
        let region = match atom.buildings.first() {
            Some(&b) => of_building[b],
            None => grid_at(world.unproject(atom.pos)),
        };
        labels[a] = region.map_or(NONE, |r| r as u32);
    }
    of_building
}
