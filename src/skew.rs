//! Version skew: how far each component moves between what the cluster has (the previous
//! render's `kgen.lock.json`) and a new render, judged by the catalog's upgrade policies
//! (`upgradePolicies`). One judgement, three readers: the history rules (KG220–KG225) refuse or
//! warn, `kgen diff` flags the same moves as risks, and `kgen upgrade` plans around them.

use std::collections::BTreeMap;

use crate::catalog::{self, Catalog, UpgradePolicy};
use crate::rule_code::RuleCode;
use crate::version::Version;

/// One move beyond what upstream supports in one sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skew {
    /// The history rule that reports it.
    pub code: RuleCode,
    /// The component's pin name (`knativeServing`, `istio`, …; `kserve` for the release).
    pub component: String,
    /// The version the cluster has.
    pub old: String,
    /// The version the new render installs.
    pub new: String,
    /// The minors in between that the move skips (`1.16`, `1.17`, …), in the order of the move;
    /// empty when the problem is not a distance (an operator that cannot reconcile, a migration).
    pub skipped: Vec<String>,
    /// What is wrong, one sentence without a final full stop.
    pub message: String,
    /// What to do instead.
    pub advice: String,
    /// Where the policy was read (the first source).
    pub source: String,
}

impl Skew {
    /// The message and the advice as one line, for `kgen diff`'s risk flags.
    pub fn line(&self) -> String {
        format!("{}: {}", self.message, self.advice)
    }
}

/// Every skew between the versions the cluster has (`old`, from the previous lock, with its
/// KServe release) and those of a new render (`new`, with its KServe release).
pub fn assess(
    old: &BTreeMap<String, String>,
    old_kserve: &str,
    new: &BTreeMap<&str, &str>,
    new_kserve: &str,
) -> Vec<Skew> {
    let cat = catalog::get();
    let mut out = Vec::new();
    for (component, policy) in &cat.upgrade_policies {
        let (Some(distance), Some(rule)) = (policy.distance, policy.rule.as_deref().and_then(RuleCode::parse)) else {
            continue;
        };
        let (Some(before), Some(after)) = (old.get(component.as_str()), new.get(component.as_str())) else {
            continue;
        };
        if let Some(s) = distance_skew(cat, component, policy, distance, rule, before, after) {
            out.push(s);
        }
    }
    out.extend(operator_skews(cat, old, new));
    out.extend(migrations(cat, old_kserve, new_kserve));
    out
}

/// The minors strictly between two versions of one major, in the order of the move; `None` when
/// the majors differ (no minor count applies).
pub fn minors_between(from: &Version, to: &Version) -> Option<Vec<String>> {
    let ((fm, fn_), (tm, tn)) = (from.minor(), to.minor());
    if fm != tm {
        return None;
    }
    Some(if tn > fn_ {
        (fn_ + 1..tn).map(|m| format!("{fm}.{m}")).collect()
    } else {
        (tn + 1..fn_).rev().map(|m| format!("{fm}.{m}")).collect()
    })
}

/// A move of more minors than `distance` (up only when the policy says so).
fn distance_skew(
    cat: &Catalog,
    component: &str,
    policy: &UpgradePolicy,
    distance: u64,
    rule: RuleCode,
    before: &str,
    after: &str,
) -> Option<Skew> {
    let (b, a) = (Version::parse(before)?, Version::parse(after)?);
    if a.minor() == b.minor() || (policy.up_only && a < b) {
        return None;
    }
    let skipped = minors_between(&b, &a);
    let moved = match &skipped {
        Some(s) => s.len() as u64 + 1,
        None => u64::MAX,
    };
    if moved <= distance {
        return None;
    }
    let skipped = skipped.unwrap_or_default();
    let prefix = if before.starts_with('v') { "v" } else { "" };
    let name = &policy.name;
    let message = if skipped.is_empty() {
        format!("{name} {before} → {after} changes major version, which its upgrade policy does not cover")
    } else {
        let dir = if a > b { "skips" } else { "goes down past" };
        let list: Vec<String> = skipped.iter().map(|m| format!("{prefix}{m}")).collect();
        format!("{name} {before} → {after} {dir} {}", list.join(", "))
    };
    let why = match &policy.procedure {
        Some(p) => p.clone(),
        None => format!("{name} moves {} minor per sync", words(distance)),
    };
    let stones = cat.stepping_stones(component);
    let through: Vec<String> = skipped
        .iter()
        .map(|m| {
            let minor = Version::parse(m).map(|v| v.minor());
            match stones.iter().find(|s| Version::parse(s).map(|v| v.minor()) == minor) {
                Some(s) => s.clone(),
                None => format!("{prefix}{m}.x"),
            }
        })
        .collect();
    let advice = if through.is_empty() {
        format!("move it in steps ({why}); `kgen upgrade ENV` plans them")
    } else {
        let through = through.join(", ");
        if a > b {
            format!(
                "upgrade through {through} first, one render and sync each ({why}); `kgen upgrade ENV` plans the steps"
            )
        } else {
            format!("downgrade through {through} first, one render and sync each ({why})")
        }
    };
    Some(Skew {
        code: rule,
        component: component.to_string(),
        old: before.to_string(),
        new: after.to_string(),
        skipped: skipped.iter().map(|m| format!("{prefix}{m}")).collect(),
        message,
        advice,
        source: policy.sources.first().cloned().unwrap_or_default(),
    })
}

/// "one", "two", … for small counts.
fn words(n: u64) -> String {
    match n {
        1 => "one".into(),
        2 => "two".into(),
        3 => "three".into(),
        n => n.to_string(),
    }
}

/// KG221: a new Knative operator that does not ship the Serving version the cluster has.
/// Only a new operator release is judged (the one the cluster runs already reconciled what it
/// has), and only one the operator matrix (`knativeOperators`) knows.
fn operator_skews(cat: &Catalog, old: &BTreeMap<String, String>, new: &BTreeMap<&str, &str>) -> Vec<Skew> {
    let (Some(policy), Some(code)) = (
        cat.upgrade_policies.get(OPERATOR),
        cat.upgrade_policies.get(OPERATOR).and_then(|p| p.rule.as_deref()).and_then(RuleCode::parse),
    ) else {
        return Vec::new();
    };
    let (Some(before), Some(after), Some(installed)) = (old.get(OPERATOR), new.get(OPERATOR), old.get(SERVING)) else {
        return Vec::new();
    };
    let Some(op) = cat.knative_operator(after) else { return Vec::new() };
    if Version::parse(before) == Version::parse(after) || op.bundles(installed) {
        return Vec::new();
    }
    let ships = match (op.servings.first(), op.servings.last()) {
        (Some(a), Some(b)) => format!(" (it ships {a}–{b})"),
        _ => String::new(),
    };
    let target = new.get(SERVING).copied().unwrap_or(installed.as_str());
    let both: Vec<&str> = cat
        .knative_operators()
        .iter()
        .filter(|o| o.bundles(installed) && o.bundles(target))
        .map(|o| o.version.as_str())
        .collect();
    let mut advice = match both.last() {
        Some(v) => format!(
            "keep an operator that ships both {installed} and {target} while Knative Serving moves (the newest is {v})"
        ),
        None => format!(
            "move Knative Serving one minor per render with an operator that ships each step ({installed} → {target})"
        ),
    };
    if Version::parse(target) >= Version::parse(installed) {
        advice.push_str("; `kgen upgrade ENV` plans the steps");
    }
    vec![Skew {
        code,
        component: OPERATOR.into(),
        old: before.clone(),
        new: after.to_string(),
        skipped: Vec::new(),
        message: format!(
            "{} {before} → {after} does not ship the Knative Serving {installed} the cluster has{ships}, so it cannot upgrade it",
            policy.name
        ),
        advice,
        source: policy.sources.first().cloned().unwrap_or_default(),
    }]
}

/// Pin names of the Knative operator and Knative Serving.
const OPERATOR: &str = "knativeOperator";
const SERVING: &str = "knativeServing";

/// KG225: an upgrade of KServe across a release whose upgrade guide requires manual steps.
fn migrations(cat: &Catalog, old_kserve: &str, new_kserve: &str) -> Vec<Skew> {
    let Some(policy) = cat.upgrade_policies.get("kserve") else { return Vec::new() };
    let (Some(b), Some(a)) = (Version::parse(old_kserve), Version::parse(new_kserve)) else { return Vec::new() };
    policy
        .migrations
        .iter()
        .filter_map(|m| {
            let to = Version::parse(&m.to)?;
            let code = RuleCode::parse(&m.rule)?;
            (b < to && a >= to).then(|| Skew {
                code,
                component: "kserve".into(),
                old: old_kserve.to_string(),
                new: new_kserve.to_string(),
                skipped: Vec::new(),
                message: format!(
                    "{} {old_kserve} → {new_kserve} crosses {}, whose upgrade guide has manual steps",
                    policy.name, m.to
                ),
                advice: format!("before this render is synced, {}", m.steps),
                source: m.source.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn assess_pairs(old: &[(&str, &str)], new: &[(&'static str, &'static str)]) -> Vec<Skew> {
        let new: BTreeMap<&str, &str> = new.iter().copied().collect();
        assess(&versions(old), "v0.16.0", &new, "v0.16.0")
    }

    #[test]
    fn minors_between_counts_either_way() {
        let v = |s| Version::parse(s).unwrap();
        assert_eq!(minors_between(&v("1.15.2"), &v("1.21.1")).unwrap(), ["1.16", "1.17", "1.18", "1.19", "1.20"]);
        assert_eq!(minors_between(&v("1.21.1"), &v("1.18.0")).unwrap(), ["1.20", "1.19"]);
        assert!(minors_between(&v("1.15.2"), &v("1.16.0")).unwrap().is_empty());
        assert_eq!(minors_between(&v("1.9.0"), &v("2.0.0")), None);
    }

    #[test]
    fn knative_serving_one_minor_either_way() {
        let s = assess_pairs(&[("knativeServing", "1.15.2")], &[("knativeServing", "1.21.1")]);
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0].code, RuleCode::KG220);
        assert_eq!(s[0].skipped, ["1.16", "1.17", "1.18", "1.19", "1.20"]);
        assert!(s[0].message.contains("1.15.2 → 1.21.1 skips 1.16, 1.17, 1.18, 1.19, 1.20"), "{}", s[0].message);
        assert!(s[0].advice.starts_with("upgrade through 1.16.x, 1.17.x"), "{}", s[0].advice);
        assert!(assess_pairs(&[("knativeServing", "1.15.2")], &[("knativeServing", "1.16.3")]).is_empty());
        // A rollback of one minor is documented; two are refused.
        assert!(assess_pairs(&[("knativeServing", "1.21.1")], &[("knativeServing", "1.20.3")]).is_empty());
        let down = assess_pairs(&[("knativeServing", "1.21.1")], &[("knativeServing", "1.19.0")]);
        assert_eq!(down.len(), 1);
        assert!(down[0].message.contains("goes down past 1.20"), "{}", down[0].message);
    }

    #[test]
    fn istio_names_the_stepping_stones_and_the_procedure() {
        let s = assess_pairs(&[("istio", "1.23.2")], &[("istio", "1.27.1")]);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].code, RuleCode::KG222);
        assert!(s[0].advice.contains("through 1.24.6, 1.25.5, 1.26.8 first"), "{}", s[0].advice);
        assert!(s[0].advice.contains("in place"), "{}", s[0].advice);
        assert!(assess_pairs(&[("istio", "1.26.8")], &[("istio", "1.27.1")]).is_empty());
    }

    #[test]
    fn a_new_operator_must_ship_the_installed_serving() {
        let s = assess_pairs(
            &[("knativeOperator", "v1.17.8"), ("knativeServing", "1.17.1")],
            &[("knativeOperator", "v1.21.1"), ("knativeServing", "1.18.2")],
        );
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0].code, RuleCode::KG221);
        assert!(
            s[0].message.contains("does not ship the Knative Serving 1.17.1 the cluster has (it ships 1.18.0–1.21.1)"),
            "{}",
            s[0].message
        );
        assert!(s[0].advice.contains("the newest is v1.20.2"), "{}", s[0].advice);
        // The operator that ships both, or an unchanged operator, is fine.
        assert!(
            assess_pairs(
                &[("knativeOperator", "v1.17.8"), ("knativeServing", "1.17.1")],
                &[("knativeOperator", "v1.18.3"), ("knativeServing", "1.18.2")],
            )
            .is_empty()
        );
        assert!(
            assess_pairs(
                &[("knativeOperator", "v1.21.1"), ("knativeServing", "1.18.2")],
                &[("knativeOperator", "v1.21.1"), ("knativeServing", "1.19.8")],
            )
            .is_empty()
        );
    }

    #[test]
    fn recommended_policies_limit_upgrades_only() {
        let s = assess_pairs(&[("certManager", "v1.15.1")], &[("certManager", "v1.17.0")]);
        assert_eq!((s.len(), s[0].code), (1, RuleCode::KG223));
        assert_eq!(s[0].skipped, ["v1.16"]);
        assert!(assess_pairs(&[("certManager", "v1.17.0")], &[("certManager", "v1.15.1")]).is_empty());
        let s = assess_pairs(&[("gatewayApi", "v1.2.1")], &[("gatewayApi", "v1.4.1")]);
        assert_eq!((s.len(), s[0].code), (1, RuleCode::KG224));
        assert!(s[0].advice.contains("through v1.3.0"), "{}", s[0].advice);
        // Envoy Gateway's upstream is silent: no rule.
        assert!(assess_pairs(&[("envoyGateway", "v1.6.3")], &[("envoyGateway", "v1.8.1")]).is_empty());
    }

    #[test]
    fn crossing_a_kserve_migration() {
        let none = BTreeMap::new();
        let s = assess(&BTreeMap::new(), "v0.16.0", &none, "v0.20.0");
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0].code, RuleCode::KG225);
        assert!(s[0].message.contains("crosses v0.17.0"), "{}", s[0].message);
        assert!(assess(&BTreeMap::new(), "v0.17.0", &none, "v0.20.0").is_empty());
        assert!(assess(&BTreeMap::new(), "v0.20.0", &none, "v0.16.0").is_empty(), "a downgrade crosses nothing");
    }

    #[test]
    fn every_policy_is_sourced_or_says_upstream_is_silent() {
        let cat = catalog::get();
        for (k, p) in &cat.upgrade_policies {
            assert!(!p.sources.is_empty() || p.silent.is_some(), "{k}: no source and not silent");
            assert!(p.sources.iter().all(|s| !s.trim().is_empty()), "{k}");
            if p.silent.is_some() && p.sources.is_empty() {
                assert!(p.rule.is_none() && p.distance.is_none(), "{k}: silent upstream, no rule");
            }
            for m in &p.migrations {
                assert!(!m.source.is_empty() && RuleCode::parse(&m.rule).is_some(), "{k}: {}", m.to);
            }
            if let Some(r) = &p.rule {
                assert!(RuleCode::parse(r).is_some(), "{k}: unknown rule {r}");
                assert!(p.enforcement.is_some(), "{k}: a rule needs an enforcement");
            }
        }
        for (k, s) in &cat.stepping_stones {
            assert!(!s.source.is_empty(), "{k}");
            assert!(s.versions.iter().all(|v| Version::parse(v).is_some()), "{k}");
            let minors: Vec<_> = s.versions.iter().map(|v| Version::parse(v).unwrap().minor()).collect();
            let mut sorted = minors.clone();
            sorted.dedup();
            assert_eq!(minors, sorted, "{k}: one stone per minor, oldest first");
        }
    }
}
