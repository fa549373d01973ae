//! Incremental validation equals a full one: after random reshapes, deletions and additions of
//! grids (overlapping, leaving gaps, invalid, on shared edges), [`revalidate`] from the previous
//! coverage gives the assignments and report that [`validate`] gives from scratch.

use geo::{Coord, LineString, MultiPoint, MultiPolygon, Point, Polygon, Rect, polygon};
use gridmap_core::assign::Assignments;
use gridmap_core::index::footprint_bbox;
use gridmap_core::model::{Address, Building, Footprint, Grid};
use gridmap_core::validate::{Before, Coverage, CoverageInput, Options, revalidate, validate};
use proptest::prelude::*;

/// Degrees per lattice cell (about 1 km near Shanghai), and per jitter step.
const CELL: f64 = 0.01;
const STEP: f64 = 0.0005;
const ORIGIN: Coord = Coord {
    x: 121.40,
    y: 31.20,
};

fn at(i: f64, j: f64) -> Coord {
    Coord {
        x: ORIGIN.x + i * CELL,
        y: ORIGIN.y + j * CELL,
    }
}

/// A lattice cell's square, each corner moved by whole jitter steps (mostly none, so that
/// neighbours share edges exactly).
fn cell(code: &str, i: u8, j: u8, jitter: [i8; 8]) -> Grid {
    let (i, j) = (f64::from(i), f64::from(j));
    let c = |k: usize, p: Coord| Coord {
        x: p.x + f64::from(jitter[2 * k]) * STEP,
        y: p.y + f64::from(jitter[2 * k + 1]) * STEP,
    };
    let ring = vec![
        c(0, at(i, j)),
        c(1, at(i + 1.0, j)),
        c(2, at(i + 1.0, j + 1.0)),
        c(3, at(i, j + 1.0)),
        c(0, at(i, j)),
    ];
    Grid {
        code: code.into(),
        name: None,
        village: None,
        geometry: MultiPolygon(vec![Polygon::new(LineString(ring), vec![])]),
    }
}

/// A self-intersecting bow tie over cell (i, j).
fn bowtie(code: &str, i: u8, j: u8) -> Grid {
    let (i, j) = (f64::from(i), f64::from(j));
    let (a, b, c, d) = (
        at(i, j),
        at(i + 1.0, j + 1.0),
        at(i + 1.0, j),
        at(i, j + 1.0),
    );
    Grid {
        code: code.into(),
        name: None,
        village: None,
        geometry: MultiPolygon(vec![polygon![a, b, c, d, a]]),
    }
}

fn jitter() -> impl Strategy<Value = [i8; 8]> {
    prop::array::uniform8(prop_oneof![6 => Just(0i8), 1 => -3i8..=3])
}

#[derive(Debug, Clone)]
enum Op {
    Reshape(usize, [i8; 8]),
    Move(usize, u8, u8),
    Delete(usize),
    Add(u8, u8, [i8; 8]),
    Break(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<usize>(), jitter()).prop_map(|(k, j)| Op::Reshape(k, j)),
        1 => (any::<usize>(), 0u8..5, 0u8..5).prop_map(|(k, i, j)| Op::Move(k, i, j)),
        2 => any::<usize>().prop_map(Op::Delete),
        2 => (0u8..5, 0u8..5, jitter()).prop_map(|(i, j, jt)| Op::Add(i, j, jt)),
        1 => any::<usize>().prop_map(Op::Break),
    ]
}

/// Where each grid sits, so that a reshape keeps its cell.
#[derive(Debug, Clone)]
struct Placed {
    grid: Grid,
    cell: (u8, u8),
}

fn apply(grids: &mut Vec<Placed>, op: &Op, serial: &mut u32) {
    let pick = |k: usize, n: usize| (n > 0).then(|| k % n);
    match *op {
        Op::Reshape(k, jt) => {
            if let Some(k) = pick(k, grids.len()) {
                let p = &grids[k];
                grids[k].grid = cell(&p.grid.code, p.cell.0, p.cell.1, jt);
            }
        }
        Op::Move(k, i, j) => {
            if let Some(k) = pick(k, grids.len()) {
                grids[k] = Placed {
                    grid: cell(&grids[k].grid.code, i, j, [0; 8]),
                    cell: (i, j),
                };
            }
        }
        Op::Delete(k) => {
            if let Some(k) = pick(k, grids.len()) {
                grids.remove(k);
            }
        }
        Op::Add(i, j, jt) => {
            *serial += 1;
            let code = format!("N{serial:03}");
            grids.push(Placed {
                grid: cell(&code, i, j, jt),
                cell: (i, j),
            });
        }
        Op::Break(k) => {
            if let Some(k) = pick(k, grids.len()) {
                let p = &grids[k];
                grids[k].grid = bowtie(&p.grid.code, p.cell.0, p.cell.1);
            }
        }
    }
}

fn world() -> impl Strategy<Value = (Vec<Placed>, Vec<Building>, Vec<Address>, bool)> {
    let grids = prop::collection::vec((0u8..4, 0u8..4, jitter()), 6..16).prop_map(|cells| {
        let mut seen = std::collections::HashSet::new();
        cells
            .into_iter()
            .filter(|(i, j, _)| seen.insert((*i, *j)))
            .enumerate()
            .map(|(n, (i, j, jt))| Placed {
                grid: cell(&format!("G{n:02}"), i, j, jt),
                cell: (i, j),
            })
            .collect::<Vec<_>>()
    });
    // Buildings on a fine lattice, so that some sit exactly on cell edges.
    let buildings = prop::collection::vec((0u16..100, 0u16..100, 1u8..4, any::<bool>()), 40..200)
        .prop_map(|spots| {
            spots
                .into_iter()
                .enumerate()
                .map(|(n, (x, y, size, point))| {
                    let c = Coord {
                        x: ORIGIN.x - CELL * 0.5 + f64::from(x) * CELL * 0.05,
                        y: ORIGIN.y - CELL * 0.5 + f64::from(y) * CELL * 0.05,
                    };
                    let h = f64::from(size) * CELL * 0.02;
                    let footprint = if point {
                        Footprint::Point(Point(c))
                    } else {
                        Footprint::Area(MultiPolygon(vec![
                            Rect::new(
                                Coord {
                                    x: c.x - h,
                                    y: c.y - h,
                                },
                                Coord {
                                    x: c.x + h,
                                    y: c.y + h,
                                },
                            )
                            .to_polygon(),
                        ]))
                    };
                    Building {
                        id: format!("b{n:04}"),
                        footprint,
                        households: 1,
                        floors: None,
                        kind: None,
                    }
                })
                .collect::<Vec<_>>()
        });
    let addresses = prop::collection::vec((0u16..100, 0u16..100, prop::option::of(0u8..20)), 0..40)
        .prop_map(|spots| {
            spots
                .into_iter()
                .enumerate()
                .map(|(n, (x, y, declared))| Address {
                    id: format!("a{n:03}"),
                    point: Point(Coord {
                        x: ORIGIN.x - CELL * 0.5 + f64::from(x) * CELL * 0.05,
                        y: ORIGIN.y - CELL * 0.5 + f64::from(y) * CELL * 0.05,
                    }),
                    text: None,
                    declared_grid: declared.map(|d| format!("G{d:02}")),
                    declared_building: None,
                })
                .collect::<Vec<_>>()
        });
    (grids, buildings, addresses, any::<bool>())
}

fn near(buildings: &[Building]) -> impl Fn(Rect) -> Vec<u32> + Sync + '_ {
    move |r: Rect| {
        buildings
            .iter()
            .enumerate()
            .filter(|(_, b)| {
                footprint_bbox(&b.footprint).is_some_and(|e| {
                    e.min().x <= r.max().x
                        && e.max().x >= r.min().x
                        && e.min().y <= r.max().y
                        && e.max().y >= r.min().y
                })
            })
            .map(|(i, _)| i as u32)
            .collect()
    }
}

fn assert_same(incremental: &Coverage, full: &Coverage) {
    assert_eq!(incremental.assignments, full.assignments);
    if let Err(e) = incremental.report.agrees_with(&full.report) {
        panic!("{e}");
    }
}

fn coverage_input<'a>(
    grids: &'a [Grid],
    buildings: &'a [Building],
    boundary: Option<&'a MultiPolygon>,
    addresses: &'a [Address],
) -> CoverageInput<'a> {
    CoverageInput {
        grids,
        buildings,
        boundary,
        addresses,
        input_defects: &[],
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn revalidation_equals_a_full_validation(
        (start, buildings, addresses, bounded) in world(),
        steps in prop::collection::vec(prop::collection::vec(op(), 1..4), 1..4),
    ) {
        // Half a step off the lattice: no building lies exactly on the boundary, where the last
        // bits of an overlay decide whether it is in a gap.
        let boundary = bounded.then(|| {
            let half = STEP / 2.0;
            let (a, b) = (at(0.0, 0.0), at(4.0, 4.0));
            MultiPolygon(vec![Rect::new(
                Coord { x: a.x + half, y: a.y + half },
                Coord { x: b.x - half, y: b.y - half },
            ).to_polygon()])
        });
        let options = Options::default();
        let mut placed = start;
        let mut grids: Vec<Grid> = placed.iter().map(|p| p.grid.clone()).collect();
        let first = validate(&coverage_input(&grids, &buildings, boundary.as_ref(), &addresses), &options, &mut |_| {});
        // As the server does: each step starts from the last one's report and (shared)
        // assignments.
        let (mut report, mut assignments) = (first.report, Assignments::from(first.assignments));
        let mut serial = 0;
        for ops in &steps {
            for op in ops {
                apply(&mut placed, op, &mut serial);
            }
            let next: Vec<Grid> = placed.iter().map(|p| p.grid.clone()).collect();
            let kept = assignments.to_vec();
            let incremental = revalidate(
                Before { grids: &grids, report: &report, assignments: &assignments },
                &coverage_input(&next, &buildings, boundary.as_ref(), &addresses),
                &options,
                &near(&buildings),
            );
            prop_assert!(incremental.delta.is_some(), "validated in full");
            prop_assert_eq!(assignments.to_vec(), kept, "the coverage before was left as it was");
            let full = validate(&coverage_input(&next, &buildings, boundary.as_ref(), &addresses), &options, &mut |_| {});
            assert_same(
                &Coverage { report: incremental.report.clone(), assignments: incremental.assignments.to_vec() },
                &full,
            );
            grids = next;
            (report, assignments) = (incremental.report, incremental.assignments);
        }
    }
}

#[test]
fn an_unchanged_coverage_is_kept() {
    let grids = vec![
        cell("A", 0, 0, [0; 8]),
        cell("B", 1, 0, [2, 0, 0, 0, 0, 0, 0, 0]),
    ];
    let buildings: Vec<Building> = MultiPoint::from(vec![at(0.5, 0.5), at(1.5, 0.5), at(3.0, 3.0)])
        .0
        .into_iter()
        .enumerate()
        .map(|(n, p)| Building {
            id: format!("b{n}"),
            footprint: Footprint::Point(p),
            households: 1,
            floors: None,
            kind: None,
        })
        .collect();
    let input = CoverageInput {
        grids: &grids,
        buildings: &buildings,
        ..CoverageInput::default()
    };
    let options = Options::default();
    let full = validate(&input, &options, &mut |_| {});
    assert!(full.report.has_problems());
    let shared = Assignments::from(full.assignments.clone());
    let again = revalidate(
        Before {
            grids: &grids,
            report: &full.report,
            assignments: &shared,
        },
        &input,
        &options,
        &|_| panic!("nothing changed, so no building needs to be looked up"),
    );
    assert_eq!(
        again.delta.map(|d| d.reassigned),
        Some(Vec::new()),
        "nothing was assigned again"
    );
    assert_eq!(
        again.assignments.shared_chunks_with(&shared),
        1,
        "nothing was copied"
    );
    let again = Coverage {
        report: again.report,
        assignments: again.assignments.to_vec(),
    };
    assert_same(&again, &full);
}
