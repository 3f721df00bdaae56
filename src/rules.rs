//! Validation, pass 2: semantic rules over a merged, typed environment, and the rule catalog
//! behind `kgen rules`. Codes follow SPEC §8 (`KG1xx` files and layering, `KG2xx` versions,
//! `KG3xx` mesh, `KG4xx` Knative and networking, `KG5xx` KServe, `KG6xx` GitOps); a code is
//! never reused.

use crate::config::model::{GatewayImplementation, GitopsEngine, IngressFlavour, MeshProvider, Platform};
use crate::config::resolve::Resolved;
use crate::diag::{Diagnostic, Severity};
use crate::version::Version;

/// The rule catalog source, embedded at build time.
pub const RULES_YAML: &str = include_str!("../catalog/rules.yaml");

/// One rule of the catalog.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Stable code.
    pub code: String,
    /// Severity when it fires.
    pub severity: Severity,
    /// One-line summary.
    pub title: String,
    /// Why it matters.
    pub rationale: String,
    /// How to fix it.
    pub fix: String,
    /// Where the underlying fact comes from.
    pub source: String,
}

/// Every rule kgen knows, by code.
/// The rule catalog, embedded from `catalog/rules.yaml`.
pub fn rules() -> &'static [Rule] {
    static RULES: std::sync::OnceLock<Vec<Rule>> = std::sync::OnceLock::new();
    RULES.get_or_init(|| {
        crate::yaml::from_str(RULES_YAML, crate::yaml::Budget::Render)
            .unwrap_or_else(|e| panic!("embedded catalog/rules.yaml is invalid: {e}"))
    })
}

/// The rule with this code.
pub fn rule(code: &str) -> Option<&'static Rule> {
    rules().iter().find(|r| r.code == code)
}

fn diag(code: &'static str, message: String) -> Diagnostic {
    let r = rule(code).expect("rule codes used in checks are in RULES");
    let d = match r.severity {
        Severity::Error => Diagnostic::error(code, message),
        Severity::Warning => Diagnostic::warning(code, message),
    };
    d.hint(r.fix.as_str())
}

/// Catalog pins the environment needs (components kgen installs from charts or Git).
pub fn needed_pins(r: &Resolved) -> Vec<&'static str> {
    let e = &r.env;
    let k8s = e.cluster.platform == Platform::Kubernetes;
    let standard_gw = r.gateway_api_ingress();
    let mut pins = Vec::new();
    if k8s && e.cert_manager.install {
        pins.push("certManager");
    }
    if e.mesh.provider == MeshProvider::Istio {
        pins.push("istio");
    }
    if k8s && r.knative_mode() {
        pins.extend(["knativeOperator", "knativeServing"]);
    }
    if standard_gw && e.gateway_api.install_crds {
        pins.push("gatewayApi");
    }
    if standard_gw && e.gateway_api.implementation == GatewayImplementation::Envoy {
        pins.push("envoyGateway");
    }
    pins
}

/// Runs every semantic rule.
pub fn check(r: &Resolved) -> Vec<Diagnostic> {
    let e = &r.env;
    let mut out = Vec::new();
    let mesh = e.mesh.provider;
    let openshift = e.cluster.platform == Platform::Openshift;

    // KG203: legacy mode name on a release that has the new names.
    let cat = crate::catalog::get();
    if e.kserve.deployment_mode.is_legacy_name() && cat.has_canonical_modes(r.release) {
        let canonical = e.kserve.deployment_mode.canonical().as_str();
        out.push(
            r.diag_at(
                diag(
                    "KG203",
                    format!(
                        "`{}` is the legacy name of `{canonical}` since KServe v0.16.0 (this environment pins {})",
                        e.kserve.deployment_mode.as_str(),
                        r.release.version
                    ),
                )
                .label(format!("write `{canonical}`")),
                "/kserve/deploymentMode",
            ),
        );
    }

    // KG204: a needed component has no version.
    let needed = needed_pins(r);
    for pin in &needed {
        if r.pin(pin).is_none() {
            out.push(
                r.diag_at(
                    diag("KG204", format!("KServe {} has no tested `{pin}` version", r.release.version))
                        .hint(format!("set `versions.{pin}`")),
                    "/kserve/version",
                ),
            );
        }
    }

    // KG202: Kubernetes minimum over KServe and the components actually installed.
    let used: std::collections::BTreeMap<String, String> =
        r.pins.iter().filter(|(k, _)| needed.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    let (min, why) = cat.kubernetes_minimum(r.release, &used);
    if let Some(have) = Version::parse(&e.cluster.kubernetes_version)
        && have.minor() < min.minor()
    {
        out.push(
            r.diag_at(
                diag(
                    "KG202",
                    format!(
                        "Kubernetes {} is older than {min}, the minimum for this environment (set by {why})",
                        e.cluster.kubernetes_version
                    ),
                )
                .label(format!("needs ≥ {min}")),
                "/cluster/kubernetesVersion",
            ),
        );
    }

    // KG304 / KG302: the mesh must fit the platform.
    if !openshift && matches!(mesh, MeshProvider::Ossm2 | MeshProvider::Ossm3) {
        out.push(r.diag_at(
            diag("KG304", format!("`{}` is OpenShift Service Mesh, but the platform is kubernetes", mesh.as_str())),
            "/mesh/provider",
        ));
    }
    if openshift && mesh == MeshProvider::Istio && !e.mesh.allow_upstream_istio_on_openshift {
        out.push(r.diag_at(
            diag("KG302", "OpenShift uses OpenShift Service Mesh, not upstream Istio charts".into()),
            "/mesh/provider",
        ));
    }

    // KG305: upstream Istio on OpenShift keeps the OpenShift profile.
    if openshift && mesh == MeshProvider::Istio {
        for rel in ["istio-base", "istio-cni", "istiod", "istio-ingressgateway"] {
            if let Some(p) = e.values.get(rel).and_then(|v| v.get("profile")).and_then(|p| p.as_str())
                && p != "openshift"
            {
                out.push(r.diag_at(
                    diag("KG305", format!("`values.{rel}.profile: {p}` replaces the OpenShift profile")),
                    &format!("/values/{rel}/profile"),
                ));
            }
        }
    }

    // KG306: OSSM 2 injects only into member namespaces.
    if mesh == MeshProvider::Ossm2 && r.knative_mode() && e.kserve.model_namespaces.is_empty() {
        out.push(r.diag_at_any(
            diag(
                "KG306",
                "no `kserve.modelNamespaces`: InferenceServices outside the member roll get no sidecar".into(),
            ),
            &["/mesh/provider", "/kserve/deploymentMode"],
        ));
    }

    // KG404: the ingress gateway's selector label must stay `istio: ingressgateway`.
    if mesh == MeshProvider::Istio
        && r.knative_mode()
        && let Some(gw) = e.values.get("istio-ingressgateway")
    {
        let relabelled = gw.get("labels").and_then(|l| l.get("istio")).is_some_and(|v| v != "ingressgateway");
        let renamed = gw.get("name").and_then(|n| n.as_str()).is_some_and(|n| n != "istio-ingressgateway");
        if relabelled || renamed {
            let key = if relabelled {
                "/values/istio-ingressgateway/labels/istio"
            } else {
                "/values/istio-ingressgateway/name"
            };
            out.push(r.diag_at(
                diag("KG404", "the ingress gateway would no longer carry `istio: ingressgateway`, which Knative's gateways select".into()),
                key,
            ));
        }
    }

    // KG303: sidecar injection.
    if mesh.is_istio_family() && e.mesh.sidecar_auto_inject {
        out.push(r.diag_at(diag("KG303", "sidecar auto-injection is enabled".into()), "/mesh/sidecarAutoInject"));
    }

    if r.knative_mode() {
        // KG401: Knative needs a networking layer.
        if mesh == MeshProvider::None {
            out.push(r.diag_at_any(
                diag(
                    "KG401",
                    "Knative mode needs Knative Serving and a networking layer, but `mesh.provider` is none".into(),
                ),
                &["/mesh/provider", "/kserve/deploymentMode"],
            ));
        }
    } else {
        // Standard mode uses the mesh only through the `istio` IngressClass or GatewayClass.
        let through_istio = r.ingress_class() == "istio";
        let istio_ingress_class = through_istio && !r.gateway_api_ingress();
        let istio_gateway_class = through_istio && r.gateway_api_ingress();
        // KG301: a mesh nothing uses.
        if mesh.is_istio_family() && !istio_ingress_class && !istio_gateway_class {
            out.push(r.diag_at(
                diag("KG301", format!("Standard mode uses neither an Istio IngressClass nor an Istio GatewayClass, so the `{}` mesh is unused", mesh.as_str())),
                "/mesh/provider",
            ));
        }
        // KG402: `istio` IngressClass without Istio.
        if istio_ingress_class && !mesh.is_istio_family() {
            out.push(r.diag_at(
                diag("KG402", "Standard mode with `ingress: ingress` uses the `istio` IngressClass, but no Istio is installed".into()),
                "/kserve/ingress",
            ));
        }
        // KG403: Istio GatewayClass without Istio.
        if istio_gateway_class && !mesh.is_istio_family() {
            out.push(r.diag_at(
                diag(
                    "KG403",
                    "`gatewayApi.implementation: istio` needs an Istio mesh, but `mesh.provider` is none".into(),
                ),
                "/gatewayApi/implementation",
            ));
        }
        // KG501: Gateway API ingress needs a release that supports it.
        if e.kserve.ingress == IngressFlavour::GatewayApi && !r.release.gateway_api_ingress {
            out.push(r.diag_at(
                diag(
                    "KG501",
                    format!(
                        "KServe {} cannot route through Gateway API (`enableGatewayApi` arrived in v0.15)",
                        r.release.version
                    ),
                ),
                "/kserve/ingress",
            ));
        }
    }

    // KG502: runtimes are part of the main chart before v0.17.0.
    if !e.kserve.install_runtimes && !r.release.runtime_configs_chart {
        out.push(r.diag_at(
            diag("KG502", format!("KServe {} always installs its serving runtimes", r.release.version)),
            "/kserve/installRuntimes",
        ));
    }

    // KG601: GitOps engines need the repository.
    if matches!(e.gitops.engine, GitopsEngine::Argocd | GitopsEngine::Flux) && e.gitops.repo_url.is_none() {
        out.push(r.diag_at_any(
            diag("KG601", format!("`gitops.engine: {}` needs `gitops.repoUrl`", engine_name(e.gitops.engine))),
            &["/gitops/engine", "/gitops"],
        ));
    }
    out
}

fn engine_name(e: GitopsEngine) -> &'static str {
    match e {
        GitopsEngine::Argocd => "argocd",
        GitopsEngine::Flux => "flux",
        GitopsEngine::None => "none",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_sorted_and_in_scheme() {
        let codes: Vec<&str> = rules().iter().map(|r| r.code.as_str()).collect();
        let mut sorted = codes.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(codes, sorted);
        assert!(codes.iter().all(|c| c.len() == 5 && c.starts_with("KG") && c[2..].parse::<u16>().is_ok()));
    }
}
