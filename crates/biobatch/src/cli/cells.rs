//! `biobatch cells import|info|bench|digest`: single-cell stores and their loader.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use biobatch::core::digest_ids;
use biobatch::datasets::{ExperimentConfig, ExperimentDataset};
use biobatch::formats::soma::{CsrVisitor, Experiment, Verify};
use biobatch::loader::Loader;
use biobatch::loader::measure::{bench, each_batch, memcpy_bytes_per_s};
use biobatch::sampling::{Cursor, Partition};
use clap::{Args, Subcommand};

use super::peaks::read_toml;
use super::{out, out_json};

#[derive(Debug, Subcommand)]
pub(super) enum Cells {
    /// Import a 10x MatrixMarket directory, an .h5ad file or an AnnData Zarr store into a new
    /// store.
    Import {
        /// A 10x directory (matrix.mtx[.gz], barcodes.tsv[.gz], features.tsv[.gz]).
        #[arg(long, conflicts_with_all = ["h5ad", "zarr"], required_unless_present_any = ["h5ad", "zarr"])]
        mtx: Option<PathBuf>,
        /// An AnnData .h5ad file (needs the `h5ad` feature).
        #[arg(long, conflicts_with = "zarr")]
        h5ad: Option<PathBuf>,
        /// An AnnData Zarr store, v2 or v3 (`AnnData.write_zarr`; needs the `zarr` feature).
        #[arg(long)]
        zarr: Option<PathBuf>,
        /// The store to create (must not exist), or a URL to upload it to (`s3://bucket/prefix`;
        /// built locally under the cache directory first, then uploaded, the manifest last).
        #[arg(long)]
        out: PathBuf,
        /// Name of the X layer.
        #[arg(long, default_value = "counts")]
        layer: String,
    },
    /// Print a store's shape, layers (with non-zeros per cell) and obs/var columns as JSON.
    Info {
        /// The store.
        store: PathBuf,
        /// Also verify every checksum and column index.
        #[arg(long)]
        full: bool,
    },
    /// Run the loader and print one JSON line: cells/s, bytes/s, first batch, peak RSS,
    /// digest.
    Bench {
        #[command(flatten)]
        inputs: CellArgs,
        /// Epochs to run.
        #[arg(long, default_value_t = 1)]
        epochs: u64,
        /// Stop after this many batches.
        #[arg(long)]
        batches: Option<u64>,
    },
    /// Print one line per batch: epoch, index, hash of its bytes, hash of its cell ids, and
    /// the cursor after it. Identical for any `--workers`.
    Digest {
        #[command(flatten)]
        inputs: CellArgs,
        /// Batches to print.
        #[arg(long)]
        batches: u64,
        /// Epochs to run (at most).
        #[arg(long, default_value_t = 1)]
        epochs: u64,
        /// Continue after a cursor printed by an earlier run.
        #[arg(long)]
        resume: Option<String>,
        /// Also print each batch's cells (their soma_joinid, comma-separated) as a last
        /// column: what each rank of a job reads, to check shares.
        #[arg(long)]
        ids: bool,
    },
}

/// The loader's settings; each flag overrides `--config`.
#[derive(Debug, Args)]
pub(super) struct CellArgs {
    /// The store.
    store: PathBuf,
    /// A TOML file with the settings (the fields of ExperimentConfig).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The X layer.
    #[arg(long)]
    layer: Option<String>,
    /// Keep cells where this SQL expression over obs holds (`tissue = 'lung' AND n > 2`).
    #[arg(long)]
    filter: Option<String>,
    /// Keep genes where this expression over var holds.
    #[arg(long)]
    var_filter: Option<String>,
    /// Keep these genes (ids from var's first column), comma-separated, in this order.
    #[arg(long, value_delimiter = ',')]
    genes: Vec<String>,
    /// Cells per batch.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Cells per IO batch.
    #[arg(long)]
    io_batch_size: Option<u64>,
    /// Cells per shuffle chunk.
    #[arg(long)]
    shuffle_chunk_size: Option<u64>,
    /// Store order instead of the chunk shuffle.
    #[arg(long)]
    no_shuffle: bool,
    /// Batches carry X as sparse rows (CSR).
    #[arg(long)]
    sparse: bool,
    /// Loader worker threads.
    #[arg(long)]
    workers: Option<usize>,
    /// Random seed.
    #[arg(long)]
    seed: Option<u64>,
    /// obs columns to return (comma-separated).
    #[arg(long, value_delimiter = ',')]
    obs_columns: Vec<String>,
    /// Keys coded into inputs (e.g. `batch` or `batch+donor`); repeatable.
    #[arg(long)]
    covariate: Vec<String>,
    /// Keys coded into targets; repeatable.
    #[arg(long)]
    label: Vec<String>,
    /// Class-balanced sampling (with replacement) by this key.
    #[arg(long)]
    weight_by: Option<String>,
    /// Split fractions (e.g. `0.9,0.1`) …
    #[arg(long, value_delimiter = ',')]
    split: Vec<f64>,
    /// … and the part to use.
    #[arg(long)]
    split_part: Option<usize>,
    /// Drop a last, short batch.
    #[arg(long)]
    drop_last: bool,
    /// This process's rank (default: $RANK, else 0).
    #[arg(long)]
    rank: Option<u64>,
    /// Number of ranks (default: $WORLD_SIZE, else 1).
    #[arg(long)]
    world_size: Option<u64>,
    /// Verify the store fully at open.
    #[arg(long)]
    verify_full: bool,
    /// Show a progress bar.
    #[arg(long)]
    progress: bool,
}

impl CellArgs {
    fn config(&self) -> anyhow::Result<ExperimentConfig> {
        let mut c = match &self.config {
            Some(p) => read_toml(p)?,
            None => ExperimentConfig::default(),
        };
        c.store = self.store.clone();
        c.layer = self.layer.clone().or(c.layer);
        c.obs_filter = self.filter.clone().or(c.obs_filter);
        c.var_filter = self.var_filter.clone().or(c.var_filter);
        if !self.genes.is_empty() {
            c.var_ids = self.genes.clone();
        }
        c.loader.batch_size = self.batch_size.unwrap_or(c.loader.batch_size);
        c.io_batch_size = self.io_batch_size.unwrap_or(c.io_batch_size);
        c.shuffle_chunk_size = self.shuffle_chunk_size.unwrap_or(c.shuffle_chunk_size);
        c.shuffle &= !self.no_shuffle;
        c.return_sparse |= self.sparse;
        c.loader.num_workers = self.workers.unwrap_or(c.loader.num_workers);
        c.seed = self.seed.or(c.seed);
        if !self.obs_columns.is_empty() {
            c.obs_columns = self.obs_columns.clone();
        }
        c.covariates.extend(self.covariate.iter().cloned());
        c.labels.extend(self.label.iter().cloned());
        c.weight_by = self.weight_by.clone().or(c.weight_by);
        if !self.split.is_empty() {
            c.split = self.split.clone();
        }
        c.split_part = self.split_part.unwrap_or(c.split_part);
        c.loader.drop_last |= self.drop_last;
        c.verify_full |= self.verify_full;
        c.loader.progress |= self.progress;
        Ok(c)
    }

    fn partition(&self) -> anyhow::Result<Partition> {
        super::contiguous_partition(self.rank, self.world_size)
    }
}

fn loader_of(a: &CellArgs) -> anyhow::Result<(Loader, serde_json::Value, f64)> {
    let c = a.config()?;
    let t = Instant::now();
    let ds = ExperimentDataset::open(&c)?;
    let open_s = t.elapsed().as_secs_f64();
    let desc = serde_json::to_value(ds.describe())?;
    let loader = ds.into_loader(a.partition()?)?;
    Ok((loader, desc, open_s))
}

/// Non-zeros per cell: min, median, mean, max.
struct NnzStats;
impl CsrVisitor for NnzStats {
    type Out = serde_json::Value;
    fn visit<V: biobatch::formats::csr::CsrValue, I: biobatch::formats::csr::CsrIndex>(
        self,
        view: biobatch::formats::csr::CsrView<'_, V, I>,
    ) -> serde_json::Value {
        let mut n: Vec<u64> = view.indptr.windows(2).map(|w| w[1] - w[0]).collect();
        n.sort_unstable();
        let mean = n.iter().sum::<u64>() as f64 / n.len().max(1) as f64;
        serde_json::json!({
            "min": n.first(), "median": n.get(n.len() / 2), "mean": mean, "max": n.last(),
        })
    }
}

fn info(store: &Path, full: bool) -> anyhow::Result<serde_json::Value> {
    let verify = if full { Verify::Full } else { Verify::Fast };
    let e = Experiment::open_with(store, verify)?;
    let columns = |t: &biobatch::formats::soma::RecordBatch| -> serde_json::Value {
        t.schema()
            .fields()
            .iter()
            .map(|f| serde_json::json!({"name": f.name(), "type": f.data_type().to_string()}))
            .collect()
    };
    let mut layers = serde_json::Map::new();
    for name in e.layer_names() {
        let l = e.layer(name)?;
        let entry = &e.manifest().layers[name];
        layers.insert(
            name.to_string(),
            serde_json::json!({
                "nnz": l.nnz(),
                "value_dtype": l.value_dtype(),
                "index_dtype": entry.index_dtype,
                "nnz_per_cell": l.visit(NnzStats),
                "bytes": entry.indptr.bytes + entry.indices.bytes + entry.values.bytes,
            }),
        );
    }
    Ok(serde_json::json!({
        "store": store,
        "format": e.manifest().format,
        "version": e.manifest().version,
        "n_obs": e.n_obs(),
        "n_vars": e.n_vars(),
        "layers": layers,
        "obs": columns(e.obs()),
        "var": columns(e.var()),
        "verified": if full { "full" } else { "fast" },
    }))
}

pub(crate) fn run(c: Cells) -> anyhow::Result<()> {
    match c {
        Cells::Import {
            mtx,
            h5ad,
            zarr,
            out,
            layer,
        } => {
            // A URL: build the store locally (atomically, as always), then upload it, the
            // manifest last.
            let upload_to = biobatch::formats::remote::is_url(&out).then(|| out.clone());
            let staging = match &upload_to {
                Some(_) => {
                    let base = biobatch::formats::remote::options()
                        .cache_dir
                        .join("uploads");
                    std::fs::create_dir_all(&base).with_context(|| base.display().to_string())?;
                    Some(tempfile::tempdir_in(&base).with_context(|| base.display().to_string())?)
                }
                None => None,
            };
            let out = match &staging {
                Some(d) => d.path().join("store"),
                None => out,
            };
            let t = Instant::now();
            let report = match (mtx, h5ad.or(zarr.clone())) {
                (Some(dir), _) => {
                    let r = biobatch::formats::soma::import_mtx(&dir, &out, &layer)?;
                    let secs = t.elapsed().as_secs_f64();
                    serde_json::json!({
                        "source": dir,
                        "matrix_mb": r.matrix_bytes as f64 / 1e6,
                        "seconds": secs,
                        "mb_per_s": r.matrix_bytes as f64 / 1e6 / secs,
                        "sorted_by_cell": r.sorted_by_cell,
                    })
                }
                (None, Some(file)) if zarr.is_some() => import_zarr(&file, &out, &layer)?,
                (None, Some(file)) => import_h5ad(&file, &out, &layer)?,
                (None, None) => bail!("give --mtx DIR, --h5ad FILE or --zarr STORE"),
            };
            let v = match &upload_to {
                Some(url) => {
                    upload_store(&out, url)?;
                    let mut v = info(url, false)?;
                    v["import"] = report;
                    v
                }
                None => {
                    let mut v = info(&out, false)?;
                    v["import"] = report;
                    v
                }
            };
            out_json(&v)
        }
        Cells::Info { store, full } => out_json(&info(&store, full)?),
        Cells::Bench {
            inputs,
            epochs,
            batches,
        } => {
            let (loader, desc, open_s) = loader_of(&inputs)?;
            let r = bench(&loader, epochs, batches)?;
            let memcpy = memcpy_bytes_per_s(r.bytes, 1, 1);
            out_json(&serde_json::json!({
                "cells_per_s": r.examples_per_s().round(),
                "batches_per_s": r.batches_per_s().round(),
                "bytes_per_s": r.bytes_per_s().round(),
                "memcpy_bytes_per_s": memcpy.round(),
                "ratio_to_memcpy": r.bytes_per_s() / memcpy,
                "open_s": open_s,
                "first_batch_s": r.first_batch_s,
                "peak_rss_mb": biobatch::loader::peak_rss_mb(),
                "batches": r.batches,
                "cells": r.examples,
                "workers": loader.config().num_workers,
                "sparse": inputs.config()?.return_sparse,
                "dataset": desc,
                "digest": format!("{:016x}", r.digest),
            }))
        }
        Cells::Digest {
            inputs,
            batches,
            epochs,
            resume,
            ids: print_ids,
        } => {
            let (loader, _, _) = loader_of(&inputs)?;
            let cursor: Option<Cursor> = resume.as_deref().map(str::parse).transpose()?;
            each_batch::<anyhow::Error>(&loader, cursor.as_ref(), epochs, batches, &mut |b| {
                let ids = b.array("metadata/soma_joinid")?.as_slice::<i64>()?;
                let listed = if print_ids {
                    let v: Vec<String> = ids.iter().map(i64::to_string).collect();
                    format!("\t{}", v.join(","))
                } else {
                    String::new()
                };
                out(&format!(
                    "{}\t{}\t{:016x}\t{:016x}\t{}{listed}\n",
                    b.epoch(),
                    b.index(),
                    b.digest(),
                    digest_ids(ids),
                    b.cursor_after()
                ))
            })
        }
    }
}

#[cfg(feature = "h5ad")]
fn import_h5ad(file: &Path, out: &Path, layer: &str) -> anyhow::Result<serde_json::Value> {
    let t = Instant::now();
    let r = biobatch::formats::soma::h5ad::import_h5ad(file, out, layer)?;
    Ok(serde_json::json!({
        "source": file,
        "seconds": t.elapsed().as_secs_f64(),
        "x_storage": r.x_storage,
        "encoding": r.encoding,
    }))
}

#[cfg(feature = "zarr")]
fn import_zarr(store: &Path, out: &Path, layer: &str) -> anyhow::Result<serde_json::Value> {
    let t = Instant::now();
    let r = biobatch::formats::soma::import_anndata_zarr(store, out, layer)?;
    Ok(serde_json::json!({
        "source": store,
        "seconds": t.elapsed().as_secs_f64(),
        "x_storage": r.x_storage,
        "encoding": r.encoding,
    }))
}

#[cfg(not(feature = "zarr"))]
fn import_zarr(_: &Path, _: &Path, _: &str) -> anyhow::Result<serde_json::Value> {
    bail!("this biobatch was built without Zarr support: rebuild with `--features zarr`")
}

#[cfg(feature = "remote")]
fn upload_store(local: &Path, url: &Path) -> anyhow::Result<()> {
    let opts = biobatch::formats::remote::options();
    biobatch::formats::soma::upload_store(local, &url.to_string_lossy(), &opts)?;
    Ok(())
}

#[cfg(not(feature = "remote"))]
fn upload_store(_: &Path, url: &Path) -> anyhow::Result<()> {
    Err(biobatch::formats::remote::unsupported(url, "an upload URL").into())
}

#[cfg(not(feature = "h5ad"))]
fn import_h5ad(_: &Path, _: &Path, _: &str) -> anyhow::Result<serde_json::Value> {
    bail!(
        "this biobatch was built without .h5ad support: rebuild with `--features h5ad` (needs \
         the HDF5 library, e.g. Debian's libhdf5-dev)"
    )
}
