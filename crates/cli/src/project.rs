//! Project commands: init, import, export (on a GeoPackage file or a town of a PostgreSQL
//! database, see [`crate::target`]), history, restore (GeoPackage only for now).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use geo::{Coord, Geometry, MapCoords};
use gridmap_core::model::BasemapLayer;
use gridmap_io::Fields;
use gridmap_io::gdal_io::Column;
use gridmap_store::{Change, ImportCounts, Mode, Store};

use crate::target::Opened;
use serde_json::{Map, Value, json};

use crate::progress::Phases;

/// A conversion between WGS84 and GCJ-02 or BD-09 (lon, lat in, lon, lat out).
type Shift = fn(f64, f64) -> (f64, f64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Layer {
    Grids,
    Buildings,
    Addresses,
    Units,
    Visits,
    Boundary,
    Villages,
    /// The household form (城乡社区网格住户基础信息登记表), .xlsx or .csv: houses and people.
    Households,
    /// Basemap roads (lines with `kind`, `kind_detail`, `name`, or raw OSM `highway` tags).
    Roads,
    /// Basemap water (polygons or lines with `kind`, `name`, or raw OSM `waterway`/`natural`).
    Water,
    /// Basemap land use (polygons with `kind`, `name`, or raw OSM `landuse`/`leisure`/`natural`).
    Landuse,
}

impl Layer {
    /// The basemap layer this is, if it is one.
    fn basemap(self) -> Option<BasemapLayer> {
        match self {
            Layer::Roads => Some(BasemapLayer::Roads),
            Layer::Water => Some(BasemapLayer::Water),
            Layer::Landuse => Some(BasemapLayer::Landuse),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportMode {
    Append,
    Replace,
    Upsert,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The project file to create (.gpkg), or a PostgreSQL database (postgres://user@host/db,
    /// no password: PGPASSWORD or ~/.pgpass) to add the town to.
    project: PathBuf,
    /// Town name, e.g. 外滩街道.
    #[arg(long)]
    town: String,
    /// Town code (the statistical division code), e.g. 310101001.
    #[arg(long)]
    code: String,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The project file, or a PostgreSQL database (postgres://…, see `gridmap init`).
    project: PathBuf,
    /// With a PostgreSQL project: the town's code (needed when the database holds several).
    #[arg(long, value_name = "CODE")]
    town: Option<String>,
    /// Which layer the file holds. Without it, FILE is a whole gridmap project (.gpkg) to add
    /// to a PostgreSQL database as a new town (its code the project's), all or nothing: every
    /// layer, the grids' history, users, audit log, plans and the household registers (copied
    /// sealed: no key needed). Refused when the database has the town already.
    #[arg(long, value_enum)]
    layer: Option<Layer>,
    /// The file: GeoJSON and FlatGeobuf natively, anything else GDAL reads (Shapefile,
    /// GeoPackage, KML, GML, DXF, CSV with WKT or lon/lat columns).
    file: PathBuf,
    /// The file's CRS when it does not say (EPSG code, e.g. 4490 or EPSG:4528, or a PROJ
    /// string); overrides what the file says.
    #[arg(long)]
    crs: Option<String>,
    /// The coordinates are GCJ-02 (AMap, Tencent): convert them to WGS84.
    #[arg(long, conflicts_with = "from_bd09")]
    from_gcj02: bool,
    /// The coordinates are BD-09 (Baidu): convert them to WGS84.
    #[arg(long)]
    from_bd09: bool,
    /// The property holding each record's id (default: `code` for grids and villages, `id`
    /// otherwise).
    #[arg(long, value_name = "FIELD")]
    id: Option<String>,
    /// Read a model field from another property, e.g. --map households=HU_SHU.
    #[arg(long = "map", value_name = "FIELD=PROP")]
    map: Vec<String>,
    /// How to meet what is already stored.
    #[arg(long, value_enum, default_value = "append")]
    mode: ImportMode,
    /// Text encoding of a Shapefile without .cpg, e.g. GBK.
    #[arg(long)]
    encoding: Option<String>,
    /// Import the good features and write the rejected ones, with their reasons, to a side
    /// file instead of rolling the whole import back.
    #[arg(long)]
    skip_invalid: bool,
    /// Where --skip-invalid writes rejected features (default: FILE.rejected.csv beside the
    /// input).
    #[arg(long, value_name = "FILE.csv", requires = "skip_invalid")]
    rejected: Option<PathBuf>,
    /// Who imports (kept in grid history).
    #[arg(long, default_value = "gridmap import")]
    who: String,
    /// Why (kept in grid history).
    #[arg(long, default_value = "import")]
    why: String,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The project file, or a PostgreSQL database (postgres://…, see `gridmap init`).
    project: PathBuf,
    /// With a PostgreSQL project: the town's code (needed when the database holds several).
    #[arg(long, value_name = "CODE")]
    town: Option<String>,
    /// Which layer to export. Without it, the whole town of a PostgreSQL database as a new
    /// GeoPackage project (OUT.gpkg), the offline backup: every layer, the grids' history,
    /// users, audit log, plans and the household registers (copied sealed: no key needed);
    /// gridmap and QGIS open it as any project.
    #[arg(long, value_enum)]
    layer: Option<Layer>,
    /// The output file; its extension chooses the format: .geojson, .fgb, .shp, .gpkg, .kml,
    /// .gml, .csv.
    out: PathBuf,
    /// Write GCJ-02 coordinates (for AMap/Tencent base maps).
    #[arg(long, conflicts_with = "to_bd09")]
    to_gcj02: bool,
    /// Write BD-09 coordinates (for Baidu base maps).
    #[arg(long)]
    to_bd09: bool,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The project: a GeoPackage file or a `postgres://` town.
    pub(crate) project: PathBuf,
    /// The town (its code) of a PostgreSQL database holding several.
    #[arg(long)]
    town: Option<String>,
    /// The grid's code.
    grid: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The project: a GeoPackage file or a `postgres://` town.
    pub(crate) project: PathBuf,
    /// The town (its code) of a PostgreSQL database holding several.
    #[arg(long)]
    town: Option<String>,
    /// The grid's code.
    grid: String,
    /// The version to make current again (see `gridmap history`).
    #[arg(long)]
    version: u32,
    #[arg(long, default_value = "gridmap restore")]
    who: String,
    #[arg(long, default_value = "restore")]
    why: String,
}

pub fn run_init(args: InitArgs) -> Result<ExitCode> {
    println!(
        "{}",
        crate::target::create(&args.project, &args.code, &args.town)?
    );
    Ok(ExitCode::SUCCESS)
}

/// The transform from the file's coordinates to WGS84, and a description of it.
fn source_transform(
    args: &ImportArgs,
) -> Result<(Option<Arc<gridmap_io::read::Transform>>, String)> {
    let declared = match &args.crs {
        Some(c) => Some(gridmap_io::crs::normalise(c)),
        None => match gridmap_io::Format::of(&args.file)? {
            gridmap_io::Format::Gdal => {
                gridmap_io::gdal_io::layer_crs(&args.file, args.encoding.as_deref())?
            }
            _ => None,
        },
    };
    let reproject = match &declared {
        Some(crs) if !gridmap_io::crs::is_wgs84(crs) => {
            Some(gridmap_io::crs::to_wgs84(crs).map_err(|e| {
                anyhow::anyhow!(
                    "{}: PROJ cannot use the CRS {crs}: {e}",
                    args.file.display()
                )
            })?)
        }
        _ => None,
    };
    let unshift: Option<Shift> = if args.from_gcj02 {
        Some(gridmap_io::chinese::gcj02_to_wgs84)
    } else if args.from_bd09 {
        Some(gridmap_io::chinese::bd09_to_wgs84)
    } else {
        None
    };
    let mut what = match &declared {
        Some(crs) if reproject.is_some() => format!("reprojected from {}", short(crs)),
        _ => "WGS84".to_string(),
    };
    if args.from_gcj02 {
        what += ", converted from GCJ-02";
    }
    if args.from_bd09 {
        what += ", converted from BD-09";
    }
    if reproject.is_none() && unshift.is_none() {
        return Ok((None, what));
    }
    let t = move |c: Coord| -> std::result::Result<Coord, String> {
        let c = match &reproject {
            Some(r) => r(c)?,
            None => c,
        };
        Ok(match unshift {
            Some(f) => {
                let (x, y) = f(c.x, c.y);
                Coord { x, y }
            }
            None => c,
        })
    };
    Ok((Some(Arc::new(t)), what))
}

fn short(crs: &str) -> String {
    if crs.len() > 60 {
        format!("{}…", crs.chars().take(60).collect::<String>())
    } else {
        crs.to_string()
    }
}

pub fn run_import(args: ImportArgs, verbose: bool) -> Result<ExitCode> {
    let Some(layer) = args.layer else {
        if args.crs.is_some()
            || args.from_gcj02
            || args.from_bd09
            || args.id.is_some()
            || !args.map.is_empty()
            || args.mode != ImportMode::Append
            || args.encoding.is_some()
            || args.skip_invalid
            || args.who != "gridmap import"
            || args.why != "import"
        {
            bail!(
                "a whole project (import without --layer) is copied as it is: --crs, \
                 --from-gcj02/--from-bd09, --id, --map, --mode, --encoding, --skip-invalid, \
                 --who and --why do not apply"
            );
        }
        return crate::moves::import_project(&args.project, args.town.as_deref(), &args.file);
    };
    if layer == Layer::Households {
        if args.crs.is_some() || args.from_gcj02 || args.from_bd09 || !args.map.is_empty() {
            bail!("--crs, --from-gcj02/--from-bd09 and --map do not apply to household forms");
        }
        return crate::households_cmd::run_import_households(
            &args.project,
            args.town.as_deref(),
            &args.file,
            args.skip_invalid,
            args.rejected.as_deref(),
        );
    }
    let mut project = Opened::open(&args.project, args.town.as_deref())?;
    let mut phases = Phases::new(verbose);
    phases.phase("reading");
    let (transform, what) = source_transform(&args)?;
    let mut rename = Vec::new();
    for m in &args.map {
        let Some((field, prop)) = m.split_once('=') else {
            bail!("--map {m}: expected FIELD=PROP, e.g. households=HU_SHU");
        };
        rename.push((field.trim().to_string(), prop.trim().to_string()));
    }
    let default_id = match layer {
        Layer::Grids | Layer::Villages => "code",
        _ => "id",
    };
    let id = args.id.clone().unwrap_or_else(|| default_id.to_string());
    if matches!(layer, Layer::Units | Layer::Visits) {
        rename.push(("id".into(), id.clone()));
    }
    let fields = Fields {
        grid_id: id.clone(),
        building_id: id.clone(),
        address_id: id,
        rename,
        encoding: args.encoding.clone(),
        transform,
        rejected: args
            .skip_invalid
            .then(|| Arc::new(std::sync::Mutex::new(Vec::new()))),
    };
    // Rejected features as (feature index, id, reason).
    let mut rejected: Vec<(Option<usize>, Option<String>, String)> = Vec::new();
    let mode = match args.mode {
        ImportMode::Append => Mode::Append,
        ImportMode::Replace => Mode::Replace,
        ImportMode::Upsert => Mode::Upsert,
    };
    let change = Change {
        who: args.who.clone(),
        why: args.why.clone(),
    };
    let path = &args.file;
    let (read, counts): (usize, ImportCounts) = match layer {
        Layer::Grids => {
            let mut layer = gridmap_io::read_grids(path, &fields)?;
            if let Some((i, why)) = layer.defects.first()
                && !args.skip_invalid
            {
                bail!(
                    "{}: feature {i} (id {}): {why}",
                    path.display(),
                    layer.grids[*i].code
                );
            }
            for (i, why) in layer.defects.iter().rev() {
                let g = layer.grids.remove(*i);
                rejected.push((None, Some(g.code), why.clone()));
            }
            project.on_progress(phases.counted("writing grids"));
            (
                layer.grids.len(),
                project
                    .store_mut()
                    .import_grids(&layer.grids, mode, &change)?,
            )
        }
        Layer::Buildings => {
            let b = gridmap_io::read_buildings(path, &fields)?;
            project.on_progress(phases.counted("writing buildings"));
            (b.len(), project.store_mut().import_buildings(&b, mode)?)
        }
        Layer::Addresses => {
            let a = gridmap_io::read_addresses(path, &fields)?;
            project.on_progress(phases.counted("writing addresses"));
            (a.len(), project.store_mut().import_addresses(&a, mode)?)
        }
        Layer::Units => {
            let u = gridmap_io::read_units(path, &fields)?;
            project.on_progress(phases.counted("writing units"));
            (u.len(), project.store_mut().import_units(&u, mode)?)
        }
        Layer::Visits => {
            let v = gridmap_io::read_visits(path, &fields)?;
            project.on_progress(phases.counted("writing visits"));
            (v.len(), project.store_mut().import_visits(&v, mode)?)
        }
        Layer::Villages => {
            let layer = gridmap_io::read_grids(path, &fields)?;
            let villages: Vec<gridmap_core::Village> = layer
                .grids
                .into_iter()
                .map(|g| gridmap_core::Village {
                    name: g.name.unwrap_or_default(),
                    town: g.village,
                    code: g.code,
                    boundary: Some(g.geometry),
                })
                .collect();
            project.on_progress(phases.counted("writing villages"));
            (
                villages.len(),
                project.store_mut().import_villages(&villages, mode)?,
            )
        }
        Layer::Households => bail!("household forms are imported above"),
        Layer::Roads | Layer::Water | Layer::Landuse => {
            let layer = layer
                .basemap()
                .expect("roads, water and landuse are basemap layers");
            let f = gridmap_io::read_basemap(path, layer, &fields)?;
            project.on_progress(phases.counted(&format!("writing {}", layer.as_str())));
            (
                f.len(),
                project.store_mut().import_basemap(layer, &f, mode)?,
            )
        }
        Layer::Boundary => {
            let b = gridmap_io::read::read_boundary_with(path, &fields)?;
            project.store_mut().set_town_boundary(&b)?;
            (
                1,
                ImportCounts {
                    updated: 1,
                    ..Default::default()
                },
            )
        }
    };
    if let Some(sink) = &fields.rejected {
        let errors = std::mem::take(
            &mut *sink
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for e in errors {
            match e {
                gridmap_io::Error::Feature {
                    index, id, message, ..
                } => rejected.push((Some(index), id, message)),
                other => rejected.push((None, None, other.to_string())),
            }
        }
    }
    let skipped = if args.skip_invalid {
        let side = args.rejected.clone().unwrap_or_else(|| {
            let mut name = path.file_name().unwrap_or_default().to_os_string();
            name.push(".rejected.csv");
            path.with_file_name(name)
        });
        rejected.sort_by_key(|r| r.0);
        let mut w = csv::Writer::from_path(&side)
            .with_context(|| format!("cannot create {}", side.display()))?;
        w.write_record(["feature", "id", "reason"])?;
        for (index, id, why) in &rejected {
            let index = index.map(|i| i.to_string()).unwrap_or_default();
            w.write_record([index.as_str(), id.as_deref().unwrap_or(""), why.as_str()])?;
        }
        w.flush()?;
        format!(
            ", skipped {} (reasons in {})",
            rejected.len(),
            side.display()
        )
    } else {
        String::new()
    };
    let took = phases.finish();
    println!(
        "imported {} into {} ({:?}, {}): read {}, inserted {}, updated {}, unchanged {}, deleted {}{skipped} in {:.2} s",
        path.display(),
        project.name(),
        layer,
        what,
        read + rejected.len(),
        counts.inserted,
        counts.updated,
        counts.unchanged,
        counts.deleted,
        took.as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

type Features = Vec<(Option<Geometry>, Map<String, Value>)>;

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// A layer of the project as features, with its column types.
fn layer_features(
    store: &dyn Store,
    layer: Layer,
) -> Result<(Vec<(&'static str, Column)>, Features)> {
    use Column::{Integer, Text};
    Ok(match layer {
        Layer::Households => bail!(
            "households hold personal data and are not exported as a map layer; see gridmap stats"
        ),
        Layer::Grids => (
            vec![("code", Text), ("name", Text), ("village", Text), ("version", Integer)],
            store
                .grids()?
                .into_iter()
                .map(|g| {
                    (
                        Some(Geometry::MultiPolygon(g.grid.geometry)),
                        obj(json!({"code": g.grid.code, "name": g.grid.name, "village": g.grid.village, "version": g.version})),
                    )
                })
                .collect(),
        ),
        Layer::Buildings => (
            vec![("id", Text), ("households", Integer), ("floors", Integer), ("kind", Text)],
            store
                .buildings()?
                .into_iter()
                .map(|b| {
                    let g = Geometry::from(b.footprint);
                    (Some(g), obj(json!({"id": b.id, "households": b.households, "floors": b.floors, "kind": b.kind})))
                })
                .collect(),
        ),
        Layer::Addresses => (
            vec![("id", Text), ("text", Text), ("grid", Text), ("building", Text)],
            store
                .addresses()?
                .into_iter()
                .map(|a| {
                    (
                        Some(Geometry::Point(a.point)),
                        obj(json!({"id": a.id, "text": a.text, "grid": a.declared_grid, "building": a.declared_building})),
                    )
                })
                .collect(),
        ),
        Layer::Units => (
            vec![("id", Text), ("name", Text), ("category", Text), ("address", Text), ("contact", Text)],
            store
                .units()?
                .into_iter()
                .map(|u| {
                    (
                        Some(Geometry::Point(u.point)),
                        obj(json!({"id": u.id, "name": u.name, "category": u.category, "address": u.address, "contact": u.contact})),
                    )
                })
                .collect(),
        ),
        Layer::Visits => (
            vec![("id", Text), ("building", Text), ("house", Text), ("worker", Text), ("time", Text), ("outcome", Text), ("note", Text)],
            store
                .visits()?
                .into_iter()
                .map(|v| {
                    (
                        v.point.map(Geometry::Point),
                        obj(json!({"id": v.id, "building": v.building, "house": v.house, "worker": v.worker, "time": v.time, "outcome": v.outcome.as_str(), "note": v.note})),
                    )
                })
                .collect(),
        ),
        Layer::Villages => (
            vec![("code", Text), ("name", Text), ("town", Text)],
            store
                .villages()?
                .into_iter()
                .map(|v| {
                    (
                        v.boundary.map(Geometry::MultiPolygon),
                        obj(json!({"code": v.code, "name": v.name, "town": v.town})),
                    )
                })
                .collect(),
        ),
        Layer::Roads | Layer::Water | Layer::Landuse => {
            let layer = layer
                .basemap()
                .expect("roads, water and landuse are basemap layers");
            (
                vec![("kind", Text), ("detail", Text), ("name", Text)],
                store
                    .basemap()?
                    .into_iter()
                    .filter(|f| f.layer == layer)
                    .map(|f| {
                        (
                            Some(f.geometry),
                            obj(json!({"kind": f.kind, "detail": f.detail, "name": f.name})),
                        )
                    })
                    .collect(),
            )
        }
        Layer::Boundary => {
            let t = store.town()?;
            (
                vec![("code", Text), ("name", Text)],
                vec![(t.boundary.map(Geometry::MultiPolygon), obj(json!({"code": t.code, "name": t.name})))],
            )
        }
    })
}

pub fn run_export(args: ExportArgs) -> Result<ExitCode> {
    let Some(layer) = args.layer else {
        if args.to_gcj02 || args.to_bd09 {
            bail!(
                "a whole project is exported in WGS84, as it is stored: --to-gcj02/--to-bd09 need --layer"
            );
        }
        return crate::moves::export_project(&args.project, args.town.as_deref(), &args.out);
    };
    let project = Opened::open(&args.project, args.town.as_deref())?;
    let (columns, mut features) = layer_features(project.store(), layer)?;
    let shift: Option<Shift> = if args.to_gcj02 {
        Some(gridmap_io::chinese::wgs84_to_gcj02)
    } else if args.to_bd09 {
        Some(gridmap_io::chinese::wgs84_to_bd09)
    } else {
        None
    };
    if let Some(f) = shift {
        for (g, _) in features.iter_mut() {
            if let Some(geom) = g.take() {
                *g = Some(geom.map_coords(|c| {
                    let (x, y) = f(c.x, c.y);
                    Coord { x, y }
                }));
            }
        }
    }
    let n = features.len();
    write_any(&args.out, layer_name(layer), &columns, features)?;
    println!(
        "exported {n} {} features to {}{}",
        layer_name(layer),
        args.out.display(),
        if args.to_gcj02 {
            " in GCJ-02"
        } else if args.to_bd09 {
            " in BD-09"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}

fn layer_name(layer: Layer) -> &'static str {
    match layer {
        Layer::Grids => "grids",
        Layer::Buildings => "buildings",
        Layer::Addresses => "addresses",
        Layer::Units => "units",
        Layer::Visits => "visits",
        Layer::Boundary => "boundary",
        Layer::Villages => "villages",
        Layer::Households => "households",
        Layer::Roads => "roads",
        Layer::Water => "water",
        Layer::Landuse => "landuse",
    }
}

/// Writes GeoJSON natively and every other format through GDAL.
fn write_any(
    path: &Path,
    layer: &str,
    columns: &[(&str, Column)],
    features: Features,
) -> Result<()> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "geojson" | "json" => gridmap_io::write_geojson(path, features)?,
        _ if gridmap_io::gdal_io::driver_for(path).is_some() => {
            gridmap_io::gdal_io::write(path, layer, columns, features)?
        }
        _ => bail!(
            "{}: unknown output format (use .geojson, .fgb, .shp, .gpkg, .kml, .gml or .csv)",
            path.display()
        ),
    }
    Ok(())
}

pub fn run_history(args: HistoryArgs) -> Result<ExitCode> {
    let opened = Opened::open(&args.project, args.town.as_deref())?;
    let history = opened.store().grid_history(&args.grid)?;
    if history.is_empty() {
        bail!("{}: grid {} has no history", opened.name(), args.grid);
    }
    if args.json {
        let rows: Vec<Value> = history
            .iter()
            .map(|v| {
                json!({
                    "version": v.version, "action": v.action, "at": v.at, "who": v.who, "why": v.why,
                    "name": v.name, "village": v.village,
                    "area_m2": v.geometry.as_ref().map(gridmap_core::geodesy::area_m2),
                    "previous_area_m2": v.previous.as_ref().map(gridmap_core::geodesy::area_m2),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!("grid {} — {} versions", args.grid, history.len());
        println!(
            "{:>7}  {:<9}  {:<24}  {:<16}  {:>12}  why",
            "version", "action", "when (UTC)", "who", "area m²"
        );
        for v in &history {
            let area = v
                .geometry
                .as_ref()
                .map(|g| format!("{:.1}", gridmap_core::geodesy::area_m2(g)))
                .unwrap_or_else(|| "—".into());
            println!(
                "{:>7}  {:<9}  {:<24}  {:<16}  {:>12}  {}",
                v.version, v.action, v.at, v.who, area, v.why
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_restore(args: RestoreArgs) -> Result<ExitCode> {
    let mut opened = Opened::open(&args.project, args.town.as_deref())?;
    let store = opened.store_mut();
    let change = Change {
        who: args.who,
        why: args.why,
    };
    let v = store
        .restore_grid(&args.grid, args.version, &change)
        .with_context(|| format!("cannot restore grid {}", args.grid))?;
    println!(
        "grid {} restored to version {} (now version {v})",
        args.grid, args.version
    );
    Ok(ExitCode::SUCCESS)
}
