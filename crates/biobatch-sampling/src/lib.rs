//! Index plans: `(seed, epoch, position) → (record, augmentation)`, with no I/O.
//!
//! A loader is a plan over integer positions before it is I/O (the Grain principle). For
//! epoch `e`, position `p` of a rank's stream maps to a [`Sample`] — which record, from which
//! pool, with which jitter and strand — as a pure function of `(seed, e, p, stream version)`.
//! Consequences: any worker computes any batch, so the number of workers changes speed but
//! never content; and the resume state is a five-integer [`Cursor`], restored in O(1).
//!
//! ```text
//! records ─ random_split ─► base order ─► mixture ─► partition ─► batches
//!            (subsets)      sequential    peaks +     ranks        worker k takes
//!                           shuffle       negatives   (drop/pad)   batches k, k+K, …
//!                           chunked
//! ```
//!
//! Randomness is counter-based ([`rng`]): SplitMix64 of `(seed, stream tag, epoch, index)`
//! seeds a `Xoshiro256PlusPlus` for each decision; no generator is shared or advanced across
//! samples.
//!
//! # Stream versions
//!
//! Every plan kind has a `STREAM_VERSION` constant ([`Sampler::STREAM_VERSION`],
//! [`Mixture::STREAM_VERSION`], [`Weighted::STREAM_VERSION`]) recorded in each cursor. **Any
//! change that alters which sample a `(seed, epoch, position)` yields must bump the version of
//! that plan kind** (and say so in the change log), so that old cursors are refused instead of
//! silently resuming a different stream.
//!
//! # Examples
//!
//! ```
//! use biobatch_sampling::{Order, Partition, Plan, Policy, Layout, Sampler, SamplerConfig};
//!
//! // Rank 1 of 4, shuffled, resuming from a saved cursor.
//! let cfg = SamplerConfig {
//!     seed: Some(2024),
//!     order: Order::Shuffle,
//!     partition: Partition::new(1, 4, Policy::Drop, Layout::Strided)?,
//!     ..Default::default()
//! };
//! let plan = Sampler::new(10_003, cfg)?;
//! assert_eq!(plan.len(), 2_500); // 3 records dropped so that every rank gets the same count
//! let cursor = plan.cursor(3, 1_200).to_string(); // save ...
//! let (epoch, position) = plan.resume(&cursor.parse()?)?; // ... and restore
//! let next = plan.epoch(epoch)?.get(position);
//! assert!(next.index < 10_003);
//! # Ok::<(), biobatch_sampling::Error>(())
//! ```
#![warn(missing_docs)]

mod buffer;
mod cursor;
mod error;
mod mixture;
mod order;
mod partition;
pub mod rng;
mod sampler;
mod slice;
mod split;
mod weighted;

pub use buffer::ShuffleBuffer;
pub use cursor::{Cursor, EpochPlan, Fingerprint, Plan, StreamId};
pub use error::{Error, Result};
pub use mixture::{Mixture, MixtureConfig, MixtureEpoch};
pub use order::{Order, Permutation, epoch_order, io_batches, shuffled};
pub use partition::{Layout, Partition, Policy, batch_positions, num_batches, worker_batches};
pub use sampler::{Augment, EpochSampler, Sample, Sampler, SamplerConfig, Source};
pub use slice::Sliced;
pub use split::{SplitMethod, random_split};
pub use weighted::{Weighted, WeightedConfig};
