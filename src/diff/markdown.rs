//! The PR-comment format (GitHub and GitLab Markdown): a summary table per environment first,
//! then the risks, then collapsible details (`<details>`) per changed file with its field
//! changes and a `diff` block. Split into numbered parts that each stay under a byte budget;
//! every part starts with the hidden marker [`MARKER`] and says what it holds and what was cut.

use std::fmt::Write as _;

use super::fleet::{self, Fleet, Shared};
use super::{Change, ChangeOp, DocStatus, EnvDiff, EnvStatus, FileDiff, FileKind, FileStatus, HunksOmitted, Report};

/// The hidden marker every part starts with, so CI jobs can find and update their comments.
pub const MARKER: &str = "<!-- kgen-diff -->";

/// The default budget: GitHub refuses comments over 65,536 characters.
pub const DEFAULT_MAX_BYTES: usize = 65_000;

/// The smallest budget accepted.
pub const MIN_MAX_BYTES: usize = 4_000;

/// Bytes kept free in every part for its header (marker, title, what it holds, what was cut).
const HEADER_RESERVE: usize = 1_000;

/// Longest value shown inline before it is cut with `…`.
const VALUE_WIDTH: usize = 100;

/// Environments named in full before "and N more".
const NAMES_SHOWN: usize = 20;

/// Runs of environment names (`env-0001…env-0040` is one) shown for a shared change.
const RUNS_SHOWN: usize = 6;

/// Places shown for a shared change before "and N more".
const PLACES_SHOWN: usize = 3;

/// `text` as inline code, safe whatever backticks it holds.
fn code(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    if longest > 0 || text.starts_with(' ') || text.ends_with(' ') {
        format!("{fence} {text} {fence}")
    } else {
        format!("{fence}{text}{fence}")
    }
}

/// HTML-escaped text for `<summary>` lines, `|` included so tables never break.
fn html(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '|' => s.push_str("&#124;"),
            _ => s.push(c),
        }
    }
    s
}

use super::plural;

/// What a block is, for packing and for saying what a part holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// One row of the summary table (`index` of `total`).
    Row,
    /// The line naming unchanged environments.
    Unchanged,
    /// One risk line.
    Risk,
    /// One change shared by several environments (index into `Fleet::shared`).
    Shared,
    /// The details of one file of environment `env` (index into `report.environments`).
    File { env: usize, file: usize },
}

struct Block {
    kind: Kind,
    text: String,
}

/// One part under construction.
#[derive(Default)]
struct Part {
    body: String,
    rows: Vec<usize>,
    risks: Vec<usize>,
    /// Shared changes it holds.
    shared: usize,
    /// (env index, file index) of the file blocks it holds.
    files: Vec<(usize, usize)>,
    unchanged: bool,
    cuts: Vec<String>,
    last: Option<Kind>,
}

/// Renders the report as one or more Markdown parts, each at most `max_bytes` bytes.
pub fn render(report: &Report, max_bytes: usize) -> Vec<String> {
    let max_bytes = max_bytes.max(MIN_MAX_BYTES);
    let budget = max_bytes - HEADER_RESERVE;
    // Changes several environments share are shown once; the details below hold the rest. The
    // residual report has the same environments, counts and risks, fewer files.
    let fleet = fleet::fleet(report);
    let blocks = blocks(report, &fleet);
    let report = &fleet.residual;
    let mut parts: Vec<Part> = vec![Part::default()];
    let mut row_no = 0;
    let mut risk_no = 0;
    let mut env_seen = vec![false; report.environments.len()];
    for block in blocks {
        let here = parts.last().expect("one part at least");
        let (new_part, text, cut) = place(report, here, &block, (row_no, risk_no, &env_seen), budget);
        if new_part {
            parts.push(Part::default());
        }
        let part = parts.last_mut().expect("one part at least");
        part.body.push_str(&prefix(report, part, block.kind, (row_no, risk_no, &env_seen)));
        part.body.push_str(&text);
        if let Some(c) = cut {
            part.cuts.push(c);
        }
        match block.kind {
            Kind::Row => {
                part.rows.push(row_no);
                row_no += 1;
            }
            Kind::Risk => {
                part.risks.push(risk_no);
                risk_no += 1;
            }
            Kind::Unchanged => part.unchanged = true,
            Kind::Shared => part.shared += 1,
            Kind::File { env, file } => {
                part.files.push((env, file));
                env_seen[env] = true;
            }
        }
        part.last = Some(block.kind);
    }
    let total = parts.len();
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut s = header(report, p, i + 1, total, row_no, risk_no);
            s.push_str(&p.body);
            while s.ends_with("\n\n") {
                s.pop();
            }
            s
        })
        .collect()
}

/// Where a block goes and in what form: `(open a new part, text, what was cut)`.
///
/// A block that fits the room left in the current part goes there whole. One that does not
/// but would fit a part of its own opens a new part: nothing is cut just to save a comment.
/// One too large for any part is cut wherever it goes, so it is cut to fit the current part
/// when that keeps a useful amount (everything a part of its own would keep, or at least half
/// a part's room); otherwise it is cut to fit a new part. The first part always holds the
/// first block, so the summary table starts there.
fn place(report: &Report, here: &Part, block: &Block, seen: (usize, usize, &[bool]), budget: usize) -> Placed {
    let room_here = budget.saturating_sub(here.body.len() + prefix(report, here, block.kind, seen).len());
    if block.text.len() <= room_here {
        return (false, block.text.clone(), None);
    }
    let fresh = Part::default();
    let room_fresh = budget.saturating_sub(prefix(report, &fresh, block.kind, seen).len());
    if block.text.len() <= room_fresh {
        return (true, block.text.clone(), None);
    }
    let (there, there_cut) = shrink(report, block, room_fresh);
    let (text, cut) = shrink(report, block, room_here);
    // Alone in its part, it stays there whatever it takes.
    let alone = here.last.is_none();
    if alone || (text.len() <= room_here && (text == there || room_here >= room_fresh / 2)) {
        (false, text, cut)
    } else {
        (true, there, there_cut)
    }
}

/// A placement decided by [`place`].
type Placed = (bool, String, Option<String>);

/// What must precede a block in the current part: the table header, the risk heading, an
/// environment heading; `(continued)` when an earlier part began it.
fn prefix(report: &Report, part: &Part, kind: Kind, seen: (usize, usize, &[bool])) -> String {
    let (rows_before, risks_before, env_seen) = seen;
    let continued = |earlier: bool| if earlier { " (continued)" } else { "" };
    match kind {
        Kind::Row if part.last != Some(Kind::Row) => {
            // `--hydrate`: one more column, the chart output's objects.
            let (chart, align) = if report.summary.hydrated.is_some() {
                (" Chart objects added / changed / removed |", "--:|")
            } else {
                ("", "")
            };
            format!(
                "{}| Environment | Objects added | Objects changed | Objects removed | Helm values changed |{chart} Risks |\n|:--|--:|--:|--:|:--|{align}:--|\n",
                if rows_before > 0 { "### Summary (continued)\n\n" } else { "" }
            )
        }
        Kind::Risk if part.last != Some(Kind::Risk) => format!("### ⚠️ Risks{}\n\n", continued(risks_before > 0)),
        Kind::Shared if part.last != Some(Kind::Shared) => {
            "### The same change in several environments\n\n_Shown once; `<env>` stands for each environment's name._\n\n"
                .to_string()
        }
        Kind::File { env, .. } if !matches!(part.last, Some(Kind::File { env: e, .. }) if e == env) => {
            let e = &report.environments[env];
            let mut s = format!("### {}{}\n\n", code(&e.name), continued(env_seen[env]));
            if !env_seen[env] {
                let _ = writeln!(s, "{}\n", env_line(e));
            }
            s
        }
        _ => String::new(),
    }
}

/// `1 object added · Helm values: kserve · 2 risks` for an environment heading.
fn env_line(e: &EnvDiff) -> String {
    let mut parts = vec![match e.status {
        EnvStatus::Added => "**New environment.**".to_string(),
        EnvStatus::Removed => "**Environment removed**: every generated file is pruned.".to_string(),
        _ => String::new(),
    }];
    parts.push(format!(
        "{} added, {} changed, {} removed",
        plural(e.objects_added, "object", "objects"),
        e.objects_changed,
        e.objects_removed
    ));
    if !e.values_changed.is_empty() {
        parts.push(format!("Helm values: {}", e.values_changed.iter().map(|r| code(r)).collect::<Vec<_>>().join(", ")));
    }
    if let Some(h) = &e.hydrated {
        parts.push(h.phrase());
    }
    if !e.risks.is_empty() {
        parts.push(format!("⚠️ {}", plural(e.risks.len(), "risk", "risks")));
    }
    parts.retain(|p| !p.is_empty());
    parts.join(" · ")
}

/// A group's name: `` `east` `` or `` `env-0000` and 166 more ``.
fn group_name(report: &Report, group: &[usize]) -> String {
    let first = code(&report.environments[group[0]].name);
    match group.len() {
        1 => first,
        n => format!("{first} and {} more", n - 1),
    }
}

/// Every block, in order: summary rows (one per group of environments with the same changes),
/// the unchanged line, risks, changes shared by several environments, file details of what
/// is left per environment.
fn blocks(report: &Report, fleet: &Fleet) -> Vec<Block> {
    let mut out = Vec::new();
    for g in &fleet.groups {
        let e = &report.environments[g[0]];
        let name = group_name(report, g);
        let name = match e.status {
            EnvStatus::Added => format!("{name} (new)"),
            EnvStatus::Removed => format!("{name} (removed)"),
            _ => name,
        };
        let values = if e.values_changed.is_empty() {
            "—".to_string()
        } else {
            e.values_changed.iter().map(|r| code(r)).collect::<Vec<_>>().join(", ")
        };
        let risks = if e.risks.is_empty() { "—".to_string() } else { format!("⚠️ {}", risk_kinds(e)) };
        let chart = match (&report.summary.hydrated, &e.hydrated) {
            (None, _) => String::new(),
            (Some(_), None) => " — |".to_string(),
            (Some(_), Some(h)) => format!(" {} / {} / {} |", h.objects_added, h.objects_changed, h.objects_removed),
        };
        out.push(Block {
            kind: Kind::Row,
            text: format!(
                "| {name} | {} | {} | {} | {values} |{chart} {risks} |\n",
                e.objects_added, e.objects_changed, e.objects_removed
            ),
        });
    }
    let grouped = fleet.groups.iter().any(|g| g.len() > 1);
    let each = if grouped { "\nA row that names several environments gives the figures of each.\n" } else { "" };
    if report.has_changes() && !report.unchanged.is_empty() {
        let names = if report.unchanged.len() <= NAMES_SHOWN {
            format!("Unchanged: {}.", report.unchanged.iter().map(|n| code(n)).collect::<Vec<_>>().join(", "))
        } else {
            format!("{} other environments are unchanged.", report.unchanged.len())
        };
        out.push(Block { kind: Kind::Unchanged, text: format!("{each}\n{names}\n\n") });
    } else if report.has_changes() {
        out.push(Block { kind: Kind::Unchanged, text: format!("{each}\n") });
    }
    for g in &fleet.groups {
        let e = &report.environments[g[0]];
        for r in &e.risks {
            out.push(Block {
                kind: Kind::Risk,
                text: format!("- {} **{}**: {}\n", group_name(report, g), r.kind.as_str(), escape_inline(&r.message)),
            });
        }
    }
    if report.summary.risks > 0 {
        // A blank line closes the risk list.
        if let Some(last) = out.last_mut() {
            last.text.push('\n');
        }
    }
    for s in &fleet.shared {
        out.push(Block { kind: Kind::Shared, text: shared_line(report, s) });
    }
    if !fleet.shared.is_empty()
        && let Some(last) = out.last_mut()
    {
        last.text.push('\n');
    }
    for (ei, e) in fleet.residual.environments.iter().enumerate() {
        for (fi, f) in e.files.iter().enumerate() {
            out.push(Block { kind: Kind::File { env: ei, file: fi }, text: file_block(e, f, None).0 });
        }
    }
    out
}

/// One shared change: what, where, in which environments.
fn shared_line(report: &Report, s: &Shared) -> String {
    let what = match s.atom.as_change() {
        Some(c) => change(&c),
        None => html(&s.atom.describe()),
    };
    let place = |(file, object): &(String, Option<String>)| match object {
        Some(o) => format!("{} {}", code(file), code(o)),
        None => code(file),
    };
    let places = if s.places.len() == 1 {
        format!("in {}", place(&s.places[0]))
    } else {
        let shown: Vec<String> = s.places.iter().take(PLACES_SHOWN).map(place).collect();
        let more = s.places.len().saturating_sub(PLACES_SHOWN);
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        format!("in {} places: {}{more}", s.places.len(), shown.join(", "))
    };
    let n = s.environments.len();
    let envs = if n == report.summary.changed {
        format!("**every changed environment ({n})**")
    } else {
        let names: Vec<&str> = s.environments.iter().map(|&i| report.environments[i].name.as_str()).collect();
        format!("**{n} environments**: {}", fleet::names_line(&names, RUNS_SHOWN, code))
    };
    format!("- {what} · {places} · {envs}\n")
}

/// `namespace-removed ×2, deployment-mode-switch`: the kinds of an environment's risks.
fn risk_kinds(e: &EnvDiff) -> String {
    let mut kinds: Vec<(&str, usize)> = Vec::new();
    for r in &e.risks {
        match kinds.last_mut() {
            Some((k, n)) if *k == r.kind.as_str() => *n += 1,
            _ => kinds.push((r.kind.as_str(), 1)),
        }
    }
    kinds
        .iter()
        .map(|(k, n)| if *n > 1 { format!("{k} ×{n}") } else { (*k).to_string() })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Markdown-significant characters in free text (risk messages) made literal.
fn escape_inline(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    let mut in_code = false;
    for c in text.chars() {
        match c {
            '`' => {
                in_code = !in_code;
                s.push(c);
            }
            '*' | '_' | '<' | '>' | '[' | ']' | '|' if !in_code => {
                s.push('\\');
                s.push(c);
            }
            _ => s.push(c),
        }
    }
    s
}

/// A block that does not fit an empty part, made to fit `room` bytes, with what was cut.
fn shrink(report: &Report, block: &Block, room: usize) -> (String, Option<String>) {
    match block.kind {
        Kind::File { env, file } => {
            let e = &report.environments[env];
            let (text, cut) = file_block(e, &e.files[file], Some(room));
            (text, cut)
        }
        // Rows and risk lines are short; a budget this small is refused earlier.
        _ => (block.text.clone(), None),
    }
}

/// One changed-document line (and its nested change lines).
fn doc_lines(f: &FileDiff) -> Vec<String> {
    let mut lines = Vec::new();
    for d in &f.documents {
        let (nested, head) = match (&d.object, d.status) {
            (Some(o), DocStatus::Added) => (false, Some(format!("- **added** {}", code(&o.to_string())))),
            (Some(o), DocStatus::Removed) => (false, Some(format!("- **removed** {}", code(&o.to_string())))),
            (Some(o), DocStatus::Changed) => (true, Some(format!("- **changed** {}", code(&o.to_string())))),
            (Some(o), DocStatus::Moved) => (
                true,
                Some(format!(
                    "- **moved** {} from {}",
                    code(&o.to_string()),
                    code(d.moved_from.as_deref().unwrap_or_default())
                )),
            ),
            (None, DocStatus::Added) if f.status == FileStatus::Modified => {
                (false, Some("- **added** a document".into()))
            }
            (None, DocStatus::Removed) if f.status == FileStatus::Modified => {
                (false, Some("- **removed** a document".into()))
            }
            (None, DocStatus::Changed | DocStatus::Moved) => (false, None),
            (None, _) => continue,
        };
        if let Some(h) = head {
            lines.push(h);
        }
        let indent = if nested { "  " } else { "" };
        for c in &d.changes {
            lines.push(format!("{indent}- {}", change(c)));
        }
    }
    lines
}

fn change(c: &Change) -> String {
    let path = if c.path.is_empty() { "(document)".to_string() } else { code(&c.path) };
    let v = |x: &Option<serde_json::Value>| {
        code(&x.as_ref().map(|v| super::show_value(v, VALUE_WIDTH)).unwrap_or_default())
    };
    match (c.op, c.redacted) {
        (ChangeOp::Changed, true) => format!("{path}: secret value changed"),
        (ChangeOp::Added, true) => format!("{path}: secret value added"),
        (ChangeOp::Removed, true) => format!("{path}: secret value removed"),
        (ChangeOp::Changed, false) => format!("{path}: {} → {}", v(&c.old), v(&c.new)),
        (ChangeOp::Added, false) => format!("{path}: added {}", v(&c.new)),
        (ChangeOp::Removed, false) => format!("{path}: removed (was {})", v(&c.old)),
    }
}

/// A fenced `diff` block of the file's hunks.
fn hunk_block(f: &FileDiff) -> (String, usize) {
    let mut lines = 0;
    let mut body = String::new();
    for h in &f.hunks {
        body.push_str(&h.header);
        body.push('\n');
        for l in &h.lines {
            body.push_str(l);
            body.push('\n');
            lines += 1;
        }
    }
    let longest = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    (format!("{fence}diff\n{body}{fence}\n\n"), lines)
}

/// The `<summary>` line of a file.
fn summary_line(f: &FileDiff) -> String {
    let mut s = format!("<code>{}</code>", html(&f.path));
    if let Some(label) = super::text::file_label(f) {
        let _ = write!(s, " · {}", html(&label));
    }
    match f.status {
        FileStatus::Added => s.push_str(" · <b>added</b>"),
        FileStatus::Removed => s.push_str(" · <b>removed</b>"),
        FileStatus::Modified => {}
    }
    let count = |st: DocStatus| f.documents.iter().filter(|d| d.object.is_some() && d.status == st).count();
    let fields: usize = f.documents.iter().map(|d| d.changes.len()).sum();
    let mut what = Vec::new();
    for (st, word) in [
        (DocStatus::Added, "added"),
        (DocStatus::Changed, "changed"),
        (DocStatus::Removed, "removed"),
        (DocStatus::Moved, "moved"),
    ] {
        let n = count(st);
        if n > 0 {
            what.push(format!("{} {word}", plural(n, "object", "objects")));
        }
    }
    if fields > 0 {
        what.push(plural(fields, "field change", "field changes"));
    }
    if !what.is_empty() {
        let _ = write!(s, " · {}", what.join(", "));
    }
    s
}

/// The `<details>` block of one file; with a limit, hunks and then change lines are cut to
/// fit, and the second value says what was cut.
fn file_block(e: &EnvDiff, f: &FileDiff, limit: Option<usize>) -> (String, Option<String>) {
    let head = format!("<details><summary>{}</summary>\n\n", summary_line(f));
    let tail = "</details>\n\n";
    let mut notes = String::new();
    if let Some(n) = &f.note {
        let _ = writeln!(notes, "_{}_\n", escape_inline(n));
    }
    match f.hunks_omitted {
        Some(HunksOmitted::Secret) => {
            notes.push_str("_Holds a Secret: values are never shown, only which keys change._\n\n")
        }
        Some(HunksOmitted::Size) if f.kind == FileKind::Hydrated && f.status == FileStatus::Modified => {
            notes.push_str("_Line diff too long to show; the field changes say it all._\n\n");
        }
        Some(HunksOmitted::Size) => notes.push_str("_File too long to show in full._\n\n"),
        Some(HunksOmitted::Shared) => {
            notes.push_str("_More changes of this file are the same in several environments: shown once above._\n\n")
        }
        _ => {}
    }
    let lines = doc_lines(f);
    if lines.is_empty() && f.status == FileStatus::Removed && notes.is_empty() {
        notes.push_str("_Removed: `kgen render` prunes this file._\n\n");
    }
    let list = if lines.is_empty() { String::new() } else { format!("{}\n\n", lines.join("\n")) };
    let (hunks, hunk_lines) = if f.hunks.is_empty() { (String::new(), 0) } else { hunk_block(f) };
    let full = format!("{head}{notes}{list}{hunks}{tail}");
    let Some(limit) = limit else { return (full, None) };
    if full.len() <= limit {
        return (full, None);
    }
    let local = format!("run {} locally for everything", code(&format!("kgen diff {}", e.name)));
    let where_ = format!("{} {}", code(&e.name), code(&f.path));
    // Without hunks.
    let cut_hunks = format!("_Diff hunks cut ({}); {local}._\n\n", plural(hunk_lines, "line", "lines"));
    let without = format!("{head}{notes}{list}{cut_hunks}{tail}");
    if without.len() <= limit && hunk_lines > 0 {
        return (without, Some(format!("hunks of {where_} ({})", plural(hunk_lines, "line", "lines"))));
    }
    // Keep as many change lines as fit.
    let fixed = head.len() + notes.len() + tail.len() + cut_hunks.len() + 120 + local.len();
    let mut kept = 0;
    let mut size = 0;
    for l in &lines {
        if fixed + size + l.len() + 1 > limit {
            break;
        }
        size += l.len() + 1;
        kept += 1;
    }
    let dropped = lines.len() - kept;
    let mut body = lines[..kept].join("\n");
    let _ = write!(body, "\n- _… {} cut; {local}._\n\n", plural(dropped, "more line", "more lines"));
    let hunk_note = if hunk_lines > 0 { cut_hunks } else { String::new() };
    let text = format!("{head}{notes}{body}{hunk_note}{tail}");
    let what = if hunk_lines > 0 {
        format!("hunks and {dropped} of {} change lines of {where_}", lines.len())
    } else {
        format!("{dropped} of {} change lines of {where_}", lines.len())
    };
    (text, Some(what))
}

/// The title and base line of the first part.
fn title(report: &Report) -> String {
    let s = &report.summary;
    let base = match (&report.base.source, &report.base.git_ref) {
        (super::BaseSource::Git, Some(r)) => {
            format!("the render committed at {} ({})", code(r), code(&format!("{}/", report.base.path)))
        }
        _ => format!("{} on disk", code(&format!("{}/", report.base.path))),
    };
    if !report.has_changes() {
        let all = if s.environments == 1 {
            "The environment renders".to_string()
        } else {
            format!("All {} environments render", s.environments)
        };
        return format!("## kgen diff: no changes\n\n{all} exactly as in {base}.\n\n");
    }
    let risk =
        if s.risks > 0 { format!(" · ⚠️ {}", plural(s.risks, "risk", "risks")) } else { " · no risks".into() };
    format!(
        "## kgen diff: {} of {} change{risk}\n\nThe environments rendered from this change, compared with {base}.\n\n",
        s.changed,
        plural(s.environments, "environment", "environments")
    )
}

/// `a–b of n` for a list of consecutive indices.
fn range(ix: &[usize], total: usize) -> String {
    match (ix.first(), ix.last()) {
        (Some(a), Some(b)) if a == b => format!("{} of {total}", a + 1),
        (Some(a), Some(b)) => format!("{}–{} of {total}", a + 1, b + 1),
        _ => String::new(),
    }
}

/// The header of a part: the marker, the title (first part), what it holds and what was cut.
fn header(report: &Report, p: &Part, n: usize, total: usize, rows: usize, risks: usize) -> String {
    let mut s = format!("{MARKER}\n");
    if n == 1 {
        s.push_str(&title(report));
    } else {
        let _ = write!(s, "## kgen diff (part {n} of {total})\n\n");
    }
    if total == 1 && p.cuts.is_empty() {
        return s;
    }
    let mut holds = Vec::new();
    if !p.rows.is_empty() {
        if p.rows.len() == rows {
            holds.push("the summary table".to_string());
        } else {
            holds.push(format!("summary rows {}", range(&p.rows, rows)));
        }
    }
    if !p.risks.is_empty() {
        if p.risks.len() == risks {
            holds.push("the risks".to_string());
        } else {
            holds.push(format!("risks {}", range(&p.risks, risks)));
        }
    }
    if p.shared > 0 {
        holds.push(plural(p.shared, "change shared by several environments", "changes shared by several environments"));
    }
    // Details, per environment.
    let mut envs: Vec<(usize, Vec<usize>)> = Vec::new();
    for &(e, f) in &p.files {
        match envs.last_mut() {
            Some((le, fs)) if *le == e => fs.push(f),
            _ => envs.push((e, vec![f])),
        }
    }
    if !envs.is_empty() {
        let name = |e: usize| code(&report.environments[e].name);
        let described: Vec<String> = envs
            .iter()
            .map(|(e, fs)| {
                let all = report.environments[*e].files.len();
                if fs.len() == all {
                    format!("{} ({})", name(*e), plural(all, "file", "files"))
                } else if fs.len() == 1 {
                    format!("{} (file {} of {all})", name(*e), fs[0] + 1)
                } else {
                    format!("{} (files {})", name(*e), range(fs, all))
                }
            })
            .collect();
        if described.len() <= 6 {
            holds.push(format!("details of {}", described.join(", ")));
        } else {
            holds.push(format!(
                "details of {} environments ({} … {})",
                described.len(),
                name(envs[0].0),
                name(envs[envs.len() - 1].0)
            ));
        }
    }
    if holds.is_empty() {
        holds.push("nothing else".into());
    }
    let cuts = if p.cuts.is_empty() {
        "nothing".to_string()
    } else {
        let shown: Vec<&str> = p.cuts.iter().take(3).map(String::as_str).collect();
        let more = p.cuts.len().saturating_sub(3);
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        format!("{}{more} (run `kgen diff` locally for everything)", shown.join("; "))
    };
    let mut line = format!("> **Part {n} of {total}.** Holds {}. Cut: {cuts}.", holds.join("; "));
    if n < total {
        line.push_str(" Continued in the next comment.");
    }
    // Keep the header inside its reserve whatever the names.
    let room = HEADER_RESERVE.saturating_sub(s.len() + 4);
    if line.len() > room {
        let mut end = room.saturating_sub(2);
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push('…');
    }
    let _ = write!(s, "{line}\n\n");
    s
}
