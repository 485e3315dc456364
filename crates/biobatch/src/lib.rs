//! biobatch feeds deep-learning models with biological data, fast and reproducibly.
//!
//! This crate is the façade: it re-exports the workspace crates behind features and ships the
//! `biobatch` command line.
//!
//! # Crate map
//!
//! | crate | re-exported as | what it holds |
//! |---|---|---|
//! | `biobatch-core` | [`core`] | arrays, the Kipoi batch tree, array schemas, genomic ranges |
//! | `biobatch-formats` | [`formats`] | FASTA (+.fai, bgzip), BED / narrowPeak, bigWig |
//! | `biobatch-sampling` | [`sampling`] | deterministic, resumable, partitioned index plans |
//! | `biobatch-loader` | [`loader`] | dataset contracts, collation, ordered parallel prefetch, resume |
//! | `biobatch-datasets` | [`datasets`] | concrete datasets: the BPNet peak/negative loader, BED intervals with labels and tracks, single-cell experiments |
//! | `biobatch-bpnet` | [`bpnet`] | BPNet in burn: the model, training with exact resume, prediction on a device |
//! | `biobatch-zoo` | [`zoo`] | Kipoi's model.yaml / dataloader.yaml: sources, native dataloaders, ONNX and BPNet models, predictions to Parquet / TSV / bigWig |
//!
//! Dependencies point down the table: `zoo` → `bpnet` (optional) → `datasets` → `loader` →
//! `sampling` → `core`; `formats` → `core`.
//!
//! # Feature flags
//!
//! Formats:
//! - `fasta` *(default)*: indexed FASTA, one-hot encoding.
//! - `bed` *(default)*: BED3–BED6 and narrowPeak.
//! - `bigwig` *(default)*: bigWig reading (batched windows) and writing.
//! - `npy` *(default)*: NumPy `.npy` / `.npz` arrays, memory-mapped.
//! - `arrow`: BED / narrowPeak records as Arrow record batches.
//!
//! Sampling:
//! - `sampling` *(default)*: shuffles, partitions, splits, mixtures, weighted sampling, cursors.
//!
//! Loading:
//! - `loader` *(default)*: the loader runtime (workers, ordered prefetch, pooled buffers,
//!   resume, stall accounting) and the dataset contracts.
//! - `datasets` *(default)*: concrete datasets (`PeakDataset`, `IntervalDataset`,
//!   `ExperimentDataset`).
//!
//! Models:
//! - `bpnet` *(default)*: BPNet in burn — training, checkpoints, prediction.
//! - `zoo` *(default)*: the model zoo, with ONNX models (tract); with `bpnet`, BPNet models.
//! - `wgpu`: train and predict on a GPU through wgpu (`--device wgpu`).
//! - `vulkan`: the same, pinned to Vulkan with SPIR-V kernels (`--device vulkan`; no LLVM).
//! - `pipeline`: the former name of `bpnet` + `zoo` (a deprecated module of both).
//! - `h5ad`: `.h5ad` import (needs the HDF5 C library).
//!
//! Tools:
//! - `cli` *(default)*: the `biobatch` binary.
//!
//! # Examples
//!
//! ```
//! use biobatch::formats::fasta::{Fasta, Padding};
//!
//! let fa = Fasta::open("../../tests/data/lambda_virus.fa")?;
//! let chrom = "gi|9626243|ref|NC_001416.1|";
//! assert_eq!(fa.chrom_len(chrom), Some(48_502));
//! assert_eq!(fa.fetch(chrom, 0, 10, Padding::Error)?, b"GGGCGGCGAC");
//! # Ok::<(), biobatch::formats::Error>(())
//! ```
#![warn(missing_docs)]

#[cfg(feature = "bpnet")]
#[doc(inline)]
pub use biobatch_bpnet as bpnet;
#[doc(inline)]
pub use biobatch_core as core;
#[cfg(feature = "datasets")]
#[doc(inline)]
pub use biobatch_datasets as datasets;
#[doc(inline)]
pub use biobatch_formats as formats;
#[cfg(feature = "loader")]
#[doc(inline)]
pub use biobatch_loader as loader;
#[cfg(feature = "zoo")]
#[doc(inline)]
pub use biobatch_zoo as zoo;

/// The former `biobatch-pipeline` crate, split into [`bpnet`] and [`zoo`]; kept for one
/// release.
#[cfg(feature = "pipeline")]
#[deprecated(note = "use `biobatch::bpnet` and `biobatch::zoo`")]
pub mod pipeline {
    pub use biobatch_bpnet as bpnet;
    pub use biobatch_bpnet::DeviceChoice;
    pub use biobatch_zoo as zoo;
}
#[cfg(feature = "sampling")]
#[doc(inline)]
pub use biobatch_sampling as sampling;

/// The README's Rust example, compiled as a doctest so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

/// The Rust example of docs/peaks.md, compiled as a doctest.
#[cfg(all(doctest, feature = "datasets"))]
#[doc = include_str!("../../../docs/peaks.md")]
pub struct PeaksDocDoctests;

/// The Rust example of docs/cells.md, compiled as a doctest.
#[cfg(all(doctest, feature = "datasets"))]
#[doc = include_str!("../../../docs/cells.md")]
pub struct CellsDocDoctests;

/// The Rust example of docs/intervals.md, compiled as a doctest.
#[cfg(all(doctest, feature = "datasets"))]
#[doc = include_str!("../../../docs/intervals.md")]
pub struct IntervalsDocDoctests;
