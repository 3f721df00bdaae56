//! Rules on the merged, typed environment (stage `environment`): they run before rendering and
//! their errors stop it.

use super::RuleCode;
use crate::catalog;
use crate::config::model::{GitopsEngine, IngressFlavour, MeshProvider, Platform};
use crate::config::resolve::{KnativeNetworking, Resolved};
use crate::diag::Diagnostic;
use crate::render::plan::Plan;
use crate::version::Version;

use super::{Stage, compat, diag, rule};

/// One environment rule: the codes it raises and its check. The stage is the catalog's
/// ([`RuleCode::stage`]); every environment rule runs at every depth (they gate rendering).
struct Check {
    codes: &'static [RuleCode],
    run: fn(&Resolved, &Plan, &mut Vec<Diagnostic>),
}

/// Every environment rule, in the order they run: (codes, check). A test keeps it equal to the
/// catalog's environment rules.
const CHECKS: &[Check] = &[
    Check { codes: &[RuleCode::KG203], run: legacy_mode_name },
    Check { codes: &[RuleCode::KG204], run: missing_pins },
    Check { codes: &[RuleCode::KG202], run: compat::kubernetes_minimum },
    Check { codes: &[RuleCode::KG210], run: compat::kubernetes_maximum },
    Check { codes: &[RuleCode::KG211], run: compat::envoy_gateway_api },
    Check { codes: &[RuleCode::KG212], run: compat::openshift_gateway_api_crds },
    Check { codes: &[RuleCode::KG213], run: compat::unknown_knative_operator },
    Check { codes: &[RuleCode::KG304, RuleCode::KG302], run: mesh_fits_platform },
    Check { codes: &[RuleCode::KG305], run: openshift_profile },
    Check { codes: &[RuleCode::KG306], run: ossm2_members },
    Check { codes: &[RuleCode::KG303], run: sidecar_injection },
    Check { codes: &[RuleCode::KG401], run: knative_networking_layer },
    Check { codes: &[RuleCode::KG301], run: unused_mesh },
    Check { codes: &[RuleCode::KG402], run: istio_ingress_class },
    Check { codes: &[RuleCode::KG403], run: istio_gateway_class },
    Check { codes: &[RuleCode::KG410], run: openshift_gateway_route },
    Check { codes: &[RuleCode::KG501], run: gateway_api_release },
    Check { codes: &[RuleCode::KG502], run: runtimes },
    Check { codes: &[RuleCode::KG601], run: repository },
    Check { codes: &[RuleCode::KG620], run: chart_mirrors },
    Check { codes: &[RuleCode::KG621], run: secret_ref },
    Check { codes: &[RuleCode::KG613], run: hydrate_needs_engine },
    Check { codes: &[RuleCode::KG116, RuleCode::KG117], run: |r, _, out| out.extend(ignore_entries(r)) },
    Check { codes: &[RuleCode::KG409], run: |r, _, out| out.extend(knative_config(r)) },
    Check { codes: &[RuleCode::KG411], run: knative_typed_conflicts },
    Check { codes: &[RuleCode::KG412], run: knative_settings_unused },
    Check { codes: &[RuleCode::KG413], run: https_without_tls },
    Check { codes: &[RuleCode::KG414], run: tls_unserved },
    Check { codes: &[RuleCode::KG415], run: keda_in_knative_mode },
    Check { codes: &[RuleCode::KG416], run: keda_unpinned },
    Check { codes: &[RuleCode::KG417], run: llm_release },
    Check { codes: &[RuleCode::KG418], run: llm_needs_gateway_api },
    Check { codes: &[RuleCode::KG419], run: llm_gateway },
    Check { codes: &[RuleCode::KG420], run: local_model_release },
    Check { codes: &[RuleCode::KG421, RuleCode::KG422], run: llm_local_model_openshift },
    Check { codes: &[RuleCode::KG423], run: open_telemetry_without_keda },
    Check { codes: &[RuleCode::KG311], run: |r, _, out| out.extend(sail_version(r)) },
    Check { codes: &[RuleCode::KG205], run: |r, _, out| out.extend(versions(r)) },
    Check { codes: &[RuleCode::KG307, RuleCode::KG309], run: |r, _, out| out.extend(istio_values(r)) },
    Check { codes: &[RuleCode::KG405], run: |r, _, out| out.extend(networking(r)) },
    Check { codes: &[RuleCode::KG504, RuleCode::KG506], run: |r, _, out| out.extend(kserve_values(r)) },
    Check { codes: &[RuleCode::KG606], run: manual_install_plan },
    Check { codes: &[RuleCode::KG605], run: install_sh_helm },
    Check { codes: &[RuleCode::KG611], run: release_records_near_limit },
    Check { codes: &[RuleCode::KG507], run: openshift_fixed_uids },
];

/// Runs every environment rule; `plan` is what the environment installs.
pub fn check(r: &Resolved, plan: &Plan) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for c in CHECKS {
        let before = out.len();
        (c.run)(r, plan, &mut out);
        // The table says what each check raises; tests and debug builds hold it to that.
        debug_assert!(out[before..].iter().all(|d| c.codes.contains(&d.code)), "{:?}", &out[before..]);
    }
    out
}

/// Standard mode reaches the mesh only through the `istio` IngressClass or GatewayClass:
/// (IngressClass, GatewayClass).
fn istio_classes(r: &Resolved) -> (bool, bool) {
    let through_istio = r.ingress_class() == "istio";
    (through_istio && !r.gateway_api_ingress(), through_istio && r.gateway_api_ingress())
}

/// KG203: legacy mode name on a release that has the new names.
fn legacy_mode_name(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    let e = &r.env;
    let cat = catalog::get();
    if e.kserve.deployment_mode.is_legacy_name() && cat.has_canonical_modes(r.release) {
        let canonical = e.kserve.deployment_mode.canonical().as_str();
        out.push(
            r.diag_at(
                diag(
                    RuleCode::KG203,
                    format!(
                        "`{}` is the legacy name of `{canonical}` since KServe v0.16.0 (this environment pins {})",
                        e.kserve.deployment_mode.as_str(),
                        r.release.version
                    ),
                )
                .label(format!("write `{canonical}`")),
                "/kserve/deploymentMode",
            ),
        );
    }
}

/// KG204: a needed component has no version.
fn missing_pins(r: &Resolved, plan: &Plan, out: &mut Vec<Diagnostic>) {
    for pin in plan.missing_pins() {
        out.push(
            r.diag_at(
                diag(RuleCode::KG204, format!("KServe {} has no tested `{pin}` version", r.release.version))
                    .hint(format!("set `versions.{pin}`")),
                "/kserve/version",
            ),
        );
    }
}

/// KG304 / KG302: the mesh must fit the platform.
fn mesh_fits_platform(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    let e = &r.env;
    let mesh = r.env.mesh.provider;
    let openshift = r.env.cluster.platform == Platform::Openshift;
    if !openshift && mesh.is_openshift_service_mesh() {
        out.push(r.diag_at(
            diag(
                RuleCode::KG304,
                format!("`{}` is OpenShift Service Mesh, but the platform is kubernetes", mesh.as_str()),
            ),
            "/mesh/provider",
        ));
    }
    if openshift && mesh == MeshProvider::Istio && !e.mesh.allow_upstream_istio_on_openshift {
        out.push(r.diag_at(
            diag(RuleCode::KG302, "OpenShift uses OpenShift Service Mesh, not upstream Istio charts"),
            "/mesh/provider",
        ));
    }
}

/// KG305: upstream Istio on OpenShift keeps the OpenShift profile.
fn openshift_profile(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    let e = &r.env;
    let mesh = r.env.mesh.provider;
    let openshift = r.env.cluster.platform == Platform::Openshift;
    // The key that selects it: `profile` up to Istio 1.23, `platform` from 1.24 (catalog).
    let key = r.pin("istio").and_then(|v| crate::catalog::get().istio_openshift_key(v)).unwrap_or("profile");
    if openshift && mesh == MeshProvider::Istio {
        for rel in ["istio-base", "istio-cni", "istiod", "istio-ingressgateway"] {
            if let Some(p) = e.values.get(rel).and_then(|v| v.get(key)).and_then(|p| p.as_str())
                && p != "openshift"
            {
                out.push(r.diag_at(
                    diag(RuleCode::KG305, format!("`values.{rel}.{key}: {p}` replaces the OpenShift profile")),
                    &format!("/values/{rel}/{key}"),
                ));
            }
            // The profile of older Istio charts: from 1.24 no chart has it, and the render fails.
            if key == "platform"
                && e.values.get(rel).and_then(|v| v.get("profile")).and_then(|p| p.as_str()) == Some("openshift")
            {
                out.push(r.diag_at(
                    diag(
                        RuleCode::KG305,
                        format!(
                            "`values.{rel}.profile: openshift` is no profile of Istio {}: from 1.24 OpenShift is the platform `platform: openshift`, which kgen sets; the chart fails with \"unknown profile openshift\"",
                            r.pin("istio").unwrap_or_default()
                        ),
                    ),
                    &format!("/values/{rel}/profile"),
                ));
            }
        }
    }
}

/// KG306: OSSM 2 injects only into member namespaces.
fn ossm2_members(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    let e = &r.env;
    let mesh = r.env.mesh.provider;
    if mesh == MeshProvider::Ossm2 && r.knative_mode() && e.kserve.model_namespaces.is_empty() {
        out.push(r.diag_at_any(
            diag(
                RuleCode::KG306,
                "no `kserve.modelNamespaces`: InferenceServices outside the member roll get no sidecar",
            ),
            &["/mesh/provider", "/kserve/deploymentMode"],
        ));
    }
}

/// KG303: sidecar injection.
fn sidecar_injection(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    let e = &r.env;
    let mesh = r.env.mesh.provider;
    if mesh.is_istio_family() && e.mesh.sidecar_auto_inject {
        out.push(r.diag_at(diag(RuleCode::KG303, "sidecar auto-injection is enabled"), "/mesh/sidecarAutoInject"));
    }
}

/// KG401: Knative needs a networking layer.
fn knative_networking_layer(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    if !r.knative_mode() {
        return;
    }
    if r.knative_networking.is_none() {
        out.push(r.diag_at_any(
            diag(
                RuleCode::KG401,
                "Knative mode needs Knative Serving and a networking layer, but `mesh.provider` is none",
            ),
            &["/mesh/provider", "/kserve/deploymentMode"],
        ));
    }
}

/// KG301: a mesh nothing uses (Standard mode).
fn unused_mesh(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    let mesh = r.env.mesh.provider;
    if r.knative_mode() {
        return;
    }
    let (istio_ingress_class, istio_gateway_class) = istio_classes(r);
    if mesh.is_istio_family() && !istio_ingress_class && !istio_gateway_class {
        out.push(r.diag_at(
            diag(RuleCode::KG301, format!("Standard mode uses neither an Istio IngressClass nor an Istio GatewayClass, so the `{}` mesh is unused", mesh.as_str())),
            "/mesh/provider",
        ));
    }
}

/// KG402: the `istio` IngressClass comes with upstream Istio only (Standard mode).
fn istio_ingress_class(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    let mesh = r.env.mesh.provider;
    if r.knative_mode() {
        return;
    }
    let (istio_ingress_class, _) = istio_classes(r);
    // kgen renders it with the gateway chart; OpenShift Service Mesh does not serve it.
    if istio_ingress_class && mesh != MeshProvider::Istio {
        let why = if mesh == MeshProvider::None {
            "no Istio is installed".to_string()
        } else {
            format!("`{}` serves no `istio` IngressClass (kgen renders it only with upstream Istio)", mesh.as_str())
        };
        let mut d = diag(
            RuleCode::KG402,
            format!("Standard mode with `ingress: ingress` uses the `istio` IngressClass, but {why}"),
        );
        // Upstream Istio is refused on OpenShift (KG302): point at what works there.
        if r.env.cluster.platform == crate::config::model::Platform::Openshift {
            d = d.hint(
                "on OpenShift, use the Gateway API with the mesh's Istio (`kserve.ingress: gatewayApi`, \
                 `gatewayApi.implementation: istio`, with `mesh.provider: ossm3`), or name an IngressClass \
                 your cluster has (`kserve.ingressClassName`)",
            );
        }
        out.push(r.diag_at_any(d, &["/kserve/ingress", "/kserve/ingressClassName", "/mesh/provider"]));
    }
}

/// KG410: on OpenShift, the router that `*.apps` DNS reaches has no Route to the Gateway API
/// gateway's own Service.
fn openshift_gateway_route(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    if r.env.cluster.platform == Platform::Openshift && r.gateway_api_ingress() {
        let domain = &r.env.kserve.ingress_domain;
        out.push(r.diag_at_any(
            diag(
                RuleCode::KG410,
                format!(
                    "InferenceServices under `{domain}` are served by the `kserve-ingress-gateway` Gateway's own load-balancer Service, which OpenShift's router has no Route to"
                ),
            ),
            &["/kserve/ingress", "/kserve/ingressDomain"],
        ));
    }
}

/// KG403: Istio GatewayClass without Istio (Standard mode).
fn istio_gateway_class(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    let mesh = r.env.mesh.provider;
    if r.knative_mode() {
        return;
    }
    let (_, istio_gateway_class) = istio_classes(r);
    if istio_gateway_class && !mesh.is_istio_family() {
        out.push(r.diag_at(
            diag(
                RuleCode::KG403,
                "`gatewayApi.implementation: istio` needs an Istio mesh, but `mesh.provider` is none",
            ),
            "/gatewayApi/implementation",
        ));
    }
}

/// KG501: Gateway API ingress needs a release that supports it (Standard mode).
fn gateway_api_release(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    let e = &r.env;
    if r.knative_mode() {
        return;
    }
    if e.kserve.ingress == IngressFlavour::GatewayApi && !r.release.gateway_api_ingress {
        out.push(r.diag_at(
            diag(
                RuleCode::KG501,
                format!(
                    "KServe {} cannot route through Gateway API (`enableGatewayApi` arrived in v0.15)",
                    r.release.version
                ),
            ),
            "/kserve/ingress",
        ));
    }
}

/// KG502: runtimes are part of the main chart before v0.17.0.
fn runtimes(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    let e = &r.env;
    if !e.kserve.install_runtimes && !r.release.runtime_configs_chart {
        out.push(r.diag_at(
            diag(RuleCode::KG502, format!("KServe {} always installs its serving runtimes", r.release.version)),
            "/kserve/installRuntimes",
        ));
    }
}

/// KG601: GitOps engines need the repository.
fn repository(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    let e = &r.env;
    if crate::render::gitops::engine(e.gitops.engine).needs_repository() && e.gitops.repo_url.is_none() {
        out.push(r.diag_at_any(
            diag(RuleCode::KG601, format!("`gitops.engine: {}` needs `gitops.repoUrl`", e.gitops.engine.as_str())),
            &["/gitops/engine", "/gitops"],
        ));
    }
}

/// KG620: a chart mirror must name a repository kgen installs from.
fn chart_mirrors(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    let cat = crate::catalog::get();
    let known: std::collections::BTreeSet<&str> = cat.charts.values().map(|c| c.repo_name.as_str()).collect();
    for name in r.env.mirrors.charts.keys().filter(|n| !known.contains(n.as_str())) {
        let mut d =
            diag(RuleCode::KG620, format!("`mirrors.charts.{name}` names no chart repository kgen installs from"));
        let names: Vec<&str> = known.iter().copied().collect();
        if let Some(s) = crate::config::validate::did_you_mean(name, names.iter().copied()) {
            d = d.hint(format!("did you mean `{s}`? Repositories: {}", names.join(", ")));
        } else {
            d = d.hint(format!("repositories: {}", names.join(", ")));
        }
        out.push(r.diag_at(d, &format!("/mirrors/charts/{}", crate::yaml::escape_pointer(name))));
    }
    let sources: Vec<&str> = cat.crd_sources.keys().map(String::as_str).collect();
    for name in r.env.mirrors.crds.keys().filter(|n| !sources.contains(&n.as_str())) {
        let d = diag(RuleCode::KG620, format!("`mirrors.crds.{name}` names no CRD source kgen applies"))
            .hint(format!("CRD sources: {}", sources.join(", ")));
        out.push(r.diag_at(d, &format!("/mirrors/crds/{}", crate::yaml::escape_pointer(name))));
    }
}

/// KG621: only Flux's GitRepository names a credentials Secret.
fn secret_ref(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    let e = &r.env;
    if e.gitops.secret_ref.is_some() && e.gitops.engine != crate::config::model::GitopsEngine::Flux {
        out.push(r.diag_at(
            diag(
                RuleCode::KG621,
                format!("`gitops.secretRef` has no effect with `gitops.engine: {}`", e.gitops.engine.as_str()),
            ),
            "/gitops/secretRef",
        ));
    }
}

/// KG613: the committed hydration is applied from Git, which only a GitOps engine reads.
fn hydrate_needs_engine(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    let e = &r.env;
    if e.gitops.hydrate && !crate::render::gitops::engine(e.gitops.engine).needs_repository() {
        out.push(r.diag_at_any(
            diag(
                RuleCode::KG613,
                format!(
                    "`gitops.hydrate: true` needs an engine that applies from Git, not `gitops.engine: {}`",
                    e.gitops.engine.as_str()
                ),
            ),
            &["/gitops/hydrate", "/gitops"],
        ));
    }
}

/// KG606: a manual install plan blocks the first install, not only upgrades.
fn manual_install_plan(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    let e = &r.env;
    if e.cluster.platform == Platform::Openshift
        && e.olm.install_plan_approval == Some(crate::config::model::InstallPlanApproval::Manual)
    {
        out.push(r.diag_at(
            diag(RuleCode::KG606, "OLM installs nothing until someone approves each operator's first InstallPlan"),
            "/olm/installPlanApproval",
        ));
    }
}

/// KG605: what install.sh was written against.
fn install_sh_helm(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    let e = &r.env;
    if e.gitops.engine == GitopsEngine::None {
        out.push(r.diag_at(
            diag(
                RuleCode::KG605,
                "install.sh runs `helm` 3 commands (KServe's scripts pin Helm v3.16.3; Helm 4 is untested)",
            ),
            "/gitops/engine",
        ));
    }
}

/// KG507: on OpenShift, chart versions whose fixed UIDs no value can unset (catalog
/// `openshiftFixedUids`; those values can unset, the render does).
fn openshift_fixed_uids(r: &Resolved, plan: &Plan, out: &mut Vec<Diagnostic>) {
    if r.env.cluster.platform != Platform::Openshift {
        return;
    }
    let fixed: Vec<&str> = catalog::get()
        .openshift_fixed_uids
        .iter()
        .filter(|f| plan.releases.iter().any(|rel| rel.name == f.release && f.versions.contains(&rel.version)))
        .filter_map(|f| f.fixed.as_deref())
        .collect();
    if fixed.is_empty() {
        return;
    }
    out.push(r.diag_at_any(
        diag(
            RuleCode::KG507,
            format!(
                "KServe {} on OpenShift: {}, which the restricted-v2 SCC rejects",
                r.release.version,
                fixed.join("; ")
            ),
        ),
        &["/kserve/version", "/cluster/platform"],
    ));
}

/// KG611: a chart version whose Helm release record, measured with kgen's values, is near the
/// Secret limit, installed by an engine that stores the record.
fn release_records_near_limit(r: &Resolved, plan: &Plan, out: &mut Vec<Diagnostic>) {
    let cat = catalog::get();
    let records = &cat.helm_release_records;
    for rel in &plan.releases {
        let Some(bytes) = records.size(&rel.name, &rel.version) else { continue };
        // Over the limit is KG610's (kgen never renders it as a release).
        if bytes * 100 < records.limit * records.near_percent
            || bytes > records.limit
            || !crate::render::plan::stores_release_record(r.env.gitops.engine, &cat.charts[&rel.name])
        {
            continue;
        }
        let share = bytes as f64 * 100.0 / records.limit as f64;
        let over = if r.env.values.get(&rel.name).is_some() { "; your overrides add to it" } else { "" };
        out.push(r.diag_at_any(
            diag(
                RuleCode::KG611,
                format!(
                    "the Helm release record of `{}` ({} {}) is {bytes} bytes with kgen's values, {share:.1}% of the {}-byte Secret limit{over}",
                    rel.name, rel.chart, rel.version, records.limit
                ),
            ),
            &["/gitops/engine", "/kserve/version"],
        ));
    }
}

/// KG116: `ignore:` must name rules that exist and can be ignored. An entry naming a retired
/// rule is KG117 instead: it is obsolete, not a typo, so no other rule is suggested.
fn ignore_entries(r: &Resolved) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (i, x) in r.env.ignore.iter().enumerate() {
        let at = format!("/ignore/{i}/rule");
        if let Some(old) = super::retired_rule(&x.rule) {
            let mut hint = format!("remove the entry (`kgen rules {}` says why it was retired)", old.code);
            if !old.replaced_by.is_empty() {
                hint.push_str(&format!("; what it checked is now {}", old.replaced_by.join(", ")));
            }
            let d = diag(
                RuleCode::KG117,
                format!(
                    "`{}` is a retired rule ({}): it never fires, so ignoring it hides nothing",
                    old.code, old.title
                ),
            )
            .label("retired")
            .hint(hint);
            out.push(r.diag_at(d, &at));
            continue;
        }
        let d = match rule(&x.rule) {
            None => {
                let d = diag(RuleCode::KG116, format!("`{}` is not a rule (`kgen rules` lists them)", x.rule));
                // Only for a code that does not exist: for one that exists but cannot be
                // ignored, the closest code is itself.
                let codes: Vec<&str> = super::rules().iter().map(|k| k.code.as_str()).collect();
                match crate::config::validate::did_you_mean(&x.rule, codes) {
                    Some(s) => d.hint(format!("did you mean `{s}`?")),
                    None => d,
                }
            }
            Some(k) if k.stage == Stage::Input => {
                diag(RuleCode::KG116, format!("`{}` is about reading the input and cannot be ignored", x.rule))
                    .hint("remove the entry; rules of the input stage always apply, so fix what they report")
            }
            Some(_) => continue,
        };
        out.push(r.diag_at(d, &at));
    }
    out
}

/// Version rules: Knative Serving within what the operator bundles (KG205), read from the
/// operator's row of the catalog's `knativeOperators` table.
fn versions(r: &Resolved) -> Vec<Diagnostic> {
    let cat = catalog::get();
    let mut out = Vec::new();
    let kubernetes = r.env.cluster.platform == Platform::Kubernetes;
    if !(kubernetes && r.knative_mode()) {
        return out;
    }
    let (Some(op), Some(serving)) = (r.pin(catalog::KNATIVE_OPERATOR), r.pin(catalog::KNATIVE_SERVING)) else {
        return out;
    };
    // An operator release the catalog does not list has no known bundle to check against.
    let Some(row) = cat.knative_operator(op) else { return out };
    if !row.bundles(serving) {
        let (first, last) =
            (row.servings.first().map_or("", String::as_str), row.servings.last().map_or("", String::as_str));
        let mut d = diag(
            RuleCode::KG205,
            format!("the Knative operator {op} bundles Knative Serving {first} to {last}, not {serving}"),
        )
        .label(format!("not bundled by operator {op}"));
        if let Some(fit) = operators_bundling(cat, serving).last() {
            d = d.hint(format!(
                "keep Knative Serving {serving} with an operator that bundles it (newest: `versions.knativeOperator: {}`), or pick a Serving version operator {op} bundles",
                fit.version
            ));
        }
        out.push(r.diag_at_any(d, &["/versions/knativeServing", "/versions/knativeOperator"]));
    }
    out
}

/// The operator releases that bundle a Knative Serving version, oldest first.
fn operators_bundling<'c>(cat: &'c catalog::Catalog, serving: &str) -> Vec<&'c catalog::KnativeOperator> {
    cat.knative_operators().iter().filter(|o| o.bundles(serving)).collect()
}

/// Istio values overrides: layout prefixes (KG307), the inert `proxy.autoInject` (KG309). (The
/// gateway chart's closed schema, KG308, is checked on the rendered values.)
fn istio_values(r: &Resolved) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if r.env.mesh.provider != MeshProvider::Istio {
        return out;
    }
    let cat = catalog::get();
    let istio = r.pin("istio").unwrap_or_default();
    let prefixes: Vec<&str> =
        cat.istio_values_layouts.iter().map(|l| l.prefix.as_str()).filter(|p| !p.is_empty()).collect();
    for rel in ["istio-base", "istiod", "istio-ingressgateway", "istio-cni"] {
        let Some(values) = r.env.values.get(rel) else { continue };
        for key in values.keys().filter(|k| prefixes.contains(&k.as_str())) {
            let current = cat.istio_values_prefix(istio).filter(|p| !p.is_empty());
            // `zzz_profile.yaml` fails on `defaults`; `_internal_defaults_do_not_set` is where
            // the chart keeps its own defaults, which the profile then overwrites.
            let what = if current == Some(key.as_str()) {
                format!(
                    "`{key}` holds the Istio {istio} chart's own defaults, which its profile overwrites: values set under it are lost"
                )
            } else {
                format!(
                    "`{key}` is a values prefix the Istio charts reject (Istio {istio} keeps its defaults under `{}`)",
                    current.unwrap_or("the top level")
                )
            };
            out.push(r.diag_at(
                diag(RuleCode::KG307, what).label("set the keys without this prefix"),
                &format!("/values/{rel}/{}", crate::yaml::escape_pointer(key)),
            ));
        }
    }
    if let Some(proxy) = r.env.values.get("istiod").and_then(|v| v.get("proxy"))
        && proxy.get("autoInject").is_some()
    {
        out.push(r.diag_at(
            diag(
                RuleCode::KG309,
                "istiod reads no top-level `proxy` key, so `proxy.autoInject` changes nothing (injection is `global.proxy.autoInject`)",
            )
            .label("inert"),
            "/values/istiod/proxy/autoInject",
        ));
    }
    out
}

/// Networking: Gateway API CRDs the cluster must bring (KG405).
fn networking(r: &Resolved) -> Vec<Diagnostic> {
    let e = &r.env;
    let mut out = Vec::new();
    // OpenShift 4.19+ installs and owns them (its Ingress Operator): nothing is missing there.
    let platform_owns = e.cluster.platform == Platform::Openshift
        && catalog::get().openshift_manages_gateway_api_crds(&e.cluster.kubernetes_version);
    if r.gateway_api_ingress() && !e.gateway_api.install_crds && !platform_owns {
        out.push(r.diag_at(
            diag(
                RuleCode::KG405,
                "Gateway API ingress with `gatewayApi.installCrds: false`: the KServe controller does not start unless the cluster serves the `gateway.networking.k8s.io/v1` HTTPRoute CRD",
            ),
            "/gatewayApi/installCrds",
        ));
    }
    out
}

/// KServe values overrides: `createGateway` (KG504), shared-resource switches that
/// `createSharedResources` overrides (KG506).
fn kserve_values(r: &Resolved) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let Some(values) = r.env.values.get("kserve") else { return out };
    let root = serde_json::Value::Object(values.clone());
    // The chart renders that Gateway only with `enableGatewayApi` (Standard mode, Gateway API).
    if r.gateway_api_ingress()
        && root.pointer("/kserve/controller/gateway/ingressGateway/createGateway")
            == Some(&serde_json::Value::Bool(true))
    {
        out.push(r.diag_at(
            diag(
                RuleCode::KG504,
                "`createGateway: true` makes the KServe chart render its own `kserve-ingress-gateway` Gateway with `gatewayClassName: envoy` hard-coded, next to the one kgen renders",
            ),
            "/values/kserve/kserve/controller/gateway/ingressGateway/createGateway",
        ));
    }
    let shared_on = root.pointer("/kserve/createSharedResources") != Some(&serde_json::Value::Bool(false));
    if r.release.create_shared_resources && shared_on {
        for part in ["certManager", "inferenceServiceConfig", "storagecontainer"] {
            let ptr = format!("/kserve/{part}/enabled");
            if root.pointer(&ptr) == Some(&serde_json::Value::Bool(false)) {
                out.push(r.diag_at(
                    diag(
                        RuleCode::KG506,
                        format!("`kserve.{part}.enabled: false` has no effect while `kserve.createSharedResources` is true (the chart's `default` treats false as unset)"),
                    )
                    .label("ignored by the chart"),
                    &format!("/values/kserve{ptr}"),
                ));
            }
        }
    }
    out
}

/// KG311: OpenShift Service Mesh 3 (Sail) installs only the Istio versions it knows.
fn sail_version(r: &Resolved) -> Vec<Diagnostic> {
    let oldest = &catalog::get().rule_facts.sail_oldest_istio;
    let (Some(pin), Some(min)) = (r.pin("istio"), Version::parse(oldest)) else { return vec![] };
    if r.env.mesh.provider != MeshProvider::Ossm3 || Version::parse(pin).is_none_or(|v| v >= min) {
        return vec![];
    }
    vec![
        r.diag_at_any(
            diag(
                RuleCode::KG311,
                format!("Sail installs Istio {oldest} or newer, not {pin} (the `Istio` resource would be rejected)"),
            )
            .label(format!("Istio {pin} is too old for Sail")),
            &["/versions/istio", "/kserve/version"],
        ),
    ]
}

/// KG409: `knative.config.istio` must not mix net-istio's list keys with the legacy per-gateway
/// keys kgen writes to wire the gateways.
fn knative_config(r: &Resolved) -> Vec<Diagnostic> {
    let Some(istio) = r.env.knative.config.get("istio") else { return vec![] };
    if r.knative_networking != Some(KnativeNetworking::Istio) {
        return vec![];
    }
    ["external-gateways", "local-gateways"]
        .into_iter()
        .filter(|k| istio.contains_key(*k))
        .map(|k| {
            r.diag_at(
                diag(
                    RuleCode::KG409,
                    format!("`{k}` cannot be combined with the `gateway.*` / `local-gateway.*` keys kgen writes to wire Knative to the ingress gateway; net-istio rejects the config"),
                ),
                &format!("/knative/config/istio/{k}"),
            )
        })
        .collect()
}

/// KG411: a key of `KnativeServing.spec.config` set by a typed field and by `knative.config`.
fn knative_typed_conflicts(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    let k = &r.env.knative;
    let keys = &catalog::get().rule_facts.knative_config_keys;
    let feature_conflicts = k.features.set().into_iter().filter_map(|(field, _)| {
        let flag = keys.features.get(&field)?;
        k.config
            .get("features")?
            .contains_key(flag)
            .then(|| (format!("/knative/config/features/{flag}"), format!("knative.features.{field}"), flag.clone()))
    });
    let deployment = k.config.get("deployment");
    let deadline_conflicts = keys
        .progress_deadline
        .iter()
        .filter(|key| k.progress_deadline.is_some() && deployment.is_some_and(|d| d.contains_key(*key)))
        .map(|key| (format!("/knative/config/deployment/{key}"), "knative.progressDeadline".to_string(), key.clone()));
    for (at, field, key) in feature_conflicts.chain(deadline_conflicts).collect::<Vec<_>>() {
        out.push(
            r.diag_at(
                diag(
                    RuleCode::KG411,
                    format!("`{key}` is set here and by `{field}`, which writes the same Knative key"),
                )
                .label("remove this key or the typed field")
                .hint(format!("keep `{field}` and remove `{key}` from `knative.config`")),
                &at,
            ),
        );
    }
}

/// KG412: typed Knative settings where no Knative Serving is installed.
fn knative_settings_unused(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    if r.knative_mode() {
        return;
    }
    let k = &r.env.knative;
    let set: Vec<(&str, &str)> = [
        ("/knative/features", "knative.features", !k.features.is_empty()),
        ("/knative/progressDeadline", "knative.progressDeadline", k.progress_deadline.is_some()),
    ]
    .into_iter()
    .filter_map(|(at, name, on)| on.then_some((at, name)))
    .collect();
    for (at, name) in set {
        out.push(
            r.diag_at(
                diag(
                    RuleCode::KG412,
                    format!(
                        "`{name}` configures Knative Serving, which Standard mode does not install: nothing reads it"
                    ),
                )
                .hint("remove it; Standard-mode Deployments need no Knative flag"),
                at,
            ),
        );
    }
}

/// KG413: `https` URLs where no listener terminates TLS and nothing in front is declared to.
fn https_without_tls(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    let e = &r.env;
    if e.kserve.url_scheme != crate::config::model::UrlScheme::Https
        || e.tls.terminated_upstream
        || r.tls_secret_namespace().is_some()
    {
        return;
    }
    let why = if !r.knative_mode() && !r.gateway_api_ingress() {
        "Standard mode with Ingress objects has no TLS listener kgen configures"
    } else {
        "no gateway listener kgen configures has a certificate (`kserve.tlsSecretName` or `tls.issuer`)"
    };
    out.push(
        r.diag_at(
            diag(RuleCode::KG413, format!("InferenceService URLs are `https://` but {why}: clients would fail the TLS handshake"))
                .label("nothing terminates TLS for this scheme")
                .hint("set `tls.issuer` (cert-manager issuer by name) or `kserve.tlsSecretName`, or `tls.terminatedUpstream: true` when TLS ends in front of the cluster"),
            "/kserve/urlScheme",
        ),
    );
}

/// KG414: a certificate named where no listener kgen configures serves it.
fn tls_unserved(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    let e = &r.env;
    if e.kserve.tls_secret_name.is_none() || r.tls_secret_namespace().is_some() {
        return;
    }
    // Where the file set one; a Secret name derived from `tls.issuer` points there.
    let at = r.diag_at_any(
        diag(RuleCode::KG414, "no listener kgen configures serves this certificate: it has no effect here".to_string())
            .hint("remove it, or use `kserve.ingress: gatewayApi`"),
        &["/kserve/tlsSecretName", "/tls/issuer"],
    );
    out.push(at);
}

/// KG415: KEDA where InferenceServices scale with Knative's autoscaler by default.
fn keda_in_knative_mode(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    if !r.env.autoscaling.keda || !r.knative_mode() {
        return;
    }
    let d = diag(
        RuleCode::KG415,
        "KEDA is installed, but in Knative mode InferenceServices scale with Knative's autoscaler: KServe creates ScaledObjects only for Standard-mode ones annotated `serving.kserve.io/autoscalerClass: keda`".to_string(),
    )
    .label("Knative mode (kserve.deploymentMode)")
    .hint("drop `autoscaling.keda`, or use `kserve.deploymentMode: Standard`");
    out.push(r.diag_at(d, "/autoscaling/keda"));
}

/// KG416: KEDA with a KServe release older than the first that pins a KEDA version.
fn keda_unpinned(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    if !r.env.autoscaling.keda || r.release.pins.contains_key("keda") {
        return;
    }
    let hint = match first_release(|rel| rel.pins.contains_key("keda")) {
        Some(v) => format!("use KServe {v} or later (`kserve.version`), or drop `autoscaling.keda`"),
        None => "drop `autoscaling.keda`".to_string(),
    };
    let d = diag(
        RuleCode::KG416,
        format!("KServe {} pins no KEDA version (its kserve-deps.env has no KEDA_VERSION), so kgen has no tested KEDA to install", r.release.version),
    )
    .label("KEDA requested here")
    .hint(hint);
    out.push(r.diag_at_any(d, &["/autoscaling/keda", "/kserve/version"]));
}

/// KG423: the OpenTelemetry operator and KEDA's OTel add-on without KEDA.
fn open_telemetry_without_keda(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    if !r.env.autoscaling.open_telemetry || r.env.autoscaling.keda {
        return;
    }
    let d = diag(
        RuleCode::KG423,
        "KServe scales on OpenTelemetry metrics through KEDA, whose OTel add-on it asks; without `autoscaling.keda` nothing would".to_string(),
    )
    .label("OpenTelemetry autoscaling requested here")
    .hint("add `autoscaling.keda: true`, or drop `autoscaling.openTelemetry`");
    out.push(r.diag_at(d, "/autoscaling/openTelemetry"));
}

/// The oldest catalog release with a flag, for hints.
fn first_release(has: fn(&catalog::Release) -> bool) -> Option<&'static str> {
    catalog::get()
        .releases
        .iter()
        .filter(|rel| has(rel))
        .filter_map(|rel| Some((Version::parse(&rel.version)?, rel.version.as_str())))
        .min()
        .map(|(_, v)| v)
}

/// KG417: `llm` on a release without LLMInferenceService charts it can install beside KServe.
fn llm_release(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    if !r.env.llm.enabled || r.llm_installed() {
        return;
    }
    let rel = r.release;
    let message = if rel.llmisvc_charts {
        let chart = catalog::get().chart_of(rel, "kserve-llmisvc-resources").unwrap_or("kserve-llmisvc-resources");
        format!(
            "KServe {}'s `{chart}` chart renders KServe's `inferenceservice-config` ConfigMap itself (no `createSharedResources` switch), which the kserve release owns: the two cannot be installed together",
            rel.version
        )
    } else {
        format!("KServe {} ships no LLMInferenceService charts", rel.version)
    };
    let hint = match first_release(|rel| rel.llmisvc_charts && rel.create_shared_resources) {
        Some(v) => format!("use KServe {v} or later (`kserve.version`), or drop `llm`"),
        None => "drop `llm`".to_string(),
    };
    let d = diag(RuleCode::KG417, message).label("LLM stack requested here").hint(hint);
    out.push(r.diag_at_any(d, &["/llm/enabled", "/kserve/version"]));
}

/// KG418: `llm` where KServe routes nothing through Gateway API.
fn llm_needs_gateway_api(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    if !r.env.llm.enabled || r.gateway_api_ingress() {
        return;
    }
    let (why, at) = if r.knative_mode() {
        ("Knative mode", "/kserve/deploymentMode")
    } else {
        ("Standard mode with Ingress objects (`kserve.ingress: ingress`)", "/kserve/ingress")
    };
    let d = diag(
        RuleCode::KG418,
        format!("LLMInferenceServices are served through HTTPRoutes on the `kserve-ingress-gateway` Gateway, which kgen renders only with Standard mode and Gateway API; this environment uses {why}"),
    )
    .label("LLM stack requested here")
    .hint("use `kserve.deploymentMode: Standard` with `kserve.ingress: gatewayApi`, or drop `llm`");
    out.push(r.diag_at_any(d, &["/llm/enabled", at]));
}

/// KG419: `llm` behind Istio's Gateway API, which the pinned istiod cannot route to KServe's
/// InferencePools.
fn llm_gateway(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    use crate::config::model::GatewayImplementation;
    if !r.env.llm.enabled
        || !r.gateway_api_ingress()
        || r.env.gateway_api.implementation != GatewayImplementation::Istio
    {
        return;
    }
    let d = diag(
        RuleCode::KG419,
        format!(
            "KServe installs and tests LLMInferenceService only behind Envoy Gateway with Envoy AI Gateway, and Istio {} watches no `inference.networking.k8s.io` InferencePool, which KServe's LLM routes point to",
            r.pin("istio").unwrap_or("of this release")
        ),
    )
    .label("Istio serves Gateway API here")
    .hint("use `gatewayApi.implementation: envoy` (kgen adds Envoy AI Gateway with `llm`), or drop `llm`");
    out.push(r.diag_at_any(d, &["/gatewayApi/implementation", "/llm/enabled"]));
}

/// KG420: `localModel` on a release without the LocalModel charts.
fn local_model_release(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    if !r.env.local_model.enabled || r.release.local_model_charts {
        return;
    }
    let hint = match first_release(|rel| rel.local_model_charts) {
        Some(v) => format!("use KServe {v} or later (`kserve.version`), or drop `localModel`"),
        None => "drop `localModel`".to_string(),
    };
    let d = diag(RuleCode::KG420, format!("KServe {} ships no LocalModel charts", r.release.version))
        .label("LocalModel requested here")
        .hint(hint);
    out.push(r.diag_at_any(d, &["/localModel/enabled", "/kserve/version"]));
}

/// KG421, KG422: the LLM stack and LocalModel on OpenShift.
fn llm_local_model_openshift(r: &Resolved, _plan: &Plan, out: &mut Vec<Diagnostic>) {
    if r.env.cluster.platform != Platform::Openshift {
        return;
    }
    if r.env.llm.enabled {
        let d = diag(
            RuleCode::KG421,
            "on OpenShift the LLMInferenceService stack comes with OpenShift AI (LeaderWorkerSet from OLM, the Inference Extension through OpenShift Service Mesh 3); kgen's upstream Helm charts are not supported there".to_string(),
        )
        .label("LLM stack requested here")
        .hint("install it through OpenShift AI and drop `llm` here");
        out.push(r.diag_at(d, "/llm/enabled"));
    }
    if r.local_model_installed() {
        let d = diag(
            RuleCode::KG422,
            "the LocalModel node agent mounts a hostPath volume, which OpenShift's restricted-v2 SCC refuses: its pods are never created".to_string(),
        )
        .label("LocalModel requested here")
        .hint(format!(
            "grant it an SCC with hostPath volumes (`oc adm policy add-scc-to-user hostmount-anyuid -z kserve-localmodelnode-agent -n {}`) and ignore KG422 with that reason",
            r.env.kserve.namespace
        ));
        out.push(r.diag_at(d, "/localModel/enabled"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table holds every environment rule of the catalog, each once.
    #[test]
    fn every_environment_rule_has_one_check() {
        let mut checked: Vec<RuleCode> = CHECKS.iter().flat_map(|c| c.codes.iter().copied()).collect();
        assert!(checked.iter().all(|c| c.stage() == Stage::Environment), "{checked:?}");
        checked.sort();
        let n = checked.len();
        checked.dedup();
        assert_eq!(n, checked.len(), "a code in two rows");
        let mut env: Vec<RuleCode> = RuleCode::ALL.into_iter().filter(|c| c.stage() == Stage::Environment).collect();
        env.sort();
        assert_eq!(checked, env);
    }
}
