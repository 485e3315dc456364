//! Hand-off to `burn` 0.22 (feature `burn`): batch trees become `TensorData` without copying,
//! and [`BurnLoader`] implements burn's `DataLoader<O>` so a `Learner` trains from it.
//!
//! What happens per backend:
//! - CPU (`flex`): `Array::into_vec` hands the batch's `Vec<T>` to `TensorData::new`, which
//!   takes the allocation; `Tensor::from_data` on a device whose dtype matches keeps it (no
//!   copy). A dtype mismatch (e.g. `u8` data for a float tensor) costs one converting copy:
//!   keep f32 end to end for tensors that go to burn.
//! - GPU backends: [`HostBatch::stage`] calls `Device::staging`, which moves the host buffers
//!   into pinned (page-locked) memory, so `Tensor::from_data` only issues the device copy.
//!   [`BurnLoader`] does this on a prefetch thread of its own (up to `prefetch` staged batches
//!   ahead), so the training thread only builds tensors. On CPU backends staging is a no-op.
//!
//! Batches converted this way leave the loader's buffer pool (their memory now belongs to the
//! tensors), so the pool allocates replacements.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use biobatch_core::{Array, Batch, Data};
use biobatch_sampling::{Cursor, Plan, Sliced};
use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::data::dataset::DatasetError;
use burn::tensor::{Bool, DType, Device, Int, Tensor, TensorData};

use crate::ahead::Ahead;
use crate::dataset::BatchDataset;
use crate::runtime::{Batches, Loader, LoaderConfig};
use crate::{Error, Result};

/// Converts one array into `TensorData`, moving its buffer (no copy). Strings are refused.
pub fn to_tensor_data(array: Array) -> Result<TensorData> {
    let (shape, data) = array.into_parts();
    Ok(match data {
        Data::F32(v) => TensorData::new(v, shape),
        Data::U8(v) => TensorData::new(v, shape),
        Data::I8(v) => TensorData::new(v, shape),
        Data::I32(v) => TensorData::new(v, shape),
        Data::I64(v) => TensorData::new(v, shape),
        Data::F64(v) => TensorData::new(v, shape),
        Data::F16(v) => TensorData::new(v, shape),
        Data::Bool(v) => TensorData::new(v, shape),
        Data::Str(_) => {
            return Err(Error::Invalid(
                "a string array cannot become a tensor (keep strings in metadata)".into(),
            ));
        }
    })
}

/// A batch as `TensorData` by path (`inputs/seq`, `targets/signal`, …), ready to become
/// tensors of any rank. String leaves (metadata such as chromosome names) stay as arrays.
#[derive(Debug, Default)]
pub struct HostBatch {
    data: BTreeMap<String, TensorData>,
    strings: BTreeMap<String, Array>,
}

impl HostBatch {
    /// Moves every numeric leaf of `batch` into `TensorData` (no copy).
    pub fn from_batch(batch: Batch) -> Result<Self> {
        let mut out = HostBatch::default();
        for (part, node) in [
            ("inputs", Some(batch.inputs)),
            ("targets", batch.targets),
            ("metadata", batch.metadata),
        ] {
            if let Some(node) = node {
                collect(part.to_string(), node, &mut out)?;
            }
        }
        Ok(out)
    }

    /// Moves the buffers into pinned host memory on GPU backends (no-op on CPU backends).
    pub fn stage(&mut self, device: &Device) {
        device.staging(self.data.values_mut());
    }

    /// Paths of the numeric leaves.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.data.keys().map(String::as_str)
    }

    /// Takes the `TensorData` at `path`.
    pub fn take(&mut self, path: &str) -> Result<TensorData> {
        self.data
            .remove(path)
            .ok_or_else(|| Error::Invalid(format!("no numeric leaf at `{path}`")))
    }

    /// Takes a string leaf (metadata) at `path`.
    pub fn take_strings(&mut self, path: &str) -> Result<Array> {
        self.strings
            .remove(path)
            .ok_or_else(|| Error::Invalid(format!("no string leaf at `{path}`")))
    }

    fn rank_check(data: &TensorData, d: usize, path: &str) -> Result<()> {
        if data.shape().num_dims() != d {
            return Err(Error::Invalid(format!(
                "`{path}` has rank {}, asked for rank {d}",
                data.shape().num_dims()
            )));
        }
        Ok(())
    }

    /// A float tensor of rank `D` from the leaf at `path` (converted to the device's float
    /// dtype; no copy when it already matches).
    pub fn float<const D: usize>(&mut self, path: &str, device: &Device) -> Result<Tensor<D>> {
        let data = self.take(path)?;
        Self::rank_check(&data, D, path)?;
        Ok(Tensor::<D>::from_data(data, device))
    }

    /// An integer tensor of rank `D` (as `i64`).
    pub fn int<const D: usize>(&mut self, path: &str, device: &Device) -> Result<Tensor<D, Int>> {
        let data = self.take(path)?;
        Self::rank_check(&data, D, path)?;
        Ok(Tensor::<D, Int>::from_data(data, (device, DType::I64)))
    }

    /// A boolean tensor of rank `D`.
    pub fn bool<const D: usize>(&mut self, path: &str, device: &Device) -> Result<Tensor<D, Bool>> {
        let data = self.take(path)?;
        Self::rank_check(&data, D, path)?;
        Ok(Tensor::<D, Bool>::from_data(data, device))
    }
}

fn collect(path: String, node: biobatch_core::Node, out: &mut HostBatch) -> Result<()> {
    match node {
        biobatch_core::Node::Array(a) if a.dtype() == biobatch_core::DType::Str => {
            out.strings.insert(path, a);
        }
        biobatch_core::Node::Array(a) => {
            out.data.insert(path, to_tensor_data(a)?);
        }
        biobatch_core::Node::Map(m) => {
            for (k, v) in m {
                collect(format!("{path}/{k}"), v, out)?;
            }
        }
        biobatch_core::Node::List(l) => {
            for (i, v) in l.into_iter().enumerate() {
                collect(format!("{path}/{i}"), v, out)?;
            }
        }
        // Sparse rows travel as their three CSR arrays (`…/indptr`, `…/indices`,
        // `…/values`), to be densified or used as sparse tensors on the device.
        biobatch_core::Node::Sparse(sp) => {
            for (name, a) in sp.arrays() {
                out.data
                    .insert(format!("{path}/{name}"), to_tensor_data(a.clone())?);
            }
        }
    }
    Ok(())
}

/// Builds the model's batch type from a staged [`HostBatch`] (like burn's `Batcher`).
pub type BatchFn<O> = dyn Fn(HostBatch, &Device) -> Result<O> + Send + Sync;

/// Our loader behind burn's `DataLoader<O>`: each `iter()` runs the next epoch, in plan order,
/// with the workers and prefetch of the [`LoaderConfig`].
pub struct BurnLoader<O> {
    dataset: Arc<dyn BatchDataset>,
    plan: Arc<dyn Plan>,
    config: LoaderConfig,
    device: Device,
    batch_fn: Arc<BatchFn<O>>,
    next_epoch: Arc<AtomicU64>,
    resume: Arc<std::sync::Mutex<Option<Cursor>>>,
}

impl<O> Clone for BurnLoader<O> {
    fn clone(&self) -> Self {
        BurnLoader {
            dataset: Arc::clone(&self.dataset),
            plan: Arc::clone(&self.plan),
            config: self.config,
            device: self.device.clone(),
            batch_fn: Arc::clone(&self.batch_fn),
            next_epoch: Arc::clone(&self.next_epoch),
            resume: Arc::clone(&self.resume),
        }
    }
}

impl<O: Send + 'static> BurnLoader<O> {
    /// A burn data loader over `dataset` and `plan`; `batch_fn` turns a staged host batch into
    /// the model's input type on `device`.
    pub fn new(
        dataset: impl BatchDataset,
        plan: impl Plan + 'static,
        config: LoaderConfig,
        device: Device,
        batch_fn: impl Fn(HostBatch, &Device) -> Result<O> + Send + Sync + 'static,
    ) -> Result<Self> {
        config.check()?;
        Ok(BurnLoader {
            dataset: Arc::new(dataset),
            plan: Arc::new(plan),
            config,
            device,
            batch_fn: Arc::new(batch_fn),
            next_epoch: Arc::new(AtomicU64::new(0)),
            resume: Arc::new(std::sync::Mutex::new(None)),
        })
    }

    /// The next `iter()` continues from `cursor` (the batches an uninterrupted run would have
    /// produced next); later calls run the following epochs.
    pub fn resume_from(&self, cursor: Cursor) -> Result<()> {
        self.plan.resume(&cursor)?;
        *self.resume.lock().unwrap_or_else(|p| p.into_inner()) = Some(cursor);
        Ok(())
    }

    fn loader(&self) -> Result<Loader> {
        Loader::from_arcs(
            Arc::clone(&self.dataset),
            Arc::clone(&self.plan),
            self.config,
        )
    }
}

/// The prefetch of a [`BurnLoader`] epoch: batches taken from the loader in plan order, moved
/// into `TensorData` and staged (pinned memory on GPU backends) on a feed thread, so the
/// training thread only builds tensors from ready buffers.
type Staged = Ahead<'static, (usize, Result<HostBatch>)>;

fn stage(batches: Batches, device: Device, depth: usize) -> Result<Staged> {
    let items = batches.map(move |b| {
        let item = b.and_then(|b| {
            let batch = b.into_inner();
            let n = batch.batch_size().ok().flatten().unwrap_or(0);
            let mut host = HostBatch::from_batch(batch)?;
            let _span = tracing::trace_span!("stage").entered();
            host.stage(&device);
            Ok((n, host))
        });
        match item {
            Ok((n, host)) => (n, Ok(host)),
            Err(e) => (0, Err(e)),
        }
    });
    Ahead::spawn(items, depth)
}

struct BurnIter<'a, O> {
    staged: Option<Staged>,
    error: Option<Error>,
    loader: &'a BurnLoader<O>,
    items_total: usize,
    items_done: usize,
}

impl<O: Send + 'static> Iterator for BurnIter<'_, O> {
    type Item = std::result::Result<O, DatasetError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.error.take() {
            return Some(Err(DatasetError::new(e)));
        }
        let (n, host) = self.staged.as_mut()?.next()?;
        self.items_done += n;
        let out = host.and_then(|h| (self.loader.batch_fn)(h, &self.loader.device));
        Some(out.map_err(DatasetError::new))
    }
}

impl<O: Send + 'static> DataLoaderIterator<O> for BurnIter<'_, O> {
    fn progress(&self) -> Progress {
        Progress::new(
            self.items_done,
            self.items_total,
            Some("samples".to_string()),
        )
    }
}

impl<O: Send + 'static> DataLoader<O> for BurnLoader<O> {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<O> + 'a> {
        let resume = self.resume.lock().unwrap_or_else(|p| p.into_inner()).take();
        let started = self.loader().and_then(|l| match resume {
            Some(c) => {
                let it = l.resume(&c)?;
                self.next_epoch.store(it.epoch() + 1, Ordering::SeqCst);
                Ok(it)
            }
            None => l.epoch(self.next_epoch.fetch_add(1, Ordering::SeqCst)),
        });
        let items_total = self.num_items();
        let started = started.and_then(|b| stage(b, self.device.clone(), self.config.prefetch));
        let (staged, error) = match started {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(e)),
        };
        Box::new(BurnIter {
            staged,
            error,
            loader: self,
            items_total,
            items_done: 0,
        })
    }

    fn num_items(&self) -> usize {
        self.loader().map(|l| l.num_items() as usize).unwrap_or(0)
    }

    fn to_device(&self, device: &Device) -> Arc<dyn DataLoader<O>> {
        let mut copy = self.clone();
        copy.device = device.clone();
        Arc::new(copy)
    }

    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<O>> {
        let mut copy = self.clone();
        match Sliced::new(Arc::clone(&self.plan), start as u64, end as u64) {
            Ok(s) => copy.plan = Arc::new(s),
            Err(e) => tracing::error!("cannot slice the loader: {e}"),
        }
        copy.next_epoch = Arc::new(AtomicU64::new(self.next_epoch.load(Ordering::SeqCst)));
        Arc::new(copy)
    }
}
