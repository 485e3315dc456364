//! Opening the Rust datasets from Python: each takes its configuration as JSON (the same
//! fields as the TOML files and `PeakConfig` / `IntervalConfig` / `ExperimentConfig`, so a
//! Python run can be written down and replayed from the command line) and a rank partition.

use std::sync::Arc;
use std::time::Duration;

use biobatch_core::{Array, Batch, DType, Node};
use biobatch_datasets::{
    ArraysConfig, ArraysDataset, ExperimentConfig, ExperimentDataset, IntervalConfig,
    IntervalDataset, PeakConfig, PeakDataset,
};
use biobatch_loader::{ArrayDataset, BatchDataset, BoxError, Loader, LoaderConfig};
use biobatch_sampling::{Layout, Order, Partition, Policy, Sample, Sampler, SamplerConfig};
use pyo3::prelude::*;

use crate::errors::{IntoPy, invalid};
use crate::loader::PyLoader;

fn parse<T: serde::de::DeserializeOwned>(json: &str, what: &str) -> PyResult<T> {
    serde_json::from_str(json).map_err(|e| invalid(format!("{what} settings: {e}")))
}

fn partition(rank: u64, world_size: u64, layout: Layout) -> PyResult<Partition> {
    Partition::new(rank, world_size, Policy::Drop, layout).py_err()
}

/// The BPNet peak/negative dataset (`PeakConfig` as JSON) on rank `rank` of `world_size`.
#[pyfunction]
pub(crate) fn open_peaks(
    py: Python<'_>,
    config: &str,
    rank: u64,
    world_size: u64,
) -> PyResult<PyLoader> {
    let c: PeakConfig = parse(config, "peak dataset")?;
    let part = partition(rank, world_size, Layout::Strided)?;
    let (loader, info) = py
        .detach(|| -> biobatch_datasets::Result<_> {
            let ds = PeakDataset::open(&c)?;
            let info = ds.report();
            Ok((ds.into_loader(part)?, info))
        })
        .py_err()?;
    Ok(PyLoader::new(loader, info))
}

/// BED intervals as sequence windows with labels and tracks (`IntervalConfig` as JSON).
#[pyfunction]
pub(crate) fn open_intervals(
    py: Python<'_>,
    config: &str,
    rank: u64,
    world_size: u64,
) -> PyResult<PyLoader> {
    let c: IntervalConfig = parse(config, "interval dataset")?;
    let part = partition(rank, world_size, Layout::Strided)?;
    let (loader, info) = py
        .detach(|| -> biobatch_datasets::Result<_> {
            let ds = IntervalDataset::open(&c)?;
            let info = serde_json::json!({
                "intervals": ds.len(),
                "sequence_length": ds.sequence_length(),
                "target_length": ds.target_length(),
                "tracks": ds.num_tracks(),
                "label_names": ds.label_names(),
                "dropped": ds.drops(),
                "first_dropped": ds.first_dropped(),
            });
            Ok((ds.into_loader(part)?, info))
        })
        .py_err()?;
    Ok(PyLoader::new(loader, info))
}

/// Cells of a store (`ExperimentConfig` as JSON); ranks take contiguous blocks of the
/// chunk-shuffled stream, as `biobatch cells` does.
#[pyfunction]
pub(crate) fn open_cells(
    py: Python<'_>,
    config: &str,
    rank: u64,
    world_size: u64,
) -> PyResult<PyLoader> {
    let c: ExperimentConfig = parse(config, "experiment dataset")?;
    let part = partition(rank, world_size, Layout::Contiguous)?;
    let (loader, info) = py
        .detach(|| -> biobatch_datasets::Result<_> {
            let ds = ExperimentDataset::open(&c)?;
            let info = serde_json::to_value(ds.describe()).unwrap_or_default();
            Ok((ds.into_loader(part)?, info))
        })
        .py_err()?;
    Ok(PyLoader::new(loader, info))
}

/// Samples of an array file — HDF5 / netCDF4 (with the `hdf5` feature), `.npz` or `.npy` —
/// with ragged targets, chunk-aware shuffling, flips and normalisation (`ArraysConfig` as
/// JSON); ranks take contiguous blocks of the chunk-shuffled stream, as `biobatch arrays`
/// does.
#[pyfunction]
pub(crate) fn open_array_file(
    py: Python<'_>,
    config: &str,
    rank: u64,
    world_size: u64,
) -> PyResult<PyLoader> {
    let c: ArraysConfig = parse(config, "array file dataset")?;
    let part = partition(rank, world_size, Layout::Contiguous)?;
    let (loader, info) = py
        .detach(|| -> biobatch_datasets::Result<_> {
            let ds = ArraysDataset::open(&c)?;
            let info = serde_json::to_value(ds.describe()).unwrap_or_default();
            Ok((ds.into_loader(part)?, info))
        })
        .py_err()?;
    Ok(PyLoader::new(loader, info))
}

/// What a file holds (variables, shapes, dtypes, chunks, filters, dimensions), as JSON.
#[pyfunction]
pub(crate) fn array_file_info(py: Python<'_>, path: std::path::PathBuf) -> PyResult<String> {
    let info = py
        .detach(|| biobatch_datasets::arrays::file_info(&path))
        .py_err()?;
    serde_json::to_string(&info).map_err(|e| invalid(e.to_string()))
}

/// Named `.npy` files or `.npz` members as a dataset: each entry of `arrays` is
/// `(part, name, path, member)` with `part` one of inputs/targets/metadata and `member` the
/// `.npz` member (None for a `.npy`).
#[pyfunction]
#[pyo3(signature = (arrays, seed, shuffle, batch_size, num_workers, prefetch, drop_last, rank, world_size))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn open_arrays(
    py: Python<'_>,
    arrays: Vec<(String, String, String, Option<String>)>,
    seed: Option<u64>,
    shuffle: bool,
    batch_size: usize,
    num_workers: usize,
    prefetch: usize,
    drop_last: bool,
    rank: u64,
    world_size: u64,
) -> PyResult<PyLoader> {
    let part = partition(rank, world_size, Layout::Strided)?;
    let (loader, info) = py
        .detach(|| -> Result<_, BoxError> {
            let mut ds = ArrayDataset::new();
            let mut npz: Vec<(String, Vec<(String, biobatch_formats::npy::NpyArray)>)> = Vec::new();
            for (which, name, path, member) in arrays {
                let source = match member {
                    None => biobatch_formats::npy::read_npy(&path)?,
                    Some(m) => {
                        if !npz.iter().any(|(p, _)| *p == path) {
                            npz.push((path.clone(), biobatch_formats::npy::read_npz(&path)?));
                        }
                        let members = &mut npz.iter_mut().find(|(p, _)| *p == path).ok_or("npz")?.1;
                        let i = members.iter().position(|(n, _)| *n == m).ok_or_else(|| {
                            format!("{path} has no member {m:?} (or it is named twice)")
                        })?;
                        members.swap_remove(i).1
                    }
                };
                ds = match which.as_str() {
                    "inputs" => ds.input(&name, source)?,
                    "targets" => ds.target(&name, source)?,
                    "metadata" => ds.metadata(&name, source)?,
                    other => return Err(format!("unknown batch part {other:?}").into()),
                };
            }
            let n = ds.len();
            let plan = Sampler::new(
                n as u64,
                SamplerConfig {
                    seed,
                    order: if shuffle {
                        Order::Shuffle
                    } else {
                        Order::Sequential
                    },
                    partition: part,
                    ..Default::default()
                },
            )?;
            let config = LoaderConfig {
                batch_size,
                num_workers,
                prefetch,
                drop_last,
            };
            Ok((
                Loader::new(ds, plan, config)?,
                serde_json::json!({"records": n}),
            ))
        })
        .map_err(|e| crate::errors::to_py(&*e))?;
    Ok(PyLoader::new(loader, info))
}

/// A dataset whose every batch takes `delay_ms` to fill: `x[i] = record index` (float64).
/// For tests of waiting (the GIL is released, Ctrl-C interrupts), not for users.
struct Slow {
    delay: Duration,
    fail_at: Option<u64>,
}

impl BatchDataset for Slow {
    fn new_buffer(&self, batch_size: usize) -> Result<Batch, BoxError> {
        Ok(Batch::new(Node::from_iter([(
            "x",
            Array::zeros(DType::F64, vec![batch_size]),
        )])))
    }

    fn fill(&self, samples: &[Sample], out: &mut Batch) -> Result<(), BoxError> {
        std::thread::sleep(self.delay);
        if let Some(f) = self
            .fail_at
            .filter(|f| samples.iter().any(|s| s.index == *f))
        {
            return Err(format!("record {f} is unreadable (a test failure)").into());
        }
        let x = out.array_mut("inputs/x")?.as_slice_mut::<f64>()?;
        for (v, s) in x.iter_mut().zip(samples) {
            *v = s.index as f64;
        }
        Ok(())
    }
}

/// A loader over the test dataset `Slow` (see above): `records` records in order; the batch
/// holding record `fail_at` fails.
#[pyfunction]
#[pyo3(signature = (records, batch_size, num_workers, delay_ms, fail_at=None))]
pub(crate) fn slow_test_loader(
    records: u64,
    batch_size: usize,
    num_workers: usize,
    delay_ms: u64,
    fail_at: Option<u64>,
) -> PyResult<PyLoader> {
    let plan = Sampler::new(
        records,
        SamplerConfig {
            seed: Some(0),
            order: Order::Sequential,
            ..Default::default()
        },
    )
    .py_err()?;
    let config = LoaderConfig {
        batch_size,
        num_workers,
        prefetch: 2,
        drop_last: false,
    };
    let ds: Arc<dyn BatchDataset> = Arc::new(Slow {
        delay: Duration::from_millis(delay_ms),
        fail_at,
    });
    let loader = Loader::from_arcs(ds, Arc::new(plan), config).py_err()?;
    Ok(PyLoader::new(
        loader,
        serde_json::json!({"records": records}),
    ))
}
