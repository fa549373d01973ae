//! Chain moves: when no single move lowers the cost, an over-full region passes weight to an
//! under-full one along the shortest chain of neighbouring regions, one boundary atom (with
//! any weightless atoms in front of it) per step, each as close in weight as can be found to
//! the one received, so the regions between keep about their load. A chain is kept only when
//! it lowers the cost. Weight so flows through regions already at their target, which single
//! moves cannot do: each step alone would push one of them out.

use super::cost::Search;
use crate::atoms::NONE;

/// Weightless atoms a chain step may carry along with the weighted atom behind them.
const CHUNK_DEPTH: usize = 8;

/// Under-full regions tried, nearest first, for each over-full one.
const CHAIN_TRIES: usize = 6;

/// Rounds of chain moves between two passes of single moves.
pub(super) const CHAIN_ROUNDS: usize = 50;

/// Passes weight from over-full regions to under-full ones through the regions between them:
/// along the shortest chain of neighbouring regions, one boundary atom moves from each region
/// to the next (each as heavy as the one it received, so the regions between keep their
/// load), every region staying connected. A chain is kept only when it lowers the cost.
/// Returns the number of chains moved.
///
/// # Performance
/// One scan of the atom graph, then per over-full region a breadth-first search of the region
/// graph and a scan of the boundary atoms along the chain.
pub(super) fn chain_moves(search: &mut Search, labels: &mut [u32], k: usize) -> usize {
    let g = search.g;
    let n = labels.len();
    let mut adjacent: Vec<Vec<u32>> = vec![Vec::new(); k];
    let mut border: Vec<Vec<usize>> = vec![Vec::new(); k];
    for a in 0..n {
        let r = labels[a];
        if r == NONE {
            continue;
        }
        let mut on_border = false;
        for e in g.range(a) {
            let q = labels[g.neighbours[e] as usize];
            if q != r && q != NONE {
                adjacent[r as usize].push(q);
                on_border = true;
            }
        }
        if on_border && !search.fixed[a] {
            border[r as usize].push(a);
        }
    }
    for list in &mut adjacent {
        list.sort_unstable();
        list.dedup();
    }
    let excess = |s: &Search, r: usize| s.load[r] - s.targets[r];
    let mut over: Vec<usize> = (0..k)
        .filter(|&r| {
            search.active[r]
                && !search.closed[r]
                && search.targets[r] > 0.0
                && excess(search, r) > 0.0
        })
        .collect();
    over.sort_by(|&a, &b| {
        (excess(search, b) / search.targets[b])
            .total_cmp(&(excess(search, a) / search.targets[a]))
            .then(a.cmp(&b))
    });
    let mut parent = vec![u32::MAX; k];
    let mut seen = vec![usize::MAX; k];
    let mut bfs: Vec<usize> = Vec::new();
    let mut chains = 0;
    for (round, &o) in over.iter().enumerate() {
        if excess(search, o) <= 0.0 {
            continue;
        }
        // Breadth-first over the region graph; the first few under-full regions found are
        // tried, nearest first.
        bfs.clear();
        bfs.push(o);
        seen[o] = round;
        let (mut tried, mut moved) = (0, false);
        let mut i = 0;
        while i < bfs.len() && tried < CHAIN_TRIES && !moved {
            let r = bfs[i];
            i += 1;
            for &q in &adjacent[r] {
                let q = q as usize;
                if seen[q] == round || search.closed[q] || !search.active[q] {
                    continue;
                }
                seen[q] = round;
                parent[q] = r as u32;
                bfs.push(q);
                if search.targets[q] > 0.0 && excess(search, q) < 0.0 {
                    let mut chain = vec![q];
                    let mut x = q;
                    while x != o {
                        x = parent[x] as usize;
                        chain.push(x);
                    }
                    chain.reverse();
                    tried += 1;
                    if move_chain(search, labels, &border, &chain) {
                        chains += 1;
                        moved = true;
                        break;
                    }
                }
            }
        }
    }
    chains
}

/// Moves one atom from each region of `chain` to the next; keeps the moves if they lower the
/// cost, shape terms included, else undoes them.
fn move_chain(
    search: &mut Search,
    labels: &mut [u32],
    border: &[Vec<usize>],
    chain: &[usize],
) -> bool {
    let (o, u) = (chain[0], chain[chain.len() - 1]);
    let mut regions: Vec<usize> = chain.to_vec();
    regions.sort_unstable();
    regions.dedup();
    let total = |s: &Search| {
        regions
            .iter()
            .map(|&r| s.balance_cost(r, s.load[r]))
            .sum::<f64>()
    };
    let shape = |s: &Search| {
        regions
            .iter()
            .map(|&r| {
                s.roundness * s.moments[r].roundness()
                    + s.pp_weight * s.pp_cost(s.perimeter[r], s.moments[r].m)
            })
            .sum::<f64>()
    };
    let before = total(search);
    let shape_before = shape(search);
    let mut want = (search.load[o] - search.targets[o]).min(search.targets[u] - search.load[u]);
    let mut done: Vec<(usize, u32)> = Vec::new();
    let mut extra = 0.0;
    let mut ok = true;
    // Search tree of one step: (atom, parent node or usize::MAX, weightless atoms before it).
    let mut nodes: Vec<(usize, usize, usize)> = Vec::new();
    // Candidates: (|weight − want|, weightless atoms moved with it, cut change, node).
    let mut candidates: Vec<(f64, usize, f64, usize)> = Vec::new();
    let mut bunch: Vec<usize> = Vec::new();
    for step in chain.windows(2) {
        let (from, to) = (step[0] as u32, step[1] as u32);
        // Atoms of `from` along `to`, and the weighted atoms behind a few weightless ones
        // (empty buildings, boundary sites), which then move together.
        nodes.clear();
        candidates.clear();
        search.visit_generation += 1;
        let visit = search.visit_generation;
        for &a in &border[from as usize] {
            if labels[a] == from
                && search.visit[a] != visit
                && search
                    .g
                    .range(a)
                    .any(|e| labels[search.g.neighbours[e] as usize] == to)
            {
                search.visit[a] = visit;
                nodes.push((a, usize::MAX, 0));
            }
        }
        let mut i = 0;
        while i < nodes.len() {
            let (x, _, depth) = nodes[i];
            if search.weight[x] > 0.0 {
                let (own, shared) = search.own_and_shared_cut(labels, x, to);
                candidates.push(((search.weight[x] - want).abs(), depth, own - shared, i));
            } else if depth < CHUNK_DEPTH {
                for e in search.g.range(x) {
                    let y = search.g.neighbours[e] as usize;
                    if labels[y] == from && !search.fixed[y] && search.visit[y] != visit {
                        search.visit[y] = visit;
                        nodes.push((y, i, depth + 1));
                    }
                }
            }
            i += 1;
        }
        candidates.sort_by(|x, y| {
            x.0.total_cmp(&y.0)
                .then(x.1.cmp(&y.1))
                .then(x.2.total_cmp(&y.2))
                .then(x.3.cmp(&y.3))
        });
        let mut moved = None;
        for &(_, _, cut, node) in candidates.iter().take(24) {
            bunch.clear();
            let mut x = node;
            while x != usize::MAX {
                bunch.push(nodes[x].0);
                x = nodes[x].1;
            }
            // From the edge with `to` inwards, so `to` stays connected.
            bunch.reverse();
            let mut applied = 0;
            for &a in &bunch {
                if !search.can_leave(labels, a) {
                    break;
                }
                search.apply(labels, a, to);
                applied += 1;
            }
            if applied == bunch.len() {
                moved = Some((nodes[node].0, cut));
                break;
            }
            for &a in bunch[..applied].iter().rev() {
                search.apply(labels, a, from);
            }
        }
        let Some((a, cut)) = moved else {
            ok = false;
            break;
        };
        for &b in &bunch {
            extra += search.move_cost_change(b, from, to);
            done.push((b, from));
        }
        extra += search.alpha * cut;
        want = search.weight[a];
    }
    let better =
        search.combine(total(search) - before, extra + shape(search) - shape_before) < -1e-12;
    if ok && better {
        return true;
    }
    for &(a, from) in done.iter().rev() {
        search.apply(labels, a, from);
    }
    false
}
