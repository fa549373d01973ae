//! Chinese standard addresses (标准地址): parsing into levels, normalisation to a uniqueness key,
//! and a check of administrative names against the official division list.
//!
//! # Levels
//!
//! An address is read into up to thirteen levels, any of which may be missing:
//! 省 province, 市 city, 区/县 district, 乡镇/街道 town, 村/社区 community, 组 group,
//! 路/街/巷/弄 road, 门牌号 number, 小区 compound, 幢/栋/号楼 building, 单元 unit, 层 floor,
//! 室 room. Names keep their suffix (`"汇龙镇"`, `"中山东一路"`); numbers are digit strings
//! without their unit word (building `"3"`, room `"301"`, number `"10-12"`, `"15甲"`).
//!
//! # How parsing works
//!
//! 1. **Cleaning** (`clean`): full-width → half-width, ASCII letters upper case, spaces and
//!    punctuation dropped (a run of them between two digits becomes `-`), dash-like characters
//!    and `~` become `-`, `#` becomes `号`. A grid number (`第3网格`) is not a level of a
//!    standard address: it is removed here and reported in `warnings`.
//! 2. **Scanning** (`scan`): one left-to-right pass. Name characters collect until a suffix
//!    (`省 市 区 县 镇 乡 街道 村 社区 组 路 街 巷 弄 大道 小区` …) closes them into a level, or
//!    until a number with its unit word (`3幢`, `二单元`, `301室`, `12号`, `3组`, `3-2-301`)
//!    starts. Chinese numerals become digits only in front of a unit word (`三幢` → `3幢`), never
//!    inside names (`中山东一路`, `九江路`). The position decides the ambiguous words: `号` after a
//!    road is the house number, after a compound the building, after a building/unit/floor the
//!    room; a bare number after a road is the house number, after a building or unit the room;
//!    a dashed number is `building-unit-room` (`3-2-301`, `3-301`, `3-2-3-301`), except right
//!    after a road, where `10-12号` and `10-12` are a house-number range.
//! 3. **Checking** ([`Divisions`]): province, city, district and town are looked up in the
//!    embedded official list; an unknown or misplaced name becomes a warning (with the official
//!    name one character away, if any), never an error. A county-level city written in the
//!    city slot (`江苏省启东市`) moves to the district level.
//! 4. **Key**: the levels in order with one canonical unit word each —
//!    `{group}组 {number}号 {building}幢 {unit}单元 {floor}层 {room}室` (栋/座/号楼 → 幢, 门 →
//!    单元, 楼 → 层, 房/号 in the room position → 室, 街道办事处 → 街道, 居委会 → 社区,
//!    村委会 → 村). The floor is left out of the key when a 3–4 digit room number starts with it
//!    (`3层301室` → `301室`), so that `3幢2单元3层301室`, `3幢2单元301室` and `3-2-301` share
//!    one key. The floor is never inferred from the room: `floor` stays `None` unless written.
//!
//! A part that fits no level (a word after the room, a level out of order such as `301室3幢`,
//! `几楼`, a dashed number of five parts, a name ending in a digit right before a number) is a
//! [`ParseError`] naming that part: the cleaned text from the unreadable part to the end.
//!
//! The key reads back to itself (`normalize(normalize(s)) == normalize(s)`), which the property
//! tests check on generated addresses and on random address-like text.
//!
//! ```
//! let a = gridmap_address::parse("阳光花园三栋二单元301").unwrap();
//! assert_eq!(a.normalized, "阳光花园3幢2单元301室");
//! assert_eq!(a.levels.building.as_deref(), Some("3"));
//! assert_eq!(gridmap_address::normalize("阳光花园3-2-301").unwrap(), a.normalized);
//! ```
//!
//! The library does no I/O; the division list is compiled in (`include_str!`).

#![warn(missing_docs)]

mod clean;
pub mod divisions;
mod numerals;
mod scan;

use serde::Serialize;

pub use divisions::{Division, DivisionLevel, Divisions};

/// The levels of an address; `None` where the address does not say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Levels {
    /// 省 / 自治区 / 直辖市, with its suffix: `"江苏省"`, `"上海市"`.
    pub province: Option<String>,
    /// 地级市 / 自治州: `"南通市"`.
    pub city: Option<String>,
    /// 区 / 县 / 县级市: `"启东市"`, `"黄浦区"`.
    pub district: Option<String>,
    /// 镇 / 乡 / 街道: `"汇龙镇"`.
    pub town: Option<String>,
    /// 村 / 社区: `"东方村"`.
    pub community: Option<String>,
    /// 组 (村民小组), without 组: `"3"`.
    pub group: Option<String>,
    /// 路 / 街 / 巷 / 大道, with a lane (弄) appended: `"中山东一路"`, `"张杨路628弄"`.
    pub road: Option<String>,
    /// 门牌号 without 号: `"12"`, `"10-12"`, `"15甲"`.
    pub number: Option<String>,
    /// 小区 or any named place holding the buildings: `"阳光花园"`.
    pub compound: Option<String>,
    /// 幢 / 栋 / 号楼 / 座 number without its word: `"3"`, `"A"`.
    pub building: Option<String>,
    /// 单元 / 门: `"2"`.
    pub unit: Option<String>,
    /// 层 / 楼, only when written: `"3"`.
    pub floor: Option<String>,
    /// 室 / 房 / 号 in the room position: `"301"`.
    pub room: Option<String>,
}

/// A parsed address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Parsed {
    /// The text as given.
    pub input: String,
    /// The normalised text: the uniqueness key of the address.
    pub normalized: String,
    /// The levels read.
    pub levels: Levels,
    /// Unknown or misplaced division names, and parts left out (a grid number).
    pub warnings: Vec<String>,
}

/// Why an address could not be read. Messages hold the address text only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Nothing but spaces and punctuation.
    #[error("empty address")]
    Empty,
    /// A part fits no level.
    #[error("cannot read '{part}'")]
    Unreadable {
        /// The key of the levels read before the unreadable part.
        normalized: String,
        /// The unreadable part (cleaned), to the end of the address.
        part: String,
    },
}

impl ParseError {
    /// The unreadable part, if any.
    pub fn part(&self) -> Option<&str> {
        match self {
            ParseError::Unreadable { part, .. } => Some(part),
            ParseError::Empty => None,
        }
    }

    /// The normalised text of what was read before the error.
    pub fn normalized(&self) -> &str {
        match self {
            ParseError::Unreadable { normalized, .. } => normalized,
            ParseError::Empty => "",
        }
    }
}

/// Parses `s` into its levels, normalises it and checks its division names.
///
/// # Performance
/// About 1.5 µs for a typical address, one core (`examples/bench_parse.rs`). The first call
/// parses the embedded division list (a few ms). An unknown division name is compared with every
/// division of its level under the known parent, or of the whole level (up to ~41,000 towns)
/// when no parent is known.
pub fn parse(s: &str) -> Result<Parsed, ParseError> {
    let (levels, mut warnings) = parse_levels(s)?;
    let mut levels = levels;
    if levels.province.is_some()
        || levels.city.is_some()
        || levels.district.is_some()
        || levels.town.is_some()
    {
        let check = Divisions::embedded().check_inner(&levels);
        if check.city_is_district {
            levels.district = levels.city.take();
        }
        warnings.extend(check.warnings);
    }
    Ok(Parsed {
        input: s.to_string(),
        normalized: key_of(&levels),
        levels,
        warnings,
    })
}

/// The normalised text (uniqueness key) of `s`; the same as `parse(s)?.normalized`.
pub fn normalize(s: &str) -> Result<String, ParseError> {
    let (levels, _) = parse_levels(s)?;
    Ok(key_of(&levels))
}

fn parse_levels(s: &str) -> Result<(Levels, Vec<String>), ParseError> {
    let mut chars = clean::clean(s);
    let grids = scan::strip_grids(&mut chars);
    if chars.is_empty() {
        if grids.is_empty() {
            return Err(ParseError::Empty);
        }
        // Only a grid number (第3网格): no level of an address.
        return Err(ParseError::Unreadable {
            normalized: String::new(),
            part: s.trim().to_string(),
        });
    }
    let (levels, mut warnings) = scan::Scanner::new(&chars).run()?;
    for g in grids {
        warnings.push(format!(
            "grid '{g}' is not part of a standard address; left out"
        ));
    }
    Ok((levels, warnings))
}

/// The key of `levels`: each level with its canonical unit word, in order.
pub fn key_of(levels: &Levels) -> String {
    let l = levels;
    scan::key(&[
        l.province.as_deref(),
        l.city.as_deref(),
        l.district.as_deref(),
        l.town.as_deref(),
        l.community.as_deref(),
        l.group.as_deref(),
        l.road.as_deref(),
        l.number.as_deref(),
        l.compound.as_deref(),
        l.building.as_deref(),
        l.unit.as_deref(),
        l.floor.as_deref(),
        l.room.as_deref(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn county_level_city_in_the_city_slot_moves_to_district() {
        let p = parse("江苏省启东市汇龙镇").unwrap();
        assert_eq!(p.levels.city, None);
        assert_eq!(p.levels.district.as_deref(), Some("启东市"));
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        let p = parse("江苏省南通市启东市汇龙镇").unwrap();
        assert_eq!(p.levels.city.as_deref(), Some("南通市"));
        assert_eq!(p.levels.district.as_deref(), Some("启东市"));
    }

    #[test]
    fn misspelt_divisions_are_flagged_not_refused() {
        let p = parse("江苏省启东市汇笼镇东方村3组").unwrap();
        assert_eq!(p.levels.town.as_deref(), Some("汇笼镇"));
        assert_eq!(
            p.warnings,
            ["unknown town '汇笼镇' (did you mean '汇龙镇'?)"]
        );
        let p = parse("江苏省黄浦区").unwrap();
        assert_eq!(p.warnings, ["district '黄浦区' is not in '江苏省'"]);
        assert!(
            parse("上海市黄浦区中山东一路12号")
                .unwrap()
                .warnings
                .is_empty()
        );
    }

    #[test]
    fn errors_carry_the_part_and_what_was_read() {
        let e = parse("阳光花园3幢2单元几楼").unwrap_err();
        assert_eq!(e.to_string(), "cannot read '几楼'");
        assert_eq!(e.part(), Some("几楼"));
        assert_eq!(e.normalized(), "阳光花园3幢2单元");
        assert_eq!(parse(" ，。 ").unwrap_err(), ParseError::Empty);
        assert_eq!(parse("第3网格").unwrap_err().part(), Some("第3网格"));
    }

    #[test]
    fn normalize_matches_parse() {
        for s in [
            "江苏省启东市汇龙镇东方村3组12号",
            "阳光花园3-2-301",
            "中山东一路10~12号",
        ] {
            assert_eq!(normalize(s).unwrap(), parse(s).unwrap().normalized);
        }
    }
}
