//! The second stage of one start of the solver: from the regions on the atom graph to the
//! drawn grids.
//!
//! The shape check's plain removal hands narrow arms whole to a neighbour where balance
//! allows ([`crate::shape::remove_tentacles`]); the arms left on the drawn grids are removed
//! by trials ([`super::arms`]); the last balance repair moves single buildings into the
//! tolerance ([`super::balance`]); every grid is drawn as one polygon
//! ([`super::drawing`]), reusing the arm removal's last drawing where the labels did not
//! change since; and every arm still drawn is listed with why it stayed ([`ArmLeft`]).

use geo::MultiPolygon;
use gridmap_core::model::Grid;

use super::arms::{Refusals, Targets, remove_arms_by_trials};
use super::balance::repair_balance;
use super::drawing::{DrawnGrids, draw_whole};
use super::local_search::searcher;
use super::search_from_seed::SearchedStart;
use super::{ArmLeft, Solution};
use crate::atoms::World;
use crate::outline::Sketches;

/// The second stage of a run of the solver from `start`: arms removed, balance repaired,
/// every grid drawn whole, and the arms left listed.
pub(super) fn remove_arms_and_draw(
    world: &World,
    boundary: &MultiPolygon,
    k: usize,
    current: Option<&[Grid]>,
    start: SearchedStart,
) -> Solution {
    let SearchedStart {
        options,
        mut labels,
        fixed,
        heavy,
        targets,
        search_targets,
        normal_target,
        part_note,
        current_region,
        mut passes,
    } = start;
    let options = &options;
    let weight: Vec<f64> = world.atoms.iter().map(|a| a.weight).collect();
    // Today's grids keep their arms unless balance moves them: fewer buildings change grid.
    let mut drawing = None;
    let mut refused = vec![Refusals::default(); k];
    let mut sketches = Sketches::new(world, boundary);
    let tentacles_removed = if current.is_none() {
        let removed = crate::shape::remove_tentacles(
            world,
            &mut labels,
            &weight,
            &search_targets,
            &fixed,
            options.tolerance,
            k,
        );
        let (handed, drawn, why) = remove_arms_by_trials(
            world,
            &mut sketches,
            &weight,
            &mut labels,
            &fixed,
            Targets {
                search: &search_targets,
                report: &targets,
            },
            options,
            k,
        );
        drawing = Some(drawn);
        refused = why;
        removed + handed
    } else {
        0
    };
    // Fresh plans only: with today's grids, every move is a building that changes grid. To
    // the target the report measures: where a part of the boundary is balanced to its own
    // share, a move that brings one of its grids closer to the target without pushing
    // another out is still a better plan.
    if current.is_none() {
        repair_balance(
            world,
            &mut labels,
            &weight,
            &targets,
            &fixed,
            options.tolerance,
            None,
            k,
        );
    }
    let (drawn, whole_passes) = match drawing {
        // The arm check drew these very labels last.
        Some(d) if d.from == labels => {
            labels = d.labels;
            (d.drawn, 0)
        }
        d => {
            let (geometry, passes) = draw_whole(
                world,
                &mut sketches,
                &mut labels,
                k,
                &mut searcher(
                    world,
                    &weight,
                    &fixed,
                    &search_targets,
                    options,
                    current.is_some(),
                    None,
                    k,
                ),
            );
            (
                DrawnGrids::new(world, geometry, d.as_ref().map(|d| &d.drawn)),
                passes,
            )
        }
    };
    passes += whole_passes;
    let mut arms = Vec::new();
    for (r, drawn_arms) in drawn.arms.iter().enumerate() {
        let r = r as u32;
        for arm in drawn_arms {
            let atoms = crate::shape::atoms_in_arms(world, &labels, r, std::slice::from_ref(arm))
                .pop()
                .unwrap_or_default();
            arms.push(ArmLeft {
                region: r,
                along: crate::shape::neighbours_of(world, &labels, &atoms, r),
                atoms,
                refused: refused[r as usize],
            });
        }
    }
    Solution {
        labels,
        targets,
        normal_target,
        heavy,
        passes,
        current_region,
        part_note,
        tentacles_removed,
        tentacles: drawn.tentacles,
        geometry: drawn.geometry,
        arms,
    }
}
