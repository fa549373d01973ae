//! Coverage invariants as properties over random towns: an exact tiling has no gap and no
//! overlap and puts every building in exactly one grid; removing a grid leaves exactly its
//! buildings in no grid (but those on an edge a neighbour shares); duplicating a grid puts exactly its buildings in two grids.

use gridmap_core::assign::Assignment;
use gridmap_core::geodesy::area_m2;
use gridmap_core::locate::{Location, PreparedArea};
use gridmap_core::validate::{Coverage, CoverageInput, Options, validate};
use gridmap_core::{Grid, Village};
use gridmap_synth::{SynthTown, TownSpec, town};
use proptest::prelude::*;

fn run(t: &SynthTown, grids: &[Grid], with_boundary: bool) -> Coverage {
    let input = CoverageInput {
        grids,
        buildings: &t.buildings,
        boundary: with_boundary.then_some(&t.boundary),
        ..CoverageInput::default()
    };
    validate(&input, &Options::default(), &mut |_| {})
}

fn spec() -> impl Strategy<Value = TownSpec> {
    (1usize..40, 50usize..600, any::<u64>()).prop_map(|(grids, buildings, seed)| TownSpec {
        grids,
        buildings,
        seed,
        ..TownSpec::default()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn an_exact_tiling_has_no_gap_no_overlap_and_one_grid_per_building(spec in spec()) {
        let t = town(&spec);
        let r = run(&t, &t.grids, true).report;
        prop_assert_eq!(r.summary.gaps, 0);
        prop_assert_eq!(r.summary.overlaps, 0);
        prop_assert_eq!(r.summary.outside_boundary, 0);
        prop_assert_eq!(r.summary.invalid_grids, 0);
        prop_assert_eq!(r.summary.in_one_grid, spec.buildings);
        // The grids' areas add up to the town's.
        let total: f64 = t.grids.iter().map(|g| area_m2(&g.geometry)).sum();
        let town_area = area_m2(&t.boundary);
        prop_assert!((total - town_area).abs() < 1e-6 * town_area, "{} vs {}", total, town_area);
    }

    #[test]
    fn removing_a_grid_leaves_exactly_its_buildings_in_no_grid(spec in spec(), pick in any::<prop::sample::Index>()) {
        prop_assume!(spec.grids > 1);
        let t = town(&spec);
        let full = run(&t, &t.grids, true);
        let removed = pick.index(t.grids.len());
        let mut fewer = t.grids.clone();
        let gone = fewer.remove(removed);
        // Its buildings, but for those located on an edge it shares with a remaining grid
        // (that grid takes them); one located on the town's outer edge has nowhere to go.
        let remaining: Vec<PreparedArea> = fewer.iter().map(|g| PreparedArea::new(&g.geometry)).collect();
        let kept_by_neighbour = |b: &gridmap_core::Building| {
            b.location().is_some_and(|c| remaining.iter().any(|a| a.locate(c) != Location::Outside))
        };
        let mut expected = Vec::new();
        let mut strictly_inside = Vec::new();
        for (b, a) in t.buildings.iter().zip(&full.assignments) {
            if let Assignment::One { grid, on_edge, .. } = a
                && *grid as usize == removed
            {
                if !*on_edge {
                    strictly_inside.push(b.id.clone());
                }
                if !*on_edge || !kept_by_neighbour(b) {
                    expected.push(b.id.clone());
                }
            }
        }
        expected.sort();
        strictly_inside.sort();
        let r = run(&t, &fewer, true).report;
        prop_assert_eq!(&r.in_no_grid, &expected);
        // The hole it leaves is one gap of its area, holding those buildings. (The overlay that builds the gap polygon
        // snaps to a fine integer grid: areas agree to ~1e-5.)
        prop_assert_eq!(r.summary.gaps, 1);
        let hole = area_m2(&gone.geometry);
        prop_assert!((r.gaps[0].area_m2 - hole).abs() < 1e-4 * hole, "{} vs {}", r.gaps[0].area_m2, hole);
        // A building located exactly on the hole's outline may fall either side of it.
        let in_gap = &r.gaps[0].buildings;
        prop_assert!(strictly_inside.iter().all(|b| in_gap.contains(b)), "{:?} ⊄ {:?}", strictly_inside, in_gap);
        prop_assert!(in_gap.iter().all(|b| expected.contains(b)), "{:?} ⊄ {:?}", in_gap, expected);
    }

    #[test]
    fn duplicating_a_grid_puts_exactly_its_buildings_in_two_grids(spec in spec(), pick in any::<prop::sample::Index>()) {
        let t = town(&spec);
        let full = run(&t, &t.grids, false);
        let copied = pick.index(t.grids.len());
        let mut more = t.grids.clone();
        let twin = Grid { code: "ZZ-twin".into(), ..t.grids[copied].clone() };
        more.push(twin);
        let r = run(&t, &more, false).report;
        let expected: Vec<String> = t.buildings.iter().zip(&full.assignments)
            .filter(|(_, a)| matches!(a, Assignment::One { grid, on_edge: false, .. } if *grid as usize == copied))
            .map(|(b, _)| b.id.clone())
            .collect();
        let got: Vec<String> = r.in_many_grids.iter().map(|m| m.building.clone()).collect();
        let mut expected = expected;
        expected.sort();
        prop_assert_eq!(&got, &expected);
        for m in &r.in_many_grids {
            prop_assert_eq!(&m.grids, &vec![t.grids[copied].code.clone(), "ZZ-twin".to_string()]);
        }
        // The overlap is the whole grid.
        prop_assert_eq!(r.summary.overlaps, 1);
        let whole = area_m2(&t.grids[copied].geometry);
        prop_assert!((r.overlaps[0].area_m2 - whole).abs() < 1e-4 * whole, "{} vs {}", r.overlaps[0].area_m2, whole);
    }
}

#[test]
fn villages_and_towns_are_plain_records() {
    // The org tree above grids is data only; validation is per grid layer.
    let v = Village {
        code: "V1".into(),
        name: "一村".into(),
        town: Some("T1".into()),
        boundary: None,
    };
    assert_eq!(v.town.as_deref(), Some("T1"));
}
