//! Helpers shared by integration tests.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kgen::config::load::Workspace;
use kgen::pipeline::Judged;
use kgen::render::{self, Rendered};

/// The crate root (holds `environments/` and `rendered/`).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/upstream` (or `$KGEN_SHARED/upstream`, which `.ci/run` sets).
pub fn upstream() -> PathBuf {
    match std::env::var_os("KGEN_SHARED") {
        Some(shared) => PathBuf::from(shared).join("upstream"),
        None => root().join("../shared/upstream"),
    }
}

/// [`upstream`] when it is there. A fresh clone has no `../shared` beside it: the test that needs
/// it prints one line and passes (`cargo test` must work there). Where `KGEN_SHARED` is set
/// (`.ci/run` sets it), a missing folder is a failure, never a skip.
pub fn upstream_or_skip(test: &str) -> Option<PathBuf> {
    let dir = upstream();
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(std::env::var_os("KGEN_SHARED").is_none(), "KGEN_SHARED is set but {} is missing", dir.display());
    println!("skipped {test}: needs ../shared/upstream (upstream data; .ci/run provides it)");
    None
}

/// Loads and resolves one example environment.
pub fn resolved_in(dir: &Path, name: &str) -> (Workspace, Judged) {
    let ws = Workspace::load(dir).expect("workspace loads");
    let c = kgen::pipeline::check(&ws, name);
    let r = c.judged.unwrap_or_else(|| panic!("{name} is invalid: {:#?}", c.diagnostics));
    (ws, r)
}

/// Renders one example environment of the repository in memory.
pub fn render_example(name: &str) -> Rendered {
    let (ws, r) = resolved_in(&root(), name);
    render::render(&r, &ws.sources).expect("renders")
}

/// The example environment names.
pub fn examples() -> Vec<String> {
    Workspace::load(&root()).unwrap().environment_names()
}

/// Parses a YAML file of a render.
pub fn parse(text: &str) -> serde_json::Value {
    kgen::yaml::from_str(text, kgen::yaml::Budget::Render).expect("rendered YAML parses")
}

/// Reads a whole folder into path → bytes.
pub fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let rel = e.path().strip_prefix(dir).unwrap().to_string_lossy().to_string();
            out.insert(rel, std::fs::read(e.path()).unwrap());
        }
    }
    out
}

/// Copies a folder tree (regular files and folders).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Copies the example `environments/` into a fresh temp project.
pub fn temp_project() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let envs = t.path().join("environments");
    std::fs::create_dir_all(&envs).unwrap();
    for e in std::fs::read_dir(root().join("environments")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), envs.join(e.file_name())).unwrap();
    }
    t
}

/// Runs the kgen binary.
pub fn kgen(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_kgen"))
        .arg("-C")
        .arg(dir)
        .arg("--color")
        .arg("never")
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("kgen runs")
}

/// Runs `git -C dir args…` with a fixed identity and no user or system configuration; panics
/// with git's message when it fails.
pub fn git(dir: &Path, args: &[&str]) {
    let o = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=kgen test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"])
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// Renders one environment file, `environments/probe.yaml` of a fresh project (with the
/// examples' layers), through the pipeline's checks; panics with the diagnostics on an error.
pub fn render_with(text: &str) -> Rendered {
    let project = temp_project();
    std::fs::write(project.path().join("environments/probe.yaml"), text).unwrap();
    let ws = Workspace::load(project.path()).unwrap();
    let c = kgen::pipeline::check(&ws, "probe");
    let r = c.judged.unwrap_or_else(|| panic!("{:?}", c.diagnostics));
    render::render(&r, &ws.sources).unwrap()
}

/// A render's `kgen.lock.json`.
pub fn lock(r: &Rendered) -> serde_json::Value {
    serde_json::from_str(&r.files["kgen.lock.json"]).unwrap()
}
