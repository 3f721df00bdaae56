//! The pipeline's layering (issue 15): every module of `src/` uses only modules of its own
//! layer or below, and the top-level modules form no import cycle. Layers, from the bottom:
//! utilities → model/catalog → config → plan → render → rules → pipeline →
//! previous/compare/diff/write → commands/explain. A new module must be placed in `LAYERS`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path prefixes and their layer; the longest matching prefix decides.
const LAYERS: &[(&str, u8)] = &[
    // Utilities: no knowledge of KServe or of environments.
    ("error", 0),
    ("diag", 0),
    ("yaml", 0),
    ("edit", 0),
    ("version", 0),
    ("natural", 0),
    ("value", 0),
    ("rule_code", 0),
    ("exit_codes", 0),
    // The environment model and the catalog of upstream facts.
    ("config::model", 1),
    ("config::schema", 1),
    ("catalog", 1),
    ("skew", 1),
    // Reading environments: load, merge, validate, resolve.
    ("config", 2),
    ("render::plan", 3),
    ("render", 4),
    ("lock", 4),
    ("rules", 5),
    ("pipeline", 6),
    ("previous", 7),
    ("compare", 7),
    ("diff", 7),
    ("hydrate", 7),
    ("write", 7),
    ("upgrade", 7),
    ("explain", 8),
    // Entry points of the fuzz targets: the pipeline end to end, in memory.
    ("fuzz", 8),
    ("commands", 8),
    ("cli", 8),
    ("printer", 8),
    // `lib.rs` itself: `run` dispatches the commands.
    ("", 9),
];

fn layer(module: &str) -> u8 {
    LAYERS
        .iter()
        .filter(|(prefix, _)| prefix.is_empty() || module == *prefix || module.starts_with(&format!("{prefix}::")))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, l)| *l)
        .unwrap()
}

/// `src/config/load.rs` → `config::load`; `mod.rs` names its folder; `lib.rs` is the root.
fn module_of(rel: &Path) -> String {
    let mut parts: Vec<String> = rel.with_extension("").iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib" || p == "main") {
        parts.pop();
    }
    parts.join("::")
}

/// Every module of `src/` with its source.
fn modules() -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("main.rs") {
                let rel = p.strip_prefix(root).unwrap();
                out.insert(module_of(rel), std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    walk(&root, &root, &mut out);
    out
}

/// The modules `source` (of `module`) refers to through `crate::…` and `super::…` paths,
/// resolved to the longest module path that exists. Test code is left out: a test may reach
/// anywhere.
fn uses(module: &str, source: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let code = source.split("#[cfg(test)]").next().unwrap_or(source);
    // Comments name modules without using them (`[crate::pipeline]` in a doc).
    let code: String = code.lines().map(|l| l.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n");
    let code = code.as_str();
    let is_mod_rs = known.iter().any(|k| k.starts_with(&format!("{module}::")));
    let parent = if is_mod_rs {
        module.to_string()
    } else {
        module.rsplit_once("::").map_or(String::new(), |(p, _)| p.to_string())
    };
    let mut out = BTreeSet::new();
    let bytes = code.as_bytes();
    for (start, anchor) in [("crate::", ""), ("super::", parent.as_str())] {
        let mut from = 0;
        while let Some(i) = code[from..].find(start) {
            let at = from + i;
            from = at + start.len();
            // `kgen::crate::` never occurs; skip identifiers that merely end in the anchor.
            if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
                continue;
            }
            let rest: String =
                code[from..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':').collect();
            let mut path: Vec<&str> = if anchor.is_empty() { vec![] } else { anchor.split("::").collect() };
            path.extend(rest.split("::").filter(|s| !s.is_empty()));
            // The longest prefix that is a module.
            while !path.is_empty() && !known.contains(&path.join("::")) {
                path.pop();
            }
            let target = path.join("::");
            if !path.is_empty() && target != module {
                out.insert(target);
            }
        }
    }
    out
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap()
}

#[test]
fn every_module_uses_only_its_layer_or_below() {
    let mods = modules();
    let known: BTreeSet<String> = mods.keys().cloned().collect();
    let mut wrong = Vec::new();
    for (m, src) in &mods {
        for u in uses(m, src, &known) {
            if layer(&u) > layer(m) {
                wrong.push(format!("{m} (layer {}) uses {u} (layer {})", layer(m), layer(&u)));
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn top_level_modules_form_no_cycle() {
    let mods = modules();
    let known: BTreeSet<String> = mods.keys().cloned().collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, src) in &mods {
        for u in uses(m, src, &known) {
            if top(&u) != top(m) && !top(m).is_empty() {
                edges.entry(top(m).to_string()).or_default().insert(top(&u).to_string());
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(1) => {
                let i = stack.iter().position(|s| s == n).unwrap();
                let mut cycle = stack[i..].to_vec();
                cycle.push(n.to_string());
                return Some(cycle);
            }
            Some(_) => return None,
            None => {}
        }
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for next in edges.get(n).into_iter().flatten() {
            if let Some(c) = visit(next, edges, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in edges.keys() {
        if let Some(cycle) = visit(n, &edges, &mut state, &mut Vec::new()) {
            panic!("import cycle: {}", cycle.join(" → "));
        }
    }
}

#[test]
fn the_checker_sees_uses() {
    let known: BTreeSet<String> =
        ["config", "config::resolve", "rules", "rules::env", "render", "render::plan"].map(String::from).into();
    let u = uses("config::resolve", "use crate::rules::check;\nfn f() { crate::render::plan::plan(); }\n", &known);
    assert_eq!(u, ["render::plan", "rules"].map(String::from).into());
    let u = uses("rules::env", "use super::diag;\n", &known);
    assert_eq!(u, ["rules"].map(String::from).into());
    assert!(layer("config::resolve") < layer("rules::env"));
    assert_eq!(layer("config::model"), 1);
}
