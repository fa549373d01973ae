//! GCJ-02 and BD-09: the obfuscated coordinates of Chinese web maps and phone apps.
//!
//! GCJ-02 ("Mars coordinates", AMap/Gaode, Tencent, Google China) is WGS84 shifted by a
//! published, deliberately irregular offset of up to several hundred metres; BD-09 (Baidu) is a
//! further rotation and offset of GCJ-02. Neither is a CRS that PROJ knows, so the forward
//! transforms are written out here and the inverses are found by fixed-point iteration.
//!
//! # Accuracy
//! The forward transforms are the published formulas, exact by definition. The inverses iterate
//! `x ← x − (f(x) − target)` until the residual is below 1e-9 degrees (≈ 0.1 mm), at most 30
//! steps; in practice 3–5 steps suffice, so a round trip WGS84 → GCJ-02 → WGS84 returns the input
//! within 1e-9 degrees (tested at 1e-7, the bound the import promises). Outside mainland China the
//! offset is not applied (as the apps do), judged by a coarse bounding box.
//!
//! ```
//! use gridmap_io::chinese::{wgs84_to_gcj02, gcj02_to_bd09};
//! // Tiananmen.
//! let gcj = wgs84_to_gcj02(116.397428, 39.909230);
//! assert!((gcj.0 - 116.403672).abs() < 2e-6 && (gcj.1 - 39.910634).abs() < 2e-6);
//! let bd = gcj02_to_bd09(gcj.0, gcj.1);
//! assert!((bd.0 - 116.410044).abs() < 2e-6 && (bd.1 - 39.916973).abs() < 2e-6);
//! ```

use std::f64::consts::PI;

/// Krasovsky 1940 semi-major axis and eccentricity², as used by the GCJ-02 formula.
const A: f64 = 6_378_245.0;
const EE: f64 = 0.006_693_421_622_965_943;
const X_PI: f64 = PI * 3000.0 / 180.0;
const TOLERANCE: f64 = 1e-9;

/// Whether the offset applies: GCJ-02 is defined for mainland China only.
pub fn in_china(lon: f64, lat: f64) -> bool {
    (72.004..=137.8347).contains(&lon) && (0.8293..=55.8271).contains(&lat)
}

fn transform_lat(x: f64, y: f64) -> f64 {
    let mut r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    r
}

fn transform_lon(x: f64, y: f64) -> f64 {
    let mut r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    r
}

/// WGS84 → GCJ-02.
pub fn wgs84_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    if !in_china(lon, lat) {
        return (lon, lat);
    }
    let d_lat = transform_lat(lon - 105.0, lat - 35.0);
    let d_lon = transform_lon(lon - 105.0, lat - 35.0);
    let rad = lat / 180.0 * PI;
    let magic = 1.0 - EE * rad.sin() * rad.sin();
    let sqrt_magic = magic.sqrt();
    let d_lat = (d_lat * 180.0) / ((A * (1.0 - EE)) / (magic * sqrt_magic) * PI);
    let d_lon = (d_lon * 180.0) / (A / sqrt_magic * rad.cos() * PI);
    (lon + d_lon, lat + d_lat)
}

/// GCJ-02 → BD-09.
pub fn gcj02_to_bd09(lon: f64, lat: f64) -> (f64, f64) {
    let z = (lon * lon + lat * lat).sqrt() + 0.000_02 * (lat * X_PI).sin();
    let theta = lat.atan2(lon) + 0.000_003 * (lon * X_PI).cos();
    (z * theta.cos() + 0.0065, z * theta.sin() + 0.006)
}

/// Inverts `forward` near `target` by fixed-point iteration.
fn invert(target: (f64, f64), forward: impl Fn(f64, f64) -> (f64, f64)) -> (f64, f64) {
    let mut x = target;
    for _ in 0..30 {
        let y = forward(x.0, x.1);
        let (dx, dy) = (y.0 - target.0, y.1 - target.1);
        if dx.abs() < TOLERANCE && dy.abs() < TOLERANCE {
            break;
        }
        x = (x.0 - dx, x.1 - dy);
    }
    x
}

/// GCJ-02 → WGS84, by iteration (see the module's accuracy notes).
pub fn gcj02_to_wgs84(lon: f64, lat: f64) -> (f64, f64) {
    if !in_china(lon, lat) {
        return (lon, lat);
    }
    invert((lon, lat), wgs84_to_gcj02)
}

/// BD-09 → GCJ-02, by iteration.
pub fn bd09_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    invert((lon, lat), gcj02_to_bd09)
}

/// WGS84 → BD-09.
pub fn wgs84_to_bd09(lon: f64, lat: f64) -> (f64, f64) {
    let (x, y) = wgs84_to_gcj02(lon, lat);
    gcj02_to_bd09(x, y)
}

/// BD-09 → WGS84.
pub fn bd09_to_wgs84(lon: f64, lat: f64) -> (f64, f64) {
    let (x, y) = bd09_to_gcj02(lon, lat);
    gcj02_to_wgs84(x, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiananmen_reference_values() {
        // Published reference: WGS84 (116.397428, 39.909230) → GCJ-02 (116.403672, 39.910634)
        // → BD-09 (116.410044, 39.916973), to the 6 decimals given.
        let gcj = wgs84_to_gcj02(116.397428, 39.909230);
        assert!((gcj.0 - 116.403672).abs() < 1e-6, "{gcj:?}");
        assert!((gcj.1 - 39.910634).abs() < 1e-6, "{gcj:?}");
        let bd = gcj02_to_bd09(gcj.0, gcj.1);
        assert!((bd.0 - 116.410044).abs() < 1e-6, "{bd:?}");
        assert!((bd.1 - 39.916973).abs() < 1e-6, "{bd:?}");
        let back = bd09_to_wgs84(bd.0, bd.1);
        assert!((back.0 - 116.397428).abs() < 1e-7 && (back.1 - 39.909230).abs() < 1e-7);
    }

    #[test]
    fn round_trips_within_1e7_degrees_across_china() {
        let mut worst: f64 = 0.0;
        for i in 0..60 {
            for j in 0..40 {
                let (lon, lat) = (75.0 + i as f64, 18.0 + j as f64);
                let (gx, gy) = wgs84_to_gcj02(lon, lat);
                let (wx, wy) = gcj02_to_wgs84(gx, gy);
                let (bx, by) = wgs84_to_bd09(lon, lat);
                let (vx, vy) = bd09_to_wgs84(bx, by);
                worst = worst
                    .max((wx - lon).abs())
                    .max((wy - lat).abs())
                    .max((vx - lon).abs())
                    .max((vy - lat).abs());
            }
        }
        assert!(worst < 1e-7, "{worst}");
    }

    #[test]
    fn no_offset_outside_china() {
        assert_eq!(wgs84_to_gcj02(2.35, 48.85), (2.35, 48.85));
        assert_eq!(gcj02_to_wgs84(2.35, 48.85), (2.35, 48.85));
    }

    #[test]
    fn the_offset_is_hundreds_of_metres_in_shanghai() {
        let (x, y) = wgs84_to_gcj02(121.5, 31.24);
        let metres = ((x - 121.5) * 95_000.0).hypot((y - 31.24) * 111_000.0);
        assert!((300.0..700.0).contains(&metres), "{metres}");
    }
}
