//! Concrete datasets on top of the formats, sampling and loader crates.
//!
//! - [`peaks`]: the BPNet / ChromBPNet peak-and-negative loader ([`PeakDataset`]): sequence
//!   one-hot, stranded signal and control tracks, jitter, reverse complement with strand swap.
#![warn(missing_docs)]

mod cache;
mod error;
pub mod peaks;

pub use cache::default_cache_dir;
pub use error::{Error, Result};
pub use peaks::{CacheStatus, DropCounts, MissingChrom, OneHotDtype, PeakConfig, PeakDataset};
