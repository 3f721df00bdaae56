//! Rules on the rendered files (stage `render`): they read what the cluster would really get —
//! kgen's templates and the user's Helm values overrides together — so a template regression or
//! an override that breaks an upstream constraint is caught before anything is written.
//!
//! Problems are located at the environment key that caused them when one did (a values
//! override), else at the rendered file (`rendered/<env>/<path>`) and key.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::RuleCode;
use super::diag;
use crate::catalog;
use crate::config::model::{GitopsEngine, MeshProvider};
use crate::config::resolve::{KnativeNetworking, Resolved};
use crate::diag::Diagnostic;
use crate::lock::Lock;
use crate::render::gitops::{self, ApplyOrder, none::SCRIPT};
use crate::render::{LOCK_FILE, Rendered};
use crate::yaml;

/// How much of a render the rules read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Every rule over every file: `kgen validate`, tests and debug builds. Guards of kgen's own
    /// output (ordering, API versions, version formats …) only run at this depth.
    Full,
    /// Only what the environment's input can break — its Helm values overrides — read only
    /// where an override reaches. What kgen's templates alone produce is proven by the tests and
    /// by `kgen validate` (as release builds do not parse their own output back, SPEC §9); this
    /// keeps `render` and `diff` over a large fleet fast.
    Overrides,
}

/// When a render check runs.
#[derive(Debug, Clone, Copy)]
enum When {
    /// Every run: the environment's input alone can break it.
    Always,
    /// At [`Depth::Overrides`] only where an override reaches: when the environment overrides
    /// the values of one of `releases`, or (with `knative_config`) sets `knative.config`.
    Overrides { releases: &'static [&'static str], knative_config: bool },
    /// Only at [`Depth::Full`]: a guard of kgen's own output.
    Full,
}

/// One render check: the codes it raises, when it runs, and the check (told whether the run is
/// at full depth).
struct Check {
    codes: &'static [RuleCode],
    when: When,
    run: fn(&Resolved, &Tree<'_>, bool, &mut Vec<Diagnostic>),
}

/// Every render rule, in the order they run: (codes, depth, check); the stage is the catalog's
/// ([`RuleCode::stage`]). A test keeps it equal to the catalog's render rules.
const CHECKS: &[Check] = &[
    Check { codes: &[RuleCode::KG118], when: When::Always, run: strings },
    Check { codes: &[RuleCode::KG119], when: When::Always, run: |r, t, _, out| unused_overrides(r, t, out) },
    Check {
        codes: &[RuleCode::KG404],
        when: When::Overrides { releases: &["istio-ingressgateway"], knative_config: false },
        run: |r, t, _, out| gateway_selectors(r, t, out),
    },
    Check {
        codes: &[RuleCode::KG308],
        when: When::Overrides { releases: &["istio-ingressgateway"], knative_config: false },
        run: |r, t, _, out| gateway_values_keys(r, t, out),
    },
    Check {
        codes: &[RuleCode::KG406],
        when: When::Overrides { releases: &["istio-ingressgateway", "kserve"], knative_config: true },
        run: |r, t, _, out| local_gateway_service(r, t, out),
    },
    Check {
        codes: &[RuleCode::KG503, RuleCode::KG505],
        when: When::Overrides { releases: &["kserve"], knative_config: false },
        run: |r, t, _, out| kserve_values(r, t, out),
    },
    Check { codes: &[RuleCode::KG312], when: When::Always, run: |r, t, _, out| ignored_values(r, t, out) },
    Check { codes: &[RuleCode::KG207], when: When::Full, run: |r, t, _, out| version_formats(r, t, out) },
    Check { codes: &[RuleCode::KG208], when: When::Full, run: |r, t, _, out| kserve_chart(r, t, out) },
    Check { codes: &[RuleCode::KG310], when: When::Full, run: |r, t, _, out| member_roll(r, t, out) },
    Check { codes: &[RuleCode::KG408], when: When::Full, run: |r, t, _, out| knative_ingress(r, t, out) },
    Check { codes: &[RuleCode::KG602], when: When::Full, run: |r, t, _, out| ordering(r, t, out) },
    Check { codes: &[RuleCode::KG603], when: When::Full, run: |r, t, _, out| server_side_apply(r, t, out) },
    Check { codes: &[RuleCode::KG604], when: When::Full, run: |r, t, _, out| gitops_api(r, t, out) },
    Check { codes: &[RuleCode::KG610], when: When::Full, run: |r, t, _, out| release_records(r, t, out) },
];

/// Runs the render rules of a depth.
pub fn check(r: &Resolved, rendered: &Rendered, depth: Depth) -> Vec<Diagnostic> {
    let t = Tree::new(rendered);
    let mut out = Vec::new();
    let full = depth == Depth::Full;
    let over = |release: &str| full || r.env.values.get(release).is_some();
    for c in CHECKS {
        let runs = match c.when {
            When::Always => true,
            When::Overrides { releases, knative_config } => {
                releases.iter().any(|x| over(x)) || (knative_config && !r.env.knative.config.is_empty())
            }
            When::Full => full,
        };
        if runs {
            let before = out.len();
            (c.run)(r, &t, full, &mut out);
            // The table says what each check raises; tests and debug builds hold it to that.
            debug_assert!(out[before..].iter().all(|d| c.codes.contains(&d.code)), "{:?}", &out[before..]);
        }
    }
    // Two selectors broken by one override are one problem at that override.
    crate::diag::normalize(&mut out);
    out
}

/// The rendered files, parsed on first use (most rules read a handful of them).
struct Tree<'a> {
    rendered: &'a Rendered,
    parsed: BTreeMap<&'a str, OnceCell<Option<Value>>>,
    /// The index, read on first use; `None` when absent or not a lock.
    lock: OnceCell<Option<Lock>>,
}

impl<'a> Tree<'a> {
    fn new(rendered: &'a Rendered) -> Self {
        let parsed = rendered
            .files
            .keys()
            .filter(|p| p.ends_with(".yaml") || p.ends_with(".json"))
            .map(|p| (p.as_str(), OnceCell::new()))
            .collect();
        Tree { rendered, parsed, lock: OnceCell::new() }
    }

    /// A file's document; `None` when absent or not YAML.
    fn doc(&self, path: &str) -> Option<&Value> {
        let cell = self.parsed.get(path)?;
        cell.get_or_init(|| yaml::from_str(&self.rendered.files[path], yaml::Budget::Render).ok()).as_ref()
    }

    /// Every YAML document under a folder prefix, with its path.
    fn docs_under(&self, prefix: &str) -> Vec<(&'a str, &Value)> {
        self.parsed.keys().filter(|p| p.starts_with(prefix)).filter_map(|p| Some((*p, self.doc(p)?))).collect()
    }

    /// Manifests of a kind. Files are named `<kind>-<name>.yaml` (SPEC §5), so only those
    /// are parsed; the parsed `kind` decides.
    fn manifests(&self, kind: &str) -> Vec<(&'a str, &Value)> {
        let prefix = format!("{}-", kind.to_lowercase());
        self.parsed
            .keys()
            .filter(|p| p.starts_with("manifests/") && p.rsplit('/').next().is_some_and(|f| f.starts_with(&prefix)))
            .filter_map(|p| Some((*p, self.doc(p)?)))
            .filter(|(_, d)| d["kind"] == kind)
            .collect()
    }

    fn lock(&self) -> Option<&Lock> {
        self.lock
            .get_or_init(|| self.rendered.files.get(LOCK_FILE).and_then(|t| Lock::from_slice(t.as_bytes()).ok()))
            .as_ref()
    }

    /// `(name, chart, version, namespace)` of every Helm release in the index.
    fn releases(&self) -> Vec<(&str, &str, &str, &str)> {
        let Some(lock) = self.lock() else { return vec![] };
        lock.releases
            .iter()
            .map(|x| (x.name.as_str(), x.chart.as_str(), x.version.as_str(), x.namespace.as_str()))
            .collect()
    }

    fn values(&self, release: &str) -> Option<&Value> {
        self.doc(&format!("values/{release}.yaml"))
    }
}

/// A diagnostic in a rendered file at a JSON pointer: `rendered/<env>/<path>:line:col` (of the
/// value, or of its nearest ancestor that exists) and the key path.
fn at_file(r: &Resolved, t: &Tree<'_>, d: Diagnostic, path: &str, pointer: &str) -> Diagnostic {
    let location = t.rendered.files.get(path).and_then(|text| {
        let map = yaml::pointer_map(text);
        let mut p = pointer.to_string();
        loop {
            if let Some(at) = map.get(&p) {
                return Some(*at);
            }
            p.truncate(p.rfind('/')?);
        }
    });
    d.in_file(format!("rendered/{}/{path}", r.name)).at(location).key(crate::config::validate::key_path(pointer))
}

/// A diagnostic about a values key: at the override that set it when there is one, else in the
/// rendered values file.
fn at_values(r: &Resolved, t: &Tree<'_>, d: Diagnostic, release: &str, pointer: &str) -> Diagnostic {
    let input = format!("/values/{release}{pointer}");
    if r.provenance.lookup(&input).is_some() && pointer_in_overrides(r, release, pointer) {
        return r.diag_at(d, &input);
    }
    at_file(r, t, d, &format!("values/{release}.yaml"), pointer)
}

/// Whether an override sets this pointer or one of its ancestors.
fn pointer_in_overrides(r: &Resolved, release: &str, pointer: &str) -> bool {
    let Some(over) = r.env.values.get(release) else { return false };
    let root = Value::Object(over.clone());
    let mut p = pointer.to_string();
    loop {
        if root.pointer(&p).is_some() {
            return true;
        }
        match p.rfind('/') {
            Some(0) | None => return false,
            Some(i) => p.truncate(i),
        }
    }
}

fn str_at<'v>(v: &'v Value, pointer: &str) -> Option<&'v str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// KG119: a values override for a release this render does not install changes nothing.
fn unused_overrides(r: &Resolved, t: &Tree<'_>, out: &mut Vec<Diagnostic>) {
    let overridden: Vec<&String> = catalog::get().charts.keys().filter(|n| r.env.values.get(n).is_some()).collect();
    if overridden.is_empty() {
        return;
    }
    let releases: BTreeSet<&str> = t.releases().into_iter().map(|(n, ..)| n).collect();
    for name in overridden {
        if !releases.contains(name.as_str()) {
            out.push(r.diag_at(
                diag(
                    RuleCode::KG119,
                    format!("this environment installs no `{name}` release, so `values.{name}` changes nothing"),
                ),
                &format!("/values/{name}"),
            ));
        }
    }
}

/// KG118: annotation, label and selector-map values must be strings.
fn strings(r: &Resolved, t: &Tree<'_>, full: bool, out: &mut Vec<Diagnostic>) {
    let keys = &catalog::get().rule_facts.string_maps;
    fn walk(v: &Value, ptr: &mut String, keys: &[String], found: &mut Vec<(String, String)>) {
        match v {
            Value::Object(m) => {
                for (k, c) in m {
                    let len = ptr.len();
                    ptr.push('/');
                    ptr.push_str(&yaml::escape_pointer(k));
                    if keys.contains(k)
                        && let Value::Object(entries) = c
                    {
                        // `null` is Helm's way to delete a chart default, not a value.
                        for (ek, ev) in entries.iter().filter(|(_, ev)| !ev.is_string() && !ev.is_null()) {
                            found.push((format!("{ptr}/{}", yaml::escape_pointer(ek)), ev.to_string()));
                        }
                    }
                    walk(c, ptr, keys, found);
                    ptr.truncate(len);
                }
            }
            Value::Array(a) => {
                for (i, c) in a.iter().enumerate() {
                    let len = ptr.len();
                    ptr.push_str(&format!("/{i}"));
                    walk(c, ptr, keys, found);
                    ptr.truncate(len);
                }
            }
            _ => {}
        }
    }
    // Short of a full check, only the values files an override reaches.
    let wanted = |p: &str| {
        full || p
            .strip_prefix("values/")
            .and_then(|p| p.strip_suffix(".yaml"))
            .is_some_and(|rel| r.env.values.get(rel).is_some())
    };
    for path in t.rendered.files.keys().filter(|p| p.ends_with(".yaml") && wanted(p)) {
        let Some(doc) = t.doc(path) else { continue };
        let mut found = Vec::new();
        walk(doc, &mut String::new(), keys, &mut found);
        for (ptr, value) in found {
            let d = diag(
                RuleCode::KG118,
                format!("`{value}` is not a string; Kubernetes rejects non-string annotation and label values"),
            )
            .label("quote it");
            out.push(match path.strip_prefix("values/").and_then(|p| p.strip_suffix(".yaml")) {
                Some(release) => at_values(r, t, d, release, &ptr),
                None => at_file(r, t, d, path, &ptr),
            });
        }
    }
}

/// KG207: versions in the format each upstream publishes them.
fn version_formats(r: &Resolved, t: &Tree<'_>, out: &mut Vec<Diagnostic>) {
    let prefixes = &catalog::get().rule_facts.version_prefixes;
    let wrong = |version: &str, prefix: &str| version.starts_with('v') != (prefix == "v");
    let form = |prefix: &str| if prefix == "v" { "with a leading `v`" } else { "without a leading `v`" };
    for (i, (name, chart, version, _)) in t.releases().into_iter().enumerate() {
        if let Some(prefix) = prefixes.charts.get(name)
            && wrong(version, prefix)
        {
            out.push(at_file(
                r,
                t,
                diag(
                    RuleCode::KG207,
                    format!("chart `{chart}` {version}: its repository publishes versions {}", form(prefix)),
                ),
                LOCK_FILE,
                &format!("/releases/{i}/version"),
            ));
        }
    }
    for kind in ["Istio", "IstioCNI"] {
        for (path, doc) in t
            .manifests(kind)
            .into_iter()
            .filter(|(_, d)| str_at(d, "/apiVersion").is_some_and(|a| a.starts_with("sailoperator.io/")))
        {
            let v = str_at(doc, "/spec/version").unwrap_or_default();
            if wrong(v, &prefixes.sail) {
                out.push(at_file(
                    r,
                    t,
                    diag(
                        RuleCode::KG207,
                        format!("Sail `{kind}` version `{v}` must be written {}", form(&prefixes.sail)),
                    ),
                    path,
                    "/spec/version",
                ));
            }
        }
    }
    for (path, doc) in t.manifests("KnativeServing") {
        match doc.pointer("/spec/version") {
            None => {}
            Some(Value::String(v)) if !wrong(v, &prefixes.knative_serving) => {}
            Some(v) => out.push(at_file(
                r,
                t,
                diag(
                    RuleCode::KG207,
                    format!(
                        "`KnativeServing.spec.version` is {v}: it must be a string {}",
                        form(&prefixes.knative_serving)
                    ),
                ),
                path,
                "/spec/version",
            )),
        }
    }
}

/// KG208: the `kserve` release installs the chart of the pinned KServe release.
fn kserve_chart(r: &Resolved, t: &Tree<'_>, out: &mut Vec<Diagnostic>) {
    let releases = t.releases();
    let cat = crate::catalog::get();
    for (i, (name, chart, _, _)) in releases.iter().enumerate() {
        // The chart each release of this KServe version is published as (renamed in v0.17.0).
        let expected = match cat.chart_of(r.release, name) {
            Some(c) if name.starts_with("kserve") => c,
            _ => continue,
        };
        if *chart != expected {
            out.push(at_file(
                r,
                t,
                diag(
                    RuleCode::KG208,
                    format!(
                        "KServe {} publishes it as chart `{expected}`, but release `{name}` installs `{chart}`",
                        r.release.version
                    ),
                ),
                LOCK_FILE,
                &format!("/releases/{i}/chart"),
            ));
        }
    }
    let has_runtimes = releases.iter().any(|(n, ..)| *n == "kserve-runtime-configs");
    let wants_runtimes = r.runtime_configs_installed();
    if has_runtimes != wants_runtimes {
        let msg = if has_runtimes {
            format!(
                "KServe {} has no `kserve-runtime-configs` chart (or neither runtimes nor LLM presets are on), but the render installs it",
                r.release.version
            )
        } else {
            format!(
                "KServe {} ships its runtimes in `kserve-runtime-configs`, which the render does not install",
                r.release.version
            )
        };
        out.push(at_file(r, t, diag(RuleCode::KG208, msg), LOCK_FILE, "/releases"));
    }
}

/// KG310: the OSSM 2 member roll is named `default`, lives in the control-plane namespace and
/// lists every namespace that needs sidecars.
fn member_roll(r: &Resolved, t: &Tree<'_>, out: &mut Vec<Diagnostic>) {
    let e = &r.env;
    if e.mesh.provider != MeshProvider::Ossm2 {
        return;
    }
    let mut needed: Vec<&str> = vec![e.kserve.namespace.as_str()];
    if r.knative_mode() {
        needed.push(e.knative.namespace.as_str());
    }
    needed.extend(e.kserve.model_namespaces.iter().map(|n| n.0.as_str()));
    let rolls = t.manifests("ServiceMeshMemberRoll");
    let good = rolls.iter().find(|(_, d)| {
        str_at(d, "/metadata/name") == Some("default")
            && str_at(d, "/metadata/namespace") == Some(e.mesh.namespace.as_str())
    });
    let Some((path, roll)) = good else {
        out.push(r.diag_at(
            diag(
                RuleCode::KG310,
                format!("no ServiceMeshMemberRoll `default` in `{}`: OSSM 2 injects no namespace", e.mesh.namespace),
            ),
            "/mesh/provider",
        ));
        return;
    };
    let members: BTreeSet<&str> = roll
        .pointer("/spec/members")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let missing: Vec<&str> = needed.into_iter().filter(|n| !members.contains(n)).collect();
    if !missing.is_empty() {
        out.push(at_file(
            r,
            t,
            diag(RuleCode::KG310, format!("the member roll misses {}, whose pods need sidecars", quote_list(&missing))),
            path,
            "/spec/members",
        ));
    }
}

fn quote_list(items: &[&str]) -> String {
    items.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
}

/// Pods of the ingress gateway: namespace and labels.
struct GatewayPods {
    namespace: String,
    labels: BTreeMap<String, String>,
    /// Where they come from, for messages.
    what: String,
}

/// The ingress gateway pods the render installs or configures.
fn gateway_pods(r: &Resolved, t: &Tree<'_>) -> Vec<GatewayPods> {
    let facts = &catalog::get().rule_facts;
    let e = &r.env;
    let mut pods = Vec::new();
    match e.mesh.provider {
        MeshProvider::Istio => {
            if let Some((name, _, _, ns)) = t.releases().into_iter().find(|(n, ..)| *n == "istio-ingressgateway") {
                // The gateway chart: name from `name` or the release; `app: <name>`,
                // `istio: <name without "istio-">`, then `labels` on top (facts §4).
                let values = t.values(name);
                let gw = gateway_name(values, name);
                let mut labels = BTreeMap::from([
                    ("app".to_string(), gw.to_string()),
                    ("istio".to_string(), gw.trim_start_matches("istio-").to_string()),
                ]);
                if let Some(Value::Object(extra)) = values.and_then(|v| v.get("labels")) {
                    labels.extend(extra.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))));
                }
                pods.push(GatewayPods { namespace: ns.to_string(), labels, what: format!("Helm release `{name}`") });
            }
        }
        MeshProvider::Ossm2 => {
            let disabled = t
                .manifests("ServiceMeshControlPlane")
                .iter()
                .any(|(_, d)| d.pointer("/spec/gateways/ingress/enabled") == Some(&Value::Bool(false)));
            if !disabled {
                pods.push(GatewayPods {
                    namespace: e.mesh.namespace.clone(),
                    labels: facts.ossm2_ingress_gateway.labels.clone(),
                    what: format!("the ServiceMeshControlPlane's `{}`", facts.ossm2_ingress_gateway.name),
                });
            }
        }
        MeshProvider::Ossm3 | MeshProvider::None => {}
    }
    for (path, d) in t.manifests("Deployment") {
        if let Some(Value::Object(l)) = d.pointer("/spec/template/metadata/labels") {
            pods.push(GatewayPods {
                namespace: str_at(d, "/metadata/namespace").unwrap_or_default().to_string(),
                labels: l.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect(),
                what: format!("Deployment in {path}"),
            });
        }
    }
    pods
}

fn selector_of(v: Option<&Value>) -> Option<BTreeMap<String, String>> {
    let Value::Object(m) = v? else { return None };
    Some(m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
}

fn show_labels(m: &BTreeMap<String, String>) -> String {
    m.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ")
}

/// KG308: the rendered gateway values use only the top-level keys the gateway chart's closed
/// schema of the pinned Istio allows (kgen's own and the user's overrides alike).
fn gateway_values_keys(r: &Resolved, t: &Tree<'_>, out: &mut Vec<Diagnostic>) {
    let release = "istio-ingressgateway";
    let (Some(Value::Object(values)), Some(istio)) = (t.values(release), r.pin("istio")) else { return };
    let Some(allowed) = catalog::get().istio_gateway_keys(istio) else { return };
    for key in values.keys().filter(|k| !allowed.contains(k)) {
        let mut d = diag(
            RuleCode::KG308,
            format!(
                "`{key}` is not allowed by the Istio {istio} gateway chart's values schema, so `helm install` fails"
            ),
        )
        .label("unknown to the gateway chart");
        if let Some(s) = crate::config::validate::did_you_mean(key, allowed.iter().map(String::as_str)) {
            d = d.hint(format!("did you mean `{s}`?"));
        }
        out.push(at_values(r, t, d, release, &format!("/{}", yaml::escape_pointer(key))));
    }
}

/// KG312: a values override of a key the chart version ignores while another value wins
/// (catalog `ignoredValues`): istiod's `replicaCount` while `autoscaleEnabled` is on.
fn ignored_values(r: &Resolved, t: &Tree<'_>, out: &mut Vec<Diagnostic>) {
    let pointer = |key: &str| format!("/{}", key.split('.').map(yaml::escape_pointer).collect::<Vec<_>>().join("/"));
    for fact in &catalog::get().ignored_values {
        if r.env.values.get(&fact.release).is_none() {
            continue;
        }
        let Some((_, _, version, _)) = t.releases().into_iter().find(|(n, ..)| *n == fact.release) else { continue };
        if !fact.covers(version) {
            continue;
        }
        let Some(values) = t.values(&fact.release) else { continue };
        // The winning value: the first of its keys the rendered values set, else the default.
        let wins = fact
            .while_true
            .iter()
            .find_map(|k| values.pointer(&pointer(k)).and_then(Value::as_bool))
            .unwrap_or(fact.default);
        if !wins {
            continue;
        }
        let winner = fact.while_true.last().map_or("", String::as_str);
        for key in fact.ignored.iter().filter(|k| pointer_in_overrides(r, &fact.release, &pointer(k))) {
            if values.pointer(&pointer(key)).is_none() {
                continue;
            }
            let d = diag(
                RuleCode::KG312,
                format!(
                    "the {release} chart {version} ignores `{key}` while `{winner}` is true{default}, so this changes nothing",
                    release = fact.release,
                    default = if fact.default { " (its default)" } else { "" },
                ),
            )
            .label("ignored by the chart")
            .hint(format!(
                "set `values.{release}.{instead}` instead (with `{winner}` on), or `values.{release}.{winner}: false` for a fixed count.",
                release = fact.release,
                instead = fact.instead,
            ));
            out.push(at_values(r, t, d, &fact.release, &pointer(key)));
        }
    }
}

/// KG610: no engine installs a chart version as a Helm release whose record is measured over the
/// Secret limit (catalog `helmReleaseRecords`). What is installed as a release is read from the
/// rendered files: Flux HelmReleases, `install.sh` `helm upgrade --install` lines.
fn release_records(r: &Resolved, t: &Tree<'_>, out: &mut Vec<Diagnostic>) {
    let records = &catalog::get().helm_release_records;
    /// A release the engine installs as a Helm release: where, its name and chart version.
    struct Stored<'a> {
        path: String,
        pointer: Option<&'a str>,
        line: Option<usize>,
        name: String,
        version: String,
    }
    let mut stored: Vec<Stored<'_>> = Vec::new();
    for (path, d) in t.docs_under("flux/").into_iter().filter(|(_, d)| d["kind"] == "HelmRelease") {
        let name = str_at(d, "/spec/releaseName").or_else(|| str_at(d, "/metadata/name")).unwrap_or_default();
        let version = str_at(d, "/spec/chart/spec/version").unwrap_or_default();
        stored.push(Stored {
            path: path.to_string(),
            pointer: Some("/spec/chart/spec/version"),
            line: None,
            name: name.into(),
            version: version.into(),
        });
    }
    if let Some(script) = t.rendered.files.get(SCRIPT) {
        for (i, line) in script.lines().enumerate() {
            let words: Vec<&str> = line.split_whitespace().map(|w| w.trim_matches('\'')).collect();
            if words.starts_with(&["helm", "upgrade", "--install"])
                && let Some(v) = words.windows(2).find(|w| w[0] == "--version").map(|w| w[1])
            {
                stored.push(Stored {
                    path: SCRIPT.into(),
                    pointer: None,
                    line: Some(i + 1),
                    name: words[3].into(),
                    version: v.into(),
                });
            }
        }
    }
    for Stored { path, pointer, line, name, version } in stored {
        let Some(bytes) = records.size(&name, &version).filter(|b| *b > records.limit) else { continue };
        let d = diag(
            RuleCode::KG610,
            format!(
                "`{name}` {version} is installed as a Helm release, but its release record ({bytes} bytes) exceeds the {}-byte Secret limit, so the install fails",
                records.limit
            ),
        );
        out.push(match (pointer, line) {
            (Some(p), _) => at_file(r, t, d, &path, p),
            (None, Some(n)) => d.in_file(format!("rendered/{}/{path}", r.name)).at(Some((n, 1))),
            _ => d,
        });
    }
}

/// KG408: a `KnativeServing` that sets `spec.ingress` enables at least one networking layer
/// (the operator installs only the enabled ones; omitted means Istio).
fn knative_ingress(r: &Resolved, t: &Tree<'_>, out: &mut Vec<Diagnostic>) {
    for (path, ks) in t.manifests("KnativeServing") {
        let Some(Value::Object(ingress)) = ks.pointer("/spec/ingress") else { continue };
        let enabled = ingress.values().any(|layer| layer.get("enabled") == Some(&Value::Bool(true)));
        if !enabled {
            out.push(at_file(
                r,
                t,
                diag(
                    RuleCode::KG408,
                    "`spec.ingress` is set but enables no networking layer, so the operator installs none",
                ),
                path,
                "/spec/ingress",
            ));
        }
    }
}

/// A label selector in a rendered file: (file, key, labels, the namespace it must match in —
/// a Service selects only in its own).
type Selector<'a> = (&'a str, String, BTreeMap<String, String>, Option<String>);

/// KG404: every selector meant for the ingress gateway (Knative's gateways, the local gateway
/// Service) selects the pods of the gateway that is installed.
fn gateway_selectors(r: &Resolved, t: &Tree<'_>, out: &mut Vec<Diagnostic>) {
    if r.knative_networking != Some(KnativeNetworking::Istio) {
        return;
    }
    let default = catalog::get().rule_facts.net_istio.selector.clone();
    let mut selectors: Vec<Selector<'_>> = Vec::new();
    for (path, ks) in t.manifests("KnativeServing") {
        let ingress = ks.pointer("/spec/ingress/istio");
        // The operator gives its `knative-local-gateway` Service the local gateway's selector,
        // and a Service selects only in its own namespace.
        let local_ns = operator_local_gateway_namespace(r, t);
        for gw in ["knative-ingress-gateway", "knative-local-gateway"] {
            let sel = selector_of(ingress.and_then(|i| i.get(gw)).and_then(|g| g.get("selector")));
            let ns = if gw == "knative-local-gateway" { local_ns.clone() } else { None };
            selectors.push((
                path,
                format!("/spec/ingress/istio/{gw}/selector"),
                sel.unwrap_or_else(|| default.clone()),
                ns,
            ));
        }
    }
    for (path, gw) in t.manifests("Gateway") {
        if str_at(gw, "/apiVersion").is_some_and(|a| a.starts_with("networking.istio.io/"))
            && let Some(sel) = selector_of(gw.pointer("/spec/selector"))
        {
            selectors.push((path, "/spec/selector".into(), sel, None));
        }
    }
    for (path, svc) in t.manifests("Service") {
        if let Some(sel) = selector_of(svc.pointer("/spec/selector")) {
            let ns = str_at(svc, "/metadata/namespace").map(str::to_string);
            selectors.push((path, "/spec/selector".into(), sel, ns));
        }
    }
    let pods = gateway_pods(r, t);
    for (path, key, sel, ns) in selectors {
        let matches = pods.iter().any(|p| {
            ns.as_ref().is_none_or(|n| *n == p.namespace) && sel.iter().all(|(k, v)| p.labels.get(k) == Some(v))
        });
        if matches {
            continue;
        }
        let have = if pods.is_empty() {
            "no ingress gateway is installed".to_string()
        } else {
            pods.iter()
                .map(|p| format!("{} has `{}` in `{}`", p.what, show_labels(&p.labels), p.namespace))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let d = diag(RuleCode::KG404, format!("`{}` selects no ingress gateway pods: {have}", show_labels(&sel)))
            .label("selects nothing: `no healthy upstream`");
        // Blame the override that relabelled the gateway, when there is one.
        let blamed = [
            "/values/istio-ingressgateway/labels/istio",
            "/values/istio-ingressgateway/labels/app",
            "/values/istio-ingressgateway/name",
        ]
        .into_iter()
        .find(|p| r.provenance.exact(p).is_some());
        out.push(match blamed {
            Some(p) => r.diag_at(d, p),
            None => at_file(r, t, d, path, &key),
        });
    }
}

/// Services that exist once the render is applied, as `name.namespace`.
fn services(r: &Resolved, t: &Tree<'_>) -> BTreeSet<String> {
    let facts = &catalog::get().rule_facts;
    let mut out: BTreeSet<String> = t
        .manifests("Service")
        .iter()
        .filter_map(|(_, d)| Some(format!("{}.{}", str_at(d, "/metadata/name")?, str_at(d, "/metadata/namespace")?)))
        .collect();
    match r.env.mesh.provider {
        MeshProvider::Istio => {
            if let Some(ns) = operator_local_gateway_namespace(r, t) {
                out.insert(format!("{}.{ns}", facts.net_istio.local_gateway_service));
            }
            for (name, _, _, ns) in t.releases().into_iter().filter(|(n, ..)| *n == "istio-ingressgateway") {
                let values = t.values(name);
                if values.and_then(|v| str_at(v, "/service/type")) != Some("None") {
                    out.insert(format!("{}.{ns}", gateway_name(values, name)));
                }
            }
        }
        MeshProvider::Ossm2 => {
            out.insert(format!("{}.{}", facts.ossm2_ingress_gateway.name, r.env.mesh.namespace));
        }
        // OSSM 3 leaves the gateway to the user; no mesh, no gateway.
        MeshProvider::Ossm3 | MeshProvider::None => {}
    }
    out
}

/// The gateway chart's name: `name` when set and not empty, else the release name.
fn gateway_name<'v>(values: Option<&'v Value>, release: &'v str) -> &'v str {
    values.and_then(|v| str_at(v, "/name")).filter(|n| !n.is_empty()).unwrap_or(release)
}

/// Where the Knative operator puts net-istio's `knative-local-gateway` Service (upstream Istio
/// on Kubernetes): `istio-system`, moved to the namespace `config-istio`'s
/// `local-gateway.<knative ns>.knative-local-gateway` names (knative/operator
/// `IngressServiceTransform`). `None` where the operator does not create it.
fn operator_local_gateway_namespace(r: &Resolved, t: &Tree<'_>) -> Option<String> {
    let facts = &catalog::get().rule_facts.net_istio;
    if !r.knative_mode()
        || r.env.mesh.provider != MeshProvider::Istio
        || r.env.cluster.platform != crate::config::model::Platform::Kubernetes
    {
        return None;
    }
    let (_, ks) = t.manifests("KnativeServing").into_iter().next()?;
    let key = format!(
        "local-gateway.{}.{}",
        str_at(ks, "/metadata/namespace").unwrap_or_default(),
        facts.local_gateway_service
    );
    let moved = ks
        .pointer("/spec/config/istio")
        .and_then(|c| c.get(&key))
        .and_then(Value::as_str)
        .and_then(|fqdn| fqdn.split('.').nth(1))
        .map(str::to_string);
    Some(moved.unwrap_or_else(|| facts.service_namespace.clone()))
}

/// KG406: KServe's local gateway Service, and the Services Knative's `config-istio` names, exist.
fn local_gateway_service(r: &Resolved, t: &Tree<'_>, out: &mut Vec<Diagnostic>) {
    if r.knative_networking != Some(KnativeNetworking::Istio) {
        return;
    }
    let known = services(r, t);
    // `name.ns`, `name.ns.svc` or `name.ns.svc.<cluster domain>`.
    let exists = |fqdn: &str| {
        let mut parts = fqdn.split('.');
        let (Some(name), Some(ns)) = (parts.next(), parts.next()) else { return false };
        known.contains(&format!("{name}.{ns}"))
    };
    let known_list = || known.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ");
    if let Some(values) = t.values("kserve") {
        for key in ["gatewayService", "knativeGatewayService"] {
            let ptr = format!("/kserve/controller/gateway/localGateway/{key}");
            if let Some(fqdn) = str_at(values, &ptr).filter(|s| !s.is_empty())
                && !exists(fqdn)
            {
                let d = diag(
                    RuleCode::KG406,
                    format!("KServe routes to `{fqdn}`, but no such Service is installed (Services: {})", known_list()),
                )
                .label("no such Service: `no healthy upstream`");
                out.push(at_values(r, t, d, "kserve", &ptr));
            }
        }
    }
    for (path, ks) in t.manifests("KnativeServing") {
        let Some(Value::Object(istio)) = ks.pointer("/spec/config/istio") else { continue };
        for (k, v) in istio.iter().filter(|(k, _)| k.starts_with("gateway.") || k.starts_with("local-gateway.")) {
            if let Some(fqdn) = v.as_str()
                && !exists(fqdn)
            {
                let d = diag(
                    RuleCode::KG406,
                    format!(
                        "Knative's `config-istio` sends to `{fqdn}`, but no such Service is installed (Services: {})",
                        known_list()
                    ),
                );
                // The gateway's Service disappears when an override renames or disables it.
                let blamed = ["/values/istio-ingressgateway/service/type", "/values/istio-ingressgateway/name"]
                    .into_iter()
                    .find(|p| r.provenance.exact(p).is_some());
                out.push(match blamed {
                    Some(p) => r.diag_at(d, p),
                    None => at_file(r, t, d, path, &format!("/spec/config/istio/{}", yaml::escape_pointer(k))),
                });
            }
        }
    }
}

/// KG503 (deployment-mode vocabulary) and KG505 (gateway settings the controller rejects) on the
/// rendered KServe values.
fn kserve_values(r: &Resolved, t: &Tree<'_>, out: &mut Vec<Diagnostic>) {
    let Some(values) = t.values("kserve") else { return };
    let cat = catalog::get();
    let modes = cat.modes(r.release);
    let mut allowed = vec![modes.knative.as_str(), modes.standard.as_str(), "ModelMesh"];
    if cat.has_canonical_modes(r.release) {
        // From v0.16.0 the controller still normalises the legacy names.
        allowed.extend(cat.mode_vocabularies.values().flat_map(|m| [m.knative.as_str(), m.standard.as_str()]));
    }
    let ptr = "/kserve/controller/deploymentMode";
    if let Some(mode) = values.pointer(ptr)
        && !mode.as_str().is_some_and(|m| allowed.contains(&m))
    {
        let mut names = allowed.clone();
        names.sort();
        names.dedup();
        let d = diag(
            RuleCode::KG503,
            format!(
                "KServe {} does not understand deployment mode {mode} (it accepts {})",
                r.release.version,
                quote_list(&names)
            ),
        );
        out.push(at_values(r, t, d, "kserve", ptr));
    }
    let gw = "/kserve/controller/gateway";
    let mut bad = |ptr: String, msg: String| out.push(at_values(r, t, diag(RuleCode::KG505, msg), "kserve", &ptr));
    if str_at(values, &format!("{gw}/ingressGateway/gateway")) == Some("") {
        bad(format!("{gw}/ingressGateway/gateway"), "the controller requires a non-empty `ingressGateway`".into());
    }
    if values.pointer(&format!("{gw}/ingressGateway/enableGatewayApi")) == Some(&Value::Bool(true)) {
        let ptr = format!("{gw}/ingressGateway/kserveGateway");
        let v = str_at(values, &ptr).unwrap_or_default();
        let label = |s: &str| {
            !s.is_empty()
                && s.len() <= 63
                && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !s.starts_with('-')
                && !s.ends_with('-')
        };
        let ok = v.split_once('/').is_some_and(|(ns, name)| label(ns) && label(name));
        if !ok {
            bad(ptr, format!("`kserveGateway` is `{v}`; with Gateway API the controller needs `<namespace>/<name>`"));
        }
    }
    if str_at(values, &format!("{gw}/pathTemplate")).is_some_and(|p| !p.is_empty())
        && str_at(values, &format!("{gw}/domain")) == Some("")
    {
        bad(format!("{gw}/domain"), "a `pathTemplate` needs the ingress domain, which is empty".into());
    }
}

/// A unit of application: a Helm release, a CRD bundle or one manifest.
type Unit = String;

/// Where a unit is applied: the engine object's file and the pointer that orders it, or a
/// line of install.sh.
enum Applied {
    /// A YAML file and a JSON pointer in it.
    At(String, &'static str),
    /// A line of a script.
    Line(String, usize),
}

/// The order the engine applies units in, and where each unit is applied.
struct Applying {
    order: Order,
    at: BTreeMap<Unit, Applied>,
    /// install.sh only: `wait_for_crd` lines as (line, API group of the CRD).
    waits: Vec<(usize, String)>,
}

/// The order the engine applies units in.
enum Order {
    /// Argo CD: (Application sync-wave, object sync-wave) per unit.
    Waves(BTreeMap<Unit, (i64, i64)>),
    /// Flux: the Kustomization applying each unit and each Kustomization's `dependsOn`.
    DependsOn { owner: BTreeMap<Unit, String>, depends: BTreeMap<String, Vec<String>> },
    /// `install.sh`: the line applying each unit.
    Lines(BTreeMap<Unit, usize>),
}

impl Order {
    fn describe(&self, u: &str) -> String {
        match self {
            Order::Waves(w) => w.get(u).map_or("not applied".into(), |(a, o)| {
                if *o == 0 { format!("sync-wave {a}") } else { format!("sync-wave {a}, object wave {o}") }
            }),
            Order::DependsOn { owner, .. } => {
                owner.get(u).map_or("not applied".into(), |k| format!("Kustomization `{k}`"))
            }
            Order::Lines(l) => l.get(u).map_or("not applied".into(), |n| format!("install.sh line {n}")),
        }
    }

    /// Whether `u` is applied after `v` (both applied).
    fn after(&self, u: &str, v: &str) -> Option<bool> {
        match self {
            Order::Waves(w) => Some(w.get(u)? > w.get(v)?),
            Order::Lines(l) => Some(l.get(u)? > l.get(v)?),
            Order::DependsOn { owner, depends } => {
                let (ku, kv) = (owner.get(u)?, owner.get(v)?);
                let mut seen = BTreeSet::new();
                let mut stack = vec![ku.as_str()];
                while let Some(k) = stack.pop() {
                    for d in depends.get(k).into_iter().flatten() {
                        if d == kv {
                            return Some(true);
                        }
                        if seen.insert(d.as_str()) {
                            stack.push(d);
                        }
                    }
                }
                Some(false)
            }
        }
    }
}

fn order(r: &Resolved, t: &Tree<'_>) -> Option<Applying> {
    let cat = catalog::get();
    let crd_source_of = |url: &str| {
        cat.crd_sources
            .iter()
            .find(|(_, s)| url.trim_end_matches(".git") == s.repo || url.contains(s.repo.as_str()))
            .map(|(n, _)| n.clone())
    };
    let engine = gitops::engine(r.env.gitops.engine);
    match engine.apply_order() {
        ApplyOrder::SyncWaves => {
            let mut waves = BTreeMap::new();
            let mut at = BTreeMap::new();
            for (app_path, app) in
                t.docs_under(&format!("{}/", engine.folder()?)).into_iter().filter(|(_, d)| d["kind"] == "Application")
            {
                let wave = |d: &Value| {
                    str_at(d, "/metadata/annotations/argocd.argoproj.io~1sync-wave")
                        .and_then(|w| w.parse::<i64>().ok())
                        .unwrap_or(0)
                };
                let app_wave = wave(app);
                let mut units = Vec::new();
                for (_, s) in app_sources(app) {
                    if let Some(rel) = str_at(s, "/helm/releaseName") {
                        units.push((format!("release/{rel}"), (app_wave, 0)));
                    } else if let Some(include) = str_at(s, "/directory/include") {
                        for f in include.trim_start_matches('{').trim_end_matches('}').split(',') {
                            let obj_wave = t.doc(&format!("manifests/{f}")).map_or(0, wave);
                            units.push((format!("manifest/{f}"), (app_wave, obj_wave)));
                        }
                    } else if let Some(name) = str_at(s, "/repoURL").and_then(crd_source_of) {
                        units.push((format!("crds/{name}"), (app_wave, 0)));
                    }
                }
                for (unit, w) in units {
                    let pointer = "/metadata/annotations/argocd.argoproj.io~1sync-wave";
                    at.insert(unit.clone(), Applied::At(app_path.to_string(), pointer));
                    waves.insert(unit, w);
                }
            }
            Some(Applying { order: Order::Waves(waves), at, waits: vec![] })
        }
        ApplyOrder::DependsOn => {
            let docs = t.docs_under(&format!("{}/", engine.folder()?));
            let git_sources: BTreeMap<&str, &str> = docs
                .iter()
                .filter(|(_, d)| d["kind"] == "GitRepository")
                .filter_map(|(_, d)| Some((str_at(d, "/metadata/name")?, str_at(d, "/spec/url")?)))
                .collect();
            let mut owner = BTreeMap::new();
            let mut depends = BTreeMap::new();
            let env_prefix = format!("./{}/", r.env.gitops.path.clone().unwrap_or_default());
            let mut at = BTreeMap::new();
            for (k_path, k) in docs.iter().filter(|(_, d)| {
                d["kind"] == "Kustomization"
                    && str_at(d, "/apiVersion").is_some_and(|a| a.starts_with("kustomize.toolkit.fluxcd.io/"))
            }) {
                let Some(name) = str_at(k, "/metadata/name") else { continue };
                let deps: Vec<String> = k
                    .pointer("/spec/dependsOn")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|d| str_at(d, "/name").map(str::to_string))
                    .collect();
                depends.insert(name.to_string(), deps);
                let path = str_at(k, "/spec/path").unwrap_or_default();
                if let Some(url) = str_at(k, "/spec/sourceRef/name").and_then(|s| git_sources.get(s))
                    && let Some(src) = crd_source_of(url)
                {
                    owner.insert(format!("crds/{src}"), name.to_string());
                    at.insert(format!("crds/{src}"), Applied::At(k_path.to_string(), "/spec/dependsOn"));
                    continue;
                }
                let Some(dir) = path.strip_prefix(&env_prefix) else { continue };
                // What the folder's kustomization applies: HelmReleases or manifests.
                let Some(kz) = t.doc(&format!("{dir}/kustomization.yaml")) else { continue };
                for res in kz["resources"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                    if let Some(m) = res.rsplit_once("manifests/").map(|(_, m)| m) {
                        owner.insert(format!("manifest/{m}"), name.to_string());
                        at.insert(format!("manifest/{m}"), Applied::At(k_path.to_string(), "/spec/dependsOn"));
                    } else if let Some(hr) = t.doc(&format!("{dir}/{res}")).filter(|d| d["kind"] == "HelmRelease") {
                        let rel = str_at(hr, "/spec/releaseName")
                            .or_else(|| str_at(hr, "/metadata/name"))
                            .unwrap_or_default();
                        owner.insert(format!("release/{rel}"), name.to_string());
                        at.insert(format!("release/{rel}"), Applied::At(k_path.to_string(), "/spec/dependsOn"));
                    }
                }
            }
            Some(Applying { order: Order::DependsOn { owner, depends }, at, waits: vec![] })
        }
        ApplyOrder::ScriptLines => {
            let script = t.rendered.files.get(SCRIPT)?;
            let mut lines = BTreeMap::new();
            let mut waits = Vec::new();
            for (i, line) in script.lines().enumerate() {
                let words: Vec<&str> = line.split_whitespace().collect();
                if let ["wait_for_crd", crd] = words.as_slice()
                    && let Some((_, group)) = crd.trim_matches('\'').split_once('.')
                {
                    waits.push((i + 1, group.to_string()));
                    continue;
                }
                if words.starts_with(&["helm", "upgrade", "--install"]) {
                    lines.insert(format!("release/{}", words[3].trim_matches('\'')), i + 1);
                } else if words.first() == Some(&"kubectl") {
                    for w in words.windows(2).filter(|w| w[0] == "-f").map(|w| w[1].trim_matches(['"', '\''])) {
                        if let Some(m) = w.split_once("/manifests/").map(|(_, m)| m) {
                            lines.insert(format!("manifest/{m}"), i + 1);
                        } else if let Some(src) = crd_source_of(w) {
                            lines.insert(format!("crds/{src}"), i + 1);
                        }
                    }
                }
            }
            let at = lines.iter().map(|(u, n)| (u.clone(), Applied::Line(SCRIPT.into(), *n))).collect();
            Some(Applying { order: Order::Lines(lines), at, waits })
        }
    }
}

/// An Argo CD Application's sources with their pointers: `spec.sources[]` and `spec.source`.
fn app_sources(app: &Value) -> Vec<(String, &Value)> {
    let mut sources: Vec<(String, &Value)> = app
        .pointer("/spec/sources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, s)| (format!("/spec/sources/{i}"), s))
        .collect();
    sources.extend(app.pointer("/spec/source").map(|s| ("/spec/source".to_string(), s)));
    sources
}

/// KG602: nothing is applied before the CRDs it needs.
fn ordering(r: &Resolved, t: &Tree<'_>, out: &mut Vec<Diagnostic>) {
    let facts = &catalog::get().rule_facts;
    let Some(Applying { order, at, waits }) = order(r, t) else { return };
    // Units present in this render that can provide CRDs.
    let releases: BTreeSet<&str> = t.releases().into_iter().map(|(n, ..)| n).collect();
    let crd_sources: BTreeSet<&str> =
        t.lock().into_iter().flat_map(|l| &l.crd_sources).map(|s| s.name.as_str()).collect();
    let packages: BTreeMap<&str, String> = t
        .manifests("Subscription")
        .into_iter()
        .filter_map(|(p, d)| {
            Some((str_at(d, "/spec/name")?, format!("manifest/{}", p.trim_start_matches("manifests/"))))
        })
        .collect();
    let providers = |group: &str| -> Vec<Unit> {
        facts
            .crd_providers
            .get(group)
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let (kind, name) = p.split_once('/')?;
                match kind {
                    "release" => releases.contains(name).then(|| p.clone()),
                    "crds" => crd_sources.contains(name).then(|| p.clone()),
                    "package" => packages.get(name).cloned(),
                    _ => None,
                }
            })
            .collect()
    };
    // What needs what: chart releases by the catalog, manifests by their API group.
    let mut needs: Vec<(Unit, String)> = Vec::new();
    for rel in &releases {
        for g in facts.chart_needs.get(*rel).into_iter().flatten() {
            needs.push((format!("release/{rel}"), g.clone()));
        }
    }
    for (path, d) in t.docs_under("manifests/") {
        if let Some((group, _)) = str_at(d, "/apiVersion").and_then(|a| a.split_once('/')) {
            needs.push((format!("manifest/{}", path.trim_start_matches("manifests/")), group.to_string()));
        }
    }
    for (unit, group) in needs {
        for p in providers(&group) {
            if p == unit {
                continue;
            }
            // install.sh applies a Subscription and moves on; OLM creates the CRDs later, so a
            // `wait_for_crd` of the group must come in between.
            if let (Order::Lines(lines), true) = (&order, packages.values().any(|m| *m == p))
                && let (Some(&pl), Some(&ul)) = (lines.get(&p), lines.get(&unit))
                && pl < ul
                && !waits.iter().any(|(l, g)| *g == group && pl < *l && *l < ul)
            {
                let d = diag(
                    RuleCode::KG602,
                    format!(
                        "`{unit}` (install.sh line {ul}) needs the `{group}` CRDs that OLM installs after `{p}` (line {pl}), but nothing waits for them"
                    ),
                );
                out.push(d.in_file(format!("rendered/{}/{SCRIPT}", r.name)).at(Some((ul, 1))));
                continue;
            }
            if order.after(&unit, &p) == Some(false) {
                let d = diag(
                    RuleCode::KG602,
                    format!(
                        "`{unit}` ({}) needs the `{group}` CRDs of `{p}` ({}) but is not applied after it",
                        order.describe(&unit),
                        order.describe(&p)
                    ),
                );
                // Located where the engine orders the unit that comes too early.
                out.push(match at.get(&unit) {
                    Some(Applied::At(path, pointer)) => at_file(r, t, d, path, pointer),
                    Some(Applied::Line(path, n)) => d.in_file(format!("rendered/{}/{path}", r.name)).at(Some((*n, 1))),
                    None => at_file(r, t, d, LOCK_FILE, "/releases"),
                });
            }
        }
    }
}

/// KG603: large CRDs (the ~2 MB InferenceService CRD, Envoy Gateway's) are applied server-side.
fn server_side_apply(r: &Resolved, t: &Tree<'_>, out: &mut Vec<Diagnostic>) {
    let charts = &catalog::get().charts;
    match r.env.gitops.engine {
        GitopsEngine::Argocd => {
            for (path, app) in t.docs_under("argocd/").into_iter().filter(|(_, d)| d["kind"] == "Application") {
                let large = app_sources(app).iter().find_map(|(_, s)| {
                    str_at(s, "/helm/releaseName").filter(|n| charts.get(*n).is_some_and(|c| c.server_side_apply))
                });
                let ssa = app
                    .pointer("/spec/syncPolicy/syncOptions")
                    .and_then(Value::as_array)
                    .is_some_and(|o| o.iter().any(|x| x == "ServerSideApply=true"));
                if let Some(release) = large.filter(|_| !ssa) {
                    let message = format!(
                        "the Application installing `{release}` lacks `ServerSideApply=true`; its CRDs are too large for client-side apply"
                    );
                    out.push(at_file(r, t, diag(RuleCode::KG603, message), path, "/spec/syncPolicy/syncOptions"));
                }
            }
        }
        GitopsEngine::None => {
            let Some(script) = t.rendered.files.get(SCRIPT) else { return };
            for (i, line) in script.lines().enumerate() {
                // Also `helm template … | kubectl apply …`.
                let command = line.trim_start();
                if !command.starts_with('#') && command.contains("kubectl apply") && !command.contains("--server-side")
                {
                    let d = diag(
                        RuleCode::KG603,
                        "`kubectl apply` without `--server-side`; large CRDs and objects fail client-side",
                    );
                    out.push(d.in_file(format!("rendered/{}/{SCRIPT}", r.name)).at(Some((i + 1, 1))));
                }
            }
        }
        // helm-controller and kustomize-controller apply server-side (or through Helm, which
        // keeps no last-applied annotation).
        GitopsEngine::Flux => {}
    }
}

/// KG604: GitOps objects use the API versions the engines serve and sources in the form they read.
fn gitops_api(r: &Resolved, t: &Tree<'_>, out: &mut Vec<Diagnostic>) {
    let versions = &catalog::get().rule_facts.gitops_api_versions;
    // Every engine's folder: a file of another engine's is as wrong there as in its own.
    let docs: Vec<_> = GitopsEngine::ALL
        .iter()
        .filter_map(|e| gitops::engine(*e).folder())
        .flat_map(|folder| t.docs_under(&format!("{folder}/")))
        .collect();
    for (path, d) in docs {
        let (Some(kind), Some(api)) = (str_at(d, "/kind"), str_at(d, "/apiVersion")) else { continue };
        // kustomize's own `kustomization.yaml` (kustomize.config.k8s.io) is not a Flux object.
        if api.starts_with("kustomize.config.k8s.io/") {
            continue;
        }
        if let Some(want) = versions.get(kind)
            && api != want
        {
            out.push(at_file(
                r,
                t,
                diag(RuleCode::KG604, format!("`{kind}` is served only as `{want}`, not `{api}`")),
                path,
                "/apiVersion",
            ));
        }
        if kind == "Application" {
            for (at, s) in app_sources(d).iter().filter(|(_, s)| s.get("chart").is_some()) {
                if let Some(url) = str_at(s, "/repoURL").filter(|u| u.starts_with("oci://")) {
                    out.push(at_file(
                        r,
                        t,
                        diag(
                            RuleCode::KG604,
                            format!("Helm source `{url}`: Argo CD expects OCI Helm repositories without `oci://`"),
                        ),
                        path,
                        &format!("{at}/repoURL"),
                    ));
                }
            }
        }
        if kind == "HelmRepository"
            && str_at(d, "/spec/url").is_some_and(|u| u.starts_with("oci://"))
            && str_at(d, "/spec/type") != Some("oci")
        {
            out.push(at_file(
                r,
                t,
                diag(RuleCode::KG604, "an `oci://` HelmRepository needs `type: oci`"),
                path,
                "/spec/type",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Stage;

    /// Every render rule of the catalog has exactly one check, and every check raises render
    /// rules only: a rule added to `catalog/rules.yaml` without a check fails here.
    #[test]
    fn every_render_rule_has_one_check() {
        let mut checked: Vec<RuleCode> = CHECKS.iter().flat_map(|c| c.codes.iter().copied()).collect();
        assert!(checked.iter().all(|c| c.stage() == Stage::Render), "{checked:?}");
        checked.sort();
        let mut render: Vec<RuleCode> = RuleCode::ALL.into_iter().filter(|c| c.stage() == Stage::Render).collect();
        render.sort();
        assert_eq!(checked, render);
    }
}
