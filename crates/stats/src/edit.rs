//! What saving a grid's new boundary would change: the validator's verdict on the grid layer
//! with the candidate in place of its namesake, measured in the candidate's neighbourhood.
//!
//! Only the neighbourhood can change: the old and new boundaries' bounds, widened a little.
//! Every grid meeting it and every building in it are validated, within the parent clipped to
//! it — a gap there is a gap whatever lies further away, and a grid overlapping the candidate
//! meets it — so an edit costs milliseconds whatever the size of the town.

use geo::{BoundingRect, MultiPolygon, Rect};
use gridmap_core::Building;
use gridmap_core::model::Grid;
use gridmap_core::validate::{CoverageInput, Gap, Options, Overlap, validate};

/// The grid layer an edit is measured against: today's grids and buildings, and where each
/// building lies today. The server's project implements it.
pub trait Layer {
    /// Today's grids.
    fn grids(&self) -> impl Iterator<Item = &Grid>;
    /// Today's grid of this code.
    fn grid(&self, code: &str) -> Option<&Grid>;
    /// Every building, by position.
    fn buildings(&self) -> &[Building];
    /// The positions of the buildings whose footprint's bounds meet `area`, in any order.
    fn buildings_in(&self, area: Rect) -> Vec<usize>;
    /// The grid building `i` lies in today (`None`: in none, or in several).
    fn grid_of(&self, i: usize) -> Option<&str>;
    /// The boundary a grid of `village` must keep within: the village's when it has one,
    /// else the town's.
    fn parent(&self, village: Option<&str>) -> Option<&MultiPolygon>;
    /// Today's overlaps between grids, as validation found them.
    fn overlaps(&self) -> &[Overlap];
}

/// What saving a candidate grid would do, as the validator measures it within the grid's parent
/// (its village's boundary when known, else the town's).
#[derive(Debug, Clone)]
pub struct Impact {
    /// The candidate's code.
    pub grid: String,
    /// Why its geometry is invalid (empty: valid).
    pub invalid: Vec<String>,
    /// Overlaps the candidate takes part in.
    pub overlaps: Vec<Overlap>,
    /// Gaps within the parent.
    pub gaps: Vec<Gap>,
    /// Buildings whose grid changes to or from the candidate: (position, before, after).
    pub moved: Vec<(usize, Option<String>, Option<String>)>,
    /// Area of the candidate outside its parent, when above the validator's floor (m²).
    pub outside_parent_m2: Option<f64>,
    /// The parent the candidate was measured in.
    pub parent: Option<MultiPolygon>,
}

/// How much an edit may add to an overlap or to the area outside the village before it counts
/// as reaching further (m²): the validator's floor.
pub const GROWTH_FLOOR_M2: f64 = 1.0;

/// How far around the old and new boundaries' bounds an edit is measured (degrees).
const MARGIN_DEG: f64 = 0.002;

/// The smallest rectangle holding both (either may be missing).
pub fn union_rect(a: Option<Rect>, b: Option<Rect>) -> Option<Rect> {
    match (a, b) {
        (Some(a), Some(b)) => Some(Rect::new(
            geo::coord! {x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y)},
            geo::coord! {x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y)},
        )),
        (a, b) => a.or(b),
    }
}

/// The validator's verdict on `layer` with `candidate` in place of its namesake.
pub fn impact(layer: &impl Layer, candidate: &Grid) -> Impact {
    let old = layer
        .grid(&candidate.code)
        .and_then(|g| g.geometry.bounding_rect());
    let area = union_rect(old, candidate.geometry.bounding_rect()).map(|r| {
        Rect::new(
            geo::coord! {x: r.min().x - MARGIN_DEG, y: r.min().y - MARGIN_DEG},
            geo::coord! {x: r.max().x + MARGIN_DEG, y: r.max().y + MARGIN_DEG},
        )
    });
    let near = |r: Option<Rect>| match (area, r) {
        (Some(a), Some(r)) => geo::Intersects::intersects(&a, &r),
        _ => true,
    };
    let mut grids: Vec<Grid> = layer
        .grids()
        .filter(|g| g.code != candidate.code && near(g.geometry.bounding_rect()))
        .cloned()
        .collect();
    grids.push(candidate.clone());
    let local: Vec<usize> = match area {
        Some(a) => {
            let mut v = layer.buildings_in(a);
            v.sort_unstable();
            v
        }
        None => (0..layer.buildings().len()).collect(),
    };
    let all = layer.buildings();
    let buildings: Vec<Building> = local.iter().map(|&i| all[i].clone()).collect();
    let parent = layer.parent(candidate.village.as_deref());
    let clipped = match (parent, area) {
        (Some(b), Some(a)) => Some(geo::BooleanOps::intersection(b, &a.to_polygon())),
        (b, _) => b.cloned(),
    };
    let input = CoverageInput {
        grids: &grids,
        buildings: &buildings,
        boundary: clipped.as_ref(),
        ..CoverageInput::default()
    };
    let coverage = validate(&input, &Options::default(), &mut |_| {});
    let r = coverage.report;
    let code = candidate.code.as_str();
    let moved = coverage
        .assignments
        .iter()
        .zip(&local)
        .filter_map(|(a, &i)| {
            let before = layer.grid_of(i);
            let after = a.grid().map(|g| grids[g as usize].code.as_str());
            (before != after && (before == Some(code) || after == Some(code)))
                .then(|| (i, before.map(String::from), after.map(String::from)))
        })
        .collect();
    Impact {
        grid: candidate.code.clone(),
        invalid: r
            .invalid_grids
            .into_iter()
            .filter(|g| g.grid == code)
            .map(|g| g.reason)
            .collect(),
        overlaps: r
            .overlaps
            .into_iter()
            .filter(|o| o.grids.iter().any(|g| g == code))
            .collect(),
        gaps: r.gaps,
        moved,
        outside_parent_m2: r
            .outside_boundary
            .iter()
            .find(|o| o.grid == code)
            .map(|o| o.area_m2),
        parent: parent.cloned(),
    }
}

impl Impact {
    /// Whether the candidate's geometry is valid.
    pub fn valid(&self) -> bool {
        self.invalid.is_empty()
    }

    /// The other grids the candidate would overlap more than today's grid of that code does
    /// (an overlap the user inherited does not block an edit that leaves it as it is).
    pub fn overlapping_more(&self, layer: &impl Layer) -> Vec<&str> {
        let today = |other: &str| -> f64 {
            layer
                .overlaps()
                .iter()
                .filter(|o| o.grids.contains(&self.grid) && o.grids.iter().any(|g| g == other))
                .map(|o| o.area_m2)
                .sum()
        };
        self.overlaps
            .iter()
            .filter_map(|o| {
                let other = o.grids.iter().find(|g| **g != self.grid)?;
                (o.area_m2 > today(other) + GROWTH_FLOOR_M2).then_some(other.as_str())
            })
            .collect()
    }

    /// The candidate's area outside its parent when it is larger than today's grid's (m²).
    pub fn outside_more(&self, layer: &impl Layer) -> Option<f64> {
        let after = self.outside_parent_m2?;
        let before = match (layer.grid(&self.grid), &self.parent) {
            (Some(g), Some(parent)) => {
                gridmap_core::geodesy::area_m2(&geo::BooleanOps::difference(&g.geometry, parent))
            }
            _ => 0.0,
        };
        (after > before + GROWTH_FLOOR_M2).then_some(after)
    }

    /// The grids the candidate takes buildings from, with how many, in the order first met.
    pub fn taken_from(&self) -> Vec<(String, usize)> {
        let mut out: Vec<(String, usize)> = Vec::new();
        for (_, before, after) in &self.moved {
            if after.as_deref() == Some(self.grid.as_str())
                && let Some(b) = before
            {
                match out.iter_mut().find(|(c, _)| c == b) {
                    Some((_, n)) => *n += 1,
                    None => out.push((b.clone(), 1)),
                }
            }
        }
        out
    }

    /// The area of the overlaps the candidate takes part in (m²).
    pub fn overlap_area_m2(&self) -> f64 {
        self.overlaps.iter().map(|o| o.area_m2).sum()
    }

    /// The area of the gaps in the neighbourhood (m²).
    pub fn gap_area_m2(&self) -> f64 {
        self.gaps.iter().map(|g| g.area_m2).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Point, polygon};
    use gridmap_core::Footprint;

    /// Two grids side by side and their buildings, located by brute force.
    struct Plain {
        grids: Vec<Grid>,
        buildings: Vec<Building>,
        today: Vec<Option<String>>,
        town: MultiPolygon,
    }

    impl Layer for Plain {
        fn grids(&self) -> impl Iterator<Item = &Grid> {
            self.grids.iter()
        }
        fn grid(&self, code: &str) -> Option<&Grid> {
            self.grids.iter().find(|g| g.code == code)
        }
        fn buildings(&self) -> &[Building] {
            &self.buildings
        }
        fn buildings_in(&self, area: Rect) -> Vec<usize> {
            (0..self.buildings.len())
                .filter(|&i| {
                    self.buildings[i]
                        .footprint_rect()
                        .is_some_and(|r| geo::Intersects::intersects(&area, &r))
                })
                .collect()
        }
        fn grid_of(&self, i: usize) -> Option<&str> {
            self.today[i].as_deref()
        }
        fn parent(&self, _village: Option<&str>) -> Option<&MultiPolygon> {
            Some(&self.town)
        }
        fn overlaps(&self) -> &[Overlap] {
            &[]
        }
    }

    fn square(code: &str, x0: f64, x1: f64) -> Grid {
        Grid {
            code: code.into(),
            name: None,
            village: None,
            geometry: MultiPolygon(vec![polygon![
                (x: 120.0 + x0, y: 30.0), (x: 120.0 + x1, y: 30.0),
                (x: 120.0 + x1, y: 30.01), (x: 120.0 + x0, y: 30.01),
            ]]),
        }
    }

    fn layer() -> Plain {
        let at = |id: &str, dx: f64| Building {
            id: id.into(),
            footprint: Footprint::Point(Point::new(120.0 + dx, 30.005)),
            households: 1,
            floors: None,
            kind: None,
        };
        Plain {
            grids: vec![square("A", 0.0, 0.01), square("B", 0.01, 0.02)],
            buildings: vec![at("a1", 0.002), at("a2", 0.009), at("b1", 0.015)],
            today: vec![Some("A".into()), Some("A".into()), Some("B".into())],
            town: square("T", 0.0, 0.02).geometry,
        }
    }

    #[test]
    fn shrinking_a_grid_leaves_a_gap_and_its_building_in_no_grid() {
        let l = layer();
        let verdict = impact(&l, &square("A", 0.0, 0.008));
        assert!(verdict.valid());
        assert!(verdict.overlaps.is_empty());
        assert_eq!(verdict.gaps.len(), 1);
        assert!(verdict.gap_area_m2() > 100_000.0);
        assert_eq!(verdict.moved, [(1, Some("A".into()), None)]);
        assert!(verdict.taken_from().is_empty());
        assert!(verdict.outside_more(&l).is_none());
    }

    #[test]
    fn growing_over_a_neighbour_overlaps_it_more_than_today() {
        let l = layer();
        let verdict = impact(&l, &square("A", 0.0, 0.016));
        assert_eq!(verdict.overlaps.len(), 1);
        assert_eq!(verdict.overlapping_more(&l), ["B"]);
        assert!(verdict.overlap_area_m2() > 100_000.0);
    }

    #[test]
    fn taken_from_counts_the_buildings_won_per_grid() {
        let verdict = Impact {
            grid: "A".into(),
            invalid: vec![],
            overlaps: vec![],
            gaps: vec![],
            moved: vec![
                (0, Some("B".into()), Some("A".into())),
                (1, Some("C".into()), Some("A".into())),
                (2, Some("B".into()), Some("A".into())),
                (3, Some("A".into()), None),
                (4, None, Some("A".into())),
            ],
            outside_parent_m2: None,
            parent: None,
        };
        assert_eq!(
            verdict.taken_from(),
            [("B".to_string(), 2), ("C".to_string(), 1)]
        );
    }
}
