//! A point guaranteed to lie inside an area: the building's location.
//!
//! The centroid of an L- or U-shaped building can fall outside it, so a building is located by a
//! point on its surface instead, found the way JTS/GEOS `InteriorPointArea` (and so Shapely's
//! `point_on_surface`, PostGIS `ST_PointOnSurface`) find it: a horizontal scan line at a height
//! between the two vertex heights that bracket the middle of the bounding box, so it meets no
//! vertex; the widest stretch of that line inside the area; its midpoint. Among the polygons of a
//! multipolygon, the widest stretch wins. Where that line meets only a zero-width stretch (an
//! invalid ring: a spike or a fold, as clamped or badly digitised footprints have), every band
//! between vertex heights is tried instead, so the point is not on the spike. Agreeing with
//! GEOS matters: supervisors compare our
//! assignment with what their desktop GIS says.
//!
//! ```
//! use geo::{polygon, MultiPolygon, Contains, Point};
//! use gridmap_core::surface::point_on_surface;
//!
//! // An L whose centroid lies outside it.
//! let l = polygon![(x: 0., y: 0.), (x: 10., y: 0.), (x: 10., y: 1.), (x: 1., y: 1.), (x: 1., y: 10.), (x: 0., y: 10.)];
//! let p = point_on_surface(&MultiPolygon(vec![l.clone()])).unwrap();
//! assert!(l.contains(&Point(p)));
//! ```

use geo::{Coord, MultiPolygon, Polygon};

/// A point strictly inside `area` (for any area with a non-zero extent), `None` when empty.
/// Degenerate (zero-area) polygons give a vertex.
///
/// # Performance
/// O(n log k) for n vertices and k crossings of the scan line; no allocation for k ≤ 16.
pub fn point_on_surface(area: &MultiPolygon) -> Option<Coord> {
    let mut best: Option<(Coord, f64)> = None;
    for polygon in &area.0 {
        if let Some((p, width)) = widest_section(polygon)
            && best.is_none_or(|(_, w)| width > w)
        {
            best = Some((p, width));
        }
    }
    best.map(|(p, _)| p)
}

fn widest_section(polygon: &Polygon) -> Option<(Coord, f64)> {
    let ext = &polygon.exterior().0;
    let first = *ext.first()?;
    let (mut min_y, mut max_y) = (first.y, first.y);
    for c in ext {
        min_y = min_y.min(c.y);
        max_y = max_y.max(c.y);
    }
    let centre = (min_y + max_y) / 2.0;
    // The scan height: midway between the nearest vertex heights at or below and above centre.
    let (mut lo, mut hi) = (min_y, max_y);
    for ring in std::iter::once(polygon.exterior()).chain(polygon.interiors()) {
        for c in &ring.0 {
            if c.y <= centre {
                if c.y > lo {
                    lo = c.y;
                }
            } else if c.y < hi {
                hi = c.y;
            }
        }
    }
    let y = (lo + hi) / 2.0;
    if let Some(section) = section_at(polygon, y).filter(|&(_, w)| w > 0.0) {
        return Some(section);
    }
    // Only an invalid ring (a spike or a fold of zero width across the middle line) gets
    // here: every band between two vertex heights is tried and the widest stretch wins.
    let mut heights: Vec<f64> = std::iter::once(polygon.exterior())
        .chain(polygon.interiors())
        .flat_map(|ring| ring.0.iter().map(|c| c.y))
        .collect();
    heights.sort_by(f64::total_cmp);
    heights.dedup();
    let mut best: Option<(Coord, f64)> = None;
    for band in heights.windows(2) {
        if let Some((p, width)) = section_at(polygon, (band[0] + band[1]) / 2.0)
            && best.is_none_or(|(_, w)| width > w)
        {
            best = Some((p, width));
        }
    }
    Some(best.unwrap_or((first, 0.0)))
}

/// The widest stretch of the horizontal line at height `y` inside `polygon`: its midpoint
/// and width.
fn section_at(polygon: &Polygon, y: f64) -> Option<(Coord, f64)> {
    let mut xs: smallvec_like::SmallF64 = Default::default();
    for ring in std::iter::once(polygon.exterior()).chain(polygon.interiors()) {
        for w in ring.0.windows(2) {
            let (a, b) = (w[0], w[1]);
            // Half-open so a vertex exactly on the line (only possible for degenerate input)
            // is counted once.
            if (a.y <= y) != (b.y <= y) {
                xs.push(a.x + (y - a.y) * (b.x - a.x) / (b.y - a.y));
            }
        }
    }
    let xs = xs.as_mut_slice();
    xs.sort_by(f64::total_cmp);
    let mut best: Option<(Coord, f64)> = None;
    for pair in xs.chunks_exact(2) {
        let width = pair[1] - pair[0];
        if best.is_none_or(|(_, w)| width > w) {
            best = Some((
                Coord {
                    x: (pair[0] + pair[1]) / 2.0,
                    y,
                },
                width,
            ));
        }
    }
    best
}

mod smallvec_like {
    /// Scan-line crossings: inline for the usual few, spilling to the heap for big rings.
    #[derive(Default)]
    pub struct SmallF64 {
        inline: [f64; 16],
        len: usize,
        heap: Vec<f64>,
    }

    impl SmallF64 {
        pub fn push(&mut self, v: f64) {
            if self.len < 16 {
                self.inline[self.len] = v;
            } else {
                if self.len == 16 {
                    self.heap.extend_from_slice(&self.inline);
                }
                self.heap.push(v);
            }
            self.len += 1;
        }
        pub fn as_mut_slice(&mut self) -> &mut [f64] {
            if self.len <= 16 {
                &mut self.inline[..self.len]
            } else {
                &mut self.heap
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Contains, Point, polygon};
    use proptest::prelude::*;

    #[test]
    fn u_shape_picks_an_arm_not_the_notch() {
        let u = polygon![(x: 0., y: 0.), (x: 9., y: 0.), (x: 9., y: 9.), (x: 6., y: 9.),
                         (x: 6., y: 3.), (x: 3., y: 3.), (x: 3., y: 9.), (x: 0., y: 9.)];
        let p = point_on_surface(&MultiPolygon(vec![u.clone()])).unwrap();
        assert!(u.contains(&Point(p)), "{p:?}");
    }

    #[test]
    fn courtyard_building_avoids_the_courtyard() {
        let ring = polygon!(
            exterior: [(x: 0., y: 0.), (x: 10., y: 0.), (x: 10., y: 10.), (x: 0., y: 10.)],
            interiors: [[(x: 2., y: 2.), (x: 8., y: 2.), (x: 8., y: 8.), (x: 2., y: 8.)]],
        );
        let p = point_on_surface(&MultiPolygon(vec![ring.clone()])).unwrap();
        assert!(ring.contains(&Point(p)), "{p:?}");
    }

    /// A footprint whose vertices were clamped onto a boundary line: a zero-width spike runs
    /// along the line across the middle height. The point lands in the building's real part,
    /// not on the spike, where a grid edge rounded a hair inside the boundary would miss it.
    #[test]
    fn a_spike_across_the_middle_is_passed_over() {
        let spiked = polygon![(x: 10., y: 0.), (x: 10., y: 10.), (x: 10., y: 9.), (x: 10., y: 3.),
                              (x: 0., y: 2.5), (x: 1., y: -1.)];
        let p = point_on_surface(&MultiPolygon(vec![spiked.clone()])).unwrap();
        assert!(spiked.contains(&Point(p)), "{p:?}");
        assert!(p.x < 9.0 && p.y < 3.0, "{p:?}");
    }

    #[test]
    fn matches_geos_on_a_simple_rectangle() {
        // GEOS gives the centre for an axis-aligned rectangle.
        let r = polygon![(x: 0., y: 0.), (x: 4., y: 0.), (x: 4., y: 2.), (x: 0., y: 2.)];
        assert_eq!(
            point_on_surface(&MultiPolygon(vec![r])),
            Some(Coord { x: 2.0, y: 1.0 })
        );
    }

    proptest! {
        #[test]
        fn always_strictly_inside_star_polygons(
            radii in prop::collection::vec(0.1f64..1.0, 3..40), phase in 0.0f64..6.3,
        ) {
            let n = radii.len();
            let ring: Vec<Coord> = radii.iter().enumerate().map(|(i, r)| {
                let t = phase + i as f64 * std::f64::consts::TAU / n as f64;
                Coord { x: 121.4 + r * 1e-3 * t.cos(), y: 31.2 + r * 1e-3 * t.sin() }
            }).collect();
            let poly = Polygon::new(ring.into(), vec![]);
            let p = point_on_surface(&MultiPolygon(vec![poly.clone()])).unwrap();
            prop_assert!(poly.contains(&Point(p)));
        }
    }
}
