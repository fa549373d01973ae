//! [`Store`] over a GeoPackage file (SQLite).
//!
//! Layout: one feature table per layer (see [`crate::LAYERS`]), each with an integer `fid`, its
//! attributes, a unique text key and a `geom` column in GeoPackage binary format, registered in
//! `gpkg_contents` and `gpkg_geometry_columns` with SRS 4326 and indexed by the GeoPackage R-tree
//! extension (`rtree_<table>_geom` kept current by the standard triggers; the `ST_*` functions
//! those triggers call are registered on every connection, as GDAL does). `gridmap_meta` holds
//! the schema version. Grid history rows carry the new boundary in `geom` and the old one in
//! `old_geom` (a GeoPackage blob too). The `basemap` table holds the roads and water of every
//! basemap layer (column `layer`); its key is `{layer}/{fid}`, as basemap features have no ids
//! of their own. Projects made before it existed get it when opened.

use std::collections::HashSet;
use std::path::Path;

use geo::{Geometry, MultiPolygon, Point};
use gridmap_core::model::{
    Address, BasemapFeature, BasemapLayer, Building, Footprint, Grid, Town, Unit, Village, Visit,
    VisitOutcome,
};
use rusqlite::functions::FunctionFlags;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::wkb::{blob_envelope, blob_is_empty, decode, encode};
use crate::{Change, GridVersion, ImportCounts, Mode, Result, Store, StoreError, StoredGrid};

const SCHEMA_VERSION: &str = "1";

/// Users of the web app and API: not a GeoPackage layer, so not in `gpkg_contents`.
const USERS_TABLE: &str = "CREATE TABLE IF NOT EXISTS gridmap_users (
    username TEXT PRIMARY KEY, role TEXT NOT NULL, scope TEXT NOT NULL,
    password_hash TEXT NOT NULL, created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')));
  CREATE TABLE IF NOT EXISTS gridmap_audit (
    at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), username TEXT NOT NULL,
    action TEXT NOT NULL, target TEXT NOT NULL, count INTEGER NOT NULL);";
const SRS: i32 = 4326;

const WGS84_WKT: &str = r#"GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]"#;

/// A feature table: name, geometry type, key column and the other columns with their SQL types.
struct Table {
    name: &'static str,
    geometry_type: &'static str,
    key: &'static str,
    columns: &'static [(&'static str, &'static str)],
    description: &'static str,
}

const TOWN: Table = Table {
    name: "town",
    geometry_type: "MULTIPOLYGON",
    key: "code",
    columns: &[("name", "TEXT NOT NULL")],
    description: "the town (镇/街道) and its boundary",
};
const VILLAGES: Table = Table {
    name: "villages",
    geometry_type: "MULTIPOLYGON",
    key: "code",
    columns: &[("name", "TEXT"), ("town", "TEXT")],
    description: "villages and communities (村/社区)",
};
const GRIDS: Table = Table {
    name: "grids",
    geometry_type: "MULTIPOLYGON",
    key: "code",
    columns: &[
        ("name", "TEXT"),
        ("village", "TEXT"),
        ("version", "INTEGER NOT NULL"),
        ("updated_at", "TEXT"),
        ("updated_by", "TEXT"),
    ],
    description: "grids (网格)",
};
const GRID_HISTORY: Table = Table {
    name: "grid_history",
    geometry_type: "MULTIPOLYGON",
    key: "change_key",
    columns: &[
        ("grid", "TEXT NOT NULL"),
        ("version", "INTEGER NOT NULL"),
        ("action", "TEXT NOT NULL"),
        ("changed_at", "TEXT NOT NULL"),
        ("changed_by", "TEXT NOT NULL"),
        ("reason", "TEXT NOT NULL"),
        ("name", "TEXT"),
        ("village", "TEXT"),
        ("old_geom", "BLOB"),
    ],
    description: "every version of every grid: who, when, why, old and new boundary",
};
const BUILDINGS: Table = Table {
    name: "buildings",
    geometry_type: "GEOMETRY",
    key: "id",
    columns: &[
        ("households", "INTEGER NOT NULL"),
        ("floors", "INTEGER"),
        ("kind", "TEXT"),
    ],
    description: "buildings (实有房屋): footprints or points",
};
const ADDRESSES: Table = Table {
    name: "addresses",
    geometry_type: "POINT",
    key: "id",
    columns: &[("text", "TEXT"), ("grid", "TEXT"), ("building", "TEXT")],
    description: "standard addresses (标准地址)",
};
const UNITS: Table = Table {
    name: "units",
    geometry_type: "POINT",
    key: "id",
    columns: &[
        ("name", "TEXT NOT NULL"),
        ("category", "TEXT"),
        ("address", "TEXT"),
        ("contact", "TEXT"),
    ],
    description: "actual organisations (实有单位)",
};
const VISITS: Table = Table {
    name: "visits",
    geometry_type: "POINT",
    key: "id",
    columns: &[
        ("building", "TEXT"),
        ("house", "TEXT"),
        ("worker", "TEXT NOT NULL"),
        ("visited_at", "TEXT NOT NULL"),
        ("outcome", "TEXT NOT NULL"),
        ("note", "TEXT"),
        ("flagged", "INTEGER NOT NULL DEFAULT 0"),
        ("knows_worker", "INTEGER"),
        ("satisfaction", "INTEGER"),
    ],
    description: "household visits (入户走访)",
};

const BASEMAP: Table = Table {
    name: "basemap",
    geometry_type: "GEOMETRY",
    key: "id",
    columns: &[
        ("layer", "TEXT NOT NULL"),
        ("kind", "TEXT"),
        ("detail", "TEXT"),
        ("name", "TEXT"),
    ],
    description: "the basemap: roads and water (lines and polygons), for drawing only",
};

const TABLES: [&Table; 9] = [
    &TOWN,
    &VILLAGES,
    &GRIDS,
    &GRID_HISTORY,
    &BUILDINGS,
    &ADDRESSES,
    &UNITS,
    &VISITS,
    &BASEMAP,
];

/// A gridmap project in a GeoPackage file.
#[derive(Debug)]
pub struct GpkgStore {
    conn: Connection,
    progress: Progress,
}

/// Told (rows written, rows in all) while an import writes, every few thousand rows.
#[derive(Default)]
struct Progress(Option<Box<dyn Fn(u64, u64) + Send>>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Progress(set)"
        } else {
            "Progress(none)"
        })
    }
}

fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    for (name, i) in [
        ("ST_MinX", 0),
        ("ST_MaxX", 1),
        ("ST_MinY", 2),
        ("ST_MaxY", 3),
    ] {
        conn.create_scalar_function(name, 1, flags, move |ctx| {
            let blob = ctx.get_raw(0).as_blob_or_null().ok().flatten();
            Ok(blob.and_then(blob_envelope).map(|e| e[i]))
        })?;
    }
    conn.create_scalar_function("ST_IsEmpty", 1, flags, |ctx| {
        let blob = ctx.get_raw(0).as_blob_or_null().ok().flatten();
        Ok(blob.is_none_or(blob_is_empty))
    })?;
    Ok(())
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    register_functions(conn)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // 256 MiB of page cache: imports of a county's buildings stay in memory while indexed.
    conn.pragma_update(None, "cache_size", -262_144)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(())
}

fn create_table(tx: &Transaction, t: &Table) -> rusqlite::Result<()> {
    let cols: String = t
        .columns
        .iter()
        .map(|(n, ty)| format!(", \"{n}\" {ty}"))
        .collect();
    let name = t.name;
    let key = t.key;
    tx.execute_batch(&format!(
        "CREATE TABLE \"{name}\" (fid INTEGER PRIMARY KEY AUTOINCREMENT, \"{key}\" TEXT NOT NULL UNIQUE{cols}, geom {});
         INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change, srs_id)
           VALUES ('{name}', 'features', '{name}', '{}', strftime('%Y-%m-%dT%H:%M:%fZ','now'), {SRS});
         INSERT INTO gpkg_geometry_columns VALUES ('{name}', 'geom', '{}', {SRS}, 0, 0);
         CREATE VIRTUAL TABLE \"rtree_{name}_geom\" USING rtree(id, minx, maxx, miny, maxy);
         INSERT INTO gpkg_extensions VALUES ('{name}', 'geom', 'gpkg_rtree_index', 'http://www.geopackage.org/spec120/#extension_rtree', 'write-only');",
        t.geometry_type,
        t.description.replace('\'', "''"),
        t.geometry_type,
    ))?;
    create_rtree_triggers(tx, name)
}

/// The R-tree triggers of the GeoPackage 1.4 spec (F.3), with update6/update7 in place of
/// update1: an UPSERT's conflict clause overrides a trigger's `INSERT OR REPLACE`.
fn create_rtree_triggers(tx: &Transaction, t: &str) -> rusqlite::Result<()> {
    let r = format!("rtree_{t}_geom");
    let vals =
        "NEW.fid, ST_MinX(NEW.geom), ST_MaxX(NEW.geom), ST_MinY(NEW.geom), ST_MaxY(NEW.geom)";
    tx.execute_batch(&format!(
        "CREATE TRIGGER \"{r}_insert\" AFTER INSERT ON \"{t}\" WHEN (new.geom NOT NULL AND NOT ST_IsEmpty(NEW.geom))
           BEGIN INSERT OR REPLACE INTO \"{r}\" VALUES ({vals}); END;
         CREATE TRIGGER \"{r}_update6\" AFTER UPDATE OF geom ON \"{t}\" WHEN OLD.fid = NEW.fid AND (NEW.geom NOTNULL AND NOT ST_IsEmpty(NEW.geom)) AND (OLD.geom NOTNULL AND NOT ST_IsEmpty(OLD.geom))
           BEGIN UPDATE \"{r}\" SET minx = ST_MinX(NEW.geom), maxx = ST_MaxX(NEW.geom), miny = ST_MinY(NEW.geom), maxy = ST_MaxY(NEW.geom) WHERE id = NEW.fid; END;
         CREATE TRIGGER \"{r}_update7\" AFTER UPDATE OF geom ON \"{t}\" WHEN OLD.fid = NEW.fid AND (NEW.geom NOTNULL AND NOT ST_IsEmpty(NEW.geom)) AND (OLD.geom ISNULL OR ST_IsEmpty(OLD.geom))
           BEGIN INSERT INTO \"{r}\" VALUES ({vals}); END;
         CREATE TRIGGER \"{r}_update2\" AFTER UPDATE OF geom ON \"{t}\" WHEN OLD.fid = NEW.fid AND (NEW.geom ISNULL OR ST_IsEmpty(NEW.geom))
           BEGIN DELETE FROM \"{r}\" WHERE id = OLD.fid; END;
         CREATE TRIGGER \"{r}_update3\" AFTER UPDATE ON \"{t}\" WHEN OLD.fid != NEW.fid AND (NEW.geom NOTNULL AND NOT ST_IsEmpty(NEW.geom))
           BEGIN DELETE FROM \"{r}\" WHERE id = OLD.fid; INSERT OR REPLACE INTO \"{r}\" VALUES ({vals}); END;
         CREATE TRIGGER \"{r}_update4\" AFTER UPDATE ON \"{t}\" WHEN OLD.fid != NEW.fid AND (NEW.geom ISNULL OR ST_IsEmpty(NEW.geom))
           BEGIN DELETE FROM \"{r}\" WHERE id IN (OLD.fid, NEW.fid); END;
         CREATE TRIGGER \"{r}_delete\" AFTER DELETE ON \"{t}\" WHEN old.geom NOT NULL
           BEGIN DELETE FROM \"{r}\" WHERE id = OLD.fid; END;"
    ))
}

fn blob(g: Geometry) -> Vec<u8> {
    encode(&g, SRS)
}

fn text(v: &Option<String>) -> Value {
    v.clone().map_or(Value::Null, Value::Text)
}

/// A connection of its own that copies the project's write-ahead log into the file (SQLite's
/// passive checkpoint: it waits for no reader or writer and copies what it can), for the
/// thread that takes this work off the committing connection (see
/// [`GpkgStore::set_auto_checkpoint`]).
pub struct Checkpointer {
    conn: Connection,
}

impl Checkpointer {
    /// Opens the project file at `path` for checkpoints.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(1))?;
        Ok(Checkpointer { conn })
    }

    /// Copies what it can of the log into the file; answers the log's frames and how many
    /// of them are now in the file.
    pub fn run(&self) -> Result<(i64, i64)> {
        Ok(self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get(1)?, r.get(2)?))
            })?)
    }
}

/// One record for a simple (history-less) layer: key, other columns in table order, geometry.
struct Row {
    key: String,
    values: Vec<Value>,
    geom: Option<Vec<u8>>,
}

impl GpkgStore {
    /// The worker of the visit with id `id`, `None` when there is no such visit: how the server
    /// tells a visit sent again (same id, same worker: already recorded) from a clash.
    pub fn visit_worker(&self, id: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT worker FROM visits WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Creates a new project file for a town. Fails if the file exists.
    pub fn create(path: &Path, town_code: &str, town_name: &str) -> Result<Self> {
        if path.exists() {
            return Err(StoreError::Open {
                path: path.display().to_string(),
                message: "already exists; choose another name or remove it".into(),
            });
        }
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "application_id", 0x4750_4B47)?; // "GPKG"
        conn.pragma_update(None, "user_version", 10300)?;
        configure(&conn)?;
        let tx = conn.transaction()?;
        tx.execute_batch(
            "CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY,
               organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL,
               definition TEXT NOT NULL, description TEXT);
             CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL,
               identifier TEXT UNIQUE, description TEXT DEFAULT '',
               last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
               min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
               CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
             CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,
               geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
               CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
               CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
               CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
             CREATE TABLE gpkg_extensions (table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL,
               definition TEXT NOT NULL, scope TEXT NOT NULL,
               CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name));
             INSERT INTO gpkg_spatial_ref_sys VALUES
               ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', 'undefined cartesian coordinate reference system'),
               ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', 'undefined geographic coordinate reference system');",
        )?;
        tx.execute(
            "INSERT INTO gpkg_spatial_ref_sys VALUES ('WGS 84 geodetic', 4326, 'EPSG', 4326, ?1, 'longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid')",
            [WGS84_WKT],
        )?;
        for t in TABLES {
            create_table(&tx, t)?;
        }
        tx.execute_batch(
            "CREATE TABLE gridmap_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             INSERT INTO gpkg_contents (table_name, data_type, identifier, description)
               VALUES ('gridmap_meta', 'attributes', 'gridmap_meta', 'gridmap project settings');
             CREATE INDEX grid_history_by_grid ON grid_history (grid, version);",
        )?;
        tx.execute(
            "INSERT INTO gridmap_meta VALUES ('schema_version', ?1)",
            [SCHEMA_VERSION],
        )?;
        tx.execute(
            "INSERT INTO town (code, name, geom) VALUES (?1, ?2, NULL)",
            [town_code, town_name],
        )?;
        tx.execute_batch(USERS_TABLE)?;
        tx.commit()?;
        Ok(GpkgStore {
            conn,
            progress: Progress::default(),
        })
    }

    /// Adds a user, or replaces the role, scope and password of an existing one. The password
    /// arrives hashed (argon2, PHC string); the store never sees it in clear.
    pub fn put_user(&mut self, user: &crate::User) -> Result<()> {
        self.conn.execute(
            "INSERT INTO gridmap_users (username, role, scope, password_hash) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(username) DO UPDATE SET role = excluded.role, scope = excluded.scope,
               password_hash = excluded.password_hash",
            params![user.username, user.role, user.scope, user.password_hash],
        )?;
        Ok(())
    }

    /// Keeps a signed-in session so that it survives a restart of the server: only the
    /// SHA-256 of its token (hex), the user, and when it expires (Unix seconds). Expired
    /// sessions are dropped on the way.
    pub fn put_session(
        &mut self,
        token_sha256: &str,
        username: &str,
        expires_unix: i64,
    ) -> Result<()> {
        self.ensure_sessions_table()?;
        self.conn.execute(
            "DELETE FROM gridmap_sessions WHERE expires_unix <= strftime('%s','now')",
            [],
        )?;
        self.conn.execute(
            "INSERT OR REPLACE INTO gridmap_sessions (token_sha256, username, expires_unix) VALUES (?1, ?2, ?3)",
            params![token_sha256, username, expires_unix],
        )?;
        Ok(())
    }

    /// The user and expiry (Unix seconds) of the session whose token hashes to
    /// `token_sha256`, if it is kept and not expired.
    pub fn session(&self, token_sha256: &str) -> Result<Option<(String, i64)>> {
        self.ensure_sessions_table()?;
        Ok(self
            .conn
            .query_row(
                "SELECT username, expires_unix FROM gridmap_sessions
                 WHERE token_sha256 = ?1 AND expires_unix > strftime('%s','now')",
                [token_sha256],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// Forgets a session (sign-out).
    pub fn delete_session(&mut self, token_sha256: &str) -> Result<()> {
        self.ensure_sessions_table()?;
        self.conn.execute(
            "DELETE FROM gridmap_sessions WHERE token_sha256 = ?1",
            [token_sha256],
        )?;
        Ok(())
    }

    fn ensure_sessions_table(&self) -> Result<()> {
        self.conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS gridmap_sessions (token_sha256 TEXT PRIMARY KEY,
               username TEXT NOT NULL, expires_unix INTEGER NOT NULL)",
        )?;
        Ok(())
    }

    /// Records that `username` read personal data in clear: what (`action`), about what
    /// (`target`, e.g. a building id), how many records. Never the data itself.
    pub fn audit(&self, username: &str, action: &str, target: &str, count: usize) -> Result<()> {
        self.conn.execute(
            "INSERT INTO gridmap_audit (username, action, target, count) VALUES (?1, ?2, ?3, ?4)",
            params![username, action, target, count as i64],
        )?;
        Ok(())
    }

    /// The audit log, oldest first.
    pub fn audit_log(&self) -> Result<Vec<crate::AuditEntry>> {
        let mut stmt = self.conn.prepare(
            "SELECT at, username, action, target, count FROM gridmap_audit ORDER BY rowid",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(crate::AuditEntry {
                    at: r.get(0)?,
                    user: r.get(1)?,
                    action: r.get(2)?,
                    target: r.get(3)?,
                    count: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<crate::User>> {
        let mut stmt = self.conn.prepare(
            "SELECT username, role, scope, password_hash FROM gridmap_users ORDER BY username",
        )?;
        let users = stmt
            .query_map([], |r| {
                Ok(crate::User {
                    username: r.get(0)?,
                    role: r.get(1)?,
                    scope: r.get(2)?,
                    password_hash: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(users)
    }

    /// Opens an existing project file.
    pub fn open(path: &Path) -> Result<Self> {
        let fail = |message: String| StoreError::Open {
            path: path.display().to_string(),
            message,
        };
        if !path.exists() {
            return Err(fail(
                "no such project file (create one with `gridmap init`)".into(),
            ));
        }
        let conn = Connection::open(path).map_err(|e| fail(e.to_string()))?;
        configure(&conn).map_err(|e| fail(format!("not a readable SQLite file: {e}")))?;
        let version: Option<String> = conn
            .query_row(
                "SELECT value FROM gridmap_meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|_| fail("not a gridmap project (no gridmap_meta table)".into()))?;
        match version.as_deref() {
            Some(SCHEMA_VERSION) => {
                conn.execute_batch(USERS_TABLE)
                    .map_err(|e| fail(format!("cannot add the users table: {e}")))?;
                let mut store = GpkgStore {
                    conn,
                    progress: Progress::default(),
                };
                store
                    .ensure_table(&BASEMAP)
                    .map_err(|e| fail(format!("cannot add the basemap table: {e}")))?;
                store
                    .ensure_visit_flags()
                    .map_err(|e| fail(format!("cannot add the visits' flagged column: {e}")))?;
                Ok(store)
            }
            Some(v) => Err(fail(format!(
                "schema version {v}, this gridmap reads {SCHEMA_VERSION}"
            ))),
            None => Err(fail("not a gridmap project (no schema version)".into())),
        }
    }

    /// Creates feature table `t` if the file predates it (layers added in later versions).
    fn ensure_table(&mut self, t: &Table) -> rusqlite::Result<()> {
        let exists: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
            [t.name],
            |r| r.get(0),
        )?;
        if !exists {
            let tx = self.conn.transaction()?;
            create_table(&tx, t)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Adds `visits.flagged` to a file that predates it. Earlier servers marked a flagged visit
    /// by starting its note with `[flagged]`; those visits keep their flag.
    fn ensure_visit_flags(&mut self) -> rusqlite::Result<()> {
        let has: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM pragma_table_info('visits') WHERE name = 'flagged')",
            [],
            |r| r.get(0),
        )?;
        if !has {
            let tx = self.conn.transaction()?;
            tx.execute_batch(
                "ALTER TABLE visits ADD COLUMN flagged INTEGER NOT NULL DEFAULT 0;
                 UPDATE visits SET flagged = 1 WHERE note LIKE '[flagged]%';",
            )?;
            tx.commit()?;
        }
        // The residents' two answers (知晓率, 满意率), added in the scorecard's version.
        let has: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM pragma_table_info('visits') WHERE name = 'knows_worker')",
            [],
            |r| r.get(0),
        )?;
        if !has {
            self.conn.execute_batch(
                "BEGIN; ALTER TABLE visits ADD COLUMN knows_worker INTEGER;
                 ALTER TABLE visits ADD COLUMN satisfaction INTEGER; COMMIT;",
            )?;
        }
        Ok(())
    }

    /// Every grid, or the one with `code`.
    fn read_grids(&self, code: Option<&str>) -> Result<Vec<StoredGrid>> {
        self.read_keys(&GRIDS, code, |r, g| {
            Ok(StoredGrid {
                grid: Grid {
                    code: r.get(1)?,
                    name: r.get(2)?,
                    village: r.get(3)?,
                    geometry: multipolygon(g).unwrap_or(MultiPolygon(vec![])),
                },
                version: r.get(4)?,
            })
        })
    }

    /// Calls `f(rows written, rows in all)` while imports write (a progress bar).
    pub fn on_progress(&mut self, f: impl Fn(u64, u64) + Send + 'static) {
        self.progress = Progress(Some(Box::new(f)));
    }

    /// Bounds this connection's page cache to `mib` MiB (opened with 256 MiB, which bulk
    /// imports need); pages beyond it are freed at once. A server sets a small one before it
    /// loads the project: it reads each layer once and from then on writes visits and grids, so
    /// a large cache would only hold pages it never reads again.
    pub fn set_page_cache(&self, mib: u32) -> Result<()> {
        self.conn
            .pragma_update(None, "cache_size", -(i64::from(mib) * 1024))?;
        Ok(())
    }

    /// The project file's path; `None` for a store without a file.
    pub fn path(&self) -> Option<std::path::PathBuf> {
        self.conn
            .path()
            .filter(|p| !p.is_empty())
            .map(std::path::PathBuf::from)
    }

    /// Whether commits on this connection copy the write-ahead log into the file once it
    /// holds 1,000 pages (SQLite's default, on). A server that commits many small
    /// transactions turns it off and leaves the copying to a [`Checkpointer`] on another
    /// thread, so that no commit waits for it.
    pub fn set_auto_checkpoint(&self, on: bool) -> Result<()> {
        self.conn
            .pragma_update(None, "wal_autocheckpoint", if on { 1000 } else { 0 })?;
        Ok(())
    }

    /// SQLite's `PRAGMA data_version` on this connection: it changes when *another*
    /// connection (another process) commits to the file, never for this connection's own
    /// writes, so a server can notice `gridmap import` into the file it serves.
    pub fn data_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }

    /// The underlying connection, for read-only inspection in tests and tools.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Hands every visit to `each`, in store order, as it is read: a campaign's millions are
    /// never all in memory at once.
    pub fn each_visit(&self, each: &mut dyn FnMut(Visit)) -> Result<()> {
        self.read_each(&VISITS, None, |r, g| {
            let outcome: String = r.get(6)?;
            each(Visit {
                id: r.get(1)?,
                building: r.get(2)?,
                house: r.get(3)?,
                worker: r.get(4)?,
                time: r.get(5)?,
                outcome: VisitOutcome::parse(&outcome).unwrap_or(VisitOutcome::Visited),
                note: r.get(7)?,
                flagged: r.get::<_, i64>(8)? != 0,
                knows_worker: r.get::<_, Option<i64>>(9)?.map(|k| k != 0),
                satisfaction: r
                    .get::<_, Option<i64>>(10)?
                    .and_then(|s| u8::try_from(s).ok()),
                point: point(g),
            });
            Ok(())
        })
    }

    fn read<T>(
        &self,
        t: &'static Table,
        f: impl FnMut(&rusqlite::Row, Option<Geometry>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        self.read_keys(t, None, f)
    }

    /// [`Self::read`], of the row whose key is `key` only when given.
    fn read_keys<T>(
        &self,
        t: &'static Table,
        key: Option<&str>,
        mut f: impl FnMut(&rusqlite::Row, Option<Geometry>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        self.read_each(t, key, |row, g| {
            out.push(f(row, g)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// [`Self::read_keys`], handing each row to `f` as it is read instead of collecting them.
    fn read_each(
        &self,
        t: &'static Table,
        key: Option<&str>,
        mut f: impl FnMut(&rusqlite::Row, Option<Geometry>) -> rusqlite::Result<()>,
    ) -> Result<()> {
        let cols: String = t
            .columns
            .iter()
            .map(|(n, _)| format!(", \"{n}\""))
            .collect();
        let filter = if key.is_some() {
            format!(" WHERE \"{}\" = ?1", t.key)
        } else {
            String::new()
        };
        let sql = format!(
            "SELECT fid, \"{}\"{cols}, geom FROM \"{}\"{filter} ORDER BY fid",
            t.key, t.name
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let geom_col = 2 + t.columns.len();
        let mut rows = match key {
            Some(k) => stmt.query([k])?,
            None => stmt.query([])?,
        };
        while let Some(row) = rows.next()? {
            let blob: Option<Vec<u8>> = row.get(geom_col)?;
            let geometry = match blob {
                Some(b) => Some(decode(&b).map_err(|e| StoreError::Geometry {
                    table: t.name,
                    fid: row.get(0).unwrap_or(-1),
                    message: e.0,
                })?),
                None => None,
            };
            f(row, geometry)?;
        }
        Ok(())
    }

    /// Imports simple rows into `t` in one transaction.
    fn import_rows(
        &mut self,
        t: &'static Table,
        rows: Vec<Row>,
        mode: Mode,
    ) -> Result<ImportCounts> {
        let mut seen = HashSet::with_capacity(rows.len());
        for r in &rows {
            if !seen.insert(r.key.as_str()) {
                return Err(StoreError::Import {
                    layer: t.name,
                    message: format!("id {} appears twice in the input", r.key),
                });
            }
        }
        let tx = self.conn.transaction()?;
        let counts = import_rows_tx(&tx, t, &rows, mode, &self.progress)?;
        if mode == Mode::Append {
            // Rows were only added: the extent grows by theirs. Recomputing it scans the
            // whole R-tree four times, which for the visits of a campaign (a batch every few
            // milliseconds, a million rows) was most of a visit's cost.
            let added = rows
                .iter()
                .filter_map(|r| r.geom.as_deref().and_then(blob_envelope))
                .reduce(|a, b| {
                    [
                        a[0].min(b[0]),
                        a[1].max(b[1]),
                        a[2].min(b[2]),
                        a[3].max(b[3]),
                    ]
                });
            touch_grown(&tx, t.name, added)?;
        } else {
            touch(&tx, t.name)?;
        }
        tx.commit()?;
        Ok(counts)
    }
}

/// [`touch`] after rows were added or changed whose envelopes span `added` (`[minx, maxx,
/// miny, maxy]`, `None` when none has a geometry): the recorded extent is widened to hold it.
/// When a changed row moved inwards the extent is left wider than its rows, which GeoPackage
/// allows (it is "informative, not necessarily minimum"); recomputing it scans the whole
/// R-tree four times, a tenth of a district's grid edit.
fn touch_grown(tx: &Transaction, table: &str, added: Option<[f64; 4]>) -> rusqlite::Result<()> {
    match added {
        None => tx.execute(
            "UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now')
             WHERE table_name = ?1",
            [table],
        )?,
        Some([minx, maxx, miny, maxy]) => tx.execute(
            "UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now'),
               min_x = coalesce(min(min_x, ?2), ?2), max_x = coalesce(max(max_x, ?3), ?3),
               min_y = coalesce(min(min_y, ?4), ?4), max_y = coalesce(max(max_y, ?5), ?5)
             WHERE table_name = ?1",
            rusqlite::params![table, minx, maxx, miny, maxy],
        )?,
    };
    Ok(())
}

/// `[minx, maxx, miny, maxy]` of `geometry`, `None` when it is empty.
fn envelope_of(geometry: &MultiPolygon) -> Option<[f64; 4]> {
    use geo::BoundingRect;
    geometry
        .bounding_rect()
        .map(|r| [r.min().x, r.max().x, r.min().y, r.max().y])
}

pub(crate) fn touch(tx: &Transaction, table: &str) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now'),
           min_x = (SELECT min(minx) FROM \"rtree_{t}_geom\"), max_x = (SELECT max(maxx) FROM \"rtree_{t}_geom\"),
           min_y = (SELECT min(miny) FROM \"rtree_{t}_geom\"), max_y = (SELECT max(maxy) FROM \"rtree_{t}_geom\")
         WHERE table_name = ?1"
            .replace("{t}", table)
            .as_str(),
        [table],
    )?;
    Ok(())
}

/// Rows at or above which an append or replace builds the R-tree in one pass after the
/// inserts, as GDAL does, instead of row by row through the triggers.
const BULK_ROWS: usize = 10_000;

fn drop_rtree_triggers(tx: &Transaction, t: &str) -> rusqlite::Result<()> {
    for suffix in [
        "insert", "update6", "update7", "update2", "update3", "update4", "delete",
    ] {
        tx.execute_batch(&format!(
            "DROP TRIGGER IF EXISTS \"rtree_{t}_geom_{suffix}\";"
        ))?;
    }
    Ok(())
}

fn import_rows_tx(
    tx: &Transaction,
    t: &Table,
    rows: &[Row],
    mode: Mode,
    progress: &Progress,
) -> Result<ImportCounts> {
    let mut counts = ImportCounts::default();
    let bulk = mode != Mode::Upsert && rows.len() >= BULK_ROWS;
    if bulk {
        drop_rtree_triggers(tx, t.name)?;
    }
    if mode == Mode::Replace {
        counts.deleted = tx.execute(&format!("DELETE FROM \"{}\"", t.name), [])?;
        if bulk {
            tx.execute(&format!("DELETE FROM \"rtree_{}_geom\"", t.name), [])?;
        }
    }
    let existing: HashSet<String> = if mode == Mode::Upsert {
        let mut stmt = tx.prepare(&format!("SELECT \"{}\" FROM \"{}\"", t.key, t.name))?;
        stmt.query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<_>>()?
    } else {
        HashSet::new()
    };
    let names: Vec<&str> = std::iter::once(t.key)
        .chain(t.columns.iter().map(|(n, _)| *n))
        .chain(std::iter::once("geom"))
        .collect();
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    let marks: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
    let mut sql = format!(
        "INSERT INTO \"{}\" ({}) VALUES ({})",
        t.name,
        quoted.join(", "),
        marks.join(", ")
    );
    if mode == Mode::Upsert {
        let rest = &quoted[1..];
        let set: Vec<String> = rest.iter().map(|n| format!("{n} = excluded.{n}")).collect();
        let changed: Vec<String> = rest
            .iter()
            .map(|n| format!("{n} IS NOT excluded.{n}"))
            .collect();
        sql += &format!(
            " ON CONFLICT(\"{}\") DO UPDATE SET {} WHERE {}",
            t.key,
            set.join(", "),
            changed.join(" OR ")
        );
    }
    let mut stmt = tx.prepare(&sql)?;
    let mut boxes: Vec<(i64, [f64; 4])> = Vec::with_capacity(if bulk { rows.len() } else { 0 });
    for (n, r) in rows.iter().enumerate() {
        if n % 8192 == 0
            && let Some(f) = &progress.0
        {
            f(n as u64, rows.len() as u64);
        }
        let mut params: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(names.len());
        params.push(&r.key);
        params.extend(r.values.iter().map(|v| v as &dyn rusqlite::ToSql));
        params.push(&r.geom);
        let n = stmt.execute(params.as_slice()).map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
            {
                StoreError::Import {
                    layer: t.name,
                    message: format!(
                        "id {} already exists (import with --mode upsert or replace)",
                        r.key
                    ),
                }
            }
            other => StoreError::Sqlite(other),
        })?;
        if bulk && let Some(env) = r.geom.as_deref().and_then(blob_envelope) {
            boxes.push((tx.last_insert_rowid(), env));
        }
        match (existing.contains(&r.key), n) {
            (false, _) => counts.inserted += 1,
            (true, 0) => counts.unchanged += 1,
            (true, _) => counts.updated += 1,
        }
    }
    if bulk {
        // Boxes already indexed (an append to a non-empty layer) join the new ones.
        let name = format!("rtree_{}_geom", t.name);
        let mut stmt = tx.prepare(&format!(
            "SELECT id, minx, maxx, miny, maxy FROM \"{name}\""
        ))?;
        let old = stmt
            .query_map([], |r| {
                Ok((r.get(0)?, [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?]))
            })?
            .collect::<rusqlite::Result<Vec<(i64, [f64; 4])>>>()?;
        drop(stmt);
        boxes.extend(old);
        crate::rtree_bulk::load(tx, &name, boxes)?;
        create_rtree_triggers(tx, t.name)?;
    }
    Ok(counts)
}

fn multipolygon(g: Option<Geometry>) -> Option<MultiPolygon> {
    match g? {
        Geometry::MultiPolygon(m) => Some(m),
        Geometry::Polygon(p) => Some(MultiPolygon(vec![p])),
        _ => None,
    }
}

fn point(g: Option<Geometry>) -> Option<Point> {
    match g? {
        Geometry::Point(p) => Some(p),
        _ => None,
    }
}

/// The current state of a grid inside a transaction: version and stored blobs.
struct Current {
    version: u32,
    name: Option<String>,
    village: Option<String>,
    geom: Option<Vec<u8>>,
}

fn current(tx: &Transaction, code: &str) -> rusqlite::Result<Option<Current>> {
    tx.query_row(
        "SELECT version, name, village, geom FROM grids WHERE code = ?1",
        [code],
        |r| {
            Ok(Current {
                version: r.get(0)?,
                name: r.get(1)?,
                village: r.get(2)?,
                geom: r.get(3)?,
            })
        },
    )
    .optional()
}

fn last_version(tx: &Transaction, code: &str) -> rusqlite::Result<u32> {
    tx.query_row(
        "SELECT coalesce(max(version), 0) FROM grid_history WHERE grid = ?1",
        [code],
        |r| r.get(0),
    )
}

enum Saved {
    Inserted(u32),
    Updated(u32),
    Unchanged(u32),
}

fn save_grid_tx(
    tx: &Transaction,
    grid: &Grid,
    expected: Option<u32>,
    change: &Change,
    action: Option<&str>,
) -> Result<Saved> {
    let geom = blob(Geometry::MultiPolygon(grid.geometry.clone()));
    let cur = current(tx, &grid.code)?;
    let stored = cur.as_ref().map(|c| {
        let same =
            c.name == grid.name && c.village == grid.village && c.geom.as_deref() == Some(&geom);
        (c.version, same)
    });
    if let Some(version) = crate::check_grid_save(&grid.code, expected, stored)? {
        return Ok(Saved::Unchanged(version));
    }
    let version = last_version(tx, &grid.code)? + 1;
    let action = action.unwrap_or(if cur.is_some() { "updated" } else { "created" });
    tx.execute(
        "INSERT INTO grid_history (change_key, grid, version, action, changed_at, changed_by, reason, name, village, old_geom, geom)
         VALUES (?1 || '@' || ?2, ?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ','now'), ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            grid.code,
            version,
            action,
            change.who,
            change.why,
            grid.name,
            grid.village,
            cur.as_ref().and_then(|c| c.geom.clone()),
            geom
        ],
    )?;
    if cur.is_some() {
        tx.execute(
            "UPDATE grids SET name = ?2, village = ?3, version = ?4, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now'),
               updated_by = ?5, geom = ?6 WHERE code = ?1",
            params![grid.code, grid.name, grid.village, version, change.who, geom],
        )?;
        Ok(Saved::Updated(version))
    } else {
        tx.execute(
            "INSERT INTO grids (code, name, village, version, updated_at, updated_by, geom)
             VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%fZ','now'), ?5, ?6)",
            params![
                grid.code,
                grid.name,
                grid.village,
                version,
                change.who,
                geom
            ],
        )?;
        Ok(Saved::Inserted(version))
    }
}

/// A row of `grid_history` read as `fid, version, action, changed_at, changed_by, reason,
/// name, village, old_geom, geom` (more columns may follow).
pub(crate) fn history_row(r: &rusqlite::Row) -> Result<GridVersion> {
    let fid: i64 = r.get(0)?;
    let geo = |i: usize| -> Result<Option<MultiPolygon>> {
        let b: Option<Vec<u8>> = r.get(i)?;
        match b {
            None => Ok(None),
            Some(b) => {
                decode(&b)
                    .map(|g| multipolygon(Some(g)))
                    .map_err(|e| StoreError::Geometry {
                        table: "grid_history",
                        fid,
                        message: e.0,
                    })
            }
        }
    };
    Ok(GridVersion {
        version: r.get(1)?,
        action: r.get(2)?,
        at: r.get(3)?,
        who: r.get(4)?,
        why: r.get(5)?,
        name: r.get(6)?,
        village: r.get(7)?,
        previous: geo(8)?,
        geometry: geo(9)?,
    })
}

fn delete_grid_tx(
    tx: &Transaction,
    code: &str,
    expected: Option<u32>,
    change: &Change,
) -> Result<()> {
    let Some(cur) = current(tx, code)? else {
        return Err(StoreError::NoSuchGrid { code: code.into() });
    };
    if let Some(e) = expected
        && e != cur.version
    {
        return Err(StoreError::VersionConflict {
            code: code.into(),
            expected: e,
            actual: cur.version,
        });
    }
    let version = last_version(tx, code)? + 1;
    tx.execute(
        "INSERT INTO grid_history (change_key, grid, version, action, changed_at, changed_by, reason, name, village, old_geom, geom)
         VALUES (?1 || '@' || ?2, ?1, ?2, 'deleted', strftime('%Y-%m-%dT%H:%M:%fZ','now'), ?3, ?4, ?5, ?6, ?7, NULL)",
        params![code, version, change.who, change.why, cur.name, cur.village, cur.geom],
    )?;
    tx.execute("DELETE FROM grids WHERE code = ?1", [code])?;
    Ok(())
}

impl Store for GpkgStore {
    fn town(&self) -> Result<Town> {
        let mut towns = self.read(&TOWN, |r, g| {
            Ok(Town {
                code: r.get(1)?,
                name: r.get(2)?,
                boundary: multipolygon(g),
            })
        })?;
        towns.pop().ok_or_else(|| StoreError::Import {
            layer: "town",
            message: "the project has no town row".into(),
        })
    }

    fn set_town_boundary(&mut self, boundary: &MultiPolygon) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE town SET geom = ?1",
            [blob(Geometry::MultiPolygon(boundary.clone()))],
        )?;
        touch(&tx, "town")?;
        tx.commit()?;
        Ok(())
    }

    fn villages(&self) -> Result<Vec<Village>> {
        self.read(&VILLAGES, |r, g| {
            Ok(Village {
                code: r.get(1)?,
                name: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                town: r.get(3)?,
                boundary: multipolygon(g),
            })
        })
    }

    fn import_villages(&mut self, villages: &[Village], mode: Mode) -> Result<ImportCounts> {
        let rows = villages
            .iter()
            .map(|v| Row {
                key: v.code.clone(),
                values: vec![Value::Text(v.name.clone()), text(&v.town)],
                geom: v
                    .boundary
                    .as_ref()
                    .map(|b| blob(Geometry::MultiPolygon(b.clone()))),
            })
            .collect();
        self.import_rows(&VILLAGES, rows, mode)
    }

    fn grids(&self) -> Result<Vec<StoredGrid>> {
        self.read_grids(None)
    }

    fn grid(&self, code: &str) -> Result<Option<StoredGrid>> {
        Ok(self.read_grids(Some(code))?.pop())
    }

    fn save_grid(
        &mut self,
        grid: &Grid,
        expected_version: Option<u32>,
        change: &Change,
    ) -> Result<u32> {
        let tx = self.conn.transaction()?;
        let saved = save_grid_tx(&tx, grid, expected_version, change, None)?;
        touch_grown(&tx, "grids", envelope_of(&grid.geometry))?;
        tx.commit()?;
        Ok(match saved {
            Saved::Inserted(v) | Saved::Updated(v) | Saved::Unchanged(v) => v,
        })
    }

    fn delete_grid(
        &mut self,
        code: &str,
        expected_version: Option<u32>,
        change: &Change,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        delete_grid_tx(&tx, code, expected_version, change)?;
        touch(&tx, "grids")?;
        tx.commit()?;
        Ok(())
    }

    fn replace_grids(
        &mut self,
        delete: &[(String, u32)],
        save: &[(Grid, Option<u32>)],
        change: &Change,
    ) -> Result<Vec<u32>> {
        let tx = self.conn.transaction()?;
        for (code, version) in delete {
            delete_grid_tx(&tx, code, Some(*version), change)?;
        }
        let mut versions = Vec::with_capacity(save.len());
        for (grid, expected) in save {
            let saved = save_grid_tx(&tx, grid, Some(expected.unwrap_or(0)), change, None)?;
            versions.push(match saved {
                Saved::Inserted(v) | Saved::Updated(v) | Saved::Unchanged(v) => v,
            });
        }
        touch(&tx, "grids")?;
        tx.commit()?;
        Ok(versions)
    }

    fn grid_history(&self, code: &str) -> Result<Vec<GridVersion>> {
        let mut stmt = self.conn.prepare(
            "SELECT fid, version, action, changed_at, changed_by, reason, name, village, old_geom, geom
             FROM grid_history WHERE grid = ?1 ORDER BY version",
        )?;
        let mut rows = stmt.query([code])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(history_row(r)?);
        }
        Ok(out)
    }

    fn restore_grid(&mut self, code: &str, version: u32, change: &Change) -> Result<u32> {
        let history = self.grid_history(code)?;
        let Some(old) = history.iter().find(|v| v.version == version) else {
            return Err(StoreError::NoSuchVersion {
                code: code.into(),
                version,
            });
        };
        let Some(geometry) = old.geometry.clone() else {
            return Err(StoreError::NoSuchVersion {
                code: code.into(),
                version,
            });
        };
        let grid = Grid {
            code: code.into(),
            name: old.name.clone(),
            village: old.village.clone(),
            geometry,
        };
        let change = Change {
            who: change.who.clone(),
            why: format!("{} (restores version {version})", change.why),
        };
        let tx = self.conn.transaction()?;
        let saved = save_grid_tx(&tx, &grid, None, &change, Some("restored"))?;
        touch_grown(&tx, "grids", envelope_of(&grid.geometry))?;
        tx.commit()?;
        Ok(match saved {
            Saved::Inserted(v) | Saved::Updated(v) | Saved::Unchanged(v) => v,
        })
    }

    fn import_grids(
        &mut self,
        grids: &[Grid],
        mode: Mode,
        change: &Change,
    ) -> Result<ImportCounts> {
        let mut seen = HashSet::with_capacity(grids.len());
        for g in grids {
            if !seen.insert(g.code.as_str()) {
                return Err(StoreError::Import {
                    layer: "grids",
                    message: format!("grid {} appears twice in the input", g.code),
                });
            }
        }
        let tx = self.conn.transaction()?;
        let mut counts = ImportCounts::default();
        if mode == Mode::Replace {
            let codes: Vec<String> = {
                let mut stmt = tx.prepare("SELECT code FROM grids")?;
                stmt.query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?
            };
            for code in codes.iter().filter(|c| !seen.contains(c.as_str())) {
                delete_grid_tx(&tx, code, None, change)?;
                counts.deleted += 1;
            }
        }
        for g in grids {
            if mode == Mode::Append && current(&tx, &g.code)?.is_some() {
                return Err(StoreError::Import {
                    layer: "grids",
                    message: format!(
                        "grid {} already exists (import with --mode upsert or replace)",
                        g.code
                    ),
                });
            }
            match save_grid_tx(&tx, g, None, change, None)? {
                Saved::Inserted(_) => counts.inserted += 1,
                Saved::Updated(_) => counts.updated += 1,
                Saved::Unchanged(_) => counts.unchanged += 1,
            }
        }
        touch(&tx, "grids")?;
        tx.commit()?;
        Ok(counts)
    }

    fn buildings(&self) -> Result<Vec<Building>> {
        self.read(&BUILDINGS, |r, g| {
            let footprint = match g {
                Some(Geometry::Point(p)) => Footprint::Point(p),
                other => Footprint::Area(multipolygon(other).unwrap_or(MultiPolygon(vec![]))),
            };
            Ok(Building {
                id: r.get(1)?,
                households: r.get(2)?,
                floors: r.get(3)?,
                kind: r.get(4)?,
                footprint,
            })
        })
    }

    fn import_buildings(&mut self, buildings: &[Building], mode: Mode) -> Result<ImportCounts> {
        let rows = buildings
            .iter()
            .map(|b| Row {
                key: b.id.clone(),
                values: vec![
                    Value::Integer(i64::from(b.households)),
                    b.floors
                        .map_or(Value::Null, |f| Value::Integer(i64::from(f))),
                    text(&b.kind),
                ],
                geom: Some(blob(match &b.footprint {
                    Footprint::Area(a) => Geometry::MultiPolygon(a.clone()),
                    Footprint::Point(p) => Geometry::Point(*p),
                })),
            })
            .collect();
        self.import_rows(&BUILDINGS, rows, mode)
    }

    fn addresses(&self) -> Result<Vec<Address>> {
        self.read(&ADDRESSES, |r, g| {
            Ok(Address {
                id: r.get(1)?,
                text: r.get(2)?,
                declared_grid: r.get(3)?,
                declared_building: r.get(4)?,
                point: point(g).unwrap_or(Point::new(f64::NAN, f64::NAN)),
            })
        })
    }

    fn import_addresses(&mut self, addresses: &[Address], mode: Mode) -> Result<ImportCounts> {
        let rows = addresses
            .iter()
            .map(|a| Row {
                key: a.id.clone(),
                values: vec![
                    text(&a.text),
                    text(&a.declared_grid),
                    text(&a.declared_building),
                ],
                geom: Some(blob(Geometry::Point(a.point))),
            })
            .collect();
        self.import_rows(&ADDRESSES, rows, mode)
    }

    fn units(&self) -> Result<Vec<Unit>> {
        self.read(&UNITS, |r, g| {
            Ok(Unit {
                id: r.get(1)?,
                name: r.get(2)?,
                category: r.get(3)?,
                address: r.get(4)?,
                contact: r.get(5)?,
                point: point(g).unwrap_or(Point::new(f64::NAN, f64::NAN)),
            })
        })
    }

    fn import_units(&mut self, units: &[Unit], mode: Mode) -> Result<ImportCounts> {
        let rows = units
            .iter()
            .map(|u| Row {
                key: u.id.clone(),
                values: vec![
                    Value::Text(u.name.clone()),
                    text(&u.category),
                    text(&u.address),
                    text(&u.contact),
                ],
                geom: Some(blob(Geometry::Point(u.point))),
            })
            .collect();
        self.import_rows(&UNITS, rows, mode)
    }

    fn visits(&self) -> Result<Vec<Visit>> {
        let mut out = Vec::new();
        self.each_visit(&mut |v| out.push(v))?;
        Ok(out)
    }

    fn import_visits(&mut self, visits: &[Visit], mode: Mode) -> Result<ImportCounts> {
        let rows = visits
            .iter()
            .map(|v| Row {
                key: v.id.clone(),
                values: vec![
                    text(&v.building),
                    text(&v.house),
                    Value::Text(v.worker.clone()),
                    Value::Text(v.time.clone()),
                    Value::Text(v.outcome.as_str().into()),
                    text(&v.note),
                    Value::Integer(i64::from(v.flagged)),
                    v.knows_worker
                        .map_or(Value::Null, |k| Value::Integer(i64::from(k))),
                    v.satisfaction
                        .map_or(Value::Null, |s| Value::Integer(i64::from(s))),
                ],
                geom: v.point.map(|p| blob(Geometry::Point(p))),
            })
            .collect();
        self.import_rows(&VISITS, rows, mode)
    }

    fn basemap(&self) -> Result<Vec<BasemapFeature>> {
        let rows = self.read(&BASEMAP, |r, g| {
            let layer: String = r.get(2)?;
            Ok(g.zip(BasemapLayer::parse(&layer)).map(|(geometry, layer)| {
                Ok::<_, rusqlite::Error>(BasemapFeature {
                    layer,
                    kind: r.get(3)?,
                    detail: r.get(4)?,
                    name: r.get(5)?,
                    geometry,
                })
            }))
        })?;
        Ok(rows
            .into_iter()
            .flatten()
            .collect::<rusqlite::Result<_>>()?)
    }

    fn import_basemap(
        &mut self,
        layer: BasemapLayer,
        features: &[BasemapFeature],
        mode: Mode,
    ) -> Result<ImportCounts> {
        crate::check_basemap_import(layer, features, mode)?;
        let tx = self.conn.transaction()?;
        let deleted = if mode == Mode::Replace {
            tx.execute("DELETE FROM basemap WHERE layer = ?1", [layer.as_str()])?
        } else {
            0
        };
        // Rows get fids after the last one ever used (AUTOINCREMENT), in order: the key is
        // the fid to be, unique for good.
        let last: i64 = tx.query_row(
            "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'basemap'), 0)",
            [],
            |r| r.get(0),
        )?;
        let rows: Vec<Row> = features
            .iter()
            .enumerate()
            .map(|(i, f)| Row {
                key: format!("{}/{}", layer.as_str(), last + 1 + i as i64),
                values: vec![
                    Value::Text(layer.as_str().into()),
                    text(&f.kind),
                    text(&f.detail),
                    text(&f.name),
                ],
                geom: Some(blob(f.geometry.clone())),
            })
            .collect();
        let mut counts = import_rows_tx(&tx, &BASEMAP, &rows, Mode::Append, &self.progress)?;
        counts.deleted = deleted;
        touch(&tx, BASEMAP.name)?;
        tx.commit()?;
        Ok(counts)
    }

    fn count(&self, layer: &str) -> Result<usize> {
        let t = TABLES
            .iter()
            .find(|t| t.name == layer)
            .ok_or_else(|| StoreError::Import {
                layer: "count",
                message: format!("no layer named {layer}"),
            })?;
        let n: i64 =
            self.conn
                .query_row(&format!("SELECT count(*) FROM \"{}\"", t.name), [], |r| {
                    r.get(0)
                })?;
        Ok(n as usize)
    }
}
