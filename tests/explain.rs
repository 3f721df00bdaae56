//! `kgen explain`: where each value comes from and which rendered files it reaches, through the
//! real binary. The fixture `tests/fixtures/explain` is a three-level chain `_org` → `_team` →
//! `ml` with Helm values overrides in both layers and in the environment; its outputs are
//! snapshots (`tests/snapshots/main__explain__*.snap`), so a change in wording or in what a value
//! reaches is reviewed like code.

use crate::common;

use std::path::PathBuf;

use common::*;
use serde_json::Value;

fn fixture() -> PathBuf {
    root().join("tests/fixtures/explain")
}

/// Runs `kgen explain` on the fixture and returns stdout; it must succeed.
fn explain(args: &[&str]) -> String {
    let mut all = vec!["explain"];
    all.extend_from_slice(args);
    let o = kgen(&fixture(), &all);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "kgen {all:?}: {stderr}");
    String::from_utf8(o.stdout).expect("UTF-8 output")
}

/// The block of one key in the text output.
fn block<'a>(out: &'a str, key: &str) -> &'a str {
    let start = out.find(&format!("\n{key} = ")).unwrap_or_else(|| panic!("no block for {key}:\n{out}")) + 1;
    let end = out[start..].find("\n\n").map_or(out.len(), |e| start + e);
    &out[start..end]
}

#[test]
fn a_three_level_chain_names_every_kind_of_origin() {
    let out = explain(&["ml"]);
    // Each file of the chain, a default and the catalog, each where the fixture puts it.
    let domain = block(&out, "kserve.ingressDomain");
    assert!(domain.contains("set by     environment environments/ml.yaml:12:18"), "{domain}");
    assert!(
        domain.contains("overrides  environments/_team.yaml:8:18\n             environments/_org.yaml:7:18"),
        "newest first: {domain}"
    );
    assert!(block(&out, "mesh.provider").contains("set by     layer environments/_team.yaml:10:13"));
    assert!(block(&out, "gitops.repoUrl").contains("set by     layer environments/_org.yaml:10:12"));
    assert!(block(&out, "mesh.namespace").contains("set by     default (kgen's model)"));
    assert!(block(&out, "kserve.version").contains("the newest release; no file sets kserve.version"));
    assert!(block(&out, "versions.istio").contains("set by     catalog: KServe"));
    // `ml` sets no kserve.version: its release is the catalog's newest, and the release tried
    // as another value is the one before it. Their tags are redacted so that a new release
    // changes this snapshot only where it changes what the environment renders.
    let mut by_version: Vec<&str> = kgen::catalog::get().release_versions();
    by_version.sort_by_key(|v| kgen::version::Version::parse(v));
    let [.., previous, newest] = by_version[..] else { panic!("{by_version:?}") };
    let (newest, previous) = (newest.replace('.', r"\."), previous.replace('.', r"\."));
    insta::with_settings!({
        filters => vec![(newest.as_str(), "[newest]"), (previous.as_str(), "[newest - 1]")],
    }, {
        insta::assert_snapshot!("three-level-chain", out);
    });
}

#[test]
fn values_overrides_in_layers_and_in_the_environment() {
    let out = explain(&["ml", "values"]);
    let replicas = block(&out, "values.istiod.replicaCount");
    assert!(replicas.contains("set by     values override (environments/ml.yaml:15:19)"), "{replicas}");
    assert!(replicas.contains("overrides  environments/_team.yaml:19:19"), "{replicas}");
    assert!(replicas.contains("reaches    values/istiod.yaml"), "{replicas}");
    let cpu = block(&out, "values.kserve.kserve.controller.resources.requests.cpu");
    assert!(cpu.contains("values override (environments/_team.yaml:17:18)"), "{cpu}");
    assert!(cpu.contains("reaches    values/kserve.yaml"), "{cpu}");
    assert!(out.lines().filter(|l| !l.starts_with([' ', '#']) && !l.is_empty()).all(|l| l.starts_with("values.")));
    insta::assert_snapshot!("values-override", out);
}

#[test]
fn json_has_the_same_answers() {
    let out = explain(&["ml", "kserve.ingressDomain", "--format", "json"]);
    let v: Value = serde_json::from_str(&out).expect("JSON output");
    assert_eq!(v["environment"], "ml");
    let key = &v["keys"][0];
    assert_eq!(key["key"], "kserve.ingressDomain");
    assert_eq!(key["source"]["kind"], "environment");
    assert_eq!(key["source"]["origin"]["file"], "environments/ml.yaml");
    assert_eq!(key["overrides"][0]["file"], "environments/_team.yaml");
    assert_eq!(key["reaches"]["status"], "traced");
    let files: Vec<&str> =
        key["reaches"]["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(files, ["manifests/knative-serving/knativeserving-knative-serving.yaml", "values/kserve.yaml"]);
}

#[test]
fn unknown_keys_fail_with_a_suggestion_and_unset_ones_are_said_to_be_unset() {
    let o = kgen(&fixture(), &["explain", "ml", "kserve.ingresDomain"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("did you mean `kserve.ingressDomain`?"), "{err}");
    let out = explain(&["ml", "kserve.tlsSecretName"]);
    assert_eq!(
        out,
        "kserve.tlsSecretName: not set in `ml`: no file sets it, and it has no default in this environment\n"
    );
    // Derived values are derived only where they are used: OLM settings on OpenShift.
    let out = explain(&["ml", "olm.source"]);
    assert_eq!(out, "olm.source: not set in `ml`: no file sets it, and it has no default in this environment\n");
}

/// Values kgen derives from others (the environment's name, the engine, the platform) are
/// explained as such, with what they reach; `extends` is explained too.
#[test]
fn derived_values_and_extends_are_explained() {
    let run = |args: &[&str]| {
        let o = kgen(&root(), args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let out = run(&["explain", "openshift", "olm"]);
    let serverless = block(&out, "olm.channels.serverless");
    assert!(serverless.contains("derived: kgen's catalog (openshift.operators.serverless.channel)"), "{serverless}");
    assert!(
        serverless.contains("manifests/openshift-serverless/subscription-serverless-operator.yaml"),
        "{serverless}"
    );
    let approval = block(&out, "olm.installPlanApproval");
    assert!(approval.contains("environment environments/openshift.yaml:"), "{approval}");
    let out = run(&["explain", "staging", "gitops"]);
    let path = block(&out, "gitops.path");
    assert!(path.contains("derived: the folder `kgen render` writes this environment to"), "{path}");
    assert!(path.contains("flux/kustomization-kgen-staging.yaml"), "{path}");
    assert!(block(&out, "gitops.namespace").contains("derived: Flux's own namespace"));
    let out = run(&["explain", "prod", "extends"]);
    let extends = block(&out, "extends");
    assert!(extends.starts_with("extends = _base\n"), "{extends}");
    assert!(extends.contains("environment environments/prod.yaml:4:10"), "{extends}");
    assert!(extends.contains("environments/_base.yaml → environments/prod.yaml"), "{extends}");
    // Every Argo CD object carries the cluster's name, so one Argo CD can hold a fleet.
    let out = run(&["explain", "prod", "cluster.name"]);
    assert!(block(&out, "cluster.name").contains("argocd/application-prod-kserve.yaml"), "{out}");
}
