//! OGC API – Features at `/ogc` in process: the landing page, conformance, the API document,
//! collections, items with paging, bbox, CRS, datetime and queryables, one item, JSON errors;
//! and the one rule of scope — a building in no grid is seen by the town and by the manager of
//! the village it lies in, by no grid role — in items, tiles, the building panel, heatmaps and
//! statistics. Real clients (OWSLib, GDAL) are driven in `tests/cli_ogc.rs`.

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

use std::collections::BTreeSet;
use std::path::Path;

use axum::http::StatusCode;
use gridmap_core::assign::Assignment;
use gridmap_server::{AppState, Settings};
use serde_json::{Value, json};

mod common;
use common::{add_user, call, demo_store, login, on_each_store, send};
use gridmap_store::ProjectStore;

const TOWN: &str = "310101001";

fn state(dir: &Path) -> AppState {
    served(Box::new(demo_store(&dir.join("p.gpkg"))))
}

/// The demo town in `s` with this file's users, served.
fn served(mut s: Box<dyn ProjectStore>) -> AppState {
    add_user(s.as_mut(), "admin", "admin", TOWN);
    add_user(s.as_mut(), "supervisor", "town_supervisor", TOWN);
    add_user(s.as_mut(), "planner", "planner", TOWN);
    AppState::with_store(s, Settings::default(), None).unwrap()
}

/// A building in no grid, the village whose boundary holds it, a village that does not, and
/// a grid of its village.
fn orphan(st: &AppState) -> (String, usize, String, String, String) {
    let p = st.project();
    let placement = gridmap_server::scope::placement(&p);
    let i = (0..p.buildings.len())
        .find(|&i| {
            matches!(p.assignment[i], Assignment::NoGrid)
                && placement.building_village[i] != gridmap_server::scope::NO_VILLAGE
        })
        .expect("the demo has buildings in no grid inside a village");
    let v = placement.building_village[i] as usize;
    let village = p.villages[v].code.clone();
    let other = p
        .villages
        .iter()
        .find(|x| x.code != village)
        .unwrap()
        .code
        .clone();
    let grid = p
        .grids
        .iter()
        .find(|g| g.grid.village.as_deref() == Some(village.as_str()))
        .unwrap()
        .grid
        .code
        .clone();
    (p.buildings[i].id.clone(), i, village, other, grid)
}

/// Every page of `uri` for `token`, following `next` links: (ids, pages, numberMatched).
async fn all_pages(st: &AppState, uri: &str, token: &str) -> (Vec<String>, usize, u64) {
    let mut next = Some(uri.to_string());
    let (mut ids, mut pages, mut matched) = (Vec::new(), 0, 0);
    while let Some(u) = next.take() {
        let (status, body) = call(st, "GET", &u, Some(token), None, &[]).await;
        assert_eq!(status, StatusCode::OK, "{u}: {body}");
        pages += 1;
        matched = body["numberMatched"].as_u64().unwrap();
        let features = body["features"].as_array().unwrap();
        assert_eq!(
            body["numberReturned"].as_u64().unwrap(),
            features.len() as u64
        );
        ids.extend(
            features
                .iter()
                .map(|f| f["id"].as_str().unwrap().to_string()),
        );
        next = body["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "next")
            .map(|l| {
                let href = l["href"].as_str().unwrap();
                href.strip_prefix("http://localhost").unwrap().to_string()
            });
        assert!(pages < 100, "paging does not end");
    }
    (ids, pages, matched)
}

#[test]
fn landing_conformance_and_api_need_no_token_and_say_json() {
    on_each_store(served, async |st: AppState| {
        let (status, headers, body) = send(&st, "GET", "/ogc", None, None, &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["content-type"], "application/json");
        let landing: Value = serde_json::from_slice(&body).unwrap();
        let rels: BTreeSet<&str> = landing["links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["rel"].as_str().unwrap())
            .collect();
        for rel in ["self", "service-desc", "conformance", "data"] {
            assert!(rels.contains(rel), "{rel} in {landing}");
        }
        let data = landing["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "data")
            .unwrap();
        assert_eq!(data["href"], "http://localhost/ogc/collections");
        // `/` answers the landing page to a client that asks for JSON, the web app otherwise.
        for extra in [
            vec![("accept", "application/json")],
            vec![("accept", "application/json, application/geo+json")],
        ] {
            let (status, body) = call(&st, "GET", "/", None, None, &extra).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(body["links"][0]["href"], "http://localhost/ogc");
        }
        let (status, body) = call(&st, "GET", "/?f=json", None, None, &[]).await;
        assert_eq!(
            (status, body["links"][0]["rel"].as_str()),
            (StatusCode::OK, Some("self"))
        );
        let (_, headers, _) = send(&st, "GET", "/", None, None, &[("accept", "text/html")]).await;
        assert!(
            headers
                .get("content-type")
                .is_none_or(|c| c.to_str().unwrap().starts_with("text/html")),
            "{headers:?}"
        );
        let (status, body) = call(&st, "GET", "/ogc/conformance?f=json", None, None, &[]).await;
        assert_eq!(status, StatusCode::OK);
        let classes = body["conformsTo"].as_array().unwrap();
        for c in ["core", "geojson", "oas30"] {
            let uri = format!("http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/{c}");
            assert!(classes.iter().any(|x| x == &json!(uri)), "{c}");
        }
        assert!(
            classes
                .iter()
                .any(|x| x == "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs")
        );
        let (status, alias) = call(&st, "GET", "/conformance", None, None, &[]).await;
        assert_eq!((status, &alias), (StatusCode::OK, &body));
        let (status, headers, body) = send(&st, "GET", "/ogc/api", None, None, &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            headers["content-type"],
            "application/vnd.oai.openapi+json;version=3.0"
        );
        let api: Value = serde_json::from_slice(&body).unwrap();
        assert!(api["openapi"].as_str().unwrap().starts_with("3.0"));
        for path in [
            "/",
            "/conformance",
            "/collections",
            "/collections/{collectionId}",
            "/collections/{collectionId}/items",
            "/collections/{collectionId}/items/{featureId}",
        ] {
            assert!(api["paths"][path]["get"].is_object(), "{path}");
        }
        // Collections need a token; a Bearer header is what QGIS and GDAL send.
        let (status, headers, _) = send(&st, "GET", "/ogc/collections", None, None, &[]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers["www-authenticate"], "Bearer");
    });
}

#[test]
fn collections_and_errors_are_json() {
    on_each_store(served, async |st: AppState| {
        let t = login(&st, "supervisor").await;
        let (status, body) = call(&st, "GET", "/ogc/collections", Some(&t), None, &[]).await;
        assert_eq!(status, StatusCode::OK);
        let ids: Vec<&str> = body["collections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            [
                "grids",
                "buildings",
                "addresses",
                "visits",
                "roads",
                "water",
                "landuse"
            ]
        );
        let (status, c) = call(
            &st,
            "GET",
            "/ogc/collections/buildings",
            Some(&t),
            None,
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(c["itemType"], "feature");
        assert!(
            c["crs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x == "http://www.opengis.net/def/crs/EPSG/0/4490")
        );
        let bbox = c["extent"]["spatial"]["bbox"][0].as_array().unwrap();
        assert!(bbox[0].as_f64().unwrap() > 121.0 && bbox[2].as_f64().unwrap() < 122.0);
        let items = c["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "items")
            .unwrap();
        assert_eq!(
            items["href"],
            "http://localhost/ogc/collections/buildings/items"
        );
        // The alias answers the same with links under it.
        let (status, c) = call(&st, "GET", "/collections/buildings", Some(&t), None, &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            c["links"][1]["href"],
            "http://localhost/collections/buildings/items"
        );

        // Basemap features have ids that fit in a path, and each is found by its id.
        let (_, roads) = call(
            &st,
            "GET",
            "/ogc/collections/roads/items?limit=3&offset=1",
            Some(&t),
            None,
            &[],
        )
        .await;
        let ids: Vec<&str> = roads["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["roads-2", "roads-3", "roads-4"]);
        let (status, road) = call(
            &st,
            "GET",
            "/ogc/collections/roads/items/roads-3",
            Some(&t),
            None,
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(road["geometry"], roads["features"][1]["geometry"]);
        let (status, _) = call(
            &st,
            "GET",
            "/ogc/collections/roads/items/roads-0",
            Some(&t),
            None,
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        for (uri, want, needle) in [
            (
                "/ogc/collections/nope",
                StatusCode::NOT_FOUND,
                "collection nope",
            ),
            (
                "/ogc/collections/nope/items",
                StatusCode::NOT_FOUND,
                "collection nope",
            ),
            (
                "/ogc/collections/buildings/items/osm-0",
                StatusCode::NOT_FOUND,
                "feature osm-0",
            ),
            (
                "/ogc/collections/buildings/items?bbox=1,2,3",
                StatusCode::BAD_REQUEST,
                "4 (or 6) numbers",
            ),
            (
                "/ogc/collections/buildings/items?bbox=122,31,121,32",
                StatusCode::BAD_REQUEST,
                "min ≤ max",
            ),
            (
                "/ogc/collections/buildings/items?bbox=a,b,c,d",
                StatusCode::BAD_REQUEST,
                "numbers separated by commas",
            ),
            (
                "/ogc/collections/buildings/items?bbox=121,31,122,32&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/4490",
                StatusCode::BAD_REQUEST,
                "latitude first",
            ),
            (
                "/ogc/collections/buildings/items?limit=0",
                StatusCode::BAD_REQUEST,
                "limit must be at least 1",
            ),
            (
                "/ogc/collections/buildings/items?limit=ten",
                StatusCode::BAD_REQUEST,
                "limit must be a whole number",
            ),
            (
                "/ogc/collections/buildings/items?crs=EPSG:2000",
                StatusCode::BAD_REQUEST,
                "crs EPSG:2000 is not supported",
            ),
            (
                "/ogc/collections/buildings/items?colour=red",
                StatusCode::BAD_REQUEST,
                "unknown query parameter colour",
            ),
            (
                "/ogc/collections/buildings/items?datetime=2026-11-01",
                StatusCode::BAD_REQUEST,
                "only visits",
            ),
            (
                "/ogc/collections/visits/items?datetime=soon",
                StatusCode::BAD_REQUEST,
                "RFC 3339",
            ),
            (
                "/ogc/collections/buildings/items?f=html",
                StatusCode::NOT_ACCEPTABLE,
                "JSON only",
            ),
        ] {
            let (status, body) = call(&st, "GET", uri, Some(&t), None, &[]).await;
            assert_eq!(status, want, "{uri}: {body}");
            let message = body["error"]
                .as_str()
                .unwrap_or_else(|| panic!("{uri}: {body}"));
            assert!(message.contains(needle), "{uri}: {message}");
        }
    });
}

#[test]
fn town_level_users_get_every_building_through_every_page() {
    on_each_store(served, async |st: AppState| {
        let n = st.project().buildings.len();
        assert_eq!(n, 1321, "the demo's buildings");
        for user in ["admin", "supervisor", "planner"] {
            let t = login(&st, user).await;
            let (ids, pages, matched) =
                all_pages(&st, "/ogc/collections/buildings/items?limit=200", &t).await;
            assert_eq!(matched, n as u64, "{user}");
            assert_eq!(pages, n.div_ceil(200), "{user}");
            let unique: BTreeSet<&String> = ids.iter().collect();
            assert_eq!(
                (ids.len(), unique.len()),
                (n, n),
                "{user}: every building once"
            );
        }
        // The next and prev links keep the query (bbox, filters) and move only the offset.
        let t = login(&st, "supervisor").await;
        let uri = "/ogc/collections/buildings/items?bbox=121.40,31.10,121.60,31.30&limit=50&offset=50&visit=unvisited";
        let (status, body) = call(&st, "GET", uri, Some(&t), None, &[]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let link = |rel: &str| -> String {
            body["links"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["rel"] == rel)
                .unwrap_or_else(|| panic!("no {rel} link"))["href"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(
            link("next"),
            "http://localhost/ogc/collections/buildings/items?bbox=121.40,31.10,121.60,31.30&limit=50&visit=unvisited&offset=100"
        );
        assert_eq!(
            link("prev"),
            "http://localhost/ogc/collections/buildings/items?bbox=121.40,31.10,121.60,31.30&limit=50&visit=unvisited&offset=0"
        );
        // The same through the old path.
        let (ids, _, matched) = all_pages(&st, "/collections/buildings/items?limit=1000", &t).await;
        assert_eq!((ids.len(), matched), (n, n as u64));
    });
}

#[test]
fn bbox_crs_and_queryables() {
    on_each_store(served, async |st: AppState| {
        let t = login(&st, "supervisor").await;
        let p = st.project();
        // bbox: exactly the buildings whose bounds meet it.
        let (x0, y0, x1, y1) = (121.485, 31.235, 121.495, 31.245);
        let area = geo::Rect::new((x0, y0), (x1, y1));
        let want = p
            .buildings
            .iter()
            .filter(|b| {
                b.footprint_rect()
                    .is_some_and(|r| geo::Intersects::intersects(&r, &area))
            })
            .count();
        assert!(want > 10);
        let uri = format!("/ogc/collections/buildings/items?bbox={x0},{y0},{x1},{y1}&limit=1");
        let (_, body) = call(&st, "GET", &uri, Some(&t), None, &[]).await;
        assert_eq!(body["numberMatched"], want);
        // The same box in EPSG:4490, latitude first, and in EPSG:3857.
        let uri = format!(
            "/ogc/collections/buildings/items?bbox={y0},{x0},{y1},{x1}&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/4490&limit=1"
        );
        let (_, body) = call(&st, "GET", &uri, Some(&t), None, &[]).await;
        assert_eq!(body["numberMatched"], want);
        // One building in CRS84, EPSG:4490 (lat, lon) and EPSG:3857.
        let id = &p.buildings[0].id;
        let one = |crs: &'static str| {
            let uri = format!("/ogc/collections/buildings/items/{id}?crs={crs}");
            let st = st.clone();
            let t = t.clone();
            async move {
                let (status, headers, body) = send(&st, "GET", &uri, Some(&t), None, &[]).await;
                assert_eq!(status, StatusCode::OK);
                let v: Value = serde_json::from_slice(&body).unwrap();
                // The first position, however deep the geometry's arrays go.
                let mut first = v["geometry"]["coordinates"].clone();
                while first[0].is_array() {
                    first = first[0].clone();
                }
                (
                    headers["content-crs"].to_str().unwrap().to_string(),
                    first,
                    v,
                )
            }
        };
        let (crs84, lonlat, f) = one("http://www.opengis.net/def/crs/OGC/1.3/CRS84").await;
        assert_eq!(crs84, "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>");
        assert_eq!(f["properties"]["id"], *id);
        assert_eq!(f["links"][0]["rel"], "self");
        let (cgcs, latlon, _) = one("http://www.opengis.net/def/crs/EPSG/0/4490").await;
        assert_eq!(cgcs, "<http://www.opengis.net/def/crs/EPSG/0/4490>");
        assert_eq!(
            (latlon[0].clone(), latlon[1].clone()),
            (lonlat[1].clone(), lonlat[0].clone())
        );
        let (_, metres, _) = one("http://www.opengis.net/def/crs/EPSG/0/3857").await;
        let x = metres[0].as_f64().unwrap();
        assert!((x - lonlat[0].as_f64().unwrap().to_radians() * 6_378_137.0).abs() < 1e-3);

        // Queryables, and filtering by them.
        let (status, q) = call(
            &st,
            "GET",
            "/ogc/collections/buildings/queryables",
            Some(&t),
            None,
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        for name in ["grid", "village", "visit"] {
            assert!(q["properties"][name].is_object(), "{name}: {q}");
        }
        let grid = p.grids[0].grid.code.clone();
        let in_grid = (0..p.buildings.len())
            .filter(|&i| p.grid_of(i) == Some(grid.as_str()))
            .count();
        let (_, body) = call(
            &st,
            "GET",
            &format!("/ogc/collections/buildings/items?grid={grid}&limit=1"),
            Some(&t),
            None,
            &[],
        )
        .await;
        assert_eq!(body["numberMatched"], in_grid);
        let no_grid = p.assignment.iter().filter(|a| a.grid().is_none()).count();
        assert_eq!(
            no_grid,
            39 + 3,
            "the demo: 39 buildings in no grid, 3 in several"
        );
        let (_, body) = call(
            &st,
            "GET",
            "/ogc/collections/buildings/items?grid=&limit=1",
            Some(&t),
            None,
            &[],
        )
        .await;
        assert_eq!(body["numberMatched"], no_grid);
        let (_, body) = call(
            &st,
            "GET",
            "/ogc/collections/buildings/items?visit=unvisited&limit=1",
            Some(&t),
            None,
            &[],
        )
        .await;
        assert_eq!(body["numberMatched"], 1321, "no visits yet");
    });
}

#[test]
fn visits_by_datetime() {
    on_each_store(served, async |st: AppState| {
        let admin = login(&st, "admin").await;
        let p = st.project();
        let ids: Vec<String> = (0..3)
            .map(|k| {
                let i = (0..p.buildings.len())
                    .filter(|&i| p.grid_of(i).is_some())
                    .nth(k)
                    .unwrap();
                p.buildings[i].id.clone()
            })
            .collect();
        let day = |d: i64| (chrono::Utc::now() - chrono::Duration::days(d)).date_naive();
        for (k, id) in ids.iter().enumerate() {
            let time = format!("{}T10:00:00Z", day(3 - k as i64));
            let (status, body) = call(
                &st,
                "POST",
                "/api/visits",
                Some(&admin),
                Some(json!({"building": id, "outcome": "visited", "time": time})),
                &[],
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        let count = |q: String| {
            let (st, admin) = (st.clone(), admin.clone());
            async move {
                let (status, body) = call(
                    &st,
                    "GET",
                    &format!("/ogc/collections/visits/items?{q}"),
                    Some(&admin),
                    None,
                    &[],
                )
                .await;
                assert_eq!(status, StatusCode::OK, "{q}: {body}");
                body["numberMatched"].as_u64().unwrap()
            }
        };
        assert_eq!(count(String::new()).await, 3);
        assert_eq!(
            count(format!("datetime={}", day(2))).await,
            1,
            "a date: that day"
        );
        assert_eq!(count(format!("datetime={}/..", day(2))).await, 2);
        assert_eq!(count(format!("datetime=../{}T09:00:00Z", day(2))).await, 1);
        assert_eq!(
            count(format!(
                "datetime={}T00:00:00Z/{}T23:59:59Z",
                day(3),
                day(2)
            ))
            .await,
            2
        );
        let (_, c) = call(
            &st,
            "GET",
            "/ogc/collections/visits",
            Some(&admin),
            None,
            &[],
        )
        .await;
        let interval = &c["extent"]["temporal"]["interval"][0];
        assert_eq!(interval[0], format!("{}T10:00:00Z", day(3)));
        assert_eq!(interval[1], format!("{}T10:00:00Z", day(1)));
        let (_, body) = call(
            &st,
            "GET",
            &format!("/ogc/collections/visits/items?building={}", ids[0]),
            Some(&admin),
            None,
            &[],
        )
        .await;
        assert_eq!(body["numberMatched"], 1);
        assert_eq!(body["features"][0]["properties"]["outcome"], "visited");
        assert_eq!(body["features"][0]["geometry"]["type"], "Point");
    });
}

/// The one rule of scope, for a building in no grid: the town-level users and the manager of
/// the village it lies in see it — in items, tiles, the building panel, uncovered blocks,
/// heatmaps and statistics — and nobody else does, least of all the grid roles of its village.
#[tokio::test]
async fn a_building_in_no_grid_is_seen_by_its_village_and_the_town_only() {
    let dir = tempfile::tempdir().unwrap();
    let (id, i, village, other, grid) = {
        let probe = dir.path().join("probe");
        std::fs::create_dir(&probe).unwrap();
        let st = state(&probe);
        orphan(&st)
    };
    let mut s = demo_store(&dir.path().join("p.gpkg"));
    add_user(&mut s, "admin", "admin", TOWN);
    add_user(&mut s, "supervisor", "town_supervisor", TOWN);
    add_user(&mut s, "manager", "village_manager", &village);
    add_user(&mut s, "stranger", "village_manager", &other);
    add_user(&mut s, "leader", "grid_leader", &grid);
    add_user(&mut s, "worker", "grid_worker", &grid);
    let st = AppState::new(s, Settings::default()).unwrap();
    let p = st.project();
    assert!(matches!(p.assignment[i], Assignment::NoGrid));
    let at = p.location(i).unwrap();
    let tile = gridmap_tiles::TileId::containing(at, 17).unwrap();
    for (user, sees) in [
        ("admin", true),
        ("supervisor", true),
        ("manager", true),
        ("stranger", false),
        ("leader", false),
        ("worker", false),
    ] {
        let t = login(&st, user).await;
        let (status, _) = call(
            &st,
            "GET",
            &format!("/ogc/collections/buildings/items/{id}"),
            Some(&t),
            None,
            &[],
        )
        .await;
        assert_eq!(status == StatusCode::OK, sees, "{user}: item");
        let (ids, _, _) = all_pages(&st, "/ogc/collections/buildings/items?limit=2000", &t).await;
        assert_eq!(ids.contains(&id), sees, "{user}: items");
        let (status, _) = call(
            &st,
            "GET",
            &format!("/api/buildings/{id}"),
            Some(&t),
            None,
            &[],
        )
        .await;
        assert_eq!(
            status == StatusCode::OK,
            sees,
            "{user}: building panel ({status})"
        );
        let (status, _, body) = send(
            &st,
            "GET",
            &format!("/tiles/buildings/{}/{}/{}.mvt", tile.z, tile.x, tile.y),
            Some(&t),
            None,
            &[],
        )
        .await;
        assert!(
            status == StatusCode::OK || status == StatusCode::NO_CONTENT,
            "{user}: {status}"
        );
        let in_tile = body.windows(id.len()).any(|w| w == id.as_bytes());
        assert_eq!(in_tile, sees, "{user}: tile");
        // The supervisor's list of uncovered blocks.
        let (status, blocks) = call(
            &st,
            "GET",
            "/api/uncovered?limit=10000",
            Some(&t),
            None,
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let listed = blocks["features"].as_array().unwrap().iter().any(|f| {
            f["properties"]["kind"] == "in_no_grid"
                && f["properties"]["building_ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|b| *b == json!(id))
        });
        assert_eq!(listed, sees, "{user}: uncovered blocks");
        // The one rule, asked directly, agrees; heatmaps use its list of buildings.
        let me = gridmap_server::auth::AuthUser(gridmap_server::state::Session {
            username: user.into(),
            role: match user {
                "admin" => "admin",
                "supervisor" => "town_supervisor",
                "manager" | "stranger" => "village_manager",
                "leader" => "grid_leader",
                _ => "grid_worker",
            }
            .into(),
            scope: match user {
                "admin" | "supervisor" => TOWN.into(),
                "manager" => village.clone(),
                "stranger" => other.clone(),
                _ => grid.clone(),
            },
            expires: std::time::Instant::now(),
        });
        let scope = me.scope(&p);
        assert_eq!(scope.building(i), sees, "{user}: scope");
        assert_eq!(
            scope.buildings().contains(&(i as u32)),
            sees,
            "{user}: scope's list"
        );
    }
    // The village's statistics count it: its grids' buildings and those in none inside it.
    let t = login(&st, "manager").await;
    let (status, stats) = call(&st, "GET", "/api/stats?by=village", Some(&t), None, &[]).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    let placement = gridmap_server::scope::placement(&p);
    let v = p.villages.iter().position(|x| x.code == village).unwrap() as u32;
    let want = (0..p.buildings.len())
        .filter(|&b| match p.grid_of(b) {
            Some(g) => p.grid(g).unwrap().grid.village.as_deref() == Some(village.as_str()),
            None => placement.building_village[b] == v,
        })
        .count();
    assert_eq!(stats["rows"][0]["village"], json!(village));
    assert_eq!(stats["rows"][0]["buildings"], want);
    // A supervisor's village rows hold every building inside a village.
    let t = login(&st, "supervisor").await;
    let (_, stats) = call(&st, "GET", "/api/stats?by=village", Some(&t), None, &[]).await;
    let total: u64 = stats["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["buildings"].as_u64().unwrap())
        .sum();
    let outside = (0..p.buildings.len())
        .filter(|&b| {
            p.grid_of(b).is_none()
                && placement.building_village[b] == gridmap_server::scope::NO_VILLAGE
        })
        .count();
    assert_eq!(total as usize, p.buildings.len() - outside);
}

/// OAuth 2.0's password grant gives the same bearer token, for QGIS's OAuth2 authentication
/// method (Debian 12's QGIS 3.22 has no method that sets a header of one's own).
#[test]
fn the_oauth2_password_grant_gives_a_bearer_token() {
    on_each_store(served, async |st: AppState| {
        let token_request = |form: &str| {
            axum::http::Request::builder()
                .method("POST")
                .uri("/api/oauth/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(axum::body::Body::from(form.to_string()))
                .unwrap()
        };
        let (status, answer) = common::oneshot_json(
            &st,
            token_request(
                "grant_type=password&username=supervisor&password=secret-pass&client_id=qgis&scope=",
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["token_type"], "bearer");
        assert_eq!(answer["expires_in"], 12 * 3600);
        let token = answer["access_token"].as_str().unwrap();
        let (status, body) = call(
            &st,
            "GET",
            "/ogc/collections/buildings/items?limit=1",
            Some(token),
            None,
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["numberMatched"], 1321);
        for (form, code) in [
            (
                "grant_type=password&username=supervisor&password=wrong-pass",
                "invalid_grant",
            ),
            (
                "grant_type=password&username=nobody&password=secret-pass",
                "invalid_grant",
            ),
            (
                "grant_type=client_credentials&client_id=qgis",
                "unsupported_grant_type",
            ),
            ("grant_type=password&username=supervisor", "invalid_request"),
        ] {
            let (status, answer) = common::oneshot_json(&st, token_request(form)).await;
            assert_eq!(
                (status, answer["error"].as_str()),
                (StatusCode::BAD_REQUEST, Some(code)),
                "{form}"
            );
            assert!(
                !answer.to_string().contains("-pass") && !answer.to_string().contains("nobody"),
                "nothing typed is echoed: {answer}"
            );
        }
        // A JSON body is not a form.
        let (status, answer) = call(
            &st,
            "POST",
            "/api/oauth/token",
            None,
            Some(
                json!({"grant_type": "password", "username": "supervisor", "password": "secret-pass"}),
            ),
            &[],
        )
        .await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_request"))
        );
    });
}

/// Every queryable filters on the value the items carry: for each collection and queryable,
/// the items a filter answers are those whose property, as read by the client, equals it
/// (null and absent read as the empty value).
#[test]
fn filters_match_the_properties_as_answered() {
    on_each_store(served, async |st: AppState| {
        let t = login(&st, "admin").await;
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let mut checked = 0;
        for collection in [
            "grids",
            "buildings",
            "addresses",
            "visits",
            "roads",
            "water",
        ] {
            let (_, q) = call(
                &st,
                "GET",
                &format!("/ogc/collections/{collection}/queryables"),
                Some(&t),
                None,
                &[],
            )
            .await;
            let names: Vec<String> = q["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            let (_, all) = call(
                &st,
                "GET",
                &format!("/ogc/collections/{collection}/items?limit=10000"),
                Some(&t),
                None,
                &[],
            )
            .await;
            let features = all["features"].as_array().unwrap();
            for name in &names {
                let mut values: Vec<String> = features
                    .iter()
                    .map(|f| text(&f["properties"][name.as_str()]))
                    .collect();
                values.sort();
                values.dedup();
                for value in values.iter().take(4) {
                    let want: Vec<&str> = features
                        .iter()
                        .filter(|f| text(&f["properties"][name.as_str()]) == *value)
                        .map(|f| f["id"].as_str().unwrap())
                        .collect();
                    let uri = format!(
                        "/ogc/collections/{collection}/items?limit=10000&{name}={}",
                        value
                            .replace('&', "%26")
                            .replace(' ', "%20")
                            .replace('#', "%23")
                    );
                    let (status, got) = call(&st, "GET", &uri, Some(&t), None, &[]).await;
                    assert_eq!(status, StatusCode::OK, "{uri}: {got}");
                    let got: Vec<&str> = got["features"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|f| f["id"].as_str().unwrap())
                        .collect();
                    assert_eq!(got, want, "{uri}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 20, "{checked} filters checked");
    });
}
