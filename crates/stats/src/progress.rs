//! Visit progress over time: the households and buildings visited by each day, cumulative.
//!
//! A building counts as visited from the day of its first visit with outcome `visited` (a later
//! `nobody_home` does not take it back: the chart shows work done).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

/// The visits made by the end of one day.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProgressDay {
    /// The day, `YYYY-MM-DD`.
    pub date: String,
    /// Households of the buildings first visited on or before it.
    pub visited_households: u64,
    /// Buildings first visited on or before it.
    pub visited_buildings: u64,
    /// Visited households over households (over buildings when no building has households).
    pub visit_rate: f64,
}

/// One row per day on which a building was first visited, oldest first, with cumulative
/// counts: `visits` are (building, day number, date) of every `visited` visit (in any order;
/// the earliest of a building counts, the first given on a tie), `households` answers a
/// building's households, and `totals` are the households and buildings of the selection.
///
/// ```
/// use gridmap_stats::days_of_progress;
/// let visits = [(1, 20, "2026-03-21"), (0, 19, "2026-03-20"), (1, 19, "2026-03-20")];
/// let days = days_of_progress(visits, |b| [3, 1][b as usize], (8, 2));
/// assert_eq!(days.len(), 1);
/// assert_eq!((days[0].date.as_str(), days[0].visited_households), ("2026-03-20", 4));
/// assert_eq!(days[0].visit_rate, 0.5);
/// ```
pub fn days_of_progress<'a>(
    visits: impl IntoIterator<Item = (u32, i64, &'a str)>,
    households: impl Fn(u32) -> u64,
    totals: (u64, u64),
) -> Vec<ProgressDay> {
    let mut first: HashMap<u32, (i64, &str)> = HashMap::new();
    for (building, day, date) in visits {
        first
            .entry(building)
            .and_modify(|d| {
                if day < d.0 {
                    *d = (day, date);
                }
            })
            .or_insert((day, date));
    }
    // Per day: (date, households, buildings) first visited that day.
    let mut per_day: BTreeMap<i64, (&str, u64, u64)> = BTreeMap::new();
    for (building, (day, date)) in first {
        let row = per_day.entry(day).or_insert((date, 0, 0));
        row.1 += households(building);
        row.2 += 1;
    }
    let (mut hh, mut bl) = (0u64, 0u64);
    per_day
        .values()
        .map(|(date, h, b)| {
            hh += h;
            bl += b;
            ProgressDay {
                date: (*date).to_string(),
                visited_households: hh,
                visited_buildings: bl,
                visit_rate: crate::tally::rate((hh, totals.0), (bl, totals.1)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_accumulate_day_by_day_from_each_buildings_first_visit() {
        let visits = [
            (2, 12, "2026-03-12"),
            (0, 10, "2026-03-10"),
            (1, 12, "2026-03-12"),
            (0, 11, "2026-03-11"),
        ];
        let days = days_of_progress(visits, |_| 0, (0, 4));
        let got: Vec<_> = days
            .iter()
            .map(|d| (d.date.as_str(), d.visited_buildings, d.visit_rate))
            .collect();
        assert_eq!(got, [("2026-03-10", 1, 0.25), ("2026-03-12", 3, 0.75)]);
        assert!(days_of_progress([], |_| 1, (0, 0)).is_empty());
    }
}
