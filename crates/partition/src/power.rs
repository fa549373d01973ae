//! A compact start for the local search: a capacity-constrained power diagram.
//!
//! Every region gets a centre and a power weight `w`; a weighted atom goes to the region of
//! least power distance `|x − c|² − w` among the nearest centres of its part of the boundary. The weights are raised
//! for regions below their target and lowered for those above (dual ascent of the balanced
//! assignment), then every centre moves to the centroid of its region's land (Lloyd), and
//! again; the land without buildings then follows by the same distance. Power cells are
//! convex, so regions come out round and without arms; the local search then evens out the
//! balance that indivisible buildings leave and bends edges onto barriers.
//!
//! Grouping the buildings of a street block into one unit, so that edges start on roads,
//! was tried: on the demo town at 82 grids it left more tentacles and a worse balance for
//! few more metres of edge on roads than the local search finds by itself.

use geo::Coord;
use rayon::prelude::*;
use rstar::RTree;
use rstar::primitives::GeomWithData;

use crate::atoms::{NONE, World};

/// Lloyd steps (centres to centroids).
const LLOYD_STEPS: usize = 12;

/// Dual-ascent iterations of the power weights in the first Lloyd step; later steps start
/// from the weights found and take a quarter as many.
const WEIGHT_STEPS: usize = 40;

/// Nearest centres considered for each atom.
const CANDIDATES: usize = 10;

/// A weighted atom as the power diagram sees it.
struct Unit {
    atom: usize,
    weight: f64,
    /// Centroid of its cells, metres.
    pos: Coord,
    /// Area of its cells, m².
    area: f64,
    part: u32,
}

/// Relabels `labels` (every atom labelled, regions `0..k`) by a balanced power diagram started
/// from the regions' own centroids; the land without buildings follows by the same power
/// distance, `NONE` where no region of its part is near. Fixed atoms keep their region, and
/// regions holding a fixed atom take nothing; units go only to regions of their own part
/// (`part_of`). Leaves `labels` as they were when a region would end up empty.
///
/// # Performance
/// `LLOYD_STEPS × (WEIGHT_STEPS / 4 + 1) × weighted atoms × CANDIDATES` distance evaluations
/// (ten times that in the first step), in parallel, and one R-tree of the `k` centres per
/// step.
pub(crate) fn refine(
    world: &World,
    weight: &[f64],
    labels: &mut [u32],
    fixed: &[bool],
    targets: &[f64],
    part_of: &[u32],
    k: usize,
) {
    let n = labels.len();
    let mut closed = vec![false; k];
    let mut region_part = vec![NONE; k];
    for a in 0..n {
        let r = labels[a];
        if r == NONE {
            continue;
        }
        closed[r as usize] |= fixed[a];
        if region_part[r as usize] == NONE {
            region_part[r as usize] = part_of[a];
        }
    }
    let units = units(world, weight, fixed, part_of);
    // Start from the regions as they are.
    let mut unit_label: Vec<u32> = units.iter().map(|u| labels[u.atom]).collect();
    let mut centres = centroids(&units, &unit_label, k);
    let mut scale = areas(&units, &unit_label, k, world.area_m2);
    let mut power = vec![0.0; k];
    let mut candidates: Vec<u32> = vec![NONE; units.len() * CANDIDATES];
    let mut load = vec![0.0; k];
    for lloyd in 0..LLOYD_STEPS {
        let tree = RTree::bulk_load(
            (0..k)
                .filter(|&r| !closed[r])
                .filter_map(|r| centres[r].map(|c| GeomWithData::new([c.x, c.y], r as u32)))
                .collect(),
        );
        candidates
            .par_chunks_mut(CANDIDATES)
            .zip(&units)
            .for_each(|(slot, unit)| {
                slot.fill(NONE);
                let nearest = tree
                    .nearest_neighbor_iter(&[unit.pos.x, unit.pos.y])
                    .filter(|c| region_part[c.data as usize] == unit.part)
                    .take(CANDIDATES);
                for (s, c) in slot.iter_mut().zip(nearest) {
                    *s = c.data;
                }
            });
        let best = |u: usize, power: &[f64]| -> u32 {
            let p = units[u].pos;
            let mut choice = (f64::INFINITY, unit_label[u]);
            for &r in &candidates[u * CANDIDATES..(u + 1) * CANDIDATES] {
                if r == NONE {
                    break;
                }
                let c = centres[r as usize].expect("candidates are regions with a centre");
                let d = (p.x - c.x).powi(2) + (p.y - c.y).powi(2) - power[r as usize];
                if d < choice.0 {
                    choice = (d, r);
                }
            }
            choice.1
        };
        let steps = if lloyd == 0 {
            WEIGHT_STEPS
        } else {
            WEIGHT_STEPS / 4
        };
        let mut choice: Vec<u32> = Vec::with_capacity(units.len());
        for step in 0..steps {
            (0..units.len())
                .into_par_iter()
                .map(|u| best(u, &power))
                .collect_into_vec(&mut choice);
            load.iter_mut().for_each(|l| *l = 0.0);
            for (unit, &r) in units.iter().zip(&choice) {
                load[r as usize] += unit.weight;
            }
            // A weight is a squared distance: steps in proportion to the region's size.
            let eta = 0.5 / (1.0 + step as f64 / 10.0);
            for r in 0..k {
                if !closed[r] && targets[r] > 0.0 {
                    power[r] += eta * scale[r] * (targets[r] - load[r]) / targets[r];
                }
            }
        }
        (0..units.len())
            .into_par_iter()
            .map(|u| best(u, &power))
            .collect_into_vec(&mut choice);
        unit_label = choice;
        for (r, c) in centroids(&units, &unit_label, k).into_iter().enumerate() {
            if c.is_some() {
                centres[r] = c;
            }
        }
        scale = areas(&units, &unit_label, k, world.area_m2);
    }
    let mut used = closed.clone();
    for &r in &unit_label {
        used[r as usize] = true;
    }
    if used.contains(&false) {
        return;
    }
    for (unit, &r) in units.iter().zip(&unit_label) {
        labels[unit.atom] = r;
    }
    // The land without buildings goes by the same power distance, so that the strips along
    // the boundary are shared out as the cells cut them.
    let tree = RTree::bulk_load(
        (0..k)
            .filter(|&r| !closed[r])
            .filter_map(|r| centres[r].map(|c| GeomWithData::new([c.x, c.y], r as u32)))
            .collect(),
    );
    let land: Vec<(usize, u32)> = (0..n)
        .into_par_iter()
        .filter(|&a| weight[a] <= 0.0 && !fixed[a])
        .map(|a| {
            let atom = &world.atoms[a];
            let p = if atom.area > 0.0 {
                atom.centre
            } else {
                atom.pos
            };
            let best = tree
                .nearest_neighbor_iter(&[p.x, p.y])
                .filter(|c| region_part[c.data as usize] == part_of[a])
                .take(CANDIDATES)
                .map(|c| {
                    let q = c.geom();
                    let d = (p.x - q[0]).powi(2) + (p.y - q[1]).powi(2) - power[c.data as usize];
                    (d, c.data)
                })
                .min_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
            (a, best.map_or(NONE, |(_, r)| r))
        })
        .collect();
    for (a, r) in land {
        labels[a] = r;
    }
}

/// The weighted atoms that are not fixed.
fn units(world: &World, weight: &[f64], fixed: &[bool], part_of: &[u32]) -> Vec<Unit> {
    (0..weight.len())
        .filter(|&a| weight[a] > 0.0 && !fixed[a])
        .map(|a| {
            let atom = &world.atoms[a];
            Unit {
                atom: a,
                weight: weight[a],
                pos: if atom.area > 0.0 {
                    atom.centre
                } else {
                    atom.pos
                },
                area: atom.area.max(1e-6),
                part: part_of[a],
            }
        })
        .collect()
}

/// Area centroid of every region's units (`None` for an empty region).
fn centroids(units: &[Unit], labels: &[u32], k: usize) -> Vec<Option<Coord>> {
    let mut sum = vec![(Coord::zero(), 0.0); k];
    for (unit, &r) in units.iter().zip(labels) {
        let s = &mut sum[r as usize];
        s.0 = s.0 + unit.pos * unit.area;
        s.1 += unit.area;
    }
    sum.into_iter()
        .map(|(s, m)| (m > 0.0).then(|| s / m))
        .collect()
}

/// Squared radius of a disc of each region's area, with a floor of a thousandth of a mean
/// region, so that an empty region still grows.
fn areas(units: &[Unit], labels: &[u32], k: usize, total: f64) -> Vec<f64> {
    let mut area = vec![0.0; k];
    for (unit, &r) in units.iter().zip(labels) {
        area[r as usize] += unit.area;
    }
    let floor = 1e-3 * total / k as f64;
    area.into_iter()
        .map(|a| a.max(floor) / std::f64::consts::PI)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::refine;
    use crate::atoms::World;
    use crate::shape::tests::{label, lattice, load};

    /// 2π I / A² of a region's atoms, each of its cell's area: 1 for a disc, 1.05 for a
    /// square, 1.4 for a 1:3 rectangle.
    fn roundness(world: &World, labels: &[u32], r: u32) -> f64 {
        let (mut m, mut s) = (0.0, geo::Coord::zero());
        for (a, atom) in world.atoms.iter().enumerate() {
            if labels[a] == r {
                m += atom.area;
                s = s + atom.centre * atom.area;
            }
        }
        let c = s / m;
        let i: f64 = world
            .atoms
            .iter()
            .enumerate()
            .filter(|(a, _)| labels[*a] == r)
            .map(|(_, atom)| {
                atom.area * ((atom.centre.x - c.x).powi(2) + (atom.centre.y - c.y).powi(2))
            })
            .sum();
        std::f64::consts::TAU * i / (m * m)
    }

    #[test]
    fn lopsided_blocks_become_balanced_round_regions() {
        // Four blocks of 80, 160, 320 and 640 buildings, the last one L-shaped.
        let (world, cell, _) = lattice();
        let mut labels = label(&cell, |i, j| u32::from(i >= 8) * 2 + u32::from(j >= 10));
        let weight: Vec<f64> = world.atoms.iter().map(|a| a.weight).collect();
        let fixed = vec![false; labels.len()];
        let part_of = vec![0u32; labels.len()];
        let before: Vec<f64> = (0..4).map(|r| roundness(&world, &labels, r)).collect();
        refine(
            &world,
            &weight,
            &mut labels,
            &fixed,
            &[300.0; 4],
            &part_of,
            4,
        );
        for r in 0..4 {
            let l = load(&labels, &weight, r);
            assert!((l - 300.0).abs() <= 15.0, "region {r} holds {l}");
            let x = roundness(&world, &labels, r);
            assert!(x < 1.15, "region {r}: roundness {x} (before: {before:?})");
        }
        assert!(!labels.contains(&crate::atoms::NONE));
    }
}
