//! Key units, places and persons (重点对象) of a town: the same methods, with the same
//! behaviour, as `GpkgStore`'s (`gridmap_store::key_subjects`), in the table `key_subjects`
//! (migration 6). The sealed value is made and opened by `gridmap_store::key_subjects`, so a
//! subject written by one store opens in the other; a write checks the key against the town's
//! register key first (the registers' `register_meta` row, locked), as the household import
//! does.

use gridmap_store::key_subjects::{KeySubject, StoredSubject, seal};
use gridmap_store::registers::{RegisterKey, Result};

use crate::registers::{check_key, lock_meta};
use crate::{Db, PgStore};

impl PgStore {
    /// Adds a subject, or replaces the one with its id, in one transaction.
    pub fn put_key_subject(&mut self, key: &RegisterKey, s: &KeySubject) -> Result<()> {
        let town = self.town.clone();
        let mut tx = self.conn().transaction().db()?;
        // The key must be the town's (or the first): a value sealed under another key would
        // never open again.
        let (check, _) = lock_meta(&mut tx, &town)?;
        check_key(&mut tx, &town, check.as_deref(), key)?;
        tx.execute(
            "INSERT INTO key_subjects (town, id, building, house, rated, sealed, updated_by,
               updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (town, id) DO UPDATE SET building = excluded.building,
               house = excluded.house, rated = excluded.rated, sealed = excluded.sealed,
               updated_by = excluded.updated_by, updated_at = excluded.updated_at",
            &[
                &town,
                &s.id,
                &s.building,
                &s.house,
                &s.attention.is_some(),
                &seal(key, s),
                &s.updated_by,
                &s.updated_at,
            ],
        )
        .db()?;
        tx.commit().db()?;
        Ok(())
    }

    /// Every subject, unsealed, in the order they were made (the caller decides who may see
    /// them, and audits).
    pub fn key_subjects(&self, key: &RegisterKey) -> Result<Vec<KeySubject>> {
        let rows = self
            .lock()
            .query(
                "SELECT id, building, house, sealed, updated_by, updated_at FROM key_subjects
                 WHERE town = $1 ORDER BY fid",
                &[&self.town],
            )
            .db()?;
        rows.iter()
            .map(|r| {
                StoredSubject {
                    id: r.get(0),
                    building: r.get(1),
                    house: r.get(2),
                    sealed: r.get(3),
                    updated_by: r.get(4),
                    updated_at: r.get(5),
                }
                .open(key)
            })
            .collect()
    }

    /// One subject's building, without opening anything (to decide who may change it).
    pub fn key_subject_building(&self, id: &str) -> Result<Option<String>> {
        Ok(self
            .lock()
            .query_opt(
                "SELECT building FROM key_subjects WHERE town = $1 AND id = $2",
                &[&self.town, &id],
            )
            .db()?
            .map(|r| r.get(0)))
    }

    /// Each subject's building (placed by `building_at`) and whether it has an attention level:
    /// what the scorecard counts, read without the key.
    pub fn key_subject_counts(
        &self,
        building_at: &dyn Fn(&str) -> Option<usize>,
    ) -> Result<Vec<(Option<usize>, bool)>> {
        let rows = self
            .lock()
            .query(
                "SELECT building, rated FROM key_subjects WHERE town = $1 ORDER BY fid",
                &[&self.town],
            )
            .db()?;
        Ok(rows
            .iter()
            .map(|r| (building_at(r.get(0)), r.get(1)))
            .collect())
    }
}
