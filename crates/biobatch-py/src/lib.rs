//! The native half of the `biobatch` Python package (`biobatch._native`).
//!
//! This crate only converts and delegates: every dataset, plan and loader is the Rust one
//! (`biobatch-datasets`, `biobatch-loader`); the pure-Python package beside it
//! (`python/biobatch`) holds the adapters that give them the names and defaults of cherimoya,
//! TileDB-SOMA-ML and torch.
//!
//! ```text
//!  Python: for batch in loader.epoch(e): ...
//!            │ __next__ (GIL released while waiting; Ctrl-C checked every 50 ms)
//!            ▼
//!  Batches (Rust worker threads, pooled buffers)  ──►  BatchBuffer (owns the LoadedBatch)
//!                                                        │ numpy arrays view its memory; when
//!                                                        ▼ the last view dies, back to the pool
//! ```
//!
//! - Rust threads never touch Python objects; the GIL is held only to wrap finished buffers.
//! - Errors keep the Rust message (file, line, field) and become exceptions of the package's
//!   hierarchy (`biobatch.BiobatchError`, subclasses of `ValueError`, `FileNotFoundError`,
//!   `OSError`): see [`errors`].

use pyo3::prelude::*;

mod datasets;
mod errors;
#[cfg(feature = "kipoi")]
mod kipoi;
mod loader;
mod store;
mod tree;

/// The `biobatch._native` module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<loader::PyLoader>()?;
    m.add_class::<loader::PyBatches>()?;
    m.add_class::<tree::BatchBuffer>()?;
    m.add_class::<tree::Csr>()?;
    m.add_function(wrap_pyfunction!(tree::digest, m)?)?;
    m.add_function(wrap_pyfunction!(datasets::open_peaks, m)?)?;
    m.add_function(wrap_pyfunction!(datasets::open_intervals, m)?)?;
    m.add_function(wrap_pyfunction!(datasets::open_cells, m)?)?;
    m.add_function(wrap_pyfunction!(datasets::open_arrays, m)?)?;
    m.add_function(wrap_pyfunction!(datasets::open_array_file, m)?)?;
    m.add_function(wrap_pyfunction!(datasets::array_file_info, m)?)?;
    m.add_function(wrap_pyfunction!(datasets::slow_test_loader, m)?)?;
    m.add_function(wrap_pyfunction!(store::import_mtx, m)?)?;
    m.add_function(wrap_pyfunction!(store::import_h5ad, m)?)?;
    m.add_function(wrap_pyfunction!(store::import_anndata_zarr, m)?)?;
    m.add_function(wrap_pyfunction!(store::store_info, m)?)?;
    #[cfg(feature = "kipoi")]
    {
        m.add_class::<kipoi::PyZooModel>()?;
        m.add_function(wrap_pyfunction!(kipoi::zoo_sources, m)?)?;
        m.add_function(wrap_pyfunction!(kipoi::zoo_models, m)?)?;
        m.add_function(wrap_pyfunction!(kipoi::zoo_model, m)?)?;
        m.add_function(wrap_pyfunction!(kipoi::zoo_dataloader, m)?)?;
        m.add_function(wrap_pyfunction!(kipoi::zoo_dataloader_spec, m)?)?;
    }
    Ok(())
}
