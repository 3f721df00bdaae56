//! Upgrades across KServe releases (issue 12): a one-step jump is refused by `render` and
//! flagged by `diff` with the versions in between; `kgen upgrade` plans a path whose every step
//! renders against the one before, and `--write` walks it, one step at a time, to the render of
//! a direct environment.

use crate::common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A copy of the project: the example environments and their committed renders.
fn project() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    copy_tree(&root().join("environments"), &t.path().join("environments"));
    copy_tree(&root().join("rendered"), &t.path().join("rendered"));
    t
}

fn legacy(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("environments/legacy.yaml")).unwrap()
}

/// `legacy` as a direct KServe v0.20.0 environment: the release, the Kubernetes it needs, the
/// Knative operator kept in its namespace (KG209), no overrides.
fn direct(text: &str) -> String {
    let t = text
        .replace("kubernetesVersion: \"1.30\"", "kubernetesVersion: \"1.33\"")
        .replace("version: v0.15.2", "version: v0.20.0")
        .replace("versions:\n  istio: 1.23.2\n", "");
    format!("{t}knative:\n  operatorNamespace: knative-serving\n")
}

#[test]
fn a_one_step_jump_is_refused_by_render_and_flagged_by_diff_with_the_versions_between() {
    let p = project();
    let dir = p.path();
    std::fs::write(dir.join("environments/legacy.yaml"), direct(&legacy(dir))).unwrap();
    let o = kgen(dir, &["render", "legacy"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("error[KG220]")
            && err.contains("Knative Serving 1.15.2 → 1.21.1 skips 1.16, 1.17, 1.18, 1.19, 1.20"),
        "{err}"
    );
    assert!(err.contains("error[KG221]") && err.contains("does not ship the Knative Serving 1.15.2"), "{err}");
    assert!(err.contains("error[KG222]") && err.contains("Istio 1.23.2 → 1.27.1 skips 1.24, 1.25, 1.26"), "{err}");
    assert!(err.contains("upgrade through 1.24.6, 1.25.5, 1.26.8 first"), "{err}");
    assert!(err.contains("warning[KG225]"), "{err}");
    assert!(
        legacy(&root()).contains("v0.15.2")
            && std::fs::read_to_string(dir.join("rendered/legacy/kgen.lock.json"))
                .unwrap()
                .contains("\"version\": \"v0.15.2\""),
        "nothing written"
    );
    // diff runs the same history rules: the same refusal, with the minors named.
    let o = kgen(dir, &["diff", "legacy"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("skips 1.16, 1.17, 1.18, 1.19, 1.20"), "{}", stderr(&o));
    // Accepted on purpose (ignored), the diff flags each skip as a risk, in every format.
    let text = legacy(dir);
    let ignores = ["KG220", "KG221", "KG222"].map(|c| format!("  - rule: {c}\n    reason: test\n")).concat();
    std::fs::write(dir.join("environments/legacy.yaml"), format!("{text}ignore:\n{ignores}")).unwrap();
    let o = kgen(dir, &["diff", "legacy", "--fail-on", "risk"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("risk version-skip: Knative Serving 1.15.2 → 1.21.1 skips 1.16, 1.17, 1.18, 1.19, 1.20: upgrade through 1.16.x"), "{out}");
    assert!(out.contains("risk version-skip: Istio 1.23.2 → 1.27.1 skips 1.24, 1.25, 1.26"), "{out}");
    assert!(out.contains("risk manual-migration: KServe v0.15.2 → v0.20.0 crosses v0.17.0"), "{out}");
    let o = kgen(dir, &["diff", "legacy", "--format", "markdown"]);
    assert!(stdout(&o).contains("**version-skip**: Knative Serving 1.15.2 → 1.21.1 skips 1.16"), "{}", stdout(&o));
    let o = kgen(dir, &["diff", "legacy", "--format", "json"]);
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let risks = report["environments"][0]["risks"].as_array().unwrap();
    let serving = risks.iter().find(|r| r["path"] == "versions.knativeServing" && r["kind"] == "version-skip").unwrap();
    assert_eq!(serving["skipped"], serde_json::json!(["1.16", "1.17", "1.18", "1.19", "1.20"]));
    assert_eq!((serving["old"].as_str(), serving["new"].as_str()), (Some("1.15.2"), Some("1.21.1")));
}

#[test]
fn upgrade_walks_the_plan_one_step_at_a_time_to_the_direct_render() {
    let p = project();
    let dir = p.path();
    let original = legacy(dir);
    let o = kgen(dir, &["upgrade", "legacy", "--to", "v0.20.0", "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
    let steps = plan["steps"].as_array().unwrap().len();
    assert!(steps >= 10, "{plan:#}");
    let mut seen_kinds = std::collections::BTreeSet::new();
    for i in 1..=steps {
        let before = legacy(dir);
        let o = kgen(dir, &["upgrade", "legacy", "--to", "v0.20.0", "--format", "json", "--write"]);
        assert_eq!(o.status.code(), Some(1), "step {i}: {}", stderr(&o));
        let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
        let step = &plan["steps"][0];
        seen_kinds.insert(step["kind"].as_str().unwrap().to_string());
        let after = legacy(dir);
        assert_ne!(before, after, "step {i} wrote nothing");
        // Only the keys the step changes: every comment line of the original is still there.
        for line in original.lines().filter(|l| l.trim_start().starts_with('#')) {
            assert!(after.contains(line), "step {i} lost `{line}`:\n{after}");
        }
        assert!(after.ends_with('\n'));
        // What kgen render does with it is what the plan rendered: it passes the history rules
        // against the step before, and the index records the step's moves.
        let o = kgen(dir, &["render", "legacy"]);
        assert_eq!(o.status.code(), Some(0), "step {i} ({}): {}", step["title"], stderr(&o));
        let lock: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("rendered/legacy/kgen.lock.json")).unwrap())
                .unwrap();
        for m in step["moves"].as_array().unwrap() {
            let (c, to) = (m["component"].as_str().unwrap(), &m["to"]);
            match c {
                "kserve" => assert_eq!(&lock["kserve"]["version"], to, "step {i}"),
                "kubernetes" => {}
                _ => assert_eq!(&lock["versions"][c], to, "step {i}: {c}"),
            }
        }
    }
    assert_eq!(seen_kinds.into_iter().collect::<Vec<_>>(), ["components", "kserve", "kubernetes"]);
    let o = kgen(dir, &["upgrade", "legacy", "--to", "v0.20.0"]);
    assert_eq!(o.status.code(), Some(0), "at the target: {}", stderr(&o));
    assert!(stdout(&o).contains("Already at KServe v0.20.0"), "{}", stdout(&o));
    // The same render as the direct v0.20.0 environment, file for file (the environment file
    // reads the same too, so even the index's input digest agrees).
    let d = project();
    std::fs::write(d.path().join("environments/legacy.yaml"), direct(&original)).unwrap();
    std::fs::remove_dir_all(d.path().join("rendered/legacy")).unwrap();
    let o = kgen(d.path(), &["render", "legacy"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(legacy(dir), legacy(d.path()));
    let (walked, direct) = (read_tree(&dir.join("rendered/legacy")), read_tree(&d.path().join("rendered/legacy")));
    assert_eq!(walked.keys().collect::<Vec<_>>(), direct.keys().collect::<Vec<_>>());
    for (path, bytes) in &walked {
        assert!(bytes == &direct[path], "{path} differs");
    }
}

#[test]
fn the_plan_of_the_legacy_example() {
    let o = kgen(&root(), &["upgrade", "legacy", "--to", "v0.20.0"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    insta::assert_snapshot!("legacy-to-v0.20.0.text", stdout(&o));
    let o = kgen(&root(), &["upgrade", "legacy", "--to", "v0.20.0", "--format", "markdown"]);
    assert_eq!(o.status.code(), Some(1));
    insta::assert_snapshot!("legacy-to-v0.20.0.md", stdout(&o));
    // Without --to: the newest release the cluster's Kubernetes (1.30) supports.
    let o = kgen(&root(), &["upgrade", "legacy", "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(plan["target"], "v0.16.0", "{plan:#}");
    assert!(plan["targetReason"].as_str().unwrap().contains("Kubernetes 1.30"), "{plan:#}");
    assert!(plan["steps"].as_array().unwrap().iter().all(|s| s["kind"] != "kubernetes"), "{plan:#}");
}

#[test]
fn json_schema_is_committed_and_plans_follow_it() {
    let o = kgen(&root(), &["upgrade", "--schema"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let path = root().join("schemas/upgrade.schema.json");
    let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        o.stdout == committed,
        "schemas/upgrade.schema.json is stale: run `cargo run -- upgrade --schema > schemas/upgrade.schema.json`"
    );
    let schema: Value = serde_json::from_slice(&committed).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    for args in [&["legacy", "--to", "v0.20.0"][..], &["legacy"], &["prod"]] {
        let mut all = vec!["upgrade", "--format", "json"];
        all.extend_from_slice(args);
        let o = kgen(&root(), &all);
        let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(plan["schemaVersion"], 1);
        let errors: Vec<String> =
            validator.iter_errors(&plan).map(|e| format!("{e} at {}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{args:?}: {errors:#?}");
    }
}

#[test]
fn exit_codes_and_errors() {
    // At the target: 0.
    let o = kgen(&root(), &["upgrade", "prod"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Errors: 2.
    for (args, says) in [
        (&["upgrade", "legacy", "--to", "v0.14.1"][..], "plans upgrades only"),
        (&["upgrade", "legacy", "--to", "v9.9.9"], "unknown KServe version"),
        (&["upgrade", "legcy"], "did you mean `legacy`"),
    ] {
        let o = kgen(&root(), args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
    // Under --strict a step that raises a warning stops the plan, as `render --strict` would:
    // legacy's `Serverless` is a legacy name from v0.16.0 on (KG203).
    let o = kgen(&root(), &["--strict", "upgrade", "legacy"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Step 4: KServe v0.15.2 → v0.16.0 — no safe way found") && stdout(&o).contains("[KG203]"),
        "{}",
        stdout(&o)
    );
    // Nothing rendered yet: nothing to plan from.
    let t = temp_project();
    let o = kgen(t.path(), &["upgrade", "legacy"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no previous render of `legacy`"), "{}", stderr(&o));
    // --write on a plan that is at its target writes nothing.
    let p = project();
    let before = legacy(p.path());
    let o = kgen(p.path(), &["upgrade", "prod", "--write"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(legacy(p.path()), before);
}

#[test]
fn from_git_ref_plans_from_the_render_committed_there() {
    let p = project();
    let dir = p.path();
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "render"]);
    let from_disk = kgen(dir, &["upgrade", "legacy", "--to", "v0.20.0", "--format", "json"]);
    // The working tree's render moves on (step 1 written and rendered); main still has v0.15.2.
    assert_eq!(kgen(dir, &["upgrade", "legacy", "--to", "v0.20.0", "--write"]).status.code(), Some(1));
    assert_eq!(kgen(dir, &["render", "legacy"]).status.code(), Some(0));
    let o = kgen(dir, &["upgrade", "legacy", "--to", "v0.20.0", "--format", "json", "--from-git-ref", "main"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let (a, b): (Value, Value) =
        (serde_json::from_slice(&from_disk.stdout).unwrap(), serde_json::from_slice(&o.stdout).unwrap());
    assert_eq!(a["from"], b["from"]);
    assert_eq!(a["steps"].as_array().unwrap().len(), b["steps"].as_array().unwrap().len());
    // Step 1 from main is already in the file: it changes nothing more than step 2 would.
    let disk = kgen(dir, &["upgrade", "legacy", "--to", "v0.20.0", "--format", "json"]);
    let c: Value = serde_json::from_slice(&disk.stdout).unwrap();
    assert_eq!(c["steps"].as_array().unwrap().len() + 1, a["steps"].as_array().unwrap().len());
}
