//! The previous render of an environment, as far as kgen owns it: read from disk (`render`,
//! `render --check`, `diff`, `validate`) or from a git ref (`diff --git-ref`). Used only by the
//! command layer; comparing is pure ([`crate::compare`]).
//!
//! Guarantees, the same for both sources:
//! - **only what is ours**: the previous index (`kgen.lock.json`) and the files that are
//!   generated now or that the index lists; an index entry that would leave the environment
//!   folder ([`is_safe_relative`]) is ignored, not obeyed;
//! - **never through a symlink** (on disk): not in the environment folder's own name, not in a
//!   folder on the way, not in the file's name; what lies behind one counts as missing. Only
//!   regular files are read (a FIFO is never waited on). In git only regular blobs count;
//! - **bounded**: at most [`MAX_FILE_BYTES`] per file, [`MAX_LOCK_BYTES`] for the index and
//!   [`MAX_ENV_BYTES`] per environment, checked before the bytes are read (the size on disk, the
//!   size git lists); beyond a limit the command fails (exit 2) saying which file, and nothing
//!   more is read. kgen never generates files anywhere near these sizes.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

use crate::config::load::is_valid_name;
use crate::error::Error;
use crate::lock::Lock;
use crate::render::{KUSTOMIZATION, LOCK_FILE, Rendered};

/// The most kgen reads of one file of a previous render: several times the largest file it
/// generates (a values file holds at most what a 1 MiB environment file can say; the largest
/// upstream object kgen deals with, the KServe CRD bundle, is ~2 MB and is not rendered).
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// The most kgen reads of a previous index (`kgen.lock.json`): a few KB per environment; it is
/// parsed into a JSON tree, which costs several times its size.
pub const MAX_LOCK_BYTES: u64 = 1024 * 1024;

/// The most kgen reads of one environment's previous render in all (a render is ~250 KB).
pub const MAX_ENV_BYTES: u64 = 32 * 1024 * 1024;

/// What is on disk (or at a git ref) for one environment, as far as kgen owns it.
#[derive(Debug, Clone, Default)]
pub struct Previous {
    /// Paths the previous `kgen.lock.json` listed as generated (empty if there was none).
    pub generated: BTreeSet<String>,
    /// Content of every path that is generated now or was before, if the file exists.
    pub contents: BTreeMap<String, Vec<u8>>,
}

/// Parses the bytes of a previous index. The one place that does: `None` for a damaged index,
/// which counts as no index (a first render).
pub fn parse_lock(bytes: &[u8]) -> Option<Lock> {
    Lock::from_slice(bytes).ok()
}

/// The previous index of `prev`, parsed; `None` when there was none or it is damaged.
pub fn lock_of(prev: &Previous) -> Option<Lock> {
    prev.contents.get(LOCK_FILE).and_then(|b| parse_lock(b))
}

/// Whether `rel` is named as kgen names the files it generates: `values/<release>.yaml`, a
/// YAML file in a folder a GitOps engine applies (`manifests/`, `argocd/`, `flux/`),
/// `install.sh`, `kustomization.yaml` and `kgen.lock.json`. A path in the previous lock's `files`
/// that is not (`NOTES.md` added by hand) is not kgen's to replace or prune, whatever the lock
/// says.
pub fn is_generated_name(rel: &str) -> bool {
    use crate::render::gitops;
    if !is_safe_relative(rel) {
        return false;
    }
    match rel {
        LOCK_FILE | KUSTOMIZATION | gitops::none::SCRIPT => true,
        _ => match rel.split_once('/') {
            Some(("values", name)) => !name.contains('/') && name.ends_with(".yaml"),
            Some((folder, rest)) if gitops::is_applied_folder(folder) => rest.ends_with(".yaml"),
            _ => false,
        },
    }
}

/// The paths an index lists as generated, the index itself included; none for a damaged index.
fn generated_by(lock_bytes: &[u8]) -> BTreeSet<String> {
    let mut generated = BTreeSet::new();
    if let Some(lock) = parse_lock(lock_bytes) {
        let files = &lock.files;
        // A lock edited to point outside the folder, or at a file kgen never names so
        // (`NOTES.md`), is ignored, not obeyed.
        generated.extend(files.keys().filter(|k| is_generated_name(k)).cloned());
        generated.insert(LOCK_FILE.to_string());
    }
    generated
}

/// The path-safety rule for a path inside an environment folder (a generated file, an index
/// entry): relative, only plain `/`-separated names (no `..`, `.`, root or empty path), and no
/// control character (kgen never generates one; it would be printed in messages).
pub fn is_safe_relative(rel: &str) -> bool {
    !rel.is_empty()
        && !rel.chars().any(char::is_control)
        && Path::new(rel).components().all(|c| matches!(c, Component::Normal(_)))
}

/// The output folder (`rendered/`, `--out DIR`) must be reached without a symlink: kgen never
/// reads or writes a render through one. Checked from the project folder (`-C`) down, every
/// folder on the way and the output folder itself (when it exists); of an absolute `--out`
/// outside the project only the output folder itself (the folders above it are the user's
/// choice, like `-C`). One error for the whole command, whatever the number of environments.
pub fn check_out_folder(root: &Path, out: &Path) -> Result<(), Error> {
    // The part of `out` below the project folder, when it is below it.
    let canonical_root = || root.canonicalize().ok().filter(|_| out.is_absolute());
    let below_root = out
        .strip_prefix(root)
        .map(|rel| (root.to_path_buf(), rel))
        .ok()
        .or_else(|| canonical_root().and_then(|r| out.strip_prefix(&r).ok().map(|rel| (r.clone(), rel))));
    // Where the walk starts, and whether paths are shown relative to it (the project folder).
    let (mut at, below, relative): (PathBuf, Vec<Component<'_>>, bool) = match below_root {
        Some((root, rel)) => (root, rel.components().collect(), true),
        None => match (out.parent(), out.file_name()) {
            (Some(parent), Some(_)) => {
                (parent.to_path_buf(), out.components().next_back().into_iter().collect(), false)
            }
            _ => return Ok(()),
        },
    };
    let mut shown = if relative { PathBuf::new() } else { at.clone() };
    for c in below {
        at.push(c);
        shown.push(c);
        // `..` and `.` lead to folders that exist by definition; a name is what can be a link.
        if !matches!(c, Component::Normal(_)) {
            continue;
        }
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&at).map(|t| t.display().to_string()).unwrap_or_default();
                return Err(Error::Refused(format!(
                    "`{}` is a symlink (to `{target}`) on the way to the output folder; kgen never reads or \
                     writes a render through a symlink: replace it with a real folder, or give `--out` the \
                     real path",
                    shown.display()
                )));
            }
            Ok(m) if !m.is_dir() => {
                return Err(Error::Refused(format!(
                    "`{}` is not a folder, but kgen reads and writes the render in a folder there; move it away \
                     (kgen never removes what it did not generate)",
                    shown.display()
                )));
            }
            Ok(_) => {}
            // Missing: the render creates it (as a real folder), and nothing is behind it.
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

/// How much of one environment's previous render has been read.
struct Budget<'a> {
    /// The environment's folder (or `<ref>:<folder>`), for messages.
    shown: &'a str,
    used: u64,
}

impl Budget<'_> {
    /// The most read of `rel`.
    fn limit(&self, rel: &str) -> u64 {
        if rel == LOCK_FILE { MAX_LOCK_BYTES } else { MAX_FILE_BYTES }
    }

    /// A file read as `read` bytes that was `listed` bytes when its size was taken.
    fn grew(&mut self, rel: &str, listed: u64, read: u64) -> Result<(), Error> {
        self.used -= listed;
        self.take(rel, read)
    }

    /// Accounts for `size` bytes of `rel` before they are read; an error past a limit.
    fn take(&mut self, rel: &str, size: u64) -> Result<(), Error> {
        let limit = self.limit(rel);
        let what = if rel == LOCK_FILE { "of a previous index" } else { "of one file of a previous render" };
        if size > limit {
            return Err(Error::Refused(format!(
                "`{}/{rel}` is larger than {}, the most kgen reads {what}; kgen never generates a file that \
                 large, so this is not its render: delete the file or move it out of the folder (nothing was \
                 compared or written)",
                self.shown,
                mib(limit)
            )));
        }
        self.used += size;
        if self.used > MAX_ENV_BYTES {
            return Err(Error::Refused(format!(
                "the previous render in `{}` holds more than {} in the files kgen reads (the limit was passed at \
                 `{rel}`); kgen never generates that much for one environment: delete or move the large files \
                 (nothing was compared or written)",
                self.shown,
                mib(MAX_ENV_BYTES)
            )));
        }
        Ok(())
    }
}

fn mib(bytes: u64) -> String {
    format!("{} MiB", bytes / (1024 * 1024))
}

/// Reads what kgen owns of the previous render in `target` (`<out>/<env>`): the previous index
/// and every file that is generated now or was generated before. See the module's guarantees:
/// symlinks are never followed (what lies behind one counts as missing, so `--check` reports it
/// and `render`, which refuses to write through it, never trusts it), reads are bounded.
pub fn from_disk(target: &Path, new: &Rendered) -> Result<Previous, Error> {
    let mut prev = Previous::default();
    let Some(mut dir) = disk::Folder::open(target) else {
        return Ok(prev);
    };
    let shown = shown(target);
    let mut budget = Budget { shown: &shown, used: 0 };
    let lock = dir.read(LOCK_FILE, &mut budget)?;
    if let Some(bytes) = &lock {
        prev.generated = generated_by(bytes);
    }
    let wanted: BTreeSet<&String> = new.files.keys().chain(prev.generated.iter()).collect();
    let mut contents = BTreeMap::new();
    for rel in wanted {
        if rel == LOCK_FILE {
            continue;
        }
        // A generated path kgen would refuse to write is not read either.
        if !is_safe_relative(rel) {
            continue;
        }
        if let Some(bytes) = dir.read(rel, &mut budget)? {
            contents.insert(rel.clone(), bytes);
        }
    }
    if let Some(bytes) = lock {
        contents.insert(LOCK_FILE.to_string(), bytes);
    }
    prev.contents = contents;
    Ok(prev)
}

/// Only the previous index of `target` (`<out>/<env>`), read as [`from_disk`] reads it (for the
/// history rules of `kgen validate`); `None` when there is none.
pub fn lock_from_disk(target: &Path) -> Result<Option<Vec<u8>>, Error> {
    file_from_disk(target, LOCK_FILE)
}

/// One file of a previous render (`rel` relative to `target`), read as [`lock_from_disk`] reads
/// the index: a regular file only, never through a symlink, within the limits.
pub fn file_from_disk(target: &Path, rel: &str) -> Result<Option<Vec<u8>>, Error> {
    let Some(mut dir) = disk::Folder::open(target) else {
        return Ok(None);
    };
    dir.read(rel, &mut Budget { shown: &shown(target), used: 0 })
}

/// How a folder is named in messages: `rendered/dev`, not `./rendered/dev` (`-C .`).
fn shown(target: &Path) -> String {
    let s = target.display().to_string();
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

/// Reading a folder without following a symlink anywhere below it.
mod disk {
    use super::{Budget, Error, Read};
    use std::collections::HashMap;
    use std::fs::File;
    use std::path::Path;

    /// An open environment folder and the subfolders opened so far. On Unix every lookup is
    /// relative to an open folder (`openat` with `O_NOFOLLOW`), so a symlink swapped in on the
    /// way cannot redirect a read; elsewhere each component is checked with `lstat` first.
    pub(super) struct Folder {
        #[cfg(unix)]
        fd: std::os::fd::OwnedFd,
        #[cfg(not(unix))]
        path: std::path::PathBuf,
        /// Subfolder (relative path) → its descriptor, `None` when missing or not a real folder.
        #[cfg(unix)]
        subfolders: HashMap<String, Option<std::os::fd::OwnedFd>>,
        #[cfg(not(unix))]
        subfolders: HashMap<String, bool>,
    }

    #[cfg(unix)]
    fn open_at(dir: std::os::fd::BorrowedFd<'_>, name: &str, flags: libc::c_int) -> Option<std::os::fd::OwnedFd> {
        use std::os::fd::{AsRawFd, FromRawFd};
        let name = std::ffi::CString::new(name).ok()?;
        // O_NOFOLLOW: a symlink in the last component fails (ELOOP) instead of being followed;
        // O_NONBLOCK: a FIFO does not wait for a writer (its type is checked after opening).
        let flags = flags | libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
        // SAFETY: `dir` is an open descriptor and `name` a NUL-terminated string.
        let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) };
        // SAFETY: a non-negative result is a new descriptor that nothing else owns.
        (fd >= 0).then(|| unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
    }

    impl Folder {
        /// The folder at `path`, unless it is missing, a symlink or not a folder.
        #[cfg(unix)]
        pub(super) fn open(path: &Path) -> Option<Folder> {
            use std::os::unix::ffi::OsStrExt;
            let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
            let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
            // SAFETY: `c` is a NUL-terminated path.
            let fd = unsafe { libc::open(c.as_ptr(), flags) };
            // SAFETY: a non-negative result is a new descriptor that nothing else owns.
            let fd = (fd >= 0).then(|| unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })?;
            Some(Folder { fd, subfolders: HashMap::new() })
        }

        #[cfg(not(unix))]
        pub(super) fn open(path: &Path) -> Option<Folder> {
            let m = std::fs::symlink_metadata(path).ok()?;
            m.is_dir().then(|| Folder { path: path.to_path_buf(), subfolders: HashMap::new() })
        }

        /// The descriptor of the subfolder `rel` (`""`: this folder), opening each level once.
        #[cfg(unix)]
        fn subfolder(&mut self, rel: &str) -> Option<std::os::fd::BorrowedFd<'_>> {
            use std::os::fd::AsFd;
            if rel.is_empty() {
                return Some(self.fd.as_fd());
            }
            if !self.subfolders.contains_key(rel) {
                let (parent, name) = rel.rsplit_once('/').unwrap_or(("", rel));
                let fd = self.subfolder(parent).and_then(|p| open_at(p, name, libc::O_DIRECTORY));
                self.subfolders.insert(rel.to_string(), fd);
            }
            self.subfolders.get(rel).and_then(Option::as_ref).map(AsFd::as_fd)
        }

        /// Opens the regular file `rel`; `None` when it is missing, behind a symlink, a symlink
        /// or not a regular file (also when it cannot be opened: it counts as missing).
        #[cfg(unix)]
        fn open_file(&mut self, rel: &str) -> Option<File> {
            let (parent, name) = rel.rsplit_once('/').unwrap_or(("", rel));
            let fd = open_at(self.subfolder(parent)?, name, 0)?;
            Some(File::from(fd))
        }

        #[cfg(not(unix))]
        fn open_file(&mut self, rel: &str) -> Option<File> {
            let mut at = self.path.clone();
            let mut so_far = String::new();
            let parts: Vec<&str> = rel.split('/').collect();
            for (i, part) in parts.iter().enumerate() {
                at.push(part);
                if i + 1 == parts.len() {
                    break;
                }
                if !so_far.is_empty() {
                    so_far.push('/');
                }
                so_far.push_str(part);
                let real = *self
                    .subfolders
                    .entry(so_far.clone())
                    .or_insert_with(|| std::fs::symlink_metadata(&at).is_ok_and(|m| m.is_dir()));
                if !real {
                    return None;
                }
            }
            std::fs::symlink_metadata(&at).ok().filter(|m| m.is_file())?;
            File::open(&at).ok()
        }

        /// Reads the regular file `rel` within the budget; `None` when it is not there (see
        /// [`Folder::open_file`]).
        pub(super) fn read(&mut self, rel: &str, budget: &mut Budget<'_>) -> Result<Option<Vec<u8>>, Error> {
            let Some(file) = self.open_file(rel) else {
                return Ok(None);
            };
            let Ok(m) = file.metadata() else {
                return Ok(None);
            };
            if !m.is_file() {
                return Ok(None);
            }
            budget.take(rel, m.len())?;
            let mut buf = Vec::with_capacity(m.len() as usize);
            // Through `take`, which also keeps a file that grows meanwhile within the limit:
            // `File::read_to_end` asks for the size and position again (an `fstat` and an
            // `lseek` per file over a fleet `--check`); the size is known already.
            if file.take(budget.limit(rel) + 1).read_to_end(&mut buf).is_err() {
                return Ok(None);
            }
            if buf.len() as u64 > m.len() {
                budget.grew(rel, m.len(), buf.len() as u64)?;
            }
            Ok(Some(buf))
        }
    }
}

/// The output folder as committed at a git ref, read with the `git` command (nothing is checked
/// out).
pub struct GitTree {
    /// The repository's top-level folder.
    top: PathBuf,
    /// The commit the ref names.
    commit: String,
    /// The output folder relative to `top`, `/`-separated, no trailing slash.
    prefix: String,
    /// Regular files under `prefix` at the commit: path relative to `prefix` → (blob id, size).
    blobs: BTreeMap<String, (String, u64)>,
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
    /// The output folder `out` of the repository holding `root`, at `reference`.
    pub fn open(root: &Path, out: &Path, reference: &str) -> Result<GitTree, Error> {
        if reference.starts_with('-') || reference.is_empty() {
            return Err(git_error(format!("`{reference}` is not a git ref")));
        }
        let top = git(root, &["rev-parse", "--show-toplevel"]).map_err(|e| {
            git_error(format!("`--git-ref` needs a git repository, and `{}` is not in one ({e})", root.display()))
        })?;
        let top = PathBuf::from(String::from_utf8_lossy(&top).trim_end_matches(['\n', '\r']));
        let commit =
            git(root, &["rev-parse", "--verify", "--quiet", "--end-of-options", &format!("{reference}^{{commit}}")])
                .map_err(|_| {
                    // Say what exists: `main` vs `master` is the usual slip.
                    let branches = git(
                        root,
                        &["for-each-ref", "--format=%(refname:short)", "--count=20", "refs/heads", "refs/remotes"],
                    )
                    .map(|b| {
                        String::from_utf8_lossy(&b)
                            .split_whitespace()
                            .map(|s| format!("`{s}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                    let known = if branches.is_empty() { String::new() } else { format!("; branches: {branches}") };
                    git_error(format!("unknown git ref `{reference}` (not a commit in {}){known}", top.display()))
                })?;
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

    /// Lists the regular files under the output folder at the commit, with their sizes.
    fn list(&mut self) -> Result<(), Error> {
        if self.prefix.is_empty() {
            return Err(git_error("the output folder cannot be the repository's top folder".into()));
        }
        let listing = git(&self.top, &["ls-tree", "-r", "-z", "-l", "--full-name", &self.commit, "--", &self.prefix])
            .map_err(|e| git_error(format!("cannot list `{}` at {}: {e}", self.prefix, self.commit)))?;
        let start = format!("{}/", self.prefix);
        for entry in listing.split(|&b| b == 0).filter(|e| !e.is_empty()) {
            let entry = String::from_utf8_lossy(entry);
            // `<mode> <type> <id> <size, padded>\t<path>`
            let Some((meta, path)) = entry.split_once('\t') else { continue };
            let mut meta = meta.split_whitespace();
            let (mode, kind, id, size) = (meta.next(), meta.next(), meta.next(), meta.next());
            // Regular files only: symlinks and submodules are not generated files.
            if kind != Some("blob") || !matches!(mode, Some("100644" | "100755")) {
                continue;
            }
            let size = size.and_then(|s| s.parse::<u64>().ok());
            if let (Some(rel), Some(id), Some(size)) = (path.strip_prefix(&start), id, size) {
                self.blobs.insert(rel.to_string(), (id.to_string(), size));
            }
        }
        Ok(())
    }

    /// Environment folders at the ref holding a kgen render whose environment file is gone.
    pub fn orphans(&self, names: &[String]) -> Vec<String> {
        let found: BTreeSet<String> = self
            .blobs
            .keys()
            .filter_map(|p| p.strip_suffix(&format!("/{LOCK_FILE}")))
            .filter(|n| !n.contains('/') && is_valid_name(n) && !names.iter().any(|x| x == n))
            .map(str::to_string)
            .collect();
        found.into_iter().collect()
    }

    /// Reads blobs by id with one `git cat-file --batch`; `sizes` are what the listing said
    /// (checked against the budget already), and git's answer must not be larger.
    fn cat(&self, ids: &[(String, u64)]) -> Result<Vec<Vec<u8>>, Error> {
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
        let input: String = ids.iter().map(|(id, _)| format!("{id}\n")).collect();
        // Feed the requests from another thread: git answers while it reads.
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
        });
        let mut reader = BufReader::new(child.stdout.take().expect("piped stdout"));
        let result = (|| {
            let mut blobs = Vec::with_capacity(ids.len());
            let failed = |what: &str| git_error(format!("`git cat-file` failed: {what}"));
            for (id, listed) in ids {
                let mut head = String::new();
                reader.read_line(&mut head).map_err(|e| failed(&e.to_string()))?;
                let mut fields = head.split_whitespace();
                let (got, kind, size) = (fields.next(), fields.next(), fields.next());
                if got != Some(id.as_str()) || kind != Some("blob") {
                    return Err(failed(&format!("unexpected answer `{}` for {id}", head.trim())));
                }
                let size: u64 = size.and_then(|s| s.parse().ok()).ok_or_else(|| failed("no size"))?;
                if size > *listed {
                    return Err(failed(&format!("{id} is {size} bytes, listed as {listed}")));
                }
                let mut buf = vec![0; size as usize + 1];
                reader.read_exact(&mut buf).map_err(|e| failed(&e.to_string()))?;
                buf.pop();
                blobs.push(buf);
            }
            Ok(blobs)
        })();
        if result.is_err() {
            // Do not wait for a git that still has answers to write.
            let _ = child.kill();
        }
        drop(reader);
        let _ = writer.join();
        let _ = child.wait();
        result
    }

    /// What [`from_disk`] reads from disk, read from the commit, within the same limits: for
    /// every render, the generated set of its index and the content of every path generated
    /// then or now.
    pub fn read_previous(&self, renders: &[Rendered]) -> Result<Vec<Previous>, Error> {
        let shown: Vec<String> = renders.iter().map(|r| format!("{}:{}/{}", self.commit, self.prefix, r.env)).collect();
        let mut budgets: Vec<Budget<'_>> = shown.iter().map(|s| Budget { shown: s, used: 0 }).collect();
        let mut lock_ids = Vec::new();
        let mut with_lock = Vec::new();
        for (i, r) in renders.iter().enumerate() {
            if let Some((id, size)) = self.blobs.get(&format!("{}/{LOCK_FILE}", r.env)) {
                budgets[i].take(LOCK_FILE, *size)?;
                lock_ids.push((id.clone(), *size));
                with_lock.push(i);
            }
        }
        let mut locks: BTreeMap<usize, Vec<u8>> = with_lock.into_iter().zip(self.cat(&lock_ids)?).collect();
        let mut previous = Vec::with_capacity(renders.len());
        let mut wanted: Vec<(usize, String)> = Vec::new();
        let mut ids = Vec::new();
        for (i, r) in renders.iter().enumerate() {
            let mut prev = Previous::default();
            if let Some(bytes) = locks.remove(&i) {
                prev.generated = generated_by(&bytes);
                prev.contents.insert(LOCK_FILE.to_string(), bytes);
            }
            let paths: BTreeSet<&String> = r.files.keys().chain(prev.generated.iter()).collect();
            for p in paths {
                if p == LOCK_FILE || !is_safe_relative(p) {
                    continue;
                }
                if let Some((id, size)) = self.blobs.get(&format!("{}/{p}", r.env)) {
                    budgets[i].take(p, *size)?;
                    ids.push((id.clone(), *size));
                    wanted.push((i, p.clone()));
                }
            }
            previous.push(prev);
        }
        for ((i, p), bytes) in wanted.into_iter().zip(self.cat(&ids)?) {
            previous[i].contents.insert(p, bytes);
        }
        Ok(previous)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn rendered(files: &[&str]) -> Rendered {
        Rendered { env: "e".into(), files: files.iter().map(|f| (f.to_string(), String::new())).collect() }
    }

    #[test]
    fn safe_relative_paths() {
        for ok in ["a", "values/kserve.yaml", "kgen.lock.json"] {
            assert!(is_safe_relative(ok), "{ok}");
        }
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "./a", "a/\u{1b}[2J.yaml", "a\nb"] {
            assert!(!is_safe_relative(bad), "{bad:?}");
        }
    }

    #[test]
    fn reads_only_what_kgen_owns_never_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join("e");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(env.join("values")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("x.yaml"), "secret").unwrap();
        std::fs::write(env.join("values/a.yaml"), "a").unwrap();
        std::fs::write(env.join("mine.txt"), "not kgen's").unwrap();
        std::os::unix::fs::symlink(&outside, env.join("manifests")).unwrap();
        std::os::unix::fs::symlink(outside.join("x.yaml"), env.join("values/b.yaml")).unwrap();
        // A complete lock (a partial one counts as none) whose file list was edited by hand.
        let mut lock: serde_json::Value =
            serde_json::from_str(include_str!("../tests/fixtures/lock-format-1/dev.kgen.lock.json")).unwrap();
        lock["files"] = serde_json::json!({
            "values/a.yaml": "", "../outside/x.yaml": "", "manifests/x.yaml": "", "manifests/gone.yaml": "",
            "NOTES.md": "", "mine.txt": ""
        });
        std::fs::write(env.join(LOCK_FILE), lock.to_string()).unwrap();
        let new = rendered(&["values/a.yaml", "values/b.yaml", LOCK_FILE]);
        let prev = from_disk(&env, &new).unwrap();
        assert_eq!(
            prev.generated.iter().map(String::as_str).collect::<Vec<_>>(),
            // Outside the folder, or not named as kgen names its files: not kgen's.
            [LOCK_FILE, "manifests/gone.yaml", "manifests/x.yaml", "values/a.yaml"]
        );
        // Nothing read through the symlinked `manifests/` or `values/b.yaml`.
        assert_eq!(prev.contents.keys().map(String::as_str).collect::<Vec<_>>(), [LOCK_FILE, "values/a.yaml"]);
        assert_eq!(lock_of(&prev).unwrap().files.len(), 6);
        // A symlinked environment folder is not read at all.
        std::os::unix::fs::symlink(&env, dir.path().join("f")).unwrap();
        assert!(from_disk(&dir.path().join("f"), &new).unwrap().contents.is_empty());
    }

    #[test]
    fn reads_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join("e");
        std::fs::create_dir_all(&env).unwrap();
        // Sparse: no disk space, no time.
        let big = std::fs::File::create(env.join("big.yaml")).unwrap();
        big.set_len(MAX_FILE_BYTES + 1).unwrap();
        let err = from_disk(&env, &rendered(&["big.yaml"])).unwrap_err().to_string();
        assert!(err.contains("big.yaml` is larger than 8 MiB"), "{err}");
        // Exactly at the limit is fine.
        big.set_len(MAX_FILE_BYTES).unwrap();
        assert_eq!(
            from_disk(&env, &rendered(&["big.yaml"])).unwrap().contents["big.yaml"].len() as u64,
            MAX_FILE_BYTES
        );
        // The index has its own, smaller limit.
        std::fs::File::create(env.join(LOCK_FILE)).unwrap().set_len(MAX_LOCK_BYTES + 1).unwrap();
        let err = lock_from_disk(&env).unwrap_err().to_string();
        assert!(err.contains("kgen.lock.json` is larger than 1 MiB"), "{err}");
        std::fs::remove_file(env.join(LOCK_FILE)).unwrap();
        // Five files within the per-file limit, past the total.
        let names: Vec<String> = (0..5).map(|i| format!("f{i}.yaml")).collect();
        for n in &names {
            std::fs::File::create(env.join(n)).unwrap().set_len(MAX_FILE_BYTES - 1).unwrap();
        }
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let err = from_disk(&env, &rendered(&refs)).unwrap_err().to_string();
        assert!(err.contains("holds more than 32 MiB") && err.contains("f4.yaml"), "{err}");
    }

    #[test]
    fn out_folder_through_a_symlink_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("p");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root.join("real")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        assert!(check_out_folder(&root, &root.join("rendered")).is_ok());
        assert!(check_out_folder(&root, &root.join("real/out")).is_ok());
        let err = check_out_folder(&root, &root.join("link/out")).unwrap_err().to_string();
        assert!(err.contains("link` is a symlink (to `") && err.contains("outside"), "{err}");
        assert!(check_out_folder(&root, &root.join("link")).is_err());
        // An absolute folder elsewhere: only the folder itself is looked at.
        assert!(check_out_folder(&root, &outside.join("out")).is_ok());
        assert!(check_out_folder(&root, &dir.path().join("p/link")).is_err());
    }
}
