//! The block cache: fixed-size blocks of remote objects in memory and on local disk.
//!
//! On disk a block is one file, `<root>/blocks/<object>/<index>`, holding the block's bytes
//! followed by a trailer: the length and the XXH3-64 digest of the bytes (little-endian
//! `u64`s) and a magic. A file that fails the check is removed and the block fetched again.
//! Files are written under a temporary name and renamed, not synced: a cache needs atomicity
//! (the digest catches what a crash leaves), not durability.
//!
//! The disk limit is kept per cache root and process: the first use scans the root, the least
//! recently used files (by modification time, which a read from disk refreshes) are removed
//! when a new block would pass the limit.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use bytes::Bytes;

const MAGIC: &[u8; 8] = b"BBBLOCK1";
const TRAILER: usize = 24;

/// Blocks of one object.
pub(super) struct Blocks {
    dir: PathBuf,
    disk: Arc<Mutex<Disk>>,
    memory: Mutex<Memory>,
    /// Block files checked (or written) by this process, with an open handle for the most
    /// recently read ones: a small read of such a block reads just its bytes.
    files: Mutex<Files>,
}

/// Checked block files and open handles (at most [`HANDLES`]).
#[derive(Default)]
struct Files {
    /// Block → its length.
    verified: HashMap<u64, usize>,
    open: HashMap<u64, (Arc<std::fs::File>, u64)>,
    tick: u64,
}

const HANDLES: usize = 64;

/// Decoded blocks in memory, least recently used out.
struct Memory {
    limit: u64,
    bytes: u64,
    tick: u64,
    map: HashMap<u64, (Bytes, u64)>,
}

impl Memory {
    fn get(&mut self, i: u64) -> Option<Bytes> {
        self.tick += 1;
        let tick = self.tick;
        self.map.get_mut(&i).map(|(b, t)| {
            *t = tick;
            b.clone()
        })
    }

    fn put(&mut self, i: u64, b: Bytes) {
        self.tick += 1;
        if let Some((old, _)) = self.map.insert(i, (b.clone(), self.tick)) {
            self.bytes -= old.len() as u64;
        }
        self.bytes += b.len() as u64;
        while self.bytes > self.limit && self.map.len() > 1 {
            let Some((&victim, _)) = self.map.iter().min_by_key(|(_, (_, t))| *t) else {
                break;
            };
            if let Some((old, _)) = self.map.remove(&victim) {
                self.bytes -= old.len() as u64;
            }
        }
    }
}

/// The files under one cache root, for the byte limit.
struct Disk {
    limit: u64,
    bytes: u64,
    tick: u64,
    /// File → (size, tick of last use).
    files: HashMap<PathBuf, (u64, u64)>,
    /// Tick → file, oldest first.
    order: BTreeMap<u64, PathBuf>,
}

impl Disk {
    fn scan(root: &Path, limit: u64) -> Disk {
        let mut found: Vec<(SystemTime, PathBuf, u64)> = Vec::new();
        if let Ok(objects) = std::fs::read_dir(root) {
            for o in objects.flatten() {
                let Ok(entries) = std::fs::read_dir(o.path()) else {
                    continue;
                };
                for e in entries.flatten() {
                    let Ok(m) = e.metadata() else { continue };
                    if m.is_file() && !crate::fs::is_temporary(&e.file_name().to_string_lossy()) {
                        let t = m.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                        found.push((t, e.path(), m.len()));
                    }
                }
            }
        }
        found.sort();
        let mut d = Disk {
            limit,
            bytes: 0,
            tick: 0,
            files: HashMap::new(),
            order: BTreeMap::new(),
        };
        for (_, p, len) in found {
            d.touch(p, len);
        }
        d
    }

    fn touch(&mut self, p: PathBuf, len: u64) {
        self.tick += 1;
        if let Some((old_len, old_tick)) = self.files.insert(p.clone(), (len, self.tick)) {
            self.order.remove(&old_tick);
            self.bytes -= old_len;
        }
        self.bytes += len;
        self.order.insert(self.tick, p);
    }

    fn forget(&mut self, p: &Path) {
        if let Some((len, tick)) = self.files.remove(p) {
            self.order.remove(&tick);
            self.bytes -= len;
        }
    }

    /// Removes the oldest files until `incoming` more bytes fit.
    fn make_room(&mut self, incoming: u64) {
        while self.bytes + incoming > self.limit {
            let Some((_, p)) = self.order.pop_first() else {
                break;
            };
            if let Some((len, _)) = self.files.remove(&p) {
                self.bytes -= len;
            }
            // Another process may have removed it already.
            let _ = std::fs::remove_file(&p);
        }
    }
}

fn disk_for(root: &Path, limit: u64) -> Arc<Mutex<Disk>> {
    static ROOTS: OnceLock<Mutex<HashMap<PathBuf, Arc<Mutex<Disk>>>>> = OnceLock::new();
    let mut roots = ROOTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let d = roots
        .entry(root.to_path_buf())
        .or_insert_with(|| Arc::new(Mutex::new(Disk::scan(root, limit))));
    d.lock().unwrap_or_else(|p| p.into_inner()).limit = limit;
    Arc::clone(d)
}

impl Blocks {
    /// The blocks of the object named `key` under `cache_dir/blocks`.
    pub(super) fn new(
        cache_dir: &Path,
        key: &str,
        disk_limit: u64,
        memory_limit: u64,
    ) -> std::io::Result<Blocks> {
        let root = cache_dir.join("blocks");
        let dir = root.join(key);
        std::fs::create_dir_all(&dir)?;
        crate::fs::sweep_stale(&dir, crate::fs::STALE_AFTER);
        Ok(Blocks {
            dir,
            disk: disk_for(&root, disk_limit),
            memory: Mutex::new(Memory {
                limit: memory_limit,
                bytes: 0,
                tick: 0,
                map: HashMap::new(),
            }),
            files: Mutex::new(Files::default()),
        })
    }

    /// Copies `buf.len()` bytes at `at` of block `i` into `buf`, when the block is here:
    /// from memory; from its file with one positioned read when this process has checked the
    /// file already (reading a few bytes of a block costs no more than reading them from a
    /// file); else by loading and checking the whole block ([`Blocks::get`]).
    pub(super) fn read(&self, i: u64, at: usize, buf: &mut [u8]) -> bool {
        if let Some(b) = self.memory.lock().unwrap_or_else(|p| p.into_inner()).get(i) {
            return copy_from(&b, at, buf);
        }
        if let Some((f, len)) = self.handle(i) {
            // Never past the block's bytes (its trailer follows them in the file).
            if at + buf.len() > len {
                return false;
            }
            if read_exact_at(&f, buf, at as u64).is_ok() {
                return true;
            }
            self.files
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .open
                .remove(&i);
        }
        match self.get(i) {
            Some(b) => copy_from(&b, at, buf),
            None => false,
        }
    }

    /// An open handle on block `i`'s file and the block's length, when this process has
    /// checked the file.
    fn handle(&self, i: u64) -> Option<(Arc<std::fs::File>, usize)> {
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        let len = *files.verified.get(&i)?;
        files.tick += 1;
        let tick = files.tick;
        if let Some((f, t)) = files.open.get_mut(&i) {
            *t = tick;
            return Some((Arc::clone(f), len));
        }
        let Ok(f) = std::fs::File::open(self.file(i)) else {
            // Evicted (by this process or another): fetched again.
            files.verified.remove(&i);
            return None;
        };
        if files.open.len() >= HANDLES
            && let Some((&old, _)) = files.open.iter().min_by_key(|(_, (_, t))| *t)
        {
            files.open.remove(&old);
        }
        let f = Arc::new(f);
        files.open.insert(i, (Arc::clone(&f), tick));
        Some((f, len))
    }

    fn verified(&self, i: u64, len: usize) {
        self.files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .verified
            .insert(i, len);
    }

    fn file(&self, i: u64) -> PathBuf {
        self.dir.join(format!("{i:08}"))
    }

    /// Whether block `i` is in memory or on disk, without reading it (a damaged file is
    /// found, and the block fetched again, when it is read).
    pub(super) fn has(&self, i: u64) -> bool {
        self.memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map
            .contains_key(&i)
            || self.file(i).exists()
    }

    /// Block `i` from memory or disk, when it is there and whole.
    pub(super) fn get(&self, i: u64) -> Option<Bytes> {
        if let Some(b) = self.memory.lock().unwrap_or_else(|p| p.into_inner()).get(i) {
            return Some(b);
        }
        let path = self.file(i);
        let raw = match std::fs::read(&path) {
            Ok(raw) => raw,
            Err(_) => return None,
        };
        let Some(block) = check(&raw) else {
            tracing::warn!(file = %path.display(), "damaged cache block removed; it will be fetched again");
            let _ = std::fs::remove_file(&path);
            self.disk
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .forget(&path);
            return None;
        };
        let block = Bytes::from(raw).slice(..block);
        self.verified(i, block.len());
        // Recently used, for this process's account and the next one's scan.
        if let Ok(f) = std::fs::File::options().append(true).open(&path) {
            let _ = f.set_modified(SystemTime::now());
        }
        self.disk
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .touch(path, (block.len() + TRAILER) as u64);
        self.memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put(i, block.clone());
        Some(block)
    }

    /// Keeps block `i` in memory and, when it can be written, on disk. A failed write (a full
    /// disk, say) only costs a later fetch.
    pub(super) fn put(&self, i: u64, block: Bytes) {
        let path = self.file(i);
        let len = (block.len() + TRAILER) as u64;
        self.disk
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .make_room(len);
        match write(&path, &block) {
            Ok(()) => {
                self.disk
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .touch(path, len);
                self.verified(i, block.len());
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "could not write a cache block")
            }
        }
        self.memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put(i, block);
    }
}

/// A positioned read of `buf.len()` bytes at `off`.
fn read_exact_at(f: &std::fs::File, buf: &mut [u8], off: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        f.read_exact_at(buf, off)
    }
    #[cfg(not(unix))]
    {
        use std::io::{Read, Seek};
        let mut f = f;
        f.seek(std::io::SeekFrom::Start(off))?;
        f.read_exact(buf)
    }
}

/// Copies `buf.len()` bytes at `at` of `block`; false when the block is shorter.
fn copy_from(block: &[u8], at: usize, buf: &mut [u8]) -> bool {
    match block.get(at..at + buf.len()) {
        Some(src) => {
            buf.copy_from_slice(src);
            true
        }
        None => false,
    }
}

/// The length of the block in `raw` when its trailer checks out.
fn check(raw: &[u8]) -> Option<usize> {
    let n = raw.len().checked_sub(TRAILER)?;
    let (data, trailer) = raw.split_at(n);
    let len = u64::from_le_bytes(trailer[..8].try_into().ok()?);
    let digest = u64::from_le_bytes(trailer[8..16].try_into().ok()?);
    (&trailer[16..] == MAGIC && len == n as u64 && digest == xxhash_rust::xxh3::xxh3_64(data))
        .then_some(n)
}

fn write(path: &Path, block: &[u8]) -> crate::Result<()> {
    let mut f = crate::fs::AtomicFile::create_swept(path, false)?;
    f.write_all(block)
        .and_then(|_| f.write_all(&(block.len() as u64).to_le_bytes()))
        .and_then(|_| f.write_all(&xxhash_rust::xxh3::xxh3_64(block).to_le_bytes()))
        .and_then(|_| f.write_all(MAGIC))
        .map_err(|e| crate::Error::io(path, e))?;
    f.commit_unsynced()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_trip_and_damage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let b = Blocks::new(dir.path(), "obj", 1 << 30, 1 << 20).unwrap();
        assert!(b.get(3).is_none());
        b.put(3, Bytes::from_static(b"hello block"));
        assert_eq!(b.get(3).unwrap(), Bytes::from_static(b"hello block"));
        // A fresh view (another process) reads it from disk and checks it.
        let again = Blocks::new(dir.path(), "obj", 1 << 30, 1 << 20).unwrap();
        assert_eq!(again.get(3).unwrap(), Bytes::from_static(b"hello block"));
        // One flipped byte: refused, removed, fetched again by the caller.
        let f = dir.path().join("blocks/obj/00000003");
        let mut raw = std::fs::read(&f).unwrap();
        raw[1] ^= 1;
        std::fs::write(&f, raw).unwrap();
        let third = Blocks::new(dir.path(), "obj", 1 << 30, 1 << 20).unwrap();
        assert!(third.get(3).is_none());
        assert!(!f.exists());
        // Truncated: refused too.
        third.put(4, Bytes::from(vec![7u8; 100]));
        let f4 = dir.path().join("blocks/obj/00000004");
        let raw = std::fs::read(&f4).unwrap();
        std::fs::write(&f4, &raw[..raw.len() - 1]).unwrap();
        let fourth = Blocks::new(dir.path(), "obj", 1 << 30, 1 << 20).unwrap();
        assert!(fourth.get(4).is_none());
    }

    #[test]
    fn parts_of_blocks_are_read_from_memory_or_their_checked_file() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..5000u32).map(|x| (x * 7) as u8).collect();
        Blocks::new(dir.path(), "p", 1 << 30, 1 << 20)
            .unwrap()
            .put(2, Bytes::from(data.clone()));
        // Another process: the first read checks the whole file, the next ones read parts.
        let b = Blocks::new(dir.path(), "p", 1 << 30, 1).unwrap();
        let mut buf = [0u8; 7];
        assert!(b.read(2, 100, &mut buf));
        assert_eq!(buf, data[100..107]);
        // The memory limit (1 byte) kept nothing: this read goes to the checked file.
        b.memory.lock().unwrap().map.clear();
        assert!(b.read(2, 4990, &mut buf));
        assert_eq!(buf, data[4990..4997]);
        assert!(!b.read(2, 4998, &mut buf), "past the block's end");
        assert!(!b.read(3, 0, &mut buf), "a block that is not there");
    }

    #[test]
    fn the_disk_limit_removes_the_least_recently_used() {
        let dir = tempfile::tempdir().unwrap();
        // Room for two blocks of 1000 bytes (plus trailers), not three.
        let limit = 2 * (1000 + TRAILER as u64) + 10;
        let b = Blocks::new(dir.path(), "lru", limit, 1 << 20).unwrap();
        b.put(0, Bytes::from(vec![0u8; 1000]));
        b.put(1, Bytes::from(vec![1u8; 1000]));
        b.put(2, Bytes::from(vec![2u8; 1000]));
        let on_disk = |i: u64| dir.path().join(format!("blocks/lru/{i:08}")).exists();
        assert!(!on_disk(0) && on_disk(1) && on_disk(2));
    }

    #[test]
    fn the_memory_limit_keeps_the_recent_blocks() {
        let mut m = Memory {
            limit: 2500,
            bytes: 0,
            tick: 0,
            map: HashMap::new(),
        };
        m.put(0, Bytes::from(vec![0u8; 1000]));
        m.put(1, Bytes::from(vec![0u8; 1000]));
        assert!(m.get(0).is_some());
        m.put(2, Bytes::from(vec![0u8; 1000]));
        assert!(m.get(1).is_none() && m.get(0).is_some() && m.get(2).is_some());
        assert_eq!(m.bytes, 2000);
    }
}
