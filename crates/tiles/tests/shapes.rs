//! A tile written from cached shapes ([`Shapes`], [`encode_shapes`]) is byte for byte the tile
//! [`encode`] writes from the same features, whatever the geometry, the properties and the
//! features left out.

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

use geo::{Coord, Geometry, GeometryCollection, LineString, MultiPolygon, Point, Polygon};
use gridmap_tiles::{
    EncodeOptions, Feature, Layer, Shape, Shapes, TileId, Value, encode, encode_shapes,
};
use proptest::prelude::*;

/// A geometry around `tile`: kind, then coordinates as fractions of the tile (-0.5..1.5, so
/// that some fall outside it and some cross its edge).
fn geometry(tile: TileId, kind: u8, pts: &[(f64, f64)]) -> Geometry {
    let b = tile.bounds_lonlat();
    let at = |&(fx, fy): &(f64, f64)| Coord {
        x: b.min().x + fx * b.width(),
        y: b.min().y + fy * b.height(),
    };
    let ring = |pts: &[(f64, f64)]| {
        let mut c: Vec<Coord> = pts.iter().map(at).collect();
        c.push(c[0]);
        LineString::new(c)
    };
    match kind {
        0 => Geometry::Point(Point(at(&pts[0]))),
        1 => Geometry::LineString(LineString::new(pts.iter().map(at).collect())),
        2 => Geometry::Polygon(Polygon::new(ring(pts), vec![])),
        3 => Geometry::MultiPolygon(MultiPolygon(vec![
            Polygon::new(ring(&pts[..3]), vec![]),
            Polygon::new(ring(&pts[1..]), vec![]),
        ])),
        _ => Geometry::GeometryCollection(GeometryCollection(vec![
            Geometry::Point(Point(at(&pts[0]))),
            Geometry::Polygon(Polygon::new(ring(pts), vec![])),
        ])),
    }
}

fn value(v: (u8, i64)) -> Value<'static> {
    match v.0 % 4 {
        0 => Value::from(format!("s{}", v.1 % 7)),
        1 => Value::from(v.1 % 5 - 2),
        2 => Value::from(v.1 as f64 / 4.0),
        _ => Value::from(v.1 % 2 == 0),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn a_tile_from_shapes_is_the_tile_encode_writes(
        z in 12u8..19,
        shape in prop::collection::vec(
            (0u8..5, prop::collection::vec((-0.5f64..1.5, -0.5f64..1.5), 4..9)),
            0..24,
        ),
        props in prop::collection::vec(
            prop::collection::vec((0usize..4, (0u8..4, 0i64..20)), 0..5),
            24,
        ),
        keep in prop::collection::vec(any::<bool>(), 24),
    ) {
        let tile = TileId::containing(Coord { x: 121.47, y: 31.23 }, z).unwrap();
        let keys = ["id", "grid", "visit", "households"];
        let geoms: Vec<Geometry> = shape.iter().map(|(k, p)| geometry(tile, *k, p)).collect();
        let properties = |i: usize| -> Vec<(&'static str, Value<'static>)> {
            props[i].iter().map(|(k, v)| (keys[*k], value(*v))).collect()
        };
        let all: Vec<Feature> = geoms
            .iter()
            .enumerate()
            .map(|(i, g)| Feature { id: i as u64 * 3 + 1, geometry: Shape::from(g), properties: vec![] })
            .collect();
        let opts = EncodeOptions::default();
        let shapes = Shapes::new(tile, &all, &opts);
        let from_shapes = encode_shapes("buildings", &shapes, |id, out| {
            let i = (id as usize - 1) / 3;
            if keep[i] {
                out.extend(properties(i));
            } else {
                // A feature left out may have pushed some of its properties: they are dropped.
                out.extend(properties(i).into_iter().take(1));
            }
            keep[i]
        });
        let kept: Vec<Feature> = geoms
            .iter()
            .enumerate()
            .filter(|(i, _)| keep[*i])
            .map(|(i, g)| Feature { id: i as u64 * 3 + 1, geometry: Shape::from(g), properties: properties(i) })
            .collect();
        let encoded = encode(tile, &[Layer { name: "buildings", features: kept }], &opts);
        prop_assert_eq!(from_shapes, encoded);
    }
}
