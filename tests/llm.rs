//! `llm`, `localModel` and `autoscaling.openTelemetry` (issue 17): what each KServe release installs
//! for them, for every engine, and what is refused with which reason.

use crate::common;

use common::*;
use kgen::render::Rendered;
use serde_json::Value;

const HEAD: &str = "apiVersion: kgen/v1\nkind: Environment\nextends: _base\ncluster: {platform: kubernetes, kubernetesVersion: \"1.33\"}\ngatewayApi: {implementation: envoy}\n";

/// `kgen validate probe` on one environment file in a fresh project: exit code and stderr.
fn validate(text: &str) -> (Option<i32>, String) {
    let project = temp_project();
    std::fs::write(project.path().join("environments/probe.yaml"), text).unwrap();
    let o = kgen(project.path(), &["validate", "probe"]);
    (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn values(r: &Rendered, release: &str) -> Value {
    parse(&r.files[&format!("values/{release}.yaml")])
}

/// The catalog's pin of a component for a KServe release.
fn pin(version: &str, component: &str) -> String {
    let rel = kgen::catalog::get().releases.iter().find(|r| r.version == version).unwrap();
    rel.pins[component].clone()
}

/// Every release from v0.17.0 installs the same stack at its own pins, on every engine: the
/// llmisvc charts at the KServe tag, LWS and Envoy AI Gateway at the release's pins, in an order
/// where nothing comes before what it needs; the charts own none of KServe's shared objects.
#[test]
fn every_release_installs_the_llm_stack_at_its_pins_on_every_engine() {
    let versions = ["v0.17.0", "v0.17.1", "v0.18.0", "v0.18.1", "v0.19.0", "v0.20.0"];
    let mut checked = 0;
    for version in versions {
        for engine in ["argocd", "flux", "none"] {
            let r = render_with(&format!(
                "{HEAD}kserve: {{version: {version}, deploymentMode: Standard, ingress: gatewayApi}}\nllm: {{enabled: true}}\ngitops: {{engine: {engine}}}\n"
            ));
            let l = lock(&r);
            let what = format!("{version} {engine}");
            let releases: Vec<(&str, &str, &str)> = l["releases"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| (x["name"].as_str().unwrap(), x["chart"].as_str().unwrap(), x["version"].as_str().unwrap()))
                .collect();
            let find = |name: &str| releases.iter().find(|(n, ..)| *n == name).copied();
            assert_eq!(
                find("kserve-llmisvc-resources"),
                Some(("kserve-llmisvc-resources", "kserve-llmisvc-resources", version)),
                "{what}"
            );
            assert_eq!(find("lws").map(|x| x.2.to_string()), Some(pin(version, "lws")), "{what}");
            assert_eq!(
                find("envoy-ai-gateway").map(|x| x.2.to_string()),
                Some(pin(version, "envoyAiGateway")),
                "{what}"
            );
            assert_eq!(find("envoy-ai-gateway-crds").map(|x| x.1), Some("ai-gateway-crds-helm"), "{what}");
            // Argo CD applies the LLM CRDs from Git (the chart `lookup`s); the others install the chart.
            let srcs = l["crdSources"].as_array().unwrap();
            let llm_src = srcs.iter().find(|s| s["name"] == "llmisvc");
            if engine == "argocd" {
                assert_eq!(find("kserve-llmisvc-crd"), None, "{what}");
                let s = llm_src.unwrap_or_else(|| panic!("{what}: {srcs:?}"));
                assert_eq!(
                    (s["path"].as_str(), s["tag"].as_str()),
                    (Some("charts/kserve-llmisvc-crd/templates"), Some(version))
                );
                let app = parse(&r.files["argocd/application-probe-llmisvc-crds.yaml"]);
                assert_eq!(
                    app["spec"]["source"]["directory"]["include"],
                    "serving.kserve.io_llminferenceservice*.yaml"
                );
                assert!(
                    app["spec"]["syncPolicy"]["syncOptions"]
                        .as_array()
                        .unwrap()
                        .contains(&Value::from("ServerSideApply=true"))
                );
            } else {
                assert_eq!(
                    find("kserve-llmisvc-crd"),
                    Some(("kserve-llmisvc-crd", "kserve-llmisvc-crd", version)),
                    "{what}"
                );
                assert!(llm_src.is_none(), "{what}");
            }
            // Order: each node after everything it needs.
            let order: Vec<String> =
                l["order"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap().to_string()).collect();
            let at =
                |id: &str| order.iter().position(|o| o == id).unwrap_or_else(|| panic!("{what}: {id} in {order:?}"));
            let crds = if engine == "argocd" { "crds/llmisvc" } else { "release/kserve-llmisvc-crd" };
            assert!(
                at("release/kserve-crd") < at(crds),
                "{what}: kserve-crd owns the ClusterStorageContainer CRD first"
            );
            for before in [crds, "release/kserve", "release/lws", "release/cert-manager"] {
                assert!(at(before) < at("release/kserve-llmisvc-resources"), "{what}: {before}");
            }
            assert!(at("release/envoy-ai-gateway") < at("release/envoy-gateway"), "{what}");
            assert!(at("release/kserve-llmisvc-resources") < at("release/kserve-runtime-configs"), "{what}");
            // One owner for the shared objects; the presets on; Envoy Gateway's extension server.
            assert_eq!(values(&r, "kserve-llmisvc-resources")["kserve"]["createSharedResources"], false, "{what}");
            assert_eq!(values(&r, "kserve-runtime-configs")["kserve"]["llmisvcConfigs"]["enabled"], true, "{what}");
            let eg = values(&r, "envoy-gateway");
            let em = &eg["config"]["envoyGateway"]["extensionManager"];
            assert_eq!(
                em["service"]["fqdn"]["hostname"],
                "ai-gateway-controller.envoy-ai-gateway-system.svc.cluster.local"
            );
            assert_eq!(em["backendResources"][0]["group"], "inference.networking.k8s.io", "{what}");
            assert_eq!(values(&r, "envoy-ai-gateway")["controller"]["mutatingWebhook"]["certManager"]["enable"], true);
            checked += 1;
        }
    }
    assert_eq!(checked, 18);
}

/// The Git folder Argo CD applies holds exactly the two LLM CRDs, as plain YAML, beside the
/// chart's lookup-gated ClusterStorageContainer template, which the include glob leaves out.
#[test]
fn argocd_applies_exactly_the_llm_crds_from_git() {
    let Some(up) = upstream_or_skip("argocd_applies_exactly_the_llm_crds_from_git") else { return };
    let src = &kgen::catalog::get().crd_sources["llmisvc"];
    let glob = src.include.as_deref().unwrap();
    let prefix = glob.trim_end_matches("*.yaml");
    for version in ["v0.17.0", "v0.17.1", "v0.18.0", "v0.18.1", "v0.19.0", "v0.20.0"] {
        let dir = up.join(format!("charts/kserve/{version}")).join(src.path.trim_start_matches("charts/"));
        let mut all: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        all.sort();
        let picked: Vec<&String> = all.iter().filter(|f| f.starts_with(prefix) && f.ends_with(".yaml")).collect();
        assert_eq!(
            picked,
            ["serving.kserve.io_llminferenceserviceconfigs.yaml", "serving.kserve.io_llminferenceservices.yaml"],
            "{version}"
        );
        assert!(all.iter().any(|f| f.contains("clusterstoragecontainers")), "{version}: the file left out is there");
        for f in picked {
            let text = std::fs::read_to_string(dir.join(f)).unwrap();
            assert!(!text.contains("{{"), "{version}/{f}: plain YAML, no template");
            assert_eq!(parse(&text)["kind"], "CustomResourceDefinition");
        }
    }
}

/// Releases that cannot install the stack beside KServe are refused at the field that asks for
/// it, with the reason; v0.16.0's chart names are `llmisvc-*`.
#[test]
fn older_releases_are_refused_with_a_located_error() {
    let cat = kgen::catalog::get();
    let v016 = cat.releases.iter().find(|r| r.version == "v0.16.0").unwrap();
    assert_eq!(v016.chart_names["kserve-llmisvc-crd"], "llmisvc-crd");
    assert_eq!(v016.chart_names["kserve-llmisvc-resources"], "llmisvc-resources");
    let v017 = cat.releases.iter().find(|r| r.version == "v0.17.0").unwrap();
    assert!(v017.chart_names.is_empty() && v017.llmisvc_charts && v017.local_model_charts);

    for (version, says) in [
        ("v0.15.2", "KServe v0.15.2 ships no LLMInferenceService charts"),
        ("v0.16.0", "KServe v0.16.0's `llmisvc-resources` chart renders KServe's `inferenceservice-config`"),
    ] {
        let text = format!(
            "{HEAD}kserve: {{version: {version}, deploymentMode: Standard, ingress: gatewayApi}}\nversions: {{envoyGateway: v1.4.2, gatewayApi: v1.3.0}}\nllm:\n  enabled: true\ngitops: {{engine: argocd}}\n"
        );
        let (code, err) = validate(&text);
        assert_eq!(code, Some(2), "{version}: {err}");
        assert!(err.contains(&format!("error[KG417]: `llm.enabled`: {says}")), "{version}: {err}");
        // Located at `enabled: true` (line 9 of the file).
        assert!(err.contains("environments/probe.yaml:9:12"), "{version}: {err}");
        assert!(err.contains("use KServe v0.17.0 or later"), "{version}: {err}");
    }
}

/// `localModel` writes one configuration both charts read, renders the Jobs' namespace and puts
/// the node agent where the disks are.
#[test]
fn local_model_configures_both_charts_from_one_place() {
    let r = render_with(&format!(
        "{HEAD}kserve: {{version: v0.18.1, deploymentMode: Standard, ingress: gatewayApi}}\nlocalModel: {{enabled: true, jobNamespace: cache-jobs, jobTtlSecondsAfterFinished: 600, fsGroup: 2000, disableVolumeManagement: true, nodeSelector: {{disk: nvme}}}}\ngitops: {{engine: flux}}\n"
    ));
    let lm = &values(&r, "kserve")["kserve"]["localmodel"];
    assert_eq!(lm["enabled"], true);
    assert_eq!(lm["jobNamespace"], "cache-jobs");
    assert_eq!(lm["jobTTLSecondsAfterFinished"], 600);
    assert_eq!(lm["securityContext"]["fsGroup"], 2000);
    assert_eq!(lm["disableVolumeManagement"], true);
    assert_eq!(
        values(&r, "kserve-localmodel-resources")["kserve"]["localmodelnode"]["controller"]["nodeSelector"]["disk"],
        "nvme"
    );
    let ns = parse(&r.files["manifests/_cluster/namespace-cache-jobs.yaml"]);
    assert_eq!(ns["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/prune"], "disabled", "never pruned");
    let l = lock(&r);
    let order: Vec<&str> = l["order"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap()).collect();
    let at = |id: &str| order.iter().position(|o| *o == id).unwrap();
    assert!(at("release/kserve") < at("release/kserve-localmodel-resources"), "reads kserve's ConfigMap and Issuer");
    assert!(at("release/kserve-localmodel-crd") < at("release/kserve-localmodel-resources"));

    // Without the field nothing of it is rendered; before v0.17.0 it is refused (KG420).
    let plain = render_with(&format!(
        "{HEAD}kserve: {{version: v0.18.1, deploymentMode: Standard, ingress: gatewayApi}}\ngitops: {{engine: flux}}\n"
    ));
    assert!(values(&plain, "kserve")["kserve"].get("localmodel").is_none());
    assert!(!plain.files.keys().any(|p| p.contains("localmodel") || p.contains("kserve-localmodel-jobs")));
}

/// `autoscaling.openTelemetry`: the operator after cert-manager and the add-on after KEDA, both
/// before KServe, at the release's pins; their schemas skipped on every engine; the add-on's
/// Service is where KServe's configuration points.
#[test]
fn open_telemetry_autoscaling_installs_the_operator_and_the_add_on() {
    for engine in ["argocd", "flux", "none"] {
        let r = render_with(&format!(
            "{HEAD}kserve: {{version: v0.19.0, deploymentMode: Standard, ingress: gatewayApi}}\nautoscaling: {{keda: true, openTelemetry: true}}\ngitops: {{engine: {engine}}}\n"
        ));
        let l = lock(&r);
        let rel = |name: &str| {
            l["releases"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["name"] == name)
                .cloned()
                .unwrap_or_else(|| panic!("{engine}: {name}"))
        };
        assert_eq!(rel("opentelemetry-operator")["version"], pin("v0.19.0", "openTelemetryOperator"));
        assert_eq!(rel("opentelemetry-operator")["namespace"], "opentelemetry-operator");
        assert_eq!(rel("keda-otel-scaler")["version"], pin("v0.19.0", "kedaOtelAddon"));
        assert_eq!(rel("keda-otel-scaler")["namespace"], rel("keda")["namespace"]);
        let order: Vec<&str> = l["order"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap()).collect();
        let at = |id: &str| order.iter().position(|o| *o == id).unwrap();
        assert!(at("release/cert-manager") < at("release/opentelemetry-operator"), "{engine}: webhook certificate");
        assert!(at("release/keda") < at("release/keda-otel-scaler"), "{engine}");
        assert!(
            at("release/opentelemetry-operator") < at("release/kserve"),
            "{engine}: KServe looks for the CRD at start"
        );
        assert_eq!(
            values(&r, "opentelemetry-operator")["manager"]["collectorImage"]["repository"],
            "otel/opentelemetry-collector-contrib"
        );
        let addon = values(&r, "keda-otel-scaler");
        assert_eq!(addon["validatingAdmissionPolicy"]["enabled"], false);
        assert_eq!(addon["opentelemetry-collector"]["enabled"], false);
        // Every engine skips the two schemas (catalog brokenValuesSchemas).
        let skipped = r
            .files
            .iter()
            .filter(|(p, _)| {
                p.contains("opentelemetry-operator") || p.contains("keda-otel-scaler") || *p == "install.sh"
            })
            .filter(|(_, t)| {
                t.contains("skipSchemaValidation: true")
                    || t.contains("disableSchemaValidation: true")
                    || t.contains("--skip-schema-validation")
            })
            .count();
        assert!(skipped >= if engine == "none" { 1 } else { 2 }, "{engine}: {skipped}");
        if engine == "none" {
            let script = &r.files["install.sh"];
            for name in ["opentelemetry-operator", "keda-otel-scaler"] {
                let line = script.lines().find(|l| l.starts_with(&format!("helm upgrade --install {name} "))).unwrap();
                assert!(line.contains("--skip-schema-validation"), "{line}");
            }
        }
    }
    // KServe's inferenceservice-config sends the collectors' metrics to the add-on's Service in
    // the namespace kgen installs it into.
    let Some(up) = upstream_or_skip("open_telemetry_autoscaling_installs_the_operator_and_the_add_on") else { return };
    let ns = &kgen::catalog::get().charts["keda-otel-scaler"].namespace;
    for version in ["v0.16.0", "v0.17.0", "v0.18.1", "v0.19.0", "v0.20.0"] {
        let v = parse(
            &std::fs::read_to_string(up.join(format!("kserve/{version}/charts/kserve-resources/values.yaml"))).unwrap(),
        );
        let endpoint = v["kserve"]["opentelemetryCollector"]["metricReceiverEndpoint"].as_str().unwrap();
        assert_eq!(endpoint, format!("keda-otel-scaler.{ns}.svc:4317"), "{version}");
    }
}

/// OpenTelemetry autoscaling scales through KEDA: without it, refused at the field.
#[test]
fn open_telemetry_without_keda_is_refused() {
    let (code, err) = validate(&format!(
        "{HEAD}kserve: {{deploymentMode: Standard, ingress: gatewayApi}}\nautoscaling:\n  openTelemetry: true\ngitops: {{engine: argocd}}\n"
    ));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("error[KG423]: `autoscaling.openTelemetry`"), "{err}");
    assert!(err.contains("environments/probe.yaml:8:18"), "{err}");
}
