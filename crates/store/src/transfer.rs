//! A whole project as stored, to move a town between stores: out of a PostgreSQL database into
//! a GeoPackage file (a backup, 离线备份) and back into a database as a new town.
//!
//! [`ProjectCopy`] holds every row a project keeps, as stored: the layers, the current grids
//! with who changed them last and when, every version of every grid (with who, when, why and
//! the boundaries before and after), the users (their argon2 hashes), the audit log with its
//! times, the saved plans with their metadata, and the household registers *sealed*: names, ID
//! numbers, phones and remarks are copied as the ciphertext they are, with the fingerprints,
//! the key check and the fingerprint scheme recorded, so no key is needed and nothing is
//! decrypted on the way; the QR door plates keep their tokens, printing and scans, and the
//! declarations made through them their people sealed; the reconciliations with the police
//! register and their tasks go with them as stored. Signed-in sessions are not copied:
//! whoever uses the moved town signs in again.
//!
//! [`GpkgStore::copy_out`] reads one from a project file and [`GpkgStore::write_copy`] writes
//! one as a new project file through the store's own create and import paths (so the file is
//! what `gridmap init` and the imports make: it validates, counts, serves and opens in QGIS);
//! the PostgreSQL store has the same pair. Tables that a store cannot take yet are not dropped
//! silently: [`ProjectCopy::left_out`] names those holding rows, and a store that cannot keep
//! them refuses the copy.

use std::path::{Path, PathBuf};

use gridmap_core::model::{
    Address, BasemapFeature, BasemapLayer, Building, Town, Unit, Village, Visit,
};
use rusqlite::{OptionalExtension, params};

use crate::plans::{PlanEntry, SavedPlan};
use crate::reconcile::Task;
use crate::registers::FINGERPRINT_SCHEME;
use crate::wkb::encode;
use crate::{
    AuditEntry, GpkgStore, GridVersion, Mode, Result, Store, StoreError, StoredGrid, User,
};

/// Every row of a project, as stored (see the module's documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectCopy {
    /// The town and its boundary.
    pub town: Town,
    /// The villages, in the order they were written.
    pub villages: Vec<Village>,
    /// The current grids, in the order they were written.
    pub grids: Vec<CopiedGrid>,
    /// Every version of every grid (deleted grids too): the grid's code and the version,
    /// oldest first within a grid.
    pub history: Vec<(String, GridVersion)>,
    /// The buildings.
    pub buildings: Vec<Building>,
    /// The standard addresses.
    pub addresses: Vec<Address>,
    /// The units.
    pub units: Vec<Unit>,
    /// The visits.
    pub visits: Vec<Visit>,
    /// The basemap features, in the order they were written.
    pub basemap: Vec<BasemapFeature>,
    /// The users, with when each was added (UTC, RFC 3339).
    pub users: Vec<(User, String)>,
    /// The audit log, oldest first, with its original times.
    pub audit: Vec<AuditEntry>,
    /// The saved plans, oldest first, with their numbers, metadata and bodies.
    pub plans: Vec<SavedPlan>,
    /// The household registers, sealed.
    pub registers: SealedRegisters,
    /// The QR door plates and the declarations made through them, people sealed.
    pub plates: crate::plates::CopiedPlates,
    /// Tables of the source holding rows that this copy does not carry (the store of the
    /// source keeps them, the copy does not yet), with their row counts: a store writing the
    /// copy refuses it unless this is empty.
    pub left_out: Vec<(&'static str, usize)>,
}

/// A current grid and who changed it last, when.
#[derive(Debug, Clone, PartialEq)]
pub struct CopiedGrid {
    /// The grid and its version.
    pub stored: StoredGrid,
    /// When it last changed (UTC, RFC 3339), if recorded.
    pub updated_at: Option<String>,
    /// Who changed it last, if recorded.
    pub updated_by: Option<String>,
}

/// The household registers as stored: personal data sealed with the project's register key;
/// with them, the reconciliations with the police register and their tasks, as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SealedRegisters {
    /// The key check: the constant `registers::KEY_CHECK` sealed with the register key, if the
    /// registers were ever written.
    pub key_check: Option<Vec<u8>>,
    /// The fingerprint scheme recorded (`None`: none recorded, which reads as scheme 1).
    pub fingerprint_scheme: Option<u32>,
    /// The houses, in the order they were made.
    pub houses: Vec<SealedHouse>,
    /// The people, in the order they were made.
    pub people: Vec<SealedPerson>,
    /// The key units, places and persons, in the order they were made; all but the building,
    /// house and who changed them when sealed ([`crate::key_subjects`]).
    pub key_subjects: Vec<SealedKeySubject>,
    /// The reconciliations' tasks, by number, each with its subject (an ID fingerprint).
    pub tasks: Vec<(Task, Option<String>)>,
    /// The reconciliations' figures, a row per run and grid, in the order written.
    pub reconciliations: Vec<CopiedReconciliation>,
}

/// A row of `gridmap_reconciliations` as stored; `counts` are matched, matched_same_address,
/// police_only, register_only and address_mismatch
/// ([`crate::reconcile::ReconciliationRecord::new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // the columns of `gridmap_reconciliations`, see `reconcile`
pub struct CopiedReconciliation {
    pub run: i64,
    pub at: String,
    pub source: String,
    pub grid: String,
    pub counts: [i64; 5],
}

/// A key subject as stored: its kind, category, name, attention level and note in `sealed`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // the columns of `key_subjects`, see `key_subjects`
pub struct SealedKeySubject {
    pub id: String,
    pub building: String,
    pub house: Option<String>,
    pub rated: bool,
    pub sealed: Vec<u8>,
    pub updated_by: String,
    pub updated_at: String,
}

/// A house as stored; `remarks` sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // the columns of `houses`, see `registers`
pub struct SealedHouse {
    pub fid: i64,
    pub id: String,
    pub building: Option<String>,
    pub address_key: String,
    pub address: String,
    pub nature: Option<String>,
    pub remarks: Option<Vec<u8>>,
    pub link: Option<String>,
    pub link_reason: Option<String>,
}

/// A person as stored: `name`, `id_number` and `phone` sealed, the ID fingerprint as computed.
/// `Debug` shows the sealed bytes only, never clear data.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // the columns of `people`, see `registers`
pub struct SealedPerson {
    pub fid: i64,
    pub id: String,
    pub house: String,
    pub name: Vec<u8>,
    pub id_number: Option<Vec<u8>>,
    pub id_fingerprint: Option<String>,
    pub occupation: Option<String>,
    pub employer: Option<String>,
    pub relation: Option<String>,
    pub marital_status: Option<String>,
    pub hukou_match: Option<bool>,
    pub phone: Option<Vec<u8>>,
    pub source_row: Option<i64>,
    pub residence: Option<String>,
}

/// Tables of a GeoPackage project that [`ProjectCopy`] does not carry yet, and what they are.
pub const NOT_COPIED: [(&str, &str); 0] = [];

impl ProjectCopy {
    /// The basemap's features by layer, the empty layers left out: how both stores import them.
    pub fn basemap_layers(&self) -> Vec<(BasemapLayer, Vec<BasemapFeature>)> {
        BasemapLayer::ALL
            .into_iter()
            .map(|layer| {
                let features = self
                    .basemap
                    .iter()
                    .filter(|f| f.layer == layer)
                    .cloned()
                    .collect::<Vec<_>>();
                (layer, features)
            })
            .filter(|(_, features)| !features.is_empty())
            .collect()
    }

    /// Reads the layers every store has through [`Store`]; the rest is left empty for the
    /// store's own reader to fill.
    pub fn layers_of(store: &dyn Store) -> Result<ProjectCopy> {
        Ok(ProjectCopy {
            town: store.town()?,
            villages: store.villages()?,
            grids: Vec::new(),
            history: Vec::new(),
            buildings: store.buildings()?,
            addresses: store.addresses()?,
            units: store.units()?,
            visits: store.visits()?,
            basemap: store.basemap()?,
            users: Vec::new(),
            audit: Vec::new(),
            plans: Vec::new(),
            registers: SealedRegisters::default(),
            plates: Default::default(),
            left_out: Vec::new(),
        })
    }

    /// Refuses the copy, naming the tables, when it leaves rows of its source out.
    pub fn check_complete(&self, destination: &str) -> Result<()> {
        if self.left_out.is_empty() {
            return Ok(());
        }
        // The first table names the error; the others follow in its message.
        let tables: Vec<String> = self
            .left_out
            .iter()
            .enumerate()
            .map(|(i, (t, n))| {
                let what = NOT_COPIED
                    .iter()
                    .find(|(name, _)| name == t)
                    .map_or("", |(_, what)| what);
                let table = if i == 0 {
                    String::new()
                } else {
                    format!("{t} ")
                };
                format!("{table}holds {n} rows ({what})")
            })
            .collect();
        Err(StoreError::Import {
            layer: self.left_out[0].0,
            message: format!(
                "{}, which {destination} does not keep yet: nothing was copied",
                tables.join("; ")
            ),
        })
    }

    /// Counts of what the copy holds, for a message: (what, how many).
    pub fn summary(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("villages", self.villages.len()),
            ("grids", self.grids.len()),
            ("grid versions", self.history.len()),
            ("buildings", self.buildings.len()),
            ("addresses", self.addresses.len()),
            ("units", self.units.len()),
            ("visits", self.visits.len()),
            ("basemap features", self.basemap.len()),
            ("users", self.users.len()),
            ("audit entries", self.audit.len()),
            ("plans", self.plans.len()),
            ("houses", self.registers.houses.len()),
            ("people", self.registers.people.len()),
            ("key subjects", self.registers.key_subjects.len()),
            ("plates", self.plates.plates.len()),
            ("declarations", self.plates.declarations.len()),
            ("tasks", self.registers.tasks.len()),
            ("reconciliation rows", self.registers.reconciliations.len()),
        ]
    }
}

/// Bytes as lower-case hex (how `gridmap_meta` keeps the key check).
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len() / 2)
        .map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

fn meta_fail(message: String) -> StoreError {
    StoreError::Import {
        layer: "gridmap_meta",
        message,
    }
}

/// Whether table `name` exists in the file.
fn table_exists(conn: &rusqlite::Connection, name: &str) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
        [name],
        |r| r.get(0),
    )?)
}

impl GpkgStore {
    /// Every row of the project (see [`ProjectCopy`]). Tables of [`NOT_COPIED`] that hold
    /// rows are named in [`ProjectCopy::left_out`]. Fails when a house's remarks are still in
    /// clear (a file from before remarks were sealed: a keyed register write, such as
    /// `gridmap rekey`, seals them) or the fingerprint scheme recorded is unknown.
    pub fn copy_out(&self) -> Result<ProjectCopy> {
        let mut copy = ProjectCopy::layers_of(self)?;
        let conn = self.connection();
        let grids = self.grids()?;
        let mut stamps =
            conn.prepare("SELECT updated_at, updated_by FROM grids WHERE code = ?1")?;
        for g in grids {
            let (updated_at, updated_by) =
                stamps.query_row([&g.grid.code], |r| Ok((r.get(0)?, r.get(1)?)))?;
            copy.grids.push(CopiedGrid {
                stored: g,
                updated_at,
                updated_by,
            });
        }
        let mut stmt = conn.prepare(
            "SELECT fid, version, action, changed_at, changed_by, reason, name, village, old_geom,
               geom, grid
             FROM grid_history ORDER BY fid",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            copy.history
                .push((r.get(10)?, crate::gpkg::history_row(r)?));
        }
        let mut stmt = conn.prepare(
            "SELECT username, role, scope, password_hash, created_at FROM gridmap_users
             ORDER BY username",
        )?;
        copy.users = stmt
            .query_map([], |r| {
                Ok((
                    User {
                        username: r.get(0)?,
                        role: r.get(1)?,
                        scope: r.get(2)?,
                        password_hash: r.get(3)?,
                    },
                    r.get(4)?,
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        copy.audit = self.audit_log()?;
        if table_exists(conn, "gridmap_plans")? {
            let mut stmt = conn.prepare(
                "SELECT id, name, village, saved_by, saved_at, grids, body, adopted
                 FROM gridmap_plans ORDER BY id",
            )?;
            copy.plans = stmt
                .query_map([], |r| {
                    let adopted: Option<String> = r.get(7)?;
                    Ok(SavedPlan {
                        entry: PlanEntry {
                            id: r.get(0)?,
                            name: r.get(1)?,
                            village: r.get(2)?,
                            saved_by: r.get(3)?,
                            saved_at: r.get(4)?,
                            grids: r.get(5)?,
                            adopted: adopted.is_some(),
                        },
                        body: r.get(6)?,
                        adopted,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
        }
        copy.registers = self.sealed_registers()?;
        copy.plates = crate::plates::copy_plates(conn)?;
        for (table, _) in NOT_COPIED {
            if table_exists(conn, table)? {
                let n: i64 =
                    conn.query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| {
                        r.get(0)
                    })?;
                if n > 0 {
                    copy.left_out.push((table, n as usize));
                }
            }
        }
        Ok(copy)
    }

    fn sealed_registers(&self) -> Result<SealedRegisters> {
        let conn = self.connection();
        let meta = |key: &str| -> Result<Option<String>> {
            Ok(conn
                .query_row(
                    "SELECT value FROM gridmap_meta WHERE key = ?1",
                    [key],
                    |r| r.get(0),
                )
                .optional()?)
        };
        let key_check = meta("register_key_check")?
            .map(|h| {
                unhex(&h).ok_or_else(|| meta_fail("register_key_check is not hexadecimal".into()))
            })
            .transpose()?;
        let fingerprint_scheme = meta("id_fingerprint_scheme")?
            .map(|v| match v.parse::<u32>() {
                Ok(n @ 1..=FINGERPRINT_SCHEME) => Ok(n),
                _ => Err(meta_fail(format!(
                    "id_fingerprint_scheme is {v:?}; this gridmap knows schemes 1 and \
                     {FINGERPRINT_SCHEME}"
                ))),
            })
            .transpose()?;
        let mut out = SealedRegisters {
            key_check,
            fingerprint_scheme,
            ..SealedRegisters::default()
        };
        read_reconciled(conn, &mut out)?;
        if !table_exists(conn, "houses")? {
            return Ok(out);
        }
        self.ensure_register_tables()
            .map_err(|e| meta_fail(format!("cannot read the registers: {e}")))?;
        let mut stmt = conn.prepare(
            "SELECT fid, id, building, address_key, address, nature, remarks, link, link_reason,
               typeof(remarks) = 'text'
             FROM houses ORDER BY fid",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let id: String = r.get(1)?;
            if r.get::<_, bool>(9)? {
                return Err(StoreError::Import {
                    layer: "houses",
                    message: format!(
                        "house {id}: its remarks are in clear (a file from before remarks were \
                         sealed); `gridmap rekey` or a household import with the key seals them"
                    ),
                });
            }
            out.houses.push(SealedHouse {
                fid: r.get(0)?,
                id,
                building: r.get(2)?,
                address_key: r.get(3)?,
                address: r.get(4)?,
                nature: r.get(5)?,
                remarks: r.get(6)?,
                link: r.get(7)?,
                link_reason: r.get(8)?,
            });
        }
        let mut stmt = conn.prepare(
            "SELECT fid, id, house, name, id_number, id_fingerprint, occupation, employer,
               relation, marital_status, hukou_match, phone, source_row, residence
             FROM people ORDER BY fid",
        )?;
        out.people = stmt
            .query_map([], |r| {
                Ok(SealedPerson {
                    fid: r.get(0)?,
                    id: r.get(1)?,
                    house: r.get(2)?,
                    name: r.get(3)?,
                    id_number: r.get(4)?,
                    id_fingerprint: r.get(5)?,
                    occupation: r.get(6)?,
                    employer: r.get(7)?,
                    relation: r.get(8)?,
                    marital_status: r.get(9)?,
                    hukou_match: r.get(10)?,
                    phone: r.get(11)?,
                    source_row: r.get(12)?,
                    residence: r.get(13)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        if table_exists(conn, "key_subjects")? {
            let mut stmt = conn.prepare(
                "SELECT id, building, house, rated, sealed, updated_by, updated_at
                 FROM key_subjects ORDER BY fid",
            )?;
            out.key_subjects = stmt
                .query_map([], |r| {
                    Ok(SealedKeySubject {
                        id: r.get(0)?,
                        building: r.get(1)?,
                        house: r.get(2)?,
                        rated: r.get(3)?,
                        sealed: r.get(4)?,
                        updated_by: r.get(5)?,
                        updated_at: r.get(6)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
        }
        Ok(out)
    }

    /// Writes `copy` as a new project file at `path` (refused if it exists, or if the copy
    /// [leaves rows out](ProjectCopy::left_out)): created by [`GpkgStore::create`], the layers
    /// written by the store's imports, the grids with their versions and history, users,
    /// audit log, plans and sealed registers as they are. All or nothing: the file is written
    /// under a temporary name beside `path` and renamed when complete; on failure it is
    /// removed.
    pub fn write_copy(path: &Path, copy: &ProjectCopy) -> Result<()> {
        copy.check_complete("a GeoPackage project")?;
        if path.exists() {
            return Err(StoreError::Open {
                path: path.display().to_string(),
                message: "already exists; choose another name or remove it".into(),
            });
        }
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(".partial");
        let partial = path.with_file_name(name);
        remove_sqlite(&partial);
        let written = Self::write_copy_at(&partial, copy);
        let renamed = written.and_then(|()| {
            std::fs::rename(&partial, path).map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                message: format!("cannot rename {} to it: {e}", partial.display()),
            })
        });
        if renamed.is_err() {
            remove_sqlite(&partial);
        }
        renamed
    }

    fn write_copy_at(path: &Path, copy: &ProjectCopy) -> Result<()> {
        let mut store = GpkgStore::create(path, &copy.town.code, &copy.town.name)?;
        if let Some(b) = &copy.town.boundary {
            store.set_town_boundary(b)?;
        }
        store.import_villages(&copy.villages, Mode::Append)?;
        store.import_buildings(&copy.buildings, Mode::Append)?;
        store.import_addresses(&copy.addresses, Mode::Append)?;
        store.import_units(&copy.units, Mode::Append)?;
        store.import_visits(&copy.visits, Mode::Append)?;
        for (layer, features) in copy.basemap_layers() {
            store.import_basemap(layer, &features, Mode::Append)?;
        }
        store.ensure_plans_table()?;
        store
            .ensure_register_tables()
            .map_err(|e| meta_fail(format!("cannot make the register tables: {e}")))?;
        let tx = store.connection().unchecked_transaction()?;
        write_grids(&tx, copy)?;
        crate::gpkg::touch(&tx, "grids")?;
        crate::gpkg::touch(&tx, "grid_history")?;
        {
            let mut add = tx.prepare(
                "INSERT INTO gridmap_users (username, role, scope, password_hash, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (u, at) in &copy.users {
                add.execute(params![u.username, u.role, u.scope, u.password_hash, at])?;
            }
            let mut add = tx.prepare(
                "INSERT INTO gridmap_audit (at, username, action, target, count)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for a in &copy.audit {
                add.execute(params![a.at, a.user, a.action, a.target, a.count])?;
            }
            let mut add = tx.prepare(
                "INSERT INTO gridmap_plans (id, name, village, saved_by, saved_at, grids, body,
                   adopted)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for p in &copy.plans {
                let e = &p.entry;
                add.execute(params![
                    e.id, e.name, e.village, e.saved_by, e.saved_at, e.grids, p.body, p.adopted
                ])?;
            }
        }
        write_registers(&tx, &copy.registers)?;
        crate::plates::write_plates(&tx, &copy.plates)?;
        tx.commit()?;
        store
            .connection()
            .pragma_update(None, "journal_mode", "DELETE")?;
        drop(store);
        Ok(())
    }
}

/// The grids and their history, as they are (versions, times, who and why).
fn write_grids(tx: &rusqlite::Transaction, copy: &ProjectCopy) -> Result<()> {
    let multi = |m: &Option<geo::MultiPolygon>| {
        m.as_ref()
            .map(|m| encode(&geo::Geometry::MultiPolygon(m.clone()), 4326))
    };
    let mut add = tx.prepare(
        "INSERT INTO grid_history (change_key, grid, version, action, changed_at, changed_by,
           reason, name, village, old_geom, geom)
         VALUES (?1 || '@' || ?2, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for (grid, v) in &copy.history {
        add.execute(params![
            grid,
            v.version,
            v.action,
            v.at,
            v.who,
            v.why,
            v.name,
            v.village,
            multi(&v.previous),
            multi(&v.geometry)
        ])?;
    }
    let mut add = tx.prepare(
        "INSERT INTO grids (code, name, village, version, updated_at, updated_by, geom)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for g in &copy.grids {
        let s = &g.stored;
        add.execute(params![
            s.grid.code,
            s.grid.name,
            s.grid.village,
            s.version,
            g.updated_at,
            g.updated_by,
            multi(&Some(s.grid.geometry.clone()))
        ])?;
    }
    Ok(())
}

/// The sealed registers and their record (key check, fingerprint scheme), as they are.
fn write_registers(tx: &rusqlite::Transaction, r: &SealedRegisters) -> Result<()> {
    if let Some(check) = &r.key_check {
        tx.execute(
            "INSERT INTO gridmap_meta (key, value) VALUES ('register_key_check', ?1)",
            [hex(check)],
        )?;
    }
    if let Some(scheme) = r.fingerprint_scheme {
        tx.execute(
            "INSERT INTO gridmap_meta (key, value) VALUES ('id_fingerprint_scheme', ?1)",
            [scheme.to_string()],
        )?;
    }
    let mut add = tx.prepare(
        "INSERT INTO houses (fid, id, building, address_key, address, nature, remarks, link,
           link_reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for h in &r.houses {
        add.execute(params![
            h.fid,
            h.id,
            h.building,
            h.address_key,
            h.address,
            h.nature,
            h.remarks,
            h.link,
            h.link_reason
        ])?;
    }
    let mut add = tx.prepare(
        "INSERT INTO people (fid, id, house, name, id_number, id_fingerprint, occupation,
           employer, relation, marital_status, hukou_match, phone, source_row, residence)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
    for p in &r.people {
        add.execute(params![
            p.fid,
            p.id,
            p.house,
            p.name,
            p.id_number,
            p.id_fingerprint,
            p.occupation,
            p.employer,
            p.relation,
            p.marital_status,
            p.hukou_match,
            p.phone,
            p.source_row,
            p.residence
        ])?;
    }
    if !r.key_subjects.is_empty() {
        GpkgStore::ensure_key_subjects_in(tx)
            .map_err(|e| meta_fail(format!("cannot make the key subjects table: {e}")))?;
        let mut add = tx.prepare(
            "INSERT INTO key_subjects (id, building, house, rated, sealed, updated_by, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for k in &r.key_subjects {
            add.execute(params![
                k.id,
                k.building,
                k.house,
                k.rated,
                k.sealed,
                k.updated_by,
                k.updated_at
            ])?;
        }
    }
    write_reconciled(tx, r)
}

/// The reconciliations' tasks and figures, as stored (none when their tables are missing).
fn read_reconciled(conn: &rusqlite::Connection, out: &mut SealedRegisters) -> Result<()> {
    if table_exists(conn, "gridmap_tasks")? {
        let mut stmt = conn.prepare(
            "SELECT id, grid, kind, address, house, created, source, done, subject
             FROM gridmap_tasks ORDER BY id",
        )?;
        out.tasks = stmt
            .query_map([], |r| {
                let task = Task {
                    id: r.get(0)?,
                    grid: r.get(1)?,
                    kind: r.get(2)?,
                    address: r.get(3)?,
                    house: r.get(4)?,
                    created: r.get(5)?,
                    source: r.get(6)?,
                    done: r.get::<_, i64>(7)? != 0,
                };
                Ok((task, r.get(8)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
    }
    if table_exists(conn, "gridmap_reconciliations")? {
        let mut stmt = conn.prepare(
            "SELECT run, at, source, grid, matched, matched_same_address, police_only,
               register_only, address_mismatch
             FROM gridmap_reconciliations ORDER BY fid",
        )?;
        out.reconciliations = stmt
            .query_map([], |r| {
                Ok(CopiedReconciliation {
                    run: r.get(0)?,
                    at: r.get(1)?,
                    source: r.get(2)?,
                    grid: r.get(3)?,
                    counts: [r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?],
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
    }
    Ok(())
}

/// The reconciliations' tasks (with their numbers) and figures, as they are; their tables
/// made only when there is something to write.
fn write_reconciled(tx: &rusqlite::Transaction, r: &SealedRegisters) -> Result<()> {
    if r.tasks.is_empty() && r.reconciliations.is_empty() {
        return Ok(());
    }
    GpkgStore::ensure_reconcile_tables_in(tx)
        .map_err(|e| meta_fail(format!("cannot make the reconciliation tables: {e}")))?;
    let mut add = tx.prepare(
        "INSERT INTO gridmap_tasks (id, grid, kind, address, house, subject, created, source,
           done)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for (t, subject) in &r.tasks {
        add.execute(params![
            t.id, t.grid, t.kind, t.address, t.house, subject, t.created, t.source, t.done
        ])?;
    }
    let mut add = tx.prepare(
        "INSERT INTO gridmap_reconciliations (run, at, source, grid, matched,
           matched_same_address, police_only, register_only, address_mismatch)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for c in &r.reconciliations {
        let [m, same, police, register, mismatch] = c.counts;
        add.execute(params![
            c.run, c.at, c.source, c.grid, m, same, police, register, mismatch
        ])?;
    }
    Ok(())
}

/// Removes a SQLite file and its journal, WAL and shared-memory files, if there are any.
fn remove_sqlite(path: &Path) {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{MultiPolygon, polygon};
    use gridmap_core::model::Grid;

    fn square(x: f64) -> MultiPolygon {
        MultiPolygon(vec![polygon![
            (x: x, y: 0.0),
            (x: x + 1.0, y: 0.0),
            (x: x + 1.0, y: 1.0),
            (x: x, y: 1.0),
        ]])
    }

    #[test]
    fn a_copy_written_and_read_again_is_the_same_copy() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut s = GpkgStore::create(&dir.path().join("a.gpkg"), "T1", "甲镇").expect("create");
        let change = crate::Change {
            who: "alice".into(),
            why: "first".into(),
        };
        let g = |code: &str, x: f64| Grid {
            code: code.into(),
            name: Some(format!("网格{code}")),
            village: Some("V1".into()),
            geometry: square(x),
        };
        s.import_grids(&[g("G1", 0.0), g("G2", 1.0)], Mode::Append, &change)
            .expect("grids");
        s.save_grid(&g("G1", 0.5), Some(1), &change).expect("edit");
        s.delete_grid("G2", None, &change).expect("delete");
        s.put_user(&User {
            username: "bob".into(),
            role: "admin".into(),
            scope: "T1".into(),
            password_hash: "$argon2id$x".into(),
        })
        .expect("user");
        s.audit("bob", "read people in clear", "building B1", 3)
            .expect("audit");
        let plan = s.save_plan("方案", "V1", "bob", 2, "{}").expect("plan");
        s.set_plan_adopted(plan, "{\"a\":1}").expect("adopt");
        let copy = s.copy_out().expect("copy");
        assert_eq!(copy.history.len(), 4);
        assert!(copy.left_out.is_empty());
        let b = dir.path().join("b.gpkg");
        GpkgStore::write_copy(&b, &copy).expect("write");
        assert!(!dir.path().join("b.gpkg.partial").exists());
        let again = GpkgStore::open(&b).expect("open").copy_out().expect("copy");
        assert_eq!(again, copy);
        let e = GpkgStore::write_copy(&b, &copy).expect_err("exists");
        assert!(e.to_string().contains("already exists"), "{e}");
    }

    #[test]
    fn a_copy_that_leaves_rows_out_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let s = GpkgStore::create(&dir.path().join("a.gpkg"), "T1", "甲镇").expect("create");
        let mut copy = s.copy_out().expect("copy");
        copy.left_out.push(("gridmap_future", 2));
        let b = dir.path().join("b.gpkg");
        let e = GpkgStore::write_copy(&b, &copy).expect_err("refused");
        assert!(
            e.to_string().contains("gridmap_future: holds 2 rows"),
            "{e}"
        );
        assert!(!b.exists());
    }
}
