//! Validation, pass 2: semantic rules, and the rule catalog behind `kgen rules`. Codes follow
//! SPEC §8 (`KG1xx` files and layering, `KG2xx` versions, `KG3xx` mesh, `KG4xx` Knative and
//! networking, `KG5xx` KServe, `KG6xx` GitOps); a code is never reused.
//!
//! Rules run in stages, each on what exists by then: [`env`] on the merged, typed environment
//! (they gate rendering), [`render`] on the files a render produced (what the cluster would
//! really get, including the user's Helm values overrides), and [`history`] against the previous
//! render's index. An environment's `ignore:` list suppresses a rule by code with a reason; the
//! [`crate::pipeline`] runs the stages and applies it, once.
//!
//! Adding a rule: its entry in `catalog/rules.yaml` (code, severity, stage, …) makes
//! `build.rs` generate its [`RuleCode`], the only way a check can name it; then its check (an
//! environment rule: a row of `env::CHECKS`; a render rule: a row of `render::CHECKS`, with its
//! depth), and a failing and a passing case in `tests/fixtures/rules/`. Tests fail for a catalog
//! rule that no check raises.

mod compat;
pub mod env;
pub mod history;
pub mod render;

use crate::diag::{Diagnostic, Severity};

pub use crate::rule_code::{RuleCode, Stage};

/// The rule catalog source, embedded at build time.
pub const RULES_YAML: &str = include_str!("../../catalog/rules.yaml");

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
    /// `docs/<file>.md#anchor`s (or `README.md#anchor`) (each may end in a parenthesised note).
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

/// The catalog as the Markdown table of docs/rules.md (code, severity, stage, what, why, fix),
/// between its `rules:start` / `rules:end` markers; a test keeps them equal.
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

/// The retired codes as the second generated table of docs/rules.md (code, retired, title, why,
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
pub(crate) fn diag(code: RuleCode, message: impl Into<String>) -> Diagnostic {
    let r = rule(code.as_str()).expect("every RuleCode is in the catalog");
    let d = match r.severity {
        Severity::Error => Diagnostic::error(code, message),
        Severity::Warning => Diagnostic::warning(code, message),
        Severity::Info => Diagnostic::info(code, message),
    };
    d.hint(r.fix.as_str()).see(r.source.as_str())
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

    /// `build.rs` reads the catalog with a line scanner; it must agree with the real parse.
    #[test]
    fn rule_codes_are_the_catalogs_active_rules() {
        let generated: Vec<(&str, Stage)> = RuleCode::ALL.iter().map(|c| (c.as_str(), c.stage())).collect();
        let parsed: Vec<(&str, Stage)> = rules().iter().map(|r| (r.code.as_str(), r.stage)).collect();
        assert_eq!(generated, parsed);
        assert!(retired().iter().all(|r| RuleCode::parse(&r.code).is_none()), "nothing raises a retired code");
        assert_eq!(RuleCode::parse("KG103"), Some(RuleCode::KG103));
        assert_eq!(serde_json::to_value(RuleCode::KG103).unwrap(), "KG103");
    }

    /// A rule in the catalog that no source raises has no check. (Render rules are also held to
    /// their table by `render::tests`; tests/rules.rs makes each one fire.)
    #[test]
    fn every_rule_is_raised_somewhere() {
        fn sources(dir: &std::path::Path, out: &mut String) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    sources(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("rules/code.rs") {
                    out.push_str(&std::fs::read_to_string(&p).unwrap());
                }
            }
        }
        let mut src = String::new();
        sources(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut src);
        let missing: Vec<RuleCode> =
            RuleCode::ALL.into_iter().filter(|c| !src.contains(&format!("RuleCode::{c}"))).collect();
        assert!(missing.is_empty(), "catalog rules no check raises: {missing:?}");
    }
}
