//! `kgen list`, `kgen show ENV`, `kgen explain ENV [KEY]` (its analysis is [`crate::explain`]).

use serde_json::Value;

use super::{Context, check, report, summary, table};
use crate::cli::{EnvSelection, ExplainFormat, OutputFormat, ShowFormat};
use crate::config::resolve::Resolved;
use crate::config::schema;
use crate::config::validate::did_you_mean;
use crate::error::Error;
use crate::exit_codes;
use crate::explain;
use crate::pipeline::Judged;
use crate::printer::BrokenPipe;
use crate::yaml;

/// The layers an environment extends, nearest first (`_eu`, `_base`).
fn layers(r: &Resolved) -> Vec<String> {
    r.files[..r.files.len() - 1]
        .iter()
        .rev()
        .map(|f| f.trim_start_matches("environments/").trim_end_matches(".yaml").to_string())
        .collect()
}

/// `kgen list --format json`.
fn list_json(ctx: &Context<'_>, checked: &super::Checked, names: &[String]) -> Result<u8, Error> {
    use super::json_out::{ListEntry, ListReport, SCHEMA_VERSION, to_text};
    let environments = names
        .iter()
        .map(|name| match checked.resolved.iter().find(|r| &r.name == name) {
            Some(r) => ListEntry {
                name: name.clone(),
                valid: true,
                kserve: Some(r.release.version.clone()),
                mode: Some(r.mode_name().to_string()),
                mesh: Some(r.env.mesh.provider.as_str().to_string()),
                platform: Some(format!("{:?}", r.env.cluster.platform).to_lowercase()),
                kubernetes: Some(r.env.cluster.kubernetes_version.clone()),
                engine: Some(r.env.gitops.engine.as_str().to_string()),
                extends: layers(r),
            },
            None => ListEntry {
                name: name.clone(),
                valid: false,
                kserve: None,
                mode: None,
                mesh: None,
                platform: None,
                kubernetes: None,
                engine: None,
                extends: vec![],
            },
        })
        .collect();
    let _ = ctx.printer.data(&to_text(&ListReport { schema_version: SCHEMA_VERSION, environments }));
    Ok(exit_codes::SUCCESS)
}

/// `kgen list`: one line per environment; invalid ones are listed as such.
pub fn list(ctx: &Context<'_>, selection: &EnvSelection, format: OutputFormat) -> Result<u8, Error> {
    let checked = check(ctx, selection)?;
    // Those selected: every one by name or glob; with selectors, those that matched (and the
    // invalid ones, which no selector can be evaluated on).
    let names: Vec<String> = if selection.selectors.is_empty() {
        crate::config::select::names(&checked.workspace, &selection.envs).0
    } else {
        let invalid = crate::config::select::names(&checked.workspace, &selection.envs).0.into_iter().filter(|n| {
            checked.diagnostics.iter().any(|d| {
                d.severity == crate::diag::Severity::Error
                    && d.file.as_deref() == Some(&format!("environments/{n}.yaml"))
            })
        });
        let mut v: Vec<String> = checked.resolved.iter().map(|r| r.name.clone()).chain(invalid).collect();
        crate::natural::sort(&mut v);
        v.dedup();
        v
    };
    if format == OutputFormat::Json {
        return list_json(ctx, &checked, &names);
    }
    let mut rows = vec![
        ["NAME", "KSERVE", "MODE", "MESH", "PLATFORM", "KUBERNETES", "GITOPS", "EXTENDS"].map(String::from).to_vec(),
    ];
    for name in names {
        match checked.resolved.iter().find(|r| r.name == name) {
            Some(r) => {
                let e = &r.env;
                let extends = layers(r).join(" → ");
                rows.push(vec![
                    name.clone(),
                    r.release.version.clone(),
                    r.mode_name().to_string(),
                    e.mesh.provider.as_str().to_string(),
                    format!("{:?}", e.cluster.platform).to_lowercase(),
                    e.cluster.kubernetes_version.clone(),
                    e.gitops.engine.as_str().to_string(),
                    if extends.is_empty() { "-".into() } else { extends },
                ]);
            }
            None => rows.push(vec![name.clone(), "(invalid: see `kgen validate`)".into()]),
        }
    }
    for r in &mut rows {
        r.resize(8, String::new());
    }
    if ctx.printer.data(&table(&rows)).is_err() {
        return Ok(exit_codes::SUCCESS);
    }
    if checked.has_errors() {
        ctx.printer
            .info(&format!("some environments are invalid ({}); run `kgen validate`", summary(&checked.diagnostics)));
    }
    Ok(exit_codes::SUCCESS)
}

/// Loads one environment or reports why it cannot.
fn one(ctx: &Context<'_>, env: &str) -> Result<Option<Judged>, Error> {
    let checked = check(ctx, &EnvSelection::one(env))?;
    if checked.has_errors() {
        report(ctx, &checked);
        return Ok(None);
    }
    report(ctx, &checked);
    Ok(checked.resolved.into_iter().next())
}

/// `kgen show ENV`.
pub fn show(ctx: &Context<'_>, env: &str, format: ShowFormat) -> Result<u8, Error> {
    let Some(r) = one(ctx, env)? else {
        return Ok(exit_codes::ERROR);
    };
    // The pins the catalog gives this release, overrides included: what `versions:` means.
    let mut effective = r.effective_value();
    effective["versions"] = serde_json::to_value(&r.pins).map_err(|e| Error::Internal(e.to_string()))?;
    if format == ShowFormat::Json {
        let _ = ctx.printer.data(&super::json_out::to_text(&effective));
        return Ok(exit_codes::SUCCESS);
    }
    let body = yaml::to_string(&effective).map_err(Error::Internal)?;
    let text = format!("# effective configuration of `{}` (from {})\n{body}", r.name, r.files.join(" + "));
    let _ = ctx.printer.data(&text);
    Ok(exit_codes::SUCCESS)
}

/// `kgen explain ENV [KEY]`: every effective value (or those under KEY), where it came from and
/// which rendered files it reaches.
pub fn explain(ctx: &Context<'_>, env: &str, key: Option<&str>, format: ExplainFormat) -> Result<u8, Error> {
    let checked = check(ctx, &EnvSelection::one(env))?;
    report(ctx, &checked);
    let Some(r) = checked.resolved.first().filter(|_| !checked.has_errors()) else {
        return Ok(exit_codes::ERROR);
    };
    let all = explain::leaves(r);
    let leaves: Vec<explain::Leaf> = match key {
        None => all,
        Some(k) => {
            let selected: Vec<explain::Leaf> = all.iter().filter(|l| under(&l.key, k)).cloned().collect();
            if selected.is_empty() {
                return unset_or_unknown(ctx, env, k, &all);
            }
            selected
        }
    };
    let started = std::time::Instant::now();
    let reaches = explain::trace(r, &checked.workspace.sources, &leaves)?;
    ctx.printer.debug(&format!(
        "traced {} value(s) of {env} through the renderer in {} ms",
        leaves.len(),
        started.elapsed().as_millis()
    ));
    let text = match format {
        ExplainFormat::Text => explain_text(r, &leaves, &reaches),
        ExplainFormat::Json => explain_json(r, &leaves, &reaches),
    };
    match ctx.printer.data(&text) {
        Ok(()) | Err(BrokenPipe) => Ok(exit_codes::SUCCESS),
    }
}

/// Whether `key` is `prefix` or below it.
fn under(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
}

/// A KEY that selects nothing: a field of the model that is not set (said on stdout, exit 0), or
/// not a key at all (exit 2, with the closest key).
fn unset_or_unknown(ctx: &Context<'_>, env: &str, key: &str, all: &[explain::Leaf]) -> Result<u8, Error> {
    let pointer: String = key.split('.').map(|s| format!("/{}", yaml::escape_pointer(s))).collect();
    if schema::schema_at(schema::environment_schema(), &pointer).is_some() {
        let text = format!("{key}: not set in `{env}`: no file sets it, and it has no default in this environment\n");
        let _ = ctx.printer.data(&text);
        return Ok(exit_codes::SUCCESS);
    }
    // Every key and every prefix of one is something KEY could have meant. When KEY's parent is
    // known, its last part is compared with the parent's children only (`kserve.namespce` →
    // `kserve.namespace`), and without a close one the children are listed.
    let mut known: Vec<&str> = Vec::new();
    for l in all {
        known.extend(l.key.match_indices('.').map(|(i, _)| &l.key[..i]));
        known.push(&l.key);
    }
    known.sort();
    known.dedup();
    let (parent, last) = key.rsplit_once('.').unwrap_or(("", key));
    let children: Vec<&str> =
        known.iter().filter(|k| k.rsplit_once('.').map_or("", |(p, _)| p) == parent).copied().collect();
    let name = |child: &str| child.rsplit_once('.').map_or(child, |(_, c)| c).to_string();
    let names: Vec<String> = children.iter().map(|c| name(c)).collect();
    let mut message = format!("`{key}` is not a key of `{env}`'s effective configuration");
    if children.is_empty() {
        match did_you_mean(key, known.iter().copied()) {
            Some(s) => message.push_str(&format!("; did you mean `{s}`?")),
            None => message.push_str(&format!("; `kgen explain {env}` lists every key")),
        }
    } else {
        match did_you_mean(last, names.iter().map(String::as_str)) {
            Some(s) if parent.is_empty() => message.push_str(&format!("; did you mean `{s}`?")),
            Some(s) => message.push_str(&format!("; did you mean `{parent}.{s}`?")),
            None if parent.is_empty() => message.push_str(&format!("; top-level keys: {}", names.join(", "))),
            None => message.push_str(&format!("; keys under `{parent}`: {}", names.join(", "))),
        }
    }
    Err(Error::Usage(message))
}

/// A value as written in an environment file: strings unquoted unless YAML would read them as
/// something else (`"1.33"`, `"true"`), lists in flow style.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) if s.is_empty() || serde_json::from_str::<Value>(s).is_ok_and(|p| !p.is_string()) => {
            format!("{s:?}")
        }
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn explain_text(r: &Resolved, leaves: &[explain::Leaf], reaches: &[explain::Reach]) -> String {
    let mut out = format!(
        "# {name}: where each effective value comes from, and the files of rendered/{name}/ it reaches:\n\
         # those that differ when only that value is changed (to `probe`) and {name} is rendered again.\n\
         # kgen.lock.json counts only when more than its file digests changes.\n",
        name = r.name
    );
    let line = |out: &mut String, label: &str, text: &str| out.push_str(&format!("  {label:<10} {text}\n"));
    for (leaf, reach) in leaves.iter().zip(reaches) {
        out.push_str(&format!("\n{} = {}\n", leaf.key, shown(&leaf.value)));
        line(&mut out, "set by", &leaf.source.to_string());
        for (i, o) in leaf.overrides.iter().enumerate() {
            line(&mut out, if i == 0 { "overrides" } else { "" }, &format!("{}:{}:{}", o.file, o.line, o.col));
        }
        match reach {
            explain::Reach::Traced { probe, files, breaks } => {
                let note = if breaks.is_empty() {
                    String::new()
                } else {
                    format!(" (breaks {}; traced anyway)", breaks.join(", "))
                };
                line(&mut out, "probe", &format!("{}{note}", shown(probe)));
                if files.is_empty() {
                    line(&mut out, "reaches", "nothing");
                }
                for (i, f) in files.iter().enumerate() {
                    let text = match f.change {
                        explain::Change::Changed => f.path.clone(),
                        explain::Change::Added => format!("{} (added)", f.path),
                        explain::Change::Removed => format!("{} (removed)", f.path),
                    };
                    line(&mut out, if i == 0 { "reaches" } else { "" }, &text);
                }
            }
            explain::Reach::NotTraced { reason } => line(&mut out, "reaches", &format!("(not traced: {reason})")),
        }
    }
    out
}

fn explain_json(r: &Resolved, leaves: &[explain::Leaf], reaches: &[explain::Reach]) -> String {
    #[derive(serde::Serialize)]
    struct Entry<'a> {
        #[serde(flatten)]
        leaf: &'a explain::Leaf,
        reaches: &'a explain::Reach,
    }
    let keys: Vec<Entry<'_>> = leaves.iter().zip(reaches).map(|(leaf, reaches)| Entry { leaf, reaches }).collect();
    let doc = serde_json::json!({ "environment": r.name, "files": r.files, "keys": keys });
    let mut s = serde_json::to_string_pretty(&doc).expect("the explanation serialises");
    s.push('\n');
    s
}
