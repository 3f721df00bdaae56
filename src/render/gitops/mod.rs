//! The GitOps layer: what applies the values and manifests, in the order of the plan's
//! dependency graph. Argo CD gets one Application per graph node and a root app-of-apps; Flux
//! gets one Kustomization per graph node (`dependsOn` = the node's needs) with HelmReleases
//! inside; `none` gets an ordered, idempotent `install.sh`. Every order is derived from
//! [`super::plan::Plan::graph`]; nothing is numbered by hand.
//!
//! Each engine is one module ([`argocd`], [`flux`], [`none`]) behind one interface, [`Engine`]:
//! its folder, its defaults, whether it reads a Git repository, how it orders what it applies,
//! and its files. [`engine`] is the one place that maps a [`GitopsEngine`] to its module.
//!
//! Adding an engine: add its variant to [`GitopsEngine`] (and to [`GitopsEngine::ALL`]), a
//! module here implementing [`Engine`], and its arm in [`engine`]; the compiler then points at
//! every other place that decides something per engine (the KG602 and KG603 rules read how it
//! applies), as none of them has a catch-all arm. Its templates go under `templates/<name>/`.

pub mod argocd;
pub mod flux;
pub mod none;

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::plan::{ChartRelease, Plan};
use crate::catalog;
use crate::config::model::{GitopsEngine, Platform};
use crate::config::resolve::Resolved;

/// How an engine orders what it applies, as the KG602 rule reads it back from the render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyOrder {
    /// Sync waves (`argocd.argoproj.io/sync-wave`) of Applications, then of the objects in one.
    SyncWaves,
    /// Kustomizations that wait for the Kustomizations in their `dependsOn`.
    DependsOn,
    /// The line order of a script ([`none::SCRIPT`]).
    ScriptLines,
}

/// One GitOps engine: what kgen renders for it, and what the rest of kgen needs to know of it.
pub trait Engine: Sync {
    /// The engine, as environment files name it.
    fn id(&self) -> GitopsEngine;
    /// The folder under `rendered/<env>/` its objects are written to and that it applies from,
    /// if it has one.
    fn folder(&self) -> Option<&'static str>;
    /// Whether it reads the rendered tree from a Git repository: it then needs `gitops.repoUrl`
    /// (KG601) and gets a default `gitops.path`.
    fn needs_repository(&self) -> bool;
    /// The namespace of its own objects when no file sets `gitops.namespace`, and how that was
    /// decided (for `kgen explain`).
    fn default_namespace(&self, platform: Platform) -> Option<(&'static str, &'static str)>;
    /// The cluster it deploys to when no file sets `cluster.server`, and how that was decided.
    fn default_server(&self) -> Option<(&'static str, &'static str)>;
    /// Why a file kgen did not generate, sitting directly in [`Engine::folder`], reaches the
    /// cluster, when the engine applies that whole folder (rather than the files kgen lists).
    fn applies_whole_folder(&self) -> Option<&'static str>;
    /// How it orders what it applies (rule KG602).
    fn apply_order(&self) -> ApplyOrder;
    /// Its files, plus kustomize files that only list others (returned separately: they are
    /// data for kustomize, not Kubernetes objects).
    fn files(&self, r: &Resolved, plan: &Plan) -> (Vec<GitopsFile>, BTreeMap<String, Value>);
}

/// The module of an engine: the one match on [`GitopsEngine`] that picks one.
pub fn engine(e: GitopsEngine) -> &'static dyn Engine {
    match e {
        GitopsEngine::Argocd => &argocd::ArgoCd,
        GitopsEngine::Flux => &flux::Flux,
        GitopsEngine::None => &none::NoEngine,
    }
}

/// Fills in what the environment's engine decides when no file sets it (`gitops.path`,
/// `gitops.namespace`, `cluster.server`), and says how each was decided (for `kgen explain`).
/// The pipeline runs it right after resolve, before anything reads those values.
pub fn derive_defaults(r: &mut crate::config::resolve::Resolved) {
    let engine = engine(r.env.gitops.engine);
    let derived = &mut r.derived;
    let mut fill = |slot: &mut Option<String>, pointer: &str, value: &str, how: &str| {
        if slot.is_none() {
            *slot = Some(value.to_string());
            derived.insert(pointer.to_string(), how.to_string());
        }
    };
    let env = &mut r.env;
    if engine.needs_repository() {
        let path = format!("rendered/{}", r.name);
        fill(&mut env.gitops.path, "/gitops/path", &path, "the folder `kgen render` writes this environment to");
    }
    if let Some((ns, how)) = engine.default_namespace(env.cluster.platform) {
        fill(&mut env.gitops.namespace, "/gitops/namespace", ns, how);
    }
    if let Some((server, how)) = engine.default_server() {
        fill(&mut env.cluster.server, "/cluster/server", server, how);
    }
}

/// The folder of every rendered manifest, which every engine applies (or `kustomize build` reads).
pub const MANIFESTS: &str = "manifests";

/// Whether `folder` (a top-level folder of `rendered/<env>/`) is one a GitOps engine applies an
/// environment from: an engine's own folder or [`MANIFESTS`]. Any engine's, not only the
/// environment's own: a switch of engine leaves the old engine's folder behind. A file there
/// that kgen did not generate may reach the cluster.
pub fn is_applied_folder(folder: &str) -> bool {
    folder == MANIFESTS || GitopsEngine::ALL.iter().any(|e| engine(*e).folder() == Some(folder))
}

/// Whether a path under `rendered/<env>/` is in some engine's folder: a GitOps object.
pub fn is_engine_file(path: &str) -> bool {
    path.split_once('/').is_some_and(|(top, _)| GitopsEngine::ALL.iter().any(|e| engine(*e).folder() == Some(top)))
}

/// The files of the environment's GitOps engine, plus kustomize files that only list others
/// (returned separately: they are data for kustomize, not Kubernetes objects).
pub fn files(r: &Resolved, plan: &Plan) -> (Vec<GitopsFile>, BTreeMap<String, Value>) {
    engine(r.env.gitops.engine).files(r, plan)
}

/// One GitOps file to render: path, template, and the data the template sees under `key`.
#[derive(Debug, Clone)]
pub struct GitopsFile {
    /// Path under `rendered/<env>/`.
    pub path: String,
    /// Template name.
    pub template: &'static str,
    /// Template variable name.
    pub key: &'static str,
    /// Its data.
    pub data: Value,
}

/// Settings every GitOps template sees as `gitops`.
pub fn settings(r: &Resolved) -> Value {
    // Resolving fills these in when no file sets them (`Resolved::derived`), for the engines
    // that use them (the server for Argo CD); install.sh (`none`) uses none of them.
    let e = &r.env.gitops;
    let namespace = e.namespace.clone().unwrap_or_default();
    let path = e.path.clone().unwrap_or_default();
    json!({
        // Argo CD retries a failed automated sync of the same commit only with `retry`. Waves
        // can run ahead of what a cluster has ready (an OLM operator's CRDs and webhooks appear
        // minutes after its Subscription), so child Applications retry without limit (a
        // negative limit), backing off to one attempt every 10 minutes.
        "retry": {"limit": -1, "backoff": {"duration": "30s", "factor": 2, "maxDuration": "10m"}},
        "labels": labels(r),
        "namespace": namespace,
        "path": path,
        "server": r.env.cluster.server.clone().unwrap_or_default(),
    })
}

fn node_id(id: &str) -> (&str, &str) {
    id.split_once('/').expect("graph ids are `kind/name`")
}

/// `gatewayApi` → `gateway-api`: Kubernetes names are lower-case DNS labels.
fn kebab(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            out.push('-');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Kinds whose schema every cluster knows; other objects may need a CRD applied earlier.
fn is_builtin(api_version: &str) -> bool {
    matches!(api_version, "v1" | "apps/v1" | "networking.k8s.io/v1" | "rbac.authorization.k8s.io/v1")
}

/// Labels of every Argo CD and Flux object: one Argo CD can hold a fleet, and `argocd app list -l
/// kgen.dev/cluster=…` finds one cluster's Applications.
fn labels(r: &Resolved) -> Value {
    json!({
        "app.kubernetes.io/managed-by": "kgen",
        "kgen.dev/environment": r.name,
        "kgen.dev/cluster": r.env.cluster.name.as_deref().unwrap_or(&r.name),
    })
}

/// Why a release's chart version must be installed without Helm's values-schema validation:
/// the catalog records that its own `values.schema.json` rejects valid values.
fn broken_schema(rel: &ChartRelease) -> Option<String> {
    let cat = catalog::get();
    cat.broken_values_schemas
        .iter()
        .find(|b| b.release == rel.name && b.version == rel.version)
        .map(|b| b.source.clone())
}

/// The CRDs that OLM installs for the packages this plan subscribes to, one per API group a
/// package provides (the catalog's `olmCrdProbes`): what the phases after the operators need.
fn olm_crds(plan: &Plan) -> Vec<String> {
    let facts = &catalog::get().rule_facts;
    let packages: Vec<String> =
        plan.objects.iter().filter(|o| o.kind == "Subscription").map(|o| format!("package/{}", o.name)).collect();
    let mut crds: Vec<String> = facts
        .crd_providers
        .iter()
        .filter(|(_, providers)| providers.iter().any(|p| packages.contains(p)))
        .filter_map(|(group, _)| facts.olm_crd_probes.get(group).cloned())
        .collect();
    crds.sort();
    crds.dedup();
    crds
}

fn release_by_name<'a>(plan: &'a Plan, name: &str) -> &'a ChartRelease {
    plan.releases.iter().find(|x| x.name == name).expect("graph releases are planned")
}
