//! Uncovered blocks: buildings clustered by single linkage, as polygons with counts.
//!
//! Two buildings whose locations are within `eps` metres join one block (and so, transitively,
//! every building linked to them). Each block's polygon is the convex hull of its buildings'
//! footprints. [`blocks`] lists them largest first (households, then buildings).

use std::collections::HashMap;

use geo::{ConvexHull, Coord, CoordsIter, MultiPoint, Point, Polygon};
use gridmap_core::geodesy::LocalMetres;
use gridmap_core::{Building, Footprint};

/// At most this many building ids are listed with a block (the first in order).
pub const MAX_IDS: usize = 1000;

/// A block of buildings, as the supervisor's list shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// The convex hull of the buildings' footprints, WGS84 lon/lat.
    pub hull: Polygon,
    /// How many buildings the block holds.
    pub buildings: usize,
    /// Their households.
    pub households: u64,
    /// The ids of the buildings, sorted; only the [`MAX_IDS`] first in id order when the block
    /// is larger.
    pub building_ids: Vec<String>,
    /// Whether `building_ids` leaves some out.
    pub truncated: bool,
    /// Where to zoom to see the block: the hull's first vertex (0, 0 for an empty hull).
    pub zoom_to: Coord,
}

/// Clusters `members` (building positions) by single linkage within `eps` metres, measuring
/// in a local frame at the first member's location; buildings without a location
/// (`location` answers `None`) are left out.
pub fn clusters(
    location: impl Fn(usize) -> Option<Coord>,
    members: &[usize],
    eps: f64,
) -> Vec<Vec<usize>> {
    let Some(origin) = members.first().and_then(|&i| location(i)) else {
        return Vec::new();
    };
    let frame = LocalMetres::at(origin);
    let pts: Vec<(usize, Coord)> = members
        .iter()
        .filter_map(|&i| Some((i, frame.project(location(i)?))))
        .collect();
    single_linkage(&pts, eps)
}

/// The blocks of `members` (building positions in `buildings`), clustered by single linkage within `eps` metres, the `limit`
/// heaviest (households, then buildings), heaviest first.
pub fn blocks(
    buildings: &[Building],
    location: impl Fn(usize) -> Option<Coord>,
    members: &[usize],
    eps: f64,
    limit: usize,
) -> Vec<Block> {
    let mut found = clusters(location, members, eps);
    let weight = |b: &Vec<usize>| -> (u64, usize) {
        (
            b.iter().map(|&i| u64::from(buildings[i].households)).sum(),
            b.len(),
        )
    };
    found.sort_by_key(|b| std::cmp::Reverse(weight(b)));
    found
        .iter()
        .take(limit)
        .map(|b| block(buildings, b))
        .collect()
}

/// The [`Block`] of the buildings `members` (positions in `buildings`).
pub fn block(buildings: &[Building], members: &[usize]) -> Block {
    let coords: Vec<Point> = members
        .iter()
        .flat_map(|&i| match &buildings[i].footprint {
            Footprint::Area(a) => a.coords_iter().collect::<Vec<Coord>>(),
            Footprint::Point(p) => vec![p.0],
        })
        .map(Point)
        .collect();
    let hull = MultiPoint(coords).convex_hull();
    let households: u64 = members
        .iter()
        .map(|&i| u64::from(buildings[i].households))
        .sum();
    // The first ids in order name a block; a district's block of a million buildings is not
    // listed whole.
    let mut ids: Vec<&str> = members.iter().map(|&i| buildings[i].id.as_str()).collect();
    let truncated = ids.len() > MAX_IDS;
    if truncated {
        ids.select_nth_unstable(MAX_IDS);
        ids.truncate(MAX_IDS);
    }
    ids.sort_unstable();
    let zoom_to = hull
        .exterior()
        .0
        .first()
        .copied()
        .unwrap_or(Coord { x: 0.0, y: 0.0 });
    Block {
        hull,
        buildings: members.len(),
        households,
        building_ids: ids.into_iter().map(String::from).collect(),
        truncated,
        zoom_to,
    }
}

/// The blocks of `pts` (id, position in metres) joined by single linkage within `eps` (squared
/// distances compared, as an R-tree's distance search does): blocks
/// in the order of their first point, each in `pts` order.
///
/// ```
/// use geo::Coord;
/// let pts = [(7, Coord { x: 0.0, y: 0.0 }), (8, Coord { x: 90.0, y: 0.0 }),
///            (9, Coord { x: 40.0, y: 0.0 })];
/// assert_eq!(gridmap_stats::single_linkage(&pts, 50.0), vec![vec![7, 8, 9]]);
/// assert_eq!(gridmap_stats::single_linkage(&pts, 30.0), vec![vec![7], vec![8], vec![9]]);
/// ```
///
/// # Performance
/// Points go into square cells of side `eps / √2`, so that the points of one cell are within
/// `eps` of each other and join at once. Cells are taken row by row; a cell joins each of the
/// cells after it up to two away when some pair of their points is within `eps`, checked only
/// when the two are not joined yet (union–find), which in dense areas they mostly are by then.
pub fn single_linkage(pts: &[(usize, Coord)], eps: f64) -> Vec<Vec<usize>> {
    let side = eps / std::f64::consts::SQRT_2;
    let eps2 = eps * eps;
    let keys: Vec<(i64, i64)> = pts
        .iter()
        .map(|(_, c)| ((c.y / side).floor() as i64, (c.x / side).floor() as i64))
        .collect();
    // Points by cell, cells row by row.
    let mut order: Vec<u32> = (0..pts.len() as u32).collect();
    order.sort_unstable_by_key(|&k| keys[k as usize]);
    let mut cells: Vec<((i64, i64), std::ops::Range<usize>)> = Vec::new();
    for (at, &k) in order.iter().enumerate() {
        let key = keys[k as usize];
        match cells.last_mut() {
            Some((last, range)) if *last == key => range.end = at + 1,
            _ => cells.push((key, at..at + 1)),
        }
    }
    let cell_at = |key: (i64, i64)| cells.binary_search_by(|(k, _)| k.cmp(&key)).ok();
    let mut parent: Vec<u32> = (0..cells.len() as u32).collect();
    fn find(parent: &mut [u32], mut i: u32) -> u32 {
        while parent[i as usize] != i {
            parent[i as usize] = parent[parent[i as usize] as usize];
            i = parent[i as usize];
        }
        i
    }
    let members = |c: usize| order[cells[c].1.clone()].iter().map(|&k| pts[k as usize].1);
    let near = |a: usize, b: usize| {
        members(a).any(|u| {
            members(b).any(|v| (u.x - v.x) * (u.x - v.x) + (u.y - v.y) * (u.y - v.y) <= eps2)
        })
    };
    for (a, &((y, x), _)) in cells.iter().enumerate() {
        for dy in 0..=2i64 {
            for dx in -2..=2i64 {
                if dy == 0 && dx <= 0 {
                    continue;
                }
                let Some(b) = cell_at((y + dy, x + dx)) else {
                    continue;
                };
                let (ra, rb) = (find(&mut parent, a as u32), find(&mut parent, b as u32));
                if ra != rb && near(a, b) {
                    parent[ra.max(rb) as usize] = ra.min(rb);
                }
            }
        }
    }
    // Each point's cell, then blocks in the order of their first point.
    let mut cell_of_point = vec![0u32; pts.len()];
    for (c, (_, range)) in cells.iter().enumerate() {
        for &k in &order[range.clone()] {
            cell_of_point[k as usize] = c as u32;
        }
    }
    let mut block_of_root: HashMap<u32, usize> = HashMap::new();
    let mut out: Vec<Vec<usize>> = Vec::new();
    for (k, (id, _)) in pts.iter().enumerate() {
        let root = find(&mut parent, cell_of_point[k]);
        let b = *block_of_root.entry(root).or_insert_with(|| {
            out.push(Vec::new());
            out.len() - 1
        });
        out[b].push(*id);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridmap_core::Footprint;
    use proptest::prelude::*;

    /// Connected components of "within `eps`", the slow way.
    fn brute(pts: &[(usize, Coord)], eps: f64) -> Vec<Vec<usize>> {
        let mut block = vec![usize::MAX; pts.len()];
        let mut out: Vec<Vec<usize>> = Vec::new();
        for s in 0..pts.len() {
            if block[s] != usize::MAX {
                continue;
            }
            let id = out.len();
            block[s] = id;
            let (mut stack, mut members) = (vec![s], vec![s]);
            while let Some(a) = stack.pop() {
                for b in 0..pts.len() {
                    let (u, v) = (pts[a].1, pts[b].1);
                    let d2 = (u.x - v.x) * (u.x - v.x) + (u.y - v.y) * (u.y - v.y);
                    if block[b] == usize::MAX && d2 <= eps * eps {
                        block[b] = id;
                        stack.push(b);
                        members.push(b);
                    }
                }
            }
            members.sort_unstable();
            out.push(members.into_iter().map(|k| pts[k].0).collect());
        }
        out
    }

    proptest! {
        #[test]
        fn cells_link_as_the_slow_way_does(
            raw in prop::collection::vec((-300i32..300, -300i32..300), 0..200),
            eps in prop_oneof![Just(50.0), 5.0f64..120.0],
        ) {
            // Half metres, so that distances of exactly `eps` occur.
            let pts: Vec<(usize, Coord)> = raw
                .iter()
                .enumerate()
                .map(|(i, &(x, y))| {
                    (i * 7, Coord { x: f64::from(x) / 2.0, y: f64::from(y) / 2.0 })
                })
                .collect();
            prop_assert_eq!(single_linkage(&pts, eps), brute(&pts, eps));
        }
    }

    fn point_building(id: &str, x: f64, y: f64, households: u32) -> Building {
        Building {
            id: id.into(),
            footprint: Footprint::Point(Point::new(x, y)),
            households,
            floors: None,
            kind: None,
        }
    }

    #[test]
    fn blocks_come_heaviest_first_with_their_hull_and_counts() {
        // Two blocks ~11 m apart inside, ~1.1 km between them; the eastern one has more
        // households.
        let buildings = vec![
            point_building("w1", 120.0, 30.0, 1),
            point_building("w2", 120.0001, 30.0, 1),
            point_building("e2", 120.0101, 30.0, 5),
            point_building("e1", 120.01, 30.0, 2),
        ];
        let location = |i: usize| buildings[i].location();
        let found = blocks(&buildings, location, &[0, 1, 2, 3], 50.0, 10);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].building_ids, ["e1", "e2"]);
        assert_eq!((found[0].buildings, found[0].households), (2, 7));
        assert_eq!(found[1].building_ids, ["w1", "w2"]);
        assert!(!found[0].truncated);
        let only = blocks(&buildings, location, &[0, 1, 2, 3], 50.0, 1);
        assert_eq!(only.len(), 1);
        assert!(blocks(&buildings, location, &[], 50.0, 10).is_empty());
    }
}
