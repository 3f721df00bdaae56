//! No engine: an ordered, idempotent `install.sh` of helm and kubectl steps, one group per wave.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{ApplyOrder, Engine, GitopsFile, broken_schema, node_id, release_by_name};
use crate::catalog;
use crate::config::model::{GitopsEngine, Platform};
use crate::config::resolve::Resolved;
use crate::render::plan::Plan;

/// The script's path under `rendered/<env>/`.
pub const SCRIPT: &str = "install.sh";

/// No engine: the user runs `install.sh`.
pub struct NoEngine;

impl Engine for NoEngine {
    fn id(&self) -> GitopsEngine {
        GitopsEngine::None
    }
    fn folder(&self) -> Option<&'static str> {
        None
    }
    fn needs_repository(&self) -> bool {
        false
    }
    fn default_namespace(&self, _platform: Platform) -> Option<(&'static str, &'static str)> {
        None
    }
    fn default_server(&self) -> Option<(&'static str, &'static str)> {
        None
    }
    fn applies_whole_folder(&self) -> Option<&'static str> {
        None
    }
    fn apply_order(&self) -> ApplyOrder {
        ApplyOrder::ScriptLines
    }
    fn files(&self, r: &Resolved, plan: &Plan) -> (Vec<GitopsFile>, BTreeMap<String, Value>) {
        (vec![install_sh(r, plan)], BTreeMap::new())
    }
}

/// Quotes a word for POSIX shells (a serializer for shell, as `toyaml` is for YAML).
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn cmd(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| if w.starts_with("\"$here") { w.to_string() } else { shell_quote(w) })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The API groups a step needs: a release's (`ruleFacts.chartNeeds`), none for a CRD bundle, the
/// groups of a manifest phase's objects.
fn step_groups(plan: &Plan, kind: &str, name: &str) -> Vec<String> {
    match kind {
        "release" => catalog::get().rule_facts.chart_needs.get(name).cloned().unwrap_or_default(),
        "crds" => vec![],
        _ => plan
            .objects
            .iter()
            .filter(|o| o.phase == name)
            .filter_map(|o| o.api_version.split_once('/').map(|(g, _)| g.to_string()))
            .collect(),
    }
}

/// CRDs install.sh must wait for before a step: those of API groups the step needs that an OLM
/// package subscribed in this render provides (OLM installs them asynchronously).
fn olm_waits(plan: &Plan, kind: &str, name: &str) -> Vec<String> {
    let facts = &catalog::get().rule_facts;
    let packages: Vec<&str> =
        plan.objects.iter().filter(|o| o.kind == "Subscription").map(|o| o.name.as_str()).collect();
    let groups = step_groups(plan, kind, name);
    let mut waits: Vec<String> = groups
        .iter()
        .filter(|g| {
            facts
                .crd_providers
                .get(*g)
                .into_iter()
                .flatten()
                .any(|p| p.strip_prefix("package/").is_some_and(|pkg| packages.contains(&pkg)))
        })
        .filter_map(|g| facts.olm_crd_probes.get(g).cloned())
        .collect();
    waits.sort();
    waits.dedup();
    waits
}

/// A value of the environment's `values.<release>` at a dotted key, if it sets a string there.
fn override_at<'a>(r: &'a Resolved, release: &str, key: &str) -> Option<&'a str> {
    let mut v = r.env.values.get(release)?.get(key.split('.').next()?)?;
    for part in key.split('.').skip(1) {
        v = v.get(part)?;
    }
    v.as_str()
}

/// For a release whose Service is `type: LoadBalancer` (catalog `installReadiness.serviceTypes`,
/// the environment's values over the chart default): the workload to wait for instead of
/// `helm --wait`, which would wait for the load balancer's address.
pub fn load_balancer_workload(r: &Resolved, release: &str) -> Option<(String, String)> {
    let st = catalog::get().install_readiness.service_types.get(release)?;
    let ty = override_at(r, release, &st.key).unwrap_or(&st.default);
    if ty != "LoadBalancer" {
        return None;
    }
    let kind = st.workload_kind_key.as_deref().and_then(|k| override_at(r, release, k)).unwrap_or(&st.workload_kind);
    let name = st
        .workload_name_key
        .as_deref()
        .and_then(|k| override_at(r, release, k))
        .filter(|n| !n.is_empty())
        .map_or_else(|| st.workload.replace("{release}", release), str::to_string);
    Some((kind.to_ascii_lowercase(), name))
}

/// Webhook Deployments (namespace, name) install.sh waits for before a release or a manifest
/// phase: those that admit an API group the release needs (`ruleFacts.chartNeeds`) or the
/// phase's objects belong to (the Certificate of `tls.issuer`), where this render installs
/// their provider (catalog `installReadiness.webhooks`).
fn webhook_waits(plan: &Plan, kind: &str, name: &str) -> Vec<(String, String)> {
    let cat = catalog::get();
    let groups = step_groups(plan, kind, name);
    let packages: Vec<&str> =
        plan.objects.iter().filter(|o| o.kind == "Subscription").map(|o| o.name.as_str()).collect();
    let mut out = Vec::new();
    for group in &groups {
        let Some(hook) = cat.install_readiness.webhooks.get(group) else { continue };
        for (provider, fixed) in &hook.namespaces {
            let ns = match provider.split_once('/') {
                Some(("release", rel)) => plan.releases.iter().find(|x| x.name == rel).map(|x| x.namespace.clone()),
                Some(("package", pkg)) if packages.contains(&pkg) => fixed.clone(),
                _ => None,
            };
            if let Some(ns) = ns {
                out.push((ns, hook.deployment.clone()));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn install_sh(r: &Resolved, plan: &Plan) -> GitopsFile {
    let cat = catalog::get();
    let mut steps = Vec::new();
    let mut any_wait = false;
    let mut any_deployment_wait = false;
    for node in &plan.graph {
        let (kind, name) = node_id(&node.id);
        let mut waits: Vec<String> =
            olm_waits(plan, kind, name).iter().map(|crd| cmd(&["wait_for_crd", crd])).collect();
        any_wait |= !waits.is_empty();
        for (ns, deployment) in webhook_waits(plan, kind, name) {
            waits.push(cmd(&["wait_for_deployment", &ns, &deployment]));
            any_deployment_wait = true;
        }
        let (comment, commands) = match kind {
            "release" => {
                let rel = release_by_name(plan, name);
                let chart = &cat.charts[&rel.name];
                let values = format!("\"$here/values/{name}.yaml\"");
                let mut words: Vec<String> = if chart.apply_rendered {
                    vec!["helm".into(), "template".into(), rel.name.clone()]
                } else {
                    vec!["helm".into(), "upgrade".into(), "--install".into(), rel.name.clone()]
                };
                match rel.repo.strip_prefix("oci://") {
                    Some(_) => words.push(format!("{}/{}", rel.repo, rel.chart)),
                    None => words.extend([rel.chart.clone(), "--repo".into(), rel.repo.clone()]),
                }
                words.extend(["--version".into(), rel.version.clone(), "--namespace".into(), rel.namespace.clone()]);
                if !chart.apply_rendered {
                    words.push("--create-namespace".into());
                }
                words.extend(["--values".into(), values]);
                if chart.skip_crds {
                    words.push("--skip-crds".into());
                }
                if broken_schema(rel).is_some() {
                    // Helm >= 3.16; the chart's own schema rejects valid values (catalog).
                    words.push("--skip-schema-validation".into());
                }
                let w: Vec<&str> = words.iter().map(String::as_str).collect();
                let mut commands = Vec::new();
                if chart.apply_rendered {
                    commands.push(format!("{} | {}", cmd(&w), cmd(&["kubectl", "apply", "--server-side", "-f", "-"])));
                    // Only CRDs are applied this way; what comes next needs them served.
                    commands.push(cmd(&[
                        "kubectl",
                        "wait",
                        "--for=condition=Established",
                        "crd",
                        "--all",
                        "--timeout=300s",
                    ]));
                } else if let Some((kind, workload)) = load_balancer_workload(r, name) {
                    // `--wait` would wait for the LoadBalancer's address, which never comes on a
                    // cluster without a load balancer: wait for the pods instead.
                    commands.push(cmd(&w));
                    let target = format!("{kind}/{workload}");
                    commands.push(cmd(&[
                        "kubectl",
                        "rollout",
                        "status",
                        &target,
                        "--namespace",
                        &rel.namespace,
                        "--timeout=600s",
                    ]));
                } else {
                    commands.push(format!("{} --wait", cmd(&w)));
                }
                let what = if chart.apply_rendered { "chart rendered and applied server-side" } else { "Helm release" };
                (format!("wave {}: {what} {name} ({} {})", node.wave, rel.chart, rel.version), commands)
            }
            "crds" => {
                let src = plan.crd_sources.iter().find(|s| s.name == name).expect("planned");
                // The plan gives install.sh only CRD sources it can apply (`applies_crd_source`),
                // at upstream's release URL or the mirror's.
                let url = src.release_url.clone().expect("planned with a release URL");
                (
                    format!("wave {}: {name} CRDs {} (server-side: they are large)", node.wave, src.tag),
                    vec![
                        cmd(&["kubectl", "apply", "--server-side", "-f", &url]),
                        cmd(&["kubectl", "wait", "--for=condition=Established", "crd", "--all", "--timeout=300s"]),
                    ],
                )
            }
            _ => {
                let files: Vec<String> = plan
                    .objects
                    .iter()
                    .filter(|o| o.phase == name)
                    .map(|o| format!("\"$here/{}\"", o.path()))
                    .collect();
                let mut words = vec!["kubectl", "apply", "--server-side"];
                for f in &files {
                    words.extend(["-f", f.as_str()]);
                }
                (format!("wave {}: manifests, phase {name}", node.wave), vec![cmd(&words)])
            }
        };
        let commands: Vec<String> = waits.into_iter().chain(commands).collect();
        steps.push(json!({"comment": comment, "commands": commands}));
    }
    GitopsFile {
        path: SCRIPT.into(),
        template: "none/install.sh",
        key: "script",
        data: json!({
            "steps": steps, "name": r.name, "sources": r.env_file(),
            "olmWaits": any_wait, "deploymentWaits": any_deployment_wait,
        }),
    }
}
