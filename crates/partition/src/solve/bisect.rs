//! The first regions of a fresh plan: recursive weighted bisection of the atoms.
//!
//! Each cut puts `k/2` grids' worth of workload on one side of a straight line, chosen among
//! [`DIRECTIONS`] directions around the principal axis, first by balance, then, within a
//! slack, by cut cost. The atoms of a block bounded by barriers sort together, so a cut along
//! the barriers is always among the candidates: the grids it starts from follow the roads.
//! Weightless atoms are left to the contiguity repair ([`super::contiguity`]).

use geo::Coord;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::atoms::{NONE, World};

/// A unit of the initial bisection: a weighted atom and the centre of its block.
struct Unit {
    atoms: Vec<usize>,
    weight: f64,
    pos: Coord,
    /// Centre of its block, which sorts before `pos`.
    group: Coord,
}

/// Directions tried for each cut of the bisection (over half a turn).
const DIRECTIONS: usize = 8;

/// Recursive bisection of the weighted atoms still unlabelled (of one part of the boundary,
/// with `part`) into regions `first..k`.
#[allow(clippy::too_many_arguments)]
pub(super) fn initial_bisection(
    world: &World,
    weight: &[f64],
    labels: &mut [u32],
    part: Option<(&[u32], u32)>,
    first: usize,
    k: usize,
    target: f64,
    tol: f64,
) {
    let n = labels.len();
    let g = &world.graph;
    // Blocks: components joined by edges that do not cross a barrier.
    let mut in_block = vec![false; n];
    let mut blocks: Vec<Vec<usize>> = Vec::new();
    // Weightless atoms (boundary sites, empty buildings) are left to `repair`, which grows
    // them into the region they share most edge with; they would bridge barriers here.
    for s in 0..n {
        if labels[s] != NONE
            || in_block[s]
            || weight[s] <= 0.0
            || part.is_some_and(|(of, p)| of[s] != p)
        {
            continue;
        }
        blocks.push(g.flood(s, &mut in_block, |e, b| {
            labels[b] == NONE && weight[b] > 0.0 && g.off_barrier[e] >= g.on_barrier[e]
        }));
    }
    // Every weighted atom is a unit; the atoms of a block light enough to be one grid sort
    // together (by the block's centre first), so a cut between blocks, along the barriers,
    // is always among the candidates, and a cut through a block only when balance needs it.
    let mut units: Vec<Unit> = Vec::new();
    for members in blocks {
        let w: f64 = members.iter().map(|&a| weight[a]).sum();
        let group = (w <= (1.0 + tol) * target && members.len() > 1).then(|| {
            members
                .iter()
                .fold(Coord::zero(), |s, &a| s + world.atoms[a].pos)
                / members.len() as f64
        });
        for a in members {
            units.push(Unit {
                atoms: vec![a],
                weight: weight[a],
                pos: world.atoms[a].pos,
                group: group.unwrap_or(world.atoms[a].pos),
            });
        }
    }
    // Cut cost between units (atom-graph edges; barrier edges are cheap).
    let mut unit_of = vec![NONE; n];
    for (u, unit) in units.iter().enumerate() {
        for &a in &unit.atoms {
            unit_of[a] = u as u32;
        }
    }
    let mut between: FxHashMap<(u32, u32), f64> = FxHashMap::default();
    for a in 0..n {
        for e in g.range(a) {
            let (ua, ub) = (unit_of[a], unit_of[g.neighbours[e] as usize]);
            if ua != NONE && ub != NONE && ua < ub {
                *between.entry((ua, ub)).or_default() += g.cost[e];
            }
        }
    }
    let mut edges: Vec<(u32, u32, f64)> =
        between.into_iter().map(|((a, b), c)| (a, b, c)).collect();
    edges.sort_unstable_by_key(|e| (e.0, e.1));
    let mut ids: Vec<usize> = (0..units.len()).collect();
    let mut unit_label = vec![0u32; units.len()];
    // A cut may miss the balance by a quarter of the tolerance per region on its smaller side
    // to follow a barrier or be shorter: the local search evens it out.
    let slack = 0.25 * tol * target;
    bisect(
        &units,
        &mut ids,
        &edges,
        k - first,
        first as u32,
        &mut unit_label,
        slack,
    );
    for (&u, &label) in ids.iter().zip(&unit_label) {
        for &a in &units[u].atoms {
            labels[a] = label;
        }
    }
}

/// A candidate cut of [`bisect`]: (balance error, cut cost, direction, cut).
type Cut = (f64, f64, usize, usize);

/// Units below which [`bisect`] works on one thread.
const PARALLEL_UNITS: usize = 4096;

/// Splits `ids` (units) into `k` regions: `k / 2` on one side of a straight cut, the rest on
/// the other, recursively; `edges` join positions in `ids`, and `out` gets the region of each
/// position. `ids` and `out` end up in the order of the cuts. Each cut is chosen among
/// [`DIRECTIONS`] directions around the principal axis: first by how well it splits the
/// weight in proportion to the regions on each side, then, among cuts within `slack` ×
/// (regions on the smaller side) of the best, by cut cost.
///
/// # Performance
/// O(n log n) per level; the directions and the two sides are worked on in parallel, with the
/// same result as on one thread.
fn bisect(
    units: &[Unit],
    ids: &mut [usize],
    edges: &[(u32, u32, f64)],
    k: usize,
    first: u32,
    out: &mut [u32],
    slack: f64,
) {
    if k <= 1 || ids.len() <= 1 {
        out.fill(first);
        return;
    }
    let total: f64 = ids.iter().map(|&u| units[u].weight).sum();
    let eps = total / ids.len() as f64 * 1e-3 + 1e-12;
    let (mut sw, mut mean) = (0.0, Coord::zero());
    for &u in ids.iter() {
        let w = units[u].weight + eps;
        sw += w;
        mean = mean + units[u].pos * w;
    }
    mean = mean / sw;
    let (mut cxx, mut cyy, mut cxy) = (0.0, 0.0, 0.0);
    for &u in ids.iter() {
        let w = units[u].weight + eps;
        let d = units[u].pos - mean;
        cxx += w * d.x * d.x;
        cyy += w * d.y * d.y;
        cxy += w * d.x * d.y;
    }
    let theta0 = 0.5 * (2.0 * cxy).atan2(cxx - cyy);
    let kl = k / 2;
    let want = total * kl as f64 / k as f64;
    // Split after `cut` units, each side keeping at least one unit per region.
    let lo = kl.max(1);
    let hi = ids.len().saturating_sub(k - kl).max(lo).min(ids.len());
    let allowed = slack * kl.min(k - kl) as f64;
    let parallel = ids.len() >= PARALLEL_UNITS;
    let ids_ro: &[usize] = ids;
    // One direction: the positions in cut order, and its candidate cuts.
    let direction = |j: usize| -> (Vec<u32>, Vec<Cut>) {
        let theta = theta0 + std::f64::consts::PI * j as f64 / DIRECTIONS as f64;
        let axis = Coord {
            x: theta.cos(),
            y: theta.sin(),
        };
        let proj = |p: Coord| p.x * axis.x + p.y * axis.y;
        let mut keyed: Vec<(f64, f64, usize, u32)> = ids_ro
            .iter()
            .enumerate()
            .map(|(i, &u)| (proj(units[u].group), proj(units[u].pos), u, i as u32))
            .collect();
        keyed.sort_unstable_by(|x, y| {
            x.0.total_cmp(&y.0)
                .then(x.1.total_cmp(&y.1))
                .then(x.2.cmp(&y.2))
        });
        let order: Vec<u32> = keyed.iter().map(|x| x.3).collect();
        let mut rank = vec![0usize; order.len()];
        for (i, &p) in order.iter().enumerate() {
            rank[p as usize] = i;
        }
        // An edge is cut by every cut between its two ends' ranks.
        let mut diff = vec![0.0; order.len() + 2];
        for &(a, b, c) in edges {
            let (ra, rb) = (rank[a as usize], rank[b as usize]);
            diff[ra.min(rb) + 1] += c;
            diff[ra.max(rb) + 1] -= c;
        }
        let mut candidates = Vec::with_capacity(hi + 1 - lo);
        let (mut cum, mut cut_cost) = (0.0, 0.0);
        for cut in 1..=hi {
            cum += units[ids_ro[order[cut - 1] as usize]].weight;
            cut_cost += diff[cut];
            if cut >= lo {
                candidates.push(((cum - want).abs(), cut_cost, j, cut));
            }
        }
        (order, candidates)
    };
    let tried: Vec<(Vec<u32>, Vec<Cut>)> = if parallel {
        (0..DIRECTIONS).into_par_iter().map(direction).collect()
    } else {
        (0..DIRECTIONS).map(direction).collect()
    };
    let candidates = tried.iter().flat_map(|t| t.1.iter());
    let best_error = candidates
        .clone()
        .map(|c| c.0)
        .fold(f64::INFINITY, f64::min);
    let chosen = candidates
        .filter(|c| c.0 <= best_error + allowed + 1e-9)
        .min_by(|x, y| {
            x.1.total_cmp(&y.1)
                .then(x.0.total_cmp(&y.0))
                .then((x.2, x.3).cmp(&(y.2, y.3)))
        })
        .map_or((0, lo.min(ids.len())), |c| (c.2, c.3));
    let (j, cut) = chosen;
    let order = &tried[j].0;
    let mut rank = vec![0usize; order.len()];
    for (i, &p) in order.iter().enumerate() {
        rank[p as usize] = i;
    }
    let sorted: Vec<usize> = order.iter().map(|&p| ids[p as usize]).collect();
    ids.copy_from_slice(&sorted);
    drop(tried);
    let (left_edges, right_edges): (Vec<_>, Vec<_>) = edges
        .iter()
        .map(|&(a, b, c)| (rank[a as usize] as u32, rank[b as usize] as u32, c))
        .filter(|&(a, b, _)| ((a as usize) < cut) == ((b as usize) < cut))
        .partition(|&(a, _, _)| (a as usize) < cut);
    let right_edges: Vec<_> = right_edges
        .into_iter()
        .map(|(a, b, c)| (a - cut as u32, b - cut as u32, c))
        .collect();
    let (left, right) = ids.split_at_mut(cut);
    let (out_left, out_right) = out.split_at_mut(cut);
    let mut left_half = || bisect(units, left, &left_edges, kl, first, out_left, slack);
    let mut right_half = || {
        bisect(
            units,
            right,
            &right_edges,
            k - kl,
            first + kl as u32,
            out_right,
            slack,
        )
    };
    if parallel {
        rayon::join(left_half, right_half);
    } else {
        left_half();
        right_half();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lattice of units (four times the size worked on in parallel) bisected into 12 regions
    /// on one thread and on four: the same regions, each of 1/12 of the units within two, and
    /// `ids` and `out` in the order of the cuts (every region one run).
    #[test]
    fn the_bisection_is_the_same_on_one_thread_and_several() {
        let side = (4 * PARALLEL_UNITS).isqrt() + 1;
        let units: Vec<Unit> = (0..side * side)
            .map(|u| {
                let pos = geo::Coord {
                    x: (u % side) as f64,
                    y: (u / side) as f64 * 1.3,
                };
                Unit {
                    atoms: vec![u],
                    weight: 1.0,
                    pos,
                    group: pos,
                }
            })
            .collect();
        let mut edges = Vec::new();
        for u in 0..units.len() {
            if u % side + 1 < side {
                edges.push((u as u32, u as u32 + 1, 1.0));
            }
            if u + side < units.len() {
                edges.push((u as u32, (u + side) as u32, 1.0));
            }
        }
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut ids: Vec<usize> = (0..units.len()).collect();
                let mut out = vec![u32::MAX; units.len()];
                bisect(&units, &mut ids, &edges, 12, 0, &mut out, 0.0);
                (ids, out)
            })
        };
        let (ids, out) = run(1);
        assert_eq!((ids.clone(), out.clone()), run(4));
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert!(sorted.iter().enumerate().all(|(i, &u)| i == u));
        assert!(out.windows(2).all(|w| w[0] <= w[1]), "one run per region");
        let share = units.len() as f64 / 12.0;
        for r in 0..12 {
            let n = out.iter().filter(|&&l| l == r).count() as f64;
            assert!(
                (n - share).abs() <= 2.0,
                "region {r}: {n} units, {share} each"
            );
        }
    }
}
