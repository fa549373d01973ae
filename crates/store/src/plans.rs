//! Saved re-partition plans: a plan computed by the partitioner (see `gridmap_partition`),
//! named by a planner and kept in the project so that it outlives the server's memory, can be
//! found again by its name, handed to whoever adopts it, and exported.
//!
//! # Table
//!
//! `gridmap_plans` (a GeoPackage attribute table, created on first use): `id`, `name` (unique
//! within its village), `village`, `saved_by`, `saved_at` (UTC, RFC 3339), `grids` (how many
//! the plan draws), `body` (the plan as the server answers it, JSON: the grids as GeoJSON with
//! their workloads, the report, the comparison with the grids of the day it was computed) and
//! `adopted` (JSON, once the plan became the village's grids). The body is the server's to
//! read and write; the store keeps it as given.

use rusqlite::{OptionalExtension, params};

use crate::{GpkgStore, Result, StoreError};

const PLANS_SQL: &str = "CREATE TABLE IF NOT EXISTS gridmap_plans (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, village TEXT NOT NULL,
    saved_by TEXT NOT NULL,
    saved_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    grids INTEGER NOT NULL, body TEXT NOT NULL, adopted TEXT,
    UNIQUE (village, name));
  INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description)
    VALUES ('gridmap_plans', 'attributes', 'gridmap_plans',
            're-partition plans saved by planners (the grids as GeoJSON in body)');";

/// The longest plan name, in characters.
pub const MAX_PLAN_NAME: usize = 60;

/// A saved plan as lists show it (without its body).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlanEntry {
    /// Its number.
    pub id: i64,
    /// The name its planner gave it.
    pub name: String,
    /// The village it re-partitions.
    pub village: String,
    /// Who saved it.
    pub saved_by: String,
    /// When (UTC, RFC 3339).
    pub saved_at: String,
    /// How many grids it draws.
    pub grids: u32,
    /// Whether it became the village's grids.
    pub adopted: bool,
}

/// A saved plan with its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedPlan {
    /// What lists show of it.
    pub entry: PlanEntry,
    /// The plan, as saved (JSON).
    pub body: String,
    /// What adopting it did (JSON), once adopted.
    pub adopted: Option<String>,
}

/// Checks a plan's name: 1 to [`MAX_PLAN_NAME`] characters once trimmed, no control
/// characters. Answers it trimmed, or what is wrong with it.
pub fn check_plan_name(name: &str) -> std::result::Result<String, String> {
    let name = name.trim();
    let bad = |message: String| Err(message);
    if name.is_empty() {
        return bad("a plan needs a name".into());
    }
    if name.chars().count() > MAX_PLAN_NAME {
        return bad(format!(
            "a plan's name is at most {MAX_PLAN_NAME} characters"
        ));
    }
    if name.chars().any(char::is_control) {
        return bad("a plan's name cannot hold control characters".into());
    }
    Ok(name.to_string())
}

fn entry(row: &rusqlite::Row<'_>) -> rusqlite::Result<PlanEntry> {
    Ok(PlanEntry {
        id: row.get(0)?,
        name: row.get(1)?,
        village: row.get(2)?,
        saved_by: row.get(3)?,
        saved_at: row.get(4)?,
        grids: row.get(5)?,
        adopted: row.get::<_, Option<String>>(6)?.is_some(),
    })
}

const ENTRY_COLUMNS: &str = "id, name, village, saved_by, saved_at, grids, adopted";

impl GpkgStore {
    /// Creates `gridmap_plans` if missing (idempotent).
    pub fn ensure_plans_table(&self) -> Result<()> {
        self.connection().execute_batch(PLANS_SQL)?;
        Ok(())
    }

    /// Saves a plan of `village` under `name` (checked by [`check_plan_name`]); answers its
    /// number. Refused when the village already has a plan of that name.
    pub fn save_plan(
        &mut self,
        name: &str,
        village: &str,
        saved_by: &str,
        grids: u32,
        body: &str,
    ) -> Result<i64> {
        let name = check_plan_name(name).map_err(|message| StoreError::Import {
            layer: "gridmap_plans",
            message,
        })?;
        self.ensure_plans_table()?;
        let conn = self.connection();
        let taken: Option<i64> = conn
            .query_row(
                "SELECT id FROM gridmap_plans WHERE village = ?1 AND name = ?2",
                params![village, name],
                |r| r.get(0),
            )
            .optional()?;
        if taken.is_some() {
            return Err(StoreError::Import {
                layer: "gridmap_plans",
                message: format!("village {village} already has a plan named {name}"),
            });
        }
        conn.execute(
            "INSERT INTO gridmap_plans (name, village, saved_by, grids, body)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![name, village, saved_by, grids, body],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// The saved plans, newest first.
    pub fn plans(&self) -> Result<Vec<PlanEntry>> {
        self.ensure_plans_table()?;
        let mut st = self.connection().prepare(&format!(
            "SELECT {ENTRY_COLUMNS} FROM gridmap_plans ORDER BY id DESC"
        ))?;
        let rows = st.query_map([], entry)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Saved plan `id`, with its body; `None` when there is none.
    pub fn plan(&self, id: i64) -> Result<Option<SavedPlan>> {
        self.ensure_plans_table()?;
        Ok(self
            .connection()
            .query_row(
                &format!("SELECT {ENTRY_COLUMNS}, body, adopted FROM gridmap_plans WHERE id = ?1"),
                [id],
                |r| {
                    Ok(SavedPlan {
                        entry: entry(r)?,
                        body: r.get(7)?,
                        adopted: r.get(8)?,
                    })
                },
            )
            .optional()?)
    }

    /// Records that plan `id` was adopted and what that did; answers whether it exists.
    pub fn set_plan_adopted(&mut self, id: i64, adopted: &str) -> Result<bool> {
        self.ensure_plans_table()?;
        Ok(self.connection().execute(
            "UPDATE gridmap_plans SET adopted = ?2 WHERE id = ?1",
            params![id, adopted],
        )? == 1)
    }

    /// Deletes plan `id`; answers whether there was one.
    pub fn delete_plan(&mut self, id: i64) -> Result<bool> {
        self.ensure_plans_table()?;
        Ok(self
            .connection()
            .execute("DELETE FROM gridmap_plans WHERE id = ?1", [id])?
            == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, GpkgStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let s = GpkgStore::create(&dir.path().join("p.gpkg"), "T", "Town").expect("create");
        (dir, s)
    }

    #[test]
    fn plans_are_saved_listed_adopted_and_deleted() {
        let (_dir, mut s) = store();
        assert!(s.plans().expect("list").is_empty());
        let a = s
            .save_plan("  方案一 ", "V1", "planner", 4, r#"{"plan":1}"#)
            .expect("save");
        let b = s
            .save_plan("方案一", "V2", "planner", 3, "{}")
            .expect("save");
        let list = s.plans().expect("list");
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].id, b, "newest first");
        assert_eq!(list[1].name, "方案一", "trimmed");
        assert_eq!(list[1].grids, 4);
        assert!(!list[1].adopted);
        assert!(list[1].saved_at.ends_with('Z'));
        let got = s.plan(a).expect("read").expect("there");
        assert_eq!(got.body, r#"{"plan":1}"#);
        assert_eq!(got.adopted, None);
        assert!(s.set_plan_adopted(a, r#"{"saved":{}}"#).expect("adopt"));
        let got = s.plan(a).expect("read").expect("there");
        assert!(got.entry.adopted);
        assert_eq!(got.adopted.as_deref(), Some(r#"{"saved":{}}"#));
        assert!(s.delete_plan(b).expect("delete"));
        assert!(!s.delete_plan(b).expect("delete again"));
        assert_eq!(s.plan(b).expect("read"), None);
        assert!(!s.set_plan_adopted(b, "{}").expect("gone"));
    }

    #[test]
    fn names_are_checked_and_unique_within_a_village() {
        let (_dir, mut s) = store();
        s.save_plan("A", "V1", "p", 1, "{}").expect("save");
        let e = s.save_plan("A", "V1", "p", 1, "{}").expect_err("taken");
        assert!(e.to_string().contains("already has a plan named A"), "{e}");
        for bad in ["", "   ", "a\nb", &"长".repeat(MAX_PLAN_NAME + 1)] {
            assert!(s.save_plan(bad, "V1", "p", 1, "{}").is_err(), "{bad:?}");
        }
        assert!(
            s.save_plan(&"长".repeat(MAX_PLAN_NAME), "V1", "p", 1, "{}")
                .is_ok()
        );
        assert_eq!(s.plans().expect("list").len(), 2);
    }
}
