//! The terminal format: one block per environment (summary line, risks, then each changed file
//! with its field changes and unified hunks). With colour, changed characters inside changed
//! lines and values are highlighted (similar's inline `Chars` mode).

use std::fmt::Write as _;

use anstyle::{AnsiColor, Effects, Style};
use similar::{ChangeTag, InlineChangeMode, InlineChangeOptions, TextDiff};

use super::{
    Change, ChangeOp, DocStatus, EnvDiff, EnvStatus, FileDiff, FileKind, FileStatus, Hunk, HunksOmitted, Report,
};

/// Longest value shown on one line before it is cut with `…`.
const VALUE_WIDTH: usize = 120;

/// Colours, or none.
#[derive(Clone, Copy)]
struct Paint {
    on: bool,
}

const BOLD: Style = Style::new().effects(Effects::BOLD);
const RED: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)));
const GREEN: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Green)));
const YELLOW: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Yellow)));
const CYAN: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Cyan)));
const DIM: Style = Style::new().effects(Effects::DIMMED);
const RISK: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red))).effects(Effects::BOLD);

impl Paint {
    fn p(self, style: Style, text: &str) -> String {
        if self.on && !text.is_empty() {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_string()
        }
    }

    /// Emphasis on top of a line colour: reverse video, the usual way terminals show it.
    fn emph(self, style: Style, text: &str) -> String {
        self.p(style.effects(Effects::INVERT | Effects::BOLD), text)
    }
}

use super::plural;

/// One line saying how an environment changes (no colour, no trailing newline): what
/// `kgen render` prints per environment.
pub fn env_summary(env: &EnvDiff) -> String {
    let objects = format!(
        "{} added, {} changed, {} removed",
        plural(env.objects_added, "object", "objects"),
        env.objects_changed,
        env.objects_removed
    );
    let mut parts = match env.status {
        EnvStatus::Unchanged => return format!("{}: up to date", env.name),
        EnvStatus::Rewritten => {
            return format!(
                "{}: no change in meaning ({} rewritten: comments, formatting, order or derived index fields)",
                env.name,
                plural(env.rewritten.len(), "file", "files")
            );
        }
        EnvStatus::Added => vec![format!("new environment: {}", plural(env.objects_added, "object", "objects"))],
        EnvStatus::Removed => {
            vec![format!("environment removed: {} pruned", plural(env.objects_removed, "object", "objects"))]
        }
        EnvStatus::Changed => vec![objects],
    };
    if !env.values_changed.is_empty() {
        parts.push(format!("Helm values: {}", env.values_changed.join(", ")));
    }
    if let Some(h) = &env.hydrated {
        parts.push(h.phrase());
    }
    if !env.risks.is_empty() {
        parts.push(plural(env.risks.len(), "risk", "risks"));
    }
    format!("{}: {}", env.name, parts.join(" · "))
}

/// The risk lines of an environment, indented, one per flag.
pub fn env_risks(env: &EnvDiff, color: bool) -> String {
    let paint = Paint { on: color };
    let mut out = String::new();
    for r in &env.risks {
        // Printed on stderr by `render` styled, so not escaped by the printer: escaped here.
        let _ = writeln!(out, "  {} {}: {}", paint.p(RISK, "risk"), r.kind.as_str(), crate::diag::escape(&r.message));
    }
    out
}

/// An environment in full: summary, risks, every changed file.
pub fn env_details(env: &EnvDiff, color: bool) -> String {
    let paint = Paint { on: color };
    let mut out = String::new();
    let _ = writeln!(out, "{}", paint.p(BOLD, &env_summary(env)));
    out.push_str(&env_risks(env, color));
    for f in &env.files {
        out.push('\n');
        file(&mut out, f, paint);
    }
    if !env.rewritten.is_empty() && env.has_changes() {
        let _ = writeln!(
            out,
            "\n  {}",
            paint.p(DIM, &format!("rewritten without a change in meaning: {}", env.rewritten.join(", ")))
        );
    }
    out
}

/// The whole report: changes several environments share (once), every group of environments
/// with the same changes (once, named by its first), then a total line.
pub fn render(report: &Report, color: bool) -> String {
    let paint = Paint { on: color };
    let fleet = super::fleet::fleet(report);
    let mut out = String::new();
    if !fleet.shared.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            paint.p(BOLD, "the same change in several environments (<env> stands for each one's name):")
        );
        for s in &fleet.shared {
            shared(&mut out, report, s, paint);
        }
    }
    for g in &fleet.groups {
        if !out.is_empty() {
            out.push('\n');
        }
        let mut env = fleet.residual.environments[g[0]].clone();
        if g.len() > 1 {
            let names: Vec<&str> = g.iter().map(|&i| report.environments[i].name.as_str()).collect();
            env.name = format!("{} (each of {})", super::fleet::names_line(&names, 4, str::to_string), g.len());
        }
        out.push_str(&env_details(&env, color));
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(&totals(report));
    out.push('\n');
    out
}

/// One shared change: what, where and in how many environments.
fn shared(out: &mut String, report: &Report, s: &super::fleet::Shared, paint: Paint) {
    let what = match s.atom.as_change() {
        Some(c) => {
            let mut line = String::new();
            changes(&mut line, std::slice::from_ref(&c), 0, paint);
            line.trim_end().to_string()
        }
        None => s.atom.describe(),
    };
    let places: Vec<String> = s
        .places
        .iter()
        .map(|(file, object)| match object {
            Some(o) => format!("{file} {o}"),
            None => file.clone(),
        })
        .collect();
    let n = s.environments.len();
    let envs = if n == report.summary.changed {
        format!("every changed environment ({n})")
    } else {
        let names: Vec<&str> = s.environments.iter().map(|&i| report.environments[i].name.as_str()).collect();
        format!("{n} environments: {}", super::fleet::names_line(&names, 6, str::to_string))
    };
    let _ = writeln!(out, "  {what}");
    let shown = places.len().min(3);
    let more = if places.len() > shown { format!(" and {} more", places.len() - shown) } else { String::new() };
    let _ = writeln!(out, "    {}", paint.p(DIM, &format!("in {}{more} · {envs}", places[..shown].join(", "))));
}

/// `2 of 6 environments change: …` (one line, no newline).
pub fn totals(report: &Report) -> String {
    let s = &report.summary;
    if !report.has_changes() {
        return format!("no changes in {}", plural(s.environments, "environment", "environments"));
    }
    let mut line = format!(
        "{} of {} change: {} added, {} changed, {} removed",
        s.changed,
        plural(s.environments, "environment", "environments"),
        plural(s.objects_added, "object", "objects"),
        s.objects_changed,
        s.objects_removed
    );
    if s.values_changed > 0 {
        let _ = write!(line, "; Helm values of {}", plural(s.values_changed, "release", "releases"));
    }
    let _ = write!(line, "; {}", plural(s.risks, "risk", "risks"));
    if !report.unchanged.is_empty() {
        if report.unchanged.len() <= 10 {
            let _ = write!(line, "; unchanged: {}", report.unchanged.join(", "));
        } else {
            let _ = write!(line, "; {} unchanged", report.unchanged.len());
        }
    }
    line
}

/// `Helm values of release kserve`, `index`, … for a file heading.
pub(crate) fn file_label(f: &FileDiff) -> Option<String> {
    match f.kind {
        FileKind::Values => f.release.as_ref().map(|r| format!("Helm values of release {r}")),
        FileKind::Index => Some("index: versions, charts, order".into()),
        FileKind::Kustomization => Some("kustomization".into()),
        FileKind::Gitops => Some("GitOps objects".into()),
        FileKind::Hydrated => f.release.as_ref().map(|r| format!("chart output of release {r}")),
        _ => None,
    }
}

/// `(added)`, `(removed)` or nothing.
pub(crate) fn status_word(s: FileStatus) -> &'static str {
    match s {
        FileStatus::Added => " (added)",
        FileStatus::Removed => " (removed)",
        FileStatus::Modified => "",
    }
}

fn file(out: &mut String, f: &FileDiff, paint: Paint) {
    let label = file_label(f).map(|l| format!(" · {l}")).unwrap_or_default();
    let _ = writeln!(out, "  {}{label}{}", paint.p(BOLD, &f.path), status_word(f.status));
    if let Some(note) = &f.note {
        let _ = writeln!(out, "    {}", paint.p(DIM, note));
    }
    for d in &f.documents {
        match (&d.object, d.status) {
            (Some(obj), DocStatus::Added) => {
                let _ = writeln!(out, "    {} {obj}", paint.p(GREEN, "+"));
            }
            (Some(obj), DocStatus::Removed) => {
                let _ = writeln!(out, "    {} {obj}", paint.p(RED, "-"));
            }
            (Some(obj), DocStatus::Changed) => {
                let _ = writeln!(out, "    {} {obj}", paint.p(YELLOW, "~"));
                changes(out, &d.changes, 8, paint);
            }
            (Some(obj), DocStatus::Moved) => {
                let from = d.moved_from.as_deref().unwrap_or_default();
                let _ = writeln!(out, "    {} {obj} (moved from {from})", paint.p(YELLOW, "→"));
                changes(out, &d.changes, 8, paint);
            }
            (None, DocStatus::Changed | DocStatus::Moved) => changes(out, &d.changes, 4, paint),
            (None, DocStatus::Added) if f.status == FileStatus::Modified => {
                let _ = writeln!(out, "    {} document", paint.p(GREEN, "+"));
            }
            (None, DocStatus::Removed) if f.status == FileStatus::Modified => {
                let _ = writeln!(out, "    {} document", paint.p(RED, "-"));
            }
            (None, _) => {}
        }
    }
    match f.hunks_omitted {
        Some(HunksOmitted::Secret) => {
            let _ = writeln!(out, "    {}", paint.p(DIM, "(holds a Secret: values are never shown)"));
        }
        Some(HunksOmitted::Size) if f.kind == FileKind::Hydrated && f.status == FileStatus::Modified => {
            let _ =
                writeln!(out, "    {}", paint.p(DIM, "(line diff not shown: too long; the field changes say it all)"));
        }
        Some(HunksOmitted::Size) => {
            let _ = writeln!(out, "    {}", paint.p(DIM, "(file not shown: too long)"));
        }
        Some(HunksOmitted::Shared) => {
            let _ = writeln!(
                out,
                "    {}",
                paint.p(DIM, "(more changes of this file are shown once for several environments)")
            );
        }
        Some(HunksOmitted::Index | HunksOmitted::Removed) | None => {}
    }
    for h in &f.hunks {
        hunk(out, h, paint);
    }
}

/// Field change lines at `indent`.
fn changes(out: &mut String, changes: &[Change], indent: usize, paint: Paint) {
    let pad = " ".repeat(indent);
    for c in changes {
        let path = if c.path.is_empty() { "(document)" } else { c.path.as_str() };
        let line = match (c.op, c.redacted) {
            (ChangeOp::Changed, true) => format!("{} {}: (secret value changed)", paint.p(YELLOW, "~"), path),
            (ChangeOp::Added, true) => format!("{} {}: (secret value added)", paint.p(GREEN, "+"), path),
            (ChangeOp::Removed, true) => format!("{} {}: (secret value removed)", paint.p(RED, "-"), path),
            (ChangeOp::Changed, false) => {
                let old = c.old.as_ref().map(|v| super::show_value(v, VALUE_WIDTH)).unwrap_or_default();
                let new = c.new.as_ref().map(|v| super::show_value(v, VALUE_WIDTH)).unwrap_or_default();
                let (old, new) = inline_pair(&old, &new, paint);
                format!("{} {}: {old} → {new}", paint.p(YELLOW, "~"), path)
            }
            (ChangeOp::Added, false) => {
                let new = c.new.as_ref().map(|v| super::show_value(v, VALUE_WIDTH)).unwrap_or_default();
                format!("{} {}: {}", paint.p(GREEN, "+"), path, paint.p(GREEN, &new))
            }
            (ChangeOp::Removed, false) => {
                let old = c.old.as_ref().map(|v| super::show_value(v, VALUE_WIDTH)).unwrap_or_default();
                format!("{} {}: {}", paint.p(RED, "-"), path, paint.p(RED, &old))
            }
        };
        let _ = writeln!(out, "{pad}{line}");
    }
}

/// Old and new value with the differing characters emphasised.
fn inline_pair(old: &str, new: &str, paint: Paint) -> (String, String) {
    if !paint.on {
        return (old.to_string(), new.to_string());
    }
    let diff = TextDiff::configure()
        .algorithm(similar::Algorithm::Patience)
        .timeout(std::time::Duration::from_millis(50))
        .diff_chars(old, new);
    let (mut a, mut b) = (String::new(), String::new());
    // Runs of characters with the same tag, painted once each.
    let mut run = String::new();
    let mut tag = None;
    let mut flush = |tag: Option<ChangeTag>, run: &mut String| {
        match tag {
            Some(ChangeTag::Equal) => {
                a.push_str(&paint.p(RED, run));
                b.push_str(&paint.p(GREEN, run));
            }
            Some(ChangeTag::Delete) => a.push_str(&paint.emph(RED, run)),
            Some(ChangeTag::Insert) => b.push_str(&paint.emph(GREEN, run)),
            None => {}
        }
        run.clear();
    };
    for c in diff.iter_all_changes() {
        if tag != Some(c.tag()) {
            flush(tag, &mut run);
            tag = Some(c.tag());
        }
        run.push_str(c.value());
    }
    flush(tag, &mut run);
    (a, b)
}

fn hunk(out: &mut String, h: &Hunk, paint: Paint) {
    let _ = writeln!(out, "    {}", paint.p(CYAN, &h.header));
    if !paint.on {
        for l in &h.lines {
            let _ = writeln!(out, "    {l}");
        }
        return;
    }
    // Runs of removed lines followed by added lines get character-level emphasis.
    let mut i = 0;
    while i < h.lines.len() {
        let line = &h.lines[i];
        if !line.starts_with('-') {
            let style = if line.starts_with('+') { GREEN } else { Style::new() };
            let _ = writeln!(out, "    {}", paint.p(style, line));
            i += 1;
            continue;
        }
        let dels: Vec<&str> = h.lines[i..].iter().take_while(|l| l.starts_with('-')).map(|l| &l[1..]).collect();
        let j = i + dels.len();
        let adds: Vec<&str> = h.lines[j..].iter().take_while(|l| l.starts_with('+')).map(|l| &l[1..]).collect();
        for l in inline_lines(&dels, &adds, paint) {
            let _ = writeln!(out, "    {l}");
        }
        i = j + adds.len();
    }
}

/// Removed and added lines, painted, with the changed characters emphasised.
fn inline_lines(dels: &[&str], adds: &[&str], paint: Paint) -> Vec<String> {
    let old = dels.iter().map(|l| format!("{l}\n")).collect::<String>();
    let new = adds.iter().map(|l| format!("{l}\n")).collect::<String>();
    let diff = TextDiff::configure()
        .algorithm(similar::Algorithm::Patience)
        .timeout(std::time::Duration::from_millis(200))
        .diff_lines(&old, &new);
    let mut options = InlineChangeOptions::new();
    options.mode(InlineChangeMode::Chars);
    let (mut minus, mut plus) = (Vec::new(), Vec::new());
    for op in diff.ops() {
        for change in diff.iter_inline_changes_with_options(op, options) {
            let (sign, style, target) = match change.tag() {
                ChangeTag::Delete => ("-", RED, &mut minus),
                ChangeTag::Insert => ("+", GREEN, &mut plus),
                // Cannot happen inside a run of removed and added lines; keep it visible anyway.
                ChangeTag::Equal => (" ", Style::new(), &mut minus),
            };
            let mut line = paint.p(style, sign);
            for (emphasised, text) in change.iter_strings_lossy() {
                let text = text.trim_end_matches('\n');
                line.push_str(&if emphasised { paint.emph(style, text) } else { paint.p(style, text) });
            }
            target.push(line);
        }
    }
    minus.extend(plus);
    minus
}
