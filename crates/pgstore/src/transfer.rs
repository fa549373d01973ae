//! A whole town in and out of the database: [`PgStore::copy_out`] reads every row of a town as
//! a [`ProjectCopy`] (to write it as a GeoPackage project with
//! `gridmap_store::GpkgStore::write_copy`), and [`PgStore::create_copy`] adds a copy (read from
//! a GeoPackage project with `GpkgStore::copy_out`) as a new town, in one transaction: a
//! failure anywhere leaves no trace of the town. Grids keep their versions and whole history
//! (who, when, why, both boundaries), users their password hashes, the audit log and plans
//! their times; the registers are copied sealed, with their fingerprints, key check and
//! fingerprint scheme, so no register key is needed, and so are key subjects and declarations;
//! the reconciliations and their tasks (with their numbers) as they are. Plans and
//! declarations get new numbers (a number is unique in the database), in the same order.

use std::collections::HashMap;

use gridmap_store::plans::{PlanEntry, SavedPlan};
use gridmap_store::reconcile::Task;
use gridmap_store::registers::FINGERPRINT_SCHEME;
use gridmap_store::transfer::{
    CopiedGrid, CopiedReconciliation, ProjectCopy, SealedHouse, SealedKeySubject, SealedPerson,
};
use gridmap_store::{Mode, Result, Store, StoreError, User};
use postgres::Transaction;

use crate::{
    ADDRESSES, BUILDINGS, Db, PgStore, UNITS, VILLAGES, VISITS, addresses_batch, area,
    buildings_batch, connect, grid_version, import_basemap_tx, import_tx, migrate, units_batch,
    villages_batch, visits_batch,
};

/// `column` (a `timestamptz`) as UTC, RFC 3339 with milliseconds, as the GeoPackage store
/// writes times.
fn utc(column: &str) -> String {
    format!(r#"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"#)
}

impl PgStore {
    /// Every row of the town (see [`ProjectCopy`]); sessions are left out. The grid history is
    /// in the order the changes were made.
    pub fn copy_out(&self) -> Result<ProjectCopy> {
        let mut copy = ProjectCopy::layers_of(self)?;
        let town = &self.town;
        let mut client = self.lock();
        let stamps: HashMap<String, (String, String)> = client
            .query(
                &format!(
                    "SELECT code, {}, updated_by FROM grids WHERE town = $1",
                    utc("updated_at")
                ),
                &[town],
            )
            .db()?
            .iter()
            .map(|r| (r.get(0), (r.get(1), r.get(2))))
            .collect();
        drop(client);
        for g in self.grids()? {
            let (at, by) = stamps.get(&g.grid.code).cloned().unzip();
            copy.grids.push(CopiedGrid {
                stored: g,
                updated_at: at,
                updated_by: by,
            });
        }
        let mut client = self.lock();
        copy.history = client
            .query(
                &format!(
                    "SELECT version, action, {}, changed_by, reason, name, village, old_geom,
                       geom, grid
                     FROM grid_history WHERE town = $1 ORDER BY changed_at, grid, version",
                    utc("changed_at")
                ),
                &[town],
            )
            .db()?
            .iter()
            .map(|r| Ok((r.get(9), grid_version(r)?)))
            .collect::<Result<_>>()?;
        copy.users = client
            .query(
                &format!(
                    "SELECT username, role, scope, password_hash, {} FROM users WHERE town = $1
                     ORDER BY username COLLATE \"C\"",
                    utc("created_at")
                ),
                &[town],
            )
            .db()?
            .iter()
            .map(|r| {
                (
                    User {
                        username: r.get(0),
                        role: r.get(1),
                        scope: r.get(2),
                        password_hash: r.get(3),
                    },
                    r.get(4),
                )
            })
            .collect();
        copy.plans = client
            .query(
                &format!(
                    "SELECT id, name, village, saved_by, {}, grids, body, adopted FROM plans
                     WHERE town = $1 ORDER BY id",
                    utc("saved_at")
                ),
                &[town],
            )
            .db()?
            .iter()
            .map(|r| {
                let id: i64 = r.get(0);
                let grids: i64 = r.get(5);
                let adopted: Option<String> = r.get(7);
                Ok(SavedPlan {
                    entry: PlanEntry {
                        id,
                        name: r.get(1),
                        village: r.get(2),
                        saved_by: r.get(3),
                        saved_at: r.get(4),
                        grids: u32::try_from(grids).map_err(|_| StoreError::Import {
                            layer: "gridmap_plans",
                            message: format!("plan {id}: {grids} grids is out of range"),
                        })?,
                        adopted: adopted.is_some(),
                    },
                    body: r.get(6),
                    adopted,
                })
            })
            .collect::<Result<_>>()?;
        if let Some(r) = client
            .query_opt(
                "SELECT key_check, fingerprint_scheme FROM register_meta WHERE town = $1",
                &[town],
            )
            .db()?
        {
            copy.registers.key_check = r.get(0);
            copy.registers.fingerprint_scheme = r
                .get::<_, Option<i32>>(1)
                .map(|n| match u32::try_from(n) {
                    Ok(n @ 1..=FINGERPRINT_SCHEME) => Ok(n),
                    _ => Err(StoreError::Import {
                        layer: "register_meta",
                        message: format!(
                            "fingerprint_scheme is {n}; this gridmap knows schemes 1 and \
                             {FINGERPRINT_SCHEME}"
                        ),
                    }),
                })
                .transpose()?;
        }
        copy.registers.houses = client
            .query(
                "SELECT fid, id, building, address_key, address, nature, remarks, link,
                   link_reason
                 FROM houses WHERE town = $1 ORDER BY fid",
                &[town],
            )
            .db()?
            .iter()
            .map(|r| SealedHouse {
                fid: r.get(0),
                id: r.get(1),
                building: r.get(2),
                address_key: r.get(3),
                address: r.get(4),
                nature: r.get(5),
                remarks: r.get(6),
                link: r.get(7),
                link_reason: r.get(8),
            })
            .collect();
        copy.registers.people = client
            .query(
                "SELECT fid, id, house, name, id_number, id_fingerprint, occupation, employer,
                   relation, marital_status, hukou_match, phone, source_row, residence
                 FROM people WHERE town = $1 ORDER BY fid",
                &[town],
            )
            .db()?
            .iter()
            .map(|r| SealedPerson {
                fid: r.get(0),
                id: r.get(1),
                house: r.get(2),
                name: r.get(3),
                id_number: r.get(4),
                id_fingerprint: r.get(5),
                occupation: r.get(6),
                employer: r.get(7),
                relation: r.get(8),
                marital_status: r.get(9),
                hukou_match: r.get(10),
                phone: r.get(11),
                source_row: r.get(12),
                residence: r.get(13),
            })
            .collect();
        copy.registers.key_subjects = client
            .query(
                "SELECT id, building, house, rated, sealed, updated_by, updated_at
                 FROM key_subjects WHERE town = $1 ORDER BY fid",
                &[town],
            )
            .db()?
            .iter()
            .map(|r| SealedKeySubject {
                id: r.get(0),
                building: r.get(1),
                house: r.get(2),
                rated: r.get(3),
                sealed: r.get(4),
                updated_by: r.get(5),
                updated_at: r.get(6),
            })
            .collect();
        copy.registers.tasks = client
            .query(
                "SELECT id, grid, kind, address, house, created, source, done, subject
                 FROM tasks WHERE town = $1 ORDER BY id",
                &[town],
            )
            .db()?
            .iter()
            .map(|r| {
                let task = Task {
                    id: r.get(0),
                    grid: r.get(1),
                    kind: r.get(2),
                    address: r.get(3),
                    house: r.get(4),
                    created: r.get(5),
                    source: r.get(6),
                    done: r.get(7),
                };
                (task, r.get(8))
            })
            .collect();
        copy.registers.reconciliations = client
            .query(
                "SELECT run, at, source, grid, matched, matched_same_address, police_only,
                   register_only, address_mismatch
                 FROM reconciliations WHERE town = $1 ORDER BY fid",
                &[town],
            )
            .db()?
            .iter()
            .map(|r| CopiedReconciliation {
                run: r.get(0),
                at: r.get(1),
                source: r.get(2),
                grid: r.get(3),
                counts: [r.get(4), r.get(5), r.get(6), r.get(7), r.get(8)],
            })
            .collect();
        drop(client);
        copy.plates = crate::plates::copy_plates(self)?;
        copy.audit = self.audit_log()?;
        Ok(copy)
    }

    /// Adds `copy` to the database at `url` (see [`crate::config`]) as a new town, its code
    /// and name the copy's, in one transaction; answers the town opened. Refused
    /// ([`StoreError::Open`]) when the database has a town of that code, and
    /// ([`StoreError::Import`], naming the tables) when the copy leaves rows of its source out
    /// (tables this store does not keep yet). Any failure writes nothing.
    pub fn create_copy(url: &str, copy: &ProjectCopy) -> Result<PgStore> {
        copy.check_complete("the PostgreSQL store")?;
        let (mut client, target, config) = connect(url)?;
        migrate(&mut client, &target, true)?;
        let code = copy.town.code.clone();
        let mut tx = client.transaction().db()?;
        let added = tx
            .execute(
                "INSERT INTO town (town, name, geom) VALUES ($1, $2, $3)
                 ON CONFLICT (town) DO NOTHING",
                &[
                    &code,
                    &copy.town.name,
                    &copy.town.boundary.as_ref().map(area),
                ],
            )
            .db()?;
        if added == 0 {
            return Err(StoreError::Open {
                path: target,
                message: format!(
                    "town {code} already exists in this database: nothing was imported (remove \
                     it first, or import into another database)"
                ),
            });
        }
        write_copy(&mut tx, &code, copy)?;
        tx.commit().db()?;
        Ok(PgStore {
            client: std::sync::Mutex::new(client),
            town: code,
            target,
            config,
            pid: Default::default(),
        })
    }
}

/// Every row of `copy` into the new town `town`, inside the caller's transaction.
fn write_copy(tx: &mut Transaction, town: &str, copy: &ProjectCopy) -> Result<()> {
    let append = Mode::Append;
    import_tx(tx, town, &VILLAGES, villages_batch(&copy.villages), append)?;
    import_tx(
        tx,
        town,
        &BUILDINGS,
        buildings_batch(&copy.buildings),
        append,
    )?;
    import_tx(
        tx,
        town,
        &ADDRESSES,
        addresses_batch(&copy.addresses),
        append,
    )?;
    import_tx(tx, town, &UNITS, units_batch(&copy.units), append)?;
    import_tx(tx, town, &VISITS, visits_batch(&copy.visits), append)?;
    for (layer, features) in copy.basemap_layers() {
        import_basemap_tx(tx, town, layer, &features, append)?;
    }
    let add = tx
        .prepare(
            "INSERT INTO grid_history (town, grid, version, action, changed_at, changed_by,
               reason, name, village, old_geom, geom)
             VALUES ($1, $2, $3, $4, $5::text::timestamptz, $6, $7, $8, $9, $10, $11)",
        )
        .db()?;
    let mut last_by: HashMap<&str, &str> = HashMap::new();
    for (grid, v) in &copy.history {
        tx.execute(
            &add,
            &[
                &town,
                grid,
                &(v.version as i32),
                &v.action,
                &v.at,
                &v.who,
                &v.why,
                &v.name,
                &v.village,
                &v.previous.as_ref().map(area),
                &v.geometry.as_ref().map(area),
            ],
        )
        .db()?;
        last_by.insert(grid, &v.who);
    }
    let add = tx
        .prepare(
            "INSERT INTO grids (town, code, name, village, version, updated_at, updated_by, geom)
             VALUES ($1, $2, $3, $4, $5, coalesce($6::text::timestamptz, now()), $7, $8)",
        )
        .db()?;
    for g in &copy.grids {
        let s = &g.stored;
        let by = g
            .updated_by
            .as_deref()
            .or_else(|| last_by.get(s.grid.code.as_str()).copied())
            .unwrap_or("");
        tx.execute(
            &add,
            &[
                &town,
                &s.grid.code,
                &s.grid.name,
                &s.grid.village,
                &(s.version as i32),
                &g.updated_at,
                &by,
                &area(&s.grid.geometry),
            ],
        )
        .db()?;
    }
    let add = tx
        .prepare(
            "INSERT INTO users (town, username, role, scope, password_hash, created_at)
             VALUES ($1, $2, $3, $4, $5, $6::text::timestamptz)",
        )
        .db()?;
    for (u, at) in &copy.users {
        tx.execute(
            &add,
            &[&town, &u.username, &u.role, &u.scope, &u.password_hash, at],
        )
        .db()?;
    }
    let add = tx
        .prepare(
            "INSERT INTO audit (town, at, username, action, target, count)
             VALUES ($1, $2::text::timestamptz, $3, $4, $5, $6)",
        )
        .db()?;
    for a in &copy.audit {
        tx.execute(
            &add,
            &[&town, &a.at, &a.user, &a.action, &a.target, &a.count],
        )
        .db()?;
    }
    let add = tx
        .prepare(
            "INSERT INTO plans (town, name, village, saved_by, saved_at, grids, body, adopted)
             VALUES ($1, $2, $3, $4, $5::text::timestamptz, $6, $7, $8)",
        )
        .db()?;
    for p in &copy.plans {
        let e = &p.entry;
        tx.execute(
            &add,
            &[
                &town,
                &e.name,
                &e.village,
                &e.saved_by,
                &e.saved_at,
                &i64::from(e.grids),
                &p.body,
                &p.adopted,
            ],
        )
        .db()?;
    }
    let r = &copy.registers;
    if r.key_check.is_some() || r.fingerprint_scheme.is_some() {
        tx.execute(
            "INSERT INTO register_meta (town, key_check, fingerprint_scheme) VALUES ($1, $2, $3)",
            &[&town, &r.key_check, &r.fingerprint_scheme.map(|s| s as i32)],
        )
        .db()?;
    }
    let add = tx
        .prepare(
            "INSERT INTO houses (town, id, fid, building, address_key, address, nature, remarks,
               link, link_reason)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .db()?;
    for h in &r.houses {
        tx.execute(
            &add,
            &[
                &town,
                &h.id,
                &h.fid,
                &h.building,
                &h.address_key,
                &h.address,
                &h.nature,
                &h.remarks,
                &h.link,
                &h.link_reason,
            ],
        )
        .db()?;
    }
    let add = tx
        .prepare(
            "INSERT INTO people (town, id, fid, house, name, id_number, id_fingerprint,
               occupation, employer, relation, marital_status, hukou_match, phone, source_row,
               residence)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .db()?;
    for p in &r.people {
        tx.execute(
            &add,
            &[
                &town,
                &p.id,
                &p.fid,
                &p.house,
                &p.name,
                &p.id_number,
                &p.id_fingerprint,
                &p.occupation,
                &p.employer,
                &p.relation,
                &p.marital_status,
                &p.hukou_match,
                &p.phone,
                &p.source_row,
                &p.residence,
            ],
        )
        .db()?;
    }
    let add = tx
        .prepare(
            "INSERT INTO key_subjects (town, id, building, house, rated, sealed, updated_by,
               updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .db()?;
    for k in &r.key_subjects {
        tx.execute(
            &add,
            &[
                &town,
                &k.id,
                &k.building,
                &k.house,
                &k.rated,
                &k.sealed,
                &k.updated_by,
                &k.updated_at,
            ],
        )
        .db()?;
    }
    crate::plates::write_plates(tx, town, &copy.plates)?;
    write_reconciled(tx, town, copy)
}

/// The reconciliations' tasks (with their numbers) and figures, as they are.
fn write_reconciled(tx: &mut Transaction, town: &str, copy: &ProjectCopy) -> Result<()> {
    let add = tx
        .prepare(
            "INSERT INTO tasks (town, id, grid, kind, address, house, subject, created, source,
               done)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .db()?;
    for (t, subject) in &copy.registers.tasks {
        tx.execute(
            &add,
            &[
                &town, &t.id, &t.grid, &t.kind, &t.address, &t.house, subject, &t.created,
                &t.source, &t.done,
            ],
        )
        .db()?;
    }
    let add = tx
        .prepare(
            "INSERT INTO reconciliations (town, run, at, source, grid, matched,
               matched_same_address, police_only, register_only, address_mismatch)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .db()?;
    for c in &copy.registers.reconciliations {
        let [m, same, police, register, mismatch] = &c.counts;
        tx.execute(
            &add,
            &[
                &town, &c.run, &c.at, &c.source, &c.grid, m, same, police, register, mismatch,
            ],
        )
        .db()?;
    }
    Ok(())
}
