//! The scanner: one left-to-right pass over the cleaned characters that cuts them into levels.
//!
//! Characters accumulate into a *pending name* until either
//! - a **name suffix** closes it (`省 市 区 县 镇 乡 街道 村 社区 组 路 街 巷 弄 大道 小区` …): the
//!   name plus its suffix becomes that level, or
//! - a **numeric token** starts: a number (digits, a dashed `3-2-301`, Chinese numerals, a single
//!   letter as in `A座`) followed by a unit word (`幢 栋 座 号楼 单元 门 层 楼 室 房 号 组 弄`);
//!   the pending name before it becomes the road (before a house `号`), the community (before a
//!   `组`) or else the compound (小区), and the number fills the level of its unit word.
//!
//! Levels must come in order (省 … 室); a token for a level already passed cannot be read.

use crate::divisions::{DivisionLevel, Divisions};
use crate::numerals::{cn_to_digits, is_cn_numeral};
use crate::{Levels, ParseError};

pub(crate) const PROVINCE: usize = 0;
pub(crate) const CITY: usize = 1;
pub(crate) const DISTRICT: usize = 2;
pub(crate) const TOWN: usize = 3;
pub(crate) const COMMUNITY: usize = 4;
pub(crate) const GROUP: usize = 5;
pub(crate) const ROAD: usize = 6;
pub(crate) const NUMBER: usize = 7;
pub(crate) const COMPOUND: usize = 8;
pub(crate) const BUILDING: usize = 9;
pub(crate) const UNIT: usize = 10;
pub(crate) const FLOOR: usize = 11;
pub(crate) const ROOM: usize = 12;
pub(crate) const N_LEVELS: usize = 13;

/// What a name suffix closes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Province,
    /// 市: a province (直辖市), a city or a county-level city, by name and position.
    Shi,
    City,
    District,
    Town,
    /// Accepted only when the official list knows the name (旗, 盟, 地区, 苏木 are common words).
    Weak(DivisionLevel),
    Community,
    Group,
    Road,
    Compound,
}

/// Name suffixes: pattern, what it closes, the canonical suffix written in the key.
/// Longer patterns come before the shorter ones they start with.
const SUFFIXES: &[(&str, Kind, &str)] = &[
    ("特别行政区", Kind::Province, "特别行政区"),
    ("自治区", Kind::Province, "自治区"),
    ("自治州", Kind::City, "自治州"),
    ("自治县", Kind::District, "自治县"),
    ("自治旗", Kind::District, "自治旗"),
    ("省", Kind::Province, "省"),
    ("地区", Kind::Weak(DivisionLevel::City), "地区"),
    ("盟", Kind::Weak(DivisionLevel::City), "盟"),
    ("市", Kind::Shi, "市"),
    ("区", Kind::District, "区"),
    ("县", Kind::District, "县"),
    ("旗", Kind::Weak(DivisionLevel::District), "旗"),
    ("街道办事处", Kind::Town, "街道"),
    ("街道办", Kind::Town, "街道"),
    ("街道", Kind::Town, "街道"),
    ("镇", Kind::Town, "镇"),
    ("乡", Kind::Town, "乡"),
    ("苏木", Kind::Weak(DivisionLevel::Town), "苏木"),
    ("居民委员会", Kind::Community, "社区"),
    ("居委会", Kind::Community, "社区"),
    ("村民委员会", Kind::Community, "村"),
    ("村委会", Kind::Community, "村"),
    ("村民小组", Kind::Group, ""),
    ("社区", Kind::Community, "社区"),
    ("村", Kind::Community, "村"),
    ("小组", Kind::Group, ""),
    ("组", Kind::Group, ""),
    ("大道", Kind::Road, "大道"),
    ("大街", Kind::Road, "大街"),
    ("胡同", Kind::Road, "胡同"),
    ("路", Kind::Road, "路"),
    ("街", Kind::Road, "街"),
    ("巷", Kind::Road, "巷"),
    ("弄", Kind::Road, "弄"),
    ("小区", Kind::Compound, "小区"),
];

/// Words that end a compound's name: a pending name ending with one of them before `N号` is a
/// compound (阳光花园12号 = building 12), otherwise a road (南京道12号 = number 12).
const COMPOUND_WORDS: &[&str] = &[
    "小区", "花园", "家园", "公寓", "新村", "大厦", "广场", "山庄", "公馆", "名邸", "华庭", "雅居",
    "别墅", "苑", "园", "城", "府", "庭", "居", "阁", "湾", "里", "坊", "院", "舍", "墅",
];

/// Words after a road suffix that make it part of a compound's name (建设路小区).
const AFTER_ROAD_COMPOUND: &[&str] = &["小区", "新村", "花园", "公寓", "家园"];

/// Committee words that may follow a community's name and add nothing to it.
const COMMITTEES: &[&str] = &["村民委员会", "居民委员会", "村委会", "居委会", "委员会"];

const MUNICIPALITIES: &[&str] = &["北京", "天津", "上海", "重庆"];

/// The unit word after a number.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[allow(clippy::enum_variant_names)] // `Unit::Unit` is 单元, the level's own name.
enum Unit {
    Building,
    Unit,
    Floor,
    Room,
    /// 号: a house number, a building or a room, by position.
    Hao,
    Group,
    /// 弄: a lane, written after its road.
    Lane,
    /// No unit word: the level follows from the position.
    Bare,
}

/// Unit words, longest first.
const UNITS: &[(&str, Unit)] = &[
    ("号楼", Unit::Building),
    ("号房", Unit::Room),
    ("号室", Unit::Room),
    ("村民小组", Unit::Group),
    ("小组", Unit::Group),
    ("单元", Unit::Unit),
    ("幢", Unit::Building),
    ("栋", Unit::Building),
    ("座", Unit::Building),
    ("门", Unit::Unit),
    ("层", Unit::Floor),
    ("楼", Unit::Floor),
    ("室", Unit::Room),
    ("房", Unit::Room),
    ("号", Unit::Hao),
    ("组", Unit::Group),
    ("弄", Unit::Lane),
];

/// A number and its unit word, `s[start..end]`.
struct Num {
    parts: Vec<String>,
    unit: Unit,
    start: usize,
    end: usize,
}

pub(crate) struct Scanner<'a> {
    s: &'a [char],
    lv: [Option<String>; N_LEVELS],
    /// The highest level set so far.
    last: Option<usize>,
    pending: String,
    pending_start: usize,
    pub(crate) warnings: Vec<String>,
}

fn starts_with(s: &[char], i: usize, pat: &str) -> bool {
    (i..).zip(pat.chars()).all(|(k, p)| s.get(k) == Some(&p))
}

fn pat_len(pat: &str) -> usize {
    pat.chars().count()
}

/// Whether a road word starts at `j`: 路, 东路, 大街, 南大街 and the like.
fn road_word_at(s: &[char], j: usize) -> bool {
    let mut k = j;
    if matches!(s.get(k), Some('东' | '南' | '西' | '北' | '中')) {
        k += 1;
    }
    if s.get(k) == Some(&'大') && matches!(s.get(k + 1), Some('街' | '道')) {
        return true;
    }
    is_road_suffix_char(s.get(k)) && !starts_with(s, k, "街道")
}

fn is_road_suffix_char(c: Option<&char>) -> bool {
    matches!(c, Some('路' | '街' | '巷' | '道' | '弄'))
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(s: &'a [char]) -> Self {
        Scanner {
            s,
            lv: Default::default(),
            last: None,
            pending: String::new(),
            pending_start: 0,
            warnings: Vec::new(),
        }
    }

    /// `last` as a number, -1 when nothing is set, so that `level > last()` reads naturally.
    fn last(&self) -> isize {
        self.last.map_or(-1, |l| l as isize)
    }

    fn set(&mut self, level: usize, value: String) {
        self.lv[level] = Some(value);
        self.last = Some(self.last.map_or(level, |l| l.max(level)));
    }

    fn error_at(&self, start: usize) -> ParseError {
        ParseError::Unreadable {
            normalized: key(&self.lv.each_ref().map(|v| v.as_deref())),
            part: self.s[start..].iter().collect(),
        }
    }

    pub(crate) fn run(mut self) -> Result<(Levels, Vec<String>), ParseError> {
        let s = self.s;
        let n = s.len();
        let mut i = 0;
        while i < n {
            let c = s[i];
            let numeric_start =
                c.is_ascii_digit() || is_cn_numeral(c) || c == '第' || c.is_ascii_uppercase();
            if numeric_start {
                if let Some(tok) = self.read_num(i) {
                    let end = tok.end;
                    self.take_num(tok)?;
                    i = end;
                    continue;
                }
                // Not a number of the address: the whole run belongs to a name (中山东一路).
                let mut j = i + 1;
                if c.is_ascii_digit() {
                    while j < n && s[j].is_ascii_digit() {
                        j += 1;
                    }
                } else if is_cn_numeral(c) {
                    while j < n && is_cn_numeral(s[j]) {
                        j += 1;
                    }
                }
                self.push_pending(i, j);
                i = j;
                continue;
            }
            if !self.pending.is_empty()
                && let Some(j) = self.try_suffix(i)
            {
                i = j;
                continue;
            }
            self.push_pending(i, i + 1);
            i += 1;
        }
        if !self.pending.is_empty() {
            if self.last() < COMPOUND as isize {
                let p = std::mem::take(&mut self.pending);
                self.set(COMPOUND, p);
            } else {
                return Err(self.error_at(self.pending_start));
            }
        }
        if self.last.is_none() {
            // Only a grid number (3网格): no level of an address.
            return Err(self.error_at(0));
        }
        let [
            province,
            city,
            district,
            town,
            community,
            group,
            road,
            number,
            compound,
            building,
            unit,
            floor,
            room,
        ] = self.lv;
        Ok((
            Levels {
                province,
                city,
                district,
                town,
                community,
                group,
                road,
                number,
                compound,
                building,
                unit,
                floor,
                room,
            },
            self.warnings,
        ))
    }

    fn push_pending(&mut self, from: usize, to: usize) {
        if self.pending.is_empty() {
            self.pending_start = from;
        }
        self.pending.extend(&self.s[from..to]);
    }

    /// Tries to close the pending name with a suffix at `i`; returns the index after it.
    fn try_suffix(&mut self, i: usize) -> Option<usize> {
        let s = self.s;
        // Most characters start no suffix: skip the table for them (the hot path).
        if !matches!(
            s[i],
            '特' | '自'
                | '省'
                | '地'
                | '盟'
                | '市'
                | '区'
                | '县'
                | '旗'
                | '街'
                | '镇'
                | '乡'
                | '苏'
                | '居'
                | '村'
                | '社'
                | '小'
                | '组'
                | '大'
                | '胡'
                | '路'
                | '巷'
                | '弄'
        ) {
            return None;
        }
        let (pat, kind, canon) = SUFFIXES
            .iter()
            .find(|(pat, _, _)| starts_with(s, i, pat))
            .copied()?;
        let j = i + pat_len(pat);
        // 新村路, 镇宁路: a suffix right before a road word is part of the road's name; for a
        // village or a compound also before 东路, 大街, 南大街 (中关村南大街).
        if kind != Kind::Road && is_road_suffix_char(s.get(j)) {
            return None;
        }
        if matches!(kind, Kind::Community | Kind::Group | Kind::Compound) && road_word_at(s, j) {
            return None;
        }
        let last = self.last();
        let name = |p: &str| {
            let mut t = String::with_capacity(p.len() + canon.len());
            t.push_str(p);
            t.push_str(canon);
            t
        };
        let level = match kind {
            Kind::Province => PROVINCE,
            Kind::City => CITY,
            Kind::District => DISTRICT,
            Kind::Town => TOWN,
            Kind::Shi => {
                if MUNICIPALITIES.contains(&self.pending.as_str()) {
                    PROVINCE
                } else if self.lv[CITY].is_none() && last < CITY as isize {
                    CITY
                } else {
                    DISTRICT
                }
            }
            Kind::Weak(dl) => {
                if !Divisions::embedded().contains(&name(&self.pending), dl) {
                    return None;
                }
                match dl {
                    DivisionLevel::City => CITY,
                    DivisionLevel::District => DISTRICT,
                    _ => TOWN,
                }
            }
            Kind::Community => COMMUNITY,
            Kind::Group => GROUP,
            Kind::Road => {
                // 建设路小区 is a compound, 南京东路街道 a sub-district.
                if AFTER_ROAD_COMPOUND.iter().any(|w| starts_with(s, j, w))
                    || starts_with(s, j, "街道")
                {
                    return None;
                }
                ROAD
            }
            Kind::Compound => COMPOUND,
        };
        if level as isize <= last {
            return None;
        }
        if level == GROUP && s.get(j) == Some(&'团') {
            return None;
        }
        // An administrative name is never followed by a number: 阳光花园东区3幢 is a compound.
        if level <= TOWN && self.read_num(j).is_some() {
            return None;
        }
        let p = std::mem::take(&mut self.pending);
        self.set(level, name(&p));
        let mut j = j;
        if level == COMMUNITY {
            // 东方村村委会, 和平社区居委会: the committee's name repeats the community.
            if let Some(w) = COMMITTEES.iter().find(|w| starts_with(s, j, w)) {
                j += pat_len(w);
            }
        }
        Some(j)
    }

    /// Reads a number and its unit word at `i`, or `None` when the characters there are part of
    /// a name. Pure: looks at the state, changes nothing.
    fn read_num(&self, i: usize) -> Option<Num> {
        let s = self.s;
        let n = s.len();
        let mut j = i;
        if s.get(j) == Some(&'第') {
            j += 1;
        }
        let c = *s.get(j)?;
        let mut parts: Vec<String> = Vec::with_capacity(1);
        let mut letter_only = false;
        let ascii;
        if c.is_ascii_digit() {
            ascii = true;
            loop {
                let from = j;
                while j < n && s[j] == '0' {
                    j += 1;
                }
                let nonzero = j;
                while j < n && s[j].is_ascii_digit() {
                    j += 1;
                }
                // Leading zeros dropped (03幢 = 3幢); all zeros is 0.
                let digits = if nonzero == j {
                    &s[j - 1..j]
                } else {
                    &s[nonzero..j]
                };
                debug_assert!(j > from);
                parts.push(digits.iter().collect());
                if j + 1 < n && s[j] == '-' && s[j + 1].is_ascii_digit() {
                    j += 1;
                } else {
                    break;
                }
            }
            // 15甲, 301A: a letter after a single number, kept when a unit word or the end follows.
            if parts.len() == 1
                && let Some(&l) = s.get(j)
                && (l.is_ascii_uppercase() || matches!(l, '甲' | '乙' | '丙' | '丁'))
                && (j + 1 == n || match_unit(s, j + 1).is_some())
            {
                parts[0].push(l);
                j += 1;
            }
        } else if is_cn_numeral(c) {
            // 0零组: a Chinese numeral right after digits is part of a name, or the key
            // (00组) would read back differently.
            if j > 0 && s[j - 1].is_ascii_digit() {
                return None;
            }
            ascii = false;
            let from = j;
            while j < n && is_cn_numeral(s[j]) {
                j += 1;
            }
            parts.push(cn_to_digits(&s[from..j])?);
        } else if c.is_ascii_uppercase() && j == i {
            // A building letter: A座, B栋; not a letter inside a word (SOHO座).
            if i > 0 && s[i - 1].is_ascii_uppercase() {
                return None;
            }
            ascii = false;
            letter_only = true;
            parts.push(c.to_string());
            j += 1;
        } else {
            return None;
        }
        if names_a_place(s, j) {
            return None;
        }
        if let Some((unit, len)) = match_unit(s, j) {
            if letter_only && !matches!(unit, Unit::Building | Unit::Unit | Unit::Room) {
                return None;
            }
            // 3门 is a unit only inside a building (not 十三门村).
            if len == 1 && s[j] == '门' && self.lv[BUILDING].is_none() {
                return None;
            }
            return Some(Num {
                parts,
                unit,
                start: i,
                end: j + len,
            });
        }
        if letter_only {
            return None;
        }
        let at_end = j == n;
        let bare = if ascii {
            at_end
                || (self.pending.is_empty()
                    && self.last.is_some()
                    && !is_cn_numeral(s[j])
                    && !s[j].is_ascii_uppercase()
                    // A bare house number is written back as N号, and 号 must not join the
                    // next word (1路 is a road, not 1号 + 路).
                    && !matches!(s[j], '路' | '街' | '巷' | '道' | '线' | '桥' | '楼' | '房' | '室'))
        } else {
            at_end
                && self.pending.is_empty()
                && (BUILDING..=FLOOR).contains(&self.last.unwrap_or(usize::MAX))
        };
        bare.then_some(Num {
            parts,
            unit: Unit::Bare,
            start: i,
            end: j,
        })
    }

    /// Applies a numeric token: closes the pending name, then fills the token's level.
    fn take_num(&mut self, tok: Num) -> Result<(), ParseError> {
        let Num {
            mut parts,
            unit,
            start,
            ..
        } = tok;
        // 第第3组: an ordinal mark before the number belongs to it, not to the name.
        while self.pending.ends_with('第') {
            self.pending.pop();
        }
        // A name ending in a digit right before a number (X1 + 3幢) would read back as one
        // number (X13幢): refuse it rather than give a key that means something else.
        if self.pending.ends_with(|c: char| c.is_ascii_digit()) {
            return Err(self.error_at(self.pending_start));
        }
        if !self.pending.is_empty() {
            let last = self.last();
            let want = match unit {
                Unit::Group => COMMUNITY,
                Unit::Lane => ROAD,
                Unit::Hao if !ends_with_compound_word(&self.pending) && parts.len() == 1 => {
                    if (ROAD as isize) > last {
                        ROAD
                    } else {
                        COMPOUND
                    }
                }
                _ => COMPOUND,
            };
            if want as isize <= last {
                return Err(self.error_at(self.pending_start));
            }
            let p = std::mem::take(&mut self.pending);
            self.set(want, p);
        }
        let last = self.last();
        let err = |me: &Self| Err(me.error_at(start));
        let dashed = parts.len() > 1;
        let single = |parts: &mut Vec<String>| parts.pop().unwrap_or_default();
        let level = match unit {
            Unit::Building if !dashed => BUILDING,
            Unit::Unit if !dashed => UNIT,
            Unit::Floor if !dashed => FLOOR,
            Unit::Group if !dashed => GROUP,
            Unit::Room | Unit::Hao | Unit::Bare if dashed => {
                let road_number = last == ROAD as isize
                    && self.lv[NUMBER].is_none()
                    && (unit == Unit::Hao || (unit == Unit::Bare && parts.len() == 2));
                if road_number {
                    self.set(NUMBER, parts.join("-"));
                    return Ok(());
                }
                return self.building_form(parts, start);
            }
            Unit::Room => ROOM,
            Unit::Hao | Unit::Bare => {
                let number_free = if unit == Unit::Hao {
                    last <= ROAD as isize
                } else {
                    (COMMUNITY as isize..=ROAD as isize).contains(&last)
                };
                if number_free {
                    NUMBER
                } else if last == NUMBER as isize || last == COMPOUND as isize {
                    BUILDING
                } else if (BUILDING as isize..=FLOOR as isize).contains(&last) {
                    ROOM
                } else {
                    return err(self);
                }
            }
            Unit::Lane if !dashed => {
                let lane = single(&mut parts) + "弄";
                if last == ROAD as isize {
                    if let Some(r) = self.lv[ROAD].as_mut() {
                        r.push_str(&lane);
                    }
                } else if last < ROAD as isize {
                    self.set(ROAD, lane);
                } else {
                    return err(self);
                }
                return Ok(());
            }
            _ => return err(self),
        };
        if level as isize <= last {
            return err(self);
        }
        let v = single(&mut parts);
        self.set(level, v);
        Ok(())
    }

    /// 3-2-301 = 3幢2单元301室, 3-301 = 3幢301室, 3-2-3-301 = 3幢2单元3层301室; after a
    /// building, 2-301 = 2单元301室.
    fn building_form(&mut self, parts: Vec<String>, start: usize) -> Result<(), ParseError> {
        let last = self.last();
        let slots: &[usize] = if last < BUILDING as isize {
            match parts.len() {
                2 => &[BUILDING, ROOM],
                3 => &[BUILDING, UNIT, ROOM],
                4 => &[BUILDING, UNIT, FLOOR, ROOM],
                _ => return Err(self.error_at(start)),
            }
        } else if last == BUILDING as isize {
            match parts.len() {
                2 => &[UNIT, ROOM],
                3 => &[UNIT, FLOOR, ROOM],
                _ => return Err(self.error_at(start)),
            }
        } else {
            return Err(self.error_at(start));
        };
        for (&level, v) in slots.iter().zip(parts) {
            self.set(level, v);
        }
        Ok(())
    }
}

/// Removes grid numbers (`第3网格`, `三网格`): a grid is not a level of a standard address.
/// Returns the grid numbers removed. Repeats until none is left, so the scanner never sees one.
pub(crate) fn strip_grids(s: &mut Vec<char>) -> Vec<String> {
    let mut grids = Vec::new();
    loop {
        let mut found = None;
        let mut i = 0;
        while i + 1 < s.len() {
            if s[i] == '网' && s[i + 1] == '格' {
                let mut k = i;
                while k > 0 && (s[k - 1].is_ascii_digit() || is_cn_numeral(s[k - 1])) {
                    k -= 1;
                }
                if k < i {
                    let number: String = s[k..i].iter().collect();
                    if k > 0 && s[k - 1] == '第' {
                        k -= 1;
                    }
                    found = Some((k, i + 2, number));
                    break;
                }
            }
            i += 1;
        }
        let Some((from, to, number)) = found else {
            return grids;
        };
        s.drain(from..to);
        // 3-1网格: a dash left without a digit on each side goes too.
        if from > 0 && s[from - 1] == '-' && !s.get(from).is_some_and(char::is_ascii_digit) {
            s.remove(from - 1);
        } else if s.get(from) == Some(&'-') && !(from > 0 && s[from - 1].is_ascii_digit()) {
            s.remove(from);
        }
        grids.push(number);
    }
}

fn ends_with_compound_word(name: &str) -> bool {
    COMPOUND_WORDS.iter().any(|w| name.ends_with(w))
}

/// Whether the number before `j` is part of a name: 1号路 and 3号线 name a road and a line,
/// 3组团 is a phase of a compound, not a village group.
fn names_a_place(s: &[char], j: usize) -> bool {
    match s.get(j) {
        Some('号') => matches!(s.get(j + 1), Some('路' | '街' | '巷' | '道' | '线' | '桥')),
        Some('组') => s.get(j + 1) == Some(&'团'),
        _ => false,
    }
}

/// The unit word at `j` and its length in characters.
fn match_unit(s: &[char], j: usize) -> Option<(Unit, usize)> {
    if !matches!(
        s.get(j),
        Some(
            '号' | '村'
                | '小'
                | '单'
                | '幢'
                | '栋'
                | '座'
                | '门'
                | '层'
                | '楼'
                | '室'
                | '房'
                | '组'
                | '弄'
        )
    ) {
        return None;
    }
    let (pat, unit) = UNITS.iter().find(|(pat, _)| starts_with(s, j, pat))?;
    Some((*unit, pat_len(pat)))
}

/// The normalised text of `lv`: each level in order with its canonical unit word.
///
/// A floor is left out when the room number already says it (3层301室 → 301室), so the spelled
/// and the dashed forms of one address give one key.
pub(crate) fn key(lv: &[Option<&str>; N_LEVELS]) -> String {
    let mut k = String::with_capacity(48);
    for (i, v) in lv.iter().enumerate() {
        let Some(v) = *v else { continue };
        k.push_str(v);
        match i {
            GROUP => k.push('组'),
            NUMBER => k.push('号'),
            BUILDING => k.push('幢'),
            UNIT => k.push_str("单元"),
            FLOOR => {
                if floor_in_room(v, lv[ROOM]) {
                    k.truncate(k.len() - v.len());
                } else {
                    k.push('层');
                }
            }
            ROOM => k.push('室'),
            _ => {}
        }
    }
    k
}

/// Whether a 3–4 digit room number starts with the floor (floor 3, room 301; floor 12, room 1203).
pub(crate) fn floor_in_room(floor: &str, room: Option<&str>) -> bool {
    let Some(room) = room else { return false };
    let digits = room.trim_end_matches(|c: char| !c.is_ascii_digit());
    (3..=4).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && digits[..digits.len() - 2] == *floor
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels(s: &str) -> Levels {
        let chars: Vec<char> = s.chars().collect();
        Scanner::new(&chars).run().expect(s).0
    }

    fn part(s: &str) -> String {
        let chars: Vec<char> = s.chars().collect();
        match Scanner::new(&chars).run() {
            Err(ParseError::Unreadable { part, .. }) => part,
            other => panic!("{s}: expected an unreadable part, got {other:?}"),
        }
    }

    fn key_of(s: &str) -> String {
        crate::key_of(&levels(s))
    }

    #[test]
    fn hao_depends_on_position() {
        assert_eq!(levels("中山路12号").number.as_deref(), Some("12"));
        assert_eq!(levels("阳光花园12号").building.as_deref(), Some("12"));
        assert_eq!(levels("3幢2单元301号").room.as_deref(), Some("301"));
        assert_eq!(levels("东方村3组12号").number.as_deref(), Some("12"));
    }

    #[test]
    fn bare_numbers_depend_on_position() {
        assert_eq!(levels("中山路12").number.as_deref(), Some("12"));
        assert_eq!(levels("阳光花园3").building.as_deref(), Some("3"));
        assert_eq!(levels("3幢301").room.as_deref(), Some("301"));
        assert_eq!(levels("3幢2单元三〇一").room.as_deref(), Some("301"));
    }

    #[test]
    fn dashed_forms() {
        let l = levels("3-2-301");
        assert_eq!(
            (l.building.as_deref(), l.unit.as_deref(), l.room.as_deref()),
            (Some("3"), Some("2"), Some("301"))
        );
        let l = levels("3-301");
        assert_eq!((l.building.as_deref(), l.unit), (Some("3"), None));
        assert_eq!(levels("3-2-3-301").floor.as_deref(), Some("3"));
        assert_eq!(levels("3幢2-301").unit.as_deref(), Some("2"));
        // Right after a road, a dashed number is a house-number range.
        assert_eq!(levels("福州路17-19").number.as_deref(), Some("17-19"));
        assert_eq!(levels("福州路17-19号").number.as_deref(), Some("17-19"));
        assert_eq!(levels("中山路12号3-2-301").room.as_deref(), Some("301"));
    }

    #[test]
    fn numerals_inside_names_stay() {
        assert_eq!(levels("中山东一路1号").road.as_deref(), Some("中山东一路"));
        assert_eq!(levels("九江路1号").road.as_deref(), Some("九江路"));
        assert_eq!(levels("七宝镇").town.as_deref(), Some("七宝镇"));
        assert_eq!(levels("十三门村").community.as_deref(), Some("十三门村"));
        assert_eq!(levels("1号路3号").road.as_deref(), Some("1号路"));
    }

    #[test]
    fn suffix_guards() {
        // A suffix before a road word is part of the road's name.
        assert_eq!(levels("新村路12号").road.as_deref(), Some("新村路"));
        assert_eq!(levels("镇宁路3号").road.as_deref(), Some("镇宁路"));
        // A road before 小区 names the compound; before 街道 the sub-district.
        assert_eq!(levels("建设路小区").compound.as_deref(), Some("建设路小区"));
        assert_eq!(levels("南京东路街道").town.as_deref(), Some("南京东路街道"));
        // An administrative name is never followed by a number.
        assert_eq!(levels("阳光东区3幢").compound.as_deref(), Some("阳光东区"));
        // The committee after a community adds nothing.
        assert_eq!(
            levels("东方村村委会3组").community.as_deref(),
            Some("东方村")
        );
        assert_eq!(levels("和平居委会").community.as_deref(), Some("和平社区"));
    }

    #[test]
    fn unreadable_parts() {
        assert_eq!(part("3幢2单元几楼"), "几楼");
        assert_eq!(part("301室3幢"), "3幢");
        assert_eq!(part("3幢4幢"), "4幢");
        assert_eq!(part("阳光花园3-2-301-5-6"), "3-2-301-5-6");
        assert_eq!(part("3组3组"), "3组");
    }

    #[test]
    fn key_leaves_out_a_floor_the_room_says() {
        assert_eq!(key_of("3幢2单元3层301室"), "3幢2单元301室");
        assert_eq!(key_of("3幢12层1203室"), "3幢1203室");
        assert_eq!(key_of("3幢2层301室"), "3幢2层301室");
        assert_eq!(key_of("3幢3层"), "3幢3层");
        assert!(floor_in_room("3", Some("301A")));
        assert!(!floor_in_room("3", Some("31")));
    }

    #[test]
    fn grids_are_stripped() {
        let mut s: Vec<char> = "东方村第3网格5组".chars().collect();
        assert_eq!(strip_grids(&mut s), vec!["3".to_string()]);
        assert_eq!(s.iter().collect::<String>(), "东方村5组");
        let mut s: Vec<char> = "1网1网格格".chars().collect();
        assert_eq!(strip_grids(&mut s).len(), 2);
        assert!(s.is_empty());
    }

    // Regressions found by the property tests: each key must read back to itself.

    /// 省村1街道: a bare number before 街 must not become 1号 + 街道 (1号街 is a road).
    #[test]
    fn regression_bare_number_before_road_word() {
        assert_eq!(key_of("幢村1路1省"), key_of(&key_of("幢村1路1省")));
    }

    /// 0零组: a Chinese numeral right after digits is part of a name.
    #[test]
    fn regression_digits_then_chinese_numeral() {
        assert_eq!(key_of("省省省0零组"), key_of(&key_of("省省省0零组")));
    }

    /// X0 + 1号: a name ending in a digit before a number would merge with it.
    #[test]
    fn regression_name_ending_in_digit_before_number() {
        assert_eq!(part("0第1号省"), "0第1号省");
    }
}
