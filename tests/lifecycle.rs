//! Right for the engines over the whole lifecycle (issue 13): Flux releases recover from a failed
//! install or upgrade, Flux's OpenShift operators phase is ready only once OLM installed the
//! operators, Argo CD leaves the fields controllers own alone, and no engine deletes a CRD or a
//! namespace kgen renders.

use crate::common;

use std::path::Path;

use common::*;
use kgen::render::Rendered;
use serde_json::Value;

/// The charts whose releases install CRDs (checked against the chart sources, not read from
/// kgen's catalog, so that a catalog mistake fails here).
const CRD_CHARTS: &[&str] = &[
    "cert-manager",
    "istio-base",
    "knative-operator",
    "envoy-gateway-crds",
    "kserve-crd",
    "keda",
    "envoy-ai-gateway-crds",
    "kserve-llmisvc-crd",
    "kserve-llmisvc-resources",
    "lws",
    "kserve-localmodel-crd",
    "opentelemetry-operator",
];
/// Charts that serve admission webhooks.
const WEBHOOK_CHARTS: &[&str] = &[
    "cert-manager",
    "istiod",
    "knative-operator",
    "envoy-gateway",
    "kserve",
    "keda",
    "envoy-ai-gateway",
    "kserve-llmisvc-resources",
    "lws",
    "kserve-localmodel-resources",
    "opentelemetry-operator",
];

fn fixture(name: &str) -> Rendered {
    let (ws, r) = resolved_in(&root().join("tests/fixtures/conformance"), name);
    kgen::render::render(&r, &ws.sources).expect("renders")
}

/// Every render that uses an engine: the examples and the conformance fixtures.
fn renders(engine_folder: &str) -> Vec<(String, Rendered)> {
    let mut out: Vec<(String, Rendered)> = examples().into_iter().map(|e| (e.clone(), render_example(&e))).collect();
    let dir = root().join("tests/fixtures/conformance");
    for name in kgen::config::load::Workspace::load(Path::new(&dir)).unwrap().environment_names() {
        out.push((name.clone(), fixture(&name)));
    }
    out.retain(|(_, r)| r.files.keys().any(|p| p.starts_with(&format!("{engine_folder}/"))));
    out
}

fn files<'a>(r: &'a Rendered, prefix: &str) -> Vec<(&'a String, Value)> {
    r.files.iter().filter(|(p, _)| p.starts_with(prefix)).map(|(p, t)| (p, parse(t))).collect()
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array().map_or(vec![], |a| a.iter().filter_map(Value::as_str).collect())
}

#[test]
fn every_flux_helm_release_retries_and_never_uninstalls_crds() {
    let all = renders("flux");
    assert!(all.len() >= 3, "staging, legacy and the Flux fixtures");
    let mut seen_crd_release = false;
    for (env, r) in &all {
        for (path, hr) in files(r, "flux/releases/").into_iter().filter(|(p, _)| p.contains("/helmrelease-")) {
            let release = hr["spec"]["releaseName"].as_str().unwrap();
            let spec = &hr["spec"];
            let timeout = spec["timeout"].as_str().unwrap_or_else(|| panic!("{env}: {path} has no timeout"));
            let slow = CRD_CHARTS.contains(&release) || WEBHOOK_CHARTS.contains(&release);
            assert_eq!(timeout, if slow { "10m" } else { "5m" }, "{env}: {path}");
            if CRD_CHARTS.contains(&release) {
                seen_crd_release = true;
                // Retried without an uninstall (install remediation) or a rollback in between.
                for action in ["install", "upgrade"] {
                    assert_eq!(spec[action]["strategy"]["name"], "RetryOnFailure", "{env}: {path} {action}");
                    assert!(spec[action]["strategy"]["retryInterval"].is_string(), "{env}: {path} {action}");
                    assert!(spec[action].get("remediation").is_none(), "{env}: {path} {action}");
                }
                // Helm keeps its CRDs on uninstall, and no Kustomization deletes the HelmRelease.
                let patch = &spec["postRenderers"][0]["kustomize"]["patches"][0];
                assert_eq!(patch["target"]["kind"], "CustomResourceDefinition", "{env}: {path}");
                let body = parse(patch["patch"].as_str().unwrap());
                assert_eq!(body["metadata"]["annotations"]["helm.sh/resource-policy"], "keep", "{env}: {path}");
                assert_eq!(hr["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/prune"], "disabled");
            } else {
                assert_eq!(spec["install"]["remediation"]["retries"], -1, "{env}: {path}: a failed install retries");
                let up = &spec["upgrade"]["remediation"];
                assert!(up["retries"].as_i64().unwrap() > 0, "{env}: {path}");
                assert_eq!(up["strategy"], "rollback", "{env}: {path}: never uninstalled on a failed upgrade");
                assert_eq!(up["remediateLastFailure"], true, "{env}: {path}");
                assert!(spec.get("postRenderers").is_none(), "{env}: {path}");
            }
        }
    }
    assert!(seen_crd_release);
}

#[test]
fn flux_operators_phase_is_ready_only_once_olm_installed_the_operators() {
    let r = fixture("flux-ossm3-knative");
    let ks = parse(&r.files["flux/kustomization-kgen-flux-ossm3-knative-phase-operators.yaml"]);
    let spec = &ks["spec"];
    // `wait` would check only the Subscriptions, which are "current" the moment they exist.
    assert_eq!(spec["wait"], false, "healthChecks are ignored with wait: true");
    let checks = spec["healthChecks"].as_array().unwrap();
    let names = |kind: &str| -> Vec<&str> {
        checks.iter().filter(|c| c["kind"] == kind).map(|c| c["name"].as_str().unwrap()).collect()
    };
    let subs = names("Subscription");
    for pkg in ["servicemeshoperator3", "serverless-operator", "openshift-cert-manager-operator"] {
        assert!(subs.contains(&pkg), "{pkg}: {subs:?}");
    }
    let crds = names("CustomResourceDefinition");
    for crd in ["istios.sailoperator.io", "knativeservings.operator.knative.dev", "certificates.cert-manager.io"] {
        assert!(crds.contains(&crd), "the next phases need {crd}: {crds:?}");
    }
    for c in checks.iter().filter(|c| c["kind"] == "CustomResourceDefinition") {
        assert_eq!(c["apiVersion"], "apiextensions.k8s.io/v1");
    }
    let exprs = spec["healthCheckExprs"].as_array().unwrap();
    assert_eq!(exprs.len(), 1);
    assert_eq!(exprs[0]["kind"], "Subscription");
    assert_eq!(exprs[0]["apiVersion"], "operators.coreos.com/v1alpha1");
    assert_eq!(exprs[0]["current"], "status.state == 'AtLatestKnown'");
    // Every other Kustomization waits for all it applies.
    for (path, k) in files(&r, "flux/kustomization-") {
        if !path.ends_with("-phase-operators.yaml") {
            assert_eq!(k["spec"]["wait"], true, "{path}");
            assert!(k["spec"].get("healthChecks").is_none(), "{path}");
        }
    }
}

/// The ignoreDifferences entry of an Application for a kind, as (group, paths).
fn ignored<'a>(app: &'a Value, kind: &str) -> Vec<&'a str> {
    app["spec"]["ignoreDifferences"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["kind"] == kind)
        .flat_map(|e| strings(&e["jqPathExpressions"]))
        .collect()
}

#[test]
fn argocd_leaves_the_fields_istio_and_cert_manager_write_alone() {
    let r = render_example("dev");
    for app in ["istio-base", "istiod"] {
        let a = parse(&r.files[&format!("argocd/application-dev-{app}.yaml")]);
        // istiod patches the validators' failurePolicy from Ignore to Fail (istio/istio#44285).
        let paths = ignored(&a, "ValidatingWebhookConfiguration");
        assert!(paths.contains(&".webhooks[]?.failurePolicy"), "{app}: {paths:?}");
        assert!(paths.contains(&".webhooks[]?.clientConfig.caBundle"), "{app}: {paths:?}");
        for e in a["spec"]["ignoreDifferences"].as_array().unwrap() {
            assert_eq!(e["group"], "admissionregistration.k8s.io", "{app}");
        }
        let opts = strings(&a["spec"]["syncPolicy"]["syncOptions"]);
        assert!(opts.contains(&"RespectIgnoreDifferences=true"), "{app}: {opts:?}");
    }
    let istiod = parse(&r.files["argocd/application-dev-istiod.yaml"]);
    assert_eq!(ignored(&istiod, "MutatingWebhookConfiguration"), [".webhooks[]?.clientConfig.caBundle"]);
    // cert-manager's cainjector writes the caBundle of KServe's and its own webhooks.
    for app in ["kserve", "cert-manager"] {
        let a = parse(&r.files[&format!("argocd/application-dev-{app}.yaml")]);
        for kind in ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"] {
            assert_eq!(ignored(&a, kind), [".webhooks[]?.clientConfig.caBundle"], "{app} {kind}");
        }
        assert!(ignored(&a, "ValidatingWebhookConfiguration").iter().all(|p| !p.contains("failurePolicy")));
        assert!(strings(&a["spec"]["syncPolicy"]["syncOptions"]).contains(&"RespectIgnoreDifferences=true"));
    }
    // The Knative operator's webhook writes the CA of its CRDs' conversion webhook.
    let ko = parse(&r.files["argocd/application-dev-knative-operator.yaml"]);
    assert_eq!(ignored(&ko, "CustomResourceDefinition"), [".spec.conversion.webhook.clientConfig.caBundle"]);
    // Nothing to ignore, no option.
    let gw = parse(&r.files["argocd/application-dev-istio-ingressgateway.yaml"]);
    assert!(gw["spec"].get("ignoreDifferences").is_none());
    assert!(!strings(&gw["spec"]["syncPolicy"]["syncOptions"]).contains(&"RespectIgnoreDifferences=true"));
}

#[test]
fn argocd_never_prunes_or_cascade_deletes_crds() {
    let mut crd_apps = 0;
    for (env, r) in renders("argocd") {
        for (path, app) in files(&r, "argocd/application-") {
            let src = &app["spec"]["sources"][0];
            // CRD sources (`<env>-gateway-api-crds`) and releases of charts with CRDs.
            let owns_crds = app["metadata"]["name"].as_str().unwrap().ends_with("-crds")
                || src["helm"]["releaseName"].as_str().is_some_and(|n| CRD_CHARTS.contains(&n));
            let finalizers = strings(&app["metadata"]["finalizers"]);
            let opts = strings(&app["spec"]["syncPolicy"]["syncOptions"]);
            if owns_crds {
                crd_apps += 1;
                assert!(finalizers.is_empty(), "{env}: {path}: a cascading delete would delete the CRDs");
                assert_eq!(app["spec"]["syncPolicy"]["automated"]["prune"], false, "{env}: {path}");
                assert!(opts.contains(&"Prune=false") && opts.contains(&"Delete=false"), "{env}: {path}: {opts:?}");
            } else {
                assert!(!opts.contains(&"Delete=false"), "{env}: {path}");
            }
        }
    }
    assert!(crd_apps >= 8, "{crd_apps}");
}

#[test]
fn no_engine_deletes_a_namespace_kgen_renders() {
    for (env, r) in renders("argocd").into_iter().chain(renders("flux")) {
        let namespaces: Vec<(&String, Value)> =
            files(&r, "manifests/").into_iter().filter(|(_, o)| o["kind"] == "Namespace").collect();
        assert!(!namespaces.is_empty(), "{env}");
        for (path, ns) in namespaces {
            let a = &ns["metadata"]["annotations"];
            assert_eq!(a["argocd.argoproj.io/sync-options"], "Prune=false,Delete=false", "{env}: {path}");
            assert_eq!(a["kustomize.toolkit.fluxcd.io/prune"], "disabled", "{env}: {path}");
        }
    }
    // Model namespaces are among them.
    let r = render_example("openshift");
    let ns = parse(&r.files["manifests/_cluster/namespace-fraud-models.yaml"]);
    assert_eq!(ns["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/prune"], "disabled");
}

#[test]
fn flux_never_prunes_what_owns_crds() {
    for (env, r) in renders("flux") {
        for (path, ks) in files(&r, "flux/kustomization-") {
            let name = ks["metadata"]["name"].as_str().unwrap();
            let owns = name.contains("-crds-")
                || CRD_CHARTS.iter().any(|c| name.ends_with(&format!("-release-{c}")))
                || name.ends_with("-phase-namespaces");
            if owns {
                assert_eq!(ks["spec"]["prune"], false, "{env}: {path}");
            }
        }
    }
}

fn out(o: &std::process::Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn edit(dir: &Path, env: &str, from: &str, to: &str) {
    let path = dir.join(format!("environments/{env}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{env}: {from}");
    std::fs::write(&path, text.replace(from, to)).unwrap();
}

/// The `data-loss` risks of one environment in `kgen diff --format json`.
fn data_loss(dir: &Path, env: &str) -> Vec<Value> {
    // Every environment: a removed one cannot be named.
    let (stdout, stderr) = out(&kgen(dir, &["diff", "--format", "json"]));
    let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("{stderr}"));
    let e = v["environments"].as_array().unwrap().iter().find(|e| e["name"] == env).cloned().unwrap();
    e["risks"].as_array().unwrap().iter().filter(|r| r["kind"] == "data-loss").cloned().collect()
}

#[test]
fn a_model_namespace_leaving_is_a_data_loss_risk_and_refused_until_acknowledged() {
    let project = temp_project();
    let dir = project.path();
    assert!(kgen(dir, &["render", "-q"]).status.success());
    edit(dir, "openshift", "modelNamespaces: [kserve-demo, fraud-models]", "modelNamespaces: [kserve-demo]");
    // render and validate refuse it (KG607); the committed render is untouched.
    let before = std::fs::read(dir.join("rendered/openshift/kgen.lock.json")).unwrap();
    let o = kgen(dir, &["render", "openshift"]);
    let (_, err) = out(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("error[KG607]") && err.contains("namespace `fraud-models`"), "{err}");
    assert_eq!(std::fs::read(dir.join("rendered/openshift/kgen.lock.json")).unwrap(), before);
    let (_, err) = out(&kgen(dir, &["validate", "openshift"]));
    assert!(err.contains("error[KG607]"), "{err}");
    // Acknowledged, diff shows the risk in every format and --fail-on risk exits 3.
    let text = std::fs::read_to_string(dir.join("environments/openshift.yaml")).unwrap();
    std::fs::write(
        dir.join("environments/openshift.yaml"),
        // Added to the file's `ignore:` list, or as a new one.
        if text.contains("\nignore:\n") {
            text.replacen(
                "\nignore:\n",
                "\nignore:\n  - rule: KG607\n    reason: fraud models moved to kserve-demo (CHG-7)\n",
                1,
            )
        } else {
            format!("{text}ignore:\n  - rule: KG607\n    reason: fraud models moved to kserve-demo (CHG-7)\n")
        },
    )
    .unwrap();
    let (_, err) = out(&kgen(dir, &["validate", "openshift"]));
    assert!(err.contains("info[KG607]") && err.contains("fraud models moved"), "a note with the reason: {err}");
    let risks = data_loss(dir, "openshift");
    assert_eq!(risks.len(), 1, "{risks:?}");
    assert_eq!(risks[0]["path"], "kserve.modelNamespaces");
    assert_eq!(risks[0]["old"], "fraud-models");
    assert_eq!(risks[0]["file"], "kgen.lock.json");
    let (text, _) = out(&kgen(dir, &["diff", "openshift"]));
    assert!(text.contains("risk data-loss: model namespace fraud-models leaves kserve.modelNamespaces"), "{text}");
    let (md, _) = out(&kgen(dir, &["diff", "--format", "markdown", "openshift"]));
    assert!(md.contains("data-loss") && md.contains("fraud-models"), "{md}");
    assert_eq!(kgen(dir, &["diff", "--fail-on", "risk", "openshift"]).status.code(), Some(3));
    // The namespace stays in the render's history only as a risk: the render now succeeds and
    // the Namespace object leaves, its annotations having kept it on the cluster.
    let o = kgen(dir, &["render", "openshift"]);
    assert!(o.status.success(), "{}", out(&o).1);
    assert!(!dir.join("rendered/openshift/manifests/_cluster/namespace-fraud-models.yaml").exists());
}

#[test]
fn crds_leaving_are_a_data_loss_risk_and_refused_until_acknowledged() {
    let project = temp_project();
    let dir = project.path();
    assert!(kgen(dir, &["render", "-q"]).status.success());
    // staging (Flux) stops installing cert-manager, whose CRDs hold every Certificate.
    edit(dir, "staging", "gitops:", "certManager: {install: false}\ngitops:");
    let (_, err) = out(&kgen(dir, &["render", "staging"]));
    assert!(err.contains("error[KG608]") && err.contains("Helm release `cert-manager`"), "{err}");
    let (_, err) = out(&kgen(dir, &["diff", "staging"]));
    assert!(err.contains("error[KG608]"), "diff reports the history rule: {err}");
    let text = std::fs::read_to_string(dir.join("environments/staging.yaml")).unwrap();
    std::fs::write(
        dir.join("environments/staging.yaml"),
        format!("{text}ignore:\n  - rule: KG608\n    reason: the platform team runs cert-manager now (PLAT-88)\n"),
    )
    .unwrap();
    let risks = data_loss(dir, "staging");
    assert_eq!(risks.len(), 1, "{risks:?}");
    assert_eq!(risks[0]["path"], "releases[name=cert-manager]");
    assert_eq!(kgen(dir, &["diff", "--fail-on", "risk", "staging"]).status.code(), Some(3));
}

#[test]
fn removing_an_environment_is_a_data_loss_risk_and_needs_allow_removal() {
    let project = temp_project();
    let dir = project.path();
    assert!(kgen(dir, &["render", "-q"]).status.success());
    std::fs::remove_file(dir.join("environments/openshift.yaml")).unwrap();
    // diff: removed, with what the engines keep.
    let risks = data_loss(dir, "openshift");
    assert_eq!(risks.len(), 1, "{risks:?}");
    let m = risks[0]["message"].as_str().unwrap();
    assert!(m.contains("kserve-demo, fraud-models") && m.contains("kserve-crd"), "{m}");
    assert_eq!(kgen(dir, &["diff", "--fail-on", "risk"]).status.code(), Some(3));
    let (md, _) = out(&kgen(dir, &["diff", "--format", "markdown"]));
    assert!(md.contains("data-loss"), "{md}");
    // render --all refuses, names the procedure, and writes nothing (no other environment either).
    let o = kgen(dir, &["render"]);
    let (_, err) = out(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("error[KG609]") && err.contains("--allow-removal openshift"), "{err}");
    assert!(err.contains("Removing an environment"), "{err}");
    assert!(dir.join("rendered/openshift/kgen.lock.json").exists());
    // A name that is not a removed environment is no consent.
    let (_, err) = out(&kgen(dir, &["render", "--allow-removal", "prod"]));
    assert!(err.contains("--allow-removal prod") && err.contains("error[KG609]"), "{err}");
    assert!(dir.join("rendered/openshift/kgen.lock.json").exists());
    // --check still reports the folder as stale, and names no consent.
    assert_eq!(kgen(dir, &["render", "--check"]).status.code(), Some(1));
    // Named, it goes.
    let o = kgen(dir, &["render", "--allow-removal", "openshift"]);
    assert!(o.status.success(), "{}", out(&o).1);
    assert!(!dir.join("rendered/openshift/kgen.lock.json").exists());
}

/// Envoy Gateway's CRDs moving from a Helm release (over the record limit) to their Git source
/// keeps them managed: no KG608 and no `data-loss` risk for that move. Dropping the source too
/// is still refused.
#[test]
fn a_crd_release_replaced_by_its_source_is_not_data_loss() {
    let project = temp_project();
    let dir = project.path();
    assert!(kgen(dir, &["render", "-q", "staging"]).status.success());
    let lock_path = dir.join("rendered/staging/kgen.lock.json");
    let mut lock: Value = serde_json::from_slice(&std::fs::read(&lock_path).unwrap()).unwrap();
    // The previous render as kgen wrote it before: the CRDs as a Helm release, no Git source.
    let tag =
        lock["crdSources"].as_array().unwrap().iter().find(|s| s["name"] == "envoyGatewayCrds").unwrap()["tag"].clone();
    lock["crdSources"].as_array_mut().unwrap().retain(|s| s["name"] != "envoyGatewayCrds");
    lock["releases"].as_array_mut().unwrap().push(serde_json::json!({
        "name": "envoy-gateway-crds", "chart": "gateway-crds-helm", "repo": "oci://docker.io/envoyproxy",
        "version": tag, "namespace": "envoy-gateway-system"
    }));
    std::fs::write(&lock_path, serde_json::to_vec_pretty(&lock).unwrap()).unwrap();
    let (_, err) = out(&kgen(dir, &["validate", "staging"]));
    assert!(!err.contains("KG608"), "{err}");
    let o = kgen(dir, &["diff", "staging", "--format", "json"]);
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(!report.to_string().contains("\"data-loss\""), "{report}");
}
