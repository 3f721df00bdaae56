//! `kgen.lock.json`, the index of one rendered environment (SPEC §5), as a type: written once
//! by rendering, read by everything that looks at a previous render (pruning, history rules,
//! `kgen diff` risks, `kgen explain`) and by the render rules. Nothing parses the lock as
//! untyped JSON or infers from it what it does not record.
//!
//! Formats:
//! - **1** (kgen 0.1.0 before the typed lock): no `format` key, no `mesh` or `gitops`; its
//!   `inputs.digest` hashed the whole catalog and every template. [`Lock::from_slice`] still
//!   reads it, deriving the mesh provider and the GitOps engine from the releases and files it
//!   lists; the next `kgen render` rewrites it in the current format.
//! - **2**: `format`, `mesh.provider`, `gitops.engine`; `inputs.digest` covers only what the
//!   environment used (see [`crate::render`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::model::{GitopsEngine, MeshProvider};

/// The format [`Lock::to_json`] writes.
pub const FORMAT: u32 = 2;

/// The index of one rendered environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lock {
    /// Lock format ([`FORMAT`] when written by this kgen).
    pub format: u32,
    /// The kgen that rendered it.
    pub kgen_version: String,
    /// Environment name.
    pub environment: String,
    /// What it was rendered from.
    pub inputs: Inputs,
    /// The KServe release and deployment mode.
    pub kserve: Kserve,
    /// The mesh.
    pub mesh: Mesh,
    /// How the render is applied.
    pub gitops: Gitops,
    /// The dependency pins the render uses (component → version).
    pub versions: BTreeMap<String, String>,
    /// Helm chart releases, in install order.
    pub releases: Vec<Release>,
    /// CRD bundles applied from Git.
    pub crd_sources: Vec<CrdSource>,
    /// The dependency graph, in application order.
    pub order: Vec<Node>,
    /// `sha256:<hex>` of every other generated file, by path relative to `rendered/<env>/`.
    pub files: BTreeMap<String, String>,
}

/// The inputs of a render.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    /// `sha256:<hex>` over the environment files, the catalog entries and the templates used.
    pub digest: String,
    /// The environment files of the `extends` chain, root layer first.
    pub files: Vec<String>,
}

/// The KServe release of a render.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Kserve {
    /// Release tag (`v0.20.0`).
    pub version: String,
    /// Deployment mode, as the release names it (`Knative`, `Serverless`, `Standard`, …).
    pub deployment_mode: String,
    /// `kserve.modelNamespaces` of the environment: the namespaces that hold its models, which
    /// a later render must not drop unnoticed (rule KG607, the `data-loss` risk). Absent when
    /// there are none, and in indexes written before kgen recorded them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub model_namespaces: Vec<String>,
}

/// The mesh of a render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mesh {
    /// `mesh.provider` of the environment.
    pub provider: MeshProvider,
}

/// The GitOps layer of a render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gitops {
    /// `gitops.engine` of the environment.
    pub engine: GitopsEngine,
    /// `gitops.hydrate` of the environment: the engine applies `hydrated/`, which
    /// `kgen hydrate --write` makes. Absent when off (and in indexes from before it existed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hydrate: bool,
}

/// One Helm chart release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// Stable release name (SPEC §5).
    pub name: String,
    /// Chart name.
    pub chart: String,
    /// Repository (`https://…` or `oci://…`).
    pub repo: String,
    /// Chart version.
    pub version: String,
    /// Namespace Helm keeps the release in.
    pub namespace: String,
    /// With `gitops.hydrate`: what the release's committed hydration must have been made from,
    /// beside the chart, repository, version, name and namespace above (`kgen render --check`
    /// compares it with `hydrated/kgen.hydrated.json`). Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hydration: Option<Hydration>,
}

/// The inputs of one release's `helm template` run other than its chart and names: what
/// `kgen hydrate` records in `kgen.hydrated.json` and the index of a render with
/// `gitops.hydrate` expects there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hydration {
    /// `sha256:` of the values file without its header comment (which names the environment).
    pub values_digest: String,
    /// `--include-crds`: the engines install the chart's `crds/` folder.
    pub include_crds: bool,
    /// `--skip-schema-validation`: the chart's values schema rejects valid values.
    pub skip_schema_validation: bool,
    /// `--kube-version`: the cluster's Kubernetes version.
    pub kube_version: Option<String>,
}

/// One CRD bundle applied from its Git repository at a tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrdSource {
    /// Catalog key (`gatewayApi`).
    pub name: String,
    /// Git repository.
    pub repo: String,
    /// Path of the CRDs in it.
    pub path: String,
    /// Tag.
    pub tag: String,
}

/// One node of the dependency graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// `release/<name>`, `crds/<name>` or `phase/<name>`.
    pub id: String,
    /// Nodes applied (and healthy) first.
    pub needs: Vec<String>,
    /// Argo CD sync wave and `install.sh` step group.
    pub wave: u32,
}

/// A lock as stored, in any format: the fields format 1 lacks are optional.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    #[serde(default)]
    format: Option<u32>,
    kgen_version: String,
    environment: String,
    inputs: Inputs,
    kserve: Kserve,
    #[serde(default)]
    mesh: Option<Mesh>,
    #[serde(default)]
    gitops: Option<Gitops>,
    versions: BTreeMap<String, String>,
    releases: Vec<Release>,
    crd_sources: Vec<CrdSource>,
    order: Vec<Node>,
    files: BTreeMap<String, String>,
}

impl Lock {
    /// Reads a lock of any format kgen has written. A lock of format 1 comes back with the
    /// mesh provider and GitOps engine its releases and files imply; a lock that is not a
    /// kgen lock (damaged, hand-made, truncated) is an error, and callers treat it as absent.
    pub fn from_slice(bytes: &[u8]) -> Result<Lock, serde_json::Error> {
        let s: Stored = serde_json::from_slice(bytes)?;
        let format = s.format.unwrap_or(1);
        let (mesh, gitops) = match (s.mesh, s.gitops) {
            (Some(m), Some(g)) => (m, g),
            (m, g) if format == 1 => (
                m.unwrap_or(Mesh { provider: legacy_mesh(&s.releases, &s.files) }),
                g.unwrap_or(Gitops { engine: legacy_engine(&s.files), hydrate: false }),
            ),
            _ => {
                return Err(serde::de::Error::custom(format!("a format {format} lock has `mesh` and `gitops`")));
            }
        };
        Ok(Lock {
            format,
            kgen_version: s.kgen_version,
            environment: s.environment,
            inputs: s.inputs,
            kserve: s.kserve,
            mesh,
            gitops,
            versions: s.versions,
            releases: s.releases,
            crd_sources: s.crd_sources,
            order: s.order,
            files: s.files,
        })
    }

    /// The file's text: pretty JSON, two-space indent, one trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("the lock serialises");
        s.push('\n');
        s
    }

    /// The release of this name.
    pub fn release(&self, name: &str) -> Option<&Release> {
        self.releases.iter().find(|r| r.name == name)
    }
}

/// The mesh provider of a format-1 lock: upstream Istio from its Helm releases, OpenShift
/// Service Mesh from its control-plane manifests (`<kind>-<name>.yaml`, SPEC §5).
fn legacy_mesh(releases: &[Release], files: &BTreeMap<String, String>) -> MeshProvider {
    let file = |prefix: &str| {
        files.keys().any(|p| p.starts_with("manifests/") && p.rsplit('/').next().is_some_and(|f| f.starts_with(prefix)))
    };
    if releases.iter().any(|r| matches!(r.name.as_str(), "istio-base" | "istiod" | "istio-ingressgateway")) {
        MeshProvider::Istio
    } else if file("servicemeshcontrolplane-") {
        MeshProvider::Ossm2
    } else if files.keys().any(|p| p.starts_with("manifests/_cluster/istio-")) {
        // Sail's cluster-scoped `Istio`.
        MeshProvider::Ossm3
    } else {
        MeshProvider::None
    }
}

/// The GitOps engine of a format-1 lock, from the folder its GitOps files are in.
fn legacy_engine(files: &BTreeMap<String, String>) -> GitopsEngine {
    if files.keys().any(|p| p.starts_with("argocd/")) {
        GitopsEngine::Argocd
    } else if files.keys().any(|p| p.starts_with("flux/")) {
        GitopsEngine::Flux
    } else {
        GitopsEngine::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Locks the last format-1 kgen wrote for the examples (copied from `rendered/`).
    const FORMAT_1: &[(&str, &str, MeshProvider, GitopsEngine)] = &[
        (
            "dev",
            include_str!("../tests/fixtures/lock-format-1/dev.kgen.lock.json"),
            MeshProvider::Istio,
            GitopsEngine::Argocd,
        ),
        (
            "legacy",
            include_str!("../tests/fixtures/lock-format-1/legacy.kgen.lock.json"),
            MeshProvider::Istio,
            GitopsEngine::Flux,
        ),
        (
            "openshift",
            include_str!("../tests/fixtures/lock-format-1/openshift.kgen.lock.json"),
            MeshProvider::Ossm2,
            GitopsEngine::Argocd,
        ),
        (
            "openshift-ossm3",
            include_str!("../tests/fixtures/lock-format-1/openshift-ossm3.kgen.lock.json"),
            MeshProvider::Ossm3,
            GitopsEngine::Argocd,
        ),
        (
            "staging",
            include_str!("../tests/fixtures/lock-format-1/staging.kgen.lock.json"),
            MeshProvider::None,
            GitopsEngine::Flux,
        ),
    ];

    #[test]
    fn a_format_1_lock_reads_with_its_mesh_and_engine_derived() {
        for (env, text, mesh, engine) in FORMAT_1 {
            let lock = Lock::from_slice(text.as_bytes()).unwrap_or_else(|e| panic!("{env}: {e}"));
            assert_eq!(lock.format, 1, "{env}");
            assert_eq!(lock.environment, *env);
            assert_eq!((lock.mesh.provider, lock.gitops.engine), (*mesh, *engine), "{env}");
            assert!(lock.release("kserve").is_some() && !lock.files.is_empty() && !lock.order.is_empty(), "{env}");
            // Everything else it recorded is kept as it was.
            let raw: serde_json::Value = serde_json::from_str(text).unwrap();
            let mut again = serde_json::to_value(&lock).unwrap();
            let m = again.as_object_mut().unwrap();
            for k in ["format", "mesh", "gitops"] {
                m.remove(k);
            }
            assert_eq!(again, raw, "{env}");
        }
    }

    #[test]
    fn a_written_lock_reads_back_equal() {
        let (_, text, ..) = FORMAT_1[3];
        let mut lock = Lock::from_slice(text.as_bytes()).unwrap();
        lock.format = FORMAT;
        let json = lock.to_json();
        assert!(json.starts_with("{\n  \"format\": 2,\n  \"kgenVersion\": ") && json.ends_with("}\n"), "{json}");
        assert!(json.contains(
            "\n  \"mesh\": {\n    \"provider\": \"ossm3\"\n  },\n  \"gitops\": {\n    \"engine\": \"argocd\"\n  },\n"
        ));
        assert_eq!(Lock::from_slice(json.as_bytes()).unwrap(), lock);
    }

    #[test]
    fn what_is_not_a_lock_is_an_error() {
        let (_, text, ..) = FORMAT_1[0];
        let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
        // A format-2 lock must say what format 1 left to be derived.
        v["format"] = 2.into();
        v["gitops"] = serde_json::json!({"engine": "argocd"});
        let err = Lock::from_slice(v.to_string().as_bytes()).unwrap_err();
        assert!(err.to_string().contains("a format 2 lock has `mesh` and `gitops`"), "{err}");
        v["mesh"] = serde_json::json!({"provider": "istio"});
        assert!(Lock::from_slice(v.to_string().as_bytes()).is_ok());
        v.as_object_mut().unwrap().remove("releases");
        assert!(Lock::from_slice(v.to_string().as_bytes()).is_err(), "a lock without releases");
        assert!(Lock::from_slice(br#"{"files": {"a.yaml": "sha256:00"}}"#).is_err());
        assert!(Lock::from_slice(b"not json").is_err());
    }
}
