//! The basemap reader: the demo's OSM roads and water (Tilezen properties), raw OSM tags
//! classified, and bad features named.

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

use std::path::Path;

use geo::Geometry;
use gridmap_core::model::BasemapLayer;
use gridmap_io::{Error, Fields, read_basemap};

fn raw(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/demo/raw")
        .join(name)
}

#[test]
fn the_demo_roads_and_water_read_with_their_classes() {
    let roads = read_basemap(
        &raw("roads.geojson"),
        BasemapLayer::Roads,
        &Fields::default(),
    )
    .unwrap();
    assert_eq!(roads.len(), 1094);
    assert!(roads.iter().all(|r| r.layer == BasemapLayer::Roads));
    let footways = roads
        .iter()
        .filter(|r| r.kind.as_deref() == Some("path") && r.detail.as_deref() == Some("footway"))
        .count();
    assert_eq!(footways, 202);
    assert_eq!(
        roads
            .iter()
            .filter(|r| matches!(r.geometry, Geometry::MultiLineString(_)))
            .count(),
        13
    );
    assert!(
        roads
            .iter()
            .any(|r| r.name.as_deref() == Some("中山东一路"))
    );
    let water = read_basemap(
        &raw("water.geojson"),
        BasemapLayer::Water,
        &Fields::default(),
    )
    .unwrap();
    assert_eq!(water.len(), 8);
    let suzhou = water
        .iter()
        .find(|w| w.name.as_deref() == Some("苏州河"))
        .unwrap();
    assert_eq!(suzhou.kind.as_deref(), Some("water"));
    assert!(matches!(
        suzhou.geometry,
        Geometry::Polygon(_) | Geometry::MultiPolygon(_)
    ));
}

#[test]
fn raw_osm_tags_are_classified() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("osm.geojson");
    let line = |props: &str| {
        format!(
            r#"{{"type":"Feature","properties":{props},"geometry":{{"type":"LineString","coordinates":[[121.49,31.24],[121.50,31.24]]}}}}"#
        )
    };
    let features = [
        line(r#"{"highway":"primary_link","name":"延安东路"}"#),
        line(r#"{"highway":"footway"}"#),
        line(r#"{"highway":"service"}"#),
        line(r#"{"railway":"subway"}"#),
        line(r#"{"route":"ferry"}"#),
    ];
    std::fs::write(
        &path,
        format!(
            r#"{{"type":"FeatureCollection","features":[{}]}}"#,
            features.join(",")
        ),
    )
    .unwrap();
    let roads = read_basemap(&path, BasemapLayer::Roads, &Fields::default()).unwrap();
    let classes: Vec<(Option<&str>, Option<&str>)> = roads
        .iter()
        .map(|r| (r.kind.as_deref(), r.detail.as_deref()))
        .collect();
    assert_eq!(
        classes,
        [
            (Some("major_road"), Some("primary_link")),
            (Some("path"), Some("footway")),
            (Some("minor_road"), Some("service")),
            (Some("rail"), Some("subway")),
            (Some("ferry"), None),
        ]
    );
    assert_eq!(roads[0].name.as_deref(), Some("延安东路"));
    std::fs::write(
        &path,
        format!(
            r#"{{"type":"FeatureCollection","features":[{},{}]}}"#,
            line(r#"{"waterway":"canal"}"#),
            r#"{"type":"Feature","properties":{"natural":"water","water":"lake"},"geometry":{"type":"Polygon","coordinates":[[[121.49,31.24],[121.5,31.24],[121.5,31.25],[121.49,31.24]]]}}"#
        ),
    )
    .unwrap();
    let water = read_basemap(&path, BasemapLayer::Water, &Fields::default()).unwrap();
    assert_eq!(water[0].kind.as_deref(), Some("canal"));
    assert_eq!(
        (water[1].kind.as_deref(), water[1].detail.as_deref()),
        (Some("water"), Some("lake"))
    );
}

#[test]
fn a_point_or_a_one_point_line_is_an_error_naming_the_feature() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.geojson");
    std::fs::write(
        &path,
        r#"{"type":"FeatureCollection","features":[
          {"type":"Feature","properties":{"osm_id":7,"kind":"path"},"geometry":{"type":"LineString","coordinates":[[121.49,31.24],[121.5,31.24]]}},
          {"type":"Feature","properties":{"osm_id":8,"kind":"path"},"geometry":{"type":"LineString","coordinates":[[121.49,31.24]]}}]}"#,
    )
    .unwrap();
    let err = read_basemap(&path, BasemapLayer::Roads, &Fields::default()).unwrap_err();
    assert!(
        matches!(&err, Error::Feature { index: 1, id: Some(id), .. } if id == "8"),
        "{err}"
    );
    assert!(err.to_string().contains("fewer than two points"), "{err}");
    std::fs::write(
        &path,
        r#"{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[121.49,31.24]}}"#,
    )
    .unwrap();
    let err = read_basemap(&path, BasemapLayer::Water, &Fields::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("feature 0 (id #0): geometry is a Point"),
        "{err}"
    );
}
