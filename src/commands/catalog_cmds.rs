//! `kgen schema`, `kgen versions`, `kgen rules [CODE]`, `kgen completions SHELL`.

use clap::CommandFactory;

use super::{Context, json_out, table};
use crate::catalog;
use crate::cli::Cli;
use crate::cli::OutputFormat;
use crate::config::schema;
use crate::error::Error;
use crate::exit_codes;
use crate::rules;

fn emit(ctx: &Context<'_>, text: &str) -> Result<u8, Error> {
    // A closed pipe is not an error (SPEC §6).
    let _ = ctx.printer.data(text);
    Ok(exit_codes::SUCCESS)
}

/// `kgen schema [--layer] [--write]`.
pub fn schema(ctx: &Context<'_>, args: &crate::cli::SchemaArgs) -> Result<u8, Error> {
    if let Some(name) = &args.output {
        let Some(text) = json_out::schema_text(name) else {
            return Err(Error::Usage(format!("no output `{name}`; one of: {}", json_out::OUTPUTS.join(", "))));
        };
        return emit(ctx, &text);
    }
    if args.write {
        let written = super::init::write_schemas(&ctx.global.dir)?;
        ctx.printer.info(&format!("wrote {}", written.join(", ")));
        return Ok(exit_codes::SUCCESS);
    }
    emit(ctx, &if args.layer { schema::layer_schema_text() } else { schema::schema_text() })
}

/// `kgen versions`.
pub fn versions(ctx: &Context<'_>, format: OutputFormat) -> Result<u8, Error> {
    match format {
        OutputFormat::Text => emit(ctx, &versions_text()),
        OutputFormat::Json => emit(ctx, &json_out::to_text(&versions_report())),
    }
}

/// The catalog as `kgen versions --format json` prints it.
pub fn versions_report() -> json_out::VersionsReport {
    let c = catalog::get();
    let mut newest_first: Vec<&catalog::Release> = c.releases.iter().collect();
    newest_first.sort_by_key(|r| std::cmp::Reverse(crate::version::Version::parse(&r.version)));
    let releases = newest_first
        .into_iter()
        .map(|r| {
            let modes = c.modes(r);
            json_out::ReleaseEntry {
                version: r.version.clone(),
                released: r.released.clone(),
                chart: r.kserve_chart.clone(),
                runtime_configs_chart: r.runtime_configs_chart,
                chart_names: r.chart_names.clone(),
                llmisvc_charts: r.llmisvc_charts,
                local_model_charts: r.local_model_charts,
                modes: [
                    ("knative".to_string(), modes.knative.clone()),
                    ("standard".to_string(), modes.standard.clone()),
                ]
                .into(),
                kubernetes_minimum: c.kubernetes_minimum(r, &r.pins).0.to_string(),
                pins: r.pins.clone(),
            }
        })
        .collect();
    let charts = c
        .charts
        .iter()
        .map(|(name, ch)| {
            (
                name.clone(),
                json_out::ChartEntry {
                    chart: ch.chart.clone(),
                    repository: ch.repo.clone(),
                    repository_name: ch.repo_name.clone(),
                    namespace: ch.namespace.clone(),
                    version_from: ch.version.clone(),
                },
            )
        })
        .collect();
    json_out::VersionsReport { schema_version: json_out::SCHEMA_VERSION, releases, charts }
}

/// The catalog as text tables.
pub fn versions_text() -> String {
    let c = catalog::get();
    let pin_names = [
        "istio",
        "knativeOperator",
        "knativeServing",
        "certManager",
        "gatewayApi",
        "envoyGateway",
        "keda",
        "lws",
        "envoyAiGateway",
    ];
    let mut rows = vec![
        [
            "KSERVE",
            "RELEASED",
            "CHART",
            "MODES",
            "MIN-K8S STD/KN",
            "ISTIO",
            "KNATIVE-OP",
            "SERVING",
            "CERT-MGR",
            "GATEWAY-API",
            "ENVOY-GW",
            "KEDA",
            "LWS",
            "ENVOY-AI-GW",
        ]
        .map(String::from)
        .to_vec(),
    ];
    let mut newest_first: Vec<&catalog::Release> = c.releases.iter().collect();
    newest_first.sort_by_key(|r| std::cmp::Reverse(crate::version::Version::parse(&r.version)));
    for r in newest_first {
        let modes = c.modes(r);
        let mut row = vec![
            r.version.clone(),
            r.released.clone(),
            if r.runtime_configs_chart {
                format!("{} + kserve-runtime-configs", r.kserve_chart)
            } else {
                r.kserve_chart.clone()
            },
            format!("{}/{}", modes.knative, modes.standard),
            {
                // Standard mode installs no Knative; Knative mode on Kubernetes installs it all.
                let knative = [crate::catalog::KNATIVE_OPERATOR, crate::catalog::KNATIVE_SERVING];
                let standard = r.pins.iter().filter(|(k, _)| !knative.contains(&k.as_str()));
                let standard = standard.map(|(k, v)| (k.clone(), v.clone())).collect();
                format!("{}/{}", c.kubernetes_minimum(r, &standard).0, c.kubernetes_minimum(r, &r.pins).0)
            },
        ];
        row.extend(pin_names.iter().map(|p| r.pins.get(*p).cloned().unwrap_or_else(|| "-".into())));
        rows.push(row);
    }
    let mut out = String::from("KServe releases (pins from each release's kserve-deps.env or install script):\n\n");
    out.push_str(&table(&rows));
    out.push_str("\nHelm releases (stable names; chart and namespace by default):\n\n");
    let mut rows = vec![
        ["RELEASE", "CHART", "REPOSITORY", "REPOSITORY NAME", "NAMESPACE", "VERSION FROM"].map(String::from).to_vec(),
    ];
    for (name, ch) in &c.charts {
        rows.push(vec![
            name.clone(),
            ch.chart.clone(),
            ch.repo.clone(),
            ch.repo_name.clone(),
            ch.namespace.clone(),
            ch.version.clone(),
        ]);
    }
    out.push_str(&table(&rows));
    out.push_str("\nCRD sources (applied from Git at the pinned tag; `mirrors.crds` names):\n\n");
    let mut rows = vec![["CRD SOURCE", "REPOSITORY", "PATH", "VERSION FROM"].map(String::from).to_vec()];
    for (name, s) in &c.crd_sources {
        rows.push(vec![name.clone(), s.repo.clone(), s.path.clone(), s.version.clone()]);
    }
    out.push_str(&table(&rows));
    out.push_str("\nIstio values layout (keys are always set without the prefix):\n\n");
    let mut rows = vec![["FROM ISTIO", "DEFAULTS UNDER"].map(String::from).to_vec()];
    for l in &c.istio_values_layouts {
        rows.push(vec![l.from.clone(), if l.prefix.is_empty() { "(top level)".into() } else { l.prefix.clone() }]);
    }
    out.push_str(&table(&rows));
    out
}

/// Every rule and retired code, as `kgen rules --format json` prints them.
pub fn rules_report() -> json_out::RulesReport {
    json_out::RulesReport {
        schema_version: json_out::SCHEMA_VERSION,
        rules: rules::rules()
            .iter()
            .map(|r| json_out::RuleEntry {
                code: r.code.clone(),
                severity: r.severity.as_str().to_string(),
                stage: r.stage.as_str().to_string(),
                title: r.title.clone(),
                rationale: r.rationale.clone(),
                fix: r.fix.clone(),
                source: r.source.clone(),
                example: r.example.clone(),
            })
            .collect(),
        retired: rules::retired()
            .iter()
            .map(|r| json_out::RetiredEntry {
                code: r.code.clone(),
                title: r.title.clone(),
                retired: r.retired.clone(),
                why: r.why.clone(),
                replaced_by: r.replaced_by.clone(),
            })
            .collect(),
    }
}

/// `kgen rules [CODE]`.
pub fn rules(ctx: &Context<'_>, code: Option<&str>, format: OutputFormat) -> Result<u8, Error> {
    if format == OutputFormat::Json {
        return emit(ctx, &json_out::to_text(&rules_report()));
    }
    match code {
        None => emit(ctx, &rules_table()),
        Some(code) => {
            let code = code.to_ascii_uppercase();
            // A retired code is a real answer, not a typo: explained, exit 0.
            if let Some(r) = rules::retired_rule(&code) {
                return emit(ctx, &retired_text(r));
            }
            let Some(r) = rules::rule(&code) else {
                let codes: Vec<&str> = rules::rules().iter().map(|r| r.code.as_str()).collect();
                let hint = crate::config::validate::did_you_mean(&code, codes)
                    .map_or(String::new(), |s| format!(" (did you mean `{s}`?)"));
                return Err(Error::Usage(format!("no rule `{code}`{hint}; `kgen rules` lists them")));
            };
            emit(ctx, &rule_text(r))
        }
    }
}

/// The catalog as a table: code, severity, stage, fact, title; then the retired codes.
pub fn rules_table() -> String {
    let mut rows = vec![["CODE", "SEVERITY", "STAGE", "FACT", "RULE"].map(String::from).to_vec()];
    for r in rules::rules() {
        rows.push(vec![
            r.code.clone(),
            r.severity.as_str().into(),
            r.stage.as_str().into(),
            r.fact.clone().unwrap_or_else(|| "-".into()),
            r.title.clone(),
        ]);
    }
    let mut out = table(&rows);
    if !rules::retired().is_empty() {
        out.push_str("\nRetired codes (never reused; `kgen rules CODE` says why):\n\n");
        let mut rows = vec![["CODE", "REPLACED-BY", "WAS"].map(String::from).to_vec()];
        for r in rules::retired() {
            let by = if r.replaced_by.is_empty() { "-".to_string() } else { r.replaced_by.join(", ") };
            rows.push(vec![r.code.clone(), by, r.title.clone()]);
        }
        out.push_str(&table(&rows));
    }
    out
}

/// One rule in full: rationale, fix, source and example.
fn rule_text(r: &rules::Rule) -> String {
    let mut out = format!("{} ({}, checked on the {}): {}\n\n", r.code, r.severity.as_str(), r.stage.as_str(), r.title);
    out.push_str(&format!("why: {}\nfix: {}\nsource: {}\n", r.rationale, r.fix, r.source));
    if let Some(f) = &r.fact {
        // The id is for traceability (quote it in a report); the register itself is not shipped.
        out.push_str(&format!("fact: {f} (kgen's register of upstream facts)\n"));
    }
    if r.stage != rules::Stage::Input {
        out.push_str(&format!(
            "ignore: add `{{rule: {}, reason: \"…\"}}` to the environment's `ignore:` list\n",
            r.code
        ));
    }
    out.push_str("\nexample:\n");
    for line in r.example.lines() {
        out.push_str(&format!("  {line}\n"));
    }
    out
}

/// A retired code: what it was, when and why it was retired, what checks it now.
fn retired_text(r: &rules::Retired) -> String {
    let mut out = format!("{} (retired {}): {}\n\n", r.code, r.retired, r.title);
    out.push_str(&format!("This code is no longer a rule and will not be given to another one.\nwhy: {}\n", r.why));
    if !r.replaced_by.is_empty() {
        let codes = r.replaced_by.join(", ");
        out.push_str(&format!("replaced by: {codes} (`kgen rules {}`)\n", r.replaced_by[0]));
    }
    out.push_str(&format!("ignore: an `ignore:` entry for {} hides nothing (kgen warns, KG117); remove it\n", r.code));
    out
}

/// `kgen completions SHELL`: the registration script of the shell, which asks kgen for the
/// candidates on every TAB (`crate::cli::complete`).
pub fn completions(ctx: &Context<'_>, shell: clap_complete::Shell) -> Result<u8, Error> {
    let script = crate::cli::complete::registration(shell).map_err(Error::Usage)?;
    emit(ctx, &script)
}

/// `kgen man [--out DIR]`: the man pages clap_mangen generates from the same definitions as
/// `--help`, so they never drift from it.
pub fn man(ctx: &Context<'_>, out: Option<&std::path::Path>) -> Result<u8, Error> {
    let cmd = Cli::command();
    let page = |c: &clap::Command| -> Result<String, Error> {
        let mut buf = Vec::new();
        clap_mangen::Man::new(c.clone()).render(&mut buf).map_err(|e| Error::Internal(e.to_string()))?;
        let text = String::from_utf8(buf).map_err(|e| Error::Internal(e.to_string()))?;
        // clap_mangen files `after_long_help` under "EXTRA"; every command's is its examples,
        // which man pages head EXAMPLES.
        Ok(text.replace(".SH EXTRA\nExamples:\n", ".SH EXAMPLES\n"))
    };
    let Some(dir) = out else {
        return emit(ctx, &page(&cmd)?);
    };
    std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), action: "create", source })?;
    let mut written = vec![];
    let mut pages = vec![("kgen.1".to_string(), page(&cmd)?)];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        // Each page names its command as the shell calls it (`kgen-render`, as git's do).
        let named = sub.clone().name(format!("kgen-{}", sub.get_name()));
        pages.push((format!("kgen-{}.1", sub.get_name()), page(&named)?));
    }
    for (name, bytes) in pages {
        let path = dir.join(&name);
        std::fs::write(&path, bytes).map_err(|source| Error::Io { path: path.clone(), action: "write", source })?;
        written.push(name);
    }
    ctx.printer.info(&format!("wrote {} man pages into {}", written.len(), dir.display()));
    Ok(exit_codes::SUCCESS)
}
