//! Map label glyphs for MapLibre, made at run time from the system's CJK TrueType font, and the
//! lookup of that font (shared with `gridmap-plates`, so both use one list).
//!
//! MapLibre draws text from glyph ranges that it fetches from the style's `glyphs` URL,
//! `…/{fontstack}/{range}.pbf`: 256 code points a range (`0-255`, `256-511`, … `65280-65535`),
//! each glyph a signed distance field (SDF) bitmap with its metrics, in the protocol buffer
//! format of Mapbox's `glyphs.proto`. gridmap answers them itself (intranet deployments fetch
//! nothing from the internet), from the font [`font_path`] finds:
//!
//! - glyphs are rasterised at [`FONT_SIZE`] px (24: MapLibre's `ONE_EM`) from the TrueType
//!   outlines (`ttf-parser`, `ab_glyph_rasterizer`), with a [`BUFFER`] of 3 px on each side, so
//!   a glyph `width`×`height` has a bitmap of (`width`+6)×(`height`+6) bytes;
//! - the distance field is the one of node-fontnik and `pbf_font_tools` (Felzenszwalb and
//!   Huttenlocher's transform of the coverage bitmap, `sdf_glyph_renderer`): a pixel at signed
//!   distance `d` px from the outline (negative inside) is `255 - 255 × (d / RADIUS + CUTOFF)`
//!   clamped to 0..=255, with [`RADIUS`] 8 and [`CUTOFF`] 0.25: 255 well inside, 191 on the
//!   outline (MapLibre draws the edge at 192/255), 0 from 6 px outside;
//! - metrics as FreeType gives them to those tools: `left` and `top` are the bitmap's left and
//!   top edges in whole pixels from the pen position and the baseline (the outline's bounding box
//!   rounded outwards), then `top` less the face's ascender at 24 px, as MapLibre's shaping
//!   expects; `advance` in whole pixels. A glyph with no outline (a space) has no bitmap.
//!
//! ```no_run
//! let fonts = gridmap_glyphs::Fonts::find()?;
//! let face = fonts.face_for_stack("WenQuanYi Micro Hei,Noto Sans Regular");
//! let start = gridmap_glyphs::parse_range("19968-20223")?;
//! let pbf: Vec<u8> = fonts.range_pbf(face, start);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

use std::path::{Path, PathBuf};

/// The environment variable naming a TrueType font (`.ttf`/`.ttc`) with Chinese glyphs to use
/// instead of the Debian ones.
pub const FONT_VAR: &str = "GRIDMAP_CJK_FONT";
/// The Debian package whose font is looked for first.
pub const FONT_PACKAGE: &str = "fonts-wqy-microhei";
/// Where Debian's CJK font packages put their TrueType fonts, tried in order:
/// `fonts-wqy-microhei`, `fonts-wqy-zenhei`, `fonts-droid-fallback`, `fonts-arphic-uming`.
pub const FONT_CANDIDATES: [&str; 4] = [
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
];

/// The size glyphs are rendered at, in pixels to the em (MapLibre's `ONE_EM`).
pub const FONT_SIZE: f32 = 24.0;
/// The border around each glyph's bitmap, in pixels, on each side (MapLibre's
/// `GLYPH_PBF_BORDER`).
pub const BUFFER: usize = 3;
/// How far out from the outline distances are recorded, in pixels.
pub const RADIUS: usize = 8;
/// The share of the byte range that encodes distances inside the outline.
pub const CUTOFF: f64 = 0.25;
/// The code points of one range.
pub const RANGE_SIZE: u32 = 256;
/// The last code point a range may hold (MapLibre asks for the Basic Multilingual Plane only).
pub const MAX_CODE_POINT: u32 = 0xFFFF;

/// Why the font cannot be had.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum FontError {
    /// No CJK font was found.
    #[error(
        "no font with Chinese glyphs: install the Debian package {FONT_PACKAGE} (apt-get install {FONT_PACKAGE}) or set {FONT_VAR} to a TrueType font file; looked for {looked}"
    )]
    NoFont {
        /// The paths looked at.
        looked: String,
    },
    /// The font file cannot be read, is not a TrueType font, or has no Chinese glyphs.
    #[error("{path}: {message}")]
    Font {
        /// The font file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
}

/// The CJK font to use: the file named by [`FONT_VAR`] when it is set, else the first of
/// [`FONT_CANDIDATES`] that exists; [`FontError::NoFont`] naming the package to install when
/// there is none.
pub fn font_path() -> Result<PathBuf, FontError> {
    if let Some(path) = std::env::var_os(FONT_VAR) {
        return Ok(PathBuf::from(path));
    }
    FONT_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| FontError::NoFont {
            looked: FONT_CANDIDATES.join(", "),
        })
}

/// Checks that `data` is a TrueType font (face `index` of a collection) with Chinese glyphs.
pub fn check_cjk(data: &[u8], index: u32) -> Result<(), String> {
    let face =
        ttf_parser::Face::parse(data, index).map_err(|e| format!("not a TrueType font: {e}"))?;
    if "门牌网格".chars().any(|c| face.glyph_index(c).is_none()) {
        return Err("the font has no Chinese glyphs".into());
    }
    Ok(())
}

/// Why a range in a glyph URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "bad glyph range {0:?}: expected START-END.pbf with START a multiple of 256 and END = START+255, up to 65280-65535"
)]
pub struct RangeError(pub String);

/// The first code point of a range named as in a glyph URL, `START-END` (a trailing `.pbf` is
/// allowed): START a multiple of 256, END = START + 255, END at most 65535.
pub fn parse_range(text: &str) -> Result<u32, RangeError> {
    let bad = || RangeError(text.chars().take(40).collect());
    let range = text.strip_suffix(".pbf").unwrap_or(text);
    let (start, end) = range.split_once('-').ok_or_else(bad)?;
    let number = |s: &str| {
        if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse::<u32>().ok()
    };
    let (start, end) = (number(start).ok_or_else(bad)?, number(end).ok_or_else(bad)?);
    if start % RANGE_SIZE != 0 || end != start + RANGE_SIZE - 1 || end > MAX_CODE_POINT {
        return Err(bad());
    }
    Ok(start)
}

/// One glyph of a range, as `glyphs.proto` has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glyph {
    /// The code point.
    pub id: u32,
    /// The SDF, (`width` + 6) × (`height` + 6) bytes, row by row from the top; `None` for a glyph
    /// without an outline.
    pub bitmap: Option<Vec<u8>>,
    /// The width of the glyph's box, without the border, in pixels.
    pub width: u32,
    /// The height of the glyph's box, without the border, in pixels.
    pub height: u32,
    /// From the pen position to the box's left edge, in pixels.
    pub left: i32,
    /// The box's top edge above the baseline less the face's ascender, in pixels.
    pub top: i32,
    /// How far the pen moves on, in pixels.
    pub advance: u32,
}

/// A TrueType font file (one font or a collection) read into memory, with the family name of
/// each of its faces.
pub struct Fonts {
    data: Vec<u8>,
    path: String,
    families: Vec<String>,
}

impl std::fmt::Debug for Fonts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fonts")
            .field("path", &self.path)
            .field("families", &self.families)
            .finish()
    }
}

impl Fonts {
    /// The font [`font_path`] finds, read and checked.
    pub fn find() -> Result<Fonts, FontError> {
        Fonts::load(&font_path()?)
    }

    /// Reads the font at `path` and checks that its first face has Chinese glyphs.
    pub fn load(path: &Path) -> Result<Fonts, FontError> {
        let name = path.display().to_string();
        let fail = |message: String| FontError::Font {
            path: name.clone(),
            message,
        };
        let data = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        check_cjk(&data, 0).map_err(fail)?;
        let faces = ttf_parser::fonts_in_collection(&data).unwrap_or(1);
        let families = (0..faces)
            .map(|i| {
                ttf_parser::Face::parse(&data, i)
                    .ok()
                    .and_then(|face| family_name(&face))
                    .unwrap_or_default()
            })
            .collect();
        Ok(Fonts {
            data,
            path: name,
            families,
        })
    }

    /// The file the font was read from.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The family name of each face (e.g. `WenQuanYi Micro Hei`, `WenQuanYi Micro Hei Mono`);
    /// empty for a face without one.
    pub fn families(&self) -> &[String] {
        &self.families
    }

    /// The face to serve a font stack with: `stack` lists font names separated by commas (as
    /// MapLibre joins a layer's `text-font`); the first that names a face of this font (its
    /// family, case and spaces aside, with or without a `Regular` style), else face 0. Any stack
    /// is served: a label asking for a font gridmap does not have is drawn in the CJK font.
    pub fn face_for_stack(&self, stack: &str) -> u32 {
        let key = |s: &str| -> String {
            let s = s.trim();
            let s = s.strip_suffix(" Regular").unwrap_or(s);
            s.chars()
                .filter(|c| !c.is_whitespace())
                .flat_map(char::to_lowercase)
                .collect()
        };
        stack
            .split(',')
            .find_map(|wanted| {
                let wanted = key(wanted);
                self.families
                    .iter()
                    .position(|f| !f.is_empty() && key(f) == wanted)
            })
            .map_or(0, |i| i as u32)
    }

    /// The glyphs of face `face` for the range starting at `start` (a multiple of 256), in
    /// code point order; code points the font lacks are left out.
    pub fn glyphs(&self, face: u32, start: u32) -> Vec<Glyph> {
        let Ok(face) = ttf_parser::Face::parse(&self.data, face)
            .or_else(|_| ttf_parser::Face::parse(&self.data, 0))
        else {
            return Vec::new();
        };
        let scale = FONT_SIZE / f32::from(face.units_per_em());
        let ascender = (f32::from(face.ascender()) * scale).round() as i32;
        (start..start.saturating_add(RANGE_SIZE).min(MAX_CODE_POINT + 1))
            .filter_map(char::from_u32)
            .filter_map(|c| render(&face, c, scale, ascender))
            .collect()
    }

    /// The range starting at `start` of face `face`, encoded as a `glyphs` message with one
    /// font stack named after the face's family.
    pub fn range_pbf(&self, face: u32, start: u32) -> Vec<u8> {
        let name = self
            .families
            .get(face as usize)
            .or(self.families.first())
            .map_or("", String::as_str);
        encode(name, start, &self.glyphs(face, start))
    }
}

/// The face's family name: the typographic family (name 16) or else the family (name 1), in
/// English when the font has it.
fn family_name(face: &ttf_parser::Face<'_>) -> Option<String> {
    use ttf_parser::name_id::{FAMILY, TYPOGRAPHIC_FAMILY};
    let names: Vec<_> = face.names().into_iter().collect();
    [TYPOGRAPHIC_FAMILY, FAMILY].into_iter().find_map(|id| {
        let of_id = || names.iter().filter(move |n| n.name_id == id);
        of_id()
            .filter(|n| n.language_id == 0x0409)
            .chain(of_id())
            .find_map(|n| n.to_string())
            .filter(|s| !s.trim().is_empty())
    })
}

/// The outline of a glyph, in pixels, drawn into a coverage rasteriser.
struct Outline {
    raster: ab_glyph_rasterizer::Rasterizer,
    scale: f32,
    left: f32,
    top: f32,
    first: ab_glyph_rasterizer::Point,
    last: ab_glyph_rasterizer::Point,
}

impl Outline {
    /// Font units to the bitmap's pixels: x right from its left edge, y down from its top.
    fn point(&self, x: f32, y: f32) -> ab_glyph_rasterizer::Point {
        ab_glyph_rasterizer::point(x * self.scale - self.left, self.top - y * self.scale)
    }
}

impl ttf_parser::OutlineBuilder for Outline {
    fn move_to(&mut self, x: f32, y: f32) {
        self.first = self.point(x, y);
        self.last = self.first;
    }

    fn line_to(&mut self, x: f32, y: f32) {
        let p = self.point(x, y);
        self.raster.draw_line(self.last, p);
        self.last = p;
    }

    fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
        let (c, p) = (self.point(x1, y1), self.point(x, y));
        self.raster.draw_quad(self.last, c, p);
        self.last = p;
    }

    fn curve_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
        let (c1, c2, p) = (self.point(x1, y1), self.point(x2, y2), self.point(x, y));
        self.raster.draw_cubic(self.last, c1, c2, p);
        self.last = p;
    }

    fn close(&mut self) {
        if self.last != self.first {
            self.raster.draw_line(self.last, self.first);
        }
        self.last = self.first;
    }
}

/// The glyph of `c` at `scale` px per font unit, `None` when the font has no glyph for it.
fn render(face: &ttf_parser::Face<'_>, c: char, scale: f32, ascender: i32) -> Option<Glyph> {
    let id = face.glyph_index(c)?;
    let advance = (f32::from(face.glyph_hor_advance(id).unwrap_or(0)) * scale).round() as u32;
    let empty = Glyph {
        id: u32::from(c),
        bitmap: None,
        width: 0,
        height: 0,
        left: 0,
        top: -ascender,
        advance,
    };
    let Some(bbox) = face.glyph_bounding_box(id) else {
        return Some(empty);
    };
    // The box in whole pixels, rounded outwards, as FreeType's bitmap.
    let left = (f32::from(bbox.x_min) * scale).floor();
    let right = (f32::from(bbox.x_max) * scale).ceil();
    let bottom = (f32::from(bbox.y_min) * scale).floor();
    let top = (f32::from(bbox.y_max) * scale).ceil();
    let (width, height) = ((right - left) as usize, (top - bottom) as usize);
    if width == 0
        || height == 0
        || width > 4 * FONT_SIZE as usize
        || height > 4 * FONT_SIZE as usize
    {
        return Some(empty);
    }
    let mut outline = Outline {
        raster: ab_glyph_rasterizer::Rasterizer::new(width, height),
        scale,
        left,
        top,
        first: ab_glyph_rasterizer::point(0.0, 0.0),
        last: ab_glyph_rasterizer::point(0.0, 0.0),
    };
    if face.outline_glyph(id, &mut outline).is_none() {
        return Some(empty);
    }
    let mut alpha = vec![0u8; width * height];
    outline.raster.for_each_pixel(|i, a| {
        alpha[i] = (a.clamp(0.0, 1.0) * 255.0).round() as u8;
    });
    let bitmap = sdf_glyph_renderer::BitmapGlyph::from_unbuffered(&alpha, width, height, BUFFER)
        .ok()?
        .render_sdf(RADIUS);
    let bitmap = sdf_glyph_renderer::clamp_to_u8(&bitmap, CUTOFF).ok()?;
    Some(Glyph {
        bitmap: Some(bitmap),
        width: width as u32,
        height: height as u32,
        left: left as i32,
        top: top as i32 - ascender,
        ..empty
    })
}

/// Encodes one font stack as a `glyphs` message (`glyphs.proto`): its `name`, its range
/// `START-END` and `glyphs`.
pub fn encode(name: &str, start: u32, glyphs: &[Glyph]) -> Vec<u8> {
    let mut stack = Vec::with_capacity(
        glyphs
            .iter()
            .map(|g| 24 + g.bitmap.as_ref().map_or(0, Vec::len))
            .sum(),
    );
    wire::bytes(&mut stack, 1, name.as_bytes());
    let range = format!("{start}-{}", start + RANGE_SIZE - 1);
    wire::bytes(&mut stack, 2, range.as_bytes());
    let mut glyph = Vec::new();
    for g in glyphs {
        glyph.clear();
        wire::varint_field(&mut glyph, 1, u64::from(g.id));
        if let Some(bitmap) = &g.bitmap {
            wire::bytes(&mut glyph, 2, bitmap);
        }
        wire::varint_field(&mut glyph, 3, u64::from(g.width));
        wire::varint_field(&mut glyph, 4, u64::from(g.height));
        wire::varint_field(&mut glyph, 5, u64::from(wire::zigzag(g.left)));
        wire::varint_field(&mut glyph, 6, u64::from(wire::zigzag(g.top)));
        wire::varint_field(&mut glyph, 7, u64::from(g.advance));
        wire::bytes(&mut stack, 3, &glyph);
    }
    let mut out = Vec::with_capacity(stack.len() + 8);
    wire::bytes(&mut out, 1, &stack);
    out
}

/// The protocol buffer wire format, as much as `glyphs.proto` needs (the MVT writer of
/// `gridmap-tiles` has its own, private to it).
mod wire {
    pub fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    pub fn varint_field(out: &mut Vec<u8>, field: u32, v: u64) {
        varint(out, u64::from(field << 3));
        varint(out, v);
    }

    pub fn bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
        varint(out, u64::from((field << 3) | 2));
        varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }

    pub fn zigzag(v: i32) -> u32 {
        ((v << 1) ^ (v >> 31)) as u32
    }
}

#[cfg(test)]
mod tests;
