//! Dynamic shell completion: what kgen offers while a shell completes a command line.
//!
//! The script `kgen completions SHELL` prints (clap_complete's, see [`registration`]) runs
//! `COMPLETE=SHELL kgen -- <the words typed so far>` on every TAB; [`answer_if_asked`], the
//! first thing `main` does, answers that with the candidates and exits. The candidates are the
//! project's environment and layer names (found from the current folder upward like every
//! command, or from `-C DIR` when it is already typed), rule codes, catalog releases and the
//! key paths of the environment model. Only folders are listed and small files read: nothing is
//! resolved or rendered, so a TAB stays instant on a large fleet. Any problem (no project, an
//! unreadable or broken file) means fewer candidates, never a message: whatever kgen wrote would
//! land in the middle of the user's prompt.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::engine::CompletionCandidate;
use serde_json::Value;

use crate::config::load::{ENV_DIR, is_valid_name, is_valid_stem, project_root};
use crate::config::schema::{environment_schema, schema_at};
use crate::yaml::escape_pointer;

/// The environment variable that asks kgen for completions (clap_complete's name for it).
pub const VAR: &str = "COMPLETE";

/// Answers a completion request and exits when `COMPLETE` is set; otherwise returns at once
/// (one environment lookup, so normal runs pay nothing). A request that cannot be answered
/// exits 1 without a word, which the shell scripts read as "no candidates".
pub fn answer_if_asked() {
    if std::env::var_os(VAR).is_none() {
        return;
    }
    let asks_for_candidates = std::env::args_os().any(|a| a == "--");
    let answered = clap_complete::CompleteEnv::with_factory(crate::cli::Cli::command)
        .var(VAR)
        .shells(SHELLS)
        .try_complete(std::env::args_os(), std::env::current_dir().ok().as_deref());
    match answered {
        Ok(true) => std::process::exit(0),
        Ok(false) => {}
        // `COMPLETE=bash kgen` alone asks for the script: a mistake there (`COMPLETE=tcsh`) is
        // worth saying, as `kgen completions` would.
        Err(e) if !asks_for_candidates => e.exit(),
        Err(_) => std::process::exit(1),
    }
}

/// The shells kgen completes in: clap_complete's, with zsh's script made to work from `$fpath`
/// too ([`Zsh`]).
const SHELLS: clap_complete::env::Shells<'static> = clap_complete::env::Shells(&[
    &clap_complete::env::Bash,
    &clap_complete::env::Elvish,
    &clap_complete::env::Fish,
    &clap_complete::env::Powershell,
    &Zsh,
]);

/// The registration script of `shell`: what `COMPLETE=SHELL kgen` prints, calling back into
/// this kgen the same way (by name when it was started from `PATH`, else by its path).
pub fn registration(shell: clap_complete::Shell) -> Result<String, String> {
    let name = shell.to_string();
    let Some(completer) = SHELLS.completer(&name) else {
        return Err(format!(
            "no dynamic completion for {name}; one of: {}",
            SHELLS.names().collect::<Vec<_>>().join(", ")
        ));
    };
    let mut buf = Vec::new();
    completer.write_registration(VAR, "kgen", "kgen", &self_path(), &mut buf).map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// clap_complete's zsh support, with a registration script that also works installed as
/// `_kgen` in `$fpath` ([`zsh_autoloadable`]).
struct Zsh;

impl clap_complete::env::EnvCompleter for Zsh {
    fn name(&self) -> &'static str {
        clap_complete::env::Zsh.name()
    }

    fn is(&self, name: &str) -> bool {
        clap_complete::env::Zsh.is(name)
    }

    fn write_registration(
        &self,
        var: &str,
        name: &str,
        bin: &str,
        completer: &str,
        buf: &mut dyn std::io::Write,
    ) -> Result<(), std::io::Error> {
        let mut script = Vec::new();
        clap_complete::env::Zsh.write_registration(var, name, bin, completer, &mut script)?;
        buf.write_all(zsh_autoloadable(&String::from_utf8_lossy(&script)).as_bytes())
    }

    fn write_complete(
        &self,
        cmd: &mut clap::Command,
        args: Vec<OsString>,
        current_dir: Option<&Path>,
        buf: &mut dyn std::io::Write,
    ) -> Result<(), std::io::Error> {
        clap_complete::env::Zsh.write_complete(cmd, args, current_dir, buf)
    }
}

/// How the script calls kgen back: argv[0] as `CompleteEnv` takes it (a relative path made
/// absolute, a bare name left to `PATH`), so `kgen completions SHELL` and `COMPLETE=SHELL kgen`
/// print the same script.
fn self_path() -> String {
    let argv0 = PathBuf::from(std::env::args_os().next().unwrap_or_else(|| OsString::from("kgen")));
    let path = match std::env::current_dir() {
        Ok(cwd) if argv0.components().count() > 1 => cwd.join(argv0),
        _ => argv0,
    };
    path.to_string_lossy().into_owned()
}

/// clap_complete's zsh script ends by registering its function with `compdef`, which is right
/// when the script is sourced. Installed as `_kgen` in `$fpath` instead, zsh runs the file as the
/// body of `_kgen` on the first TAB, which would only register the function and complete nothing
/// until the second TAB; the ending clap's static scripts use completes at once in that case.
fn zsh_autoloadable(script: &str) -> String {
    let register = "compdef _clap_dynamic_completer_kgen kgen";
    match script.rfind(register) {
        Some(at) => format!(
            "{}if [ \"$funcstack[1]\" = \"_kgen\" ]; then\n    _clap_dynamic_completer_kgen \"$@\"\nelse\n    {register}\nfi{}",
            &script[..at],
            &script[at + register.len()..]
        ),
        None => script.to_string(),
    }
}

/// The words the shell passed after `--` (the command line being completed, `kgen` first);
/// none outside a completion request.
fn words() -> Vec<String> {
    std::env::args_os().skip_while(|a| a != "--").skip(1).map(|a| a.to_string_lossy().into_owned()).collect()
}

/// The value of an option among `words` (`-C DIR`, `-CDIR`, `--directory DIR`,
/// `--directory=DIR`); the last one counts, as for clap.
fn option_value(words: &[String], short: &str, long: &str) -> Option<String> {
    let mut found = None;
    let mut it = words.iter().peekable();
    while let Some(w) = it.next() {
        if w == short || w == long {
            found = it.peek().map(|v| v.to_string());
        } else if let Some(v) = w.strip_prefix(&format!("{long}=")) {
            found = Some(v.to_string());
        } else if let Some(v) = w.strip_prefix(short).filter(|v| !v.is_empty() && !w.starts_with("--")) {
            found = Some(v.to_string());
        }
    }
    found
}

/// The project being completed in: `-C DIR` when it is typed, else the current folder or the
/// nearest one above that holds `environments/`, as kgen finds it when the command runs.
fn root() -> PathBuf {
    let dir = option_value(&words(), "-C", "--directory").unwrap_or_else(|| ".".into());
    project_root(Path::new(&dir))
}

/// The stems of `environments/*.yaml` with valid names, in natural order.
fn stems(root: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root.join(ENV_DIR)) else { return vec![] };
    let mut out: Vec<String> = entries
        .filter_map(|e| {
            let path = e.ok()?.path();
            if path.extension()? != "yaml" {
                return None;
            }
            let stem = path.file_stem()?.to_str()?;
            is_valid_stem(stem).then(|| stem.to_string())
        })
        .collect();
    crate::natural::sort(&mut out);
    out
}

fn starting_with(current: &OsStr, names: impl IntoIterator<Item = String>) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    names.into_iter().filter(|n| n.starts_with(current.as_ref())).map(CompletionCandidate::new).collect()
}

/// Environment names: `environments/*.yaml` that are not layers (`_*.yaml`).
pub fn environments(current: &OsStr) -> Vec<CompletionCandidate> {
    starting_with(current, stems(&root()).into_iter().filter(|s| !s.starts_with('_')))
}

/// Layer names (`_base`): what `--extends` and `extends=` take.
pub fn layers(current: &OsStr) -> Vec<CompletionCandidate> {
    starting_with(current, stems(&root()).into_iter().filter(|s| s.starts_with('_')))
}

/// Environments `render --allow-removal` can name: folders of `rendered/` whose environment
/// file is gone.
pub fn removed_environments(current: &OsStr) -> Vec<CompletionCandidate> {
    let root = root();
    let Ok(entries) = std::fs::read_dir(root.join("rendered")) else { return vec![] };
    let mut gone: Vec<String> = entries
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().to_str()?.to_string();
            let is_dir = e.file_type().ok()?.is_dir();
            (is_dir && is_valid_name(&name) && !root.join(ENV_DIR).join(format!("{name}.yaml")).exists())
                .then_some(name)
        })
        .collect();
    crate::natural::sort(&mut gone);
    starting_with(current, gone)
}

/// Rule codes, then retired codes (which `kgen rules CODE` explains too), each with its title.
/// A lower-case start (`kg4`) matches as well, since `kgen rules` accepts it.
pub fn rule_codes(current: &OsStr) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy().to_ascii_uppercase();
    let live = crate::rules::rules().iter().map(|r| (r.code.clone(), r.title.clone()));
    let retired = crate::rules::retired().iter().map(|r| (r.code.clone(), format!("retired: {}", r.title)));
    live.chain(retired)
        .filter(|(code, _)| code.starts_with(&current))
        .map(|(code, title)| CompletionCandidate::new(code).help(Some(title.into())))
        .collect()
}

/// KServe releases of the catalog, newest first, each with its release date.
pub fn releases() -> Vec<CompletionCandidate> {
    let mut releases: Vec<&crate::catalog::Release> = crate::catalog::get().releases.iter().collect();
    releases.sort_by_key(|r| std::cmp::Reverse(crate::version::Version::parse(&r.version)));
    releases
        .into_iter()
        .map(|r| CompletionCandidate::new(&r.version).help(Some(format!("released {}", r.released).into())))
        .collect()
}

/// The values the model allows at a key path (`cluster.platform`), each with its description.
fn enum_values(path: &str) -> Vec<CompletionCandidate> {
    let pointer: String = path.split('.').map(|s| format!("/{}", escape_pointer(s))).collect();
    let Some(node) = schema_at(environment_schema(), &pointer) else { return vec![] };
    if node.get("type").and_then(Value::as_str) == Some("boolean") {
        return ["true", "false"].into_iter().map(CompletionCandidate::new).collect();
    }
    let description = node.get("description").and_then(Value::as_str).unwrap_or_default();
    let values = node.get("enum").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    values
        .iter()
        .filter_map(Value::as_str)
        .map(|v| {
            // The schema lists each value as "- `value`: what it is".
            let help = description.lines().find_map(|l| l.strip_prefix(&format!("- `{v}`: ")));
            CompletionCandidate::new(v).help(help.map(|h| h.to_string().into()))
        })
        .collect()
}

/// `kgen new --platform`.
pub fn platforms() -> Vec<CompletionCandidate> {
    enum_values("cluster.platform")
}

/// `kgen new --mode`.
pub fn modes() -> Vec<CompletionCandidate> {
    enum_values("kserve.deploymentMode")
}

/// `kgen new --mesh`.
pub fn meshes() -> Vec<CompletionCandidate> {
    enum_values("mesh.provider")
}

/// `kgen new --engine`.
pub fn engines() -> Vec<CompletionCandidate> {
    enum_values("gitops.engine")
}

/// Every key path of the environment model (`kserve`, `kserve.version`, …, in the model's
/// order) with the first line of its description, and whether it holds a single value.
/// List items are left out: their paths have an index (`ignore[0].rule`).
fn model_keys() -> Vec<(String, Option<String>, bool)> {
    fn walk(root: &Value, node: &Value, prefix: &str, out: &mut Vec<(String, Option<String>, bool)>) {
        let Some(props) = node.get("properties").and_then(Value::as_object) else { return };
        // The model is not recursive; the bound keeps a future recursive type from hanging a TAB.
        if prefix.matches('.').count() >= 8 {
            return;
        }
        for (k, child) in props {
            let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            let pointer: String = path.split('.').map(|s| format!("/{}", escape_pointer(s))).collect();
            let Some(resolved) = schema_at(root, &pointer) else { continue };
            let help = child.get("description").or_else(|| resolved.get("description")).and_then(Value::as_str);
            // A list of scalars is a value too: a selector matches one of its items.
            let is_value = match resolved.get("type").and_then(Value::as_str) {
                Some("object") => false,
                Some("array") => schema_at(root, &format!("{pointer}/0"))
                    .is_some_and(|item| item.get("type").and_then(Value::as_str) != Some("object")),
                _ => true,
            };
            out.push((path.clone(), help.map(first_sentence), is_value));
            walk(root, resolved, &path, out);
        }
    }
    let root = environment_schema();
    let mut out = Vec::new();
    walk(root, root, "", &mut out);
    out
}

/// The key paths an environment's own files set (following `extends` through its layers),
/// for the keys the model leaves open (`values.kserve.controller.resources`). Files are parsed,
/// not checked: a broken one adds nothing.
fn written_keys(root: &Path, env: &str) -> Vec<String> {
    fn walk(v: &Value, prefix: &str, out: &mut Vec<String>) {
        if let Value::Object(m) = v {
            for (k, c) in m {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                out.push(path.clone());
                walk(c, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    let mut seen = Vec::new();
    let mut next = Some(env.to_string());
    while let Some(stem) = next.take() {
        if !is_valid_stem(&stem) || seen.contains(&stem) || seen.len() >= 16 {
            break;
        }
        let path = root.join(ENV_DIR).join(format!("{stem}.yaml"));
        // As when kgen loads environments (KG100): nothing outside the project is read.
        if !inside(root, &path) {
            break;
        }
        let text = match std::fs::metadata(&path) {
            Ok(m) if m.len() <= crate::yaml::ENV_FILE_MAX_BYTES as u64 => std::fs::read_to_string(&path).ok(),
            _ => None,
        };
        let Some(value) =
            text.and_then(|t| crate::yaml::from_str::<Value>(&t, crate::yaml::Budget::EnvironmentFile).ok())
        else {
            break;
        };
        walk(&value, "", &mut out);
        next = value.get("extends").and_then(Value::as_str).map(str::to_string);
        seen.push(stem);
    }
    out
}

/// The first sentence of a description (its first paragraph, lines joined), short enough for the
/// one line a shell shows beside a candidate.
fn first_sentence(description: &str) -> String {
    let paragraph: Vec<&str> = description.lines().map(str::trim).take_while(|l| !l.is_empty()).collect();
    let paragraph = paragraph.join(" ");
    match paragraph.find(". ") {
        Some(at) => paragraph[..=at].to_string(),
        None => paragraph,
    }
}

/// Whether `path` (an environment file) resolves inside the project `root`.
fn inside(root: &Path, path: &Path) -> bool {
    match (root.canonicalize(), path.canonicalize()) {
        (Ok(root), Ok(path)) => path.starts_with(root),
        _ => false,
    }
}

/// The first positional word after the subcommand `sub` (`kgen explain ENV`), skipping options
/// and the values of those that take one.
fn first_operand(words: &[String], sub: &str) -> Option<String> {
    const TAKE_VALUE: &[&str] = &["-C", "--directory", "--color", "--format"];
    let mut it = words.iter().skip_while(|w| *w != sub).skip(1);
    while let Some(w) = it.next() {
        if TAKE_VALUE.contains(&w.as_str()) {
            it.next();
        } else if !w.starts_with('-') {
            return Some(w.clone());
        }
    }
    None
}

/// `kgen explain ENV KEY`: every key path of the model and its prefixes, and the keys ENV's
/// files set under the model's open maps (`values.<release>.…`).
pub fn explain_keys(current: &OsStr) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    let mut keys: Vec<(String, Option<String>)> = model_keys().into_iter().map(|(k, h, _)| (k, h)).collect();
    if let Some(env) = first_operand(&words(), "explain") {
        for k in written_keys(&root(), &env) {
            if !keys.iter().any(|(known, _)| *known == k) {
                keys.push((k, None));
            }
        }
    }
    keys.into_iter()
        .filter(|(k, _)| k.starts_with(current.as_ref()))
        .map(|(k, h)| CompletionCandidate::new(k).help(h.map(Into::into)))
        .collect()
}

/// `--selector KEY=VALUE`: first the key (a short name, `extends` or a key path holding a
/// value, each offered with its `=`), then, after `=` or `!=`, the values the model allows
/// there: layers for `extends`, catalog releases for the KServe version.
pub fn selectors(current: &OsStr) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    let split = current.find("!=").map(|i| (i, 2)).or_else(|| current.find('=').map(|i| (i, 1)));
    let Some((at, len)) = split else {
        let short = crate::config::select::ALIASES
            .iter()
            .map(|(alias, path)| (alias.to_string(), Some(path.to_string())))
            .chain([("extends".to_string(), Some("a layer anywhere in the chain".to_string()))]);
        let paths = model_keys().into_iter().filter(|(_, _, v)| *v).map(|(k, h, _)| (k, h));
        return short
            .chain(paths)
            .filter(|(k, _)| k.starts_with(current.as_ref()))
            .map(|(k, h)| CompletionCandidate::new(format!("{k}=")).help(h.map(Into::into)))
            .collect();
    };
    let (key, typed) = (&current[..at], &current[at + len..]);
    let op = &current[at..at + len];
    let path = crate::config::select::ALIASES.iter().find(|(a, _)| *a == key).map_or(key, |(_, p)| p);
    let values = match path {
        "extends" => layers(OsStr::new("")),
        "kserve.version" => releases(),
        _ => enum_values(path),
    };
    values
        .into_iter()
        .filter(|c| c.get_value().to_string_lossy().starts_with(typed))
        .map(|c| c.add_prefix(format!("{key}{op}")))
        .collect()
}
