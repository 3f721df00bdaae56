//! `kgen explain`: for every effective value of an environment, where it came from (an
//! environment or layer file, a Helm values override, the catalog, or kgen's defaults) and which
//! rendered files it reaches.
//!
//! "Reaches" is measured, not guessed from templates: the value alone is changed in a copy of the
//! merged document, that copy is resolved and rendered like the real thing, and the files whose
//! content differs from the real render are the ones the value reaches. Pure, like rendering: no
//! I/O.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::catalog;
use crate::config::merge::Origin;
use crate::config::resolve::{PinSource, Resolved};
use crate::config::schema::{environment_schema, schema_at};
use crate::config::validate::key_path;
use crate::diag::Severity;
use crate::lock::Lock;
use crate::pipeline::{self, Judged};
use crate::render::{LOCK_FILE, Rendered};
use crate::rule_code::RuleCode;
use crate::version::Version;
use crate::yaml::escape_pointer;

/// Changed values tried per key before giving up: each costs a resolve and a render.
const MAX_PROBES: usize = 6;

/// One effective value and where it came from.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Leaf {
    /// Key path (`kserve.ingressDomain`, `values.istiod.replicaCount`).
    pub key: String,
    /// JSON pointer of the value in the effective (and merged) document.
    #[serde(skip)]
    pub pointer: String,
    /// The effective value. A list of scalars is one value.
    pub value: Value,
    /// Who set it.
    pub source: Source,
    /// Values of earlier files of the `extends` chain that this one replaced, newest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<Origin>,
}

/// Where an effective value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Source {
    /// The environment's own file.
    Environment {
        /// Where in it.
        origin: Origin,
    },
    /// A layer of the `extends` chain (a file other than the environment's own).
    Layer {
        /// Where in it.
        origin: Origin,
    },
    /// A Helm values override (`values.<release>.…`), in the environment file or a layer.
    ValuesOverride {
        /// Where it was written.
        origin: Origin,
    },
    /// A version pin of the KServe release in kgen's catalog.
    Catalog {
        /// The KServe release.
        release: String,
        /// Where the catalog read that release's pins.
        source: String,
    },
    /// `kserve.version` when no file sets it: the newest release in kgen's catalog.
    NewestRelease {
        /// That release.
        release: String,
    },
    /// Derived by kgen from other values when no file sets it (`gitops.path` from the
    /// environment's name, OLM channels from the catalog, …).
    Derived {
        /// How.
        how: String,
    },
    /// The default of kgen's environment model (`kgen schema` shows it).
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = |o: &Origin| format!("{}:{}:{}", o.file, o.line, o.col);
        match self {
            Source::Environment { origin } => write!(f, "environment {}", at(origin)),
            Source::Layer { origin } => write!(f, "layer {}", at(origin)),
            Source::ValuesOverride { origin } => write!(f, "values override ({})", at(origin)),
            Source::Catalog { release, source } => write!(f, "catalog: KServe {release} ({source})"),
            Source::NewestRelease { release } => {
                write!(f, "catalog: KServe {release} (the newest release; no file sets kserve.version)")
            }
            Source::Derived { how } => write!(f, "derived: {how}"),
            Source::Default => f.write_str("default (kgen's model)"),
        }
    }
}

/// How a rendered file differs when a value changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Change {
    /// The file's content changes.
    Changed,
    /// The file appears.
    Added,
    /// The file disappears.
    Removed,
}

/// A rendered file a value reaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reached {
    /// Path relative to `rendered/<env>/`.
    pub path: String,
    /// How it differs.
    pub change: Change,
}

/// Which rendered files a value reaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum Reach {
    /// Found by rendering with `probe` in place of the value.
    Traced {
        /// The changed value that was rendered.
        probe: Value,
        /// The files that differ from the real render, by path (empty: the value reaches none).
        files: Vec<Reached>,
        /// Rules the probe breaks (it is traced anyway: what a value reaches does not depend on
        /// whether the changed value would be accepted).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        breaks: Vec<&'static str>,
    },
    /// No changed value could be resolved, so nothing was measured.
    NotTraced {
        /// Why.
        reason: String,
    },
}

/// Every effective value of an environment, sorted by key path: the leaves of
/// [`Resolved::effective_value`] (a list of scalars is one leaf, an empty map none) and the
/// catalog pins no file overrides.
pub fn leaves(r: &Resolved) -> Vec<Leaf> {
    let mut found = Vec::new();
    collect_leaves(&r.effective_value(), String::new(), &mut found);
    let mut out: Vec<Leaf> = found
        .into_iter()
        .map(|(pointer, value)| {
            let source = match r.provenance.exact(&pointer) {
                Some(o) if pointer.starts_with("/values/") => Source::ValuesOverride { origin: o.clone() },
                Some(o) if o.file == r.env_file() => Source::Environment { origin: o.clone() },
                Some(o) => Source::Layer { origin: o.clone() },
                None if pointer == "/kserve/version" => Source::NewestRelease { release: r.release.version.clone() },
                None => match r.derived.get(&pointer) {
                    Some(how) => Source::Derived { how: how.clone() },
                    None => Source::Default,
                },
            };
            let overrides = r.provenance.shadowed(&pointer).iter().rev().cloned().collect();
            Leaf { key: key_path(&pointer), pointer, value, source, overrides }
        })
        .collect();
    // `extends` is consumed by merging; it is still a value a file set.
    // The parent is the file before the environment's own in the chain.
    let parent = r.files.iter().rev().nth(1).and_then(|f| std::path::Path::new(f).file_stem()?.to_str());
    if let (Some(parent), Some(o)) = (parent, r.provenance.exact("/extends")) {
        let origin = o.clone();
        let source =
            if origin.file == r.env_file() { Source::Environment { origin } } else { Source::Layer { origin } };
        let pointer = "/extends".to_string();
        let overrides = r.provenance.shadowed(&pointer).iter().rev().cloned().collect();
        out.push(Leaf { key: "extends".into(), pointer, value: Value::String(parent.to_string()), source, overrides });
    }
    for (pin, version) in &r.pins {
        if r.pin_sources.get(pin) == Some(&PinSource::Catalog) {
            let pointer = format!("/versions/{}", escape_pointer(pin));
            out.push(Leaf {
                key: key_path(&pointer),
                pointer,
                value: Value::String(version.clone()),
                source: Source::Catalog { release: r.release.version.clone(), source: r.release.pins_source.clone() },
                overrides: Vec::new(),
            });
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

fn collect_leaves(v: &Value, ptr: String, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) => {
            // An empty map (`versions: {}`) has no value of its own to explain.
            for (k, c) in m {
                collect_leaves(c, format!("{ptr}/{}", escape_pointer(k)), out);
            }
        }
        Value::Array(a) if a.iter().any(|x| x.is_object() || x.is_array()) => {
            for (i, c) in a.iter().enumerate() {
                collect_leaves(c, format!("{ptr}/{i}"), out);
            }
        }
        other => out.push((ptr, other.clone())),
    }
}

/// Which rendered files each leaf reaches, in the order of `leaves`. `sources` are the texts of
/// the environment files, as for [`render::render`]. Errs only when the real render fails.
pub fn trace(
    r: &Judged,
    sources: &BTreeMap<String, String>,
    leaves: &[Leaf],
) -> Result<Vec<Reach>, crate::error::Error> {
    let baseline = pipeline::render(r, sources)?;
    Ok(crate::par_map(leaves, |leaf| trace_one(r, sources, &baseline, leaf)))
}

/// Rules whose errors leave the render undefined (a version or repository it needs is missing).
const RENDER_UNDEFINED: &[RuleCode] = &[RuleCode::KG204, RuleCode::KG601];

/// Tries changed values in turn and keeps the first that resolves and changes the render; when
/// every one that resolves changes nothing, the value reaches nothing.
fn trace_one(r: &Resolved, sources: &BTreeMap<String, String>, baseline: &Rendered, leaf: &Leaf) -> Reach {
    if leaf.pointer == "/extends" {
        // Another parent changes every value it sets; those are traced one by one.
        return Reach::NotTraced {
            reason: format!(
                "the layer chain is {}; each value a layer sets is listed with its own file and line",
                r.files.join(" → ")
            ),
        };
    }
    let candidates = candidates(r, leaf);
    if candidates.is_empty() {
        return Reach::NotTraced { reason: no_candidate_reason(leaf) };
    }
    let mut quiet: Option<(Value, Vec<&'static str>)> = None;
    let mut rejected: Vec<String> = Vec::new();
    for probe in candidates.into_iter().take(MAX_PROBES) {
        let mut doc = r.merged.clone();
        set(&mut doc, &leaf.pointer, probe.clone());
        // A probe may break a rule (`mesh.provider: ossm2` on Kubernetes breaks KG304) and still
        // show what the value reaches; only a probe that cannot be resolved, or whose render
        // is undefined (a needed pin or repository missing), is rejected.
        let (changed, diags) = match pipeline::check_merged(&r.name, doc, r.provenance.clone(), r.files.clone()) {
            Ok(ok) => ok,
            Err(diags) => {
                let d = diags.iter().find(|d| d.severity == Severity::Error);
                let why = d.map_or_else(|| "invalid".to_string(), |d| format!("{} {}", d.code, d.message));
                rejected.push(format!("{}: {why}", show(&probe)));
                continue;
            }
        };
        if let Some(d) = diags.iter().find(|d| d.severity == Severity::Error && RENDER_UNDEFINED.contains(&d.code)) {
            rejected.push(format!("{}: {} {}", show(&probe), d.code, d.message));
            continue;
        }
        let files = match pipeline::render(&changed, sources) {
            Ok(rendered) => differences(baseline, &rendered),
            Err(e) => return Reach::NotTraced { reason: format!("rendering with {} failed: {e}", show(&probe)) },
        };
        let mut breaks: Vec<&'static str> =
            diags.iter().filter(|d| d.severity == Severity::Error).map(|d| d.code.as_str()).collect();
        breaks.dedup();
        if !files.is_empty() {
            return Reach::Traced { probe, files, breaks };
        }
        quiet.get_or_insert((probe, breaks));
    }
    match quiet {
        Some((probe, breaks)) => Reach::Traced { probe, files: Vec::new(), breaks },
        None => {
            // Every rejection is named: a value that cannot change alone is itself an answer
            // (`cluster.platform` needs the mesh to change with it).
            let n = rejected.len();
            let what = if n == 1 { "the only other value tried is invalid" } else { "no other value tried is valid" };
            Reach::NotTraced { reason: format!("{what}: {}", rejected.join("; ")) }
        }
    }
}

fn no_candidate_reason(leaf: &Leaf) -> String {
    match &leaf.value {
        Value::String(s) => format!("`{s}` is the only allowed value"),
        Value::Null => "the value is null".into(),
        _ => "kgen has no other value to try".into(),
    }
}

/// A value as the user would write it.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("`{s}`"),
        other => format!("`{other}`"),
    }
}

/// Changed values to try for a leaf, most telling first.
fn candidates(r: &Resolved, leaf: &Leaf) -> Vec<Value> {
    let mut out: Vec<Value> = match &leaf.value {
        Value::String(_) if leaf.pointer == "/kserve/version" => other_releases(&r.release.version),
        Value::Array(items) => list_candidates(&leaf.pointer, items),
        v => scalar_candidates(&leaf.pointer, v),
    };
    out.retain(|c| c != &leaf.value);
    let mut seen = Vec::new();
    out.retain(|c| {
        let new = !seen.contains(c);
        seen.push(c.clone());
        new
    });
    out
}

/// The other catalog releases, nearest in version first (the previous one before the next one).
fn other_releases(current: &str) -> Vec<Value> {
    let mut all: Vec<&str> = catalog::get().release_versions();
    all.sort_by_key(|v| Version::parse(v));
    let at = all.iter().position(|v| *v == current).unwrap_or(all.len());
    let mut out = Vec::new();
    for d in 1..=all.len() {
        if let Some(v) = at.checked_sub(d).and_then(|i| all.get(i)) {
            out.push(Value::String(v.to_string()));
        }
        if let Some(v) = all.get(at + d) {
            out.push(Value::String(v.to_string()));
        }
    }
    out
}

fn scalar_candidates(pointer: &str, v: &Value) -> Vec<Value> {
    match v {
        Value::Bool(b) => vec![Value::Bool(!b)],
        Value::Number(n) => {
            let next = if let Some(i) = n.as_u64() {
                i.checked_add(1).map(Value::from)
            } else if let Some(i) = n.as_i64() {
                i.checked_add(1).map(Value::from)
            } else {
                n.as_f64().and_then(|f| serde_json::Number::from_f64(f + 1.0)).map(Value::Number)
            };
            next.into_iter().collect()
        }
        Value::String(s) => string_candidates(pointer, s),
        _ => Vec::new(),
    }
}

/// An enum's other values (from the JSON Schema); else a bumped version for version-like
/// strings, or a bumped number for a number with a unit (`20m` → `21m`, a duration); else the
/// string with an `x` added, which fits kgen's name and URL patterns.
fn string_candidates(pointer: &str, s: &str) -> Vec<Value> {
    if let Some(allowed) =
        schema_at(environment_schema(), pointer).and_then(|n| n.get("enum")).and_then(Value::as_array)
    {
        return allowed.iter().filter(|a| a.as_str() != Some(s)).cloned().collect();
    }
    let mut out: Vec<String> = bumped_versions(s);
    out.extend(bumped_quantity(s));
    out.extend([format!("x{s}"), format!("{s}x"), "x".to_string()]);
    out.into_iter().map(Value::String).collect()
}

/// `v0.20.0` → `v0.20.1`, `v0.21.0`; `1.33` → `1.34`, `1.33.1`. The form (leading `v`, number
/// of parts) is kept first, since patterns check it.
fn bumped_versions(s: &str) -> Vec<String> {
    let (prefix, rest) = s.strip_prefix('v').map_or(("", s), |r| ("v", r));
    let Some(parts) = rest.split('.').map(|p| p.parse::<u64>().ok()).collect::<Option<Vec<u64>>>() else {
        return Vec::new();
    };
    let join = |p: &[u64]| format!("{prefix}{}", p.iter().map(u64::to_string).collect::<Vec<_>>().join("."));
    let mut out = Vec::new();
    let mut last = parts.clone();
    if let Some(x) = last.last_mut() {
        *x += 1;
        out.push(join(&last));
    }
    if parts.len() >= 3 {
        let mut minor = parts.clone();
        minor[1] += 1;
        minor[2..].iter_mut().for_each(|x| *x = 0);
        out.push(join(&minor));
    } else if parts.len() == 2 {
        out.push(join(&[parts[0], parts[1], 1]));
    }
    out
}

/// `20m` → `21m`: a whole number followed by a unit of letters, the number plus one.
fn bumped_quantity(s: &str) -> Option<String> {
    let digits = s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (n, unit) = s.split_at(digits);
    let n: u64 = n.parse().ok()?;
    (!unit.is_empty() && unit.chars().all(|c| c.is_ascii_alphabetic())).then(|| format!("{}{unit}", n + 1))
}

/// A list of scalars changes as a whole: its last item changed, an item added, an item removed.
fn list_candidates(pointer: &str, items: &[Value]) -> Vec<Value> {
    let item_pointer = format!("{pointer}/0");
    let Some(last) = items.last() else {
        let mut seeds = scalar_candidates(&item_pointer, &Value::String(String::new()));
        seeds.truncate(2);
        return seeds.into_iter().map(|s| Value::Array(vec![s])).collect();
    };
    let mut out = Vec::new();
    for c in scalar_candidates(&item_pointer, last).into_iter().take(2) {
        let mut changed = items.to_vec();
        *changed.last_mut().expect("non-empty") = c.clone();
        out.push(Value::Array(changed));
        let mut longer = items.to_vec();
        longer.push(c);
        out.push(Value::Array(longer));
    }
    out.push(Value::Array(items[..items.len() - 1].to_vec()));
    out
}

/// Sets the value at `pointer`, creating the maps on the way (a default has no node in the
/// merged document).
fn set(doc: &mut Value, pointer: &str, value: Value) {
    let mut node = doc;
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if !node.is_object() && !node.is_array() {
            *node = Value::Object(serde_json::Map::new());
        }
        node = match node {
            Value::Array(a) => match seg.parse::<usize>().ok().filter(|i| *i < a.len()) {
                Some(i) => &mut a[i],
                None => return,
            },
            Value::Object(m) => m.entry(seg).or_insert(Value::Null),
            _ => unreachable!("made a container above"),
        };
    }
    *node = value;
}

/// The files of `probe` that differ from `baseline`. `kgen.lock.json` lists a digest of every
/// file, so it differs whenever any file does; it counts only when something else in it (pins,
/// releases, order) changes.
pub fn differences(baseline: &Rendered, probe: &Rendered) -> Vec<Reached> {
    let mut out = Vec::new();
    for (path, text) in &baseline.files {
        let change = match probe.files.get(path) {
            None => Some(Change::Removed),
            Some(t) if t == text => None,
            Some(t) if path == LOCK_FILE => (lock_meaning(t) != lock_meaning(text)).then_some(Change::Changed),
            Some(_) => Some(Change::Changed),
        };
        if let Some(change) = change {
            out.push(Reached { path: path.clone(), change });
        }
    }
    for path in probe.files.keys().filter(|p| !baseline.files.contains_key(*p)) {
        out.push(Reached { path: path.clone(), change: Change::Added });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// The index without what derives from the files and inputs (their digests); `None` when it
/// is not a lock.
fn lock_meaning(text: &str) -> Option<Lock> {
    let mut lock = Lock::from_slice(text.as_bytes()).ok()?;
    lock.files.clear();
    lock.inputs.digest.clear();
    Some(lock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load::Workspace;

    /// An example environment of the repository, resolved, with the texts of its files.
    fn example(name: &str) -> (Judged, BTreeMap<String, String>) {
        let ws = Workspace::load(std::path::Path::new(env!("CARGO_MANIFEST_DIR"))).expect("examples load");
        let c = crate::pipeline::check(&ws, name);
        (c.judged.unwrap_or_else(|| panic!("{name}: {:#?}", c.diagnostics)), ws.sources)
    }

    /// What `key` of an example reaches, with the probe used.
    fn reach(name: &str, key: &str) -> Reach {
        let (r, sources) = example(name);
        let leaf: Vec<Leaf> = leaves(&r).into_iter().filter(|l| l.key == key).collect();
        assert_eq!(leaf.len(), 1, "{key} is one leaf of {name}");
        trace(&r, &sources, &leaf).expect("prod renders").remove(0)
    }

    fn paths(reach: &Reach) -> Vec<(&str, Change)> {
        match reach {
            Reach::Traced { files, .. } => files.iter().map(|f| (f.path.as_str(), f.change)).collect(),
            Reach::NotTraced { reason } => panic!("not traced: {reason}"),
        }
    }

    #[test]
    fn the_ingress_domain_reaches_the_kserve_values_and_knative_serving() {
        let reach = reach("prod", "kserve.ingressDomain");
        assert_eq!(
            paths(&reach),
            [
                // prod's `tls.issuer`: the Certificate is for the domain's wildcard.
                ("manifests/istio-system/certificate-kserve-ingress-tls.yaml", Change::Changed),
                ("manifests/knative-serving/knativeserving-knative-serving.yaml", Change::Changed),
                ("values/kserve.yaml", Change::Changed),
            ]
        );
        assert!(matches!(reach, Reach::Traced { probe, .. } if probe == "xmodels.example.com"));
    }

    #[test]
    fn a_defaulted_boolean_reaches_istiod_only() {
        assert_eq!(paths(&reach("prod", "mesh.sidecarAutoInject")), [("values/istiod.yaml", Change::Changed)]);
    }

    #[test]
    fn a_namespace_moves_files() {
        let reach = reach("prod", "kserve.namespace");
        let reached = paths(&reach);
        assert!(reached.contains(&("manifests/_cluster/namespace-kserve.yaml", Change::Removed)), "{reached:?}");
        assert!(reached.contains(&("manifests/_cluster/namespace-xkserve.yaml", Change::Added)), "{reached:?}");
    }

    #[test]
    fn a_values_override_reaches_its_release_only() {
        assert_eq!(paths(&reach("prod", "values.istiod.autoscaleMin")), [("values/istiod.yaml", Change::Changed)]);
    }

    #[test]
    fn another_release_is_tried_for_the_kserve_version() {
        // OpenShift on v0.19.0 once panicked in the Kubernetes-minimum rule.
        let reach = reach("openshift", "kserve.version");
        assert!(matches!(&reach, Reach::Traced { probe, .. } if probe == "v0.19.0"), "{reach:?}");
        assert!(paths(&reach).contains(&("values/kserve.yaml", Change::Changed)), "{reach:?}");
    }

    #[test]
    fn a_value_no_template_reads_reaches_nothing() {
        assert_eq!(paths(&reach("prod", "description")), []);
    }

    #[test]
    fn values_that_cannot_change_alone_say_why() {
        let Reach::NotTraced { reason } = reach("prod", "apiVersion") else { panic!("apiVersion has one value") };
        assert!(reason.contains("only allowed value"), "{reason}");
    }

    #[test]
    fn a_probe_that_breaks_a_rule_is_still_traced() {
        // `mesh.provider: none` breaks KG401 in Knative mode, but the render is defined and
        // shows what the mesh reaches.
        let r = reach("prod", "mesh.provider");
        let files = paths(&r);
        assert!(files.contains(&("values/istiod.yaml", Change::Removed)), "{files:?}");
    }

    #[test]
    fn a_scalar_list_is_one_leaf() {
        let (r, _) = example("openshift");
        let ns: Vec<Leaf> = leaves(&r).into_iter().filter(|l| l.key.starts_with("kserve.modelNamespaces")).collect();
        assert_eq!(ns.len(), 1, "{ns:?}");
        assert_eq!(ns[0].value, serde_json::json!(["kserve-demo", "fraud-models"]));
    }

    #[test]
    fn sources_are_told_apart() {
        let (r, _) = example("prod");
        let all = leaves(&r);
        let source = |k: &str| all.iter().find(|l| l.key == k).unwrap_or_else(|| panic!("{k}")).source.clone();
        assert!(matches!(source("cluster.name"), Source::Environment { .. }));
        assert!(matches!(source("kserve.ingressDomain"), Source::Layer { origin } if origin.line == 7));
        assert!(matches!(source("values.istiod.autoscaleMin"), Source::ValuesOverride { .. }));
        assert!(matches!(source("versions.istio"), Source::Catalog { release, .. } if release == "v0.20.0"));
        assert_eq!(source("mesh.namespace"), Source::Default);
        let description = all.iter().find(|l| l.key == "description").unwrap();
        assert_eq!(description.overrides[0].file, "environments/_base.yaml");
    }

    #[test]
    fn the_lock_counts_only_beyond_its_digests() {
        let (r, sources) = example("dev");
        let real = crate::render::render(&r, &sources).unwrap().files[LOCK_FILE].clone();
        let lock = |edit: &dyn Fn(&mut Lock)| {
            let mut l = Lock::from_slice(real.as_bytes()).unwrap();
            l.versions = BTreeMap::from([("x".into(), "1".into())]);
            l.files = BTreeMap::from([("a.yaml".into(), "1".into())]);
            edit(&mut l);
            l.to_json()
        };
        let base = Rendered {
            env: "e".into(),
            files: BTreeMap::from([
                ("a.yaml".into(), "a".into()),
                ("gone.yaml".into(), "g".into()),
                (LOCK_FILE.into(), lock(&|_| {})),
            ]),
        };
        let mut probe = base.clone();
        probe.files.insert("a.yaml".into(), "b".into());
        probe.files.remove("gone.yaml");
        probe.files.insert("new.yaml".into(), "n".into());
        // The file digests and the input digest derive from the rest: no change of meaning.
        probe.files.insert(
            LOCK_FILE.into(),
            lock(&|l| {
                l.files.insert("a.yaml".into(), "2".into());
                l.inputs.digest = "sha256:other".into();
            }),
        );
        let got: Vec<(String, Change)> = differences(&base, &probe).into_iter().map(|f| (f.path, f.change)).collect();
        let want = [("a.yaml", Change::Changed), ("gone.yaml", Change::Removed), ("new.yaml", Change::Added)];
        assert_eq!(got, want.map(|(p, c)| (p.to_string(), c)));
        probe.files.insert(
            LOCK_FILE.into(),
            lock(&|l| {
                l.versions.insert("x".into(), "2".into());
            }),
        );
        assert!(differences(&base, &probe).iter().any(|f| f.path == LOCK_FILE));
    }

    #[test]
    fn versions_bump_in_their_own_form() {
        assert_eq!(bumped_versions("v0.20.0"), ["v0.20.1", "v0.21.0"]);
        assert_eq!(bumped_versions("1.33"), ["1.34", "1.33.1"]);
        assert_eq!(bumped_versions("1.27.1"), ["1.27.2", "1.28.0"]);
        assert!(bumped_versions("models.example.com").is_empty());
        assert_eq!(bumped_quantity("20m").as_deref(), Some("21m"));
        assert_eq!(bumped_quantity("60s").as_deref(), Some("61s"));
        assert_eq!(bumped_quantity("v1"), None);
        assert_eq!(bumped_quantity("600"), None);
    }

    #[test]
    fn set_creates_missing_maps() {
        let mut doc = serde_json::json!({"a": {"b": 1}});
        set(&mut doc, "/c/d~1e", Value::Bool(true));
        set(&mut doc, "/a/b", Value::from(2));
        assert_eq!(doc, serde_json::json!({"a": {"b": 2}, "c": {"d/e": true}}));
    }

    #[test]
    fn other_releases_start_next_to_the_current_one() {
        let c = other_releases("v0.20.0");
        assert_eq!(c[0], "v0.19.0");
        assert_eq!(c.len(), catalog::get().releases.len() - 1);
        let c = other_releases("v0.17.0");
        assert_eq!(&c[..2], ["v0.16.0", "v0.17.1"]);
    }

    #[test]
    fn enums_try_their_other_values() {
        let c = string_candidates("/kserve/deploymentMode", "Knative");
        assert_eq!(c, ["Standard", "Serverless", "RawDeployment"]);
        assert!(string_candidates("/apiVersion", "kgen/v1").is_empty());
    }
}
