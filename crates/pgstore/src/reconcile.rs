//! Reconciliation with the police register (同增同减) of a town: the same methods, with the same
//! behaviour, as `GpkgStore`'s (`gridmap_store::reconcile`), in the tables `reconciliations`
//! and `tasks` (migration 8). The comparison is `gridmap_store::reconcile::reconcile_register`,
//! the GeoPackage store's own code, on the registers read with `registers.rs`'s readers inside
//! the run's transaction; only the recording differs.
//!
//! A run locks the town's `register_meta` row first, as every register write does, so that two
//! runs of one town number their runs and tasks one after the other.

use gridmap_core::model::Grid;
use gridmap_core::police::PoliceRow;
use gridmap_store::Store;
use gridmap_store::reconcile::{
    Compared, ReconcileOptions, ReconcileRun, ReconciliationRecord, TASK_POLICE_ONLY, Task,
    reconcile_register,
};
use gridmap_store::registers::{RegisterKey, Result, View};

use crate::registers::{check_key, houses_in, lock_meta, people_in, upgrade_in};
use crate::{Db, PgStore};

/// Now, UTC, RFC 3339 to the second, as the GeoPackage store stamps a run.
const NOW: &str = r#"to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"#;

impl PgStore {
    /// Compares police `rows` with the town's register and records the run's figures per grid;
    /// with [`ReconcileOptions::apply_tasks`], each police-only person becomes a `police_only`
    /// task in their address's grid, unless they already have an open task or one from the
    /// same extract (so running an extract twice adds nothing). One transaction, after the key
    /// is checked (and old fingerprints upgraded, see [`PgStore::upgrade_fingerprints`]), as
    /// `GpkgStore::reconcile`.
    ///
    /// # Performance
    /// As the GeoPackage store's: one assignment of the buildings to grids, one parse of every
    /// standard address and house, one decryption of each person's sealed values; plus a round
    /// trip per grid recorded and per task.
    pub fn reconcile(
        &mut self,
        rows: &[PoliceRow],
        key: &RegisterKey,
        options: &ReconcileOptions,
    ) -> Result<ReconcileRun> {
        let grids: Vec<Grid> = self.grids()?.into_iter().map(|g| g.grid).collect();
        let buildings = self.buildings()?;
        let addresses = self.addresses()?;
        let town = self.town.clone();
        let mut tx = self.conn().transaction().db()?;
        let (check, scheme) = lock_meta(&mut tx, &town)?;
        check_key(&mut tx, &town, check.as_deref(), key)?;
        upgrade_in(&mut tx, &town, scheme, key)?;
        let houses = houses_in(&mut tx, &town)?;
        let people = people_in(&mut tx, &town, key, View::Clear)?;
        let Compared {
            reconciliation,
            tasks,
        } = reconcile_register(rows, key, &grids, &buildings, &addresses, &houses, &people);

        let r = tx
            .query_one(
                &format!(
                    "SELECT coalesce(max(run), 0) + 1, {NOW} FROM reconciliations WHERE town = $1"
                ),
                &[&town],
            )
            .db()?;
        let (run, at): (i64, String) = (r.get(0), r.get(1));
        let add = tx
            .prepare(
                "INSERT INTO reconciliations (town, run, at, source, grid, matched,
                   matched_same_address, police_only, register_only, address_mismatch)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .db()?;
        for c in &reconciliation.by_grid {
            tx.execute(
                &add,
                &[
                    &town,
                    &run,
                    &at,
                    &options.source,
                    &c.grid,
                    &(c.matched as i64),
                    &(c.matched_same_address as i64),
                    &(c.police_only as i64),
                    &(c.register_only as i64),
                    &(c.address_mismatch as i64),
                ],
            )
            .db()?;
        }
        let (mut tasks_created, mut tasks_existing) = (0, 0);
        if options.apply_tasks {
            let mut last: i64 = tx
                .query_one(
                    "SELECT coalesce(max(id), 0) FROM tasks WHERE town = $1",
                    &[&town],
                )
                .db()?
                .get(0);
            let add = tx
                .prepare(
                    "INSERT INTO tasks (town, id, grid, kind, address, house, subject, source,
                       created)
                     SELECT $1::text, $2::bigint, $3::text, $4::text, $5::text, $6::text,
                       $7::text, $8::text, $9::text
                     WHERE NOT EXISTS (SELECT 1 FROM tasks WHERE town = $1 AND kind = $4
                       AND subject = $7 AND (NOT done OR source = $8))",
                )
                .db()?;
            for t in &tasks {
                let n = tx
                    .execute(
                        &add,
                        &[
                            &town,
                            &(last + 1),
                            &t.grid,
                            &TASK_POLICE_ONLY,
                            &t.address,
                            &t.house,
                            &t.subject,
                            &options.source,
                            &at,
                        ],
                    )
                    .db()?;
                if n == 1 {
                    last += 1;
                    tasks_created += 1;
                } else {
                    tasks_existing += 1;
                }
            }
        }
        tx.commit().db()?;
        Ok(ReconcileRun {
            reconciliation,
            run,
            at,
            tasks_created,
            tasks_existing,
        })
    }

    /// The open tasks, of grid `grid` only when given (tasks in no grid are listed only
    /// without it), by grid (byte order) then number.
    pub fn open_tasks(&self, grid: Option<&str>) -> Result<Vec<Task>> {
        Ok(self
            .lock()
            .query(
                "SELECT id, grid, kind, address, house, created, source, done FROM tasks
                 WHERE town = $1 AND NOT done AND ($2::text IS NULL OR grid = $2)
                 ORDER BY grid IS NULL, grid COLLATE \"C\", id",
                &[&self.town, &grid],
            )
            .db()?
            .iter()
            .map(|r| Task {
                id: r.get(0),
                grid: r.get(1),
                kind: r.get(2),
                address: r.get(3),
                house: r.get(4),
                created: r.get(5),
                source: r.get(6),
                done: r.get(7),
            })
            .collect())
    }

    /// Marks task `id` done; whether it was open.
    pub fn finish_task(&mut self, id: i64) -> Result<bool> {
        let town = self.town.clone();
        let n = self
            .conn()
            .execute(
                "UPDATE tasks SET done = true WHERE town = $1 AND id = $2 AND NOT done",
                &[&town, &id],
            )
            .db()?;
        Ok(n == 1)
    }

    /// The figures of the latest reconciliation, per grid and for the town, `None` before
    /// the first. Writes nothing.
    pub fn latest_reconciliation(&self) -> Result<Option<ReconciliationRecord>> {
        let rows = self
            .lock()
            .query(
                "SELECT run, at, source, grid, matched, matched_same_address, police_only,
                   register_only, address_mismatch
                 FROM reconciliations
                 WHERE town = $1
                   AND run = (SELECT max(run) FROM reconciliations WHERE town = $1)
                 ORDER BY fid",
                &[&self.town],
            )
            .db()?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let (run, at, source) = (first.get(0), first.get(1), first.get(2));
        let grids = rows
            .iter()
            .map(|r| (r.get(3), [r.get(4), r.get(5), r.get(6), r.get(7), r.get(8)]))
            .collect();
        Ok(Some(ReconciliationRecord::new(run, at, source, grids)))
    }
}
