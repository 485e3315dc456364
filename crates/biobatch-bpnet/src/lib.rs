//! BPNet (Avsec et al. 2021) in burn: DNA sequence to base-resolution profiles and total
//! counts, trained on the [`PeakDataset`](biobatch_datasets::PeakDataset) loader.
//!
//! | module | what it holds |
//! |---|---|
//! | [`model`] | the architecture ([`BpnetConfig`], [`Bpnet`]), after bpnet-lite's `BPNet` |
//! | [`loss`] | multinomial NLL of the profiles (host-side `ln Γ`), count MSE, bpnet-lite's count weight |
//! | [`metrics`] | validation figures: profile Pearson and Jensen–Shannon distance, count Pearson and MSE |
//! | [`mod@train`] | the training loop: validation by chromosome, Adam, early stopping, an [`Observer`] |
//! | [`checkpoint`] | what a run keeps on disk, every folder replaced whole; exact resume |
//! | [`predict`] | a trained model on a device, predicting on batches ([`Predictor`]) |
//! | [`weights`] | burnpack and SafeTensors in bpnet-lite's names, both ways |
//! | [`device`] | where a model runs ([`DeviceChoice`]: `cpu`, or `wgpu` / `vulkan` with their features) |
//! | [`precision`] | mixed precision: `f16`/`bf16` compute, `f32` master weights, loss scaling |
//!
//! The zoo's description of a trained model (`model.yaml`, `dataloader.yaml`, expected
//! predictions) and writing predictions to files belong to `biobatch-zoo`; `biobatch train
//! bpnet` composes the two. See `docs/training.md`.
//!
//! # Examples
//!
//! A model's forward pass on one-hot sequences, and what the predictor makes of it:
//!
//! ```
//! use biobatch_bpnet::BpnetConfig;
//! use burn::prelude::*;
//!
//! let c = BpnetConfig { n_filters: 8, n_layers: 2, in_window: 200, out_window: 100, control_tracks: 0, ..Default::default() };
//! c.check()?;
//! let device = Device::flex();
//! let model = c.init(&device);
//! let x = Tensor::<3>::zeros([3, 4, 200], &device);
//! let (logits, log_counts) = model.forward(x, None);
//! assert_eq!(logits.dims(), [3, 2, 100]); // one stranded task: two tracks
//! let (profiles, counts) = biobatch_bpnet::predict::postprocess(&c, logits, log_counts)?;
//! assert_eq!((profiles.len(), counts.len()), (3 * 2 * 100, 3));
//! # Ok::<(), biobatch_bpnet::Error>(())
//! ```
//!
//! Training is [`train::train`] on a [`TrainConfig`]; see `examples/train_tiny.rs`.
#![warn(missing_docs)]

pub mod checkpoint;
mod config;
mod conv;
pub mod device;
mod error;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod precision;
pub mod predict;
pub mod train;
pub mod weights;

pub use config::{EpochReport, History, StopReason, TrainConfig};
pub use device::DeviceChoice;
pub use error::{BoxError, Error, Result};
pub use metrics::Metrics;
pub use model::{Bpnet, BpnetConfig};
pub use precision::Precision;
pub use predict::{Inputs, Predictor};
pub use train::{Observer, OnEpoch};

/// Keeps large allocations in the heap instead of mapping and unmapping them on every
/// training step (glibc's malloc maps blocks above 128 KiB–32 MiB afresh each time, and the
/// page faults of re-touching them cost as much as the convolutions: measured 14 → 23
/// examples/s for BPNet on 2 cores). Process-wide, so the binary calls it at start; call it
/// from your own `main` before training. Does nothing outside glibc.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's thresholds; it is safe to call at any time.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}
