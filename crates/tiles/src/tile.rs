//! Tile addressing in the standard XYZ (Google/OSM) scheme over Web Mercator (EPSG:3857).
//!
//! Tile `(z, x, y)` covers `1/2^z` of the projected world in each direction; `x` grows east from
//! the antimeridian and `y` grows south from latitude +85.0511°. All conversions here are closed
//! formulas on `f64`; nothing allocates except the iterator of [`tiles_covering`].

use geo::{Coord, Rect};
use thiserror::Error;

/// Deepest zoom level accepted by [`TileId::new`].
pub const MAX_ZOOM: u8 = 24;

/// Latitude limit of Web Mercator: the latitude whose projection makes the world square.
pub const MAX_LATITUDE: f64 = 85.051_128_779_806_59;

/// Why a tile could not be addressed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TileError {
    /// The zoom level is above [`MAX_ZOOM`].
    #[error("zoom {z} is out of range: the deepest zoom is {max}", max = MAX_ZOOM)]
    ZoomOutOfRange {
        /// The requested zoom.
        z: u8,
    },
    /// `x` or `y` is not below `2^z`.
    #[error("tile {z}/{x}/{y} does not exist: at zoom {z}, x and y must be below {n}")]
    CoordinateOutOfRange {
        /// The requested zoom.
        z: u8,
        /// The requested column.
        x: u32,
        /// The requested row.
        y: u32,
        /// `2^z`, the number of tiles along each axis at this zoom.
        n: u64,
    },
    /// A colour scale was built from unusable stops.
    #[error("invalid colour scale: {message}")]
    InvalidColorScale {
        /// What is wrong with the stops.
        message: String,
    },
}

/// One map tile in the XYZ scheme (Web Mercator, `y` counted from the north).
///
/// Build it with [`TileId::new`], which checks the range; the fields are public for reading.
///
/// ```
/// use gridmap_tiles::TileId;
/// let t = TileId::new(0, 0, 0).unwrap();
/// let b = t.bounds_lonlat();
/// assert_eq!(b.min().x, -180.0);
/// assert!((b.max().y - 85.0511287798).abs() < 1e-9);
/// assert!(TileId::new(25, 0, 0).is_err());
/// assert!(TileId::new(3, 8, 0).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    /// Zoom level, `0..=24`.
    pub z: u8,
    /// Column, `0..2^z`, from the west.
    pub x: u32,
    /// Row, `0..2^z`, from the north.
    pub y: u32,
}

impl TileId {
    /// Checks and builds a tile address: `z <= 24` and `x, y < 2^z`.
    pub fn new(z: u8, x: u32, y: u32) -> Result<TileId, TileError> {
        if z > MAX_ZOOM {
            return Err(TileError::ZoomOutOfRange { z });
        }
        let n = 1u64 << z;
        if u64::from(x) >= n || u64::from(y) >= n {
            return Err(TileError::CoordinateOutOfRange { z, x, y, n });
        }
        Ok(TileId { z, x, y })
    }

    /// The tile at zoom `z` containing the longitude/latitude `c` (clamped to the Mercator world).
    pub fn containing(c: Coord, z: u8) -> Result<TileId, TileError> {
        if z > MAX_ZOOM {
            return Err(TileError::ZoomOutOfRange { z });
        }
        let (x, y) = tile_index(c, z);
        Ok(TileId { z, x, y })
    }

    /// Number of tiles along each axis at this zoom, `2^z`, as `f64`.
    pub(crate) fn scale(&self) -> f64 {
        (1u64 << self.z) as f64
    }

    /// The tile's bounds in WGS84 longitude/latitude (west, south) – (east, north).
    pub fn bounds_lonlat(&self) -> Rect {
        let n = self.scale();
        Rect::new(
            Coord {
                x: lon_of(f64::from(self.x) / n),
                y: lat_of((f64::from(self.y) + 1.0) / n),
            },
            Coord {
                x: lon_of((f64::from(self.x) + 1.0) / n),
                y: lat_of(f64::from(self.y) / n),
            },
        )
    }

    /// The bounds of the tile grown by `buffer` tile units (of `extent` per tile side) on every
    /// side, in longitude/latitude, clamped to the Mercator world (±180°, ±85.0511°).
    ///
    /// This is the area whose features [`crate::encode`] may keep with the same `buffer` and
    /// `extent`: query the R-tree with it. Tiles at the antimeridian are not wrapped.
    pub fn buffered_bounds_lonlat(&self, buffer: u32, extent: u32) -> Rect {
        let n = self.scale();
        let b = if extent == 0 {
            0.0
        } else {
            f64::from(buffer) / f64::from(extent)
        };
        let fx0 = ((f64::from(self.x) - b) / n).clamp(0.0, 1.0);
        let fx1 = ((f64::from(self.x) + 1.0 + b) / n).clamp(0.0, 1.0);
        let fy0 = ((f64::from(self.y) - b) / n).clamp(0.0, 1.0);
        let fy1 = ((f64::from(self.y) + 1.0 + b) / n).clamp(0.0, 1.0);
        Rect::new(
            Coord {
                x: lon_of(fx0),
                y: lat_of(fy1),
            },
            Coord {
                x: lon_of(fx1),
                y: lat_of(fy0),
            },
        )
    }

    /// The parent tile one zoom up, or `None` at zoom 0.
    pub fn parent(&self) -> Option<TileId> {
        (self.z > 0).then(|| TileId {
            z: self.z - 1,
            x: self.x / 2,
            y: self.y / 2,
        })
    }
}

impl std::fmt::Display for TileId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.z, self.x, self.y)
    }
}

/// Longitude of a world fraction `fx` in `[0, 1]`.
pub(crate) fn lon_of(fx: f64) -> f64 {
    fx * 360.0 - 180.0
}

/// Latitude of a world fraction `fy` in `[0, 1]` (0 = north edge).
pub(crate) fn lat_of(fy: f64) -> f64 {
    (std::f64::consts::PI * (1.0 - 2.0 * fy))
        .sinh()
        .atan()
        .to_degrees()
}

/// Projects longitude/latitude to the Web Mercator world square `[0, 1]²` (y down).
///
/// Latitudes beyond ±85.0511° are clamped; the poles map to the world's edges.
#[inline]
pub(crate) fn world_fraction(c: Coord) -> (f64, f64) {
    let fx = (c.x + 180.0) / 360.0;
    let lat = c.y.clamp(-MAX_LATITUDE, MAX_LATITUDE).to_radians();
    let fy = 0.5 - (lat.tan() + 1.0 / lat.cos()).ln() / (2.0 * std::f64::consts::PI);
    (fx, fy)
}

/// Column and row of the tile holding `c` at zoom `z`, clamped to the world.
fn tile_index(c: Coord, z: u8) -> (u32, u32) {
    let n = (1u64 << z) as f64;
    let (fx, fy) = world_fraction(c);
    let max = (1u64 << z) - 1;
    let clamp = |v: f64| -> u32 {
        if v.is_nan() || v <= 0.0 {
            0
        } else {
            // `as` saturates; `max` fits u32 because z <= 24 keeps 2^z - 1 < 2^32.
            (v.floor() as u64).min(max) as u32
        }
    };
    (clamp(fx * n), clamp(fy * n))
}

/// Every tile at zoom `z` that intersects `bbox` (longitude/latitude), row by row.
///
/// The bbox is clamped to the Mercator world; a bbox edge lying exactly on a tile edge also
/// yields the tile beyond it, which is what cache invalidation wants (never miss a tile). Use
/// [`tiles_covering_buffered`] to also catch tiles that hold the geometry only in their buffer.
/// A zoom above [`MAX_ZOOM`] is treated as [`MAX_ZOOM`].
///
/// # Performance
/// Lazy: O(1) per tile yielded. A country-sized bbox at zoom 20 yields billions of tiles, so
/// callers invalidating a cache should cap the zoom or the count.
pub fn tiles_covering(bbox: Rect, z: u8) -> impl Iterator<Item = TileId> {
    let z = z.min(MAX_ZOOM);
    let (x0, y0) = tile_index(
        Coord {
            x: bbox.min().x,
            y: bbox.max().y,
        },
        z,
    );
    let (x1, y1) = tile_index(
        Coord {
            x: bbox.max().x,
            y: bbox.min().y,
        },
        z,
    );
    (y0..=y1).flat_map(move |y| (x0..=x1).map(move |x| TileId { z, x, y }))
}

/// Like [`tiles_covering`], but also yields the tiles whose buffered bounds (see
/// [`TileId::buffered_bounds_lonlat`]) reach `bbox`: exactly the tiles whose encoding with the
/// same `buffer` and `extent` can change when a feature inside `bbox` changes.
pub fn tiles_covering_buffered(
    bbox: Rect,
    z: u8,
    buffer: u32,
    extent: u32,
) -> impl Iterator<Item = TileId> {
    let z = z.min(MAX_ZOOM);
    let (xs, ys) = tile_range_buffered(bbox, z, buffer, extent);
    ys.flat_map(move |y| xs.clone().map(move |x| TileId { z, x, y }))
}

/// The columns and rows of [`tiles_covering_buffered`]: a tile `(z, x, y)` is among them when
/// `x` and `y` are in these ranges. Cheaper than a tile's bounds in longitude and latitude
/// when many tiles are tested against a few boxes (no trigonometry per tile).
pub fn tile_range_buffered(
    bbox: Rect,
    z: u8,
    buffer: u32,
    extent: u32,
) -> (std::ops::RangeInclusive<u32>, std::ops::RangeInclusive<u32>) {
    let z = z.min(MAX_ZOOM);
    let n = (1u64 << z) as f64;
    let b = if extent == 0 {
        0.0
    } else {
        f64::from(buffer) / f64::from(extent)
    };
    let (fx0, fy0) = world_fraction(Coord {
        x: bbox.min().x,
        y: bbox.max().y,
    });
    let (fx1, fy1) = world_fraction(Coord {
        x: bbox.max().x,
        y: bbox.min().y,
    });
    let max = (1u64 << z) - 1;
    let idx = |v: f64| -> u32 {
        if v.is_nan() || v <= 0.0 {
            0
        } else {
            (v.floor() as u64).min(max) as u32
        }
    };
    let (x0, x1) = (idx(fx0 * n - b), idx(fx1 * n + b));
    let (y0, y1) = (idx(fy0 * n - b), idx(fy1 * n + b));
    (x0..=x1, y0..=y1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook slippy-map formula (OSM wiki), written independently of `world_fraction`.
    fn osm_tile(lon: f64, lat: f64, z: u8) -> (u32, u32) {
        let n = 2f64.powi(i32::from(z));
        let x = ((lon + 180.0) / 360.0 * n).floor() as u32;
        let r = lat.to_radians();
        let y = ((1.0 - r.tan().asinh() / std::f64::consts::PI) / 2.0 * n).floor() as u32;
        (x, y)
    }

    #[test]
    fn zoom_zero_covers_the_mercator_world() {
        let b = TileId::new(0, 0, 0).unwrap().bounds_lonlat();
        assert_eq!(b.min().x, -180.0);
        assert_eq!(b.max().x, 180.0);
        assert!((b.max().y - MAX_LATITUDE).abs() < 1e-9);
        assert!((b.min().y + MAX_LATITUDE).abs() < 1e-9);
    }

    #[test]
    fn tiananmen_at_zoom_16_matches_the_standard_formula() {
        let (lon, lat) = (116.3975, 39.9087);
        let (ex, ey) = osm_tile(lon, lat, 16);
        assert!((53957..=53958).contains(&ex), "x = {ex}");
        let t = TileId::containing(Coord { x: lon, y: lat }, 16).unwrap();
        assert_eq!((t.x, t.y), (ex, ey));
        let b = t.bounds_lonlat();
        assert!(b.min().x <= lon && lon < b.max().x);
        assert!(b.min().y < lat && lat <= b.max().y);
    }

    #[test]
    fn containing_and_bounds_round_trip_at_every_zoom() {
        for &(lon, lat) in &[
            (116.3975, 39.9087),
            (120.9, 30.9),
            (-73.9857, 40.7484),
            (151.2153, -33.8568),
            (0.0001, -0.0001),
        ] {
            for z in 0..=MAX_ZOOM {
                let t = TileId::containing(Coord { x: lon, y: lat }, z).unwrap();
                assert_eq!((t.x, t.y), osm_tile(lon, lat, z), "z = {z}");
                let b = t.bounds_lonlat();
                assert!(b.min().x <= lon && lon <= b.max().x, "z = {z}");
                assert!(b.min().y <= lat && lat <= b.max().y, "z = {z}");
                // The centre of the bounds maps back to the same tile.
                let c = TileId::containing(b.center(), z).unwrap();
                assert_eq!(c, t);
            }
        }
    }

    #[test]
    fn new_rejects_deep_zoom_and_out_of_range_coordinates() {
        let e = TileId::new(25, 0, 0).unwrap_err();
        assert_eq!(e, TileError::ZoomOutOfRange { z: 25 });
        assert!(e.to_string().contains("24"), "{e}");
        let e = TileId::new(2, 4, 0).unwrap_err();
        assert!(e.to_string().contains("2/4/0"), "{e}");
        assert!(TileId::new(2, 0, 4).is_err());
        assert!(TileId::new(24, (1 << 24) - 1, (1 << 24) - 1).is_ok());
        assert!(TileId::new(24, 1 << 24, 0).is_err());
        assert!(TileId::new(0, 1, 0).is_err());
    }

    #[test]
    fn buffered_bounds_grow_by_the_buffer_share() {
        let t = TileId::new(10, 843, 388).unwrap();
        let b = t.bounds_lonlat();
        let bb = t.buffered_bounds_lonlat(64, 4096);
        let w = b.max().x - b.min().x;
        assert!((b.min().x - bb.min().x - w * 64.0 / 4096.0).abs() < 1e-9);
        assert!(bb.max().y > b.max().y && bb.min().y < b.min().y);
        // At the world's edge the buffer is clamped.
        let w0 = TileId::new(1, 0, 0)
            .unwrap()
            .buffered_bounds_lonlat(64, 4096);
        assert_eq!(w0.min().x, -180.0);
        assert!((w0.max().y - MAX_LATITUDE).abs() < 1e-9);
    }

    #[test]
    fn tiles_covering_yields_exactly_the_intersecting_tiles() {
        let t = TileId::new(16, 53957, 24832).unwrap();
        let b = t.bounds_lonlat();
        // A bbox strictly inside one tile gives that tile.
        let inner = Rect::new(
            Coord {
                x: b.min().x + 1e-6,
                y: b.min().y + 1e-6,
            },
            Coord {
                x: b.max().x - 1e-6,
                y: b.max().y - 1e-6,
            },
        );
        assert_eq!(tiles_covering(inner, 16).collect::<Vec<_>>(), vec![t]);
        // A bbox around a corner gives the four tiles there.
        let corner = Rect::new(
            Coord {
                x: b.max().x - 1e-6,
                y: b.min().y - 1e-6,
            },
            Coord {
                x: b.max().x + 1e-6,
                y: b.min().y + 1e-6,
            },
        );
        let got: Vec<_> = tiles_covering(corner, 16).collect();
        assert_eq!(got.len(), 4);
        assert!(got.contains(&t));
        // Every zoom-0 bbox gives the one world tile.
        assert_eq!(tiles_covering(inner, 0).count(), 1);
        // Buffered covering adds the neighbours whose buffer reaches the bbox.
        let got: Vec<_> = tiles_covering_buffered(inner, 16, 64, 4096).collect();
        assert_eq!(got.len(), 9);
        let far_inside = Rect::new(b.center(), b.center());
        assert_eq!(tiles_covering_buffered(far_inside, 16, 64, 4096).count(), 1);
    }
}
