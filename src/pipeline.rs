//! The pipeline: the stages of one environment, in order, each run once per environment per
//! command — load and merge (`config::load`, `config::merge`) → resolve (`config::resolve`) →
//! plan (`render::plan`) → environment rules → render → render rules → history rules (against
//! the previous render) — after which the commands compare, write and print.
//!
//! This is the only place that applies an environment's `ignore:` list, and the only caller of
//! the rule stages: `resolve` judges nothing, the rules never resolve or plan, so no stage runs
//! twice to learn what another already knew. `kgen explain` probes changed copies of an
//! environment through [`check_merged`] and [`render`], the same stages.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::config::load::Workspace;
use crate::config::merge::Provenance;
use crate::config::resolve::{self, Resolved};
use crate::diag::{Diagnostic, Severity};
use crate::error::Error;
use crate::render::plan::{self, Plan};
use crate::render::{self as rendering, Rendered};
use crate::rule_code::{RuleCode, Stage};
use crate::rules::{self, diag, rule};

/// An environment resolved, planned and judged by the environment rules.
#[derive(Debug, Clone)]
pub struct Judged {
    /// The resolved environment.
    pub resolved: Resolved,
    /// What it installs, computed once.
    pub plan: Plan,
    /// Codes the environment rules raised, ignored or not: with the render rules' codes they
    /// tell which `ignore:` entries suppress nothing (KG117).
    env_codes: BTreeSet<RuleCode>,
}

impl std::ops::Deref for Judged {
    type Target = Resolved;
    fn deref(&self) -> &Resolved {
        &self.resolved
    }
}

/// One environment checked, with every diagnostic so far.
#[derive(Debug)]
pub struct EnvCheck {
    /// Resolved and judged, when nothing is an error.
    pub judged: Option<Judged>,
    /// Input problems of the merged environment and the environment rules' findings, with
    /// `ignore:` applied (single-file problems are in the workspace).
    pub diagnostics: Vec<Diagnostic>,
}

/// Load, merge, resolve, plan and the environment rules for one environment of a workspace.
pub fn check(ws: &Workspace, name: &str) -> EnvCheck {
    let c = resolve::check(ws, name);
    match c.resolved {
        Some(r) => {
            let (judged, mut found) = judge(r);
            let mut diagnostics = c.diagnostics;
            diagnostics.append(&mut found);
            let failed = diagnostics.iter().any(|d| d.severity == Severity::Error);
            EnvCheck { judged: (!failed).then_some(judged), diagnostics }
        }
        None => EnvCheck { judged: None, diagnostics: c.diagnostics },
    }
}

/// [`check`] for a document that is already merged (`kgen explain`'s probes): the judged
/// environment even when a rule finds an error in it, with the findings; `Err` when it cannot
/// be resolved.
pub fn check_merged(
    name: &str,
    merged: Value,
    provenance: Provenance,
    files: Vec<String>,
) -> Result<(Judged, Vec<Diagnostic>), Vec<Diagnostic>> {
    let r = resolve::resolve_merged(name, merged, provenance, files)?;
    Ok(judge(r))
}

fn judge(mut r: Resolved) -> (Judged, Vec<Diagnostic>) {
    crate::render::gitops::derive_defaults(&mut r);
    count("plan", &r.name);
    let plan = plan::plan(&r);
    count("environment rules", &r.name);
    let raised = rules::env::check(&r, &plan);
    let env_codes = raised.iter().map(|d| d.code).collect();
    let diags = apply_ignores(&r, raised);
    (Judged { resolved: r, plan, env_codes }, diags)
}

/// Renders a judged environment (pure: files in memory).
pub fn render(j: &Judged, sources: &BTreeMap<String, String>) -> Result<Rendered, Error> {
    count("render", &j.name);
    rendering::render_planned(&j.resolved, &j.plan, sources)
}

/// The render rules on what was rendered, with `ignore:` applied; at full depth also the
/// `ignore:` entries that suppressed nothing at either stage (KG117).
pub fn judge_render(j: &Judged, rendered: &Rendered, depth: rules::render::Depth) -> Vec<Diagnostic> {
    count("render rules", &j.name);
    let raised = rules::render::check(&j.resolved, rendered, depth);
    let mut out = Vec::new();
    // Only a full check knows that an ignored rule fired nowhere.
    if depth == rules::render::Depth::Full {
        let fired: BTreeSet<RuleCode> = raised.iter().map(|d| d.code).chain(j.env_codes.iter().copied()).collect();
        out.extend(stale_ignores(&j.resolved, &fired));
    }
    out.extend(apply_ignores(&j.resolved, raised));
    out
}

/// The history rules against the previous render's `kgen.lock.json`, with `ignore:` applied.
pub fn judge_history(j: &Judged, previous_lock: &crate::lock::Lock) -> Vec<Diagnostic> {
    count("history rules", &j.name);
    apply_ignores(&j.resolved, rules::history::check(&j.resolved, &j.plan, previous_lock))
}

/// Removes the diagnostics an environment's `ignore:` names and returns them as notes (info,
/// located at the `ignore` entry, with the reason, marked [`Diagnostic::ignore_note`]), so
/// `kgen validate` still shows them.
fn apply_ignores(r: &Resolved, diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut out = Vec::with_capacity(diags.len());
    for d in diags {
        let Some(i) = r.env.ignore.iter().position(|x| x.rule == d.code.as_str()) else {
            out.push(d);
            continue;
        };
        let reason = &r.env.ignore[i].reason;
        let title = rule(d.code.as_str()).map_or("", |k| k.title.as_str());
        let note = Diagnostic::info(d.code, format!("ignored in `{}` ({title}): {reason}", r.name))
            .label("ignored")
            .hint(format!("it would report: {}", d.message))
            .ignore_note();
        out.push(r.diag_at(note, &format!("/ignore/{i}/rule")));
    }
    out
}

/// `ignore:` entries that suppressed nothing (KG117): `fired` holds the codes the environment
/// and render stages raised for this environment.
fn stale_ignores(r: &Resolved, fired: &BTreeSet<RuleCode>) -> Vec<Diagnostic> {
    r.env
        .ignore
        .iter()
        .enumerate()
        .filter(|(_, x)| {
            // History rules only run when a previous render exists, so silence proves nothing.
            rule(&x.rule).is_some_and(|k| !matches!(k.stage, Stage::Input | Stage::History))
                && x.rule != RuleCode::KG117.as_str()
                && !RuleCode::parse(&x.rule).is_some_and(|c| fired.contains(&c))
        })
        .map(|(i, x)| {
            r.diag_at(
                diag(
                    RuleCode::KG117,
                    format!("`{}` does not fire for `{}`, so ignoring it hides nothing", x.rule, r.name),
                ),
                &format!("/ignore/{i}/rule"),
            )
        })
        .collect()
}

/// Debug builds count each stage per environment, so a test can hold every command to running
/// each stage once per environment (`KGEN_STAGE_COUNTS=1` makes the binary print them).
#[cfg(debug_assertions)]
pub(crate) fn count(stage: &'static str, env: &str) {
    let mut c = COUNTS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    *c.entry((stage, env.to_string())).or_default() += 1;
}

#[cfg(not(debug_assertions))]
pub(crate) fn count(_stage: &'static str, _env: &str) {}

#[cfg(debug_assertions)]
static COUNTS: std::sync::Mutex<BTreeMap<(&'static str, String), usize>> = std::sync::Mutex::new(BTreeMap::new());

/// How often each stage ran for each environment in this process: `stage → env → runs`
/// (debug builds; empty in release builds).
pub fn stage_counts() -> BTreeMap<&'static str, BTreeMap<String, usize>> {
    #[cfg(debug_assertions)]
    {
        let mut out: BTreeMap<&'static str, BTreeMap<String, usize>> = BTreeMap::new();
        for ((stage, env), n) in COUNTS.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter() {
            out.entry(*stage).or_default().insert(env.clone(), *n);
        }
        out
    }
    #[cfg(not(debug_assertions))]
    BTreeMap::new()
}
