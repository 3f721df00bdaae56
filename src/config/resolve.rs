//! From a name to a checked, typed environment: follow `extends`, merge, check the merged result
//! against the full schema (required fields), deserialize, resolve catalog pins, run the rules.

use std::collections::BTreeMap;

use serde_json::Value;

use super::load::{SourceFile, Workspace, is_valid_stem};
use super::merge::{Origin, Provenance, merge_chain};
use super::model::{Environment, GatewayImplementation, IngressFlavour, MeshProvider, Platform};
use super::schema;
use super::validate::{did_you_mean, key_path, schema_diagnostics};
use crate::catalog::{self, Release};
use crate::diag::Diagnostic;
use crate::rule_code::RuleCode;
use crate::version::Version;

/// Where an effective pin comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PinSource {
    /// The catalog pin of the KServe release.
    Catalog,
    /// `versions.*` in an environment file.
    Override,
}

/// A merged, schema-valid, typed environment with its catalog facts resolved.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Environment name (file stem).
    pub name: String,
    /// The typed, merged configuration.
    pub env: Environment,
    /// The merged document as read (before defaults), for `kgen explain`.
    pub merged: Value,
    /// Where every value was set.
    pub provenance: Provenance,
    /// Display paths of the files merged, root layer first.
    pub files: Vec<String>,
    /// The KServe release.
    pub release: &'static Release,
    /// Effective component versions by pin name.
    pub pins: BTreeMap<String, String>,
    /// Where each pin comes from.
    pub pin_sources: BTreeMap<String, PinSource>,
    /// Values kgen derived because no file set them (JSON pointer → how), already filled into
    /// `env`: every consumer reads one value, and `kgen explain` says where it came from.
    pub derived: BTreeMap<String, String>,
    /// What carries Knative's traffic, decided once here ([`KnativeNetworking::of`]); `None`
    /// outside Knative mode, or when nothing can (KG401).
    pub knative_networking: Option<KnativeNetworking>,
}

/// The networking layer of Knative Serving (`KnativeServing.spec.ingress`). It is its own
/// concept, not the mesh provider: the mesh only decides which Istio serves it. kgen supports
/// net-istio only (Kourier and Contour are not rendered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnativeNetworking {
    /// net-istio: Knative's ingress and local gateways on the mesh's Istio ingress gateway pods.
    Istio,
}

impl KnativeNetworking {
    /// The `spec.ingress` key of the layer in a `KnativeServing`.
    pub fn as_str(self) -> &'static str {
        match self {
            KnativeNetworking::Istio => "istio",
        }
    }

    /// The layer of an environment: in Knative mode, the one its mesh provider can serve.
    pub fn of(env: &Environment) -> Option<KnativeNetworking> {
        if !env.kserve.deployment_mode.is_knative() {
            return None;
        }
        match env.mesh.provider {
            MeshProvider::Istio | MeshProvider::Ossm2 | MeshProvider::Ossm3 => Some(KnativeNetworking::Istio),
            MeshProvider::None => None,
        }
    }
}

impl Resolved {
    /// Whether InferenceServices default to Knative mode.
    pub fn knative_mode(&self) -> bool {
        self.env.kserve.deployment_mode.is_knative()
    }

    /// Whether the LLMInferenceService stack is installed: asked for, and shipped by the release
    /// beside the kserve chart (from v0.17.0, `createSharedResources`; rule KG417 refuses the rest).
    pub fn llm_installed(&self) -> bool {
        self.env.llm.enabled && self.release.llmisvc_charts && self.release.create_shared_resources
    }

    /// Whether the LocalModel charts are installed: asked for and shipped by the release (rule
    /// KG420 refuses the rest).
    pub fn local_model_installed(&self) -> bool {
        self.env.local_model.enabled && self.release.local_model_charts
    }

    /// Whether `kserve-runtime-configs` is installed: the release ships it, and it has the
    /// ClusterServingRuntimes (`kserve.installRuntimes`) or the LLMInferenceServiceConfig presets
    /// (`llm`) to install.
    pub fn runtime_configs_installed(&self) -> bool {
        self.release.runtime_configs_chart && (self.env.kserve.install_runtimes || self.llm_installed())
    }

    /// Whether Standard mode routes through Gateway API (`HTTPRoute`s on the
    /// `kserve-ingress-gateway` Gateway) rather than Ingress objects.
    pub fn gateway_api_ingress(&self) -> bool {
        !self.knative_mode() && self.env.kserve.ingress == IngressFlavour::GatewayApi
    }

    /// The namespace of the ingress gateway's TLS Secret, when a listener kgen configures serves
    /// `kserve.tlsSecretName`: the Gateway API Gateway's (the KServe namespace) in Standard mode
    /// with `ingress: gatewayApi`; the Istio ingress gateway pods' (the mesh namespace), which
    /// read a Gateway's `credentialName`, in Knative mode on Istio. `None`: nothing kgen renders
    /// terminates TLS (Standard mode with Ingress objects, or no Secret named).
    pub fn tls_secret_namespace(&self) -> Option<&str> {
        self.env.kserve.tls_secret_name.as_ref()?;
        if self.gateway_api_ingress() {
            Some(&self.env.kserve.namespace)
        } else if self.knative_networking == Some(KnativeNetworking::Istio) {
            Some(&self.env.mesh.namespace)
        } else {
            None
        }
    }

    /// The class KServe's ingress objects use: the GatewayClass of the implementation with
    /// Gateway API, else the IngressClass.
    pub fn ingress_class(&self) -> &str {
        if !self.gateway_api_ingress() {
            return &self.env.kserve.ingress_class_name;
        }
        match self.env.gateway_api.implementation {
            GatewayImplementation::Envoy => "envoy",
            GatewayImplementation::Istio => "istio",
        }
    }

    /// The deployment-mode name the pinned release understands.
    pub fn mode_name(&self) -> &'static str {
        let names = catalog::get().modes(self.release);
        if self.knative_mode() { names.knative.as_str() } else { names.standard.as_str() }
    }

    /// The effective configuration: merged layers, defaults applied, the KServe version
    /// resolved, `extends` consumed.
    pub fn effective_value(&self) -> Value {
        let mut env = self.env.clone();
        env.extends = None;
        env.kserve.version = Some(self.release.version.clone());
        serde_json::to_value(&env).expect("the model serialises")
    }

    /// A pin, if the release (or an override) has it.
    pub fn pin(&self, name: &str) -> Option<&str> {
        self.pins.get(name).map(String::as_str)
    }

    /// The env file itself (last in the chain).
    pub fn env_file(&self) -> &str {
        self.files.last().map(String::as_str).unwrap_or_default()
    }

    /// Origin of a pointer or its nearest ancestor; `None` when it is a default.
    pub fn origin(&self, pointer: &str) -> Option<&Origin> {
        self.provenance.lookup(pointer)
    }

    /// A diagnostic located at the first of `pointers` that a file sets explicitly (a default
    /// has no line of its own), else as [`Resolved::diag_at`] for the first.
    pub fn diag_at_any(&self, d: Diagnostic, pointers: &[&str]) -> Diagnostic {
        let chosen = pointers.iter().find(|p| self.provenance.exact(p).is_some()).unwrap_or(&pointers[0]);
        self.diag_at(d, chosen)
    }

    /// A diagnostic located at the value of `pointer` (or where it would go).
    pub fn diag_at(&self, d: Diagnostic, pointer: &str) -> Diagnostic {
        let (file, loc) = match self.provenance.lookup(pointer) {
            Some(o) => (o.file.clone(), Some((o.line, o.col))),
            None => (self.env_file().to_string(), Some((1, 1))),
        };
        d.in_file(file).at(loc).key(key_path(pointer))
    }
}

/// The result of checking one environment: the resolved environment when it has no errors, and
/// every diagnostic (errors and warnings) found on the way.
#[derive(Debug)]
pub struct Checked {
    /// Present unless an error was found.
    pub resolved: Option<Resolved>,
    /// Problems of the merged environment (single-file problems are in the workspace).
    pub diagnostics: Vec<Diagnostic>,
}

/// Follows `extends` from `name`: the chain of files, root layer first, or the diagnostics that
/// stop it (none when a file of the chain is broken: it carries its own diagnostics).
pub fn chain<'a>(ws: &'a Workspace, name: &str) -> Result<Vec<&'a SourceFile>, Vec<Diagnostic>> {
    let mut chain: Vec<&SourceFile> = Vec::new();
    let mut current = name.to_string();
    loop {
        let Some(file) = ws.files.get(&current) else {
            return Err(vec![]);
        };
        if let Some(start) = chain.iter().position(|f| f.name == current) {
            // Report the loop itself, rotated to its smallest name, so the same cycle found from
            // different files is one diagnostic.
            let mut members: Vec<&SourceFile> = chain[start..].to_vec();
            let first = members.iter().enumerate().min_by_key(|(_, f)| &f.name).map_or(0, |(i, _)| i);
            members.rotate_left(first);
            let closing = *members.last().expect("a cycle has members");
            let mut names: Vec<&str> = members.iter().map(|f| f.name.as_str()).collect();
            names.push(members[0].name.as_str());
            let mut message = format!("forms a cycle: {}", names.join(" → "));
            if start > 0 {
                message.push_str(&format!(" (reached from `{}`)", chain[0].name));
            }
            return Err(vec![
                Diagnostic::error(RuleCode::KG113, message)
                    .in_file(&closing.path)
                    .at(closing.position_of("/extends"))
                    .key("extends")
                    .label("closes the cycle")
                    .hint("a layer cannot extend, directly or indirectly, a file that extends it"),
            ]);
        }
        chain.push(file);
        let Some(parent) = file.value.get("extends").and_then(Value::as_str) else {
            break;
        };
        if !ws.files.contains_key(parent) {
            if ws.broken.contains_key(parent) {
                return Err(vec![]);
            }
            let layers: Vec<&str> = ws.all_names().into_iter().filter(|n| n.starts_with('_')).collect();
            let mut d = Diagnostic::error(
                RuleCode::KG112,
                format!("`extends: {parent}` names no file `environments/{parent}.yaml`"),
            )
            .in_file(&file.path)
            .at(file.position_of("/extends"))
            .key("extends")
            .label("no such layer");
            d = match did_you_mean(parent, layers.iter().copied()) {
                Some(s) => d.hint(format!("did you mean `{s}`?")),
                None if layers.is_empty() => d.hint("there are no layer files (`_name.yaml`) in environments/"),
                None => d.hint(format!("layers: {}", layers.join(", "))),
            };
            return Err(vec![d]);
        }
        current = parent.to_string();
    }
    chain.reverse();
    Ok(chain)
}

/// Checks a layer's own `extends` chain (cycles, missing parents), for layers that no
/// environment extends.
pub fn check_layer(ws: &Workspace, name: &str) -> Vec<Diagnostic> {
    chain(ws, name).err().unwrap_or_default()
}

/// Checks one environment by name.
pub fn check(ws: &Workspace, name: &str) -> Checked {
    let fail = |d: Vec<Diagnostic>| Checked { resolved: None, diagnostics: d };
    if name.starts_with('_') || !is_valid_stem(name) {
        let mut d = Diagnostic::error(RuleCode::KG111, format!("invalid environment name `{name}`"))
            .hint("names are lower-case letters, digits and `-`; layers (`_name`) are not rendered");
        if name.starts_with('_') && is_valid_stem(name) {
            d = d.hint(format!("`{name}` is a layer; it is checked through the environments that extend it"));
        }
        return fail(vec![d]);
    }
    if !ws.files.contains_key(name) && !ws.broken.contains_key(name) {
        let names = ws.environment_names();
        let mut d = Diagnostic::error(RuleCode::KG115, format!("unknown environment `{name}`"));
        d = match did_you_mean(name, names.iter().map(String::as_str)) {
            Some(s) => d.hint(format!("did you mean `{s}`?")),
            None => d.hint(format!("environments: {}", names.join(", "))),
        };
        return fail(vec![d]);
    }
    let chain = match chain(ws, name) {
        Ok(c) => c,
        // A file of the chain has its own problems (reported with it): the fields the merged
        // environment lacks are reported in the same run, so one round fixes everything.
        Err(d) if d.is_empty() => return fail(salvaged_required(ws, name)),
        Err(d) => return fail(d),
    };
    let diags = required_diagnostics(name, &chain);
    if !diags.is_empty() {
        return fail(diags);
    }
    let (merged, provenance) = merge_chain(&chain);
    let files = chain.iter().map(|f| f.path.clone()).collect();
    match typed(name, merged, provenance, files) {
        Err(d) => fail(d),
        Ok(resolved) => Checked { resolved: Some(resolved), diagnostics: Vec::new() },
    }
}

/// The required fields an environment whose chain holds a file with its own problems lacks,
/// read from the files as they parse (schema errors aside). Nothing when a file does not parse
/// or the chain cannot be followed (those are reported on their own).
fn salvaged_required(ws: &Workspace, name: &str) -> Vec<Diagnostic> {
    let mut owned: Vec<SourceFile> = Vec::new();
    let mut current = name.to_string();
    for _ in 0..64 {
        let file = match ws.files.get(&current) {
            Some(f) => f.clone(),
            None => {
                let path = format!("{}/{current}.yaml", crate::config::load::ENV_DIR);
                let Some(text) = ws.sources.get(&path) else { return vec![] };
                let Ok(value) = crate::yaml::from_str::<Value>(text, crate::yaml::Budget::EnvironmentFile) else {
                    return vec![];
                };
                if !value.is_object() {
                    return vec![];
                }
                SourceFile { name: current.clone(), path, positions: crate::yaml::pointer_map(text), value }
            }
        };
        let parent = file.value.get("extends").and_then(Value::as_str).map(str::to_string);
        owned.push(file);
        match parent {
            Some(p) if !owned.iter().any(|f| f.name == p) => current = p,
            Some(_) => return vec![],
            None => {
                owned.reverse();
                let chain: Vec<&SourceFile> = owned.iter().collect();
                // An unknown key beside a missing field is most likely that field misspelt
                // (`deploymentMdoe`): one mistake, reported once, by the unknown key.
                let parent = |k: &str| k.rsplit_once('.').map_or(String::new(), |(p, _)| p.to_string());
                let misspelt: Vec<String> = ws
                    .diagnostics
                    .iter()
                    .filter(|d| d.code == RuleCode::KG103)
                    .filter(|d| owned.iter().any(|f| d.file.as_deref() == Some(f.path.as_str())))
                    .filter_map(|d| d.key_path.as_deref().map(parent))
                    .collect();
                return required_diagnostics(name, &chain)
                    .into_iter()
                    .filter(|d| d.code == RuleCode::KG107)
                    .filter(|d| !misspelt.contains(&parent(d.key_path.as_deref().unwrap_or_default())))
                    .collect();
            }
        }
    }
    vec![]
}

/// Pass 1 on the merged document of a chain: only what single files could not know (required
/// fields), each pointed into the environment's own file.
fn required_diagnostics(name: &str, chain: &[&SourceFile]) -> Vec<Diagnostic> {
    let (merged, provenance) = merge_chain(chain);
    let env_path = chain.last().expect("chain has the environment").path.clone();
    let mut diags = merged_schema_diagnostics(&merged, &provenance, &env_path);
    let env_file = chain.last().expect("chain has the environment");
    let layers: Vec<&str> = chain[..chain.len() - 1].iter().map(|f| f.path.as_str()).collect();
    for d in &mut diags {
        // A missing field belongs to the environment: point into its own file (at the mapping
        // that lacks it, or the nearest one the file has) and name where it may be set.
        let field = d.key_path.clone().unwrap_or_default();
        let parent = pointer_of(&field);
        let parent = &parent[..parent.rfind('/').unwrap_or(0)];
        d.file = Some(env_path.clone());
        d.location = env_file.position_of(parent);
        d.message = format!("missing required field (environment `{name}`)");
        d.hint = Some(if layers.is_empty() {
            format!("set `{field}` in {env_path}")
        } else {
            format!("set `{field}` in {env_path} or in a layer it extends ({})", layers.join(", "))
        });
    }
    diags
}

/// Resolves a document that is already merged, as [`check`] does after merging: the full
/// schema, the typed model, the catalog. `kgen explain` resolves changed copies of an
/// environment's merged document this way (through the pipeline) to see which rendered files a
/// value reaches; the diagnostics are located through `provenance`, not relocated into the
/// environment file. `Err` when the document cannot be resolved.
pub fn resolve_merged(
    name: &str,
    merged: Value,
    provenance: Provenance,
    files: Vec<String>,
) -> Result<Resolved, Vec<Diagnostic>> {
    let env_path = files.last().cloned().unwrap_or_default();
    let diags = merged_schema_diagnostics(&merged, &provenance, &env_path);
    if !diags.is_empty() {
        return Err(diags);
    }
    typed(name, merged, provenance, files)
}

/// The full schema over a merged document, located through its provenance.
fn merged_schema_diagnostics(merged: &Value, provenance: &Provenance, env_path: &str) -> Vec<Diagnostic> {
    let locate = |p: &str| provenance.lookup(p).map(|o| (o.line, o.col));
    schema_diagnostics(merged, schema::environment_schema(), &locate, env_path)
}

/// From a schema-valid merged document to a resolved environment: the typed model, the KServe
/// release and its pins. `files` are the display paths of the chain, root layer first. No
/// rule runs here: the pipeline judges what resolve produced.
fn typed(name: &str, merged: Value, provenance: Provenance, files: Vec<String>) -> Result<Resolved, Vec<Diagnostic>> {
    let fail = Err;
    let env_path = files.last().cloned().unwrap_or_default();
    let env: Environment = match serde_json::from_value(merged.clone()) {
        Ok(e) => e,
        Err(e) => {
            return fail(vec![
                Diagnostic::error(RuleCode::KG104, format!("invalid environment: {e}")).in_file(&env_path),
            ]);
        }
    };
    let cat = catalog::get();
    let version = env.kserve.version.clone().unwrap_or_else(|| cat.newest().version.clone());
    let Some(release) = cat.release(&version) else {
        let known = cat.release_versions();
        let mut d = Diagnostic::error(RuleCode::KG201, format!("unknown KServe version `{version}`"))
            .label("not in kgen's catalog");
        let newest = &cat.newest().version;
        let beyond = Version::parse(&version).zip(Version::parse(newest)).is_some_and(|(v, n)| v > n);
        d = match did_you_mean(&version, known.iter().copied()) {
            // A release newer than the catalog is not a typo: this kgen predates it.
            _ if beyond => d.hint(format!(
                "kgen's catalog ends at KServe {newest}, its newest release: upgrade kgen to render {version} (known releases: {}; `kgen versions`)",
                known.join(", ")
            )),
            Some(s) => d.hint(format!("did you mean `{s}`? known releases: {}", known.join(", "))),
            None => d.hint(format!("known releases: {} (`kgen versions`)", known.join(", "))),
        };
        let d = match provenance.lookup("/kserve/version") {
            Some(o) => d.in_file(&o.file).at(Some((o.line, o.col))).key("kserve.version"),
            None => d.in_file(&env_path),
        };
        return fail(vec![d]);
    };
    let mut pins = release.pins.clone();
    let mut pin_sources: BTreeMap<String, PinSource> = pins.keys().map(|k| (k.clone(), PinSource::Catalog)).collect();
    for (k, v) in env.versions.overrides() {
        pins.insert(k.to_string(), v.to_string());
        pin_sources.insert(k.to_string(), PinSource::Override);
    }
    let mut env = env;
    let derived = derive_defaults(name, release, &merged, &mut env);
    let knative_networking = KnativeNetworking::of(&env);
    let resolved = Resolved {
        name: name.to_string(),
        env,
        merged,
        provenance,
        files,
        release,
        pins,
        pin_sources,
        derived,
        knative_networking,
    };
    Ok(resolved)
}

/// Fills in the values whose default depends on other values (the environment's name, the
/// engine, the platform), and says how each was decided. Only what this environment uses is
/// filled: OLM settings on OpenShift, the Argo CD destination with Argo CD.
fn derive_defaults(name: &str, release: &Release, merged: &Value, env: &mut Environment) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    // OpenShift 4.19+ (Kubernetes 1.32+) installs and owns the Gateway API CRDs (its Ingress
    // Operator): kgen does not install them there unless a file says so (rule KG212 then).
    let gateway_api_ingress =
        !env.kserve.deployment_mode.is_knative() && env.kserve.ingress == IngressFlavour::GatewayApi;
    if env.cluster.platform == Platform::Openshift
        && gateway_api_ingress
        && merged.pointer("/gatewayApi/installCrds").is_none()
        && catalog::get().openshift_manages_gateway_api_crds(&env.cluster.kubernetes_version)
    {
        let from = &catalog::get().openshift_platform.gateway_api_crds_managed_from.openshift;
        env.gateway_api.install_crds = false;
        out.insert(
            "/gatewayApi/installCrds".into(),
            format!(
                "OpenShift {from}+ (Kubernetes {}) manages the Gateway API CRDs itself (kgen's catalog: openshiftPlatform.gatewayApiCrdsManagedFrom)",
                env.cluster.kubernetes_version
            ),
        );
    }
    let mut fill = |slot: &mut Option<String>, pointer: &str, value: &str, how: &str| {
        if slot.is_none() {
            *slot = Some(value.to_string());
            out.insert(pointer.to_string(), how.to_string());
        }
    };
    fill(&mut env.cluster.name, "/cluster/name", name, "the environment's name");
    if env.tls.issuer.is_some() {
        let secret = crate::config::model::defaults::tls_secret_name();
        fill(
            &mut env.kserve.tls_secret_name,
            "/kserve/tlsSecretName",
            &secret,
            "the Secret tls.issuer's Certificate writes",
        );
    }
    if env.cluster.platform == Platform::Kubernetes && env.kserve.deployment_mode.is_knative() {
        let how = format!("kgen's catalog (where KServe {}'s install script puts the operator)", release.version);
        let ns = &release.knative_operator_namespace;
        fill(&mut env.knative.operator_namespace, "/knative/operatorNamespace", ns, &how);
    }
    // The GitOps engine's defaults are its module's knowledge, a layer up: the pipeline fills
    // them in (`render::gitops::derive_defaults`) before anything reads them.
    if env.cluster.platform == Platform::Openshift {
        let os = &catalog::get().openshift;
        let olm = &mut env.olm;
        fill(&mut olm.source, "/olm/source", &os.catalog_source, "kgen's catalog (openshift.catalogSource)");
        let how = "kgen's catalog (openshift.catalogSourceNamespace)";
        fill(&mut olm.source_namespace, "/olm/sourceNamespace", &os.catalog_source_namespace, how);
        if olm.install_plan_approval.is_none() {
            let approval = Value::String(os.install_plan_approval.clone());
            olm.install_plan_approval =
                Some(serde_json::from_value(approval).expect("the catalog's approval is Automatic or Manual"));
            out.insert("/olm/installPlanApproval".into(), "kgen's catalog (openshift.installPlanApproval)".into());
        }
        let mesh_role = match env.mesh.provider {
            MeshProvider::Ossm2 => Some("ossm2"),
            MeshProvider::Ossm3 => Some("ossm3"),
            // Upstream Istio comes from Helm charts, not OLM.
            MeshProvider::Istio | MeshProvider::None => None,
        };
        let mut channel = |slot: &mut Option<String>, pointer: &str, role: &str| {
            let how = format!("kgen's catalog (openshift.operators.{role}.channel)");
            if slot.is_none() {
                *slot = Some(os.operators[role].channel.clone());
                out.insert(pointer.to_string(), how);
            }
        };
        if let Some(role) = mesh_role {
            channel(&mut olm.channels.service_mesh, "/olm/channels/serviceMesh", role);
        }
        if env.kserve.deployment_mode.is_knative() {
            channel(&mut olm.channels.serverless, "/olm/channels/serverless", "serverless");
        }
        if env.cert_manager.install {
            channel(&mut olm.channels.cert_manager, "/olm/channels/certManager", "certManager");
        }
    }
    out
}

/// The inverse of [`key_path`] for the paths of required fields (`ignore[0].reason` →
/// `/ignore/0/reason`).
fn pointer_of(key_path: &str) -> String {
    if key_path.is_empty() {
        return String::new();
    }
    key_path
        .replace('[', ".")
        .replace(']', "")
        .split('.')
        .map(|s| format!("/{}", crate::yaml::escape_pointer(s)))
        .collect()
}
