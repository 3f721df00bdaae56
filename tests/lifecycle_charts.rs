//! What the engines do with the render over install, upgrade and removal (issue 13): install.sh
//! never waits for a load balancer, Helm release records stay under the Secret limit, charts get
//! values they do not ignore, OpenShift gets what its admission and routing need.

use crate::common;

use std::path::{Path, PathBuf};

use common::*;
use kgen::config::load::Workspace;
use kgen::render::Rendered;
use serde_json::Value;

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

/// The `istio-ingressgateway` chart (a billable LoadBalancer) is installed only where something
/// uses it: Knative's gateways and the `istio` IngressClass. With Gateway API ingress, istiod
/// deploys the Gateway's own Deployment and Service (its chart's `kube-gateway` template).
#[test]
fn gateway_api_on_istio_installs_no_shared_ingress_gateway() {
    let head = "apiVersion: kgen/v1\nkind: Environment\nextends: _base\ncluster: {platform: kubernetes, kubernetesVersion: \"1.33\"}\nmesh: {provider: istio}\ngitops: {engine: argocd}\n";
    let releases = |r: &Rendered| -> Vec<String> {
        lock(r)["releases"].as_array().unwrap().iter().map(|x| x["name"].as_str().unwrap().to_string()).collect()
    };
    for (env, wanted) in [
        ("kserve: {deploymentMode: Standard, ingress: gatewayApi}\ngatewayApi: {implementation: istio}\n", false),
        ("kserve: {deploymentMode: Standard, ingress: gatewayApi}\ngatewayApi: {implementation: envoy}\n", false),
        ("kserve: {deploymentMode: Standard, ingress: ingress}\n", true),
        ("kserve: {deploymentMode: Knative}\n", true),
    ] {
        let r = render_with(&format!("{head}{env}"));
        let names = releases(&r);
        assert!(names.contains(&"istiod".to_string()), "{env}: {names:?}");
        assert_eq!(names.contains(&"istio-ingressgateway".to_string()), wanted, "{env}: {names:?}");
        assert_eq!(r.files.contains_key("values/istio-ingressgateway.yaml"), wanted, "{env}");
        if env.contains("implementation: istio") {
            let gw = parse(&r.files["manifests/kserve/gateway-kserve-ingress-gateway.yaml"]);
            assert_eq!(gw["spec"]["gatewayClassName"], "istio");
            if let Some(up) = upstream_or_skip("gateway_api_on_istio_installs_no_shared_ingress_gateway") {
                let istio = lock(&r)["versions"]["istio"].as_str().unwrap().to_string();
                let chart = up.join(format!("charts/istio/{istio}/istiod"));
                let injector = std::fs::read_to_string(chart.join("templates/istiod-injector-configmap.yaml")).unwrap();
                assert!(injector.contains("files/kube-gateway.yaml"), "istiod {istio} deploys Gateways itself");
                let deploy = std::fs::read_to_string(chart.join("files/kube-gateway.yaml")).unwrap();
                assert!(deploy.contains("kind: Deployment") && deploy.contains("kind: Service"));
            }
        }
    }
}

/// Every render of every example and conformance fixture, by file name.
fn every_render() -> Vec<(String, Rendered)> {
    let mut out = Vec::new();
    for dir in [root(), root().join("tests/fixtures/conformance")] {
        let ws = Workspace::load(&dir).unwrap();
        for name in ws.environment_names() {
            let c = kgen::pipeline::check(&ws, &name);
            let r = c.judged.unwrap_or_else(|| panic!("{name}: {:?}", c.diagnostics));
            out.push((name.clone(), kgen::render::render(&r, &ws.sources).unwrap()));
        }
    }
    out
}

/// Flux stores every HelmRelease as a Helm release record, which Kubernetes caps at 1 MiB: no
/// Flux render of an example or fixture installs a chart version measured over it, and Envoy
/// Gateway's CRDs come from envoyproxy/gateway at the pinned tag, in the folder that holds
/// exactly the CRDs the chart renders.
#[test]
fn flux_installs_no_helm_release_over_the_secret_limit() {
    let records = &kgen::catalog::get().helm_release_records;
    let mut flux = 0;
    for (name, r) in every_render() {
        for (path, text) in
            r.files.iter().filter(|(p, _)| p.starts_with("flux/releases/") && p.contains("/helmrelease-"))
        {
            flux += 1;
            let hr = parse(text);
            let (rel, version) =
                (hr["spec"]["releaseName"].as_str().unwrap(), hr["spec"]["chart"]["spec"]["version"].as_str().unwrap());
            let bytes =
                records.size(rel, version).unwrap_or_else(|| panic!("{name}: no measured record for {rel} {version}"));
            assert!(bytes <= records.limit, "{name}/{path}: {rel} {version} record {bytes} bytes");
        }
    }
    assert!(flux > 10, "Flux renders checked: {flux} HelmReleases");
    let head = "apiVersion: kgen/v1\nkind: Environment\nextends: _base\ncluster: {platform: kubernetes, kubernetesVersion: \"1.33\"}\ngatewayApi: {implementation: envoy}\n";
    for (version, engine, replaced) in
        [("v0.20.0", "flux", true), ("v0.19.0", "flux", true), ("v0.20.0", "argocd", false), ("v0.20.0", "none", false)]
    {
        let r = render_with(&format!(
            "{head}kserve: {{version: {version}, deploymentMode: Standard, ingress: gatewayApi}}\ngitops: {{engine: {engine}}}\n"
        ));
        let l = lock(&r);
        let releases: Vec<&str> =
            l["releases"].as_array().unwrap().iter().map(|x| x["name"].as_str().unwrap()).collect();
        assert_eq!(!releases.contains(&"envoy-gateway-crds"), replaced, "{version} {engine}: {releases:?}");
        let src = l["crdSources"].as_array().unwrap().iter().find(|s| s["name"] == "envoyGatewayCrds").cloned();
        assert_eq!(src.is_some(), replaced, "{version} {engine}");
        let Some(src) = src else { continue };
        let tag = l["versions"]["envoyGateway"].as_str().unwrap();
        assert_eq!(src["tag"], tag);
        let ks = r
            .files
            .iter()
            .find(|(p, _)| p.ends_with("-crds-envoy-gateway-crds.yaml") && p.contains("kustomization-"))
            .unwrap()
            .1;
        let ks = parse(ks);
        assert_eq!(ks["spec"]["prune"], false, "CRDs are never pruned");
        let path = ks["spec"]["path"].as_str().unwrap().trim_start_matches("./").to_string();
        if let Some(up) = upstream_or_skip("flux_installs_no_helm_release_over_the_secret_limit") {
            // The published chart keeps the repository's charts/gateway-helm folder layout.
            let charts = up.join(format!("charts/envoy-gateway/{tag}"));
            let plain = charts.join("gateway-helm").join(path.strip_prefix("charts/gateway-helm/").unwrap());
            let names = |d: PathBuf| {
                let mut v: Vec<String> = std::fs::read_dir(&d)
                    .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
                    .map(|e| e.unwrap().file_name().to_string_lossy().into())
                    .collect();
                v.sort();
                v
            };
            assert_eq!(names(plain), names(charts.join("gateway-crds-helm/templates/generated")), "{tag}: {path}");
        }
    }
}

/// OpenShift's restricted-v2 SCC rejects fixed UIDs. Where the chart reads a runtime's UID from
/// values (KServe up to v0.16.0), kgen unsets every `runAsUser` the pinned chart's values.yaml
/// sets, on OpenShift only; where no value can (the runtimes chart from v0.17.0), rule KG507
/// warns (its fixtures).
#[test]
fn openshift_unsets_the_runtimes_fixed_uids_where_values_can() {
    let Some(up) = upstream_or_skip("openshift_unsets_the_runtimes_fixed_uids_where_values_can") else { return };
    for version in ["v0.14.1", "v0.15.2", "v0.16.0"] {
        let chart: Value = kgen::yaml::from_str(
            &std::fs::read_to_string(up.join(format!("charts/kserve/{version}/kserve-resources/values.yaml"))).unwrap(),
            kgen::yaml::Budget::Render,
        )
        .unwrap();
        let fixed: Vec<&String> = chart["kserve"]["servingruntime"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, v)| v.pointer("/securityContext/runAsUser").is_some())
            .map(|(k, _)| k)
            .collect();
        assert!(!fixed.is_empty(), "{version}");
        for (platform, mesh, unset) in [("openshift", "ossm2", true), ("kubernetes", "istio", false)] {
            let r = render_with(&format!(
                "apiVersion: kgen/v1\nkind: Environment\nextends: _base\ncluster: {{platform: {platform}, kubernetesVersion: \"1.32\"}}\nkserve: {{version: {version}, deploymentMode: Knative, modelNamespaces: [models]}}\nmesh: {{provider: {mesh}}}\ngitops: {{engine: argocd}}\nignore: [{{rule: KG507, reason: probe}}]\n"
            ));
            let values = parse(&r.files["values/kserve.yaml"]);
            for runtime in &fixed {
                let at = values.pointer(&format!("/kserve/servingruntime/{runtime}/securityContext"));
                if unset {
                    // A null removes the chart's default in Helm.
                    assert_eq!(at.and_then(|s| s.get("runAsUser")), Some(&Value::Null), "{version} {runtime}");
                } else {
                    assert!(at.is_none(), "{version} {platform} {runtime}: {at:?}");
                }
            }
        }
    }
}
