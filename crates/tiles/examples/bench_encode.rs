//! Uncached vector-tile encoding time on a synthetic town of 1,000,000 small building polygons.
//!
//! Buildings (5–8 vertex footprints, 6–25 m) are scattered over a ~35 km × 35 km area with a dense
//! centre. Per tile the candidates are pre-selected with a simple grid bucket index (as the
//! server's R-tree would), then `encode` runs; both are timed and p50/p99 printed per zoom.
//!
//! ```sh
//! cargo run --release -p gridmap-tiles --example bench_encode [-- BUILDINGS [TILES_PER_ZOOM]]
//! ```

use std::time::{Duration, Instant};

use geo::{Coord, Geometry, LineString, Polygon, Rect};
use gridmap_tiles::{EncodeOptions, Feature, Layer, TileId, Value, encode};

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
}

const ORIGIN: Coord = Coord { x: 120.9, y: 30.9 };
const SPAN_DEG: f64 = 0.35;
const CELL_DEG: f64 = 0.002;

struct Town {
    geoms: Vec<Geometry>,
    bbox: Vec<Rect>,
    grid: Vec<Vec<u32>>,
    cols: usize,
}

fn town(n: usize) -> Town {
    let mut rng = Rng(42);
    let m_lat = 1.0 / 111_320.0;
    let m_lon = m_lat / ORIGIN.y.to_radians().cos();
    let mut geoms = Vec::with_capacity(n);
    let mut bbox = Vec::with_capacity(n);
    for _ in 0..n {
        // Half the buildings in a dense core a fifth of the span wide, half spread out.
        let (u, v) = if rng.f() < 0.5 {
            (0.4 + 0.2 * rng.f(), 0.4 + 0.2 * rng.f())
        } else {
            (rng.f(), rng.f())
        };
        let c = Coord {
            x: ORIGIN.x + u * SPAN_DEG,
            y: ORIGIN.y + v * SPAN_DEG,
        };
        let k = 5 + (rng.next() % 4) as usize;
        let r = 3.0 + 9.0 * rng.f();
        let rot = rng.f() * std::f64::consts::TAU;
        let mut ring: Vec<Coord> = (0..k)
            .map(|i| {
                let a = rot + i as f64 * std::f64::consts::TAU / k as f64;
                let rr = r * (0.8 + 0.2 * rng.f());
                Coord {
                    x: c.x + rr * a.cos() * m_lon,
                    y: c.y + rr * a.sin() * m_lat,
                }
            })
            .collect();
        ring.push(ring[0]);
        let ls = LineString::from(ring);
        let b = geo::BoundingRect::bounding_rect(&ls).expect("a ring has a bbox");
        geoms.push(Geometry::Polygon(Polygon::new(ls, vec![])));
        bbox.push(b);
    }
    let cols = (SPAN_DEG / CELL_DEG).ceil() as usize + 1;
    let mut grid = vec![Vec::new(); cols * cols];
    for (i, b) in bbox.iter().enumerate() {
        let c = b.center();
        grid[cell(c.y - ORIGIN.y) * cols + cell(c.x - ORIGIN.x)].push(i as u32);
    }
    Town {
        geoms,
        bbox,
        grid,
        cols,
    }
}

fn cell(d: f64) -> usize {
    (d / CELL_DEG).floor().max(0.0) as usize
}

impl Town {
    /// Indices of buildings whose bbox intersects `q` (cells padded by one for large footprints).
    fn select(&self, q: Rect, out: &mut Vec<u32>) {
        out.clear();
        let lim = self.cols - 1;
        let x0 = cell(q.min().x - ORIGIN.x).saturating_sub(1).min(lim);
        let x1 = (cell(q.max().x - ORIGIN.x) + 1).min(lim);
        let y0 = cell(q.min().y - ORIGIN.y).saturating_sub(1).min(lim);
        let y1 = (cell(q.max().y - ORIGIN.y) + 1).min(lim);
        if q.max().x < ORIGIN.x || q.max().y < ORIGIN.y {
            return;
        }
        for y in y0..=y1 {
            for x in x0..=x1 {
                for &i in &self.grid[y * self.cols + x] {
                    let b = self.bbox[i as usize];
                    if b.min().x <= q.max().x
                        && b.max().x >= q.min().x
                        && b.min().y <= q.max().y
                        && b.max().y >= q.min().y
                    {
                        out.push(i);
                    }
                }
            }
        }
    }
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1e3
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let per_zoom: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(300);
    let t0 = Instant::now();
    let town = town(n);
    println!(
        "{n} buildings (in random memory order) generated and bucketed in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let grids = ["G01", "G02", "G03", "G04", "G05", "G06", "G07", "G08"];
    let opts = EncodeOptions::default();
    let mut rng = Rng(7);
    let mut sel = Vec::new();
    println!(
        "{:>4} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "zoom",
        "tiles",
        "feat p50",
        "feat max",
        "sel p50",
        "sel p99",
        "enc p50",
        "enc p99",
        "enc max"
    );
    for z in 14..=18u8 {
        let (mut sel_t, mut enc_t, mut feats) = (Vec::new(), Vec::new(), Vec::new());
        let mut bytes = 0usize;
        for _ in 0..per_zoom {
            // Tiles over random buildings: half of them in the dense core.
            let b = &town.bbox[(rng.next() % n as u64) as usize];
            let tile = TileId::containing(b.center(), z).expect("zoom <= 24");
            let s = Instant::now();
            town.select(
                tile.buffered_bounds_lonlat(opts.buffer, opts.extent),
                &mut sel,
            );
            let features: Vec<Feature<'_>> = sel
                .iter()
                .map(|&i| Feature {
                    id: u64::from(i),
                    geometry: (&town.geoms[i as usize]).into(),
                    properties: vec![
                        ("id", Value::Int(i64::from(i))),
                        ("grid", Value::from(grids[i as usize % grids.len()])),
                        ("visited", Value::Bool(i % 3 == 0)),
                    ],
                })
                .collect();
            sel_t.push(s.elapsed());
            feats.push(features.len());
            let layers = [Layer {
                name: "buildings",
                features,
            }];
            let e = Instant::now();
            let mvt = encode(tile, &layers, &opts);
            enc_t.push(e.elapsed());
            bytes += mvt.len();
        }
        feats.sort();
        let enc_max = enc_t.iter().max().map_or(0.0, |d| d.as_secs_f64() * 1e3);
        println!(
            "{z:>4} {per_zoom:>6} {:>9} {:>9} {:>7.2}ms {:>7.2}ms {:>7.2}ms {:>7.2}ms {:>7.2}ms   avg {} KiB",
            feats[feats.len() / 2],
            feats[feats.len() - 1],
            pct(&mut sel_t, 0.5),
            pct(&mut sel_t, 0.99),
            pct(&mut enc_t, 0.5),
            pct(&mut enc_t, 0.99),
            enc_max,
            bytes / per_zoom / 1024,
        );
    }
}
