//! `biobatch train bpnet` and `biobatch predict bpnet`.

use std::path::PathBuf;
use std::time::Instant;

use biobatch::pipeline::DeviceChoice;
use biobatch::pipeline::bpnet::{BpnetConfig, PredictConfig, TrainConfig, predict, train};
use clap::{Args, Subcommand};

use super::CliError;
use super::peaks::{PeakArgs, example_config};

#[derive(Debug, Subcommand)]
pub enum Train {
    /// Train BPNet on peaks, negatives, a genome and signal (and control) bigWigs; print each
    /// epoch's validation metrics and a final JSON line.
    Bpnet(Box<TrainArgs>),
}

#[derive(Debug, Subcommand)]
pub enum Predict {
    /// Predict profiles and counts of a trained BPNet at loci; write Parquet or bigWig.
    Bpnet(Box<PredictArgs>),
}

/// Training settings; each flag overrides `--config` (a TOML of TrainConfig: top-level keys
/// plus `[peaks]` and `[model]` tables) or `--example`.
#[derive(Debug, Args)]
pub struct TrainArgs {
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
    /// Where to train: `cpu`, or `wgpu` / `wgpu:N` (a build with `--features wgpu`).
    #[arg(long)]
    device: Option<DeviceChoice>,
}

/// The `--example` run: the bundled data, a small model (32 filters, 4 layers), 15 epochs at
/// a learning rate of 0.004 (about a minute on 2 cores).
fn example() -> TrainConfig {
    TrainConfig {
        peaks: biobatch::datasets::PeakConfig {
            batch_size: 32,
            ..example_config()
        },
        model: BpnetConfig {
            n_filters: 32,
            n_layers: 4,
            ..Default::default()
        },
        out: PathBuf::from("bpnet-example"),
        validation_chroms: vec!["chr2".into()],
        epochs: 15,
        learning_rate: 0.004,
        patience: 5,
        ..Default::default()
    }
}

impl TrainArgs {
    fn config(&self) -> Result<TrainConfig, CliError> {
        let mut c = if self.peaks.example() {
            example()
        } else {
            TrainConfig::default()
        };
        if let Some(p) = self.peaks.config_file() {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            c = toml::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?;
        }
        self.peaks.apply(&mut c.peaks);
        if c.peaks.peaks.is_empty() || c.peaks.fasta.as_os_str().is_empty() {
            return Err(
                "give --peaks, --fasta and --signals (or --config FILE, or --example)"
                    .to_string()
                    .into(),
            );
        }
        if c.peaks.signals.is_empty() {
            return Err("BPNet needs signal tracks: give --signals plus.bw,minus.bw"
                .to_string()
                .into());
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
pub struct PredictArgs {
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
    /// Output: `.parquet` (one row per locus) or `.bw` (one bigWig per track).
    #[arg(short, long)]
    out: PathBuf,
    /// Loci per batch.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Where to run the model: `cpu`, or `wgpu` / `wgpu:N` (a build with `--features wgpu`).
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
}

pub fn run_train(t: Train) -> Result<(), CliError> {
    biobatch::pipeline::tune_allocator();
    let Train::Bpnet(args) = t;
    let c = args.config()?;
    let t0 = Instant::now();
    let history = train::train(&c, args.resume, &mut |r| {
        let v = &r.validation;
        eprintln!(
            "epoch {:>3}  train loss {:9.3}  val loss {:9.3}  profile pearson {:.3}  jsd {:.3}  \
             count pearson {:.3}  count mse {:.3}  {:.0} ex/s  waiting {:.1}%",
            r.epoch,
            r.train_loss,
            v.loss,
            v.profile_pearson,
            v.profile_jsd,
            v.count_pearson,
            v.count_mse,
            r.examples_per_s,
            100.0 * r.wait_share
        );
    })
    .map_err(|e| e.to_string())?;
    let best = history
        .best
        .and_then(|(_, e)| history.epochs.iter().find(|r| r.epoch == e));
    println!(
        "{}",
        serde_json::json!({
            "model": c.out.join("model"),
            "stopped": history.stopped,
            "epochs": history.epochs.len(),
            "seconds": t0.elapsed().as_secs_f64(),
            "count_loss_weight": history.count_loss_weight,
            "best_epoch": best.map(|r| r.epoch),
            "validation": best.map(|r| r.validation),
        })
    );
    Ok(())
}

pub fn run_predict(p: Predict) -> Result<(), CliError> {
    biobatch::pipeline::tune_allocator();
    let Predict::Bpnet(a) = p;
    let controls: Vec<Vec<PathBuf>> = a
        .controls
        .iter()
        .map(|g| g.split(',').map(PathBuf::from).collect())
        .collect();
    let c = PredictConfig {
        model: a.model.clone(),
        peaks: a.peaks.clone(),
        fasta: a.fasta.clone(),
        controls: (!controls.is_empty()).then_some(controls),
        summits: a.summits.then_some(true),
        out: a.out.clone(),
        batch_size: a.batch_size,
        device: a.device,
    };
    let t0 = Instant::now();
    let preds = predict::predict(&c).map_err(|e| e.to_string())?;
    let files = predict::write(&c, &preds).map_err(|e| e.to_string())?;
    println!(
        "{}",
        serde_json::json!({
            "loci": preds.len(),
            "files": files,
            "seconds": t0.elapsed().as_secs_f64(),
        })
    );
    Ok(())
}
