//! The loader: worker threads compute whole batches by index, a reorder stage yields them in
//! plan order, prefetch is bounded, buffers come from a pool.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use biobatch_core::Batch;
use biobatch_sampling::{Cursor, EpochPlan, Plan, Sample, batch_positions, num_batches};
use crossbeam_channel::{Receiver, Sender};

use crate::dataset::BatchDataset;

mod batches;

use crate::stats::LoaderStats;
use crate::{Error, Result};
pub use batches::{Batches, LoadedBatch, Waited};

/// Loader settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoaderConfig {
    /// Samples per batch.
    pub batch_size: usize,
    /// Worker threads; 0 computes batches inline on the consumer's thread.
    pub num_workers: usize,
    /// Batches in flight at most (requested but not yet consumed).
    pub prefetch: usize,
    /// Drop a last batch shorter than `batch_size`.
    pub drop_last: bool,
}

impl LoaderConfig {
    /// Checks the settings.
    pub fn check(&self) -> Result<()> {
        if self.batch_size == 0 {
            return Err(Error::Invalid("batch_size must be at least 1".into()));
        }
        Ok(())
    }
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig {
            batch_size: 32,
            num_workers: 2,
            prefetch: 4,
            drop_last: false,
        }
    }
}

/// Batch buffers returned by consumers, handed out again to workers.
#[derive(Default)]
struct Pool {
    free: Mutex<Vec<Batch>>,
}

impl Pool {
    fn take(&self) -> Option<Batch> {
        self.free.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    fn give(&self, b: Batch) {
        self.free.lock().unwrap_or_else(|p| p.into_inner()).push(b);
    }

    fn len(&self) -> usize {
        self.free.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Runs a [`BatchDataset`] over a sampling [`Plan`].
///
/// The batch with index `b` of epoch `e` always holds positions `b·B .. (b+1)·B` of the plan's
/// epoch, whichever thread computed it, so the stream is identical for any `num_workers`.
pub struct Loader {
    dataset: Arc<dyn BatchDataset>,
    plan: Arc<dyn Plan>,
    config: LoaderConfig,
    pool: Arc<Pool>,
    progress: bool,
    /// The epoch plan [`Loader::get`] used last (building one can cost a permutation).
    last_plan: Mutex<Option<(u64, Arc<dyn EpochPlan>)>>,
}

impl std::fmt::Debug for Loader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("config", &self.config)
            .finish()
    }
}

impl Loader {
    /// A loader of `dataset` driven by `plan`.
    pub fn new(
        dataset: impl BatchDataset,
        plan: impl Plan + 'static,
        config: LoaderConfig,
    ) -> Result<Self> {
        Self::from_arcs(Arc::new(dataset), Arc::new(plan), config)
    }

    /// A loader over a shared dataset and plan.
    pub fn from_arcs(
        dataset: Arc<dyn BatchDataset>,
        plan: Arc<dyn Plan>,
        config: LoaderConfig,
    ) -> Result<Self> {
        config.check()?;
        Ok(Loader {
            dataset,
            plan,
            config,
            pool: Arc::new(Pool::default()),
            progress: false,
            last_plan: Mutex::new(None),
        })
    }

    /// Shows a progress bar on standard error (batches, rate and the consumer's stall share)
    /// while an epoch runs. Off by default; nothing is drawn when standard error is not a
    /// terminal.
    pub fn with_progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// Buffers waiting in the pool: returned by dropped batches, not yet handed out again
    /// (a batch kept alive, by a caller or a view of its memory, is not among them).
    pub fn pooled_buffers(&self) -> usize {
        self.pool.len()
    }

    /// The settings.
    pub fn config(&self) -> &LoaderConfig {
        &self.config
    }

    /// Batches per epoch.
    pub fn num_batches(&self) -> u64 {
        num_batches(
            self.plan.positions(),
            self.config.batch_size as u64,
            self.config.drop_last,
        )
    }

    /// Samples per epoch that batches cover.
    pub fn num_items(&self) -> u64 {
        if self.config.drop_last {
            self.num_batches() * self.config.batch_size as u64
        } else {
            self.plan.positions()
        }
    }

    /// Samples per epoch in the plan (before batching; `num_items` without `drop_last`).
    pub fn positions(&self) -> u64 {
        self.plan.positions()
    }

    /// The samples at `positions` of `epoch`'s stream as one batch, computed on the calling
    /// thread into a new buffer: a map-style view of the stream. Position `p` of epoch `e`
    /// is the same sample whichever batch holds it, so the samples of batch `b` are exactly
    /// positions `b·B .. (b+1)·B`.
    pub fn get(&self, epoch: u64, positions: std::ops::Range<u64>) -> Result<Batch> {
        let n = self.plan.positions();
        if positions.start >= positions.end || positions.end > n {
            return Err(Error::Invalid(format!(
                "positions {}..{} are not a non-empty range inside the epoch's {n}",
                positions.start, positions.end
            )));
        }
        let plan = {
            let mut last = self.last_plan.lock().unwrap_or_else(|p| p.into_inner());
            match &*last {
                Some((e, p)) if *e == epoch => Arc::clone(p),
                _ => {
                    let p = self.plan.epoch_plan(epoch)?;
                    *last = Some((epoch, Arc::clone(&p)));
                    p
                }
            }
        };
        let samples: Vec<Sample> = positions.clone().map(|p| plan.sample(p)).collect();
        let index = positions.start / self.config.batch_size as u64;
        fill_batch(&*self.dataset, None, samples.len(), &samples, epoch, index)
    }

    /// The batches of `epoch`, from the first.
    pub fn epoch(&self, epoch: u64) -> Result<Batches> {
        self.start(epoch, 0)
    }

    /// The batches after `cursor` (which must sit on a batch boundary, as the cursors of
    /// [`Batches::cursor`] and [`LoadedBatch::cursor_after`] do): exactly the batches an
    /// uninterrupted run would have produced next.
    pub fn resume(&self, cursor: &Cursor) -> Result<Batches> {
        let (epoch, position) = self.plan.resume(cursor)?;
        let b = self.config.batch_size as u64;
        if position % b != 0 {
            return Err(Error::Invalid(format!(
                "cursor position {position} is not on a batch boundary (batch size {b})"
            )));
        }
        self.start(epoch, position / b)
    }

    fn start(&self, epoch: u64, first_batch: u64) -> Result<Batches> {
        let plan = self.plan.epoch_plan(epoch)?;
        let end = self.num_batches();
        let mut it = Batches {
            epoch,
            next: first_batch.min(end),
            submitted: first_batch.min(end),
            end,
            plan: Arc::clone(&plan),
            stream_plan: Arc::clone(&self.plan),
            dataset: Arc::clone(&self.dataset),
            pool: Arc::clone(&self.pool),
            config: self.config,
            jobs: None,
            job_drain: None,
            results: None,
            workers: Vec::new(),
            pending: (0..self.config.prefetch.max(1)).map(|_| None).collect(),
            samples: Vec::new(),
            done: false,
            stats: LoaderStats::new(self.config.num_workers),
            bar: None,
        };
        if self.progress && it.next < end {
            let bar = indicatif::ProgressBar::new(end - it.next);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "epoch {prefix} {bar:30} {pos}/{len} batches {per_sec} eta {eta} {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_prefix(epoch.to_string());
            it.bar = Some(bar);
        }
        if self.config.num_workers > 0 && it.next < end {
            // Bounded (array-backed) channels: no allocation per message. At most `prefetch`
            // batches are in flight, so neither side ever blocks on a full channel.
            let window = self.config.prefetch.max(1);
            let (job_tx, job_rx) = crossbeam_channel::bounded::<u64>(window);
            let (res_tx, res_rx) = crossbeam_channel::bounded::<Done>(window);
            for w in 0..self.config.num_workers {
                let ctx = WorkerCtx {
                    worker: w,
                    epoch,
                    plan: Arc::clone(&plan),
                    dataset: Arc::clone(&self.dataset),
                    pool: Arc::clone(&self.pool),
                    config: self.config,
                    jobs: job_rx.clone(),
                    results: res_tx.clone(),
                };
                let handle = std::thread::Builder::new()
                    .name(format!("biobatch-loader-{w}"))
                    .spawn(move || ctx.run())
                    .map_err(|e| Error::Invalid(format!("cannot start a loader thread: {e}")))?;
                it.workers.push(handle);
            }
            it.jobs = Some(job_tx);
            it.job_drain = Some(job_rx);
            it.results = Some(res_rx);
        }
        Ok(it)
    }
}

/// A finished batch (or its failure) from a worker.
struct Done {
    index: u64,
    result: std::result::Result<Batch, Error>,
    busy: Duration,
}

struct WorkerCtx {
    worker: usize,
    epoch: u64,
    plan: Arc<dyn EpochPlan>,
    dataset: Arc<dyn BatchDataset>,
    pool: Arc<Pool>,
    config: LoaderConfig,
    jobs: Receiver<u64>,
    results: Sender<Done>,
}

impl WorkerCtx {
    fn run(self) {
        let _span = tracing::debug_span!("loader_worker", worker = self.worker, epoch = self.epoch)
            .entered();
        let mut samples = Vec::with_capacity(buffer_rows(&self.config, &*self.plan));
        while let Ok(index) = self.jobs.recv() {
            let t = Instant::now();
            let result = compute(
                &*self.plan,
                &*self.dataset,
                &self.pool,
                &self.config,
                self.epoch,
                index,
                &mut samples,
            );
            let done = Done {
                index,
                result,
                busy: t.elapsed(),
            };
            if self.results.send(done).is_err() {
                break; // the consumer is gone
            }
        }
    }
}

/// Rows of a batch buffer: the batch size, or the epoch's length when that is shorter (a batch
/// size of 10^9 over a few hundred examples allocates a few hundred rows, not terabytes).
fn buffer_rows(config: &LoaderConfig, plan: &dyn EpochPlan) -> usize {
    let positions = usize::try_from(plan.positions()).unwrap_or(usize::MAX);
    config.batch_size.min(positions.max(1))
}

/// Computes batch `index` of an epoch into a pooled buffer. Panics in the dataset are caught
/// and returned as [`Error::Panic`].
fn compute(
    plan: &dyn EpochPlan,
    dataset: &dyn BatchDataset,
    pool: &Pool,
    config: &LoaderConfig,
    epoch: u64,
    index: u64,
    samples: &mut Vec<Sample>,
) -> std::result::Result<Batch, Error> {
    let _span = tracing::trace_span!("fetch", epoch, batch = index).entered();
    {
        let _plan = tracing::trace_span!("plan").entered();
        let positions = batch_positions(index, config.batch_size as u64, plan.positions());
        samples.clear();
        samples.extend(positions.map(|p| plan.sample(p)));
    }
    let _assemble = tracing::trace_span!("assemble").entered();
    let rows = buffer_rows(config, plan);
    fill_batch(dataset, Some(pool), rows, samples, epoch, index)
}

/// Fills `samples` into a buffer (from `pool` when it has one, else a new one of `rows`
/// rows). Errors and panics in the dataset become [`Error::Batch`] / [`Error::Panic`] naming
/// the epoch and batch.
fn fill_batch(
    dataset: &dyn BatchDataset,
    pool: Option<&Pool>,
    rows: usize,
    samples: &[Sample],
    epoch: u64,
    index: u64,
) -> std::result::Result<Batch, Error> {
    let outcome = catch_unwind(AssertUnwindSafe(
        || -> std::result::Result<Batch, crate::error::BoxError> {
            let mut buf = match pool.and_then(Pool::take) {
                Some(b) => b,
                None => dataset.new_buffer(rows)?,
            };
            if buf.batch_size().ok().flatten() != Some(samples.len()) {
                buf.set_rows(samples.len())?;
            }
            dataset.fill(samples, &mut buf)?;
            Ok(buf)
        },
    ));
    match outcome {
        Ok(Ok(b)) => Ok(b),
        Ok(Err(source)) => Err(Error::Batch {
            epoch,
            index,
            source,
        }),
        Err(panic) => Err(Error::Panic {
            epoch,
            index,
            message: crate::error::panic_message(panic),
        }),
    }
}
