//! Writing a render to disk, used only by the command layer.
//!
//! Guarantees (SPEC §9):
//! - only changed files are rewritten: unchanged files are hard-linked into the new tree, so
//!   their inode and mtime stay;
//! - stale generated files (listed in the previous `kgen.lock.json`) are pruned;
//! - files kgen did not generate are carried over untouched (hard links, symlinks re-created,
//!   never followed);
//! - the new tree is assembled in a staging folder next to the target and swapped in with one
//!   atomic `renameat2(RENAME_EXCHANGE)`: a failed or killed render leaves the previous render
//!   byte-identical;
//! - nothing is written through a symlink or outside the output folder.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::compare::{Changeset, Previous, compare};
use crate::error::Error;
use crate::render::{LOCK_FILE, Rendered};

fn io<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io { path: path.to_path_buf(), action, source }
}

/// Rejects a path kgen should never produce (absolute, `..`, empty segments).
fn safe_relative(rel: &str) -> Result<&Path, Error> {
    let p = Path::new(rel);
    let ok = !rel.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
    if ok { Ok(p) } else { Err(Error::Internal(format!("refusing to write outside the output folder: `{rel}`"))) }
}

/// Fails if `path` exists and is a symlink.
fn not_a_symlink(path: &Path) -> Result<(), Error> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            Err(Error::Usage(format!("`{}` is a symlink; kgen never writes through symlinks", path.display())))
        }
        _ => Ok(()),
    }
}

/// Reads what kgen owns of a previous render: the previous index and every file that is
/// generated now or was generated before. Symlinks are not followed (their content counts as
/// missing, so `--check` reports them).
pub fn read_previous(target: &Path, new: &Rendered) -> Result<Previous, Error> {
    let mut prev = Previous::default();
    let lock_path = target.join(LOCK_FILE);
    if let Ok(text) = read_regular(&lock_path)
        && let Ok(lock) = serde_json::from_slice::<serde_json::Value>(&text)
        && let Some(files) = lock.get("files").and_then(serde_json::Value::as_object)
    {
        for k in files.keys() {
            // A lock edited to point outside the folder is ignored, not obeyed.
            if safe_relative(k).is_ok() {
                prev.generated.insert(k.clone());
            }
        }
        prev.generated.insert(LOCK_FILE.to_string());
    }
    let wanted: BTreeSet<&String> = new.files.keys().chain(prev.generated.iter()).collect();
    for rel in wanted {
        if let Ok(bytes) = read_regular(&target.join(rel)) {
            prev.contents.insert(rel.clone(), bytes);
        }
    }
    Ok(prev)
}

/// Reads a regular file without following a symlink in its last component: one `open` with
/// `O_NOFOLLOW` and an `fstat` on the descriptor, instead of two path lookups (a fleet
/// `--check` reads tens of thousands of files). `O_NONBLOCK`: opening a FIFO left in a render
/// folder must not wait for a writer (the `fstat` then rejects it).
pub(crate) fn read_regular(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW | libc::O_NONBLOCK);
    let mut f = options.open(path)?;
    let m = f.metadata()?;
    if !m.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut buf = Vec::with_capacity(m.len() as usize);
    f.read_to_end(&mut buf)?;
    Ok(buf)
}

/// What a write did.
#[derive(Debug, Clone, Default)]
pub struct WriteReport {
    /// The changes applied (empty: nothing was touched).
    pub changes: Changeset,
}

/// Test hook: fail after writing this many new files, before the swap.
#[derive(Debug, Clone, Copy, Default)]
pub struct FaultInjection {
    /// Fail after N file writes into the staging folder.
    pub fail_after_writes: Option<usize>,
}

/// Writes one environment's render into `out/<env>/`.
/// `prev` is what [`read_previous`] returned for `out/<env>` before this render.
pub fn write_env(out: &Path, new: &Rendered, prev: &Previous, fault: FaultInjection) -> Result<WriteReport, Error> {
    not_a_symlink(out)?;
    fs::create_dir_all(out).map_err(io(out, "create the output folder"))?;
    let target = out.join(&new.env);
    not_a_symlink(&target)?;
    let changes = compare(new, prev);
    if changes.is_empty() {
        return Ok(WriteReport { changes });
    }
    let staging = out.join(format!(".{}.kgen-staging", new.env));
    // A leftover from a killed run holds nothing of value: the target is always complete.
    if fs::symlink_metadata(&staging).is_ok() {
        remove_all(&staging)?;
    }
    fs::create_dir(&staging).map_err(io(&staging, "create the staging folder"))?;
    let result = assemble(&target, &staging, new, prev, &changes, fault).and_then(|()| swap(&staging, &target));
    if let Err(e) = result {
        let _ = remove_all(&staging);
        return Err(e);
    }
    // After the swap, `staging` holds the previous tree.
    remove_all(&staging)?;
    if new.files.is_empty() {
        // A deleted environment: drop the folder if nothing foreign is left in it.
        let _ = fs::remove_dir(&target);
    }
    Ok(WriteReport { changes })
}

fn remove_all(path: &Path) -> Result<(), Error> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).map_err(io(path, "remove")),
        Ok(_) => fs::remove_file(path).map_err(io(path, "remove")),
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
    let mut mkdirs = |dir: &Path| -> Result<(), Error> {
        if made.contains(dir) {
            return Ok(());
        }
        fs::create_dir_all(dir).map_err(io(dir, "create a folder"))?;
        let mut d = dir.to_path_buf();
        while d.starts_with(staging) && made.insert(d.clone()) {
            if !d.pop() {
                break;
            }
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
        // `create_new`: the staging folder is fresh, so this never follows an existing link.
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
