//! Point location against an area, and the edge index behind it.
//!
//! [`PreparedArea`] holds the rings of a polygon or multipolygon as oriented edges (exteriors
//! counter-clockwise, holes clockwise) bucketed into horizontal bands, so that locating a point
//! or finding the edges near a box touches only the edges of one or a few bands instead of the
//! whole boundary. Grids are prepared once and then queried by a million buildings.
//!
//! # Boundary semantics
//!
//! [`PreparedArea::locate`] answers [`Location::Inside`] for a point in the interior,
//! [`Location::Boundary`] for a point exactly on an edge or vertex (decided with a robust
//! orientation predicate, so there is no tolerance), and [`Location::Outside`] otherwise.
//! Holes are outside; their rings are boundary.
//!
//! ```
//! use geo::{polygon, MultiPolygon};
//! use gridmap_core::locate::{Location, PreparedArea};
//!
//! let square = polygon![(x: 0., y: 0.), (x: 4., y: 0.), (x: 4., y: 4.), (x: 0., y: 4.)];
//! let area = PreparedArea::new(&MultiPolygon(vec![square]));
//! assert_eq!(area.locate((1.0, 1.0).into()), Location::Inside);
//! assert_eq!(area.locate((4.0, 2.0).into()), Location::Boundary);
//! assert_eq!(area.locate((5.0, 2.0).into()), Location::Outside);
//! ```

use geo::kernels::{Kernel, Orientation, RobustKernel};
use geo::{Coord, MultiPolygon, Rect};

/// Where a point lies relative to an area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// In the interior of the area.
    Inside,
    /// Exactly on one of its rings (exterior or hole), decided by a robust orientation test.
    Boundary,
    /// Outside it, or in one of its holes.
    Outside,
}

/// One oriented boundary edge: the area lies to its left.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Edge {
    /// Start of the edge, lon/lat.
    pub a: Coord,
    /// End of the edge, lon/lat.
    pub b: Coord,
}

impl Edge {
    fn min_y(&self) -> f64 {
        self.a.y.min(self.b.y)
    }
    fn max_y(&self) -> f64 {
        self.a.y.max(self.b.y)
    }
    fn intersects_rect(&self, r: &Rect) -> bool {
        self.a.x.min(self.b.x) <= r.max().x
            && self.a.x.max(self.b.x) >= r.min().x
            && self.min_y() <= r.max().y
            && self.max_y() >= r.min().y
    }
}

/// An area (polygon or multipolygon) prepared for many point-location and edge queries.
///
/// # Performance
/// Building costs O(n) in the number of edges plus the band lists; a query costs O(k) in the
/// number of edges in the bands it touches, which for real boundaries is a handful.
#[derive(Debug, Clone)]
pub struct PreparedArea {
    edges: Vec<Edge>,
    band_start: Vec<u32>,
    band_edges: Vec<u32>,
    y0: f64,
    band_height: f64,
    bbox: Option<Rect>,
    planar_area: f64,
}

/// Signed planar area of a closed ring (positive when counter-clockwise), computed relative to
/// the first vertex to keep precision for lon/lat coordinates far from the origin.
pub fn ring_signed_area(ring: &[Coord]) -> f64 {
    let Some(&o) = ring.first() else { return 0.0 };
    let mut sum = 0.0;
    for w in ring.windows(2) {
        let (p, q) = (w[0] - o, w[1] - o);
        sum += p.x * q.y - q.x * p.y;
    }
    sum / 2.0
}

impl PreparedArea {
    /// Prepares `area`. Rings are re-oriented as needed; unclosed rings are treated as closed.
    pub fn new(area: &MultiPolygon) -> Self {
        let mut edges = Vec::new();
        let mut planar_area = 0.0;
        for polygon in &area.0 {
            let rings = std::iter::once((polygon.exterior(), true))
                .chain(polygon.interiors().iter().map(|r| (r, false)));
            for (ring, exterior) in rings {
                // Edges are read straight from the ring (no copy): pairs (i, i + 1 mod n) close
                // an unclosed ring, and a closed one's last pair is a zero-length edge, skipped.
                let r = &ring.0[..];
                let n = r.len();
                if n < 3 {
                    continue;
                }
                let next = |i: usize| r[(i + 1) % n];
                let o = r[0];
                let mut twice = 0.0;
                for (i, &c) in r.iter().enumerate() {
                    let (p, q) = (c - o, next(i) - o);
                    twice += p.x * q.y - q.x * p.y;
                }
                let signed = twice / 2.0;
                planar_area += if exterior {
                    signed.abs()
                } else {
                    -signed.abs()
                };
                let edge = |a: Coord, b: Coord| (a != b).then_some(Edge { a, b });
                if (signed < 0.0) == exterior {
                    edges.extend((0..n).rev().filter_map(|i| edge(next(i), r[i])));
                } else {
                    edges.extend((0..n).filter_map(|i| edge(r[i], next(i))));
                }
            }
        }
        Self::from_edges(edges, planar_area)
    }

    fn from_edges(edges: Vec<Edge>, planar_area: f64) -> Self {
        let bbox = bbox_of(edges.iter().flat_map(|e| [e.a, e.b]));
        let Some(rect) = bbox else {
            return PreparedArea {
                edges,
                band_start: vec![0, 0],
                band_edges: Vec::new(),
                y0: 0.0,
                band_height: 1.0,
                bbox,
                planar_area,
            };
        };
        // About one band per two edges keeps band lists short for long boundaries; small
        // polygons get a single band.
        let bands = (edges.len() / 2).clamp(1, 1 << 16);
        let height = rect.height();
        let band_height = if height > 0.0 {
            height / bands as f64
        } else {
            1.0
        };
        let y0 = rect.min().y;
        let band_of = |y: f64| (((y - y0) / band_height) as usize).min(bands - 1);
        let mut counts = vec![0u32; bands + 1];
        for e in &edges {
            for b in band_of(e.min_y())..=band_of(e.max_y()) {
                counts[b + 1] += 1;
            }
        }
        for i in 1..counts.len() {
            counts[i] += counts[i - 1];
        }
        let mut fill = counts.clone();
        let mut band_edges = vec![0u32; counts[bands] as usize];
        for (i, e) in edges.iter().enumerate() {
            for b in band_of(e.min_y())..=band_of(e.max_y()) {
                band_edges[fill[b] as usize] = i as u32;
                fill[b] += 1;
            }
        }
        PreparedArea {
            edges,
            band_start: counts,
            band_edges,
            y0,
            band_height,
            bbox,
            planar_area,
        }
    }

    /// The bounding box of the area, `None` when it has no edges.
    pub fn bbox(&self) -> Option<Rect> {
        self.bbox
    }

    /// Planar area in the units of the coordinates (square degrees for lon/lat).
    pub fn planar_area(&self) -> f64 {
        self.planar_area
    }

    /// All oriented edges.
    pub fn edges(&self) -> &[Edge] {
        &self.edges
    }

    fn bands(&self) -> usize {
        self.band_start.len() - 1
    }

    fn band_of(&self, y: f64) -> usize {
        let b = ((y - self.y0) / self.band_height).max(0.0) as usize;
        b.min(self.bands() - 1)
    }

    fn band(&self, b: usize) -> &[u32] {
        &self.band_edges[self.band_start[b] as usize..self.band_start[b + 1] as usize]
    }

    /// Locates `p` relative to the area.
    pub fn locate(&self, p: Coord) -> Location {
        let Some(bbox) = self.bbox else {
            return Location::Outside;
        };
        if p.x < bbox.min().x || p.x > bbox.max().x || p.y < bbox.min().y || p.y > bbox.max().y {
            return Location::Outside;
        }
        let mut inside = false;
        for &i in self.band(self.band_of(p.y)) {
            let e = self.edges[i as usize];
            // Half-open rule on y: an edge counts when p.y is in [min_y, max_y).
            let upward = e.a.y <= p.y && p.y < e.b.y;
            let downward = e.b.y <= p.y && p.y < e.a.y;
            if upward || downward {
                // The crossing is wholly east or west of `p`: the orientation is known without
                // the predicate (east: no crossing of the ray; west: one).
                if e.a.x.max(e.b.x) < p.x {
                    continue;
                }
                if e.a.x.min(e.b.x) > p.x {
                    inside = !inside;
                    continue;
                }
                match RobustKernel::orient2d(e.a, e.b, p) {
                    Orientation::Collinear => return Location::Boundary,
                    Orientation::CounterClockwise if upward => inside = !inside,
                    Orientation::Clockwise if downward => inside = !inside,
                    _ => {}
                }
            } else if on_segment(e, p) {
                return Location::Boundary;
            }
        }
        if inside {
            Location::Inside
        } else {
            Location::Outside
        }
    }

    /// Calls `f` once for each edge whose bounding box intersects `rect`.
    pub fn for_each_edge_in(&self, rect: &Rect, mut f: impl FnMut(&Edge)) {
        let Some(bbox) = self.bbox else { return };
        if rect.max().y < bbox.min().y
            || rect.min().y > bbox.max().y
            || rect.max().x < bbox.min().x
            || rect.min().x > bbox.max().x
        {
            return;
        }
        let first = self.band_of(rect.min().y);
        let last = self.band_of(rect.max().y);
        for b in first..=last {
            for &i in self.band(b) {
                let e = &self.edges[i as usize];
                // Report an edge from the first band both it and the query reach, so that
                // edges spanning several bands are reported once.
                if e.intersects_rect(rect) && self.band_of(e.min_y()).max(first) == b {
                    f(e);
                }
            }
        }
    }

    /// Whether any edge meets `rect` (closed): its bounding box intersects `rect` and the corners
    /// of `rect` do not all lie strictly on one side of its line (decided with the robust
    /// orientation predicate, so there is no tolerance). Stops at the first. Sharper than
    /// [`has_edge_in`](Self::has_edge_in) for slanted edges passing a small box.
    pub fn has_edge_meeting(&self, rect: &Rect) -> bool {
        let corners = [
            rect.min(),
            Coord {
                x: rect.max().x,
                y: rect.min().y,
            },
            rect.max(),
            Coord {
                x: rect.min().x,
                y: rect.max().y,
            },
        ];
        let mut found = false;
        self.for_each_edge_in(rect, |e| {
            if found {
                return;
            }
            let side = |c: Coord| RobustKernel::orient2d(e.a, e.b, c);
            let first = side(corners[0]);
            found =
                first == Orientation::Collinear || corners[1..].iter().any(|&c| side(c) != first);
        });
        found
    }

    /// Whether any edge's bounding box intersects `rect`; stops at the first.
    pub fn has_edge_in(&self, rect: &Rect) -> bool {
        let Some(bbox) = self.bbox else { return false };
        if rect.max().y < bbox.min().y
            || rect.min().y > bbox.max().y
            || rect.max().x < bbox.min().x
            || rect.min().x > bbox.max().x
        {
            return false;
        }
        (self.band_of(rect.min().y)..=self.band_of(rect.max().y)).any(|b| {
            self.band(b)
                .iter()
                .any(|&i| self.edges[i as usize].intersects_rect(rect))
        })
    }
}

fn on_segment(e: Edge, p: Coord) -> bool {
    p.x >= e.a.x.min(e.b.x)
        && p.x <= e.a.x.max(e.b.x)
        && p.y >= e.min_y()
        && p.y <= e.max_y()
        && RobustKernel::orient2d(e.a, e.b, p) == Orientation::Collinear
}

/// Bounding box of a set of coordinates, `None` when empty.
pub fn bbox_of(coords: impl IntoIterator<Item = Coord>) -> Option<Rect> {
    let mut it = coords.into_iter();
    let first = it.next()?;
    let (mut min, mut max) = (first, first);
    for c in it {
        min.x = min.x.min(c.x);
        min.y = min.y.min(c.y);
        max.x = max.x.max(c.x);
        max.y = max.y.max(c.y);
    }
    Some(Rect::new(min, max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Polygon, polygon};

    fn prepared(p: Polygon) -> PreparedArea {
        PreparedArea::new(&MultiPolygon(vec![p]))
    }

    #[test]
    fn holes_are_outside_and_their_rings_are_boundary() {
        let with_hole = polygon!(
            exterior: [(x: 0., y: 0.), (x: 10., y: 0.), (x: 10., y: 10.), (x: 0., y: 10.)],
            interiors: [[(x: 4., y: 4.), (x: 6., y: 4.), (x: 6., y: 6.), (x: 4., y: 6.)]],
        );
        let a = prepared(with_hole);
        assert_eq!(a.locate((5., 5.).into()), Location::Outside);
        assert_eq!(a.locate((4., 5.).into()), Location::Boundary);
        assert_eq!(a.locate((2., 5.).into()), Location::Inside);
        assert!((a.planar_area() - 96.0).abs() < 1e-12);
    }

    #[test]
    fn vertices_and_horizontal_edges_are_boundary() {
        let a = prepared(polygon![(x: 0., y: 0.), (x: 4., y: 0.), (x: 2., y: 3.)]);
        assert_eq!(a.locate((0., 0.).into()), Location::Boundary);
        assert_eq!(a.locate((2., 0.).into()), Location::Boundary);
        assert_eq!(a.locate((2., 3.).into()), Location::Boundary);
        assert_eq!(a.locate((2., 1.).into()), Location::Inside);
        // On the line of the horizontal base but beyond it.
        assert_eq!(a.locate((5., 0.).into()), Location::Outside);
    }

    #[test]
    fn clockwise_input_is_reoriented() {
        let cw = polygon![(x: 0., y: 0.), (x: 0., y: 2.), (x: 2., y: 2.), (x: 2., y: 0.)];
        let a = prepared(cw);
        assert!(a.planar_area() > 0.0);
        assert!(
            a.edges()
                .iter()
                .map(|e| e.a.x * e.b.y - e.b.x * e.a.y)
                .sum::<f64>()
                > 0.0
        );
    }

    #[test]
    fn edges_in_a_box_are_reported_once() {
        // A long polygon with many bands and one long edge spanning all of them.
        let mut ring: Vec<Coord> = (0..=100)
            .map(|i| Coord {
                x: 1.0,
                y: i as f64,
            })
            .collect();
        ring.push(Coord { x: 0.0, y: 100.0 });
        ring.push(Coord { x: 0.0, y: 0.0 });
        let a = prepared(Polygon::new(ring.into(), vec![]));
        let mut seen = Vec::new();
        a.for_each_edge_in(&Rect::new((-1.0, 10.5), (0.5, 60.5)), |e| seen.push(*e));
        assert_eq!(seen.len(), 1, "only the long left edge: {seen:?}");
        let mut n = 0;
        a.for_each_edge_in(&Rect::new((-1.0, 10.5), (2.0, 12.5)), |_| n += 1);
        assert_eq!(n, 1 + 3);
    }

    mod properties {
        use super::*;
        use geo::coordinate_position::{CoordPos, CoordinatePosition};
        use geo::{Intersects, Line, LineString};
        use proptest::prelude::*;

        /// A simple-enough ring on a small integer lattice, so that points on edges, vertices
        /// and collinear runs come up often; self-intersecting rings are fine for both sides.
        fn ring() -> impl Strategy<Value = Vec<Coord>> {
            prop::collection::vec((0i32..8, 0i32..8), 3..9).prop_map(|v| {
                v.into_iter()
                    .map(|(x, y)| Coord {
                        x: f64::from(x),
                        y: f64::from(y),
                    })
                    .collect()
            })
        }

        fn half(v: i32) -> f64 {
            f64::from(v) / 2.0
        }

        proptest! {
            /// `locate` agrees with geo's `coordinate_position` (even-odd, boundary exact) on
            /// star-shaped rings, which are simple: points sorted by angle around their centre.
            #[test]
            fn locate_agrees_with_geo(mut pts in ring(), px in 0i32..16, py in 0i32..16) {
                let n = pts.len() as f64;
                let c = pts.iter().fold(Coord { x: 0.0, y: 0.0 }, |a, &p| a + p) / n;
                pts.sort_by(|a, b| (a.y - c.y).atan2(a.x - c.x).total_cmp(&(b.y - c.y).atan2(b.x - c.x)));
                pts.dedup();
                prop_assume!(pts.len() >= 3);
                let polygon = Polygon::new(LineString::new(pts), vec![]);
                let p = Coord { x: half(px), y: half(py) };
                let ours = prepared(polygon.clone()).locate(p);
                let theirs = match polygon.coordinate_position(&p) {
                    CoordPos::Inside => Location::Inside,
                    CoordPos::OnBoundary => Location::Boundary,
                    CoordPos::Outside => Location::Outside,
                };
                prop_assert_eq!(ours, theirs);
            }

            /// `has_edge_meeting` is exactly "some edge intersects the closed box".
            #[test]
            fn has_edge_meeting_is_segment_box_intersection(
                pts in ring(), x0 in 0i32..16, y0 in 0i32..16, w in 0i32..6, h in 0i32..6,
            ) {
                let area = prepared(Polygon::new(LineString::new(pts), vec![]));
                let rect = Rect::new(
                    Coord { x: half(x0), y: half(y0) },
                    Coord { x: half(x0 + w), y: half(y0 + h) },
                );
                let brute = area.edges().iter().any(|e| Line::new(e.a, e.b).intersects(&rect));
                prop_assert_eq!(area.has_edge_meeting(&rect), brute);
                if brute {
                    prop_assert!(area.has_edge_in(&rect));
                }
            }
        }
    }
}
