//! The web app, embedded in the binary at build time (see `build.rs`): `web/app/` at `/` and the
//! ES modules it imports at `/vendor/NAME/`, so a binary copied to an empty folder serves the
//! whole app. `gridmap serve --web DIR` serves a folder from disk instead, for development.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// The embedded file at URL path `path` (`/` is `/index.html`): its ETag and contents.
pub fn asset(path: &str) -> Option<(&'static str, &'static [u8])> {
    let path = if path == "/" { "/index.html" } else { path };
    ASSETS
        .binary_search_by(|(p, _, _)| (*p).cmp(path))
        .ok()
        .map(|i| (ASSETS[i].1, ASSETS[i].2))
}

/// The embedded `index.html`, for the content security policy.
pub fn index_html() -> Option<&'static str> {
    asset("/index.html").and_then(|(_, b)| std::str::from_utf8(b).ok())
}

/// The paths of every embedded file.
pub fn paths() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|(p, _, _)| *p)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        Some("webmanifest") => "application/manifest+json",
        _ => "application/octet-stream",
    }
}

/// Answers a GET for an embedded file: 200 with its ETag (`no-cache`: the browser revalidates),
/// 304 when `If-None-Match` holds it, 404 when there is no such file.
pub async fn serve(uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    let Some((etag, bytes)) = asset(path) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let mut h = HeaderMap::new();
    h.insert(header::ETAG, HeaderValue::from_static(etag));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        return (StatusCode::NOT_MODIFIED, h).into_response();
    }
    let path = if path == "/" { "/index.html" } else { path };
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    (h, Body::from(bytes)).into_response()
}
