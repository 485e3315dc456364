//! What opening a store checks of each file: presence, size, and whole or sampled xxh3
//! checksums.

use std::io::Read;
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::Xxh3;

use super::{CHUNK, FileEntry, SAMPLED_CHUNKS, Verify, invalid, io};
use crate::{Error, Result};

fn checksum_file(path: &Path) -> Result<String> {
    let mut f = crate::fs::open_regular(path)?;
    let mut h = Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:016x}", h.digest()))
}

/// Checks the chunks of `e` numbered `which` against the manifest.
fn check_chunks(path: &Path, e: &FileEntry, which: &[u64]) -> Result<()> {
    let mut f = crate::fs::open_regular(path)?;
    check_chunks_with(path, e, which, &mut |off, buf| {
        use std::io::Seek;
        f.seek(std::io::SeekFrom::Start(off))
            .and_then(|_| f.read_exact(buf))
            .map_err(|err| io(path, err))
    })
}

/// [`check_chunks`] reading through `read(offset, buffer)` (a local file or a remote object).
pub(super) fn check_chunks_with(
    path: &Path,
    e: &FileEntry,
    which: &[u64],
    read: &mut dyn FnMut(u64, &mut [u8]) -> Result<()>,
) -> Result<()> {
    let mut buf = Vec::new();
    for &k in which {
        let Some(want) = e.chunks.get(k as usize) else {
            continue;
        };
        let (off, len) = (k * CHUNK, CHUNK.min(e.bytes.saturating_sub(k * CHUNK)));
        buf.resize(len as usize, 0);
        read(off, &mut buf)?;
        let got = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&buf));
        if &got != want {
            return Err(Error::corrupt(
                path,
                off,
                format!(
                    "chunk {k} (bytes {off}..{}) has checksum {got}, the manifest says {want} \
                     (the file is damaged)",
                    off + len
                ),
            ));
        }
    }
    Ok(())
}

/// Up to [`SAMPLED_CHUNKS`] distinct chunk numbers below `n`, drawn afresh at each call (so
/// repeated opens cover a file).
pub(super) fn sample_chunks(n: u64) -> Vec<u64> {
    if n <= SAMPLED_CHUNKS {
        return (0..n).collect();
    }
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ std::process::id() as u64;
    let mut x = seed | 1;
    let mut out = Vec::new();
    while (out.len() as u64) < SAMPLED_CHUNKS {
        // xorshift64*: enough to spread samples; nothing depends on them being reproducible.
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let k = x.wrapping_mul(0x2545_F491_4F6C_DD1D) % n;
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out
}

pub(super) fn check_file(dir: &Path, e: &FileEntry, verify: Verify) -> Result<PathBuf> {
    let path = crate::fs::confined(dir, &e.file)?;
    let meta = std::fs::metadata(&path).map_err(|err| io(&path, err))?;
    if meta.len() != e.bytes {
        return Err(Error::corrupt(
            &path,
            meta.len(),
            format!(
                "the file has {} bytes, the manifest says {} (truncated or replaced)",
                meta.len(),
                e.bytes
            ),
        ));
    }
    let n_chunks = e.bytes.div_ceil(CHUNK);
    if verify == Verify::Fast && !e.chunks.is_empty() {
        if e.chunks.len() as u64 != n_chunks {
            return Err(invalid(
                &path,
                format!(
                    "the manifest lists {} chunk checksums for {n_chunks} chunks",
                    e.chunks.len()
                ),
            ));
        }
        check_chunks(&path, e, &sample_chunks(n_chunks))?;
    }
    // Without chunk checksums (an older store), a small file is checked whole.
    let small = e.bytes <= SAMPLED_CHUNKS * CHUNK;
    if verify == Verify::Full || (e.chunks.is_empty() && small) {
        let got = checksum_file(&path)?;
        if got != e.checksum {
            return Err(invalid(
                &path,
                format!(
                    "checksum {got} differs from the manifest's {} (the file is damaged)",
                    e.checksum
                ),
            ));
        }
    }
    Ok(path)
}
