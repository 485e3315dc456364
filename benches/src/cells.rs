//! `cargo xtask bench cells`: the single-cell loader on `gen-data cells` data — dense and
//! sparse batches of shuffled cells with 2 workers, against an in-memory CSR fancy-index
//! baseline (the same rows in the same order, one thread, no loader) measured in the same run;
//! open and first-batch times, peak RSS, and the MatrixMarket import.

use std::path::PathBuf;
use std::time::Instant;

use biobatch_datasets::{ExperimentConfig, ExperimentDataset, LoaderSettings};
use biobatch_formats::csr::{CsrIndex, CsrMatrix, CsrRows, CsrValue, CsrView};
use biobatch_formats::soma::{CsrVisitor, Experiment};
use biobatch_sampling::{Layout, Partition, Policy};
use serde_json::{Value, json};

use crate::{Timing, time};

/// Settings of the cells benchmark.
#[derive(Debug, Clone)]
pub struct Options {
    /// A directory made by `cargo xtask gen-data cells --mtx` (holding `store/`, `mtx/`).
    pub data: PathBuf,
    /// Timed runs (epochs) per case.
    pub runs: usize,
    /// Loader worker threads.
    pub workers: usize,
    /// Only cases whose name contains this.
    pub only: Option<String>,
}

/// The settings: batch 256, IO batch 65,536, chunks of 64, shuffled, seed 1.
pub fn bench_config(o: &Options, sparse: bool) -> ExperimentConfig {
    ExperimentConfig {
        loader: LoaderSettings {
            batch_size: 256,
            num_workers: o.workers,
            prefetch: 4,
            ..ExperimentConfig::default().loader
        },
        store: o.data.join("store"),
        io_batch_size: 65_536,
        shuffle_chunk_size: 64,
        seed: Some(1),
        return_sparse: sparse,
        ..Default::default()
    }
}

/// The in-memory baseline: the whole layer copied into owned vectors (as scipy would hold
/// it), rows gathered per batch into one reused buffer.
struct Baseline<'a> {
    rows: &'a [u64],
    sparse: bool,
}

impl CsrVisitor for Baseline<'_> {
    type Out = Result<(CsrMatrix<f32, u32>, f64), String>;
    fn visit<V: CsrValue, I: CsrIndex>(self, view: CsrView<'_, V, I>) -> Self::Out {
        // Owned, f32 values and u32 indices: what a Python loader holds after loading.
        let indices: Vec<u32> = view.indices.iter().map(|c| c.get() as u32).collect();
        let values: Vec<f32> = view.values.iter().map(|v| v.to_f32()).collect();
        let m = CsrMatrix::from_parts(view.n_cols, view.indptr.to_vec(), indices, values)
            .map_err(|e| e.to_string())?;
        let v = m.view();
        let b = 256;
        let mut dense = vec![0f32; b * v.n_cols];
        let mut csr = CsrRows::default();
        let t = Instant::now();
        for chunk in self.rows.chunks(b) {
            if self.sparse {
                v.rows_to_csr(chunk, &mut csr).map_err(|e| e.to_string())?;
                std::hint::black_box(&csr);
            } else {
                v.rows_to_dense(chunk, &mut dense[..chunk.len() * v.n_cols])
                    .map_err(|e| e.to_string())?;
                std::hint::black_box(&dense);
            }
        }
        Ok((m, t.elapsed().as_secs_f64()))
    }
}

fn wanted(o: &Options, name: &str) -> bool {
    o.only.as_deref().is_none_or(|f| name.contains(f))
}

/// Runs the cases, handing each JSON line to `emit`.
pub fn run(o: &Options, emit: &mut dyn FnMut(Value)) -> Result<(), String> {
    let e = |x: &dyn std::fmt::Display| x.to_string();
    for sparse in [false, true] {
        let name = if sparse {
            "cells_sparse_epoch"
        } else {
            "cells_dense_epoch"
        };
        if !wanted(o, name) {
            continue;
        }
        let cfg = bench_config(o, sparse);
        let t0 = Instant::now();
        let ds = ExperimentDataset::open(&cfg).map_err(|x| e(&x))?;
        let open_s = t0.elapsed().as_secs_f64();
        let cells = ds.num_cells();
        let partition =
            Partition::new(0, 1, Policy::Drop, Layout::Contiguous).map_err(|x| e(&x))?;
        let loader = ds.into_loader(partition).map_err(|x| e(&x))?;
        let t1 = Instant::now();
        let first = loader.epoch(0).map_err(|x| e(&x))?.next();
        first.ok_or("empty epoch")?.map_err(|x| e(&x))?;
        let first_batch_s = t1.elapsed().as_secs_f64();
        let (mut epoch, mut bytes, mut failed) = (0u64, 0usize, None);
        let t = time(o.runs, || {
            epoch += 1;
            bytes = 0;
            match loader.epoch(epoch) {
                Ok(batches) => {
                    for b in batches {
                        match b {
                            Ok(b) => bytes += b.nbytes(),
                            Err(x) => return failed = Some(x.to_string()),
                        }
                    }
                }
                Err(x) => failed = Some(x.to_string()),
            }
        });
        if let Some(x) = failed {
            return Err(x);
        }
        // Before the baseline loads the whole matrix into memory.
        let peak_rss_mb = biobatch_loader::peak_rss_mb();
        // The baseline gathers the same epoch's rows, in the loader's order.
        let store = Experiment::open(&cfg.store).map_err(|x| e(&x))?;
        let plan_ds = ExperimentDataset::open(&cfg).map_err(|x| e(&x))?;
        let plan = plan_ds.plan(Partition::single()).map_err(|x| e(&x))?;
        let ep = plan.epoch_plan(epoch).map_err(|x| e(&x))?;
        let rows: Vec<u64> = (0..ep.positions())
            .map(|p| plan_ds.cells()[ep.sample(p).index as usize])
            .collect();
        let layer = store
            .layer(cfg.layer.as_deref().unwrap_or("counts"))
            .map_err(|x| e(&x))?;
        let mut base = Vec::new();
        for _ in 0..o.runs.max(1) {
            let (_, secs) = layer.visit(Baseline {
                rows: &rows,
                sparse,
            })?;
            base.push(secs);
        }
        let base = Timing { runs: base };
        let med = t.median();
        emit(json!({
            "area": "cells",
            "case": name,
            "threads": o.workers,
            "cells": cells,
            "cells_per_s": (cells as f64 / med).round(),
            "mb_per_s": (bytes as f64 / med / 1e6).round(),
            "median_s": med,
            "runs_s": t.runs,
            "baseline": "in-memory CSR fancy index, 1 thread",
            "baseline_cells_per_s": (cells as f64 / base.median()).round(),
            "ratio_to_baseline": base.median() / med,
            "open_s": open_s,
            "first_batch_s": first_batch_s,
            "peak_rss_mb_so_far": peak_rss_mb,
        }));
    }
    if wanted(o, "import") && o.data.join("mtx").exists() {
        let out = o.data.join("import-bench");
        let _ = std::fs::remove_dir_all(&out);
        let t = Instant::now();
        let r = biobatch_formats::soma::import_mtx(o.data.join("mtx"), &out, "counts")
            .map_err(|x| e(&x))?;
        let secs = t.elapsed().as_secs_f64();
        let _ = std::fs::remove_dir_all(&out);
        emit(json!({
            "area": "cells",
            "case": "import_mtx",
            "threads": 1,
            "matrix_mb": (r.matrix_bytes as f64 / 1e6).round(),
            "seconds": secs,
            "mb_per_s": (r.matrix_bytes as f64 / 1e6 / secs).round(),
            "nnz": r.manifest.layers["counts"].nnz,
            "peak_rss_mb": biobatch_loader::peak_rss_mb(),
        }));
    }
    Ok(())
}
