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

/// `gridmap init` of the demo town at `p`, then `gridmap import` of each (layer, file of
/// `data/demo`).
pub fn demo_project(p: &Path, layers: &[(&str, &str)]) {
    let out = gridmap(&["init", s(p), "--town", "演示镇", "--code", "310101001"]);
    assert!(out.status.success(), "init: {}", stderr(&out));
    for (layer, file) in layers {
        let out = gridmap(&["import", s(p), "--layer", layer, s(&demo(file))]);
        assert!(out.status.success(), "import {layer}: {}", stderr(&out));
    }
}

/// `gridmap user add` with `password` on standard input; what it answered.
pub fn user_add(p: &Path, username: &str, role: &str, scope: &str, password: &str) -> Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_gridmap"))
        .args(["user", "add", s(p), "--username", username, "--role", role])
        .args(["--scope", scope, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gridmap runs");
    if let Some(mut stdin) = child.stdin.take() {
        // The command may refuse before it reads; a closed pipe is fine then.
        let _ = writeln!(stdin, "{password}");
    }
    child.wait_with_output().expect("gridmap ends")
}

/// [`user_add`] that must succeed.
pub fn user_added(p: &Path, username: &str, role: &str, scope: &str, password: &str) {
    let out = user_add(p, username, role, scope, password);
    assert!(
        out.status.success(),
        "user add {username}: {}",
        stderr(&out)
    );
}

/// Starts `command serve PROJECT --bind 127.0.0.1:0 [EXTRA…]`; the child and the port it
/// printed. What it prints after is read and dropped, so that a full pipe never stalls it.
pub fn serve(
    mut command: std::process::Command,
    project: &Path,
    extra: &[&str],
) -> (std::process::Child, u16) {
    use std::io::BufRead;
    let mut server = command
        .args(["serve", s(project), "--bind", "127.0.0.1:0"])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("serve");
    let mut line = String::new();
    let mut out = std::io::BufReader::new(server.stdout.take().expect("stdout"));
    out.read_line(&mut line).expect("first line");
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let port: u16 = line
        .trim()
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    (server, port)
}

/// Kills a process (by id) when dropped, so that a failing test leaves no server behind.
pub struct KillOnDrop(pub u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &self.0.to_string()])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// One HTTP/1.1 request that may fail (the server may be gone): (status, body).
pub fn try_http(
    port: u16,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, out.split_once("\r\n\r\n")?.1.to_string()))
}
