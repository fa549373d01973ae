//! `gridmap address parse`: one JSON object a line, errors per line, never a failed run.

use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn parses_each_line_and_reports_unreadable_ones() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gridmap"))
        .args(["address", "parse"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gridmap runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all("阳光花园三幢二单元301室\n阳光花园3-2-301\n３幢２单元３０１室\n\n".as_bytes())
        .expect("written");
    let out = child.wait_with_output().expect("finished");
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(
        lines[0]["normalized"], lines[1]["normalized"],
        "spelled and dashed forms share a key"
    );
    assert_eq!(lines[0]["levels"]["building"], "3");
    assert_eq!(lines[0]["levels"]["unit"], "2");
    assert_eq!(lines[0]["levels"]["room"], "301");
    assert_eq!(lines[0]["levels"]["province"], serde_json::Value::Null);
    assert_eq!(lines[2]["levels"]["room"], "301", "full-width digits");
    assert!(
        lines[3]["error"].is_string(),
        "an empty line is an error, not a crash"
    );
}
