//! Compatibility rules of the environment stage: the Kubernetes range of KServe and of every
//! component the environment actually installs (KG202, KG210), the Gateway API an Envoy Gateway
//! release is built for (KG211), the Gateway API CRDs OpenShift owns (KG212) and Knative
//! operator releases kgen has no facts about (KG213). The facts are the catalog's
//! (`kubernetesMinimums`, `knativeOperators`, `envoyGatewayGatewayApi`, `openshiftPlatform`),
//! each with its source.
//!
//! What an environment installs is its render plan: the pins the plan uses (Knative only in
//! Knative mode on Kubernetes, not on OpenShift where OLM installs Serverless; Istio only with
//! upstream Istio or Sail; the Gateway API CRDs only when kgen installs them; …) plus KServe.

use std::collections::BTreeMap;

use super::{RuleCode, diag};
use crate::catalog::{self, Catalog, KNATIVE_OPERATOR, KNATIVE_SERVING, KnativeOperator, Release};
use crate::config::model::Platform;
use crate::config::resolve::{PinSource, Resolved};
use crate::diag::Diagnostic;
use crate::render::plan::Plan;
use crate::version::Version;

/// Where the cluster's Kubernetes version is written.
const KUBERNETES_VERSION: &str = "/cluster/kubernetesVersion";

/// What one installed piece (KServe itself or a pinned component) needs of Kubernetes.
#[derive(Debug, Clone)]
struct Need {
    /// Pin name, or `None` for KServe itself.
    pin: Option<String>,
    /// Its version.
    version: String,
    /// Oldest Kubernetes it supports.
    minimum: Version,
    /// Newest Kubernetes it supports, where upstream publishes one.
    maximum: Option<Version>,
    /// Where the facts come from.
    source: String,
}

impl Need {
    /// `Knative Serving 1.21.1`, `KServe v0.20.0`.
    fn name(&self, cat: &Catalog) -> String {
        match &self.pin {
            Some(pin) => format!("{} {}", cat.component_name(pin), self.version),
            None => format!("KServe {}", self.version),
        }
    }
}

/// What KServe and each pinned component of `pins` need of Kubernetes, for `release`.
fn needs(cat: &Catalog, release: &Release, pins: &BTreeMap<&str, &str>) -> Vec<Need> {
    let mut out = Vec::new();
    if let Some(own) = &release.kubernetes_minimum
        && let Some(minimum) = Version::parse(&own.kubernetes)
    {
        out.push(Need {
            pin: None,
            version: release.version.clone(),
            minimum,
            maximum: None,
            source: own.source.clone(),
        });
    }
    for (pin, version) in pins {
        if let Some(m) = cat.component_minimum(pin, version)
            && let Some(minimum) = Version::parse(m.kubernetes)
        {
            out.push(Need {
                pin: Some(pin.to_string()),
                version: version.to_string(),
                minimum,
                maximum: m.maximum.and_then(Version::parse),
                source: m.source.to_string(),
            });
        }
    }
    out
}

/// The cluster's Kubernetes version, if it parses (the schema requires a `major.minor`).
fn cluster(r: &Resolved) -> Option<Version> {
    Version::parse(&r.env.cluster.kubernetes_version)
}

/// `1.33` for a `Version` of a Kubernetes minor.
fn minor(v: &Version) -> String {
    let (major, minor) = v.minor();
    format!("{major}.{minor}")
}

/// KG202: Kubernetes older than KServe or a component this environment installs supports.
pub(super) fn kubernetes_minimum(r: &Resolved, plan: &Plan, out: &mut Vec<Diagnostic>) {
    let Some(have) = cluster(r) else { return };
    let cat = catalog::get();
    let used = plan.versions();
    let mut short: Vec<Need> =
        needs(cat, r.release, &used).into_iter().filter(|n| have.minor() < n.minimum.minor()).collect();
    if short.is_empty() {
        return;
    }
    // The highest minimum is the one to meet; the others are named after it.
    short.sort_by(|a, b| b.minimum.cmp(&a.minimum));
    let top = &short[0];
    let written = &r.env.cluster.kubernetes_version;
    let mut message = format!(
        "Kubernetes {written} is older than {}, the minimum of {} ({})",
        minor(&top.minimum),
        top.name(cat),
        top.source
    );
    let others: Vec<String> =
        short[1..].iter().map(|n| format!("{} needs {}", n.name(cat), minor(&n.minimum))).collect();
    if !others.is_empty() {
        message.push_str(&format!("; also {}", others.join(", ")));
    }
    let d = diag(RuleCode::KG202, message)
        .label(format!("needs ≥ {}", minor(&top.minimum)))
        .hint(fix_hint(cat, r, plan, &have, &short));
    out.push(r.diag_at(d, KUBERNETES_VERSION));
}

/// The fixes of a KG202, most specific first: the `versions.*` overrides that keep this KServe
/// release on this cluster, the newest KServe release that fits it, a cluster upgrade.
fn fix_hint(cat: &Catalog, r: &Resolved, plan: &Plan, have: &Version, short: &[Need]) -> String {
    let k = minor(have);
    let mut fixes = Vec::new();
    if let Some(overrides) = fitting_overrides(cat, r, have, short) {
        let set: Vec<String> = overrides.iter().map(|(pin, v)| format!("`versions.{pin}: {v}`")).collect();
        fixes.push(format!(
            "to keep KServe {} on Kubernetes {k}, set {} (the newest versions that run on {k}, no newer than the release's pins and no older than any KServe release's)",
            r.release.version,
            set.join(" and ")
        ));
    }
    match newest_release_that_fits(cat, r, plan, have) {
        Some(rel) => fixes.push(format!(
            "use KServe {} (`kserve.version: {}`), the newest release whose own pins run on Kubernetes {k}",
            rel.version, rel.version
        )),
        None => fixes.push(format!("no KServe release in kgen's catalog runs this environment on Kubernetes {k}")),
    }
    fixes.push(format!("upgrade the cluster to Kubernetes {} or newer", minor(&short[0].minimum)));
    let mut hint = fixes.join("; or ");
    hint.push_str(". kgen changes no pin by itself: write the one you choose into the environment");
    hint
}

/// The `versions.*` overrides (pin, version) that make every component in `short` run on
/// `have` while keeping the KServe release, or `None` when there are none (KServe itself needs
/// a newer Kubernetes, or no known version of a component fits). A version qualifies when it is
/// no newer than the environment's pin (the release was not tested with newer ones) and no
/// older than the oldest pin any catalog release has for that component ("what KServe
/// supports"); among those, the newest. The Knative operator and Knative Serving move together:
/// the newest operator that runs on `have`, with the newest Serving it bundles.
fn fitting_overrides(cat: &Catalog, r: &Resolved, have: &Version, short: &[Need]) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut knative = false;
    for n in short {
        let pin = n.pin.as_deref()?; // KServe's own minimum: no override helps
        if pin == KNATIVE_OPERATOR || pin == KNATIVE_SERVING {
            knative = true;
            continue;
        }
        let current = Version::parse(&n.version)?;
        let floor = oldest_pin(cat, pin)?;
        let best = known_versions(cat, pin)
            .into_iter()
            .filter(|v| Version::parse(v).is_some_and(|x| x <= current && x >= floor))
            .filter(|v| runs_on(cat, pin, v, have))
            .max_by_key(|v| Version::parse(v))?;
        out.push((pin.to_string(), best.to_string()));
    }
    if knative {
        let (op, serving) = knative_fit(cat, r, have)?;
        for (pin, v) in [(KNATIVE_OPERATOR, op.version.as_str()), (KNATIVE_SERVING, serving)] {
            if r.pin(pin) != Some(v) {
                out.push((pin.to_string(), v.to_string()));
            }
        }
    }
    out.sort();
    Some(out)
}

/// Whether a component version's minimum is at or below `have`.
fn runs_on(cat: &Catalog, pin: &str, version: &str, have: &Version) -> bool {
    cat.component_minimum(pin, version)
        .and_then(|m| Version::parse(m.kubernetes))
        .is_some_and(|m| m.minor() <= have.minor())
}

/// Every version any catalog release pins for a component.
fn known_versions<'c>(cat: &'c Catalog, pin: &str) -> Vec<&'c str> {
    let mut v: Vec<&str> = cat.releases.iter().filter_map(|rel| rel.pins.get(pin).map(String::as_str)).collect();
    v.sort();
    v.dedup();
    v
}

/// The oldest version any catalog release pins for a component.
fn oldest_pin(cat: &Catalog, pin: &str) -> Option<Version> {
    known_versions(cat, pin).into_iter().filter_map(Version::parse).min()
}

/// The newest Knative operator that runs on `have`, no newer than the environment's, with the
/// newest Knative Serving it bundles that runs on `have`, is no newer than the environment's
/// and no older than the oldest Serving a catalog release pins.
fn knative_fit<'c>(cat: &'c Catalog, r: &Resolved, have: &Version) -> Option<(&'c KnativeOperator, &'c str)> {
    let current_op = Version::parse(r.pin(KNATIVE_OPERATOR)?)?;
    let current_serving = Version::parse(r.pin(KNATIVE_SERVING)?)?;
    let floor = oldest_pin(cat, KNATIVE_SERVING)?;
    cat.knative_operators()
        .iter()
        .rev()
        .filter(|o| Version::parse(&o.version).is_some_and(|v| v <= current_op))
        .filter(|o| runs_on(cat, KNATIVE_OPERATOR, &o.version, have))
        .find_map(|o| {
            let serving = o.servings.iter().rev().find(|s| {
                Version::parse(s).is_some_and(|v| v <= current_serving && v >= floor)
                    && runs_on(cat, KNATIVE_SERVING, s, have)
            })?;
            Some((o, serving.as_str()))
        })
}

/// The newest KServe release that can render this environment (its features) and whose own
/// pins (the environment's `versions.*` overrides kept) run on `have`.
fn newest_release_that_fits<'c>(cat: &'c Catalog, r: &Resolved, plan: &Plan, have: &Version) -> Option<&'c Release> {
    let mut releases: Vec<&Release> = cat.releases.iter().collect();
    releases.sort_by_key(|rel| std::cmp::Reverse(Version::parse(&rel.version)));
    releases.into_iter().find(|rel| {
        // What this environment needs of a release besides its pins.
        if r.gateway_api_ingress() && !rel.gateway_api_ingress {
            return false;
        }
        if !r.env.kserve.install_runtimes && !rel.runtime_configs_chart {
            return false;
        }
        let mut pins: BTreeMap<&str, &str> = BTreeMap::new();
        for name in plan.pins.keys() {
            let overridden = r.pin_sources.get(name) == Some(&PinSource::Override);
            let version = if overridden { r.pin(name) } else { rel.pins.get(name).map(String::as_str) };
            match version {
                Some(v) => pins.insert(name, v),
                None => return false, // the release predates a component this environment needs
            };
        }
        needs(cat, rel, &pins).iter().all(|n| n.minimum.minor() <= have.minor())
    })
}

/// KG210: Kubernetes newer than a component's supported range.
pub(super) fn kubernetes_maximum(r: &Resolved, plan: &Plan, out: &mut Vec<Diagnostic>) {
    let Some(have) = cluster(r) else { return };
    let cat = catalog::get();
    for n in needs(cat, r.release, &plan.versions()) {
        let Some(max) = &n.maximum else { continue };
        if have.minor() > max.minor() {
            let d = diag(
                RuleCode::KG210,
                format!(
                    "Kubernetes {} is newer than {} supports (up to {}: {})",
                    r.env.cluster.kubernetes_version,
                    n.name(cat),
                    minor(max),
                    n.source
                ),
            )
            .label(format!("{} supports ≤ {}", n.name(cat), minor(max)));
            out.push(r.diag_at(d, KUBERNETES_VERSION));
        }
    }
}

/// KG211: the Gateway API CRDs kgen installs are not the release the Envoy Gateway is built on.
pub(super) fn envoy_gateway_api(r: &Resolved, plan: &Plan, out: &mut Vec<Diagnostic>) {
    let cat = catalog::get();
    let used = plan.versions();
    let (Some(eg), Some(gwapi)) = (used.get("envoyGateway"), used.get("gatewayApi")) else { return };
    let Some(built) = cat.envoy_gateway_gateway_api(eg) else { return };
    let (Some(want), Some(got)) = (Version::parse(&built.gateway_api), Version::parse(gwapi)) else { return };
    if want.minor() != got.minor() {
        let d = diag(
            RuleCode::KG211,
            format!(
                "Envoy Gateway {eg} is built against Gateway API {}, but this environment installs the Gateway API CRDs of {gwapi} ({})",
                built.gateway_api, built.source
            ),
        )
        .label(format!("Envoy Gateway {eg} supports Gateway API {}", built.gateway_api));
        out.push(r.diag_at_any(d, &["/versions/gatewayApi", "/versions/envoyGateway", "/kserve/version"]));
    }
}

/// KG212: kgen would install the Gateway API CRDs on an OpenShift whose Ingress Operator owns them.
pub(super) fn openshift_gateway_api_crds(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    let e = &r.env;
    let cat = catalog::get();
    if e.cluster.platform != Platform::Openshift
        || !r.gateway_api_ingress()
        || !e.gateway_api.install_crds
        || !cat.openshift_manages_gateway_api_crds(&e.cluster.kubernetes_version)
    {
        return;
    }
    let from = &cat.openshift_platform.gateway_api_crds_managed_from;
    let openshift = cat
        .openshift_for_kubernetes(&e.cluster.kubernetes_version)
        .map_or_else(|| format!("{}+", from.openshift), |o| o.openshift.clone());
    let d = diag(
        RuleCode::KG212,
        format!(
            "OpenShift {openshift} (Kubernetes {}) installs the Gateway API CRDs itself and its Ingress Operator owns them; CRDs kgen applied would be overwritten, or, where they differ, block cluster updates ({})",
            e.cluster.kubernetes_version, from.source
        ),
    )
    .label("OpenShift manages these CRDs");
    out.push(r.diag_at(d, "/gatewayApi/installCrds"));
}

/// KG213: a Knative operator release kgen has no facts about.
pub(super) fn unknown_knative_operator(r: &Resolved, plan: &Plan, out: &mut Vec<Diagnostic>) {
    let cat = catalog::get();
    let Some(op) = plan.versions().get(KNATIVE_OPERATOR).copied() else { return };
    if cat.knative_operator(op).is_some() {
        return;
    }
    let ops = cat.knative_operators();
    let (first, last) = (ops.first().map_or("", |o| o.version.as_str()), ops.last().map_or("", |o| o.version.as_str()));
    let d = diag(
        RuleCode::KG213,
        format!(
            "the Knative operator {op} is not in kgen's catalog ({first} to {last}): its Kubernetes minimum and the Knative Serving versions it bundles are not checked"
        ),
    )
    .label("unknown to kgen");
    out.push(r.diag_at_any(d, &["/versions/knativeOperator", "/kserve/version"]));
}
