//! Risk flags of changed chart output (`kgen diff --hydrate`), from the objects on both sides:
//! what a KServe operator needs to see before the engines apply a chart upgrade. The general
//! flags (a CRD or Namespace removed, an immutable field changed) come from the object diff
//! itself ([`crate::diff::risk`]); these read the objects:
//!
//! - `crd-version-removed`: a served version stops being served, or the stored version goes;
//! - `crd-field-removed`: a field leaves the schema of a version both sides serve;
//! - `registry-changed` / `image-changed`: a container image moves to another registry, or
//!   changes at all;
//! - `cluster-role-widened`: a ClusterRole grants a verb, resource or `*` it did not;
//! - `webhook-changed`: an admission webhook's failure policy or scope (rules, selectors,
//!   match policy or conditions) changes, or a webhook appears;
//! - `workload-removed`: a Deployment, StatefulSet or DaemonSet goes.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{Laid, group_kind};
use crate::diff::{ObjectRef, Risk, RiskKind};

/// Most items one flag lists before saying how many more there are.
const LIST: usize = 5;

/// An object's identity.
fn object_ref(v: &Value) -> ObjectRef {
    let (group, kind) = group_kind(v);
    let meta = |k: &str| v.pointer(&format!("/metadata/{k}")).and_then(Value::as_str).map(str::to_string);
    ObjectRef {
        group,
        kind,
        namespace: meta("namespace"),
        name: meta("name").unwrap_or_default(),
        api_version: v.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_string(),
    }
}

type Key = (String, String, Option<String>, String);

fn key(o: &ObjectRef) -> Key {
    (o.group.clone(), o.kind.clone(), o.namespace.clone(), o.name.clone())
}

/// The risks of going from the chart output `old` to `new` (path → object; the paths are those
/// of the diff, `hydrated/<release>/…`), most severe first.
pub fn assess(old: &BTreeMap<String, Laid>, new: &BTreeMap<String, Laid>) -> Vec<Risk> {
    let index = |side: &BTreeMap<String, Laid>| -> BTreeMap<Key, (String, ObjectRef)> {
        side.iter()
            .map(|(p, l)| {
                let o = object_ref(&l.value);
                (key(&o), (p.clone(), o))
            })
            .collect()
    };
    let (old_ix, new_ix) = (index(old), index(new));
    let mut risks = Vec::new();
    for (k, (path, obj)) in &new_ix {
        let v = &new[path].value;
        let Some((old_path, _)) = old_ix.get(k) else {
            if !old.is_empty() && is_webhook_config(obj) {
                webhooks(obj, path, None, v, &mut risks);
            }
            continue;
        };
        let o = &old[old_path].value;
        if o == v {
            continue;
        }
        match (obj.group.as_str(), obj.kind.as_str()) {
            ("apiextensions.k8s.io", "CustomResourceDefinition") => crd(obj, path, o, v, &mut risks),
            ("rbac.authorization.k8s.io", "ClusterRole") => cluster_role(obj, path, o, v, &mut risks),
            _ if is_webhook_config(obj) => webhooks(obj, path, Some(o), v, &mut risks),
            _ => {}
        }
        images(obj, path, o, v, &mut risks);
    }
    for (k, (path, obj)) in &old_ix {
        if !new_ix.contains_key(k)
            && obj.group == "apps"
            && matches!(obj.kind.as_str(), "Deployment" | "StatefulSet" | "DaemonSet")
        {
            risks.push(Risk {
                file: Some(path.clone()),
                object: Some(obj.clone()),
                ..Risk::new(
                    RiskKind::WorkloadRemoved,
                    format!("{obj} is removed: its pods stop, and what it served goes with them"),
                )
            });
        }
    }
    risks.sort_by(|a, b| (a.kind, &a.message).cmp(&(b.kind, &b.message)));
    risks.dedup();
    risks
}

fn risk(kind: RiskKind, obj: &ObjectRef, file: &str, message: String) -> Risk {
    Risk { file: Some(file.to_string()), object: Some(obj.clone()), ..Risk::new(kind, message) }
}

/// `a, b, c (and 4 more)`.
fn listed(items: &[String]) -> String {
    let mut s = items.iter().take(LIST).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > LIST {
        s.push_str(&format!(" (and {} more)", items.len() - LIST));
    }
    s
}

/// A CRD's versions: name → (served, storage, schema).
fn crd_versions(v: &Value) -> BTreeMap<String, (bool, bool, Option<&Value>)> {
    v.pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|x| {
            let name = x.get("name")?.as_str()?.to_string();
            let flag = |k: &str| x.get(k).and_then(Value::as_bool).unwrap_or(false);
            Some((name, (flag("served"), flag("storage"), x.pointer("/schema/openAPIV3Schema"))))
        })
        .collect()
}

fn crd(obj: &ObjectRef, file: &str, old: &Value, new: &Value, risks: &mut Vec<Risk>) {
    let (ov, nv) = (crd_versions(old), crd_versions(new));
    let group = new.pointer("/spec/group").and_then(Value::as_str).unwrap_or_default();
    for (name, (served, storage, schema)) in &ov {
        let at = |r: Risk| Risk { path: Some(format!("spec.versions[name={name}]")), ..r };
        match nv.get(name) {
            None if *storage => risks.push(at(risk(
                RiskKind::CrdVersionRemoved,
                obj,
                file,
                format!(
                    "{obj}: version {name}, the one objects are stored in, is removed: the API server refuses the CRD \
                     while `status.storedVersions` lists it; migrate the stored objects first"
                ),
            ))),
            None if *served => risks.push(at(risk(
                RiskKind::CrdVersionRemoved,
                obj,
                file,
                format!("{obj}: version {name} is removed: clients and manifests using {group}/{name} fail"),
            ))),
            Some((now_served, _, _)) if *served && !now_served => risks.push(at(risk(
                RiskKind::CrdVersionRemoved,
                obj,
                file,
                format!("{obj}: version {name} is no longer served: clients and manifests using {group}/{name} fail"),
            ))),
            Some((_, _, new_schema)) => {
                let (mut before, mut after) = (BTreeSet::new(), BTreeSet::new());
                if let Some(s) = schema {
                    fields(s, String::new(), &mut before);
                }
                if let Some(s) = new_schema {
                    fields(s, String::new(), &mut after);
                }
                // Only the top-most field of a removed subtree.
                let gone: Vec<String> = before
                    .iter()
                    .filter(|f| !after.contains(*f))
                    .filter(|f| !parents(f).any(|p| before.contains(p) && !after.contains(p)))
                    .cloned()
                    .collect();
                if !gone.is_empty() {
                    risks.push(at(risk(
                        RiskKind::CrdFieldRemoved,
                        obj,
                        file,
                        format!(
                            "{obj} version {name}: {} removed from the schema: {}; objects that set them are rejected \
                             or lose them",
                            if gone.len() == 1 { "1 field".to_string() } else { format!("{} fields", gone.len()) },
                            listed(&gone)
                        ),
                    )));
                }
            }
            None => {}
        }
    }
}

/// Every property path of an OpenAPI schema (`spec.predictor.model`, list items as `[]`).
fn fields(schema: &Value, at: String, out: &mut BTreeSet<String>) {
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, s) in props {
            let p = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
            out.insert(p.clone());
            fields(s, p, out);
        }
    }
    if let Some(items) = schema.get("items") {
        fields(items, format!("{at}[]"), out);
    }
}

/// The parents of a field path, nearest first (`a.b[].c` → `a.b[]`… as written: `a.b`, `a`).
fn parents(path: &str) -> impl Iterator<Item = &str> {
    let mut rest = path;
    std::iter::from_fn(move || {
        let i = rest.rfind('.')?;
        rest = &rest[..i];
        Some(rest.strip_suffix("[]").unwrap_or(rest))
    })
}

/// Container images by path (`spec.template.spec.containers[name=manager].image`).
fn image_paths(v: &Value, at: &str, in_containers: bool, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
                if k == "image" && in_containers {
                    if let Some(s) = x.as_str() {
                        out.insert(p, s.to_string());
                    }
                    continue;
                }
                let containers = matches!(k.as_str(), "containers" | "initContainers" | "ephemeralContainers");
                image_paths(x, &p, containers || (in_containers && x.is_array()), out);
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                let p = match x.get("name").and_then(Value::as_str) {
                    Some(n) => format!("{at}[name={n}]"),
                    None => format!("{at}[{i}]"),
                };
                image_paths(x, &p, in_containers, out);
            }
        }
        _ => {}
    }
}

/// The registry of an image reference (`docker.io` when it names none, as the runtime reads it).
fn registry(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
        _ => "docker.io",
    }
}

fn images(obj: &ObjectRef, file: &str, old: &Value, new: &Value, risks: &mut Vec<Risk>) {
    if obj.group == "apiextensions.k8s.io" {
        return;
    }
    let (mut before, mut after) = (BTreeMap::new(), BTreeMap::new());
    image_paths(old, "", false, &mut before);
    image_paths(new, "", false, &mut after);
    for (path, n) in &after {
        let Some(o) = before.get(path) else { continue };
        if o == n {
            continue;
        }
        let (kind, what) = if registry(o) != registry(n) {
            (RiskKind::RegistryChanged, format!("registry {} → {}", registry(o), registry(n)))
        } else {
            (RiskKind::ImageChanged, "image".to_string())
        };
        risks.push(Risk {
            path: Some(path.clone()),
            old: Some(o.clone()),
            new: Some(n.clone()),
            ..risk(kind, obj, file, format!("{obj}: {what} at `{path}`: {o} → {n}"))
        });
    }
}

/// What a ClusterRole grants: (API group or `url`, resource or URL, verb, resource names).
type Grant = (String, String, String, String);

fn grants(v: &Value) -> BTreeSet<Grant> {
    let strings = |r: &Value, k: &str| -> Vec<String> {
        r.get(k).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect()
    };
    let mut out = BTreeSet::new();
    for r in v.get("rules").and_then(Value::as_array).into_iter().flatten() {
        let names = strings(r, "resourceNames").join(",");
        for verb in strings(r, "verbs") {
            for url in strings(r, "nonResourceURLs") {
                out.insert(("url".into(), url, verb.clone(), String::new()));
            }
            for g in strings(r, "apiGroups") {
                for res in strings(r, "resources") {
                    out.insert((g.clone(), res, verb.clone(), names.clone()));
                }
            }
        }
    }
    out
}

fn covers(have: &Grant, want: &Grant) -> bool {
    let part = |h: &str, w: &str| h == "*" || h == w;
    (have.0 == want.0 || (have.0 == "*" && want.0 != "url"))
        && (part(&have.1, &want.1)
            || (have.0 == "url" && have.1.ends_with('*') && want.1.starts_with(have.1.trim_end_matches('*'))))
        && part(&have.2, &want.2)
        && (have.3.is_empty() || have.3 == want.3)
}

fn cluster_role(obj: &ObjectRef, file: &str, old: &Value, new: &Value, risks: &mut Vec<Risk>) {
    let before = grants(old);
    let after = grants(new);
    let wider: Vec<&Grant> = after.iter().filter(|g| !before.iter().any(|h| covers(h, g))).collect();
    if wider.is_empty() {
        return;
    }
    // One item per (group, resource, names): its new verbs.
    let mut by_target: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
    for (g, r, verb, names) in &wider {
        by_target.entry((g.clone(), r.clone(), names.clone())).or_default().push(verb.clone());
    }
    let items: Vec<String> = by_target
        .iter()
        .map(|((g, r, names), verbs)| {
            // Core-group resources and non-resource URLs by themselves, others as `group/resource`.
            let target = if g == "url" || g.is_empty() { r.clone() } else { format!("{g}/{r}") };
            let names = if names.is_empty() { String::new() } else { format!(" ({names})") };
            format!("{} on {target}{names}", verbs.join(","))
        })
        .collect();
    risks.push(risk(RiskKind::ClusterRoleWidened, obj, file, format!("{obj} grants more: {}", listed(&items))));
}

fn is_webhook_config(obj: &ObjectRef) -> bool {
    obj.group == "admissionregistration.k8s.io"
        && matches!(obj.kind.as_str(), "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration")
}

/// The fields that decide which requests a webhook sees.
const WEBHOOK_SCOPE: [&str; 5] = ["rules", "namespaceSelector", "objectSelector", "matchPolicy", "matchConditions"];

fn webhooks(obj: &ObjectRef, file: &str, old: Option<&Value>, new: &Value, risks: &mut Vec<Risk>) {
    let list = |v: &Value| -> BTreeMap<String, Value> {
        v.get("webhooks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|w| Some((w.get("name")?.as_str()?.to_string(), w.clone())))
            .collect()
    };
    let before = old.map(list).unwrap_or_default();
    // admissionregistration.k8s.io/v1 defaults: failurePolicy Fail, matchPolicy Equivalent.
    let policy = |w: &Value| w.get("failurePolicy").and_then(Value::as_str).unwrap_or("Fail").to_string();
    for (name, w) in list(new) {
        let at = |r: Risk| Risk { path: Some(format!("webhooks[name={name}]")), ..r };
        let Some(o) = before.get(&name) else {
            risks.push(at(risk(
                RiskKind::WebhookChanged,
                obj,
                file,
                format!(
                    "{obj}: webhook {name} is added (failurePolicy {}): requests it matches {} while its service is not ready",
                    policy(&w),
                    if policy(&w) == "Fail" { "fail" } else { "skip it" }
                ),
            )));
            continue;
        };
        if policy(o) != policy(&w) {
            risks.push(Risk {
                old: Some(policy(o)),
                new: Some(policy(&w)),
                ..at(risk(
                    RiskKind::WebhookChanged,
                    obj,
                    file,
                    format!("{obj}: webhook {name} failurePolicy {} → {}", policy(o), policy(&w)),
                ))
            });
        }
        let scope: Vec<String> =
            WEBHOOK_SCOPE.iter().filter(|k| o.get(**k) != w.get(**k)).map(|k| k.to_string()).collect();
        if !scope.is_empty() {
            risks.push(at(risk(
                RiskKind::WebhookChanged,
                obj,
                file,
                format!("{obj}: webhook {name} sees other requests: {} change", scope.join(", ")),
            )));
        }
    }
}
