//! The machine format: [`Report`](super::Report) as pretty JSON, and its JSON Schema (draft-07,
//! generated from the same types, committed as `schemas/diff.schema.json` and tested for
//! drift). `schemaVersion` says which version of the format a report follows.

use serde_json::{Value, json};

use super::{Report, SCHEMA_VERSION};

/// Identifier of the schema.
pub const SCHEMA_ID: &str = "https://kgen.dev/schemas/diff.schema.json";

/// The report as pretty JSON with a trailing newline.
pub fn render(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("the report serialises");
    s.push('\n');
    s
}

/// The JSON Schema of [`render`]'s output.
pub fn schema() -> Value {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<Report>();
    let mut value = serde_json::to_value(schema).expect("schema serialises");
    if let Value::Object(m) = &mut value {
        m.insert("$id".into(), json!(SCHEMA_ID));
        // Pin the version: a report of another version does not validate.
        if let Some(p) = m.get_mut("properties").and_then(|p| p.get_mut("schemaVersion")).and_then(Value::as_object_mut)
        {
            p.insert("const".into(), json!(SCHEMA_VERSION));
        }
    }
    value
}

/// The schema as committed: pretty JSON with a trailing newline.
pub fn schema_text() -> String {
    let mut s = serde_json::to_string_pretty(&schema()).expect("schema serialises");
    s.push('\n');
    s
}
