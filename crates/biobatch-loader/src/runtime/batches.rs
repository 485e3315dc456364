//! What the consumer holds: the epoch's iterator ([`Batches`]) and its batches
//! ([`LoadedBatch`]), which return their buffers to the pool when dropped.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use biobatch_core::Batch;
use biobatch_sampling::{Cursor, EpochPlan, Plan, Sample};
use crossbeam_channel::{Receiver, Sender};

use super::{Done, LoaderConfig, Pool, compute};
use crate::dataset::BatchDataset;
use crate::stats::LoaderStats;
use crate::{Error, Result};

/// A batch from the loader. Dereferences to the [`Batch`]; dropping it returns the buffer to
/// the loader's pool (use [`LoadedBatch::into_inner`] to keep it instead).
pub struct LoadedBatch {
    pub(super) batch: Batch,
    /// Set by `into_inner`: the buffer left with the caller, so it is not pooled on drop.
    pub(super) taken: bool,
    pub(super) epoch: u64,
    pub(super) index: u64,
    pub(super) cursor_after: Cursor,
    pub(super) pool: Arc<Pool>,
}

impl LoadedBatch {
    /// The epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The batch index in the epoch.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The cursor to resume right after this batch.
    pub fn cursor_after(&self) -> Cursor {
        self.cursor_after
    }

    /// Takes the batch out (its buffer is not returned to the pool).
    pub fn into_inner(mut self) -> Batch {
        self.taken = true;
        // An empty map allocates nothing; the placeholder is dropped with `self`.
        std::mem::replace(&mut self.batch, Batch::new(biobatch_core::Node::map()))
    }
}

impl Deref for LoadedBatch {
    type Target = Batch;

    fn deref(&self) -> &Batch {
        &self.batch
    }
}

impl DerefMut for LoadedBatch {
    fn deref_mut(&mut self) -> &mut Batch {
        &mut self.batch
    }
}

impl Drop for LoadedBatch {
    fn drop(&mut self) {
        if !self.taken {
            let b = std::mem::replace(&mut self.batch, Batch::new(biobatch_core::Node::map()));
            self.pool.give(b);
        }
    }
}

impl std::fmt::Debug for LoadedBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedBatch")
            .field("epoch", &self.epoch)
            .field("index", &self.index)
            .finish()
    }
}

/// The batches of one epoch, in plan order. Dropping it stops and joins the workers.
pub struct Batches {
    pub(super) epoch: u64,
    pub(super) next: u64,
    pub(super) submitted: u64,
    pub(super) end: u64,
    pub(super) plan: Arc<dyn EpochPlan>,
    pub(super) stream_plan: Arc<dyn Plan>,
    pub(super) dataset: Arc<dyn BatchDataset>,
    pub(super) pool: Arc<Pool>,
    pub(super) config: LoaderConfig,
    pub(super) jobs: Option<Sender<u64>>,
    /// A handle on the job queue to drain it at shutdown (workers then stop after the batch
    /// they are computing, not after the whole prefetch window).
    pub(super) job_drain: Option<Receiver<u64>>,
    pub(super) results: Option<Receiver<Done>>,
    pub(super) workers: Vec<JoinHandle<()>>,
    /// Reorder slots: batch `i` waits in slot `i % prefetch` (in-flight batches span at most
    /// `prefetch` consecutive indices, so slots never collide).
    pub(super) pending: Vec<Option<Done>>,
    pub(super) samples: Vec<Sample>,
    pub(super) done: bool,
    pub(super) stats: LoaderStats,
    pub(super) bar: Option<indicatif::ProgressBar>,
}

impl Batches {
    /// The epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Batches left to yield.
    pub fn remaining(&self) -> u64 {
        if self.done { 0 } else { self.end - self.next }
    }

    /// The cursor to resume at the next batch this iterator would yield.
    pub fn cursor(&self) -> Cursor {
        let p = (self.next * self.config.batch_size as u64).min(self.plan.positions());
        self.stream_plan.cursor(self.epoch, p)
    }

    /// Throughput and stall accounting so far.
    pub fn stats(&self) -> &LoaderStats {
        &self.stats
    }

    fn shutdown(&mut self) {
        if let Some(q) = self.job_drain.take() {
            while q.try_recv().is_ok() {}
        }
        self.jobs = None; // workers see a closed channel once the queue is drained
        if let Some(rx) = &self.results {
            while rx.try_recv().is_ok() {}
        }
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
        self.results = None;
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if self.stats.batches > 0 {
            tracing::info!(epoch = self.epoch, "{}", self.stats.summary());
        }
    }

    fn finish(
        &mut self,
        index: u64,
        result: std::result::Result<Batch, Error>,
    ) -> Option<Result<LoadedBatch>> {
        let _span = tracing::trace_span!("handoff", epoch = self.epoch, batch = index).entered();
        match result {
            Ok(batch) => {
                self.stats.record(&batch);
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                    if self.stats.batches.is_multiple_of(32) {
                        bar.set_message(format!(
                            "stall {:.1}%",
                            self.stats.stall_fraction() * 100.0
                        ));
                    }
                }
                let p = ((index + 1) * self.config.batch_size as u64).min(self.plan.positions());
                Some(Ok(LoadedBatch {
                    batch,
                    taken: false,
                    epoch: self.epoch,
                    index,
                    cursor_after: self.stream_plan.cursor(self.epoch, p),
                    pool: Arc::clone(&self.pool),
                }))
            }
            Err(e) => {
                self.done = true;
                self.shutdown();
                Some(Err(e))
            }
        }
    }
}

/// What [`Batches::next_timeout`] found.
#[derive(Debug)]
// Returned by value and matched at once; boxing the batch would allocate on every call.
#[allow(clippy::large_enum_variant)]
pub enum Waited {
    /// What [`Iterator::next`] would have returned.
    Ready(Option<Result<LoadedBatch>>),
    /// The next batch was not ready within the time given; call again (nothing is lost).
    TimedOut,
}

impl Batches {
    /// Like [`Iterator::next`], but waits at most `timeout` for the workers; a caller that
    /// must stay responsive while it waits (to check for an interrupt, say) polls with it.
    /// Without workers the batch is computed inline and the timeout does not apply.
    pub fn next_timeout(&mut self, timeout: Duration) -> Waited {
        self.next_within(Some(timeout))
    }

    fn next_within(&mut self, timeout: Option<Duration>) -> Waited {
        if self.done {
            return Waited::Ready(None);
        }
        if self.next >= self.end {
            self.done = true;
            self.shutdown();
            return Waited::Ready(None);
        }
        let index = self.next;
        let Some(jobs) = &self.jobs else {
            // Inline: no workers.
            self.next += 1;
            let t = Instant::now();
            let result = compute(
                &*self.plan,
                &*self.dataset,
                &self.pool,
                &self.config,
                self.epoch,
                index,
                &mut self.samples,
            );
            self.stats.busy += t.elapsed();
            return Waited::Ready(self.finish(index, result));
        };
        // Keep up to `prefetch` batches requested beyond the one we need now.
        let window = self.config.prefetch.max(1) as u64;
        while self.submitted < self.end && self.submitted < index + window {
            if jobs.send(self.submitted).is_err() {
                break;
            }
            self.submitted += 1;
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        let done = loop {
            let slot = (index % self.pending.len() as u64) as usize;
            if self.pending[slot]
                .as_ref()
                .is_some_and(|d| d.index == index)
                && let Some(d) = self.pending[slot].take()
            {
                break d;
            }
            let Some(rx) = &self.results else {
                self.next += 1;
                return Waited::Ready(
                    self.finish(index, Err(Error::Invalid("loader workers are gone".into()))),
                );
            };
            let t = Instant::now();
            let got = match deadline {
                None => rx.recv().map_err(|_| false),
                Some(d) => rx
                    .recv_deadline(d)
                    .map_err(|e| e == crossbeam_channel::RecvTimeoutError::Timeout),
            };
            self.stats.wait += t.elapsed();
            match got {
                Ok(d) => {
                    let slot = (d.index % self.pending.len() as u64) as usize;
                    self.pending[slot] = Some(d);
                }
                Err(true) => return Waited::TimedOut,
                Err(false) => {
                    self.next += 1;
                    return Waited::Ready(self.finish(
                        index,
                        Err(Error::Invalid("loader workers exited unexpectedly".into())),
                    ));
                }
            }
        };
        self.next += 1;
        self.stats.busy += done.busy;
        Waited::Ready(self.finish(index, done.result))
    }
}

impl Iterator for Batches {
    type Item = Result<LoadedBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            // Without a deadline the wait only ends with a batch, an error or the end.
            if let Waited::Ready(item) = self.next_within(None) {
                return item;
            }
        }
    }
}

impl Drop for Batches {
    fn drop(&mut self) {
        self.shutdown();
    }
}
