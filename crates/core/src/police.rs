//! A police population extract's rows (派出所人口数据), as the reader in `gridmap-io` checks
//! them and the reconciliation in `gridmap-store` compares them with the register (同增同减).
//!
//! A row's status decides whether the register is expected to hold the person: those who
//! moved out, whose registration was cancelled or who died ([`PoliceStatus::is_gone`]) are not.
//!
//! ```
//! use gridmap_core::police::PoliceStatus;
//! assert_eq!(PoliceStatus::parse("常住人口"), Some(PoliceStatus::Resident));
//! assert!(PoliceStatus::parse("已注销").is_some_and(PoliceStatus::is_gone));
//! assert!(!PoliceStatus::Temporary.is_gone());
//! ```

use serde::Serialize;

use crate::register::{mask_id_number, mask_name};

/// A person's status in the police register (人员状态).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PoliceStatus {
    /// 常住 (also 户籍, 常住人口): registered resident.
    Resident,
    /// 暂住 (also 流入, 流动, 寄住): temporary resident, inflow.
    Temporary,
    /// 境外: foreigner.
    Foreign,
    /// 迁出 (also 流出): moved out.
    MovedOut,
    /// 注销: the registration was cancelled.
    Cancelled,
    /// 死亡: deceased.
    Deceased,
}

impl PoliceStatus {
    /// Every status.
    pub const ALL: [PoliceStatus; 6] = [
        PoliceStatus::Resident,
        PoliceStatus::Temporary,
        PoliceStatus::Foreign,
        PoliceStatus::MovedOut,
        PoliceStatus::Cancelled,
        PoliceStatus::Deceased,
    ];

    /// `常住`, `暂住`, `境外`, `迁出`, `注销`, `死亡`.
    pub fn as_str(self) -> &'static str {
        match self {
            PoliceStatus::Resident => "常住",
            PoliceStatus::Temporary => "暂住",
            PoliceStatus::Foreign => "境外",
            PoliceStatus::MovedOut => "迁出",
            PoliceStatus::Cancelled => "注销",
            PoliceStatus::Deceased => "死亡",
        }
    }

    /// Reads a status and its usual variants (`常住人口`, `流入`, `流动人口`, `流出`, `已注销`).
    pub fn parse(s: &str) -> Option<Self> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let s = s.strip_prefix('已').unwrap_or(&s);
        let s = s.strip_suffix("人口").unwrap_or(s);
        let s = s.strip_suffix("人员").unwrap_or(s);
        Some(match s {
            "常住" | "户籍" | "在册" | "正常" => PoliceStatus::Resident,
            "暂住" | "流入" | "流动" | "寄住" => PoliceStatus::Temporary,
            "境外" => PoliceStatus::Foreign,
            "迁出" | "流出" | "离开" => PoliceStatus::MovedOut,
            "注销" => PoliceStatus::Cancelled,
            "死亡" => PoliceStatus::Deceased,
            _ => return None,
        })
    }

    /// Whether the person is no longer here (迁出, 注销, 死亡): the register is not expected
    /// to hold them.
    pub fn is_gone(self) -> bool {
        matches!(
            self,
            PoliceStatus::MovedOut | PoliceStatus::Cancelled | PoliceStatus::Deceased
        )
    }
}

/// One person of a police extract, checked: the ID number is valid and canonical, the name
/// is there, and so is the address unless the person is gone.
#[derive(Clone, PartialEq, Eq)]
pub struct PoliceRow {
    /// The row number in the file, 1-based as a spreadsheet shows it.
    pub row: usize,
    /// Citizen ID number, canonical (see `check_id_number`). Personal data.
    pub id_number: String,
    /// Name. Personal data.
    pub name: String,
    /// Where the person lives, as written (not yet normalised); may be empty for a person
    /// who is gone.
    pub address: String,
    /// The police's house code, as written.
    pub house_code: Option<String>,
    /// The status, `None` when the extract has no status column or the cell is blank (taken
    /// as living here).
    pub status: Option<PoliceStatus>,
}

impl std::fmt::Debug for PoliceRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoliceRow")
            .field("row", &self.row)
            .field("id_number", &mask_id_number(&self.id_number))
            .field("name", &mask_name(&self.name))
            .field("address", &self.address)
            .field("house_code", &self.house_code)
            .field("status", &self.status)
            .finish()
    }
}
