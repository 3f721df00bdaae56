//! `kgen list`, `kgen show ENV`, `kgen explain ENV [KEY]`.

use serde_json::Value;

use super::{Context, check, report, summary, table};
use crate::cli::EnvSelection;
use crate::config::model::GitopsEngine;
use crate::config::resolve::{PinSource, Resolved};
use crate::config::validate::key_path;
use crate::error::Error;
use crate::exit_codes;
use crate::printer::BrokenPipe;
use crate::yaml;

fn engine(e: GitopsEngine) -> &'static str {
    match e {
        GitopsEngine::Argocd => "argocd",
        GitopsEngine::Flux => "flux",
        GitopsEngine::None => "none",
    }
}

/// `kgen list`: one line per environment; invalid ones are listed as such.
pub fn list(ctx: &Context<'_>) -> Result<u8, Error> {
    let checked = check(ctx, &EnvSelection::default())?;
    let mut rows = vec![
        ["NAME", "KSERVE", "MODE", "MESH", "PLATFORM", "KUBERNETES", "GITOPS", "EXTENDS"].map(String::from).to_vec(),
    ];
    for name in checked.workspace.environment_names() {
        match checked.resolved.iter().find(|r| r.name == name) {
            Some(r) => {
                let e = &r.env;
                let extends = r.files[..r.files.len() - 1]
                    .iter()
                    .rev()
                    .map(|f| f.trim_start_matches("environments/").trim_end_matches(".yaml"))
                    .collect::<Vec<_>>()
                    .join(" → ");
                rows.push(vec![
                    name.clone(),
                    r.release.version.clone(),
                    r.mode_name().to_string(),
                    e.mesh.provider.as_str().to_string(),
                    format!("{:?}", e.cluster.platform).to_lowercase(),
                    e.cluster.kubernetes_version.clone(),
                    engine(e.gitops.engine).to_string(),
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
fn one(ctx: &Context<'_>, env: &str) -> Result<Option<Resolved>, Error> {
    let checked = check(ctx, &EnvSelection { envs: vec![env.to_string()], all: false })?;
    if checked.has_errors() {
        report(ctx, &checked);
        return Ok(None);
    }
    report(ctx, &checked);
    Ok(checked.resolved.into_iter().next())
}

/// `kgen show ENV`.
pub fn show(ctx: &Context<'_>, env: &str) -> Result<u8, Error> {
    let Some(r) = one(ctx, env)? else {
        return Ok(exit_codes::ERROR);
    };
    let body = yaml::to_string(&r.effective_value()).map_err(Error::Internal)?;
    let text = format!("# effective configuration of `{}` (from {})\n{body}", r.name, r.files.join(" + "));
    let _ = ctx.printer.data(&text);
    Ok(exit_codes::SUCCESS)
}

/// `kgen explain ENV [KEY]`: every effective value and where it was set.
pub fn explain(ctx: &Context<'_>, env: &str, key: Option<&str>) -> Result<u8, Error> {
    let Some(r) = one(ctx, env)? else {
        return Ok(exit_codes::ERROR);
    };
    let mut rows = Vec::new();
    let mut leaves = Vec::new();
    collect_leaves(&r.effective_value(), String::new(), &mut leaves);
    for (ptr, value) in leaves {
        let origin = match r.provenance.exact(&ptr) {
            Some(o) => format!("{}:{}:{}", o.file, o.line, o.col),
            None if ptr == "/kserve/version" => "catalog (newest release)".into(),
            None => "default".into(),
        };
        rows.push(vec![key_path(&ptr), value, origin]);
    }
    for (pin, version) in &r.pins {
        let origin = match r.pin_sources.get(pin) {
            Some(PinSource::Override) => {
                let o = r.provenance.exact(&format!("/versions/{pin}"));
                o.map_or("versions".into(), |o| format!("{}:{}:{}", o.file, o.line, o.col))
            }
            _ => format!("catalog: KServe {} ({})", r.release.version, r.release.pins_source),
        };
        if r.pin_sources.get(pin) == Some(&PinSource::Catalog) {
            rows.push(vec![format!("versions.{pin}"), version.clone(), origin]);
        }
    }
    rows.sort_by(|a, b| a[0].cmp(&b[0]));
    if let Some(k) = key {
        rows.retain(|r| r[0] == k || r[0].starts_with(&format!("{k}.")) || r[0].starts_with(&format!("{k}[")));
        if rows.is_empty() {
            ctx.printer.error(&format!("`{k}` is not a key of `{env}`'s effective configuration"));
            return Ok(exit_codes::ERROR);
        }
    }
    rows.insert(0, ["KEY", "VALUE", "SET BY"].map(String::from).to_vec());
    match ctx.printer.data(&table(&rows)) {
        Ok(()) | Err(BrokenPipe) => Ok(exit_codes::SUCCESS),
    }
}

fn collect_leaves(v: &Value, ptr: String, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, c) in m {
                collect_leaves(c, format!("{ptr}/{}", yaml::escape_pointer(k)), out);
            }
        }
        Value::Array(a) if !a.is_empty() && a.iter().any(|x| x.is_object()) => {
            for (i, c) in a.iter().enumerate() {
                collect_leaves(c, format!("{ptr}/{i}"), out);
            }
        }
        // An empty map (`versions: {}`) has no value of its own to explain.
        Value::Object(_) => {}
        Value::String(s) => out.push((ptr, s.clone())),
        other => out.push((ptr, other.to_string())),
    }
}
