//! The cost the local search lowers, and the state it keeps to price a move in O(1).
//!
//! A plan costs, summed over regions: the squared deviation of its workload from its target
//! with a steep penalty from 90% of the tolerance on ([`Search::balance_cost`]); the length of
//! the cut between regions, barrier edges at their lower cost (compactness, so grids follow
//! roads); each region's moment of inertia relative to a disc's ([`Moments::roundness`]: the
//! overall shape, so elongated strips round off); and its Polsby-Popper score on the atom
//! graph. With today's grids (`--from-current`) every building that changes grid costs too,
//! while the squared deviation and the shape terms weigh nothing (the penalty stays).
//! [`Search`] keeps the loads, sizes, moments and perimeters of every region so that the
//! change of cost of moving one atom is computed from that atom's edges alone.

use geo::Coord;

use super::contiguity::stays_connected;
use crate::PartitionOptions;
use crate::atoms::{Graph, NONE, World};

/// The state of the local search: loads, sizes and the cost terms.
pub(super) struct Search<'a> {
    pub(super) g: &'a Graph,
    pub(super) weight: &'a [f64],
    pub(super) fixed: &'a [bool],
    pub(super) targets: &'a [f64],
    /// Regions of a heavy atom: they take no weight.
    pub(super) closed: Vec<bool>,
    /// Regions the search may change (all, but after an arm's hand-over).
    pub(super) active: Vec<bool>,
    pub(super) load: Vec<f64>,
    pub(super) size: Vec<usize>,
    pub(super) balance: f64,
    pub(super) tol: f64,
    /// Weight of one metre of cut.
    pub(super) alpha: f64,
    /// Cost of moving one building away from its current grid (`--from-current`).
    pub(super) move_cost: f64,
    pub(super) original: Vec<u32>,
    pub(super) buildings: Vec<f64>,
    pub(super) stamp: Vec<u32>,
    pub(super) generation: u32,
    pub(super) queue: Vec<usize>,
    /// Marks of the chain search, apart from `stamp` (used by the connectivity check).
    pub(super) visit: Vec<u32>,
    pub(super) visit_generation: u32,
    /// Polishing: the cut term weighs [`POLISH_CUT`] as much, and compactness may not cost
    /// any balance.
    pub(super) polish: bool,
    /// Weight of the roundness term ([`Moments::roundness`] summed over regions).
    pub(super) roundness: f64,
    /// Cell area and centroid of every atom, and the area moments of every region.
    pub(super) mass: Vec<f64>,
    pub(super) centre: Vec<Coord>,
    pub(super) moments: Vec<Moments>,
    /// Weight of the Polsby-Popper term, −Σ PP over regions.
    pub(super) pp_weight: f64,
    /// Perimeter of every region along the atom graph (plus the boundary it holds), metres;
    /// total edge length and boundary length of every atom.
    pub(super) perimeter: Vec<f64>,
    pub(super) length: Vec<f64>,
    pub(super) outer: Vec<f64>,
}

/// Area moments of a region: area, first and second moments (metres), so that its moment of
/// inertia about its centroid, and how it changes when an atom comes or goes, cost O(1).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Moments {
    pub(super) m: f64,
    pub(super) s: Coord,
    pub(super) q: f64,
}

impl Moments {
    pub(super) fn add(self, m: f64, p: Coord) -> Moments {
        Moments {
            m: self.m + m,
            s: self.s + p * m,
            q: self.q + m * (p.x * p.x + p.y * p.y),
        }
    }

    /// 2π I / A²: the polar moment of inertia about the centroid relative to a disc's of the
    /// same area; 1 for a disc, 1.05 for a square, 1.4 for a 1:3 rectangle, growing with
    /// elongation and arms. Unlike the perimeter it sees a region's overall shape, so a move of
    /// one boundary atom towards the region whose centre is nearer already lowers it.
    pub(super) fn roundness(&self) -> f64 {
        if self.m <= 0.0 {
            return 0.0;
        }
        let i = self.q - (self.s.x * self.s.x + self.s.y * self.s.y) / self.m;
        std::f64::consts::TAU * i.max(0.0) / (self.m * self.m)
    }
}

impl<'a> Search<'a> {
    /// The state of the search over `labels`: the loads, sizes, moments and perimeters of
    /// every region, and the weights of the cost terms. With `minimal_moves` (today's grids),
    /// balance and shape weigh nothing and every building that changes grid costs; with
    /// `active`, only those regions may change.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        world: &'a World,
        weight: &'a [f64],
        labels: &[u32],
        fixed: &'a [bool],
        targets: &'a [f64],
        minimal_moves: bool,
        active: Option<&[bool]>,
        options: &PartitionOptions,
        k: usize,
    ) -> Search<'a> {
        let g = &world.graph;
        let n = labels.len();
        let mut load = vec![0.0; k];
        let mut size = vec![0usize; k];
        for a in 0..n {
            if labels[a] != NONE {
                load[labels[a] as usize] += weight[a];
                size[labels[a] as usize] += 1;
            }
        }
        let mut closed = vec![false; k];
        for a in 0..n {
            if fixed[a] && labels[a] != NONE {
                closed[labels[a] as usize] = true;
            }
        }
        // Typical grid perimeter, so that the cut term does not depend on scale.
        let perimeter = 4.0 * (world.area_m2 / k as f64).sqrt();
        let mut search = Search {
            g,
            weight,
            fixed,
            targets,
            closed,
            active: active.map_or_else(|| vec![true; k], <[bool]>::to_vec),
            load,
            size,
            balance: if minimal_moves { 0.0 } else { 20.0 },
            tol: options.tolerance,
            alpha: options.compactness / perimeter.max(1.0),
            move_cost: if minimal_moves { 1e-3 } else { 0.0 },
            original: labels.to_vec(),
            buildings: world
                .atoms
                .iter()
                .map(|a| a.buildings.len() as f64)
                .collect(),
            stamp: vec![0u32; n],
            generation: 0,
            queue: Vec::new(),
            visit: vec![0u32; n],
            visit_generation: 0,
            polish: false,
            roundness: if minimal_moves {
                0.0
            } else {
                options.roundness
            },
            mass: world.atoms.iter().map(|a| a.area).collect(),
            centre: world.atoms.iter().map(|a| a.centre).collect(),
            moments: vec![Moments::default(); k],
            pp_weight: if minimal_moves { 0.0 } else { options.shape },
            perimeter: vec![0.0; k],
            length: (0..n)
                .map(|a| g.range(a).map(|e| g.cost[e]).sum())
                .collect(),
            outer: world.atoms.iter().map(|a| a.outer).collect(),
        };
        for a in 0..n {
            if labels[a] != NONE {
                let r = labels[a] as usize;
                search.moments[r] = search.moments[r].add(search.mass[a], search.centre[a]);
                search.perimeter[r] += search.outer[a];
                for e in g.range(a) {
                    if labels[g.neighbours[e] as usize] != labels[a] {
                        search.perimeter[r] += g.cost[e];
                    }
                }
            }
        }
        search
    }
}

impl Search<'_> {
    /// The whole cost of `labels` at the first stage's weights: balance, cut and shape.
    pub(super) fn total(&self, labels: &[u32]) -> f64 {
        let k = self.load.len();
        let balance: f64 = (0..k).map(|r| self.balance_cost(r, self.load[r])).sum();
        let mut cut = 0.0;
        for (a, &r) in labels.iter().enumerate() {
            for e in self.g.range(a) {
                if labels[self.g.neighbours[e] as usize] != r {
                    cut += self.g.cost[e];
                }
            }
        }
        let shape: f64 = (0..k)
            .map(|r| {
                self.roundness * self.moments[r].roundness()
                    + self.pp_weight * self.pp_cost(self.perimeter[r], self.moments[r].m)
            })
            .sum();
        // Every cut edge is seen from both sides.
        balance + self.alpha * cut / 2.0 + shape
    }

    /// The balance term of region `r` holding workload `w`: its squared relative deviation
    /// (weighted by `balance`), plus a steep penalty on what of it lies beyond 90% of the
    /// tolerance.
    pub(super) fn balance_cost(&self, r: usize, w: f64) -> f64 {
        let t = self.targets[r];
        if t <= 0.0 {
            return 0.0;
        }
        let d = (w - t) / t;
        let e = (d.abs() - 0.9 * self.tol).max(0.0);
        self.balance * d * d + 50.0 * (e + 10.0 * e * e)
    }

    /// The change of cost of a move from its balance and cut (and move) parts.
    pub(super) fn combine(&self, balance: f64, cut: f64) -> f64 {
        if self.polish {
            balance + POLISH_CUT * cut
        } else {
            balance + cut
        }
    }

    /// |w − target| / target of region `r` holding workload `w` (0 without a target).
    pub(super) fn deviation(&self, r: usize, w: f64) -> f64 {
        if self.targets[r] > 0.0 {
            ((w - self.targets[r]) / self.targets[r]).abs()
        } else {
            0.0
        }
    }

    /// Cut cost of `a`'s edges into its own region and into region `s`.
    pub(super) fn own_and_shared_cut(&self, labels: &[u32], a: usize, s: u32) -> (f64, f64) {
        let (mut own, mut shared) = (0.0, 0.0);
        for e in self.g.range(a) {
            let q = labels[self.g.neighbours[e] as usize];
            if q == labels[a] {
                own += self.g.cost[e];
            } else if q == s {
                shared += self.g.cost[e];
            }
        }
        (own, shared)
    }

    /// Change of the move cost when `a` goes from region `r` to `s`.
    pub(super) fn move_cost_change(&self, a: usize, r: u32, s: u32) -> f64 {
        if self.original[a] == r {
            self.move_cost * self.buildings[a]
        } else if self.original[a] == s {
            -self.move_cost * self.buildings[a]
        } else {
            0.0
        }
    }

    /// Can `a` leave its region: the region keeps another atom, and a building if it holds
    /// one, and stays connected.
    pub(super) fn can_leave(&mut self, labels: &[u32], a: usize) -> bool {
        let r = labels[a] as usize;
        let w = self.weight[a];
        if self.size[r] <= 1 || (w > 0.0 && self.load[r] - w <= 0.0) {
            return false;
        }
        self.generation += 1;
        stays_connected(
            self.g,
            labels,
            a,
            &mut self.stamp,
            self.generation,
            &mut self.queue,
        )
    }

    /// Change of the shape terms when `a` goes from region `r` to `s`, given the length of
    /// its edges into `r` and into `s`.
    pub(super) fn shape_change(
        &self,
        a: usize,
        r: usize,
        s: usize,
        own_len: f64,
        shared_len: f64,
    ) -> f64 {
        let (m, p) = (self.mass[a], self.centre[a]);
        let (mr, ms) = (self.moments[r], self.moments[s]);
        let (mr2, ms2) = (mr.add(-m, p), ms.add(m, p));
        let mut d = 0.0;
        if self.roundness != 0.0 && m > 0.0 {
            d += self.roundness
                * (mr2.roundness() + ms2.roundness() - mr.roundness() - ms.roundness());
        }
        if self.pp_weight != 0.0 {
            let (pr, ps) = (self.perimeter[r], self.perimeter[s]);
            let (la, out) = (self.length[a], self.outer[a]);
            let pr2 = pr + 2.0 * own_len - la - out;
            let ps2 = ps + la - 2.0 * shared_len + out;
            d += self.pp_weight
                * (self.pp_cost(pr2, mr2.m) + self.pp_cost(ps2, ms2.m)
                    - self.pp_cost(pr, mr.m)
                    - self.pp_cost(ps, ms.m));
        }
        d
    }

    /// The Polsby-Popper term of a region of perimeter `p` and area `area`: −4πA/P².
    pub(super) fn pp_cost(&self, p: f64, area: f64) -> f64 {
        if area <= 0.0 || p <= 0.0 {
            return 0.0;
        }
        -4.0 * std::f64::consts::PI * area / (p * p)
    }

    /// Moves `a` to region `s`, updating the loads, sizes, moments and perimeters.
    pub(super) fn apply(&mut self, labels: &mut [u32], a: usize, s: u32) {
        let r = labels[a] as usize;
        let w = self.weight[a];
        let (mut own_len, mut shared_len) = (0.0, 0.0);
        for e in self.g.range(a) {
            let q = labels[self.g.neighbours[e] as usize];
            let len = self.g.cost[e];
            if q == r as u32 {
                own_len += len;
            } else if q == s {
                shared_len += len;
            }
        }
        let (la, out) = (self.length[a], self.outer[a]);
        self.perimeter[r] += 2.0 * own_len - la - out;
        self.perimeter[s as usize] += la - 2.0 * shared_len + out;
        let (m, p) = (self.mass[a], self.centre[a]);
        self.moments[r] = self.moments[r].add(-m, p);
        self.moments[s as usize] = self.moments[s as usize].add(m, p);
        labels[a] = s;
        self.load[r] -= w;
        self.load[s as usize] += w;
        self.size[r] -= 1;
        self.size[s as usize] += 1;
    }
}

/// Weight of the cut term while polishing, relative to the first stage.
const POLISH_CUT: f64 = 0.1;
