//! Printable QR door plates (二维码门牌): an A4 PDF of plates, each with the QR code of the
//! plate's URL and the standard address in Chinese under it.
//!
//! Data flows one way: the caller (the `gridmap plates` command, or the server's
//! `/api/plates.pdf`) decides which plates a grid gets and their URLs and addresses (see
//! `gridmap_store::plates`), finds a CJK font with [`Font::find`], and [`render`] lays the
//! plates out, [`COLUMNS`] × [`ROWS`] to a page, and writes the PDF. [`render_table`] sets a
//! report table (the scorecard's monthly ranking) on landscape pages with the same font. Nothing
//! here reads the project or personal data.
//!
//! Chinese text needs a font that has it, embedded in the PDF: the font is a TrueType file (or
//! a TrueType collection) from a Debian package — [`FONT_PACKAGE`] by default, see
//! [`FONT_CANDIDATES`] — or the file named by [`FONT_VAR`]. Only the glyphs the plates use are
//! embedded (subset with `subsetter`, written as a CID-keyed Type 0 font with a `ToUnicode`
//! map, so the text can be searched and copied).
//!
//! ```no_run
//! use gridmap_plates::{Font, Plate, Sheet, render};
//! let font = Font::find()?;
//! let plates = [Plate {
//!     url: "https://grid.example/r/abcdefghjkmnpqrs".into(),
//!     address: "上海市黄浦区中山东一路18号".into(),
//!     caption: "楼栋门牌".into(),
//! }];
//! let pdf = render(&Sheet { title: "外滩网格（G01）".into(), plates: &plates }, &font)?;
//! assert!(pdf.starts_with(b"%PDF"));
//! # Ok::<(), gridmap_plates::PlateError>(())
//! ```

#![warn(missing_docs)]

use std::path::Path;

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use qrcode::{Color, EcLevel, QrCode};
use subsetter::GlyphRemapper;

/// A4 in PDF points (1/72 in): width, height.
pub const A4: (f32, f32) = (595.28, 841.89);
/// Plates across a page.
pub const COLUMNS: usize = 3;
/// Plates down a page.
pub const ROWS: usize = 4;
/// The font lookup is `gridmap-glyphs`' (the web map's labels use the same font): the
/// environment variable, the Debian package looked for first, and the paths tried in order.
pub use gridmap_glyphs::{FONT_CANDIDATES, FONT_PACKAGE, FONT_VAR};

const MARGIN: f32 = 28.0;
const HEADER: f32 = 26.0;
const QR_SIZE: f32 = 108.0;
const QR_QUIET: usize = 4;
const ADDRESS_SIZE: f32 = 9.5;
const ADDRESS_LEADING: f32 = 12.0;
const ADDRESS_LINES: usize = 3;

/// Why plates could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlateError {
    /// No CJK font was found, or it cannot be read, is not a TrueType font or has no Chinese
    /// glyphs (the lookup is `gridmap_glyphs`', shared with the map's labels).
    #[error(transparent)]
    Font(#[from] gridmap_glyphs::FontError),
    /// A plate's URL is too long for a QR code.
    #[error("plate {index}: its URL cannot be put in a QR code: {message}")]
    Qr {
        /// The plate's position in the sheet, 0-based.
        index: usize,
        /// The encoder's reason.
        message: String,
    },
    /// The font could not be subset for embedding.
    #[error("{path}: the font cannot be embedded: {message}")]
    Subset {
        /// The font file.
        path: String,
        /// The subsetter's reason.
        message: String,
    },
}

/// A result of this crate.
pub type Result<T> = std::result::Result<T, PlateError>;

/// A TrueType font (face 0 of a collection) with Chinese glyphs, read into memory.
pub struct Font {
    data: Vec<u8>,
    path: String,
}

impl std::fmt::Debug for Font {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Font").field("path", &self.path).finish()
    }
}

impl Font {
    /// The font named by [`FONT_VAR`], else the first of [`FONT_CANDIDATES`] that exists;
    /// [`gridmap_glyphs::FontError::NoFont`] naming the package to install when there is none.
    pub fn find() -> Result<Font> {
        Font::load(&gridmap_glyphs::font_path()?)
    }

    /// Reads the font at `path` and checks that it has Chinese glyphs.
    pub fn load(path: &Path) -> Result<Font> {
        let name = path.display().to_string();
        let fail = |message: String| {
            PlateError::Font(gridmap_glyphs::FontError::Font {
                path: name.clone(),
                message,
            })
        };
        let data = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        gridmap_glyphs::check_cjk(&data, 0).map_err(fail)?;
        Ok(Font { data, path: name })
    }

    /// The file the font was read from.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn face(&self) -> ttf_parser::Face<'_> {
        ttf_parser::Face::parse(&self.data, 0).expect("checked when the font was loaded")
    }
}

/// One plate: what its QR code holds and what is printed under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plate {
    /// The URL the QR code encodes (`BASE/r/TOKEN`).
    pub url: String,
    /// The standard address, printed under the code (wrapped to three lines at most).
    pub address: String,
    /// A short line under the address, e.g. `楼栋门牌` or `户门牌`.
    pub caption: String,
}

/// The plates of one grid, with the title printed at the top of each page.
#[derive(Debug, Clone)]
pub struct Sheet<'a> {
    /// E.g. the grid's name and code: `外滩网格（G01）`.
    pub title: String,
    /// The plates, in print order.
    pub plates: &'a [Plate],
}

/// The text of a page, shown with the embedded font: glyphs are remapped to the subset's ids
/// as they are first used.
struct Writer<'f> {
    face: ttf_parser::Face<'f>,
    remapper: GlyphRemapper,
    /// The first character seen for each new glyph id (for `ToUnicode`).
    chars: Vec<(u16, char)>,
    units: f32,
}

impl Writer<'_> {
    /// The width of `c` at `size` points.
    fn advance(&self, c: char, size: f32) -> f32 {
        let g = self.face.glyph_index(c).unwrap_or(ttf_parser::GlyphId(0));
        f32::from(self.face.glyph_hor_advance(g).unwrap_or(0)) * size / self.units
    }

    fn width(&self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.advance(c, size)).sum()
    }

    /// `text` as 2-byte CIDs of the subset.
    fn encode(&mut self, text: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len() * 2);
        for c in text.chars() {
            let g = self.face.glyph_index(c).map_or(0, |g| g.0);
            let before = self.remapper.num_gids();
            let cid = self.remapper.remap(g);
            if self.remapper.num_gids() != before {
                self.chars.push((cid, c));
            }
            out.extend_from_slice(&cid.to_be_bytes());
        }
        out
    }

    /// Shows `text` at (`x`, `y`) in `size` points.
    fn show(&mut self, content: &mut Content, text: &str, x: f32, y: f32, size: f32) {
        let bytes = self.encode(text);
        content.begin_text();
        content.set_font(Name(b"F1"), size);
        content.next_line(x, y);
        content.show(Str(&bytes));
        content.end_text();
    }

    /// Shows `text` centred on `cx`.
    fn show_centred(&mut self, content: &mut Content, text: &str, cx: f32, y: f32, size: f32) {
        let w = self.width(text, size);
        self.show(content, text, cx - w / 2.0, y, size);
    }

    /// `text` cut into lines no wider than `max` at `size`, at most `lines` of them (the last
    /// ending in `…` when the text is longer).
    fn wrap(&self, text: &str, size: f32, max: f32, lines: usize) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut line = String::new();
        let mut w = 0.0;
        for c in text.trim().chars() {
            let a = self.advance(c, size);
            if w + a > max && !line.is_empty() {
                out.push(std::mem::take(&mut line));
                w = 0.0;
            }
            line.push(c);
            w += a;
        }
        if !line.is_empty() {
            out.push(line);
        }
        if out.len() > lines {
            out.truncate(lines);
            if let Some(last) = out.last_mut() {
                let ell = self.advance('…', size);
                while !last.is_empty() && self.width(last, size) + ell > max {
                    last.pop();
                }
                last.push('…');
            }
        }
        out
    }
}

/// `data` compressed for a `FlateDecode` stream (zlib, level 6).
fn deflate(data: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(data, 6)
}

/// Draws the QR code of `code` with its lower-left corner at (`x`, `y`), `size` points wide
/// with its quiet zone: dark modules as filled rectangles, a row's runs merged.
fn draw_qr(content: &mut Content, code: &QrCode, x: f32, y: f32, size: f32) {
    let n = code.width();
    let colors = code.to_colors();
    let m = size / (n + 2 * QR_QUIET) as f32;
    content.set_fill_gray(0.0);
    for row in 0..n {
        let mut col = 0;
        while col < n {
            if colors[row * n + col] != Color::Dark {
                col += 1;
                continue;
            }
            let start = col;
            while col < n && colors[row * n + col] == Color::Dark {
                col += 1;
            }
            let top = y + size - (QR_QUIET + row) as f32 * m;
            content.rect(
                x + (QR_QUIET + start) as f32 * m,
                top - m,
                (col - start) as f32 * m,
                m,
            );
        }
    }
    content.fill_nonzero();
}

/// Lays out `sheet`'s plates on A4 pages, [`COLUMNS`] × [`ROWS`] to a page, each in a cell
/// with a thin cutting frame: a line of instruction, the QR code of its URL (error correction
/// level M), the address under it (at most three lines) and the caption; the title and the page
/// number at the top of each page. A sheet without plates is one page saying so.
///
/// # Performance
/// Parses the font once, embeds only the glyphs used and compresses every stream: 500 plates
/// (42 pages) make a PDF of about 0.5 MB in about 0.3 s (a debug build).
pub fn render(sheet: &Sheet, font: &Font) -> Result<Vec<u8>> {
    let codes: Vec<QrCode> = sheet
        .plates
        .iter()
        .enumerate()
        .map(|(index, p)| {
            QrCode::with_error_correction_level(p.url.as_bytes(), EcLevel::M).map_err(|e| {
                PlateError::Qr {
                    index,
                    message: e.to_string(),
                }
            })
        })
        .collect::<Result<_>>()?;
    let face = font.face();
    let units = f32::from(face.units_per_em());
    let mut w = Writer {
        face,
        remapper: GlyphRemapper::new(),
        chars: Vec::new(),
        units,
    };
    let per_page = COLUMNS * ROWS;
    let pages = sheet.plates.len().div_ceil(per_page).max(1);
    let (page_w, page_h) = A4;
    let cell_w = (page_w - 2.0 * MARGIN) / COLUMNS as f32;
    let cell_h = (page_h - 2.0 * MARGIN - HEADER) / ROWS as f32;

    let mut contents = Vec::with_capacity(pages);

    for page in 0..pages {
        let mut content = Content::new();
        let header = format!(
            "{}　二维码门牌　第 {} / {} 页",
            sheet.title,
            page + 1,
            pages
        );
        content.set_fill_gray(0.0);
        w.show(&mut content, &header, MARGIN, page_h - MARGIN - 14.0, 12.0);
        let on_page = sheet.plates.iter().zip(&codes).skip(page * per_page);
        if sheet.plates.is_empty() {
            w.show(
                &mut content,
                "本网格没有可打印的门牌",
                MARGIN,
                page_h - MARGIN - 60.0,
                12.0,
            );
        }
        for (k, (plate, code)) in on_page.take(per_page).enumerate() {
            let (col, row) = (k % COLUMNS, k / COLUMNS);
            let x = MARGIN + col as f32 * cell_w;
            let top = page_h - MARGIN - HEADER - row as f32 * cell_h;
            let cx = x + cell_w / 2.0;
            // The cutting frame.
            content.set_stroke_gray(0.7);
            content.set_line_width(0.5);
            content.rect(x + 2.0, top - cell_h + 2.0, cell_w - 4.0, cell_h - 4.0);
            content.stroke();
            content.set_fill_gray(0.0);
            w.show_centred(&mut content, "扫码申报住户信息", cx, top - 16.0, 9.0);
            let qr_top = top - 22.0;
            draw_qr(
                &mut content,
                code,
                cx - QR_SIZE / 2.0,
                qr_top - QR_SIZE,
                QR_SIZE,
            );
            let mut y = qr_top - QR_SIZE - 10.0;
            for line in w.wrap(&plate.address, ADDRESS_SIZE, cell_w - 16.0, ADDRESS_LINES) {
                w.show_centred(&mut content, &line, cx, y, ADDRESS_SIZE);
                y -= ADDRESS_LEADING;
            }
            content.set_fill_gray(0.35);
            let caption = w.wrap(&plate.caption, 7.5, cell_w - 16.0, 1);
            if let Some(c) = caption.first() {
                w.show_centred(&mut content, c, cx, top - cell_h + 10.0, 7.5);
            }
            content.set_fill_gray(0.0);
        }
        contents.push(content);
    }
    write_pdf(&sheet.title, (page_w, page_h), contents, &w, font)
}

/// Writes `pages` (their content streams, drawn with `w`) as a PDF of pages `size` points
/// big, titled `title`, with the glyphs `w` used embedded.
fn write_pdf(
    title: &str,
    size: (f32, f32),
    pages: Vec<Content>,
    w: &Writer,
    font: &Font,
) -> Result<Vec<u8>> {
    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let refs = [
        Ref::new(3),
        Ref::new(4),
        Ref::new(5),
        Ref::new(6),
        Ref::new(7),
    ];
    let info = Ref::new(8);
    let page_ref = |i: usize| Ref::new(10 + 2 * i as i32);
    let content_ref = |i: usize| Ref::new(11 + 2 * i as i32);
    let n = pages.len();
    for (i, content) in pages.into_iter().enumerate() {
        let mut p = pdf.page(page_ref(i));
        p.media_box(Rect::new(0.0, 0.0, size.0, size.1));
        p.parent(tree);
        p.contents(content_ref(i));
        p.resources().fonts().pair(Name(b"F1"), refs[0]);
        p.finish();
        pdf.stream(content_ref(i), &deflate(&content.finish()))
            .filter(Filter::FlateDecode);
    }
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids((0..n).map(page_ref)).count(n as i32);
    pdf.document_info(info)
        .title(TextStr(title))
        .producer(TextStr("gridmap"));
    embed_font(&mut pdf, w, font, refs)?;
    Ok(pdf.finish())
}

/// Writes the subset of the font that `w` used, as a Type 0 font with a CID-keyed TrueType
/// descendant (Identity-H, CIDs are the subset's glyph ids) and a `ToUnicode` map.
fn embed_font(pdf: &mut Pdf, w: &Writer, font: &Font, refs: [Ref; 5]) -> Result<()> {
    let [type0, cid, descriptor, file, to_unicode] = refs;
    let subset = subsetter::subset(&font.data, 0, &w.remapper).map_err(|e| PlateError::Subset {
        path: font.path.clone(),
        message: format!("{e:?}"),
    })?;
    let face = &w.face;
    let scale = |v: f32| v * 1000.0 / w.units;
    let ps_name: String = face
        .names()
        .into_iter()
        .find(|n| n.name_id == ttf_parser::name_id::POST_SCRIPT_NAME)
        .and_then(|n| n.to_string())
        .unwrap_or_else(|| "CJKFont".into())
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    // A subset font's name starts with six capital letters and a plus sign (PDF 9.6.4).
    let base = format!("GRIDMP+{ps_name}");
    let system_info = SystemInfo {
        registry: Str(b"Adobe"),
        ordering: Str(b"Identity"),
        supplement: 0,
    };
    pdf.type0_font(type0)
        .base_font(Name(base.as_bytes()))
        .encoding_predefined(Name(b"Identity-H"))
        .descendant_font(cid)
        .to_unicode(to_unicode);
    let widths: Vec<f32> = w
        .remapper
        .remapped_gids()
        .map(|g| {
            scale(f32::from(
                face.glyph_hor_advance(ttf_parser::GlyphId(g)).unwrap_or(0),
            ))
        })
        .collect();
    let mut c = pdf.cid_font(cid);
    c.subtype(CidFontType::Type2)
        .base_font(Name(base.as_bytes()))
        .system_info(system_info)
        .font_descriptor(descriptor)
        .default_width(1000.0)
        .cid_to_gid_map_predefined(Name(b"Identity"));
    c.widths().consecutive(0, widths);
    c.finish();
    let bbox = face.global_bounding_box();
    pdf.font_descriptor(descriptor)
        .name(Name(base.as_bytes()))
        .flags(FontFlags::SYMBOLIC)
        .bbox(Rect::new(
            scale(f32::from(bbox.x_min)),
            scale(f32::from(bbox.y_min)),
            scale(f32::from(bbox.x_max)),
            scale(f32::from(bbox.y_max)),
        ))
        .italic_angle(0.0)
        .ascent(scale(f32::from(face.ascender())))
        .descent(scale(f32::from(face.descender())))
        .cap_height(scale(f32::from(
            face.capital_height().unwrap_or(face.ascender()),
        )))
        .stem_v(80.0)
        .font_file2(file);
    pdf.stream(file, &deflate(&subset))
        .filter(Filter::FlateDecode)
        .pair(Name(b"Length1"), subset.len() as i32);
    let mut cmap = pdf_writer::types::UnicodeCmap::new(
        Name(b"Custom"),
        SystemInfo {
            registry: Str(b"Adobe"),
            ordering: Str(b"UCS"),
            supplement: 0,
        },
    );
    for &(g, ch) in &w.chars {
        cmap.pair(g, ch);
    }
    pdf.cmap(to_unicode, &cmap.finish());
    Ok(())
}

/// A report table: a title, a line under it, the column names and the rows, set on landscape
/// A4 pages with the header repeated and numbered pages (the monthly ranking report).
pub struct Table<'a> {
    /// The title, on every page.
    pub title: &'a str,
    /// A line under the title (the date, what the figures count).
    pub subtitle: &'a str,
    /// Column names, and each column's share of the width (they are scaled to fill it).
    pub columns: &'a [(&'a str, f32)],
    /// The rows, one text a cell.
    pub rows: &'a [Vec<String>],
}

/// Renders `table` as a PDF with `font` embedded (the glyphs used only).
pub fn render_table(table: &Table, font: &Font) -> Result<Vec<u8>> {
    const SIZE: f32 = 8.5;
    const ROW_H: f32 = 14.0;
    let face = font.face();
    let units = f32::from(face.units_per_em());
    let mut w = Writer {
        face,
        remapper: GlyphRemapper::new(),
        chars: Vec::new(),
        units,
    };
    let (page_w, page_h) = (A4.1, A4.0); // landscape
    let width = page_w - 2.0 * MARGIN;
    let total: f32 = table.columns.iter().map(|c| c.1).sum::<f32>().max(1.0);
    let widths: Vec<f32> = table.columns.iter().map(|c| c.1 / total * width).collect();
    let top = page_h - MARGIN - 44.0;
    let per_page = (((top - MARGIN - 20.0) / ROW_H) as usize).max(1);
    let pages = table.rows.len().div_ceil(per_page).max(1);

    let mut contents = Vec::with_capacity(pages);
    for page in 0..pages {
        let mut content = Content::new();
        content.set_fill_gray(0.0);
        w.show(
            &mut content,
            table.title,
            MARGIN,
            page_h - MARGIN - 16.0,
            14.0,
        );
        let sub = format!("{}　第 {} / {} 页", table.subtitle, page + 1, pages);
        w.show(&mut content, &sub, MARGIN, page_h - MARGIN - 32.0, 9.0);
        let mut row_text = |content: &mut Content, cells: &[String], y: f32| {
            let mut x = MARGIN;
            for (cell, cw) in cells.iter().zip(&widths) {
                if let Some(line) = w.wrap(cell, SIZE, cw - 4.0, 1).first() {
                    w.show(content, line, x + 2.0, y + 4.0, SIZE);
                }
                x += cw;
            }
        };
        // The header row, shaded.
        content.set_fill_gray(0.88);
        content.rect(MARGIN, top - ROW_H, width, ROW_H);
        content.fill_nonzero();
        content.set_fill_gray(0.0);
        let names: Vec<String> = table.columns.iter().map(|c| c.0.to_string()).collect();
        row_text(&mut content, &names, top - ROW_H);
        let rows = table.rows.iter().skip(page * per_page).take(per_page);
        let mut y = top - ROW_H;
        for cells in rows {
            y -= ROW_H;
            row_text(&mut content, cells, y);
            content.set_stroke_gray(0.8);
            content.set_line_width(0.4);
            content.move_to(MARGIN, y);
            content.line_to(MARGIN + width, y);
            content.stroke();
        }
        contents.push(content);
    }
    write_pdf(table.title, (page_w, page_h), contents, &w, font)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn font() -> Option<Font> {
        match Font::find() {
            Ok(f) => Some(f),
            // CI installs the font (scripts/setup.sh): there a missing font is a failure.
            Err(e) if std::env::var_os("CI").is_none() => {
                eprintln!("skipped: {e}");
                None
            }
            Err(e) => panic!("{e}"),
        }
    }

    fn plates(n: usize) -> Vec<Plate> {
        (0..n)
            .map(|i| Plate {
                url: format!("http://127.0.0.1:8080/r/token{i:04}"),
                address: format!(
                    "上海市黄浦区中山东一路{}号阳光花园3幢2单元30{}室",
                    i + 1,
                    i % 10
                ),
                caption: "户门牌".into(),
            })
            .collect()
    }

    #[test]
    fn a_sheet_is_a_pdf_with_one_page_per_twelve_plates_and_a_subset_font() {
        let Some(font) = font() else { return };
        let ps = plates(13);
        let pdf = render(
            &Sheet {
                title: "测试网格（G01）".into(),
                plates: &ps,
            },
            &font,
        )
        .expect("renders");
        assert!(pdf.starts_with(b"%PDF-"));
        let text = String::from_utf8_lossy(&pdf);
        assert_eq!(
            text.matches("/Type /Page\n").count(),
            2,
            "13 plates: 2 pages"
        );
        assert!(text.contains("/Count 2"));
        assert!(text.contains("/FontFile2") && text.contains("/FlateDecode"));
        assert!(text.contains("/Identity-H"));
        // The subset is far smaller than the 5 MB font.
        assert!(pdf.len() < 400_000, "{} bytes", pdf.len());
    }

    #[test]
    fn an_empty_sheet_is_one_page() {
        let Some(font) = font() else { return };
        let pdf = render(
            &Sheet {
                title: "空网格".into(),
                plates: &[],
            },
            &font,
        )
        .expect("renders");
        assert!(String::from_utf8_lossy(&pdf).contains("/Count 1"));
    }

    #[test]
    fn long_addresses_wrap_to_three_lines_with_an_ellipsis() {
        let Some(font) = font() else { return };
        let w = Writer {
            face: font.face(),
            remapper: GlyphRemapper::new(),
            chars: Vec::new(),
            units: f32::from(font.face().units_per_em()),
        };
        let long = "上海市黄浦区中山东一路".repeat(10);
        let lines = w.wrap(&long, 9.5, 150.0, 3);
        assert_eq!(lines.len(), 3);
        assert!(lines[2].ends_with('…'));
        assert!(lines.iter().all(|l| w.width(l, 9.5) <= 150.0 + 0.01));
        assert_eq!(w.wrap("短地址1号", 9.5, 150.0, 3), ["短地址1号"]);
    }

    #[test]
    fn a_font_without_chinese_is_refused_with_its_path() {
        let dejavu = Path::new("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf");
        if !dejavu.is_file() {
            return;
        }
        let e = Font::load(dejavu).expect_err("no CJK glyphs");
        assert!(e.to_string().contains("DejaVuSans.ttf"), "{e}");
        let e = Font::load(Path::new("/nonexistent/font.ttc")).expect_err("missing");
        assert!(e.to_string().contains("/nonexistent/font.ttc"), "{e}");
    }
}
