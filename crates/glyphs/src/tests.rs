use super::*;

fn fonts() -> Option<Fonts> {
    match Fonts::find() {
        Ok(f) => Some(f),
        // CI installs the font (scripts/setup.sh): there a missing font is a failure.
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: {e}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// A protocol buffer field: its number and its varint or bytes.
#[derive(Debug)]
enum Field<'a> {
    Varint(u32, u64),
    Bytes(u32, &'a [u8]),
}

/// The fields of a message (varint and length-delimited wire types only: all glyphs.proto has).
fn fields(mut buf: &[u8]) -> Vec<Field<'_>> {
    fn varint(buf: &mut &[u8]) -> u64 {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (b, rest) = buf.split_first().expect("truncated varint");
            *buf = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return v;
            }
        }
        panic!("varint too long")
    }
    let mut out = Vec::new();
    while !buf.is_empty() {
        let key = varint(&mut buf);
        let field = (key >> 3) as u32;
        match key & 7 {
            0 => out.push(Field::Varint(field, varint(&mut buf))),
            2 => {
                let len = varint(&mut buf) as usize;
                let (bytes, rest) = buf.split_at(len);
                buf = rest;
                out.push(Field::Bytes(field, bytes));
            }
            t => panic!("wire type {t} not in glyphs.proto"),
        }
    }
    out
}

fn unzigzag(v: u64) -> i32 {
    ((v >> 1) as i64 ^ -((v & 1) as i64)) as i32
}

/// Decodes a `glyphs` message with one font stack: (name, range, glyphs).
fn decode(pbf: &[u8]) -> (String, String, Vec<Glyph>) {
    let stacks: Vec<_> = fields(pbf)
        .into_iter()
        .map(|f| match f {
            Field::Bytes(1, b) => b,
            f => panic!("unexpected field in glyphs: {f:?}"),
        })
        .collect();
    assert_eq!(stacks.len(), 1, "one font stack");
    let (mut name, mut range, mut glyphs) = (None, None, Vec::new());
    for f in fields(stacks[0]) {
        match f {
            Field::Bytes(1, b) => name = Some(String::from_utf8(b.to_vec()).expect("utf-8")),
            Field::Bytes(2, b) => range = Some(String::from_utf8(b.to_vec()).expect("utf-8")),
            Field::Bytes(3, b) => {
                let mut g = Glyph {
                    id: u32::MAX,
                    bitmap: None,
                    width: u32::MAX,
                    height: u32::MAX,
                    left: i32::MAX,
                    top: i32::MAX,
                    advance: u32::MAX,
                };
                for f in fields(b) {
                    match f {
                        Field::Varint(1, v) => g.id = v as u32,
                        Field::Bytes(2, b) => g.bitmap = Some(b.to_vec()),
                        Field::Varint(3, v) => g.width = v as u32,
                        Field::Varint(4, v) => g.height = v as u32,
                        Field::Varint(5, v) => g.left = unzigzag(v),
                        Field::Varint(6, v) => g.top = unzigzag(v),
                        Field::Varint(7, v) => g.advance = v as u32,
                        f => panic!("unexpected field in glyph: {f:?}"),
                    }
                }
                // Every required field is there.
                assert!(g.id != u32::MAX && g.width != u32::MAX && g.height != u32::MAX);
                assert!(g.left != i32::MAX && g.top != i32::MAX && g.advance != u32::MAX);
                glyphs.push(g);
            }
            f => panic!("unexpected field in fontstack: {f:?}"),
        }
    }
    (name.expect("a name"), range.expect("a range"), glyphs)
}

#[test]
fn ranges_are_256_code_points_on_a_boundary() {
    assert_eq!(parse_range("0-255"), Ok(0));
    assert_eq!(parse_range("19968-20223.pbf"), Ok(19968));
    assert_eq!(parse_range("65280-65535"), Ok(65280));
    for bad in [
        "",
        "0",
        "0-",
        "-255",
        "1-256",
        "0-256",
        "256-255",
        "65536-65791",
        "0-255.png",
        "+0-255",
        "00000000000-255",
        "x-y",
        "0 -255",
    ] {
        assert!(parse_range(bad).is_err(), "{bad:?} accepted");
    }
    let message = parse_range("1-256").unwrap_err().to_string();
    assert!(message.contains("multiple of 256"), "{message}");
}

#[test]
fn the_encoding_decodes_with_its_name_range_and_glyphs() {
    let glyphs = [
        Glyph {
            id: 65,
            bitmap: Some([1, 2, 3, 4, 5, 6, 7, 8, 9].repeat(4)),
            width: 0,
            height: 0,
            left: -2,
            top: -27,
            advance: 13,
        },
        Glyph {
            id: 32,
            bitmap: None,
            width: 0,
            height: 0,
            left: 0,
            top: 0,
            advance: 7,
        },
    ];
    let (name, range, decoded) = decode(&encode("Font 名", 0, &glyphs));
    assert_eq!((name.as_str(), range.as_str()), ("Font 名", "0-255"));
    assert_eq!(decoded, glyphs);
}

#[test]
fn cjk_and_latin_glyphs_have_plausible_metrics_and_distance_fields() {
    let Some(fonts) = fonts() else { return };
    let face = fonts.face_for_stack("WenQuanYi Micro Hei");
    let cjk = fonts.glyphs(face, 0x5600);
    let guo = cjk
        .iter()
        .find(|g| g.id == 0x56FD)
        .expect("国 is in the font");
    let latin = fonts.glyphs(face, 0);
    let a = latin.iter().find(|g| g.id == u32::from('A')).expect("A");
    let space = latin.iter().find(|g| g.id == 32).expect("space");

    assert!((23..=25).contains(&guo.advance), "{guo:?}");
    assert!(
        (16..=24).contains(&guo.width) && (16..=24).contains(&guo.height),
        "{guo:?}"
    );
    assert!(
        (8..=20).contains(&a.advance) && a.width < guo.width,
        "{a:?}"
    );
    assert!(a.height >= 14 && a.height <= 20, "{a:?}");
    // 'A' stands on the baseline: its top is its height above it, less the ascender; the ink
    // of '国' goes as high or higher.
    assert!(guo.top >= a.top - 1, "{guo:?} {a:?}");
    assert!(guo.top < 2 && guo.top > -12, "{guo:?}");
    for g in [guo, a] {
        let bitmap = g.bitmap.as_ref().expect("a bitmap");
        let (w, h) = (
            g.width as usize + 2 * BUFFER,
            g.height as usize + 2 * BUFFER,
        );
        assert_eq!(bitmap.len(), w * h, "{g:?}");
        // The border is far outside the ink: the field falls to (near) nothing there.
        assert!(
            bitmap[0] < 80 && bitmap[w * h - 1] < 80,
            "{:?}",
            &bitmap[..w]
        );
    }
    assert!(
        space.bitmap.is_none() && space.width == 0 && space.advance > 3,
        "{space:?}"
    );

    // Along the middle row of '国', left to right: outside (low) to the left stroke, where the
    // field crosses 192 = 255 × (1 - 0.25) at the outline, and inside the stroke near 255.
    let bitmap = guo.bitmap.as_ref().expect("a bitmap");
    let w = guo.width as usize + 2 * BUFFER;
    let row = &bitmap[(guo.height as usize / 2 + BUFFER) * w..][..w];
    assert!(row[0] < 100, "{row:?}");
    let crossing = row
        .iter()
        .position(|&v| v >= 192)
        .expect("the row meets the ink");
    assert!(row[crossing - 1] < 192 && crossing <= BUFFER + 3, "{row:?}");
    // The strokes are about 2 px wide at 24 px: a pixel 1 px inside is 255 × (1 - (-1/8 +
    // 0.25)) ≈ 223.
    assert!(row.iter().any(|&v| v >= 215), "{row:?}");
    // The far left column of the border is 3 px or more from the ink: at most 255 × (1 -
    // (3/8 + 0.25)) ≈ 96.
    assert!(row[0] <= 100, "{row:?}");

    // A filled square (■, U+25A0) is 255 deep inside.
    let shapes = fonts.glyphs(face, 0x2500);
    if let Some(square) = shapes.iter().find(|g| g.id == 0x25A0 && g.width > 12) {
        let bitmap = square.bitmap.as_ref().expect("a bitmap");
        let w = square.width as usize + 2 * BUFFER;
        let centre = bitmap[(square.height as usize / 2 + BUFFER) * w + w / 2];
        assert_eq!(centre, 255, "{square:?}");
    }
}

#[test]
fn a_range_encodes_and_decodes_and_an_empty_range_is_a_valid_stack() {
    let Some(fonts) = fonts() else { return };
    let face = fonts.face_for_stack("Noto Sans Regular,WenQuanYi Micro Hei");
    assert_eq!(face, 0, "{:?}", fonts.families());
    let (name, range, glyphs) = decode(&fonts.range_pbf(face, 19968));
    assert_eq!(range, "19968-20223");
    assert_eq!(name, fonts.families()[0]);
    assert!(glyphs.len() > 250, "{}", glyphs.len());
    assert!(glyphs.windows(2).all(|w| w[0].id < w[1].id));
    assert!(glyphs.iter().all(|g| (19968..=20223).contains(&g.id)));

    // Surrogates and private use: no glyph in a CJK font.
    let (_, range, glyphs) = decode(&fonts.range_pbf(face, 0xD800));
    assert_eq!((range.as_str(), glyphs.len()), ("55296-55551", 0));
}

#[test]
fn a_stack_is_served_by_the_first_face_it_names_else_the_first_face() {
    let Some(fonts) = fonts() else { return };
    assert_eq!(fonts.face_for_stack("Nothing We Have"), 0);
    assert_eq!(fonts.face_for_stack(""), 0);
    if let Some(i) = fonts.families().iter().position(|f| f.ends_with("Mono")) {
        let stack = format!("Open Sans Bold, {} Regular,Arial", fonts.families()[i]);
        assert_eq!(fonts.face_for_stack(&stack), i as u32);
    }
}

#[test]
fn the_font_lookup_names_the_package_when_nothing_is_found() {
    let message = FontError::NoFont {
        looked: FONT_CANDIDATES.join(", "),
    }
    .to_string();
    assert!(message.contains("fonts-wqy-microhei"), "{message}");
    assert!(message.contains(FONT_VAR), "{message}");
}

#[test]
#[ignore = "a measurement: cargo test -p gridmap-glyphs --release -- --ignored --nocapture"]
fn time_to_make_a_cjk_range() {
    let Some(fonts) = fonts() else { return };
    let t = std::time::Instant::now();
    let pbf = fonts.range_pbf(0, 19968);
    eprintln!(
        "19968-20223: {} bytes in {:.1} ms",
        pbf.len(),
        t.elapsed().as_secs_f64() * 1000.0
    );
    let metrics = |start: u32, c: char| {
        let g = fonts
            .glyphs(0, start)
            .into_iter()
            .find(|g| g.id == u32::from(c));
        g.map(|g| (g.width, g.height, g.left, g.top, g.advance))
    };
    eprintln!(
        "{:?}: 国 {:?}, A {:?}, g {:?}, space {:?} (width, height, left, top, advance)",
        fonts.families(),
        metrics(0x5600, '国'),
        metrics(0, 'A'),
        metrics(0, 'g'),
        metrics(0, ' ')
    );
}
