//! Which environments a command acts on: names, globs (`'k8s-*'`) and `--selector key=value`
//! on the effective configuration.

use crate::config::load::Workspace;
use crate::config::resolve::Resolved;
use crate::diag::Diagnostic;
use crate::rule_code::RuleCode;
use serde_json::Value;

/// Short selector keys for the settings fleets are usually cut by; any other key is a dotted
/// path of the effective configuration (`kgen explain ENV` lists them).
pub const ALIASES: &[(&str, &str)] = &[
    ("platform", "cluster.platform"),
    ("kubernetes", "cluster.kubernetesVersion"),
    ("mesh", "mesh.provider"),
    ("engine", "gitops.engine"),
    ("mode", "kserve.deploymentMode"),
    ("version", "kserve.version"),
];

/// Whether a name pattern is a glob rather than a name.
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// The environments `patterns` (names and globs) name: every environment in natural order when
/// there is none, else in the order given, each glob expanded in natural order. A glob matching
/// nothing is a diagnostic, like an unknown name.
pub fn names(ws: &Workspace, patterns: &[String]) -> (Vec<String>, Vec<Diagnostic>) {
    let all = ws.environment_names();
    if patterns.is_empty() {
        return (all, vec![]);
    }
    let (mut out, mut diags) = (Vec::new(), Vec::new());
    for pattern in patterns {
        if !is_glob(pattern) {
            if !out.contains(pattern) {
                out.push(pattern.clone());
            }
            continue;
        }
        let matched: Vec<&String> = all.iter().filter(|n| glob_match(pattern, n)).collect();
        if matched.is_empty() {
            diags.push(
                Diagnostic::error(RuleCode::KG115, format!("no environment matches `{pattern}`"))
                    .hint(format!("environments: {}", all.join(", "))),
            );
        }
        for n in matched {
            if !out.contains(n) {
                out.push(n.clone());
            }
        }
    }
    (out, diags)
}

/// A parsed `--selector`: `key=value` or `key!=value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    key: String,
    value: String,
    negated: bool,
}

impl std::str::FromStr for Selector {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (key, value, negated) = match s.split_once("!=") {
            Some((k, v)) => (k, v, true),
            None => match s.split_once('=') {
                Some((k, v)) => (k, v, false),
                None => return Err(format!("`{s}` is not `key=value` or `key!=value`")),
            },
        };
        if key.is_empty() {
            return Err(format!("`{s}` has no key"));
        }
        Ok(Selector { key: key.trim().to_string(), value: value.trim().to_string(), negated })
    }
}

impl Selector {
    /// Whether an environment's effective configuration matches. `extends=_eu` matches every
    /// environment whose chain includes the layer `_eu`; a list matches when it contains the
    /// value; `key=` matches an unset key.
    pub fn matches(&self, r: &Resolved) -> bool {
        let hit = if self.key == "extends" {
            r.files.iter().any(|f| file_stem(f) == self.value)
        } else {
            let path = ALIASES.iter().find(|(a, _)| *a == self.key).map_or(self.key.as_str(), |(_, p)| p);
            let effective = r.effective_value();
            let found = path.split('.').try_fold(&effective, |v, k| v.get(k));
            match found {
                None | Some(Value::Null) => self.value.is_empty(),
                Some(Value::Array(items)) => items.iter().any(|i| scalar(i).is_some_and(|s| s == self.value)),
                Some(v) => scalar(v).is_some_and(|s| s == self.value),
            }
        };
        hit != self.negated
    }
}

fn file_stem(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.strip_suffix(".yaml").unwrap_or(name)
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Whether `name` matches a shell-style glob: `*` any run, `?` one character, `[abc]`/`[a-z]`
/// a class (`[!…]` negated). Environment names are ASCII, so bytes are characters.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    // Iterative matcher with one backtrack point for the last `*` (linear for these patterns).
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() {
            match p[pi] {
                b'*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                b'?' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                b'[' => match class(&p[pi..], n[ni]) {
                    Some((true, end)) => {
                        pi += end;
                        ni += 1;
                        continue;
                    }
                    // An unclosed `[` is a literal.
                    None if n[ni] == b'[' => {
                        pi += 1;
                        ni += 1;
                        continue;
                    }
                    _ => {}
                },
                c if c == n[ni] => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, sn)) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the class at the start of `p` (`[…]`): (matched, length of the class).
/// `None` when the class is not closed (then `[` is a literal that did not match).
fn class(p: &[u8], c: u8) -> Option<(bool, usize)> {
    let close = p.iter().skip(2).position(|&b| b == b']')? + 2;
    let body = &p[1..close];
    let (negated, body) = match body.first() {
        Some(b'!' | b'^') => (true, &body[1..]),
        _ => (false, body),
    };
    let mut hit = false;
    let mut i = 0;
    while i < body.len() {
        if i + 2 < body.len() && body[i + 1] == b'-' {
            hit |= (body[i]..=body[i + 2]).contains(&c);
            i += 3;
        } else {
            hit |= body[i] == c;
            i += 1;
        }
    }
    Some((hit != negated, close + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        for (p, n, want) in [
            ("k8s-*", "k8s-east", true),
            ("k8s-*", "ocp-east", false),
            ("*-prod", "eu-prod", true),
            ("*", "dev", true),
            ("fleet-?", "fleet-1", true),
            ("fleet-?", "fleet-10", false),
            ("fleet-[0-4]*", "fleet-30", true),
            ("fleet-[!0-4]*", "fleet-30", false),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
            ("[ab", "[ab", true),
        ] {
            assert_eq!(glob_match(p, n), want, "{p} ~ {n}");
        }
    }

    #[test]
    fn selectors_parse() {
        assert_eq!(
            "platform=openshift".parse::<Selector>(),
            Ok(Selector { key: "platform".into(), value: "openshift".into(), negated: false })
        );
        assert!("mesh!=ossm3".parse::<Selector>().unwrap().negated);
        assert!("platform".parse::<Selector>().is_err());
    }
}
