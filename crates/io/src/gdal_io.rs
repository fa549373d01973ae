//! Every other vector format, through GDAL: Shapefile (with its `.prj` and `.cpg`), GeoPackage,
//! KML, GML, DXF, CSV (WKT or lon/lat columns), MapInfo… Reading gives the same
//! [`RawFeature`]s as the native readers; writing takes the same features as
//! [`crate::write_geojson`].

use std::path::Path;

use gdal::vector::{
    Defn, Feature, FieldValue, LayerAccess, LayerOptions, OGRFieldType, OGRwkbGeometryType, ToGdal,
};
use gdal::{Dataset, DatasetOptions, DriverManager, GdalOpenFlags};
use geo::{Coord, Geometry};
use serde_json::{Map, Value};

use crate::Error;
use crate::read::{RawFeature, Shape};

fn gdal_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Gdal {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The GDAL driver for an output file, by extension.
pub fn driver_for(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "shp" => "ESRI Shapefile",
        "gpkg" => "GPKG",
        "kml" => "KML",
        "gml" => "GML",
        "csv" => "CSV",
        "dxf" => "DXF",
        "geojson" | "json" => "GeoJSON",
        "fgb" => "FlatGeobuf",
        _ => return None,
    })
}

/// Opening options for a file: CSV geometry columns, and a text encoding for Shapefiles.
fn open_options(path: &Path, encoding: Option<&str>) -> Vec<String> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut o = Vec::new();
    if ext == "csv" {
        o.push("GEOM_POSSIBLE_NAMES=wkt,WKT,geometry,geom,the_geom".to_string());
        o.push("X_POSSIBLE_NAMES=lon,lng,longitude,x,经度".to_string());
        o.push("Y_POSSIBLE_NAMES=lat,latitude,y,纬度".to_string());
        o.push("KEEP_GEOM_COLUMNS=NO".to_string());
    }
    if let Some(enc) = encoding {
        o.push(format!("ENCODING={enc}"));
    }
    o
}

/// A Shapefile's DBF with non-ASCII text, no `.cpg` and no code page byte: GDAL would read it
/// as Latin-1 and garble Chinese. Names the likely encoding so the user can say it.
fn check_shapefile_encoding(path: &Path, encoding: Option<&str>) -> Result<(), Error> {
    if encoding.is_some()
        || !path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("shp"))
    {
        return Ok(());
    }
    if path.with_extension("cpg").exists() || path.with_extension("CPG").exists() {
        return Ok(());
    }
    let Ok(dbf) = std::fs::read(path.with_extension("dbf")) else {
        return Ok(());
    };
    let code_page = dbf.get(29).copied().unwrap_or(0);
    let header = dbf
        .get(8..10)
        .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let records = dbf.get(header..).unwrap_or(&[]);
    if code_page != 0 || records.is_ascii() {
        return Ok(());
    }
    let likely = if std::str::from_utf8(records).is_ok() {
        "UTF-8"
    } else {
        "GBK"
    };
    Err(Error::Gdal {
        path: path.to_path_buf(),
        message: format!(
            "the .dbf holds non-ASCII text but there is no .cpg saying its encoding; it looks like {likely}: import again with --encoding {likely} (or add a .cpg file)"
        ),
    })
}

/// GDAL prints its errors and warnings on stderr by default; route them to the log instead,
/// so that the messages users see are ours, naming the file and feature.
fn quiet_gdal() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        gdal::config::set_error_handler(|class, number, message| {
            tracing::debug!(?class, number, message, "GDAL");
        });
    });
}

fn open(path: &Path, encoding: Option<&str>) -> Result<Dataset, Error> {
    quiet_gdal();
    std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    check_shapefile_encoding(path, encoding)?;
    let opts = open_options(path, encoding);
    let refs: Vec<&str> = opts.iter().map(String::as_str).collect();
    Dataset::open_ex(
        path,
        DatasetOptions {
            open_flags: GdalOpenFlags::GDAL_OF_VECTOR | GdalOpenFlags::GDAL_OF_READONLY,
            open_options: Some(&refs),
            ..Default::default()
        },
    )
    .map_err(|e| {
        let detail = e.to_string();
        let detail = detail
            .split("Error msg: ")
            .nth(1)
            .map(|m| m.trim_matches(|c| c == '\'' || c == ' '))
            .filter(|m| !m.is_empty())
            .map(|m| format!(" ({m})"))
            .unwrap_or_default();
        gdal_error(
            path,
            format!("not recognized as a vector format GDAL reads, or damaged{detail}"),
        )
    })
}

/// The CRS of the file's first layer, as WKT, when it declares one.
pub fn layer_crs(path: &Path, encoding: Option<&str>) -> Result<Option<String>, Error> {
    let ds = open(path, encoding)?;
    let layer = ds.layer(0).map_err(|e| gdal_error(path, e))?;
    let Some(srs) = layer.spatial_ref() else {
        return Ok(None);
    };
    if let (Some(auth), Ok(code)) = (srs.auth_name(), srs.auth_code()) {
        return Ok(Some(format!("{auth}:{code}")));
    }
    srs.to_wkt().map(Some).map_err(|e| gdal_error(path, e))
}

fn field_json(v: FieldValue) -> Option<Value> {
    match v {
        FieldValue::IntegerValue(n) => Some(n.into()),
        FieldValue::Integer64Value(n) => Some(n.into()),
        FieldValue::RealValue(f) => serde_json::Number::from_f64(f).map(Value::Number),
        FieldValue::StringValue(s) => Some(Value::String(s)),
        FieldValue::DateValue(d) => Some(Value::String(d.to_string())),
        FieldValue::DateTimeValue(d) => Some(Value::String(d.to_string())),
        other => Some(Value::String(format!("{other:?}"))),
    }
}

fn shape(g: Geometry) -> Shape {
    let ring = |l: geo::LineString| -> Vec<Coord> { l.0 };
    let polygon = |p: geo::Polygon| -> Vec<Vec<Coord>> {
        let (ext, ints) = p.into_inner();
        std::iter::once(ring(ext))
            .chain(ints.into_iter().map(ring))
            .collect()
    };
    match g {
        Geometry::Point(p) => Shape::Point(p.0),
        Geometry::Polygon(p) => Shape::Polygons(vec![polygon(p)]),
        Geometry::MultiPolygon(m) => Shape::Polygons(m.0.into_iter().map(polygon).collect()),
        Geometry::LineString(l) => Shape::Lines(vec![l.0]),
        Geometry::MultiLineString(m) => Shape::Lines(m.0.into_iter().map(|l| l.0).collect()),
        Geometry::MultiPoint(m) if m.0.len() == 1 => Shape::Point(m.0[0].0),
        Geometry::MultiPoint(_) => Shape::Other("MultiPoint".into()),
        Geometry::GeometryCollection(_) => Shape::Other("GeometryCollection".into()),
        other => Shape::Other(format!("{other:?}").chars().take(20).collect()),
    }
}

/// Reads the wanted fields and the geometry of every feature of the file's first layer.
pub fn read(
    path: &Path,
    wanted: &[&str],
    encoding: Option<&str>,
) -> Result<Vec<RawFeature>, Error> {
    let ds = open(path, encoding)?;
    if ds.layer_count() == 0 {
        return Err(Error::Empty {
            path: path.to_path_buf(),
        });
    }
    let mut layer = ds.layer(0).map_err(|e| gdal_error(path, e))?;
    let mut out = Vec::new();
    for (index, f) in layer.features().enumerate() {
        let properties = wanted
            .iter()
            .map(|name| {
                let i = f.field_index(name).ok()?;
                field_json(f.field(i).ok()??)
            })
            .collect();
        // A geometry GDAL could not build (a bad WKT in a CSV, say) comes as an empty handle:
        // that is a null geometry, reported by the layer reader for this feature.
        let geometry = f.geometry().and_then(|g| g.to_geo().ok()).map(shape);
        out.push(RawFeature {
            index,
            properties,
            geometry,
        });
    }
    Ok(out)
}

/// The type of a column to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// A string field (UTF-8).
    Text,
    /// A 64-bit integer field.
    Integer,
    /// A double-precision field.
    Real,
}

/// Writes features to a new file in the format its extension names (see [`driver_for`]), in
/// EPSG:4326. Shapefiles get a `.prj` and a UTF-8 `.cpg`. An existing file is replaced.
pub fn write(
    path: &Path,
    layer_name: &str,
    columns: &[(&str, Column)],
    features: impl IntoIterator<Item = (Option<Geometry>, Map<String, Value>)>,
) -> Result<(), Error> {
    let driver_name = driver_for(path).ok_or_else(|| Error::UnknownFormat {
        path: path.to_path_buf(),
    })?;
    let driver = DriverManager::get_driver_by_name(driver_name).map_err(|e| gdal_error(path, e))?;
    if path.exists() {
        let _ = driver.delete(path);
    }
    let mut ds = driver
        .create_vector_only(path)
        .map_err(|e| gdal_error(path, e))?;
    let mut srs =
        gdal::spatial_ref::SpatialRef::from_epsg(4326).map_err(|e| gdal_error(path, e))?;
    // Our coordinates are longitude first, whatever EPSG's axis order says.
    srs.set_axis_mapping_strategy(gdal::spatial_ref::AxisMappingStrategy::TraditionalGisOrder);
    let layer_options: Vec<&str> = match driver_name {
        "ESRI Shapefile" => vec!["ENCODING=UTF-8"],
        "CSV" => vec!["GEOMETRY=AS_WKT"],
        _ => vec![],
    };
    let layer = ds
        .create_layer(LayerOptions {
            name: layer_name,
            srs: Some(&srs),
            ty: OGRwkbGeometryType::wkbUnknown,
            options: Some(&layer_options),
        })
        .map_err(|e| gdal_error(path, e))?;
    let defs: Vec<(&str, OGRFieldType::Type)> = columns
        .iter()
        .map(|(n, c)| {
            (
                *n,
                match c {
                    Column::Text => OGRFieldType::OFTString,
                    Column::Integer => OGRFieldType::OFTInteger64,
                    Column::Real => OGRFieldType::OFTReal,
                },
            )
        })
        .collect();
    layer
        .create_defn_fields(&defs)
        .map_err(|e| gdal_error(path, e))?;
    let defn = Defn::from_layer(&layer);
    for (n, (geometry, props)) in features.into_iter().enumerate() {
        let mut f = Feature::new(&defn).map_err(|e| gdal_error(path, e))?;
        if let Some(g) = geometry {
            let g = g.to_gdal().map_err(|e| gdal_error(path, e))?;
            f.set_geometry(g).map_err(|e| gdal_error(path, e))?;
        }
        for (name, kind) in columns {
            // Drivers may drop or reorder columns (KML turns `name` into <name>): by name.
            let Ok(i) = f.field_index(name) else {
                continue;
            };
            let r = match (props.get(*name), kind) {
                (None | Some(Value::Null), _) => f.set_field_null(i),
                (Some(Value::Number(x)), Column::Integer) => {
                    f.set_field_integer64(i, x.as_i64().unwrap_or_default())
                }
                (Some(Value::Number(x)), Column::Real) => {
                    f.set_field_double(i, x.as_f64().unwrap_or_default())
                }
                (Some(Value::String(s)), _) => f.set_field_string(i, s),
                (Some(other), _) => f.set_field_string(i, &other.to_string()),
            };
            r.map_err(|e| Error::Feature {
                path: path.to_path_buf(),
                index: n,
                id: None,
                message: format!("cannot write field {name}: {e}"),
            })?;
        }
        f.create(&layer).map_err(|e| Error::Feature {
            path: path.to_path_buf(),
            index: n,
            id: None,
            message: format!("cannot write: {e}"),
        })?;
    }
    Ok(())
}
