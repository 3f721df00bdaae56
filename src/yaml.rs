//! The one door YAML goes through. Every read and write in kgen uses these functions, so the
//! reading budgets, YAML 1.2 typing and YAML-1.1-safe quoting are decided once, here.
//!
//! Two budgets (SPEC §3): environment files are small and hostile input must fail fast, so
//! their budget is tight; a previous render (read back for `diff` and `--check`) holds the
//! ~2 MB KServe CRDs, so its budget is sized for real renders.

use std::collections::HashMap;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Largest environment file kgen reads (SPEC §3).
pub const ENV_FILE_MAX_BYTES: usize = 1024 * 1024;
/// Most YAML nodes in an environment file (SPEC §3).
pub const ENV_FILE_MAX_NODES: usize = 100_000;
/// Deepest nesting in an environment file (SPEC §3).
pub const ENV_FILE_MAX_DEPTH: usize = 64;

/// Which reading budget applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Environment files: 1 MiB, 100,000 nodes, depth 64, aliases bounded by the file size.
    EnvironmentFile,
    /// Rendered output read back for comparison: sized for multi-megabyte CRD documents.
    Render,
    /// What a chart renders (`helm template` output, `kgen hydrate`): the render budget, read
    /// with the YAML 1.1 typing of Go's `sigs.k8s.io/yaml`, which is how the API server gets
    /// it (`defaultMode: 0644` is the number 420, `on` a boolean).
    Chart,
}

fn options(budget_kind: Budget) -> serde_saphyr::Options {
    let budget = match budget_kind {
        Budget::EnvironmentFile => serde_saphyr::budget! {
            max_nodes: ENV_FILE_MAX_NODES,
            max_events: 4 * ENV_FILE_MAX_NODES,
            max_depth: ENV_FILE_MAX_DEPTH,
            flow_nesting_limit: ENV_FILE_MAX_DEPTH,
            max_documents: 1,
            // Alias expansion may not produce more than the file's own size class.
            max_aliases: 1_000,
            max_anchors: 1_000,
            max_total_scalar_bytes: ENV_FILE_MAX_BYTES,
        },
        Budget::Render | Budget::Chart => serde_saphyr::budget! {
            max_nodes: 20_000_000,
            max_events: 40_000_000,
            max_documents: 100_000,
            max_total_scalar_bytes: 512 * 1024 * 1024,
        },
    };
    if budget_kind == Budget::Chart {
        return serde_saphyr::options! {
            strict_booleans: false,
            legacy_octal_numbers: true,
            budget: budget,
        };
    }
    serde_saphyr::options! {
        // YAML 1.2 core typing for untyped values: `yes`/`on` stay strings, `0777` and `1_000`
        // stay strings, so what the schema sees is what the user wrote.
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
        // duplicate keys are an error (the default policy); never change that.
        budget: budget,
    }
}

/// A YAML reading error with its 1-based location, when the parser knows one.
#[derive(Debug, Clone)]
pub struct ReadError {
    /// Human message without location decoration.
    pub message: String,
    /// 1-based line and column.
    pub location: Option<(usize, usize)>,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.location {
            Some((l, c)) => write!(f, "{} at line {l} column {c}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl From<serde_saphyr::Error> for ReadError {
    fn from(err: serde_saphyr::Error) -> Self {
        let location = err.location().filter(|l| l.line() > 0).map(|l| (l.line() as usize, l.column().max(1) as usize));
        let message = err.render_with_options(serde_saphyr::render_options! {
            formatter: &serde_saphyr::UserMessageFormatter,
            snippets: serde_saphyr::SnippetMode::Off,
        });
        ReadError { message: strip_location_suffix(&message), location }
    }
}

/// serde-saphyr appends " at line X, column Y" to plain messages; kgen prints locations itself.
fn strip_location_suffix(message: &str) -> String {
    let first = message.lines().next().unwrap_or_default();
    let trimmed = match first.rfind(" at line ") {
        Some(i) => &first[..i],
        None => first,
    };
    let trimmed = trimmed.strip_prefix("error: ").unwrap_or(trimmed);
    // "line 3 column 2: msg" form
    let trimmed = match trimmed.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") && head.contains(" column ") => rest,
        _ => trimmed,
    };
    trimmed.to_string()
}

/// Reads one YAML document into `T` under the given budget.
pub fn from_str<T: DeserializeOwned>(text: &str, budget: Budget) -> Result<T, ReadError> {
    serde_saphyr::from_str_with_options(text, options(budget)).map_err(ReadError::from)
}

/// Reads a multi-document YAML stream (empty documents are skipped).
pub fn from_str_multi<T: DeserializeOwned>(text: &str, budget: Budget) -> Result<Vec<T>, ReadError> {
    serde_saphyr::from_multiple_with_options(text, options(budget)).map_err(ReadError::from)
}

/// Serialises a value to YAML. Strings a YAML 1.1 reader would misread are quoted.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, String> {
    let opts = serde_saphyr::ser_options! {
        // Multi-line strings become `|` blocks; long one-line strings stay on one line,
        // because folding URLs and JSON makes diffs noisy.
        prefer_block_scalars: true,
        folded_wrap_chars: usize::MAX / 2,
    };
    serde_saphyr::to_string_with_options(value, opts).map_err(|e| e.to_string())
}

/// Serialises a scalar so that it always fits on one line: a multi-line string becomes a
/// double-quoted scalar with `\n` escapes instead of a `|` block. Templates place scalars after
/// a key at any depth, and a block scalar's body would have to be indented to that key's depth,
/// which a filter cannot know; a value on one line cannot leave its key, whatever it holds.
pub fn to_inline_string<T: Serialize>(value: &T) -> Result<String, String> {
    let opts = serde_saphyr::ser_options! {
        prefer_block_scalars: false,
        folded_wrap_chars: usize::MAX / 2,
    };
    let text = serde_saphyr::to_string_with_options(value, opts).map_err(|e| e.to_string())?;
    let text = text.trim_end_matches('\n');
    if text.contains(['\n', '\r']) {
        return Err(format!("scalar serialised over several lines: {text:?}"));
    }
    Ok(text.to_string())
}

/// Escapes one JSON-pointer segment.
pub fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// JSON pointer → 1-based (line, column) for every node of the first document, plus
/// `"<ptr>#key"` for every mapping key, so schema errors can point at the exact spot.
pub fn pointer_map(src: &str) -> HashMap<String, (usize, usize)> {
    use serde_saphyr::granit_parser::{Event, Parser};
    enum Frame {
        Seq(usize),
        Map(Option<String>),
    }
    let mut out = HashMap::new();
    let mut stack: Vec<(String, Frame)> = Vec::new();
    let mut root_done = false;
    let advance = |stack: &mut Vec<(String, Frame)>| match stack.last_mut() {
        Some((_, Frame::Map(k))) => *k = None,
        Some((_, Frame::Seq(i))) => *i += 1,
        None => {}
    };
    for ev in Parser::new_from_str(src) {
        let Ok((ev, span)) = ev else { break };
        let pos = (span.start.line(), span.start.col() + 1);
        if matches!(ev, Event::SequenceEnd | Event::MappingEnd) {
            stack.pop();
            advance(&mut stack);
            continue;
        }
        if !matches!(ev, Event::Scalar(..) | Event::SequenceStart(..) | Event::MappingStart(..) | Event::Alias(..)) {
            continue;
        }
        if let (Some((base, Frame::Map(None))), Event::Scalar(k, ..)) = (stack.last(), &ev) {
            out.entry(format!("{base}/{}#key", escape_pointer(k))).or_insert(pos);
            let k = k.to_string();
            if let Some((_, Frame::Map(slot))) = stack.last_mut() {
                *slot = Some(k);
            }
            continue;
        }
        let ptr = match stack.last() {
            None => {
                if root_done {
                    break;
                }
                root_done = true;
                String::new()
            }
            Some((base, Frame::Map(Some(k)))) => format!("{base}/{}", escape_pointer(k)),
            Some((base, Frame::Seq(i))) => format!("{base}/{i}"),
            // A complex (non-scalar) key: not addressable by a pointer.
            Some((_, Frame::Map(None))) => continue,
        };
        out.entry(ptr.clone()).or_insert(pos);
        match ev {
            Event::SequenceStart(..) => stack.push((ptr, Frame::Seq(0))),
            Event::MappingStart(..) => stack.push((ptr, Frame::Map(None))),
            _ => advance(&mut stack),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml11_ambiguous_strings_are_quoted() {
        let v = serde_json::json!({"a": "on", "b": "1.20", "c": "true", "d": "0777", "e": "yes"});
        let s = to_string(&v).unwrap();
        for word in ["\"on\"", "\"1.20\"", "\"true\"", "\"0777\"", "\"yes\""] {
            assert!(s.contains(word), "{word} not quoted in {s}");
        }
    }

    #[test]
    fn duplicate_keys_are_rejected_with_location() {
        let err = from_str::<serde_json::Value>("a: 1\nb: 2\na: 3\n", Budget::EnvironmentFile).unwrap_err();
        assert_eq!(err.location, Some((3, 1)));
        assert!(err.message.contains("duplicate"), "{}", err.message);
    }

    #[test]
    fn inline_strings_never_span_lines() {
        for s in ["line1\nline2", "a\r\nb", "x\u{2028}kind: Secret", "x\u{85}y", "a\u{1b}b", "|\n  x", "  lead", "main"]
        {
            let text = to_inline_string(&s).unwrap();
            assert!(!text.contains(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}']), "{text:?}");
            let back: serde_json::Value = from_str(&format!("a:\n  b: {text}\n"), Budget::Render).unwrap();
            assert_eq!(back, serde_json::json!({"a": {"b": s}}), "{text}");
        }
    }

    #[test]
    fn yes_stays_a_string() {
        let v: serde_json::Value = from_str("a: yes\nb: 0777\n", Budget::EnvironmentFile).unwrap();
        assert_eq!(v, serde_json::json!({"a": "yes", "b": "0777"}));
    }

    #[test]
    fn pointer_map_locates_keys_and_values() {
        let m = pointer_map("a:\n  b: 1\n  c: [x, y]\n");
        assert_eq!(m["/a/b"], (2, 6));
        assert_eq!(m["/a/c#key"], (3, 3));
        assert_eq!(m["/a/c/1"], (3, 10));
    }
}
