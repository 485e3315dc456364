//! [`BigWigReader`]: a per-thread handle that reads windows of a shared [`BigWig`], with its
//! decompressor and a cache of decoded blocks.

use std::collections::HashMap;
use std::sync::Arc;

#[cfg(feature = "remote")]
use super::Storage;
use super::format::{self, Bytes, Item};
use super::{AbsentChrom, BigWig, ReadOptions, Window, view};
use crate::{Error, Result};

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
    pub(super) fn new(bw: Arc<BigWig>, options: ReadOptions) -> Self {
        BigWigReader {
            bw,
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
