//! `kgen diff [ENV…] [--git-ref REF] [--format text|markdown|json] [--max-bytes N]
//! [--fail-on risk]`: render in memory, read the previous render (from disk, or from a git ref
//! with the `git` command), compare with [`crate::diff`], print. Nothing is written.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

use super::Context;
use super::render::{check_and_render, fast_depth, history_failed, orphans, out_dir};
use crate::cli::{DiffArgs, DiffFormat, FailOn};
use crate::compare::Previous;
use crate::config::load::is_valid_name;
use crate::diff::{self, Base, BaseSource, EnvDiff};
use crate::error::Error;
use crate::exit_codes;
use crate::par_map;
use crate::render::{LOCK_FILE, Rendered};
use crate::write;

/// Runs `kgen diff`.
pub fn run(ctx: &Context<'_>, args: &DiffArgs) -> Result<u8, Error> {
    if args.schema {
        let _ = ctx.printer.data(&diff::json::schema_text());
        return Ok(exit_codes::SUCCESS);
    }
    let Some((mut checked, mut renders)) = check_and_render(ctx, &args.selection, fast_depth(), "nothing compared")?
    else {
        return Ok(exit_codes::ERROR);
    };
    let root = &ctx.global.dir;
    let out = out_dir(root, args.out.as_ref());
    let display = display_path(root, &out);
    let names: Vec<String> = renders.iter().map(|r| r.env.clone()).collect();
    let all = args.selection.envs.is_empty();

    let (base, previous) = match &args.git_ref {
        None => {
            if all {
                for name in orphans(&out, &names) {
                    renders.push(Rendered { env: name, files: BTreeMap::new() });
                }
            }
            // Shared with other readers, held to the end of the run: no render swaps a tree in
            // while it is read (see `write::lock_output`).
            let lock = write::lock_output(
                &out,
                &display,
                write::LockMode::Read,
                std::time::Duration::from_secs(args.wait_lock),
                || {
                    ctx.printer
                        .info(&format!("waiting for a kgen render writing `{display}` to finish (`--wait-lock`)"))
                },
            )?;
            if let write::OutputLock::Unsupported(e) = &lock {
                ctx.printer.warning(&super::render::unlocked_message(&display, e));
            }
            let previous: Vec<Previous> = par_map(&renders, |r| write::read_previous(&out.join(&r.env), r))
                .into_iter()
                .collect::<Result<_, _>>()?;
            (Base { source: BaseSource::Disk, git_ref: None, path: display.clone() }, previous)
        }
        Some(reference) => {
            let tree = GitTree::open(root, &out, reference)?;
            if all {
                for name in tree.orphans(&names) {
                    renders.push(Rendered { env: name, files: BTreeMap::new() });
                }
            }
            let previous = tree.read_previous(&renders)?;
            (Base { source: BaseSource::Git, git_ref: Some(reference.clone()), path: display.clone() }, previous)
        }
    };
    if history_failed(ctx, &mut checked, &renders, &previous, "nothing compared") {
        return Ok(exit_codes::ERROR);
    }
    let jobs: Vec<(&Rendered, &Previous)> = renders.iter().zip(&previous).collect();
    let envs: Vec<EnvDiff> = par_map(&jobs, |(r, p)| diff::diff_env(r, p));
    let report = diff::report(base, envs);

    let text = match args.format {
        DiffFormat::Text => diff::text::render(&report, ctx.printer.color_out),
        DiffFormat::Json => diff::json::render(&report),
        DiffFormat::Markdown => {
            let max = usize::try_from(args.max_bytes).unwrap_or(usize::MAX);
            let parts = diff::markdown::render(&report, max);
            if parts.len() > 1 {
                ctx.printer.info(&format!(
                    "the Markdown is split into {} parts, each starting with `{}`",
                    parts.len(),
                    diff::markdown::MARKER
                ));
            }
            let mut s = parts.join("\n\n");
            s.push('\n');
            s
        }
    };
    if ctx.printer.data(&text).is_err() {
        // The reader went away (`kgen diff | head`): nothing left to say.
        return Ok(exit_code(&report, args.fail_on));
    }
    if args.format != DiffFormat::Text {
        ctx.printer.info(&diff::text::totals(&report));
    }
    Ok(exit_code(&report, args.fail_on))
}

fn exit_code(report: &diff::Report, fail_on: Option<FailOn>) -> u8 {
    if fail_on == Some(FailOn::Risk) && report.has_risks() {
        exit_codes::RISKY
    } else if report.has_changes() {
        exit_codes::CHANGES
    } else {
        exit_codes::SUCCESS
    }
}

fn display_path(root: &Path, out: &Path) -> String {
    let rel = out.strip_prefix(root).unwrap_or(out);
    let s = rel.to_string_lossy().replace('\\', "/");
    s.trim_start_matches("./").trim_end_matches('/').to_string()
}

/// The output folder as committed at a git ref.
struct GitTree {
    /// The repository's top-level folder.
    top: PathBuf,
    /// The commit the ref names.
    commit: String,
    /// The output folder relative to `top`, `/`-separated, no trailing slash.
    prefix: String,
    /// Regular files under `prefix` at the commit: path relative to `prefix` → blob id.
    blobs: BTreeMap<String, String>,
}

/// A lock entry that stays inside the environment folder (a damaged lock is ignored, not obeyed).
fn is_safe_relative(rel: &str) -> bool {
    !rel.is_empty() && Path::new(rel).components().all(|c| matches!(c, Component::Normal(_)))
}

fn git_error(what: String) -> Error {
    Error::Usage(what)
}

/// Runs `git -C dir args…` and returns its stdout, or its stderr as the error.
fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `git`: {e}"))?;
    if out.status.success() { Ok(out.stdout) } else { Err(String::from_utf8_lossy(&out.stderr).trim().to_string()) }
}

/// `a/./b/../c` → `a/c`, without touching the disk (the folder may not exist any more).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

impl GitTree {
    fn open(root: &Path, out: &Path, reference: &str) -> Result<GitTree, Error> {
        if reference.starts_with('-') || reference.is_empty() {
            return Err(git_error(format!("`{reference}` is not a git ref")));
        }
        let top = git(root, &["rev-parse", "--show-toplevel"]).map_err(|e| {
            git_error(format!("`--git-ref` needs a git repository, and `{}` is not in one ({e})", root.display()))
        })?;
        let top = PathBuf::from(String::from_utf8_lossy(&top).trim_end_matches(['\n', '\r']));
        let commit =
            git(root, &["rev-parse", "--verify", "--quiet", "--end-of-options", &format!("{reference}^{{commit}}")])
                .map_err(|_| git_error(format!("unknown git ref `{reference}` (not a commit in {})", top.display())))?;
        let commit = String::from_utf8_lossy(&commit).trim().to_string();
        // The output folder relative to the repository, without requiring it to exist on disk.
        let top_c = top.canonicalize().unwrap_or_else(|_| top.clone());
        let root_c =
            root.canonicalize().map_err(|e| Error::Io { path: root.to_path_buf(), action: "read", source: e })?;
        let out_abs = match out.canonicalize() {
            Ok(p) => p,
            // Gone from the working tree (the ref still has it): resolve it lexically.
            Err(_) if out.is_absolute() => normalize(out),
            Err(_) => normalize(&root_c.join(out.strip_prefix(root).unwrap_or(out))),
        };
        let rel = out_abs.strip_prefix(&top_c).map_err(|_| {
            git_error(format!("the output folder `{}` is outside the repository `{}`", out.display(), top.display()))
        })?;
        let prefix = rel.to_string_lossy().replace('\\', "/");
        let mut tree = GitTree { top, commit, prefix, blobs: BTreeMap::new() };
        tree.list()?;
        Ok(tree)
    }

    /// Lists the regular files under the output folder at the commit.
    fn list(&mut self) -> Result<(), Error> {
        if self.prefix.is_empty() {
            return Err(git_error("the output folder cannot be the repository's top folder".into()));
        }
        let listing = git(&self.top, &["ls-tree", "-r", "-z", "--full-name", &self.commit, "--", &self.prefix])
            .map_err(|e| git_error(format!("cannot list `{}` at {}: {e}", self.prefix, self.commit)))?;
        let start = format!("{}/", self.prefix);
        for entry in listing.split(|&b| b == 0).filter(|e| !e.is_empty()) {
            let entry = String::from_utf8_lossy(entry);
            let Some((meta, path)) = entry.split_once('\t') else { continue };
            let mut meta = meta.split(' ');
            let (mode, kind, id) = (meta.next(), meta.next(), meta.next());
            // Regular files only: symlinks and submodules are not generated files.
            if kind != Some("blob") || !matches!(mode, Some("100644" | "100755")) {
                continue;
            }
            if let (Some(rel), Some(id)) = (path.strip_prefix(&start), id) {
                self.blobs.insert(rel.to_string(), id.to_string());
            }
        }
        Ok(())
    }

    /// Environment folders at the ref holding a kgen render whose environment file is gone.
    fn orphans(&self, names: &[String]) -> Vec<String> {
        let found: BTreeSet<String> = self
            .blobs
            .keys()
            .filter_map(|p| p.strip_suffix(&format!("/{LOCK_FILE}")))
            .filter(|n| !n.contains('/') && is_valid_name(n) && !names.iter().any(|x| x == n))
            .map(str::to_string)
            .collect();
        found.into_iter().collect()
    }

    /// Reads blobs by id with one `git cat-file --batch`.
    fn cat(&self, ids: &[String]) -> Result<Vec<Vec<u8>>, Error> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let mut child = Command::new("git")
            .arg("-C")
            .arg(&self.top)
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| git_error(format!("cannot run `git`: {e}")))?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        let input: String = ids.iter().map(|id| format!("{id}\n")).collect();
        // Feed the requests from another thread: git answers while it reads.
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
        });
        let mut reader = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut blobs = Vec::with_capacity(ids.len());
        let failed = |what: &str| git_error(format!("`git cat-file` failed: {what}"));
        for id in ids {
            let mut head = String::new();
            reader.read_line(&mut head).map_err(|e| failed(&e.to_string()))?;
            let mut fields = head.split_whitespace();
            let (got, kind, size) = (fields.next(), fields.next(), fields.next());
            if got != Some(id.as_str()) || kind != Some("blob") {
                return Err(failed(&format!("unexpected answer `{}` for {id}", head.trim())));
            }
            let size: usize = size.and_then(|s| s.parse().ok()).ok_or_else(|| failed("no size"))?;
            let mut buf = vec![0; size + 1];
            reader.read_exact(&mut buf).map_err(|e| failed(&e.to_string()))?;
            buf.pop();
            blobs.push(buf);
        }
        let _ = writer.join();
        let _ = child.wait();
        Ok(blobs)
    }

    /// What [`write::read_previous`] reads from disk, read from the commit: for every render,
    /// the generated set of its index and the content of every path generated then or now.
    fn read_previous(&self, renders: &[Rendered]) -> Result<Vec<Previous>, Error> {
        let lock_paths: Vec<String> = renders.iter().map(|r| format!("{}/{LOCK_FILE}", r.env)).collect();
        let lock_ids: Vec<String> = lock_paths.iter().filter_map(|p| self.blobs.get(p).cloned()).collect();
        let locks = self.cat(&lock_ids)?;
        let mut locks: BTreeMap<&String, Vec<u8>> =
            lock_paths.iter().filter(|p| self.blobs.contains_key(*p)).zip(locks).collect();
        let mut previous = Vec::with_capacity(renders.len());
        let mut wanted: Vec<(usize, String)> = Vec::new();
        for (i, r) in renders.iter().enumerate() {
            let mut prev = Previous::default();
            if let Some(bytes) = locks.remove(&lock_paths[i])
                && let Ok(lock) = serde_json::from_slice::<serde_json::Value>(&bytes)
                && let Some(files) = lock.get("files").and_then(serde_json::Value::as_object)
            {
                for k in files.keys() {
                    if is_safe_relative(k) {
                        prev.generated.insert(k.clone());
                    }
                }
                prev.generated.insert(LOCK_FILE.to_string());
            }
            let paths: BTreeSet<&String> = r.files.keys().chain(prev.generated.iter()).collect();
            for p in paths {
                wanted.push((i, p.clone()));
            }
            previous.push(prev);
        }
        wanted.retain(|(i, p)| self.blobs.contains_key(&format!("{}/{p}", renders[*i].env)));
        let ids: Vec<String> =
            wanted.iter().map(|(i, p)| self.blobs[&format!("{}/{p}", renders[*i].env)].clone()).collect();
        for ((i, p), bytes) in wanted.into_iter().zip(self.cat(&ids)?) {
            previous[i].contents.insert(p, bytes);
        }
        Ok(previous)
    }
}
