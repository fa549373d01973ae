//! QR door plates and the declarations made through them (自主申报) of a town: the same methods,
//! with the same behaviour, as `GpkgStore`'s (`gridmap_store::plates`,
//! `gridmap_store::declarations`), in the tables `plates` and `declarations` (migration 7).
//!
//! Which plates a building gets, the grids' buildings, the sealing and opening of a
//! declaration's people and the household form a confirmed declaration becomes are
//! `gridmap_store`'s own code ([`wanted_plates`], [`buildings_by_grid`], [`seal_people`],
//! [`StoredDeclaration::open`], [`Declaration::form_rows`]), so that both stores agree and a
//! declaration sealed by one opens in the other. Confirming imports the household through the
//! registers' own import ([`write_households`]: the town's register record locked, the key
//! checked) in the same transaction that marks the declaration confirmed, the declaration's row
//! locked first: two workers confirming at once import it once.
//!
//! Times are kept as `timestamptz` and read as the GeoPackage store writes them: UTC, RFC 3339,
//! to the second.

use std::collections::BTreeMap;

use gridmap_store::Store;
use gridmap_store::declarations::{Declaration, NewDeclaration, StoredDeclaration, seal_people};
use gridmap_store::plates::{
    CopiedPlate, CopiedPlates, Plate, PlateSet, SealedDeclaration, buildings_by_grid, is_token,
    new_token, wanted_plates,
};
use gridmap_store::registers::{
    HouseholdImport, HouseholdOptions, RegisterKey, Result, StandardAddresses, View,
    prepare_households,
};
use gridmap_store::scorecard::PlatesInUse;
use postgres::{Row, Transaction};
use rustc_hash::FxHashMap;

use crate::registers::{check_nul, write_households};
use crate::{Db, PgStore};

/// `column` (a `timestamptz`) as UTC, RFC 3339 to the second, as the GeoPackage store writes
/// the times of plates and declarations.
pub(crate) fn seconds(column: &str) -> String {
    format!(r#"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"#)
}

/// The columns [`plate_of`] reads.
fn plate_columns() -> String {
    format!(
        "token, building, house, address, {}, scans",
        seconds("printed_at")
    )
}

fn plate_of(r: &Row) -> Plate {
    Plate::from_columns(r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5))
}

/// The columns [`declaration_of`] reads, `d` the declaration and `p` its plate.
fn declaration_columns() -> String {
    format!(
        "d.id, d.building, d.house, d.grid, coalesce(p.address, ''), d.room, {}, d.nature,
           d.residence, d.status, d.people",
        seconds("d.received_at")
    )
}

fn declaration_of(r: &Row) -> StoredDeclaration {
    StoredDeclaration {
        id: r.get(0),
        building: r.get(1),
        house: r.get(2),
        grid: r.get(3),
        address: r.get(4),
        room: r.get(5),
        received_at: r.get(6),
        nature: r.get(7),
        residence: r.get(8),
        status: r.get(9),
        people: r.get(10),
    }
}

const DECLARATIONS_FROM: &str = "FROM declarations d
    LEFT JOIN plates p ON p.town = d.town AND p.token = d.token";

impl PgStore {
    /// The plates of `buildings` (ids, in the order to print): for each building with a
    /// standard address, its own plate, then one per house registered in it (in register
    /// order). Plates that do not exist yet are made, in one statement; existing ones keep
    /// their token and address (also against another process making them at once).
    pub fn plates_for(&mut self, buildings: &[String]) -> Result<PlateSet> {
        let (wanted, without_address) = wanted_plates(self, self.houses()?, buildings)?;
        let asked = buildings;
        let town = self.town.clone();
        let column = |f: fn(&gridmap_store::plates::WantedPlate) -> &String| -> Vec<&str> {
            wanted.iter().map(|w| f(w).as_str()).collect()
        };
        let tokens: Vec<String> = wanted.iter().map(|_| new_token()).collect();
        let mut client = self.lock();
        client
            .execute(
                "INSERT INTO plates (town, token, building, house, address)
                 SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[])
                 ON CONFLICT (town, building, house) DO NOTHING",
                &[
                    &town,
                    &tokens,
                    &column(|w| &w.building),
                    &column(|w| &w.house),
                    &column(|w| &w.address),
                ],
            )
            .db()?;
        let stored: FxHashMap<(String, String), Plate> = client
            .query(
                &format!(
                    "SELECT {} FROM plates WHERE town = $1 AND building = ANY($2)",
                    plate_columns()
                ),
                &[&town, &asked],
            )
            .db()?
            .iter()
            .map(|r| ((r.get(1), r.get(2)), plate_of(r)))
            .collect();
        drop(client);
        let plates = wanted
            .into_iter()
            .map(|w| {
                stored
                    .get(&(w.building, w.house))
                    .cloned()
                    // Inserted or already there: only a row deleted meanwhile is missing.
                    .ok_or_else(|| {
                        gridmap_store::StoreError::Import {
                            layer: "plates",
                            message: "a plate was withdrawn while it was being made".into(),
                        }
                        .into()
                    })
            })
            .collect::<Result<_>>()?;
        Ok(PlateSet {
            plates,
            without_address,
        })
    }

    /// Records that the plates with `tokens` were printed now.
    pub fn mark_printed(&mut self, tokens: &[String]) -> Result<()> {
        self.lock()
            .execute(
                "UPDATE plates SET printed_at = now() WHERE town = $1 AND token = ANY($2)",
                &[&self.town, &tokens],
            )
            .db()?;
        Ok(())
    }

    /// The plate with `token`, if there is one (`None` too for a string that is not a token).
    pub fn plate(&self, token: &str) -> Result<Option<Plate>> {
        if !is_token(token) {
            return Ok(None);
        }
        Ok(self
            .lock()
            .query_opt(
                &format!(
                    "SELECT {} FROM plates WHERE town = $1 AND token = $2",
                    plate_columns()
                ),
                &[&self.town, &token],
            )
            .db()?
            .as_ref()
            .map(plate_of))
    }

    /// Counts one opening of the plate with `token`; `false` when there is no such plate.
    pub fn count_scan(&mut self, token: &str) -> Result<bool> {
        if !is_token(token) {
            return Ok(false);
        }
        let n = self
            .lock()
            .execute(
                "UPDATE plates SET scans = scans + 1, last_scan = now()
                 WHERE town = $1 AND token = $2",
                &[&self.town, &token],
            )
            .db()?;
        Ok(n > 0)
    }

    /// The buildings of each grid ([`buildings_by_grid`]): grid code → building ids in store
    /// order; buildings in no grid under `gridmap_store::registers::UNASSIGNED`.
    pub fn buildings_by_grid(&self) -> Result<BTreeMap<String, Vec<String>>> {
        Ok(buildings_by_grid(self)?)
    }

    /// The plates printed and scanned at least once: what the scorecard's 二维码管理率 counts.
    pub fn plates_in_use(&self) -> Result<PlatesInUse> {
        let rows = self
            .lock()
            .query(
                "SELECT building, house FROM plates
                 WHERE town = $1 AND printed_at IS NOT NULL AND scans > 0",
                &[&self.town],
            )
            .db()?;
        let mut out = PlatesInUse::default();
        for r in &rows {
            out.entry(r.get(0)).or_default().insert(r.get(1));
        }
        Ok(out)
    }

    /// Puts a declaration into the review queue, its people sealed with `key`. Answers its
    /// number, or `None` when the token names no plate.
    pub fn add_declaration(
        &mut self,
        key: &RegisterKey,
        d: &NewDeclaration,
    ) -> Result<Option<i64>> {
        let Some(plate) = self.plate(&d.token)? else {
            return Ok(None);
        };
        let sealed = seal_people(key, &d.people)?;
        let row = self
            .lock()
            .query_one(
                "INSERT INTO declarations (town, token, building, house, grid, room, nature,
                   residence, people, people_count)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                &[
                    &self.town,
                    &plate.token,
                    &plate.building,
                    &plate.house,
                    &d.grid,
                    &d.room,
                    &d.nature.map(|n| n.as_str()),
                    &d.residence,
                    &sealed,
                    &(d.people.len() as i64),
                ],
            )
            .db()?;
        Ok(Some(row.get(0)))
    }

    /// The declarations waiting for review, oldest first, their people opened with `key` and
    /// masked unless `view` is [`View::Clear`].
    pub fn pending_declarations(&self, key: &RegisterKey, view: View) -> Result<Vec<Declaration>> {
        self.lock()
            .query(
                &format!(
                    "SELECT {} {DECLARATIONS_FROM}
                     WHERE d.town = $1 AND d.status = 'pending' ORDER BY d.id",
                    declaration_columns()
                ),
                &[&self.town],
            )
            .db()?
            .iter()
            .map(|r| declaration_of(r).open(key, view))
            .collect()
    }

    /// The declaration with number `id`, whatever its status, people as `view` says.
    pub fn declaration(
        &self,
        key: &RegisterKey,
        view: View,
        id: i64,
    ) -> Result<Option<Declaration>> {
        self.lock()
            .query_opt(
                &format!(
                    "SELECT {} {DECLARATIONS_FROM} WHERE d.town = $1 AND d.id = $2",
                    declaration_columns()
                ),
                &[&self.town, &id],
            )
            .db()?
            .map(|r| declaration_of(&r).open(key, view))
            .transpose()
    }

    /// Confirms pending declaration `id`: its household goes into the registers through the
    /// household import (one form row per person, under the plate's address with the room,
    /// linked to the plate's building), then the declaration keeps no personal data and is
    /// marked `confirmed` by `who`, all in one transaction. `None` when there is no such
    /// pending declaration. A household whose address the register refuses fails with
    /// `RegisterError::Rejected` and stays pending.
    pub fn confirm_declaration(
        &mut self,
        key: &RegisterKey,
        id: i64,
        who: &str,
    ) -> Result<Option<HouseholdImport>> {
        let standard = StandardAddresses::new(&self.addresses()?, &self.buildings()?);
        let town = self.town.clone();
        let mut tx = self.conn().transaction().db()?;
        // Locked until the end: a second confirmation waits, then finds it confirmed.
        let Some(row) = tx
            .query_opt(
                &format!(
                    "SELECT {} {DECLARATIONS_FROM} WHERE d.town = $1 AND d.id = $2
                     FOR UPDATE OF d",
                    declaration_columns()
                ),
                &[&town, &id],
            )
            .db()?
        else {
            return Ok(None);
        };
        let d = declaration_of(&row).open(key, View::Clear)?;
        if d.status != "pending" {
            return Ok(None);
        }
        let rows = d.form_rows();
        let prepared = prepare_households(
            &rows,
            &standard,
            HouseholdOptions::default(),
            Some(d.building.as_str()),
        )?;
        check_nul(&prepared.rows)?;
        let done = write_households(&mut tx, &town, key, prepared)?;
        tx.execute(
            "UPDATE declarations SET people = NULL, status = 'confirmed', decided_at = now(),
               decided_by = $3
             WHERE town = $1 AND id = $2",
            &[&town, &id, &who],
        )
        .db()?;
        tx.commit().db()?;
        Ok(Some(done))
    }

    /// Rejects pending declaration `id`: deletes it, people and all. Answers how many people
    /// it held, `None` when there is no such pending declaration.
    pub fn reject_declaration(&mut self, id: i64) -> Result<Option<usize>> {
        Ok(self
            .lock()
            .query_opt(
                "DELETE FROM declarations WHERE town = $1 AND id = $2 AND status = 'pending'
                 RETURNING people_count",
                &[&self.town, &id],
            )
            .db()?
            .map(|r| r.get::<_, i64>(0).max(0) as usize))
    }

    /// The building and grid of pending declaration `id` (for deciding who may review it),
    /// without opening anything.
    pub fn declaration_place(&self, id: i64) -> Result<Option<(String, Option<String>)>> {
        Ok(self
            .lock()
            .query_opt(
                "SELECT building, grid FROM declarations
                 WHERE town = $1 AND id = $2 AND status = 'pending'",
                &[&self.town, &id],
            )
            .db()?
            .map(|r| (r.get(0), r.get(1))))
    }
}

/// The town's plates and declarations as stored, for a whole-town copy (see
/// `gridmap_store::transfer::ProjectCopy`): people sealed as they are.
pub(crate) fn copy_plates(store: &PgStore) -> gridmap_store::Result<CopiedPlates> {
    let mut client = store.lock();
    let plates = client
        .query(
            &format!(
                "SELECT token, building, house, address, {}, {}, scans, {} FROM plates
                 WHERE town = $1 ORDER BY token COLLATE \"C\"",
                seconds("created_at"),
                seconds("printed_at"),
                seconds("last_scan")
            ),
            &[&store.town],
        )
        .db()?
        .iter()
        .map(|r| CopiedPlate {
            token: r.get(0),
            building: r.get(1),
            house: r.get(2),
            address: r.get(3),
            created_at: r.get(4),
            printed_at: r.get(5),
            scans: r.get(6),
            last_scan: r.get(7),
        })
        .collect();
    let declarations = client
        .query(
            &format!(
                "SELECT id, token, building, house, grid, {}, room, nature, residence, people,
                   people_count, status, {}, decided_by
                 FROM declarations WHERE town = $1 ORDER BY id",
                seconds("received_at"),
                seconds("decided_at")
            ),
            &[&store.town],
        )
        .db()?
        .iter()
        .map(|r| SealedDeclaration {
            id: r.get(0),
            token: r.get(1),
            building: r.get(2),
            house: r.get(3),
            grid: r.get(4),
            received_at: r.get(5),
            room: r.get(6),
            nature: r.get(7),
            residence: r.get(8),
            people: r.get(9),
            people_count: r.get(10),
            status: r.get(11),
            decided_at: r.get(12),
            decided_by: r.get(13),
        })
        .collect();
    Ok(CopiedPlates {
        plates,
        declarations,
    })
}

/// Writes a copy's plates and declarations into the new town `town`, inside the caller's
/// transaction; the declarations get new numbers, in the same order.
pub(crate) fn write_plates(
    tx: &mut Transaction,
    town: &str,
    c: &CopiedPlates,
) -> gridmap_store::Result<()> {
    let add = tx
        .prepare(
            "INSERT INTO plates (town, token, building, house, address, created_at, printed_at,
               scans, last_scan)
             VALUES ($1, $2, $3, $4, $5, $6::text::timestamptz, $7::text::timestamptz, $8,
               $9::text::timestamptz)",
        )
        .db()?;
    for p in &c.plates {
        tx.execute(
            &add,
            &[
                &town,
                &p.token,
                &p.building,
                &p.house,
                &p.address,
                &p.created_at,
                &p.printed_at,
                &p.scans,
                &p.last_scan,
            ],
        )
        .db()?;
    }
    let add = tx
        .prepare(
            "INSERT INTO declarations (town, token, building, house, grid, received_at, room,
               nature, residence, people, people_count, status, decided_at, decided_by)
             VALUES ($1, $2, $3, $4, $5, $6::text::timestamptz, $7, $8, $9, $10, $11, $12,
               $13::text::timestamptz, $14)",
        )
        .db()?;
    for d in &c.declarations {
        tx.execute(
            &add,
            &[
                &town,
                &d.token,
                &d.building,
                &d.house,
                &d.grid,
                &d.received_at,
                &d.room,
                &d.nature,
                &d.residence,
                &d.people,
                &d.people_count,
                &d.status,
                &d.decided_at,
                &d.decided_by,
            ],
        )
        .db()?;
    }
    Ok(())
}
