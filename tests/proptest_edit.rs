//! The in-place YAML editor (`kgen upgrade --write`) on random documents: block and flow
//! mappings, plain and quoted scalars, comment lines, trailing comments, blank lines, two
//! indentation widths. After any set or remove, the text reads as the intended model (the same
//! edit applied to the parsed document), every comment line and blank line is still there in
//! the same order, trailing comments stay unless their line was removed, and the keys that were
//! there keep their order.

use std::collections::BTreeSet;

use kgen::edit::{self, Edit};
use proptest::prelude::*;
use serde_json::Value;

const KEYS: &[&str] = &["a", "b", "kserve", "version", "versions", "istio", "c-d", "x_1"];
const SCALARS: &[&str] = &["x", "1.30", "yes", "v0.16.0", "1.24.6", "a: b", "it's", "", "#no", "é", "null", "-1"];

#[derive(Debug, Clone)]
enum Val {
    Scalar(String, u8),
    Map(Vec<(String, Val)>, bool),
}

fn val(depth: u32) -> BoxedStrategy<Val> {
    let scalar = (prop::sample::select(SCALARS), 0u8..3).prop_map(|(s, st)| Val::Scalar(s.to_string(), st));
    if depth == 0 {
        return scalar.boxed();
    }
    prop_oneof![
        2 => scalar,
        1 => (prop::collection::vec((prop::sample::select(KEYS), val(depth - 1)), 1..4), any::<bool>())
            .prop_map(|(entries, flow)| {
                let mut seen = BTreeSet::new();
                let entries: Vec<(String, Val)> =
                    entries.into_iter().filter(|(k, _)| seen.insert(*k)).map(|(k, v)| (k.to_string(), v)).collect();
                // Flow mappings hold flow values only.
                let flow = flow && entries.iter().all(|(_, v)| !matches!(v, Val::Map(_, false)));
                Val::Map(entries, flow)
            }),
    ]
    .boxed()
}

/// A document: a block mapping at the top, with comments and blank lines sprinkled by `noise`.
fn document() -> impl Strategy<Value = (Vec<(String, Val)>, Vec<u8>, usize)> {
    (prop::collection::vec((prop::sample::select(KEYS), val(2)), 1..5), prop::collection::vec(0u8..6, 64), 1usize..3)
        .prop_map(|(entries, noise, step)| {
            let mut seen = BTreeSet::new();
            let entries =
                entries.into_iter().filter(|(k, _)| seen.insert(*k)).map(|(k, v)| (k.to_string(), v)).collect();
            (entries, noise, step * 2)
        })
}

fn scalar_text(s: &str, style: u8) -> String {
    match style {
        0 => serde_json::to_string(s).unwrap(),
        1 if !s.contains('\n') => format!("'{}'", s.replace('\'', "''")),
        _ => kgen::yaml::to_inline_string(&Value::String(s.to_string())).unwrap(),
    }
}

fn flow_text(v: &Val) -> String {
    match v {
        Val::Scalar(s, st) => scalar_text(s, *st),
        Val::Map(entries, _) => {
            let parts: Vec<String> = entries.iter().map(|(k, v)| format!("{k}: {}", flow_text(v))).collect();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

struct Writer<'a> {
    out: String,
    noise: &'a [u8],
    n: usize,
    step: usize,
    /// Trailing comment id → the key path whose line it is on.
    trailing: Vec<(String, Vec<String>)>,
}

impl Writer<'_> {
    fn noise(&mut self) -> u8 {
        let v = self.noise[self.n % self.noise.len()];
        self.n += 1;
        v
    }

    fn block(&mut self, entries: &[(String, Val)], col: usize, path: &[String]) {
        for (k, v) in entries {
            match self.noise() {
                0 => self.out.push_str(&format!("{}# note {}\n", " ".repeat(col), self.n)),
                1 => self.out.push('\n'),
                2 => self.out.push_str(&format!("# column zero {}\n", self.n)),
                _ => {}
            }
            let mut here = path.to_vec();
            here.push(k.clone());
            let tail = if self.noise() < 2 {
                let id = format!("#t{}", self.n);
                self.trailing.push((id.clone(), here.clone()));
                format!("  {id}")
            } else {
                String::new()
            };
            let pad = " ".repeat(col);
            match v {
                Val::Map(inner, false) => {
                    self.out.push_str(&format!("{pad}{k}:{tail}\n"));
                    self.block(inner, col + self.step, &here);
                }
                v => self.out.push_str(&format!("{pad}{k}: {}{tail}\n", flow_text(v))),
            }
        }
    }
}

fn path_strategy() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(prop::sample::select(KEYS), 1..4).prop_map(|v| v.into_iter().map(str::to_string).collect())
}

fn edit_strategy() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (path_strategy(), prop::sample::select(SCALARS)).prop_map(|(p, v)| Edit::Set(p, v.to_string())),
        path_strategy().prop_map(Edit::Remove),
    ]
}

/// Every key path in document order.
fn key_order(v: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    if let Value::Object(m) = v {
        for (k, child) in m {
            path.push(k.clone());
            out.push(path.clone());
            key_order(child, path, out);
            path.pop();
        }
    }
}

fn lines_of(text: &str, keep: impl Fn(&str) -> bool) -> Vec<String> {
    text.lines().filter(|l| keep(l)).map(str::to_string).collect()
}

fn is_subsequence(small: &[String], big: &[String]) -> bool {
    let mut it = big.iter();
    small.iter().all(|s| it.any(|b| b == s))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn edits_keep_everything_else_and_read_as_intended((entries, noise, step) in document(), edits in prop::collection::vec(edit_strategy(), 1..4)) {
        let mut w = Writer { out: String::new(), noise: &noise, n: 0, step, trailing: Vec::new() };
        w.block(&entries, 0, &[]);
        let text = w.out.clone();
        let original: Value = kgen::yaml::from_str(&text, kgen::yaml::Budget::EnvironmentFile)
            .unwrap_or_else(|e| panic!("the generated document reads: {e}\n{text}"));
        let mut model = original.clone();
        let want = edit::apply_to_value(&mut model, &edits);
        let got = edit::apply(&text, &edits);
        match (want, got) {
            (Err(_), Err(_)) => {}
            (Ok(()), Ok(result)) => {
                let mut read: Value = kgen::yaml::from_str(&result, kgen::yaml::Budget::EnvironmentFile)
                    .unwrap_or_else(|e| panic!("the edited text reads: {e}\n--- before\n{text}--- after\n{result}"));
                // A document whose last key is removed reads as nothing (an environment file
                // always keeps `apiVersion` and `kind`).
                if read.is_null() && model.as_object().is_some_and(|m| m.is_empty()) {
                    read = model.clone();
                }
                prop_assert_eq!(&read, &model, "\n--- before\n{}--- after\n{}--- edits {:?}", text, result, edits);
                // Comment lines and blank lines: all there, in order.
                let comment_or_blank = |l: &str| l.trim().is_empty() || l.trim_start().starts_with('#');
                let (before, after) = (lines_of(&text, comment_or_blank), lines_of(&result, comment_or_blank));
                prop_assert!(is_subsequence(&before, &after), "\n--- before\n{}--- after\n{}", text, result);
                prop_assert_eq!(
                    before.iter().filter(|l| l.trim().is_empty()).count(),
                    after.iter().filter(|l| l.trim().is_empty()).count()
                );
                // Trailing comments stay, but for the lines of removed keys (and the mappings
                // a removal empties, which go with them).
                let removed: Vec<&Vec<String>> = edits.iter().filter_map(|e| match e { Edit::Remove(p) => Some(p), _ => None }).collect();
                for (id, path) in &w.trailing {
                    let may_go = removed.iter().any(|r| path.starts_with(r) || r.starts_with(path));
                    prop_assert!(may_go || result.contains(id.as_str()), "{} lost\n--- before\n{}--- after\n{}", id, text, result);
                }
                // The keys no edit touches keep their order (a key removed and set again comes
                // back at the end of its mapping).
                let touched = |p: &Vec<String>| {
                    edits.iter().any(|e| {
                        let q = match e { Edit::Set(q, _) | Edit::Remove(q) => q };
                        p.starts_with(q) || q.starts_with(p)
                    })
                };
                let (mut a, mut b) = (Vec::new(), Vec::new());
                key_order(&original, &mut Vec::new(), &mut a);
                key_order(&read, &mut Vec::new(), &mut b);
                let (sa, sb): (BTreeSet<_>, BTreeSet<_>) = (a.iter().cloned().collect(), b.iter().cloned().collect());
                let kept_a: Vec<_> = a.iter().filter(|p| sb.contains(*p) && !touched(p)).collect();
                let kept_b: Vec<_> = b.iter().filter(|p| sa.contains(*p) && !touched(p)).collect();
                prop_assert_eq!(kept_a, kept_b);
            }
            (want, got) => prop_assert!(false, "model {:?} but editor {:?}\n{}\n{:?}", want, got, text, edits),
        }
    }
}
