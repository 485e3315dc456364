//! The loader runtime: the Kipoi dataloader contract in Rust, run by worker threads that
//! compute whole batches by index, with ordered, bounded prefetch.
//!
//! ```text
//! Plan (biobatch-sampling) ── epoch e ──► batch b = positions b·B..(b+1)·B ──► Samples
//!                                                   │
//!   workers (k = 0..K) take batch indices ─► BatchDataset::fill(samples, pooled buffer)
//!                                                   │
//!   reorder stage ─► batches in plan order ─► LoadedBatch (buffer back to the pool on drop)
//! ```
//!
//! - Content depends only on `(plan, epoch, batch index)`: the stream is identical for 0
//!   (inline), 1 or many workers, and [`Loader::resume`] from a [`Cursor`] continues exactly.
//! - At most `prefetch` batches are in flight; buffers come from a pool, so steady state
//!   allocates no batch buffers.
//! - A dataset error or panic in a worker surfaces as an `Err` from the iterator with the
//!   epoch and batch index; the iterator then ends and joins its threads. Dropping the
//!   iterator mid-epoch drains the queue and joins the workers.
//! - [`LoaderStats`]: batches, samples, bytes, the consumer's wait ("stall") time and the
//!   workers' busy time; a summary line is logged at the end of each epoch.
//! - [`measure`]: a loader benchmarked alone then digested, batch by batch walks for digests,
//!   and the memcpy baseline every throughput figure is compared with.
//!
//! [`ahead::Ahead`] runs a conversion of the batches (such as building device tensors) on a
//! feed thread, a few batches ahead of the consumer.
//!
//! With the `burn` feature, `burn::BurnLoader` implements burn 0.22's `DataLoader<O>` and batch
//! trees become `TensorData` without copying.
//!
//! Dataset kinds ([`dataset`]): [`BatchDataset`] (fills batches: the fast path),
//! [`Dataset`] + [`Collated`] (samples, collated by Kipoi's rules: [`collate`]), [`Preloaded`]
//! (a whole batch tree in memory), [`ArrayDataset`] (named arrays or memory-mapped `.npy` /
//! `.npz` members), and iterator / generator kinds ([`stream`]).
//!
//! # Examples
//!
//! ```
//! use biobatch_core::{Array, Batch, Node};
//! use biobatch_loader::{Loader, LoaderConfig, Preloaded};
//! use biobatch_sampling::{Order, Sampler, SamplerConfig};
//!
//! let x: Vec<f32> = (0..100 * 3).map(|v| v as f32).collect();
//! let data = Preloaded::new(Batch::new(Node::from_iter([("x", Array::new(vec![100, 3], x)?)])))?;
//! let plan = Sampler::new(100, SamplerConfig { seed: Some(1), order: Order::Shuffle, ..Default::default() })?;
//! let loader = Loader::new(data, plan, LoaderConfig { batch_size: 32, num_workers: 2, ..Default::default() })?;
//! let mut rows = 0;
//! for batch in loader.epoch(0)? {
//!     rows += batch?.array("inputs/x")?.shape()[0];
//! }
//! assert_eq!(rows, 100);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Cursor`]: biobatch_sampling::Cursor
#![warn(missing_docs)]

pub mod ahead;
mod arrays;
#[cfg(feature = "burn")]
pub mod burn;
mod collate;
pub mod dataset;
mod error;
pub mod measure;
mod runtime;
mod stats;
pub mod stream;

pub use arrays::ArrayDataset;
pub use collate::collate;
pub use dataset::{BatchDataset, Collated, Dataset, Preloaded};
pub use error::{BoxError, Error, Result};
pub use runtime::{Batches, LoadedBatch, Loader, LoaderConfig, Waited};
pub use stats::{LoaderStats, peak_rss_mb};
