//! `kgen hydrate [ENV…] [--out DIR] [--offline]`, and the hydration `kgen diff --hydrate` runs:
//! the half of hydration that runs `helm`, keeps the chart cache and the chart lock, and writes
//! the output. What to run and what its output means is [`crate::hydrate`].
//!
//! One run: every `helm template` the selected renders need is collected, equal runs once
//! ([`Job`] is the key: chart, version, values, release, namespace, flags); the charts they
//! need are pulled into the cache if missing (in parallel), each archive's digest checked
//! against the chart lock (all of them before anything is rendered), then the charts are
//! rendered in parallel, one `helm` process per core.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use super::Context;
use super::render::{check_and_render, fast_depth};
use crate::cli::HydrateArgs;
use crate::compare::Previous;
use crate::diag::Diagnostic;
use crate::diff::{self, EnvDiff};
use crate::error::Error;
use crate::exit_codes;
use crate::hydrate::chart_lock::{self, ChartLock, Verdict};
use crate::hydrate::{self, ChartRef, Job, Laid, Object, ReleaseOutput, committed};
use crate::lock::Lock;
use crate::pipeline::Judged;
use crate::render::{LOCK_FILE, Rendered, sha256};
use crate::rules::RuleCode;

/// Overrides where the chart cache and the default hydrate output live.
pub const CACHE_ENV: &str = "KGEN_CACHE_DIR";

/// Most `helm pull`s at once: they wait on the network, not the CPU.
const PULLS: usize = 8;

/// Runs `kgen hydrate`.
pub fn run(ctx: &Context<'_>, args: &HydrateArgs) -> Result<u8, Error> {
    let started = Instant::now();
    let Some((checked, renders)) = check_and_render(ctx, &args.selection, fast_depth(), "nothing hydrated")? else {
        return Ok(exit_codes::ERROR);
    };
    let root = &ctx.global.dir;
    let mut locks = Vec::with_capacity(renders.len());
    for r in &renders {
        locks.push(
            Lock::from_slice(r.files[LOCK_FILE].as_bytes())
                .map_err(|e| Error::Internal(format!("{}: the fresh index does not read back: {e}", r.env)))?,
        );
    }
    if args.write {
        // Refused before any `helm` runs: a folder no engine applies would only go stale.
        let off: Vec<&str> = locks.iter().filter(|l| !l.gitops.hydrate).map(|l| l.environment.as_str()).collect();
        if !off.is_empty() {
            return Err(Error::Refused(format!(
                "--write: {} do(es) not set `gitops.hydrate: true`, so no engine applies `rendered/<env>/{}/`; set it \
                 in the environment file (argocd or flux), or look at the output with `kgen hydrate ENV --out DIR`",
                off.join(", "),
                committed::FOLDER
            )));
        }
    }
    let session = Session::open(root, args.offline)?;
    let rendered = super::render::out_dir(root, None);
    // Held while `rendered/<env>/hydrated/` is replaced: no `kgen render` swaps the
    // environment's folder (which carries `hydrated/` over) in the meantime.
    let _held = if args.write {
        let shown = display(root, &rendered);
        std::fs::create_dir_all(&rendered).map_err(|source| Error::Io {
            path: rendered.clone(),
            action: "create",
            source,
        })?;
        Some(crate::write::lock_output(
            &rendered,
            &shown,
            crate::write::LockMode::Write,
            std::time::Duration::from_secs(crate::cli::WAIT_LOCK_DEFAULT),
            || ctx.printer.info(&format!("waiting for another kgen process using `{shown}` to finish")),
        )?)
    } else {
        None
    };
    let base = match &args.out {
        Some(p) if p.is_absolute() => p.clone(),
        Some(p) => root.join(p),
        None => session.cache.join("hydrated"),
    };
    let mut per_env = Vec::with_capacity(renders.len());
    for (r, lock) in renders.iter().zip(&locks) {
        let jobs = hydrate::jobs(lock, |p| r.files.get(p).cloned(), kube_version(&checked.resolved, &r.env).as_deref())
            .map_err(|e| Error::Internal(format!("{}: {e}", r.env)))?;
        per_env.push(jobs);
    }
    let all: Vec<Job> = per_env.iter().flatten().cloned().collect::<BTreeSet<_>>().into_iter().collect();
    let Some(out) = session.run(ctx, &all, Record::Write)? else {
        return Ok(exit_codes::ERROR);
    };
    let shown = display(root, &base);
    for (r, jobs) in renders.iter().zip(&per_env) {
        let outputs: Vec<ReleaseOutput<'_>> =
            jobs.iter().map(|j| ReleaseOutput { job: j, objects: &out.objects[j] }).collect();
        let laid = hydrate::layout(&r.env, &outputs);
        let objects = laid.len();
        let mut files: BTreeMap<String, String> = laid.into_iter().map(|(p, l)| (p, l.text)).collect();
        // kgen's own objects, as rendered: with the charts' they are everything the engines apply
        // apart from CRDs applied from Git (Gateway API), which the index lists. Not with
        // --write: the render beside it has them already, and a copy would go stale with every
        // change of kgen's own objects.
        let own: Vec<(&String, &String)> =
            r.files.iter().filter(|(p, _)| p.starts_with("manifests/") && !args.write).collect();
        for (p, t) in &own {
            files.insert((*p).clone(), (*t).clone());
        }
        let releases: Vec<hydrate::IndexRelease<'_>> = jobs
            .iter()
            .map(|j| hydrate::IndexRelease { job: j, chart_digest: out.digests[&j.chart].clone() })
            .collect();
        files.insert(hydrate::INDEX_FILE.into(), hydrate::index(&r.env, &releases, &files));
        if args.write {
            let env_dir = rendered.join(&r.env);
            let shown = display(root, &env_dir);
            write_tree(&env_dir, committed::FOLDER, &files, &shown)?;
            ctx.printer.info(&format!(
                "{}: {} Helm release(s), {objects} object(s) from charts → {shown}/{}/ (commit it)",
                r.env,
                jobs.len(),
                committed::FOLDER
            ));
            continue;
        }
        write_tree(&base, &r.env, &files, &shown)?;
        ctx.printer.info(&format!(
            "{}: {} Helm release(s), {objects} object(s) from charts, {} of kgen's own → {shown}/{}/",
            r.env,
            jobs.len(),
            own.len(),
            r.env
        ));
    }
    ctx.printer.info(&format!(
        "hydrated {} environment(s) in {:.1} s: {} helm template run(s); charts: {} pulled, {} from the cache ({})",
        renders.len(),
        started.elapsed().as_secs_f64(),
        all.len(),
        out.pulled,
        out.digests.len() - out.pulled,
        display(root, &session.cache.join("charts"))
    ));
    Ok(exit_codes::SUCCESS)
}

/// `kgen diff --hydrate`: adds to every changed environment's diff how its chart output
/// changes, both sides hydrated in one run (a release both sides render alike runs once).
/// `false` when a chart was refused (printed).
pub(crate) fn attach_to_diff(
    ctx: &Context<'_>,
    resolved: &[Judged],
    renders: &[Rendered],
    previous: &[Previous],
    envs: &mut [EnvDiff],
    offline: bool,
) -> Result<bool, Error> {
    let mut sides: Vec<(usize, Vec<Job>, Vec<Job>)> = Vec::new();
    for (r, p) in renders.iter().zip(previous) {
        let Some(e) = envs.iter().position(|e| e.name == r.env) else { continue };
        if !envs[e].has_changes() {
            continue;
        }
        // Both sides against the cluster as the environment describes it now.
        let kube = kube_version(resolved, &r.env);
        let new = match r.files.get(LOCK_FILE) {
            Some(t) => {
                let lock = Lock::from_slice(t.as_bytes())
                    .map_err(|e| Error::Internal(format!("{}: the fresh index does not read back: {e}", r.env)))?;
                hydrate::jobs(&lock, |f| r.files.get(f).cloned(), kube.as_deref())
                    .map_err(|e| Error::Internal(format!("{}: {e}", r.env)))?
            }
            None => Vec::new(),
        };
        let old = match crate::previous::lock_of(p) {
            Some(lock) => hydrate::jobs(
                &lock,
                |f| p.contents.get(f).map(|b| String::from_utf8_lossy(b).into_owned()),
                kube.as_deref(),
            )
            .map_err(|e| Error::Refused(format!("{}: the previous render cannot be hydrated: {e}", r.env)))?,
            None => Vec::new(),
        };
        sides.push((e, old, new));
    }
    if sides.is_empty() {
        return Ok(true);
    }
    let session = Session::open(&ctx.global.dir, offline)?;
    let all: Vec<Job> =
        sides.iter().flat_map(|(_, o, n)| o.iter().chain(n)).cloned().collect::<BTreeSet<_>>().into_iter().collect();
    let Some(out) = session.run(ctx, &all, Record::No)? else {
        return Ok(false);
    };
    for (e, old, new) in sides {
        let name = envs[e].name.clone();
        let side = |jobs: &[Job]| -> BTreeMap<String, Laid> {
            let outputs: Vec<ReleaseOutput<'_>> =
                jobs.iter().map(|j| ReleaseOutput { job: j, objects: &out.objects[j] }).collect();
            hydrate::layout(&name, &outputs)
                .into_iter()
                .map(|(p, l)| (format!("{}/{p}", hydrate::DIFF_FOLDER), l))
                .collect()
        };
        let (old, new) = (side(&old), side(&new));
        let risks = hydrate::risk::assess(&old, &new);
        // Its own name, so that the stage counts of debug builds keep one comparison per
        // environment (tests/pipeline.rs).
        let rendered =
            Rendered { env: format!("{name} (hydrated)"), files: new.into_iter().map(|(p, l)| (p, l.text)).collect() };
        let prev = Previous {
            generated: old.keys().cloned().collect(),
            contents: old.into_iter().map(|(p, l)| (p, l.text.into_bytes())).collect(),
        };
        let hydrated = diff::diff_env(&rendered, &prev);
        diff::attach_hydrated(&mut envs[e], hydrated, risks);
    }
    Ok(true)
}

/// `--kube-version` of an environment: its `cluster.kubernetesVersion`.
fn kube_version(resolved: &[Judged], env: &str) -> Option<String> {
    resolved.iter().find(|j| j.name == env).map(|j| hydrate::kube_version(&j.env.cluster.kubernetes_version))
}

/// Whether a run may record new digests in the chart lock.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Record {
    /// `kgen hydrate`: record them (trust on first use) and write the lock.
    Write,
    /// `kgen diff --hydrate`, which writes nothing: check the ones recorded, name the others.
    No,
}

/// What one run produced.
struct Output {
    /// The objects of every job.
    objects: HashMap<Job, Vec<Object>>,
    /// The digest of every chart archive used.
    digests: HashMap<ChartRef, String>,
    /// How many archives were pulled (the others came from the cache).
    pulled: usize,
}

/// `helm`, the cache and the project.
struct Session {
    helm: Helm,
    cache: PathBuf,
    root: PathBuf,
    offline: bool,
}

impl Session {
    fn open(root: &Path, offline: bool) -> Result<Session, Error> {
        Ok(Session { helm: Helm::find()?, cache: cache_dir()?, root: root.to_path_buf(), offline })
    }

    /// Pulls what is missing, checks every archive against the chart lock, renders every job.
    /// `None` when an archive was refused (the diagnostics are printed).
    fn run(&self, ctx: &Context<'_>, jobs: &[Job], record: Record) -> Result<Option<Output>, Error> {
        if let Some(j) = jobs.iter().find(|j| j.skip_schema)
            && (self.helm.version.0, self.helm.version.1) < hydrate::SKIP_SCHEMA_HELM
        {
            return Err(Error::Tool {
                message: format!(
                    "release {} needs `helm template --skip-schema-validation` (its chart's values schema rejects valid \
                     values; the engines skip it too), which {} ({}) does not have",
                    j.label(),
                    self.helm.version_text(),
                    self.helm.path.display()
                ),
                hint: format!(
                    "install Helm {}.{} or later (https://helm.sh/docs/intro/install/) and put it first on PATH",
                    hydrate::SKIP_SCHEMA_HELM.0,
                    hydrate::SKIP_SCHEMA_HELM.1
                ),
            });
        }
        let charts: Vec<ChartRef> = jobs.iter().map(|j| j.chart.clone()).collect::<BTreeSet<_>>().into_iter().collect();
        let store = self.cache.join("charts");

        // 1. Every archive in the cache: pulled when missing (unless offline).
        let archive = |c: &ChartRef| store.join(c.cache_path());
        if self.offline {
            let missing: Vec<String> =
                charts.iter().filter(|c| !archive(c).is_file()).map(ChartRef::to_string).collect();
            if !missing.is_empty() {
                return Err(Error::Tool {
                    message: format!(
                        "--offline: {} of the {} chart(s) needed are not in the chart cache `{}`: {}",
                        missing.len(),
                        charts.len(),
                        store.display(),
                        missing.join("; ")
                    ),
                    hint: format!(
                        "run once without --offline where the chart repositories can be reached, or copy a chart \
                         cache there (`${CACHE_ENV}` says where it is)"
                    ),
                });
            }
        }
        let started = Instant::now();
        let fetched = pool(&charts, PULLS, |c| self.fetch(c, &archive(c)));
        let mut pulled = 0;
        let mut digests = HashMap::new();
        for (c, r) in charts.iter().zip(fetched) {
            let (digest, was_pulled) = r?;
            pulled += usize::from(was_pulled);
            digests.insert(c.clone(), digest);
        }
        ctx.printer.debug(&format!(
            "{} chart archive(s) ready in {} ms ({pulled} pulled)",
            charts.len(),
            started.elapsed().as_millis()
        ));

        // 2. Every digest against the chart lock, before anything is rendered.
        let lock_path = self.root.join(chart_lock::FILE);
        let lock_text = match std::fs::read_to_string(&lock_path) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(Error::Io { path: lock_path, action: "read", source }),
        };
        let mut lock = match &lock_text {
            Some(t) => ChartLock::parse(t).map_err(|e| {
                Error::Refused(format!(
                    "cannot read `{}`: {e}; restore it from Git (kgen writes it; it is not edited by hand)",
                    chart_lock::FILE
                ))
            })?,
            None => ChartLock { format: chart_lock::FORMAT, ..ChartLock::default() },
        };
        let mut refused = 0;
        let mut unknown = Vec::new();
        for c in &charts {
            let digest = &digests[c];
            match lock.verdict(c, digest) {
                Verdict::Matches => {}
                Verdict::Unknown => unknown.push(c.clone()),
                Verdict::Differs(pinned) => {
                    refused += 1;
                    let line = lock_text.as_deref().and_then(|t| ChartLock::line_of(t, c));
                    let col =
                        line.and_then(|l| lock_text.as_deref()?.lines().nth(l - 1)?.find("\"digest\"").map(|i| i + 1));
                    let d = Diagnostic::error(
                        RuleCode::KG612,
                        format!(
                            "{c}: the archive's digest is {digest}, but `{}` pins {pinned}",
                            chart_lock::FILE
                        ),
                    )
                    .in_file(chart_lock::FILE)
                    .at(line.zip(col))
                    .key(format!("charts[chart={},version={}].digest", c.chart, c.version))
                    .label("recorded on first use")
                    .hint(format!(
                        "the chart was republished under the same version, or changed in a mirror or in the chart \
                         cache (`{}`); nothing was rendered. If the new archive is trusted, delete this entry (and that \
                         cached file) and run `kgen hydrate` again to record its digest",
                        archive(c).display()
                    ));
                    ctx.printer.diagnostic(&d, lock_text.as_deref());
                }
            }
        }
        if refused > 0 {
            ctx.printer.info(&format!(
                "nothing hydrated: {refused} chart archive(s) differ from `{}` (KG612)",
                chart_lock::FILE
            ));
            return Ok(None);
        }
        if !unknown.is_empty() {
            let names: Vec<String> = unknown.iter().map(ChartRef::to_string).collect();
            match record {
                Record::Write => {
                    for c in &unknown {
                        lock.record(c, &digests[c]);
                    }
                    write_atomic(&lock_path, &lock.to_json())?;
                    ctx.printer.info(&format!(
                        "recorded the digest of {} chart archive(s) in `{}` (commit it)",
                        unknown.len(),
                        chart_lock::FILE
                    ));
                    ctx.printer.debug(&format!("recorded: {}", names.join("; ")));
                }
                Record::No => ctx.printer.warning(&format!(
                    "{} chart archive(s) are not in `{}`, so nothing vouches for them: {}; `kgen hydrate` records \
                     them",
                    unknown.len(),
                    chart_lock::FILE,
                    names.join("; ")
                )),
            }
        }

        // 3. Every job, one `helm template` each, in parallel.
        let started = Instant::now();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let results = pool(jobs, threads, |j| {
            let text = self.helm.template(j, &archive(&j.chart))?;
            hydrate::parse_stream(&text).map_err(|e| Error::Tool {
                message: format!("`helm template` of release {}: {e}", j.label()),
                hint: "the chart renders something that is not Kubernetes YAML; report it to the chart's maintainers"
                    .into(),
            })
        });
        let mut objects = HashMap::new();
        for (j, r) in jobs.iter().zip(results) {
            objects.insert(j.clone(), r?);
        }
        ctx.printer.debug(&format!(
            "{} helm template run(s) on {threads} thread(s) in {} ms",
            jobs.len(),
            started.elapsed().as_millis()
        ));
        Ok(Some(Output { objects, digests, pulled }))
    }

    /// The archive of `chart` in the cache at `dest`, pulled first when missing: its digest, and
    /// whether it was pulled.
    fn fetch(&self, chart: &ChartRef, dest: &Path) -> Result<(String, bool), Error> {
        let mut pulled = false;
        if !dest.is_file() {
            let folder = dest.parent().expect("a cache path has a folder");
            std::fs::create_dir_all(folder).map_err(|source| Error::Io {
                path: folder.to_path_buf(),
                action: "create",
                source,
            })?;
            // Pulled beside its place and renamed into it: a killed pull leaves no half archive.
            let tmp = tempfile::Builder::new().prefix(".pull-").tempdir_in(folder).map_err(|source| Error::Io {
                path: folder.to_path_buf(),
                action: "create a folder in",
                source,
            })?;
            self.helm.pull(chart, tmp.path())?;
            let got: Vec<PathBuf> = std::fs::read_dir(tmp.path())
                .map_err(|source| Error::Io { path: tmp.path().to_path_buf(), action: "read", source })?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "tgz"))
                .collect();
            let [one] = got.as_slice() else {
                return Err(Error::Tool {
                    message: format!("`helm pull` of {chart} left {} archive(s), not one", got.len()),
                    hint: "check the repository URL and chart name (`kgen show ENV`)".into(),
                });
            };
            std::fs::rename(one, dest).map_err(|source| Error::Io {
                path: dest.to_path_buf(),
                action: "move the pulled chart to",
                source,
            })?;
            pulled = true;
        }
        let bytes =
            std::fs::read(dest).map_err(|source| Error::Io { path: dest.to_path_buf(), action: "read", source })?;
        Ok((sha256(&bytes), pulled))
    }
}

/// The `helm` on PATH.
struct Helm {
    path: PathBuf,
    version: (u64, u64, u64),
}

impl Helm {
    /// Finds `helm` on PATH and checks its version.
    fn find() -> Result<Helm, Error> {
        let install = format!(
            "install Helm {}.{} or later, or Helm 4 (https://helm.sh/docs/intro/install/), and put it on PATH",
            hydrate::MIN_HELM.0,
            hydrate::MIN_HELM.1
        );
        let path = std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .flat_map(|d| [d.join("helm"), d.join("helm.exe")])
            .find(|p| is_executable(p))
            .ok_or_else(|| Error::Tool {
                message: "`helm` is not on PATH: hydrating renders each chart with the Helm the engines use".into(),
                hint: install.clone(),
            })?;
        let out = Command::new(&path).args(["version", "--short"]).output().map_err(|e| Error::Tool {
            message: format!("cannot run `{} version`: {e}", path.display()),
            hint: install.clone(),
        })?;
        let text = String::from_utf8_lossy(&out.stdout);
        let version =
            hydrate::parse_helm_version(&text).filter(|_| out.status.success()).ok_or_else(|| Error::Tool {
                message: format!(
                    "`{} version --short` did not say which Helm it is: {}",
                    path.display(),
                    first_line(&format!("{text}{}", String::from_utf8_lossy(&out.stderr)))
                ),
                hint: install.clone(),
            })?;
        if (version.0, version.1) < hydrate::MIN_HELM {
            return Err(Error::Tool {
                message: format!(
                    "`{}` is Helm v{}.{}.{}; kgen needs Helm {}.{} or later (the first that pulls OCI charts such as \
                     KServe's without HELM_EXPERIMENTAL_OCI), or Helm 4",
                    path.display(),
                    version.0,
                    version.1,
                    version.2,
                    hydrate::MIN_HELM.0,
                    hydrate::MIN_HELM.1
                ),
                hint: install.clone(),
            });
        }
        Ok(Helm { path, version })
    }

    fn version_text(&self) -> String {
        format!("Helm v{}.{}.{}", self.version.0, self.version.1, self.version.2)
    }

    fn pull(&self, chart: &ChartRef, dest: &Path) -> Result<(), Error> {
        let args = chart.pull_args(&dest.to_string_lossy());
        let out = Command::new(&self.path).args(&args).output().map_err(|e| Error::Tool {
            message: format!("cannot run `helm pull` of {chart}: {e}"),
            hint: "check that `helm` runs".into(),
        })?;
        if !out.status.success() {
            return Err(Error::Tool {
                message: format!("`helm {}` failed: {}", args.join(" "), helm_error(&out)),
                hint: "check the network, the repository (a mirror: `mirrors.charts`), registry credentials \
                       (`helm registry login`), or use --offline with a filled chart cache"
                    .into(),
            });
        }
        Ok(())
    }

    fn template(&self, job: &Job, archive: &Path) -> Result<String, Error> {
        let tmp = tempfile::tempdir().map_err(|source| Error::Io {
            path: std::env::temp_dir(),
            action: "create a folder in",
            source,
        })?;
        let values = tmp.path().join("values.yaml");
        std::fs::write(&values, &job.values).map_err(|source| Error::Io {
            path: values.clone(),
            action: "write",
            source,
        })?;
        let args = job.template_args(&archive.to_string_lossy(), &values.to_string_lossy());
        let out = Command::new(&self.path).args(&args).output().map_err(|e| Error::Tool {
            message: format!("cannot run `helm template` of release {}: {e}", job.label()),
            hint: "check that `helm` runs".into(),
        })?;
        if !out.status.success() {
            return Err(Error::Tool {
                message: format!("`helm template` of release {} failed: {}", job.label(), helm_error(&out)),
                hint: "`kgen validate` passes, so the chart refuses these values or this cluster version: compare \
                       with the chart's values.yaml and `kubeVersion`; `values.<release>` overrides are applied last"
                    .into(),
            });
        }
        String::from_utf8(out.stdout).map_err(|_| Error::Tool {
            message: format!("`helm template` of release {} printed something that is not UTF-8", job.label()),
            hint: "report it to the chart's maintainers".into(),
        })
    }
}

/// Helm's error, trimmed (`Error: …` lines; the last 20 lines of a long one).
fn helm_error(out: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = &lines[lines.len().saturating_sub(20)..];
    if tail.is_empty() { format!("exit status {}", out.status) } else { tail.join("\n") }
}

fn first_line(s: &str) -> String {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or("(nothing)").trim().to_string()
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

/// The chart cache: `$KGEN_CACHE_DIR`, else `$XDG_CACHE_HOME/kgen`, else `~/.cache/kgen`.
pub fn cache_dir() -> Result<PathBuf, Error> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(d) = var(CACHE_ENV) {
        return Ok(d);
    }
    // The XDG base directory spec: a relative XDG_CACHE_HOME is invalid and ignored.
    if let Some(d) = var("XDG_CACHE_HOME").filter(|d| d.is_absolute()) {
        return Ok(d.join("kgen"));
    }
    var("HOME").or_else(|| var("USERPROFILE")).map(|h| h.join(".cache").join("kgen")).ok_or_else(|| Error::Tool {
        message: "no folder for the chart cache: none of KGEN_CACHE_DIR, XDG_CACHE_HOME, HOME is set".into(),
        hint: format!("set {CACHE_ENV} to a folder kgen may write"),
    })
}

/// Runs `f` over `items` on up to `threads` threads, each taking the next item when done;
/// results in input order.
fn pool<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    results.lock().unwrap_or_else(std::sync::PoisonError::into_inner)[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

/// Writes `text` to `path` through a temporary file beside it and a rename.
fn write_atomic(path: &Path, text: &str) -> Result<(), Error> {
    let folder = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new().prefix(".kgen-").tempfile_in(folder).map_err(|source| Error::Io {
        path: folder.to_path_buf(),
        action: "create a file in",
        source,
    })?;
    std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        action: "write",
        source,
    })?;
    tmp.persist(path).map_err(|e| Error::Io { path: path.to_path_buf(), action: "write", source: e.error })?;
    Ok(())
}

/// Replaces `base/env/` with `files`: written into a folder beside it, then swapped in. A
/// folder kgen hydrate did not write (no index) is never replaced, nor is anything reached
/// through a symlink.
fn write_tree(base: &Path, env: &str, files: &BTreeMap<String, String>, shown: &str) -> Result<(), Error> {
    std::fs::create_dir_all(base).map_err(|source| Error::Io { path: base.to_path_buf(), action: "create", source })?;
    let target = base.join(env);
    let exists = match std::fs::symlink_metadata(&target) {
        Ok(m) if m.file_type().is_symlink() || !m.is_dir() => {
            return Err(Error::Refused(format!(
                "`{shown}/{env}` is a symlink or a file: kgen hydrate writes only a folder of its own there"
            )));
        }
        Ok(_) => {
            let empty = std::fs::read_dir(&target).map(|mut d| d.next().is_none()).unwrap_or(false);
            if !empty && !target.join(hydrate::INDEX_FILE).is_file() {
                return Err(Error::Refused(format!(
                    "`{shown}/{env}/` holds files kgen hydrate did not write (it has no `{}`): move them away or \
                     choose another --out",
                    hydrate::INDEX_FILE
                )));
            }
            true
        }
        Err(_) => false,
    };
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{env}.hydrating-"))
        .tempdir_in(base)
        .map_err(|source| Error::Io { path: base.to_path_buf(), action: "create a folder in", source })?;
    for (rel, text) in files {
        let path = staging.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| Error::Io {
                path: parent.to_path_buf(),
                action: "create",
                source,
            })?;
        }
        std::fs::write(&path, text).map_err(|source| Error::Io { path: path.clone(), action: "write", source })?;
    }
    let staged = staging.keep();
    let old = base.join(format!(".{env}.replaced-{}", std::process::id()));
    if exists {
        std::fs::rename(&target, &old).map_err(|source| Error::Io {
            path: target.clone(),
            action: "move aside",
            source,
        })?;
    }
    std::fs::rename(&staged, &target).map_err(|source| Error::Io { path: target.clone(), action: "write", source })?;
    if exists {
        std::fs::remove_dir_all(&old).map_err(|source| Error::Io { path: old.clone(), action: "remove", source })?;
    }
    Ok(())
}

/// A path for messages: relative to the project when inside it.
fn display(root: &Path, p: &Path) -> String {
    let rel = p.strip_prefix(root).unwrap_or(p);
    let s = rel.to_string_lossy().replace('\\', "/");
    let s = s.trim_start_matches("./").trim_end_matches('/');
    if s.is_empty() { ".".into() } else { s.to_string() }
}
