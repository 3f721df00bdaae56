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
    /// Origins a later file replaced, oldest first, by pointer: `kgen explain` says what a value
    /// overrides. Only values that were replaced are here, so it stays as small as the overrides.
    shadowed: BTreeMap<String, Vec<Origin>>,
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

    /// The origins that the effective value at exactly this pointer replaced, oldest first
    /// (empty when no earlier file of the chain set it).
    pub fn shadowed(&self, pointer: &str) -> &[Origin] {
        self.shadowed.get(pointer).map_or(&[], Vec::as_slice)
    }

    fn set(&mut self, pointer: String, file: &SourceFile) {
        if let Some(&(line, col)) = file.positions.get(&pointer) {
            self.origins.insert(pointer, Origin { file: file.path.clone(), line, col });
        }
    }

    /// Replaces everything under `pointer` by what `file` has there, remembering the origin it
    /// replaces at `pointer` itself (what was below it is gone, so its history goes too).
    fn replace_subtree(&mut self, pointer: &str, file: &SourceFile) {
        let prefix = format!("{pointer}/");
        self.origins.retain(|k, _| !k.starts_with(&prefix));
        if !self.shadowed.is_empty() {
            self.shadowed.retain(|k, _| !k.starts_with(&prefix));
        }
        if let Some(old) = self.origins.remove(pointer) {
            self.shadowed.entry(pointer.to_string()).or_default().push(old);
        }
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

pub use crate::value::deep_merge;

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
    fn replaced_values_remember_what_they_shadow() {
        let org = file("_org", "a:\n  x: 1\n  y: 1\nl: [1]\n");
        let team = file("_team", "extends: _org\na:\n  x: 2\n");
        let env = file("dev", "extends: _team\na:\n  x: 3\nl: [2]\n");
        let (_, prov) = merge_chain(&[&org, &team, &env]);
        let files = |p: &str| prov.shadowed(p).iter().map(|o| o.file.clone()).collect::<Vec<_>>();
        assert_eq!(files("/a/x"), ["environments/_org.yaml", "environments/_team.yaml"]);
        assert_eq!(prov.shadowed("/a/x")[0].line, 2);
        assert_eq!(files("/l"), ["environments/_org.yaml"]);
        assert!(prov.shadowed("/a/y").is_empty(), "set once, shadows nothing");
        assert!(prov.shadowed("/a").is_empty(), "maps merge, they do not replace");
    }

    #[test]
    fn deep_merge_replaces_lists() {
        let mut a = serde_json::json!({"m": {"l": [1, 2], "k": 1}});
        deep_merge(&mut a, &serde_json::json!({"m": {"l": [3]}}));
        assert_eq!(a, serde_json::json!({"m": {"l": [3], "k": 1}}));
    }
}
