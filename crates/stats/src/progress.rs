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
/// counts: `visits` are (building, day number since 1970-01-01) of every `visited` visit (in any order;
/// the earliest of a building counts, the first given on a tie), `households` answers a
/// building's households, and `totals` are the households and buildings of the selection.
///
/// ```
/// use gridmap_stats::days_of_progress;
/// let visits = [(1, 20_533), (0, 20_532), (1, 20_532)];
/// let days = days_of_progress(visits, |b| [3, 1][b as usize], (8, 2));
/// assert_eq!(days.len(), 1);
/// assert_eq!((days[0].date.as_str(), days[0].visited_households), ("2026-03-20", 4));
/// assert_eq!(days[0].visit_rate, 0.5);
/// ```
pub fn days_of_progress(
    visits: impl IntoIterator<Item = (u32, i64)>,
    households: impl Fn(u32) -> u64,
    totals: (u64, u64),
) -> Vec<ProgressDay> {
    let mut first: HashMap<u32, i64> = HashMap::new();
    for (building, day) in visits {
        first
            .entry(building)
            .and_modify(|d| *d = (*d).min(day))
            .or_insert(day);
    }
    // Per day: households and buildings first visited that day.
    let mut per_day: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    for (building, day) in first {
        let row = per_day.entry(day).or_insert((0, 0));
        row.0 += households(building);
        row.1 += 1;
    }
    let (mut hh, mut bl) = (0u64, 0u64);
    per_day
        .iter()
        .map(|(&day, (h, b))| {
            hh += h;
            bl += b;
            ProgressDay {
                date: date_of_day(day),
                visited_households: hh,
                visited_buildings: bl,
                visit_rate: crate::tally::rate((hh, totals.0), (bl, totals.1)),
            }
        })
        .collect()
}

/// The date (`YYYY-MM-DD`, proleptic Gregorian) `day` days after 1970-01-01: the civil-from-days
/// conversion of H. Hinnant's date algorithms.
fn date_of_day(day: i64) -> String {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_accumulate_day_by_day_from_each_buildings_first_visit() {
        let visits = [(2, 20_524), (0, 20_522), (1, 20_524), (0, 20_523)];
        let days = days_of_progress(visits, |_| 0, (0, 4));
        let got: Vec<_> = days
            .iter()
            .map(|d| (d.date.as_str(), d.visited_buildings, d.visit_rate))
            .collect();
        assert_eq!(got, [("2026-03-10", 1, 0.25), ("2026-03-12", 3, 0.75)]);
        assert!(days_of_progress([], |_| 1, (0, 0)).is_empty());
    }

    #[test]
    fn dates_of_days_are_the_calendars() {
        let cases = [
            (0, "1970-01-01"),
            (-1, "1969-12-31"),
            (11_016, "2000-02-29"),
            (20_532, "2026-03-20"),
            (20_818, "2026-12-31"),
            (20_819, "2027-01-01"),
        ];
        for (day, date) in cases {
            assert_eq!(date_of_day(day), date, "day {day}");
        }
    }
}
