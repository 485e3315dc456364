//! The plan of an [`ArraysDataset`](super::ArraysDataset): the chunked shuffle over on-disk
//! chunks (or a full shuffle, or file order), flip bits drawn per `(seed, epoch, record)`
//! and carried in [`Sample::jitter`], and a read-ahead thread that decodes the chunks of the
//! next IO batches into the cache.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use biobatch_core::BlockSource;
use biobatch_sampling::rng::{rng, stream};
use biobatch_sampling::{
    EpochPlan, Fingerprint, Order, Partition, Plan, Sample, Sampler, SamplerConfig, StreamId,
};
use rand_core::Rng;

use super::ArraysDataset;
use super::cache::BlockCache;
use crate::Result;
use crate::readahead::{Prepare, Progress, ReadAhead};

/// Version of the flip stream: bump when the flip bits of a `(seed, epoch, record)` change.
const FLIP_STREAM_VERSION: u64 = 1;

/// Decodes the blocks an IO batch touches, for every variable read through the cache, on
/// `threads` threads (as many as the loader has workers: while they copy records out of one
/// IO batch, the next one is decoded in parallel).
struct DecodeAhead {
    cache: Arc<BlockCache>,
    /// (variable position, source) of the variables not preloaded.
    vars: Vec<(usize, Arc<dyn BlockSource>)>,
    threads: usize,
}

impl Prepare for DecodeAhead {
    fn prepare(&self, records: &mut Vec<u64>) {
        let mut todo: Vec<(usize, usize)> = Vec::new();
        for (i, (_, src)) in self.vars.iter().enumerate() {
            let br = src.block_rows().max(1) as u64;
            let start = todo.len();
            todo.extend(records.iter().map(|r| (i, (r / br) as usize)));
            todo[start..].sort_unstable();
        }
        todo.dedup();
        let next = AtomicUsize::new(0);
        let work = || {
            while let Some(&(i, b)) = todo.get(next.fetch_add(1, Ordering::Relaxed)) {
                let (k, src) = &self.vars[i];
                // An error is left for the worker that needs the block to report.
                let _ = self.cache.get(*k, src.as_ref(), b);
            }
        };
        let extra = self.threads.min(todo.len()).saturating_sub(1);
        std::thread::scope(|s| {
            for _ in 0..extra {
                s.spawn(work);
            }
            work();
        });
    }
}

/// The dataset's plan.
pub(crate) struct ArraysPlan {
    inner: Sampler,
    fingerprint: u64,
    flips: u32,
    progress: Arc<Progress>,
    read_ahead: Option<Arc<ReadAhead>>,
}

impl ArraysPlan {
    pub(super) fn new(ds: &ArraysDataset, partition: Partition) -> Result<Self> {
        let c = &ds.config;
        let chunk = ds.chunk_records as u64;
        let io_batch = chunk * c.io_chunks;
        let order = match (c.shuffle, c.chunked) {
            (false, _) => Order::Sequential,
            (true, true) => Order::Chunked {
                shuffle_chunk_size: chunk,
                io_batch_size: io_batch,
            },
            (true, false) => Order::Shuffle,
        };
        let inner = Sampler::new(
            ds.records as u64,
            SamplerConfig {
                seed: c.seed,
                order,
                partition,
                ..Default::default()
            },
        )?;
        // Tie cursors to the file's sample count, the served variables and the flips.
        let mut fp = Fingerprint::new("arrays")
            .u64(ds.records as u64)
            .u64(FLIP_STREAM_VERSION)
            .u64(ds.flips.len() as u64);
        for v in &ds.vars {
            fp = fp.str(&v.path);
        }
        let cached: Vec<(usize, Arc<dyn BlockSource>)> = ds
            .vars
            .iter()
            .enumerate()
            .filter(|(_, v)| v.preloaded.is_none())
            .map(|(k, v)| (k, Arc::clone(&v.source)))
            .collect();
        let read_ahead = (c.io_prefetch > 0 && !cached.is_empty()).then(|| {
            Arc::new(ReadAhead {
                prepare: Arc::new(DecodeAhead {
                    cache: Arc::clone(&ds.cache),
                    vars: cached,
                    threads: c.loader.num_workers.max(1),
                }),
                io_batch: if c.chunked {
                    io_batch
                } else {
                    chunk.max(1) * 8
                },
                ahead: c.io_prefetch as u64,
            })
        });
        Ok(ArraysPlan {
            inner,
            fingerprint: fp.value(),
            flips: ds.flips.len() as u32,
            progress: Arc::clone(&ds.progress),
            read_ahead,
        })
    }
}

impl Drop for ArraysPlan {
    fn drop(&mut self) {
        self.progress.retire();
    }
}

/// An epoch of the sampler with each sample's flip bits in `jitter`.
struct Flipped {
    inner: Arc<dyn EpochPlan>,
    seed: u64,
    epoch: u64,
    mask: u64,
}

impl EpochPlan for Flipped {
    fn positions(&self) -> u64 {
        self.inner.positions()
    }

    fn sample(&self, p: u64) -> Sample {
        let mut s = self.inner.sample(p);
        if self.mask != 0 {
            let bits = rng(self.seed, stream::FLIPS, self.epoch, s.index).next_u64() & self.mask;
            s.jitter = bits as u32;
        }
        s
    }
}

impl Plan for ArraysPlan {
    fn stream(&self) -> StreamId {
        self.inner.stream().tied_to("arrays-plan", self.fingerprint)
    }

    fn positions(&self) -> u64 {
        self.inner.positions()
    }

    fn epoch_plan(&self, epoch: u64) -> biobatch_sampling::Result<Arc<dyn EpochPlan>> {
        let e: Arc<dyn EpochPlan> = Arc::new(Flipped {
            inner: self.inner.epoch_plan(epoch)?,
            seed: self.inner.stream().seed,
            epoch,
            mask: (1u64 << self.flips) - 1,
        });
        if let Some(ra) = &self.read_ahead {
            ra.start(&self.progress, Arc::clone(&e));
        }
        Ok(e)
    }
}
