//! Local safety of `kgen render` on disk (issue 14, the write side): one process writes an
//! output folder at a time, a killed render leaves every environment whole, a leftover kgen
//! cannot remove never blocks a render, and kgen never overwrites or deletes a file it did not
//! generate.

use crate::common;
#[path = "../benches/common/mod.rs"]
mod fleet;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{kgen, read_tree, resolved_in, temp_project};
use kgen::write::{FaultInjection, is_generated_name, read_previous, write_env};
use serde_json::Value;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `kgen -C dir --color never args…`, started and not waited for.
fn spawn(dir: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_kgen"))
        .arg("-C")
        .arg(dir)
        .args(["--color", "never"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kgen starts")
}

/// A project of `count` synthetic environments (the benchmark's fleet), rendered once, with a
/// user file in every environment folder and one next to them.
fn rendered_fleet(count: usize) -> (tempfile::TempDir, BTreeMap<PathBuf, Vec<u8>>) {
    let dir = tempfile::tempdir().unwrap();
    fleet::write_fleet(dir.path(), count);
    let o = kgen(dir.path(), &["-q", "render"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("rendered");
    let mut user = BTreeMap::new();
    for i in 0..count {
        user.insert(out.join(format!("env-{i:04}/NOTES.md")), format!("notes on env-{i:04}\n").into_bytes());
    }
    user.insert(out.join("README.md"), b"the fleet\n".to_vec());
    for (p, b) in &user {
        std::fs::write(p, b).unwrap();
    }
    (dir, user)
}

/// Edits `_base.yaml` so that every environment of the fleet changes.
fn change_base(dir: &Path, trial: usize) {
    let base = dir.join("environments/_base.yaml");
    let text = fleet::BASE.replace("models.example.com", &format!("t{trial}.models.example.com"));
    std::fs::write(base, text).unwrap();
}

/// Every environment folder under `out` is one whole render: each file its `kgen.lock.json`
/// lists has the digest listed, every file named as kgen names its files is listed, and the
/// user's files are byte-identical. `staging_allowed`: a killed render may have left staging
/// folders (removed by the next render); otherwise there are none.
fn assert_consistent(out: &Path, user: &BTreeMap<PathBuf, Vec<u8>>, staging_allowed: bool) {
    let mut envs = 0;
    for e in std::fs::read_dir(out).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            assert!(staging_allowed && name.contains(".kgen-staging"), "unexpected entry {name} in {}", out.display());
            continue;
        }
        if !e.file_type().unwrap().is_dir() {
            continue;
        }
        envs += 1;
        let env = e.path();
        let lock: Value = serde_json::from_slice(&std::fs::read(env.join("kgen.lock.json")).unwrap())
            .unwrap_or_else(|err| panic!("{name}: lock unreadable: {err}"));
        let files = lock["files"].as_object().unwrap();
        for (path, digest) in files {
            let bytes = std::fs::read(env.join(path)).unwrap_or_else(|err| panic!("{name}/{path}: {err}"));
            assert_eq!(kgen::render::sha256(&bytes), digest.as_str().unwrap(), "{name}/{path} does not match its lock");
        }
        for path in read_tree(&env).keys() {
            if is_generated_name(path) && path != "kgen.lock.json" {
                assert!(files.contains_key(path), "{name}/{path} is not in its lock");
            }
        }
    }
    assert!(envs > 0);
    for (p, b) in user {
        assert_eq!(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())), b, "{} changed", p.display());
    }
}

/// Holds the render lock of an output folder, as another kgen process would.
fn hold(out: &Path, shared: bool) -> std::fs::File {
    let f = std::fs::File::open(out).unwrap();
    if shared {
        f.lock_shared().unwrap()
    } else {
        f.lock().unwrap()
    }
    f
}

#[test]
fn every_path_kgen_renders_is_named_as_kgen_names_its_files() {
    let mut seen = 0;
    for name in common::examples() {
        for path in common::render_example(&name).files.keys() {
            assert!(is_generated_name(path), "{name}: {path} is rendered but not named as kgen names its files");
            seen += 1;
        }
    }
    assert!(seen > 100);
    for path in [
        "NOTES.md",
        "README.md",
        "values/a/b.yaml",
        "values/kserve.yml",
        "manifests/notes.txt",
        "docs/x.yaml",
        "../x.yaml",
        "/etc/x.yaml",
        "argocd/../../x.yaml",
        "",
    ] {
        assert!(!is_generated_name(path), "{path}");
    }
}

#[test]
fn the_render_lock_makes_a_second_process_wait_or_fail_clearly() {
    let project = temp_project();
    let dir = project.path();
    let out = dir.join("rendered");
    assert!(kgen(dir, &["render"]).status.success());
    // The lock is the folder itself: no file is left next to the environments.
    let names: Vec<String> =
        std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
    let dev = dir.join("environments/dev.yaml");
    std::fs::write(&dev, std::fs::read_to_string(&dev).unwrap().replace("dev.models", "dev2.models")).unwrap();
    let before = read_tree(&out);
    let busy = "`rendered` is in use by another kgen process";

    // Another process writing: a render gives up at once with --wait-lock 0, or after the wait.
    let held = hold(&out, false);
    let o = kgen(dir, &["render", "--wait-lock", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains(busy) && stderr(&o).contains("gave up after 0 s"), "{}", stderr(&o));
    assert!(stderr(&o).contains("nothing written"), "{}", stderr(&o));
    let started = Instant::now();
    let o = kgen(dir, &["render", "--wait-lock", "1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert!(stderr(&o).contains("waiting for another kgen process using `rendered`"), "{}", stderr(&o));
    // Readers wait for a writer too: they would see environments half swapped.
    for args in [&["render", "--check", "--wait-lock", "0"][..], &["diff", "--wait-lock", "0"][..]] {
        let o = kgen(dir, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(busy), "{}", stderr(&o));
    }
    assert!(read_tree(&out) == before, "nothing written while the lock is held");
    // A waiting render goes on as soon as the lock is free.
    let mut child = spawn(dir, &["render"]);
    let mut said = String::new();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap());
    while !said.contains("waiting for another kgen process") {
        assert!(std::io::BufRead::read_line(&mut lines, &mut said).unwrap() > 0, "{said}");
    }
    assert!(read_tree(&out) == before, "nothing written while it waits");
    drop(held);
    std::io::Read::read_to_string(&mut lines, &mut said).unwrap();
    assert!(child.wait().unwrap().success(), "{said}");
    assert!(said.contains("dev: 0 objects added, 1 changed"), "{said}");
    assert!(read_tree(&out) != before);

    // Other readers: readers go on together, a writer waits for them.
    let held = hold(&out, true);
    assert_eq!(kgen(dir, &["render", "--check", "--wait-lock", "0"]).status.code(), Some(0));
    assert_eq!(kgen(dir, &["diff", "--wait-lock", "0"]).status.code(), Some(0));
    let o = kgen(dir, &["render", "--wait-lock", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(busy), "{}", stderr(&o));
    drop(held);
    // `diff --git-ref` reads no output folder: no lock.
    let held = hold(&out, false);
    let o = kgen(dir, &["diff", "--git-ref", "HEAD", "--wait-lock", "0"]);
    assert!(!stderr(&o).contains(busy), "{}", stderr(&o));
    drop(held);
}

#[test]
fn two_renders_at_once_never_corrupt_an_environment_or_touch_a_user_file() {
    let (project, user) = rendered_fleet(8);
    let dir = project.path();
    let out = dir.join("rendered");
    for trial in 0..3 {
        change_base(dir, trial);
        // Waiting (the default): both succeed, one after the other. Giving up at once: the one
        // that finds the folder busy fails clearly and writes nothing.
        let wait: &[&str] = if trial % 2 == 0 { &[] } else { &["--wait-lock", "0"] };
        let args: Vec<&str> = ["-q", "render"].iter().chain(wait).copied().collect();
        let (a, b) = (spawn(dir, &args), spawn(dir, &args));
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        for o in [&a, &b] {
            match o.status.code() {
                Some(0) => {}
                Some(2) if !wait.is_empty() => assert!(
                    stderr(o).contains("`rendered` is in use by another kgen process")
                        && stderr(o).contains("nothing written"),
                    "{}",
                    stderr(o)
                ),
                code => panic!("trial {trial}: exit {code:?}: {}", stderr(o)),
            }
        }
        assert!(a.status.success() || b.status.success(), "trial {trial}: one of them renders");
        assert_consistent(&out, &user, false);
    }
    let o = kgen(dir, &["render", "--check"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn a_killed_render_leaves_every_environment_whole_and_the_next_render_goes_through() {
    let (project, user) = rendered_fleet(8);
    let dir = project.path();
    let out = dir.join("rendered");
    let mut mid_write = 0;
    for (trial, after) in [0u64, 2, 10].into_iter().enumerate() {
        change_base(dir, trial);
        let mut child = spawn(dir, &["-q", "render"]);
        // Killed once the first staging folder appears (the write has begun), `after` ms later.
        let started = Instant::now();
        let staged = loop {
            let staging = std::fs::read_dir(&out)
                .unwrap()
                .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".kgen-staging"));
            if staging || child.try_wait().unwrap().is_some() || started.elapsed() > Duration::from_secs(20) {
                break staging;
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        std::thread::sleep(Duration::from_millis(after));
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        if staged && status.code().is_none() {
            mid_write += 1;
        }
        // Each environment is its previous render or its new one, never a mix.
        assert_consistent(&out, &user, true);
        // The kernel dropped the dead process's lock: no wait needed.
        let o = kgen(dir, &["render", "--wait-lock", "0"]);
        assert!(o.status.success(), "trial {trial}: {}", stderr(&o));
        assert_consistent(&out, &user, false);
    }
    assert_eq!(kgen(dir, &["render", "--check"]).status.code(), Some(0));
    println!("{mid_write} of 3 renders killed while writing");
    assert!(mid_write > 0, "no render was killed while writing");
}

/// D4 as root can see it: removing a staging folder fails (as a read-only folder in it makes
/// it fail for anyone else). The render goes through, says so, and the next one is not blocked.
#[test]
fn a_leftover_kgen_cannot_remove_is_reported_and_never_blocks_a_render() {
    let project = temp_project();
    let dir = project.path();
    let out = dir.join("rendered");
    assert!(kgen(dir, &["render", "prod"]).status.success());
    let fault = FaultInjection { fail_removal: true, ..FaultInjection::default() };
    let (ws, mut r) = resolved_in(dir, "prod");
    for (i, domain) in ["one.example.com", "two.example.com"].into_iter().enumerate() {
        r.resolved.env.kserve.ingress_domain = domain.into();
        let new = kgen::render::render(&r, &ws.sources).unwrap();
        let prev = read_previous(&out.join("prod"), &new).unwrap();
        let report = write_env(&out, &new, &prev, fault).unwrap();
        assert!(std::fs::read_to_string(out.join("prod/values/kserve.yaml")).unwrap().contains(domain));
        let names: Vec<&str> = report.undeletable.iter().map(|u| u.name.as_str()).collect();
        // The first render could not remove the previous tree it swapped out; the second could
        // not remove that one either, staged under a fresh name, and could not remove its own.
        let expected: &[&str] =
            if i == 0 { &[".prod.kgen-staging"] } else { &[".prod.kgen-staging", ".prod.kgen-staging-1"] };
        assert_eq!(names, expected);
        let line = report.undeletable[0].describe("rendered");
        assert!(
            line.contains("cannot remove the leftover staging folder `rendered/.prod.kgen-staging`")
                && line.contains("chmod -R u+w rendered/.prod.kgen-staging && rm -rf rendered/.prod.kgen-staging"),
            "{line}"
        );
    }
    // --check reports both with the command that removes them; the render removes them when it can.
    let o = kgen(dir, &["render", "prod", "--check"]);
    assert_eq!(o.status.code(), Some(1));
    for name in [".prod.kgen-staging", ".prod.kgen-staging-1"] {
        let line = format!(
            "leftover staging folder of an earlier render: rendered/{name} (`kgen render` removes it; if it cannot, it \
             says so and stages under another name: remove it with `chmod -R u+w rendered/{name} && rm -rf rendered/{name}`)"
        );
        assert!(stdout(&o).contains(&line), "{}", stdout(&o));
    }
    let o = kgen(dir, &["render", "prod"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!out.join(".prod.kgen-staging").exists() && !out.join(".prod.kgen-staging-1").exists());
}

/// D4 as reported: `rendered/dev/values` read-only for the user running kgen. Permissions do not
/// bind root, so this runs only as another user.
#[test]
#[cfg(unix)]
fn a_read_only_folder_in_the_previous_render_never_blocks_a_render() {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: no arguments.
    if unsafe { libc::geteuid() } == 0 {
        println!("skipped: permissions do not bind root (a_leftover_kgen_cannot_remove_… covers it)");
        return;
    }
    let project = temp_project();
    let dir = project.path();
    let out = dir.join("rendered");
    assert!(kgen(dir, &["render", "dev"]).status.success());
    let dev = dir.join("environments/dev.yaml");
    let text = std::fs::read_to_string(&dev).unwrap();
    std::fs::set_permissions(out.join("dev/values"), std::fs::Permissions::from_mode(0o555)).unwrap();
    std::fs::write(&dev, text.replace("dev.models", "dev2.models")).unwrap();
    let o = kgen(dir, &["render", "dev"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning: cannot remove the leftover staging folder `rendered/.dev.kgen-staging`"),
        "{}",
        stderr(&o)
    );
    // The next render is not blocked by it.
    std::fs::write(&dev, text.replace("dev.models", "dev3.models")).unwrap();
    let o = kgen(dir, &["render", "dev"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read_to_string(out.join("dev/values/kserve.yaml")).unwrap().contains("dev3.models"));
    // The command it gives removes it.
    let rm = "chmod -R u+w rendered/.dev.kgen-staging && rm -rf rendered/.dev.kgen-staging";
    assert!(stderr(&o).contains(rm), "{}", stderr(&o));
    assert!(Command::new("sh").arg("-c").arg(rm).current_dir(dir).status().unwrap().success());
    assert_eq!(kgen(dir, &["render", "--check", "dev"]).status.code(), Some(0));
}

/// D6: a file of the user's where kgen starts generating one.
#[test]
fn a_user_file_where_kgen_starts_generating_one_is_an_error_and_nothing_is_written() {
    let project = temp_project();
    let dir = project.path();
    let out = dir.join("rendered");
    assert!(kgen(dir, &["render"]).status.success());
    let mine = out.join("dev/install.sh");
    std::fs::write(&mine, "#!/bin/sh\necho mine\n").unwrap();
    let dev = dir.join("environments/dev.yaml");
    std::fs::write(&dev, std::fs::read_to_string(&dev).unwrap().replace("engine: argocd", "engine: none")).unwrap();
    let base = dir.join("environments/_base.yaml");
    std::fs::write(&base, std::fs::read_to_string(&base).unwrap().replace("models.example.com", "ml.example.com"))
        .unwrap();
    let before = read_tree(&out);
    let said = "`rendered/dev/install.sh` is in the way: kgen writes a generated file there, but the previous \
                `rendered/dev/kgen.lock.json` does not list it";
    for args in [&["render"][..], &["render", "dev"][..]] {
        let o = kgen(dir, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(&format!("error: {said}")), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("nothing rendered: 1 folder(s) or file(s) kgen did not generate"),
            "{}",
            stderr(&o)
        );
        assert!(read_tree(&out) == before, "{args:?}: nothing written, in any environment");
    }
    let o = kgen(dir, &["render", "--check"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains(said), "{}", stdout(&o));
    assert!(stderr(&o).contains("where it writes a generated file, in: dev"), "{}", stderr(&o));
    // The same bytes kgen would write lose nothing: not in the way.
    let (ws, r) = resolved_in(dir, "dev");
    let script = kgen::render::render(&r, &ws.sources).unwrap().files["install.sh"].clone();
    std::fs::write(&mine, &script).unwrap();
    let o = kgen(dir, &["render"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), script);
}

/// D7: the lock decides what kgen may prune only for paths kgen names so; a deleted lock stops
/// the render instead of silently disabling the history rules and the pruning.
#[test]
fn a_hand_edited_or_deleted_lock_never_costs_a_user_file_or_a_history_rule() {
    let project = temp_project();
    let dir = project.path();
    let out = dir.join("rendered");
    assert!(kgen(dir, &["render"]).status.success());
    let notes = out.join("dev/NOTES.md");
    std::fs::write(&notes, "mine\n").unwrap();
    let lock_path = out.join("dev/kgen.lock.json");
    let mut lock: Value = serde_json::from_slice(&std::fs::read(&lock_path).unwrap()).unwrap();
    lock["files"]["NOTES.md"] = "sha256:0".into();
    std::fs::write(&lock_path, serde_json::to_string_pretty(&lock).unwrap()).unwrap();
    let dev = dir.join("environments/dev.yaml");
    std::fs::write(&dev, std::fs::read_to_string(&dev).unwrap().replace("dev.models", "dev2.models")).unwrap();
    let o = kgen(dir, &["render", "dev"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "mine\n", "listed by hand, still the user's");

    // No lock: every command that reads the previous render says so (exit 2); nothing written.
    std::fs::remove_file(&lock_path).unwrap();
    std::fs::write(&dev, std::fs::read_to_string(&dev).unwrap().replace("dev2.models", "dev3.models")).unwrap();
    let before = read_tree(&out);
    for args in
        [&["render", "dev"][..], &["render"][..], &["render", "--check"][..], &["diff", "dev"][..], &["validate"][..]]
    {
        let o = kgen(dir, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o)
                .contains("error: dev: the previous render holds generated files but no readable `kgen.lock.json`"),
            "{args:?}: {}",
            stderr(&o)
        );
        assert!(read_tree(&out) == before, "{args:?}");
    }
    // A lock that is not one counts as none.
    std::fs::write(&lock_path, "").unwrap();
    assert_eq!(kgen(dir, &["render", "dev"]).status.code(), Some(2));
    // Moving the folder away renders dev afresh.
    std::fs::rename(out.join("dev"), dir.join("dev-old")).unwrap();
    assert!(kgen(dir, &["render", "dev"]).status.success());
}

/// D8: a folder where kgen writes a generated file.
#[test]
fn a_folder_where_a_generated_file_goes_is_named_as_it_is() {
    let project = temp_project();
    let dir = project.path();
    let out = dir.join("rendered");
    assert!(kgen(dir, &["render"]).status.success());
    let file = out.join("prod/values/kserve.yaml");
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir_all(file.join("inside")).unwrap();
    std::fs::write(file.join("inside/mine.txt"), "mine\n").unwrap();
    let before = read_tree(&out);
    let said = "`rendered/prod/values/kserve.yaml` is a folder, but kgen writes a generated file there";
    let o = kgen(dir, &["render", "prod"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(&format!("error: {said}")), "{}", stderr(&o));
    assert!(!stderr(&o).contains("staging"), "{}", stderr(&o));
    assert!(read_tree(&out) == before);
    let o = kgen(dir, &["render", "--check"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains(said), "{}", stdout(&o));
    std::fs::remove_dir_all(&file).unwrap();
    assert!(kgen(dir, &["render", "prod"]).status.success());
    assert_eq!(kgen(dir, &["render", "--check"]).status.code(), Some(0));
}
