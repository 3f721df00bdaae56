//! Rules against the previous render (stage `history`): what the cluster already has, as the
//! previous `kgen.lock.json` records it, constrains what the new render may do.

use serde_json::Value;

use super::diag;
use crate::catalog;
use crate::config::resolve::Resolved;
use crate::diag::Diagnostic;
use crate::version::Version;

/// Runs the history rules; `previous` is the parsed `kgen.lock.json` of the previous render.
pub fn check(r: &Resolved, previous: &Value) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    // KG206: Gateway API v1.5+ installs an admission policy that denies older CRD bundles.
    let facts = &catalog::get().rule_facts;
    let safe = Version::parse(&facts.gateway_api_safe_upgrades_from).expect("catalog version parses");
    let before = previous.pointer("/versions/gatewayApi").and_then(Value::as_str);
    let now = super::needed_pins(r).contains(&"gatewayApi").then(|| r.pin("gatewayApi")).flatten();
    if let (Some(before), Some(now)) = (before, now)
        && let (Some(b), Some(n)) = (Version::parse(before), Version::parse(now))
        && b >= safe
        && n < safe
    {
        out.push(r.diag_at_any(
            diag(
                "KG206",
                format!(
                    "the cluster has Gateway API {before}, whose `safe-upgrades.gateway.networking.k8s.io` policy denies the {now} CRDs this render installs"
                ),
            )
            .label(format!("a downgrade from {before}")),
            &["/versions/gatewayApi", "/kserve/version"],
        ));
    }
    out
}
