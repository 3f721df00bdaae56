//! The embedded version catalog (SPEC §4): KServe releases, their dependency pins, chart names
//! and locations, mode vocabulary, Istio values layout and minimum Kubernetes. The facts are
//! data in `catalog/catalog.yaml`; this module only gives them types and answers questions.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::version::Version;
use crate::yaml;

/// Pin name of the Knative operator (its minimum and bundled Servings are in `knativeOperators`).
pub const KNATIVE_OPERATOR: &str = "knativeOperator";
/// Pin name of Knative Serving (`KnativeServing.spec.version`).
pub const KNATIVE_SERVING: &str = "knativeServing";

/// The catalog source, embedded at build time.
pub const CATALOG_YAML: &str = include_str!("../catalog/catalog.yaml");

/// The whole catalog.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Catalog {
    /// Chart releases by stable release name.
    pub charts: IndexMap<String, Chart>,
    /// CRD bundles referenced from Git at a pinned tag.
    pub crd_sources: IndexMap<String, CrdSource>,
    /// How each chart release behaves over its lifecycle (CRDs, webhooks, timeouts, fields
    /// controllers own), by release name.
    pub lifecycle: IndexMap<String, Lifecycle>,
    /// Chart versions whose values schema rejects valid values.
    pub broken_values_schemas: Vec<BrokenSchema>,
    /// Deployment-mode names by vocabulary.
    pub mode_vocabularies: BTreeMap<String, ModeNames>,
    /// Istio values layout by Istio minor.
    pub istio_values_layouts: Vec<IstioLayout>,
    /// Component minimum Kubernetes versions by component version.
    pub kubernetes_minimums: BTreeMap<String, Vec<KubeMinimum>>,
    /// Knative operator releases, oldest first: Kubernetes minimum and bundled Serving versions.
    pub knative_operators: Vec<KnativeOperator>,
    /// The Gateway API release each Envoy Gateway minor is built against.
    pub envoy_gateway_gateway_api: Vec<EnvoyGatewayApi>,
    /// OpenShift as a Kubernetes version, and what OpenShift manages itself.
    pub openshift_platform: OpenShiftPlatform,
    /// How messages name each pinned component.
    pub component_names: BTreeMap<String, String>,
    /// OpenShift operators from OLM.
    pub openshift: OpenShift,
    /// How far each component may move in one render (see [`UpgradePolicy`]).
    pub upgrade_policies: IndexMap<String, UpgradePolicy>,
    /// Versions `kgen upgrade` may propose between two pins, by component.
    pub stepping_stones: BTreeMap<String, SteppingStones>,
    /// Facts the rules check.
    pub rule_facts: RuleFacts,
    /// KServe releases, oldest first.
    pub releases: Vec<Release>,
    /// What `install.sh` waits for instead of `helm --wait` where that would wait for
    /// something the next step does not need (a LoadBalancer address).
    pub install_readiness: InstallReadiness,
    /// Values a chart version ignores while another value wins (rule KG312).
    pub ignored_values: Vec<IgnoredValues>,
    /// Helm release record sizes by chart version (rules KG610, KG611).
    pub helm_release_records: HelmReleaseRecords,
    /// Charts whose templates `lookup` the cluster to leave out an object another release owns,
    /// by release: the CRD source (of `crdSources`) Argo CD applies instead.
    #[serde(default)]
    pub lookup_replacements: BTreeMap<String, String>,
    /// Fixed UIDs of chart versions, which OpenShift's restricted-v2 SCC rejects (rule KG507).
    pub openshift_fixed_uids: Vec<FixedUids>,
}

/// Facts the rules of `catalog/rules.yaml` check (each sourced in the catalog file).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuleFacts {
    /// Top-level keys the Istio gateway chart's closed values schema allows, by Istio minor.
    pub istio_gateway_values_keys: Vec<GatewayKeys>,
    /// The oldest Istio the Sail operator installs.
    pub sail_oldest_istio: String,
    /// First Gateway API release whose install denies older CRDs afterwards.
    pub gateway_api_safe_upgrades_from: String,
    /// Leading `v` of versions where they are written.
    pub version_prefixes: VersionPrefixes,
    /// API version of each GitOps kind.
    pub gitops_api_versions: BTreeMap<String, String>,
    /// What net-istio creates.
    pub net_istio: NetIstio,
    /// The ingress gateway OSSM 2 deploys.
    pub ossm2_ingress_gateway: GatewayPods,
    /// Providers of each CRD API group.
    pub crd_providers: BTreeMap<String, Vec<String>>,
    /// One CRD per API group that an OLM package provides, for install.sh to wait on.
    pub olm_crd_probes: BTreeMap<String, String>,
    /// API groups each chart release needs before it is installed.
    pub chart_needs: BTreeMap<String, Vec<String>>,
    /// Keys of maps whose values must be strings.
    pub string_maps: Vec<String>,
    /// The Knative ConfigMap keys of the typed `knative.features` and `knative.progressDeadline`.
    pub knative_config_keys: KnativeConfigKeys,
}

/// Which Knative Serving ConfigMap keys the typed Knative settings write.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KnativeConfigKeys {
    /// `config-features` flag by `knative.features` field name.
    pub features: IndexMap<String, String>,
    /// `config-deployment` keys of the progress deadline: the one written first, then any
    /// other name Knative reads it under.
    pub progress_deadline: Vec<String>,
}

/// The gateway chart's allowed top-level values keys from an Istio minor on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GatewayKeys {
    /// First Istio minor with this list.
    pub from: String,
    /// The allowed keys.
    pub keys: Vec<String>,
}

/// Leading `v` of versions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VersionPrefixes {
    /// By chart release name.
    pub charts: BTreeMap<String, String>,
    /// Sail `Istio` / `IstioCNI` versions.
    pub sail: String,
    /// `KnativeServing.spec.version`.
    pub knative_serving: String,
}

/// What net-istio creates for Knative with upstream Istio.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NetIstio {
    /// Name of the local gateway Service.
    pub local_gateway_service: String,
    /// Its namespace (fixed in net-istio's manifests).
    pub service_namespace: String,
    /// Labels its Gateways and Service select.
    pub selector: BTreeMap<String, String>,
}

/// A gateway Deployment by name and pod labels.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GatewayPods {
    /// Deployment (and Service) name.
    pub name: String,
    /// Pod labels.
    pub labels: BTreeMap<String, String>,
}

/// OLM defaults for OpenShift.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OpenShift {
    /// Default CatalogSource of the Subscriptions.
    pub catalog_source: String,
    /// Namespace of that CatalogSource.
    pub catalog_source_namespace: String,
    /// Default install-plan approval.
    pub install_plan_approval: String,
    /// Operators by role (`ossm2`, `ossm3`, `serverless`, `certManager`).
    pub operators: BTreeMap<String, Operator>,
    /// Name of the OSSM 2 ServiceMeshControlPlane.
    pub ossm2_control_plane_name: String,
    /// Namespace of Sail's IstioCNI.
    pub ossm3_cni_namespace: String,
    /// `status.state` of a Subscription whose operator OLM has installed (Flux's health check).
    pub subscription_installed_state: String,
}

/// One OLM operator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Operator {
    /// OLM package name.
    pub package: String,
    /// Default channel.
    pub channel: String,
    /// Namespace the Subscription lives in.
    pub namespace: String,
    /// OperatorGroup kgen must create: `allNamespaces`, `ownNamespace`, or none.
    #[serde(default)]
    pub operator_group: Option<String>,
}

/// One Helm chart release kgen can install.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Chart {
    /// Chart name in its repository.
    pub chart: String,
    /// Short name of its repository (Flux HelmRepository, Argo CD repository Secret).
    pub repo_name: String,
    /// Helm repository URL (`https://…` or `oci://…`).
    pub repo: String,
    /// Namespace the release is installed into.
    pub namespace: String,
    /// Name of the pin giving the chart version (`kserve` = the KServe release).
    pub version: String,
    /// Install without the chart's `crds/` (another release or CRD source provides them).
    #[serde(default)]
    pub skip_crds: bool,
    /// Apply server-side: the chart holds objects too large for client-side apply.
    #[serde(default)]
    pub server_side_apply: bool,
    /// `install.sh` applies `helm template` output server-side instead of installing a Helm
    /// release (what the chart's own install docs do).
    #[serde(default)]
    pub apply_rendered: bool,
    /// Values kgen sets from a chart version on, whatever the environment.
    #[serde(default)]
    pub version_values: Vec<VersionValues>,
}

/// Values that hold from a chart version on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VersionValues {
    /// First chart version they apply to.
    pub from: String,
    /// First chart version they no longer apply to (none: every later one).
    #[serde(default)]
    pub until: Option<String>,
    /// The values.
    pub values: serde_json::Value,
}

impl Chart {
    /// The catalog's values for a chart version (later entries over earlier ones); `None` when
    /// none apply.
    pub fn values_for(&self, version: &str) -> Option<serde_json::Value> {
        let have = crate::version::Version::parse(version)?;
        let mut out: Option<serde_json::Value> = None;
        for v in &self.version_values {
            let from = crate::version::Version::parse(&v.from).is_some_and(|from| have >= from);
            let until = v.until.as_deref().is_none_or(|u| crate::version::Version::parse(u).is_some_and(|u| have < u));
            if from && until {
                let acc = out.get_or_insert_with(|| serde_json::json!({}));
                crate::value::deep_merge(acc, &v.values);
            }
        }
        out
    }
}

/// A CRD bundle published as release files.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CrdSource {
    /// Git repository URL.
    pub repo: String,
    /// Path of the CRDs in the repository.
    pub path: String,
    /// Name of the pin giving the tag.
    pub version: String,
    /// Where later tags keep the CRDs, from a tag on (later entries over earlier ones).
    #[serde(default)]
    pub paths: Vec<PathFrom>,
    /// URL of the release's single-file install (`{version}` is replaced), for `install.sh`;
    /// none where install.sh applies the chart instead.
    #[serde(default)]
    pub release_url: Option<String>,
    /// Glob of the files of `path` that are the bundle (Argo CD `directory.include`); none: all.
    #[serde(default)]
    pub include: Option<String>,
}

/// A CRD path that holds from a tag on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PathFrom {
    /// First tag.
    pub from: String,
    /// Path of the CRDs in the repository.
    pub path: String,
}

impl CrdSource {
    /// The path of the CRDs at a tag.
    pub fn path_at(&self, tag: &str) -> &str {
        let have = Version::parse(tag);
        self.paths
            .iter()
            .rfind(|p| Version::parse(&p.from).is_some_and(|f| have.as_ref().is_some_and(|h| *h >= f)))
            .map_or(self.path.as_str(), |p| p.path.as_str())
    }
}

/// How a chart release behaves over its lifecycle, as the GitOps engines need to know it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Lifecycle {
    /// The chart installs CRDs: deleting one deletes every object of its kind, so no engine
    /// prunes, cascade-deletes, uninstalls or rolls back the release.
    pub owns_crds: bool,
    /// The chart serves admission webhooks.
    pub webhooks: bool,
    /// How long Flux lets one Helm action of the release take (a Go duration).
    pub timeout: String,
    /// Fields controllers write after an engine applied the chart's objects.
    #[serde(default)]
    pub controller_owned: Vec<ControllerOwned>,
    /// Evidence.
    pub source: String,
}

/// Fields of one kind of object that a controller writes (Argo CD `ignoreDifferences` entry).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ControllerOwned {
    /// API group.
    pub group: String,
    /// Kind.
    pub kind: String,
    /// The fields, as Argo CD's jq path expressions.
    pub jq_path_expressions: Vec<String>,
}

/// A chart version whose own values schema is broken.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BrokenSchema {
    /// Release name.
    pub release: String,
    /// Chart version.
    pub version: String,
    /// Evidence.
    pub source: String,
}

/// The names a release uses for the two deployment modes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ModeNames {
    /// Name of Knative ("Serverless") mode.
    pub knative: String,
    /// Name of Standard ("RawDeployment") mode.
    pub standard: String,
}

/// Istio values layout from an Istio minor on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IstioLayout {
    /// First Istio minor with this layout.
    pub from: String,
    /// Key under which the chart's `values.yaml` keeps its defaults ("" = top level).
    pub prefix: String,
    /// The values key that selects the OpenShift profile: `profile` or (1.24+) `platform`.
    pub openshift: String,
    /// Where the layout and the key were read.
    pub source: String,
}

/// A component's minimum Kubernetes version from a component version on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KubeMinimum {
    /// First component version this applies to.
    pub from: String,
    /// Minimum Kubernetes minor.
    pub kubernetes: String,
    /// Newest Kubernetes minor upstream supports for the component minor of `from` (that minor
    /// only); `None` when upstream publishes no maximum.
    #[serde(default)]
    pub maximum: Option<String>,
    /// Where the fact comes from.
    pub source: String,
}

/// The Gateway API release an Envoy Gateway minor is built against.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EnvoyGatewayApi {
    /// Envoy Gateway minor (`v1.8`).
    pub from: String,
    /// Gateway API release (`v1.5.1`).
    pub gateway_api: String,
    /// Where the fact comes from.
    pub source: String,
}

/// OpenShift as a Kubernetes version.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OpenShiftPlatform {
    /// OpenShift minor ↔ Kubernetes minor.
    pub kubernetes_versions: Vec<OpenShiftKubernetes>,
    /// First OpenShift minor whose Ingress Operator installs and owns the Gateway API CRDs.
    pub gateway_api_crds_managed_from: OpenShiftFact,
}

/// One OpenShift minor and its Kubernetes minor.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OpenShiftKubernetes {
    /// OpenShift minor (`4.19`).
    pub openshift: String,
    /// Its Kubernetes minor (`1.32`).
    pub kubernetes: String,
    /// Where the fact comes from.
    pub source: String,
}

/// A fact that holds from an OpenShift minor on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OpenShiftFact {
    /// First OpenShift minor.
    pub openshift: String,
    /// Where the fact comes from.
    pub source: String,
}

/// One Knative operator release (knative/operator tag `knative-<version>`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KnativeOperator {
    /// Operator release, with its leading `v` (`v1.21.1`).
    pub version: String,
    /// Oldest Kubernetes minor it (and Knative of its minor) starts on, without `v` (`1.33`).
    pub kubernetes_minimum: String,
    /// Knative Serving versions it bundles, without `v`, oldest first: the only
    /// `KnativeServing.spec.version` values it installs. The catalog writes them as one
    /// space-separated scalar (fast to load); a YAML list is read too.
    #[serde(deserialize_with = "words")]
    pub servings: Vec<String>,
    /// Where the facts were read (tag, commit, files).
    pub source: String,
}

impl KnativeOperator {
    /// Whether it bundles this Knative Serving version (compared as versions, so `v1.21.1` and
    /// `1.21.1` are the same).
    pub fn bundles(&self, serving: &str) -> bool {
        let Some(want) = Version::parse(serving) else { return false };
        self.servings.iter().any(|s| Version::parse(s).as_ref() == Some(&want))
    }
}

/// A list written as one space-separated scalar, or as a YAML list.
fn words<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Words {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Words::deserialize(d)? {
        Words::One(s) => s.split_whitespace().map(str::to_string).collect(),
        Words::Many(v) => v,
    })
}

/// A component's Kubernetes range for one of its versions, and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentMinimum<'a> {
    /// Minimum Kubernetes minor (`1.33`).
    pub kubernetes: &'a str,
    /// Newest Kubernetes minor upstream supports for this component version, if published.
    pub maximum: Option<&'a str>,
    /// Where the fact comes from.
    pub source: &'a str,
}

/// KServe's own minimum Kubernetes version for a release.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OwnMinimum {
    /// Minimum Kubernetes minor.
    pub kubernetes: String,
    /// Where the fact comes from.
    pub source: String,
}

/// One KServe release.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Release {
    /// Release tag, with its leading `v`.
    pub version: String,
    /// Tag date.
    pub released: String,
    /// Where the pins were read.
    pub pins_source: String,
    /// Mode vocabulary key.
    pub modes: String,
    /// Chart name of the `kserve` release.
    pub kserve_chart: String,
    /// Whether the release ships the `kserve-runtime-configs` chart.
    #[serde(default)]
    pub runtime_configs_chart: bool,
    /// Whether the release ships the LLMInferenceService charts (`llm`, v0.16.0+).
    #[serde(default)]
    pub llmisvc_charts: bool,
    /// Whether the release ships the LocalModel charts (`localModel`, v0.17.0+).
    #[serde(default)]
    pub local_model_charts: bool,
    /// Chart names of this release where they differ from `charts` (by release name); the Helm
    /// release keeps its name when its chart is renamed.
    #[serde(default)]
    pub chart_names: BTreeMap<String, String>,
    /// Whether the `kserve` chart has `kserve.createSharedResources` (v0.17.0+), which overrides
    /// the `enabled` switches of the shared objects (facts §3.2).
    #[serde(default)]
    pub create_shared_resources: bool,
    /// Whether Standard mode can use Gateway API (`enableGatewayApi`).
    pub gateway_api_ingress: bool,
    /// Namespace KServe's own install puts the Knative operator in.
    pub knative_operator_namespace: String,
    /// KServe's own minimum Kubernetes version, where it states one.
    #[serde(default)]
    pub kubernetes_minimum: Option<OwnMinimum>,
    /// Dependency pins by component.
    pub pins: BTreeMap<String, String>,
}

// ---------------------------------------------------------------------------------------------
// Upgrade policies and stepping stones (issue 12, history rules KG220–KG225 and `kgen upgrade`).

/// What a component's upstream says about moving it between versions in one sync, keyed in
/// [`Catalog::upgrade_policies`] by pin name (`knativeServing`, `istio`, …), `kserve` or
/// `kubernetes`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpgradePolicy {
    /// The component's name in messages.
    pub name: String,
    /// The history rule that holds a render to it.
    #[serde(default)]
    pub rule: Option<String>,
    /// The most minors it may move in one sync.
    #[serde(default)]
    pub distance: Option<u64>,
    /// Whether upstream refuses a longer move or only advises against it.
    #[serde(default)]
    pub enforcement: Option<Enforcement>,
    /// The distance limits upgrades only (a downgrade is another rule's or no rule's business).
    #[serde(default)]
    pub up_only: bool,
    /// How upstream says to move it, for messages.
    #[serde(default)]
    pub procedure: Option<String>,
    /// Where the policy was read.
    #[serde(default)]
    pub sources: Vec<String>,
    /// Where upstream was read and found to state no policy (then there is no rule).
    #[serde(default)]
    pub silent: Option<String>,
    /// Releases whose upgrade guide requires manual steps before the sync (KServe).
    #[serde(default)]
    pub migrations: Vec<Migration>,
}

/// Whether a policy is a refusal or advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Enforcement {
    /// The component refuses or breaks (an error).
    Required,
    /// Upstream advises it (a warning).
    Recommended,
}

/// A release an upgrade must not cross without manual steps.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Migration {
    /// The release: an upgrade from below it to it or later crosses it.
    pub to: String,
    /// The history rule that reports it.
    pub rule: String,
    /// What to do, for messages.
    pub steps: String,
    /// Where it was read.
    pub source: String,
}

/// Intermediate versions of a component, newest patch of each minor.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SteppingStones {
    /// The versions, as pins are written.
    pub versions: Vec<String>,
    /// Where they were checked to exist.
    pub source: String,
}

impl Catalog {
    /// The chart a KServe release publishes a Helm release's chart as: its own name for it
    /// (`chartNames`, `kserveChart` for `kserve`), else `charts`'s. `None` for a release the
    /// catalog does not know.
    pub fn chart_of<'a>(&'a self, kserve: &'a Release, release: &str) -> Option<&'a str> {
        match kserve.chart_names.get(release) {
            Some(renamed) => Some(renamed),
            None if release == "kserve" => Some(&kserve.kserve_chart),
            None => self.charts.get(release).map(|c| c.chart.as_str()),
        }
    }

    /// The CRD source an engine may apply instead of a Helm release's chart (over the record
    /// limit, `helmReleaseRecords.replacements`, or on Argo CD because it `lookup`s,
    /// `lookupReplacements`): the same CRDs, so moving between the two keeps them managed.
    pub fn crd_replacement(&self, release: &str) -> Option<&str> {
        self.helm_release_records
            .replacements
            .get(release)
            .or(self.lookup_replacements.get(release))
            .map(String::as_str)
    }

    /// The upgrade policy of a component, if upstream states one.
    pub fn upgrade_policy(&self, component: &str) -> Option<&UpgradePolicy> {
        self.upgrade_policies.get(component).filter(|p| p.silent.is_none() || p.rule.is_some())
    }

    /// The stepping stones of a component (none when the catalog lists none).
    pub fn stepping_stones(&self, component: &str) -> &[String] {
        self.stepping_stones.get(component).map_or(&[], |s| s.versions.as_slice())
    }
}

static CATALOG: OnceLock<Catalog> = OnceLock::new();

thread_local! {
    /// The catalog [`with_catalog`] puts in place on this thread, if any.
    static OVERRIDE: std::cell::Cell<Option<&'static Catalog>> = const { std::cell::Cell::new(None) };
}

/// The catalog: the embedded one, unless [`with_catalog`] put another in place on this thread.
/// The embedded catalog is checked by tests; a broken catalog is a build defect.
pub fn get() -> &'static Catalog {
    OVERRIDE.with(std::cell::Cell::get).unwrap_or_else(embedded)
}

fn embedded() -> &'static Catalog {
    CATALOG.get_or_init(|| {
        yaml::from_str(CATALOG_YAML, yaml::Budget::Render)
            .unwrap_or_else(|e| panic!("embedded catalog/catalog.yaml is invalid: {e}"))
    })
}

/// Test seam, not a feature: runs `f` with `catalog` in place of the embedded catalog on the
/// calling thread (only there: other tests running at the same time keep the embedded one),
/// so a test can show what a catalog change does (a synthetic release, a release without a
/// pin) without rebuilding kgen. Work `f` hands to other threads ([`crate::par_map`]) sees the
/// embedded catalog, so `f` should load, resolve and render on this thread. kgen itself never
/// calls it: the catalog users get is always the embedded one.
#[doc(hidden)]
pub fn with_catalog<R>(catalog: &'static Catalog, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<&'static Catalog>);
    impl Drop for Restore {
        fn drop(&mut self) {
            OVERRIDE.with(|o| o.set(self.0));
        }
    }
    let _restore = Restore(OVERRIDE.with(|o| o.replace(Some(catalog))));
    f()
}

impl Catalog {
    /// The sections that hold for every environment, as compact JSON (part of every lock's
    /// input digest): `openshift`, `openshiftPlatform`, `istioValuesLayouts` and `ruleFacts` without its tables
    /// keyed by chart release (`versionPrefixes.charts`, `chartNeeds`), which count per chart.
    /// Computed once for the embedded catalog: every render hashes it.
    pub fn shared_json(&self) -> std::borrow::Cow<'static, str> {
        fn make(c: &Catalog) -> String {
            let mut facts = serde_json::to_value(&c.rule_facts).expect("the catalog serialises");
            if let Some(m) = facts.as_object_mut() {
                m.shift_remove("chartNeeds");
            }
            if let Some(m) = facts["versionPrefixes"].as_object_mut() {
                m.shift_remove("charts");
            }
            serde_json::json!({
                "openshift": c.openshift,
                "openshiftPlatform": c.openshift_platform,
                "istioValuesLayouts": c.istio_values_layouts,
                "ruleFacts": facts,
            })
            .to_string()
        }
        static SHARED: OnceLock<String> = OnceLock::new();
        if std::ptr::eq(self, embedded()) {
            std::borrow::Cow::Borrowed(SHARED.get_or_init(|| make(self)).as_str())
        } else {
            std::borrow::Cow::Owned(make(self))
        }
    }

    /// The release with this exact tag.
    pub fn release(&self, version: &str) -> Option<&Release> {
        self.releases.iter().find(|r| r.version == version)
    }

    /// The newest release by semantic version (releases are interleaved by date).
    pub fn newest(&self) -> &Release {
        self.releases.iter().max_by_key(|r| Version::parse(&r.version)).expect("catalog has at least one release")
    }

    /// Mode names of a release.
    pub fn modes(&self, release: &Release) -> &ModeNames {
        &self.mode_vocabularies[&release.modes]
    }

    /// The deployment mode a misspelt name most likely means, as `release` names it, with the
    /// name it was taken for: `raw` → (`Standard`, `RawDeployment`) on v0.16.0+, (`RawDeployment`,
    /// `RawDeployment`) before. A name (case and punctuation aside) that
    /// begins a mode name of any vocabulary means that mode; `None` when it begins none, or names
    /// of both modes.
    pub fn mode_meant<'a>(&'a self, release: &Release, written: &str) -> Option<(&'a str, &'a str)> {
        let norm: String =
            written.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect();
        if norm.is_empty() {
            return None;
        }
        let begins = |name: &str| name.to_ascii_lowercase().starts_with(&norm);
        let knative = self.mode_vocabularies.values().map(|m| m.knative.as_str()).find(|n| begins(n));
        let standard = self.mode_vocabularies.values().map(|m| m.standard.as_str()).find(|n| begins(n));
        let modes = self.modes(release);
        match (knative, standard) {
            (Some(taken), None) => Some((modes.knative.as_str(), taken)),
            (None, Some(taken)) => Some((modes.standard.as_str(), taken)),
            _ => None,
        }
    }

    /// Every deployment-mode name of every vocabulary.
    pub fn mode_names(&self) -> impl Iterator<Item = &str> {
        self.mode_vocabularies.values().flat_map(|m| [m.knative.as_str(), m.standard.as_str()])
    }

    /// Whether a release understands the canonical `Knative`/`Standard` names.
    pub fn has_canonical_modes(&self, release: &Release) -> bool {
        let m = self.modes(release);
        m.knative == "Knative" && m.standard == "Standard"
    }

    /// The Istio values prefix for an Istio version.
    pub fn istio_values_prefix(&self, istio: &str) -> Option<&str> {
        let v = Version::parse(istio)?;
        self.istio_values_layouts
            .iter()
            .rfind(|l| Version::parse(&l.from).is_some_and(|f| f <= v))
            .map(|l| l.prefix.as_str())
    }

    /// The values key that selects the OpenShift profile of the Istio charts of a version.
    pub fn istio_openshift_key(&self, istio: &str) -> Option<&str> {
        let v = Version::parse(istio)?;
        self.istio_values_layouts
            .iter()
            .rfind(|l| Version::parse(&l.from).is_some_and(|f| f <= v))
            .map(|l| l.openshift.as_str())
    }

    /// The Istio gateway chart's allowed top-level values keys for an Istio version.
    pub fn istio_gateway_keys(&self, istio: &str) -> Option<&[String]> {
        let v = Version::parse(istio)?;
        self.rule_facts
            .istio_gateway_values_keys
            .iter()
            .rfind(|l| Version::parse(&l.from).is_some_and(|f| f <= v))
            .map(|l| l.keys.as_slice())
    }

    /// A component's minimum Kubernetes for a component version. The Knative operator's comes
    /// from its row of `knativeOperators`; Knative Serving's from the operator rows of its minor
    /// (knative.dev/pkg, vendored by both, sets one minimum per Knative minor).
    pub fn component_minimum(&self, component: &str, version: &str) -> Option<ComponentMinimum<'_>> {
        // The Knative table publishes minimums only.
        fn from_row(op: &KnativeOperator) -> ComponentMinimum<'_> {
            ComponentMinimum { kubernetes: op.kubernetes_minimum.as_str(), maximum: None, source: op.source.as_str() }
        }
        match component {
            KNATIVE_OPERATOR => return self.knative_operator(version).map(from_row),
            KNATIVE_SERVING => return self.knative_minor_row(version).map(from_row),
            _ => {}
        }
        let v = Version::parse(version)?;
        self.kubernetes_minimums.get(component)?.iter().rfind(|m| Version::parse(&m.from).is_some_and(|f| f <= v)).map(
            |m| ComponentMinimum {
                kubernetes: m.kubernetes.as_str(),
                // The maximum is that of the row's own minor: a newer minor's is unknown.
                maximum: m
                    .maximum
                    .as_deref()
                    .filter(|_| Version::parse(&m.from).is_some_and(|f| f.minor() == v.minor())),
                source: m.source.as_str(),
            },
        )
    }

    /// How messages name a pinned component (`knativeServing` → `Knative Serving`); the pin
    /// name itself when the catalog has none.
    pub fn component_name<'a>(&'a self, pin: &'a str) -> &'a str {
        self.component_names.get(pin).map_or(pin, String::as_str)
    }

    /// The Gateway API release an Envoy Gateway version is built against (its minor's row).
    pub fn envoy_gateway_gateway_api(&self, envoy_gateway: &str) -> Option<&EnvoyGatewayApi> {
        let minor = Version::parse(envoy_gateway)?.minor();
        self.envoy_gateway_gateway_api.iter().find(|e| Version::parse(&e.from).is_some_and(|f| f.minor() == minor))
    }

    /// The OpenShift minor whose Kubernetes minor this is.
    pub fn openshift_for_kubernetes(&self, kubernetes: &str) -> Option<&OpenShiftKubernetes> {
        let minor = Version::parse(kubernetes)?.minor();
        self.openshift_platform
            .kubernetes_versions
            .iter()
            .find(|o| Version::parse(&o.kubernetes).is_some_and(|k| k.minor() == minor))
    }

    /// Whether OpenShift on this Kubernetes version installs and owns the Gateway API CRDs
    /// itself (its Ingress Operator, from OpenShift 4.19 = Kubernetes 1.32).
    pub fn openshift_manages_gateway_api_crds(&self, kubernetes: &str) -> bool {
        let from = &self.openshift_platform.gateway_api_crds_managed_from.openshift;
        let from_kube = self.openshift_platform.kubernetes_versions.iter().find(|o| &o.openshift == from);
        match (from_kube.and_then(|o| Version::parse(&o.kubernetes)), Version::parse(kubernetes)) {
            (Some(first), Some(have)) => have.minor() >= first.minor(),
            _ => false,
        }
    }

    /// The Knative operator release with this exact version (`v1.21.1`; a missing `v` is
    /// tolerated, a missing patch is not: `v1.21` names no release).
    pub fn knative_operator(&self, version: &str) -> Option<&KnativeOperator> {
        let bare = version.strip_prefix('v').unwrap_or(version);
        self.knative_operators.iter().find(|o| o.version.strip_prefix('v').unwrap_or(&o.version) == bare)
    }

    /// Every Knative operator release kgen knows, oldest first.
    pub fn knative_operators(&self) -> &[KnativeOperator] {
        &self.knative_operators
    }

    /// The oldest operator release of a Knative version's minor: the row that states the
    /// Kubernetes minimum of Knative Serving of that minor.
    pub fn knative_minor_row(&self, version: &str) -> Option<&KnativeOperator> {
        let minor = Version::parse(version)?.minor();
        self.knative_operators.iter().find(|o| Version::parse(&o.version).is_some_and(|v| v.minor() == minor))
    }

    /// The minimum Kubernetes for a release with the given effective pins: the highest of
    /// KServe's own minimum and every component minimum, with the fact that sets it.
    pub fn kubernetes_minimum(&self, release: &Release, pins: &BTreeMap<String, String>) -> (Version, String) {
        let mut best: (Version, String) = (Version::default(), String::new());
        let mut consider = |k: &str, why: String| {
            if let Some(v) = Version::parse(k)
                && v > best.0
            {
                best = (v, why);
            }
        };
        if let Some(own) = &release.kubernetes_minimum {
            consider(&own.kubernetes, format!("KServe {} ({})", release.version, own.source));
        }
        for (component, version) in pins {
            if let Some(m) = self.component_minimum(component, version) {
                consider(m.kubernetes, format!("{component} {version} ({})", m.source));
            }
        }
        best
    }

    /// All release tags, oldest first.
    pub fn release_versions(&self) -> Vec<&str> {
        self.releases.iter().map(|r| r.version.as_str()).collect()
    }
}

/// A chart version's fixed UIDs: values that unset them on OpenShift, or what stays fixed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FixedUids {
    /// Release name.
    pub release: String,
    /// Chart versions this was read from.
    pub versions: Vec<String>,
    /// Values that remove the fixed UIDs (merged on OpenShift over kgen's values).
    #[serde(default)]
    pub unset_values: Option<serde_json::Value>,
    /// What no value can change (rule KG507 names it).
    #[serde(default)]
    pub fixed: Option<String>,
    /// Evidence.
    pub source: String,
}

impl Catalog {
    /// Values that unset a chart version's fixed UIDs on OpenShift, if any.
    pub fn openshift_unset_values(&self, release: &str, version: &str) -> Option<&serde_json::Value> {
        self.openshift_fixed_uids
            .iter()
            .find(|f| f.release == release && f.versions.iter().any(|v| v == version) && f.unset_values.is_some())
            .and_then(|f| f.unset_values.as_ref())
    }
}

/// Helm release records: the Secret limit and the measured size of each chart version's record.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HelmReleaseRecords {
    /// Largest Secret Kubernetes accepts, in bytes.
    pub limit: u64,
    /// Rule KG611 warns from this share of the limit (percent).
    pub near_percent: u64,
    /// How and when the sizes were measured.
    pub measured: String,
    /// Bytes by release name and chart version.
    pub bytes: BTreeMap<String, BTreeMap<String, u64>>,
    /// CRD source (of `crdSources`) an engine that stores records applies instead of an
    /// over-limit release, by release name.
    pub replacements: BTreeMap<String, String>,
}

impl HelmReleaseRecords {
    /// The measured record size of a release's chart version, if measured.
    pub fn size(&self, release: &str, version: &str) -> Option<u64> {
        self.bytes.get(release)?.get(version).copied()
    }

    /// Whether a release's chart version is measured over the limit.
    pub fn over_limit(&self, release: &str, version: &str) -> bool {
        self.size(release, version).is_some_and(|b| b > self.limit)
    }
}

/// Values keys a chart version reads only while another value is false (catalog
/// `ignoredValues`, rule KG312).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IgnoredValues {
    /// Release name.
    pub release: String,
    /// Chart versions this was read from (only these: other versions are not known).
    pub versions: Vec<String>,
    /// Dotted keys the chart ignores while `while` is true.
    pub ignored: Vec<String>,
    /// Dotted keys of the value that wins, first set first (the chart's precedence).
    #[serde(rename = "while")]
    pub while_true: Vec<String>,
    /// The chart's default of that value.
    pub default: bool,
    /// The dotted key to set instead, with the winning value on.
    pub instead: String,
    /// Evidence.
    pub source: String,
}

impl IgnoredValues {
    /// Whether this fact holds for a chart version.
    pub fn covers(&self, version: &str) -> bool {
        self.versions.iter().any(|v| v == version)
    }
}

/// What `install.sh` waits for after a step (catalog `installReadiness`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InstallReadiness {
    /// Charts whose Service can be `type: LoadBalancer`, by release name.
    pub service_types: BTreeMap<String, ServiceType>,
    /// Webhook servers by the API group whose objects they admit.
    pub webhooks: BTreeMap<String, WebhookServer>,
}

/// Where a chart sets its Service type, and the workload to wait for instead.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceType {
    /// Dotted values key of the Service type.
    pub key: String,
    /// The chart's default type.
    pub default: String,
    /// Dotted values key of the workload kind (none: always `workloadKind`).
    #[serde(default)]
    pub workload_kind_key: Option<String>,
    /// The workload kind by default.
    pub workload_kind: String,
    /// Dotted values key naming the workload (none: always `workload`).
    #[serde(default)]
    pub workload_name_key: Option<String>,
    /// The workload's name by default (`{release}`: the release name).
    pub workload: String,
    /// Evidence.
    pub source: String,
}

/// A webhook server, by where its provider installs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WebhookServer {
    /// Its Deployment.
    pub deployment: String,
    /// Namespace by provider (`release/<name>`: that release's namespace; `package/<name>`:
    /// a fixed namespace).
    pub namespaces: BTreeMap<String, Option<String>>,
    /// Evidence.
    pub source: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chart_has_its_lifecycle() {
        let c = get();
        let charts: Vec<&String> = c.charts.keys().collect();
        let lifecycle: Vec<&String> = c.lifecycle.keys().collect();
        assert_eq!(charts, lifecycle, "catalog `lifecycle` lists every chart, in the order of `charts`");
        for (name, l) in &c.lifecycle {
            assert!(l.timeout.ends_with('m') && l.timeout[..l.timeout.len() - 1].parse::<u32>().is_ok(), "{name}");
            for o in &l.controller_owned {
                assert!(!o.jq_path_expressions.is_empty(), "{name}: {}", o.kind);
            }
        }
    }

    #[test]
    fn catalog_loads_and_every_release_is_consistent() {
        let c = get();
        let versions = c.release_versions();
        assert!(versions.len() >= 9, "{versions:?}");
        // Tags are unique and parse; `newest` is the highest version, whatever its place in
        // the list.
        let mut unique = versions.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), versions.len(), "{versions:?}");
        let newest = Version::parse(&c.newest().version).expect("release tags parse");
        for r in &c.releases {
            assert!(Version::parse(&r.version).is_some_and(|v| v <= newest), "{}", r.version);
        }
        for r in &c.releases {
            assert!(c.mode_vocabularies.contains_key(&r.modes), "{}", r.version);
            for pin in r.pins.keys() {
                let used = c.charts.values().any(|ch| &ch.version == pin)
                    || c.crd_sources.values().any(|s| &s.version == pin)
                    || pin == "knativeServing";
                assert!(used, "pin {pin} of {} is used by nothing", r.version);
            }
        }
    }

    #[test]
    fn minimum_kubernetes_is_the_highest_component_minimum() {
        let c = get();
        // Over every pin (Knative included): Knative 1.21 needs 1.33 (operator-matrix.tsv).
        let r = c.release("v0.20.0").unwrap();
        assert_eq!(c.kubernetes_minimum(r, &r.pins).0.to_string(), "1.33");
        let r = c.release("v0.18.0").unwrap();
        assert_eq!(c.kubernetes_minimum(r, &r.pins).0.to_string(), "1.33");
        // Knative 1.15 needs 1.28, above Istio 1.23's 1.26.
        let r = c.release("v0.15.2").unwrap();
        assert_eq!(c.kubernetes_minimum(r, &r.pins).0.to_string(), "1.28");
        let r = c.release("v0.14.1").unwrap();
        assert_eq!(c.kubernetes_minimum(r, &r.pins).0.to_string(), "1.28");
        // Without Knative (Standard mode's pins) KServe v0.20.0's own 1.32 is the highest.
        let r = c.release("v0.20.0").unwrap();
        let standard: BTreeMap<String, String> =
            r.pins.iter().filter(|(k, _)| !k.starts_with("knative")).map(|(k, v)| (k.clone(), v.clone())).collect();
        assert_eq!(c.kubernetes_minimum(r, &standard).0.to_string(), "1.32");
    }

    #[test]
    fn knative_operators_table() {
        let c = get();
        let ops = c.knative_operators();
        assert_eq!(ops.first().map(|o| o.version.as_str()), Some("v1.12.0"));
        assert_eq!(ops.last().map(|o| o.version.as_str()), Some("v1.23.0"));
        // Oldest first, no duplicates, versions written as the tsv writes them.
        for w in ops.windows(2) {
            assert!(Version::parse(&w[0].version) < Version::parse(&w[1].version), "{} {}", w[0].version, w[1].version);
        }
        for o in ops {
            assert!(o.version.starts_with('v'), "{}", o.version);
            assert!(!o.kubernetes_minimum.starts_with('v') && Version::parse(&o.kubernetes_minimum).is_some());
            assert!(!o.servings.is_empty() && o.servings.iter().all(|s| !s.starts_with('v')), "{}", o.version);
            assert!(o.source.contains(&format!("knative-{}", o.version)), "{}", o.source);
            // Every operator bundles a Serving of its own minor (the minor whose minimum it
            // states), so the Serving minimum by minor is that of an operator of the minor.
            let minor = Version::parse(&o.version).unwrap().minor();
            assert!(o.servings.iter().any(|s| Version::parse(s).unwrap().minor() == minor), "{}", o.version);
            let first = c.knative_minor_row(&o.version).unwrap();
            assert_eq!(first.kubernetes_minimum, o.kubernetes_minimum, "one minimum per Knative minor");
        }
        let op = c.knative_operator("v1.21.1").unwrap();
        assert_eq!(op.kubernetes_minimum, "1.33");
        assert_eq!(op.servings.first().map(String::as_str), Some("1.18.0"));
        assert_eq!(op.servings.last().map(String::as_str), Some("1.21.1"));
        assert!(op.bundles("1.21.1") && !op.bundles("1.17.0") && !op.bundles("1.21.2"));
        // v1.14.5 ships up to 1.14.1, not its own patch.
        assert!(!c.knative_operator("v1.14.5").unwrap().bundles("1.14.5"));
        assert!(c.knative_operator("1.21.1").is_some(), "a missing `v` is tolerated");
        assert!(c.knative_operator("v1.21").is_none(), "a missing patch is not");
        assert!(c.knative_operator("v1.24.0").is_none());
        assert_eq!(c.component_minimum("knativeOperator", "v1.15.7").unwrap().kubernetes, "1.28");
        assert_eq!(c.component_minimum("knativeServing", "1.21.1").unwrap().kubernetes, "1.33");
        assert_eq!(c.component_minimum("knativeServing", "1.15.2").unwrap().kubernetes, "1.28");
        assert_eq!(c.component_minimum("knativeServing", "1.9.0"), None, "no operator of minor 1.9 in the table");
    }

    /// Paths of the compatibility facts (an object stating a Kubernetes version, a maximum, an
    /// OpenShift version or an Envoy Gateway's Gateway API) that carry no `source`.
    fn facts_without_source(v: &serde_json::Value, path: &str, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                let states = |k: &str| m.get(k).is_some_and(|x| x.is_string());
                let fact = states("kubernetes")
                    || states("kubernetesMinimum")
                    || states("maximum")
                    || states("openshift")
                    || (states("gatewayApi") && states("from"));
                if fact && m.get("source").and_then(|s| s.as_str()).is_none_or(|s| s.trim().is_empty()) {
                    out.push(path.to_string());
                }
                for (k, x) in m {
                    facts_without_source(x, &format!("{path}/{k}"), out);
                }
            }
            serde_json::Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    facts_without_source(x, &format!("{path}/{i}"), out);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn every_compatibility_fact_names_its_source() {
        let doc: serde_json::Value = yaml::from_str(CATALOG_YAML, yaml::Budget::Render).unwrap();
        let mut missing = Vec::new();
        facts_without_source(&doc, "", &mut missing);
        assert!(missing.is_empty(), "facts without a source: {missing:?}");
        // Every release states its own minimum, with its source.
        for r in &get().releases {
            let own = r.kubernetes_minimum.as_ref().unwrap_or_else(|| panic!("{} has no kubernetesMinimum", r.version));
            assert!(!own.source.trim().is_empty(), "{}", r.version);
        }
        // The check finds a fact whose source is gone, wherever it is.
        for pointer in [
            "/kubernetesMinimums/istio/0",
            "/knativeOperators/3",
            "/envoyGatewayGatewayApi/0",
            "/openshiftPlatform/kubernetesVersions/1",
            "/openshiftPlatform/gatewayApiCrdsManagedFrom",
            "/releases/0/kubernetesMinimum",
        ] {
            let mut broken = doc.clone();
            broken.pointer_mut(pointer).and_then(|o| o.as_object_mut()).unwrap().insert("source".into(), "".into());
            let mut missing = Vec::new();
            facts_without_source(&broken, "", &mut missing);
            assert_eq!(missing, [pointer.to_string()]);
        }
    }

    #[test]
    fn maxima_hold_for_their_own_minor_only() {
        let c = get();
        let m = c.component_minimum("istio", "1.27.1").unwrap();
        assert_eq!((m.kubernetes, m.maximum), ("1.29", Some("1.33")));
        assert_eq!(c.component_minimum("istio", "1.23.2").unwrap().maximum, Some("1.30"));
        // A minor newer than the table keeps the last minimum but has no known maximum.
        let m = c.component_minimum("istio", "1.31.0").unwrap();
        assert_eq!((m.kubernetes, m.maximum), ("1.32", None));
        assert_eq!(c.component_minimum("certManager", "v1.17.0").unwrap().maximum, Some("1.33"));
        assert_eq!(c.component_minimum("envoyGateway", "v1.8.1").unwrap().kubernetes, "1.32");
        assert_eq!(c.component_minimum("gatewayApi", "v1.5.1").unwrap().kubernetes, "1.31");
        assert_eq!(c.component_minimum("gatewayApi", "v1.4.1").unwrap().maximum, None);
        assert_eq!(c.envoy_gateway_gateway_api("v1.8.1").unwrap().gateway_api, "v1.5.1");
        assert_eq!(c.envoy_gateway_gateway_api("v1.6.3").unwrap().gateway_api, "v1.4.0");
        assert!(c.envoy_gateway_gateway_api("v2.0.0").is_none());
        assert!(c.openshift_manages_gateway_api_crds("1.32") && c.openshift_manages_gateway_api_crds("1.35"));
        assert!(!c.openshift_manages_gateway_api_crds("1.31"));
        assert_eq!(c.openshift_for_kubernetes("1.32").unwrap().openshift, "4.19");
    }

    #[test]
    fn istio_layouts() {
        let c = get();
        assert_eq!(c.istio_values_prefix("1.20.4"), Some(""));
        assert_eq!(c.istio_values_prefix("1.23.2"), Some("defaults"));
        assert_eq!(c.istio_values_prefix("1.27.1"), Some("_internal_defaults_do_not_set"));
    }

    #[test]
    fn mode_names_by_release() {
        let c = get();
        assert_eq!(c.modes(c.release("v0.15.2").unwrap()).knative, "Serverless");
        assert_eq!(c.modes(c.release("v0.16.0").unwrap()).knative, "Knative");
        assert_eq!(c.modes(c.release("v0.14.1").unwrap()).standard, "RawDeployment");
    }

    #[test]
    fn values_by_chart_version_hold_in_their_range_only() {
        let c = get();
        let kserve = &c.charts["kserve"];
        let off = serde_json::json!({"kserve": {"modelmesh": {"enabled": false}}});
        assert_eq!(kserve.values_for("v0.14.1"), Some(off));
        assert_eq!(kserve.values_for("v0.15.2"), None, "the key is gone after v0.14.x");
        let eg = &c.charts["envoy-gateway"];
        assert!(eg.values_for("v1.8.1").is_some());
        assert_eq!(eg.values_for("v1.8.0"), None, "no safe-upgrades template before v1.8.1");
        assert_eq!(eg.values_for("v1.7.0"), None);
        assert_eq!(c.charts["istiod"].values_for("1.27.1"), None);
    }
}
