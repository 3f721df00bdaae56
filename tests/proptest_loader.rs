//! The loader and the checks never panic, whatever the bytes (SPEC §9 "Bad input").
//!
//! Each case takes one example environment from `environments/`, applies random mutations
//! (byte deletions, insertions and replacements; line duplication, deletion and swaps;
//! indentation changes; YAML-significant tokens such as `&a`, `*a`, `: `, `- `, tabs and
//! quotes), writes it as the only environment next to the untouched `_base.yaml`, then loads
//! the workspace, checks every environment and renders every diagnostic.

use std::path::{Path, PathBuf};

use kgen::config::load::Workspace;
use kgen::diag::{self, Severity};
use proptest::prelude::*;
use proptest::sample::Index;

/// Tokens that change how YAML reads a line.
const TOKENS: &[&str] = &[
    "&a ",
    "*a",
    "&a [*a, *a]",
    "<<: *a",
    ": ",
    "- ",
    "\t",
    "\"",
    "'",
    "{",
    "}",
    "[",
    "]",
    "#",
    "? ",
    "|",
    ">",
    "!!str ",
    "!!binary ",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "\n",
    " ",
    "~",
    "null",
    "true",
    "1.30",
    "0x1F",
    "\u{feff}",
    "é",
    "\0",
    "\r\n",
];

#[derive(Debug, Clone)]
enum Mutation {
    DeleteByte(Index),
    InsertByte(Index, u8),
    ReplaceByte(Index, u8),
    InsertToken(Index, Index),
    DuplicateLine(Index),
    DeleteLine(Index),
    SwapLines(Index, Index),
    Indent(Index, bool, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<Index>().prop_map(Mutation::DeleteByte),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::InsertByte(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::ReplaceByte(i, b)),
        (any::<Index>(), any::<Index>()).prop_map(|(i, t)| Mutation::InsertToken(i, t)),
        any::<Index>().prop_map(Mutation::DuplicateLine),
        any::<Index>().prop_map(Mutation::DeleteLine),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<Index>(), any::<bool>(), 1u8..6).prop_map(|(i, add, n)| Mutation::Indent(i, add, n)),
    ]
}

/// Splits into lines, each keeping its `\n`.
fn lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes.split_inclusive(|b| *b == b'\n').map(<[u8]>::to_vec).collect()
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    // Positions index `len + 1` slots so that insertions can append.
    let pos = |i: &Index, len: usize| i.index(len + 1);
    match m {
        Mutation::DeleteByte(i) if !bytes.is_empty() => {
            let at = i.index(bytes.len());
            bytes.remove(at);
        }
        Mutation::InsertByte(i, b) => {
            let at = pos(i, bytes.len());
            bytes.insert(at, *b);
        }
        Mutation::ReplaceByte(i, b) if !bytes.is_empty() => {
            let at = i.index(bytes.len());
            bytes[at] = *b;
        }
        Mutation::InsertToken(i, t) => {
            let at = pos(i, bytes.len());
            let token = TOKENS[t.index(TOKENS.len())].as_bytes();
            bytes.splice(at..at, token.iter().copied());
        }
        Mutation::DuplicateLine(i) | Mutation::DeleteLine(i) | Mutation::Indent(i, ..) => {
            let mut ls = lines(bytes);
            if ls.is_empty() {
                return;
            }
            let at = i.index(ls.len());
            match m {
                Mutation::DuplicateLine(_) => {
                    let copy = ls[at].clone();
                    ls.insert(at, copy);
                }
                Mutation::DeleteLine(_) => {
                    ls.remove(at);
                }
                Mutation::Indent(_, true, n) => {
                    ls[at].splice(0..0, std::iter::repeat_n(b' ', usize::from(*n)));
                }
                Mutation::Indent(_, false, n) => {
                    let spaces = ls[at].iter().take_while(|b| **b == b' ').count();
                    ls[at].drain(..spaces.min(usize::from(*n)));
                }
                _ => unreachable!(),
            }
            *bytes = ls.concat();
        }
        Mutation::SwapLines(a, b) => {
            let mut ls = lines(bytes);
            if ls.is_empty() {
                return;
            }
            let (a, b) = (a.index(ls.len()), b.index(ls.len()));
            ls.swap(a, b);
            *bytes = ls.concat();
        }
        _ => {}
    }
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("environments")
}

/// `(name, bytes)` of every example environment (not the layers).
fn examples() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .filter_map(|p| {
            let stem = p.file_stem()?.to_str()?.to_string();
            (!stem.starts_with('_')).then(|| (stem, std::fs::read(&p).unwrap()))
        })
        .collect();
    out.sort();
    out
}

/// Loads and checks a project; panics (failing the property) only on broken invariants.
fn load_and_check(root: &Path, stem: &str) {
    let ws = Workspace::load(root).expect("the environments folder exists");
    let mut names = ws.environment_names();
    // Names a user could type, valid or not.
    names.extend(["_base", stem, "nosuch", "../x", ""].map(String::from));
    for name in &names {
        let c = kgen::pipeline::check(&ws, name);
        if c.judged.is_some() {
            assert!(
                c.diagnostics.iter().all(|d| d.severity != Severity::Error),
                "`{name}` resolved despite errors: {:#?}",
                c.diagnostics
            );
        } else {
            assert!(!c.diagnostics.is_empty() || !ws.diagnostics.is_empty(), "`{name}` failed without saying why");
        }
        for d in &c.diagnostics {
            check_diagnostic(&ws, d);
        }
    }
    for d in &ws.diagnostics {
        assert!(d.file.is_some(), "a single-file problem names its file: {d:?}");
        check_diagnostic(&ws, d);
    }
}

/// A diagnostic's position is inside its file, and it renders with and without colour.
fn check_diagnostic(ws: &Workspace, d: &diag::Diagnostic) {
    let source = d.file.as_deref().and_then(|f| ws.sources.get(f)).map(String::as_str);
    if let (Some((line, col)), Some(text)) = (d.location, source) {
        assert!(line >= 1 && col >= 1, "1-based position: {d:?}");
        assert!(line <= text.lines().count() + 1, "line past the end of the file: {d:?}");
    }
    let plain = diag::render(d, source, false);
    assert!(plain.contains(d.code.as_str()), "{plain}");
    let _ = diag::render(d, source, true);
    let _ = d.to_string();
}

proptest! {
    // 256 cases by default; `PROPTEST_CASES=20000` for a longer hunt.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_environment_files_never_panic(
        example in any::<Index>(),
        mutations in prop::collection::vec(mutation(), 1..8),
    ) {
        let examples = examples();
        let (name, original) = &examples[example.index(examples.len())];
        let mut bytes = original.clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        let tmp = tempfile::tempdir().unwrap();
        let envs = tmp.path().join("environments");
        std::fs::create_dir_all(&envs).unwrap();
        std::fs::copy(examples_dir().join("_base.yaml"), envs.join("_base.yaml")).unwrap();
        let file_name = format!("{name}.yaml");
        std::fs::write(envs.join(&file_name), &bytes).unwrap();
        load_and_check(tmp.path(), name);
    }
}

#[test]
fn unmutated_examples_are_valid() {
    // The property starts from valid files: make sure they are.
    for (name, bytes) in examples() {
        let tmp = tempfile::tempdir().unwrap();
        let envs = tmp.path().join("environments");
        std::fs::create_dir_all(&envs).unwrap();
        std::fs::copy(examples_dir().join("_base.yaml"), envs.join("_base.yaml")).unwrap();
        std::fs::write(envs.join(format!("{name}.yaml")), &bytes).unwrap();
        let ws = Workspace::load(tmp.path()).unwrap();
        assert!(ws.diagnostics.is_empty(), "{name}: {:#?}", ws.diagnostics);
        let c = kgen::pipeline::check(&ws, &name);
        assert!(c.judged.is_some(), "{name}: {:#?}", c.diagnostics);
    }
}
