//! `kgen render [ENV…] [--out DIR] [--check] [--diff]`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Checked, Context, add_late_diagnostics, check, report, summary};
use crate::cli::EnvSelection;
use crate::cli::RenderArgs;
use crate::compare::{self, Changeset, Previous, Status};
use crate::config::load::is_valid_name;
use crate::config::resolve::Resolved;
use crate::diag::Diagnostic;
use crate::diff::{self, EnvDiff};
use crate::error::Error;
use crate::exit_codes;
use crate::par_map;
use crate::render::{self, LOCK_FILE, Rendered};
use crate::rules;
use crate::write::{self, FaultInjection};

/// The output folder: `--out`, else `rendered/`, relative to `-C`.
pub fn out_dir(root: &Path, out: Option<&PathBuf>) -> PathBuf {
    match out {
        Some(p) if p.is_absolute() => p.clone(),
        Some(p) => root.join(p),
        None => root.join("rendered"),
    }
}

/// Environment folders under `out` that hold a kgen render but have no environment file any
/// more. Only considered when acting on every environment.
pub(crate) fn orphans(out: &Path, names: &[String]) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(out) else {
        return vec![];
    };
    let mut found: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| is_valid_name(n) && !names.contains(n) && out.join(n).join(LOCK_FILE).is_file())
        .collect();
    found.sort();
    found
}

/// Checks the selected environments, prints their diagnostics and renders them in memory;
/// `None` (after saying `what_failed`) when any has an error.
pub(crate) fn check_and_render(
    ctx: &Context<'_>,
    selection: &EnvSelection,
    depth: rules::render::Depth,
    what_failed: &str,
) -> Result<Option<(Checked, Vec<Rendered>)>, Error> {
    let checked = check(ctx, selection)?;
    report(ctx, &checked);
    if checked.has_errors() {
        ctx.printer.info(&format!("{what_failed}: {}", summary(&checked.diagnostics)));
        return Ok(None);
    }
    let sources = &checked.workspace.sources;
    let started = std::time::Instant::now();
    let mut renders =
        par_map(&checked.resolved, |r| render::render(r, sources)).into_iter().collect::<Result<Vec<_>, _>>()?;
    let files: usize = renders.iter().map(|r| r.files.len()).sum();
    ctx.printer.debug(&format!(
        "rendered {} environment(s), {files} files, in {} ms",
        renders.len(),
        started.elapsed().as_millis()
    ));
    // Rules on what was rendered: the output as the cluster would get it.
    let started = std::time::Instant::now();
    let jobs: Vec<(&Resolved, &Rendered)> = checked.resolved.iter().zip(&renders).collect();
    let found: Vec<(String, Vec<Diagnostic>)> =
        par_map(&jobs, |(r, out)| (r.name.clone(), rules::check_rendered(r, out, depth)));
    ctx.printer.debug(&format!("checked the renders in {} ms", started.elapsed().as_millis()));
    let mut checked = checked;
    let failed = add_late_diagnostics(ctx, &mut checked, &renders, found);
    renders.retain(|r| !failed.contains(&r.env));
    if !failed.is_empty() {
        ctx.printer.info(&format!("{what_failed}: {}", summary(&checked.diagnostics)));
        return Ok(None);
    }
    Ok(Some((checked, renders)))
}

/// The render-rule depth of `render` and `diff`: every rule in debug builds (and so in tests),
/// what the input can break in release builds (`kgen validate` always checks everything).
pub(crate) fn fast_depth() -> rules::render::Depth {
    if cfg!(debug_assertions) { rules::render::Depth::Full } else { rules::render::Depth::Overrides }
}

/// Runs the history rules of each environment against its previous render's index (from disk
/// or a git ref, as `previous` holds it); prints what they find. `true` when one is an error.
pub(crate) fn history_failed(
    ctx: &Context<'_>,
    checked: &mut Checked,
    renders: &[Rendered],
    previous: &[Previous],
    what_failed: &str,
) -> bool {
    let mut found = Vec::new();
    for (rendered, prev) in renders.iter().zip(previous) {
        let Some(r) = checked.resolved.iter().find(|r| r.name == rendered.env) else { continue };
        let Some(lock) = prev.contents.get(LOCK_FILE).and_then(|b| serde_json::from_slice(b).ok()) else { continue };
        let diags = rules::check_history(r, &lock);
        if !diags.is_empty() {
            found.push((r.name.clone(), diags));
        }
    }
    if found.is_empty() {
        return false;
    }
    let failed = !add_late_diagnostics(ctx, checked, renders, found).is_empty();
    if failed {
        ctx.printer.info(&format!("{what_failed}: {}", summary(&checked.diagnostics)));
    }
    failed
}

/// Renders and writes (or checks) the selected environments.
pub fn run(ctx: &Context<'_>, args: &RenderArgs) -> Result<u8, Error> {
    let Some((checked, mut renders)) = check_and_render(ctx, &args.selection, fast_depth(), "nothing rendered")? else {
        return Ok(exit_codes::ERROR);
    };
    let out = out_dir(&ctx.global.dir, args.out.as_ref());
    if args.selection.envs.is_empty() {
        let names: Vec<String> = checked.resolved.iter().map(|r| r.name.clone()).collect();
        for name in orphans(&out, &names) {
            renders.push(Rendered { env: name, files: BTreeMap::new() });
        }
    }
    let previous: Vec<Result<Previous, Error>> = par_map(&renders, |r| write::read_previous(&out.join(&r.env), r));
    let previous: Vec<Previous> = previous.into_iter().collect::<Result<_, _>>()?;
    let mut checked = checked;
    if history_failed(ctx, &mut checked, &renders, &previous, "nothing rendered") {
        return Ok(exit_codes::ERROR);
    }
    let out_display = display_path(&ctx.global.dir, &out);

    if args.check {
        let mut stale = Vec::new();
        let mut text = String::new();
        for (r, p) in renders.iter().zip(&previous) {
            let c = compare::compare(r, p);
            if c.is_empty() {
                continue;
            }
            stale.push(r.env.clone());
            text.push_str(&diff_text(&out_display, r, p, &c));
        }
        if stale.is_empty() {
            ctx.printer.info(&format!("{} environment render(s) in {out_display}/ are up to date", renders.len()));
            return Ok(exit_codes::SUCCESS);
        }
        let _ = ctx.printer.data(&text);
        ctx.printer.info(&format!(
            "{} of {} environment render(s) are out of date: {} (run `kgen render` and commit the result)",
            stale.len(),
            renders.len(),
            stale.join(", ")
        ));
        return Ok(exit_codes::CHANGES);
    }

    // Environments are independent: write them in parallel, each atomically.
    let jobs: Vec<(&Rendered, &Previous)> = renders.iter().zip(&previous).collect();
    let changes: Vec<Changeset> = par_map(&jobs, |(r, p)| write::write_env(&out, r, p, FaultInjection::default()))
        .into_iter()
        .map(|w| w.map(|w| w.changes))
        .collect::<Result<_, _>>()?;
    // What was just written, compared the way `kgen diff` compares (src/diff): one summary
    // line per environment and its risk flags on stderr; with --diff the full diff on stdout.
    let summaries: Vec<Option<EnvDiff>> = par_map(&jobs, |(r, p)| {
        // A new environment's summary needs no parsing (unless its full diff is wanted).
        let fresh = p.contents.is_empty() && !r.files.is_empty();
        (!fresh || args.diff).then(|| diff::diff_env(r, p))
    });
    let mut full = String::new();
    for ((r, c), d) in renders.iter().zip(&changes).zip(&summaries) {
        match d {
            None => ctx.printer.info(&format!("{}: new environment: {} files written", r.env, c.files.len())),
            Some(d) => {
                ctx.printer.info(&diff::text::env_summary(d));
                if !d.risks.is_empty() {
                    ctx.printer.info(diff::text::env_risks(d, ctx.printer.color_err).trim_end());
                }
                if args.diff && d.has_changes() {
                    if !full.is_empty() {
                        full.push('\n');
                    }
                    full.push_str(&diff::text::env_details(d, ctx.printer.color_out));
                }
            }
        }
    }
    if !full.is_empty() {
        let _ = ctx.printer.data(&full);
    }
    Ok(exit_codes::SUCCESS)
}

fn display_path(root: &Path, out: &Path) -> String {
    let rel = out.strip_prefix(root).unwrap_or(out);
    let s = rel.to_string_lossy().replace('\\', "/");
    s.trim_start_matches("./").to_string()
}

/// The readable diff of one environment's changes.
fn diff_text(out: &str, r: &Rendered, prev: &Previous, c: &Changeset) -> String {
    let mut text = String::new();
    for (path, status) in &c.files {
        let full = format!("{out}/{}/{path}", r.env);
        let old = prev.contents.get(path).map(Vec::as_slice);
        let new = r.files.get(path).map(String::as_str);
        match status {
            Status::Removed => text.push_str(&format!("stale generated file (would be pruned): {full}\n")),
            Status::Added => text.push_str(&format!("missing generated file: {full}\n")),
            Status::Modified => text.push_str(&format!("stale or hand-edited: {full}\n")),
        }
        // The lock changes whenever anything does; its hunk would only repeat the digests.
        if path != LOCK_FILE {
            text.push_str(&compare::unified(&full, old, new));
        }
    }
    text
}
