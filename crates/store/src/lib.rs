//! The project store: where a town's grids, buildings, addresses, units and visits live for
//! years, with the history of every grid.
//!
//! [`Store`] is the set of operations the rest of gridmap uses; [`GpkgStore`] implements it
//! over one SQLite file laid out as an OGC GeoPackage 1.3 (feature tables with GeoPackage
//! binary geometries, `gpkg_contents`, `gpkg_geometry_columns`, `gpkg_spatial_ref_sys`, and the
//! R-tree spatial index extension), so QGIS and `ogrinfo` open it as it is. The file runs in WAL
//! mode and every write is one transaction: a crash leaves it as before or after a write, never
//! half-way. The crate `gridmap-pgstore` implements the same trait on PostgreSQL/PostGIS, for
//! many towns in one database; the module `conformance` (cargo feature `conformance`) holds the
//! behaviour tests both implementations pass.
//!
//! [`ProjectStore`] (module [`project`]) extends [`Store`] with everything else the server and
//! the CLI ask of a project: accounts, sessions and the audit log, saved plans, the household
//! registers, door plates, declarations, the reconciliation with the police register, key
//! subjects and the scorecard's counts. The server holds a `Box<dyn ProjectStore>`. A store
//! that lacks a part answers [`StoreError::Unsupported`] for it (the trait's default bodies):
//! the PostgreSQL store does so for all of them so far.
//!
//! Geometry is WGS84 longitude/latitude (EPSG:4326), as everywhere in gridmap.

#![warn(missing_docs)]

#[cfg(feature = "conformance")]
pub mod conformance;
pub mod declarations;
pub mod gpkg;
pub mod key_subjects;
pub mod plans;
pub mod plates;
pub mod project;
pub mod reconcile;
pub mod registers;
mod rtree_bulk;
pub mod scorecard;
pub mod transfer;
pub mod wkb;

pub use gpkg::{Checkpointer, GpkgStore};
pub use project::{ChangeFeed, ChangeKind, ChangeNote, Opener, ProjectStore, TownFigures};

use geo::MultiPolygon;
use gridmap_core::model::{
    Address, BasemapFeature, BasemapLayer, Building, Grid, Town, Unit, Village, Visit,
};
use serde::Serialize;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The project file cannot be created or opened as a gridmap project: it exists when
    /// creating, is missing when opening, is not SQLite, not a gridmap project, or of another
    /// schema version.
    #[error("{path}: {message}")]
    Open {
        /// The file, as given.
        path: String,
        /// What is wrong, in English, with what to do about it where there is something.
        message: String,
    },
    /// SQLite failed (locked, disk full, corrupt file, a constraint…); a write in progress was
    /// rolled back. The message is kept out of `Display` and available as the source.
    #[error("database error")]
    Sqlite(#[from] rusqlite::Error),
    /// Another database backend failed (PostgreSQL: the connection broke, a constraint, a
    /// statement…); a write in progress was rolled back. As with [`StoreError::Sqlite`], the
    /// driver's message is kept out of `Display` and available as the source.
    #[error("database error")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// No current grid has this code (it never existed, or was deleted).
    #[error("grid {code} does not exist")]
    NoSuchGrid {
        /// The code asked for.
        code: String,
    },
    /// The grid changed since the caller read it (optimistic concurrency): nothing was
    /// written; read it again and redo the edit.
    #[error("grid {code} is at version {actual}, not {expected}: someone else changed it since")]
    VersionConflict {
        /// Code of the grid.
        code: String,
        /// The version the caller read and expected to replace.
        expected: u32,
        /// The version stored now.
        actual: u32,
    },
    /// The grid's history holds no such version (or that version has no geometry to restore).
    #[error("grid {code} has no version {version}")]
    NoSuchVersion {
        /// Code of the grid.
        code: String,
        /// The version asked for.
        version: u32,
    },
    /// A stored geometry blob is not a GeoPackage geometry gridmap can read.
    #[error("{table} row {fid}: stored geometry is unreadable: {message}")]
    Geometry {
        /// The table it is in.
        table: &'static str,
        /// Its feature id (`fid`) in that table.
        fid: i64,
        /// The decoder's reason.
        message: String,
    },
    /// An import (or a read of a required row) was refused: a duplicate id in the input, an
    /// id that exists in [`Mode::Append`], a feature of the wrong layer, a missing town row…
    /// Nothing was written.
    #[error("{layer}: {message}")]
    Import {
        /// The layer (table name, see [`LAYERS`]).
        layer: &'static str,
        /// What is wrong, in English.
        message: String,
    },
    /// This store does not implement the operation yet (the PostgreSQL store holds no users,
    /// registers, plans… so far: see [`ProjectStore`]). Nothing was read or written.
    #[error("{what}: not available on this store yet (issue #25)")]
    Unsupported {
        /// What is missing, in English (e.g. `user accounts`).
        what: &'static str,
    },
}

/// A store operation's result.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Who changes something, and why: kept with every grid version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// User name of whoever makes the change, or what an import's `--who` says.
    pub who: String,
    /// The reason given, free text; may be empty.
    pub why: String,
}

/// A grid as stored: its record and its version, which every change increments.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredGrid {
    /// The grid as it is now.
    pub grid: Grid,
    /// Its current version: 1 when first created, one more for every change (a grid
    /// deleted and created again carries on from its history); pass it back as
    /// `expected_version` to save an edit of what was read.
    pub version: u32,
}

/// One version in a grid's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GridVersion {
    /// The version this change made (1 for the first creation).
    pub version: u32,
    /// `created`, `updated`, `deleted` or `restored`.
    pub action: String,
    /// UTC, RFC 3339.
    pub at: String,
    /// Who made the change ([`Change::who`]).
    pub who: String,
    /// Why ([`Change::why`]).
    pub why: String,
    /// The grid's name after the change.
    pub name: Option<String>,
    /// The grid's parent village code after the change.
    pub village: Option<String>,
    /// The boundary after the change (`None` once deleted).
    #[serde(skip)]
    pub geometry: Option<MultiPolygon>,
    /// The boundary before the change (`None` when created).
    #[serde(skip)]
    pub previous: Option<MultiPolygon>,
}

/// A user of the web app and API: a role and a node of the org tree (town, village or grid
/// code) whose subtree they may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Unique login name.
    pub username: String,
    /// The role's name (`admin`, `town_supervisor`, `planner`, `village_manager`,
    /// `grid_leader` or `grid_worker`); the server decides what it may do.
    pub role: String,
    /// Code of the town, village or grid whose subtree the user may see.
    pub scope: String,
    /// argon2 PHC string.
    pub password_hash: String,
}

/// One read of clear personal data: when, who, what, about what, how many records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// When, UTC, RFC 3339.
    pub at: String,
    /// User name of the reader.
    pub user: String,
    /// What was done, e.g. `read people in clear`.
    pub action: String,
    /// What it was about, e.g. `building B123`.
    pub target: String,
    /// How many personal records were read.
    pub count: i64,
}

/// How an import meets what is already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Add records; an id that already exists is an error.
    Append,
    /// Remove every record of the layer first.
    Replace,
    /// Add new ids, update changed records, leave identical ones untouched.
    Upsert,
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportCounts {
    /// Records whose id was new.
    pub inserted: usize,
    /// Records whose id existed and whose content changed.
    pub updated: usize,
    /// Records identical to the stored ones, left untouched (no new grid version).
    pub unchanged: usize,
    /// Stored records removed ([`Mode::Replace`] only: those not in the input).
    pub deleted: usize,
}

/// The layers of a project, by table name.
pub const LAYERS: [&str; 9] = [
    "town",
    "villages",
    "grids",
    "grid_history",
    "buildings",
    "addresses",
    "units",
    "visits",
    "basemap",
];

/// The optimistic-concurrency rule of a grid save, the same in every store: `stored` is the
/// grid's current version and whether it is identical to what is saved (`None`: no current
/// grid, version 0). With `expected`, a different current version is a
/// [`StoreError::VersionConflict`]; an identical grid is not saved again (answers its
/// version); `Ok(None)`: save it.
pub fn check_grid_save(
    code: &str,
    expected: Option<u32>,
    stored: Option<(u32, bool)>,
) -> Result<Option<u32>> {
    let actual = stored.map_or(0, |(v, _)| v);
    if let Some(e) = expected
        && e != actual
    {
        return Err(StoreError::VersionConflict {
            code: code.to_string(),
            expected: e,
            actual,
        });
    }
    Ok(stored.and_then(|(v, same)| same.then_some(v)))
}

/// What every store checks before a basemap import: upserts are refused (basemap features have
/// no ids to match) and every feature must belong to `layer`.
pub fn check_basemap_import(
    layer: BasemapLayer,
    features: &[BasemapFeature],
    mode: Mode,
) -> Result<()> {
    let fail = |message: String| StoreError::Import {
        layer: "basemap",
        message,
    };
    if mode == Mode::Upsert {
        return Err(fail(format!(
            "{}: basemap features have no ids to match (import with --mode append or replace)",
            layer.as_str()
        )));
    }
    if let Some((i, f)) = features.iter().enumerate().find(|(_, f)| f.layer != layer) {
        return Err(fail(format!(
            "feature {i} belongs to layer {}, not {}",
            f.layer.as_str(),
            layer.as_str()
        )));
    }
    Ok(())
}

/// The operations gridmap needs from a project store.
pub trait Store {
    /// The project's town (one per project, written when the project is created); fails
    /// with [`StoreError::Import`] if the row is missing.
    fn town(&self) -> Result<Town>;
    /// Sets (or replaces) the town's boundary, WGS84 lon/lat.
    fn set_town_boundary(&mut self, boundary: &MultiPolygon) -> Result<()>;

    /// Every village or community.
    fn villages(&self) -> Result<Vec<Village>>;
    /// Imports villages (keyed by code) in one transaction.
    fn import_villages(&mut self, villages: &[Village], mode: Mode) -> Result<ImportCounts>;

    /// Every current grid with its version (deleted grids are not listed).
    fn grids(&self) -> Result<Vec<StoredGrid>>;
    /// The current grid with this code, `None` if there is none (or it was deleted).
    fn grid(&self, code: &str) -> Result<Option<StoredGrid>>;
    /// Creates or changes a grid, keeping the old version in its history. With
    /// `expected_version`, fails with [`StoreError::VersionConflict`] if the stored version
    /// differs (optimistic concurrency). Saving an identical grid changes nothing. Returns the
    /// grid's version after the save.
    fn save_grid(
        &mut self,
        grid: &Grid,
        expected_version: Option<u32>,
        change: &Change,
    ) -> Result<u32>;
    /// Deletes a grid, recording a `deleted` version in its history (so it can be restored).
    /// Fails with [`StoreError::NoSuchGrid`] if there is no such grid, and with
    /// [`StoreError::VersionConflict`] as [`Store::save_grid`] does.
    fn delete_grid(
        &mut self,
        code: &str,
        expected_version: Option<u32>,
        change: &Change,
    ) -> Result<()>;
    /// Deletes the grids of `delete` and saves those of `save`, each at its expected version
    /// (`None`: a new grid), in one transaction with one [`Change`]: a village's grids replaced
    /// by an adopted plan, all or nothing. Returns each saved grid's version, in order.
    fn replace_grids(
        &mut self,
        delete: &[(String, u32)],
        save: &[(Grid, Option<u32>)],
        change: &Change,
    ) -> Result<Vec<u32>>;
    /// Every version of a grid, oldest first.
    fn grid_history(&self, code: &str) -> Result<Vec<GridVersion>>;
    /// Makes an earlier version current again (as a new version). Returns the new version.
    fn restore_grid(&mut self, code: &str, version: u32, change: &Change) -> Result<u32>;
    /// Imports grids in one transaction, keeping history for every grid it changes.
    fn import_grids(&mut self, grids: &[Grid], mode: Mode, change: &Change)
    -> Result<ImportCounts>;

    /// Every building.
    fn buildings(&self) -> Result<Vec<Building>>;
    /// Imports buildings (keyed by id) in one transaction.
    fn import_buildings(&mut self, buildings: &[Building], mode: Mode) -> Result<ImportCounts>;
    /// Every standard address.
    fn addresses(&self) -> Result<Vec<Address>>;
    /// Imports standard addresses (keyed by id) in one transaction.
    fn import_addresses(&mut self, addresses: &[Address], mode: Mode) -> Result<ImportCounts>;
    /// Every actual organisation (实有单位).
    fn units(&self) -> Result<Vec<Unit>>;
    /// Imports units (keyed by id) in one transaction.
    fn import_units(&mut self, units: &[Unit], mode: Mode) -> Result<ImportCounts>;
    /// Every household visit.
    fn visits(&self) -> Result<Vec<Visit>>;
    /// Imports visits (keyed by id) in one transaction; the server records a new visit with
    /// [`Mode::Append`].
    fn import_visits(&mut self, visits: &[Visit], mode: Mode) -> Result<ImportCounts>;

    /// Every basemap feature (roads and water), in import order.
    fn basemap(&self) -> Result<Vec<BasemapFeature>>;
    /// Imports the features of one basemap layer (each must belong to `layer`).
    /// [`Mode::Replace`] removes that layer's features only; [`Mode::Upsert`] is an error, as
    /// basemap features have no ids to match.
    fn import_basemap(
        &mut self,
        layer: BasemapLayer,
        features: &[BasemapFeature],
        mode: Mode,
    ) -> Result<ImportCounts>;

    /// Number of records in a layer (see [`LAYERS`]).
    fn count(&self, layer: &str) -> Result<usize>;
}
