//! `kgen render [ENV…] [--out DIR] [--check] [--diff]`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Checked, Context, add_late_diagnostics, check, report, summary};
use crate::cli::EnvSelection;
use crate::cli::RenderArgs;
use crate::compare::{self, Changeset, Previous, Status};
use crate::config::load::is_valid_name;
use crate::diag::Diagnostic;
use crate::diff::{self, EnvDiff};
use crate::error::Error;
use crate::exit_codes;
use crate::par_map;
use crate::pipeline::{self, Judged};
use crate::render::{LOCK_FILE, Rendered};
use crate::rules::{self, RuleCode};
use crate::write::{self, FaultInjection, LockMode, Undeletable};

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
    crate::natural::sort(&mut found);
    found
}

/// KG609: a render of every environment removes the folders of environments whose file is
/// gone only when `--allow-removal` names each of them; a name that is not such a folder is an
/// error too (a typo must not pass as consent). Prints why and returns `true` when refused.
fn removal_refused(ctx: &Context<'_>, out: &str, orphans: &[String], allowed: &[String]) -> bool {
    let mut refused = false;
    for env in orphans.iter().filter(|e| !allowed.contains(e)) {
        let d = Diagnostic::error(
            RuleCode::KG609,
            format!(
                "`{out}/{env}/` holds the render of environment `{env}`, whose file is gone (deleted or renamed): removing it \
                 stops the engines managing what it installed, and deleting its Argo CD Applications or Flux \
                 Kustomizations afterwards can delete its models"
            ),
        )
        .in_file(format!("{out}/{env}/{LOCK_FILE}"))
        .hint(format!(
            "restore `environments/{env}.yaml` if that was a mistake; otherwise follow the procedure of docs/gitops.md \
             \"Removing an environment\" and run `kgen render --all --allow-removal {env}`"
        ));
        ctx.printer.diagnostic(&d, None);
        refused = true;
    }
    for env in allowed.iter().filter(|e| !orphans.contains(e)) {
        ctx.printer.error(&format!(
            "--allow-removal {env}: `{out}/{env}/` is not the render of a removed environment (its file exists, or there is no such render)"
        ));
        refused = true;
    }
    if refused {
        ctx.printer
            .info("nothing rendered: removing an environment's render is asked for by name (`--allow-removal ENV`)");
    }
    refused
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
        par_map(&checked.resolved, |j| pipeline::render(j, sources)).into_iter().collect::<Result<Vec<_>, _>>()?;
    let files: usize = renders.iter().map(|r| r.files.len()).sum();
    ctx.printer.debug(&format!(
        "rendered {} environment(s), {files} files, in {} ms",
        renders.len(),
        started.elapsed().as_millis()
    ));
    // Rules on what was rendered: the output as the cluster would get it.
    let started = std::time::Instant::now();
    let jobs: Vec<(&Judged, &Rendered)> = checked.resolved.iter().zip(&renders).collect();
    let found: Vec<(String, Vec<Diagnostic>)> =
        par_map(&jobs, |(j, out)| (j.name.clone(), pipeline::judge_render(j, out, depth)));
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
    let mut unlocked = Vec::new();
    for (rendered, prev) in renders.iter().zip(previous) {
        let Some(r) = checked.resolved.iter().find(|r| r.name == rendered.env) else { continue };
        let Some(lock) = crate::previous::lock_of(prev) else {
            // Files of a render without its index: the history rules would pass unchecked (and
            // `render` could not tell kgen's files from the user's). A first render has neither.
            if !prev.contents.is_empty() {
                unlocked.push(r.name.clone());
            }
            continue;
        };
        let diags = pipeline::judge_history(r, &lock);
        if !diags.is_empty() {
            found.push((r.name.clone(), diags));
        }
    }
    for env in &unlocked {
        ctx.printer.error(&format!(
            "{env}: the previous render holds generated files but no readable `{LOCK_FILE}`: the history rules \
             cannot compare with what the cluster has, and kgen cannot tell the files it generated from yours; \
             restore that `{LOCK_FILE}` (from Git), or move the environment's folder away to render it afresh"
        ));
    }
    if !unlocked.is_empty() {
        ctx.printer.info(&format!(
            "{what_failed}: {} previous render(s) without `{LOCK_FILE}`: {}",
            unlocked.len(),
            unlocked.join(", ")
        ));
        return true;
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
    // Said once for the command, not once per environment.
    crate::previous::check_out_folder(&ctx.global.dir, &out)?;
    let out_display = display_path(&ctx.global.dir, &out);
    // Held to the end of the run, from before the previous render is read: what is read is what
    // is replaced, and `--check` never sees an environment half swapped (see `write::lock_output`).
    let mode = if args.check { LockMode::Read } else { LockMode::Write };
    let lock = write::lock_output(&out, &out_display, mode, Duration::from_secs(args.wait_lock), || {
        ctx.printer.info(&waiting_message(&out_display, args.wait_lock));
    })?;
    if let write::OutputLock::Unsupported(e) = &lock {
        ctx.printer.warning(&unlocked_message(&out_display, e));
    }
    if args.selection.is_everything() {
        let names: Vec<String> = checked.resolved.iter().map(|r| r.name.clone()).collect();
        let found = orphans(&out, &names);
        if !args.check && removal_refused(ctx, &out_display, &found, &args.allow_removal) {
            return Ok(exit_codes::ERROR);
        }
        for name in found {
            renders.push(Rendered { env: name, files: BTreeMap::new() });
        }
    }
    // One look at each environment on disk, before anything is written.
    let surveys: Vec<write::Survey> =
        par_map(&renders, |r| write::survey(&out, r)).into_iter().collect::<Result<_, _>>()?;
    let mut previous = Vec::with_capacity(surveys.len());
    let (mut blocked, mut stray) = (Vec::new(), Vec::new());
    for s in surveys {
        previous.push(s.previous);
        blocked.push(s.obstacles);
        stray.push(s.stray);
    }
    let mut checked = checked;
    if history_failed(ctx, &mut checked, &renders, &previous, "nothing rendered") {
        return Ok(exit_codes::ERROR);
    }
    let jobs: Vec<(&Rendered, &Previous)> = renders.iter().zip(&previous).collect();
    let leftovers: Vec<write::Leftover> = write::leftover_stagings(&out)
        .into_iter()
        .filter(|l| args.selection.is_everything() || renders.iter().any(|r| r.env == l.env))
        .collect();

    // The committed chart output of `gitops.hydrate` (read here, judged without `helm`).
    let hydration: Vec<Vec<String>> = par_map(&renders, |r| hydration_findings(&out, &out_display, r));
    if args.check {
        return Ok(check_report(ctx, &out_display, &jobs, &blocked, &stray, &hydration, &leftovers));
    }

    // Refused before anything is written: a render of several environments writes none of them.
    let refused: Vec<&write::Obstacle> = blocked.iter().flatten().collect();
    if !refused.is_empty() {
        for o in &refused {
            ctx.printer.error(&o.describe(&out_display));
        }
        let folders = refused.iter().filter(|o| o.blocks_a_folder()).count();
        let files = refused.len() - folders;
        let mut counts = Vec::new();
        if folders > 0 {
            counts.push(format!("{folders} symlink(s) or file(s) where kgen writes a folder"));
        }
        if files > 0 {
            counts.push(format!("{files} folder(s) or file(s) kgen did not generate where it writes a file"));
        }
        ctx.printer.info(&format!("nothing rendered: {}", counts.join("; ")));
        return Ok(exit_codes::ERROR);
    }
    let shown = out_display.as_str();
    let stray_lines: Vec<String> = renders
        .iter()
        .zip(&stray)
        .flat_map(|(r, files)| files.iter().map(move |f| stray_warning(shown, &r.env, f)))
        .collect();
    if ctx.global.strict && !stray_lines.is_empty() {
        for line in &stray_lines {
            ctx.printer.error(line);
        }
        ctx.printer.info(&format!(
            "nothing rendered: {} file(s) kgen did not generate where the engine applies from (an error under --strict)",
            stray_lines.len()
        ));
        return Ok(exit_codes::ERROR);
    }
    // Leftover staging folders of environments that are not written in this run (their file
    // is gone, and so is their folder); `prepare_env` removes those of the others.
    let names =
        |env: &str| -> Vec<String> { leftovers.iter().filter(|l| l.env == env).map(|l| l.name.clone()).collect() };
    let orphaned: Vec<String> =
        leftovers.iter().filter(|l| !renders.iter().any(|r| r.env == l.env)).map(|l| l.name.clone()).collect();
    let mut undeletable = write::remove_stagings(&out, &orphaned, FaultInjection::default());

    // Environments are independent: each new tree is assembled in parallel, and none is
    // swapped in until all of them are (then each atomically): a failure writes nothing.
    let started = std::time::Instant::now();
    let prepared = par_map(&jobs, |(r, p)| write::prepare_env(&out, r, p, &names(&r.env), FaultInjection::default()));
    let (mut changes, mut staged, mut failed) = (Vec::<Changeset>::new(), Vec::new(), None);
    for p in prepared {
        match p {
            Ok(p) => {
                changes.push(p.changes);
                staged.extend(p.staged);
                undeletable.extend(p.undeletable);
            }
            Err(e) => {
                failed.get_or_insert(e);
            }
        }
    }
    if let Some(e) = failed {
        write::discard(staged);
        warn_undeletable(ctx, &out_display, &undeletable);
        return Err(e);
    }
    let swapped = staged.len();
    undeletable.extend(write::commit(&out, staged, FaultInjection::default())?);
    ctx.printer.debug(&format!(
        "wrote {swapped} environment(s) (staged, written to disk, swapped in) in {} ms",
        started.elapsed().as_millis()
    ));
    // What was just written, compared the way `kgen diff` compares (src/diff): one summary
    // line per environment and its risk flags on stderr; with --diff the full diff on stdout.
    let written: Vec<(&Rendered, &Previous, &Changeset)> =
        jobs.iter().zip(&changes).map(|((r, p), c)| (*r, *p, c)).collect();
    let summaries: Vec<Option<EnvDiff>> = par_map(&written, |(r, p, c)| {
        // A new environment's summary needs no parsing (unless its full diff is wanted).
        let fresh = p.contents.is_empty() && !r.files.is_empty();
        (!fresh || args.diff).then(|| diff::diff_changes(r, p, (*c).clone()))
    });
    let mut full = String::new();
    for ((r, c), d) in renders.iter().zip(&changes).zip(&summaries) {
        match d {
            None => ctx.printer.info(&format!("{}: new environment: {} files written", r.env, c.files.len())),
            Some(d) => {
                ctx.printer.info(&diff::text::env_summary(d));
                if !d.risks.is_empty() {
                    ctx.printer.info_styled(diff::text::env_risks(d, ctx.printer.color_err).trim_end());
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
    // Last, so that they are what the user sees: kgen keeps these files, the engine applies them.
    for line in &stray_lines {
        ctx.printer.warning(line);
    }
    // Not an error here: the render is right, and `kgen hydrate --write` comes after it.
    for line in hydration.iter().flatten() {
        ctx.printer.warning(line);
    }
    warn_undeletable(ctx, &out_display, &undeletable);
    Ok(exit_codes::SUCCESS)
}

/// What a render says while it waits for another kgen process (see `write::lock_output`).
fn waiting_message(out: &str, wait: u64) -> String {
    format!(
        "waiting for another kgen process using `{out}` to finish (a `render` writing it, or a `render --check` \
         or `diff` reading it); giving up after {wait} s (`--wait-lock`)"
    )
}

/// The warning when the output folder cannot be locked.
pub(crate) fn unlocked_message(out: &str, e: &std::io::Error) -> String {
    format!(
        "cannot lock `{out}` ({e}), so nothing keeps another kgen process from writing it at the same time: \
         run one at a time"
    )
}

/// One warning per staging folder kgen could not remove, with the command that removes it.
fn warn_undeletable(ctx: &Context<'_>, out: &str, undeletable: &[Undeletable]) {
    for u in undeletable {
        ctx.printer.warning(&u.describe(out));
    }
}

/// `render --check`: prints every finding (stdout) and a summary (stderr); the exit code.
fn check_report(
    ctx: &Context<'_>,
    out: &str,
    jobs: &[(&Rendered, &Previous)],
    blocked: &[Vec<write::Obstacle>],
    stray: &[Vec<String>],
    hydration: &[Vec<String>],
    leftovers: &[write::Leftover],
) -> u8 {
    // Data on stdout, but it names paths: escaped like every message (`--out` is the user's).
    let out = &*crate::diag::escape(out);
    let mut text = String::new();
    for l in leftovers {
        let path = format!("{out}/{}", l.name);
        text.push_str(&format!(
            "leftover staging folder of an earlier render: {path} (`kgen render` removes it; if it cannot, it \
             says so and stages under another name: remove it with `{}`)\n",
            write::removal_command(&path)
        ));
    }
    let mut stale = Vec::new();
    let (mut stray_envs, mut blocked_envs, mut in_the_way_envs) = (Vec::new(), Vec::new(), Vec::new());
    let mut unhydrated = Vec::new();
    for ((((r, p), b), s), h) in jobs.iter().zip(blocked).zip(stray).zip(hydration) {
        for line in h {
            text.push_str(line);
            text.push('\n');
        }
        if !h.is_empty() {
            unhydrated.push(r.env.as_str());
        }
        for o in b {
            text.push_str(&o.describe(out));
            text.push('\n');
        }
        for f in s {
            let f = crate::diag::escape(f);
            text.push_str(&format!("not generated by kgen: {out}/{}/{f} ({})\n", r.env, applied_reason(&f)));
        }
        let c = compare::compare(r, p);
        if !c.is_empty() {
            stale.push(r.env.as_str());
            let diff = diff_text(out, r, p, &c);
            text.push_str(&if ctx.printer.color_out { compare::paint_unified(&diff) } else { diff });
        }
        if b.iter().any(write::Obstacle::blocks_a_folder) {
            blocked_envs.push(r.env.as_str());
        }
        if b.iter().any(|o| !o.blocks_a_folder()) {
            in_the_way_envs.push(r.env.as_str());
        }
        if !s.is_empty() {
            stray_envs.push(r.env.as_str());
        }
    }
    if text.is_empty() {
        ctx.printer.info(&format!("{} environment render(s) in {out}/ are up to date", jobs.len()));
        return exit_codes::SUCCESS;
    }
    let _ = ctx.printer.data(&text);
    if !stale.is_empty() {
        ctx.printer.info(&format!(
            "{} of {} environment render(s) are out of date: {} (run `kgen render` and commit the result)",
            stale.len(),
            jobs.len(),
            stale.join(", ")
        ));
    }
    if !blocked_envs.is_empty() {
        ctx.printer.info(&format!(
            "symlinks or files where kgen writes a folder in: {} (`kgen render` refuses to write through them)",
            blocked_envs.join(", ")
        ));
    }
    if !in_the_way_envs.is_empty() {
        ctx.printer.info(&format!(
            "folders or files kgen did not generate where it writes a generated file, in: {} (`kgen render` \
             refuses to overwrite them)",
            in_the_way_envs.join(", ")
        ));
    }
    if !stray_envs.is_empty() {
        ctx.printer.info(&format!(
            "files kgen did not generate where the GitOps engine applies from, in: {} (move them out or delete them; \
             `kgen render` keeps them)",
            stray_envs.join(", ")
        ));
    }
    if !unhydrated.is_empty() {
        ctx.printer.info(&format!(
            "the committed chart output (`{}/`) does not match the render in: {} (see above)",
            crate::hydrate::committed::FOLDER,
            unhydrated.join(", ")
        ));
    }
    if !leftovers.is_empty() {
        ctx.printer.info(&format!(
            "leftover staging folders of an earlier render: {} (`kgen render` removes them, or says how to)",
            leftovers.len()
        ));
    }
    exit_codes::CHANGES
}

/// Why a file kgen did not generate matters in the folder it sits in (one the engines apply,
/// [`crate::render::gitops::is_applied_folder`]). Only the root Application reads a whole folder
/// today (the top of `argocd/`); elsewhere kgen lists its files (kustomizations,
/// `directory.include`), but a folder the engine applies is one hand-edit or one tool away from
/// applying all of it.
fn applied_reason(rel: &str) -> String {
    use crate::render::gitops;
    let (top, rest) = rel.split_once('/').unwrap_or((rel, ""));
    let whole = crate::config::model::GitopsEngine::ALL
        .iter()
        .map(|e| gitops::engine(*e))
        .find(|e| e.folder() == Some(top))
        .and_then(|e| e.applies_whole_folder());
    if let Some(why) = whole.filter(|_| !rest.contains('/')) {
        why.into()
    } else {
        format!("{top}/ is a folder the GitOps engine applies, so it can reach the cluster")
    }
}

/// The `render` warning (an error under `--strict`) for a file kgen did not generate.
pub(crate) fn stray_warning(out: &str, env: &str, rel: &str) -> String {
    let top = rel.split_once('/').map_or(rel, |(t, _)| t);
    format!(
        "{out}/{env}/{rel} is not generated by kgen: {}; kgen never deletes files it did not generate: \
         move it out of {top}/ or delete it",
        applied_reason(rel)
    )
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

/// What is wrong with `out/<env>/hydrated/`, one line each (named, with what to run): with
/// `gitops.hydrate`, what [`crate::hydrate::committed::verify`] finds; without it, the folder
/// itself when it is there (left from when it was on: nothing applies it any more, and kgen
/// never deletes what `kgen render` did not write).
fn hydration_findings(out: &Path, shown: &str, r: &Rendered) -> Vec<String> {
    use crate::hydrate::{INDEX_FILE, committed};
    let Some(lock) = r.files.get(LOCK_FILE).and_then(|t| crate::lock::Lock::from_slice(t.as_bytes()).ok()) else {
        return vec![];
    };
    let env = &r.env;
    let dir = out.join(env).join(committed::FOLDER);
    let folder = format!("{shown}/{env}/{}", committed::FOLDER);
    if !lock.gitops.hydrate {
        return if std::fs::symlink_metadata(&dir).is_ok() {
            vec![
                crate::diag::escape(&format!(
                    "{env}: `{folder}/` is left from `gitops.hydrate: true`: no engine applies it now that the \
                 environment does not set it; delete it (`git rm -r {folder}`), or set `gitops.hydrate: true` again"
                ))
                .into_owned(),
            ]
        } else {
            vec![]
        };
    }
    let index = std::fs::read(dir.join(INDEX_FILE)).ok();
    let mut files = BTreeMap::new();
    if index.is_some() {
        for e in walkdir::WalkDir::new(&dir).follow_links(false).min_depth(1).into_iter().flatten() {
            if e.file_type().is_dir() {
                continue;
            }
            let rel = e.path().strip_prefix(&dir).unwrap_or(e.path()).to_string_lossy().replace('\\', "/");
            if rel == INDEX_FILE {
                continue;
            }
            let bytes = if e.file_type().is_file() { std::fs::read(e.path()).ok() } else { None };
            files.insert(rel, bytes);
        }
    }
    committed::verify(&lock, index.as_deref(), &files)
        .iter()
        .map(|f| {
            crate::diag::escape(&format!(
                "{}: run `kgen hydrate --write {env}` and commit `{folder}/` (what the engine applies)",
                f.describe(env)
            ))
            .into_owned()
        })
        .collect()
}
