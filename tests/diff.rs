//! `kgen diff`: before/after fixture pairs in the three formats (snapshots), exit codes, a
//! temporary git repository for `--git-ref`, the Markdown byte budget, layer changes, the JSON
//! schema (drift and validity), and `kgen render`'s summary and `--diff`.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::*;
use kgen::compare::Previous;
use kgen::diff::{self, Base, BaseSource};
use kgen::render::Rendered;
use serde_json::Value;

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A project rendered from `tests/fixtures/diff/<case>/before`, whose environments are then
/// replaced by `after`.
fn fixture(case: &str) -> tempfile::TempDir {
    let src = root().join("tests/fixtures/diff").join(case);
    let t = tempfile::tempdir().unwrap();
    copy_tree(&src.join("before"), t.path());
    let o = kgen(t.path(), &["render"]);
    assert!(o.status.success(), "{case}: render of `before` failed: {}", stderr(&o));
    std::fs::remove_dir_all(t.path().join("environments")).unwrap();
    copy_tree(&src.join("after"), t.path());
    t
}

fn json(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["diff", "--format", "json"];
    all.extend_from_slice(args);
    let o = kgen(dir, &all);
    assert!(matches!(o.status.code(), Some(0 | 1 | 3)), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).expect("JSON output")
}

/// The same change in the three formats, snapshotted; the formats agree on the counts.
#[test]
fn fixture_pairs_in_three_formats() {
    let cases = [
        ("mode-switch", true),
        ("downgrade", true),
        ("mesh-switch", true),
        ("release-moved", true),
        ("version-skip", true),
        ("base-layer", false),
    ];
    for (case, risky) in cases {
        let project = fixture(case);
        let dir = project.path();
        let text = kgen(dir, &["diff"]);
        let markdown = kgen(dir, &["diff", "--format", "markdown"]);
        let json_out = kgen(dir, &["diff", "--format", "json"]);
        for o in [&text, &markdown, &json_out] {
            assert_eq!(o.status.code(), Some(1), "{case}: {}", stderr(o));
        }
        let risk = kgen(dir, &["diff", "--fail-on", "risk"]);
        assert_eq!(risk.status.code(), Some(if risky { 3 } else { 1 }), "{case}");
        insta::with_settings!({filters => vec![(r#""kgenVersion": "[^"]+""#, r#""kgenVersion": "[version]""#)]}, {
            insta::assert_snapshot!(format!("{case}.text"), stdout(&text));
            insta::assert_snapshot!(format!("{case}.md"), stdout(&markdown));
            insta::assert_snapshot!(format!("{case}.json"), stdout(&json_out));
        });
        // The three formats tell the same story.
        let report: Value = serde_json::from_slice(&json_out.stdout).unwrap();
        let s = &report["summary"];
        let (text, markdown) = (stdout(&text), stdout(&markdown));
        let a = s["objectsAdded"].as_u64().unwrap();
        let totals = format!(
            "{a} {} added, {} changed, {} removed",
            if a == 1 { "object" } else { "objects" },
            s["objectsChanged"],
            s["objectsRemoved"]
        );
        assert!(text.lines().last().unwrap().contains(&totals), "{case}: {totals}\n{text}");
        for env in report["environments"].as_array().unwrap() {
            let row = format!(
                "| `{}` | {} | {} | {} |",
                env["name"].as_str().unwrap(),
                env["objectsAdded"],
                env["objectsChanged"],
                env["objectsRemoved"]
            );
            assert!(markdown.contains(&row), "{case}: {row} not in the Markdown table");
            for r in env["risks"].as_array().unwrap() {
                let msg = r["message"].as_str().unwrap();
                assert!(text.contains(msg), "{case}: risk `{msg}` missing from text");
                assert!(markdown.contains(r["kind"].as_str().unwrap()), "{case}: risk kind missing from Markdown");
            }
        }
    }
}

#[test]
fn exit_codes() {
    let project = temp_project();
    let dir = project.path();
    assert!(kgen(dir, &["render"]).status.success());
    // 0: nothing changes.
    let o = kgen(dir, &["diff"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("no changes in "), "{}", stdout(&o));
    assert_eq!(kgen(dir, &["diff", "--fail-on", "risk"]).status.code(), Some(0));
    // 1: a change without risk (also under --fail-on risk).
    let env = dir.join("environments/prod.yaml");
    let text = std::fs::read_to_string(&env).unwrap();
    std::fs::write(&env, text.replace("autoscaleMin: 2", "autoscaleMin: 3")).unwrap();
    assert_eq!(kgen(dir, &["diff"]).status.code(), Some(1));
    assert_eq!(kgen(dir, &["diff", "--fail-on", "risk"]).status.code(), Some(1));
    // 3: a risky change under --fail-on risk; 1 without the flag. Standard mode drops the Knative
    // operator, whose CRDs stay: acknowledged (rule KG608), or diff refuses it.
    let ack = "ignore:\n  - rule: KG608\n    reason: Knative retired; its CRDs go by hand\n";
    // Standard mode with Ingress objects has no TLS listener for prod's certificate: TLS then ends
    // in front of the cluster (else KG413 refuses the https URLs).
    let standard = text.replace("deploymentMode: Knative", "deploymentMode: Standard");
    std::fs::write(&env, standard.replace("terminatedUpstream: false", "terminatedUpstream: true") + ack).unwrap();
    assert_eq!(kgen(dir, &["diff", "prod"]).status.code(), Some(1));
    let o = kgen(dir, &["diff", "prod", "--fail-on", "risk"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stdout(&o).contains("risk deployment-mode-switch: KServe deployment mode Knative → Standard"),
        "{}",
        stdout(&o)
    );
    // 2: an invalid environment, an unknown environment, a bad budget.
    std::fs::write(&env, text.replace("deploymentMode: Knative", "deploymentMode: Sideways")).unwrap();
    assert_eq!(kgen(dir, &["diff"]).status.code(), Some(2));
    std::fs::write(&env, &text).unwrap();
    assert_eq!(kgen(dir, &["diff", "nosuch"]).status.code(), Some(2));
    assert_eq!(kgen(dir, &["diff", "--format", "markdown", "--max-bytes", "10"]).status.code(), Some(2));
    // Nothing was written by any of these.
    assert_eq!(kgen(dir, &["render", "--check"]).status.code(), Some(0));
}

#[test]
fn git_ref_reads_the_committed_render() {
    // The kgen project lives in a subfolder of the repository.
    let repo = tempfile::tempdir().unwrap();
    let project = repo.path().join("platform");
    copy_tree(&root().join("environments"), &project.join("environments"));
    git(repo.path(), &["init", "-q", "-b", "main"]);
    assert!(kgen(&project, &["render"]).status.success());
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-q", "-m", "render"]);
    // Change an environment; the working tree's render is deleted, HEAD still has it.
    let env = project.join("environments/staging.yaml");
    let text = std::fs::read_to_string(&env).unwrap();
    std::fs::write(&env, text.replace("staging.models.example.com", "stg.models.example.com")).unwrap();
    let from_disk = kgen(&project, &["diff", "--format", "json"]);
    std::fs::remove_dir_all(project.join("rendered")).unwrap();
    let o = kgen(&project, &["diff", "--git-ref", "HEAD", "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let from_git: Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut from_disk: Value = serde_json::from_slice(&from_disk.stdout).unwrap();
    assert_eq!(from_git["base"], serde_json::json!({"source": "git", "ref": "HEAD", "path": "rendered"}));
    from_disk["base"] = from_git["base"].clone();
    assert_eq!(from_git, from_disk, "the same comparison from git and from disk");
    let names: Vec<&str> =
        from_git["environments"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["staging"]);
    // An environment deleted since the commit shows as removed, with its risks.
    std::fs::remove_file(project.join("environments/legacy.yaml")).unwrap();
    let v = json(&project, &["--git-ref", "HEAD"]);
    let legacy = v["environments"].as_array().unwrap().iter().find(|e| e["name"] == "legacy").expect("legacy listed");
    assert_eq!(legacy["status"], "removed");
    assert_eq!(legacy["risks"][0]["kind"], "environment-removed");
    // Errors: an unknown ref, a ref that looks like an option, no repository.
    let o = kgen(&project, &["diff", "--git-ref", "no-such-branch"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown git ref `no-such-branch`"), "{}", stderr(&o));
    // It names the branches that exist (`main` vs `master`).
    let branch =
        std::process::Command::new("git").arg("-C").arg(&project).args(["branch", "--show-current"]).output().unwrap();
    let branch = String::from_utf8(branch.stdout).unwrap().trim().to_string();
    assert!(stderr(&o).contains(&format!("branches: `{branch}`")), "{}", stderr(&o));
    assert_eq!(kgen(&project, &["diff", "--git-ref=--output=/tmp/x"]).status.code(), Some(2));
    let outside = temp_project();
    let o = kgen(outside.path(), &["diff", "--git-ref", "HEAD"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("needs a git repository"), "{}", stderr(&o));
}

#[test]
fn a_base_layer_change_shows_in_every_environment_that_extends_it_and_no_other() {
    let project = temp_project();
    let dir = project.path();
    assert!(kgen(dir, &["render"]).status.success());
    let base = dir.join("environments/_base.yaml");
    let text = std::fs::read_to_string(&base).unwrap();
    std::fs::write(&base, text.replace("ml-platform-gitops.git", "ml-platform-fleet.git")).unwrap();
    let extending: Vec<String> = examples()
        .into_iter()
        .filter(|n| {
            std::fs::read_to_string(dir.join(format!("environments/{n}.yaml"))).unwrap().contains("extends: _base")
        })
        .collect();
    assert!(extending.len() >= 3 && !extending.contains(&"legacy".to_string()), "{extending:?}");
    let v = json(dir, &[]);
    let changed: Vec<String> =
        v["environments"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(changed, extending);
    assert!(v["unchanged"].as_array().unwrap().iter().any(|n| n == "legacy"));
}

/// The Markdown under a small budget: several parts, each within it, each saying what it
/// holds; a file too big for a part is cut and the cut is named.
#[test]
fn markdown_is_split_under_a_small_budget() {
    let project = fixture("mesh-switch");
    let budget = 4_000;
    let o = kgen(project.path(), &["diff", "--format", "markdown", "--max-bytes", &budget.to_string()]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let parts: Vec<&str> = out.split("<!-- kgen-diff -->\n").skip(1).collect();
    assert!(parts.len() > 2, "expected several parts:\n{out}");
    for (i, p) in parts.iter().enumerate() {
        let part = format!("<!-- kgen-diff -->\n{}", p.trim_end());
        assert!(part.len() <= budget, "part {} is {} bytes", i + 1, part.len());
        assert!(part.contains(&format!("**Part {} of {}.** Holds ", i + 1, parts.len())), "{part}");
        assert_eq!(part.matches("<details>").count(), part.matches("</details>").count(), "{part}");
        assert_eq!(part.matches("```").count() % 2, 0, "fences closed:\n{part}");
    }
    assert!(parts[0].contains("| Environment |"), "summary table first");
    assert!(parts[1].contains("(continued)"), "{}", parts[1]);
    insta::assert_snapshot!("mesh-switch.md.4000", out);

    // Every file fits a part of its own, so none is cut to save a comment.
    assert!(parts.iter().all(|p| p.contains(" Cut: nothing.")), "{out}");

    let big = |name: &str, n: usize, v: &str| -> String {
        let mut s = format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: n}}\ndata:\n");
        for i in 0..n {
            s.push_str(&format!("  key-{i:04}: {v}-{i}\n"));
        }
        s
    };
    let path = |name: &str| format!("manifests/n/configmap-{name}.yaml");

    // A file that fits a part of its own is not cut to stay in the first, even with more
    // than half of it free.
    let report = one_env_report(
        &[(path("a"), big("a", 12, "old")), (path("b"), big("b", 30, "old"))],
        &[(path("a"), big("a", 12, "new")), (path("b"), big("b", 30, "new"))],
    );
    let parts = diff::markdown::render(&report, 5_000);
    assert_eq!(parts.len(), 2, "{parts:#?}");
    assert!(parts[0].contains("Holds the summary table; details of `e` (file 1 of 2). Cut: nothing."), "{}", parts[0]);
    assert!(parts[1].contains("Holds details of `e` (file 2 of 2). Cut: nothing."), "{}", parts[1]);
    assert!(parts.iter().all(|p| p.len() <= 5_000));

    // One file larger than a whole part: its hunks, then its lines, are cut, and it says so.
    // Cut anyway, it is cut beside the summary table, which leaves more than half a part free.
    let report = one_env_report(&[(path("big"), big("big", 400, "old"))], &[(path("big"), big("big", 400, "new"))]);
    let parts = diff::markdown::render(&report, 5_000);
    assert_eq!(parts.len(), 1, "{parts:#?}");
    assert!(parts[0].len() <= 5_000);
    assert!(parts[0].contains("Cut: hunks and "), "{}", parts[0]);
    assert!(parts[0].contains("more lines cut; run `kgen diff e` locally"), "{}", parts[0]);

    // After files that fill more than half of the first part, the same file is cut to fit a
    // part of its own instead of being cut down to the lines that would fit in the first.
    let small: Vec<String> = (0..2).map(|i| format!("a{i}")).collect();
    let mut old: Vec<(String, String)> = small.iter().map(|n| (path(n), big(n, 12, "old"))).collect();
    let mut new: Vec<(String, String)> = small.iter().map(|n| (path(n), big(n, 12, "new"))).collect();
    old.push((path("big"), big("big", 400, "old")));
    new.push((path("big"), big("big", 400, "new")));
    let report = one_env_report(&old, &new);
    let parts = diff::markdown::render(&report, 5_000);
    assert_eq!(parts.len(), 2, "{parts:#?}");
    assert!(parts.iter().all(|p| p.len() <= 5_000));
    assert!(
        parts[0].contains("Holds the summary table; details of `e` (files 1–2 of 3). Cut: nothing."),
        "{}",
        parts[0]
    );
    assert!(parts[1].contains("Holds details of `e` (file 3 of 3). Cut: hunks and "), "{}", parts[1]);
    assert!(!parts[0].contains("configmap-big"), "{}", parts[0]);
    let kept = parts[1].lines().filter(|l| l.starts_with("  - `data.key-")).count();
    assert!(kept >= 60, "a part of its own keeps {kept} change lines");
}

/// The report of one environment `e` whose files go from `old` to `new`.
fn one_env_report(old: &[(String, String)], new: &[(String, String)]) -> diff::Report {
    let old = Previous {
        generated: old.iter().map(|(p, _)| p.clone()).collect(),
        contents: old.iter().map(|(p, c)| (p.clone(), c.clone().into_bytes())).collect(),
    };
    let new = Rendered { env: "e".into(), files: new.iter().cloned().collect() };
    diff::report(
        Base { source: BaseSource::Disk, git_ref: None, path: "rendered".into() },
        vec![diff::diff_env(&new, &old)],
    )
}

/// A values file too large for any part is cut where it stands: the ~1 KB it shrinks to fits
/// beside the summary table, so one part holds everything, not a summary alone and the file in
/// a second part.
#[test]
fn markdown_cuts_an_oversized_file_in_place_when_it_fits() {
    let values = |extra: usize| -> String {
        let mut s = String::from("kserve:\n  controller:\n    deploymentMode: Standard\n");
        if extra > 0 {
            s.push_str("  extraEnv:\n");
            for i in 0..extra {
                s.push_str(&format!("    KEY_{i:03}: value-{i:03}\n"));
            }
        }
        s
    };
    let path = "values/kserve.yaml".to_string();
    let report = one_env_report(&[(path.clone(), values(0))], &[(path, values(150))]);
    let whole = diff::markdown::render(&report, 65_000);
    assert_eq!(whole.len(), 1);
    assert!(whole[0].len() > 4_000, "the file alone is over the small budget: {} bytes", whole[0].len());
    let parts = diff::markdown::render(&report, 4_000);
    assert_eq!(parts.len(), 1, "{parts:#?}");
    let part = &parts[0];
    assert!(part.len() <= 4_000, "{} bytes", part.len());
    assert!(part.contains("| Environment |"), "{part}");
    assert!(part.contains("- `kserve.extraEnv`: added "), "the change line stays: {part}");
    assert!(
        part.contains("> **Part 1 of 1.** Holds the summary table; details of `e` (1 file). Cut: hunks of `e` `values/kserve.yaml` (154 lines)"),
        "{part}"
    );
    assert!(part.contains("_Diff hunks cut (154 lines); run `kgen diff e` locally for everything._"), "{part}");
    assert!(!part.contains("```diff"), "{part}");

    // Behind a file that leaves less than half a part free, it still goes in the first part:
    // a part of its own would cut its hunks just the same.
    let filler = |v: &str| -> String {
        let mut s = String::from("a:\n");
        for i in 0..30 {
            s.push_str(&format!("  key{i:02}: {v}\n"));
        }
        s
    };
    let a = "values/a.yaml".to_string();
    let path = "values/kserve.yaml".to_string();
    let report = one_env_report(
        &[(a.clone(), filler("old")), (path.clone(), values(0))],
        &[(a, filler("new")), (path, values(150))],
    );
    let parts = diff::markdown::render(&report, 4_000);
    assert_eq!(parts.len(), 1, "{parts:#?}");
    assert!(parts[0].len() <= 4_000, "{} bytes", parts[0].len());
    assert!(
        parts[0].contains("Holds the summary table; details of `e` (2 files). Cut: hunks of `e` `values/kserve.yaml`"),
        "{}",
        parts[0]
    );
}

#[test]
fn json_schema_is_committed_and_outputs_follow_it() {
    let o = kgen(&root(), &["diff", "--schema"]);
    assert_eq!(o.status.code(), Some(0));
    let path = root().join("schemas/diff.schema.json");
    let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        o.stdout == committed,
        "schemas/diff.schema.json is stale: run `cargo run -- diff --schema > schemas/diff.schema.json`"
    );
    let schema: Value = serde_json::from_slice(&committed).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    for case in ["mode-switch", "downgrade", "mesh-switch", "release-moved", "version-skip", "base-layer"] {
        let project = fixture(case);
        let report = json(project.path(), &[]);
        let errors: Vec<String> =
            validator.iter_errors(&report).map(|e| format!("{e} at {}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{case}: {errors:#?}");
        let mut other = report.clone();
        other["schemaVersion"] = (kgen::diff::SCHEMA_VERSION + 1).into();
        assert!(!validator.is_valid(&other), "another schema version does not validate");
    }
}

#[test]
fn render_summarises_and_diff_prints_what_it_wrote() {
    let project = fixture("mode-switch");
    let o = kgen(project.path(), &["render", "--diff"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("dev: 2 objects added, 3 changed, 5 removed · Helm values: knative-operator, kserve · 5 risks"),
        "{err}"
    );
    assert!(err.contains("risk deployment-mode-switch: KServe deployment mode Knative → Standard"), "{err}");
    let out = stdout(&o);
    assert!(out.contains("~ kserve.controller.deploymentMode: Knative → Standard"), "{out}");
    // What it printed is what `kgen diff` would have printed before the render.
    let project2 = fixture("mode-switch");
    let diff = kgen(project2.path(), &["diff"]);
    let diff = stdout(&diff);
    let (body, _) = diff.rsplit_once("\n\n").unwrap();
    assert_eq!(out.trim_end(), body.trim_end());
    // Nothing left to do afterwards.
    let o = kgen(project.path(), &["render"]);
    assert!(stderr(&o).contains("dev: up to date"), "{}", stderr(&o));
    assert_eq!(kgen(project.path(), &["diff"]).status.code(), Some(0));
}

#[test]
fn colour_only_when_asked() {
    let project = fixture("downgrade");
    let plain = kgen(project.path(), &["diff"]);
    assert!(!stdout(&plain).contains('\x1b'));
    let o = Command::new(env!("CARGO_BIN_EXE_kgen"))
        .arg("-C")
        .arg(project.path())
        .args(["--color", "always", "diff"])
        .output()
        .unwrap();
    let coloured = stdout(&o);
    assert!(coloured.contains("\x1b["), "colour with --color always");
    // Character-level emphasis inside a changed version: the shared prefix is plain red/green,
    // only the differing characters are inverted.
    assert!(coloured.contains("  version: v0.1\x1b[0m"), "{coloured}");
    assert!(coloured.contains("\x1b[7m"), "{coloured}");
    let o = Command::new(env!("CARGO_BIN_EXE_kgen"))
        .arg("-C")
        .arg(project.path())
        .args(["diff"])
        .env("NO_COLOR", "1")
        .env_remove("KGEN_COLOR")
        .output()
        .unwrap();
    assert!(!stdout(&o).contains('\x1b'), "NO_COLOR");
}

#[test]
fn git_ref_history_rules_see_what_the_ref_installed() {
    // A PR that downgrades Gateway API below v1.5 and commits its own render: `render --check`
    // compares with that render and cannot know; `diff --git-ref main` compares with what the
    // cluster got from main, and KG206 stops it.
    let repo = tempfile::tempdir().unwrap();
    let project = repo.path();
    copy_tree(&root().join("environments"), &project.join("environments"));
    git(project, &["init", "-q", "-b", "main"]);
    assert!(kgen(project, &["render"]).status.success());
    git(project, &["add", "."]);
    git(project, &["commit", "-q", "-m", "render"]);
    let env = project.join("environments/staging.yaml");
    let text = std::fs::read_to_string(&env).unwrap();
    std::fs::write(&env, format!("{text}versions: {{gatewayApi: v1.4.1}}\n")).unwrap();
    let o = kgen(project, &["render", "staging"]);
    assert_eq!(o.status.code(), Some(2), "render refuses over a v1.5 render: {}", stderr(&o));
    assert!(stderr(&o).contains("error[KG206]"), "{}", stderr(&o));
    // The PR's committed render (here: its index, edited) already says v1.4.1, so the disk
    // holds no history to protect; main does.
    let lock = project.join("rendered/staging/kgen.lock.json");
    let text = std::fs::read_to_string(&lock).unwrap();
    assert!(text.contains("\"gatewayApi\": \"v1.5.1\""), "{text}");
    std::fs::write(&lock, text.replace("\"gatewayApi\": \"v1.5.1\"", "\"gatewayApi\": \"v1.4.1\"")).unwrap();
    let o = kgen(project, &["diff", "staging"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let o = kgen(project, &["diff", "--git-ref", "main", "staging"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("error[KG206]") && stderr(&o).contains("v1.5.1"), "{}", stderr(&o));
}

/// Fleet review: a one-line change of a shared layer over many environments is one short
/// Markdown comment (each shared change once, groups as one row), while a change that differs
/// per environment is still shown for that environment; JSON keeps every environment and adds
/// the groups.
#[test]
fn a_shared_layer_change_over_a_fleet_is_one_short_comment() {
    const FLEET: usize = 30;
    let t = tempfile::tempdir().unwrap();
    let envs = t.path().join("environments");
    std::fs::create_dir_all(&envs).unwrap();
    let base = "apiVersion: kgen/v1\nkind: Environment\nkserve:\n  ingressDomain: models.example.com\ngitops:\n  repoUrl: https://github.com/example/fleet.git\n";
    std::fs::write(envs.join("_base.yaml"), base).unwrap();
    for i in 0..FLEET {
        let (mode, engine) = [("Knative", "argocd"), ("Standard", "flux"), ("Knative", "flux")][i % 3];
        let body = format!(
            "apiVersion: kgen/v1\nkind: Environment\nextends: _base\ncluster: {{platform: kubernetes, kubernetesVersion: \"1.33\"}}\nkserve: {{version: v0.20.0, deploymentMode: {mode}}}\nmesh: {{provider: istio}}\ngitops: {{engine: {engine}}}\n"
        );
        std::fs::write(envs.join(format!("fleet-{}.yaml", i + 1)), body).unwrap();
    }
    let o = kgen(t.path(), &["-q", "render"]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::write(
        envs.join("_base.yaml"),
        base.replace("models.example.com", "ml.example.com").replace("fleet.git", "fleet-v2.git"),
    )
    .unwrap();
    // One environment also changes on its own.
    let own = envs.join("fleet-7.yaml");
    let text = std::fs::read_to_string(&own).unwrap();
    std::fs::write(&own, text.replace("kubernetesVersion: \"1.33\"}", "kubernetesVersion: \"1.33\", name: east-7}"))
        .unwrap();

    let o = kgen(t.path(), &["diff", "--format", "markdown"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let md = stdout(&o);
    assert_eq!(md.matches(kgen::diff::markdown::MARKER).count(), 1, "one comment:\n{md}");
    assert!(md.len() <= 10_000, "{} bytes:\n{md}", md.len());
    assert!(md.contains(&format!("**every changed environment ({FLEET})**")), "{md}");
    assert!(md.contains("`ml.example.com`") && md.contains("fleet-v2.git"), "{md}");
    // fleet-7's own change (its cluster name) is shown for it alone.
    assert!(md.contains("### `fleet-7`") && md.contains("east-7"), "{md}");
    // Natural order: fleet-2 before fleet-10.
    let json = json(t.path(), &[]);
    let names: Vec<&str> =
        json["environments"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), FLEET);
    assert_eq!(&names[..3], ["fleet-1", "fleet-2", "fleet-3"]);
    let groups = json["groups"].as_array().unwrap();
    let grouped: usize = groups.iter().map(|g| g["environments"].as_array().unwrap().len()).sum();
    assert_eq!(grouped, FLEET, "every changed environment in one group");
    assert!(groups.len() <= 4, "three shapes and fleet-7: {}", groups.len());
}
