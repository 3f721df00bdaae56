//! The environment file model (`apiVersion: kgen/v1`, `kind: Environment`). These types are the
//! source of truth: the JSON Schema in `schemas/environment.schema.json` is generated from them,
//! and every doc comment becomes a schema description (editor hover text).

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A free-form map of Helm values.
pub type HelmValues = serde_json::Map<String, serde_json::Value>;

/// One KServe environment (usually one cluster), compiled by `kgen render` into
/// `rendered/<name>/`. Layer files (`_name.yaml`) use the same shape; any field may be left out
/// of a layer.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "kgen environment")]
pub struct Environment {
    /// Format version of this file. Always `kgen/v1`.
    pub api_version: ApiVersion,
    /// Always `Environment`.
    pub kind: Kind,
    /// Layer this file builds on, by file name without `.yaml` (for example `_base`). Maps merge
    /// deeply; scalars and lists from this file replace the layer's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^_[a-z0-9]([a-z0-9-]*[a-z0-9])?$"))]
    pub extends: Option<String>,
    /// What this environment is for; free text for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The cluster this environment describes.
    pub cluster: Cluster,
    /// KServe itself: release, deployment mode, ingress.
    pub kserve: Kserve,
    /// The service mesh (networking layer of Knative mode, optional in Standard mode).
    #[serde(default)]
    pub mesh: Mesh,
    /// Knative Serving, installed in Knative mode.
    #[serde(default)]
    pub knative: Knative,
    /// cert-manager, which KServe's webhooks need.
    #[serde(default)]
    pub cert_manager: CertManager,
    /// Gateway API CRDs and implementation, used by Standard mode with `kserve.ingress: gatewayApi`.
    #[serde(default)]
    pub gateway_api: GatewayApi,
    /// Where TLS for InferenceService URLs ends: a cert-manager certificate for the ingress
    /// gateway, or a load balancer in front of the cluster (`kserve.urlScheme: https` needs one
    /// of them, rule KG413).
    #[serde(default, skip_serializing_if = "Tls::is_default")]
    pub tls: Tls,
    /// Event-driven autoscaling of Standard-mode InferenceServices: KEDA, which KServe drives
    /// through ScaledObjects for InferenceServices annotated `serving.kserve.io/autoscalerClass:
    /// keda`. Knative mode scales with Knative's own autoscaler (rule KG415).
    #[serde(default, skip_serializing_if = "Autoscaling::is_default")]
    pub autoscaling: Autoscaling,
    /// LLM serving: KServe's LLMInferenceService controller and CRDs with LeaderWorkerSet, on
    /// Kubernetes in Standard mode behind Gateway API served by Envoy Gateway with Envoy AI
    /// Gateway (KServe v0.17.0+).
    #[serde(default, skip_serializing_if = "Llm::is_default")]
    pub llm: Llm,
    /// LocalModel: KServe's model cache on node-local disks (the LocalModel controller, CRDs and
    /// node agent; KServe v0.17.0+).
    #[serde(default, skip_serializing_if = "LocalModel::is_default")]
    pub local_model: LocalModel,
    /// Version overrides. Every component defaults to the pin of the chosen KServe release in
    /// kgen's catalog (`kgen versions`); set one only to deviate from KServe's tested set.
    #[serde(default)]
    pub versions: Versions,
    /// OpenShift only: how operators are subscribed through OLM. Operator versions are decided
    /// by the channel, not by kgen.
    #[serde(default)]
    pub olm: Olm,
    /// How the rendered tree reaches the cluster.
    pub gitops: Gitops,
    /// Internal mirrors of the upstream sources (disconnected or air-gapped clusters, OpenShift
    /// included), usually set once in a layer. Each must serve the same charts, at the same
    /// versions, as the upstream it replaces; `kgen explain` shows which one is in use.
    #[serde(default, skip_serializing_if = "Mirrors::is_empty")]
    pub mirrors: Mirrors,
    /// Helm values overrides per release, deep-merged last over what kgen decides. An escape
    /// hatch for settings kgen does not model; shown in provenance (`kgen explain`).
    #[serde(default)]
    pub values: ValuesOverrides,
    /// Rules this environment deliberately does not follow, each with the reason (`kgen validate`
    /// prints both). Rules of the input stage (reading, schema, layering, catalog lookup; `kgen
    /// rules` shows the stage) cannot be ignored. A list, so an environment that sets it replaces
    /// the list of the layer it extends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<IgnoredRule>,
}

/// One rule an environment opts out of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IgnoredRule {
    /// The rule's code (`KG303`); `kgen rules` lists them.
    #[schemars(regex(pattern = r"^KG[0-9]{3}$"))]
    pub rule: String,
    /// Why this environment may break the rule, for reviewers (required).
    #[schemars(length(min = 1))]
    pub reason: String,
}

/// A Kubernetes namespace name (DNS-1123 label).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct DnsLabel(#[schemars(regex(pattern = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"))] pub String);

/// OLM subscription settings (OpenShift).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Olm {
    /// CatalogSource of every Subscription; default `redhat-operators`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$"))]
    pub source: Option<String>,
    /// Namespace of that CatalogSource; default `openshift-marketplace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"))]
    pub source_namespace: Option<String>,
    /// `Automatic` (OLM upgrades within the channel) or `Manual` (each upgrade's InstallPlan is
    /// approved by hand); default `Automatic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_plan_approval: Option<InstallPlanApproval>,
    /// Channel overrides by operator: `serviceMesh`, `serverless`, `certManager`.
    #[serde(default)]
    pub channels: OlmChannels,
}

/// Install-plan approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum InstallPlanApproval {
    /// OLM installs upgrades as they appear in the channel.
    Automatic,
    /// Upgrades wait for a human to approve the InstallPlan.
    Manual,
}

/// OLM channel overrides.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OlmChannels {
    /// Channel of OpenShift Service Mesh (2 or 3); default `stable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$"))]
    pub service_mesh: Option<String>,
    /// Channel of OpenShift Serverless; default `stable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$"))]
    pub serverless: Option<String>,
    /// Channel of the cert-manager Operator for Red Hat OpenShift; default `stable-v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$"))]
    pub cert_manager: Option<String>,
}

/// Format version marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ApiVersion {
    /// The only version so far.
    #[serde(rename = "kgen/v1")]
    V1,
}

/// Document kind marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Kind {
    /// An environment or a layer.
    Environment,
}

/// The target cluster.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Cluster {
    /// `kubernetes` (any conformant distribution) or `openshift` (operators come from OLM and
    /// the mesh is OpenShift Service Mesh).
    pub platform: Platform,
    /// Kubernetes minor version of the cluster, as a quoted string (`"1.33"`). Checked against
    /// the minimum of the KServe release and its components.
    #[schemars(regex(pattern = r"^1\.[0-9]{1,3}(\.[0-9]{1,3})?$"))]
    pub kubernetes_version: String,
    /// Cluster name used in GitOps objects; defaults to the environment name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$"))]
    pub name: Option<String>,
    /// API server URL the GitOps engine deploys to; defaults to the cluster the engine runs in
    /// (`https://kubernetes.default.svc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https://[!-~]+$"))]
    pub server: Option<String>,
}

/// Cluster platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Vanilla Kubernetes.
    Kubernetes,
    /// Red Hat OpenShift.
    Openshift,
}

/// KServe settings.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Kserve {
    /// KServe release tag (`v0.20.0`); defaults to the newest release in kgen's catalog. The
    /// release decides every other pin, chart names and the mode vocabulary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^v[0-9]+\.[0-9]+\.[0-9]+$"))]
    pub version: Option<String>,
    /// Default deployment mode of InferenceServices: `Knative` (scale to zero, needs Knative
    /// Serving and a mesh) or `Standard` (plain Deployments). `Serverless` and `RawDeployment`
    /// are the names releases up to v0.15.x use; kgen accepts both spellings and renders the one
    /// the pinned release understands.
    pub deployment_mode: DeploymentMode,
    /// Namespace of the KServe controller.
    #[serde(default = "defaults::kserve_namespace")]
    #[schemars(regex(pattern = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"))]
    pub namespace: String,
    /// DNS domain InferenceService hostnames are built under (`<isvc>-<ns>.<domain>`).
    #[schemars(regex(pattern = r"^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?$"))]
    pub ingress_domain: String,
    /// Scheme of InferenceService URLs.
    #[serde(default)]
    pub url_scheme: UrlScheme,
    /// Standard mode only: expose InferenceServices with Kubernetes `Ingress` objects of an
    /// IngressClass (`ingress`) or with Gateway API `HTTPRoute`s (`gatewayApi`).
    #[serde(default)]
    pub ingress: IngressFlavour,
    /// IngressClass used when `ingress: ingress` (`istio` is rendered by kgen when the mesh is
    /// upstream Istio).
    #[serde(default = "defaults::ingress_class")]
    #[schemars(regex(pattern = r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$"))]
    pub ingress_class_name: String,
    /// Namespaces where InferenceServices run. On OpenShift Service Mesh 2 they join the
    /// ServiceMeshMemberRoll, so their pods can get sidecars.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub model_namespaces: Vec<DnsLabel>,
    /// Secret with the TLS certificate of the ingress gateway: the Gateway API `https` listener
    /// (Standard mode; the Secret is in the KServe namespace) or the `knative-ingress-gateway`
    /// HTTPS server (Knative mode with Istio; the Secret is in the mesh namespace, where the
    /// gateway pods read it). Referenced by name only: certificates never go in environment
    /// files. With `tls.issuer`, kgen's Certificate writes it (default `kserve-ingress-tls`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$"))]
    pub tls_secret_name: Option<String>,
    /// Install KServe's ClusterServingRuntimes (`kserve-runtime-configs` from v0.17.0, part of
    /// the main chart before).
    #[serde(default = "defaults::yes")]
    pub install_runtimes: bool,
}

/// Deployment mode. Canonical names: `Knative`, `Standard`; legacy: `Serverless`, `RawDeployment`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DeploymentMode {
    /// Knative Serving backs each InferenceService.
    Knative,
    /// Plain Deployments, Services and Ingress/HTTPRoute.
    Standard,
    /// Legacy name of `Knative` (KServe ≤ v0.15).
    Serverless,
    /// Legacy name of `Standard` (KServe ≤ v0.15).
    RawDeployment,
}

impl DeploymentMode {
    /// Whether this is Knative mode under either name.
    pub fn is_knative(self) -> bool {
        matches!(self, DeploymentMode::Knative | DeploymentMode::Serverless)
    }

    /// The canonical name of this mode.
    pub fn canonical(self) -> DeploymentMode {
        if self.is_knative() { DeploymentMode::Knative } else { DeploymentMode::Standard }
    }

    /// Whether this is one of the legacy names.
    pub fn is_legacy_name(self) -> bool {
        matches!(self, DeploymentMode::Serverless | DeploymentMode::RawDeployment)
    }

    /// The name as written.
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentMode::Knative => "Knative",
            DeploymentMode::Standard => "Standard",
            DeploymentMode::Serverless => "Serverless",
            DeploymentMode::RawDeployment => "RawDeployment",
        }
    }
}

/// URL scheme.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UrlScheme {
    /// Plain HTTP.
    #[default]
    Http,
    /// HTTPS (TLS terminated at the gateway).
    Https,
}

/// TLS for InferenceService URLs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Tls {
    /// cert-manager issuer, by reference, that signs a certificate for the ingress domain's
    /// wildcard: kgen renders a cert-manager `Certificate` writing `kserve.tlsSecretName`, and
    /// the gateway's HTTPS listener serving it. The issuer itself (and any key or account it
    /// needs) is the cluster's: kgen never renders a key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<IssuerRef>,
    /// TLS ends in front of the cluster (a load balancer, a CDN, an OpenShift Route) and the
    /// gateways serve plain HTTP behind it: allows `kserve.urlScheme: https` without a
    /// certificate on the gateway (rule KG413).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub terminated_upstream: bool,
}

impl Tls {
    /// Whether nothing is set.
    pub fn is_default(&self) -> bool {
        self == &Tls::default()
    }
}

/// Autoscaling components.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Autoscaling {
    /// Install KEDA (Helm release `keda` in namespace `keda`, chart `kedacore/keda` at the
    /// release's pin, `versions.keda`) before KServe, which creates ScaledObjects for
    /// InferenceServices annotated `serving.kserve.io/autoscalerClass: keda`. KServe releases
    /// from v0.16.0 pin KEDA (rule KG416). `openTelemetry` adds what OTel-metric autoscaling needs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keda: bool,
    /// With `keda`: also install the OpenTelemetry operator (release `opentelemetry-operator`,
    /// its webhooks certified by cert-manager) and KEDA's OTel add-on (release
    /// `keda-otel-scaler` in `keda`), for InferenceServices that scale on a pod metric with
    /// `backend: opentelemetry`: KServe then creates an OpenTelemetryCollector sidecar that pushes
    /// the metric to the add-on, which KEDA asks (rule KG423).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub open_telemetry: bool,
}

impl Autoscaling {
    /// Whether nothing is set.
    pub fn is_default(&self) -> bool {
        self == &Autoscaling::default()
    }
}

/// The LLMInferenceService stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Llm {
    /// Install the LLMInferenceService controller and CRDs (Helm releases `kserve-llmisvc-crd`
    /// and `kserve-llmisvc-resources` in the KServe namespace; charts `kserve-llmisvc-*` from
    /// v0.17.0, `llmisvc-*` in v0.16.0), the Gateway API Inference Extension CRDs the release's
    /// chart bundles, and KServe's LLMInferenceServiceConfig presets (`kserve-runtime-configs`).
    /// Needs Standard mode with `kserve.ingress: gatewayApi` served by Envoy Gateway, to which kgen
    /// adds Envoy AI Gateway (releases `envoy-ai-gateway-crds`, `envoy-ai-gateway` in
    /// `envoy-ai-gateway-system`) as KServe's installer does (rules KG417–KG419, KG421).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enabled: bool,
    /// Also install LeaderWorkerSet (Helm release `lws` in `lws-system`, chart
    /// `oci://registry.k8s.io/lws/charts/lws` at the release's pin, `versions.lws`), which
    /// multi-node LLMInferenceServices (`spec.worker`) run on. Set `false` only where the
    /// cluster already runs it.
    #[serde(default = "defaults::yes")]
    pub leader_worker_set: bool,
}

impl Default for Llm {
    fn default() -> Self {
        Llm { enabled: false, leader_worker_set: true }
    }
}

impl Llm {
    /// Whether nothing is set.
    pub fn is_default(&self) -> bool {
        self == &Llm::default()
    }
}

/// The LocalModel cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LocalModel {
    /// Install the LocalModel controller, CRDs and node agent (Helm releases
    /// `kserve-localmodel-crd` and `kserve-localmodel-resources` in the KServe namespace) and
    /// turn LocalModel on in KServe's `inferenceservice-config` (KServe v0.17.0+, rule KG420).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enabled: bool,
    /// Namespace of the download Jobs and of the PersistentVolumeClaims they fill (kgen creates
    /// it); `inferenceservice-config` `localModel.jobNamespace`.
    #[serde(default = "defaults::localmodel_job_namespace")]
    pub job_namespace: DnsLabel,
    /// Seconds a finished download Job is kept before Kubernetes deletes it; default 3600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_ttl_seconds_after_finished: Option<u32>,
    /// Group that owns the downloaded model files on the volume (the Jobs' `fsGroup`); default
    /// 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_group: Option<u32>,
    /// Leave PersistentVolumes and claims of cached models to the platform team (the
    /// controller then creates none); default false.
    #[serde(default)]
    pub disable_volume_management: bool,
    /// Nodes the node agent (DaemonSet `kserve-localmodelnode-agent`) runs on, which are the
    /// nodes whose local disks hold cached models. Default: the chart's `kserve/localmodel:
    /// worker` label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<IndexMap<String, String>>,
}

impl Default for LocalModel {
    fn default() -> Self {
        LocalModel {
            enabled: false,
            job_namespace: defaults::localmodel_job_namespace(),
            job_ttl_seconds_after_finished: None,
            fs_group: None,
            disable_volume_management: false,
            node_selector: None,
        }
    }
}

impl LocalModel {
    /// Whether nothing is set.
    pub fn is_default(&self) -> bool {
        self == &LocalModel::default()
    }
}

/// A cert-manager issuer by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IssuerRef {
    /// `ClusterIssuer` (any namespace) or `Issuer` (must live in the Certificate's namespace:
    /// the mesh namespace in Knative mode, the KServe namespace in Standard mode).
    pub kind: IssuerKind,
    /// The issuer's name.
    #[schemars(regex(pattern = r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$"), length(max = 253))]
    pub name: String,
}

/// Kind of a cert-manager issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum IssuerKind {
    /// A cluster-scoped `ClusterIssuer`.
    ClusterIssuer,
    /// A namespaced `Issuer`.
    Issuer,
}

/// Standard-mode ingress flavour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum IngressFlavour {
    /// Kubernetes `Ingress` with `kserve.ingressClassName`.
    #[default]
    Ingress,
    /// Gateway API `HTTPRoute`s attached to the `kserve/kserve-ingress-gateway` Gateway.
    GatewayApi,
}

/// Service mesh settings.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Mesh {
    /// `istio` (upstream Istio from its Helm charts), `ossm2` (OpenShift Service Mesh 2,
    /// ServiceMeshControlPlane), `ossm3` (OpenShift Service Mesh 3, Sail `Istio` resource) or
    /// `none`.
    #[serde(default)]
    pub provider: MeshProvider,
    /// Namespace of the mesh control plane and ingress gateway.
    #[serde(default = "defaults::mesh_namespace")]
    #[schemars(regex(pattern = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"))]
    pub namespace: String,
    /// Inject sidecars into every pod of labelled namespaces. KServe does not need it and its
    /// own installs turn it off; keep it `false` unless you know why.
    #[serde(default)]
    pub sidecar_auto_inject: bool,
    /// Allow upstream Istio charts on OpenShift (normally OpenShift Service Mesh is used there).
    #[serde(default)]
    #[serde(rename = "allowUpstreamIstioOnOpenShift")]
    pub allow_upstream_istio_on_openshift: bool,
}

/// Mesh provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MeshProvider {
    /// Upstream Istio from its Helm charts.
    Istio,
    /// OpenShift Service Mesh 2 (Maistra).
    Ossm2,
    /// OpenShift Service Mesh 3 (Sail operator).
    Ossm3,
    /// No mesh.
    #[default]
    None,
}

impl MeshProvider {
    /// Every provider, for what holds for each.
    pub const ALL: [MeshProvider; 4] =
        [MeshProvider::Istio, MeshProvider::Ossm2, MeshProvider::Ossm3, MeshProvider::None];

    /// Whether any Istio flavour is present. Spelt out per provider: a new one is not Istio
    /// unless it says so.
    pub fn is_istio_family(self) -> bool {
        match self {
            MeshProvider::Istio | MeshProvider::Ossm2 | MeshProvider::Ossm3 => true,
            MeshProvider::None => false,
        }
    }

    /// Whether it is OpenShift Service Mesh (installed through OLM, OpenShift only).
    pub fn is_openshift_service_mesh(self) -> bool {
        match self {
            MeshProvider::Ossm2 | MeshProvider::Ossm3 => true,
            MeshProvider::Istio | MeshProvider::None => false,
        }
    }

    /// Name as written in environment files.
    pub fn as_str(self) -> &'static str {
        match self {
            MeshProvider::Istio => "istio",
            MeshProvider::Ossm2 => "ossm2",
            MeshProvider::Ossm3 => "ossm3",
            MeshProvider::None => "none",
        }
    }
}

/// Knative Serving settings (Knative mode).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Knative {
    /// Namespace of Knative Serving and its `KnativeServing` resource.
    #[serde(default = "defaults::knative_namespace")]
    #[schemars(regex(pattern = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"))]
    pub namespace: String,
    /// Namespace of the Knative operator's Helm release (`knative-operator`); defaults to the one
    /// KServe's install script of the pinned release uses (`knative-serving` up to v0.15.x,
    /// `knative-operator` from v0.16.0). A Helm release cannot change namespace in place: when
    /// an upgrade would move it, keep the previous one here (rule KG209).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"))]
    pub operator_namespace: Option<String>,
    /// Extra Knative configuration, by ConfigMap name without `config-` (for example
    /// `autoscaler: {scale-to-zero-grace-period: 60s}`), merged into `KnativeServing.spec.config`.
    /// A key that a typed field below also writes (`features.kubernetes.podspec-affinity`,
    /// `deployment.progress-deadline`) is an error (rule KG411): set it in one place.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub config: IndexMap<String, IndexMap<String, String>>,
    /// Knative Serving feature flags (`config-features`) that InferenceService pod specs need in
    /// Knative mode. Each is `disabled` in Knative until set; `true` writes `enabled`, `false`
    /// writes `disabled`, unset writes nothing. Read only in Knative mode (rule KG412).
    #[serde(default, skip_serializing_if = "KnativeFeatures::is_empty")]
    pub features: KnativeFeatures,
    /// How long Knative waits for a new revision's Deployment to make progress before it fails
    /// the revision (`config-deployment` `progress-deadline`; Knative's default is `600s`). Large
    /// models that take longer to download and load need more (kserve/kserve#3795). A positive
    /// whole number of seconds, minutes or hours: `900s`, `20m`, `1h`. Read only in Knative mode
    /// (rule KG412).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[1-9][0-9]{0,5}(s|m|h)$"))]
    pub progress_deadline: Option<String>,
}

/// Knative Serving `config-features` flags by what they let an InferenceService's pod spec
/// carry. KServe's node-scheduling guide asks for `affinity`, `nodeSelector` and `tolerations`
/// in Knative mode; the others are Knative flags the same pod specs run into (GPU runtime
/// classes, init containers, PVC storage).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KnativeFeatures {
    /// `kubernetes.podspec-affinity`: `affinity` in InferenceService pod specs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<bool>,
    /// `kubernetes.podspec-nodeselector`: `nodeSelector` in InferenceService pod specs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<bool>,
    /// `kubernetes.podspec-tolerations`: `tolerations` in InferenceService pod specs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<bool>,
    /// `kubernetes.podspec-runtimeclassname`: `runtimeClassName` (GPU runtime classes such as
    /// `nvidia`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_class_name: Option<bool>,
    /// `kubernetes.podspec-init-containers`: user `initContainers` (KServe's own storage
    /// initializer does not need it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_containers: Option<bool>,
    /// `kubernetes.podspec-persistent-volume-claim`: PersistentVolumeClaim volumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<bool>,
    /// `kubernetes.podspec-persistent-volume-write`: PersistentVolumeClaim volumes mounted
    /// read-write (needs `persistentVolumeClaim`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_write: Option<bool>,
}

impl KnativeFeatures {
    /// Whether no flag is set.
    pub fn is_empty(&self) -> bool {
        self == &KnativeFeatures::default()
    }

    /// The flags that are set, as `(field name, value)`, field names as written in environment
    /// files (the keys of the catalog's `ruleFacts.knativeConfigKeys.features`).
    pub fn set(&self) -> Vec<(String, bool)> {
        let v = serde_json::to_value(self).expect("flags serialise");
        v.as_object()
            .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_bool()?))).collect())
            .unwrap_or_default()
    }
}

/// cert-manager settings.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CertManager {
    /// Install cert-manager. Set `false` only when the cluster already runs it; KServe's
    /// webhooks always need its CRDs.
    #[serde(default = "defaults::yes")]
    pub install: bool,
    /// Namespace of cert-manager.
    #[serde(default = "defaults::cert_manager_namespace")]
    #[schemars(regex(pattern = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"))]
    pub namespace: String,
}

/// Gateway API settings (Standard mode with `kserve.ingress: gatewayApi`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GatewayApi {
    /// Which controller serves the `kserve-ingress-gateway` Gateway: `envoy` (Envoy Gateway,
    /// installed by kgen) or `istio` (the mesh's Istio).
    #[serde(default)]
    pub implementation: GatewayImplementation,
    /// Install the Gateway API standard CRDs at the pinned tag. Set `false` when the cluster
    /// provides them. Default: `true`, except on OpenShift 4.19+ (`cluster.kubernetesVersion`
    /// 1.32+), whose Ingress Operator installs and owns them: `false` there, and `true` is an
    /// error (rule KG212).
    #[serde(default = "defaults::yes")]
    pub install_crds: bool,
}

/// Gateway API implementation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GatewayImplementation {
    /// Envoy Gateway (GatewayClass `envoy`).
    #[default]
    Envoy,
    /// Istio (GatewayClass `istio`).
    Istio,
}

/// Component version overrides. Formats follow each upstream: Istio chart versions have no
/// leading `v`, Knative operator and cert-manager chart versions do.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Versions {
    /// Istio Helm chart version (`1.27.1`, no `v`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+\.[0-9]+\.[0-9]+$"))]
    pub istio: Option<String>,
    /// Knative operator Helm chart version (`v1.21.1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^v[0-9]+\.[0-9]+\.[0-9]+$"))]
    pub knative_operator: Option<String>,
    /// Knative Serving version written to `KnativeServing.spec.version` (`1.21.1`, no `v`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+\.[0-9]+\.[0-9]+$"))]
    pub knative_serving: Option<String>,
    /// cert-manager Helm chart version (`v1.17.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^v[0-9]+\.[0-9]+\.[0-9]+$"))]
    pub cert_manager: Option<String>,
    /// Gateway API release tag (`v1.5.1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^v[0-9]+\.[0-9]+\.[0-9]+$"))]
    pub gateway_api: Option<String>,
    /// Envoy Gateway Helm chart version (`v1.8.1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^v[0-9]+\.[0-9]+\.[0-9]+$"))]
    pub envoy_gateway: Option<String>,
    /// KEDA Helm chart version (`2.18.0`, no `v`), with `autoscaling.keda`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+\.[0-9]+\.[0-9]+$"))]
    pub keda: Option<String>,
    /// LeaderWorkerSet Helm chart version (`v0.8.0`), with `llm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^v[0-9]+\.[0-9]+\.[0-9]+$"))]
    pub lws: Option<String>,
    /// OpenTelemetry operator Helm chart version (`0.74.3`, no `v`), with
    /// `autoscaling.openTelemetry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+\.[0-9]+\.[0-9]+$"))]
    pub open_telemetry_operator: Option<String>,
    /// KEDA OTel add-on Helm chart version (`v0.0.6`), with `autoscaling.openTelemetry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^v[0-9]+\.[0-9]+\.[0-9]+$"))]
    pub keda_otel_addon: Option<String>,
    /// Envoy AI Gateway Helm chart version (`v1.0.0`), with `llm` on Envoy Gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^v[0-9]+\.[0-9]+\.[0-9]+$"))]
    pub envoy_ai_gateway: Option<String>,
}

impl Versions {
    /// Overrides as `(pin name, version)` pairs, pin names as in the catalog.
    pub fn overrides(&self) -> Vec<(&'static str, &str)> {
        [
            ("istio", &self.istio),
            ("knativeOperator", &self.knative_operator),
            ("knativeServing", &self.knative_serving),
            ("certManager", &self.cert_manager),
            ("gatewayApi", &self.gateway_api),
            ("envoyGateway", &self.envoy_gateway),
            ("keda", &self.keda),
            ("lws", &self.lws),
            ("envoyAiGateway", &self.envoy_ai_gateway),
            ("openTelemetryOperator", &self.open_telemetry_operator),
            ("kedaOtelAddon", &self.keda_otel_addon),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect()
    }
}

/// GitOps delivery.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Gitops {
    /// `argocd` (Applications), `flux` (HelmReleases and Kustomizations) or `none` (an ordered
    /// `install.sh`).
    pub engine: GitopsEngine,
    /// Git repository the engine reads the rendered tree from (required for `argocd` and `flux`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(https://|ssh://|git@)[!-~]+$"))]
    pub repo_url: Option<String>,
    /// Branch, tag or commit the engine follows, one line of letters, digits and `._/+-`. Argo
    /// CD takes it as written; for Flux a 40-digit commit SHA becomes `ref.commit`, a full ref
    /// name (`refs/tags/v1.4.0`) `ref.name`, anything else `ref.branch` (so write tags as
    /// `refs/tags/…`).
    #[serde(default = "defaults::revision")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9_][A-Za-z0-9._/+-]*$"), length(max = 255))]
    pub revision: String,
    /// Folder of the rendered tree in that repository; defaults to `rendered/<environment>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9._/-]+$"))]
    pub path: Option<String>,
    /// Namespace of the engine's own objects; defaults to `argocd` or `flux-system`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"))]
    pub namespace: Option<String>,
    /// Flux: the Secret (in `gitops.namespace`) with the credentials of a private `repoUrl`,
    /// as the GitRepository's `spec.secretRef` (`username`/`password` for HTTPS, `identity`
    /// and `known_hosts` for SSH). Argo CD matches credentials to the URL by itself: create a
    /// repository Secret instead (docs/gitops.md); kgen warns (KG621) if this is set there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$"), length(max = 253))]
    pub secret_ref: Option<String>,
    /// Argo CD project of the Applications.
    #[serde(default = "defaults::argocd_project")]
    #[schemars(regex(pattern = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"))]
    pub project: String,
    /// Rendered-manifests mode: the engine applies the charts' output as plain objects,
    /// committed under `rendered/<env>/hydrated/` by `kgen hydrate --write ENV`, instead of
    /// rendering the charts itself; `kgen render --check` fails when that output is stale or
    /// edited (docs/hydrate.md). Needs `argocd` or `flux` (KG613).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hydrate: bool,
}

/// Mirrors of the upstream sources.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Mirrors {
    /// Chart repositories by the short name `kgen versions` lists under REPOSITORY's owner
    /// (`jetstack`, `istio`, `knative-operator`, `envoyproxy`, `kserve`): a Helm repository
    /// (`https://…`) or an OCI registry path (`oci://…`) holding the same charts and versions.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    #[schemars(with = "std::collections::BTreeMap<String, MirrorUrl>")]
    pub charts: std::collections::BTreeMap<String, String>,
    /// CRD bundles applied from their upstream Git repository (`gatewayApi`, and
    /// `envoyGatewayCrds` where Envoy Gateway's CRDs are applied from Git), by the name
    /// `kgen versions` lists: a mirror of that repository with the same tags.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub crds: std::collections::BTreeMap<String, CrdMirror>,
}

/// A mirror of a CRD bundle's source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CrdMirror {
    /// A Git repository with the upstream repository's tags (what Argo CD and Flux read at the
    /// pinned tag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(https://|ssh://|git@)[!-~]+$"))]
    pub repo: Option<String>,
    /// For `install.sh`: the URL of the single-file release it applies, with `{version}` where
    /// the tag goes (`https://files.example.com/gateway-api/{version}/standard-install.yaml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https://[!-~]*\{version\}[!-~]*$"))]
    pub release_url: Option<String>,
}

impl Mirrors {
    /// Whether no mirror is set.
    pub fn is_empty(&self) -> bool {
        self == &Mirrors::default()
    }
}

/// A chart repository URL: `https://…` (a Helm repository) or `oci://…` (a registry path).
#[derive(JsonSchema)]
pub struct MirrorUrl(
    #[schemars(regex(pattern = r"^(https|oci)://[!-~]+$"))]
    pub String,
);

/// GitOps engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GitopsEngine {
    /// Argo CD.
    Argocd,
    /// Flux.
    Flux,
    /// No engine: `install.sh` with ordered helm/kubectl steps.
    None,
}

impl GitopsEngine {
    /// Every engine, for what holds for each (`render::gitops::engine` gives its module).
    pub const ALL: [GitopsEngine; 3] = [GitopsEngine::Argocd, GitopsEngine::Flux, GitopsEngine::None];

    /// Name as written in environment files.
    pub fn as_str(self) -> &'static str {
        match self {
            GitopsEngine::Argocd => "argocd",
            GitopsEngine::Flux => "flux",
            GitopsEngine::None => "none",
        }
    }
}

/// Helm values overrides, one free-form map per release (SPEC §5 release names).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValuesOverrides {
    /// Values for the `cert-manager` release.
    #[serde(rename = "cert-manager", default, skip_serializing_if = "Option::is_none")]
    pub cert_manager: Option<HelmValues>,
    /// Values for the `istio-base` release.
    #[serde(rename = "istio-base", default, skip_serializing_if = "Option::is_none")]
    pub istio_base: Option<HelmValues>,
    /// Values for the `istio-cni` release (upstream Istio on OpenShift only).
    #[serde(rename = "istio-cni", default, skip_serializing_if = "Option::is_none")]
    pub istio_cni: Option<HelmValues>,
    /// Values for the `istiod` release.
    #[serde(rename = "istiod", default, skip_serializing_if = "Option::is_none")]
    pub istiod: Option<HelmValues>,
    /// Values for the `istio-ingressgateway` release (the gateway chart's schema is closed).
    #[serde(rename = "istio-ingressgateway", default, skip_serializing_if = "Option::is_none")]
    pub istio_ingressgateway: Option<HelmValues>,
    /// Values for the `knative-operator` release.
    #[serde(rename = "knative-operator", default, skip_serializing_if = "Option::is_none")]
    pub knative_operator: Option<HelmValues>,
    /// Values for the `envoy-gateway` release.
    #[serde(rename = "envoy-gateway", default, skip_serializing_if = "Option::is_none")]
    pub envoy_gateway: Option<HelmValues>,
    /// Values for the `envoy-gateway-crds` release (Envoy Gateway's own CRDs).
    #[serde(rename = "envoy-gateway-crds", default, skip_serializing_if = "Option::is_none")]
    pub envoy_gateway_crds: Option<HelmValues>,
    /// Values for the `kserve-crd` release.
    #[serde(rename = "kserve-crd", default, skip_serializing_if = "Option::is_none")]
    pub kserve_crd: Option<HelmValues>,
    /// Values for the `kserve` release (chart `kserve` or `kserve-resources`).
    #[serde(rename = "kserve", default, skip_serializing_if = "Option::is_none")]
    pub kserve: Option<HelmValues>,
    /// Values for the `kserve-runtime-configs` release.
    #[serde(rename = "kserve-runtime-configs", default, skip_serializing_if = "Option::is_none")]
    pub kserve_runtime_configs: Option<HelmValues>,
    /// Values for the `keda` release (`autoscaling.keda`).
    #[serde(rename = "keda", default, skip_serializing_if = "Option::is_none")]
    pub keda: Option<HelmValues>,
    /// Values for the `opentelemetry-operator` release (`autoscaling.openTelemetry`).
    #[serde(rename = "opentelemetry-operator", default, skip_serializing_if = "Option::is_none")]
    pub opentelemetry_operator: Option<HelmValues>,
    /// Values for the `keda-otel-scaler` release (`autoscaling.openTelemetry`).
    #[serde(rename = "keda-otel-scaler", default, skip_serializing_if = "Option::is_none")]
    pub keda_otel_scaler: Option<HelmValues>,
    /// Values for the `envoy-ai-gateway-crds` release (`llm` on Envoy Gateway).
    #[serde(rename = "envoy-ai-gateway-crds", default, skip_serializing_if = "Option::is_none")]
    pub envoy_ai_gateway_crds: Option<HelmValues>,
    /// Values for the `envoy-ai-gateway` release (`llm` on Envoy Gateway).
    #[serde(rename = "envoy-ai-gateway", default, skip_serializing_if = "Option::is_none")]
    pub envoy_ai_gateway: Option<HelmValues>,
    /// Values for the `kserve-llmisvc-crd` release (`llm`).
    #[serde(rename = "kserve-llmisvc-crd", default, skip_serializing_if = "Option::is_none")]
    pub kserve_llmisvc_crd: Option<HelmValues>,
    /// Values for the `kserve-llmisvc-resources` release (`llm`).
    #[serde(rename = "kserve-llmisvc-resources", default, skip_serializing_if = "Option::is_none")]
    pub kserve_llmisvc_resources: Option<HelmValues>,
    /// Values for the `lws` release (`llm.leaderWorkerSet`).
    #[serde(rename = "lws", default, skip_serializing_if = "Option::is_none")]
    pub lws: Option<HelmValues>,
    /// Values for the `kserve-localmodel-crd` release (`localModel`).
    #[serde(rename = "kserve-localmodel-crd", default, skip_serializing_if = "Option::is_none")]
    pub kserve_localmodel_crd: Option<HelmValues>,
    /// Values for the `kserve-localmodel-resources` release (`localModel`).
    #[serde(rename = "kserve-localmodel-resources", default, skip_serializing_if = "Option::is_none")]
    pub kserve_localmodel_resources: Option<HelmValues>,
}

impl ValuesOverrides {
    /// The override for a release name, if any.
    pub fn get(&self, release: &str) -> Option<&HelmValues> {
        match release {
            "cert-manager" => self.cert_manager.as_ref(),
            "istio-base" => self.istio_base.as_ref(),
            "istiod" => self.istiod.as_ref(),
            "istio-cni" => self.istio_cni.as_ref(),
            "istio-ingressgateway" => self.istio_ingressgateway.as_ref(),
            "knative-operator" => self.knative_operator.as_ref(),
            "envoy-gateway" => self.envoy_gateway.as_ref(),
            "envoy-gateway-crds" => self.envoy_gateway_crds.as_ref(),
            "kserve-crd" => self.kserve_crd.as_ref(),
            "kserve" => self.kserve.as_ref(),
            "kserve-runtime-configs" => self.kserve_runtime_configs.as_ref(),
            "keda" => self.keda.as_ref(),
            "opentelemetry-operator" => self.opentelemetry_operator.as_ref(),
            "keda-otel-scaler" => self.keda_otel_scaler.as_ref(),
            "envoy-ai-gateway-crds" => self.envoy_ai_gateway_crds.as_ref(),
            "envoy-ai-gateway" => self.envoy_ai_gateway.as_ref(),
            "kserve-llmisvc-crd" => self.kserve_llmisvc_crd.as_ref(),
            "kserve-llmisvc-resources" => self.kserve_llmisvc_resources.as_ref(),
            "lws" => self.lws.as_ref(),
            "kserve-localmodel-crd" => self.kserve_localmodel_crd.as_ref(),
            "kserve-localmodel-resources" => self.kserve_localmodel_resources.as_ref(),
            _ => None,
        }
    }
}

impl Default for Mesh {
    fn default() -> Self {
        Mesh {
            provider: MeshProvider::None,
            namespace: defaults::mesh_namespace(),
            sidecar_auto_inject: false,
            allow_upstream_istio_on_openshift: false,
        }
    }
}

impl Default for Knative {
    fn default() -> Self {
        Knative {
            namespace: defaults::knative_namespace(),
            operator_namespace: None,
            config: IndexMap::new(),
            features: KnativeFeatures::default(),
            progress_deadline: None,
        }
    }
}

impl Default for CertManager {
    fn default() -> Self {
        CertManager { install: true, namespace: defaults::cert_manager_namespace() }
    }
}

impl Default for GatewayApi {
    fn default() -> Self {
        GatewayApi { implementation: GatewayImplementation::Envoy, install_crds: true }
    }
}

/// Default values, named so the schema can show them.
pub(crate) mod defaults {
    pub(crate) fn yes() -> bool {
        true
    }
    pub(crate) fn localmodel_job_namespace() -> crate::config::model::DnsLabel {
        crate::config::model::DnsLabel("kserve-localmodel-jobs".into())
    }
    pub(crate) fn kserve_namespace() -> String {
        "kserve".into()
    }
    pub(crate) fn ingress_class() -> String {
        "istio".into()
    }
    pub(crate) fn mesh_namespace() -> String {
        "istio-system".into()
    }
    pub(crate) fn knative_namespace() -> String {
        "knative-serving".into()
    }
    pub(crate) fn cert_manager_namespace() -> String {
        "cert-manager".into()
    }
    pub(crate) fn tls_secret_name() -> String {
        "kserve-ingress-tls".into()
    }
    pub(crate) fn revision() -> String {
        "main".into()
    }
    pub(crate) fn argocd_project() -> String {
        "default".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every string the JSON Schema of `T` allows: its variants, as serde names them.
    fn schema_names<T: JsonSchema>() -> Vec<String> {
        fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(m) => {
                    if let Some(serde_json::Value::Array(names)) = m.get("enum") {
                        out.extend(names.iter().filter_map(|n| n.as_str().map(str::to_string)));
                    }
                    if let Some(c) = m.get("const").and_then(serde_json::Value::as_str) {
                        out.push(c.to_string());
                    }
                    m.iter().filter(|(k, _)| *k != "enum").for_each(|(_, x)| walk(x, out));
                }
                serde_json::Value::Array(xs) => xs.iter().for_each(|x| walk(x, out)),
                _ => {}
            }
        }
        let schema = serde_json::to_value(schemars::schema_for!(T)).expect("schemas serialise");
        let mut out = Vec::new();
        walk(&schema, &mut out);
        out
    }

    /// Every `knative.features` field has its Knative flag in the catalog, and the catalog no
    /// flag without a field.
    #[test]
    fn every_knative_feature_has_its_flag() {
        let all = KnativeFeatures {
            affinity: Some(true),
            node_selector: Some(true),
            tolerations: Some(true),
            runtime_class_name: Some(true),
            init_containers: Some(true),
            persistent_volume_claim: Some(true),
            persistent_volume_write: Some(true),
        };
        let fields: Vec<String> = all.set().into_iter().map(|(k, _)| k).collect();
        let flags: Vec<String> =
            crate::catalog::get().rule_facts.knative_config_keys.features.keys().cloned().collect();
        assert_eq!(fields, flags);
    }

    /// `ALL` lists every variant (the schema is derived from the enum itself), so what is checked
    /// for each engine or provider is checked for a new one too.
    #[test]
    fn all_lists_every_engine_and_mesh_provider() {
        let engines: Vec<String> = GitopsEngine::ALL.iter().map(|e| e.as_str().to_string()).collect();
        assert_eq!(schema_names::<GitopsEngine>(), engines);
        let meshes: Vec<String> = MeshProvider::ALL.iter().map(|m| m.as_str().to_string()).collect();
        assert_eq!(schema_names::<MeshProvider>(), meshes);
    }
}
