//! Array files as training data: [`ArraysDataset`] serves the records of HDF5 / netCDF4
//! variables (feature `hdf5`), `.npz` members or a `.npy` array along their first (sample)
//! axis — the holodec case: images with a variable number of particles each.
//!
//! - **Inputs and targets**: variables whose first axis is the sample axis, as
//!   `inputs/<name>` and `targets/<name>`; `metadata/index` is each sample's record.
//! - **Ragged targets** ([`RaggedConfig`]): per-item variables on their own dimension, keyed
//!   to samples by an id variable (`hid`, 1-based) or an offsets variable, indexed once at
//!   open by a counting sort (O(items) once, not a scan per sample), sorted within a sample
//!   if asked, served as `targets/<name>` `f32 [B, max_items, k]` zero-padded with
//!   `targets/<name>_count` (`i64 [B]`) and `targets/<name>_mask` (`bool [B, max_items]`).
//! - **Chunk-aware shuffling**: the sampling crate's chunked shuffle with the chunk equal to
//!   the main input's on-disk chunk length along the sample axis, and IO batches of
//!   `io_chunks` chunks: each chunk is decoded once per epoch (by a read-ahead thread,
//!   `io_prefetch` IO batches ahead of the consumer, into a cache of `cache_bytes`), while the
//!   order changes every epoch. Same batches for any worker count; resume from a cursor.
//! - **Augmentation**: flips along an axis of the inputs with probability ½ each, drawn from
//!   `(seed, epoch, record)`, that negate the matching ragged columns (holodec flips images
//!   and negates particles' x / y); `metadata/flips` holds each sample's flip bits.
//! - **Normalisation**: `(v − mean) / std` per variable, with constants given or statistics
//!   computed once at open (reported in [`ArraysDescription`]); normalised leaves are `f32`.
//!
//! See `docs/arrays.md`.

mod cache;
mod fill;
mod plan;
mod ragged;
mod source;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use biobatch_core::{Array, BlockSource, DType};
use biobatch_loader::Loader;
use biobatch_sampling::Partition;
use serde::{Deserialize, Serialize};

use cache::BlockCache;
use ragged::Ragged;
pub use ragged::{RaggedConfig, RaggedDescription, RaggedLayout};
use source::ArrayFile;
pub use source::{FileInfo, VariableInfo};

use crate::readahead::Progress;
use crate::{Error, LoaderSettings, Result};

/// A flip of the inputs along one axis, with probability ½ per sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlipConfig {
    /// The axis of the input variables, counting the sample axis as 0 (holodec's image
    /// `[hologram, x, y]`: 1 flips x, 2 flips y). Inputs with fewer axes are not flipped.
    pub axis: usize,
    /// Ragged columns negated when the flip happens (coordinates centred on the image).
    #[serde(default)]
    pub negate: Vec<String>,
}

/// How a variable is normalised: `{ mean = …, std = … }`, or `"stats"` to compute the mean
/// and standard deviation once at open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Normalize {
    /// Given constants.
    Constants {
        /// Subtracted.
        mean: f64,
        /// Divided by (positive).
        std: f64,
    },
    /// `"stats"`: computed over the whole variable at open.
    Computed(String),
}

/// Every setting of an [`ArraysDataset`] (serde, so a run can be written down).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArraysConfig {
    /// The file: HDF5 / netCDF4, `.npz` or `.npy`.
    pub file: PathBuf,
    /// Variables served as `inputs/<name>` (first axis: the samples).
    pub inputs: Vec<String>,
    /// Variables served as `targets/<name>` (first axis: the samples).
    pub targets: Vec<String>,
    /// Ragged per-sample targets.
    pub ragged: Option<RaggedConfig>,
    /// Random flips.
    pub flips: Vec<FlipConfig>,
    /// Normalisation per variable (inputs, targets or ragged columns).
    pub normalize: BTreeMap<String, Normalize>,
    /// Shuffle every epoch [true].
    pub shuffle: bool,
    /// Shuffle whole on-disk chunks, then records inside IO batches (each chunk decoded once
    /// per epoch) [true]; false: a uniform shuffle of records (each chunk decoded about once
    /// per record it holds, unless the cache holds the whole variable).
    pub chunked: bool,
    /// The seed (required on several ranks).
    pub seed: Option<u64>,
    /// Chunks per IO batch [8].
    pub io_chunks: u64,
    /// IO batches decoded ahead of the one being consumed [1].
    pub io_prefetch: usize,
    /// Byte budget of the decoded-chunk cache [512 MiB].
    pub cache_bytes: u64,
    /// Variables whose decoded size is at most this are read whole at open [64 MiB].
    pub preload_bytes: u64,
    /// Batch size, workers, prefetch, `drop_last`, progress bar.
    pub loader: LoaderSettings,
}

impl Default for ArraysConfig {
    fn default() -> Self {
        ArraysConfig {
            file: PathBuf::new(),
            inputs: Vec::new(),
            targets: Vec::new(),
            ragged: None,
            flips: Vec::new(),
            normalize: BTreeMap::new(),
            shuffle: true,
            chunked: true,
            seed: None,
            io_chunks: 8,
            io_prefetch: 1,
            cache_bytes: 512 << 20,
            preload_bytes: 64 << 20,
            loader: LoaderSettings::default(),
        }
    }
}

/// A served variable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeafDescription {
    /// Its path in the batch.
    pub path: String,
    /// The variable.
    pub variable: String,
    /// The leaf's dtype.
    pub dtype: String,
    /// The variable's shape.
    pub shape: Vec<usize>,
    /// Records per on-disk chunk (block).
    pub block_rows: usize,
    /// Read whole at open.
    pub preloaded: bool,
}

/// Normalisation constants in use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NormDescription {
    /// Subtracted.
    pub mean: f64,
    /// Divided by.
    pub std: f64,
    /// Computed at open (`"stats"`) rather than given.
    pub computed: bool,
}

/// What an [`ArraysDataset`] serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArraysDescription {
    /// The file.
    pub file: PathBuf,
    /// Samples.
    pub records: usize,
    /// Records per shuffle chunk (the main input's on-disk chunk length).
    pub chunk_records: usize,
    /// Records per IO batch.
    pub io_batch_records: usize,
    /// Served variables.
    pub leaves: Vec<LeafDescription>,
    /// Ragged targets.
    pub ragged: Option<RaggedDescription>,
    /// Normalisation constants.
    pub normalize: BTreeMap<String, NormDescription>,
}

/// A variable the dataset serves.
struct Var {
    name: String,
    path: String,
    is_input: bool,
    source: Arc<dyn BlockSource>,
    preloaded: Option<Arc<Array>>,
    dtype: DType,
    norm: Option<(f64, f64)>,
}

impl std::fmt::Debug for Var {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Var")
            .field("path", &self.path)
            .field("shape", &self.source.shape())
            .field("dtype", &self.dtype)
            .field("preloaded", &self.preloaded.is_some())
            .finish()
    }
}

/// A flip with the ragged columns it negates.
#[derive(Debug, Clone)]
struct Flip {
    axis: usize,
    negate_columns: Vec<usize>,
}

/// Samples of an array file (see [the module docs](self)).
#[derive(Debug)]
pub struct ArraysDataset {
    config: ArraysConfig,
    records: usize,
    chunk_records: usize,
    vars: Vec<Var>,
    ragged: Option<Ragged>,
    ragged_norm: Vec<(f32, f32)>,
    flips: Vec<Flip>,
    norms: BTreeMap<String, NormDescription>,
    cache: Arc<BlockCache>,
    progress: Arc<Progress>,
}

/// What `biobatch arrays info` shows of `path`.
pub fn file_info(path: &std::path::Path) -> Result<FileInfo> {
    ArrayFile::open(path)?.info()
}

/// Mean and (population) standard deviation of values, in f64.
fn mean_std(values: impl Iterator<Item = f64>) -> (f64, f64, u64) {
    // Welford's update: stable for long runs.
    let (mut n, mut mean, mut m2) = (0u64, 0.0f64, 0.0f64);
    for v in values {
        n += 1;
        let d = v - mean;
        mean += d / n as f64;
        m2 += d * (v - mean);
    }
    let var = if n > 0 { m2 / n as f64 } else { 0.0 };
    (mean, var.sqrt(), n)
}

impl ArraysDataset {
    /// Opens the file and validates every setting against it: variables exist and share the
    /// sample axis, ragged ids are whole numbers inside the sample range, flips name axes and
    /// columns that exist, normalisations have a positive std.
    pub fn open(config: &ArraysConfig) -> Result<Self> {
        let c = config;
        c.loader.check()?;
        if c.inputs.is_empty() {
            return Err(Error::Config(
                "arrays: name at least one input variable".into(),
            ));
        }
        if c.io_chunks == 0 {
            return Err(Error::Config("arrays: io_chunks must be at least 1".into()));
        }
        let file = ArrayFile::open(&c.file)?;
        let path = c.file.display().to_string();
        let mut vars = Vec::new();
        let mut records = None::<(usize, String)>;
        for (names, is_input) in [(&c.inputs, true), (&c.targets, false)] {
            for name in names {
                let source = file.variable(name)?;
                let n = source.records();
                match &records {
                    Some((m, first)) if *m != n => {
                        return Err(Error::Config(format!(
                            "{path}: variable `{name}` has {n} records along its first axis, \
                             `{first}` has {m} (the sample axis)"
                        )));
                    }
                    None => records = Some((n, name.clone())),
                    _ => {}
                }
                if vars.iter().any(|v: &Var| &v.name == name) {
                    return Err(Error::Config(format!(
                        "arrays: variable `{name}` named twice"
                    )));
                }
                vars.push(Var {
                    name: name.clone(),
                    path: format!("{}/{name}", if is_input { "inputs" } else { "targets" }),
                    is_input,
                    dtype: source.dtype(),
                    source,
                    preloaded: None,
                    norm: None,
                });
            }
        }
        let records = records.map_or(0, |r| r.0);
        let ragged = c
            .ragged
            .as_ref()
            .map(|r| Ragged::open(&file, r, records))
            .transpose()?;
        // Normalisation: constants or statistics.
        let mut norms = BTreeMap::new();
        let mut ragged_norm = ragged
            .as_ref()
            .map_or_else(Vec::new, |r| vec![(0.0f32, 1.0f32); r.columns.len()]);
        for (name, how) in &c.normalize {
            let var = vars.iter().position(|v| &v.name == name);
            let col = ragged
                .as_ref()
                .and_then(|r| r.columns.iter().position(|x| x == name));
            let (mean, std, computed) = match how {
                Normalize::Constants { mean, std } => (*mean, *std, false),
                Normalize::Computed(s) if s == "stats" => {
                    let (mean, std, _) = match (var, col, &ragged) {
                        (Some(i), _, _) => stats(vars[i].source.as_ref())?,
                        (None, Some(j), Some(r)) => mean_std(r.column(j).map(f64::from)),
                        _ => (0.0, 1.0, 0),
                    };
                    (mean, std, true)
                }
                Normalize::Computed(other) => {
                    return Err(Error::Config(format!(
                        "normalize.{name} = \"{other}\": expected \"stats\" or {{ mean = …, std \
                         = … }}"
                    )));
                }
            };
            if !(std.is_finite() && std > 0.0 && mean.is_finite()) {
                return Err(Error::Config(format!(
                    "normalize.{name}: std must be positive and finite (mean {mean}, std {std})"
                )));
            }
            match (var, col) {
                (Some(i), _) => {
                    vars[i].norm = Some((mean, std));
                    vars[i].dtype = DType::F32;
                }
                (None, Some(j)) => ragged_norm[j] = (mean as f32, std as f32),
                (None, None) => {
                    return Err(Error::Config(format!(
                        "normalize.{name}: `{name}` is not an input, target or ragged variable"
                    )));
                }
            }
            norms.insert(
                name.clone(),
                NormDescription {
                    mean,
                    std,
                    computed,
                },
            );
        }
        // Flips.
        let mut flips = Vec::new();
        if c.flips.len() > 8 {
            return Err(Error::Config("arrays: at most 8 flips".into()));
        }
        for f in &c.flips {
            if f.axis == 0
                || !vars
                    .iter()
                    .any(|v| v.is_input && f.axis < v.source.shape().len())
            {
                return Err(Error::Config(format!(
                    "flips: axis {} is not an axis of any input past the sample axis",
                    f.axis
                )));
            }
            let negate_columns = f
                .negate
                .iter()
                .map(|n| {
                    ragged
                        .as_ref()
                        .and_then(|r| r.columns.iter().position(|x| x == n))
                        .ok_or_else(|| {
                            Error::Config(format!(
                                "flips: negate names `{n}`, which is not a ragged variable"
                            ))
                        })
                })
                .collect::<Result<_>>()?;
            flips.push(Flip {
                axis: f.axis,
                negate_columns,
            });
        }
        // Small variables are read whole; the rest go through the block cache.
        for v in &mut vars {
            let bytes =
                v.source.records() * v.source.row_len() * v.source.dtype().size().unwrap_or(8);
            if bytes as u64 <= c.preload_bytes {
                v.preloaded = Some(Arc::new(v.source.read_all()?));
            }
        }
        // The shuffle chunk: the on-disk chunk of the input with the most bytes per record.
        let main = vars
            .iter()
            .filter(|v| v.is_input)
            .max_by_key(|v| v.source.row_len() * v.source.dtype().size().unwrap_or(8))
            .ok_or_else(|| Error::Config("arrays: name at least one input variable".into()))?;
        let chunk_records = main.source.block_rows().max(1);
        Ok(ArraysDataset {
            config: c.clone(),
            records,
            chunk_records,
            vars,
            ragged,
            ragged_norm,
            flips,
            norms,
            cache: Arc::new(BlockCache::new(c.cache_bytes as usize)),
            progress: Arc::new(Progress::default()),
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.records
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// The settings.
    pub fn config(&self) -> &ArraysConfig {
        &self.config
    }

    /// Blocks (on-disk chunks along the sample axis) decoded so far, all variables together.
    pub fn blocks_decoded(&self) -> u64 {
        self.cache.decodes()
    }

    /// Blocks of the variables read through the cache (those not preloaded): what one epoch
    /// decodes when each is decoded once.
    pub fn cached_blocks(&self) -> usize {
        self.vars
            .iter()
            .filter(|v| v.preloaded.is_none())
            .map(|v| v.source.blocks())
            .sum()
    }

    /// Decodes every block of the variables read through the cache once, on the calling
    /// thread and bypassing the cache: the single-threaded decode rate (inflate, unshuffle,
    /// conversion), a baseline for benchmarks. Returns the decoded bytes and the seconds.
    pub fn decode_serially(&self) -> Result<(u64, f64)> {
        let t = std::time::Instant::now();
        let mut bytes = 0u64;
        for v in self.vars.iter().filter(|v| v.preloaded.is_none()) {
            let src = v.source.as_ref();
            for b in 0..src.blocks() {
                let mut shape = src.shape().to_vec();
                shape[0] = src.block_range(b).len();
                let mut block = Array::zeros(src.dtype(), shape);
                src.read_block(b, &mut block)?;
                bytes += block.nbytes() as u64;
            }
        }
        Ok((bytes, t.elapsed().as_secs_f64()))
    }

    /// What the dataset serves.
    pub fn describe(&self) -> ArraysDescription {
        ArraysDescription {
            file: self.config.file.clone(),
            records: self.records,
            chunk_records: self.chunk_records,
            io_batch_records: self.chunk_records * self.config.io_chunks as usize,
            leaves: self
                .vars
                .iter()
                .map(|v| LeafDescription {
                    path: v.path.clone(),
                    variable: v.name.clone(),
                    dtype: v.dtype.to_string(),
                    shape: v.source.shape().to_vec(),
                    block_rows: v.source.block_rows(),
                    preloaded: v.preloaded.is_some(),
                })
                .collect(),
            ragged: self.ragged.as_ref().map(Ragged::describe),
            normalize: self.norms.clone(),
        }
    }

    /// The plan of this dataset's settings on `partition`.
    pub fn plan(&self, partition: Partition) -> Result<Arc<dyn biobatch_sampling::Plan>> {
        Ok(Arc::new(plan::ArraysPlan::new(self, partition)?))
    }

    /// A loader over this dataset's plan on `partition`, with the configuration's
    /// [`loader`](ArraysConfig::loader) settings.
    pub fn into_loader(self, partition: Partition) -> Result<Loader> {
        let plan = self.plan(partition)?;
        let settings = self.config.loader;
        settings.loader_of_arcs(Arc::new(self), plan)
    }
}

/// Mean and standard deviation of a whole variable, block by block.
fn stats(src: &dyn BlockSource) -> Result<(f64, f64, u64)> {
    let (mut n, mut mean, mut m2) = (0u64, 0.0f64, 0.0f64);
    for b in 0..src.blocks() {
        let mut shape = src.shape().to_vec();
        shape[0] = src.block_range(b).len();
        let mut block = Array::zeros(src.dtype(), shape);
        src.read_block(b, &mut block)?;
        // Chan et al.'s pairwise merge of the block's moments into the running ones.
        let (bm, bs, bn) = mean_std(fill::to_f64(&block)?.into_iter().filter(|v| !v.is_nan()));
        if bn == 0 {
            continue;
        }
        let total = n + bn;
        let d = bm - mean;
        mean += d * bn as f64 / total as f64;
        m2 += bs * bs * bn as f64 + d * d * n as f64 * bn as f64 / total as f64;
        n = total;
    }
    let std = if n > 0 { (m2 / n as f64).sqrt() } else { 0.0 };
    Ok((mean, std, n))
}
