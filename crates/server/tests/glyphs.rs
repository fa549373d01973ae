//! The map's label glyphs, `GET /fonts/{fontstack}/{range}.pbf`: MapLibre's glyph ranges made
//! from the system CJK font, answered without sign-in and cacheable; bad ranges refused.

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

use std::path::Path;

use axum::http::StatusCode;
use gridmap_server::{AppState, Settings};
use serde_json::Value;

mod common;
use common::{add_user, demo_store, send};

fn state(dir: &Path) -> AppState {
    let mut s = demo_store(&dir.join("p.gpkg"));
    add_user(&mut s, "admin", "admin", "310101001");
    AppState::new(s, Settings::default()).unwrap()
}

/// Whether the machine has the font; CI installs it (scripts/setup.sh), so there it must.
fn have_font() -> bool {
    match gridmap_glyphs::font_path() {
        Ok(_) => true,
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: {e}");
            false
        }
        Err(e) => panic!("{e}"),
    }
}

fn varint(buf: &mut &[u8]) -> u64 {
    let mut v = 0;
    for shift in (0..64).step_by(7) {
        let (b, rest) = buf.split_first().unwrap();
        *buf = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return v;
        }
    }
    panic!("varint too long")
}

/// The fields of a message: (number, varint value or bytes).
fn fields(mut buf: &[u8]) -> Vec<(u64, Result<u64, &[u8]>)> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let key = varint(&mut buf);
        match key & 7 {
            0 => out.push((key >> 3, Ok(varint(&mut buf)))),
            2 => {
                let len = varint(&mut buf) as usize;
                let (bytes, rest) = buf.split_at(len);
                buf = rest;
                out.push((key >> 3, Err(bytes)));
            }
            t => panic!("wire type {t} is not in glyphs.proto"),
        }
    }
    out
}

/// A decoded `glyphs` message: each font stack's name, range, and glyphs as (id, bitmap
/// length, width, height, advance).
type Stack = (String, String, Vec<(u32, usize, u32, u32, u32)>);

fn decode(pbf: &[u8]) -> Vec<Stack> {
    fields(pbf)
        .into_iter()
        .map(|(n, stack)| {
            assert_eq!(n, 1, "glyphs holds font stacks only");
            let (mut name, mut range, mut glyphs) = (String::new(), String::new(), Vec::new());
            for (n, v) in fields(stack.unwrap_err()) {
                match (n, v) {
                    (1, Err(b)) => name = String::from_utf8(b.to_vec()).unwrap(),
                    (2, Err(b)) => range = String::from_utf8(b.to_vec()).unwrap(),
                    (3, Err(b)) => {
                        let mut g = (0, 0, 0, 0, 0);
                        for (n, v) in fields(b) {
                            match (n, v) {
                                (1, Ok(v)) => g.0 = v as u32,
                                (2, Err(b)) => g.1 = b.len(),
                                (3, Ok(v)) => g.2 = v as u32,
                                (4, Ok(v)) => g.3 = v as u32,
                                (7, Ok(v)) => g.4 = v as u32,
                                (5 | 6, Ok(_)) => {}
                                f => panic!("unexpected glyph field {f:?}"),
                            }
                        }
                        glyphs.push(g);
                    }
                    f => panic!("unexpected font stack field {f:?}"),
                }
            }
            (name, range, glyphs)
        })
        .collect()
}

#[tokio::test]
async fn latin_and_cjk_ranges_are_served_without_sign_in_and_cacheable() {
    if !have_font() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path());
    for (uri, range, probe) in [
        ("/fonts/WenQuanYi%20Micro%20Hei/0-255.pbf", "0-255", 'A'),
        (
            "/fonts/WenQuanYi%20Micro%20Hei/22016-22271.pbf",
            "22016-22271",
            '国',
        ),
        // A stack naming fonts the server does not have: drawn in its CJK font.
        (
            "/fonts/Open%20Sans%20Regular,Arial%20Unicode%20MS%20Regular/19968-20223.pbf",
            "19968-20223",
            '一',
        ),
    ] {
        let (status, headers, body) = send(&st, "GET", uri, None, None, &[]).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{uri}: {}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(headers["content-type"], "application/x-protobuf", "{uri}");
        assert_eq!(headers["cache-control"], "public, max-age=86400", "{uri}");
        let stacks = decode(&body);
        assert_eq!(stacks.len(), 1, "{uri}");
        let (name, got_range, glyphs) = &stacks[0];
        assert_eq!(got_range, range, "{uri}");
        assert!(
            name.starts_with("WenQuanYi") || !name.is_empty(),
            "{uri}: {name}"
        );
        let g = glyphs
            .iter()
            .find(|g| g.0 == u32::from(probe))
            .unwrap_or_else(|| panic!("{uri}: no glyph for {probe}"));
        assert_eq!(g.1 as u32, (g.2 + 6) * (g.3 + 6), "{uri}: {g:?}");
        assert!(g.4 > 5 && g.4 <= 25, "{uri}: {g:?}");
    }
    // A second request is answered from the cache, the same bytes.
    let uri = "/fonts/WenQuanYi%20Micro%20Hei/22016-22271.pbf";
    let (_, _, first) = send(&st, "GET", uri, None, None, &[]).await;
    let (_, _, again) = send(&st, "GET", uri, None, None, &[]).await;
    assert_eq!(first, again);
}

#[tokio::test]
async fn bad_ranges_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path());
    for (range, status) in [
        ("1-256.pbf", StatusCode::BAD_REQUEST),
        ("0-511.pbf", StatusCode::BAD_REQUEST),
        ("0-255", StatusCode::BAD_REQUEST),
        ("0-255.png", StatusCode::BAD_REQUEST),
        ("abc.pbf", StatusCode::BAD_REQUEST),
        ("65536-65791.pbf", StatusCode::NOT_FOUND),
    ] {
        let uri = format!("/fonts/WenQuanYi%20Micro%20Hei/{range}");
        let (got, headers, body) = send(&st, "GET", &uri, None, None, &[]).await;
        assert_eq!(got, status, "{range}");
        assert_eq!(headers["cache-control"], "no-store", "{range}");
        let body: Value = serde_json::from_slice(&body).unwrap();
        let message = body["error"].as_str().unwrap();
        assert!(message.contains("multiple of 256"), "{range}: {message}");
    }
    // Paths that are not a font stack and a range name no endpoint.
    let (status, _, _) = send(&st, "GET", "/fonts/0-255.pbf", None, None, &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
