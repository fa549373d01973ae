//! The count pyramid through its public API: heatmaps against `heatmap_png`/`coverage_png`,
//! empty and edge-of-the-world tiles, overview counts against a brute-force count, the overview
//! MVT read back, and a writer updating while readers draw.

#![allow(clippy::unwrap_used)] // tests fail loudly

use geo::Coord;
use gridmap_tiles::{
    ColorScale, CountPoint, HeatKind, OverviewCell, Pyramid, TileId, coverage_png, heatmap_png,
    overview_mvt,
};

/// SplitMix64, for deterministic data without a dependency.
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

/// `n` points in 300 Gaussian blobs (σ 20–100 m) over 6 km around 121.5 E 31.2 N.
fn district(n: usize, seed: u64) -> Vec<CountPoint> {
    let mut rng = Rng(seed);
    let m_lat = 1.0 / 111_320.0;
    let m_lon = m_lat / 31.2f64.to_radians().cos();
    let blobs: Vec<(f64, f64, f64, f64)> = (0..300)
        .map(|_| {
            let c = ((rng.f() - 0.5) * 6_000.0, (rng.f() - 0.5) * 6_000.0);
            (c.0, c.1, 20.0 + 80.0 * rng.f(), rng.f())
        })
        .collect();
    (0..n)
        .map(|_| {
            let (x, y, sigma, rate) = blobs[(rng.next() % 300) as usize];
            let r = sigma * (-2.0 * rng.f().max(1e-12).ln()).sqrt();
            let a = std::f64::consts::TAU * rng.f();
            CountPoint {
                at: Coord {
                    x: 121.5 + (x + r * a.cos()) * m_lon,
                    y: 31.2 + (y + r * a.sin()) * m_lat,
                },
                weight: 1 + (rng.next() % 12) as u32,
                visited: rng.f() < rate,
            }
        })
        .collect()
}

type Weighted = Vec<(Coord, f64)>;

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

fn decode_png(bytes: &[u8]) -> Vec<u8> {
    // Heatmaps are palette PNGs: expanded to RGBA here.
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (256, 256));
    buf.truncate(info.buffer_size());
    buf
}

/// Share of pixels whose colour differs by more than 4 in some channel.
fn off_share(a: &[u8], b: &[u8]) -> f64 {
    let off = a
        .chunks_exact(4)
        .zip(b.chunks_exact(4))
        .filter(|(p, q)| p.iter().zip(*q).any(|(x, y)| x.abs_diff(*y) > 4))
        .count();
    off as f64 / (256.0 * 256.0)
}

const KINDS: [HeatKind; 3] = [HeatKind::Visited, HeatKind::Unvisited, HeatKind::Coverage];

fn scale_of(kind: HeatKind) -> ColorScale {
    match kind {
        HeatKind::Visited => ColorScale::visited(),
        HeatKind::Unvisited => ColorScale::unvisited(),
        HeatKind::Coverage => ColorScale::coverage(),
    }
}

/// What heatmap.rs draws for `kind` from the points' lists.
fn reference(tile: TileId, kind: HeatKind, v: &[(Coord, f64)], u: &[(Coord, f64)]) -> Vec<u8> {
    let s = scale_of(kind);
    decode_png(&match kind {
        HeatKind::Visited => heatmap_png(tile, v, 24.0, &s),
        HeatKind::Unvisited => heatmap_png(tile, u, 24.0, &s),
        HeatKind::Coverage => coverage_png(tile, v, u, 24.0, &s),
    })
}

#[test]
fn heatmaps_match_heatmap_png_exactly_when_sparse_and_closely_when_dense() {
    let pts = district(40_000, 1);
    let (v, u) = split(&pts);
    let pyr = Pyramid::build(&pts);
    for z in [9u8, 11, 12, 13, 15, 16, 17] {
        let mut worst = 0f64;
        for p in pts.iter().step_by(5_003) {
            let tile = TileId::containing(p.at, z).unwrap();
            for kind in KINDS {
                let want = reference(tile, kind, &v, &u);
                let got = pyr
                    .heatmap_png(tile, kind, 24.0, &scale_of(kind))
                    .map(|png| decode_png(&png))
                    .unwrap_or_else(|| vec![0; want.len()]);
                let off = off_share(&want, &got);
                // Few occupied pixels: heatmap.rs's own computation on the same bins; z17 reads
                // the finest cells' mean positions, exact for cells of a single building.
                if z == 15 || z == 16 {
                    assert_eq!(want, got, "z{z} {tile} {kind:?}");
                } else if z == 17 {
                    assert!(off < 0.02, "z{z} {tile} {kind:?}: {off}");
                }
                worst = worst.max(off);
            }
        }
        eprintln!("z{z}: at most {:.2} % of pixels off by > 4", 100.0 * worst);
        assert!(worst < 0.12, "z{z}: {worst}");
    }
}

#[test]
fn nothing_there_is_none() {
    let empty = Pyramid::build(&[]);
    let tile = TileId::new(12, 3430, 1672).unwrap();
    for kind in KINDS {
        assert_eq!(empty.heatmap_png(tile, kind, 24.0, &scale_of(kind)), None);
    }
    assert!(empty.overview(tile, 32).is_empty());
    assert!(overview_mvt(tile, &[]).is_empty());

    let pts = district(2_000, 2);
    let pyr = Pyramid::build(&pts);
    // A tile far away, and one just beyond the kernel's reach of the data.
    let far = TileId::containing(Coord { x: 10.0, y: 50.0 }, 12).unwrap();
    for kind in KINDS {
        assert_eq!(pyr.heatmap_png(far, kind, 24.0, &scale_of(kind)), None);
    }
    let data = TileId::containing(pts[0].at, 16).unwrap();
    let beyond = TileId::new(16, data.x + 40, data.y).unwrap();
    assert_eq!(
        pyr.heatmap_png(beyond, HeatKind::Coverage, 24.0, &ColorScale::coverage()),
        None
    );
    // Nothing visited: no visited heatmap, but the unvisited and coverage ones.
    let none_visited: Vec<_> = pts
        .iter()
        .map(|p| CountPoint {
            visited: false,
            ..*p
        })
        .collect();
    let pyr = Pyramid::build(&none_visited);
    let tile = TileId::containing(pts[0].at, 14).unwrap();
    assert_eq!(
        pyr.heatmap_png(tile, HeatKind::Visited, 24.0, &ColorScale::visited()),
        None
    );
    assert!(
        pyr.heatmap_png(tile, HeatKind::Unvisited, 24.0, &ColorScale::unvisited())
            .is_some()
    );
    // One visit lights the visited heatmap.
    let p = none_visited[0];
    assert!(pyr.set_visited(p.at, p.weight, true));
    assert!(
        pyr.heatmap_png(tile, HeatKind::Visited, 24.0, &ColorScale::visited())
            .is_some()
    );
}

#[test]
fn tiles_at_the_antimeridian_and_the_poles_do_not_panic() {
    let mut pts = Vec::new();
    for &(x, y) in &[
        (-180.0, 0.0),
        (180.0, 0.0),
        (179.999_999_9, 85.051),
        (-179.999_999_9, -85.051),
        (0.0, 90.0),
        (0.0, -90.0),
        (-180.0, 85.06),
        (180.0, -85.06),
        (500.0, 1e9),
        (f64::NAN, 1.0),
        (1.0, f64::INFINITY),
    ] {
        for w in [1, 7] {
            pts.push(CountPoint {
                at: Coord { x, y },
                weight: w,
                visited: w == 7,
            });
        }
    }
    let pyr = Pyramid::build(&pts);
    let scale = ColorScale::coverage();
    for z in 0..=24u8 {
        let max = (1u32 << z) - 1;
        let mut tiles = vec![(0, 0), (max, 0), (0, max), (max, max), (max / 2, max / 2)];
        tiles.extend(
            pts.iter()
                .filter_map(|p| TileId::containing(p.at, z).ok().map(|t| (t.x, t.y))),
        );
        tiles.sort_unstable();
        tiles.dedup();
        for (x, y) in tiles {
            let tile = TileId::new(z, x, y).unwrap();
            for kind in KINDS {
                let _ = pyr.heatmap_png(tile, kind, 24.0, &scale);
            }
            if z % 6 == 0 {
                for r in [0.1, 500.0, f32::NAN] {
                    let _ = pyr.heatmap_png(tile, HeatKind::Coverage, r, &scale);
                }
            }
            for k in [0, 1, 20, 32, 256, 10_000] {
                let cells = pyr.overview(tile, k);
                let _ = overview_mvt(tile, &cells);
            }
        }
    }
    // The corner tiles hold the corner points (the poles clamp to the Mercator edge).
    let nw = TileId::new(3, 0, 0).unwrap();
    assert!(
        pyr.heatmap_png(nw, HeatKind::Coverage, 24.0, &scale)
            .is_some()
    );
    let total: u32 = pyr
        .overview(TileId::new(0, 0, 0).unwrap(), 1)
        .iter()
        .map(|c| c.buildings)
        .sum();
    assert_eq!(total, 18, "all but the two non-finite points");
    for p in &pts {
        pyr.set_visited(p.at, p.weight, !p.visited);
    }
}

/// Buildings, households, visited buildings and visited households of the points in `tile`.
fn brute(points: &[CountPoint], tile: TileId) -> [u64; 4] {
    let mut t = [0u64; 4];
    for p in points {
        if TileId::containing(p.at, tile.z).unwrap() == tile {
            let w = u64::from(p.weight);
            t[0] += 1;
            t[1] += w;
            if p.visited {
                t[2] += 1;
                t[3] += w;
            }
        }
    }
    t
}

fn sums(cells: &[OverviewCell]) -> [u64; 4] {
    cells.iter().fold([0; 4], |t, c| {
        [
            t[0] + u64::from(c.buildings),
            t[1] + u64::from(c.households),
            t[2] + u64::from(c.visited_buildings),
            t[3] + u64::from(c.visited_households),
        ]
    })
}

#[test]
fn overview_cells_count_the_points_under_them_and_sit_among_them() {
    let pts = district(30_000, 3);
    let pyr = Pyramid::build(&pts);
    for z in 8..=13u8 {
        let mut tiles: Vec<TileId> = pts
            .iter()
            .step_by(997)
            .map(|p| TileId::containing(p.at, z).unwrap())
            .collect();
        tiles.sort();
        tiles.dedup();
        for &tile in &tiles {
            let want = brute(&pts, tile);
            for k in [1u32, 8, 32] {
                let cells = pyr.overview(tile, k);
                assert!(cells.len() <= (k * k) as usize);
                assert_eq!(sums(&cells), want, "{tile} at {k} a side");
                let mut keys: Vec<u64> = cells.iter().map(|c| c.key).collect();
                keys.dedup();
                assert_eq!(keys.len(), cells.len(), "one cell per key, in key order");
                // Each centre lies in its cell (the cell of zoom z + log2 k with that key).
                let cz = z + k.trailing_zeros() as u8;
                for c in &cells {
                    assert!(c.buildings > 0 && c.visited_households <= c.households);
                    let home = TileId::containing(c.centre, cz).unwrap();
                    let (mut x, mut y) = (0u32, 0u32);
                    for bit in 0..32 {
                        x |= (((c.key >> (2 * bit)) & 1) as u32) << bit;
                        y |= (((c.key >> (2 * bit + 1)) & 1) as u32) << bit;
                    }
                    assert_eq!((home.x, home.y), (x, y), "{tile}: {c:?}");
                }
            }
            // A visit moves one building and its households in the overview too.
            let p = pts
                .iter()
                .find(|p| TileId::containing(p.at, z).unwrap() == tile)
                .unwrap();
            pyr.set_visited(p.at, p.weight, !p.visited);
            let after = sums(&pyr.overview(tile, 32));
            let (db, dh) = if p.visited {
                (-1i64, -i64::from(p.weight))
            } else {
                (1, i64::from(p.weight))
            };
            assert_eq!(after[2] as i64 - want[2] as i64, db);
            assert_eq!(after[3] as i64 - want[3] as i64, dh);
            assert_eq!(after[..2], want[..2]);
            pyr.set_visited(p.at, p.weight, p.visited);
        }
    }
    assert_eq!(pyr, Pyramid::build(&pts));
}

// --- a minimal MVT reader, for the overview layer ---------------------------------------------

fn varint(b: &[u8], i: &mut usize) -> u64 {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let byte = b[*i];
        *i += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return v;
        }
        shift += 7;
    }
}

/// `(field, wire type, varint value or bytes)` of each field of a message.
fn fields(b: &[u8]) -> Vec<(u64, u64, u64, &[u8])> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let key = varint(b, &mut i);
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                let v = varint(b, &mut i);
                out.push((field, wire, v, &b[0..0]));
            }
            1 => {
                out.push((field, wire, 0, &b[i..i + 8]));
                i += 8;
            }
            2 => {
                let n = varint(b, &mut i) as usize;
                out.push((field, wire, 0, &b[i..i + n]));
                i += n;
            }
            5 => {
                out.push((field, wire, 0, &b[i..i + 4]));
                i += 4;
            }
            w => panic!("wire type {w}"),
        }
    }
    out
}

#[test]
fn the_overview_layer_reads_back_with_its_properties() {
    let pts = district(20_000, 4);
    let pyr = Pyramid::build(&pts);
    let tile = TileId::containing(pts[0].at, 11).unwrap();
    let cells = pyr.overview(tile, 32);
    assert!(cells.len() > 10);
    let mvt = overview_mvt(tile, &cells);
    assert!(mvt.len() < 500 * 1024);
    let layers: Vec<_> = fields(&mvt).into_iter().filter(|f| f.0 == 3).collect();
    assert_eq!(layers.len(), 1);
    let layer = fields(layers[0].3);
    let name = layer.iter().find(|f| f.0 == 1).unwrap().3;
    assert_eq!(name, b"overview");
    let keys: Vec<&[u8]> = layer.iter().filter(|f| f.0 == 3).map(|f| f.3).collect();
    for k in [
        "buildings",
        "households",
        "visited_buildings",
        "visited_households",
        "visited_share",
    ] {
        assert!(keys.contains(&k.as_bytes()), "{k}");
    }
    let features: Vec<_> = layer.iter().filter(|f| f.0 == 2).collect();
    assert_eq!(features.len(), cells.len());
    for (f, c) in features.iter().zip(&cells) {
        let ff = fields(f.3);
        let id = ff.iter().find(|x| x.0 == 1).unwrap().2;
        let ty = ff.iter().find(|x| x.0 == 3).unwrap().2;
        assert_eq!((id, ty), (c.key, 1), "a point feature per cell, id = key");
    }
    // The shares are the visited share of households.
    let values: Vec<_> = layer.iter().filter(|f| f.0 == 4).collect();
    assert!(values.iter().any(|v| fields(v.3).iter().any(|x| x.0 == 3)));
    assert!(
        cells
            .iter()
            .all(|c| (0.0..=1.0).contains(&c.visited_share()))
    );
}

#[test]
fn a_writer_updates_while_readers_draw() {
    let mut pts = district(20_000, 5);
    let pyr = Pyramid::build(&pts);
    let tiles: Vec<TileId> = pts
        .iter()
        .step_by(1_999)
        .map(|p| TileId::containing(p.at, 13).unwrap())
        .collect();
    std::thread::scope(|s| {
        for k in 0..2 {
            let (pyr, tiles) = (&pyr, &tiles);
            s.spawn(move || {
                for round in 0..3 {
                    for &t in tiles {
                        let kind = KINDS[(round + k) % 3];
                        let _ = pyr.heatmap_png(t, kind, 24.0, &scale_of(kind));
                        let _ = pyr.overview(t, 32);
                    }
                }
            });
        }
        let mut rng = Rng(9);
        for _ in 0..5_000 {
            let i = (rng.next() % pts.len() as u64) as usize;
            pts[i].visited = !pts[i].visited;
            assert!(pyr.set_visited(pts[i].at, pts[i].weight, pts[i].visited));
        }
    });
    assert_eq!(pyr, Pyramid::build(&pts));
}
