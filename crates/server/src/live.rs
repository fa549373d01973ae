//! What visits make of the project, kept up to date visit by visit: every visit, each
//! building's latest visit, and each grid's tallies (visited buildings and households, flagged
//! visits), from which statistics are read without walking the buildings.
//!
//! # Design
//! The [`Live`] log (visits, latest visit and flags by building position) is shared by every
//! [`Project`] snapshot behind an `Arc<RwLock>`; each snapshot has its own [`Tally`]s (by its
//! grid positions). Both change only through [`Live::apply`], called by the writer
//! ([`crate::writer`]) after the visits are committed, and [`Live::load`] folds the stored
//! visits through the same `apply` in store order — so the state a server reaches visit by visit
//! is, by construction, the state a fresh load of the file gives (a property test checks it
//! through the store). A grid edit makes a snapshot with new tallies ([`tallies`], from the
//! log) and keeps the log. Readers hold a read lock only to copy out what they need; the writer
//! holds the write locks only to apply a committed batch in memory (microseconds per visit),
//! never while SQLite works.
//!
//! The latest visit of a building is the one with the latest time (RFC 3339, compared as
//! instants; a time that does not parse counts as earliest), the later-stored one on a tie.

use std::collections::HashMap;

use gridmap_core::model::{Visit, VisitOutcome};

use crate::state::Project;
pub use crate::visit_log::VisitLog;

/// A building's latest visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latest {
    /// Seconds since 1970 (`i64::MIN` for a time that does not parse).
    pub at: i64,
    /// What that visit found.
    pub outcome: VisitOutcome,
}

pub use gridmap_stats::Tally;

/// Every visit and what it says of each building. Building positions do not change while a
/// server runs (only `gridmap import` changes buildings, and that reloads everything), so one
/// log is shared by every snapshot; grid edits only make new [`Tally`]s.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Live {
    /// Every visit, in store order, and each building's.
    pub visits: VisitLog,
    /// The latest visit of each building (by position).
    pub latest: Vec<Option<Latest>>,
    /// Flagged visits of each building that has any.
    pub flagged: HashMap<u32, u64>,
}

/// Each grid's tallies in `next`, made from the snapshot before it: a grid holding the same
/// buildings as there ([`Project::tallied`]) carries its tallies over (kept current by the
/// writer), the others are counted from their buildings. Called with the writer paused.
pub fn tallies_after(next: &Project, before: &[Tally], live: &Live) -> Vec<Tally> {
    (0..next.grids.len())
        .map(|g| match next.tallied.get(g).copied().flatten() {
            Some(o) if (o as usize) < before.len() => before[o as usize],
            _ => tally_of(next, live, &next.grid_buildings[g]),
        })
        .collect()
}

/// The tallies of the buildings `of` (positions).
fn tally_of(p: &Project, live: &Live, of: &[u32]) -> Tally {
    let mut t = Tally::default();
    for &i in of {
        let (i, b) = (i as usize, &p.buildings[i as usize]);
        t.buildings += 1;
        t.households += u64::from(b.households);
        t.people += u64::from(p.people.get(i).copied().unwrap_or(0));
        if live.visited(i) {
            t.visited_buildings += 1;
            t.visited_households += u64::from(b.households);
        }
        t.flagged += live.flagged.get(&(i as u32)).copied().unwrap_or(0);
    }
    t
}

/// Each grid's tallies (by position in `p.grids`) from the log: O(buildings).
pub fn tallies(p: &Project, live: &Live) -> Vec<Tally> {
    p.grid_buildings
        .iter()
        .map(|of| tally_of(p, live, of))
        .collect()
}

impl Live {
    /// The log of the visits of `store` (in store order) for the buildings of `p`, read as
    /// they come: the visits are folded in one by one, never all held as [`Visit`]s.
    pub fn load(
        p: &Project,
        store: &dyn gridmap_store::ProjectStore,
    ) -> Result<Live, gridmap_store::StoreError> {
        let mut live = Live {
            visits: VisitLog::default(),
            latest: vec![None; p.buildings.len()],
            flagged: HashMap::new(),
        };
        store.each_visit_from(0, &mut |v| {
            live.apply(p, v, &mut []);
        })?;
        Ok(live)
    }

    /// Records one committed visit, and its effect on `tallies` (by grid position of `p`;
    /// pass an empty slice to skip them). Answers the building and whether it is now visited
    /// when its visited status changed (for the heatmap pyramid).
    pub fn apply(&mut self, p: &Project, v: Visit, tallies: &mut [Tally]) -> Option<(u32, bool)> {
        let mut changed = None;
        let building = v
            .building
            .as_ref()
            .and_then(|b| p.building_by_id.get(b))
            .copied();
        let (outcome, flagged) = (v.outcome, v.flagged);
        let n = self.visits.push(v, building) as usize;
        if let Some(i) = building {
            let grid = p.assignment[i as usize].grid().map(|g| g as usize);
            let households = u64::from(p.buildings[i as usize].households);
            let next = Latest {
                at: self.visits.at(n),
                outcome,
            };
            let slot = &mut self.latest[i as usize];
            let was_visited = slot.is_some_and(|l| l.outcome == VisitOutcome::Visited);
            if slot.is_none_or(|l| next.at >= l.at) {
                *slot = Some(next);
            }
            let now_visited = slot.is_some_and(|l| l.outcome == VisitOutcome::Visited);
            if now_visited != was_visited {
                changed = Some((i, now_visited));
            }
            if flagged {
                *self.flagged.entry(i).or_default() += 1;
            }
            if let Some(t) = grid.and_then(|g| tallies.get_mut(g)) {
                if now_visited && !was_visited {
                    t.visited_buildings += 1;
                    t.visited_households += households;
                } else if was_visited && !now_visited {
                    t.visited_buildings -= 1;
                    t.visited_households -= households;
                }
                t.flagged += u64::from(flagged);
            }
        }
        changed
    }

    /// The latest outcome of building `i`.
    pub fn outcome(&self, i: usize) -> Option<VisitOutcome> {
        self.latest.get(i).copied().flatten().map(|l| l.outcome)
    }

    /// Whether building `i`'s latest visit found it visited.
    pub fn visited(&self, i: usize) -> bool {
        self.outcome(i) == Some(VisitOutcome::Visited)
    }

    /// The positions in [`Live::visits`] of building `i`'s visits, in store order.
    pub fn visits_of(&self, i: usize) -> Vec<usize> {
        self.visits.of_building(i)
    }
}
