//! Core types of biobatch: the arrays and batch trees that every other crate passes around.
//!
//! A **batch** follows the Kipoi dataloader contract: `{inputs, targets?, metadata?}`, each a
//! nested map or list whose leaves are arrays sharing the first (batch) axis:
//!
//! ```text
//! Batch
//! ├── inputs   ── seq      Array u8  [B, 4, 2114]
//! │            └─ controls Array f32 [B, 2, 2114]
//! ├── targets  ── signal   Array f32 [B, 2, 1000]
//! └── metadata ── ranges   { chr, start, end, id, strand }  (GenomicRanges as columns)
//! ```
//!
//! - [`Array`]: one dtype, one shape, one contiguous `Vec<T>`; zero-copy `ndarray` views and
//!   zero-copy hand-off of the `Vec` (what `burn`'s `TensorData::new` takes).
//! - [`Node`] / [`Batch`]: the tree, path access (`"inputs/seq"`) and the batch-axis check.
//! - [`ArraySchema`] / [`DataSchema`]: Kipoi's array schemas and validation that fails with
//!   the path, the expected and the actual shape or dtype.
//! - [`GenomicRanges`]: interval metadata as columns.
//!
//! Coordinates are 0-based and half-open throughout biobatch.
//!
//! # Examples
//!
//! ```
//! use biobatch_core::{Array, Batch, DType, GenomicRanges, Node, Strand};
//!
//! let mut ranges = GenomicRanges::default();
//! ranges.push("chr1", 100, 110, "peak1", Strand::Forward)?;
//! ranges.push("chr2", 0, 10, "peak2", Strand::Reverse)?;
//!
//! let mut batch = Batch::new(Node::from_iter([("seq", Array::zeros(DType::U8, vec![2, 10, 4]))]));
//! batch.metadata = Some(Node::from_iter([("ranges", ranges.to_node())]));
//! assert_eq!(batch.batch_size()?, Some(2));
//! assert_eq!(batch.array("metadata/ranges/chr")?.as_slice::<String>()?[1], "chr2");
//! # Ok::<(), biobatch_core::Error>(())
//! ```
#![warn(missing_docs)]

mod array;
mod digest;
mod dtype;
mod error;
mod ranges;
mod rows;
mod schema;
mod sparse;
mod tree;

pub use array::{Array, Data, Element};
pub use digest::digest_ids;
pub use dtype::DType;
pub use error::{Error, Result, one_line};
pub use half::f16;
pub use ranges::{GenomicRanges, Strand};
pub use rows::{BlockSource, RowSource, check_gather_target};
pub use schema::{ArraySchema, DataSchema, SchemaNode, SpecialType};
pub use sparse::SparseRows;
pub use tree::{Batch, Node};
