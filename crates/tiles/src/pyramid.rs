//! A per-cell count pyramid: heatmap tiles and a low-zoom overview layer from pre-aggregated
//! counts, without touching the points again, kept current by each visit.
//!
//! [`Pyramid::build`] takes every [`CountPoint`] once (a building: where it is, its households,
//! visited or not). [`Pyramid::heatmap_png`] then draws a tile in a few milliseconds whatever the
//! zoom and the number of points under it, [`Pyramid::overview`] lists coarse cells with their
//! counts (encode them with [`overview_mvt`]), and [`Pyramid::set_visited`] moves a building
//! between the visited and unvisited counts in place while readers keep reading.
//!
//! # DESIGN
//!
//! **Cells and keys.** A cell of *cell zoom* `c` is one square of the `2^c × 2^c` Web Mercator
//! grid (the grid of tiles of zoom `c`). Cells are keyed by the Morton (Z-order) code of their
//! column and row, so every tile of every zoom `z ≤ c` is one contiguous key range of level
//! `c`, `[m << 2(c−z), (m + 1) << 2(c−z))` with `m` the tile's own code: a range query is two
//! binary searches and a linear scan, and the parent of a key is `key >> 2`, so each coarser
//! level is one run-length pass over the finer one (the only sort is of the points, at build).
//! A level is parallel arrays sorted by key: keys (`u64`), totals `[buildings, households]`
//! (`u32`, fixed at build) and visited `[buildings, households]` (`AtomicU32`).
//!
//! **Which levels.** A heatmap tile of zoom `z` reads its points at pixel resolution, from
//! level `z + 8`, whose cells are exactly heatmap.rs's pixel bins (`⌊fraction · 2^(z+8)⌋`).
//! Tiles z8–z16 thus read levels 16–24; tiles z17 and z18 have pixels finer than level 24
//! (2 m cells at 31° N), so the finest level also keeps one byte per cell, the mean position
//! of its buildings on a 16 × 16 sub-grid (zoom 28, 15 cm): exact for a cell of one building,
//! which is nearly every cell. Storing levels 25 and 26 instead would cost ~2 M more cells
//! (48 MB) and break the memory budget; the byte costs 1 MB. Levels 14 and 15 serve tiles z6
//! and z7 and are tiny. Eleven levels in all, 14–24; a tile outside z8–z18 reads the nearest
//! level (below z8 the scan grows with the area; above z18 the sub-cell positions stand in).
//!
//! **Density, two ways.** The definition is heatmap.rs's: `D(p) = Σ wᵢ K(dᵢ / r)`,
//! `K(u) = (1 − u²)²`, `d` in pixels of the tile, weight = households. Given the occupied
//! pixels of the tile and its margin:
//!
//! * *Exact*, when it costs at most 12 M multiply-adds (about 3 ms): heatmap.rs's own kernel
//!   spreads each occupied pixel with its `(2r+1)²` table (2,401 entries at radius 24) — the
//!   same bins, sums and code as [`crate::heatmap_png`], so the same image up to z16. This is
//!   every tile with fewer than ~2,500 occupied pixels per kind: all of z16–z18 and most of
//!   z14–z15 over a district.
//! * *Lattice*, for the dense tiles (z8–z15 over a district: up to ~90,000 occupied pixels, a
//!   quarter of a billion multiply-adds exactly): nodes at the centres of the cells of zoom
//!   `z + 6` (4 × 4 pixels; 64 × 64 per tile, nodes −1..=64 kept for interpolation). Each
//!   occupied pixel's weight is shared between the four nodes around it in proportion to its
//!   position (cloud-in-cell), the node grid is convolved with the kernel tabulated on node
//!   offsets (15 × 15 at radius 24), and each pixel is the bilinear interpolation of the
//!   four nodes around it. The work is bounded whatever the data: ≤ 80² bins × 225 ≈ 1.4 M
//!   multiply-adds per kind, so reading and sharing the pixels dominates. Sharing and
//!   interpolating each blur by `f(1 − f)` cells² per axis at phase `f`, 11/64 on average over
//!   the four phases of a pixel in its cell, which flattens peaks by ~4 %; the table is
//!   therefore sharpened, `K − 11/64 · ΔK` (`Δ` the discrete Laplacian on the lattice), which
//!   cancels that to second order. The error left is 0.5–3.7 % of the tile's peak density
//!   (test `exact_tiles_are_heatmap_png_and_lattice_tiles_stay_within_the_stated_error`;
//!   figures in docs/benchmarks.md, "Heatmap pyramid"). Moving each pixel to its cell's centre
//!   instead, without sharpening, was three times worse (14 % for a lone point).
//!
//! Coverage is `D_visited / (D_visited + D_unvisited)` of the two densities, transparent where
//! the total is ≤ 1e-6, as [`crate::coverage_png`]. The sharpened table dips slightly below 0
//! at the rim of the kernel; densities are clamped at 0. Lattice tiles agree with each other
//! along shared edges (the nodes are global), exact tiles too; an exact tile next to a lattice
//! tile can differ along the edge by the lattice error. Radii are clamped as in heatmap.rs
//! (0.5–128 px); with 4-pixel lattice cells, radii under ~8 px are only faithful on exact
//! tiles (which small radii make more of).
//!
//! **Neighbourhood.** The tile's own cells are one key range; its margin (the kernel's reach
//! plus the sharpening and interpolation nodes: 8 lattice cells, 32 px, at radius 24) is
//! covered by the ring of sub-tiles of zoom `z + 3` (8 × 8 lattice cells) around it: 36 more
//! ranges at radius 24, sorted and merged so that no cell is read twice. Tiles at the
//! antimeridian are not wrapped, as in heatmap.rs; beyond ±85.05° latitudes clamp.
//!
//! **Overview.** An overview tile of `k = cells_per_side` cells per side (a power of two)
//! scans the level `log2 k + 4` zooms finer than the tile: each overview cell's 16 × 16
//! sub-cells form one run of keys, summed in one pass, and its point is the
//! **building-weighted mean of its sub-cells' centres**: where its buildings are, within 1/32
//! of a cell, never in an empty corner.
//!
//! **Visits.** [`Pyramid::set_visited`] finds the point's finest cell (binary search) and its
//! ancestor in every level, and moves one building and `weight` households with relaxed atomic
//! read-modify-writes, clamped to `0..=total` so that a repeated call cannot wrap a counter.
//! One writer and any number of readers need no lock; a reader may see a visit in one level
//! and not yet in another, which a heatmap can live with. Totals (buildings, households) are
//! fixed at build: new buildings or changed households mean building a new pyramid (0.15–0.3 s
//! for 1 M points on two cores) and swapping it in.
//!
//! **Memory.** 24 bytes per cell of each level plus one per finest cell (and an eighth of a
//! byte for the search fences, [`Level::fence`]). Clustered like
//! buildings, 1 M points make 4.4 M cells, 107.5 MB ([`Pyramid::heap_bytes`],
//! examples/pyramid_bench.rs); the levels finer than ~30 m hold about one cell per building
//! and the coarse ones little. The bound is 11 cells per point (265 bytes), reached only by
//! points more than a few kilometres apart.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use geo::{Coord, Geometry, Point};
use rayon::prelude::*;

use crate::heatmap::{ColorScale, HEATMAP_SIZE, Kernel, Palette, clamp_radius, zeros};
use crate::mvt::{EncodeOptions, Feature, Layer, Value, encode};
use crate::tile::{TileId, lat_of, lon_of, world_fraction};

/// Cell zoom of the finest level: the pixels of a zoom-16 tile (2.4 m at the equator).
const FINEST: u8 = 24;
/// Cell zoom of the coarsest level: the pixels of a zoom-6 tile.
const COARSEST: u8 = 14;
/// Dense heatmap tiles are computed on a lattice of `2^GRID_BITS` cells per side.
const GRID_BITS: u8 = 6;
/// Lattice cells per tile side.
const GRID: usize = 1 << GRID_BITS;
/// Pixels per lattice cell.
const CELL_PX: f32 = (HEATMAP_SIZE as usize / GRID) as f32;
/// Interpolation nodes per side: the centres of cells −1..=64.
const NODES: usize = GRID + 2;
/// An overview cell's centre is the mean of its sub-cells, `2^CENTROID_BITS` per side.
const CENTROID_BITS: u8 = 4;
/// The finest level also keeps its buildings' mean position within each cell, to
/// `2^OFFSET_BITS` steps a side (zoom 28, ~15 cm), for tiles of zoom 17 and 18, whose pixels
/// are finer than its cells.
const OFFSET_BITS: u8 = 4;
const OFFSET_MASK: u8 = (1 << OFFSET_BITS) - 1;
/// Zoom of the positions points are read at.
const POSITION_ZOOM: u8 = FINEST + OFFSET_BITS;
/// A tile is computed exactly, as heatmap.rs does, when that costs at most this many kernel
/// multiply-adds; on the lattice otherwise.
const EXACT_BUDGET: usize = 12_000_000;
/// The lattice kernel is `K − SHARPEN · (discrete Laplacian of K)`: sharing a pixel between
/// nodes and interpolating nodes back to pixels each blur by `f(1 − f)` (cells²) at phase `f`,
/// 11/64 on average over the four phases 1/8, 3/8, 5/8, 7/8 of a pixel in its cell, so the
/// result is `K + 11/64 · ∇²K` to second order; subtracting that in the table cancels it.
const SHARPEN: f32 = 11.0 / 64.0;

/// One weighted point: lon/lat location, weight (households, ≥ 1), visited or not.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CountPoint {
    /// WGS84 longitude/latitude; a point with a non-finite coordinate is left out, one beyond
    /// the Mercator world is clamped to its edge.
    pub at: Coord,
    /// Households (the heatmaps' weight).
    pub weight: u32,
    /// Whether the building has been visited.
    pub visited: bool,
}

/// Which density a heatmap tile shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeatKind {
    /// Households in visited buildings ([`ColorScale::visited`]).
    Visited,
    /// Households in buildings not visited yet ([`ColorScale::unvisited`]).
    Unvisited,
    /// Visited share of the two densities ([`ColorScale::coverage`]).
    Coverage,
}

/// One occupied cell of an overview tile ([`Pyramid::overview`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OverviewCell {
    /// The cell's Morton (Z-order) code at its cell zoom (tile zoom + log2 of the cells per
    /// side): unique among the cells of one zoom and grid size, stable across calls; the MVT
    /// feature id.
    pub key: u64,
    /// Longitude/latitude of the building-weighted mean of the cell's sub-cell centres (1/16
    /// of the cell on a side): where its buildings are, within 1/32 of the cell.
    pub centre: Coord,
    /// Buildings in the cell.
    pub buildings: u32,
    /// Households in the cell (sum of the weights).
    pub households: u32,
    /// Visited buildings.
    pub visited_buildings: u32,
    /// Households in visited buildings.
    pub visited_households: u32,
}

impl OverviewCell {
    /// Visited share of households (of buildings when the cell has no households).
    pub fn visited_share(&self) -> f64 {
        if self.households > 0 {
            f64::from(self.visited_households) / f64::from(self.households)
        } else if self.buildings > 0 {
            f64::from(self.visited_buildings) / f64::from(self.buildings)
        } else {
            0.0
        }
    }
}

/// One level: the occupied cells of one cell zoom, sorted by Morton key.
struct Level {
    zoom: u8,
    keys: Vec<u64>,
    /// `[buildings, households]`, fixed at build.
    totals: Vec<[u32; 2]>,
    /// `[visited buildings, visited households]`, moved by visits.
    visited: Vec<[AtomicU32; 2]>,
    /// Finest level only (empty elsewhere): the mean position of the cell's buildings on a
    /// 16 × 16 sub-grid, column in the high nibble, row in the low one.
    offsets: Vec<u8>,
    /// Every `FENCE`th key: a binary search of this small array (a few KiB to 120 KiB, in
    /// cache) leaves a run of `FENCE` keys to search, where a search of the whole level (8 MB
    /// at the finest) missed the cache at every step. A heatmap tile makes ~80 searches.
    fence: Vec<u64>,
}

/// Keys per fence post ([`Level::fence`]).
const FENCE: usize = 64;

impl Level {
    /// The finest level from records `(position key at POSITION_ZOOM, weight, visited)`
    /// sorted by key.
    fn from_records(recs: &[(u64, u32, bool)]) -> Level {
        let mut acc = Accumulator::default();
        let mut offsets = Vec::new();
        let mut sub: Option<(u64, u64, u64, u64)> = None; // cell key, buildings, Σx, Σy
        let mean = |(_, n, sx, sy): (u64, u64, u64, u64)| -> u8 {
            let m = |s: u64| ((s + n / 2) / n).min(u64::from(OFFSET_MASK)) as u8;
            (m(sx) << OFFSET_BITS) | m(sy)
        };
        for &(pos, w, v) in recs {
            let key = pos >> (2 * OFFSET_BITS);
            let (ox, oy) = demorton(pos & ((1 << (2 * OFFSET_BITS)) - 1));
            match &mut sub {
                Some((k, n, sx, sy)) if *k == key => {
                    *n += 1;
                    *sx += u64::from(ox);
                    *sy += u64::from(oy);
                }
                _ => {
                    offsets.extend(sub.map(mean));
                    sub = Some((key, 1, u64::from(ox), u64::from(oy)));
                }
            }
            acc.add(
                key,
                [1, u64::from(w)],
                if v { [1, u64::from(w)] } else { [0, 0] },
            );
        }
        offsets.extend(sub.map(mean));
        let mut level = acc.finish(FINEST);
        offsets.shrink_to_fit();
        level.offsets = offsets;
        level
    }

    /// The level one zoom coarser.
    fn coarser(&self) -> Level {
        let mut acc = Accumulator::default();
        for (i, &key) in self.keys.iter().enumerate() {
            let [b, h] = self.totals[i];
            let [vb, vh] = &self.visited[i];
            acc.add(
                key >> 2,
                [u64::from(b), u64::from(h)],
                [u64::from(vb.load(Relaxed)), u64::from(vh.load(Relaxed))],
            );
        }
        acc.finish(self.zoom - 1)
    }

    /// Indices of the cells with keys in `start..end`.
    fn range(&self, start: u64, end: u64) -> std::ops::Range<usize> {
        self.first_at_least(start)..self.first_at_least(end)
    }

    /// The index of the first key `≥ key` (the number of keys below it).
    fn first_at_least(&self, key: u64) -> usize {
        // Fence post j is key j·FENCE: if posts below j are < key and post j is not, the
        // answer lies in ((j − 1)·FENCE, j·FENCE].
        let j = self.fence.partition_point(|&k| k < key);
        let lo = (j * FENCE).saturating_sub(FENCE - 1).min(self.keys.len());
        let hi = (j * FENCE).min(self.keys.len());
        lo + self.keys[lo..hi].partition_point(|&k| k < key)
    }

    fn with_fence(mut self) -> Level {
        self.fence = self.keys.iter().step_by(FENCE).copied().collect();
        self
    }

    /// `[buildings, households, visited buildings, visited households]` of cell `i`.
    #[inline]
    fn counts(&self, i: usize) -> [u32; 4] {
        let [b, h] = self.totals[i];
        let [vb, vh] = &self.visited[i];
        [b, h, vb.load(Relaxed), vh.load(Relaxed)]
    }

    fn heap_bytes(&self) -> usize {
        self.offsets.capacity()
            + (self.keys.capacity() + self.fence.capacity()) * size_of::<u64>()
            + self.totals.capacity() * size_of::<[u32; 2]>()
            + self.visited.capacity() * size_of::<[AtomicU32; 2]>()
    }
}

/// Run-length aggregation of keys arriving in sorted order.
#[derive(Default)]
struct Accumulator {
    keys: Vec<u64>,
    totals: Vec<[u32; 2]>,
    visited: Vec<[AtomicU32; 2]>,
    cur: Option<(u64, [u64; 2], [u64; 2])>,
}

impl Accumulator {
    fn add(&mut self, key: u64, t: [u64; 2], v: [u64; 2]) {
        match &mut self.cur {
            Some((k, ct, cv)) if *k == key => {
                ct[0] += t[0];
                ct[1] += t[1];
                cv[0] += v[0];
                cv[1] += v[1];
            }
            _ => {
                self.flush();
                self.cur = Some((key, t, v));
            }
        }
    }

    fn flush(&mut self) {
        if let Some((k, t, v)) = self.cur.take() {
            // Counts beyond u32 (4 billion households in a cell) saturate.
            let sat = |x: u64| u32::try_from(x).unwrap_or(u32::MAX);
            self.keys.push(k);
            self.totals.push([sat(t[0]), sat(t[1])]);
            self.visited.push([
                AtomicU32::new(sat(v[0]).min(sat(t[0]))),
                AtomicU32::new(sat(v[1]).min(sat(t[1]))),
            ]);
        }
    }

    fn finish(mut self, zoom: u8) -> Level {
        self.flush();
        self.keys.shrink_to_fit();
        self.totals.shrink_to_fit();
        self.visited.shrink_to_fit();
        Level {
            zoom,
            keys: self.keys,
            totals: self.totals,
            visited: self.visited,
            offsets: Vec::new(),
            fence: Vec::new(),
        }
        .with_fence()
    }
}

/// Counts of every point aggregated on cells of zooms 14–24 (see the module's DESIGN).
///
/// ```
/// use gridmap_tiles::{ColorScale, CountPoint, HeatKind, Pyramid, TileId, overview_mvt};
/// let at = geo::Coord { x: 121.5, y: 31.2 };
/// let pyramid = Pyramid::build(&[CountPoint { at, weight: 3, visited: false }]);
/// let tile = TileId::containing(at, 15)?;
/// let png = pyramid.heatmap_png(tile, HeatKind::Unvisited, 24.0, &ColorScale::unvisited());
/// assert!(png.is_some());
/// assert!(pyramid.heatmap_png(tile, HeatKind::Visited, 24.0, &ColorScale::visited()).is_none());
/// pyramid.set_visited(at, 3, true); // a visit: no lock, readers keep reading
/// let cells = pyramid.overview(TileId::containing(at, 10)?, 32);
/// assert_eq!((cells[0].visited_buildings, cells[0].visited_households), (1, 3));
/// assert!(!overview_mvt(TileId::containing(at, 10)?, &cells).is_empty());
/// # Ok::<(), gridmap_tiles::TileError>(())
/// ```
pub struct Pyramid {
    /// By increasing zoom, `COARSEST..=FINEST`.
    levels: Vec<Level>,
}

impl Pyramid {
    /// Built once from every point (e.g. 1M buildings): O(n log n), parallel where useful.
    ///
    /// # Performance
    /// Projection and the sort run on rayon's pool; the levels are one linear pass each.
    /// About 0.15–0.3 s for 1 M points on two cores (examples/pyramid_bench.rs).
    pub fn build(points: &[CountPoint]) -> Pyramid {
        let mut recs: Vec<(u64, u32, bool)> = points
            .par_iter()
            .filter_map(|p| position_key(p.at).map(|k| (k, p.weight, p.visited)))
            .collect();
        recs.par_sort_unstable_by_key(|r| r.0);
        let mut level = Level::from_records(&recs);
        drop(recs);
        let mut levels = Vec::with_capacity(usize::from(FINEST - COARSEST + 1));
        while level.zoom > COARSEST {
            let next = level.coarser();
            levels.push(level);
            level = next;
        }
        levels.push(level);
        levels.reverse();
        Pyramid { levels }
    }

    /// A visit changed a point's status: moves `weight` households and one building between
    /// the visited and unvisited counts of every level's cell holding `at`. Returns false (and
    /// changes nothing) when no point was built at `at`'s finest cell.
    ///
    /// Counts are atomics (relaxed): one writer updates while readers read without locks.
    /// Call it once per actual change, with the weight the point was built with: visited
    /// counts are clamped to `0..=total` (a repeated call cannot wrap them), so a redundant
    /// call is harmless only when it hits a bound.
    ///
    /// # Performance
    /// A binary search and an atomic update per level: a few microseconds.
    pub fn set_visited(&self, at: Coord, weight: u32, visited: bool) -> bool {
        let Some(key) = position_key(at).map(|k| k >> (2 * OFFSET_BITS)) else {
            return false;
        };
        // Every level is searched before any is changed: a point that was not built changes
        // nothing, even where its coarser cells exist.
        let mut found = [0usize; (FINEST - COARSEST + 1) as usize];
        for (level, slot) in self.levels.iter().rev().zip(&mut found) {
            let k = key >> (2 * u32::from(FINEST - level.zoom));
            match level.keys.binary_search(&k) {
                Ok(i) => *slot = i,
                Err(_) => return false,
            }
        }
        for (level, &i) in self.levels.iter().rev().zip(&found) {
            let [b, h] = level.totals[i];
            let [vb, vh] = &level.visited[i];
            shift(vb, b, 1, visited);
            shift(vh, h, weight, visited);
        }
        true
    }

    /// Heatmap tile as PNG (`kind`: visited, unvisited or coverage — same meaning and same
    /// colour scales as heatmap.rs), `None` when the tile and its kernel margin hold nothing of
    /// that kind (every density is zero; for coverage, every total density).
    ///
    /// `radius_px` is the kernel radius in pixels of this tile, as for [`crate::heatmap_png`];
    /// `scale` colours densities (visited, unvisited) or the visited share (coverage).
    ///
    /// # Performance
    /// Bounded whatever the data: ~40 range searches, a scan of the occupied pixels in and
    /// around the tile (cells of zoom `z + 8`), then the exact kernel when that costs ≤ 12 M
    /// multiply-adds or the lattice (≤ 1.4 M per density), the colouring and the PNG encode:
    /// p50 0.4–2.9 ms, p99 ≤ 3.3 ms at z8–z18 over 1 M points on one core (coverage, radius
    /// 24; docs/benchmarks.md).
    pub fn heatmap_png(
        &self,
        tile: TileId,
        kind: HeatKind,
        radius_px: f32,
        scale: &ColorScale,
    ) -> Option<Vec<u8>> {
        let (want_v, want_u) = match kind {
            HeatKind::Visited => (true, false),
            HeatKind::Unvisited => (false, true),
            HeatKind::Coverage => (true, true),
        };
        let [dv, du] = self.densities(tile, radius_px, want_v, want_u);
        let palette = Palette::new(scale);
        let mut pixels = zeros::<u8>((HEATMAP_SIZE * HEATMAP_SIZE) as usize);
        let any = match kind {
            HeatKind::Visited | HeatKind::Unvisited => {
                let d = if want_v { dv? } else { du? };
                palette.paint_density(&d, &mut pixels)
            }
            HeatKind::Coverage => {
                let size = (HEATMAP_SIZE * HEATMAP_SIZE) as usize;
                let empty;
                let (dv, du) = match (dv, du) {
                    (None, None) => return None,
                    (Some(v), Some(u)) => (v, u),
                    (Some(v), None) => {
                        empty = zeros::<f32>(size);
                        (v, empty)
                    }
                    (None, Some(u)) => {
                        empty = zeros::<f32>(size);
                        (empty, u)
                    }
                };
                palette.paint_share(&dv, &du, &mut pixels)
            }
        };
        any.then(|| palette.encode(&pixels))
    }

    /// Overview cells for tile `tile` (meant for z8–z13): one per occupied cell of a grid of
    /// `cells_per_side`² (rounded up to a power of two, 1–256; cells are never finer than the
    /// finest level, zoom 24), in Morton order. Each carries its counts and its centre, the
    /// building-weighted mean of its 16 × 16 sub-cells' centres.
    ///
    /// # Performance
    /// Two binary searches and a linear scan of the cells of zoom `z + log2(cells) + 4` in the
    /// tile (at 32 cells per side: zoom 17 for a z8 tile, cells of ~260 m at 31° N).
    pub fn overview(&self, tile: TileId, cells_per_side: u32) -> Vec<OverviewCell> {
        let bits = cells_per_side
            .clamp(1, 256)
            .next_power_of_two()
            .trailing_zeros() as u8;
        let cell_zoom = (tile.z + bits).min(FINEST).max(tile.z);
        let level = self.level_for((cell_zoom + CENTROID_BITS).min(FINEST));
        let s = level.zoom;
        let (start, end) = key_range(s, tile.z, tile.x, tile.y);
        let up = 2 * u32::from(s - cell_zoom);
        let inv = 1.0 / (1u64 << s) as f64;
        let mut out = Vec::new();
        let mut cur: Option<(u64, [u64; 4], [f64; 2])> = None;
        let push = |out: &mut Vec<OverviewCell>, (key, c, m): (u64, [u64; 4], [f64; 2])| {
            let sat = |x: u64| u32::try_from(x).unwrap_or(u32::MAX);
            let n = c[0].max(1) as f64;
            out.push(OverviewCell {
                key,
                centre: Coord {
                    x: lon_of(m[0] / n),
                    y: lat_of(m[1] / n),
                },
                buildings: sat(c[0]),
                households: sat(c[1]),
                visited_buildings: sat(c[2]),
                visited_households: sat(c[3]),
            });
        };
        for i in level.range(start, end) {
            let key = level.keys[i];
            let [b, h, vb, vh] = level.counts(i);
            let (cx, cy) = demorton(key);
            let b64 = u64::from(b);
            let mx = (f64::from(cx) + 0.5) * inv * b64 as f64;
            let my = (f64::from(cy) + 0.5) * inv * b64 as f64;
            let ok = key >> up;
            match &mut cur {
                Some((k, c, m)) if *k == ok => {
                    c[0] += b64;
                    c[1] += u64::from(h);
                    c[2] += u64::from(vb);
                    c[3] += u64::from(vh);
                    m[0] += mx;
                    m[1] += my;
                }
                _ => {
                    if let Some(done) = cur.take() {
                        push(&mut out, done);
                    }
                    cur = Some((
                        ok,
                        [b64, u64::from(h), u64::from(vb), u64::from(vh)],
                        [mx, my],
                    ));
                }
            }
        }
        if let Some(done) = cur {
            push(&mut out, done);
        }
        out
    }

    /// Bytes held on the heap, for the memory budget: 24 per cell of each level, one more per
    /// finest cell (107.5 MB for 1 M buildings clustered as in a town).
    pub fn heap_bytes(&self) -> usize {
        self.levels.capacity() * size_of::<Level>()
            + self.levels.iter().map(Level::heap_bytes).sum::<usize>()
    }

    /// Cells per level, coarsest first, as `(cell zoom, cells)`: where the memory goes.
    pub fn level_sizes(&self) -> Vec<(u8, usize)> {
        self.levels.iter().map(|l| (l.zoom, l.keys.len())).collect()
    }

    /// The coarsest stored level at least as fine as `zoom`, or the finest.
    fn level_for(&self, zoom: u8) -> &Level {
        let i = self
            .levels
            .partition_point(|l| l.zoom < zoom)
            .min(self.levels.len() - 1);
        &self.levels[i]
    }

    /// The visited and unvisited densities at the 256 × 256 pixels of `tile`, as requested;
    /// `None` for a density that is zero everywhere.
    pub(crate) fn densities(
        &self,
        tile: TileId,
        radius_px: f32,
        want_v: bool,
        want_u: bool,
    ) -> [Option<Vec<f32>>; 2] {
        self.densities_with(tile, radius_px, want_v, want_u, EXACT_BUDGET)
    }

    /// [`Pyramid::densities`], computed exactly when that costs at most `exact_budget`
    /// kernel multiply-adds and on the lattice otherwise.
    pub(crate) fn densities_with(
        &self,
        tile: TileId,
        radius_px: f32,
        want_v: bool,
        want_u: bool,
        exact_budget: usize,
    ) -> [Option<Vec<f32>>; 2] {
        let radius = clamp_radius(radius_px);
        // Lattice: cells of CELL_PX pixels, the kernel reaching `reach` cells; bins for cells
        // −margin..64+margin so that every node (cells −1..=64) gets its whole kernel.
        // One more cell than the kernel's support: the sharpened table's outer ring.
        let reach = (radius / CELL_PX).ceil() as usize + 1;
        let margin = reach + 1;
        let margin_px = margin * CELL_PX as usize;
        let pixels = self.gather(tile, margin, margin_px, want_v, want_u);
        if pixels.is_empty() {
            return [None, None];
        }
        let exact = Kernel::new(radius);
        let r = exact.r as i32;
        let size = HEATMAP_SIZE as i32;
        let near = |&&(x, y, _, _): &&(i32, i32, u32, u32)| {
            -r <= x && x < size + r && -r <= y && y < size + r
        };
        let kinds = usize::from(want_v) + usize::from(want_u);
        let cost = pixels.iter().filter(near).count() * (2 * exact.r + 1).pow(2) * kinds;
        let nonzero = |d: Vec<f32>| d.iter().any(|&v| v > 0.0).then_some(d);
        if cost <= exact_budget {
            // heatmap.rs's own computation on the same pixel bins.
            let bside = HEATMAP_SIZE as usize + 2 * exact.r;
            let mut bins = [vec![0f64; 0], vec![0f64; 0]];
            for (k, want) in [want_v, want_u].into_iter().enumerate() {
                if want {
                    bins[k] = zeros::<f64>(bside * bside);
                }
            }
            for &(x, y, v, u) in pixels.iter().filter(near) {
                let at = (y + r) as usize * bside + (x + r) as usize;
                if want_v {
                    bins[0][at] += f64::from(v);
                }
                if want_u {
                    bins[1][at] += f64::from(u);
                }
            }
            let [bv, bu] = bins;
            let run = |want: bool, b: Vec<f64>| {
                (want && b.iter().any(|&w| w > 0.0))
                    .then(|| exact.spread(&b))
                    .and_then(nonzero)
            };
            return [run(want_v, bv), run(want_u, bu)];
        }
        // Lattice: each pixel's weight is shared between the four nodes around it
        // (cloud-in-cell); the node of cell c sits at pixel index 4c + 1.5.
        let side = GRID + 2 * margin;
        let last = side as i64 - 1;
        let mut bins_v = if want_v {
            zeros::<f32>(side * side)
        } else {
            Vec::new()
        };
        let mut bins_u = if want_u {
            zeros::<f32>(side * side)
        } else {
            Vec::new()
        };
        let to_bin = |p: i32| (p as f32 - 1.5) / CELL_PX + margin as f32;
        for &(px, py, v, u) in &pixels {
            let (tx, ty) = (to_bin(px), to_bin(py));
            // tx, ty ≥ −1: truncation after a shift is the floor (and no libm call).
            let (fx0, fy0) = (
                (tx + 2.0) as i64 as f32 - 2.0,
                (ty + 2.0) as i64 as f32 - 2.0,
            );
            let (bx, by) = (fx0 as i64, fy0 as i64);
            let (fx, fy) = (tx - fx0, ty - fy0);
            for (dx, dy, share) in [
                (0, 0, (1.0 - fx) * (1.0 - fy)),
                (1, 0, fx * (1.0 - fy)),
                (0, 1, (1.0 - fx) * fy),
                (1, 1, fx * fy),
            ] {
                let (x, y) = (bx + dx, by + dy);
                if x < 0 || y < 0 || x > last || y > last || share == 0.0 {
                    continue;
                }
                let at = y as usize * side + x as usize;
                if want_v {
                    bins_v[at] += v as f32 * share;
                }
                if want_u {
                    bins_u[at] += u as f32 * share;
                }
            }
        }
        let kernel = CellKernel::new(radius / CELL_PX, reach);
        let run = |want: bool, bins: Vec<f32>| {
            (want && bins.iter().any(|&w| w > 0.0))
                .then(|| upsample(&kernel.spread(&bins, side, margin)))
                .and_then(nonzero)
        };
        [run(want_v, bins_v), run(want_u, bins_u)]
    }

    /// The occupied pixels of `tile` and of `margin_px` pixels around it, relative to the
    /// tile's top-left pixel, with their visited and unvisited households (the kinds not
    /// wanted read 0; pixels with nothing wanted are left out). `margin` is the same margin in
    /// lattice cells, for the key ranges.
    ///
    /// Pixels are heatmap.rs's bins: cells of zoom `z + 8`, or above zoom 24 the finest cells
    /// placed at their buildings' mean position (exact for a cell of one building).
    fn gather(
        &self,
        tile: TileId,
        margin: usize,
        margin_px: usize,
        want_v: bool,
        want_u: bool,
    ) -> Vec<(i32, i32, u32, u32)> {
        let pz = tile.z + GRID_BITS + 2;
        let level = self.level_for(pz);
        let s = level.zoom;
        let (px0, py0) = (i64::from(tile.x) << 8, i64::from(tile.y) << 8);
        let lo = -(margin_px as i64);
        let hi = i64::from(HEATMAP_SIZE) + margin_px as i64;
        let mut out = Vec::new();
        for (start, end) in neighbourhood(tile, s, margin) {
            for i in level.range(start, end) {
                let [_, h, _, vh] = level.counts(i);
                let v = if want_v { vh } else { 0 };
                let u = if want_u { h.saturating_sub(vh) } else { 0 };
                if v == 0 && u == 0 {
                    continue;
                }
                let (x, y) = self.pixel_of(level, i, pz);
                let (x, y) = (x - px0, y - py0);
                if lo <= x && x < hi && lo <= y && y < hi {
                    out.push((x as i32, y as i32, v, u));
                }
            }
        }
        out
    }

    /// Column and row at cell zoom `pz` of cell `i` of `level`: its ancestor when `pz` is
    /// coarser; for the finest level, where its buildings' mean position falls.
    #[inline]
    fn pixel_of(&self, level: &Level, i: usize, pz: u8) -> (i64, i64) {
        let (cx, cy) = demorton(level.keys[i]);
        if level.zoom >= pz {
            let d = level.zoom - pz;
            return (i64::from(cx >> d), i64::from(cy >> d));
        }
        // Only the finest level is coarser than a pixel: use the sub-cell position.
        let o = level.offsets.get(i).copied().unwrap_or(0x88);
        let fx = (i64::from(cx) << OFFSET_BITS) | i64::from(o >> OFFSET_BITS);
        let fy = (i64::from(cy) << OFFSET_BITS) | i64::from(o & OFFSET_MASK);
        let pos_zoom = level.zoom + OFFSET_BITS;
        if pos_zoom >= pz {
            let d = pos_zoom - pz;
            (fx >> d, fy >> d)
        } else {
            let d = pz - pos_zoom;
            let half = (1i64 << d) >> 1;
            ((fx << d) + half, (fy << d) + half)
        }
    }
}

impl PartialEq for Pyramid {
    /// Same levels, cells, totals and (current) visited counts.
    fn eq(&self, other: &Self) -> bool {
        self.levels.len() == other.levels.len()
            && self.levels.iter().zip(&other.levels).all(|(a, b)| {
                a.zoom == b.zoom
                    && a.keys == b.keys
                    && a.totals == b.totals
                    && a.offsets == b.offsets
                    && (0..a.keys.len()).all(|i| a.counts(i) == b.counts(i))
            })
    }
}

impl std::fmt::Debug for Pyramid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pyramid")
            .field("levels", &self.level_sizes())
            .field("heap_bytes", &self.heap_bytes())
            .finish()
    }
}

/// Encodes overview cells as an MVT tile with one layer `overview` of point features (id: the
/// cell's key) with properties `buildings`, `households`, `visited_buildings`,
/// `visited_households` and `visited_share` (0–1, of households). Empty when `cells` is.
///
/// # Performance
/// About 1 µs per cell: 1,024 cells (32 per side) encode in ~1 ms to ~50 KiB.
pub fn overview_mvt(tile: TileId, cells: &[OverviewCell]) -> Vec<u8> {
    let points: Vec<Geometry> = cells
        .iter()
        .map(|c| Geometry::Point(Point(c.centre)))
        .collect();
    let features = cells
        .iter()
        .zip(&points)
        .map(|(c, g)| Feature {
            id: c.key,
            geometry: g.into(),
            properties: vec![
                ("buildings", Value::Int(i64::from(c.buildings))),
                ("households", Value::Int(i64::from(c.households))),
                (
                    "visited_buildings",
                    Value::Int(i64::from(c.visited_buildings)),
                ),
                (
                    "visited_households",
                    Value::Int(i64::from(c.visited_households)),
                ),
                ("visited_share", Value::Double(c.visited_share())),
            ],
        })
        .collect();
    let layers = [Layer {
        name: "overview",
        features,
    }];
    encode(tile, &layers, &EncodeOptions::default())
}

/// Adds (`up`) or removes `delta` from `cell`, staying within `0..=total`.
fn shift(cell: &AtomicU32, total: u32, delta: u32, up: bool) {
    // The closure always returns Some, so this cannot fail.
    let _ = cell.fetch_update(Relaxed, Relaxed, |v| {
        Some(if up {
            v.saturating_add(delta).min(total)
        } else {
            v.saturating_sub(delta)
        })
    });
}

/// The Morton key of the cell of zoom [`POSITION_ZOOM`] holding `c` (the finest cell's key
/// shifted left by `2 OFFSET_BITS`, plus the sub-cell), or `None` for a non-finite coordinate.
fn position_key(c: Coord) -> Option<u64> {
    if !c.x.is_finite() || !c.y.is_finite() {
        return None;
    }
    let (fx, fy) = world_fraction(c);
    let n = (1u64 << POSITION_ZOOM) as f64;
    let max = (1u64 << POSITION_ZOOM) - 1;
    let idx = |v: f64| -> u32 {
        if v.is_nan() || v <= 0.0 {
            0
        } else {
            // `as` saturates; `max` < 2^28.
            (v.floor() as u64).min(max) as u32
        }
    };
    Some(morton(idx(fx * n), idx(fy * n)))
}

/// Spreads the 32 bits of `v` to the even bits of a `u64`.
#[inline]
fn spread_bits(v: u32) -> u64 {
    let mut x = u64::from(v);
    x = (x | (x << 16)) & 0x0000_ffff_0000_ffff;
    x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff;
    x = (x | (x << 4)) & 0x0f0f_0f0f_0f0f_0f0f;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    x = (x | (x << 1)) & 0x5555_5555_5555_5555;
    x
}

/// The inverse of [`spread_bits`]: gathers the even bits of `x`.
#[inline]
fn gather_bits(x: u64) -> u32 {
    let mut x = x & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0f0f_0f0f_0f0f_0f0f;
    x = (x | (x >> 4)) & 0x00ff_00ff_00ff_00ff;
    x = (x | (x >> 8)) & 0x0000_ffff_0000_ffff;
    x = (x | (x >> 16)) & 0x0000_0000_ffff_ffff;
    x as u32
}

/// Morton (Z-order) code of column `x`, row `y`: `x` in the even bits, `y` in the odd ones.
#[inline]
fn morton(x: u32, y: u32) -> u64 {
    spread_bits(x) | (spread_bits(y) << 1)
}

/// Column and row of a Morton code.
#[inline]
fn demorton(key: u64) -> (u32, u32) {
    (gather_bits(key), gather_bits(key >> 1))
}

/// Keys `[start, end)` at cell zoom `s` of the tile `(z, x, y)`, or of the one cell holding it
/// when the tile is finer than the level.
fn key_range(s: u8, z: u8, x: u32, y: u32) -> (u64, u64) {
    let m = morton(x, y);
    if s >= z {
        let k = 2 * u32::from(s - z);
        (m << k, (m + 1) << k)
    } else {
        let a = m >> (2 * u32::from(z - s));
        (a, a + 1)
    }
}

/// Key ranges at cell zoom `s`, sorted and disjoint, covering `tile` and `margin` grid cells
/// (zoom `z + 6`) around it: the tile itself and the sub-tiles of zoom `z + 3` (8 × 8 grid
/// cells) around it that the margin reaches, clipped to the world (no wrap).
fn neighbourhood(tile: TileId, s: u8, margin: usize) -> Vec<(u64, u64)> {
    const SUB_BITS: u8 = 3;
    let sub = 1i64 << SUB_BITS; // sub-tiles per tile side
    let cells_per_sub = (GRID as i64) >> SUB_BITS;
    let ring = (margin as i64 + cells_per_sub - 1) / cells_per_sub;
    let zs = tile.z + SUB_BITS;
    let n = 1i64 << zs;
    let (x0, y0) = (i64::from(tile.x) * sub, i64::from(tile.y) * sub);
    let mut ranges = vec![key_range(s, tile.z, tile.x, tile.y)];
    for sy in (y0 - ring).max(0)..(y0 + sub + ring).min(n) {
        for sx in (x0 - ring).max(0)..(x0 + sub + ring).min(n) {
            let inside = (x0..x0 + sub).contains(&sx) && (y0..y0 + sub).contains(&sy);
            if !inside {
                // In range: 0 ≤ sx, sy < 2^zs ≤ 2^27.
                ranges.push(key_range(s, zs, sx as u32, sy as u32));
            }
        }
    }
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

/// The quartic kernel tabulated on whole-cell offsets (`CELL_PX` pixels each).
struct CellKernel {
    reach: usize,
    /// `(2 reach + 1)²` weights, row-major, centre at `(reach, reach)`.
    table: Vec<f32>,
}

impl CellKernel {
    fn new(radius_cells: f32, reach: usize) -> Self {
        let side = 2 * reach + 1;
        let k = |x: f32, y: f32| {
            let u2 = (x * x + y * y) / (radius_cells * radius_cells);
            if u2 < 1.0 {
                (1.0 - u2) * (1.0 - u2)
            } else {
                0.0
            }
        };
        let mut table = zeros::<f32>(side * side);
        for dy in 0..side {
            for dx in 0..side {
                let (x, y) = (dx as f32 - reach as f32, dy as f32 - reach as f32);
                let lap =
                    k(x + 1.0, y) + k(x - 1.0, y) + k(x, y + 1.0) + k(x, y - 1.0) - 4.0 * k(x, y);
                table[dy * side + dx] = k(x, y) - SHARPEN * lap;
            }
        }
        CellKernel { reach, table }
    }

    /// Density at the `NODES × NODES` cell centres (cells −1..=64) from bins of `side × side`
    /// cells starting at cell `−margin`.
    ///
    /// Gathered a node row at a time: for each kernel weight, the bins of one row shifted by
    /// its column are added along the whole node row (contiguous, so vectorised), where
    /// spreading each bin over its own short kernel rows was not. Rows of bins that are all
    /// empty are skipped. A tenth of a reading thread's time under a campaign's load went to
    /// the scattered form.
    fn spread(&self, bins: &[f32], side: usize, margin: usize) -> Vec<f32> {
        let r = self.reach as isize;
        let kside = 2 * self.reach + 1;
        let (side_i, margin_i) = (side as isize, margin as isize);
        let occupied: Vec<bool> = bins
            .chunks_exact(side)
            .map(|row| row.iter().any(|&w| w != 0.0))
            .collect();
        let mut nodes = zeros::<f32>(NODES * NODES);
        for (ny, dst) in nodes.chunks_exact_mut(NODES).enumerate() {
            let ny = ny as isize;
            // Bin `b` is the cell of node `b − margin + 1`: its row reaches nodes within `r`.
            let by0 = (ny - r - 1 + margin_i).max(0);
            let by1 = (ny + r - 1 + margin_i).min(side_i - 1);
            for by in by0..=by1 {
                if !occupied[by as usize] {
                    continue;
                }
                let row = &bins[by as usize * side..(by as usize + 1) * side];
                let krow = (ny - (by + 1 - margin_i) + r) as usize;
                let weights = &self.table[krow * kside..(krow + 1) * kside];
                for (kx, &k) in weights.iter().enumerate() {
                    if k == 0.0 {
                        continue;
                    }
                    // Node nx takes bin nx + off with this weight.
                    let off = margin_i + r - 1 - kx as isize;
                    let nx0 = (-off).max(0);
                    let nx1 = (side_i - off).min(NODES as isize);
                    if nx0 >= nx1 {
                        continue;
                    }
                    let (nx0, nx1) = (nx0 as usize, nx1 as usize);
                    let src = &row[(nx0 as isize + off) as usize..(nx1 as isize + off) as usize];
                    for (d, &w) in dst[nx0..nx1].iter_mut().zip(src) {
                        *d += k * w;
                    }
                }
            }
        }
        nodes
    }
}

/// Bilinear interpolation of the `NODES²` cell-centre densities to the 256 × 256 pixels.
///
/// Pixel `p` (centre `p + 0.5` px) lies at cell coordinate `(p − 1.5) / 4`, between the nodes
/// of cells `⌊·⌋` and `⌊·⌋ + 1`.
fn upsample(nodes: &[f32]) -> Vec<f32> {
    let size = HEATMAP_SIZE as usize;
    let taps: Vec<(usize, f32)> = (0..size)
        .map(|p| {
            let t = (p as f32 + 0.5) / CELL_PX - 0.5 + 1.0; // in node units
            let i = t.floor();
            (i as usize, t - i)
        })
        .collect();
    // Rows first: NODES rows of 256 values.
    let mut rows = zeros::<f32>(NODES * size);
    for ny in 0..NODES {
        let src = &nodes[ny * NODES..(ny + 1) * NODES];
        let dst = &mut rows[ny * size..(ny + 1) * size];
        for (d, &(i, f)) in dst.iter_mut().zip(&taps) {
            *d = src[i] + f * (src[i + 1] - src[i]);
        }
    }
    let mut out = zeros::<f32>(size * size);
    for (py, &(i, f)) in taps.iter().enumerate() {
        let (a, b) = (
            &rows[i * size..(i + 1) * size],
            &rows[(i + 1) * size..(i + 2) * size],
        );
        for ((d, &a), &b) in out[py * size..(py + 1) * size].iter_mut().zip(a).zip(b) {
            // Clamp the rounding dust of interpolating between zero and a positive node.
            *d = (a + f * (b - a)).max(0.0);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The lon/lat of pixel position (px, py) of `tile`.
    fn lonlat_of_pixel(tile: TileId, px: f64, py: f64) -> Coord {
        let n = f64::from(1u32 << tile.z);
        Coord {
            x: lon_of((f64::from(tile.x) + px / 256.0) / n),
            y: lat_of((f64::from(tile.y) + py / 256.0) / n),
        }
    }

    #[test]
    fn a_lone_point_of_weight_one_peaks_at_one_on_its_pixel() {
        for z in [9u8, 13, 16, 17, 18] {
            let tile = TileId::containing(Coord { x: 121.5, y: 31.2 }, z).unwrap();
            for (px, py) in [(100.5, 60.5), (102.2, 3.9), (0.5, 255.5)] {
                let at = lonlat_of_pixel(tile, px, py);
                let pyr = Pyramid::build(&[CountPoint {
                    at,
                    weight: 1,
                    visited: true,
                }]);
                let i = py as usize * 256 + px as usize;
                for (budget, tolerance) in [(usize::MAX, 1e-6), (0, 0.05)] {
                    let [d, none] = pyr.densities_with(tile, 24.0, true, true, budget);
                    assert!(none.is_none());
                    let d = d.unwrap();
                    assert!(
                        (d[i] - 1.0).abs() <= tolerance,
                        "z{z} ({px}, {py}): {}",
                        d[i]
                    );
                    assert!(d.iter().all(|&v| v <= 1.0 + tolerance));
                }
            }
        }
    }

    /// Deterministic clustered points: `blobs` Gaussian blobs of σ 20–100 m over a square of
    /// `span_m` metres around 121.5 E 31.2 N.
    fn district(n: usize, blobs: usize, span_m: f64, seed: u64) -> Vec<CountPoint> {
        let mut state = seed;
        let mut next = move || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let mut f = move || (next() >> 11) as f64 / (1u64 << 53) as f64;
        let m_lat = 1.0 / 111_320.0;
        let m_lon = m_lat / 31.2f64.to_radians().cos();
        let centres: Vec<(f64, f64, f64, f64)> = (0..blobs)
            .map(|_| {
                (
                    (f() - 0.5) * span_m,
                    (f() - 0.5) * span_m,
                    20.0 + 80.0 * f(),
                    f(),
                )
            })
            .collect();
        (0..n)
            .map(|_| {
                let (x, y, sigma, rate) = centres[(f() * blobs as f64) as usize % blobs];
                let (u, v) = (f().max(1e-12), f());
                let r = sigma * (-2.0 * u.ln()).sqrt();
                let a = std::f64::consts::TAU * v;
                let weight = if f() < 0.8 {
                    1 + (f() * 4.0) as u32
                } else {
                    5 + (f() * 40.0) as u32
                };
                CountPoint {
                    at: Coord {
                        x: 121.5 + (x + r * a.cos()) * m_lon,
                        y: 31.2 + (y + r * a.sin()) * m_lat,
                    },
                    weight,
                    visited: f() < rate,
                }
            })
            .collect()
    }

    /// `(location, households)` pairs, as heatmap.rs takes them.
    type Weighted = Vec<(Coord, f64)>;

    /// Visited and unvisited `(location, households)` lists, as the server feeds heatmap.rs.
    fn split(points: &[CountPoint]) -> (Weighted, Weighted) {
        let pick = |v: bool| {
            points
                .iter()
                .filter(|p| p.visited == v)
                .map(|p| (p.at, f64::from(p.weight)))
                .collect()
        };
        (pick(true), pick(false))
    }

    /// Points scattered over a few zoom-12 tiles, with duplicates, points on tile corners
    /// and at the edges of the world.
    fn awkward_points(n: usize, seed: u64) -> Vec<CountPoint> {
        let mut pts = district(n, 7, 3_000.0, seed);
        let t = TileId::containing(pts[0].at, 14).unwrap();
        let b = t.bounds_lonlat();
        for (i, c) in [
            b.min(),
            b.max(),
            b.center(),
            Coord {
                x: b.min().x,
                y: b.max().y,
            },
        ]
        .into_iter()
        .enumerate()
        {
            for k in 0..3 {
                pts.push(CountPoint {
                    at: c,
                    weight: 1 + i as u32 + k,
                    visited: k == 1,
                });
            }
        }
        let dup = pts[5];
        pts.push(dup);
        for (x, y) in [
            (-180.0, 90.0),
            (180.0, -90.0),
            (179.999_999, 85.0),
            (-200.0, 0.0),
            (0.0, 0.0),
        ] {
            pts.push(CountPoint {
                at: Coord { x, y },
                weight: 2,
                visited: x > 0.0,
            });
        }
        pts
    }

    #[test]
    fn fenced_searches_find_what_a_search_of_every_key_finds() {
        for n in [0usize, 1, 2, 63, 64, 65, 127, 128, 129, 1_000, 4_097] {
            // Keys with gaps and runs of neighbours, so that searched keys fall on posts,
            // between posts, before the first key and after the last.
            let keys: Vec<u64> = (0..n as u64).map(|i| 3 * i + (i % 7) / 3).collect();
            let level = Level {
                zoom: FINEST,
                keys: keys.clone(),
                totals: vec![[1, 1]; n],
                visited: (0..n)
                    .map(|_| [AtomicU32::new(0), AtomicU32::new(0)])
                    .collect(),
                offsets: Vec::new(),
                fence: Vec::new(),
            }
            .with_fence();
            let last = keys.last().copied().unwrap_or(0);
            for key in 0..=last + 3 {
                assert_eq!(
                    level.first_at_least(key),
                    keys.partition_point(|&k| k < key),
                    "{n} keys, key {key}"
                );
            }
            assert_eq!(level.range(0, last + 1), 0..n);
        }
    }

    #[test]
    fn morton_codes_round_trip_and_tiles_are_key_ranges() {
        for &(x, y) in &[
            (0u32, 0u32),
            (1, 0),
            (0, 1),
            (12345, 67890),
            ((1 << 28) - 1, (1 << 28) - 3),
        ] {
            assert_eq!(demorton(morton(x, y)), (x, y));
        }
        // Every cell of a tile's key range lies in the tile, and the range is the whole tile.
        let (z, x, y) = (5u8, 17u32, 9u32);
        let (a, b) = key_range(9, z, x, y);
        assert_eq!(b - a, 1 << (2 * 4));
        for k in a..b {
            let (cx, cy) = demorton(k);
            assert_eq!((cx >> 4, cy >> 4), (x, y));
        }
        // A tile finer than the level maps to the one cell holding it.
        assert_eq!(key_range(3, 5, 17, 9), (morton(4, 2), morton(4, 2) + 1));
    }

    #[test]
    fn counts_in_every_tile_at_every_level_match_a_brute_force_count() {
        use std::collections::HashMap;
        let pts = awkward_points(3_000, 11);
        let pyr = Pyramid::build(&pts);
        assert_eq!(pyr.levels.len(), usize::from(FINEST - COARSEST + 1));
        let all = |p: &CountPoint| {
            let w = u64::from(p.weight);
            [1, w, u64::from(p.visited), if p.visited { w } else { 0 }]
        };
        for z in 0..=FINEST {
            let mut brute: HashMap<TileId, [u64; 4]> = HashMap::new();
            for p in &pts {
                let e = brute
                    .entry(TileId::containing(p.at, z).unwrap())
                    .or_default();
                for (a, b) in e.iter_mut().zip(all(p)) {
                    *a += b;
                }
            }
            for level in pyr.levels.iter().filter(|l| l.zoom >= z) {
                let mut seen = [0u64; 4];
                for (tile, want) in &brute {
                    let (a, b) = key_range(level.zoom, z, tile.x, tile.y);
                    let mut got = [0u64; 4];
                    for i in level.range(a, b) {
                        for (g, c) in got.iter_mut().zip(level.counts(i)) {
                            *g += u64::from(c);
                        }
                    }
                    assert_eq!(&got, want, "tile {tile} in level {}", level.zoom);
                    for (s, g) in seen.iter_mut().zip(got) {
                        *s += g;
                    }
                }
                // Nothing lies outside the tiles holding points.
                let total: [u64; 4] = (0..level.keys.len()).fold([0; 4], |mut t, i| {
                    for (a, c) in t.iter_mut().zip(level.counts(i)) {
                        *a += u64::from(c);
                    }
                    t
                });
                assert_eq!(seen, total, "z {z}, level {}", level.zoom);
            }
        }
        // Non-finite points are left out; everything else is counted once per level.
        let mut with_nan = pts.clone();
        with_nan.push(CountPoint {
            at: Coord {
                x: f64::NAN,
                y: 0.0,
            },
            weight: 9,
            visited: true,
        });
        assert_eq!(Pyramid::build(&with_nan), pyr);
    }

    #[test]
    fn set_visited_moves_exactly_one_building_and_its_weight_in_every_level() {
        let pts = awkward_points(2_000, 5);
        let pyr = Pyramid::build(&pts);
        let p = pts
            .iter()
            .find(|p| !p.visited && p.weight > 1)
            .copied()
            .unwrap();
        let before: Vec<Vec<[u32; 4]>> = pyr
            .levels
            .iter()
            .map(|l| (0..l.keys.len()).map(|i| l.counts(i)).collect())
            .collect();
        assert!(pyr.set_visited(p.at, p.weight, true));
        let key = position_key(p.at).unwrap() >> (2 * OFFSET_BITS);
        for (level, old) in pyr.levels.iter().zip(&before) {
            let home = level
                .keys
                .binary_search(&(key >> (2 * u32::from(FINEST - level.zoom))))
                .unwrap();
            for (i, o) in old.iter().enumerate() {
                let mut want = *o;
                if i == home {
                    want[2] += 1;
                    want[3] += p.weight;
                }
                assert_eq!(level.counts(i), want, "level {} cell {i}", level.zoom);
            }
        }
        assert!(pyr.set_visited(p.at, p.weight, false));
        assert_eq!(pyr, Pyramid::build(&pts));
        // A place where no point was built changes nothing.
        assert!(!pyr.set_visited(Coord { x: 10.0, y: 10.0 }, 3, true));
        assert!(!pyr.set_visited(
            Coord {
                x: f64::NAN,
                y: 10.0
            },
            3,
            true
        ));
        assert_eq!(pyr, Pyramid::build(&pts));
        // Redundant calls saturate instead of wrapping.
        let q = pts.iter().find(|p| p.visited).copied().unwrap();
        for _ in 0..3 {
            pyr.set_visited(q.at, q.weight, true);
        }
        for level in &pyr.levels {
            for i in 0..level.keys.len() {
                let [b, h, vb, vh] = level.counts(i);
                assert!(vb <= b && vh <= h);
            }
        }
    }

    /// Max |ΔD| relative to the tile's peak (and absolute), share of pixels whose colour (visited scale)
    /// differs by more than 4 in a channel, and for coverage the share of pixels whose visited
    /// share differs by more than 0.05 (or that one side paints and the other doesn't).
    fn compare(
        pyr: &Pyramid,
        tile: TileId,
        v: &[(Coord, f64)],
        u: &[(Coord, f64)],
        budget: usize,
    ) -> (f32, f32, f64, f64) {
        let zero = || vec![0f32; 256 * 256];
        let [dv, du] = pyr.densities_with(tile, 24.0, true, true, budget);
        let (dv, du) = (dv.unwrap_or_else(zero), du.unwrap_or_else(zero));
        let (ev, eu) = (
            crate::heatmap::density(tile, v, 24.0),
            crate::heatmap::density(tile, u, 24.0),
        );
        let peak = ev.iter().fold(1f32, |a, &b| a.max(b));
        let scale = ColorScale::visited();
        let paint = |d: f32| {
            if d > 0.0 {
                scale.color(f64::from(d))
            } else {
                [0; 4]
            }
        };
        let (mut abs, mut off, mut share_off) = (0f32, 0usize, 0usize);
        for i in 0..256 * 256 {
            abs = abs.max((dv[i] - ev[i]).abs());
            let (a, b) = (paint(ev[i]), paint(dv[i]));
            if a.iter().zip(&b).any(|(x, y)| x.abs_diff(*y) > 4) {
                off += 1;
            }
            let (ta, tb) = (ev[i] + eu[i], dv[i] + du[i]);
            match (ta > 1e-6, tb > 1e-6) {
                (true, true) => {
                    if (ev[i] / ta - dv[i] / tb).abs() > 0.05 {
                        share_off += 1;
                    }
                }
                (false, false) => {}
                _ => share_off += 1,
            }
        }
        let n = (256 * 256) as f64;
        (abs / peak, abs, off as f64 / n, share_off as f64 / n)
    }

    /// The lattice spread, gathered by node rows, adds what spreading each bin over the
    /// nodes within its kernel adds (to f32 rounding): bins sparse and dense, kernels of
    /// several radii, and weights in the margin whose kernel only partly reaches the nodes.
    #[test]
    fn the_cell_kernel_gathers_what_each_bin_spreads() {
        for (radius, seed) in [(1.5f32, 1u64), (6.0, 2), (6.0, 3), (12.5, 4)] {
            let reach = (radius).ceil() as usize + 1;
            let margin = reach + 1;
            let side = GRID + 2 * margin;
            let kernel = CellKernel::new(radius, reach);
            let mut state = seed;
            let mut next = || {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 33) as u32
            };
            let dense = seed % 2 == 0;
            let bins: Vec<f32> = (0..side * side)
                .map(|_| {
                    let v = next();
                    if dense || v % 23 == 0 {
                        (v % 1000) as f32 / 7.0
                    } else {
                        0.0
                    }
                })
                .collect();
            // Each bin over the nodes within its kernel, as the lattice is defined.
            let r = reach as isize;
            let mut want = vec![0f64; NODES * NODES];
            for by in 0..side as isize {
                for bx in 0..side as isize {
                    let w = f64::from(bins[by as usize * side + bx as usize]);
                    let (cx, cy) = (bx + 1 - margin as isize, by + 1 - margin as isize);
                    for ny in (cy - r).max(0)..=(cy + r).min(NODES as isize - 1) {
                        for nx in (cx - r).max(0)..=(cx + r).min(NODES as isize - 1) {
                            let k = kernel.table
                                [(ny - cy + r) as usize * (2 * reach + 1) + (nx - cx + r) as usize];
                            want[ny as usize * NODES + nx as usize] += w * f64::from(k);
                        }
                    }
                }
            }
            let got = kernel.spread(&bins, side, margin);
            let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (f64::from(*g) - w).abs() <= 1e-5 * scale,
                    "radius {radius}, node {i}: {g} against {w}"
                );
            }
        }
    }

    #[test]
    fn exact_tiles_are_heatmap_png_and_lattice_tiles_stay_within_the_stated_error() {
        let pts = district(40_000, 400, 6_000.0, 3);
        let (v, u) = split(&pts);
        let pyr = Pyramid::build(&pts);
        for z in 8..=18u8 {
            let (mut rel, mut abs, mut off, mut share_off, mut n) = (0f32, 0f32, 0f64, 0f64, 0.0);
            let (mut exact_rel, mut exact_off) = (0f32, 0f64);
            for p in pts.iter().step_by(4001) {
                let tile = TileId::containing(p.at, z).unwrap();
                // Exactly: the same bins and sums as heatmap.rs up to z16; zoom 17 and 18 read
                // the finest cells' mean positions, exact for cells of one building only.
                let (e, _, o, _) = compare(&pyr, tile, &v, &u, usize::MAX);
                if z <= 16 {
                    assert!(
                        e < 1e-5,
                        "z{z} {tile}: exact mode differs by {e} of the peak"
                    );
                }
                exact_rel = exact_rel.max(e);
                exact_off += o;
                let (r, a, o, s) = compare(&pyr, tile, &v, &u, 0);
                rel = rel.max(r);
                abs = abs.max(a);
                off += o;
                share_off += s;
                n += 1.0;
            }
            let (off, share_off, exact_off) = (off / n, share_off / n, exact_off / n);
            eprintln!(
                "exact z{z}: max |ΔD| {:.3} % of the peak, visited colour off by > 4: {:.3} %",
                100.0 * exact_rel,
                100.0 * exact_off
            );
            assert!(
                exact_rel < 0.02 && exact_off < 0.01,
                "z{z}: {exact_rel} {exact_off}"
            );
            eprintln!(
                "lattice z{z}: max |ΔD| {:.2} % of the peak ({abs:.2}), visited colour off by > 4: {:.2} %, coverage share off by > 0.05: {:.2} %",
                100.0 * rel,
                100.0 * off,
                100.0 * share_off
            );
            assert!(rel < 0.05, "z{z}: {rel}");
            assert!(off < 0.12, "z{z}: {off}");
            assert!(share_off < 0.04, "z{z}: {share_off}");
        }
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// After any sequence of status changes the pyramid equals one built from the final
        /// statuses.
        #[test]
        fn set_visited_sequences_end_where_a_fresh_build_starts(
            spots in prop::collection::vec((0u32..40, 0u32..40, 1u32..50, any::<bool>()), 1..60),
            flips in prop::collection::vec(any::<prop::sample::Index>(), 0..120),
        ) {
            // Points on a 40 × 40 grid of ~1 m steps: many share a finest cell or a pixel.
            let mut pts: Vec<CountPoint> = spots
                .iter()
                .map(|&(x, y, w, v)| CountPoint {
                    at: Coord { x: 121.5 + f64::from(x) * 1e-5, y: 31.2 + f64::from(y) * 1e-5 },
                    weight: w,
                    visited: v,
                })
                .collect();
            let pyr = Pyramid::build(&pts);
            for f in flips {
                let p = &mut pts[f.index(spots.len())];
                p.visited = !p.visited;
                prop_assert!(pyr.set_visited(p.at, p.weight, p.visited));
            }
            prop_assert_eq!(&pyr, &Pyramid::build(&pts));
        }
    }
}
