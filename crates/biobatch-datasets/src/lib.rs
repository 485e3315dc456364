//! Concrete datasets on top of the formats, sampling and loader crates.
//!
//! - [`peaks`]: the BPNet / ChromBPNet peak-and-negative loader ([`PeakDataset`]): sequence
//!   one-hot, stranded signal and control tracks, jitter, reverse complement with strand swap.
//! - [`intervals`]: sequence windows of BED intervals ([`IntervalDataset`]) with labels from
//!   the BED's columns and binned bigWig tracks as targets, jitter and reverse complement.
//! - [`cells`]: single-cell experiments ([`ExperimentDataset`]): filtered, chunk-shuffled,
//!   rank-partitioned cells of a SOMA-like store as dense or sparse batches.
#![warn(missing_docs)]

mod cache;
pub mod cells;
mod error;
pub mod intervals;
pub mod peaks;
mod windows;

pub use cache::default_cache_dir;
pub use cells::{CellsConfig, CellsDescription, ExperimentDataset, Vocabulary};
pub use error::{Error, Result};
pub use intervals::{IntervalConfig, IntervalDataset, OutOfBounds};
pub use peaks::{CacheStatus, DropCounts, MissingChrom, OneHotDtype, PeakConfig, PeakDataset};
