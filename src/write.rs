//! Writing a render to disk, used only by the command layer.
//!
//! Guarantees (SPEC §9):
//! - one kgen process writes an output folder at a time: [`lock_output`] takes an advisory lock
//!   on the folder itself, which the kernel drops when the process ends, however it ends;
//! - only changed files are rewritten: unchanged files are hard-linked into the new tree, so
//!   their inode and mtime stay;
//! - only what kgen generated is replaced or pruned: a path listed in the previous
//!   `kgen.lock.json` *and* named as kgen names its files ([`is_generated_name`]); anything
//!   else at a path kgen is about to write is an [`Obstacle`] and the write is refused;
//! - files kgen did not generate are carried over untouched (hard links, symlinks re-created,
//!   never followed);
//! - the new tree is assembled in a staging folder next to the target, made durable (written
//!   back to the disk, folders included) and only then swapped in with one atomic
//!   `renameat2(RENAME_EXCHANGE)`: a failed or killed render, or a power cut, leaves the
//!   previous render byte-identical; the staging folder a killed render leaves is removed by the
//!   next one, and one that cannot be removed is reported and skipped, never reused;
//! - nothing is written through a symlink or outside the output folder: a symlink (or a file)
//!   where the render needs a folder is an [`Obstacle`] and the write is refused.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::compare::{Changeset, Previous, compare};
use crate::config::load::is_valid_name;
use crate::error::Error;
/// What kgen owns of a previous render, read symlink-safe and bounded (see [`crate::previous`]).
pub use crate::previous::from_disk as read_previous;
pub use crate::previous::is_generated_name;
use crate::render::{LOCK_FILE, Rendered};

fn io<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io { path: path.to_path_buf(), action, source }
}

/// Rejects a path kgen should never produce (absolute, `..`, empty segments).
fn safe_relative(rel: &str) -> Result<&Path, Error> {
    let p = Path::new(rel);
    if crate::previous::is_safe_relative(rel) {
        Ok(p)
    } else {
        Err(Error::Internal(format!("refusing to write outside the output folder: `{rel}`")))
    }
}

/// Something that stands where a render writes: a symlink or a file where it needs a folder,
/// a folder where it writes a file, or a file kgen did not generate where it writes one.
/// Writing through a symlink would put files outside the output folder, so kgen refuses to
/// write the environment. It does not replace the link with a folder either (as it does a
/// symlink in place of a generated file): the folder it points to may hold files kgen did not
/// generate, which would silently drop out of the render, and the user may expect the render
/// to land at its target. Nor does it overwrite or remove what it did not generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Obstacle {
    /// Relative to the output folder (`<env>/values`); empty for the output folder itself.
    pub path: String,
    /// What stands there.
    pub what: Blocker,
}

/// What an [`Obstacle`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocker {
    /// A symlink where kgen writes a folder.
    Symlink,
    /// A file (or anything else that is neither a folder nor a symlink) where kgen writes a folder.
    File,
    /// A folder where kgen writes a file.
    Folder,
    /// A file or symlink where kgen writes a file, which the previous `kgen.lock.json` does not
    /// list as generated (and whose content is not what kgen writes there).
    NotGenerated,
}

impl Obstacle {
    /// Whether it stands where kgen writes a folder (the other kinds stand where it writes a file).
    pub fn blocks_a_folder(&self) -> bool {
        matches!(self.what, Blocker::Symlink | Blocker::File)
    }

    /// One readable line; `out` is how to show the output folder.
    pub fn describe(&self, out: &str) -> String {
        let full = if self.path.is_empty() { out.to_string() } else { format!("{out}/{}", self.path) };
        match self.what {
            Blocker::Symlink => format!(
                "`{full}` is a symlink where kgen writes a folder; kgen never writes through a symlink: \
                 replace it with a real folder (kgen leaves the link and its target alone)"
            ),
            Blocker::File => format!(
                "`{full}` is not a folder, but kgen writes a folder there; move it away \
                 (kgen never removes what it did not generate)"
            ),
            Blocker::Folder => format!(
                "`{full}` is a folder, but kgen writes a generated file there; move it away \
                 (kgen never removes what it did not generate)"
            ),
            Blocker::NotGenerated => {
                let env = self.path.split('/').next().unwrap_or_default();
                format!(
                    "`{full}` is in the way: kgen writes a generated file there, but the previous \
                     `{out}/{env}/{LOCK_FILE}` does not list it, so it is not kgen's and kgen never overwrites \
                     it: move it away (if kgen did write it, restore that `{LOCK_FILE}` instead)"
                )
            }
        }
    }
}

/// A leftover staging folder that could not be removed: kgen leaves it and writes through a
/// fresh staging name, so it never blocks a render; the user removes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undeletable {
    /// Its name in the output folder (`.dev.kgen-staging`).
    pub name: String,
    /// Why it could not be removed.
    pub reason: String,
}

impl Undeletable {
    /// One readable line, with the command that removes it; `out` is how to show the output folder.
    pub fn describe(&self, out: &str) -> String {
        let path = format!("{out}/{}", self.name);
        format!(
            "cannot remove the leftover staging folder `{path}` ({}); later renders do not need it and \
             stage under another name; remove it with: {}",
            self.reason,
            removal_command(&path)
        )
    }
}

/// The shell command that removes a leftover staging folder, read-only folders in it included.
pub fn removal_command(path: &str) -> String {
    let plain = path.bytes().all(|b| b.is_ascii_alphanumeric() || b"._/-+@%:,".contains(&b));
    let quoted = if plain { path.to_string() } else { format!("'{}'", path.replace('\'', "'\\''")) };
    format!("chmod -R u+w {quoted} && rm -rf {quoted}")
}

/// What is at a path, from its directory entry or an `lstat`: never followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Folder,
    Symlink,
    Other,
}

impl Kind {
    fn of(t: fs::FileType) -> Kind {
        if t.is_dir() {
            Kind::Folder
        } else if t.is_symlink() {
            Kind::Symlink
        } else {
            Kind::Other
        }
    }

    fn at(path: &Path) -> Option<Kind> {
        fs::symlink_metadata(path).ok().map(|m| Kind::of(m.file_type()))
    }
}

/// What stands in the way of writing `new` into `out/<env>`: the output folder, the
/// environment's folder or a folder on the way to a generated file that is a symlink or a file;
/// a folder, or a file kgen did not generate (see [`Blocker::NotGenerated`]; `prev` says what
/// it generated), where it writes a file. Topmost only: what lies beyond an obstacle is not
/// looked at. [`survey`] finds the same from its listing; this asks the disk again, right
/// before a write.
pub fn obstacles(out: &Path, new: &Rendered, prev: &Previous) -> Vec<Obstacle> {
    if let Some(o) = out_obstacle(out) {
        return vec![o];
    }
    let target = out.join(&new.env);
    let kind = |rel: &str| Kind::at(&target.join(rel));
    let blocked = blocked_folders(new.files.keys(), kind);
    let mut found = env_obstacles(&new.env, Kind::at(&target), &blocked);
    if is_folder(&target) {
        found.extend(file_obstacles(new, prev, &blocked, kind));
    }
    found
}

fn blocker(k: Kind) -> Blocker {
    if k == Kind::Symlink { Blocker::Symlink } else { Blocker::File }
}

fn out_obstacle(out: &Path) -> Option<Obstacle> {
    Kind::at(out).filter(|k| *k != Kind::Folder).map(|k| Obstacle { path: String::new(), what: blocker(k) })
}

fn env_obstacles(env: &str, target: Option<Kind>, blocked: &BTreeMap<String, bool>) -> Vec<Obstacle> {
    match target {
        Some(Kind::Folder) => blocked
            .iter()
            .map(|(rel, &symlink)| Obstacle {
                path: format!("{env}/{rel}"),
                what: if symlink { Blocker::Symlink } else { Blocker::File },
            })
            .collect(),
        Some(k) => vec![Obstacle { path: env.to_string(), what: blocker(k) }],
        None => vec![],
    }
}

/// What stands where `new` writes a file (in a real environment folder, outside `blocked`): a
/// folder, or a file or symlink the previous lock does not list as generated — unless it is a
/// regular file holding exactly what kgen writes there, which loses nothing when it becomes
/// kgen's. `kind` is only asked about paths `prev` holds no content for: a file it read is a
/// regular file (an up-to-date fleet costs no system call here).
fn file_obstacles(
    new: &Rendered,
    prev: &Previous,
    blocked: &BTreeMap<String, bool>,
    kind: impl Fn(&str) -> Option<Kind>,
) -> Vec<Obstacle> {
    let mut found = Vec::new();
    for (rel, content) in &new.files {
        if behind(rel, blocked) {
            continue;
        }
        let what = match prev.contents.get(rel) {
            Some(_) if prev.generated.contains(rel) => continue,
            Some(bytes) if bytes.as_slice() == content.as_bytes() => continue,
            Some(_) => Blocker::NotGenerated,
            None => match kind(rel) {
                None => continue,
                Some(Kind::Folder) => Blocker::Folder,
                // A symlink (or a FIFO) where a generated file was: replaced, never followed.
                Some(_) if prev.generated.contains(rel) => continue,
                Some(_) => Blocker::NotGenerated,
            },
        };
        found.push(Obstacle { path: format!("{}/{rel}", new.env), what });
    }
    found
}

/// The folders on the way to `paths` (relative to a real folder) that exist as something else:
/// relative path → whether it is a symlink. Topmost only. `kind` says what is at a relative
/// path; it is asked once per distinct folder.
fn blocked_folders<'a>(
    paths: impl IntoIterator<Item = &'a String>,
    mut kind: impl FnMut(&str) -> Option<Kind>,
) -> BTreeMap<String, bool> {
    let mut fine: BTreeSet<&str> = BTreeSet::new();
    let mut blocked = BTreeMap::new();
    'paths: for path in paths {
        for (i, _) in path.match_indices('/') {
            let dir = &path[..i];
            if blocked.contains_key(dir) {
                continue 'paths;
            }
            if fine.contains(dir) {
                continue;
            }
            match kind(dir) {
                Some(k @ (Kind::Symlink | Kind::Other)) => {
                    blocked.insert(dir.to_string(), k == Kind::Symlink);
                    continue 'paths;
                }
                // A real folder, or missing (the render creates it).
                _ => {
                    fine.insert(dir);
                }
            }
        }
    }
    blocked
}

/// Whether `path` lies beyond one of the `blocked` folders (what a survey does not look at).
fn behind(path: &str, blocked: &BTreeMap<String, bool>) -> bool {
    !blocked.is_empty() && path.match_indices('/').any(|(i, _)| blocked.contains_key(&path[..i]))
}

fn is_folder(path: &Path) -> bool {
    Kind::at(path) == Some(Kind::Folder)
}

/// An environment folder as listed: its own entries and everything under its real applied
/// folders ([`crate::render::gitops::is_applied_folder`]), each with its kind from the directory
/// entry (no `stat` per entry: a fleet `--check` lists every environment). Other folders
/// (`values/`) are not listed: their files are read by name, and nothing in them reaches the
/// cluster.
#[derive(Default)]
struct Listing {
    kinds: HashMap<String, Kind>,
    /// Folders whose every entry is in `kinds` (`""`: the environment folder).
    listed: HashSet<String>,
}

impl Listing {
    fn of(target: &Path) -> Listing {
        let mut listing = Listing::default();
        let mut todo = vec![String::new()];
        while let Some(rel) = todo.pop() {
            let Ok(entries) = fs::read_dir(if rel.is_empty() { target.to_path_buf() } else { target.join(&rel) })
            else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let child = if rel.is_empty() { name } else { format!("{rel}/{name}") };
                let kind = e.file_type().map_or(Kind::Other, Kind::of);
                let applied = crate::render::gitops::is_applied_folder(child.split('/').next().unwrap_or_default());
                if kind == Kind::Folder && applied {
                    todo.push(child.clone());
                }
                listing.kinds.insert(child, kind);
            }
            listing.listed.insert(rel);
        }
        listing
    }

    /// What is at `rel`: from the listing when its folder was listed, else one `lstat`.
    fn kind(&self, target: &Path, rel: &str) -> Option<Kind> {
        let parent = rel.rsplit_once('/').map_or("", |(p, _)| p);
        if self.listed.contains(parent) { self.kinds.get(rel).copied() } else { Kind::at(&target.join(rel)) }
    }
}

/// One environment on disk, as a render needs to know it: what kgen owns of the previous
/// render, what stands in the way of writing it, and what sits where the engine applies from.
#[derive(Debug, Clone, Default)]
pub struct Survey {
    /// What [`read_previous`] returns.
    pub previous: Previous,
    /// What [`obstacles`] returns.
    pub obstacles: Vec<Obstacle>,
    /// Files in the applied folders ([`crate::render::gitops::is_applied_folder`]) that kgen
    /// does not generate now and did not generate before (those it prunes), relative to the
    /// environment folder, in path order. Symlinks are listed like files (the engine reads what
    /// they point to); obstacles are not.
    pub stray: Vec<String>,
}

/// Looks at `out/<env>` once for everything a render or `--check` needs to know about it; an
/// error when the previous render is beyond kgen's read limits.
pub fn survey(out: &Path, new: &Rendered) -> Result<Survey, Error> {
    if let Some(o) = out_obstacle(out) {
        return Ok(Survey { obstacles: vec![o], ..Survey::default() });
    }
    survey_env(&out.join(&new.env), new)
}

fn survey_env(target: &Path, new: &Rendered) -> Result<Survey, Error> {
    let mut survey = Survey::default();
    let env_kind = Kind::at(target);
    if env_kind != Some(Kind::Folder) {
        survey.obstacles = env_obstacles(&new.env, env_kind, &BTreeMap::new());
        return Ok(survey);
    }
    let listing = Listing::of(target);
    let kind = |rel: &str| listing.kind(target, rel);
    survey.previous = read_previous(target, new)?;
    let blocked = blocked_folders(new.files.keys(), kind);
    survey.obstacles = env_obstacles(&new.env, env_kind, &blocked);
    survey.obstacles.extend(file_obstacles(new, &survey.previous, &blocked, kind));
    let needed: BTreeSet<&str> =
        new.files.keys().flat_map(|p| p.match_indices('/').map(move |(i, _)| &p[..i])).collect();
    let prev = &survey.previous;
    survey.stray = listing
        .kinds
        .iter()
        .filter(|(rel, k)| **k != Kind::Folder && rel.contains('/'))
        .map(|(rel, _)| rel)
        .filter(|rel| !new.files.contains_key(*rel) && !prev.generated.contains(*rel) && !needed.contains(rel.as_str()))
        .cloned()
        .collect();
    survey.stray.sort();
    Ok(survey)
}

/// How a command holds the output folder: `render` writes it; `render --check` and `diff`
/// read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Shared with other readers: no render swaps a tree in while the folder is read, so a
    /// reader never sees one environment half old and half new.
    Read,
    /// Alone: one render at a time, and none while the folder is read.
    Write,
}

/// What [`lock_output`] got.
#[derive(Debug)]
pub enum OutputLock {
    /// The output folder is held by this process until this is dropped (or the process ends,
    /// however it ends).
    Held(fs::File),
    /// Nothing to lock: a read of a missing output folder, or an output folder that is a
    /// symlink or a file (which the render then refuses to use).
    Nothing,
    /// The filesystem cannot lock a folder (some network filesystems): the command goes on
    /// without the lock, and says so.
    Unsupported(std::io::Error),
}

/// Takes the render lock of `out`: an advisory lock (`flock`) on the output folder itself, so
/// there is no lock file to leave behind, commit or mistake for a stray file, and the kernel
/// drops it when the process dies (a killed render never blocks the next one). Another kgen
/// process holding it is waited for up to `wait`, calling `waiting` once when the wait starts;
/// after that, an error that names the folder as `shown`. A write makes a missing output
/// folder.
pub fn lock_output(
    out: &Path,
    shown: &str,
    mode: LockMode,
    wait: std::time::Duration,
    waiting: impl FnOnce(),
) -> Result<OutputLock, Error> {
    if mode == LockMode::Write && Kind::at(out).is_none() {
        fs::create_dir_all(out).map_err(io(out, "create the output folder"))?;
    }
    if !is_folder(out) {
        return Ok(OutputLock::Nothing);
    }
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_DIRECTORY | libc::O_NOFOLLOW);
    let folder = options.open(out).map_err(io(out, "open the output folder to lock it"))?;
    let started = std::time::Instant::now();
    let mut waiting = Some(waiting);
    loop {
        let attempt = match mode {
            LockMode::Write => folder.try_lock(),
            LockMode::Read => folder.try_lock_shared(),
        };
        match attempt {
            Ok(()) => return Ok(OutputLock::Held(folder)),
            Err(fs::TryLockError::WouldBlock) => {}
            Err(fs::TryLockError::Error(e)) => return Ok(OutputLock::Unsupported(e)),
        }
        let waited = started.elapsed();
        if waited >= wait {
            return Err(Error::Usage(format!(
                "`{shown}` is in use by another kgen process (a `render` writing it, or a `render --check` or \
                 `diff` reading it); gave up after {} s (`--wait-lock`); nothing {}",
                wait.as_secs(),
                if mode == LockMode::Write { "written" } else { "read" }
            )));
        }
        if let Some(w) = waiting.take() {
            w();
        }
        std::thread::sleep((wait - waited).min(std::time::Duration::from_millis(50)));
    }
}

/// The name of `env`'s staging folder number `n`: hidden, next to the environment's folder, a
/// name only kgen uses. `n > 0` when the usual one is a leftover kgen could not remove.
fn staging_name(env: &str, n: usize) -> String {
    if n == 0 { format!(".{env}.kgen-staging") } else { format!(".{env}.kgen-staging-{n}") }
}

/// The environment whose staging folder `name` is (see [`staging_name`]), if it is one.
fn staging_env(name: &str) -> Option<&str> {
    // An environment name has no dot.
    let (env, rest) = name.strip_prefix('.')?.split_once('.')?;
    let n = rest.strip_prefix("kgen-staging")?;
    let numbered = |n: &str| !n.is_empty() && !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit());
    (is_valid_name(env) && (n.is_empty() || n.strip_prefix('-').is_some_and(numbered))).then_some(env)
}

/// A staging folder an earlier render left in the output folder: it was killed before it
/// removed it, or could not remove it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    /// The environment it was for.
    pub env: String,
    /// Its name in the output folder.
    pub name: String,
}

/// The leftover staging folders in `out`, by environment and name.
pub fn leftover_stagings(out: &Path) -> Vec<Leftover> {
    let Ok(entries) = fs::read_dir(out) else {
        return vec![];
    };
    let mut found: Vec<Leftover> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            Some(Leftover { env: staging_env(&name)?.to_string(), name })
        })
        .collect();
    found.sort_by(|a, b| (&a.env, &a.name).cmp(&(&b.env, &b.name)));
    found
}

/// Removes leftover staging folders of `out` by name; returns those that could not be removed.
/// Only those exact names, and never through a symlink: a symlink of that name is removed, not
/// what it points to, and `remove_dir_all` does not follow the symlinks inside.
pub fn remove_stagings(out: &Path, names: &[String], fault: FaultInjection) -> Vec<Undeletable> {
    names.iter().filter_map(|name| remove_staging(out, name, fault)).collect()
}

fn remove_staging(out: &Path, name: &str, fault: FaultInjection) -> Option<Undeletable> {
    let path = out.join(name);
    let result = if fault.fail_removal && fs::symlink_metadata(&path).is_ok() {
        Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied))
    } else {
        remove_all_io(&path)
    };
    result.err().map(|e| Undeletable { name: name.to_string(), reason: e.to_string() })
}

/// What a write did.
#[derive(Debug, Clone, Default)]
pub struct WriteReport {
    /// The changes applied (empty: nothing was touched).
    pub changes: Changeset,
    /// Staging folders it could not remove (the render went through).
    pub undeletable: Vec<Undeletable>,
}

/// Test hooks.
#[derive(Debug, Clone, Copy, Default)]
pub struct FaultInjection {
    /// Fail after N file writes into the staging folder, before the swap.
    pub fail_after_writes: Option<usize>,
    /// Removing a staging folder fails as if a folder in it were read-only (which root, as
    /// whom CI runs, cannot make one).
    pub fail_removal: bool,
}

/// One environment's new tree, assembled and waiting to be swapped in by [`commit`].
#[derive(Debug)]
pub struct Staged {
    staging: PathBuf,
    target: PathBuf,
    /// The environment is deleted: its folder goes once empty.
    deleted: bool,
}

/// What [`prepare_env`] did.
#[derive(Debug)]
pub struct Prepared {
    /// The changes to apply (empty: nothing to do, nothing staged).
    pub changes: Changeset,
    /// The new tree, when there are changes.
    pub staged: Option<Staged>,
    /// Leftover staging folders of the environment it could not remove.
    pub undeletable: Vec<Undeletable>,
}

/// Writes one environment's render into `out/<env>/`: [`prepare_env`] then [`commit`].
/// `prev` is what [`read_previous`] returned for `out/<env>` before this render.
pub fn write_env(out: &Path, new: &Rendered, prev: &Previous, fault: FaultInjection) -> Result<WriteReport, Error> {
    let leftovers: Vec<String> =
        leftover_stagings(out).into_iter().filter(|l| l.env == new.env).map(|l| l.name).collect();
    let prepared = prepare_env(out, new, prev, &leftovers, fault)?;
    let mut undeletable = prepared.undeletable;
    undeletable.extend(commit(out, prepared.staged.into_iter().collect(), fault)?);
    Ok(WriteReport { changes: prepared.changes, undeletable })
}

/// Removes the environment's `leftovers` (names of its staging folders in `out`), then, if
/// anything changed, assembles its new tree in a fresh staging folder. Refuses (nothing
/// written) when something stands in the way ([`obstacles`], asked of the disk again).
pub fn prepare_env(
    out: &Path,
    new: &Rendered,
    prev: &Previous,
    leftovers: &[String],
    fault: FaultInjection,
) -> Result<Prepared, Error> {
    let refuse = |blocked: Vec<Obstacle>| {
        let shown = out.display().to_string();
        let lines: Vec<String> = blocked.iter().map(|o| o.describe(&shown)).collect();
        Error::Usage(format!("{}: nothing written\n{}", new.env, lines.join("\n")))
    };
    // The output folder first: the staging folder is removed through it.
    if let Some(o) = out_obstacle(out) {
        return Err(refuse(vec![o]));
    }
    fs::create_dir_all(out).map_err(io(out, "create the output folder"))?;
    let target = out.join(&new.env);
    // A leftover from a killed run holds nothing of value (the target is always complete), and
    // nothing else would ever remove it: do it before deciding whether anything changed. One
    // that cannot be removed is reported and skipped: the staging name below is a fresh one.
    let undeletable = remove_stagings(out, leftovers, fault);
    let changes = compare(new, prev);
    if changes.is_empty() {
        return Ok(Prepared { changes, staged: None, undeletable });
    }
    let blocked = obstacles(out, new, prev);
    if !blocked.is_empty() {
        return Err(refuse(blocked));
    }
    // Every file about to be written reads back as what its template means (debug builds check
    // every file of every render; this keeps release builds honest where it matters).
    for rel in changes.files.keys() {
        if let Some(text) = new.files.get(rel) {
            crate::render::verify_file(rel, text)?;
        }
    }
    let mut n = 0;
    let staging = loop {
        let path = out.join(staging_name(&new.env, n));
        match fs::create_dir(&path) {
            Ok(()) => break path,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
            Err(e) => return Err(io(&path, "create the staging folder")(e)),
        }
    };
    if let Err(e) = assemble(&target, &staging, new, prev, &changes, fault) {
        // What cannot be removed here is a leftover the next render reports.
        let _ = remove_all(&staging);
        return Err(e);
    }
    Ok(Prepared { changes, staged: Some(Staged { staging, target, deleted: new.files.is_empty() }), undeletable })
}

/// Removes staged trees that will not be swapped in (another environment failed).
pub fn discard(staged: Vec<Staged>) {
    for s in staged {
        let _ = remove_all(&s.staging);
    }
}

/// Swaps the `staged` trees (of environments in `out`) in: first every file and folder of
/// them is written to the disk, so that no swapped-in tree can hold a file that a power cut
/// empties; then each is swapped in (atomic per environment), the swaps are written to the disk,
/// and the previous trees are removed. Returns the staging folders that could not be removed
/// (the render went through).
pub fn commit(out: &Path, staged: Vec<Staged>, fault: FaultInjection) -> Result<Vec<Undeletable>, Error> {
    if staged.is_empty() {
        return Ok(vec![]);
    }
    if let Err(e) = sync_filesystem(out) {
        discard(staged);
        return Err(e);
    }
    let mut swapped = Vec::with_capacity(staged.len());
    let mut failed = None;
    let mut left = staged.into_iter();
    for s in left.by_ref() {
        match swap(&s.staging, &s.target) {
            Ok(()) => swapped.push(s),
            Err(e) => {
                failed = Some(e);
                discard(vec![s]);
                break;
            }
        }
    }
    discard(left.collect());
    let synced = sync_folder(out);
    // After the swap, each staging folder holds the previous tree.
    let undeletable: Vec<Undeletable> = crate::par_map(&swapped, |s| {
        let name = s.staging.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let left = remove_staging(out, &name, fault);
        if s.deleted {
            // A deleted environment: drop the folder if nothing foreign is left in it.
            let _ = fs::remove_dir(&s.target);
        }
        left
    })
    .into_iter()
    .flatten()
    .collect();
    match failed {
        Some(e) => Err(e),
        None => synced.map(|()| undeletable),
    }
}

/// Writes everything written so far on the filesystem of `out` to the disk: one `syncfs`, not
/// an `fsync` per file (35,000 of them for a fleet, each a journal commit). Elsewhere than Linux,
/// `sync`.
fn sync_filesystem(out: &Path) -> Result<(), Error> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let folder = fs::File::open(out).map_err(io(out, "open the output folder"))?;
        // SAFETY: a valid descriptor, open for the duration of the call.
        if unsafe { libc::syncfs(folder.as_raw_fd()) } != 0 {
            return Err(io(out, "write the render to disk")(std::io::Error::last_os_error()));
        }
    }
    #[cfg(all(unix, not(target_os = "linux")))]
    {
        // SAFETY: no arguments; flushes every filesystem.
        unsafe { libc::sync() };
    }
    Ok(())
}

/// Writes the entries of the folder `dir` (the swaps made in it) to the disk.
fn sync_folder(dir: &Path) -> Result<(), Error> {
    fs::File::open(dir).and_then(|f| f.sync_all()).map_err(io(dir, "write the render to disk"))
}

fn remove_all(path: &Path) -> Result<(), Error> {
    remove_all_io(path).map_err(io(path, "remove"))
}

fn remove_all_io(path: &Path) -> std::io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(_) => Ok(()),
    }
}

/// Builds the new tree in `staging`: carried-over files first, then the changed ones.
fn assemble(
    target: &Path,
    staging: &Path,
    new: &Rendered,
    prev: &Previous,
    changes: &Changeset,
    fault: FaultInjection,
) -> Result<(), Error> {
    // Folders already made in the staging tree: `mkdir` on an existing folder is a failed
    // system call, and there are thousands of them in a fleet render.
    let mut made: BTreeSet<PathBuf> = BTreeSet::new();
    // One component at a time, each made here or already a real folder made here: never
    // `create_dir_all`, which goes through a symlink. `obstacles` keeps symlinks off the way to
    // generated files, so none is carried over there; this keeps it so if that ever changes.
    let mut mkdirs = |dir: &Path| -> Result<(), Error> {
        if made.contains(dir) {
            return Ok(());
        }
        let rel = dir.strip_prefix(staging).map_err(|_| {
            Error::Internal(format!("refusing to create a folder outside the staging folder: `{}`", dir.display()))
        })?;
        let mut d = staging.to_path_buf();
        for c in rel.components() {
            d.push(c);
            if made.contains(&d) {
                continue;
            }
            match fs::create_dir(&d) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && is_folder(&d) => {}
                Err(e) => return Err(io(&d, "create a folder")(e)),
            }
            made.insert(d.clone());
        }
        Ok(())
    };
    if fs::symlink_metadata(target).is_ok_and(|m| m.is_dir()) {
        for entry in walkdir::WalkDir::new(target).follow_links(false).sort_by_file_name().min_depth(1) {
            let entry = entry.map_err(|e| Error::Io {
                path: target.to_path_buf(),
                action: "read the previous render",
                source: e.into_io_error().unwrap_or_else(|| std::io::Error::other("walk failed")),
            })?;
            let rel_path = entry.path().strip_prefix(target).expect("walk stays under target");
            let rel = rel_path.to_string_lossy().replace('\\', "/");
            let dest = staging.join(rel_path);
            let ft = entry.file_type();
            if ft.is_dir() {
                // Only folders that hold something foreign survive on their own; generated
                // folders are re-created by the files placed in them.
                let empty = fs::read_dir(entry.path()).map(|mut d| d.next().is_none()).unwrap_or(false);
                if empty {
                    mkdirs(&dest)?;
                }
                continue;
            }
            let generated_now = new.files.contains_key(&rel);
            let keep = if generated_now {
                !changes.files.contains_key(&rel) && ft.is_file()
            } else {
                !prev.generated.contains(&rel)
            };
            if !keep {
                continue;
            }
            if let Some(parent) = dest.parent() {
                mkdirs(parent)?;
            }
            if ft.is_symlink() {
                let link = fs::read_link(entry.path()).map_err(io(entry.path(), "read a symlink"))?;
                symlink(&link, &dest)?;
            } else if fs::hard_link(entry.path(), &dest).is_err() {
                fs::copy(entry.path(), &dest).map_err(io(&dest, "copy a file"))?;
            }
        }
    }
    let mut writes = 0usize;
    for (rel, status) in &changes.files {
        if *status == crate::compare::Status::Removed {
            continue;
        }
        if fault.fail_after_writes == Some(writes) {
            return Err(Error::Internal("fault injected while writing the render".into()));
        }
        let dest = staging.join(safe_relative(rel)?);
        if let Some(parent) = dest.parent() {
            mkdirs(parent)?;
        }
        // `create_new` (`O_EXCL`) refuses whatever already sits at the last component, a
        // symlink included, and `mkdirs` made every folder above it a real one in the staging
        // folder: the write cannot leave the staging tree.
        let mut f = fs::OpenOptions::new().write(true).create_new(true).open(&dest).map_err(io(&dest, "create"))?;
        std::io::Write::write_all(&mut f, new.files[rel].as_bytes()).map_err(io(&dest, "write"))?;
        writes += 1;
    }
    Ok(())
}

#[cfg(unix)]
fn symlink(link: &Path, dest: &Path) -> Result<(), Error> {
    std::os::unix::fs::symlink(link, dest).map_err(io(dest, "re-create a symlink"))
}

#[cfg(not(unix))]
fn symlink(_link: &Path, dest: &Path) -> Result<(), Error> {
    Err(Error::Usage(format!("cannot carry over the symlink `{}` on this platform", dest.display())))
}

/// Puts `staging` in place of `target`. On Linux this is one atomic exchange; elsewhere two
/// renames with a window in which a kill leaves the previous tree under `staging`.
fn swap(staging: &Path, target: &Path) -> Result<(), Error> {
    if fs::symlink_metadata(target).is_err() {
        return fs::rename(staging, target).map_err(io(target, "move the new render into place"));
    }
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let a = CString::new(staging.as_os_str().as_bytes()).map_err(|_| Error::Usage("path contains NUL".into()))?;
        let b = CString::new(target.as_os_str().as_bytes()).map_err(|_| Error::Usage("path contains NUL".into()))?;
        // SAFETY: both pointers are valid NUL-terminated strings for the duration of the call.
        let rc =
            unsafe { libc::renameat2(libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), libc::RENAME_EXCHANGE) };
        if rc == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        // Filesystems without RENAME_EXCHANGE fall through to the two-rename path.
        if !matches!(err.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) {
            return Err(Error::Io { path: target.to_path_buf(), action: "swap in the new render", source: err });
        }
    }
    let backup: PathBuf = staging.with_extension("previous");
    fs::rename(target, &backup).map_err(io(target, "move the previous render aside"))?;
    fs::rename(staging, target).map_err(io(target, "move the new render into place"))?;
    fs::rename(&backup, staging).map_err(io(staging, "move the previous render back for removal"))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// Only kgen's staging names are leftovers (anything else in the output folder is the user's).
    #[test]
    fn staging_names_round_trip_and_nothing_else_is_one() {
        for (env, n) in [("dev", 0), ("dev", 1), ("kgen-staging", 12), ("a1", 3)] {
            assert_eq!(staging_env(&staging_name(env, n)), Some(env));
        }
        for name in [
            ".dev.kgen-staging.bak",
            ".dev.kgen-staging-",
            ".dev.kgen-staging-01",
            ".dev.kgen-staging-1a",
            ".Dev.kgen-staging",
            "dev.kgen-staging",
            ".dev.kgen-stagingx",
            ".mine",
            ".-dev.kgen-staging",
        ] {
            assert_eq!(staging_env(name), None, "{name}");
        }
    }

    #[test]
    fn the_removal_command_quotes_what_a_shell_would_split() {
        assert_eq!(
            removal_command("rendered/.dev.kgen-staging"),
            "chmod -R u+w rendered/.dev.kgen-staging && rm -rf rendered/.dev.kgen-staging"
        );
        assert_eq!(
            removal_command("my out/.e.kgen-staging"),
            "chmod -R u+w 'my out/.e.kgen-staging' && rm -rf 'my out/.e.kgen-staging'"
        );
        assert_eq!(
            removal_command("it's/.e.kgen-staging"),
            "chmod -R u+w 'it'\\''s/.e.kgen-staging' && rm -rf 'it'\\''s/.e.kgen-staging'"
        );
    }

    /// What every generated YAML file starts with (the write check requires it).
    const HEADER: &str = "# Generated by kgen from environments/e.yaml.\n";

    /// A failure while the new tree is assembled leaves no staging folder and the target as it was.
    #[test]
    fn a_failed_prepare_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let new = Rendered {
            env: "e".into(),
            files: [
                ("values/a.yaml".to_string(), format!("{HEADER}a: 1\n")),
                ("values/b.yaml".to_string(), format!("{HEADER}b: 1\n")),
            ]
            .into(),
        };
        let fault = FaultInjection { fail_after_writes: Some(1), ..FaultInjection::default() };
        assert!(prepare_env(&out, &new, &Previous::default(), &[], fault).is_err());
        assert_eq!(fs::read_dir(&out).unwrap().count(), 0);
        let report = write_env(&out, &new, &Previous::default(), FaultInjection::default()).unwrap();
        assert_eq!(report.changes.files.len(), 2);
        assert!(report.undeletable.is_empty());
        assert_eq!(fs::read_to_string(out.join("e/values/b.yaml")).unwrap(), format!("{HEADER}b: 1\n"));
        assert_eq!(fs::read_dir(&out).unwrap().count(), 1, "no staging folder left");
    }

    /// `obstacles` keeps symlinks off the way to generated files before `assemble` runs; should
    /// one be in the staging tree anyway, `assemble` fails instead of writing through it.
    #[test]
    fn assemble_never_makes_a_folder_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        let staging = dir.path().join(".e.kgen-staging");
        fs::create_dir(&outside).unwrap();
        fs::create_dir(&staging).unwrap();
        std::os::unix::fs::symlink(&outside, staging.join("values")).unwrap();
        let new = Rendered { env: "e".into(), files: [("values/x.yaml".to_string(), "x: 1\n".to_string())].into() };
        let prev = Previous::default();
        let changes = compare(&new, &prev);
        let target = dir.path().join("e");
        assert!(assemble(&target, &staging, &new, &prev, &changes, FaultInjection::default()).is_err());
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
    }
}
