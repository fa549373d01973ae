//! Removing the arms (tentacles) left on the drawn grids, by trials that are kept only when
//! they leave fewer tentacles without costing balance, wholeness or roundness.
//!
//! The shape check's plain removal ([`crate::shape::remove_tentacles`]) moves an arm whole to a
//! neighbour only where balance allows it. What it leaves, [`remove_arms_by_trials`] tries harder:
//! it draws a grid afresh with its neighbours ([`super::recombine`]), hands an arm to a neighbour
//! anyway or shares it out among the grids beside it, and lets the local search rebalance the grids
//! around. [`ArmTrials::consider`] keeps a trial only when no grid ends further outside the
//! tolerance, in more pieces, or thinner than the thinnest so far, and the drawn grids have fewer
//! tentacles (or as many, rounder or better balanced); a trial not kept is counted against the grid
//! it aimed at, by the rule it broke ([`Refusals`]), which the report gives as the reason the arm
//! is left.

use super::balance::{Imbalance, repair_balance};
use super::contiguity::pieces;
use super::drawing::{DrawnGrids, ReusableDrawing, draw_whole};
use super::local_search::searcher;
use super::recombine::{ResplitFrom, recombine};
use crate::PartitionOptions;
use crate::atoms::{NONE, World};
use crate::outline::Sketches;

/// Which count of [`Refusals`] a trial goes to.
type Refusal = fn(&mut Refusals) -> &mut usize;

/// Trials aimed at a grid's arms ([`remove_arms_by_trials`]) that [`ArmTrials::consider`] did not
/// keep, by the first rule each broke.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Refusals {
    /// More grids outside the tolerance, or further outside it.
    pub unbalanced: usize,
    /// A grid in more pieces.
    pub split: usize,
    /// A grid thinner (Polsby-Popper) than the thinnest so far.
    pub thinner: usize,
    /// No fewer tentacles (the grid kept an arm, or a neighbour grew one) and no rounder grids.
    pub no_fewer: usize,
}

/// Rounds of handing arms over regardless of balance and rebalancing after the plain removal.
const TENTACLE_ROUNDS: usize = 3;

/// Atom count × attempts allowed for [`remove_arms_by_trials`] (each attempt passes over all atoms
/// a few times, searches the grids around the arm and draws those that changed):
/// [`MAX_ARM_ATTEMPTS`] up to about 4,000 atoms, 33 at 15,000, 7 at 70,000.
const ARM_BUDGET: usize = 500_000;

/// Most attempts [`remove_arms_by_trials`] makes, however small the input. With the search limited
/// to the grids around an arm, 128 attempts on the demo town at 300 households a grid take
/// about as long as 32 did with the search over the whole town (8.6 against 8.3 s) and
/// leave fewer tentacles (seven seeds: 115 → 79).
const MAX_ARM_ATTEMPTS: usize = 128;

/// Arms that the plain removal could not move without unbalancing their grids, removed by
/// trials that [`ArmTrials::consider`] keeps or drops. First every grid drawn with a tentacle
/// is drawn afresh together with some of its neighbours ([`recombine`]), as a planner would
/// merge two or three grids and cut them again. Then each arm left is handed to one of its
/// three longest-bordering neighbours anyway, or shared out among them
/// ([`crate::shape::share_out`]): candidates, in grids whose drawn polygon has a tentacle, are
/// the atoms inside the drawn tentacles, then the atom check's arms (the two disagree where a
/// large cell draws an arm the atom graph does not see), and a hand-over that was tried and
/// not kept is not tried again. Then [`recombine`] once more, since the hand-overs changed
/// the grids around the arms left. Returns the tentacles removed and the last drawing.
#[allow(clippy::too_many_arguments)]
pub(super) fn remove_arms_by_trials(
    world: &World,
    sketches: &mut Sketches,
    weight: &[f64],
    labels: &mut Vec<u32>,
    fixed: &[bool],
    targets: Targets,
    options: &PartitionOptions,
    k: usize,
) -> (usize, ReusableDrawing, Vec<Refusals>) {
    use crate::shape::{atoms_in_arms, check, hand_over, neighbours_of, share_out};
    let mut work = ArmTrials::new(world, sketches, weight, labels, fixed, targets, options, k);
    if work.drawn.tentacles() == 0 {
        let refused = std::mem::take(&mut work.refused);
        return (0, work.into_drawing(labels), refused);
    }
    recombine(&mut work);
    let mut shapes = check(world, &work.labels, k);
    // The hand-overs' own attempts, after the re-splits'.
    let budget = (ARM_BUDGET / labels.len().max(1)).clamp(3, MAX_ARM_ATTEMPTS) + work.attempts;
    // Hand-overs tried and not kept: (region, taker or NONE for sharing out, arm).
    let mut tried: std::collections::HashSet<(u32, u32, Vec<usize>)> = Default::default();
    'rounds: for _ in 0..TENTACLE_ROUNDS {
        let mut changed = false;
        // The drawn arms of every grid drawn with a tentacle, then the atom check's.
        let candidates: Vec<Vec<Vec<usize>>> = (0..k)
            .map(|r| {
                if work.drawn.tentacles[r] == 0 {
                    return Vec::new();
                }
                let mut list = atoms_in_arms(world, &work.labels, r as u32, &work.drawn.arms[r]);
                for arm in &shapes.tentacles[r] {
                    if !list.contains(arm) {
                        list.push(arm.clone());
                    }
                }
                list
            })
            .collect();
        for (r, list) in candidates.iter().enumerate() {
            let r = r as u32;
            for arm in list {
                if arm.iter().any(|&a| work.labels[a] != r) {
                    continue;
                }
                let mut key_arm = arm.clone();
                key_arm.sort_unstable();
                let mut takers = neighbours_of(world, &work.labels, arm, r);
                takers.truncate(3);
                takers.push(NONE);
                for s in takers {
                    if work.attempts == budget || work.drawn.tentacles() == 0 {
                        break 'rounds;
                    }
                    if !tried.insert((r, s, key_arm.clone())) {
                        continue;
                    }
                    let mut trial = work.labels.clone();
                    let handed = if s == NONE {
                        share_out(world, &mut trial, arm, r, fixed)
                    } else {
                        hand_over(world, &mut trial, arm, r, s, fixed)
                    };
                    if handed.is_some() && work.consider(trial, r) {
                        changed = true;
                        break;
                    }
                }
            }
        }
        if !changed {
            break;
        }
        shapes = check(world, &work.labels, k);
    }
    recombine(&mut work);
    let refused = std::mem::take(&mut work.refused);
    (work.removed, work.into_drawing(labels), refused)
}

/// What regions are balanced to: the search's targets, where a separate part of the boundary
/// is balanced to its own share, and the report's, which the balance repair and the balance
/// of a trial answer to.
#[derive(Debug, Clone, Copy)]
pub(super) struct Targets<'a> {
    pub(super) search: &'a [f64],
    pub(super) report: &'a [f64],
}

/// The state of [`remove_arms_by_trials`]: the labels kept so far, their drawing and how balanced
/// they are.
pub(super) struct ArmTrials<'a, 's> {
    pub(super) world: &'a World,
    pub(super) sketches: &'s mut Sketches,
    pub(super) weight: &'a [f64],
    pub(super) fixed: &'a [bool],
    pub(super) targets: Targets<'a>,
    pub(super) options: &'a PartitionOptions,
    pub(super) k: usize,
    /// The labels kept so far, and the labels the search started from.
    pub(super) labels: Vec<u32>,
    pub(super) from: Vec<u32>,
    /// `from` made whole by [`draw_whole`], and its drawing.
    pub(super) whole: Vec<u32>,
    pub(super) drawn: DrawnGrids,
    pub(super) balance: Imbalance,
    pub(super) parts: Vec<usize>,
    /// Trials considered, and tentacles removed by those kept.
    pub(super) attempts: usize,
    pub(super) removed: usize,
    /// Re-splits tried ([`recombine`]): how many, and of which clusters holding which atoms
    /// from which start.
    pub(super) resplits: usize,
    pub(super) resplits_tried: std::collections::HashSet<(Vec<u32>, u64, ResplitFrom)>,
    /// Trials aimed at each region's arms that were not kept, by why.
    pub(super) refused: Vec<Refusals>,
}

impl<'a, 's> ArmTrials<'a, 's> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        world: &'a World,
        sketches: &'s mut Sketches,
        weight: &'a [f64],
        labels: &[u32],
        fixed: &'a [bool],
        targets: Targets<'a>,
        options: &'a PartitionOptions,
        k: usize,
    ) -> Self {
        let mut labels = labels.to_vec();
        repair_balance(
            world,
            &mut labels,
            weight,
            targets.report,
            fixed,
            options.tolerance,
            None,
            k,
        );
        let labels = &labels[..];
        let mut whole = labels.to_vec();
        let mut search = searcher(
            world,
            weight,
            fixed,
            targets.search,
            options,
            false,
            None,
            k,
        );
        let (geometry, _) = draw_whole(world, sketches, &mut whole, k, &mut search);
        ArmTrials {
            world,
            sketches,
            weight,
            fixed,
            targets,
            options,
            k,
            labels: labels.to_vec(),
            from: labels.to_vec(),
            whole,
            drawn: DrawnGrids::new(world, geometry, None),
            balance: Imbalance::of(labels, weight, targets.report, fixed, k, options.tolerance),
            parts: pieces(world, labels, k),
            attempts: 0,
            removed: 0,
            resplits: 0,
            resplits_tried: Default::default(),
            refused: vec![Refusals::default(); k],
        }
    }

    /// Lets the local search rebalance `trial` (the regions that changed and their
    /// neighbours) and the drawing make every grid whole, and keeps the result when it is no
    /// less balanced, no region is in more pieces, no grid comes out thinner than the
    /// thinnest so far (or [`PP_FLOOR`]), and the drawn grids have fewer tentacles with a
    /// mean Polsby-Popper no more than [`PP_SLACK`] lower, or as many with a mean at least
    /// [`PP_GAIN`] higher or a better balance (the search after a change often straightens
    /// the grids around it too). Returns whether it was kept; a trial not kept is counted
    /// against region `aim`, whose arm it was to remove.
    pub(super) fn consider(&mut self, mut trial: Vec<u32>, aim: u32) -> bool {
        let (world, k) = (self.world, self.k);
        self.attempts += 1;
        let active = around_changed(world, &self.labels, &trial, k);
        let (weight, fixed, targets, options) =
            (self.weight, self.fixed, self.targets, self.options);
        let mut near = searcher(
            world,
            weight,
            fixed,
            targets.search,
            options,
            false,
            Some(&active),
            k,
        );
        near(&mut trial);
        let tol = options.tolerance;
        repair_balance(
            world,
            &mut trial,
            weight,
            targets.report,
            fixed,
            tol,
            Some(&active),
            k,
        );
        // Most trials that fail do so on balance: before drawing, and again after, since
        // making every grid whole can move atoms.
        if let Err(why) = self.settled(&trial) {
            self.refuse(aim, why);
            return false;
        }
        let (geometry, _) = draw_whole(world, self.sketches, &mut trial, k, &mut near);
        let (trial_balance, trial_parts) = match self.settled(&trial) {
            Ok(settled) => settled,
            Err(why) => {
                self.refuse(aim, why);
                return false;
            }
        };
        let trial_drawn = DrawnGrids::new(world, geometry, Some(&self.drawn));
        let drawn = &self.drawn;
        let thin = trial_drawn.min_pp() < drawn.min_pp().min(PP_FLOOR);
        let fewer = trial_drawn.tentacles() < drawn.tentacles()
            && trial_drawn.pp() >= drawn.pp() - PP_SLACK * k as f64;
        let rounder = trial_drawn.tentacles() == drawn.tentacles()
            && trial_drawn.pp() > drawn.pp() + PP_GAIN * k as f64;
        let steadier = trial_drawn.tentacles() <= drawn.tentacles()
            && trial_drawn.pp() >= drawn.pp() - PP_SLACK * k as f64
            && trial_balance.better_than(&self.balance);
        if thin {
            self.refuse(aim, |r| &mut r.thinner);
            return false;
        }
        if !(fewer || rounder || steadier) {
            self.refuse(aim, |r| &mut r.no_fewer);
            return false;
        }
        self.removed += drawn.tentacles() - trial_drawn.tentacles();
        self.from.clone_from(&trial);
        self.whole.clone_from(&trial);
        self.labels = trial;
        (self.drawn, self.balance, self.parts) = (trial_drawn, trial_balance, trial_parts);
        true
    }

    /// Counts a trial against region `aim`: `why` picks the count.
    fn refuse(&mut self, aim: u32, why: Refusal) {
        if let Some(r) = self.refused.get_mut(aim as usize) {
            *why(r) += 1;
        }
    }

    /// The balance and pieces of `labels` when it is no less balanced than the labels kept
    /// and no region is in more pieces; else the count of [`Refusals`] it goes to.
    fn settled(&self, labels: &[u32]) -> Result<(Imbalance, Vec<usize>), Refusal> {
        let balance = Imbalance::of(
            labels,
            self.weight,
            self.targets.report,
            self.fixed,
            self.k,
            self.options.tolerance,
        );
        if !balance.no_worse_than(&self.balance) {
            return Err(|r| &mut r.unbalanced);
        }
        let parts = pieces(self.world, labels, self.k);
        if parts
            .iter()
            .zip(&self.parts)
            .any(|(after, before)| after > before)
        {
            return Err(|r| &mut r.split);
        }
        Ok((balance, parts))
    }

    /// Writes the labels kept into `labels`, and returns their drawing.
    pub(super) fn into_drawing(self, labels: &mut Vec<u32>) -> ReusableDrawing {
        *labels = self.labels;
        ReusableDrawing {
            from: self.from,
            labels: self.whole,
            drawn: self.drawn,
        }
    }
}

/// The regions of atoms labelled differently in `before` and `after`, and their neighbours
/// in `after`.
fn around_changed(world: &World, before: &[u32], after: &[u32], k: usize) -> Vec<bool> {
    let g = &world.graph;
    let mut changed = vec![false; k];
    for (&b, &a) in before.iter().zip(after) {
        if a != b {
            for r in [a, b] {
                if r != NONE {
                    changed[r as usize] = true;
                }
            }
        }
    }
    let mut active = changed.clone();
    for (a, &r) in after.iter().enumerate() {
        if r != NONE && changed[r as usize] {
            for e in g.range(a) {
                let q = after[g.neighbours[e] as usize];
                if q != NONE {
                    active[q as usize] = true;
                }
            }
        }
    }
    active
}

/// Polsby-Popper below which [`remove_arms_by_trials`] does not let a grid fall (unless one already
/// is lower): about a 1:10 rectangle.
const PP_FLOOR: f64 = 0.25;

/// How much lower the grids' mean Polsby-Popper may be after removing a tentacle.
const PP_SLACK: f64 = 0.005;

/// How much higher the grids' mean Polsby-Popper must be to keep a hand-over that leaves as
/// many tentacles.
const PP_GAIN: f64 = 0.001;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::tests::{label, lattice, load, remove_on, with_arm};
    use crate::shape::{check, polygon_arms};
    use geo::MultiPolygon;

    /// [`remove_arms_by_trials`] on two grids of 600 each, every atom free, default options: the
    /// tentacles removed and the last drawing.
    fn arms_on(
        world: &World,
        boundary: &MultiPolygon,
        labels: &mut Vec<u32>,
    ) -> (usize, ReusableDrawing) {
        let fixed = vec![false; labels.len()];
        let (removed, drawing, _) =
            arms_with_refusals(world, boundary, labels, &fixed, &[600.0, 600.0], 0.05);
        (removed, drawing)
    }

    /// [`arms_on`] with the fixed atoms, targets and tolerance given, and the trials refused
    /// for each grid.
    fn arms_with_refusals(
        world: &World,
        boundary: &MultiPolygon,
        labels: &mut Vec<u32>,
        fixed: &[bool],
        targets: &[f64],
        tolerance: f64,
    ) -> (usize, ReusableDrawing, Vec<Refusals>) {
        let weight: Vec<f64> = world.atoms.iter().map(|a| a.weight).collect();
        remove_arms_by_trials(
            world,
            &mut Sketches::new(world, boundary),
            &weight,
            labels,
            fixed,
            Targets {
                search: targets,
                report: targets,
            },
            &PartitionOptions {
                tolerance,
                ..PartitionOptions::default()
            },
            targets.len(),
        )
    }

    /// Grid 0 (412 buildings with its 52-building arm) and grid 1 (788) should hold 600 each:
    /// handing the arm over alone leaves them further apart (360 / 840), so the plain removal
    /// keeps it; handing it over and letting the search rebalance removes it, within ±5%.
    #[test]
    fn an_arm_is_handed_over_and_the_grids_rebalanced() {
        let (world, cell, boundary) = lattice();
        let mut labels = label(&cell, with_arm);
        let weight: Vec<f64> = world.atoms.iter().map(|a| a.weight).collect();
        assert_eq!(remove_on(&world, &mut labels.clone(), &[600.0; 2], 0.05), 0);
        let (removed, drawing) = arms_on(&world, &boundary, &mut labels);
        assert_eq!(removed, 1);
        // The drawing kept is that of the labels after the hand-over, without the tentacle.
        assert_eq!(drawing.from, labels);
        assert_eq!(drawing.labels, labels);
        assert_eq!(drawing.drawn.tentacles, vec![0, 0]);
        for r in 0..2u32 {
            let load = load(&labels, &weight, r);
            assert!((load - 600.0).abs() <= 30.0, "grid {r}: {load}");
        }
        assert!(
            check(&world, &labels, 2)
                .tentacles
                .iter()
                .all(Vec::is_empty)
        );
        let drawn = crate::outline::draw(&world, &labels, 2, &boundary);
        assert!(
            drawn
                .iter()
                .all(|g| polygon_arms(&world.frame, g).is_empty())
        );
    }

    /// Every building of grid 1 is fixed, so grid 1 gives nothing back and is drawn afresh
    /// with nobody: grid 0, at its target of 412 with the arm, cannot give the arm away and
    /// stay within ±1%. The arm stays, and the trials to remove it are counted against grid 0
    /// (as unbalanced, or as leaving the arm when only its drawn tip moves), none against
    /// grid 1.
    #[test]
    fn an_arm_that_must_stay_is_counted_with_why() {
        let (world, cell, boundary) = lattice();
        let mut labels = label(&cell, with_arm);
        let fixed: Vec<bool> = labels.iter().map(|&l| l == 1).collect();
        let (removed, drawing, refused) = arms_with_refusals(
            &world,
            &boundary,
            &mut labels,
            &fixed,
            &[412.0, 788.0],
            0.01,
        );
        assert_eq!(removed, 0);
        let weight: Vec<f64> = world.atoms.iter().map(|a| a.weight).collect();
        let kept = load(&labels, &weight, 0);
        assert!((407.88..=416.12).contains(&kept), "grid 0 holds {kept}");
        assert_eq!(drawing.drawn.tentacles, vec![1, 0]);
        let r = refused[0];
        assert!(
            r.unbalanced + r.split + r.thinner + r.no_fewer >= 1,
            "{refused:?}"
        );
        assert_eq!(refused[1], Refusals::default());
    }

    /// Two halves have no arm: the check's drawing is kept for the final one to reuse.
    #[test]
    fn without_arms_the_drawing_is_kept_for_reuse() {
        let (world, cell, boundary) = lattice();
        let mut labels = label(&cell, |i, _| u32::from(i >= 20));
        let before = labels.clone();
        let (removed, drawing) = arms_on(&world, &boundary, &mut labels);
        assert_eq!(removed, 0);
        assert_eq!(labels, before);
        assert_eq!(drawing.from, labels);
        assert_eq!(drawing.drawn.geometry.len(), 2);
        assert!(drawing.drawn.geometry.iter().all(|g| g.0.len() == 1));
    }
}
