//! `biobatch train bpnet` and `biobatch predict bpnet`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::bail;
use biobatch::bpnet::{DeviceChoice, EpochReport, Observer, Precision, TrainConfig, train};
use biobatch::zoo::RunOptions;
use biobatch::zoo::package::{Describe, PredictInputs, add_expected, prediction_args};
use clap::{Args, Subcommand};

use super::examples;
use super::peaks::{PeakArgs, read_toml};

#[derive(Debug, Subcommand)]
pub(super) enum Train {
    /// Train BPNet on peaks, negatives, a genome and signal (and control) bigWigs; print each
    /// epoch's validation metrics and a final JSON line.
    Bpnet(Box<TrainArgs>),
}

#[derive(Debug, Subcommand)]
pub(super) enum Predict {
    /// Predict profiles and counts of a trained BPNet at loci; write Parquet or bigWig.
    Bpnet(Box<PredictArgs>),
}

/// Training settings; each flag overrides `--config` (a TOML of TrainConfig: top-level keys
/// plus `[peaks]` and `[model]` tables) or `--example`.
#[derive(Debug, Args)]
pub(super) struct TrainArgs {
    /// The peak loader's inputs and settings (`--config` here reads a TrainConfig).
    #[command(flatten)]
    peaks: PeakArgs,
    /// Model directory to write (the model, its settings, metrics, checkpoints).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue from `OUT/checkpoint` exactly where it stopped.
    #[arg(long)]
    resume: bool,
    /// Chromosomes held out for validation (comma-separated).
    #[arg(long, value_delimiter = ',')]
    validation_chroms: Vec<String>,
    /// Most epochs.
    #[arg(long)]
    epochs: Option<u64>,
    /// Adam's learning rate.
    #[arg(long)]
    learning_rate: Option<f64>,
    /// Epochs without a better validation loss before stopping.
    #[arg(long)]
    patience: Option<u64>,
    /// Weight of the count loss [default: median total peak signal / 10].
    #[arg(long)]
    count_loss_weight: Option<f64>,
    /// Also checkpoint every N batches.
    #[arg(long)]
    checkpoint_every: Option<u64>,
    /// Stop after N batches in all (a checkpoint is written; `--resume` continues).
    #[arg(long)]
    stop_after_batches: Option<u64>,
    /// Filters of every convolution.
    #[arg(long)]
    n_filters: Option<usize>,
    /// Dilated residual layers.
    #[arg(long)]
    n_layers: Option<usize>,
    /// Width of the first convolution.
    #[arg(long)]
    first_kernel: Option<usize>,
    /// Width of the profile head's convolution.
    #[arg(long)]
    profile_kernel: Option<usize>,
    /// Seed of the parameter initialisation.
    #[arg(long)]
    init_seed: Option<u64>,
    /// Where to train: `cpu`, or `wgpu` / `wgpu:N` (a build with `--features wgpu`), or
    /// `vulkan` / `vulkan:N` (a build with `--features vulkan`).
    #[arg(long)]
    device: Option<DeviceChoice>,
    /// Batches made ready on the device ahead of the training step [default: 2]; 0 builds
    /// them on the training thread.
    #[arg(long)]
    device_prefetch: Option<usize>,
    /// The type the model computes in: `f32` [default], or `f16` / `bf16` (mixed precision:
    /// f32 master weights, optimiser, losses and metrics; f16 with dynamic loss scaling).
    /// A device without that arithmetic is an error before any data is read.
    #[arg(long)]
    precision: Option<Precision>,
}

impl TrainArgs {
    fn config(&self, ex: Option<&Path>) -> anyhow::Result<TrainConfig> {
        let mut c = if self.peaks.example() {
            TrainConfig::example(&examples(ex)?)
        } else {
            TrainConfig::default()
        };
        if let Some(p) = self.peaks.config_file() {
            c = read_toml(p)?;
        }
        self.peaks.apply(&mut c.peaks);
        if c.peaks.peaks.is_empty() || c.peaks.fasta.as_os_str().is_empty() {
            bail!("give --peaks, --fasta and --signals (or --config FILE, or --example)");
        }
        if c.peaks.signals.is_empty() {
            bail!("BPNet needs signal tracks: give --signals plus.bw,minus.bw");
        }
        if let Some(o) = &self.out {
            c.out = o.clone();
        }
        if !self.validation_chroms.is_empty() {
            c.validation_chroms = self.validation_chroms.clone();
        }
        c.epochs = self.epochs.unwrap_or(c.epochs);
        c.learning_rate = self.learning_rate.unwrap_or(c.learning_rate);
        c.patience = self.patience.unwrap_or(c.patience);
        c.count_loss_weight = self.count_loss_weight.or(c.count_loss_weight);
        c.checkpoint_every = self.checkpoint_every.or(c.checkpoint_every);
        c.stop_after_batches = self.stop_after_batches.or(c.stop_after_batches);
        c.init_seed = self.init_seed.unwrap_or(c.init_seed);
        c.device = self.device.unwrap_or(c.device);
        c.device_prefetch = self.device_prefetch.unwrap_or(c.device_prefetch);
        c.precision = self.precision.unwrap_or(c.precision);
        let m = &mut c.model;
        m.n_filters = self.n_filters.unwrap_or(m.n_filters);
        m.n_layers = self.n_layers.unwrap_or(m.n_layers);
        m.first_kernel = self.first_kernel.unwrap_or(m.first_kernel);
        m.profile_kernel = self.profile_kernel.unwrap_or(m.profile_kernel);
        Ok(c)
    }
}

/// What to predict.
#[derive(Debug, Args)]
pub(super) struct PredictArgs {
    /// The model directory (`OUT/model` of a training run).
    #[arg(long)]
    model: PathBuf,
    /// Loci (BED / narrowPeak); repeatable.
    #[arg(long, required = true)]
    peaks: Vec<PathBuf>,
    /// The genome [default: the training genome].
    #[arg(long)]
    fasta: Option<PathBuf>,
    /// A control group, as in training (`plus.bw,minus.bw`); repeatable [default: the
    /// training controls].
    #[arg(long)]
    controls: Vec<String>,
    /// Centre on narrowPeak summits [default: as in training].
    #[arg(long)]
    summits: bool,
    /// Output: `.parquet` or `.tsv` (one row per locus, Kipoi's columns) or `.bw` (one bigWig
    /// per track).
    #[arg(short, long)]
    out: PathBuf,
    /// Loci per batch.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Where to run the model: `cpu`, or `wgpu` / `wgpu:N` (a build with `--features wgpu`),
    /// or `vulkan` / `vulkan:N` (a build with `--features vulkan`).
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
    /// Batches made ready on the device ahead of the model; 0 does it between predictions.
    #[arg(long, default_value_t = 2)]
    device_prefetch: usize,
}

/// Prints each epoch's figures on standard error.
struct PrintEpochs;

impl Observer for PrintEpochs {
    fn epoch(&mut self, r: &EpochReport) {
        let v = &r.validation;
        eprintln!(
            "epoch {:>3}  train loss {:9.3}  val loss {:9.3}  profile pearson {:.3}  jsd {:.3}  \
             count pearson {:.3}  count mse {:.3}  {:.0} ex/s  waiting {:.1}%  transfer {:.2} s",
            r.epoch,
            r.train_loss,
            v.loss,
            v.profile_pearson,
            v.profile_jsd,
            v.count_pearson,
            v.count_mse,
            r.examples_per_s,
            100.0 * r.wait_share,
            r.transfer_seconds
        );
    }
}

/// `train bpnet`: trains (the model folder described for the zoo at every save), then adds
/// the expected predictions that `zoo test` checks.
pub(crate) fn run_train(t: Train, ex: Option<&Path>) -> anyhow::Result<()> {
    biobatch::bpnet::tune_allocator();
    let Train::Bpnet(args) = t;
    let c = args.config(ex)?;
    let t0 = Instant::now();
    let history = train::train(&c, args.resume, &mut Describe(&mut PrintEpochs))?;
    let device = c.device.to_string();
    add_expected(
        &c.model_dir(),
        &RunOptions {
            device,
            ..RunOptions::with_batches(16, 0)
        },
    )?;
    let best = history.best_epoch();
    super::out_json(&serde_json::json!({
        "model": c.model_dir(),
        "stopped": history.stopped,
        "epochs": history.epochs.len(),
        "seconds": t0.elapsed().as_secs_f64(),
        "count_loss_weight": history.count_loss_weight,
        "best_epoch": best.map(|r| r.epoch),
        "validation": best.map(|r| r.validation),
    }))
}

/// `predict bpnet`: the peak dataset in prediction mode through the zoo's pipeline (the one
/// prediction path), to Parquet, TSV or bigWig.
pub(crate) fn run_predict(p: Predict) -> anyhow::Result<()> {
    biobatch::bpnet::tune_allocator();
    let Predict::Bpnet(a) = p;
    let controls: Vec<Vec<PathBuf>> = a
        .controls
        .iter()
        .map(|g| g.split(',').map(PathBuf::from).collect())
        .collect();
    let inputs = PredictInputs {
        peaks: a.peaks.clone(),
        fasta: a.fasta.clone(),
        controls: (!controls.is_empty()).then_some(controls),
        summits: a.summits.then_some(true),
    };
    let t0 = Instant::now();
    // The device first: one this build lacks fails before any data is read.
    a.device.device()?;
    let m = biobatch::zoo::source::resolve_dir(&a.model)?;
    let args = prediction_args(&a.model, &inputs)?;
    let opts = RunOptions {
        device: a.device.to_string(),
        device_prefetch: a.device_prefetch,
        ..RunOptions::with_batches(a.batch_size, 2)
    };
    let r = biobatch::zoo::run::predict_to_file(&m, &args, &a.out, &opts, None)?;
    super::out_json(&serde_json::json!({
        "loci": r.rows,
        "files": r.files,
        "seconds": t0.elapsed().as_secs_f64(),
    }))
}

/// `devices`: what this build and this machine can run a model on.
pub(crate) fn run_devices() -> anyhow::Result<()> {
    use biobatch::bpnet::device::adapters;
    let built: Vec<String> = [
        DeviceChoice::Cpu,
        DeviceChoice::Wgpu(None),
        DeviceChoice::Vulkan(None),
    ]
    .into_iter()
    .filter(DeviceChoice::available)
    .map(|d| d.to_string())
    .collect();
    super::out_json(&serde_json::json!({
        "built": built,
        "adapters": adapters(),
    }))
}
