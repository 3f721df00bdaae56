//! `kgen diff`: what a fresh render changes compared with the previous one, per environment,
//! file, Kubernetes object and field. Pure: the previous tree ([`Previous`]) is read by the
//! command layer (from disk or from a git ref) and handed in; nothing here touches the disk,
//! the terminal, git or the clock.
//!
//! Identity is environment → file → object (group, kind, namespace, name) → field path. Values
//! files, the kustomization and the index (`kgen.lock.json`) are compared by key path. Moving a
//! document inside a file, reordering keys or keyed list items, comments and formatting are not
//! changes; an object that moves to another file is shown as moved. The model below is also the
//! JSON output ([`json`]); [`text`] and [`markdown`] print it.

pub mod fleet;
pub mod json;
pub mod markdown;
pub mod risk;
pub mod text;
mod values;

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use crate::compare::{self, Previous, Status};
use crate::render::{KUSTOMIZATION, LOCK_FILE, Rendered};
use crate::yaml;

pub use risk::{Risk, RiskKind};

/// Version of the JSON output format (`schemaVersion`); raised on any incompatible change.
pub const SCHEMA_VERSION: u32 = 3;

/// Chart output (`--hydrate`) whose hunks have more lines than this shows only its field
/// changes: a CRD version's schema gains thousands of lines in one upgrade.
pub const HYDRATED_HUNK_LINES: usize = 200;

/// Added files up to this many lines are shown in full as a hunk.
const SMALL_FILE_LINES: usize = 40;

/// Time allowed for the line diff of one file before a valid but not minimal diff is used.
const HUNK_DEADLINE: Duration = Duration::from_secs(2);

/// Lines of context around each hunk.
const CONTEXT_LINES: usize = 3;

/// What a render was compared with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Base {
    /// `disk`: the files under the output folder; `git`: the same folder at a git ref.
    pub source: BaseSource,
    /// The git ref (for `source: git`), as given on the command line.
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// The output folder, relative to the project (usually `rendered`).
    pub path: String,
}

/// Where the previous render was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BaseSource {
    /// The files on disk.
    Disk,
    /// A git ref, read with the `git` command.
    Git,
}

/// The whole comparison: the JSON output of `kgen diff --format json`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(title = "kgen diff report")]
pub struct Report {
    /// Version of this format. Consumers should reject versions they do not know.
    pub schema_version: u32,
    /// The kgen version that produced the report.
    pub kgen_version: String,
    /// What the fresh render was compared with.
    pub base: Base,
    /// Totals over every compared environment.
    pub summary: Summary,
    /// Environments whose render changes, in name order (unchanged ones are only named in
    /// `unchanged`).
    pub environments: Vec<EnvDiff>,
    /// Compared environments without any change, in name order.
    pub unchanged: Vec<String>,
    /// The changed environments grouped by their changes: environments in one group change the
    /// same fields, objects and files the same way, apart from their own names (which the
    /// changes may contain, as in `argocd/application-<env>-kserve.yaml`). Every changed
    /// environment is in exactly one group; groups are in order of their first environment.
    pub groups: Vec<fleet::Group>,
}

/// Totals over every compared environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Environments compared.
    pub environments: usize,
    /// Environments with changes (added, removed or changed).
    pub changed: usize,
    /// Kubernetes objects added.
    pub objects_added: usize,
    /// Kubernetes objects whose fields change.
    pub objects_changed: usize,
    /// Kubernetes objects removed.
    pub objects_removed: usize,
    /// Helm releases whose values file is added, removed or changed.
    pub values_changed: usize,
    /// Risk flags raised.
    pub risks: usize,
    /// `--hydrate`: totals of the chart output's objects (absent without `--hydrate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hydrated: Option<HydratedCounts>,
}

/// How the objects the charts render change (`kgen diff --hydrate`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HydratedCounts {
    /// Objects the charts render that are new.
    pub objects_added: usize,
    /// Objects the charts render whose fields change.
    pub objects_changed: usize,
    /// Objects the charts rendered that are gone.
    pub objects_removed: usize,
    /// Helm releases whose chart output changes, in name order.
    pub releases: Vec<String>,
}

impl HydratedCounts {
    /// The summary phrase text and Markdown both print: `chart output: 2 objects added, …`.
    pub fn phrase(&self) -> String {
        format!(
            "chart output: {} added, {} changed, {} removed",
            plural(self.objects_added, "object", "objects"),
            self.objects_changed,
            self.objects_removed
        )
    }
}

/// `1 object`, `2 objects`.
pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 { format!("{n} {one}") } else { format!("{n} {many}") }
}

/// How an environment's render changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EnvStatus {
    /// No previous render: every file is new.
    Added,
    /// The environment file is gone: every generated file would be pruned.
    Removed,
    /// Some files change.
    Changed,
    /// Files differ only in comments, formatting, ordering or derived index fields.
    Rewritten,
    /// Byte-identical.
    Unchanged,
}

/// The changes of one environment.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvDiff {
    /// Environment name (`rendered/<name>/`).
    pub name: String,
    /// How the environment changes.
    pub status: EnvStatus,
    /// Kubernetes objects added.
    pub objects_added: usize,
    /// Kubernetes objects whose fields change (including objects that moved file and changed).
    pub objects_changed: usize,
    /// Kubernetes objects removed.
    pub objects_removed: usize,
    /// Helm releases whose values file is added, removed or changed, in name order.
    pub values_changed: Vec<String>,
    /// Risk flags, most severe first.
    pub risks: Vec<Risk>,
    /// Files with changes: values first, then manifests, GitOps objects, other files, the
    /// kustomization and the index; by path within each.
    pub files: Vec<FileDiff>,
    /// Files whose bytes differ without any change in meaning (comments, formatting, order,
    /// derived index fields), by path.
    pub rewritten: Vec<String>,
    /// `--hydrate`: how the chart output's objects change (the objects are in `files`, kind
    /// `hydrated`; absent without `--hydrate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hydrated: Option<HydratedCounts>,
}

impl EnvDiff {
    /// Whether anything changes in meaning.
    pub fn has_changes(&self) -> bool {
        !self.files.is_empty()
    }
}

/// What a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// `values/<release>.yaml`: Helm values, compared by key path.
    Values,
    /// `manifests/…`: Kubernetes objects.
    Manifest,
    /// `argocd/…` or `flux/…`: GitOps objects.
    Gitops,
    /// Any other file (compared as Kubernetes objects if it is YAML, else as text).
    Other,
    /// `kustomization.yaml`.
    Kustomization,
    /// `kgen.lock.json`: compared by key path, without the derived `files` digests and
    /// `inputs.digest`.
    Index,
    /// `--hydrate`: `hydrated/<release>/<namespace>/<kind>-<name>.yaml`, an object a chart
    /// renders (as `kgen hydrate` writes it), not a file of the render.
    Hydrated,
}

/// How a file changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema, Hash)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    /// New file.
    Added,
    /// Content changes.
    Modified,
    /// Gone (`kgen render` prunes it).
    Removed,
}

impl From<Status> for FileStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Added => FileStatus::Added,
            Status::Modified => FileStatus::Modified,
            Status::Removed => FileStatus::Removed,
        }
    }
}

/// Why a file has no hunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HunksOmitted {
    /// The file holds a Secret: only the names of changed keys are shown.
    Secret,
    /// The index: its field changes say everything.
    Index,
    /// An added file too long to show in full, or chart output (`--hydrate`) whose hunks would
    /// be longer than [`HYDRATED_HUNK_LINES`] (a CRD schema): its field changes say what changes.
    Size,
    /// A removed file: what it held is listed, its text is not repeated.
    Removed,
    /// Some of the file's changes are the same in several environments and shown once for all
    /// of them (text and Markdown only; JSON keeps every change per environment).
    Shared,
}

/// One changed file.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileDiff {
    /// Path relative to `rendered/<env>/`.
    pub path: String,
    /// Added, modified or removed.
    pub status: FileStatus,
    /// What the file is.
    pub kind: FileKind,
    /// The Helm release, for values files and chart output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// Documents that change, in the new file's order, removed ones last.
    pub documents: Vec<DocDiff>,
    /// Unified diff hunks of the file's text (3 lines of context).
    pub hunks: Vec<Hunk>,
    /// Why `hunks` is empty although the file changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hunks_omitted: Option<HunksOmitted>,
    /// Set when the file could not be compared field by field (it is then compared as text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// How a document changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema, Hash)]
#[serde(rename_all = "lowercase")]
pub enum DocStatus {
    /// New document.
    Added,
    /// Document gone.
    Removed,
    /// Fields change.
    Changed,
    /// The object comes from another file (`movedFrom`); `changes` lists field changes, if any.
    Moved,
}

/// One changed document of a file.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocDiff {
    /// The Kubernetes object; absent for documents that are not one (values, index,
    /// kustomization).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectRef>,
    /// How it changes.
    pub status: DocStatus,
    /// For `moved`: the file it was in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<String>,
    /// Field changes (for `changed` and `moved`), in document order.
    pub changes: Vec<Change>,
}

/// A Kubernetes object's identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// API group (empty for the core group).
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace; absent for cluster-scoped objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// `apiVersion` in the new render (the previous one for removed objects).
    pub api_version: String,
}

impl ObjectRef {
    /// `Kind.group`, kubectl style (`Gateway.networking.istio.io`); just `Kind` for core.
    pub fn kind_group(&self) -> String {
        if self.group.is_empty() { self.kind.clone() } else { format!("{}.{}", self.kind, self.group) }
    }

    /// `namespace/name`, or `name` when cluster-scoped.
    pub fn qualified_name(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }

    /// Whether this is a core-group object of `kind`.
    pub fn is_core(&self, kind: &str) -> bool {
        self.group.is_empty() && self.kind == kind
    }

    fn key(&self) -> (&str, &str, Option<&str>, &str) {
        (&self.group, &self.kind, self.namespace.as_deref(), &self.name)
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind_group(), self.qualified_name())
    }
}

/// How a field changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema, Hash)]
#[serde(rename_all = "lowercase")]
pub enum ChangeOp {
    /// The path is new.
    Added,
    /// The path is gone.
    Removed,
    /// The value at the path differs.
    Changed,
}

/// One field change.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// Field path: `spec.template.spec.containers[name=manager].image`; keys that are not plain
    /// words are quoted in brackets (`metadata.labels["app.kubernetes.io/name"]`); list items
    /// are `[name=x]` when the list is keyed by name, else `[index]`. Empty for the whole
    /// document.
    pub path: String,
    /// Added, removed or changed.
    pub op: ChangeOp,
    /// The previous value (absent for `added`, and when redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    /// The new value (absent for `removed`, and when redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
    /// True when values are withheld: Secret data is never printed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redacted: bool,
}

/// One unified diff hunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Hunk {
    /// `@@ -a,b +c,d @@`.
    pub header: String,
    /// Lines, each starting with ` ` (context), `-` (removed) or `+` (added); no newline.
    pub lines: Vec<String>,
}

/// One parsed document.
struct Doc {
    object: Option<ObjectRef>,
    value: Value,
}

/// A file as far as it could be read.
enum Parsed<'a> {
    /// Not there on this side.
    Absent,
    /// YAML or JSON documents.
    Docs(Vec<Doc>, Cow<'a, str>),
    /// Text only (not YAML/JSON, or unreadable as such: the reason).
    Text(Cow<'a, str>, Option<String>),
}

impl Parsed<'_> {
    fn text(&self) -> Option<&str> {
        match self {
            Parsed::Absent => None,
            Parsed::Docs(_, t) | Parsed::Text(t, _) => Some(t),
        }
    }

    fn docs(&self) -> &[Doc] {
        match self {
            Parsed::Docs(d, _) => d,
            _ => &[],
        }
    }
}

fn file_kind(path: &str) -> FileKind {
    if path == LOCK_FILE {
        FileKind::Index
    } else if path == KUSTOMIZATION {
        FileKind::Kustomization
    } else if path.starts_with("values/") && path.ends_with(".yaml") {
        FileKind::Values
    } else if path.starts_with("manifests/") {
        FileKind::Manifest
    } else if crate::render::gitops::is_engine_file(path) {
        FileKind::Gitops
    } else {
        FileKind::Other
    }
}

fn release_of(path: &str) -> Option<String> {
    path.strip_prefix("values/").and_then(|p| p.strip_suffix(".yaml")).map(str::to_string)
}

/// The identity of a document, if it is a Kubernetes object.
fn object_ref(v: &Value) -> Option<ObjectRef> {
    let api_version = v.get("apiVersion")?.as_str()?;
    let kind = v.get("kind")?.as_str()?;
    let meta = v.get("metadata")?;
    let name = meta.get("name")?.as_str()?;
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    Some(ObjectRef {
        group: group.to_string(),
        kind: kind.to_string(),
        namespace: meta.get("namespace").and_then(Value::as_str).map(str::to_string),
        name: name.to_string(),
        api_version: api_version.to_string(),
    })
}

/// Index fields derived from the other files and the inputs, and its format: never shown as
/// changes. An index kgen can read is compared as read (a format-1 index with the mesh provider
/// and engine it implies), so rewriting it in the current format changes nothing in meaning.
fn strip_derived(mut lock: Value) -> Value {
    if let Ok(typed) = crate::lock::Lock::from_slice(lock.to_string().as_bytes()) {
        lock = serde_json::to_value(typed).expect("the lock serialises");
    }
    if let Some(m) = lock.as_object_mut() {
        // `shift_remove` keeps the order of the other keys, which is the order changes are listed in.
        m.shift_remove("format");
        m.shift_remove("files");
        if let Some(inputs) = m.get_mut("inputs").and_then(Value::as_object_mut) {
            inputs.remove("digest");
        }
        // Recorded for the history rules (KG607) and the `data-loss` risk, which say what leaves;
        // the Namespace objects show the change. An index written before kgen recorded them
        // means the same.
        if let Some(kserve) = m.get_mut("kserve").and_then(Value::as_object_mut) {
            kserve.shift_remove("modelNamespaces");
        }
    }
    lock
}

fn parse<'a>(path: &str, text: Option<Cow<'a, str>>) -> Parsed<'a> {
    let Some(text) = text else { return Parsed::Absent };
    if path.ends_with(".json") {
        return match serde_json::from_str::<Value>(&text) {
            Ok(v) => {
                let v = if path == LOCK_FILE { strip_derived(v) } else { v };
                Parsed::Docs(vec![Doc { object: None, value: v }], text)
            }
            Err(e) => Parsed::Text(text, Some(format!("not valid JSON ({e})"))),
        };
    }
    if !is_yaml(path) {
        return Parsed::Text(text, None);
    }
    match yaml::from_str_multi::<Value>(&text, yaml::Budget::Render) {
        Ok(values) => Parsed::Docs(docs(path, values), text),
        Err(e) => Parsed::Text(text, Some(format!("not valid YAML ({e})"))),
    }
}

fn docs(path: &str, values: Vec<Value>) -> Vec<Doc> {
    values
        .into_iter()
        .filter(|v| !v.is_null())
        .map(|value| {
            let object = if file_kind(path) == FileKind::Values { None } else { object_ref(&value) };
            Doc { object, value }
        })
        .collect()
}

fn is_yaml(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml")
}

/// A YAML stream cut into its documents' texts at `---` lines; `None` when the text uses
/// anything that makes that unsafe (content after `---`, `...`, directives).
fn split_docs(text: &str) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    let (mut start, mut pos) = (0, 0);
    for line in text.split_inclusive('\n') {
        let l = line.trim_end_matches(['\n', '\r']);
        if l == "---" {
            out.push(&text[start..pos]);
            start = pos + line.len();
        } else if l.starts_with("--- ") || l.starts_with("...") || l.starts_with('%') {
            return None;
        }
        pos += line.len();
    }
    out.push(&text[start..]);
    Some(out)
}

/// Both versions of a modified YAML file. Documents whose text is the same on both sides
/// (wherever they sit in the file) cannot differ and are not parsed: a large file with a few
/// changed documents costs only those documents.
fn parse_pair<'a>(path: &str, old: Cow<'a, str>, new: &'a str) -> (Parsed<'a>, Parsed<'a>) {
    let full = |old: Cow<'a, str>| (parse(path, Some(old)), parse(path, Some(Cow::Borrowed(new))));
    if !is_yaml(path) {
        return full(old);
    }
    let (Some(a), Some(b)) = (split_docs(&old), split_docs(new)) else { return full(old) };
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for d in &b {
        *counts.entry(d).or_default() += 1;
    }
    let mut common: HashMap<&str, usize> = HashMap::new();
    for d in &a {
        if let Some(n) = counts.get_mut(d)
            && *n > 0
        {
            *n -= 1;
            *common.entry(d).or_default() += 1;
        }
    }
    let only = |chunks: &[&str]| -> Option<Vec<Doc>> {
        let mut left = common.clone();
        let mut out = Vec::new();
        for c in chunks {
            match left.get_mut(c) {
                Some(n) if *n > 0 => *n -= 1,
                _ => out.extend(docs(path, yaml::from_str_multi::<Value>(c, yaml::Budget::Render).ok()?)),
            }
        }
        Some(out)
    };
    // A large file: both sides at once.
    let (da, db) = if old.len() + new.len() >= PARALLEL_PARSE_BYTES {
        std::thread::scope(|s| {
            let h = s.spawn(|| only(&a));
            let db = only(&b);
            (h.join().expect("diff worker panicked"), db)
        })
    } else {
        (only(&a), only(&b))
    };
    match (da, db) {
        (Some(da), Some(db)) => (Parsed::Docs(da, old), Parsed::Docs(db, Cow::Borrowed(new))),
        // A document that does not parse on its own: read the whole file, which reports why.
        _ => full(old),
    }
}

/// Whether a document is a Secret (core group).
fn is_secret(d: &Doc) -> bool {
    d.object.as_ref().is_some_and(|o| o.is_core("Secret"))
        || (d.object.is_none() && d.value.get("kind").and_then(Value::as_str) == Some("Secret"))
}

/// A conservative look at unparsed text: any line saying `kind: Secret`.
fn text_mentions_secret(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim();
        l.strip_prefix("kind:").is_some_and(|k| k.trim().trim_matches(['"', '\'']) == "Secret")
    })
}

/// In a Secret, only these top-level fields show their values.
const SECRET_VISIBLE: [&str; 5] = ["apiVersion", "kind", "metadata", "type", "immutable"];

/// A Secret as compared: every `data`/`stringData` value replaced by its digest, so a change
/// is detected per key without the value ever entering a [`Change`].
fn secret_view(v: &Value) -> Value {
    let mut v = v.clone();
    for field in ["data", "stringData"] {
        if let Some(m) = v.get_mut(field).and_then(Value::as_object_mut) {
            for val in m.values_mut() {
                *val = Value::String(crate::render::sha256(val.to_string().as_bytes()));
            }
        }
    }
    v
}

/// Withholds Secret values (from changes computed over [`secret_view`]s): `data`/`stringData`
/// changes are reported per key without values; any other field outside [`SECRET_VISIBLE`]
/// keeps its path but loses its values.
fn redact_secret(changes: Vec<Change>) -> Vec<Change> {
    let mut out = Vec::new();
    for c in changes {
        let root = c.path.split(['.', '[']).next().unwrap_or_default();
        if SECRET_VISIBLE.contains(&root) {
            out.push(c);
            continue;
        }
        if (root == "data" || root == "stringData") && c.path == root {
            // The whole map appears or goes: one change per key, names only.
            let keys = |v: &Option<Value>| -> Vec<String> {
                v.as_ref().and_then(Value::as_object).map(|m| m.keys().cloned().collect()).unwrap_or_default()
            };
            let (old, new) = (keys(&c.old), keys(&c.new));
            for k in &new {
                let op = if old.contains(k) { ChangeOp::Changed } else { ChangeOp::Added };
                let path = values::path_string(&[values::Seg::Key(root.into()), values::Seg::Key(k.clone())]);
                out.push(Change { path, op, old: None, new: None, redacted: true });
            }
            for k in old.iter().filter(|k| !new.contains(k)) {
                let path = values::path_string(&[values::Seg::Key(root.into()), values::Seg::Key(k.clone())]);
                out.push(Change { path, op: ChangeOp::Removed, old: None, new: None, redacted: true });
            }
            if old.is_empty() && new.is_empty() {
                out.push(Change { old: None, new: None, redacted: true, ..c });
            }
            continue;
        }
        out.push(Change { old: None, new: None, redacted: true, ..c });
    }
    out
}

/// Field changes between two versions of a document; Secrets are compared through
/// [`secret_view`] and redacted.
fn doc_changes(old: &Doc, new: &Doc) -> Vec<Change> {
    if is_secret(old) || is_secret(new) {
        redact_secret(values::diff_docs(&secret_view(&old.value), &secret_view(&new.value)))
    } else {
        values::diff_docs(&old.value, &new.value)
    }
}

/// One changed file to parse: path, previous bytes, new text.
type ParseJob<'a> = (&'a str, Option<&'a [u8]>, Option<&'a str>);

/// Above this many bytes to parse, one environment's files are parsed on every core.
const PARALLEL_PARSE_BYTES: usize = 256 * 1024;

/// `items` through `f`, on every core when `parallel`; results keep the input order.
fn par_map<T: Sync, R: Send>(items: &[T], parallel: bool, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if parallel { crate::par_map(items, f) } else { items.iter().map(f).collect() }
}

/// Unified hunks of two texts (Patience, with a deadline).
fn hunks(old: &str, new: &str) -> Vec<Hunk> {
    let diff = similar::TextDiff::configure()
        .algorithm(similar::Algorithm::Patience)
        .timeout(HUNK_DEADLINE)
        .diff_lines(old, new);
    diff.unified_diff()
        .context_radius(CONTEXT_LINES)
        .iter_hunks()
        .map(|h| Hunk {
            header: h.header().to_string(),
            lines: h
                .iter_changes()
                .map(|c| {
                    let sign = match c.tag() {
                        similar::ChangeTag::Equal => ' ',
                        similar::ChangeTag::Delete => '-',
                        similar::ChangeTag::Insert => '+',
                    };
                    let v = c.value();
                    // A previous render is whatever the branch holds: an escape sequence in it
                    // must not drive the terminal or the CI log that shows the diff.
                    format!("{sign}{}", crate::diag::escape(v.strip_suffix('\n').unwrap_or(v)))
                })
                .collect(),
        })
        .collect()
}

/// Sort key for files: values, manifests, GitOps, other, kustomization, index; then path.
fn file_order(f: &FileDiff) -> (FileKind, &str) {
    (f.kind, &f.path)
}

type ObjKey = (String, String, Option<String>, String, usize);

/// Object key → (file, document index) for every object of the parsed files of one side.
/// Repeated identities get an occurrence number, in path order.
fn index_objects<'p>(parsed: &'p [(&'p str, Parsed<'_>)]) -> ObjIndex<'p> {
    let mut seen: HashMap<(String, String, Option<String>, String), usize> = HashMap::new();
    let mut out = HashMap::new();
    for (path, p) in parsed {
        for (i, d) in p.docs().iter().enumerate() {
            if let Some(o) = &d.object {
                let (g, k, ns, n) = o.key();
                let base = (g.to_string(), k.to_string(), ns.map(str::to_string), n.to_string());
                let count = seen.entry(base.clone()).or_default();
                out.insert((base.0, base.1, base.2, base.3, *count), (*path, i));
                *count += 1;
            }
        }
    }
    out
}

fn key_of(o: &ObjectRef, occurrence: usize) -> ObjKey {
    (o.group.clone(), o.kind.clone(), o.namespace.clone(), o.name.clone(), occurrence)
}

/// Compares one environment's fresh render with its previous render.
pub fn diff_env(new: &Rendered, old: &Previous) -> EnvDiff {
    diff_changes(new, old, compare::compare(new, old))
}

/// [`diff_env`] when the files that changed are known already (`kgen render` has them from the
/// write): a render is compared with its previous render once.
pub fn diff_changes(new: &Rendered, old: &Previous, changeset: compare::Changeset) -> EnvDiff {
    let mut env = EnvDiff {
        name: new.env.clone(),
        status: EnvStatus::Unchanged,
        objects_added: 0,
        objects_changed: 0,
        objects_removed: 0,
        values_changed: Vec::new(),
        risks: Vec::new(),
        files: Vec::new(),
        rewritten: Vec::new(),
        hydrated: None,
    };
    if changeset.is_empty() {
        return env;
    }
    // Parse both sides of every file whose bytes differ (in parallel when there is a lot).
    let jobs: Vec<ParseJob<'_>> = changeset
        .files
        .iter()
        .map(|(path, status)| {
            let old_bytes = old.contents.get(path).filter(|_| *status != Status::Added).map(Vec::as_slice);
            (path.as_str(), old_bytes, new.files.get(path).map(String::as_str))
        })
        .collect();
    let bytes: usize = jobs.iter().map(|(_, o, n)| o.map_or(0, <[u8]>::len) + n.map_or(0, str::len)).sum();
    let parsed = par_map(&jobs, bytes >= PARALLEL_PARSE_BYTES, |&(path, o, n)| match (o, n) {
        (Some(o), Some(n)) => parse_pair(path, String::from_utf8_lossy(o), n),
        (o, n) => (parse(path, o.map(String::from_utf8_lossy)), parse(path, n.map(Cow::Borrowed))),
    });
    let mut old_side: Vec<(&str, Parsed<'_>)> = Vec::with_capacity(parsed.len());
    let mut new_side: Vec<(&str, Parsed<'_>)> = Vec::with_capacity(parsed.len());
    for ((path, _, _), (o, n)) in jobs.iter().zip(parsed) {
        old_side.push((path, o));
        new_side.push((path, n));
    }
    let old_index = index_objects(&old_side);
    let new_index = index_objects(&new_side);
    let old_files: HashMap<&str, &Parsed<'_>> = old_side.iter().map(|(p, x)| (*p, x)).collect();

    for (i, (path, status)) in changeset.files.iter().enumerate() {
        let (o, n) = (&old_side[i].1, &new_side[i].1);
        let kind = file_kind(path);
        let mut file = FileDiff {
            path: path.clone(),
            status: (*status).into(),
            kind,
            release: if kind == FileKind::Values { release_of(path) } else { None },
            documents: Vec::new(),
            hunks: Vec::new(),
            hunks_omitted: None,
            note: None,
        };
        // Documents equal on both sides are not parsed: look for Secrets in the text as well.
        let secret = o.docs().iter().chain(n.docs()).any(is_secret)
            || [o, n].iter().any(|p| match p {
                Parsed::Text(t, _) => text_mentions_secret(t),
                Parsed::Docs(_, t) => t.lines().any(|l| l.strip_prefix("kind:").is_some_and(|k| k.trim() == "Secret")),
                Parsed::Absent => false,
            });
        let text_only = matches!(o, Parsed::Text(..)) || matches!(n, Parsed::Text(..));
        if text_only {
            file.note = [o, n]
                .iter()
                .find_map(|p| match p {
                    Parsed::Text(_, Some(reason)) => Some(format!("compared as text: {reason}")),
                    _ => None,
                })
                .or_else(|| Some("compared as text".into()));
        } else {
            compare_docs(path, o, n, &old_files, &old_index, &new_index, &mut file.documents);
        }
        let changed = text_only || !file.documents.is_empty() || *status != Status::Modified;
        if !changed {
            env.rewritten.push(path.clone());
            continue;
        }
        // Hunks: never for Secrets, not for the index, in full only for small new/gone files.
        let (ot, nt) = (o.text().unwrap_or_default(), n.text().unwrap_or_default());
        if secret {
            file.hunks_omitted = Some(HunksOmitted::Secret);
        } else if kind == FileKind::Index && !text_only {
            file.hunks_omitted = Some(HunksOmitted::Index);
        } else if *status == Status::Removed {
            file.hunks_omitted = Some(HunksOmitted::Removed);
        } else if *status == Status::Added && nt.lines().count() > SMALL_FILE_LINES {
            file.hunks_omitted = Some(HunksOmitted::Size);
        } else {
            file.hunks = hunks(ot, nt);
        }
        for d in &file.documents {
            if d.object.is_none() {
                continue;
            }
            match d.status {
                DocStatus::Added => env.objects_added += 1,
                DocStatus::Removed => env.objects_removed += 1,
                DocStatus::Changed => env.objects_changed += 1,
                DocStatus::Moved if !d.changes.is_empty() => env.objects_changed += 1,
                DocStatus::Moved => {}
            }
        }
        if let Some(r) = &file.release {
            env.values_changed.push(r.clone());
        }
        env.files.push(file);
    }
    env.files.sort_by(|a, b| file_order(a).cmp(&file_order(b)));
    env.values_changed.sort();
    env.status = if new.files.is_empty() {
        EnvStatus::Removed
    } else if old.contents.is_empty() {
        EnvStatus::Added
    } else if env.files.is_empty() {
        EnvStatus::Rewritten
    } else {
        EnvStatus::Changed
    };
    env.risks = risk::assess(env.status, &env.files, lock_of(&old_side).as_ref(), lock_of(&new_side).as_ref());
    env
}

/// Adds the diff of an environment's chart output to its diff (`kgen diff --hydrate`):
/// `hydrated` compares the chart output of both sides, laid out as `hydrated/<release>/…` files
/// ([`diff_env`] of those), `risks` are what the objects themselves say
/// (`crate::hydrate::risk`). Its files join the environment's with kind `hydrated`; of its own
/// risks only those about objects (CRDs and Namespaces removed, immutable fields) are kept, since
/// those about the render (environment added or removed, the index) are the render's to say.
pub fn attach_hydrated(env: &mut EnvDiff, hydrated: EnvDiff, risks: Vec<Risk>) {
    let mut counts = HydratedCounts {
        objects_added: hydrated.objects_added,
        objects_changed: hydrated.objects_changed,
        objects_removed: hydrated.objects_removed,
        releases: Vec::new(),
    };
    for mut f in hydrated.files {
        f.kind = FileKind::Hydrated;
        if f.hunks.iter().map(|h| h.lines.len()).sum::<usize>() > HYDRATED_HUNK_LINES {
            f.hunks.clear();
            f.hunks_omitted = Some(HunksOmitted::Size);
        }
        f.release = f.path.split('/').nth(1).map(str::to_string);
        counts.releases.extend(f.release.clone());
        env.files.push(f);
    }
    counts.releases.sort();
    counts.releases.dedup();
    env.files.sort_by(|a, b| file_order(a).cmp(&file_order(b)));
    env.risks.extend(
        hydrated
            .risks
            .into_iter()
            .filter(|r| matches!(r.kind, RiskKind::CrdRemoved | RiskKind::NamespaceRemoved | RiskKind::ImmutableField)),
    );
    env.risks.extend(risks);
    env.risks.sort_by(|a, b| (a.kind, &a.message).cmp(&(b.kind, &b.message)));
    env.risks.dedup();
    env.hydrated = Some(counts);
}

/// Where to find an object: its key (with occurrence number) → (file, document index).
type ObjIndex<'p> = HashMap<ObjKey, (&'p str, usize)>;

/// The key of the object at (`path`, `doc`) in `index`.
fn locate(index: &ObjIndex<'_>, obj: &ObjectRef, path: &str, doc: usize) -> ObjKey {
    (0..)
        .map(|k| key_of(obj, k))
        .take_while(|key| index.contains_key(key))
        .find(|key| index[key] == (path, doc))
        .unwrap_or_else(|| key_of(obj, 0))
}

/// The index among the parsed files of one side, if it changed and is a lock.
fn lock_of(side: &[(&str, Parsed<'_>)]) -> Option<crate::lock::Lock> {
    let (_, parsed) = side.iter().find(|(p, _)| *p == LOCK_FILE)?;
    crate::lock::Lock::from_slice(parsed.text()?.as_bytes()).ok()
}

/// Compares the documents of one file, appending what changes to `out`. Objects are matched
/// by identity across every changed file of the environment; other documents by position.
fn compare_docs(
    path: &str,
    o: &Parsed<'_>,
    n: &Parsed<'_>,
    old_files: &HashMap<&str, &Parsed<'_>>,
    old_index: &ObjIndex<'_>,
    new_index: &ObjIndex<'_>,
    out: &mut Vec<DocDiff>,
) {
    let doc = |object: Option<&ObjectRef>, status, moved_from: Option<&str>, changes| DocDiff {
        object: object.cloned(),
        status,
        moved_from: moved_from.map(str::to_string),
        changes,
    };
    // Documents that are not objects pair up in order.
    let mut old_plain = o.docs().iter().filter(|d| d.object.is_none());
    for (di, d) in n.docs().iter().enumerate() {
        let Some(obj) = &d.object else {
            match old_plain.next() {
                Some(prev) => {
                    let changes = doc_changes(prev, d);
                    if !changes.is_empty() {
                        out.push(doc(None, DocStatus::Changed, None, changes));
                    }
                }
                None => out.push(doc(None, DocStatus::Added, None, vec![])),
            }
            continue;
        };
        let key = locate(new_index, obj, path, di);
        let prev =
            old_index.get(&key).and_then(|&(op, oi)| old_files.get(op).and_then(|p| p.docs().get(oi)).map(|d| (op, d)));
        match prev {
            Some((op, prev)) if op == path => {
                let changes = doc_changes(prev, d);
                if !changes.is_empty() {
                    out.push(doc(Some(obj), DocStatus::Changed, None, changes));
                }
            }
            Some((op, prev)) => out.push(doc(Some(obj), DocStatus::Moved, Some(op), doc_changes(prev, d))),
            None => out.push(doc(Some(obj), DocStatus::Added, None, vec![])),
        }
    }
    let new_plain = n.docs().iter().filter(|d| d.object.is_none()).count();
    let mut plain = 0;
    for (di, d) in o.docs().iter().enumerate() {
        match &d.object {
            Some(obj) => {
                if !new_index.contains_key(&locate(old_index, obj, path, di)) {
                    out.push(doc(Some(obj), DocStatus::Removed, None, vec![]));
                }
            }
            None => {
                if plain >= new_plain {
                    out.push(doc(None, DocStatus::Removed, None, vec![]));
                }
                plain += 1;
            }
        }
    }
}

/// Builds the report from per-environment diffs (any order; sorted here).
pub fn report(base: Base, mut envs: Vec<EnvDiff>) -> Report {
    envs.sort_by(|a, b| crate::natural::cmp(&a.name, &b.name));
    let mut summary = Summary { environments: envs.len(), ..Summary::default() };
    let mut unchanged = Vec::new();
    let mut environments = Vec::new();
    for e in envs {
        if !e.has_changes() {
            unchanged.push(e.name);
            continue;
        }
        summary.changed += 1;
        summary.objects_added += e.objects_added;
        summary.objects_changed += e.objects_changed;
        summary.objects_removed += e.objects_removed;
        summary.values_changed += e.values_changed.len();
        summary.risks += e.risks.len();
        if let Some(h) = &e.hydrated {
            let t = summary.hydrated.get_or_insert_with(HydratedCounts::default);
            t.objects_added += h.objects_added;
            t.objects_changed += h.objects_changed;
            t.objects_removed += h.objects_removed;
            t.releases.extend(h.releases.iter().cloned());
            t.releases.sort();
            t.releases.dedup();
        }
        environments.push(e);
    }
    let groups = fleet::groups(&environments)
        .into_iter()
        .map(|g| fleet::Group { environments: g.into_iter().map(|i| environments[i].name.clone()).collect() })
        .collect();
    Report {
        schema_version: SCHEMA_VERSION,
        kgen_version: env!("CARGO_PKG_VERSION").to_string(),
        base,
        summary,
        environments,
        unchanged,
        groups,
    }
}

impl Report {
    /// Whether any environment changes.
    pub fn has_changes(&self) -> bool {
        !self.environments.is_empty()
    }

    /// Whether any risk flag is raised.
    pub fn has_risks(&self) -> bool {
        self.summary.risks > 0
    }
}

/// A value for one line of text: scalars as YAML would show them (strings quoted only when
/// needed), collections as compact JSON; cut to about `max` characters.
pub(crate) fn show_value(v: &Value, max: usize) -> String {
    let s = match v {
        Value::String(s) if s.contains('\n') => {
            let first = s.lines().next().unwrap_or_default();
            let n = s.lines().count();
            return format!("{} … ({n} lines)", cut(&Value::String(format!("{first}…")).to_string(), max));
        }
        Value::String(s) if needs_quotes(s) => Value::String(s.clone()).to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    cut(&s, max)
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Whether a string shown bare would read as something else (a number, boolean, null, an
/// empty value) or be ambiguous next to ` → `.
fn needs_quotes(s: &str) -> bool {
    s.is_empty()
        || s.trim() != s
        || s.contains(" → ")
        || s.contains('`')
        || matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "~" | "yes" | "no" | "on" | "off" | "y" | "n"
        )
        || s.parse::<f64>().is_ok()
        || s.starts_with(['{', '[', '"', '\'', '&', '*', '!', '|', '>', '%', '@', '#'])
}

#[cfg(test)]
mod tests;
