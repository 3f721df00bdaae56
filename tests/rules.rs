//! Every rule of the catalog has a failing and a passing case.
//!
//! Rules a user can trigger from an environment file have fixtures in `tests/fixtures/rules/`:
//! `kgNNN-fail.yaml` (its message is snapshotted) and `kgNNN-pass.yaml` (the nearest environment
//! that does not trigger it), built on the layers `_k8s`, `_ocp` and `_gwapi` there. A
//! `kgNNN-*.lock.json` next to a case is the previous render's index (history rules). Rules about
//! reading input are covered by `tests/invalid.rs`. Rules that guard kgen's own output (no input
//! can trigger them) are tested here by tampering with a real render.

use crate::common;

use std::collections::BTreeSet;

use common::kgen as kgen_in;
use common::{resolved_in, root};
use kgen::render::{self, Rendered};
use kgen::rules::{self, Stage};

const FIXTURES: &str = "tests/fixtures/rules";

/// Rules no environment can trigger: they check kgen's own output, tested by tampering below.
const GUARDS: &[&str] = &["KG207", "KG208", "KG310", "KG408", "KG602", "KG603", "KG604", "KG610"];

/// A project holding every rule fixture, with the previous indexes history cases name.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("environments")).unwrap();
    for e in std::fs::read_dir(root().join(FIXTURES)).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if let Some(env) = name.strip_suffix(".lock.json") {
            let d = dir.path().join("rendered").join(env);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::copy(&p, d.join("kgen.lock.json")).unwrap();
        } else {
            std::fs::copy(&p, dir.path().join("environments").join(name)).unwrap();
        }
    }
    dir
}

fn fixture_codes() -> BTreeSet<String> {
    std::fs::read_dir(root().join(FIXTURES))
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str()?.strip_suffix("-fail.yaml").map(str::to_uppercase))
        .collect()
}

#[test]
fn every_rule_has_a_failing_and_a_passing_case() {
    let fixtures = fixture_codes();
    let invalid_snapshots: String = std::fs::read_dir(root().join("tests/snapshots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("main__invalid__"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let mut missing = Vec::new();
    for r in rules::rules() {
        let covered = match r.stage {
            // KG115 is about the command line (an environment name), tested in tests/cli.rs;
            // KG609 about `render --all` and a folder without an environment, in tests/lifecycle.rs;
            // KG612 about a chart archive against the chart lock, in tests/hydrate.rs.
            Stage::Input => {
                invalid_snapshots.contains(&format!("[{}]", r.code))
                    || r.code == "KG115"
                    || r.code == "KG609"
                    || r.code == "KG612"
            }
            // A guard is covered by a tampering test below, which snapshots what it raises.
            _ if GUARDS.contains(&r.code.as_str()) => {
                std::fs::read_dir(root().join("tests/snapshots")).unwrap().any(|e| {
                    e.unwrap().file_name().to_string_lossy().starts_with(&format!("main__rules__guard_{}", r.code))
                })
            }
            _ => fixtures.contains(&r.code),
        };
        let pass = root().join(FIXTURES).join(format!("{}-pass.yaml", r.code.to_lowercase()));
        if !covered || (fixtures.contains(&r.code) && !pass.exists()) {
            missing.push(r.code.as_str());
        }
    }
    assert!(missing.is_empty(), "rules without a failing and a passing test: {missing:?}");
}

#[test]
fn failing_cases_raise_their_rule() {
    let dir = project();
    for code in fixture_codes() {
        let name = format!("{}-fail", code.to_lowercase());
        let o = kgen_in(dir.path(), &["validate", &name]);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        let rule = rules::rule(&code).unwrap();
        let tag = format!("{}[{code}]", rule.severity.as_str());
        assert!(err.contains(&tag), "{name} should raise {tag}:\n{err}");
        let want = if rule.severity == kgen::diag::Severity::Error { 2 } else { 0 };
        assert_eq!(o.status.code(), Some(want), "{name}:\n{err}");
        insta::assert_snapshot!(format!("rule_{code}"), err);
    }
}

#[test]
fn passing_cases_are_clean() {
    let dir = project();
    for code in fixture_codes() {
        let name = format!("{}-pass", code.to_lowercase());
        // --strict: no warning of any rule either (notes of deliberate ignores are allowed).
        let o = kgen_in(dir.path(), &["validate", "--strict", &name]);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(0), "{name}:\n{err}");
        assert!(!err.contains(&format!("[{code}]")) || err.contains(&format!("info[{code}]")), "{name}:\n{err}");
    }
}

#[test]
fn an_ignored_rule_is_reported_as_a_note_with_its_reason() {
    let dir = project();
    let o = kgen_in(dir.path(), &["validate", "--strict", "kg116-pass"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("info[KG303]") && err.contains("this cluster injects every pod on purpose"), "{err}");
    assert!(err.contains("(0 errors, 0 warnings, 1 note)"), "{err}");
    // -q hides notes, like warnings.
    let o = kgen_in(dir.path(), &["-q", "validate", "kg116-pass"]);
    assert!(o.stderr.is_empty(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn an_ignore_needs_a_reason() {
    let dir = project();
    std::fs::write(
        dir.path().join("environments/noreason.yaml"),
        "apiVersion: kgen/v1\nkind: Environment\nextends: _k8s\nignore:\n  - rule: KG303\n",
    )
    .unwrap();
    let o = kgen_in(dir.path(), &["validate", "noreason"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    // At the entry that lacks it (line 5), not at the top of the file.
    assert!(err.contains("error[KG107]: `ignore[0].reason`"), "{err}");
    assert!(err.contains("environments/noreason.yaml:5:"), "{err}");
}

#[test]
fn history_rules_read_the_previous_render() {
    let dir = project();
    // With the previous index gone, the downgrade is a first install: nothing to protect.
    std::fs::remove_dir_all(dir.path().join("rendered/kg206-fail")).unwrap();
    let o = kgen_in(dir.path(), &["validate", "kg206-fail"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    // `render` refuses to write the downgrade over a v1.5 render.
    let dir = project();
    let o = kgen_in(dir.path(), &["render", "kg206-fail"]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("error[KG206]"));
    assert!(!dir.path().join("rendered/kg206-fail/values").exists(), "nothing is written");
}

// ---- guards: kgen's own output, tampered ----

fn render_of(name: &str) -> (kgen::pipeline::Judged, Rendered) {
    let (ws, r) = resolved_in(&root(), name);
    let out = render::render(&r, &ws.sources).unwrap();
    (r, out)
}

/// An example (an Argo CD one) rendered with `gitops.engine: none`, so it has an install.sh.
fn render_with_install_sh(name: &str) -> (kgen::pipeline::Judged, Rendered) {
    let dir = tempfile::tempdir().unwrap();
    common::copy_tree(&root().join("environments"), &dir.path().join("environments"));
    let path = dir.path().join(format!("environments/{name}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("engine: argocd"), "{name} is an Argo CD example");
    std::fs::write(&path, text.replace("engine: argocd", "engine: none")).unwrap();
    let (ws, r) = resolved_in(dir.path(), name);
    let out = render::render(&r, &ws.sources).unwrap();
    (r, out)
}

/// Replaces text in one rendered file (which must contain it).
fn tamper(out: &mut Rendered, path: &str, from: &str, to: &str) {
    let f = out.files.get_mut(path).unwrap_or_else(|| panic!("no {path}"));
    assert!(f.contains(from), "{path} lacks {from:?}:\n{f}");
    *f = f.replacen(from, to, 1);
}

fn codes(r: &kgen::config::resolve::Resolved, out: &Rendered) -> Vec<String> {
    rules::render::check(r, out, rules::render::Depth::Full).iter().map(|d| format!("{d}")).collect()
}

fn assert_raises(r: &kgen::config::resolve::Resolved, out: &Rendered, code: &str) -> String {
    let found = codes(r, out);
    let hit: Vec<&String> = found.iter().filter(|d| d.contains(&format!("[{code}]"))).collect();
    assert!(!hit.is_empty(), "expected {code}, got {found:#?}");
    hit.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n")
}

#[test]
fn guards_pass_on_every_example() {
    for name in common::examples() {
        let (r, out) = render_of(&name);
        assert_eq!(codes(&r, &out), Vec::<String>::new(), "{name}");
    }
}

#[test]
fn guard_kg207_version_formats() {
    let (r, mut out) = render_of("openshift-ossm3");
    tamper(&mut out, "manifests/_cluster/istio-default.yaml", "version: v1.", "version: 1.");
    insta::assert_snapshot!("guard_KG207_sail", assert_raises(&r, &out, "KG207"));
    let (r, mut out) = render_of("dev");
    tamper(
        &mut out,
        "manifests/knative-serving/knativeserving-knative-serving.yaml",
        "version: \"1.21.1\"",
        "version: 1.21",
    );
    insta::assert_snapshot!("guard_KG207_knative", assert_raises(&r, &out, "KG207"));
    let (r, mut out) = render_of("dev");
    tamper(&mut out, "kgen.lock.json", "\"version\": \"1.27.1\"", "\"version\": \"v1.27.1\"");
    assert_raises(&r, &out, "KG207");
}

#[test]
fn guard_kg208_kserve_chart() {
    let (r, mut out) = render_of("dev");
    tamper(&mut out, "kgen.lock.json", "\"chart\": \"kserve-resources\"", "\"chart\": \"kserve\"");
    insta::assert_snapshot!("guard_KG208", assert_raises(&r, &out, "KG208"));
    let (r, mut out) = render_of("legacy");
    tamper(&mut out, "kgen.lock.json", "\"name\": \"kserve-crd\"", "\"name\": \"kserve-runtime-configs\"");
    assert_raises(&r, &out, "KG208");
}

#[test]
fn guard_kg310_member_roll() {
    let (r, mut out) = render_of("openshift");
    tamper(&mut out, "manifests/istio-system/servicemeshmemberroll-default.yaml", "- knative-serving\n", "");
    insta::assert_snapshot!("guard_KG310", assert_raises(&r, &out, "KG310"));
    let (r, mut out) = render_of("openshift");
    tamper(&mut out, "manifests/istio-system/servicemeshmemberroll-default.yaml", "name: default", "name: kserve");
    assert_raises(&r, &out, "KG310");
}

#[test]
fn guard_kg408_knative_ingress_layer() {
    let (r, mut out) = render_of("dev");
    tamper(
        &mut out,
        "manifests/knative-serving/knativeserving-knative-serving.yaml",
        "enabled: true",
        "enabled: false",
    );
    insta::assert_snapshot!("guard_KG408", assert_raises(&r, &out, "KG408"));
}

#[test]
fn guard_kg602_ordering_on_every_engine() {
    // Argo CD: KServe in the same wave as cert-manager.
    let (r, mut out) = render_of("dev");
    let wave = |out: &Rendered, p: &str| {
        let v: serde_json::Value = common::parse(&out.files[p]);
        v["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"].as_str().unwrap().to_string()
    };
    let cm = wave(&out, "argocd/application-dev-cert-manager.yaml");
    let ks = wave(&out, "argocd/application-dev-kserve.yaml");
    tamper(
        &mut out,
        "argocd/application-dev-kserve.yaml",
        &format!("sync-wave: \"{ks}\""),
        &format!("sync-wave: \"{cm}\""),
    );
    insta::assert_snapshot!("guard_KG602_argocd", assert_raises(&r, &out, "KG602"));
    // Flux: the KnativeServing phase no longer waits for the Knative operator.
    let (r, mut out) = render_of("legacy");
    tamper(
        &mut out,
        "flux/kustomization-kgen-legacy-phase-knative.yaml",
        "    - name: kgen-legacy-release-knative-operator\n",
        "",
    );
    insta::assert_snapshot!("guard_KG602_flux", assert_raises(&r, &out, "KG602"));
}

#[test]
fn guard_kg610_release_record_over_the_limit() {
    // Flux: Envoy Gateway's CRD chart (record 1.9 MB) installed as a HelmRelease, as kgen did
    // before it applied those CRDs from a GitRepository.
    let (r, mut out) = render_of("staging");
    let hr = "flux/releases/envoy-gateway/helmrelease-staging-envoy-gateway.yaml";
    tamper(&mut out, hr, "releaseName: envoy-gateway\n", "releaseName: envoy-gateway-crds\n");
    tamper(&mut out, hr, "chart: gateway-helm\n", "chart: gateway-crds-helm\n");
    insta::assert_snapshot!("guard_KG610_flux", assert_raises(&r, &out, "KG610"));
    // install.sh: the same chart by `helm upgrade --install` instead of `helm template`.
    let dir = tempfile::tempdir().unwrap();
    common::copy_tree(&root().join("environments"), &dir.path().join("environments"));
    let path = dir.path().join("environments/staging.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("engine: flux", "engine: none")).unwrap();
    let (ws, r) = resolved_in(dir.path(), "staging");
    let mut out = render::render(&r, &ws.sources).unwrap();
    assert_eq!(codes(&r, &out), Vec::<String>::new());
    tamper(&mut out, "install.sh", "helm template envoy-gateway-crds", "helm upgrade --install envoy-gateway-crds");
    insta::assert_snapshot!("guard_KG610_install_sh", assert_raises(&r, &out, "KG610"));
}

#[test]
fn guard_kg602_kg603_install_sh() {
    let (r, out) = render_with_install_sh("dev");
    assert_eq!(codes(&r, &out), Vec::<String>::new());
    // Swap the KServe and cert-manager steps.
    let script = &out.files["install.sh"];
    let line = |needle: &str| script.lines().find(|l| l.contains(needle)).unwrap().to_string();
    let (cm, ks) = (line("--install cert-manager"), line("--install kserve "));
    let mut bad = out.clone();
    let swapped = script.replace(&cm, "@@").replace(&ks, &cm).replace("@@", &ks);
    bad.files.insert("install.sh".into(), swapped);
    insta::assert_snapshot!("guard_KG602_install_sh", assert_raises(&r, &bad, "KG602"));
    let mut bad = out.clone();
    bad.files.insert("install.sh".into(), script.replacen("kubectl apply --server-side", "kubectl apply", 1));
    insta::assert_snapshot!("guard_KG603_install_sh", assert_raises(&r, &bad, "KG603"));
}

#[test]
fn guard_kg602_install_sh_waits_for_olm_crds() {
    let (r, out) = render_with_install_sh("openshift");
    assert_eq!(codes(&r, &out), Vec::<String>::new());
    let mut bad = out.clone();
    let script: String =
        out.files["install.sh"].lines().filter(|l| !l.starts_with("wait_for_crd ")).map(|l| format!("{l}\n")).collect();
    bad.files.insert("install.sh".into(), script);
    insta::assert_snapshot!("guard_KG602_olm_waits", assert_raises(&r, &bad, "KG602"));
}

#[test]
fn guard_kg603_argocd_server_side_apply() {
    let (r, mut out) = render_of("dev");
    tamper(&mut out, "argocd/application-dev-kserve-crd.yaml", "      - ServerSideApply=true\n", "");
    insta::assert_snapshot!("guard_KG603_argocd", assert_raises(&r, &out, "KG603"));
}

#[test]
fn guard_kg604_gitops_api_versions() {
    let (r, mut out) = render_of("legacy");
    let hr = out.files.keys().find(|p| p.ends_with("helmrelease-legacy-kserve.yaml")).unwrap().clone();
    tamper(&mut out, &hr, "helm.toolkit.fluxcd.io/v2", "helm.toolkit.fluxcd.io/v2beta1");
    insta::assert_snapshot!("guard_KG604_flux", assert_raises(&r, &out, "KG604"));
    let (r, mut out) = render_of("dev");
    tamper(
        &mut out,
        "argocd/application-dev-kserve.yaml",
        "repoURL: ghcr.io/kserve/charts",
        "repoURL: oci://ghcr.io/kserve/charts",
    );
    assert_raises(&r, &out, "KG604");
}

#[test]
fn render_rules_blame_the_override_not_the_output() {
    // KG118 caused by a values override points at the environment file's line.
    let dir = project();
    let o = kgen_in(dir.path(), &["validate", "kg118-fail"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("environments/kg118-fail.yaml:6:"), "{err}");
}

#[test]
fn release_builds_still_catch_what_overrides_break() {
    // Release `render` and `diff` run the render rules at `Depth::Overrides`; every render rule a
    // user can trigger must fire there too (tests run debug builds, which check at full depth).
    let dir = project();
    for r in rules::rules().iter().filter(|r| r.stage == Stage::Render && !GUARDS.contains(&r.code.as_str())) {
        let name = format!("{}-fail", r.code.to_lowercase());
        let (ws, env) = resolved_in(dir.path(), &name);
        let out = render::render(&env, &ws.sources).unwrap();
        let found = kgen::pipeline::judge_render(&env, &out, rules::render::Depth::Overrides);
        assert!(found.iter().any(|d| d.code.as_str() == r.code), "{name}: {found:#?}");
    }
    // And without overrides nothing is parsed: the examples' renders raise nothing.
    for name in common::examples() {
        let (env, out) = render_of(&name);
        let found = kgen::pipeline::judge_render(&env, &out, rules::render::Depth::Overrides);
        assert!(found.iter().all(|d| d.severity != kgen::diag::Severity::Error), "{name}: {found:#?}");
    }
}

#[test]
fn readme_rule_tables_match_the_catalog() {
    // The tables live in docs/rules.md (the test keeps its old name: `rules::readme` is how the
    // bless command below is spelt everywhere).
    let path = root().join("docs/rules.md");
    let mut doc = std::fs::read_to_string(&path).unwrap();
    let bless = std::env::var_os("KGEN_BLESS").is_some();
    for (marker, table) in [("rules", rules::markdown_table()), ("retired", rules::retired_markdown_table())] {
        let start = doc.find(&format!("<!-- {marker}:start")).expect("docs/rules.md has the start marker");
        let start = start + doc[start..].find("-->\n").unwrap() + 4;
        let end = doc.find(&format!("<!-- {marker}:end -->")).expect("docs/rules.md has the end marker");
        if bless {
            doc = format!("{}{table}{}", &doc[..start], &doc[end..]);
            continue;
        }
        assert_eq!(
            doc[start..end],
            table,
            "docs/rules.md's {marker} table is stale: run `KGEN_BLESS=1 cargo test --test main rules::readme`"
        );
    }
    if bless {
        std::fs::write(&path, doc).unwrap();
    }
}

/// The anchors of a document of the repository (`README.md`, `docs/rules.md`).
fn anchors_of(file: &str) -> Option<BTreeSet<String>> {
    let text = std::fs::read_to_string(root().join(file)).ok()?;
    Some(crate::readme::markdown_anchors(&text))
}

#[test]
fn every_source_is_a_link_users_can_open() {
    // `source` is printed under diagnostics (`see:`) and by `kgen rules CODE`: each `; `-separated
    // entry is an https URL or a section of kgen's documentation (`docs/rules.md#ignoring-a-rule`),
    // never a document only kgen's authors have.
    let rules_doc = anchors_of("docs/rules.md").unwrap();
    assert!(rules_doc.contains("ignoring-a-rule") && rules_doc.contains("retired-codes"));
    let mut bad = Vec::new();
    // Entries are separated by `; ` outside the parenthesised notes (which may contain one).
    let entries = |source: &str| -> Vec<String> {
        let (mut out, mut current, mut depth) = (Vec::new(), String::new(), 0usize);
        for c in source.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                ';' if depth == 0 => {
                    out.push(std::mem::take(&mut current).trim().to_string());
                    continue;
                }
                _ => {}
            }
            current.push(c);
        }
        out.push(current.trim().to_string());
        out
    };
    for r in rules::rules() {
        for entry in entries(&r.source) {
            let target = entry.split_whitespace().next().unwrap_or_default();
            let note_ok = entry[target.len()..].trim().is_empty()
                || entry[target.len()..].trim().starts_with('(') && entry.ends_with(')');
            let ok = match target.split_once('#') {
                Some((file, anchor)) if file == "README.md" || file.starts_with("docs/") && file.ends_with(".md") => {
                    anchors_of(file).is_some_and(|a| a.contains(anchor))
                }
                _ => target.starts_with("https://") && target.len() > "https://".len(),
            };
            if !ok || !note_ok {
                bad.push(format!("{}: {entry}", r.code));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "sources that are neither an https URL nor an anchor of README.md or docs/*.md that exists: {bad:#?}"
    );
}

#[test]
fn retired_codes_are_never_reused() {
    let active: BTreeSet<&str> = rules::rules().iter().map(|r| r.code.as_str()).collect();
    let mut seen = BTreeSet::new();
    assert!(!rules::retired().is_empty(), "KG407 is recorded as retired");
    for r in rules::retired() {
        assert!(seen.insert(r.code.as_str()), "{} is retired twice", r.code);
        assert!(!active.contains(r.code.as_str()), "{} is retired and must not name an active rule", r.code);
        assert!(r.code.len() == 5 && r.code.starts_with("KG") && r.code[2..].parse::<u16>().is_ok(), "{}", r.code);
        assert!(!r.why.trim().is_empty() && !r.retired.trim().is_empty(), "{}: when and why", r.code);
        for by in &r.replaced_by {
            assert!(active.contains(by.as_str()), "{} is replaced by {by}, which is not an active rule", r.code);
        }
    }
}

#[test]
fn an_ignore_of_a_retired_rule_is_a_warning_saying_so() {
    let dir = project();
    std::fs::write(
        dir.path().join("environments/retired.yaml"),
        "apiVersion: kgen/v1\nkind: Environment\nextends: _k8s\n\
         ignore:\n  - {rule: KG407, reason: old istio-system rule}\n",
    )
    .unwrap();
    let o = kgen_in(dir.path(), &["validate", "retired"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "a warning, not an error: {err}");
    assert!(err.contains("warning[KG117]: `ignore[0].rule`: `KG407` is a retired rule"), "{err}");
    assert!(err.contains("environments/retired.yaml:5:"), "{err}");
    // Not mistaken for a typo of another rule.
    assert!(!err.contains("KG116") && !err.contains("did you mean"), "{err}");
    insta::assert_snapshot!("ignore_retired_KG407", err);
}

#[test]
fn an_unignorable_rule_suggests_no_other_code() {
    let dir = project();
    std::fs::write(
        dir.path().join("environments/input-rule.yaml"),
        "apiVersion: kgen/v1\nkind: Environment\nextends: _k8s\nignore:\n  - {rule: KG103, reason: x}\n",
    )
    .unwrap();
    let o = kgen_in(dir.path(), &["validate", "input-rule"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("error[KG116]: `ignore[0].rule`: `KG103` is about reading the input"), "{err}");
    // KG103 exists: "did you mean `KG103`?" would point at the entry itself.
    assert!(!err.contains("did you mean"), "{err}");
}

/// One environment of the combination space: platform × mesh × mode × ingress × Gateway API
/// implementation and CRDs × engine × release.
fn combination(i: usize) -> (String, String) {
    let platforms = [("kubernetes", "1.33"), ("openshift", "1.32")];
    let meshes = ["istio", "ossm2", "ossm3", "none"];
    let modes = ["Knative", "Standard"];
    let ingresses = ["ingress", "gatewayApi"];
    let impls = ["envoy", "istio"];
    let engines = ["argocd", "flux", "none"];
    // A spread of old releases and always the newest, whichever it is.
    let releases = ["v0.14.1", "v0.15.2", "v0.16.0", "v0.17.0", "v0.18.1", &kgen::catalog::get().newest().version];
    let mut n = i;
    let mut pick = |len: usize| {
        let k = n % len;
        n /= len;
        k
    };
    let (platform, k8s) = platforms[pick(2)];
    let mesh = meshes[pick(4)];
    let mode = modes[pick(2)];
    let ingress = ingresses[pick(2)];
    let implementation = impls[pick(2)];
    let crds = pick(2) == 0;
    let engine = engines[pick(3)];
    let release = releases[pick(6)];
    let name = format!("c{i:04}");
    let text = format!(
        "apiVersion: kgen/v1\nkind: Environment\ncluster: {{platform: {platform}, kubernetesVersion: \"{k8s}\"}}\n\
         kserve: {{version: {release}, deploymentMode: {mode}, ingressDomain: models.example.com, ingress: {ingress}, modelNamespaces: [models]}}\n\
         mesh: {{provider: {mesh}, allowUpstreamIstioOnOpenShift: true}}\n\
         gatewayApi: {{implementation: {implementation}, installCrds: {crds}}}\n\
         versions: {{envoyGateway: v1.8.1, gatewayApi: v1.5.1}}\n\
         gitops: {{engine: {engine}, repoUrl: https://github.com/acme/gitops.git}}\n"
    );
    (name, text)
}

/// Number of combinations [`combination`] enumerates.
const COMBINATIONS: usize = 2 * 4 * 2 * 2 * 2 * 2 * 3 * 6;

#[test]
fn every_accepted_combination_renders_without_render_rule_errors() {
    // Whatever environment the environment-stage rules accept, kgen's own output must pass
    // every render rule at full depth: a guard that fires here is a kgen bug. Every 7th
    // combination in CI (all of them with KGEN_ALL_COMBINATIONS=1).
    let step = if std::env::var_os("KGEN_ALL_COMBINATIONS").is_some() { 1 } else { 7 };
    let dir = tempfile::tempdir().unwrap();
    let envs = dir.path().join("environments");
    std::fs::create_dir(&envs).unwrap();
    let picked: Vec<usize> = (0..COMBINATIONS).step_by(step).collect();
    for &i in &picked {
        let (name, text) = combination(i);
        std::fs::write(envs.join(format!("{name}.yaml")), text).unwrap();
    }
    let ws = kgen::config::load::Workspace::load(dir.path()).unwrap();
    let mut accepted = 0;
    let mut failures = Vec::new();
    for &i in &picked {
        let (name, text) = combination(i);
        let c = kgen::pipeline::check(&ws, &name);
        let Some(r) = c.judged else { continue };
        accepted += 1;
        let out = render::render(&r, &ws.sources).unwrap_or_else(|e| panic!("{name} does not render: {e}\n{text}"));
        // KGEN_COMBINATIONS_OUT=DIR keeps every accepted render there, for the conformance
        // tools of ../shared/tools (a sweep too slow for CI).
        if let Some(keep) = std::env::var_os("KGEN_COMBINATIONS_OUT") {
            for (path, content) in &out.files {
                let file = std::path::Path::new(&keep).join(&name).join(path);
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(file, content).unwrap();
            }
        }
        let errors: Vec<String> = kgen::pipeline::judge_render(&r, &out, rules::render::Depth::Full)
            .iter()
            .filter(|d| d.severity == kgen::diag::Severity::Error)
            .map(|d| format!("{d}"))
            .collect();
        if !errors.is_empty() {
            failures.push(format!("{text}{}", errors.join("\n")));
        }
    }
    eprintln!("{accepted} of {} combinations accepted and checked", picked.len());
    assert!(accepted > picked.len() / 10, "too few accepted combinations: {accepted} of {}", picked.len());
    assert!(
        failures.is_empty(),
        "{} of {accepted} accepted environments fail render rules:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn gateway_keys_follow_the_istio_version_and_openshift_ingress_class_needs_upstream_istio() {
    let dir = project();
    let env = |name: &str, body: &str| {
        std::fs::write(
            dir.path().join(format!("environments/{name}.yaml")),
            format!("apiVersion: kgen/v1\nkind: Environment\nextends: _k8s\n{body}"),
        )
        .unwrap();
    };
    // `strategy` is a key of the 1.27.1 gateway schema, not of 1.20.4's.
    env("new", "values: {istio-ingressgateway: {strategy: {type: RollingUpdate}}}\n");
    env(
        "old",
        "cluster: {kubernetesVersion: \"1.30\"}\nkserve: {version: v0.14.1}\nvalues: {istio-ingressgateway: {strategy: {type: RollingUpdate}}}\n",
    );
    assert_eq!(kgen_in(dir.path(), &["validate", "--strict", "new"]).status.code(), Some(0));
    let o = kgen_in(dir.path(), &["validate", "old"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("error[KG308]") && err.contains("Istio 1.20.4"), "{err}");
    // OpenShift Service Mesh serves no `istio` IngressClass.
    std::fs::write(
        dir.path().join("environments/ossm-ingress.yaml"),
        "apiVersion: kgen/v1\nkind: Environment\nextends: _ocp\nkserve: {deploymentMode: Standard, ingress: ingress}\nmesh: {provider: ossm3}\n",
    )
    .unwrap();
    let o = kgen_in(dir.path(), &["validate", "ossm-ingress"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("error[KG402]") && err.contains("`ossm3` serves no `istio` IngressClass"), "{err}");
}

/// A catalog release without an `istio` pin: OpenShift Service Mesh 3 installs Istio through
/// Sail's `Istio`/`IstioCNI`, whose `spec.version` comes from that pin, so the environment fails
/// validation (KG204, the same rule as for every other component the plan installs) and, with
/// KG204 ignored, rendering refuses instead of writing `spec.version: v`.
#[test]
fn ossm3_without_an_istio_pin_fails_validation_and_never_renders_a_bare_v() {
    let mut cat = kgen::catalog::get().clone();
    for r in &mut cat.releases {
        r.pins.remove("istio");
    }
    let cat: &'static kgen::catalog::Catalog = Box::leak(Box::new(cat));
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("environments")).unwrap();
    let ossm3 = std::fs::read_to_string(root().join("environments/openshift-ossm3.yaml")).unwrap();
    std::fs::copy(root().join("environments/_base.yaml"), dir.path().join("environments/_base.yaml")).unwrap();
    std::fs::write(dir.path().join("environments/ossm3.yaml"), &ossm3).unwrap();
    let ignored = if ossm3.contains("\nignore:\n") {
        ossm3.replacen("\nignore:\n", "\nignore:\n  - rule: KG204\n    reason: test\n", 1)
    } else {
        format!("{ossm3}ignore:\n  - rule: KG204\n    reason: test\n")
    };
    assert_ne!(ignored, ossm3);
    std::fs::write(dir.path().join("environments/ossm3-ignored.yaml"), ignored).unwrap();
    let ws = kgen::config::load::Workspace::load(dir.path()).unwrap();
    kgen::catalog::with_catalog(cat, || {
        let c = kgen::pipeline::check(&ws, "ossm3");
        assert!(c.judged.is_none(), "an environment with a KG204 error is not rendered");
        let kg204: Vec<String> =
            c.diagnostics.iter().filter(|d| d.code.as_str() == "KG204").map(|d| d.message.clone()).collect();
        assert_eq!(kg204, ["KServe v0.20.0 has no tested `istio` version"], "{:#?}", c.diagnostics);
        let c = kgen::pipeline::check(&ws, "ossm3-ignored");
        let r = c.judged.unwrap_or_else(|| panic!("{:#?}", c.diagnostics));
        let err = render::render(&r, &ws.sources).expect_err("no render without the Istio version").to_string();
        assert!(
            err.contains("KServe v0.20.0 has no tested `istio` version") && err.contains("`versions.istio`"),
            "{err}"
        );
    });
    // The embedded catalog pins Istio for every release, so the same environment renders
    // with a versioned Sail `Istio`.
    let c = kgen::pipeline::check(&ws, "ossm3");
    let r = c.judged.unwrap_or_else(|| panic!("{:#?}", c.diagnostics));
    let out = render::render(&r, &ws.sources).unwrap();
    let istio = &out.files["manifests/_cluster/istio-default.yaml"];
    assert!(istio.contains("version: v1.") && !istio.contains("version: v\n"), "{istio}");
}
