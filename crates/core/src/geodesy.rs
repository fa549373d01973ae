//! Metric measures of lon/lat geometry: true areas on the WGS84 ellipsoid and distances.
//!
//! Areas are geodesic (Karney's method, as in `geo::GeodesicArea`), exact to well under 0.1%
//! for any grid. Short distances (address to building, visit GPS to building) use a local
//! equirectangular frame scaled by the ellipsoid's radii of curvature at the point, within
//! 0.1% up to tens of kilometres.

use geo::orient::{Direction, Orient};
use geo::{Coord, GeodesicArea, MultiPolygon};

const A: f64 = 6_378_137.0;
const F: f64 = 1.0 / 298.257_223_563;

/// Surface area of the WGS84 ellipsoid, m².
const EARTH_M2: f64 = 510_065_621_724_088.5;

/// Geodesic area of one ring, whatever its winding. Karney's polygon area follows the ring
/// direction, and a clockwise ring measures the rest of the globe; so does a sliver whose
/// winding floating point cannot tell. No ring gridmap handles covers half the Earth, so the
/// smaller of the two answers is the area.
fn ring_m2(ring: &geo::LineString) -> f64 {
    let a = geo::Polygon::new(ring.clone(), vec![])
        .orient(Direction::Default)
        .geodesic_area_unsigned();
    if a > EARTH_M2 / 2.0 { EARTH_M2 - a } else { a }
}

/// True area in square metres, whatever the winding of the rings.
pub fn area_m2(area: &MultiPolygon) -> f64 {
    area.0
        .iter()
        .map(|p| {
            let holes: f64 = p.interiors().iter().map(ring_m2).sum();
            (ring_m2(p.exterior()) - holes).max(0.0)
        })
        .sum()
}

/// A local planar frame in metres around a reference point.
#[derive(Debug, Clone, Copy)]
pub struct LocalMetres {
    origin: Coord,
    per_deg_x: f64,
    per_deg_y: f64,
}

impl LocalMetres {
    /// The frame at `origin` (lon/lat): an equirectangular projection scaled by the WGS84
    /// ellipsoid's radii of curvature there. Exact in scale at the origin only: the east–west
    /// scale drifts with latitude away from it, so use a frame near what is measured.
    pub fn at(origin: Coord) -> Self {
        let e2 = F * (2.0 - F);
        let phi = origin.y.to_radians();
        let w = (1.0 - e2 * phi.sin().powi(2)).sqrt();
        let n = A / w; // prime vertical radius
        let m = A * (1.0 - e2) / (w * w * w); // meridional radius
        LocalMetres {
            origin,
            per_deg_x: n * phi.cos() * std::f64::consts::PI / 180.0,
            per_deg_y: m * std::f64::consts::PI / 180.0,
        }
    }

    /// Metres east and north of the origin.
    pub fn project(&self, c: Coord) -> Coord {
        Coord {
            x: (c.x - self.origin.x) * self.per_deg_x,
            y: (c.y - self.origin.y) * self.per_deg_y,
        }
    }

    /// Square metres per square degree near the origin.
    pub fn m2_per_deg2(&self) -> f64 {
        self.per_deg_x * self.per_deg_y
    }
}

/// Distance in metres from `p` to the segment `a`–`b`, in a local frame at `p`.
pub fn point_segment_distance_m(frame: &LocalMetres, p: Coord, a: Coord, b: Coord) -> f64 {
    let (p, a, b) = (frame.project(p), frame.project(a), frame.project(b));
    let d = b - a;
    let len2 = d.x * d.x + d.y * d.y;
    let t = if len2 > 0.0 {
        (((p - a).x * d.x + (p - a).y * d.y) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let q = a + d * t;
    ((p.x - q.x).powi(2) + (p.y - q.y).powi(2)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Area, polygon};

    #[test]
    fn a_hectare_in_shanghai() {
        // 100 m × 100 m square at 31.2° N, built in the local frame.
        let f = LocalMetres::at(Coord { x: 121.5, y: 31.2 });
        let (dx, dy) = (100.0 / f.per_deg_x, 100.0 / f.per_deg_y);
        let sq = polygon![(x: 121.5, y: 31.2), (x: 121.5 + dx, y: 31.2),
                          (x: 121.5 + dx, y: 31.2 + dy), (x: 121.5, y: 31.2 + dy)];
        let a = area_m2(&MultiPolygon(vec![sq.clone()]));
        assert!((a - 10_000.0).abs() < 5.0, "{a}");
        // The planar scale agrees with the geodesic area too.
        let planar = sq.unsigned_area() * f.m2_per_deg2();
        assert!((planar - a).abs() / a < 1e-3);
    }

    #[test]
    fn clockwise_rings_measure_the_same() {
        let ccw = polygon![(x: 121.0, y: 31.0), (x: 121.001, y: 31.0), (x: 121.001, y: 31.001), (x: 121.0, y: 31.001)];
        let cw = polygon![(x: 121.0, y: 31.0), (x: 121.0, y: 31.001), (x: 121.001, y: 31.001), (x: 121.001, y: 31.0)];
        let (a, b) = (
            area_m2(&MultiPolygon(vec![ccw])),
            area_m2(&MultiPolygon(vec![cw])),
        );
        assert!(
            (a - b).abs() < 1e-6 && a > 10_000.0 && a < 11_000.0,
            "{a} {b}"
        );
    }

    #[test]
    fn a_sliver_is_tiny_not_the_rest_of_the_globe() {
        let sliver = polygon![(x: 121.0, y: 31.0), (x: 121.001, y: 31.0), (x: 121.0005, y: 31.000_000_000_1)];
        let a = area_m2(&MultiPolygon(vec![sliver]));
        // The geodesic sum has an absolute error of a few hundredths of a m².
        assert!(a < 1.0, "{a}");
        let with_hole = geo::polygon!(
            exterior: [(x: 121.0, y: 31.0), (x: 121.01, y: 31.0), (x: 121.01, y: 31.01), (x: 121.0, y: 31.01)],
            interiors: [[(x: 121.002, y: 31.002), (x: 121.004, y: 31.002), (x: 121.004, y: 31.004), (x: 121.002, y: 31.004)]],
        );
        let outer = area_m2(&MultiPolygon(vec![geo::Polygon::new(
            with_hole.exterior().clone(),
            vec![],
        )]));
        let holed = area_m2(&MultiPolygon(vec![with_hole]));
        assert!(
            (outer - holed - outer * 0.04).abs() < 0.01 * outer * 0.04,
            "{outer} {holed}"
        );
    }

    #[test]
    fn distance_to_a_segment() {
        let f = LocalMetres::at(Coord { x: 121.5, y: 31.2 });
        let a = Coord { x: 121.5, y: 31.2 };
        let b = Coord { x: 121.51, y: 31.2 };
        let p = Coord {
            x: 121.505,
            y: 31.2 + 50.0 / f.per_deg_y,
        };
        assert!((point_segment_distance_m(&f, p, a, b) - 50.0).abs() < 1e-6);
    }
}
