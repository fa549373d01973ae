//! Saved re-partition plans of a town: the same methods, with the same behaviour, as
//! `GpkgStore`'s (`gridmap_store::plans`), in the table `plans`.

use gridmap_store::plans::{PlanEntry, SavedPlan, check_plan_name};
use gridmap_store::{Result, StoreError};
use postgres::Row;

use crate::{Db, PgStore};

/// The layer errors name, as the GeoPackage store's do.
const LAYER: &str = "gridmap_plans";

const ENTRY_COLUMNS: &str = r#"id, name, village, saved_by,
    to_char(saved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), grids,
    adopted IS NOT NULL"#;

fn entry(r: &Row) -> Result<PlanEntry> {
    let id: i64 = r.get(0);
    let grids: i64 = r.get(5);
    Ok(PlanEntry {
        id,
        name: r.get(1),
        village: r.get(2),
        saved_by: r.get(3),
        saved_at: r.get(4),
        grids: u32::try_from(grids).map_err(|_| StoreError::Import {
            layer: LAYER,
            message: format!("plan {id}: {grids} grids is out of range"),
        })?,
        adopted: r.get(6),
    })
}

impl PgStore {
    /// Saves a plan of `village` under `name` (checked by [`check_plan_name`]); answers its
    /// number. Refused ([`StoreError::Import`]) when the village already has a plan of that
    /// name, also when two processes save one at the same time.
    pub fn save_plan(
        &mut self,
        name: &str,
        village: &str,
        saved_by: &str,
        grids: u32,
        body: &str,
    ) -> Result<i64> {
        let name = check_plan_name(name).map_err(|message| StoreError::Import {
            layer: LAYER,
            message,
        })?;
        let town = self.town.clone();
        let id = self
            .conn()
            .query_opt(
                "INSERT INTO plans (town, name, village, saved_by, grids, body)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (town, village, name) DO NOTHING RETURNING id",
                &[&town, &name, &village, &saved_by, &i64::from(grids), &body],
            )
            .db()?;
        match id {
            Some(r) => Ok(r.get(0)),
            None => Err(StoreError::Import {
                layer: LAYER,
                message: format!("village {village} already has a plan named {name}"),
            }),
        }
    }

    /// The town's saved plans, newest first.
    pub fn plans(&self) -> Result<Vec<PlanEntry>> {
        self.lock()
            .query(
                &format!("SELECT {ENTRY_COLUMNS} FROM plans WHERE town = $1 ORDER BY id DESC"),
                &[&self.town],
            )
            .db()?
            .iter()
            .map(entry)
            .collect()
    }

    /// Saved plan `id` of the town, with its body; `None` when there is none.
    pub fn plan(&self, id: i64) -> Result<Option<SavedPlan>> {
        self.lock()
            .query_opt(
                &format!(
                    "SELECT {ENTRY_COLUMNS}, body, adopted FROM plans WHERE town = $1 AND id = $2"
                ),
                &[&self.town, &id],
            )
            .db()?
            .map(|r| {
                Ok(SavedPlan {
                    entry: entry(&r)?,
                    body: r.get(7),
                    adopted: r.get(8),
                })
            })
            .transpose()
    }

    /// Records that plan `id` was adopted and what that did; answers whether it exists.
    pub fn set_plan_adopted(&mut self, id: i64, adopted: &str) -> Result<bool> {
        let town = self.town.clone();
        Ok(self
            .conn()
            .execute(
                "UPDATE plans SET adopted = $3 WHERE town = $1 AND id = $2",
                &[&town, &id, &adopted],
            )
            .db()?
            == 1)
    }

    /// Deletes plan `id`; answers whether there was one.
    pub fn delete_plan(&mut self, id: i64) -> Result<bool> {
        let town = self.town.clone();
        Ok(self
            .conn()
            .execute(
                "DELETE FROM plans WHERE town = $1 AND id = $2",
                &[&town, &id],
            )
            .db()?
            == 1)
    }
}
