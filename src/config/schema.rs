//! The JSON Schema of environment files, generated from [`super::model`] (draft-07, which is what
//! yaml-language-server reads) and committed as `schemas/environment.schema.json`.

use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use super::model::Environment;

/// URL-ish identifier of the schema.
pub const SCHEMA_ID: &str = "https://kgen.dev/schemas/environment.schema.json";

/// The full schema: what a merged environment must satisfy.
pub fn environment_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let generator = schemars::generate::SchemaSettings::draft07().into_generator();
        let schema = generator.into_root_schema_for::<Environment>();
        let mut value = serde_json::to_value(schema).expect("schema serialises");
        tidy(&mut value);
        if let Value::Object(m) = &mut value {
            m.insert("$id".into(), json!(SCHEMA_ID));
        }
        value
    })
}

/// The schema each file is checked against on its own: the same, but nothing is required except
/// the header, since a layer may be partial.
pub fn layer_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut value = environment_schema().clone();
        strip_required(&mut value);
        if let Value::Object(m) = &mut value {
            m.insert("required".into(), json!(["apiVersion", "kind"]));
        }
        value
    })
}

/// Identifier of the layer schema.
pub const LAYER_SCHEMA_ID: &str = "https://kgen.dev/schemas/layer.schema.json";

/// The schema as committed: pretty JSON with a trailing newline.
pub fn schema_text() -> String {
    let mut s = serde_json::to_string_pretty(environment_schema()).expect("schema serialises");
    s.push('\n');
    s
}

/// The layer schema as committed (`schemas/layer.schema.json`), for editors: like
/// [`layer_schema`], with its own `$id` and title.
pub fn layer_schema_text() -> String {
    let mut v = layer_schema().clone();
    if let Value::Object(m) = &mut v {
        m.insert("$id".into(), json!(LAYER_SCHEMA_ID));
        m.insert("title".into(), json!("kgen layer (environments/_*.yaml)"));
    }
    let mut s = serde_json::to_string_pretty(&v).expect("schema serialises");
    s.push('\n');
    s
}

fn strip_required(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("required");
            m.values_mut().for_each(strip_required);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_required),
        _ => {}
    }
}

/// Post-processing that keeps the schema simple for editors and for error messages:
/// - `Option<T>` fields: drop the `null` alternative (kgen never wants an explicit `null`);
/// - unit enums with documented variants (`oneOf` of `const`s): a plain `enum` whose
///   description lists each value, so a bad value yields one "not one of" error.
fn tidy(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.values_mut().for_each(tidy);
            drop_null_alternative(m);
            const_one_of_to_enum(m);
        }
        Value::Array(a) => a.iter_mut().for_each(tidy),
        _ => {}
    }
}

fn drop_null_alternative(m: &mut Map<String, Value>) {
    if let Some(Value::Array(types)) = m.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let t = types.remove(0);
            m.insert("type".into(), t);
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(alts)) = m.get(key) {
            let non_null: Vec<Value> =
                alts.iter().filter(|a| a.get("type").and_then(Value::as_str) != Some("null")).cloned().collect();
            if non_null.len() == 1 && alts.len() == 2 {
                m.remove(key);
                if let Value::Object(inner) = non_null.into_iter().next().expect("one") {
                    for (k, v) in inner {
                        m.entry(k).or_insert(v);
                    }
                }
            }
        }
    }
}

fn const_one_of_to_enum(m: &mut Map<String, Value>) {
    let Some(Value::Array(alts)) = m.get("oneOf") else {
        return;
    };
    let consts: Option<Vec<(Value, Option<String>)>> =
        alts.iter()
            .map(|a| {
                let c = a.get("const").cloned().or_else(|| {
                    a.get("enum").and_then(Value::as_array).filter(|e| e.len() == 1).map(|e| e[0].clone())
                })?;
                Some((c, a.get("description").and_then(Value::as_str).map(str::to_string)))
            })
            .collect();
    let Some(consts) = consts else { return };
    let lines: Vec<String> = consts
        .iter()
        .filter_map(|(c, d)| d.as_ref().map(|d| format!("- `{}`: {d}", c.as_str().unwrap_or_default())))
        .collect();
    m.remove("oneOf");
    m.insert("type".into(), json!("string"));
    m.insert("enum".into(), Value::Array(consts.into_iter().map(|(c, _)| c).collect()));
    if !lines.is_empty() {
        let mut desc = m.get("description").and_then(Value::as_str).unwrap_or_default().to_string();
        if !desc.is_empty() {
            desc.push_str("\n\n");
        }
        desc.push_str(&lines.join("\n"));
        m.insert("description".into(), json!(desc));
    }
}

/// The sub-schema that describes the value at a JSON pointer of an instance (following `$ref`,
/// `properties`, `additionalProperties` and `items`), for did-you-mean suggestions.
pub fn schema_at<'a>(root: &'a Value, pointer: &str) -> Option<&'a Value> {
    let mut node = deref(root, root)?;
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        let next = node
            .get("properties")
            .and_then(|p| p.get(&seg))
            .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()))
            .or_else(|| node.get("items"))?;
        node = deref(root, next)?;
    }
    Some(node)
}

fn deref<'a>(root: &'a Value, node: &'a Value) -> Option<&'a Value> {
    let mut node = node;
    for _ in 0..16 {
        match node.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let path = r.strip_prefix('#')?;
                node = root.pointer(path)?;
            }
            None => {
                // `allOf: [{$ref}]` wrappers produced for documented references.
                if let Some(Value::Array(all)) = node.get("allOf")
                    && all.len() == 1
                {
                    node = &all[0];
                    continue;
                }
                return Some(node);
            }
        }
    }
    Some(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_is_draft07_with_enums() {
        let s = environment_schema();
        assert_eq!(s["$schema"], "http://json-schema.org/draft-07/schema#");
        let mode = schema_at(s, "/kserve/deploymentMode").unwrap();
        assert_eq!(mode["enum"], json!(["Knative", "Standard", "Serverless", "RawDeployment"]));
        let props = schema_at(s, "/kserve").unwrap()["properties"].as_object().unwrap();
        assert!(props.contains_key("ingressDomain"));
    }

    #[test]
    fn every_property_has_a_description() {
        fn walk(v: &Value, path: &str, missing: &mut Vec<String>) {
            if let Some(props) = v.get("properties").and_then(Value::as_object) {
                for (k, p) in props {
                    if p.get("description").is_none() {
                        missing.push(format!("{path}/{k}"));
                    }
                }
            }
            if let Value::Object(m) = v {
                for (k, c) in m {
                    walk(c, &format!("{path}/{k}"), missing);
                }
            }
        }
        let mut missing = Vec::new();
        walk(environment_schema(), "", &mut missing);
        assert!(missing.is_empty(), "undocumented fields: {missing:?}");
    }
}
