//! `kgen hydrate` and `kgen diff --hydrate` through the code path users run: kgen finds `helm`
//! on PATH and runs it. Here that `helm` is `tests/fixtures/helm-standin/helm`, which answers
//! `helm version`, packages charts from `../shared/upstream/charts` for `helm pull` and renders
//! them with the real Helm engine (`../shared/tools/helm_render.py`) for `helm template`.
//!
//! Tests that render need `../shared` and `KGEN_HELM_PYTHON` (a Python with
//! `../shared/tools/requirements.txt`; `.ci/run` sets it); without them each prints one line
//! and passes. The ones about `helm` itself (missing, too old, `--offline`) need only `python3`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{self, read_tree, root, temp_project};

/// The folder of the stand-in `helm`.
fn standin_dir() -> PathBuf {
    root().join("tests/fixtures/helm-standin")
}

/// What a rendering test needs: `../shared` and a Python that runs helm_render.py.
struct Renderer {
    shared: PathBuf,
    python: PathBuf,
}

fn renderer(test: &str) -> Option<Renderer> {
    let upstream = common::upstream_or_skip(test)?;
    let Some(python) = std::env::var_os("KGEN_HELM_PYTHON").map(PathBuf::from) else {
        println!(
            "skipped {test}: needs KGEN_HELM_PYTHON, a Python with ../shared/tools/requirements.txt (.ci/run sets it)"
        );
        return None;
    };
    assert!(python.exists(), "KGEN_HELM_PYTHON is set but {} is missing", python.display());
    Some(Renderer { shared: upstream.parent().unwrap().to_path_buf(), python })
}

/// Whether `python3` runs (the stand-in is a Python script); prints one line when it does not.
fn python3_or_skip(test: &str) -> bool {
    let ok = std::process::Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        println!("skipped {test}: needs python3 for the helm stand-in");
    }
    ok
}

/// PATH with the stand-in first.
fn path_with_standin() -> OsString {
    let mut dirs = vec![standin_dir()];
    dirs.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    std::env::join_paths(dirs).unwrap()
}

/// Runs kgen in `dir` with `PATH`, a chart cache of its own and the stand-in's settings.
fn run(dir: &Path, args: &[&str], path: &OsString, env: &[(&str, &OsString)]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kgen"));
    cmd.arg("-C").arg(dir).args(["--color", "never"]).args(args);
    cmd.env("NO_COLOR", "1").env("PATH", path).env("KGEN_CACHE_DIR", dir.join(".cache"));
    cmd.env_remove("KGEN_STANDIN_HELM_VERSION").env_remove("KGEN_STANDIN_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("kgen runs")
}

/// Runs kgen with the rendering stand-in; its calls are logged to `dir/standin.log`.
fn run_rendering(dir: &Path, r: &Renderer, args: &[&str]) -> Output {
    let log: OsString = dir.join("standin.log").into();
    run(
        dir,
        args,
        &path_with_standin(),
        &[
            ("KGEN_SHARED", &r.shared.clone().into()),
            ("KGEN_HELM_PYTHON", &r.python.clone().into()),
            ("KGEN_STANDIN_LOG", &log),
        ],
    )
}

/// The stand-in's log lines since the last call, which it then empties.
fn take_log(dir: &Path) -> Vec<String> {
    let p = dir.join("standin.log");
    let text = std::fs::read_to_string(&p).unwrap_or_default();
    let _ = std::fs::remove_file(&p);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The example project with `prod2`, an environment that is `prod` under another name: the
/// same charts and values, so the same `helm template` runs.
fn project_with_twin() -> tempfile::TempDir {
    let t = temp_project();
    let prod = std::fs::read_to_string(t.path().join("environments/prod.yaml")).unwrap();
    std::fs::write(t.path().join("environments/prod2.yaml"), prod.replace("name: prod", "name: prod2")).unwrap();
    t
}

#[test]
fn hydrate_writes_every_release_once_per_run_and_the_same_bytes_every_time() {
    let Some(r) = renderer("hydrate_writes_every_release_once_per_run_and_the_same_bytes_every_time") else { return };
    let t = project_with_twin();
    let dir = t.path();
    let o = run_rendering(dir, &r, &["hydrate", "prod", "prod2", "--out", "out"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // Every chart pulled once; every release rendered once for both environments.
    let lock: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root().join("rendered/prod/kgen.lock.json")).unwrap()).unwrap();
    let releases: Vec<&serde_json::Value> = lock["releases"].as_array().unwrap().iter().collect();
    let log = take_log(dir);
    let pulls = log.iter().filter(|l| l.starts_with("pull ")).count();
    let templates: Vec<&String> = log.iter().filter(|l| l.starts_with("template ")).collect();
    assert_eq!(pulls, releases.len(), "{log:#?}");
    assert_eq!(templates.len(), releases.len(), "prod2 shares every run with prod: {log:#?}");

    let tree = read_tree(&dir.join("out/prod"));
    for rel in &releases {
        let name = rel["name"].as_str().unwrap();
        assert!(tree.keys().any(|p| p.starts_with(&format!("{name}/"))), "no folder for release {name}");
    }
    for path in [
        "kserve/kserve/deployment-kserve-controller-manager.yaml",
        "kserve-crd/_cluster/customresourcedefinition-inferenceservices.serving.kserve.io.yaml",
        "cert-manager/_cluster/customresourcedefinition-certificates.cert-manager.io.yaml",
        "istiod/istio-system/deployment-istiod.yaml",
        "kgen.hydrated.json",
    ] {
        assert!(tree.contains_key(path), "{path} missing: {:#?}", tree.keys().collect::<Vec<_>>());
    }
    let deployment =
        String::from_utf8_lossy(&tree["kserve/kserve/deployment-kserve-controller-manager.yaml"]).into_owned();
    assert!(
        deployment.starts_with(
            "# Generated by kgen hydrate for environment prod from Helm release kserve, kserve-resources/templates/"
        ),
        "{deployment}"
    );
    assert!(deployment.contains("\n  namespace: kserve\n"), "{deployment}");
    // kgen's own objects, as rendered.
    let rendered = read_tree(&root().join("rendered/prod/manifests"));
    for (p, bytes) in &rendered {
        assert_eq!(tree.get(&format!("manifests/{p}")), Some(bytes), "manifests/{p}");
    }
    // prod2 differs from prod only in its name.
    let twin = read_tree(&dir.join("out/prod2"));
    assert_eq!(twin.keys().collect::<Vec<_>>(), tree.keys().collect::<Vec<_>>());

    // The chart lock records each archive.
    let chart_lock: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("kgen.charts.lock.json")).unwrap()).unwrap();
    assert_eq!(chart_lock["charts"].as_array().unwrap().len(), releases.len());
    let lock_before = std::fs::read(dir.join("kgen.charts.lock.json")).unwrap();

    // Again, into the default folder: nothing pulled, the same bytes, the lock untouched.
    let o = run_rendering(dir, &r, &["hydrate", "prod"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(take_log(dir).iter().all(|l| !l.starts_with("pull ")), "charts come from the cache");
    assert!(stderr(&o).contains("0 pulled, 8 from the cache"), "{}", stderr(&o));
    assert_eq!(read_tree(&dir.join(".cache/hydrated/prod")), tree);
    assert_eq!(std::fs::read(dir.join("kgen.charts.lock.json")).unwrap(), lock_before);
}

/// Lines of `kgen diff --hydrate` text a reviewer reads first: the summary, the risks, each
/// changed object of chart output, the CRD's field changes.
fn outline(text: &str) -> String {
    let mut out = String::new();
    let mut in_crd = false;
    for line in text.lines() {
        if line.starts_with("dev:") || line.starts_with("  risk ") || line.starts_with("  hydrated/") {
            out.push_str(line);
            out.push('\n');
            in_crd = line.contains("customresourcedefinition-");
        } else if line.starts_with("    @@") || !line.starts_with("    ") {
            // Hunks (a CRD's are too long to have any), or the next file.
            in_crd = false;
        } else if in_crd {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn diff_hydrate_shows_the_chart_changes_of_v0_19_to_v0_20_and_flags_the_risky_ones() {
    let test = "diff_hydrate_shows_the_chart_changes_of_v0_19_to_v0_20_and_flags_the_risky_ones";
    let Some(r) = renderer(test) else { return };
    let t = temp_project();
    let dir = t.path();
    let env = dir.join("environments/dev.yaml");
    let text = std::fs::read_to_string(&env).unwrap();
    assert!(text.contains("version: v0.20.0"));
    std::fs::write(&env, text.replace("version: v0.20.0", "version: v0.19.0")).unwrap();
    let o = run(dir, &["render", "dev"], &OsString::new(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    std::fs::write(&env, &text).unwrap();

    // Without --hydrate: no helm needed (none on PATH), no chart output.
    let plain = run(dir, &["diff", "dev", "--fail-on", "risk"], &OsString::new(), &[]);
    assert_eq!(plain.status.code(), Some(1), "{}", stderr(&plain));
    assert!(!stdout(&plain).contains("hydrated/") && !stdout(&plain).contains("chart output"));

    let o = run_rendering(dir, &r, &["diff", "dev", "--hydrate", "--fail-on", "risk"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    // diff writes nothing: the charts it used are named, not recorded.
    assert!(!dir.join("kgen.charts.lock.json").exists());
    assert!(stderr(&o).contains("are not in `kgen.charts.lock.json`, so nothing vouches for them"), "{}", stderr(&o));
    let out = stdout(&o);
    // The plain diff is all there, the chart output after it.
    for line in stdout(&plain).lines().skip(1).filter(|l| !l.starts_with("1 of 1 environment change")) {
        assert!(out.contains(line), "{line}");
    }
    insta::assert_snapshot!("diff-hydrate-dev-v0.19-v0.20", outline(&out));

    // JSON: the same, for bots.
    let o = run_rendering(dir, &r, &["diff", "dev", "--hydrate", "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["schemaVersion"], 3);
    let hydrated = &report["summary"]["hydrated"];
    assert_eq!(hydrated["releases"], serde_json::json!(["kserve", "kserve-crd", "kserve-runtime-configs"]));
    let envd = &report["environments"][0];
    let crd = envd["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            f["path"]
                == "hydrated/kserve-crd/_cluster/customresourcedefinition-inferenceservices.serving.kserve.io.yaml"
        })
        .expect("the InferenceService CRD changes");
    assert_eq!(crd["kind"], "hydrated");
    assert_eq!(crd["release"], "kserve-crd");
    assert_eq!(crd["hunksOmitted"], "size", "a CRD schema's hunks are too long to show");
    let risk = envd["risks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["kind"] == "image-changed" && x["object"]["kind"] == "Deployment")
        .expect("the controller's image changes");
    assert_eq!(risk["path"], "spec.template.spec.containers[name=manager].image");
    assert_eq!(risk["old"], "kserve/kserve-controller:v0.19.0");
    assert_eq!(risk["new"], "kserve/kserve-controller:v0.20.0");
    assert_eq!(risk["file"], "hydrated/kserve/kserve/deployment-kserve-controller-manager.yaml");
}

/// The sha256 of a file, as kgen writes it.
fn digest(path: &Path) -> String {
    kgen::render::sha256(&std::fs::read(path).unwrap())
}

/// Digests and the temporary folder out of a message, for a snapshot.
fn scrub(text: &str, dir: &Path) -> String {
    let text = text.replace(&dir.display().to_string(), "[project]");
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("sha256:") {
        out.push_str(&rest[..i]);
        let hex: String = rest[i + 7..].chars().take_while(char::is_ascii_hexdigit).collect();
        out.push_str(if hex.chars().all(|c| c == '0') { "sha256:0000…" } else { "sha256:[digest]" });
        rest = &rest[i + 7 + hex.len()..];
    }
    out.push_str(rest);
    // The repository folder of the cache ends in a digest of its URL.
    let mut cleaned = String::new();
    for line in out.lines() {
        let mut l = line.to_string();
        if let Some(i) = l.find("ghcr.io_kserve_charts-") {
            let end = i + "ghcr.io_kserve_charts-".len();
            l.replace_range(end..end + 12, "[url digest]");
        }
        cleaned.push_str(&l);
        cleaned.push('\n');
    }
    cleaned
}

#[test]
fn a_chart_whose_archive_differs_from_the_chart_lock_is_refused() {
    let Some(r) = renderer("a_chart_whose_archive_differs_from_the_chart_lock_is_refused") else { return };
    let t = temp_project();
    let dir = t.path();
    // A lock that pins kserve-crd at another digest: the archive pulled now is refused.
    let zeros = format!("sha256:{}", "0".repeat(64));
    let pinned = serde_json::json!({"format": 1, "charts": [
        {"repo": "oci://ghcr.io/kserve/charts", "chart": "kserve-crd", "version": "v0.20.0", "digest": zeros}]});
    let lock_text = serde_json::to_string_pretty(&pinned).unwrap();
    std::fs::write(dir.join("kgen.charts.lock.json"), &lock_text).unwrap();
    let o = run_rendering(dir, &r, &["hydrate", "prod", "--out", "out"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let cached = std::fs::read_dir(dir.join(".cache/charts"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("ghcr.io_kserve_charts-"))
        .unwrap()
        .path()
        .join("kserve-crd/v0.20.0/kserve-crd-v0.20.0.tgz");
    let real = digest(&cached);
    let err = stderr(&o);
    assert!(err.contains(&real) && err.contains(&zeros), "both digests: {err}");
    insta::assert_snapshot!("hydrate-tampered-lock", scrub(&err, dir));
    // Nothing rendered, nothing written, the lock as it was.
    assert!(take_log(dir).iter().all(|l| !l.starts_with("template ")));
    assert!(!dir.join("out").exists());
    assert_eq!(std::fs::read_to_string(dir.join("kgen.charts.lock.json")).unwrap(), lock_text);

    // The lock pins the real archive, the cached copy is changed: refused too.
    std::fs::write(dir.join("kgen.charts.lock.json"), lock_text.replace(&zeros, &real)).unwrap();
    let mut bytes = std::fs::read(&cached).unwrap();
    bytes.extend_from_slice(b"tampered");
    std::fs::write(&cached, bytes).unwrap();
    let o = run_rendering(dir, &r, &["hydrate", "prod", "--out", "out"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("error[KG612]") && err.contains(&format!("pins {real}")), "{err}");
    // The hint is wrapped to the terminal's width.
    let flat: String = err.split_whitespace().collect();
    assert!(flat.contains(&cached.display().to_string()), "names the cached file: {err}");
    assert!(!dir.join("out").exists());
}

#[test]
fn helm_missing_or_too_old_is_a_clear_error() {
    let t = temp_project();
    let dir = t.path();
    // No helm on PATH at all (an empty PATH): hydrate says so; render and diff never need it.
    let o = run(dir, &["hydrate", "prod"], &OsString::new(), &[]);
    assert_eq!(o.status.code(), Some(2));
    insta::assert_snapshot!("hydrate-no-helm", stderr(&o));
    let o = run(dir, &["diff", "prod", "--hydrate"], &OsString::new(), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("`helm` is not on PATH"), "{}", stderr(&o));

    if !python3_or_skip("helm_missing_or_too_old_is_a_clear_error (too old)") {
        return;
    }
    let old: OsString = "v3.7.2+g663a896".into();
    let o = run(dir, &["hydrate", "prod"], &path_with_standin(), &[("KGEN_STANDIN_HELM_VERSION", &old)]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o).replace(&standin_dir().display().to_string(), "[standin]");
    insta::assert_snapshot!("hydrate-helm-too-old", err);
    let helm2: OsString = "Client: v2.17.0+ga690bad".into();
    let o = run(dir, &["hydrate", "prod"], &path_with_standin(), &[("KGEN_STANDIN_HELM_VERSION", &helm2)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is Helm v2.17.0; kgen needs Helm 3.8 or later"), "{}", stderr(&o));
}

#[test]
fn offline_with_an_empty_cache_names_every_chart_missing() {
    if !python3_or_skip("offline_with_an_empty_cache_names_every_chart_missing") {
        return;
    }
    let t = temp_project();
    let dir = t.path();
    // Helm 4 passes the version check.
    let helm4: OsString = "v4.0.0+g9c1f0b1".into();
    let o = run(dir, &["hydrate", "prod", "--offline"], &path_with_standin(), &[("KGEN_STANDIN_HELM_VERSION", &helm4)]);
    assert_eq!(o.status.code(), Some(2));
    insta::assert_snapshot!("hydrate-offline-empty-cache", stderr(&o).replace(&dir.display().to_string(), "[project]"));
    assert!(!dir.join("kgen.charts.lock.json").exists());
}

/// The example project with `gitops.hydrate: true` in `dev` (Argo CD) and `staging` (Flux).
fn project_hydrated() -> tempfile::TempDir {
    let t = temp_project();
    for (env, engine) in [("dev", "argocd"), ("staging", "flux")] {
        let p = t.path().join(format!("environments/{env}.yaml"));
        let text = std::fs::read_to_string(&p).unwrap();
        let from = format!("  engine: {engine}\n");
        assert!(text.contains(&from), "{env}: {text}");
        std::fs::write(&p, text.replace(&from, &format!("{from}  hydrate: true\n"))).unwrap();
    }
    t
}

#[test]
fn hydrated_mode_points_the_engines_at_the_hydrated_folders() {
    // Rendering needs no `helm`: this runs everywhere.
    let t = project_hydrated();
    let dir = t.path();
    let o = common::kgen(dir, &["render", "dev", "staging"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // No hydration yet: the render says so (a warning), and `--check` fails saying what to run.
    assert!(
        stderr(&o).contains(
            "dev: `gitops.hydrate` is on, but there is no `hydrated/kgen.hydrated.json`: run `kgen hydrate --write dev`"
        ),
        "{}",
        stderr(&o)
    );
    let o = common::kgen(dir, &["render", "--check", "staging"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("run `kgen hydrate --write staging`"), "{}", stdout(&o));
    let read = |p: &str| std::fs::read_to_string(dir.join("rendered").join(p)).unwrap();
    insta::assert_snapshot!("hydrated-argocd-application", read("dev/argocd/application-dev-kserve-crd.yaml"));
    insta::assert_snapshot!(
        "hydrated-flux-kustomization",
        read("staging/flux/kustomization-kgen-staging-release-kserve-crd.yaml")
    );
    // Flux reads no chart: no HelmRelease, no HelmRepository.
    let flux: Vec<String> =
        read_tree(&dir.join("rendered/staging")).into_keys().filter(|p| p.starts_with("flux/")).collect();
    assert!(!flux.iter().any(|p| p.contains("helmrelease") || p.contains("helmrepository")), "{flux:?}");
    // The index records what each release's hydration must be made from.
    let lock: serde_json::Value = serde_json::from_str(&read("dev/kgen.lock.json")).unwrap();
    assert_eq!(lock["gitops"]["hydrate"], true);
    let h = &lock["releases"][0]["hydration"];
    assert!(h["valuesDigest"].as_str().unwrap().starts_with("sha256:") && h["kubeVersion"].is_string(), "{h}");
}

#[test]
fn hydrate_write_is_refused_without_gitops_hydrate_and_a_left_over_folder_is_flagged() {
    let t = temp_project();
    let dir = t.path();
    // Refused before any `helm` is looked for.
    let o = run(dir, &["hydrate", "--write", "dev"], &OsString::from(""), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--write: dev do(es) not set `gitops.hydrate: true`"), "{}", stderr(&o));
    assert!(!dir.join("rendered/dev/hydrated").exists());
    // `hydrated/` of an environment that no longer sets it: kept, but reported.
    assert_eq!(common::kgen(dir, &["render", "dev"]).status.code(), Some(0));
    std::fs::create_dir_all(dir.join("rendered/dev/hydrated")).unwrap();
    std::fs::write(dir.join("rendered/dev/hydrated/kgen.hydrated.json"), "{}").unwrap();
    let o = common::kgen(dir, &["render", "--check", "dev"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("dev: `rendered/dev/hydrated/` is left from `gitops.hydrate: true`"), "{}", stdout(&o));
    let o = common::kgen(dir, &["render", "dev"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(dir.join("rendered/dev/hydrated/kgen.hydrated.json").is_file(), "kgen render never deletes it");
}

#[test]
fn committed_hydration_passes_render_check_until_values_change_or_a_file_is_edited() {
    let Some(r) = renderer("committed_hydration_passes_render_check_until_values_change_or_a_file_is_edited") else {
        return;
    };
    let t = project_hydrated();
    let dir = t.path();
    assert_eq!(common::kgen(dir, &["render", "dev", "staging"]).status.code(), Some(0));
    let o = run_rendering(dir, &r, &["hydrate", "--write", "dev", "staging"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        dir.join("rendered/staging/hydrated/kserve-crd").is_dir()
            && !dir.join("rendered/dev/hydrated/manifests").exists()
    );
    let o = common::kgen(dir, &["render", "--check", "dev", "staging"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));

    // A values override changes: the render is redone, the hydration is stale.
    let p = dir.join("environments/staging.yaml");
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(
        &p,
        format!(
            "{text}values:\n  kserve:\n    kserve:\n      controller:\n        resources: {{limits: {{memory: 1Gi}}}}\n"
        ),
    )
    .unwrap();
    assert_eq!(common::kgen(dir, &["render", "staging"]).status.code(), Some(0));
    let o = common::kgen(dir, &["render", "--check", "staging"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("staging: release kserve is stale in hydrated/: it was hydrated from other values (sha256:"),
        "{out}"
    );
    assert!(out.contains("run `kgen hydrate --write staging`") && !out.contains("release cert-manager"), "{out}");
    let o = run_rendering(dir, &r, &["hydrate", "--write", "staging"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(common::kgen(dir, &["render", "--check", "staging"]).status.code(), Some(0));

    // A hydrated file edited by hand, one removed, one added.
    let crds = dir.join("rendered/dev/hydrated/kserve-crd/_cluster");
    let first = std::fs::read_dir(&crds).unwrap().map(|e| e.unwrap().path()).min().unwrap();
    let name = first.file_name().unwrap().to_string_lossy().to_string();
    let mut text = std::fs::read_to_string(&first).unwrap();
    text.push_str("# edited\n");
    std::fs::write(&first, text).unwrap();
    std::fs::write(crds.join("extra.yaml"), "kind: ConfigMap\n").unwrap();
    let o = common::kgen(dir, &["render", "--check", "dev"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("dev: hydrated/kserve-crd/_cluster/{name} differs from what kgen hydrate wrote")),
        "{out}"
    );
    assert!(out.contains("dev: hydrated/kserve-crd/_cluster/extra.yaml was not written by kgen hydrate"), "{out}");
}
