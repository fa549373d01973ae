//! The count pyramid against the per-request heatmap on 1,000,000 clustered buildings.
//!
//! Points: 10,000 blobs (Gaussian, σ 40–200 m, ~100 buildings each) scattered over a 30 km ×
//! 30 km district around 121.5° E 31.2° N; households 1–4 for most buildings, up to 120 for a
//! few blocks; each blob visited at its own rate. Timed: the build, `heap_bytes`, 10,000
//! `set_visited`, and per zoom the p50/p99 of uncached heatmap tiles (coverage, the costliest
//! kind: two densities) over random tiles under the data, from the pyramid and from the current
//! `coverage_png` fed by a grid-bucket index (as the server's R-tree would; the selection is
//! timed too), their ratio and how many pixels' colours differ by more than 4 units; then the
//! overview tiles z8–z13 (32 × 32 cells, `overview` + `overview_mvt`).
//!
//! ```sh
//! cargo run --release -p gridmap-tiles --example pyramid_bench [-- POINTS [TILES [BASELINE_TILES]]]
//! ```

use std::time::{Duration, Instant};

use geo::Coord;
use gridmap_tiles::{
    ColorScale, CountPoint, HeatKind, Pyramid, TileId, coverage_png, heatmap_png, overview_mvt,
};

/// A small deterministic PRNG (SplitMix64), so the example needs no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn f(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.f().max(1e-12), self.f());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

const CENTRE: Coord = Coord { x: 121.5, y: 31.2 };
const SPAN_M: f64 = 30_000.0;
const BLOBS: usize = 10_000;
const RADIUS_PX: f32 = 24.0;

fn district(n: usize) -> Vec<CountPoint> {
    let mut rng = Rng(7);
    let m_lat = 1.0 / 111_320.0;
    let m_lon = m_lat / CENTRE.y.to_radians().cos();
    let blobs: Vec<(f64, f64, f64, f64)> = (0..BLOBS)
        .map(|_| {
            let x = (rng.f() - 0.5) * SPAN_M;
            let y = (rng.f() - 0.5) * SPAN_M;
            let sigma = 40.0 + 160.0 * rng.f();
            let rate = rng.f();
            (x, y, sigma, rate)
        })
        .collect();
    (0..n)
        .map(|_| {
            let (bx, by, sigma, rate) = blobs[(rng.next() % BLOBS as u64) as usize];
            let x = bx + sigma * rng.normal();
            let y = by + sigma * rng.normal();
            let r = rng.f();
            let weight = if r < 0.7 {
                1 + (rng.next() % 4) as u32
            } else if r < 0.95 {
                5 + (rng.next() % 26) as u32
            } else {
                30 + (rng.next() % 91) as u32
            };
            CountPoint {
                at: Coord {
                    x: CENTRE.x + x * m_lon,
                    y: CENTRE.y + y * m_lat,
                },
                weight,
                visited: rng.f() < rate,
            }
        })
        .collect()
}

/// `(location, households)` pairs, as heatmap.rs takes them.
type Weighted = Vec<(Coord, f64)>;

/// Points bucketed on a lon/lat grid, for the baseline's selection.
struct Buckets {
    x0: f64,
    y0: f64,
    cell: f64,
    cols: usize,
    rows: usize,
    cells: Vec<Vec<u32>>,
}

impl Buckets {
    fn new(points: &[CountPoint]) -> Buckets {
        let cell = 0.002;
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for p in points {
            x0 = x0.min(p.at.x);
            y0 = y0.min(p.at.y);
            x1 = x1.max(p.at.x);
            y1 = y1.max(p.at.y);
        }
        let cols = ((x1 - x0) / cell) as usize + 1;
        let rows = ((y1 - y0) / cell) as usize + 1;
        let mut cells = vec![Vec::new(); cols * rows];
        for (i, p) in points.iter().enumerate() {
            let c = ((p.at.x - x0) / cell) as usize;
            let r = ((p.at.y - y0) / cell) as usize;
            cells[r * cols + c].push(i as u32);
        }
        Buckets {
            x0,
            y0,
            cell,
            cols,
            rows,
            cells,
        }
    }

    /// The visited and unvisited `(location, households)` within the tile and its kernel margin.
    fn select(&self, points: &[CountPoint], tile: TileId) -> (Weighted, Weighted) {
        let area = tile.buffered_bounds_lonlat((RADIUS_PX as u32) * 16, 4096);
        let idx = |v: f64, o: f64, n: usize| (((v - o) / self.cell).max(0.0) as usize).min(n - 1);
        let (c0, c1) = (
            idx(area.min().x, self.x0, self.cols),
            idx(area.max().x, self.x0, self.cols),
        );
        let (r0, r1) = (
            idx(area.min().y, self.y0, self.rows),
            idx(area.max().y, self.y0, self.rows),
        );
        let (mut v, mut u) = (Vec::new(), Vec::new());
        for r in r0..=r1 {
            for c in c0..=c1 {
                for &i in &self.cells[r * self.cols + c] {
                    let p = &points[i as usize];
                    let inside = area.min().x <= p.at.x
                        && p.at.x <= area.max().x
                        && area.min().y <= p.at.y
                        && p.at.y <= area.max().y;
                    if inside {
                        let w = (p.at, f64::from(p.weight));
                        if p.visited { v.push(w) } else { u.push(w) }
                    }
                }
            }
        }
        (v, u)
    }
}

fn pct(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

fn decode(png_bytes: &[u8]) -> Vec<u8> {
    let mut dec = png::Decoder::new(std::io::Cursor::new(png_bytes));
    dec.set_transformations(png::Transformations::EXPAND); // palette to RGBA
    let mut reader = dec.read_info().expect("a PNG we wrote");
    let mut buf = vec![0; reader.output_buffer_size().expect("small image")];
    let info = reader.next_frame(&mut buf).expect("a PNG we wrote");
    buf.truncate(info.buffer_size());
    buf
}

fn random_tiles(rng: &mut Rng, points: &[CountPoint], z: u8, n: usize) -> Vec<TileId> {
    (0..n)
        .map(|_| {
            let p = &points[(rng.next() % points.len() as u64) as usize];
            TileId::containing(p.at, z).expect("zoom in range")
        })
        .collect()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let tiles_per_zoom: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(500);
    let baseline_per_zoom: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(30);
    println!(
        "{n} points in {BLOBS} blobs over {} km × {} km around {} E {} N; rayon threads: {}",
        SPAN_M / 1e3,
        SPAN_M / 1e3,
        CENTRE.x,
        CENTRE.y,
        rayon::current_num_threads()
    );
    let points = district(n);

    let t = Instant::now();
    let pyramid = Pyramid::build(&points);
    let build = t.elapsed();
    println!(
        "build: {:.0} ms; heap_bytes: {} ({:.1} MB); cells per level (zoom, cells): {:?}",
        build.as_secs_f64() * 1e3,
        pyramid.heap_bytes(),
        pyramid.heap_bytes() as f64 / 1e6,
        pyramid.level_sizes()
    );

    let mut rng = Rng(99);
    let visits = 10_000.min(points.len());
    let t = Instant::now();
    for _ in 0..visits {
        let p = &points[(rng.next() % points.len() as u64) as usize];
        // Toggle and toggle back, so the data stays as built.
        pyramid.set_visited(p.at, p.weight, !p.visited);
        pyramid.set_visited(p.at, p.weight, p.visited);
    }
    println!(
        "set_visited: {:.2} µs a call ({} calls)",
        t.elapsed().as_secs_f64() * 1e6 / (2 * visits) as f64,
        2 * visits
    );

    let buckets = Buckets::new(&points);
    let cov = ColorScale::coverage();
    let vis = ColorScale::visited();
    println!();
    println!(
        "Heatmap tiles (coverage, radius {RADIUS_PX} px; pyramid over {tiles_per_zoom} random tiles, baseline over {baseline_per_zoom})"
    );
    println!(
        "| zoom | pyramid p50 ms | pyramid p99 ms | visited p50 / p99 ms | baseline p50 ms | baseline p99 ms | p50 ratio | pixels off by > 4: coverage / visited |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for z in 8..=18u8 {
        let tiles = random_tiles(&mut rng, &points, z, tiles_per_zoom);
        let mut times = Vec::with_capacity(tiles.len());
        let mut vtimes = Vec::with_capacity(tiles.len());
        for &tile in &tiles {
            let t = Instant::now();
            let png = pyramid.heatmap_png(tile, HeatKind::Coverage, RADIUS_PX, &cov);
            times.push(t.elapsed());
            std::hint::black_box(png);
            let t = Instant::now();
            let png = pyramid.heatmap_png(tile, HeatKind::Visited, RADIUS_PX, &vis);
            vtimes.push(t.elapsed());
            std::hint::black_box(png);
        }
        times.sort();
        vtimes.sort();
        let mut base = Vec::new();
        let (mut off, mut voff, mut total) = (0usize, 0usize, 0usize);
        for &tile in tiles.iter().take(baseline_per_zoom) {
            let t = Instant::now();
            let (v, u) = buckets.select(&points, tile);
            let png = coverage_png(tile, &v, &u, RADIUS_PX, &cov);
            base.push(t.elapsed());
            let ours = pyramid.heatmap_png(tile, HeatKind::Coverage, RADIUS_PX, &cov);
            let off_by = |png: &[u8], ours: Option<Vec<u8>>| {
                let a = decode(png);
                let b = ours.map(|p| decode(&p)).unwrap_or_else(|| vec![0; a.len()]);
                a.chunks_exact(4)
                    .zip(b.chunks_exact(4))
                    .filter(|(pa, pb)| pa.iter().zip(*pb).any(|(x, y)| x.abs_diff(*y) > 4))
                    .count()
            };
            total += 256 * 256;
            off += off_by(&png, ours);
            let vpng = heatmap_png(tile, &v, RADIUS_PX, &vis);
            voff += off_by(
                &vpng,
                pyramid.heatmap_png(tile, HeatKind::Visited, RADIUS_PX, &vis),
            );
        }
        base.sort();
        println!(
            "| {z} | {:.2} | {:.2} | {:.2} / {:.2} | {:.1} | {:.1} | {:.0}× | {:.2} % / {:.2} % |",
            pct(&times, 0.5),
            pct(&times, 0.99),
            pct(&vtimes, 0.5),
            pct(&vtimes, 0.99),
            pct(&base, 0.5),
            pct(&base, 0.99),
            pct(&base, 0.5) / pct(&times, 0.5),
            100.0 * off as f64 / total.max(1) as f64,
            100.0 * voff as f64 / total.max(1) as f64
        );
    }

    println!();
    println!(
        "Overview tiles (32 × 32 cells: overview + overview_mvt, {tiles_per_zoom} random tiles)"
    );
    println!("| zoom | p50 ms | p99 ms | max cells | max KiB |");
    println!("| ---: | ---: | ---: | ---: | ---: |");
    for z in 8..=13u8 {
        let tiles = random_tiles(&mut rng, &points, z, tiles_per_zoom);
        let mut times = Vec::with_capacity(tiles.len());
        let (mut max_cells, mut max_bytes) = (0, 0);
        for &tile in &tiles {
            let t = Instant::now();
            let cells = pyramid.overview(tile, 32);
            let mvt = overview_mvt(tile, &cells);
            times.push(t.elapsed());
            max_cells = max_cells.max(cells.len());
            max_bytes = max_bytes.max(mvt.len());
        }
        times.sort();
        println!(
            "| {z} | {:.2} | {:.2} | {max_cells} | {:.1} |",
            pct(&times, 0.5),
            pct(&times, 0.99),
            max_bytes as f64 / 1024.0
        );
    }
}
