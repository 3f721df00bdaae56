//! The command line (SPEC §6): every inspect command on the repository's examples, exit codes,
//! colour, broken pipes, and the committed JSON Schema (drift test).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use common::{examples, root};

/// `kgen -C <dir> <args>` with a clean environment plus `extra_env`.
fn kgen_env(dir: &Path, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kgen"));
    cmd.env_clear().arg("-C").arg(dir).args(args);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.output().expect("kgen runs")
}

/// `kgen -C <repo> --color never <args>` with `NO_COLOR=1`.
fn kgen(args: &[&str]) -> Output {
    let mut all = vec!["--color", "never"];
    all.extend_from_slice(args);
    kgen_env(&root(), &all, &[("NO_COLOR", "1")])
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("stderr is UTF-8")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed")
}

#[track_caller]
fn assert_exit(o: &Output, expected: i32) {
    assert_eq!(code(o), expected, "exit code\n--- stdout ---\n{}\n--- stderr ---\n{}", stdout(o), stderr(o));
    assert!(!stderr(o).contains("panicked"), "{}", stderr(o));
}

#[test]
fn validate_strict_passes_on_the_examples() {
    let o = kgen(&["validate", "--strict"]);
    assert_exit(&o, 0);
    assert!(o.stdout.is_empty(), "validate prints data on stdout only: {}", stdout(&o));
    let n = examples().len();
    // The notes are deliberate `ignore:` entries, shown with their reasons: both OpenShift
    // examples' of KG507 (fixed UIDs, an SCC granted by hand) and openshift-ossm3's of KG410 (how
    // its InferenceServices are reached). openshift-ossm3 needed one of KG405 until kgen knew that
    // OpenShift 4.19+ owns the Gateway API CRDs.
    let err = stderr(&o);
    assert!(err.contains(&format!("{n} environments valid (0 errors, 0 warnings, 3 notes)")), "{err}");
    assert!(err.contains("info[KG410]") && err.contains("gateway Service's load balancer"), "{err}");
    assert!(!err.contains("KG405"), "{err}");
    assert_eq!(err.matches("info[KG507]").count(), 2, "{err}");
    // Every example by name, too.
    let names = examples();
    let mut args = vec!["validate", "--strict"];
    args.extend(names.iter().map(String::as_str));
    assert_exit(&kgen(&args), 0);
}

#[test]
fn validate_quiet_prints_nothing_on_success() {
    let o = kgen(&["-q", "validate"]);
    assert_exit(&o, 0);
    assert!(o.stdout.is_empty() && o.stderr.is_empty(), "{}", stderr(&o));
}

#[test]
fn unknown_environment_is_kg115_with_a_suggestion() {
    let o = kgen(&["validate", "nosuch"]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(err.contains("error[KG115]: unknown environment `nosuch`"), "{err}");
    // Nothing close: the hint lists the environments.
    for name in examples() {
        assert!(err.contains(&name), "`{name}` not listed in: {err}");
    }

    let o = kgen(&["validate", "prd"]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(err.contains("error[KG115]: unknown environment `prd`"), "{err}");
    assert!(err.contains("did you mean `prod`?"), "{err}");
    assert!(o.stdout.is_empty());
}

#[test]
fn a_path_is_not_an_environment_name() {
    for name in ["../x", "../../etc/passwd", "/etc/passwd", "Prod", "prod.yaml", "_base"] {
        let o = kgen(&["validate", name]);
        assert_exit(&o, 2);
        assert!(stderr(&o).contains("error[KG111]"), "{name}: {}", stderr(&o));
    }
    // `show` and `explain` refuse the same way.
    for args in [&["show", "../x"][..], &["explain", "../x"][..]] {
        let o = kgen(args);
        assert_exit(&o, 2);
        assert!(stderr(&o).contains("error[KG111]"), "{args:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty());
    }
}

#[test]
fn list_prints_every_example() {
    let o = kgen(&["list"]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    let rows: Vec<&str> = out.lines().collect();
    assert!(rows[0].starts_with("NAME"), "header: {out}");
    let listed: Vec<&str> = rows[1..].iter().map(|r| r.split_whitespace().next().unwrap()).collect();
    assert_eq!(listed, examples(), "{out}");
    assert!(!out.contains("invalid"), "{out}");
    assert!(!listed.iter().any(|n| n.starts_with('_')), "layers are not environments: {out}");
}

#[test]
fn show_prints_the_merged_environment_as_yaml() {
    let o = kgen(&["show", "prod"]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    let v: Value = kgen::yaml::from_str(&out, kgen::yaml::Budget::Render).expect("`kgen show` prints YAML");
    // Inherited from `_base`, which prod.yaml does not repeat.
    assert!(out.contains("ingressDomain: models.example.com"), "{out}");
    assert_eq!(v["kserve"]["ingressDomain"], "models.example.com");
    assert_eq!(v["gitops"]["repoUrl"], "https://github.com/example-corp/ml-platform-gitops.git");
    // Set by prod.yaml itself, defaults and the resolved release.
    assert_eq!(v["cluster"]["name"], "prod-eu-1");
    assert_eq!(v["kserve"]["version"], "v0.20.0");
    assert_eq!(v["mesh"]["sidecarAutoInject"], false);
    // The effective pins, not an empty `versions:`.
    let release = kgen::catalog::get().release("v0.20.0").unwrap();
    assert_eq!(v["versions"]["istio"], release.pins["istio"].as_str(), "{out}");
    assert_eq!(v["versions"].as_object().unwrap().len(), release.pins.len(), "{out}");
    assert!(v.get("extends").is_none(), "`extends` is consumed by layering: {out}");
    // A YAML 1.1 reader would take 1.33 for a number: it must stay quoted.
    assert!(out.contains("kubernetesVersion: \"1.33\""), "{out}");
}

#[test]
fn show_of_every_example_parses() {
    for name in examples() {
        let o = kgen(&["show", &name]);
        assert_exit(&o, 0);
        let v: Value = kgen::yaml::from_str(&stdout(&o), kgen::yaml::Budget::Render).unwrap();
        assert_eq!(v["apiVersion"], "kgen/v1", "{name}");
    }
}

#[test]
fn explain_names_the_file_that_set_a_value() {
    let o = kgen(&["explain", "prod", "kserve.ingressDomain"]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(out.contains("environments/_base.yaml"), "{out}");
    assert!(out.contains("models.example.com"), "{out}");
    let o = kgen(&["explain", "prod", "cluster.name"]);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("environments/prod.yaml"), "{}", stdout(&o));
    let o = kgen(&["explain", "prod"]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(out.contains("default") && out.contains("catalog: KServe v0.20.0"), "{out}");
    let o = kgen(&["explain", "prod", "kserve.nosuch"]);
    assert_exit(&o, 2);
}

#[test]
fn schema_matches_the_committed_file() {
    let o = kgen(&["schema"]);
    assert_exit(&o, 0);
    let path = root().join("schemas/environment.schema.json");
    let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        o.stdout == committed,
        "schemas/environment.schema.json is stale: run `cargo run -- schema > schemas/environment.schema.json`"
    );
    let schema: Value = serde_json::from_slice(&o.stdout).expect("the schema is JSON");
    assert!(schema.get("$schema").is_some(), "declares its dialect");
    assert!(schema["properties"]["kserve"].is_object(), "{schema}");

    // The layer schema: the same keys, nothing required below the header, so an editor does
    // not mark a partial layer.
    let o = kgen(&["schema", "--layer"]);
    assert_exit(&o, 0);
    let path = root().join("schemas/layer.schema.json");
    let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(o.stdout == committed, "schemas/layer.schema.json is stale: run `cargo run -- schema --write`");
    let layer: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(layer["required"], serde_json::json!(["apiVersion", "kind"]));
    let validator = jsonschema::validator_for(&layer).expect("the layer schema compiles");
    let full = jsonschema::validator_for(&schema).expect("the schema compiles");
    let base: Value = kgen::yaml::from_str(
        &std::fs::read_to_string(root().join("environments/_base.yaml")).unwrap(),
        kgen::yaml::Budget::EnvironmentFile,
    )
    .unwrap();
    assert!(validator.is_valid(&base), "the example layer passes the layer schema");
    assert!(!full.is_valid(&base), "a partial layer fails the environment schema");
    // Every example points its editor at the right one.
    for e in std::fs::read_dir(root().join("environments")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(e.path()).unwrap();
        let want = if name.starts_with('_') { "layer" } else { "environment" };
        assert!(
            text.starts_with(&format!("# yaml-language-server: $schema=../schemas/{want}.schema.json\n")),
            "{name}"
        );
    }
}

#[test]
fn versions_lists_every_release_of_the_catalog() {
    let o = kgen(&["versions"]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    let releases = kgen::catalog::get().release_versions();
    assert!(releases.len() >= 9, "{releases:?}");
    for v in releases {
        assert!(out.lines().any(|l| l.starts_with(v)), "{v} missing from:\n{out}");
    }
}

#[test]
fn completions_and_rules() {
    for shell in ["bash", "zsh", "fish"] {
        let o = kgen(&["completions", shell]);
        assert_exit(&o, 0);
        assert!(stdout(&o).contains("kgen"), "{shell}");
    }
    let o = kgen(&["rules", "KG401"]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(out.starts_with("KG401 (error, checked on the environment):"), "{out}");
    for part in ["why:", "fix:", "source:", "fact: L2", "ignore:", "example:", "mesh: {provider: none}"] {
        assert!(out.contains(part), "{part}: {out}");
    }
    // The fact id is printed, the register it comes from (not shipped to users) is not.
    assert!(out.contains("fact: L2 (kgen's register of upstream facts)\n") && !out.contains("kserve-facts"), "{out}");
    assert_exit(&kgen(&["rules", "kg401"]), 0);
    let o = kgen(&["rules"]);
    assert_exit(&o, 0);
    assert!(stdout(&o).lines().any(|l| l.starts_with("KG108")), "{}", stdout(&o));
    assert!(stdout(&o).lines().any(|l| l.starts_with("KG407 ")), "retired codes are listed: {}", stdout(&o));
    let o = kgen(&["rules", "KG999"]);
    assert_exit(&o, 2);
    assert!(o.stdout.is_empty());
    // A retired code is explained, not answered with a did-you-mean of another rule.
    let o = kgen(&["rules", "kg407"]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(out.starts_with("KG407 (retired "), "{out}");
    assert!(out.contains("why: ") && out.contains("replaced by: KG404, KG406"), "{out}");
    assert!(!out.contains("did you mean") && stderr(&o).is_empty(), "{out}{}", stderr(&o));
}

#[test]
fn ignore_notes_are_for_validate_and_verbose() {
    // The examples with staging ignoring KG405 (it relies on the cluster's Gateway API CRDs):
    // `validate` shows the note, other commands do not repeat it on every run unless asked
    // with -v.
    let t = common::temp_project();
    let staging = t.path().join("environments/staging.yaml");
    let mut text = std::fs::read_to_string(&staging).unwrap();
    assert!(!text.contains("ignore:") && !text.contains("installCrds"), "{text}");
    text = text.replace("gatewayApi:\n", "gatewayApi:\n  installCrds: false\n");
    text.push_str("ignore:\n  - rule: KG405\n    reason: the platform team installs Gateway API\n");
    std::fs::write(&staging, text).unwrap();
    let kgen = |args: &[&str]| {
        let mut all = vec!["--color", "never"];
        all.extend_from_slice(args);
        kgen_env(t.path(), &all, &[("NO_COLOR", "1")])
    };
    assert_exit(&kgen(&["-q", "render"]), 0);
    let o = kgen(&["render", "--check"]);
    assert_exit(&o, 0);
    assert!(!stderr(&o).contains("KG405"), "{}", stderr(&o));
    let o = kgen(&["diff", "--format", "json"]);
    assert_exit(&o, 0);
    assert!(!stderr(&o).contains("KG405"), "{}", stderr(&o));
    let o = kgen(&["-v", "render", "--check"]);
    assert_exit(&o, 0);
    assert!(stderr(&o).contains("info[KG405]: `ignore[0].rule`: ignored in `staging`"), "{}", stderr(&o));
    let o = kgen(&["validate", "staging"]);
    assert_exit(&o, 0);
    assert!(stderr(&o).contains("info[KG405]"), "{}", stderr(&o));
}

#[test]
fn usage_errors_exit_2() {
    for args in [&["--bogus"][..], &["validate", "--bogus"][..], &["nosuch-command"][..], &[][..], &["show"][..]] {
        let o = kgen(args);
        assert_exit(&o, 2);
        assert!(o.stdout.is_empty(), "{args:?}: usage errors go to stderr");
    }
    for args in [&["--help"][..], &["--version"][..], &["validate", "--help"][..]] {
        assert_exit(&kgen(args), 0);
    }
}

#[test]
fn a_missing_environments_folder_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let o = kgen_env(tmp.path(), &["--color", "never", "validate"], &[]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("environments"), "{}", stderr(&o));
}

/// A project with one located error, so that `validate` prints a source frame.
fn broken_project() -> PathBuf {
    root().join("tests/fixtures/invalid/unknown-key")
}

#[test]
fn color_always_colours_and_never_or_no_color_do_not() {
    let dir = broken_project();
    let o = kgen_env(&dir, &["--color", "always", "validate"], &[]);
    assert_exit(&o, 2);
    assert!(o.stderr.contains(&0x1b), "--color always: {}", stderr(&o));
    assert!(stderr(&o).contains("\x1b[1;31merror[KG103]\x1b[0m: "), "the headline too: {}", stderr(&o));

    // A pipe is not a terminal; with NO_COLOR as well there is no reason to colour.
    let o = kgen_env(&dir, &["--color", "auto", "validate"], &[("NO_COLOR", "1")]);
    assert_exit(&o, 2);
    assert!(!o.stderr.contains(&0x1b), "--color auto + NO_COLOR: {}", stderr(&o));
    let o = kgen_env(&dir, &["--color", "never", "validate"], &[("TERM", "xterm-256color")]);
    assert!(!o.stderr.contains(&0x1b), "--color never: {}", stderr(&o));
    let o = kgen_env(&dir, &["validate"], &[("KGEN_COLOR", "always")]);
    assert!(o.stderr.contains(&0x1b), "KGEN_COLOR=always: {}", stderr(&o));
}

/// `--color auto` on a real terminal: colour, unless `NO_COLOR` is set. Uses util-linux
/// `script` for a pseudo-terminal; skipped where it is not installed.
#[test]
fn color_auto_on_a_terminal_honours_no_color() {
    let script = Path::new("/usr/bin/script");
    if !script.exists() || cfg!(not(target_os = "linux")) {
        eprintln!("skipped: no util-linux `script` for a pseudo-terminal");
        return;
    }
    let command = format!("'{}' -C '{}' --color auto validate", env!("CARGO_BIN_EXE_kgen"), broken_project().display());
    let run = |no_color: bool| {
        let mut cmd = Command::new(script);
        cmd.env_clear().env("PATH", "/usr/bin:/bin").env("TERM", "xterm-256color");
        if no_color {
            cmd.env("NO_COLOR", "1");
        }
        cmd.args(["-qec", &command, "/dev/null"]).stdin(Stdio::null()).output().expect("script runs")
    };
    let tty = run(false);
    let text = String::from_utf8_lossy(&tty.stdout);
    if !text.contains("KG103") {
        eprintln!("skipped: `script` did not run kgen on a terminal: {text}");
        return;
    }
    assert!(text.contains('\x1b'), "a terminal gets colour: {text}");
    let tty = run(true);
    let text = String::from_utf8_lossy(&tty.stdout);
    assert!(text.contains("KG103"), "{text}");
    assert!(!text.contains('\x1b'), "NO_COLOR=1 turns colour off on a terminal: {text}");
}

#[test]
fn a_closed_stdout_exits_quietly() {
    for args in [
        &["versions"][..],
        &["schema"][..],
        &["list"][..],
        &["show", "prod"][..],
        &["explain", "prod"][..],
        &["rules"][..],
        &["completions", "bash"][..],
    ] {
        // The read end is closed before kgen starts, so its first write fails with EPIPE.
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let mut all = vec!["--color", "never"];
        all.extend_from_slice(args);
        let o = Command::new(env!("CARGO_BIN_EXE_kgen"))
            .env_clear()
            .arg("-C")
            .arg(root())
            .args(&all)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .expect("kgen runs");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe") && !err.contains("os error 32"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn verbose_says_what_it_read() {
    let v = kgen(&["-v", "validate"]);
    assert_exit(&v, 0);
    let err = stderr(&v);
    assert!(err.contains("read 8 environment file(s)"), "{err}");
    assert!(err.contains("legacy: KServe v0.15.2 (Serverless mode), from environments/legacy.yaml"), "{err}");
    let plain = kgen(&["validate"]);
    assert!(!stderr(&plain).contains("read 8 environment file(s)"), "no debug lines without -v");
}

/// Globs and `--selector` pick environments by name pattern and by effective configuration.
#[test]
fn globs_and_selectors_select_environments() {
    let valid = |args: &[&str]| {
        let o = kgen(args);
        assert_exit(&o, 0);
        stderr(&o)
    };
    // Both OpenShift examples by glob, and by the platform they resolve to.
    assert!(valid(&["validate", "openshift*"]).contains("2 environments valid"));
    assert!(valid(&["validate", "--selector", "platform=openshift"]).contains("2 environments valid"));
    assert!(valid(&["validate", "-l", "platform=openshift", "-l", "mesh=ossm3"]).contains("1 environment valid"));
    let others = examples().len() - 2;
    assert!(valid(&["validate", "-l", "platform!=openshift"]).contains(&format!("{others} environments valid")));
    // A layer anywhere in the chain.
    let with_base = std::fs::read_dir(root().join("environments"))
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
        .filter(|t| t.lines().any(|l| l.trim() == "extends: _base"))
        .count();
    assert!(with_base > 0);
    assert!(valid(&["validate", "-l", "extends=_base"]).contains(&format!("{with_base} environment")));
    // `render --check` on a selection never looks at folders of environments left out.
    assert!(valid(&["render", "--check", "-l", "engine=flux"]).contains("up to date"));

    let o = kgen(&["validate", "nope-*"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("no environment matches `nope-*`"), "{}", stderr(&o));
    let o = kgen(&["validate", "-l", "platform"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("not `key=value`"), "{}", stderr(&o));
}

/// From an empty folder to a render: `init`, `new`, then `render` from a subfolder (the root is
/// found upward). Nothing is ever overwritten; outside a project the error says `kgen init`.
#[test]
fn init_and_new_start_a_project_that_renders_from_any_subfolder() {
    let t = tempfile::tempdir().unwrap();
    let run = |dir: &Path, args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kgen"));
        cmd.current_dir(dir).env_clear().env("NO_COLOR", "1").args(args);
        cmd.output().expect("kgen runs")
    };
    let o = run(t.path(), &["list"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("`kgen init` starts one here"), "{}", stderr(&o));

    assert_exit(&run(t.path(), &["init"]), 0);
    for f in ["environments/_base.yaml", "schemas/environment.schema.json", "schemas/layer.schema.json"] {
        assert!(t.path().join(f).is_file(), "{f}");
    }
    // The layer's `$schema` comment points at the layer schema it just wrote.
    let base = std::fs::read_to_string(t.path().join("environments/_base.yaml")).unwrap();
    assert!(base.starts_with("# yaml-language-server: $schema=../schemas/layer.schema.json\n"), "{base}");
    let o = run(t.path(), &["init"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("exists already"), "{}", stderr(&o));

    let new = [
        "new",
        "east",
        "--platform",
        "kubernetes",
        "--kubernetes",
        "1.33",
        "--mode",
        "Standard",
        "--mesh",
        "istio",
        "--engine",
        "flux",
    ];
    assert_exit(&run(t.path(), &new), 0);
    let east = std::fs::read_to_string(t.path().join("environments/east.yaml")).unwrap();
    let newest = kgen::catalog::get().newest().version.clone();
    assert!(east.contains(&format!("version: {newest}")) && east.contains("engine: flux"), "{east}");
    let o = run(t.path(), &new);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("never overwrites"), "{}", stderr(&o));

    let sub = t.path().join("environments/deeper/still");
    std::fs::create_dir_all(&sub).unwrap();
    let o = run(&sub, &["render"]);
    assert_exit(&o, 0);
    assert!(t.path().join("rendered/east/flux").is_dir(), "rendered at the project root: {}", stderr(&o));
    assert_exit(&run(&sub, &["render", "--check"]), 0);

    // OpenShift with Argo CD: a valid file whose engine namespace is OpenShift GitOps'.
    let o = run(t.path(), &["new", "ocp", "--platform", "openshift", "--kubernetes", "1.32"]);
    assert_exit(&o, 0);
    let o = run(t.path(), &["explain", "ocp", "gitops.namespace"]);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("openshift-gitops"), "{}", stdout(&o));
    // A file that would not validate is not written.
    let o = run(t.path(), &["new", "bad", "--kubernetes", "1.33", "--mode", "Knativ"]);
    assert_exit(&o, 2);
    assert!(!t.path().join("environments/bad.yaml").exists());
}

/// `kgen init --ci` writes a CI job that runs kgen's checks with the kgen that wrote it; it
/// refuses, before writing anything, when the CI file exists. (`.ci/run` checks both files
/// against GitHub's and GitLab's schemas.)
#[test]
fn init_ci_writes_a_job_that_runs_the_checks_and_never_overwrites() {
    let tag = format!("v{}", env!("CARGO_PKG_VERSION"));
    for (system, file) in [("github", ".github/workflows/kgen.yml"), ("gitlab", ".gitlab-ci.yml")] {
        let t = tempfile::tempdir().unwrap();
        let o = common::kgen(t.path(), &["init", "--ci", system, "--repo-url", "https://git.example.com/f.git"]);
        assert_exit(&o, 0);
        assert!(stderr(&o).contains(file) && stderr(&o).contains("your-org/kgen"), "{}", stderr(&o));
        let job = std::fs::read_to_string(t.path().join(file)).unwrap();
        let parsed = common::parse(&job);
        assert!(parsed.is_object(), "{job}");
        for needle in ["kgen validate --strict", "kgen render --all --check", "kgen diff", "--fail-on risk", &tag] {
            if system == "github" && (needle.starts_with("kgen diff") || needle == "--fail-on risk") {
                continue; // the action runs the diff
            }
            assert!(job.contains(needle), "{system}: `{needle}` missing:\n{job}");
        }
        if system == "github" {
            let steps = &parsed["jobs"]["kgen"]["steps"];
            assert_eq!(steps[1]["uses"], format!("your-org/kgen@{tag}"), "{job}");
            assert_eq!(steps[0]["with"]["fetch-depth"], 0, "the diff reads the base branch from git");
        } else {
            assert_eq!(parsed["kgen"]["variables"]["GIT_DEPTH"], "0", "{job}");
        }
    }
    // An existing CI file: refused, and no half project is left behind.
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join(".gitlab-ci.yml"), "stages: [build]\n").unwrap();
    let o = common::kgen(t.path(), &["init", "--ci", "gitlab"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("exists already"), "{}", stderr(&o));
    assert!(!t.path().join("environments").exists());
    assert_eq!(std::fs::read_to_string(t.path().join(".gitlab-ci.yml")).unwrap(), "stages: [build]\n");
}

/// `render --check` colours its diff like `git diff` under the colour rules, and not otherwise.
#[test]
fn check_diffs_are_coloured_under_the_colour_rules() {
    let t = common::temp_project();
    assert_exit(&common::kgen(t.path(), &["render", "dev"]), 0);
    let values = t.path().join("rendered/dev/values/kserve.yaml");
    let text = std::fs::read_to_string(&values).unwrap();
    std::fs::write(&values, text.replacen("kserve:", "kserve: # hand edit", 1)).unwrap();
    let o = kgen_env(t.path(), &["--color", "always", "render", "--check", "dev"], &[]);
    assert_exit(&o, 1);
    assert!(stdout(&o).contains("\x1b[31m-kserve:"), "{}", stdout(&o));
    assert!(stdout(&o).contains("\x1b[32m+kserve:\x1b[0m"), "{}", stdout(&o));
    let o = kgen_env(t.path(), &["--color", "never", "render", "--check", "dev"], &[]);
    assert_exit(&o, 1);
    assert!(!o.stdout.contains(&0x1b), "{}", stdout(&o));
}

/// `-q` is silent on success; `-v` and `-vv` say progressively more.
#[test]
fn quiet_and_verbosity_levels() {
    let o = kgen(&["-q", "diff"]);
    assert_exit(&o, 0);
    assert!(o.stdout.is_empty() && o.stderr.is_empty(), "{}{}", stdout(&o), stderr(&o));
    let o = kgen(&["diff"]);
    assert!(stdout(&o).contains("no changes"), "without -q the report says so");
    let v = kgen(&["-v", "validate", "dev"]);
    let vv = kgen(&["-vv", "validate", "dev"]);
    assert_exit(&v, 0);
    assert_exit(&vv, 0);
    assert!(stderr(&v).contains("checked 1 environment(s)") && !stderr(&v).contains("judged in"), "{}", stderr(&v));
    assert!(stderr(&vv).contains("dev: loaded, merged, validated and judged in"), "{}", stderr(&vv));
}

/// Every scripting surface has `--format json`, schema-versioned, described by a committed
/// schema (drift-tested) that its output validates against.
#[test]
fn json_outputs_follow_their_committed_schemas() {
    let committed = |name: &str| -> Value {
        let o = kgen(&["schema", "--output", name]);
        assert_exit(&o, 0);
        let path = root().join(format!("schemas/{name}.schema.json"));
        let file = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(o.stdout == file, "schemas/{name}.schema.json is stale: run `cargo run -- schema --output {name}`");
        serde_json::from_slice(&file).unwrap()
    };
    let check = |schema: &Value, args: &[&str], dir: Option<&Path>, code: i32| -> Value {
        let o = match dir {
            Some(d) => kgen_env(d, args, &[("NO_COLOR", "1")]),
            None => kgen(args),
        };
        assert_exit(&o, code);
        let out: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stdout(&o)));
        let v = jsonschema::validator_for(schema).expect("schema compiles");
        let errors: Vec<String> = v.iter_errors(&out).map(|e| format!("{e} at {}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{args:?}: {errors:#?}");
        if let Some(n) = out.get("schemaVersion") {
            let mut other = out.clone();
            other["schemaVersion"] = (n.as_u64().unwrap() + 1).into();
            assert!(!v.is_valid(&other), "{args:?}: another schema version does not validate");
        }
        out
    };
    let list = check(&committed("list"), &["list", "--format", "json"], None, 0);
    assert_eq!(list["environments"].as_array().unwrap().len(), examples().len());
    let versions = check(&committed("versions"), &["versions", "--format", "json"], None, 0);
    assert_eq!(versions["releases"][0]["version"], kgen::catalog::get().newest().version.as_str());
    let rules = check(&committed("rules"), &["rules", "--format", "json"], None, 0);
    assert!(rules["rules"].as_array().unwrap().iter().any(|r| r["code"] == "KG101"));
    let validate = committed("validate");
    let ok = check(&validate, &["validate", "--format", "json"], None, 0);
    assert_eq!(ok["valid"], true);
    let bad = check(&validate, &["validate", "--format", "json"], Some(&broken_project()), 2);
    assert_eq!(bad["diagnostics"][0]["code"], "KG103");
    assert_eq!(bad["diagnostics"][0]["file"], "environments/dev.yaml");
    // `show --format json` is an environment: the environment schema describes it.
    let env_schema: Value =
        serde_json::from_slice(&std::fs::read(root().join("schemas/environment.schema.json")).unwrap()).unwrap();
    for name in examples() {
        let shown = check(&env_schema, &["show", &name, "--format", "json"], None, 0);
        assert_eq!(shown["apiVersion"], "kgen/v1");
    }
    // GitHub annotations: one workflow command per problem, at its file and line.
    let o = kgen_env(&broken_project(), &["validate", "--format", "github"], &[]);
    assert_exit(&o, 2);
    assert!(
        stdout(&o).starts_with("::error file=environments/dev.yaml,title=KG103 error,line=10,col=3::"),
        "{}",
        stdout(&o)
    );
}

/// Every problem in one run: a file with a schema error, an unknown key and missing required
/// fields reports all of them at once (the missing fields used to wait for the others' fix). A
/// misspelt key is not reported a second time as its field missing.
#[test]
fn schema_errors_and_missing_fields_in_one_run() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir(t.path().join("environments")).unwrap();
    std::fs::write(
        t.path().join("environments/east.yaml"),
        "apiVersion: kgen/v1\nkind: Environment\ncluster: {platform: kubernetes, kubernetesVersion: \"1.33\"}\nkserve: {version: v0.20.0, deploymentMode: Knativ}\nmesh: {provider: istio, sidecarAutoInjct: true}\n",
    )
    .unwrap();
    let o = kgen_env(t.path(), &["validate"], &[("NO_COLOR", "1")]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    for expected in [
        "error[KG105]: `kserve.deploymentMode`",
        "error[KG103]: `mesh.sidecarAutoInjct`",
        "error[KG107]: `gitops`",
        "error[KG107]: `kserve.ingressDomain`",
    ] {
        assert!(err.contains(expected), "{expected} missing:\n{err}");
    }
    assert!(!err.contains("error[KG107]: `mesh."), "a misspelt key is one mistake:\n{err}");
}

/// `kgen man` prints the man page generated from the same definitions as `--help`, and
/// `--out DIR` writes one page per command.
#[test]
fn man_pages_cover_every_command() {
    let o = kgen(&["man"]);
    assert_exit(&o, 0);
    let page = stdout(&o);
    assert!(page.contains(".TH kgen 1"), "{page}");
    let commands: Vec<String> = {
        use clap::CommandFactory;
        kgen::cli::Cli::command()
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|s| s.get_name().to_string())
            .collect()
    };
    assert!(commands.len() >= 12, "{commands:?}");
    for c in &commands {
        assert!(page.contains(&format!("kgen\\-{c}")) || page.contains(c.as_str()), "{c} not in kgen.1");
    }
    let t = tempfile::tempdir().unwrap();
    let o = kgen(&["man", "--out", t.path().to_str().unwrap()]);
    assert_exit(&o, 0);
    for c in &commands {
        let text = std::fs::read_to_string(t.path().join(format!("kgen-{c}.1"))).unwrap();
        assert!(text.contains(&format!(".TH kgen-{c} 1")), "{c}: {}", &text[..text.len().min(300)]);
    }
}
