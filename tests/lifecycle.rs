//! What the engines do with the render over install, upgrade and removal (issue 13): install.sh
//! never waits for a load balancer, Helm release records stay under the Secret limit, charts get
//! values they do not ignore, OpenShift gets what its admission and routing need.

use crate::common;

use std::path::{Path, PathBuf};

use common::*;
use kgen::config::load::Workspace;
use kgen::render::Rendered;
use serde_json::Value;

fn render_with(text: &str) -> Rendered {
    let project = temp_project();
    std::fs::write(project.path().join("environments/probe.yaml"), text).unwrap();
    let ws = Workspace::load(project.path()).unwrap();
    let c = kgen::pipeline::check(&ws, "probe");
    let r = c.judged.unwrap_or_else(|| panic!("{:?}", c.diagnostics));
    kgen::render::render(&r, &ws.sources).unwrap()
}

fn lock(r: &Rendered) -> Value {
    serde_json::from_str(&r.files["kgen.lock.json"]).unwrap()
}

/// The folder of a pinned chart under `upstream/charts/<project>/<version>/<chart>/`, found by
/// its version folder and chart folder (Istio's `cni` chart is `istio-cni`, KServe's `kserve`
/// chart `kserve-resources`, knative-operator versions are `knative-<version>`).
fn chart_dir(up: &Path, chart: &str, version: &str) -> PathBuf {
    let folder = match chart {
        "cni" => "istio-cni",
        "kserve" => "kserve-resources",
        c => c,
    };
    for project in std::fs::read_dir(up.join("charts")).unwrap() {
        for v in [version.to_string(), format!("knative-{version}")] {
            let d = project.as_ref().unwrap().path().join(v).join(folder);
            if d.join("Chart.yaml").is_file() {
                return d;
            }
        }
    }
    panic!("no chart {chart} {version} under {}", up.display())
}

/// A chart's default `service.type` from its values.yaml (top level, or under the Istio layouts'
/// `defaults` / `_internal_defaults_do_not_set`).
fn default_service_type(dir: &Path) -> Option<String> {
    let v: Value = serde_yaml_ng_or_json(&std::fs::read_to_string(dir.join("values.yaml")).unwrap());
    ["", "/defaults", "/_internal_defaults_do_not_set"]
        .iter()
        .find_map(|p| v.pointer(&format!("{p}/service/type")).and_then(Value::as_str).map(str::to_string))
}

fn serde_yaml_ng_or_json(text: &str) -> Value {
    kgen::yaml::from_str(text, kgen::yaml::Budget::Render).unwrap()
}

/// install.sh must work on a cluster without a load balancer (kind, minikube, bare metal): no
/// `helm --wait` on a release that renders a `type: LoadBalancer` Service, whose address never
/// comes there, but a rollout wait. Which releases render one is read from the pinned charts'
/// own values.yaml and the environment's values, not from a list of names.
#[test]
fn install_sh_never_waits_for_a_load_balancer_address() {
    let Some(up) = upstream_or_skip("install_sh_never_waits_for_a_load_balancer_address") else { return };
    let head = "apiVersion: kgen/v1\nkind: Environment\nextends: _base\ngitops: {engine: none}\n";
    let envs = [
        "cluster: {platform: kubernetes, kubernetesVersion: \"1.33\"}\nkserve: {deploymentMode: Knative}\nmesh: {provider: istio}\n",
        "cluster: {platform: kubernetes, kubernetesVersion: \"1.33\"}\nkserve: {version: v0.15.2, deploymentMode: Knative}\nmesh: {provider: istio}\n",
        // Envoy Gateway's Service is ClusterIP by default; made a LoadBalancer here.
        "cluster: {platform: kubernetes, kubernetesVersion: \"1.33\"}\nkserve: {deploymentMode: Standard, ingress: gatewayApi}\nvalues: {envoy-gateway: {service: {type: LoadBalancer}}}\n",
    ];
    let mut load_balancers = 0;
    for env in envs {
        let r = render_with(&format!("{head}{env}"));
        let script = &r.files["install.sh"];
        let lines: Vec<&str> = script.lines().collect();
        let overrides: Value = kgen::yaml::from_str(env, kgen::yaml::Budget::Render).unwrap();
        for rel in lock(&r)["releases"].as_array().unwrap() {
            let name = rel["name"].as_str().unwrap();
            let dir = chart_dir(&up, rel["chart"].as_str().unwrap(), rel["version"].as_str().unwrap());
            let ty = overrides
                .pointer(&format!("/values/{name}/service/type"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| default_service_type(&dir));
            let Some(i) = lines.iter().position(|l| l.starts_with(&format!("helm upgrade --install {name} "))) else {
                continue;
            };
            if ty.as_deref() == Some("LoadBalancer") {
                load_balancers += 1;
                assert!(!lines[i].contains("--wait"), "{name} renders a LoadBalancer Service: no --wait\n{script}");
                assert!(
                    lines[i + 1].starts_with("kubectl rollout status ") && lines[i + 1].contains(" --namespace "),
                    "{name}: waits for its pods instead\n{script}"
                );
            } else {
                assert!(lines[i].ends_with(" --wait"), "{name}: no LoadBalancer, so Helm waits\n{script}");
            }
        }
        shellcheck(script);
    }
    assert_eq!(load_balancers, 3, "istio-ingressgateway twice, envoy-gateway once");
}

/// Before KServe, whose chart renders cert-manager Issuers and Certificates, install.sh waits
/// for cert-manager's webhook to serve them, wherever cert-manager comes from.
#[test]
fn install_sh_waits_for_the_cert_manager_webhook_before_kserve() {
    let head = "apiVersion: kgen/v1\nkind: Environment\nextends: _base\ngitops: {engine: none}\n";
    for (env, ns) in [
        (
            "cluster: {platform: kubernetes, kubernetesVersion: \"1.33\"}\nkserve: {deploymentMode: Standard, ingress: gatewayApi}\ncertManager: {namespace: certs}\n",
            "certs",
        ),
        (
            "cluster: {platform: openshift, kubernetesVersion: \"1.32\"}\nkserve: {deploymentMode: Standard, ingress: gatewayApi}\n",
            "cert-manager",
        ),
    ] {
        let r = render_with(&format!("{head}{env}"));
        let script = &r.files["install.sh"];
        let line =
            |needle: &str| script.find(needle).unwrap_or_else(|| panic!("{needle} not in install.sh:\n{script}"));
        let wait = line(&format!("wait_for_deployment {ns} cert-manager-webhook\n"));
        assert!(wait < line("helm upgrade --install kserve "), "{script}");
        shellcheck(script);
    }
    // No cert-manager installed by kgen: nothing to wait for by name.
    let r = render_with(&format!(
        "{head}cluster: {{platform: kubernetes, kubernetesVersion: \"1.33\"}}\nkserve: {{deploymentMode: Standard, ingress: gatewayApi}}\ncertManager: {{install: false}}\n"
    ));
    assert!(!r.files["install.sh"].contains("wait_for_deployment"));
}

/// Runs shellcheck on a script; required where `KGEN_REQUIRE_SHELLCHECK` is set (`.ci/run`).
fn shellcheck(script: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("install.sh");
    std::fs::write(&path, script).unwrap();
    match std::process::Command::new("shellcheck").arg(&path).output() {
        Ok(o) => assert!(o.status.success(), "shellcheck:\n{}", String::from_utf8_lossy(&o.stdout)),
        Err(_) if std::env::var_os("KGEN_REQUIRE_SHELLCHECK").is_none() => {
            eprintln!("shellcheck not installed: skipped here; .ci/run installs it and requires it");
        }
        Err(e) => panic!("shellcheck is required (KGEN_REQUIRE_SHELLCHECK): {e}"),
    }
}

/// OSSM 3 (Sail) and upstream Istio on OpenShift inject sidecars into pods of unlabelled
/// namespaces by the pod *label* `sidecar.istio.io/inject` (the injector webhook's
/// objectSelector in the istiod chart of the pinned Istio); an annotation alone leaves Knative's
/// activator and autoscaler without sidecars. OSSM 2 keeps the annotation KServe's guide sets.
#[test]
fn knative_activator_and_autoscaler_are_labelled_for_injection_on_openshift() {
    let head = "apiVersion: kgen/v1\nkind: Environment\nextends: _base\ncluster: {platform: openshift, kubernetesVersion: \"1.32\"}\nkserve: {deploymentMode: Knative}\ngitops: {engine: argocd}\n";
    for (mesh, annotation) in [
        ("mesh: {provider: ossm3}\n", false),
        ("mesh: {provider: ossm2}\n", true),
        ("mesh: {provider: istio, allowUpstreamIstioOnOpenShift: true}\n", false),
    ] {
        let r = render_with(&format!("{head}{mesh}"));
        let ks = parse(&r.files["manifests/knative-serving/knativeserving-knative-serving.yaml"]);
        let deployments = ks["spec"]["deployments"].as_array().unwrap();
        let names: Vec<&str> = deployments.iter().map(|d| d["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["activator", "autoscaler"], "{mesh}");
        for d in deployments {
            assert_eq!(d["labels"]["sidecar.istio.io/inject"], "true", "{mesh}: {d}");
            assert_eq!(d["annotations"].get("sidecar.istio.io/inject").is_some(), annotation, "{mesh}: {d}");
        }
        if mesh.contains("ossm3")
            && let Some(up) =
                upstream_or_skip("knative_activator_and_autoscaler_are_labelled_for_injection_on_openshift")
        {
            // The injector of the Istio OSSM 3 installs selects on that label.
            let istio = lock(&r)["versions"]["istio"].as_str().unwrap().to_string();
            let hook =
                std::fs::read_to_string(up.join(format!("charts/istio/{istio}/istiod/templates/mutatingwebhook.yaml")))
                    .unwrap();
            let object = hook.split("dict \"Prefix\" \"object.\"").nth(1).expect("the object. webhook");
            let selector = object.split("objectSelector:").nth(1).unwrap();
            assert!(
                selector.contains("key: sidecar.istio.io/inject") && selector.contains("operator: In"),
                "{selector}"
            );
        }
    }
}
