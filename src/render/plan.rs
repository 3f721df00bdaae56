//! What an environment needs: the chart releases, the Kubernetes objects kgen renders itself,
//! the CRD bundles referenced from Git, and one dependency graph over all of them from which
//! every ordering (phases, Argo CD waves, Flux `dependsOn`, `install.sh` steps) is derived.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Value, json};

use crate::catalog;
use crate::config::model::{GatewayImplementation, GitopsEngine, IngressFlavour, MeshProvider, Platform};
use crate::config::resolve::{KnativeNetworking, Resolved};

/// A Helm chart release to install.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartRelease {
    /// Stable release name (SPEC §5).
    pub name: String,
    /// Chart name.
    pub chart: String,
    /// Repository (`https://…` or `oci://…`).
    pub repo: String,
    /// Chart version.
    pub version: String,
    /// Target namespace.
    pub namespace: String,
    /// Template of its values file.
    #[serde(skip)]
    pub template: String,
}

/// A CRD bundle applied from its upstream Git repository at a tag.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrdSource {
    /// Catalog key (`gatewayApi`).
    pub name: String,
    /// Git repository.
    pub repo: String,
    /// Path of the CRDs in it.
    pub path: String,
    /// Tag.
    pub tag: String,
    /// The release file `install.sh` applies (upstream's, or the mirror's), if there is one.
    pub release_url: Option<String>,
    /// Glob of the files of `path` that are the bundle; none: every file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include: Option<String>,
}

/// A Kubernetes object kgen renders itself.
#[derive(Debug, Clone)]
pub struct Object {
    /// `apiVersion`.
    pub api_version: &'static str,
    /// `kind`.
    pub kind: &'static str,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` (`None`: cluster-scoped).
    pub namespace: Option<String>,
    /// Template rendering it.
    pub template: &'static str,
    /// Manifest phase it is applied in.
    pub phase: &'static str,
    /// Extra template data (`object.*`).
    pub data: Value,
}

/// The folder of `manifests/` that holds cluster-scoped objects.
pub const CLUSTER_SCOPE_FOLDER: &str = "_cluster";

impl Object {
    /// `manifests/<namespace>/<kind>-<name>.yaml`, `_cluster` for cluster-scoped objects.
    pub fn path(&self) -> String {
        format!(
            "manifests/{}/{}-{}.yaml",
            self.namespace.as_deref().unwrap_or(CLUSTER_SCOPE_FOLDER),
            self.kind.to_ascii_lowercase(),
            self.name
        )
    }
}

/// One node of the dependency graph.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    /// `release/<name>`, `crds/<name>` or `phase/<name>`.
    pub id: String,
    /// Nodes that must be applied (and healthy) first.
    pub needs: Vec<String>,
    /// Longest distance from a root: the Argo CD sync wave and the `install.sh` step group.
    pub wave: u32,
}

/// Everything an environment installs, with its order: the one answer to what it installs,
/// which versions and pins it uses and where each release lives. The environment and history
/// rules, the templates' context and the lock all read it.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The KServe release (its catalog entry).
    pub release: &'static catalog::Release,
    /// Every dependency pin something in the plan installs, in the order first needed: its
    /// version, or `None` when neither the catalog release nor the environment gives one (rule
    /// KG204; rendering refuses such a plan).
    pub pins: IndexMap<String, Option<String>>,
    /// Chart releases, in graph order.
    pub releases: Vec<ChartRelease>,
    /// Git CRD bundles.
    pub crd_sources: Vec<CrdSource>,
    /// Objects, in graph order then path order.
    pub objects: Vec<Object>,
    /// The dependency graph, in application order (wave, then id).
    pub graph: Vec<Node>,
    /// Namespaces by role (`kserve`, `mesh`, `knative`, …), for templates.
    pub namespaces: BTreeMap<&'static str, String>,
}

impl Plan {
    /// The pins the plan uses that have a version, by name: what the lock records.
    pub fn versions(&self) -> BTreeMap<&str, &str> {
        self.pins.iter().filter_map(|(k, v)| Some((k.as_str(), v.as_deref()?))).collect()
    }

    /// The pins the plan uses that have no version (rule KG204), in the order first needed.
    pub fn missing_pins(&self) -> Vec<&str> {
        self.pins.iter().filter(|(_, v)| v.is_none()).map(|(k, _)| k.as_str()).collect()
    }

    /// The rows of the catalog's `knativeOperators` this plan's checks read: the pinned
    /// operator's (its minimum and bundled Servings) and the one stating the Serving minor's
    /// minimum.
    fn knative_rows(&self) -> Vec<&'static catalog::KnativeOperator> {
        let cat = catalog::get();
        let versions = self.versions();
        let mut rows: Vec<&catalog::KnativeOperator> = Vec::new();
        let op = versions.get(catalog::KNATIVE_OPERATOR).and_then(|v| cat.knative_operator(v));
        let serving = versions.get(catalog::KNATIVE_SERVING).and_then(|v| cat.knative_minor_row(v));
        for row in [op, serving].into_iter().flatten() {
            if !rows.iter().any(|r| std::ptr::eq(*r, row)) {
                rows.push(row);
            }
        }
        rows
    }

    /// The catalog as far as this plan used it, as compact JSON, which the lock's input digest
    /// covers: the release's entry with only the pins the plan uses, its mode vocabulary, the
    /// entries of the charts it installs and of the CRD sources it applies, and, of the tables
    /// keyed by chart release or component (`lifecycle`, `brokenValuesSchemas`, `kubernetesMinimums`,
    /// `ruleFacts.versionPrefixes.charts`, `ruleFacts.chartNeeds`,
    /// `installReadiness.serviceTypes`, `helmReleaseRecords.bytes` with those of replaceable
    /// charts), the entries of those it uses; `installReadiness.webhooks` and the record limits
    /// whole; the `knativeOperators` rows its pins read and the `envoyGatewayGatewayApi` row of
    /// its Envoy Gateway; then the sections about every environment
    /// ([`catalog::Catalog::shared_json`]).
    /// Adding a release, or a chart this environment does not install, leaves it unchanged.
    pub fn catalog_inputs(&self) -> String {
        let cat = catalog::get();
        let charts: Vec<&str> = self.releases.iter().map(|r| r.name.as_str()).collect();
        let pins: Vec<&str> = self.pins.keys().map(String::as_str).collect();
        let mut release = serde_json::to_value(self.release).expect("the catalog serialises");
        release["pins"] =
            json!(self.release.pins.iter().filter(|(k, _)| pins.contains(&k.as_str())).collect::<BTreeMap<_, _>>());
        let facts = &cat.rule_facts;
        let used = json!({
            "release": release,
            "modes": cat.modes(self.release),
            "charts": charts.iter().map(|c| (*c, &cat.charts[*c])).collect::<BTreeMap<_, _>>(),
            "lifecycle": charts.iter().filter_map(|c| Some((*c, cat.lifecycle.get(*c)?))).collect::<BTreeMap<_, _>>(),
            "crdSources": self.crd_sources.iter().map(|s| (s.name.as_str(), &cat.crd_sources[&s.name])).collect::<BTreeMap<_, _>>(),
            "brokenValuesSchemas": cat.broken_values_schemas.iter().filter(|b| charts.contains(&b.release.as_str())).collect::<Vec<_>>(),
            "kubernetesMinimums": cat.kubernetes_minimums.iter().filter(|(k, _)| pins.contains(&k.as_str())).collect::<BTreeMap<_, _>>(),
            "knativeOperators": self.knative_rows(),
            "envoyGatewayGatewayApi": self.versions().get("envoyGateway").and_then(|v| cat.envoy_gateway_gateway_api(v)),
            "versionPrefixes": facts.version_prefixes.charts.iter().filter(|(k, _)| charts.contains(&k.as_str())).collect::<BTreeMap<_, _>>(),
            "chartNeeds": facts.chart_needs.iter().filter(|(k, _)| charts.contains(&k.as_str())).collect::<BTreeMap<_, _>>(),
            "serviceTypes": cat.install_readiness.service_types.iter().filter(|(k, _)| charts.contains(&k.as_str())).collect::<BTreeMap<_, _>>(),
            "webhooks": cat.install_readiness.webhooks,
            "releaseRecords": cat.helm_release_records.bytes.iter().filter(|(k, _)| charts.contains(&k.as_str()) || cat.helm_release_records.replacements.contains_key(*k)).collect::<BTreeMap<_, _>>(),
            "releaseRecordLimits": [cat.helm_release_records.limit, cat.helm_release_records.near_percent],
        });
        format!("{{\"used\":{used},\"shared\":{}}}", cat.shared_json())
    }
}

/// Manifest phases, in the order SPEC §5 gives.
pub const PHASE_NAMESPACES: &str = "namespaces";
/// OLM Subscriptions and OperatorGroups (OpenShift).
pub const PHASE_OPERATORS: &str = "operators";
/// Mesh control planes and member rolls (OpenShift Service Mesh).
pub const PHASE_MESH: &str = "mesh";
/// Ingress and Gateway API objects, Istio gateways and their Services.
pub const PHASE_NETWORKING: &str = "networking";
/// Knative Serving.
pub const PHASE_KNATIVE: &str = "knative";

/// Decides the plan of an environment. Pure.
pub fn plan(r: &Resolved) -> Plan {
    let cat = catalog::get();
    let e = &r.env;
    let k8s = e.cluster.platform == Platform::Kubernetes;
    let knative = r.knative_mode();
    let istio = e.mesh.provider == MeshProvider::Istio;
    let gateway_api = r.gateway_api_ingress();
    let envoy = gateway_api && e.gateway_api.implementation == GatewayImplementation::Envoy;

    let mut ns: BTreeMap<&'static str, String> = BTreeMap::new();
    ns.insert("kserve", e.kserve.namespace.clone());
    ns.insert("mesh", e.mesh.namespace.clone());
    ns.insert("knative", e.knative.namespace.clone());
    // Derived from the catalog at resolve when the environment does not pin it.
    let operator_ns = e.knative.operator_namespace.clone();
    ns.insert("knativeOperator", operator_ns.unwrap_or_else(|| r.release.knative_operator_namespace.clone()));
    ns.insert("certManager", e.cert_manager.namespace.clone());
    ns.insert("envoyGateway", cat.charts["envoy-gateway"].namespace.clone());

    let openshift = !k8s;
    let ossm = e.mesh.provider.is_openshift_service_mesh();

    // Pins in the order they are first needed (that is the order of their KG204 errors).
    let mut pins: IndexMap<String, Option<String>> = IndexMap::new();
    let use_pin = |pins: &mut IndexMap<String, Option<String>>, name: &str| -> String {
        let value = r.pins.get(name).cloned();
        pins.entry(name.to_string()).or_insert(value).clone().unwrap_or_default()
    };
    // Chart releases and what each needs.
    let mut releases = Vec::new();
    let mut needs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let add = |releases: &mut Vec<ChartRelease>,
               needs: &mut BTreeMap<String, Vec<String>>,
               pins: &mut IndexMap<String, Option<String>>,
               name: &str,
               namespace: &str,
               deps: &[&str]| {
        let ch = &cat.charts[name];
        let chart = cat.chart_of(r.release, name).expect("a catalog chart").to_string();
        // `kserve` names the KServe release itself, not a pin.
        let version = if ch.version == "kserve" { r.release.version.clone() } else { use_pin(pins, &ch.version) };
        releases.push(ChartRelease {
            name: name.to_string(),
            chart,
            // A mirror replaces the repository, never the chart or its version.
            repo: e.mirrors.charts.get(&ch.repo_name).unwrap_or(&ch.repo).clone(),
            version,
            namespace: namespace.to_string(),
            template: format!("values/{name}.yaml"),
        });
        needs.insert(format!("release/{name}"), deps.iter().map(|d| d.to_string()).collect());
    };
    let phase_ns = format!("phase/{PHASE_NAMESPACES}");
    if k8s && e.cert_manager.install {
        add(&mut releases, &mut needs, &mut pins, "cert-manager", &ns["certManager"], &[&phase_ns]);
    }
    if istio {
        add(&mut releases, &mut needs, &mut pins, "istio-base", &ns["mesh"], &[&phase_ns]);
        // Upstream Istio on OpenShift (allowed explicitly, rule KG302): CNI before istiod.
        let istiod_needs: &[&str] = if openshift { &["release/istio-cni"] } else { &["release/istio-base"] };
        if openshift {
            let cni_ns = cat.charts["istio-cni"].namespace.clone();
            add(&mut releases, &mut needs, &mut pins, "istio-cni", &cni_ns, &["release/istio-base"]);
        }
        add(&mut releases, &mut needs, &mut pins, "istiod", &ns["mesh"], istiod_needs);
        // The shared ingress gateway serves Knative's gateways and the `istio` IngressClass.
        // Gateway API ingress needs none: istiod deploys each Gateway's own Deployment and
        // Service (istiod chart files/kube-gateway.yaml), Envoy Gateway its own.
        if knative || !gateway_api {
            add(&mut releases, &mut needs, &mut pins, "istio-ingressgateway", &ns["mesh"], &["release/istiod"]);
        }
    } else if e.mesh.provider == MeshProvider::Ossm3 {
        // Sail's `Istio` and `IstioCNI` install the Istio of the pin.
        use_pin(&mut pins, "istio");
    }
    if k8s && knative {
        add(&mut releases, &mut needs, &mut pins, "knative-operator", &ns["knativeOperator"], &[&phase_ns]);
        // The upstream KnativeServing pins Knative Serving; on OpenShift the channel does.
        use_pin(&mut pins, "knativeServing");
    }
    let mut crd_sources = Vec::new();
    if gateway_api && e.gateway_api.install_crds {
        let s = &cat.crd_sources["gatewayApi"];
        let tag = use_pin(&mut pins, &s.version);
        crd_sources.push(crd_source(e, "gatewayApi", s, tag));
        needs.insert("crds/gatewayApi".into(), vec![]);
    }
    let llm = r.llm_installed();
    if envoy {
        add(&mut releases, &mut needs, &mut pins, "envoy-gateway-crds", &ns["envoyGateway"], &[&phase_ns]);
        let mut eg_needs = vec![phase_ns.as_str(), "crds/gatewayApi", "release/envoy-gateway-crds"];
        if llm {
            // Envoy AI Gateway: Envoy Gateway's extension server for InferencePool backends. Its
            // webhook adds the external processor to the proxy pods Envoy Gateway creates, so it
            // serves before Envoy Gateway starts; its controller watches Envoy Gateway's and the
            // Gateway API's kinds.
            let aieg_ns = cat.charts["envoy-ai-gateway"].namespace.clone();
            add(&mut releases, &mut needs, &mut pins, "envoy-ai-gateway-crds", &aieg_ns, &[&phase_ns]);
            let aieg_needs: &[&str] = &[
                "release/envoy-ai-gateway-crds",
                "release/envoy-gateway-crds",
                "crds/gatewayApi",
                "release/cert-manager",
                "phase/operators",
            ];
            add(&mut releases, &mut needs, &mut pins, "envoy-ai-gateway", &aieg_ns, aieg_needs);
            eg_needs.push("release/envoy-ai-gateway");
        }
        add(&mut releases, &mut needs, &mut pins, "envoy-gateway", &ns["envoyGateway"], &eg_needs);
    }
    // KEDA only where the KServe release (or `versions.keda`) gives a version: a release that
    // predates KServe's KEDA pin is refused by rule KG416, not by a missing pin (KG204).
    if e.autoscaling.keda && r.pins.contains_key("keda") {
        let keda_ns = cat.charts["keda"].namespace.clone();
        add(&mut releases, &mut needs, &mut pins, "keda", &keda_ns, &[&phase_ns]);
        // OTel-metric autoscaling: the operator's webhooks need their cert-manager Certificate;
        // the add-on is a plain workload in KEDA's namespace.
        if e.autoscaling.open_telemetry {
            let otel_ns = cat.charts["opentelemetry-operator"].namespace.clone();
            let otel_needs: &[&str] = &[&phase_ns, "release/cert-manager", "phase/operators"];
            add(&mut releases, &mut needs, &mut pins, "opentelemetry-operator", &otel_ns, otel_needs);
            add(&mut releases, &mut needs, &mut pins, "keda-otel-scaler", &keda_ns, &["release/keda"]);
        }
    }
    add(&mut releases, &mut needs, &mut pins, "kserve-crd", &ns["kserve"], &[&phase_ns]);
    // KServe's controller watches ScaledObjects (its ClusterRole lists keda.sh) and creates them
    // for InferenceServices of the `keda` autoscaler class: the CRDs come first.
    // It also looks for the OpenTelemetryCollector CRD once, at start, to watch its collectors.
    let mut kserve_needs = vec![
        "release/kserve-crd",
        "release/cert-manager",
        "release/keda",
        "release/opentelemetry-operator",
        "phase/operators",
    ];
    if knative {
        kserve_needs.push("phase/knative");
    }
    if gateway_api {
        kserve_needs.push("crds/gatewayApi");
    }
    add(&mut releases, &mut needs, &mut pins, "kserve", &ns["kserve"], &kserve_needs);
    if llm {
        // LeaderWorkerSet where the KServe release pins it (all that ship the llmisvc charts).
        if e.llm.leader_worker_set && r.pins.contains_key("lws") {
            let lws_ns = cat.charts["lws"].namespace.clone();
            add(&mut releases, &mut needs, &mut pins, "lws", &lws_ns, &[&phase_ns]);
        }
        // After kserve-crd: from v0.17.0 this chart renders the ClusterStorageContainer CRD only
        // while no other Helm release owns it (a `lookup`), so kserve-crd must own it first.
        add(
            &mut releases,
            &mut needs,
            &mut pins,
            "kserve-llmisvc-crd",
            &ns["kserve"],
            &[&phase_ns, "release/kserve-crd"],
        );
        // The controller reads the kserve release's inferenceservice-config and its webhook
        // Certificate uses that release's Issuer (`createSharedResources: false`); it serves
        // LLMInferenceServices through HTTPRoutes and InferencePools on the Gateway.
        let llm_needs: &[&str] = &[
            "release/kserve-llmisvc-crd",
            "release/kserve",
            "release/cert-manager",
            "release/lws",
            "crds/gatewayApi",
            "phase/operators",
        ];
        add(&mut releases, &mut needs, &mut pins, "kserve-llmisvc-resources", &ns["kserve"], llm_needs);
    }
    if r.local_model_installed() {
        add(&mut releases, &mut needs, &mut pins, "kserve-localmodel-crd", &ns["kserve"], &[&phase_ns]);
        // Its webhook Certificate uses the kserve release's `selfsigned-issuer`.
        let lm_needs: &[&str] =
            &["release/kserve-localmodel-crd", "release/kserve", "release/cert-manager", "phase/operators"];
        add(&mut releases, &mut needs, &mut pins, "kserve-localmodel-resources", &ns["kserve"], lm_needs);
    }
    if r.runtime_configs_installed() {
        // KServe's LLMInferenceServiceConfig presets need the llmisvc CRDs and its webhook.
        let rc_needs: &[&str] =
            if llm { &["release/kserve", "release/kserve-llmisvc-resources"] } else { &["release/kserve"] };
        add(&mut releases, &mut needs, &mut pins, "kserve-runtime-configs", &ns["kserve"], rc_needs);
    }
    replace_over_limit_releases(r, &mut releases, &mut crd_sources, &mut needs);
    replace_lookup_releases(r, &mut releases, &mut crd_sources, &mut needs);

    // Objects kgen renders itself.
    let mut objects = Vec::new();
    let gateway_class = r.ingress_class();
    if !knative && e.kserve.ingress == IngressFlavour::Ingress && istio && e.kserve.ingress_class_name == "istio" {
        objects.push(Object {
            api_version: "networking.k8s.io/v1",
            kind: "IngressClass",
            name: "istio".into(),
            namespace: None,
            template: "manifests/ingressclass.yaml",
            phase: PHASE_NETWORKING,
            data: json!({"name": "istio"}),
        });
    }
    if gateway_api {
        if envoy {
            objects.push(Object {
                api_version: "gateway.networking.k8s.io/v1",
                kind: "GatewayClass",
                name: gateway_class.into(),
                namespace: None,
                template: "manifests/gatewayclass.yaml",
                phase: PHASE_NETWORKING,
                data: json!({"name": gateway_class, "controllerName": "gateway.envoyproxy.io/gatewayclass-controller"}),
            });
        }
        objects.push(Object {
            api_version: "gateway.networking.k8s.io/v1",
            kind: "Gateway",
            name: "kserve-ingress-gateway".into(),
            namespace: Some(ns["kserve"].clone()),
            template: "manifests/gateway.yaml",
            phase: PHASE_NETWORKING,
            data: json!({"name": "kserve-ingress-gateway"}),
        });
    }
    // The ingress gateway's certificate, where a listener kgen configures serves it.
    let certificate = match (&e.tls.issuer, r.tls_secret_namespace(), &e.kserve.tls_secret_name) {
        (Some(issuer), Some(secret_ns), Some(secret)) => {
            let domain = &e.kserve.ingress_domain;
            // Knative's hosts are `<name>.<namespace>.<domain>` (its default domain template), one
            // level below what `*.<domain>` covers; KServe's Standard hosts `<name>-<namespace>.<domain>`.
            let mut dns = vec![format!("*.{domain}")];
            if knative {
                dns.extend(e.kserve.model_namespaces.iter().map(|n| format!("*.{}.{domain}", n.0)));
            }
            objects.push(Object {
                api_version: "cert-manager.io/v1",
                kind: "Certificate",
                name: secret.clone(),
                namespace: Some(secret_ns.to_string()),
                template: "manifests/certificate.yaml",
                phase: PHASE_NETWORKING,
                data: json!({"name": secret, "namespace": secret_ns, "secretName": secret, "issuer": issuer, "dnsNames": dns}),
            });
            true
        }
        _ => false,
    };
    if openshift {
        openshift_objects(r, &ns, &pins, &mut objects);
    }
    // OpenShift Serverless creates no Knative gateways (KServe's OpenShift guide applies them
    // itself), whichever Istio serves them.
    let own_gateways = openshift && r.knative_networking == Some(KnativeNetworking::Istio);
    if own_gateways {
        openshift_gateways(r, &ns, &mut objects);
    }
    if knative {
        objects.push(Object {
            api_version: "operator.knative.dev/v1beta1",
            kind: "KnativeServing",
            name: "knative-serving".into(),
            namespace: Some(ns["knative"].clone()),
            template: "manifests/knativeserving.yaml",
            phase: PHASE_KNATIVE,
            data: json!({}),
        });
    }
    // Phase dependencies: the union of what their objects need.
    let mut networking_needs = Vec::new();
    if gateway_api {
        networking_needs.push("crds/gatewayApi");
        if envoy {
            networking_needs.push("release/envoy-gateway");
        }
    }
    if ossm {
        // Istio Gateways and gateway Deployments need the mesh's CRDs and control plane.
        networking_needs.push("phase/mesh");
    } else if own_gateways {
        // Upstream Istio on OpenShift: the Gateway CRD comes with istio-base.
        networking_needs.push("release/istio-base");
    }
    if certificate {
        // The Certificate CRD: cert-manager's chart, or its OLM operator (phase `operators`).
        networking_needs.extend(["release/cert-manager", "phase/operators"]);
    }
    let has_phase = |p: &str| objects.iter().any(|o| o.phase == p);
    if has_phase(PHASE_OPERATORS) {
        needs.insert(format!("phase/{PHASE_OPERATORS}"), vec![phase_ns.clone()]);
    }
    if has_phase(PHASE_MESH) {
        needs.insert(format!("phase/{PHASE_MESH}"), vec![phase_ns.clone(), format!("phase/{PHASE_OPERATORS}")]);
    }
    if has_phase(PHASE_NETWORKING) {
        let n = networking_needs.iter().map(|s| s.to_string()).chain([phase_ns.clone()]).collect();
        needs.insert(format!("phase/{PHASE_NETWORKING}"), n);
    }
    if has_phase(PHASE_KNATIVE) {
        // The KnativeServing CRD comes from the Knative operator chart or OpenShift Serverless;
        // its gateways select the ingress gateway pods.
        let mut n = vec![phase_ns.clone(), "release/knative-operator".to_string(), format!("phase/{PHASE_OPERATORS}")];
        if istio {
            n.push("release/istio-ingressgateway".into());
        }
        if own_gateways {
            n.push(format!("phase/{PHASE_NETWORKING}"));
        }
        needs.insert(format!("phase/{PHASE_KNATIVE}"), n);
    }

    // Namespaces of everything namespaced, except ones every cluster has.
    let mut namespaces: Vec<String> = releases.iter().map(|r| r.namespace.clone()).collect();
    namespaces.extend(objects.iter().filter_map(|o| o.namespace.clone()));
    namespaces.sort();
    namespaces.dedup();
    namespaces.extend(extra_namespaces(r, &ns));
    namespaces.sort();
    namespaces.dedup();
    namespaces.retain(|n| !SYSTEM_NAMESPACES.contains(&n.as_str()));
    for n in namespaces {
        objects.push(Object {
            api_version: "v1",
            kind: "Namespace",
            name: n.clone(),
            namespace: None,
            template: "manifests/namespace.yaml",
            phase: PHASE_NAMESPACES,
            data: json!({"name": n, "labels": {}}),
        });
    }
    needs.insert(phase_ns, vec![]);

    // Drop edges to nodes this environment does not have, then compute waves.
    let ids: Vec<String> = needs.keys().cloned().collect();
    for deps in needs.values_mut() {
        deps.retain(|d| ids.contains(d));
    }
    let graph = waves(&needs);
    let order: BTreeMap<&str, (u32, usize)> =
        graph.iter().enumerate().map(|(i, n)| (n.id.as_str(), (n.wave, i))).collect();
    releases.sort_by_key(|rel| order[format!("release/{}", rel.name).as_str()]);
    objects.sort_by(|a, b| {
        let ka = order[format!("phase/{}", a.phase).as_str()];
        let kb = order[format!("phase/{}", b.phase).as_str()];
        ka.cmp(&kb).then_with(|| a.path().cmp(&b.path()))
    });
    Plan { release: r.release, pins, releases, crd_sources, objects, graph, namespaces: ns }
}

/// Whether an engine installs a chart as a Helm release, whose record Helm stores in a Secret
/// limited to 1 MiB (catalog `helmReleaseRecords`, rules KG610, KG611): Flux always (a
/// HelmRelease), install.sh except for charts it applies as `helm template` output, Argo CD never
/// (it renders with `helm template`).
pub fn stores_release_record(engine: GitopsEngine, chart: &catalog::Chart) -> bool {
    match engine {
        GitopsEngine::Argocd => false,
        GitopsEngine::Flux => true,
        GitopsEngine::None => !chart.apply_rendered,
    }
}

/// A CRD source at `tag`, from its mirror when the environment names one: a mirror replaces
/// where the CRDs come from, never which (path and tag stay).
fn crd_source(e: &crate::config::model::Environment, name: &str, s: &catalog::CrdSource, tag: String) -> CrdSource {
    let mirror = e.mirrors.crds.get(name);
    let release_url =
        mirror.and_then(|m| m.release_url.as_ref()).or(s.release_url.as_ref()).map(|u| u.replace("{version}", &tag));
    CrdSource {
        name: name.to_string(),
        repo: mirror.and_then(|m| m.repo.as_ref()).unwrap_or(&s.repo).clone(),
        path: s.path_at(&tag).into(),
        tag,
        release_url,
        include: s.include.clone(),
    }
}

/// Whether an engine can apply a CRD source (an over-limit chart's replacement): Argo CD and Flux
/// from its repository at the tag, install.sh only from a single-file release URL.
fn applies_crd_source(engine: GitopsEngine, src: &catalog::CrdSource) -> bool {
    match engine {
        GitopsEngine::Argocd | GitopsEngine::Flux => true,
        GitopsEngine::None => src.release_url.is_some(),
    }
}

/// Releases the environment's engine would store a Helm release record of over the Secret
/// limit (catalog `helmReleaseRecords`) become the CRD source the catalog names for them, at the
/// same pin, where the engine can apply it; the graph's edges follow. Any left are refused by
/// rule KG610.
fn replace_over_limit_releases(
    r: &Resolved,
    releases: &mut Vec<ChartRelease>,
    crd_sources: &mut Vec<CrdSource>,
    needs: &mut BTreeMap<String, Vec<String>>,
) {
    let cat = catalog::get();
    let records = &cat.helm_release_records;
    let engine = r.env.gitops.engine;
    let mut swapped: Vec<(String, String)> = Vec::new();
    releases.retain(|rel| {
        let chart = &cat.charts[&rel.name];
        let Some(src_name) = records.replacements.get(&rel.name) else { return true };
        let src = &cat.crd_sources[src_name];
        if !records.over_limit(&rel.name, &rel.version)
            || !stores_release_record(engine, chart)
            || !applies_crd_source(engine, src)
        {
            return true;
        }
        crd_sources.push(crd_source(&r.env, src_name, src, rel.version.clone()));
        swapped.push((format!("release/{}", rel.name), format!("crds/{src_name}")));
        false
    });
    rewire(needs, swapped);
}

/// On Argo CD, releases whose chart `lookup`s the cluster to leave out an object another release
/// owns become the CRD source the catalog names for them (`lookupReplacements`), at the same
/// version: Argo CD renders with `helm template`, where `lookup` finds nothing, so the chart
/// would render that object too and two Applications would take turns owning it.
fn replace_lookup_releases(
    r: &Resolved,
    releases: &mut Vec<ChartRelease>,
    crd_sources: &mut Vec<CrdSource>,
    needs: &mut BTreeMap<String, Vec<String>>,
) {
    if r.env.gitops.engine != GitopsEngine::Argocd {
        return;
    }
    let cat = catalog::get();
    let mut swapped: Vec<(String, String)> = Vec::new();
    releases.retain(|rel| {
        let Some(src_name) = cat.lookup_replacements.get(&rel.name) else { return true };
        crd_sources.push(crd_source(&r.env, src_name, &cat.crd_sources[src_name], rel.version.clone()));
        swapped.push((format!("release/{}", rel.name), format!("crds/{src_name}")));
        false
    });
    rewire(needs, swapped);
}

/// Moves the graph's edges from each replaced node to its replacement.
fn rewire(needs: &mut BTreeMap<String, Vec<String>>, swapped: Vec<(String, String)>) {
    for (from, to) in swapped {
        let deps = needs.remove(&from).unwrap_or_default();
        needs.insert(to.clone(), deps);
        for d in needs.values_mut().flatten().filter(|d| **d == from) {
            *d = to.clone();
        }
    }
}

/// Namespaces every cluster (or every OpenShift cluster) already has: never rendered.
const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-system", "openshift-operators", "openshift-marketplace"];

/// Namespaces that exist only to hold what kgen renders elsewhere (model namespaces, the
/// Istio CNI namespace), so they must be created.
fn extra_namespaces(r: &Resolved, ns: &BTreeMap<&'static str, String>) -> Vec<String> {
    let mut out: Vec<String> = r.env.kserve.model_namespaces.iter().map(|n| n.0.clone()).collect();
    // LocalModel's download Jobs run there; no chart creates it.
    if r.local_model_installed() {
        out.push(r.env.local_model.job_namespace.0.clone());
    }
    if r.env.mesh.provider == MeshProvider::Ossm3 {
        out.push(catalog::get().openshift.ossm3_cni_namespace.clone());
        out.push(ns["mesh"].clone());
    }
    if r.env.mesh.provider == MeshProvider::Ossm2 {
        out.push(ns["mesh"].clone());
    }
    out
}

/// The members of the OSSM 2 ServiceMeshMemberRoll: every namespace whose pods need sidecars.
pub fn mesh_members(r: &Resolved) -> Vec<String> {
    let mut m = vec![r.env.kserve.namespace.clone()];
    if r.knative_mode() {
        m.push(r.env.knative.namespace.clone());
    }
    m.extend(r.env.kserve.model_namespaces.iter().map(|n| n.0.clone()));
    m.sort();
    m.dedup();
    m
}

/// OLM subscriptions and the OpenShift Service Mesh control plane.
fn openshift_objects(
    r: &Resolved,
    ns: &BTreeMap<&'static str, String>,
    pins: &IndexMap<String, Option<String>>,
    objects: &mut Vec<Object>,
) {
    let os = &catalog::get().openshift;
    let e = &r.env;
    // Resolving fills the OLM settings in from the catalog when no file sets them.
    let approval = match e.olm.install_plan_approval {
        Some(crate::config::model::InstallPlanApproval::Manual) => "Manual".to_string(),
        _ => "Automatic".to_string(),
    };
    let source = e.olm.source.clone().expect("derived on OpenShift");
    let source_ns = e.olm.source_namespace.clone().expect("derived on OpenShift");
    let mut subscribe = |role: &str, channel: Option<&String>| {
        let op = &os.operators[role];
        objects.push(Object {
            api_version: "operators.coreos.com/v1alpha1",
            kind: "Subscription",
            name: op.package.clone(),
            namespace: Some(op.namespace.clone()),
            template: "manifests/subscription.yaml",
            phase: PHASE_OPERATORS,
            data: json!({
                "name": op.package, "namespace": op.namespace, "package": op.package,
                "channel": channel.expect("derived for every subscribed operator"),
                "approval": approval, "source": source, "sourceNamespace": source_ns,
            }),
        });
        if let Some(mode) = &op.operator_group {
            let targets: Vec<&String> = if mode == "ownNamespace" { vec![&op.namespace] } else { vec![] };
            objects.push(Object {
                api_version: "operators.coreos.com/v1",
                kind: "OperatorGroup",
                name: op.namespace.clone(),
                namespace: Some(op.namespace.clone()),
                template: "manifests/operatorgroup.yaml",
                phase: PHASE_OPERATORS,
                data: json!({"name": op.namespace, "namespace": op.namespace, "targetNamespaces": targets}),
            });
        }
    };
    match e.mesh.provider {
        MeshProvider::Ossm2 => subscribe("ossm2", e.olm.channels.service_mesh.as_ref()),
        MeshProvider::Ossm3 => subscribe("ossm3", e.olm.channels.service_mesh.as_ref()),
        // Upstream Istio comes from Helm charts, not OLM.
        MeshProvider::Istio | MeshProvider::None => {}
    }
    if r.knative_mode() {
        subscribe("serverless", e.olm.channels.serverless.as_ref());
    }
    if e.cert_manager.install {
        subscribe("certManager", e.olm.channels.cert_manager.as_ref());
    }
    match e.mesh.provider {
        MeshProvider::Ossm2 => {
            let name = os.ossm2_control_plane_name.clone();
            objects.push(Object {
                api_version: "maistra.io/v2",
                kind: "ServiceMeshControlPlane",
                name: name.clone(),
                namespace: Some(ns["mesh"].clone()),
                template: "manifests/servicemeshcontrolplane.yaml",
                phase: PHASE_MESH,
                data: json!({"name": name}),
            });
            objects.push(Object {
                api_version: "maistra.io/v1",
                kind: "ServiceMeshMemberRoll",
                name: "default".into(),
                namespace: Some(ns["mesh"].clone()),
                template: "manifests/servicemeshmemberroll.yaml",
                phase: PHASE_MESH,
                data: json!({"members": mesh_members(r)}),
            });
        }
        MeshProvider::Ossm3 => {
            // Sail versions carry a leading `v`; the pin is the Istio chart version. A plan
            // without it is refused before rendering (rule KG204), so it is never a bare `v`.
            let version = format!("v{}", pins.get("istio").cloned().flatten().unwrap_or_default());
            objects.push(Object {
                api_version: "sailoperator.io/v1",
                kind: "Istio",
                name: "default".into(),
                namespace: None,
                template: "manifests/istio.yaml",
                phase: PHASE_MESH,
                data: json!({"version": version}),
            });
            objects.push(Object {
                api_version: "sailoperator.io/v1",
                kind: "IstioCNI",
                name: "default".into(),
                namespace: None,
                template: "manifests/istiocni.yaml",
                phase: PHASE_MESH,
                data: json!({"version": version, "cniNamespace": os.ossm3_cni_namespace}),
            });
        }
        // Upstream Istio is Helm releases (see `plan`); no mesh, nothing.
        MeshProvider::Istio | MeshProvider::None => {}
    }
}

/// Knative's gateways on OpenShift, which kgen renders itself (OpenShift Serverless does not
/// create them): the ingress and local Gateways, the local gateway Service, and on OSSM 3
/// (which deploys no gateway) the ingress gateway Deployment and Service.
fn openshift_gateways(r: &Resolved, ns: &BTreeMap<&'static str, String>, objects: &mut Vec<Object>) {
    let mesh_ns = ns["mesh"].clone();
    let ingress_servers = match &r.env.kserve.tls_secret_name {
        Some(secret) => {
            json!([{"port": {"number": 443, "name": "https", "protocol": "HTTPS"}, "hosts": ["*"], "tls": {"mode": "SIMPLE", "credentialName": secret}}])
        }
        None => json!([{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]),
    };
    for (name, servers) in [
        ("knative-ingress-gateway", ingress_servers),
        (
            "knative-local-gateway",
            json!([{"port": {"number": 8081, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]),
        ),
    ] {
        objects.push(Object {
            api_version: "networking.istio.io/v1beta1",
            kind: "Gateway",
            name: name.into(),
            namespace: Some(ns["knative"].clone()),
            template: "manifests/istio-gateway.yaml",
            phase: PHASE_NETWORKING,
            data: json!({"name": name, "servers": servers}),
        });
    }
    objects.push(Object {
        api_version: "v1",
        kind: "Service",
        name: "knative-local-gateway".into(),
        namespace: Some(mesh_ns.clone()),
        template: "manifests/service.yaml",
        phase: PHASE_NETWORKING,
        data: json!({
            "name": "knative-local-gateway", "namespace": mesh_ns, "type": "ClusterIP",
            "labels": {"experimental.istio.io/disable-gateway-port-translation": "true"},
            "ports": [{"name": "http2", "port": 80, "targetPort": 8081}],
        }),
    });
    if r.env.mesh.provider == MeshProvider::Ossm3 {
        // Its own ServiceAccount, allowed to read Secrets in the mesh namespace: Istio serves a
        // Gateway's `credentialName` (kserve.tlsSecretName) only to a gateway that may read it
        // (sail-operator chart/samples/ingress-gateway.yaml).
        let sa = "istio-ingressgateway";
        let rbac = [
            ("v1", "ServiceAccount", sa.to_string(), "manifests/serviceaccount.yaml"),
            ("rbac.authorization.k8s.io/v1", "Role", format!("{sa}-sds"), "manifests/role-secrets.yaml"),
            ("rbac.authorization.k8s.io/v1", "RoleBinding", format!("{sa}-sds"), "manifests/rolebinding.yaml"),
        ];
        for (api_version, kind, name, template) in rbac {
            objects.push(Object {
                api_version,
                kind,
                name: name.clone(),
                namespace: Some(mesh_ns.clone()),
                template,
                phase: PHASE_NETWORKING,
                data: json!({"name": name, "namespace": mesh_ns, "role": format!("{sa}-sds"), "serviceAccount": sa}),
            });
        }
        objects.push(Object {
            api_version: "apps/v1",
            kind: "Deployment",
            name: "istio-ingressgateway".into(),
            namespace: Some(mesh_ns.clone()),
            template: "manifests/deployment-gateway.yaml",
            phase: PHASE_NETWORKING,
            data: json!({"name": "istio-ingressgateway"}),
        });
        objects.push(Object {
            api_version: "v1",
            kind: "Service",
            name: "istio-ingressgateway".into(),
            namespace: Some(mesh_ns.clone()),
            template: "manifests/service.yaml",
            phase: PHASE_NETWORKING,
            data: json!({
                "name": "istio-ingressgateway", "namespace": mesh_ns, "type": "ClusterIP", "labels": {},
                "ports": [{"name": "http2", "port": 80, "targetPort": 8080}, {"name": "https", "port": 443, "targetPort": 8443}],
            }),
        });
    }
}

/// Longest-path layering of an acyclic graph. The graph is built above from fixed edges that
/// only point "down" the phases, so a cycle is a kgen bug.
fn waves(needs: &BTreeMap<String, Vec<String>>) -> Vec<Node> {
    fn depth(
        id: &str,
        needs: &BTreeMap<String, Vec<String>>,
        memo: &mut BTreeMap<String, u32>,
        stack: &mut Vec<String>,
    ) -> u32 {
        if let Some(&d) = memo.get(id) {
            return d;
        }
        assert!(!stack.iter().any(|s| s == id), "dependency cycle through {id}: {stack:?}");
        stack.push(id.to_string());
        let d = needs[id].iter().map(|n| depth(n, needs, memo, stack) + 1).max().unwrap_or(0);
        stack.pop();
        memo.insert(id.to_string(), d);
        d
    }
    let mut memo = BTreeMap::new();
    let mut nodes: Vec<Node> = needs
        .keys()
        .map(|id| Node { id: id.clone(), needs: needs[id].clone(), wave: depth(id, needs, &mut memo, &mut Vec::new()) })
        .collect();
    nodes.sort_by(|a, b| a.wave.cmp(&b.wave).then_with(|| a.id.cmp(&b.id)));
    nodes
}
