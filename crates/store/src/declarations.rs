//! Residents' self-report (自主申报): households declared through a QR door plate, kept in a
//! review queue until a grid worker confirms or rejects them.
//!
//! A declaration names its plate (and so the building, the house when the plate is a house's,
//! and the standard address), the grid the building was in when it arrived, the room when the
//! plate is a building's, the house nature and residence type, and its people. The people's
//! names, ID numbers, phones and relations are sealed together with the register key
//! ([`RegisterKey::seal`], AES-256-GCM, the column `gridmap_declarations.people` as associated
//! data) exactly as `people.name` is; nothing of them is stored in clear.
//!
//! Nothing reaches `houses` or `people` until a worker confirms: [`GpkgStore::confirm_declaration`]
//! turns the declaration into rows of a household form and imports them through the import of
//! [`GpkgStore::import_households`] (the same houses by address key, fingerprints and
//! deduplication by ID number as a form; the house is linked to the plate's building, where
//! the plate hangs, with link `plate`), then drops the sealed people from the queue.
//! [`GpkgStore::reject_declaration`] deletes the declaration: the project keeps nothing of it.

use gridmap_core::register::{FormRow, HouseNature, mask_id_number, mask_name, mask_phone};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::GpkgStore;
use crate::registers::{
    HouseholdImport, HouseholdOptions, RegisterError, RegisterKey, Result, View,
};

pub(crate) const DECLARATIONS_SQL: &str = "CREATE TABLE IF NOT EXISTS gridmap_declarations (
    id INTEGER PRIMARY KEY AUTOINCREMENT, token TEXT NOT NULL, building TEXT NOT NULL,
    house TEXT, grid TEXT, received_at TEXT NOT NULL, room TEXT, nature TEXT, residence TEXT,
    people BLOB, people_count INTEGER NOT NULL, status TEXT NOT NULL DEFAULT 'pending',
    decided_at TEXT, decided_by TEXT);
  CREATE INDEX IF NOT EXISTS declarations_by_status ON gridmap_declarations (status, grid);";

/// The associated data the sealed people are bound to.
pub(crate) const PEOPLE_COLUMN: &str = "gridmap_declarations.people";

/// Declaration `id`'s sealed people, from key `old` to key `new` (a register rekey); fails
/// naming the declaration when `old` does not open them.
pub fn reseal_people(
    old: &RegisterKey,
    new: &RegisterKey,
    id: i64,
    sealed: &[u8],
) -> Result<Vec<u8>> {
    let plain = old
        .open(PEOPLE_COLUMN, sealed)
        .ok_or(RegisterError::Decrypt {
            fid: id,
            column: "people",
        })?;
    Ok(new.seal(PEOPLE_COLUMN, &plain))
}

/// Residence types a declaration may state (户籍, 流入, 流出, 境外).
pub const RESIDENCE_TYPES: [&str; 4] = ["户籍", "流入", "流出", "境外"];

/// One person of a declaration. Personal data: `Debug` masks it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclaredPerson {
    /// Full name.
    pub name: String,
    /// Citizen ID number, checked and canonical (see `gridmap_core::register::check_id_number`).
    pub id_number: String,
    /// Phone number as written.
    pub phone: Option<String>,
    /// 与户主关系: 户主, 配偶, 子女, …
    pub relation: Option<String>,
}

impl std::fmt::Debug for DeclaredPerson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeclaredPerson")
            .field("name", &mask_name(&self.name))
            .field("id_number", &mask_id_number(&self.id_number))
            .field("phone", &self.phone.as_deref().map(mask_phone))
            .field("relation", &self.relation)
            .finish()
    }
}

/// A declaration as received from the public page, checked by the server.
#[derive(Debug, Clone)]
pub struct NewDeclaration {
    /// The plate's token.
    pub token: String,
    /// The grid the plate's building is in now, if any.
    pub grid: Option<String>,
    /// The room (室) within the building, for a building's plate.
    pub room: Option<String>,
    /// The house nature declared.
    pub nature: Option<HouseNature>,
    /// The residence type declared (one of [`RESIDENCE_TYPES`]).
    pub residence: Option<String>,
    /// The people, at least one.
    pub people: Vec<DeclaredPerson>,
}

/// A declaration in the review queue.
#[derive(Debug, Clone, Serialize)]
pub struct Declaration {
    /// Its number.
    pub id: i64,
    /// The building of its plate.
    pub building: String,
    /// The house of its plate, for a house's plate.
    pub house: Option<String>,
    /// The grid the building was in when it arrived.
    pub grid: Option<String>,
    /// The standard address of its plate.
    pub address: String,
    /// The room declared (building plates).
    pub room: Option<String>,
    /// When it arrived (UTC, RFC 3339).
    pub received_at: String,
    /// The house nature declared (`自购`, `租住`, …).
    pub nature: Option<String>,
    /// The residence type declared.
    pub residence: Option<String>,
    /// `pending` or `confirmed`.
    pub status: String,
    /// Its people, masked or clear as asked; empty once confirmed.
    pub people: Vec<DeclaredPerson>,
}

/// The sealed value of `people` under `key`: what both stores keep in a declaration's `people`
/// column (JSON, sealed with [`RegisterKey::seal`] bound to `gridmap_declarations.people`).
pub fn seal_people(key: &RegisterKey, people: &[DeclaredPerson]) -> Result<Vec<u8>> {
    let people = serde_json::to_string(people).map_err(|e| {
        RegisterError::Store(crate::StoreError::Import {
            layer: "gridmap_declarations",
            message: e.to_string(),
        })
    })?;
    Ok(key.seal(PEOPLE_COLUMN, &people))
}

/// A stored declaration's columns, its people still sealed ([`seal_people`]); `address` is its
/// plate's (`""` when the plate is gone).
#[allow(missing_docs)] // the fields of `Declaration`
pub struct StoredDeclaration {
    pub id: i64,
    pub building: String,
    pub house: Option<String>,
    pub grid: Option<String>,
    pub address: String,
    pub room: Option<String>,
    pub received_at: String,
    pub nature: Option<String>,
    pub residence: Option<String>,
    pub status: String,
    /// The sealed people, `None` once confirmed.
    pub people: Option<Vec<u8>>,
}

impl StoredDeclaration {
    /// The declaration, its people opened with `key` and masked unless `view` is
    /// [`View::Clear`]; fails naming the declaration (never its content) when `key` does not
    /// open them.
    pub fn open(self, key: &RegisterKey, view: View) -> Result<Declaration> {
        let id = self.id;
        let mut people: Vec<DeclaredPerson> = match self.people {
            None => Vec::new(),
            Some(b) => key
                .open(PEOPLE_COLUMN, &b)
                .and_then(|json| serde_json::from_str(&json).ok())
                .ok_or(RegisterError::Decrypt {
                    fid: id,
                    column: "people",
                })?,
        };
        if view == View::Masked {
            for p in &mut people {
                p.name = mask_name(&p.name);
                p.id_number = mask_id_number(&p.id_number);
                p.phone = p.phone.as_deref().map(mask_phone);
            }
        }
        Ok(Declaration {
            id,
            building: self.building,
            house: self.house,
            grid: self.grid,
            address: self.address,
            room: self.room,
            received_at: self.received_at,
            nature: self.nature,
            residence: self.residence,
            status: self.status,
            people,
        })
    }
}

impl Declaration {
    /// The rows of a household form that confirming the declaration imports: one per person,
    /// under [`Self::household_address`], remarks `自主申报`, with the house nature and residence
    /// type declared.
    pub fn form_rows(&self) -> Vec<FormRow> {
        let address = self.household_address();
        let remarks = Some("自主申报".to_string());
        let residence = self
            .residence
            .as_deref()
            .and_then(gridmap_core::register::Residence::parse);
        let nature = self.nature.as_deref().and_then(HouseNature::parse);
        self.people
            .iter()
            .enumerate()
            .map(|(i, p)| FormRow {
                row: i + 1,
                address: address.clone(),
                name: p.name.clone(),
                id_number: Some(p.id_number.clone()),
                phone: p.phone.clone(),
                relation: p.relation.clone(),
                nature,
                remarks: remarks.clone(),
                residence,
                ..Default::default()
            })
            .collect()
    }

    /// The address the household is registered under: the plate's, with the room.
    pub fn household_address(&self) -> String {
        match self
            .room
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
        {
            Some(room) if room.ends_with('室') => format!("{}{room}", self.address),
            Some(room) => format!("{}{room}室", self.address),
            None => self.address.clone(),
        }
    }
}

impl GpkgStore {
    /// Creates `gridmap_declarations` (and `gridmap_plates`) if missing (idempotent).
    pub fn ensure_declarations_table(&self) -> Result<()> {
        self.ensure_plates_table()?;
        self.connection().execute_batch(DECLARATIONS_SQL)?;
        Ok(())
    }

    /// Puts a declaration into the review queue, its people sealed with `key`. Answers its
    /// number, or `None` when the token names no plate.
    pub fn add_declaration(
        &mut self,
        key: &RegisterKey,
        d: &NewDeclaration,
    ) -> Result<Option<i64>> {
        self.ensure_declarations_table()?;
        let Some(plate) = self.plate(&d.token)? else {
            return Ok(None);
        };
        let sealed = seal_people(key, &d.people)?;
        self.connection().execute(
            "INSERT INTO gridmap_declarations (token, building, house, grid, received_at, room,
               nature, residence, people, people_count)
             VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), ?5, ?6, ?7, ?8, ?9)",
            params![
                plate.token,
                plate.building,
                plate.house,
                d.grid,
                d.room,
                d.nature.map(HouseNature::as_str),
                d.residence,
                sealed,
                d.people.len() as i64
            ],
        )?;
        Ok(Some(self.connection().last_insert_rowid()))
    }

    /// The declarations waiting for review, oldest first, their people opened with `key` and
    /// masked unless `view` is [`View::Clear`].
    pub fn pending_declarations(&self, key: &RegisterKey, view: View) -> Result<Vec<Declaration>> {
        self.declarations_where(key, view, "d.status = 'pending'", None)
    }

    /// The declaration with number `id`, whatever its status, people as `view` says.
    pub fn declaration(
        &self,
        key: &RegisterKey,
        view: View,
        id: i64,
    ) -> Result<Option<Declaration>> {
        Ok(self
            .declarations_where(key, view, "d.id = ?1", Some(id))?
            .into_iter()
            .next())
    }

    fn declarations_where(
        &self,
        key: &RegisterKey,
        view: View,
        filter: &str,
        id: Option<i64>,
    ) -> Result<Vec<Declaration>> {
        self.ensure_declarations_table()?;
        let mut stmt = self.connection().prepare(&format!(
            "SELECT d.id, d.building, d.house, d.grid, COALESCE(p.address, ''), d.room,
               d.received_at, d.nature, d.residence, d.status, d.people
             FROM gridmap_declarations d LEFT JOIN gridmap_plates p ON p.token = d.token
             WHERE {filter} ORDER BY d.id"
        ))?;
        let mut rows = match id {
            Some(id) => stmt.query([id])?,
            None => stmt.query([])?,
        };
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let stored = StoredDeclaration {
                id: r.get(0)?,
                building: r.get(1)?,
                house: r.get(2)?,
                grid: r.get(3)?,
                address: r.get(4)?,
                room: r.get(5)?,
                received_at: r.get(6)?,
                nature: r.get(7)?,
                residence: r.get(8)?,
                status: r.get(9)?,
                people: r.get(10)?,
            };
            out.push(stored.open(key, view)?);
        }
        Ok(out)
    }

    /// Confirms pending declaration `id`: its household goes into the registers through the
    /// import of [`GpkgStore::import_households`] (one form row per person, under the plate's
    /// address with the room, linked to the plate's building), then the declaration keeps no personal data and is marked `confirmed`
    /// by `who`. `None` when there is no such pending declaration. A household whose address
    /// the register refuses fails with [`RegisterError::Rejected`] and stays pending.
    ///
    /// Confirming twice cannot double anyone: people are found again by their ID number.
    pub fn confirm_declaration(
        &mut self,
        key: &RegisterKey,
        id: i64,
        who: &str,
    ) -> Result<Option<HouseholdImport>> {
        let Some(d) = self.declaration(key, View::Clear, id)? else {
            return Ok(None);
        };
        if d.status != "pending" {
            return Ok(None);
        }
        let rows = d.form_rows();
        let done = self.import_households_in(
            &rows,
            key,
            HouseholdOptions::default(),
            Some(d.building.as_str()),
        )?;
        self.connection().execute(
            "UPDATE gridmap_declarations SET people = NULL, status = 'confirmed',
               decided_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), decided_by = ?2 WHERE id = ?1",
            params![id, who],
        )?;
        Ok(Some(done))
    }

    /// Rejects pending declaration `id`: deletes it, people and all. Answers how many people
    /// it held, `None` when there is no such pending declaration.
    pub fn reject_declaration(&mut self, id: i64) -> Result<Option<usize>> {
        self.ensure_declarations_table()?;
        let tx = self.connection().unchecked_transaction()?;
        let count: Option<i64> = tx
            .query_row(
                "SELECT people_count FROM gridmap_declarations WHERE id = ?1 AND status = 'pending'",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        if count.is_some() {
            tx.execute("DELETE FROM gridmap_declarations WHERE id = ?1", [id])?;
        }
        tx.commit()?;
        Ok(count.map(|n| n.max(0) as usize))
    }

    /// The building and grid of pending declaration `id` (for deciding who may review it),
    /// without opening anything.
    pub fn declaration_place(&self, id: i64) -> Result<Option<(String, Option<String>)>> {
        self.ensure_declarations_table()?;
        Ok(self
            .connection()
            .query_row(
                "SELECT building, grid FROM gridmap_declarations WHERE id = ?1 AND status = 'pending'",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }
}
