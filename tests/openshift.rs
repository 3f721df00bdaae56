//! OpenShift renders: OLM operators, OpenShift Service Mesh 2 and 3, and the gateways they
//! need; plus the rules for the combinations that break there.

use crate::common;

use common::*;
use kgen::config::load::Workspace;
use serde_json::{Value, json};

fn file(r: &kgen::render::Rendered, path: &str) -> Value {
    parse(r.files.get(path).unwrap_or_else(|| panic!("{path} not rendered; files: {:?}", r.files.keys())))
}

#[test]
fn ossm2_member_roll_control_plane_and_subscriptions() {
    let r = render_example("openshift");
    let smmr = file(&r, "manifests/istio-system/servicemeshmemberroll-default.yaml");
    assert_eq!(smmr["apiVersion"], "maistra.io/v1");
    assert_eq!(smmr["metadata"]["name"], "default", "OSSM 2 only honours a roll named `default`");
    assert_eq!(smmr["spec"]["members"], json!(["fraud-models", "knative-serving", "kserve", "kserve-demo"]));
    let smcp = file(&r, "manifests/istio-system/servicemeshcontrolplane-basic.yaml");
    assert_eq!(smcp["apiVersion"], "maistra.io/v2");
    assert_eq!(smcp["spec"]["security"]["dataPlane"]["mtls"], false);
    let sub = |p: &str| file(&r, p)["spec"].clone();
    let mesh = sub("manifests/openshift-operators/subscription-servicemeshoperator.yaml");
    assert_eq!((mesh["name"].as_str(), mesh["channel"].as_str()), (Some("servicemeshoperator"), Some("stable")));
    assert_eq!(mesh["installPlanApproval"], "Automatic", "the example installs with no manual step (KG606)");
    let serverless = sub("manifests/openshift-serverless/subscription-serverless-operator.yaml");
    assert_eq!(serverless["source"], "redhat-operators");
    assert_eq!(file(&r, "manifests/openshift-serverless/operatorgroup-openshift-serverless.yaml")["spec"], json!({}));
    let cm = sub("manifests/cert-manager-operator/subscription-openshift-cert-manager-operator.yaml");
    assert_eq!(cm["channel"], "stable-v1");
    // Operators come from OLM: no upstream charts of those components.
    for release in ["cert-manager", "istio-base", "istiod", "istio-ingressgateway", "knative-operator"] {
        assert!(!r.files.contains_key(&format!("values/{release}.yaml")), "{release} must come from OLM");
    }
}

#[test]
fn ossm2_gateways_match_the_gateway_that_exists() {
    let r = render_example("openshift");
    // SMCP's default ingress gateway pods carry `istio: ingressgateway`.
    let selector = json!({"istio": "ingressgateway"});
    let ks = file(&r, "manifests/knative-serving/knativeserving-knative-serving.yaml");
    assert!(ks["spec"].get("version").is_none(), "the Serverless channel decides the version");
    assert_eq!(ks["metadata"]["annotations"]["serverless.openshift.io/default-enable-http2"], "true");
    for gw in ["knative-ingress-gateway", "knative-local-gateway"] {
        assert_eq!(ks["spec"]["ingress"]["istio"][gw]["selector"], selector);
        let g = file(&r, &format!("manifests/knative-serving/gateway-{gw}.yaml"));
        assert_eq!(g["apiVersion"], "networking.istio.io/v1beta1");
        assert_eq!(g["spec"]["selector"], selector);
    }
    let local = file(&r, "manifests/knative-serving/gateway-knative-local-gateway.yaml");
    assert_eq!(local["spec"]["servers"][0]["port"]["number"], 8081);
    let svc = file(&r, "manifests/istio-system/service-knative-local-gateway.yaml");
    assert_eq!(svc["spec"]["selector"], selector);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 8081);
    let kserve = parse(&r.files["values/kserve.yaml"]);
    let gw = &kserve["kserve"]["controller"]["gateway"];
    assert_eq!(gw["localGateway"]["gatewayService"], "knative-local-gateway.istio-system.svc.cluster.local");
    assert_eq!(gw["disableIstioVirtualHost"], true, "KServe's OpenShift guide");
}

#[test]
fn ossm3_sail_resources_and_gateway_api() {
    let r = render_example("openshift-ossm3");
    let istio = file(&r, "manifests/_cluster/istio-default.yaml");
    assert_eq!(istio["apiVersion"], "sailoperator.io/v1");
    assert!(istio["metadata"].get("namespace").is_none(), "cluster-scoped");
    assert_eq!(istio["spec"]["version"], "v1.27.1", "Sail versions carry a leading v");
    assert_eq!(istio["spec"]["values"]["global"]["istioNamespace"], istio["spec"]["namespace"], "CEL rule of the CRD");
    let cni = file(&r, "manifests/_cluster/istiocni-default.yaml");
    assert_eq!(cni["spec"]["version"], "v1.27.1");
    assert_eq!(cni["spec"]["namespace"], "istio-cni");
    assert!(r.files.contains_key("manifests/_cluster/namespace-istio-cni.yaml"));
    let gw = file(&r, "manifests/kserve/gateway-kserve-ingress-gateway.yaml");
    assert_eq!(gw["spec"]["gatewayClassName"], "istio");
    let kserve = parse(&r.files["values/kserve.yaml"]);
    let ig = &kserve["kserve"]["controller"]["gateway"]["ingressGateway"];
    assert_eq!((ig["enableGatewayApi"].as_bool(), ig["className"].as_str()), (Some(true), Some("istio")));
    assert_eq!(kserve["kserve"]["controller"]["deploymentMode"], "Standard");
    assert!(
        file(&r, "manifests/openshift-operators/subscription-servicemeshoperator3.yaml")["spec"]["name"]
            == "servicemeshoperator3"
    );
    let lock: Value = serde_json::from_str(&r.files["kgen.lock.json"]).unwrap();
    assert_eq!(lock["crdSources"], json!([]), "OpenShift manages the Gateway API CRDs in this example");
}

/// A temp project with one extra environment file.
fn check_env(text: &str) -> (Vec<String>, Option<kgen::render::Rendered>) {
    let project = temp_project();
    std::fs::write(project.path().join("environments/probe.yaml"), text).unwrap();
    let ws = Workspace::load(project.path()).unwrap();
    let c = kgen::pipeline::check(&ws, "probe");
    // KG507 (fixed UIDs) warns on every OpenShift render of the newest KServe; tested on its own
    // (tests/lifecycle.rs, its rule fixtures).
    let mut codes: Vec<String> =
        c.diagnostics.iter().filter(|d| d.code.as_str() != "KG507").map(|d| d.code.to_string()).collect();
    codes.extend(ws.diagnostics.iter().map(|d| d.code.to_string()));
    // Render-stage rules too (KG404 and others check what is rendered).
    let rendered = c.judged.map(|r| {
        let out = kgen::render::render(&r, &ws.sources).unwrap();
        codes.extend(
            kgen::pipeline::judge_render(&r, &out, kgen::rules::render::Depth::Full).iter().map(|d| d.code.to_string()),
        );
        out
    });
    (codes, rendered)
}

const OCP: &str = "apiVersion: kgen/v1\nkind: Environment\nextends: _base\ncluster: {platform: openshift, kubernetesVersion: \"1.32\"}\ngitops: {engine: argocd}\n";

#[test]
fn ossm3_knative_mode_renders_the_gateway_sail_does_not() {
    let (codes, r) = check_env(&format!("{OCP}kserve: {{deploymentMode: Knative}}\nmesh: {{provider: ossm3}}\n"));
    assert!(codes.is_empty(), "{codes:?}");
    let r = r.unwrap();
    let dep = file(&r, "manifests/istio-system/deployment-istio-ingressgateway.yaml");
    let labels = &dep["spec"]["template"]["metadata"]["labels"];
    assert_eq!(labels["istio"], "ingressgateway");
    assert_eq!(labels["sidecar.istio.io/inject"], "true", "gateway injection");
    assert_eq!(dep["spec"]["template"]["metadata"]["annotations"]["inject.istio.io/templates"], "gateway");
    assert_eq!(dep["spec"]["selector"]["matchLabels"], json!({"istio": "ingressgateway"}));
    let svc = file(&r, "manifests/istio-system/service-istio-ingressgateway.yaml");
    assert_eq!(svc["spec"]["selector"], json!({"istio": "ingressgateway"}));
    let g = file(&r, "manifests/knative-serving/gateway-knative-ingress-gateway.yaml");
    assert_eq!(g["spec"]["selector"], labels.as_object().map(|m| json!({"istio": m["istio"]})).unwrap());
    // Istio serves a `credentialName` only to a gateway whose ServiceAccount may read it.
    let sa = dep["spec"]["template"]["spec"]["serviceAccountName"].as_str().unwrap();
    assert_eq!(file(&r, &format!("manifests/istio-system/serviceaccount-{sa}.yaml"))["metadata"]["name"], sa);
    let binding = file(&r, "manifests/istio-system/rolebinding-istio-ingressgateway-sds.yaml");
    assert_eq!(binding["subjects"], json!([{"kind": "ServiceAccount", "name": sa, "namespace": "istio-system"}]));
    let role_name = binding["roleRef"]["name"].as_str().unwrap();
    let role = file(&r, &format!("manifests/istio-system/role-{role_name}.yaml"));
    assert_eq!(role["rules"][0]["resources"], json!(["secrets"]));
    assert_eq!(role["rules"][0]["verbs"], json!(["get", "watch", "list"]));
}

#[test]
fn upstream_istio_on_openshift_gets_the_openshift_profile_and_cni() {
    let (codes, _) = check_env(&format!("{OCP}kserve: {{deploymentMode: Knative}}\nmesh: {{provider: istio}}\n"));
    assert_eq!(codes, ["KG302"]);
    let (codes, r) = check_env(&format!(
        "{OCP}kserve: {{deploymentMode: Knative}}\nmesh: {{provider: istio, allowUpstreamIstioOnOpenShift: true}}\n"
    ));
    assert!(codes.is_empty(), "{codes:?}");
    let r = r.unwrap();
    // Istio 1.27.1 (the newest release's pin): the OpenShift profile is the platform.
    for rel in ["istio-base", "istio-cni", "istiod", "istio-ingressgateway"] {
        let values = parse(&r.files[&format!("values/{rel}.yaml")]);
        assert_eq!(values["platform"], "openshift", "{rel}");
        assert!(values.get("profile").is_none(), "{rel}: Istio 1.24+ has no `openshift` profile");
    }
    let lock: Value = serde_json::from_str(&r.files["kgen.lock.json"]).unwrap();
    let cni = lock["releases"].as_array().unwrap().iter().find(|x| x["name"] == "istio-cni").unwrap();
    assert_eq!(cni["namespace"], "kube-system");
    let istiod = lock["order"].as_array().unwrap().iter().find(|n| n["id"] == "release/istiod").unwrap();
    assert_eq!(istiod["needs"], json!(["release/istio-cni"]), "CNI before istiod");
}

#[test]
fn rule_kg305_profile_override_on_openshift() {
    let base = format!(
        "{OCP}kserve: {{deploymentMode: Knative}}\nmesh: {{provider: istio, allowUpstreamIstioOnOpenShift: true}}\n"
    );
    // Istio 1.24+ (v0.20.0 pins 1.27.1): the platform selects OpenShift, and the old profile
    // fails the render.
    let (codes, _) = check_env(&format!("{base}values: {{istiod: {{platform: gke}}}}\n"));
    assert_eq!(codes, ["KG305"]);
    let (codes, _) = check_env(&format!("{base}values: {{istiod: {{profile: openshift}}}}\n"));
    assert_eq!(codes, ["KG305"]);
    let (codes, _) = check_env(&format!("{base}values: {{istiod: {{platform: openshift}}}}\n"));
    assert!(codes.is_empty(), "{codes:?}");
    // Up to Istio 1.23 (v0.15.2 pins 1.23.2) it is the profile.
    // On OpenShift 4.17 (Kubernetes 1.30), inside Istio 1.23's supported range.
    let old = base.replace("kserve: {", "kserve: {version: v0.15.2, ").replace("\"1.32\"", "\"1.30\"");
    let (codes, _) = check_env(&format!("{old}values: {{istiod: {{profile: default}}}}\n"));
    assert_eq!(codes, ["KG305"]);
    let (codes, _) = check_env(&format!("{old}values: {{istiod: {{profile: openshift}}}}\n"));
    assert!(codes.is_empty(), "{codes:?}");
}

#[test]
fn rule_kg306_member_roll_without_model_namespaces() {
    let (codes, _) = check_env(&format!("{OCP}kserve: {{deploymentMode: Knative}}\nmesh: {{provider: ossm2}}\n"));
    assert_eq!(codes, ["KG306"]);
    let (codes, r) = check_env(&format!(
        "{OCP}kserve: {{deploymentMode: Knative, modelNamespaces: [ml]}}\nmesh: {{provider: ossm2}}\n"
    ));
    assert!(codes.is_empty(), "{codes:?}");
    let roll = file(&r.unwrap(), "manifests/istio-system/servicemeshmemberroll-default.yaml");
    assert!(roll["spec"]["members"].as_array().unwrap().contains(&json!("ml")));
}

#[test]
fn rule_kg404_gateway_relabelled_in_knative_mode() {
    let k8s = "apiVersion: kgen/v1\nkind: Environment\nextends: _base\ncluster: {platform: kubernetes, kubernetesVersion: \"1.33\"}\ngitops: {engine: argocd}\nkserve: {deploymentMode: Knative}\nmesh: {provider: istio}\n";
    let (codes, _) = check_env(&format!("{k8s}values: {{istio-ingressgateway: {{labels: {{istio: edge}}}}}}\n"));
    assert_eq!(codes, ["KG404"]);
    // Renaming also renames the gateway's Service, which Knative's `config-istio` names (KG406).
    let (codes, _) = check_env(&format!("{k8s}values: {{istio-ingressgateway: {{name: edge-gateway}}}}\n"));
    assert_eq!(codes, ["KG404", "KG406"]);
    let (codes, _) = check_env(&format!("{k8s}values: {{istio-ingressgateway: {{labels: {{team: ml}}}}}}\n"));
    assert!(codes.is_empty(), "{codes:?}");
}

/// Upstream Istio on OpenShift: every Istio chart selects the OpenShift profile with the key its
/// version knows, `profile: openshift` up to 1.23 and `platform: openshift` from 1.24 (whose
/// charts have no `openshift` profile: "unknown profile openshift").
#[test]
fn upstream_istio_on_openshift_uses_the_profile_key_of_its_version() {
    let dir = root().join("tests/fixtures/conformance");
    let (ws, r) = resolved_in(&dir, "none-ocp-upstream-istio");
    let out = kgen::render::render(&r, &ws.sources).unwrap();
    let istio = r.pin("istio").unwrap().to_string();
    let key = kgen::catalog::get().istio_openshift_key(&istio).unwrap();
    let platform = kgen::version::Version::parse(&istio) >= kgen::version::Version::parse("1.24");
    assert_eq!(key, if platform { "platform" } else { "profile" }, "{istio}");
    for rel in ["istio-base", "istio-cni", "istiod"] {
        let values: serde_json::Value =
            kgen::yaml::from_str(&out.files[&format!("values/{rel}.yaml")], kgen::yaml::Budget::Render).unwrap();
        assert_eq!(values[key], "openshift", "{rel} on Istio {istio}");
        let other = if key == "platform" { "profile" } else { "platform" };
        assert!(values.get(other).is_none(), "{rel}: {values}");
    }
    if let Some(shared) = upstream_or_skip("upstream_istio_on_openshift_uses_the_profile_key_of_its_version") {
        // The chart has the file the key selects.
        let file = if key == "platform" { "profile-platform-openshift.yaml" } else { "profile-openshift.yaml" };
        assert!(shared.join(format!("charts/istio/{istio}/istiod/files/{file}")).is_file(), "{file}");
    }
}
