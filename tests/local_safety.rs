//! Local safety, the read side: kgen reads only what is its own (no environment file through a
//! symlink leaving the project, no render through a symlink), reads the previous render and its
//! index within limits, and never prints a control character it read (file names, values).
//! Every case runs the real binary and asserts exit codes and messages.
#![cfg(unix)]

use crate::common;

use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{git, temp_project};

/// `kgen -C dir --color never args` with a clean environment plus `extra_env`.
fn kgen_env(dir: &Path, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kgen"));
    cmd.env_clear().env("NO_COLOR", "1").arg("-C").arg(dir).args(["--color", "never"]).args(args);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.output().expect("kgen runs")
}

fn kgen(dir: &Path, args: &[&str]) -> Output {
    kgen_env(dir, args, &[])
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn assert_exit(o: &Output, code: i32) {
    assert_eq!(o.status.code(), Some(code), "--- stdout ---\n{}\n--- stderr ---\n{}", out(o), err(o));
    assert!(!err(o).contains("panicked"), "{}", err(o));
}

/// Whether any raw control character other than a line break or a tab reached the output.
fn has_raw_control(s: &str) -> bool {
    s.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
}

/// A secret in a file outside the project, as YAML that would fail with a source frame (a
/// syntax error) if kgen read it: it must never be printed.
const SECRET: &str = "hunter2-s3cr3t";

#[test]
fn an_environment_file_linked_outside_the_project_is_refused_and_never_printed() {
    let project = temp_project();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("creds.yaml");
    std::fs::write(&target, format!("token: {SECRET}\n  broken: [\n")).unwrap();
    let envs = project.path().join("environments");
    symlink(&target, envs.join("leak.yaml")).unwrap();
    // The case: the process environment through /proc, with a secret in it.
    symlink("/proc/self/environ", envs.join("environ.yaml")).unwrap();
    for args in [&["validate"][..], &["render", "--check"], &["diff"], &["validate", "leak"]] {
        let o = kgen_env(project.path(), args, &[("SECRET_TOKEN", SECRET)]);
        assert_exit(&o, 2);
        let (e, s) = (err(&o), out(&o));
        assert!(!e.contains(SECRET) && !s.contains(SECRET), "{args:?} printed the secret:\n{e}{s}");
        assert!(
            e.contains(&format!(
                "error[KG100]: symlink to `{}`, outside the project, so kgen does not read it",
                target.display()
            )) || e.contains(&format!("symlink to `{}`", target.canonicalize().unwrap().display())),
            "{args:?}: the target is named:\n{e}"
        );
        assert!(e.contains("  --> environments/leak.yaml\n"), "{e}");
        if args != ["validate", "leak"] {
            assert!(e.contains("symlink to `/proc/self/environ` (`/proc/"), "{e}");
        }
        for name in ["leak", "environ"] {
            assert!(!e.contains(&format!("[environments/{name}.yaml")), "no source frame for {name}:\n{e}");
        }
    }
    assert!(!project.path().join("rendered").exists());
    // A symlink inside the project to a regular file is read as usual.
    std::fs::remove_file(envs.join("leak.yaml")).unwrap();
    std::fs::remove_file(envs.join("environ.yaml")).unwrap();
    std::fs::create_dir(project.path().join("shared")).unwrap();
    std::fs::rename(envs.join("dev.yaml"), project.path().join("shared/dev.yaml")).unwrap();
    symlink("../shared/dev.yaml", envs.join("dev.yaml")).unwrap();
    assert_exit(&kgen(project.path(), &["validate", "dev"]), 0);
    // A link inside the project that leads out through another link is outside.
    std::fs::remove_file(project.path().join("shared/dev.yaml")).unwrap();
    symlink(&target, project.path().join("shared/dev.yaml")).unwrap();
    let o = kgen(project.path(), &["validate", "dev"]);
    assert_exit(&o, 2);
    assert!(err(&o).contains("error[KG100]: symlink to `../shared/dev.yaml` (`"), "{}", err(&o));
    assert!(!err(&o).contains(SECRET));
}

#[test]
fn an_environments_folder_outside_the_project_is_refused_once() {
    let project = tempfile::tempdir().unwrap();
    let elsewhere = temp_project();
    symlink(elsewhere.path().join("environments"), project.path().join("environments")).unwrap();
    let o = kgen(project.path(), &["validate"]);
    assert_exit(&o, 2);
    assert_eq!(err(&o).matches("error: `environments` resolves to `").count(), 1, "{}", err(&o));
    assert!(err(&o).contains("outside the project folder"), "{}", err(&o));
}

/// A sparse file of `len` bytes: instant, and no disk space.
fn sparse(path: &Path, len: u64) {
    std::fs::File::create(path).unwrap().set_len(len).unwrap();
}

const GIB: u64 = 1024 * 1024 * 1024;

#[test]
fn a_huge_file_in_the_previous_render_is_refused_fast_without_reading_it() {
    let project = temp_project();
    let dir = project.path();
    assert_exit(&kgen(dir, &["render", "dev"]), 0);
    let values = dir.join("rendered/dev/values/kserve.yaml");
    sparse(&values, GIB);
    let said = "rendered/dev/values/kserve.yaml` is larger than 8 MiB, the most kgen reads of one file of a \
                previous render";
    for args in [&["render", "--check", "dev"][..], &["diff", "dev"], &["render", "dev"], &["render", "--check"]] {
        let start = Instant::now();
        let o = kgen(dir, args);
        assert_exit(&o, 2);
        assert!(start.elapsed() < Duration::from_secs(20), "{args:?} took {:?}", start.elapsed());
        assert!(err(&o).contains(said), "{args:?}:\n{}", err(&o));
        assert_eq!(err(&o).matches(said).count(), 1, "{}", err(&o));
    }
    assert_eq!(std::fs::metadata(&values).unwrap().len(), GIB, "render did not touch the file");
    // The previous index has its own limit, for every command that reads it.
    std::fs::remove_file(&values).unwrap();
    sparse(&dir.join("rendered/dev/kgen.lock.json"), GIB);
    for args in [&["validate", "dev"][..], &["render", "--check", "dev"], &["diff", "dev"]] {
        let o = kgen(dir, args);
        assert_exit(&o, 2);
        assert!(
            err(&o)
                .contains("rendered/dev/kgen.lock.json` is larger than 1 MiB, the most kgen reads of a previous index"),
            "{args:?}:\n{}",
            err(&o)
        );
    }
}

#[test]
fn the_previous_render_of_one_environment_is_bounded_in_all() {
    let project = temp_project();
    let dir = project.path();
    assert_exit(&kgen(dir, &["render", "dev"]), 0);
    // Five generated files each just under the per-file limit: 40 MiB in all.
    let values = dir.join("rendered/dev/values");
    let mut names: Vec<_> = std::fs::read_dir(&values).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    assert!(names.len() >= 5);
    for p in &names[..5] {
        sparse(p, 8 * 1024 * 1024 - 1);
    }
    let o = kgen(dir, &["render", "--check", "dev"]);
    assert_exit(&o, 2);
    assert!(err(&o).contains("holds more than 32 MiB in the files kgen reads"), "{}", err(&o));
}

#[test]
fn a_huge_file_at_a_git_ref_is_refused_before_it_is_read() {
    let project = temp_project();
    let dir = project.path();
    git(dir, &["init", "-q", "-b", "main"]);
    assert_exit(&kgen(dir, &["render", "dev"]), 0);
    // 9 MiB of zeros: compressed to almost nothing in git.
    sparse(&dir.join("rendered/dev/values/kserve.yaml"), 9 * 1024 * 1024);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "render"]);
    let o = kgen(dir, &["diff", "dev", "--git-ref", "HEAD"]);
    assert_exit(&o, 2);
    assert!(err(&o).contains("rendered/dev/values/kserve.yaml` is larger than 8 MiB"), "{}", err(&o));
}

#[test]
fn control_characters_in_names_are_escaped() {
    let project = temp_project();
    let dir = project.path();
    // A file name that would clear the screen and set the window title.
    let evil = "\u{1b}[2J\u{1b}]0;pwned\u{7}";
    std::fs::write(dir.join(format!("environments/{evil}.yaml")), "apiVersion: kgen/v1\n").unwrap();
    let o = kgen(dir, &["validate"]);
    assert_exit(&o, 2);
    assert!(!has_raw_control(&err(&o)), "{:?}", err(&o));
    assert!(
        err(&o).contains("error[KG111]: invalid environment file name `\\u{1b}[2J\\u{1b}]0;pwned\\u{7}`"),
        "{}",
        err(&o)
    );
    assert!(err(&o).contains("--> environments/\\u{1b}[2J\\u{1b}]0;pwned\\u{7}.yaml"), "{}", err(&o));
    std::fs::remove_file(dir.join(format!("environments/{evil}.yaml"))).unwrap();
    // A file kgen did not generate, where the engine applies from, with such a name: `render`
    // warns, `--check` and `diff` report it, all escaped.
    assert_exit(&kgen(dir, &["render", "dev"]), 0);
    std::fs::write(dir.join(format!("rendered/dev/manifests/{evil}.yaml")), "kind: ConfigMap\n").unwrap();
    for (args, code) in [(&["render", "dev"][..], 0), (&["render", "--check", "dev"], 1), (&["diff", "dev"], 1)] {
        let o = kgen(dir, args);
        assert_exit(&o, code);
        assert!(!has_raw_control(&err(&o)) && !has_raw_control(&out(&o)), "{args:?}: {:?}{:?}", out(&o), err(&o));
        let both = format!("{}{}", out(&o), err(&o));
        assert!(both.contains("rendered/dev/manifests/\\u{1b}[2J\\u{1b}]0;pwned\\u{7}.yaml"), "{args:?}: {both}");
    }
}

#[test]
fn a_value_with_a_control_character_is_escaped_in_messages_and_frames() {
    let project = temp_project();
    let dir = project.path();
    let env = dir.join("environments/dev.yaml");
    let text = std::fs::read_to_string(&env).unwrap();
    // YAML's `\e` escape: a real ESC in the value, quoted back in the message.
    let text = text.replace("deploymentMode: Knative", "deploymentMode: \"\\e[31mKnative\"");
    std::fs::write(&env, text).unwrap();
    let o = kgen(dir, &["validate", "dev"]);
    assert_exit(&o, 2);
    assert!(!has_raw_control(&err(&o)), "{:?}", err(&o));
    assert!(err(&o).contains("\\u{1b}[31mKnative"), "{}", err(&o));
    // A raw ESC byte in the file (not valid YAML): the frame shows the line escaped.
    let text = std::fs::read_to_string(&env).unwrap().replace("\"\\e[31mKnative\"", "\u{1b}[31mKnative");
    std::fs::write(&env, text).unwrap();
    let o = kgen(dir, &["validate", "dev"]);
    assert_exit(&o, 2);
    assert!(!has_raw_control(&err(&o)), "{:?}", err(&o));
    assert!(err(&o).contains("\\u{1b}[31mKnative"), "{}", err(&o));
}

#[test]
fn a_yml_file_gets_a_hint_that_environments_are_yaml() {
    let project = temp_project();
    let dir = project.path();
    std::fs::copy(dir.join("environments/dev.yaml"), dir.join("environments/qa.yml")).unwrap();
    std::fs::write(dir.join("environments/README.md"), "notes\n").unwrap();
    let o = kgen(dir, &["validate"]);
    assert_exit(&o, 0);
    let e = err(&o);
    assert!(
        e.contains(
            "warning[KG120]: `qa.yml` is not read: environment files end in `.yaml`\n  --> environments/qa.yml\n  \
             help: rename it to `qa.yaml`, or move it out of environments/ if it is not an environment\n"
        ),
        "{e}"
    );
    assert_eq!(e.matches("[KG120]").count(), 1, "only the near miss, not README.md: {e}");
    assert_exit(&kgen(dir, &["validate", "--strict"]), 2);
}

#[test]
fn diff_agrees_with_check_about_files_kgen_did_not_generate() {
    let project = temp_project();
    let dir = project.path();
    assert_exit(&kgen(dir, &["render"]), 0);
    std::fs::write(dir.join("rendered/dev/manifests/extra.yaml"), "kind: ConfigMap\n").unwrap();
    let check = kgen(dir, &["render", "--check"]);
    assert_exit(&check, 1);
    assert!(out(&check).contains("not generated by kgen: rendered/dev/manifests/extra.yaml"), "{}", out(&check));
    let said = "warning: rendered/dev/manifests/extra.yaml is not generated by kgen: manifests/ is a folder the \
                GitOps engine applies";
    for args in [&["diff"][..], &["diff", "dev"], &["diff", "--format", "json"]] {
        let o = kgen(dir, args);
        assert_exit(&o, 1);
        assert_eq!(err(&o).matches(said).count(), 1, "{args:?}: {}", err(&o));
    }
    // The report itself has no change: the warning is what makes it exit 1.
    let o = kgen(dir, &["diff", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(report["environments"].as_array().unwrap().iter().all(|e| e["files"].as_array().unwrap().is_empty()));
    // Under --strict an error, as for `render --strict`.
    let o = kgen(dir, &["diff", "--strict"]);
    assert_exit(&o, 2);
    assert!(err(&o).contains("error: rendered/dev/manifests/extra.yaml is not generated by kgen"), "{}", err(&o));
    assert_exit(&kgen(dir, &["render", "--strict"]), 2);
    // Gone: both are clean again.
    std::fs::remove_file(dir.join("rendered/dev/manifests/extra.yaml")).unwrap();
    assert_exit(&kgen(dir, &["render", "--check"]), 0);
    assert_exit(&kgen(dir, &["diff"]), 0);
}

#[test]
fn an_output_folder_behind_a_symlink_is_refused_and_nothing_is_written_outside() {
    let project = temp_project();
    let dir = project.path();
    let outside = tempfile::tempdir().unwrap();
    symlink(outside.path(), dir.join("link")).unwrap();
    for args in [
        &["render", "--out", "link/out"][..],
        &["render", "--check", "--out", "link/out"],
        &["diff", "--out", "link/out"],
    ] {
        let o = kgen(dir, args);
        assert_exit(&o, 2);
        assert_eq!(err(&o).matches("error: `link` is a symlink (to `").count(), 1, "{args:?}: said once:\n{}", err(&o));
        assert!(err(&o).contains("kgen never reads or writes a render through a symlink"), "{}", err(&o));
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0, "{args:?} wrote outside the project");
    }
    // A real folder on the way is fine.
    std::fs::create_dir(dir.join("real")).unwrap();
    assert_exit(&kgen(dir, &["render", "--out", "real/out", "dev"]), 0);
}

#[test]
fn a_symlinked_rendered_folder_is_one_error_and_check_and_diff_agree() {
    let project = temp_project();
    let dir = project.path();
    assert_exit(&kgen(dir, &["render"]), 0);
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::rename(dir.join("rendered"), elsewhere.path().join("rendered")).unwrap();
    symlink(elsewhere.path().join("rendered"), dir.join("rendered")).unwrap();
    let said = "error: `rendered` is a symlink (to `";
    for args in [&["render"][..], &["render", "--check"], &["diff"], &["render", "dev"], &["validate"]] {
        let o = kgen(dir, args);
        assert_exit(&o, 2);
        assert_eq!(err(&o).matches(said).count(), 1, "{args:?}: said once:\n{}", err(&o));
        let lines = err(&o).lines().filter(|l| l.contains("symlink")).count();
        assert_eq!(lines, 1, "{args:?}: nothing else about it:\n{}", err(&o));
    }
    // A file there: the same, once.
    std::fs::remove_file(dir.join("rendered")).unwrap();
    std::fs::write(dir.join("rendered"), "").unwrap();
    for args in [&["render"][..], &["render", "--check"], &["diff"]] {
        let o = kgen(dir, args);
        assert_exit(&o, 2);
        assert_eq!(err(&o).matches("error: `rendered` is not a folder").count(), 1, "{args:?}:\n{}", err(&o));
    }
}
