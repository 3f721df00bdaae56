//! Operations on untyped values (`serde_json::Value`) shared by every layer: the catalog's
//! values by chart version, layering, templates and Helm values overrides all merge the same way.

use serde_json::Value;

/// Deep-merges `src` over `dst` with the same rule (maps merge, the rest replaces). Used for
/// Helm values overrides.
pub fn deep_merge(dst: &mut Value, src: &Value) {
    match (dst, src) {
        (Value::Object(d), Value::Object(s)) => {
            for (k, v) in s {
                match d.get_mut(k) {
                    Some(existing) => deep_merge(existing, v),
                    None => {
                        d.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (dst, src) => *dst = src.clone(),
    }
}
