//! Compatibility facts at work (issue 12): the Kubernetes minimum of what an environment actually
//! installs, the overrides KG202's hint proposes (applied literally, then validated and rendered),
//! the Gateway API CRDs OpenShift 4.19+ owns, and hints that name the answer (KG201, the
//! deployment-mode typo).

use crate::common;

use common::*;
use kgen::config::load::Workspace;
use kgen::diag::Diagnostic;
use kgen::rules::RuleCode;

/// A project with one environment `name` holding `text`.
fn project(name: &str, text: &str) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join("environments")).unwrap();
    std::fs::write(t.path().join(format!("environments/{name}.yaml")), text).unwrap();
    t
}

/// The diagnostics of checking `name` in `dir` (file problems and rules).
fn diagnostics(dir: &std::path::Path, name: &str) -> Vec<Diagnostic> {
    let ws = Workspace::load(dir).unwrap();
    kgen::pipeline::check(&ws, name).diagnostics
}

fn env(platform: &str, kube: &str, body: &str) -> String {
    format!(
        "apiVersion: kgen/v1\nkind: Environment\ncluster: {{platform: {platform}, kubernetesVersion: \"{kube}\"}}\n{body}gitops: {{engine: none}}\n"
    )
}

const KNATIVE_020: &str =
    "kserve: {version: v0.20.0, deploymentMode: Knative, ingressDomain: models.example.com}\nmesh: {provider: istio}\n";

/// The `versions.*` overrides a hint names (`` `versions.knativeOperator: v1.20.2` ``).
fn overrides_in(hint: &str) -> Vec<(String, String)> {
    hint.split('`')
        .filter_map(|s| s.strip_prefix("versions."))
        .map(|s| {
            let (k, v) = s.split_once(": ").unwrap_or_else(|| panic!("`{s}` is not `versions.KEY: VALUE`"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn knative_on_kubernetes_1_32_fails_and_the_hints_overrides_validate_and_render() {
    let text = env("kubernetes", "1.32", KNATIVE_020);
    let t = project("edge", &text);
    let found = diagnostics(t.path(), "edge");
    let d = found.iter().find(|d| d.code == RuleCode::KG202).unwrap_or_else(|| panic!("no KG202: {found:#?}"));
    // The component, its version, the minimum and the source.
    for part in ["the Knative operator v1.21.1", "1.33", "knative/operator@knative-v1.21.1", "version.go"] {
        assert!(d.message.contains(part), "`{part}` missing from: {}", d.message);
    }
    let hint = d.hint.as_deref().unwrap();
    let overrides = overrides_in(hint);
    assert_eq!(
        overrides,
        [("knativeOperator".to_string(), "v1.20.2".to_string()), ("knativeServing".to_string(), "1.20.3".to_string())],
        "{hint}"
    );
    // Written into the environment as the hint says, they validate (strictly) and render.
    let mut fixed = text.clone();
    fixed.push_str("versions:\n");
    for (k, v) in &overrides {
        fixed.push_str(&format!("  {k}: {v}\n"));
    }
    std::fs::write(t.path().join("environments/edge.yaml"), &fixed).unwrap();
    let o = kgen(t.path(), &["validate", "--strict", "edge"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let o = kgen(t.path(), &["render", "edge"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let out = read_tree(&t.path().join("rendered/edge"));
    let ks = out.iter().find(|(p, _)| p.contains("knativeserving-")).expect("a KnativeServing");
    assert_eq!(parse(&String::from_utf8_lossy(ks.1))["spec"]["version"], "1.20.3");
    let lock = String::from_utf8_lossy(&out["kgen.lock.json"]).to_string();
    assert!(lock.contains("\"v1.20.2\""), "the operator chart moves to v1.20.2: {lock}");
}

#[test]
fn only_what_the_environment_installs_counts() {
    // Knative mode on Kubernetes: Knative 1.21 needs 1.33.
    let t = project("k", &env("kubernetes", "1.32", KNATIVE_020));
    assert!(diagnostics(t.path(), "k").iter().any(|d| d.code == RuleCode::KG202));
    // Standard mode installs no Knative: KServe v0.20.0's own 1.32 is the minimum.
    let standard =
        "kserve: {version: v0.20.0, deploymentMode: Standard, ingressDomain: m.example.com}\nmesh: {provider: none}\n";
    let t = project("s", &env("kubernetes", "1.32", standard));
    let found = diagnostics(t.path(), "s");
    assert!(!found.iter().any(|d| d.code == RuleCode::KG202), "{found:#?}");
    let t = project("s", &env("kubernetes", "1.31", standard));
    let found = diagnostics(t.path(), "s");
    let d = found.iter().find(|d| d.code == RuleCode::KG202).expect("KServe v0.20.0 needs 1.32");
    assert!(d.message.contains("the minimum of KServe v0.20.0"), "{}", d.message);
    // On OpenShift OLM installs Serverless: the Knative operator's pins are not installed.
    let ocp = "kserve: {version: v0.20.0, deploymentMode: Knative, ingressDomain: apps.example.com, modelNamespaces: [m]}\nmesh: {provider: ossm2}\n";
    let t = project("o", &env("openshift", "1.32", ocp));
    let found = diagnostics(t.path(), "o");
    assert!(!found.iter().any(|d| d.code == RuleCode::KG202), "{found:#?}");
}

#[test]
fn a_kserve_minimum_no_override_can_meet_names_the_newest_release_that_fits() {
    // Kubernetes 1.30: KServe v0.20.0 itself needs 1.32, so no `versions.*` helps.
    let t = project("old", &env("kubernetes", "1.30", KNATIVE_020));
    let found = diagnostics(t.path(), "old");
    let d = found.iter().find(|d| d.code == RuleCode::KG202).unwrap();
    let hint = d.hint.as_deref().unwrap();
    assert!(overrides_in(hint).is_empty(), "{hint}");
    // v0.16.0 pins Knative 1.15 (1.28), Istio 1.27 (1.29), cert-manager 1.16 (1.25); v0.17.0+
    // pin Knative 1.21 (1.33).
    assert!(hint.contains("use KServe v0.16.0"), "{hint}");
    assert!(hint.contains("upgrade the cluster to Kubernetes 1.33"), "{hint}");
}

#[test]
fn openshift_4_19_owns_the_gateway_api_crds() {
    let body = "kserve: {version: v0.20.0, deploymentMode: Standard, ingress: gatewayApi, ingressDomain: apps.example.com}\nmesh: {provider: ossm3}\ngatewayApi: {implementation: istio}\n";
    // OpenShift 4.19 = Kubernetes 1.32: not installed by default, and explained as derived.
    let t = project("ocp", &env("openshift", "1.32", body));
    let (ws, r) = resolved_in(t.path(), "ocp");
    let rendered = kgen::render::render(&r, &ws.sources).unwrap();
    assert!(r.plan.crd_sources.is_empty(), "{:?}", r.plan.crd_sources);
    assert!(!rendered.files["install.sh"].contains("standard-install.yaml"));
    let leaf = kgen::explain::leaves(&r).into_iter().find(|l| l.key == "gatewayApi.installCrds").unwrap();
    assert_eq!(leaf.value, serde_json::json!(false));
    assert!(
        matches!(&leaf.source, kgen::explain::Source::Derived { how } if how.contains("OpenShift 4.19")),
        "{leaf:?}"
    );
    // ...and no KG405: the platform serves them.
    let found = diagnostics(t.path(), "ocp");
    assert!(!found.iter().any(|d| d.severity != kgen::diag::Severity::Info), "{found:#?}");
    // OpenShift 4.18 = Kubernetes 1.31 (KServe v0.17.1 runs there): kgen installs them, as on
    // Kubernetes.
    let t = project("ocp", &env("openshift", "1.31", &body.replace("v0.20.0", "v0.17.1")));
    let (ws, r) = resolved_in(t.path(), "ocp");
    let rendered = kgen::render::render(&r, &ws.sources).unwrap();
    assert_eq!(r.plan.crd_sources.len(), 1);
    assert!(rendered.files["install.sh"].contains("standard-install.yaml"));
    let leaf = kgen::explain::leaves(&r).into_iter().find(|l| l.key == "gatewayApi.installCrds").unwrap();
    assert_eq!((leaf.value, leaf.source), (serde_json::json!(true), kgen::explain::Source::Default));
}

#[test]
fn a_release_newer_than_the_catalog_says_to_upgrade_kgen() {
    let t = project(
        "next",
        &env(
            "kubernetes",
            "1.33",
            "kserve: {version: v0.21.0, deploymentMode: Knative, ingressDomain: m.example.com}\nmesh: {provider: istio}\n",
        ),
    );
    let found = diagnostics(t.path(), "next");
    let d = found.iter().find(|d| d.code == RuleCode::KG201).unwrap();
    let hint = d.hint.as_deref().unwrap();
    assert!(hint.contains("catalog ends at KServe v0.20.0") && hint.contains("upgrade kgen"), "{hint}");
    assert!(!hint.contains("did you mean"), "{hint}");
    // A release inside the catalog's range that does not exist is still a typo.
    let t = project(
        "typo",
        &env(
            "kubernetes",
            "1.33",
            "kserve: {version: v0.19.1, deploymentMode: Knative, ingressDomain: m.example.com}\nmesh: {provider: istio}\n",
        ),
    );
    let found = diagnostics(t.path(), "typo");
    let hint = found.iter().find(|d| d.code == RuleCode::KG201).and_then(|d| d.hint.clone()).unwrap();
    assert!(hint.contains("did you mean `v0.19.0`?"), "{hint}");
}

#[test]
fn a_misspelt_deployment_mode_suggests_the_name_of_the_release() {
    let hint = |version: &str, mode: &str| {
        let body = format!("kserve: {{version: {version}, deploymentMode: {mode}, ingressDomain: m.example.com}}\n");
        let t = project("m", &env("kubernetes", "1.33", &body));
        let o = kgen(t.path(), &["validate", "m"]);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(err.contains("error[KG105]"), "{err}");
        // The hint, unwrapped.
        let help = err.split("help:").nth(1).unwrap_or_else(|| panic!("no hint: {err}"));
        help.split("\n\n").next().unwrap().split_whitespace().collect::<Vec<_>>().join(" ")
    };
    for typo in ["raw", "RAW", "rawdeployment", "Standardd"] {
        let h = hint("v0.20.0", typo);
        assert!(h.starts_with("did you mean `Standard`?"), "{typo}: {h}");
        let h = hint("v0.15.2", typo);
        assert!(h.starts_with("did you mean `RawDeployment`?"), "{typo}: {h}");
    }
    for typo in ["serverless", "SERVERLESS", "knativ"] {
        assert!(hint("v0.16.0", typo).starts_with("did you mean `Knative`?"), "{typo}");
        assert!(hint("v0.14.1", typo).starts_with("did you mean `Serverless`?"), "{typo}");
    }
    assert!(hint("v0.20.0", "rawdeployment").contains("legacy name `RawDeployment`"));
}
