//! Rendering: a resolved environment in, the files of `rendered/<env>/` out, as an in-memory
//! map. Pure: no I/O, no clock, no environment variables — the same inputs always give the same
//! bytes.

pub mod gitops;
pub mod plan;
pub mod templates;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::config::merge::deep_merge;
use crate::config::resolve::Resolved;
use crate::error::Error;
use crate::lock::{self, Lock};
use crate::yaml;

/// Name of the index file in every rendered environment.
pub const LOCK_FILE: &str = "kgen.lock.json";
/// Name of the kustomization in every rendered environment.
pub const KUSTOMIZATION: &str = "kustomization.yaml";

/// The folder under `rendered/<env>/` that holds the committed chart output of
/// `gitops.hydrate` (one subfolder per release), which `kgen hydrate --write` writes and the
/// engines apply; the render never writes it.
pub const HYDRATED_FOLDER: &str = "hydrated";

/// The `helm template` inputs of one release other than its chart and names, as the index of
/// a render with `gitops.hydrate` records them and `kgen hydrate` runs them: `values` is the
/// release's values file (its header comment, which names the environment, left out of the
/// digest), `kube_minor` the environment's `cluster.kubernetesVersion`.
pub fn hydration_inputs(release: &str, version: &str, values: &str, kube_minor: Option<&str>) -> lock::Hydration {
    let cat = crate::catalog::get();
    lock::Hydration {
        values_digest: sha256(values_without_header(values).as_bytes()),
        // The engines install a chart's `crds/` folder unless told to skip it.
        include_crds: !cat.charts.get(release).is_some_and(|c| c.skip_crds),
        skip_schema_validation: cat.broken_values_schemas.iter().any(|b| b.release == release && b.version == version),
        kube_version: kube_minor.map(helm_kube_version),
    }
}

/// The Helm version `--kube-version` gets for an environment's `cluster.kubernetesVersion`
/// (`1.33` → `1.33.0`).
pub fn helm_kube_version(minor: &str) -> String {
    if minor.matches('.').count() == 1 { format!("{minor}.0") } else { minor.to_string() }
}

/// A values file without the comment lines it starts with.
pub fn values_without_header(text: &str) -> &str {
    let mut rest = text;
    while rest.starts_with('#') {
        rest = rest.split_once('\n').map_or("", |(_, r)| r);
    }
    rest
}

/// The rendered files of one environment, by path relative to `rendered/<env>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Environment name.
    pub env: String,
    /// Path → content.
    pub files: BTreeMap<String, String>,
}

/// `sha256:<hex>` of some bytes.
pub fn sha256(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256:");
    for b in digest.iter() {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 0xf) as usize] as char);
    }
    s
}

/// Renders one environment, planning it first (tests and tools; the pipeline plans once and
/// calls [`render_planned`]). `sources` holds the text of the environment files (by display
/// path), which go into the input digest.
pub fn render(r: &Resolved, sources: &BTreeMap<String, String>) -> Result<Rendered, Error> {
    render_planned(r, &plan::plan(r), sources)
}

/// Renders one environment from its plan.
pub fn render_planned(r: &Resolved, plan: &plan::Plan, sources: &BTreeMap<String, String>) -> Result<Rendered, Error> {
    // Rule KG204 reports these; ignoring it must not render an empty version.
    if let Some(pin) = plan.missing_pins().first() {
        return Err(Error::Usage(format!(
            "`{}`: KServe {} has no tested `{pin}` version, so kgen cannot render it (KG204); set `versions.{pin}`",
            r.name, r.release.version
        )));
    }
    // The templates this render uses: the lock's input digest covers these only.
    let mut templates_used: BTreeSet<&str> = BTreeSet::new();
    // Converted to the engine's value type once; objects add `object` on top of it.
    let ctx = minijinja::value::Value::from(minijinja::value::Serde(context(r, plan)));
    let engine = templates::engine();
    let header = header(r);
    let mut files = BTreeMap::new();

    for rel in &plan.releases {
        templates_used.insert(&rel.template);
        let text = render_template(engine, &rel.template, &ctx)?;
        let over = r.env.values.get(&rel.name);
        let mut by_version = crate::catalog::get().charts[&rel.name].values_for(&rel.version);
        // OpenShift's restricted-v2 SCC rejects fixed UIDs: unset those values allow to.
        if r.env.cluster.platform == crate::config::model::Platform::Openshift
            && let Some(unset) = crate::catalog::get().openshift_unset_values(&rel.name, &rel.version)
        {
            deep_merge(by_version.get_or_insert_with(|| json!({})), unset);
        }
        // Templates are written in the serializer's canonical style, so without overrides
        // their text is the file; debug builds and tests prove it by re-serialising. The one
        // exception is a multi-line string, which `toyaml` keeps on one line with `\n` escapes
        // where the serializer writes a `|` block: any backslash sends the text through the
        // serializer, so both builds write the same canonical bytes.
        let inlined = text.contains('\\');
        let body = if over.is_none() && by_version.is_none() && !inlined && !cfg!(debug_assertions) {
            text
        } else {
            let mut values: Value = yaml::from_str(&text, yaml::Budget::Render)
                .map_err(|e| Error::Internal(format!("template {} produced invalid YAML: {e}", rel.template)))?;
            if values.is_null() {
                values = json!({});
            }
            let canonical = yaml::to_string(&values).map_err(Error::Internal)?;
            if over.is_none() && !inlined && canonical != text {
                return Err(Error::Internal(format!(
                    "template {} is not in canonical form:\n{text}\nexpected:\n{canonical}",
                    rel.template
                )));
            }
            if let Some(v) = &by_version {
                deep_merge(&mut values, v);
            }
            // The user's escape hatch merges last, over everything kgen decided.
            if let Some(over) = over {
                deep_merge(&mut values, &Value::Object(over.clone()));
            }
            yaml::to_string(&values).map_err(Error::Internal)?
        };
        files.insert(format!("values/{}.yaml", rel.name), format!("{header}{body}"));
    }

    for obj in &plan.objects {
        templates_used.insert(obj.template);
        let octx = minijinja::context! { object => minijinja::value::Value::from(minijinja::value::Serde(&obj.data)), ..ctx.clone() };
        let text = render_template(engine, obj.template, &octx)?;
        if cfg!(debug_assertions) {
            check_object(&text, obj)?;
        }
        files.insert(obj.path(), format!("{header}{}", text.trim_start_matches('\n')));
    }

    // The GitOps layer that applies all of the above.
    let gctx = minijinja::context! { gitops => minijinja::value::Value::from(minijinja::value::Serde(gitops::settings(r))), ..ctx.clone() };
    let (gitops_files, kustomize_files) = gitops::files(r, plan);
    for f in &gitops_files {
        let keyed: BTreeMap<&str, minijinja::value::Value> =
            BTreeMap::from([(f.key, minijinja::value::Value::from(minijinja::value::Serde(&f.data)))]);
        templates_used.insert(f.template);
        let fctx = minijinja::context! { ..minijinja::value::Value::from(keyed), ..gctx.clone() };
        let text = render_template(engine, f.template, &fctx)?;
        let text = text.trim_start_matches('\n');
        if f.path.ends_with(".yaml") {
            files.insert(f.path.clone(), format!("{header}{text}"));
        } else {
            files.insert(f.path.clone(), text.to_string());
        }
    }
    for (path, value) in kustomize_files {
        files.insert(path, format!("{header}{}", yaml::to_string(&value).map_err(Error::Internal)?));
    }

    let mut manifest_paths: Vec<String> = plan.objects.iter().map(|o| o.path()).collect();
    manifest_paths.sort();
    let kustomization = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": manifest_paths,
    });
    files
        .insert(KUSTOMIZATION.into(), format!("{header}{}", yaml::to_string(&kustomization).map_err(Error::Internal)?));

    if cfg!(debug_assertions) {
        for (rel, text) in &files {
            verify_file(rel, text)?;
        }
    }
    let lock = lock(r, plan, sources, &templates_used, &files);
    files.insert(LOCK_FILE.into(), lock.to_json());
    Ok(Rendered { env: r.name.clone(), files })
}

fn render_template(
    engine: &minijinja::Environment<'static>,
    name: &str,
    ctx: &minijinja::value::Value,
) -> Result<String, Error> {
    let tmpl = engine.get_template(name).map_err(|e| Error::Internal(format!("template {name}: {e:#}")))?;
    let text = tmpl.render(ctx).map_err(|e| Error::Internal(format!("template {name}: {e:#}")))?;
    let mut text = templates::finish(&text).map_err(|e| Error::Internal(format!("template {name}: {e}")))?;
    // LF endings and exactly one trailing newline.
    while text.ends_with("\n\n") {
        text.pop();
    }
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// Debug builds and tests parse every object back and check its identity; release builds rely
/// on the serializer filters (SPEC §9).
fn check_object(text: &str, obj: &plan::Object) -> Result<(), Error> {
    let v: Value = yaml::from_str(text, yaml::Budget::Render)
        .map_err(|e| Error::Internal(format!("template {} produced invalid YAML: {e}\n{text}", obj.template)))?;
    let ok = v["apiVersion"] == obj.api_version
        && v["kind"] == obj.kind
        && v["metadata"]["name"] == obj.name.as_str()
        && v["metadata"].get("namespace").and_then(Value::as_str) == obj.namespace.as_deref();
    if ok {
        Ok(())
    } else {
        Err(Error::Internal(format!("template {} rendered a different object than planned", obj.template)))
    }
}

/// Checks one generated file before it is written, as debug builds check every file of every
/// render: a YAML file is one mapping after kgen's header; a file the serializer writes whole
/// (values, kustomizations) reads back as exactly its text; an object (manifests, Argo CD, Flux)
/// has its `apiVersion`, `kind` and `metadata.name`, no key without a value (what a block placed
/// at the wrong depth leaves behind), and a manifest's path names the object it holds. Release
/// builds run it on the files a render writes (new or changed), so `--check` and unchanged
/// renders keep the cost of reading.
pub fn verify_file(rel: &str, text: &str) -> Result<(), Error> {
    if !rel.ends_with(".yaml") {
        return Ok(());
    }
    let fail = |why: String| Err(Error::Internal(format!("refusing to write `{rel}`: {why}")));
    let body = match text.split_once('\n') {
        Some((first, rest)) if first.starts_with("# ") => rest,
        _ => return fail("it does not start with kgen's header".into()),
    };
    let docs: Vec<Value> = match yaml::from_str_multi(body, yaml::Budget::Render) {
        Ok(d) => d,
        Err(e) => return fail(format!("it is not valid YAML: {e}")),
    };
    let [doc] = docs.as_slice() else { return fail(format!("it holds {} documents, not one", docs.len())) };
    if !doc.is_object() {
        return fail("it is not a mapping".into());
    }
    if rel.starts_with("values/") || rel.ends_with(KUSTOMIZATION) {
        let canonical = yaml::to_string(doc).map_err(Error::Internal)?;
        if canonical != body {
            return fail(format!("it does not read back as written:\n{body}\nreads as:\n{canonical}"));
        }
        return Ok(());
    }
    let identity = [&doc["apiVersion"], &doc["kind"], &doc["metadata"]["name"]];
    if !identity.iter().all(|v| v.as_str().is_some_and(|s| !s.is_empty())) {
        return fail("it lacks `apiVersion`, `kind` or `metadata.name`".into());
    }
    if let Some(at) = null_at(doc, "") {
        return fail(format!("`{at}` has no value"));
    }
    if let Some(line) = empty_block_scalar(body) {
        return fail(format!("line {line} starts a block scalar whose text is not indented under it"));
    }
    if let Some(path) = rel.strip_prefix("manifests/") {
        let ns = doc["metadata"]["namespace"].as_str().unwrap_or(plan::CLUSTER_SCOPE_FOLDER);
        let kind = doc["kind"].as_str().unwrap_or_default().to_ascii_lowercase();
        let name = doc["metadata"]["name"].as_str().unwrap_or_default();
        if path != format!("{ns}/{kind}-{name}.yaml") {
            return fail(format!("it holds {kind} `{name}` in `{ns}`"));
        }
    }
    Ok(())
}

/// The first line (1-based, in `body`) that opens a block scalar (`key: |`, `- >-`) without a
/// more indented line after it: the value's text went to the wrong depth and became YAML of its
/// own (issue 14, D1).
fn empty_block_scalar(body: &str) -> Option<usize> {
    let lines: Vec<&str> = body.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    lines.iter().enumerate().find_map(|(i, l)| {
        let t = l.trim_end();
        let header = t.rsplit_once(' ').map_or(t, |(_, h)| h);
        let opens = (t.ends_with(&format!(": {header}")) || t.trim_start() == format!("- {header}"))
            && header.starts_with(['|', '>'])
            && header[1..].chars().all(|c| matches!(c, '-' | '+' | '1'..='9'));
        let next = lines[i + 1..].iter().find(|l| !l.trim().is_empty());
        (opens && next.is_none_or(|n| indent(n) <= indent(l))).then_some(i + 1)
    })
}

/// The first key path with a null value: templates never mean one.
fn null_at(v: &Value, at: &str) -> Option<String> {
    match v {
        Value::Null => Some(at.to_string()),
        Value::Object(m) => m.iter().find_map(|(k, v)| null_at(v, &format!("{at}/{k}"))),
        Value::Array(a) => a.iter().enumerate().find_map(|(i, v)| null_at(v, &format!("{at}/{i}"))),
        _ => None,
    }
}

/// The first line of every generated YAML file. It names the environment file, not the layer
/// chain: moving a setting between layers must change no rendered file whose meaning stays
/// (`kgen.lock.json` records the chain).
fn header(r: &Resolved) -> String {
    format!(
        "# Generated by kgen from {} and the layers kgen.lock.json lists. Do not edit: change the environment and run `kgen render {}`.\n",
        templates::comment(r.env_file()),
        templates::comment(&r.name)
    )
}

/// The data every template sees.
fn context(r: &Resolved, plan: &plan::Plan) -> Value {
    let cat = crate::catalog::get();
    let mesh_ns = &r.env.mesh.namespace;
    // The gateway chart derives the `istio:` selector label from the release name.
    let gateway_release = "istio-ingressgateway";
    let selector_label = gateway_release.trim_start_matches("istio-");
    let openshift_key = r.pin("istio").and_then(|v| cat.istio_openshift_key(v));
    json!({
        "name": r.name,
        "env": r.effective_value(),
        "knative_mode": r.knative_mode(),
        // What carries Knative's traffic (`istio`), decided once at resolve; null without Knative.
        "knative_networking": r.knative_networking.map(crate::config::resolve::KnativeNetworking::as_str),
        "openshift": r.env.cluster.platform == crate::config::model::Platform::Openshift,
        // The LLMInferenceService stack and LocalModel, where installed (`llm`, `localModel`).
        "llm": r.llm_installed(),
        "aiGatewayNamespace": cat.charts["envoy-ai-gateway"].namespace,
        "local_model": r.local_model_installed(),
        "kserve": {
            "version": r.release.version,
            "mode": r.mode_name(),
            "chart": r.release.kserve_chart,
            "runtimeConfigsChart": r.release.runtime_configs_chart,
            "gatewayApiIngress": r.release.gateway_api_ingress,
            "modes": cat.modes(r.release),
        },
        "pins": r.pins,
        "ns": plan.namespaces,
        "gateways": {
            "release": gateway_release,
            "selector": {"istio": selector_label},
            "ingressService": format!("{gateway_release}.{mesh_ns}.svc.cluster.local"),
            "localService": format!("knative-local-gateway.{mesh_ns}.svc.cluster.local"),
            "className": r.ingress_class(),
            "enableGatewayApi": r.gateway_api_ingress(),
            "kserveGatewayName": "kserve-ingress-gateway",
            // The OpenShift profile's key, where the gateway chart's closed schema has it
            // (catalog, rule KG308): 1.20.4 and 1.23.2 reject `profile`.
            "openshiftKey": openshift_key.filter(|key| {
                r.pin("istio").and_then(|v| cat.istio_gateway_keys(v)).is_some_and(|k| k.iter().any(|k| k == key))
            }),
        },
        // `profile` or (Istio 1.24+) `platform`: what selects the OpenShift profile.
        "istio": {"openshiftKey": openshift_key},
        "knative_typed_config": knative_typed_config(r),
        // The upstream Knative operator's `knative-ingress-gateway` servers when the gateway
        // serves the TLS Secret (the KnativeServing CRD's `spec.ingress.istio.knative-ingress-
        // gateway.servers`, which replace net-istio's HTTP-only server); null otherwise.
        "knative_ingress_servers": r.tls_secret_namespace().filter(|_| r.knative_mode()).and(r.env.kserve.tls_secret_name.as_ref()).map(|secret| json!([
            {"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]},
            {"port": {"number": 443, "name": "https", "protocol": "HTTPS"}, "hosts": ["*"], "tls": {"mode": "SIMPLE", "credentialName": secret}},
        ])),
    })
}

/// What the typed `knative.features` and `knative.progressDeadline` write into
/// `KnativeServing.spec.config`, by ConfigMap (the catalog names each key). The template merges
/// it over `knative.config`, so a typed field wins where rule KG411 is ignored.
pub fn knative_typed_config(r: &Resolved) -> Value {
    let keys = &crate::catalog::get().rule_facts.knative_config_keys;
    let mut config = serde_json::Map::new();
    let features: serde_json::Map<String, Value> = r
        .env
        .knative
        .features
        .set()
        .into_iter()
        .filter_map(|(field, on)| {
            let flag = keys.features.get(&field)?;
            Some((flag.clone(), json!(if on { "enabled" } else { "disabled" })))
        })
        .collect();
    if !features.is_empty() {
        config.insert("features".into(), Value::Object(features));
    }
    if let (Some(d), Some(key)) = (&r.env.knative.progress_deadline, keys.progress_deadline.first()) {
        config.insert("deployment".into(), json!({ key: d }));
    }
    Value::Object(config)
}

/// The index: what was rendered from what, and the digest of every file (SPEC §5).
///
/// `inputs.digest` is the sha256 over, in order: each environment file of the chain (its
/// display path, NUL, its text, NUL); the catalog entries the plan used
/// ([`plan::Plan::catalog_inputs`], as compact JSON); each template the render used, in name
/// order (its name, NUL, its text). So it changes when this environment's inputs do, and not
/// when kgen learns a release or chart this environment does not use.
fn lock(
    r: &Resolved,
    plan: &plan::Plan,
    sources: &BTreeMap<String, String>,
    templates_used: &BTreeSet<&str>,
    files: &BTreeMap<String, String>,
) -> Lock {
    let mut h = Sha256::new();
    for f in &r.files {
        h.update(f.as_bytes());
        h.update([0]);
        h.update(sources.get(f).map(String::as_bytes).unwrap_or_default());
        h.update([0]);
    }
    h.update(plan.catalog_inputs().as_bytes());
    for (name, text) in templates::sources() {
        if templates_used.contains(name.trim_end_matches(".j2")) {
            h.update(name.as_bytes());
            h.update([0]);
            h.update(text.as_bytes());
        }
    }
    let mut lock = Lock {
        format: lock::FORMAT,
        kgen_version: env!("CARGO_PKG_VERSION").to_string(),
        environment: r.name.clone(),
        inputs: lock::Inputs { digest: sha256(&h.finalize()), files: r.files.clone() },
        kserve: lock::Kserve {
            version: r.release.version.clone(),
            deployment_mode: r.mode_name().to_string(),
            model_namespaces: r.env.kserve.model_namespaces.iter().map(|n| n.0.clone()).collect(),
        },
        mesh: lock::Mesh { provider: r.env.mesh.provider },
        gitops: lock::Gitops { engine: r.env.gitops.engine, hydrate: r.env.gitops.hydrate },
        versions: plan.versions().into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        releases: plan
            .releases
            .iter()
            .map(|x| lock::Release {
                name: x.name.clone(),
                chart: x.chart.clone(),
                repo: x.repo.clone(),
                version: x.version.clone(),
                namespace: x.namespace.clone(),
                hydration: None,
            })
            .collect(),
        crd_sources: plan
            .crd_sources
            .iter()
            .map(|x| lock::CrdSource {
                name: x.name.clone(),
                repo: x.repo.clone(),
                path: x.path.clone(),
                tag: x.tag.clone(),
            })
            .collect(),
        order: plan
            .graph
            .iter()
            .map(|n| lock::Node { id: n.id.clone(), needs: n.needs.clone(), wave: n.wave })
            .collect(),
        files: files.iter().map(|(k, v)| (k.clone(), sha256(v.as_bytes()))).collect(),
    };
    if r.env.gitops.hydrate {
        // What `kgen hydrate --write` must render each release from: the inputs its runs are
        // made of (crate::hydrate::jobs uses the same function), so `render --check` compares
        // like with like.
        for rel in &mut lock.releases {
            let values = files.get(&format!("values/{}.yaml", rel.name)).map_or("", String::as_str);
            rel.hydration =
                Some(hydration_inputs(&rel.name, &rel.version, values, Some(&r.env.cluster.kubernetes_version)));
        }
    }
    lock
}
