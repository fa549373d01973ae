//! Helpers for end-to-end tests: run the real `gridmap` binary and read what it wrote.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A file of the demo dataset.
pub fn demo(name: &str) -> PathBuf {
    root().join("data/demo").join(name)
}

/// Runs `gridmap` with `args`.
pub fn gridmap(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_gridmap"))
        .args(args)
        .output()
        .expect("the gridmap binary runs")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("the file was written");
    serde_json::from_str(&text).expect("the file is JSON")
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}
