//! Risk flags: changes that delete data or workloads, switch how KServe or the mesh works, go
//! back in version, rename Helm releases or touch fields Kubernetes will not change in place.
//! Deterministic rules over the field diff and the index (`kgen.lock.json`); `kgen diff
//! --fail-on risk` exits 3 when any is raised.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use super::{Change, DocStatus, EnvStatus, FileDiff, ObjectRef};
use crate::version::Version;

/// What kind of risk; the order is the order of severity in which flags are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RiskKind {
    /// The environment's file is gone: its whole render is pruned.
    EnvironmentRemoved,
    /// A CustomResourceDefinition is removed: every custom resource of that kind goes with it.
    CrdRemoved,
    /// A Namespace is removed: everything in it is deleted.
    NamespaceRemoved,
    /// A Helm release is removed: uninstalling it deletes what it installed.
    ReleaseRemoved,
    /// A Helm release is renamed, or its chart changes name.
    ReleaseRenamed,
    /// KServe's deployment mode switches (Knative ↔ Standard).
    DeploymentModeSwitch,
    /// The mesh provider switches (Istio via Helm, OpenShift Service Mesh 2 or 3, none).
    MeshSwitch,
    /// A chart, component or KServe version goes down.
    VersionDowngrade,
    /// A field Kubernetes treats as immutable changes: the apply fails unless the object is
    /// deleted and recreated.
    ImmutableField,
}

/// One risk flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Risk {
    /// What kind of risk.
    pub kind: RiskKind,
    /// One line saying what and why, for people.
    pub message: String,
    /// The file concerned, relative to `rendered/<env>/`, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The object concerned, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectRef>,
    /// The field path concerned, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl RiskKind {
    /// The kebab-case name used in JSON and in the text output.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskKind::EnvironmentRemoved => "environment-removed",
            RiskKind::CrdRemoved => "crd-removed",
            RiskKind::NamespaceRemoved => "namespace-removed",
            RiskKind::ReleaseRemoved => "release-removed",
            RiskKind::ReleaseRenamed => "release-renamed",
            RiskKind::DeploymentModeSwitch => "deployment-mode-switch",
            RiskKind::MeshSwitch => "mesh-switch",
            RiskKind::VersionDowngrade => "version-downgrade",
            RiskKind::ImmutableField => "immutable-field",
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

/// Helm releases of upstream Istio.
const ISTIO_RELEASES: [&str; 3] = ["istio-base", "istiod", "istio-ingressgateway"];

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
pub fn assess(status: EnvStatus, files: &[FileDiff], old_lock: Option<&Value>, new_lock: Option<&Value>) -> Vec<Risk> {
    let mut risks = Vec::new();
    let risk = |kind, message: String| Risk { kind, message, file: None, object: None, path: None };
    if status == EnvStatus::Added {
        return risks;
    }
    if status == EnvStatus::Removed {
        risks.push(risk(
            RiskKind::EnvironmentRemoved,
            format!("environment removed: its {} generated files are pruned", files.len()),
        ));
    }
    for f in files {
        for d in &f.documents {
            let Some(obj) = &d.object else { continue };
            if d.status == DocStatus::Removed {
                let what = if obj.group == "apiextensions.k8s.io" && obj.kind == "CustomResourceDefinition" {
                    Some((RiskKind::CrdRemoved, "every custom resource of this kind is deleted with it"))
                } else if obj.is_core("Namespace") {
                    Some((RiskKind::NamespaceRemoved, "everything in it is deleted"))
                } else {
                    None
                };
                if let Some((kind, why)) = what {
                    risks.push(Risk {
                        file: Some(f.path.clone()),
                        object: Some(obj.clone()),
                        ..risk(kind, format!("{obj} is removed: {why}"))
                    });
                }
            }
            if matches!(d.status, DocStatus::Changed | DocStatus::Moved) {
                immutable(obj, &f.path, &d.changes, &mut risks);
            }
        }
    }
    if let (Some(old), Some(new)) = (old_lock, new_lock) {
        lock_risks(old, new, files, &mut risks);
    } else if status == EnvStatus::Changed {
        // No index on one side (hand-made or damaged render): fall back to the values files.
        if let Some((o, n)) = values_mode_change(files)
            && canonical_mode(&o) != canonical_mode(&n)
        {
            risks.push(risk(RiskKind::DeploymentModeSwitch, format!("KServe deployment mode {o} → {n}")));
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
                kind: RiskKind::ImmutableField,
                message: format!(
                    "{obj}: `{prefix}` is immutable: the apply fails unless the object is deleted and recreated"
                ),
                file: Some(file.to_string()),
                object: Some(obj.clone()),
                path: Some((*prefix).to_string()),
            });
        }
    }
}

/// `kserve.controller.deploymentMode` old → new in a values file, if it changes.
fn values_mode_change(files: &[FileDiff]) -> Option<(String, String)> {
    files.iter().flat_map(|f| &f.documents).flat_map(|d| &d.changes).find_map(|c| {
        if c.path != "kserve.controller.deploymentMode" {
            return None;
        }
        let s = |v: &Option<Value>| v.as_ref().and_then(Value::as_str).unwrap_or("none").to_string();
        Some((s(&c.old), s(&c.new)))
    })
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// Release name → (chart, version) from an index.
fn releases(lock: &Value) -> BTreeMap<String, (String, String)> {
    lock.get("releases")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let name = r.get("name")?.as_str()?;
            let chart = r.get("chart").and_then(Value::as_str).unwrap_or_default();
            let version = r.get("version").and_then(Value::as_str).unwrap_or_default();
            Some((name.to_string(), (chart.to_string(), version.to_string())))
        })
        .collect()
}

fn lock_risks(old: &Value, new: &Value, files: &[FileDiff], risks: &mut Vec<Risk>) {
    let risk = |kind, message: String| Risk { kind, message, file: None, object: None, path: None };
    // Deployment mode.
    let mode = |l: &Value| str_at(l, &["kserve", "deploymentMode"]).map(str::to_string);
    if let (Some(o), Some(n)) = (mode(old), mode(new))
        && canonical_mode(&o) != canonical_mode(&n)
    {
        risks.push(risk(RiskKind::DeploymentModeSwitch, format!("KServe deployment mode {o} → {n}")));
    }
    // Mesh provider: upstream Istio from the Helm releases, OSSM from its control-plane objects.
    let (old_rel, new_rel) = (releases(old), releases(new));
    let mut gone = BTreeSet::new();
    let mut came = BTreeSet::new();
    let istio = |r: &BTreeMap<String, (String, String)>| ISTIO_RELEASES.iter().any(|n| r.contains_key(*n));
    match (istio(&old_rel), istio(&new_rel)) {
        (true, false) => {
            gone.insert("istio");
        }
        (false, true) => {
            came.insert("istio");
        }
        _ => {}
    }
    for d in files.iter().flat_map(|f| &f.documents) {
        let Some(obj) = &d.object else { continue };
        let provider = match (obj.group.as_str(), obj.kind.as_str()) {
            ("maistra.io", "ServiceMeshControlPlane") => "ossm2",
            ("sailoperator.io", "Istio") => "ossm3",
            _ => continue,
        };
        match d.status {
            DocStatus::Removed => gone.insert(provider),
            DocStatus::Added => came.insert(provider),
            _ => false,
        };
    }
    if !gone.is_empty() || !came.is_empty() {
        let side = |s: &BTreeSet<&str>| {
            if s.is_empty() { "none".to_string() } else { s.iter().copied().collect::<Vec<_>>().join(" + ") }
        };
        risks.push(risk(RiskKind::MeshSwitch, format!("mesh provider {} → {}", side(&gone), side(&came))));
    }
    // Helm releases: renames, chart renames, removals.
    let mut appeared: Vec<&String> = new_rel.keys().filter(|n| !old_rel.contains_key(*n)).collect();
    for (name, (chart, _)) in &old_rel {
        match new_rel.get(name) {
            Some((new_chart, _)) if new_chart != chart => risks.push(risk(
                RiskKind::ReleaseRenamed,
                format!(
                    "Helm release {name} changes chart {chart} → {new_chart}: check the upgrade notes of the new chart"
                ),
            )),
            Some(_) => {}
            None => match appeared.iter().position(|n| new_rel[*n].0 == *chart) {
                Some(i) => {
                    let to = appeared.remove(i);
                    risks.push(risk(
                        RiskKind::ReleaseRenamed,
                        format!(
                            "Helm release {name} → {to} (chart {chart}): the old release is uninstalled and a new one installed"
                        ),
                    ));
                }
                None => risks.push(risk(
                    RiskKind::ReleaseRemoved,
                    format!(
                        "Helm release {name} (chart {chart}) is removed: uninstalling it deletes what it installed"
                    ),
                )),
            },
        }
    }
    // Version downgrades: KServe, component pins, then chart versions not already explained.
    let mut downgrades: Vec<(String, String, String, Vec<String>)> = Vec::new();
    let mut down = |subject: &str, o: &str, n: &str| {
        if let (Some(a), Some(b)) = (Version::parse(o), Version::parse(n))
            && b < a
        {
            downgrades.push((subject.to_string(), o.to_string(), n.to_string(), Vec::new()));
        }
    };
    if let (Some(o), Some(n)) = (str_at(old, &["kserve", "version"]), str_at(new, &["kserve", "version"])) {
        down("KServe", o, n);
    }
    if let (Some(o), Some(n)) =
        (old.get("versions").and_then(Value::as_object), new.get("versions").and_then(Value::as_object))
    {
        for (k, ov) in o {
            if let (Some(ov), Some(nv)) = (ov.as_str(), n.get(k).and_then(Value::as_str)) {
                down(k, ov, nv);
            }
        }
    }
    for (name, (_, ov)) in &old_rel {
        let Some((_, nv)) = new_rel.get(name) else { continue };
        if let (Some(a), Some(b)) = (Version::parse(ov), Version::parse(nv))
            && b < a
        {
            match downgrades
                .iter_mut()
                .find(|d| Version::parse(&d.1) == Some(a.clone()) && Version::parse(&d.2) == Some(b.clone()))
            {
                Some(d) => d.3.push(name.clone()),
                None => downgrades.push((format!("Helm release {name}"), ov.clone(), nv.clone(), Vec::new())),
            }
        }
    }
    for (subject, o, n, rels) in downgrades {
        let rels = if rels.is_empty() { String::new() } else { format!(" (Helm releases {})", rels.join(", ")) };
        risks.push(risk(RiskKind::VersionDowngrade, format!("{subject} {o} → {n}{rels}: downgrade")));
    }
}
