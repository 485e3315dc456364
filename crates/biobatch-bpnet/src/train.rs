//! Training BPNet on a [`PeakDataset`]: Adam, a held-out validation set by chromosome, early
//! stopping on validation loss, per-epoch metrics, and checkpoints (model, optimizer state,
//! epoch and the loader's cursor) that resume exactly.

use std::path::Path;
use std::time::Instant;

use biobatch_core::Batch;
use biobatch_datasets::{OneHotDtype, PeakDataset};
use biobatch_formats::fasta::Fasta;
use biobatch_loader::ahead::Ahead;
use biobatch_loader::burn::HostBatch;
use biobatch_loader::{LoadedBatch, Loader};
use biobatch_sampling::{Cursor, Partition};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;

use crate::checkpoint::{self, State};
use crate::config::{EpochReport, History, StopReason, TrainConfig};
use crate::loss::{count_loss, default_count_weight, mnll_constants, profile_loss, task_totals};
use crate::metrics::{Accumulator, Metrics};
use crate::model::{Bpnet, BpnetConfig};
use crate::precision::LossScale;
use crate::{BoxError, Error, Result};

/// What a training run tells its caller as it goes. Every method has a default that does
/// nothing; `()` observes nothing.
pub trait Observer {
    /// An epoch ended and was validated.
    fn epoch(&mut self, report: &EpochReport) {
        let _ = report;
    }

    /// A model folder is staged — weights, settings and history written — and is about to be
    /// renamed into place: add files to `staged` (the zoo's description of the model). An
    /// error stops training (the folder is not renamed into place).
    fn model_staged(&mut self, staged: &Path, config: &TrainConfig) -> Result<(), BoxError> {
        let _ = (staged, config);
        Ok(())
    }

    /// A better model is in place at `dir`, from `epoch`.
    fn model_saved(&mut self, dir: &Path, epoch: u64) {
        let _ = (dir, epoch);
    }
}

impl Observer for () {}

/// An [`Observer`] that only sees epochs.
pub struct OnEpoch<F>(pub F);

impl<F: FnMut(&EpochReport)> Observer for OnEpoch<F> {
    fn epoch(&mut self, report: &EpochReport) {
        (self.0)(report)
    }
}

/// Training and validation datasets of a configuration: the validation set is the peaks on
/// `validation_chroms`, centred (no jitter, no reverse complement, no negatives).
fn datasets(c: &TrainConfig) -> Result<(PeakDataset, PeakDataset)> {
    let fasta = Fasta::open(&c.peaks.fasta)?;
    let all: Vec<String> = fasta.chroms().map(|(n, _)| n.to_string()).collect();
    if let Some(v) = c.validation_chroms.iter().find(|v| !all.contains(v)) {
        return Err(Error::ValidationChrom {
            chrom: v.clone(),
            fasta: c.peaks.fasta.clone(),
            available: all.join(", "),
        });
    }
    let wanted = |name: &String| c.peaks.chroms.is_empty() || c.peaks.chroms.contains(name);
    let mut train = c.peaks.clone();
    train.chroms = all
        .iter()
        .filter(|n| wanted(n) && !c.validation_chroms.contains(n))
        .cloned()
        .collect();
    train.onehot_dtype = OneHotDtype::F32;
    let mut val = train.clone();
    val.chroms = c.validation_chroms.clone();
    val.max_jitter = 0;
    val.reverse_complement = false;
    val.shuffle = false;
    val.negative_ratio = 0.0;
    val.negatives = Vec::new();
    val.loader.num_workers = 1;
    Ok((PeakDataset::open(&train)?, PeakDataset::open(&val)?))
}

/// The model settings implied by the data (tasks, controls, windows).
pub fn model_config(c: &TrainConfig, ds: &PeakDataset) -> BpnetConfig {
    BpnetConfig {
        tasks: c.peaks.signals.iter().map(Vec::len).collect(),
        control_tracks: ds.num_control_tracks(),
        in_window: c.peaks.in_window as usize,
        out_window: c.peaks.out_window as usize,
        ..c.model.clone()
    }
}

/// Tensors of one batch, and its targets on the host.
struct Step {
    x: Tensor<3>,
    controls: Option<Tensor<3>>,
    y: Tensor<3>,
    constants: Tensor<2>,
    totals: Tensor<2>,
    targets: Vec<f32>,
    /// Seconds spent staging the batch and creating its tensors.
    transfer: f64,
}

impl Step {
    /// The batch's tensors on `device`: its host buffers staged (pinned memory on GPU
    /// backends), then each tensor created from them. Called on the feed thread.
    fn new(batch: Batch, tasks: &[usize], device: &Device) -> Result<Step> {
        let sig = batch.array("targets/signal")?;
        let shape = sig.shape().to_vec();
        let (b, len) = (shape[0], shape[2]);
        let targets = sig.as_slice::<f32>()?.to_vec();
        let constants = mnll_constants(&targets, b, tasks, len);
        let totals = task_totals(&targets, b, tasks, len);
        let has_controls = batch.array("inputs/controls").is_ok();
        let t0 = Instant::now();
        let mut host = HostBatch::from_batch(batch)?;
        host.stage(device);
        let g = tasks.len();
        let mut small = [
            TensorData::new(constants, [b, g]),
            TensorData::new(totals, [b, g]),
        ];
        device.staging(small.iter_mut());
        let [constants, totals] = small;
        Ok(Step {
            x: host.float::<3>("inputs/seq", device)?,
            controls: if has_controls {
                Some(host.float::<3>("inputs/controls", device)?)
            } else {
                None
            },
            y: host.float::<3>("targets/signal", device)?,
            constants: Tensor::from_data(constants, device),
            totals: Tensor::from_data(totals, device),
            targets,
            transfer: t0.elapsed().as_secs_f64(),
        })
    }

    /// The same tensors with autodiff enabled (a wrapper, no copy), for the training step.
    fn autodiff(self) -> Step {
        Step {
            x: self.x.autodiff(),
            controls: self.controls.map(Tensor::autodiff),
            y: self.y.autodiff(),
            constants: self.constants.autodiff(),
            totals: self.totals.autodiff(),
            ..self
        }
    }

    /// Examples in the batch.
    fn examples(&self, c: &BpnetConfig) -> usize {
        self.targets.len() / (c.output_tracks() * c.out_window)
    }
}

/// A training batch made ready on the feed thread, with where it sits in the epoch.
struct Fed {
    step: Step,
    cursor: Cursor,
    index: u64,
    digest: Option<u64>,
}

fn feed_one(
    b: biobatch_loader::Result<LoadedBatch>,
    tasks: &[usize],
    device: &Device,
    digest: bool,
) -> Result<Fed> {
    let b = b?;
    let cursor = b.cursor_after();
    let index = b.index();
    let batch = b.into_inner();
    let digest = digest.then(|| batch.digest());
    Ok(Fed {
        step: Step::new(batch, tasks, device)?,
        cursor,
        index,
        digest,
    })
}

/// `(total, profile, count)` losses of a batch.
fn losses(
    model: &Bpnet,
    s: &Step,
    tasks: &[usize],
    weight: f64,
) -> (Tensor<1>, Tensor<3>, Tensor<2>, Tensor<1>, Tensor<1>) {
    let (logits, log_counts) = model.forward(s.x.clone(), s.controls.clone());
    let p = profile_loss(logits.clone(), s.y.clone(), s.constants.clone(), tasks);
    let c = count_loss(log_counts.clone(), s.totals.clone());
    let total = p.clone() + c.clone().mul_scalar(weight);
    (total, logits, log_counts, p, c)
}

/// Validation metrics of `model` on `loader`'s epoch 0 (tensors built `depth` batches ahead),
/// computed in `precision`.
fn validate(
    model: &Bpnet,
    loader: &Loader,
    config: &TrainConfig,
    weight: f64,
    device: &Device,
) -> Result<Metrics> {
    let (c, depth) = (&config.model, config.device_prefetch);
    let valid = model.valid();
    let cast = config.precision.compute_model(&valid);
    let eval = cast.as_ref().unwrap_or(&valid);
    let dev = device.clone().without_autodiff();
    let mut acc = Accumulator::new(&c.tasks, c.out_window);
    let batches = loader.epoch(0)?;
    std::thread::scope(|scope| {
        let steps = batches.map(|b| Step::new(b?.into_inner(), &c.tasks, &dev));
        for s in Ahead::with_depth(scope, steps, depth)? {
            let s = s?;
            let (total, logits, log_counts, p, cl) = losses(eval, &s, &c.tasks, weight);
            let logits = logits
                .into_data()
                .try_into_vec::<f32>()
                .map_err(Error::Tensor)?;
            let log_counts = log_counts
                .into_data()
                .try_into_vec::<f32>()
                .map_err(Error::Tensor)?;
            acc.add(
                &logits,
                &s.targets,
                &log_counts,
                (
                    total.into_scalar::<f32>() as f64,
                    p.into_scalar::<f32>() as f64,
                    cl.into_scalar::<f32>() as f64,
                ),
            );
        }
        Ok(acc.finish())
    })
}

/// The backend's random generator is one per process: seeding and drawing the initial
/// weights happen under this lock, so runs in one process (tests, sweeps) do not interleave.
static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A model initialised from `seed` (every parameter drawn now, in declaration order) on the
/// CPU's generator, then moved to `device`: the same initial weights on every device.
fn init_model(c: &BpnetConfig, device: &Device, seed: u64) -> Bpnet {
    let cpu = Device::flex().autodiff();
    let _guard = INIT.lock().unwrap_or_else(|p| p.into_inner());
    cpu.seed(seed);
    let model = c.init(&cpu);
    // Parameters are drawn lazily, at first use; materialise them while the lock is held.
    let _ = model.clone().into_record();
    if *device == cpu {
        model
    } else {
        // `fork`, not `to_device`: the copy is a leaf of its own graph on the device.
        model.fork(device)
    }
}

/// Trains (or, with `resume`, continues from `OUT/checkpoint`) and returns the history.
/// `observer` sees every epoch's report and every model folder before and after it is
/// written; see [`crate::checkpoint`] for what is written where.
pub fn train(config: &TrainConfig, resume: bool, observer: &mut dyn Observer) -> Result<History> {
    // The settings and the device first: a device this build lacks fails before any data is
    // read.
    config.check()?;
    let device = config.device.device()?;
    config.precision.check(&device, config.device)?;
    let device = device.autodiff();
    let (train_ds, val_ds) = datasets(config)?;
    let mut c = config.clone();
    c.model = model_config(config, &train_ds);
    c.model.check()?;
    let weight = c
        .count_loss_weight
        .unwrap_or_else(|| default_count_weight(&train_ds.peak_totals()));
    tracing::info!(device = %c.device, "training device");
    let mut model = init_model(&c.model, &device, c.init_seed);
    let mut optim = AdamConfig::new().with_epsilon(1e-7).init();
    let loader = train_ds.into_loader(Partition::single())?;
    let val_loader = val_ds.into_loader(Partition::single())?;
    let (mut state, mut next) = if resume {
        let (m, o, state) = checkpoint::load(&c.checkpoint_dir(), model, optim)?;
        (model, optim) = (m, o);
        let cursor: Cursor = state.cursor.parse()?;
        (state, Some(cursor))
    } else {
        (
            State {
                cursor: String::new(),
                batches: 0,
                history: History {
                    count_loss_weight: weight,
                    ..Default::default()
                },
                epochs_since_best: 0,
                epoch_loss: 0.0,
                epoch_batches: 0,
                epoch_examples: 0,
            },
            None,
        )
    };
    if c.precision.scales_loss() && state.history.loss_scale.is_none() {
        state.history.loss_scale = Some(LossScale::default());
    }
    let tasks = c.model.tasks.clone();
    // A cursor at the end of an epoch whose report was not made yet (interrupted right
    // after its last batch) resumes with that epoch's validation.
    let (first_epoch, finished_epoch) = match &next {
        Some(cur) if cur.position >= loader.num_items() => {
            let reported = state.history.epochs.iter().any(|r| r.epoch == cur.epoch);
            if reported {
                (cur.epoch + 1, None)
            } else {
                (cur.epoch, Some(cur.epoch))
            }
        }
        Some(cur) => (cur.epoch, None),
        None => (0, None),
    };
    // Tensors are built on the device without autodiff (on the feed thread); the step wraps
    // them.
    let feed_device = device.clone().without_autodiff();
    for epoch in first_epoch..c.epochs {
        let t0 = Instant::now();
        let (mut wait, mut transfer) = (0.0, 0.0);
        let batches = match next.take() {
            _ if finished_epoch == Some(epoch) => None,
            Some(cur) if cur.epoch == epoch => Some(loader.resume(&cur)?),
            _ => {
                (state.epoch_loss, state.epoch_batches, state.epoch_examples) = (0.0, 0, 0);
                Some(loader.epoch(epoch)?)
            }
        };
        // The model moves into the epoch's scope and back (a step consumes it).
        let (trained, interrupted) = std::thread::scope(|scope| -> Result<(Bpnet, bool)> {
            let mut model = model;
            let Some(batches) = batches else {
                return Ok((model, false));
            };
            let items = batches.map(|b| feed_one(b, &tasks, &feed_device, c.log_batches));
            let mut feed = Ahead::with_depth(scope, items, c.device_prefetch)?;
            loop {
                let tw = Instant::now();
                let Some(f) = feed.next() else { break };
                wait += tw.elapsed().as_secs_f64();
                let ts = Instant::now();
                let f = f?;
                transfer += f.step.transfer;
                if let Some(d) = f.digest {
                    state
                        .history
                        .batches
                        .push((epoch, f.index, format!("{d:016x}")));
                }
                let s = f.step.autodiff();
                let examples = s.examples(&c.model);
                state.epoch_examples += examples;
                let cast = c.precision.compute_model(&model);
                let (total, ..) = losses(cast.as_ref().unwrap_or(&model), &s, &tasks, weight);
                state.epoch_loss += total.clone().into_scalar::<f32>() as f64;
                state.epoch_batches += 1;
                // (A loss-scaled checkpoint resumed in another precision keeps its record
                // but scales no more.)
                let scale = state
                    .history
                    .loss_scale
                    .as_mut()
                    .filter(|_| c.precision.scales_loss());
                let backward = match &scale {
                    Some(ls) => total.mul_scalar(ls.scale).backward(),
                    None => total.backward(),
                };
                let mut grads = GradientsParams::from_grads(backward, &model);
                // With loss scaling, a step whose gradients overflowed is skipped.
                let finite = scale.is_none_or(|ls| {
                    let ok = ls.unscale(&mut grads, &model);
                    ls.update(ok);
                    ok
                });
                if finite {
                    model = optim.step(c.learning_rate, model, grads);
                }
                state.history.step_seconds += ts.elapsed().as_secs_f64();
                state.history.examples_trained += examples as u64;
                state.batches += 1;
                state.cursor = f.cursor.to_string();
                let interrupted = c.stop_after_batches.is_some_and(|m| state.batches >= m);
                if interrupted || c.checkpoint_every.is_some_and(|k| state.batches % k == 0) {
                    checkpoint::save(&c.checkpoint_dir(), &model, &optim, &state)?;
                }
                if interrupted {
                    return Ok((model, true));
                }
            }
            Ok((model, false))
        })?;
        model = trained;
        state.history.wait_seconds += wait;
        state.history.transfer_seconds += transfer;
        if interrupted {
            state.history.stopped = Some(StopReason::Interrupted);
            return Ok(state.history);
        }
        let secs = t0.elapsed().as_secs_f64();
        let validation = validate(&model, &val_loader, &c, weight, &device)?;
        let report = EpochReport {
            epoch,
            train_loss: state.epoch_loss / state.epoch_batches.max(1) as f64,
            validation,
            examples_per_s: state.epoch_examples as f64 / (secs - wait).max(1e-9),
            wait_share: wait / secs.max(1e-9),
            seconds: secs,
            wait_seconds: wait,
            transfer_seconds: transfer,
        };
        tracing::info!(
            epoch,
            train_loss = report.train_loss,
            val_loss = validation.loss,
            "epoch done"
        );
        observer.epoch(&report);
        state.history.epochs.push(report);
        let better = state.history.best.is_none_or(|(b, _)| validation.loss < b);
        if better {
            state.history.best = Some((validation.loss, epoch));
            state.epochs_since_best = 0;
            let dir = c.model_dir();
            checkpoint::save_model(&dir, &c, &model, &state.history, &mut |d| {
                observer
                    .model_staged(d, &c)
                    .map_err(|source| Error::Observer {
                        dir: d.to_path_buf(),
                        source,
                    })
            })?;
            observer.model_saved(&dir, epoch);
        } else {
            state.epochs_since_best += 1;
        }
        checkpoint::save(&c.checkpoint_dir(), &model, &optim, &state)?;
        if state.epochs_since_best >= c.patience {
            state.history.stopped = Some(StopReason::EarlyStop);
            break;
        }
    }
    if state.history.stopped.is_none() {
        state.history.stopped = Some(StopReason::Epochs);
    }
    // The model folder gets the whole run's history (the folder replaced whole).
    if c.model_dir().join("history.json").is_file() {
        checkpoint::replace_history(&c.model_dir(), &state.history)?;
    }
    Ok(state.history)
}
