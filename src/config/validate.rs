//! Validation, pass 1: the JSON Schema, every error in one run, each mapped back to
//! file:line:col and a key path, with a did-you-mean where one helps.

use serde_json::Value;

use super::schema::schema_at;
use crate::diag::Diagnostic;
use crate::rule_code::RuleCode;

/// `/kserve/deploymentMode` → `kserve.deploymentMode`; list items as `[i]`.
pub fn key_path(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if seg.parse::<usize>().is_ok() {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

/// Where an environment names its deployment mode.
const DEPLOYMENT_MODE: &str = "/kserve/deploymentMode";

/// The hint for a misspelt deployment mode (`raw`, `rawdeployment`, `serverless`): the mode it
/// means in the vocabulary of the file's KServe release (the newest when the file names none or
/// an unknown one), and the legacy name's status there.
fn mode_hint(doc: &Value, written: &str) -> Option<String> {
    let cat = crate::catalog::get();
    let release = doc
        .pointer("/kserve/version")
        .and_then(Value::as_str)
        .and_then(|v| cat.release(v))
        .unwrap_or_else(|| cat.newest());
    // An abbreviation (`raw`), else the closest name of any vocabulary (`Standardd`).
    let (meant, taken) = cat
        .mode_meant(release, written)
        .or_else(|| cat.mode_meant(release, did_you_mean(written, cat.mode_names())?))?;
    let v = &release.version;
    Some(if cat.has_canonical_modes(release) {
        if taken == meant {
            format!("did you mean `{meant}`?")
        } else {
            format!(
                "did you mean `{meant}`? (KServe {v} also accepts its legacy name `{taken}`, deprecated since v0.16.0: rule KG203)"
            )
        }
    } else {
        let canonical = cat.mode_vocabularies.values().find(|m| m.knative != meant && m.standard != meant);
        let newer = canonical.map(|m| if cat.modes(release).knative == meant { &m.knative } else { &m.standard });
        match newer {
            Some(n) => format!("did you mean `{meant}`? (KServe {v} predates the name `{n}`)"),
            None => format!("did you mean `{meant}`?"),
        }
    })
}

/// The closest candidate to `word`, if it is close enough to be what was meant.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn short(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let s = if s.chars().count() > 40 { format!("{}…", s.chars().take(40).collect::<String>()) } else { s };
    crate::diag::escape(&s).into_owned()
}

/// How the hint for a number or boolean where a string is expected begins: the loader, which
/// has the file's text, rewrites exactly these hints to quote the token as written.
pub(crate) const QUOTE_HINT: &str = "quote it: ";

/// Compiled validators, one per schema (compiling costs far more than validating a file).
fn validator(schema: &'static Value) -> &'static jsonschema::Validator {
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<Vec<(usize, &'static jsonschema::Validator)>>> = OnceLock::new();
    let key = schema as *const Value as usize;
    let mut cache = CACHE.get_or_init(Default::default).lock().expect("validator cache lock");
    if let Some((_, v)) = cache.iter().find(|(k, _)| *k == key) {
        return v;
    }
    let v: &'static jsonschema::Validator =
        Box::leak(Box::new(jsonschema::validator_for(schema).expect("kgen's own schema compiles")));
    cache.push((key, v));
    v
}

/// Validates `value` against `schema` and maps every error to a located diagnostic.
/// `locate` maps a JSON pointer (or `ptr#key` for a key) to a position.
pub fn schema_diagnostics(
    value: &Value,
    schema: &'static Value,
    locate: &dyn Fn(&str) -> Option<(usize, usize)>,
    file: &str,
) -> Vec<Diagnostic> {
    use jsonschema::error::ValidationErrorKind as K;
    let validator = validator(schema);
    let errors: Vec<_> = validator.iter_errors(value).collect();
    // A value outside a fixed set of the wrong type (`urlScheme: null`, `provider: 5`) fails both
    // `type` and `enum`; it is one problem, reported once, as KG105, whose message lists the
    // values allowed.
    let enum_at: std::collections::BTreeSet<String> = errors
        .iter()
        .filter(|e| matches!(e.kind(), K::Enum { .. } | K::Constant { .. }))
        .map(|e| e.instance_path().as_str().to_string())
        .collect();
    let mut out = Vec::new();
    for err in errors {
        let ptr = err.instance_path().as_str().to_string();
        if matches!(err.kind(), K::Type { .. }) && enum_at.contains(&ptr) {
            continue;
        }
        let instance = value.pointer(&ptr).unwrap_or(&Value::Null);
        let sub = schema_at(schema, &ptr);
        let here = |d: Diagnostic| d.in_file(file).at(locate(&ptr)).key(key_path(&ptr));
        match err.kind() {
            K::AdditionalProperties { unexpected } => {
                let allowed: Vec<&str> = sub
                    .and_then(|s| s.get("properties"))
                    .and_then(Value::as_object)
                    .map(|p| p.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                for key in unexpected {
                    let kp = format!("{ptr}/{}", crate::yaml::escape_pointer(key));
                    let mut d = Diagnostic::error(RuleCode::KG103, format!("unknown key `{key}`"))
                        .in_file(file)
                        .at(locate(&format!("{kp}#key")).or_else(|| locate(&ptr)))
                        .key(key_path(&kp))
                        .label("not a field here");
                    d = match did_you_mean(key, allowed.iter().copied()) {
                        Some(s) => d.hint(format!("did you mean `{s}`?")),
                        None => d.hint(format!("allowed keys here: {}", allowed.join(", "))),
                    };
                    out.push(d);
                }
            }
            K::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                let kp = format!("{ptr}/{name}");
                let desc = schema_at(schema, &kp)
                    .and_then(|s| s.get("description"))
                    .and_then(Value::as_str)
                    .map(first_sentence);
                let mut d = Diagnostic::error(RuleCode::KG107, "missing required field")
                    .in_file(file)
                    .at(locate(&ptr))
                    .key(key_path(&kp))
                    .label(format!("`{name}` missing here"));
                d = d.hint(match desc {
                    Some(desc) => {
                        format!("add `{name}` here or in the layer this file extends ({desc})")
                    }
                    None => format!("add `{name}` here or in the layer this file extends"),
                });
                out.push(d);
            }
            K::Type { kind } => {
                let expected = format!("{kind:?}").to_lowercase();
                let expected = expected
                    .trim_start_matches("single(")
                    .trim_end_matches(')')
                    .replace("object", "mapping")
                    .replace("array", "list");
                let mut d = here(Diagnostic::error(
                    RuleCode::KG104,
                    format!("expected {expected}, found {} `{}`", type_name(instance), short(instance)),
                ))
                .label(format!("{} here", type_name(instance)));
                if expected == "string" && matches!(instance, Value::Number(_) | Value::Bool(_)) {
                    // The loader replaces this with the token as written (`1.30`, not `1.3`).
                    d = d.hint(format!("{QUOTE_HINT}`\"{}\"`", short(instance)));
                } else if expected == "boolean" {
                    d = d.hint("write `true` or `false` (kgen reads YAML 1.2: `yes`, `on` are strings)");
                }
                out.push(d);
            }
            K::Enum { options } => {
                let opts: Vec<&str> =
                    options.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
                let got = short(instance);
                let mut d = here(Diagnostic::error(
                    RuleCode::KG105,
                    format!("unknown value `{got}`, expected one of: {}", opts.join(", ")),
                ))
                .label("not an allowed value");
                if ptr == DEPLOYMENT_MODE
                    && let Some(h) = mode_hint(value, &got)
                {
                    d = d.hint(h);
                } else if let Some(s) = did_you_mean(&got, opts.iter().copied()) {
                    d = d.hint(format!("did you mean `{s}`?"));
                } else if instance.is_null() {
                    d = d.hint("a key without a value is null: write one of the values, or remove the key");
                }
                out.push(d);
            }
            K::Constant { expected_value } => {
                out.push(
                    here(Diagnostic::error(
                        RuleCode::KG105,
                        format!("unknown value `{}`, expected `{}`", short(instance), short(expected_value)),
                    ))
                    .label("not the allowed value"),
                );
            }
            K::Pattern { pattern } => {
                let desc = sub.and_then(|s| s.get("description")).and_then(Value::as_str).map(first_sentence);
                let mut d = here(Diagnostic::error(RuleCode::KG106, format!("malformed value `{}`", short(instance))))
                    .label(format!("does not match `{pattern}`"));
                if let Some(desc) = desc {
                    d = d.hint(format!("expected: {desc}"));
                }
                out.push(d);
            }
            _ => out.push(here(Diagnostic::error(RuleCode::KG105, err.to_string()))),
        }
    }
    out
}

/// Free strings (names, channels, revisions, Knative settings, descriptions, keys) may hold no
/// line break and no control character. Each lands in generated YAML, a shell script or a
/// terminal message on one line: a line break there is either a mistake or an attempt to add
/// keys or commands of its own (issue 14, D1), and a control character can rewrite the terminal
/// that prints it. Unicode's line and paragraph separators count (YAML 1.1 readers break lines
/// at them), and so do bidirectional overrides, which make a reviewer read another value than
/// the one rendered ([`crate::diag::is_unprintable`]). Helm values (`values:`) are exempt: they
/// are data for the chart, serialised whole, where multi-line strings (a config file, a script)
/// are legitimate and safe. Knative settings
/// (`knative.config.<map>.<key>`) may hold line breaks and tabs, as ConfigMap data does
/// (`istio.local-gateways` is YAML in a string): they are placed as one map by the serializer,
/// which indents a `|` block under its key; other control characters are refused there too.
pub fn control_character_diagnostics(
    value: &Value,
    locate: &dyn Fn(&str) -> Option<(usize, usize)>,
    file: &str,
) -> Vec<Diagnostic> {
    fn bad(s: &str, ptr: &str) -> bool {
        // `/knative/config/<map>/<key>`: ConfigMap data.
        let data = ptr.starts_with("/knative/config/") && ptr.matches('/').count() == 4;
        s.chars().any(|c| crate::diag::is_unprintable(c) && !(data && matches!(c, '\n' | '\t')))
    }
    fn walk(
        v: &Value,
        ptr: &mut String,
        locate: &dyn Fn(&str) -> Option<(usize, usize)>,
        file: &str,
        out: &mut Vec<Diagnostic>,
    ) {
        let diag = |what: &str, at: Option<(usize, usize)>, ptr: &str| {
            Diagnostic::error(RuleCode::KG106, format!("{what} holds a line break or a control character"))
                .in_file(file)
                .at(at)
                .key(key_path(ptr))
                .label("not allowed here")
                .hint("write it on one line without control characters; multi-line text belongs only in `values:`")
        };
        match v {
            Value::String(s) if bad(s, ptr) => out.push(diag("value", locate(ptr), ptr)),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = ptr.len();
                    ptr.push_str(&format!("/{i}"));
                    walk(item, ptr, locate, file, out);
                    ptr.truncate(len);
                }
            }
            Value::Object(map) => {
                for (k, item) in map {
                    if ptr.is_empty() && k == "values" {
                        continue;
                    }
                    let len = ptr.len();
                    ptr.push('/');
                    ptr.push_str(&crate::yaml::escape_pointer(k));
                    if bad(k, "") {
                        out.push(diag("key", locate(&format!("{ptr}#key")).or_else(|| locate(ptr)), ptr));
                    } else {
                        walk(item, ptr, locate, file, out);
                    }
                    ptr.truncate(len);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut String::new(), locate, file, &mut out);
    out
}

fn first_sentence(s: &str) -> String {
    let s = s.split("\n\n").next().unwrap_or(s);
    let end = s.find(". ").map_or(s.len(), |i| i);
    s[..end].trim_end_matches('.').replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths() {
        assert_eq!(key_path("/kserve/deploymentMode"), "kserve.deploymentMode");
        assert_eq!(key_path("/values/kserve/a~1b/0"), "values.kserve.a/b[0]");
        assert_eq!(key_path(""), "");
    }

    #[test]
    fn control_characters_are_found_outside_values_only() {
        let v = serde_json::json!({
            "gitops": {"revision": "main\nplugin: x"},
            "knative": {"config": {"features": {"a\u{1b}": "x", "b": "y\u{2028}", "c": "multi\nline", "d": "\u{202e}x"}}},
            "description": "fine",
            "values": {"kserve": {"script": "multi\nline"}},
        });
        let diags = control_character_diagnostics(&v, &|_| None, "f.yaml");
        let keys: Vec<_> = diags.iter().map(|d| d.key_path.clone().unwrap_or_default()).collect();
        assert_eq!(
            keys,
            [
                "gitops.revision",
                "knative.config.features.a\u{1b}",
                "knative.config.features.b",
                "knative.config.features.d"
            ]
        );
        assert!(diags.iter().all(|d| d.code == RuleCode::KG106));
    }

    #[test]
    fn suggestions() {
        assert_eq!(did_you_mean("deploymentMdoe", ["deploymentMode", "namespace"]), Some("deploymentMode"));
        assert_eq!(did_you_mean("zzz", ["deploymentMode", "namespace"]), None);
    }
}
