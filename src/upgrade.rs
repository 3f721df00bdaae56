//! `kgen upgrade`: the safe path from what the cluster has (the previous render's
//! `kgen.lock.json`) to a KServe release, as numbered steps. Each step is the exact change to
//! commit to the environment file (`kserve.version`, `versions.*`, and where needed
//! `cluster.kubernetesVersion` or the namespace a Helm release must keep), and every step is
//! edited into the file's text, loaded, resolved, rendered and judged in memory by the same
//! stages as `kgen render` (see [`crate::pipeline`]), the history rules against the step
//! before. Pure: nothing here reads or writes the disk.
//!
//! The path: KServe moves one minor at a time through the newest patch of each minor between
//! (its upgrade guide is written release by release); before each KServe step, every component
//! whose pins would move further than its upgrade policy allows (`upgradePolicies`) walks
//! through stepping stones first (`steppingStones`; the Knative operator and Serving through the
//! operator matrix, each operator shipping both the installed and the next Serving version),
//! held by temporary `versions.*` overrides on the release the cluster runs; the KServe step
//! removes them. Where a step needs a newer Kubernetes than the cluster's, the cluster's upgrade
//! comes first, one minor per step (kgen cannot do it; the step says so).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use crate::catalog::{self, Catalog, Enforcement, KnativeOperator, Release};
use crate::config::load::Workspace;
use crate::config::resolve;
use crate::diag::{Diagnostic, Severity};
use crate::edit::{self, Edit};
use crate::lock::Lock;
use crate::pipeline;
use crate::render::LOCK_FILE;
use crate::version::Version;

/// Version of the JSON format of a plan (`schemaVersion`).
pub const SCHEMA_VERSION: u32 = 1;

/// Pin names of the Knative operator and Knative Serving, which move together.
const OPERATOR: &str = "knativeOperator";
const SERVING: &str = "knativeServing";

/// The plan of one environment.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpgradePlan {
    /// Version of this format.
    pub schema_version: u32,
    /// Environment name.
    pub environment: String,
    /// The environment file the steps change.
    pub file: String,
    /// What the cluster has: the previous render's index.
    pub from: Point,
    /// The KServe release the plan ends at.
    pub target: String,
    /// Why that release: `--to`, or the newest the cluster's Kubernetes supports.
    pub target_reason: String,
    /// `at-target`, `steps` or `blocked`.
    pub status: Status,
    /// The steps, in order; the first is the next one to commit.
    pub steps: Vec<Step>,
    /// When no safe path was found: where and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked: Option<Blocked>,
}

/// A state of the cluster.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Point {
    /// KServe release.
    pub kserve: String,
    /// `cluster.kubernetesVersion` of the environment.
    pub kubernetes: String,
    /// Component versions (pin name → version).
    pub versions: BTreeMap<String, String>,
}

/// How the plan ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The cluster already has the target.
    AtTarget,
    /// Steps to commit, every one checked.
    Steps,
    /// No safe path: `blocked` says where and why.
    Blocked,
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    /// The cluster's Kubernetes, one minor (kgen cannot do it: upgrade the cluster first).
    Kubernetes,
    /// Components through stepping stones, by temporary `versions.*` overrides.
    Components,
    /// The KServe release, to its own pins (the temporary overrides removed).
    Kserve,
}

/// One step: the change to commit and what it moves.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// 1-based.
    pub number: usize,
    /// What it does.
    pub kind: StepKind,
    /// One line for people.
    pub title: String,
    /// The changes to the environment file, in the order `--write` makes them.
    pub changes: Vec<Change>,
    /// What moves on the cluster, component by component.
    pub moves: Vec<Move>,
    /// What to do outside kgen before this step is synced (a cluster upgrade, KServe's manual
    /// migration), and warnings the step's render raises.
    pub notes: Vec<String>,
    /// The environment file's text after this step (what `--write` writes for the next step).
    #[serde(skip)]
    #[schemars(skip)]
    pub text: String,
}

/// One change to the environment file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// Key path (`kserve.version`, `versions.istio`).
    pub key: String,
    /// The value the file has now, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The value to set; absent when the key is removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Why, when it is not a version the step moves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// One component moving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Move {
    /// Pin name (`istio`), `kserve` or `kubernetes`.
    pub component: String,
    /// Its name for people.
    pub name: String,
    /// Version before (absent: newly installed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Version after (absent: no longer installed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// Why no safe path was found.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Blocked {
    /// The step that cannot be made (1-based), after the steps that can.
    pub step: usize,
    /// What it would have done.
    pub title: String,
    /// Why, one line each.
    pub reasons: Vec<String>,
}

/// What a step sets in the environment: the keys `kgen upgrade` manages.
#[derive(Debug, Clone, PartialEq)]
struct Settings {
    kserve: String,
    /// `versions.*` the environment carries; pins absent here follow the release.
    overrides: BTreeMap<String, String>,
    kubernetes: String,
    /// Other scalars to hold (key path → value): namespaces Helm releases must keep.
    keep: BTreeMap<Vec<String>, (String, String)>,
}

/// A step checked in memory.
struct Checked {
    text: String,
    lock: Lock,
    /// Every warning of the step, by rule and key.
    notes: BTreeMap<(String, String), String>,
    /// Namespace fields a release of this step would move out of (KG209): key path → (value, why).
    moved: BTreeMap<Vec<String>, (String, String)>,
}

/// Plans the path for environment `name` of `ws` from `previous` (the lock of what the cluster
/// has) to `to` (default: the newest KServe release the cluster's Kubernetes supports); under
/// `strict` a warning stops a step as an error does (as `kgen render --strict`). `Err` when
/// planning cannot start (the environment file is broken, `--to` is unknown or older).
pub fn plan(
    ws: &Workspace,
    name: &str,
    previous: &Lock,
    to: Option<&str>,
    strict: bool,
) -> Result<UpgradePlan, String> {
    let cat = catalog::get();
    let file = ws.files.get(name).ok_or_else(|| match ws.broken.get(name) {
        Some(path) => format!("`{path}` does not load; fix it first (`kgen validate {name}`)"),
        None => format!("unknown environment `{name}`"),
    })?;
    let text = ws.sources.get(&file.path).cloned().ok_or_else(|| format!("no text for `{}`", file.path))?;
    if cat.release(&previous.kserve.version).is_none() {
        return Err(format!(
            "the previous render has KServe {}, which kgen's catalog does not know",
            previous.kserve.version
        ));
    }
    let kubernetes = effective(ws, name, &["cluster", "kubernetesVersion"])
        .ok_or_else(|| format!("`{}` sets no `cluster.kubernetesVersion`", file.path))?;
    let from = Point {
        kserve: previous.kserve.version.clone(),
        kubernetes: kubernetes.clone(),
        versions: previous.versions.clone(),
    };
    let seen = warnings(&pipeline::check(ws, name).diagnostics).into_keys().collect();
    let mut planner = Planner { cat, ws, name, file: file.path.clone(), strict, steps: Vec::new(), seen };
    let (target, target_reason) = match to {
        Some(t) => {
            let r = cat.release(t).ok_or_else(|| {
                format!("unknown KServe version `{t}`; known releases: {}", cat.release_versions().join(", "))
            })?;
            if Version::parse(&r.version) < Version::parse(&from.kserve) {
                return Err(format!(
                    "`--to {t}` is older than the KServe {} the cluster has: kgen upgrade plans upgrades only",
                    from.kserve
                ));
            }
            (r.version.clone(), "--to".to_string())
        }
        None => planner.default_target(&from, &text),
    };
    let mut out = UpgradePlan {
        schema_version: SCHEMA_VERSION,
        environment: name.to_string(),
        file: file.path.clone(),
        from: from.clone(),
        target: target.clone(),
        target_reason,
        status: Status::Steps,
        steps: Vec::new(),
        blocked: None,
    };
    match planner.walk(&from, previous, &text, &target) {
        Ok(()) => {}
        Err(b) => {
            out.status = Status::Blocked;
            out.blocked = Some(b);
        }
    }
    out.steps = planner.steps;
    if out.status == Status::Steps && out.steps.is_empty() {
        out.status = Status::AtTarget;
    }
    Ok(out)
}

struct Planner<'a> {
    cat: &'static Catalog,
    ws: &'a Workspace,
    name: &'a str,
    file: String,
    strict: bool,
    steps: Vec<Step>,
    /// The warnings of the step before (of the file as it is, before the first), by rule and
    /// key: a step's notes are the warnings it raises anew.
    seen: BTreeSet<(String, String)>,
}

impl Planner<'_> {
    /// What stops a step: errors, and under `--strict` warnings.
    fn failing(&self, diags: &[Diagnostic]) -> Vec<String> {
        if self.strict {
            let escalated: Vec<Diagnostic> = diags
                .iter()
                .filter(|d| d.severity == Severity::Warning && !d.ignore_note)
                .map(|d| Diagnostic { severity: Severity::Error, ..d.clone() })
                .chain(diags.iter().filter(|d| d.severity == Severity::Error).cloned())
                .collect();
            errors(&escalated)
        } else {
            errors(diags)
        }
    }

    /// The newest release whose own pins fit the cluster's Kubernetes (and that validates).
    fn default_target(&self, from: &Point, text: &str) -> (String, String) {
        let k8s = Version::parse(&from.kubernetes).unwrap_or_default();
        let used: BTreeSet<String> = from.versions.keys().cloned().collect();
        let mut releases: Vec<&Release> = self.cat.releases.iter().collect();
        releases.sort_by_key(|r| std::cmp::Reverse(Version::parse(&r.version)));
        let newest = releases.first().map(|r| r.version.clone()).unwrap_or_default();
        for r in releases {
            if Version::parse(&r.version) <= Version::parse(&from.kserve) {
                break;
            }
            let pins: BTreeMap<String, String> =
                r.pins.iter().filter(|(k, _)| used.contains(*k)).map(|(k, v)| (k.clone(), v.clone())).collect();
            let (min, _) = self.cat.kubernetes_minimum(r, &pins);
            if min.minor() > k8s.minor() {
                continue;
            }
            let settings = Settings {
                kserve: r.version.clone(),
                overrides: BTreeMap::new(),
                kubernetes: from.kubernetes.clone(),
                keep: BTreeMap::new(),
            };
            if self.env_errors(text, &settings).is_empty() {
                let why = if r.version == newest {
                    "the newest release kgen knows".to_string()
                } else {
                    format!(
                        "the newest release Kubernetes {} supports; newer ones need a newer Kubernetes: `--to {newest}` plans the cluster upgrades too",
                        from.kubernetes
                    )
                };
                return (r.version.clone(), why);
            }
        }
        (
            from.kserve.clone(),
            format!("no newer release fits Kubernetes {}: pass `--to` to plan past it", from.kubernetes),
        )
    }

    /// Errors of the environment rules for `settings` edited into `text` (no render).
    fn env_errors(&self, text: &str, settings: &Settings) -> Vec<String> {
        let Ok((edits, _)) = self.edits(text, settings) else { return vec!["cannot edit".into()] };
        let Ok(new) = edit::apply(text, &edits) else { return vec!["cannot edit".into()] };
        let ws = self.ws.with_text(self.name, &new);
        let c = pipeline::check(&ws, self.name);
        // The target is what fits the cluster; warnings (`--strict`) stop a step, not the choice.
        errors(&c.diagnostics).into_iter().chain(errors(&chain_diagnostics(&ws, self.name))).collect()
    }

    /// Every step from `from` to `target`.
    fn walk(&mut self, from: &Point, previous: &Lock, text: &str, target: &str) -> Result<(), Blocked> {
        let mut lock = previous.clone();
        let mut text = text.to_string();
        let mut settings = Settings {
            kserve: from.kserve.clone(),
            overrides: overrides_of(self.cat, &from.kserve, &from.versions),
            kubernetes: from.kubernetes.clone(),
            keep: BTreeMap::new(),
        };
        let mut hops = hops(self.cat, &from.kserve, target);
        if hops.is_empty() && !settings.overrides.is_empty() {
            // On the target already, with overrides left (a plan resumed half-way): walk to the
            // release's own pins as a step of its own.
            hops.extend(self.cat.release(&from.kserve));
        }
        for hop in hops {
            let pins = self.pins_at(&lock, hop);
            let chains = self.chains(&lock.versions, &pins).map_err(|reason| Blocked {
                step: self.steps.len() + 1,
                title: format!("KServe {} → {}", settings.kserve, hop.version),
                reasons: vec![reason],
            })?;
            // Steps before the KServe step: as many as the longest chain has stones. Every
            // component moves at each of them as far as it may — one that needs no stone goes
            // at the first (dependencies before KServe; a newer component also runs on the newer
            // Kubernetes a later stone may need) — and the KServe step brings the last stones
            // to the release's pins.
            let n = chains.iter().map(|c| c.len().saturating_sub(1)).max().unwrap_or(0);
            for j in 0..n {
                let mut versions = lock.versions.clone();
                for c in &chains {
                    if let Some(state) = c.get(j.min(c.len().saturating_sub(1))) {
                        versions.extend(state.iter().map(|(k, v)| (k.clone(), v.clone())));
                    }
                }
                let next =
                    Settings { overrides: overrides_of(self.cat, &settings.kserve, &versions), ..settings.clone() };
                self.step(&mut lock, &mut text, &mut settings, next, StepKind::Components)?;
            }
            let kind = if hop.version == settings.kserve { StepKind::Components } else { StepKind::Kserve };
            let next = Settings { kserve: hop.version.clone(), overrides: BTreeMap::new(), ..settings.clone() };
            self.step(&mut lock, &mut text, &mut settings, next, kind)?;
        }
        Ok(())
    }

    /// The versions the environment installs at `release` on its own pins, as its plan says.
    fn pins_at(&self, lock: &Lock, release: &Release) -> BTreeMap<String, String> {
        let used: BTreeSet<&String> = lock.versions.keys().collect();
        release.pins.iter().filter(|(k, _)| used.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Per component (or component pair), the versions to pass through up to `to` (its last),
    /// each a map of the pins it sets.
    fn chains(
        &self,
        from: &BTreeMap<String, String>,
        to: &BTreeMap<String, String>,
    ) -> Result<Vec<Vec<BTreeMap<String, String>>>, String> {
        let mut out = Vec::new();
        for (component, target) in to {
            if component == OPERATOR || component == SERVING {
                continue;
            }
            let Some(current) = from.get(component) else { continue };
            let mut seq = self.simple_path(component, current, target)?;
            seq.push(target.clone());
            out.push(seq.into_iter().map(|v| BTreeMap::from([(component.clone(), v)])).collect());
        }
        if let (Some(op0), Some(s0), Some(op1), Some(s1)) =
            (from.get(OPERATOR), from.get(SERVING), to.get(OPERATOR), to.get(SERVING))
        {
            let mut path = knative_path(self.cat, (op0, s0), (op1, s1))?;
            path.push((op1.clone(), s1.clone()));
            out.push(
                path.into_iter()
                    .map(|(op, s)| BTreeMap::from([(OPERATOR.to_string(), op), (SERVING.to_string(), s)]))
                    .collect(),
            );
        }
        Ok(out)
    }

    /// The stepping stones of one component from `from` to `to` under its upgrade policy.
    fn simple_path(&self, component: &str, from: &str, to: &str) -> Result<Vec<String>, String> {
        let Some(policy) = self.cat.upgrade_policy(component) else { return Ok(Vec::new()) };
        let Some(distance) = policy.distance else { return Ok(Vec::new()) };
        let (Some(a), Some(b)) = (Version::parse(from), Version::parse(to)) else { return Ok(Vec::new()) };
        if b < a {
            return if policy.up_only {
                Ok(Vec::new())
            } else {
                Err(format!("{} would move down, {from} → {to}: kgen upgrade plans upgrades only", policy.name))
            };
        }
        let Some(skipped) = crate::skew::minors_between(&a, &b) else {
            return Err(format!(
                "{} {from} → {to} changes major version, which its upgrade policy does not cover",
                policy.name
            ));
        };
        if (skipped.len() as u64) < distance {
            return Ok(Vec::new());
        }
        let stones = self.cat.stepping_stones(component);
        let mut out = Vec::new();
        for m in skipped.iter().skip(distance as usize - 1).step_by(distance as usize) {
            let minor = Version::parse(m).map(|v| v.minor());
            match stones.iter().find(|s| Version::parse(s).map(|v| v.minor()) == minor) {
                Some(s) => out.push(s.clone()),
                // Advice only: without a known stone, the step skips (its render says so).
                None if policy.enforcement == Some(Enforcement::Recommended) => return Ok(Vec::new()),
                None => {
                    return Err(format!(
                        "{} {from} → {to} needs a {m}.x on the way, and kgen's catalog lists none (`steppingStones`): set `versions.{component}` to one yourself, render and sync it, and plan again",
                        policy.name
                    ));
                }
            }
        }
        Ok(out)
    }

    /// Makes one step (with the Kubernetes steps it needs first), checked against the lock of
    /// the step before, and records it.
    fn step(
        &mut self,
        lock: &mut Lock,
        text: &mut String,
        settings: &mut Settings,
        mut next: Settings,
        kind: StepKind,
    ) -> Result<(), Blocked> {
        // The Kubernetes the step needs, one minor at a time first.
        let release = self.cat.release(&next.kserve).expect("hops are catalog releases");
        let mut installs: BTreeMap<String, String> = BTreeMap::new();
        for k in lock.versions.keys() {
            if let Some(v) = next.overrides.get(k).or(release.pins.get(k)) {
                installs.insert(k.clone(), v.clone());
            }
        }
        let (min, why) = self.cat.kubernetes_minimum(release, &installs);
        let have = Version::parse(&settings.kubernetes).unwrap_or_default();
        if min.minor() > have.minor() {
            let (major, from_minor) = have.minor();
            for m in from_minor + 1..=min.minor().1 {
                let k8s = format!("{major}.{m}");
                let up = Settings { kubernetes: k8s.clone(), ..settings.clone() };
                // `why` is `<pin> <version> (<source>)`: the pin by its name.
                let why = match why.split_once(' ') {
                    Some((pin, rest)) => format!("{} {rest}", name_of(self.cat, pin)),
                    None => why.clone(),
                };
                let note = format!(
                    "upgrade the cluster to Kubernetes {k8s} before this change is synced (kgen cannot; one minor at a time, https://kubernetes.io/releases/version-skew-policy/): the next steps need Kubernetes {min} for {why}"
                );
                self.commit(lock, text, settings, up, StepKind::Kubernetes, vec![note])?;
            }
            next.kubernetes = settings.kubernetes.clone();
        }
        if next == *settings {
            return Ok(());
        }
        self.commit(lock, text, settings, next, kind, Vec::new())
    }

    fn commit(
        &mut self,
        lock: &mut Lock,
        text: &mut String,
        settings: &mut Settings,
        mut next: Settings,
        kind: StepKind,
        mut notes: Vec<String>,
    ) -> Result<(), Blocked> {
        let number = self.steps.len() + 1;
        let mut checked = self.check(text, &next, lock).map_err(|reasons| Blocked {
            step: number,
            title: title(self.cat, kind, settings, &next),
            reasons,
        })?;
        if !checked.moved.is_empty() {
            // Keep every Helm release where the cluster has it (KG209), for good.
            next.keep.extend(checked.moved.clone());
            checked = self.check(text, &next, lock).map_err(|reasons| Blocked {
                step: number,
                title: title(self.cat, kind, settings, &next),
                reasons,
            })?;
        }
        let (_, changes) = self.edits(text, &next).map_err(|e| Blocked {
            step: number,
            title: title(self.cat, kind, settings, &next),
            reasons: vec![e],
        })?;
        notes.extend(checked.notes.iter().filter(|(k, _)| !self.seen.contains(*k)).map(|(_, line)| line.clone()));
        self.seen = checked.notes.keys().cloned().collect();
        let moves = moves(self.cat, lock, &checked.lock, settings, &next);
        self.steps.push(Step {
            number,
            kind,
            title: title(self.cat, kind, settings, &next),
            changes,
            moves,
            notes,
            text: checked.text.clone(),
        });
        *lock = checked.lock;
        *text = checked.text;
        *settings = next;
        Ok(())
    }

    /// `settings` edited into `text`, loaded, resolved, rendered and judged in memory, the
    /// history rules against `previous`; the reasons when any stage finds an error.
    fn check(&self, text: &str, settings: &Settings, previous: &Lock) -> Result<Checked, Vec<String>> {
        let (edits, _) = self.edits(text, settings).map_err(|e| vec![e])?;
        let new = edit::apply(text, &edits).map_err(|e| vec![format!("cannot edit `{}`: {e}", self.file)])?;
        let ws = self.ws.with_text(self.name, &new);
        let mut earlier = chain_diagnostics(&ws, self.name);
        let c = pipeline::check(&ws, self.name);
        earlier.extend(c.diagnostics);
        let Some(judged) = c.judged.filter(|_| self.failing(&earlier).is_empty()) else {
            return Err(self.failing(&earlier));
        };
        let rendered = pipeline::render(&judged, &ws.sources).map_err(|e| vec![e.to_string()])?;
        let mut diags = pipeline::judge_render(&judged, &rendered, crate::rules::render::Depth::Full);
        let history = pipeline::judge_history(&judged, previous);
        // A Helm release that would move namespace keeps the old one (its field is set).
        let mut moved = BTreeMap::new();
        for rel in &judged.plan.releases {
            if let Some(was) = previous.release(&rel.name)
                && was.namespace != rel.namespace
                && let Some((pointer, key)) = crate::rules::history::namespace_field(&rel.name)
            {
                let path: Vec<String> = pointer.trim_start_matches('/').split('/').map(str::to_string).collect();
                let why = format!(
                    "keeps Helm release `{}` in `{}`, where the cluster has it (`{key}`, KG209)",
                    rel.name, was.namespace
                );
                moved.insert(path, (was.namespace.clone(), why));
            }
        }
        if !moved.is_empty() {
            return Ok(Checked { text: new, lock: previous.clone(), notes: BTreeMap::new(), moved });
        }
        diags.extend(history.iter().cloned());
        let errs = self.failing(&diags);
        if !errs.is_empty() {
            return Err(errs);
        }
        earlier.extend(diags);
        let notes = warnings(&earlier);
        let lock_text = rendered.files.get(LOCK_FILE).ok_or_else(|| vec!["the render has no index".to_string()])?;
        let lock = Lock::from_slice(lock_text.as_bytes()).map_err(|e| vec![format!("the render's index: {e}")])?;
        Ok(Checked { text: new, lock, notes, moved: BTreeMap::new() })
    }

    /// The edits that make the environment file say `settings`, and the changes they make.
    fn edits(&self, text: &str, settings: &Settings) -> Result<(Vec<Edit>, Vec<Change>), String> {
        let ws = self.ws.with_text(self.name, text);
        let chain = resolve::chain(&ws, self.name).map_err(|_| format!("`{}` does not load", self.file))?;
        let (own, layers) = chain.split_last().ok_or("no environment file")?;
        let at = |v: &Value, path: &[&str]| -> Option<String> {
            let mut x = v;
            for k in path {
                x = x.get(*k)?;
            }
            match x {
                Value::String(s) => Some(s.clone()),
                Value::Null | Value::Object(_) | Value::Array(_) => None,
                other => Some(other.to_string()),
            }
        };
        let in_file = |path: &[&str]| at(&own.value, path);
        let in_layers = |path: &[&str]| layers.iter().rev().find_map(|l| at(&l.value, path));
        let (mut edits, mut changes) = (Vec::new(), Vec::new());
        let mut set = |path: &[&str], value: &str, why: Option<String>| {
            let effective = in_file(path).or_else(|| in_layers(path));
            if effective.as_deref() != Some(value) {
                edits.push(Edit::Set(path.iter().map(|s| s.to_string()).collect(), value.to_string()));
                changes.push(Change { key: path.join("."), from: in_file(path), to: Some(value.to_string()), why });
            }
        };
        set(&["kserve", "version"], &settings.kserve, None);
        let release = self.cat.release(&settings.kserve).ok_or("unknown release")?;
        // Every `versions.*` the file or a layer sets, and every override the step needs.
        let mut keys: BTreeSet<String> = settings.overrides.keys().cloned().collect();
        for f in &chain {
            if let Some(Value::Object(m)) = f.value.get("versions") {
                keys.extend(m.keys().cloned());
            }
        }
        let mut removes = Vec::new();
        for k in &keys {
            let path = ["versions", k.as_str()];
            match settings.overrides.get(k) {
                Some(v) => set(&path, v, None),
                None => match (in_file(&path), in_layers(&path), release.pins.get(k)) {
                    // A layer's override cannot be removed from here: the file says the pin.
                    (_, Some(l), Some(pin)) if &l != pin => {
                        set(&path, pin, Some("a layer sets another version".into()))
                    }
                    (Some(_), _, _) => removes.push(k.clone()),
                    _ => {}
                },
            }
        }
        set(&["cluster", "kubernetesVersion"], &settings.kubernetes, None);
        for (path, (value, why)) in &settings.keep {
            let p: Vec<&str> = path.iter().map(String::as_str).collect();
            set(&p, value, Some(why.clone()));
        }
        for k in removes {
            let path = ["versions", k.as_str()];
            edits.push(Edit::Remove(path.iter().map(|s| s.to_string()).collect()));
            changes.push(Change { key: path.join("."), from: in_file(&path), to: None, why: None });
        }
        Ok((edits, changes))
    }
}

/// The overrides that hold `versions` on `release`: those that differ from its pins.
fn overrides_of(cat: &Catalog, release: &str, versions: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let pins = cat.release(release).map(|r| r.pins.clone()).unwrap_or_default();
    versions.iter().filter(|(k, v)| pins.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The KServe releases to step through: the newest patch of each minor after `from`'s, up to
/// `to` (itself last).
fn hops<'c>(cat: &'c Catalog, from: &str, to: &str) -> Vec<&'c Release> {
    let (Some(a), Some(b)) = (Version::parse(from), Version::parse(to)) else { return Vec::new() };
    if b <= a {
        return Vec::new();
    }
    let mut by_minor: BTreeMap<(u64, u64), &Release> = BTreeMap::new();
    for r in &cat.releases {
        let Some(v) = Version::parse(&r.version) else { continue };
        if v > a && v.minor() > a.minor() && v.minor() < b.minor() {
            let e = by_minor.entry(v.minor()).or_insert(r);
            if Version::parse(&e.version) < Some(v) {
                *e = r;
            }
        }
    }
    let mut out: Vec<&Release> = by_minor.into_values().collect();
    out.extend(cat.release(to));
    out
}

/// The Knative operator and Serving states between `from` and `to`, fewest first: each step
/// moves Serving at most one minor, with an operator (never older than the one before) that
/// ships both the installed and the next Serving version. Prefers, for each Serving minor, the
/// newest operator of that same minor (its Kubernetes minimum is the lowest that ships it).
fn knative_path(cat: &Catalog, from: (&str, &str), to: (&str, &str)) -> Result<Vec<(String, String)>, String> {
    let v = |s: &str| Version::parse(s).unwrap_or_default();
    let (op0, s0, op1, s1) = (v(from.0), v(from.1), v(to.0), v(to.1));
    if (op0.clone(), s0.clone()) == (op1.clone(), s1.clone()) {
        return Ok(Vec::new());
    }
    if s1 < s0 || op1 < op0 {
        return Err(format!(
            "Knative would move down ({} {} → {} {}): kgen upgrade plans upgrades only",
            from.0, from.1, to.0, to.1
        ));
    }
    let ops: Vec<&KnativeOperator> =
        cat.knative_operators().iter().filter(|o| v(&o.version) >= op0 && v(&o.version) <= op1).collect();
    // Candidate operators in order of preference for a Serving minor.
    let ranked = |minor: (u64, u64)| -> Vec<&KnativeOperator> {
        let mut same: Vec<&KnativeOperator> = ops.iter().copied().filter(|o| v(&o.version).minor() == minor).collect();
        same.sort_by_key(|o| std::cmp::Reverse(v(&o.version)));
        let mut other: Vec<&KnativeOperator> = ops.iter().copied().filter(|o| v(&o.version).minor() != minor).collect();
        other.sort_by_key(|o| v(&o.version));
        same.extend(other);
        same
    };
    type State = (String, String);
    let start: State = (from.0.to_string(), from.1.to_string());
    let goal: State = (to.0.to_string(), to.1.to_string());
    let mut parent: BTreeMap<State, State> = BTreeMap::new();
    let mut queue = VecDeque::from([start.clone()]);
    let mut seen = BTreeSet::from([start.clone()]);
    while let Some(state) = queue.pop_front() {
        let (op, s) = (v(&state.0), v(&state.1));
        let (maj, min) = s.minor();
        for next_minor in [(maj, min + 1), (maj, min)] {
            for o in ranked(next_minor) {
                if v(&o.version) < op || !o.bundles(&state.1) {
                    continue;
                }
                // The goal itself, else the newest Serving of that minor the operator ships.
                let candidates: Vec<String> = if o.version == goal.0 && v(&goal.1).minor() == next_minor {
                    vec![goal.1.clone()]
                } else {
                    o.servings
                        .iter()
                        .rev()
                        .filter(|x| v(x).minor() == next_minor && v(x) >= s)
                        .take(1)
                        .cloned()
                        .collect()
                };
                for serving in candidates {
                    let next: State = (o.version.clone(), serving);
                    if v(&next.1) > s1 || !seen.insert(next.clone()) {
                        continue;
                    }
                    parent.insert(next.clone(), state.clone());
                    if next == goal {
                        let mut path = Vec::new();
                        let mut at = parent[&goal].clone();
                        while at != start {
                            path.push(at.clone());
                            at = parent[&at].clone();
                        }
                        path.reverse();
                        return Ok(path);
                    }
                    queue.push_back(next);
                }
            }
        }
    }
    Err(format!(
        "no chain of Knative operator releases in kgen's catalog moves Knative Serving {} → {} one minor at a time with an operator that ships each step (operator {} → {})",
        from.1, to.1, from.0, to.0
    ))
}

/// The warnings among `diags` (notes of ignored rules aside): rule and key → one line.
fn warnings(diags: &[Diagnostic]) -> BTreeMap<(String, String), String> {
    diags
        .iter()
        .filter(|d| d.severity == Severity::Warning && !d.ignore_note)
        .map(|d| {
            let line = match &d.hint {
                Some(h) => format!("{} [{}]: {h}", d.message, d.code),
                None => format!("{} [{}]", d.message, d.code),
            };
            ((d.code.as_str().to_string(), d.key_path.clone().unwrap_or_default()), line)
        })
        .collect()
}

fn errors(diags: &[Diagnostic]) -> Vec<String> {
    diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| {
            let at = d.key_path.as_deref().map(|k| format!("`{k}`: ")).unwrap_or_default();
            match &d.hint {
                Some(h) => format!("[{}] {at}{} ({h})", d.code, d.message),
                None => format!("[{}] {at}{}", d.code, d.message),
            }
        })
        .collect()
}

/// The single-file problems of the files an environment is built from.
fn chain_diagnostics(ws: &Workspace, name: &str) -> Vec<Diagnostic> {
    let files: BTreeSet<String> = match resolve::chain(ws, name) {
        Ok(c) => c.iter().map(|f| f.path.clone()).collect(),
        Err(d) => return d,
    };
    ws.diagnostics.iter().filter(|d| d.file.as_ref().is_some_and(|f| files.contains(f))).cloned().collect()
}

/// The value a key has for an environment (its file, else the nearest layer).
fn effective(ws: &Workspace, name: &str, path: &[&str]) -> Option<String> {
    let chain = resolve::chain(ws, name).ok()?;
    chain.iter().rev().find_map(|f| {
        let mut x = &f.value;
        for k in path {
            x = x.get(*k)?;
        }
        x.as_str().map(str::to_string)
    })
}

fn name_of(cat: &Catalog, component: &str) -> String {
    cat.upgrade_policies.get(component).map_or_else(|| component.to_string(), |p| p.name.clone())
}

/// What moves between two locks (and the Kubernetes version between two settings).
fn moves(cat: &Catalog, before: &Lock, after: &Lock, was: &Settings, now: &Settings) -> Vec<Move> {
    let mut out = Vec::new();
    let mut push = |component: &str, from: Option<&String>, to: Option<&String>| {
        if from != to {
            out.push(Move {
                component: component.to_string(),
                name: name_of(cat, component),
                from: from.cloned(),
                to: to.cloned(),
            });
        }
    };
    push("kubernetes", Some(&was.kubernetes), Some(&now.kubernetes));
    push("kserve", Some(&before.kserve.version), Some(&after.kserve.version));
    let keys: BTreeSet<&String> = before.versions.keys().chain(after.versions.keys()).collect();
    for k in keys {
        push(k, before.versions.get(k), after.versions.get(k));
    }
    out
}

fn title(cat: &Catalog, kind: StepKind, was: &Settings, now: &Settings) -> String {
    match kind {
        StepKind::Kubernetes => {
            format!("Kubernetes {} → {} (upgrade the cluster first)", was.kubernetes, now.kubernetes)
        }
        StepKind::Kserve => format!("KServe {} → {}", was.kserve, now.kserve),
        StepKind::Components => {
            let mut parts: Vec<String> = now
                .overrides
                .iter()
                .filter(|(k, v)| was.overrides.get(*k) != Some(*v))
                .map(|(k, v)| format!("{} {v}", name_of(cat, k)))
                .collect();
            if parts.is_empty() {
                parts.push("the release's own pins".into());
            }
            format!("{} on KServe {}", parts.join(", "), now.kserve)
        }
    }
}

/// The JSON Schema of the plan's JSON (`kgen upgrade --format json`).
pub fn schema() -> Value {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let mut value = serde_json::to_value(generator.into_root_schema_for::<UpgradePlan>()).expect("schema serialises");
    if let Value::Object(m) = &mut value {
        m.insert("$id".into(), Value::String("https://kgen.dev/schemas/upgrade.schema.json".into()));
        if let Some(p) = m.get_mut("properties").and_then(|p| p.get_mut("schemaVersion")).and_then(Value::as_object_mut)
        {
            p.insert("const".into(), Value::from(SCHEMA_VERSION));
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knative_moves_one_minor_with_the_operator_of_each_minor() {
        let cat = catalog::get();
        let path = knative_path(cat, ("v1.15.7", "1.15.2"), ("v1.21.1", "1.21.1")).unwrap();
        let got: Vec<String> = path.iter().map(|(o, s)| format!("{o}/{s}")).collect();
        assert_eq!(got, ["v1.16.6/1.16.3", "v1.17.8/1.17.1", "v1.18.3/1.18.2", "v1.19.6/1.19.8", "v1.20.2/1.20.3"]);
        // Each operator ships the Serving before it and its own.
        let mut prev = ("v1.15.7".to_string(), "1.15.2".to_string());
        for (o, s) in path.iter().chain([&("v1.21.1".to_string(), "1.21.1".to_string())]) {
            let op = cat.knative_operator(o).unwrap();
            assert!(op.bundles(&prev.1) && op.bundles(s), "{o} {s} after {prev:?}");
            prev = (o.clone(), s.clone());
        }
        assert!(knative_path(cat, ("v1.21.1", "1.21.1"), ("v1.21.1", "1.21.1")).unwrap().is_empty());
        assert!(knative_path(cat, ("v1.21.1", "1.21.1"), ("v1.15.7", "1.15.2")).is_err());
    }

    fn legacy() -> (Workspace, Lock) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let ws = Workspace::load(root).unwrap();
        let lock = Lock::from_slice(&std::fs::read(root.join("rendered/legacy").join(LOCK_FILE)).unwrap()).unwrap();
        (ws, lock)
    }

    #[test]
    fn without_a_stepping_stone_the_plan_is_blocked_and_says_why() {
        let mut cat = catalog::get().clone();
        cat.stepping_stones.remove("istio");
        let cat: &'static Catalog = Box::leak(Box::new(cat));
        let (ws, lock) = legacy();
        let blocked = catalog::with_catalog(cat, || plan(&ws, "legacy", &lock, Some("v0.16.0"), false)).unwrap();
        assert_eq!(blocked.status, Status::Blocked);
        assert!(blocked.steps.is_empty());
        let b = blocked.blocked.unwrap();
        assert_eq!(b.step, 1);
        assert!(
            b.reasons[0].contains("Istio 1.23.2 → 1.27.1 needs a 1.24.x on the way, and kgen's catalog lists none"),
            "{b:?}"
        );
        // With them, the same plan goes through.
        let ok = plan(&ws, "legacy", &lock, Some("v0.16.0"), false).unwrap();
        assert_eq!(ok.status, Status::Steps);
        assert_eq!(ok.steps.len(), 4);
    }

    #[test]
    fn a_plan_resumed_on_the_target_release_walks_its_overrides_to_the_pins() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let ws = Workspace::load(root).unwrap();
        let mut lock = Lock::from_slice(&std::fs::read(root.join("rendered/prod").join(LOCK_FILE)).unwrap()).unwrap();
        // Half-way: KServe v0.20.0 already, Knative still held at 1.19 by overrides.
        lock.versions.insert(SERVING.into(), "1.19.8".into());
        let p = plan(&ws, "prod", &lock, None, false).unwrap();
        assert_eq!((p.status, p.target.as_str()), (Status::Steps, "v0.20.0"), "{p:#?}");
        let moves: Vec<String> =
            p.steps.iter().flat_map(|s| s.moves.iter().map(|m| format!("{} {:?}", m.component, m.to))).collect();
        assert_eq!(moves, [r#"knativeServing Some("1.20.3")"#, r#"knativeServing Some("1.21.1")"#], "{p:#?}");
        assert!(p.steps.iter().all(|s| s.kind == StepKind::Components));
        assert_eq!(p.steps[1].title, "the release's own pins on KServe v0.20.0");
    }

    #[test]
    fn kserve_hops_through_the_newest_patch_of_each_minor() {
        let cat = catalog::get();
        let got: Vec<&str> = hops(cat, "v0.15.2", "v0.20.0").iter().map(|r| r.version.as_str()).collect();
        assert_eq!(got, ["v0.16.0", "v0.17.1", "v0.18.1", "v0.19.0", "v0.20.0"]);
        let got: Vec<&str> = hops(cat, "v0.17.0", "v0.17.1").iter().map(|r| r.version.as_str()).collect();
        assert_eq!(got, ["v0.17.1"]);
        assert!(hops(cat, "v0.20.0", "v0.20.0").is_empty());
    }
}
