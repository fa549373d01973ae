//! gridmap's map tiles, generated in process: tile math, Mapbox Vector Tile encoding and
//! heatmap rasters. Pure Rust, no I/O, no C dependencies.
//!
//! Data flows one way. The server turns a request `/{z}/{x}/{y}` into a [`TileId`] (which checks
//! the range), asks its R-tree for the features intersecting
//! [`TileId::buffered_bounds_lonlat`], and hands them as [`Layer`]s of [`Feature`]s to
//! [`encode`], which projects lon/lat to Web Mercator tile units, clips to the buffered tile,
//! simplifies at low zoom, quantises, fixes winding and writes MVT 2.1 protobuf bytes (empty
//! when nothing is left: answer 204). For rasters, [`heatmap_png`] and [`coverage_png`] turn
//! weighted points into a 256×256 PNG coloured by a [`ColorScale`], whose
//! [`ColorScale::legend`] feeds the legend endpoint; a [`Pyramid`] of per-cell counts, built
//! once from every building and updated in place by visits, draws the same heatmaps without
//! the points and lists low-zoom [`OverviewCell`]s for [`overview_mvt`]. When an edit touches
//! a bbox, [`tiles_covering_buffered`] (or [`tiles_covering`]) lists the tiles to drop from a
//! cache.
//!
//! ```
//! use gridmap_tiles::{encode, EncodeOptions, Feature, Layer, TileId, Value};
//! let tile = TileId::new(14, 13489, 6208)?;
//! let b = tile.bounds_lonlat();
//! let square = geo::Geometry::Polygon(geo::Rect::new(
//!     b.center(),
//!     geo::Coord { x: b.max().x + 0.01, y: b.max().y + 0.01 }, // reaches beyond the tile
//! ).to_polygon());
//! let layers = [Layer {
//!     name: "grids",
//!     features: vec![Feature { id: 1, geometry: (&square).into(), properties: vec![("code", Value::from("G01"))] }],
//! }];
//! let mvt = encode(tile, &layers, &EncodeOptions::default());
//! assert!(!mvt.is_empty());
//! # Ok::<(), gridmap_tiles::TileError>(())
//! ```

#![warn(missing_docs)]

mod clip;
mod heatmap;
mod mvt;
mod pyramid;
mod tile;

pub use heatmap::{ColorScale, HEATMAP_SIZE, coverage_png, heatmap_png};
pub use mvt::{EncodeOptions, Feature, Layer, Shape, Shapes, Value, encode, encode_shapes};
pub use pyramid::{CountPoint, HeatKind, OverviewCell, Pyramid, overview_mvt};
pub use tile::{
    MAX_LATITUDE, MAX_ZOOM, TileError, TileId, tile_range_buffered, tiles_covering,
    tiles_covering_buffered,
};
