//! bigWig: per-base genomic signal, read by window into caller buffers.
//!
//! ```text
//! header (64 B) ─ chromosome B+ tree ─ data sections (zlib) ─ R-tree index ─ zoom levels
//! ```
//! [`BigWig::open`] memory-maps the file, parses the header and the chromosome tree and loads
//! the leaves of the R-tree index into a sorted table (checking that every data block lies
//! inside the file). A [`BigWig`] is `Send + Sync` and immutable: share it behind an
//! [`Arc`] and give each worker its own [`BigWigReader`], which holds the decompressor and a
//! cache of decoded blocks (16 MiB by default, [`ReadOptions::cache_bytes`]), so no lock is
//! taken on the read path.
//!
//! [`BigWigReader::read_windows`] reads many windows in one call: they are visited in
//! genomic order and each data block is inflated at most once per call. Random single-window
//! reads are inflate-bound, so extraction should batch.
//!
//! Policies ([`ReadOptions`]): bases without data read as `0.0` (or NaN with
//! [`Missing::Nan`]); values stored as NaN count as missing; a chromosome the file does not
//! have is an error (or, with [`AbsentChrom::Missing`], reads as missing with one warning per
//! chromosome and file). Corrupt data blocks give [`Error::Corrupt`] with the byte offset.
//!
//! The read path is implemented here on the memory map rather than through `bigtools`,
//! whose readers need `&mut self`, do not expose block offsets and unwrap block
//! decompression; [`write_bigwig`] uses `bigtools` to write files.
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use biobatch_formats::bigwig::{BigWig, Window};
//!
//! let bw = Arc::new(BigWig::open("../../tests/data/signal_plus.bw")?);
//! let mut reader = bw.reader();
//! let mut one = [0f32; 100];
//! reader.read_window("chrA", 0, 100, &mut one)?;
//!
//! let windows = [Window::new("chrB", 5_000, 5_100), Window::new("chrA", 0, 100)];
//! let mut many = vec![0f32; 200];
//! reader.read_windows(&windows, &mut many)?;
//! assert_eq!(&many[100..], &one[..]);
//! # Ok::<(), biobatch_formats::Error>(())
//! ```

mod format;
mod writer;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use memmap2::Mmap;

pub use format::ChromInfo;
use format::{BlockIndex, Bytes, Data, Header, Item};
pub use writer::{BedGraphEntry, dense_to_entries, write_bigwig};

use crate::{Error, Result};

/// The value of bases that have no data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Missing {
    /// `0.0` (what a count track means by "no reads").
    #[default]
    Zero,
    /// `NaN`.
    Nan,
}

impl Missing {
    fn value(self) -> f32 {
        match self {
            Missing::Zero => 0.0,
            Missing::Nan => f32::NAN,
        }
    }
}

/// What to do with a window on a chromosome the file does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AbsentChrom {
    /// Fail with [`Error::UnknownChrom`].
    #[default]
    Error,
    /// Read the window as missing; warn once per chromosome and file.
    Missing,
}

/// Read policies for a [`BigWigReader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// Value of bases without data.
    pub missing: Missing,
    /// Windows on chromosomes absent from the file.
    pub absent_chrom: AbsentChrom,
    /// Bytes of decoded blocks a reader keeps between calls (12 bytes per stored interval).
    /// `0` keeps only what the current call needs; within a call a block that later windows
    /// still need is never evicted, so it is inflated at most once per call either way.
    pub cache_bytes: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            missing: Missing::Zero,
            absent_chrom: AbsentChrom::Error,
            cache_bytes: 16 << 20,
        }
    }
}

/// A window to read: `chrom:[start, end)`; parts outside the chromosome read as missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window<'a> {
    /// Chromosome name.
    pub chrom: &'a str,
    /// 0-based start (may be negative).
    pub start: i64,
    /// Exclusive end.
    pub end: i64,
}

impl<'a> Window<'a> {
    /// A window.
    pub fn new(chrom: &'a str, start: i64, end: i64) -> Self {
        Window { chrom, start, end }
    }
}

/// Where a [`BigWig`]'s bytes come from.
enum Storage {
    Mapped(Mmap),
    #[cfg(feature = "remote")]
    Remote(crate::remote::RemoteFile),
}

/// An open bigWig file (memory-mapped, or a URL read through the block cache; index
/// loaded). Share it between threads.
pub struct BigWig {
    path: PathBuf,
    data: Storage,
    header: Header,
    chroms: Vec<ChromInfo>,
    by_name: HashMap<String, usize>,
    index: BlockIndex,
    warned: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for BigWig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BigWig")
            .field("path", &self.path)
            .field("chroms", &self.chroms.len())
            .field("blocks", &self.index.blocks.len())
            .finish()
    }
}

impl BigWig {
    /// Opens and validates a bigWig file, or a URL (with the `remote` feature: the header,
    /// the chromosome tree and the index are read at open, data blocks as windows need them,
    /// through the block cache of [`crate::remote`]).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if crate::remote::is_url(&path) {
            #[cfg(feature = "remote")]
            return Self::from_remote(crate::remote::RemoteFile::open(&path.to_string_lossy())?);
            #[cfg(not(feature = "remote"))]
            return Err(crate::remote::unsupported(&path, "a bigWig URL"));
        }
        let file = crate::fs::open_regular(&path)?;
        // SAFETY: read-only map; the file must not be truncated while open.
        let data = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(&path, e))?;
        Self::from_storage(path, Storage::Mapped(data))
    }

    /// Opens a remote bigWig already opened as a [`RemoteFile`](crate::remote::RemoteFile)
    /// (with options of its own).
    #[cfg(feature = "remote")]
    pub fn from_remote(file: crate::remote::RemoteFile) -> Result<Self> {
        Self::from_storage(PathBuf::from(file.url()), Storage::Remote(file))
    }

    fn from_storage(path: PathBuf, data: Storage) -> Result<Self> {
        let head: Cow<'_, [u8]> = match &data {
            Storage::Mapped(m) => Cow::Borrowed(&m[..]),
            #[cfg(feature = "remote")]
            Storage::Remote(f) => Cow::Owned(f.read_range(0..f.len().min(64))?),
        };
        let header = format::read_header(&head, &path)?;
        let bytes = Bytes {
            data: view(&data),
            le: header.le,
            path: &path,
        };
        let chroms = format::read_chroms(bytes, header.chrom_tree_offset)?;
        let mut by_name = HashMap::with_capacity(chroms.len());
        for (i, c) in chroms.iter().enumerate() {
            if by_name.insert(c.name.clone(), i).is_some() {
                return Err(Error::corrupt(
                    &path,
                    header.chrom_tree_offset,
                    format!("chromosome `{}` listed twice", c.name),
                ));
            }
        }
        let mut lengths = vec![0u32; chroms.len()];
        for c in &chroms {
            lengths[c.id as usize] = c.length;
        }
        let blocks = format::read_blocks(bytes, header.full_index_offset, &lengths)?;
        let index = BlockIndex::new(blocks);
        tracing::debug!(
            path = %path.display(),
            chroms = chroms.len(),
            blocks = index.blocks.len(),
            version = header.version,
            zoom_levels = header.zoom_levels,
            data_offset = header.full_data_offset,
            "opened bigWig"
        );
        Ok(BigWig {
            path,
            data,
            header,
            chroms,
            by_name,
            index,
            warned: Mutex::new(HashSet::new()),
        })
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Chromosomes in the file's order.
    pub fn chroms(&self) -> &[ChromInfo] {
        &self.chroms
    }

    /// The length of a chromosome.
    pub fn chrom_len(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).map(|&i| self.chroms[i].length)
    }

    /// Number of data blocks in the index.
    pub fn num_blocks(&self) -> usize {
        self.index.blocks.len()
    }

    /// A reader with default options.
    pub fn reader(self: &Arc<Self>) -> BigWigReader {
        self.reader_with(ReadOptions::default())
    }

    /// A reader with explicit options.
    pub fn reader_with(self: &Arc<Self>, options: ReadOptions) -> BigWigReader {
        BigWigReader {
            bw: Arc::clone(self),
            options,
            inflater: libdeflater::Decompressor::new(),
            raw: Vec::new(),
            cache: Vec::new(),
            slots: HashMap::new(),
            cached_bytes: 0,
            tick: 0,
            order: Vec::new(),
            gathered: Vec::new(),
            gathered_from: Vec::new(),
            inflated: 0,
            nan_bases: 0,
        }
    }
}

struct CacheEntry {
    block: usize,
    items: Vec<Item>,
    last_used: u64,
}

#[derive(Clone, Copy)]
struct Job {
    chrom: u32,
    start: i64,
    end: i64,
    out: usize,
}

/// A per-thread reading handle over a shared [`BigWig`].
pub struct BigWigReader {
    bw: Arc<BigWig>,
    options: ReadOptions,
    inflater: libdeflater::Decompressor,
    raw: Vec<u8>,
    cache: Vec<CacheEntry>,
    /// Block index → cache slot.
    slots: HashMap<usize, usize>,
    cached_bytes: usize,
    tick: u64,
    order: Vec<Job>,
    /// Items of the current window, and the file offsets of the blocks they came from.
    gathered: Vec<Item>,
    gathered_from: Vec<u64>,
    inflated: u64,
    nan_bases: u64,
}

impl std::fmt::Debug for BigWigReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BigWigReader")
            .field("bw", &self.bw)
            .field("options", &self.options)
            .finish()
    }
}

impl BigWigReader {
    /// Bases read so far whose value the file stores as NaN (they read as the `missing`
    /// value): counted so that a caller can report them, or refuse them.
    pub fn nan_bases(&self) -> u64 {
        self.nan_bases
    }

    /// The shared file.
    pub fn file(&self) -> &Arc<BigWig> {
        &self.bw
    }

    /// The read policies.
    pub fn options(&self) -> ReadOptions {
        self.options
    }

    /// How many data blocks this reader has inflated so far.
    pub fn blocks_inflated(&self) -> u64 {
        self.inflated
    }

    /// Reads `chrom:[start, end)` into `out` (length `end - start`).
    pub fn read_window(
        &mut self,
        chrom: &str,
        start: i64,
        end: i64,
        out: &mut [f32],
    ) -> Result<()> {
        self.read_windows(&[Window { chrom, start, end }], out)
    }

    /// Reads many windows into `out`, the concatenation of the windows in the order given.
    ///
    /// Windows are visited in genomic order and each data block is inflated at most once
    /// per call. Steady-state calls allocate nothing.
    pub fn read_windows(&mut self, windows: &[Window<'_>], out: &mut [f32]) -> Result<()> {
        let missing = self.options.missing.value();
        self.order.clear();
        let mut off = 0usize;
        for w in windows {
            if w.end < w.start {
                return Err(Error::Invalid(format!(
                    "window {}:{}-{} ends before it starts",
                    w.chrom, w.start, w.end
                )));
            }
            let len = (w.end - w.start) as usize;
            let Some(dst) = out.get_mut(off..off + len) else {
                return Err(Error::Invalid(format!(
                    "output buffer of {} values is too short for the windows",
                    out.len()
                )));
            };
            match self.bw.by_name.get(w.chrom) {
                // Filled (every value written once) in genomic order below.
                Some(&ci) => self.order.push(Job {
                    chrom: self.bw.chroms[ci].id,
                    start: w.start,
                    end: w.end,
                    out: off,
                }),
                None => {
                    self.absent(w.chrom)?;
                    dst.fill(missing);
                }
            }
            off += len;
        }
        if off != out.len() {
            return Err(Error::Invalid(format!(
                "output buffer holds {} values, the windows {off}",
                out.len()
            )));
        }
        self.order.sort_unstable_by_key(|j| (j.chrom, j.start));
        #[cfg(feature = "remote")]
        self.prefetch()?;
        for k in 0..self.order.len() {
            let job = self.order[k];
            let len = (job.end - job.start) as usize;
            self.fill(job, &mut out[job.out..job.out + len], missing)?;
        }
        Ok(())
    }

    /// A remote file: brings every data block the windows of this call need, and this reader
    /// has not decoded, into the block cache at once (coalesced requests, several in flight)
    /// rather than one block at a time as the windows reach them.
    #[cfg(feature = "remote")]
    fn prefetch(&self) -> Result<()> {
        let Storage::Remote(f) = &self.bw.data else {
            return Ok(());
        };
        let mut ranges = Vec::new();
        for job in &self.order {
            let ws = job.start.clamp(0, u32::MAX as i64) as u32;
            let we = job.end.clamp(0, u32::MAX as i64) as u32;
            if ws >= we {
                continue;
            }
            for bi in self.bw.index.candidates(job.chrom, ws, we) {
                let b = self.bw.index.blocks[bi];
                if b.end > ws && b.start < we && !self.slots.contains_key(&bi) {
                    ranges.push(b.offset..b.offset + b.size);
                }
            }
        }
        f.prefetch(&ranges)
    }

    fn absent(&self, chrom: &str) -> Result<()> {
        match self.options.absent_chrom {
            AbsentChrom::Error => Err(Error::unknown_chrom(
                &self.bw.path,
                chrom,
                self.bw.chroms.iter().map(|c| c.name.as_str()),
            )),
            AbsentChrom::Missing => {
                let mut warned = self.bw.warned.lock().unwrap_or_else(|p| p.into_inner());
                if warned.insert(chrom.to_string()) {
                    tracing::warn!(
                        file = %self.bw.path.display(),
                        chrom,
                        "chromosome absent from bigWig: its windows read as missing (warned once)"
                    );
                }
                Ok(())
            }
        }
    }

    /// Writes every value of one window exactly once: gaps between intervals (and any part
    /// outside the chromosome) get `missing`, intervals their value.
    fn fill(&mut self, job: Job, out: &mut [f32], missing: f32) -> Result<()> {
        // Clip to [0, u32::MAX); data cannot exist outside.
        let ws = job.start.clamp(0, u32::MAX as i64) as u32;
        let we = job.end.clamp(0, u32::MAX as i64) as u32;
        let mut cursor = 0usize;
        if ws < we {
            // The items of every block that overlaps the window. Blocks may overlap each
            // other (libBigWig indexes several blocks of one section under its whole span),
            // so items are gathered first, then written in order.
            self.gathered.clear();
            self.gathered_from.clear();
            let bw = Arc::clone(&self.bw);
            for bi in bw.index.candidates(job.chrom, ws, we) {
                let b = bw.index.blocks[bi];
                // A block indexed twice is read once.
                if b.end <= ws || b.start >= we || self.gathered_from.contains(&b.offset) {
                    continue;
                }
                self.gathered_from.push(b.offset);
                let slot = self.load(bi, job.chrom, ws)?;
                let items = &self.cache[slot].items;
                let first = items.partition_point(|it| it.end <= ws);
                let n = items[first..].partition_point(|it| it.start < we);
                self.gathered.extend_from_slice(&items[first..first + n]);
            }
            if !self.gathered.windows(2).all(|w| w[0].end <= w[1].start) {
                self.gathered.sort_unstable_by_key(|it| it.start);
                if let Some(w) = self.gathered.windows(2).find(|w| w[1].start < w[0].end) {
                    // Two blocks give values to the same bases: which one is right?
                    return Err(Error::corrupt(
                        &bw.path,
                        bw.header.full_index_offset,
                        format!(
                            "data blocks hold overlapping values on chromosome id {}: {}-{} \
                             and {}-{}",
                            job.chrom, w[0].start, w[0].end, w[1].start, w[1].end
                        ),
                    ));
                }
            }
            for it in &self.gathered {
                let s = (it.start.max(ws) as i64 - job.start) as usize;
                let e = (it.end.min(we) as i64 - job.start) as usize;
                if s < e {
                    out[cursor..s].fill(missing);
                    let v = if it.value.is_nan() {
                        self.nan_bases += (e - s) as u64;
                        missing
                    } else {
                        it.value
                    };
                    out[s..e].fill(v);
                    cursor = e;
                }
            }
        }
        out[cursor..].fill(missing);
        Ok(())
    }

    /// The cache slot holding block `bi`, decoding it if needed. Over the byte budget, the
    /// least recently used block that no later window of this call can need (another
    /// chromosome, or ending at or before `ws`) is evicted and its buffer reused; a block still
    /// needed is never evicted, so the cache may exceed the budget within a call.
    fn load(&mut self, bi: usize, chrom: u32, ws: u32) -> Result<usize> {
        self.tick += 1;
        if let Some(&slot) = self.slots.get(&bi) {
            self.cache[slot].last_used = self.tick;
            return Ok(slot);
        }
        let bw = Arc::clone(&self.bw);
        let victim = if self.cached_bytes >= self.options.cache_bytes {
            let dead = |e: &CacheEntry| {
                e.block == usize::MAX || {
                    let b = bw.index.blocks[e.block];
                    b.chrom_id != chrom || b.end <= ws
                }
            };
            self.cache
                .iter()
                .enumerate()
                .filter(|(_, e)| dead(e))
                .min_by_key(|(_, e)| e.last_used)
                .map(|(i, _)| i)
        } else {
            None
        };
        let slot = match victim {
            Some(i) => {
                let old = self.cache[i].block;
                self.slots.remove(&old);
                self.cached_bytes -= self.cache[i].items.capacity() * std::mem::size_of::<Item>();
                i
            }
            None => {
                self.cache.push(CacheEntry {
                    block: usize::MAX,
                    items: Vec::new(),
                    last_used: 0,
                });
                self.cache.len() - 1
            }
        };
        let b = bw.index.blocks[bi];
        let raw = Bytes {
            data: view(&bw.data),
            le: bw.header.le,
            path: &bw.path,
        }
        .slice(b.offset, b.size, "data block")?;
        let raw: &[u8] = &raw;
        let entry = &mut self.cache[slot];
        entry.block = usize::MAX; // invalid until decoded
        let section: &[u8] = if bw.header.uncompress_buf_size > 0 {
            // The header's buffer size comes from the file: no section needs more than
            // MAX_SECTION bytes, whatever it says.
            let cap = (bw.header.uncompress_buf_size as usize).clamp(1024, format::MAX_SECTION);
            if self.raw.len() < cap {
                self.raw.resize(cap, 0);
            }
            let n = self
                .inflater
                .zlib_decompress(raw, &mut self.raw)
                .map_err(|e| {
                    Error::corrupt(
                        &bw.path,
                        b.offset,
                        format!("data block does not inflate: {e}"),
                    )
                })?;
            self.inflated += 1;
            &self.raw[..n]
        } else {
            raw
        };
        let id =
            format::decode_section(section, bw.header.le, &bw.path, b.offset, &mut entry.items)?;
        if id != b.chrom_id {
            if !b.spans {
                // The index says this section is another chromosome's: a damaged file.
                return Err(Error::corrupt(
                    &bw.path,
                    b.offset,
                    format!(
                        "data section of chromosome id {id}, indexed under id {}",
                        b.chrom_id
                    ),
                ));
            }
            // A section holds one chromosome; an index item spanning several is listed under
            // each of them, and holds no values for the others.
            entry.items.clear();
        }
        if !b.spans
            && let Some(it) = entry
                .items
                .iter()
                .find(|it| it.start < b.start || it.end > b.end)
        {
            // Values outside the span the index gives would be seen by some windows and not
            // by others.
            return Err(Error::corrupt(
                &bw.path,
                b.offset,
                format!(
                    "data block item {}-{} lies outside the block's indexed span {}-{}",
                    it.start, it.end, b.start, b.end
                ),
            ));
        }
        entry.block = bi;
        entry.last_used = self.tick;
        self.cached_bytes += entry.items.capacity() * std::mem::size_of::<Item>();
        self.slots.insert(bi, slot);
        Ok(slot)
    }
}

/// The bytes of a storage, for the parser.
fn view(data: &Storage) -> Data<'_> {
    match data {
        Storage::Mapped(m) => Data::Mapped(m),
        #[cfg(feature = "remote")]
        Storage::Remote(f) => Data::Remote(f),
    }
}

#[cfg(test)]
mod tests;
