//! OGC API – Features at `/ogc`, so that QGIS, GDAL (`OAPIF:`) and OWSLib open the layers as
//! they are: Part 1 (Core, GeoJSON, OpenAPI 3.0), Part 2 (CRS: output and `bbox-crs` in CRS84,
//! EPSG:4326, EPSG:4490 (CGCS2000) and EPSG:3857) and Part 3's queryables with equality filters
//! as query parameters.
//!
//! | path | answer |
//! |---|---|
//! | `/ogc` (and `/` asked for JSON) | landing page |
//! | `/ogc/conformance` | conformance classes |
//! | `/ogc/api` | the OpenAPI 3.0 document of this service |
//! | `/ogc/collections`, `/ogc/collections/{id}` | the layers |
//! | `/ogc/collections/{id}/items` | features: `limit`, `offset`, `bbox`, `bbox-crs`, `datetime`, `crs`, queryables |
//! | `/ogc/collections/{id}/items/{featureId}` | one feature |
//! | `/ogc/collections/{id}/queryables` | the properties items can be filtered by |
//!
//! `/collections…` and `/conformance` answer the same, with links under them (the paths before
//! `/ogc` existed). The landing page, conformance and the API document hold no data and need no
//! token; everything else needs `Authorization: Bearer TOKEN` and lists only what lies in the
//! caller's scope ([`crate::scope::Scope`]); the basemap layers (`roads`, `water`) hold no
//! personal data and are listed whole.
//!
//! Coordinates are stored in WGS84 longitude/latitude. CGCS2000 (EPSG:4490) differs from WGS84
//! by centimetres, below the precision of the data, so 4490 output is the same numbers in the
//! CRS's axis order (latitude, longitude), as Part 2 requires for `crs` given as the EPSG URI.

use std::borrow::Cow;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use geo::{BoundingRect, Coord, Geometry, Intersects, MapCoords, Rect};
use gridmap_core::model::BasemapLayer;
use serde_json::{Map, Value, json};

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::extract::{Path, Query};
use crate::scope::Scope;
use crate::state::{AppState, Project};

/// The conformance classes this service implements.
pub const CONFORMANCE: [&str; 7] = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
];

/// The collections: id, title, description.
pub const COLLECTIONS: [(&str, &str, &str); 7] = [
    (
        "grids",
        "Grids (网格)",
        "The grids in your area, with their village.",
    ),
    (
        "buildings",
        "Buildings (实有房屋)",
        "Every building your area holds, in a grid or not: its grid (empty when in none or in several), village, households and latest visit.",
    ),
    (
        "addresses",
        "Standard addresses (标准地址)",
        "The standard addresses in your area.",
    ),
    (
        "visits",
        "Household visits (入户走访)",
        "Visits to the buildings in your area, at the building's location; filter by time with datetime.",
    ),
    ("roads", "Basemap roads (道路)", "OpenStreetMap roads."),
    ("water", "Basemap water (水系)", "OpenStreetMap water."),
    (
        "landuse",
        "Basemap land use (用地)",
        "OpenStreetMap land use: parks, residential and commercial blocks.",
    ),
];

/// Items per page when the request gives no `limit`.
pub const DEFAULT_LIMIT: usize = 100;
/// The most items a page holds; a larger `limit` is cut to this.
pub const MAX_LIMIT: usize = 10_000;

const GEOJSON: &str = "application/geo+json";
const JSON: &str = "application/json";
const OPENAPI: &str = "application/vnd.oai.openapi+json;version=3.0";
const REL_QUERYABLES: &str = "http://www.opengis.net/def/rel/ogc/1.0/queryables";
const REL_CONFORMANCE: &str = "http://www.opengis.net/def/rel/ogc/1.0/conformance";
const REL_DATA: &str = "http://www.opengis.net/def/rel/ogc/1.0/data";

// ---------------------------------------------------------------------------------------------
// CRS (Part 2)

/// An output or bbox CRS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crs {
    /// WGS84 longitude, latitude (the default).
    Crs84,
    /// WGS84 latitude, longitude.
    Epsg4326,
    /// CGCS2000 latitude, longitude.
    Epsg4490,
    /// Web Mercator x, y in metres.
    Epsg3857,
}

impl Crs {
    /// Every CRS offered, the default first.
    pub const ALL: [Crs; 4] = [Crs::Crs84, Crs::Epsg4326, Crs::Epsg4490, Crs::Epsg3857];

    /// The CRS's URI.
    pub fn uri(self) -> &'static str {
        match self {
            Crs::Crs84 => "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
            Crs::Epsg4326 => "http://www.opengis.net/def/crs/EPSG/0/4326",
            Crs::Epsg4490 => "http://www.opengis.net/def/crs/EPSG/0/4490",
            Crs::Epsg3857 => "http://www.opengis.net/def/crs/EPSG/0/3857",
        }
    }

    /// The CRS named by its URI (or the `EPSG:n` / `OGC:CRS84` short forms).
    pub fn parse(s: &str) -> Option<Crs> {
        let s = s.trim().trim_start_matches('[').trim_end_matches(']');
        Crs::ALL.into_iter().find(|c| {
            c.uri() == s
                || c.uri().replace("http://", "https://") == s
                || matches!(
                    (c, s),
                    (Crs::Crs84, "OGC:CRS84")
                        | (Crs::Epsg4326, "EPSG:4326")
                        | (Crs::Epsg4490, "EPSG:4490")
                        | (Crs::Epsg3857, "EPSG:3857")
                )
        })
    }

    fn from_param(name: &str, s: &str) -> Result<Crs, AppError> {
        Crs::parse(s).ok_or_else(|| {
            AppError::BadRequest(format!(
                "{name} {} is not supported; use one of {}",
                crate::input::short(s),
                Crs::ALL.map(Crs::uri).join(", ")
            ))
        })
    }

    /// A lon/lat coordinate in this CRS.
    pub fn from_lonlat(self, c: Coord) -> Coord {
        match self {
            Crs::Crs84 => c,
            Crs::Epsg4326 | Crs::Epsg4490 => Coord { x: c.y, y: c.x },
            Crs::Epsg3857 => {
                const R: f64 = 6_378_137.0;
                let lat = c.y.clamp(-85.051_128_779_806_6, 85.051_128_779_806_6);
                Coord {
                    x: R * c.x.to_radians(),
                    y: R * (std::f64::consts::FRAC_PI_4 + lat.to_radians() / 2.0)
                        .tan()
                        .ln(),
                }
            }
        }
    }

    /// A coordinate of this CRS in lon/lat.
    pub fn to_lonlat(self, c: Coord) -> Coord {
        match self {
            Crs::Crs84 => c,
            Crs::Epsg4326 | Crs::Epsg4490 => Coord { x: c.y, y: c.x },
            Crs::Epsg3857 => {
                const R: f64 = 6_378_137.0;
                Coord {
                    x: (c.x / R).to_degrees(),
                    y: (2.0 * (c.y / R).exp().atan() - std::f64::consts::FRAC_PI_2).to_degrees(),
                }
            }
        }
    }

    fn geometry(self, g: &Geometry) -> Value {
        if self == Crs::Crs84 {
            gridmap_io::write::geometry_json(g)
        } else {
            gridmap_io::write::geometry_json(&g.map_coords(|c| self.from_lonlat(c)))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Requests

/// Where links point: the scheme and host the client used, and `/ogc` or `` (the aliases).
struct Base {
    origin: String,
    prefix: &'static str,
}

impl Base {
    fn of(headers: &HeaderMap, uri: &Uri) -> Base {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| {
                h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
            })
            .unwrap_or("localhost");
        let scheme = match headers
            .get("x-forwarded-proto")
            .and_then(|h| h.to_str().ok())
        {
            Some("https") => "https",
            _ => "http",
        };
        let prefix = if uri.path().starts_with("/ogc") {
            "/ogc"
        } else {
            ""
        };
        Base {
            origin: format!("{scheme}://{host}"),
            prefix,
        }
    }

    /// The absolute URL of `path` (which starts with `/`, or is empty for the landing page).
    fn url(&self, path: &str) -> String {
        let root = if self.prefix.is_empty() && path.is_empty() {
            "/"
        } else {
            ""
        };
        format!("{}{}{root}{path}", self.origin, self.prefix)
    }
}

/// The query parameters, in order, decoded.
type Params = Vec<(String, String)>;

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Checks `f` (only JSON is served) and that every parameter is one of `known`.
fn check_params(params: &Params, known: &[&str]) -> Result<(), AppError> {
    if let Some(f) = param(params, "f")
        && !matches!(f, "json" | "geojson" | JSON | GEOJSON)
    {
        return Err(AppError::Rejected(
            StatusCode::NOT_ACCEPTABLE,
            format!(
                "f={}: this service answers JSON only (f=json)",
                crate::input::short(f)
            ),
        ));
    }
    for (k, _) in params {
        if k != "f" && !known.contains(&k.as_str()) {
            return Err(AppError::BadRequest(format!(
                "unknown query parameter {}; this path takes {}",
                crate::input::short(k),
                if known.is_empty() {
                    "only f".to_string()
                } else {
                    format!("f, {}", known.join(", "))
                }
            )));
        }
    }
    let mut seen: Vec<&str> = Vec::new();
    for (k, _) in params {
        if seen.contains(&k.as_str()) {
            return Err(AppError::BadRequest(format!(
                "query parameter {} is given twice",
                crate::input::short(k)
            )));
        }
        seen.push(k);
    }
    Ok(())
}

fn json_response(content_type: &'static str, body: Value) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body.to_string(),
    )
        .into_response()
}

fn collection_entry(id: &str) -> Result<(&'static str, &'static str, &'static str), AppError> {
    COLLECTIONS
        .iter()
        .find(|(c, _, _)| *c == id)
        .copied()
        .ok_or_else(|| {
            AppError::NotFound(format!(
                "collection {} (the collections are {})",
                crate::input::short(id),
                COLLECTIONS.map(|c| c.0).join(", ")
            ))
        })
}

// ---------------------------------------------------------------------------------------------
// Landing page, conformance, API document

/// The landing page, with links under `base`.
fn landing_page(base: &Base, p: &Project) -> Value {
    json!({
        "title": format!("gridmap: {}", p.town.name),
        "description": "Grids, buildings, standard addresses and household visits of the town (网格化管理), as OGC API – Features.",
        "links": [
            {"href": base.url(""), "rel": "self", "type": JSON, "title": "This document"},
            {"href": base.url("/api"), "rel": "service-desc", "type": OPENAPI, "title": "The API definition"},
            {"href": base.url("/conformance"), "rel": "conformance", "type": JSON, "title": "Conformance classes"},
            {"href": base.url("/conformance"), "rel": REL_CONFORMANCE, "type": JSON, "title": "Conformance classes"},
            {"href": base.url("/collections"), "rel": "data", "type": JSON, "title": "Collections"},
            {"href": base.url("/collections"), "rel": REL_DATA, "type": JSON, "title": "Collections"},
        ],
    })
}

/// `GET /ogc`: the landing page (no token needed: it holds no data).
#[utoipa::path(get, path = "/ogc", tag = "ogc", security(()), responses((status = 200, description = "The landing page (its own OpenAPI 3.0 document at /ogc/api)", body = Object)))]
pub async fn landing(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(params): Query<Params>,
) -> Result<Response, AppError> {
    check_params(&params, &[])?;
    let base = Base::of(&headers, &uri);
    Ok(json_response(JSON, landing_page(&base, &state.project())))
}

/// Whether a request for `/` wants JSON rather than the web app: `f=json`, or an `Accept`
/// that names JSON and not HTML (as OGC clients send).
pub fn wants_json(headers: &HeaderMap, uri: &Uri) -> bool {
    let f = uri
        .query()
        .unwrap_or("")
        .split('&')
        .any(|kv| kv == "f=json" || kv == "f=application%2Fjson");
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    f || (accept.contains("json") && !accept.contains("html"))
}

/// `GET /` for a client that wants JSON: the landing page, linking to `/ogc`.
pub async fn root_landing(state: &AppState, headers: &HeaderMap) -> Response {
    let uri = Uri::from_static("/ogc");
    let base = Base::of(headers, &uri);
    json_response(JSON, landing_page(&base, &state.project()))
}

/// `GET /ogc/conformance`.
#[utoipa::path(get, path = "/ogc/conformance", tag = "ogc", security(()), responses((status = 200, description = "Conformance classes", body = Object)))]
pub async fn conformance(Query(params): Query<Params>) -> Result<Response, AppError> {
    check_params(&params, &[])?;
    Ok(json_response(JSON, json!({"conformsTo": CONFORMANCE})))
}

/// `GET /ogc/api`: the OpenAPI 3.0 document of the OGC API.
#[utoipa::path(get, path = "/ogc/api", tag = "ogc", security(()), responses((status = 200, description = "The OpenAPI 3.0 document of /ogc", body = Object)))]
pub async fn api_document(
    headers: HeaderMap,
    uri: Uri,
    Query(params): Query<Params>,
) -> Result<Response, AppError> {
    check_params(&params, &[])?;
    let base = Base::of(&headers, &uri);
    Ok(json_response(OPENAPI, openapi(&base)))
}

fn openapi(base: &Base) -> Value {
    let p = |name: &str, schema: Value, description: &str| {
        json!({"name": name, "in": "query", "required": false, "style": "form", "explode": false,
               "schema": schema, "description": description})
    };
    let collection_id = json!({"name": "collectionId", "in": "path", "required": true,
        "schema": {"type": "string", "enum": COLLECTIONS.map(|c| c.0)}});
    let feature_id =
        json!({"name": "featureId", "in": "path", "required": true, "schema": {"type": "string"}});
    let f = p(
        "f",
        json!({"type": "string", "enum": ["json"]}),
        "The format: JSON only.",
    );
    let crs_values: Vec<&str> = Crs::ALL.iter().map(|c| c.uri()).collect();
    let mut item_params = vec![
        p(
            "limit",
            json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}),
            "Items per page.",
        ),
        p(
            "offset",
            json!({"type": "integer", "minimum": 0, "default": 0}),
            "Items to skip (the next and prev links carry it).",
        ),
        p(
            "bbox",
            json!({"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}}),
            "Only features whose bounds meet this box: minx,miny,maxx,maxy in bbox-crs (CRS84 by default).",
        ),
        p(
            "bbox-crs",
            json!({"type": "string", "format": "uri", "enum": crs_values}),
            "The CRS of bbox.",
        ),
        p(
            "crs",
            json!({"type": "string", "format": "uri", "enum": crs_values}),
            "The CRS of the answer's coordinates (Content-Crs says which).",
        ),
        p(
            "datetime",
            json!({"type": "string"}),
            "visits only: an instant or an interval start/end (RFC 3339, `..` for open).",
        ),
    ];
    for name in ["grid", "village", "visit", "outcome", "building", "kind"] {
        item_params.push(p(
            name,
            json!({"type": "string"}),
            "A queryable (see /collections/{collectionId}/queryables): only features whose property equals it.",
        ));
    }
    item_params.push(f.clone());
    let ok = |description: &str, media: &str| json!({"description": description, "content": {media: {"schema": {"type": "object"}}}});
    let error = json!({"description": "{\"error\": message}",
        "content": {JSON: {"schema": {"type": "object", "properties": {"error": {"type": "string"}}}}}});
    let responses = |description: &str, media: &str| json!({"200": ok(description, media), "400": error, "401": error, "404": error});
    let open = json!([]);
    let item_params: Vec<Value> = [collection_id.clone()]
        .into_iter()
        .chain(item_params)
        .collect();
    json!({
        "openapi": "3.0.3",
        "info": {"title": "gridmap OGC API – Features", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Sign in with POST /api/login and send Authorization: Bearer TOKEN."},
        "servers": [{"url": base.url("")}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": {
            "/": {"get": {"operationId": "getLandingPage", "summary": "Landing page", "security": open,
                          "parameters": [f], "responses": responses("The landing page", JSON)}},
            "/conformance": {"get": {"operationId": "getConformanceDeclaration", "summary": "Conformance classes",
                          "security": open, "parameters": [f], "responses": responses("The conformance classes", JSON)}},
            "/api": {"get": {"operationId": "getAPI", "summary": "This document", "security": open,
                          "parameters": [f], "responses": responses("The API definition", OPENAPI)}},
            "/collections": {"get": {"operationId": "getCollections", "summary": "The collections",
                          "parameters": [f], "responses": responses("The collections", JSON)}},
            "/collections/{collectionId}": {"get": {"operationId": "describeCollection", "summary": "One collection",
                          "parameters": [collection_id, f], "responses": responses("The collection", JSON)}},
            "/collections/{collectionId}/queryables": {"get": {"operationId": "getQueryables", "summary": "What items can be filtered by",
                          "parameters": [collection_id, f], "responses": responses("A JSON Schema", "application/schema+json")}},
            "/collections/{collectionId}/items": {"get": {"operationId": "getFeatures", "summary": "Features in your area",
                          "parameters": item_params,
                          "responses": responses("A page of features", GEOJSON)}},
            "/collections/{collectionId}/items/{featureId}": {"get": {"operationId": "getFeature", "summary": "One feature",
                          "parameters": [collection_id, feature_id, p("crs", json!({"type": "string", "format": "uri", "enum": crs_values}), "The CRS of the answer."), f],
                          "responses": responses("The feature", GEOJSON)}},
        },
    })
}

// ---------------------------------------------------------------------------------------------
// Collections

fn extent(p: &Project, id: &str) -> Value {
    let rect = match id {
        "roads" | "water" | "landuse" => {
            let e = p.basemap.tree.root().envelope();
            (p.basemap.tree.size() > 0).then(|| Rect::new(e.lower(), e.upper()))
        }
        _ => {
            let town = p.town.boundary.as_ref().and_then(|b| b.bounding_rect());
            let buildings = (p.building_tree.size() > 0).then(|| {
                let e = p.building_tree.root().envelope();
                Rect::new(e.lower(), e.upper())
            });
            let grids = p
                .grids
                .iter()
                .filter_map(|g| g.grid.geometry.bounding_rect())
                .reduce(union);
            [town, buildings, grids].into_iter().flatten().reduce(union)
        }
    };
    let bbox = rect.map_or_else(
        || json!([-180.0, -90.0, 180.0, 90.0]),
        |r| json!([r.min().x, r.min().y, r.max().x, r.max().y]),
    );
    let mut out = json!({"spatial": {"bbox": [bbox], "crs": Crs::Crs84.uri()}});
    if id == "visits" {
        let (mut first, mut last) = (None::<i64>, None::<i64>);
        for_visits(p, |log, i| {
            if let Some(t) = Some(log.at(i)).filter(|&t| t != i64::MIN) {
                first = Some(first.map_or(t, |f| f.min(t)));
                last = Some(last.map_or(t, |l| l.max(t)));
            }
        });
        let rfc = |t: Option<i64>| {
            t.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        };
        out["temporal"] = json!({
            "interval": [[rfc(first), rfc(last)]],
            "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
        });
    }
    out
}

/// Calls `f` with the log and every visit's position, holding the visit log's read lock for at most
/// [`VISIT_CHUNK`] visits at a time, so that the writer of visits never waits for a long scan.
/// The log only grows, so positions stay valid between chunks.
fn for_visits(p: &Project, mut f: impl FnMut(&crate::visit_log::VisitLog, usize)) {
    let n = p.live().visits.len();
    let mut start = 0;
    while start < n {
        let end = n.min(start + VISIT_CHUNK);
        let live = p.live();
        for i in start..end {
            f(&live.visits, i);
        }
        start = end;
    }
}

/// Visits read under one hold of the log's lock.
const VISIT_CHUNK: usize = 10_000;

fn union(a: Rect, b: Rect) -> Rect {
    Rect::new(
        Coord {
            x: a.min().x.min(b.min().x),
            y: a.min().y.min(b.min().y),
        },
        Coord {
            x: a.max().x.max(b.max().x),
            y: a.max().y.max(b.max().y),
        },
    )
}

fn collection_json(base: &Base, p: &Project, id: &str, title: &str, description: &str) -> Value {
    let href = |tail: &str| base.url(&format!("/collections/{id}{tail}"));
    json!({
        "id": id, "title": title, "description": description, "itemType": "feature",
        "extent": extent(p, id),
        "crs": Crs::ALL.map(Crs::uri),
        "storageCrs": Crs::Crs84.uri(),
        "links": [
            {"href": href(""), "rel": "self", "type": JSON, "title": title},
            {"href": href("/items"), "rel": "items", "type": GEOJSON, "title": title},
            {"href": href("/queryables"), "rel": REL_QUERYABLES, "type": "application/schema+json", "title": "Queryables"},
        ],
    })
}

/// `GET /ogc/collections`.
#[utoipa::path(get, path = "/ogc/collections", tag = "ogc", responses((status = 200, description = "Collections: grids, buildings, addresses, visits, roads, water, landuse", body = Object)))]
pub async fn collections(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    _user: AuthUser,
    Query(params): Query<Params>,
) -> Result<Response, AppError> {
    check_params(&params, &[])?;
    let base = Base::of(&headers, &uri);
    let p = state.project();
    // The visits' time span reads the whole log: off the async threads.
    let body = crate::reading(move || {
        Ok(json!({
            "links": [{"href": base.url("/collections"), "rel": "self", "type": JSON, "title": "Collections"}],
            "crs": Crs::ALL.map(Crs::uri),
            "collections": COLLECTIONS
                .iter()
                .map(|(id, t, d)| collection_json(&base, &p, id, t, d))
                .collect::<Vec<_>>(),
        }))
    })
    .await?;
    Ok(json_response(JSON, body))
}

/// `GET /ogc/collections/{id}`.
#[utoipa::path(get, path = "/ogc/collections/{id}", tag = "ogc", params(("id" = String, Path)), responses((status = 200, description = "One collection", body = Object)))]
pub async fn one_collection(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    _user: AuthUser,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> Result<Response, AppError> {
    let (id, title, description) = collection_entry(&id)?;
    check_params(&params, &[])?;
    let base = Base::of(&headers, &uri);
    let p = state.project();
    let body =
        crate::reading(move || Ok(collection_json(&base, &p, id, title, description))).await?;
    Ok(json_response(JSON, body))
}

/// The queryables of a collection: (name, description, allowed values when few).
fn queryables(id: &str) -> Vec<(&'static str, &'static str, Option<Vec<&'static str>>)> {
    let visit_status = || {
        let mut v = vec!["unvisited"];
        v.extend(
            gridmap_core::model::VisitOutcome::ALL
                .iter()
                .map(|o| o.as_str()),
        );
        v
    };
    let outcomes = || {
        gridmap_core::model::VisitOutcome::ALL
            .iter()
            .map(|o| o.as_str())
            .collect()
    };
    let grid = (
        "grid",
        "The grid's code (empty: in no grid, or in several)",
        None,
    );
    let village = ("village", "The village's code", None);
    match id {
        "grids" => vec![("code", "The grid's code", None), village],
        "buildings" => vec![
            grid,
            village,
            (
                "visit",
                "The latest visit's outcome, or unvisited",
                Some(visit_status()),
            ),
            ("kind", "The building's kind", None),
        ],
        "addresses" => vec![
            ("grid", "The grid the address states", None),
            village,
            ("building", "The building the address states", None),
        ],
        "visits" => vec![
            grid,
            village,
            ("building", "The visited building's id", None),
            ("outcome", "What the visit found", Some(outcomes())),
        ],
        _ => vec![
            ("kind", "The OpenStreetMap kind", None),
            ("name", "The name", None),
        ],
    }
}

/// `GET /ogc/collections/{id}/queryables`: a JSON Schema of what items can be filtered by.
#[utoipa::path(get, path = "/ogc/collections/{id}/queryables", tag = "ogc", params(("id" = String, Path)), responses((status = 200, description = "Queryables (JSON Schema)", content_type = "application/schema+json", body = Object)))]
pub async fn queryables_doc(
    headers: HeaderMap,
    uri: Uri,
    _user: AuthUser,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> Result<Response, AppError> {
    let (id, title, _) = collection_entry(&id)?;
    check_params(&params, &[])?;
    let base = Base::of(&headers, &uri);
    let mut properties = Map::new();
    for (name, description, values) in queryables(id) {
        let mut schema = json!({"type": "string", "title": name, "description": description});
        if let Some(v) = values {
            schema["enum"] = json!(v);
        }
        properties.insert(name.to_string(), schema);
    }
    Ok(json_response(
        "application/schema+json",
        json!({
            "$schema": "https://json-schema.org/draft/2019-09/schema",
            "$id": base.url(&format!("/collections/{id}/queryables")),
            "type": "object",
            "title": title,
            "properties": properties,
            "additionalProperties": false,
        }),
    ))
}

// ---------------------------------------------------------------------------------------------
// Items

/// Seconds since 1970 of an RFC 3339 time.
fn instant(time: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(time)
        .ok()
        .map(|t| t.timestamp())
}

/// A `datetime` bound: an RFC 3339 date-time, or a date (its first second as a start, its last
/// as an end); `..` or empty: open.
fn bound(s: &str, end: bool) -> Result<Option<i64>, AppError> {
    if s.is_empty() || s == ".." {
        return Ok(None);
    }
    if let Some(t) = instant(s) {
        return Ok(Some(t));
    }
    let day = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
        AppError::BadRequest(format!(
            "datetime: {} is not an RFC 3339 date-time (2026-11-05T08:00:00Z) or date (2026-11-05)",
            crate::input::short(s)
        ))
    })?;
    let t = day
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp())
        .unwrap_or(0);
    Ok(Some(if end { t + 86_399 } else { t }))
}

/// The `datetime` parameter as an inclusive interval (either end open).
fn parse_datetime(s: &str) -> Result<(Option<i64>, Option<i64>), AppError> {
    let (start, end) = match s.split_once('/') {
        Some((a, b)) => (bound(a, false)?, bound(b, true)?),
        None if s.len() == 10 => (bound(s, false)?, bound(s, true)?),
        None => {
            let t = bound(s, false)?;
            if t.is_none() {
                return Err(AppError::BadRequest(
                    "datetime: an instant may not be open (..); give start/end".into(),
                ));
            }
            (t, t)
        }
    };
    if let (Some(a), Some(b)) = (start, end)
        && a > b
    {
        return Err(AppError::BadRequest(format!(
            "datetime: the start is after the end in {}",
            crate::input::short(s)
        )));
    }
    Ok((start, end))
}

/// The `bbox` parameter, in `crs`, as a lon/lat rectangle.
fn parse_bbox(s: &str, crs: Crs) -> Result<Rect, AppError> {
    let shown = crate::input::short(s);
    let v: Vec<f64> = s
        .split(',')
        .map(|x| x.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            AppError::BadRequest(format!(
                "bbox must be 4 (or 6) numbers separated by commas, minx,miny,maxx,maxy; not {shown}"
            ))
        })?;
    let (a, b) = match v[..] {
        [x0, y0, x1, y1] => (Coord { x: x0, y: y0 }, Coord { x: x1, y: y1 }),
        [x0, y0, _, x1, y1, _] => (Coord { x: x0, y: y0 }, Coord { x: x1, y: y1 }),
        _ => {
            return Err(AppError::BadRequest(format!(
                "bbox must have 4 (or 6) numbers, not {}: {shown}",
                v.len()
            )));
        }
    };
    if v.iter().any(|x| !x.is_finite()) {
        return Err(AppError::BadRequest(format!(
            "bbox must be finite numbers: {shown}"
        )));
    }
    if a.x > b.x || a.y > b.y {
        return Err(AppError::BadRequest(format!(
            "bbox: the lower corner must come first and be below and left of the upper one (min ≤ max on both axes): {shown}"
        )));
    }
    let (lo, hi) = (crs.to_lonlat(a), crs.to_lonlat(b));
    let rect = Rect::new(lo, hi);
    if matches!(crs, Crs::Crs84 | Crs::Epsg4326 | Crs::Epsg4490)
        && (rect.min().x < -180.0
            || rect.max().x > 180.0
            || rect.min().y < -90.0
            || rect.max().y > 90.0)
    {
        return Err(AppError::BadRequest(format!(
            "bbox is outside the range of {} (longitude −180…180, latitude −90…90; EPSG:4326 and EPSG:4490 take latitude first): {shown}",
            crs.uri()
        )));
    }
    Ok(rect)
}

/// A feature as answered: id, geometry (lon/lat) and properties.
type Item<'p> = (String, Option<Cow<'p, Geometry>>, Value);

/// One collection of the project, as seen by one user.
struct Layer<'p> {
    id: &'static str,
    scope: Scope<'p>,
    /// The basemap features of `roads` or `water` (by position in the basemap).
    basemap: Vec<usize>,
}

impl<'p> Layer<'p> {
    fn new(p: &'p Project, user: &AuthUser, id: &'static str) -> Layer<'p> {
        let basemap = match id {
            "roads" | "water" | "landuse" => {
                let layer = BasemapLayer::parse(id).unwrap_or(BasemapLayer::Roads);
                p.basemap
                    .features
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| f.layer == layer)
                    .map(|(i, _)| i)
                    .collect()
            }
            _ => Vec::new(),
        };
        Layer {
            id,
            scope: user.scope(p),
            basemap,
        }
    }

    fn p(&self) -> &'p Project {
        self.scope.project()
    }

    /// The positions of the features in the user's scope (and, when given, meeting `bbox`),
    /// in order: in the project's vectors, or for the basemap in `basemap`.
    fn candidates(&self, bbox: Option<Rect>) -> Vec<usize> {
        let p = self.p();
        let meets = |r: Option<Rect>| bbox.is_none_or(|b| r.is_some_and(|r| r.intersects(&b)));
        match self.id {
            "grids" => (0..p.grids.len())
                .filter(|&g| self.scope.grid_at(g))
                .filter(|&g| meets(p.grids[g].grid.geometry.bounding_rect()))
                .collect(),
            "buildings" => match bbox {
                Some(b) => {
                    let env =
                        rstar::AABB::from_corners([b.min().x, b.min().y], [b.max().x, b.max().y]);
                    let mut out: Vec<usize> = p
                        .building_tree
                        .locate_in_envelope_intersecting(&env)
                        .map(|e| e.data as usize)
                        .filter(|&i| self.scope.building(i))
                        .collect();
                    out.sort_unstable();
                    out
                }
                None => self
                    .scope
                    .buildings()
                    .into_iter()
                    .map(|i| i as usize)
                    .collect(),
            },
            "addresses" => (0..p.addresses.len())
                .filter(|&i| self.scope.address(i))
                .filter(|&i| {
                    meets(Some(Rect::new(
                        p.addresses[i].point.0,
                        p.addresses[i].point.0,
                    )))
                })
                .collect(),
            "visits" => {
                let mut out = Vec::new();
                for_visits(p, |log, i| {
                    if self.scope.visit(log, i)
                        && (bbox.is_none()
                            || meets(self.visit_point(log, i).map(|c| Rect::new(c, c))))
                    {
                        out.push(i);
                    }
                });
                out
            }
            // Positions in `self.basemap`: the feature id is the position + 1.
            _ => (0..self.basemap.len())
                .filter(|&k| meets(p.basemap.features[self.basemap[k]].geometry.bounding_rect()))
                .collect(),
        }
    }

    /// Where a visit is drawn: at its building, else where it was recorded.
    fn visit_point(&self, log: &crate::visit_log::VisitLog, i: usize) -> Option<Coord> {
        let p = self.p();
        log.building(i)
            .and_then(|b| p.location(b as usize))
            .or(log.point(i).map(|pt| pt.0))
    }

    /// The village of building `i`: its grid's, else the one whose boundary holds it.
    fn building_village(&self, i: usize) -> Option<&'p str> {
        let p = self.p();
        p.assignment
            .get(i)
            .and_then(|a| a.grid())
            .and_then(|g| p.grids[g as usize].grid.village.as_deref())
            .or_else(|| self.scope.village_of_building(i))
    }

    /// The time of the feature at `i` (visits only).
    fn time(&self, i: usize) -> Option<i64> {
        (self.id == "visits")
            .then(|| {
                let live = self.p().live();
                (i < live.visits.len())
                    .then(|| live.visits.at(i))
                    .filter(|&t| t != i64::MIN)
            })
            .flatten()
    }

    /// Feature `i`: id, geometry and properties.
    fn feature(&self, i: usize) -> Item<'p> {
        let p = self.p();
        match self.id {
            "grids" => {
                let g = &p.grids[i];
                (
                    g.grid.code.clone(),
                    Some(Cow::Owned(geo::Geometry::MultiPolygon(
                        g.grid.geometry.clone(),
                    ))),
                    json!({"code": g.grid.code, "name": g.grid.name, "village": g.grid.village, "version": g.version}),
                )
            }
            "buildings" => {
                let b = &p.buildings[i];
                let visit = p.live().outcome(i).map_or("unvisited", |o| o.as_str());
                (
                    b.id.clone(),
                    Some(Cow::Owned(p.building_shape(i))),
                    json!({"id": b.id, "grid": p.grid_of(i).unwrap_or(""), "village": self.building_village(i),
                           "households": b.households, "floors": b.floors, "kind": b.kind, "visit": visit}),
                )
            }
            "addresses" => {
                let a = &p.addresses[i];
                let village = self.address_village(i);
                (
                    a.id.clone(),
                    Some(Cow::Owned(geo::Geometry::Point(a.point))),
                    json!({"id": a.id, "text": a.text, "grid": a.declared_grid, "village": village,
                           "building": a.declared_building}),
                )
            }
            "visits" => {
                let live = p.live();
                let log = &live.visits;
                let building = log.building(i).map(|b| b as usize);
                let grid = building.and_then(|b| p.grid_of(b)).unwrap_or("");
                let village = building.and_then(|b| self.building_village(b));
                let id = log.id(i).into_owned();
                let props = json!({"id": id, "building": log.building_id(i, &p.buildings),
                    "time": log.time(i), "outcome": log.outcome(i).as_str(), "worker": log.worker(i),
                    "flagged": log.flagged(i), "grid": grid, "village": village});
                (
                    id,
                    self.visit_point(log, i)
                        .map(|c| Cow::Owned(Geometry::Point(c.into()))),
                    props,
                )
            }
            _ => {
                let f = &p.basemap.features[self.basemap[i]];
                (
                    format!("{}-{}", self.id, i + 1),
                    Some(Cow::Borrowed(&f.geometry)),
                    json!({"kind": f.kind, "detail": f.detail, "name": f.name}),
                )
            }
        }
    }

    /// The value of queryable `name` of feature `i`, as [`Layer::feature`] answers it (`None`
    /// for null or no such property), without making the feature: filters read a million
    /// buildings' properties this way.
    fn property<'a>(
        &'a self,
        live: &'a crate::live::Live,
        i: usize,
        name: &str,
    ) -> Option<Cow<'a, str>> {
        let p = self.p();
        let text = |s: Option<&'a str>| s.map(Cow::Borrowed);
        match (self.id, name) {
            ("grids", "code") => text(Some(&p.grids[i].grid.code)),
            ("grids", "village") => text(p.grids[i].grid.village.as_deref()),
            ("buildings", "grid") => text(Some(p.grid_of(i).unwrap_or(""))),
            ("buildings", "village") => text(self.building_village(i)),
            ("buildings", "visit") => {
                text(Some(live.outcome(i).map_or("unvisited", |o| o.as_str())))
            }
            ("buildings", "kind") => text(p.buildings[i].kind.as_deref()),
            ("addresses", "grid") => text(p.addresses[i].declared_grid.as_deref()),
            ("addresses", "village") => text(self.address_village(i)),
            ("addresses", "building") => text(p.addresses[i].declared_building.as_deref()),
            ("visits", _) => {
                let log = &live.visits;
                if i >= log.len() {
                    return None;
                }
                let building = log.building(i).map(|b| b as usize);
                match name {
                    "grid" => text(Some(building.and_then(|b| p.grid_of(b)).unwrap_or(""))),
                    "village" => text(building.and_then(|b| self.building_village(b))),
                    "building" => log.building_id(i, &p.buildings).map(Cow::Borrowed),
                    "outcome" => text(Some(log.outcome(i).as_str())),
                    _ => None,
                }
            }
            (_, "kind") => p.basemap.features[self.basemap[i]]
                .kind
                .clone()
                .map(Cow::Owned),
            (_, "name") => p.basemap.features[self.basemap[i]]
                .name
                .clone()
                .map(Cow::Owned),
            _ => None,
        }
    }

    /// The village of address `i`: its stated grid's, else the one it lies in.
    fn address_village(&self, i: usize) -> Option<&'p str> {
        let p = self.p();
        p.addresses[i]
            .declared_grid
            .as_deref()
            .and_then(|g| p.grid(g))
            .and_then(|g| g.grid.village.as_deref())
            .or_else(|| self.scope.village_of_address(i))
    }

    /// The position of the feature with id `fid`, if the user sees it.
    fn find(&self, fid: &str) -> Option<usize> {
        let p = self.p();
        match self.id {
            "grids" => p
                .grid_by_code
                .get(fid)
                .copied()
                .filter(|&g| self.scope.grid_at(g)),
            "buildings" => p
                .building_by_id
                .get(fid)
                .map(|&i| i as usize)
                .filter(|&i| self.scope.building(i)),
            "addresses" => p
                .addresses
                .iter()
                .position(|a| a.id == fid)
                .filter(|&i| self.scope.address(i)),
            "visits" => {
                let live = p.live();
                live.visits
                    .position_of(fid)
                    .filter(|&i| self.scope.visit(&live.visits, i))
            }
            _ => {
                let n: usize = fid.strip_prefix(self.id)?.strip_prefix('-')?.parse().ok()?;
                n.checked_sub(1).filter(|&k| k < self.basemap.len())
            }
        }
    }
}

fn feature_json(crs: Crs, fid: String, g: Option<Cow<'_, Geometry>>, props: Value) -> Value {
    json!({
        "type": "Feature", "id": fid,
        "geometry": g.map_or(Value::Null, |g| crs.geometry(&g)),
        "properties": props,
    })
}

fn with_crs(crs: Crs, body: Value) -> Response {
    let mut r = json_response(GEOJSON, body);
    if let Ok(v) = HeaderValue::from_str(&format!("<{}>", crs.uri())) {
        r.headers_mut().insert("content-crs", v);
    }
    r
}

/// The URL of this request with `offset` set to `offset` (every other parameter kept as sent).
fn page_url(base: &Base, uri: &Uri, offset: usize) -> String {
    let mut query: Vec<&str> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty() && !kv.starts_with("offset="))
        .collect();
    let offset = format!("offset={offset}");
    query.push(&offset);
    format!("{}{}?{}", base.origin, uri.path(), query.join("&"))
}

fn number(params: &Params, name: &str) -> Result<Option<usize>, AppError> {
    param(params, name)
        .map(|v| {
            v.trim().parse::<usize>().map_err(|_| {
                AppError::BadRequest(format!(
                    "{name} must be a whole number ≥ 0, not {}",
                    crate::input::short(v)
                ))
            })
        })
        .transpose()
}

/// `GET /ogc/collections/{id}/items`.
#[utoipa::path(get, path = "/ogc/collections/{id}/items", tag = "ogc", params(("id" = String, Path)), responses((status = 200, description = "Items in your area (?limit, offset, bbox, bbox-crs, crs, datetime, queryables)", content_type = "application/geo+json", body = Object)))]
pub async fn items(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    user: AuthUser,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> Result<Response, AppError> {
    let (id, _, _) = collection_entry(&id)?;
    let filters = queryables(id);
    let mut known = vec!["limit", "offset", "bbox", "bbox-crs", "datetime", "crs"];
    known.extend(filters.iter().map(|(n, _, _)| *n));
    check_params(&params, &known)?;
    let limit = match number(&params, "limit")? {
        Some(0) => return Err(AppError::BadRequest("limit must be at least 1".into())),
        Some(n) => n.min(MAX_LIMIT),
        None => DEFAULT_LIMIT,
    };
    let offset = number(&params, "offset")?.unwrap_or(0);
    let crs = param(&params, "crs")
        .map(|s| Crs::from_param("crs", s))
        .transpose()?
        .unwrap_or(Crs::Crs84);
    let bbox_crs = param(&params, "bbox-crs")
        .map(|s| Crs::from_param("bbox-crs", s))
        .transpose()?
        .unwrap_or(Crs::Crs84);
    let bbox = param(&params, "bbox")
        .map(|s| parse_bbox(s, bbox_crs))
        .transpose()?;
    let datetime = param(&params, "datetime")
        .map(|s| {
            if id == "visits" {
                parse_datetime(s)
            } else {
                Err(AppError::BadRequest(format!(
                    "datetime: collection {id} has no time; only visits do"
                )))
            }
        })
        .transpose()?;
    let wanted: Vec<(String, String)> = params
        .into_iter()
        .filter(|(k, _)| filters.iter().any(|(n, _, _)| n == k))
        .collect();
    let base = Base::of(&headers, &uri);
    let p = state.project();
    let body = crate::reading(move || {
        let layer = Layer::new(&p, &user, id);
        let mut all = layer.candidates(bbox);
        if let Some((start, end)) = datetime {
            all.retain(|&i| {
                layer
                    .time(i)
                    .is_some_and(|t| start.is_none_or(|s| t >= s) && end.is_none_or(|e| t <= e))
            });
        }
        // Filtered on the properties as answered (see `Layer::property`), so a filter means
        // what the client reads; the visit log is held a chunk at a time.
        if !wanted.is_empty() {
            let mut kept = Vec::new();
            for chunk in all.chunks(10_000) {
                let live = layer.p().live();
                kept.extend(chunk.iter().copied().filter(|&i| {
                    wanted
                        .iter()
                        .all(|(k, v)| match layer.property(&live, i, k) {
                            Some(x) => x == v.as_str(),
                            None => v.is_empty(),
                        })
                }));
            }
            all = kept;
        }
        let matched = all.len();
        let features: Vec<Value> = (offset..matched.min(offset.saturating_add(limit)))
            .map(|k| {
                let (fid, g, pr) = layer.feature(all[k]);
                feature_json(crs, fid, g, pr)
            })
            .collect();
        Ok((matched, features))
    })
    .await?;
    let (matched, features) = body;
    let returned = features.len();
    let mut links = vec![
        json!({"href": page_url(&base, &uri, offset), "rel": "self", "type": GEOJSON, "title": "This page"}),
        json!({"href": base.url(&format!("/collections/{id}")), "rel": "collection", "type": JSON, "title": "The collection"}),
    ];
    if offset + returned < matched {
        links.push(json!({"href": page_url(&base, &uri, offset + limit), "rel": "next", "type": GEOJSON, "title": "Next page"}));
    }
    if offset > 0 {
        links.push(json!({"href": page_url(&base, &uri, offset.saturating_sub(limit)), "rel": "prev", "type": GEOJSON, "title": "Previous page"}));
    }
    Ok(with_crs(
        crs,
        json!({
            "type": "FeatureCollection",
            "timeStamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "numberMatched": matched,
            "numberReturned": returned,
            "features": features,
            "links": links,
        }),
    ))
}

/// `GET /ogc/collections/{id}/items/{featureId}`: 404 when there is no such feature in the
/// user's scope (whether it exists elsewhere is not told).
#[utoipa::path(get, path = "/ogc/collections/{id}/items/{fid}", tag = "ogc", params(("id" = String, Path), ("fid" = String, Path)), responses((status = 200, description = "One item (?crs)", content_type = "application/geo+json", body = Object)))]
pub async fn item(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    user: AuthUser,
    Path((id, fid)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> Result<Response, AppError> {
    let (id, _, _) = collection_entry(&id)?;
    check_params(&params, &["crs"])?;
    let crs = param(&params, "crs")
        .map(|s| Crs::from_param("crs", s))
        .transpose()?
        .unwrap_or(Crs::Crs84);
    let base = Base::of(&headers, &uri);
    let p = state.project();
    let layer = Layer::new(&p, &user, id);
    let i = layer.find(&fid).ok_or_else(|| {
        AppError::NotFound(format!(
            "feature {} in collection {id} (in your area)",
            crate::input::short(&fid)
        ))
    })?;
    let (fid, g, props) = layer.feature(i);
    let mut f = feature_json(crs, fid, g, props);
    f["links"] = json!([
        {"href": format!("{}{}", base.origin, uri.path()), "rel": "self", "type": GEOJSON},
        {"href": base.url(&format!("/collections/{id}")), "rel": "collection", "type": JSON},
    ]);
    Ok(with_crs(crs, f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crs_round_trips_and_takes_axis_order() {
        let c = Coord { x: 121.5, y: 31.2 };
        assert_eq!(Crs::Epsg4490.from_lonlat(c), Coord { x: 31.2, y: 121.5 });
        for crs in Crs::ALL {
            let back = crs.to_lonlat(crs.from_lonlat(c));
            assert!((back.x - c.x).abs() < 1e-9 && (back.y - c.y).abs() < 1e-9);
            assert_eq!(Crs::parse(crs.uri()), Some(crs));
        }
        let m = Crs::Epsg3857.from_lonlat(Coord { x: 180.0, y: 0.0 });
        assert!((m.x - 20_037_508.342_789_244).abs() < 1e-6 && m.y.abs() < 1e-6);
        assert_eq!(Crs::parse("EPSG:4490"), Some(Crs::Epsg4490));
        assert_eq!(Crs::parse("EPSG:4491"), None);
    }

    #[test]
    fn bbox_and_datetime_are_checked() {
        let r =
            parse_bbox("31.2,121.4,31.3,121.5", Crs::Epsg4490).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.min(), Coord { x: 121.4, y: 31.2 });
        assert!(parse_bbox("1,2,3", Crs::Crs84).is_err());
        assert!(parse_bbox("3,2,1,4", Crs::Crs84).is_err());
        assert!(parse_bbox("121,31,a,32", Crs::Crs84).is_err());
        assert!(
            parse_bbox("121,31,122,32", Crs::Epsg4326).is_err(),
            "latitude first"
        );
        assert_eq!(
            parse_datetime("2026-11-05").ok(),
            Some((Some(1_793_836_800), Some(1_793_836_800 + 86_399)))
        );
        assert_eq!(
            parse_datetime("../2026-11-05T00:00:00Z").ok(),
            Some((None, Some(1_793_836_800)))
        );
        assert!(parse_datetime("2026-11-06/2026-11-05").is_err());
        assert!(parse_datetime("yesterday").is_err());
    }
}
