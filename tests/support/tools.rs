//! External reference tools (GDAL's `ogrinfo`/`ogr2ogr`, PROJ's `cs2cs`) that some tests compare
//! against. Outside CI a missing tool skips the test with a message; under CI (`CI=true`),
//! where `scripts/setup.sh` installs them, a missing tool fails the test instead of letting it
//! pass without checking anything. Shared by the crates' tests through `#[path]`.

/// Whether `tool` runs (`tool --version`). Panics under `CI=true` when it does not.
pub fn have(tool: &str) -> bool {
    let ok = std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok();
    if !ok {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(
            !ci,
            "{tool} is not installed, and under CI a reference test may not skip: run scripts/setup.sh"
        );
        eprintln!("SKIPPED: {tool} is not installed (scripts/setup.sh installs it)");
    }
    ok
}
