//! Reader for household forms (城乡社区网格住户基础信息登记表): one person a row, as `.xlsx` or
//! `.csv` (UTF-8, or GBK detected and decoded).
//!
//! # How a form is read
//!
//! 1. **Cells**: the first sheet that holds anything (`.xlsx`), or the CSV records. Numbers are
//!    written without a decimal part (`13812345678`, not `13812345678.0`).
//! 2. **Header**: among the first ten rows, the one in which most cells read as a known column
//!    title. Titles are compared without spaces, line breaks, `*` marks and bracketed notes
//!    (`身份证号码（18位）` reads as `身份证号码`), and each column accepts its usual variants
//!    (see [`Column::titles`]). A header cell merged down over several rows takes the merged
//!    value; a header cell merged *across* columns is an error naming the cells, since it
//!    cannot say which column is which. `住址` and `姓名` are required.
//! 3. **Rows**: each non-empty row after the header becomes a [`FormRow`] or a
//!    [`RejectedRow`] with every reason found. A blank address continues the household above
//!    (a one-household block with a merged address cell); so does a blank house nature.
//!
//! # Privacy
//!
//! Reasons name the row and the column, never a name, an ID number or a phone number.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use calamine::{Data, Reader, Xlsx, open_workbook};
use gridmap_core::register::{FormRow, HouseNature, Residence, check_id_number};
use rustc_hash::FxHashMap;
use serde::Serialize;

/// The longest address accepted, in characters.
pub const MAX_ADDRESS_CHARS: usize = 200;
/// The longest other text cell accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 100;

/// A column of the household form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Column {
    /// 住址: the house's address; required. The register import rejects one that does not go
    /// down to 栋/号.
    Address,
    /// 姓名: the person's name; required.
    Name,
    /// 身份证号: the citizen ID number, checked (GB 11643) when present.
    IdNumber,
    /// 联系电话: phone number.
    Phone,
    /// 职业: occupation.
    Occupation,
    /// 工作单位: employer or place of work.
    Employer,
    /// 与户主关系: relation to the head of household.
    Relation,
    /// 婚姻状况: marital status.
    MaritalStatus,
    /// 人户一致: whether residence matches household registration (`是`/`否` and variants).
    HukouMatch,
    /// 房屋性质: the house's nature (see `HouseNature`).
    Nature,
    /// 备注: remarks.
    Remarks,
    /// 人口类型: 户籍, 流入, 流出 or 境外 (see `Residence`); optional, not on the town's form.
    Residence,
}

impl Column {
    /// Every column, in the form's usual order.
    pub const ALL: [Column; 12] = [
        Column::Address,
        Column::Name,
        Column::IdNumber,
        Column::Phone,
        Column::Occupation,
        Column::Employer,
        Column::Relation,
        Column::MaritalStatus,
        Column::HukouMatch,
        Column::Nature,
        Column::Remarks,
        Column::Residence,
    ];

    /// The form's title for the column, used in messages.
    pub fn title(self) -> &'static str {
        self.titles()[0]
    }

    /// The titles read as this column, preferred first: when two columns of a form read as the
    /// same column, the one with the earlier title wins (`姓名` over `户主姓名`).
    pub fn titles(self) -> &'static [&'static str] {
        match self {
            Column::Address => &[
                "住址",
                "地址",
                "详细地址",
                "现住址",
                "居住地址",
                "现居住地址",
                "房屋地址",
                "门牌地址",
                "现居住地",
            ],
            Column::Name => &["姓名", "居民姓名", "人员姓名", "户主姓名"],
            Column::IdNumber => &[
                "身份证号",
                "身份证号码",
                "公民身份号码",
                "公民身份证号码",
                "身份证",
                "证件号码",
            ],
            Column::Phone => &[
                "联系电话",
                "手机号码",
                "手机号",
                "电话号码",
                "手机",
                "电话",
                "联系方式",
            ],
            Column::Occupation => &["职业"],
            Column::Employer => &["工作单位", "工作单位名称", "单位", "服务处所"],
            Column::Relation => &["与户主关系", "与户主的关系", "关系"],
            Column::MaritalStatus => &["婚姻状况", "婚姻状态", "婚姻"],
            Column::HukouMatch => &["人户一致", "是否人户一致", "人户是否一致"],
            Column::Nature => &["房屋性质", "住房性质", "房屋类型"],
            Column::Remarks => &["备注"],
            Column::Residence => &["人口类型", "人员类型", "居住类型", "户口类型", "户籍类型"],
        }
    }
}

/// A row left out, with every reason found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedRow {
    /// 1-based, as a spreadsheet shows it.
    pub row: usize,
    /// Every reason found, joined by `; `; names columns, never personal data.
    pub reason: String,
}

/// A form as read: good rows, rejected rows, and how the header was understood.
#[derive(Debug, Clone)]
pub struct HouseholdForm {
    /// The good rows, in file order (blank addresses and natures filled from the row above).
    pub rows: Vec<FormRow>,
    /// The rows left out, in file order.
    pub rejected: Vec<RejectedRow>,
    /// The header row, 1-based.
    pub header_row: usize,
    /// Each recognised column with the title it had in the file.
    pub columns: Vec<(Column, String)>,
    /// Titles that read as no column (kept out of the import).
    pub ignored_columns: Vec<String>,
    /// `xlsx`, `UTF-8` or `GBK`.
    pub encoding: &'static str,
}

/// Why a form cannot be read at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormError {
    /// The file cannot be opened or is not a readable workbook or CSV file.
    #[error("{path}: {message}")]
    Open {
        /// The form's path.
        path: PathBuf,
        /// Why, from the file system, the workbook or the CSV reader.
        message: String,
    },
    /// A CSV file that is neither UTF-8 nor GBK.
    #[error("{path}: neither UTF-8 nor GBK text; save the CSV as UTF-8")]
    Encoding {
        /// The form's path.
        path: PathBuf,
    },
    /// No cell holds anything.
    #[error("{path}: the sheet is empty ({sheets})")]
    Empty {
        /// The form's path.
        path: PathBuf,
        /// What was found: `no sheet`, the names of the (empty) sheets, or `no row with data`.
        sheets: String,
    },
    /// A header cell is merged across columns, so the columns under it have no title of
    /// their own.
    #[error(
        "{path}: header cells {cells} are merged across columns; unmerge them so that each column has its own title"
    )]
    MergedHeader {
        /// The form's path.
        path: PathBuf,
        /// The merged ranges, in A1 notation.
        cells: String,
    },
    /// None of the first ten rows reads as a header.
    #[error("{path}: no header row in the first 10 rows (expected titles such as {expected})")]
    NoHeader {
        /// The form's path.
        path: PathBuf,
        /// Titles that would have been recognised, for the message.
        expected: String,
    },
    /// The header lacks a required column (`住址` or `姓名`).
    #[error("{path}: row {row}: no {missing} column (accepted titles: {accepted})")]
    MissingColumn {
        /// The form's path.
        path: PathBuf,
        /// The header row, 1-based.
        row: usize,
        /// The missing column's title.
        missing: &'static str,
        /// Every title accepted for it, comma-separated.
        accepted: String,
    },
    /// Two header cells read as the same column with equally preferred titles, so neither
    /// can be chosen.
    #[error("{path}: row {row}: columns {first} and {second} both read as {column}")]
    DuplicateColumn {
        /// The form's path.
        path: PathBuf,
        /// The header row, 1-based.
        row: usize,
        /// The column both read as, by its title.
        column: &'static str,
        /// The first cell, in A1 notation with its title.
        first: String,
        /// The second cell, likewise.
        second: String,
    },
}

/// Reads a household form, `.xlsx` or `.csv` by extension.
///
/// # Performance
/// Linear in the cells; a 100,000-row form reads in about a second (most of it unzipping and
/// parsing the XLSX XML).
pub fn read_households(path: &Path) -> Result<HouseholdForm, FormError> {
    let (table, merges, encoding) = read_table(path, "a household form")?;
    parse_table(path, table, &merges, encoding)
}

/// The cells of `.xlsx` or `.csv` file `path` (by extension), its merged regions and its
/// encoding (`xlsx`, `UTF-8` or `GBK`); `what` names the file's kind in the message for
/// another extension (`a household form`).
pub(crate) fn read_table(
    path: &Path,
    what: &str,
) -> Result<(Table, Vec<Merge>, &'static str), FormError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "xlsx" | "xlsm" => {
            let (t, m) = read_xlsx(path)?;
            Ok((t, m, "xlsx"))
        }
        "csv" | "txt" => {
            let bytes = std::fs::read(path).map_err(|e| FormError::Open {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
            let (t, enc) = read_csv(path, &bytes)?;
            Ok((t, Vec::new(), enc))
        }
        _ => Err(FormError::Open {
            path: path.to_path_buf(),
            message: format!("{what} must be .xlsx or .csv (save .xls and .et files as .xlsx)"),
        }),
    }
}

/// Reads a household form from CSV bytes (UTF-8 or GBK); `path` only names it in messages.
pub fn read_households_csv(path: &Path, bytes: &[u8]) -> Result<HouseholdForm, FormError> {
    let (t, enc) = read_csv(path, bytes)?;
    parse_table(path, t, &[], enc)
}

/// Rows as (1-based row number, cells from column A).
pub(crate) type Table = Vec<(usize, Vec<String>)>;
/// A merged region: (first row, first column, last row, last column), 0-based.
pub(crate) type Merge = (u32, u32, u32, u32);

fn read_xlsx(path: &Path) -> Result<(Table, Vec<Merge>), FormError> {
    let open = |message: String| FormError::Open {
        path: path.to_path_buf(),
        message,
    };
    let mut wb: Xlsx<_> =
        open_workbook(path).map_err(|e| open(format!("not a readable .xlsx file: {e}")))?;
    let names = wb.sheet_names();
    for name in &names {
        let range = wb
            .worksheet_range(name)
            .map_err(|e| open(format!("sheet '{name}': {e}")))?;
        if range.is_empty() || range.used_cells().all(|(_, _, c)| cell(c).is_empty()) {
            continue;
        }
        let (r0, c0) = range.start().unwrap_or((0, 0));
        let table = range
            .rows()
            .enumerate()
            .map(|(i, row)| {
                let mut cells = vec![String::new(); c0 as usize];
                cells.extend(row.iter().map(cell));
                (r0 as usize + i + 1, cells)
            })
            .collect();
        let merges = match wb.worksheet_merge_cells(name) {
            Some(Ok(dims)) => dims
                .iter()
                .map(|d| (d.start.0, d.start.1, d.end.0, d.end.1))
                .collect(),
            Some(Err(e)) => return Err(open(format!("sheet '{name}': merged cells: {e}"))),
            None => Vec::new(),
        };
        return Ok((table, merges));
    }
    Err(FormError::Empty {
        path: path.to_path_buf(),
        sheets: if names.is_empty() {
            "no sheet".into()
        } else {
            format!("every sheet is empty: {}", names.join(", "))
        },
    })
}

fn cell(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Int(i) => i.to_string(),
        other => other.to_string().trim().to_string(),
    }
}

pub(crate) fn read_csv(path: &Path, bytes: &[u8]) -> Result<(Table, &'static str), FormError> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let (text, enc): (Cow<str>, &'static str) = match std::str::from_utf8(body) {
        Ok(s) => (Cow::Borrowed(s), "UTF-8"),
        Err(_) => {
            match encoding_rs::GBK.decode_without_bom_handling_and_without_replacement(body) {
                Some(s) => (s, "GBK"),
                None => {
                    return Err(FormError::Encoding {
                        path: path.to_path_buf(),
                    });
                }
            }
        }
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut table: Table = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| FormError::Open {
            path: path.to_path_buf(),
            message: format!("CSV: {e}"),
        })?;
        let line = rec
            .position()
            .map_or(table.len() + 1, |p| p.line() as usize);
        table.push((line, rec.iter().map(|c| c.trim().to_string()).collect()));
    }
    if table
        .iter()
        .all(|(_, cells)| cells.iter().all(String::is_empty))
    {
        return Err(FormError::Empty {
            path: path.to_path_buf(),
            sheets: "no row with data".into(),
        });
    }
    Ok((table, enc))
}

/// A title as compared: no spaces, line breaks, `*` marks or bracketed notes.
pub(crate) fn clean_title(s: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    for c in s.chars() {
        match c {
            '(' | '（' | '[' | '【' => depth += 1,
            ')' | '）' | ']' | '】' => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            c if c.is_whitespace() || matches!(c, '*' | '＊' | ':' | '：') => {}
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn a1(row: u32, col: u32) -> String {
    let mut c = col + 1;
    let mut letters = Vec::new();
    while c > 0 {
        let r = (c - 1) % 26;
        letters.push(char::from(b'A' + r as u8));
        c = (c - 1) / 26;
    }
    letters.iter().rev().collect::<String>() + &(row + 1).to_string()
}

/// The columns a sheet reader recognises by their titles.
pub(crate) trait Titled: Copy + Eq + std::hash::Hash + 'static {
    /// Every column, in the sheet's usual order.
    const ALL: &'static [Self];
    /// The titles read as the column, preferred first; the first names it in messages.
    fn titles(self) -> &'static [&'static str];
}

impl Titled for Column {
    const ALL: &'static [Self] = &Column::ALL;
    fn titles(self) -> &'static [&'static str] {
        Column::titles(self)
    }
}

/// The column a title reads as, with its rank among the column's titles.
pub(crate) fn column_in<C: Titled>(title: &str) -> Option<(C, usize)> {
    let t = clean_title(title);
    C::ALL.iter().find_map(|&c| {
        c.titles()
            .iter()
            .position(|x| *x == t)
            .map(|rank| (c, rank))
    })
}

/// A sheet's header as understood.
pub(crate) struct Header<C> {
    /// Cells up to the last titled one.
    pub width: usize,
    /// Each recognised column's index (0-based).
    pub index: FxHashMap<C, usize>,
    /// Each recognised column with its title in the file, in [`Titled::ALL`] order.
    pub columns: Vec<(C, String)>,
    /// Titles that read as no column, or lost to a preferred title of the same column.
    pub ignored: Vec<String>,
}

/// Finds the header of `table` ([`locate_header`]) and its columns: when two cells read as
/// the same column, the one with the earlier title wins, and equal titles are
/// [`FormError::DuplicateColumn`]; a column of `required` missing is
/// [`FormError::MissingColumn`]. Answers the header's index in `table` and the header.
pub(crate) fn read_header<C: Titled>(
    path: &Path,
    table: &mut Table,
    merges: &[Merge],
    required: &[C],
    expected: &str,
) -> Result<(usize, Header<C>), FormError> {
    let hi = locate_header(
        path,
        table,
        merges,
        |c| column_in::<C>(c).is_some(),
        || expected.into(),
    )?;
    let header_row = table[hi].0;
    let h0 = u32::try_from(header_row - 1).unwrap_or(u32::MAX);
    let header = &table[hi].1;
    let width = header
        .iter()
        .rposition(|c| !c.is_empty())
        .map_or(0, |i| i + 1);
    let mut chosen: FxHashMap<C, (usize, usize)> = FxHashMap::default();
    let mut ignored = Vec::new();
    for (i, title) in header.iter().enumerate().take(width) {
        match column_in::<C>(title) {
            Some((col, rank)) => match chosen.get(&col) {
                Some(&(j, r)) if r == rank => {
                    return Err(FormError::DuplicateColumn {
                        path: path.to_path_buf(),
                        row: header_row,
                        column: col.titles()[0],
                        first: format!("{} '{}'", a1(h0, j as u32), header[j]),
                        second: format!("{} '{}'", a1(h0, i as u32), title),
                    });
                }
                Some(&(_, r)) if r < rank => ignored.push(header[i].clone()),
                Some(&(j, _)) => {
                    ignored.push(header[j].clone());
                    chosen.insert(col, (i, rank));
                }
                None => {
                    chosen.insert(col, (i, rank));
                }
            },
            None if !title.is_empty() => ignored.push(title.clone()),
            None => {}
        }
    }
    for &need in required {
        if !chosen.contains_key(&need) {
            return Err(FormError::MissingColumn {
                path: path.to_path_buf(),
                row: header_row,
                missing: need.titles()[0],
                accepted: need.titles().join(", "),
            });
        }
    }
    let columns: Vec<(C, String)> = C::ALL
        .iter()
        .filter_map(|c| chosen.get(c).map(|(i, _)| (*c, header[*i].clone())))
        .collect();
    let index = chosen.iter().map(|(c, (i, _))| (*c, *i)).collect();
    Ok((
        hi,
        Header {
            width,
            index,
            columns,
            ignored,
        },
    ))
}

/// Checks the ID number `v` of row `row` (see `check_id_number`) and that no earlier row of
/// `seen` has it: the canonical number unless it is invalid, and what is wrong, if anything
/// (`has a wrong check digit (GB 11643)`, `repeats row 3`), never echoing the number.
pub(crate) fn checked_id(
    v: &str,
    row: usize,
    seen: &mut FxHashMap<String, usize>,
) -> (Option<String>, Option<String>) {
    match check_id_number(v) {
        Ok(id) => match seen.get(&id) {
            Some(first) => (Some(id), Some(format!("repeats row {first}"))),
            None => {
                seen.insert(id.clone(), row);
                (Some(id), None)
            }
        },
        Err(e) => (None, Some(e.to_string())),
    }
}

/// The header among the first ten rows of `table`: the row in which most cells are titles
/// (`is_title`), at least two; its index in `table`. A header cell merged down takes the value
/// of the region's top cell; one merged across columns is [`FormError::MergedHeader`]; no such
/// row is [`FormError::NoHeader`] with `expected` titles.
pub(crate) fn locate_header(
    path: &Path,
    table: &mut Table,
    merges: &[Merge],
    is_title: impl Fn(&str) -> bool,
    expected: impl FnOnce() -> String,
) -> Result<usize, FormError> {
    // The header: the row among the first ten with the most cells that read as columns.
    let scored = table.iter().take(10).enumerate().map(|(i, (_, cells))| {
        let n = cells.iter().filter(|c| is_title(c)).count();
        (i, n)
    });
    let Some((hi, _)) = scored
        .fold(None, |best: Option<(usize, usize)>, (i, n)| match best {
            Some((_, bn)) if bn >= n => best,
            _ => Some((i, n)),
        })
        .filter(|(_, n)| *n >= 2)
    else {
        return Err(FormError::NoHeader {
            path: path.to_path_buf(),
            expected: expected(),
        });
    };
    let header_row = table[hi].0;
    let h0 = u32::try_from(header_row - 1).unwrap_or(u32::MAX);
    for &(r0, c0, r1, c1) in merges {
        if (r0..=r1).contains(&h0) {
            if c1 > c0 {
                return Err(FormError::MergedHeader {
                    path: path.to_path_buf(),
                    cells: format!("{}:{}", a1(r0, c0), a1(r1, c1)),
                });
            }
            // Merged down: the title sits in the region's top cell.
            if r0 < h0 {
                let top = table
                    .iter()
                    .find(|(n, _)| *n == r0 as usize + 1)
                    .and_then(|(_, cells)| cells.get(c0 as usize).cloned())
                    .unwrap_or_default();
                let cells = &mut table[hi].1;
                if cells.len() <= c0 as usize {
                    cells.resize(c0 as usize + 1, String::new());
                }
                cells[c0 as usize] = top;
            }
        }
    }
    Ok(hi)
}

fn parse_table(
    path: &Path,
    mut table: Table,
    merges: &[Merge],
    encoding: &'static str,
) -> Result<HouseholdForm, FormError> {
    let (hi, header) = read_header(
        path,
        &mut table,
        merges,
        &[Column::Address, Column::Name],
        "住址, 姓名, 身份证号, 联系电话, 与户主关系, 房屋性质",
    )?;
    let Header {
        width,
        index,
        columns,
        ignored,
        ..
    } = header;
    let header_row = table[hi].0;

    let mut form = HouseholdForm {
        rows: Vec::new(),
        rejected: Vec::new(),
        header_row,
        columns,
        ignored_columns: ignored,
        encoding,
    };
    let mut seen_ids: FxHashMap<String, usize> = FxHashMap::default();
    let mut household_address = String::new();
    let mut household_nature: Option<HouseNature> = None;
    for (row, cells) in table.iter().skip(hi + 1) {
        let used = cells
            .iter()
            .rposition(|c| !c.is_empty())
            .map_or(0, |i| i + 1);
        if used == 0 {
            continue;
        }
        let get = |c: Column| -> &str {
            index
                .get(&c)
                .and_then(|i| cells.get(*i))
                .map_or("", |s| s.as_str())
        };
        let mut why: Vec<String> = Vec::new();
        if used > width {
            why.push(format!("has {used} cells, the header has {width} columns"));
        }
        let text = |c: Column, why: &mut Vec<String>| -> Option<String> {
            let v = get(c);
            if v.chars().count() > MAX_TEXT_CHARS {
                why.push(format!(
                    "{} has {} characters; at most {MAX_TEXT_CHARS}",
                    c.title(),
                    v.chars().count()
                ));
                return None;
            }
            (!v.is_empty()).then(|| v.to_string())
        };
        let mut address = get(Column::Address).to_string();
        let n = address.chars().count();
        if n > MAX_ADDRESS_CHARS {
            why.push(format!(
                "{} has {n} characters; at most {MAX_ADDRESS_CHARS}",
                Column::Address.title()
            ));
        } else if address.is_empty() {
            if household_address.is_empty() {
                why.push(format!("{} is empty", Column::Address.title()));
            } else {
                address = household_address.clone();
            }
        }
        let new_household = !get(Column::Address).is_empty();
        let name = get(Column::Name).to_string();
        if name.is_empty() {
            why.push(format!("{} is empty", Column::Name.title()));
        } else if name.chars().count() > 50 {
            why.push(format!("{} is too long", Column::Name.title()));
        }
        let id_number = match get(Column::IdNumber) {
            "" => None,
            v => match checked_id(v, *row, &mut seen_ids) {
                (id, Some(e)) => {
                    why.push(format!("{} {e}", Column::IdNumber.title()));
                    id
                }
                (id, None) => id,
            },
        };
        let phone = match get(Column::Phone) {
            "" => None,
            v => {
                let digits: String = v
                    .chars()
                    .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
                    .collect();
                let digits = digits.strip_prefix("+86").unwrap_or(&digits).to_string();
                if (7..=12).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
                    Some(digits)
                } else {
                    why.push(format!("{} is not a phone number", Column::Phone.title()));
                    None
                }
            }
        };
        let hukou_match = match get(Column::HukouMatch) {
            "" => None,
            v => match v.to_lowercase().as_str() {
                "是" | "一致" | "y" | "yes" | "√" | "✓" | "1" | "true" => Some(true),
                "否" | "不一致" | "n" | "no" | "×" | "✗" | "0" | "false" => Some(false),
                _ => {
                    why.push(format!(
                        "{} '{}' is not 是 or 否",
                        Column::HukouMatch.title(),
                        v.chars().take(10).collect::<String>()
                    ));
                    None
                }
            },
        };
        let nature = match get(Column::Nature) {
            "" if new_household => None,
            "" => household_nature,
            v => match HouseNature::parse(v) {
                Some(n) => Some(n),
                None => {
                    why.push(format!(
                        "{} '{}' is not one of {}",
                        Column::Nature.title(),
                        v.chars().take(10).collect::<String>(),
                        HouseNature::ALL.map(HouseNature::as_str).join(" ")
                    ));
                    None
                }
            },
        };
        let occupation = text(Column::Occupation, &mut why);
        let employer = text(Column::Employer, &mut why);
        let relation = text(Column::Relation, &mut why);
        let marital_status = text(Column::MaritalStatus, &mut why);
        let remarks = text(Column::Remarks, &mut why);
        let residence = match get(Column::Residence) {
            "" => None,
            v => match Residence::parse(v) {
                Some(r) => Some(r),
                None => {
                    why.push(format!(
                        "{} '{}' is not one of {}",
                        Column::Residence.title(),
                        v.chars().take(10).collect::<String>(),
                        Residence::ALL.map(Residence::as_str).join(" ")
                    ));
                    None
                }
            },
        };
        if n <= MAX_ADDRESS_CHARS && !address.is_empty() {
            household_address = address.clone();
            household_nature = nature;
        }
        if why.is_empty() {
            form.rows.push(FormRow {
                row: *row,
                address,
                name,
                id_number,
                phone,
                occupation,
                employer,
                relation,
                marital_status,
                hukou_match,
                nature,
                remarks,
                residence,
            });
        } else {
            form.rejected.push(RejectedRow {
                row: *row,
                reason: why.join("; "),
            });
        }
    }
    Ok(form)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_read_with_their_variants_and_notes() {
        assert_eq!(
            column_in::<Column>("公民身份号码"),
            Some((Column::IdNumber, 2))
        );
        assert_eq!(
            column_in::<Column>("身份证号码（18位）"),
            Some((Column::IdNumber, 1))
        );
        assert_eq!(column_in::<Column>(" 姓 名 *"), Some((Column::Name, 0)));
        assert_eq!(
            column_in::<Column>("是否人户一致"),
            Some((Column::HukouMatch, 1))
        );
        assert_eq!(column_in::<Column>("性别"), None);
        assert_eq!(a1(0, 0), "A1");
        assert_eq!(a1(2, 27), "AB3");
    }

    #[test]
    fn gbk_csv_is_decoded_and_garbage_is_refused() {
        let text = "住址,姓名,身份证号\n中山东一路12号,测试甲,\n";
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        let form = read_households_csv(Path::new("f.csv"), &gbk).unwrap();
        assert_eq!(form.encoding, "GBK");
        assert_eq!(form.rows.len(), 1);
        assert_eq!(form.rows[0].name, "测试甲");
        let e = read_households_csv(Path::new("f.csv"), b"\xff\xfe\xff\x00,\x81").unwrap_err();
        assert!(e.to_string().contains("neither UTF-8 nor GBK"), "{e}");
    }
}
