//! Concrete datasets on top of the formats, sampling and loader crates.
//!
//! - [`peaks`]: the BPNet / ChromBPNet peak-and-negative loader ([`PeakDataset`]): sequence
//!   one-hot, stranded signal and control tracks, jitter, reverse complement with strand swap.
//! - [`intervals`]: sequence windows of BED intervals ([`IntervalDataset`]) with labels from
//!   the BED's columns and binned bigWig tracks as targets, jitter and reverse complement.
//! - [`cells`]: single-cell experiments ([`ExperimentDataset`]): filtered, chunk-shuffled,
//!   rank-partitioned cells of a SOMA-like store as dense or sparse batches.
//!
//! The peak and interval datasets share their window machinery (extraction into compact
//! stores, drop accounting, batch metadata); every dataset takes the same [`LoaderSettings`].
//!
//! # Examples
//!
//! ```
//! use biobatch_datasets::{PeakConfig, PeakDataset};
//! use biobatch_sampling::Partition;
//!
//! let mut c = PeakConfig::example("../../examples".as_ref());
//! c.loader.batch_size = 16;
//! let loader = PeakDataset::open(&c)?.into_loader(Partition::single())?;
//! let batch = loader.epoch(0)?.next().expect("an epoch has batches")?;
//! assert_eq!(batch.array("inputs/seq")?.shape(), &[16, 4, 2114]);
//! assert_eq!(batch.array("targets/signal")?.shape(), &[16, 2, 1000]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod arrays;
pub mod cells;
mod container;
mod error;
pub mod intervals;
pub mod peaks;
mod readahead;
mod settings;
mod windows;

pub use arrays::{ArraysConfig, ArraysDataset, ArraysDescription, RaggedConfig};
pub use biobatch_formats::fs::default_cache_dir;
pub use cells::{CellsDescription, ExperimentConfig, ExperimentDataset, Vocabulary};
pub use error::{Error, Result};
pub use intervals::{IntervalConfig, IntervalDataset, OutOfBounds};
pub use peaks::{CacheStatus, PeakConfig, PeakDataset};
pub use settings::LoaderSettings;
pub use windows::{DropCounts, MissingChrom, NanPolicy, OneHotDtype};
