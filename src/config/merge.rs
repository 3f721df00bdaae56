//! Layering (`extends`): the chain of files is merged root layer first. Maps merge key by key,
//! recursively; scalars and lists replace. Every effective value keeps its provenance (file,
//! line, column), so errors and `kgen explain` can say where it was set.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::load::SourceFile;
use crate::yaml::escape_pointer;

/// Where an effective value was set.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Origin {
    /// Display path of the file (`environments/_base.yaml`).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
}

/// Provenance of every node of a merged document, by JSON pointer.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    origins: BTreeMap<String, Origin>,
}

impl Provenance {
    /// The origin of a pointer, or of its nearest ancestor that was set in a file.
    pub fn lookup(&self, pointer: &str) -> Option<&Origin> {
        let mut p = pointer;
        loop {
            if let Some(o) = self.origins.get(p) {
                return Some(o);
            }
            if p.is_empty() {
                return None;
            }
            p = &p[..p.rfind('/').unwrap_or(0)];
        }
    }

    /// The origin of exactly this pointer (no fallback to ancestors).
    pub fn exact(&self, pointer: &str) -> Option<&Origin> {
        self.origins.get(pointer)
    }

    fn set(&mut self, pointer: String, file: &SourceFile) {
        if let Some(&(line, col)) = file.positions.get(&pointer) {
            self.origins.insert(pointer, Origin { file: file.path.clone(), line, col });
        }
    }

    /// Replaces everything under `pointer` by what `file` has there.
    fn replace_subtree(&mut self, pointer: &str, file: &SourceFile) {
        let prefix = format!("{pointer}/");
        self.origins.retain(|k, _| !k.starts_with(&prefix));
        for (k, &(line, col)) in &file.positions {
            if (k == pointer || k.starts_with(&prefix)) && !k.contains('#') {
                self.origins.insert(k.clone(), Origin { file: file.path.clone(), line, col });
            }
        }
    }
}

/// Merges a chain of files, root layer first, into one document with provenance. The `extends`
/// key is consumed by layering and does not appear in the result.
pub fn merge_chain(chain: &[&SourceFile]) -> (Value, Provenance) {
    let mut merged = Map::new();
    let mut prov = Provenance::default();
    for file in chain {
        prov.set(String::new(), file);
        if let Value::Object(m) = &file.value {
            merge_map(&mut merged, m, "", file, &mut prov);
        }
    }
    merged.remove("extends");
    (Value::Object(merged), prov)
}

fn merge_map(
    dst: &mut Map<String, Value>,
    src: &Map<String, Value>,
    ptr: &str,
    file: &SourceFile,
    prov: &mut Provenance,
) {
    for (k, v) in src {
        let p = format!("{ptr}/{}", escape_pointer(k));
        match (dst.get_mut(k), v) {
            (Some(Value::Object(d)), Value::Object(s)) => {
                prov.set(p.clone(), file);
                merge_map(d, s, &p, file, prov);
            }
            _ => {
                dst.insert(k.clone(), v.clone());
                prov.replace_subtree(&p, file);
            }
        }
    }
}

/// Deep-merges `src` over `dst` with the same rule (maps merge, the rest replaces). Used for
/// Helm values overrides.
pub fn deep_merge(dst: &mut Value, src: &Value) {
    match (dst, src) {
        (Value::Object(d), Value::Object(s)) => {
            for (k, v) in s {
                match d.get_mut(k) {
                    Some(existing) => deep_merge(existing, v),
                    None => {
                        d.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (dst, src) => *dst = src.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    fn file(name: &str, text: &str) -> SourceFile {
        SourceFile {
            name: name.into(),
            path: format!("environments/{name}.yaml"),
            value: yaml::from_str(text, yaml::Budget::EnvironmentFile).unwrap(),
            positions: yaml::pointer_map(text),
        }
    }

    #[test]
    fn maps_merge_scalars_and_lists_replace() {
        let base = file("_base", "a:\n  x: 1\n  y: [1, 2]\nb: keep\n");
        let env = file("dev", "extends: _base\na:\n  y: [3]\n  z: 2\n");
        let (m, prov) = merge_chain(&[&base, &env]);
        assert_eq!(m, serde_json::json!({"a": {"x": 1, "y": [3], "z": 2}, "b": "keep"}));
        assert_eq!(prov.lookup("/a/x").unwrap().file, "environments/_base.yaml");
        assert_eq!(prov.lookup("/a/y").unwrap().file, "environments/dev.yaml");
        assert_eq!(prov.lookup("/a/y/0").unwrap().line, 3);
        assert!(prov.exact("/a/y/1").is_none(), "replaced list items keep no stale origin");
        assert_eq!(prov.lookup("/b").unwrap().line, 4);
    }

    #[test]
    fn deep_merge_replaces_lists() {
        let mut a = serde_json::json!({"m": {"l": [1, 2], "k": 1}});
        deep_merge(&mut a, &serde_json::json!({"m": {"l": [3]}}));
        assert_eq!(a, serde_json::json!({"m": {"l": [3], "k": 1}}));
    }
}
