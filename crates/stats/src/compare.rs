//! A re-partitioning plan compared with today's grids: which plan grid continues which current
//! grid, and which buildings would change grid.

use std::collections::{BTreeMap, HashMap, HashSet};

use gridmap_core::Building;
use gridmap_partition::Plan;
use serde::Serialize;

/// A building whose grid would change under a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Move {
    /// Id of the building.
    pub building: String,
    /// Its grid today (`None`: in no grid, or in several).
    pub from: Option<String>,
    /// Its plan grid.
    pub to: String,
    /// Its households: the workload that moves with it.
    pub households: u32,
}

/// A plan compared with today's grids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Plan grid code → the current grid it matches.
    pub matching: BTreeMap<String, String>,
    /// The buildings whose grid would change, counting a building as staying when its plan
    /// grid matches its grid today.
    pub moves: Vec<Move>,
}

/// Matches plan grids to today's grids and lists the buildings that would move; `buildings`
/// are the plan's input buildings and `today` each one's grid today (`None`: in no grid, or in
/// several).
///
/// Each (plan grid, current grid) pair is weighed by the households, then the buildings, they
/// share; pairs are taken heaviest first while both sides are free, so the matching is one to
/// one and a plan grid sharing nothing with today stays unmatched. A building moves when its
/// plan grid's match is not its grid today (buildings outside the plan are left out).
pub fn compare(plan: &Plan, buildings: &[Building], today: &[Option<String>]) -> Comparison {
    let mut shared: HashMap<(usize, &str), (u64, u64)> = HashMap::new();
    for (b, to) in plan.assignment.iter().enumerate() {
        if let (Some(to), Some(Some(from))) = (to, today.get(b)) {
            let e = shared.entry((*to, from.as_str())).or_default();
            e.0 += u64::from(buildings[b].households);
            e.1 += 1;
        }
    }
    let mut pairs: Vec<_> = shared.into_iter().collect();
    // Heaviest first; ties by plan grid, then current code, so the result is deterministic.
    pairs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut taken_plan = vec![false; plan.grids.len()];
    let mut taken_current: HashSet<&str> = HashSet::new();
    let mut matched: Vec<Option<&str>> = vec![None; plan.grids.len()];
    for ((g, code), _) in pairs {
        if !taken_plan[g] && !taken_current.contains(code) {
            taken_plan[g] = true;
            taken_current.insert(code);
            matched[g] = Some(code);
        }
    }
    let mut out = Comparison::default();
    for (g, m) in matched.iter().enumerate() {
        if let Some(code) = m {
            out.matching
                .insert(plan.grids[g].code.clone(), (*code).to_string());
        }
    }
    for (b, to) in plan.assignment.iter().enumerate() {
        let Some(to) = *to else { continue };
        let from = today.get(b).cloned().flatten();
        if matched[to] != from.as_deref() {
            out.moves.push(Move {
                building: buildings[b].id.clone(),
                from,
                to: plan.grids[to].code.clone(),
                households: buildings[b].households,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{MultiPolygon, Point};
    use gridmap_core::Footprint;
    use gridmap_partition::{PlanGrid, Report};

    fn grid(code: &str) -> PlanGrid {
        PlanGrid {
            code: code.into(),
            geometry: MultiPolygon(vec![]),
            workload: 0.0,
            households: 0,
            buildings: 0,
            area_m2: 0.0,
            perimeter_m: 0.0,
            polsby_popper: 0.0,
            contiguous: true,
            holes: 0,
            deviation_pct: 0.0,
            enclave_in: None,
            tentacles: 0,
        }
    }

    fn building(id: &str, households: u32) -> Building {
        Building {
            id: id.into(),
            footprint: Footprint::Point(Point::new(0.0, 0.0)),
            households,
            floors: None,
            kind: None,
        }
    }

    #[test]
    fn plan_grids_match_the_grid_they_share_most_households_with_and_the_rest_move() {
        // P1 holds a (A, 5 households) and b (B, 1); P2 holds c (B, 3) and d (no grid, 1).
        // P1–A weighs 5, P2–B 3, P1–B 1: P1 continues A, P2 continues B, so b and d move.
        let plan = Plan {
            grids: vec![grid("P1"), grid("P2")],
            assignment: vec![Some(0), Some(0), Some(1), Some(1), None],
            report: Report::default(),
        };
        let buildings: Vec<Building> = [("a", 5), ("b", 1), ("c", 3), ("d", 1), ("e", 9)]
            .iter()
            .map(|&(id, h)| building(id, h))
            .collect();
        let today: Vec<Option<String>> = ["A", "B", "B", "", "A"]
            .iter()
            .map(|c| (!c.is_empty()).then(|| c.to_string()))
            .collect();
        let c = compare(&plan, &buildings, &today);
        assert_eq!(
            c.matching.into_iter().collect::<Vec<_>>(),
            [("P1".into(), "A".into()), ("P2".into(), "B".into())]
        );
        assert_eq!(
            c.moves,
            [
                Move {
                    building: "b".into(),
                    from: Some("B".into()),
                    to: "P1".into(),
                    households: 1
                },
                Move {
                    building: "d".into(),
                    from: None,
                    to: "P2".into(),
                    households: 1
                },
            ]
        );
    }
}
