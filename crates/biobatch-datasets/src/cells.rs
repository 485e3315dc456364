//! Single-cell experiments: [`ExperimentDataset`] streams (shuffled) cells of a SOMA-like
//! store ([`biobatch_formats::soma`]) as dense or sparse batches, with TileDB-SOMA-ML's
//! knobs and what it lacks (see `docs/cells.md`).
//!
//! - **Selection**: an SQL-style value filter on obs (`tissue = 'lung' AND n_genes > 200`),
//!   genes by id list or a filter on var; then optionally one part of a `random_split`.
//! - **Order**: the chunk shuffle (`shuffle_chunk_size`, `io_batch_size`) of the sampling
//!   crate, drawn from `(seed, epoch)` — every epoch differs, reproducibly — and applied
//!   *before* the cells are partitioned across ranks (contiguous blocks of the global stream,
//!   equal counts), so each rank reads whole chunks of a different random subset every epoch.
//!   Or class-balanced weighted sampling by an obs key, with replacement.
//! - **Outputs**: `inputs/X` — dense `f32 [B, genes]`, or sparse rows (CSR: `indptr`,
//!   `indices`, `values`) with any number of workers; covariates as `inputs/<key>` and labels
//!   as `targets/<key>` (`i64` codes; vocabularies in [`ExperimentDataset::vocabularies`]);
//!   `metadata/soma_joinid` (the cell's row in the store) and requested obs columns under
//!   `metadata/obs/<column>`.
//! - **IO**: the layer's files are memory-mapped; a read-ahead thread asks the kernel for the
//!   entries of the next IO batches of this rank while the current one is consumed, at most
//!   `io_prefetch` IO batches ahead.

mod fill;
mod labels;
mod obs;
mod plan;
pub mod query;

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{Array as _, RecordBatch};
use biobatch_formats::soma::{Experiment, Verify};
use biobatch_loader::Loader;
use biobatch_sampling::{Partition, SplitMethod};
use serde::{Deserialize, Serialize};

use crate::readahead::Progress;
pub use labels::Vocabulary;
use obs::ObsValues;
use plan::CellsPlan;

use crate::{Error, LoaderSettings, Result};

/// Every setting of an [`ExperimentDataset`] (serde, so a run can be written down).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExperimentConfig {
    /// The store directory.
    pub store: PathBuf,
    /// The X layer (default: `counts` when present, else the only layer).
    pub layer: Option<String>,
    /// Keep cells for which this SQL boolean expression over obs columns holds.
    pub obs_filter: Option<String>,
    /// Keep these genes (values of var's first column, e.g. `var_id`), in this order.
    pub var_ids: Vec<String>,
    /// Keep genes for which this expression over var columns holds (in store order).
    pub var_filter: Option<String>,
    /// Cells per IO batch (a multiple of `shuffle_chunk_size`).
    pub io_batch_size: u64,
    /// Shuffle (chunked) every epoch; otherwise store order.
    pub shuffle: bool,
    /// Contiguous cells per shuffle chunk.
    pub shuffle_chunk_size: u64,
    /// The seed (required when training on several ranks).
    pub seed: Option<u64>,
    /// Batches carry `inputs/X` as sparse rows (CSR) instead of a dense array.
    pub return_sparse: bool,
    /// obs columns returned as `metadata/obs/<column>`.
    pub obs_columns: Vec<String>,
    /// Keys (`col` or `col1+col2`) returned as integer codes in `inputs/<key>` (e.g. scVI's
    /// batch key).
    pub covariates: Vec<String>,
    /// Keys returned as integer codes in `targets/<key>`.
    pub labels: Vec<String>,
    /// Sample with replacement, each class of this key equally often (class-balanced).
    pub weight_by: Option<String>,
    /// Samples per epoch when weighted (default: the number of selected cells).
    pub epoch_len: Option<u64>,
    /// Split the selected cells with these fractions (empty: no split) …
    pub split: Vec<f64>,
    /// … and use this part (0-based).
    pub split_part: usize,
    /// How part sizes are decided.
    pub split_method: SplitMethod,
    /// The split's seed (default: `seed`, else 0), fixed across epochs and ranks.
    pub split_seed: Option<u64>,
    /// Batch size, workers, prefetch, `drop_last`, progress bar (`[loader]`; batches of 256,
    /// 2 workers, 4 batches ahead).
    #[serde(deserialize_with = "loader_settings")]
    pub loader: LoaderSettings,
    /// IO batches read ahead of the one being consumed.
    pub io_prefetch: usize,
    /// Check the store fully at open (checksums, every column index).
    pub verify_full: bool,
}

fn loader_settings<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<LoaderSettings, D::Error> {
    LoaderSettings::deserialize_over(ExperimentConfig::default().loader, d)
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        ExperimentConfig {
            store: PathBuf::new(),
            layer: None,
            obs_filter: None,
            var_ids: Vec::new(),
            var_filter: None,
            io_batch_size: 65_536,
            shuffle: true,
            shuffle_chunk_size: 64,
            seed: None,
            return_sparse: false,
            obs_columns: Vec::new(),
            covariates: Vec::new(),
            labels: Vec::new(),
            weight_by: None,
            epoch_len: None,
            split: Vec::new(),
            split_part: 0,
            split_method: SplitMethod::Deterministic,
            split_seed: None,
            loader: LoaderSettings {
                batch_size: 256,
                prefetch: 4,
                ..Default::default()
            },
            io_prefetch: 1,
            verify_full: false,
        }
    }
}

/// What a dataset serves, for logs and the CLI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellsDescription {
    /// Cells in the store.
    pub store_cells: usize,
    /// Genes in the store.
    pub store_genes: usize,
    /// The layer read, and its value type.
    pub layer: String,
    /// Its value type.
    pub value_dtype: String,
    /// Cells passing the obs filter.
    pub filtered_cells: usize,
    /// Cells in the pool sampled from (after the split).
    pub cells: usize,
    /// Genes output per cell.
    pub genes: usize,
    /// Code vocabularies of covariates and labels.
    pub vocabularies: Vec<Vocabulary>,
}

/// A coded key and where it goes.
#[derive(Debug)]
struct Coded {
    path: String,
    codes: Vec<i64>,
    vocab: Vocabulary,
}

/// The single-cell dataset.
#[derive(Debug)]
pub struct ExperimentDataset {
    config: ExperimentConfig,
    exp: Experiment,
    layer: String,
    /// Store rows of the pool the plan draws from, ascending; a sample's index is a position
    /// here.
    pool: Arc<[u64]>,
    filtered: usize,
    /// Store gene → output column (`u32::MAX`: not output); `None` when all genes are output
    /// in store order.
    gene_map: Option<Vec<u32>>,
    genes: usize,
    coded: Vec<Coded>,
    obs_out: Vec<(String, ObsValues)>,
    weights: Option<Vec<f64>>,
    progress: Arc<Progress>,
}

fn first_column_strings(t: &RecordBatch, what: &str) -> Result<Vec<String>> {
    let col = t
        .columns()
        .first()
        .ok_or_else(|| Error::Config(format!("{what} has no columns")))?;
    let s =
        arrow_cast::cast(col, &arrow_schema::DataType::Utf8).map_err(|source| Error::Arrow {
            context: format!("{what}'s first column, as ids"),
            source,
        })?;
    let s = s
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .ok_or_else(|| Error::Config(format!("{what}'s ids are not text")))?;
    Ok((0..s.len()).map(|i| s.value(i).to_string()).collect())
}

impl ExperimentDataset {
    /// Opens the store and applies the selection, codes and weights of `config`.
    pub fn open(config: &ExperimentConfig) -> Result<Self> {
        let c = config;
        c.loader.check()?;
        let verify = if c.verify_full {
            Verify::Full
        } else {
            Verify::Fast
        };
        let exp = Experiment::open_with(&c.store, verify)?;
        let layer = match &c.layer {
            Some(l) => l.clone(),
            None => {
                let names: Vec<&str> = exp.layer_names().collect();
                match names.as_slice() {
                    [one] => one.to_string(),
                    _ if names.contains(&"counts") => "counts".into(),
                    _ => {
                        return Err(Error::Config(format!(
                            "{}: choose a layer (layers: {})",
                            c.store.display(),
                            names.join(", ")
                        )));
                    }
                }
            }
        };
        exp.layer(&layer)?;
        // Cells.
        let selected: Vec<u64> = match &c.obs_filter {
            Some(f) => query::evaluate(exp.obs(), f, "obs")?
                .iter()
                .enumerate()
                .filter(|(_, k)| **k)
                .map(|(i, _)| i as u64)
                .collect(),
            None => (0..exp.n_obs() as u64).collect(),
        };
        let filtered = selected.len();
        if filtered == 0 {
            return Err(Error::NothingLeft {
                what: "cells",
                drops: format!(
                    "the obs filter `{}` selects no cells",
                    c.obs_filter.as_deref().unwrap_or("")
                ),
            });
        }
        let pool: Vec<u64> = if c.split.is_empty() {
            selected
        } else {
            let seed = c.split_seed.or(c.seed).unwrap_or(0);
            let parts =
                biobatch_sampling::random_split(filtered as u64, &c.split, seed, c.split_method)?;
            let part = parts.get(c.split_part).ok_or_else(|| {
                Error::Config(format!(
                    "split_part {} does not exist ({} parts)",
                    c.split_part,
                    parts.len()
                ))
            })?;
            part.iter().map(|&i| selected[i as usize]).collect()
        };
        if pool.is_empty() {
            return Err(Error::NothingLeft {
                what: "cells",
                drops: format!("split part {} of {filtered} cells is empty", c.split_part),
            });
        }
        // Genes.
        let n_vars = exp.n_vars();
        let (gene_map, genes) = if !c.var_ids.is_empty() {
            let ids = first_column_strings(exp.var(), "var")?;
            let at: std::collections::HashMap<&str, usize> = ids
                .iter()
                .enumerate()
                .map(|(i, s)| (s.as_str(), i))
                .collect();
            let mut map = vec![u32::MAX; n_vars];
            for (k, id) in c.var_ids.iter().enumerate() {
                let j = *at.get(id.as_str()).ok_or_else(|| {
                    Error::Config(format!("var has no gene `{id}` (in its first column)"))
                })?;
                if map[j] != u32::MAX {
                    return Err(Error::Config(format!("gene `{id}` is listed twice")));
                }
                map[j] = k as u32;
            }
            (Some(map), c.var_ids.len())
        } else if let Some(f) = &c.var_filter {
            let keep = query::evaluate(exp.var(), f, "var")?;
            let mut map = vec![u32::MAX; n_vars];
            let mut k = 0u32;
            for (j, &on) in keep.iter().enumerate() {
                if on {
                    map[j] = k;
                    k += 1;
                }
            }
            if k == 0 {
                return Err(Error::NothingLeft {
                    what: "genes",
                    drops: format!("the var filter `{f}` selects none"),
                });
            }
            (Some(map), k as usize)
        } else {
            (None, n_vars)
        };
        // Codes, obs columns, weights.
        let mut coded = Vec::new();
        for (keys, part) in [(&c.covariates, "inputs"), (&c.labels, "targets")] {
            for key in keys {
                let (codes, vocab) = labels::encode(exp.obs(), key, &pool)?;
                coded.push(Coded {
                    path: format!("{part}/{key}"),
                    codes,
                    vocab,
                });
            }
        }
        let mut obs_out = Vec::new();
        for name in &c.obs_columns {
            obs_out.push((name.clone(), ObsValues::of(exp.obs(), name, &pool)?));
        }
        let weights = match &c.weight_by {
            Some(key) => {
                let (codes, _) = labels::encode(exp.obs(), key, &pool)?;
                let codes: Vec<u64> = codes.iter().map(|&k| k as u64).collect();
                Some(biobatch_sampling::Weighted::class_balanced_weights(&codes))
            }
            None => None,
        };
        Ok(ExperimentDataset {
            config: c.clone(),
            exp,
            layer,
            pool: pool.into(),
            filtered,
            gene_map,
            genes,
            coded,
            obs_out,
            weights,
            progress: Arc::new(Progress::default()),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ExperimentConfig {
        &self.config
    }

    /// Cells in the pool (after filter and split).
    pub fn num_cells(&self) -> usize {
        self.pool.len()
    }

    /// Genes per output row.
    pub fn num_genes(&self) -> usize {
        self.genes
    }

    /// The store rows of the pool, ascending.
    pub fn cells(&self) -> &[u64] {
        &self.pool
    }

    /// Vocabularies of the covariates and labels, in settings order.
    pub fn vocabularies(&self) -> Vec<Vocabulary> {
        self.coded.iter().map(|c| c.vocab.clone()).collect()
    }

    /// What the dataset serves.
    pub fn describe(&self) -> CellsDescription {
        let dtype = self.layer().map_or("?", |l| l.value_dtype());
        CellsDescription {
            store_cells: self.exp.n_obs(),
            store_genes: self.exp.n_vars(),
            layer: self.layer.clone(),
            value_dtype: dtype.to_string(),
            filtered_cells: self.filtered,
            cells: self.pool.len(),
            genes: self.genes,
            vocabularies: self.vocabularies(),
        }
    }

    /// The open store.
    pub fn experiment(&self) -> &Experiment {
        &self.exp
    }

    fn layer(&self) -> Result<&biobatch_formats::soma::Layer> {
        Ok(self.exp.layer(&self.layer)?)
    }

    /// The plan of this dataset's settings on `partition`: the chunk shuffle (or store
    /// order, or weighted draws), partitioned in contiguous blocks with equal counts.
    pub fn plan(&self, partition: Partition) -> Result<Arc<dyn biobatch_sampling::Plan>> {
        Ok(Arc::new(CellsPlan::new(self, partition)?))
    }

    /// A loader over this dataset's plan on `partition`, with the configuration's
    /// [`loader`](ExperimentConfig::loader) settings.
    pub fn into_loader(self, partition: Partition) -> Result<Loader> {
        let plan = self.plan(partition)?;
        let settings = self.config.loader;
        settings.loader_of_arcs(Arc::new(self), plan)
    }
}
