//! Entry points of the fuzz targets (`fuzz/`, run with cargo-fuzz): whatever the bytes,
//! loading, merging, checking, rendering and printing a diagnostic never panic, and what they
//! report holds together (a resolved environment has no error, an unresolved one says why, every
//! position is inside its file, merging is idempotent and keeps provenance). They live in the
//! library so `cargo test` replays seeds through the same code (tests/fuzz.rs). Pure: the
//! workspace is built in memory, nothing touches the disk.

use crate::config::load::Workspace;
use crate::config::merge::merge_chain;
use crate::diag::{self, Diagnostic, Severity};
use crate::pipeline;
use crate::rules::render::Depth;

/// The layer the fuzzed environment file may extend (`extends: _base`), as the examples do.
const BASE: &str = "apiVersion: kgen/v1\nkind: Environment\ngitops:\n  repoUrl: https://git.example.com/fleet.git\n";

/// What a fuzz input came to, for the replay test to assert on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The environment resolved (and was rendered and judged).
    pub resolved: bool,
    /// Diagnostics raised on the way, all files together.
    pub diagnostics: usize,
}

/// One environment file (`environments/fuzz.yaml`) beside a `_base` layer: loaded, checked, and
/// when it resolves rendered and judged with every render rule. Before the first NUL byte, if
/// there is one, is the text of `_base` (seeds carry the examples' own), else a minimal one.
pub fn environment_file(bytes: &[u8]) -> Outcome {
    let (base, env) = match bytes.iter().position(|b| *b == 0) {
        Some(at) => (String::from_utf8_lossy(&bytes[..at]).into_owned(), &bytes[at + 1..]),
        None => (BASE.to_string(), bytes),
    };
    let mut ws = Workspace::default();
    ws.insert_text("_base", base);
    ws.insert_text("fuzz", String::from_utf8_lossy(env).into_owned());
    check(&ws, "fuzz")
}

/// Up to three files separated by NUL bytes: layers `_a` and `_b`, then environment `e` (the
/// fuzzer finds `extends: _a` and `extends: _b` itself; the seeds have them). Every file that
/// loads merges with itself to itself, and a chain of files keeps an origin for its root; then
/// `e` is checked like [`environment_file`].
pub fn layered_files(bytes: &[u8]) -> Outcome {
    let mut ws = Workspace::default();
    for (stem, part) in ["_a", "_b", "e"].into_iter().zip(bytes.split(|b| *b == 0)) {
        ws.insert_text(stem, String::from_utf8_lossy(part).into_owned());
    }
    let files: Vec<_> = ws.files.values().collect();
    for f in &files {
        let (once, _) = merge_chain(&[f]);
        let (twice, _) = merge_chain(&[f, f]);
        assert_eq!(once, twice, "merging {} with itself changed it", f.path);
    }
    if !files.is_empty() {
        let (merged, prov) = merge_chain(&files);
        assert!(merged.is_object(), "a merge of mappings is a mapping");
        assert!(prov.lookup("").is_some(), "the merged document has an origin");
    }
    check(&ws, "e")
}

/// Checks `name` in `ws` and every invariant of what comes back.
fn check(ws: &Workspace, name: &str) -> Outcome {
    let c = pipeline::check(ws, name);
    let mut diagnostics = ws.diagnostics.len() + c.diagnostics.len();
    let resolved = match &c.judged {
        Some(judged) => {
            assert!(
                c.diagnostics.iter().all(|d| d.severity != Severity::Error),
                "`{name}` resolved despite errors: {:#?}",
                c.diagnostics
            );
            // Rendering a resolved environment cannot fail, and the render rules run on it.
            let out = pipeline::render(judged, &ws.sources).expect("a resolved environment renders");
            let found = pipeline::judge_render(judged, &out, Depth::Full);
            for d in &found {
                diagnostic(ws, d);
            }
            diagnostics += found.len();
            true
        }
        None => {
            assert!(diagnostics > 0, "`{name}` failed without saying why");
            false
        }
    };
    for d in ws.diagnostics.iter().chain(&c.diagnostics) {
        diagnostic(ws, d);
    }
    Outcome { resolved, diagnostics }
}

/// A diagnostic's position is inside its file, and it prints with and without colour.
fn diagnostic(ws: &Workspace, d: &Diagnostic) {
    let source = d.file.as_deref().and_then(|f| ws.sources.get(f)).map(String::as_str);
    if let (Some((line, col)), Some(text)) = (d.location, source) {
        assert!(line >= 1 && col >= 1, "1-based position: {d:?}");
        // Lines as YAML counts them (CR LF, LF, or a lone CR: YAML 1.2 §5.4), which is how the
        // parser reports positions and how editors number a file with old Mac line ends; the
        // frame of such a file is left out, the position is still printed.
        let breaks = text.replace("\r\n", "\n").chars().filter(|c| matches!(c, '\n' | '\r')).count();
        assert!(line <= breaks + 1, "line past the end of the file: {d:?}");
    }
    let plain = diag::render(d, source, false);
    assert!(plain.contains(d.code.as_str()), "{plain}");
    let _ = diag::render(d, source, true);
}
