//! `GET /fonts/{fontstack}/{range}.pbf`: the glyphs MapLibre draws map labels with (the
//! style's `glyphs` URL), made by `gridmap-glyphs` from the system's CJK font, so that the web
//! map shows Chinese labels without fetching anything from the internet.
//!
//! Any font stack is answered, with the first face of the font it names (MapLibre joins a
//! layer's `text-font` with commas), else with the CJK font's first face. The answer needs no
//! sign-in (glyphs hold no data; the tiles they label are authorised) and may be cached for a
//! day. Ranges are made once (a CJK range takes tens of milliseconds) and kept, the
//! [`GLYPH_CACHE_RANGES`] most recently used. Without a CJK font the answer is 404 naming the
//! Debian package to install, and the web app falls back to HTML labels.

use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gridmap_glyphs::Fonts;

use crate::{AppError, AppState};

/// How many glyph ranges are kept (a CJK range is about 200 KB: 64 of them about 13 MB).
pub const GLYPH_CACHE_RANGES: usize = 64;

/// How long a client may keep a range: a day.
const CACHE_CONTROL: &str = "public, max-age=86400";

/// The font, loaded at the first request, and the ranges made from it.
#[derive(Default)]
pub struct GlyphCache {
    fonts: OnceLock<Result<Arc<Fonts>, String>>,
    /// (face, first code point) → the encoded range, least recently used first.
    ranges: Mutex<hashlink::LinkedHashMap<(u32, u32), Bytes>>,
}

impl GlyphCache {
    /// The font, read at the first call; the reason there is none otherwise.
    fn fonts(&self) -> Result<Arc<Fonts>, String> {
        self.fonts
            .get_or_init(|| match Fonts::find() {
                Ok(f) => {
                    tracing::info!(font = f.path(), faces = ?f.families(), "map label glyphs");
                    Ok(Arc::new(f))
                }
                Err(e) => {
                    tracing::warn!("no map label glyphs: {e}");
                    Err(e.to_string())
                }
            })
            .clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, hashlink::LinkedHashMap<(u32, u32), Bytes>> {
        self.ranges
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, key: (u32, u32)) -> Option<Bytes> {
        self.lock().to_back(&key).cloned()
    }

    fn insert(&self, key: (u32, u32), pbf: Bytes) {
        let mut ranges = self.lock();
        ranges.insert(key, pbf);
        while ranges.len() > GLYPH_CACHE_RANGES {
            ranges.pop_front();
        }
    }
}

/// `GET /fonts/{fontstack}/{range}.pbf`: the SDF glyphs of 256 code points (`range` is
/// `START-END.pbf`, START a multiple of 256, END = START + 255, up to 65535) in the
/// protocol buffer format of Mapbox's `glyphs.proto`.
#[utoipa::path(get, path = "/fonts/{fontstack}/{range}", tag = "tiles", security(()),
    params(
        ("fontstack" = String, Path, description = "Font names separated by commas, e.g. `WenQuanYi Micro Hei`; the first the server has is used, else its CJK font"),
        ("range" = String, Path, description = "`START-END.pbf`: START a multiple of 256, END = START+255, at most 65535, e.g. `19968-20223.pbf`"),
    ),
    responses(
        (status = 200, description = "The glyphs (`glyphs.proto`): SDF bitmaps at 24 px with a 3 px border, and their metrics; cacheable for a day", content_type = "application/x-protobuf", body = Vec<u8>),
        (status = 404, description = "No CJK font is installed on the server (the message names the Debian package), or the range is past 65535", body = crate::openapi::ErrorBody),
    ))]
pub async fn glyph_range(
    State(state): State<AppState>,
    Path((stack, range)): Path<(String, String)>,
) -> Response {
    match glyphs(&state, &stack, &range).await {
        Ok(pbf) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/x-protobuf"),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static(CACHE_CONTROL),
                ),
            ],
            pbf,
        )
            .into_response(),
        Err(e) => {
            let mut r = e.into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
    }
}

async fn glyphs(state: &AppState, stack: &str, range: &str) -> Result<Bytes, AppError> {
    let start = range
        .strip_suffix(".pbf")
        .ok_or_else(|| gridmap_glyphs::RangeError(range.chars().take(40).collect()))
        .and_then(gridmap_glyphs::parse_range)
        .map_err(|e| {
            let past =
                e.0.split(['-', '.'])
                    .next()
                    .and_then(|s| s.parse::<u64>().ok());
            let status = match past {
                Some(n) if n > u64::from(gridmap_glyphs::MAX_CODE_POINT) => StatusCode::NOT_FOUND,
                _ => StatusCode::BAD_REQUEST,
            };
            AppError::Rejected(status, e.to_string())
        })?;
    let cache = &state.0.glyphs;
    let fonts = match cache.fonts.get() {
        Some(loaded) => loaded.clone(),
        None => {
            let state = state.clone();
            crate::blocking(move || Ok(state.0.glyphs.fonts())).await?
        }
    };
    let fonts = fonts.map_err(no_font)?;
    let face = fonts.face_for_stack(stack);
    if let Some(pbf) = cache.get((face, start)) {
        return Ok(pbf);
    }
    let pbf = crate::reading(move || Ok(Bytes::from(fonts.range_pbf(face, start)))).await?;
    cache.insert((face, start), pbf.clone());
    Ok(pbf)
}

/// 404 with why there is no font (the message names the Debian package to install).
fn no_font(message: String) -> AppError {
    AppError::Rejected(StatusCode::NOT_FOUND, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_font_the_answer_is_404_naming_the_package() {
        let cache = GlyphCache::default();
        let missing = gridmap_glyphs::FontError::NoFont {
            looked: gridmap_glyphs::FONT_CANDIDATES.join(", "),
        };
        assert!(cache.fonts.set(Err(missing.to_string())).is_ok());
        let Err(e) = cache.fonts().map_err(no_font) else {
            panic!("a font")
        };
        assert!(
            e.to_string().contains("apt-get install fonts-wqy-microhei"),
            "{e}"
        );
        assert_eq!(e.into_response().status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn the_cache_keeps_the_most_recently_used_ranges() {
        let cache = GlyphCache::default();
        for start in 0..=GLYPH_CACHE_RANGES as u32 {
            cache.insert((0, start * 256), Bytes::from(vec![start as u8]));
            // The first range is used again and again: it stays.
            assert!(cache.get((0, 0)).is_some());
        }
        assert_eq!(cache.lock().len(), GLYPH_CACHE_RANGES);
        assert!(cache.get((0, 256)).is_none());
        assert!(cache.get((0, GLYPH_CACHE_RANGES as u32 * 256)).is_some());
    }
}
