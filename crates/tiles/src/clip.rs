//! Geometry preparation for one tile: clipping, simplification and quantisation in tile units.
//!
//! Coordinates arrive already projected to tile units as `f64` (`[0, extent]` is the tile,
//! y down). Work stays in `f64` until the last step so clipping and simplification do not
//! accumulate rounding; quantisation rounds to the integer grid and drops what collapsed.

/// A point in tile units before quantisation.
pub(crate) type P = [f64; 2];

/// An axis-aligned clip rectangle in tile units.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClipRect {
    pub min: f64,
    pub max: f64,
}

impl ClipRect {
    #[inline]
    pub fn contains(&self, p: P) -> bool {
        p[0] >= self.min && p[0] <= self.max && p[1] >= self.min && p[1] <= self.max
    }
}

/// Bounding box `[minx, miny, maxx, maxy]` of `pts`.
fn bbox(pts: &[P]) -> [f64; 4] {
    let mut b = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    for p in pts {
        b[0] = b[0].min(p[0]);
        b[1] = b[1].min(p[1]);
        b[2] = b[2].max(p[0]);
        b[3] = b[3].max(p[1]);
    }
    b
}

/// Where a shape's bbox lies relative to the clip rectangle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Relation {
    Inside,
    Outside,
    Crossing,
}

pub(crate) fn relate(pts: &[P], r: ClipRect) -> Relation {
    let b = bbox(pts);
    if b[2] < r.min || b[3] < r.min || b[0] > r.max || b[1] > r.max {
        Relation::Outside
    } else if b[0] >= r.min && b[1] >= r.min && b[2] <= r.max && b[3] <= r.max {
        Relation::Inside
    } else {
        Relation::Crossing
    }
}

/// Sutherland–Hodgman clip of a ring (no closing duplicate) against `r`, into `out`.
///
/// The result is a single ring that may run along the rectangle's edge where a concave input
/// leaves and re-enters the tile; it is closed, keeps the input's orientation and never leaves
/// the rectangle, which is what renderers need. `tmp` is scratch space.
pub(crate) fn clip_ring(ring: &[P], r: ClipRect, out: &mut Vec<P>, tmp: &mut Vec<P>) {
    out.clear();
    out.extend_from_slice(ring);
    // Four half-planes: x >= min, x <= max, y >= min, y <= max.
    for edge in 0..4 {
        if out.is_empty() {
            return;
        }
        std::mem::swap(out, tmp);
        out.clear();
        let axis = edge / 2;
        let bound = if edge % 2 == 0 { r.min } else { r.max };
        let inside = |p: &P| {
            if edge % 2 == 0 {
                p[axis] >= bound
            } else {
                p[axis] <= bound
            }
        };
        let mut prev = tmp[tmp.len() - 1];
        let mut prev_in = inside(&prev);
        for &cur in tmp.iter() {
            let cur_in = inside(&cur);
            if cur_in != prev_in {
                out.push(intersect(prev, cur, axis, bound));
            }
            if cur_in {
                out.push(cur);
            }
            prev = cur;
            prev_in = cur_in;
        }
    }
}

/// The point of segment `a`–`b` where coordinate `axis` equals `bound`.
#[inline]
fn intersect(a: P, b: P, axis: usize, bound: f64) -> P {
    let t = (bound - a[axis]) / (b[axis] - a[axis]);
    let other = 1 - axis;
    let mut p = [0.0; 2];
    p[axis] = bound;
    p[other] = a[other] + t * (b[other] - a[other]);
    p
}

/// Liang–Barsky clip of a polyline against `r`: every maximal piece inside the rectangle
/// becomes its own part, pushed to `parts` (a part is a range into `out`).
pub(crate) fn clip_line(
    line: &[P],
    r: ClipRect,
    out: &mut Vec<P>,
    parts: &mut Vec<(usize, usize)>,
) {
    out.clear();
    parts.clear();
    let mut start = 0usize;
    let finish = |out: &mut Vec<P>, start: &mut usize, parts: &mut Vec<(usize, usize)>| {
        if out.len() - *start >= 2 {
            parts.push((*start, out.len()));
        } else {
            out.truncate(*start);
        }
        *start = out.len();
    };
    for w in line.windows(2) {
        let (a, b) = (w[0], w[1]);
        match clip_segment(a, b, r) {
            Some((t0, t1)) => {
                let ca = if t0 == 0.0 { a } else { lerp(a, b, t0) };
                let cb = if t1 == 1.0 { b } else { lerp(a, b, t1) };
                if t0 > 0.0 {
                    // The line re-enters the rectangle: a new part starts.
                    finish(out, &mut start, parts);
                }
                if out.len() == start {
                    out.push(ca);
                }
                out.push(cb);
                if t1 < 1.0 {
                    finish(out, &mut start, parts);
                }
            }
            None => finish(out, &mut start, parts),
        }
    }
    finish(out, &mut start, parts);
}

#[inline]
fn lerp(a: P, b: P, t: f64) -> P {
    [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])]
}

/// Parameters `t0 <= t1` of the part of `a`–`b` inside `r`, or `None`.
fn clip_segment(a: P, b: P, r: ClipRect) -> Option<(f64, f64)> {
    let d = [b[0] - a[0], b[1] - a[1]];
    let mut t0 = 0.0f64;
    let mut t1 = 1.0f64;
    for axis in 0..2 {
        for (p, q) in [(-d[axis], a[axis] - r.min), (d[axis], r.max - a[axis])] {
            if p == 0.0 {
                if q < 0.0 {
                    return None;
                }
            } else {
                let t = q / p;
                if p < 0.0 {
                    if t > t1 {
                        return None;
                    }
                    t0 = t0.max(t);
                } else {
                    if t < t0 {
                        return None;
                    }
                    t1 = t1.min(t);
                }
            }
        }
    }
    Some((t0, t1))
}

/// Douglas–Peucker simplification of an open polyline in place, keeping both ends.
///
/// `keep` and `stack` are scratch space. Squared tolerance `sq_tol` in tile units².
pub(crate) fn simplify(
    pts: &mut Vec<P>,
    sq_tol: f64,
    keep: &mut Vec<bool>,
    stack: &mut Vec<(usize, usize)>,
) {
    let n = pts.len();
    if n <= 2 {
        return;
    }
    keep.clear();
    keep.resize(n, false);
    keep[0] = true;
    keep[n - 1] = true;
    stack.clear();
    stack.push((0, n - 1));
    while let Some((first, last)) = stack.pop() {
        let mut max_d = 0.0;
        let mut index = 0;
        for i in first + 1..last {
            let d = sq_seg_dist(pts[i], pts[first], pts[last]);
            if d > max_d {
                max_d = d;
                index = i;
            }
        }
        if max_d > sq_tol {
            keep[index] = true;
            if index - first > 1 {
                stack.push((first, index));
            }
            if last - index > 1 {
                stack.push((index, last));
            }
        }
    }
    let mut k = 0;
    for i in 0..n {
        if keep[i] {
            pts[k] = pts[i];
            k += 1;
        }
    }
    pts.truncate(k);
}

/// Squared distance from `p` to segment `a`–`b`.
#[inline]
fn sq_seg_dist(p: P, a: P, b: P) -> f64 {
    let (mut x, mut y) = (a[0], a[1]);
    let (dx, dy) = (b[0] - x, b[1] - y);
    if dx != 0.0 || dy != 0.0 {
        let t = ((p[0] - x) * dx + (p[1] - y) * dy) / (dx * dx + dy * dy);
        if t > 1.0 {
            x = b[0];
            y = b[1];
        } else if t > 0.0 {
            x += dx * t;
            y += dy * t;
        }
    }
    let (ex, ey) = (p[0] - x, p[1] - y);
    ex * ex + ey * ey
}

/// Rounds to the integer grid and drops consecutive duplicates into `out`.
pub(crate) fn quantise(pts: &[P], out: &mut Vec<[i32; 2]>) {
    out.clear();
    for p in pts {
        // Clipped coordinates lie within [-buffer, extent + buffer], far inside i32.
        let q = [p[0].round() as i32, p[1].round() as i32];
        if out.last() != Some(&q) {
            out.push(q);
        }
    }
}

/// Twice the signed area by the surveyor's formula in tile units (y down): positive means the
/// ring appears clockwise on screen, which MVT 2.1 requires of exterior rings.
pub(crate) fn signed_area2(ring: &[[i32; 2]]) -> i64 {
    let n = ring.len();
    let mut s = 0i64;
    for i in 0..n {
        let a = ring[i];
        let b = ring[(i + 1) % n];
        s += i64::from(a[0]) * i64::from(b[1]) - i64::from(b[0]) * i64::from(a[1]);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: ClipRect = ClipRect {
        min: 0.0,
        max: 10.0,
    };

    #[test]
    fn ring_straddling_an_edge_is_cut_along_it() {
        let ring = [[5.0, 2.0], [15.0, 2.0], [15.0, 8.0], [5.0, 8.0]];
        let (mut out, mut tmp) = (Vec::new(), Vec::new());
        clip_ring(&ring, R, &mut out, &mut tmp);
        assert!(out.iter().all(|p| R.contains(*p)));
        let mut q = Vec::new();
        quantise(&out, &mut q);
        assert_eq!(signed_area2(&q).abs(), 2 * 5 * 6);
    }

    #[test]
    fn ring_outside_vanishes_and_ring_around_becomes_the_rectangle() {
        let (mut out, mut tmp) = (Vec::new(), Vec::new());
        clip_ring(
            &[[20.0, 20.0], [30.0, 20.0], [30.0, 30.0]],
            R,
            &mut out,
            &mut tmp,
        );
        assert!(out.is_empty());
        clip_ring(
            &[[-5.0, -5.0], [15.0, -5.0], [15.0, 15.0], [-5.0, 15.0]],
            R,
            &mut out,
            &mut tmp,
        );
        let mut q = Vec::new();
        quantise(&out, &mut q);
        assert_eq!(signed_area2(&q), 200);
    }

    #[test]
    fn line_leaving_and_reentering_splits_into_parts() {
        let line = [
            [-5.0, 5.0],
            [5.0, 5.0],
            [5.0, 15.0],
            [8.0, 15.0],
            [8.0, 5.0],
            [20.0, 5.0],
        ];
        let (mut out, mut parts) = (Vec::new(), Vec::new());
        clip_line(&line, R, &mut out, &mut parts);
        assert_eq!(parts.len(), 2);
        assert_eq!(
            &out[parts[0].0..parts[0].1],
            &[[0.0, 5.0], [5.0, 5.0], [5.0, 10.0]]
        );
        assert_eq!(
            &out[parts[1].0..parts[1].1],
            &[[8.0, 10.0], [8.0, 5.0], [10.0, 5.0]]
        );
        clip_line(&[[20.0, 0.0], [30.0, 5.0]], R, &mut out, &mut parts);
        assert!(parts.is_empty());
    }

    #[test]
    fn douglas_peucker_drops_near_collinear_points_only() {
        let mut pts = vec![[0.0, 0.0], [5.0, 0.1], [10.0, 0.0], [10.0, 10.0]];
        let (mut k, mut s) = (Vec::new(), Vec::new());
        simplify(&mut pts, 0.25, &mut k, &mut s);
        assert_eq!(pts, vec![[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]]);
    }
}
