//! Embeds the web app in the server: every file of `web/app/` at its path under `/`, and the
//! ES modules and styles the app imports from `web/node_modules/NAME/dist/` (as
//! `web/package-lock.json` pins them; `scripts/setup.sh` runs `npm ci`) under `/vendor/NAME/`.
//! Source maps, type declarations, CommonJS/UMD and development builds are left out.
//!
//! Writes `$OUT_DIR/web_assets.rs`: `static ASSETS: &[(&str, &str, &[u8])]` (path, ETag,
//! contents), sorted by path. The ETag is the FNV-1a hash of the contents.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The vendored packages, as in `src/lib.rs`'s `VENDOR`.
const VENDOR: [&str; 3] = [
    "maplibre-gl",
    "terra-draw",
    "terra-draw-maplibre-gl-adapter",
];

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Whether a file of a package's `dist/` is one the browser loads.
fn served(name: &str) -> bool {
    let module = name.ends_with(".mjs") || name.ends_with(".module.js") || name.ends_with(".css");
    module && !name.contains("-dev")
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let web = manifest.join("../../web");
    let app = web.join("app");
    println!("cargo:rerun-if-changed={}", app.display());
    println!(
        "cargo:rerun-if-changed={}",
        web.join("package-lock.json").display()
    );
    let mut assets: Vec<(String, PathBuf)> = Vec::new();
    let mut app_files = Vec::new();
    files_under(&app, &mut app_files);
    for f in app_files {
        println!("cargo:rerun-if-changed={}", f.display());
        if let Ok(rel) = f.strip_prefix(&app) {
            let url = format!("/{}", rel.to_string_lossy().replace('\\', "/"));
            assets.push((url, f));
        }
    }
    let mut missing = Vec::new();
    for name in VENDOR {
        let dist = web.join("node_modules").join(name).join("dist");
        println!("cargo:rerun-if-changed={}", dist.display());
        let Ok(entries) = std::fs::read_dir(&dist) else {
            missing.push(name);
            continue;
        };
        for e in entries.flatten() {
            let file = e.file_name().to_string_lossy().to_string();
            if e.path().is_file() && served(&file) {
                assets.push((format!("/vendor/{name}/{file}"), e.path()));
            }
        }
    }
    if !missing.is_empty() {
        println!(
            "cargo:warning=the web app's modules {} are missing from web/node_modules: the binary will serve the app without them; run scripts/setup.sh (npm ci in web/) and build again",
            missing.join(", ")
        );
    }
    assets.sort();
    let mut code = String::from(
        "/// The embedded web app: (URL path, ETag, contents), sorted by path.\npub static ASSETS: &[(&str, &str, &[u8])] = &[\n",
    );
    for (url, path) in &assets {
        let abs = path.canonicalize().unwrap_or_else(|_| path.clone());
        let bytes = std::fs::read(&abs).unwrap_or_default();
        let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let etag = format!("\"{hash:016x}\"");
        let _ = writeln!(
            code,
            "    ({url:?}, {etag:?}, include_bytes!({:?})),",
            abs.display().to_string()
        );
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("web_assets.rs");
    if let Err(e) = std::fs::write(&out, code) {
        panic!("cannot write {}: {e}", out.display());
    }
}
