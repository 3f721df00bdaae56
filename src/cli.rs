//! The command line. Doc comments are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Compile typed KServe environment files into rendered, pinned GitOps trees.
#[derive(Debug, Parser)]
#[command(name = "kgen", version, about, max_term_width = 100)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Run as if started in DIR (the folder holding `environments/` and `rendered/`).
    #[arg(short = 'C', long = "directory", value_name = "DIR", global = true, default_value = ".")]
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
    /// Print more about what kgen is doing.
    #[arg(short, long, global = true)]
    pub verbose: bool,
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
    /// Environment names (file names under `environments/` without `.yaml`); none means all.
    #[arg(value_name = "ENV")]
    pub envs: Vec<String>,
    /// Act on every environment (the same as naming none).
    #[arg(long, conflicts_with = "envs")]
    pub all: bool,
}

/// kgen's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render environments into `rendered/<env>/` and summarise what changed.
    Render(RenderArgs),
    /// Render in memory and show what changes against the previous render, per object and
    /// field (nothing is written). Exit 0: no changes, 1: changes, 2: error, 3: risky changes
    /// under `--fail-on risk`.
    Diff(DiffArgs),
    /// Plan the safe path from what an environment's cluster has (its committed render) to a
    /// KServe release: numbered steps, each the exact change to commit to the environment file,
    /// each rendered and checked like `kgen render` against the step before. Exit 0: already at
    /// the target, 1: steps printed, 2: error or no safe path.
    Upgrade(UpgradeArgs),
    /// Check environments: schema, then semantic rules; every problem at once.
    Validate(EnvSelection),
    /// List environments with their release, mode, mesh, platform and GitOps engine.
    List,
    /// Print an environment's merged, effective configuration as YAML.
    Show {
        /// The environment.
        #[arg(value_name = "ENV")]
        env: String,
    },
    /// Show where each effective value of an environment comes from (environment or layer
    /// file:line:col, values override, catalog or default) and which rendered files it reaches.
    Explain {
        /// The environment.
        #[arg(value_name = "ENV")]
        env: String,
        /// Only this key path (for example `kserve.version`) or the keys under a prefix (`kserve`).
        #[arg(value_name = "KEY")]
        key: Option<String>,
        /// Output format: `text` (one block per key) or `json`.
        #[arg(long, value_enum, value_name = "FORMAT", default_value = "text")]
        format: ExplainFormat,
    },
    /// List the validation rules, or explain one.
    Rules {
        /// A rule code such as `KG401`.
        #[arg(value_name = "CODE")]
        code: Option<String>,
    },
    /// Print the JSON Schema of environment files.
    Schema,
    /// Print the version catalog: releases, pins, chart names, modes, minimum Kubernetes.
    Versions,
    /// Print a shell completion script.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Options of `kgen render`.
#[derive(Debug, Args, Clone, Default)]
pub struct RenderArgs {
    /// Which environments.
    #[command(flatten)]
    pub selection: EnvSelection,
    /// Write under DIR/<env>/ instead of `rendered/<env>/` (relative to `-C`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write nothing; exit 1 with a diff when the committed render is stale, hand-edited, or has
    /// missing or extra generated files.
    #[arg(long)]
    pub check: bool,
    /// Also print the full diff of what changed (on stdout).
    #[arg(long)]
    pub diff: bool,
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
    #[arg(long, value_name = "DIR")]
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
    /// Print the JSON Schema of `--format json` output and exit.
    #[arg(long, conflicts_with_all = ["git_ref", "format", "fail_on"])]
    pub schema: bool,
}

/// Options of `kgen upgrade`.
#[derive(Debug, Args, Clone)]
pub struct UpgradeArgs {
    /// The environment.
    #[arg(value_name = "ENV", required_unless_present = "schema")]
    pub env: Option<String>,
    /// The KServe release to end at (default: the newest one the cluster's Kubernetes, as
    /// `cluster.kubernetesVersion` says, supports; a newer one plans the cluster's Kubernetes
    /// upgrades too).
    #[arg(long, value_name = "VERSION")]
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
