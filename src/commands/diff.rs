//! `kgen diff [ENV…] [--git-ref REF] [--format text|markdown|json] [--max-bytes N]
//! [--fail-on risk]`: render in memory, read the previous render (from disk, or from a git ref
//! with the `git` command), compare with [`crate::diff`], print. Nothing is written.

use std::collections::BTreeMap;
use std::path::Path;

use super::Context;
use super::render::{check_and_render, fast_depth, history_failed, orphans, out_dir, stray_warning};
use crate::cli::{DiffArgs, DiffFormat, FailOn};
use crate::compare::Previous;
use crate::diff::{self, Base, BaseSource, EnvDiff};
use crate::error::Error;
use crate::exit_codes;
use crate::par_map;
use crate::previous::{self, GitTree};
use crate::render::Rendered;
use crate::write;

/// Runs `kgen diff`.
pub fn run(ctx: &Context<'_>, args: &DiffArgs) -> Result<u8, Error> {
    if args.schema {
        let _ = ctx.printer.data(&diff::json::schema_text());
        return Ok(exit_codes::SUCCESS);
    }
    let Some((mut checked, mut renders)) = check_and_render(ctx, &args.selection, fast_depth(), "nothing compared")?
    else {
        return Ok(exit_codes::ERROR);
    };
    let root = &ctx.global.dir;
    let out = out_dir(root, args.out.as_ref());
    let display = display_path(root, &out);
    let names: Vec<String> = renders.iter().map(|r| r.env.clone()).collect();
    let all = args.selection.is_everything();

    // What `render --check` also reports about the folder on disk: obstacles and files kgen did
    // not generate where the engine applies from (a ref has neither: only regular files count).
    let mut findings = Vec::new();
    let (base, previous) = match &args.git_ref {
        None => {
            previous::check_out_folder(root, &out)?;
            if all {
                for name in orphans(&out, &names) {
                    renders.push(Rendered { env: name, files: BTreeMap::new() });
                }
            }
            // Shared with other readers, held to the end of the run: no render swaps a tree in
            // while it is read (see `write::lock_output`).
            let lock = write::lock_output(
                &out,
                &display,
                write::LockMode::Read,
                std::time::Duration::from_secs(args.wait_lock),
                || {
                    ctx.printer
                        .info(&format!("waiting for a kgen render writing `{display}` to finish (`--wait-lock`)"))
                },
            )?;
            if let write::OutputLock::Unsupported(e) = &lock {
                ctx.printer.warning(&super::render::unlocked_message(&display, e));
            }
            // The same look at the disk as `render` and `render --check` take.
            let surveys: Vec<write::Survey> =
                par_map(&renders, |r| write::survey(&out, r)).into_iter().collect::<Result<_, _>>()?;
            let mut previous = Vec::with_capacity(surveys.len());
            for (r, s) in renders.iter().zip(surveys) {
                findings.extend(s.obstacles.iter().map(|o| o.describe(&display)));
                findings.extend(s.stray.iter().map(|f| stray_warning(&display, &r.env, f)));
                previous.push(s.previous);
            }
            (Base { source: BaseSource::Disk, git_ref: None, path: display.clone() }, previous)
        }
        Some(reference) => {
            let tree = GitTree::open(root, &out, reference)?;
            if all {
                for name in tree.orphans(&names) {
                    renders.push(Rendered { env: name, files: BTreeMap::new() });
                }
            }
            let previous = tree.read_previous(&renders)?;
            (Base { source: BaseSource::Git, git_ref: Some(reference.clone()), path: display.clone() }, previous)
        }
    };
    if history_failed(ctx, &mut checked, &renders, &previous, "nothing compared") {
        return Ok(exit_codes::ERROR);
    }
    let jobs: Vec<(&Rendered, &Previous)> = renders.iter().zip(&previous).collect();
    let mut envs: Vec<EnvDiff> = par_map(&jobs, |(r, p)| diff::diff_env(r, p));
    if args.hydrate
        && !super::hydrate::attach_to_diff(ctx, &checked.resolved, &renders, &previous, &mut envs, args.offline)?
    {
        return Ok(exit_codes::ERROR);
    }
    let report = diff::report(base, envs);

    let text = match args.format {
        DiffFormat::Text => diff::text::render(&report, ctx.printer.color_out),
        DiffFormat::Json => diff::json::render(&report),
        DiffFormat::Markdown => {
            let max = usize::try_from(args.max_bytes).unwrap_or(usize::MAX);
            let parts = diff::markdown::render(&report, max);
            if parts.len() > 1 {
                ctx.printer.info(&format!(
                    "the Markdown is split into {} parts, each starting with `{}`",
                    parts.len(),
                    diff::markdown::MARKER
                ));
            }
            let mut s = parts.join("\n\n");
            s.push('\n');
            s
        }
    };
    let code = exit_code(&report, args.fail_on, &findings, ctx.global.strict);
    // `-q`: silent when there is nothing to show (the exit code says it); a report that has
    // something to say is data and is printed.
    let silent = ctx.printer.quiet && args.format == DiffFormat::Text && !report.has_changes();
    if !silent && ctx.printer.data(&text).is_err() {
        // The reader went away (`kgen diff | head`): nothing left to say.
        return Ok(code);
    }
    if args.format != DiffFormat::Text {
        ctx.printer.info(&diff::text::totals(&report));
    }
    // Last, as `render` does, so that they are what the user sees; not part of the report,
    // which says what a render would change (it keeps these files and refuses obstacles).
    for line in &findings {
        if ctx.global.strict { ctx.printer.error(line) } else { ctx.printer.warning(line) }
    }
    Ok(code)
}

/// 3 for risks under `--fail-on risk`, 1 for changes, and — as `render --check` — 1 for what
/// kgen found in the folder on disk (`findings`: obstacles, files it did not generate where the
/// engine applies from; 2 under `--strict`, as `render --strict`); else 0.
fn exit_code(report: &diff::Report, fail_on: Option<FailOn>, findings: &[String], strict: bool) -> u8 {
    if strict && !findings.is_empty() {
        exit_codes::ERROR
    } else if fail_on == Some(FailOn::Risk) && report.has_risks() {
        exit_codes::RISKY
    } else if report.has_changes() || !findings.is_empty() {
        exit_codes::CHANGES
    } else {
        exit_codes::SUCCESS
    }
}

fn display_path(root: &Path, out: &Path) -> String {
    let rel = out.strip_prefix(root).unwrap_or(out);
    let s = rel.to_string_lossy().replace('\\', "/");
    s.trim_start_matches("./").trim_end_matches('/').to_string()
}
