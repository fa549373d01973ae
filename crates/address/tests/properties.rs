//! Property tests: normalising is idempotent, spelled/dashed/full-width forms of one address
//! share one key, and parsing never panics on arbitrary text.

use gridmap_address::{normalize, parse};
use proptest::prelude::*;

const PREFIXES: &[&str] = &[
    "",
    "江苏省南通市启东市汇龙镇",
    "启东市汇龙镇",
    "上海市黄浦区",
    "湖南省衡阳市衡东县洣水镇",
    "汇龙镇东方社区",
];
const ROADS: &[&str] = &[
    "",
    "中山东一路",
    "南京东路",
    "四川中路126弄",
    "建设大道",
    "九江路",
];
const COMPOUNDS: &[&str] = &[
    "阳光花园",
    "建设路小区",
    "锦绣家园",
    "滨江苑",
    "东方新城",
    "和平里",
];
const BUILDING_WORDS: &[&str] = &["幢", "栋", "座", "号楼", "#楼"];
const UNIT_WORDS: &[&str] = &["单元", "门"];
const ROOM_WORDS: &[&str] = &["室", "房", "号", ""];

/// 1..=9999 in Chinese numerals, positional (一百零五) or digit by digit (一〇五).
fn chinese(n: u32, positional: bool) -> String {
    const D: [&str; 10] = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    if !positional {
        return n
            .to_string()
            .chars()
            .map(|c| D[c as usize - '0' as usize])
            .collect();
    }
    let digits = [n / 1000, n / 100 % 10, n / 10 % 10, n % 10];
    let units = ["千", "百", "十", ""];
    let mut s = String::new();
    let mut zero = false;
    for (i, &d) in digits.iter().enumerate() {
        if d == 0 {
            zero = !s.is_empty();
            continue;
        }
        if zero {
            s.push('零');
            zero = false;
        }
        if !(d == 1 && i == 2 && s.is_empty()) {
            s.push_str(D[d as usize]);
        }
        s.push_str(units[i]);
    }
    s
}

fn full_width(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '!'..='~' => char::from_u32(c as u32 + 0xFEE0).unwrap_or(c),
            ' ' => '\u{3000}',
            c => c,
        })
        .collect()
}

/// How a number is written.
fn num(n: u32, style: u8) -> String {
    match style % 4 {
        0 | 1 => n.to_string(),
        2 => chinese(n, true),
        _ => chinese(n, false),
    }
}

#[derive(Debug, Clone)]
struct Addr {
    prefix: &'static str,
    road: &'static str,
    number: u32,
    compound: &'static str,
    building: u32,
    unit: Option<u32>,
    floor: u32,
    room_no: u32,
    words: (usize, usize, usize),
    styles: (u8, u8, u8),
    floor_written: bool,
}

impl Addr {
    fn room(&self) -> u32 {
        self.floor * 100 + self.room_no
    }

    fn head(&self) -> String {
        let mut s = self.prefix.to_string();
        if !self.road.is_empty() {
            s.push_str(self.road);
            s.push_str(&format!("{}号", self.number));
        }
        s.push_str(self.compound);
        s
    }

    fn spelled(&self) -> String {
        let mut s = self.head();
        s.push_str(&num(self.building, self.styles.0));
        s.push_str(BUILDING_WORDS[self.words.0]);
        if let Some(u) = self.unit {
            s.push_str(&num(u, self.styles.1));
            s.push_str(UNIT_WORDS[self.words.1]);
        }
        if self.floor_written {
            s.push_str(&format!("{}层", self.floor));
        }
        // A Chinese room number is read only before its word or at the very end.
        let word = ROOM_WORDS[self.words.2];
        let style = if word.is_empty() {
            self.styles.2 % 2
        } else {
            self.styles.2
        };
        s.push_str(&num(self.room(), style));
        s.push_str(word);
        s
    }

    fn dashed(&self) -> String {
        match self.unit {
            Some(u) => format!("{}{}-{}-{}", self.head(), self.building, u, self.room()),
            None => format!("{}{}-{}", self.head(), self.building, self.room()),
        }
    }
}

fn addr() -> impl Strategy<Value = Addr> {
    (
        (
            prop::sample::select(PREFIXES),
            prop::sample::select(ROADS),
            1u32..2000,
            prop::sample::select(COMPOUNDS),
            1u32..60,
            prop::option::of(1u32..9),
        ),
        (
            1u32..40,
            1u32..20,
            (
                0..BUILDING_WORDS.len(),
                0..UNIT_WORDS.len(),
                0..ROOM_WORDS.len(),
            ),
            (any::<u8>(), any::<u8>(), any::<u8>()),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (prefix, road, number, compound, building, unit),
                (floor, room_no, words, styles, fw),
            )| Addr {
                prefix,
                road,
                number,
                compound,
                building,
                unit,
                floor,
                room_no,
                words,
                styles,
                floor_written: fw,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn normalising_twice_changes_nothing(a in addr()) {
        for s in [a.spelled(), a.dashed()] {
            let once = normalize(&s).map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
            let twice = normalize(&once).map_err(|e| TestCaseError::fail(format!("{once}: {e}")))?;
            prop_assert_eq!(&once, &twice, "input {}", s);
        }
    }

    #[test]
    fn dashed_and_spelled_forms_share_a_key(a in addr()) {
        let spelled = normalize(&a.spelled()).map_err(|e| TestCaseError::fail(format!("{}: {e}", a.spelled())))?;
        let dashed = normalize(&a.dashed()).map_err(|e| TestCaseError::fail(format!("{}: {e}", a.dashed())))?;
        prop_assert_eq!(&spelled, &dashed, "{} vs {}", a.spelled(), a.dashed());
        let p = parse(&a.spelled()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let building = a.building.to_string();
        prop_assert_eq!(p.levels.building.as_deref(), Some(building.as_str()));
        let room = a.room().to_string();
        prop_assert_eq!(p.levels.room.as_deref(), Some(room.as_str()));
    }

    #[test]
    fn full_width_and_half_width_share_a_key(a in addr(), spaced in any::<bool>()) {
        let mut s = a.spelled();
        if spaced {
            s = s.replace('单', " 单").replace('幢', "幢 ");
        }
        prop_assert_eq!(normalize(&s), normalize(&full_width(&s)));
        let d = a.dashed();
        prop_assert_eq!(normalize(&d), normalize(&full_width(&d)));
    }

    #[test]
    fn parse_never_panics_on_arbitrary_text(s in any::<String>()) {
        let _ = parse(&s);
    }

    #[test]
    fn parse_never_panics_on_address_like_text(
        parts in prop::collection::vec(prop::sample::select(&[
            "省", "市", "区", "县", "镇", "乡", "街道", "村", "社区", "组", "路", "街", "弄", "小区",
            "幢", "栋", "号楼", "单元", "门", "层", "楼", "室", "房", "号", "第", "网格", "-", " ",
            "１", "3", "12", "0", "一", "十", "百", "千", "零", "〇", "两", "A", "甲", "东方", "阳光",
            "花园", "#", "~", "，", "(", "汇龙", "上海", "北京", "启东",
        ][..]), 0..120),
    ) {
        let s: String = parts.concat();
        if let Ok(p) = parse(&s) {
            // Whatever was read, its key reads back to itself.
            let again = normalize(&p.normalized).map_err(|e| TestCaseError::fail(format!("{s} → {}: {e}", p.normalized)))?;
            prop_assert_eq!(&again, &p.normalized, "input {}", s);
        }
    }
}

/// Long inputs are read or refused (no wall-clock bound here: tests never assert on time; a
/// quadratic parser shows as a hung test).
#[test]
fn a_2000_character_address_is_read_or_refused() {
    let long = "阳光花园".repeat(500);
    let p = parse(&long).expect("a long name is a compound");
    assert_eq!(
        p.levels.compound.as_deref().map(|c| c.chars().count()),
        Some(2000)
    );
    let long_tail = format!("阳光花园3幢2单元301室{}", "东".repeat(2000));
    let e = parse(&long_tail).expect_err("text after the room");
    assert_eq!(e.part().map(|p| p.chars().count()), Some(2000));
    let digits = "1".repeat(2000) + "幢";
    assert!(parse(&digits).is_ok());
    let mixed = "3-".repeat(1000);
    let _ = parse(&mixed);
    let cn = "一".repeat(2000) + "幢";
    let _ = parse(&cn); // read or refused: either is fine, a panic is not
}

#[test]
fn chinese_helper_writes_numerals() {
    assert_eq!(chinese(105, true), "一百零五");
    assert_eq!(chinese(12, true), "十二");
    assert_eq!(chinese(21, true), "二十一");
    assert_eq!(chinese(1203, true), "一千二百零三");
    assert_eq!(chinese(301, false), "三零一");
    assert_eq!(
        normalize("阳光花园一千二百零三室").as_deref(),
        Ok("阳光花园1203室")
    );
}
