//! OGC API – Features (Part 1, core) for the layers, so QGIS and other clients can add them as
//! layers: `/collections`, `/collections/{id}` and `/collections/{id}/items` with `bbox`,
//! `limit` and `offset` paging. Only what lies in the caller's scope is listed; the basemap
//! layers (`roads`, `water`) hold no personal data and are listed whole to every user.

use crate::extract::Json;
use crate::extract::{Path, Query};
use axum::extract::State;
use axum::http::{HeaderMap, header};
use geo::{BoundingRect, Geometry, Intersects, Rect};
use gridmap_core::model::BasemapLayer;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::state::{AppState, Project};

const LAYERS: [(&str, &str); 5] = [
    ("grids", "Grids (网格)"),
    ("buildings", "Buildings (实有房屋)"),
    ("addresses", "Standard addresses (标准地址)"),
    ("roads", "Basemap roads (道路)"),
    ("water", "Basemap water (水系)"),
];

fn base(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

fn collection(base: &str, id: &str, title: &str) -> Value {
    json!({
        "id": id, "title": title,
        "crs": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"],
        "links": [
            {"href": format!("{base}/collections/{id}"), "rel": "self", "type": "application/json"},
            {"href": format!("{base}/collections/{id}/items"), "rel": "items", "type": "application/geo+json"},
        ],
    })
}

/// `GET /collections`.
pub async fn collections(headers: HeaderMap, _user: AuthUser) -> Json<Value> {
    let b = base(&headers);
    Json(json!({
        "links": [{"href": format!("{b}/collections"), "rel": "self", "type": "application/json"}],
        "collections": LAYERS.iter().map(|(id, t)| collection(&b, id, t)).collect::<Vec<_>>(),
    }))
}

/// `GET /collections/{id}`.
pub async fn one_collection(
    headers: HeaderMap,
    _user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let (id, title) = LAYERS
        .iter()
        .find(|(l, _)| *l == id)
        .ok_or_else(|| AppError::NotFound(format!("collection {id}")))?;
    Ok(Json(collection(&base(&headers), id, title)))
}

#[derive(Debug, Deserialize)]
pub struct ItemsQuery {
    bbox: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

fn parse_bbox(s: &str) -> Result<Rect, AppError> {
    let v: Vec<f64> = s
        .split(',')
        .map(|x| x.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            AppError::BadRequest(format!("bbox must be minlon,minlat,maxlon,maxlat, not {s}"))
        })?;
    match v[..] {
        [a, b, c, d] if a <= c && b <= d => Ok(Rect::new((a, b), (c, d))),
        _ => Err(AppError::BadRequest(format!(
            "bbox must be minlon,minlat,maxlon,maxlat with min ≤ max, not {s}"
        ))),
    }
}

fn layer_items(p: &Project, user: &AuthUser, layer: &str) -> Vec<(String, Geometry, Value)> {
    let sees = |code: &str| user.sees_code(p, code);
    match layer {
        "grids" => p
            .grids
            .iter()
            .filter(|g| sees(&g.grid.code))
            .map(|g| {
                (
                    g.grid.code.clone(),
                    Geometry::MultiPolygon(g.grid.geometry.clone()),
                    json!({"code": g.grid.code, "name": g.grid.name, "village": g.grid.village, "version": g.version}),
                )
            })
            .collect(),
        "buildings" => {
            let live = p.live();
            p.buildings
            .iter()
            .enumerate()
            .filter_map(|(i, b)| {
                let grid = p.grid_of(i)?;
                sees(grid).then(|| {
                    let g = Geometry::from(&b.footprint);
                    let visit = live.outcome(i).map(|o| o.as_str());
                    (
                        b.id.clone(),
                        g,
                        json!({"id": b.id, "grid": grid, "households": b.households, "floors": b.floors, "kind": b.kind, "visit": visit}),
                    )
                })
            })
            .collect()
        }
        "roads" | "water" => {
            let layer = if layer == "roads" {
                BasemapLayer::Roads
            } else {
                BasemapLayer::Water
            };
            p.basemap
                .features
                .iter()
                .enumerate()
                .filter(|(_, f)| f.layer == layer)
                .map(|(i, f)| {
                    (
                        format!("{}/{}", layer.as_str(), i + 1),
                        f.geometry.clone(),
                        json!({"kind": f.kind, "detail": f.detail, "name": f.name}),
                    )
                })
                .collect()
        }
        _ => p
            .addresses
            .iter()
            .filter(|a| a.declared_grid.as_deref().is_some_and(sees))
            .map(|a| {
                (
                    a.id.clone(),
                    Geometry::Point(a.point),
                    json!({"id": a.id, "text": a.text, "grid": a.declared_grid, "building": a.declared_building}),
                )
            })
            .collect(),
    }
}

/// `GET /collections/{id}/items?bbox=&limit=&offset=`.
pub async fn items(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: AuthUser,
    Path(id): Path<String>,
    Query(q): Query<ItemsQuery>,
) -> Result<Json<Value>, AppError> {
    if !LAYERS.iter().any(|(l, _)| *l == id) {
        return Err(AppError::NotFound(format!("collection {id}")));
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    let offset = q.offset.unwrap_or(0);
    let bbox = q.bbox.as_deref().map(parse_bbox).transpose()?;
    let p = state.project();
    let mut all = layer_items(&p, &user, &id);
    if let Some(b) = bbox {
        all.retain(|(_, g, _)| g.bounding_rect().is_some_and(|r| r.intersects(&b)));
    }
    let matched = all.len();
    let page: Vec<Value> = all
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|(fid, g, props)| json!({"type": "Feature", "id": fid, "geometry": crate::api::geometry_json(&g), "properties": props}))
        .collect();
    let b = base(&headers);
    let mut links = vec![
        json!({"href": format!("{b}/collections/{id}/items?limit={limit}&offset={offset}"), "rel": "self", "type": "application/geo+json"}),
    ];
    if offset + page.len() < matched {
        let bbox = q
            .bbox
            .as_deref()
            .map(|s| format!("&bbox={s}"))
            .unwrap_or_default();
        links.push(json!({"href": format!("{b}/collections/{id}/items?limit={limit}&offset={}{bbox}", offset + limit), "rel": "next", "type": "application/geo+json"}));
    }
    Ok(Json(json!({
        "type": "FeatureCollection", "numberMatched": matched, "numberReturned": page.len(),
        "features": page, "links": links,
    })))
}
