//! The template engine: minijinja with auto-escaping off (its JSON escaping of `.yaml` files
//! silently corrupts text), strict undefined (a typo fails instead of rendering empty), and the
//! serializer filters every value must go through.

use std::sync::OnceLock;

use minijinja::value::{Kwargs, Value as JValue};
use minijinja::{AutoEscape, Environment, Error as JError, ErrorKind, UndefinedBehavior};

include!(concat!(env!("OUT_DIR"), "/templates.rs"));

/// Marks where a block value starts in rendered text; removed by [`finish`].
const BLOCK_MARK: char = '\u{1}';

/// Post-processes rendered template text: drops the space before each block value.
pub fn finish(text: &str) -> Result<String, String> {
    let out = text.replace(&format!(" {BLOCK_MARK}"), "");
    if out.contains(BLOCK_MARK) {
        return Err("a block value must follow `key: ` or `- `".into());
    }
    Ok(out)
}

/// The embedded templates, `(name, text)`, in name order.
pub fn sources() -> &'static [(&'static str, &'static str)] {
    TEMPLATES
}

/// The shared engine with every embedded template loaded.
pub fn engine() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // Order matters: escaping, syntax and filters are fixed when a template is added.
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_debug(cfg!(debug_assertions));
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .expect("static syntax config is valid");
        env.set_syntax(syntax);
        env.add_filter("toyaml", toyaml);
        env.add_filter("merge", merge);
        env.add_filter("comment", comment);
        for (name, text) in TEMPLATES {
            let name = name.trim_end_matches(".j2");
            env.add_template(name, text).unwrap_or_else(|e| panic!("embedded template {name} is invalid: {e:#}"));
        }
        env
    })
}

/// Text for the rest of a `#` comment line: line breaks (which would end the comment and start
/// YAML) become spaces. A comment has no other syntax to escape.
pub(crate) fn comment(value: &str) -> String {
    value.split(['\n', '\r']).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Serialises any value as YAML: scalars inline (quoted where a YAML 1.1 reader would misread
/// them), maps and lists as an indented block starting on the next line. `indent` is the
/// column of the block's keys.
fn toyaml(value: &JValue, kwargs: Kwargs) -> Result<JValue, JError> {
    let indent: usize = kwargs.get::<Option<usize>>("indent")?.unwrap_or(2);
    kwargs.assert_all_used()?;
    if let Some(s) = value.as_str()
        && is_plain_safe(s)
    {
        return Ok(JValue::from_safe_string(s.to_string()));
    }
    let json: serde_json::Value = serde_json::to_value(value)
        .map_err(|e| JError::new(ErrorKind::InvalidOperation, "value cannot be serialised").with_source(e))?;
    let is_block = matches!(&json, serde_json::Value::Object(m) if !m.is_empty())
        || matches!(&json, serde_json::Value::Array(a) if !a.is_empty());
    if !is_block {
        // A scalar stays on the key's line whatever it holds: a `|` block's body would have to
        // sit at the key's depth, which the filter cannot know (a body at the wrong depth turns
        // a revision into keys of its own). Inside a block value below, the serializer indents
        // block scalars itself, relative to their keys, so they are safe there.
        let text = crate::yaml::to_inline_string(&json)
            .map_err(|e| JError::new(ErrorKind::InvalidOperation, format!("cannot serialise to YAML: {e}")))?;
        return Ok(JValue::from_safe_string(text));
    }
    let text = crate::yaml::to_string(&json)
        .map_err(|e| JError::new(ErrorKind::InvalidOperation, format!("cannot serialise to YAML: {e}")))?;
    let text = text.trim_end_matches('\n');
    let pad = " ".repeat(indent);
    // The mark lets the renderer drop the space the template wrote after `key:`, so no line
    // ends in whitespace (see `finish`).
    let mut out = String::from(BLOCK_MARK);
    for line in text.lines() {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&pad);
        }
        out.push_str(line);
    }
    Ok(JValue::from_safe_string(out))
}

/// Strings every YAML reader (1.1 and 1.2) reads back as the same string when written plain:
/// a letter first (so never a number, date or `.inf`), then only letters, digits and `-_./`,
/// and not one of YAML 1.1's boolean or null words. Most values are such names, and skipping the
/// serializer for them halves the cost of a fleet render; anything else goes through it.
fn is_plain_safe(s: &str) -> bool {
    const WORDS: &[&str] = &["y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf", "infinity"];
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 200
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'/'))
        && !WORDS.iter().any(|w| w.eq_ignore_ascii_case(s))
}

/// Deep merge (maps merge, the rest replaces), as for layering.
fn merge(base: &JValue, over: &JValue) -> Result<JValue, JError> {
    let mut a: serde_json::Value = serde_json::to_value(base)
        .map_err(|e| JError::new(ErrorKind::InvalidOperation, "merge: bad left side").with_source(e))?;
    let b: serde_json::Value = serde_json::to_value(over)
        .map_err(|e| JError::new(ErrorKind::InvalidOperation, "merge: bad right side").with_source(e))?;
    crate::config::merge::deep_merge(&mut a, &b);
    Ok(JValue::from(minijinja::value::Serde(&a)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_template_loads() {
        let env = engine();
        for (name, _) in sources() {
            assert!(env.get_template(name.trim_end_matches(".j2")).is_ok(), "{name}");
        }
    }

    #[test]
    fn no_auto_escaping_of_yaml() {
        let out = engine().render_str("x: {{ a }}/{{ b }}", minijinja::context! { a => "a", b => "b" }).unwrap();
        assert_eq!(out, "x: a/b");
    }

    #[test]
    fn strict_undefined_fails() {
        assert!(engine().render_str("{{ missing }}", minijinja::context! {}).is_err());
    }

    #[test]
    fn comment_keeps_text_on_one_line() {
        assert_eq!(comment("a\nb\r\nc"), "a b c");
        assert_eq!(comment("istio/istio#57354"), "istio/istio#57354");
    }

    #[test]
    fn toyaml_quotes_and_indents() {
        let out = engine()
            .render_str(
                "a: {{ s | toyaml }}\nm: {{ m | toyaml(indent=2) }}",
                minijinja::context! { s => "true", m => minijinja::value::Value::from(minijinja::value::Serde(serde_json::json!({"on": "1.20"}))) },
            )
            .unwrap();
        let out = finish(&out).unwrap();
        assert_eq!(out, "a: \"true\"\nm:\n  \"on\": \"1.20\"");
        let v: serde_json::Value = crate::yaml::from_str(&out, crate::yaml::Budget::Render).unwrap();
        assert_eq!(v, serde_json::json!({"a": "true", "m": {"on": "1.20"}}));
    }

    #[test]
    fn the_plain_fast_path_agrees_with_the_serializer() {
        let cases = [
            "kserve",
            "v0.20.0",
            "1.21.1",
            "istio-system",
            "knative-serving/knative-local-gateway",
            "Yes",
            "ON",
            "off",
            "y",
            "N",
            "true",
            "False",
            "null",
            "Null",
            "nan",
            "a.b/c_d-e",
            "x1",
            "e10",
            "E1",
            "on-prem",
            "no_way",
            "0777",
            "1e3",
            "2024-01-01",
            ".inf",
            "-dash",
            "_under",
            "a b",
            "a:b",
            "a#b",
            "~",
            "",
            "TRUE",
            "True",
            "NaN",
            "Inf",
            "infinity",
            "Infinity",
            "yES",
            "nO",
            "oN",
            "OfF",
            "x",
            "Z",
            "ok",
            "none",
            "None",
            "nil",
            "NULL",
            "a.",
            "a..b",
            "a/",
            "b-",
            "e",
            "E",
            "x0",
            "0x",
            "o",
            "O",
        ];
        for c in cases {
            let via_serializer = crate::yaml::to_string(&serde_json::json!(c)).unwrap();
            if is_plain_safe(c) {
                assert_eq!(via_serializer.trim_end(), c, "{c:?} is written plain by the serializer too");
            }
            let back: serde_json::Value =
                crate::yaml::from_str(&format!("k: {}\n", via_serializer.trim_end()), crate::yaml::Budget::Render)
                    .unwrap();
            assert_eq!(back["k"], c);
        }
    }

    #[test]
    fn multi_line_scalars_cannot_leave_their_key_at_any_depth() {
        // gitops.revision in issue 14 (D1): a `|` block at the template's indentation, not the
        // key's, became two keys of the Application.
        for v in ["directory:\n  recurse: true\nplugin:\n  name: evil-cmp\n", "main\n", "|\n  main", "a\u{2028}b: c"] {
            let out = engine()
                .render_str(
                    "spec:\n  source:\n    targetRevision: {{ v | toyaml }}\n    path: x\n",
                    minijinja::context! { v => v },
                )
                .unwrap();
            let back: serde_json::Value =
                crate::yaml::from_str(&finish(&out).unwrap(), crate::yaml::Budget::Render).unwrap();
            assert_eq!(back, serde_json::json!({"spec": {"source": {"targetRevision": v, "path": "x"}}}), "{out}");
        }
    }

    #[test]
    fn injection_is_impossible() {
        let out = engine().render_str("k: {{ v | toyaml }}\n", minijinja::context! { v => "x\nkind: Secret" }).unwrap();
        let v: serde_json::Value = crate::yaml::from_str(&out, crate::yaml::Budget::Render).unwrap();
        assert_eq!(v, serde_json::json!({"k": "x\nkind: Secret"}));
    }
}
