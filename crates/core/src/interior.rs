//! Interior cells: a uniform raster over the grids' extent in which each cell that no grid edge
//! touches knows the one grid whose interior holds it.
//!
//! Most buildings lie well inside their grid. For them the exact answer — the grid holding
//! their location, nothing outside it — follows from their envelope alone when every cell the
//! envelope meets belongs to that grid, without a point on surface, a point-in-polygon test or
//! an edge search. The others take the exact path.
//!
//! # Why it is exact
//! A cell is *clear* when no edge of any indexed grid touches the closed cell. Clear cells that
//! share a side form a connected region no grid boundary enters, so every point of the region
//! lies in the interiors of the same grids and on no edge: locating one point (the first cell's
//! centre) decides the whole region. A region in exactly one grid's interior gives its cells that
//! grid as owner; a region in none or in several gives them no owner. A footprint whose envelope
//! meets only cells of one owner lies wholly in that grid's interior.
//!
//! Rounding cannot make a cell clear that an edge touches, or leave out a cell an envelope
//! meets: edge marks and envelope lookups both widen their ranges by a millionth of a cell,
//! far above the error of the arithmetic, so they only ever take a cell more.

use std::sync::atomic::{AtomicBool, Ordering};

use geo::{Coord, Rect};
use rayon::prelude::*;

use crate::index::GridsAt;
use crate::locate::PreparedArea;

/// No owner: touched by an edge, or in no grid's interior, or in several.
const NONE: u32 = u32::MAX;

/// The raster (see the module docs).
pub(crate) struct InteriorCells {
    origin: Coord,
    cell: Coord,
    /// A millionth of a cell: how far ranges are widened against rounding.
    slack: Coord,
    nx: usize,
    ny: usize,
    owner: Vec<u32>,
}

impl InteriorCells {
    /// Builds the raster over `extent` for the grids in `prepared` (`None`: excluded, ignored),
    /// deciding each clear region with `grids_at`, the index's exact point location.
    ///
    /// # Performance
    /// About 256 cells per grid (at most 4M cells, 16 MB): the grids' edges are marked in
    /// parallel, clear regions are found from runs of clear cells (union–find), and one point
    /// per region is located, in parallel.
    pub(crate) fn new(
        prepared: &[Option<PreparedArea>],
        extent: Rect,
        grids_at: impl Fn(Coord) -> GridsAt + Sync,
    ) -> InteriorCells {
        let grids = prepared.iter().flatten().count().max(1) as f64;
        let cells = (grids * 256.0).clamp(65_536.0, 4_194_304.0);
        let (w, h) = (extent.width().max(1e-12), extent.height().max(1e-12));
        let nx = ((cells * w / h).sqrt().ceil() as usize).clamp(1, 16_384);
        let ny = ((cells * h / w).sqrt().ceil() as usize).clamp(1, 16_384);
        let cell = Coord {
            x: w / nx as f64,
            y: h / ny as f64,
        };
        let mut raster = InteriorCells {
            origin: extent.min(),
            cell,
            slack: Coord {
                x: cell.x * 1e-6,
                y: cell.y * 1e-6,
            },
            nx,
            ny,
            owner: Vec::new(),
        };
        let touched: Vec<AtomicBool> = (0..nx * ny).map(|_| AtomicBool::new(false)).collect();
        prepared.par_iter().flatten().for_each(|area| {
            for e in area.edges() {
                raster.touch_segment(e.a, e.b, &mut |i| touched[i].store(true, Ordering::Relaxed));
            }
        });
        let touched: Vec<bool> = touched.into_iter().map(AtomicBool::into_inner).collect();
        raster.owner = raster.own_regions(&touched, grids_at);
        raster
    }

    /// Column (or row) range `lo..=hi` of the cells meeting `[a, b]` on one axis, widened by
    /// the slack and cut to the raster.
    fn span(a: f64, b: f64, origin: f64, size: f64, slack: f64, n: usize) -> (isize, isize) {
        let lo = ((a - slack - origin) / size).floor() as isize;
        let hi = ((b + slack - origin) / size).floor() as isize;
        (lo.max(0), hi.min(n as isize - 1))
    }

    /// Calls `touch` with every cell the segment `ab` meets (and perhaps a neighbour more).
    fn touch_segment(&self, a: Coord, b: Coord, touch: &mut impl FnMut(usize)) {
        let (y_min, y_max) = (a.y.min(b.y), a.y.max(b.y));
        let (r0, r1) = Self::span(
            y_min,
            y_max,
            self.origin.y,
            self.cell.y,
            self.slack.y,
            self.ny,
        );
        // Within the segment's own x range; for a nearly level segment the division's error is
        // widened away (it can reach that whole range, which is still exact).
        let (seg_lo, seg_hi) = (a.x.min(b.x), a.x.max(b.x));
        let dy = b.y - a.y;
        let err = if dy == 0.0 {
            f64::INFINITY
        } else {
            (b.x - a.x).abs() * 8.0 * f64::EPSILON * a.y.abs().max(b.y.abs()) / dy.abs()
        };
        let x_at = |y: f64| a.x + (b.x - a.x) * ((y - a.y) / dy);
        for r in r0..=r1 {
            // The part of the segment within this row (widened), then the columns it spans.
            let row_lo = self.origin.y + r as f64 * self.cell.y - self.slack.y;
            let row_hi = row_lo + self.cell.y + 2.0 * self.slack.y;
            let (x_lo, x_hi) = if err.is_finite() {
                let (p, q) = (x_at(y_min.max(row_lo)), x_at(y_max.min(row_hi)));
                ((p.min(q) - err).max(seg_lo), (p.max(q) + err).min(seg_hi))
            } else {
                (seg_lo, seg_hi)
            };
            let (c0, c1) = Self::span(
                x_lo,
                x_hi,
                self.origin.x,
                self.cell.x,
                self.slack.x,
                self.nx,
            );
            let row = r as usize * self.nx;
            for c in c0..=c1 {
                touch(row + c as usize);
            }
        }
    }

    /// The owner of every cell: clear cells are joined into regions through runs of clear cells
    /// in each row that share columns with a run of the row below (union–find); each region is
    /// decided by its first cell's centre.
    fn own_regions(
        &self,
        touched: &[bool],
        grids_at: impl Fn(Coord) -> GridsAt + Sync,
    ) -> Vec<u32> {
        let nx = self.nx;
        // Runs: (row, first column, last column); `parent` is the union–find forest over them.
        let mut runs: Vec<(u32, u32, u32)> = Vec::new();
        let mut parent: Vec<u32> = Vec::new();
        fn root(parent: &mut [u32], mut i: u32) -> u32 {
            while parent[i as usize] != i {
                let up = parent[parent[i as usize] as usize];
                parent[i as usize] = up;
                i = up;
            }
            i
        }
        let mut below = 0..0; // the previous row's runs
        for y in 0..self.ny {
            let row = &touched[y * nx..(y + 1) * nx];
            let first = runs.len();
            let mut x = 0;
            while x < nx {
                if row[x] {
                    x += 1;
                    continue;
                }
                let start = x;
                while x < nx && !row[x] {
                    x += 1;
                }
                let id = runs.len() as u32;
                runs.push((y as u32, start as u32, x as u32 - 1));
                parent.push(id);
            }
            // Join each run with the runs below sharing a column (both lists are in order).
            let mut k = below.start;
            for id in first..runs.len() {
                let (_, a0, a1) = runs[id];
                while k < below.end && runs[k].2 < a0 {
                    k += 1;
                }
                let mut j = k;
                while j < below.end && runs[j].1 <= a1 {
                    let (p, q) = (root(&mut parent, id as u32), root(&mut parent, j as u32));
                    if p != q {
                        parent[p.max(q) as usize] = p.min(q);
                    }
                    j += 1;
                }
            }
            below = first..runs.len();
        }
        // Roots are the first run of their region; decide them in parallel.
        let roots: Vec<u32> = (0..runs.len() as u32)
            .filter(|&i| root(&mut parent, i) == i)
            .collect();
        let decided: Vec<u32> = roots
            .par_iter()
            .map(|&i| {
                let (y, x, _) = runs[i as usize];
                let at = grids_at(Coord {
                    x: self.origin.x + (x as f64 + 0.5) * self.cell.x,
                    y: self.origin.y + (y as f64 + 0.5) * self.cell.y,
                });
                match (at.inside.as_slice(), at.on_edge.is_empty()) {
                    (&[g], true) => g,
                    _ => NONE,
                }
            })
            .collect();
        let mut region_owner = vec![NONE; runs.len()];
        for (&i, &o) in roots.iter().zip(&decided) {
            region_owner[i as usize] = o;
        }
        let mut owner = vec![NONE; touched.len()];
        for (i, &(y, x0, x1)) in runs.iter().enumerate() {
            let o = region_owner[root(&mut parent, i as u32) as usize];
            let row = y as usize * nx;
            owner[row + x0 as usize..=row + x1 as usize].fill(o);
        }
        owner
    }

    /// The one grid whose interior holds the whole closed `rect`, when the cells it meets say so;
    /// `None` means "not decided here", not "in no grid".
    pub(crate) fn owner_of(&self, rect: &Rect) -> Option<u32> {
        let (min, max) = (rect.min(), rect.max());
        let fx = |x: f64| (x - self.origin.x) / self.cell.x;
        let fy = |y: f64| (y - self.origin.y) / self.cell.y;
        let (x0, x1) = (fx(min.x - self.slack.x), fx(max.x + self.slack.x));
        let (y0, y1) = (fy(min.y - self.slack.y), fy(max.y + self.slack.y));
        // Leaving the raster (or NaN): not decided here.
        if !(x0 >= 0.0 && y0 >= 0.0 && x1 < self.nx as f64 && y1 < self.ny as f64) {
            return None;
        }
        let (x0, x1, y0, y1) = (x0 as usize, x1 as usize, y0 as usize, y1 as usize);
        let first = self.owner[y0 * self.nx + x0];
        if first == NONE {
            return None;
        }
        for y in y0..=y1 {
            let row = &self.owner[y * self.nx + x0..=y * self.nx + x1];
            if row.iter().any(|&o| o != first) {
                return None;
            }
        }
        Some(first)
    }

    /// Share of cells with an owner (for tests and diagnostics).
    #[cfg(test)]
    pub(crate) fn owned_share(&self) -> f64 {
        self.owner.iter().filter(|&&o| o != NONE).count() as f64 / self.owner.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use geo::{Coord, LineString, MultiPolygon, Polygon, Rect, polygon};
    use proptest::prelude::*;

    use crate::assign::assign_building;
    use crate::index::GridIndex;
    use crate::model::{Building, Footprint, Grid};

    fn grid(code: &str, ring: Vec<Coord>) -> Grid {
        Grid {
            code: code.into(),
            name: None,
            village: None,
            geometry: MultiPolygon(vec![Polygon::new(LineString::new(ring), vec![])]),
        }
    }

    fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<Coord> {
        vec![
            Coord { x: x0, y: y0 },
            Coord { x: x1, y: y0 },
            Coord { x: x1, y: y1 },
            Coord { x: x0, y: y1 },
        ]
    }

    fn building(ring: Vec<Coord>) -> Building {
        Building {
            id: "b".into(),
            footprint: Footprint::Area(MultiPolygon(vec![Polygon::new(
                LineString::new(ring),
                vec![],
            )])),
            households: 1,
            floors: None,
            kind: None,
        }
    }

    #[test]
    fn a_box_well_inside_is_decided_and_a_box_on_an_edge_is_not() {
        let grids = vec![
            grid("w", rect(0.0, 0.0, 10.0, 10.0)),
            grid("e", rect(10.0, 0.0, 20.0, 10.0)),
        ];
        let index = GridIndex::new(&grids, |_| false).with_interior_cells();
        let inside = Rect::new(Coord { x: 2.0, y: 2.0 }, Coord { x: 3.0, y: 3.0 });
        assert_eq!(index.inside_one(&inside), Some(0));
        let east = Rect::new(Coord { x: 15.0, y: 5.0 }, Coord { x: 15.0, y: 5.0 });
        assert_eq!(index.inside_one(&east), Some(1));
        let across = Rect::new(Coord { x: 9.5, y: 2.0 }, Coord { x: 10.5, y: 3.0 });
        assert_eq!(index.inside_one(&across), None);
        let touching = Rect::new(Coord { x: 9.0, y: 2.0 }, Coord { x: 10.0, y: 3.0 });
        assert_eq!(index.inside_one(&touching), None);
        let outside = Rect::new(Coord { x: 30.0, y: 2.0 }, Coord { x: 31.0, y: 3.0 });
        assert_eq!(index.inside_one(&outside), None);
        let nan = Rect::new(
            Coord {
                x: f64::NAN,
                y: 2.0,
            },
            Coord { x: 3.0, y: 3.0 },
        );
        assert_eq!(index.inside_one(&nan), None);
        // Without the cells nothing is decided from envelopes.
        assert_eq!(GridIndex::new(&grids, |_| false).inside_one(&inside), None);
    }

    #[test]
    fn overlaps_gaps_and_excluded_grids_decide_nothing() {
        let grids = vec![
            grid("a", rect(0.0, 0.0, 10.0, 10.0)),
            grid("b", rect(5.0, 0.0, 15.0, 10.0)),
            grid("c", rect(20.0, 0.0, 30.0, 10.0)),
            grid("x", rect(40.0, 0.0, 50.0, 10.0)),
        ];
        let index = GridIndex::new(&grids, |i| i == 3).with_interior_cells();
        let r = |x: f64| Rect::new(Coord { x, y: 4.0 }, Coord { x: x + 0.5, y: 5.0 });
        assert_eq!(index.inside_one(&r(7.0)), None, "in the overlap of a and b");
        assert_eq!(index.inside_one(&r(17.0)), None, "in the gap");
        assert_eq!(index.inside_one(&r(25.0)), Some(2));
        assert_eq!(index.inside_one(&r(45.0)), None, "in the excluded grid");
    }

    #[test]
    fn a_slanted_edge_leaves_the_cells_beside_it_decided() {
        // Two triangles sharing a diagonal: cells away from it are decided, those on it not.
        let grids = vec![
            grid(
                "lower",
                vec![
                    Coord { x: 0.0, y: 0.0 },
                    Coord { x: 100.0, y: 0.0 },
                    Coord { x: 100.0, y: 100.0 },
                ],
            ),
            grid(
                "upper",
                vec![
                    Coord { x: 0.0, y: 0.0 },
                    Coord { x: 100.0, y: 100.0 },
                    Coord { x: 0.0, y: 100.0 },
                ],
            ),
        ];
        let index = GridIndex::new(&grids, |_| false).with_interior_cells();
        let at = |x: f64, y: f64| {
            Rect::new(
                Coord { x, y },
                Coord {
                    x: x + 1.0,
                    y: y + 1.0,
                },
            )
        };
        assert_eq!(index.inside_one(&at(80.0, 10.0)), Some(0));
        assert_eq!(index.inside_one(&at(10.0, 80.0)), Some(1));
        assert_eq!(index.inside_one(&at(49.5, 49.5)), None);
        let share = index.interior.as_ref().map_or(0.0, |c| c.owned_share());
        assert!(share > 0.9, "{share}");
    }

    #[test]
    fn a_grid_with_a_hole_owns_nothing_in_the_hole() {
        let holed = Grid {
            code: "ring".into(),
            name: None,
            village: None,
            geometry: MultiPolygon(vec![polygon!(
                exterior: [(x: 0., y: 0.), (x: 30., y: 0.), (x: 30., y: 30.), (x: 0., y: 30.)],
                interiors: [[(x: 10., y: 10.), (x: 20., y: 10.), (x: 20., y: 20.), (x: 10., y: 20.)]],
            )]),
        };
        let grids = vec![holed];
        let index = GridIndex::new(&grids, |_| false).with_interior_cells();
        let at = |x: f64, y: f64| {
            Rect::new(
                Coord { x, y },
                Coord {
                    x: x + 1.0,
                    y: y + 1.0,
                },
            )
        };
        assert_eq!(index.inside_one(&at(14.0, 14.0)), None);
        assert_eq!(index.inside_one(&at(3.0, 3.0)), Some(0));
    }

    fn lattice_ring() -> impl Strategy<Value = Vec<Coord>> {
        // Small integer lattices make footprints lie on grid edges, touch corners and cross
        // cell borders exactly: the cases rounding would get wrong.
        prop::collection::vec((0i32..24, 0i32..24), 3..7).prop_map(|v| {
            v.into_iter()
                .map(|(x, y)| Coord {
                    x: f64::from(x) / 2.0,
                    y: f64::from(y) / 2.0,
                })
                .collect()
        })
    }

    fn small_ring() -> impl Strategy<Value = Vec<Coord>> {
        (0i32..48, 0i32..48, 1i32..4, 1i32..4, 0i32..3).prop_map(|(x, y, w, h, shape)| {
            let (x0, y0) = (f64::from(x) / 4.0, f64::from(y) / 4.0);
            let (x1, y1) = (x0 + f64::from(w) / 4.0, y0 + f64::from(h) / 4.0);
            match shape {
                0 => rect(x0, y0, x1, y1),
                1 => vec![
                    Coord { x: x0, y: y0 },
                    Coord { x: x1, y: y0 },
                    Coord { x: x0, y: y1 },
                ],
                _ => vec![Coord { x: x0, y: y0 }],
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The interior cells never change an answer: every building is assigned the same
        /// with them as without, over grids that overlap, leave gaps and are invalid.
        #[test]
        fn interior_cells_never_change_an_assignment(
            grid_rings in prop::collection::vec(lattice_ring(), 1..6),
            boxes in prop::collection::vec((0i32..20, 0i32..20, 1i32..8, 1i32..8), 0..5),
            footprints in prop::collection::vec(small_ring(), 1..40),
        ) {
            let mut grids: Vec<Grid> = grid_rings
                .into_iter()
                .enumerate()
                .map(|(i, r)| grid(&format!("g{i}"), r))
                .collect();
            for (i, (x, y, w, h)) in boxes.into_iter().enumerate() {
                let (x0, y0) = (f64::from(x) / 2.0, f64::from(y) / 2.0);
                grids.push(grid(
                    &format!("r{i}"),
                    rect(x0, y0, x0 + f64::from(w) / 2.0, y0 + f64::from(h) / 2.0),
                ));
            }
            let plain = GridIndex::new(&grids, |_| false);
            let cells = GridIndex::new(&grids, |_| false).with_interior_cells();
            for ring in footprints {
                let b = if ring.len() == 1 {
                    Building { footprint: Footprint::Point(geo::Point(ring[0])), ..building(rect(0., 0., 1., 1.)) }
                } else {
                    building(ring)
                };
                prop_assert_eq!(assign_building(&cells, &b), assign_building(&plain, &b));
            }
        }
    }
}
