//! Drawing the regions as grids, and measuring the drawn grids' shape.
//!
//! The atom graph can call a region connected where its drawn polygon falls apart: another
//! region's footprint closes the corridor between two of its pieces. [`draw_whole`] hands such
//! cut-off pieces to a neighbour and lets the search rebalance, until every grid is one
//! polygon. [`DrawnGrids`] holds the drawn grids with their tentacles and Polsby-Popper,
//! measured in parallel and reused for the grids a trial leaves as they were;
//! [`ReusableDrawing`] is the arm removal's last drawing, which the second stage of a start
//! keeps when the labels did not change since.

use geo::{MultiPolygon, Polygon};
use rayon::prelude::*;

use crate::atoms::World;
use crate::outline::Sketches;

/// Rounds of handing pieces of regions drawn apart to a neighbour.
const DETACHED_ROUNDS: usize = 3;

/// Draws the regions so that every one is a single polygon: a region the atom graph calls
/// connected can be drawn in pieces where another region's footprint closes the corridor
/// between them, so the cut-off pieces join a neighbour and `search` rebalances (but for the
/// last round, which must leave every grid whole). Returns the grids and the search passes.
pub(super) fn draw_whole(
    world: &World,
    sketches: &mut Sketches,
    labels: &mut [u32],
    k: usize,
    search: &mut dyn FnMut(&mut [u32]) -> usize,
) -> (Vec<MultiPolygon>, usize) {
    let mut passes = 0;
    let mut geometry = sketches.draw(world, labels, k);
    for round in 0..DETACHED_ROUNDS {
        let moves = crate::outline::detached(world, labels, &geometry);
        if moves.is_empty() {
            break;
        }
        for (a, r) in moves {
            labels[a] = r;
        }
        if round + 1 < DETACHED_ROUNDS {
            passes += search(labels);
        }
        geometry = sketches.draw(world, labels, k);
    }
    (geometry, passes)
}

/// A drawing [`remove_arms_and_draw`](super::remove_arms_and_draw()) can reuse: drawn by
/// [`draw_whole`] from the labels `from`, which it turned into `labels`, and measured; where
/// the labels changed since, the grids drawn the same need not be measured again.
pub(super) struct ReusableDrawing {
    pub(super) from: Vec<u32>,
    pub(super) labels: Vec<u32>,
    pub(super) drawn: DrawnGrids,
}

/// Drawn grids with their shape as the report measures it.
pub(super) struct DrawnGrids {
    pub(super) geometry: Vec<MultiPolygon>,
    /// The tentacles of every grid (local metres).
    pub(super) arms: Vec<Vec<Polygon>>,
    pub(super) tentacles: Vec<usize>,
    pub(super) pp: Vec<f64>,
}

impl DrawnGrids {
    /// Measures `geometry`, the drawn regions (in parallel), reusing the figures of regions
    /// drawn the same in `previous`.
    pub(super) fn new(
        world: &World,
        geometry: Vec<MultiPolygon>,
        previous: Option<&DrawnGrids>,
    ) -> DrawnGrids {
        let (arms, pp): (Vec<Vec<Polygon>>, Vec<f64>) = geometry
            .par_iter()
            .enumerate()
            .map(|(r, g)| match previous {
                Some(p) if p.geometry[r] == *g => (p.arms[r].clone(), p.pp[r]),
                _ => (
                    crate::shape::polygon_arms(&world.frame, g),
                    crate::shape::polygon_pp(&world.frame, g),
                ),
            })
            .unzip();
        DrawnGrids {
            geometry,
            tentacles: arms.iter().map(Vec::len).collect(),
            arms,
            pp,
        }
    }

    pub(super) fn tentacles(&self) -> usize {
        self.tentacles.iter().sum()
    }

    pub(super) fn pp(&self) -> f64 {
        self.pp.iter().sum()
    }

    pub(super) fn min_pp(&self) -> f64 {
        self.pp.iter().copied().fold(f64::INFINITY, f64::min)
    }
}
