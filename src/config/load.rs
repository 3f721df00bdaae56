//! Loading: find environment files, read each one within its budget, and check it on its own
//! (syntax, duplicate keys, unknown keys, types). A layer may be partial, so nothing but the
//! header is required at this stage.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::schema;
use super::validate::{QUOTE_HINT, control_character_diagnostics, schema_diagnostics};
use crate::diag::Diagnostic;
use crate::error::Error;
use crate::rule_code::RuleCode;
use crate::yaml;

/// Folder of environment files, relative to the project root.
pub const ENV_DIR: &str = "environments";

/// One environment or layer file that parsed and passed its own checks.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// `dev` or `_base`.
    pub name: String,
    /// Display path relative to the project root (`environments/dev.yaml`).
    pub path: String,
    /// The parsed document (always a mapping).
    pub value: Value,
    /// JSON pointer → (line, col) of every node and key.
    pub positions: HashMap<String, (usize, usize)>,
}

impl SourceFile {
    /// Position of a pointer, walking up to the nearest node that exists in this file.
    pub fn position_of(&self, pointer: &str) -> Option<(usize, usize)> {
        let mut p = pointer;
        loop {
            if let Some(pos) = self.positions.get(p) {
                return Some(*pos);
            }
            if p.is_empty() {
                return None;
            }
            p = &p[..p.rfind('/').unwrap_or(0)];
        }
    }
}

/// Whether a name (without `_` or `.yaml`) is a valid environment name.
pub fn is_valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Whether a file stem is a valid environment (`dev`) or layer (`_base`) name.
pub fn is_valid_stem(stem: &str) -> bool {
    is_valid_name(stem.strip_prefix('_').unwrap_or(stem))
}

/// The project root for `-C DIR`: DIR itself when it holds `environments/` or was named
/// explicitly (anything but the default `.`); otherwise the nearest folder above the current
/// one that holds `environments/`, and `.` when none does (the command then says how to start a
/// project).
pub fn project_root(dir: &std::path::Path) -> std::path::PathBuf {
    if dir != std::path::Path::new(".") || dir.join(ENV_DIR).is_dir() {
        return dir.to_path_buf();
    }
    let Ok(cwd) = std::env::current_dir() else { return dir.to_path_buf() };
    cwd.ancestors()
        .skip(1)
        .find(|a| a.join(ENV_DIR).is_dir())
        .map_or_else(|| dir.to_path_buf(), std::path::Path::to_path_buf)
}

/// Every environment file of a project, each read and checked on its own.
#[derive(Debug, Default, Clone)]
pub struct Workspace {
    /// Project root (`-C DIR`).
    pub root: PathBuf,
    /// Files that parsed and passed their own checks, by stem.
    pub files: BTreeMap<String, SourceFile>,
    /// Stems of files that exist but failed their own checks.
    pub broken: BTreeMap<String, String>,
    /// Text of every file read, by display path, for source frames in diagnostics.
    pub sources: BTreeMap<String, String>,
    /// Problems found in single files.
    pub diagnostics: Vec<Diagnostic>,
}

impl Workspace {
    /// Reads `<root>/environments/*.yaml` in name order. Only files inside the project are
    /// read: an environment file that is a symlink resolving outside `root` is refused (KG100),
    /// and so is an `environments` folder outside it (an error for the whole command).
    pub fn load(root: &Path) -> Result<Workspace, Error> {
        let dir = root.join(ENV_DIR);
        if !dir.exists() && std::fs::symlink_metadata(&dir).is_err() {
            return Err(Error::Usage(format!(
                "no `{ENV_DIR}/` folder in `{}` or any folder above it: not a kgen project. \
                 `kgen init` starts one here; `-C DIR` points at an existing one",
                root.display()
            )));
        }
        let project = Project::of(root, &dir)?;
        let entries = std::fs::read_dir(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            action: "read the environments folder",
            source,
        })?;
        let (mut paths, mut near_misses) = (Vec::new(), Vec::new());
        for entry in entries {
            let entry = entry.map_err(|source| Error::Io {
                path: dir.clone(),
                action: "list the environments folder",
                source,
            })?;
            let path = entry.path();
            match path.extension().and_then(|e| e.to_str()) {
                Some("yaml") => paths.push(path),
                // Most likely meant as an environment: say why it is not one (`qa.yml`).
                Some(ext) if ext.eq_ignore_ascii_case("yml") || ext.eq_ignore_ascii_case("yaml") => {
                    near_misses.push(path)
                }
                _ => {}
            }
        }
        paths.sort();
        near_misses.sort();
        let mut ws = Workspace { root: root.to_path_buf(), ..Default::default() };
        for path in &near_misses {
            ws.diagnostics.push(not_read(path));
        }
        // Files are independent: read and check them on every core, then record in name order.
        let loaded = crate::par_map(&paths, |p| load_one(p, &project));
        for one in loaded {
            ws.record(one);
        }
        Ok(ws)
    }

    /// This workspace with the text of one file replaced (an environment file as `kgen upgrade`
    /// would edit it), read and checked as [`Workspace::load`] reads a file; nothing is written.
    pub fn with_text(&self, stem: &str, text: &str) -> Workspace {
        let mut ws = self.clone();
        ws.insert_text(stem, text.to_string());
        ws
    }

    /// Environment names (not layers) in natural order, valid names only.
    pub fn environment_names(&self) -> Vec<String> {
        let mut names = self
            .files
            .keys()
            .chain(self.broken.keys())
            .filter(|n| !n.starts_with('_'))
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>();
        crate::natural::sort(&mut names);
        names
    }

    /// Adds (or replaces) an environment file from text, as if read from
    /// `environments/<stem>.yaml`: what `kgen new` checks before it writes anything.
    pub fn insert_text(&mut self, stem: &str, text: String) {
        let display = format!("{ENV_DIR}/{stem}.yaml");
        self.files.remove(stem);
        self.broken.remove(stem);
        self.diagnostics.retain(|d| d.file.as_deref() != Some(display.as_str()));
        // A file too large to keep has no text: its old text must not frame the new problems.
        self.sources.remove(&display);
        let one = match check_text(text, &display) {
            Ok((text, file)) => Loaded::Ok {
                file: SourceFile { name: stem.to_string(), ..file },
                stem: stem.to_string(),
                display,
                text,
            },
            Err((text, diagnostics)) => Loaded::Broken { stem: stem.to_string(), display, text, diagnostics },
        };
        self.record(one);
    }

    /// All known stems (environments and layers), for did-you-mean.
    pub fn all_names(&self) -> Vec<&str> {
        self.files.keys().chain(self.broken.keys()).map(String::as_str).collect()
    }

    fn record(&mut self, one: Loaded) {
        match one {
            Loaded::BadName(d) => self.diagnostics.push(d),
            Loaded::Ok { stem, display, text, file } => {
                self.sources.insert(display, text);
                self.files.insert(stem, file);
            }
            Loaded::Broken { stem, display, text, diagnostics } => {
                if let Some(text) = text {
                    self.sources.insert(display.clone(), text);
                }
                self.diagnostics.extend(diagnostics);
                self.broken.insert(stem, display);
            }
        }
    }
}

/// One file, read and checked on its own.
enum Loaded {
    BadName(Diagnostic),
    Ok { stem: String, display: String, text: String, file: SourceFile },
    Broken { stem: String, display: String, text: Option<String>, diagnostics: Vec<Diagnostic> },
}

/// The project folder, resolved once, to tell a symlink that stays inside it from one that
/// leaves it.
struct Project {
    /// `-C DIR`, every symlink resolved.
    real: PathBuf,
}

impl Project {
    fn of(root: &Path, dir: &Path) -> Result<Project, Error> {
        let real = root.canonicalize().map_err(|source| Error::Io {
            path: root.to_path_buf(),
            action: "read the project folder",
            source,
        })?;
        // The folder itself first: were it outside, every file would be.
        if let Ok(d) = dir.canonicalize()
            && !d.starts_with(&real)
        {
            return Err(Error::Refused(format!(
                "`{ENV_DIR}` resolves to `{}`, outside the project folder `{}`; kgen reads only environment \
                 files inside the project: make `{ENV_DIR}` a real folder (or run kgen with `-C` on the \
                 project that holds it)",
                d.display(),
                root.display()
            )));
        }
        Ok(Project { real })
    }

    /// For a symlink at `path`: a diagnostic when it resolves outside the project (or cannot
    /// be resolved); `None` when it may be read.
    fn refuse_link(&self, path: &Path) -> Option<Diagnostic> {
        let link = std::fs::read_link(path).map(|t| t.display().to_string()).unwrap_or_default();
        let real = match path.canonicalize() {
            Ok(real) if real.starts_with(&self.real) => return None,
            Ok(real) => real,
            // A dangling link: reported as a file that cannot be read, like any missing target.
            Err(_) => return None,
        };
        let resolved = if Path::new(&link) == real { String::new() } else { format!(" (`{}`)", real.display()) };
        Some(
            Diagnostic::error(
                RuleCode::KG100,
                format!(
                    "symlink to `{link}`{resolved}, outside the project, so kgen does not read it: it reads \
                     only files inside the project"
                ),
            )
            .hint(
                "environment files are regular files, or symlinks to one inside the project; copy the file \
                 into the project (or link to a copy there)",
            ),
        )
    }
}

/// A file in `environments/` that looks like an environment but is not read (`qa.yml`).
fn not_read(path: &Path) -> Diagnostic {
    let name = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    Diagnostic::warning(RuleCode::KG120, format!("`{name}` is not read: environment files end in `.yaml`"))
        .in_file(format!("{ENV_DIR}/{name}"))
        .hint(format!("rename it to `{stem}.yaml`, or move it out of {ENV_DIR}/ if it is not an environment"))
}

fn load_one(path: &Path, project: &Project) -> Loaded {
    // Lossy: a name that is not UTF-8 is still shown (and rejected by the name check).
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let display = format!("{ENV_DIR}/{}", path.file_name().map(|s| s.to_string_lossy()).unwrap_or_default());
    if !is_valid_stem(&stem) {
        return Loaded::BadName(
            Diagnostic::error(RuleCode::KG111, format!("invalid environment file name `{stem}`"))
                .in_file(&display)
                .hint("names are lower-case letters, digits and `-` (`prod-eu-1`); layers start with `_` (`_base`)"),
        );
    }
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
        && let Some(d) = project.refuse_link(path)
    {
        // Not read at all, so no text of it can reach a message.
        return Loaded::Broken { stem, display: display.clone(), text: None, diagnostics: vec![d.in_file(&display)] };
    }
    match read_checked(path, &display) {
        Ok((text, file)) => Loaded::Ok { file: SourceFile { name: stem.clone(), ..file }, stem, display, text },
        Err((text, diagnostics)) => Loaded::Broken { stem, display, text, diagnostics },
    }
}

type Checked = Result<(String, SourceFile), (Option<String>, Vec<Diagnostic>)>;

/// Reads one file within the environment-file budget and checks it against the layer schema.
fn read_checked(path: &Path, display: &str) -> Checked {
    let fail = |d: Diagnostic| Err((None, vec![d.in_file(display)]));
    let not_regular = |t: std::fs::FileType| {
        fail(
            Diagnostic::error(
                RuleCode::KG100,
                format!("not a regular file ({}), so kgen does not read it", file_kind(t)),
            )
            .hint(
                "environment files are regular files (or symlinks to one); \
                     remove it or rename it away from `.yaml`",
            ),
        )
    };
    // Opening a FIFO waits for a writer and a device may have side effects, so the type is
    // checked first (through symlinks); the open cannot block either (`O_NONBLOCK`), and the
    // descriptor is checked again in case the path changed in between.
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => return not_regular(m.file_type()),
        Ok(_) => {}
        Err(e) => return fail(Diagnostic::error(RuleCode::KG100, format!("cannot read the file: {e}"))),
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = match options.open(path).and_then(|f| f.metadata().map(|m| (f, m))) {
        Ok((_, m)) if !m.is_file() => return not_regular(m.file_type()),
        Ok((f, _)) => f,
        Err(e) => {
            return fail(Diagnostic::error(RuleCode::KG100, format!("cannot read the file: {e}")));
        }
    };
    // Never read more than the limit: a 50 MB file is rejected after 1 MiB + 1 byte.
    let mut bytes = Vec::new();
    let limit = yaml::ENV_FILE_MAX_BYTES as u64;
    if let Err(e) = file.take(limit + 1).read_to_end(&mut bytes) {
        return fail(Diagnostic::error(RuleCode::KG100, format!("cannot read the file: {e}")));
    }
    if bytes.len() as u64 > limit {
        return fail(
            Diagnostic::error(RuleCode::KG108, "file is larger than 1 MiB, the limit for environment files")
                .hint("environment files are small by design; move bulk data out of them"),
        );
    }
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return fail(
            Diagnostic::error(RuleCode::KG109, "file is UTF-16, not UTF-8")
                .at(Some((1, 1)))
                .hint("save the file as UTF-8 (most editors: \"Save with encoding\")"),
        );
    }
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
            let col = valid.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
            return fail(
                Diagnostic::error(RuleCode::KG109, "file is not valid UTF-8")
                    .at(Some((line, col)))
                    .hint("save the file as UTF-8"),
            );
        }
    };
    check_text(text, display)
}

/// Checks a file's text as [`read_checked`] does once it has read it: YAML within the budget, not
/// empty, the layer schema, control characters.
fn check_text(text: String, display: &str) -> Checked {
    if text.len() > yaml::ENV_FILE_MAX_BYTES {
        return Err((
            None,
            vec![
                Diagnostic::error(RuleCode::KG108, "file is larger than 1 MiB, the limit for environment files")
                    .in_file(display),
            ],
        ));
    }
    let value: Value = match yaml::from_str(&text, yaml::Budget::EnvironmentFile) {
        Ok(v) => v,
        Err(e) => return Err((Some(text), vec![read_error_diagnostic(e).in_file(display)])),
    };
    if value.is_null() {
        return Err((
            Some(text),
            vec![
                Diagnostic::error(RuleCode::KG110, "file is empty")
                    .in_file(display)
                    .hint("start from `apiVersion: kgen/v1` and `kind: Environment`; see docs/environment.md"),
            ],
        ));
    }
    let positions = yaml::pointer_map(&text);
    let source = SourceFile { name: String::new(), path: display.to_string(), value, positions };
    let mut diags = schema_diagnostics(&source.value, schema::layer_schema(), &|p| source.position_of(p), display);
    // A value the schema already refuses (a revision's pattern) is one problem, reported once.
    let refused: Vec<Option<String>> = diags.iter().map(|d| d.key_path.clone()).collect();
    diags.extend(
        control_character_diagnostics(&source.value, &|p| source.position_of(p), display)
            .into_iter()
            .filter(|d| !refused.contains(&d.key_path)),
    );
    for d in &mut diags {
        // Quote what the user wrote (`1.30`), not what YAML made of it (`1.3`). Only the quoting
        // hint: other KG104 hints (`write true or false` for a boolean) are not about quoting.
        if d.code == RuleCode::KG104
            && d.hint.as_deref().is_some_and(|h| h.starts_with(QUOTE_HINT))
            && let Some((l, c)) = d.location
            && let Some(raw) = crate::diag::token_at(&text, l, c)
        {
            d.hint = Some(format!("{QUOTE_HINT}`\"{raw}\"` (unquoted, YAML reads a number or a boolean)"));
        }
    }
    if diags.is_empty() { Ok((text, source)) } else { Err((Some(text), diags)) }
}

/// What a file that is not a regular file is, for the message.
fn file_kind(t: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
    }
    if t.is_dir() { "a folder" } else { "a special file" }
}

/// Classifies a YAML reading error.
fn read_error_diagnostic(e: yaml::ReadError) -> Diagnostic {
    let m = e.message.as_str();
    let (code, message, hint) = if m.contains("duplicate mapping key") {
        let key =
            m.split('`').nth(1).or_else(|| m.rsplit_once("duplicate mapping key: ").map(|(_, k)| k)).unwrap_or("");
        let key = key.split(',').next().unwrap_or(key).trim();
        (
            RuleCode::KG102,
            format!("duplicate key `{key}`"),
            "a key may appear once per mapping; remove or merge the repeated one",
        )
    } else if m.contains("budget")
        || m.contains("limits breached")
        || m.contains("recursion limit")
        || m.contains("nesting")
    {
        let hostile = "environment files are small and shallow; this looks like generated or hostile input";
        let (what, hint) = if m.contains("Depth") || m.contains("recursion") || m.contains("nesting") {
            ("nesting deeper than 64 levels".to_string(), hostile)
        } else if m.contains("Alias") || m.contains("Anchor") || m.contains("ScalarBytes") {
            ("alias expansion beyond the file's own size (1 MiB, 1,000 aliases)".to_string(), hostile)
        } else if m.contains("Nodes") || m.contains("Events") {
            ("more than 100,000 YAML nodes".to_string(), hostile)
        } else if m.contains("Documents") {
            (
                "more than one YAML document".to_string(),
                "an environment file holds one document: remove the `---` separators and split the file",
            )
        } else {
            (m.to_string(), hostile)
        };
        (RuleCode::KG108, format!("input exceeds the environment-file limits: {what}"), hint)
    } else if m.contains("tab") {
        (RuleCode::KG101, format!("YAML syntax error: {m}"), "indent with spaces, never tabs")
    } else {
        (RuleCode::KG101, format!("YAML syntax error: {m}"), "check quoting and indentation around this position")
    };
    Diagnostic::error(code, message).at(e.location).hint(hint)
}
