//! Measuring a plan and wording the report: the figures a planner judges a plan by, and why
//! each grid left outside the tolerance or with a tentacle is left so.
//!
//! [`measure`] turns the solver's regions into named plan grids with their workload, shape and
//! deviation, and fills the [`Report`]; [`imbalance_note`] reads the buildings along a grid's
//! edge to say why it is outside the tolerance, and [`tentacle_note`] reads the trials the arm
//! removal refused to say why an arm is left. [`measure_coverage`] adds what the core
//! validator finds: gap, overlap and outside area, and the buildings a grid edge cuts
//! ([`confirmed_straddlers`]). Each note carries its `kind` and figures besides the English
//! `reason`, for a client to word it in its own language.

use geo::{Area, BooleanOps, Coord, LineString, MultiPolygon};
use gridmap_core::geodesy::{LocalMetres, area_m2};
use gridmap_core::model::{Building, Footprint, Grid};
use gridmap_core::validate::{CoverageInput, Options as ValidateOptions, validate};
use rustc_hash::FxHashMap;

use crate::solve::PartNote;
use crate::{
    Note, NoteKind, PartitionInput, PartitionOptions, Plan, PlanGrid, Report, Straddlers,
    TentacleKind, TentacleNote, atoms, shape, solve,
};

/// Turns regions into plan grids with their numbers; orders and names them.
pub(crate) fn measure(
    input: &PartitionInput,
    options: &PartitionOptions,
    weights: &[f64],
    world: &atoms::World,
    solution: &solve::Solution,
    geometries: Vec<MultiPolygon>,
    k: usize,
) -> Plan {
    let frame = world.frame;
    // Per region sums.
    let mut workload = vec![0.0; k];
    let mut households = vec![0u64; k];
    let mut count = vec![0usize; k];
    let mut region_of_building: Vec<Option<usize>> = vec![None; input.buildings.len()];
    for (a, atom) in world.atoms.iter().enumerate() {
        let r = solution.labels[a] as usize;
        for &b in &atom.buildings {
            workload[r] += weights[b];
            households[r] += u64::from(input.buildings[b].households);
            count[r] += 1;
            region_of_building[b] = Some(r);
        }
    }
    // Name regions: kept codes with `current`, else north to south, west to east.
    let mut order: Vec<usize> = (0..k).collect();
    let centre = |g: &MultiPolygon| -> Coord {
        let (mut s, mut n) = (Coord::zero(), 0.0);
        for c in g.0.iter().flat_map(|p| p.exterior().0.iter()) {
            s = s + *c;
            n += 1.0;
        }
        if n > 0.0 { s / n } else { s }
    };
    let centres: Vec<Coord> = geometries.iter().map(centre).collect();
    if input.current.is_none() {
        order.sort_by(|&a, &b| {
            let (ca, cb) = (centres[a], centres[b]);
            // Rows about 1/sqrt(k) of the extent tall read naturally; plain y-then-x is stable.
            cb.y.total_cmp(&ca.y)
                .then(ca.x.total_cmp(&cb.x))
                .then(a.cmp(&b))
        });
    }
    let mut index_of = vec![0usize; k];
    for (i, &r) in order.iter().enumerate() {
        index_of[r] = i;
    }
    let code = |r: usize| -> String {
        match input.current {
            Some(current) => current[r].code.clone(),
            None => format!("{}{:03}", options.code_prefix, index_of[r] + 1),
        }
    };
    let shapes = shape::check(world, &solution.labels, k);
    let mut grids: Vec<PlanGrid> = Vec::with_capacity(k);
    let mut geometries: Vec<Option<MultiPolygon>> = geometries.into_iter().map(Some).collect();
    for &r in &order {
        let geometry = geometries[r].take().unwrap_or_else(|| MultiPolygon(vec![]));
        let area = area_m2(&geometry);
        let perimeter = perimeter_m(&frame, &geometry);
        let pp = shape::polsby_popper(area, perimeter);
        let target = solution.targets[r];
        let tentacles = solution.tentacles[r];
        grids.push(PlanGrid {
            code: code(r),
            contiguous: geometry.0.len() == 1,
            holes: geometry.0.iter().map(|p| p.interiors().len()).sum(),
            geometry,
            workload: workload[r],
            households: households[r],
            buildings: count[r],
            area_m2: area,
            perimeter_m: perimeter,
            polsby_popper: pp,
            deviation_pct: if target > 0.0 {
                100.0 * (workload[r] - target) / target
            } else {
                0.0
            },
            enclave_in: shapes.enclave_in[r].map(|q| code(q as usize)),
            tentacles,
        });
    }
    let assignment: Vec<Option<usize>> = region_of_building
        .iter()
        .map(|r| r.map(|r| index_of[r]))
        .collect();

    let mut report = Report {
        grids: k,
        buildings: world.inside_buildings,
        households: households.iter().sum(),
        target: solution.normal_target,
        tolerance: options.tolerance,
        seed: options.seed,
        atoms: world.atoms.len(),
        sites: world.sites,
        passes: solution.passes,
        outside_boundary: world
            .outside
            .iter()
            .map(|&b| input.buildings[b].id.clone())
            .collect(),
        ..Report::default()
    };
    let loads: Vec<f64> = grids.iter().map(|g| g.workload).collect();
    report.workload_min = loads.iter().copied().fold(f64::INFINITY, f64::min);
    report.workload_max = loads.iter().copied().fold(0.0, f64::max);
    report.workload_mean = loads.iter().sum::<f64>() / k as f64;
    report.spread = if report.workload_mean > 0.0 {
        (report.workload_max - report.workload_min) / report.workload_mean
    } else {
        0.0
    };
    for &r in &order {
        let g = &grids[index_of[r]];
        let within = g.deviation_pct.abs() <= 100.0 * options.tolerance + 1e-9;
        if let Some(heavy) = solution.heavy[r] {
            report.notes.push(heavy_building_note(
                input, world, solution, r, heavy, &g.code,
            ));
            continue;
        }
        report.max_deviation_pct = report.max_deviation_pct.max(g.deviation_pct.abs());
        if within {
            report.within_tolerance += 1;
        } else {
            let mut note = match &solution.part_note[r] {
                Some(part) => separate_parts_note(part, solution.normal_target),
                None => imbalance_note(
                    world,
                    &solution.labels,
                    &workload,
                    &solution.targets,
                    options.tolerance,
                    r,
                    &code,
                ),
            };
            note.grid = g.code.clone();
            report.notes.push(note);
        }
    }
    let pps: Vec<f64> = grids.iter().map(|g| g.polsby_popper).collect();
    report.polsby_popper_mean = pps.iter().sum::<f64>() / k as f64;
    report.polsby_popper_min = pps.iter().copied().fold(f64::INFINITY, f64::min);
    report.contiguous_grids = grids.iter().filter(|g| g.contiguous).count();
    report.all_contiguous = report.contiguous_grids == k;
    report.holes = grids.iter().map(|g| g.holes).sum();
    report.enclaves = grids.iter().filter(|g| g.enclave_in.is_some()).count();
    report.tentacles = grids.iter().map(|g| g.tentacles).sum();
    report.tentacles_removed = solution.tentacles_removed;
    report.tentacle_notes = solution
        .arms
        .iter()
        .map(|arm| {
            tentacle_note(
                input,
                weights,
                world,
                solution,
                arm,
                options.tolerance,
                &code,
            )
        })
        .collect();
    report
        .tentacle_notes
        .sort_by_key(|n| (n.grid.clone(), std::cmp::Reverse(n.buildings)));
    let (on, off) = world.graph.cut_lengths(&solution.labels);
    report.boundary_on_barrier_m = on;
    report.boundary_off_barrier_m = off;
    if let Some(current) = solution.current_region.as_ref() {
        let mut moved = 0usize;
        let mut moved_households = 0u64;
        for (b, now) in region_of_building.iter().enumerate() {
            if let Some(now) = now
                && current[b] != Some(*now)
            {
                moved += 1;
                moved_households += u64::from(input.buildings[b].households);
            }
        }
        report.moved_buildings = Some(moved);
        report.moved_households = Some(moved_households);
    }
    Plan {
        grids,
        assignment,
        report,
    }
}

/// The note of region `r`, a grid of its own for building `heavy` (with any buildings that
/// must stay together with it) heavier than the tolerance window alone; `grid` is its code.
fn heavy_building_note(
    input: &PartitionInput,
    world: &atoms::World,
    solution: &solve::Solution,
    r: usize,
    heavy: usize,
    grid: &str,
) -> Note {
    let b = &input.buildings[heavy];
    // The heavy atom can be several buildings whose footprints overlap (or one
    // keep-whole compound): its workload is theirs together.
    let together =
        world.atom_of_building[heavy].map_or(1, |a| world.atoms[a as usize].buildings.len());
    let what = if together > 1 {
        format!(
            "{together} buildings that must stay together (overlapping footprints or one compound, with {})",
            b.id
        )
    } else {
        format!("building {}", b.id)
    };
    Note {
        grid: grid.to_string(),
        kind: NoteKind::HeavyBuilding,
        reason: format!(
            "{what} alone has workload {} > target {:.1} × (1 + tolerance): it is a grid of its own",
            solution.targets[r], solution.normal_target
        ),
        building: Some(b.id.clone()),
        buildings: Some(together),
        workload: Some(solution.targets[r]),
        target: Some(solution.normal_target),
        ..Note::default()
    }
}

/// The note of a grid whose separate part of the boundary holds too much or too little
/// workload for a whole number of grids near the target (`normal_target`).
fn separate_parts_note(part: &PartNote, normal_target: f64) -> Note {
    Note {
        kind: NoteKind::SeparateParts,
        reason: format!(
            "the boundary is in {} separate parts and a grid cannot span two: this \
             part holds {:.0} of the workload ({:.1}% of the total) for {} grid(s) \
             of about {:.0} each ({:+.1}% of the target {:.1})",
            part.parts,
            part.workload,
            part.share_pct,
            part.grids,
            part.each,
            part.deviation_pct,
            normal_target
        ),
        too_heavy: Some(part.deviation_pct > 0.0),
        parts: Some(part.parts),
        grids_in_part: Some(part.grids),
        workload: Some(part.workload),
        target: Some(part.each),
        ..Note::default()
    }
}

/// Why region `r` ends outside the tolerance, from the buildings along its edge: the lightest
/// one it could give a neighbour (too heavy) or take from one (too light) either overshoots
/// the tolerance window, or would push every neighbour that could trade it outside its own;
/// otherwise a move would fit but would split a grid, or the search found none.
fn imbalance_note(
    world: &atoms::World,
    labels: &[u32],
    load: &[f64],
    targets: &[f64],
    tol: f64,
    r: usize,
    code: &dyn Fn(usize) -> String,
) -> Note {
    let g = &world.graph;
    let lo = |q: usize| targets[q] * (1.0 - tol);
    let hi = |q: usize| targets[q] * (1.0 + tol);
    let heavy = load[r] > targets[r];
    let members: Vec<usize> = (0..labels.len())
        .filter(|&a| labels[a] as usize == r)
        .collect();
    let by_atom = solve::trade_candidates(world, labels, &members, heavy);
    let trades: Vec<(f64, usize)> = by_atom
        .iter()
        .map(|&(a, q)| (world.atoms[a].weight, q))
        .collect();
    let (direction, by) = if heavy {
        ("too heavy", load[r] - hi(r))
    } else {
        ("too light", lo(r) - load[r])
    };
    // The most it can lose (or gain) and stay within the tolerance.
    let room = if heavy {
        load[r] - lo(r)
    } else {
        hi(r) - load[r]
    };
    let note = |kind: NoteKind, reason: String| Note {
        kind,
        reason,
        too_heavy: Some(heavy),
        by: Some(by),
        room: Some(room),
        target: Some(targets[r]),
        ..Note::default()
    };
    let Some(&(lightest, _)) = trades.iter().min_by(|a, b| a.0.total_cmp(&b.0)) else {
        // No building of it (heavy) or of a neighbour (light) touches the other side: the
        // grids meet, if at all, across land without buildings.
        let borders = members.iter().any(|&a| {
            g.range(a).any(|e| {
                let q = labels[g.neighbours[e] as usize];
                q != atoms::NONE && q as usize != r
            })
        });
        return note(
            NoteKind::NoTrade,
            if borders {
                format!(
                    "{direction} by {by:.0}: no building on its edge can change grid: it meets \
                     its neighbours only across land without buildings"
                )
            } else {
                format!("{direction} by {by:.0}: it borders no other grid")
            },
        );
    };
    let note = |kind: NoteKind, reason: String| Note {
        lightest: Some(lightest),
        ..note(kind, reason)
    };
    if lightest > room {
        return note(
            NoteKind::Overshoots,
            format!(
                "{direction} by {by:.0}: the lightest building it could {} a neighbour has workload \
             {lightest}, more than the {room:.0} it can {} and stay within ±{:.0}%",
                if heavy { "give" } else { "take from" },
                if heavy { "lose" } else { "gain" },
                100.0 * tol
            ),
        );
    }
    let fits = |&(w, q): &(f64, usize)| {
        w <= room
            && if heavy {
                load[q] + w <= hi(q) + 1e-9
            } else {
                load[q] - w >= lo(q) - 1e-9
            }
    };
    if !trades.iter().any(fits) {
        let mut around: Vec<usize> = trades.iter().map(|&(_, q)| q).collect();
        around.sort_unstable();
        around.dedup();
        let names: Vec<String> = around.iter().map(|&q| code(q)).collect();
        return Note {
            neighbours: names.clone(),
            ..note(
                NoteKind::NeighboursFull,
                format!(
                    "{direction} by {by:.0}: its neighbours ({}) would leave ±{:.0}% {} the buildings \
             along its edge (lightest {lightest})",
                    names.join(", "),
                    100.0 * tol,
                    if heavy {
                        "taking any of"
                    } else {
                        "giving any of"
                    },
                ),
            )
        };
    }
    // A fitting building that can leave its grid without splitting it: the search's shape
    // terms kept it where it is.
    let mut whole = solve::ConnectivityCheck::new(labels.len());
    let movable = by_atom
        .into_iter()
        .filter(|&(a, q)| fits(&(world.atoms[a].weight, q)))
        .find(|&(a, _)| whole.stays_connected_without(g, labels, a));
    match movable {
        Some((a, q)) => Note {
            neighbours: vec![code(q)],
            workload: Some(world.atoms[a].weight),
            ..note(
                NoteKind::KeptForShape,
                format!(
                    "{direction} by {by:.0}: moving a building of workload {} {} {} would fit; \
                     the plan keeps it for the grids' shape (or, from today's grids, to move \
                     fewer buildings)",
                    world.atoms[a].weight,
                    if heavy { "to" } else { "from" },
                    code(q)
                ),
            )
        },
        None => note(
            NoteKind::WouldSplit,
            format!(
                "{direction} by {by:.0}: every building that would fit (lightest {lightest}) \
                 would split its grid if it moved"
            ),
        ),
    }
}

/// Why `arm` is left on its grid, from the trials refused (see [`TentacleNote`]).
fn tentacle_note(
    input: &PartitionInput,
    weights: &[f64],
    world: &atoms::World,
    solution: &solve::Solution,
    arm: &solve::ArmLeft,
    tol: f64,
    code: &dyn Fn(usize) -> String,
) -> TentacleNote {
    let r = arm.region as usize;
    let buildings: Vec<usize> = arm
        .atoms
        .iter()
        .flat_map(|&a| world.atoms[a].buildings.iter().copied())
        .collect();
    let households = buildings
        .iter()
        .map(|&b| u64::from(input.buildings[b].households))
        .sum();
    let workload = buildings.iter().map(|&b| weights[b]).sum();
    let neighbours: Vec<String> = arm.along.iter().map(|&q| code(q as usize)).collect();
    let refused = arm.refused;
    let tried = refused.unbalanced + refused.split + refused.thinner + refused.no_fewer;
    // The rule most trials broke; ties go to the first listed.
    let kind = if input.current.is_some() {
        TentacleKind::FromCurrent
    } else if solution.heavy[r].is_some() {
        TentacleKind::HeavyBuilding
    } else if tried == 0 {
        TentacleKind::Untried
    } else {
        [
            (refused.unbalanced, TentacleKind::Unbalanced),
            (refused.thinner, TentacleKind::Thinner),
            (refused.no_fewer, TentacleKind::NoFewer),
            (refused.split, TentacleKind::Split),
        ]
        .into_iter()
        .rev()
        .max_by_key(|(n, _)| *n)
        .map_or(TentacleKind::Untried, |(_, kind)| kind)
    };
    let what = if buildings.is_empty() {
        "an arm of land without buildings".to_string()
    } else {
        format!(
            "an arm holding {} building(s) ({households} households)",
            buildings.len()
        )
    };
    let along = if neighbours.is_empty() {
        String::new()
    } else {
        format!(" along {}", neighbours.join(", "))
    };
    let rule = match kind {
        TentacleKind::Unbalanced => format!(
            "left a grid outside ±{}% (or further outside it)",
            100.0 * tol
        ),
        TentacleKind::Thinner => "left another grid thinner than any in the plan".to_string(),
        TentacleKind::NoFewer => {
            "left as many tentacles (this grid kept an arm, or a neighbour grew one)".to_string()
        }
        TentacleKind::Split => "left a grid in pieces".to_string(),
        TentacleKind::HeavyBuilding | TentacleKind::FromCurrent | TentacleKind::Untried => {
            String::new()
        }
    };
    let why = match kind {
        TentacleKind::HeavyBuilding => {
            "the grid is a building of its own, heavier than the target, and keeps its land"
                .to_string()
        }
        TentacleKind::FromCurrent => "rebalancing today's grids moves as few buildings as it \
                                      can and reshapes nothing: the arm is today's, or came \
                                      with a building that moved"
            .to_string(),
        TentacleKind::Untried => "no trial to remove it was made: the trials allowed for an \
                                  input this large ran out, or it came with the last balance \
                                  repair"
            .to_string(),
        _ => {
            let most = [
                refused.unbalanced,
                refused.thinner,
                refused.no_fewer,
                refused.split,
            ]
            .into_iter()
            .max()
            .unwrap_or(0);
            format!(
                "{tried} trial(s) to hand it over or to redraw the grid with its neighbours \
                 were refused, {most} because they {rule}"
            )
        }
    };
    TentacleNote {
        grid: code(r),
        kind,
        reason: format!("{what}{along}: {why}"),
        buildings: buildings.len(),
        households,
        workload,
        neighbours,
        refused_unbalanced: refused.unbalanced,
        refused_split: refused.split,
        refused_thinner: refused.thinner,
        refused_no_fewer: refused.no_fewer,
    }
}

/// Validates the plan's grids against the boundary and the buildings inside it with the core
/// validator, and writes into the report the gap, overlap and outside area it finds (planar, in
/// the local frame) and how many buildings lie in one grid, are cut by a grid edge or cross the
/// boundary.
pub(crate) fn measure_coverage(plan: &mut Plan, input: &PartitionInput, world: &atoms::World) {
    let grids = plan.model_grids();
    let inside_buildings: Vec<Building> = plan
        .assignment
        .iter()
        .zip(input.buildings)
        .filter(|(a, _)| a.is_some())
        .map(|(_, b)| b.clone())
        .collect();
    let coverage = validate(
        &CoverageInput {
            grids: &grids,
            buildings: &inside_buildings,
            boundary: Some(input.boundary),
            ..CoverageInput::default()
        },
        &ValidateOptions {
            min_area_m2: 0.01,
            straddle_share: STRADDLE_SHARE,
        },
        &mut |_| {},
    );
    let s = &coverage.report.summary;
    // Planar areas in the local frame: the slivers left by floating point are too thin for
    // the geodesic area to orient them reliably.
    let per = world.frame.m2_per_deg2();
    // A float sum of nothing is −0.0, which the report and the CLI would print as "-0";
    // adding +0.0 makes it 0.
    let m2 = |areas: Vec<f64>| areas.iter().sum::<f64>() * per + 0.0;
    let r = &coverage.report;
    plan.report.gap_area_m2 = Some(m2(r
        .gaps
        .iter()
        .map(|g| g.geometry.unsigned_area())
        .collect()));
    plan.report.overlap_area_m2 = Some(m2(r
        .overlaps
        .iter()
        .map(|o| o.geometry.unsigned_area())
        .collect()));
    plan.report.outside_area_m2 = Some(m2(r
        .outside_boundary
        .iter()
        .map(|o| o.geometry.unsigned_area())
        .collect()));
    let straddlers = confirmed_straddlers(r, &inside_buildings, &grids, input.boundary);
    plan.report.buildings_in_one_grid = Some(s.in_one_grid);
    plan.report.buildings_straddling = Some(straddlers.cut_by_grid_edge);
    plan.report.buildings_crossing_boundary = Some(straddlers.crossing_boundary);
}

/// Sorts the buildings the validator reports straddling into those a grid edge cuts and those
/// the boundary cuts. The validator's fast overlay is exact to about 1e-12 deg² (0.01 m²) and
/// can be that much off where a drawn edge runs within 1e-13° of a footprint's edge, as the
/// overlay that drew the grid leaves them: at a threshold of 1e-6 that is a false alarm, so
/// each one is measured again (geo's boolean operations), and counted in neither.
pub fn confirmed_straddlers(
    report: &gridmap_core::validate::Report,
    buildings: &[Building],
    grids: &[Grid],
    boundary: &MultiPolygon,
) -> Straddlers {
    let mut found = Straddlers::default();
    if report.straddling.is_empty() {
        return found;
    }
    let building: FxHashMap<&str, &Building> =
        buildings.iter().map(|b| (b.id.as_str(), b)).collect();
    let grid: FxHashMap<&str, &Grid> = grids.iter().map(|g| (g.code.as_str(), g)).collect();
    for st in &report.straddling {
        let (Some(b), Some(g)) = (building.get(&*st.building), grid.get(&*st.grid)) else {
            found.cut_by_grid_edge += 1;
            continue;
        };
        let Footprint::Area(fp) = &b.footprint else {
            found.cut_by_grid_edge += 1;
            continue;
        };
        let whole = fp.unsigned_area();
        if whole <= 0.0 {
            continue;
        }
        let off_grid = 1.0 - fp.intersection(&g.geometry).unsigned_area() / whole;
        if off_grid <= STRADDLE_SHARE {
            continue;
        }
        let off_boundary = fp.difference(boundary).unsigned_area() / whole;
        if off_grid - off_boundary > STRADDLE_SHARE {
            found.cut_by_grid_edge += 1;
        } else {
            found.crossing_boundary += 1;
        }
    }
    found
}

/// Share of a footprint outside its grid above which the plan calls it cut by a grid edge.
const STRADDLE_SHARE: f64 = 1e-6;

/// Perimeter in metres in the local frame (every ring, holes included).
pub(crate) fn perimeter_m(frame: &LocalMetres, area: &MultiPolygon) -> f64 {
    let ring = |r: &LineString| -> f64 {
        r.0.windows(2)
            .map(|w| {
                let (a, b) = (frame.project(w[0]), frame.project(w[1]));
                (b.x - a.x).hypot(b.y - a.y)
            })
            .sum()
    };
    area.0
        .iter()
        .map(|p| ring(p.exterior()) + p.interiors().iter().map(ring).sum::<f64>())
        .sum()
}
