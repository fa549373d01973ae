//! gridmap's project store on PostgreSQL with PostGIS: [`PgStore`] implements
//! [`gridmap_store::Store`] with the same behaviour as the GeoPackage store (the same
//! conformance suite runs against both), for many towns in one database.
//!
//! # Layout
//!
//! One table per layer, named as in the GeoPackage ([`gridmap_store::LAYERS`]): `town`,
//! `villages`, `grids`, `grid_history`, `buildings`, `addresses`, `units`, `visits`,
//! `basemap`. Every table starts with `town`, the town's code, which leads its primary key
//! (`PRIMARY KEY (town, code)`, `(town, id)`, `(town, grid, version)`, `(town, fid)`), and every
//! other table references `town (town)` (`ON DELETE CASCADE`). Geometry columns are PostGIS
//! `geometry(MultiPolygon, 4326)` (town, villages, grids and the grid history's old and new
//! boundaries), `geometry(Point, 4326)` (addresses, units, visits) and `geometry(Geometry, 4326)`
//! where a layer holds several kinds (buildings: footprints or points; basemap: lines and
//! polygons), each with a GiST index. `fid` (an identity column) keeps the order rows were
//! written in, which is the order reads return. The grid history keeps every version of every
//! grid with who, why, when (`changed_at`, `timestamptz`), its action and the boundary before and
//! after, exactly as the GeoPackage store's `grid_history` does; a grid's current version is
//! checked under a row lock (`SELECT … FOR UPDATE`), so optimistic concurrency holds between
//! several processes sharing the database.
//!
//! # Accounts, plans and registers
//!
//! Beside the layers, each town keeps what a GeoPackage project keeps beside its own (schema
//! version 2), with inherent methods of the same names, arguments, answers and errors as
//! `GpkgStore`'s, so that either store can stand behind one interface:
//!
//! - `users` (`PRIMARY KEY (town, username)`: a town's users are its own, as a project's
//!   are; the password only as its argon2 hash), `sessions` (the SHA-256 of each token, never
//!   the token; expired ones dropped by the next [`PgStore::put_session`]) and `audit` (who
//!   read personal data in clear, what, about what, how many; never the data), read oldest
//!   first: [`PgStore::put_user`], [`PgStore::users`], [`PgStore::put_session`],
//!   [`PgStore::session`], [`PgStore::delete_session`], [`PgStore::audit`],
//!   [`PgStore::audit_log`];
//! - `plans` (re-partition plans; a name is unique within its village, also between processes
//!   saving at once; a plan's number is unique in the database, so a number names one plan of
//!   one town): [`PgStore::save_plan`], [`PgStore::plans`], [`PgStore::plan`],
//!   [`PgStore::set_plan_adopted`], [`PgStore::delete_plan`];
//! - the household registers: `houses` (keyed by normalised address; remarks sealed), `people`
//!   (name, ID number and phone as AES-256-GCM ciphertext in `bytea` columns, never clear
//!   text; the keyed ID fingerprint, unique per town, finds a person again) and
//!   `register_meta` (per town: the register key check and the fingerprint scheme). The form
//!   is checked and linked by `gridmap_store::registers::prepare_households` and the values
//!   sealed, opened and fingerprinted by `RegisterKey`, the GeoPackage store's own code; an
//!   import is one transaction, and register writes of one town run one at a time (they lock
//!   its `register_meta` row). A town has its own key: another town's key neither reads nor
//!   writes it. [`PgStore::import_households`], [`PgStore::houses`], [`PgStore::people`],
//!   [`PgStore::people_by_building`], [`PgStore::people_unlinked`],
//!   [`PgStore::house_in_building`], [`PgStore::house_remarks`], [`PgStore::register_stats`],
//!   [`PgStore::fingerprint_scheme`], [`PgStore::upgrade_fingerprints`], [`PgStore::rekey`];
//! - `plates` (QR door plates: a random token per building and per house, when printed, how
//!   often scanned) and `declarations` (households declared through them, waiting for review;
//!   their people one value sealed as the GeoPackage store seals it, so that either store opens
//!   what the other wrote; a confirmed one enters the registers through the household import):
//!   [`PgStore::plates_for`], [`PgStore::mark_printed`], [`PgStore::plate`],
//!   [`PgStore::count_scan`], [`PgStore::buildings_by_grid`], [`PgStore::plates_in_use`],
//!   [`PgStore::add_declaration`], [`PgStore::pending_declarations`],
//!   [`PgStore::declaration`], [`PgStore::confirm_declaration`],
//!   [`PgStore::reject_declaration`], [`PgStore::declaration_place`];
//! - the reconciliations with the police register (schema version 8): `reconciliations` (each
//!   run's figures per grid) and `tasks` (the visits police-only people make, numbered per
//!   town), compared by `gridmap_store::reconcile`'s own code on the registers read in the same
//!   transaction: [`PgStore::reconcile`], [`PgStore::open_tasks`], [`PgStore::finish_task`],
//!   [`PgStore::latest_reconciliation`].
//!
//! Errors name rows and columns, never personal data or a password; a driver's message stays
//! out of `Display` ([`StoreError::Backend`]).
//!
//! # Moving a town in and out
//!
//! [`PgStore::copy_out`] reads every row of a town as a `gridmap_store::transfer::ProjectCopy`
//! (which `GpkgStore::write_copy` writes as a GeoPackage project), and [`PgStore::create_copy`]
//! adds one (read from a GeoPackage project by `GpkgStore::copy_out`) as a new town in one
//! transaction: grid history, users, audit log and plans with their times, the registers
//! sealed as they are (no key needed), key subjects, plates, declarations, reconciliations
//! and tasks.
//!
//! # Migrations
//!
//! The schema is versioned: `gridmap_schema` holds a row per migration applied. The migrations
//! are the SQL files of `crates/pgstore/migrations`, built into the binary; [`PgStore::create`]
//! and [`PgStore::open`] apply the missing ones, each in one transaction, under an advisory lock
//! so that processes starting together do not race. A database whose schema is newer than this
//! binary knows ([`SCHEMA_VERSION`]) is refused with [`StoreError::Open`].
//!
//! # Connecting
//!
//! A URL such as `postgres://user@host:5432/database` (or libpq's `key=value` form); parts it
//! leaves out come from the usual `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE` and
//! `PGCONNECT_TIMEOUT` environment variables (see [`config`]), so that a password need not be
//! on a command line. A password never appears in an error or in `Debug` output. Connections
//! are not encrypted yet (no TLS). The client is synchronous (the `postgres` crate drives its
//! own small runtime), so async code calls it off its threads (`spawn_blocking`), as the server
//! already does with SQLite; a [`PgStore`] is `Send` and `Sync` (its connection is behind a
//! mutex).
//!
//! # Citus (sharded PostgreSQL)
//!
//! The town code is the distribution column. On a Citus coordinator, after the first
//! [`PgStore::create`] has made the tables:
//!
//! ```sql
//! SELECT create_distributed_table('town', 'town');
//! SELECT create_distributed_table('villages', 'town', colocate_with => 'town');
//! SELECT create_distributed_table('grids', 'town', colocate_with => 'town');
//! SELECT create_distributed_table('grid_history', 'town', colocate_with => 'town');
//! SELECT create_distributed_table('buildings', 'town', colocate_with => 'town');
//! SELECT create_distributed_table('addresses', 'town', colocate_with => 'town');
//! SELECT create_distributed_table('units', 'town', colocate_with => 'town');
//! SELECT create_distributed_table('visits', 'town', colocate_with => 'town');
//! SELECT create_distributed_table('basemap', 'town', colocate_with => 'town');
//! SELECT create_distributed_table('users', 'town', colocate_with => 'town');
//! SELECT create_distributed_table('sessions', 'town', colocate_with => 'town');
//! SELECT create_distributed_table('audit', 'town', colocate_with => 'town');
//! SELECT create_distributed_table('plans', 'town', colocate_with => 'town');
//! SELECT create_distributed_table('register_meta', 'town', colocate_with => 'town');
//! SELECT create_distributed_table('houses', 'town', colocate_with => 'town');
//! SELECT create_distributed_table('people', 'town', colocate_with => 'town');
//! SELECT create_distributed_table('key_subjects', 'town', colocate_with => 'town');
//! SELECT create_distributed_table('plates', 'town', colocate_with => 'town');
//! SELECT create_distributed_table('declarations', 'town', colocate_with => 'town');
//! SELECT create_distributed_table('reconciliations', 'town', colocate_with => 'town');
//! SELECT create_distributed_table('tasks', 'town', colocate_with => 'town');
//! SELECT create_reference_table('gridmap_schema');
//! SELECT create_reference_table('division');
//! SELECT create_reference_table('division_users');
//! ```
//!
//! Small shared tables (the schema version, the org tree above the town and its users) are
//! reference tables, copied to every node. Every statement of [`PgStore`] on a layer
//! filters on one town, so each is routed to one shard, and the foreign keys to `town` are
//! between co-located tables, as Citus requires. (Untested here: CI runs plain PostgreSQL; the
//! `fid` identity columns need a Citus that supports identity columns on distributed tables.)
//!
//! # Not yet
//!
//! The CLI opens a `postgres://` project for `init`, `import`, `export`, `validate`, `stats`,
//! `history`, `restore`, `rekey`, `user add`, `division` and `serve` (and moves a whole town in
//! and out, `transfer.rs`); its other commands open GeoPackage projects only for now.
//! Visits are read streamed ([`PgStore::each_visit_from`]);
//! the other layers are read a town at a time.
//!
//! # Several processes, one town
//!
//! Every committed change of a town's data bumps its change counter and is announced on the
//! channel [`CHANNEL`] (schema version 3): [`PgStore::listen`] gives a [`Listener`] on a
//! connection of its own, which is the store's `gridmap_store::ChangeFeed` (see the `notify`
//! module); [`PgStore::change_counter`], [`PgStore::backend_pid`] (the sender of this store's
//! own changes) and [`PgStore::reopen`] (a second connection to the same town) go with it.
//! The counter is bumped under the town row's lock, so writers of one town commit one after
//! another from their first change on.

#![warn(missing_docs)]

mod accounts;
mod divisions;
pub use divisions::Division;
mod key_subjects;
mod notify;
mod plans;
mod plates;
mod project;
mod reconcile;
mod registers;
mod transfer;

pub use notify::{CHANNEL, Listener};

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use geo::{Geometry, MultiPolygon, Point};
use geozero::wkb::{Decode, Encode};
use geozero::{GeomProcessor, GeozeroGeometry};
use gridmap_core::model::{
    Address, BasemapFeature, BasemapLayer, Building, Footprint, Grid, Town, Unit, Village, Visit,
    VisitOutcome,
};
use gridmap_store::{
    Change, GridVersion, ImportCounts, LAYERS, Mode, Result, Store, StoreError, StoredGrid,
};
use postgres::config::Host;
use postgres::types::ToSql;
use postgres::{Client, Config, NoTls, Row, Transaction};

/// The newest schema version this binary knows: the number of its migrations.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// The migrations, in order: version `i + 1` is `MIGRATIONS[i]`.
const MIGRATIONS: [&str; 9] = [
    include_str!("../migrations/0001_initial.sql"),
    include_str!("../migrations/0002_accounts_plans_registers.sql"),
    include_str!("../migrations/0003_changes.sql"),
    include_str!("../migrations/0004_sessions_closed.sql"),
    include_str!("../migrations/0005_sessions_closed_by_token.sql"),
    include_str!("../migrations/0006_key_subjects.sql"),
    include_str!("../migrations/0007_plates_declarations.sql"),
    include_str!("../migrations/0008_reconciliations.sql"),
    include_str!("../migrations/0009_divisions.sql"),
];

/// Key of the advisory lock under which migrations run (any constant: "gridmap" in ASCII).
const MIGRATION_LOCK: i64 = 0x0067_7269_646d_6170;

/// Rows per `INSERT … SELECT FROM unnest(…)` statement of an import.
const CHUNK: usize = 5_000;

/// UTC, RFC 3339 with milliseconds, as the GeoPackage store writes times.
const AT: &str = r#"to_char(changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"#;

/// Wraps a driver error as [`StoreError::Backend`].
trait Db<T> {
    fn db(self) -> Result<T>;
}

impl<T> Db<T> for std::result::Result<T, postgres::Error> {
    fn db(self) -> Result<T> {
        self.map_err(|e| StoreError::Backend(Box::new(e)))
    }
}

/// A geometry written with SRID 4326 (EWKB), as the geometry columns require.
struct Wgs84(Geometry);

impl GeozeroGeometry for Wgs84 {
    fn process_geom<P: GeomProcessor>(&self, processor: &mut P) -> geozero::error::Result<()> {
        self.0.process_geom(processor)
    }
    fn srid(&self) -> Option<i32> {
        Some(4326)
    }
}

type Geom = Encode<Wgs84>;

fn geom(g: Geometry) -> Geom {
    Encode(Wgs84(g))
}

fn area(m: &MultiPolygon) -> Geom {
    geom(Geometry::MultiPolygon(m.clone()))
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

/// The connection settings for `url`, with what it leaves out taken from the environment as
/// libpq does: `PGHOST` (host names or socket directories, comma-separated; else `localhost`),
/// `PGPORT`, `PGUSER` (else `USER`), `PGPASSWORD`, `PGDATABASE` and `PGCONNECT_TIMEOUT`
/// (seconds; else 10). `env` looks a variable up: `|k| std::env::var(k).ok()` for the process's
/// own. A URL that cannot be parsed is an [`StoreError::Open`] that does not repeat it.
pub fn config(url: &str, env: impl Fn(&str) -> Option<String>) -> Result<Config> {
    let fail = |message: String| StoreError::Open {
        path: "PostgreSQL URL".into(),
        message,
    };
    let port = match env("PGPORT").filter(|p| !p.is_empty()) {
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| fail(format!("PGPORT {p:?} is not a port number")))?,
        ),
        None => None,
    };
    let url = match port {
        Some(p) => with_default_port(url, p),
        None => url.to_string(),
    };
    let mut c = Config::from_str(&url).map_err(|_| {
        fail(
            "not a PostgreSQL connection URL (postgres://user@host:port/database, or key=value pairs)"
                .into(),
        )
    })?;
    if c.get_hosts().is_empty() {
        let hosts = env("PGHOST").filter(|h| !h.is_empty());
        for h in hosts.as_deref().unwrap_or("localhost").split(',') {
            if h.starts_with('/') {
                c.host_path(h);
            } else {
                c.host(h);
            }
        }
    }
    if c.get_ports().is_empty()
        && let Some(p) = port
    {
        c.port(p);
    }
    if c.get_user().is_none() {
        let user = env("PGUSER")
            .or_else(|| env("USER"))
            .filter(|u| !u.is_empty())
            .ok_or_else(|| fail("no user name: give one in the URL or in PGUSER".into()))?;
        c.user(&user);
    }
    if c.get_password().is_none()
        && let Some(p) = env("PGPASSWORD")
    {
        c.password(p);
    }
    if c.get_dbname().is_none()
        && let Some(d) = env("PGDATABASE").filter(|d| !d.is_empty())
    {
        c.dbname(&d);
    }
    if c.get_connect_timeout().is_none() {
        let secs = env("PGCONNECT_TIMEOUT")
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(10);
        c.connect_timeout(Duration::from_secs(secs));
    }
    if c.get_application_name().is_none() {
        c.application_name("gridmap");
    }
    Ok(c)
}

/// `url` with `:port` after each of its hosts that has none, when it is a URL
/// (`postgres://…`): the driver's parser gives such a host port 5432, which would hide `PGPORT`.
fn with_default_port(url: &str, port: u16) -> String {
    let Some(scheme) = ["postgres://", "postgresql://"]
        .into_iter()
        .find(|s| url.starts_with(s))
    else {
        return url.into();
    };
    let rest = &url[scheme.len()..];
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let (userinfo, hosts) = match authority.find('@') {
        Some(i) => authority.split_at(i + 1),
        None => ("", authority),
    };
    if hosts.is_empty() {
        return url.into();
    }
    let hosts: Vec<String> = hosts
        .split(',')
        .map(|h| {
            let has_port = if h.starts_with('[') {
                h.contains("]:")
            } else {
                h.contains(':')
            };
            if has_port {
                h.to_string()
            } else {
                format!("{h}:{port}")
            }
        })
        .collect();
    format!("{scheme}{userinfo}{}{}", hosts.join(","), &rest[end..])
}

/// `postgres://user@host:port/database` for `c`, without the password: how errors name a
/// database.
pub fn describe(c: &Config) -> String {
    let host = match c.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = c.get_ports().first().copied().unwrap_or(5432);
    let user = c.get_user().unwrap_or_default();
    let db = c.get_dbname().unwrap_or(user);
    format!("postgres://{user}@{host}:{port}/{db}")
}

/// A town of a gridmap database on PostgreSQL/PostGIS. See the [crate] documentation.
pub struct PgStore {
    client: Mutex<Client>,
    town: String,
    target: String,
    /// How to connect again (a second connection, a listener); holds the password, if any:
    /// never printed.
    config: Config,
    /// The backend process id of `client` once asked ([`PgStore::backend_pid`]; 0 before),
    /// renewed when [`revive`] connects again: the sender of this store's change notes, shared
    /// with its listeners so that they still know this store's notes after a reconnection.
    pid: std::sync::Arc<std::sync::atomic::AtomicI32>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("database", &self.target)
            .field("town", &self.town)
            .finish_non_exhaustive()
    }
}

fn connect(url: &str) -> Result<(Client, String, Config)> {
    let c = config(url, |k| std::env::var(k).ok())?;
    let (client, target) = connect_with(&c)?;
    Ok((client, target, c))
}

/// Connects again when the server closed the connection (a restart of PostgreSQL, a
/// terminated session): the call that found it broken failed with [`StoreError::Backend`]
/// (the HTTP server's 503), the next one gets a new connection. While the database is still
/// down the closed connection stays, and calls keep failing the same way.
fn revive(config: &Config, client: &mut Client, pid: &std::sync::atomic::AtomicI32) {
    if client.is_closed()
        && let Ok((mut fresh, _)) = connect_with(config)
    {
        // A listener compares senders with this; 0 (unknown) if the question fails.
        let id = fresh
            .query_one("SELECT pg_backend_pid()", &[])
            .map_or(0, |r| r.get(0));
        pid.store(id, std::sync::atomic::Ordering::Relaxed);
        *client = fresh;
    }
}

/// A connection made with `c`, and how errors name its database.
fn connect_with(c: &Config) -> Result<(Client, String)> {
    let target = describe(c);
    let client = c.connect(NoTls).map_err(|e| StoreError::Open {
        path: target.clone(),
        message: format!("cannot connect: {e}"),
    })?;
    Ok((client, target))
}

/// The schema version that `gridmap_schema` records (0: none). gridmap's tables live in the
/// current schema (the first of the search path that exists; PostGIS may be in a later one,
/// such as `public`).
fn schema_version(tx: &mut Transaction) -> Result<i32> {
    let exists: bool = tx
        .query_one(
            "SELECT to_regclass(quote_ident(current_schema()) || '.gridmap_schema') IS NOT NULL",
            &[],
        )
        .db()?
        .get(0);
    if !exists {
        return Ok(0);
    }
    Ok(tx
        .query_one("SELECT coalesce(max(version), 0) FROM gridmap_schema", &[])
        .db()?
        .get(0))
}

/// Brings the schema up to [`SCHEMA_VERSION`], one transaction per migration. Refuses a newer
/// schema, and (unless `create`) a database that has none.
fn migrate(client: &mut Client, target: &str, create: bool) -> Result<()> {
    let fail = |message: String| StoreError::Open {
        path: target.into(),
        message,
    };
    loop {
        let mut tx = client.transaction().db()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .db()?;
        let current = schema_version(&mut tx)?;
        if current > SCHEMA_VERSION {
            return Err(fail(format!(
                "the database's gridmap schema is version {current}, newer than this gridmap \
                 knows ({SCHEMA_VERSION}): upgrade gridmap"
            )));
        }
        if current == 0 && !create {
            return Err(fail(
                "not a gridmap database (no gridmap_schema table); add a town with `gridmap init`"
                    .into(),
            ));
        }
        if current == SCHEMA_VERSION {
            return Ok(());
        }
        if current == 0 {
            tx.batch_execute(
                "CREATE TABLE gridmap_schema (version integer PRIMARY KEY,
                   applied_at timestamptz NOT NULL DEFAULT now())",
            )
            .db()?;
        }
        let next = current + 1;
        let sql = MIGRATIONS[(next - 1) as usize];
        tx.batch_execute(sql).map_err(|e| {
            fail(format!(
                "migration to schema version {next} failed (nothing of it was applied): {}",
                e.as_db_error()
                    .map_or("".into(), |d| d.message().to_string())
            ))
        })?;
        tx.execute("INSERT INTO gridmap_schema (version) VALUES ($1)", &[&next])
            .db()?;
        tx.commit().db()?;
    }
}

/// A simple (history-less) layer: table, key column and the other columns, in order.
struct Layer {
    table: &'static str,
    key: &'static str,
    columns: &'static [&'static str],
}

const VILLAGES: Layer = Layer {
    table: "villages",
    key: "code",
    columns: &["name", "parent_town"],
};
const BUILDINGS: Layer = Layer {
    table: "buildings",
    key: "id",
    columns: &["households", "floors", "kind"],
};
const ADDRESSES: Layer = Layer {
    table: "addresses",
    key: "id",
    columns: &["text", "grid", "building"],
};
const UNITS: Layer = Layer {
    table: "units",
    key: "id",
    columns: &["name", "category", "address", "contact"],
};
const VISITS: Layer = Layer {
    table: "visits",
    key: "id",
    columns: &[
        "building",
        "house",
        "worker",
        "visited_at",
        "outcome",
        "note",
        "flagged",
        "knows_worker",
        "satisfaction",
    ],
};

/// One column of an import, as an array parameter.
enum Col {
    Text(Vec<Option<String>>),
    Int(Vec<Option<i64>>),
    Small(Vec<Option<i16>>),
    Bool(Vec<Option<bool>>),
}

impl Col {
    fn array_type(&self) -> &'static str {
        match self {
            Col::Text(_) => "text[]",
            Col::Int(_) => "bigint[]",
            Col::Small(_) => "smallint[]",
            Col::Bool(_) => "boolean[]",
        }
    }

    /// Rows `r` of the column, as a parameter.
    fn slice(&self, r: std::ops::Range<usize>) -> Box<dyn ToSql + Sync + '_> {
        match self {
            Col::Text(v) => Box::new(&v[r]),
            Col::Int(v) => Box::new(&v[r]),
            Col::Small(v) => Box::new(&v[r]),
            Col::Bool(v) => Box::new(&v[r]),
        }
    }
}

/// The records of an import, column by column.
struct Batch {
    keys: Vec<String>,
    cols: Vec<Col>,
    geoms: Vec<Option<Geom>>,
}

fn texts<T>(items: &[T], f: impl Fn(&T) -> Option<String>) -> Col {
    Col::Text(items.iter().map(f).collect())
}

fn ints<T>(items: &[T], f: impl Fn(&T) -> Option<i64>) -> Col {
    Col::Int(items.iter().map(f).collect())
}

/// The `INSERT … SELECT FROM unnest(…)` of one chunk of `layer`: `$1` the town, `$2` the keys,
/// then the columns and the geometries; for an upsert, identical rows are left alone and each
/// row written returns whether it was inserted.
fn insert_sql(layer: &Layer, batch: &Batch, mode: Mode) -> String {
    let n = layer.columns.len();
    let mut arrays = vec!["$2::text[]".to_string()];
    arrays.extend(
        batch
            .cols
            .iter()
            .enumerate()
            .map(|(i, c)| format!("${}::{}", i + 3, c.array_type())),
    );
    arrays.push(format!("${}::geometry[]", n + 3));
    let aliases: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
    let targets: Vec<String> = layer.columns.iter().map(|c| format!("\"{c}\"")).collect();
    let mut sql = format!(
        "INSERT INTO {t} (town, \"{k}\", {cols}, geom) SELECT $1, u.k, {vals}, u.g
         FROM unnest({arrays}) WITH ORDINALITY AS u(k, {aliases}, g, ord) ORDER BY u.ord",
        t = layer.table,
        k = layer.key,
        cols = targets.join(", "),
        vals = aliases
            .iter()
            .map(|a| format!("u.{a}"))
            .collect::<Vec<_>>()
            .join(", "),
        arrays = arrays.join(", "),
        aliases = aliases.join(", "),
    );
    if mode == Mode::Upsert {
        let set: Vec<String> = targets
            .iter()
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        let old: Vec<String> = targets
            .iter()
            .map(|c| format!("{}.{c}", layer.table))
            .collect();
        let new: Vec<String> = targets.iter().map(|c| format!("excluded.{c}")).collect();
        sql += &format!(
            " ON CONFLICT (town, \"{k}\") DO UPDATE SET {set}, geom = excluded.geom
              WHERE ROW({old}) IS DISTINCT FROM ROW({new})
                 OR ST_AsEWKB({t}.geom) IS DISTINCT FROM ST_AsEWKB(excluded.geom)
              RETURNING (xmax = 0)",
            k = layer.key,
            t = layer.table,
            set = set.join(", "),
            old = old.join(", "),
            new = new.join(", "),
        );
    }
    sql
}

impl PgStore {
    /// Adds a town to the database at `url` (see [`config`]), bringing the schema up to date
    /// first (a new database gets it). Fails with [`StoreError::Open`] if the town exists.
    pub fn create(url: &str, town_code: &str, town_name: &str) -> Result<Self> {
        let (mut client, target, config) = connect(url)?;
        migrate(&mut client, &target, true)?;
        let added = client
            .execute(
                "INSERT INTO town (town, name) VALUES ($1, $2) ON CONFLICT (town) DO NOTHING",
                &[&town_code, &town_name],
            )
            .db()?;
        if added == 0 {
            return Err(StoreError::Open {
                path: target,
                message: format!(
                    "town {town_code} already exists in this database; open it, or choose another code"
                ),
            });
        }
        Ok(PgStore {
            client: Mutex::new(client),
            town: town_code.into(),
            target,
            config,
            pid: Default::default(),
        })
    }

    /// Opens the town `town_code` of the database at `url` (see [`config`]), applying the
    /// migrations the database lacks. Fails with [`StoreError::Open`] if the database is not a
    /// gridmap database, has a newer schema than this binary knows, or has no such town.
    pub fn open(url: &str, town_code: &str) -> Result<Self> {
        let (mut client, target, config) = connect(url)?;
        migrate(&mut client, &target, false)?;
        let exists: bool = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM town WHERE town = $1)",
                &[&town_code],
            )
            .db()?
            .get(0);
        if !exists {
            return Err(StoreError::Open {
                path: target,
                message: format!(
                    "no town {town_code} in this database (add it with `gridmap init`)"
                ),
            });
        }
        Ok(PgStore {
            client: Mutex::new(client),
            town: town_code.into(),
            target,
            config,
            pid: Default::default(),
        })
    }

    /// The code of the town this store reads and writes.
    pub fn town_code(&self) -> &str {
        &self.town
    }

    /// The database, as `postgres://user@host:port/database` (no password).
    pub fn database(&self) -> &str {
        &self.target
    }

    /// The codes of every town in the database, sorted.
    pub fn towns(&self) -> Result<Vec<String>> {
        Ok(self
            .lock()
            .query("SELECT town FROM town ORDER BY town", &[])
            .db()?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    /// The towns of the database at `url` (see [`config`]) as (code, name), sorted by code,
    /// without opening one: how a caller given no town finds which to open. Applies the
    /// migrations the database lacks, as [`PgStore::open`] does, and fails as it does with
    /// [`StoreError::Open`] if the database is not a gridmap database or has a newer schema.
    pub fn towns_in(url: &str) -> Result<Vec<(String, String)>> {
        let (mut client, target, _) = connect(url)?;
        migrate(&mut client, &target, false)?;
        Ok(client
            .query("SELECT town, name FROM town ORDER BY town", &[])
            .db()?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    /// The schema version of the database.
    pub fn schema_version(&self) -> Result<i32> {
        let mut client = self.lock();
        let mut tx = client.transaction().db()?;
        schema_version(&mut tx)
    }

    fn lock(&self) -> MutexGuard<'_, Client> {
        let mut client = self.client.lock().unwrap_or_else(PoisonError::into_inner);
        revive(&self.config, &mut client, &self.pid);
        client
    }

    fn conn(&mut self) -> &mut Client {
        let client = self
            .client
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        revive(&self.config, client, &self.pid);
        client
    }

    /// Every row of `layer` (or the one whose key is `key`), oldest first: `f` gets the row
    /// (`fid`, key, the columns in order, then the geometry) and its decoded geometry.
    fn read<T>(
        &self,
        table: &'static str,
        key: &str,
        columns: &[&str],
        only: Option<&str>,
        f: impl FnMut(&Row, Option<Geometry>) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.read_from(table, key, columns, only, 0, f)
    }

    /// [`read`](Self::read), leaving out the first `skip` rows.
    fn read_from<T>(
        &self,
        table: &'static str,
        key: &str,
        columns: &[&str],
        only: Option<&str>,
        skip: i64,
        mut f: impl FnMut(&Row, Option<Geometry>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        self.read_each(table, key, columns, only, skip, |r, g| {
            out.push(f(r, g)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// [`Self::read_from`], handing each row to `f` as it arrives from the database (a
    /// streamed query: the rows are never all held at once).
    fn read_each(
        &self,
        table: &'static str,
        key: &str,
        columns: &[&str],
        only: Option<&str>,
        skip: i64,
        mut f: impl FnMut(&Row, Option<Geometry>) -> Result<()>,
    ) -> Result<()> {
        let cols: String = columns.iter().map(|c| format!(", \"{c}\"")).collect();
        let filter = if only.is_some() {
            format!(" AND \"{key}\" = $2")
        } else {
            String::new()
        };
        // A literal, not a parameter: the statement's parameters stay those above.
        let order = if skip > 0 {
            format!(" ORDER BY fid OFFSET {skip}")
        } else {
            " ORDER BY fid".to_string()
        };
        // An empty point (an address or unit without a location, written as NaN, NaN) comes
        // back as no geometry: the decoder cannot read `POINT EMPTY`.
        let sql = format!(
            "SELECT fid, \"{key}\"{cols},
               CASE WHEN GeometryType(geom) = 'POINT' AND ST_IsEmpty(geom) THEN NULL ELSE geom END
             FROM {table} WHERE town = $1{filter}{order}"
        );
        let g = columns.len() + 2;
        let mut client = self.lock();
        let params: Vec<&(dyn ToSql + Sync)> = match &only {
            Some(k) => vec![&self.town, k],
            None => vec![&self.town],
        };
        let mut rows = client.query_raw(&sql, params).db()?;
        while let Some(r) = postgres::fallible_iterator::FallibleIterator::next(&mut rows).db()? {
            let geometry = r
                .try_get::<_, Decode<Geometry>>(g)
                .map_err(|e| StoreError::Geometry {
                    table,
                    fid: r.get(0),
                    message: e.to_string(),
                })?
                .geometry;
            f(&r, geometry)?;
        }
        Ok(())
    }

    /// The visits from the `position`-th on (counting from 0, in store order): the visits
    /// that a log holding the first `position` has not seen.
    pub fn visits_from(&self, position: usize) -> Result<Vec<Visit>> {
        let mut out = Vec::new();
        self.each_visit_from(position, &mut |v| out.push(v))?;
        Ok(out)
    }

    /// [`Self::visits_from`], handing each visit to `each` as it arrives from the database.
    pub fn each_visit_from(&self, position: usize, each: &mut dyn FnMut(Visit)) -> Result<()> {
        let skip = i64::try_from(position).unwrap_or(i64::MAX);
        self.read_each("visits", "id", VISITS.columns, None, skip, |r, g| {
            let outcome: String = r.get(6);
            each(Visit {
                id: r.get(1),
                building: r.get(2),
                house: r.get(3),
                worker: r.get(4),
                time: r.get(5),
                outcome: VisitOutcome::parse(&outcome).unwrap_or(VisitOutcome::Visited),
                note: r.get(7),
                flagged: r.get(8),
                knows_worker: r.get(9),
                satisfaction: r
                    .get::<_, Option<i16>>(10)
                    .and_then(|s| u8::try_from(s).ok()),
                point: point(g),
            });
            Ok(())
        })
    }

    /// Imports the records of `batch` into `layer` in one transaction.
    fn import(&mut self, layer: &Layer, batch: Batch, mode: Mode) -> Result<ImportCounts> {
        let town = self.town.clone();
        let mut tx = self.conn().transaction().db()?;
        let counts = import_tx(&mut tx, &town, layer, batch, mode)?;
        tx.commit().db()?;
        Ok(counts)
    }
}

/// Imports the records of `batch` into `layer` of `town`, inside the caller's transaction.
fn import_tx(
    tx: &mut Transaction,
    town: &str,
    layer: &Layer,
    batch: Batch,
    mode: Mode,
) -> Result<ImportCounts> {
    let fail = |message: String| StoreError::Import {
        layer: layer.table,
        message,
    };
    let mut seen = HashSet::with_capacity(batch.keys.len());
    for k in &batch.keys {
        if !seen.insert(k.as_str()) {
            return Err(fail(format!("id {k} appears twice in the input")));
        }
    }
    // PostgreSQL's text cannot hold NUL: name the record rather than fail half-way.
    let nul = |t: &Option<String>| t.as_deref().is_some_and(|t| t.contains('\0'));
    for (i, k) in batch.keys.iter().enumerate() {
        let in_text = batch.cols.iter().any(|c| match c {
            Col::Text(v) => nul(&v[i]),
            _ => false,
        });
        if k.contains('\0') || in_text {
            return Err(fail(format!(
                "id {}: text with a NUL character, which PostgreSQL cannot store",
                k.replace('\0', "\\0")
            )));
        }
    }
    let mut counts = ImportCounts::default();
    match mode {
        Mode::Replace => {
            counts.deleted = tx
                .execute(
                    &format!("DELETE FROM {} WHERE town = $1", layer.table),
                    &[&town],
                )
                .db()? as usize;
        }
        Mode::Append => {
            let existing: HashSet<String> = tx
                .query(
                    &format!(
                        "SELECT \"{k}\" FROM {t} WHERE town = $1 AND \"{k}\" = ANY($2)",
                        k = layer.key,
                        t = layer.table
                    ),
                    &[&town, &batch.keys],
                )
                .db()?
                .iter()
                .map(|r| r.get(0))
                .collect();
            if let Some(k) = batch.keys.iter().find(|k| existing.contains(*k)) {
                return Err(fail(format!(
                    "id {k} already exists (import with --mode upsert or replace)"
                )));
            }
        }
        Mode::Upsert => {}
    }
    let sql = insert_sql(layer, &batch, mode);
    let stmt = tx.prepare(&sql).db()?;
    let n = batch.keys.len();
    for start in (0..n).step_by(CHUNK) {
        let r = start..(start + CHUNK).min(n);
        let keys = &batch.keys[r.clone()];
        let geoms = &batch.geoms[r.clone()];
        let cols: Vec<Box<dyn ToSql + Sync + '_>> =
            batch.cols.iter().map(|c| c.slice(r.clone())).collect();
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&town, &keys];
        params.extend(cols.iter().map(|c| c.as_ref()));
        params.push(&geoms);
        if mode == Mode::Upsert {
            let written = tx.query(&stmt, &params).db()?;
            let inserted = written.iter().filter(|w| w.get::<_, bool>(0)).count();
            counts.inserted += inserted;
            counts.updated += written.len() - inserted;
            counts.unchanged += r.len() - written.len();
        } else {
            counts.inserted += tx.execute(&stmt, &params).db()? as usize;
        }
    }
    Ok(counts)
}

/// A grid's current state, read under a row lock.
struct Current {
    version: u32,
    name: Option<String>,
    village: Option<String>,
    geometry: Option<MultiPolygon>,
}

fn current(tx: &mut Transaction, town: &str, code: &str) -> Result<Option<Current>> {
    let row = tx
        .query_opt(
            "SELECT version, name, village, geom FROM grids WHERE town = $1 AND code = $2 FOR UPDATE",
            &[&town, &code],
        )
        .db()?;
    row.map(|r| {
        let geometry = r
            .try_get::<_, Decode<Geometry>>(3)
            .map_err(|e| StoreError::Geometry {
                table: "grids",
                fid: -1,
                message: e.to_string(),
            })?
            .geometry;
        Ok(Current {
            version: r.get::<_, i32>(0) as u32,
            name: r.get(1),
            village: r.get(2),
            geometry: multipolygon(geometry),
        })
    })
    .transpose()
}

fn last_version(tx: &mut Transaction, town: &str, code: &str) -> Result<u32> {
    Ok(tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM grid_history WHERE town = $1 AND grid = $2",
            &[&town, &code],
        )
        .db()?
        .get::<_, i32>(0) as u32)
}

/// Records a new version of grid `code` in its history: the boundary before is the current
/// row's (read by the statement itself).
#[allow(clippy::too_many_arguments)]
fn record(
    tx: &mut Transaction,
    town: &str,
    code: &str,
    version: u32,
    action: &str,
    change: &Change,
    name: &Option<String>,
    village: &Option<String>,
    geometry: Option<&MultiPolygon>,
) -> Result<()> {
    tx.execute(
        "INSERT INTO grid_history (town, grid, version, action, changed_by, reason, name, village, old_geom, geom)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
                 (SELECT geom FROM grids WHERE town = $1 AND code = $2), $9)",
        &[
            &town,
            &code,
            &(version as i32),
            &action,
            &change.who,
            &change.why,
            name,
            village,
            &geometry.map(area),
        ],
    )
    .db()?;
    Ok(())
}

enum Saved {
    Inserted(u32),
    Updated(u32),
    Unchanged(u32),
}

impl Saved {
    fn version(&self) -> u32 {
        match self {
            Saved::Inserted(v) | Saved::Updated(v) | Saved::Unchanged(v) => *v,
        }
    }
}

fn save_grid_tx(
    tx: &mut Transaction,
    town: &str,
    grid: &Grid,
    expected: Option<u32>,
    change: &Change,
    action: Option<&str>,
) -> Result<Saved> {
    let cur = current(tx, town, &grid.code)?;
    let stored = cur.as_ref().map(|c| {
        let same = c.name == grid.name
            && c.village == grid.village
            && c.geometry.as_ref() == Some(&grid.geometry);
        (c.version, same)
    });
    if let Some(version) = gridmap_store::check_grid_save(&grid.code, expected, stored)? {
        return Ok(Saved::Unchanged(version));
    }
    let version = last_version(tx, town, &grid.code)? + 1;
    let action = action.unwrap_or(if cur.is_some() { "updated" } else { "created" });
    record(
        tx,
        town,
        &grid.code,
        version,
        action,
        change,
        &grid.name,
        &grid.village,
        Some(&grid.geometry),
    )?;
    tx.execute(
        "INSERT INTO grids (town, code, name, village, version, updated_at, updated_by, geom)
         VALUES ($1, $2, $3, $4, $5, now(), $6, $7)
         ON CONFLICT (town, code) DO UPDATE SET name = excluded.name, village = excluded.village,
           version = excluded.version, updated_at = excluded.updated_at,
           updated_by = excluded.updated_by, geom = excluded.geom",
        &[
            &town,
            &grid.code,
            &grid.name,
            &grid.village,
            &(version as i32),
            &change.who,
            &area(&grid.geometry),
        ],
    )
    .db()?;
    Ok(if cur.is_some() {
        Saved::Updated(version)
    } else {
        Saved::Inserted(version)
    })
}

fn delete_grid_tx(
    tx: &mut Transaction,
    town: &str,
    code: &str,
    expected: Option<u32>,
    change: &Change,
) -> Result<()> {
    let Some(cur) = current(tx, town, code)? else {
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
    let version = last_version(tx, town, code)? + 1;
    record(
        tx,
        town,
        code,
        version,
        "deleted",
        change,
        &cur.name,
        &cur.village,
        None,
    )?;
    tx.execute(
        "DELETE FROM grids WHERE town = $1 AND code = $2",
        &[&town, &code],
    )
    .db()?;
    Ok(())
}

fn read_grids(store: &PgStore, code: Option<&str>) -> Result<Vec<StoredGrid>> {
    store.read(
        "grids",
        "code",
        &["name", "village", "version"],
        code,
        |r, g| {
            Ok(StoredGrid {
                grid: Grid {
                    code: r.get(1),
                    name: r.get(2),
                    village: r.get(3),
                    geometry: multipolygon(g).unwrap_or(MultiPolygon(vec![])),
                },
                version: r.get::<_, i32>(4) as u32,
            })
        },
    )
}

fn count_u32(table: &'static str, fid: i64, v: Option<i64>) -> Result<Option<u32>> {
    v.map(|v| {
        u32::try_from(v).map_err(|_| StoreError::Import {
            layer: table,
            message: format!("row {fid}: {v} is out of range"),
        })
    })
    .transpose()
}

/// The records of an import of villages.
fn villages_batch(villages: &[Village]) -> Batch {
    Batch {
        keys: villages.iter().map(|v| v.code.clone()).collect(),
        cols: vec![
            texts(villages, |v| Some(v.name.clone())),
            texts(villages, |v| v.town.clone()),
        ],
        geoms: villages
            .iter()
            .map(|v| v.boundary.as_ref().map(area))
            .collect(),
    }
}

/// The records of an import of buildings.
fn buildings_batch(buildings: &[Building]) -> Batch {
    Batch {
        keys: buildings.iter().map(|b| b.id.clone()).collect(),
        cols: vec![
            ints(buildings, |b| Some(i64::from(b.households))),
            ints(buildings, |b| b.floors.map(i64::from)),
            texts(buildings, |b| b.kind.clone()),
        ],
        geoms: buildings
            .iter()
            .map(|b| Some(geom(Geometry::from(&b.footprint))))
            .collect(),
    }
}

/// The records of an import of addresses.
fn addresses_batch(addresses: &[Address]) -> Batch {
    Batch {
        keys: addresses.iter().map(|a| a.id.clone()).collect(),
        cols: vec![
            texts(addresses, |a| a.text.clone()),
            texts(addresses, |a| a.declared_grid.clone()),
            texts(addresses, |a| a.declared_building.clone()),
        ],
        geoms: addresses
            .iter()
            .map(|a| Some(geom(Geometry::Point(a.point))))
            .collect(),
    }
}

/// The records of an import of units.
fn units_batch(units: &[Unit]) -> Batch {
    Batch {
        keys: units.iter().map(|u| u.id.clone()).collect(),
        cols: vec![
            texts(units, |u| Some(u.name.clone())),
            texts(units, |u| u.category.clone()),
            texts(units, |u| u.address.clone()),
            texts(units, |u| u.contact.clone()),
        ],
        geoms: units
            .iter()
            .map(|u| Some(geom(Geometry::Point(u.point))))
            .collect(),
    }
}

/// The records of an import of visits.
fn visits_batch(visits: &[Visit]) -> Batch {
    Batch {
        keys: visits.iter().map(|v| v.id.clone()).collect(),
        cols: vec![
            texts(visits, |v| v.building.clone()),
            texts(visits, |v| v.house.clone()),
            texts(visits, |v| Some(v.worker.clone())),
            texts(visits, |v| Some(v.time.clone())),
            texts(visits, |v| Some(v.outcome.as_str().into())),
            texts(visits, |v| v.note.clone()),
            Col::Bool(visits.iter().map(|v| Some(v.flagged)).collect()),
            Col::Bool(visits.iter().map(|v| v.knows_worker).collect()),
            Col::Small(
                visits
                    .iter()
                    .map(|v| v.satisfaction.map(i16::from))
                    .collect(),
            ),
        ],
        geoms: visits
            .iter()
            .map(|v| v.point.map(|p| geom(Geometry::Point(p))))
            .collect(),
    }
}

/// Imports the features of one basemap layer of `town`, inside the caller's transaction.
fn import_basemap_tx(
    tx: &mut Transaction,
    town: &str,
    layer: BasemapLayer,
    features: &[BasemapFeature],
    mode: Mode,
) -> Result<ImportCounts> {
    gridmap_store::check_basemap_import(layer, features, mode)?;
    let name = layer.as_str();
    let mut counts = ImportCounts::default();
    if mode == Mode::Replace {
        counts.deleted = tx
            .execute(
                "DELETE FROM basemap WHERE town = $1 AND layer = $2",
                &[&town, &name],
            )
            .db()? as usize;
    }
    let stmt = tx
        .prepare(
            "INSERT INTO basemap (town, layer, kind, detail, name, geom)
             SELECT $1, $2, u.kind, u.detail, u.name, u.g
             FROM unnest($3::text[], $4::text[], $5::text[], $6::geometry[])
               WITH ORDINALITY AS u(kind, detail, name, g, ord)
             ORDER BY u.ord",
        )
        .db()?;
    for chunk in features.chunks(CHUNK) {
        let kinds: Vec<Option<String>> = chunk.iter().map(|f| f.kind.clone()).collect();
        let details: Vec<Option<String>> = chunk.iter().map(|f| f.detail.clone()).collect();
        let names: Vec<Option<String>> = chunk.iter().map(|f| f.name.clone()).collect();
        let geoms: Vec<Geom> = chunk.iter().map(|f| geom(f.geometry.clone())).collect();
        counts.inserted += tx
            .execute(&stmt, &[&town, &name, &kinds, &details, &names, &geoms])
            .db()? as usize;
    }
    Ok(counts)
}

/// A row of `grid_history` read as `version, action, changed_at (as {AT}), changed_by, reason,
/// name, village, old_geom, geom` (more columns may follow).
fn grid_version(r: &Row) -> Result<GridVersion> {
    let version = r.get::<_, i32>(0);
    let geo = |i: usize| -> Result<Option<MultiPolygon>> {
        r.try_get::<_, Decode<Geometry>>(i)
            .map(|d| multipolygon(d.geometry))
            .map_err(|e| StoreError::Geometry {
                table: "grid_history",
                fid: i64::from(version),
                message: e.to_string(),
            })
    };
    Ok(GridVersion {
        version: version as u32,
        action: r.get(1),
        at: r.get(2),
        who: r.get(3),
        why: r.get(4),
        name: r.get(5),
        village: r.get(6),
        previous: geo(7)?,
        geometry: geo(8)?,
    })
}

impl Store for PgStore {
    fn town(&self) -> Result<Town> {
        let row = self
            .lock()
            .query_opt(
                "SELECT town, name, geom FROM town WHERE town = $1",
                &[&self.town],
            )
            .db()?
            .ok_or_else(|| StoreError::Import {
                layer: "town",
                message: format!("the database has no town {}", self.town),
            })?;
        let g = row
            .try_get::<_, Decode<Geometry>>(2)
            .map_err(|e| StoreError::Geometry {
                table: "town",
                fid: 0,
                message: e.to_string(),
            })?
            .geometry;
        Ok(Town {
            code: row.get(0),
            name: row.get(1),
            boundary: multipolygon(g),
        })
    }

    fn set_town_boundary(&mut self, boundary: &MultiPolygon) -> Result<()> {
        let town = self.town.clone();
        self.conn()
            .execute(
                "UPDATE town SET geom = $2 WHERE town = $1",
                &[&town, &area(boundary)],
            )
            .db()?;
        Ok(())
    }

    fn villages(&self) -> Result<Vec<Village>> {
        self.read("villages", "code", VILLAGES.columns, None, |r, g| {
            Ok(Village {
                code: r.get(1),
                name: r.get(2),
                town: r.get(3),
                boundary: multipolygon(g),
            })
        })
    }

    fn import_villages(&mut self, villages: &[Village], mode: Mode) -> Result<ImportCounts> {
        self.import(&VILLAGES, villages_batch(villages), mode)
    }

    fn grids(&self) -> Result<Vec<StoredGrid>> {
        read_grids(self, None)
    }

    fn grid(&self, code: &str) -> Result<Option<StoredGrid>> {
        Ok(read_grids(self, Some(code))?.pop())
    }

    fn save_grid(
        &mut self,
        grid: &Grid,
        expected_version: Option<u32>,
        change: &Change,
    ) -> Result<u32> {
        let town = self.town.clone();
        let mut tx = self.conn().transaction().db()?;
        let saved = save_grid_tx(&mut tx, &town, grid, expected_version, change, None)?;
        tx.commit().db()?;
        Ok(saved.version())
    }

    fn delete_grid(
        &mut self,
        code: &str,
        expected_version: Option<u32>,
        change: &Change,
    ) -> Result<()> {
        let town = self.town.clone();
        let mut tx = self.conn().transaction().db()?;
        delete_grid_tx(&mut tx, &town, code, expected_version, change)?;
        tx.commit().db()
    }

    fn replace_grids(
        &mut self,
        delete: &[(String, u32)],
        save: &[(Grid, Option<u32>)],
        change: &Change,
    ) -> Result<Vec<u32>> {
        let town = self.town.clone();
        let mut tx = self.conn().transaction().db()?;
        for (code, version) in delete {
            delete_grid_tx(&mut tx, &town, code, Some(*version), change)?;
        }
        let mut versions = Vec::with_capacity(save.len());
        for (grid, expected) in save {
            let saved = save_grid_tx(
                &mut tx,
                &town,
                grid,
                Some(expected.unwrap_or(0)),
                change,
                None,
            )?;
            versions.push(saved.version());
        }
        tx.commit().db()?;
        Ok(versions)
    }

    fn grid_history(&self, code: &str) -> Result<Vec<GridVersion>> {
        let rows = self
            .lock()
            .query(
                &format!(
                    "SELECT version, action, {AT}, changed_by, reason, name, village, old_geom, geom
                     FROM grid_history WHERE town = $1 AND grid = $2 ORDER BY version"
                ),
                &[&self.town, &code],
            )
            .db()?;
        rows.iter().map(grid_version).collect()
    }

    fn restore_grid(&mut self, code: &str, version: u32, change: &Change) -> Result<u32> {
        let town = self.town.clone();
        let mut tx = self.conn().transaction().db()?;
        let old = tx
            .query_opt(
                "SELECT name, village, geom FROM grid_history
                 WHERE town = $1 AND grid = $2 AND version = $3 AND geom IS NOT NULL",
                &[&town, &code, &(version as i32)],
            )
            .db()?;
        let no_such = || StoreError::NoSuchVersion {
            code: code.into(),
            version,
        };
        let old = old.ok_or_else(no_such)?;
        let geometry = old
            .try_get::<_, Decode<Geometry>>(2)
            .ok()
            .and_then(|d| multipolygon(d.geometry))
            .ok_or_else(no_such)?;
        let grid = Grid {
            code: code.into(),
            name: old.get(0),
            village: old.get(1),
            geometry,
        };
        let change = Change {
            who: change.who.clone(),
            why: format!("{} (restores version {version})", change.why),
        };
        let saved = save_grid_tx(&mut tx, &town, &grid, None, &change, Some("restored"))?;
        tx.commit().db()?;
        Ok(saved.version())
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
        let town = self.town.clone();
        let mut tx = self.conn().transaction().db()?;
        let mut counts = ImportCounts::default();
        if mode == Mode::Replace {
            let codes: Vec<String> = tx
                .query(
                    "SELECT code FROM grids WHERE town = $1 ORDER BY fid",
                    &[&town],
                )
                .db()?
                .iter()
                .map(|r| r.get(0))
                .collect();
            for code in codes.iter().filter(|c| !seen.contains(c.as_str())) {
                delete_grid_tx(&mut tx, &town, code, None, change)?;
                counts.deleted += 1;
            }
        }
        for g in grids {
            if mode == Mode::Append && current(&mut tx, &town, &g.code)?.is_some() {
                return Err(StoreError::Import {
                    layer: "grids",
                    message: format!(
                        "grid {} already exists (import with --mode upsert or replace)",
                        g.code
                    ),
                });
            }
            match save_grid_tx(&mut tx, &town, g, None, change, None)? {
                Saved::Inserted(_) => counts.inserted += 1,
                Saved::Updated(_) => counts.updated += 1,
                Saved::Unchanged(_) => counts.unchanged += 1,
            }
        }
        tx.commit().db()?;
        Ok(counts)
    }

    fn buildings(&self) -> Result<Vec<Building>> {
        self.read("buildings", "id", BUILDINGS.columns, None, |r, g| {
            let fid: i64 = r.get(0);
            let footprint = match g {
                Some(Geometry::Point(p)) => Footprint::Point(p),
                other => Footprint::Area(multipolygon(other).unwrap_or(MultiPolygon(vec![]))),
            };
            Ok(Building {
                id: r.get(1),
                households: count_u32("buildings", fid, Some(r.get(2)))?.unwrap_or(0),
                floors: count_u32("buildings", fid, r.get(3))?,
                kind: r.get(4),
                footprint,
            })
        })
    }

    fn import_buildings(&mut self, buildings: &[Building], mode: Mode) -> Result<ImportCounts> {
        self.import(&BUILDINGS, buildings_batch(buildings), mode)
    }

    fn addresses(&self) -> Result<Vec<Address>> {
        self.read("addresses", "id", ADDRESSES.columns, None, |r, g| {
            Ok(Address {
                id: r.get(1),
                text: r.get(2),
                declared_grid: r.get(3),
                declared_building: r.get(4),
                point: point(g).unwrap_or(Point::new(f64::NAN, f64::NAN)),
            })
        })
    }

    fn import_addresses(&mut self, addresses: &[Address], mode: Mode) -> Result<ImportCounts> {
        self.import(&ADDRESSES, addresses_batch(addresses), mode)
    }

    fn units(&self) -> Result<Vec<Unit>> {
        self.read("units", "id", UNITS.columns, None, |r, g| {
            Ok(Unit {
                id: r.get(1),
                name: r.get(2),
                category: r.get(3),
                address: r.get(4),
                contact: r.get(5),
                point: point(g).unwrap_or(Point::new(f64::NAN, f64::NAN)),
            })
        })
    }

    fn import_units(&mut self, units: &[Unit], mode: Mode) -> Result<ImportCounts> {
        self.import(&UNITS, units_batch(units), mode)
    }

    fn visits(&self) -> Result<Vec<Visit>> {
        self.visits_from(0)
    }

    fn import_visits(&mut self, visits: &[Visit], mode: Mode) -> Result<ImportCounts> {
        self.import(&VISITS, visits_batch(visits), mode)
    }

    fn basemap(&self) -> Result<Vec<BasemapFeature>> {
        let rows = self.read(
            "basemap",
            "fid",
            &["layer", "kind", "detail", "name"],
            None,
            |r, g| {
                let layer: String = r.get(2);
                Ok(g.zip(BasemapLayer::parse(&layer))
                    .map(|(geometry, layer)| BasemapFeature {
                        layer,
                        kind: r.get(3),
                        detail: r.get(4),
                        name: r.get(5),
                        geometry,
                    }))
            },
        )?;
        Ok(rows.into_iter().flatten().collect())
    }

    fn import_basemap(
        &mut self,
        layer: BasemapLayer,
        features: &[BasemapFeature],
        mode: Mode,
    ) -> Result<ImportCounts> {
        let town = self.town.clone();
        let mut tx = self.conn().transaction().db()?;
        let counts = import_basemap_tx(&mut tx, &town, layer, features, mode)?;
        tx.commit().db()?;
        Ok(counts)
    }

    fn count(&self, layer: &str) -> Result<usize> {
        let table = LAYERS
            .iter()
            .find(|l| **l == layer)
            .ok_or_else(|| StoreError::Import {
                layer: "count",
                message: format!("no layer named {layer}"),
            })?;
        let n: i64 = self
            .lock()
            .query_one(
                &format!("SELECT count(*) FROM {table} WHERE town = $1"),
                &[&self.town],
            )
            .db()?
            .get(0);
        Ok(n as usize)
    }
}
