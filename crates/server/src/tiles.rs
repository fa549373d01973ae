//! Map tiles: Mapbox Vector Tiles of the layers and PNG heatmaps of visits, generated in
//! process from the in-memory project, scoped to the caller, cached.
//!
//! - `/tiles/{layer}.json` — TileJSON 3.0 for `grids`, `buildings`, `addresses`, `problems`
//!   and `basemap`;
//! - `/tiles/{layer}/{z}/{x}/{y}.mvt` — the tile; 204 when empty; `ETag` and `If-None-Match`
//!   → 304. A `basemap` tile holds two MVT layers, `roads` (kind, detail, name) and `water`
//!   (kind, name), from zoom [`BASEMAP_MIN_ZOOM`]; it holds no personal data, so every
//!   signed-in user gets the same tile, whatever their scope;
//! - `/heatmap/{visited|unvisited|coverage}/{z}/{x}/{y}.png` and
//!   `/heatmap/{kind}/legend.json` — kernel density of visited / unvisited buildings weighted
//!   by households, and the visited share red → green.
//!
//! Tiles are cached per (layer, tile, scope). An edit drops exactly the cached tiles whose
//! buffered bounds meet the edited geometry's bounds (`AppState::invalidate`). Building tiles
//! are written from footprints encoded once per tile ([`ShapeCache`]). A heatmap tile is drawn
//! again at most once a [`HEATMAP_FRESH`] for the visits, at once when what it is drawn from
//! changes ([`HeatmapCache`]).

use std::ops::RangeInclusive;
use std::sync::Mutex;

use crate::extract::Path;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use geo::{BoundingRect, Geometry, Intersects, Rect};
use gridmap_core::model::{BasemapFeature, BasemapLayer, Footprint};
use gridmap_tiles::{
    ColorScale, CountPoint, EncodeOptions, Feature, HeatKind, Layer, Pyramid, Shape, Shapes,
    TileId, Value, encode, encode_shapes, overview_mvt, tile_range_buffered,
};
use rstar::AABB;
use serde_json::{Value as Json, json};

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::state::{AppState, Project};

/// Lowest zoom at which buildings are drawn: below it a tile can hold tens of thousands of
/// footprints, too many to read and too slow to encode.
pub const BUILDINGS_MIN_ZOOM: u8 = 14;
/// Lowest zoom at which the basemap is served: below it the town is a few pixels wide.
pub const BASEMAP_MIN_ZOOM: u8 = 10;
/// Below this zoom the basemap leaves out paths (footways, steps, cycleways, piers…), which
/// would be most of a tile's bytes and too small to see.
pub const BASEMAP_PATHS_MIN_ZOOM: u8 = 14;
const LAYERS: [&str; 6] = [
    "grids",
    "buildings",
    "addresses",
    "problems",
    "basemap",
    "overview",
];
/// The zooms of the `overview` layer: where buildings are too small to draw one by one.
pub const OVERVIEW_ZOOMS: std::ops::RangeInclusive<u8> = 8..=13;
/// Overview cells per tile side (32 × 32 cells of 8 px).
const OVERVIEW_CELLS: u32 = 32;

/// A cached tile's key: layer, z, x, y and the scope it was cut for.
type TileKey = (String, u8, u32, u32, String);

/// A problem as a tile feature: id, geometry, properties.
type ProblemFeature = (u64, Geometry, Vec<(&'static str, Value<'static>)>);

/// The most bytes of tiles kept: least recently used ones go first beyond it.
pub const TILE_CACHE_BYTES: usize = 256 << 20;

/// Cached tiles: key → (ETag, bytes), least recently used first; empty bytes for an empty
/// tile. Bounded by [`TILE_CACHE_BYTES`]. Tiles are kept as `Bytes`, so that a hit shares them
/// instead of copying (a district's z14 building tile is ~240 KB) under the cache's lock.
pub struct TileCache {
    inner: Mutex<Budgeted<TileKey, (String, Bytes)>>,
}

impl Default for TileCache {
    fn default() -> Self {
        TileCache {
            inner: Mutex::new(Budgeted::new(TILE_CACHE_BYTES)),
        }
    }
}

/// What an entry of a [`Budgeted`] map holds in bytes.
trait Weigh {
    fn weigh(&self) -> usize;
}

impl Weigh for (String, Bytes) {
    fn weigh(&self) -> usize {
        self.0.len() + self.1.len()
    }
}

impl Weigh for std::sync::Arc<Shapes> {
    fn weigh(&self) -> usize {
        self.heap_bytes()
    }
}

/// Entries within a budget of bytes, the least recently used going first beyond it: the
/// storage of the tile cache and of the building shapes.
struct Budgeted<K, V> {
    entries: hashlink::LinkedHashMap<K, V>,
    bytes: usize,
    budget: usize,
}

impl<K: std::hash::Hash + Eq, V: Weigh + Clone> Budgeted<K, V> {
    fn new(budget: usize) -> Self {
        Budgeted {
            entries: hashlink::LinkedHashMap::new(),
            bytes: 0,
            budget,
        }
    }

    /// The entry of `key`, now the most recently used.
    fn get(&mut self, key: &K) -> Option<V> {
        self.entries.to_back(key).map(|v| v.clone())
    }

    /// Keeps `value` under `key`, dropping the least recently used entries beyond the budget.
    fn insert(&mut self, key: K, value: V) {
        self.bytes += value.weigh();
        if let Some(old) = self.entries.insert(key, value) {
            self.bytes -= old.weigh();
        }
        while self.bytes > self.budget {
            match self.entries.pop_front() {
                Some((_, v)) => self.bytes -= v.weigh(),
                None => break,
            }
        }
    }

    /// Keeps the entries `keep` says yes to.
    fn retain(&mut self, mut keep: impl FnMut(&K) -> bool) {
        self.entries.retain(|k, _| keep(k));
        self.bytes = self.entries.values().map(Weigh::weigh).sum();
    }
}

impl TileCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Budgeted<TileKey, (String, Bytes)>> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cached tile of `key`, now the most recently used.
    fn get(&self, key: &TileKey) -> Option<(String, Bytes)> {
        self.lock().get(key)
    }

    /// Caches a tile, dropping the least recently used ones beyond the budget.
    fn insert(&self, key: TileKey, etag: String, bytes: Bytes) {
        self.lock().insert(key, (etag, bytes));
    }

    /// Drops every cached tile whose buffered bounds meet `bbox` (lon/lat).
    pub fn invalidate(&self, bbox: Rect) {
        // Edits never touch the basemap: its tiles stay.
        self.invalidate_many(&[bbox]);
    }

    /// Drops every cached tile (but the basemap's) whose buffered bounds meet one of `boxes`,
    /// in one pass over the cache.
    ///
    /// The boxes are turned into ranges of columns and rows once per zoom, so each cached tile
    /// costs a few comparisons: the visit writer calls this for every batch it commits, and
    /// a tile's bounds in longitude and latitude (two `atan(sinh)` each) for each of thousands
    /// of cached tiles were a tenth of the writer's time under a campaign's load.
    pub fn invalidate_many(&self, boxes: &[Rect]) {
        if boxes.is_empty() {
            return;
        }
        let opts = EncodeOptions::default();
        // Per zoom, made when a tile of that zoom is first met: each box's columns and rows.
        type Ranges = Vec<(RangeInclusive<u32>, RangeInclusive<u32>)>;
        let mut by_zoom: Vec<Option<Ranges>> = vec![None; usize::from(gridmap_tiles::MAX_ZOOM) + 1];
        self.lock().retain(|(layer, z, x, y, _)| {
            if layer == "basemap" {
                return true;
            }
            let Some(ranges) = by_zoom.get_mut(usize::from(*z)) else {
                return false;
            };
            let ranges = ranges.get_or_insert_with(|| {
                boxes
                    .iter()
                    .map(|b| tile_range_buffered(*b, *z, opts.buffer, opts.extent))
                    .collect()
            });
            !ranges
                .iter()
                .any(|(xs, ys)| xs.contains(x) && ys.contains(y))
        });
    }

    /// Drops every cached tile.
    pub fn clear(&self) {
        self.lock().retain(|_| false);
    }

    /// Drops every cached tile of `layer`.
    pub fn clear_layer(&self, layer: &str) {
        self.lock().retain(|k| k.0 != layer);
    }

    /// Number of cached tiles.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Bytes held by the cached tiles.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn tile_id(z: u8, x: u32, y_ext: &str, ext: &str) -> Result<TileId, AppError> {
    let y = y_ext
        .strip_suffix(ext)
        .and_then(|y| y.parse::<u32>().ok())
        .ok_or_else(|| {
            AppError::BadRequest(format!("expected …/{{z}}/{{x}}/{{y}}{ext}, got {y_ext}"))
        })?;
    TileId::new(z, x, y).map_err(|e| AppError::BadRequest(e.to_string()))
}

/// The part of the cache a user's tiles go in: users who reach the same part see the same tiles.
fn scope_key(user: &AuthUser, town: &str, layer: &str) -> String {
    if layer == "basemap" {
        return "*".into();
    }
    user.reach_key(town)
}

fn visit_status(live: &crate::live::Live, i: usize) -> &'static str {
    match live.outcome(i) {
        None => "unvisited",
        Some(o) => o.as_str(),
    }
}

/// The features of `layer` that may lie in `tile`, in the user's scope.
fn features<'a>(
    p: &'a Project,
    user: &AuthUser,
    layer: &str,
    tile: TileId,
    problems: &'a [ProblemFeature],
) -> Vec<Feature<'a>> {
    let opts = EncodeOptions::default();
    let area = tile.buffered_bounds_lonlat(opts.buffer, opts.extent);
    let sees = |code: &str| user.sees_code(p, code);
    let scope = user.scope(p);
    match layer {
        "grids" => p
            .grids
            .iter()
            .enumerate()
            .filter(|(_, g)| {
                sees(&g.grid.code)
                    && g.grid
                        .geometry
                        .bounding_rect()
                        .is_some_and(|r| r.intersects(&area))
            })
            .map(|(i, g)| Feature {
                id: i as u64 + 1,
                geometry: Shape::Area(&g.grid.geometry),
                properties: vec![
                    ("code", Value::from(g.grid.code.as_str())),
                    ("name", Value::from(g.grid.name.clone().unwrap_or_default())),
                    (
                        "village",
                        Value::from(g.grid.village.clone().unwrap_or_default()),
                    ),
                    ("version", Value::from(i64::from(g.version))),
                ],
            })
            .collect(),
        // Written from their cached shapes: see `buildings_tile`.
        "buildings" => Vec::new(),
        "addresses" => p
            .addresses
            .iter()
            .enumerate()
            .filter(|(i, a)| area.intersects(&a.point) && scope.address(*i))
            .map(|(i, a)| Feature {
                id: i as u64 + 1,
                geometry: Shape::Point(a.point.0),
                properties: vec![
                    ("id", Value::from(a.id.as_str())),
                    ("text", Value::from(a.text.clone().unwrap_or_default())),
                    (
                        "grid",
                        Value::from(a.declared_grid.clone().unwrap_or_default()),
                    ),
                ],
            })
            .collect(),
        _ => problems
            .iter()
            .filter(|(_, g, _)| g.bounding_rect().is_some_and(|r| r.intersects(&area)))
            .map(|(id, g, props)| Feature {
                id: *id,
                geometry: g.into(),
                properties: props.clone(),
            })
            .collect(),
    }
}

/// The most bytes of building shapes kept ([`ShapeCache`]).
pub const SHAPE_CACHE_BYTES: usize = 64 << 20;

/// Building footprints encoded per tile ([`Shapes`]), for every user: the tiles' geometry
/// without their properties. The tile cache drops a building tile at each visit under it
/// (its `visit` property changed), which during a campaign is every few milliseconds for a
/// district's z14 tiles; the footprints have not moved, and writing the tile from its shapes
/// skips the R-tree query, projection, clipping and simplification, most of a building tile's
/// time. Visits and grid edits move no footprint, so the snapshots of the same buildings share
/// one cache; a project loaded anew (buildings imported) starts an empty one. Bounded by
/// [`SHAPE_CACHE_BYTES`], least recently used first out.
pub struct ShapeCache {
    inner: Mutex<Budgeted<(u8, u32, u32), std::sync::Arc<Shapes>>>,
}

impl Default for ShapeCache {
    fn default() -> Self {
        ShapeCache {
            inner: Mutex::new(Budgeted::new(SHAPE_CACHE_BYTES)),
        }
    }
}

impl ShapeCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Budgeted<(u8, u32, u32), std::sync::Arc<Shapes>>> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The shapes of `tile`, made by `make` (outside the lock) when not kept.
    fn get_or_make(&self, tile: TileId, make: impl FnOnce() -> Shapes) -> std::sync::Arc<Shapes> {
        let key = (tile.z, tile.x, tile.y);
        if let Some(hit) = self.lock().get(&key) {
            return hit;
        }
        let made = std::sync::Arc::new(make());
        self.lock().insert(key, made.clone());
        made
    }

    /// Number of tiles kept.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no tile is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The `buildings` tile as `user` may see it: the footprints from the shapes cache, with each
/// building's id, grid, visit status and households as they are now. Empty below
/// [`BUILDINGS_MIN_ZOOM`] (the `overview` layer serves those zooms).
fn buildings_tile(p: &Project, user: &AuthUser, tile: TileId) -> Vec<u8> {
    if tile.z < BUILDINGS_MIN_ZOOM {
        return Vec::new();
    }
    let opts = EncodeOptions::default();
    let shapes = p.building_shapes.get_or_make(tile, || {
        let area = tile.buffered_bounds_lonlat(opts.buffer, opts.extent);
        let env = AABB::from_corners([area.min().x, area.min().y], [area.max().x, area.max().y]);
        let mut ids: Vec<u32> = p
            .building_tree
            .locate_in_envelope_intersecting(&env)
            .map(|e| e.data)
            .collect();
        ids.sort_unstable();
        let features: Vec<Feature> = ids
            .iter()
            .map(|&i| Feature {
                id: u64::from(i) + 1,
                geometry: match &p.buildings[i as usize].footprint {
                    Footprint::Area(a) => Shape::Area(a),
                    Footprint::Point(pt) => Shape::Point(pt.0),
                },
                properties: Vec::new(),
            })
            .collect();
        Shapes::new(tile, &features, &opts)
    });
    let scope = user.scope(p);
    let live = p.live();
    encode_shapes("buildings", &shapes, |id, out| {
        let i = (id - 1) as usize;
        // In a grid or not: the one rule (crate::scope::Scope).
        if !scope.building(i) {
            return false;
        }
        out.extend([
            ("id", Value::from(p.buildings[i].id.as_str())),
            ("grid", Value::from(p.grid_of(i).unwrap_or(""))),
            ("visit", Value::from(visit_status(&live, i))),
            (
                "households",
                Value::from(i64::from(p.buildings[i].households)),
            ),
        ]);
        true
    })
}

/// Whether a road is a path (footway, steps, cycleway, pier…), left out at low zoom.
fn is_path(f: &BasemapFeature) -> bool {
    f.kind.as_deref() == Some("path")
        || f.detail.as_deref().is_some_and(|d| {
            matches!(
                d,
                "footway"
                    | "path"
                    | "pedestrian"
                    | "cycleway"
                    | "steps"
                    | "bridleway"
                    | "track"
                    | "corridor"
                    | "pier"
            )
        })
}

/// A basemap feature for the tile: kind, detail (roads only) and name when present.
fn basemap_feature(i: usize, f: &BasemapFeature, detail: bool) -> Feature<'_> {
    let mut properties = Vec::with_capacity(3);
    if let Some(k) = &f.kind {
        properties.push(("kind", Value::from(k.as_str())));
    }
    if detail && let Some(d) = &f.detail {
        properties.push(("detail", Value::from(d.as_str())));
    }
    if let Some(n) = &f.name {
        properties.push(("name", Value::from(n.as_str())));
    }
    Feature {
        id: i as u64 + 1,
        geometry: (&f.geometry).into(),
        properties,
    }
}

/// The basemap tile: `landuse`, `water` then `roads` (drawn in that order), paths only from
/// [`BASEMAP_PATHS_MIN_ZOOM`], absent properties left out. Below that zoom geometry is
/// simplified at 1 px instead of 0.5: the basemap is background.
fn basemap_tile(p: &Project, tile: TileId) -> Vec<u8> {
    if tile.z < BASEMAP_MIN_ZOOM {
        return Vec::new();
    }
    let mut opts = EncodeOptions::default();
    if tile.z < BASEMAP_PATHS_MIN_ZOOM {
        opts.simplify_tolerance_px = 1.0;
    }
    let area = tile.buffered_bounds_lonlat(opts.buffer, opts.extent);
    let landuse = p
        .basemap
        .in_area(BasemapLayer::Landuse, area)
        .into_iter()
        .map(|(i, f)| basemap_feature(i, f, false))
        .collect();
    let water = p
        .basemap
        .in_area(BasemapLayer::Water, area)
        .into_iter()
        .map(|(i, f)| basemap_feature(i, f, false))
        .collect();
    let roads = p
        .basemap
        .in_area(BasemapLayer::Roads, area)
        .into_iter()
        .filter(|(_, f)| tile.z >= BASEMAP_PATHS_MIN_ZOOM || !is_path(f))
        .map(|(i, f)| basemap_feature(i, f, true))
        .collect();
    encode(
        tile,
        &[
            Layer {
                name: "landuse",
                features: landuse,
            },
            Layer {
                name: "water",
                features: water,
            },
            Layer {
                name: "roads",
                features: roads,
            },
        ],
        &opts,
    )
}

/// Validation problems as tile features, from the same list and with the same visibility as
/// `GET /api/problems` ([`crate::problems::visible`]): `kind` is the table's `type` and
/// `problem` its `id`, so a feature on the map and a row of the table name each other.
fn problems(p: &Project, user: &AuthUser) -> Vec<ProblemFeature> {
    crate::problems::visible(p, user)
        .into_iter()
        .enumerate()
        .map(|(i, pr)| {
            let mut props = vec![
                ("kind", Value::from(pr.kind)),
                ("problem", Value::from(pr.id)),
                ("grids", Value::from(pr.grids.join(","))),
                ("buildings", Value::from(pr.buildings as i64)),
            ];
            if let Some(a) = pr.area_m2 {
                props.push(("area_m2", Value::from(a)));
            }
            if let Some(b) = pr.building {
                props.push(("building", Value::from(b)));
            }
            (i as u64 + 1, pr.geometry, props)
        })
        .collect()
}

fn etag_of(bytes: &[u8]) -> String {
    // A fast, stable content hash over 8-byte words, each multiplied in and its high bits
    // folded down (a district's z14 building tile is ~240 KB: FNV-1a a byte at a time took a
    // third of a millisecond); collisions only cost a needless re-download.
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        h = (h ^ u64::from_le_bytes(w.try_into().unwrap_or_default())).wrapping_mul(K);
        h ^= h >> 29;
    }
    for b in words.remainder() {
        h = (h ^ u64::from(*b)).wrapping_mul(K);
        h ^= h >> 29;
    }
    format!("\"{h:016x}-{}\"", bytes.len())
}

fn respond(
    bytes: Bytes,
    etag: String,
    headers: &HeaderMap,
    content_type: &'static str,
) -> Response {
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag)
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    if bytes.is_empty() {
        return StatusCode::NO_CONTENT.into_response();
    }
    let mut resp = Response::new(Body::from(bytes));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    resp
}

/// `GET /tiles/{layer}/{z}/{x}/{y}.mvt`.
#[utoipa::path(get, path = "/tiles/{layer}/{z}/{x}/{y}", tag = "tiles", params(("layer" = String, Path), ("z" = u8, Path), ("x" = u32, Path), ("y" = String, Path, description = "`{y}.mvt`")), responses((status = 200, description = "A Mapbox Vector Tile", content_type = "application/vnd.mapbox-vector-tile", body = Vec<u8>), (status = 204, description = "An empty tile"), (status = 304, description = "Not modified (ETag)")))]
pub async fn vector_tile(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    Path((layer, z, x, y)): Path<(String, u8, u32, String)>,
) -> Result<Response, AppError> {
    if !LAYERS.contains(&layer.as_str()) {
        return Err(AppError::NotFound(format!(
            "tile layer {layer} (layers: {})",
            LAYERS.join(", ")
        )));
    }
    let tile = tile_id(z, x, &y, ".mvt")?;
    let key = (
        layer.clone(),
        tile.z,
        tile.x,
        tile.y,
        scope_key(&user, &state.project().town.code, &layer),
    );
    let cached = state.0.tiles.get(&key);
    let (etag, bytes) = match cached {
        Some(hit) => hit,
        None => {
            // The snapshot is taken when the tile's turn comes, not held while it waits.
            let (st, user, layer) = (state.clone(), user.clone(), layer.clone());
            let bytes: Bytes =
                crate::reading(move || Ok(render_tile(&st.project(), &user, &layer, tile)))
                    .await?
                    .into();
            let etag = etag_of(&bytes);
            state.0.tiles.insert(key, etag.clone(), bytes.clone());
            (etag, bytes)
        }
    };
    Ok(respond(
        bytes,
        etag,
        &headers,
        "application/vnd.mapbox-vector-tile",
    ))
}

/// The vector tile `tile` of `layer` as `user` may see it.
fn render_tile(p: &Project, user: &AuthUser, layer: &str, tile: TileId) -> Vec<u8> {
    match layer {
        "basemap" => basemap_tile(p, tile),
        "buildings" => buildings_tile(p, user, tile),
        "overview" if OVERVIEW_ZOOMS.contains(&tile.z) => {
            overview_mvt(tile, &overview_cells(p, user, tile))
        }
        "overview" => Vec::new(),
        _ => {
            let problem_features = if layer == "problems" {
                problems(p, user)
            } else {
                Vec::new()
            };
            let features = features(p, user, layer, tile, &problem_features);
            encode(
                tile,
                &[Layer {
                    name: layer,
                    features,
                }],
                &EncodeOptions::default(),
            )
        }
    }
}

/// `GET /tiles/{layer}.json`: TileJSON 3.0.
#[utoipa::path(get, path = "/tiles/{layer}", tag = "tiles", params(("layer" = String, Path, description = "`grids.json`, `buildings.json`, `addresses.json`, `problems.json` or `basemap.json`")), responses((status = 200, description = "TileJSON", body = Object)))]
pub async fn tilejson(
    State(state): State<AppState>,
    headers: HeaderMap,
    _user: AuthUser,
    Path(layer_json): Path<String>,
) -> Result<axum::Json<Json>, AppError> {
    let layer = layer_json
        .strip_suffix(".json")
        .filter(|l| LAYERS.contains(l))
        .ok_or_else(|| AppError::NotFound(format!("tile layer {layer_json}")))?;
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let p = state.project();
    let bounds = p
        .town
        .boundary
        .as_ref()
        .and_then(|b| b.bounding_rect())
        .or_else(|| {
            p.grids
                .iter()
                .filter_map(|g| g.grid.geometry.bounding_rect())
                .map(Some)
                .reduce(gridmap_stats::edit::union_rect)
                .flatten()
        });
    let b = bounds.map(|r| vec![r.min().x, r.min().y, r.max().x, r.max().y]);
    let centre = bounds.map(|r| vec![r.center().x, r.center().y, 15.0]);
    let minzoom = match layer {
        "buildings" => BUILDINGS_MIN_ZOOM,
        "basemap" => BASEMAP_MIN_ZOOM,
        "overview" => *OVERVIEW_ZOOMS.start(),
        _ => 0,
    };
    let maxzoom = if layer == "overview" {
        *OVERVIEW_ZOOMS.end()
    } else {
        22
    };
    let vector_layers = if layer == "basemap" {
        json!([
            {"id": "landuse", "minzoom": minzoom, "maxzoom": 22, "fields": {"kind": "String", "name": "String"}},
            {"id": "water", "minzoom": minzoom, "maxzoom": 22, "fields": {"kind": "String", "name": "String"}},
            {"id": "roads", "minzoom": minzoom, "maxzoom": 22, "fields": {"kind": "String", "detail": "String", "name": "String"}},
        ])
    } else {
        json!([{"id": layer, "minzoom": minzoom, "maxzoom": maxzoom, "fields": fields_of(layer)}])
    };
    Ok(axum::Json(json!({
        "tilejson": "3.0.0", "name": layer, "scheme": "xyz",
        "tiles": [format!("http://{host}/tiles/{layer}/{{z}}/{{x}}/{{y}}.mvt")],
        "minzoom": minzoom, "maxzoom": maxzoom, "bounds": b, "center": centre,
        "vector_layers": vector_layers,
        "attribution": "© OpenStreetMap contributors",
    })))
}

fn fields_of(layer: &str) -> Json {
    match layer {
        "grids" => {
            json!({"code": "String", "name": "String", "village": "String", "version": "Number"})
        }
        "buildings" => {
            json!({"id": "String", "grid": "String", "visit": "String", "households": "Number"})
        }
        "addresses" => json!({"id": "String", "text": "String", "grid": "String"}),
        "overview" => json!({"buildings": "Number", "households": "Number",
                             "visited_buildings": "Number", "visited_households": "Number",
                             "visited_share": "Number"}),
        _ => {
            json!({"kind": "String", "problem": "String", "grids": "String", "area_m2": "Number", "buildings": "Number", "building": "String"})
        }
    }
}

/// The heatmaps served at `/heatmap/{kind}/…`.
pub const HEATMAPS: [&str; 3] = ["visited", "unvisited", "coverage"];

fn scale_of(kind: &str) -> Result<ColorScale, AppError> {
    match kind {
        "visited" => Ok(ColorScale::visited()),
        "unvisited" => Ok(ColorScale::unvisited()),
        "coverage" => Ok(ColorScale::coverage()),
        other => Err(AppError::NotFound(format!(
            "heatmap {} (visited, unvisited or coverage)",
            crate::input::short(other)
        ))),
    }
}

/// `GET /heatmap/{kind}/legend.json`: the colour scale.
#[utoipa::path(get, path = "/heatmap/{kind}/legend.json", tag = "tiles", params(("kind" = String, Path, description = "visited, unvisited or coverage")), responses((status = 200, description = "The colour scale", body = Object)))]
pub async fn legend(
    _user: AuthUser,
    Path(kind): Path<String>,
) -> Result<axum::Json<Json>, AppError> {
    Ok(axum::Json(scale_of(&kind)?.legend()))
}

/// `GET /heatmap/{kind}/{z}/{x}/{y}.png`.
#[utoipa::path(get, path = "/heatmap/{kind}/{z}/{x}/{y}", tag = "tiles", params(("kind" = String, Path), ("z" = u8, Path), ("x" = u32, Path), ("y" = String, Path, description = "`{y}.png`")), responses((status = 200, description = "A heatmap PNG", content_type = "image/png", body = Vec<u8>)))]
pub async fn heatmap(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    Path((kind, z, x, y)): Path<(String, u8, u32, String)>,
) -> Result<Response, AppError> {
    let scale = scale_of(&kind)?;
    let tile = tile_id(z, x, &y, ".png")?;
    let heat = match kind.as_str() {
        "visited" => HeatKind::Visited,
        "unvisited" => HeatKind::Unvisited,
        _ => HeatKind::Coverage,
    };
    let key = (
        kind.clone(),
        tile.z,
        tile.x,
        tile.y,
        user.reach_key(&state.project().town.code),
    );
    let png = match state
        .0
        .heatmaps
        .get(&key, &Source::of(&state.project(), &user))
    {
        Some(drawn) => drawn,
        None => {
            // The count pyramid answers town-wide users at once; a scoped user's few
            // buildings make their own. Off the runtime's threads either way, with the
            // snapshot of its turn.
            let st = state.clone();
            crate::reading(move || {
                let p = st.project();
                const RADIUS_PX: f32 = 24.0;
                let png = if user.town_wide(&p.town.code) {
                    p.pyramid.heatmap_png(tile, heat, RADIUS_PX, &scale)
                } else {
                    scoped_pyramid(&p, &user).heatmap_png(tile, heat, RADIUS_PX, &scale)
                }
                .map(Bytes::from);
                st.0.heatmaps
                    .insert(key, Source::of(&p, &user), png.clone());
                Ok(png)
            })
            .await?
        }
    };
    let Some(png) = png else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let etag = etag_of(&png);
    Ok(respond(png, etag, &headers, "image/png"))
}

/// How long a heatmap tile is served again without being drawn anew. Visits change the counts
/// under a district's low-zoom tiles every millisecond during a campaign, and a supervisor's
/// map does not fetch a heatmap tile again until it is panned or zoomed: a tile at most this
/// old shows the same. A reload, and for a scoped user a change of the grids, show at once.
pub const HEATMAP_FRESH: std::time::Duration = std::time::Duration::from_secs(1);

/// Most heatmap tiles kept: past it the stale ones go, and all of them if none is.
const HEATMAP_ENTRIES: usize = 4096;

/// A heatmap tile's key: kind, z, x, y and the scope it was drawn for.
type HeatKey = (String, u8, u32, u32, String);

/// Heatmap tiles drawn in the last [`HEATMAP_FRESH`] (`None`: an empty tile), with what each
/// was drawn from: the count pyramid for a town-wide user (kept by grid edits, made anew when
/// the project is reloaded), the snapshot for a scoped user (whose buildings a grid edit
/// changes). A district's supervisors look at the same few low-zoom tiles, each ~2–3 ms of the
/// reading thread to draw.
#[derive(Default)]
pub struct HeatmapCache {
    inner: Mutex<std::collections::HashMap<HeatKey, Drawn>>,
}

struct Drawn {
    at: std::time::Instant,
    from: Source,
    png: Option<Bytes>,
}

/// What a heatmap tile was drawn from (held weakly: a dropped one is never taken for a new
/// one at the same address).
enum Source {
    Pyramid(std::sync::Weak<Pyramid>),
    Snapshot(std::sync::Weak<Project>),
}

impl Source {
    /// What `user`'s tiles are drawn from in `p`.
    fn of(p: &std::sync::Arc<Project>, user: &AuthUser) -> Source {
        if user.town_wide(&p.town.code) {
            Source::Pyramid(std::sync::Arc::downgrade(&p.pyramid))
        } else {
            Source::Snapshot(std::sync::Arc::downgrade(p))
        }
    }

    fn same(&self, other: &Source) -> bool {
        match (self, other) {
            (Source::Pyramid(a), Source::Pyramid(b)) => a.ptr_eq(b),
            (Source::Snapshot(a), Source::Snapshot(b)) => a.ptr_eq(b),
            _ => false,
        }
    }
}

impl HeatmapCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<HeatKey, Drawn>> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The tile of `key` drawn from `from` less than [`HEATMAP_FRESH`] ago.
    fn get(&self, key: &HeatKey, from: &Source) -> Option<Option<Bytes>> {
        let c = self.lock();
        let d = c.get(key)?;
        (d.at.elapsed() < HEATMAP_FRESH && d.from.same(from)).then(|| d.png.clone())
    }

    /// Keeps a tile drawn from `from`.
    fn insert(&self, key: HeatKey, from: Source, png: Option<Bytes>) {
        let mut c = self.lock();
        if c.len() >= HEATMAP_ENTRIES {
            c.retain(|_, d| d.at.elapsed() < HEATMAP_FRESH);
            if c.len() >= HEATMAP_ENTRIES {
                c.clear();
            }
        }
        c.insert(
            key,
            Drawn {
                at: std::time::Instant::now(),
                from,
                png,
            },
        );
    }
}

/// A count pyramid of the buildings `user` sees (in a grid or not: [`crate::scope::Scope`]).
fn scoped_pyramid(p: &Project, user: &AuthUser) -> Pyramid {
    let members = user.scope(p).buildings();
    let live = p.live();
    let points: Vec<CountPoint> = members
        .iter()
        .map(|&i| i as usize)
        .filter_map(|i| {
            Some(CountPoint {
                at: p.location(i)?,
                weight: crate::state::heat_weight(&p.buildings[i]),
                visited: live.visited(i),
            })
        })
        .collect();
    Pyramid::build(&points)
}

/// The overview cells of `tile` for `user`: the pyramid's for town-wide users, else from the
/// buildings they see.
fn overview_cells(p: &Project, user: &AuthUser, tile: TileId) -> Vec<gridmap_tiles::OverviewCell> {
    if user.town_wide(&p.town.code) {
        p.pyramid.overview(tile, OVERVIEW_CELLS)
    } else {
        scoped_pyramid(p, user).overview(tile, OVERVIEW_CELLS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u32) -> TileKey {
        ("grids".into(), 15, n, 0, "*".into())
    }

    #[test]
    fn the_cache_keeps_the_most_recently_used_within_its_budget() {
        let cache = TileCache::default();
        let tile = Bytes::from(vec![0u8; TILE_CACHE_BYTES / 4]);
        for n in 0..4 {
            cache.insert(key(n), String::new(), tile.clone());
        }
        assert_eq!(cache.len(), 4);
        // Tile 0 is read: tile 1 is now the least recently used, and goes first.
        assert!(cache.get(&key(0)).is_some());
        cache.insert(key(4), String::new(), tile.clone());
        assert!(cache.bytes() <= TILE_CACHE_BYTES);
        assert!(cache.get(&key(1)).is_none());
        assert!(cache.get(&key(0)).is_some() && cache.get(&key(4)).is_some());
        cache.clear_layer("grids");
        assert_eq!((cache.len(), cache.bytes()), (0, 0));
    }

    /// Invalidation drops exactly the tiles whose buffered bounds meet a box, as tested in
    /// longitude and latitude, at every zoom, for boxes that are points, cross tile edges
    /// or lie exactly on them; the basemap stays.
    #[test]
    fn invalidation_drops_exactly_the_tiles_whose_buffered_bounds_meet_a_box() {
        let opts = EncodeOptions::default();
        let centre = geo::coord! { x: 121.4737, y: 31.2304 };
        let mut tiles = Vec::new();
        for z in [0u8, 5, 10, 13, 14, 15, 16, 17, 18, 22] {
            let t = TileId::containing(centre, z).unwrap();
            for dx in -2i64..=2 {
                for dy in -2i64..=2 {
                    let (x, y) = (i64::from(t.x) + dx, i64::from(t.y) + dy);
                    if let (Ok(x), Ok(y)) = (u32::try_from(x), u32::try_from(y))
                        && let Ok(t) = TileId::new(z, x, y)
                    {
                        tiles.push(t);
                    }
                }
            }
        }
        let at = |x: f64, y: f64| geo::coord! { x: x, y: y };
        let edge = TileId::containing(centre, 15).unwrap().bounds_lonlat();
        let boxes = [
            Rect::new(centre, centre),
            Rect::new(at(121.470, 31.228), at(121.476, 31.231)),
            Rect::new(edge.min(), edge.min()),
            Rect::new(
                at(edge.max().x, edge.min().y),
                at(edge.max().x + 1e-4, edge.max().y),
            ),
            Rect::new(at(121.40, 31.20), at(121.41, 31.21)),
        ];
        for (i, b) in boxes.iter().enumerate() {
            let cache = TileCache::default();
            for t in &tiles {
                let k = |layer: &str| (layer.to_string(), t.z, t.x, t.y, "*".to_string());
                cache.insert(k("buildings"), String::new(), Bytes::from_static(b"t"));
                cache.insert(k("basemap"), String::new(), Bytes::from_static(b"t"));
            }
            cache.invalidate_many(&[*b]);
            for t in &tiles {
                let k = |layer: &str| (layer.to_string(), t.z, t.x, t.y, "*".to_string());
                let meets = t
                    .buffered_bounds_lonlat(opts.buffer, opts.extent)
                    .intersects(b);
                assert_eq!(
                    cache.get(&k("buildings")).is_none(),
                    meets,
                    "box {i}, tile {t:?}"
                );
                assert!(cache.get(&k("basemap")).is_some());
            }
        }
    }
}
