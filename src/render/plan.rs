//! What an environment needs: the chart releases, the Kubernetes objects kgen renders itself,
//! the CRD bundles referenced from Git, and one dependency graph over all of them from which
//! every ordering (phases, Argo CD waves, Flux `dependsOn`, `install.sh` steps) is derived.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use crate::catalog;
use crate::config::model::{GatewayImplementation, IngressFlavour, MeshProvider, Platform};
use crate::config::resolve::Resolved;

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

impl Object {
    /// `manifests/<namespace>/<kind>-<name>.yaml`, `_cluster` for cluster-scoped objects.
    pub fn path(&self) -> String {
        format!(
            "manifests/{}/{}-{}.yaml",
            self.namespace.as_deref().unwrap_or("_cluster"),
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

/// Everything an environment installs, with its order.
#[derive(Debug, Clone)]
pub struct Plan {
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

/// Manifest phases, in the order SPEC §5 gives.
pub const PHASE_NAMESPACES: &str = "namespaces";
/// Ingress and Gateway API objects.
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
    let gateway_api = !knative && e.kserve.ingress == IngressFlavour::GatewayApi;
    let envoy = gateway_api && e.gateway_api.implementation == GatewayImplementation::Envoy;

    let mut ns: BTreeMap<&'static str, String> = BTreeMap::new();
    ns.insert("kserve", e.kserve.namespace.clone());
    ns.insert("mesh", e.mesh.namespace.clone());
    ns.insert("knative", e.knative.namespace.clone());
    ns.insert(
        "knativeOperator",
        r.release.knative_operator_namespace.clone(),
    );
    ns.insert("certManager", e.cert_manager.namespace.clone());
    ns.insert(
        "envoyGateway",
        cat.charts["envoy-gateway"].namespace.clone(),
    );

    // Chart releases and what each needs.
    let mut releases = Vec::new();
    let mut needs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let add = |releases: &mut Vec<ChartRelease>,
               needs: &mut BTreeMap<String, Vec<String>>,
               name: &str,
               namespace: &str,
               deps: &[&str]| {
        let ch = &cat.charts[name];
        let chart = if name == "kserve" {
            r.release.kserve_chart.clone()
        } else {
            ch.chart.clone()
        };
        let version = if ch.version == "kserve" {
            r.release.version.clone()
        } else {
            r.pins.get(&ch.version).cloned().unwrap_or_default()
        };
        releases.push(ChartRelease {
            name: name.to_string(),
            chart,
            repo: ch.repo.clone(),
            version,
            namespace: namespace.to_string(),
            template: format!("values/{name}.yaml"),
        });
        needs.insert(
            format!("release/{name}"),
            deps.iter().map(|d| d.to_string()).collect(),
        );
    };
    let phase_ns = format!("phase/{PHASE_NAMESPACES}");
    if k8s && e.cert_manager.install {
        add(
            &mut releases,
            &mut needs,
            "cert-manager",
            &ns["certManager"],
            &[&phase_ns],
        );
    }
    if istio {
        add(
            &mut releases,
            &mut needs,
            "istio-base",
            &ns["mesh"],
            &[&phase_ns],
        );
        add(
            &mut releases,
            &mut needs,
            "istiod",
            &ns["mesh"],
            &["release/istio-base"],
        );
        add(
            &mut releases,
            &mut needs,
            "istio-ingressgateway",
            &ns["mesh"],
            &["release/istiod"],
        );
    }
    if k8s && knative {
        add(
            &mut releases,
            &mut needs,
            "knative-operator",
            &ns["knativeOperator"],
            &[&phase_ns],
        );
    }
    let mut crd_sources = Vec::new();
    if gateway_api && e.gateway_api.install_crds {
        let s = &cat.crd_sources["gatewayApi"];
        crd_sources.push(CrdSource {
            name: "gatewayApi".into(),
            repo: s.repo.clone(),
            path: s.path.clone(),
            tag: r.pins.get(&s.version).cloned().unwrap_or_default(),
        });
        needs.insert("crds/gatewayApi".into(), vec![]);
    }
    if envoy {
        add(
            &mut releases,
            &mut needs,
            "envoy-gateway",
            &ns["envoyGateway"],
            &[&phase_ns, "crds/gatewayApi"],
        );
    }
    add(
        &mut releases,
        &mut needs,
        "kserve-crd",
        &ns["kserve"],
        &[&phase_ns],
    );
    let mut kserve_needs = vec!["release/kserve-crd", "release/cert-manager"];
    if knative {
        kserve_needs.push("phase/knative");
    }
    if gateway_api {
        kserve_needs.push("crds/gatewayApi");
    }
    add(
        &mut releases,
        &mut needs,
        "kserve",
        &ns["kserve"],
        &kserve_needs,
    );
    if r.release.runtime_configs_chart && e.kserve.install_runtimes {
        add(
            &mut releases,
            &mut needs,
            "kserve-runtime-configs",
            &ns["kserve"],
            &["release/kserve"],
        );
    }

    // Objects kgen renders itself.
    let mut objects = Vec::new();
    let gateway_class = match e.gateway_api.implementation {
        GatewayImplementation::Envoy => "envoy",
        GatewayImplementation::Istio => "istio",
    };
    if !knative
        && e.kserve.ingress == IngressFlavour::Ingress
        && istio
        && e.kserve.ingress_class_name == "istio"
    {
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
    if k8s && knative {
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
    if objects.iter().any(|o| o.phase == PHASE_NETWORKING) {
        needs.insert(
            format!("phase/{PHASE_NETWORKING}"),
            networking_needs
                .iter()
                .map(|s| s.to_string())
                .chain([phase_ns.clone()])
                .collect(),
        );
    }
    if objects.iter().any(|o| o.phase == PHASE_KNATIVE) {
        let mut n = vec![phase_ns.clone(), "release/knative-operator".to_string()];
        if istio {
            n.push("release/istio-ingressgateway".into());
        }
        needs.insert(format!("phase/{PHASE_KNATIVE}"), n);
    }

    // Namespaces of everything namespaced, except ones every cluster has.
    let mut namespaces: Vec<String> = releases.iter().map(|r| r.namespace.clone()).collect();
    namespaces.extend(objects.iter().filter_map(|o| o.namespace.clone()));
    namespaces.sort();
    namespaces.dedup();
    namespaces.retain(|n| !matches!(n.as_str(), "default" | "kube-system"));
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
    let order: BTreeMap<&str, (u32, usize)> = graph
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), (n.wave, i)))
        .collect();
    releases.sort_by_key(|rel| order[format!("release/{}", rel.name).as_str()]);
    objects.sort_by(|a, b| {
        let ka = order[format!("phase/{}", a.phase).as_str()];
        let kb = order[format!("phase/{}", b.phase).as_str()];
        ka.cmp(&kb).then_with(|| a.path().cmp(&b.path()))
    });
    Plan {
        releases,
        crd_sources,
        objects,
        graph,
        namespaces: ns,
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
        assert!(
            !stack.iter().any(|s| s == id),
            "dependency cycle through {id}: {stack:?}"
        );
        stack.push(id.to_string());
        let d = needs[id]
            .iter()
            .map(|n| depth(n, needs, memo, stack) + 1)
            .max()
            .unwrap_or(0);
        stack.pop();
        memo.insert(id.to_string(), d);
        d
    }
    let mut memo = BTreeMap::new();
    let mut nodes: Vec<Node> = needs
        .keys()
        .map(|id| Node {
            id: id.clone(),
            needs: needs[id].clone(),
            wave: depth(id, needs, &mut memo, &mut Vec::new()),
        })
        .collect();
    nodes.sort_by(|a, b| a.wave.cmp(&b.wave).then_with(|| a.id.cmp(&b.id)));
    nodes
}
