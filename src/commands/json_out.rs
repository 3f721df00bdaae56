//! `--format json` of `list`, `versions`, `validate` and `rules` (`show --format json` prints the
//! effective environment, described by the environment schema). Each report carries
//! `schemaVersion`, raised on any incompatible change; its JSON Schema is generated from these
//! types, committed under `schemas/` and printed by `kgen schema --output NAME`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use crate::diag::{Diagnostic, Severity};

/// Version of every report format below.
pub const SCHEMA_VERSION: u32 = 1;

/// `kgen list --format json`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(title = "kgen list report")]
pub struct ListReport {
    /// Version of this format.
    pub schema_version: u32,
    /// Every environment, in natural order.
    pub environments: Vec<ListEntry>,
}

/// One environment of `kgen list`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListEntry {
    /// Environment name.
    pub name: String,
    /// False when it has errors (`kgen validate` shows them); the other fields are then absent.
    pub valid: bool,
    /// KServe release.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kserve: Option<String>,
    /// Deployment mode, as the release names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Mesh provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mesh: Option<String>,
    /// `kubernetes` or `openshift`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Kubernetes minor version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<String>,
    /// GitOps engine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// The layers it extends, nearest first.
    pub extends: Vec<String>,
}

/// `kgen versions --format json`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(title = "kgen versions report")]
pub struct VersionsReport {
    /// Version of this format.
    pub schema_version: u32,
    /// KServe releases, newest first.
    pub releases: Vec<ReleaseEntry>,
    /// Helm releases by stable name.
    pub charts: BTreeMap<String, ChartEntry>,
}

/// One KServe release of the catalog.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseEntry {
    /// `v0.20.0`.
    pub version: String,
    /// Release date (YYYY-MM-DD).
    pub released: String,
    /// The KServe chart (and whether the runtimes chart exists).
    pub chart: String,
    /// Whether the release ships `kserve-runtime-configs`.
    pub runtime_configs_chart: bool,
    /// Chart names of the Helm releases this KServe release publishes under another name than
    /// the catalog's default (`kserve-llmisvc-crd` is `llmisvc-crd` in v0.16.0), by release.
    pub chart_names: BTreeMap<String, String>,
    /// Whether the release ships the LLMInferenceService charts (`llm`).
    pub llmisvc_charts: bool,
    /// Whether the release ships the LocalModel charts (`localModel`).
    pub local_model_charts: bool,
    /// Names of the two deployment modes on this release.
    pub modes: BTreeMap<String, String>,
    /// Minimum Kubernetes with the release's own pins.
    pub kubernetes_minimum: String,
    /// Dependency versions the release was tested with.
    pub pins: BTreeMap<String, String>,
}

/// One Helm release kgen can install.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChartEntry {
    /// Chart name (by default; some releases name their own).
    pub chart: String,
    /// Chart repository.
    pub repository: String,
    /// Its short name: the key of `mirrors.charts`, the Flux HelmRepository's name.
    pub repository_name: String,
    /// Namespace it installs into.
    pub namespace: String,
    /// The pin its version comes from.
    pub version_from: String,
}

/// `kgen validate --format json`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(title = "kgen validate report")]
pub struct ValidateReport {
    /// Version of this format.
    pub schema_version: u32,
    /// True when nothing is an error (warnings are errors under `--strict`).
    pub valid: bool,
    /// Counts by severity.
    pub summary: Counts,
    /// Every problem, sorted by file and position.
    pub diagnostics: Vec<DiagnosticEntry>,
}

/// Problems by severity.
#[derive(Debug, Default, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Errors.
    pub errors: usize,
    /// Warnings.
    pub warnings: usize,
    /// Notes (ignored rules, with their reasons).
    pub notes: usize,
}

/// One problem.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosticEntry {
    /// Rule code (`KG105`): `kgen rules CODE` explains it.
    pub code: String,
    /// `error`, `warning` or `info`.
    pub severity: String,
    /// What is wrong.
    pub message: String,
    /// The file, relative to the project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// The key path concerned (`kserve.deploymentMode`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_path: Option<String>,
    /// How to fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Where the constraint is documented.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub see: Option<String>,
}

impl From<&Diagnostic> for DiagnosticEntry {
    fn from(d: &Diagnostic) -> Self {
        DiagnosticEntry {
            code: d.code.as_str().to_string(),
            severity: d.severity.as_str().to_string(),
            message: d.message.clone(),
            file: d.file.clone(),
            line: d.location.map(|l| l.0),
            column: d.location.map(|l| l.1),
            key_path: d.key_path.clone(),
            hint: d.hint.clone(),
            see: d.see.clone(),
        }
    }
}

/// The validate report of a list of diagnostics.
pub fn validate_report(diags: &[Diagnostic]) -> ValidateReport {
    let mut summary = Counts::default();
    for d in diags {
        match d.severity {
            Severity::Error => summary.errors += 1,
            Severity::Warning => summary.warnings += 1,
            Severity::Info => summary.notes += 1,
        }
    }
    ValidateReport {
        schema_version: SCHEMA_VERSION,
        valid: summary.errors == 0,
        summary,
        diagnostics: diags.iter().map(DiagnosticEntry::from).collect(),
    }
}

/// GitHub Actions workflow commands, one per diagnostic: annotations on the pull request.
pub fn github_annotations(diags: &[Diagnostic]) -> String {
    // Workflow-command escaping: `%`, CR and LF in the message; also `:` and `,` in properties.
    let data = |s: &str| s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A");
    let prop = |s: &str| data(s).replace(':', "%3A").replace(',', "%2C");
    let mut out = String::new();
    for d in diags {
        let level = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        let mut props = vec![format!("title={}", prop(&format!("{} {}", d.code.as_str(), d.severity.as_str())))];
        if let Some(f) = &d.file {
            props.insert(0, format!("file={}", prop(f)));
        }
        if let Some((l, c)) = d.location {
            props.push(format!("line={l}"));
            props.push(format!("col={c}"));
        }
        let mut message = match &d.key_path {
            Some(k) => format!("`{k}`: {}", d.message),
            None => d.message.clone(),
        };
        if let Some(h) = &d.hint {
            message.push_str(&format!("\nhelp: {h}"));
        }
        out.push_str(&format!("::{level} {}::{}\n", props.join(","), data(&message)));
    }
    out
}

/// `kgen rules --format json`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(title = "kgen rules report")]
pub struct RulesReport {
    /// Version of this format.
    pub schema_version: u32,
    /// Every rule, by code.
    pub rules: Vec<RuleEntry>,
    /// Codes withdrawn from the catalog.
    pub retired: Vec<RetiredEntry>,
}

/// One rule.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuleEntry {
    /// `KG401`.
    pub code: String,
    /// Default severity.
    pub severity: String,
    /// When it runs: `input`, `environment`, `render` or `history`.
    pub stage: String,
    /// One line.
    pub title: String,
    /// Why it exists.
    pub rationale: String,
    /// How to fix what it finds.
    pub fix: String,
    /// Where the constraint is documented (entries separated by `; `).
    pub source: String,
    /// A minimal example that raises it.
    pub example: String,
}

/// One retired code.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetiredEntry {
    /// The code, never reused.
    pub code: String,
    /// Its title when it was retired.
    pub title: String,
    /// When.
    pub retired: String,
    /// Why.
    pub why: String,
    /// The codes that replace it.
    pub replaced_by: Vec<String>,
}

/// Names of the reports with a schema, as `kgen schema --output NAME` takes them.
pub const OUTPUTS: [&str; 4] = ["list", "versions", "validate", "rules"];

/// The JSON Schema of one report (draft-07, like the others), pretty, with a trailing newline.
pub fn schema_text(output: &str) -> Option<String> {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let schema = match output {
        "list" => generator.into_root_schema_for::<ListReport>(),
        "versions" => generator.into_root_schema_for::<VersionsReport>(),
        "validate" => generator.into_root_schema_for::<ValidateReport>(),
        "rules" => generator.into_root_schema_for::<RulesReport>(),
        _ => return None,
    };
    let mut value = serde_json::to_value(schema).expect("schema serialises");
    if let Some(p) = value.pointer_mut("/properties/schemaVersion").and_then(Value::as_object_mut) {
        p.insert("const".into(), SCHEMA_VERSION.into());
    }
    if let Value::Object(m) = &mut value {
        m.insert("$id".into(), format!("https://kgen.dev/schemas/{output}.schema.json").into());
    }
    let mut s = serde_json::to_string_pretty(&value).expect("schema serialises");
    s.push('\n');
    Some(s)
}

/// A report as pretty JSON with a trailing newline.
pub fn to_text<T: Serialize>(report: &T) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("reports serialise");
    s.push('\n');
    s
}
