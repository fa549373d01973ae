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
use rusqlite::{OptionalExtension, params};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

use crate::registers::{Result, StandardAddresses, UNASSIGNED};
use crate::{GpkgStore, Store};

const PLATES_SQL: &str = "CREATE TABLE IF NOT EXISTS gridmap_plates (
    token TEXT PRIMARY KEY, building TEXT NOT NULL, house TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL, created_at TEXT NOT NULL, printed_at TEXT,
    scans INTEGER NOT NULL DEFAULT 0, last_scan TEXT, UNIQUE (building, house));";

/// The alphabet of tokens: 32 characters, no `l`, `o`, `0`, `1`.
const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
/// Characters of a token (5 bits each: 80 bits).
pub const TOKEN_CHARS: usize = 16;

/// A new random token.
fn new_token() -> String {
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

fn plate_of(r: &rusqlite::Row) -> rusqlite::Result<Plate> {
    let house: String = r.get(2)?;
    Ok(Plate {
        token: r.get(0)?,
        building: r.get(1)?,
        house: (!house.is_empty()).then_some(house),
        address: r.get(3)?,
        printed_at: r.get(4)?,
        scans: r.get::<_, i64>(5)?.max(0) as u64,
    })
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
    /// their token and address.
    ///
    /// # Performance
    /// Parses every standard address once (~2 µs each) to find each building's.
    pub fn plates_for(&mut self, buildings: &[String]) -> Result<PlateSet> {
        self.ensure_plates_table()?;
        self.ensure_register_tables()?;
        let addresses = self.addresses()?;
        let all = self.buildings()?;
        let standard = StandardAddresses::new(&addresses, &all);
        let mut address_of: FxHashMap<&str, &str> = FxHashMap::default();
        for (a, b) in addresses.iter().zip(standard.buildings()) {
            if let (Some(b), Some(t)) = (b, a.text.as_deref()) {
                address_of.entry(b).or_insert(t);
            }
        }
        let wanted: FxHashSet<&str> = buildings.iter().map(String::as_str).collect();
        let mut houses_of: FxHashMap<String, Vec<(String, String)>> = FxHashMap::default();
        for h in self.houses()? {
            if let Some(b) = h.building.filter(|b| wanted.contains(b.as_str())) {
                houses_of.entry(b).or_default().push((h.id, h.address));
            }
        }
        let mut out = PlateSet::default();
        let tx = self.connection().unchecked_transaction()?;
        {
            let mut find = tx.prepare(&format!(
                "SELECT {PLATE_COLUMNS} FROM gridmap_plates WHERE building = ?1 AND house = ?2"
            ))?;
            let mut add = tx.prepare(
                "INSERT INTO gridmap_plates (token, building, house, address, created_at)
                 VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
            )?;
            let mut plate = |building: &str, house: &str, address: &str| -> Result<Plate> {
                if let Some(p) = find
                    .query_row(params![building, house], plate_of)
                    .optional()?
                {
                    return Ok(p);
                }
                let token = new_token();
                add.execute(params![token, building, house, address])?;
                Ok(Plate {
                    token,
                    building: building.to_string(),
                    house: (!house.is_empty()).then(|| house.to_string()),
                    address: address.to_string(),
                    printed_at: None,
                    scans: 0,
                })
            };
            for b in buildings {
                let Some(address) = address_of.get(b.as_str()) else {
                    out.without_address.push(b.clone());
                    continue;
                };
                out.plates.push(plate(b, "", address)?);
                for (h, address) in houses_of.get(b).into_iter().flatten() {
                    out.plates.push(plate(b, h, address)?);
                }
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
        let grids: Vec<_> = self.grids()?.into_iter().map(|g| g.grid).collect();
        let buildings = self.buildings()?;
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
