//! The household registers (实有房屋 at room level, 实有人口): houses (户/室), the people living
//! in them, and the rules that keep their personal data private.
//!
//! A [`House`] is one room or dwelling, keyed by its normalised address (down to 栋/号 and
//! room), and linked to a [`Building`](crate::model::Building) when its address matches the
//! project's standard addresses. A [`Person`] is linked to a house (人房关联).
//!
//! # Privacy
//!
//! Names, ID numbers and phone numbers are personal data. The store keeps them encrypted; they
//! are shown through the masking helpers here ([`mask_name`] `张*`, [`mask_id_number`]
//! `3206**********1234`, [`mask_phone`] `138****5678`), and `Person`'s `Debug` prints them masked,
//! so that a stray `{:?}` in a log gives nothing away. Errors about them name the row and the
//! column, never the value ([`IdNumberError`] holds no digits).
//!
//! ```
//! use gridmap_core::register::{check_id_number, mask_id_number, mask_name, mask_phone};
//! assert_eq!(mask_name("张三"), "张*");
//! assert_eq!(mask_phone("13812345678"), "138****5678");
//! assert_eq!(mask_id_number("11010519491231002X"), "1101**********002X");
//! assert!(check_id_number("11010519491231002X").is_ok());
//! assert!(check_id_number("110105194912310021").is_err()); // wrong check digit
//! ```

use serde::{Deserialize, Serialize};

/// The nature of a house (房屋性质), as on the household form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HouseNature {
    /// 自购: bought by the household living in it.
    Purchased,
    /// 自建: built by the household living in it.
    SelfBuilt,
    /// 租住: rented (出租房); the household is a tenant.
    Rented,
    /// 空置: nobody lives in it.
    Vacant,
    /// 单位宿舍: a dormitory of an employer.
    Dormitory,
    /// 危房: classified as unsafe.
    Dangerous,
    /// 待拆迁: due for demolition.
    ToBeDemolished,
    /// 其他: none of the above.
    Other,
}

impl HouseNature {
    /// Every nature, in the form's order.
    pub const ALL: [HouseNature; 8] = [
        HouseNature::Purchased,
        HouseNature::SelfBuilt,
        HouseNature::Rented,
        HouseNature::Vacant,
        HouseNature::Dormitory,
        HouseNature::Dangerous,
        HouseNature::ToBeDemolished,
        HouseNature::Other,
    ];

    /// The form's word: `自购`, `自建`, `租住`, `空置`, `单位宿舍`, `危房`, `待拆迁`, `其他`.
    pub fn as_str(self) -> &'static str {
        match self {
            HouseNature::Purchased => "自购",
            HouseNature::SelfBuilt => "自建",
            HouseNature::Rented => "租住",
            HouseNature::Vacant => "空置",
            HouseNature::Dormitory => "单位宿舍",
            HouseNature::Dangerous => "危房",
            HouseNature::ToBeDemolished => "待拆迁",
            HouseNature::Other => "其他",
        }
    }

    /// Reads the form's word and its usual variants (`自购房`, `租赁`, `出租`, `宿舍`, `其它`,
    /// a leading circled number such as `①自购`).
    pub fn parse(s: &str) -> Option<Self> {
        let s: String = s
            .trim()
            .chars()
            .filter(|c| !c.is_whitespace() && !('①'..='⑳').contains(c))
            .collect();
        let s = s.strip_suffix('房').filter(|r| !r.is_empty()).unwrap_or(&s);
        Some(match s {
            "自购" | "自有" | "购买" | "商品" => HouseNature::Purchased,
            "自建" => HouseNature::SelfBuilt,
            "租住" | "租赁" | "出租" | "租用" => HouseNature::Rented,
            "空置" | "闲置" => HouseNature::Vacant,
            "单位宿舍" | "宿舍" => HouseNature::Dormitory,
            "危" | "危房" => HouseNature::Dangerous,
            "待拆迁" | "拆迁" | "待拆" => HouseNature::ToBeDemolished,
            "其他" | "其它" => HouseNature::Other,
            _ => return None,
        })
    }
}

/// Where a person's household registration is, against where they live (人口类型): the
/// categories the seeds count (户籍人口、流动人口、境外人员; `001_…` also 流出).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Residence {
    /// 户籍: registered here.
    Registered,
    /// 流入: living here, registered elsewhere (流动人口).
    Inflow,
    /// 流出: registered here, living elsewhere.
    Outflow,
    /// 境外: a foreign national or a resident from outside the mainland.
    Foreign,
}

impl Residence {
    /// Every type.
    pub const ALL: [Residence; 4] = [
        Residence::Registered,
        Residence::Inflow,
        Residence::Outflow,
        Residence::Foreign,
    ];

    /// The form's word: `户籍`, `流入`, `流出`, `境外`.
    pub fn as_str(self) -> &'static str {
        match self {
            Residence::Registered => "户籍",
            Residence::Inflow => "流入",
            Residence::Outflow => "流出",
            Residence::Foreign => "境外",
        }
    }

    /// Reads the form's word and its usual variants (`户籍人口`, `常住`, `流动人口`, `暂住`,
    /// `外来`, `外出`, `境外人员`, `外籍`).
    ///
    /// ```
    /// use gridmap_core::register::Residence;
    /// assert_eq!(Residence::parse("流动人口"), Some(Residence::Inflow));
    /// assert_eq!(Residence::parse(" 户籍人口 "), Some(Residence::Registered));
    /// assert_eq!(Residence::parse("外籍"), Some(Residence::Foreign));
    /// assert_eq!(Residence::parse("不详"), None);
    /// ```
    pub fn parse(s: &str) -> Option<Self> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let s = s
            .strip_suffix("人口")
            .or(s.strip_suffix("人员"))
            .unwrap_or(&s);
        Some(match s {
            "户籍" | "常住" | "本地" | "户籍常住" => Residence::Registered,
            "流入" | "流动" | "暂住" | "外来" | "寄住" => Residence::Inflow,
            "流出" | "外出" | "人户分离外出" => Residence::Outflow,
            "境外" | "外籍" | "港澳台" | "外国" => Residence::Foreign,
            _ => return None,
        })
    }
}

/// What the household form's rule 4 asks a rented house's remarks to say ("如果为出租户,请在备注
/// 栏写清房主、承租期限、租赁原因"), and which of it is missing from `remarks`. Empty when the
/// remarks name the landlord (房主/房东/出租人/业主), the lease period (期限/租期/至/到期, or two
/// dates) and the reason (原因/务工/经商/上学/就业/工作/陪读/照顾).
///
/// ```
/// use gridmap_core::register::rental_remarks_missing;
/// assert!(rental_remarks_missing("房主王某，租期2026.1至2027.1，务工").is_empty());
/// assert_eq!(rental_remarks_missing("房东李某"), ["承租期限", "租赁原因"]);
/// assert_eq!(rental_remarks_missing(""), ["房主", "承租期限", "租赁原因"]);
/// ```
pub fn rental_remarks_missing(remarks: &str) -> Vec<&'static str> {
    let has = |words: &[&str]| words.iter().any(|w| remarks.contains(w));
    let mut missing = Vec::new();
    if !has(&["房主", "房东", "出租人", "业主"]) {
        missing.push("房主");
    }
    let dates = remarks
        .split(|c: char| !c.is_ascii_digit())
        .filter(|d| d.len() == 4 && d.starts_with("20"))
        .count();
    if !has(&["期限", "租期", "至", "到期"]) && dates < 2 {
        missing.push("承租期限");
    }
    if !has(&[
        "原因", "务工", "经商", "上学", "就业", "工作", "陪读", "照顾", "就医",
    ]) {
        missing.push("租赁原因");
    }
    missing
}

/// A house (户/室): one dwelling, keyed by its normalised address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct House {
    /// Unique id within the project.
    pub id: String,
    /// The building it is in, when its address matched one.
    pub building: Option<String>,
    /// The normalised address (`gridmap_address::normalize`): unique among houses.
    pub address_key: String,
    /// The address as first written on a form.
    pub address: String,
    /// Its nature as last registered, `None` when the form left it blank.
    pub nature: Option<HouseNature>,
    /// The form's free-text remarks (备注), when read with the register key (they may name a
    /// landlord and a phone, so the store keeps them sealed); `None` otherwise.
    pub remarks: Option<String>,
}

/// A person (实有人口) living in a house. `name`, `id_number` and `phone` are personal data:
/// clear or masked depending on who asked (see the store), and masked by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// Unique id within the project.
    pub id: String,
    /// The house they live in (人房关联).
    pub house: String,
    /// Full name (姓名). Personal data.
    pub name: String,
    /// Citizen ID number (公民身份号码), 18 characters in canonical form (see
    /// [`check_id_number`]). Personal data.
    pub id_number: Option<String>,
    /// Occupation (职业), free text.
    pub occupation: Option<String>,
    /// Employer or place of work (工作单位), free text.
    pub employer: Option<String>,
    /// 与户主关系: 户主, 配偶, 子女, …
    pub relation: Option<String>,
    /// Marital status (婚姻状况), free text as on the form.
    pub marital_status: Option<String>,
    /// 人户一致: whether residence matches household registration.
    pub hukou_match: Option<bool>,
    /// Phone number as written. Personal data.
    pub phone: Option<String>,
    /// 人口类型: 户籍, 流入, 流出 or 境外, when known.
    pub residence: Option<Residence>,
}

impl std::fmt::Debug for Person {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Person")
            .field("id", &self.id)
            .field("house", &self.house)
            .field("name", &mask_name(&self.name))
            .field("id_number", &self.id_number.as_deref().map(mask_id_number))
            .field("occupation", &self.occupation)
            .field("employer", &self.employer)
            .field("relation", &self.relation)
            .field("marital_status", &self.marital_status)
            .field("hukou_match", &self.hukou_match)
            .field("residence", &self.residence)
            .field("phone", &self.phone.as_deref().map(mask_phone))
            .finish()
    }
}

/// One person's row of a household form (城乡社区网格住户基础信息登记表), as read and checked
/// by the form reader: the ID number is valid when present, the nature is known.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct FormRow {
    /// The row number in the file, 1-based as a spreadsheet shows it.
    pub row: usize,
    /// The house's address as written (住址), not yet normalised.
    pub address: String,
    /// The person's name. Personal data.
    pub name: String,
    /// ID number, checked and canonical (see [`check_id_number`]). Personal data.
    pub id_number: Option<String>,
    /// Phone number as written. Personal data.
    pub phone: Option<String>,
    /// See [`Person::occupation`].
    pub occupation: Option<String>,
    /// See [`Person::employer`].
    pub employer: Option<String>,
    /// See [`Person::relation`].
    pub relation: Option<String>,
    /// See [`Person::marital_status`].
    pub marital_status: Option<String>,
    /// See [`Person::hukou_match`]; `None` when the form left it blank.
    pub hukou_match: Option<bool>,
    /// The house's nature, `None` when blank.
    pub nature: Option<HouseNature>,
    /// The row's remarks (备注). May hold personal data (a landlord's name and phone): the store
    /// keeps it sealed.
    pub remarks: Option<String>,
    /// See [`Person::residence`].
    pub residence: Option<Residence>,
}

impl std::fmt::Debug for FormRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FormRow")
            .field("row", &self.row)
            .field("address", &self.address)
            .field("name", &mask_name(&self.name))
            .field("id_number", &self.id_number.as_deref().map(mask_id_number))
            .field("phone", &self.phone.as_deref().map(mask_phone))
            .field("nature", &self.nature)
            .finish_non_exhaustive()
    }
}

/// `张三` → `张*`, `欧阳娜娜` → `欧***`: the first character, a star for each other one.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.trim().chars();
    match chars.next() {
        None => String::new(),
        Some(first) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
    }
}

/// `320602199001011234` → `3206**********1234`: the first and last four characters; anything
/// of eight characters or fewer is all stars.
pub fn mask_id_number(id: &str) -> String {
    keep_ends(id.trim(), 4, 4)
}

/// `13812345678` → `138****5678`: the first three and last four digits of a mobile number;
/// other numbers keep their last four only.
pub fn mask_phone(phone: &str) -> String {
    let p = phone.trim();
    if p.chars().count() == 11 && p.starts_with('1') {
        keep_ends(p, 3, 4)
    } else {
        keep_ends(p, 0, 4)
    }
}

fn keep_ends(s: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= head + tail || chars.len() <= 8 && head > 0 {
        return "*".repeat(chars.len());
    }
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < head || i >= chars.len() - tail {
                *c
            } else {
                '*'
            }
        })
        .collect()
}

/// Why an ID number (公民身份号码) is invalid. Holds no digit of the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdNumberError {
    /// Not 18 characters long (after trimming); holds the length found.
    #[error("has {0} characters, not 18")]
    Length(usize),
    /// One of the first 17 characters is not a digit, or the last is neither a digit nor `X`.
    #[error("has a character that is not a digit (only the last may be X)")]
    NotDigits,
    /// The birth date (characters 7–14) does not exist or is not from 1900 to this year.
    #[error("has an impossible birth date")]
    BirthDate,
    /// The check digit does not match the first 17 (GB 11643, ISO 7064 MOD 11-2).
    #[error("has a wrong check digit (GB 11643)")]
    CheckDigit,
}

/// Checks an 18-character ID number: 17 digits and a check digit (`0`–`9` or `X`, GB 11643
/// ISO 7064 MOD 11-2), with a birth date (characters 7–14) that exists, from 1900 to this year.
/// Returns the number in canonical form (upper-case `X`, trimmed).
pub fn check_id_number(s: &str) -> Result<String, IdNumberError> {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let id: String = s.trim().to_uppercase();
    let n = id.chars().count();
    if n != 18 {
        return Err(IdNumberError::Length(n));
    }
    let b = id.as_bytes();
    if !b[..17].iter().all(u8::is_ascii_digit) || !(b[17].is_ascii_digit() || b[17] == b'X') {
        return Err(IdNumberError::NotDigits);
    }
    let num = |r: std::ops::Range<usize>| {
        b[r].iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    let (y, m, d) = (num(6..10), num(10..12), num(12..14));
    if !(1900..=current_year()).contains(&y) || !(1..=12).contains(&m) || d == 0 {
        return Err(IdNumberError::BirthDate);
    }
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if d > days {
        return Err(IdNumberError::BirthDate);
    }
    let sum: u32 = b[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(c, w)| u32::from(c - b'0') * w)
        .sum();
    if CHECK[(sum % 11) as usize] != b[17] {
        return Err(IdNumberError::CheckDigit);
    }
    Ok(id)
}

/// The check digit for the first 17 digits of an ID number (for generating test data).
pub fn id_check_digit(first17: &str) -> Option<char> {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let b = first17.as_bytes();
    if b.len() != 17 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = b
        .iter()
        .zip(WEIGHTS)
        .map(|(c, w)| u32::from(c - b'0') * w)
        .sum();
    Some(char::from(b"10X98765432"[(sum % 11) as usize]))
}

fn current_year() -> u32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Days to civil year (Howard Hinnant's algorithm, year part only).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let y = yoe + era * 400 + i64::from(mp >= 10);
    u32::try_from(y).unwrap_or(2100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_numbers_are_checked_without_echoing_them() {
        assert_eq!(
            check_id_number(" 11010519491231002x ").unwrap(),
            "11010519491231002X"
        );
        let e = check_id_number("110105194912310021").unwrap_err();
        assert_eq!(e, IdNumberError::CheckDigit);
        assert!(!e.to_string().contains("1101"));
        assert_eq!(check_id_number("1101"), Err(IdNumberError::Length(4)));
        // 1900-02-29 does not exist; 2000-02-29 does.
        let mk = |body: &str| format!("{body}{}", id_check_digit(body).unwrap());
        assert_eq!(
            check_id_number(&mk("32060219000229001")),
            Err(IdNumberError::BirthDate)
        );
        assert!(check_id_number(&mk("32060220000229001")).is_ok());
        assert_eq!(
            check_id_number(&mk("32060218991231001")),
            Err(IdNumberError::BirthDate)
        );
        assert_eq!(
            check_id_number("3206021990010A001X"),
            Err(IdNumberError::NotDigits)
        );
        assert!(current_year() >= 2025);
    }

    #[test]
    fn masks() {
        assert_eq!(mask_id_number("320602199001011234"), "3206**********1234");
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("测试甲乙"), "测***");
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("0513-83123456"), "*********3456");
        assert_eq!(mask_id_number("1234"), "****");
        let p = Person {
            id: "p1".into(),
            house: "h1".into(),
            name: "测试甲".into(),
            id_number: Some("320602199001011234".into()),
            occupation: None,
            employer: None,
            relation: None,
            marital_status: None,
            hukou_match: None,
            phone: Some("13812345678".into()),
            residence: None,
        };
        let d = format!("{p:?}");
        assert!(!d.contains("测试甲") && !d.contains("320602199001011234"));
        assert!(!d.contains("13812345678"));
    }

    #[test]
    fn house_natures_read_their_variants() {
        for n in HouseNature::ALL {
            assert_eq!(HouseNature::parse(n.as_str()), Some(n));
        }
        assert_eq!(HouseNature::parse("①自购房"), Some(HouseNature::Purchased));
        assert_eq!(HouseNature::parse("其它"), Some(HouseNature::Other));
        assert_eq!(HouseNature::parse("别墅"), None);
    }
}
