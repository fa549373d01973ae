//! Reader for population extracts from the police station (派出所): one person a row, as `.xlsx`
//! or `.csv` (UTF-8, or GBK/GB18030 detected and decoded), compared each month with the grid
//! register (同增同减, see `gridmap reconcile`).
//!
//! # How an extract is read
//!
//! The cells, the header and its title variants are read as the household form's are (see
//! [`crate::households`]: the first sheet holding anything, the header among the first ten
//! rows, titles compared without spaces, `*` marks and bracketed notes). The columns are
//! [`PoliceColumn`]: the ID number and the address are required, as is the name; the house code
//! and the person's status are optional. The address read is where the person *lives*
//! (现住址/居住地址/地址 …): a column of the household registration address (户籍地址) is left
//! out, since the register is compared by residence.
//!
//! Every row must be good: an empty or bad ID number (GB 11643 check digit, birth date), an ID
//! number repeated, an empty name or address, an unknown status, a cell too long, or more cells
//! than the header are row errors. The reader answers the rows or every row error (all or
//! nothing, [`PoliceError::Rejected`]); an extract without rows is [`PoliceError::NoRows`].
//!
//! # Privacy
//!
//! Errors name the file, the row as the spreadsheet numbers it and the column (letter and
//! title), never a name or an ID number; [`PoliceRow`]'s `Debug` masks them.

use std::path::{Path, PathBuf};

use gridmap_core::police::{PoliceRow, PoliceStatus};
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::households::{
    FormError, Header, MAX_ADDRESS_CHARS, MAX_TEXT_CHARS, RejectedRow, Titled, a1, checked_id,
    read_csv, read_header, read_table,
};

/// How many row errors [`PoliceError::Rejected`] prints before it says "and N more".
pub const LISTED_ROWS: usize = 50;

/// A column of a police extract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PoliceColumn {
    /// 公民身份号码: the citizen ID number; required, checked (GB 11643).
    IdNumber,
    /// 姓名: required.
    Name,
    /// 现住址: where the person lives; required.
    Address,
    /// 房屋编码: the police's code of the house, optional; kept for the exchange file.
    HouseCode,
    /// 人员状态: 常住, 暂住, 流入, 迁出, 注销, 死亡 … (see [`PoliceStatus`]); optional.
    Status,
}

impl PoliceColumn {
    /// Every column, in the usual order.
    pub const ALL: [PoliceColumn; 5] = [
        PoliceColumn::IdNumber,
        PoliceColumn::Name,
        PoliceColumn::Address,
        PoliceColumn::HouseCode,
        PoliceColumn::Status,
    ];

    /// The titles read as this column, preferred first.
    pub fn titles(self) -> &'static [&'static str] {
        match self {
            PoliceColumn::IdNumber => &[
                "公民身份号码",
                "身份证号",
                "身份证号码",
                "公民身份证号码",
                "身份证",
                "证件号码",
                "证件号",
            ],
            PoliceColumn::Name => &["姓名", "人员姓名", "居民姓名"],
            PoliceColumn::Address => &[
                "现住址",
                "居住地址",
                "现居住地址",
                "实际居住地址",
                "地址",
                "住址",
                "详细地址",
                "现居住地",
                "居住地",
            ],
            PoliceColumn::HouseCode => &["房屋编码", "房屋编号", "房屋代码", "地址编码"],
            PoliceColumn::Status => &["人员状态", "状态", "人口状态", "登记状态"],
        }
    }

    /// The column's preferred title, used in messages.
    pub fn title(self) -> &'static str {
        self.titles()[0]
    }
}

impl Titled for PoliceColumn {
    const ALL: &'static [Self] = &PoliceColumn::ALL;
    fn titles(self) -> &'static [&'static str] {
        PoliceColumn::titles(self)
    }
}

/// A police extract as read.
#[derive(Debug, Clone)]
pub struct PoliceExtract {
    /// Every row, in file order.
    pub rows: Vec<PoliceRow>,
    /// The header row, 1-based.
    pub header_row: usize,
    /// Each recognised column with its title in the file.
    pub columns: Vec<(PoliceColumn, String)>,
    /// Titles that read as no column (left out).
    pub ignored_columns: Vec<String>,
    /// `xlsx`, `UTF-8` or `GBK`.
    pub encoding: &'static str,
}

/// Why a police extract cannot be used. Messages name rows and columns, never personal data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoliceError {
    /// The file cannot be read, or its header is wrong (no ID number column, …).
    #[error(transparent)]
    File(#[from] FormError),
    /// The header is there but no row follows it.
    #[error("{path}: no person under the header (row {header_row})")]
    NoRows {
        /// The extract's path.
        path: PathBuf,
        /// The header row, 1-based.
        header_row: usize,
    },
    /// Rows with errors: the extract is refused whole. Every such row, in file order.
    #[error("{path}: {} rows with errors, nothing compared or changed:{}", .rows.len(), listed(.rows))]
    Rejected {
        /// The extract's path.
        path: PathBuf,
        /// Every row with an error and its reasons.
        rows: Vec<RejectedRow>,
    },
}

fn listed(rows: &[RejectedRow]) -> String {
    let mut s: String = rows
        .iter()
        .take(LISTED_ROWS)
        .map(|r| format!("\n  row {}: {}", r.row, r.reason))
        .collect();
    if rows.len() > LISTED_ROWS {
        s += &format!("\n  … and {} more", rows.len() - LISTED_ROWS);
    }
    s
}

/// Reads a police extract, `.xlsx` or `.csv` by extension.
///
/// # Performance
/// Linear in the cells, as [`crate::households::read_households`].
pub fn read_police(path: &Path) -> Result<PoliceExtract, PoliceError> {
    let (table, merges, encoding) = read_table(path, "a police extract")?;
    parse(path, table, &merges, encoding)
}

/// Reads a police extract from CSV bytes (UTF-8 or GBK); `path` only names it in messages.
pub fn read_police_csv(path: &Path, bytes: &[u8]) -> Result<PoliceExtract, PoliceError> {
    let (table, encoding) = read_csv(path, bytes)?;
    parse(path, table, &[], encoding)
}

fn parse(
    path: &Path,
    mut table: crate::households::Table,
    merges: &[crate::households::Merge],
    encoding: &'static str,
) -> Result<PoliceExtract, PoliceError> {
    let (hi, header) = read_header(
        path,
        &mut table,
        merges,
        &[
            PoliceColumn::IdNumber,
            PoliceColumn::Name,
            PoliceColumn::Address,
        ],
        "公民身份号码, 姓名, 现住址, 房屋编码, 人员状态",
    )?;
    let Header {
        width,
        index,
        columns,
        ignored,
    } = header;
    let header_row = table[hi].0;
    let mut rows = Vec::new();
    let mut rejected = Vec::new();
    let mut seen: FxHashMap<String, usize> = FxHashMap::default();
    for (row, cells) in table.iter().skip(hi + 1) {
        let used = cells
            .iter()
            .rposition(|c| !c.is_empty())
            .map_or(0, |i| i + 1);
        if used == 0 {
            continue;
        }
        let r0 = u32::try_from(row - 1).unwrap_or(u32::MAX);
        // `B 姓名`: the cell's column letter and the column's title.
        let at = |c: PoliceColumn| -> String {
            let i = index.get(&c).copied().unwrap_or(0);
            let letter: String = a1(r0, i as u32)
                .chars()
                .take_while(char::is_ascii_uppercase)
                .collect();
            format!("column {letter} {}", c.title())
        };
        let get = |c: PoliceColumn| -> &str {
            index
                .get(&c)
                .and_then(|i| cells.get(*i))
                .map_or("", |s| s.as_str())
        };
        let mut why: Vec<String> = Vec::new();
        if used > width {
            why.push(format!("has {used} cells, the header has {width} columns"));
        }
        let id_number = match get(PoliceColumn::IdNumber) {
            "" => {
                why.push(format!("{} is empty", at(PoliceColumn::IdNumber)));
                None
            }
            v => {
                let (id, wrong) = checked_id(v, *row, &mut seen);
                if let Some(e) = wrong {
                    why.push(format!("{} {e}", at(PoliceColumn::IdNumber)));
                }
                id
            }
        };
        let name = get(PoliceColumn::Name);
        if name.is_empty() {
            why.push(format!("{} is empty", at(PoliceColumn::Name)));
        } else if name.chars().count() > 50 {
            why.push(format!("{} is too long", at(PoliceColumn::Name)));
        }
        let status = match get(PoliceColumn::Status) {
            "" => None,
            v => match PoliceStatus::parse(v) {
                Some(s) => Some(s),
                None => {
                    why.push(format!(
                        "{} '{}' is not one of {}",
                        at(PoliceColumn::Status),
                        v.chars().take(10).collect::<String>(),
                        PoliceStatus::ALL.map(PoliceStatus::as_str).join(" ")
                    ));
                    None
                }
            },
        };
        let address = get(PoliceColumn::Address);
        let n = address.chars().count();
        if n > MAX_ADDRESS_CHARS {
            why.push(format!(
                "{} has {n} characters; at most {MAX_ADDRESS_CHARS}",
                at(PoliceColumn::Address)
            ));
        } else if address.is_empty() && !status.is_some_and(PoliceStatus::is_gone) {
            why.push(format!("{} is empty", at(PoliceColumn::Address)));
        }
        let house_code = match get(PoliceColumn::HouseCode) {
            "" => None,
            v if v.chars().count() > MAX_TEXT_CHARS => {
                why.push(format!(
                    "{} has {} characters; at most {MAX_TEXT_CHARS}",
                    at(PoliceColumn::HouseCode),
                    v.chars().count()
                ));
                None
            }
            v => Some(v.to_string()),
        };
        match id_number {
            Some(id_number) if why.is_empty() => rows.push(PoliceRow {
                row: *row,
                id_number,
                name: name.to_string(),
                address: address.to_string(),
                house_code,
                status,
            }),
            _ => rejected.push(RejectedRow {
                row: *row,
                reason: why.join("; "),
            }),
        }
    }
    if !rejected.is_empty() {
        return Err(PoliceError::Rejected {
            path: path.to_path_buf(),
            rows: rejected,
        });
    }
    if rows.is_empty() {
        return Err(PoliceError::NoRows {
            path: path.to_path_buf(),
            header_row,
        });
    }
    Ok(PoliceExtract {
        rows,
        header_row,
        columns,
        ignored_columns: ignored,
        encoding,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridmap_core::register::id_check_digit;

    fn id(body: &str) -> String {
        format!("{body}{}", id_check_digit(body).unwrap())
    }

    fn read(text: &str) -> Result<PoliceExtract, PoliceError> {
        read_police_csv(Path::new("police.csv"), text.as_bytes())
    }

    #[test]
    fn header_variants_and_statuses_are_read() {
        let (a, b) = (id("11010519900101001"), id("11010519900101002"));
        let text = format!(
            "派出所人口信息\n序号,身份证号码（18位）,人员姓名,户籍地址,居住地址,房屋编号,人口状态\n\
             1,{a},测试甲,北京,世纪大道100号601室,H1,常住人口\n2,{b},测试乙,北京,,,已注销\n"
        );
        let e = read(&text).unwrap();
        assert_eq!(e.header_row, 2);
        assert_eq!(e.rows.len(), 2);
        assert_eq!(e.rows[0].address, "世纪大道100号601室");
        assert_eq!(e.rows[0].house_code.as_deref(), Some("H1"));
        assert_eq!(e.rows[0].status, Some(PoliceStatus::Resident));
        assert_eq!(e.rows[1].status, Some(PoliceStatus::Cancelled));
        assert!(
            e.rows[1].address.is_empty(),
            "a person gone needs no address"
        );
        assert_eq!(e.ignored_columns, ["序号", "户籍地址"]);
        let d = format!("{:?}", e.rows[0]);
        assert!(!d.contains(&a) && !d.contains("测试甲"), "{d}");
    }

    #[test]
    fn every_bad_row_is_named_by_row_and_column_without_personal_data() {
        let good = id("11010519900101001");
        let bad = format!(
            "{}{}",
            &good[..17],
            if good.ends_with('0') { '1' } else { '0' }
        );
        let text = format!(
            "姓名,证件号码,现住址,状态\n测试甲,{good},A路1号,常住\n测试乙,{bad},A路2号,常住\n\
             测试丙,{good},A路3号,常住\n,{},,出差\n",
            id("11010519900101003")
        );
        let e = read(&text).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("police.csv: 3 rows with errors"), "{msg}");
        assert!(
            msg.contains("row 3: column B 公民身份号码 has a wrong check digit"),
            "{msg}"
        );
        assert!(
            msg.contains("row 4: column B 公民身份号码 repeats row 2"),
            "{msg}"
        );
        assert!(msg.contains("row 5: column A 姓名 is empty"), "{msg}");
        assert!(
            msg.contains("column D 人员状态 '出差' is not one of"),
            "{msg}"
        );
        assert!(msg.contains("column C 现住址 is empty"), "{msg}");
        assert!(!msg.contains(&good[..10]) && !msg.contains("测试"), "{msg}");
    }

    #[test]
    fn every_bad_row_is_kept_and_the_message_lists_fifty() {
        let rows: String = (0..60)
            .map(|i| format!("测试{i},1234,A路{i}号\n"))
            .collect();
        let e = read(&format!("姓名,公民身份号码,现住址\n{rows}")).unwrap_err();
        let PoliceError::Rejected { rows, .. } = &e else {
            panic!("{e}")
        };
        assert_eq!(rows.len(), 60);
        assert_eq!(rows[59].row, 61);
        let msg = e.to_string();
        assert!(
            msg.contains("row 51: column B 公民身份号码 has 4 characters, not 18"),
            "{msg}"
        );
        assert!(
            !msg.contains("row 52:") && msg.ends_with("… and 10 more"),
            "{msg}"
        );
    }

    #[test]
    fn wrong_columns_gbk_and_empty_files() {
        let e = read("姓名,现住址,电话\n测试甲,A路1号,1\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("police.csv: row 1: no 公民身份号码 column"),
            "{e}"
        );
        let e = read("姓名,公民身份号码,现住址\n").unwrap_err();
        assert!(
            matches!(e, PoliceError::NoRows { header_row: 1, .. }),
            "{e}"
        );
        let e = read("").unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
        let text = format!(
            "姓名,公民身份号码,现住址\n测试甲,{},世纪大道100號\n",
            id("11010519900101001")
        );
        let (gbk, _, _) = encoding_rs::GBK.encode(&text);
        let e = read_police_csv(Path::new("p.csv"), &gbk).unwrap();
        assert_eq!(e.encoding, "GBK");
        assert_eq!(e.rows[0].name, "测试甲");
        assert_eq!(e.rows[0].address, "世纪大道100號");
    }
}
