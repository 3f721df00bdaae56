//! Hydration: the Helm releases of a render as the plain Kubernetes objects their charts make
//! (`kgen hydrate`, `kgen diff --hydrate`). This is the pure half — which `helm` runs a render
//! needs ([`jobs`]), what a chart archive is called in the cache ([`ChartRef`]), reading
//! `helm template` output ([`parse_stream`]), laying objects out as files ([`layout`]), the chart
//! lock ([`chart_lock`]) and the risks of changed chart output ([`risk`]). Running `helm`,
//! the cache and the files on disk are `commands::hydrate`'s.
//!
//! A release is rendered from what the render itself says — its index (`kgen.lock.json`: chart,
//! repository, version, release name, namespace) and its values file — never from the Argo CD or
//! Flux objects, so every engine's environments hydrate alike. CRDs of a chart's `crds/` folder
//! are included unless the catalog says the engines skip them (`skipCrds`), as Argo CD
//! (`skipCrds`), Flux (`install.crds`) and install.sh (`--skip-crds`) are told.

pub mod chart_lock;
pub mod committed;
pub mod risk;

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use crate::lock::Lock;
use crate::render::sha256;
use crate::yaml;

/// The index `kgen hydrate` writes into every environment folder it writes: what was rendered
/// from which chart digest, and the digest of every file (what tells its folders from others).
pub const INDEX_FILE: &str = "kgen.hydrated.json";

/// Where the chart output of release `r` sits in `kgen diff --hydrate` (`hydrated/r/…`): the
/// folder `kgen hydrate` writes it to, under the environment's name.
pub const DIFF_FOLDER: &str = "hydrated";

/// The oldest Helm kgen runs: 3.8 is the first that pulls OCI charts without
/// `HELM_EXPERIMENTAL_OCI` (KServe's and Envoy Gateway's charts are OCI only).
pub const MIN_HELM: (u64, u64) = (3, 8);

/// The first Helm with `helm template --skip-schema-validation` (3.16), which releases whose
/// chart ships a broken `values.schema.json` need (catalog `brokenValuesSchemas`), as the
/// engines skip it (Argo CD `skipSchemaValidation`, Flux `disableSchemaValidation`).
pub const SKIP_SCHEMA_HELM: (u64, u64) = (3, 16);

/// A chart archive: repository, chart and version, as `helm pull` fetches it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChartRef {
    /// Repository (`https://…`, or `oci://…` for an OCI registry): the mirror when the
    /// environment names one, as the render does.
    pub repo: String,
    /// Chart name.
    pub chart: String,
    /// Chart version, as the render pins it.
    pub version: String,
}

impl ChartRef {
    /// Whether the repository is an OCI registry.
    pub fn is_oci(&self) -> bool {
        self.repo.starts_with("oci://")
    }

    /// The `helm` arguments that fetch the archive into `dest`: `helm pull oci://…/CHART` for a
    /// registry, `helm pull CHART --repo URL` for an HTTP repository (no `helm repo add`, so
    /// the user's repository list is neither needed nor changed).
    pub fn pull_args(&self, dest: &str) -> Vec<String> {
        let mut args = vec!["pull".to_string()];
        if self.is_oci() {
            args.push(format!("{}/{}", self.repo.trim_end_matches('/'), self.chart));
        } else {
            args.extend([self.chart.clone(), "--repo".into(), self.repo.clone()]);
        }
        args.extend(["--version".into(), self.version.clone(), "--destination".into(), dest.to_string()]);
        args
    }

    /// The archive's place in the chart cache, relative to its `charts/` folder:
    /// `<repository>/<chart>/<version>/<chart>-<version>.tgz`. The repository folder is the URL
    /// made a file name plus a digest of the URL itself, so two URLs never share a folder.
    pub fn cache_path(&self) -> String {
        let bare = self.repo.split_once("://").map_or(self.repo.as_str(), |(_, rest)| rest);
        let digest = sha256(self.repo.as_bytes());
        format!(
            "{}-{}/{}/{}/{}-{}.tgz",
            safe_name(bare.trim_end_matches('/')),
            &digest["sha256:".len().."sha256:".len() + 12],
            safe_name(&self.chart),
            safe_name(&self.version),
            safe_name(&self.chart),
            safe_name(&self.version)
        )
    }
}

impl std::fmt::Display for ChartRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "chart {} {} from {}", self.chart, self.version, self.repo)
    }
}

/// `s` as one file name: letters, digits, `.`, `_` and `-` kept, anything else `_`; never
/// empty, never hidden, never `..`.
pub fn safe_name(s: &str) -> String {
    let mut out: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect();
    if out.is_empty() || out.starts_with('.') {
        out.insert(0, '_');
    }
    out
}

/// One `helm template` run. Two runs with equal jobs give the same objects, so a job shared by
/// environments (or by both sides of a diff) runs once.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Job {
    /// Helm release name.
    pub release: String,
    /// Release namespace.
    pub namespace: String,
    /// The chart.
    pub chart: ChartRef,
    /// The values file's text, without its header comment (which names the environment):
    /// environments with the same values share a run.
    pub values: String,
    /// `--include-crds`: the chart's `crds/` folder is installed by the engines.
    pub include_crds: bool,
    /// `--skip-schema-validation`: the chart's values schema rejects valid values and the
    /// engines are told to skip it.
    pub skip_schema: bool,
    /// `--kube-version`: the cluster's Kubernetes version, which charts read through
    /// `.Capabilities.KubeVersion` (Argo CD passes the destination's, Flux renders against it).
    pub kube_version: Option<String>,
}

impl Job {
    /// The `helm template` arguments, given where the archive and the values file are.
    pub fn template_args(&self, archive: &str, values: &str) -> Vec<String> {
        let mut args = vec![
            "template".to_string(),
            self.release.clone(),
            archive.to_string(),
            "--namespace".into(),
            self.namespace.clone(),
            "-f".into(),
            values.to_string(),
        ];
        if self.include_crds {
            args.push("--include-crds".into());
        }
        if self.skip_schema {
            args.push("--skip-schema-validation".into());
        }
        if let Some(v) = &self.kube_version {
            args.extend(["--kube-version".into(), v.clone()]);
        }
        args
    }

    /// What the index of a render with `gitops.hydrate` records of this run, beside the chart
    /// and names (and `kgen.hydrated.json` too, so that the two can be compared).
    pub fn hydration(&self) -> crate::lock::Hydration {
        crate::lock::Hydration {
            values_digest: sha256(self.values.as_bytes()),
            include_crds: self.include_crds,
            skip_schema_validation: self.skip_schema,
            kube_version: self.kube_version.clone(),
        }
    }

    /// `kserve (chart kserve-resources v0.20.0)`.
    pub fn label(&self) -> String {
        format!("{} (chart {} {})", self.release, self.chart.chart, self.chart.version)
    }
}

/// The Helm version `--kube-version` gets for an environment's `cluster.kubernetesVersion`
/// (`1.33` → `1.33.0`).
pub fn kube_version(minor: &str) -> String {
    crate::render::helm_kube_version(minor)
}

/// The `helm template` runs of one render: one per Helm release of its index, with the values
/// file the engine gets (`file` looks up a file of the render by its path).
pub fn jobs(
    lock: &Lock,
    file: impl Fn(&str) -> Option<String>,
    kube_version: Option<&str>,
) -> Result<Vec<Job>, String> {
    lock.releases
        .iter()
        .map(|rel| {
            let path = format!("values/{}.yaml", rel.name);
            let text = file(&path).ok_or_else(|| format!("the render has no `{path}` for release {}", rel.name))?;
            // The inputs the render's index records with `gitops.hydrate`: one function decides both.
            let h = crate::render::hydration_inputs(&rel.name, &rel.version, &text, kube_version);
            Ok(Job {
                release: rel.name.clone(),
                namespace: rel.namespace.clone(),
                chart: ChartRef { repo: rel.repo.clone(), chart: rel.chart.clone(), version: rel.version.clone() },
                values: without_header(&text),
                include_crds: h.include_crds,
                skip_schema: h.skip_schema_validation,
                kube_version: h.kube_version,
            })
        })
        .collect()
}

/// A values file without the comment lines it starts with.
fn without_header(text: &str) -> String {
    crate::render::values_without_header(text).to_string()
}

/// One object a chart rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// The object.
    pub value: Value,
    /// The chart file it came from (`# Source:` of `helm template`).
    pub source: Option<String>,
}

/// The objects of `helm template` output, in its order. Documents are read as the API server
/// reads them (YAML 1.1 typing, [`yaml::Budget::Chart`]); empty documents are skipped, as Helm
/// does; Helm test hooks are left out, as Argo CD and Flux leave them out. A document that is
/// not a Kubernetes object (no `apiVersion`, `kind` or `metadata.name`) is an error.
pub fn parse_stream(text: &str) -> Result<Vec<Object>, String> {
    let mut out = Vec::new();
    for chunk in split_documents(text) {
        let source = chunk.lines().find_map(|l| l.strip_prefix("# Source: ")).map(|s| s.trim().to_string());
        let where_ = || source.as_deref().map(|s| format!(" ({s})")).unwrap_or_default();
        let docs: Vec<Value> =
            yaml::from_str_multi(chunk, yaml::Budget::Chart).map_err(|e| format!("invalid YAML{}: {e}", where_()))?;
        for value in docs.into_iter().filter(|v| !v.is_null()) {
            let ok = value.get("apiVersion").is_some_and(Value::is_string)
                && value.get("kind").is_some_and(Value::is_string)
                && value.pointer("/metadata/name").is_some_and(Value::is_string);
            if !ok {
                return Err(format!(
                    "a document{} is not a Kubernetes object (apiVersion, kind, metadata.name)",
                    where_()
                ));
            }
            if is_test_hook(&value) {
                continue;
            }
            out.push(Object { value, source: source.clone() });
        }
    }
    Ok(out)
}

/// `helm template` output cut at its `---` lines (Helm writes each document after one).
fn split_documents(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut pos) = (0, 0);
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" {
            out.push(&text[start..pos]);
            start = pos + line.len();
        }
        pos += line.len();
    }
    out.push(&text[start..]);
    out.retain(|c| !c.trim().is_empty());
    out
}

/// Whether an object is a Helm test hook (`helm.sh/hook: test`, `test-success`,
/// `test-failure`): `helm test` runs them; the engines never apply them.
fn is_test_hook(v: &Value) -> bool {
    v.pointer("/metadata/annotations/helm.sh~1hook")
        .and_then(Value::as_str)
        .is_some_and(|h| h.split(',').any(|p| p.trim().starts_with("test")))
}

/// `(group, kind)` of an object.
pub fn group_kind(v: &Value) -> (String, String) {
    let api = v.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    let group = api.rsplit_once('/').map_or("", |(g, _)| g);
    (group.to_string(), v.get("kind").and_then(Value::as_str).unwrap_or_default().to_string())
}

/// Kinds that are cluster-scoped without a CRD in the chart output saying so: Kubernetes' own,
/// and those of CRDs the engines install from elsewhere (Git, OLM) that charts create.
const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("cert-manager.io", "ClusterIssuer"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("gateway.networking.k8s.io", "GatewayClass"),
    ("networking.k8s.io", "IngressClass"),
    ("node.k8s.io", "RuntimeClass"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("security.openshift.io", "SecurityContextConstraints"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "VolumeAttachment"),
];

/// Folder of cluster-scoped objects, as in `manifests/`.
pub use crate::render::plan::CLUSTER_SCOPE_FOLDER;

/// What one release rendered.
#[derive(Debug, Clone, Copy)]
pub struct ReleaseOutput<'a> {
    /// The run.
    pub job: &'a Job,
    /// Its objects, as [`parse_stream`] read them.
    pub objects: &'a [Object],
}

/// One laid-out object of chart output.
#[derive(Debug, Clone, PartialEq)]
pub struct Laid {
    /// The file's text: header comment, then the object.
    pub text: String,
    /// The object as written (its namespace filled in).
    pub value: Value,
}

/// The files of one environment's chart output, by path: `<release>/<namespace>/<kind>-<name>.yaml`
/// (`_cluster` for cluster-scoped objects, as kgen's own `manifests/`), one object per file,
/// its keys in the chart's order, behind a header naming the environment, release, chart and
/// chart file. A namespaced object without a namespace gets its release's, which is where Helm
/// and the engines put it. Whether a kind is cluster-scoped: Kubernetes' own kinds, and the
/// `scope` of a CRD anywhere in the environment's chart output. Names that are not file names
/// (`system:auth-delegator`) have the other characters replaced; two objects that would share a
/// file get their API group in the name (`gateway.networking.istio.io-x.yaml`).
pub fn layout(env: &str, releases: &[ReleaseOutput<'_>]) -> BTreeMap<String, Laid> {
    let mut scopes: HashMap<(String, String), bool> =
        CLUSTER_SCOPED.iter().map(|(g, k)| ((g.to_string(), k.to_string()), true)).collect();
    for r in releases {
        for o in r.objects {
            if group_kind(&o.value) == ("apiextensions.k8s.io".to_string(), "CustomResourceDefinition".to_string()) {
                let group = o.value.pointer("/spec/group").and_then(Value::as_str);
                let kind = o.value.pointer("/spec/names/kind").and_then(Value::as_str);
                if let (Some(g), Some(k)) = (group, kind) {
                    let cluster = o.value.pointer("/spec/scope").and_then(Value::as_str) == Some("Cluster");
                    scopes.insert((g.to_string(), k.to_string()), cluster);
                }
            }
        }
    }
    let mut files = BTreeMap::new();
    for r in releases {
        // Sorted by folder, kind, name and group: file names do not depend on the chart's order.
        let mut placed: Vec<Placed<'_>> = Vec::new();
        for o in r.objects {
            let (group, kind) = group_kind(&o.value);
            let mut value = o.value.clone();
            let cluster = scopes.get(&(group.clone(), kind.clone())).copied().unwrap_or(false);
            let folder = if cluster {
                CLUSTER_SCOPE_FOLDER.to_string()
            } else {
                let ns = value.pointer("/metadata/namespace").and_then(Value::as_str).map(str::to_string);
                let ns = ns.unwrap_or_else(|| {
                    set_namespace(&mut value, &r.job.namespace);
                    r.job.namespace.clone()
                });
                safe_name(&ns)
            };
            let name = value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
            placed.push(Placed {
                folder,
                kind: safe_name(&kind.to_ascii_lowercase()),
                name: safe_name(&name),
                group,
                value,
                source: o.source.as_deref(),
            });
        }
        placed.sort_by(|a, b| (&a.folder, &a.kind, &a.name, &a.group).cmp(&(&b.folder, &b.kind, &b.name, &b.group)));
        let base = |p: &Placed<'_>| format!("{}/{}/{}-{}", r.job.release, p.folder, p.kind, p.name);
        let mut count: HashMap<String, usize> = HashMap::new();
        for p in &placed {
            *count.entry(base(p)).or_default() += 1;
        }
        let mut used: HashMap<String, usize> = HashMap::new();
        for p in placed {
            let mut path = base(&p);
            if count[&path] > 1 && !p.group.is_empty() {
                path = format!("{}/{}/{}.{}-{}", r.job.release, p.folder, p.kind, safe_name(&p.group), p.name);
            }
            let n = used.entry(path.clone()).or_default();
            *n += 1;
            if *n > 1 {
                path = format!("{path}-{n}");
            }
            let body =
                yaml::to_string(&p.value).unwrap_or_else(|e| format!("# kgen could not serialise this object: {e}\n"));
            let text = format!("{}{body}", header(env, r.job, p.source));
            files.insert(format!("{path}.yaml"), Laid { text, value: p.value });
        }
    }
    files
}

/// An object on its way to a file.
struct Placed<'a> {
    folder: String,
    kind: String,
    name: String,
    group: String,
    value: Value,
    source: Option<&'a str>,
}

/// Sets `metadata.namespace` right after `metadata.name`, where people look for it.
fn set_namespace(v: &mut Value, ns: &str) {
    let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) else { return };
    let at = meta.keys().position(|k| k == "name").map_or(meta.len(), |i| i + 1);
    meta.shift_insert(at, "namespace".into(), json!(ns));
}

/// The comment on top of a hydrated file. No chart version: an object a chart upgrade leaves
/// alone keeps its bytes, so a diff shows only what changes (the index has the versions).
fn header(env: &str, job: &Job, source: Option<&str>) -> String {
    let from = source.map(|s| format!(", {}", crate::diag::escape(s))).unwrap_or_default();
    format!("# Generated by kgen hydrate for environment {env} from Helm release {}{from}. Do not edit.\n", job.release)
}

/// One hydrated release, for the index.
#[derive(Debug, Clone)]
pub struct IndexRelease<'a> {
    /// The run.
    pub job: &'a Job,
    /// `sha256:` of the chart archive rendered.
    pub chart_digest: String,
}

/// The text of [`INDEX_FILE`]: environment, every release with its chart, archive digest and
/// values digest and the other inputs of its run ([`Job::hydration`]), and the `sha256:` of every
/// file, as JSON (stable order).
pub fn index(env: &str, releases: &[IndexRelease<'_>], files: &BTreeMap<String, String>) -> String {
    let rels: Vec<Value> = releases
        .iter()
        .map(|r| {
            let h = r.job.hydration();
            json!({
                "name": r.job.release, "namespace": r.job.namespace, "chart": r.job.chart.chart,
                "repo": r.job.chart.repo, "version": r.job.chart.version, "chartDigest": r.chart_digest,
                "valuesDigest": h.values_digest, "includeCrds": h.include_crds,
                "skipSchemaValidation": h.skip_schema_validation, "kubeVersion": h.kube_version,
            })
        })
        .collect();
    let digests: BTreeMap<&str, String> = files.iter().map(|(p, t)| (p.as_str(), sha256(t.as_bytes()))).collect();
    let v = json!({
        "format": 1,
        "kgenVersion": env!("CARGO_PKG_VERSION"),
        "environment": env,
        "releases": rels,
        "files": digests,
    });
    let mut s = serde_json::to_string_pretty(&v).expect("the index serialises");
    s.push('\n');
    s
}

/// Parses `helm version --short` output (`v3.17.0+g301108e`, `v4.0.1`, Helm 2's
/// `Client: v2.17.0+ga690bad`): major, minor, patch.
pub fn parse_helm_version(out: &str) -> Option<(u64, u64, u64)> {
    let at = out.char_indices().find(|&(i, c)| c == 'v' && out[i + 1..].starts_with(|d: char| d.is_ascii_digit()))?.0;
    let v = out[at + 1..].split_whitespace().next()?;
    let core = v.split(['+', '-']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((parts.next()??, parts.next()??, parts.next().flatten().unwrap_or(0)))
}

#[cfg(test)]
mod tests;
