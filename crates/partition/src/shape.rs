//! Shape checks on the atom graph: enclaves and tentacles, and the removal of tentacles.
//!
//! - An **enclave** is a grid that does not reach the boundary of the area and shares at least
//!   [`ENCLAVE_SHARE`] of its perimeter with one other grid: it lies inside that grid, and its
//!   workers cross it to get anywhere.
//! - A **tentacle** is a narrow arm: the part of a grid that a morphological opening removes.
//!   The opening erodes the grid by a disc of radius ρ = [`NARROW_RADIUS`] × √(grid area)
//!   (atoms closer than ρ to the grid's edge go), then dilates what is left by ρ; atoms not
//!   reached again lie in parts narrower than 2ρ. A connected set of them holding at least
//!   [`TENTACLE_SHARE`] of the grid's area is a tentacle. Relative to the grid's size so that a
//!   dense quarter's small grids and a village's large ones are judged alike: for a 400 m
//!   square grid, an arm under 120 m wide holding a tenth of it. The corners of a square lose
//!   about 0.5% each and a 1:3 rectangle nothing; a grid narrower than 2ρ everywhere (a strip
//!   more than 11 times as long as wide) is one tentacle.
//!
//! Distances are along the atom graph between cell centroids (metres), so they follow the grid
//! and never cut across another one.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use geo::{
    Area, BooleanOps, BoundingRect, Buffer, Contains, MapCoords, MultiPolygon, Point, Polygon,
    Simplify,
};
use gridmap_core::geodesy::{LocalMetres, area_m2};

use crate::atoms::{NONE, World};

/// Share of the perimeter along one neighbour above which a grid off the boundary is an enclave.
pub(crate) const ENCLAVE_SHARE: f64 = 0.9;
/// Radius of the opening relative to √(grid area).
pub(crate) const NARROW_RADIUS: f64 = 0.15;
/// Share of a grid's area a narrow part must hold to be a tentacle.
pub(crate) const TENTACLE_SHARE: f64 = 0.1;

/// The shape of every region.
#[derive(Debug, Clone, Default)]
pub(crate) struct Shapes {
    /// For an enclave, the region around it.
    pub enclave_in: Vec<Option<u32>>,
    /// Tentacles of every region: their atoms.
    pub tentacles: Vec<Vec<Vec<usize>>>,
}

/// Finds the enclaves and tentacles of `labels`.
///
/// # Performance
/// Two Dijkstra runs over the atom graph and one scan of its edges: linear-logarithmic in atoms.
pub(crate) fn check(world: &World, labels: &[u32], k: usize) -> Shapes {
    let g = &world.graph;
    let n = labels.len();
    let mut area = vec![0.0; k];
    let mut outer = vec![0.0; k];
    let mut perimeter = vec![0.0; k];
    // Perimeter shared with each neighbour: (region, neighbour) → length.
    let mut along: Vec<Vec<(u32, f64)>> = vec![Vec::new(); k];
    let mut on_edge = vec![false; n];
    for a in 0..n {
        let r = labels[a];
        if r == NONE {
            continue;
        }
        let ru = r as usize;
        area[ru] += world.atoms[a].area;
        outer[ru] += world.atoms[a].outer;
        if world.atoms[a].outer > 0.0 {
            on_edge[a] = true;
        }
        for e in g.range(a) {
            let q = labels[g.neighbours[e] as usize];
            if q == r {
                continue;
            }
            on_edge[a] = true;
            let len = g.on_barrier[e] + g.off_barrier[e];
            perimeter[ru] += len;
            match along[ru].iter_mut().find(|(x, _)| *x == q) {
                Some(x) => x.1 += len,
                None => along[ru].push((q, len)),
            }
        }
    }
    let enclave_in = (0..k)
        .map(|r| {
            if outer[r] > 0.0 || perimeter[r] <= 0.0 {
                return None;
            }
            along[r]
                .iter()
                .filter(|(q, _)| *q != NONE)
                .max_by(|x, y| x.1.total_cmp(&y.1).then(y.0.cmp(&x.0)))
                .filter(|(_, len)| *len >= ENCLAVE_SHARE * perimeter[r])
                .map(|(q, _)| *q)
        })
        .collect();

    let radius: Vec<f64> = area.iter().map(|a| NARROW_RADIUS * a.sqrt()).collect();
    // Erosion: distance of every atom to its region's edge (the largest disc around it that
    // fits in the grid), from the straight distance to the nearest edge atom.
    let cell_radius = |a: usize| (world.atoms[a].area / std::f64::consts::PI).sqrt();
    // An edge atom's centre lies about its cell's radius inside the grid's edge.
    let sources: Vec<(usize, f64)> = (0..n)
        .filter(|&a| labels[a] != NONE && on_edge[a])
        .map(|a| (a, cell_radius(a)))
        .collect();
    let depth = nearest_within_region(world, labels, &sources, &|_| f64::INFINITY);
    // The opening is the union of the discs of radius ≥ ρ that fit: an atom is kept when its
    // cell meets the disc of some atom at least ρ deep (distance − depth ≤ the cell's radius;
    // with 0 the atoms along an irregular edge, whose centres sit at varying depths, would be
    // missed and join into a false arm along the whole rim).
    let core: Vec<(usize, f64)> = (0..n)
        .filter(|&a| labels[a] != NONE && depth[a] >= radius[labels[a] as usize])
        .map(|a| (a, -depth[a]))
        .collect();
    let reach = nearest_within_region(world, labels, &core, &cell_radius);
    let narrow: Vec<bool> = (0..n)
        .map(|a| labels[a] != NONE && world.atoms[a].area > 0.0 && reach[a].is_infinite())
        .collect();
    // Components of narrow atoms within their region.
    let mut tentacles: Vec<Vec<Vec<usize>>> = vec![Vec::new(); k];
    let mut seen = vec![false; n];
    for s in 0..n {
        if !narrow[s] || seen[s] {
            continue;
        }
        let r = labels[s];
        let mut members = g.flood(s, &mut seen, |_, b| narrow[b] && labels[b] == r);
        let share: f64 = members.iter().map(|&a| world.atoms[a].area).sum::<f64>();
        if share >= TENTACLE_SHARE * area[r as usize] {
            members.sort_unstable();
            tentacles[r as usize].push(members);
        }
    }
    Shapes {
        enclave_in,
        tentacles,
    }
}

/// Tentacles of a grid's polygon, in `frame`'s metres: the pieces that an opening by a disc
/// of radius [`NARROW_RADIUS`] × √area removes, holding at least [`TENTACLE_SHARE`] of its
/// area. Exact (up to the buffer's arc segments) and measured on the drawn grid in the local
/// metric frame, as a planner would check it in a GIS; [`check`] is the same rule on the atom
/// graph, used while solving.
pub(crate) fn polygon_arms(frame: &LocalMetres, geometry: &MultiPolygon) -> Vec<Polygon> {
    let local = geometry.map_coords(|c| frame.project(c));
    let area = local.unsigned_area();
    if area <= 0.0 {
        return Vec::new();
    }
    let rho = NARROW_RADIUS * area.sqrt();
    // Detail much finer than ρ cannot make or break an arm ρ wide; the grids' stepped edges
    // have thousands of vertices, which the buffer would otherwise offset one by one.
    let local = local.simplify(0.05 * rho);
    // A millimetre more on the way back, so the opening's edge does not leave hairline
    // slivers along the straight edges that would join separate corners into one piece.
    let opened = local.buffer(-rho).buffer(rho + 1e-3);
    local
        .difference(&opened)
        .0
        .into_iter()
        .filter(|p| p.unsigned_area() >= TENTACLE_SHARE * area)
        .collect()
}

/// The atoms of region `r` whose cell centre lies in one of `arms` (drawn tentacles of the
/// region, see [`polygon_arms`]), arm by arm; arms without an atom are left out. The drawn
/// grid and the atom graph judge arms differently (a large cell can make an arm of the drawn
/// grid that [`check`] does not see), so the search for hand-overs takes both.
pub(crate) fn atoms_in_arms(
    world: &World,
    labels: &[u32],
    r: u32,
    arms: &[Polygon],
) -> Vec<Vec<usize>> {
    arms.iter()
        .filter_map(|arm| {
            let rect = arm.bounding_rect()?;
            let atoms: Vec<usize> = (0..labels.len())
                .filter(|&a| labels[a] == r)
                .filter(|&a| {
                    let c = world.atoms[a].centre;
                    c.x >= rect.min().x
                        && c.x <= rect.max().x
                        && c.y >= rect.min().y
                        && c.y <= rect.max().y
                        && arm.contains(&Point::from(c))
                })
                .collect();
            (!atoms.is_empty()).then_some(atoms)
        })
        .collect()
}

/// Polsby-Popper of a grid's polygon, as the report measures it.
pub(crate) fn polygon_pp(frame: &LocalMetres, geometry: &MultiPolygon) -> f64 {
    polsby_popper(
        area_m2(geometry),
        crate::report::perimeter_m(frame, geometry),
    )
}

/// 4πA/P²: 1 for a disc, about 0.785 for a square; 0 without a perimeter.
pub(crate) fn polsby_popper(area: f64, perimeter: f64) -> f64 {
    if perimeter > 0.0 {
        4.0 * std::f64::consts::PI * area / (perimeter * perimeter)
    } else {
        0.0
    }
}

/// Multi-source nearest-source search within each source's region: every atom gets
/// `offset(s) + |centre(atom) − centre(s)|` for the source `s` that minimises it among those
/// reached through the region (sources spread outward along the graph, as in a vector distance
/// transform), or infinity when that exceeds the atom's `limit` or nothing reaches it.
///
/// Straight distances rather than path lengths: a path along the atom graph zigzags between
/// cell centres and is some 10% longer, which would leave a rim of every grid outside the
/// opening and report tentacles that a real opening of the polygon does not have.
fn nearest_within_region(
    world: &World,
    labels: &[u32],
    sources: &[(usize, f64)],
    limit: &dyn Fn(usize) -> f64,
) -> Vec<f64> {
    let g = &world.graph;
    let mut dist = vec![f64::INFINITY; labels.len()];
    let mut from = vec![usize::MAX; labels.len()];
    let mut offset = vec![0.0; labels.len()];
    let mut heap: BinaryHeap<Reverse<(Key, usize)>> = BinaryHeap::new();
    for &(s, d) in sources {
        if d < dist[s] {
            dist[s] = d;
            from[s] = s;
            offset[s] = d;
            heap.push(Reverse((Key(d), s)));
        }
    }
    while let Some(Reverse((Key(d), a))) = heap.pop() {
        if d > dist[a] {
            continue;
        }
        let s = from[a];
        let c = world.atoms[s].centre;
        for e in g.range(a) {
            let b = g.neighbours[e] as usize;
            if labels[b] != labels[a] {
                continue;
            }
            let p = world.atoms[b].centre;
            let nd = offset[s] + (p.x - c.x).hypot(p.y - c.y);
            if nd < dist[b] && nd <= limit(b) {
                dist[b] = nd;
                from[b] = s;
                heap.push(Reverse((Key(nd), b)));
            }
        }
    }
    dist
}

/// A distance ordered by `total_cmp`, for the heap.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Key(f64);

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Moves every tentacle whole to the neighbouring region it shares most edge with, when the
/// pair's Polsby-Popper on the atom graph improves and both regions stay within the tolerance
/// (or the move brings them closer to their targets); returns the number of tentacles moved.
/// [`crate::solve`] hands over the arms this leaves and rebalances.
pub(crate) fn remove_tentacles(
    world: &World,
    labels: &mut [u32],
    weight: &[f64],
    targets: &[f64],
    fixed: &[bool],
    tol: f64,
    k: usize,
) -> usize {
    let n = labels.len();
    let shapes = check(world, labels, k);
    let mut load = vec![0.0; k];
    for a in 0..n {
        if labels[a] != NONE {
            load[labels[a] as usize] += weight[a];
        }
    }
    let mut removed = 0;
    for (r, list) in shapes.tentacles.iter().enumerate() {
        let r = r as u32;
        for arm in list {
            if arm.iter().any(|&a| labels[a] != r) {
                continue;
            }
            let Some(&s) = neighbours_of(world, labels, arm, r).first() else {
                continue;
            };
            let (ru, su) = (r as usize, s as usize);
            let pp_before = region_pp(world, labels, r) + region_pp(world, labels, s);
            let Some(moved) = hand_over(world, labels, arm, r, s, fixed) else {
                continue;
            };
            let w: f64 = moved.iter().map(|&a| weight[a]).sum();
            let dev = |q: usize, l: f64| {
                if targets[q] > 0.0 {
                    ((l - targets[q]) / targets[q]).abs()
                } else {
                    0.0
                }
            };
            let before = dev(ru, load[ru]).max(dev(su, load[su]));
            let after = dev(ru, load[ru] - w).max(dev(su, load[su] + w));
            let unbalanced = after > tol.max(before) + 1e-12;
            let pp_after = region_pp(world, labels, r) + region_pp(world, labels, s);
            if !unbalanced && pp_after > pp_before {
                load[ru] -= w;
                load[su] += w;
                removed += 1;
            } else {
                for &a in &moved {
                    labels[a] = r;
                }
            }
        }
    }
    removed
}

/// The regions next to `arm` (atoms of region `r`), longest shared edge first.
pub(crate) fn neighbours_of(world: &World, labels: &[u32], arm: &[usize], r: u32) -> Vec<u32> {
    let g = &world.graph;
    let mut shared: Vec<(u32, f64)> = Vec::new();
    for &a in arm {
        for e in g.range(a) {
            let q = labels[g.neighbours[e] as usize];
            if q == r || q == NONE {
                continue;
            }
            let len = g.on_barrier[e] + g.off_barrier[e];
            match shared.iter_mut().find(|(x, _)| *x == q) {
                Some(x) => x.1 += len,
                None => shared.push((q, len)),
            }
        }
    }
    shared.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
    shared.into_iter().map(|(q, _)| q).collect()
}

/// Hands `arm` of region `r` over to region `s`, with whatever of `r` hung on it (a knob at
/// its tip: `r` keeps its largest piece); returns the atoms moved, or `None` with `labels`
/// unchanged when that would move a fixed atom or leave `r` empty.
pub(crate) fn hand_over(
    world: &World,
    labels: &mut [u32],
    arm: &[usize],
    r: u32,
    s: u32,
    fixed: &[bool],
) -> Option<Vec<usize>> {
    let mut moved = arm.to_vec();
    for &a in arm {
        labels[a] = s;
    }
    moved.extend(cut_off(world, labels, r, s));
    for &a in &moved {
        labels[a] = s;
    }
    if moved.iter().any(|&a| fixed[a]) || !labels.contains(&r) {
        for &a in &moved {
            labels[a] = r;
        }
        return None;
    }
    Some(moved)
}

/// Shares `arm` of region `r` out among the regions around it: every atom of the arm goes to
/// the neighbouring region nearest to it (straight distance from the arm's rim, spreading
/// through the arm as in [`nearest_within_region`]), and whatever of `r` is cut off goes to a
/// region it touches. Where one neighbour taking a long arm whole would grow an arm of its
/// own, each neighbour takes the stretch along it. Returns the atoms moved, or `None` with
/// `labels` unchanged when fewer than two regions would take a share, or that would move a
/// fixed atom or leave `r` empty.
pub(crate) fn share_out(
    world: &World,
    labels: &mut [u32],
    arm: &[usize],
    r: u32,
    fixed: &[bool],
) -> Option<Vec<usize>> {
    let g = &world.graph;
    let mut in_arm = vec![false; labels.len()];
    for &a in arm {
        in_arm[a] = true;
    }
    // Dijkstra from the arm's rim: each rim atom starts at its distance to the nearest atom
    // of another region beside it, and carries that region.
    let mut dist = vec![f64::INFINITY; labels.len()];
    let mut owner = vec![NONE; labels.len()];
    let mut heap: BinaryHeap<Reverse<(Key, usize)>> = BinaryHeap::new();
    for &a in arm {
        let c = world.atoms[a].centre;
        for e in g.range(a) {
            let b = g.neighbours[e] as usize;
            let q = labels[b];
            if q == r || q == NONE {
                continue;
            }
            let p = world.atoms[b].centre;
            let d = (p.x - c.x).hypot(p.y - c.y);
            if d < dist[a] || (d == dist[a] && q < owner[a]) {
                dist[a] = d;
                owner[a] = q;
            }
        }
        if owner[a] != NONE {
            heap.push(Reverse((Key(dist[a]), a)));
        }
    }
    while let Some(Reverse((Key(d), a))) = heap.pop() {
        if d > dist[a] {
            continue;
        }
        let c = world.atoms[a].centre;
        for e in g.range(a) {
            let b = g.neighbours[e] as usize;
            if !in_arm[b] {
                continue;
            }
            let p = world.atoms[b].centre;
            let nd = d + (p.x - c.x).hypot(p.y - c.y);
            if nd < dist[b] {
                dist[b] = nd;
                owner[b] = owner[a];
                heap.push(Reverse((Key(nd), b)));
            }
        }
    }
    let mut takers: Vec<u32> = arm
        .iter()
        .map(|&a| owner[a])
        .filter(|&q| q != NONE)
        .collect();
    takers.sort_unstable();
    takers.dedup();
    if takers.len() < 2 || arm.iter().any(|&a| owner[a] == NONE) {
        return None;
    }
    let mut moved = arm.to_vec();
    for &a in arm {
        labels[a] = owner[a];
    }
    for &s in &takers {
        let cut = cut_off(world, labels, r, s);
        for &a in &cut {
            labels[a] = s;
        }
        moved.extend(cut);
    }
    if moved.iter().any(|&a| fixed[a]) || !labels.contains(&r) {
        for &a in &moved {
            labels[a] = r;
        }
        return None;
    }
    Some(moved)
}

/// Polsby-Popper of a region on the atom graph (cell areas, edge and boundary lengths).
fn region_pp(world: &World, labels: &[u32], r: u32) -> f64 {
    let g = &world.graph;
    let (mut area, mut perimeter) = (0.0, 0.0);
    for a in 0..labels.len() {
        if labels[a] != r {
            continue;
        }
        area += world.atoms[a].area;
        perimeter += world.atoms[a].outer;
        for e in g.range(a) {
            if labels[g.neighbours[e] as usize] != r {
                perimeter += g.on_barrier[e] + g.off_barrier[e];
            }
        }
    }
    polsby_popper(area, perimeter)
}

/// The atoms of region `r` outside its largest connected piece (by area) in pieces that touch
/// region `s` (specks of land that the graph does not reach stay where they are).
fn cut_off(world: &World, labels: &[u32], r: u32, s: u32) -> Vec<usize> {
    let g = &world.graph;
    let mut seen = vec![false; labels.len()];
    let mut pieces: Vec<(Vec<usize>, f64)> = Vec::new();
    for start in 0..labels.len() {
        if labels[start] != r || seen[start] {
            continue;
        }
        let members = g.flood(start, &mut seen, |_, b| labels[b] == r);
        let area = members.iter().map(|&a| world.atoms[a].area).sum();
        pieces.push((members, area));
    }
    let Some(largest) =
        (0..pieces.len()).max_by(|&x, &y| pieces[x].1.total_cmp(&pieces[y].1).then(y.cmp(&x)))
    else {
        return Vec::new();
    };
    pieces
        .into_iter()
        .enumerate()
        .filter(|(p, (members, _))| {
            *p != largest
                && members
                    .iter()
                    .any(|&a| g.range(a).any(|e| labels[g.neighbours[e] as usize] == s))
        })
        .flat_map(|(_, (members, _))| members)
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use geo::{MultiPolygon, Point, polygon};
    use gridmap_core::model::{Building, Footprint};

    use super::{atoms_in_arms, check, polygon_arms, remove_tentacles, share_out};
    use crate::atoms::{NONE, World, build};
    use crate::{PartitionInput, PartitionOptions};
    use geo::Coord;
    use gridmap_core::geodesy::LocalMetres;

    const COLS: usize = 40;
    const ROWS: usize = 30;

    /// A 40 × 30 lattice of point buildings 10 m apart (workload 1 each) and a boundary
    /// around them; returns the world and every atom's lattice column and row (a weightless
    /// boundary atom takes the nearest building's).
    pub(crate) fn lattice() -> (World, Vec<(usize, usize)>, MultiPolygon) {
        let (lon0, lat0) = (121.0, 31.0);
        let (dx, dy) = (10.0 / 95_400.0, 10.0 / 111_000.0);
        let (w, h) = (COLS as f64 - 0.5, ROWS as f64 - 0.5);
        let boundary = MultiPolygon(vec![polygon![
            (x: lon0 - 0.5 * dx, y: lat0 - 0.5 * dy),
            (x: lon0 + w * dx, y: lat0 - 0.5 * dy),
            (x: lon0 + w * dx, y: lat0 + h * dy),
            (x: lon0 - 0.5 * dx, y: lat0 + h * dy),
        ]]);
        let mut buildings = Vec::new();
        for j in 0..ROWS {
            for i in 0..COLS {
                buildings.push(Building {
                    id: format!("b{i}-{j}"),
                    footprint: Footprint::Point(Point::new(
                        lon0 + i as f64 * dx,
                        lat0 + j as f64 * dy,
                    )),
                    households: 1,
                    floors: None,
                    kind: None,
                });
            }
        }
        let input = PartitionInput {
            boundary: &boundary,
            buildings: &buildings,
            barriers: &[],
            keep_whole: &[],
            current: None,
        };
        let world = build(
            &input,
            &vec![1.0; buildings.len()],
            &PartitionOptions::default(),
        )
        .expect("builds");
        let cell = world
            .atoms
            .iter()
            .map(|a| match a.buildings.first() {
                Some(&b) => (b % COLS, b / COLS),
                None => {
                    let i = a.pos.x / 10.0 + (COLS as f64 - 1.0) / 2.0;
                    let j = a.pos.y / 10.0 + (ROWS as f64 - 1.0) / 2.0;
                    (
                        i.round().clamp(0.0, COLS as f64 - 1.0) as usize,
                        j.round().clamp(0.0, ROWS as f64 - 1.0) as usize,
                    )
                }
            })
            .collect();
        (world, cell, boundary)
    }

    pub(crate) fn label(cell: &[(usize, usize)], rule: impl Fn(usize, usize) -> u32) -> Vec<u32> {
        cell.iter().map(|&(i, j)| rule(i, j)).collect()
    }

    /// Grid 0 is columns 0–11 plus an arm two buildings wide along rows 14–15 out to column
    /// 37 (52 of its 412 buildings); grid 1 is the rest, joined around the arm's tip.
    pub(crate) fn with_arm(i: usize, j: usize) -> u32 {
        u32::from(!(i < 12 || ((14..16).contains(&j) && i < 38)))
    }

    /// [`remove_tentacles`] with every atom free and its weight as the workload.
    pub(crate) fn remove_on(world: &World, labels: &mut [u32], targets: &[f64], tol: f64) -> usize {
        let weight: Vec<f64> = world.atoms.iter().map(|a| a.weight).collect();
        let fixed = vec![false; labels.len()];
        remove_tentacles(world, labels, &weight, targets, &fixed, tol, targets.len())
    }

    pub(crate) fn load(labels: &[u32], weight: &[f64], r: u32) -> f64 {
        (0..labels.len())
            .filter(|&a| labels[a] == r)
            .map(|a| weight[a])
            .sum()
    }

    /// The drawn arm of [`with_arm`]'s grid 0 holds the arm's buildings and nothing of the
    /// grid's body.
    #[test]
    fn the_atoms_of_a_drawn_arm_are_the_arm() {
        let (world, cell, boundary) = lattice();
        let labels = label(&cell, with_arm);
        let drawn = crate::outline::draw(&world, &labels, 2, &boundary);
        let arms = polygon_arms(&world.frame, &drawn[0]);
        assert_eq!(arms.len(), 1);
        assert!(polygon_arms(&world.frame, &drawn[1]).is_empty());
        let found = atoms_in_arms(&world, &labels, 0, &arms);
        assert_eq!(found.len(), 1);
        let arm = &found[0];
        assert!(arm.iter().all(|&a| labels[a] == 0));
        assert!(
            arm.iter()
                .all(|&a| (14..16).contains(&cell[a].1) && cell[a].0 >= 12),
            "{:?}",
            arm.iter().map(|&a| cell[a]).collect::<Vec<_>>()
        );
        let buildings = arm.iter().filter(|&&a| world.atoms[a].weight > 0.0).count();
        assert!(buildings >= 40, "{buildings} of the arm's 52 buildings");
        // Region 1 has no arm to look in.
        assert!(atoms_in_arms(&world, &labels, 1, &[]).is_empty());
    }

    #[test]
    fn halves_have_neither_tentacles_nor_enclaves() {
        let (world, cell, _) = lattice();
        let labels = label(&cell, |i, _| u32::from(i >= COLS / 2));
        let shapes = check(&world, &labels, 2);
        assert_eq!(shapes.enclave_in, vec![None, None]);
        assert!(shapes.tentacles.iter().all(Vec::is_empty), "{shapes:?}");
    }

    #[test]
    fn a_block_inside_another_grid_is_an_enclave() {
        let (world, cell, _) = lattice();
        let labels = label(&cell, |i, j| {
            u32::from((15..25).contains(&i) && (10..20).contains(&j))
        });
        let shapes = check(&world, &labels, 2);
        assert_eq!(shapes.enclave_in, vec![None, Some(0)]);
    }

    /// The arm is found and handed whole to the grid around it, whose workload stays within
    /// a 12% tolerance of its target (840 for 800; 360 for 400 left).
    #[test]
    fn an_arm_two_buildings_wide_is_a_tentacle_and_is_removed() {
        let (world, cell, _) = lattice();
        let mut labels = label(&cell, with_arm);
        let shapes = check(&world, &labels, 2);
        assert!(shapes.tentacles[1].is_empty(), "{shapes:?}");
        assert_eq!(shapes.tentacles[0].len(), 1, "{shapes:?}");
        assert!(
            shapes.tentacles[0][0]
                .iter()
                .all(|&a| cell[a].0 >= 12 && (13..17).contains(&cell[a].1)),
            "only the arm is narrow"
        );
        let weight: Vec<f64> = world.atoms.iter().map(|a| a.weight).collect();
        assert_eq!(load(&labels, &weight, 0), 412.0);
        let moved = remove_on(&world, &mut labels, &[400.0, 800.0], 0.12);
        assert_eq!(moved, 1);
        assert!(labels.iter().all(|&l| l != NONE));
        let after = check(&world, &labels, 2);
        assert!(after.tentacles.iter().all(Vec::is_empty), "{after:?}");
        // The arm goes, but for a stub at its root as wide as it is long (a cell's radius
        // inside the opening).
        let left = load(&labels, &weight, 0);
        assert!((360.0..=364.0).contains(&left), "{left}");
        assert!(
            (0..labels.len())
                .filter(|&a| cell[a].0 >= 14 && world.atoms[a].weight > 0.0)
                .all(|a| labels[a] == 1)
        );
    }

    /// [`with_arm`] with grid 1 split along the arm: grid 1 above it (and around its tip),
    /// grid 2 below.
    fn arm_between_two(i: usize, j: usize) -> u32 {
        match with_arm(i, j) {
            0 => 0,
            _ if j >= 14 => 1,
            _ => 2,
        }
    }

    /// With a grid on each side of the arm, sharing it out gives each side the row along it:
    /// neither neighbour grows an arm of its own, and grid 0 keeps its block.
    #[test]
    fn an_arm_between_two_grids_is_shared_out_along_its_length() {
        let (world, cell, _) = lattice();
        let mut labels = label(&cell, arm_between_two);
        let arms = &check(&world, &labels, 3).tentacles[0];
        assert_eq!(arms.len(), 1, "{arms:?}");
        let arm = arms[0].clone();
        let fixed = vec![false; labels.len()];
        let moved = share_out(&world, &mut labels, &arm, 0, &fixed).expect("shared out");
        assert!(moved.len() >= arm.len());
        for &a in &arm {
            let (i, j) = cell[a];
            if world.atoms[a].weight == 0.0 || i >= 36 {
                continue;
            }
            assert_eq!(labels[a], if j == 15 { 1 } else { 2 }, "atom at {i},{j}");
        }
        assert!((0..labels.len()).all(|a| cell[a].0 >= 10 || labels[a] == 0));
        let shapes = check(&world, &labels, 3);
        assert!(shapes.tentacles.iter().all(Vec::is_empty), "{shapes:?}");
    }

    /// A fixed atom in the arm, or an arm with a single region beside it, is not shared out.
    #[test]
    fn an_arm_with_a_fixed_atom_is_not_shared_out() {
        let (world, cell, _) = lattice();
        let mut labels = label(&cell, arm_between_two);
        let arm = check(&world, &labels, 3).tentacles[0][0].clone();
        let mut fixed = vec![false; labels.len()];
        fixed[arm[arm.len() / 2]] = true;
        let before = labels.clone();
        assert!(share_out(&world, &mut labels, &arm, 0, &fixed).is_none());
        assert_eq!(labels, before);
        let mut two = label(&cell, with_arm);
        let arm = check(&world, &two, 2).tentacles[0][0].clone();
        let free = vec![false; two.len()];
        assert!(share_out(&world, &mut two, &arm, 0, &free).is_none());
    }

    /// With a 5% tolerance the arm cannot go (grid 0 would drop 10% below its target): it
    /// stays, and the check still reports it.
    #[test]
    fn an_arm_that_balance_cannot_give_away_stays_and_is_reported() {
        let (world, cell, _) = lattice();
        let mut labels = label(&cell, with_arm);
        let moved = remove_on(&world, &mut labels, &[400.0, 800.0], 0.05);
        assert_eq!(moved, 0);
        assert_eq!(check(&world, &labels, 2).tentacles[0].len(), 1);
    }

    /// A polygon from metre coordinates around (121°E, 31°N), and the frame to measure it in.
    fn in_metres(points: &[(f64, f64)]) -> (MultiPolygon, LocalMetres) {
        let origin = Coord { x: 121.0, y: 31.0 };
        let frame = LocalMetres::at(origin);
        let (one_x, one_y) = {
            let p = frame.project(Coord { x: 122.0, y: 32.0 });
            (1.0 / p.x, 1.0 / p.y)
        };
        let ring: Vec<Coord> = points
            .iter()
            .map(|&(x, y)| Coord {
                x: origin.x + x * one_x,
                y: origin.y + y * one_y,
            })
            .collect();
        (
            MultiPolygon(vec![geo::Polygon::new(ring.into(), vec![])]),
            frame,
        )
    }

    #[test]
    fn squares_triangles_and_fat_rectangles_have_no_tentacles() {
        for shape in [
            vec![(0.0, 0.0), (400.0, 0.0), (400.0, 400.0), (0.0, 400.0)],
            vec![(0.0, 0.0), (400.0, 0.0), (200.0, 346.4)],
            vec![(0.0, 0.0), (900.0, 0.0), (900.0, 300.0), (0.0, 300.0)],
        ] {
            let (polygon, frame) = in_metres(&shape);
            assert_eq!(polygon_arms(&frame, &polygon).len(), 0, "{shape:?}");
        }
    }

    /// A 400 m square with an arm 60 m wide and 400 m long (13% of the grid): one tentacle; a
    /// strip 20 times as long as it is wide is narrow everywhere: one tentacle.
    #[test]
    fn an_arm_or_a_long_strip_is_a_tentacle_of_the_polygon() {
        let (arm, frame) = in_metres(&[
            (0.0, 0.0),
            (400.0, 0.0),
            (400.0, 170.0),
            (800.0, 170.0),
            (800.0, 230.0),
            (400.0, 230.0),
            (400.0, 400.0),
            (0.0, 400.0),
        ]);
        assert_eq!(polygon_arms(&frame, &arm).len(), 1);
        let (strip, frame) = in_metres(&[(0.0, 0.0), (2000.0, 0.0), (2000.0, 100.0), (0.0, 100.0)]);
        assert_eq!(polygon_arms(&frame, &strip).len(), 1);
    }

    /// An arm with a knob at its tip (a 4 × 4 block): the knob is not narrow, but handing the
    /// arm over would leave it cut off, so it goes with the arm and grid 0 stays one piece.
    #[test]
    fn an_arm_goes_with_the_knob_at_its_tip() {
        let (world, cell, _) = lattice();
        let mut labels = label(&cell, |i, j| {
            u32::from(
                !(i < 12
                    || ((14..16).contains(&j) && i < 34)
                    || ((34..38).contains(&i) && (13..17).contains(&j))),
            )
        });
        assert_eq!(check(&world, &labels, 2).tentacles[0].len(), 1);
        let moved = remove_on(&world, &mut labels, &[400.0, 800.0], 0.15);
        assert_eq!(moved, 1);
        assert!(super::cut_off(&world, &labels, 0, 1).is_empty());
        assert!(
            (0..labels.len())
                .filter(|&a| cell[a].0 >= 30 && world.atoms[a].weight > 0.0)
                .all(|a| labels[a] == 1),
            "the knob went with the arm"
        );
        assert!(
            check(&world, &labels, 2)
                .tentacles
                .iter()
                .all(Vec::is_empty)
        );
    }
}
