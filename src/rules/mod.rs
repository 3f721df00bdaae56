//! Validation, pass 2: semantic rules, and the rule catalog behind `kgen rules`. Codes follow
//! SPEC §8 (`KG1xx` files and layering, `KG2xx` versions, `KG3xx` mesh, `KG4xx` Knative and
//! networking, `KG5xx` KServe, `KG6xx` GitOps); a code is never reused.
//!
//! Rules run in stages, each on what exists by then: [`env`] on the merged, typed environment
//! (they gate rendering), [`render`] on the files a render produced (what the cluster would
//! really get, including the user's Helm values overrides), and [`history`] against the previous
//! render's index. An environment's `ignore:` list suppresses a rule by code with a reason.

pub mod env;
pub mod history;
pub mod render;

use std::collections::BTreeSet;

use crate::config::resolve::Resolved;
use crate::diag::{Diagnostic, Severity};

pub use env::check;

/// The rule catalog source, embedded at build time.
pub const RULES_YAML: &str = include_str!("../../catalog/rules.yaml");

/// When a rule runs, and so what it can see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Reading the input: files, schema, layering, catalog lookups. Cannot be ignored.
    Input,
    /// The merged, typed environment.
    Environment,
    /// The rendered files.
    Render,
    /// The previous render's index (`kgen.lock.json`) against the new one.
    History,
}

impl Stage {
    /// The name `kgen rules` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Input => "input",
            Stage::Environment => "environment",
            Stage::Render => "render",
            Stage::History => "history",
        }
    }
}

/// One rule of the catalog.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Stable code.
    pub code: String,
    /// Severity when it fires.
    pub severity: Severity,
    /// When it runs.
    pub stage: Stage,
    /// The constraint of kgen's register of upstream facts (`docs/kserve-facts.md` §8, which
    /// users do not have) it encodes (`L7`), if any: printed as the id only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fact: Option<String>,
    /// One-line summary.
    pub title: String,
    /// Why it matters.
    pub rationale: String,
    /// How to fix it.
    pub fix: String,
    /// Where the underlying fact comes from, as users can open it: `; `-separated https URLs or
    /// `README.md#anchor`s (each may end in a parenthesised note).
    pub source: String,
    /// An environment fragment (or, for guards of kgen's output, a rendered fragment) that
    /// breaks the rule, and the fix, as YAML with comments. Every rule has one.
    pub example: String,
}

/// A code withdrawn from the catalog. It stays recorded so that it is never given to another
/// rule (SPEC §8: a code is never reused), `kgen rules CODE` can say what happened to it, and an
/// `ignore:` naming it is recognised as obsolete rather than as a typo of some other rule.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Retired {
    /// The code it had.
    pub code: String,
    /// Its title when it was active.
    pub title: String,
    /// When it was retired (date, release).
    pub retired: String,
    /// Why.
    pub why: String,
    /// Active rules that now check what it checked, if any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaced_by: Vec<String>,
}

/// `catalog/rules.yaml`: the rules, then the retired codes.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Catalog {
    rules: Vec<Rule>,
    retired: Vec<Retired>,
}

fn catalog() -> &'static Catalog {
    static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
    CATALOG.get_or_init(|| {
        crate::yaml::from_str(RULES_YAML, crate::yaml::Budget::Render)
            .unwrap_or_else(|e| panic!("embedded catalog/rules.yaml is invalid: {e}"))
    })
}

/// The rule catalog, embedded from `catalog/rules.yaml`.
pub fn rules() -> &'static [Rule] {
    &catalog().rules
}

/// The rule with this code.
pub fn rule(code: &str) -> Option<&'static Rule> {
    rules().iter().find(|r| r.code == code)
}

/// The retired codes, in catalog order.
pub fn retired() -> &'static [Retired] {
    &catalog().retired
}

/// The retired code `code`, if it is one.
pub fn retired_rule(code: &str) -> Option<&'static Retired> {
    retired().iter().find(|r| r.code == code)
}

/// Text as one Markdown table cell: `|` escaped, line breaks as spaces.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The catalog as the Markdown table of the README (code, severity, stage, what, why, fix),
/// between the README's `rules:start` / `rules:end` markers; a test keeps them equal.
pub fn markdown_table() -> String {
    let mut out = String::from("| code | severity | stage | what | why | fix |\n|---|---|---|---|---|---|\n");
    for r in rules() {
        let fact = r.fact.as_deref().map_or(String::new(), |f| format!(" ({f})"));
        out.push_str(&format!(
            "| {} | {} | {} | {}{fact} | {} | {} |\n",
            r.code,
            r.severity.as_str(),
            r.stage.as_str(),
            cell(&r.title),
            cell(&r.rationale),
            cell(&r.fix)
        ));
    }
    out
}

/// The retired codes as the README's second generated table (code, retired, title, why,
/// replaced by), between its `retired:start` / `retired:end` markers.
pub fn retired_markdown_table() -> String {
    let mut out = String::from("| code | retired | was | why | replaced by |\n|---|---|---|---|---|\n");
    for r in retired() {
        let by = if r.replaced_by.is_empty() { "—".to_string() } else { r.replaced_by.join(", ") };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {by} |\n",
            r.code,
            cell(&r.retired),
            cell(&r.title),
            cell(&r.why)
        ));
    }
    out
}

/// A diagnostic of a catalog rule: its severity, its fix as the hint, its source as `see:`.
pub(crate) fn diag(code: &'static str, message: impl Into<String>) -> Diagnostic {
    let r = rule(code).expect("rule codes used in checks are in the catalog");
    let d = match r.severity {
        Severity::Error => Diagnostic::error(code, message),
        Severity::Warning => Diagnostic::warning(code, message),
        Severity::Info => Diagnostic::info(code, message),
    };
    d.hint(r.fix.as_str()).see(r.source.as_str())
}

/// Removes the diagnostics an environment's `ignore:` names and returns them as notes (info,
/// located at the `ignore` entry, with the reason, marked [`Diagnostic::ignore_note`]), so
/// `kgen validate` still shows them.
pub fn apply_ignores(r: &Resolved, diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut out = Vec::with_capacity(diags.len());
    for d in diags {
        let Some(i) = r.env.ignore.iter().position(|x| x.rule == d.code) else {
            out.push(d);
            continue;
        };
        let reason = &r.env.ignore[i].reason;
        let title = rule(d.code).map_or("", |k| k.title.as_str());
        let note = Diagnostic::info(d.code, format!("ignored in `{}` ({title}): {reason}", r.name))
            .label("ignored")
            .hint(format!("it would report: {}", d.message))
            .ignore_note();
        out.push(r.diag_at(note, &format!("/ignore/{i}/rule")));
    }
    out
}

/// `ignore:` entries that suppressed nothing (KG117): after the last stage, `fired` holds the
/// codes every stage raised for this environment.
pub fn stale_ignores(r: &Resolved, fired: &BTreeSet<&str>) -> Vec<Diagnostic> {
    r.env
        .ignore
        .iter()
        .enumerate()
        .filter(|(_, x)| {
            // History rules only run when a previous render exists, so silence proves nothing.
            rule(&x.rule).is_some_and(|k| !matches!(k.stage, Stage::Input | Stage::History))
                && x.rule != "KG117"
                && !fired.contains(x.rule.as_str())
        })
        .map(|(i, x)| {
            r.diag_at(
                diag("KG117", format!("`{}` does not fire for `{}`, so ignoring it hides nothing", x.rule, r.name)),
                &format!("/ignore/{i}/rule"),
            )
        })
        .collect()
}

/// The render-stage rules plus, for `ignore:`, the environment stage's codes: with `ignore:`
/// applied (and, at full depth, stale entries reported), the verdict on an environment once it
/// is rendered. (History rules need the previous render and run separately: [`check_history`].)
pub fn check_rendered(r: &Resolved, rendered: &crate::render::Rendered, depth: render::Depth) -> Vec<Diagnostic> {
    let raised = render::check(r, rendered, depth);
    let mut out = Vec::new();
    // Only a full check knows that an ignored rule fired nowhere.
    if depth == render::Depth::Full {
        // The environment stage already reported (through `resolve::check`); it is re-run only
        // to know which `ignore:` entries matched something.
        let env_codes = env::check(r);
        let fired: BTreeSet<&str> = raised.iter().chain(&env_codes).map(|d| d.code).collect();
        out.extend(stale_ignores(r, &fired));
    }
    out.extend(apply_ignores(r, raised));
    out
}

/// The history rules against the previous render's `kgen.lock.json`, with `ignore:` applied.
pub fn check_history(r: &Resolved, previous_lock: &crate::lock::Lock) -> Vec<Diagnostic> {
    apply_ignores(r, history::check(r, previous_lock))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_sorted_and_in_scheme() {
        let codes: Vec<&str> = rules().iter().map(|r| r.code.as_str()).collect();
        let mut sorted = codes.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(codes, sorted);
        assert!(codes.iter().all(|c| c.len() == 5 && c.starts_with("KG") && c[2..].parse::<u16>().is_ok()));
    }
}
