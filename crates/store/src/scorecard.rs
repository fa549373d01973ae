//! The counts behind the campaign scorecard ([`gridmap_stats::scorecard`]), read from the
//! project: each grid's households and what visits, the register, the latest reconciliation
//! with the police register, key subjects and QR plates found. The rates and their definitions
//! live in `gridmap_stats::scorecard`; this module only counts, once, for every caller (CLI,
//! server, reports).

use gridmap_core::index::GridIndex;
use gridmap_core::model::{Building, Grid, Visit, VisitOutcome};
use gridmap_stats::scorecard::{Counts, GridCounts};
use rustc_hash::FxHashMap;

use crate::registers::Result;
use crate::{GpkgStore, ProjectStore};

/// Which unit a visit's answer or verdict belongs to: a house, or a building without one.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Unit<'a> {
    House(&'a str),
    Building(&'a str),
}

/// The latest of a unit's visits, and the latest that carried each answer.
#[derive(Default)]
struct Latest {
    verdict: Option<(i64, VisitOutcome)>,
    knows: Option<(i64, bool)>,
    satisfaction: Option<(i64, u8)>,
}

fn later<T>(slot: &mut Option<(i64, T)>, at: i64, value: T) {
    if slot.as_ref().is_none_or(|(t, _)| at >= *t) {
        *slot = Some((at, value));
    }
}

/// A visit's time as seconds since the epoch, the earliest possible when unreadable (the same
/// rule as the server's live state: an unreadable time never wins "latest").
fn instant(time: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(time).map_or(i64::MIN, |t| t.timestamp())
}

/// A house as the scorecard counts it: its id, the position of its building among the
/// buildings counted (`None`: linked to none of them), and its people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HouseCount {
    /// The house's id.
    pub id: String,
    /// Its building's position in the buildings counted.
    pub building: Option<usize>,
    /// People registered in it.
    pub people: u64,
}

/// Plates printed and scanned at least once: by building id, the houses whose plate it is
/// (`""` for the building's own). Looked up without allocating, once per unit.
pub type PlatesInUse = FxHashMap<String, rustc_hash::FxHashSet<String>>;

/// What the scorecard counts: the grids, the buildings with their grid, the houses and the
/// visits. The store ([`GpkgStore::scorecard_counts`]) and the server (from its live state)
/// both count through [`count`], so the figures agree.
pub struct Inputs<'a, V> {
    /// The grids, in the order of the answer.
    pub grids: &'a [Grid],
    /// The buildings.
    pub buildings: &'a [Building],
    /// The position in `grids` of each building's grid.
    pub grid_of: &'a (dyn Fn(usize) -> Option<usize> + Sync),
    /// The register's houses ([`GpkgStore::scorecard_houses`]).
    pub houses: &'a [HouseCount],
    /// Every visit ([`VisitFacts::of`] makes them from [`Visit`]s).
    pub visits: V,
    /// Each key unit, place or person: its building's position, and whether it has an
    /// attention level ([`GpkgStore::key_subject_counts`]).
    pub key_subjects: &'a [(Option<usize>, bool)],
    /// The plates printed and scanned at least once ([`GpkgStore::plates_in_use`]).
    pub plates_in_use: &'a PlatesInUse,
    /// The latest reconciliation with the police register, per grid code as recorded: people
    /// matched at the same address, and matched + police only + register only
    /// ([`reconciliation_counts`]). A code no grid has now counts for the town.
    pub reconciliation: &'a [(String, u64, u64)],
}

/// What the scorecard reads of a visit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VisitFacts<'a> {
    /// The house visited, if the visit was to one.
    pub house: Option<&'a str>,
    /// The building visited.
    pub building: Option<&'a str>,
    /// Seconds since 1970 (`i64::MIN` for a time that does not parse).
    pub at: i64,
    /// What the visit found.
    pub outcome: VisitOutcome,
    /// [`Visit::knows_worker`].
    pub knows_worker: Option<bool>,
    /// [`Visit::satisfaction`].
    pub satisfaction: Option<u8>,
}

impl<'a> VisitFacts<'a> {
    /// The facts of `v`.
    pub fn of(v: &'a Visit) -> Self {
        VisitFacts {
            house: v.house.as_deref(),
            building: v.building.as_deref(),
            at: instant(&v.time),
            outcome: v.outcome,
            knows_worker: v.knows_worker,
            satisfaction: v.satisfaction,
        }
    }
}

/// The figures of the latest `gridmap reconcile` as [`Inputs::reconciliation`] takes them
/// (empty when there has been none).
pub fn reconciliation_counts<S: ProjectStore + ?Sized>(
    store: &S,
) -> Result<Vec<(String, u64, u64)>> {
    Ok(store
        .latest_reconciliation()?
        .map(|rec| {
            rec.grids
                .iter()
                .map(|g| {
                    (
                        g.grid.clone(),
                        g.matched_same_address as u64,
                        g.reconciled() as u64,
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}

/// Each grid's counts and the counts that belong to the town but to no grid (buildings in no
/// grid, houses linked to no building and their people). See the rules in
/// [`gridmap_stats::scorecard`].
pub fn count<'v>(
    input: Inputs<'_, impl IntoIterator<Item = VisitFacts<'v>>>,
) -> (Vec<GridCounts>, Counts) {
    let Inputs {
        grids,
        buildings,
        grid_of,
        houses,
        visits,
        key_subjects,
        plates_in_use,
        reconciliation,
    } = input;
    let plate_in_use = |b: &str, h: &str| plates_in_use.get(b).is_some_and(|hs| hs.contains(h));
    let mut out: Vec<GridCounts> = grids
        .iter()
        .map(|g| GridCounts {
            code: g.code.clone(),
            name: g.name.clone(),
            village: g.village.clone(),
            counts: Counts::default(),
        })
        .collect();
    let mut outside = Counts::default();
    let mut houses_in = vec![0u64; buildings.len()];
    for h in houses {
        if let Some(i) = h.building.filter(|&i| i < buildings.len()) {
            houses_in[i] += 1;
        }
    }
    // The latest verdict and answers of each house and building.
    let mut latest: FxHashMap<Unit, Latest> = FxHashMap::default();
    for v in visits {
        let unit = match (v.house, v.building) {
            (Some(h), _) => Unit::House(h),
            (None, Some(b)) => Unit::Building(b),
            (None, None) => continue,
        };
        let at = v.at;
        let slot = latest.entry(unit).or_default();
        later(&mut slot.verdict, at, v.outcome);
        if let Some(k) = v.knows_worker {
            later(&mut slot.knows, at, k);
        }
        if let Some(s) = v.satisfaction {
            later(&mut slot.satisfaction, at, s);
        }
    }
    // A unit is checked (核查) when its latest visit reached a verdict.
    let check = |c: &mut Counts, l: Option<&Latest>| {
        let verdict = l.and_then(|l| l.verdict).map(|(_, o)| o);
        c.units += 1;
        if matches!(
            verdict,
            Some(VisitOutcome::Visited | VisitOutcome::NewlyFound | VisitOutcome::Demolished)
        ) {
            c.units_checked += 1;
        }
        verdict
    };
    let add = |c: &mut Counts, l: Option<&Latest>, households: u64, plate: bool| {
        let verdict = check(c, l);
        c.households += households;
        if verdict == Some(VisitOutcome::Visited) {
            c.households_visited += households;
        }
        if let Some((_, k)) = l.and_then(|l| l.knows) {
            c.awareness_answers += 1;
            c.aware += u64::from(k);
        }
        if let Some((_, s)) = l.and_then(|l| l.satisfaction) {
            c.satisfaction_answers += 1;
            c.satisfied += u64::from(s >= 4);
        }
        c.plate_places += 1;
        c.plates_scanned += u64::from(plate);
    };
    // Buildings: a unit each; their households when they have no registered house.
    for (i, b) in buildings.iter().enumerate() {
        let c = match grid_of(i) {
            Some(g) => &mut out[g].counts,
            None => &mut outside,
        };
        let l = latest.get(&Unit::Building(b.id.as_str()));
        if houses_in[i] > 0 {
            // The houses carry the households, plates and answers; the building is checked
            // as a unit of its own.
            check(c, l);
        } else {
            add(c, l, u64::from(b.households), plate_in_use(&b.id, ""));
        }
    }
    // Houses: a household, a unit and a plate place each; their people.
    for h in houses {
        let at = h.building.filter(|&i| i < buildings.len());
        let c = match at.and_then(grid_of) {
            Some(g) => &mut out[g].counts,
            None => &mut outside,
        };
        let plate = at.is_some_and(|i| plate_in_use(&buildings[i].id, &h.id));
        add(c, latest.get(&Unit::House(h.id.as_str())), 1, plate);
        c.people += h.people;
        if at.is_some() {
            c.people_linked += h.people;
        }
    }
    // The police reconciliation: each grid's recorded figures.
    let by_code: FxHashMap<&str, usize> = grids
        .iter()
        .enumerate()
        .map(|(i, g)| (g.code.as_str(), i))
        .collect();
    for (code, same, reconciled) in reconciliation {
        let c = match by_code.get(code.as_str()) {
            Some(&g) => &mut out[g].counts,
            None => &mut outside,
        };
        c.matched_same_address += same;
        c.reconciled += reconciled;
    }
    // Key subjects: counted where their building is.
    for &(at, rated) in key_subjects {
        let c = match at.filter(|&i| i < buildings.len()).and_then(grid_of) {
            Some(g) => &mut out[g].counts,
            None => &mut outside,
        };
        c.key_subjects += 1;
        c.key_subjects_rated += u64::from(rated);
    }
    (out, outside)
}

impl GpkgStore {
    /// The register's houses with their people counted, each placed among `buildings` by id.
    pub fn scorecard_houses(
        &self,
        building_at: &dyn Fn(&str) -> Option<usize>,
    ) -> Result<Vec<HouseCount>> {
        self.ensure_register_tables()?;
        let conn = self.connection();
        let mut stmt = conn.prepare(
            "SELECT h.id, h.building, count(p.fid) FROM houses h
             LEFT JOIN people p ON p.house = h.id GROUP BY h.id",
        )?;
        let mut rows = stmt.query([])?;
        let mut houses = Vec::new();
        while let Some(r) = rows.next()? {
            let building: Option<String> = r.get(1)?;
            houses.push(HouseCount {
                id: r.get(0)?,
                building: building.as_deref().and_then(building_at),
                people: r.get::<_, i64>(2)?.max(0) as u64,
            });
        }
        Ok(houses)
    }

    /// Each grid's scorecard counts, and the counts that belong to the town but to no grid.
    ///
    /// # Performance
    /// One assignment of every building to its grid, one pass over houses (their people
    /// counted in SQL) and one over visits; no personal data is read.
    pub fn scorecard_counts(&self) -> Result<(Vec<GridCounts>, Counts)> {
        scorecard_counts_of(self)
    }
}

/// [`GpkgStore::scorecard_counts`] of any store: what `gridmap stats --scorecard` counts, from
/// the store's layers, registers, key subjects, plates and reconciliations.
pub fn scorecard_counts_of<S: ProjectStore + ?Sized>(
    store: &S,
) -> Result<(Vec<GridCounts>, Counts)> {
    let grids: Vec<Grid> = store.grids()?.into_iter().map(|g| g.grid).collect();
    let buildings = store.buildings()?;
    let index = GridIndex::new(&grids, |_| false);
    let assignment = gridmap_core::assign_buildings(&index, &buildings);
    let building_at: FxHashMap<&str, usize> = buildings
        .iter()
        .enumerate()
        .map(|(i, b)| (b.id.as_str(), i))
        .collect();
    let houses = store.scorecard_houses(&|b| building_at.get(b).copied())?;
    let key_subjects = store.key_subject_counts(&|b| building_at.get(b).copied())?;
    let plates = store.plates_in_use()?;
    let reconciliation = reconciliation_counts(store)?;
    let visits = store.visits()?;
    let grid_of = |i: usize| assignment[i].grid().map(|g| g as usize);
    Ok(count(Inputs {
        grids: &grids,
        buildings: &buildings,
        grid_of: &grid_of,
        houses: &houses,
        visits: visits.iter().map(VisitFacts::of),
        key_subjects: &key_subjects,
        plates_in_use: &plates,
        reconciliation: &reconciliation,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{MultiPolygon, Point};
    use gridmap_core::model::Footprint;

    fn building(id: &str, households: u32) -> Building {
        Building {
            id: id.into(),
            footprint: Footprint::Point(Point::new(0.0, 0.0)),
            households,
            floors: None,
            kind: None,
        }
    }

    fn visit(house: Option<&str>, building: &str, time: &str, outcome: VisitOutcome) -> Visit {
        Visit {
            id: format!("v-{building}-{time}"),
            building: Some(building.into()),
            house: house.map(Into::into),
            worker: "w".into(),
            time: time.into(),
            outcome,
            point: None,
            note: None,
            flagged: false,
            knows_worker: None,
            satisfaction: None,
        }
    }

    fn house(id: &str, building: Option<usize>, people: u64) -> HouseCount {
        HouseCount {
            id: id.into(),
            building,
            people,
        }
    }

    fn c_plates(by_grid: &[GridCounts]) -> (u64, u64) {
        let c = by_grid[0].counts;
        (c.plates_scanned, c.plate_places)
    }

    #[test]
    fn households_are_houses_where_registered_and_latest_answers_count_once() {
        let grids = [Grid {
            code: "G1".into(),
            name: None,
            village: Some("V1".into()),
            geometry: MultiPolygon(vec![]),
        }];
        // B0: two registered houses (its attribute says 5: the register wins).
        // B1: no house, 3 households, visited as a building.
        // B2: in no grid.
        let buildings = [building("B0", 5), building("B1", 3), building("B2", 1)];
        let houses = [
            house("H1", Some(0), 2),
            house("H2", Some(0), 1),
            house("H3", None, 4), // linked to no building
        ];
        let t = |d: u32| format!("2026-11-{d:02}T10:00:00+08:00");
        let mut visits = vec![
            // H1: nobody home, then visited: visited and checked.
            visit(Some("H1"), "B0", &t(1), VisitOutcome::NobodyHome),
            visit(Some("H1"), "B0", &t(2), VisitOutcome::Visited),
            // H2: visited, then refused: the latest decides, not visited.
            visit(Some("H2"), "B0", &t(1), VisitOutcome::Visited),
            visit(Some("H2"), "B0", &t(3), VisitOutcome::Refused),
            // B0 as a building: checked; its households are its houses, not 5.
            visit(None, "B0", &t(1), VisitOutcome::Visited),
            visit(None, "B1", &t(4), VisitOutcome::Visited),
        ];
        visits[1].knows_worker = Some(false);
        visits[1].satisfaction = Some(3);
        visits[3].knows_worker = Some(true);
        // A later answer replaces an earlier one of the same household.
        let mut again = visit(Some("H1"), "B0", &t(5), VisitOutcome::Visited);
        again.knows_worker = Some(true);
        again.satisfaction = Some(5);
        visits.push(again);
        let grid_of = |i: usize| (i < 2).then_some(0);
        let (by_grid, outside) = count(Inputs {
            grids: &grids,
            buildings: &buildings,
            grid_of: &grid_of,
            houses: &houses,
            visits: visits.iter().map(VisitFacts::of),
            key_subjects: &[(Some(0), true), (Some(1), false), (None, false)],
            plates_in_use: &[("B0", "H1"), ("B1", "")]
                .into_iter()
                .map(|(b, h)| (b.to_string(), [h.to_string()].into_iter().collect()))
                .collect(),
            reconciliation: &[("G1".into(), 9, 10), ("(unassigned)".into(), 0, 2)],
        });
        assert_eq!(
            (
                by_grid[0].counts.matched_same_address,
                by_grid[0].counts.reconciled
            ),
            (9, 10)
        );
        assert_eq!(outside.reconciled, 2);
        assert_eq!((c_plates(&by_grid)), (2, 3));
        let c = by_grid[0].counts;
        assert_eq!((c.key_subjects_rated, c.key_subjects), (1, 2));
        assert_eq!(outside.key_subjects, 1);
        assert_eq!((c.households_visited, c.households), (1 + 3, 2 + 3));
        // Units: B0, B1, H1, H2; checked: B0, B1, H1 (H2 refused).
        assert_eq!((c.units_checked, c.units), (3, 4));
        assert_eq!((c.aware, c.awareness_answers), (2, 2));
        assert_eq!((c.satisfied, c.satisfaction_answers), (1, 1));
        assert_eq!((c.people_linked, c.people), (3, 3));
        assert_eq!(c.plate_places, 3); // H1, H2 and B1
        // B2 (no grid) and H3 (no building) belong to the town only.
        assert_eq!((outside.units, outside.households), (2, 2));
        assert_eq!((outside.people_linked, outside.people), (0, 4));
    }
}
