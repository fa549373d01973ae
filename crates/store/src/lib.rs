//! The project store: where a town's grids, buildings, addresses, units and visits live for
//! years, with the history of every grid.
//!
//! [`Store`] is the set of operations the rest of gridmap uses; [`GpkgStore`] implements it
//! over one SQLite file laid out as an OGC GeoPackage 1.3 (feature tables with GeoPackage
//! binary geometries, `gpkg_contents`, `gpkg_geometry_columns`, `gpkg_spatial_ref_sys`, and the
//! R-tree spatial index extension), so QGIS and `ogrinfo` open it as it is. The file runs in WAL
//! mode and every write is one transaction: a crash leaves it as before or after a write, never
//! half-way. A PostgreSQL/PostGIS store can implement the same trait.
//!
//! Geometry is WGS84 longitude/latitude (EPSG:4326), as everywhere in gridmap.

#![warn(missing_docs)]

pub mod gpkg;
pub mod registers;
mod rtree_bulk;
pub mod wkb;

pub use gpkg::GpkgStore;

use geo::MultiPolygon;
use gridmap_core::model::{
    Address, BasemapFeature, BasemapLayer, Building, Grid, Town, Unit, Village, Visit,
};
use serde::Serialize;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("{path}: {message}")]
    Open { path: String, message: String },
    #[error("database error")]
    Sqlite(#[from] rusqlite::Error),
    #[error("grid {code} does not exist")]
    NoSuchGrid { code: String },
    #[error("grid {code} is at version {actual}, not {expected}: someone else changed it since")]
    VersionConflict {
        code: String,
        expected: u32,
        actual: u32,
    },
    #[error("grid {code} has no version {version}")]
    NoSuchVersion { code: String, version: u32 },
    #[error("{table} row {fid}: stored geometry is unreadable: {message}")]
    Geometry {
        table: &'static str,
        fid: i64,
        message: String,
    },
    #[error("{layer}: {message}")]
    Import {
        layer: &'static str,
        message: String,
    },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Who changes something, and why: kept with every grid version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub who: String,
    pub why: String,
}

/// A grid as stored: its record and its version, which every change increments.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredGrid {
    pub grid: Grid,
    pub version: u32,
}

/// One version in a grid's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GridVersion {
    pub version: u32,
    /// `created`, `updated`, `deleted` or `restored`.
    pub action: String,
    /// UTC, RFC 3339.
    pub at: String,
    pub who: String,
    pub why: String,
    pub name: Option<String>,
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
    pub username: String,
    pub role: String,
    pub scope: String,
    /// argon2 PHC string.
    pub password_hash: String,
}

/// One read of clear personal data: when, who, what, about what, how many records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub at: String,
    pub user: String,
    pub action: String,
    pub target: String,
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
    pub inserted: usize,
    pub updated: usize,
    pub unchanged: usize,
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

/// The operations gridmap needs from a project store.
pub trait Store {
    fn town(&self) -> Result<Town>;
    fn set_town_boundary(&mut self, boundary: &MultiPolygon) -> Result<()>;

    fn villages(&self) -> Result<Vec<Village>>;
    fn import_villages(&mut self, villages: &[Village], mode: Mode) -> Result<ImportCounts>;

    fn grids(&self) -> Result<Vec<StoredGrid>>;
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
    fn delete_grid(
        &mut self,
        code: &str,
        expected_version: Option<u32>,
        change: &Change,
    ) -> Result<()>;
    /// Every version of a grid, oldest first.
    fn grid_history(&self, code: &str) -> Result<Vec<GridVersion>>;
    /// Makes an earlier version current again (as a new version). Returns the new version.
    fn restore_grid(&mut self, code: &str, version: u32, change: &Change) -> Result<u32>;
    /// Imports grids in one transaction, keeping history for every grid it changes.
    fn import_grids(&mut self, grids: &[Grid], mode: Mode, change: &Change)
    -> Result<ImportCounts>;

    fn buildings(&self) -> Result<Vec<Building>>;
    fn import_buildings(&mut self, buildings: &[Building], mode: Mode) -> Result<ImportCounts>;
    fn addresses(&self) -> Result<Vec<Address>>;
    fn import_addresses(&mut self, addresses: &[Address], mode: Mode) -> Result<ImportCounts>;
    fn units(&self) -> Result<Vec<Unit>>;
    fn import_units(&mut self, units: &[Unit], mode: Mode) -> Result<ImportCounts>;
    fn visits(&self) -> Result<Vec<Visit>>;
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
