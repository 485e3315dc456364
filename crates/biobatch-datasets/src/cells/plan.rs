//! The plan of an [`ExperimentDataset`](super::ExperimentDataset): the sampling crate's chunk
//! shuffle (or weighted draws) over the pool of selected cells, its cursor fingerprint tied
//! to that pool, and a read-ahead thread that asks the kernel for the next IO batches of this
//! rank while the current one is consumed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use biobatch_formats::soma::Layer;
use biobatch_sampling::{
    EpochPlan, Fingerprint, Order, Partition, Plan, Sampler, SamplerConfig, StreamId, Weighted,
    WeightedConfig,
};

use super::ExperimentDataset;
use crate::Result;

/// How far the consumer has got in the current epoch, and which read-ahead thread is
/// current (a new epoch or a dropped plan retires the old one).
#[derive(Debug, Default)]
pub(crate) struct Progress {
    consumed: AtomicU64,
    generation: AtomicU64,
}

impl Progress {
    /// `n` more samples were filled into batches.
    pub(super) fn consumed(&self, n: usize) {
        self.consumed.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Read-ahead settings and what it reads from.
struct ReadAhead {
    layer: Layer,
    pool: Arc<[u64]>,
    io_batch: u64,
    ahead: u64,
}

/// The dataset's plan.
pub(crate) struct CellsPlan {
    inner: Arc<dyn Plan>,
    fingerprint: u64,
    progress: Arc<Progress>,
    read_ahead: Option<Arc<ReadAhead>>,
}

impl CellsPlan {
    pub(super) fn new(ds: &ExperimentDataset, partition: Partition) -> Result<Self> {
        let c = &ds.config;
        let n = ds.pool.len() as u64;
        let inner: Arc<dyn Plan> = match &ds.weights {
            Some(w) => Arc::new(Weighted::new(
                w,
                WeightedConfig {
                    seed: c.seed,
                    epoch_len: c.epoch_len.unwrap_or(n),
                    partition,
                },
            )?),
            None => {
                let order = if c.shuffle {
                    Order::Chunked {
                        shuffle_chunk_size: c.shuffle_chunk_size,
                        io_batch_size: c.io_batch_size,
                    }
                } else {
                    Order::Sequential
                };
                Arc::new(Sampler::new(
                    n,
                    SamplerConfig {
                        seed: c.seed,
                        order,
                        partition,
                        ..Default::default()
                    },
                )?)
            }
        };
        // Tie cursors to the pool (filter, split), the layer and the gene selection, so a
        // cursor never resumes over other cells.
        let mut fp = Fingerprint::new("cells")
            .str(&ds.layer)
            .u64(ds.genes as u64)
            .u64(n);
        fp = ds.pool.iter().fold(fp, |f, &r| f.u64(r));
        if let Some(m) = &ds.gene_map {
            fp = m.iter().fold(fp, |f, &k| f.u64(k as u64));
        }
        let read_ahead = (ds.weights.is_none() && c.io_prefetch > 0).then(|| -> Result<_> {
            Ok(Arc::new(ReadAhead {
                layer: ds.layer()?.clone(),
                pool: Arc::clone(&ds.pool),
                io_batch: c.io_batch_size.max(1),
                ahead: c.io_prefetch as u64,
            }))
        });
        Ok(CellsPlan {
            inner,
            fingerprint: fp.value(),
            progress: Arc::clone(&ds.progress),
            read_ahead: read_ahead.transpose()?,
        })
    }

    /// Starts the read-ahead of `epoch` (retiring any earlier one).
    fn start_read_ahead(&self, epoch: Arc<dyn EpochPlan>) {
        let Some(ra) = &self.read_ahead else { return };
        let generation = self.progress.generation.fetch_add(1, Ordering::SeqCst) + 1;
        self.progress.consumed.store(0, Ordering::SeqCst);
        let (ra, progress) = (Arc::clone(ra), Arc::clone(&self.progress));
        let spawned = std::thread::Builder::new()
            .name("biobatch-readahead".into())
            .spawn(move || read_ahead(&ra, &progress, generation, epoch.as_ref()));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start the read-ahead thread");
        }
    }
}

/// Walks this rank's positions one IO batch at a time, at most `ahead` IO batches ahead of
/// the consumer, asking the kernel for the entries of each IO batch's cells (sorted and
/// coalesced into runs of neighbouring rows).
fn read_ahead(ra: &ReadAhead, progress: &Progress, generation: u64, epoch: &dyn EpochPlan) {
    let n = epoch.positions();
    let mut rows: Vec<u64> = Vec::new();
    let mut start = 0;
    while start < n {
        // Wait until the consumer is within `ahead` IO batches of this one.
        loop {
            if progress.generation.load(Ordering::SeqCst) != generation {
                return;
            }
            let consumed = progress.consumed.load(Ordering::Relaxed);
            if start < consumed + ra.ahead * ra.io_batch {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let end = (start + ra.io_batch).min(n);
        rows.clear();
        rows.extend((start..end).filter_map(|p| ra.pool.get(epoch.sample(p).index as usize)));
        rows.sort_unstable();
        let mut i = 0;
        while i < rows.len() {
            let mut j = i + 1;
            while j < rows.len() && rows[j] <= rows[j - 1] + 8 {
                j += 1;
            }
            ra.layer
                .will_need(rows[i] as usize..rows[j - 1] as usize + 1);
            i = j;
        }
        start = end;
    }
}

impl Drop for CellsPlan {
    fn drop(&mut self) {
        // Retire a running read-ahead thread.
        self.progress.generation.fetch_add(1, Ordering::SeqCst);
    }
}

impl Plan for CellsPlan {
    fn stream(&self) -> StreamId {
        let s = self.inner.stream();
        StreamId {
            fingerprint: Fingerprint::new("cells-plan")
                .u64(s.fingerprint)
                .u64(self.fingerprint)
                .value(),
            ..s
        }
    }

    fn positions(&self) -> u64 {
        self.inner.positions()
    }

    fn epoch_plan(&self, epoch: u64) -> biobatch_sampling::Result<Arc<dyn EpochPlan>> {
        let e = self.inner.epoch_plan(epoch)?;
        self.start_read_ahead(Arc::clone(&e));
        Ok(e)
    }
}
