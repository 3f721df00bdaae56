//! Each stage of the pipeline runs once per environment per command (issue 15): debug builds
//! count the stages, and `KGEN_STAGE_COUNTS=1` makes the binary print the counts.

use crate::common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{copy_tree, examples, root};

type Counts = BTreeMap<String, BTreeMap<String, usize>>;

fn counts(dir: &std::path::Path, args: &[&str]) -> Counts {
    let o = Command::new(env!("CARGO_BIN_EXE_kgen"))
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("KGEN_STAGE_COUNTS", "1")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    let line = err.lines().find_map(|l| l.strip_prefix("stage counts: ")).unwrap_or_else(|| panic!("{args:?}: {err}"));
    serde_json::from_str(line).unwrap()
}

/// Every stage in `stages` ran exactly once for every example, and no other stage ran.
fn once_each(c: &Counts, stages: &[&str], what: &str) {
    let names: Vec<String> = examples();
    let ran: Vec<&str> = c.keys().map(String::as_str).collect();
    assert_eq!(ran, stages, "{what}: stages that ran");
    for (stage, per_env) in c {
        let envs: Vec<&String> = per_env.keys().collect();
        assert_eq!(envs, names.iter().collect::<Vec<_>>(), "{what}: {stage} ran for every environment");
        assert!(per_env.values().all(|n| *n == 1), "{what}: {stage} ran more than once: {per_env:?}");
    }
}

#[test]
fn every_command_runs_each_stage_once_per_environment() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["environments", "rendered"] {
        copy_tree(&root().join(sub), &dir.path().join(sub));
    }
    let judged = ["environment rules", "plan"];
    let full = ["compare", "environment rules", "history rules", "plan", "render", "render rules"];
    once_each(
        &counts(dir.path(), &["validate"]),
        &["environment rules", "history rules", "plan", "render", "render rules"],
        "validate",
    );
    once_each(&counts(dir.path(), &["render", "--check"]), &full, "render --check");
    once_each(&counts(dir.path(), &["diff"]), &full, "diff");
    // A render that changes every environment: written, then summarised from the same compare.
    let base = dir.path().join("environments/_base.yaml");
    let text = std::fs::read_to_string(&base).unwrap();
    std::fs::write(&base, text.replace("models.example.com", "models.example.org")).unwrap();
    once_each(&counts(dir.path(), &["render", "--diff"]), &full, "render --diff");
    // One environment: only it is judged.
    let one = counts(dir.path(), &["show", "dev"]);
    assert_eq!(one.keys().map(String::as_str).collect::<Vec<_>>(), judged, "show");
    assert!(one.values().all(|m| m.len() == 1 && m["dev"] == 1), "show: {one:?}");
}
