//! Mapbox Vector Tile 2.1 encoding of longitude/latitude features.
//!
//! [`encode`] takes the features a caller has pre-selected for a tile (typically with an R-tree
//! query on [`TileId::buffered_bounds_lonlat`]), projects them to tile units, clips them to the
//! buffered tile, simplifies them at low zoom, rounds them to the integer grid, fixes ring
//! winding and writes the protobuf by hand (the schema is small and stable: `vector_tile.proto`
//! version 2.1). The output is uncompressed; the server gzips it.

use std::borrow::Cow;

use geo::{Coord, Geometry, LineString, MultiPolygon, Polygon};
use rustc_hash::FxHashMap;

use crate::clip::{self, ClipRect, P, Relation};
use crate::tile::{TileId, world_fraction};

/// A property value of a feature, written as the matching `Value` field of the tile.
///
/// Integers are written as `uint_value` when non-negative and `sint_value` (zigzag) when
/// negative; doubles as `double_value`. Equal values are stored once per layer.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// A UTF-8 string, borrowed from where it is kept or owned.
    String(Cow<'a, str>),
    /// A signed integer.
    Int(i64),
    /// A 64-bit float.
    Double(f64),
    /// A boolean.
    Bool(bool),
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(s: &'a str) -> Self {
        Value::String(Cow::Borrowed(s))
    }
}
impl From<String> for Value<'_> {
    fn from(s: String) -> Self {
        Value::String(Cow::Owned(s))
    }
}
impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<f64> for Value<'_> {
    fn from(v: f64) -> Self {
        Value::Double(v)
    }
}
impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

/// One feature to encode: an id, a longitude/latitude geometry and its properties.
///
/// A `GeometryCollection` mixing points, lines and polygons is written as one tile feature per
/// geometry type, all with the same id (a tile feature has a single type).
#[derive(Debug, Clone)]
pub struct Feature<'a> {
    /// Written as the feature's `id`.
    pub id: u64,
    /// WGS84 longitude/latitude geometry, borrowed from where it is kept.
    pub geometry: Shape<'a>,
    /// Properties in order; a key repeated within a feature is written once (its first value).
    pub properties: Vec<(&'a str, Value<'a>)>,
}

/// A feature's geometry as the encoder reads it: a `geo::Geometry` (borrowed or made for the
/// tile), or a (multi)polygon or point kept in another type (a building's footprint, a grid's
/// boundary), read where it is without a copy.
#[derive(Debug, Clone)]
pub enum Shape<'a> {
    /// Any geometry.
    Geometry(Cow<'a, Geometry>),
    /// Polygons kept elsewhere.
    Area(&'a MultiPolygon),
    /// A point.
    Point(Coord),
}

impl<'a> From<&'a Geometry> for Shape<'a> {
    fn from(g: &'a Geometry) -> Self {
        Shape::Geometry(Cow::Borrowed(g))
    }
}

/// A named layer of features.
#[derive(Debug, Clone)]
pub struct Layer<'a> {
    /// The layer name (unique within a tile).
    pub name: &'a str,
    /// The features, in output order.
    pub features: Vec<Feature<'a>>,
}

/// How [`encode`] turns geometries into tile units.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodeOptions {
    /// Tile units per tile side (4096).
    pub extent: u32,
    /// Tile units kept beyond each tile edge (64), so lines and polygon edges join seamlessly.
    pub buffer: u32,
    /// Simplify lines and rings with Douglas–Peucker below `simplify_below_zoom` (true).
    pub simplify: bool,
    /// Douglas–Peucker tolerance in pixels of a 256-pixel tile (0.5, i.e. `extent / 512` tile
    /// units: 8 at extent 4096).
    pub simplify_tolerance_px: f64,
    /// Zoom from which geometry is kept at full detail (16).
    pub simplify_below_zoom: u8,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            extent: 4096,
            buffer: 64,
            simplify: true,
            simplify_tolerance_px: 0.5,
            simplify_below_zoom: 16,
        }
    }
}

/// Encodes `layers` for `tile` as an uncompressed Mapbox Vector Tile 2.1 (protobuf).
///
/// For every feature: lon/lat → Web Mercator → tile units (`extent` per side, y down); points
/// outside the buffered tile `[-buffer, extent + buffer]²` are dropped, lines are clipped with
/// Liang–Barsky (a line leaving and re-entering becomes a multi-line), polygon rings with
/// Sutherland–Hodgman (the result stays a closed ring inside the buffered tile); below
/// `simplify_below_zoom` lines and rings are simplified with Douglas–Peucker; coordinates are
/// rounded to integers and lines shorter than two distinct points and rings with zero area are
/// dropped (a polygon whose exterior collapses is dropped with its holes). Exterior rings are
/// written clockwise on screen (positive surveyor's area in tile units), interior rings
/// counter-clockwise. Every feature carries its `id`; keys and values are de-duplicated per
/// layer; layers with no surviving feature are left out, and a tile with none at all is an
/// empty `Vec` (serve it as 204).
///
/// ```
/// use gridmap_tiles::{encode, EncodeOptions, Feature, Layer, TileId, Value};
/// let tile = TileId::new(16, 53957, 24832).unwrap();
/// let centre = geo::Geometry::Point(tile.bounds_lonlat().center().into());
/// let layer = Layer {
///     name: "buildings",
///     features: vec![Feature { id: 7, geometry: (&centre).into(), properties: vec![("grid", Value::from("G01"))] }],
/// };
/// let bytes = encode(tile, &[layer], &EncodeOptions::default());
/// assert!(!bytes.is_empty());
/// let empty = encode(tile, &[], &EncodeOptions::default());
/// assert!(empty.is_empty());
/// ```
///
/// # Performance
/// Linear in the number of input vertices (a few multiply-adds each near the tile; a `tan`,
/// `cos` and `ln` for vertices far from it); scratch buffers are reused across features, so the
/// allocations are the output and the per-layer key/value tables. On building footprints
/// (~6.5 vertices) it costs about 0.3–1 µs per feature on one core, most of it waiting for the
/// caller's geometries to come in from memory; see `examples/bench_encode.rs`. Pre-select
/// features with an index: work is spent on every feature passed, even those outside the tile.
pub fn encode(tile: TileId, layers: &[Layer<'_>], options: &EncodeOptions) -> Vec<u8> {
    let mut enc = Encoder::new(tile, options);
    let mut out = Vec::new();
    let mut layer_buf = Vec::new();
    for layer in layers {
        layer_buf.clear();
        if enc.layer(layer, &mut layer_buf) {
            write_bytes(&mut out, 3, &layer_buf);
        }
    }
    out
}

/// The features of one tile layer with their geometry encoded and no properties: what a tile
/// keeps while its features' properties change. A building's visit status changes with every
/// visit, its footprint seldom; a cache of these lets the server write a building tile without
/// querying, projecting, clipping and simplifying its footprints again ([`encode_shapes`]).
#[derive(Debug, Clone, Default)]
pub struct Shapes {
    /// Per tile feature, in input order: its id and where its type and geometry fields end in
    /// `bytes` (each starts where the one before ends). A feature of several geometry types
    /// has one entry per type, as [`encode`] writes it.
    parts: Vec<(u64, u32)>,
    /// The encoded type and geometry fields, one after the other.
    bytes: Vec<u8>,
    /// Tile units per side.
    extent: u32,
}

impl Shapes {
    /// The geometry of `features` in `tile`, as [`encode`] would write it; their properties are
    /// not kept. Features with nothing left in the tile are left out.
    pub fn new(tile: TileId, features: &[Feature<'_>], options: &EncodeOptions) -> Shapes {
        let mut enc = Encoder::new(tile, options);
        let mut out = Shapes {
            parts: Vec::with_capacity(features.len()),
            bytes: Vec::with_capacity(features.len() * 24),
            extent: enc.extent_u32,
        };
        for (i, f) in features.iter().enumerate() {
            if i % TOUCH_AHEAD == 0 {
                let n = features.len();
                let from = if i == 0 { 0 } else { i + TOUCH_AHEAD };
                touch(&features[from.min(n)..(i + 2 * TOUCH_AHEAD).min(n)]);
            }
            if !enc.shape(&f.geometry) {
                continue;
            }
            enc.parts(|ty, geom| {
                write_shape(&mut out.bytes, ty, geom);
                out.parts.push((f.id, out.bytes.len() as u32));
            });
        }
        out.parts.shrink_to_fit();
        out.bytes.shrink_to_fit();
        out
    }

    /// Number of tile features.
    pub fn len(&self) -> usize {
        self.parts.len()
    }

    /// Whether no feature has anything in the tile.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Bytes held on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.bytes.capacity() + self.parts.capacity() * std::mem::size_of::<(u64, u32)>()
    }
}

/// A one-layer tile named `name` from `shapes`. For each feature, `properties(id, out)`
/// pushes its properties onto `out` and answers whether it is kept: a feature it answers
/// `false` for (one the reader may not see) is left out, and whatever was pushed for it is
/// dropped. The bytes equal [`encode`]'s for the same features and properties.
///
/// # Performance
/// Linear in the features and their properties, with no geometry work: the properties'
/// tables and a copy of each feature's encoded geometry. The properties of all features go
/// in one vector (a z14 tile of a district has ~6,000 buildings: one allocation, not one each).
pub fn encode_shapes<'p>(
    name: &str,
    shapes: &Shapes,
    mut properties: impl FnMut(u64, &mut Vec<(&'p str, Value<'p>)>) -> bool,
) -> Vec<u8> {
    // Every kept feature's properties, one after another; for each part kept, its feature's
    // range in them (the parts of one feature share it).
    let mut props: Vec<(&'p str, Value<'p>)> = Vec::with_capacity(shapes.parts.len() * 4);
    let mut kept: Vec<(usize, std::ops::Range<usize>)> = Vec::with_capacity(shapes.parts.len());
    let mut last: Option<(u64, Option<std::ops::Range<usize>>)> = None;
    for (k, &(id, _)) in shapes.parts.iter().enumerate() {
        let range = match &last {
            Some((prev, range)) if *prev == id => range.clone(),
            _ => {
                let start = props.len();
                if properties(id, &mut props) {
                    Some(start..props.len())
                } else {
                    props.truncate(start);
                    None
                }
            }
        };
        if let Some(r) = &range {
            kept.push((k, r.clone()));
        }
        last = Some((id, range));
    }
    if kept.is_empty() {
        return Vec::new();
    }
    let mut tags = Tags::with_capacity(kept.len());
    let mut layer = Vec::with_capacity(shapes.bytes.len() + kept.len() * 16);
    write_layer_head(&mut layer, name);
    let mut pairs = Vec::new();
    for (k, p) in &kept {
        let (id, end) = shapes.parts[*k];
        let begin = if *k == 0 { 0 } else { shapes.parts[*k - 1].1 };
        tags.of(&props[p.clone()], &mut pairs);
        write_feature(
            &mut layer,
            id,
            &pairs,
            &shapes.bytes[begin as usize..end as usize],
        );
    }
    tags.write(&mut layer);
    write_varint_field(&mut layer, 5, u64::from(shapes.extent));
    let mut out = Vec::with_capacity(layer.len() + 8);
    write_bytes(&mut out, 3, &layer);
    out
}

/// MVT `GeomType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GeomType {
    Point = 1,
    LineString = 2,
    Polygon = 3,
}

/// Command integers of one geometry type, with the delta cursor they are relative to.
#[derive(Default)]
struct Commands {
    buf: Vec<u32>,
    cursor: [i32; 2],
}

impl Commands {
    fn clear(&mut self) {
        self.buf.clear();
        self.cursor = [0, 0];
    }

    #[inline]
    fn command(&mut self, id: u32, count: u32) {
        self.buf.push((id & 0x7) | (count << 3));
    }

    #[inline]
    fn point(&mut self, p: [i32; 2]) {
        let dx = p[0] - self.cursor[0];
        let dy = p[1] - self.cursor[1];
        self.buf.push(zigzag32(dx));
        self.buf.push(zigzag32(dy));
        self.cursor = p;
    }

    /// `MoveTo(1)`, `LineTo(n - 1)` over `pts` (at least two points).
    fn path(&mut self, pts: &[[i32; 2]]) {
        self.command(MOVE_TO, 1);
        self.point(pts[0]);
        self.command(LINE_TO, (pts.len() - 1) as u32);
        for &p in &pts[1..] {
            self.point(p);
        }
    }
}

const MOVE_TO: u32 = 1;
const LINE_TO: u32 = 2;
const CLOSE_PATH: u32 = 7;

#[inline]
fn zigzag32(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

/// A property value as a hashable table key, borrowing strings from the input.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum ValueKey<'a> {
    String(&'a str),
    Int(i64),
    Double(u64),
    Bool(bool),
}

/// Mercator `y = atanh(sin φ)` expanded to 4th order about the tile's centre latitude `φ0`.
///
/// Exact projection costs a `tan`, a `cos` and a `ln` per vertex, a third of the encoding time
/// on building layers; near the tile the polynomial is exact to 0.01 tile units (the bound on
/// the 5th-order remainder sets `max_d`), and vertices further away use the exact formula.
struct Taylor {
    /// `y(φ0)`.
    y0: f64,
    /// Coefficients of `Δ, Δ², Δ³, Δ⁴`.
    c: [f64; 4],
    /// Largest `|φ − φ0|` (radians) where the expansion is used.
    max_d: f64,
    /// Tile units per unit of Mercator `y`.
    scale: f64,
    /// Tile-unit row of Mercator `y = 0` (the equator), relative to this tile.
    origin: f64,
}

impl Taylor {
    fn new(lat0: f64, tile: TileId, extent: f64) -> Self {
        let (sec, tan) = (1.0 / lat0.cos(), lat0.tan());
        let scale = extent * tile.scale() / (2.0 * std::f64::consts::PI);
        // Remainder |y⁽⁵⁾| Δ⁵ / 120 with a generous bound on y⁽⁵⁾ near φ0.
        let sec_far = 1.0 / (lat0.abs() + 0.1).min(1.5).cos();
        let m5 = 120.0 * sec_far.powi(6);
        let max_d = (1.2 / (m5 * scale)).powf(0.2).min(0.05);
        Taylor {
            y0: (lat0.tan() + sec).ln(),
            c: [
                sec,
                sec * tan / 2.0,
                (sec * tan * tan + sec.powi(3)) / 6.0,
                (sec * tan.powi(3) + 5.0 * sec.powi(3) * tan) / 24.0,
            ],
            max_d,
            scale,
            origin: extent * (tile.scale() / 2.0 - f64::from(tile.y)),
        }
    }
}

/// Per-encode state: the projection and reused scratch buffers.
struct Encoder {
    lat0: f64,
    taylor: Taylor,
    n: f64,
    tx: f64,
    ty: f64,
    extent: f64,
    extent_u32: u32,
    clip: ClipRect,
    sq_tol: Option<f64>,
    proj: Vec<P>,
    clipped: Vec<P>,
    tmp: Vec<P>,
    part: Vec<P>,
    parts: Vec<(usize, usize)>,
    keep: Vec<bool>,
    stack: Vec<(usize, usize)>,
    q: Vec<[i32; 2]>,
    points: Vec<[i32; 2]>,
    lines: Commands,
    polys: Commands,
    tags: Vec<u32>,
}

impl Encoder {
    fn new(tile: TileId, o: &EncodeOptions) -> Self {
        let extent = f64::from(o.extent.max(1));
        let buffer = f64::from(o.buffer);
        let tol = o.simplify_tolerance_px * extent / 256.0;
        let lat0 = tile.bounds_lonlat().center().y.to_radians();
        Encoder {
            lat0,
            taylor: Taylor::new(lat0, tile, extent),
            n: tile.scale(),
            tx: f64::from(tile.x),
            ty: f64::from(tile.y),
            extent,
            extent_u32: o.extent.max(1),
            clip: ClipRect {
                min: -buffer,
                max: extent + buffer,
            },
            sq_tol: (o.simplify && tile.z < o.simplify_below_zoom && tol > 0.0)
                .then_some(tol * tol),
            proj: Vec::new(),
            clipped: Vec::new(),
            tmp: Vec::new(),
            part: Vec::new(),
            parts: Vec::new(),
            keep: Vec::new(),
            stack: Vec::new(),
            q: Vec::new(),
            points: Vec::new(),
            lines: Commands::default(),
            polys: Commands::default(),
            tags: Vec::new(),
        }
    }

    #[inline]
    fn project(&self, c: Coord) -> P {
        let x = ((c.x + 180.0) / 360.0 * self.n - self.tx) * self.extent;
        let d = c.y.to_radians() - self.lat0;
        if d.abs() <= self.taylor.max_d {
            let t = &self.taylor;
            let merc = t.y0 + d * (t.c[0] + d * (t.c[1] + d * (t.c[2] + d * t.c[3])));
            return [x, self.taylor.origin - merc * self.taylor.scale];
        }
        let (_, fy) = world_fraction(c);
        [x, (fy * self.n - self.ty) * self.extent]
    }

    /// Writes the layer body into `out`; false when no feature survived.
    fn layer<'a>(&mut self, layer: &Layer<'a>, out: &mut Vec<u8>) -> bool {
        let mut tags = Tags::with_capacity(layer.features.len());
        out.reserve(layer.features.len() * 48);
        write_layer_head(out, layer.name);
        let mut any = false;
        let mut shape = Vec::new();
        for (i, f) in layer.features.iter().enumerate() {
            if i % TOUCH_AHEAD == 0 {
                // Warm the next batch while this one is encoded (the first batch warms itself).
                let n = layer.features.len();
                let from = if i == 0 { 0 } else { i + TOUCH_AHEAD };
                touch(&layer.features[from.min(n)..(i + 2 * TOUCH_AHEAD).min(n)]);
            }
            if !self.shape(&f.geometry) {
                continue;
            }
            any = true;
            tags.of(&f.properties, &mut self.tags);
            let pairs = std::mem::take(&mut self.tags);
            self.parts(|ty, geom| {
                shape.clear();
                write_shape(&mut shape, ty, geom);
                write_feature(out, f.id, &pairs, &shape);
            });
            self.tags = pairs;
        }
        if !any {
            return false;
        }
        tags.write(out);
        write_varint_field(out, 5, u64::from(self.extent_u32));
        true
    }

    /// Projects, clips and simplifies `shape` into the command buffers; false when nothing of
    /// it is left in the tile.
    fn shape(&mut self, shape: &Shape<'_>) -> bool {
        self.points.clear();
        self.lines.clear();
        self.polys.clear();
        match shape {
            Shape::Geometry(g) => self.geometry(g),
            Shape::Area(mp) => mp.iter().for_each(|p| self.polygon(p)),
            Shape::Point(c) => self.point(*c),
        }
        !(self.points.is_empty() && self.lines.buf.is_empty() && self.polys.buf.is_empty())
    }

    /// Calls `part` with the type and commands of each geometry type in the buffers, points,
    /// lines then polygons (a tile feature has one type).
    fn parts(&self, mut part: impl FnMut(GeomType, &[u32])) {
        if !self.points.is_empty() {
            let mut c = Commands::default();
            c.command(MOVE_TO, self.points.len() as u32);
            for &p in &self.points {
                c.point(p);
            }
            part(GeomType::Point, &c.buf);
        }
        if !self.lines.buf.is_empty() {
            part(GeomType::LineString, &self.lines.buf);
        }
        if !self.polys.buf.is_empty() {
            part(GeomType::Polygon, &self.polys.buf);
        }
    }

    fn geometry(&mut self, g: &Geometry) {
        match g {
            Geometry::Point(p) => self.point(p.0),
            Geometry::MultiPoint(mp) => mp.iter().for_each(|p| self.point(p.0)),
            Geometry::Line(l) => self.line(&[l.start, l.end]),
            Geometry::LineString(ls) => self.line(&ls.0),
            Geometry::MultiLineString(mls) => mls.iter().for_each(|ls| self.line(&ls.0)),
            Geometry::Polygon(p) => self.polygon(p),
            Geometry::MultiPolygon(mp) => mp.iter().for_each(|p| self.polygon(p)),
            Geometry::Rect(r) => self.polygon(&r.to_polygon()),
            Geometry::Triangle(t) => self.polygon(&t.to_polygon()),
            Geometry::GeometryCollection(gc) => gc.iter().for_each(|g| self.geometry(g)),
        }
    }

    fn point(&mut self, c: Coord) {
        let p = self.project(c);
        if self.clip.contains(p) {
            self.points.push([p[0].round() as i32, p[1].round() as i32]);
        }
    }

    fn line(&mut self, coords: &[Coord]) {
        if coords.len() < 2 {
            return;
        }
        self.proj.clear();
        for &c in coords {
            let p = self.project(c);
            self.proj.push(p);
        }
        match clip::relate(&self.proj, self.clip) {
            Relation::Outside => {}
            Relation::Inside => {
                self.part.clear();
                self.part.extend_from_slice(&self.proj);
                self.emit_line_part();
            }
            Relation::Crossing => {
                clip::clip_line(&self.proj, self.clip, &mut self.clipped, &mut self.parts);
                for i in 0..self.parts.len() {
                    let (a, b) = self.parts[i];
                    self.part.clear();
                    self.part.extend_from_slice(&self.clipped[a..b]);
                    self.emit_line_part();
                }
            }
        }
    }

    fn emit_line_part(&mut self) {
        if let Some(t) = self.sq_tol {
            clip::simplify(&mut self.part, t, &mut self.keep, &mut self.stack);
        }
        clip::quantise(&self.part, &mut self.q);
        if self.q.len() >= 2 {
            self.lines.path(&self.q);
        }
    }

    fn polygon(&mut self, poly: &Polygon) {
        if !self.ring(poly.exterior(), true) {
            return;
        }
        for hole in poly.interiors() {
            self.ring(hole, false);
        }
    }

    /// Prepares one ring into `self.q` and writes it with the required winding; false when it
    /// fell outside the tile or collapsed.
    fn ring(&mut self, ls: &LineString, exterior: bool) -> bool {
        let mut coords = ls.0.as_slice();
        if coords.len() >= 2 && coords.first() == coords.last() {
            coords = &coords[..coords.len() - 1];
        }
        if coords.len() < 3 {
            return false;
        }
        self.proj.clear();
        for &c in coords {
            let p = self.project(c);
            self.proj.push(p);
        }
        self.part.clear();
        match clip::relate(&self.proj, self.clip) {
            Relation::Outside => return false,
            Relation::Inside => self.part.extend_from_slice(&self.proj),
            Relation::Crossing => {
                clip::clip_ring(&self.proj, self.clip, &mut self.clipped, &mut self.tmp);
                self.part.extend_from_slice(&self.clipped);
            }
        }
        if self.part.len() < 3 {
            return false;
        }
        if let Some(t) = self.sq_tol {
            // Simplify the ring as a path closed on its first point.
            let first = self.part[0];
            self.part.push(first);
            clip::simplify(&mut self.part, t, &mut self.keep, &mut self.stack);
            self.part.pop();
        }
        clip::quantise(&self.part, &mut self.q);
        while self.q.len() > 1 && self.q.first() == self.q.last() {
            self.q.pop();
        }
        if self.q.len() < 3 {
            return false;
        }
        let area = clip::signed_area2(&self.q);
        if area == 0 {
            return false;
        }
        if (area > 0) != exterior {
            self.q.reverse();
        }
        let q = std::mem::take(&mut self.q);
        self.polys.path(&q);
        self.polys.command(CLOSE_PATH, 1);
        self.q = q;
        true
    }
}

/// Features whose coordinates are loaded together before they are encoded.
const TOUCH_AHEAD: usize = 32;

/// Reads the first coordinate of each feature so that their cache misses overlap.
///
/// Callers' geometries usually live in separate heap blocks spread over a large index; encoding
/// them one by one stalls on one memory round trip per feature (measured: three quarters of the
/// time on a million-building town). These loads are independent of each other, so the CPU
/// issues them in parallel and the encoding loop then finds the lines in cache.
/// Only the ends of the first ring are read: enough to start the hardware prefetchers.
fn touch(features: &[Feature<'_>]) {
    let mut acc = 0u64;
    let mut ends = |coords: &[Coord]| {
        if let (Some(a), Some(b)) = (coords.first(), coords.last()) {
            acc ^= a.x.to_bits() ^ b.y.to_bits();
        }
    };
    for f in features {
        let g = match &f.geometry {
            Shape::Geometry(g) => g.as_ref(),
            Shape::Area(mp) => {
                if let Some(p) = mp.0.first() {
                    ends(&p.exterior().0);
                }
                continue;
            }
            Shape::Point(c) => {
                ends(std::slice::from_ref(c));
                continue;
            }
        };
        match g {
            Geometry::Polygon(p) => ends(&p.exterior().0),
            Geometry::LineString(ls) => ends(&ls.0),
            Geometry::Point(p) => ends(std::slice::from_ref(&p.0)),
            Geometry::MultiPolygon(mp) => {
                if let Some(p) = mp.0.first() {
                    ends(&p.exterior().0);
                }
            }
            _ => {}
        }
    }
    std::hint::black_box(acc);
}

/// A layer's tables of keys and values, each written once, and the tag pairs of the feature
/// at hand.
struct Tags<'a> {
    keys: FxHashMap<&'a str, u32>,
    key_list: Vec<&'a str>,
    values: FxHashMap<ValueKey<'a>, u32>,
    value_list: Vec<&'a Value<'a>>,
    /// The keys of the feature before and their indexes: features of a layer mostly have the
    /// same keys in the same order, found again without hashing.
    last_keys: Vec<(&'a str, u32)>,
}

impl<'a> Tags<'a> {
    /// Tables sized for `features` features, each with a value of its own (ids as properties
    /// are common).
    fn with_capacity(features: usize) -> Self {
        Tags {
            keys: FxHashMap::default(),
            key_list: Vec::new(),
            values: FxHashMap::with_capacity_and_hasher(features, Default::default()),
            value_list: Vec::new(),
            last_keys: Vec::new(),
        }
    }

    /// The (key, value) index pairs of `properties` into `pairs`, adding new keys and values to
    /// the tables; a key repeated within the feature keeps its first value.
    fn of(&mut self, properties: &'a [(&'a str, Value<'a>)], pairs: &mut Vec<u32>) {
        pairs.clear();
        for (i, (k, v)) in properties.iter().enumerate() {
            if properties[..i].iter().any(|(k2, _)| k2 == k) {
                continue;
            }
            let ki = match self.last_keys.get(i) {
                Some(&(last, ki)) if std::ptr::eq(last, *k) => ki,
                _ => {
                    let next = self.key_list.len() as u32;
                    let ki = *self.keys.entry(*k).or_insert_with(|| {
                        self.key_list.push(k);
                        next
                    });
                    self.last_keys.truncate(i);
                    if self.last_keys.len() == i {
                        self.last_keys.push((k, ki));
                    }
                    ki
                }
            };
            let vk = match v {
                Value::String(s) => ValueKey::String(s.as_ref()),
                Value::Int(i) => ValueKey::Int(*i),
                Value::Double(d) => ValueKey::Double(d.to_bits()),
                Value::Bool(b) => ValueKey::Bool(*b),
            };
            let next = self.value_list.len() as u32;
            let vi = *self.values.entry(vk).or_insert_with(|| {
                self.value_list.push(v);
                next
            });
            pairs.push(ki);
            pairs.push(vi);
        }
    }

    /// Writes the layer's keys (field 3) and values (field 4).
    fn write(self, out: &mut Vec<u8>) {
        for k in self.key_list {
            write_bytes(out, 3, k.as_bytes());
        }
        let mut vbuf = Vec::new();
        for v in self.value_list {
            vbuf.clear();
            match v {
                Value::String(s) => write_bytes(&mut vbuf, 1, s.as_bytes()),
                Value::Double(d) => {
                    write_tag(&mut vbuf, 3, 1);
                    vbuf.extend_from_slice(&d.to_le_bytes());
                }
                Value::Int(i) if *i >= 0 => write_varint_field(&mut vbuf, 5, *i as u64),
                Value::Int(i) => write_varint_field(&mut vbuf, 6, ((*i << 1) ^ (*i >> 63)) as u64),
                Value::Bool(b) => write_varint_field(&mut vbuf, 7, u64::from(*b)),
            }
            write_bytes(out, 4, &vbuf);
        }
    }
}

/// The start of a layer: its version (2) and name.
fn write_layer_head(out: &mut Vec<u8>, name: &str) {
    write_varint_field(out, 15, 2);
    write_bytes(out, 1, name.as_bytes());
}

/// A feature's type (field 3) and geometry commands (field 4).
fn write_shape(out: &mut Vec<u8>, ty: GeomType, geom: &[u32]) {
    write_varint_field(out, 3, ty as u64);
    write_packed(out, 4, geom);
}

/// A feature (layer field 2): its id, tag pairs and `shape` (from [`write_shape`]).
fn write_feature(out: &mut Vec<u8>, id: u64, tags: &[u32], shape: &[u8]) {
    let tags_len: usize = tags.iter().map(|&v| varint_len(u64::from(v))).sum();
    let mut len = 1 + varint_len(id) + shape.len();
    if !tags.is_empty() {
        len += 1 + varint_len(tags_len as u64) + tags_len;
    }
    write_tag(out, 2, 2);
    write_varint(out, len as u64);
    write_varint_field(out, 1, id);
    write_packed(out, 2, tags);
    out.extend_from_slice(shape);
}

// --- protobuf wire format -------------------------------------------------------------------

#[inline]
fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline]
fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

#[inline]
fn write_tag(out: &mut Vec<u8>, field: u32, wire_type: u32) {
    write_varint(out, u64::from((field << 3) | wire_type));
}

fn write_varint_field(out: &mut Vec<u8>, field: u32, v: u64) {
    write_tag(out, field, 0);
    write_varint(out, v);
}

fn write_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    write_tag(out, field, 2);
    write_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn write_packed(out: &mut Vec<u8>, field: u32, vals: &[u32]) {
    if vals.is_empty() {
        return;
    }
    let len: usize = vals.iter().map(|&v| varint_len(u64::from(v))).sum();
    write_tag(out, field, 2);
    write_varint(out, len as u64);
    for &v in vals {
        write_varint(out, u64::from(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taylor_projection_matches_the_exact_formula() {
        for &(lon, lat) in &[
            (116.3975, 39.9087),
            (120.9, 30.9),
            (-70.0, -60.0),
            (10.0, 80.0),
            (0.0, 0.0),
        ] {
            for z in [0u8, 4, 10, 14, 16, 20, 24] {
                let t = TileId::containing(Coord { x: lon, y: lat }, z).unwrap();
                let e = Encoder::new(t, &EncodeOptions::default());
                for dlat in [-1.0, -0.05, -0.003, 0.0, 1e-7, 0.004, 0.2, 3.0] {
                    let c = Coord {
                        x: lon,
                        y: (lat + dlat).clamp(-85.0, 85.0),
                    };
                    let (_, fy) = world_fraction(c);
                    let exact = (fy * t.scale() - f64::from(t.y)) * 4096.0;
                    let got = e.project(c)[1];
                    assert!((got - exact).abs() < 0.02, "z{z} {c:?}: {got} vs {exact}");
                }
            }
        }
    }

    #[test]
    fn tag_pairs_name_each_feature_s_own_keys_and_values() {
        // Keys in the same order, in another order, fewer, repeated, and equal strings kept
        // elsewhere (not the same pointer): each pair must name the feature's key and value.
        let other_id = String::from("id");
        let features: Vec<Vec<(&str, Value)>> = vec![
            vec![("id", Value::from("a")), ("grid", Value::from(1i64))],
            vec![("id", Value::from("b")), ("grid", Value::from(2i64))],
            vec![("grid", Value::from(2i64)), ("id", Value::from("c"))],
            vec![("grid", Value::from(3i64))],
            vec![
                ("id", Value::from("d")),
                ("id", Value::from("e")),
                ("x", Value::from(true)),
            ],
            vec![
                (other_id.as_str(), Value::from("a")),
                ("grid", Value::from(1i64)),
            ],
            vec![],
            vec![("id", Value::from("f")), ("grid", Value::from(1.5))],
        ];
        let mut tags = Tags::with_capacity(features.len());
        let mut pairs = Vec::new();
        for f in &features {
            tags.of(f, &mut pairs);
            let named: Vec<(&str, &Value)> = pairs
                .chunks(2)
                .map(|kv| {
                    (
                        tags.key_list[kv[0] as usize],
                        tags.value_list[kv[1] as usize],
                    )
                })
                .collect();
            let mut expected: Vec<(&str, &Value)> = Vec::new();
            for (k, v) in f {
                if !expected.iter().any(|(k2, _)| k2 == k) {
                    expected.push((k, v));
                }
            }
            assert_eq!(named, expected);
        }
        assert_eq!(tags.key_list, ["id", "grid", "x"]);
    }

    #[test]
    fn varints_and_zigzag_follow_the_protobuf_spec() {
        let mut b = Vec::new();
        write_varint(&mut b, 300);
        assert_eq!(b, [0xac, 0x02]);
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            16383,
            16384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut b = Vec::new();
            write_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v), "{v}");
        }
        assert_eq!(zigzag32(0), 0);
        assert_eq!(zigzag32(-1), 1);
        assert_eq!(zigzag32(1), 2);
        assert_eq!(zigzag32(-2), 3);
        assert_eq!(zigzag32(i32::MIN), u32::MAX);
    }
}
