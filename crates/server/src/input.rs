//! Checks on what clients send, before anything is saved: grid geometries, codes, names and
//! reasons, visit times. Each check names the field and says what is wrong, as a 400 JSON error
//! ([`AppError::BadRequest`]); none of them echoes a long or odd value back.
//!
//! The rules:
//! - **Geometry** (a grid's): a GeoJSON `Polygon` or `MultiPolygon` with at least one polygon,
//!   every ring closed and of at least four positions, every position exactly two finite numbers,
//!   longitude in [-180, 180] and latitude in [-90, 90], and all of it within
//!   [`NEIGHBOURHOOD_DEG`] of the town's boundary (its bounding box, widened). Self-intersection
//!   and the like are the validator's verdict on the parsed grid (see `grid_edit`).
//! - **Codes**: 1 to [`MAX_CODE_CHARS`] characters of `A–Z a–z 0–9 _ - .`, starting with a letter
//!   or digit. A new grid's code also follows the town's pattern (see [`check_new_grid_code`]).
//! - **Text** (names, reasons, notes): at most a bounded number of characters, no control or
//!   invisible formatting characters (zero-width spaces, bidi overrides).
//! - **Times**: RFC 3339 with an offset, parsed by `chrono`; stored in UTC (`…Z`) so that text
//!   order is time order; not more than [`CLOCK_SKEW_SECS`] in the future, not before 2000.

use chrono::{DateTime, SecondsFormat, Utc};
use geo::{BoundingRect, Coord, LineString, MultiPolygon, Polygon, Rect};
use serde_json::Value;

use crate::error::AppError;
use crate::state::Project;

/// The longest code accepted.
pub const MAX_CODE_CHARS: usize = 64;
/// How far outside the town's bounding box a grid's coordinates may lie, in degrees (~5 km).
pub const NEIGHBOURHOOD_DEG: f64 = 0.05;
/// How far in the future a visit's time may be (a phone's clock running fast).
pub const CLOCK_SKEW_SECS: i64 = 300;
/// The most vertices one grid may have.
pub const MAX_VERTICES: usize = 100_000;

fn bad(message: String) -> AppError {
    AppError::BadRequest(message)
}

/// Whether `c` is a character no name or note should hold: control characters and the
/// invisible formatting ones (zero-width, bidi controls, BOM).
fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// A code: non-empty, bounded, `A–Z a–z 0–9 _ - .`, starting with a letter or digit.
pub fn check_code(field: &str, code: &str) -> Result<(), AppError> {
    if code.is_empty() {
        return Err(bad(format!("{field} is empty")));
    }
    if code.chars().count() > MAX_CODE_CHARS {
        return Err(bad(format!(
            "{field} is longer than {MAX_CODE_CHARS} characters"
        )));
    }
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if !code.chars().all(ok_char) || !code.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(bad(format!(
            "{field} may hold only letters, digits, '_', '-' and '.', starting with a letter or digit"
        )));
    }
    Ok(())
}

/// The town's pattern for a new grid's code: `VILLAGE-SUFFIX` when the grid has a village (the
/// suffix 1–16 letters, digits or `_`, e.g. `310101001002-07`), and never the code of the town or
/// of a village (the nodes users are scoped to).
pub fn check_new_grid_code(p: &Project, code: &str, village: Option<&str>) -> Result<(), AppError> {
    check_code("code", code)?;
    if code == p.town.code || p.villages.iter().any(|v| v.code == code) {
        return Err(bad(format!(
            "code {code} is the code of the town or a village; a grid's code goes under its village, like VILLAGE-01"
        )));
    }
    if let Some(v) = village {
        let suffix = code.strip_prefix(v).and_then(|s| s.strip_prefix('-'));
        let ok = suffix.is_some_and(|s| {
            (1..=16).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        if !ok {
            return Err(bad(format!(
                "code {code} does not follow the town's pattern {v}-NN (the village's code, '-', then 1 to 16 letters, digits or '_')"
            )));
        }
    }
    Ok(())
}

/// Free text (`field`): at most `max` characters, no control or invisible characters.
pub fn check_text(field: &str, text: &str, max: usize) -> Result<(), AppError> {
    if text.chars().count() > max {
        return Err(bad(format!("{field} is longer than {max} characters")));
    }
    if text.chars().any(invisible) {
        return Err(bad(format!(
            "{field} holds a control or invisible character"
        )));
    }
    Ok(())
}

/// Where a grid's coordinates may lie: the town's bounding box widened by
/// [`NEIGHBOURHOOD_DEG`]; without a town boundary, that of the grids and buildings; `None` when
/// the project holds no geometry at all.
pub fn neighbourhood(p: &Project) -> Option<Rect> {
    let bounds = p
        .town
        .boundary
        .as_ref()
        .and_then(|b| b.bounding_rect())
        .or_else(|| {
            let rects = p
                .grids
                .iter()
                .filter_map(|g| g.grid.geometry.bounding_rect())
                .chain(p.buildings.iter().filter_map(|b| b.footprint_rect()));
            rects.fold(None, |acc, r| gridmap_stats::edit::union_rect(acc, Some(r)))
        })?;
    Some(Rect::new(
        Coord {
            x: bounds.min().x - NEIGHBOURHOOD_DEG,
            y: bounds.min().y - NEIGHBOURHOOD_DEG,
        },
        Coord {
            x: bounds.max().x + NEIGHBOURHOOD_DEG,
            y: bounds.max().y + NEIGHBOURHOOD_DEG,
        },
    ))
}

/// A grid's geometry from a GeoJSON geometry object, checked position by position (see the
/// module doc). `near`: where coordinates may lie ([`neighbourhood`]).
pub fn grid_geometry(geometry: &Value, near: Option<Rect>) -> Result<MultiPolygon, AppError> {
    let kind = geometry
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("geometry.type is missing".into()))?;
    let coordinates = geometry
        .get("coordinates")
        .ok_or_else(|| bad("geometry.coordinates is missing".into()))?;
    let mut vertices = 0usize;
    let polygons: Vec<Polygon> = match kind {
        "Polygon" => vec![polygon(
            coordinates,
            "geometry.coordinates",
            near,
            &mut vertices,
        )?],
        "MultiPolygon" => {
            let parts = array(coordinates, "geometry.coordinates")?;
            parts
                .iter()
                .enumerate()
                .map(|(i, part)| {
                    polygon(
                        part,
                        &format!("geometry.coordinates[{i}]"),
                        near,
                        &mut vertices,
                    )
                })
                .collect::<Result<_, _>>()?
        }
        other => {
            return Err(bad(format!(
                "geometry.type must be Polygon or MultiPolygon, not {}",
                short(other)
            )));
        }
    };
    if polygons.is_empty() {
        return Err(bad(
            "geometry.coordinates is empty: a grid needs at least one polygon".into(),
        ));
    }
    Ok(MultiPolygon(polygons))
}

fn array<'a>(v: &'a Value, at: &str) -> Result<&'a Vec<Value>, AppError> {
    v.as_array()
        .ok_or_else(|| bad(format!("{at} must be an array")))
}

fn polygon(
    v: &Value,
    at: &str,
    near: Option<Rect>,
    vertices: &mut usize,
) -> Result<Polygon, AppError> {
    let rings = array(v, at)?;
    if rings.is_empty() {
        return Err(bad(format!("{at} is empty: a polygon needs an outer ring")));
    }
    let mut out: Vec<LineString> = Vec::with_capacity(rings.len());
    for (r, ring) in rings.iter().enumerate() {
        let at = format!("{at}[{r}]");
        let positions = array(ring, &at)?;
        if positions.len() < 4 {
            return Err(bad(format!(
                "{at} has {} positions; a ring needs at least 4 (three corners and the first again)",
                positions.len()
            )));
        }
        *vertices += positions.len();
        if *vertices > MAX_VERTICES {
            return Err(bad(format!(
                "geometry has more than {MAX_VERTICES} vertices"
            )));
        }
        let coords: Vec<Coord> = positions
            .iter()
            .enumerate()
            .map(|(i, pos)| position(pos, &format!("{at}[{i}]"), near))
            .collect::<Result<_, _>>()?;
        if coords.first() != coords.last() {
            return Err(bad(format!(
                "{at} is not closed: its last position must repeat the first"
            )));
        }
        out.push(LineString(coords));
    }
    let exterior = out.remove(0);
    Ok(Polygon::new(exterior, out))
}

fn position(v: &Value, at: &str, near: Option<Rect>) -> Result<Coord, AppError> {
    let xy = array(v, at)?;
    if xy.len() != 2 {
        return Err(bad(format!(
            "{at} must be [longitude, latitude] (2D), not {} numbers",
            xy.len()
        )));
    }
    let (Some(x), Some(y)) = (xy[0].as_f64(), xy[1].as_f64()) else {
        return Err(bad(format!("{at} must hold two numbers")));
    };
    if !x.is_finite() || !(-180.0..=180.0).contains(&x) {
        return Err(bad(format!("{at}: longitude must lie in [-180, 180]")));
    }
    if !y.is_finite() || !(-90.0..=90.0).contains(&y) {
        return Err(bad(format!("{at}: latitude must lie in [-90, 90]")));
    }
    if let Some(r) = near
        && !(r.min().x <= x && x <= r.max().x && r.min().y <= y && y <= r.max().y)
    {
        return Err(bad(format!(
            "{at} lies far outside the town (more than {NEIGHBOURHOOD_DEG}° from its boundary)"
        )));
    }
    Ok(Coord { x, y })
}

/// At most 40 characters of a client's value, for an error message.
pub(crate) fn short(s: &str) -> String {
    let cut: String = s.chars().filter(|c| !invisible(*c)).take(40).collect();
    if cut.len() < s.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// A visit's `time`: RFC 3339, not more than [`CLOCK_SKEW_SECS`] ahead of `now`, not before
/// 2000; answered in UTC with whole seconds (`2026-11-20T08:30:00Z`).
pub fn visit_time(text: &str, now: DateTime<Utc>) -> Result<String, AppError> {
    let t = DateTime::parse_from_rfc3339(text)
        .map_err(|_| {
            bad(
                "time must be an RFC 3339 time with its offset, like 2026-11-20T16:30:00+08:00"
                    .into(),
            )
        })?
        .with_timezone(&Utc);
    if (t - now).num_seconds() > CLOCK_SKEW_SECS {
        return Err(bad(format!(
            "time lies in the future (more than {} minutes ahead of the server's clock)",
            CLOCK_SKEW_SECS / 60
        )));
    }
    if t.timestamp() < 946_684_800 {
        return Err(bad("time is before 2000".into()));
    }
    Ok(t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date, or of the date part of an RFC 3339 time as
/// written (a real calendar date: `2026-02-30` is `None`).
pub fn day_number(text: &str) -> Option<i64> {
    let date = chrono::NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d").ok()?;
    Some((date - chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?).num_days())
}

/// Now as RFC 3339 UTC with whole seconds.
pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn near() -> Option<Rect> {
        Some(Rect::new(
            Coord { x: 121.0, y: 31.0 },
            Coord { x: 122.0, y: 32.0 },
        ))
    }

    fn square() -> Value {
        json!({"type": "Polygon", "coordinates": [[[121.5, 31.2], [121.51, 31.2], [121.51, 31.21], [121.5, 31.2]]]})
    }

    #[test]
    fn good_polygons_parse() {
        assert_eq!(
            grid_geometry(&square(), near()).map(|m| m.0.len()).ok(),
            Some(1)
        );
        let multi =
            json!({"type": "MultiPolygon", "coordinates": [square()["coordinates"].clone()]});
        assert_eq!(
            grid_geometry(&multi, near()).map(|m| m.0.len()).ok(),
            Some(1)
        );
    }

    #[test]
    fn bad_geometries_name_what_is_wrong() {
        let cases = [
            (json!({"type": "Polygon", "coordinates": []}), "is empty"),
            (
                json!({"type": "Polygon", "coordinates": [[]]}),
                "0 positions",
            ),
            (
                json!({"type": "MultiPolygon", "coordinates": []}),
                "at least one polygon",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[1e308, 31.2], [121.51, 31.2], [121.51, 31.21], [1e308, 31.2]]]}),
                "longitude",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[200, 31.2], [121.51, 31.2], [121.51, 31.21], [200, 31.2]]]}),
                "longitude",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[121.5, 100], [121.51, 31.2], [121.51, 31.21], [121.5, 100]]]}),
                "latitude",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[121.5, 31.2, 4], [121.51, 31.2, 4], [121.51, 31.21, 4], [121.5, 31.2, 4]]]}),
                "2D",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[121.5, 31.2], [121.51, 31.2], [121.51, 31.21], [121.5, 31.3]]]}),
                "not closed",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[10.5, 31.2], [10.51, 31.2], [10.51, 31.21], [10.5, 31.2]]]}),
                "far outside",
            ),
            (
                json!({"type": "Point", "coordinates": [121.5, 31.2]}),
                "Polygon or MultiPolygon",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[["a", 31.2], [121.51, 31.2], [121.51, 31.21], ["a", 31.2]]]}),
                "two numbers",
            ),
            (json!({"coordinates": []}), "type is missing"),
        ];
        for (g, want) in cases {
            match grid_geometry(&g, near()) {
                Err(AppError::BadRequest(m)) => assert!(m.contains(want), "{g}: {m}"),
                other => panic!("{g}: expected a 400, got {other:?}"),
            }
        }
    }

    #[test]
    fn codes() {
        assert!(check_code("code", "310101001002-03").is_ok());
        assert!(check_code("code", "G000001").is_ok());
        for bad_code in ["", "a\0b", "a\nb", "a\u{200B}b", "<script>", " x", "-x"] {
            assert!(check_code("code", bad_code).is_err(), "{bad_code:?}");
        }
        assert!(check_code("code", &"9".repeat(10_000)).is_err());
    }

    #[test]
    fn text() {
        assert!(check_text("name", "北外滩社区第1网格", 100).is_ok());
        assert!(check_text("name", "a\u{202E}b", 100).is_err());
        assert!(check_text("name", "a\nb", 100).is_err());
        assert!(check_text("name", &"x".repeat(101), 100).is_err());
    }

    #[test]
    fn times() {
        let now = DateTime::parse_from_rfc3339("2026-12-04T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(
            visit_time("2026-12-04T16:30:00+08:00", now).ok().as_deref(),
            Some("2026-12-04T08:30:00Z")
        );
        assert!(visit_time("2026-12-04T12:04:00Z", now).is_ok());
        for t in [
            "not a time",
            "9999-99-99T99:99:99Z",
            "2026-12-04",
            "2026-12-05T12:00:00Z",
            "1970-01-01T00:00:00Z",
            "2026-02-30T10:00:00Z",
        ] {
            assert!(visit_time(t, now).is_err(), "{t}");
        }
        assert!(now_rfc3339().ends_with('Z'));
    }

    #[test]
    fn dates_count_days() {
        assert_eq!(day_number("1970-01-01"), Some(0));
        assert_eq!(day_number("2026-11-21"), Some(20_778));
        assert_eq!(day_number("2026-11-21T23:00:00+08:00"), Some(20_778));
        assert_eq!(
            day_number("2024-03-01")
                .zip(day_number("2024-02-28"))
                .map(|(a, b)| a - b),
            Some(2)
        );
        assert_eq!(day_number("2026-13-01"), None);
        assert_eq!(day_number("2026-02-30"), None);
    }
}
