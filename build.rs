//! Build script: find the ua-parser `regexes.yaml` that the `uaparser`
//! crate ships in its package and copy it to `OUT_DIR`, where `src/ua.rs`
//! embeds it with `include_bytes!`. The data file is not kept in this
//! repository; it comes with the locked version of the dependency.
//!
//! Where it looks, first hit wins:
//! 1. `UAPARSER_REGEXES`: an explicit path to a `regexes.yaml`.
//! 2. Vendored sources: every `directory = "..."` source replacement in a
//!    `.cargo/config.toml` (or `.cargo/config`) from this package up to the
//!    file-system root and in `$CARGO_HOME`, plus `./vendor`.
//! 3. The registry cache: `$CARGO_HOME/registry/src/*/` (`CARGO_HOME`
//!    defaults to `~/.cargo`).
//!
//! Among the `uaparser` packages found, the one whose version is locked in
//! `Cargo.lock` is used; failing that, the newest one (with a warning).
//! Finding none fails the build with a message saying what was searched.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

const CRATE: &str = "uaparser";
const DATA: &str = "src/core/regexes.yaml";
const OVERRIDE: &str = "UAPARSER_REGEXES";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    git_commit();
    println!("cargo:rerun-if-env-changed={OVERRIDE}");
    println!("cargo:rerun-if-env-changed=CARGO_HOME");

    let out_dir =
        PathBuf::from(env::var_os("OUT_DIR").unwrap_or_else(|| fail("OUT_DIR is not set")));
    let manifest_dir = PathBuf::from(
        env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| fail("CARGO_MANIFEST_DIR is not set")),
    );

    let source = match env::var_os(OVERRIDE) {
        Some(path) => {
            let path = PathBuf::from(path);
            if !path.is_file() {
                fail(&format!("{OVERRIDE}={} is not a file", path.display()));
            }
            path
        }
        None => find(&manifest_dir),
    };

    println!("cargo:rerun-if-changed={}", source.display());
    let data =
        fs::read(&source).unwrap_or_else(|e| fail(&format!("reading {}: {e}", source.display())));
    let target = out_dir.join("regexes.yaml");
    // Rewrite only on change, so a re-run does not force a recompile.
    if fs::read(&target).ok().as_deref() != Some(data.as_slice()) {
        if let Err(e) = fs::write(&target, &data) {
            fail(&format!("writing {}: {e}", target.display()));
        }
    }
}

/// `TESSERA_GIT_COMMIT` for `tessera --version` and `tessera_build_info`:
/// the variable of that name when set (a package build from a tarball),
/// else the checkout's commit (12 hex digits, `-dirty` never added: the
/// build is of the files, not of the index), else `unknown`.
fn git_commit() {
    const VAR: &str = "TESSERA_GIT_COMMIT";
    println!("cargo:rerun-if-env-changed={VAR}");
    let from_env = env::var(VAR).ok().filter(|v| !v.trim().is_empty());
    let commit = from_env.unwrap_or_else(|| {
        let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
        let git = manifest_dir.join(".git");
        // Re-run when HEAD moves: HEAD itself, the branch it names, and
        // packed refs.
        let head = git.join("HEAD");
        watch(&head);
        if let Some(r) = fs::read_to_string(&head)
            .ok()
            .and_then(|h| h.strip_prefix("ref: ").map(|r| r.trim().to_string()))
        {
            watch(&git.join(r));
        }
        watch(&git.join("packed-refs"));
        std::process::Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .current_dir(&manifest_dir)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .unwrap_or_else(|| "unknown".to_string())
    });
    println!("cargo:rustc-env={VAR}={}", commit.trim());
}

/// `rerun-if-changed` for a file that exists (naming a missing file makes
/// cargo re-run the script on every build).
fn watch(file: &Path) {
    if file.is_file() {
        println!("cargo:rerun-if-changed={}", file.display());
    }
}

/// The `regexes.yaml` of the best `uaparser` package found.
fn find(manifest_dir: &Path) -> PathBuf {
    let locked = locked_version(manifest_dir);
    let roots = search_roots(manifest_dir);

    let mut found: Vec<(Version, PathBuf)> = Vec::new();
    for root in &roots {
        let Ok(entries) = fs::read_dir(root) else {
            continue;
        };
        for entry in entries.flatten() {
            let dir = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            // Registry: `uaparser-0.6.4`; `cargo vendor`: `uaparser` or
            // `uaparser-0.6.4` (--versioned-dirs).
            if name != CRATE && !name.starts_with(&format!("{CRATE}-")) {
                continue;
            }
            let data = dir.join(DATA);
            if !data.is_file() {
                continue;
            }
            if let Some(version) = package_version(&dir.join("Cargo.toml")) {
                found.push((version, data));
            }
        }
    }

    if let Some(locked) = &locked {
        if let Some((_, path)) = found.iter().find(|(v, _)| v.text == *locked) {
            return path.clone();
        }
    }
    found.sort_by(|a, b| a.0.key.cmp(&b.0.key));
    if let Some((version, path)) = found.pop() {
        println!(
            "cargo:warning=uaparser {} is locked but not found; using the regexes of uaparser {}",
            locked.as_deref().unwrap_or("(unknown)"),
            version.text
        );
        return path;
    }

    let mut searched: Vec<String> = roots.iter().map(|r| format!("  {}", r.display())).collect();
    if searched.is_empty() {
        searched.push("  (none of the candidate directories exists)".to_string());
    }
    fail(&format!(
        "cannot find {DATA} of the {CRATE} package (locked version: {}).\n\
         Searched these directories for {CRATE}-*/{DATA}:\n{}\n\
         Fetch the dependencies first (`cargo fetch`), or set {OVERRIDE} to the path of a \
         ua-parser regexes.yaml.",
        locked.as_deref().unwrap_or("unknown"),
        searched.join("\n")
    ))
}

/// Directories that may hold unpacked packages.
fn search_roots(manifest_dir: &Path) -> Vec<PathBuf> {
    let cargo_home = cargo_home();
    let mut roots = Vec::new();

    // Source replacement by a local directory (`cargo vendor`).
    let mut configs = Vec::new();
    for dir in manifest_dir.ancestors() {
        configs.push((dir.join(".cargo").join("config.toml"), dir.to_path_buf()));
        configs.push((dir.join(".cargo").join("config"), dir.to_path_buf()));
    }
    if let Some(home) = &cargo_home {
        // Relative paths in $CARGO_HOME/config.toml are relative to $CARGO_HOME's parent.
        let base = home
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| home.clone());
        configs.push((home.join("config.toml"), base.clone()));
        configs.push((home.join("config"), base));
    }
    for (file, base) in configs {
        watch(&file);
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        for dir in directory_entries(&text) {
            let dir = PathBuf::from(dir);
            roots.push(if dir.is_absolute() {
                dir
            } else {
                base.join(dir)
            });
        }
    }
    roots.push(manifest_dir.join("vendor"));

    // The registry cache: one directory per registry.
    if let Some(home) = &cargo_home {
        if let Ok(registries) = fs::read_dir(home.join("registry").join("src")) {
            let mut registries: Vec<PathBuf> = registries.flatten().map(|e| e.path()).collect();
            registries.sort();
            roots.extend(registries);
        }
    }
    roots.retain(|r| r.is_dir());
    roots.dedup();
    roots
}

fn cargo_home() -> Option<PathBuf> {
    if let Some(home) = env::var_os("CARGO_HOME").filter(|h| !h.is_empty()) {
        return Some(PathBuf::from(home));
    }
    env::var_os("HOME")
        .or_else(|| env::var_os("USERPROFILE"))
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".cargo"))
}

/// The values of `directory = "..."` lines in a cargo config file (source
/// replacement). A line-based read is enough for this one key.
fn directory_entries(toml: &str) -> Vec<String> {
    toml.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            if key.trim() != "directory" {
                return None;
            }
            let value = value.trim();
            let value = value.split('#').next().unwrap_or(value).trim();
            let unquoted = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))?;
            Some(unquoted.to_string())
        })
        .collect()
}

/// The `uaparser` version in the workspace's `Cargo.lock` (looked for from
/// this package up).
fn locked_version(manifest_dir: &Path) -> Option<String> {
    let lock = manifest_dir
        .ancestors()
        .map(|d| d.join("Cargo.lock"))
        .find(|p| p.is_file())?;
    watch(&lock);
    let text = fs::read_to_string(lock).ok()?;
    package_field(&text, "[[package]]", "version")
}

/// The version of the `uaparser` package whose manifest this is.
fn package_version(manifest: &Path) -> Option<Version> {
    let text = fs::read_to_string(manifest).ok()?;
    let text = package_field(&text, "[package]", "version")?;
    Some(Version::parse(text))
}

/// In the `header` tables of a TOML file, the value of `field` in the table
/// whose `name` is `uaparser`.
fn package_field(toml: &str, header: &str, field: &str) -> Option<String> {
    let mut in_table = false;
    let mut name = None;
    let mut value = None;
    for line in toml.lines().map(str::trim) {
        if line.starts_with('[') {
            if in_table && name.as_deref() == Some(CRATE) {
                return value;
            }
            in_table = line == header;
            name = None;
            value = None;
            continue;
        }
        if !in_table {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        let raw = raw.trim().trim_matches('"').to_string();
        match key.trim() {
            "name" => name = Some(raw),
            k if k == field => value = Some(raw),
            _ => {}
        }
    }
    if in_table && name.as_deref() == Some(CRATE) {
        value
    } else {
        None
    }
}

struct Version {
    text: String,
    /// Numeric components for ordering (pre-release parts ignored).
    key: Vec<u64>,
}

impl Version {
    fn parse(text: String) -> Version {
        let core = text.split(['-', '+']).next().unwrap_or("");
        let key = core.split('.').map(|p| p.parse().unwrap_or(0)).collect();
        Version { text, key }
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}
