//! [`ArrayDataset`]: named arrays sharing a first (record) axis, in memory or memory-mapped.

use std::sync::Arc;

use biobatch_core::{Array, Batch, Node, RowSource};
use biobatch_sampling::Sample;

use crate::dataset::BatchDataset;
use crate::error::BoxError;
use crate::{Error, Result};

/// Which part of the batch an array goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Inputs,
    Targets,
    Metadata,
}

/// A dataset of named arrays whose first axis is the record: in-memory [`Array`]s or any
/// [`RowSource`] (e.g. a memory-mapped `.npy` / `.npz` member from `biobatch-formats`).
/// Batches are gathered row by row into pooled buffers.
///
/// ```
/// use biobatch_core::Array;
/// use biobatch_loader::{ArrayDataset, Loader, LoaderConfig};
/// use biobatch_sampling::{Sampler, SamplerConfig};
///
/// let images = Array::new(vec![10, 4, 4], vec![0u8; 160])?;
/// let boxes = Array::new(vec![10, 3, 4], vec![-1.0f32; 120])?; // padded per-image targets
/// let ds = ArrayDataset::new().input("images", images)?.target("boxes", boxes)?;
/// let plan = Sampler::new(ds.len() as u64, SamplerConfig { seed: Some(0), ..Default::default() })?;
/// let loader = Loader::new(ds, plan, LoaderConfig { batch_size: 4, ..Default::default() })?;
/// let first = loader.epoch(0)?.next().unwrap()?;
/// assert_eq!(first.array("targets/boxes")?.shape(), &[4, 3, 4]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct ArrayDataset {
    /// (part, name, path in the batch tree, source)
    arrays: Vec<(Part, String, String, Arc<dyn RowSource>)>,
    records: Option<usize>,
}

impl std::fmt::Debug for ArrayDataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self
            .arrays
            .iter()
            .map(|(_, _, path, s)| format!("{path}: {} {:?}", s.dtype(), s.shape()))
            .collect();
        f.debug_struct("ArrayDataset")
            .field("arrays", &names)
            .finish()
    }
}

impl ArrayDataset {
    /// An empty dataset; add arrays with [`input`](Self::input), [`target`](Self::target)
    /// and [`metadata`](Self::metadata).
    pub fn new() -> Self {
        Self::default()
    }

    fn add(mut self, part: Part, name: &str, source: Arc<dyn RowSource>) -> Result<Self> {
        if source.shape().is_empty() {
            return Err(Error::Invalid(format!(
                "array `{name}` is a scalar: it needs a record axis"
            )));
        }
        let n = source.records();
        match self.records {
            Some(m) if m != n => {
                return Err(Error::Invalid(format!(
                    "array `{name}` has {n} records, the others {m}"
                )));
            }
            _ => self.records = Some(n),
        }
        if self
            .arrays
            .iter()
            .any(|(p, k, _, _)| *p == part && k == name)
        {
            return Err(Error::Invalid(format!("array `{name}` added twice")));
        }
        let path = match part {
            Part::Inputs => format!("inputs/{name}"),
            Part::Targets => format!("targets/{name}"),
            Part::Metadata => format!("metadata/{name}"),
        };
        self.arrays.push((part, name.to_string(), path, source));
        Ok(self)
    }

    /// Adds a model input.
    pub fn input(self, name: &str, source: impl RowSource + 'static) -> Result<Self> {
        self.add(Part::Inputs, name, Arc::new(source))
    }

    /// Adds a training target.
    pub fn target(self, name: &str, source: impl RowSource + 'static) -> Result<Self> {
        self.add(Part::Targets, name, Arc::new(source))
    }

    /// Adds per-record metadata.
    pub fn metadata(self, name: &str, source: impl RowSource + 'static) -> Result<Self> {
        self.add(Part::Metadata, name, Arc::new(source))
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.unwrap_or(0)
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl BatchDataset for ArrayDataset {
    fn new_buffer(&self, batch_size: usize) -> std::result::Result<Batch, BoxError> {
        let mut b = Batch::new(Node::map());
        for (part, name, _, src) in &self.arrays {
            let mut shape = src.shape().to_vec();
            shape[0] = batch_size;
            let leaf = Array::zeros(src.dtype(), shape);
            let node = match part {
                Part::Inputs => &mut b.inputs,
                Part::Targets => b.targets.get_or_insert_with(Node::map),
                Part::Metadata => b.metadata.get_or_insert_with(Node::map),
            };
            node.insert(name.clone(), leaf)?;
        }
        Ok(b)
    }

    fn fill(&self, samples: &[Sample], out: &mut Batch) -> std::result::Result<(), BoxError> {
        let n = self.len() as u64;
        if let Some(s) = samples.iter().find(|s| s.index >= n) {
            return Err(format!("record {} out of range ({n} records)", s.index).into());
        }
        for (_, _, path, src) in &self.arrays {
            let dst = out.array_mut(path)?;
            src.gather(&mut samples.iter().map(|s| s.index as usize), dst)?;
        }
        Ok(())
    }
}
