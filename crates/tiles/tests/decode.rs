//! Encoded tiles read back by two decoders that share no code with the encoder: a small
//! protobuf/MVT decoder written here from the MVT 2.1 spec, and GDAL's MVT driver (`ogrinfo`).

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

use std::collections::BTreeMap;

use geo::{Coord, Geometry, LineString, Polygon, Validation};
use gridmap_tiles::{EncodeOptions, Feature, Layer, TileId, Value, encode};

#[path = "../../../tests/support/tools.rs"]
mod tools;

// --- an independent MVT decoder ----------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum V {
    S(String),
    F(f32),
    D(f64),
    I(i64),
    U(u64),
    B(bool),
}

#[derive(Debug, Clone)]
struct DFeature {
    id: Option<u64>,
    tags: Vec<u32>,
    ty: u64,
    geometry: Vec<u32>,
}

#[derive(Debug, Clone)]
struct DLayer {
    version: u64,
    name: String,
    extent: u64,
    keys: Vec<String>,
    values: Vec<V>,
    features: Vec<DFeature>,
}

impl DLayer {
    fn props(&self, f: &DFeature) -> BTreeMap<String, V> {
        assert_eq!(f.tags.len() % 2, 0, "odd tag count");
        f.tags
            .chunks(2)
            .map(|kv| {
                (
                    self.keys[kv[0] as usize].clone(),
                    self.values[kv[1] as usize].clone(),
                )
            })
            .collect()
    }
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8]) -> Self {
        Reader { b, i: 0 }
    }
    fn done(&self) -> bool {
        self.i >= self.b.len()
    }
    fn varint(&mut self) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let byte = self.b[self.i];
            self.i += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return v;
            }
            shift += 7;
        }
    }
    fn bytes(&mut self) -> &'a [u8] {
        let n = self.varint() as usize;
        let s = &self.b[self.i..self.i + n];
        self.i += n;
        s
    }
    fn fixed(&mut self, n: usize) -> &'a [u8] {
        let s = &self.b[self.i..self.i + n];
        self.i += n;
        s
    }
    /// (field, wire type)
    fn key(&mut self) -> (u64, u64) {
        let k = self.varint();
        (k >> 3, k & 7)
    }
    fn packed(&mut self) -> Vec<u32> {
        let mut r = Reader::new(self.bytes());
        let mut v = Vec::new();
        while !r.done() {
            v.push(r.varint() as u32);
        }
        v
    }
}

fn decode_tile(b: &[u8]) -> Vec<DLayer> {
    let mut r = Reader::new(b);
    let mut layers = Vec::new();
    while !r.done() {
        let (f, w) = r.key();
        assert_eq!((f, w), (3, 2), "tile holds only layers");
        layers.push(decode_layer(r.bytes()));
    }
    layers
}

fn decode_layer(b: &[u8]) -> DLayer {
    let mut r = Reader::new(b);
    let mut l = DLayer {
        version: 1,
        name: String::new(),
        extent: 4096,
        keys: vec![],
        values: vec![],
        features: vec![],
    };
    while !r.done() {
        match r.key() {
            (15, 0) => l.version = r.varint(),
            (1, 2) => l.name = String::from_utf8(r.bytes().to_vec()).unwrap(),
            (2, 2) => l.features.push(decode_feature(r.bytes())),
            (3, 2) => l.keys.push(String::from_utf8(r.bytes().to_vec()).unwrap()),
            (4, 2) => l.values.push(decode_value(r.bytes())),
            (5, 0) => l.extent = r.varint(),
            other => panic!("unexpected layer field {other:?}"),
        }
    }
    l
}

fn decode_feature(b: &[u8]) -> DFeature {
    let mut r = Reader::new(b);
    let mut f = DFeature {
        id: None,
        tags: vec![],
        ty: 0,
        geometry: vec![],
    };
    while !r.done() {
        match r.key() {
            (1, 0) => f.id = Some(r.varint()),
            (2, 2) => f.tags = r.packed(),
            (3, 0) => f.ty = r.varint(),
            (4, 2) => f.geometry = r.packed(),
            other => panic!("unexpected feature field {other:?}"),
        }
    }
    f
}

fn decode_value(b: &[u8]) -> V {
    let mut r = Reader::new(b);
    let mut v = None;
    while !r.done() {
        v = Some(match r.key() {
            (1, 2) => V::S(String::from_utf8(r.bytes().to_vec()).unwrap()),
            (2, 5) => V::F(f32::from_le_bytes(r.fixed(4).try_into().unwrap())),
            (3, 1) => V::D(f64::from_le_bytes(r.fixed(8).try_into().unwrap())),
            (4, 0) => V::I(r.varint() as i64),
            (5, 0) => V::U(r.varint()),
            (6, 0) => {
                let z = r.varint();
                V::I(((z >> 1) as i64) ^ -((z & 1) as i64))
            }
            (7, 0) => V::B(r.varint() != 0),
            other => panic!("unexpected value field {other:?}"),
        });
    }
    assert!(r.done());
    v.expect("value has exactly one field")
}

/// A decoded path: its vertices in tile units and whether a ClosePath ended it.
#[derive(Debug, Clone)]
struct Path {
    pts: Vec<[i64; 2]>,
    closed: bool,
}

/// Interprets the command stream per MVT 2.1 §4.3, checking the command grammar for `ty`.
fn decode_geometry(ty: u64, g: &[u32]) -> Vec<Path> {
    let mut paths: Vec<Path> = Vec::new();
    let (mut x, mut y) = (0i64, 0i64);
    let mut i = 0;
    let unzig = |v: u32| -> i64 { i64::from((v >> 1) as i32 ^ -((v & 1) as i32)) };
    while i < g.len() {
        let (id, count) = (g[i] & 7, g[i] >> 3);
        i += 1;
        match id {
            1 => {
                if ty != 1 {
                    assert_eq!(count, 1, "MoveTo in lines/polygons has count 1");
                }
                for _ in 0..count {
                    x += unzig(g[i]);
                    y += unzig(g[i + 1]);
                    i += 2;
                    paths.push(Path {
                        pts: vec![[x, y]],
                        closed: false,
                    });
                }
            }
            2 => {
                assert_ne!(ty, 1, "no LineTo in points");
                assert!(count > 0);
                let p = paths.last_mut().expect("LineTo after MoveTo");
                for _ in 0..count {
                    x += unzig(g[i]);
                    y += unzig(g[i + 1]);
                    i += 2;
                    p.pts.push([x, y]);
                }
            }
            7 => {
                assert_eq!(ty, 3, "ClosePath only in polygons");
                assert_eq!(count, 1);
                paths.last_mut().expect("ClosePath after a path").closed = true;
            }
            other => panic!("unknown command {other}"),
        }
    }
    if ty == 3 {
        assert!(
            paths.iter().all(|p| p.closed && p.pts.len() >= 3),
            "{paths:?}"
        );
    }
    if ty == 2 {
        assert!(paths.iter().all(|p| p.pts.len() >= 2));
    }
    paths
}

/// Twice the surveyor's area in tile units (y down): positive = clockwise on screen.
fn area2(pts: &[[i64; 2]]) -> i64 {
    (0..pts.len())
        .map(|i| {
            let (a, b) = (pts[i], pts[(i + 1) % pts.len()]);
            a[0] * b[1] - b[0] * a[1]
        })
        .sum()
}

// --- independent projection --------------------------------------------------------------------

/// Lon/lat to tile units of `t` with the textbook slippy-map formula (y down).
fn to_tile(t: TileId, c: Coord, extent: f64) -> [f64; 2] {
    let n = 2f64.powi(i32::from(t.z));
    let x = (c.x + 180.0) / 360.0 * n;
    let y = (1.0 - c.y.to_radians().tan().asinh() / std::f64::consts::PI) / 2.0 * n;
    [(x - f64::from(t.x)) * extent, (y - f64::from(t.y)) * extent]
}

/// Tile units of `t` to lon/lat (inverse of `to_tile`).
fn from_tile(t: TileId, px: f64, py: f64) -> Coord {
    let n = 2f64.powi(i32::from(t.z));
    let fx = (f64::from(t.x) + px / 4096.0) / n;
    let fy = (f64::from(t.y) + py / 4096.0) / n;
    Coord {
        x: fx * 360.0 - 180.0,
        y: (std::f64::consts::PI * (1.0 - 2.0 * fy))
            .sinh()
            .atan()
            .to_degrees(),
    }
}

fn tiananmen_tile() -> TileId {
    TileId::new(16, 53957, 24832).unwrap()
}

fn ring(t: TileId, pts: &[(f64, f64)]) -> LineString {
    let mut v: Vec<Coord> = pts.iter().map(|&(x, y)| from_tile(t, x, y)).collect();
    v.push(v[0]);
    LineString::from(v)
}

/// One polygon with a hole, one line leaving the tile, two points (one far outside).
struct Fixture {
    poly: Geometry,
    line: Geometry,
    point: Geometry,
    far_point: Geometry,
}

fn fixture(t: TileId) -> Fixture {
    Fixture {
        poly: Geometry::Polygon(Polygon::new(
            ring(
                t,
                &[
                    (400.3, 400.7),
                    (1600.2, 420.0),
                    (1500.0, 1700.9),
                    (380.0, 1650.0),
                ],
            ),
            vec![ring(t, &[(800.0, 800.0), (1000.0, 800.0), (900.0, 1000.0)])],
        )),
        line: Geometry::LineString(LineString::from(vec![
            from_tile(t, 2000.4, 2000.6),
            from_tile(t, 3000.0, 2500.0),
            from_tile(t, 5000.0, 2600.0),
        ])),
        point: Geometry::Point(from_tile(t, 1024.2, 3000.8).into()),
        far_point: Geometry::Point(from_tile(t, 6000.0, 3000.0).into()),
    }
}

fn fixture_layers(f: &Fixture) -> Vec<Layer<'_>> {
    vec![Layer {
        name: "buildings",
        features: vec![
            Feature {
                id: 11,
                geometry: (&f.poly).into(),
                properties: vec![
                    ("name", Value::from("楼A")),
                    ("households", Value::Int(12)),
                    ("area", Value::Double(123.5)),
                    ("visited", Value::Bool(true)),
                    ("delta", Value::Int(-7)),
                ],
            },
            Feature {
                id: 22,
                geometry: (&f.line).into(),
                properties: vec![("name", Value::from("楼A")), ("households", Value::Int(3))],
            },
            Feature {
                id: 33,
                geometry: (&f.point).into(),
                properties: vec![("visited", Value::Bool(false))],
            },
            Feature {
                id: 44,
                geometry: (&f.far_point).into(),
                properties: vec![("visited", Value::Bool(true))],
            },
        ],
    }]
}

/// Distance from `p` to the nearest of `candidates`.
fn nearest(p: [f64; 2], candidates: &[[f64; 2]]) -> f64 {
    candidates
        .iter()
        .map(|c| ((p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2)).sqrt())
        .fold(f64::INFINITY, f64::min)
}

fn vertices(t: TileId, g: &Geometry) -> Vec<[f64; 2]> {
    use geo::CoordsIter;
    g.coords_iter().map(|c| to_tile(t, c, 4096.0)).collect()
}

#[test]
fn polygon_line_and_point_decode_to_their_input() {
    let t = tiananmen_tile();
    let f = fixture(t);
    let bytes = encode(t, &fixture_layers(&f), &EncodeOptions::default());
    let layers = decode_tile(&bytes);
    assert_eq!(layers.len(), 1);
    let l = &layers[0];
    assert_eq!(
        (l.version, l.name.as_str(), l.extent),
        (2, "buildings", 4096)
    );
    let ids: Vec<_> = l.features.iter().map(|f| f.id).collect();
    assert_eq!(
        ids,
        [Some(11), Some(22), Some(33)],
        "the far point is dropped"
    );

    // Polygon: two rings, every vertex within a pixel of its projected input.
    let poly = &l.features[0];
    assert_eq!(poly.ty, 3);
    let props = l.props(poly);
    assert_eq!(props["name"], V::S("楼A".into()));
    assert_eq!(props["households"], V::U(12));
    assert_eq!(props["area"], V::D(123.5));
    assert_eq!(props["visited"], V::B(true));
    assert_eq!(props["delta"], V::I(-7));
    let rings = decode_geometry(3, &poly.geometry);
    assert_eq!(rings.len(), 2);
    assert_eq!(rings[0].pts.len(), 4);
    assert_eq!(rings[1].pts.len(), 3);
    let input = vertices(t, &f.poly);
    for p in rings.iter().flat_map(|r| &r.pts) {
        let d = nearest([p[0] as f64, p[1] as f64], &input);
        assert!(d <= 1.0, "{p:?} is {d} from the input");
    }
    assert!(area2(&rings[0].pts) > 0, "exterior clockwise on screen");
    assert!(area2(&rings[1].pts) < 0, "hole counter-clockwise on screen");

    // Line: clipped at the buffered edge (extent + buffer = 4160).
    let line = &l.features[1];
    assert_eq!(line.ty, 2);
    assert_eq!(l.props(line)["households"], V::U(3));
    let parts = decode_geometry(2, &line.geometry);
    assert_eq!(parts.len(), 1);
    let pts = &parts[0].pts;
    assert_eq!(pts.len(), 3);
    assert_eq!(pts[0], [2000, 2001]);
    assert_eq!(pts[1], [3000, 2500]);
    assert_eq!(pts[2][0], 4160);
    // Where the input line crosses x = 4160: y = 2500 + 100 * 1160 / 2000.
    assert!((pts[2][1] - 2558).abs() <= 1, "{pts:?}");

    // Point.
    let point = &l.features[2];
    assert_eq!(point.ty, 1);
    assert_eq!(l.props(point)["visited"], V::B(false));
    let p = decode_geometry(1, &point.geometry);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].pts, vec![[1024, 3001]]);

    // Keys and values are stored once per layer.
    let mut keys = l.keys.clone();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), l.keys.len());
    for (i, a) in l.values.iter().enumerate() {
        assert!(!l.values[i + 1..].contains(a), "{a:?} stored twice");
    }
    assert_eq!(l.keys.len(), 5);
    // "楼A", 12, 123.5, true, -7, 3, false
    assert_eq!(l.values.len(), 7);
}

/// GDAL's MVT driver is the reference reader; skipped with a message when `ogrinfo` is absent.
#[test]
fn gdal_reads_the_same_features() {
    if !tools::have("ogrinfo") {
        return;
    }
    let t = tiananmen_tile();
    let f = fixture(t);
    let bytes = encode(t, &fixture_layers(&f), &EncodeOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tile.mvt");
    std::fs::write(&path, &bytes).unwrap();
    let out = std::process::Command::new("ogrinfo")
        .args(["-ro", "-al", "-oo", "CLIP=NO"])
        .args(["-oo", &format!("X={}", t.x)])
        .args(["-oo", &format!("Y={}", t.y)])
        .args(["-oo", &format!("Z={}", t.z)])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Layer name: buildings"), "{text}");
    assert!(text.contains("Feature Count: 3"), "{text}");

    // Split into features and read id, attributes and WKT (EPSG:3857 metres).
    let feats: Vec<&str> = text.split("OGRFeature(buildings):").skip(1).collect();
    assert_eq!(feats.len(), 3, "{text}");
    let field = |s: &str, name: &str| -> String {
        s.lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix(name)
                    .map(|r| r.split(" = ").nth(1).unwrap_or("").to_owned())
            })
            .unwrap_or_default()
    };
    let wkt = |s: &str| -> String {
        s.lines()
            .map(str::trim)
            .find(|l| {
                l.starts_with("POINT")
                    || l.starts_with("LINESTRING")
                    || l.starts_with("POLYGON")
                    || l.starts_with("MULTI")
            })
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(field(feats[0], "mvt_id "), "11");
    assert_eq!(field(feats[0], "name "), "楼A");
    assert_eq!(field(feats[0], "households "), "12");
    assert_eq!(field(feats[0], "area "), "123.5");
    assert_eq!(field(feats[0], "visited "), "1");
    assert_eq!(field(feats[0], "delta "), "-7");
    assert!(wkt(feats[0]).starts_with("POLYGON (("), "{}", feats[0]);
    assert_eq!(field(feats[1], "mvt_id "), "22");
    assert!(wkt(feats[1]).starts_with("LINESTRING ("), "{}", feats[1]);
    assert_eq!(field(feats[2], "mvt_id "), "33");
    assert_eq!(field(feats[2], "visited "), "0");
    assert!(wkt(feats[2]).starts_with("POINT ("), "{}", feats[2]);

    // Every vertex GDAL reports lies within one tile unit of the projected input (or, for the
    // clipped line, on the buffered edge).
    const R: f64 = 6_378_137.0;
    let merc = |c: Coord| -> [f64; 2] {
        [
            R * c.x.to_radians(),
            R * (std::f64::consts::FRAC_PI_4 + c.y.to_radians() / 2.0)
                .tan()
                .ln(),
        ]
    };
    let unit_m = 2.0 * std::f64::consts::PI * R / 2f64.powi(16) / 4096.0;
    let nums = |w: &str| -> Vec<[f64; 2]> {
        let cleaned: String = w
            .chars()
            .map(|c| {
                if c.is_ascii_digit() || c == '.' || c == '-' || c == 'e' {
                    c
                } else {
                    ' '
                }
            })
            .collect();
        let v: Vec<f64> = cleaned
            .split_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect();
        v.chunks(2).map(|c| [c[0], c[1]]).collect()
    };
    use geo::CoordsIter;
    for (feat, geom) in feats.iter().zip([&f.poly, &f.line, &f.point]) {
        let input: Vec<[f64; 2]> = geom.coords_iter().map(merc).collect();
        let got = nums(&wkt(feat));
        assert!(!got.is_empty());
        for p in got {
            let d = nearest(p, &input) / unit_m;
            let on_buffer_edge = {
                let east_edge = merc(from_tile(t, 4160.0, 0.0))[0];
                (p[0] - east_edge).abs() / unit_m <= 1.0
            };
            assert!(
                d <= 1.5 || on_buffer_edge,
                "{p:?} is {d} tile units from the input"
            );
        }
    }
}

fn decode_single(bytes: &[u8]) -> (DLayer, DFeature, Vec<Path>) {
    let layers = decode_tile(bytes);
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0].features.len(), 1);
    let f = layers[0].features[0].clone();
    let paths = decode_geometry(f.ty, &f.geometry);
    (layers[0].clone(), f, paths)
}

fn as_geo_polygon(rings: &[Path]) -> Polygon<f64> {
    let ls = |p: &Path| {
        let mut v: Vec<Coord> = p
            .pts
            .iter()
            .map(|q| Coord {
                x: q[0] as f64,
                y: q[1] as f64,
            })
            .collect();
        v.push(v[0]);
        LineString::from(v)
    };
    Polygon::new(ls(&rings[0]), rings[1..].iter().map(ls).collect())
}

#[test]
fn polygon_straddling_the_tile_edge_is_clipped_valid_and_closed() {
    let t = tiananmen_tile();
    // An L-shape reaching past the east and south edges, with a hole inside the tile. (A hole
    // cut by the buffered edge would share that edge with the shell: it renders right but is
    // not OGC-valid, as with every per-ring clipper; see `a_hole_cut_by_the_edge_stays_a_hole`.)
    let exterior = ring(
        t,
        &[
            (3000.0, 3000.0),
            (6000.0, 3000.0),
            (6000.0, 3500.0),
            (3600.0, 3500.0),
            (3600.0, 6000.0),
            (3000.0, 6000.0),
        ],
    );
    let hole = ring(
        t,
        &[
            (3100.0, 3700.0),
            (3500.0, 3700.0),
            (3500.0, 3900.0),
            (3100.0, 3900.0),
        ],
    );
    let g = Geometry::Polygon(Polygon::new(exterior, vec![hole]));
    let layers = [Layer {
        name: "grids",
        features: vec![Feature {
            id: 5,
            geometry: (&g).into(),
            properties: vec![],
        }],
    }];
    let (_, f, rings) = decode_single(&encode(t, &layers, &EncodeOptions::default()));
    assert_eq!((f.id, f.ty), (Some(5), 3));
    assert_eq!(rings.len(), 2);
    for p in rings.iter().flat_map(|r| &r.pts) {
        assert!(
            (-64..=4160).contains(&p[0]) && (-64..=4160).contains(&p[1]),
            "{p:?}"
        );
    }
    assert!(rings.iter().all(|r| r.closed));
    assert!(area2(&rings[0].pts) > 0);
    assert!(area2(&rings[1].pts) < 0);
    let poly = as_geo_polygon(&rings);
    assert!(poly.is_valid(), "{:?}", poly.validation_errors());
    // The clipped exterior: 3000..4160 × 3000..3500 plus 3000..3600 × 3500..4160.
    assert_eq!(area2(&rings[0].pts), 2 * (1160 * 500 + 600 * 660));
    assert_eq!(area2(&rings[1].pts), -2 * 400 * 200);
}

#[test]
fn a_hole_cut_by_the_edge_stays_a_hole() {
    let t = tiananmen_tile();
    let g = Geometry::Polygon(Polygon::new(
        ring(
            t,
            &[
                (3000.0, 3000.0),
                (5000.0, 3000.0),
                (5000.0, 5000.0),
                (3000.0, 5000.0),
            ],
        ),
        vec![ring(
            t,
            &[
                (3100.0, 4000.0),
                (3500.0, 4000.0),
                (3500.0, 4300.0),
                (3100.0, 4300.0),
            ],
        )],
    ));
    let layers = [Layer {
        name: "grids",
        features: vec![Feature {
            id: 5,
            geometry: (&g).into(),
            properties: vec![],
        }],
    }];
    let (_, _, rings) = decode_single(&encode(t, &layers, &EncodeOptions::default()));
    assert_eq!(rings.len(), 2);
    assert!(rings.iter().all(|r| r.closed));
    assert_eq!(area2(&rings[0].pts), 2 * 1160 * 1160);
    assert_eq!(area2(&rings[1].pts), -2 * 400 * 160);
}

#[test]
fn polygon_covering_the_whole_tile_becomes_the_buffered_square() {
    let t = tiananmen_tile();
    let g = Geometry::Polygon(Polygon::new(
        ring(
            t,
            &[
                (-9000.0, -9000.0),
                (9000.0, -9000.0),
                (9000.0, 9000.0),
                (-9000.0, 9000.0),
            ],
        ),
        vec![],
    ));
    let layers = [Layer {
        name: "grids",
        features: vec![Feature {
            id: 1,
            geometry: (&g).into(),
            properties: vec![],
        }],
    }];
    let (_, _, rings) = decode_single(&encode(t, &layers, &EncodeOptions::default()));
    assert_eq!(rings.len(), 1);
    assert_eq!(area2(&rings[0].pts), 2 * 4224 * 4224);
}

#[test]
fn winding_is_fixed_whatever_the_input_orientation() {
    let t = tiananmen_tile();
    let sq = |x0: f64, y0: f64, s: f64, reverse: bool| {
        let mut v = vec![(x0, y0), (x0 + s, y0), (x0 + s, y0 + s), (x0, y0 + s)];
        if reverse {
            v.reverse();
        }
        ring(t, &v)
    };
    for reverse_exterior in [false, true] {
        for reverse_hole in [false, true] {
            let g = Geometry::MultiPolygon(geo::MultiPolygon(vec![
                Polygon::new(
                    sq(100.0, 100.0, 1000.0, reverse_exterior),
                    vec![sq(300.0, 300.0, 100.0, reverse_hole)],
                ),
                Polygon::new(sq(2000.0, 2000.0, 500.0, !reverse_exterior), vec![]),
            ]));
            let layers = [Layer {
                name: "l",
                features: vec![Feature {
                    id: 9,
                    geometry: (&g).into(),
                    properties: vec![],
                }],
            }];
            let (_, f, rings) = decode_single(&encode(t, &layers, &EncodeOptions::default()));
            assert_eq!(f.ty, 3);
            let signs: Vec<bool> = rings.iter().map(|r| area2(&r.pts) > 0).collect();
            assert_eq!(signs, [true, false, true], "exterior, hole, exterior");
        }
    }
}

#[test]
fn empty_tiles_encode_to_an_empty_vec() {
    let t = tiananmen_tile();
    let opts = EncodeOptions::default();
    assert!(encode(t, &[], &opts).is_empty());
    assert!(
        encode(
            t,
            &[Layer {
                name: "x",
                features: vec![]
            }],
            &opts
        )
        .is_empty()
    );
    let far = Geometry::Point(from_tile(t, 5000.0, 100.0).into());
    let far_poly = Geometry::Polygon(Polygon::new(
        ring(t, &[(5000.0, 0.0), (6000.0, 0.0), (6000.0, 900.0)]),
        vec![],
    ));
    let far_line = Geometry::LineString(LineString::from(vec![
        from_tile(t, -500.0, -500.0),
        from_tile(t, 5000.0, -400.0),
    ]));
    let layers = [Layer {
        name: "x",
        features: vec![
            Feature {
                id: 1,
                geometry: (&far).into(),
                properties: vec![("a", Value::Int(1))],
            },
            Feature {
                id: 2,
                geometry: (&far_poly).into(),
                properties: vec![],
            },
            Feature {
                id: 3,
                geometry: (&far_line).into(),
                properties: vec![],
            },
        ],
    }];
    assert!(encode(t, &layers, &opts).is_empty());
}

#[test]
fn points_inside_the_buffer_are_kept_and_beyond_it_dropped() {
    let t = tiananmen_tile();
    let g = Geometry::MultiPoint(geo::MultiPoint(vec![
        from_tile(t, -50.0, 10.0).into(),
        from_tile(t, -80.0, 10.0).into(),
        from_tile(t, 4150.0, 4150.0).into(),
        from_tile(t, 4170.0, 4000.0).into(),
    ]));
    let layers = [Layer {
        name: "p",
        features: vec![Feature {
            id: 1,
            geometry: (&g).into(),
            properties: vec![],
        }],
    }];
    let (_, _, pts) = decode_single(&encode(t, &layers, &EncodeOptions::default()));
    let got: Vec<_> = pts.iter().map(|p| p.pts[0]).collect();
    assert_eq!(got, vec![[-50, 10], [4150, 4150]]);
}

#[test]
fn a_line_leaving_and_reentering_the_tile_becomes_a_multi_line() {
    let t = tiananmen_tile();
    let g = Geometry::LineString(LineString::from(vec![
        from_tile(t, 1000.0, 1000.0),
        from_tile(t, 1000.0, -1000.0),
        from_tile(t, 2000.0, -1000.0),
        from_tile(t, 2000.0, 1000.0),
    ]));
    let layers = [Layer {
        name: "l",
        features: vec![Feature {
            id: 1,
            geometry: (&g).into(),
            properties: vec![],
        }],
    }];
    let (_, f, parts) = decode_single(&encode(t, &layers, &EncodeOptions::default()));
    assert_eq!(f.ty, 2);
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].pts, vec![[1000, 1000], [1000, -64]]);
    assert_eq!(parts[1].pts, vec![[2000, -64], [2000, 1000]]);
}

#[test]
fn rings_and_lines_that_collapse_after_quantisation_are_dropped() {
    let t = TileId::new(10, 843, 388).unwrap();
    let tiny_poly = Geometry::Polygon(Polygon::new(
        ring(t, &[(100.1, 100.1), (100.3, 100.1), (100.3, 100.3)]),
        vec![],
    ));
    let tiny_line = Geometry::LineString(LineString::from(vec![
        from_tile(t, 200.1, 200.1),
        from_tile(t, 200.2, 200.4),
    ]));
    let big = Geometry::Polygon(Polygon::new(
        ring(
            t,
            &[
                (500.0, 500.0),
                (900.0, 500.0),
                (900.0, 900.0),
                (500.0, 900.0),
            ],
        ),
        vec![ring(t, &[(600.1, 600.1), (600.2, 600.1), (600.2, 600.2)])],
    ));
    let layers = [Layer {
        name: "l",
        features: vec![
            Feature {
                id: 1,
                geometry: (&tiny_poly).into(),
                properties: vec![],
            },
            Feature {
                id: 2,
                geometry: (&tiny_line).into(),
                properties: vec![],
            },
            Feature {
                id: 3,
                geometry: (&big).into(),
                properties: vec![],
            },
        ],
    }];
    let (_, f, rings) = decode_single(&encode(t, &layers, &EncodeOptions::default()));
    assert_eq!(f.id, Some(3));
    assert_eq!(rings.len(), 1, "the collapsed hole is dropped");
}

#[test]
fn low_zoom_simplifies_and_high_zoom_keeps_every_vertex() {
    // A wiggly line: 400 vertices with 2-unit zigzag at zoom 15, far below half a pixel (8).
    for (z, expect_simplified) in [(15u8, true), (16u8, false)] {
        let t = TileId::containing(
            Coord {
                x: 116.3975,
                y: 39.9087,
            },
            z,
        )
        .unwrap();
        let coords: Vec<Coord> = (0..400)
            .map(|i| {
                from_tile(
                    t,
                    100.0 + f64::from(i) * 9.0,
                    2000.0 + if i % 2 == 0 { 0.0 } else { 2.0 },
                )
            })
            .collect();
        let g = Geometry::LineString(LineString::from(coords));
        let layers = [Layer {
            name: "l",
            features: vec![Feature {
                id: 1,
                geometry: (&g).into(),
                properties: vec![],
            }],
        }];
        let (_, _, parts) = decode_single(&encode(t, &layers, &EncodeOptions::default()));
        let n: usize = parts.iter().map(|p| p.pts.len()).sum();
        if expect_simplified {
            assert_eq!(n, 2, "z{z}");
        } else {
            assert_eq!(n, 400, "z{z}");
        }
        let off = EncodeOptions {
            simplify: false,
            ..EncodeOptions::default()
        };
        let (_, _, parts) = decode_single(&encode(t, &layers, &off));
        assert_eq!(parts[0].pts.len(), 400);
    }
}

#[test]
fn geometry_collections_split_by_type_and_keep_the_id() {
    let t = tiananmen_tile();
    let g = Geometry::GeometryCollection(geo::GeometryCollection(vec![
        Geometry::Point(from_tile(t, 10.0, 10.0).into()),
        Geometry::Polygon(Polygon::new(
            ring(t, &[(100.0, 100.0), (200.0, 100.0), (200.0, 200.0)]),
            vec![],
        )),
    ]));
    let layers = [Layer {
        name: "l",
        features: vec![Feature {
            id: 77,
            geometry: (&g).into(),
            properties: vec![("k", Value::Bool(true))],
        }],
    }];
    let l = &decode_tile(&encode(t, &layers, &EncodeOptions::default()))[0];
    let got: Vec<_> = l.features.iter().map(|f| (f.id, f.ty)).collect();
    assert_eq!(got, [(Some(77), 1), (Some(77), 3)]);
    assert!(l.features.iter().all(|f| l.props(f)["k"] == V::B(true)));
}

/// The same layers give the same bytes (no hash-map order leaks into a tile), and what the
/// bytes say, read by this file's own decoder, is the fixture whichever encoding is read.
#[test]
fn encoding_is_deterministic() {
    let t = tiananmen_tile();
    let f = fixture(t);
    let a = encode(t, &fixture_layers(&f), &EncodeOptions::default());
    let b = encode(t, &fixture_layers(&f), &EncodeOptions::default());
    assert_eq!(a, b);
    let layers = decode_tile(&a);
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0].name, "buildings");
    let ids: Vec<Option<u64>> = layers[0].features.iter().map(|x| x.id).collect();
    let want: Vec<Option<u64>> = fixture_layers(&f)[0]
        .features
        .iter()
        .filter(|x| !matches!(&x.geometry, gridmap_tiles::Shape::Geometry(std::borrow::Cow::Borrowed(g)) if std::ptr::eq(*g, &f.far_point)))
        .map(|x| Some(x.id))
        .collect();
    assert_eq!(
        ids, want,
        "the features, in order, less the one outside the tile"
    );
}
