//! Separate parts of the boundary: a grid is one polygon, so a town on both banks of a river
//! (components of the atom graph that no edge joins) gets a whole number of grids in each
//! part, apportioned so that each part's workload per grid comes closest to the target.

use crate::atoms::{Graph, NONE};

/// Connected components of the atom graph: the component of every atom, and their number.
pub(super) fn components(g: &Graph) -> (Vec<u32>, usize) {
    let n = g.offsets.len().saturating_sub(1);
    let mut part = vec![NONE; n];
    let mut seen = vec![false; n];
    let mut count = 0u32;
    for s in 0..n {
        if seen[s] {
            continue;
        }
        for a in g.flood(s, &mut seen, |_, _| true) {
            part[a] = count;
        }
        count += 1;
    }
    (part, count as usize)
}

/// Grids per part: every part with workload gets one, the rest go where they bring the
/// per-grid workload of its part closest to `target` (smallest worst deviation, then smallest
/// sum of squared deviations). `None` when there are more loaded parts than grids.
pub(super) fn apportion(weights: &[f64], k: usize, target: f64) -> Option<Vec<usize>> {
    let loaded: Vec<usize> = (0..weights.len()).filter(|&p| weights[p] > 0.0).collect();
    if loaded.len() > k || target <= 0.0 {
        return None;
    }
    let mut grids = vec![0usize; weights.len()];
    for &p in &loaded {
        grids[p] = 1;
    }
    // Largest workload per grid first (Jefferson), then single transfers while they help.
    for _ in loaded.len()..k {
        let p = loaded
            .iter()
            .copied()
            .max_by(|&a, &b| {
                (weights[a] / grids[a] as f64)
                    .total_cmp(&(weights[b] / grids[b] as f64))
                    .then(b.cmp(&a))
            })
            .expect("at least one loaded part, as k ≥ 1");
        grids[p] += 1;
    }
    let score = |grids: &[usize]| -> (f64, f64) {
        let devs = loaded
            .iter()
            .map(|&p| (weights[p] / grids[p] as f64 - target).abs() / target);
        devs.fold((0.0, 0.0), |(m, s), d| (f64::max(m, d), s + d * d))
    };
    let mut best = score(&grids);
    for _ in 0..k {
        let mut improved = None;
        for &i in &loaded {
            for &j in &loaded {
                if i == j || grids[i] <= 1 {
                    continue;
                }
                grids[i] -= 1;
                grids[j] += 1;
                let s = score(&grids);
                if s.0 < best.0 - 1e-12 || (s.0 <= best.0 + 1e-12 && s.1 < best.1 - 1e-12) {
                    best = s;
                    improved = Some((i, j));
                }
                grids[i] += 1;
                grids[j] -= 1;
            }
        }
        match improved {
            Some((i, j)) => {
                grids[i] -= 1;
                grids[j] += 1;
            }
            None => break,
        }
    }
    Some(grids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separate_parts_get_the_whole_grids_closest_to_the_target() {
        // The demo's three pieces of land (workload 17994, 8460, 6509) into 8 grids of 4120.4.
        assert_eq!(
            apportion(&[17994.0, 8460.0, 6509.0], 8, 4120.4),
            Some(vec![4, 2, 2])
        );
        // A part without workload gets no grid.
        assert_eq!(
            apportion(&[100.0, 0.0, 300.0], 4, 100.0),
            Some(vec![1, 0, 3])
        );
        // More loaded parts than grids: no whole split.
        assert_eq!(apportion(&[1.0, 1.0, 1.0], 2, 1.5), None);
    }
}
