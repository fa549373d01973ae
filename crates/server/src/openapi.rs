//! `GET /api/openapi.json`: an OpenAPI 3.1 description of the whole API, kept beside the
//! router (a test checks that every route is described).

use crate::extract::Json;
use serde_json::{Value, json};

/// Every route as (method, path, summary, needs a token).
pub const ROUTES: [(&str, &str, &str, bool); 45] = [
    ("get", "/health", "Liveness and what is loaded", false),
    (
        "post",
        "/api/oauth/token",
        "OAuth 2.0 password grant (form: grant_type=password, username, password): the bearer token as access_token (QGIS's OAuth2 method)",
        false,
    ),
    (
        "post",
        "/api/partition",
        "Start re-partitioning a village (background job)",
        true,
    ),
    (
        "get",
        "/api/partition/{job}",
        "Progress of a partition job; when done the plan, report, current grids, matching, moves",
        true,
    ),
    (
        "post",
        "/api/login",
        "Sign in: {username, password} → {token}",
        false,
    ),
    (
        "post",
        "/api/logout",
        "Sign out: the bearer token is refused from then on → {signed_out: true}",
        true,
    ),
    ("get", "/api/me", "Who the token belongs to", true),
    ("get", "/api/openapi.json", "This document", false),
    (
        "get",
        "/api/grids",
        "Grids in scope (GeoJSON); `context=1` adds the outlines of neighbouring grids for editors",
        true,
    ),
    (
        "post",
        "/api/grids",
        "Create a grid {feature, reason, force}",
        true,
    ),
    ("get", "/api/grids/{code}", "One grid; ETag = version", true),
    (
        "put",
        "/api/grids/{code}",
        "Change a grid; If-Match required; 409 on overlaps unless force",
        true,
    ),
    (
        "get",
        "/api/grids/{code}/history",
        "A grid's versions, newest first: version, action, at, who, why, deleted",
        true,
    ),
    (
        "get",
        "/api/grids/{code}/versions/{version}",
        "One version of a grid as a GeoJSON Feature (null geometry for a deletion)",
        true,
    ),
    (
        "get",
        "/api/problems",
        "Validation problems in scope as a table: id, type, grids, area, bbox, point; counts",
        true,
    ),
    (
        "get",
        "/api/progress",
        "Cumulative visits by day and the campaign's expected line (?by=town|village|grid&code=)",
        true,
    ),
    (
        "delete",
        "/api/grids/{code}",
        "Delete a grid; If-Match and ?reason= required",
        true,
    ),
    (
        "post",
        "/api/validate",
        "What saving {feature} would do, without saving; overlaps and gaps with geometry, summary",
        true,
    ),
    (
        "post",
        "/api/visits",
        "Record a visit; far GPS points are flagged",
        true,
    ),
    (
        "get",
        "/api/buildings/{id}",
        "Building panel: visits, houses, people (masked or clear by role)",
        true,
    ),
    (
        "get",
        "/api/audit",
        "Audit log of clear personal-data reads (admins)",
        true,
    ),
    (
        "get",
        "/api/uncovered",
        "Blocks of unvisited buildings and buildings in no grid (?eps, limit)",
        true,
    ),
    (
        "get",
        "/api/stats",
        "Per grid or village: visits, rates, ranking (?by=grid|village)",
        true,
    ),
    ("get", "/api/stats.csv", "The statistics as CSV", true),
    ("get", "/api/stats.xlsx", "The statistics as XLSX", true),
    (
        "get",
        "/tiles/{layer}",
        "TileJSON of grids, buildings, addresses, problems or basemap (roads and water) ({layer}.json)",
        true,
    ),
    (
        "get",
        "/tiles/{layer}/{z}/{x}/{y}",
        "Mapbox Vector Tile ({y}.mvt); 204 empty; ETag/304",
        true,
    ),
    (
        "get",
        "/heatmap/{kind}/legend.json",
        "Colour scale of a heatmap",
        true,
    ),
    (
        "get",
        "/heatmap/{kind}/{z}/{x}/{y}",
        "Heatmap PNG ({y}.png): visited, unvisited, coverage",
        true,
    ),
    (
        "get",
        "/",
        "The web app; the OGC API landing page to a client asking for JSON (f=json, Accept)",
        false,
    ),
    (
        "get",
        "/ogc",
        "OGC API Features: landing page (its own OpenAPI 3.0 document at /ogc/api)",
        false,
    ),
    ("get", "/ogc/", "OGC API Features: landing page", false),
    (
        "get",
        "/ogc/conformance",
        "OGC API Features: conformance classes",
        false,
    ),
    (
        "get",
        "/conformance",
        "OGC API Features: conformance classes (alias)",
        false,
    ),
    (
        "get",
        "/ogc/api",
        "OGC API Features: the OpenAPI 3.0 document of /ogc",
        false,
    ),
    (
        "get",
        "/ogc/collections",
        "OGC API Features: collections (grids, buildings, addresses, visits, roads, water)",
        true,
    ),
    (
        "get",
        "/collections",
        "OGC API Features: collections (alias of /ogc/collections)",
        true,
    ),
    (
        "get",
        "/ogc/collections/{id}",
        "OGC API Features: one collection",
        true,
    ),
    (
        "get",
        "/collections/{id}",
        "OGC API Features: one collection (alias)",
        true,
    ),
    (
        "get",
        "/ogc/collections/{id}/items",
        "OGC API Features: items in your area (?limit, offset, bbox, bbox-crs, crs, datetime, queryables)",
        true,
    ),
    (
        "get",
        "/collections/{id}/items",
        "OGC API Features: items (alias)",
        true,
    ),
    (
        "get",
        "/ogc/collections/{id}/items/{fid}",
        "OGC API Features: one item (?crs)",
        true,
    ),
    (
        "get",
        "/collections/{id}/items/{fid}",
        "OGC API Features: one item (alias)",
        true,
    ),
    (
        "get",
        "/ogc/collections/{id}/queryables",
        "OGC API Features: queryables (JSON Schema)",
        true,
    ),
    (
        "get",
        "/collections/{id}/queryables",
        "OGC API Features: queryables (alias)",
        true,
    ),
];

/// The values the API sends that a client words for people (the web app translates each), as
/// string enums, taken from the types that define them.
fn vocabulary() -> Value {
    use crate::scope::Role;
    use gridmap_core::model::VisitOutcome;
    let strings = |values: Vec<&str>| json!({"type": "string", "enum": values});
    let mut visit: Vec<&str> = vec!["unvisited"];
    visit.extend(VisitOutcome::ALL.iter().map(|o| o.as_str()));
    json!({
        "Role": strings(Role::ALL.iter().map(|r| r.as_str()).collect()),
        "Capability": strings(Role::Admin.capabilities()),
        "VisitStatus": strings(visit),
        "ProblemType": strings(crate::problems::TYPES.to_vec()),
        "UncoveredKind": strings(crate::uncovered::KINDS.to_vec()),
        "HistoryAction": strings(vec!["created", "updated", "deleted", "restored"]),
        "HeatmapKind": strings(crate::tiles::HEATMAPS.to_vec()),
        "Refusal": strings(vec!["outside_village", "overlaps_foreign", "takes_buildings"]),
    })
}

/// The OpenAPI document.
pub async fn document() -> Json<Value> {
    let mut paths = serde_json::Map::new();
    for (method, path, summary, auth) in ROUTES {
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let mut op = json!({
            "summary": summary,
            "parameters": params,
            "responses": {
                "200": {"description": "OK"},
                "400": {"description": "Bad request: {\"error\": message}"},
                "401": {"description": "No or expired token"},
                "403": {"description": "Outside the caller's part of the org tree"},
            },
        });
        if !auth {
            op["security"] = json!([]);
        }
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        entry[method] = op;
    }
    Json(json!({
        "openapi": "3.1.0",
        "info": {"title": "gridmap", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Grids, buildings, visits and registers for grid-based community governance (网格化管理)."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": vocabulary(),
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }))
}
