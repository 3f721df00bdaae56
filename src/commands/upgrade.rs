//! `kgen upgrade ENV [--to VERSION] [--from-git-ref REF] [--format text|markdown|json]
//! [--write]`: read what the cluster has (the committed `kgen.lock.json`, or the one at a git
//! ref), plan the path with [`crate::upgrade`], print it; with `--write`, edit the next step
//! into the environment file (only its keys; see [`crate::edit`]).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use super::Context;
use super::render::out_dir;
use crate::cli::{UpgradeArgs, UpgradeFormat};
use crate::config::load::Workspace;
use crate::error::Error;
use crate::exit_codes;
use crate::lock::Lock;
use crate::render::{LOCK_FILE, Rendered};
use crate::upgrade::{self, Status, Step, StepKind, UpgradePlan};

/// Runs `kgen upgrade`.
pub fn run(ctx: &Context<'_>, args: &UpgradeArgs) -> Result<u8, Error> {
    if args.schema {
        let mut s = serde_json::to_string_pretty(&upgrade::schema()).expect("schema serialises");
        s.push('\n');
        let _ = ctx.printer.data(&s);
        return Ok(exit_codes::SUCCESS);
    }
    let env = args.env.as_deref().ok_or_else(|| Error::Usage("name the environment to upgrade".into()))?;
    let root = &ctx.global.dir;
    let ws = Workspace::load(root)?;
    if !ws.files.contains_key(env) && !ws.broken.contains_key(env) || env.starts_with('_') {
        let names = ws.environment_names();
        let hint = match crate::config::validate::did_you_mean(env, names.iter().map(String::as_str)) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("environments: {}", names.join(", ")),
        };
        ctx.printer.error(&format!("unknown environment `{}` ({hint})", crate::diag::escape(env)));
        return Ok(exit_codes::ERROR);
    }
    let previous = previous_lock(root, env, args.from_git_ref.as_deref())?;
    let plan = match upgrade::plan(&ws, env, &previous, args.to.as_deref(), ctx.global.strict) {
        Ok(p) => p,
        Err(e) => {
            ctx.printer.error(&crate::diag::escape(&e));
            return Ok(exit_codes::ERROR);
        }
    };
    let from = match &args.from_git_ref {
        Some(r) => format!("the render committed at `{r}`"),
        None => format!("rendered/{env}/{LOCK_FILE}"),
    };
    let text = match args.format {
        UpgradeFormat::Text => text(&plan, &from),
        UpgradeFormat::Markdown => markdown(&plan, &from),
        UpgradeFormat::Json => {
            let mut s = serde_json::to_string_pretty(&plan).expect("the plan serialises");
            s.push('\n');
            s
        }
    };
    let _ = ctx.printer.data(&text);
    match plan.status {
        Status::AtTarget => Ok(exit_codes::SUCCESS),
        Status::Blocked => {
            let b = plan.blocked.as_ref().expect("a blocked plan says why");
            ctx.printer.error(&format!(
                "no safe path to KServe {} for `{env}`: step {} ({}) cannot be made",
                plan.target, b.step, b.title
            ));
            Ok(exit_codes::ERROR)
        }
        Status::Steps => {
            if args.write {
                write_next(ctx, root, &ws, &plan)?;
            } else {
                ctx.printer.info(&format!(
                    "{} step(s) to KServe {}; `kgen upgrade {env} --to {} --write` applies step 1 to {}",
                    plan.steps.len(),
                    plan.target,
                    plan.target,
                    plan.file
                ));
            }
            Ok(exit_codes::CHANGES)
        }
    }
}

/// The index of what the cluster has: on disk, or at a git ref.
fn previous_lock(root: &Path, env: &str, git_ref: Option<&str>) -> Result<Lock, Error> {
    let out = out_dir(root, None);
    let bytes = match git_ref {
        None => {
            crate::previous::check_out_folder(root, &out)?;
            crate::previous::lock_from_disk(&out.join(env))?
        }
        Some(r) => {
            let tree = crate::previous::GitTree::open(root, &out, r)?;
            let prev = tree.read_previous(&[Rendered { env: env.to_string(), files: BTreeMap::new() }])?;
            prev.into_iter().next().and_then(|p| p.contents.get(LOCK_FILE).cloned())
        }
    };
    let where_ = match git_ref {
        Some(r) => format!("`rendered/{env}/{LOCK_FILE}` at `{r}`"),
        None => format!("`rendered/{env}/{LOCK_FILE}`"),
    };
    let bytes = bytes.ok_or_else(|| {
        Error::Usage(format!(
            "no previous render of `{env}` ({where_}): kgen upgrade plans from what the cluster has; render and sync the environment first"
        ))
    })?;
    Lock::from_slice(&bytes).map_err(|e| Error::Refused(format!("{where_} is not a kgen index ({e})")))
}

/// Writes the first step's text over the environment file, if the file is still what was planned
/// from: through a file next to it and a rename, keeping its permissions.
fn write_next(ctx: &Context<'_>, root: &Path, ws: &Workspace, plan: &UpgradePlan) -> Result<(), Error> {
    let step = &plan.steps[0];
    // A symlinked environment file (the loader only reads one that stays inside the project)
    // is edited where it points, and stays a symlink.
    let path = root.join(&plan.file);
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    let planned_from = ws.sources.get(&plan.file).map(String::as_str).unwrap_or_default();
    let now =
        std::fs::read_to_string(&path).map_err(|source| Error::Io { path: path.clone(), action: "read", source })?;
    if now != planned_from {
        return Err(Error::Refused(format!("`{}` changed while kgen planned; run `kgen upgrade` again", plan.file)));
    }
    let dir = path.parent().unwrap_or(root);
    let tmp = dir.join(format!(".{}.kgen-upgrade", path.file_name().unwrap_or_default().to_string_lossy()));
    let io = |source, action| Error::Io { path: tmp.clone(), action, source };
    {
        let mut f = std::fs::File::create(&tmp).map_err(|e| io(e, "write"))?;
        f.write_all(step.text.as_bytes()).map_err(|e| io(e, "write"))?;
        f.sync_all().map_err(|e| io(e, "write"))?;
    }
    if let Ok(meta) = std::fs::metadata(&path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, &path).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        Error::Io { path: path.clone(), action: "replace", source }
    })?;
    let env = &plan.environment;
    ctx.printer.info(&format!("wrote step 1 of {} to {}: {}", plan.steps.len(), plan.file, step.title));
    if step.kind == StepKind::Kubernetes {
        ctx.printer.warning(&format!(
            "this step says the cluster runs Kubernetes {}: upgrade the cluster before its render is synced",
            step.moves.iter().find(|m| m.component == "kubernetes").and_then(|m| m.to.as_deref()).unwrap_or("?")
        ));
    }
    ctx.printer.info(&format!(
        "next: `kgen render {env}`, commit both, sync; then `kgen upgrade {env} --to {} --write` again",
        plan.target
    ));
    Ok(())
}

fn versions_line(v: &BTreeMap<String, String>) -> String {
    let cat = crate::catalog::get();
    v.iter()
        .map(|(k, v)| format!("{} {v}", cat.upgrade_policies.get(k).map_or(k.as_str(), |p| p.name.as_str())))
        .collect::<Vec<_>>()
        .join(", ")
}

fn change_line(c: &upgrade::Change) -> String {
    let mut s = match (&c.to, &c.from) {
        (Some(to), Some(from)) => format!("set {}: {to} (was {from})", c.key),
        (Some(to), None) => format!("set {}: {to}", c.key),
        (None, Some(from)) => format!("remove {} (was {from})", c.key),
        (None, None) => format!("remove {}", c.key),
    };
    if let Some(why) = &c.why {
        s.push_str(&format!(" — {why}"));
    }
    s
}

fn move_line(m: &upgrade::Move) -> String {
    match (&m.from, &m.to) {
        (Some(a), Some(b)) => format!("{} {a} → {b}", m.name),
        (None, Some(b)) => format!("{} {b} (new)", m.name),
        (Some(a), None) => format!("{} {a} (removed)", m.name),
        (None, None) => m.name.clone(),
    }
}

fn header(plan: &UpgradePlan, from: &str) -> Vec<String> {
    let f = &plan.from;
    vec![
        format!("{} ({}): KServe {} → {} ({})", plan.environment, plan.file, f.kserve, plan.target, plan.target_reason),
        format!(
            "The cluster has ({from}): KServe {} on Kubernetes {}; {}",
            f.kserve,
            f.kubernetes,
            versions_line(&f.versions)
        ),
    ]
}

fn kubernetes_summary(plan: &UpgradePlan) -> Option<String> {
    let k: Vec<String> = plan
        .steps
        .iter()
        .filter(|s| s.kind == StepKind::Kubernetes)
        .map(|s| format!("to {} at step {}", s.moves.iter().find_map(|m| m.to.clone()).unwrap_or_default(), s.number))
        .collect();
    (!k.is_empty()).then(|| {
        format!(
            "The cluster's Kubernetes must be upgraded on the way, one minor at a time (kgen cannot do it): {}",
            k.join(", ")
        )
    })
}

/// The plan for a terminal.
pub fn text(plan: &UpgradePlan, from: &str) -> String {
    let mut out = header(plan, from).join("\n");
    out.push('\n');
    if let Some(k) = kubernetes_summary(plan) {
        out.push_str(&k);
        out.push('\n');
    }
    if plan.status == Status::AtTarget {
        out.push_str(&format!("Already at KServe {}: nothing to do.\n", plan.target));
    }
    let n = plan.steps.len();
    for s in &plan.steps {
        out.push_str(&format!("\nStep {} of {n}: {}\n", s.number, s.title));
        for note in s.notes.iter().filter(|_| s.kind == StepKind::Kubernetes) {
            out.push_str(&format!("  first: {note}\n"));
        }
        for c in &s.changes {
            out.push_str(&format!("  {}\n", change_line(c)));
        }
        if !s.moves.is_empty() {
            out.push_str(&format!("  moves: {}\n", s.moves.iter().map(move_line).collect::<Vec<_>>().join(", ")));
        }
        for note in s.notes.iter().filter(|_| s.kind != StepKind::Kubernetes) {
            out.push_str(&format!("  note: {note}\n"));
        }
    }
    if let Some(b) = &plan.blocked {
        out.push_str(&format!("\nStep {}: {} — no safe way found:\n", b.step, b.title));
        for r in &b.reasons {
            out.push_str(&format!("  {r}\n"));
        }
    }
    if plan.status == Status::Steps {
        out.push_str(&format!(
            "\nOne step per pull request: apply it (`kgen upgrade {env} --to {} --write`), `kgen render {env}`, commit both, merge, let the cluster sync, then the next step.\n",
            plan.target,
            env = plan.environment
        ));
    }
    out
}

/// The plan as Markdown (a pull request description or an issue).
pub fn markdown(plan: &UpgradePlan, from: &str) -> String {
    let mut out = format!("## kgen upgrade `{}`: KServe {} → {}\n\n", plan.environment, plan.from.kserve, plan.target);
    for line in header(plan, from).iter().skip(1) {
        out.push_str(&format!("{line}.\n\n"));
    }
    out.push_str(&format!("Target: {} ({}).\n\n", plan.target, plan.target_reason));
    if let Some(k) = kubernetes_summary(plan) {
        out.push_str(&format!("**{k}.**\n\n"));
    }
    if plan.status == Status::AtTarget {
        out.push_str("Already at the target: nothing to do.\n");
    }
    for s in &plan.steps {
        out.push_str(&step_markdown(s, plan.steps.len()));
    }
    if let Some(b) = &plan.blocked {
        out.push_str(&format!("### ⛔ Step {}: {}\n\nNo safe way found:\n\n", b.step, b.title));
        for r in &b.reasons {
            out.push_str(&format!("- {r}\n"));
        }
        out.push('\n');
    }
    if plan.status == Status::Steps {
        out.push_str(&format!(
            "One step per pull request: `kgen upgrade {env} --to {} --write`, `kgen render {env}`, commit both, merge, sync, repeat.\n",
            plan.target,
            env = plan.environment
        ));
    }
    out
}

fn step_markdown(s: &Step, n: usize) -> String {
    let mut out = format!("### Step {} of {n}: {}\n\n", s.number, s.title);
    if s.kind == StepKind::Kubernetes {
        for note in &s.notes {
            out.push_str(&format!("> **First:** {note}\n\n"));
        }
    }
    out.push_str("| Change | Key | Value |\n|:--|:--|:--|\n");
    for c in &s.changes {
        let (what, value) = match (&c.to, &c.from) {
            (Some(to), Some(from)) => ("set", format!("`{to}` (was `{from}`)")),
            (Some(to), None) => ("set", format!("`{to}`")),
            (None, Some(from)) => ("remove", format!("(was `{from}`)")),
            (None, None) => ("remove", String::new()),
        };
        let why = c.why.as_ref().map(|w| format!(" — {w}")).unwrap_or_default();
        out.push_str(&format!("| {what} | `{}` | {value}{why} |\n", c.key));
    }
    out.push('\n');
    if !s.moves.is_empty() {
        out.push_str(&format!("Moves: {}.\n\n", s.moves.iter().map(move_line).collect::<Vec<_>>().join(", ")));
    }
    if s.kind != StepKind::Kubernetes {
        for note in &s.notes {
            out.push_str(&format!("> ⚠️ {note}\n\n"));
        }
    }
    out
}
