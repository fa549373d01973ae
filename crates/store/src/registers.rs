//! The household registers in the project file: houses (户/室) and people (实有人口), the
//! import of household forms, and the register statistics per grid and village.
//!
//! # Tables
//!
//! `houses` and `people` are plain attribute tables (GeoPackage `data_type` `attributes`),
//! created on first use by every function here. A house is keyed by its normalised address
//! (`gridmap_address::normalize`); a person by a keyed fingerprint of their ID number when they
//! have one, so that importing the same form twice updates people instead of doubling them.
//! The fingerprint ([`RegisterKey::fingerprint`]) is HMAC-SHA256 under a key derived from the
//! register key with HKDF-SHA256 and the info string [`FINGERPRINT_INFO`]; the scheme is recorded
//! in `gridmap_meta.id_fingerprint_scheme` ([`FINGERPRINT_SCHEME`]). Projects written before it
//! hold scheme-1 fingerprints (a hand-made AES-CBC-MAC) and no record: the first import with
//! the key (or `gridmap rekey`) recomputes every fingerprint from the sealed ID numbers in its
//! own transaction before it looks anyone up, so old people keep being found.
//!
//! # Privacy
//!
//! `people.name`, `people.id_number` and `people.phone` hold AES-256-GCM ciphertext (a version
//! byte, a random 96-bit nonce, the ciphertext and tag; the column name is bound as associated
//! data), never clear text. The key lives outside the file: [`RegisterKey::from_env`] reads
//! `GRIDMAP_KEY` (64 hex characters) or the file named by `GRIDMAP_KEY_FILE`; there is no
//! default key. `gridmap_meta.register_key_check` holds a sealed constant, so a file is never
//! written with two keys. Readers get clear values only when they ask for [`View::Clear`];
//! errors name rows and columns, never values.
//!
//! # Linking a house to a building
//!
//! The house's address is parsed and compared with the project's standard addresses (the
//! `addresses` layer; each belongs to its declared building, or else to the building whose
//! footprint holds its point). Administrative levels above the community (省 市 区 镇) are
//! compared only when both sides write them. In order, the first rule that finds a standard
//! address decides:
//!
//! 1. **address key**: the same normalised key without the room (then without the floor, then
//!    without the unit): `阳光花园3幢2单元301室` → `阳光花园3幢`;
//! 2. **road + number**: the same road and house number (`中山东一路12号`), or a number inside
//!    a standard range (`中山东一路10-12号` holds 10, 11 and 12);
//! 3. **compound + building**: the same compound and building number (`阳光花园3幢`).
//!
//! A rule that finds standard addresses of two buildings (一号多址) links nothing and says so.
//! A household declared through a building's QR plate and confirmed by a grid worker is linked
//! to that building whatever its address matches (link `plate`; see
//! [`crate::declarations`]).

use std::collections::BTreeMap;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use gridmap_address::Levels;
use gridmap_core::index::{BuildingIndex, GridIndex};
use gridmap_core::model::{Address, Building};
use gridmap_core::register::{
    FormRow, House, HouseNature, Person, Residence, rental_remarks_missing,
};
use hmac::{Hmac, Mac};
use rusqlite::{OptionalExtension, Transaction, params};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;
use sha2::Sha256;

use crate::{GpkgStore, Store, StoreError};

/// The environment variable holding the register key (64 hex characters).
pub const KEY_VAR: &str = "GRIDMAP_KEY";
/// The environment variable naming a file that holds the register key.
pub const KEY_FILE_VAR: &str = "GRIDMAP_KEY_FILE";
/// The linkage rate the registers aim for (人房关联率 ≥ 95%).
pub const LINKAGE_TARGET: f64 = 0.95;
/// The HKDF-SHA256 `info` that derives the fingerprint key from the register key (no salt):
/// changing it changes every fingerprint, so it is part of [`FINGERPRINT_SCHEME`] 2.
pub const FINGERPRINT_INFO: &str = "gridmap register id fingerprint v2";
/// The fingerprint scheme this version writes, recorded in `gridmap_meta.id_fingerprint_scheme`:
/// 2 is HMAC-SHA256 under the key HKDF derives with [`FINGERPRINT_INFO`]. Projects without the
/// record hold scheme 1 (an AES-CBC-MAC, 32 hex digits), which the first keyed write upgrades
/// (see [`GpkgStore::upgrade_fingerprints`]).
pub const FINGERPRINT_SCHEME: u32 = 2;

/// Why a register operation failed. Messages carry no personal data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// The project file failed (see [`StoreError`]).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Neither [`KEY_VAR`] nor [`KEY_FILE_VAR`] is set.
    #[error(
        "no register key: set {KEY_VAR} to 64 hex characters (e.g. from `openssl rand -hex 32`) or {KEY_FILE_VAR} to a file holding them"
    )]
    NoKey,
    /// The key given is not 64 hex characters, or its file cannot be read.
    #[error("{source_name}: {message}")]
    BadKey {
        /// Where the key came from: the variable's name or the file's path.
        source_name: String,
        /// What is wrong with it (never the key itself).
        message: String,
    },
    /// The key is well formed but is not the one the project's registers were written with.
    #[error(
        "the register key does not open this project's registers (it was written with another key)"
    )]
    WrongKey,
    /// A sealed value does not open with the key (the old key, when re-keying), although the
    /// key passed the check: the value was altered or damaged.
    #[error("people row {fid}: column {column} cannot be decrypted")]
    Decrypt {
        /// Feature id of the row in `people`.
        fid: i64,
        /// The column (`name`, `id_number` or `phone`).
        column: &'static str,
    },
    /// A key subject's sealed fields do not open with the key although the key passed the
    /// check: the value was altered or damaged.
    #[error("key_subjects row {id}: its sealed fields cannot be decrypted")]
    SealedSubject {
        /// The subject's id.
        id: String,
    },
    /// The project records an ID fingerprint scheme this gridmap does not know (a newer one,
    /// or an unreadable record): nothing was written.
    #[error(
        "gridmap_meta: id_fingerprint_scheme is {found:?}; this gridmap knows schemes 1 and {FINGERPRINT_SCHEME}: use the gridmap that wrote the project, or a newer one"
    )]
    UnknownFingerprintScheme {
        /// The recorded value.
        found: String,
    },
    /// Rows of a household form were rejected and `skip_invalid` was off, so nothing was
    /// imported; every rejected row with its reason.
    #[error("{} rows rejected, nothing imported: {}", .0.len(), summary(.0))]
    Rejected(Vec<RowProblem>),
}

impl From<rusqlite::Error> for RegisterError {
    fn from(e: rusqlite::Error) -> Self {
        RegisterError::Store(StoreError::Sqlite(e))
    }
}

fn summary(rows: &[RowProblem]) -> String {
    let mut s: Vec<String> = rows.iter().take(5).map(|r| r.to_string()).collect();
    if rows.len() > 5 {
        s.push(format!("and {} more", rows.len() - 5));
    }
    s.join("; ")
}

/// A register operation's result.
pub type Result<T> = std::result::Result<T, RegisterError>;

/// A row of a form that was rejected or could not be linked, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowProblem {
    /// The row number in the file, 1-based as a spreadsheet shows it.
    pub row: usize,
    /// Why, in English; names the column, never the personal data in it.
    pub reason: String,
}

impl std::fmt::Display for RowProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "row {}: {}", self.row, self.reason)
    }
}

/// The key that encrypts names, ID numbers and phones. `Debug` prints nothing of it.
pub struct RegisterKey {
    aead: Aes256Gcm,
    /// HMAC-SHA256 keyed with the fingerprint key, ready to be cloned for each fingerprint.
    fingerprint: Hmac<Sha256>,
}

impl std::fmt::Debug for RegisterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RegisterKey(..)")
    }
}

impl RegisterKey {
    /// From 64 hex characters (surrounding white space ignored).
    pub fn from_hex(hex: &str) -> std::result::Result<Self, String> {
        let hex = hex.trim();
        if hex.len() != 64 {
            return Err(format!("expected 64 hex characters, found {}", hex.len()));
        }
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2).unwrap_or("zz"), 16)
                .map_err(|_| "not hexadecimal".to_string())?;
        }
        if bytes.iter().all(|b| *b == bytes[0]) {
            return Err("a key of one repeated byte is not a key".into());
        }
        let aead = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes));
        // A separate key for fingerprints, so that no key serves two algorithms.
        let mut sub = [0u8; 32];
        hkdf::Hkdf::<Sha256>::new(None, &bytes)
            .expand(FINGERPRINT_INFO.as_bytes(), &mut sub)
            .map_err(|_| "cannot derive the fingerprint key".to_string())?;
        let fingerprint = <Hmac<Sha256> as Mac>::new_from_slice(&sub)
            .map_err(|_| "cannot key the fingerprint".to_string())?;
        Ok(RegisterKey { aead, fingerprint })
    }

    /// From `GRIDMAP_KEY`, else from the file named by `GRIDMAP_KEY_FILE`; an error naming both
    /// when neither is set. There is no default key.
    pub fn from_env() -> Result<Self> {
        if let Ok(hex) = std::env::var(KEY_VAR) {
            return Self::from_hex(&hex).map_err(|message| RegisterError::BadKey {
                source_name: KEY_VAR.into(),
                message,
            });
        }
        if let Some(path) = std::env::var_os(KEY_FILE_VAR) {
            let name = format!("{KEY_FILE_VAR} ({})", path.to_string_lossy());
            let text = std::fs::read_to_string(&path).map_err(|e| RegisterError::BadKey {
                source_name: name.clone(),
                message: e.to_string(),
            })?;
            return Self::from_hex(&text).map_err(|message| RegisterError::BadKey {
                source_name: name,
                message,
            });
        }
        Err(RegisterError::NoKey)
    }

    /// Encrypts `plain` for `column`: version byte 1, 12-byte random nonce, ciphertext and tag.
    pub fn seal(&self, column: &str, plain: &str) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ct = self
            .aead
            .encrypt(
                &nonce,
                Payload {
                    msg: plain.as_bytes(),
                    aad: column.as_bytes(),
                },
            )
            .expect("AES-GCM encrypts any message shorter than 64 GiB");
        let mut out = Vec::with_capacity(1 + 12 + ct.len());
        out.push(1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Decrypts what [`seal`](Self::seal) made for the same column.
    pub fn open(&self, column: &str, sealed: &[u8]) -> Option<String> {
        if sealed.len() < 13 || sealed[0] != 1 {
            return None;
        }
        let plain = self
            .aead
            .decrypt(
                Nonce::from_slice(&sealed[1..13]),
                Payload {
                    msg: &sealed[13..],
                    aad: column.as_bytes(),
                },
            )
            .ok()?;
        String::from_utf8(plain).ok()
    }

    /// The sealed value in cell `i` of `row` of `people` (whose `fid` is given), decrypted for
    /// `column`; `None` for a NULL cell.
    pub(crate) fn open_cell(
        &self,
        row: &rusqlite::Row,
        i: usize,
        column: &'static str,
        fid: i64,
    ) -> Result<Option<String>> {
        let b: Option<Vec<u8>> = row.get(i)?;
        b.map(|b| {
            self.open(column, &b)
                .ok_or(RegisterError::Decrypt { fid, column })
        })
        .transpose()
    }

    /// A keyed fingerprint of an ID number (scheme 2, [`FINGERPRINT_SCHEME`]): HMAC-SHA256 of
    /// its UTF-8 bytes under the key HKDF-SHA256 derives from the register key with
    /// [`FINGERPRINT_INFO`], as 64 lower-case hex digits. Equal numbers give equal
    /// fingerprints; without the key it reveals nothing of the number.
    pub fn fingerprint(&self, id_number: &str) -> String {
        let mut mac = self.fingerprint.clone();
        mac.update(id_number.as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// How personal data is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Masked: `张*`, `3206**********1234`, `138****5678`.
    Masked,
    /// In clear, for callers allowed to see it.
    Clear,
}

/// Options of a household import.
#[derive(Debug, Clone, Copy, Default)]
pub struct HouseholdOptions {
    /// Import the good rows and report the others; otherwise any rejected row rejects all.
    pub skip_invalid: bool,
}

/// What a household import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HouseholdImport {
    /// Rows given to the import.
    pub rows: usize,
    /// Houses new to the register (an address key not seen before).
    pub houses_created: usize,
    /// Houses already in the register that rows of this form named (each counted once).
    pub houses_existing: usize,
    /// People added: an ID number not in the register, or none at all.
    pub people_inserted: usize,
    /// People already in the register (same ID number) whose record the row replaced.
    pub people_updated: usize,
    /// Rows whose house is linked to a building.
    pub rows_linked: usize,
    /// Rows rejected here (address unreadable or not down to 栋/号).
    pub rejected: Vec<RowProblem>,
    /// Rows imported whose house could not be linked to a building, with the reason.
    pub unlinked: Vec<RowProblem>,
    /// Rows of rented houses (租住) whose remarks lack what the form's rule 4 asks (房主,
    /// 承租期限, 租赁原因): imported, to be completed at the next visit.
    pub rentals_incomplete: Vec<RowProblem>,
}

const HOUSES_SQL: &str = "CREATE TABLE IF NOT EXISTS houses (
    fid INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, building TEXT,
    address_key TEXT NOT NULL UNIQUE, address TEXT NOT NULL, nature TEXT, remarks TEXT,
    link TEXT, link_reason TEXT);
  CREATE INDEX IF NOT EXISTS houses_by_building ON houses (building);
  CREATE TABLE IF NOT EXISTS people (
    fid INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
    house TEXT NOT NULL REFERENCES houses (id), name BLOB NOT NULL, id_number BLOB,
    id_fingerprint TEXT UNIQUE, occupation TEXT, employer TEXT, relation TEXT,
    marital_status TEXT, hukou_match INTEGER, phone BLOB, source_row INTEGER, residence TEXT);
  CREATE INDEX IF NOT EXISTS people_by_house ON people (house);
  INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description)
    VALUES ('houses', 'attributes', 'houses', 'houses (户/室) of the household registers'),
           ('people', 'attributes', 'people', 'people (实有人口); name, id_number and phone encrypted');";

/// The constant a store seals with the register key to check later that a key is the one its
/// registers were written with (the column it is bound to is `gridmap_meta`).
pub const KEY_CHECK: &str = "gridmap register key check";

/// The column a house's sealed remarks are bound to.
pub const REMARKS_COLUMN: &str = "houses.remarks";

/// A person's sealed values: fid, name, ID number, phone.
type SealedRow = (i64, Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>);

/// How a house was linked to its building.
const LINK_KEY: &str = "address_key";
const LINK_ROAD: &str = "road_number";
const LINK_RANGE: &str = "number_range";
const LINK_COMPOUND: &str = "compound_building";
const LINK_PLATE: &str = "plate";

/// The project's standard addresses, parsed and indexed for matching houses to buildings.
pub struct StandardAddresses {
    entries: Vec<Entry>,
    by_key: FxHashMap<String, Vec<usize>>,
    by_road_number: FxHashMap<(String, String), Vec<usize>>,
    ranges: FxHashMap<String, Vec<(u32, u32, usize)>>,
    by_compound_building: FxHashMap<(String, String), Vec<usize>>,
}

struct Entry {
    levels: Option<Levels>,
    /// The full normalised key (`None`: malformed).
    key: Option<String>,
    building: Option<String>,
}

pub(crate) fn local(levels: &Levels) -> Levels {
    Levels {
        province: None,
        city: None,
        district: None,
        town: None,
        ..levels.clone()
    }
}

pub(crate) fn admin_compatible(a: &Levels, b: &Levels) -> bool {
    [
        (&a.province, &b.province),
        (&a.city, &b.city),
        (&a.district, &b.district),
        (&a.town, &b.town),
    ]
    .iter()
    .all(|(x, y)| x.is_none() || y.is_none() || x == y)
}

fn range_of(number: &str) -> Option<(u32, u32)> {
    let (a, b) = number.split_once('-')?;
    let (a, b) = (a.parse().ok()?, b.parse().ok()?);
    (a <= b).then_some((a, b))
}

/// A house's building, how it was linked, and why not when it was not.
pub type Linked = (Option<String>, Option<&'static str>, Option<String>);

/// Where a house's address led.
pub(crate) enum Link {
    Building(String, &'static str),
    None(String),
}

/// An address point outside every footprint belongs to the nearest building within this
/// distance (metres).
pub const NEAREST_BUILDING_M: f64 = 10.0;

impl StandardAddresses {
    /// Parses and indexes `addresses`; each belongs to its declared building when that exists,
    /// else to the building whose footprint holds its point, else to the nearest building
    /// within [`NEAREST_BUILDING_M`].
    pub fn new(addresses: &[Address], buildings: &[Building]) -> Self {
        let known: FxHashSet<&str> = buildings.iter().map(|b| b.id.as_str()).collect();
        let index = BuildingIndex::new(buildings);
        let mut s = StandardAddresses {
            entries: Vec::with_capacity(addresses.len()),
            by_key: FxHashMap::default(),
            by_road_number: FxHashMap::default(),
            ranges: FxHashMap::default(),
            by_compound_building: FxHashMap::default(),
        };
        for a in addresses {
            let building = a
                .declared_building
                .clone()
                .filter(|b| known.contains(b.as_str()))
                .or_else(|| {
                    if !a.point.x().is_finite() {
                        return None;
                    }
                    let at = index.buildings_at(a.point.0);
                    match at.len() {
                        1 => Some(buildings[at[0] as usize].id.clone()),
                        // A point set just beside its building (doorway, street side).
                        0 => gridmap_core::validate::nearest_building(&index, a.point.0)
                            .filter(|(_, d)| *d <= NEAREST_BUILDING_M)
                            .map(|(i, _)| buildings[i as usize].id.clone()),
                        _ => None,
                    }
                });
            let parsed = a
                .text
                .as_deref()
                .and_then(|t| gridmap_address::parse(t).ok());
            let i = s.entries.len();
            if let Some(p) = &parsed {
                let l = &p.levels;
                s.by_key
                    .entry(gridmap_address::key_of(&local(l)))
                    .or_default()
                    .push(i);
                if let (Some(r), Some(n)) = (&l.road, &l.number) {
                    s.by_road_number
                        .entry((r.clone(), n.clone()))
                        .or_default()
                        .push(i);
                    if let Some((lo, hi)) = range_of(n) {
                        s.ranges.entry(r.clone()).or_default().push((lo, hi, i));
                    }
                }
                if let (Some(c), Some(b)) = (&l.compound, &l.building) {
                    s.by_compound_building
                        .entry((c.clone(), b.clone()))
                        .or_default()
                        .push(i);
                }
            }
            s.entries.push(Entry {
                key: parsed.as_ref().map(|p| p.normalized.clone()),
                levels: parsed.map(|p| p.levels),
                building,
            });
        }
        s
    }

    /// The building each address belongs to, in the order of the addresses given to
    /// [`StandardAddresses::new`] (`None`: no building).
    pub(crate) fn buildings(&self) -> impl Iterator<Item = Option<&str>> {
        self.entries.iter().map(|e| e.building.as_deref())
    }

    /// The buildings of the compatible entries among `found`: `Some` when any entry matched.
    fn decide(&self, levels: &Levels, found: &[usize], how: &'static str) -> Option<Link> {
        let hits: Vec<&Entry> = found
            .iter()
            .map(|i| &self.entries[*i])
            .filter(|e| {
                e.levels
                    .as_ref()
                    .is_some_and(|l| admin_compatible(l, levels))
            })
            .collect();
        if hits.is_empty() {
            return None;
        }
        let buildings: FxHashSet<&str> =
            hits.iter().filter_map(|e| e.building.as_deref()).collect();
        Some(match buildings.len() {
            0 => Link::None(format!(
                "standard address {} has no building",
                hits[0].key.as_deref().unwrap_or("")
            )),
            1 => Link::Building(
                buildings.into_iter().next().unwrap_or_default().to_string(),
                how,
            ),
            n => Link::None(format!(
                "matches standard addresses of {n} buildings (一号多址) by {how}"
            )),
        })
    }

    pub(crate) fn link(&self, levels: &Levels) -> Link {
        let l = local(levels);
        let strips: [fn(&mut Levels); 3] =
            [|l| l.room = None, |l| l.floor = None, |l| l.unit = None];
        let mut k = l.clone();
        for strip in strips {
            strip(&mut k);
            if let Some(found) = self.by_key.get(&gridmap_address::key_of(&k))
                && let Some(link) = self.decide(levels, found, LINK_KEY)
            {
                return link;
            }
        }
        if let (Some(r), Some(n)) = (&l.road, &l.number) {
            if let Some(found) = self.by_road_number.get(&(r.clone(), n.clone()))
                && let Some(link) = self.decide(levels, found, LINK_ROAD)
            {
                return link;
            }
            if let (Ok(num), Some(ranges)) = (n.parse::<u32>(), self.ranges.get(r)) {
                let found: Vec<usize> = ranges
                    .iter()
                    .filter(|(lo, hi, _)| (*lo..=*hi).contains(&num))
                    .map(|(_, _, i)| *i)
                    .collect();
                if let Some(link) = self.decide(levels, &found, LINK_RANGE) {
                    return link;
                }
            }
        }
        if let (Some(c), Some(b)) = (&l.compound, &l.building)
            && let Some(found) = self.by_compound_building.get(&(c.clone(), b.clone()))
            && let Some(link) = self.decide(levels, found, LINK_COMPOUND)
        {
            return link;
        }
        Link::None(format!(
            "no standard address matches {}",
            gridmap_address::key_of(&l)
        ))
    }
}

/// A household form checked and linked, before anything is written: what every store's
/// [`GpkgStore::import_households`] does first, so that the stores agree on it.
pub struct PreparedHouseholds<'a> {
    /// The import's report so far: the rows, those rejected, those not linked (with why), those
    /// linked, and the rentals whose remarks are incomplete; the counts of what is written are
    /// for the store to add.
    pub report: HouseholdImport,
    /// The rows to write, in order, each with its house's normalised address.
    pub rows: Vec<(&'a FormRow, String)>,
    /// By normalised address: the house's building, how it was linked, why not.
    pub links: FxHashMap<String, Linked>,
}

/// Parses each row's address, rejects those unreadable or not down to 栋/号, links each house
/// to a building through `standard` (or to building `at`, a household declared through its
/// QR plate, with link `plate`), and notes the rentals whose remarks lack what the form's
/// rule 4 asks. With rows rejected and without `skip_invalid`: [`RegisterError::Rejected`].
pub fn prepare_households<'a>(
    rows: &'a [FormRow],
    standard: &StandardAddresses,
    options: HouseholdOptions,
    at: Option<&str>,
) -> Result<PreparedHouseholds<'a>> {
    let mut out = HouseholdImport {
        rows: rows.len(),
        ..Default::default()
    };
    // Parse and link first: nothing is written when a row is rejected.
    let mut ready = Vec::with_capacity(rows.len());
    let mut links: FxHashMap<String, Linked> = FxHashMap::default();
    for r in rows {
        let parsed = match gridmap_address::parse(&r.address) {
            Ok(p) => p,
            Err(e) => {
                out.rejected.push(RowProblem {
                    row: r.row,
                    reason: format!("住址: {e}"),
                });
                continue;
            }
        };
        let l = &parsed.levels;
        if l.number.is_none() && l.building.is_none() {
            out.rejected.push(RowProblem {
                row: r.row,
                reason: "住址 does not reach 栋/号 (no house number or building)".into(),
            });
            continue;
        }
        let entry = links.entry(parsed.normalized.clone()).or_insert_with(|| {
            match (at, standard.link(l)) {
                (Some(b), _) => (Some(b.to_string()), Some(LINK_PLATE), None),
                (None, Link::Building(b, how)) => (Some(b), Some(how), None),
                (None, Link::None(why)) => (None, None, Some(why)),
            }
        });
        match &entry.2 {
            Some(why) => out.unlinked.push(RowProblem {
                row: r.row,
                reason: why.clone(),
            }),
            None => out.rows_linked += 1,
        }
        ready.push((r, parsed.normalized));
    }
    if !out.rejected.is_empty() && !options.skip_invalid {
        return Err(RegisterError::Rejected(out.rejected));
    }
    // The form's rule 4: a rented house's remarks name the landlord, the lease and its reason.
    // Reported, not refused: the worker completes it at the next visit.
    for (r, _) in &ready {
        if r.nature == Some(HouseNature::Rented) {
            let missing = rental_remarks_missing(r.remarks.as_deref().unwrap_or(""));
            if !missing.is_empty() {
                out.rentals_incomplete.push(RowProblem {
                    row: r.row,
                    reason: format!("租住: 备注 lacks {}", missing.join(", ")),
                });
            }
        }
    }
    Ok(PreparedHouseholds {
        report: out,
        rows: ready,
        links,
    })
}

fn nature_of(s: Option<String>) -> Option<HouseNature> {
    s.as_deref().and_then(HouseNature::parse)
}

impl GpkgStore {
    /// Creates the `houses` and `people` tables if they are missing (idempotent).
    pub fn ensure_register_tables(&self) -> Result<()> {
        let conn = self.connection();
        conn.execute_batch(HOUSES_SQL)?;
        // 人口类型, added with the campaign scorecard: files from before lack the column.
        let has: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM pragma_table_info('people') WHERE name = 'residence')",
            [],
            |r| r.get(0),
        )?;
        if !has {
            conn.execute_batch("ALTER TABLE people ADD COLUMN residence TEXT")?;
        }
        Ok(())
    }

    /// Seals the remarks that files from before kept in clear (they may name a landlord and a
    /// phone), inside the caller's transaction, after its key check.
    fn seal_clear_remarks(tx: &Transaction, key: &RegisterKey) -> Result<()> {
        let clear: Vec<(i64, String)> = {
            let mut stmt =
                tx.prepare("SELECT fid, remarks FROM houses WHERE typeof(remarks) = 'text'")?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?
        };
        let mut update = tx.prepare("UPDATE houses SET remarks = ?2 WHERE fid = ?1")?;
        for (fid, text) in clear {
            update.execute(params![fid, key.seal(REMARKS_COLUMN, &text)])?;
        }
        Ok(())
    }

    /// Each house's remarks, opened with the register key, by house id (houses without remarks
    /// are left out).
    pub fn house_remarks(&self, key: &RegisterKey) -> Result<FxHashMap<String, String>> {
        self.ensure_register_tables()?;
        let mut stmt = self
            .connection()
            .prepare("SELECT id, remarks FROM houses WHERE remarks IS NOT NULL")?;
        let mut rows = stmt.query([])?;
        let mut out = FxHashMap::default();
        while let Some(r) = rows.next()? {
            let id: String = r.get(0)?;
            let text = match r.get_ref(1)? {
                rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                rusqlite::types::ValueRef::Blob(b) => key
                    .open(REMARKS_COLUMN, b)
                    .ok_or(RegisterError::SealedSubject { id: id.clone() })?,
                _ => continue,
            };
            out.insert(id, text);
        }
        Ok(out)
    }

    pub(crate) fn check_key(tx: &Transaction, key: &RegisterKey) -> Result<()> {
        let check: Option<String> = tx
            .query_row(
                "SELECT value FROM gridmap_meta WHERE key = 'register_key_check'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        match check {
            Some(hex) => {
                let bytes: Option<Vec<u8>> = (0..hex.len() / 2)
                    .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
                    .collect();
                match bytes.and_then(|b| key.open("gridmap_meta", &b)) {
                    Some(s) if s == KEY_CHECK => Ok(()),
                    _ => Err(RegisterError::WrongKey),
                }
            }
            None => {
                let sealed: String = key
                    .seal("gridmap_meta", KEY_CHECK)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                tx.execute(
                    "INSERT INTO gridmap_meta (key, value) VALUES ('register_key_check', ?1)",
                    [sealed],
                )?;
                Ok(())
            }
        }
    }

    /// The fingerprint scheme the project's `people.id_fingerprint` values follow: the
    /// `gridmap_meta.id_fingerprint_scheme` record, or 1 for projects written before it.
    pub fn fingerprint_scheme(&self) -> Result<u32> {
        Self::scheme_in(self.connection())
    }

    fn scheme_in(conn: &rusqlite::Connection) -> Result<u32> {
        let v: Option<String> = conn
            .query_row(
                "SELECT value FROM gridmap_meta WHERE key = 'id_fingerprint_scheme'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        match v {
            None => Ok(1),
            Some(v) => match v.parse() {
                Ok(n @ 1..=FINGERPRINT_SCHEME) => Ok(n),
                _ => Err(RegisterError::UnknownFingerprintScheme { found: v }),
            },
        }
    }

    fn set_scheme(tx: &Transaction) -> Result<()> {
        tx.execute(
            "INSERT OR REPLACE INTO gridmap_meta (key, value) VALUES ('id_fingerprint_scheme', ?1)",
            [FINGERPRINT_SCHEME.to_string()],
        )?;
        Ok(())
    }

    /// Recomputes every person's fingerprint under `key`'s current scheme from their ID
    /// number, sealed in the project, and records the scheme. `key` must be the project's key
    /// (checked first). Answers how many fingerprints were recomputed: 0 when the project
    /// already follows [`FINGERPRINT_SCHEME`] (then nothing is written).
    pub fn upgrade_fingerprints(&mut self, key: &RegisterKey) -> Result<usize> {
        self.ensure_register_tables()?;
        let tx = self.connection().unchecked_transaction()?;
        Self::check_key(&tx, key)?;
        let n = Self::upgrade_fingerprints_in(&tx, key)?;
        tx.commit()?;
        Ok(n)
    }

    /// [`Self::upgrade_fingerprints`] inside the caller's transaction (after its key check),
    /// so that a write with an old-scheme project upgrades it and writes in one go.
    ///
    /// # Performance
    /// Nothing when the project is up to date; else one decryption and one HMAC per person
    /// with an ID number (a few µs each).
    pub(crate) fn upgrade_fingerprints_in(tx: &Transaction, key: &RegisterKey) -> Result<usize> {
        let scheme = Self::scheme_in(tx)?;
        if scheme == FINGERPRINT_SCHEME {
            return Ok(0);
        }
        let rows: Vec<(i64, Vec<u8>)> = {
            let mut stmt = tx.prepare(
                "SELECT fid, id_number FROM people WHERE id_number IS NOT NULL ORDER BY fid",
            )?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?
        };
        {
            // Scheme 1 fingerprints are 32 hex digits, scheme 2 ones 64: an updated row never
            // meets a not-yet-updated one in the UNIQUE index.
            let mut update = tx.prepare("UPDATE people SET id_fingerprint = ?2 WHERE fid = ?1")?;
            for (fid, sealed) in &rows {
                let id = key
                    .open("id_number", sealed)
                    .ok_or(RegisterError::Decrypt {
                        fid: *fid,
                        column: "id_number",
                    })?;
                update.execute(params![fid, key.fingerprint(&id)])?;
            }
        }
        Self::set_scheme(tx)?;
        Ok(rows.len())
    }

    /// Imports the rows of a household form: creates each house from its normalised address
    /// (or finds it), links it to a building through the standard addresses, and creates or
    /// updates each person (by ID number) in that house. One transaction: with rows rejected
    /// here (address unreadable or not down to 栋/号) and without `skip_invalid`, nothing is
    /// written and [`RegisterError::Rejected`] lists them.
    ///
    /// # Performance
    /// Parses every address once (~2 µs) and seals up to three values per row (~1 µs each);
    /// the standard addresses are indexed once.
    pub fn import_households(
        &mut self,
        rows: &[FormRow],
        key: &RegisterKey,
        options: HouseholdOptions,
    ) -> Result<HouseholdImport> {
        self.import_households_in(rows, key, options, None)
    }

    /// [`Self::import_households`], every house linked to building `at` when given (a
    /// household declared through the QR plate on that building: where it lives is known,
    /// whatever its address matches), with link `plate`.
    pub(crate) fn import_households_in(
        &mut self,
        rows: &[FormRow],
        key: &RegisterKey,
        options: HouseholdOptions,
        at: Option<&str>,
    ) -> Result<HouseholdImport> {
        self.ensure_register_tables()?;
        let standard = StandardAddresses::new(&self.addresses()?, &self.buildings()?);
        let PreparedHouseholds {
            report: mut out,
            rows: ready,
            links,
        } = prepare_households(rows, &standard, options, at)?;
        let tx = self.connection().unchecked_transaction()?;
        Self::check_key(&tx, key)?;
        // People are found by fingerprint: those of an older scheme are recomputed first.
        Self::upgrade_fingerprints_in(&tx, key)?;
        Self::seal_clear_remarks(&tx, key)?;
        let mut next_house: i64 =
            tx.query_row("SELECT COALESCE(MAX(fid), 0) FROM houses", [], |r| r.get(0))?;
        let mut next_person: i64 =
            tx.query_row("SELECT COALESCE(MAX(fid), 0) FROM people", [], |r| r.get(0))?;
        {
            let mut find_house = tx.prepare("SELECT id FROM houses WHERE address_key = ?1")?;
            let mut add_house = tx.prepare(
                "INSERT INTO houses (id, building, address_key, address, nature, remarks, link, link_reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            let mut touch_house = tx.prepare(
                "UPDATE houses SET building = ?2, link = ?3, link_reason = ?4,
                   nature = COALESCE(?5, nature), remarks = COALESCE(?6, remarks) WHERE id = ?1",
            )?;
            let mut find_person = tx.prepare("SELECT id FROM people WHERE id_fingerprint = ?1")?;
            let mut add_person = tx.prepare(
                "INSERT INTO people (id, house, name, id_number, id_fingerprint, occupation, employer,
                   relation, marital_status, hukou_match, phone, source_row, residence)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?;
            let mut update_person = tx.prepare(
                "UPDATE people SET house = ?2, name = ?3, id_number = ?4, occupation = ?6,
                   employer = ?7, relation = ?8, marital_status = ?9, hukou_match = ?10, phone = ?11,
                   source_row = ?12, residence = COALESCE(?13, residence)
                 WHERE id = ?1 AND id_fingerprint = ?5",
            )?;
            let mut houses_seen: FxHashSet<String> = FxHashSet::default();
            for (r, key_text) in &ready {
                let (building, how, why) = links.get(key_text).cloned().unwrap_or_default();
                let nature = r.nature.map(HouseNature::as_str);
                let remarks = r.remarks.as_deref().map(|t| key.seal(REMARKS_COLUMN, t));
                let house: Option<String> = find_house
                    .query_row([key_text], |row| row.get(0))
                    .optional()?;
                let house = match house {
                    Some(h) => {
                        if houses_seen.insert(h.clone()) {
                            out.houses_existing += 1;
                        }
                        touch_house.execute(params![h, building, how, why, nature, remarks])?;
                        h
                    }
                    None => {
                        next_house += 1;
                        let h = format!("h{next_house}");
                        add_house.execute(params![
                            h, building, key_text, r.address, nature, remarks, how, why
                        ])?;
                        houses_seen.insert(h.clone());
                        out.houses_created += 1;
                        h
                    }
                };
                let fp = r.id_number.as_deref().map(|i| key.fingerprint(i));
                let name = key.seal("name", &r.name);
                let idn = r.id_number.as_deref().map(|i| key.seal("id_number", i));
                let phone = r.phone.as_deref().map(|p| key.seal("phone", p));
                let existing: Option<String> = match &fp {
                    Some(f) => find_person.query_row([f], |row| row.get(0)).optional()?,
                    None => None,
                };
                let id = match &existing {
                    Some(id) => id.clone(),
                    None => {
                        next_person += 1;
                        format!("p{next_person}")
                    }
                };
                let values = params![
                    id,
                    house,
                    name,
                    idn,
                    fp,
                    r.occupation,
                    r.employer,
                    r.relation,
                    r.marital_status,
                    r.hukou_match,
                    phone,
                    r.row as i64,
                    r.residence.map(Residence::as_str)
                ];
                if existing.is_some() {
                    update_person.execute(values)?;
                    out.people_updated += 1;
                } else {
                    add_person.execute(values)?;
                    out.people_inserted += 1;
                }
            }
        }
        tx.commit()?;
        Ok(out)
    }

    /// Every house, by id order.
    pub fn houses(&self) -> Result<Vec<House>> {
        self.houses_where(None)
    }

    /// The houses of building `building`, by id order.
    pub fn houses_of(&self, building: &str) -> Result<Vec<House>> {
        self.houses_where(Some(building))
    }

    /// The houses of `building` (every house for `None`), by id order.
    fn houses_where(&self, building: Option<&str>) -> Result<Vec<House>> {
        self.ensure_register_tables()?;
        let mut stmt = self.connection().prepare(&format!(
            "SELECT id, building, address_key, address, nature FROM houses {} ORDER BY fid",
            if building.is_some() {
                "WHERE building = ?1"
            } else {
                ""
            }
        ))?;
        let houses = stmt
            .query_map(rusqlite::params_from_iter(building), |r| {
                Ok(House {
                    id: r.get(0)?,
                    building: r.get(1)?,
                    address_key: r.get(2)?,
                    address: r.get(3)?,
                    nature: nature_of(r.get(4)?),
                    // Sealed: see `house_remarks`.
                    remarks: None,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(houses)
    }

    /// Re-encrypts the registers from key `old` to key `new` in one transaction: every name, ID
    /// number and phone, house remarks, key subjects, the people of declarations still waiting
    /// for review, every ID fingerprint (recomputed under the current
    /// [`FINGERPRINT_SCHEME`], which it records), and the key check. Answers the number of
    /// people.
    /// All or nothing: a value `old` cannot open (the wrong key) changes nothing.
    pub fn rekey(&mut self, old: &RegisterKey, new: &RegisterKey) -> Result<usize> {
        self.ensure_register_tables()?;
        let tx = self.connection().unchecked_transaction()?;
        Self::check_key(&tx, old)?;
        let rows: Vec<SealedRow> = {
            let mut stmt =
                tx.prepare("SELECT fid, name, id_number, phone FROM people ORDER BY fid")?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<rusqlite::Result<_>>()?
        };
        {
            let mut update = tx.prepare(
                "UPDATE people SET name = ?2, id_number = ?3, phone = ?4, id_fingerprint = ?5 WHERE fid = ?1",
            )?;
            for (fid, name, id_number, phone) in &rows {
                let reseal = |b: &Option<Vec<u8>>,
                              column: &'static str|
                 -> Result<(Option<Vec<u8>>, Option<String>)> {
                    match b {
                        None => Ok((None, None)),
                        Some(b) => {
                            let plain = old
                                .open(column, b)
                                .ok_or(RegisterError::Decrypt { fid: *fid, column })?;
                            Ok((Some(new.seal(column, &plain)), Some(plain)))
                        }
                    }
                };
                let (name, _) = reseal(name, "name")?;
                let (id_sealed, id_plain) = reseal(id_number, "id_number")?;
                let (phone, _) = reseal(phone, "phone")?;
                let fingerprint = id_plain.as_deref().map(|id| new.fingerprint(id));
                update.execute(rusqlite::params![fid, name, id_sealed, phone, fingerprint])?;
            }
        }
        // Houses' remarks (clear ones from older files are sealed on the way) and key subjects.
        Self::seal_clear_remarks(&tx, old)?;
        Self::reseal_column(&tx, old, new, "houses", "remarks", REMARKS_COLUMN)?;
        Self::ensure_key_subjects_in(&tx)?;
        Self::reseal_column(
            &tx,
            old,
            new,
            "key_subjects",
            "sealed",
            crate::key_subjects::SEALED_COLUMN,
        )?;
        // Declarations waiting for review: their people would no longer open.
        tx.execute_batch(crate::declarations::DECLARATIONS_SQL)?;
        Self::reseal_column(
            &tx,
            old,
            new,
            "gridmap_declarations",
            "people",
            crate::declarations::PEOPLE_COLUMN,
        )?;
        tx.execute(
            "DELETE FROM gridmap_meta WHERE key = 'register_key_check'",
            [],
        )?;
        Self::check_key(&tx, new)?;
        // Every fingerprint was just made with the current scheme, whatever the old one was.
        Self::set_scheme(&tx)?;
        tx.commit()?;
        Ok(rows.len())
    }

    /// Re-seals every value of `table.column` (bound to `bound`) from key `old` to `new`,
    /// inside the caller's transaction (rows by `rowid`, which every such table has as its
    /// integer key).
    fn reseal_column(
        tx: &Transaction,
        old: &RegisterKey,
        new: &RegisterKey,
        table: &str,
        column: &str,
        bound: &str,
    ) -> Result<()> {
        let rows: Vec<(i64, Vec<u8>)> = {
            let mut stmt = tx.prepare(&format!(
                "SELECT rowid, {column} FROM {table} WHERE typeof({column}) = 'blob'"
            ))?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?
        };
        let mut update = tx.prepare(&format!(
            "UPDATE {table} SET {column} = ?2 WHERE rowid = ?1"
        ))?;
        for (fid, sealed) in rows {
            let plain = old
                .open(bound, &sealed)
                .ok_or(RegisterError::SealedSubject {
                    id: format!("{table} row {fid}"),
                })?;
            update.execute(params![fid, new.seal(bound, &plain)])?;
        }
        Ok(())
    }

    /// The people registered in each building's houses (人房关联), by building id; buildings
    /// with none are left out.
    pub fn people_by_building(&self) -> Result<std::collections::HashMap<String, u64>> {
        self.ensure_register_tables()?;
        let mut stmt = self.connection().prepare(
            "SELECT h.building, count(p.fid) FROM houses h JOIN people p ON p.house = h.id
             WHERE h.building IS NOT NULL GROUP BY h.building",
        )?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
            .map(|r| r.map(|(b, n)| (b, n.max(0) as u64)))
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// The people registered in houses linked to no building (人房未关联): with
    /// [`people_by_building`](Self::people_by_building), every person of the register once.
    pub fn people_unlinked(&self) -> Result<u64> {
        self.ensure_register_tables()?;
        let n: i64 = self.connection().query_row(
            "SELECT count(*) FROM people p LEFT JOIN houses h ON h.id = p.house
             WHERE h.building IS NULL",
            [],
            |r| r.get(0),
        )?;
        Ok(n.max(0) as u64)
    }

    /// Whether house `house` is registered in building `building`.
    pub fn house_in_building(&self, house: &str, building: &str) -> Result<bool> {
        self.ensure_register_tables()?;
        Ok(self.connection().query_row(
            "SELECT EXISTS (SELECT 1 FROM houses WHERE id = ?1 AND building = ?2)",
            [house, building],
            |r| r.get(0),
        )?)
    }

    /// Every person, with name, ID number and phone decrypted, then masked unless `view` is
    /// [`View::Clear`].
    pub fn people(&self, key: &RegisterKey, view: View) -> Result<Vec<Person>> {
        self.people_where(key, view, None)
    }

    /// The people of the houses of building `building`, as [`people`](Self::people) reads
    /// them: only they are decrypted.
    pub fn people_of(&self, key: &RegisterKey, view: View, building: &str) -> Result<Vec<Person>> {
        self.people_where(key, view, Some(building))
    }

    /// The people of `building`'s houses (everyone for `None`), by id order.
    fn people_where(
        &self,
        key: &RegisterKey,
        view: View,
        building: Option<&str>,
    ) -> Result<Vec<Person>> {
        use gridmap_core::register::{mask_id_number, mask_name, mask_phone};
        self.ensure_register_tables()?;
        let mut stmt = self.connection().prepare(&format!(
            "SELECT fid, id, house, name, id_number, occupation, employer, relation, marital_status,
               hukou_match, phone, residence FROM people {} ORDER BY fid",
            if building.is_some() {
                "WHERE house IN (SELECT id FROM houses WHERE building = ?1)"
            } else {
                ""
            }
        ))?;
        let mut rows = stmt.query(rusqlite::params_from_iter(building))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let fid: i64 = r.get(0)?;
            let open = |i: usize, column: &'static str| key.open_cell(r, i, column, fid);
            let mut p = Person {
                id: r.get(1)?,
                house: r.get(2)?,
                name: open(3, "name")?.unwrap_or_default(),
                id_number: open(4, "id_number")?,
                occupation: r.get(5)?,
                employer: r.get(6)?,
                relation: r.get(7)?,
                marital_status: r.get(8)?,
                hukou_match: r.get(9)?,
                phone: open(10, "phone")?,
                residence: r
                    .get::<_, Option<String>>(11)?
                    .as_deref()
                    .and_then(Residence::parse),
            };
            if view == View::Masked {
                p.name = mask_name(&p.name);
                p.id_number = p.id_number.as_deref().map(mask_id_number);
                p.phone = p.phone.as_deref().map(mask_phone);
            }
            out.push(p);
        }
        Ok(out)
    }

    /// The register statistics per grid or village, with the town's totals. Needs no key:
    /// it reads no personal data.
    ///
    /// # Performance
    /// One assignment of every building to its grid (see `gridmap_core::assign`), one parse of
    /// every standard address, two passes over houses and people.
    pub fn register_stats(&self, by: GroupBy) -> Result<RegisterStats> {
        self.ensure_register_tables()?;
        let conn = self.connection();
        let mut stmt = conn.prepare(
            "SELECT h.building, count(p.fid) FROM houses h LEFT JOIN people p ON p.house = h.id
             GROUP BY h.id",
        )?;
        let houses = stmt
            .query_map([], |r| {
                Ok((r.get::<_, Option<String>>(0)?, r.get::<_, i64>(1)? as usize))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        stats_of(self, by, &houses)
    }
}

/// The register statistics of any [`Store`] per grid or village, with the town's totals:
/// buildings and standard addresses from the store's layers, and `houses` as (the building a
/// house is linked to, its number of people), one per house. A store without registers (the
/// PostgreSQL store, for now) passes none: its houses and people count 0.
/// [`GpkgStore::register_stats`] is this with the project's houses.
pub fn stats_of<S: Store + ?Sized>(
    store: &S,
    by: GroupBy,
    houses: &[(Option<String>, usize)],
) -> Result<RegisterStats> {
    let grids: Vec<_> = store.grids()?.into_iter().map(|g| g.grid).collect();
    let buildings = store.buildings()?;
    let addresses = store.addresses()?;
    let index = GridIndex::new(&grids, |_| false);
    let assignment = gridmap_core::assign_buildings(&index, &buildings);
    let group_of_grid = |g: u32| -> String {
        let g = &grids[g as usize];
        match by {
            GroupBy::Grid => g.code.clone(),
            GroupBy::Village => g.village.clone().unwrap_or_else(|| UNASSIGNED.into()),
        }
    };
    let building_group: FxHashMap<&str, String> = buildings
        .iter()
        .zip(&assignment)
        .map(|(b, a)| {
            (
                b.id.as_str(),
                a.grid()
                    .map_or_else(|| UNASSIGNED.to_string(), group_of_grid),
            )
        })
        .collect();
    let mut groups: BTreeMap<String, GroupStats> = BTreeMap::new();
    match by {
        GroupBy::Grid => grids.iter().for_each(|g| {
            groups.entry(g.code.clone()).or_default();
        }),
        GroupBy::Village => grids.iter().for_each(|g| {
            groups
                .entry(g.village.clone().unwrap_or_else(|| UNASSIGNED.into()))
                .or_default();
        }),
    }
    for g in building_group.values() {
        groups.entry(g.clone()).or_default().buildings += 1;
    }

    // Addresses: which group, which state.
    let standard = StandardAddresses::new(&addresses, &buildings);
    let addr_group: Vec<String> = addresses
        .iter()
        .zip(&standard.entries)
        .map(|(a, e)| match &e.building {
            Some(b) => building_group
                .get(b.as_str())
                .cloned()
                .unwrap_or_else(|| UNASSIGNED.into()),
            None if a.point.x().is_finite() => {
                let at = index.grids_at(a.point.0);
                at.inside
                    .first()
                    .or(at.on_edge.first())
                    .map_or_else(|| UNASSIGNED.to_string(), |g| group_of_grid(*g))
            }
            None => UNASSIGNED.into(),
        })
        .collect();
    let mut seen_keys: FxHashSet<&str> = FxHashSet::default();
    let mut duplicate = vec![false; addresses.len()];
    for (i, e) in standard.entries.iter().enumerate() {
        if let Some(k) = &e.key
            && !seen_keys.insert(k.as_str())
        {
            duplicate[i] = true;
        }
    }
    // 一号多址: one road+number on several buildings; 多号一址: one building, several numbers.
    let mut conflict = vec![false; addresses.len()];
    for found in standard.by_road_number.values() {
        let b: FxHashSet<&str> = found
            .iter()
            .filter_map(|i| standard.entries[*i].building.as_deref())
            .collect();
        if b.len() > 1 {
            found.iter().for_each(|i| conflict[*i] = true);
        }
    }
    let mut numbers_of: FxHashMap<&str, FxHashMap<(&str, &str), Vec<usize>>> = FxHashMap::default();
    for (i, e) in standard.entries.iter().enumerate() {
        if let (Some(b), Some(l)) = (&e.building, &e.levels)
            && let (Some(r), Some(n)) = (&l.road, &l.number)
        {
            numbers_of
                .entry(b.as_str())
                .or_default()
                .entry((r.as_str(), n.as_str()))
                .or_default()
                .push(i);
        }
    }
    for nums in numbers_of.values().filter(|n| n.len() > 1) {
        nums.values().flatten().for_each(|i| conflict[*i] = true);
    }
    let mut addressed: FxHashSet<&str> = FxHashSet::default();
    for (i, e) in standard.entries.iter().enumerate() {
        let g = groups.entry(addr_group[i].clone()).or_default();
        g.addresses += 1;
        if let Some(b) = &e.building {
            addressed.insert(b.as_str());
        }
        if e.key.is_none() {
            g.addresses_malformed += 1;
        } else if duplicate[i] {
            g.addresses_duplicate += 1;
        } else if conflict[i] {
            g.addresses_conflict += 1;
        } else if e.building.is_none() {
            g.addresses_without_building += 1;
        } else {
            g.addresses_matched += 1;
        }
    }
    for b in &buildings {
        if !addressed.contains(b.id.as_str())
            && let Some(g) = building_group.get(b.id.as_str())
        {
            groups
                .entry(g.clone())
                .or_default()
                .buildings_without_address += 1;
        }
    }

    // Houses and people.
    for (building, people) in houses {
        let people = *people;
        let group = building
            .as_deref()
            .and_then(|b| building_group.get(b).cloned())
            .unwrap_or_else(|| UNASSIGNED.into());
        let g = groups.entry(group).or_default();
        g.houses += 1;
        g.people += people;
        if people == 0 {
            g.houses_without_people += 1;
        }
        if building.is_some() {
            g.houses_linked += 1;
            g.people_linked += people;
        }
    }
    let mut town = GroupStats::default();
    let mut list = Vec::with_capacity(groups.len());
    for (code, mut g) in groups {
        g.code = code;
        g.finish();
        town.add(&g);
        list.push(g);
    }
    town.code = "town".into();
    town.finish();
    Ok(RegisterStats {
        by: match by {
            GroupBy::Grid => "grid",
            GroupBy::Village => "village",
        },
        linkage_target: LINKAGE_TARGET,
        groups: list,
        town,
    })
}

/// The group of buildings in no grid, and of houses linked to no building.
pub const UNASSIGNED: &str = "(unassigned)";

/// How [`GpkgStore::register_stats`] groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// One group per grid, by the grid each building is assigned to.
    Grid,
    /// One group per village or community, by its grids' `village`.
    Village,
}

/// The register figures of one grid, one village or the town.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GroupStats {
    /// Grid or village code, `(unassigned)`, or `town`.
    pub code: String,
    /// Buildings in the group.
    pub buildings: usize,
    /// Standard addresses in the group.
    pub addresses: usize,
    /// Linked to one building, and neither duplicate nor in conflict.
    pub addresses_matched: usize,
    /// 重: a later record with the normalised key of an earlier one.
    pub addresses_duplicate: usize,
    /// 一号多址 / 多号一址.
    pub addresses_conflict: usize,
    /// 漏: parsed, but no building.
    pub addresses_without_building: usize,
    /// 错: unparseable.
    pub addresses_malformed: usize,
    /// 漏: buildings that no standard address names.
    pub buildings_without_address: usize,
    /// Houses (户/室) in the register in the group.
    pub houses: usize,
    /// Houses linked to a building.
    pub houses_linked: usize,
    /// 空置, or not yet visited.
    pub houses_without_people: usize,
    /// People (实有人口) in the register in the group.
    pub people: usize,
    /// People whose house is linked to a building (人房关联).
    pub people_linked: usize,
    /// `people_linked / people`; `None` without people.
    pub linkage_rate: Option<f64>,
}

impl GroupStats {
    fn finish(&mut self) {
        self.linkage_rate =
            (self.people > 0).then(|| self.people_linked as f64 / self.people as f64);
    }

    fn add(&mut self, o: &GroupStats) {
        self.buildings += o.buildings;
        self.addresses += o.addresses;
        self.addresses_matched += o.addresses_matched;
        self.addresses_duplicate += o.addresses_duplicate;
        self.addresses_conflict += o.addresses_conflict;
        self.addresses_without_building += o.addresses_without_building;
        self.addresses_malformed += o.addresses_malformed;
        self.buildings_without_address += o.buildings_without_address;
        self.houses += o.houses;
        self.houses_linked += o.houses_linked;
        self.houses_without_people += o.houses_without_people;
        self.people += o.people;
        self.people_linked += o.people_linked;
    }
}

/// The register statistics of a project.
#[derive(Debug, Clone, Serialize)]
pub struct RegisterStats {
    /// `grid` or `village`.
    pub by: &'static str,
    /// The linkage rate aimed for ([`LINKAGE_TARGET`]).
    pub linkage_target: f64,
    /// One entry per grid or village, and `(unassigned)` when anything is, sorted by code.
    pub groups: Vec<GroupStats>,
    /// The whole town: the sum of the groups.
    pub town: GroupStats,
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn an_address_point_beside_its_building_links_to_it_within_ten_metres() {
        use geo::{MultiPolygon, Point, polygon};
        use gridmap_core::model::Footprint;
        // A 20 m × 20 m building at 31.2° N; 1e-5° of latitude is about 1.1 m.
        let house = Building {
            id: "b1".into(),
            footprint: Footprint::Area(MultiPolygon(vec![polygon![
                (x: 121.5, y: 31.2), (x: 121.50021, y: 31.2), (x: 121.50021, y: 31.20018), (x: 121.5, y: 31.20018)]])),
            households: 1,
            floors: None,
            kind: None,
        };
        let at = |id: &str, dy: f64| Address {
            id: id.into(),
            point: Point::new(121.5001, 31.2 - dy),
            text: Some("中山东一路1号".into()),
            declared_grid: None,
            declared_building: None,
        };
        let s = StandardAddresses::new(&[at("near", 5e-5), at("far", 3e-4)], &[house]);
        assert_eq!(
            s.entries[0].building.as_deref(),
            Some("b1"),
            "about 5.5 m away"
        );
        assert_eq!(s.entries[1].building, None, "about 33 m away");
    }

    #[test]
    fn sealing_is_random_bound_to_the_column_and_reversible() {
        let k = RegisterKey::from_hex(HEX).unwrap();
        let a = k.seal("name", "测试甲");
        let b = k.seal("name", "测试甲");
        assert_ne!(a, b, "a random nonce per value");
        assert_eq!(k.open("name", &a).as_deref(), Some("测试甲"));
        assert_eq!(k.open("phone", &a), None, "bound to its column");
        assert_eq!(k.fingerprint("x"), k.fingerprint("x"));
        assert_ne!(k.fingerprint("x"), k.fingerprint("y"));
        let other = RegisterKey::from_hex(&HEX.replace('0', "1")).unwrap();
        assert_eq!(other.open("name", &a), None);
        assert_ne!(other.fingerprint("x"), k.fingerprint("x"));
        assert!(RegisterKey::from_hex("abc").is_err());
        assert!(RegisterKey::from_hex(&"0".repeat(64)).is_err());
        assert_eq!(format!("{k:?}"), "RegisterKey(..)");
    }

    /// The scheme-2 fingerprint is HMAC-SHA256 under HKDF-SHA256(no salt, the key,
    /// [`FINGERPRINT_INFO`]): the expected values were computed independently with Python's
    /// `hmac` and `hashlib` (RFC 5869 by hand), so a change of algorithm, key derivation or
    /// info string fails here before it orphans a project's fingerprints.
    #[test]
    fn fingerprints_are_hmac_sha256_under_the_hkdf_derived_key() {
        let k = RegisterKey::from_hex(HEX).unwrap();
        assert_eq!(
            k.fingerprint("11010519900101001X"),
            "d0c4ff315f94b552d75d78beffc9d7a20ab46403c4a3490f8b3514929a135491"
        );
        assert_eq!(
            k.fingerprint("x"),
            "f57c8f682d5825a5611ea6e2d7a0be6bfc93cf822b5bddae0530d1f062961d00"
        );
        // Long numbers are hashed whole (scheme 1 cut them at 31 bytes).
        let long = "a-very-long-identifier-of-more-than-31-bytes";
        assert_ne!(k.fingerprint(long), k.fingerprint(&format!("{long}!")));
    }

    #[test]
    fn number_ranges() {
        assert_eq!(range_of("10-12"), Some((10, 12)));
        assert_eq!(range_of("12"), None);
        assert_eq!(range_of("4-7"), Some((4, 7)));
    }
}
