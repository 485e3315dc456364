//! `biobatch arrays info|bench|digest`: array files (HDF5 / netCDF4, .npz, .npy) and their
//! loader.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use biobatch::datasets::arrays::{FlipConfig, Normalize, RaggedLayout, file_info};
use biobatch::datasets::{ArraysConfig, ArraysDataset, RaggedConfig};
use biobatch::loader::Loader;
use biobatch::loader::measure::bench;
use biobatch::sampling::Partition;
use clap::{Args, Subcommand};

use super::out_json;
use super::peaks::read_toml;

#[derive(Debug, Subcommand)]
pub(super) enum Arrays {
    /// Print a file's variables (shape, dtype, chunks, filters, CF decoding) and dimensions
    /// as JSON.
    Info {
        /// The file: HDF5 / netCDF4 (needs the `hdf5` feature), .npz or .npy.
        file: PathBuf,
    },
    /// Run the loader and print one JSON line: samples/s, bytes/s, chunks decoded, the
    /// single-threaded decode rate of the same chunks, peak RSS, digest.
    Bench {
        #[command(flatten)]
        inputs: ArrayArgs,
        /// Epochs to run.
        #[arg(long, default_value_t = 1)]
        epochs: u64,
        /// Stop after this many batches.
        #[arg(long)]
        batches: Option<u64>,
        /// Also decode every chunk once on one thread (the baseline) and report the ratio.
        #[arg(long)]
        baseline: bool,
    },
    /// Print one line per batch: epoch, index, hash of its bytes, and the cursor after it.
    /// Identical for any `--workers`.
    Digest {
        #[command(flatten)]
        inputs: ArrayArgs,
        /// Batches to print.
        #[arg(long)]
        batches: u64,
        /// Epochs to run (at most).
        #[arg(long, default_value_t = 1)]
        epochs: u64,
        /// Continue after a cursor printed by an earlier run.
        #[arg(long)]
        resume: Option<String>,
    },
}

/// The loader's settings; each flag overrides `--config`.
#[derive(Debug, Args)]
pub(super) struct ArrayArgs {
    /// The file.
    file: PathBuf,
    /// A TOML file with the settings (the fields of ArraysConfig).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Input variables (first axis: the samples), comma-separated.
    #[arg(long, value_delimiter = ',')]
    inputs: Vec<String>,
    /// Target variables (first axis: the samples), comma-separated.
    #[arg(long, value_delimiter = ',')]
    targets: Vec<String>,
    /// Ragged per-item variables (e.g. `x,y,z,d`) …
    #[arg(long, value_delimiter = ',')]
    ragged: Vec<String>,
    /// … keyed to samples by this id variable (e.g. `hid`) …
    #[arg(long)]
    ragged_by: Option<String>,
    /// … whose first sample's id is this (holodec: 1) …
    #[arg(long)]
    ragged_base: Option<i64>,
    /// … or by an offsets variable (samples + 1 values).
    #[arg(long)]
    ragged_offsets: Option<String>,
    /// Where the ragged targets go: `targets/<NAME>`, `…_count`, `…_mask` [items].
    #[arg(long)]
    ragged_name: Option<String>,
    /// Order each sample's items by this ragged variable.
    #[arg(long)]
    sort_by: Option<String>,
    /// Items per sample in the output (default: the most any sample has).
    #[arg(long)]
    max_items: Option<usize>,
    /// Cut samples with more than --max-items items instead of refusing the file.
    #[arg(long)]
    truncate: bool,
    /// Serve the ragged targets as sparse rows (CSR) instead of padded.
    #[arg(long)]
    ragged_sparse: bool,
    /// A random flip: `AXIS` or `AXIS:COL+COL` (ragged columns negated), e.g. `1:x`;
    /// repeatable.
    #[arg(long)]
    flip: Vec<String>,
    /// Normalise a variable: `NAME=stats` or `NAME=MEAN:STD`; repeatable.
    #[arg(long)]
    normalize: Vec<String>,
    /// Samples per batch.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Loader worker threads.
    #[arg(long)]
    workers: Option<usize>,
    /// Random seed.
    #[arg(long)]
    seed: Option<u64>,
    /// File order instead of the shuffle.
    #[arg(long)]
    no_shuffle: bool,
    /// A uniform shuffle of records instead of the chunk-aware one.
    #[arg(long)]
    full_shuffle: bool,
    /// Chunks per IO batch.
    #[arg(long)]
    io_chunks: Option<u64>,
    /// Decoded-chunk cache budget, in MiB.
    #[arg(long)]
    cache_mb: Option<u64>,
    /// Drop a last, short batch.
    #[arg(long)]
    drop_last: bool,
    /// This process's rank (default: $RANK, else 0).
    #[arg(long)]
    rank: Option<u64>,
    /// Number of ranks (default: $WORLD_SIZE, else 1).
    #[arg(long)]
    world_size: Option<u64>,
    /// Show a progress bar.
    #[arg(long)]
    progress: bool,
}

fn parse_flip(s: &str) -> anyhow::Result<FlipConfig> {
    let (axis, cols) = s.split_once(':').unwrap_or((s, ""));
    Ok(FlipConfig {
        axis: axis
            .parse()
            .with_context(|| format!("--flip {s}: expected AXIS or AXIS:COL+COL"))?,
        negate: cols
            .split('+')
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect(),
    })
}

fn parse_normalize(s: &str) -> anyhow::Result<(String, Normalize)> {
    let Some((name, how)) = s.split_once('=') else {
        bail!("--normalize {s}: expected NAME=stats or NAME=MEAN:STD");
    };
    let n = match how.split_once(':') {
        None if how == "stats" => Normalize::Computed("stats".into()),
        Some((m, sd)) => Normalize::Constants {
            mean: m
                .parse()
                .with_context(|| format!("--normalize {s}: mean"))?,
            std: sd
                .parse()
                .with_context(|| format!("--normalize {s}: std"))?,
        },
        None => bail!("--normalize {s}: expected NAME=stats or NAME=MEAN:STD"),
    };
    Ok((name.to_string(), n))
}

impl ArrayArgs {
    fn config(&self) -> anyhow::Result<ArraysConfig> {
        let mut c = match &self.config {
            Some(p) => read_toml(p)?,
            None => ArraysConfig::default(),
        };
        c.file = self.file.clone();
        if !self.inputs.is_empty() {
            c.inputs = self.inputs.clone();
        }
        if !self.targets.is_empty() {
            c.targets = self.targets.clone();
        }
        if !self.ragged.is_empty() || self.ragged_by.is_some() || self.ragged_offsets.is_some() {
            let r = c.ragged.get_or_insert_with(RaggedConfig::default);
            if !self.ragged.is_empty() {
                r.variables = self.ragged.clone();
            }
            r.by = self.ragged_by.clone().or(r.by.take());
            r.offsets = self.ragged_offsets.clone().or(r.offsets.take());
            r.base = self.ragged_base.unwrap_or(r.base);
            if let Some(n) = &self.ragged_name {
                r.name = n.clone();
            }
            r.sort_by = self.sort_by.clone().or(r.sort_by.take());
            r.max_items = self.max_items.or(r.max_items);
            r.truncate |= self.truncate;
            if self.ragged_sparse {
                r.layout = RaggedLayout::Sparse;
            }
        }
        for f in &self.flip {
            c.flips.push(parse_flip(f)?);
        }
        for n in &self.normalize {
            let (k, v) = parse_normalize(n)?;
            c.normalize.insert(k, v);
        }
        c.loader.batch_size = self.batch_size.unwrap_or(c.loader.batch_size);
        c.loader.num_workers = self.workers.unwrap_or(c.loader.num_workers);
        c.seed = self.seed.or(c.seed);
        c.shuffle &= !self.no_shuffle;
        c.chunked &= !self.full_shuffle;
        c.io_chunks = self.io_chunks.unwrap_or(c.io_chunks);
        c.cache_bytes = self.cache_mb.map_or(c.cache_bytes, |m| m << 20);
        c.loader.drop_last |= self.drop_last;
        c.loader.progress |= self.progress;
        Ok(c)
    }

    fn partition(&self) -> anyhow::Result<Partition> {
        super::contiguous_partition(self.rank, self.world_size)
    }
}

/// The dataset (kept, for its decode counter) and a loader over it.
fn loader_of(a: &ArrayArgs) -> anyhow::Result<(Arc<ArraysDataset>, Loader, f64)> {
    let c = a.config()?;
    let t = Instant::now();
    let ds = Arc::new(ArraysDataset::open(&c)?);
    let open_s = t.elapsed().as_secs_f64();
    let plan = ds.plan(a.partition()?)?;
    let loader =
        Loader::from_arcs(ds.clone(), plan, c.loader.config())?.with_progress(c.loader.progress);
    Ok((ds, loader, open_s))
}

pub(crate) fn run(a: Arrays) -> anyhow::Result<()> {
    match a {
        Arrays::Info { file } => out_json(&serde_json::to_value(file_info(&file)?)?),
        Arrays::Bench {
            inputs,
            epochs,
            batches,
            baseline,
        } => {
            if baseline && batches.is_some() {
                bail!("--baseline compares whole epochs: leave out --batches");
            }
            let (ds, loader, open_s) = loader_of(&inputs)?;
            let r = bench(&loader, epochs, batches)?;
            let decoded = ds.blocks_decoded();
            let mut v = serde_json::json!({
                "samples_per_s": r.examples_per_s().round(),
                "batches_per_s": r.batches_per_s().round(),
                "bytes_per_s": r.bytes_per_s().round(),
                "open_s": open_s,
                "first_batch_s": r.first_batch_s,
                "peak_rss_mb": biobatch::loader::peak_rss_mb(),
                "batches": r.batches,
                "samples": r.examples,
                "workers": loader.config().num_workers,
                // `bench` runs the epochs twice: timed, then for the digest.
                "chunks_decoded": decoded,
                "chunks_per_epoch": ds.cached_blocks(),
                "dataset": serde_json::to_value(ds.describe())?,
                "digest": format!("{:016x}", r.digest),
            });
            if baseline {
                let (bytes, secs) = ds.decode_serially()?;
                let serial = bytes as f64 / secs;
                // The loader's decode rate: the decoded bytes of one epoch over its time.
                let epoch_s = r.seconds / epochs.max(1) as f64;
                let loader_rate = bytes as f64 / epoch_s;
                v["serial_decode_bytes_per_s"] = serial.round().into();
                v["loader_decode_bytes_per_s"] = loader_rate.round().into();
                v["ratio_to_serial_decode"] = (loader_rate / serial).into();
            }
            out_json(&v)
        }
        Arrays::Digest {
            inputs,
            batches,
            epochs,
            resume,
        } => {
            let (_, loader, _) = loader_of(&inputs)?;
            super::digest_lines(&loader, resume.as_deref(), epochs, batches)
        }
    }
}
