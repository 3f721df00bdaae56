//! The GitOps layer: what applies the values and manifests, in the order of the plan's
//! dependency graph. Argo CD gets one Application per graph node and a root app-of-apps; Flux
//! gets one Kustomization per graph node (`dependsOn` = the node's needs) with HelmReleases
//! inside; `none` gets an ordered, idempotent `install.sh`. Every order is derived from
//! [`super::plan::Plan::graph`]; nothing is numbered by hand.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::plan::{ChartRelease, Plan};
use crate::catalog;
use crate::config::model::GitopsEngine;
use crate::config::resolve::Resolved;

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

/// The files of the environment's GitOps engine, plus kustomize files that only list others
/// (returned separately: they are data for kustomize, not Kubernetes objects).
pub fn files(r: &Resolved, plan: &Plan) -> (Vec<GitopsFile>, BTreeMap<String, Value>) {
    match r.env.gitops.engine {
        GitopsEngine::Argocd => (argocd(r, plan), BTreeMap::new()),
        GitopsEngine::Flux => flux(r, plan),
        GitopsEngine::None => (vec![install_sh(r, plan)], BTreeMap::new()),
    }
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

fn release_by_name<'a>(plan: &'a Plan, name: &str) -> &'a ChartRelease {
    plan.releases.iter().find(|x| x.name == name).expect("graph releases are planned")
}

fn argocd(r: &Resolved, plan: &Plan) -> Vec<GitopsFile> {
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
                    Some(bare) => {
                        oci_repos.insert(cat.charts[&rel.name].repo_name.clone(), bare.to_string());
                        bare.to_string()
                    }
                    None => rel.repo.clone(),
                };
                let chart = &cat.charts[&rel.name];
                let mut sync = vec!["CreateNamespace=true".to_string()];
                if chart.server_side_apply {
                    // CRDs over the client-side apply annotation limit (InferenceService ~2 MB).
                    sync.push("ServerSideApply=true".into());
                }
                json!({
                    "name": app_name, "wave": node.wave, "release": rel, "repoURL": repo_url,
                    "syncOptions": sync, "skipSchemaValidation": broken_schema(rel), "skipCrds": chart.skip_crds,
                })
            }
            "crds" => {
                let src = plan.crd_sources.iter().find(|s| s.name == name).expect("planned");
                json!({
                    "name": format!("{}-{}-crds", r.name, kebab(name)), "wave": node.wave,
                    "source": src, "syncOptions": ["ServerSideApply=true"],
                })
            }
            _ => {
                let objs: Vec<&super::plan::Object> = plan.objects.iter().filter(|o| o.phase == name).collect();
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

fn flux(r: &Resolved, plan: &Plan) -> (Vec<GitopsFile>, BTreeMap<String, Value>) {
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
        data: json!({"name": own_source, "url": r.env.gitops.repo_url, "interval": "1m", "ref": flux_git_ref(&r.env.gitops.revision)}),
    });
    let mut repos: BTreeMap<String, String> = BTreeMap::new();
    for rel in &plan.releases {
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
            data: json!({"name": name, "url": src.repo, "interval": "1h", "ref": {"tag": src.tag}}),
        });
    }
    // One Kustomization per graph node.
    for node in &plan.graph {
        let (kind, name) = node_id(&node.id);
        let depends: Vec<Value> = node.needs.iter().map(|n| json!({"name": ks_name(n)})).collect();
        let (source, ks_path, prune) = match kind {
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
                out.push(GitopsFile {
                    path: format!("{dir}/helmrelease-{}-{name}.yaml", r.name),
                    template: "flux/helmrelease.yaml",
                    key: "hr",
                    data: json!({
                        "name": format!("{}-{name}", r.name), "release": rel, "repoName": format!("kgen-{}", cat.charts[&rel.name].repo_name),
                        "dependsOn": hr_deps, "valuesConfigMap": cm,
                        "crds": if cat.charts[&rel.name].skip_crds { "Skip" } else { "CreateReplace" },
                        "skipSchemaValidation": broken_schema(rel),
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
                (own_source.clone(), format!("./{path}/{dir}"), true)
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
                (own_source.clone(), format!("./{path}/{dir}"), name != super::plan::PHASE_NAMESPACES)
            }
        };
        let n = ks_name(&node.id);
        out.push(GitopsFile {
            path: format!("flux/kustomization-{n}.yaml"),
            template: "flux/kustomization.yaml",
            key: "ks",
            data: json!({"name": n, "source": source, "path": ks_path, "prune": prune, "dependsOn": depends}),
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

/// Quotes a word for POSIX shells (a serializer for shell, as `toyaml` is for YAML).
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn cmd(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| if w.starts_with("\"$here") { w.to_string() } else { shell_quote(w) })
        .collect::<Vec<_>>()
        .join(" ")
}

/// CRDs install.sh must wait for before a step: those of API groups the step needs that an OLM
/// package subscribed in this render provides (OLM installs them asynchronously).
fn olm_waits(plan: &Plan, kind: &str, name: &str) -> Vec<String> {
    let facts = &catalog::get().rule_facts;
    let packages: Vec<&str> =
        plan.objects.iter().filter(|o| o.kind == "Subscription").map(|o| o.name.as_str()).collect();
    let groups: Vec<String> = match kind {
        "release" => facts.chart_needs.get(name).cloned().unwrap_or_default(),
        "crds" => vec![],
        _ => plan
            .objects
            .iter()
            .filter(|o| o.phase == name)
            .filter_map(|o| o.api_version.split_once('/').map(|(g, _)| g.to_string()))
            .collect(),
    };
    let mut waits: Vec<String> = groups
        .iter()
        .filter(|g| {
            facts
                .crd_providers
                .get(*g)
                .into_iter()
                .flatten()
                .any(|p| p.strip_prefix("package/").is_some_and(|pkg| packages.contains(&pkg)))
        })
        .filter_map(|g| facts.olm_crd_probes.get(g).cloned())
        .collect();
    waits.sort();
    waits.dedup();
    waits
}

fn install_sh(r: &Resolved, plan: &Plan) -> GitopsFile {
    let cat = catalog::get();
    let mut steps = Vec::new();
    let mut any_wait = false;
    for node in &plan.graph {
        let (kind, name) = node_id(&node.id);
        let waits: Vec<String> = olm_waits(plan, kind, name).iter().map(|crd| cmd(&["wait_for_crd", crd])).collect();
        any_wait |= !waits.is_empty();
        let (comment, commands) = match kind {
            "release" => {
                let rel = release_by_name(plan, name);
                let chart = &cat.charts[&rel.name];
                let values = format!("\"$here/values/{name}.yaml\"");
                let mut words: Vec<String> = if chart.apply_rendered {
                    vec!["helm".into(), "template".into(), rel.name.clone()]
                } else {
                    vec!["helm".into(), "upgrade".into(), "--install".into(), rel.name.clone()]
                };
                match rel.repo.strip_prefix("oci://") {
                    Some(_) => words.push(format!("{}/{}", rel.repo, rel.chart)),
                    None => words.extend([rel.chart.clone(), "--repo".into(), rel.repo.clone()]),
                }
                words.extend(["--version".into(), rel.version.clone(), "--namespace".into(), rel.namespace.clone()]);
                if !chart.apply_rendered {
                    words.push("--create-namespace".into());
                }
                words.extend(["--values".into(), values]);
                if chart.skip_crds {
                    words.push("--skip-crds".into());
                }
                if broken_schema(rel).is_some() {
                    // Helm >= 3.16; the chart's own schema rejects valid values (catalog).
                    words.push("--skip-schema-validation".into());
                }
                let w: Vec<&str> = words.iter().map(String::as_str).collect();
                let command = if chart.apply_rendered {
                    format!("{} | {}", cmd(&w), cmd(&["kubectl", "apply", "--server-side", "-f", "-"]))
                } else {
                    format!("{} --wait", cmd(&w))
                };
                let what = if chart.apply_rendered { "chart rendered and applied server-side" } else { "Helm release" };
                (format!("wave {}: {what} {name} ({} {})", node.wave, rel.chart, rel.version), vec![command])
            }
            "crds" => {
                let src = plan.crd_sources.iter().find(|s| s.name == name).expect("planned");
                let url = cat.crd_sources[name].release_url.replace("{version}", &src.tag);
                (
                    format!("wave {}: {name} CRDs {} (server-side: they are large)", node.wave, src.tag),
                    vec![cmd(&["kubectl", "apply", "--server-side", "-f", &url])],
                )
            }
            _ => {
                let files: Vec<String> = plan
                    .objects
                    .iter()
                    .filter(|o| o.phase == name)
                    .map(|o| format!("\"$here/{}\"", o.path()))
                    .collect();
                let mut words = vec!["kubectl", "apply", "--server-side"];
                for f in &files {
                    words.extend(["-f", f.as_str()]);
                }
                (format!("wave {}: manifests, phase {name}", node.wave), vec![cmd(&words)])
            }
        };
        let commands: Vec<String> = waits.into_iter().chain(commands).collect();
        steps.push(json!({"comment": comment, "commands": commands}));
    }
    GitopsFile {
        path: "install.sh".into(),
        template: "none/install.sh",
        key: "script",
        data: json!({"steps": steps, "name": r.name, "sources": r.files.join(" + "), "olmWaits": any_wait}),
    }
}
