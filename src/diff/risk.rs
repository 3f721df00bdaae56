//! Risk flags: changes that delete data or workloads, switch how KServe or the mesh works, go
//! back in version, rename or move Helm releases or touch fields Kubernetes will not change in
//! place.
//! Deterministic rules over the field diff and the index (`kgen.lock.json`); `kgen diff
//! --fail-on risk` exits 3 when any is raised.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use super::values::{Seg, path_string};
use super::{Change, DocStatus, EnvStatus, FileDiff, ObjectRef};
use crate::lock::Lock;
use crate::render::LOCK_FILE;
use crate::version::Version;

/// What kind of risk; the order is the order of severity in which flags are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RiskKind {
    /// The environment's file is gone: its whole render is pruned.
    EnvironmentRemoved,
    /// Data is at stake: a namespace of `kserve.modelNamespaces` or something that installs CRDs
    /// leaves the render, or an environment (or a renamed one's old name) goes. The engines keep
    /// them (docs/gitops.md, "Lifecycle"), unmanaged; deleting them deletes models.
    DataLoss,
    /// A CustomResourceDefinition is removed: every custom resource of that kind goes with it.
    CrdRemoved,
    /// Chart output (`--hydrate`): a CRD version that was served is no longer served, or the
    /// version objects are stored in is removed.
    CrdVersionRemoved,
    /// Chart output (`--hydrate`): a field leaves the schema of a CRD version served before
    /// and after.
    CrdFieldRemoved,
    /// A Namespace is removed from the render: the engines keep it (kgen annotates every Namespace
    /// it renders), but deleting it deletes everything in it.
    NamespaceRemoved,
    /// A Helm release is removed: uninstalling it deletes what it installed.
    ReleaseRemoved,
    /// A Helm release is renamed, or its chart changes name.
    ReleaseRenamed,
    /// A Helm release moves to another namespace: Helm cannot move a release, so the GitOps
    /// engine installs a second copy and uninstalls the first, deleting what it installed.
    ReleaseMoved,
    /// Chart output (`--hydrate`): a Deployment, StatefulSet or DaemonSet is removed.
    WorkloadRemoved,
    /// KServe's deployment mode switches (Knative ↔ Standard).
    DeploymentModeSwitch,
    /// The mesh provider switches (Istio via Helm, OpenShift Service Mesh 2 or 3, none).
    MeshSwitch,
    /// A chart, component or KServe version goes down.
    VersionDowngrade,
    /// A component moves further in one sync than its upstream supports (Knative Serving or
    /// Istio more than one minor, cert-manager or Gateway API skipping a minor), or to a Knative
    /// operator that does not ship the installed Knative Serving: the intermediate versions are
    /// named (rules KG220–KG224).
    VersionSkip,
    /// KServe crosses a release whose upgrade guide requires manual steps before the sync
    /// (rule KG225).
    ManualMigration,
    /// A field Kubernetes treats as immutable changes: the apply fails unless the object is
    /// deleted and recreated.
    ImmutableField,
    /// Chart output (`--hydrate`): a ClusterRole grants verbs, resources or `*` it did not.
    ClusterRoleWidened,
    /// Chart output (`--hydrate`): an admission webhook's failure policy or scope (rules,
    /// selectors, match policy or conditions) changes, or a webhook is added.
    WebhookChanged,
    /// Chart output (`--hydrate`): a container image comes from another registry.
    RegistryChanged,
    /// Chart output (`--hydrate`): a container image changes (repository, tag or digest).
    ImageChanged,
}

/// One risk flag. Besides the message for people, the fields a bot needs: what file, object
/// and field path it is about, and the value before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Risk {
    /// What kind of risk.
    pub kind: RiskKind,
    /// One line saying what and why, for people.
    pub message: String,
    /// The file concerned, relative to `rendered/<env>/`, when there is one: the removed
    /// object's file, `kgen.lock.json` for what the index records (releases, versions, the
    /// deployment mode), the values file when the mode is read from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The object concerned, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectRef>,
    /// The field path concerned in `file`, written as in `changes[].path`, when there is one:
    /// `spec.selector` (`immutable-field`), `kserve.deploymentMode`, `versions.istio` or
    /// `kserve.version` (the component or pin of a `version-downgrade`, `version-skip` or
    /// `manual-migration`),
    /// `releases[name=kserve].version`, `releases[name=kserve].chart`,
    /// `releases[name=knative-operator].namespace`, `releases[name=istiod]` (a release removed
    /// or renamed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The value before, when one value changes: the version (`version-downgrade`,
    /// `version-skip`, `manual-migration`), the
    /// deployment mode as written (`deployment-mode-switch`), the mesh providers
    /// (`mesh-switch`: `istio`, `ossm2`, `ossm3` joined by ` + `, or `none`), the release name
    /// (`release-removed`, `release-renamed`) or chart (`release-renamed` when the chart
    /// changes), the release namespace (`release-moved`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    /// The value after, as for `old`; absent when the thing is removed (`release-removed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
    /// The minors a `version-skip` moves past, in the order of the move (`1.16`, `1.17`, …);
    /// absent for other kinds and for an operator that cannot reconcile.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
}

impl Risk {
    /// A risk with only a kind and a message; the other fields are set by the caller.
    pub(crate) fn new(kind: RiskKind, message: String) -> Risk {
        Risk { kind, message, file: None, object: None, path: None, old: None, new: None, skipped: Vec::new() }
    }

    /// The same risk about `path` in `file`, going from `old` to `new`.
    fn at(self, file: &str, path: String, old: Option<&str>, new: Option<&str>) -> Risk {
        Risk {
            file: Some(file.to_string()),
            path: Some(path),
            old: old.map(str::to_string),
            new: new.map(str::to_string),
            ..self
        }
    }
}

impl RiskKind {
    /// The kebab-case name used in JSON and in the text output.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskKind::EnvironmentRemoved => "environment-removed",
            RiskKind::DataLoss => "data-loss",
            RiskKind::CrdRemoved => "crd-removed",
            RiskKind::CrdVersionRemoved => "crd-version-removed",
            RiskKind::CrdFieldRemoved => "crd-field-removed",
            RiskKind::NamespaceRemoved => "namespace-removed",
            RiskKind::ReleaseRemoved => "release-removed",
            RiskKind::ReleaseRenamed => "release-renamed",
            RiskKind::ReleaseMoved => "release-moved",
            RiskKind::WorkloadRemoved => "workload-removed",
            RiskKind::DeploymentModeSwitch => "deployment-mode-switch",
            RiskKind::MeshSwitch => "mesh-switch",
            RiskKind::VersionDowngrade => "version-downgrade",
            RiskKind::VersionSkip => "version-skip",
            RiskKind::ManualMigration => "manual-migration",
            RiskKind::ImmutableField => "immutable-field",
            RiskKind::ClusterRoleWidened => "cluster-role-widened",
            RiskKind::WebhookChanged => "webhook-changed",
            RiskKind::RegistryChanged => "registry-changed",
            RiskKind::ImageChanged => "image-changed",
        }
    }
}

/// Fields Kubernetes does not let an update change: (group, kind, path prefixes).
const IMMUTABLE: &[(&str, &str, &[&str])] = &[
    ("apps", "Deployment", &["spec.selector"]),
    ("apps", "ReplicaSet", &["spec.selector"]),
    ("apps", "DaemonSet", &["spec.selector"]),
    (
        "apps",
        "StatefulSet",
        &["spec.selector", "spec.serviceName", "spec.volumeClaimTemplates", "spec.podManagementPolicy"],
    ),
    ("batch", "Job", &["spec.selector", "spec.template", "spec.completionMode"]),
    ("", "Service", &["spec.clusterIP", "spec.clusterIPs"]),
    (
        "",
        "PersistentVolumeClaim",
        &[
            "spec.storageClassName",
            "spec.accessModes",
            "spec.volumeMode",
            "spec.volumeName",
            "spec.selector",
            "spec.dataSource",
            "spec.dataSourceRef",
        ],
    ),
    ("storage.k8s.io", "StorageClass", &["provisioner", "parameters", "reclaimPolicy", "volumeBindingMode"]),
    ("rbac.authorization.k8s.io", "RoleBinding", &["roleRef"]),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding", &["roleRef"]),
    ("apiextensions.k8s.io", "CustomResourceDefinition", &["spec.scope"]),
];

fn under(path: &str, prefix: &str) -> bool {
    path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with(['.', '[']))
}

/// Deployment mode names of every release mapped to the canonical ones.
fn canonical_mode(m: &str) -> String {
    match m.to_ascii_lowercase().as_str() {
        "serverless" | "knative" => "Knative".into(),
        "rawdeployment" | "standard" => "Standard".into(),
        _ => m.to_string(),
    }
}

/// The risk flags of one environment, most severe first.
pub fn assess(status: EnvStatus, files: &[FileDiff], old_lock: Option<&Lock>, new_lock: Option<&Lock>) -> Vec<Risk> {
    let mut risks = Vec::new();
    if status == EnvStatus::Added {
        return risks;
    }
    if status == EnvStatus::Removed {
        risks.push(Risk::new(
            RiskKind::EnvironmentRemoved,
            format!("environment removed: its {} generated files are pruned", files.len()),
        ));
        risks.push(environment_data(old_lock));
    }
    for f in files {
        for d in &f.documents {
            let Some(obj) = &d.object else { continue };
            if d.status == DocStatus::Removed {
                let what = if obj.group == "apiextensions.k8s.io" && obj.kind == "CustomResourceDefinition" {
                    Some((RiskKind::CrdRemoved, "every custom resource of this kind is deleted with it"))
                } else if obj.is_core("Namespace") {
                    Some((
                        RiskKind::NamespaceRemoved,
                        "the engines keep a namespace kgen rendered; deleting it deletes everything in it",
                    ))
                } else {
                    None
                };
                if let Some((kind, why)) = what {
                    risks.push(Risk {
                        file: Some(f.path.clone()),
                        object: Some(obj.clone()),
                        ..Risk::new(kind, format!("{obj} is removed: {why}"))
                    });
                }
            }
            if matches!(d.status, DocStatus::Changed | DocStatus::Moved) {
                immutable(obj, &f.path, &d.changes, &mut risks);
            }
        }
    }
    if let (Some(old), Some(new)) = (old_lock, new_lock) {
        data_leaving(old, new, &mut risks);
        lock_risks(old, new, &mut risks);
    } else if status == EnvStatus::Changed {
        // No index on one side (hand-made or damaged render): fall back to the values files.
        if let Some((file, path, o, n)) = values_mode_change(files)
            && canonical_mode(&o) != canonical_mode(&n)
        {
            risks.push(Risk::new(RiskKind::DeploymentModeSwitch, format!("KServe deployment mode {o} → {n}")).at(
                file,
                path.to_string(),
                Some(&o),
                Some(&n),
            ));
        }
    }
    risks.sort_by(|a, b| (a.kind, &a.message).cmp(&(b.kind, &b.message)));
    risks.dedup();
    risks
}

fn immutable(obj: &ObjectRef, file: &str, changes: &[Change], risks: &mut Vec<Risk>) {
    let Some((_, _, prefixes)) = IMMUTABLE.iter().find(|(g, k, _)| *g == obj.group && *k == obj.kind) else {
        return;
    };
    for prefix in *prefixes {
        if changes.iter().any(|c| under(&c.path, prefix)) {
            risks.push(Risk {
                object: Some(obj.clone()),
                ..Risk::new(
                    RiskKind::ImmutableField,
                    format!(
                        "{obj}: `{prefix}` is immutable: the apply fails unless the object is deleted and recreated"
                    ),
                )
                .at(file, (*prefix).to_string(), None, None)
            });
        }
    }
}

/// The values file, path and old → new of `kserve.controller.deploymentMode`, if it changes.
fn values_mode_change(files: &[FileDiff]) -> Option<(&str, &str, String, String)> {
    files
        .iter()
        .flat_map(|f| f.documents.iter().map(move |d| (f, d)))
        .flat_map(|(f, d)| d.changes.iter().map(move |c| (f, c)))
        .find_map(|(f, c)| {
            if c.path != "kserve.controller.deploymentMode" {
                return None;
            }
            let s = |v: &Option<Value>| v.as_ref().and_then(Value::as_str).unwrap_or("none").to_string();
            Some((f.path.as_str(), c.path.as_str(), s(&c.old), s(&c.new)))
        })
}

/// What installs CRDs in a render, by its index: Helm releases whose chart installs CRDs (the
/// catalog's `lifecycle`), as (`releases`, name), and CRD bundles, as (`crdSources`, name).
fn crd_owners(lock: &Lock) -> Vec<(&'static str, String)> {
    let cat = crate::catalog::get();
    let mut out: Vec<(&'static str, String)> = lock
        .releases
        .iter()
        .filter(|r| cat.lifecycle.get(&r.name).is_some_and(|l| l.owns_crds))
        // A chart's CRDs are the same CRDs as its replacement source's
        // ([`crate::catalog::Catalog::crd_replacement`]): moving between the two keeps them managed.
        .map(|r| match cat.crd_replacement(&r.name) {
            Some(src) => ("crdSources", src.to_string()),
            None => ("releases", r.name.clone()),
        })
        .collect();
    out.extend(lock.crd_sources.iter().map(|s| ("crdSources", s.name.clone())));
    out
}

/// The data an environment removed (or renamed) leaves behind, for the reviewer.
fn environment_data(old: Option<&Lock>) -> Risk {
    let (namespaces, crds) = old.map_or((vec![], vec![]), |l| {
        (l.kserve.model_namespaces.clone(), crd_owners(l).into_iter().map(|(_, n)| n).collect::<Vec<_>>())
    });
    let mut held = Vec::new();
    if !namespaces.is_empty() {
        held.push(format!("its model namespaces ({})", namespaces.join(", ")));
    }
    if !crds.is_empty() {
        held.push(format!("the CRDs of {}", crds.join(", ")));
    }
    let held = if held.is_empty() { "what it installed".to_string() } else { held.join(" and ") };
    Risk {
        file: Some(LOCK_FILE.to_string()),
        ..Risk::new(
            RiskKind::DataLoss,
            format!(
                "environment removed (or renamed): the engines keep {held} on the cluster, unmanaged; deleting its \
                 Applications or Kustomizations by hand deletes its models: follow the procedure of docs/gitops.md (`kgen render \
                 --all` needs `--allow-removal`)"
            ),
        )
    }
}

/// Model namespaces and CRD owners of `old` that `new` no longer has.
fn data_leaving(old: &Lock, new: &Lock, risks: &mut Vec<Risk>) {
    for ns in old.kserve.model_namespaces.iter().filter(|n| !new.kserve.model_namespaces.contains(n)) {
        risks.push(
            Risk::new(
                RiskKind::DataLoss,
                format!(
                    "model namespace {ns} leaves kserve.modelNamespaces: the engines keep it, unmanaged; deleting it \
                 deletes every InferenceService in it (rule KG607)"
                ),
            )
            .at(LOCK_FILE, "kserve.modelNamespaces".into(), Some(ns), None),
        );
    }
    let now = crd_owners(new);
    for (list, name) in crd_owners(old).into_iter().filter(|o| !now.contains(o)) {
        let what = if list == "releases" { "Helm release" } else { "CRD bundle" };
        let path = path_string(&[Seg::Key(list.into()), Seg::Item("name", name.clone())]);
        risks.push(
            Risk::new(
                RiskKind::DataLoss,
                format!(
                    "{what} {name} installs CRDs and leaves the render: the engines keep its CRDs, unmanaged; \
                 deleting one deletes every object of its kind (rule KG608)"
                ),
            )
            .at(LOCK_FILE, path, Some(&name), None),
        );
    }
}

/// Release name → what the index records of it.
fn releases(lock: &Lock) -> BTreeMap<String, &crate::lock::Release> {
    lock.releases.iter().map(|r| (r.name.clone(), r)).collect()
}

/// `releases[name=<release>]` with `field` after it, if any: where the index records it.
fn release_path(release: &str, field: Option<&str>) -> String {
    let mut segs = vec![Seg::Key("releases".into()), Seg::Item("name", release.to_string())];
    segs.extend(field.map(|f| Seg::Key(f.to_string())));
    path_string(&segs)
}

fn lock_risks(old: &Lock, new: &Lock, risks: &mut Vec<Risk>) {
    // Deployment mode.
    let (o, n) = (&old.kserve.deployment_mode, &new.kserve.deployment_mode);
    if canonical_mode(o) != canonical_mode(n) {
        risks.push(Risk::new(RiskKind::DeploymentModeSwitch, format!("KServe deployment mode {o} → {n}")).at(
            LOCK_FILE,
            "kserve.deploymentMode".into(),
            Some(o),
            Some(n),
        ));
    }
    // Mesh provider, as each index records it.
    let (o, n) = (old.mesh.provider, new.mesh.provider);
    if o != n {
        // The switch shows in several files (releases, control-plane objects): no one file or
        // path.
        let (o, n) = (o.as_str().to_string(), n.as_str().to_string());
        risks.push(Risk {
            old: Some(o.clone()),
            new: Some(n.clone()),
            ..Risk::new(RiskKind::MeshSwitch, format!("mesh provider {o} → {n}"))
        });
    }
    let (old_rel, new_rel) = (releases(old), releases(new));
    // Helm releases: renames, chart renames, moves, removals.
    let mut appeared: Vec<&String> = new_rel.keys().filter(|n| !old_rel.contains_key(*n)).collect();
    for (name, was) in &old_rel {
        let chart = &was.chart;
        match new_rel.get(name) {
            Some(is) => {
                if is.chart != *chart {
                    risks.push(
                        Risk::new(
                            RiskKind::ReleaseRenamed,
                            format!(
                                "Helm release {name} changes chart {chart} → {}: check the upgrade notes of the new chart",
                                is.chart
                            ),
                        )
                        .at(LOCK_FILE, release_path(name, Some("chart")), Some(chart), Some(&is.chart)),
                    );
                }
                let (o, n) = (&was.namespace, &is.namespace);
                if o != n {
                    risks.push(
                        Risk::new(
                            RiskKind::ReleaseMoved,
                            format!(
                                "Helm release {name} moves from namespace {o} to {n}: Helm cannot move a release, so a \
                                 second copy is installed and the first uninstalled with what it installed (custom \
                                 resources too when the chart templates its CRDs)"
                            ),
                        )
                        .at(LOCK_FILE, release_path(name, Some("namespace")), Some(o), Some(n)),
                    );
                }
            }
            None => match appeared.iter().position(|n| new_rel[*n].chart == *chart) {
                Some(i) => {
                    let to = appeared.remove(i);
                    risks.push(
                        Risk::new(
                            RiskKind::ReleaseRenamed,
                            format!(
                                "Helm release {name} → {to} (chart {chart}): the old release is uninstalled and a new one installed"
                            ),
                        )
                        .at(LOCK_FILE, release_path(name, None), Some(name), Some(to)),
                    );
                }
                None => risks.push(
                    Risk::new(
                        RiskKind::ReleaseRemoved,
                        if crd_owners(old).contains(&("releases", name.clone())) {
                            // Never uninstalled by the engines (docs/gitops.md, "Lifecycle").
                            format!(
                                "Helm release {name} (chart {chart}) is removed: its chart installs CRDs, so the \
                                 engines keep what it installed, unmanaged"
                            )
                        } else {
                            format!(
                                "Helm release {name} (chart {chart}) is removed: uninstalling it deletes what it installed"
                            )
                        },
                    )
                    .at(LOCK_FILE, release_path(name, None), Some(name), None),
                ),
            },
        }
    }
    upgrade_skews(old, new, risks);
    // Version downgrades: KServe, component pins, then chart versions not already explained.
    struct Downgrade {
        subject: String,
        path: String,
        old: String,
        new: String,
        releases: Vec<String>,
    }
    let mut downgrades: Vec<Downgrade> = Vec::new();
    let mut down = |subject: &str, path: String, o: &str, n: &str| {
        if let (Some(a), Some(b)) = (Version::parse(o), Version::parse(n))
            && b < a
        {
            downgrades.push(Downgrade {
                subject: subject.to_string(),
                path,
                old: o.to_string(),
                new: n.to_string(),
                releases: Vec::new(),
            });
        }
    };
    down("KServe", "kserve.version".into(), &old.kserve.version, &new.kserve.version);
    for (k, ov) in &old.versions {
        if let Some(nv) = new.versions.get(k) {
            down(k, path_string(&[Seg::Key("versions".into()), Seg::Key(k.clone())]), ov, nv);
        }
    }
    for (name, was) in &old_rel {
        let Some(is) = new_rel.get(name) else { continue };
        if let (Some(a), Some(b)) = (Version::parse(&was.version), Version::parse(&is.version))
            && b < a
        {
            match downgrades
                .iter_mut()
                .find(|d| Version::parse(&d.old) == Some(a.clone()) && Version::parse(&d.new) == Some(b.clone()))
            {
                Some(d) => d.releases.push(name.clone()),
                None => downgrades.push(Downgrade {
                    subject: format!("Helm release {name}"),
                    path: release_path(name, Some("version")),
                    old: was.version.clone(),
                    new: is.version.clone(),
                    releases: Vec::new(),
                }),
            }
        }
    }
    for d in downgrades {
        let rels =
            if d.releases.is_empty() { String::new() } else { format!(" (Helm releases {})", d.releases.join(", ")) };
        risks.push(
            Risk::new(RiskKind::VersionDowngrade, format!("{} {} → {}{rels}: downgrade", d.subject, d.old, d.new)).at(
                LOCK_FILE,
                d.path,
                Some(&d.old),
                Some(&d.new),
            ),
        );
    }
}

/// Moves beyond what upstream supports in one sync (the history rules KG220–KG225, judged by
/// [`crate::skew`]), with the versions in between.
fn upgrade_skews(old: &Lock, new: &Lock, risks: &mut Vec<Risk>) {
    let now: BTreeMap<&str, &str> = new.versions.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    for s in crate::skew::assess(&old.versions, &old.kserve.version, &now, &new.kserve.version) {
        let (kind, path) = if s.component == "kserve" {
            (RiskKind::ManualMigration, "kserve.version".to_string())
        } else {
            (RiskKind::VersionSkip, path_string(&[Seg::Key("versions".into()), Seg::Key(s.component.clone())]))
        };
        risks.push(Risk {
            skipped: s.skipped.clone(),
            ..Risk::new(kind, s.line()).at(LOCK_FILE, path, Some(&s.old), Some(&s.new))
        });
    }
}
