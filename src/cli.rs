//! The command line. Doc comments are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::engine::{ArgValueCandidates, ArgValueCompleter};

pub mod complete;

/// Compile typed KServe environment files into rendered, pinned GitOps trees.
#[derive(Debug, Parser)]
#[command(
    name = "kgen",
    version,
    about,
    max_term_width = 100,
    after_long_help = "\
Examples:
  # Check every environment, then render them into rendered/<env>/
  kgen validate
  kgen render
  # What a change does, as a pull request comment would show it
  kgen diff --format markdown
  # Where an effective value comes from
  kgen explain prod kserve.version"
)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Run as if started in DIR (the folder holding `environments/` and `rendered/`). Without
    /// it, kgen looks for `environments/` here and then in each folder above, as git and cargo
    /// find their roots.
    #[arg(
        short = 'C',
        long = "directory",
        value_name = "DIR",
        global = true,
        default_value = ".",
        value_hint = clap::ValueHint::DirPath
    )]
    pub dir: PathBuf,
    /// When to use colour: `auto` (a terminal without `NO_COLOR`), `always` or `never`.
    #[arg(long, value_enum, value_name = "WHEN", global = true, default_value = "auto", env = "KGEN_COLOR")]
    pub color: ColorChoice,
    /// Treat warnings as errors (exit code 2).
    #[arg(long, global = true)]
    pub strict: bool,
    /// Print only errors and data.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more about what kgen is doing: `-v` what it read, checked and decided (and the
    /// notes of ignored rules), `-vv` also each environment's stages as they run.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Colour choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour on a terminal, unless `NO_COLOR` is set.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// Environments a command acts on.
#[derive(Debug, Args, Clone, Default)]
pub struct EnvSelection {
    /// Environment names (file names under `environments/` without `.yaml`) or globs
    /// (`'k8s-*'`, quoted for the shell); none means all.
    #[arg(value_name = "ENV", add = ArgValueCompleter::new(complete::environments))]
    pub envs: Vec<String>,
    /// Act on every environment (the same as naming none).
    #[arg(long, conflicts_with = "envs")]
    pub all: bool,
    /// Only environments whose effective configuration matches `KEY=VALUE` (or `KEY!=VALUE`);
    /// repeat to require several. KEY is a key path (`cluster.kubernetesVersion`), a short
    /// name (`platform`, `kubernetes`, `mesh`, `engine`, `mode`, `version`) or `extends` (a
    /// layer anywhere in the chain: `extends=_eu`). Names and globs (`'k8s-*'`) narrow first.
    #[arg(long = "selector", short = 'l', value_name = "KEY=VALUE", add = ArgValueCompleter::new(complete::selectors))]
    pub selectors: Vec<crate::config::select::Selector>,
}

impl EnvSelection {
    /// Exactly one environment, by name.
    pub fn one(name: &str) -> EnvSelection {
        EnvSelection { envs: vec![name.to_string()], all: false, selectors: vec![] }
    }

    /// Whether the selection is every environment: no name, glob or selector. Only then are
    /// rendered folders without an environment file considered.
    pub fn is_everything(&self) -> bool {
        self.envs.is_empty() && self.selectors.is_empty()
    }
}

/// kgen's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render environments into `rendered/<env>/` and summarise what changed.
    #[command(after_long_help = "\
Examples:
  # Render every environment and summarise what changed
  kgen render
  # Only the OpenShift environments, printing the full diff of what was written
  kgen render -l platform=openshift --diff
  # In CI: fail when the committed render is stale or was edited by hand
  kgen render --all --check")]
    Render(RenderArgs),
    /// Render in memory and show what changes against the previous render, per object and
    /// field (nothing is written). Exit 0: no changes, 1: changes, 2: error, 3: risky changes
    /// under `--fail-on risk`.
    #[command(after_long_help = "\
Examples:
  # What changes in every environment against rendered/ on disk
  kgen diff
  # Against main, as a pull request comment; exit 3 on a risky change
  kgen diff --git-ref origin/main --format markdown --fail-on risk
  # The environments a glob names, for a bot
  kgen diff 'openshift*' --format json")]
    Diff(DiffArgs),
    /// Render every Helm release of environments with the `helm` on PATH (Helm 3.8 or later, or
    /// 4) into plain Kubernetes objects — exactly the chart, version, release name, namespace
    /// and values file the render installs — one file per object,
    /// `<release>/<namespace>/<kind>-<name>.yaml`, beside a copy of kgen's own `manifests/`.
    ///
    /// Charts are pulled once into the chart cache (`$KGEN_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/kgen`, else `~/.cache/kgen`; folder `charts/`), and the sha256 of each
    /// archive is recorded on first use in `kgen.charts.lock.json` at the project root (commit
    /// it); an archive whose digest differs is refused (KG612). Output: `--out DIR/<env>/`,
    /// default the cache's `hydrated/<env>/`; with `--write`, `rendered/<env>/hydrated/` of
    /// environments with `gitops.hydrate: true` (the charts' output only), which their engine
    /// applies. Exit 0: written, 2: error.
    #[command(after_long_help = "\
Examples:
  # Every Helm release of prod as plain objects, to check with your own tools
  kgen hydrate prod --out /tmp/hydrated
  # gitops.hydrate: true — the objects prod's engine applies, to commit with the render
  kgen hydrate --write prod
  # From the chart cache only (a disconnected machine); names what is missing
  kgen hydrate --offline
  # The Flux environments only, into one folder per environment
  kgen hydrate -l engine=flux --out /tmp/hydrated")]
    Hydrate(HydrateArgs),
    /// Plan the safe path from what an environment's cluster has (its committed render) to a
    /// KServe release: numbered steps, each the exact change to commit to the environment file,
    /// each rendered and checked like `kgen render` against the step before. Exit 0: already at
    /// the target, 1: steps printed, 2: error or no safe path.
    #[command(after_long_help = "\
Examples:
  # From what legacy's cluster runs to the newest release its Kubernetes supports
  kgen upgrade legacy
  # To a given release, as a pull request description
  kgen upgrade legacy --to v0.19.0 --format markdown
  # Apply the next step to environments/legacy.yaml
  kgen upgrade legacy --to v0.19.0 --write")]
    Upgrade(UpgradeArgs),
    /// Check environments: schema, then semantic rules; every problem at once.
    #[command(after_long_help = "\
Examples:
  kgen validate
  # In a GitHub workflow: warnings fail too, annotations on the pull request's files
  kgen validate --strict -l platform=openshift --format github
  kgen validate prod staging --format json")]
    Validate(ValidateArgs),
    /// List environments with their release, mode, mesh, platform and GitOps engine.
    #[command(after_long_help = "\
Examples:
  kgen list
  kgen list 'open*' -l mesh=ossm3 --format json")]
    List {
        /// Which environments.
        #[command(flatten)]
        selection: EnvSelection,
        /// `text` (a table) or `json` (`schemas/list.schema.json`).
        #[arg(long, value_enum, value_name = "FORMAT", default_value = "text")]
        format: OutputFormat,
    },
    /// Print an environment's merged, effective configuration, pins included.
    #[command(after_long_help = "\
Examples:
  kgen show prod
  kgen show prod --format json")]
    Show {
        /// The environment.
        #[arg(value_name = "ENV", add = ArgValueCompleter::new(complete::environments))]
        env: String,
        /// `yaml`, or `json` (an environment: `schemas/environment.schema.json` describes it).
        #[arg(long, value_enum, value_name = "FORMAT", default_value = "yaml")]
        format: ShowFormat,
    },
    /// Show where each effective value of an environment comes from (environment or layer
    /// file:line:col, values override, catalog or default) and which rendered files it reaches.
    #[command(after_long_help = "\
Examples:
  # Every effective value of prod: who set it and which rendered files it reaches
  kgen explain prod
  # Only the keys under kserve, or one key as JSON
  kgen explain prod kserve
  kgen explain prod kserve.version --format json")]
    Explain {
        /// The environment.
        #[arg(value_name = "ENV", add = ArgValueCompleter::new(complete::environments))]
        env: String,
        /// Only this key path (for example `kserve.version`) or the keys under a prefix (`kserve`).
        #[arg(value_name = "KEY", add = ArgValueCompleter::new(complete::explain_keys))]
        key: Option<String>,
        /// Output format: `text` (one block per key) or `json`.
        #[arg(long, value_enum, value_name = "FORMAT", default_value = "text")]
        format: ExplainFormat,
    },
    /// List the validation rules, or explain one.
    #[command(after_long_help = "\
Examples:
  kgen rules
  kgen rules KG401
  kgen rules --format json")]
    Rules {
        /// A rule code such as `KG401`.
        #[arg(value_name = "CODE", add = ArgValueCompleter::new(complete::rule_codes))]
        code: Option<String>,
        /// `text`, or `json` (every rule and retired code: `schemas/rules.schema.json`).
        #[arg(long, value_enum, value_name = "FORMAT", default_value = "text", conflicts_with = "code")]
        format: OutputFormat,
    },
    /// Print the JSON Schema of environment files (or of layers), or write both into `schemas/`.
    #[command(after_long_help = "\
Examples:
  # Keep the project's schemas/ current after upgrading kgen
  kgen schema --write
  kgen schema --layer > layer.schema.json
  # The schema of `kgen validate --format json`
  kgen schema --output validate")]
    Schema(SchemaArgs),
    /// Start a kgen project here (or in `-C DIR`): `environments/_base.yaml`, a commented layer
    /// every environment can extend, and `schemas/` with the JSON Schemas the files' `$schema`
    /// comments point at. Never overwrites a file.
    #[command(after_long_help = "\
Examples:
  kgen init
  kgen init --repo-url https://github.com/example/gitops.git
  kgen init && kgen new east --kubernetes 1.33 --mode Standard --engine flux")]
    Init(InitArgs),
    /// Write `environments/ENV.yaml`: a valid, commented environment file for the given cluster,
    /// on the newest KServe release that fits it unless `--version` says otherwise. Checked like
    /// `kgen validate` before it is written; never overwrites a file.
    #[command(after_long_help = "\
Examples:
  kgen new east --kubernetes 1.33
  kgen new east --platform kubernetes --kubernetes 1.33 --mode Standard --mesh istio --engine flux
  kgen new ocp --platform openshift --kubernetes 1.32 --version v0.19.0")]
    New(NewArgs),
    /// Print the version catalog: releases, pins, chart names, modes, minimum Kubernetes.
    #[command(after_long_help = "\
Examples:
  kgen versions
  kgen versions --format json")]
    Versions {
        /// `text` (tables) or `json` (`schemas/versions.schema.json`).
        #[arg(long, value_enum, value_name = "FORMAT", default_value = "text")]
        format: OutputFormat,
    },
    /// Print the shell completion script of SHELL.
    ///
    /// The script asks kgen for candidates on every TAB, so they follow the project (from the
    /// current folder upward, or `-C DIR`): environment and layer names, rule codes, `explain`
    /// key paths, `--selector` keys and values, releases, subcommands and flags. Install it once:
    ///
    /// bash: `kgen completions bash > ~/.local/share/bash-completion/completions/kgen` (with the
    /// bash-completion package), or the line `source <(kgen completions bash)` in `~/.bashrc`.
    ///
    /// zsh: `kgen completions zsh > "${fpath[1]}/_kgen"` and a new shell (`compinit` reads
    /// `$fpath`), or the line `source <(kgen completions zsh)` in `~/.zshrc` after `compinit`.
    ///
    /// fish: `kgen completions fish > ~/.config/fish/completions/kgen.fish`.
    ///
    /// elvish: the line `eval (kgen completions elvish | slurp)` in `~/.config/elvish/rc.elv`.
    ///
    /// powershell: the line `kgen completions powershell | Out-String | Invoke-Expression` in
    /// `$PROFILE`.
    ///
    /// The script runs the kgen it was printed by (by name when that one came from `PATH`);
    /// after upgrading kgen, print it again.
    #[command(after_long_help = "\
Examples:
  kgen completions bash > ~/.local/share/bash-completion/completions/kgen
  kgen completions zsh > \"${fpath[1]}/_kgen\"
  kgen completions fish > ~/.config/fish/completions/kgen.fish")]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print kgen's man page (roff), or write one page per command into DIR.
    #[command(after_long_help = "\
Examples:
  kgen man > kgen.1
  kgen man --out /usr/local/share/man/man1 && man kgen-render")]
    Man {
        /// Write `kgen.1` and `kgen-<command>.1` into this folder instead of printing `kgen.1`.
        #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
        out: Option<std::path::PathBuf>,
    },
}

/// Text for people, or JSON for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// For people.
    #[default]
    Text,
    /// Schema-versioned JSON on stdout.
    Json,
}

/// Output of `kgen show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ShowFormat {
    /// YAML, with a comment naming the files.
    #[default]
    Yaml,
    /// JSON.
    Json,
}

/// Output of `kgen validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ValidateFormat {
    /// Diagnostics with source frames on stderr.
    #[default]
    Text,
    /// One JSON report on stdout (`schemas/validate.schema.json`).
    Json,
    /// GitHub Actions workflow commands on stdout: annotations on the pull request's files.
    Github,
}

/// Options of `kgen validate`.
#[derive(Debug, Args, Clone, Default)]
pub struct ValidateArgs {
    /// Which environments.
    #[command(flatten)]
    pub selection: EnvSelection,
    /// `text`, `json` or `github` (workflow annotations).
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "text")]
    pub format: ValidateFormat,
}

/// Options of `kgen schema`.
#[derive(Debug, Args, Clone, Default)]
pub struct SchemaArgs {
    /// The schema of layers (`_*.yaml`): the same keys, nothing required but the header, since
    /// a layer may be partial. Editors use it through the layer's `$schema` comment.
    #[arg(long, conflicts_with = "write")]
    pub layer: bool,
    /// The schema of a command's JSON output instead: `list`, `versions`, `validate` or `rules`.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["layer", "write"])]
    pub output: Option<String>,
    /// Write `schemas/environment.schema.json` and `schemas/layer.schema.json` into the project
    /// (what the `$schema` comments of environment files point at), replacing older copies.
    #[arg(long)]
    pub write: bool,
}

/// Options of `kgen init`.
#[derive(Debug, Args, Clone, Default)]
pub struct InitArgs {
    /// The Git repository Argo CD or Flux will read `rendered/` from, written into
    /// `_base.yaml`; default: this repository's `origin` remote, else a placeholder to edit.
    #[arg(long, value_name = "URL")]
    pub repo_url: Option<String>,
    /// Also write a CI job that, on every change, runs `kgen validate --strict` and
    /// `kgen render --all --check` and shows `kgen diff` of the change: `github`
    /// (`.github/workflows/kgen.yml`, the diff posted as a pull-request comment by kgen's action)
    /// or `gitlab` (`.gitlab-ci.yml`, the diff as a merge-request artifact).
    #[arg(long, value_enum, value_name = "SYSTEM")]
    pub ci: Option<CiSystem>,
}

/// The CI systems `kgen init --ci` writes a job for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CiSystem {
    /// GitHub Actions.
    Github,
    /// GitLab CI/CD.
    Gitlab,
}

/// Options of `kgen new`.
#[derive(Debug, Args, Clone, Default)]
pub struct NewArgs {
    /// Name of the environment (lower-case letters, digits and `-`): the file is
    /// `environments/ENV.yaml`, the render `rendered/ENV/`.
    #[arg(value_name = "ENV")]
    pub env: String,
    /// `kubernetes` or `openshift`.
    #[arg(long, value_name = "PLATFORM", default_value = "kubernetes", add = ArgValueCandidates::new(complete::platforms))]
    pub platform: String,
    /// The cluster's Kubernetes minor version (`1.33`; OpenShift 4.19 is Kubernetes 1.32).
    #[arg(long = "kubernetes", value_name = "VERSION")]
    pub kubernetes: String,
    /// KServe deployment mode: `Standard` (plain Deployments) or `Knative` (serverless).
    #[arg(long, value_name = "MODE", default_value = "Standard", add = ArgValueCandidates::new(complete::modes))]
    pub mode: String,
    /// Service mesh: `istio`, `ossm2`, `ossm3` (OpenShift Service Mesh) or `none`. Default:
    /// `istio` on Kubernetes, `ossm3` on OpenShift.
    #[arg(long, value_name = "MESH", add = ArgValueCandidates::new(complete::meshes))]
    pub mesh: Option<String>,
    /// GitOps engine: `argocd`, `flux` or `none` (an `install.sh`).
    #[arg(long, value_name = "ENGINE", default_value = "argocd", add = ArgValueCandidates::new(complete::engines))]
    pub engine: String,
    /// The domain InferenceServices get hostnames under (`kserve.ingressDomain`, e.g.
    /// `models.east.example.com`); default: a placeholder under `example.com` to replace.
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Option<String>,
    /// KServe release (`v0.20.0`); default: the newest one whose render passes every rule on
    /// this cluster.
    #[arg(long, value_name = "VERSION", add = ArgValueCandidates::new(complete::releases))]
    pub version: Option<String>,
    /// The layer to extend; default `_base` when `environments/_base.yaml` exists.
    #[arg(long, value_name = "LAYER", add = ArgValueCompleter::new(complete::layers))]
    pub extends: Option<String>,
}

/// Options of `kgen render`.
#[derive(Debug, Args, Clone, Default)]
pub struct RenderArgs {
    /// Which environments.
    #[command(flatten)]
    pub selection: EnvSelection,
    /// Write under DIR/<env>/ instead of `rendered/<env>/` (relative to `-C`).
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub out: Option<PathBuf>,
    /// Write nothing; exit 1 with a diff when the committed render is stale, hand-edited, or has
    /// missing or extra generated files.
    #[arg(long)]
    pub check: bool,
    /// Also print the full diff of what changed (on stdout).
    #[arg(long)]
    pub diff: bool,
    /// Remove `rendered/ENV/` although `environments/ENV.yaml` is gone (deleted or renamed):
    /// without it, `render --all` refuses (rule KG609), as removing a render can lose models
    /// (docs/gitops.md, "Removing an environment"). Repeat it for several environments.
    #[arg(long, value_name = "ENV", conflicts_with = "envs", add = ArgValueCompleter::new(complete::removed_environments))]
    pub allow_removal: Vec<String>,
    /// How long to wait, in seconds, for another kgen process using the output folder (a
    /// `render` writing it; for a write, also a `--check` or `diff` reading it) before giving up
    /// with exit 2; 0 gives up at once.
    #[arg(long, value_name = "SECONDS", default_value_t = WAIT_LOCK_DEFAULT)]
    pub wait_lock: u64,
}

/// The default of `--wait-lock`: long enough for another render of a large fleet (a few seconds)
/// to finish, short enough that a stopped one (Ctrl-Z) is noticed.
pub const WAIT_LOCK_DEFAULT: u64 = 60;

/// Options of `kgen diff`.
#[derive(Debug, Args, Clone)]
pub struct DiffArgs {
    /// Which environments.
    #[command(flatten)]
    pub selection: EnvSelection,
    /// Compare with the render committed at this git ref (e.g. `origin/main`, `HEAD`) instead of
    /// the files on disk; read with the `git` command from the repository holding `-C`.
    #[arg(long, value_name = "REF")]
    pub git_ref: Option<String>,
    /// The previous render is under DIR/<env>/ instead of `rendered/<env>/` (relative to `-C`).
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub out: Option<PathBuf>,
    /// Output format: `text` for terminals, `markdown` for PR comments, `json` for bots (see
    /// `schemas/diff.schema.json`).
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "text")]
    pub format: DiffFormat,
    /// Markdown only: the most bytes in one part; longer output is split into numbered parts,
    /// each starting with the line `<!-- kgen-diff -->`.
    #[arg(long, value_name = "N", default_value_t = 65_000, value_parser = clap::value_parser!(u64).range(4_000..))]
    pub max_bytes: u64,
    /// Exit 3 (instead of 1) when a change is risky: removed CRDs or Namespaces, mode or mesh
    /// switches, downgrades, versions skipped or KServe migrations crossed, Helm release renames
    /// or removals, immutable field changes.
    #[arg(long, value_enum, value_name = "WHAT")]
    pub fail_on: Option<FailOn>,
    /// How long to wait, in seconds, for a `kgen render` writing the output folder before giving
    /// up with exit 2; 0 gives up at once. Not used with `--git-ref`.
    #[arg(long, value_name = "SECONDS", default_value_t = WAIT_LOCK_DEFAULT)]
    pub wait_lock: u64,
    /// Also render the Helm charts of both sides with `helm` (as `kgen hydrate` does, charts
    /// checked against `kgen.charts.lock.json`) and show how the objects they make change, with
    /// their risks: CRD versions or fields removed, images or registries changed, ClusterRoles
    /// widened, webhook failure policies or scopes changed, workloads removed.
    #[arg(long)]
    pub hydrate: bool,
    /// With `--hydrate`: use only charts already in the chart cache (fail naming the others).
    #[arg(long, requires = "hydrate")]
    pub offline: bool,
    /// Print the JSON Schema of `--format json` output and exit.
    #[arg(long, conflicts_with_all = ["git_ref", "format", "fail_on", "hydrate"])]
    pub schema: bool,
}

/// Options of `kgen hydrate`.
#[derive(Debug, Args, Clone, Default)]
pub struct HydrateArgs {
    /// Which environments.
    #[command(flatten)]
    pub selection: EnvSelection,
    /// Write each environment under DIR/<env>/ (relative to `-C`) instead of the chart cache's
    /// `hydrated/<env>/`. A folder kgen hydrate did not write (no `kgen.hydrated.json`) is never
    /// replaced.
    #[arg(long, value_name = "DIR", conflicts_with = "write")]
    pub out: Option<PathBuf>,
    /// Commit mode (`gitops.hydrate: true`): write each environment's chart output into
    /// `rendered/<env>/hydrated/`, where its engine applies it from; refused for environments
    /// without `gitops.hydrate`. Then commit it with the render.
    #[arg(long)]
    pub write: bool,
    /// Use only charts already in the chart cache; fail naming the ones missing.
    #[arg(long)]
    pub offline: bool,
}

/// Options of `kgen upgrade`.
#[derive(Debug, Args, Clone)]
pub struct UpgradeArgs {
    /// The environment.
    #[arg(value_name = "ENV", required_unless_present = "schema", add = ArgValueCompleter::new(complete::environments))]
    pub env: Option<String>,
    /// The KServe release to end at (default: the newest one the cluster's Kubernetes, as
    /// `cluster.kubernetesVersion` says, supports; a newer one plans the cluster's Kubernetes
    /// upgrades too).
    #[arg(long, value_name = "VERSION", add = ArgValueCandidates::new(complete::releases))]
    pub to: Option<String>,
    /// Plan from the render committed at this git ref (e.g. `origin/main`) instead of
    /// `rendered/<env>/` on disk; read with the `git` command.
    #[arg(long, value_name = "REF")]
    pub from_git_ref: Option<String>,
    /// Output format: `text`, `markdown` (a pull request description) or `json` (see
    /// `kgen upgrade --schema`).
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "text")]
    pub format: UpgradeFormat,
    /// Apply the next step to the environment file in place (only the keys it changes; every
    /// comment, blank line and key order is kept); `kgen render ENV` then renders that step.
    #[arg(long)]
    pub write: bool,
    /// Print the JSON Schema of `--format json` output and exit.
    #[arg(long, conflicts_with_all = ["to", "from_git_ref", "format", "write"])]
    pub schema: bool,
}

/// Output format of `kgen upgrade`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UpgradeFormat {
    /// Numbered steps for a terminal.
    Text,
    /// The same as Markdown, one section per step (for pull requests).
    Markdown,
    /// The plan as JSON (versioned by `schemaVersion`).
    Json,
}

/// Output format of `kgen diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// Per-environment blocks with field changes and unified hunks; colour on a terminal.
    Text,
    /// GitHub/GitLab Markdown: summary table, risks, collapsible details; split by `--max-bytes`.
    Markdown,
    /// The report as JSON (versioned by `schemaVersion`).
    Json,
}

/// Output format of `kgen explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExplainFormat {
    /// One block per key: value, origin, what it overrides, the files it reaches.
    Text,
    /// The same as a JSON document.
    Json,
}

/// What makes `kgen diff` exit 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Any risk flag.
    Risk,
}
