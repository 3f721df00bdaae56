//! Fleet review: one change made in a shared layer shows up in hundreds of environments. Here
//! each change is reduced to an *atom* (a field change, an object or file added or removed, a
//! text edit) at a *place* (file and object), with the environment's own name replaced by
//! `<env>` so that `argocd/application-east-kserve.yaml` and `…-west-kserve.yaml` are the same
//! place. Atoms found in two or more environments at the same places are shown once; what is
//! left is shown per environment, as before.

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::Serialize;

use super::{Change, ChangeOp, DocStatus, EnvDiff, FileDiff, FileStatus, Report};

/// What stands for an environment's name in shared changes.
pub const PLACEHOLDER: &str = "<env>";

/// Environments whose changes are the same apart from their own names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// The environments, in natural order; the first stands for all in summaries.
    pub environments: Vec<String>,
}

/// One change found in several environments at the same places.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shared {
    /// The change itself.
    pub atom: Atom,
    /// Where, with `<env>` for the environment's name: (file, object), in file order.
    pub places: Vec<(String, Option<String>)>,
    /// Indices into `report.environments`, in report order.
    pub environments: Vec<usize>,
}

/// A change without its place.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Atom {
    /// A field of a document: path, how, old and new value (JSON, `<env>` substituted).
    Field { path: String, op: ChangeOp, old: Option<String>, new: Option<String>, redacted: bool },
    /// A whole document added, removed or moved (from the file named).
    Document { status: DocStatus, from: Option<String> },
    /// A file without documents (text) changed: its changed lines.
    Text { status: FileStatus, lines: Vec<String> },
}

impl Atom {
    /// A field atom as a [`Change`] (values parsed back), for printing like any change.
    pub fn as_change(&self) -> Option<Change> {
        let parse = |v: &Option<String>| {
            v.as_ref().map(|t| serde_json::from_str(t).unwrap_or(serde_json::Value::String(t.clone())))
        };
        match self {
            Atom::Field { path, op, old, new, redacted } => {
                Some(Change { path: path.clone(), op: *op, old: parse(old), new: parse(new), redacted: *redacted })
            }
            _ => None,
        }
    }

    /// What happens, in words, for atoms that are not field changes.
    pub fn describe(&self) -> String {
        match self {
            Atom::Field { path, .. } => path.clone(),
            Atom::Document { status: DocStatus::Added, .. } => "object added".into(),
            Atom::Document { status: DocStatus::Removed, .. } => "object removed".into(),
            Atom::Document { from, .. } => format!("object moved from {}", from.as_deref().unwrap_or("another file")),
            Atom::Text { status: FileStatus::Added, .. } => "file added".into(),
            Atom::Text { status: FileStatus::Removed, .. } => "file removed".into(),
            Atom::Text { lines, .. } => format!("text changed ({} lines)", lines.len()),
        }
    }
}

/// The fleet view of a report.
pub struct Fleet {
    /// Changes found in two or more environments, by first appearance.
    pub shared: Vec<Shared>,
    /// Environments with the same changes (indices into `report.environments`), by first member.
    pub groups: Vec<Vec<usize>>,
    /// The report with the shared changes taken out of every environment: what remains to show
    /// per environment (counts, risks and statuses unchanged).
    pub residual: Report,
}

type Place = (String, Option<String>);

/// One environment's atoms at their places, in file order.
fn atoms(e: &EnvDiff) -> Vec<(Atom, Place)> {
    let n = |s: &str| normalize(s, &e.name);
    let mut out = Vec::new();
    for f in &e.files {
        let file = n(&f.path);
        if f.documents.is_empty() {
            let lines =
                f.hunks.iter().flat_map(|h| h.lines.iter()).filter(|l| !l.starts_with(' ')).map(|l| n(l)).collect();
            out.push((Atom::Text { status: f.status, lines }, (file, None)));
            continue;
        }
        for d in &f.documents {
            let object = d.object.as_ref().map(|o| n(&o.to_string()));
            let place = (file.clone(), object);
            match d.status {
                DocStatus::Added | DocStatus::Removed => {
                    out.push((Atom::Document { status: d.status, from: None }, place));
                }
                DocStatus::Moved if d.changes.is_empty() => {
                    out.push((Atom::Document { status: d.status, from: d.moved_from.as_deref().map(n) }, place));
                }
                DocStatus::Moved | DocStatus::Changed => {
                    if d.status == DocStatus::Moved {
                        out.push((
                            Atom::Document { status: d.status, from: d.moved_from.as_deref().map(n) },
                            place.clone(),
                        ));
                    }
                    for c in &d.changes {
                        out.push((field(c, &e.name), place.clone()));
                    }
                }
            }
        }
    }
    out
}

fn field(c: &Change, env: &str) -> Atom {
    let v = |x: &Option<serde_json::Value>| x.as_ref().map(|v| normalize(&v.to_string(), env));
    Atom::Field { path: normalize(&c.path, env), op: c.op, old: v(&c.old), new: v(&c.new), redacted: c.redacted }
}

/// `text` with every whole occurrence of `env` (not inside a longer name: neighbours are not
/// letters or digits) replaced by [`PLACEHOLDER`].
pub fn normalize(text: &str, env: &str) -> String {
    if env.is_empty() || !text.contains(env) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut prev: Option<char> = None;
    while let Some(at) = rest.find(env) {
        let before = rest[..at].chars().next_back().or(prev);
        let after = rest[at + env.len()..].chars().next();
        let bounded = |c: Option<char>| c.is_none_or(|c| !c.is_ascii_alphanumeric());
        out.push_str(&rest[..at]);
        if bounded(before) && bounded(after) {
            out.push_str(PLACEHOLDER);
        } else {
            out.push_str(env);
        }
        prev = env.chars().next_back();
        rest = &rest[at + env.len()..];
    }
    out.push_str(rest);
    out
}

/// One environment's atoms with their places there, by first appearance.
fn keyed(list: &[(Atom, Place)]) -> Vec<(Atom, Vec<Place>)> {
    let mut by_atom: Vec<(Atom, Vec<Place>)> = Vec::new();
    let mut index: HashMap<&Atom, usize> = HashMap::new();
    for (atom, place) in list {
        match index.get(atom) {
            Some(&i) => by_atom[i].1.push(place.clone()),
            None => {
                index.insert(atom, by_atom.len());
                by_atom.push((atom.clone(), vec![place.clone()]));
            }
        }
    }
    by_atom
}

/// Environments (indices) whose changes, status and risks are the same apart from their own
/// names, in order of first member.
pub fn groups(envs: &[EnvDiff]) -> Vec<Vec<usize>> {
    let keyed: Vec<_> = envs.iter().map(|e| keyed(&atoms(e))).collect();
    group_by_signature(envs, &keyed)
}

fn group_by_signature(envs: &[EnvDiff], keyed: &[Vec<(Atom, Vec<Place>)>]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut by_signature: HashMap<String, usize> = HashMap::new();
    for (ei, e) in envs.iter().enumerate() {
        let risks: Vec<String> =
            e.risks.iter().map(|r| format!("{}:{}", r.kind.as_str(), normalize(&r.message, &e.name))).collect();
        let signature = format!("{:?}|{:?}|{:?}", e.status, risks, keyed[ei]);
        match by_signature.get(&signature) {
            Some(&g) => groups[g].push(ei),
            None => {
                by_signature.insert(signature, groups.len());
                groups.push(vec![ei]);
            }
        }
    }
    groups
}

/// Finds the shared changes and the groups of a report.
pub fn fleet(report: &Report) -> Fleet {
    let per_env: Vec<Vec<(Atom, Place)>> = report.environments.iter().map(atoms).collect();
    let keyed: Vec<Vec<(Atom, Vec<Place>)>> = per_env.iter().map(|l| keyed(l)).collect();
    // (atom, places) → environments.
    let mut shared: Vec<Shared> = Vec::new();
    let mut at: HashMap<(&Atom, &Vec<Place>), usize> = HashMap::new();
    for (ei, list) in keyed.iter().enumerate() {
        for (atom, places) in list {
            match at.get(&(atom, places)) {
                Some(&i) => shared[i].environments.push(ei),
                None => {
                    at.insert((atom, places), shared.len());
                    shared.push(Shared { atom: atom.clone(), places: places.clone(), environments: vec![ei] });
                }
            }
        }
    }
    shared.retain(|s| s.environments.len() > 1);
    let is_shared: std::collections::HashSet<(&Atom, &Vec<Place>)> =
        shared.iter().map(|s| (&s.atom, &s.places)).collect();
    let groups = group_by_signature(&report.environments, &keyed);

    // What is left per environment.
    let mut residual = report.clone();
    for (ei, e) in residual.environments.iter_mut().enumerate() {
        let keep: std::collections::HashSet<(Atom, Place)> = per_env[ei]
            .iter()
            .filter(|(atom, _)| {
                let places = &keyed[ei].iter().find(|(a, _)| a == atom).expect("keyed from the same list").1;
                !is_shared.contains(&(atom, places))
            })
            .cloned()
            .collect();
        let name = e.name.clone();
        e.files.retain_mut(|f| retain_file(f, &name, &keep));
    }
    Fleet { shared, groups, residual }
}

/// Keeps what of a file is not shared; false when nothing is left.
fn retain_file(f: &mut FileDiff, env: &str, keep: &std::collections::HashSet<(Atom, Place)>) -> bool {
    let n = |s: &str| normalize(s, env);
    let file = n(&f.path);
    if f.documents.is_empty() {
        let lines = f.hunks.iter().flat_map(|h| h.lines.iter()).filter(|l| !l.starts_with(' ')).map(|l| n(l)).collect();
        return keep.contains(&(Atom::Text { status: f.status, lines }, (file, None)));
    }
    let before: usize = f.documents.iter().map(|d| 1 + d.changes.len()).sum();
    f.documents.retain_mut(|d| {
        let place = (file.clone(), d.object.as_ref().map(|o| n(&o.to_string())));
        match d.status {
            DocStatus::Added | DocStatus::Removed => {
                keep.contains(&(Atom::Document { status: d.status, from: None }, place))
            }
            DocStatus::Moved | DocStatus::Changed => {
                let moved_kept = d.status == DocStatus::Moved
                    && keep.contains(&(
                        Atom::Document { status: d.status, from: d.moved_from.as_deref().map(n) },
                        place.clone(),
                    ));
                d.changes.retain(|c| keep.contains(&(field(c, env), place.clone())));
                moved_kept || !d.changes.is_empty()
            }
        }
    });
    if f.documents.is_empty() {
        return false;
    }
    // The hunks show the whole file's text, shared changes included: shown above already.
    let after: usize = f.documents.iter().map(|d| 1 + d.changes.len()).sum();
    if after != before && !f.hunks.is_empty() {
        f.hunks.clear();
        f.hunks_omitted = Some(super::HunksOmitted::Shared);
    }
    true
}

/// Names for a list of environments: runs of consecutive numbers with the same prefix written
/// `env-0001…env-0040`, at most `max` entries, then `and N more`.
pub fn names_line(names: &[&str], max: usize, wrap: impl Fn(&str) -> String) -> String {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for (i, n) in names.iter().enumerate() {
        match runs.last_mut() {
            Some((_, end)) if follows(names[*end], n) => *end = i,
            _ => runs.push((i, i)),
        }
    }
    let shown: Vec<String> = runs
        .iter()
        .take(max)
        .map(|&(a, b)| match b - a {
            0 => wrap(names[a]),
            1 => format!("{}, {}", wrap(names[a]), wrap(names[b])),
            _ => format!("{}…{}", wrap(names[a]), wrap(names[b])),
        })
        .collect();
    let hidden: usize = runs.iter().skip(max).map(|(a, b)| b - a + 1).sum();
    if hidden > 0 { format!("{} and {hidden} more", shown.join(", ")) } else { shown.join(", ") }
}

/// Whether `b` is `a` with its trailing number plus one (`env-0009` → `env-0010`).
fn follows(a: &str, b: &str) -> bool {
    let split = |s: &str| {
        let digits = s.len() - s.bytes().rev().take_while(u8::is_ascii_digit).count();
        (s[..digits].to_string(), s[digits..].to_string())
    };
    let ((pa, na), (pb, nb)) = (split(a), split(b));
    pa == pb && na.len() == nb.len() && matches!((na.parse::<u64>(), nb.parse::<u64>()), (Ok(x), Ok(y)) if y == x + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_replaced_only_whole() {
        assert_eq!(normalize("argocd/application-env-1-kserve.yaml", "env-1"), "argocd/application-<env>-kserve.yaml");
        assert_eq!(normalize("application-env-10-kserve", "env-1"), "application-env-10-kserve");
        assert_eq!(normalize("prod prod-eu xprod", "prod"), "<env> <env>-eu xprod");
    }

    #[test]
    fn runs_of_numbers_collapse() {
        let names = ["env-0001", "env-0002", "env-0003", "env-0005", "east", "west"];
        assert_eq!(names_line(&names, 10, str::to_string), "env-0001…env-0003, env-0005, east, west");
        assert_eq!(names_line(&names, 2, str::to_string), "env-0001…env-0003, env-0005 and 2 more");
    }
}
