//! Snapping: vertices of different grids (and of the boundary) closer than the tolerance are
//! made one, and a vertex closer than the tolerance to another grid's edge moves onto that
//! edge and is inserted into it, so that every shared edge has the same vertices on both
//! sides. Edges never bend: only vertices move, by less than the tolerance.
//!
//! Distances are measured in one local metre frame ([`LocalMetres`]) at the centre of the
//! input; coordinates are only ever copied, never recomputed through the frame, so a vertex
//! that does not move keeps its exact lon/lat.

use std::collections::HashMap;

use geo::{Coord, LineString, MultiPolygon, Polygon};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};

use crate::geodesy::LocalMetres;

/// Who owns a vertex: a grid (by position) or the boundary, which never moves.
pub(super) const BOUNDARY: u32 = u32::MAX;

/// A vertex of a ring, rings without their closing point.
#[derive(Debug, Clone, Copy)]
struct VertexRef {
    owner: u32,
    poly: u32,
    ring: u32,
    idx: u32,
}

/// What snapping did to one grid.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Snapped {
    /// Vertices moved onto a neighbour's vertex or edge.
    pub moved: usize,
    /// Vertices inserted into its edges where a neighbour's vertex lies on them.
    pub inserted: usize,
}

/// Rings of a multipolygon without closing points, by polygon then ring (exterior first).
fn open_rings(mp: &MultiPolygon) -> Vec<Vec<Vec<Coord>>> {
    mp.0.iter()
        .map(|p| {
            std::iter::once(p.exterior())
                .chain(p.interiors())
                .map(|r| {
                    let mut c = r.0.clone();
                    if c.len() > 1 && c.first() == c.last() {
                        c.pop();
                    }
                    c
                })
                .collect()
        })
        .collect()
}

fn close_rings(rings: Vec<Vec<Vec<Coord>>>) -> MultiPolygon {
    MultiPolygon(
        rings
            .into_iter()
            .map(|poly| {
                let mut rs = poly.into_iter().map(|r| {
                    let mut r = clean_ring(r);
                    if let Some(&first) = r.first() {
                        r.push(first);
                    }
                    LineString(r)
                });
                let exterior = rs.next().unwrap_or_else(|| LineString(vec![]));
                Polygon::new(exterior, rs.collect())
            })
            .collect(),
    )
}

/// `r` (open) without repeated points and without spikes: a vertex where the ring turns
/// straight back (within a millionth of a radian) goes, and so on until none is left.
fn clean_ring(mut r: Vec<Coord>) -> Vec<Coord> {
    let mut changed = true;
    while changed && r.len() >= 3 {
        changed = false;
        r.dedup();
        while r.len() > 1 && r.first() == r.last() {
            r.pop();
        }
        let n = r.len();
        if n < 3 {
            break;
        }
        for k in 0..n {
            let (a, b, c) = (r[(k + n - 1) % n], r[k], r[(k + 1) % n]);
            let (u, v) = (a - b, c - b);
            let cross = u.x * v.y - u.y * v.x;
            let dot = u.x * v.x + u.y * v.y;
            let (lu, lv) = (u.x.hypot(u.y), v.x.hypot(v.y));
            if dot > 0.0 && cross.abs() <= 1e-6 * lu * lv {
                r.remove(k);
                changed = true;
                break;
            }
        }
    }
    r.dedup();
    r
}

/// `mp` with every ring cleaned of repeated points and spikes (see [`clean_ring`]).
pub(super) fn clean(mp: &MultiPolygon) -> MultiPolygon {
    close_rings(open_rings(mp))
}

type Rings = Vec<Vec<Vec<Coord>>>;

/// Every owner's rings: the grids by position, then the boundary.
fn owners<'r>(
    rings: &'r [Rings],
    boundary: &'r Rings,
) -> impl Iterator<Item = (u32, &'r Rings)> + 'r {
    rings
        .iter()
        .enumerate()
        .map(|(g, r)| (g as u32, r))
        .chain(std::iter::once((BOUNDARY, boundary)))
}

/// Union–find with path halving.
fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// Snaps `grids` to each other and to `boundary` within `tol_m` metres. `prefer(g)` ranks
/// grids whose vertices should win a cluster (lower first; the boundary always wins), so that
/// vertices that an overlay did not round stay where they are. Answers what happened to
/// each grid.
pub(super) fn snap(
    grids: &mut [MultiPolygon],
    boundary: Option<&MultiPolygon>,
    tol_m: f64,
    frame: &LocalMetres,
    prefer: &dyn Fn(u32) -> u32,
) -> Vec<Snapped> {
    let mut out = vec![Snapped::default(); grids.len()];
    if tol_m <= 0.0 {
        return out;
    }
    let mut rings: Vec<Rings> = grids.iter().map(open_rings).collect();
    let boundary_rings = boundary.map(open_rings).unwrap_or_default();

    // 1. Vertices of different owners within the tolerance become one.
    let mut verts: Vec<(VertexRef, Coord)> = Vec::new();
    for (owner, polys) in owners(&rings, &boundary_rings) {
        for (p, poly) in polys.iter().enumerate() {
            for (r, ring) in poly.iter().enumerate() {
                for (k, &c) in ring.iter().enumerate() {
                    let at = VertexRef {
                        owner,
                        poly: p as u32,
                        ring: r as u32,
                        idx: k as u32,
                    };
                    verts.push((at, c));
                }
            }
        }
    }
    let xy = |c: Coord| {
        let m = frame.project(c);
        [m.x, m.y]
    };
    let tree = RTree::bulk_load(
        verts
            .iter()
            .enumerate()
            .map(|(i, (_, c))| GeomWithData::new(xy(*c), i))
            .collect(),
    );
    let mut parent: Vec<usize> = (0..verts.len()).collect();
    for (i, (v, c)) in verts.iter().enumerate() {
        for near in tree.locate_within_distance(xy(*c), tol_m * tol_m) {
            let j = near.data;
            if verts[j].0.owner != v.owner {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                if a != b {
                    parent[a.max(b)] = a.min(b);
                }
            }
        }
    }
    // The winner of each cluster: the boundary's vertex if it has one; else the position
    // most owners already share (a vertex one grid jittered goes back to where its
    // neighbours have it); else the best ranked owner's.
    let mut members: HashMap<usize, Vec<usize>> = HashMap::new();
    for i in 0..verts.len() {
        let root = find(&mut parent, i);
        if root != i {
            members.entry(root).or_default().push(i);
        }
    }
    let mut winner: Vec<usize> = (0..verts.len()).collect();
    for (root, mut list) in members {
        if !list.contains(&root) {
            list.push(root);
        }
        let score = |i: usize| {
            let (v, c) = verts[i];
            let mut owners: Vec<u32> = list
                .iter()
                .filter(|&&j| verts[j].1 == c)
                .map(|&j| verts[j].0.owner)
                .collect();
            owners.sort_unstable();
            owners.dedup();
            let boundary = owners.contains(&BOUNDARY);
            let rank = if v.owner == BOUNDARY {
                0
            } else {
                1 + prefer(v.owner)
            };
            (
                std::cmp::Reverse(boundary),
                std::cmp::Reverse(owners.len()),
                rank,
                v.owner,
            )
        };
        if let Some(best) = list.iter().copied().min_by_key(|&i| score(i)) {
            winner[root] = best;
        }
    }
    for i in 0..verts.len() {
        let root = find(&mut parent, i);
        let (v, c) = verts[i];
        let target = verts[winner[root]].1;
        if v.owner != BOUNDARY && target != c {
            rings[v.owner as usize][v.poly as usize][v.ring as usize][v.idx as usize] = target;
            out[v.owner as usize].moved += 1;
        }
    }

    // 2. A vertex near another owner's edge goes into that edge (or, for the boundary's
    // edges, which never change, onto it).
    type EdgeBox = GeomWithData<Rectangle<[f64; 2]>, (VertexRef, Coord, Coord)>;
    let mut edges: Vec<EdgeBox> = Vec::new();
    for (owner, polys) in owners(&rings, &boundary_rings) {
        for (p, poly) in polys.iter().enumerate() {
            for (r, ring) in poly.iter().enumerate() {
                let n = ring.len();
                for k in 0..n {
                    let (a, b) = (ring[k], ring[(k + 1) % n]);
                    if a == b {
                        continue;
                    }
                    let at = VertexRef {
                        owner,
                        poly: p as u32,
                        ring: r as u32,
                        idx: k as u32,
                    };
                    edges.push(GeomWithData::new(
                        Rectangle::from_corners(xy(a), xy(b)),
                        (at, a, b),
                    ));
                }
            }
        }
    }
    let edge_tree = RTree::bulk_load(edges);
    // How many owners have a vertex at each position.
    let key = |c: Coord| (c.x.to_bits(), c.y.to_bits());
    let mut at_position: HashMap<(u64, u64), Vec<u32>> = HashMap::new();
    for (owner, polys) in owners(&rings, &boundary_rings) {
        for c in polys.iter().flatten().flatten() {
            let list = at_position.entry(key(*c)).or_default();
            if !list.contains(&owner) {
                list.push(owner);
            }
        }
    }
    let shared: HashMap<(u64, u64), usize> =
        at_position.into_iter().map(|(k, v)| (k, v.len())).collect();
    // Insertions per edge: (edge, t along it, coordinate).
    let mut inserts: Vec<(VertexRef, f64, Coord)> = Vec::new();
    let mut moves: Vec<(VertexRef, Coord)> = Vec::new();
    for (owner, polys) in owners(&rings, &boundary_rings) {
        for (p, poly) in polys.iter().enumerate() {
            for (r, ring) in poly.iter().enumerate() {
                for (k, &c) in ring.iter().enumerate() {
                    let v = VertexRef {
                        owner,
                        poly: p as u32,
                        ring: r as u32,
                        idx: k as u32,
                    };
                    let q = xy(c);
                    let env = AABB::from_corners(
                        [q[0] - tol_m, q[1] - tol_m],
                        [q[0] + tol_m, q[1] + tol_m],
                    );
                    // The nearest edge of each other owner.
                    let mut best: Vec<(u32, f64, f64, VertexRef, Coord, Coord)> = Vec::new();
                    for e in edge_tree.locate_in_envelope_intersecting(&env) {
                        let (ev, a, b) = e.data;
                        if ev.owner == owner || a == c || b == c {
                            continue;
                        }
                        let (pa, pb) = (xy(a), xy(b));
                        let d = [pb[0] - pa[0], pb[1] - pa[1]];
                        let len2 = d[0] * d[0] + d[1] * d[1];
                        let t = ((q[0] - pa[0]) * d[0] + (q[1] - pa[1]) * d[1]) / len2;
                        if !(t > 1e-9 && t < 1.0 - 1e-9) {
                            continue;
                        }
                        let dist = (q[0] - pa[0] - t * d[0]).hypot(q[1] - pa[1] - t * d[1]);
                        if dist > tol_m {
                            continue;
                        }
                        match best.iter_mut().find(|b| b.0 == ev.owner) {
                            Some(slot) if slot.1 <= dist => {}
                            Some(slot) => *slot = (ev.owner, dist, t, ev, a, b),
                            None => best.push((ev.owner, dist, t, ev, a, b)),
                        }
                    }
                    // A grid's vertex moves onto the nearest edge (the boundary's first), and
                    // goes there into every other grid's near edge too: the edges do not bend,
                    // so nothing away from the vertex changes. But a vertex that several
                    // owners share (a junction) stays, and the lone edge bends to it: moving
                    // it would bend every edge that meets there. The boundary's vertices
                    // never move.
                    best.sort_by(|x, y| {
                        (x.0 != BOUNDARY)
                            .cmp(&(y.0 != BOUNDARY))
                            .then(x.1.total_cmp(&y.1))
                    });
                    let Some(&(nearest, _, t, _, a, b)) = best.first() else {
                        continue;
                    };
                    let stays = owner == BOUNDARY
                        || (nearest != BOUNDARY && shared.get(&key(c)).copied().unwrap_or(1) > 1);
                    let to = if stays { c } else { a + (b - a) * t };
                    if to != c {
                        moves.push((v, to));
                    }
                    for &(other, _, _, ev, a, b) in &best {
                        if other != BOUNDARY {
                            let (pa, pb, q) = (xy(a), xy(b), xy(to));
                            let d = [pb[0] - pa[0], pb[1] - pa[1]];
                            let t = ((q[0] - pa[0]) * d[0] + (q[1] - pa[1]) * d[1])
                                / (d[0] * d[0] + d[1] * d[1]);
                            inserts.push((ev, t, to));
                        }
                    }
                }
            }
        }
    }
    for (v, to) in moves {
        rings[v.owner as usize][v.poly as usize][v.ring as usize][v.idx as usize] = to;
        out[v.owner as usize].moved += 1;
    }
    // Insert from the last position of each ring backwards so that positions stay true.
    inserts.sort_by(|x, y| {
        (x.0.owner, x.0.poly, x.0.ring, y.0.idx)
            .cmp(&(y.0.owner, y.0.poly, y.0.ring, x.0.idx))
            .then(y.1.total_cmp(&x.1))
    });
    for (e, _, c) in inserts {
        let ring = &mut rings[e.owner as usize][e.poly as usize][e.ring as usize];
        let at = e.idx as usize + 1;
        if ring.get(at) != Some(&c) && ring[e.idx as usize] != c {
            ring.insert(at, c);
            out[e.owner as usize].inserted += 1;
        }
    }
    for (g, r) in grids.iter_mut().zip(rings) {
        *g = close_rings(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::polygon;

    fn frame() -> LocalMetres {
        LocalMetres::at(Coord { x: 121.0, y: 31.0 })
    }

    #[test]
    fn near_vertices_become_one_and_a_vertex_near_an_edge_moves_onto_it() {
        let d = 1e-3; // about 100 m
        let e = 3e-6; // about 0.3 m
        let mut grids = vec![
            MultiPolygon(vec![polygon![
                (x: 121.0, y: 31.0), (x: 121.0 + d, y: 31.0),
                (x: 121.0 + d, y: 31.0 + d), (x: 121.0, y: 31.0 + d)]]),
            // Its left edge is the first grid's right edge, its corners 0.3 m off, and a
            // vertex in the middle of the edge that the first grid lacks.
            MultiPolygon(vec![polygon![
                (x: 121.0 + d + e, y: 31.0 - e), (x: 121.0 + 2.0 * d, y: 31.0),
                (x: 121.0 + 2.0 * d, y: 31.0 + d), (x: 121.0 + d - e, y: 31.0 + d),
                (x: 121.0 + d + e, y: 31.0 + d / 2.0)]]),
        ];
        let done = snap(&mut grids, None, 1.0, &frame(), &|_| 0);
        // Two corners moved onto the first grid's, the middle vertex onto its edge (and into
        // it): the first grid's edge stays straight.
        assert_eq!(done[1].moved, 3);
        assert_eq!(done[0].moved, 0);
        assert_eq!(done[0].inserted, 1);
        let first = &grids[0].0[0].exterior().0;
        let second = &grids[1].0[0].exterior().0;
        assert_eq!(
            first[1],
            Coord {
                x: 121.0 + d,
                y: 31.0
            }
        );
        assert_eq!(first[2].x, 121.0 + d);
        assert!((first[2].y - (31.0 + d / 2.0)).abs() < 1e-12);
        assert_eq!(
            first[3],
            Coord {
                x: 121.0 + d,
                y: 31.0 + d
            }
        );
        assert_eq!(second[0], first[1]);
        assert_eq!(second[3], first[3]);
        assert_eq!(second[4], first[2]);
    }

    #[test]
    fn the_boundary_never_moves() {
        let d = 1e-3;
        let e = 3e-6;
        let boundary = MultiPolygon(vec![polygon![
            (x: 121.0, y: 31.0), (x: 121.0 + d, y: 31.0),
            (x: 121.0 + d, y: 31.0 + d), (x: 121.0, y: 31.0 + d)]]);
        let mut grids = vec![MultiPolygon(vec![polygon![
            (x: 121.0 + e, y: 31.0), (x: 121.0 + d, y: 31.0 + e),
            (x: 121.0 + d, y: 31.0 + d), (x: 121.0 + d / 2.0, y: 31.0 + d + e), (x: 121.0, y: 31.0 + d)]])];
        snap(&mut grids, Some(&boundary), 1.0, &frame(), &|_| 0);
        let ring = &grids[0].0[0].exterior().0;
        assert_eq!(ring[0], Coord { x: 121.0, y: 31.0 });
        assert_eq!(
            ring[1],
            Coord {
                x: 121.0 + d,
                y: 31.0
            }
        );
        // Moved onto the top edge of the boundary.
        assert!((ring[3].y - (31.0 + d)).abs() < 1e-12);
    }
}
