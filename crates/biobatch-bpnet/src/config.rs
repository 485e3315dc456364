//! What a training run is given ([`TrainConfig`]) and what it reports ([`EpochReport`],
//! [`History`], [`StopReason`]).

use std::path::{Path, PathBuf};

use biobatch_datasets::{LoaderSettings, PeakConfig};
use serde::{Deserialize, Serialize};

use crate::DeviceChoice;
use crate::metrics::Metrics;
use crate::model::BpnetConfig;

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
    /// Batches made ready on the device ahead of the training step [2]: taken from the
    /// loader, staged (pinned memory where the backend has it) and turned into device tensors
    /// on a feed thread while the step runs. `0` builds each batch's tensors on the training
    /// thread, between steps. The batches and the results are the same either way.
    pub device_prefetch: usize,
    /// The type the model computes in: `f32` (default), or `f16` / `bf16` with `f32` master
    /// weights, optimiser, losses and metrics (mixed precision; `f16` with dynamic loss
    /// scaling). See [`Precision`](crate::Precision).
    pub precision: crate::Precision,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            peaks: PeakConfig {
                seed: Some(0),
                loader: LoaderSettings {
                    batch_size: 64,
                    ..Default::default()
                },
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
            device_prefetch: 2,
            precision: crate::Precision::F32,
        }
    }
}

impl TrainConfig {
    /// The run of `biobatch train bpnet --example`: the bundled peak data in `examples`
    /// (the repository's `examples/` folder; see
    /// [`examples_dir`](biobatch_formats::fs::examples_dir)), a small model (32 filters, 4
    /// layers), batches of 32, 15 epochs at a learning rate of 0.004, validation on chr2,
    /// written to `bpnet-example` (about a minute on two cores).
    pub fn example(examples: &Path) -> Self {
        let mut peaks = PeakConfig::example(examples);
        peaks.loader.batch_size = 32;
        TrainConfig {
            peaks,
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

    /// Checks the settings that do not need the data: the loader's, the optimiser's and the
    /// model's (windows and kernels).
    pub fn check(&self) -> crate::Result<()> {
        if self.peaks.signals.is_empty() {
            return Err(crate::Error::Config(
                "BPNet needs signal tracks (`peaks.signals`, e.g. --signals plus.bw,minus.bw)"
                    .into(),
            ));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(crate::Error::Config(format!(
                "learning_rate must be a positive number, not {}",
                self.learning_rate
            )));
        }
        if let Some(w) = self.count_loss_weight
            && !(w.is_finite() && w >= 0.0)
        {
            return Err(crate::Error::Config(format!(
                "count_loss_weight must be a non-negative number, not {w}"
            )));
        }
        if self.checkpoint_every == Some(0) {
            return Err(crate::Error::Config(
                "checkpoint_every must be at least 1".into(),
            ));
        }
        if self.device_prefetch > biobatch_loader::ahead::MAX_DEPTH {
            return Err(crate::Error::Config(format!(
                "device_prefetch is {}: at most {} batches can be made ready ahead",
                self.device_prefetch,
                biobatch_loader::ahead::MAX_DEPTH
            )));
        }
        if self.validation_chroms.is_empty() {
            return Err(crate::Error::Config(
                "validation_chroms is empty: name at least one chromosome to hold out".into(),
            ));
        }
        Ok(())
    }

    /// Where the trained model goes: `OUT/model`.
    pub fn model_dir(&self) -> PathBuf {
        self.out.join("model")
    }

    /// Where checkpoints go: `OUT/checkpoint`.
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.out.join("checkpoint")
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
    /// Training examples per second on the device: examples over the epoch's training time
    /// less the time the step waited for data (forward, backward, optimiser step).
    pub examples_per_s: f64,
    /// Share of the epoch's training time the step spent waiting for its next batch.
    pub wait_share: f64,
    /// Seconds of training in the epoch (validation excluded).
    #[serde(default)]
    pub seconds: f64,
    /// Seconds the step waited for its next batch (with `device_prefetch = 0` this includes
    /// building the batch's device tensors, which then happens on the training thread).
    #[serde(default)]
    pub wait_seconds: f64,
    /// Seconds spent handing batches to the device: staging the host buffers and creating the
    /// device tensors from them (on the feed thread unless `device_prefetch = 0`). On a GPU
    /// the copy itself may still be in flight when this ends; on the CPU no copy is made.
    #[serde(default)]
    pub transfer_seconds: f64,
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// It ran every epoch asked for.
    Epochs,
    /// The validation loss stopped improving for `patience` epochs.
    EarlyStop,
    /// `stop_after_batches` was reached (a checkpoint was written; resume continues).
    Interrupted,
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StopReason::Epochs => "epochs",
            StopReason::EarlyStop => "early_stop",
            StopReason::Interrupted => "interrupted",
        })
    }
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
    /// `(epoch, index, digest)` of every training batch, with `log_batches` (the digest is
    /// [`Batch::digest`](biobatch_core::Batch::digest) in hexadecimal).
    pub batches: Vec<(u64, u64, String)>,
    /// Why the run ended (`None` while it runs).
    pub stopped: Option<StopReason>,
    /// Training examples processed over the run (a resumed run adds to it).
    pub examples_trained: u64,
    /// Seconds in training steps (forward, backward, optimizer) over the run.
    pub step_seconds: f64,
    /// Seconds the trainer waited for the loader over the run.
    pub wait_seconds: f64,
    /// Seconds spent handing batches to the device over the run (see
    /// [`EpochReport::transfer_seconds`]).
    #[serde(default)]
    pub transfer_seconds: f64,
    /// With `precision = "f16"`: the loss scale at the end and the steps skipped because
    /// their gradients overflowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_scale: Option<crate::precision::LossScale>,
}

impl History {
    /// The report of the best epoch, if any.
    pub fn best_epoch(&self) -> Option<&EpochReport> {
        let (_, e) = self.best?;
        self.epochs.iter().find(|r| r.epoch == e)
    }
}
