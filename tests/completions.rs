//! Dynamic shell completion, driven as the shells drive it: the script `kgen completions SHELL`
//! prints runs `COMPLETE=SHELL kgen -- <words typed so far>` (bash: with the index of the word
//! being completed in `_CLAP_COMPLETE_INDEX`) and reads candidates from stdout.

use crate::common::{self, root, temp_project};

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// `COMPLETE=bash kgen -- <words>` in `cwd`, completing the last word, with nothing else in the
/// environment: what bash's script runs on TAB.
fn ask(cwd: &Path, words: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kgen"))
        .env_clear()
        .env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", (words.len() - 1).to_string())
        .env("_CLAP_IFS", "\n")
        .arg("--")
        .args(words)
        .current_dir(cwd)
        .output()
        .expect("kgen runs")
}

/// The candidates for the last of `words`, asserting the request succeeded and said nothing on
/// stderr (anything there would land in the user's prompt).
#[track_caller]
fn candidates(cwd: &Path, words: &[&str]) -> Vec<String> {
    let o = ask(cwd, words);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && err.is_empty(), "{words:?}: exit {:?}, stderr: {err}", o.status.code());
    String::from_utf8(o.stdout).unwrap().lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
}

/// Candidates that are values (not `--flags`).
#[track_caller]
fn values(cwd: &Path, words: &[&str]) -> Vec<String> {
    candidates(cwd, words).into_iter().filter(|c| !c.starts_with('-')).collect()
}

/// `COMPLETE=fish`: fish's protocol, each candidate followed by a tab and its help.
#[track_caller]
fn with_help(cwd: &Path, words: &[&str]) -> Vec<(String, String)> {
    let o = Command::new(env!("CARGO_BIN_EXE_kgen"))
        .env_clear()
        .env("COMPLETE", "fish")
        .arg("--")
        .args(words)
        .current_dir(cwd)
        .output()
        .expect("kgen runs");
    assert!(o.status.success() && o.stderr.is_empty(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (v, h) = l.split_once('\t').unwrap_or((l, ""));
            (v.to_string(), h.to_string())
        })
        .collect()
}

fn envs_of_the_examples() -> Vec<String> {
    common::examples()
}

#[test]
fn environment_names_complete_wherever_an_environment_is_taken() {
    let t = temp_project();
    let all = envs_of_the_examples();
    for words in [
        &["kgen", "render", ""][..],
        &["kgen", "diff", ""],
        &["kgen", "validate", "prod", ""],
        &["kgen", "list", ""],
        &["kgen", "show", ""],
        &["kgen", "explain", ""],
        &["kgen", "upgrade", ""],
    ] {
        assert_eq!(values(t.path(), words), all, "{words:?}");
    }
    assert_eq!(values(t.path(), &["kgen", "render", "pr"]), ["prod"]);
    assert_eq!(values(t.path(), &["kgen", "show", "openshift"]), ["openshift", "openshift-ossm3"]);
    // Layers are not environments.
    assert!(!all.iter().any(|e| e.starts_with('_')), "{all:?}");
    assert!(values(t.path(), &["kgen", "render", "_"]).is_empty());
    // A new environment's name is new: nothing to offer.
    assert!(values(t.path(), &["kgen", "new", "pr"]).is_empty());
}

#[test]
fn names_are_listed_not_read_in_natural_order_and_fast_on_a_fleet() {
    let t = temp_project();
    let envs = t.path().join("environments");
    for i in 1..=1000 {
        std::fs::write(envs.join(format!("fleet-{i}.yaml")), "not: [valid").unwrap();
    }
    // Files kgen does not read as environments are not offered.
    std::fs::write(envs.join("notes.yml"), "").unwrap();
    std::fs::write(envs.join("Bad_Name.yaml"), "").unwrap();
    let started = Instant::now();
    let got = values(t.path(), &["kgen", "render", "fleet-99"]);
    let took = started.elapsed();
    let want: Vec<String> =
        ["fleet-99"].into_iter().map(String::from).chain((990..=999).map(|i| format!("fleet-{i}"))).collect();
    assert_eq!(got, want);
    // Generous for a debug build on a busy machine; it takes a few milliseconds.
    assert!(took < Duration::from_secs(2), "completion took {took:?}");
    let all = values(t.path(), &["kgen", "render", ""]);
    assert_eq!(all.len(), envs_of_the_examples().len() + 1000);
    assert!(!all.iter().any(|n| n == "notes" || n == "Bad_Name"), "{all:?}");
    // A file that does not parse adds no key paths, and says nothing.
    assert!(!values(t.path(), &["kgen", "explain", "fleet-1", "kserve."]).is_empty());
}

#[test]
fn the_project_is_found_upward_or_from_dash_c() {
    let t = temp_project();
    let inside = t.path().join("environments");
    assert_eq!(values(&inside, &["kgen", "render", "pr"]), ["prod"]);
    let elsewhere = tempfile::tempdir().unwrap();
    let project = t.path().to_str().unwrap();
    let long = format!("--directory={project}");
    for words in [
        &["kgen", "-C", project, "render", "pr"][..],
        &["kgen", "render", "-C", project, "pr"],
        &["kgen", "--directory", project, "render", "pr"],
        &["kgen", &long, "render", "pr"],
    ] {
        assert_eq!(values(elsewhere.path(), words), ["prod"], "{words:?}");
    }
    // Without a project: no candidates, no message, exit 0.
    assert!(values(elsewhere.path(), &["kgen", "render", ""]).is_empty());
    assert!(values(elsewhere.path(), &["kgen", "-C", "/nonexistent", "show", ""]).is_empty());
    assert!(values(elsewhere.path(), &["kgen", "new", "x", "--extends", ""]).is_empty());
}

#[test]
fn layers_complete_for_extends() {
    let t = temp_project();
    std::fs::write(t.path().join("environments/_eu.yaml"), "apiVersion: kgen/v1\nkind: Environment\n").unwrap();
    assert_eq!(values(t.path(), &["kgen", "new", "east", "--extends", ""]), ["_base", "_eu"]);
    assert_eq!(values(t.path(), &["kgen", "list", "-l", "extends="]), ["extends=_base", "extends=_eu"]);
}

#[test]
fn rule_codes_complete_with_their_titles() {
    let here = root();
    let all = values(&here, &["kgen", "rules", ""]);
    let rules = kgen::rules::rules();
    let retired = kgen::rules::retired();
    assert_eq!(all.len(), rules.len() + retired.len(), "{all:?}");
    for r in rules {
        assert!(all.contains(&r.code), "{} missing", r.code);
    }
    let kg40 = values(&here, &["kgen", "rules", "KG40"]);
    assert!(kg40.contains(&"KG401".to_string()) && kg40.iter().all(|c| c.starts_with("KG40")), "{kg40:?}");
    // Retired codes too: `kgen rules` explains them.
    assert!(kg40.contains(&"KG407".to_string()), "{kg40:?}");
    // `kgen rules kg401` works, so a lower-case start completes.
    assert_eq!(values(&here, &["kgen", "rules", "kg401"]), ["KG401"]);
    assert!(values(&here, &["kgen", "rules", "XX"]).is_empty());
    let helped = with_help(&here, &["kgen", "rules", "KG401"]);
    let title = &kgen::rules::rule("KG401").unwrap().title;
    assert_eq!(helped, [("KG401".to_string(), title.clone())]);
}

#[test]
fn explain_keys_are_the_keys_explain_accepts() {
    let here = root();
    let offered = values(&here, &["kgen", "explain", "prod", ""]);
    let (_, judged) = common::resolved_in(&here, "prod");
    let leaves: Vec<String> = kgen::explain::leaves(&judged.resolved).into_iter().map(|l| l.key).collect();
    let schema = kgen::config::schema::environment_schema();
    for key in &offered {
        // `kgen explain prod KEY` selects the key or the keys under it, or says the model's key
        // is not set (exit 0): never "not a key".
        let selects = leaves
            .iter()
            .any(|l| l.strip_prefix(key.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '['])));
        let pointer: String = key.split('.').map(|s| format!("/{}", kgen::yaml::escape_pointer(s))).collect();
        let in_model = kgen::config::schema::schema_at(schema, &pointer).is_some();
        assert!(selects || in_model, "`{key}` is offered but `kgen explain prod {key}` would refuse it");
    }
    // Every value prod has is offered, list items (`ignore[0].rule`) by their list.
    for leaf in &leaves {
        let key = leaf.split('[').next().unwrap();
        assert!(offered.contains(&key.to_string()), "`{leaf}` of prod is not offered");
    }
    let kserve = values(&here, &["kgen", "explain", "prod", "kserve.v"]);
    assert_eq!(kserve, ["kserve.version"]);
    // Under the model's open maps, the keys prod's files (and its layers) set.
    let overrides = values(&here, &["kgen", "explain", "prod", "values.kserve."]);
    assert!(overrides.iter().any(|k| k.starts_with("values.kserve.kserve.controller")), "{overrides:?}");
    // Options before the environment do not hide it.
    let again = values(&here, &["kgen", "explain", "--format", "json", "prod", "values.kserve."]);
    assert_eq!(again, overrides);
    // An unknown environment still gets the model's keys.
    assert!(values(&here, &["kgen", "explain", "nosuch", "kserve.v"]) == ["kserve.version"]);
    let helped = with_help(&here, &["kgen", "explain", "prod", "kserve.ingressDomain"]);
    assert_eq!(helped.len(), 1);
    assert!(helped[0].1.starts_with("DNS domain"), "{helped:?}");
}

#[test]
fn explain_keys_read_nothing_outside_the_project() {
    let t = temp_project();
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("east.yaml");
    std::fs::write(&secret, "apiVersion: kgen/v1\nkind: Environment\nvalues:\n  kserve:\n    secretKey: 1\n").unwrap();
    std::os::unix::fs::symlink(&secret, t.path().join("environments/east.yaml")).unwrap();
    let keys = values(t.path(), &["kgen", "explain", "east", "values.kserve."]);
    assert!(!keys.iter().any(|k| k.contains("secretKey")), "{keys:?}");
    // The same file inside the project is read.
    std::fs::remove_file(t.path().join("environments/east.yaml")).unwrap();
    std::fs::copy(&secret, t.path().join("environments/east.yaml")).unwrap();
    let keys = values(t.path(), &["kgen", "explain", "east", "values.kserve."]);
    assert!(keys.contains(&"values.kserve.secretKey".to_string()), "{keys:?}");
}

#[test]
fn selector_keys_and_values_complete() {
    let here = root();
    assert_eq!(values(&here, &["kgen", "list", "-l", "pla"]), ["platform="]);
    assert_eq!(
        values(&here, &["kgen", "validate", "--selector", "platform="]),
        ["platform=kubernetes", "platform=openshift"]
    );
    assert_eq!(values(&here, &["kgen", "diff", "-l", "mesh!=oss"]), ["mesh!=ossm2", "mesh!=ossm3"]);
    assert_eq!(values(&here, &["kgen", "list", "-l", "engine=f"]), ["engine=flux"]);
    let keys = values(&here, &["kgen", "list", "-l", ""]);
    for k in ["platform=", "kubernetes=", "mesh=", "engine=", "mode=", "version=", "extends=", "cluster.platform="] {
        assert!(keys.contains(&k.to_string()), "{k} missing: {keys:?}");
    }
    // A key path holding a map is not a selector key.
    assert!(!keys.contains(&"kserve=".to_string()) && !keys.contains(&"ignore=".to_string()), "{keys:?}");
    // A list of names is: the selector matches one of them.
    assert!(keys.contains(&"kserve.modelNamespaces=".to_string()), "{keys:?}");
    let newest = kgen::catalog::get()
        .releases
        .iter()
        .map(|r| r.version.clone())
        .max_by_key(|v| kgen::version::Version::parse(v));
    let versions = values(&here, &["kgen", "list", "-l", "version="]);
    assert_eq!(versions.first(), newest.map(|v| format!("version={v}")).as_ref(), "newest first: {versions:?}");
    assert_eq!(
        values(&here, &["kgen", "list", "-l", "kserve.installRuntimes="]),
        ["kserve.installRuntimes=true", "kserve.installRuntimes=false"]
    );
}

#[test]
fn releases_shells_and_new_flags_complete() {
    let here = root();
    let releases = values(&here, &["kgen", "upgrade", "prod", "--to", ""]);
    assert_eq!(releases.len(), kgen::catalog::get().releases.len(), "{releases:?}");
    assert_eq!(values(&here, &["kgen", "new", "x", "--kubernetes", "1.33", "--version", ""]), releases);
    assert_eq!(values(&here, &["kgen", "completions", ""]), ["bash", "elvish", "fish", "powershell", "zsh"]);
    assert_eq!(values(&here, &["kgen", "new", "x", "--platform", ""]), ["kubernetes", "openshift"]);
    assert_eq!(values(&here, &["kgen", "new", "x", "--mesh", "oss"]), ["ossm2", "ossm3"]);
    assert_eq!(values(&here, &["kgen", "new", "x", "--engine", ""]), ["argocd", "flux", "none"]);
    assert!(values(&here, &["kgen", "new", "x", "--mode", ""]).contains(&"Standard".to_string()));
    assert_eq!(values(&here, &["kgen", "ex"]), ["explain"]);
    assert!(candidates(&here, &["kgen", "render", "--ch"]).contains(&"--check".to_string()));
}

#[test]
fn allow_removal_offers_renders_whose_environment_is_gone() {
    let t = temp_project();
    std::fs::create_dir_all(t.path().join("rendered/prod")).unwrap();
    std::fs::create_dir_all(t.path().join("rendered/old-east")).unwrap();
    assert_eq!(values(t.path(), &["kgen", "render", "--allow-removal", ""]), ["old-east"]);
}

#[test]
fn a_request_that_cannot_be_answered_is_silent() {
    let here = root();
    // No word to complete: exit 1 (the scripts read it as "no candidates"), nothing on stderr.
    let o = Command::new(env!("CARGO_BIN_EXE_kgen"))
        .env_clear()
        .env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", "7")
        .args(["--", "kgen"])
        .current_dir(&here)
        .output()
        .unwrap();
    assert!(o.stdout.is_empty() && o.stderr.is_empty(), "{}", String::from_utf8_lossy(&o.stderr));
    // An unknown shell asking for its script is told.
    let o = Command::new(env!("CARGO_BIN_EXE_kgen")).env_clear().env("COMPLETE", "tcsh").output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown shell `tcsh`"));
    // `COMPLETE` empty or `0` is a normal run.
    for off in ["", "0"] {
        let o = Command::new(env!("CARGO_BIN_EXE_kgen"))
            .env_clear()
            .env("COMPLETE", off)
            .arg("--version")
            .output()
            .unwrap();
        assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).starts_with("kgen "), "{off:?}");
    }
}

/// What each shell's script must contain to call kgen back, and to register for `kgen`.
const SCRIPTS: &[(&str, &[&str])] = &[
    ("bash", &["VAR=\"bash\"", "COMPLETE=\"bash\"", "-F _clap_complete_kgen kgen"]),
    ("zsh", &["#compdef kgen", "COMPLETE=\"zsh\"", "compdef _clap_dynamic_completer_kgen kgen"]),
    ("fish", &["complete --keep-order --exclusive --command kgen", "COMPLETE=fish"]),
    ("elvish", &["arg-completer[kgen]", "COMPLETE=\"elvish\""]),
    ("powershell", &["Register-ArgumentCompleter -Native -CommandName kgen", "$env:COMPLETE = \"powershell\""]),
];

#[test]
fn completions_prints_each_shells_registration_script() {
    let here = root();
    let bin = env!("CARGO_BIN_EXE_kgen");
    for (shell, parts) in SCRIPTS {
        let o = common::kgen(&here, &["completions", shell]);
        assert!(o.status.success(), "{shell}: {}", String::from_utf8_lossy(&o.stderr));
        let script = String::from_utf8(o.stdout).unwrap();
        // The script runs this kgen back on every TAB.
        assert!(script.contains(bin), "{shell} does not call {bin}:\n{script}");
        for part in parts.iter().filter(|p| !p.starts_with("VAR=")) {
            assert!(script.contains(part), "{shell}: `{part}` missing:\n{script}");
        }
        // Not clap's static script, whose candidates are fixed when it is printed.
        assert!(!script.contains("prod") && !script.contains("KG401"), "{shell}");
        // `COMPLETE=SHELL kgen`, clap_complete's own way to ask, prints the same.
        let o = Command::new(bin).env_clear().env("COMPLETE", shell).current_dir(&here).output().unwrap();
        assert_eq!(String::from_utf8(o.stdout).unwrap(), script, "{shell}");
    }
    // zsh's also completes on the first TAB when installed as `_kgen` in `$fpath`, where zsh runs
    // the file as the body of `_kgen`.
    let zsh = String::from_utf8(common::kgen(&here, &["completions", "zsh"]).stdout).unwrap();
    assert!(
        zsh.contains("if [ \"$funcstack[1]\" = \"_kgen\" ]; then\n    _clap_dynamic_completer_kgen \"$@\""),
        "{zsh}"
    );
}

/// Runs `script` (after the completion script of `shell` is loaded) in the real shell, or prints
/// one line and returns `None` when the shell is not installed.
fn in_shell(shell: &str, args: &[&str], script: &str, cwd: &Path, env: &[(&str, &Path)]) -> Option<String> {
    if Command::new(shell).arg("--version").output().is_err() {
        println!("skipped: {shell} is not installed");
        return None;
    }
    let mut cmd = Command::new(shell);
    cmd.args(args).arg(script).current_dir(cwd).env("PATH", path_with_kgen()).env_remove("COMPLETE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{shell}: {}", String::from_utf8_lossy(&o.stderr));
    Some(String::from_utf8(o.stdout).unwrap())
}

/// `PATH` with the folder of the kgen under test first, so the scripts' `kgen` is this one.
fn path_with_kgen() -> String {
    let dir = Path::new(env!("CARGO_BIN_EXE_kgen")).parent().unwrap().display().to_string();
    format!("{dir}:{}", std::env::var("PATH").unwrap_or_default())
}

#[test]
fn bash_completes_through_the_installed_script() {
    let t = temp_project();
    let script = r#"
source <(kgen completions bash)
complete -p kgen
tab() { COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
        _clap_complete_kgen kgen "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
        printf '%s|' "${COMPREPLY[@]}"; echo; }
tab kgen render pr
tab kgen rules KG40
tab kgen explain prod kserve.ver
tab kgen list -l platform=op
tab kgen show nosuch
"#;
    let Some(out) = in_shell("bash", &["--norc", "--noprofile", "-c"], script, t.path(), &[]) else { return };
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains("-F _clap_complete_kgen kgen"), "{out}");
    assert_eq!(lines[1], "prod|");
    assert!(lines[2].starts_with("KG401|KG402|"), "{out}");
    assert_eq!(lines[3], "kserve.version|");
    assert_eq!(lines[4], "platform=openshift|");
    assert_eq!(lines[5], "|");
}

#[test]
fn fish_completes_through_the_installed_script() {
    let t = temp_project();
    let config = tempfile::tempdir().unwrap();
    let dir = config.path().join("fish/completions");
    std::fs::create_dir_all(&dir).unwrap();
    let o = common::kgen(&root(), &["completions", "fish"]);
    std::fs::write(dir.join("kgen.fish"), o.stdout).unwrap();
    let script = "complete --do-complete 'kgen render pr'; complete --do-complete 'kgen rules KG401'";
    // fish finds `completions/kgen.fish` under XDG_CONFIG_HOME, as under `~/.config`.
    let env = [("XDG_CONFIG_HOME", config.path()), ("XDG_DATA_HOME", config.path())];
    let Some(out) = in_shell("fish", &["-c"], script, t.path(), &env) else { return };
    let title = &kgen::rules::rule("KG401").unwrap().title;
    assert_eq!(out, format!("prod\nKG401\t{title}\n"));
}

#[test]
fn the_docs_install_completions_as_the_help_says() {
    let help = String::from_utf8(common::kgen(&root(), &["completions", "--help"]).stdout).unwrap();
    let readme = std::fs::read_to_string(root().join("docs/commands.md")).unwrap().replace("\\|", "|");
    let snippets: Vec<&str> = help.split('`').skip(1).step_by(2).filter(|s| s.contains("kgen completions ")).collect();
    assert_eq!(snippets.len(), 7, "{snippets:?}");
    for s in snippets {
        // `--help` wraps long lines.
        let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(readme.contains(&s), "`{s}` of `kgen completions --help` is not in docs/commands.md");
    }
}
