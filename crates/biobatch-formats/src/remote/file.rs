//! [`RemoteFile`]: a remote object read by byte ranges through the block cache.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt};

use super::blocks::Blocks;
use super::{RemoteOptions, store};
use crate::{Error, Result};

/// What identifies one version of a remote object: its size, ETag and modification time, as
/// the server gave them at open. Caches built from the object record it, so a changed object
/// is read again.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    /// Bytes.
    pub size: u64,
    /// The ETag, when the server sends one.
    pub etag: Option<String>,
    /// The modification time (RFC 3339).
    pub last_modified: String,
}

/// A remote object (S3, GCS, Azure, HTTP(S)) read by byte ranges, with a local block cache
/// (see the [module docs](super)). Cheap to clone; share it between threads.
///
/// ```no_run
/// use biobatch_formats::remote::RemoteFile;
///
/// let f = RemoteFile::open("s3://my-bucket/signal.bw")?;
/// let mut header = [0u8; 64];
/// f.read_at(0, &mut header)?;
/// # Ok::<(), biobatch_formats::Error>(())
/// ```
#[derive(Clone)]
pub struct RemoteFile {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    store: Arc<dyn ObjectStore>,
    path: object_store::path::Path,
    identity: Identity,
    opts: RemoteOptions,
    blocks: Blocks,
    requests: AtomicU64,
    bytes_fetched: AtomicU64,
    /// Blocks being fetched by some thread: another thread that needs one waits for that
    /// fetch instead of asking the server again.
    inflight: Mutex<HashMap<u64, Arc<Flight>>>,
}

/// One block's fetch in progress; `done` turns true when it ends, however it ends.
#[derive(Default)]
struct Flight {
    done: Mutex<bool>,
    ended: Condvar,
}

/// Ends the flights of the blocks a thread fetches when dropped (on success, error or panic),
/// so waiters never hang on a fetch that failed.
struct Landing<'a> {
    inflight: &'a Mutex<HashMap<u64, Arc<Flight>>>,
    mine: Vec<(u64, Arc<Flight>)>,
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        for (i, f) in &self.mine {
            map.remove(i);
            *f.done.lock().unwrap_or_else(|p| p.into_inner()) = true;
            f.ended.notify_all();
        }
    }
}

impl std::fmt::Debug for RemoteFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteFile")
            .field("url", &self.inner.url)
            .field("identity", &self.inner.identity)
            .finish()
    }
}

/// Our error for a failed store call on `url`.
fn failed(url: &str, range: Option<&Range<u64>>, e: object_store::Error) -> Error {
    let what = match &e {
        object_store::Error::NotFound { .. } => "no such object (not found)".to_string(),
        object_store::Error::Precondition { .. } => {
            "the object changed on the server since it was opened (its ETag differs); open it \
             again to read the new version"
                .to_string()
        }
        other => other.to_string(),
    };
    Error::Remote {
        url: url.to_string(),
        range: range.map(|r| (r.start, r.end)),
        what,
    }
}

impl RemoteFile {
    /// Opens `url` with the process's options ([`super::configure`]): one `HEAD` request.
    pub fn open(url: &str) -> Result<Self> {
        Self::open_with(url, &super::options())
    }

    /// Opens `url` with explicit options.
    pub fn open_with(url: &str, opts: &RemoteOptions) -> Result<Self> {
        opts.validate()?;
        let (store, path) = store::store_for(url, opts)?;
        let rt = store::runtime(url)?;
        let meta = rt
            .block_on(store.head(&path))
            .map_err(|e| failed(url, None, e))?;
        let identity = Identity {
            size: meta.size,
            etag: meta.e_tag.clone(),
            last_modified: meta.last_modified.to_rfc3339(),
        };
        let key = {
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            for part in [
                url,
                &identity.size.to_string(),
                identity.etag.as_deref().unwrap_or(""),
                &identity.last_modified,
                &opts.block_size.to_string(),
            ] {
                h.update(part.as_bytes());
                h.update(&[0]);
            }
            format!("{:032x}", h.digest128())
        };
        let blocks = Blocks::new(&opts.cache_dir, &key, opts.cache_limit, opts.memory_limit)
            .map_err(|e| Error::io(opts.cache_dir.join("blocks"), e))?;
        tracing::debug!(url, size = identity.size, etag = ?identity.etag, "opened remote object");
        Ok(RemoteFile {
            inner: Arc::new(Inner {
                url: url.to_string(),
                store,
                path,
                identity,
                opts: opts.clone(),
                blocks,
                requests: AtomicU64::new(0),
                bytes_fetched: AtomicU64::new(0),
                inflight: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The object's size in bytes.
    pub fn len(&self) -> u64 {
        self.inner.identity.size
    }

    /// Whether the object is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The options it was opened with (for the files that go with it: an index beside it).
    pub fn options(&self) -> &RemoteOptions {
        &self.inner.opts
    }

    /// The version of the object this handle reads.
    pub fn identity(&self) -> &Identity {
        &self.inner.identity
    }

    /// Data requests (ranged `GET`s, retries not counted) this handle has made.
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// Bytes this handle has fetched from the store.
    pub fn bytes_fetched(&self) -> u64 {
        self.inner.bytes_fetched.load(Ordering::Relaxed)
    }

    fn check_range(&self, r: &Range<u64>) -> Result<()> {
        if r.start > r.end || r.end > self.len() {
            return Err(Error::Remote {
                url: self.inner.url.clone(),
                range: Some((r.start, r.end)),
                what: format!("read past the end of the object ({} bytes)", self.len()),
            });
        }
        Ok(())
    }

    /// Reads bytes `[off, off + buf.len())` into `buf`: each block's part from memory or
    /// the local cache when it is there, the missing blocks fetched together.
    pub fn read_at(&self, off: u64, buf: &mut [u8]) -> Result<()> {
        let r = off..off.saturating_add(buf.len() as u64);
        self.check_range(&r)?;
        if buf.is_empty() {
            return Ok(());
        }
        let bs = self.inner.opts.block_size;
        // (block, offset in the block, offset in `buf`, length) of each block's part.
        let mut parts = Vec::new();
        let mut pos = r.start;
        while pos < r.end {
            let i = pos / bs;
            let n = ((i + 1) * bs).min(r.end) - pos;
            parts.push((
                i,
                (pos - i * bs) as usize,
                (pos - r.start) as usize,
                n as usize,
            ));
            pos += n;
        }
        let mut missing = Vec::new();
        for &(i, at, o, n) in &parts {
            if !self.inner.blocks.read(i, at, &mut buf[o..o + n]) {
                missing.push(i);
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let got = self.fetch(&missing)?;
        for &(i, at, o, n) in &parts {
            if let Ok(k) = got.binary_search_by_key(&i, |(b, _)| *b) {
                let b = &got[k].1;
                let src = b.get(at..at + n).ok_or_else(|| Error::Remote {
                    url: self.inner.url.clone(),
                    range: Some((r.start, r.end)),
                    what: format!("block {i} is shorter than the object's size says"),
                })?;
                buf[o..o + n].copy_from_slice(src);
            }
        }
        Ok(())
    }

    /// Bytes `[range.start, range.end)` in a new buffer.
    pub fn read_range(&self, range: Range<u64>) -> Result<Vec<u8>> {
        self.check_range(&range)?;
        let mut v = vec![0u8; (range.end - range.start) as usize];
        self.read_at(range.start, &mut v)?;
        Ok(v)
    }

    /// The whole object.
    pub fn read_all(&self) -> Result<Vec<u8>> {
        self.read_range(0..self.len())
    }

    /// Brings every block the ranges touch into the cache with as few requests as it can
    /// (missing blocks fetched as coalesced runs, several at once), so that the reads that
    /// follow are local.
    pub fn prefetch(&self, ranges: &[Range<u64>]) -> Result<()> {
        let bs = self.inner.opts.block_size;
        let mut wanted = Vec::new();
        for r in ranges {
            self.check_range(r)?;
            if r.start < r.end {
                wanted.extend(r.start / bs..=(r.end - 1) / bs);
            }
        }
        wanted.sort_unstable();
        wanted.dedup();
        // Presence only: a prefetch of cached blocks reads nothing.
        let missing: Vec<u64> = wanted
            .into_iter()
            .filter(|&i| !self.inner.blocks.has(i))
            .collect();
        // In rounds of at most 128 MiB, so that a large prefetch holds no more than that in
        // memory at once.
        let per_round = ((128 << 20) / bs).max(1) as usize;
        for round in missing.chunks(per_round) {
            self.fetch(round)?;
        }
        Ok(())
    }

    /// Fetches blocks `missing` (sorted, distinct): adjacent ones, and ones one block apart,
    /// as one request of at most `max_request` bytes; `concurrency` requests in flight.
    /// Returns every block fetched, sorted by index, and keeps them in the cache.
    fn fetch(&self, missing: &[u64]) -> Result<Vec<(u64, Bytes)>> {
        if missing.is_empty() {
            return Ok(Vec::new());
        }
        // Claim the blocks nobody is fetching; wait for the others.
        let (mut mine, mut theirs) = (Vec::new(), Vec::new());
        {
            let mut map = self
                .inner
                .inflight
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            for &i in missing {
                match map.get(&i) {
                    Some(f) => theirs.push((i, Arc::clone(f))),
                    None => {
                        let f = Arc::new(Flight::default());
                        map.insert(i, Arc::clone(&f));
                        mine.push((i, f));
                    }
                }
            }
        }
        let landing = Landing {
            inflight: &self.inner.inflight,
            mine,
        };
        // A fetch that ended between our look at the cache and our claim has put its blocks
        // there already: look again before asking the server.
        let mut out = Vec::new();
        let claimed: Vec<u64> = landing
            .mine
            .iter()
            .filter_map(|&(i, _)| match self.inner.blocks.get(i) {
                Some(b) => {
                    out.push((i, b));
                    None
                }
                None => Some(i),
            })
            .collect();
        out.extend(self.fetch_now(&claimed)?);
        drop(landing);
        let mut again = Vec::new();
        for (i, f) in theirs {
            let mut done = f.done.lock().unwrap_or_else(|p| p.into_inner());
            while !*done {
                done = f.ended.wait(done).unwrap_or_else(|p| p.into_inner());
            }
            drop(done);
            // Theirs landed in the cache, unless their fetch failed: then it is ours to do.
            match self.inner.blocks.get(i) {
                Some(b) => out.push((i, b)),
                None => again.push(i),
            }
        }
        out.extend(self.fetch_now(&again)?);
        out.sort_unstable_by_key(|(i, _)| *i);
        Ok(out)
    }

    /// Fetches blocks `missing` now (no in-flight check), see [`RemoteFile::fetch`].
    fn fetch_now(&self, missing: &[u64]) -> Result<Vec<(u64, Bytes)>> {
        if missing.is_empty() {
            return Ok(Vec::new());
        }
        let inner = &*self.inner;
        let bs = inner.opts.block_size;
        let per_request = (inner.opts.max_request / bs).max(1);
        let mut runs: Vec<Range<u64>> = Vec::new();
        for &i in missing {
            match runs.last_mut() {
                // The gap (at most one block) is fetched too: one request instead of two.
                Some(r) if i <= r.end + 1 && i + 1 - r.start <= per_request => r.end = i + 1,
                _ => runs.push(i..i + 1),
            }
        }
        let size = self.len();
        let byte_ranges: Vec<Range<u64>> = runs
            .iter()
            .map(|r| r.start * bs..(r.end * bs).min(size))
            .collect();
        let rt = store::runtime(&inner.url)?;
        let etag = inner.identity.etag.clone();
        let results: Vec<(Range<u64>, Bytes)> = rt.block_on(
            futures::stream::iter(byte_ranges.into_iter().map(|r| {
                let store = Arc::clone(&inner.store);
                let path = inner.path.clone();
                let options = GetOptions {
                    range: Some(GetRange::Bounded(r.clone())),
                    if_match: etag.clone(),
                    ..Default::default()
                };
                inner.requests.fetch_add(1, Ordering::Relaxed);
                async move {
                    let res = store
                        .get_opts(&path, options)
                        .await
                        .map_err(|e| failed(&inner.url, Some(&r), e))?;
                    let served = res.range.clone();
                    let body = res
                        .bytes()
                        .await
                        .map_err(|e| failed(&inner.url, Some(&r), e))?;
                    if served != r || body.len() as u64 != r.end - r.start {
                        return Err(Error::Remote {
                            url: inner.url.clone(),
                            range: Some((r.start, r.end)),
                            what: format!(
                                "the server answered with {} bytes for bytes {}..{}; refusing a \
                                 short or misplaced read",
                                body.len(),
                                served.start,
                                served.end
                            ),
                        });
                    }
                    Ok((r, body))
                }
            }))
            .buffer_unordered(inner.opts.concurrency)
            .try_collect(),
        )?;
        let mut out = Vec::with_capacity(missing.len());
        for (r, body) in results {
            inner
                .bytes_fetched
                .fetch_add(body.len() as u64, Ordering::Relaxed);
            let mut at = r.start;
            while at < r.end {
                let i = at / bs;
                let end = ((i + 1) * bs).min(r.end);
                let block = body.slice((at - r.start) as usize..(end - r.start) as usize);
                inner.blocks.put(i, block.clone());
                out.push((i, block));
                at = end;
            }
        }
        out.sort_unstable_by_key(|(i, _)| *i);
        tracing::debug!(
            url = %inner.url,
            blocks = out.len(),
            requests = runs.len(),
            "fetched remote blocks"
        );
        Ok(out)
    }

    /// A reader at offset 0 (`Read + Seek`), for parsers that stream.
    pub fn reader(&self) -> RemoteReader {
        RemoteReader {
            file: self.clone(),
            pos: 0,
        }
    }
}

/// A [`RemoteFile`] as `Read + Seek` (see [`RemoteFile::reader`]).
#[derive(Debug, Clone)]
pub struct RemoteReader {
    file: RemoteFile,
    pos: u64,
}

impl std::io::Read for RemoteReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (self.file.len().saturating_sub(self.pos)).min(buf.len() as u64) as usize;
        self.file
            .read_at(self.pos, &mut buf[..n])
            .map_err(std::io::Error::other)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl std::io::Seek for RemoteReader {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let len = self.file.len() as i128;
        let new = match to {
            std::io::SeekFrom::Start(p) => p as i128,
            std::io::SeekFrom::End(d) => len + d as i128,
            std::io::SeekFrom::Current(d) => self.pos as i128 + d as i128,
        };
        if new < 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "seek before the start of the object",
            ));
        }
        self.pos = new as u64;
        Ok(self.pos)
    }
}
