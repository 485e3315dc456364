//! BPNet: sequence to base-resolution profiles and total counts (Avsec et al. 2021), in burn,
//! trained on the [`PeakDataset`](biobatch_datasets::PeakDataset) loader.

pub mod export;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod predict;
pub mod train;
pub mod weights;

pub use metrics::Metrics;
pub use model::{Bpnet, BpnetConfig};
pub use predict::{PredictConfig, Prediction};
pub use train::{EpochReport, History, TrainConfig};
