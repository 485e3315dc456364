//! The model zoo for `biobatch.kipoi` (feature `kipoi`): sources, models, dataloaders and
//! predictions, delegating to `biobatch-zoo` (ONNX models through tract).

use std::path::Path;
use std::sync::Arc;

use biobatch_core::Batch;
use biobatch_loader::{Loader, LoaderConfig};
use biobatch_zoo::Zoo;
use biobatch_zoo::dataloaders::{builtin_spec, choose};
use biobatch_zoo::models::{CPU, ZooModel, load};
use biobatch_zoo::source::ResolvedModel;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::{Map, Value};

use crate::errors::{IntoPy, invalid};
use crate::loader::PyLoader;
use crate::tree::{BatchBuffer, node_from_py};

fn zoo() -> PyResult<Zoo> {
    Zoo::load().py_err()
}

fn args_of(json: &str) -> PyResult<Map<String, Value>> {
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(invalid(format!(
            "dataloader arguments must be a dict, not {other}"
        ))),
        Err(e) => Err(invalid(format!("dataloader arguments: {e}"))),
    }
}

/// The configured sources as JSON: `{name: {type, local_path, …}}`.
#[pyfunction]
pub(crate) fn zoo_sources() -> PyResult<String> {
    let z = zoo()?;
    serde_json::to_string(&z.config.model_sources).map_err(|e| invalid(e.to_string()))
}

/// Every model of every source (or of `source`) as JSON rows: source, model, type, doc,
/// authors, license, tags, inputs and targets (the schema's leaves); a source not yet cloned
/// gives one row with `model: null`.
#[pyfunction]
#[pyo3(signature = (source=None))]
pub(crate) fn zoo_models(py: Python<'_>, source: Option<&str>) -> PyResult<String> {
    let z = zoo()?;
    let rows = py
        .detach(|| -> biobatch_zoo::Result<Vec<Value>> {
            let mut rows = Vec::new();
            for (src, listing) in z.list(source)? {
                match listing {
                    biobatch_zoo::Listing::NotCloned => {
                        rows.push(serde_json::json!({"source": src, "model": null}));
                    }
                    biobatch_zoo::Listing::Models(names) => {
                        for name in names {
                            let m = z.find(&name, Some(&src))?;
                            let v = m.model.to_value();
                            rows.push(serde_json::json!({
                                "source": src,
                                "model": name,
                                "type": m.model.kind,
                                "doc": v["info"]["doc"],
                                "authors": v["info"]["authors"],
                                "license": v["info"]["license"],
                                "tags": v["info"]["tags"],
                                "inputs": v["schema"]["inputs"],
                                "targets": v["schema"]["targets"],
                            }));
                        }
                    }
                }
            }
            Ok(rows)
        })
        .py_err()?;
    Ok(Value::Array(rows).to_string())
}

/// A zoo model, resolved and loaded: its spec, and predictions on batches.
#[pyclass(module = "biobatch._native", name = "ZooModel", frozen)]
pub(crate) struct PyZooModel {
    zoo: Zoo,
    resolved: ResolvedModel,
    model: Arc<dyn ZooModel>,
}

/// Resolves `name` (in `source`, or the first source that has it, or a folder with a
/// `model.yaml`) and loads the model (weights fetched and MD5-checked as needed).
#[pyfunction]
#[pyo3(signature = (name, source=None))]
pub(crate) fn zoo_model(py: Python<'_>, name: &str, source: Option<&str>) -> PyResult<PyZooModel> {
    let z = zoo()?;
    let (resolved, model) = py
        .detach(|| -> biobatch_zoo::Result<_> {
            let m = z.find(name, source)?;
            let model = load(&m, z.cache.as_deref(), CPU)?;
            Ok((m, model))
        })
        .py_err()?;
    Ok(PyZooModel {
        zoo: z,
        resolved,
        model: Arc::from(model),
    })
}

fn loader_of(
    dl: biobatch_zoo::dataloaders::ZooDataloader,
    batch_size: usize,
    num_workers: usize,
) -> PyResult<PyLoader> {
    let cfg = LoaderConfig {
        batch_size,
        num_workers,
        prefetch: 4,
        drop_last: false,
    };
    let info = serde_json::json!({"dataloader": dl.name, "records": dl.len});
    let loader = Loader::from_arcs(dl.dataset, dl.plan, cfg).py_err()?;
    Ok(PyLoader::new(loader, info))
}

#[pymethods]
impl PyZooModel {
    /// The model's name as asked.
    #[getter]
    fn name(&self) -> &str {
        &self.resolved.name
    }

    /// The model's directory.
    #[getter]
    fn dir(&self) -> String {
        self.resolved.dir.display().to_string()
    }

    /// `model.yaml` as Kipoi's layout, in JSON.
    fn spec(&self) -> String {
        self.resolved.model.to_value().to_string()
    }

    /// The dataloader this model uses and its merged arguments (spec defaults, the model's
    /// `default_args`, then `args`; with `example`, the example values of arguments still
    /// missing) as JSON `{"name", "args", "spec"}`.
    fn dataloader_args(&self, py: Python<'_>, args: &str, example: bool) -> PyResult<String> {
        let user = args_of(args)?;
        let choice = py
            .detach(|| choose(&self.resolved, &user, example, self.zoo.cache.as_deref()))
            .py_err()?;
        let spec = choice
            .spec
            .as_ref()
            .map(|s| s.to_value())
            .unwrap_or(Value::Null);
        Ok(serde_json::json!({"name": choice.name, "args": choice.args, "spec": spec}).to_string())
    }

    /// Predictions for one batch's inputs (a numpy array or a dict / list of them, as the
    /// model's schema says), as numpy arrays.
    fn predict_on_batch<'py>(
        &self,
        py: Python<'py>,
        inputs: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let node = node_from_py(inputs, "inputs")?;
        let batch = Batch::new(node);
        self.predict(py, &batch)
    }

    /// Predictions for a batch from a loader, without copying its inputs out of Rust.
    fn predict_buffer<'py>(
        &self,
        py: Python<'py>,
        buf: &Bound<'py, BatchBuffer>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.predict(py, buf.get().batch())
    }

    /// Runs the model over the dataloader with `args` into `out` (Parquet, TSV or bigWig by
    /// extension, written atomically); returns the report as JSON.
    fn predict_to_file(
        &self,
        py: Python<'_>,
        args: &str,
        out: &str,
        batch_size: usize,
        num_workers: usize,
    ) -> PyResult<String> {
        let user = args_of(args)?;
        let mut opts = biobatch_zoo::RunOptions::with_batches(batch_size, num_workers);
        opts.device = CPU.into();
        let report = py
            .detach(|| {
                self.zoo
                    .predict_to_file(&self.resolved, &user, Path::new(out), &opts)
            })
            .py_err()?;
        Ok(serde_json::json!({
            "rows": report.rows,
            "batches": report.batches,
            "seconds": report.seconds,
            "files": report.files,
        })
        .to_string())
    }
}

impl PyZooModel {
    fn predict<'py>(&self, py: Python<'py>, batch: &Batch) -> PyResult<Bound<'py, PyAny>> {
        let model = Arc::clone(&self.model);
        let preds = py.detach(|| model.predict_on_batch(batch)).py_err()?;
        let owner = Bound::new(py, BatchBuffer::plain(Batch::new(preds), 0, 0))?;
        let tree: Bound<'py, PyDict> = BatchBuffer::tree(&owner)?;
        tree.get_item("inputs")?
            .ok_or_else(|| invalid("the model returned no predictions"))
    }
}

/// A dataloader of the registry by name (`kipoiseq.dataloaders.SeqIntervalDl`,
/// `biobatch.PeakDataset`, …) with `args`; every record once, in file order.
#[pyfunction]
pub(crate) fn zoo_dataloader(
    py: Python<'_>,
    name: &str,
    args: &str,
    batch_size: usize,
    num_workers: usize,
) -> PyResult<PyLoader> {
    let args = args_of(args)?;
    let dl = py
        .detach(|| biobatch_zoo::dataloaders::build(name, args))
        .py_err()?;
    loader_of(dl, batch_size, num_workers)
}

/// The `dataloader.yaml`-like description of a native dataloader, as JSON (null if none).
#[pyfunction]
pub(crate) fn zoo_dataloader_spec(name: &str) -> String {
    builtin_spec(name)
        .map(|s| s.to_value())
        .unwrap_or(Value::Null)
        .to_string()
}
