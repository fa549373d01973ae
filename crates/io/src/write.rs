//! Writing layers: FlatGeobuf (with its spatial index) and GeoJSON (one feature per line).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use flatgeobuf::{ColumnType, FgbCrs, FgbWriter, FgbWriterOptions, GeometryType};
use geo::{Geometry, MultiPolygon};
use geozero::{ColumnValue, PropertyProcessor};
use gridmap_core::model::{Building, Footprint, Grid};
use serde_json::{Map, Value, json};

use crate::Error;

/// A property value to write.
#[derive(Debug, Clone, PartialEq)]
pub enum Prop {
    /// A string property; `None` writes null.
    Text(Option<String>),
    /// An integer property; `None` writes null.
    Int(Option<i64>),
}

fn fgb_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Fgb {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Writes features with the given columns to a FlatGeobuf file in EPSG:4326.
pub fn write_fgb(
    path: &Path,
    layer: &str,
    geometry_type: GeometryType,
    columns: &[(&str, ColumnType)],
    features: impl Iterator<Item = (Geometry, Vec<Prop>)>,
) -> Result<(), Error> {
    let options = FgbWriterOptions {
        crs: FgbCrs {
            code: 4326,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut fgb = FgbWriter::create_with_options(layer, geometry_type, options)
        .map_err(|e| fgb_error(path, e))?;
    for (name, kind) in columns {
        fgb.add_column(name, *kind, |_, col| col.nullable = true);
    }
    for (geometry, props) in features {
        fgb.add_feature_geom(geometry, |w| {
            for (i, ((name, _), prop)) in columns.iter().zip(&props).enumerate() {
                // A feature writer into memory cannot fail but for a full disk, caught below.
                let _ = match prop {
                    Prop::Text(Some(s)) => w.property(i, name, &ColumnValue::String(s)),
                    Prop::Int(Some(n)) => w.property(i, name, &ColumnValue::Long(*n)),
                    Prop::Text(None) | Prop::Int(None) => Ok(false),
                };
            }
        })
        .map_err(|e| fgb_error(path, e))?;
    }
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    fgb.write(BufWriter::new(file))
        .map_err(|e| fgb_error(path, e))
}

/// Writes grids (`code`, `name`, `village`) to FlatGeobuf.
pub fn write_grids_fgb(path: &Path, grids: &[Grid]) -> Result<(), Error> {
    write_fgb(
        path,
        "grids",
        GeometryType::MultiPolygon,
        &[
            ("code", ColumnType::String),
            ("name", ColumnType::String),
            ("village", ColumnType::String),
        ],
        grids.iter().map(|g| {
            (
                Geometry::MultiPolygon(g.geometry.clone()),
                vec![
                    Prop::Text(Some(g.code.clone())),
                    Prop::Text(g.name.clone()),
                    Prop::Text(g.village.clone()),
                ],
            )
        }),
    )
}

/// Writes buildings (`id`, `households`, `floors`, `kind`) to FlatGeobuf. Footprints must all
/// be areas or all points.
pub fn write_buildings_fgb(path: &Path, buildings: &[Building]) -> Result<(), Error> {
    let points = buildings
        .first()
        .is_some_and(|b| matches!(b.footprint, Footprint::Point(_)));
    write_fgb(
        path,
        "buildings",
        if points {
            GeometryType::Point
        } else {
            GeometryType::Polygon
        },
        &[
            ("id", ColumnType::String),
            ("households", ColumnType::Long),
            ("floors", ColumnType::Long),
            ("kind", ColumnType::String),
        ],
        buildings.iter().map(|b| {
            // The footprint's geometry (core's one conversion), a one-part area as the
            // Polygon the layer's header declares.
            let geometry = match Geometry::from(&b.footprint) {
                Geometry::MultiPolygon(MultiPolygon(mut parts)) if parts.len() == 1 => {
                    Geometry::Polygon(parts.remove(0))
                }
                g => g,
            };
            (
                geometry,
                vec![
                    Prop::Text(Some(b.id.clone())),
                    Prop::Int(Some(i64::from(b.households))),
                    Prop::Int(b.floors.map(i64::from)),
                    Prop::Text(b.kind.clone()),
                ],
            )
        }),
    )
}

/// Writes one area (a boundary) to FlatGeobuf with a `name` column.
pub fn write_area_fgb(path: &Path, name: &str, area: &MultiPolygon) -> Result<(), Error> {
    write_fgb(
        path,
        "boundary",
        GeometryType::MultiPolygon,
        &[("name", ColumnType::String)],
        std::iter::once((
            Geometry::MultiPolygon(area.clone()),
            vec![Prop::Text(Some(name.to_string()))],
        )),
    )
}

/// The GeoJSON geometry object of any `geo` geometry (a `Geometry`, `MultiPolygon`,
/// `Polygon`, `Point`…; a `Rect` or `Triangle` as a Polygon, a `Line` as a LineString),
/// written by the `geojson` crate: the one GeoJSON geometry writer of gridmap, used by the
/// exports, the HTTP API and OGC API – Features alike. Coordinates are written as `f64`
/// round-trip (shortest form that reads back the same number), never rounded.
///
/// ```
/// use geo::polygon;
/// let triangle = polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 0.5, y: 0.25)];
/// let json = gridmap_io::write::geometry_json(&triangle);
/// assert_eq!(json.to_string(),
///            r#"{"coordinates":[[[0.0,0.0],[1.0,0.0],[0.5,0.25],[0.0,0.0]]],"type":"Polygon"}"#);
/// ```
pub fn geometry_json<G>(g: &G) -> Value
where
    for<'a> geojson::GeometryValue: From<&'a G>,
{
    let value = geojson::GeometryValue::from(g);
    serde_json::to_value(geojson::Geometry::new(value)).unwrap_or(Value::Null)
}

/// Writes a GeoJSON FeatureCollection, one feature per line, streaming.
pub fn write_geojson(
    path: &Path,
    features: impl IntoIterator<Item = (Option<Geometry>, Map<String, Value>)>,
) -> Result<(), Error> {
    let io = |e| Error::io(path, e);
    let mut out = BufWriter::new(File::create(path).map_err(io)?);
    out.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[\n")
        .map_err(io)?;
    for (n, (geometry, properties)) in features.into_iter().enumerate() {
        if n > 0 {
            out.write_all(b",\n").map_err(io)?;
        }
        let feature = json!({
            "type": "Feature",
            "properties": properties,
            "geometry": geometry.as_ref().map(geometry_json),
        });
        serde_json::to_writer(&mut out, &feature).map_err(|e| io(e.into()))?;
    }
    out.write_all(b"\n]}\n").map_err(io)?;
    out.flush().map_err(io)
}
