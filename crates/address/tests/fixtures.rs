//! Conformance fixtures: every line of `tests/fixtures/addresses.jsonl` holds an address and
//! its expected parse (`normalized`, the non-null `levels`, `warnings`) or its `error`. The test
//! fails on any mismatch and prints each difference. `BLESS=1 cargo test -p gridmap-address
//! --test fixtures` rewrites the file from the current parser: review the diff before keeping it.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde_json::{Map, Value, json};

fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/addresses.jsonl")
}

/// The expected-record shape of the current parse of `input`.
fn actual(input: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("input".into(), json!(input));
    match gridmap_address::parse(input) {
        Ok(p) => {
            m.insert("normalized".into(), json!(p.normalized));
            let levels = match serde_json::to_value(&p.levels) {
                Ok(Value::Object(l)) => l.into_iter().filter(|(_, v)| !v.is_null()).collect(),
                other => panic!("levels serialise to an object, got {other:?}"),
            };
            m.insert("levels".into(), Value::Object(levels));
            if !p.warnings.is_empty() {
                m.insert("warnings".into(), json!(p.warnings));
            }
        }
        Err(e) => {
            m.insert("error".into(), json!(e.to_string()));
        }
    }
    m
}

#[test]
fn every_fixture_parses_as_expected() {
    let path = fixture_path();
    let text = std::fs::read_to_string(&path).expect("fixture file");
    let bless = std::env::var_os("BLESS").is_some();
    let mut report = String::new();
    let mut blessed = Vec::new();
    let mut count = 0;
    for (no, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let want: Map<String, Value> = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("line {}: not a JSON object: {e}", no + 1));
        let input = want["input"].as_str().expect("input is a string");
        let mut got = actual(input);
        count += 1;
        if let Some(note) = want.get("note") {
            got.insert("note".into(), note.clone());
        }
        if bless {
            blessed.push(serde_json::to_string(&got).expect("serialise"));
            continue;
        }
        if got != want {
            let _ = writeln!(report, "line {} {input:?}:", no + 1);
            let keys: std::collections::BTreeSet<&String> = want.keys().chain(got.keys()).collect();
            for k in keys {
                let (w, g) = (want.get(k), got.get(k));
                if w != g {
                    let _ = writeln!(report, "  {k}: expected {}", fmt(w));
                    let _ = writeln!(report, "  {k}:      got {}", fmt(g));
                }
            }
        }
    }
    if bless {
        std::fs::write(&path, blessed.join("\n") + "\n").expect("rewrite fixtures");
        return;
    }
    assert!(count >= 200, "only {count} fixtures");
    assert!(report.is_empty(), "fixture mismatches:\n{report}");
}

fn fmt(v: Option<&Value>) -> String {
    v.map_or_else(|| "(absent)".to_string(), Value::to_string)
}

/// The spelled, Chinese-numeral, full-width and dashed forms of one address share one key.
#[test]
fn fixture_variants_share_keys() {
    let groups: &[&[&str]] = &[
        &[
            "阳光花园3幢2单元301室",
            "阳光花园三栋二单元301",
            "阳光花园3-2-301",
            "阳光花园３－２－３０１",
            "阳光花园3号楼2门301房",
            "阳光花园3#楼2单元3层301号",
            "阳光花园 3 2 301",
        ],
        &[
            "中山东一路12号",
            "中山东一路十二号",
            "中山东一路１２",
            " 中山东一路，12号。",
        ],
        &[
            "东方村3组12号",
            "东方村第三村民小组12号",
            "东方村村委会三组12",
        ],
        &["南京东路98~114号", "南京东路98-114", "南京东路98－114号"],
    ];
    for g in groups {
        let keys: Vec<String> = g
            .iter()
            .map(|s| gridmap_address::normalize(s).unwrap_or_else(|e| panic!("{s}: {e}")))
            .collect();
        assert!(keys.iter().all(|k| *k == keys[0]), "{g:?} → {keys:?}");
    }
}
