//! R-tree indexes over grids, buildings and addresses.
//!
//! Each index is bulk-loaded once (`RTree::bulk_load`) with small entries: an envelope (or a
//! point) and the record's position in its slice. Records stay in the caller's `Vec`. Queries are
//! two-phase: envelope candidates from the tree, then an exact test against the prepared geometry.

use geo::{BoundingRect, Coord, Rect};
use rayon::prelude::*;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};
use smallvec::SmallVec;

use crate::interior::InteriorCells;
use crate::locate::{Location, PreparedArea};
use crate::model::{Address, Building, Footprint, Grid};

type Boxed = GeomWithData<Rectangle<[f64; 2]>, u32>;
type Pointed = GeomWithData<[f64; 2], u32>;

fn boxed(r: Rect, i: usize) -> Boxed {
    GeomWithData::new(
        Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
        i as u32,
    )
}

/// Grids by envelope, each prepared for point location.
///
/// Grids that are excluded (invalid geometry) are kept out of the tree, so no building is ever
/// assigned to them.
pub struct GridIndex<'a> {
    grids: &'a [Grid],
    prepared: Vec<Option<PreparedArea>>,
    /// Each grid's rank in code order: lists of grids come out sorted by code, so results do
    /// not depend on the order of features in the file.
    rank: Vec<u32>,
    tree: RTree<Boxed>,
    buckets: Buckets,
    /// Built on request, for assigning many buildings ([`GridIndex::with_interior_cells`]).
    pub(crate) interior: Option<InteriorCells>,
}

/// A uniform grid of cells over the grids' extent, each listing the grids whose envelope meets
/// it: locating a point is one cell lookup and a few envelope tests, cheaper than walking the
/// R-tree for the million point lookups of an assignment.
struct Buckets {
    origin: Coord,
    cell: Coord,
    nx: usize,
    ny: usize,
    start: Vec<u32>,
    items: Vec<(u32, [f64; 4])>,
}

impl Buckets {
    fn new(boxes: &[(u32, Rect)]) -> Buckets {
        let mut b = Buckets {
            origin: Coord { x: 0.0, y: 0.0 },
            cell: Coord { x: 1.0, y: 1.0 },
            nx: 1,
            ny: 1,
            start: vec![0, 0],
            items: Vec::new(),
        };
        let Some(ext) = crate::locate::bbox_of(boxes.iter().flat_map(|(_, r)| [r.min(), r.max()]))
        else {
            return b;
        };
        // About one cell per grid, shaped like the extent.
        let n = boxes.len().max(1) as f64;
        let (w, h) = (ext.width().max(1e-12), ext.height().max(1e-12));
        let nx = ((n * w / h).sqrt().ceil() as usize).clamp(1, 4096);
        let ny = ((n * h / w).sqrt().ceil() as usize).clamp(1, 4096);
        b.origin = ext.min();
        b.cell = Coord {
            x: w / nx as f64,
            y: h / ny as f64,
        };
        b.nx = nx;
        b.ny = ny;
        b.start = vec![0; nx * ny + 1];
        // Each grid with its envelope and the first and last cell it covers.
        type Span = (u32, Rect, (usize, usize), (usize, usize));
        let spans: Vec<Span> = boxes
            .iter()
            .map(|(i, r)| (*i, *r, b.cell_of(r.min()), b.cell_of(r.max())))
            .collect();
        for (_, _, (x0, y0), (x1, y1)) in &spans {
            for y in *y0..=*y1 {
                for x in *x0..=*x1 {
                    b.start[y * nx + x + 1] += 1;
                }
            }
        }
        for i in 1..b.start.len() {
            b.start[i] += b.start[i - 1];
        }
        let mut fill = b.start.clone();
        b.items = vec![(0, [0.0; 4]); b.start[nx * ny] as usize];
        for (i, r, (x0, y0), (x1, y1)) in spans {
            for y in y0..=y1 {
                for x in x0..=x1 {
                    let c = y * nx + x;
                    b.items[fill[c] as usize] = (i, [r.min().x, r.min().y, r.max().x, r.max().y]);
                    fill[c] += 1;
                }
            }
        }
        b
    }

    fn cell_of(&self, p: Coord) -> (usize, usize) {
        let x = ((p.x - self.origin.x) / self.cell.x).max(0.0) as usize;
        let y = ((p.y - self.origin.y) / self.cell.y).max(0.0) as usize;
        (x.min(self.nx - 1), y.min(self.ny - 1))
    }

    /// Grids whose envelope holds `p`.
    fn at(&self, p: Coord) -> impl Iterator<Item = u32> + '_ {
        let (x, y) = self.cell_of(p);
        let c = y * self.nx + x;
        self.items[self.start[c] as usize..self.start[c + 1] as usize]
            .iter()
            .filter(move |(_, b)| p.x >= b[0] && p.y >= b[1] && p.x <= b[2] && p.y <= b[3])
            .map(|(i, _)| *i)
    }
}

/// The grids at a point: those holding it in their interior, and those with it on their edge,
/// each list in code order. Held inline (no allocation) for up to two grids each, which is
/// every point outside a pile of overlaps.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GridsAt {
    /// Indexes of the grids holding the point in their interior (more than one: an overlap).
    pub inside: SmallVec<[u32; 2]>,
    /// Indexes of the grids with the point on their outline (a ring, holes included).
    pub on_edge: SmallVec<[u32; 2]>,
}

impl<'a> GridIndex<'a> {
    /// Indexes `grids`, leaving out those for which `excluded(i)` is true.
    ///
    /// # Performance
    /// Prepares grids in parallel; about 1 µs per grid vertex.
    pub fn new(grids: &'a [Grid], excluded: impl Fn(usize) -> bool + Sync) -> Self {
        let prepared: Vec<Option<PreparedArea>> = grids
            .par_iter()
            .enumerate()
            .map(|(i, g)| (!excluded(i)).then(|| PreparedArea::new(&g.geometry)))
            .collect();
        let entries = prepared
            .iter()
            .enumerate()
            .filter_map(|(i, p)| Some(boxed(p.as_ref()?.bbox()?, i)))
            .collect();
        let mut by_code: Vec<u32> = (0..grids.len() as u32).collect();
        by_code.sort_by(|&a, &b| grids[a as usize].code.cmp(&grids[b as usize].code));
        let mut rank = vec![0u32; grids.len()];
        for (r, &i) in by_code.iter().enumerate() {
            rank[i as usize] = r as u32;
        }
        let boxes: Vec<(u32, Rect)> = prepared
            .iter()
            .enumerate()
            .filter_map(|(i, p)| Some((i as u32, p.as_ref()?.bbox()?)))
            .collect();
        GridIndex {
            grids,
            prepared,
            rank,
            tree: RTree::bulk_load(entries),
            buckets: Buckets::new(&boxes),
            interior: None,
        }
    }

    /// Adds a raster of interior cells, so that a building lying well inside one grid is
    /// assigned from its envelope alone ([`GridIndex::inside_one`]). Worth it when assigning many
    /// buildings at once; the answers are the same with or without it.
    ///
    /// # Performance
    /// About 256 cells per grid, 4 bytes each (16 MB at most): 10,000 grids in about 40 ms.
    pub fn with_interior_cells(mut self) -> Self {
        let extent = crate::locate::bbox_of(
            self.prepared
                .iter()
                .flatten()
                .filter_map(|p| p.bbox())
                .flat_map(|r| [r.min(), r.max()]),
        );
        if let Some(extent) = extent {
            let cells = InteriorCells::new(&self.prepared, extent, |p| self.grids_at(p));
            self.interior = Some(cells);
        }
        self
    }

    /// The one grid whose interior holds the whole closed `rect`, when the interior cells
    /// decide it; `None` when they do not (or were not built): ask [`GridIndex::grids_at`].
    pub fn inside_one(&self, rect: &Rect) -> Option<u32> {
        self.interior.as_ref()?.owner_of(rect)
    }

    /// The grids indexed, excluded ones included: the indexes above point into this slice.
    pub fn grids(&self) -> &'a [Grid] {
        self.grids
    }

    /// The prepared geometry of grid `i`, `None` if it was excluded.
    pub fn prepared(&self, i: u32) -> Option<&PreparedArea> {
        self.prepared.get(i as usize)?.as_ref()
    }

    /// The grids whose interior or edge holds `p`, each list in code order.
    pub fn grids_at(&self, p: Coord) -> GridsAt {
        let mut at = GridsAt::default();
        for i in self.buckets.at(p) {
            match self.prepared[i as usize].as_ref().map(|g| g.locate(p)) {
                Some(Location::Inside) => at.inside.push(i),
                Some(Location::Boundary) => at.on_edge.push(i),
                _ => {}
            }
        }
        at.inside.sort_unstable_by_key(|&i| self.rank[i as usize]);
        at.on_edge.sort_unstable_by_key(|&i| self.rank[i as usize]);
        at
    }

    /// Indexed grids whose envelope intersects `rect`.
    pub fn grids_in(&self, rect: Rect) -> impl Iterator<Item = u32> + '_ {
        let env = AABB::from_corners([rect.min().x, rect.min().y], [rect.max().x, rect.max().y]);
        self.tree
            .locate_in_envelope_intersecting(&env)
            .map(|e| e.data)
    }

    /// Pairs `(a, b)` of indexed grids whose envelopes intersect, `a` before `b` in code order:
    /// the candidates for overlaps. A tree-to-tree join, not a loop over all pairs.
    pub fn candidate_pairs(&self) -> Vec<(u32, u32)> {
        let rank = |i: u32| self.rank[i as usize];
        let mut pairs: Vec<(u32, u32)> = self
            .tree
            .intersection_candidates_with_other_tree(&self.tree)
            .filter(|(a, b)| rank(a.data) < rank(b.data))
            .map(|(a, b)| (a.data, b.data))
            .collect();
        pairs.sort_unstable();
        pairs
    }
}

/// Buildings by footprint envelope.
pub struct BuildingIndex<'a> {
    buildings: &'a [Building],
    tree: RTree<Boxed>,
}

/// The envelope of a footprint, `None` when it is empty.
pub fn footprint_bbox(f: &Footprint) -> Option<Rect> {
    match f {
        Footprint::Area(a) => a.bounding_rect(),
        Footprint::Point(p) => Some(Rect::new(p.0, p.0)),
    }
}

impl<'a> BuildingIndex<'a> {
    /// Indexes `buildings` by the envelopes of their footprints; buildings with an empty
    /// footprint are left out.
    pub fn new(buildings: &'a [Building]) -> Self {
        let entries = buildings
            .iter()
            .enumerate()
            .filter_map(|(i, b)| Some(boxed(footprint_bbox(&b.footprint)?, i)))
            .collect();
        BuildingIndex {
            buildings,
            tree: RTree::bulk_load(entries),
        }
    }

    /// Buildings whose footprint contains `p` (interior or edge); point buildings never do.
    pub fn buildings_at(&self, p: Coord) -> Vec<u32> {
        let mut out: Vec<u32> = self
            .tree
            .locate_all_at_point(&[p.x, p.y])
            .filter(|e| match &self.buildings[e.data as usize].footprint {
                Footprint::Area(a) => PreparedArea::new(a).locate(p) != Location::Outside,
                Footprint::Point(_) => false,
            })
            .map(|e| e.data)
            .collect();
        out.sort_unstable();
        out
    }

    /// Buildings whose footprint envelope intersects `rect`, in index order.
    pub fn buildings_in(&self, rect: Rect) -> Vec<u32> {
        let env = AABB::from_corners([rect.min().x, rect.min().y], [rect.max().x, rect.max().y]);
        let mut out: Vec<u32> = self
            .tree
            .locate_in_envelope_intersecting(&env)
            .map(|e| e.data)
            .collect();
        out.sort_unstable();
        out
    }

    /// Candidates in order of envelope distance from `p` (in degrees²), for nearest searches.
    pub fn nearest_candidates(&self, p: Coord) -> impl Iterator<Item = (u32, f64)> + '_ {
        self.tree
            .nearest_neighbor_iter_with_distance_2(&[p.x, p.y])
            .map(|(e, d2)| (e.data, d2))
    }

    /// The buildings indexed: the indexes answered point into this slice.
    pub fn buildings(&self) -> &'a [Building] {
        self.buildings
    }
}

/// Standard addresses by point.
pub struct AddressIndex<'a> {
    addresses: &'a [Address],
    tree: RTree<Pointed>,
}

impl<'a> AddressIndex<'a> {
    /// Indexes `addresses` by their points.
    pub fn new(addresses: &'a [Address]) -> Self {
        let entries = addresses
            .iter()
            .enumerate()
            .map(|(i, a)| GeomWithData::new([a.point.x(), a.point.y()], i as u32))
            .collect();
        AddressIndex {
            addresses,
            tree: RTree::bulk_load(entries),
        }
    }

    /// Addresses whose point lies in `rect` (edges included), in ascending index order.
    pub fn addresses_in(&self, rect: Rect) -> Vec<u32> {
        let env = AABB::from_corners([rect.min().x, rect.min().y], [rect.max().x, rect.max().y]);
        let mut out: Vec<u32> = self.tree.locate_in_envelope(&env).map(|e| e.data).collect();
        out.sort_unstable();
        out
    }

    /// The addresses indexed: the indexes answered point into this slice.
    pub fn addresses(&self) -> &'a [Address] {
        self.addresses
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{MultiPolygon, Point, polygon};

    fn grid(code: &str, x0: f64, x1: f64) -> Grid {
        Grid {
            code: code.into(),
            name: None,
            village: None,
            geometry: MultiPolygon(vec![polygon![
                (x: x0, y: 0.), (x: x1, y: 0.), (x: x1, y: 1.), (x: x0, y: 1.)]]),
        }
    }

    #[test]
    fn grids_at_separates_interior_from_edge() {
        let grids = vec![grid("a", 0., 1.), grid("b", 1., 2.)];
        let idx = GridIndex::new(&grids, |_| false);
        assert_eq!(idx.grids_at(Coord { x: 0.5, y: 0.5 }).inside[..], [0]);
        let edge = idx.grids_at(Coord { x: 1.0, y: 0.5 });
        assert!(edge.inside.is_empty());
        assert_eq!(edge.on_edge[..], [0, 1]);
        assert_eq!(idx.candidate_pairs(), vec![(0, 1)]);
    }

    #[test]
    fn excluded_grids_are_not_found() {
        let grids = vec![grid("a", 0., 1.), grid("b", 1., 2.)];
        let idx = GridIndex::new(&grids, |i| i == 1);
        assert!(idx.grids_at(Coord { x: 1.5, y: 0.5 }).inside.is_empty());
        assert!(idx.candidate_pairs().is_empty());
    }

    #[test]
    fn addresses_and_buildings_by_point() {
        let house = Building {
            id: "h".into(),
            footprint: Footprint::Area(MultiPolygon(vec![polygon![
                (x: 0., y: 0.), (x: 1., y: 0.), (x: 1., y: 1.), (x: 0., y: 1.)]])),
            households: 1,
            floors: None,
            kind: None,
        };
        let buildings = vec![house];
        let bi = BuildingIndex::new(&buildings);
        assert_eq!(bi.buildings_at(Coord { x: 0.5, y: 0.5 }), vec![0]);
        assert!(bi.buildings_at(Coord { x: 1.5, y: 0.5 }).is_empty());
        let addresses = vec![Address {
            id: "a1".into(),
            point: Point::new(0.5, 0.5),
            text: None,
            declared_grid: None,
            declared_building: None,
        }];
        let ai = AddressIndex::new(&addresses);
        assert_eq!(ai.addresses_in(Rect::new((0., 0.), (1., 1.))), vec![0]);
    }
}
