//! Assigning atoms to regions: heavy atoms alone, recursive weighted bisection, contiguity
//! repair, then a seeded local search on the boundary atoms.

use geo::{Coord, MultiPolygon};
use gridmap_core::index::GridIndex;
use gridmap_core::model::{Building, Grid};
use rayon::prelude::*;

use crate::PartitionOptions;
use crate::atoms::{NONE, World};
use crate::outline::Sketches;

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
mod starts;

use arms::{Refusals, Targets, rebalance_arms};
use balance::fix_balance;
pub(crate) use balance::trades;
use bisect::initial_bisection;
pub(crate) use contiguity::Whole;
use contiguity::repair;
use drawing::{Drawn, draw_whole};
use local_search::{local_search, searcher};
use parts::{apportion, components};
use starts::{PlanKey, RESHAPED, SEED_STEP, fewest, outside_count, starts};

/// The regions found.
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
/// balance. So a fresh plan is begun from [`starts`] seeds derived from `options.seed`, in
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
        starts(world.atoms.len())
    };
    let begun: Vec<Begun> = (0..starts as u64)
        .into_par_iter()
        .map(|i| {
            let mut o = options.clone();
            o.seed = options.seed.wrapping_add(i.wrapping_mul(SEED_STEP));
            begin(world, buildings, k, current, o)
        })
        .collect();
    // Removing the arms is most of the work: only the starts that look best go on.
    let chosen = if begun.len() > RESHAPED {
        let keys: Vec<usize> = begun
            .par_iter()
            .map(|b| b.defects(world, options.tolerance, k))
            .collect();
        fewest(&keys, RESHAPED)
    } else {
        (0..begun.len()).collect()
    };
    let mut begun: Vec<Option<Begun>> = begun.into_iter().map(Some).collect();
    let chosen: Vec<Begun> = chosen.iter().filter_map(|&i| begun[i].take()).collect();
    let solutions: Vec<Solution> = chosen
        .into_par_iter()
        .map(|b| finish(world, boundary, k, current, b))
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

/// A start of the solver before its arms are removed: the regions the search found from the
/// bisection and the power diagram, and what the rest of the run needs of the start.
struct Begun {
    options: PartitionOptions,
    labels: Vec<u32>,
    fixed: Vec<bool>,
    heavy: Vec<Option<usize>>,
    targets: Vec<f64>,
    search_targets: Vec<f64>,
    normal_target: f64,
    part_note: Vec<Option<PartNote>>,
    current_region: Option<Vec<Option<usize>>>,
    passes: usize,
}

impl Begun {
    /// Grids outside the tolerance (as [`PlanKey`] counts them), tentacles and enclaves, on
    /// the atom graph.
    fn defects(&self, world: &World, tol: f64, k: usize) -> usize {
        let (labels, heavy) = (&self.labels, &self.heavy);
        let outside = outside_count(world, labels, heavy, &self.targets, &self.part_note, tol, k);
        let shapes = crate::shape::check(world, &self.labels, k);
        let tentacles: usize = shapes.tentacles.iter().map(Vec::len).sum();
        let enclaves = shapes.enclave_in.iter().filter(|e| e.is_some()).count();
        outside + tentacles + enclaves
    }
}

/// The first part of a run of the solver with `options.seed`: heavy atoms alone, the
/// bisection (per part of the boundary), and the local search from it and from the power
/// diagram.
fn begin(
    world: &World,
    buildings: &[Building],
    k: usize,
    current: Option<&[Grid]>,
    options: PartitionOptions,
) -> Begun {
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
        current_region = Some(of_building);
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
    repair(world, &mut labels, k, None);
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
        repair(world, &mut round, k, None);
        let (round_passes, round_cost) = search(&mut round);
        passes += round_passes;
        if round_cost < cost {
            labels = round;
        }
    }
    Begun {
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

/// The rest of a run of the solver from `begun`: arms removed, balance repaired, every grid
/// drawn whole.
fn finish(
    world: &World,
    boundary: &MultiPolygon,
    k: usize,
    current: Option<&[Grid]>,
    begun: Begun,
) -> Solution {
    let Begun {
        options,
        mut labels,
        fixed,
        heavy,
        targets,
        search_targets,
        normal_target,
        part_note,
        current_region,
        mut passes,
    } = begun;
    let options = &options;
    let weight: Vec<f64> = world.atoms.iter().map(|a| a.weight).collect();
    // Today's grids keep their arms unless balance moves them: fewer buildings change grid.
    let mut drawing = None;
    let mut refused = vec![Refusals::default(); k];
    let mut sketches = Sketches::new(world, boundary);
    let tentacles_removed = if current.is_none() {
        let removed = crate::shape::remove_tentacles(
            world,
            &mut labels,
            &weight,
            &search_targets,
            &fixed,
            options.tolerance,
            k,
        );
        let (handed, drawn, why) = rebalance_arms(
            world,
            &mut sketches,
            &weight,
            &mut labels,
            &fixed,
            Targets {
                search: &search_targets,
                report: &targets,
            },
            options,
            k,
        );
        drawing = Some(drawn);
        refused = why;
        removed + handed
    } else {
        0
    };
    // Fresh plans only: with today's grids, every move is a building that changes grid. To
    // the target the report measures: where a part of the boundary is balanced to its own
    // share, a move that brings one of its grids closer to the target without pushing
    // another out is still a better plan.
    if current.is_none() {
        fix_balance(
            world,
            &mut labels,
            &weight,
            &targets,
            &fixed,
            options.tolerance,
            None,
            k,
        );
    }
    let (drawn, whole_passes) = match drawing {
        // The arm check drew these very labels last.
        Some(d) if d.from == labels => {
            labels = d.labels;
            (d.drawn, 0)
        }
        d => {
            let (geometry, passes) = draw_whole(
                world,
                &mut sketches,
                &mut labels,
                k,
                &mut searcher(
                    world,
                    &weight,
                    &fixed,
                    &search_targets,
                    options,
                    current.is_some(),
                    None,
                    k,
                ),
            );
            (
                Drawn::new(world, geometry, d.as_ref().map(|d| &d.drawn)),
                passes,
            )
        }
    };
    passes += whole_passes;
    let mut arms = Vec::new();
    for (r, drawn_arms) in drawn.arms.iter().enumerate() {
        let r = r as u32;
        for arm in drawn_arms {
            let atoms = crate::shape::atoms_in_arms(world, &labels, r, std::slice::from_ref(arm))
                .pop()
                .unwrap_or_default();
            arms.push(ArmLeft {
                region: r,
                along: crate::shape::neighbours_of(world, &labels, &atoms, r),
                atoms,
                refused: refused[r as usize],
            });
        }
    }
    Solution {
        labels,
        targets,
        normal_target,
        heavy,
        passes,
        current_region,
        part_note,
        tentacles_removed,
        tentacles: drawn.tentacles,
        geometry: drawn.geometry,
        arms,
    }
}
