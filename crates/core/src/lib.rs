//! The spatial core of gridmap: the domain model, R-tree indexes, the assignment of buildings to
//! grids, and coverage validation of the grid layer.
//!
//! Data flows in from readers (`gridmap-io`) as [`model`] records in WGS84 lon/lat. The grids are
//! prepared for point location ([`locate`]) and indexed by envelope ([`index`]); every building
//! is located by a point on its surface ([`surface`]) and assigned to its grid ([`assign`]);
//! [`validate`](mod@validate) then measures overlaps, gaps and leaks with exact overlays
//! ([`overlay`]) and true areas in square metres ([`geodesy`]); [`repair`] fixes what it finds
//! with the least change.
//!
//! This crate does no I/O and holds no async code.

#![warn(missing_docs)]

pub mod assign;
pub mod geodesy;
pub mod index;
mod interior;
pub mod locate;
pub mod model;
pub mod overlay;
pub mod police;
pub mod register;
pub mod repair;
pub mod surface;
pub mod validate;

pub use assign::{Assignment, Status, assign_buildings};
pub use index::{AddressIndex, BuildingIndex, GridIndex};
pub use model::{
    Address, BasemapFeature, BasemapLayer, Building, Footprint, Grid, Town, Unit, Village, Visit,
    VisitOutcome,
};
pub use validate::{CoverageInput, Options, Report, validate};
