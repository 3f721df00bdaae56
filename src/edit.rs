//! In-place edits of a YAML file's text (`kgen upgrade --write`): set a scalar or remove a key
//! at a path of mapping keys, changing only the bytes of that scalar or the lines of that key,
//! so every comment, blank line, quoting style and key order elsewhere stays as written. New
//! keys go at the end of their mapping (a new top-level mapping at the end of the file), in the
//! mapping's own style (block or flow) and indentation.
//!
//! Positions come from the same YAML parser kgen reads environment files with
//! (`serde_saphyr`'s `granit_parser`, byte offsets of every node), so what is edited is exactly
//! what kgen read.

use serde_json::Value;
use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, StructureStyle};

/// Why an edit cannot be made in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditError(pub String);

impl std::fmt::Display for EditError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One change: a scalar set at a path of keys, or a key removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Set the string scalar at the path, creating the mappings on the way.
    Set(Vec<String>, String),
    /// Remove the key at the path, and then each mapping on the way that it leaves empty (the
    /// top level excepted).
    Remove(Vec<String>),
}

/// Applies edits in order.
pub fn apply(text: &str, edits: &[Edit]) -> Result<String, EditError> {
    let mut out = text.to_string();
    for e in edits {
        out = match e {
            Edit::Set(path, value) => set(&out, path, value)?,
            Edit::Remove(path) => remove(&out, path)?,
        };
    }
    Ok(out)
}

/// What the same edits do to the parsed document: the model the edited text must read as.
pub fn apply_to_value(doc: &mut Value, edits: &[Edit]) -> Result<(), EditError> {
    for e in edits {
        match e {
            Edit::Set(path, value) => {
                let mut at = &mut *doc;
                for (i, k) in path.iter().enumerate() {
                    if at.is_null() {
                        *at = Value::Object(Default::default());
                    }
                    let Value::Object(m) = at else {
                        return Err(EditError(format!("`{}` is not a mapping", path[..i].join("."))));
                    };
                    at = m.entry(k.clone()).or_insert(Value::Null);
                }
                if at.is_object() || at.is_array() {
                    return Err(EditError(format!("`{}` is not a scalar", path.join("."))));
                }
                *at = Value::String(value.clone());
            }
            Edit::Remove(path) => {
                fn rm(v: &mut Value, path: &[String]) -> bool {
                    let Value::Object(m) = v else { return false };
                    if path.len() == 1 {
                        m.shift_remove(&path[0]);
                    } else if let Some(child) = m.get_mut(&path[0])
                        && rm(child, &path[1..])
                        && child.as_object().is_some_and(|c| c.is_empty())
                    {
                        m.shift_remove(&path[0]);
                    }
                    true
                }
                rm(doc, path);
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The document as nodes with byte ranges.

#[derive(Debug)]
enum Kind {
    Scalar { style: ScalarStyle, value: String },
    Map { flow: bool, entries: Vec<Entry> },
    Seq,
    Alias,
}

#[derive(Debug)]
struct Node {
    kind: Kind,
    /// Byte range: a scalar's own text (quotes included), a flow collection's brackets, a
    /// block mapping from its first key to the end of its last value.
    start: usize,
    end: usize,
}

#[derive(Debug)]
struct Entry {
    key: String,
    key_start: usize,
    value: Node,
}

impl Node {
    fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { style: ScalarStyle::Plain, value } if matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }
}

fn parse(text: &str) -> Result<Node, EditError> {
    let mut events = Vec::new();
    for ev in Parser::new_from_str(text) {
        let (ev, span) = ev.map_err(|e| EditError(format!("the file does not parse: {e}")))?;
        let (s, e) = (span.start.byte_offset().unwrap_or(0), span.end.byte_offset().unwrap_or(0));
        events.push((ev, s, e));
    }
    let Some(start) = events.iter().position(|(ev, ..)| matches!(ev, Event::DocumentStart(..))) else {
        // Comments only: an empty mapping, new keys at the end.
        return Ok(Node { kind: Kind::Map { flow: false, entries: Vec::new() }, start: text.len(), end: text.len() });
    };
    let mut i = start + 1;
    let root = node(&events, &mut i)?;
    if !matches!(root.kind, Kind::Map { .. }) {
        return Err(EditError("the file is not a mapping".into()));
    }
    Ok(root)
}

fn node(events: &[(Event<'_>, usize, usize)], i: &mut usize) -> Result<Node, EditError> {
    let (ev, s, e) = events.get(*i).ok_or_else(|| EditError("unexpected end of the document".into()))?;
    *i += 1;
    match ev {
        Event::Scalar(value, style, ..) => {
            Ok(Node { kind: Kind::Scalar { style: *style, value: value.to_string() }, start: *s, end: *e })
        }
        Event::Alias(..) => Ok(Node { kind: Kind::Alias, start: *s, end: *e }),
        Event::SequenceStart(..) => {
            let mut end = *e;
            loop {
                match events.get(*i) {
                    Some((Event::SequenceEnd, _, se)) => {
                        *i += 1;
                        return Ok(Node { kind: Kind::Seq, start: *s, end: end.max(*se) });
                    }
                    Some(_) => end = node(events, i)?.end,
                    None => return Err(EditError("unterminated sequence".into())),
                }
            }
        }
        Event::MappingStart(style, ..) => {
            let flow = *style == StructureStyle::Flow;
            let mut entries = Vec::new();
            loop {
                match events.get(*i) {
                    Some((Event::MappingEnd, _, me)) => {
                        *i += 1;
                        let end = if flow { *me } else { entries.last().map_or(*e, |x: &Entry| x.value.end) };
                        let start = if flow { *s } else { entries.first().map_or(*s, |x: &Entry| x.key_start) };
                        return Ok(Node { kind: Kind::Map { flow, entries }, start, end });
                    }
                    Some((Event::Scalar(k, ..), ks, _)) => {
                        let (key, key_start) = (k.to_string(), *ks);
                        *i += 1;
                        let value = node(events, i)?;
                        entries.push(Entry { key, key_start, value });
                    }
                    Some(_) => return Err(EditError("a mapping key that is not a scalar".into())),
                    None => return Err(EditError("unterminated mapping".into())),
                }
            }
        }
        other => Err(EditError(format!("unexpected YAML event {other:?}"))),
    }
}

// ---------------------------------------------------------------------------------------------
// Text helpers.

fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |p| p + 1)
}

/// The offset just past the end of the line holding `at` (past its newline, or the end).
fn line_end(text: &str, at: usize) -> usize {
    text[at..].find('\n').map_or(text.len(), |p| at + p + 1)
}

fn column(text: &str, at: usize) -> usize {
    text[line_start(text, at)..at].chars().count()
}

/// How far the file indents a nested block mapping (2 when it has none).
fn indent_step(text: &str, root: &Node) -> usize {
    fn walk(text: &str, n: &Node, parent_col: Option<usize>, best: &mut Option<usize>) {
        if let Kind::Map { flow: false, entries } = &n.kind
            && let Some(first) = entries.first()
        {
            let col = column(text, first.key_start);
            if let Some(p) = parent_col
                && col > p
            {
                *best = Some(best.map_or(col - p, |b| b.min(col - p)));
            }
            for e in entries {
                walk(text, &e.value, Some(col), best);
            }
        }
    }
    let mut best = None;
    walk(text, root, None, &mut best);
    best.unwrap_or(2)
}

fn plain_key(k: &str) -> String {
    let simple = !k.is_empty()
        && k.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if simple { k.to_string() } else { scalar(k) }
}

/// A string as a one-line YAML scalar (quoted when YAML would read it as something else).
/// Versions with two dots (`1.24.6`, `v0.16.0`) are plain: no YAML version reads them as
/// anything but a string.
fn scalar(v: &str) -> String {
    let digits = v.strip_prefix('v').unwrap_or(v);
    let parts: Vec<&str> = digits.split('.').collect();
    if parts.len() >= 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) {
        return v.to_string();
    }
    crate::yaml::to_inline_string(&Value::String(v.to_string())).unwrap_or_else(|_| {
        serde_json::to_string(v).expect("a string serialises") // JSON strings are YAML double-quoted scalars
    })
}

/// `v` in the style `style` where that style can hold it on one line.
fn scalar_like(v: &str, style: ScalarStyle) -> String {
    let one_line = !v.chars().any(|c| c.is_control() || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}'));
    match style {
        ScalarStyle::DoubleQuoted => serde_json::to_string(v).expect("a string serialises"),
        ScalarStyle::SingleQuoted if one_line => format!("'{}'", v.replace('\'', "''")),
        _ => scalar(v),
    }
}

/// Block lines for `rest` (keys, the last holding `value`) at column `col`, each ending in `\n`.
fn block_lines(rest: &[String], value: &str, col: usize, step: usize) -> String {
    let mut out = String::new();
    for (i, k) in rest.iter().enumerate() {
        let pad = " ".repeat(col + i * step);
        if i + 1 == rest.len() {
            out.push_str(&format!("{pad}{}: {}\n", plain_key(k), scalar(value)));
        } else {
            out.push_str(&format!("{pad}{}:\n", plain_key(k)));
        }
    }
    out
}

/// `k: value` or `k: {k2: value}` for a flow mapping.
fn flow_entry(rest: &[String], value: &str) -> String {
    match rest {
        [k] => format!("{}: {}", plain_key(k), scalar(value)),
        [k, more @ ..] => format!("{}: {{{}}}", plain_key(k), flow_entry(more, value)),
        [] => String::new(),
    }
}

fn splice(text: &str, start: usize, end: usize, with: &str) -> String {
    format!("{}{with}{}", &text[..start], &text[end..])
}

// ---------------------------------------------------------------------------------------------
// Set and remove.

/// Sets the string scalar at `path`, creating the mappings on the way.
pub fn set(text: &str, path: &[String], value: &str) -> Result<String, EditError> {
    if path.is_empty() {
        return Err(EditError("an empty path".into()));
    }
    let root = parse(text)?;
    let step = indent_step(text, &root);
    let mut map = &root;
    let mut depth_col = 0usize;
    for (i, k) in path.iter().enumerate() {
        let Kind::Map { flow, entries } = &map.kind else {
            return Err(EditError(format!("`{}` is not a mapping", path[..i].join("."))));
        };
        let last = i + 1 == path.len();
        let found = entries.iter().find(|e| &e.key == k);
        match found {
            Some(e) if last => {
                return match &e.value.kind {
                    Kind::Scalar { style, .. } if !e.value.is_null() || e.value.end > e.value.start => {
                        Ok(splice(text, e.value.start, e.value.end, &scalar_like(value, *style)))
                    }
                    Kind::Scalar { .. } => {
                        // `key:` with nothing after it: write the value after the colon.
                        let colon = colon_after(text, e)?;
                        Ok(splice(text, colon + 1, colon + 1, &format!(" {}", scalar(value))))
                    }
                    _ => Err(EditError(format!("`{}` is not a scalar", path.join(".")))),
                };
            }
            Some(e) if e.value.is_null() && matches!(e.value.kind, Kind::Scalar { .. }) => {
                // `key:` (null) on the way: it becomes the mapping of the rest.
                let colon = colon_after(text, e)?;
                let col = if *flow { 0 } else { column(text, e.key_start) };
                let lines = block_lines(&path[i + 1..], value, col + step, step);
                let insert = if *flow {
                    format!(" {{{}}}", flow_entry(&path[i + 1..], value))
                } else {
                    format!("\n{}", lines.trim_end_matches('\n'))
                };
                let end = if e.value.end > e.value.start { e.value.end } else { colon + 1 };
                return Ok(splice(text, colon + 1, end, &insert));
            }
            Some(e) => {
                if !*flow {
                    depth_col = column(text, e.key_start);
                }
                map = &e.value;
            }
            None => {
                let rest = &path[i..];
                if *flow {
                    // Before the closing brace: `{a: 1}` → `{a: 1, k: v}`; `{}` → `{k: v}`.
                    let close = map.end - 1;
                    let sep = if entries.is_empty() { "" } else { ", " };
                    let head = text[..close].trim_end().len();
                    return Ok(splice(text, head, head, &format!("{sep}{}", flow_entry(rest, value))));
                }
                let col =
                    entries.first().map_or(if i == 0 { 0 } else { depth_col + step }, |e| column(text, e.key_start));
                let lines = block_lines(rest, value, col, step);
                if i == 0 {
                    // A new top-level key goes at the end of the file.
                    let sep = if text.is_empty() || text.ends_with('\n') { "" } else { "\n" };
                    return Ok(format!("{text}{sep}{lines}"));
                }
                let last_end = entries.last().map_or(map.end, |e| e.value.end);
                let at = if column(text, last_end) == 0 && text[..last_end].ends_with('\n') {
                    last_end
                } else {
                    line_end(text, last_end)
                };
                let sep = if at > 0 && !text[..at].ends_with('\n') { "\n" } else { "" };
                return Ok(splice(text, at, at, &format!("{sep}{lines}")));
            }
        }
    }
    unreachable!("the loop returns at the last key")
}

/// The `:` after an entry's key.
fn colon_after(text: &str, e: &Entry) -> Result<usize, EditError> {
    let from = e.key_start;
    // The key itself may be quoted and hold a colon: skip its text first.
    let key_len = if text[from..].starts_with(['"', '\'']) {
        let q = text[from..].chars().next().expect("a quote");
        text[from + 1..].find(q).map_or(0, |p| p + 2)
    } else {
        e.key.len()
    };
    text[from + key_len..]
        .find(':')
        .map(|p| from + key_len + p)
        .ok_or_else(|| EditError(format!("no `:` after `{}`", e.key)))
}

/// Removes the key at `path` (nothing when it is absent), then each mapping on the way that
/// this leaves empty, except the top level.
pub fn remove(text: &str, path: &[String]) -> Result<String, EditError> {
    let mut path = path.to_vec();
    let mut text = text.to_string();
    while !path.is_empty() {
        let root = parse(&text)?;
        let mut map = &root;
        for k in &path[..path.len() - 1] {
            // Nothing to remove under a scalar.
            let Kind::Map { entries, .. } = &map.kind else {
                return Ok(text);
            };
            match entries.iter().find(|e| &e.key == k) {
                Some(e) => map = &e.value,
                None => return Ok(text),
            }
        }
        let Kind::Map { flow, entries } = &map.kind else {
            return Ok(text);
        };
        let Some(idx) = entries.iter().position(|e| Some(&e.key) == path.last()) else {
            return Ok(text);
        };
        let e = &entries[idx];
        text = if *flow {
            let (start, end) = if let Some(next) = entries.get(idx + 1) {
                (e.key_start, next.key_start)
            } else if idx > 0 {
                (entries[idx - 1].value.end, e.value.end)
            } else {
                (e.key_start, e.value.end)
            };
            splice(&text, start, end, "")
        } else {
            let start = line_start(&text, e.key_start);
            if text[start..e.key_start].trim() != "" {
                return Err(EditError(format!("`{}` does not start its line", path.join("."))));
            }
            let end_at = if e.value.end > e.value.start { e.value.end } else { e.key_start };
            let end = if column(&text, end_at) == 0 && end_at > e.key_start { end_at } else { line_end(&text, end_at) };
            // The comment lines and blank lines of a nested value stay.
            let kept: String = text[start..end]
                .split_inclusive('\n')
                .skip(1)
                .filter(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
                .collect();
            splice(&text, start, end, &kept)
        };
        let emptied = entries.len() == 1;
        path.pop();
        if !emptied {
            break;
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<String> {
        s.split('.').map(str::to_string).collect()
    }

    fn read(t: &str) -> Value {
        crate::yaml::from_str(t, crate::yaml::Budget::EnvironmentFile).unwrap()
    }

    #[test]
    fn a_scalar_changes_in_place_keeping_its_quotes_and_comment() {
        let t = "# head\nkserve:\n  version: v0.15.2   # pinned\ncluster: {kubernetesVersion: \"1.30\"}\n";
        let t = set(t, &p("kserve.version"), "v0.16.0").unwrap();
        assert_eq!(t, "# head\nkserve:\n  version: v0.16.0   # pinned\ncluster: {kubernetesVersion: \"1.30\"}\n");
        let t = set(&t, &p("cluster.kubernetesVersion"), "1.31").unwrap();
        assert!(t.ends_with("cluster: {kubernetesVersion: \"1.31\"}\n"), "{t}");
    }

    #[test]
    fn a_missing_key_goes_at_the_end_of_its_mapping_or_of_the_file() {
        let t = "kserve:\n    version: v0.15.2\n\n# gitops\ngitops: {engine: flux}\n";
        let t1 = set(t, &p("kserve.ingressDomain"), "x.example.com").unwrap();
        assert_eq!(
            t1,
            "kserve:\n    version: v0.15.2\n    ingressDomain: x.example.com\n\n# gitops\ngitops: {engine: flux}\n"
        );
        let t2 = set(t, &p("versions.istio"), "1.24.6").unwrap();
        assert_eq!(t2, format!("{t}versions:\n    istio: 1.24.6\n"));
        let t3 = set(t, &p("gitops.revision"), "main").unwrap();
        assert!(t3.ends_with("gitops: {engine: flux, revision: main}\n"), "{t3}");
        let t4 = set("a: 1", &p("b.c"), "yes").unwrap();
        assert_eq!(t4, "a: 1\nb:\n  c: \"yes\"\n");
        assert_eq!(read(&t4)["b"]["c"], "yes");
    }

    #[test]
    fn removing_the_last_key_removes_its_emptied_mapping_but_not_comments() {
        let t = "a: 1\nversions:\n  # held back\n  istio: 1.23.2  # why\n\nb: 2\n";
        let t = remove(t, &p("versions.istio")).unwrap();
        assert_eq!(t, "a: 1\n  # held back\n\nb: 2\n");
        let t = "versions: {istio: 1.23.2, certManager: v1.16.1}\nb: 2\n";
        assert_eq!(remove(t, &p("versions.istio")).unwrap(), "versions: {certManager: v1.16.1}\nb: 2\n");
        assert_eq!(remove(t, &p("versions.certManager")).unwrap(), "versions: {istio: 1.23.2}\nb: 2\n");
        let t = "versions: {istio: 1.23.2}\nb: 2\n";
        assert_eq!(remove(t, &p("versions.istio")).unwrap(), "b: 2\n");
        assert_eq!(remove(t, &p("versions.nothing")).unwrap(), t);
    }

    #[test]
    fn a_null_on_the_way_becomes_a_mapping() {
        let t = "versions:\nb: 2\n";
        let t = set(t, &p("versions.istio"), "1.24.6").unwrap();
        assert_eq!(t, "versions:\n  istio: 1.24.6\nb: 2\n");
    }
}
