//! Key units, places and persons (重点单位、重点场所、重点人员) and their attention level
//! (关注等级): the third of the campaign's "三个100%" (`000_…`: "逐单位、逐人标注关注等级").
//!
//! # Privacy
//! That a person is, say, under community correction is more sensitive than their name. The
//! `key_subjects` table keeps in clear only what the scorecard counts and scope decides on: the
//! subject's id, its building and house, whether it has an attention level (`rated`), and who
//! changed it when. Its kind, category, name, attention level and note are one sealed value
//! (AES-256-GCM under the register key, bound to the column, as people's names are). Who may
//! read them is decided by the server (`Role::sees_key_subjects`), and every read is audited.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::GpkgStore;
use crate::registers::{RegisterError, RegisterKey, Result};

/// What kind of subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    /// 重点单位: an organisation (危管单位, 特种行业, …).
    Unit,
    /// 重点场所: a place (歌舞娱乐, 网吧, 出租房屋, …).
    Place,
    /// 重点人员: a person.
    Person,
}

impl SubjectKind {
    /// The categories a subject of this kind may have, as the seeds list them (`000_…`,
    /// `001_…`); `其他` for the rest.
    pub fn categories(self) -> &'static [&'static str] {
        match self {
            SubjectKind::Person => &[
                "刑满释放人员",
                "社区服刑人员",
                "严重精神障碍患者",
                "吸毒人员",
                "艾滋病人",
                "重点青少年",
                "信访重点人员",
                "流动人口",
                "其他",
            ],
            SubjectKind::Unit => &[
                "危管单位",
                "特种行业",
                "法人单位",
                "个体工商户",
                "社会组织",
                "其他",
            ],
            SubjectKind::Place => &[
                "歌舞娱乐场所",
                "网吧",
                "旅馆",
                "出租房屋",
                "棋牌室",
                "美容美发足浴",
                "产业活动场所",
                "其他",
            ],
        }
    }
}

/// The attention levels (关注等级), from closest attention to lightest.
pub const ATTENTION_LEVELS: [&str; 3] = ["一级（重点关注）", "二级（一般关注）", "三级（关注）"];

/// A key unit, place or person. Everything but `id`, `building`, `house` and `updated_*` is
/// stored sealed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySubject {
    /// Unique id (`key-` and a UUID).
    pub id: String,
    /// Unit, place or person.
    pub kind: SubjectKind,
    /// One of [`SubjectKind::categories`].
    pub category: String,
    /// The unit's or place's name, the person's name. Personal data for persons.
    pub name: String,
    /// The building it is in or where the person lives.
    pub building: String,
    /// The house (户/室), when known.
    pub house: Option<String>,
    /// Its attention level, 1 (closest) to 3; `None` until someone sets it.
    pub attention: Option<u8>,
    /// A note by the grid leader or the police. Personal data.
    pub note: Option<String>,
    /// Who last changed it.
    pub updated_by: String,
    /// When (RFC 3339).
    pub updated_at: String,
}

impl std::fmt::Debug for KeySubject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The category and the name together say who is what: neither is printed.
        f.debug_struct("KeySubject")
            .field("id", &self.id)
            .field("building", &self.building)
            .field("attention", &self.attention)
            .finish_non_exhaustive()
    }
}

/// The sealed part of a subject.
#[derive(Serialize, Deserialize)]
struct Sealed {
    kind: SubjectKind,
    category: String,
    name: String,
    attention: Option<u8>,
    note: Option<String>,
}

/// The column the sealed part is bound to.
pub(crate) const SEALED_COLUMN: &str = "key_subjects.sealed";

const TABLE_SQL: &str = "CREATE TABLE IF NOT EXISTS key_subjects (
    fid INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, building TEXT NOT NULL,
    house TEXT, rated INTEGER NOT NULL, sealed BLOB NOT NULL, updated_by TEXT NOT NULL,
    updated_at TEXT NOT NULL);
  CREATE INDEX IF NOT EXISTS key_subjects_by_building ON key_subjects (building);
  INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description)
    VALUES ('key_subjects', 'attributes', 'key_subjects',
            'key units, places and persons (重点单位、场所、人员); all but the building sealed');";

/// The sealed value of `s` under `key`: what both stores keep in `key_subjects.sealed`.
pub fn seal(key: &RegisterKey, s: &KeySubject) -> Vec<u8> {
    let sealed = serde_json::to_string(&Sealed {
        kind: s.kind,
        category: s.category.clone(),
        name: s.name.clone(),
        attention: s.attention,
        note: s.note.clone(),
    })
    // A struct of strings and numbers always serialises.
    .unwrap_or_default();
    key.seal(SEALED_COLUMN, &sealed)
}

/// A stored subject's columns, the sealed value opened with `key`.
pub struct StoredSubject {
    /// Its id.
    pub id: String,
    /// Its building.
    pub building: String,
    /// Its house.
    pub house: Option<String>,
    /// The sealed value ([`seal`]).
    pub sealed: Vec<u8>,
    /// Who last changed it.
    pub updated_by: String,
    /// When.
    pub updated_at: String,
}

impl StoredSubject {
    /// The subject, its sealed part opened with `key`; fails naming the row (never its
    /// content) when `key` does not open it.
    pub fn open(self, key: &RegisterKey) -> Result<KeySubject> {
        let open = key
            .open(SEALED_COLUMN, &self.sealed)
            .and_then(|text| serde_json::from_str::<Sealed>(&text).ok())
            .ok_or_else(|| RegisterError::SealedSubject {
                id: self.id.clone(),
            })?;
        Ok(KeySubject {
            id: self.id,
            kind: open.kind,
            category: open.category,
            name: open.name,
            building: self.building,
            house: self.house,
            attention: open.attention,
            note: open.note,
            updated_by: self.updated_by,
            updated_at: self.updated_at,
        })
    }
}

impl GpkgStore {
    fn ensure_key_subjects(&self) -> Result<()> {
        self.connection().execute_batch(TABLE_SQL)?;
        Ok(())
    }

    /// [`Self::ensure_key_subjects`] inside a transaction.
    pub(crate) fn ensure_key_subjects_in(tx: &rusqlite::Transaction) -> Result<()> {
        tx.execute_batch(TABLE_SQL)?;
        Ok(())
    }

    /// Adds a subject, or replaces the one with its id, in one statement.
    pub fn put_key_subject(&mut self, key: &RegisterKey, s: &KeySubject) -> Result<()> {
        self.ensure_key_subjects()?;
        // The key must be the project's (or the first): a value sealed under another key
        // would never open again.
        let tx = self.connection().unchecked_transaction()?;
        GpkgStore::check_key(&tx, key)?;
        tx.execute(
            "INSERT INTO key_subjects (id, building, house, rated, sealed, updated_by, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (id) DO UPDATE SET building = excluded.building, house = excluded.house,
               rated = excluded.rated, sealed = excluded.sealed, updated_by = excluded.updated_by,
               updated_at = excluded.updated_at",
            params![
                s.id,
                s.building,
                s.house,
                s.attention.is_some(),
                seal(key, s),
                s.updated_by,
                s.updated_at
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Every subject, unsealed (the caller decides who may see them, and audits).
    pub fn key_subjects(&self, key: &RegisterKey) -> Result<Vec<KeySubject>> {
        self.ensure_key_subjects()?;
        let conn = self.connection();
        let mut stmt = conn.prepare(
            "SELECT id, building, house, sealed, updated_by, updated_at FROM key_subjects
             ORDER BY fid",
        )?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let stored = StoredSubject {
                id: r.get(0)?,
                building: r.get(1)?,
                house: r.get(2)?,
                sealed: r.get(3)?,
                updated_by: r.get(4)?,
                updated_at: r.get(5)?,
            };
            out.push(stored.open(key)?);
        }
        Ok(out)
    }

    /// One subject's building, without opening anything (to decide who may change it).
    pub fn key_subject_building(&self, id: &str) -> Result<Option<String>> {
        self.ensure_key_subjects()?;
        Ok(self
            .connection()
            .query_row(
                "SELECT building FROM key_subjects WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Each subject's building (placed by `building_at`) and whether it has an attention level:
    /// what the scorecard counts, read without the key.
    pub fn key_subject_counts(
        &self,
        building_at: &dyn Fn(&str) -> Option<usize>,
    ) -> Result<Vec<(Option<usize>, bool)>> {
        self.ensure_key_subjects()?;
        let conn = self.connection();
        let mut stmt = conn.prepare("SELECT building, rated FROM key_subjects")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? != 0))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (building, rated) = row?;
            out.push((building_at(&building), rated));
        }
        Ok(out)
    }
}
