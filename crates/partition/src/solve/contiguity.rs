//! Keeping every region in one piece on the atom graph.
//!
//! A grid is one polygon, so every step of the solver keeps regions connected: after the bisection
//! or the power diagram, [`repair_contiguity`] keeps each region's heaviest piece and grows the
//! weightless and cut-off atoms back into their neighbours ([`grow_regions`], one breadth-first
//! layer at a time); during the search and the balance repair, a move is made only when the region
//! it leaves [`stays_connected`] (most often answered by the few atoms around the one that moves,
//! [`joined_locally`]); [`pieces`] counts what a trial would leave.

use rstar::RTree;
use rstar::primitives::GeomWithData;

use crate::atoms::{Graph, NONE, World};

/// Number of connected pieces of every region on the atom graph (more than one where a region
/// holds a speck of land the graph does not reach).
pub(super) fn pieces(world: &World, labels: &[u32], k: usize) -> Vec<usize> {
    let g = &world.graph;
    let mut seen = vec![false; labels.len()];
    let mut pieces = vec![0usize; k];
    for s in 0..labels.len() {
        if seen[s] || labels[s] == NONE {
            continue;
        }
        let r = labels[s];
        pieces[r as usize] += 1;
        g.flood(s, &mut seen, |_, b| labels[b] == r);
    }
    pieces
}

/// Makes every region connected: each keeps its heaviest component, the other pieces regrow
/// from their labelled neighbours (a region grown by adjacent atoms stays connected). With
/// `only`, just those regions are repaired and grow, and the atoms unlabelled are theirs.
pub(super) fn repair_contiguity(
    world: &World,
    labels: &mut [u32],
    k: usize,
    only: Option<&[bool]>,
) {
    let g = &world.graph;
    let n = labels.len();
    let mut seen = vec![false; n];
    let mut best: Vec<Option<(f64, usize, u32)>> = vec![None; k];
    let mut comps: Vec<(u32, Vec<usize>)> = Vec::new();
    let allowed = |r: u32| r != NONE && only.is_none_or(|o| o[r as usize]);
    for s in 0..n {
        if !allowed(labels[s]) || seen[s] {
            continue;
        }
        let r = labels[s];
        let id = comps.len() as u32;
        let members = g.flood(s, &mut seen, |_, b| labels[b] == r);
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
    grow_regions(g, labels, only);
    // Pieces the graph cannot reach (separate parts of the boundary): nearest labelled atom.
    if labels.contains(&NONE) {
        let tree = RTree::bulk_load(
            (0..n)
                .filter(|&a| allowed(labels[a]))
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
        grow_regions(g, labels, only);
    }
}

/// Labels unlabelled atoms from their labelled neighbours, longest shared edge first, one
/// breadth-first layer at a time: every region grows at the same pace, so a chain of
/// weightless atoms (the boundary's sites) is shared out instead of swept up by one region.
/// With `only`, just those regions grow.
fn grow_regions(g: &Graph, labels: &mut [u32], only: Option<&[bool]>) {
    let n = labels.len();
    let allowed = |r: u32| r != NONE && only.is_none_or(|o| o[r as usize]);
    let mut mark = vec![false; n];
    let mut frontier: Vec<usize> = (0..n)
        .filter(|&a| {
            labels[a] == NONE
                && g.range(a)
                    .any(|e| allowed(labels[g.neighbours[e] as usize]))
        })
        .collect();
    for &a in &frontier {
        mark[a] = true;
    }
    let mut by_region: Vec<(u32, f64)> = Vec::new();
    let mut decided: Vec<(usize, u32)> = Vec::new();
    while !frontier.is_empty() {
        decided.clear();
        for &a in &frontier {
            by_region.clear();
            for e in g.range(a) {
                let r = labels[g.neighbours[e] as usize];
                if !allowed(r) {
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
                decided.push((a, r));
            }
        }
        frontier.clear();
        for &(a, r) in &decided {
            labels[a] = r;
        }
        for &(a, _) in &decided {
            for e in g.range(a) {
                let b = g.neighbours[e] as usize;
                if labels[b] == NONE && !mark[b] {
                    mark[b] = true;
                    frontier.push(b);
                }
            }
        }
    }
}

/// Connectivity checks that share one stamp buffer.
pub(crate) struct ConnectivityCheck {
    stamp: Vec<u32>,
    generation: u32,
    queue: Vec<usize>,
}

impl ConnectivityCheck {
    pub(crate) fn new(n: usize) -> ConnectivityCheck {
        ConnectivityCheck {
            stamp: vec![0; n],
            generation: 0,
            queue: Vec::new(),
        }
    }

    /// Would `a`'s region stay connected without `a`?
    pub(crate) fn stays_connected_without(&mut self, g: &Graph, labels: &[u32], a: usize) -> bool {
        self.generation += 1;
        stays_connected(
            g,
            labels,
            a,
            &mut self.stamp,
            self.generation,
            &mut self.queue,
        )
    }
}

/// Are `atoms` (a few) connected by the graph's edges between them alone?
fn joined_locally(g: &Graph, atoms: &[usize]) -> bool {
    if atoms.len() > 64 {
        return false;
    }
    let (mut reached, mut frontier): (u64, u64) = (1, 1);
    while frontier != 0 {
        let i = frontier.trailing_zeros() as usize;
        frontier &= frontier - 1;
        for e in g.range(atoms[i]) {
            let b = g.neighbours[e] as usize;
            if let Some(j) = atoms.iter().position(|&x| x == b)
                && reached & (1 << j) == 0
            {
                reached |= 1 << j;
                frontier |= 1 << j;
            }
        }
    }
    reached.count_ones() as usize == atoms.len()
}

/// Would `a`'s region stay connected without `a`? True when its neighbours in the region are
/// joined among themselves, or else when a BFS from one of them reaches all the others.
pub(super) fn stays_connected(
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
    // Most often the region's neighbours of `a` are joined among themselves (they ring `a`
    // in the planar graph): no search of the region is needed then.
    if joined_locally(g, &targets) {
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
