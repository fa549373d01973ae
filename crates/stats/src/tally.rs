//! Tallies of visits by grid or village, and the statistics table ranking them by visit rate
//! against the campaign's schedule.

use std::collections::BTreeMap;

use serde::Serialize;

/// A grid's (or village's) tallies: its buildings and households (from the assignment) and
/// what visits found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Buildings assigned to the grid.
    pub buildings: u64,
    /// Households of those buildings.
    pub households: u64,
    /// Buildings whose latest visit found them visited.
    pub visited_buildings: u64,
    /// Households of the buildings whose latest visit found them visited.
    pub visited_households: u64,
    /// Visits flagged by the server (GPS too far from the building).
    pub flagged: u64,
    /// People registered in the grid's buildings (linked to a house in a building, 人房关联).
    pub people: u64,
}

impl Tally {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Tally) {
        self.buildings += other.buildings;
        self.households += other.households;
        self.visited_buildings += other.visited_buildings;
        self.visited_households += other.visited_households;
        self.flagged += other.flagged;
        self.people += other.people;
    }

    /// Visited households over households (over buildings when there are no households).
    ///
    /// ```
    /// use gridmap_stats::Tally;
    /// let t = Tally { buildings: 4, households: 10, visited_buildings: 1, visited_households: 4,
    ///                 ..Tally::default() };
    /// assert_eq!(t.visit_rate(), 0.4);
    /// let no_households = Tally { buildings: 4, visited_buildings: 1, ..Tally::default() };
    /// assert_eq!(no_households.visit_rate(), 0.25);
    /// assert_eq!(Tally::default().visit_rate(), 0.0);
    /// ```
    pub fn visit_rate(&self) -> f64 {
        rate(
            (self.visited_households, self.households),
            (self.visited_buildings, self.buildings),
        )
    }
}

/// `visited / total` households, or buildings when there are no households, or 0.
pub(crate) fn rate(households: (u64, u64), buildings: (u64, u64)) -> f64 {
    if households.1 > 0 {
        households.0 as f64 / households.1 as f64
    } else if buildings.1 > 0 {
        buildings.0 as f64 / buildings.1 as f64
    } else {
        0.0
    }
}

/// One row of the statistics table (the JSON of `/api/stats` and its CSV and XLSX exports).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatsRow {
    /// The grid's code, when rows are grids.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grid: Option<String>,
    /// The village's code, when rows are villages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub village: Option<String>,
    /// The grid's or village's name, where the caller knows it (see [`name_rows`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its place by visit rate, from 1.
    pub rank: usize,
    /// Buildings counted.
    pub buildings: u64,
    /// Their households.
    pub households: u64,
    /// Buildings whose latest visit found them visited.
    pub visited_buildings: u64,
    /// Their households.
    pub visited_households: u64,
    /// [`Tally::visit_rate`].
    pub visit_rate: f64,
    /// The rate the campaign's schedule expects by today ([`expected_rate`]).
    pub expected_rate: Option<f64>,
    /// Whether the visit rate is below the expected rate.
    pub behind_schedule: bool,
    /// Visits flagged (GPS too far from the building).
    pub flagged_visits: u64,
    /// People registered in the buildings.
    pub people: u64,
    /// Of them, those linked to a house (人房关联).
    pub people_linked: u64,
    /// `people_linked / people`, `None` without people.
    pub linkage_rate: Option<f64>,
}

/// Gives each row the name `name_of` knows for its grid or village code.
pub fn name_rows(rows: &mut [StatsRow], name_of: impl Fn(&str) -> Option<String>) {
    for r in rows {
        if let Some(code) = r.grid.as_deref().or(r.village.as_deref()) {
            r.name = name_of(code);
        }
    }
}

/// The statistics rows of `tallies` (by grid code when `by_grid`, else by village code),
/// ranked by visit rate (highest first, ties by code), each against the `expected` rate.
///
/// Every person counted lives in a house of one of the buildings counted, so all of them are
/// linked (人房关联): the linkage rate is 1 where there are people.
pub fn rank(
    tallies: &BTreeMap<String, Tally>,
    by_grid: bool,
    expected: Option<f64>,
) -> Vec<StatsRow> {
    let mut ranked: Vec<(&String, &Tally)> = tallies.iter().collect();
    ranked.sort_by(|a, b| {
        b.1.visit_rate()
            .total_cmp(&a.1.visit_rate())
            .then(a.0.cmp(b.0))
    });
    ranked
        .iter()
        .enumerate()
        .map(|(rank, (key, t))| {
            let rate = t.visit_rate();
            StatsRow {
                grid: by_grid.then(|| key.to_string()),
                village: (!by_grid).then(|| key.to_string()),
                name: None,
                rank: rank + 1,
                buildings: t.buildings,
                households: t.households,
                visited_buildings: t.visited_buildings,
                visited_households: t.visited_households,
                visit_rate: rate,
                expected_rate: expected,
                behind_schedule: expected.is_some_and(|e| rate + 1e-9 < e),
                flagged_visits: t.flagged,
                people: t.people,
                people_linked: t.people,
                linkage_rate: (t.people > 0).then_some(1.0),
            }
        })
        .collect()
}

/// The visit rate expected on day `today` when visits progress linearly from 0 on day `start`
/// to 1 (the target) on day `end`, days counted in any one calendar; 1 when the campaign has
/// no length.
///
/// ```
/// use gridmap_stats::expected_rate;
/// assert_eq!(expected_rate(10, 20, 15), 0.5);
/// assert_eq!(expected_rate(10, 20, 5), 0.0);
/// assert_eq!(expected_rate(10, 20, 30), 1.0);
/// assert_eq!(expected_rate(10, 10, 5), 1.0);
/// ```
pub fn expected_rate(start: i64, end: i64, today: i64) -> f64 {
    if end <= start {
        return 1.0;
    }
    ((today - start) as f64 / (end - start) as f64).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_rank_by_visit_rate_then_code_and_compare_with_the_schedule() {
        let t = |visited: u64, households: u64, people: u64| Tally {
            buildings: 1,
            households,
            visited_buildings: u64::from(visited > 0),
            visited_households: visited,
            flagged: 0,
            people,
        };
        let tallies: BTreeMap<String, Tally> = [
            ("G2".to_string(), t(1, 2, 0)),
            ("G1".to_string(), t(1, 2, 3)),
            ("G3".to_string(), t(4, 4, 0)),
        ]
        .into_iter()
        .collect();
        let rows = rank(&tallies, true, Some(0.75));
        let order: Vec<_> = rows.iter().map(|r| (r.grid.as_deref(), r.rank)).collect();
        assert_eq!(order, [(Some("G3"), 1), (Some("G1"), 2), (Some("G2"), 3)]);
        assert!(!rows[0].behind_schedule && rows[1].behind_schedule);
        assert_eq!(rows[1].linkage_rate, Some(1.0));
        assert_eq!(rows[0].linkage_rate, None);
        assert_eq!(rows[0].village, None);
        let by_village = rank(&tallies, false, None);
        assert_eq!(by_village[0].village.as_deref(), Some("G3"));
        assert!(by_village.iter().all(|r| !r.behind_schedule));
    }
}
