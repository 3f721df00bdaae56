//! Field-level comparison of two parsed documents: which key paths were added, removed or
//! changed. Maps are compared key by key; lists whose items carry a unique `name` (or `id`)
//! are matched by it, the way Kubernetes merges containers, env, ports, volumes or listeners,
//! so reordering them is not a change; other lists are aligned with a sequence diff.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Change, ChangeOp};

/// Item keys that identify list items, in the order tried.
const LIST_KEYS: [&str; 2] = ["name", "id"];

/// How long one list alignment may take before a valid but not minimal result is accepted.
const LIST_DEADLINE: Duration = Duration::from_millis(500);

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    /// A map key.
    Key(String),
    /// A list position (unkeyed list).
    Index(usize),
    /// A list item identified by `key=value`.
    Item(&'static str, String),
}

/// Renders a path: `spec.template.spec.containers[name=manager].image`; keys that are not
/// plain words are bracketed and quoted: `metadata.annotations["sidecar.istio.io/inject"]`.
pub(crate) fn path_string(segs: &[Seg]) -> String {
    let mut s = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) if is_plain(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Key(k) => {
                s.push('[');
                s.push_str(&Value::String(k.clone()).to_string());
                s.push(']');
            }
            Seg::Index(i) => {
                s.push('[');
                s.push_str(&i.to_string());
                s.push(']');
            }
            Seg::Item(key, v) => {
                s.push('[');
                s.push_str(key);
                s.push('=');
                if is_plain(v) {
                    s.push_str(v);
                } else {
                    s.push_str(&Value::String(v.clone()).to_string());
                }
                s.push(']');
            }
        }
    }
    s
}

fn is_plain(k: &str) -> bool {
    !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Appends the changes from `old` to `new` under `path` to `out`.
pub(crate) fn diff(old: &Value, new: &Value, path: &mut Vec<Seg>, out: &mut Vec<Change>) {
    if old == new {
        return;
    }
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, nv) in b {
                path.push(Seg::Key(k.clone()));
                match a.get(k) {
                    Some(ov) => diff(ov, nv, path, out),
                    None => out.push(change(path, ChangeOp::Added, None, Some(nv))),
                }
                path.pop();
            }
            for (k, ov) in a {
                if !b.contains_key(k) {
                    path.push(Seg::Key(k.clone()));
                    out.push(change(path, ChangeOp::Removed, Some(ov), None));
                    path.pop();
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => match list_key(a, b) {
            Some(key) => keyed(key, a, b, path, out),
            None => positional(a, b, path, out),
        },
        _ => out.push(change(path, ChangeOp::Changed, Some(old), Some(new))),
    }
}

fn change(path: &[Seg], op: ChangeOp, old: Option<&Value>, new: Option<&Value>) -> Change {
    Change { path: path_string(path), op, old: old.cloned(), new: new.cloned(), redacted: false }
}

/// The scalar identity of a list item under `key`, if it has one.
fn item_id<'a>(v: &'a Value, key: &str) -> Option<std::borrow::Cow<'a, str>> {
    match v.get(key)? {
        Value::String(s) => Some(std::borrow::Cow::Borrowed(s)),
        Value::Number(n) => Some(std::borrow::Cow::Owned(n.to_string())),
        _ => None,
    }
}

/// The key both lists are keyed by: every item of both has it and it is unique in each.
fn list_key(a: &[Value], b: &[Value]) -> Option<&'static str> {
    if a.is_empty() && b.is_empty() {
        return None;
    }
    LIST_KEYS.into_iter().find(|key| {
        [a, b].iter().all(|list| {
            let mut seen = std::collections::HashSet::new();
            list.iter().all(|v| item_id(v, key).is_some_and(|id| seen.insert(id)))
        })
    })
}

fn keyed(key: &'static str, a: &[Value], b: &[Value], path: &mut Vec<Seg>, out: &mut Vec<Change>) {
    let old: std::collections::HashMap<_, _> = a.iter().map(|v| (item_id(v, key).unwrap_or_default(), v)).collect();
    let new_ids: std::collections::HashSet<_> = b.iter().map(|v| item_id(v, key).unwrap_or_default()).collect();
    for nv in b {
        let id = item_id(nv, key).unwrap_or_default();
        path.push(Seg::Item(key, id.to_string()));
        match old.get(&id) {
            Some(ov) => diff(ov, nv, path, out),
            None => out.push(change(path, ChangeOp::Added, None, Some(nv))),
        }
        path.pop();
    }
    for ov in a {
        let id = item_id(ov, key).unwrap_or_default();
        if !new_ids.contains(&id) {
            path.push(Seg::Item(key, id.to_string()));
            out.push(change(path, ChangeOp::Removed, Some(ov), None));
            path.pop();
        }
    }
}

/// Aligns two unkeyed lists: equal items are skipped, replaced runs are compared position by
/// position, the rest are additions and removals.
fn positional(a: &[Value], b: &[Value], path: &mut Vec<Seg>, out: &mut Vec<Change>) {
    let ka: Vec<String> = a.iter().map(Value::to_string).collect();
    let kb: Vec<String> = b.iter().map(Value::to_string).collect();
    let ops = similar::capture_diff_slices_deadline(
        similar::Algorithm::Patience,
        &ka,
        &kb,
        Some(Instant::now() + LIST_DEADLINE),
    );
    for op in ops {
        let (tag, or, nr) = op.as_tag_tuple();
        match tag {
            similar::DiffTag::Equal => {}
            similar::DiffTag::Delete => {
                for i in or {
                    path.push(Seg::Index(i));
                    out.push(change(path, ChangeOp::Removed, Some(&a[i]), None));
                    path.pop();
                }
            }
            similar::DiffTag::Insert => {
                for j in nr {
                    path.push(Seg::Index(j));
                    out.push(change(path, ChangeOp::Added, None, Some(&b[j])));
                    path.pop();
                }
            }
            similar::DiffTag::Replace => {
                let common = or.len().min(nr.len());
                for (i, j) in or.clone().zip(nr.clone()).take(common) {
                    path.push(Seg::Index(j));
                    diff(&a[i], &b[j], path, out);
                    path.pop();
                }
                for i in or.skip(common) {
                    path.push(Seg::Index(i));
                    out.push(change(path, ChangeOp::Removed, Some(&a[i]), None));
                    path.pop();
                }
                for j in nr.skip(common) {
                    path.push(Seg::Index(j));
                    out.push(change(path, ChangeOp::Added, None, Some(&b[j])));
                    path.pop();
                }
            }
        }
    }
}

/// Changes between two whole documents.
pub(crate) fn diff_docs(old: &Value, new: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    diff(old, new, &mut Vec::new(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn paths(old: Value, new: Value) -> Vec<String> {
        diff_docs(&old, &new)
            .into_iter()
            .map(|c| {
                let v = |x: &Option<Value>| x.as_ref().map_or("∅".to_string(), Value::to_string);
                format!("{:?} {}: {} → {}", c.op, c.path, v(&c.old), v(&c.new))
            })
            .collect()
    }

    #[test]
    fn maps_by_key_path() {
        let got = paths(json!({"a": {"b": 1, "c": 2}, "d": 1}), json!({"a": {"b": 2, "e": 3}, "d": 1}));
        assert_eq!(got, vec!["Changed a.b: 1 → 2", "Added a.e: ∅ → 3", "Removed a.c: 2 → ∅"]);
    }

    #[test]
    fn named_lists_match_by_name_and_ignore_order() {
        let old = json!({"containers": [
            {"name": "a", "image": "x:1", "env": [{"name": "K", "value": "1"}, {"name": "L", "value": "2"}]},
            {"name": "b", "image": "y:1"}]});
        let new = json!({"containers": [
            {"name": "b", "image": "y:1"},
            {"name": "a", "image": "x:2", "env": [{"name": "L", "value": "2"}, {"name": "K", "value": "9"}]}]});
        assert_eq!(
            paths(old, new),
            vec![
                "Changed containers[name=a].image: \"x:1\" → \"x:2\"",
                "Changed containers[name=a].env[name=K].value: \"1\" → \"9\""
            ]
        );
    }

    #[test]
    fn unkeyed_lists_align() {
        let got = paths(json!({"r": ["a", "b", "c"]}), json!({"r": ["a", "c", "d", "e"]}));
        assert_eq!(got, vec!["Removed r[1]: \"b\" → ∅", "Added r[2]: ∅ → \"d\"", "Added r[3]: ∅ → \"e\""]);
        let got = paths(json!({"r": ["a", "b"]}), json!({"r": ["a", "x"]}));
        assert_eq!(got, vec!["Changed r[1]: \"b\" → \"x\""]);
    }

    #[test]
    fn odd_keys_are_quoted() {
        let got = paths(json!({"m": {"a.b/c": "1"}}), json!({"m": {"a.b/c": "2"}}));
        assert_eq!(got, vec!["Changed m[\"a.b/c\"]: \"1\" → \"2\""]);
        let segs = [Seg::Key("l".into()), Seg::Item("name", "a b".into())];
        assert_eq!(path_string(&segs), "l[name=\"a b\"]");
    }

    #[test]
    fn type_changes_are_one_change() {
        assert_eq!(paths(json!({"a": "1"}), json!({"a": 1})), vec!["Changed a: \"1\" → 1"]);
    }
}
