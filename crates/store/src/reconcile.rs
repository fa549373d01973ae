//! Reconciliation with the police register (同增同减): a police extract compared with the
//! project's register of people, the differences listed per grid, the figures of each run kept,
//! and the people the police have but the grid lacks made into tasks to visit.
//!
//! # How people are matched
//!
//! A police row and a person of the register are the same person when their ID numbers have
//! the same keyed fingerprint ([`RegisterKey::fingerprint`], the one the register is keyed
//! by): no ID number is decrypted to compare. A matched person's two addresses are the same
//! when both read as standard addresses ([`gridmap_address::parse`]: full-width digits, 號/号,
//! spaces, 栋/幢, `3-2-301` … all normalise alike) with the same key below the town, and no
//! administrative level (省 市 区 镇) that both write differs; an address that does not parse is
//! the same only as the same text without spaces.
//!
//! ```
//! use gridmap_store::reconcile::same_address;
//! let registered = "上海市浦东新区世纪大道100号601室";
//! assert!(same_address("世纪大道１００號 ６０１室", registered));
//! assert!(same_address("世纪大道100号6层601室", registered));
//! assert!(!same_address("世纪大道100号602室", registered));
//! assert!(!same_address("上海市黄浦区世纪大道100号601室", registered)); // another district
//! ```
//!
//! - **matched**: in both; **address_mismatch**: matched, at another address;
//! - **police_only**: the police list the person as living here, the register does not have
//!   them (to visit: they become tasks in the grid of the police's address);
//! - **register_only**: the register has the person, the police do not, or list them as gone.
//!
//! People whom the police list as gone (迁出 moved out, 注销 cancelled, 死亡 deceased, see
//! `PoliceStatus::is_gone`) are not expected in the register: such a row is left out of the
//! police count, and it counts nowhere when the register does not hold the person either (both
//! agree). When the register still holds them, the person is register_only with the police's
//! status (`police_status`), for the grid worker to check and remove. People of the register
//! without an ID number cannot be matched and are register_only.
//!
//! # The consistency rate
//!
//! `consistency_rate = matched_same_address / (matched + police_only + register_only)`: the
//! share of everyone either side lists on whom both agree, person and address (网格基础信息与
//! 平台录入数据一致率, target ≥ 95%, [`CONSISTENCY_TARGET`]). `None` when neither side lists
//! anyone. Per grid, a matched person and a register_only one count in the grid of their
//! register house, a police_only one in the grid of the police's address; a person whose house
//! or address leads to no grid counts under `(unassigned)`.
//!
//! # Grid of an address
//!
//! The address is parsed; the register's house with the same key (below the town) gives its
//! building, else the standard addresses do (the rules that link houses, see
//! [`crate::registers`]); the building's grid is the one it is assigned to.
//!
//! # Tables
//!
//! `gridmap_reconciliations` keeps each run's figures per grid (run number, time, source,
//! matched, matched_same_address, police_only, register_only, address_mismatch);
//! [`GpkgStore::latest_reconciliation`] answers the last run. `gridmap_tasks` holds tasks for
//! grid workers (`kind` `police_only`: visit the address); a task names the grid, the address,
//! the house where known, the extract it came from and the person's ID fingerprint, never a
//! name or an ID number. Both are GeoPackage attribute tables, created on first use. The
//! PostgreSQL store keeps the same columns in its `reconciliations` and `tasks` tables and
//! compares with [`reconcile_register`] too, so both stores answer alike.
//!
//! # Privacy
//!
//! The [`Reconciliation`] serialises masked names and ID numbers only; the clear values the
//! exchange file needs ride along in [`Difference::exchange`], which is never serialised and
//! whose `Debug` masks them.

use std::collections::BTreeMap;

use gridmap_core::index::GridIndex;
use gridmap_core::model::{Address, Building, Grid};
use gridmap_core::police::PoliceRow;
use gridmap_core::register::{House, Person, mask_id_number, mask_name};
use rusqlite::{OptionalExtension, params};
use rustc_hash::FxHashMap;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::registers::{
    Link, RegisterKey, Result, StandardAddresses, UNASSIGNED, View, admin_compatible, local,
};
use crate::{GpkgStore, Store};

/// The consistency rate aimed for (网格基础信息与平台录入数据一致率 ≥ 95%).
pub const CONSISTENCY_TARGET: f64 = 0.95;

/// The kind of task a police-only person makes.
pub const TASK_POLICE_ONLY: &str = "police_only";

const TABLES_SQL: &str = "CREATE TABLE IF NOT EXISTS gridmap_tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT, grid TEXT, kind TEXT NOT NULL, address TEXT,
    house TEXT, subject TEXT, created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    source TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0);
  CREATE INDEX IF NOT EXISTS gridmap_tasks_by_grid ON gridmap_tasks (grid, done);
  CREATE INDEX IF NOT EXISTS gridmap_tasks_by_subject ON gridmap_tasks (kind, subject);
  CREATE TABLE IF NOT EXISTS gridmap_reconciliations (
    fid INTEGER PRIMARY KEY AUTOINCREMENT, run INTEGER NOT NULL, at TEXT NOT NULL,
    source TEXT NOT NULL, grid TEXT NOT NULL, matched INTEGER NOT NULL,
    matched_same_address INTEGER NOT NULL, police_only INTEGER NOT NULL,
    register_only INTEGER NOT NULL, address_mismatch INTEGER NOT NULL);
  CREATE INDEX IF NOT EXISTS gridmap_reconciliations_by_run ON gridmap_reconciliations (run);
  INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description)
    VALUES ('gridmap_tasks', 'attributes', 'gridmap_tasks',
            'tasks for grid workers: police_only = visit an address the police list someone at'),
           ('gridmap_reconciliations', 'attributes', 'gridmap_reconciliations',
            'figures per grid of each reconciliation with the police register (同增同减)');";

/// A person of the register as the comparison sees them. Personal data in clear; `Debug`
/// masks it.
#[derive(Clone, Default)]
pub struct RegisterPerson {
    /// The person's id in the register (`p12`).
    pub id: String,
    /// The keyed fingerprint of their ID number, `None` without one.
    pub fingerprint: Option<String>,
    /// Name, in clear.
    pub name: String,
    /// ID number, in clear.
    pub id_number: Option<String>,
    /// Their house's id.
    pub house: String,
    /// Their house's address as written.
    pub address: String,
    /// The grid of their house's building, `None` when it has none.
    pub grid: Option<String>,
}

impl std::fmt::Debug for RegisterPerson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisterPerson")
            .field("id", &self.id)
            .field("name", &mask_name(&self.name))
            .field("house", &self.house)
            .field("address", &self.address)
            .field("grid", &self.grid)
            .finish_non_exhaustive()
    }
}

/// Where an address leads: the register's house with that address, and a grid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    /// The register's house at the address.
    pub house: Option<String>,
    /// The grid of the address's building.
    pub grid: Option<String>,
}

/// The figures of one grid (or `(unassigned)`, or the town).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReconcileCounts {
    /// Grid code, `(unassigned)` or `town`.
    pub grid: String,
    /// People in both (not in the JSON report, whose shape the issue fixes).
    #[serde(skip)]
    pub matched: usize,
    /// Of those, at the same address (not in the JSON report either).
    #[serde(skip)]
    pub matched_same_address: usize,
    /// Listed by the police only.
    pub police_only: usize,
    /// Listed by the register only.
    pub register_only: usize,
    /// In both, at different addresses.
    pub address_mismatch: usize,
    /// `matched_same_address / (matched + police_only + register_only)`, `None` when that
    /// is 0 (see the module docs).
    pub consistency_rate: Option<f64>,
}

impl ReconcileCounts {
    fn named(grid: &str) -> Self {
        ReconcileCounts {
            grid: grid.to_string(),
            ..ReconcileCounts::default()
        }
    }

    /// The consistency rate's denominator: matched + police only + register only.
    pub fn reconciled(&self) -> usize {
        self.matched + self.police_only + self.register_only
    }

    /// Sets [`ReconcileCounts::consistency_rate`] from the counts.
    pub fn finish(&mut self) {
        let all = self.reconciled();
        self.consistency_rate = (all > 0).then(|| self.matched_same_address as f64 / all as f64);
    }

    fn add(&mut self, o: &ReconcileCounts) {
        self.matched += o.matched;
        self.matched_same_address += o.matched_same_address;
        self.police_only += o.police_only;
        self.register_only += o.register_only;
        self.address_mismatch += o.address_mismatch;
    }
}

/// The whole comparison's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Police rows of people living here (rows of people gone left out).
    pub police: usize,
    /// People in the register.
    pub register: usize,
    /// In both.
    pub matched: usize,
    /// Police only.
    pub police_only: usize,
    /// Register only.
    pub register_only: usize,
    /// In both, at different addresses.
    pub address_mismatch: usize,
    /// See the module docs.
    pub consistency_rate: Option<f64>,
    /// Police rows of people gone (迁出/注销/死亡), left out of `police` (not in the JSON).
    #[serde(skip)]
    pub police_gone: usize,
}

/// The clear name and ID number of a difference, for the exchange file only: never
/// serialised, masked by `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Exchange {
    /// Name in clear.
    pub name: String,
    /// ID number in clear, empty when the register has none.
    pub id_number: String,
}

impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchange")
            .field("name", &mask_name(&self.name))
            .field("id_number", &mask_id_number(&self.id_number))
            .finish()
    }
}

/// One person listed by one side only, or at two addresses.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Difference {
    /// Masked name (`张*`).
    pub name: String,
    /// Masked ID number (`3206**********1234`), empty when the register has none.
    pub id_number: String,
    /// The grid the person counts in (see the module docs), `None` when none.
    pub grid: Option<String>,
    /// The address the police give.
    pub police_address: Option<String>,
    /// The address of the register's house.
    pub register_address: Option<String>,
    /// The register's house: the person's, or (police only) the one at the police's address.
    pub house: Option<String>,
    /// For an address mismatch, the register's house at the police's address, if any.
    pub police_house: Option<String>,
    /// For an address mismatch, the grid of the police's address.
    pub police_grid: Option<String>,
    /// The police's house code (房屋编码), as written.
    pub police_house_code: Option<String>,
    /// The police's status of the person (`常住`, `迁出` …), when given.
    pub police_status: Option<&'static str>,
    /// The row of the police extract, 1-based.
    pub police_row: Option<usize>,
    /// The person's id in the register.
    pub person: Option<String>,
    /// Clear values for the exchange file; not serialised.
    #[serde(skip)]
    pub exchange: Exchange,
}

/// A comparison of a police extract with the register: the JSON report of `gridmap
/// reconcile`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Reconciliation {
    /// The town's figures.
    pub summary: Summary,
    /// Each grid's figures, by code, then `(unassigned)` when anyone counts there.
    pub by_grid: Vec<ReconcileCounts>,
    /// People the police list and the register lacks, by grid then police row.
    pub police_only: Vec<Difference>,
    /// People the register holds and the police do not list as living here, by grid then id.
    pub register_only: Vec<Difference>,
    /// People at different addresses, by grid then police row.
    pub address_mismatch: Vec<Difference>,
}

/// Whether two addresses are the same (see the module docs).
pub fn same_address(a: &str, b: &str) -> bool {
    match (gridmap_address::parse(a), gridmap_address::parse(b)) {
        (Ok(x), Ok(y)) => {
            gridmap_address::key_of(&local(&x.levels)) == gridmap_address::key_of(&local(&y.levels))
                && admin_compatible(&x.levels, &y.levels)
        }
        _ => {
            let bare = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
            bare(a) == bare(b)
        }
    }
}

/// Compares police rows, each with the fingerprint of its ID number, with the register's
/// people; `grids` are the project's grid codes (each gets a row of `by_grid`), `locate` finds
/// where a police address leads. Pure: reads and writes nothing.
///
/// # Performance
/// Linear in the rows and people; parses each matched pair's two addresses and each
/// police-only address once (~2 µs each).
pub fn compare(
    police: &[(&PoliceRow, String)],
    register: &[RegisterPerson],
    grids: &[String],
    locate: impl Fn(&str) -> Place,
) -> Reconciliation {
    let mut out = Reconciliation::default();
    let mut counts: BTreeMap<String, ReconcileCounts> = grids
        .iter()
        .map(|g| (g.clone(), ReconcileCounts::named(g)))
        .collect();
    let mut count = |grid: &Option<String>, f: &mut dyn FnMut(&mut ReconcileCounts)| {
        let g = grid.as_deref().unwrap_or(UNASSIGNED);
        f(counts
            .entry(g.to_string())
            .or_insert_with(|| ReconcileCounts::named(g)));
    };
    let by_fingerprint: FxHashMap<&str, usize> = register
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.fingerprint.as_deref().map(|f| (f, i)))
        .collect();
    // The police row each person of the register was found in, and whether as living here.
    let mut found: Vec<Option<(&PoliceRow, bool)>> = vec![None; register.len()];
    out.summary.register = register.len();
    for (row, fingerprint) in police {
        let gone = row.status.is_some_and(|s| s.is_gone());
        let person = by_fingerprint.get(fingerprint.as_str()).copied();
        if gone {
            out.summary.police_gone += 1;
            if let Some(i) = person {
                found[i] = Some((row, false));
            }
            continue;
        }
        out.summary.police += 1;
        let Some(i) = person else {
            let place = locate(&row.address);
            count(&place.grid, &mut |c| c.police_only += 1);
            out.police_only.push(Difference {
                name: mask_name(&row.name),
                id_number: mask_id_number(&row.id_number),
                grid: place.grid,
                police_address: Some(row.address.clone()),
                house: place.house,
                police_house_code: row.house_code.clone(),
                police_status: row.status.map(|s| s.as_str()),
                police_row: Some(row.row),
                exchange: Exchange {
                    name: row.name.clone(),
                    id_number: row.id_number.clone(),
                },
                ..Difference::default()
            });
            continue;
        };
        found[i] = Some((row, true));
        let p = &register[i];
        let same = same_address(&row.address, &p.address);
        count(&p.grid, &mut |c| {
            c.matched += 1;
            if same {
                c.matched_same_address += 1;
            } else {
                c.address_mismatch += 1;
            }
        });
        if !same {
            let place = locate(&row.address);
            out.address_mismatch.push(Difference {
                police_house: place.house,
                police_grid: place.grid,
                police_house_code: row.house_code.clone(),
                police_status: row.status.map(|s| s.as_str()),
                police_row: Some(row.row),
                police_address: Some(row.address.clone()),
                ..difference_of(p)
            });
        }
    }
    for (p, found) in register.iter().zip(&found) {
        match found {
            Some((_, true)) => {}
            Some((row, false)) => {
                count(&p.grid, &mut |c| c.register_only += 1);
                out.register_only.push(Difference {
                    police_status: row.status.map(|s| s.as_str()),
                    police_row: Some(row.row),
                    police_house_code: row.house_code.clone(),
                    police_address: (!row.address.is_empty()).then(|| row.address.clone()),
                    ..difference_of(p)
                });
            }
            None => {
                count(&p.grid, &mut |c| c.register_only += 1);
                out.register_only.push(difference_of(p));
            }
        }
    }
    let mut town = ReconcileCounts::named("town");
    for (_, mut c) in counts {
        c.finish();
        town.add(&c);
        if c.grid != UNASSIGNED || c.matched + c.police_only + c.register_only > 0 {
            out.by_grid.push(c);
        }
    }
    // `(unassigned)` sorts before digits; it goes last.
    out.by_grid.sort_by_key(|c| c.grid == UNASSIGNED);
    town.finish();
    out.summary.matched = town.matched;
    out.summary.police_only = town.police_only;
    out.summary.register_only = town.register_only;
    out.summary.address_mismatch = town.address_mismatch;
    out.summary.consistency_rate = town.consistency_rate;
    let order = |d: &Difference| {
        (
            d.grid.is_none(),
            d.grid.clone(),
            d.police_row,
            d.person.clone(),
        )
    };
    for list in [
        &mut out.police_only,
        &mut out.register_only,
        &mut out.address_mismatch,
    ] {
        list.sort_by_key(order);
    }
    out
}

fn difference_of(p: &RegisterPerson) -> Difference {
    Difference {
        name: mask_name(&p.name),
        id_number: p
            .id_number
            .as_deref()
            .map(mask_id_number)
            .unwrap_or_default(),
        grid: p.grid.clone(),
        register_address: Some(p.address.clone()),
        house: Some(p.house.clone()),
        person: Some(p.id.clone()),
        exchange: Exchange {
            name: p.name.clone(),
            id_number: p.id_number.clone().unwrap_or_default(),
        },
        ..Difference::default()
    }
}

/// How an extract is named in the project: its file name and the start of its SHA-256, so
/// that the same extract run twice is known as such.
pub fn extract_source(file_name: &str, bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{file_name} sha256:{hex}")
}

/// What [`GpkgStore::reconcile`] does beside comparing.
#[derive(Debug, Clone, Default)]
pub struct ReconcileOptions {
    /// The extract's name in the project ([`extract_source`]).
    pub source: String,
    /// Make a task of each police-only person (see [`GpkgStore::reconcile`]).
    pub apply_tasks: bool,
}

/// What [`GpkgStore::reconcile`] did.
#[derive(Debug, Clone)]
pub struct ReconcileRun {
    /// The comparison.
    pub reconciliation: Reconciliation,
    /// The run's number in `gridmap_reconciliations`.
    pub run: i64,
    /// When, UTC, RFC 3339.
    pub at: String,
    /// Tasks made (with `apply_tasks`).
    pub tasks_created: usize,
    /// Police-only people who already had an open task, or one from this extract.
    pub tasks_existing: usize,
}

/// A task for the grid workers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Task {
    /// Its number.
    pub id: i64,
    /// The grid it falls to, `None` when the address leads to none.
    pub grid: Option<String>,
    /// What to do: [`TASK_POLICE_ONLY`] (visit the address: the police list someone there
    /// whom the register lacks).
    pub kind: String,
    /// The address to visit.
    pub address: Option<String>,
    /// The register's house at the address, when there is one.
    pub house: Option<String>,
    /// When it was made, UTC, RFC 3339.
    pub created: String,
    /// Where it came from ([`extract_source`]).
    pub source: String,
    /// Whether it is done.
    pub done: bool,
}

/// The figures of a recorded reconciliation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReconciliationRecord {
    /// The run's number.
    pub run: i64,
    /// When, UTC, RFC 3339.
    pub at: String,
    /// The extract ([`extract_source`]).
    pub source: String,
    /// Each grid's figures as recorded, by code, `(unassigned)` last; rates set.
    pub grids: Vec<ReconcileCounts>,
    /// Their sum, with the town's rate.
    pub town: ReconcileCounts,
}

impl ReconciliationRecord {
    /// The record of run `run` from its rows as stored: each grid's code and its counts
    /// (matched, matched_same_address, police_only, register_only, address_mismatch), in any
    /// order. Sorts the grids by code (byte order), `(unassigned)` last, sets their rates and
    /// sums them for the town: what both stores answer.
    pub fn new(run: i64, at: String, source: String, rows: Vec<(String, [i64; 5])>) -> Self {
        let n = |v: i64| v.max(0) as usize;
        let mut grids: Vec<ReconcileCounts> = rows
            .into_iter()
            .map(
                |(grid, [m, same, police, register, mismatch])| ReconcileCounts {
                    grid,
                    matched: n(m),
                    matched_same_address: n(same),
                    police_only: n(police),
                    register_only: n(register),
                    address_mismatch: n(mismatch),
                    consistency_rate: None,
                },
            )
            .collect();
        grids.sort_by(|a, b| a.grid.cmp(&b.grid));
        grids.sort_by_key(|g| g.grid == UNASSIGNED);
        let mut town = ReconcileCounts::named("town");
        for g in &mut grids {
            g.finish();
            town.add(g);
        }
        town.finish();
        ReconciliationRecord {
            run,
            at,
            source,
            grids,
            town,
        }
    }
}

/// A task a reconciliation asks for, before a store numbers and records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    /// The grid of the police's address, `None` when it leads to none.
    pub grid: Option<String>,
    /// The address to visit (the police's).
    pub address: Option<String>,
    /// The register's house at the address, when there is one.
    pub house: Option<String>,
    /// The keyed fingerprint of the person's ID number: the task's subject, never the number.
    pub subject: Option<String>,
}

/// What [`reconcile_register`] answers: the comparison, and the task each police-only person
/// makes (in the order of [`Reconciliation::police_only`]) when tasks are applied.
#[derive(Debug, Clone)]
pub struct Compared {
    /// The comparison.
    pub reconciliation: Reconciliation,
    /// One per police-only person.
    pub tasks: Vec<NewTask>,
}

/// The comparison of a store's `reconcile`, as both stores make it from what they read: the
/// project's `grids`, `buildings` and standard `addresses` (which place the buildings in grids
/// and lead addresses to buildings, see the module docs), the register's `houses` (in the order
/// they were made: the first house of an address key is the one an address leads to) and
/// `people` (in clear; a person whose house is not among `houses` is left out). Each police row
/// and each person with an ID number is fingerprinted with `key`. Pure: reads and writes
/// nothing.
///
/// # Performance
/// One assignment of the buildings to grids, one parse of every standard address and house,
/// one HMAC per police row and per person with an ID number, then [`compare`].
pub fn reconcile_register(
    rows: &[PoliceRow],
    key: &RegisterKey,
    grids: &[Grid],
    buildings: &[Building],
    addresses: &[Address],
    houses: &[House],
    people: &[Person],
) -> Compared {
    let standard = StandardAddresses::new(addresses, buildings);
    let index = GridIndex::new(grids, |_| false);
    let grid_of: FxHashMap<&str, &str> = buildings
        .iter()
        .zip(gridmap_core::assign_buildings(&index, buildings))
        .filter_map(|(b, a)| {
            a.grid()
                .map(|g| (b.id.as_str(), grids[g as usize].code.as_str()))
        })
        .collect();
    let grid_of_building =
        |b: Option<&str>| b.and_then(|b| grid_of.get(b)).map(|g| (*g).to_string());
    // Houses by their key below the town: their id and building.
    let mut by_key: FxHashMap<String, &House> = FxHashMap::default();
    for h in houses {
        if let Ok(p) = gridmap_address::parse(&h.address_key) {
            by_key
                .entry(gridmap_address::key_of(&local(&p.levels)))
                .or_insert(h);
        }
    }
    let by_id: FxHashMap<&str, &House> = houses.iter().map(|h| (h.id.as_str(), h)).collect();
    let register: Vec<RegisterPerson> = people
        .iter()
        .filter_map(|p| {
            let h = by_id.get(p.house.as_str())?;
            Some(RegisterPerson {
                id: p.id.clone(),
                fingerprint: p.id_number.as_deref().map(|i| key.fingerprint(i)),
                name: p.name.clone(),
                id_number: p.id_number.clone(),
                house: p.house.clone(),
                address: h.address.clone(),
                grid: grid_of_building(h.building.as_deref()),
            })
        })
        .collect();
    let locate = |address: &str| -> Place {
        let Ok(p) = gridmap_address::parse(address) else {
            return Place::default();
        };
        let house = by_key.get(&gridmap_address::key_of(&local(&p.levels)));
        let building = match house {
            Some(House {
                building: Some(b), ..
            }) => Some(b.clone()),
            _ => match standard.link(&p.levels) {
                Link::Building(b, _) => Some(b),
                Link::None(_) => None,
            },
        };
        Place {
            house: house.map(|h| h.id.clone()),
            grid: grid_of_building(building.as_deref()),
        }
    };
    let police: Vec<(&PoliceRow, String)> = rows
        .iter()
        .map(|r| (r, key.fingerprint(&r.id_number)))
        .collect();
    let codes: Vec<String> = grids.iter().map(|g| g.code.clone()).collect();
    let reconciliation = compare(&police, &register, &codes, locate);
    let fingerprint_of: FxHashMap<usize, &str> =
        police.iter().map(|(r, f)| (r.row, f.as_str())).collect();
    let tasks = reconciliation
        .police_only
        .iter()
        .map(|d| NewTask {
            grid: d.grid.clone(),
            address: d.police_address.clone(),
            house: d.house.clone(),
            subject: d
                .police_row
                .and_then(|r| fingerprint_of.get(&r))
                .map(|f| (*f).to_string()),
        })
        .collect();
    Compared {
        reconciliation,
        tasks,
    }
}

impl GpkgStore {
    /// Creates `gridmap_tasks` and `gridmap_reconciliations` if they are missing, with their
    /// `gpkg_contents` rows (idempotent; projects made before them get them here).
    pub fn ensure_reconcile_tables(&self) -> Result<()> {
        self.connection().execute_batch(TABLES_SQL)?;
        Ok(())
    }

    /// [`Self::ensure_reconcile_tables`] inside the caller's transaction.
    pub(crate) fn ensure_reconcile_tables_in(tx: &rusqlite::Transaction) -> Result<()> {
        tx.execute_batch(TABLES_SQL)?;
        Ok(())
    }

    /// Compares police `rows` with the register (see the module docs) and records the run's
    /// figures per grid; with [`ReconcileOptions::apply_tasks`], each police-only person
    /// becomes a `police_only` task in their address's grid, unless they already have an open
    /// task or one from the same extract (so running an extract twice adds nothing). One
    /// transaction, after the key is checked (and old fingerprints upgraded, see
    /// [`GpkgStore::upgrade_fingerprints`]); the comparison itself is [`reconcile_register`].
    ///
    /// # Performance
    /// One assignment of the buildings to grids, one parse of every standard address and
    /// house, one decryption of each person's name, ID number and phone (a few µs each).
    pub fn reconcile(
        &mut self,
        rows: &[PoliceRow],
        key: &RegisterKey,
        options: &ReconcileOptions,
    ) -> Result<ReconcileRun> {
        self.ensure_register_tables()?;
        let grids: Vec<Grid> = self.grids()?.into_iter().map(|g| g.grid).collect();
        let buildings = self.buildings()?;
        let addresses = self.addresses()?;
        let tx = self.connection().unchecked_transaction()?;
        tx.execute_batch(TABLES_SQL)?;
        Self::check_key(&tx, key)?;
        Self::upgrade_fingerprints_in(&tx, key)?;
        // Read on the transaction's connection, after the upgrade.
        let houses = self.houses()?;
        let people = self.people(key, View::Clear)?;
        let Compared {
            reconciliation,
            tasks,
        } = reconcile_register(rows, key, &grids, &buildings, &addresses, &houses, &people);

        let run: i64 = tx.query_row(
            "SELECT COALESCE(MAX(run), 0) + 1 FROM gridmap_reconciliations",
            [],
            |r| r.get(0),
        )?;
        let at: String = tx.query_row("SELECT strftime('%Y-%m-%dT%H:%M:%SZ','now')", [], |r| {
            r.get(0)
        })?;
        {
            let mut add = tx.prepare(
                "INSERT INTO gridmap_reconciliations (run, at, source, grid, matched,
                   matched_same_address, police_only, register_only, address_mismatch)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for c in &reconciliation.by_grid {
                add.execute(params![
                    run,
                    at,
                    options.source,
                    c.grid,
                    c.matched as i64,
                    c.matched_same_address as i64,
                    c.police_only as i64,
                    c.register_only as i64,
                    c.address_mismatch as i64
                ])?;
            }
        }
        let (mut tasks_created, mut tasks_existing) = (0, 0);
        if options.apply_tasks {
            let mut add = tx.prepare(
                "INSERT INTO gridmap_tasks (grid, kind, address, house, subject, source, created)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7
                 WHERE NOT EXISTS (SELECT 1 FROM gridmap_tasks
                   WHERE kind = ?2 AND subject = ?5 AND (done = 0 OR source = ?6))",
            )?;
            for t in &tasks {
                let n = add.execute(params![
                    t.grid,
                    TASK_POLICE_ONLY,
                    t.address,
                    t.house,
                    t.subject,
                    options.source,
                    at
                ])?;
                if n == 1 {
                    tasks_created += 1;
                } else {
                    tasks_existing += 1;
                }
            }
        }
        tx.commit()?;
        Ok(ReconcileRun {
            reconciliation,
            run,
            at,
            tasks_created,
            tasks_existing,
        })
    }

    /// The open tasks, of grid `grid` only when given (tasks in no grid are listed only
    /// without it), by grid then number.
    pub fn open_tasks(&self, grid: Option<&str>) -> Result<Vec<Task>> {
        if !self.has_table("gridmap_tasks")? {
            return Ok(Vec::new());
        }
        let mut stmt = self.connection().prepare(
            "SELECT id, grid, kind, address, house, created, source, done FROM gridmap_tasks
             WHERE done = 0 AND (?1 IS NULL OR grid = ?1) ORDER BY grid IS NULL, grid, id",
        )?;
        let tasks = stmt
            .query_map([grid], |r| {
                Ok(Task {
                    id: r.get(0)?,
                    grid: r.get(1)?,
                    kind: r.get(2)?,
                    address: r.get(3)?,
                    house: r.get(4)?,
                    created: r.get(5)?,
                    source: r.get(6)?,
                    done: r.get::<_, i64>(7)? != 0,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(tasks)
    }

    /// Marks task `id` done; whether it was open.
    pub fn finish_task(&mut self, id: i64) -> Result<bool> {
        if !self.has_table("gridmap_tasks")? {
            return Ok(false);
        }
        let n = self.connection().execute(
            "UPDATE gridmap_tasks SET done = 1 WHERE id = ?1 AND done = 0",
            [id],
        )?;
        Ok(n == 1)
    }

    /// The figures of the latest reconciliation, per grid and for the town, `None` before
    /// the first. Writes nothing (a project without the table has had none).
    pub fn latest_reconciliation(&self) -> Result<Option<ReconciliationRecord>> {
        if !self.has_table("gridmap_reconciliations")? {
            return Ok(None);
        }
        let conn = self.connection();
        let Some((run, at, source)) = conn
            .query_row(
                "SELECT run, at, source FROM gridmap_reconciliations ORDER BY run DESC LIMIT 1",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?
        else {
            return Ok(None);
        };
        let mut stmt = conn.prepare(
            "SELECT grid, matched, matched_same_address, police_only, register_only,
               address_mismatch FROM gridmap_reconciliations WHERE run = ?1",
        )?;
        let grids = stmt
            .query_map([run], |r| {
                Ok((
                    r.get(0)?,
                    [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?],
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Some(ReconciliationRecord::new(run, at, source, grids)))
    }

    fn has_table(&self, name: &str) -> Result<bool> {
        Ok(self.connection().query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
            [name],
            |r| r.get(0),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridmap_core::police::PoliceStatus;

    fn row(n: usize, id: &str, address: &str, status: Option<PoliceStatus>) -> PoliceRow {
        PoliceRow {
            row: n,
            id_number: id.into(),
            name: format!("警{n}"),
            address: address.into(),
            house_code: None,
            status,
        }
    }

    fn person(id: &str, fp: Option<&str>, address: &str, grid: Option<&str>) -> RegisterPerson {
        RegisterPerson {
            id: id.into(),
            fingerprint: fp.map(Into::into),
            name: "测试人".into(),
            id_number: fp.map(|f| format!("{f}-id")),
            house: format!("h-{id}"),
            address: address.into(),
            grid: grid.map(Into::into),
        }
    }

    #[test]
    fn variants_of_an_address_are_the_same_and_other_houses_are_not() {
        let reg = "上海市浦东新区世纪大道100号601室";
        assert!(same_address("世纪大道１００號６０１室", reg));
        assert!(same_address("上海市 浦东新区 世纪大道 100号 601室", reg));
        assert!(same_address("世纪大道100号6层601室", reg));
        assert!(!same_address("世纪大道100号602室", reg));
        assert!(
            !same_address("上海市黄浦区世纪大道100号601室", reg),
            "another district"
        );
        assert!(
            same_address("某处 不明", "某处不明"),
            "unparsed: text without spaces"
        );
    }

    /// Every kind of difference once, and the rate by the formula, per grid and in all.
    #[test]
    fn each_difference_is_counted_once_in_its_grid() {
        let rows = [
            row(2, "a", "A路1号101室", None), // matched, same
            row(3, "b", "A路1号999室", None), // matched, moved
            row(4, "x", "A路2号", Some(PoliceStatus::Temporary)), // police only
            row(5, "c", "", Some(PoliceStatus::MovedOut)), // gone, still registered
            row(6, "y", "", Some(PoliceStatus::Deceased)), // gone, not registered: agree
        ];
        let police: Vec<(&PoliceRow, String)> =
            rows.iter().map(|r| (r, r.id_number.clone())).collect();
        let register = [
            person("p1", Some("a"), "A路1号101室", Some("g1")),
            person("p2", Some("b"), "A路1号102室", Some("g1")),
            person("p3", Some("c"), "A路3号", Some("g2")),
            person("p4", None, "A路3号", None),
        ];
        let locate = |a: &str| Place {
            house: None,
            grid: a.starts_with("A路2号").then(|| "g2".to_string()),
        };
        let r = compare(&police, &register, &["g1".into(), "g2".into()], locate);
        let s = &r.summary;
        assert_eq!(
            (
                s.police,
                s.register,
                s.matched,
                s.police_only,
                s.register_only,
                s.address_mismatch
            ),
            (3, 4, 2, 1, 2, 1)
        );
        assert_eq!(s.police_gone, 2);
        // 1 at the same address of 2 + 1 + 2.
        assert_eq!(s.consistency_rate, Some(0.2));
        let g: Vec<_> = r
            .by_grid
            .iter()
            .map(|c| (c.grid.as_str(), c.matched, c.police_only, c.register_only))
            .collect();
        assert_eq!(g, [("g1", 2, 0, 0), ("g2", 0, 1, 1), (UNASSIGNED, 0, 0, 1)]);
        assert_eq!(r.by_grid[0].consistency_rate, Some(0.5));
        assert_eq!(r.police_only[0].grid.as_deref(), Some("g2"));
        assert_eq!(r.register_only[0].police_status, Some("迁出"));
        assert_eq!(r.register_only[1].person.as_deref(), Some("p4"));
        assert_eq!(
            r.address_mismatch[0].register_address.as_deref(),
            Some("A路1号102室")
        );
        let json = serde_json::to_string(&r).unwrap();
        assert!(!json.contains("测试人") && !json.contains("警3"), "{json}");
        assert!(!format!("{r:?}").contains("测试人"));
    }

    proptest::proptest! {
        /// Whatever the two sides list: everyone counted once, the lists as long as the
        /// counts, the grids summing to the town, and the rate by its formula.
        #[test]
        fn every_person_is_counted_once(
            police in proptest::collection::vec((0u8..40, 0u8..4, 0u8..8), 0..40),
            register in proptest::collection::vec((0u8..40, 0u8..4, proptest::option::of(0u8..3)), 0..40),
        ) {
            let statuses = [None, Some(PoliceStatus::Resident), Some(PoliceStatus::MovedOut)];
            // One police row per ID, one person per ID (as the reader and the store ensure).
            let mut seen = std::collections::HashSet::new();
            let rows: Vec<PoliceRow> = police
                .iter()
                .filter(|(id, _, _)| seen.insert(*id))
                .enumerate()
                .map(|(i, (id, house, st))| row(i + 2, &id.to_string(), &format!("A路{house}号"), statuses[*st as usize % 3]))
                .collect();
            let mut seen = std::collections::HashSet::new();
            let people: Vec<RegisterPerson> = register
                .iter()
                .filter(|(id, _, _)| seen.insert(*id))
                .enumerate()
                .map(|(i, (id, house, grid))| {
                    let grid = grid.map(|g| format!("g{g}"));
                    person(&format!("p{i}"), Some(&id.to_string()), &format!("A路{house}号"), grid.as_deref())
                })
                .collect();
            let fp: Vec<(&PoliceRow, String)> = rows.iter().map(|r| (r, r.id_number.clone())).collect();
            let grids = ["g0".to_string(), "g1".to_string()];
            let r = compare(&fp, &people, &grids, |_| Place::default());
            let s = &r.summary;
            proptest::prop_assert_eq!(s.police + s.police_gone, rows.len());
            proptest::prop_assert_eq!(s.police, s.matched + s.police_only);
            proptest::prop_assert_eq!(s.register, s.matched + s.register_only);
            proptest::prop_assert_eq!(r.police_only.len(), s.police_only);
            proptest::prop_assert_eq!(r.register_only.len(), s.register_only);
            proptest::prop_assert_eq!(r.address_mismatch.len(), s.address_mismatch);
            let total = |f: fn(&ReconcileCounts) -> usize| r.by_grid.iter().map(f).sum::<usize>();
            proptest::prop_assert_eq!(total(|c| c.matched), s.matched);
            proptest::prop_assert_eq!(total(|c| c.police_only), s.police_only);
            proptest::prop_assert_eq!(total(|c| c.register_only), s.register_only);
            proptest::prop_assert_eq!(total(|c| c.address_mismatch), s.address_mismatch);
            let all = s.matched + s.police_only + s.register_only;
            let same = s.matched - s.address_mismatch;
            proptest::prop_assert_eq!(s.consistency_rate, (all > 0).then(|| same as f64 / all as f64));
        }
    }
}
