//! Writing files and folders so that a reader never sees half of one, and finding the
//! bundled example files.
//!
//! Every writer in biobatch goes through this module:
//! - [`AtomicFile`] (and [`write_atomic`] for a closure): bytes go to a temporary file beside
//!   the target, which is flushed, synced and renamed over the target on
//!   [`commit`](AtomicFile::commit). Dropped without a commit, the temporary is removed.
//! - [`AtomicDir`]: a folder built under a temporary name beside the target and renamed into
//!   place on [`commit`](AtomicDir::commit) (replacing an existing folder: the old one is
//!   moved aside first, then removed) or [`commit_new`](AtomicDir::commit_new) (the target
//!   must not exist, or be empty).
//!
//! Temporaries are named `.<target name>.bbtmp-<random>`. A process killed mid-write leaves
//! one behind; [`sweep_stale`] removes those older than [`STALE_AFTER`] from a folder, and
//! every constructor here sweeps the folder it writes into.
//!
//! ```
//! use std::io::Write;
//! use biobatch_formats::fs::{AtomicDir, AtomicFile};
//!
//! let dir = tempfile::tempdir()?;
//! let mut f = AtomicFile::create(dir.path().join("a.txt"))?;
//! f.write_all(b"hello")?;
//! f.commit()?;
//! assert_eq!(std::fs::read(dir.path().join("a.txt"))?, b"hello");
//!
//! let staged = AtomicDir::create(dir.path().join("model"))?;
//! std::fs::write(staged.path().join("weights.bin"), b"w")?;
//! staged.commit()?;
//! assert!(dir.path().join("model/weights.bin").is_file());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{Error, Result};

/// The marker in the names of our temporaries.
const MARK: &str = ".bbtmp-";

/// Temporaries older than this are the leftovers of a killed writer (no writer of ours keeps
/// one open that long without touching it).
pub const STALE_AFTER: Duration = Duration::from_secs(6 * 3600);

/// The folder `path` is written in (`.` for a bare file name).
fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into())
}

/// Whether `name` is one of our temporaries.
pub fn is_temporary(name: &str) -> bool {
    name.starts_with('.') && name.contains(MARK)
}

/// Removes our temporaries (files or folders) in `dir` last modified more than `older_than`
/// ago. Best effort: what cannot be removed is left, and a missing `dir` is no error.
/// Returns how many were removed.
pub fn sweep_stale(dir: &Path, older_than: Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        if !is_temporary(&name.to_string_lossy()) {
            continue;
        }
        let Ok(meta) = e.path().symlink_metadata() else {
            continue;
        };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age > older_than);
        if !old {
            continue;
        }
        let gone = if meta.is_dir() {
            std::fs::remove_dir_all(e.path())
        } else {
            std::fs::remove_file(e.path())
        };
        if gone.is_ok() {
            tracing::info!(path = %e.path().display(), "removed a stale temporary");
            removed += 1;
        }
    }
    removed
}

/// A file written under a temporary name and renamed over its target on
/// [`commit`](Self::commit); see the [module docs](self).
#[derive(Debug)]
pub struct AtomicFile {
    tmp: tempfile::NamedTempFile,
    target: PathBuf,
}

impl AtomicFile {
    /// Starts writing `path` (its folder must exist). The file is readable by others as
    /// files written by any tool are (mode 0644 before the umask), not private.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        Self::create_swept(path, true)
    }

    /// [`AtomicFile::create`], sweeping the folder or not: a writer of many files into one
    /// folder (a cache) sweeps it once itself rather than at every file.
    pub(crate) fn create_swept(path: impl AsRef<Path>, sweep: bool) -> Result<Self> {
        let target = path.as_ref().to_path_buf();
        let dir = parent_of(&target);
        if sweep {
            sweep_stale(&dir, STALE_AFTER);
        }
        let prefix = format!(".{}{MARK}", name_of(&target));
        let mut b = tempfile::Builder::new();
        b.prefix(&prefix).rand_bytes(8);
        #[cfg(unix)]
        b.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
        let tmp = b.tempfile_in(&dir).map_err(|e| Error::io(&target, e))?;
        Ok(AtomicFile { tmp, target })
    }

    /// The file being written (the temporary).
    pub fn file(&mut self) -> &mut File {
        self.tmp.as_file_mut()
    }

    /// Where the temporary is (to hand to a writer that takes a path).
    pub fn temp_path(&self) -> &Path {
        self.tmp.path()
    }

    /// The file this becomes.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes, syncs and renames the temporary over the target.
    pub fn commit(self) -> Result<()> {
        let AtomicFile { mut tmp, target } = self;
        tmp.as_file_mut()
            .flush()
            .and_then(|_| tmp.as_file().sync_all())
            .map_err(|e| Error::io(&target, e))?;
        tmp.persist(&target)
            .map_err(|e| Error::io(&target, e.error))?;
        Ok(())
    }

    /// Renames the temporary over the target without syncing it first: for caches, whose
    /// files carry a digest checked on every read, where a crash may lose a file but must
    /// never expose half of one under its name.
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    pub(crate) fn commit_unsynced(self) -> Result<()> {
        let AtomicFile { mut tmp, target } = self;
        tmp.as_file_mut()
            .flush()
            .map_err(|e| Error::io(&target, e))?;
        tmp.persist(&target)
            .map_err(|e| Error::io(&target, e.error))?;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file().write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.file().write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file().flush()
    }
}

/// Writes a file atomically: `write` fills a temporary beside `path`, which is then renamed
/// over it. A crash or an error never leaves a half-written file under `path`.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<()> {
    let mut f = AtomicFile::create(path)?;
    write(f.file()).map_err(|e| Error::io(path, e))?;
    f.commit()
}

/// Writes `bytes` to `path` atomically.
pub fn write_file(path: &Path, bytes: impl AsRef<[u8]>) -> Result<()> {
    write_atomic(path, |f| f.write_all(bytes.as_ref()))
}

/// A folder built under a temporary name beside its target, and renamed into place on
/// commit; see the [module docs](self). Dropped without a commit, the temporary folder is
/// removed.
#[derive(Debug)]
pub struct AtomicDir {
    tmp: Option<PathBuf>,
    target: PathBuf,
}

impl AtomicDir {
    /// Starts building `path` (its parent folders are created).
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let target = path.as_ref().to_path_buf();
        let parent = parent_of(&target);
        std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
        sweep_stale(&parent, STALE_AFTER);
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{}{MARK}", name_of(&target)))
            .rand_bytes(8)
            .tempdir_in(&parent)
            .map_err(|e| Error::io(&target, e))?
            .keep();
        Ok(AtomicDir {
            tmp: Some(tmp),
            target,
        })
    }

    /// The temporary folder to write into.
    pub fn path(&self) -> &Path {
        self.tmp.as_deref().unwrap_or(&self.target)
    }

    /// The folder this becomes.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Renames the folder into place, replacing whatever is at the target: the old folder is
    /// moved aside (to a temporary name), the new one renamed in, the old one removed. A
    /// reader sees the old folder or the new one, whole (between the two renames, none).
    pub fn commit(mut self) -> Result<()> {
        let Some(tmp) = self.tmp.take() else {
            return Ok(());
        };
        let target = self.target.clone();
        let aside = if target.exists() {
            let aside = parent_of(&target).join(format!(
                ".{}{MARK}old-{}",
                name_of(&target),
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&aside);
            if let Err(e) = std::fs::rename(&target, &aside) {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(Error::io(&target, e));
            }
            Some(aside)
        } else {
            None
        };
        if let Err(e) = std::fs::rename(&tmp, &target) {
            // Put the old folder back.
            if let Some(a) = &aside {
                let _ = std::fs::rename(a, &target);
            }
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(Error::io(&target, e));
        }
        if let Some(a) = aside {
            let _ = std::fs::remove_dir_all(a);
        }
        Ok(())
    }

    /// Renames the folder into place where nothing is, or an empty folder is; anything else
    /// at the target is an error and is left as it was.
    pub fn commit_new(mut self) -> Result<()> {
        let Some(tmp) = self.tmp.take() else {
            return Ok(());
        };
        let target = self.target.clone();
        let fail = |e: std::io::Error| {
            let _ = std::fs::remove_dir_all(&tmp);
            Err(Error::io(&target, e))
        };
        if target.exists() {
            let empty = std::fs::read_dir(&target).map(|mut d| d.next().is_none());
            match empty {
                Ok(true) => {
                    if let Err(e) = std::fs::remove_dir(&target) {
                        return fail(e);
                    }
                }
                Ok(false) => {
                    return fail(std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        "exists and is not empty",
                    ));
                }
                Err(e) => return fail(e),
            }
        }
        if let Err(e) = std::fs::rename(&tmp, &target) {
            return fail(e);
        }
        Ok(())
    }
}

impl Drop for AtomicDir {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let _ = std::fs::remove_dir_all(tmp);
        }
    }
}

/// Opens a file for reading as data, refusing anything that is not a regular file (a FIFO
/// would block the open until something writes to it; a device or a folder is not data).
pub fn open_regular(path: &Path) -> Result<File> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file (a folder, FIFO, socket or device)",
            ),
        ));
    }
    File::open(path).map_err(|e| Error::io(path, e))
}

/// Whether `p` lies inside `root`, symbolic links followed (both must exist).
pub fn is_within(root: &Path, p: &Path) -> bool {
    match (root.canonicalize(), p.canonicalize()) {
        (Ok(r), Ok(p)) => p.starts_with(r),
        _ => false,
    }
}

/// `rel`, a path a spec in folder `dir` names, joined to `dir` — refused (with the reason)
/// unless it stays inside `root` (which holds `dir`): it must be relative, and resolve,
/// symbolic links followed, inside `root`; a path that does not exist (yet) is judged by its
/// components (`..` may not climb above `root`). Unlike [`confined`], `..` inside `root` is
/// allowed: Kipoi's model groups share files one folder up.
pub fn within(root: &Path, dir: &Path, rel: &str) -> std::result::Result<PathBuf, &'static str> {
    let p = Path::new(rel);
    if rel.is_empty() || p.has_root() || p.is_absolute() {
        return Err("is absolute or empty");
    }
    let full = dir.join(p);
    let inside = if full.exists() {
        is_within(root, &full)
    } else {
        let mut depth = dir
            .strip_prefix(root)
            .map_or(0, |d| d.components().count() as i64);
        p.components().all(|c| {
            depth += match c {
                std::path::Component::ParentDir => -1,
                std::path::Component::Normal(_) => 1,
                _ => 0,
            };
            depth >= 0
        })
    };
    if inside {
        Ok(full)
    } else {
        Err("leads outside")
    }
}

/// `rel`, a path read from a data file, spec or manifest, joined to `root` — refused unless it
/// stays inside `root`: it must be relative, have no `..` components, and (when it exists)
/// resolve, symbolic links followed, to a path inside `root`'s own resolution.
pub fn confined(root: &Path, rel: &str) -> Result<PathBuf> {
    use std::path::Component;
    let refuse = |why: &str| {
        Error::Invalid(format!(
            "{}: `{rel}` {why}: paths in specs and manifests must stay inside their folder",
            root.display()
        ))
    };
    let p = Path::new(rel);
    if rel.is_empty() {
        return Err(refuse("is empty"));
    }
    for c in p.components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return Err(refuse("goes up (`..`)")),
            Component::RootDir | Component::Prefix(_) => return Err(refuse("is absolute")),
        }
    }
    let joined = root.join(p);
    if joined.exists() && !is_within(root, &joined) {
        return Err(refuse("leads outside through a symbolic link"));
    }
    Ok(joined)
}

/// Copies the files and folders inside `from` into the folder `to` (which exists), following
/// symbolic links (their targets are copied).
pub fn copy_contents(from: &Path, to: &Path) -> Result<()> {
    let entries = std::fs::read_dir(from).map_err(|e| Error::io(from, e))?;
    for e in entries {
        let e = e.map_err(|e| Error::io(from, e))?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            std::fs::create_dir(&dst).map_err(|e| Error::io(&dst, e))?;
            copy_contents(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).map_err(|e| Error::io(&src, e))?;
        }
    }
    Ok(())
}

/// Appends `suffix` to the file name of `path` (`a.fa` + `.fai` = `a.fa.fai`).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The folder caches go in: `$BIOBATCH_CACHE_DIR`, else `$XDG_CACHE_HOME/biobatch`, else
/// `~/.cache/biobatch`; `None` when none of these is set.
pub fn default_cache_dir() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("BIOBATCH_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("biobatch")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("biobatch")))
}

/// The folder of the bundled example files (`examples/` of the repository, holding
/// `data/peaks` and `zoo`), found at run time: `$BIOBATCH_EXAMPLES`, else `examples` in the
/// working directory or one of its parents, else an `examples` folder beside the executable or
/// above it (a binary in `target/release` of a checkout finds the checkout's). `None` when
/// none holds `data/peaks`.
pub fn examples_dir() -> Option<PathBuf> {
    if let Some(v) = std::env::var_os("BIOBATCH_EXAMPLES").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(v));
    }
    let holds = |d: &Path| d.join("data/peaks").is_dir() || d.join("zoo").is_dir();
    let search = |start: &Path| -> Option<PathBuf> {
        start
            .ancestors()
            .take(6)
            .map(|a| a.join("examples"))
            .find(|d| holds(d))
    };
    if let Some(d) = std::env::current_dir().ok().and_then(|d| search(&d)) {
        return Some(d);
    }
    let exe = std::env::current_exe().ok()?;
    search(exe.parent()?)
}

#[cfg(test)]
mod tests;
