//! Training BPNet on a [`PeakDataset`]: Adam, a held-out validation set by chromosome, early
//! stopping on validation loss, per-epoch metrics, and checkpoints (model, optimizer state,
//! epoch and the loader's cursor) that resume exactly.

use std::path::{Path, PathBuf};
use std::time::Instant;

use biobatch_core::Batch;
use biobatch_datasets::{OneHotDtype, PeakConfig, PeakDataset};
use biobatch_formats::fasta::Fasta;
use biobatch_loader::Loader;
use biobatch_loader::burn::HostBatch;
use biobatch_sampling::{Cursor, Partition};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::loss::{count_loss, default_count_weight, mnll_constants, profile_loss, task_totals};
use super::metrics::{Accumulator, Metrics};
use super::model::{Bpnet, BpnetConfig};
use crate::{DeviceChoice, Error, Result};

/// Every setting of a training run (TOML: top-level keys, `[peaks]` and `[model]` tables).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// The peak loader (its windows, jitter, negatives, batch size, workers, seed).
    pub peaks: PeakConfig,
    /// The architecture (`tasks`, `control_tracks` and the windows come from `peaks`).
    pub model: BpnetConfig,
    /// Where the model, its settings, metrics and checkpoints go.
    pub out: PathBuf,
    /// Chromosomes held out for validation [`chr2`].
    pub validation_chroms: Vec<String>,
    /// Most epochs [20].
    pub epochs: u64,
    /// Adam's learning rate [0.001].
    pub learning_rate: f64,
    /// Stop after this many epochs without a better validation loss [5].
    pub patience: u64,
    /// Weight of the count loss (default: median total peak signal / 10, as bpnet-lite).
    pub count_loss_weight: Option<f64>,
    /// Also checkpoint every this many batches within an epoch.
    pub checkpoint_every: Option<u64>,
    /// Stop (as if interrupted) after this many batches in all, having checkpointed.
    pub stop_after_batches: Option<u64>,
    /// Record a digest of every training batch in `history.json` (to check resume).
    pub log_batches: bool,
    /// Seed of the parameter initialisation.
    pub init_seed: u64,
    /// Where to train: `cpu` (default), or `wgpu` / `wgpu:N` in a build with the `wgpu`
    /// feature. Batches are bit-identical on any device; the arithmetic is not.
    pub device: DeviceChoice,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            peaks: PeakConfig {
                seed: Some(0),
                batch_size: 64,
                ..Default::default()
            },
            model: BpnetConfig::default(),
            out: PathBuf::from("bpnet-model"),
            validation_chroms: vec!["chr2".into()],
            epochs: 20,
            learning_rate: 1e-3,
            patience: 5,
            count_loss_weight: None,
            checkpoint_every: None,
            stop_after_batches: None,
            log_batches: false,
            init_seed: 0,
            device: DeviceChoice::Cpu,
        }
    }
}

/// One epoch's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// The epoch.
    pub epoch: u64,
    /// Mean training loss.
    pub train_loss: f64,
    /// Validation figures.
    pub validation: Metrics,
    /// Training examples per second (forward, backward, step).
    pub examples_per_s: f64,
    /// Share of the epoch the trainer spent waiting for batches.
    pub wait_share: f64,
}

/// What a run did (written to `history.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Per-epoch records.
    pub epochs: Vec<EpochReport>,
    /// The count-loss weight used.
    pub count_loss_weight: f64,
    /// Best validation loss, and its epoch.
    pub best: Option<(f64, u64)>,
    /// `(epoch, index, digest)` of every training batch, with `log_batches`.
    pub batches: Vec<(u64, u64, String)>,
    /// Why the run ended: `epochs`, `early_stop` or `interrupted`.
    pub stopped: String,
    /// Training examples processed over the run (a resumed run adds to it).
    pub examples_trained: u64,
    /// Seconds in training steps (forward, backward, optimizer) over the run.
    pub step_seconds: f64,
    /// Seconds the trainer waited for the loader over the run.
    pub wait_seconds: f64,
}

/// The resumable state of a run (`checkpoint/state.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    /// Cursor after the last batch trained on.
    cursor: String,
    /// Batches trained on so far.
    batches: u64,
    history: History,
    epochs_since_best: u64,
    /// Sums of the epoch in progress: loss, batches, examples.
    epoch_loss: f64,
    epoch_batches: usize,
    epoch_examples: usize,
}

/// Training and validation datasets of a configuration: the validation set is the peaks on
/// `validation_chroms`, centred (no jitter, no reverse complement, no negatives).
fn datasets(c: &TrainConfig) -> Result<(PeakDataset, PeakDataset)> {
    let fasta = Fasta::open(&c.peaks.fasta)?;
    let all: Vec<String> = fasta.chroms().map(|(n, _)| n.to_string()).collect();
    if let Some(v) = c.validation_chroms.iter().find(|v| !all.contains(v)) {
        return Err(Error::Invalid(format!(
            "validation chromosome `{v}` is not in {} (it has {})",
            c.peaks.fasta.display(),
            all.join(", ")
        )));
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
    val.num_workers = 1;
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
}

fn step_of(batch: Batch, tasks: &[usize], device: &Device) -> Result<Step> {
    let sig = batch.array("targets/signal")?;
    let shape = sig.shape().to_vec();
    let (b, len) = (shape[0], shape[2]);
    let targets = sig.as_slice::<f32>()?.to_vec();
    let constants = mnll_constants(&targets, b, tasks, len);
    let totals = task_totals(&targets, b, tasks, len);
    let has_controls = batch.array("inputs/controls").is_ok();
    let mut host = HostBatch::from_batch(batch)?;
    let g = tasks.len();
    Ok(Step {
        x: host.float::<3>("inputs/seq", device)?,
        controls: if has_controls {
            Some(host.float::<3>("inputs/controls", device)?)
        } else {
            None
        },
        y: host.float::<3>("targets/signal", device)?,
        constants: Tensor::from_data(TensorData::new(constants, [b, g]), device),
        totals: Tensor::from_data(TensorData::new(totals, [b, g]), device),
        targets,
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

/// Validation metrics of `model` on `loader`'s epoch 0.
fn validate(
    model: &Bpnet,
    loader: &Loader,
    c: &BpnetConfig,
    weight: f64,
    device: &Device,
) -> Result<Metrics> {
    let eval = model.valid();
    let dev = device.clone().without_autodiff();
    let mut acc = Accumulator::new(&c.tasks, c.out_window);
    for b in loader.epoch(0)? {
        let s = step_of(b?.into_inner(), &c.tasks, &dev)?;
        let (total, logits, log_counts, p, cl) = losses(&eval, &s, &c.tasks, weight);
        let logits = logits
            .into_data()
            .try_into_vec::<f32>()
            .map_err(tensor_err)?;
        let log_counts = log_counts
            .into_data()
            .try_into_vec::<f32>()
            .map_err(tensor_err)?;
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
}

fn tensor_err(e: impl std::fmt::Debug) -> Error {
    Error::Invalid(format!("reading a tensor back: {e:?}"))
}

fn batch_digest(b: &Batch) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for (path, a) in b.leaves() {
        h.update(path.as_bytes());
        if let Ok(v) = a.as_slice::<f32>() {
            h.update(bytemuck::cast_slice(v));
        } else if let Ok(v) = a.as_slice::<i64>() {
            h.update(bytemuck::cast_slice(v));
        }
    }
    format!("{:016x}", h.digest())
}

/// Writes `files` into `dir` atomically: a temporary sibling directory, renamed over `dir`.
fn write_dir(dir: &Path, files: &mut dyn FnMut(&Path) -> Result<()>) -> Result<()> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempdir_in(parent)
        .map_err(|e| Error::io(parent, e))?;
    files(tmp.path())?;
    let old = parent.join(format!(
        ".old-{}",
        dir.file_name().and_then(|n| n.to_str()).unwrap_or("dir")
    ));
    let _ = std::fs::remove_dir_all(&old);
    if dir.exists() {
        std::fs::rename(dir, &old).map_err(|e| Error::io(dir, e))?;
    }
    let tmp = tmp.keep();
    std::fs::rename(&tmp, dir).map_err(|e| Error::io(dir, e))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

fn json(path: &Path, v: &impl Serialize) -> Result<()> {
    let text = serde_json::to_vec_pretty(v).map_err(|e| Error::Invalid(e.to_string()))?;
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

fn record_err(e: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("model or optimizer file: {e}"))
}

/// Saves a checkpoint (model, optimizer, state) into `out/checkpoint` atomically.
fn checkpoint(out: &Path, model: &Bpnet, optim: &ModuleOptimizer, state: &State) -> Result<()> {
    write_dir(&out.join("checkpoint"), &mut |d| {
        model
            .clone()
            .save_file(d.join("model.bpk"))
            .map_err(record_err)?;
        optim.save(d.join("optim.bpk")).map_err(record_err)?;
        json(&d.join("state.json"), state)
    })
}

/// The trained model's directory: `config.json` (the run's settings, with the model's),
/// `model.bpk` (and the same weights as `model.safetensors`, in bpnet-lite's names),
/// `history.json`, and `model.yaml` + `dataloader.yaml` (its zoo description:
/// `biobatch zoo predict DIR` runs it).
fn save_model(out: &Path, c: &TrainConfig, model: &Bpnet, history: &History) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    write_dir(&out.join("model"), &mut |d| {
        model
            .clone()
            .save_file(d.join("model.bpk"))
            .map_err(record_err)?;
        super::weights::save_safetensors(model, &d.join("model.safetensors"))?;
        json(&d.join("config.json"), c)?;
        json(&d.join("history.json"), history)?;
        std::fs::write(d.join("model.yaml"), super::export::model_yaml(c))
            .map_err(|e| Error::io(d, e))?;
        let example = match super::export::example_loci(c)? {
            Some(text) => {
                let f = d.join(super::export::EXAMPLE_FILE);
                if let Some(dir) = f.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                }
                std::fs::write(&f, text).map_err(|e| Error::io(&f, e))?;
                Some(super::export::EXAMPLE_FILE)
            }
            None => None,
        };
        std::fs::write(
            d.join("dataloader.yaml"),
            super::export::dataloader_yaml(c, example),
        )
        .map_err(|e| Error::io(d, e))
    })
}

/// The final model's predictions on its example loci, through the zoo's own pipeline, as
/// `expected.parquet`, and a `test:` section in its model.yaml that names them: so `biobatch
/// zoo test DIR` checks that the folder, wherever it is copied, still predicts the same.
/// The expected file is written first and model.yaml replaced last, each atomically.
fn write_expected(dir: &Path) -> Result<()> {
    use crate::zoo::{dataloaders::choose, predict, source::resolve_dir};
    if !dir.join(super::export::EXAMPLE_FILE).is_file() {
        return Ok(());
    }
    let m = resolve_dir(dir)?;
    let examples = choose(&m, &serde_json::Map::new(), true, None)?;
    let opts = predict::PredictOptions {
        batch_size: 16,
        num_workers: 0,
        ..Default::default()
    };
    predict::predict_to_file(&m, &examples.args, &dir.join(EXPECTED), &opts, None)?;
    let yaml = dir.join("model.yaml");
    let mut text = std::fs::read_to_string(&yaml).map_err(|e| Error::io(&yaml, e))?;
    text.push_str(&format!(
        "test:\n  expect: {EXPECTED}\n  precision_decimal: 3\n"
    ));
    let tmp = dir.join(".model.yaml.tmp");
    std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, &yaml).map_err(|e| Error::io(&yaml, e))
}

/// The expected predictions of a trained model (see [`write_expected`]).
const EXPECTED: &str = "expected.parquet";

/// The backend's random generator is one per process: seeding and drawing the initial
/// weights happen under this lock, so runs in one process (tests, sweeps) do not interleave.
static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A model initialised from `seed` (every parameter drawn now, in declaration order).
fn init_model(c: &BpnetConfig, device: &Device, seed: u64) -> Bpnet {
    let _guard = INIT.lock().unwrap_or_else(|p| p.into_inner());
    device.seed(seed);
    let model = c.init(device);
    // Parameters are drawn lazily, at first use; materialise them while the lock is held.
    let _ = model.clone().into_record();
    model
}

/// Trains (or, with `resume`, continues from `out/checkpoint`) and returns the history.
/// `on_epoch` sees every epoch's report as it is made.
pub fn train(
    config: &TrainConfig,
    resume: bool,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> Result<History> {
    // The device first: a device this build lacks fails before any data is read.
    let device = config.device.device()?.autodiff();
    let (train_ds, val_ds) = datasets(config)?;
    let mut c = config.clone();
    c.model = model_config(config, &train_ds);
    c.model.check().map_err(Error::Invalid)?;
    let weight = c
        .count_loss_weight
        .unwrap_or_else(|| default_count_weight(&train_ds.peak_totals()));
    tracing::info!(device = %c.device, "training device");
    let mut model = init_model(&c.model, &device, c.init_seed);
    let mut optim = AdamConfig::new().with_epsilon(1e-7).init();
    let loader = train_ds.into_loader(Partition::single())?;
    let val_loader = val_ds.into_loader(Partition::single())?;
    let (mut state, mut next) = if resume {
        let d = c.out.join("checkpoint");
        let text = std::fs::read(d.join("state.json")).map_err(|e| Error::io(&d, e))?;
        let state: State = serde_json::from_slice(&text)
            .map_err(|e| Error::Invalid(format!("{}: {e}", d.join("state.json").display())))?;
        model = model
            .try_load_file(d.join("model.bpk"))
            .map_err(record_err)?;
        optim = optim.load(d.join("optim.bpk")).map_err(record_err)?;
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
    for epoch in first_epoch..c.epochs {
        let t0 = Instant::now();
        let mut wait = 0.0;
        let mut it = match next.take() {
            _ if finished_epoch == Some(epoch) => None,
            Some(cur) if cur.epoch == epoch => Some(loader.resume(&cur)?),
            _ => {
                (state.epoch_loss, state.epoch_batches, state.epoch_examples) = (0.0, 0, 0);
                Some(loader.epoch(epoch)?)
            }
        };
        while let Some(batches) = it.as_mut() {
            let tw = Instant::now();
            let Some(b) = batches.next() else { break };
            let waited = tw.elapsed().as_secs_f64();
            wait += waited;
            state.history.wait_seconds += waited;
            let ts = Instant::now();
            let b = b?;
            let cursor = b.cursor_after();
            let index = b.index();
            let batch = b.into_inner();
            if c.log_batches {
                state
                    .history
                    .batches
                    .push((epoch, index, batch_digest(&batch)));
            }
            let s = step_of(batch, &tasks, &device)?;
            state.epoch_examples +=
                s.targets.len() / (c.model.output_tracks() * c.model.out_window);
            let (total, ..) = losses(&model, &s, &tasks, weight);
            state.epoch_loss += total.clone().into_scalar::<f32>() as f64;
            state.epoch_batches += 1;
            let grads = GradientsParams::from_grads(total.backward(), &model);
            model = optim.step(c.learning_rate, model, grads);
            state.history.step_seconds += ts.elapsed().as_secs_f64();
            state.history.examples_trained +=
                (s.targets.len() / (c.model.output_tracks() * c.model.out_window)) as u64;
            state.batches += 1;
            state.cursor = cursor.to_string();
            let interrupted = c.stop_after_batches.is_some_and(|m| state.batches >= m);
            if interrupted || c.checkpoint_every.is_some_and(|k| state.batches % k == 0) {
                checkpoint(&c.out, &model, &optim, &state)?;
            }
            if interrupted {
                state.history.stopped = "interrupted".into();
                return Ok(state.history);
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        let validation = validate(&model, &val_loader, &c.model, weight, &device)?;
        let report = EpochReport {
            epoch,
            train_loss: state.epoch_loss / state.epoch_batches.max(1) as f64,
            validation,
            examples_per_s: state.epoch_examples as f64 / (secs - wait).max(1e-9),
            wait_share: wait / secs.max(1e-9),
        };
        tracing::info!(
            epoch,
            train_loss = report.train_loss,
            val_loss = validation.loss,
            "epoch done"
        );
        on_epoch(&report);
        state.history.epochs.push(report);
        let better = state.history.best.is_none_or(|(b, _)| validation.loss < b);
        if better {
            state.history.best = Some((validation.loss, epoch));
            state.epochs_since_best = 0;
            save_model(&c.out, &c, &model, &state.history)?;
        } else {
            state.epochs_since_best += 1;
        }
        checkpoint(&c.out, &model, &optim, &state)?;
        if state.epochs_since_best >= c.patience {
            state.history.stopped = "early_stop".into();
            break;
        }
    }
    if state.history.stopped.is_empty() {
        state.history.stopped = "epochs".into();
    }
    json(&c.out.join("model").join("history.json"), &state.history)?;
    write_expected(&c.out.join("model"))?;
    Ok(state.history)
}
