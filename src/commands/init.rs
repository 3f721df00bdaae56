//! `kgen init` and `kgen new`: start a project and add environments to it. Everything written
//! is checked first and nothing existing is overwritten.

use std::io::Write as _;
use std::path::Path;

use super::Context;
use crate::catalog;
use crate::cli::{CiSystem, InitArgs, NewArgs};
use crate::config::load::{ENV_DIR, Workspace, is_valid_stem};
use crate::config::schema;
use crate::diag::Severity;
use crate::error::Error;
use crate::exit_codes;
use crate::pipeline;
use crate::version::Version;
use crate::yaml;

/// Where `kgen schema --write` and `kgen init` put the schemas, relative to the project root.
pub const SCHEMA_DIR: &str = "schemas";

/// The repository URL written when neither `--repo-url` nor an `origin` remote says one.
const PLACEHOLDER_REPO: &str = "https://git.example.com/your-org/your-gitops-repo.git";

/// A YAML scalar as the serializer writes it: every value of a generated file goes through it.
fn scalar(v: &str) -> Result<String, Error> {
    yaml::to_inline_string(&v).map_err(Error::Internal)
}

/// Creates `path` with `text`; refuses when anything is there already.
fn create_new(path: &Path, text: &str) -> Result<(), Error> {
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            Error::Refused(format!("`{}` exists already; kgen never overwrites it", path.display()))
        } else {
            Error::Io { path: path.to_path_buf(), action: "create", source }
        }
    })?;
    f.write_all(text.as_bytes()).map_err(|source| Error::Io { path: path.to_path_buf(), action: "write", source })
}

/// Writes both schemas into `<root>/schemas/` (creating it), replacing older copies.
pub fn write_schemas(root: &Path) -> Result<Vec<String>, Error> {
    let dir = root.join(SCHEMA_DIR);
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io { path: dir.clone(), action: "create", source })?;
    let mut written = Vec::new();
    for (name, text) in
        [("environment.schema.json", schema::schema_text()), ("layer.schema.json", schema::layer_schema_text())]
    {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| Error::Io { path: path.clone(), action: "write", source })?;
        written.push(format!("{SCHEMA_DIR}/{name}"));
    }
    Ok(written)
}

/// The `origin` remote of the Git repository around `root`, if there is one.
fn origin_url(root: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["remote", "get-url", "origin"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let url = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && url.starts_with("https://")).then_some(url)
}

/// `kgen init`.
pub fn init(ctx: &Context<'_>, args: &InitArgs) -> Result<u8, Error> {
    let root = &ctx.global.dir;
    let envs = root.join(ENV_DIR);
    let base = envs.join("_base.yaml");
    if base.exists() {
        return Err(Error::Refused(format!(
            "`{}` exists already: this is a kgen project (`kgen new ENV` adds an environment)",
            base.display()
        )));
    }
    let (url, detected) = match (&args.repo_url, origin_url(root)) {
        (Some(u), _) => (u.clone(), true),
        (None, Some(u)) => (u, true),
        (None, None) => (PLACEHOLDER_REPO.to_string(), false),
    };
    let url_note = if detected {
        "# The Git repository Argo CD or Flux reads rendered/ from."
    } else {
        "# The Git repository Argo CD or Flux reads rendered/ from: replace this placeholder."
    };
    let text = format!(
        "# yaml-language-server: $schema=../{SCHEMA_DIR}/layer.schema.json\n\
         # Settings shared by every environment that says `extends: _base`. A layer may be partial;\n\
         # each environment must be complete once its layers are merged. `kgen explain ENV` shows\n\
         # which file sets each value.\n\
         apiVersion: kgen/v1\n\
         kind: Environment\n\
         gitops:\n  {url_note}\n  repoUrl: {}\n",
        scalar(&url)?
    );
    // The CI file is checked for before anything is written, so a refusal leaves no half project.
    let ci = args.ci.map(ci_job).transpose()?;
    if let Some((path, _)) = &ci
        && root.join(path).exists()
    {
        return Err(Error::Refused(format!(
            "`{}` exists already; kgen never overwrites it",
            root.join(path).display()
        )));
    }
    std::fs::create_dir_all(&envs).map_err(|source| Error::Io { path: envs.clone(), action: "create", source })?;
    create_new(&base, &text)?;
    let mut created = vec![format!("{ENV_DIR}/_base.yaml")];
    created.extend(write_schemas(root)?);
    if let Some((path, text)) = &ci {
        let full = root.join(path);
        if let Some(dir) = full.parent() {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.to_path_buf(),
                action: "create",
                source,
            })?;
        }
        create_new(&full, text)?;
        created.push(path.to_string());
    }
    ctx.printer.info(&format!("created {}", created.join(", ")));
    if !detected {
        ctx.printer.warning(&format!("set `gitops.repoUrl` in {ENV_DIR}/_base.yaml (a placeholder for now)"));
    }
    if let Some((path, _)) = &ci {
        ctx.printer.warning(&format!(
            "set where your organisation keeps kgen in {path} (`{KGEN_SOURCE_PLACEHOLDER}` for now)"
        ));
    }
    ctx.printer.info("next: `kgen new ENV --kubernetes 1.33` adds an environment, `kgen render` renders it");
    Ok(exit_codes::SUCCESS)
}

/// Where the CI job installs kgen from until the user says: kgen has no public home to name.
const KGEN_SOURCE_PLACEHOLDER: &str = "your-org/kgen";

/// The CI job `kgen init --ci` writes: its path in the project and its text. It pins the kgen
/// that wrote it (`v<version>` of kgen's repository), so CI checks with the kgen the render was
/// made with.
fn ci_job(system: CiSystem) -> Result<(&'static str, String), Error> {
    let tag = scalar(&format!("v{}", env!("CARGO_PKG_VERSION")))?;
    Ok(match system {
        CiSystem::Github => (
            ".github/workflows/kgen.yml",
            format!(
                "# Written by `kgen init --ci github`. On every pull request: the diff of the change as one\n\
                 # comment (kgen's action, which also puts `kgen` on the PATH), then the checks. On main: the\n\
                 # checks. `uses:` pins kgen: point it at your organisation's copy of kgen's repository.\n\
                 name: kgen\n\
                 on:\n  pull_request:\n  push:\n    branches: [main]\n\
                 permissions:\n  contents: read\n  pull-requests: write\n\
                 jobs:\n  kgen:\n    runs-on: ubuntu-latest\n    steps:\n\
                 \x20     - uses: actions/checkout@v4\n\
                 \x20       with:\n          fetch-depth: 0        # kgen diff reads the base branch's render from git\n\
                 \x20     - id: diff\n\
                 \x20       if: github.event_name == 'pull_request'\n\
                 \x20       uses: {KGEN_SOURCE_PLACEHOLDER}@{tag}\n\
                 \x20       with:\n          fail-on-risk: \"false\"   # fail below, after the checks ran\n\
                 \x20     - if: github.event_name != 'pull_request'\n\
                 \x20       run: cargo install --locked --git \"https://github.com/{KGEN_SOURCE_PLACEHOLDER}.git\" --tag {tag} kgen\n\
                 \x20     - run: kgen validate --strict --format github\n\
                 \x20     - run: kgen render --all --check\n\
                 \x20     - name: Fail on risky changes\n\
                 \x20       if: steps.diff.outputs.exit-code == '3'\n\
                 \x20       run: exit 3\n"
            ),
        ),
        CiSystem::Gitlab => (
            ".gitlab-ci.yml",
            format!(
                "# Written by `kgen init --ci gitlab`. On every merge request and on the default branch:\n\
                 # the checks; on a merge request also the diff of the change, as the artifact kgen-diff.md\n\
                 # (\"kgen diff\" on the merge request page). Exit 3 (risky change) fails the job.\n\
                 kgen:\n\
                 \x20 image: rust:1\n\
                 \x20 rules:\n\
                 \x20   - if: $CI_PIPELINE_SOURCE == \"merge_request_event\"\n\
                 \x20   - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH\n\
                 \x20 variables:\n\
                 \x20   GIT_DEPTH: \"0\"             # kgen diff reads the target branch's render from git\n\
                 \x20   KGEN_GIT: \"https://github.com/{KGEN_SOURCE_PLACEHOLDER}.git\"   # your organisation's copy of kgen\n\
                 \x20   KGEN_TAG: {tag}\n\
                 \x20 script:\n\
                 \x20   - cargo install --locked --git \"$KGEN_GIT\" --tag \"$KGEN_TAG\" kgen\n\
                 \x20   - kgen validate --strict\n\
                 \x20   - kgen render --all --check\n\
                 \x20   - |\n\
                 \x20     if [ -n \"$CI_MERGE_REQUEST_TARGET_BRANCH_NAME\" ]; then\n\
                 \x20       git fetch --quiet origin \"$CI_MERGE_REQUEST_TARGET_BRANCH_NAME\"\n\
                 \x20       code=0\n\
                 \x20       kgen diff --git-ref \"origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME\" --format markdown --fail-on risk > kgen-diff.md || code=$?\n\
                 \x20       test \"$code\" -le 1\n\
                 \x20     fi\n\
                 \x20 artifacts:\n\
                 \x20   when: always\n\
                 \x20   expose_as: kgen diff\n\
                 \x20   paths: [kgen-diff.md]\n"
            ),
        ),
    })
}

/// The text of a new environment file.
fn new_text(args: &NewArgs, extends: Option<&str>, version: &str, mesh: &str, domain: &str) -> Result<String, Error> {
    let mut t = format!(
        "# yaml-language-server: $schema=../{SCHEMA_DIR}/environment.schema.json\n\
         # Written by `kgen new`; edit freely. `kgen explain {name}` shows every effective value and\n\
         # where it comes from, `kgen render {name}` writes rendered/{name}/.\n\
         apiVersion: kgen/v1\n\
         kind: Environment\n",
        name = args.env
    );
    if let Some(layer) = extends {
        t.push_str(&format!("extends: {}\n", scalar(layer)?));
    }
    // OpenShift Service Mesh serves no `istio` IngressClass: Standard mode there goes through
    // the Gateway API with the mesh's Istio (KServe's OpenShift guide).
    let ingress = if args.platform == "openshift" && args.mode == "Standard" && mesh == "ossm3" {
        "  # OpenShift Service Mesh 3 serves the Gateway API, not an `istio` IngressClass.\n  ingress: gatewayApi\ngatewayApi:\n  implementation: istio\n"
    } else {
        ""
    };
    t.push_str(&format!(
        "cluster:\n  platform: {}\n  # The cluster's Kubernetes minor version: checked against every component's minimum.\n  kubernetesVersion: {}\n\
         kserve:\n  # Pinned: a newer release is a change you review (`kgen upgrade {}` plans it).\n  version: {}\n  deploymentMode: {}\n  # InferenceServices are reachable at <name>-<namespace>.<ingressDomain>.\n  ingressDomain: {}\n\
         {}mesh:\n  provider: {}\n\
         gitops:\n  engine: {}\n",
        scalar(&args.platform)?,
        scalar(&args.kubernetes)?,
        args.env,
        scalar(version)?,
        scalar(&args.mode)?,
        scalar(domain)?,
        ingress,
        scalar(mesh)?,
        scalar(&args.engine)?,
    ));
    Ok(t)
}

/// `kgen new ENV`.
pub fn new(ctx: &Context<'_>, args: &NewArgs) -> Result<u8, Error> {
    let root = &ctx.global.dir;
    if args.env.starts_with('_') || !is_valid_stem(&args.env) {
        return Err(Error::Usage(format!(
            "`{}` is not an environment name: lower-case letters, digits and `-` (`prod-eu-1`)",
            args.env
        )));
    }
    let path = root.join(ENV_DIR).join(format!("{}.yaml", args.env));
    if path.exists() {
        return Err(Error::Refused(format!("`{}` exists already; kgen never overwrites it", path.display())));
    }
    let mut ws = Workspace::load(root)?;
    let extends = match &args.extends {
        Some(l) => Some(l.as_str()),
        None => ws.files.contains_key("_base").then_some("_base"),
    };
    let mesh = args.mesh.clone().unwrap_or_else(|| if args.platform == "openshift" { "ossm3" } else { "istio" }.into());
    let domain = args.domain.clone().unwrap_or_else(|| format!("{}.example.com", args.env));
    let cat = catalog::get();
    let mut candidates: Vec<&str> = match &args.version {
        Some(v) => vec![v.as_str()],
        None => cat.releases.iter().map(|r| r.version.as_str()).collect(),
    };
    candidates.sort_by_key(|v| std::cmp::Reverse(Version::parse(v)));
    // The newest release whose render passes every rule here; the first refusal is shown when
    // none does (that of the newest release, or of the one asked for).
    let mut first_failure = None;
    for version in &candidates {
        let text = new_text(args, extends, version, &mesh, &domain)?;
        ws.insert_text(&args.env, text.clone());
        let c = pipeline::check(&ws, &args.env);
        let mut diags: Vec<_> = ws
            .diagnostics
            .iter()
            .filter(|d| d.file.as_deref() == Some(path_display(&args.env).as_str()))
            .cloned()
            .collect();
        diags.extend(c.diagnostics);
        let failed = c.judged.is_none() || diags.iter().any(|d| d.severity == Severity::Error);
        if !failed {
            std::fs::create_dir_all(root.join(ENV_DIR)).map_err(|source| Error::Io {
                path: root.join(ENV_DIR),
                action: "create",
                source,
            })?;
            create_new(&path, &text)?;
            for d in &diags {
                ctx.printer.diagnostic(d, d.file.as_deref().and_then(|f| ws.sources.get(f)).map(String::as_str));
            }
            ctx.printer.info(&format!(
                "created {} (KServe {version}); `kgen render {}` renders it",
                path_display(&args.env),
                args.env
            ));
            if args.domain.is_none() {
                ctx.printer.warning(&format!(
                    "`kserve.ingressDomain` is a placeholder ({domain}): set it in {}",
                    path_display(&args.env)
                ));
            }
            return Ok(exit_codes::SUCCESS);
        }
        if first_failure.is_none() {
            let sources = ws.sources.clone();
            first_failure = Some((sources, diags));
        }
    }
    let (sources, diags) = first_failure.expect("at least one candidate release");
    for d in &diags {
        ctx.printer.diagnostic(d, d.file.as_deref().and_then(|f| sources.get(f)).map(String::as_str));
    }
    ctx.printer.info(&format!(
        "nothing written: `{}` would not validate on KServe {}{} (above)",
        args.env,
        candidates[0],
        if candidates.len() > 1 { " nor on an older release" } else { "" }
    ));
    Ok(exit_codes::ERROR)
}

fn path_display(env: &str) -> String {
    format!("{ENV_DIR}/{env}.yaml")
}
