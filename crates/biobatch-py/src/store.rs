//! The single-cell store from Python: import (10x MatrixMarket, `.h5ad`, AnnData Zarr) and a
//! summary.

use biobatch_formats::soma::Experiment;
use pyo3::prelude::*;

use crate::errors::IntoPy;

/// Imports a 10x MatrixMarket directory into a new store at `out` (layer `layer`); returns
/// the store's summary as JSON (see [`store_info`]).
#[pyfunction]
pub(crate) fn import_mtx(py: Python<'_>, dir: &str, out: &str, layer: &str) -> PyResult<String> {
    py.detach(|| biobatch_formats::soma::import_mtx(dir, out, layer))
        .py_err()?;
    store_info(py, out)
}

/// Imports an `.h5ad` file into a new store at `out` (X as layer `layer`).
#[pyfunction]
pub(crate) fn import_h5ad(py: Python<'_>, file: &str, out: &str, layer: &str) -> PyResult<String> {
    #[cfg(feature = "h5ad")]
    {
        py.detach(|| biobatch_formats::soma::h5ad::import_h5ad(file, out, layer))
            .py_err()?;
        store_info(py, out)
    }
    #[cfg(not(feature = "h5ad"))]
    {
        let _ = (py, file, out, layer);
        Err(crate::errors::invalid(
            "this biobatch was built without .h5ad support: rebuild the package with the \
             `h5ad` feature (needs the HDF5 library, e.g. Debian's libhdf5-dev), or import \
             with `biobatch cells import --h5ad`",
        ))
    }
}

/// Imports an AnnData Zarr store (v2 or v3) into a new store at `out` (X as layer `layer`).
#[pyfunction]
pub(crate) fn import_anndata_zarr(
    py: Python<'_>,
    store: &str,
    out: &str,
    layer: &str,
) -> PyResult<String> {
    #[cfg(feature = "zarr")]
    {
        py.detach(|| biobatch_formats::soma::import_anndata_zarr(store, out, layer))
            .py_err()?;
        store_info(py, out)
    }
    #[cfg(not(feature = "zarr"))]
    {
        let _ = (py, store, out, layer);
        Err(crate::errors::invalid(
            "this biobatch was built without Zarr support: rebuild the package with the `zarr` \
             feature, or import with `biobatch cells import --zarr`",
        ))
    }
}

/// A store's summary as JSON: cells, genes, layers, obs and var columns.
#[pyfunction]
pub(crate) fn store_info(py: Python<'_>, store: &str) -> PyResult<String> {
    let e = py.detach(|| Experiment::open(store)).py_err()?;
    let columns = |t: &biobatch_formats::soma::RecordBatch| -> Vec<String> {
        t.schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    };
    let layers: Vec<&str> = e.layer_names().collect();
    let v = serde_json::json!({
        "store": store,
        "n_obs": e.n_obs(),
        "n_vars": e.n_vars(),
        "layers": layers,
        "obs_columns": columns(e.obs()),
        "var_columns": columns(e.var()),
    });
    Ok(v.to_string())
}
