//! Drawing regions: each region's outline is chained from the Voronoi edges between its sites
//! and the other sites, so neighbouring regions share exactly the same vertices (the
//! circumcentres, computed once). Solids the outline crosses are then added to their own
//! region and cut out of the others, and the result is clipped to the boundary.

use geo::orient::{Direction, Orient};
use geo::{
    Area, BooleanOps, BoundingRect, Coord, Distance, Euclidean, Intersects, LineString,
    MultiPolygon, Point, Polygon,
};
use gridmap_core::locate::{Location, PreparedArea, ring_signed_area};
use rayon::prelude::*;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree, RTreeObject};
use rustc_hash::FxHashMap;
use spade::Triangulation;
use spade::handles::FixedVertexHandle;

use crate::atoms::{NONE, Site, World};

/// The geometry of every region, clipped to `boundary` (one drawing, nothing kept).
#[cfg(test)]
pub(crate) fn draw(
    world: &World,
    labels: &[u32],
    k: usize,
    boundary: &MultiPolygon,
) -> Vec<MultiPolygon> {
    Sketches::new(world, boundary).draw(world, labels, k)
}

/// Solids indexed by their bounding box, with their atom.
type SolidIndex = RTree<GeomWithData<Rectangle<[f64; 2]>, usize>>;

/// What drawing the regions of one atom graph again and again can keep: the Voronoi vertices,
/// the solids' index and the boundary, which never change, and every region's last drawing
/// before strays are absorbed, which depends on nothing but the atoms the region holds. The
/// solver draws after every hand-over it tries, and a hand-over changes a few regions.
pub(crate) struct Sketches {
    centre: Vec<Coord>,
    solids: SolidIndex,
    boundary: MultiPolygon,
    /// The labels last drawn and each region's drawing of them, before [`absorb_strays`].
    last: Option<(Vec<u32>, Vec<MultiPolygon>)>,
    /// The sites of every atom: `sites[site_start[a]..site_start[a + 1]]`.
    site_start: Vec<usize>,
    sites: Vec<FixedVertexHandle>,
}

impl Sketches {
    pub(crate) fn new(world: &World, boundary: &MultiPolygon) -> Self {
        let dt = &world.dt;
        let faces: Vec<_> = dt.inner_faces().collect();
        let centres: Vec<Coord> = faces
            .par_iter()
            .map(|f| {
                let c = f.circumcenter();
                world.unproject(Coord { x: c.x, y: c.y })
            })
            .collect();
        let mut centre = vec![Coord::zero(); dt.num_all_faces()];
        for (f, c) in faces.iter().zip(centres) {
            centre[f.fix().index()] = c;
        }
        let solids = RTree::bulk_load(
            world
                .atoms
                .iter()
                .enumerate()
                .filter_map(|(a, atom)| {
                    let r = atom.solid.as_ref()?.bounding_rect()?;
                    Some(GeomWithData::new(
                        Rectangle::from_corners(r.min().into(), r.max().into()),
                        a,
                    ))
                })
                .collect(),
        );
        let mut site_start = vec![0usize; world.atoms.len() + 1];
        for v in dt.vertices() {
            let a = v.data().atom;
            if a != NONE {
                site_start[a as usize + 1] += 1;
            }
        }
        for a in 0..world.atoms.len() {
            site_start[a + 1] += site_start[a];
        }
        let mut next = site_start.clone();
        let mut sites = vec![FixedVertexHandle::from_index(0); site_start[world.atoms.len()]];
        for v in dt.vertices() {
            let a = v.data().atom;
            if a != NONE {
                sites[next[a as usize]] = v.fix();
                next[a as usize] += 1;
            }
        }
        Sketches {
            centre,
            solids,
            boundary: boundary.orient(Direction::Default),
            last: None,
            site_start,
            sites,
        }
    }

    /// The geometry of every region, clipped to the boundary; only the regions whose atoms
    /// changed since the last drawing are drawn anew.
    ///
    /// # Performance
    /// One pass over the labels and the Delaunay edges, then per changed region (in parallel)
    /// one overlay of the outline with the solids along it and the boundary.
    pub(crate) fn draw(&mut self, world: &World, labels: &[u32], k: usize) -> Vec<MultiPolygon> {
        let mut dirty = vec![true; k];
        if let Some((last, raw)) = &self.last
            && last.len() == labels.len()
            && raw.len() == k
        {
            dirty.fill(false);
            for (&was, &is) in last.iter().zip(labels) {
                if was != is {
                    for r in [was, is] {
                        if r != NONE {
                            dirty[r as usize] = true;
                        }
                    }
                }
            }
        }
        let region_of = |atom: u32| {
            if atom == NONE {
                NONE
            } else {
                labels[atom as usize]
            }
        };
        let mut segments: Vec<Vec<(usize, usize)>> = vec![Vec::new(); k];
        let mut add = |e: spade::handles::DirectedEdgeHandle<'_, Site, (), (), ()>| {
            let r = region_of(e.from().data().atom);
            if r == NONE || !dirty[r as usize] || r == region_of(e.to().data().atom) {
                return;
            }
            // The region lies left of its outline: from the right face's centre to the left's.
            let start = e.rev().face().fix().index();
            let end = e.face().fix().index();
            if start != end {
                segments[r as usize].push((start, end));
            }
        };
        if dirty.iter().filter(|&&d| d).count() * 4 > k {
            // Much of the town: one pass over the edges in memory order.
            world.dt.directed_edges().for_each(&mut add);
        } else {
            // A few regions: the edges out of their atoms' sites.
            for (a, &r) in labels.iter().enumerate() {
                if r != NONE && dirty[r as usize] {
                    for &v in &self.sites[self.site_start[a]..self.site_start[a + 1]] {
                        world.dt.vertex(v).out_edges().for_each(&mut add);
                    }
                }
            }
        }
        let mut raw = match self.last.take() {
            Some((_, raw)) if raw.len() == k => raw,
            _ => vec![MultiPolygon(vec![]); k],
        };
        let drawn: Vec<(usize, MultiPolygon)> = segments
            .into_par_iter()
            .enumerate()
            .filter(|(r, _)| dirty[*r])
            .map(|(r, segs)| (r, self.region(world, labels, r, segs)))
            .collect();
        for (r, grid) in drawn {
            raw[r] = grid;
        }
        let mut grids = raw.clone();
        self.last = Some((labels.to_vec(), raw));
        absorb_strays(world, labels, &mut grids);
        grids
    }

    /// Region `r` drawn from its outline's segments `segs`: the solids the outline crosses
    /// added when they are the region's and cut out when not, clipped to the boundary.
    fn region(
        &self,
        world: &World,
        labels: &[u32],
        r: usize,
        mut segs: Vec<(usize, usize)>,
    ) -> MultiPolygon {
        segs.sort_unstable();
        let outline = chain(&segs, &self.centre);
        if outline.0.is_empty() {
            return outline;
        }
        // Solids crossed by the outline.
        let lines: Vec<Rectangle<[f64; 2]>> = outline
            .0
            .iter()
            .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
            .flat_map(|ring| ring.lines())
            .map(|l| Rectangle::from_corners(l.start.into(), l.end.into()))
            .collect();
        let line_tree = RTree::bulk_load(lines);
        let mut own: Vec<Polygon> = Vec::new();
        let mut others: Vec<Polygon> = Vec::new();
        if let Some(bb) = outline.bounding_rect() {
            let env = AABB::from_corners(bb.min().into(), bb.max().into());
            for s in self.solids.locate_in_envelope_intersecting(&env) {
                let e = s.geom().envelope();
                if line_tree
                    .locate_in_envelope_intersecting(&e)
                    .next()
                    .is_none()
                {
                    continue;
                }
                let a = s.data;
                let Some(solid) = world.atoms[a].solid.as_ref() else {
                    continue;
                };
                if labels[a] as usize == r {
                    own.extend(solid.0.iter().cloned());
                } else {
                    others.extend(solid.0.iter().cloned());
                }
            }
        }
        let mut grid = outline;
        if !own.is_empty() {
            grid = grid.union(&MultiPolygon(own));
        }
        if !others.is_empty() {
            grid = grid.difference(&MultiPolygon(others));
        }
        grid.intersection(&self.boundary)
    }
}

/// Hands every stray piece of a region (a sliver cut off by another region's solid or by the
/// boundary, holding none of the region's atoms) to the neighbouring region it shares most
/// vertices with, so that every grid is one polygon and the coverage stays exact.
fn absorb_strays(world: &World, labels: &[u32], grids: &mut [MultiPolygon]) {
    let k = grids.len();
    for r in 0..k {
        if grids[r].0.len() <= 1 {
            continue;
        }
        let (mut keep, mut strays): (Vec<Polygon>, Vec<Polygon>) = (Vec::new(), Vec::new());
        for piece in std::mem::take(&mut grids[r].0) {
            if holds_an_atom(world, labels, r as u32, &piece) {
                keep.push(piece);
            } else {
                strays.push(piece);
            }
        }
        if keep.is_empty() {
            // Nothing of the region is recognisable: keep its largest piece.
            strays.sort_by(|a, b| a.unsigned_area().total_cmp(&b.unsigned_area()));
            keep.extend(strays.pop());
        }
        grids[r] = MultiPolygon(keep);
        for piece in strays {
            match neighbour_of_piece(grids, r, &piece) {
                Some(q) => grids[q] = grids[q].union(&MultiPolygon(vec![piece])),
                None => grids[r].0.push(piece),
            }
        }
    }
}

/// The region other than `r` that shares most of the vertices of `piece` (within ~1 cm: the
/// overlay that cut it off computes the shared vertices of both sides separately).
fn neighbour_of_piece(grids: &[MultiPolygon], r: usize, piece: &Polygon) -> Option<usize> {
    let near = 1e-7;
    let shared = |q: usize| -> usize {
        let g = &grids[q];
        let Some(b) = g.bounding_rect() else {
            return 0;
        };
        piece
            .exterior()
            .0
            .iter()
            .filter(|&&c| {
                c.x >= b.min().x - near
                    && c.x <= b.max().x + near
                    && c.y >= b.min().y - near
                    && c.y <= b.max().y + near
                    && Euclidean.distance(&Point(c), g) < near
            })
            .count()
    };
    (0..grids.len())
        .filter(|&q| q != r)
        .map(|q| (shared(q), q))
        .filter(|&(n, _)| n > 0)
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
        .map(|(_, q)| q)
}

/// Regions drawn in several pieces that each hold atoms (the atom graph joins them through a
/// corridor that another region's solid or the boundary closes): the atoms whose cell centre
/// lies in a piece other than the largest, each with the neighbouring region to go to.
pub(crate) fn detached(world: &World, labels: &[u32], grids: &[MultiPolygon]) -> Vec<(usize, u32)> {
    let mut moves = Vec::new();
    for (r, grid) in grids.iter().enumerate() {
        if grid.0.len() <= 1 {
            continue;
        }
        let mut pieces: Vec<&Polygon> = grid.0.iter().collect();
        pieces.sort_by(|a, b| b.unsigned_area().total_cmp(&a.unsigned_area()));
        for piece in &pieces[1..] {
            if !holds_an_atom(world, labels, r as u32, piece) {
                continue;
            }
            let Some(q) = neighbour_of_piece(grids, r, piece) else {
                continue;
            };
            let area = PreparedArea::new(&MultiPolygon(vec![(*piece).clone()]));
            for (a, atom) in world.atoms.iter().enumerate() {
                let c = if atom.area > 0.0 {
                    atom.centre
                } else {
                    atom.pos
                };
                if labels[a] == r as u32 && area.locate(world.unproject(c)) == Location::Inside {
                    moves.push((a, q as u32));
                }
            }
        }
    }
    moves
}

/// Does `piece` hold an atom of region `r`: a point of its solid, or its sites' mean?
fn holds_an_atom(world: &World, labels: &[u32], r: u32, piece: &Polygon) -> bool {
    let Some(bb) = piece.bounding_rect() else {
        return false;
    };
    let area = PreparedArea::new(&MultiPolygon(vec![piece.clone()]));
    world.atoms.iter().enumerate().any(|(a, atom)| {
        if labels[a] != r || atom.buildings.is_empty() {
            return false;
        }
        match &atom.solid {
            Some(solid) => {
                solid.bounding_rect().is_some_and(|s| s.intersects(&bb))
                    && solid
                        .0
                        .iter()
                        .flat_map(|p| p.exterior().0.iter())
                        .any(|&c| area.locate(c) == Location::Inside)
            }
            None => area.locate(world.unproject(atom.pos)) == Location::Inside,
        }
    })
}

/// Chains directed segments (face → face) into rings; counter-clockwise rings are exteriors,
/// clockwise ones holes, put in the smallest exterior that holds them.
fn chain(segs: &[(usize, usize)], centre: &[Coord]) -> MultiPolygon {
    let next: FxHashMap<usize, usize> = segs.iter().copied().collect();
    let mut used: FxHashMap<usize, bool> = FxHashMap::default();
    let mut exteriors: Vec<(f64, LineString)> = Vec::new();
    let mut holes: Vec<LineString> = Vec::new();
    for &(start, _) in segs {
        if used.contains_key(&start) {
            continue;
        }
        let mut ring: Vec<Coord> = Vec::new();
        let mut at = start;
        loop {
            if used.insert(at, true).is_some() {
                break;
            }
            let c = centre[at];
            if ring.last() != Some(&c) {
                ring.push(c);
            }
            match next.get(&at) {
                Some(&n) => at = n,
                None => break,
            }
        }
        if ring.len() > 1 && ring.first() == ring.last() {
            ring.pop();
        }
        if ring.len() < 3 {
            continue;
        }
        ring.push(ring[0]);
        let area = ring_signed_area(&ring);
        if area > 0.0 {
            exteriors.push((area, LineString(ring)));
        } else if area < 0.0 {
            holes.push(LineString(ring));
        }
    }
    let mut polygons: Vec<(f64, Polygon)> = exteriors
        .into_iter()
        .map(|(a, r)| (a, Polygon::new(r, vec![])))
        .collect();
    polygons.sort_by(|a, b| a.0.total_cmp(&b.0));
    for hole in holes {
        // Hole vertices may touch the exterior, never leave it.
        let holds = |poly: &Polygon| {
            let ext = PreparedArea::new(&MultiPolygon(vec![Polygon::new(
                poly.exterior().clone(),
                vec![],
            )]));
            hole.0.iter().all(|&c| ext.locate(c) != Location::Outside)
        };
        if let Some((_, poly)) = polygons.iter_mut().find(|(_, poly)| holds(poly)) {
            poly.interiors_push(hole);
        }
    }
    MultiPolygon(polygons.into_iter().map(|(_, p)| p).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::tests::{label, lattice};

    /// Redrawing after a change that leaves one region's atoms alone gives what a fresh
    /// drawing gives, the untouched region included.
    #[test]
    fn a_kept_sketch_draws_what_a_fresh_drawing_draws() {
        let (world, cell, boundary) = lattice();
        // The bottom split at column `cut` into regions 0 and 1, the top rows region 2.
        let thirds =
            |cut: usize| move |i: usize, j: usize| if j >= 25 { 2 } else { u32::from(i >= cut) };
        let before = label(&cell, thirds(20));
        let after = label(&cell, thirds(23));
        let mut sketches = Sketches::new(&world, &boundary);
        assert_eq!(
            sketches.draw(&world, &before, 3),
            draw(&world, &before, 3, &boundary)
        );
        let redrawn = sketches.draw(&world, &after, 3);
        assert_eq!(redrawn, draw(&world, &after, 3, &boundary));
        // Region 2 (the top, j ≥ 25) kept its atoms and its drawing; the others moved.
        assert!(
            before
                .iter()
                .zip(&after)
                .all(|(&b, &a)| (b == 2) == (a == 2))
        );
        let first = draw(&world, &before, 3, &boundary);
        assert_eq!(redrawn[2], first[2]);
        assert_ne!(redrawn[0], first[0]);
    }
}
