//! Rules against the previous render (stage `history`): what the cluster already has, as the
//! previous `kgen.lock.json` records it, constrains what the new render may do.

use super::RuleCode;
use super::diag;
use crate::catalog;
use crate::config::resolve::Resolved;
use crate::diag::Diagnostic;
use crate::lock::Lock;
use crate::render::plan::Plan;
use crate::version::Version;

/// One history rule: the codes it raises and its check.
struct Check {
    codes: &'static [RuleCode],
    run: fn(&Resolved, &Plan, &Lock, &mut Vec<Diagnostic>),
}

/// Every history rule, in the order they run: (codes, check). A test keeps it equal to the
/// catalog's history rules.
const CHECKS: &[Check] = &[
    Check { codes: &[RuleCode::KG206], run: gateway_api_downgrade },
    Check { codes: &[RuleCode::KG209], run: |r, plan, previous, out| out.extend(moved_releases(r, plan, previous)) },
    Check { codes: &[RuleCode::KG607], run: model_namespaces_leaving },
    Check { codes: &[RuleCode::KG608], run: crds_leaving },
    Check {
        codes: &[RuleCode::KG220, RuleCode::KG221, RuleCode::KG222, RuleCode::KG223, RuleCode::KG224, RuleCode::KG225],
        run: upgrade_skew,
    },
];

/// Runs the history rules; `plan` is what the new render installs, `previous` the
/// `kgen.lock.json` of the previous render.
pub fn check(r: &Resolved, plan: &Plan, previous: &Lock) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for c in CHECKS {
        let before = out.len();
        (c.run)(r, plan, previous, &mut out);
        debug_assert!(out[before..].iter().all(|d| c.codes.contains(&d.code)), "{:?}", &out[before..]);
    }
    out
}

/// KG206: Gateway API v1.5+ installs an admission policy that denies older CRD bundles.
fn gateway_api_downgrade(r: &Resolved, plan: &Plan, previous: &Lock, out: &mut Vec<Diagnostic>) {
    let facts = &catalog::get().rule_facts;
    let safe = Version::parse(&facts.gateway_api_safe_upgrades_from).expect("catalog version parses");
    let before = previous.versions.get("gatewayApi").map(String::as_str);
    let now = plan.versions().get("gatewayApi").copied();
    if let (Some(before), Some(now)) = (before, now)
        && let (Some(b), Some(n)) = (Version::parse(before), Version::parse(now))
        && b >= safe
        && n < safe
    {
        out.push(r.diag_at_any(
            diag(
                RuleCode::KG206,
                format!(
                    "the cluster has Gateway API {before}, whose `safe-upgrades.gateway.networking.k8s.io` policy denies the {now} CRDs this render installs"
                ),
            )
            .label(format!("a downgrade from {before}")),
            &["/versions/gatewayApi", "/kserve/version"],
        ));
    }
}

/// KG220–KG225: each component moves no further in one sync than its upstream supports
/// (`upgradePolicies` in the catalog, judged by [`crate::skew`]).
fn upgrade_skew(r: &Resolved, plan: &Plan, previous: &Lock, out: &mut Vec<Diagnostic>) {
    let now = plan.versions();
    for s in crate::skew::assess(&previous.versions, &previous.kserve.version, &now, &r.release.version) {
        let pointer = format!("/versions/{}", s.component);
        let label = if s.skipped.is_empty() {
            format!("the cluster has {}", s.old)
        } else {
            format!("the cluster has {}; {} in between", s.old, s.skipped.join(", "))
        };
        let d = diag(s.code, s.message).label(label).hint(s.advice);
        out.push(r.diag_at_any(d, &[&pointer, "/kserve/version"]));
    }
}

/// The field that decides a release's namespace, and its key path.
pub fn namespace_field(release: &str) -> Option<(&'static str, &'static str)> {
    Some(match release {
        "knative-operator" => ("/knative/operatorNamespace", "knative.operatorNamespace"),
        "cert-manager" => ("/certManager/namespace", "certManager.namespace"),
        "istio-base" | "istiod" | "istio-ingressgateway" => ("/mesh/namespace", "mesh.namespace"),
        "kserve-crd"
        | "kserve"
        | "kserve-runtime-configs"
        | "kserve-llmisvc-crd"
        | "kserve-llmisvc-resources"
        | "kserve-localmodel-crd"
        | "kserve-localmodel-resources" => ("/kserve/namespace", "kserve.namespace"),
        _ => return None,
    })
}

/// KG209: a Helm release keeps its namespace. Helm cannot move one; Argo CD and Flux install a
/// second copy and uninstall the first, and charts whose CRDs are templates (kserve-crd, the
/// Knative operator) take every custom resource of those kinds with them.
fn moved_releases(r: &Resolved, plan: &Plan, previous: &Lock) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for rel in &plan.releases {
        let old = previous.release(&rel.name).map(|b| b.namespace.as_str()).filter(|ns| *ns != rel.namespace);
        let Some(old) = old else { continue };
        let message = format!(
            "Helm release `{}` would move from namespace `{old}` to `{}`: Helm cannot move a release, so it would be installed again and the old one uninstalled",
            rel.name, rel.namespace
        );
        let mut d = diag(RuleCode::KG209, message).label(format!("the cluster has it in `{old}`"));
        let pointers: Vec<&str> = match namespace_field(&rel.name) {
            Some((pointer, key)) => {
                d = d.hint(format!("keep it where it is: `{key}: {old}`"));
                vec![pointer, "/kserve/version"]
            }
            None => vec!["/kserve/version"],
        };
        out.push(r.diag_at_any(d, &pointers));
    }
    out
}

/// The model namespaces of the previous render that this one no longer lists.
pub fn model_namespaces_left(r: &Resolved, previous: &Lock) -> Vec<String> {
    let now: Vec<&str> = r.env.kserve.model_namespaces.iter().map(|n| n.0.as_str()).collect();
    previous.kserve.model_namespaces.iter().filter(|n| !now.contains(&n.as_str())).cloned().collect()
}

/// KG607: a namespace that held models leaves `kserve.modelNamespaces`.
fn model_namespaces_leaving(r: &Resolved, _plan: &Plan, previous: &Lock, out: &mut Vec<Diagnostic>) {
    for ns in model_namespaces_left(r, previous) {
        let message = format!(
            "namespace `{ns}` held this environment's models (the previous render lists it in `kserve.modelNamespaces`) and is no longer listed: kgen stops managing it, and deleting it deletes every InferenceService in it"
        );
        let d = diag(RuleCode::KG607, message)
            .label(format!("the cluster has `{ns}`"))
            .hint(format!("keep `{ns}` listed; to retire it, follow the procedure of docs/gitops.md and acknowledge it with `ignore: [{{rule: KG607, reason: …}}]`"));
        out.push(r.diag_at_any(d, &["/kserve/modelNamespaces", "/kserve"]));
    }
}

/// What installs CRDs in the previous render and is not in this one: Helm releases whose chart
/// installs CRDs (the catalog's `lifecycle`) and CRD bundles, as `release/<name>` and
/// `crds/<name>`.
pub fn crd_owners_left(plan: &Plan, previous: &Lock) -> Vec<String> {
    let cat = catalog::get();
    let mut out: Vec<String> = previous
        .releases
        .iter()
        .filter(|b| cat.lifecycle.get(&b.name).is_some_and(|l| l.owns_crds))
        .filter(|b| !plan.releases.iter().any(|rel| rel.name == b.name))
        // A release whose CRDs the render now applies from their source instead keeps them
        // managed ([`catalog::Catalog::crd_replacement`]).
        .filter(|b| !cat.crd_replacement(&b.name).is_some_and(|src| plan.crd_sources.iter().any(|s| s.name == src)))
        .map(|b| format!("release/{}", b.name))
        .collect();
    out.extend(
        previous
            .crd_sources
            .iter()
            .filter(|b| !plan.crd_sources.iter().any(|s| s.name == b.name))
            // A CRD source whose chart now installs the CRDs again (another engine) keeps them
            // managed.
            .filter(|b| !plan.releases.iter().any(|p| cat.crd_replacement(&p.name) == Some(b.name.as_str())))
            .map(|b| format!("crds/{}", b.name)),
    );
    out
}

/// The field that decides whether a CRD owner is installed, for locating the diagnostic.
fn crd_owner_field(id: &str) -> &'static str {
    match id {
        "release/cert-manager" => "/certManager/install",
        "release/keda" => "/autoscaling/keda",
        "release/opentelemetry-operator" => "/autoscaling/openTelemetry",
        "release/kserve-llmisvc-crd" | "release/kserve-llmisvc-resources" => "/llm/enabled",
        "release/lws" => "/llm/leaderWorkerSet",
        "release/envoy-ai-gateway-crds" | "crds/llmisvc" => "/llm/enabled",
        "release/kserve-localmodel-crd" => "/localModel/enabled",
        "release/istio-base" => "/mesh/provider",
        "release/knative-operator" => "/kserve/deploymentMode",
        "release/envoy-gateway-crds" => "/gatewayApi/implementation",
        "crds/gatewayApi" => "/gatewayApi/installCrds",
        _ => "/kserve/version",
    }
}

/// KG608: a release whose chart installs CRDs, or a CRD bundle, leaves the render.
fn crds_leaving(r: &Resolved, plan: &Plan, previous: &Lock, out: &mut Vec<Diagnostic>) {
    for id in crd_owners_left(plan, previous) {
        let (kind, name) = id.split_once('/').expect("ids are `kind/name`");
        let what = if kind == "release" { format!("Helm release `{name}`") } else { format!("CRD bundle `{name}`") };
        let message = format!(
            "{what} installed CRDs and is no longer rendered: the engines leave its CRDs in place, unmanaged; deleting one deletes every object of its kind on the cluster"
        );
        let d = diag(RuleCode::KG608, message)
            .label("the previous render installed it".to_string())
            .hint("keep it; to retire it, follow the procedure of docs/gitops.md and acknowledge it with `ignore: [{rule: KG608, reason: …}]`".to_string());
        out.push(r.diag_at_any(d, &[crd_owner_field(&id), "/kserve/version"]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule_code::Stage;

    /// The table holds every history rule of the catalog, each once.
    #[test]
    fn every_history_rule_has_one_check() {
        let mut checked: Vec<RuleCode> = CHECKS.iter().flat_map(|c| c.codes.iter().copied()).collect();
        checked.sort();
        let mut history: Vec<RuleCode> = RuleCode::ALL.into_iter().filter(|c| c.stage() == Stage::History).collect();
        history.sort();
        assert_eq!(checked, history);
    }
}
