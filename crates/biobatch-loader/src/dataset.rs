//! Dataset contracts: the Kipoi dataloader kinds in Rust.
//!
//! | Kipoi kind | here |
//! |---|---|
//! | `BatchDataset` (len + get a batch) | [`BatchDataset`]: fills a pooled batch buffer for the samples of one batch — the fast path of every built-in dataset |
//! | `Dataset` (len + get a sample) | [`Dataset`], run through [`Collated`] (collation per batch) |
//! | `PreloadedDataset` (everything in memory) | [`Preloaded`]: a batch tree holding all records, gathered row by row into pooled buffers |
//! | `SampleIterator` / `SampleGenerator`, `BatchIterator` / `BatchGenerator` | anything `IntoIterator`, run by [`crate::stream`] |
//!
//! Indexed datasets are driven by a sampling plan: the loader hands them the
//! [`Sample`]s (record index, jitter, strand) of one batch.

use biobatch_core::{Array, Batch, Node, RowSource};
use biobatch_sampling::Sample;

use crate::collate::collate;
use crate::error::BoxError;
use crate::{Error, Result};

/// A dataset that fills whole batches into buffers the loader owns and reuses.
pub trait BatchDataset: Send + Sync + 'static {
    /// A buffer for batches of up to `batch_size` samples. The loader keeps a pool of them;
    /// [`BatchDataset::fill`] receives one whose first axis is set to the batch's size.
    fn new_buffer(&self, batch_size: usize) -> std::result::Result<Batch, BoxError>;

    /// Writes the samples into `out` (every leaf's first axis is `samples.len()`).
    fn fill(&self, samples: &[Sample], out: &mut Batch) -> std::result::Result<(), BoxError>;
}

/// A dataset that returns one sample tree (arrays without a batch axis) per record.
pub trait Dataset: Send + Sync + 'static {
    /// Number of records.
    fn len(&self) -> u64;

    /// Whether there are no records.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sample for a plan's [`Sample`] (record index and augmentation).
    fn get(&self, sample: Sample) -> std::result::Result<Batch, BoxError>;
}

/// Runs a sample-level [`Dataset`] as a [`BatchDataset`] by collating (allocates per batch).
#[derive(Debug, Clone)]
pub struct Collated<D>(pub D);

impl<D: Dataset> BatchDataset for Collated<D> {
    fn new_buffer(&self, _batch_size: usize) -> std::result::Result<Batch, BoxError> {
        Ok(Batch::new(Node::map()))
    }

    fn fill(&self, samples: &[Sample], out: &mut Batch) -> std::result::Result<(), BoxError> {
        let items = samples
            .iter()
            .map(|&s| self.0.get(s))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        *out = collate(&items)?;
        Ok(())
    }
}

/// A whole dataset in memory as one batch tree (every leaf's first axis is the record);
/// batches are gathered row by row into pooled buffers, without allocation.
#[derive(Debug, Clone)]
pub struct Preloaded {
    data: Batch,
    records: u64,
}

impl Preloaded {
    /// Wraps a batch tree whose leaves share the first axis (the records).
    pub fn new(data: Batch) -> Result<Self> {
        let records = data
            .batch_size()?
            .ok_or_else(|| Error::Invalid("a preloaded dataset needs at least one array".into()))?
            as u64;
        Ok(Preloaded { data, records })
    }

    /// Number of records.
    pub fn len(&self) -> u64 {
        self.records
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// The records.
    pub fn data(&self) -> &Batch {
        &self.data
    }
}

fn empty_like(node: &Node, rows: usize) -> Node {
    match node {
        Node::Array(a) => {
            let mut shape = a.shape().to_vec();
            shape[0] = rows;
            Node::Array(Array::zeros(a.dtype(), shape))
        }
        Node::Map(m) => Node::Map(
            m.iter()
                .map(|(k, v)| (k.clone(), empty_like(v, rows)))
                .collect(),
        ),
        Node::List(l) => Node::List(l.iter().map(|v| empty_like(v, rows)).collect()),
        Node::Sparse(s) => Node::Sparse(biobatch_core::SparseRows::empty(rows, s.n_cols())),
    }
}

fn gather(src: &Node, dst: &mut Node, rows: &[Sample]) -> std::result::Result<(), BoxError> {
    match (src, dst) {
        (Node::Array(s), Node::Array(d)) => {
            s.gather(&mut rows.iter().map(|r| r.index as usize), d)?;
            Ok(())
        }
        (Node::Sparse(s), Node::Sparse(d)) => {
            let picked: Vec<usize> = rows.iter().map(|r| r.index as usize).collect();
            s.gather_into(&picked, d)?;
            Ok(())
        }
        (Node::Map(s), Node::Map(d)) => {
            for (k, sv) in s {
                let dv = d.get_mut(k).ok_or("preloaded buffer lost a key")?;
                gather(sv, dv, rows)?;
            }
            Ok(())
        }
        (Node::List(s), Node::List(d)) => {
            for (sv, dv) in s.iter().zip(d.iter_mut()) {
                gather(sv, dv, rows)?;
            }
            Ok(())
        }
        _ => Err("preloaded buffer does not match the data's structure".into()),
    }
}

impl BatchDataset for Preloaded {
    fn new_buffer(&self, batch_size: usize) -> std::result::Result<Batch, BoxError> {
        Ok(Batch {
            inputs: empty_like(&self.data.inputs, batch_size),
            targets: self
                .data
                .targets
                .as_ref()
                .map(|t| empty_like(t, batch_size)),
            metadata: self
                .data
                .metadata
                .as_ref()
                .map(|m| empty_like(m, batch_size)),
        })
    }

    fn fill(&self, samples: &[Sample], out: &mut Batch) -> std::result::Result<(), BoxError> {
        if let Some(s) = samples.iter().find(|s| s.index >= self.records) {
            return Err(
                format!("record {} out of range ({} records)", s.index, self.records).into(),
            );
        }
        gather(&self.data.inputs, &mut out.inputs, samples)?;
        if let (Some(s), Some(d)) = (&self.data.targets, &mut out.targets) {
            gather(s, d, samples)?;
        }
        if let (Some(s), Some(d)) = (&self.data.metadata, &mut out.metadata) {
            gather(s, d, samples)?;
        }
        Ok(())
    }
}
