//! Models fed by biobatch loaders.
//!
//! - [`bpnet`]: BPNet in burn — the model ([`bpnet::BpnetConfig`], [`bpnet::Bpnet`]), its
//!   losses, training with validation by chromosome, early stopping and checkpoints that
//!   resume exactly ([`bpnet::train`]), and prediction to Parquet or bigWig
//!   ([`bpnet::predict`]). See `docs/training.md`.
#![warn(missing_docs)]

pub mod bpnet;
mod error;

pub use error::{Error, Result};
