//! Injection-proof output (issue 14, D1): whatever a free string holds, no rendered YAML file
//! parses to a different structure than the one the template means. Validation refuses such
//! strings first (KG106, see `tests/fixtures/invalid/injection-gitops-revision`); these tests
//! bypass validation and feed arbitrary strings straight into the resolved environment, so they
//! prove the serializers alone hold the structure.

use crate::common;

use std::collections::BTreeMap;

use common::{examples, resolved_in, root};
use kgen::config::model::Environment;
use kgen::config::resolve::Resolved;
use proptest::prelude::*;
use serde_json::Value;

/// Every string the source of the merged environment holds outside `values:` (Helm values are
/// serialised whole, by the serializer, never placed by a template), as JSON pointers.
fn string_fields(v: &Value, ptr: &str, out: &mut Vec<String>) {
    match v {
        Value::String(_) => out.push(ptr.to_string()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                string_fields(item, &format!("{ptr}/{i}"), out);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                if ptr.is_empty() && k == "values" {
                    continue;
                }
                string_fields(item, &format!("{ptr}/{}", kgen::yaml::escape_pointer(k)), out);
            }
        }
        _ => {}
    }
}

/// The environment with the strings at the given pointers replaced, or `None` when the typed
/// model does not take the change (an enum, say: those cannot hold free text).
fn with_strings(r: &Resolved, set: &[(String, String)]) -> Option<Resolved> {
    let mut v = serde_json::to_value(&r.env).ok()?;
    for (ptr, s) in set {
        *v.pointer_mut(ptr)? = Value::String(s.clone());
    }
    let env: Environment = serde_json::from_value(v).ok()?;
    let mut out = r.clone();
    out.env = env;
    Some(out)
}

/// `(probe, placeholder)` pairs, longest probe first.
type Probes = [(String, String)];

fn unprobe(s: &str, probes: &Probes) -> String {
    probes.iter().fold(s.to_string(), |s, (probe, placeholder)| s.replace(probe.as_str(), placeholder))
}

/// The structure of a document: keys and nesting, every scalar replaced by its type, with each
/// probe in keys mapped back to its placeholder (a value may also be a key, a namespace say).
fn shape(v: &Value, probes: &Probes) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (unprobe(k, probes), shape(v, probes))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(|v| shape(v, probes)).collect()),
        Value::String(_) => Value::from("string"),
        Value::Number(_) => Value::from("number"),
        Value::Bool(_) => Value::from("bool"),
        Value::Null => Value::Null,
    }
}

/// Path → document shapes of every YAML file of a render; `None` where a file does not parse.
fn shapes(r: &Resolved, sources: &BTreeMap<String, String>, probes: &Probes) -> BTreeMap<String, Option<Vec<Value>>> {
    let rendered = match kgen::render::render(r, sources) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("render failed: {e}");
            return BTreeMap::new();
        }
    };
    rendered
        .files
        .iter()
        .filter(|(p, _)| p.ends_with(".yaml"))
        .map(|(p, text)| {
            let docs = kgen::yaml::from_str_multi::<Value>(text, kgen::yaml::Budget::Render)
                .ok()
                .map(|d| d.iter().map(|d| shape(d, probes)).collect());
            (unprobe(p, probes), docs)
        })
        .collect()
}

/// Strings that broke, or nearly broke, rendered files: block scalars, YAML 1.1 line breaks,
/// flow and document markers, comment starts, terminal escapes.
const HOSTILE: &[&str] = &[
    "directory:\n  recurse: true\nplugin:\n  name: evil-cmp\n",
    "|\n  main",
    "main\n",
    "x\u{2028}kind: Secret",
    "x\u{85}kind: Secret",
    "x\r\nkind: Secret",
    "\n---\nkind: Secret",
    "x # comment",
    "x: y",
    "{a: b}",
    "[a]",
    "&a x",
    "*a",
    "'",
    "\"",
    "\u{1b}[2J",
    "\t- a",
    "",
    " ",
];

/// One example with every free string that renders as a plain name set to its own placeholder.
struct Baseline {
    name: String,
    sources: BTreeMap<String, String>,
    resolved: Resolved,
    /// `(pointer, placeholder)` of every free string field.
    fields: Vec<(String, String)>,
    want: BTreeMap<String, Option<Vec<Value>>>,
}

/// Each example with each free string field set to a distinct placeholder (`zq<i>x`: a valid
/// name, unlikely in output by chance, none a prefix of another). Fields whose placeholder the
/// render refuses (a version, say) are left out: the probe targets free text.
fn baselines() -> &'static [Baseline] {
    static B: std::sync::OnceLock<Vec<Baseline>> = std::sync::OnceLock::new();
    B.get_or_init(|| {
        examples()
            .into_iter()
            .map(|name| {
                let (ws, r) = resolved_in(&root(), &name);
                let mut ptrs = Vec::new();
                string_fields(&serde_json::to_value(&r.env).unwrap(), "", &mut ptrs);
                let mut fields = Vec::new();
                for (i, ptr) in ptrs.into_iter().enumerate() {
                    let field = (ptr, format!("zq{i}x"));
                    let mut trial = fields.clone();
                    trial.push(field.clone());
                    if with_strings(&r, &trial).is_some_and(|t| kgen::render::render(&t, &ws.sources).is_ok()) {
                        fields = trial;
                    }
                }
                let base = with_strings(&r, &fields).expect("placeholders fit the model");
                let same: Vec<(String, String)> = fields.iter().map(|(_, p)| (p.clone(), p.clone())).collect();
                let want = shapes(&base, &ws.sources, &same);
                assert!(!want.is_empty(), "{name}: the placeholder render works");
                Baseline { name, sources: ws.sources, resolved: r.resolved, fields, want }
            })
            .collect()
    })
}

/// Every free string of every example set to `placeholder + suffix` at once (each its own): the
/// render has the same files, each parsing to the same structure as with the placeholders.
fn check_all(suffix: &str) -> Result<(), TestCaseError> {
    for b in baselines() {
        let set: Vec<(String, String)> =
            b.fields.iter().map(|(ptr, p)| (ptr.clone(), format!("{p}{suffix}"))).collect();
        let Some(probed) = with_strings(&b.resolved, &set) else { continue };
        let mut probes: Vec<(String, String)> =
            b.fields.iter().map(|(_, p)| (format!("{p}{suffix}"), p.clone())).collect();
        probes.sort_by_key(|(probe, _)| std::cmp::Reverse(probe.len()));
        // The render must succeed: debug builds parse what templates produce, so a refusal here
        // would hide, behind an internal error, a file a release build writes.
        let got = shapes(&probed, &b.sources, &probes);
        prop_assert!(!got.is_empty(), "{} with suffix {:?}: the render failed", b.name, suffix);
        prop_assert_eq!(&b.want, &got, "{} with suffix {:?}", b.name, suffix);
    }
    Ok(())
}

#[test]
fn every_example_has_free_strings_under_test() {
    for b in baselines() {
        let ptrs: Vec<&str> = b.fields.iter().map(|(p, _)| p.as_str()).collect();
        assert!(
            ptrs.contains(&"/gitops/revision") || b.resolved.env.gitops.engine.as_str() == "none",
            "{}: {ptrs:?}",
            b.name
        );
        assert!(ptrs.len() >= 8, "{}: {ptrs:?}", b.name);
    }
}

#[test]
fn hostile_strings_in_every_free_field_keep_the_structure() {
    for s in HOSTILE {
        check_all(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
    }
}

proptest! {
    // Each case renders every example once, every free string probed at once.
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_in_every_free_field_keep_the_structure(
        s in proptest::string::string_regex("[ -~\n\r\t\u{85}\u{2028}\u{1b}:#|>&*!%@`'\"{}\\[\\],-]{0,24}").unwrap()
    ) {
        check_all(&s)?;
    }
}

/// The check release builds run on every file they write holds for every file of every
/// example: each YAML file reads back as exactly what it says.
#[test]
fn every_rendered_file_passes_the_write_check() {
    for name in examples() {
        let r = common::render_example(&name);
        for (path, text) in &r.files {
            kgen::render::verify_file(path, text).unwrap_or_else(|e| panic!("{name}/{path}: {e}"));
        }
    }
}

/// The write check refuses what an injection (or a template at the wrong depth) produces.
#[test]
fn the_write_check_refuses_changed_structure() {
    let header = "# Generated by kgen from environments/dev.yaml.\n";
    let app = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: a\n";
    kgen::render::verify_file("argocd/a.yaml", &format!("{header}{app}spec:\n  source:\n    targetRevision: main\n"))
        .unwrap();
    for bad in [
        // D1 as the old filter wrote it: a block scalar's body at the template's depth, not the
        // key's, leaves the key without a value.
        "spec:\n  source:\n    targetRevision: |\n  directory:\n    recurse: true\n",
        // A block placed at the wrong depth.
        "spec:\n  source:\n    helm:\n    valueFiles:\n    - x\n",
        "spec: {}\n---\nkind: Secret\n",
    ] {
        assert!(kgen::render::verify_file("argocd/a.yaml", &format!("{header}{app}{bad}")).is_err(), "{bad}");
    }
    // Values are written by the serializer: they must read back byte for byte.
    kgen::render::verify_file("values/kserve.yaml", &format!("{header}a:\n  b: \"on\"\n")).unwrap();
    assert!(kgen::render::verify_file("values/kserve.yaml", &format!("{header}a:\n  b: on\n  c:\n")).is_err());
    let wrong_place = format!("{header}apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\n  namespace: a\n");
    assert!(kgen::render::verify_file("manifests/a/secret-y.yaml", &wrong_place).is_err());
    kgen::render::verify_file("manifests/a/secret-x.yaml", &wrong_place).unwrap();
}
