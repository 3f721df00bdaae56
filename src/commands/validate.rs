//! `kgen validate [ENV…]`.

use super::Context;
use super::json_out;
use super::render::{check_and_render, history_failed, out_dir};
use super::summary;
use crate::cli::{EnvSelection, ValidateArgs, ValidateFormat};
use crate::compare::Previous;
use crate::error::Error;
use crate::exit_codes;
use crate::render::{KUSTOMIZATION, LOCK_FILE};

/// Checks the selected environments and prints every problem: the environment rules, the rules
/// on their render (made in memory, nothing is written) and, where `rendered/<env>/` holds a
/// previous render, the history rules against it.
pub fn run(ctx: &Context<'_>, args: &ValidateArgs) -> Result<u8, Error> {
    if args.format == ValidateFormat::Text {
        return validate(ctx, &args.selection);
    }
    // Machine formats: the same run with diagnostics collected, then one report on stdout.
    let sink = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut printer = ctx.printer.clone();
    printer.collect = Some(sink.clone());
    let quiet = Context { global: ctx.global, printer, show_ignore_notes: ctx.show_ignore_notes };
    let code = validate(&quiet, &args.selection)?;
    let mut diags = std::mem::take(&mut *sink.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    crate::diag::normalize(&mut diags);
    let text = match args.format {
        ValidateFormat::Json => json_out::to_text(&json_out::validate_report(&diags)),
        _ => json_out::github_annotations(&diags),
    };
    let _ = ctx.printer.data(&text);
    Ok(code)
}

fn validate(ctx: &Context<'_>, sel: &EnvSelection) -> Result<u8, Error> {
    let Some((mut checked, renders)) =
        check_and_render(ctx, sel, crate::rules::render::Depth::Full, "validation failed")?
    else {
        return Ok(exit_codes::ERROR);
    };
    let out = out_dir(&ctx.global.dir, None);
    // Only the previous index matters to the history rules; a missing one is a first render.
    crate::previous::check_out_folder(&ctx.global.dir, &out)?;
    let mut previous: Vec<Previous> = Vec::with_capacity(renders.len());
    for r in &renders {
        let mut p = Previous::default();
        let folder = out.join(&r.env);
        // As `render` reads it: a regular file only, never through a symlink, never waiting on a
        // FIFO, within the limit.
        match crate::previous::lock_from_disk(&folder)? {
            Some(bytes) => {
                p.contents.insert(LOCK_FILE.to_string(), bytes);
            }
            // A render without its index (`kustomization.yaml` is in every render): the history
            // rules say they cannot run instead of passing unchecked.
            None => {
                if let Some(bytes) = crate::previous::file_from_disk(&folder, KUSTOMIZATION)? {
                    p.contents.insert(KUSTOMIZATION.to_string(), bytes);
                }
            }
        }
        previous.push(p);
    }
    if history_failed(ctx, &mut checked, &renders, &previous, "validation failed") {
        return Ok(exit_codes::ERROR);
    }
    let n = checked.resolved.len();
    let envs = if n == 1 { "environment" } else { "environments" };
    ctx.printer.info(&format!("{n} {envs} valid ({})", summary(&checked.diagnostics)));
    Ok(exit_codes::SUCCESS)
}
