//! The read-ahead thread of datasets that read in IO batches (cells, arrays): it walks this
//! rank's positions of an epoch one IO batch at a time, at most `ahead` IO batches ahead of
//! the consumer, and hands each IO batch's records to the dataset to prepare (ask the kernel
//! for their pages, decode their chunks) while the current one is consumed. An IO batch the
//! consumer has already finished is skipped, never prepared late.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use biobatch_sampling::EpochPlan;

/// How far the consumer has got in the current epoch, and which read-ahead thread is
/// current (a new epoch or a dropped plan retires the old one).
#[derive(Debug, Default)]
pub(crate) struct Progress {
    consumed: AtomicU64,
    generation: AtomicU64,
}

impl Progress {
    /// `n` more samples were filled into batches.
    pub(crate) fn consumed(&self, n: usize) {
        self.consumed.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Retires the running read-ahead thread, if any.
    pub(crate) fn retire(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// What a dataset does with the records of an IO batch before its batches are filled.
pub(crate) trait Prepare: Send + Sync + 'static {
    /// Prepares the records (sample indices) of one IO batch, given in plan order.
    fn prepare(&self, records: &mut Vec<u64>);
}

/// Read-ahead settings and what it prepares with.
pub(crate) struct ReadAhead {
    pub(crate) prepare: Arc<dyn Prepare>,
    /// Positions per IO batch.
    pub(crate) io_batch: u64,
    /// IO batches prepared ahead of the one being consumed.
    pub(crate) ahead: u64,
}

impl ReadAhead {
    /// Starts the read-ahead of `epoch`, retiring any earlier one.
    pub(crate) fn start(self: &Arc<Self>, progress: &Arc<Progress>, epoch: Arc<dyn EpochPlan>) {
        let generation = progress.generation.fetch_add(1, Ordering::SeqCst) + 1;
        progress.consumed.store(0, Ordering::SeqCst);
        let (ra, progress) = (Arc::clone(self), Arc::clone(progress));
        let spawned = std::thread::Builder::new()
            .name("biobatch-readahead".into())
            .spawn(move || ra.run(&progress, generation, epoch.as_ref()));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start the read-ahead thread");
        }
    }

    fn run(&self, progress: &Progress, generation: u64, epoch: &dyn EpochPlan) {
        let n = epoch.positions();
        let io = self.io_batch.max(1);
        let mut records: Vec<u64> = Vec::new();
        let mut start = 0;
        while start < n {
            // Wait until the consumer is within `ahead` IO batches of this one.
            loop {
                if progress.generation.load(Ordering::SeqCst) != generation {
                    return;
                }
                let consumed = progress.consumed.load(Ordering::Relaxed);
                if start < consumed + self.ahead * io {
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            let end = (start + io).min(n);
            if progress.consumed.load(Ordering::Relaxed) >= end {
                // The consumer got here first (the read-ahead was not scheduled in time):
                // preparing an IO batch already used would only redo its work.
                start = end;
                continue;
            }
            records.clear();
            records.extend((start..end).map(|p| epoch.sample(p).index));
            self.prepare.prepare(&mut records);
            start = end;
        }
    }
}
