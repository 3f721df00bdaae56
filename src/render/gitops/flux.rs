//! Flux: one Kustomization per graph node (`dependsOn` = the node's needs) with HelmReleases
//! inside, the Git and Helm repositories they read, and a bootstrap Kustomization for `flux/`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{ApplyOrder, Engine, GitopsFile, broken_schema, kebab, node_id, release_by_name, settings};
use crate::catalog;
use crate::config::model::{GitopsEngine, Platform};
use crate::config::resolve::Resolved;
use crate::render::plan::Plan;

/// Flux.
pub struct Flux;

impl Engine for Flux {
    fn id(&self) -> GitopsEngine {
        GitopsEngine::Flux
    }
    fn folder(&self) -> Option<&'static str> {
        Some("flux")
    }
    fn needs_repository(&self) -> bool {
        true
    }
    fn default_namespace(&self, _platform: Platform) -> Option<(&'static str, &'static str)> {
        Some(("flux-system", "Flux's own namespace"))
    }
    fn default_server(&self) -> Option<(&'static str, &'static str)> {
        // Flux runs in the cluster it deploys to; its objects name no server.
        None
    }
    fn applies_whole_folder(&self) -> Option<&'static str> {
        // Every Kustomization lists its files (`flux/kustomization.yaml` included).
        None
    }
    fn apply_order(&self) -> ApplyOrder {
        ApplyOrder::DependsOn
    }
    fn files(&self, r: &Resolved, plan: &Plan) -> (Vec<GitopsFile>, BTreeMap<String, Value>) {
        files(r, plan)
    }
}

/// The operators phase is healthy once OLM has installed what it subscribes to, not as soon as
/// its Subscriptions exist (kstatus finds nothing to wait for in them): each Subscription must
/// reach the catalog's installed state, and each CRD the later phases need must be Established.
/// Those CRDs are not objects of the phase, so `wait` (which checks only its own objects) gives
/// way to explicit `healthChecks`.
fn operators_health(plan: &Plan, data: &mut Value) {
    let cat = catalog::get();
    let subs: Vec<&crate::render::plan::Object> = plan
        .objects
        .iter()
        .filter(|o| o.phase == crate::render::plan::PHASE_OPERATORS && o.kind == "Subscription")
        .collect();
    let mut checks: Vec<Value> = subs
        .iter()
        .map(|o| json!({"apiVersion": o.api_version, "kind": o.kind, "name": o.name, "namespace": o.namespace}))
        .collect();
    checks.extend(
        super::olm_crds(plan).into_iter().map(
            |crd| json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "name": crd}),
        ),
    );
    let exprs: Vec<Value> = subs
        .first()
        .map(|o| {
            let current = format!("status.state == '{}'", cat.openshift.subscription_installed_state);
            json!({"apiVersion": o.api_version, "kind": o.kind, "current": current})
        })
        .into_iter()
        .collect();
    data["healthChecks"] = json!(checks);
    data["healthCheckExprs"] = json!(exprs);
}

/// Flux's `GitRepository.spec.ref` for a revision: a full commit SHA checks out that commit, a
/// full ref name (`refs/tags/v1.2.0`) that ref, anything else a branch. A short name cannot say
/// whether it is a branch or a tag, so tags are written as `refs/tags/…`.
pub fn flux_git_ref(revision: &str) -> Value {
    if revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit()) {
        json!({"commit": revision})
    } else if revision.starts_with("refs/") {
        json!({"name": revision})
    } else {
        json!({"branch": revision})
    }
}

fn files(r: &Resolved, plan: &Plan) -> (Vec<GitopsFile>, BTreeMap<String, Value>) {
    let cat = catalog::get();
    let g = settings(r);
    let path = g["path"].as_str().expect("set").to_string();
    let own_source = format!("kgen-{}", r.name);
    let mut out = Vec::new();
    let mut kustomize: BTreeMap<String, Value> = BTreeMap::new();
    let ks_name = |id: &str| {
        let (kind, name) = node_id(id);
        format!("kgen-{}-{kind}-{}", r.name, kebab(name))
    };
    // Sources: this repository, the chart repositories, CRD repositories.
    out.push(GitopsFile {
        path: format!("flux/gitrepository-{own_source}.yaml"),
        template: "flux/gitrepository.yaml",
        key: "src",
        data: json!({"name": own_source, "url": r.env.gitops.repo_url, "interval": "1m", "ref": flux_git_ref(&r.env.gitops.revision), "secretRef": r.env.gitops.secret_ref}),
    });
    let hydrated = r.env.gitops.hydrate;
    let mut repos: BTreeMap<String, String> = BTreeMap::new();
    // A hydrated release reads no chart repository.
    for rel in plan.releases.iter().filter(|_| !hydrated) {
        repos.insert(cat.charts[&rel.name].repo_name.clone(), rel.repo.clone());
    }
    for (name, url) in &repos {
        out.push(GitopsFile {
            path: format!("flux/helmrepository-kgen-{name}.yaml"),
            template: "flux/helmrepository.yaml",
            key: "repo",
            data: json!({"name": format!("kgen-{name}"), "url": url, "oci": url.starts_with("oci://")}),
        });
    }
    for src in &plan.crd_sources {
        let name = format!("kgen-{}-{}", r.name, kebab(&src.name));
        out.push(GitopsFile {
            path: format!("flux/gitrepository-{name}.yaml"),
            template: "flux/gitrepository.yaml",
            key: "src",
            data: json!({"name": name, "url": src.repo, "interval": "1h", "ref": {"tag": src.tag}, "secretRef": null}),
        });
    }
    // One Kustomization per graph node.
    for node in &plan.graph {
        let (kind, name) = node_id(&node.id);
        let depends: Vec<Value> = node.needs.iter().map(|n| json!({"name": ks_name(n)})).collect();
        let (source, ks_path, prune) = match kind {
            "release" if hydrated => {
                // gitops.hydrate: the chart's output as `kgen hydrate --write` committed it
                // (docs/hydrate.md), applied server-side as every Kustomization is. No
                // kustomization.yaml there: kustomize-controller generates one listing every
                // manifest of the folder and its subfolders. Never pruned when it holds CRDs.
                let life = &cat.lifecycle[name];
                (own_source.clone(), format!("./{path}/{}/{name}", crate::render::HYDRATED_FOLDER), !life.owns_crds)
            }
            "release" => {
                let rel = release_by_name(plan, name);
                let dir = format!("flux/releases/{name}");
                let hr_deps: Vec<Value> = node
                    .needs
                    .iter()
                    .filter_map(|n| n.strip_prefix("release/"))
                    .map(|n| json!({"name": format!("{}-{n}", r.name)}))
                    .collect();
                let cm = format!("{}-{name}-values", r.name);
                let life = &cat.lifecycle[&rel.name];
                out.push(GitopsFile {
                    path: format!("{dir}/helmrelease-{}-{name}.yaml", r.name),
                    template: "flux/helmrelease.yaml",
                    key: "hr",
                    data: json!({
                        "name": format!("{}-{name}", r.name), "release": rel, "repoName": format!("kgen-{}", cat.charts[&rel.name].repo_name),
                        "dependsOn": hr_deps, "valuesConfigMap": cm,
                        "crds": if cat.charts[&rel.name].skip_crds { "Skip" } else { "CreateReplace" },
                        "skipSchemaValidation": broken_schema(rel),
                        "ownsCrds": life.owns_crds, "timeout": life.timeout,
                    }),
                });
                kustomize.insert(
                    format!("{dir}/kustomization.yaml"),
                    json!({
                        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                        "namespace": g["namespace"],
                        "resources": [format!("helmrelease-{}-{name}.yaml", r.name)],
                        "configMapGenerator": [{"name": cm, "files": [format!("values.yaml=../../../values/{name}.yaml")]}],
                        "generatorOptions": {"disableNameSuffixHash": true, "labels": {"reconcile.fluxcd.io/watch": "Enabled"}},
                    }),
                );
                // A release whose chart installs CRDs is never pruned: deleting its HelmRelease
                // uninstalls it (docs/gitops.md, "Lifecycle").
                (own_source.clone(), format!("./{path}/{dir}"), !life.owns_crds)
            }
            "crds" => {
                let src = plan.crd_sources.iter().find(|s| s.name == name).expect("planned");
                // CRDs are never pruned: deleting one deletes every object of its kind.
                (format!("kgen-{}-{}", r.name, kebab(name)), format!("./{}", src.path), false)
            }
            _ => {
                let dir = format!("flux/phases/{name}");
                let files: Vec<String> =
                    plan.objects.iter().filter(|o| o.phase == name).map(|o| format!("../../../{}", o.path())).collect();
                kustomize.insert(
                    format!("{dir}/kustomization.yaml"),
                    json!({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": files}),
                );
                // Namespaces are not pruned: removing one deletes everything in it.
                (own_source.clone(), format!("./{path}/{dir}"), name != crate::render::plan::PHASE_NAMESPACES)
            }
        };
        let n = ks_name(&node.id);
        let mut data = json!({"name": n, "source": source, "path": ks_path, "prune": prune, "dependsOn": depends});
        if kind == "phase" && name == crate::render::plan::PHASE_OPERATORS {
            operators_health(plan, &mut data);
        }
        out.push(GitopsFile {
            path: format!("flux/kustomization-{n}.yaml"),
            template: "flux/kustomization.yaml",
            key: "ks",
            data,
        });
    }
    // The bootstrap Kustomization applies flux/ itself (so it manages itself after the first apply).
    let boot = format!("kgen-{}", r.name);
    out.push(GitopsFile {
        path: format!("flux/kustomization-{boot}.yaml"),
        template: "flux/kustomization.yaml",
        key: "ks",
        data: json!({"name": boot, "source": own_source, "path": format!("./{path}/flux"), "prune": true, "dependsOn": []}),
    });
    let top: Vec<String> = out
        .iter()
        .filter(|f| f.path.matches('/').count() == 1)
        .map(|f| f.path.trim_start_matches("flux/").to_string())
        .collect();
    kustomize.insert(
        "flux/kustomization.yaml".into(),
        json!({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": top}),
    );
    (out, kustomize)
}
