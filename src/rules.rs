//! Validation, pass 2: semantic rules over a merged, typed environment, and the rule catalog
//! behind `kgen rules`. Codes follow SPEC §8 (`KG1xx` files and layering, `KG2xx` versions,
//! `KG3xx` mesh, `KG4xx` Knative and networking, `KG5xx` KServe, `KG6xx` GitOps); a code is
//! never reused.

use crate::config::model::{
    GatewayImplementation, GitopsEngine, IngressFlavour, MeshProvider, Platform,
};
use crate::config::resolve::Resolved;
use crate::diag::{Diagnostic, Severity};
use crate::version::Version;

/// One rule of the catalog.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rule {
    /// Stable code.
    pub code: &'static str,
    /// Severity when it fires.
    pub severity: Severity,
    /// One-line summary.
    pub title: &'static str,
    /// Why it matters.
    pub rationale: &'static str,
    /// How to fix it.
    pub fix: &'static str,
    /// Where the underlying fact comes from.
    pub source: &'static str,
}

const FACTS: &str = "https://github.com/kserve/kserve";

/// Every rule kgen knows, by code.
pub const RULES: &[Rule] = &[
    Rule {
        code: "KG100",
        severity: Severity::Error,
        title: "environment file cannot be read",
        rationale: "kgen reads every file under environments/ before anything else.",
        fix: "check the file's permissions.",
        source: "SPEC §9",
    },
    Rule {
        code: "KG101",
        severity: Severity::Error,
        title: "YAML syntax error",
        rationale: "a file that does not parse cannot be trusted in part.",
        fix: "fix the YAML at the position shown (tabs, quotes, indentation).",
        source: "https://yaml.org/spec/1.2.2/",
    },
    Rule {
        code: "KG102",
        severity: Severity::Error,
        title: "duplicate key",
        rationale: "YAML readers disagree on duplicate keys (kubectl keeps the last, others fail); one of the two values is silently lost.",
        fix: "keep one occurrence of the key.",
        source: "https://yaml.org/spec/1.2.2/#mapping",
    },
    Rule {
        code: "KG103",
        severity: Severity::Error,
        title: "unknown key",
        rationale: "a misspelt key is otherwise silently ignored and its default applies.",
        fix: "use the suggested key; `kgen schema` lists every field.",
        source: "schemas/environment.schema.json",
    },
    Rule {
        code: "KG104",
        severity: Severity::Error,
        title: "wrong type",
        rationale: "YAML guesses types: `1.30` is the number 1.3 and `yes` may be a boolean.",
        fix: "quote strings such as versions: `\"1.30\"`.",
        source: "schemas/environment.schema.json",
    },
    Rule {
        code: "KG105",
        severity: Severity::Error,
        title: "value not allowed",
        rationale: "the field takes one of a fixed set of values.",
        fix: "use one of the listed values.",
        source: "schemas/environment.schema.json",
    },
    Rule {
        code: "KG106",
        severity: Severity::Error,
        title: "malformed value",
        rationale: "versions, names and URLs have upstream formats (Istio chart versions have no `v`, KServe tags do).",
        fix: "write the value in the form shown in the hint.",
        source: "schemas/environment.schema.json",
    },
    Rule {
        code: "KG107",
        severity: Severity::Error,
        title: "missing required field",
        rationale: "the merged environment (file plus layers) must say what kgen cannot guess.",
        fix: "set the field in the environment or in a layer it extends.",
        source: "schemas/environment.schema.json",
    },
    Rule {
        code: "KG108",
        severity: Severity::Error,
        title: "input exceeds environment-file limits",
        rationale: "environment files are small; huge, deep or alias-expanding input is rejected fast with bounded memory.",
        fix: "keep files under 1 MiB, 100,000 nodes and 64 levels of nesting.",
        source: "SPEC §3",
    },
    Rule {
        code: "KG109",
        severity: Severity::Error,
        title: "file is not UTF-8",
        rationale: "YAML files are UTF-8.",
        fix: "re-save the file as UTF-8.",
        source: "https://yaml.org/spec/1.2.2/#character-encodings",
    },
    Rule {
        code: "KG110",
        severity: Severity::Error,
        title: "empty file",
        rationale: "an empty file is most likely a mistake.",
        fix: "add `apiVersion: kgen/v1` and `kind: Environment`, or delete the file.",
        source: "SPEC §3",
    },
    Rule {
        code: "KG111",
        severity: Severity::Error,
        title: "invalid environment name",
        rationale: "names become folder names and Kubernetes names: lower-case letters, digits and `-`.",
        fix: "rename the file (`prod-eu-1.yaml`, layers `_base.yaml`).",
        source: "SPEC §3",
    },
    Rule {
        code: "KG112",
        severity: Severity::Error,
        title: "`extends` names a missing layer",
        rationale: "the layer is needed to know the merged environment.",
        fix: "create `environments/_name.yaml` or fix the name.",
        source: "SPEC §3",
    },
    Rule {
        code: "KG113",
        severity: Severity::Error,
        title: "`extends` cycle",
        rationale: "layers form a chain; a cycle has no root.",
        fix: "break the cycle.",
        source: "SPEC §3",
    },
    Rule {
        code: "KG115",
        severity: Severity::Error,
        title: "unknown environment",
        rationale: "the command names an environment that has no file.",
        fix: "use a name from `kgen list`.",
        source: "SPEC §6",
    },
    Rule {
        code: "KG201",
        severity: Severity::Error,
        title: "unknown KServe version",
        rationale: "kgen only renders releases whose pins, charts and vocabulary it knows.",
        fix: "pick a release from `kgen versions`.",
        source: "catalog/catalog.yaml",
    },
    Rule {
        code: "KG202",
        severity: Severity::Error,
        title: "Kubernetes older than the release supports",
        rationale: "the minimum is the highest of KServe's own and each component's minimum (Istio 1.27 needs 1.29, KServe v0.20 needs 1.32).",
        fix: "upgrade the cluster or pin an older KServe release.",
        source: "https://kserve.github.io/website/docs/admin-guide/kubernetes-deployment",
    },
    Rule {
        code: "KG203",
        severity: Severity::Warning,
        title: "legacy deployment-mode name",
        rationale: "from v0.16.0 KServe calls the modes `Knative` and `Standard`; `Serverless`/`RawDeployment` are deprecated aliases.",
        fix: "write `Knative` or `Standard`.",
        source: "https://github.com/kserve/kserve/pull/4608",
    },
    Rule {
        code: "KG204",
        severity: Severity::Error,
        title: "no version for a needed component",
        rationale: "the KServe release predates the component, so the catalog has no tested pin.",
        fix: "set the version under `versions`.",
        source: "catalog/catalog.yaml",
    },
    Rule {
        code: "KG301",
        severity: Severity::Warning,
        title: "mesh configured but unused",
        rationale: "in Standard mode the mesh is only used through an Istio IngressClass or an Istio GatewayClass; otherwise it is cost without benefit.",
        fix: "set `mesh.provider: none`, or route KServe through Istio.",
        source: FACTS,
    },
    Rule {
        code: "KG302",
        severity: Severity::Error,
        title: "upstream Istio on OpenShift",
        rationale: "upstream Istio charts need the OpenShift profile and Istio CNI there; OpenShift Service Mesh is the supported mesh.",
        fix: "use `mesh.provider: ossm2` or `ossm3`, or set `mesh.allowUpstreamIstioOnOpenShift: true`.",
        source: "https://github.com/istio/istio/blob/1.27.1/manifests/charts/install-OpenShift.md",
    },
    Rule {
        code: "KG303",
        severity: Severity::Warning,
        title: "sidecar auto-injection enabled",
        rationale: "KServe does not need sidecars in every pod and its own installs disable injection (`global.proxy.autoInject: disabled`).",
        fix: "remove `mesh.sidecarAutoInject: true` and inject per workload.",
        source: "https://github.com/istio/istio/blob/1.27.1/manifests/charts/istio-control/istio-discovery/values.yaml",
    },
    Rule {
        code: "KG304",
        severity: Severity::Error,
        title: "OpenShift Service Mesh on plain Kubernetes",
        rationale: "OSSM is installed through OpenShift's OLM catalog.",
        fix: "use `mesh.provider: istio` on Kubernetes.",
        source: "https://docs.openshift.com/service-mesh",
    },
    Rule {
        code: "KG401",
        severity: Severity::Error,
        title: "Knative mode without a networking layer",
        rationale: "Knative Serving needs an ingress (net-istio); without one InferenceServices never become ready.",
        fix: "set `mesh.provider` (istio on Kubernetes, ossm2/ossm3 on OpenShift) or use Standard mode.",
        source: "https://kserve.github.io/website/docs/admin-guide/serverless",
    },
    Rule {
        code: "KG402",
        severity: Severity::Error,
        title: "Ingress class without its controller",
        rationale: "Standard mode with `ingress: ingress` creates Ingress objects of `ingressClassName`; the `istio` class needs Istio.",
        fix: "set `mesh.provider: istio`, use `ingress: gatewayApi`, or name an IngressClass your cluster has.",
        source: FACTS,
    },
    Rule {
        code: "KG403",
        severity: Severity::Error,
        title: "Istio GatewayClass without Istio",
        rationale: "`gatewayApi.implementation: istio` needs an Istio control plane to program the Gateway.",
        fix: "set a mesh provider or use `implementation: envoy`.",
        source: FACTS,
    },
    Rule {
        code: "KG501",
        severity: Severity::Error,
        title: "Gateway API ingress on a release without it",
        rationale: "`enableGatewayApi` exists from KServe v0.15.",
        fix: "use `ingress: ingress` or a newer KServe release.",
        source: FACTS,
    },
    Rule {
        code: "KG502",
        severity: Severity::Error,
        title: "runtimes cannot be left out on this release",
        rationale: "up to v0.16.x the `kserve` chart always installs the ClusterServingRuntimes; only the `kserve-runtime-configs` chart (v0.17.0+) makes them optional.",
        fix: "remove `kserve.installRuntimes: false` or use KServe v0.17.0 or newer.",
        source: FACTS,
    },
    Rule {
        code: "KG601",
        severity: Severity::Error,
        title: "GitOps engine without a repository",
        rationale: "Argo CD and Flux objects point at the Git repository holding the rendered tree.",
        fix: "set `gitops.repoUrl` (usually in `_base`).",
        source: "SPEC §5",
    },
];

/// The rule with this code.
pub fn rule(code: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.code == code)
}

fn diag(code: &'static str, message: String) -> Diagnostic {
    let r = rule(code).expect("rule codes used in checks are in RULES");
    let d = match r.severity {
        Severity::Error => Diagnostic::error(code, message),
        Severity::Warning => Diagnostic::warning(code, message),
    };
    d.hint(r.fix)
}

/// Catalog pins the environment needs (components kgen installs from charts or Git).
pub fn needed_pins(r: &Resolved) -> Vec<&'static str> {
    let e = &r.env;
    let k8s = e.cluster.platform == Platform::Kubernetes;
    let standard_gw = !r.knative_mode() && e.kserve.ingress == IngressFlavour::GatewayApi;
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
        out.push(r.diag_at(
            diag("KG203", format!("`{}` is the legacy name of `{canonical}` since KServe v0.16.0 (this environment pins {})", e.kserve.deployment_mode.as_str(), r.release.version))
                .label(format!("write `{canonical}`")),
            "/kserve/deploymentMode",
        ));
    }

    // KG204: a needed component has no version.
    let needed = needed_pins(r);
    for pin in &needed {
        if r.pin(pin).is_none() {
            out.push(
                r.diag_at(
                    diag(
                        "KG204",
                        format!("KServe {} has no tested `{pin}` version", r.release.version),
                    )
                    .hint(format!("set `versions.{pin}`")),
                    "/kserve/version",
                ),
            );
        }
    }

    // KG202: Kubernetes minimum over KServe and the components actually installed.
    let used: std::collections::BTreeMap<String, String> = r
        .pins
        .iter()
        .filter(|(k, _)| needed.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let (min, why) = cat.kubernetes_minimum(r.release, &used);
    if let Some(have) = Version::parse(&e.cluster.kubernetes_version)
        && have.minor() < min.minor()
    {
        out.push(r.diag_at(
            diag("KG202", format!("Kubernetes {} is older than {min}, the minimum for this environment (set by {why})", e.cluster.kubernetes_version))
                .label(format!("needs ≥ {min}")),
            "/cluster/kubernetesVersion",
        ));
    }

    // KG304 / KG302: the mesh must fit the platform.
    if !openshift && matches!(mesh, MeshProvider::Ossm2 | MeshProvider::Ossm3) {
        out.push(r.diag_at(
            diag(
                "KG304",
                format!(
                    "`{}` is OpenShift Service Mesh, but the platform is kubernetes",
                    mesh.as_str()
                ),
            ),
            "/mesh/provider",
        ));
    }
    if openshift && mesh == MeshProvider::Istio && !e.mesh.allow_upstream_istio_on_openshift {
        out.push(r.diag_at(
            diag(
                "KG302",
                "OpenShift uses OpenShift Service Mesh, not upstream Istio charts".into(),
            ),
            "/mesh/provider",
        ));
    }

    // KG303: sidecar injection.
    if mesh.is_istio_family() && e.mesh.sidecar_auto_inject {
        out.push(r.diag_at(
            diag("KG303", "sidecar auto-injection is enabled".into()),
            "/mesh/sidecarAutoInject",
        ));
    }

    if r.knative_mode() {
        // KG401: Knative needs a networking layer.
        if mesh == MeshProvider::None {
            out.push(r.diag_at(
                diag("KG401", "Knative mode needs Knative Serving and a networking layer, but `mesh.provider` is none".into()),
                "/mesh/provider",
            ));
        }
    } else {
        let istio_ingress_class =
            e.kserve.ingress == IngressFlavour::Ingress && e.kserve.ingress_class_name == "istio";
        let istio_gateway_class = e.kserve.ingress == IngressFlavour::GatewayApi
            && e.gateway_api.implementation == GatewayImplementation::Istio;
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
                diag("KG403", "`gatewayApi.implementation: istio` needs an Istio mesh, but `mesh.provider` is none".into()),
                "/gatewayApi/implementation",
            ));
        }
        // KG501: Gateway API ingress needs a release that supports it.
        if e.kserve.ingress == IngressFlavour::GatewayApi && !r.release.gateway_api_ingress {
            out.push(r.diag_at(
                diag("KG501", format!("KServe {} cannot route through Gateway API (`enableGatewayApi` arrived in v0.15)", r.release.version)),
                "/kserve/ingress",
            ));
        }
    }

    // KG502: runtimes are part of the main chart before v0.17.0.
    if !e.kserve.install_runtimes && !r.release.runtime_configs_chart {
        out.push(r.diag_at(
            diag(
                "KG502",
                format!(
                    "KServe {} always installs its serving runtimes",
                    r.release.version
                ),
            ),
            "/kserve/installRuntimes",
        ));
    }

    // KG601: GitOps engines need the repository.
    if matches!(e.gitops.engine, GitopsEngine::Argocd | GitopsEngine::Flux)
        && e.gitops.repo_url.is_none()
    {
        out.push(r.diag_at(
            diag(
                "KG601",
                format!(
                    "`gitops.engine: {}` needs `gitops.repoUrl`",
                    engine_name(e.gitops.engine)
                ),
            ),
            "/gitops",
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
        let codes: Vec<&str> = RULES.iter().map(|r| r.code).collect();
        let mut sorted = codes.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(codes, sorted);
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 5 && c.starts_with("KG") && c[2..].parse::<u16>().is_ok())
        );
    }
}
