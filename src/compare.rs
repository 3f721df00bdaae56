//! Comparing a fresh render with the previous one. Pure: the previous tree is read by the
//! command layer through [`crate::previous`] and handed in.

use std::collections::BTreeMap;

pub use crate::previous::Previous;
use crate::render::Rendered;

/// How one file changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// New file.
    Added,
    /// Content differs (a stale or hand-edited render).
    Modified,
    /// Generated before, not any more: pruned by `render`.
    Removed,
}

/// The changes between the previous render and a fresh one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changeset {
    /// Changed paths with their status, in path order.
    pub files: BTreeMap<String, Status>,
}

impl Changeset {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Count of a status.
    pub fn count(&self, s: Status) -> usize {
        self.files.values().filter(|&&x| x == s).count()
    }

    /// `2 added, 1 modified, 0 removed`.
    pub fn summary(&self) -> String {
        format!(
            "{} added, {} modified, {} removed",
            self.count(Status::Added),
            self.count(Status::Modified),
            self.count(Status::Removed)
        )
    }
}

/// Compares a fresh render with what is on disk.
pub fn compare(new: &Rendered, old: &Previous) -> Changeset {
    crate::pipeline::count("compare", &new.env);
    let mut files = BTreeMap::new();
    for (path, content) in &new.files {
        match old.contents.get(path) {
            None => {
                files.insert(path.clone(), Status::Added);
            }
            Some(bytes) if bytes.as_slice() != content.as_bytes() => {
                files.insert(path.clone(), Status::Modified);
            }
            Some(_) => {}
        }
    }
    for path in &old.generated {
        if !new.files.contains_key(path) && old.contents.contains_key(path) {
            files.insert(path.clone(), Status::Removed);
        }
    }
    Changeset { files }
}

/// A unified diff of one file, for `render --check` and `render --diff`. Control characters in
/// either side (a hand-edited file can hold any) are shown escaped, as in every message.
pub fn unified(path: &str, old: Option<&[u8]>, new: Option<&str>) -> String {
    let old_text = old.map(String::from_utf8_lossy).unwrap_or_default();
    let old_text = crate::diag::escape_with(&old_text, &['\n', '\t']);
    let new_text = crate::diag::escape_with(new.unwrap_or_default(), &['\n', '\t']);
    let diff = similar::TextDiff::configure()
        .algorithm(similar::Algorithm::Patience)
        .timeout(std::time::Duration::from_secs(2))
        .diff_lines(old_text.as_ref(), new_text.as_ref());
    let a = if old.is_some() { format!("a/{path}") } else { "/dev/null".into() };
    let b = if new.is_some() { format!("b/{path}") } else { "/dev/null".into() };
    diff.unified_diff().context_radius(3).header(&a, &b).to_string()
}

/// A unified diff coloured as `git diff` does: headers bold, hunk headers cyan, removed lines
/// red, added lines green. The text was escaped before (see [`unified`]), so it holds no escape
/// sequence of its own.
pub fn paint_unified(diff: &str) -> String {
    let mut out = String::with_capacity(diff.len() + diff.len() / 8);
    for line in diff.split_inclusive('\n') {
        let (body, nl) = line.strip_suffix('\n').map_or((line, ""), |b| (b, "\n"));
        let style = if body.starts_with("+++") || body.starts_with("---") {
            Some("1")
        } else if body.starts_with("@@") {
            Some("36")
        } else if body.starts_with('+') {
            Some("32")
        } else if body.starts_with('-') {
            Some("31")
        } else {
            None
        };
        match style {
            Some(s) => out.push_str(&format!("\x1b[{s}m{body}\x1b[0m{nl}")),
            None => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(files: &[(&str, &str)]) -> Rendered {
        Rendered { env: "e".into(), files: files.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect() }
    }

    #[test]
    fn unified_diffs_escape_control_characters() {
        let d = unified("v.yaml", Some(b"a: 1\nb: \x1b[2J\n"), Some("a: 1\nb: 2\n"));
        assert!(!d.contains('\u{1b}'), "{d}");
        assert!(d.contains("-b: \\u{1b}[2J\n+b: 2\n"), "{d}");
    }

    #[test]
    fn statuses() {
        let new = rendered(&[("a", "1"), ("b", "2"), ("c", "3")]);
        let old = Previous {
            generated: ["a", "b", "d", "e"].iter().map(|s| s.to_string()).collect(),
            contents: [("a", "1"), ("b", "x"), ("d", "4")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
        };
        let c = compare(&new, &old);
        assert_eq!(
            c.files.into_iter().collect::<Vec<_>>(),
            vec![("b".into(), Status::Modified), ("c".into(), Status::Added), ("d".into(), Status::Removed)]
        );
    }
}
