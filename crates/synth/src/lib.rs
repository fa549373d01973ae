//! Seeded synthetic towns for tests and benchmarks: a town-sized square tiled exactly by grids,
//! filled with building footprints, optionally with planted gaps and overlaps.
//!
//! The grids are the cells of a jittered lattice. Every lattice edge is a wiggly line of four
//! segments whose vertices both neighbouring grids share exactly, so an unplanted town has no gap
//! and no overlap. Buildings are rotated rectangles and L shapes of 8–30 m placed uniformly, so
//! about a tenth of them cross a grid edge, as in real data. The same spec and seed always give
//! the same town.
//!
//! ```
//! use gridmap_synth::{TownSpec, town};
//! let t = town(&TownSpec { buildings: 100, grids: 9, seed: 7, ..TownSpec::default() });
//! assert_eq!((t.buildings.len(), t.grids.len()), (100, 9));
//! ```

#![warn(missing_docs)]

pub mod police;

use geo::{Coord, LineString, MultiPolygon, Polygon, Scale};
use gridmap_core::geodesy::LocalMetres;
use gridmap_core::model::{Building, Footprint, Grid};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct TownSpec {
    /// Buildings to place, exactly.
    pub buildings: usize,
    /// Grids to draw, exactly (0 is taken as 1).
    pub grids: usize,
    /// Seed of the generator: the same spec and seed give the same town.
    pub seed: u64,
    /// Grids shrunk by 3% so that a thin ring of gap opens around each.
    pub planted_gaps: usize,
    /// Grids grown by 3% so that each overlaps its neighbours.
    pub planted_overlaps: usize,
    /// South-west corner of the town, lon/lat.
    pub origin: Coord,
    /// Side of the town in metres; `None` scales it with the number of buildings (about
    /// 30 m × 30 m of land per building, so 10⁶ buildings make a 30 km square).
    pub side_m: Option<f64>,
}

impl Default for TownSpec {
    fn default() -> Self {
        TownSpec {
            buildings: 10_000,
            grids: 100,
            seed: 1,
            planted_gaps: 0,
            planted_overlaps: 0,
            origin: Coord { x: 120.9, y: 30.9 },
            side_m: None,
        }
    }
}

/// A generated town.
#[derive(Debug, Clone)]
pub struct SynthTown {
    /// The town's square, WGS84 lon/lat; an unplanted town's grids cover it exactly.
    pub boundary: MultiPolygon,
    /// The grids, coded `G` and a 6-digit number, in villages of 25 (`V000`, `V001`, …).
    pub grids: Vec<Grid>,
    /// The buildings, with ids `B` and a 7-digit number, footprints of 8–30 m, and 0 households
    /// for about a fifth of them.
    pub buildings: Vec<Building>,
    /// Codes of the grids that were shrunk (planted gaps).
    pub shrunk: Vec<String>,
    /// Codes of the grids that were grown (planted overlaps).
    pub grown: Vec<String>,
}

/// Generates a town. Grids number exactly `spec.grids` (≥ 1): a lattice of rows × columns, with
/// the first few cells of the first column split in two when the count is not a product.
pub fn town(spec: &TownSpec) -> SynthTown {
    let mut rng = Pcg64::seed_from_u64(spec.seed);
    let side = spec
        .side_m
        .unwrap_or_else(|| (spec.buildings.max(1) as f64).sqrt() * 30.0);
    let frame = LocalMetres::at(spec.origin);
    let per_m = Coord {
        x: 1.0
            / frame
                .project(Coord {
                    x: spec.origin.x + 1.0,
                    y: spec.origin.y,
                })
                .x,
        y: 1.0
            / frame
                .project(Coord {
                    x: spec.origin.x,
                    y: spec.origin.y + 1.0,
                })
                .y,
    };
    let to_lonlat = |x: f64, y: f64| Coord {
        x: spec.origin.x + x * per_m.x,
        y: spec.origin.y + y * per_m.y,
    };

    let k = spec.grids.max(1);
    let rows = (k as f64).sqrt().floor().max(1.0) as usize;
    let cols = k / rows;
    let extra = k - rows * cols; // < rows
    let (dx, dy) = (side / cols as f64, side / rows as f64);

    // Lattice vertices, jittered inside; the outer ring stays on the square.
    let mut vertex = vec![vec![Coord::zero(); rows + 1]; cols + 1];
    for (i, column) in vertex.iter_mut().enumerate() {
        for (j, v) in column.iter_mut().enumerate() {
            let inner_x = i > 0 && i < cols;
            let inner_y = j > 0 && j < rows;
            let jx = if inner_x {
                rng.random_range(-0.25..0.25) * dx
            } else {
                0.0
            };
            let jy = if inner_y {
                rng.random_range(-0.25..0.25) * dy
            } else {
                0.0
            };
            *v = Coord {
                x: i as f64 * dx + jx,
                y: j as f64 * dy + jy,
            };
        }
    }
    // Each lattice edge becomes a wiggly polyline shared by its two cells. Points on the outer
    // square only move along it.
    let mut wiggle = |a: Coord, b: Coord, on_border: bool| -> Vec<Coord> {
        let mut pts = vec![a];
        let d = b - a;
        let normal = Coord { x: -d.y, y: d.x };
        for t in [0.25, 0.5, 0.75] {
            let along = t + rng.random_range(-0.05..0.05);
            let off = if on_border {
                0.0
            } else {
                rng.random_range(-0.06..0.06)
            };
            pts.push(a + d * along + normal * off);
        }
        pts.push(b);
        pts
    };
    // Horizontal edges h[i][j]: vertex (i, j) → (i+1, j); vertical v[i][j]: (i, j) → (i, j+1).
    let mut horizontal = vec![vec![Vec::new(); rows + 1]; cols];
    for (i, column) in horizontal.iter_mut().enumerate() {
        for (j, edge) in column.iter_mut().enumerate() {
            *edge = wiggle(vertex[i][j], vertex[i + 1][j], j == 0 || j == rows);
        }
    }
    let mut vertical = vec![vec![Vec::new(); rows]; cols + 1];
    for (i, column) in vertical.iter_mut().enumerate() {
        for (j, edge) in column.iter_mut().enumerate() {
            *edge = wiggle(vertex[i][j], vertex[i][j + 1], i == 0 || i == cols);
        }
    }

    let mut cells: Vec<Vec<Coord>> = Vec::with_capacity(k);
    for j in 0..rows {
        for i in 0..cols {
            // Counter-clockwise: bottom, right, top reversed, left reversed.
            let mut ring: Vec<Coord> = horizontal[i][j].clone();
            ring.extend(&vertical[i + 1][j][1..]);
            ring.extend(horizontal[i][j + 1].iter().rev().skip(1));
            ring.extend(vertical[i][j].iter().rev().skip(1).take(3));
            cells.push(ring);
        }
    }
    // Split the first `extra` cells of column 0 along the line joining the middle points of
    // their bottom and top edges (index 2 of each 5-point edge).
    for j in 0..extra {
        let cell = j * cols;
        let ring = std::mem::take(&mut cells[cell]);
        // ring: bottom 0..=4, right 5..=8, top 9..=12 (reversed: 12 is top-left), left 13..=15.
        let (bottom_mid, top_mid) = (2, 10);
        let west: Vec<Coord> = ring[top_mid..]
            .iter()
            .chain(&ring[..=bottom_mid])
            .copied()
            .collect();
        let east: Vec<Coord> = ring[bottom_mid..=top_mid].to_vec();
        cells[cell] = east;
        cells.push(west);
    }

    let to_polygon = |ring: &[Coord]| {
        let mut ll: Vec<Coord> = ring.iter().map(|c| to_lonlat(c.x, c.y)).collect();
        ll.push(ll[0]);
        Polygon::new(LineString(ll), vec![])
    };
    let mut grids: Vec<Grid> = cells
        .iter()
        .enumerate()
        .map(|(n, ring)| Grid {
            code: format!("G{n:06}"),
            name: Some(format!("合成网格{n}")),
            village: Some(format!("V{:03}", n / 25)),
            geometry: MultiPolygon(vec![to_polygon(ring)]),
        })
        .collect();

    // Plant defects on distinct grids.
    let mut order: Vec<usize> = (0..grids.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    let mut shrunk = Vec::new();
    let mut grown = Vec::new();
    for (n, &g) in order.iter().enumerate() {
        let factor = if n < spec.planted_gaps {
            0.97
        } else if n < spec.planted_gaps + spec.planted_overlaps {
            1.03
        } else {
            break;
        };
        grids[g].geometry = grids[g].geometry.scale(factor);
        if factor < 1.0 {
            shrunk.push(grids[g].code.clone());
        } else {
            grown.push(grids[g].code.clone());
        }
    }

    let buildings = (0..spec.buildings)
        .map(|n| {
            let (cx, cy) = (rng.random_range(0.0..side), rng.random_range(0.0..side));
            let (w, h) = (rng.random_range(8.0..30.0), rng.random_range(8.0..20.0));
            let angle: f64 = rng.random_range(0.0..std::f64::consts::PI);
            let l_shaped = rng.random_bool(0.1);
            let local: Vec<(f64, f64)> = if l_shaped {
                vec![
                    (0., 0.),
                    (w, 0.),
                    (w, h * 0.4),
                    (w * 0.4, h * 0.4),
                    (w * 0.4, h),
                    (0., h),
                ]
            } else {
                vec![(0., 0.), (w, 0.), (w, h), (0., h)]
            };
            let (s, c) = angle.sin_cos();
            let mut ring: Vec<Coord> = local
                .iter()
                .map(|&(x, y)| {
                    let (x, y) = (x - w / 2.0, y - h / 2.0);
                    let (x, y) = (cx + x * c - y * s, cy + x * s + y * c);
                    to_lonlat(x.clamp(0.0, side), y.clamp(0.0, side))
                })
                .collect();
            ring.push(ring[0]);
            let floors = rng.random_range(1..=30u32);
            let households = if rng.random_bool(0.2) {
                0
            } else {
                floors * rng.random_range(1..=4u32)
            };
            Building {
                id: format!("B{n:07}"),
                footprint: Footprint::Area(MultiPolygon(vec![Polygon::new(
                    LineString(ring),
                    vec![],
                )])),
                households,
                floors: Some(floors),
                kind: Some(
                    if households > 0 {
                        "residential"
                    } else {
                        "other"
                    }
                    .to_string(),
                ),
            }
        })
        .collect();

    let boundary = MultiPolygon(vec![to_polygon(&[
        Coord { x: 0.0, y: 0.0 },
        Coord { x: side, y: 0.0 },
        Coord { x: side, y: side },
        Coord { x: 0.0, y: side },
    ])]);
    SynthTown {
        boundary,
        grids,
        buildings,
        shrunk,
        grown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridmap_core::validate::{CoverageInput, Options, validate};

    fn check(spec: &TownSpec) -> gridmap_core::Report {
        let t = town(spec);
        let input = CoverageInput {
            grids: &t.grids,
            buildings: &t.buildings,
            boundary: Some(&t.boundary),
            ..CoverageInput::default()
        };
        validate(&input, &Options::default(), &mut |_| {}).report
    }

    #[test]
    fn unplanted_town_tiles_exactly() {
        for grids in [1, 7, 12, 30] {
            let r = check(&TownSpec {
                buildings: 2_000,
                grids,
                seed: grids as u64,
                ..Default::default()
            });
            assert_eq!(r.summary.grids, grids);
            assert_eq!(r.summary.invalid_grids, 0, "{:?}", r.invalid_grids);
            assert_eq!(
                (
                    r.summary.gaps,
                    r.summary.overlaps,
                    r.summary.outside_boundary
                ),
                (0, 0, 0),
                "{grids} grids: {r:?}"
            );
            assert_eq!(r.summary.in_one_grid, 2_000);
            assert_eq!(
                r.summary.straddling > 0,
                grids > 1,
                "buildings cross inner edges only"
            );
        }
    }

    #[test]
    fn planted_defects_are_found() {
        let spec = TownSpec {
            buildings: 3_000,
            grids: 25,
            seed: 3,
            planted_gaps: 1,
            planted_overlaps: 1,
            ..Default::default()
        };
        let r = check(&spec);
        assert_eq!(r.summary.gaps, 1, "one ring-shaped gap: {:?}", r.gaps);
        assert!(
            r.summary.overlaps >= 3,
            "the grown grid overlaps its neighbours"
        );
        assert!(r.summary.in_no_grid > 0 && r.summary.in_many_grids > 0);
    }

    #[test]
    fn same_seed_same_town() {
        let spec = TownSpec {
            buildings: 50,
            grids: 4,
            seed: 9,
            ..Default::default()
        };
        let (a, b) = (town(&spec), town(&spec));
        assert_eq!(a.grids, b.grids);
        assert_eq!(a.buildings, b.buildings);
    }
}
