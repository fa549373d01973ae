//! Readers and writers for gridmap's layers.
//!
//! GeoJSON (`.geojson`, `.json`) and FlatGeobuf (`.fgb`) are read natively into the model of
//! `gridmap-core`; the format is chosen by extension. Every error names the file and, for a bad
//! feature, its 0-based index and id. Coordinates must be WGS84 longitude/latitude.

#![warn(missing_docs)]

pub mod chinese;
#[cfg(feature = "gdal")]
pub mod crs;
mod error;
mod fgb;
#[cfg(feature = "gdal")]
pub mod gdal_io;
pub mod households;
pub mod police;
pub mod read;
pub mod write;

pub use error::Error;
pub use read::{
    Fields, Format, GridLayer, read_addresses, read_basemap, read_boundary, read_buildings,
    read_grids, read_units, read_visits,
};
pub use write::{write_buildings_fgb, write_geojson, write_grids_fgb};
