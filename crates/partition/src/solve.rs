//! Assigning atoms to regions: heavy atoms alone, recursive weighted bisection, contiguity
//! repair, then a seeded local search on the boundary atoms.

use geo::Coord;
use gridmap_core::index::GridIndex;
use gridmap_core::model::{Building, Grid};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_pcg::Pcg64;
use rstar::RTree;
use rstar::primitives::GeomWithData;

use crate::PartitionOptions;
use crate::atoms::{Graph, NONE, World};

/// The regions found.
pub(crate) struct Solution {
    /// Region of every atom.
    pub labels: Vec<u32>,
    /// Target workload of every region.
    pub targets: Vec<f64>,
    /// Target of the regions without a heavy building.
    pub normal_target: f64,
    /// The building that alone makes a region, for regions that hold one.
    pub heavy: Vec<Option<usize>>,
    pub passes: usize,
    /// With current grids: the current region of every building.
    pub current_region: Option<Vec<Option<usize>>>,
}

pub(crate) fn solve(
    world: &World,
    buildings: &[Building],
    k: usize,
    current: Option<&[Grid]>,
    options: &PartitionOptions,
) -> Solution {
    let n = world.atoms.len();
    let weight: Vec<f64> = world.atoms.iter().map(|a| a.weight).collect();
    let total: f64 = weight.iter().sum();
    let mut labels = vec![NONE; n];
    let mut fixed = vec![false; n];
    let mut heavy = vec![None; k];
    let mut targets = vec![total / k as f64; k];
    let mut normal_target = total / k as f64;
    let mut current_region = None;

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
        initial_bisection(world, &weight, &mut labels, h, k, normal_target, tol);
    }
    repair(world, &mut labels, k);
    let passes = local_search(
        world,
        &weight,
        &mut labels,
        &fixed,
        &targets,
        current.is_some(),
        options,
        k,
    );
    Solution {
        labels,
        targets,
        normal_target,
        heavy,
        passes,
        current_region,
    }
}

/// Recursive bisection over units (atoms, or whole barrier-bounded blocks when light enough)
/// of the atoms still unlabelled, into regions `first..k`.
fn initial_bisection(
    world: &World,
    weight: &[f64],
    labels: &mut [u32],
    first: usize,
    k: usize,
    target: f64,
    tol: f64,
) {
    let n = labels.len();
    let g = &world.graph;
    // Blocks: components joined by edges that do not cross a barrier.
    let mut block = vec![NONE; n];
    let mut blocks: Vec<Vec<usize>> = Vec::new();
    // Weightless atoms (boundary sites, empty buildings) are left to `repair`, which grows
    // them into the region they share most edge with; they would bridge barriers here.
    for s in 0..n {
        if labels[s] != NONE || block[s] != NONE || weight[s] <= 0.0 {
            continue;
        }
        let id = blocks.len() as u32;
        let mut members = vec![s];
        block[s] = id;
        let mut i = 0;
        while i < members.len() {
            let a = members[i];
            i += 1;
            for e in g.range(a) {
                let b = g.neighbours[e] as usize;
                if labels[b] == NONE
                    && block[b] == NONE
                    && weight[b] > 0.0
                    && g.off_barrier[e] >= g.on_barrier[e]
                {
                    block[b] = id;
                    members.push(b);
                }
            }
        }
        blocks.push(members);
    }
    // Units: (atoms, weight, position).
    let mut units: Vec<(Vec<usize>, f64, Coord)> = Vec::new();
    for members in blocks {
        let w: f64 = members.iter().map(|&a| weight[a]).sum();
        if w <= (1.0 + tol) * target && members.len() > 1 {
            let pos = members
                .iter()
                .fold(Coord::zero(), |s, &a| s + world.atoms[a].pos)
                / members.len() as f64;
            units.push((members, w, pos));
        } else {
            for a in members {
                units.push((vec![a], weight[a], world.atoms[a].pos));
            }
        }
    }
    let mut ids: Vec<usize> = (0..units.len()).collect();
    let mut unit_label = vec![0u32; units.len()];
    bisect(&units, &mut ids, k - first, first as u32, &mut unit_label);
    for (u, (members, _, _)) in units.iter().enumerate() {
        for &a in members {
            labels[a] = unit_label[u];
        }
    }
}

#[allow(clippy::type_complexity)]
fn bisect(
    units: &[(Vec<usize>, f64, Coord)],
    ids: &mut [usize],
    k: usize,
    first: u32,
    out: &mut [u32],
) {
    if k <= 1 || ids.len() <= 1 {
        for &u in ids.iter() {
            out[u] = first;
        }
        return;
    }
    let total: f64 = ids.iter().map(|&u| units[u].1).sum();
    let eps = total / ids.len() as f64 * 1e-3 + 1e-12;
    let (mut sw, mut mean) = (0.0, Coord::zero());
    for &u in ids.iter() {
        let w = units[u].1 + eps;
        sw += w;
        mean = mean + units[u].2 * w;
    }
    mean = mean / sw;
    let (mut cxx, mut cyy, mut cxy) = (0.0, 0.0, 0.0);
    for &u in ids.iter() {
        let w = units[u].1 + eps;
        let d = units[u].2 - mean;
        cxx += w * d.x * d.x;
        cyy += w * d.y * d.y;
        cxy += w * d.x * d.y;
    }
    let theta = 0.5 * (2.0 * cxy).atan2(cxx - cyy);
    let axis = Coord {
        x: theta.cos(),
        y: theta.sin(),
    };
    let proj = |u: usize| units[u].2.x * axis.x + units[u].2.y * axis.y;
    ids.sort_by(|&a, &b| proj(a).total_cmp(&proj(b)).then(a.cmp(&b)));
    let kl = k / 2;
    let want = total * kl as f64 / k as f64;
    // Split after `cut` units: the prefix weight closest to `want`, each side big enough.
    let (lo, hi) = (kl, ids.len().saturating_sub(k - kl));
    let mut best = (f64::INFINITY, lo.max(1));
    let mut cum = 0.0;
    for (i, &u) in ids.iter().enumerate() {
        cum += units[u].1;
        let cut = i + 1;
        if cut < lo.max(1) || cut > hi.max(lo.max(1)) {
            continue;
        }
        let d = (cum - want).abs();
        if d < best.0 {
            best = (d, cut);
        }
    }
    let cut = best.1.min(ids.len());
    let (left, right) = ids.split_at_mut(cut);
    bisect(units, left, kl, first, out);
    bisect(units, right, k - kl, first + kl as u32, out);
}

/// Makes every region connected: each keeps its heaviest component, the other pieces regrow
/// from their labelled neighbours (a region grown by adjacent atoms stays connected).
fn repair(world: &World, labels: &mut [u32], k: usize) {
    let g = &world.graph;
    let n = labels.len();
    let mut comp = vec![NONE; n];
    let mut best: Vec<Option<(f64, usize, u32)>> = vec![None; k];
    let mut comps: Vec<(u32, Vec<usize>)> = Vec::new();
    for s in 0..n {
        if labels[s] == NONE || comp[s] != NONE {
            continue;
        }
        let r = labels[s];
        let id = comps.len() as u32;
        let mut members = vec![s];
        comp[s] = id;
        let mut i = 0;
        while i < members.len() {
            let a = members[i];
            i += 1;
            for e in g.range(a) {
                let b = g.neighbours[e] as usize;
                if labels[b] == r && comp[b] == NONE {
                    comp[b] = id;
                    members.push(b);
                }
            }
        }
        let w: f64 = members.iter().map(|&a| world.atoms[a].weight).sum();
        let key = (w, members.len(), id);
        let slot = &mut best[r as usize];
        if slot.is_none_or(|(bw, bn, _)| (w, members.len()) > (bw, bn)) {
            *slot = Some(key);
        }
        comps.push((r, members));
    }
    for (id, (r, members)) in comps.iter().enumerate() {
        if best[*r as usize].is_some_and(|(_, _, b)| b != id as u32) {
            for &a in members {
                labels[a] = NONE;
            }
        }
    }
    grow(g, labels);
    // Pieces the graph cannot reach (separate parts of the boundary): nearest labelled atom.
    if labels.contains(&NONE) {
        let tree = RTree::bulk_load(
            (0..n)
                .filter(|&a| labels[a] != NONE)
                .map(|a| GeomWithData::new([world.atoms[a].pos.x, world.atoms[a].pos.y], a))
                .collect(),
        );
        for a in 0..n {
            if labels[a] == NONE {
                let p = world.atoms[a].pos;
                if let Some(near) = tree.nearest_neighbor(&[p.x, p.y]) {
                    labels[a] = labels[near.data];
                }
            }
        }
        grow(g, labels);
    }
}

/// Labels unlabelled atoms from their labelled neighbours, longest shared edge first.
fn grow(g: &Graph, labels: &mut [u32]) {
    loop {
        let mut changed = false;
        for a in 0..labels.len() {
            if labels[a] != NONE {
                continue;
            }
            let mut by_region: Vec<(u32, f64)> = Vec::new();
            for e in g.range(a) {
                let r = labels[g.neighbours[e] as usize];
                if r == NONE {
                    continue;
                }
                match by_region.iter_mut().find(|(q, _)| *q == r) {
                    Some(x) => x.1 += g.cost[e] + 1e-9,
                    None => by_region.push((r, g.cost[e] + 1e-9)),
                }
            }
            if let Some(&(r, _)) = by_region
                .iter()
                .max_by(|x, y| x.1.total_cmp(&y.1).then(y.0.cmp(&x.0)))
            {
                labels[a] = r;
                changed = true;
            }
        }
        if !changed {
            return;
        }
    }
}

/// Moves boundary atoms between neighbouring regions while that lowers the cost; returns the
/// number of passes made.
#[allow(clippy::too_many_arguments)]
fn local_search(
    world: &World,
    weight: &[f64],
    labels: &mut [u32],
    fixed: &[bool],
    targets: &[f64],
    minimal_moves: bool,
    options: &PartitionOptions,
    k: usize,
) -> usize {
    let g = &world.graph;
    let n = labels.len();
    let original: Vec<u32> = labels.to_vec();
    let mut load = vec![0.0; k];
    let mut size = vec![0usize; k];
    for a in 0..n {
        if labels[a] != NONE {
            load[labels[a] as usize] += weight[a];
            size[labels[a] as usize] += 1;
        }
    }
    let tol = options.tolerance;
    let balance = if minimal_moves { 0.0 } else { 10.0 };
    let cost = |r: usize, w: f64| -> f64 {
        let t = targets[r];
        if t <= 0.0 {
            return 0.0;
        }
        let d = (w - t) / t;
        let e = (d.abs() - 0.9 * tol).max(0.0);
        balance * d * d + 50.0 * (e + 10.0 * e * e)
    };
    // Typical grid perimeter, so that the cut term does not depend on scale.
    let perimeter = 4.0 * (world.area_m2 / k as f64).sqrt();
    let alpha = options.compactness / perimeter.max(1.0);
    let move_cost = if minimal_moves { 1e-3 } else { 0.0 };

    let mut closed = vec![false; k];
    for a in 0..n {
        if fixed[a] && labels[a] != NONE {
            closed[labels[a] as usize] = true;
        }
    }
    let mut order: Vec<usize> = (0..n).filter(|&a| !fixed[a]).collect();
    let mut rng = Pcg64::seed_from_u64(options.seed);
    order.shuffle(&mut rng);
    let mut stamp = vec![0u32; n];
    let mut generation = 0u32;
    let mut queue: Vec<usize> = Vec::new();
    let mut passes = 0;
    let mut by_region: Vec<(u32, f64)> = Vec::new();
    for _ in 0..options.max_passes {
        passes += 1;
        let mut moves = 0usize;
        for &a in &order {
            let r = labels[a];
            if r == NONE || size[r as usize] <= 1 {
                continue;
            }
            by_region.clear();
            for e in g.range(a) {
                let q = labels[g.neighbours[e] as usize];
                match by_region.iter_mut().find(|(x, _)| *x == q) {
                    Some(x) => x.1 += g.cost[e],
                    None => by_region.push((q, g.cost[e])),
                }
            }
            let own = by_region.iter().find(|(x, _)| *x == r).map_or(0.0, |x| x.1);
            let ru = r as usize;
            let w = weight[a];
            let buildings = world.atoms[a].buildings.len() as f64;
            let mut best: Option<(f64, u32)> = None;
            for &(s, shared) in &by_region {
                if s == r || s == NONE {
                    continue;
                }
                let su = s as usize;
                if closed[su] && w > 0.0 {
                    continue;
                }
                // Compactness may not cost balance beyond a fifth of the tolerance.
                let dev = |r: usize, w: f64| {
                    if targets[r] > 0.0 {
                        ((w - targets[r]) / targets[r]).abs()
                    } else {
                        0.0
                    }
                };
                let before = dev(ru, load[ru]).max(dev(su, load[su]));
                let after = dev(ru, load[ru] - w).max(dev(su, load[su] + w));
                if !minimal_moves && after > before.max(tol / 5.0) + 1e-12 {
                    continue;
                }
                let mut delta = cost(ru, load[ru] - w) + cost(su, load[su] + w)
                    - cost(ru, load[ru])
                    - cost(su, load[su])
                    + alpha * (own - shared);
                if original[a] == r {
                    delta += move_cost * buildings;
                } else if original[a] == s {
                    delta -= move_cost * buildings;
                }
                if delta < -1e-12 && best.is_none_or(|(d, q)| (delta, s) < (d, q)) {
                    best = Some((delta, s));
                }
            }
            let Some((_, s)) = best else { continue };
            // A region must keep a building if it has one, and stay connected.
            if w > 0.0 && load[ru] - w <= 0.0 {
                continue;
            }
            generation += 1;
            if !stays_connected(g, labels, a, &mut stamp, generation, &mut queue) {
                continue;
            }
            labels[a] = s;
            load[ru] -= w;
            load[s as usize] += w;
            size[ru] -= 1;
            size[s as usize] += 1;
            moves += 1;
        }
        if moves == 0 {
            break;
        }
    }
    passes
}

/// Would `a`'s region stay connected without `a`? BFS from one of its neighbours in the
/// region until all the others are reached.
fn stays_connected(
    g: &Graph,
    labels: &[u32],
    a: usize,
    stamp: &mut [u32],
    generation: u32,
    queue: &mut Vec<usize>,
) -> bool {
    let r = labels[a];
    let targets: Vec<usize> = g
        .range(a)
        .map(|e| g.neighbours[e] as usize)
        .filter(|&b| labels[b] == r)
        .collect();
    if targets.len() <= 1 {
        return true;
    }
    queue.clear();
    stamp[a] = generation;
    stamp[targets[0]] = generation;
    queue.push(targets[0]);
    let mut remaining = targets.len() - 1;
    let mut i = 0;
    while i < queue.len() {
        let x = queue[i];
        i += 1;
        for e in g.range(x) {
            let b = g.neighbours[e] as usize;
            if labels[b] != r || stamp[b] == generation {
                continue;
            }
            stamp[b] = generation;
            if targets[1..].contains(&b) {
                remaining -= 1;
                if remaining == 0 {
                    return true;
                }
            }
            queue.push(b);
        }
    }
    false
}
