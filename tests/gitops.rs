//! The GitOps layer: Argo CD, Flux and `install.sh` apply every release and phase after what it
//! needs, and apply exactly the rendered values.

use crate::common;

use std::collections::BTreeMap;

use common::*;
use kgen::config::load::Workspace;
use kgen::render::Rendered;
use serde_json::Value;

/// Graph node id → its needs, from the lock.
fn graph(r: &Rendered) -> BTreeMap<String, Vec<String>> {
    lock(r)["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let needs = n["needs"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect();
            (n["id"].as_str().unwrap().to_string(), needs)
        })
        .collect()
}

fn kebab(s: &str) -> String {
    s.chars().flat_map(|c| if c.is_ascii_uppercase() { vec!['-', c.to_ascii_lowercase()] } else { vec![c] }).collect()
}

fn argo_app_name(env: &str, id: &str) -> String {
    let (kind, name) = id.split_once('/').unwrap();
    match kind {
        "release" => format!("{env}-{name}"),
        "crds" => format!("{env}-{}-crds", kebab(name)),
        _ => format!("{env}-{name}-manifests"),
    }
}

#[test]
fn argocd_waves_follow_the_graph() {
    for env in ["dev", "prod", "openshift", "openshift-ossm3"] {
        let r = render_example(env);
        let g = graph(&r);
        let wave = |id: &str| -> i64 {
            let path = format!("argocd/application-{}.yaml", argo_app_name(env, id));
            let app = parse(r.files.get(&path).unwrap_or_else(|| panic!("{env}: {path} missing")));
            app["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"].as_str().unwrap().parse().unwrap()
        };
        for (id, needs) in &g {
            for n in needs {
                assert!(wave(id) > wave(n), "{env}: {id} (wave {}) must come after {n} (wave {})", wave(id), wave(n));
            }
        }
        // Every Application of the environment is one graph node or the root.
        let apps = r.files.keys().filter(|p| p.starts_with("argocd/application-")).count();
        assert_eq!(apps, g.len() + 1, "{env}");
    }
}

#[test]
fn argocd_applications_use_the_rendered_values_and_the_right_options() {
    let r = render_example("dev");
    for rel in lock(&r)["releases"].as_array().unwrap() {
        let name = rel["name"].as_str().unwrap();
        let app = parse(&r.files[&format!("argocd/application-dev-{name}.yaml")]);
        let chart = &app["spec"]["sources"][0];
        let repo = chart["repoURL"].as_str().unwrap();
        assert!(!repo.starts_with("oci://"), "Argo CD Helm sources take OCI repos without the scheme");
        assert_eq!(chart["targetRevision"], rel["version"]);
        assert_eq!(chart["helm"]["releaseName"], name);
        let vf = chart["helm"]["valueFiles"][0].as_str().unwrap();
        let file = vf.strip_prefix("$values/rendered/dev/").expect("values from this repository");
        assert!(r.files.contains_key(file), "{vf} names a rendered file");
        assert_eq!(file, format!("values/{name}.yaml"));
        assert_eq!(app["spec"]["sources"][1]["ref"], "values");
        let opts: Vec<&str> =
            app["spec"]["syncPolicy"]["syncOptions"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert!(opts.contains(&"CreateNamespace=true"));
        assert_eq!(opts.contains(&"ServerSideApply=true"), name == "kserve-crd", "{name}: SSA only for the huge CRDs");
        assert!(app["spec"]["syncPolicy"]["retry"].is_object(), "{name}: failed syncs are retried");
        assert!(chart["helm"].get("skipSchemaValidation").is_none(), "1.27.1's schema is fine");
    }
    let ks = parse(&r.files["argocd/application-dev-knative-manifests.yaml"]);
    let opts = ks["spec"]["syncOptions"].clone();
    assert!(
        ks["spec"]["syncPolicy"]["syncOptions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "SkipDryRunOnMissingResource=true"),
        "{opts}"
    );
    let ns = parse(&r.files["argocd/application-dev-namespaces-manifests.yaml"]);
    assert!(ns["spec"]["syncPolicy"]["syncOptions"].as_array().unwrap().is_empty(), "namespaces need no CRD");
    let root = parse(&r.files["argocd/application-dev-root.yaml"]);
    assert_eq!(root["spec"]["source"]["path"], "rendered/dev/argocd");
    let secret = parse(&r.files["argocd/secret-dev-repo-kserve.yaml"]);
    assert_eq!(secret["stringData"]["enableOCI"], "true");
    assert_eq!(secret["stringData"]["url"], "ghcr.io/kserve/charts");
}

#[test]
fn prod_deploys_to_its_own_cluster() {
    let r = render_example("prod");
    let app = parse(&r.files["argocd/application-prod-kserve.yaml"]);
    assert_eq!(app["spec"]["destination"]["server"], "https://prod-eu-1.k8s.example.com");
    assert_eq!(app["spec"]["project"], "ml-platform");
    let root = parse(&r.files["argocd/application-prod-root.yaml"]);
    assert_eq!(root["spec"]["destination"]["server"], "https://kubernetes.default.svc", "the root lives with Argo CD");
}

#[test]
fn argocd_skips_schema_validation_only_for_broken_chart_schemas() {
    let text = "apiVersion: kgen/v1\nkind: Environment\nextends: _base\ncluster: {platform: kubernetes, kubernetesVersion: \"1.30\"}\nkserve: {version: v0.15.2, deploymentMode: Knative}\nmesh: {provider: istio}\nversions: {istio: 1.23.2}\ngitops: {engine: argocd}\n";
    let r = render_with(text);
    let gw = parse(&r.files["argocd/application-probe-istio-ingressgateway.yaml"]);
    assert_eq!(gw["spec"]["sources"][0]["helm"]["skipSchemaValidation"], true);
    assert!(
        r.files["argocd/application-probe-istio-ingressgateway.yaml"]
            .contains("# The chart's own values.schema.json fails under current Helm")
    );
    let istiod = parse(&r.files["argocd/application-probe-istiod.yaml"]);
    assert!(istiod["spec"]["sources"][0]["helm"].get("skipSchemaValidation").is_none());
}

#[test]
fn every_engine_skips_schema_validation_for_broken_chart_schemas() {
    // legacy: Flux on Istio 1.23.2, whose gateway chart schema the catalog records as broken.
    let r = render_example("legacy");
    let hr = parse(&r.files["flux/releases/istio-ingressgateway/helmrelease-legacy-istio-ingressgateway.yaml"]);
    assert_eq!(hr["spec"]["install"]["disableSchemaValidation"], true);
    assert_eq!(hr["spec"]["upgrade"]["disableSchemaValidation"], true);
    let istiod = parse(&r.files["flux/releases/istiod/helmrelease-legacy-istiod.yaml"]);
    assert!(istiod["spec"]["install"].get("disableSchemaValidation").is_none(), "istiod's schema is fine");
    let text = "apiVersion: kgen/v1\nkind: Environment\nextends: _base\ncluster: {platform: kubernetes, kubernetesVersion: \"1.30\"}\nkserve: {version: v0.15.2, deploymentMode: Knative}\nmesh: {provider: istio}\nversions: {istio: 1.23.2}\ngitops: {engine: none}\n";
    let script = &render_with(text).files["install.sh"];
    let gw = script.lines().find(|l| l.starts_with("helm upgrade --install istio-ingressgateway")).unwrap();
    assert!(gw.contains("--skip-schema-validation"), "{gw}");
    let istiod = script.lines().find(|l| l.starts_with("helm upgrade --install istiod")).unwrap();
    assert!(!istiod.contains("--skip-schema-validation"), "{istiod}");
}

/// Envoy Gateway's chart bundles experimental-channel Gateway API CRDs, which the v1.5
/// safe-upgrades policy refuses over the standard ones: every engine installs Envoy Gateway's own
/// CRDs from gateway-crds-helm first and the chart without its CRDs.
#[test]
fn envoy_gateway_is_installed_without_its_bundled_gateway_api_crds() {
    let staging = render_example("staging");
    let hr = parse(&staging.files["flux/releases/envoy-gateway/helmrelease-staging-envoy-gateway.yaml"]);
    assert_eq!(hr["spec"]["install"]["crds"], "Skip");
    assert_eq!(hr["spec"]["upgrade"]["crds"], "Skip");
    // Flux applies Envoy Gateway's own CRDs from their repository at the tag (the chart's Helm
    // release record is over the Secret limit, KG610), before the chart.
    let ks = parse(&staging.files["flux/kustomization-kgen-staging-release-envoy-gateway.yaml"]);
    let deps: Vec<&str> =
        ks["spec"]["dependsOn"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert!(deps.contains(&"kgen-staging-crds-envoy-gateway-crds"), "{deps:?}");
    // Argo CD (no release record) installs gateway-crds-helm with only Envoy Gateway's CRDs.
    let staging_text = std::fs::read_to_string(common::root().join("environments/staging.yaml")).unwrap();
    let on_argo = render_with(&staging_text.replace("engine: flux", "engine: argocd"));
    let crds = parse(&on_argo.files["values/envoy-gateway-crds.yaml"]);
    assert_eq!(crds["crds"]["gatewayAPI"]["enabled"], false);
    assert_eq!(crds["crds"]["envoyGateway"]["enabled"], true);
    // v1.8.1 renders the safe-upgrades policy from a template; kgen's Gateway API install owns it.
    let values = parse(&staging.files["values/envoy-gateway.yaml"]);
    assert_eq!(values["crds"]["gatewayAPI"]["safeUpgradePolicy"]["enabled"], false);
    let g = graph(&staging);
    assert!(g["release/envoy-gateway"].contains(&"crds/envoyGatewayCrds".to_string()));
    assert!(g["release/envoy-gateway"].contains(&"crds/gatewayApi".to_string()));

    let argo = "apiVersion: kgen/v1\nkind: Environment\nextends: _base\ncluster: {platform: kubernetes, kubernetesVersion: \"1.33\"}\nkserve: {deploymentMode: Standard, ingress: gatewayApi}\ngitops: {engine: argocd}\n";
    let r = render_with(argo);
    let app = parse(&r.files["argocd/application-probe-envoy-gateway.yaml"]);
    assert_eq!(app["spec"]["sources"][0]["helm"]["skipCrds"], true);
    let crd_app = parse(&r.files["argocd/application-probe-envoy-gateway-crds.yaml"]);
    let opts = crd_app["spec"]["syncPolicy"]["syncOptions"].as_array().unwrap();
    assert!(opts.iter().any(|o| o == "ServerSideApply=true"), "EnvoyProxy's CRD is 1.35 MB");
    // Older Envoy Gateway charts have no such template: the value is not set for them.
    let older = render_with(&argo.replace("kserve: {", "kserve: {version: v0.19.0, "));
    assert!(!older.files["values/envoy-gateway.yaml"].contains("safeUpgradePolicy"));

    let script = &render_with(&argo.replace("engine: argocd", "engine: none")).files["install.sh"];
    let at = |prefix: &str| script.lines().position(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("{prefix}"));
    let crd_line = &script.lines().nth(at("helm template envoy-gateway-crds")).unwrap();
    assert!(crd_line.ends_with("| kubectl apply --server-side -f -"), "{crd_line}");
    let eg = script.lines().nth(at("helm upgrade --install envoy-gateway ")).unwrap();
    assert!(eg.contains("--skip-crds"), "{eg}");
    assert!(
        at("kubectl apply --server-side -f https://github.com/kubernetes-sigs/gateway-api")
            < at("helm upgrade --install envoy-gateway ")
    );
    assert!(at("helm template envoy-gateway-crds") < at("helm upgrade --install envoy-gateway "));
    shellcheck(script);
}

#[test]
fn argocd_child_applications_retry_failed_syncs() {
    let r = render_example("openshift");
    for (path, text) in r.files.iter().filter(|(p, _)| p.starts_with("argocd/application-")) {
        let app = parse(text);
        let retry = &app["spec"]["syncPolicy"]["retry"];
        if path.ends_with("-root.yaml") {
            continue;
        }
        assert!(retry["limit"].as_i64().unwrap() < 0, "{path}: unlimited retries");
        assert_eq!(retry["backoff"]["maxDuration"], "10m", "{path}");
    }
}

#[test]
fn flux_follows_a_branch_a_full_ref_or_a_commit() {
    let base = "apiVersion: kgen/v1\nkind: Environment\nextends: _base\ncluster: {platform: kubernetes, kubernetesVersion: \"1.33\"}\nkserve: {deploymentMode: Standard, ingress: gatewayApi}\ngitops: {engine: flux, revision: REV}\n";
    for (rev, key) in [
        ("main", "branch"),
        ("release/2026-11", "branch"),
        ("refs/tags/v1.4.0", "name"),
        ("0123456789abcdef0123456789abcdef01234567", "commit"),
    ] {
        let r = render_with(&base.replace("REV", rev));
        let src = parse(&r.files["flux/gitrepository-kgen-probe.yaml"]);
        let reference = src["spec"]["ref"].as_object().unwrap();
        assert_eq!(reference.len(), 1, "{rev}");
        assert_eq!(reference[key], rev, "{rev}");
    }
}

#[test]
fn flux_kustomizations_follow_the_graph_and_apply_the_rendered_values() {
    for env in ["staging", "legacy"] {
        let r = render_example(env);
        let g = graph(&r);
        for (id, needs) in &g {
            let (kind, name) = id.split_once('/').unwrap();
            let ks_name = format!("kgen-{env}-{kind}-{}", kebab(name));
            let ks = parse(&r.files[&format!("flux/kustomization-{ks_name}.yaml")]);
            let deps: Vec<String> = ks["spec"]["dependsOn"]
                .as_array()
                .map_or(vec![], |a| a.iter().map(|d| d["name"].as_str().unwrap().to_string()).collect());
            let expected: Vec<String> = needs
                .iter()
                .map(|n| {
                    let (k, nm) = n.split_once('/').unwrap();
                    format!("kgen-{env}-{k}-{}", kebab(nm))
                })
                .collect();
            assert_eq!(deps, expected, "{env}: {id}");
            assert_eq!(ks["spec"]["wait"], true, "dependents wait for health");
            if kind == "release" {
                let dir = format!("flux/releases/{name}");
                let k = parse(&r.files[&format!("{dir}/kustomization.yaml")]);
                let hr = parse(&r.files[&format!("{dir}/helmrelease-{env}-{name}.yaml")]);
                assert_eq!(hr["apiVersion"], "helm.toolkit.fluxcd.io/v2");
                let cm = &k["configMapGenerator"][0];
                assert_eq!(cm["name"], hr["spec"]["valuesFrom"][0]["name"]);
                let file = cm["files"][0].as_str().unwrap().strip_prefix("values.yaml=../../../").unwrap();
                assert_eq!(file, format!("values/{name}.yaml"));
                assert!(r.files.contains_key(file));
                let hr_deps: Vec<&str> = hr["spec"]["dependsOn"]
                    .as_array()
                    .map_or(vec![], |a| a.iter().map(|d| d["name"].as_str().unwrap()).collect());
                for n in needs.iter().filter_map(|n| n.strip_prefix("release/")) {
                    assert!(
                        hr_deps.contains(&format!("{env}-{n}").as_str()),
                        "{env}: HelmRelease {name} dependsOn {n}"
                    );
                }
            }
            if kind == "phase" {
                let k = parse(&r.files[&format!("flux/phases/{name}/kustomization.yaml")]);
                for f in k["resources"].as_array().unwrap() {
                    let p = f.as_str().unwrap().strip_prefix("../../../").unwrap();
                    assert!(r.files.contains_key(p), "{env}: phase {name} lists {p}");
                }
            }
        }
        // flux/kustomization.yaml lists exactly the top-level Flux objects.
        let top = parse(&r.files["flux/kustomization.yaml"]);
        let listed: Vec<&str> = top["resources"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        let mut expected: Vec<String> = r
            .files
            .keys()
            .filter(|p| p.starts_with("flux/") && p.matches('/').count() == 1 && *p != "flux/kustomization.yaml")
            .map(|p| p.trim_start_matches("flux/").to_string())
            .collect();
        let mut listed_sorted: Vec<String> = listed.iter().map(|s| s.to_string()).collect();
        listed_sorted.sort();
        expected.sort();
        assert_eq!(listed_sorted, expected, "{env}");
        for src in r.files.keys().filter(|p| p.starts_with("flux/helmrepository-")) {
            let hr = parse(&r.files[src]);
            let url = hr["spec"]["url"].as_str().unwrap();
            assert_eq!(
                hr["spec"].get("type").and_then(Value::as_str) == Some("oci"),
                url.starts_with("oci://"),
                "{src}"
            );
        }
    }
}

#[test]
fn install_sh_runs_every_step_after_its_needs_and_passes_shellcheck() {
    let text = "apiVersion: kgen/v1\nkind: Environment\nextends: _base\ncluster: {platform: kubernetes, kubernetesVersion: \"1.33\"}\nkserve: {deploymentMode: Knative}\nmesh: {provider: istio}\ngitops: {engine: none}\n";
    let r = render_with(text);
    let script = &r.files["install.sh"];
    assert!(script.starts_with("#!/usr/bin/env bash\n") && script.contains("set -euo pipefail"));
    let g = graph(&r);
    let line_of = |id: &str| {
        let (kind, name) = id.split_once('/').unwrap();
        let needle = match kind {
            "release" => format!("helm upgrade --install {name} "),
            "phase" => format!("manifests, phase {name}\n"),
            _ => format!("# wave 0: {name} CRDs"),
        };
        script.find(&needle).unwrap_or_else(|| panic!("{needle} not in install.sh"))
    };
    for (id, needs) in &g {
        for n in needs {
            assert!(line_of(id) > line_of(n), "{id} after {n}");
        }
    }
    // No kserve.version: the catalog's newest release.
    let newest = kgen::catalog::get().newest();
    let kserve = format!(
        "helm upgrade --install kserve oci://ghcr.io/kserve/charts/{} --version {}",
        newest.kserve_chart, newest.version
    );
    assert!(script.contains(&kserve), "{kserve} not in install.sh:\n{script}");
    assert!(script.contains("--values \"$here/values/kserve.yaml\""));
    assert!(!r.files.keys().any(|p| p.starts_with("argocd/") || p.starts_with("flux/")));
    shellcheck(script);
}

#[test]
fn install_sh_on_openshift_waits_for_the_crds_olm_installs() {
    // OLM installs an operator's CRDs some time after its Subscription: install.sh waits for
    // them before applying what needs them (rule KG602 checks it on the render).
    let text = "apiVersion: kgen/v1\nkind: Environment\nextends: _base\ncluster: {platform: openshift, kubernetesVersion: \"1.32\"}\nkserve: {deploymentMode: Knative, modelNamespaces: [models]}\nmesh: {provider: ossm2}\ngitops: {engine: none}\n";
    let r = render_with(text);
    let script = &r.files["install.sh"];
    let line = |needle: &str| script.find(needle).unwrap_or_else(|| panic!("{needle} not in install.sh:\n{script}"));
    for crd in
        ["servicemeshcontrolplanes.maistra.io", "knativeservings.operator.knative.dev", "certificates.cert-manager.io"]
    {
        let wait = line(&format!("wait_for_crd {crd}"));
        assert!(line("subscription-") < wait, "{crd}: waits after the Subscriptions");
    }
    assert!(line("wait_for_crd certificates.cert-manager.io") < line("helm upgrade --install kserve "));
    shellcheck(script);
}

/// Runs shellcheck on a script; required where `KGEN_REQUIRE_SHELLCHECK` is set (`.ci/run`).
fn shellcheck(script: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("install.sh");
    std::fs::write(&path, script).unwrap();
    match std::process::Command::new("shellcheck").arg(&path).output() {
        Ok(o) => assert!(o.status.success(), "shellcheck:\n{}", String::from_utf8_lossy(&o.stdout)),
        Err(_) if std::env::var_os("KGEN_REQUIRE_SHELLCHECK").is_none() => {
            eprintln!("shellcheck not installed: skipped here; .ci/run installs it and requires it");
        }
        Err(e) => panic!("shellcheck is required (KGEN_REQUIRE_SHELLCHECK): {e}"),
    }
}

/// Every engine of `GitopsEngine::ALL` has a module, writes its own files into its folder (no
/// engine: its script at the top) and nothing into another engine's, kgen treats that folder as
/// one the engine applies, and its render passes every render rule — KG602 reads its order back.
#[test]
fn every_engine_writes_into_its_own_folder_and_passes_the_render_rules() {
    use kgen::config::model::GitopsEngine;
    use kgen::render::gitops::{self, ApplyOrder};
    let mut orders = Vec::new();
    for e in GitopsEngine::ALL {
        let engine = gitops::engine(e);
        assert_eq!(engine.id(), e, "the module of {e:?}");
        orders.push(engine.apply_order());
        let text = format!(
            "apiVersion: kgen/v1\nkind: Environment\nextends: _base\ncluster: {{platform: kubernetes, kubernetesVersion: \"1.33\"}}\nkserve: {{deploymentMode: Knative}}\nmesh: {{provider: istio}}\ngitops: {{engine: {}}}\n",
            e.as_str()
        );
        let project = temp_project();
        std::fs::write(project.path().join("environments/probe.yaml"), text).unwrap();
        let ws = Workspace::load(project.path()).unwrap();
        let c = kgen::pipeline::check(&ws, "probe");
        let r = c.judged.unwrap_or_else(|| panic!("{e:?}: {:?}", c.diagnostics));
        let rendered = kgen::render::render(&r, &ws.sources).unwrap();
        let tops: std::collections::BTreeSet<&str> =
            rendered.files.keys().map(|p| p.split_once('/').map_or(p.as_str(), |(t, _)| t)).collect();
        let own = engine.folder().unwrap_or(gitops::none::SCRIPT);
        let expected = ["kgen.lock.json", "kustomization.yaml", gitops::MANIFESTS, "values", own];
        assert_eq!(tops, expected.into_iter().collect(), "{e:?}");
        if let Some(folder) = engine.folder() {
            assert!(gitops::is_applied_folder(folder), "{folder}");
            for platform in [kgen::config::model::Platform::Kubernetes, kgen::config::model::Platform::Openshift] {
                assert!(engine.default_namespace(platform).is_some(), "{e:?}: its objects need a namespace");
            }
        }
        assert_eq!(
            engine.needs_repository(),
            engine.folder().is_some(),
            "{e:?}: what reads a folder reads a repository"
        );
        let diags = kgen::pipeline::judge_render(&r, &rendered, kgen::rules::render::Depth::Full);
        assert!(diags.iter().all(|d| d.severity != kgen::diag::Severity::Error), "{e:?}: {diags:#?}");
    }
    // Folders other than the engines' and the manifests' are read by name and reach no cluster.
    assert!(!gitops::is_applied_folder("values"));
    assert!(gitops::is_applied_folder(gitops::MANIFESTS));
    // Each engine orders in its own way; two sharing one would be read back alike by KG602.
    orders.dedup();
    assert_eq!(orders, [ApplyOrder::SyncWaves, ApplyOrder::DependsOn, ApplyOrder::ScriptLines]);
}

/// Mirrors replace every upstream repository an engine reads (chart repositories by name, the
/// Gateway API CRD source), for every engine; the chart names and versions stay. A Flux
/// `gitops.secretRef` becomes the GitRepository's `spec.secretRef`.
#[test]
fn mirrors_replace_every_upstream_source_and_flux_takes_a_secret_ref() {
    let t = temp_project();
    let envs = t.path().join("environments");
    let mirrors = "mirrors:\n  charts:\n    jetstack: oci://registry.example.com/charts/jetstack\n    istio: https://nexus.example.com/repository/istio\n    kserve: oci://registry.example.com/kserve\n    envoyproxy: oci://registry.example.com/envoyproxy\n    knative-operator: https://nexus.example.com/repository/knative\n  crds:\n    gatewayApi: {repo: https://git.example.com/mirrors/gateway-api.git, releaseUrl: \"https://files.example.com/gateway-api/{version}/standard-install.yaml\"}\n    envoyGatewayCrds: {repo: https://git.example.com/mirrors/envoy-gateway.git}\n";
    let base = std::fs::read_to_string(envs.join("_base.yaml")).unwrap();
    std::fs::write(envs.join("_base.yaml"), format!("{base}{mirrors}")).unwrap();
    let staging = std::fs::read_to_string(envs.join("staging.yaml")).unwrap();
    std::fs::write(
        envs.join("staging.yaml"),
        staging.replace("engine: flux", "engine: flux\n  secretRef: git-credentials"),
    )
    .unwrap();
    // install.sh too: dev with no engine, as `script`.
    let dev = std::fs::read_to_string(envs.join("dev.yaml")).unwrap();
    std::fs::write(envs.join("script.yaml"), dev.replace("engine: argocd", "engine: none")).unwrap();
    let o = kgen(t.path(), &["render"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut seen_install_sh = false;
    let mut names = examples();
    names.push("script".into());
    for env in names {
        let file = std::fs::read_to_string(envs.join(format!("{env}.yaml"))).unwrap();
        if !file.lines().any(|l| l.trim() == "extends: _base") {
            continue;
        }
        for (path, bytes) in read_tree(&t.path().join("rendered").join(&env)) {
            let text = String::from_utf8(bytes).unwrap();
            for upstream in [
                "charts.jetstack.io",
                "istio-release.storage.googleapis.com",
                "ghcr.io/kserve",
                "docker.io/envoyproxy",
                "knative.github.io",
                "github.com/kubernetes-sigs/gateway-api",
            ] {
                assert!(!text.contains(upstream), "{env}/{path} still reads {upstream}");
            }
            seen_install_sh |= path == "install.sh";
        }
    }
    let flux_source = t.path().join("rendered/staging/flux/gitrepository-kgen-staging.yaml");
    let source: serde_json::Value =
        kgen::yaml::from_str(&std::fs::read_to_string(flux_source).unwrap(), kgen::yaml::Budget::Render).unwrap();
    assert_eq!(source["spec"]["secretRef"]["name"], "git-credentials");
    assert!(seen_install_sh, "an install.sh was checked");
    let script = std::fs::read_to_string(t.path().join("rendered/script/install.sh")).unwrap();
    assert!(script.contains("https://nexus.example.com/repository/istio"), "{script}");
}
