//! The campaign scorecard: the town's "三个100%、三个95%" targets (and the 二维码管理率 of the
//! rental-house campaign), each rate with its numerator, denominator and target, for every grid,
//! village and the town, with a red/amber/green grade.
//!
//! The seeds (`000_…`, `001_…`) set the targets a town is judged by. Each rate has one
//! definition, here; the CLI (`gridmap stats --scorecard`), the API (`/api/scorecard`), the
//! dashboard and the monthly report all show the figures this module computes.
//!
//! | key | 指标 | numerator / denominator | target |
//! | --- | --- | --- | ---: |
//! | `visit_rate` | 入户调查率 | households visited / households | 100% |
//! | `registration_rate` | 基础信息核查登记率 | buildings and houses checked / buildings and houses | 100% |
//! | `attention_rate` | 重点单位、场所、人员关注率 | key subjects with an attention level / key subjects | 100% |
//! | `consistency_rate` | 网格基础信息与平台录入数据一致率 | people matched at the same address / (matched + police only + register only), from the latest reconciliation | 95% |
//! | `linkage_rate` | 人房关联率 | people whose house is linked to a building / people | 95% |
//! | `awareness_rate` | 群众知晓率 | households answering that they know their grid worker / households answering | 95% |
//! | `satisfaction_rate` | 群众满意率 | households answering 4 or 5 (of 5) / households answering | 95% |
//! | `plate_rate` | 二维码管理率 | houses with a plate printed and scanned / houses | 95% |
//!
//! Households and houses: a building's households are its registered houses (户/室), or its
//! `households` attribute when that is larger (households not yet registered still need a
//! visit). A household is visited when its house's latest visit found it (`visited`,
//! `newly_found`); a building without registered houses counts all its households as visited
//! when the building's latest visit did. Checked (核查) means the latest visit reached a verdict:
//! `visited`, `newly_found` or `demolished` (not `nobody_home` or `refused`); people are checked
//! with their house (以房找人). Answers: each household's (or, without houses, each building's)
//! latest visit that recorded the answer.
//!
//! Grades: green at or above the target; amber within 10 points below it; red further below.
//! A rate with a zero denominator has no value and no grade (`null`): nothing to measure is not
//! a success.

use std::collections::BTreeMap;

use serde::Serialize;

/// What one grid's figures are made of: the numerator and denominator of every rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Counts {
    /// Households (see the module docs).
    pub households: u64,
    /// Of them, visited.
    pub households_visited: u64,
    /// Buildings plus registered houses: what 基础信息核查 checks.
    pub units: u64,
    /// Of them, checked by a visit.
    pub units_checked: u64,
    /// Key units, places and persons (重点单位、场所、人员).
    pub key_subjects: u64,
    /// Of them, with an attention level (关注等级).
    pub key_subjects_rated: u64,
    /// From the latest reconciliation with the police register: matched at the same address.
    pub matched_same_address: u64,
    /// Matched, police only and register only: the consistency rate's denominator.
    pub reconciled: u64,
    /// People in the register.
    pub people: u64,
    /// Of them, in a house linked to a building.
    pub people_linked: u64,
    /// Households (or buildings) whose latest answer says whether they know the grid worker.
    pub awareness_answers: u64,
    /// Of them, yes.
    pub aware: u64,
    /// Households (or buildings) whose latest answer rates their satisfaction.
    pub satisfaction_answers: u64,
    /// Of them, 4 or 5.
    pub satisfied: u64,
    /// Houses (buildings without houses count as one) that could carry a QR plate.
    pub plate_places: u64,
    /// Of them, with a plate printed and scanned at least once.
    pub plates_scanned: u64,
}

impl Counts {
    /// Adds `other` into `self`.
    pub fn add(&mut self, o: &Counts) {
        self.households += o.households;
        self.households_visited += o.households_visited;
        self.units += o.units;
        self.units_checked += o.units_checked;
        self.key_subjects += o.key_subjects;
        self.key_subjects_rated += o.key_subjects_rated;
        self.matched_same_address += o.matched_same_address;
        self.reconciled += o.reconciled;
        self.people += o.people;
        self.people_linked += o.people_linked;
        self.awareness_answers += o.awareness_answers;
        self.aware += o.aware;
        self.satisfaction_answers += o.satisfaction_answers;
        self.satisfied += o.satisfied;
        self.plate_places += o.plate_places;
        self.plates_scanned += o.plates_scanned;
    }
}

/// A rate's grade against its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Grade {
    /// At or above the target.
    Green,
    /// Less than 10 points below it.
    Amber,
    /// Further below.
    Red,
}

/// One rate: its parts, its value and its grade.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rate {
    /// What was achieved.
    pub numerator: u64,
    /// Out of what.
    pub denominator: u64,
    /// `numerator / denominator`; `None` when there is nothing to measure.
    pub rate: Option<f64>,
    /// The campaign's target (1.0 is 100%).
    pub target: f64,
    /// Against the target; `None` with the rate.
    pub grade: Option<Grade>,
}

impl Rate {
    /// The rate `numerator / denominator` against `target`.
    ///
    /// ```
    /// use gridmap_stats::scorecard::{Grade, Rate};
    /// assert_eq!(Rate::of(95, 100, 0.95).grade, Some(Grade::Green));
    /// assert_eq!(Rate::of(90, 100, 0.95).grade, Some(Grade::Amber));
    /// assert_eq!(Rate::of(80, 100, 0.95).grade, Some(Grade::Red));
    /// assert_eq!(Rate::of(0, 0, 1.0).rate, None);
    /// ```
    pub fn of(numerator: u64, denominator: u64, target: f64) -> Rate {
        let rate = (denominator > 0).then(|| numerator as f64 / denominator as f64);
        let grade = rate.map(|r| {
            // A hair of tolerance: 19/20 is 95% even in floating point.
            if r + 1e-9 >= target {
                Grade::Green
            } else if r + 1e-9 >= target - AMBER_BAND {
                Grade::Amber
            } else {
                Grade::Red
            }
        });
        Rate {
            numerator,
            denominator,
            rate,
            target,
            grade,
        }
    }
}

/// How far below its target a rate is still amber.
pub const AMBER_BAND: f64 = 0.10;

/// The targets of the seeds: 三个100% (visits, registration, attention), 三个95% (consistency,
/// linkage, awareness and satisfaction), and 95% for QR plates (`001_…`).
pub mod targets {
    /// 入户调查率.
    pub const VISIT: f64 = 1.0;
    /// 基础信息核查登记率.
    pub const REGISTRATION: f64 = 1.0;
    /// 重点单位、场所、人员关注率.
    pub const ATTENTION: f64 = 1.0;
    /// 网格基础信息与平台录入数据一致率.
    pub const CONSISTENCY: f64 = 0.95;
    /// 人房关联率.
    pub const LINKAGE: f64 = 0.95;
    /// 群众知晓率.
    pub const AWARENESS: f64 = 0.95;
    /// 群众满意率.
    pub const SATISFACTION: f64 = 0.95;
    /// 二维码管理率.
    pub const PLATE: f64 = 0.95;
}

/// The eight rates of one grid, village or the town.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Card {
    /// The grid's or village's code; the town's name for the town.
    pub code: String,
    /// Its name, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// 入户调查率.
    pub visit_rate: Rate,
    /// 基础信息核查登记率.
    pub registration_rate: Rate,
    /// 重点单位、场所、人员关注率.
    pub attention_rate: Rate,
    /// 网格基础信息与平台录入数据一致率.
    pub consistency_rate: Rate,
    /// 人房关联率.
    pub linkage_rate: Rate,
    /// 群众知晓率.
    pub awareness_rate: Rate,
    /// 群众满意率.
    pub satisfaction_rate: Rate,
    /// 二维码管理率.
    pub plate_rate: Rate,
    /// Rates graded red.
    pub red: usize,
    /// Rates graded green.
    pub green: usize,
}

impl Card {
    /// The card of `counts`.
    pub fn of(code: String, name: Option<String>, c: &Counts) -> Card {
        let mut card = Card {
            code,
            name,
            visit_rate: Rate::of(c.households_visited, c.households, targets::VISIT),
            registration_rate: Rate::of(c.units_checked, c.units, targets::REGISTRATION),
            attention_rate: Rate::of(c.key_subjects_rated, c.key_subjects, targets::ATTENTION),
            consistency_rate: Rate::of(c.matched_same_address, c.reconciled, targets::CONSISTENCY),
            linkage_rate: Rate::of(c.people_linked, c.people, targets::LINKAGE),
            awareness_rate: Rate::of(c.aware, c.awareness_answers, targets::AWARENESS),
            satisfaction_rate: Rate::of(c.satisfied, c.satisfaction_answers, targets::SATISFACTION),
            plate_rate: Rate::of(c.plates_scanned, c.plate_places, targets::PLATE),
            red: 0,
            green: 0,
        };
        let grades: Vec<Option<Grade>> = card.rates().iter().map(|(_, r)| r.grade).collect();
        card.red = grades.iter().filter(|g| **g == Some(Grade::Red)).count();
        card.green = grades.iter().filter(|g| **g == Some(Grade::Green)).count();
        card
    }

    /// The rates by key, in the scorecard's order.
    pub fn rates(&self) -> [(&'static str, &Rate); 8] {
        [
            ("visit_rate", &self.visit_rate),
            ("registration_rate", &self.registration_rate),
            ("attention_rate", &self.attention_rate),
            ("consistency_rate", &self.consistency_rate),
            ("linkage_rate", &self.linkage_rate),
            ("awareness_rate", &self.awareness_rate),
            ("satisfaction_rate", &self.satisfaction_rate),
            ("plate_rate", &self.plate_rate),
        ]
    }
}

/// The Chinese name of each rate key, as the seeds word it.
pub fn rate_title(key: &str) -> &'static str {
    match key {
        "visit_rate" => "入户调查率",
        "registration_rate" => "基础信息核查登记率",
        "attention_rate" => "重点单位、场所、人员关注率",
        "consistency_rate" => "网格基础信息与平台录入数据一致率",
        "linkage_rate" => "人房关联率",
        "awareness_rate" => "群众知晓率",
        "satisfaction_rate" => "群众满意率",
        "plate_rate" => "二维码管理率",
        _ => "",
    }
}

/// One grid's counts, with where it belongs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GridCounts {
    /// The grid's code.
    pub code: String,
    /// Its name.
    pub name: Option<String>,
    /// Its village's code.
    pub village: Option<String>,
    /// Its figures.
    pub counts: Counts,
}

/// The scorecard of a town: the town's card, then each village's and each grid's, ranked.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Scorecard {
    /// The town (or the part of it the reader may see).
    pub town: Card,
    /// Villages, ranked (see [`scorecard`]).
    pub villages: Vec<Card>,
    /// Grids, ranked.
    pub grids: Vec<Card>,
}

/// Builds the scorecard of `grids`, plus `outside`: figures that belong to the town but to no
/// grid (people whose house has no building, reconciliation rows whose address is in no grid).
///
/// Ranking (the monthly 排名 of the seeds): fewest red rates first, then most green, then the
/// visit rate, then the code.
pub fn scorecard(town: &str, grids: &[GridCounts], outside: &Counts) -> Scorecard {
    let mut villages: BTreeMap<&str, Counts> = BTreeMap::new();
    let mut total = *outside;
    for g in grids {
        villages
            .entry(g.village.as_deref().unwrap_or("-"))
            .or_default()
            .add(&g.counts);
        total.add(&g.counts);
    }
    let mut village_cards: Vec<Card> = villages
        .iter()
        .map(|(v, c)| Card::of(v.to_string(), None, c))
        .collect();
    let mut grid_cards: Vec<Card> = grids
        .iter()
        .map(|g| Card::of(g.code.clone(), g.name.clone(), &g.counts))
        .collect();
    rank_cards(&mut village_cards);
    rank_cards(&mut grid_cards);
    Scorecard {
        town: Card::of(town.to_string(), None, &total),
        villages: village_cards,
        grids: grid_cards,
    }
}

fn rank_cards(cards: &mut [Card]) {
    cards.sort_by(|a, b| {
        a.red
            .cmp(&b.red)
            .then(b.green.cmp(&a.green))
            .then(
                b.visit_rate
                    .rate
                    .unwrap_or(-1.0)
                    .total_cmp(&a.visit_rate.rate.unwrap_or(-1.0)),
            )
            .then(a.code.cmp(&b.code))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(code: &str, village: &str, counts: Counts) -> GridCounts {
        GridCounts {
            code: code.into(),
            name: None,
            village: Some(village.into()),
            counts,
        }
    }

    #[test]
    fn villages_and_the_town_add_their_grids_and_the_town_adds_what_lies_in_no_grid() {
        let a = Counts {
            households: 10,
            households_visited: 10,
            people: 20,
            people_linked: 20,
            ..Counts::default()
        };
        let b = Counts {
            households: 10,
            households_visited: 5,
            people: 10,
            people_linked: 10,
            ..Counts::default()
        };
        let outside = Counts {
            people: 2,
            ..Counts::default()
        };
        let card = scorecard(
            "town",
            &[
                grid("G2", "V1", b),
                grid("G1", "V1", a),
                grid("G3", "V2", a),
            ],
            &outside,
        );
        assert_eq!(card.town.visit_rate.numerator, 25);
        assert_eq!(card.town.visit_rate.denominator, 30);
        assert_eq!(card.town.linkage_rate.denominator, 52);
        assert_eq!(card.town.linkage_rate.numerator, 50);
        assert_eq!(card.town.linkage_rate.grade, Some(Grade::Green));
        assert_eq!(card.town.visit_rate.grade, Some(Grade::Red)); // 83% against 100%
        // Nothing measured: no rate, no grade, and it counts neither red nor green.
        assert_eq!(card.town.plate_rate.rate, None);
        assert_eq!(card.town.plate_rate.grade, None);
        let order: Vec<&str> = card.grids.iter().map(|c| c.code.as_str()).collect();
        assert_eq!(order, ["G1", "G3", "G2"]);
        assert_eq!(card.grids[2].red, 1);
        let villages: Vec<(&str, u64)> = card
            .villages
            .iter()
            .map(|c| (c.code.as_str(), c.visit_rate.denominator))
            .collect();
        assert_eq!(villages, [("V2", 10), ("V1", 20)]);
    }

    #[test]
    fn the_json_names_every_rate_with_its_parts_and_target() {
        let card = Card::of("G1".into(), None, &Counts::default());
        let json = serde_json::to_value(&card).unwrap_or_default();
        for (key, _) in card.rates() {
            let r = &json[key];
            assert!(
                r["numerator"].is_u64() && r["denominator"].is_u64(),
                "{key}"
            );
            assert!(r["target"].is_f64(), "{key}");
            assert!(!rate_title(key).is_empty(), "{key}");
        }
    }
}
