//! Coordinate systems: from whatever the data comes in (CGCS2000, its Gauss-Krüger zones, local
//! city systems as PROJ strings, WKT from a `.prj`) to WGS84 longitude/latitude, through PROJ.
//!
//! Axis order: every transform is normalised for visualisation, so coordinates go in and come
//! out easting/longitude first, as files store them, even for CRSs whose authority order is
//! latitude first (EPSG:4490, EPSG:4326) or northing first (the EPSG:4513–4554 zones). The zone
//! prefix in the false easting of EPSG:4513–4533 (e.g. 40 500 000 m for zone 40) is part of the
//! EPSG definition, so coordinates with the prefix convert as they are.
//!
//! `proj::Proj` objects are not thread-safe, so each thread builds its own from the definition
//! on first use.

use std::cell::RefCell;

use geo::Coord;

pub use crate::read::Transform;

thread_local! {
    static CACHE: RefCell<Vec<(String, proj::Proj)>> = const { RefCell::new(Vec::new()) };
}

fn build(source: &str, target: &str) -> Result<proj::Proj, String> {
    proj::Proj::new_known_crs(source, target, None).map_err(|e| e.to_string())
}

/// Whether `crs` names WGS84 longitude/latitude already.
pub fn is_wgs84(crs: &str) -> bool {
    matches!(
        crs.trim().to_ascii_uppercase().as_str(),
        "EPSG:4326" | "WGS84" | "OGC:CRS84" | "4326"
    )
}

/// Normalises a user's CRS: a bare EPSG number becomes `EPSG:n`.
pub fn normalise(crs: &str) -> String {
    let t = crs.trim();
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()) {
        format!("EPSG:{t}")
    } else {
        t.to_string()
    }
}

/// A transform between `source` and `target` (EPSG code, PROJ string or WKT). Fails with PROJ's
/// message when either cannot be understood.
pub fn transform(source: &str, target: &str) -> Result<Box<Transform>, String> {
    let (source, target) = (normalise(source), normalise(target));
    build(&source, &target)?; // fail early, on the caller's thread, with PROJ's reason
    let key = format!("{source}\u{1}{target}");
    Ok(Box::new(move |c: Coord| {
        CACHE.with(|cache| {
            let mut cache = cache.borrow_mut();
            let i = match cache.iter().position(|(k, _)| *k == key) {
                Some(i) => i,
                None => {
                    cache.push((key.clone(), build(&source, &target)?));
                    cache.len() - 1
                }
            };
            let (x, y) = cache[i]
                .1
                .convert((c.x, c.y))
                .map_err(|e| format!("cannot convert ({}, {}): {e}", c.x, c.y))?;
            if x.is_finite() && y.is_finite() {
                Ok(Coord { x, y })
            } else {
                Err(format!("({}, {}) is outside the CRS's domain", c.x, c.y))
            }
        })
    }))
}

/// A transform from `source` to WGS84 longitude/latitude.
pub fn to_wgs84(source: &str) -> Result<Box<Transform>, String> {
    transform(source, "EPSG:4326")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgcs2000_geographic_is_lon_lat_in_and_out() {
        let t = to_wgs84("EPSG:4490").unwrap();
        let c = t(Coord { x: 121.5, y: 31.2 }).unwrap();
        // CGCS2000 and WGS84 agree to centimetres: PROJ uses a null transformation.
        assert!(
            (c.x - 121.5).abs() < 1e-7 && (c.y - 31.2).abs() < 1e-7,
            "{c:?}"
        );
    }

    #[test]
    fn bad_definitions_are_reported() {
        let e = to_wgs84("+proj=nonsense").err().unwrap();
        assert!(!e.is_empty());
        assert!(to_wgs84("EPSG:999999").is_err());
    }

    #[test]
    fn numbers_become_epsg_codes() {
        assert_eq!(normalise(" 4528 "), "EPSG:4528");
        assert!(is_wgs84("epsg:4326"));
    }
}
