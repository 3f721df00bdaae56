//! One module per command: orchestration only. These are the only places that touch the
//! terminal or the disk.

pub mod catalog_cmds;
pub mod diff;
pub mod hydrate;
pub mod init;
pub mod inspect;
pub mod json_out;
pub mod render;
pub mod upgrade;
pub mod validate;

use std::collections::BTreeSet;

use crate::cli::{EnvSelection, GlobalArgs};
use crate::config::load::Workspace;
use crate::config::resolve;
use crate::diag::{self, Diagnostic, Severity};
use crate::error::Error;
use crate::pipeline::{self, Judged};
use crate::printer::Printer;

/// What every command gets.
pub struct Context<'a> {
    /// Global flags.
    pub global: &'a GlobalArgs,
    /// The terminal.
    pub printer: Printer,
    /// Whether notes of ignored rules are reported: by `kgen validate`, by the others with `-v`.
    pub show_ignore_notes: bool,
}

impl Context<'_> {
    /// Drops the notes of ignored rules this command does not report, so they are neither
    /// printed nor counted in its summary.
    fn keep_reported(&self, diags: &mut Vec<Diagnostic>) {
        if !self.show_ignore_notes {
            diags.retain(|d| !d.ignore_note);
        }
    }
}

/// Environments loaded, merged and checked, plus every diagnostic that concerns them.
pub struct Checked {
    /// The files read.
    pub workspace: Workspace,
    /// Environments without errors, in name order.
    pub resolved: Vec<Judged>,
    /// Every problem found (single-file and merged), sorted.
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    /// Whether anything is an error (warnings count under `--strict`).
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.severity == Severity::Error)
    }
}

/// Loads the workspace and checks the selected environments (all when none is named).
pub fn check(ctx: &Context<'_>, sel: &EnvSelection) -> Result<Checked, Error> {
    let started = std::time::Instant::now();
    let ws = Workspace::load(&ctx.global.dir)?;
    ctx.printer.debug(&format!(
        "read {} environment file(s) from {}/environments in {} ms",
        ws.files.len() + ws.broken.len(),
        ctx.global.dir.display(),
        started.elapsed().as_millis()
    ));
    let (names, mut diagnostics) = crate::config::select::names(&ws, &sel.envs);
    let mut resolved = Vec::new();
    // Single-file problems: all of them when acting on everything, else those of files involved.
    let involved: Option<BTreeSet<String>> =
        (!sel.is_everything()).then(|| names.iter().flat_map(|n| chain_paths(&ws, n)).collect());
    for d in &ws.diagnostics {
        let keep = match (&involved, &d.file) {
            (None, _) => true,
            (Some(set), Some(f)) => set.contains(f),
            (Some(_), None) => true,
        };
        if keep {
            diagnostics.push(d.clone());
        }
    }
    if sel.is_everything() {
        // Layers no environment reaches are still checked on their own (cycles, missing
        // parents); the others are checked through the environments.
        let reached: BTreeSet<String> = names.iter().flat_map(|n| chain_paths(&ws, n)).collect();
        for (layer, file) in ws.files.iter().filter(|(n, _)| n.starts_with('_')) {
            if !reached.contains(&file.path) {
                diagnostics.extend(resolve::check_layer(&ws, layer));
            }
        }
    }
    for name in &names {
        let one = std::time::Instant::now();
        let c = pipeline::check(&ws, name);
        ctx.printer.trace(&format!(
            "{name}: loaded, merged, validated and judged in {} µs ({} diagnostic(s))",
            one.elapsed().as_micros(),
            c.diagnostics.len()
        ));
        // An environment a selector leaves out says nothing; one that cannot be resolved is
        // kept with its errors, since no selector can be evaluated on it.
        if let Some(j) = &c.judged
            && !sel.selectors.iter().all(|s| s.matches(j))
        {
            continue;
        }
        diagnostics.extend(c.diagnostics);
        resolved.extend(c.judged);
    }
    ctx.keep_reported(&mut diagnostics);
    apply_strict(ctx, &mut diagnostics);
    diag::normalize(&mut diagnostics);
    // An environment that is fine by itself but whose warnings are errors under --strict.
    if ctx.global.strict {
        let failing: BTreeSet<&str> =
            diagnostics.iter().filter(|d| d.severity == Severity::Error).filter_map(|d| d.file.as_deref()).collect();
        resolved.retain(|r| !r.files.iter().any(|f| failing.contains(f.as_str())));
    }
    for r in &resolved {
        ctx.printer.debug(&format!(
            "{}: KServe {} ({} mode), from {}",
            r.name,
            r.release.version,
            r.mode_name(),
            r.files.join(" + ")
        ));
    }
    ctx.printer.debug(&format!("checked {} environment(s) in {} ms", names.len(), started.elapsed().as_millis()));
    Ok(Checked { workspace: ws, resolved, diagnostics })
}

/// `--strict`: warnings become errors (notes stay notes).
fn apply_strict(ctx: &Context<'_>, diags: &mut [Diagnostic]) {
    if ctx.global.strict {
        for d in diags.iter_mut().filter(|d| d.severity == Severity::Warning) {
            d.severity = Severity::Error;
        }
    }
}

/// Adds diagnostics found after checking (render and history rules) to `checked`: escalated
/// under `--strict`, printed (with frames from the rendered files they point into) and the
/// environments they make fail dropped from `resolved`. Returns the names of those.
pub fn add_late_diagnostics(
    ctx: &Context<'_>,
    checked: &mut Checked,
    renders: &[crate::render::Rendered],
    found: Vec<(String, Vec<Diagnostic>)>,
) -> BTreeSet<String> {
    let mut failed = BTreeSet::new();
    let mut all = Vec::new();
    for (env, mut diags) in found {
        ctx.keep_reported(&mut diags);
        apply_strict(ctx, &mut diags);
        if diags.iter().any(|d| d.severity == Severity::Error) {
            failed.insert(env);
        }
        all.extend(diags);
    }
    diag::normalize(&mut all);
    for d in &all {
        let source = d.file.as_deref().and_then(|f| {
            checked.workspace.sources.get(f).map(String::as_str).or_else(|| {
                // `rendered/<env>/<path>`: the file as just rendered.
                let (env, path) = f.strip_prefix("rendered/")?.split_once('/')?;
                renders.iter().find(|r| r.env == env)?.files.get(path).map(String::as_str)
            })
        });
        ctx.printer.diagnostic(d, source);
    }
    checked.diagnostics.extend(all);
    diag::normalize(&mut checked.diagnostics);
    checked.resolved.retain(|r| !failed.contains(&r.name));
    failed
}

/// Display paths of the files an environment is built from, as far as they can be followed.
fn chain_paths(ws: &Workspace, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = name.to_string();
    for _ in 0..64 {
        if let Some(path) = ws.broken.get(&current) {
            out.push(path.clone());
            break;
        }
        let Some(f) = ws.files.get(&current) else {
            break;
        };
        if out.contains(&f.path) {
            break;
        }
        out.push(f.path.clone());
        match f.value.get("extends").and_then(serde_json::Value::as_str) {
            Some(p) => current = p.to_string(),
            None => break,
        }
    }
    out
}

/// Prints diagnostics with their source frames.
pub fn report(ctx: &Context<'_>, checked: &Checked) {
    for d in &checked.diagnostics {
        let source = d.file.as_deref().and_then(|f| checked.workspace.sources.get(f));
        ctx.printer.diagnostic(d, source.map(String::as_str));
    }
}

/// A one-line count of problems, for the end of a run.
pub fn summary(diags: &[Diagnostic]) -> String {
    let errors = diags.iter().filter(|d| d.severity == Severity::Error).count();
    let warnings = diags.iter().filter(|d| d.severity == Severity::Warning).count();
    let plural = |n: usize, w: &str| {
        if n == 1 { format!("{n} {w}") } else { format!("{n} {w}s") }
    };
    let notes = diags.iter().filter(|d| d.severity == Severity::Info).count();
    let mut s = format!("{}, {}", plural(errors, "error"), plural(warnings, "warning"));
    if notes > 0 {
        s.push_str(&format!(", {}", plural(notes, "note")));
    }
    s
}

/// Left-aligned columns separated by two spaces, without trailing blanks.
pub fn table(rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
            format!("{}\n", cells.join("  ").trim_end())
        })
        .collect()
}
