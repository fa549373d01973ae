//! Times parsing and normalising 1,000,000 synthetic addresses (issue 4 target: under 2 s):
//! `cargo run --release -p gridmap-address --example bench_parse [N]`.

use std::time::Instant;

const ROADS: &[&str] = &[
    "中山东一路",
    "南京东路",
    "四川中路",
    "陆家嘴环路",
    "张杨路628弄",
    "九江路",
];
const COMPOUNDS: &[&str] = &["阳光花园", "建设路小区", "锦绣家园", "滨江苑", "东方新城"];
const TOWNS: &[&str] = &[
    "江苏省南通市启东市汇龙镇",
    "启东市汇龙镇",
    "上海市黄浦区",
    "上海市浦东新区",
];
const VILLAGES: &[&str] = &["东方村", "南阳村", "和平社区", "新港村"];
const CN: &[&str] = &[
    "一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二",
];

/// A small deterministic generator (no dependency on rand).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

fn full_width(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '0'..='9' | '-' => char::from_u32(c as u32 + 0xFEE0).unwrap_or(c),
            c => c,
        })
        .collect()
}

fn address(r: &mut Lcg) -> String {
    let (b, u, f, rm) = (r.next(30) + 1, r.next(6) + 1, r.next(30) + 1, r.next(4) + 1);
    let room = f * 100 + rm;
    let prefix = if r.next(2) == 0 {
        TOWNS[r.next(TOWNS.len())]
    } else {
        ""
    };
    let compound = COMPOUNDS[r.next(COMPOUNDS.len())];
    match r.next(8) {
        0 => format!("{prefix}{compound}{b}幢{u}单元{room}室"),
        1 => format!("{prefix}{compound}{b}-{u}-{room}"),
        2 => format!("{compound}{}栋{}单元{room}", CN[b % 12], CN[u % 12]),
        3 => full_width(&format!("{compound} {b}-{u}-{room}")),
        4 => format!(
            "{prefix}{}{}号",
            ROADS[r.next(ROADS.len())],
            r.next(2000) + 1
        ),
        5 => format!(
            "{prefix}{}{}组{}号",
            VILLAGES[r.next(VILLAGES.len())],
            CN[r.next(12)],
            r.next(200) + 1
        ),
        6 => format!("{compound}{b}号楼{u}门{f}层{room}房"),
        _ => format!(
            "{prefix}{}{}号{compound}{b}幢{u}单元{room}室",
            ROADS[0],
            r.next(99) + 1
        ),
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let mut r = Lcg(42);
    let inputs: Vec<String> = (0..n).map(|_| address(&mut r)).collect();
    // Load the division list outside the timed loop, as a long-running process would.
    let t = Instant::now();
    let divisions = gridmap_address::Divisions::embedded();
    println!(
        "loaded {} divisions in {:.1} ms",
        divisions.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    let t = Instant::now();
    let mut ok = 0usize;
    let mut bytes = 0usize;
    for s in &inputs {
        if let Ok(p) = gridmap_address::parse(s) {
            ok += 1;
            bytes += p.normalized.len();
        }
    }
    let dt = t.elapsed().as_secs_f64();
    println!(
        "parse (levels, key, division check): {n} addresses ({ok} ok, {bytes} key bytes) in {dt:.3} s: {:.0} addresses/s, {:.2} µs each",
        n as f64 / dt,
        dt * 1e6 / n as f64
    );
    let t = Instant::now();
    let ok = inputs
        .iter()
        .filter(|s| gridmap_address::normalize(s).is_ok())
        .count();
    let dt = t.elapsed().as_secs_f64();
    println!(
        "normalize (key only): {n} addresses ({ok} ok) in {dt:.3} s: {:.0} addresses/s",
        n as f64 / dt
    );
}
