//! kgen compiles small, typed environment files into pinned KServe GitOps trees: Helm values,
//! Kubernetes manifests and the Argo CD / Flux objects that install the charts.
//!
//! The pipeline runs one way, one stage per module:
//!
//! 1. **load** (`config::load`): read `environments/*.yaml` through [`yaml`] (bounded budgets,
//!    duplicate keys rejected) and check each file on its own against the layer schema;
//! 2. **merge** (`config::merge`): follow `extends`, deep-merge maps, keep provenance;
//! 3. **resolve** (`config::validate`, `config::resolve`): the full schema, the typed model and
//!    the [`catalog`] release;
//! 4. **plan** (`render::plan`), **rules** ([`rules`]), **render** ([`render`]): what the
//!    environment installs, the semantic rules, the files in memory — sequenced by
//!    [`pipeline`], the one place that applies `ignore:`; [`explain`] probes changed copies of
//!    an environment through the same pipeline to say which files a value reaches;
//! 5. **compare**, **write**, **print** ([`compare`], [`write`], [`printer`], [`commands`]):
//!    the only code that touches the terminal or disk; [`hydrate`] (pure) turns the `helm`
//!    output `commands::hydrate` gets into the objects a render's charts make, and diffs them.
//!
//! Layering, from the bottom (a module only uses modules of its own layer or below, and no
//! import cycle; `tests/layering.rs` keeps it so): utilities → model/catalog → config → plan →
//! render → rules → pipeline → previous/compare/diff/hydrate/write → commands/explain.

pub mod catalog;
pub mod cli;
pub mod commands;
pub mod compare;
pub mod config;
pub mod diag;
pub mod diff;
pub mod edit;
pub mod error;
pub mod exit_codes;
pub mod explain;
#[doc(hidden)]
pub mod fuzz;
pub mod hydrate;
pub mod lock;
pub mod natural;
pub mod pipeline;
pub mod previous;
pub mod printer;
pub mod render;
pub mod rule_code;
pub mod rules;
pub mod skew;
pub mod upgrade;
pub mod value;
pub mod version;
pub mod write;
pub mod yaml;

use cli::{Cli, Command};
use commands::Context;

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: &Cli) -> u8 {
    // Notes of ignored rules are reviewed where rules are reviewed (`kgen validate`); elsewhere
    // they would repeat on every run of `render`, `diff` and CI, so they need `-v`.
    let show_ignore_notes = matches!(cli.command, Command::Validate(_)) || cli.global.verbose > 0;
    let mut global = cli.global.clone();
    // `kgen init` starts a project exactly where it is told; every other command finds the one
    // it is in.
    if !matches!(cli.command, Command::Init(_)) {
        global.dir = config::load::project_root(&global.dir);
    }
    let ctx = Context { global: &global, printer: printer::Printer::new(&global), show_ignore_notes };
    let result = match &cli.command {
        Command::Render(args) => commands::render::run(&ctx, args),
        Command::Diff(args) => commands::diff::run(&ctx, args),
        Command::Hydrate(args) => commands::hydrate::run(&ctx, args),
        Command::Upgrade(args) => commands::upgrade::run(&ctx, args),
        Command::Validate(args) => commands::validate::run(&ctx, args),
        Command::List { selection, format } => commands::inspect::list(&ctx, selection, *format),
        Command::Show { env, format } => commands::inspect::show(&ctx, env, *format),
        Command::Explain { env, key, format } => commands::inspect::explain(&ctx, env, key.as_deref(), *format),
        Command::Rules { code, format } => commands::catalog_cmds::rules(&ctx, code.as_deref(), *format),
        Command::Schema(args) => commands::catalog_cmds::schema(&ctx, args),
        Command::Init(args) => commands::init::init(&ctx, args),
        Command::New(args) => commands::init::new(&ctx, args),
        Command::Versions { format } => commands::catalog_cmds::versions(&ctx, *format),
        Command::Completions { shell } => commands::catalog_cmds::completions(&ctx, *shell),
        Command::Man { out } => commands::catalog_cmds::man(&ctx, out.as_deref()),
    };
    // Debug builds: how often each stage ran per environment, for the test that holds every
    // command to once (tests/pipeline.rs).
    if cfg!(debug_assertions) && std::env::var_os("KGEN_STAGE_COUNTS").is_some() {
        let counts = serde_json::to_string(&pipeline::stage_counts()).expect("counts serialise");
        ctx.printer.info(&format!("stage counts: {counts}"));
    }
    match result {
        Ok(code) => code,
        Err(e) => {
            ctx.printer.error(&e.to_string());
            e.exit_code()
        }
    }
}

/// Runs `items` through `f` on every core; results keep the input order.
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(items.len().max(1));
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = items.chunks(chunk).map(|c| s.spawn(|| c.iter().map(&f).collect::<Vec<R>>())).collect();
        handles.into_iter().flat_map(|h| h.join().expect("render worker panicked")).collect()
    })
}
