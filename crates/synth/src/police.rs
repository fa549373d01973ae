//! Synthetic police extracts with planted differences, made from a register, for testing the
//! reconciliation (同增同减) against counts known in advance.
//!
//! From the register's people (with their house's address), [`police_extract`] writes the
//! police's view of the same town, and plants, each on people of its own:
//!
//! - **removed**: people of the register left out (register only);
//! - **moved**: people listed at another house's address (address mismatch);
//! - **variants**: people listed at their own address written otherwise — full-width digits
//!   (`１００号`), the traditional `號`, spaces between the levels, or all three — which must
//!   still match;
//! - **added**: new people (fresh valid ID numbers) at addresses of the register (police only);
//! - **gone**: new people listed as 迁出, 注销 or 死亡, whom the register is not expected to
//!   hold (counted nowhere).
//!
//! Everyone else is listed as they are registered. The rows come out shuffled, numbered as in a
//! file with the header on row 1 ([`to_csv`] writes that file). The same register, plan and
//! seed give the same extract.
//!
//! ```
//! use gridmap_synth::police::{PolicePlan, RegisterEntry, police_extract};
//! let register: Vec<RegisterEntry> = (0..20)
//!     .map(|i| RegisterEntry {
//!         id_number: Some(format!("11010519900101{:03}{}", i, 'X')),
//!         name: format!("测试{i}"),
//!         address: format!("中山东一路{}号{}室", i / 4 + 1, 101 + i % 4),
//!     })
//!     .collect();
//! let plan = PolicePlan { added: 2, removed: 3, moved: 1, variants: 4, gone: 1, seed: 7 };
//! let (rows, expected) = police_extract(&register, &plan);
//! assert_eq!(rows.len(), 20 - 3 + 2 + 1);
//! assert_eq!((expected.matched, expected.police_only, expected.register_only), (17, 2, 3));
//! ```

use gridmap_core::police::{PoliceRow, PoliceStatus};
use gridmap_core::register::id_check_digit;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use std::collections::HashSet;

/// A person of the register, as an extract is made from it. Personal data (synthetic in
/// tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterEntry {
    /// The ID number, `None` when the register has none (such a person cannot be matched and
    /// is never in the extract).
    pub id_number: Option<String>,
    /// The name.
    pub name: String,
    /// The address of their house, as the register writes it.
    pub address: String,
}

/// What to plant; the counts are of people, each planted on different ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PolicePlan {
    /// New people at addresses of the register: police only.
    pub added: usize,
    /// People of the register left out: register only.
    pub removed: usize,
    /// People listed at another house's address: address mismatches.
    pub moved: usize,
    /// People listed at their own address written otherwise: still matched, same address.
    pub variants: usize,
    /// New people listed as gone (迁出, 注销, 死亡): counted nowhere.
    pub gone: usize,
    /// Seed of the generator.
    pub seed: u64,
}

/// The figures a correct reconciliation of the extract gives (see
/// `gridmap_store::reconcile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlantedCounts {
    /// Rows of people living here.
    pub police: usize,
    /// People of the register.
    pub register: usize,
    /// In both.
    pub matched: usize,
    /// Of those, at the same address (the variants included).
    pub matched_same_address: usize,
    /// Added.
    pub police_only: usize,
    /// Removed, and people of the register without an ID number.
    pub register_only: usize,
    /// Moved.
    pub address_mismatch: usize,
    /// Rows of people gone.
    pub police_gone: usize,
}

/// The ways a variant writes an address; each keeps its standard-address key.
pub const VARIANTS: [&str; 4] = ["full-width digits", "號 for 号", "spaces", "all three"];

/// `s` with its digits full-width, `号` written `號`, or spaces after the level words, as
/// variant `k` of [`VARIANTS`] says.
pub fn variant(s: &str, k: usize) -> String {
    let full = |s: &str| -> String {
        s.chars()
            .map(|c| match c {
                '0'..='9' => char::from_u32(c as u32 + 0xFEE0).unwrap_or(c),
                c => c,
            })
            .collect()
    };
    let trad = |s: &str| s.replace('号', "號");
    let spaced = |s: &str| -> String {
        let mut out = String::new();
        for c in s.chars() {
            out.push(c);
            if matches!(
                c,
                '市' | '区' | '路' | '道' | '街' | '号' | '號' | '幢' | '栋'
            ) {
                out.push(' ');
            }
        }
        out.trim_end().to_string()
    };
    match k % VARIANTS.len() {
        0 => full(s),
        1 => trad(s),
        2 => spaced(s),
        _ => spaced(&trad(&full(s))),
    }
}

/// An extract of `register` with `plan`'s differences, and the counts a reconciliation must
/// find. Plants at most as many as there are people with an ID number to plant on (removed
/// first, then moved, then variants); `moved` needs two different addresses in the register.
pub fn police_extract(
    register: &[RegisterEntry],
    plan: &PolicePlan,
) -> (Vec<PoliceRow>, PlantedCounts) {
    let mut rng = Pcg64::seed_from_u64(plan.seed);
    let mut order: Vec<usize> = (0..register.len())
        .filter(|i| register[*i].id_number.is_some())
        .collect();
    order.shuffle(&mut rng);
    let with_id = order.len();
    let removed = plan.removed.min(order.len());
    let (_, rest) = order.split_at(removed);
    let moved = plan.moved.min(rest.len());
    let (to_move, rest) = rest.split_at(moved);
    let variants = plan.variants.min(rest.len());
    let (to_vary, rest) = rest.split_at(variants);
    let status = |rng: &mut Pcg64| {
        if rng.random_bool(0.2) {
            PoliceStatus::Temporary
        } else {
            PoliceStatus::Resident
        }
    };
    let mut rows = Vec::new();
    let push = |rows: &mut Vec<PoliceRow>, id: &str, name: &str, address: String, s| {
        rows.push(PoliceRow {
            row: 0,
            id_number: id.to_string(),
            name: name.to_string(),
            address,
            house_code: None,
            status: Some(s),
        })
    };
    let mut addresses: Vec<&str> = register.iter().map(|p| p.address.as_str()).collect();
    addresses.sort_unstable();
    addresses.dedup();
    let mut mismatches = 0;
    for &i in to_move {
        let p = &register[i];
        // Another house's address: the next one along that differs.
        let at = addresses
            .binary_search(&p.address.as_str())
            .unwrap_or_else(|e| e);
        let other = (1..addresses.len())
            .map(|k| addresses[(at + k) % addresses.len()])
            .find(|a| *a != p.address);
        let Some(other) = other else { continue };
        mismatches += 1;
        let s = status(&mut rng);
        push(
            &mut rows,
            p.id_number.as_deref().unwrap_or_default(),
            &p.name,
            other.to_string(),
            s,
        );
    }
    for (k, &i) in to_vary.iter().enumerate() {
        let p = &register[i];
        let s = status(&mut rng);
        push(
            &mut rows,
            p.id_number.as_deref().unwrap_or_default(),
            &p.name,
            variant(&p.address, k),
            s,
        );
    }
    for &i in rest {
        let p = &register[i];
        let s = status(&mut rng);
        push(
            &mut rows,
            p.id_number.as_deref().unwrap_or_default(),
            &p.name,
            p.address.clone(),
            s,
        );
    }
    // New people: fresh ID numbers that the register does not hold.
    let mut taken: HashSet<String> = register
        .iter()
        .filter_map(|p| p.id_number.clone())
        .collect();
    let mut fresh = |rng: &mut Pcg64| loop {
        let body = format!(
            "320602{}{:02}{:02}{:03}",
            rng.random_range(1950..2005),
            rng.random_range(1..=12),
            rng.random_range(1..=28),
            rng.random_range(0..1000)
        );
        let id = format!("{body}{}", id_check_digit(&body).unwrap_or('0'));
        if taken.insert(id.clone()) {
            return id;
        }
    };
    for n in 0..plan.added {
        let id = fresh(&mut rng);
        let address = if addresses.is_empty() {
            "中山东一路1号".to_string()
        } else {
            addresses[rng.random_range(0..addresses.len())].to_string()
        };
        push(
            &mut rows,
            &id,
            &format!("测试新{}", n + 1),
            address,
            PoliceStatus::Temporary,
        );
    }
    let gone = [
        PoliceStatus::MovedOut,
        PoliceStatus::Cancelled,
        PoliceStatus::Deceased,
    ];
    for n in 0..plan.gone {
        let id = fresh(&mut rng);
        let address = if n % 2 == 0 && !addresses.is_empty() {
            addresses[rng.random_range(0..addresses.len())].to_string()
        } else {
            String::new()
        };
        push(
            &mut rows,
            &id,
            &format!("测试离{}", n + 1),
            address,
            gone[n % gone.len()],
        );
    }
    rows.shuffle(&mut rng);
    for (i, r) in rows.iter_mut().enumerate() {
        r.row = i + 2;
        if rng.random_bool(0.5) {
            r.house_code = Some(format!("FW{:08}", rng.random_range(0..100_000_000u32)));
        }
    }
    let matched = with_id - removed;
    let counts = PlantedCounts {
        police: matched + plan.added,
        register: register.len(),
        matched,
        matched_same_address: matched - mismatches,
        police_only: plan.added,
        register_only: removed + (register.len() - with_id),
        address_mismatch: mismatches,
        police_gone: plan.gone,
    };
    (rows, counts)
}

/// The extract as a UTF-8 CSV file: a header of usual police titles (公民身份号码, 姓名, 现住址,
/// 房屋编码, 人员状态), then the rows in order (row 2 onwards).
pub fn to_csv(rows: &[PoliceRow]) -> String {
    let quote = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out = String::from("公民身份号码,姓名,现住址,房屋编码,人员状态\n");
    for r in rows {
        out += &format!(
            "{},{},{},{},{}\n",
            quote(&r.id_number),
            quote(&r.name),
            quote(&r.address),
            quote(r.house_code.as_deref().unwrap_or_default()),
            r.status.map_or("", PoliceStatus::as_str)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_keep_the_words_and_change_the_writing() {
        let a = "上海市浦东新区世纪大道100号601室";
        assert_eq!(variant(a, 0), "上海市浦东新区世纪大道１００号６０１室");
        assert_eq!(variant(a, 1), "上海市浦东新区世纪大道100號601室");
        assert_eq!(variant(a, 2), "上海市 浦东新区 世纪大道 100号 601室");
        assert_eq!(variant(a, 3), "上海市 浦东新区 世纪大道 １００號 ６０１室");
    }
}
