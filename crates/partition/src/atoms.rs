//! Atoms, sites and the atom graph.
//!
//! An atom is what a grid edge may not cut: a building, a group of buildings whose footprints
//! overlap, or a keep-whole polygon with every building touching it. Sites are sampled along
//! atom outlines and the boundary; their Voronoi cells (the dual of a `spade` Delaunay
//! triangulation, in a local metric frame) tile the plane, and two atoms are neighbours when
//! cells of theirs share an edge inside the boundary.

use geo::orient::{Direction, Orient};
use geo::{BooleanOps, BoundingRect, Coord, Intersects, Line, MultiPolygon, Rect};
use gridmap_core::geodesy::LocalMetres;
use gridmap_core::locate::{Location, PreparedArea};
use gridmap_core::model::Footprint;
use gridmap_core::overlay::intersection_area;
use rayon::prelude::*;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};
use rustc_hash::FxHashMap;
use spade::{DelaunayTriangulation, HasPosition, Point2, Triangulation};

use crate::{PartitionError, PartitionInput, PartitionOptions};

/// Atom id of the far frame sites, which belong to no atom.
pub(crate) const NONE: u32 = u32::MAX;

/// A Delaunay site: a position in metres and the atom it belongs to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Site {
    pub x: f64,
    pub y: f64,
    pub atom: u32,
}

impl HasPosition for Site {
    type Scalar = f64;
    fn position(&self) -> Point2<f64> {
        Point2::new(self.x, self.y)
    }
}

/// What a grid edge may not cut.
#[derive(Debug, Clone)]
pub(crate) struct Atom {
    pub weight: f64,
    /// Indexes into the input buildings.
    pub buildings: Vec<usize>,
    /// Its area in lon/lat (footprints, keep-whole polygon), oriented; `None` for point
    /// buildings and boundary sites.
    pub solid: Option<MultiPolygon>,
    /// Mean of its sites, metres.
    pub pos: Coord,
    /// Area of its Voronoi cells inside the boundary, m² (each Delaunay triangle inside the
    /// boundary gives a third of its area to each corner: the barycentric dual of the cells).
    pub area: f64,
    /// Centroid of that area, metres.
    pub centre: Coord,
    /// Length of the boundary its cells hold (boundary sites only), metres.
    pub outer: f64,
}

/// The atom graph in compressed rows; costs and lengths are per neighbour entry.
#[derive(Debug, Clone, Default)]
pub(crate) struct Graph {
    pub offsets: Vec<usize>,
    pub neighbours: Vec<u32>,
    /// Cut cost: length off barriers plus `barrier_factor` × length on barriers (metres).
    pub cost: Vec<f64>,
    pub on_barrier: Vec<f64>,
    pub off_barrier: Vec<f64>,
}

impl Graph {
    pub fn range(&self, a: usize) -> std::ops::Range<usize> {
        self.offsets[a]..self.offsets[a + 1]
    }

    /// The atoms reached from `start` (itself included) over edges `e` to neighbours `b` for
    /// which `follow(e, b)` holds and `seen[b]` is not set, breadth first; marks them all in
    /// `seen`.
    pub fn flood(
        &self,
        start: usize,
        seen: &mut [bool],
        follow: impl Fn(usize, usize) -> bool,
    ) -> Vec<usize> {
        seen[start] = true;
        let mut members = vec![start];
        let mut i = 0;
        while i < members.len() {
            let a = members[i];
            i += 1;
            for e in self.range(a) {
                let b = self.neighbours[e] as usize;
                if !seen[b] && follow(e, b) {
                    seen[b] = true;
                    members.push(b);
                }
            }
        }
        members
    }

    /// Length of the edges between regions, on barriers and off them.
    pub fn cut_lengths(&self, labels: &[u32]) -> (f64, f64) {
        let (mut on, mut off) = (0.0, 0.0);
        for a in 0..labels.len() {
            for e in self.range(a) {
                let b = self.neighbours[e] as usize;
                if a < b && labels[a] != labels[b] {
                    on += self.on_barrier[e];
                    off += self.off_barrier[e];
                }
            }
        }
        (on, off)
    }
}

/// Everything the solver and the outline need.
pub(crate) struct World {
    pub frame: LocalMetres,
    origin: Coord,
    per_deg: Coord,
    pub atoms: Vec<Atom>,
    pub atom_of_building: Vec<Option<u32>>,
    pub graph: Graph,
    pub dt: DelaunayTriangulation<Site>,
    pub inside_buildings: usize,
    /// Buildings outside the boundary (or with an empty footprint).
    pub outside: Vec<usize>,
    pub sites: usize,
    /// Area of the boundary, m².
    pub area_m2: f64,
}

impl World {
    /// Metres back to lon/lat.
    pub fn unproject(&self, p: Coord) -> Coord {
        Coord {
            x: self.origin.x + p.x / self.per_deg.x,
            y: self.origin.y + p.y / self.per_deg.y,
        }
    }
}

struct UnionFind(Vec<usize>);

impl UnionFind {
    fn find(&mut self, mut a: usize) -> usize {
        while self.0[a] != a {
            self.0[a] = self.0[self.0[a]];
            a = self.0[a];
        }
        a
    }
    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            // The smaller root wins, so groups do not depend on visiting order.
            let (lo, hi) = (a.min(b), a.max(b));
            self.0[hi] = lo;
        }
    }
}

enum Shape {
    Area(MultiPolygon),
    Point(Coord),
}

fn rect_of(shape: &Shape) -> Option<Rect> {
    match shape {
        Shape::Area(a) => a.bounding_rect(),
        Shape::Point(p) => Some(Rect::new(*p, *p)),
    }
}

/// Do two items share interior (not just an edge)?
fn overlapping(a: &Shape, b: &Shape) -> bool {
    match (a, b) {
        (Shape::Point(p), Shape::Area(s)) | (Shape::Area(s), Shape::Point(p)) => {
            PreparedArea::new(s).locate(*p) == Location::Inside
        }
        (Shape::Point(p), Shape::Point(q)) => p == q,
        (Shape::Area(s), Shape::Area(t)) => {
            let (ps, pt) = (PreparedArea::new(s), PreparedArea::new(t));
            let smaller = ps.planar_area().min(pt.planar_area());
            intersection_area(&ps, &pt) > 1e-9 * smaller
        }
    }
}

/// The union of the footprints among `members` (items), `None` if they are all points.
fn solid_of(items: &[Shape], members: &[usize]) -> Option<MultiPolygon> {
    let areas: Vec<&MultiPolygon> = members
        .iter()
        .filter_map(|&i| match &items[i] {
            Shape::Area(a) => Some(a),
            Shape::Point(_) => None,
        })
        .collect();
    match areas.len() {
        0 => None,
        1 => Some(areas[0].clone()),
        _ => Some(geo::unary_union(areas.iter().flat_map(|a| a.0.iter()))),
    }
}

/// Builds atoms, sites, the triangulation and the atom graph.
///
/// # Performance
/// The triangulation is the longest step (about 2 s of the 100k town's 1.06M sites); the
/// footprints' unions are formed beside it, and the cells and the graph are read off it side
/// by side.
pub(crate) fn build(
    input: &PartitionInput,
    weights: &[f64],
    options: &PartitionOptions,
) -> Result<World, PartitionError> {
    let boundary = input.boundary.orient(Direction::Default);
    let prepared_boundary = PreparedArea::new(&boundary);
    let bbox = boundary
        .bounding_rect()
        .ok_or(PartitionError::EmptyBoundary)?;
    let origin = bbox.center();
    let frame = LocalMetres::at(origin);
    let per_deg = Coord {
        x: frame.project(origin + Coord { x: 1.0, y: 0.0 }).x,
        y: frame.project(origin + Coord { x: 0.0, y: 1.0 }).y,
    };

    // Items: the buildings inside, then the keep-whole polygons clipped to the boundary.
    let mut items: Vec<Shape> = Vec::new();
    let mut item_building: Vec<Option<usize>> = Vec::new();
    let mut outside = Vec::new();
    for (i, b) in input.buildings.iter().enumerate() {
        let inside = b
            .location()
            .is_some_and(|c| prepared_boundary.locate(c) != Location::Outside);
        if !inside {
            outside.push(i);
            continue;
        }
        items.push(match &b.footprint {
            Footprint::Area(a) => Shape::Area(a.orient(Direction::Default)),
            Footprint::Point(p) => Shape::Point(p.0),
        });
        item_building.push(Some(i));
    }
    let inside_buildings = items.len();
    for k in input.keep_whole {
        let clipped = MultiPolygon(vec![k.clone()]).intersection(&boundary);
        if !clipped.0.is_empty() {
            items.push(Shape::Area(clipped.orient(Direction::Default)));
            item_building.push(None);
        }
    }

    // Merge items that share interior.
    let mut uf = UnionFind((0..items.len()).collect());
    let boxes: Vec<GeomWithData<Rectangle<[f64; 2]>, usize>> = items
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let r = rect_of(s)?;
            Some(GeomWithData::new(
                Rectangle::from_corners(r.min().into(), r.max().into()),
                i,
            ))
        })
        .collect();
    let tree = RTree::bulk_load(boxes);
    let mut pairs: Vec<(usize, usize)> = tree
        .intersection_candidates_with_other_tree(&tree)
        .filter(|(a, b)| a.data < b.data)
        .map(|(a, b)| (a.data, b.data))
        .collect();
    pairs.par_sort_unstable();
    // Tested in parallel; the union does not depend on the order of the pairs.
    let overlaps: Vec<(usize, usize)> = pairs
        .into_par_iter()
        .filter(|&(a, b)| overlapping(&items[a], &items[b]))
        .collect();
    for (a, b) in overlaps {
        uf.union(a, b);
    }
    let mut atom_of_root: FxHashMap<usize, u32> = FxHashMap::default();
    let mut atom_of_item = vec![0u32; items.len()];
    let mut atoms: Vec<Atom> = Vec::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    for i in 0..items.len() {
        let root = uf.find(i);
        let id = *atom_of_root.entry(root).or_insert_with(|| {
            atoms.push(Atom {
                weight: 0.0,
                buildings: Vec::new(),
                solid: None,
                pos: Coord::zero(),
                area: 0.0,
                centre: Coord::zero(),
                outer: 0.0,
            });
            members.push(Vec::new());
            (atoms.len() - 1) as u32
        });
        atom_of_item[i] = id;
        members[id as usize].push(i);
        if let Some(b) = item_building[i] {
            atoms[id as usize].weight += weights[b];
            atoms[id as usize].buildings.push(b);
        }
    }
    let mut atom_of_building = vec![None; input.buildings.len()];
    for (i, b) in item_building.iter().enumerate() {
        if let Some(b) = b {
            atom_of_building[*b] = Some(atom_of_item[i]);
        }
    }

    // Sites, in metres.
    let spacing = options.sample_spacing_m.max(0.5);
    let mut sites: Vec<Site> = Vec::new();
    // Every site is followed by a piece of its ring `len / n` long.
    let sample_ring = |ring: &[Coord], atom: u32, sites: &mut Vec<Site>, pieces: &mut Vec<f64>| {
        for w in ring.windows(2) {
            let (a, b) = (frame.project(w[0]), frame.project(w[1]));
            let len = (b.x - a.x).hypot(b.y - a.y);
            let n = (len / spacing).ceil().max(1.0) as usize;
            for j in 0..n {
                let t = j as f64 / n as f64;
                let p = a + (b - a) * t;
                sites.push(Site {
                    x: p.x,
                    y: p.y,
                    atom,
                });
                pieces.push(len / n as f64);
            }
        }
    };
    let mut pieces: Vec<f64> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let atom = atom_of_item[i];
        match item {
            Shape::Point(p) => {
                let q = frame.project(*p);
                sites.push(Site {
                    x: q.x,
                    y: q.y,
                    atom,
                });
                pieces.push(0.0);
            }
            Shape::Area(a) => {
                for p in &a.0 {
                    sample_ring(&p.exterior().0, atom, &mut sites, &mut pieces);
                }
            }
        }
    }
    let first_boundary_atom = atoms.len();
    for p in &boundary.0 {
        for ring in std::iter::once(p.exterior()).chain(p.interiors()) {
            let first = sites.len();
            pieces.truncate(first);
            sample_ring(&ring.0, NONE, &mut sites, &mut pieces);
            for (s, &piece) in sites[first..].iter_mut().zip(&pieces[first..]) {
                atoms.push(Atom {
                    weight: 0.0,
                    buildings: Vec::new(),
                    solid: None,
                    pos: Coord { x: s.x, y: s.y },
                    area: 0.0,
                    centre: Coord { x: s.x, y: s.y },
                    outer: piece,
                });
                s.atom = (atoms.len() - 1) as u32;
            }
        }
    }
    // Duplicated positions: keep the first; their atoms become neighbours.
    let mut extra_pairs: Vec<(u32, u32)> = Vec::new();
    let mut order: Vec<usize> = (0..sites.len()).collect();
    order.par_sort_unstable_by(|&a, &b| {
        sites[a]
            .x
            .total_cmp(&sites[b].x)
            .then(sites[a].y.total_cmp(&sites[b].y))
            .then(a.cmp(&b))
    });
    let mut keep = vec![true; sites.len()];
    for w in order.windows(2) {
        let (a, b) = (&sites[w[0]], &sites[w[1]]);
        if a.x == b.x && a.y == b.y {
            keep[w[1]] = false;
            if a.atom != b.atom {
                extra_pairs.push((a.atom.min(b.atom), a.atom.max(b.atom)));
            }
        }
    }
    let mut kept: Vec<Site> = sites
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(s, _)| *s)
        .collect();
    // Atom positions: mean of their sites (set once the solids are known).
    let mut n_sites = vec![0usize; atoms.len()];
    let mut sum = vec![Coord::zero(); atoms.len()];
    for s in &kept {
        sum[s.atom as usize] = sum[s.atom as usize] + Coord { x: s.x, y: s.y };
        n_sites[s.atom as usize] += 1;
    }
    let n_real = kept.len();
    // A far frame so that every real site has a bounded cell.
    let (mut lo, mut hi) = (
        Coord {
            x: f64::INFINITY,
            y: f64::INFINITY,
        },
        Coord {
            x: f64::NEG_INFINITY,
            y: f64::NEG_INFINITY,
        },
    );
    for s in &kept {
        lo = Coord {
            x: lo.x.min(s.x),
            y: lo.y.min(s.y),
        };
        hi = Coord {
            x: hi.x.max(s.x),
            y: hi.y.max(s.y),
        };
    }
    let margin = (hi.x - lo.x).max(hi.y - lo.y) + 100.0;
    let (lo, hi) = (
        lo - Coord {
            x: margin,
            y: margin,
        },
        hi + Coord {
            x: margin,
            y: margin,
        },
    );
    for j in 0..4 {
        let t = j as f64 / 4.0;
        for p in [
            Coord {
                x: lo.x + (hi.x - lo.x) * t,
                y: lo.y,
            },
            Coord {
                x: hi.x,
                y: lo.y + (hi.y - lo.y) * t,
            },
            Coord {
                x: hi.x - (hi.x - lo.x) * t,
                y: hi.y,
            },
            Coord {
                x: lo.x,
                y: hi.y - (hi.y - lo.y) * t,
            },
        ] {
            kept.push(Site {
                x: p.x,
                y: p.y,
                atom: NONE,
            });
        }
    }
    // The solids are not needed for the triangulation: both at once.
    let (solids, dt) = rayon::join(
        || {
            members
                .par_iter()
                .map(|m| solid_of(&items, m))
                .collect::<Vec<_>>()
        },
        || DelaunayTriangulation::<Site>::bulk_load(kept),
    );
    let dt = dt.map_err(|e| PartitionError::Triangulation(format!("{e:?}")))?;
    for (atom, solid) in atoms.iter_mut().zip(solids) {
        atom.solid = solid;
    }
    for (a, atom) in atoms.iter_mut().enumerate() {
        if n_sites[a] > 0 {
            atom.pos = sum[a] / n_sites[a] as f64;
        } else if let Some(r) = atom.solid.as_ref().and_then(|s| s.bounding_rect()) {
            atom.pos = frame.project(r.center());
        }
    }
    let unproject = |p: Coord| Coord {
        x: origin.x + p.x / per_deg.x,
        y: origin.y + p.y / per_deg.y,
    };

    // Cell areas and centroids: a third of every triangle inside the boundary to each corner.
    // Triangles between building sites are inside; those touching a boundary site are tested.
    let n_atoms = atoms.len();
    let cells = || {
        let mut area = vec![0.0; n_atoms];
        let mut moment = vec![Coord::zero(); n_atoms];
        for f in dt.inner_faces() {
            let vs = f.vertices();
            let ids = vs.map(|v| v.data().atom);
            if ids.contains(&NONE) {
                continue;
            }
            let ps = vs.map(|v| Coord {
                x: v.data().x,
                y: v.data().y,
            });
            let centroid = (ps[0] + ps[1] + ps[2]) / 3.0;
            if ids.iter().any(|&a| a as usize >= first_boundary_atom)
                && prepared_boundary.locate(unproject(centroid)) == Location::Outside
            {
                continue;
            }
            let (u, v) = (ps[1] - ps[0], ps[2] - ps[0]);
            let third = 0.5 * (u.x * v.y - u.y * v.x).abs() / 3.0;
            for a in ids {
                area[a as usize] += third;
                moment[a as usize] = moment[a as usize] + centroid * third;
            }
        }
        (area, moment)
    };
    // The atom graph: the length of Voronoi edge between every two atoms, on and off the
    // barriers.
    let edges = || {
        let barrier_lines: Vec<Line> = input
            .barriers
            .iter()
            .flat_map(|l| l.lines())
            .map(|l| Line::new(frame.project(l.start), frame.project(l.end)))
            .collect();
        let barrier_tree = RTree::bulk_load(
            barrier_lines
                .iter()
                .map(|l| {
                    GeomWithData::new(
                        Rectangle::from_corners(
                            [l.start.x.min(l.end.x), l.start.y.min(l.end.y)],
                            [l.start.x.max(l.end.x), l.start.y.max(l.end.y)],
                        ),
                        *l,
                    )
                })
                .collect(),
        );
        let mut pair_len: FxHashMap<(u32, u32), (f64, f64)> = FxHashMap::default();
        for e in dt.undirected_edges() {
            let [u, v] = e.vertices();
            let (au, av) = (u.data().atom, v.data().atom);
            if au == NONE || av == NONE || au == av {
                continue;
            }
            let d = e.as_directed();
            let (Some(f1), Some(f2)) = (d.face().as_inner(), d.rev().face().as_inner()) else {
                continue;
            };
            let (c1, c2) = (f1.circumcenter(), f2.circumcenter());
            let (c1, c2) = (Coord { x: c1.x, y: c1.y }, Coord { x: c2.x, y: c2.y });
            let mid = (c1 + c2) / 2.0;
            let inside = [c1, c2, mid]
                .iter()
                .any(|&c| prepared_boundary.locate(unproject(c)) != Location::Outside);
            if !inside {
                continue;
            }
            let len = (c2.x - c1.x).hypot(c2.y - c1.y);
            let (pu, pv) = (
                Coord {
                    x: u.data().x,
                    y: u.data().y,
                },
                Coord {
                    x: v.data().x,
                    y: v.data().y,
                },
            );
            let seg = Line::new(pu, pv);
            let env = AABB::from_corners(
                [pu.x.min(pv.x), pu.y.min(pv.y)],
                [pu.x.max(pv.x), pu.y.max(pv.y)],
            );
            let crosses = barrier_tree
                .locate_in_envelope_intersecting(&env)
                .any(|b| b.data.intersects(&seg));
            let entry = pair_len.entry((au.min(av), au.max(av))).or_default();
            if crosses {
                entry.0 += len;
            } else {
                entry.1 += len;
            }
        }
        pair_len
    };
    // Both only read the triangulation.
    let ((area, moment), mut pair_len) = rayon::join(cells, edges);
    for ((atom, m), area) in atoms.iter_mut().zip(&moment).zip(area) {
        atom.area = area;
        atom.centre = if atom.area > 0.0 {
            *m / atom.area
        } else {
            atom.pos
        };
    }

    for p in extra_pairs {
        pair_len.entry(p).or_default().1 += 1e-3;
    }
    let mut pairs: Vec<((u32, u32), (f64, f64))> = pair_len.into_iter().collect();
    pairs.sort_unstable_by_key(|(k, _)| *k);
    let n = atoms.len();
    let mut degree = vec![0usize; n + 1];
    for ((a, b), _) in &pairs {
        degree[*a as usize] += 1;
        degree[*b as usize] += 1;
    }
    let mut offsets = vec![0usize; n + 1];
    for a in 0..n {
        offsets[a + 1] = offsets[a] + degree[a];
    }
    let m = offsets[n];
    let mut graph = Graph {
        offsets: offsets.clone(),
        neighbours: vec![0; m],
        cost: vec![0.0; m],
        on_barrier: vec![0.0; m],
        off_barrier: vec![0.0; m],
    };
    let mut fill = offsets;
    for ((a, b), (on, off)) in pairs {
        for (x, y) in [(a, b), (b, a)] {
            let e = fill[x as usize];
            fill[x as usize] += 1;
            graph.neighbours[e] = y;
            graph.on_barrier[e] = on;
            graph.off_barrier[e] = off;
            graph.cost[e] = off + options.barrier_factor * on;
        }
    }

    Ok(World {
        frame,
        origin,
        per_deg,
        atoms,
        atom_of_building,
        graph,
        dt,
        inside_buildings,
        outside,
        sites: n_real,
        area_m2: gridmap_core::geodesy::area_m2(&boundary),
    })
}
