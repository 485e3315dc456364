//! The plan of an [`ExperimentDataset`](super::ExperimentDataset): the sampling crate's chunk
//! shuffle (or weighted draws) over the pool of selected cells, its cursor fingerprint tied
//! to that pool, and a read-ahead thread that asks the kernel for the next IO batches of this
//! rank while the current one is consumed.

use std::sync::Arc;

use biobatch_formats::soma::Layer;
use biobatch_sampling::{
    EpochPlan, Fingerprint, Order, Partition, Plan, Sampler, SamplerConfig, StreamId, Weighted,
    WeightedConfig,
};

use super::ExperimentDataset;
use crate::Result;
use crate::readahead::{Prepare, Progress, ReadAhead};

/// Asks the kernel for the entries of an IO batch's cells (sorted and coalesced into runs of
/// neighbouring rows).
struct WillNeed {
    layer: Layer,
    pool: Arc<[u64]>,
}

impl Prepare for WillNeed {
    fn prepare(&self, records: &mut Vec<u64>) {
        let mut rows: Vec<u64> = records
            .iter()
            .filter_map(|&i| self.pool.get(i as usize).copied())
            .collect();
        rows.sort_unstable();
        let mut i = 0;
        while i < rows.len() {
            let mut j = i + 1;
            while j < rows.len() && rows[j] <= rows[j - 1] + 8 {
                j += 1;
            }
            self.layer
                .will_need(rows[i] as usize..rows[j - 1] as usize + 1);
            i = j;
        }
    }
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
                prepare: Arc::new(WillNeed {
                    layer: ds.layer()?.clone(),
                    pool: Arc::clone(&ds.pool),
                }),
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
        if let Some(ra) = &self.read_ahead {
            ra.start(&self.progress, epoch);
        }
    }
}

impl Drop for CellsPlan {
    fn drop(&mut self) {
        self.progress.retire();
    }
}

impl Plan for CellsPlan {
    fn stream(&self) -> StreamId {
        self.inner.stream().tied_to("cells-plan", self.fingerprint)
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
