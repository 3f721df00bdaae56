//! Argo CD: one Application per graph node, ordered by sync waves, and a root app-of-apps that
//! syncs every file of `argocd/`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{ApplyOrder, Engine, GitopsFile, broken_schema, is_builtin, kebab, node_id, release_by_name};
use crate::catalog;
use crate::config::model::{GitopsEngine, Platform};
use crate::config::resolve::Resolved;
use crate::render::plan::Plan;

/// Sync options of the Applications that own CRDs: no sync prunes what they applied, and no
/// deletion of the Application deletes it (Argo CD docs, user-guide/sync-options.md "No Prune
/// Resources", "No Resource Deletion", at v3.5.1).
const KEEP: [&str; 2] = ["Prune=false", "Delete=false"];

/// Argo CD's name for the cluster it runs in.
const IN_CLUSTER: &str = "https://kubernetes.default.svc";

/// Argo CD.
pub struct ArgoCd;

impl Engine for ArgoCd {
    fn id(&self) -> GitopsEngine {
        GitopsEngine::Argocd
    }
    fn folder(&self) -> Option<&'static str> {
        Some("argocd")
    }
    fn needs_repository(&self) -> bool {
        true
    }
    fn default_namespace(&self, platform: Platform) -> Option<(&'static str, &'static str)> {
        match platform {
            // Red Hat OpenShift GitOps runs its default Argo CD instance in `openshift-gitops`
            // (docs.redhat.com, "Red Hat OpenShift GitOps: Installing GitOps").
            Platform::Openshift => Some(("openshift-gitops", "the namespace of OpenShift GitOps' default Argo CD")),
            Platform::Kubernetes => Some(("argocd", "Argo CD's own namespace")),
        }
    }
    fn default_server(&self) -> Option<(&'static str, &'static str)> {
        Some((IN_CLUSTER, "the cluster Argo CD runs in"))
    }
    fn applies_whole_folder(&self) -> Option<&'static str> {
        Some("the root Application syncs every file in argocd/, so Argo CD would apply it to the cluster")
    }
    fn apply_order(&self) -> ApplyOrder {
        ApplyOrder::SyncWaves
    }
    fn files(&self, r: &Resolved, plan: &Plan) -> (Vec<GitopsFile>, BTreeMap<String, Value>) {
        (files(r, plan), BTreeMap::new())
    }
}

fn files(r: &Resolved, plan: &Plan) -> Vec<GitopsFile> {
    let cat = catalog::get();
    let mut out = Vec::new();
    let mut oci_repos = BTreeMap::new();
    for node in &plan.graph {
        let (kind, name) = node_id(&node.id);
        let app_name = format!("{}-{}", r.name, name);
        let app = match kind {
            "release" => {
                let rel = release_by_name(plan, name);
                let repo_url = match rel.repo.strip_prefix("oci://") {
                    // A hydrated release reads no chart repository, so it needs no credentials.
                    Some(bare) if r.env.gitops.hydrate => bare.to_string(),
                    Some(bare) => {
                        oci_repos.insert(cat.charts[&rel.name].repo_name.clone(), bare.to_string());
                        bare.to_string()
                    }
                    None => rel.repo.clone(),
                };
                let chart = &cat.charts[&rel.name];
                let life = &cat.lifecycle[&rel.name];
                let mut sync = vec!["CreateNamespace=true".to_string()];
                if chart.server_side_apply {
                    // CRDs over the client-side apply annotation limit (InferenceService ~2 MB).
                    sync.push("ServerSideApply=true".into());
                }
                if life.owns_crds {
                    sync.extend(KEEP.iter().map(|s| s.to_string()));
                }
                let ignore: Vec<Value> = life
                    .controller_owned
                    .iter()
                    .map(|o| json!({"group": o.group, "kind": o.kind, "jqPathExpressions": o.jq_path_expressions}))
                    .collect();
                if !ignore.is_empty() {
                    sync.push("RespectIgnoreDifferences=true".into());
                }
                json!({
                    "name": app_name, "wave": node.wave, "release": rel, "repoURL": repo_url,
                    "syncOptions": sync, "skipSchemaValidation": broken_schema(rel), "skipCrds": chart.skip_crds,
                    "ownsCrds": life.owns_crds, "ignoreDifferences": ignore, "hydrated": r.env.gitops.hydrate,
                })
            }
            "crds" => {
                let src = plan.crd_sources.iter().find(|s| s.name == name).expect("planned");
                json!({
                    "name": format!("{}-{}-crds", r.name, kebab(name)), "wave": node.wave,
                    "source": src, "syncOptions": ["ServerSideApply=true", KEEP[0], KEEP[1]],
                })
            }
            _ => {
                let objs: Vec<&crate::render::plan::Object> = plan.objects.iter().filter(|o| o.phase == name).collect();
                let include: Vec<String> =
                    objs.iter().map(|o| o.path().trim_start_matches("manifests/").to_string()).collect();
                let mut sync = vec![];
                if objs.iter().any(|o| !is_builtin(o.api_version)) {
                    // Their CRDs arrive in an earlier wave; a dry run before then would fail.
                    sync.push("SkipDryRunOnMissingResource=true");
                }
                json!({
                    "name": format!("{app_name}-manifests"), "wave": node.wave,
                    "include": format!("{{{}}}", include.join(",")), "syncOptions": sync,
                })
            }
        };
        let template = match kind {
            "release" => "argocd/application-release.yaml",
            "crds" => "argocd/application-crds.yaml",
            _ => "argocd/application-phase.yaml",
        };
        let file_name = app["name"].as_str().expect("named").to_string();
        out.push(GitopsFile { path: format!("argocd/application-{file_name}.yaml"), template, key: "app", data: app });
    }
    for (name, url) in oci_repos {
        let secret = format!("{}-repo-{name}", r.name);
        out.push(GitopsFile {
            path: format!("argocd/secret-{secret}.yaml"),
            template: "argocd/secret-repository.yaml",
            key: "repo",
            data: json!({"secretName": secret, "name": name, "url": url}),
        });
    }
    let root = format!("{}-root", r.name);
    out.push(GitopsFile {
        path: format!("argocd/application-{root}.yaml"),
        template: "argocd/application-root.yaml",
        key: "app",
        data: json!({"name": root}),
    });
    out
}
