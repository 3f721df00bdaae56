//! The committed hydration of an environment with `gitops.hydrate: true`:
//! `rendered/<env>/hydrated/`, written by `kgen hydrate --write`, applied by the engine, kept by
//! `kgen render` (which cannot make it: rendering runs no `helm`). [`verify`] tells whether it
//! is what the render says it must be — made from the releases the render's index
//! (`kgen.lock.json`) records, and not edited since — from the files alone, without `helm`.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::INDEX_FILE;
use crate::lock::{Hydration, Lock};
use crate::render::sha256;

/// The folder under `rendered/<env>/` the engines apply the hydrated releases from (one
/// subfolder per release).
pub use crate::render::HYDRATED_FOLDER as FOLDER;

/// What is wrong with a committed hydration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// There is no `hydrated/kgen.hydrated.json`.
    Missing,
    /// `kgen.hydrated.json` does not read (the reason).
    Unreadable(String),
    /// It was hydrated for another environment (its name).
    OtherEnvironment(String),
    /// A release was hydrated from other inputs than the render now installs: what differs.
    Stale {
        /// Release name.
        release: String,
        /// What differs, readable (`values (sha256:… then, sha256:… now)`).
        what: String,
    },
    /// A release the render installs is not hydrated.
    NotHydrated(String),
    /// A hydrated release the render no longer installs.
    Extra(String),
    /// A file whose digest differs from the one the index records (edited by hand), or that
    /// is not a regular file.
    Edited(String),
    /// A file the index records that is not there.
    MissingFile(String),
    /// A file the index does not record.
    ExtraFile(String),
}

impl Finding {
    /// One line, paths relative to the environment's folder; `env` names the environment.
    pub fn describe(&self, env: &str) -> String {
        let h = FOLDER;
        match self {
            Finding::Missing => format!("{env}: `gitops.hydrate` is on, but there is no `{h}/{INDEX_FILE}`"),
            Finding::Unreadable(e) => format!("{env}: `{h}/{INDEX_FILE}` does not read: {e}"),
            Finding::OtherEnvironment(other) => {
                format!("{env}: `{h}/{INDEX_FILE}` was hydrated for environment `{other}`")
            }
            Finding::Stale { release, what } => {
                format!("{env}: release {release} is stale in {h}/: it was hydrated from other {what}")
            }
            Finding::NotHydrated(r) => format!("{env}: release {r} is not in {h}/ (the render installs it)"),
            Finding::Extra(r) => format!("{env}: {h}/ holds release {r}, which the render no longer installs"),
            Finding::Edited(p) => {
                format!("{env}: {h}/{p} differs from what kgen hydrate wrote (its digest in `{INDEX_FILE}`)")
            }
            Finding::MissingFile(p) => format!("{env}: {h}/{p} is missing (`{INDEX_FILE}` lists it)"),
            Finding::ExtraFile(p) => format!("{env}: {h}/{p} was not written by kgen hydrate"),
        }
    }

    /// The release a finding is about, if one.
    pub fn release(&self) -> Option<&str> {
        match self {
            Finding::Stale { release, .. } | Finding::NotHydrated(release) | Finding::Extra(release) => Some(release),
            Finding::Edited(p) | Finding::MissingFile(p) | Finding::ExtraFile(p) => p.split('/').next(),
            _ => None,
        }
    }
}

/// `kgen.hydrated.json` as [`verify`] reads it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    environment: String,
    releases: Vec<IndexRelease>,
    files: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexRelease {
    name: String,
    namespace: String,
    chart: String,
    repo: String,
    version: String,
    values_digest: String,
    // Absent in indexes of kgen before `gitops.hydrate`: then stale.
    #[serde(default)]
    include_crds: Option<bool>,
    #[serde(default)]
    skip_schema_validation: Option<bool>,
    #[serde(default)]
    kube_version: Option<String>,
}

/// Checks the committed hydration of a render whose index is `lock` (with `gitops.hydrate`):
/// `index` is the text of `hydrated/kgen.hydrated.json` (`None` when absent), `files` every
/// other file under `hydrated/` by its path there (`None` for what is not a regular file).
/// Empty when it is what the render needs.
pub fn verify(lock: &Lock, index: Option<&[u8]>, files: &BTreeMap<String, Option<Vec<u8>>>) -> Vec<Finding> {
    let Some(bytes) = index else { return vec![Finding::Missing] };
    let index: Index = match serde_json::from_slice(bytes) {
        Ok(i) => i,
        Err(e) => return vec![Finding::Unreadable(e.to_string())],
    };
    let mut found = Vec::new();
    if index.environment != lock.environment {
        found.push(Finding::OtherEnvironment(index.environment.clone()));
    }
    for rel in &lock.releases {
        let Some(had) = index.releases.iter().find(|r| r.name == rel.name) else {
            found.push(Finding::NotHydrated(rel.name.clone()));
            continue;
        };
        let want = rel.hydration.clone().unwrap_or(Hydration {
            values_digest: String::new(),
            include_crds: false,
            skip_schema_validation: false,
            kube_version: None,
        });
        let mut diffs = Vec::new();
        let mut differ = |what: &str, then: String, now: String| {
            if then != now {
                diffs.push(format!("{what} ({then} then, {now} now)"));
            }
        };
        differ("chart", had.chart.clone(), rel.chart.clone());
        differ("version", had.version.clone(), rel.version.clone());
        differ("repository", had.repo.clone(), rel.repo.clone());
        differ("namespace", had.namespace.clone(), rel.namespace.clone());
        // Digests cut short: a reader compares them, the check compares them whole.
        let short = |d: &str| if d.len() > 19 { format!("{}…", &d[..19]) } else { d.to_string() };
        if had.values_digest != want.values_digest {
            differ("values", short(&had.values_digest), short(&want.values_digest));
        }
        let flag = |b: Option<bool>| b.map_or("unrecorded".to_string(), |b| b.to_string());
        differ("--include-crds", flag(had.include_crds), flag(Some(want.include_crds)));
        differ("--skip-schema-validation", flag(had.skip_schema_validation), flag(Some(want.skip_schema_validation)));
        let kube = |k: &Option<String>| k.clone().unwrap_or_else(|| "none".into());
        differ("--kube-version", kube(&had.kube_version), kube(&want.kube_version));
        if !diffs.is_empty() {
            found.push(Finding::Stale { release: rel.name.clone(), what: diffs.join(", ") });
        }
    }
    for had in &index.releases {
        if lock.release(&had.name).is_none() {
            found.push(Finding::Extra(had.name.clone()));
        }
    }
    for (path, digest) in &index.files {
        match files.get(path) {
            None => found.push(Finding::MissingFile(path.clone())),
            Some(Some(bytes)) if sha256(bytes) == *digest => {}
            Some(_) => found.push(Finding::Edited(path.clone())),
        }
    }
    for path in files.keys().filter(|p| !index.files.contains_key(*p)) {
        found.push(Finding::ExtraFile(path.clone()));
    }
    found
}
