//! Reading layers (grids, buildings, addresses, boundaries, basemap) from GeoJSON and
//! FlatGeobuf.
//!
//! Both formats are first read into [`RawFeature`]s: the wanted properties and the geometry as
//! raw rings, so that defects the geometry model would silently repair (an unclosed ring) can be
//! reported. Then each layer turns raw features into model records, checking ids and values.
//! A file either reads whole or fails with an error naming the file and the feature.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use flatgeobuf::packed_r_tree::PackedRTree;
use flatgeobuf::{ColumnType, GeometryType};

use crate::fgb;
use geo::{
    Coord, Geometry, LineString, MultiLineString, MultiPolygon, Point, Polygon, unary_union,
};
use gridmap_core::model::{
    Address, BasemapFeature, BasemapLayer, Building, Footprint, Grid, Unit, Visit, VisitOutcome,
};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde_json::Value;

use crate::Error;

/// File formats read natively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// GeoJSON (`.geojson`, `.json`), RFC 7946.
    GeoJson,
    /// FlatGeobuf (`.fgb`), read with or without its spatial index.
    FlatGeobuf,
    /// Anything else GDAL reads (Shapefile, GeoPackage, KML, GML, DXF, CSV, …).
    #[cfg(feature = "gdal")]
    Gdal,
}

impl Format {
    /// The format of `path`, by its extension.
    pub fn of(path: &Path) -> Result<Format, Error> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("geojson" | "json") => Ok(Format::GeoJson),
            Some("fgb") => Ok(Format::FlatGeobuf),
            #[cfg(feature = "gdal")]
            Some(_) => Ok(Format::Gdal),
            _ => Err(Error::UnknownFormat {
                path: path.to_path_buf(),
            }),
        }
    }
}

/// A geometry as found in the file: points, or polygons as lists of raw rings.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// A Point (lon, lat).
    Point(Coord),
    /// Polygon or MultiPolygon parts, each a list of rings (exterior first, then holes), each
    /// ring as its coordinates in the file, not yet checked.
    Polygons(Vec<Vec<Vec<Coord>>>),
    /// Lines (LineString or MultiLineString parts).
    Lines(Vec<Vec<Coord>>),
    /// Any other geometry type, by name.
    Other(String),
}

/// One feature as read: its position in the file, the wanted properties (in the order asked
/// for; `None` when absent or null) and its geometry (`None` when null).
#[derive(Debug, Clone, PartialEq)]
pub struct RawFeature {
    /// 0-based position of the feature in the file.
    pub index: usize,
    /// The wanted properties, in the order asked for; `None` when absent or null.
    pub properties: Vec<Option<Value>>,
    /// The geometry as in the file (not yet transformed or checked); `None` when null.
    pub geometry: Option<Shape>,
}

/// Reads every feature of a GeoJSON or FlatGeobuf file and converts each with `convert`, in
/// parallel, keeping file order. Only the `wanted` properties are kept. A GeoJSON file may hold a
/// FeatureCollection, one Feature or one bare geometry. The first feature (in file order) that
/// fails to convert gives the error.
pub fn read_features<T: Send>(
    path: &Path,
    wanted: &[&str],
    convert: impl Fn(RawFeature) -> Result<T, Error> + Sync,
) -> Result<Vec<T>, Error> {
    read_features_encoded(path, wanted, None, convert)
}

/// [`read_features`], with the text encoding of formats that do not declare it (Shapefile).
pub fn read_features_encoded<T: Send>(
    path: &Path,
    wanted: &[&str],
    encoding: Option<&str>,
    convert: impl Fn(RawFeature) -> Result<T, Error> + Sync,
) -> Result<Vec<T>, Error> {
    read_results(path, wanted, encoding, convert)?
        .into_iter()
        .map(|r| r.map_err(|e| *e))
        .collect()
}

/// Every feature's conversion result, in file order; only file-level problems fail here. (A
/// feature's error is boxed: a million results then take the room of the values, not of an
/// error each.)
fn read_results<T: Send>(
    path: &Path,
    wanted: &[&str],
    encoding: Option<&str>,
    convert: impl Fn(RawFeature) -> Result<T, Error> + Sync,
) -> Result<Vec<Result<T, Box<Error>>>, Error> {
    let _ = encoding;
    let convert = |f| convert(f).map_err(Box::new);
    let results: Vec<Result<T, Box<Error>>> = match Format::of(path)? {
        Format::GeoJson => read_geojson(path, wanted)?
            .into_par_iter()
            .map(&convert)
            .collect(),
        Format::FlatGeobuf => read_fgb(path, wanted, &convert)?,
        #[cfg(feature = "gdal")]
        Format::Gdal => crate::gdal_io::read(path, wanted, encoding)?
            .into_par_iter()
            .map(&convert)
            .collect(),
    };
    Ok(results)
}

/// Reads a layer: all or nothing, or, when `fields.rejected` is set, the good features, with
/// each bad one's error put in the sink.
fn read_layer<T: Send>(
    path: &Path,
    wanted: &[&str],
    fields: &Fields,
    convert: impl Fn(RawFeature) -> Result<T, Error> + Sync,
) -> Result<Vec<(usize, T)>, Error> {
    let results = read_results(path, wanted, fields.encoding.as_deref(), |f| {
        let index = f.index;
        convert(f).map(|t| (index, t))
    })?;
    let Some(sink) = &fields.rejected else {
        return results.into_iter().map(|r| r.map_err(|e| *e)).collect();
    };
    let mut good = Vec::with_capacity(results.len());
    let mut bad = sink
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for r in results {
        match r {
            Ok(v) => good.push(v),
            Err(e) => match *e {
                e @ Error::Feature { .. } => bad.push(e),
                e => return Err(e),
            },
        }
    }
    Ok(good)
}

fn strip<T>(indexed: Vec<(usize, T)>) -> Vec<T> {
    indexed.into_iter().map(|(_, t)| t).collect()
}

/// Fails on a repeated id, or with `fields.rejected` set, drops the repeats (keeping the
/// first) and rejects them.
fn unique<T>(
    path: &Path,
    fields: &Fields,
    items: Vec<(usize, T)>,
    id: impl Fn(&T) -> &str,
) -> Result<Vec<T>, Error> {
    let Some(sink) = &fields.rejected else {
        check_unique(path, items.iter().map(|(_, t)| id(t)))?;
        return Ok(strip(items));
    };
    let mut seen: FxHashMap<String, usize> = FxHashMap::default();
    let mut keep = Vec::with_capacity(items.len());
    let mut bad = sink
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for (index, item) in items {
        let key = id(&item).to_string();
        if let Some(first) = seen.get(&key) {
            bad.push(Error::Feature {
                path: path.to_path_buf(),
                index,
                id: Some(key),
                message: format!("duplicate id: feature {first} has the same id"),
            });
        } else {
            seen.insert(key, index);
            keep.push(item);
        }
    }
    Ok(keep)
}

fn read_geojson(path: &Path, wanted: &[&str]) -> Result<Vec<RawFeature>, Error> {
    let mut text = String::new();
    File::open(path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(|e| Error::io(path, e))?;
    if text.trim().is_empty() {
        return Err(Error::Empty {
            path: path.to_path_buf(),
        });
    }
    let parsed: geojson::GeoJson = serde_json::from_str(&text).map_err(|e| Error::Json {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let features = match parsed {
        geojson::GeoJson::FeatureCollection(fc) => fc.features,
        geojson::GeoJson::Feature(f) => vec![f],
        geojson::GeoJson::Geometry(g) => vec![geojson::Feature {
            geometry: Some(g),
            ..Default::default()
        }],
    };
    features
        .into_iter()
        .enumerate()
        .map(|(index, f)| {
            let props = f.properties.unwrap_or_default();
            let properties = wanted
                .iter()
                .map(|name| match props.get(*name) {
                    Some(Value::Null) | None => {
                        // The feature-level id stands in for a missing `id` property.
                        match (*name, &f.id) {
                            ("id", Some(geojson::feature::Id::String(s))) => {
                                Some(Value::String(s.clone()))
                            }
                            ("id", Some(geojson::feature::Id::Number(n))) => {
                                Some(Value::Number(n.clone()))
                            }
                            _ => None,
                        }
                    }
                    Some(v) => Some(v.clone()),
                })
                .collect();
            let geometry = f.geometry.map(|g| geojson_shape(&g.value));
            Ok(RawFeature {
                index,
                properties,
                geometry,
            })
        })
        .collect()
}

fn geojson_shape(value: &geojson::GeometryValue) -> Shape {
    use geojson::GeometryValue as G;
    let coord = |p: &geojson::Position| Coord {
        x: p.as_slice().first().copied().unwrap_or(f64::NAN),
        y: p.as_slice().get(1).copied().unwrap_or(f64::NAN),
    };
    let polygon = |rings: &Vec<Vec<geojson::Position>>| -> Vec<Vec<Coord>> {
        rings
            .iter()
            .map(|r| r.iter().map(coord).collect())
            .collect()
    };
    match value {
        G::Point { coordinates } => Shape::Point(coord(coordinates)),
        G::Polygon { coordinates } => Shape::Polygons(vec![polygon(coordinates)]),
        G::MultiPolygon { coordinates } => {
            Shape::Polygons(coordinates.iter().map(polygon).collect())
        }
        G::LineString { coordinates } => {
            Shape::Lines(vec![coordinates.iter().map(coord).collect()])
        }
        G::MultiLineString { coordinates } => Shape::Lines(
            coordinates
                .iter()
                .map(|l| l.iter().map(coord).collect())
                .collect(),
        ),
        other => Shape::Other(other.type_name().to_string()),
    }
}

/// Bytes read from a FlatGeobuf file at a time; features in each block decode in parallel
/// while the next block is read.
const FGB_BLOCK: usize = 8 << 20;

/// The first block: small, so that decoding starts at once.
const FGB_FIRST_BLOCK: usize = 1 << 20;

fn read_fgb<T: Send>(
    path: &Path,
    wanted: &[&str],
    convert: &(dyn Fn(RawFeature) -> Result<T, Box<Error>> + Sync),
) -> Result<Vec<Result<T, Box<Error>>>, Error> {
    let bad = |message: String| Error::Fgb {
        path: path.to_path_buf(),
        message,
    };
    let io = |e| Error::io(path, e);
    let mut file = File::open(path).map_err(io)?;
    let mut buf = Vec::with_capacity(FGB_BLOCK);
    (&mut file).take(12).read_to_end(&mut buf).map_err(io)?;
    if buf.is_empty() {
        return Err(Error::Empty {
            path: path.to_path_buf(),
        });
    }
    if buf.len() < 12 || &buf[0..3] != b"fgb" || &buf[4..7] != b"fgb" {
        return Err(bad("the magic bytes are missing".into()));
    }
    let header_len = u32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]) as u64;
    (&mut file)
        .take(header_len)
        .read_to_end(&mut buf)
        .map_err(io)?;
    if buf.len() as u64 != 12 + header_len {
        return Err(bad("the header is truncated".into()));
    }
    let header = flatgeobuf::size_prefixed_root_as_header(&buf[8..])
        .map_err(|e| bad(format!("the header is damaged: {e}")))?;
    let header_type = header.geometry_type();
    let count = header.features_count() as usize;
    let node_size = header.index_node_size();
    // Each column: the slot it fills in `wanted`, if any, and its type.
    let columns: Vec<(Option<usize>, ColumnType)> = header
        .columns()
        .map(|cols| {
            cols.iter()
                .map(|c| (wanted.iter().position(|w| *w == c.name()), c.type_()))
                .collect()
        })
        .unwrap_or_default();
    if node_size > 0 && count > 0 {
        let index = PackedRTree::index_size(count, node_size) as u64;
        let skipped =
            std::io::copy(&mut (&mut file).take(index), &mut std::io::sink()).map_err(io)?;
        if skipped != index {
            return Err(bad("truncated in the spatial index".into()));
        }
    }
    buf.clear();

    let mut out: Vec<Result<T, Box<Error>>> = Vec::with_capacity(count);
    // The next block is read while the features of this one decode. The first block is small
    // so that decoding starts at once; later ones are FGB_BLOCK.
    let first_block = FGB_FIRST_BLOCK as u64;
    let got = (&mut file)
        .take(first_block)
        .read_to_end(&mut buf)
        .map_err(io)?;
    let mut eof = (got as u64) < first_block;
    let mut spare = Vec::with_capacity(FGB_BLOCK);
    loop {
        // The complete features at the front of the buffer.
        let mut spans = Vec::new();
        let mut pos = 0;
        while pos + 4 <= buf.len() {
            let size =
                u32::from_le_bytes([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]]) as usize;
            if pos + 4 + size > buf.len() {
                break;
            }
            spans.push(pos..pos + 4 + size);
            pos += 4 + size;
        }
        if eof && pos < buf.len() {
            let n = out.len() + spans.len();
            return Err(bad(format!(
                "truncated: feature {n} runs past the end of the file"
            )));
        }
        // The incomplete feature at the end starts the next buffer (a feature larger than a
        // block is read on until it is whole).
        let mut next = std::mem::take(&mut spare);
        next.clear();
        next.extend_from_slice(&buf[pos..]);
        let want = FGB_BLOCK.saturating_sub(next.len()).max(FGB_BLOCK / 4) as u64;
        let first = out.len();
        let block = &buf;
        let (read, ()) = rayon::join(
            || -> std::io::Result<usize> {
                if eof {
                    return Ok(0);
                }
                (&mut file).take(want).read_to_end(&mut next)
            },
            || {
                out.par_extend(spans.into_par_iter().enumerate().with_min_len(1024).map(
                    |(k, span)| {
                        let index = first + k;
                        let damaged = |e| {
                            Box::new(Error::Feature {
                                path: path.to_path_buf(),
                                index,
                                id: None,
                                message: format!("damaged feature: {e}"),
                            })
                        };
                        let feature = fgb::Feature::read(&block[span]).map_err(damaged)?;
                        let properties = feature
                            .properties
                            .map(|p| decode_properties(p, &columns, wanted.len()))
                            .unwrap_or_else(|| vec![None; wanted.len()]);
                        let geometry = feature
                            .geometry
                            .map(|g| fgb_shape(&g, header_type))
                            .transpose()
                            .map_err(damaged)?;
                        convert(RawFeature {
                            index,
                            properties,
                            geometry,
                        })
                    },
                ))
            },
        );
        let got = read.map_err(io)?;
        if eof && next.is_empty() {
            break;
        }
        eof |= (got as u64) < want;
        spare = std::mem::replace(&mut buf, next);
    }
    if count > 0 && out.len() != count {
        return Err(bad(format!(
            "the header announces {count} features but the file holds {} (truncated?)",
            out.len()
        )));
    }
    Ok(out)
}

/// Decodes the wanted columns of a FlatGeobuf property buffer: a sequence of (u16 column
/// index, value), values little-endian, strings and blobs prefixed by a u32 length. Reading
/// stops at a damaged tail, keeping the values read before it.
fn decode_properties(
    bytes: &[u8],
    columns: &[(Option<usize>, ColumnType)],
    n: usize,
) -> Vec<Option<Value>> {
    let mut out = vec![None; n];
    let mut p = 0;
    let take = |p: usize, k: usize| bytes.get(p..p + k);
    while let Some(col) = take(p, 2) {
        let col = u16::from_le_bytes([col[0], col[1]]) as usize;
        p += 2;
        let Some(&(slot, kind)) = columns.get(col) else {
            break;
        };
        let size = match kind {
            ColumnType::Byte | ColumnType::UByte | ColumnType::Bool => 1,
            ColumnType::Short | ColumnType::UShort => 2,
            ColumnType::Int | ColumnType::UInt | ColumnType::Float => 4,
            ColumnType::Long | ColumnType::ULong | ColumnType::Double => 8,
            _ => match take(p, 4) {
                Some(l) => {
                    p += 4;
                    u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize
                }
                None => break,
            },
        };
        let Some(v) = take(p, size) else { break };
        p += size;
        let Some(slot) = slot else { continue };
        let le4 = |v: &[u8]| [v[0], v[1], v[2], v[3]];
        let le8 = |v: &[u8]| [v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]];
        out[slot] = match kind {
            ColumnType::Byte => Some((v[0] as i8).into()),
            ColumnType::UByte => Some(v[0].into()),
            ColumnType::Bool => Some((v[0] != 0).into()),
            ColumnType::Short => Some(i16::from_le_bytes([v[0], v[1]]).into()),
            ColumnType::UShort => Some(u16::from_le_bytes([v[0], v[1]]).into()),
            ColumnType::Int => Some(i32::from_le_bytes(le4(v)).into()),
            ColumnType::UInt => Some(u32::from_le_bytes(le4(v)).into()),
            ColumnType::Long => Some(i64::from_le_bytes(le8(v)).into()),
            ColumnType::ULong => Some(u64::from_le_bytes(le8(v)).into()),
            ColumnType::Float => {
                serde_json::Number::from_f64(f64::from(f32::from_le_bytes(le4(v))))
                    .map(Value::Number)
            }
            ColumnType::Double => {
                serde_json::Number::from_f64(f64::from_le_bytes(le8(v))).map(Value::Number)
            }
            ColumnType::String | ColumnType::Json | ColumnType::DateTime => {
                Some(Value::String(String::from_utf8_lossy(v).into_owned()))
            }
            _ => None,
        };
    }
    out
}

fn fgb_shape(g: &fgb::Geometry, header_type: GeometryType) -> Result<Shape, fgb::Damaged> {
    let kind = if header_type == GeometryType::Unknown {
        GeometryType(g.kind()?)
    } else {
        header_type
    };
    let coords = |g: &fgb::Geometry| -> Result<Vec<Coord>, fgb::Damaged> { Ok(g.xy()?.collect()) };
    let rings = |g: &fgb::Geometry| -> Result<Vec<Vec<Coord>>, fgb::Damaged> {
        let all = coords(g)?;
        Ok(match g.ends()? {
            Some(ends) if ends.len() > 1 => {
                let mut start = 0usize;
                ends.map(|end| {
                    let end = end.min(all.len());
                    let ring = all[start.min(end)..end].to_vec();
                    start = end;
                    ring
                })
                .collect()
            }
            _ => vec![all],
        })
    };
    Ok(match kind {
        GeometryType::Point => Shape::Point(coords(g)?.first().copied().unwrap_or(Coord {
            x: f64::NAN,
            y: f64::NAN,
        })),
        GeometryType::Polygon => Shape::Polygons(vec![rings(g)?]),
        GeometryType::MultiPolygon => Shape::Polygons(
            g.parts()?
                .unwrap_or_default()
                .iter()
                .map(rings)
                .collect::<Result<_, _>>()?,
        ),
        GeometryType::LineString => Shape::Lines(vec![coords(g)?]),
        GeometryType::MultiLineString => Shape::Lines(rings(g)?),
        other => Shape::Other(format!("{other:?}")),
    })
}

/// A coordinate transform applied to every coordinate read, before the lon/lat range check
/// (a reprojection, GCJ-02 to WGS84, …). Must be callable from many threads.
pub type Transform = dyn Fn(Coord) -> Result<Coord, String> + Send + Sync;

/// How to read a layer: property names (each overridable from the command line), renames of
/// model fields to the file's property names, the text encoding for formats that do not
/// declare one, and a coordinate transform.
#[derive(Clone)]
pub struct Fields {
    /// Property holding a grid's code (default `code`).
    pub grid_id: String,
    /// Property holding a building's id (default `id`).
    pub building_id: String,
    /// Property holding an address's id (default `id`).
    pub address_id: String,
    /// `(model field, property in the file)`, e.g. `("households", "HU_SHU")`.
    pub rename: Vec<(String, String)>,
    /// Text encoding for formats that do not declare one (a Shapefile without `.cpg`), e.g.
    /// `GBK`; passed to GDAL.
    pub encoding: Option<String>,
    /// Applied to every coordinate read; `None` when the file is already WGS84 lon/lat.
    pub transform: Option<std::sync::Arc<Transform>>,
    /// When set, bad features are skipped and their errors collected here, instead of failing
    /// the whole read (`--skip-invalid`).
    pub rejected: Option<std::sync::Arc<std::sync::Mutex<Vec<Error>>>>,
}

impl std::fmt::Debug for Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fields")
            .field("grid_id", &self.grid_id)
            .field("building_id", &self.building_id)
            .field("address_id", &self.address_id)
            .field("rename", &self.rename)
            .field("encoding", &self.encoding)
            .field("transform", &self.transform.is_some())
            .field("skip_invalid", &self.rejected.is_some())
            .finish()
    }
}

impl Default for Fields {
    fn default() -> Self {
        Fields {
            grid_id: "code".into(),
            building_id: "id".into(),
            address_id: "id".into(),
            rename: Vec::new(),
            encoding: None,
            transform: None,
            rejected: None,
        }
    }
}

impl Fields {
    /// The property in the file that holds model field `name`.
    pub fn source<'a>(&'a self, name: &'a str) -> &'a str {
        self.rename
            .iter()
            .find(|(field, _)| field == name)
            .map_or(name, |(_, prop)| prop.as_str())
    }
}

/// Grids as read, with the defects that make some of them invalid (by index, with the reason).
#[derive(Debug, Clone, Default)]
pub struct GridLayer {
    /// Every grid, in file order, invalid ones included (with what geometry could be kept).
    pub grids: Vec<Grid>,
    /// `(index into grids, reason)` for grids the model cannot represent faithfully (e.g. an
    /// unclosed ring); pass them on as [`gridmap_core::validate::CoverageInput::input_defects`].
    pub defects: Vec<(usize, String)>,
}

struct Context<'a> {
    path: &'a Path,
    transform: Option<&'a Transform>,
}

impl Context<'_> {
    fn err(&self, f: &RawFeature, id: Option<&str>, message: impl Into<String>) -> Error {
        Error::Feature {
            path: self.path.to_path_buf(),
            index: f.index,
            id: id.map(str::to_string),
            message: message.into(),
        }
    }

    /// The feature's id from property `field`: a non-empty string or an integer.
    fn id(&self, f: &mut RawFeature, slot: usize, field: &str) -> Result<String, Error> {
        match f.properties[slot].take() {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(Value::String(_)) => {
                Err(self.err(f, None, format!("id property `{field}` is empty")))
            }
            Some(other) => Err(self.err(
                f,
                None,
                format!("id property `{field}` must be a string or number, found {other}"),
            )),
            None => Err(self.err(f, None, format!("missing id property `{field}`"))),
        }
    }

    /// [`text`](Self::text), taken out of the feature instead of copied.
    fn take_text(&self, f: &mut RawFeature, slot: usize) -> Option<String> {
        as_text(f.properties[slot].take())
    }

    fn text(&self, f: &RawFeature, slot: usize) -> Option<String> {
        as_text(f.properties[slot].clone())
    }

    fn count(
        &self,
        f: &RawFeature,
        id: &str,
        slot: usize,
        field: &str,
    ) -> Result<Option<u32>, Error> {
        let bad = |v: &Value| {
            self.err(
                f,
                Some(id),
                format!("property `{field}` must be a whole number ≥ 0, found {v}"),
            )
        };
        match &f.properties[slot] {
            None => Ok(None),
            Some(v @ Value::Number(n)) => {
                let x = n.as_f64().ok_or_else(|| bad(v))?;
                if x >= 0.0 && x.fract() == 0.0 && x <= f64::from(u32::MAX) {
                    Ok(Some(x as u32))
                } else {
                    Err(bad(v))
                }
            }
            Some(v @ Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad(v)),
            Some(v) => Err(bad(v)),
        }
    }

    /// The feature's point geometry, transformed and checked.
    fn point(&self, f: &RawFeature, id: &str) -> Result<Point, Error> {
        match &f.geometry {
            Some(Shape::Point(c)) => Ok(Point(self.coord(f, id, *c)?)),
            None => Err(self.err(f, Some(id), "geometry is null")),
            Some(_) => Err(self.err(f, Some(id), "geometry must be a Point")),
        }
    }

    /// Transforms a coordinate, then checks it is longitude/latitude.
    fn coord(&self, f: &RawFeature, id: &str, c: Coord) -> Result<Coord, Error> {
        let c = match self.transform {
            Some(t) if c.x.is_finite() && c.y.is_finite() => t(c)
                .map_err(|e| self.err(f, Some(id), format!("cannot convert a coordinate: {e}")))?,
            _ => c,
        };
        self.check_coord(f, id, c)?;
        Ok(c)
    }

    fn check_coord(&self, f: &RawFeature, id: &str, c: Coord) -> Result<(), Error> {
        if !c.x.is_finite() || !c.y.is_finite() {
            return Err(self.err(f, Some(id), "a coordinate is not a finite number"));
        }
        if c.x.abs() > 180.0 || c.y.abs() > 90.0 {
            return Err(self.err(
                f,
                Some(id),
                format!(
                    "coordinate ({}, {}) is out of range for longitude/latitude (|lon| ≤ 180, |lat| ≤ 90); is the file in a projected CRS?",
                    c.x, c.y
                ),
            ));
        }
        Ok(())
    }

    /// A line of at least two positions, transformed and checked.
    fn line(&self, f: &RawFeature, id: &str, mut line: Vec<Coord>) -> Result<LineString, Error> {
        if line.len() < 2 {
            return Err(self.err(f, Some(id), "a line has fewer than two points"));
        }
        for c in line.iter_mut() {
            *c = self.coord(f, id, *c)?;
        }
        Ok(LineString(line))
    }

    /// Turns raw polygons into a multipolygon, noting rings that were not closed or too short.
    fn polygons(
        &self,
        f: &RawFeature,
        id: &str,
        polygons: Vec<Vec<Vec<Coord>>>,
    ) -> Result<(MultiPolygon, Vec<String>), Error> {
        let many = polygons.len() > 1;
        let mut defects = Vec::new();
        let mut out = Vec::with_capacity(polygons.len());
        for (pi, rings) in polygons.into_iter().enumerate() {
            // The rings go straight into the polygon (no list of them in between: a million
            // footprints make a million fewer allocations).
            let mut exterior = None;
            let mut interiors = Vec::new();
            for (ri, mut ring) in rings.into_iter().enumerate() {
                for c in ring.iter_mut() {
                    *c = self.coord(f, id, *c)?;
                }
                // Named only when something is wrong (most rings are fine).
                let which = || {
                    let ring = if ri == 0 {
                        "exterior ring".to_string()
                    } else {
                        format!("interior ring {}", ri - 1)
                    };
                    if many {
                        format!("{ring} of polygon {pi}")
                    } else {
                        ring
                    }
                };
                if ring.len() >= 2 && ring.first() != ring.last() {
                    defects.push(format!("{} is not closed", which()));
                }
                if ring.len() < 4 {
                    defects.push(format!(
                        "{} has {} positions, fewer than 4",
                        which(),
                        ring.len()
                    ));
                }
                if ri == 0 {
                    exterior = Some(LineString(ring));
                } else {
                    interiors.push(LineString(ring));
                }
            }
            let Some(exterior) = exterior else {
                defects.push(format!("polygon {pi} has no rings"));
                continue;
            };
            out.push(Polygon::new(exterior, interiors));
        }
        Ok((MultiPolygon(out), defects))
    }
}

/// A property as text: a non-empty string, or a number as written; `None` otherwise.
fn as_text(value: Option<Value>) -> Option<String> {
    match value {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

fn expect_polygons(
    ctx: &Context,
    f: &mut RawFeature,
    id: &str,
) -> Result<Vec<Vec<Vec<Coord>>>, Error> {
    match f.geometry.take() {
        Some(Shape::Polygons(p)) => Ok(p),
        Some(Shape::Point(_)) => Err(ctx.err(
            f,
            Some(id),
            "geometry is a Point, expected a Polygon or MultiPolygon",
        )),
        Some(Shape::Other(t)) => Err(ctx.err(
            f,
            Some(id),
            format!("geometry is a {t}, expected a Polygon or MultiPolygon"),
        )),
        Some(Shape::Lines(_)) => Err(ctx.err(
            f,
            Some(id),
            "geometry is a LineString, expected a Polygon or MultiPolygon",
        )),
        None => Err(ctx.err(f, Some(id), "geometry is null")),
    }
}

/// Fails on the first repeated id, naming both features.
fn check_unique<'a>(path: &Path, ids: impl Iterator<Item = &'a str>) -> Result<(), Error> {
    let ids: Vec<&str> = ids.collect();
    match first_repeat(&ids) {
        None => Ok(()),
        Some((first, index)) => Err(Error::Feature {
            path: path.to_path_buf(),
            index,
            id: Some(ids[index].to_string()),
            message: format!("duplicate id: feature {first} has the same id"),
        }),
    }
}

/// The first id in order that repeats an earlier one: (the earlier one's position, its
/// position). Hashes are computed and sorted in parallel, then neighbours with equal hashes
/// are compared; a million ids take a few milliseconds on each core instead of one long
/// hash-map pass.
fn first_repeat(ids: &[&str]) -> Option<(usize, usize)> {
    use std::hash::BuildHasher as _;
    let hasher = rustc_hash::FxBuildHasher;
    // First the hashes alone (half the bytes to sort): with no two equal, no id repeats,
    // which is the answer for almost every file.
    let mut hashes: Vec<u64> = ids.par_iter().map(|id| hasher.hash_one(id)).collect();
    hashes.par_sort_unstable();
    if !hashes.par_windows(2).any(|w| w[0] == w[1]) {
        return None;
    }
    drop(hashes);
    let mut keyed: Vec<(u64, usize)> = ids
        .par_iter()
        .enumerate()
        .map(|(i, id)| (hasher.hash_one(id), i))
        .collect();
    keyed.par_sort_unstable();
    // Runs of equal hashes: within each, an id repeats the earliest equal id before it.
    keyed
        .par_chunk_by(|a, b| a.0 == b.0)
        .filter(|run| run.len() > 1)
        .filter_map(|run| {
            run.iter().enumerate().skip(1).find_map(|(k, &(_, i))| {
                run[..k]
                    .iter()
                    .find(|&&(_, j)| ids[j] == ids[i])
                    .map(|&(_, j)| (j, i))
            })
        })
        .min_by_key(|&(_, i)| i)
}

/// Reads grids: id from `fields.grid_id` (default `code`), optional `name` and `village`.
/// Invalid rings are kept and listed in [`GridLayer::defects`] so validation can report them.
pub fn read_grids(path: &Path, fields: &Fields) -> Result<GridLayer, Error> {
    let ctx = Context {
        path,
        transform: fields.transform.as_deref(),
    };
    let read = read_layer(
        path,
        &[
            &fields.grid_id,
            fields.source("name"),
            fields.source("village"),
        ],
        fields,
        |mut f| {
            let code = ctx.id(&mut f, 0, &fields.grid_id)?;
            let polygons = expect_polygons(&ctx, &mut f, &code)?;
            let (geometry, defects) = ctx.polygons(&f, &code, polygons)?;
            let grid = Grid {
                name: ctx.text(&f, 1),
                village: ctx.text(&f, 2),
                code,
                geometry,
            };
            Ok((grid, defects))
        },
    )?;
    let read = unique(path, fields, read, |(g, _)| g.code.as_str())?;
    let mut layer = GridLayer::default();
    for (i, (grid, defects)) in read.into_iter().enumerate() {
        if !defects.is_empty() {
            layer.defects.push((i, defects.join("; ")));
        }
        layer.grids.push(grid);
    }
    Ok(layer)
}

/// Reads buildings: id from `fields.building_id` (default `id`), optional `households`
/// (default 0), `floors`, `kind`. Footprints are polygons or multipolygons; points are accepted
/// for buildings surveyed as points.
pub fn read_buildings(path: &Path, fields: &Fields) -> Result<Vec<Building>, Error> {
    let buildings = read_buildings_indexed(path, fields, |b| b)?;
    unique(path, fields, buildings, |b| b.id.as_str())
}

/// Streams buildings through `each` as they are decoded, in parallel, keeping only what it
/// returns: for jobs that need one answer per building, not every footprint in memory.
/// Ids are not checked for uniqueness here; see [`check_unique_ids`].
pub fn read_buildings_with<T: Send>(
    path: &Path,
    fields: &Fields,
    each: impl Fn(Building) -> T + Sync,
) -> Result<Vec<T>, Error> {
    read_buildings_indexed(path, fields, each).map(strip)
}

fn read_buildings_indexed<T: Send>(
    path: &Path,
    fields: &Fields,
    each: impl Fn(Building) -> T + Sync,
) -> Result<Vec<(usize, T)>, Error> {
    let ctx = Context {
        path,
        transform: fields.transform.as_deref(),
    };
    let wanted = [
        fields.building_id.as_str(),
        fields.source("households"),
        fields.source("floors"),
        fields.source("kind"),
    ];
    read_layer(path, &wanted, fields, |mut f| {
        let id = ctx.id(&mut f, 0, &fields.building_id)?;
        let footprint = match f.geometry {
            Some(Shape::Point(c)) => Footprint::Point(Point(ctx.coord(&f, &id, c)?)),
            _ => {
                let polygons = expect_polygons(&ctx, &mut f, &id)?;
                let (area, defects) = ctx.polygons(&f, &id, polygons)?;
                if area.0.iter().all(|p| p.exterior().0.len() < 3) {
                    return Err(ctx.err(
                        &f,
                        Some(&id),
                        format!("footprint has no area: {}", defects.join("; ")),
                    ));
                }
                Footprint::Area(area)
            }
        };
        Ok(each(Building {
            households: ctx.count(&f, &id, 1, "households")?.unwrap_or(0),
            floors: ctx.count(&f, &id, 2, "floors")?,
            kind: ctx.take_text(&mut f, 3),
            footprint,
            id,
        }))
    })
}

/// Fails on the first id (in file order) that repeats an earlier one, naming both features.
pub fn check_unique_ids<'a>(path: &Path, ids: impl Iterator<Item = &'a str>) -> Result<(), Error> {
    check_unique(path, ids)
}

/// Reads standard addresses: id from `fields.address_id` (default `id`), point geometry,
/// optional `text` (or `address`), declared `grid` and `building`.
pub fn read_addresses(path: &Path, fields: &Fields) -> Result<Vec<Address>, Error> {
    let ctx = Context {
        path,
        transform: fields.transform.as_deref(),
    };
    let wanted = [
        fields.address_id.as_str(),
        fields.source("text"),
        fields.source("address"),
        fields.source("grid"),
        fields.source("building"),
    ];
    let addresses = read_layer(path, &wanted, fields, |mut f| {
        let id = ctx.id(&mut f, 0, &fields.address_id)?;
        let point = match &f.geometry {
            Some(Shape::Point(c)) => Point(ctx.coord(&f, &id, *c)?),
            None => return Err(ctx.err(&f, Some(&id), "geometry is null")),
            Some(_) => return Err(ctx.err(&f, Some(&id), "geometry must be a Point")),
        };
        Ok(Address {
            text: ctx.text(&f, 1).or_else(|| ctx.text(&f, 2)),
            declared_grid: ctx.text(&f, 3),
            declared_building: ctx.text(&f, 4),
            point,
            id,
        })
    })?;
    unique(path, fields, addresses, |a| a.id.as_str())
}

/// Reads a boundary: the union of every polygon in the file (a town outline, or its villages).
pub fn read_boundary(path: &Path) -> Result<MultiPolygon, Error> {
    read_boundary_with(path, &Fields::default())
}

/// [`read_boundary`] with a transform and encoding.
pub fn read_boundary_with(path: &Path, fields: &Fields) -> Result<MultiPolygon, Error> {
    let ctx = Context {
        path,
        transform: fields.transform.as_deref(),
    };
    let mut parts = strip(read_layer(path, &[], fields, |mut f| {
        let label = format!("#{}", f.index);
        let polygons = expect_polygons(&ctx, &mut f, &label)?;
        let (mp, defects) = ctx.polygons(&f, &label, polygons)?;
        if !defects.is_empty() {
            return Err(ctx.err(
                &f,
                None,
                format!("invalid boundary: {}", defects.join("; ")),
            ));
        }
        Ok(mp)
    })?);
    match parts.len() {
        0 => Err(Error::Empty {
            path: path.to_path_buf(),
        }),
        1 => Ok(parts.remove(0)),
        _ => Ok(unary_union(parts.iter().flat_map(|p| p.0.iter()))),
    }
}

/// Reads actual organisations (实有单位): id from `fields.address_id`'s sibling `id`, `name`
/// (required), optional `category`, `address`, `contact`; point geometry.
pub fn read_units(path: &Path, fields: &Fields) -> Result<Vec<Unit>, Error> {
    let ctx = Context {
        path,
        transform: fields.transform.as_deref(),
    };
    let wanted = [
        fields.source("id"),
        fields.source("name"),
        fields.source("category"),
        fields.source("address"),
        fields.source("contact"),
    ];
    let units = read_layer(path, &wanted, fields, |mut f| {
        let id = ctx.id(&mut f, 0, fields.source("id"))?;
        let point = ctx.point(&f, &id)?;
        let name = ctx.text(&f, 1).ok_or_else(|| {
            ctx.err(
                &f,
                Some(&id),
                format!("missing `{}`", fields.source("name")),
            )
        })?;
        Ok(Unit {
            name,
            category: ctx.text(&f, 2),
            address: ctx.text(&f, 3),
            contact: ctx.text(&f, 4),
            point,
            id,
        })
    })?;
    unique(path, fields, units, |u| u.id.as_str())
}

/// Reads visits: `id`, `worker` and `time` (RFC 3339) required, `outcome` one of visited,
/// nobody_home, refused, demolished, newly_found; optional `building`, `house`, `note`, and
/// the GPS point as geometry (may be null).
pub fn read_visits(path: &Path, fields: &Fields) -> Result<Vec<Visit>, Error> {
    let ctx = Context {
        path,
        transform: fields.transform.as_deref(),
    };
    let wanted = [
        fields.source("id"),
        fields.source("building"),
        fields.source("house"),
        fields.source("worker"),
        fields.source("time"),
        fields.source("outcome"),
        fields.source("note"),
        fields.source("flagged"),
        fields.source("knows_worker"),
        fields.source("satisfaction"),
    ];
    let visits = read_layer(path, &wanted, fields, |mut f| {
        let id = ctx.id(&mut f, 0, fields.source("id"))?;
        let point = match f.geometry {
            None => None,
            Some(_) => Some(ctx.point(&f, &id)?),
        };
        let need = |slot: usize, name: &str| {
            ctx.text(&f, slot)
                .ok_or_else(|| ctx.err(&f, Some(&id), format!("missing `{}`", fields.source(name))))
        };
        let outcome_text = need(5, "outcome")?;
        let outcome = VisitOutcome::parse(&outcome_text).ok_or_else(|| {
            ctx.err(
                &f,
                Some(&id),
                format!(
                    "outcome `{outcome_text}` is not one of visited, nobody_home, refused, demolished, newly_found"
                ),
            )
        })?;
        let knows_worker = match ctx.text(&f, 8).as_deref().map(str::trim) {
            None | Some("") => None,
            Some("true" | "1" | "yes" | "是") => Some(true),
            Some("false" | "0" | "no" | "否") => Some(false),
            Some(other) => {
                return Err(ctx.err(
                    &f,
                    Some(&id),
                    format!("knows_worker `{other}` is not yes or no (true/false, 1/0, 是/否)"),
                ));
            }
        };
        let satisfaction = match ctx.text(&f, 9).as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => match s.parse::<u8>() {
                Ok(n @ 1..=5) => Some(n),
                _ => {
                    return Err(ctx.err(
                        &f,
                        Some(&id),
                        format!("satisfaction `{s}` is not a whole number from 1 to 5"),
                    ));
                }
            },
        };
        Ok(Visit {
            building: ctx.text(&f, 1),
            house: ctx.text(&f, 2),
            worker: need(3, "worker")?,
            time: need(4, "time")?,
            outcome,
            note: ctx.text(&f, 6),
            flagged: ctx
                .text(&f, 7)
                .is_some_and(|t| matches!(t.trim(), "true" | "1" | "yes")),
            knows_worker,
            satisfaction,
            point,
            id,
        })
    })?;
    unique(path, fields, visits, |v| v.id.as_str())
}

/// Reads a line layer (barriers: roads, rivers, railways): every LineString and
/// MultiLineString part as a line; polygons give their rings as lines. Points, empty lines and
/// coordinates that are not longitude/latitude are errors naming the feature.
pub fn read_lines(path: &Path) -> Result<Vec<LineString>, Error> {
    let ctx = Context {
        path,
        transform: None,
    };
    let parts = read_features(path, &[], |f| {
        let lines: Vec<Vec<Coord>> = match &f.geometry {
            Some(Shape::Lines(lines)) => lines.clone(),
            Some(Shape::Polygons(polygons)) => polygons.iter().flatten().cloned().collect(),
            Some(Shape::Point(_)) => {
                return Err(ctx.err(&f, None, "geometry must be a line, not a Point"));
            }
            Some(Shape::Other(t)) => {
                return Err(ctx.err(&f, None, format!("geometry must be a line, not {t}")));
            }
            None => return Err(ctx.err(&f, None, "geometry is null")),
        };
        let label = format!("#{}", f.index);
        lines
            .into_iter()
            .map(|line| ctx.line(&f, &label, line))
            .collect::<Result<Vec<_>, Error>>()
    })?;
    Ok(parts.into_iter().flatten().collect())
}

/// Reads a basemap layer (roads, water or land use): LineString/MultiLineString or Polygon/MultiPolygon
/// features with optional `kind`, `detail` (or `kind_detail`) and `name`, as in the Tilezen
/// schema of OSM extracts. Raw OSM exports without `kind` are classified from their tags:
/// `highway` (motorway/trunk → `highway`, primary…tertiary → `major_road`, residential,
/// service… → `minor_road`, footway, path, steps… → `path`), `railway` (→ `rail`), `route=ferry`
/// (→ `ferry`), `waterway` (→ its value, e.g. `river`, `canal`) and `natural=water` (→ `water`,
/// detail from `water`); the tag's value becomes `detail`. Land use is polygons only, classed by
/// `landuse`, else `leisure`, `natural` or `amenity`. Points, null geometries, lines of one
/// point and unclosed rings are errors naming the feature (by `osm_id` or `id` when it has one).
pub fn read_basemap(
    path: &Path,
    layer: BasemapLayer,
    fields: &Fields,
) -> Result<Vec<BasemapFeature>, Error> {
    let ctx = Context {
        path,
        transform: fields.transform.as_deref(),
    };
    let wanted = [
        fields.source("kind"),
        fields.source("detail"),
        "kind_detail",
        fields.source("name"),
        "osm_id",
        "id",
        "highway",
        "railway",
        "route",
        "waterway",
        "natural",
        "water",
        "landuse",
        "leisure",
        "amenity",
    ];
    let read = read_layer(path, &wanted, fields, |mut f| {
        let label = ctx
            .text(&f, 4)
            .or_else(|| ctx.text(&f, 5))
            .unwrap_or_else(|| format!("#{}", f.index));
        let geometry = match f.geometry.take() {
            Some(Shape::Lines(_)) if layer == BasemapLayer::Landuse => {
                return Err(ctx.err(
                    &f,
                    Some(&label),
                    "geometry is lines, land use needs polygons",
                ));
            }
            Some(Shape::Lines(parts)) => {
                let mut lines = parts
                    .into_iter()
                    .map(|l| ctx.line(&f, &label, l))
                    .collect::<Result<Vec<_>, Error>>()?;
                if lines.len() == 1 {
                    Geometry::LineString(lines.remove(0))
                } else {
                    Geometry::MultiLineString(MultiLineString(lines))
                }
            }
            Some(Shape::Polygons(polygons)) => {
                let (mut area, defects) = ctx.polygons(&f, &label, polygons)?;
                if !defects.is_empty() {
                    return Err(ctx.err(&f, Some(&label), defects.join("; ")));
                }
                if area.0.len() == 1 {
                    Geometry::Polygon(area.0.remove(0))
                } else {
                    Geometry::MultiPolygon(area)
                }
            }
            Some(Shape::Point(_)) => {
                return Err(ctx.err(
                    &f,
                    Some(&label),
                    "geometry is a Point, expected lines or polygons",
                ));
            }
            Some(Shape::Other(t)) => {
                return Err(ctx.err(
                    &f,
                    Some(&label),
                    format!("geometry is a {t}, expected lines or polygons"),
                ));
            }
            None => return Err(ctx.err(&f, Some(&label), "geometry is null")),
        };
        let tag = |slot: usize| ctx.text(&f, slot);
        let (kind, detail) = match tag(0) {
            Some(kind) => (Some(kind), tag(1).or_else(|| tag(2))),
            None => osm_class(layer, &tag),
        };
        Ok(BasemapFeature {
            layer,
            kind,
            detail,
            name: tag(3),
            geometry,
        })
    })?;
    Ok(strip(read))
}

/// The (kind, detail) of a raw OSM feature from its tags, in the Tilezen vocabulary; `tag(n)`
/// reads slot `n` of [`read_basemap`]'s properties.
fn osm_class(
    layer: BasemapLayer,
    tag: &dyn Fn(usize) -> Option<String>,
) -> (Option<String>, Option<String>) {
    let class = |kind: &str, detail: Option<String>| (Some(kind.to_string()), detail);
    match layer {
        BasemapLayer::Roads => {
            if let Some(h) = tag(6) {
                let kind = match h.trim_end_matches("_link") {
                    "motorway" | "trunk" => "highway",
                    "primary" | "secondary" | "tertiary" => "major_road",
                    "footway" | "path" | "pedestrian" | "cycleway" | "steps" | "bridleway"
                    | "track" | "corridor" => "path",
                    _ => "minor_road",
                };
                class(kind, Some(h))
            } else if let Some(r) = tag(7) {
                class("rail", Some(r))
            } else if tag(8).as_deref() == Some("ferry") {
                class("ferry", None)
            } else {
                (None, None)
            }
        }
        BasemapLayer::Water => {
            if let Some(w) = tag(9) {
                (Some(w), None)
            } else if tag(10).as_deref() == Some("water") {
                class("water", tag(11))
            } else {
                (tag(10), tag(11))
            }
        }
        // OSM's landuse=*, else leisure=* (park, garden, pitch), natural=* (wood, scrub),
        // amenity=* (school, hospital, parking).
        BasemapLayer::Landuse => match tag(12).or_else(|| tag(13)).or_else(|| tag(10)) {
            Some(kind) => (Some(kind), None),
            None => (tag(14), None),
        },
    }
}

#[cfg(test)]
mod unique_tests {
    use super::first_repeat;

    #[test]
    fn the_first_repeat_in_order_names_its_earliest_twin() {
        assert_eq!(first_repeat(&[]), None);
        assert_eq!(first_repeat(&["a", "b", "c"]), None);
        assert_eq!(first_repeat(&["a", "b", "a", "b"]), Some((0, 2)));
        assert_eq!(first_repeat(&["x", "b", "y", "b", "x"]), Some((1, 3)));
        assert_eq!(first_repeat(&["a", "a", "a"]), Some((0, 1)));
    }

    #[test]
    fn a_large_unique_set_has_no_repeat_and_one_planted_twin_is_found() {
        let ids: Vec<String> = (0..200_000).map(|i| format!("B{i}")).collect();
        let mut refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        assert_eq!(first_repeat(&refs), None);
        refs.push("B123456");
        refs.push("B7");
        assert_eq!(first_repeat(&refs), Some((123_456, 200_000)));
    }
}
