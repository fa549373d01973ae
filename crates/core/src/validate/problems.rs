//! The problems of a report as one list, in one order and with one name for each kind, so
//! that every place that lists them (`gridmap validate --problems`, `GET /api/problems`, the
//! `problems` map layer) lists the same things the same way.

use super::{Gap, Report, Straddling};
use super::{GridMismatch, InManyGrids, InvalidGrid, NotInBuilding, OutsideBoundary, Overlap};

/// The kinds of problem in the order they are listed: broken grids first, then what breaks
/// the one-building-one-grid invariant, then addresses. These are the names used in files,
/// the HTTP API and on the map.
pub const KINDS: [&str; 9] = [
    "invalid_grid",
    "overlap",
    "gap",
    "outside_boundary",
    "in_no_grid",
    "in_many_grids",
    "straddling",
    "address_not_in_building",
    "address_grid_mismatch",
];

/// One problem of a report, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Problem<'a> {
    /// A grid whose geometry is invalid, left out of the other checks.
    InvalidGrid(&'a InvalidGrid),
    /// Two grids overlapping by more than the area threshold.
    Overlap(&'a Overlap),
    /// Land of the boundary (or a hole between grids) that no grid covers.
    Gap(&'a Gap),
    /// A grid reaching outside the boundary.
    OutsideBoundary(&'a OutsideBoundary),
    /// A building (id) in no grid.
    InNoGrid(&'a str),
    /// A building located inside more than one grid.
    InManyGrids(&'a InManyGrids),
    /// A building a grid edge cuts.
    Straddling(&'a Straddling),
    /// An address point in no building footprint.
    AddressNotInBuilding(&'a NotInBuilding),
    /// An address whose declared grid is not the grid at its point.
    AddressGridMismatch(&'a GridMismatch),
}

impl<'a> Problem<'a> {
    /// Its kind, one of [`KINDS`].
    pub fn kind(&self) -> &'static str {
        match self {
            Problem::InvalidGrid(_) => KINDS[0],
            Problem::Overlap(_) => KINDS[1],
            Problem::Gap(_) => KINDS[2],
            Problem::OutsideBoundary(_) => KINDS[3],
            Problem::InNoGrid(_) => KINDS[4],
            Problem::InManyGrids(_) => KINDS[5],
            Problem::Straddling(_) => KINDS[6],
            Problem::AddressNotInBuilding(_) => KINDS[7],
            Problem::AddressGridMismatch(_) => KINDS[8],
        }
    }

    /// The grids it involves, in the report's order (for an address whose declared grid
    /// disagrees: the declared one, then the one at its point). An address in no building
    /// involves the grid it declares, which the report does not hold: see
    /// [`Problem::address`].
    pub fn grids(&self) -> Vec<&'a str> {
        match self {
            Problem::InvalidGrid(g) => vec![g.grid.as_str()],
            Problem::Overlap(o) => o.grids.iter().map(String::as_str).collect(),
            Problem::OutsideBoundary(o) => vec![o.grid.as_str()],
            Problem::InManyGrids(m) => m.grids.iter().map(String::as_str).collect(),
            Problem::Straddling(s) => vec![&*s.grid],
            Problem::AddressGridMismatch(a) => std::iter::once(a.declared.as_str())
                .chain(a.actual.as_deref())
                .collect(),
            Problem::Gap(_) | Problem::InNoGrid(_) | Problem::AddressNotInBuilding(_) => Vec::new(),
        }
    }

    /// Its area in m², for overlaps, gaps and the parts of grids outside the boundary.
    pub fn area_m2(&self) -> Option<f64> {
        match self {
            Problem::Overlap(o) => Some(o.area_m2),
            Problem::Gap(g) => Some(g.area_m2),
            Problem::OutsideBoundary(o) => Some(o.area_m2),
            _ => None,
        }
    }

    /// The building it is about: the building itself for a building's problem, the nearest
    /// building for an address in none.
    pub fn building(&self) -> Option<&'a str> {
        match self {
            Problem::InNoGrid(id) => Some(id),
            Problem::InManyGrids(m) => Some(&m.building),
            Problem::Straddling(s) => Some(&s.building),
            Problem::AddressNotInBuilding(a) => a.nearest_building.as_deref(),
            _ => None,
        }
    }

    /// The address it is about.
    pub fn address(&self) -> Option<&'a str> {
        match self {
            Problem::AddressNotInBuilding(a) => Some(&a.address),
            Problem::AddressGridMismatch(a) => Some(&a.address),
            _ => None,
        }
    }

    /// The buildings located inside it, when it is an area (an overlap or a gap).
    pub fn buildings_inside(&self) -> Option<&'a [String]> {
        match self {
            Problem::Overlap(o) => Some(&o.buildings),
            Problem::Gap(g) => Some(&g.buildings),
            _ => None,
        }
    }
}

impl Report {
    /// Every problem, kind by kind in [`KINDS`] order and in the report's order within a
    /// kind, each with its position among its kind (from 0).
    pub fn problems(&self) -> impl Iterator<Item = (usize, Problem<'_>)> {
        fn numbered<'a, T: 'a>(
            items: &'a [T],
            f: impl Fn(&'a T) -> Problem<'a> + 'a,
        ) -> impl Iterator<Item = (usize, Problem<'a>)> + 'a {
            items.iter().enumerate().map(move |(n, x)| (n, f(x)))
        }
        numbered(&self.invalid_grids, Problem::InvalidGrid)
            .chain(numbered(&self.overlaps, Problem::Overlap))
            .chain(numbered(&self.gaps, Problem::Gap))
            .chain(numbered(&self.outside_boundary, Problem::OutsideBoundary))
            .chain(numbered(&self.in_no_grid, |id: &String| {
                Problem::InNoGrid(id.as_str())
            }))
            .chain(numbered(&self.in_many_grids, Problem::InManyGrids))
            .chain(numbered(&self.straddling, Problem::Straddling))
            .chain(numbered(
                &self.addresses.not_in_building,
                Problem::AddressNotInBuilding,
            ))
            .chain(numbered(
                &self.addresses.grid_mismatch,
                Problem::AddressGridMismatch,
            ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{AddressProblems, Summary};

    #[test]
    fn problems_come_kind_by_kind_numbered_within_each() {
        let report = Report {
            summary: Summary::default(),
            in_no_grid: vec!["b1".into(), "b2".into()],
            straddling: vec![Straddling {
                building: "b3".into(),
                grid: "G1".into(),
                outside_share: 0.4,
            }],
            invalid_grids: vec![InvalidGrid {
                grid: "G2".into(),
                reason: "self-intersection".into(),
            }],
            addresses: AddressProblems {
                grid_mismatch: vec![GridMismatch {
                    address: "a1".into(),
                    declared: "G1".into(),
                    actual: Some("G2".into()),
                }],
                ..AddressProblems::default()
            },
            ..Report::default()
        };
        let listed: Vec<(usize, &str, Vec<&str>, Option<&str>)> = report
            .problems()
            .map(|(n, p)| (n, p.kind(), p.grids(), p.building().or(p.address())))
            .collect();
        assert_eq!(
            listed,
            vec![
                (0, "invalid_grid", vec!["G2"], None),
                (0, "in_no_grid", vec![], Some("b1")),
                (1, "in_no_grid", vec![], Some("b2")),
                (0, "straddling", vec!["G1"], Some("b3")),
                (0, "address_grid_mismatch", vec!["G1", "G2"], Some("a1")),
            ]
        );
    }
}
