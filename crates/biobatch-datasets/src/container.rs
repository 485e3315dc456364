//! Cache files: named, checksummed sections behind a JSON header, written atomically
//! (temporary file, then rename) and read in place through a memory map.
//!
//! Layout (all integers little-endian; documented in `docs/cache.md`):
//!
//! | bytes | content |
//! |---|---|
//! | 0..8 | magic `BBCACHE\0` |
//! | 8..12 | `u32` format version ([`FORMAT_VERSION`]) |
//! | 12..16 | `u32` header length `H` |
//! | 16..24 | `u64` xxh3-64 of the header bytes |
//! | 24..24+H | header: JSON `{kind, key, endian, meta, sections: [{name, offset, len, checksum}]}` |
//! | D.. | sections; `D` = `24 + H` rounded up to 64; each section's `offset` is relative to `D` and a multiple of 64 |
//!
//! A section's checksum is the xxh3-64 of the little-endian xxh3-64s of its 8 MiB chunks, so
//! verification runs on every core. A file is trusted only when magic, version, header
//! checksum, kind, key, endianness, every section's bounds and every section's checksum
//! agree; anything else is reported as stale or corrupt and the caller rebuilds.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytemuck::Pod;
use memmap2::{Mmap, MmapOptions};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::{Error, Result};
use biobatch_formats::column::Column;

/// Version of the container layout above (not of what a dataset keeps in it).
pub(crate) const FORMAT_VERSION: u32 = 1;
const MAGIC: &[u8; 8] = b"BBCACHE\0";
const PREAMBLE: usize = 24;
const ALIGN: usize = 64;
const CHUNK: usize = 8 << 20;

/// One section to write.
pub(crate) struct Section<'a> {
    pub name: String,
    pub bytes: &'a [u8],
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    kind: String,
    key: String,
    endian: String,
    meta: serde_json::Value,
    sections: Vec<Entry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    name: String,
    offset: u64,
    len: u64,
    checksum: u64,
}

fn endian() -> &'static str {
    if cfg!(target_endian = "little") {
        "little"
    } else {
        "big"
    }
}

fn align(x: usize) -> usize {
    x.div_ceil(ALIGN) * ALIGN
}

/// Checksums of `parts`, chunked so every core hashes at once.
fn checksums(parts: &[&[u8]]) -> Vec<u64> {
    let chunks: Vec<(usize, &[u8])> = parts
        .iter()
        .enumerate()
        .flat_map(|(i, p)| p.chunks(CHUNK).map(move |c| (i, c)))
        .collect();
    let hashes: Vec<std::sync::atomic::AtomicU64> = (0..chunks.len())
        .map(|_| std::sync::atomic::AtomicU64::new(0))
        .collect();
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(chunks.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some((_, c)) = chunks.get(k) else { break };
                    hashes[k].store(xxh3_64(c), Ordering::Relaxed);
                }
            });
        }
    });
    let mut per: Vec<Vec<u8>> = vec![Vec::new(); parts.len()];
    for ((i, _), h) in chunks.iter().zip(&hashes) {
        per[*i].extend_from_slice(&h.load(Ordering::Relaxed).to_le_bytes());
    }
    per.iter().map(|b| xxh3_64(b)).collect()
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

/// Writes a cache file at `path` atomically: a temporary file in the same directory, renamed
/// over `path` when complete (readers of the old file keep their mapping).
pub(crate) fn write(
    path: &Path,
    kind: &str,
    key: u128,
    meta: serde_json::Value,
    sections: &[Section<'_>],
) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    let sums = checksums(&sections.iter().map(|s| s.bytes).collect::<Vec<_>>());
    let mut entries = Vec::with_capacity(sections.len());
    let mut offset = 0usize;
    for (s, &checksum) in sections.iter().zip(&sums) {
        entries.push(Entry {
            name: s.name.clone(),
            offset: offset as u64,
            len: s.bytes.len() as u64,
            checksum,
        });
        offset = align(offset + s.bytes.len());
    }
    let header = serde_json::to_vec(&Header {
        kind: kind.to_string(),
        key: format!("{key:032x}"),
        endian: endian().to_string(),
        meta,
        sections: entries,
    })
    .map_err(|source| Error::Encode {
        what: "a cache header",
        source,
    })?;
    // Temporaries of killed writers are swept by `AtomicFile` when it starts.
    let mut tmp = biobatch_formats::fs::AtomicFile::create(path)?;
    {
        let temp_path = tmp.temp_path().to_path_buf();
        let mut w = BufWriter::with_capacity(1 << 20, tmp.file());
        let zeros = [0u8; ALIGN];
        let mut put = |b: &[u8]| w.write_all(b).map_err(|e| io_error(&temp_path, e));
        put(MAGIC)?;
        put(&FORMAT_VERSION.to_le_bytes())?;
        put(&(header.len() as u32).to_le_bytes())?;
        put(&xxh3_64(&header).to_le_bytes())?;
        put(&header)?;
        let data = align(PREAMBLE + header.len());
        put(&zeros[..data - PREAMBLE - header.len()])?;
        for s in sections {
            put(s.bytes)?;
            put(&zeros[..align(s.bytes.len()) - s.bytes.len()])?;
        }
        w.flush().map_err(|e| io_error(&temp_path, e))?;
    }
    tmp.commit()?;
    Ok(())
}

/// Takes the build lock of the cache file `path` (an advisory lock on `path.lock`), waiting
/// for another process that holds it; `None` when the lock file cannot be created.
pub(crate) fn lock(path: &Path) -> Option<std::fs::File> {
    let lock_path = biobatch_formats::fs::with_suffix(path, ".lock");
    // Opening a FIFO for writing would block: only a regular lock file (or none yet) is used.
    if std::fs::symlink_metadata(&lock_path).is_ok_and(|m| !m.is_file()) {
        return None;
    }
    if let Some(dir) = lock_path.parent() {
        std::fs::create_dir_all(dir).ok()?;
    }
    let f = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .ok()?;
    f.lock().ok()?;
    Some(f)
}

/// What a lookup found.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// A valid file for this key.
    Hit(CacheFile),
    /// No file.
    Missing,
    /// A valid file for other inputs (an input changed since it was written).
    Stale,
    /// A damaged file, and why.
    Corrupt(String),
    /// A file that cannot be opened or mapped (permissions, not a directory, …): not to be
    /// overwritten.
    Unreadable(String),
}

/// An open, verified cache file.
#[derive(Debug)]
pub(crate) struct CacheFile {
    path: PathBuf,
    map: Arc<Mmap>,
    meta: serde_json::Value,
    sections: HashMap<String, (usize, usize)>,
}

/// Opens and fully verifies the cache file at `path` for `kind` and `key`.
pub(crate) fn open(path: &Path, kind: &str, key: u128) -> Lookup {
    // Anything but a regular file (a FIFO would block the open; a folder is not ours) is a
    // damaged cache entry: rebuilt, and renamed over it.
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Lookup::Missing,
        Ok(m) if m.is_dir() => return Lookup::Unreadable("a folder, not a cache file".into()),
        Ok(m) if !m.is_file() => return Lookup::Corrupt("not a regular file".into()),
        _ => {}
    }
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Lookup::Missing,
        Err(e) => return Lookup::Unreadable(format!("cannot open: {e}")),
    };
    // SAFETY: cache files are only ever replaced by rename, never written in place, so the
    // mapped bytes do not change under us (an outside writer is caught by the checksums
    // below only if it wrote before this point; the cache directory is ours alone).
    let map = match unsafe { MmapOptions::new().populate().map(&file) } {
        Ok(m) => Arc::new(m),
        Err(e) => return Lookup::Unreadable(format!("cannot map: {e}")),
    };
    match verify(&map, kind, key) {
        Ok(Some((meta, sections))) => Lookup::Hit(CacheFile {
            path: path.to_path_buf(),
            map,
            meta,
            sections,
        }),
        Ok(None) => Lookup::Stale,
        Err(why) => Lookup::Corrupt(why),
    }
}

type Verified = (serde_json::Value, HashMap<String, (usize, usize)>);

fn verify(map: &[u8], kind: &str, key: u128) -> std::result::Result<Option<Verified>, String> {
    let word =
        |at: usize| -> u32 { u32::from_le_bytes([map[at], map[at + 1], map[at + 2], map[at + 3]]) };
    if map.len() < PREAMBLE || &map[..8] != MAGIC {
        return Err("not a biobatch cache file (bad magic)".into());
    }
    let version = word(8);
    if version != FORMAT_VERSION {
        return Err(format!(
            "cache format version {version}, this build reads {FORMAT_VERSION}"
        ));
    }
    let h = word(12) as usize;
    if PREAMBLE.checked_add(h).is_none_or(|end| end > map.len()) {
        return Err("truncated header".into());
    }
    let mut sum = [0u8; 8];
    sum.copy_from_slice(&map[16..24]);
    let header = map.get(PREAMBLE..PREAMBLE + h).ok_or("truncated header")?;
    if xxh3_64(header) != u64::from_le_bytes(sum) {
        return Err("header checksum mismatch".into());
    }
    let header: Header =
        serde_json::from_slice(header).map_err(|e| format!("unreadable header: {e}"))?;
    if header.kind != kind || header.endian != endian() {
        return Err(format!(
            "a {} cache ({}-endian), expected {kind} ({})",
            header.kind,
            header.endian,
            endian()
        ));
    }
    if header.key != format!("{key:032x}") {
        return Ok(None);
    }
    let data = align(PREAMBLE + h);
    // Padding must be zero and the file must end where the last section does, so that
    // every byte of the file is checked by something.
    let zero =
        |from: usize, to: usize| map.get(from..to).is_some_and(|p| p.iter().all(|&b| b == 0));
    if data > map.len() {
        return Err("truncated after the header".into());
    }
    if !zero(PREAMBLE + h, data) {
        return Err("damaged header padding".into());
    }
    let mut sections = HashMap::new();
    let mut parts = Vec::new();
    let mut end_of_data = data;
    for e in &header.sections {
        let (Some(off), len) = (data.checked_add(e.offset as usize), e.len as usize) else {
            return Err(format!("section `{}` is misplaced", e.name));
        };
        if !(e.offset as usize).is_multiple_of(ALIGN) || off != end_of_data {
            return Err(format!("section `{}` is misplaced", e.name));
        }
        let bytes = off
            .checked_add(len)
            .and_then(|end| map.get(off..end))
            .ok_or_else(|| format!("section `{}` is truncated", e.name))?;
        end_of_data = data + align(off - data + len);
        if !zero(off + len, end_of_data) {
            return Err(format!(
                "section `{}` is truncated or its padding damaged",
                e.name
            ));
        }
        parts.push(bytes);
        sections.insert(e.name.clone(), (off, len));
    }
    if map.len() != end_of_data {
        return Err(format!(
            "the file is {} bytes, its sections end at {end_of_data}",
            map.len()
        ));
    }
    for (e, got) in header.sections.iter().zip(checksums(&parts)) {
        if got != e.checksum {
            return Err(format!("section `{}` checksum mismatch", e.name));
        }
    }
    Ok(Some((header.meta, sections)))
}

impl CacheFile {
    /// The dataset's own description, as written.
    pub(crate) fn meta(&self) -> &serde_json::Value {
        &self.meta
    }

    /// Section `name` as a column of `T`, read in place.
    pub(crate) fn column<T: Pod>(&self, name: &str) -> Result<Column<T>> {
        let bad = |why: &str| Error::Cache {
            path: self.path.clone(),
            message: format!("section `{name}` {why}"),
        };
        let &(off, len) = self.sections.get(name).ok_or_else(|| bad("is missing"))?;
        Column::mapped(self.map.clone(), off, len).ok_or_else(|| bad("has the wrong size"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(dir: &Path) -> PathBuf {
        let p = dir.join("x.bbcache");
        let a: Vec<u16> = (0..1000).collect();
        let b: Vec<f32> = (0..(3 << 20)).map(|x| x as f32).collect();
        write(
            &p,
            "test",
            42,
            serde_json::json!({"n": 1000}),
            &[
                Section {
                    name: "a".into(),
                    bytes: bytemuck::cast_slice(&a),
                },
                Section {
                    name: "b".into(),
                    bytes: bytemuck::cast_slice(&b),
                },
            ],
        )
        .unwrap();
        p
    }

    #[test]
    fn round_trip_reads_sections_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let p = sample(dir.path());
        let Lookup::Hit(f) = open(&p, "test", 42) else {
            panic!("expected a hit")
        };
        assert_eq!(f.meta()["n"], 1000);
        let a = f.column::<u16>("a").unwrap();
        assert!(a.is_mapped());
        assert_eq!(a[999], 999);
        assert_eq!(
            f.column::<f32>("b").unwrap()[(3 << 20) - 1],
            ((3 << 20) - 1) as f32
        );
        assert!(f.column::<u16>("c").is_err());
        // Only the renamed file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn every_single_byte_flip_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("small.bbcache");
        let a: Vec<u32> = (0..37).collect();
        let b = b"ACGTN".repeat(9);
        let sections = [
            Section {
                name: "a".into(),
                bytes: bytemuck::cast_slice(&a),
            },
            Section {
                name: "b".into(),
                bytes: &b,
            },
        ];
        write(&p, "test", 7, serde_json::json!([1, 2]), &sections).unwrap();
        let good = std::fs::read(&p).unwrap();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x04;
            std::fs::write(&p, &bad).unwrap();
            assert!(
                !matches!(open(&p, "test", 7), Lookup::Hit(_)),
                "a flip at byte {i} of {} went unnoticed",
                good.len()
            );
        }
        std::fs::write(&p, [&good[..], &[0u8]].concat()).unwrap();
        assert!(
            matches!(open(&p, "test", 7), Lookup::Corrupt(_)),
            "a byte appended"
        );
        std::fs::write(&p, &good).unwrap();
        assert!(matches!(open(&p, "test", 7), Lookup::Hit(_)));
    }

    #[test]
    fn other_keys_are_stale_and_damage_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let p = sample(dir.path());
        assert!(matches!(open(&p, "test", 43), Lookup::Stale));
        assert!(matches!(open(&p, "other", 42), Lookup::Corrupt(_)));
        assert!(matches!(
            open(&dir.path().join("none"), "test", 42),
            Lookup::Missing
        ));
        // Flip one byte deep inside section b, then truncate: both are caught.
        let mut bytes = std::fs::read(&p).unwrap();
        let n = bytes.len();
        bytes[n - 5_000_000] ^= 1;
        std::fs::write(&p, &bytes).unwrap();
        match open(&p, "test", 42) {
            Lookup::Corrupt(why) => assert!(why.contains("`b` checksum"), "{why}"),
            other => panic!("{other:?}"),
        }
        std::fs::write(&p, &bytes[..n - 100]).unwrap();
        match open(&p, "test", 42) {
            Lookup::Corrupt(why) => assert!(why.contains("truncated"), "{why}"),
            other => panic!("{other:?}"),
        }
        std::fs::write(&p, &bytes[..10]).unwrap();
        assert!(matches!(open(&p, "test", 42), Lookup::Corrupt(_)));
    }
}
