//! QR door plates (二维码门牌): one plate per building and per house (户) of the registers, each
//! with a random token that its URL (`/r/TOKEN`) carries, and when it was printed and scanned.
//!
//! # Tokens
//!
//! A token is 80 random bits (the operating system's generator) written as 16 characters of
//! a 32-letter alphabet without look-alikes (`abcdefghijkmnpqrstuvwxyz23456789`), stored in
//! `gridmap_plates` with its building and house. It is not derived from the building's id, so
//! plates cannot be enumerated from ids, and it needs no key: plates can be printed by a
//! server or command without the register key, a plate can be withdrawn by deleting its row,
//! and the row is where printing and scans are counted (二维码管理率). A plate keeps its token
//! once made: printing again prints the same plates.
//!
//! # The plate's address
//!
//! A building's plate carries the building's first standard address (the `addresses` layer,
//! each belonging to its declared building or the building holding its point, as when
//! houses are linked); a house's plate carries the house's address as registered. The address
//! is stored with the plate when it is made, as printed; a building without a standard address
//! gets no plate (nothing a resident declares through it could be linked).
//!
//! # 二维码管理率
//!
//! The units of a grid are the houses registered in its buildings, and its buildings without
//! a registered house. A unit is **printed** when its plate (the house's; for a building
//! without houses, the building's) has been printed, and **scanned** when that plate has also
//! been opened at least once. The rate is scanned / units, counted with the other rates of the
//! campaign scorecard (`crate::scorecard::count`, from [`GpkgStore::plates_in_use`]).

use std::collections::BTreeMap;

use aes_gcm::aead::OsRng;
use aes_gcm::aead::rand_core::RngCore;
use gridmap_core::index::GridIndex;
use gridmap_core::register::House;
use rusqlite::{OptionalExtension, params};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

use crate::registers::{Result, StandardAddresses, UNASSIGNED};
use crate::{GpkgStore, Store};

pub(crate) const PLATES_SQL: &str = "CREATE TABLE IF NOT EXISTS gridmap_plates (
    token TEXT PRIMARY KEY, building TEXT NOT NULL, house TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL, created_at TEXT NOT NULL, printed_at TEXT,
    scans INTEGER NOT NULL DEFAULT 0, last_scan TEXT, UNIQUE (building, house));";

/// The alphabet of tokens: 32 characters, no `l`, `o`, `0`, `1`.
const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
/// Characters of a token (5 bits each: 80 bits).
pub const TOKEN_CHARS: usize = 16;

/// A new random token (80 bits of the operating system's generator; see the module's
/// documentation).
pub fn new_token() -> String {
    let mut bytes = [0u8; 10];
    OsRng.fill_bytes(&mut bytes);
    let bits = bytes
        .iter()
        .fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
    (0..TOKEN_CHARS)
        .rev()
        .map(|i| char::from(ALPHABET[((bits >> (5 * i)) & 31) as usize]))
        .collect()
}

/// Whether `s` has the form of a token (it may still name no plate): checked before any
/// lookup, so that odd input never reaches the database.
pub fn is_token(s: &str) -> bool {
    s.len() == TOKEN_CHARS && s.bytes().all(|b| ALPHABET.contains(&b))
}

/// A plate as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plate {
    /// The token its URL carries.
    pub token: String,
    /// The building it is for.
    pub building: String,
    /// The house (户) it is for; `None` for the building's own plate.
    pub house: Option<String>,
    /// The standard address printed on it.
    pub address: String,
    /// When it was last printed (UTC, RFC 3339), `None` if never.
    pub printed_at: Option<String>,
    /// How many times its page was opened.
    pub scans: u64,
}

/// The plates of some buildings, and the buildings that got none.
#[derive(Debug, Clone, Default)]
pub struct PlateSet {
    /// For each building with a standard address, its plate then its houses' plates, in the
    /// order the buildings were given.
    pub plates: Vec<Plate>,
    /// Buildings without a standard address: no plate.
    pub without_address: Vec<String>,
}

impl Plate {
    /// A plate from its stored columns: `house` is `''` for a building's own plate, and a
    /// negative count of scans reads as none.
    pub fn from_columns(
        token: String,
        building: String,
        house: String,
        address: String,
        printed_at: Option<String>,
        scans: i64,
    ) -> Plate {
        Plate {
            token,
            building,
            house: (!house.is_empty()).then_some(house),
            address,
            printed_at,
            scans: scans.max(0) as u64,
        }
    }
}

/// A plate [`GpkgStore::plates_for`] answers, before its token is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedPlate {
    /// The building.
    pub building: String,
    /// The house, `""` for the building's own plate (as stored).
    pub house: String,
    /// The standard address to print on it, if it is made now.
    pub address: String,
}

/// The plates of `buildings` (in the order to print), found without the store's plate table:
/// for each building with a standard address (its first, see the module's documentation), its
/// own plate then one per house of `houses` registered in it (in register order), and the
/// buildings without a standard address. What both stores' `plates_for` make or find.
///
/// # Performance
/// Parses every standard address once (~2 µs each) to find each building's.
pub fn wanted_plates(
    store: &dyn Store,
    houses: Vec<House>,
    buildings: &[String],
) -> crate::Result<(Vec<WantedPlate>, Vec<String>)> {
    let addresses = store.addresses()?;
    let all = store.buildings()?;
    let standard = StandardAddresses::new(&addresses, &all);
    let mut address_of: FxHashMap<&str, &str> = FxHashMap::default();
    for (a, b) in addresses.iter().zip(standard.buildings()) {
        if let (Some(b), Some(t)) = (b, a.text.as_deref()) {
            address_of.entry(b).or_insert(t);
        }
    }
    let wanted: FxHashSet<&str> = buildings.iter().map(String::as_str).collect();
    let mut houses_of: FxHashMap<String, Vec<(String, String)>> = FxHashMap::default();
    for h in houses {
        if let Some(b) = h.building.filter(|b| wanted.contains(b.as_str())) {
            houses_of.entry(b).or_default().push((h.id, h.address));
        }
    }
    let mut plates = Vec::new();
    let mut without_address = Vec::new();
    for b in buildings {
        let Some(address) = address_of.get(b.as_str()) else {
            without_address.push(b.clone());
            continue;
        };
        plates.push(WantedPlate {
            building: b.clone(),
            house: String::new(),
            address: address.to_string(),
        });
        for (h, address) in houses_of.get(b).into_iter().flatten() {
            plates.push(WantedPlate {
                building: b.clone(),
                house: h.clone(),
                address: address.clone(),
            });
        }
    }
    Ok((plates, without_address))
}

/// The buildings of each grid of `store`, by the one assignment of buildings to grids (see
/// `gridmap_core::assign`): grid code → building ids in store order; buildings in no grid
/// under [`UNASSIGNED`]. What both stores' `buildings_by_grid` answer.
pub fn buildings_by_grid(store: &dyn Store) -> crate::Result<BTreeMap<String, Vec<String>>> {
    let grids: Vec<_> = store.grids()?.into_iter().map(|g| g.grid).collect();
    let buildings = store.buildings()?;
    let index = GridIndex::new(&grids, |_| false);
    let assignment = gridmap_core::assign_buildings(&index, &buildings);
    let mut out: BTreeMap<String, Vec<String>> =
        grids.iter().map(|g| (g.code.clone(), Vec::new())).collect();
    for (b, a) in buildings.into_iter().zip(&assignment) {
        let code = a.grid().map_or_else(
            || UNASSIGNED.to_string(),
            |g| grids[g as usize].code.clone(),
        );
        out.entry(code).or_default().push(b.id);
    }
    Ok(out)
}

fn plate_of(r: &rusqlite::Row) -> rusqlite::Result<Plate> {
    Ok(Plate::from_columns(
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

const PLATE_COLUMNS: &str = "token, building, house, address, printed_at, scans";

impl GpkgStore {
    /// Creates `gridmap_plates` if it is missing (idempotent).
    pub fn ensure_plates_table(&self) -> Result<()> {
        self.connection().execute_batch(PLATES_SQL)?;
        Ok(())
    }

    /// The plates of `buildings` (ids, in the order to print): for each building with a
    /// standard address, its own plate, then one per house registered in it (in register
    /// order). Plates that do not exist yet are made, in one transaction; existing ones keep
    /// their token and address. Which plates: [`wanted_plates`].
    pub fn plates_for(&mut self, buildings: &[String]) -> Result<PlateSet> {
        self.ensure_plates_table()?;
        self.ensure_register_tables()?;
        let (wanted, without_address) = wanted_plates(self, self.houses()?, buildings)?;
        let mut out = PlateSet {
            plates: Vec::with_capacity(wanted.len()),
            without_address,
        };
        let tx = self.connection().unchecked_transaction()?;
        {
            let mut find = tx.prepare(&format!(
                "SELECT {PLATE_COLUMNS} FROM gridmap_plates WHERE building = ?1 AND house = ?2"
            ))?;
            let mut add = tx.prepare(
                "INSERT INTO gridmap_plates (token, building, house, address, created_at)
                 VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
            )?;
            for w in wanted {
                if let Some(p) = find
                    .query_row(params![w.building, w.house], plate_of)
                    .optional()?
                {
                    out.plates.push(p);
                    continue;
                }
                let token = new_token();
                add.execute(params![token, w.building, w.house, w.address])?;
                out.plates.push(Plate::from_columns(
                    token, w.building, w.house, w.address, None, 0,
                ));
            }
        }
        tx.commit()?;
        Ok(out)
    }

    /// Records that the plates with `tokens` were printed now.
    pub fn mark_printed(&mut self, tokens: &[String]) -> Result<()> {
        self.ensure_plates_table()?;
        let tx = self.connection().unchecked_transaction()?;
        {
            let mut set = tx.prepare(
                "UPDATE gridmap_plates SET printed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
                 WHERE token = ?1",
            )?;
            for t in tokens {
                set.execute([t])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The plate with `token`, if there is one (`None` too for a string that is not a token).
    pub fn plate(&self, token: &str) -> Result<Option<Plate>> {
        if !is_token(token) {
            return Ok(None);
        }
        self.ensure_plates_table()?;
        Ok(self
            .connection()
            .query_row(
                &format!("SELECT {PLATE_COLUMNS} FROM gridmap_plates WHERE token = ?1"),
                [token],
                plate_of,
            )
            .optional()?)
    }

    /// Counts one opening of the plate with `token`; `false` when there is no such plate.
    pub fn count_scan(&mut self, token: &str) -> Result<bool> {
        if !is_token(token) {
            return Ok(false);
        }
        self.ensure_plates_table()?;
        let n = self.connection().execute(
            "UPDATE gridmap_plates SET scans = scans + 1,
               last_scan = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE token = ?1",
            [token],
        )?;
        Ok(n > 0)
    }

    /// The buildings of each grid, by the one assignment of buildings to grids (see
    /// `gridmap_core::assign`): grid code → building ids in store order; buildings in no grid
    /// under [`UNASSIGNED`].
    pub fn buildings_by_grid(&self) -> Result<BTreeMap<String, Vec<String>>> {
        Ok(buildings_by_grid(self)?)
    }

    /// The plates printed and scanned at least once: what the scorecard's 二维码管理率 counts
    /// (`crate::scorecard::count`).
    pub fn plates_in_use(&self) -> Result<crate::scorecard::PlatesInUse> {
        self.ensure_plates_table()?;
        let mut stmt = self.connection().prepare(
            "SELECT building, house FROM gridmap_plates WHERE printed_at IS NOT NULL AND scans > 0",
        )?;
        let mut rows = stmt.query([])?;
        let mut out = crate::scorecard::PlatesInUse::default();
        while let Some(r) = rows.next()? {
            out.entry(r.get(0)?).or_default().insert(r.get(1)?);
        }
        Ok(out)
    }
}

/// The plates and declarations of a project as stored, for a whole-project copy
/// (`crate::transfer::ProjectCopy::plates`): the declarations' people sealed as they are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CopiedPlates {
    /// The plates, by token.
    pub plates: Vec<CopiedPlate>,
    /// The declarations, oldest first.
    pub declarations: Vec<SealedDeclaration>,
}

/// A plate as stored (`gridmap_plates`): `house` is `""` for a building's own plate; times
/// are UTC, RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // the columns of `gridmap_plates`
pub struct CopiedPlate {
    pub token: String,
    pub building: String,
    pub house: String,
    pub address: String,
    pub created_at: String,
    pub printed_at: Option<String>,
    pub scans: i64,
    pub last_scan: Option<String>,
}

/// A declaration as stored (`gridmap_declarations`): `people` sealed
/// ([`crate::declarations::seal_people`]), `None` once confirmed. A copy written to another
/// store may number it anew (`id`), keeping the order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // the columns of `gridmap_declarations`
pub struct SealedDeclaration {
    pub id: i64,
    pub token: String,
    pub building: String,
    pub house: Option<String>,
    pub grid: Option<String>,
    pub received_at: String,
    pub room: Option<String>,
    pub nature: Option<String>,
    pub residence: Option<String>,
    pub people: Option<Vec<u8>>,
    pub people_count: i64,
    pub status: String,
    pub decided_at: Option<String>,
    pub decided_by: Option<String>,
}

/// The plates and declarations of the project on `conn`, as stored (none when the tables were
/// never made).
pub(crate) fn copy_plates(conn: &rusqlite::Connection) -> crate::Result<CopiedPlates> {
    let mut out = CopiedPlates::default();
    let exists = |t: &str| -> rusqlite::Result<bool> {
        conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
            [t],
            |r| r.get(0),
        )
    };
    if exists("gridmap_plates")? {
        let mut stmt = conn.prepare(
            "SELECT token, building, house, address, created_at, printed_at, scans, last_scan
             FROM gridmap_plates ORDER BY token",
        )?;
        out.plates = stmt
            .query_map([], |r| {
                Ok(CopiedPlate {
                    token: r.get(0)?,
                    building: r.get(1)?,
                    house: r.get(2)?,
                    address: r.get(3)?,
                    created_at: r.get(4)?,
                    printed_at: r.get(5)?,
                    scans: r.get(6)?,
                    last_scan: r.get(7)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
    }
    if exists("gridmap_declarations")? {
        let mut stmt = conn.prepare(
            "SELECT id, token, building, house, grid, received_at, room, nature, residence,
               people, people_count, status, decided_at, decided_by
             FROM gridmap_declarations ORDER BY id",
        )?;
        out.declarations = stmt
            .query_map([], |r| {
                Ok(SealedDeclaration {
                    id: r.get(0)?,
                    token: r.get(1)?,
                    building: r.get(2)?,
                    house: r.get(3)?,
                    grid: r.get(4)?,
                    received_at: r.get(5)?,
                    room: r.get(6)?,
                    nature: r.get(7)?,
                    residence: r.get(8)?,
                    people: r.get(9)?,
                    people_count: r.get(10)?,
                    status: r.get(11)?,
                    decided_at: r.get(12)?,
                    decided_by: r.get(13)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
    }
    Ok(out)
}

/// Writes the plates and declarations of a copy as they are (tables made when there are any),
/// inside the caller's transaction.
pub(crate) fn write_plates(tx: &rusqlite::Transaction, c: &CopiedPlates) -> crate::Result<()> {
    if c.plates.is_empty() && c.declarations.is_empty() {
        return Ok(());
    }
    tx.execute_batch(PLATES_SQL)?;
    tx.execute_batch(crate::declarations::DECLARATIONS_SQL)?;
    let mut add = tx.prepare(
        "INSERT INTO gridmap_plates (token, building, house, address, created_at, printed_at,
           scans, last_scan)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for p in &c.plates {
        add.execute(params![
            p.token,
            p.building,
            p.house,
            p.address,
            p.created_at,
            p.printed_at,
            p.scans,
            p.last_scan
        ])?;
    }
    let mut add = tx.prepare(
        "INSERT INTO gridmap_declarations (id, token, building, house, grid, received_at, room,
           nature, residence, people, people_count, status, decided_at, decided_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
    for d in &c.declarations {
        add.execute(params![
            d.id,
            d.token,
            d.building,
            d.house,
            d.grid,
            d.received_at,
            d.room,
            d.nature,
            d.residence,
            d.people,
            d.people_count,
            d.status,
            d.decided_at,
            d.decided_by
        ])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_sixteen_characters_of_the_alphabet_and_differ() {
        let a = new_token();
        let b = new_token();
        assert_eq!(a.len(), TOKEN_CHARS);
        assert!(is_token(&a) && is_token(&b));
        assert_ne!(a, b);
        assert!(!is_token("B0001"));
        assert!(!is_token("abcdefghijkmnpq1"), "1 is not in the alphabet");
        assert!(!is_token("abcdefghijkmnpqrs"), "17 characters");
    }
}
