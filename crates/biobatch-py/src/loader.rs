//! The loader and its epochs as Python objects.

use std::sync::Arc;
use std::time::Duration;

use biobatch_loader::{Batches, Loader, Waited};
use pyo3::prelude::*;

use crate::errors::{IntoPy, to_py};
use crate::tree::BatchBuffer;

/// How long `__next__` waits with the GIL released before it checks for Ctrl-C.
const POLL: Duration = Duration::from_millis(50);

/// A Rust loader: a dataset, its sampling plan and worker threads. Every batch is a pure
/// function of (seed, epoch, batch index), so the stream is the same for any `num_workers`.
#[pyclass(module = "biobatch._native", name = "Loader", frozen)]
pub(crate) struct PyLoader {
    loader: Arc<Loader>,
    info: String,
}

impl PyLoader {
    pub(crate) fn new(loader: Loader, info: serde_json::Value) -> Self {
        PyLoader {
            loader: Arc::new(loader),
            info: info.to_string(),
        }
    }
}

#[pymethods]
impl PyLoader {
    /// Batches per epoch (for this rank).
    fn __len__(&self) -> usize {
        self.loader.num_batches() as usize
    }

    /// Samples per epoch that the batches cover (for this rank).
    #[getter]
    fn num_items(&self) -> u64 {
        self.loader.num_items()
    }

    /// Samples per batch.
    #[getter]
    fn batch_size(&self) -> usize {
        self.loader.config().batch_size
    }

    /// Worker threads (0: batches are computed on the calling thread).
    #[getter]
    fn num_workers(&self) -> usize {
        self.loader.config().num_workers
    }

    /// What the dataset found at open (kept and dropped records, tracks, cache), as JSON.
    #[getter]
    fn info(&self) -> &str {
        &self.info
    }

    /// Batch buffers waiting in the loader's pool (returned, not yet reused).
    #[getter]
    fn pooled_buffers(&self) -> usize {
        self.loader.pooled_buffers()
    }

    /// Samples per epoch in the plan (before batching).
    #[getter]
    fn positions(&self) -> u64 {
        self.loader.positions()
    }

    /// The samples at positions `start..end` of `epoch` as one batch, computed on the
    /// calling thread (GIL released): a map-style view of the stream, the same samples the
    /// batches of that epoch hold at those positions.
    fn get(&self, py: Python<'_>, epoch: u64, start: u64, end: u64) -> PyResult<BatchBuffer> {
        let loader = Arc::clone(&self.loader);
        let batch = py.detach(|| loader.get(epoch, start..end)).py_err()?;
        let index = start / self.loader.config().batch_size as u64;
        Ok(BatchBuffer::plain(batch, epoch, index))
    }

    /// Runs epoch `epoch` to its end in Rust with the GIL released, the consumer only
    /// counting (no batch reaches Python): this loader's native rate, for measuring what a
    /// Python loop over the same loader costs in the same process. Returns `(examples,
    /// seconds)`.
    fn drain(&self, py: Python<'_>, epoch: u64) -> PyResult<(u64, f64)> {
        let loader = Arc::clone(&self.loader);
        py.detach(|| biobatch_loader::measure::drain(&loader, epoch))
            .py_err()
    }

    /// The batches of `epoch`, from the first.
    fn epoch(&self, py: Python<'_>, epoch: u64) -> PyResult<PyBatches> {
        let loader = Arc::clone(&self.loader);
        let batches = py.detach(|| loader.epoch(epoch)).py_err()?;
        Ok(PyBatches { batches })
    }

    /// The batches after `cursor` (the text of a `cursor_after` or `PyBatches.cursor`):
    /// exactly those an uninterrupted run would have produced next.
    fn resume(&self, py: Python<'_>, cursor: &str) -> PyResult<PyBatches> {
        let cursor: biobatch_sampling::Cursor = cursor.parse().py_err()?;
        let loader = Arc::clone(&self.loader);
        let batches = py.detach(|| loader.resume(&cursor)).py_err()?;
        Ok(PyBatches { batches })
    }
}

/// The batches of one epoch, in plan order. Iterating yields `BatchBuffer`s; dropping it
/// stops and joins the workers.
#[pyclass(module = "biobatch._native", name = "Batches")]
pub(crate) struct PyBatches {
    batches: Batches,
}

#[pymethods]
impl PyBatches {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The next batch. Waits with the GIL released (other Python threads run), checks for
    /// Ctrl-C every 50 ms; a worker's error is raised here and ends the iteration.
    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<BatchBuffer>> {
        loop {
            let batches = &mut self.batches;
            match py.detach(|| batches.next_timeout(POLL)) {
                Waited::Ready(None) => return Ok(None),
                Waited::Ready(Some(Ok(b))) => return Ok(Some(BatchBuffer::loaded(b))),
                Waited::Ready(Some(Err(e))) => return Err(to_py(&e)),
                Waited::TimedOut => py.check_signals()?,
            }
        }
    }

    /// The cursor (text) that resumes at the batch this iterator yields next.
    #[getter]
    fn cursor(&self) -> String {
        self.batches.cursor().to_string()
    }

    /// The epoch.
    #[getter]
    fn epoch(&self) -> u64 {
        self.batches.epoch()
    }

    /// Batches left to yield.
    #[getter]
    fn remaining(&self) -> u64 {
        self.batches.remaining()
    }

    /// Seconds the consumer waited for batches so far (the "stall" time).
    #[getter]
    fn wait_s(&self) -> f64 {
        self.batches.stats().wait.as_secs_f64()
    }
}
