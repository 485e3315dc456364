//! `biobatch peaks bench|digest|check`: the BPNet peak loader from the command line.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use biobatch::datasets::{MissingChrom, NanPolicy, OneHotDtype, PeakConfig, PeakDataset};
use biobatch::loader::Loader;
use biobatch::loader::measure::{bench, memcpy_bytes_per_s};
use biobatch::sampling::Partition;
use clap::{Args, Subcommand, ValueEnum};

use super::{examples, out_json};

#[derive(Debug, Subcommand)]
pub(super) enum Peaks {
    /// Build the loader, run it, and print one JSON line of throughput, start-up, memory,
    /// what was kept and dropped, and a digest of the batches (hashed in a second, untimed
    /// pass over the same batches).
    Bench {
        #[command(flatten)]
        inputs: PeakArgs,
        /// Stop after this many batches (default: whole epochs).
        #[arg(long)]
        batches: Option<u64>,
        /// Epochs to run.
        #[arg(long, default_value_t = 1)]
        epochs: u64,
    },
    /// Print one line per batch: epoch, index, a stable hash of all the batch's bytes, and the
    /// cursor to resume after it. Identical for any `--workers`.
    Digest {
        #[command(flatten)]
        inputs: PeakArgs,
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
    /// Validate the inputs and print what is kept and dropped, without building batches.
    Check {
        #[command(flatten)]
        inputs: PeakArgs,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum OneHotArg {
    U8,
    F32,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum NanArg {
    /// An error naming the bigWig and how many bases are NaN.
    Error,
    /// Read them as 0; the count per track is reported.
    Zeros,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum MissingArg {
    /// An error naming the locus, the chromosome and the bigWig.
    Error,
    /// Read the track as zeros there.
    Zeros,
    /// Drop such loci (counted as missing_chromosome).
    Drop,
}

/// The dataset's inputs and settings; each flag overrides `--config` / `--example`.
#[derive(Debug, Args)]
pub(super) struct PeakArgs {
    /// Use the small dataset bundled in the repository (examples/data/peaks; see
    /// --examples-dir).
    #[arg(long)]
    example: bool,
    /// A TOML file with the settings (the fields of PeakConfig, e.g. `in_window = 2114`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The genome FASTA.
    #[arg(long)]
    fasta: Option<PathBuf>,
    /// Peak files (BED / narrowPeak); repeatable.
    #[arg(long)]
    peaks: Vec<PathBuf>,
    /// Negative region files; repeatable.
    #[arg(long)]
    negatives: Vec<PathBuf>,
    /// A signal group: one bigWig, or `plus.bw,minus.bw` for a stranded pair; repeatable.
    #[arg(long, value_delimiter = ';')]
    signals: Vec<String>,
    /// A control group, as `--signals`; repeatable.
    #[arg(long, value_delimiter = ';')]
    controls: Vec<String>,
    /// Keep only these chromosomes (comma-separated).
    #[arg(long, value_delimiter = ',')]
    chroms: Vec<String>,
    /// Input (sequence, controls) window.
    #[arg(long)]
    in_window: Option<u32>,
    /// Output (signal) window.
    #[arg(long)]
    out_window: Option<u32>,
    /// Largest jitter either way.
    #[arg(long)]
    max_jitter: Option<u32>,
    /// Negative slots per peak per epoch.
    #[arg(long)]
    negative_ratio: Option<f64>,
    /// Do not reverse-complement.
    #[arg(long)]
    no_reverse_complement: bool,
    /// Do not shuffle peaks.
    #[arg(long)]
    no_shuffle: bool,
    /// Drop peaks whose total signal is below this.
    #[arg(long)]
    min_counts: Option<f64>,
    /// Drop peaks whose total signal is above this.
    #[arg(long)]
    max_counts: Option<f64>,
    /// Use narrowPeak summits as centres.
    #[arg(long)]
    summits: bool,
    /// Exclusion-list BED files; repeatable.
    #[arg(long)]
    exclusion: Vec<PathBuf>,
    /// Random seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Samples per batch.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Loader worker threads.
    #[arg(long)]
    workers: Option<usize>,
    /// One-hot element type.
    #[arg(long, value_enum)]
    onehot_dtype: Option<OneHotArg>,
    /// Loci on chromosomes a signal or control bigWig lacks, or gives another length than
    /// the FASTA.
    #[arg(long, value_enum)]
    missing: Option<MissingArg>,
    /// bigWig values stored as NaN in the windows read.
    #[arg(long, value_enum)]
    nan: Option<NanArg>,
    /// Make every dropped locus (off a chromosome end, excluded, count filter, outlier,
    /// missing chromosome) an error naming the first one.
    #[arg(long)]
    strict: bool,
    /// Keep the outlier filter off (peaks above 1.2 × the 0.99 quantile of total signal).
    #[arg(long)]
    no_outlier_filter: bool,
    /// Apply --min-counts / --max-counts to negatives too.
    #[arg(long)]
    counts_filter_negatives: bool,
    /// Directory of the extraction cache, and of the block cache of URL inputs [default:
    /// $BIOBATCH_CACHE_DIR, else $XDG_CACHE_HOME/biobatch, else ~/.cache/biobatch].
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Extract from the files every time; neither read nor write the cache.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
    /// Show a progress bar.
    #[arg(long)]
    progress: bool,
}

fn groups(values: &[String]) -> Vec<Vec<PathBuf>> {
    values
        .iter()
        .map(|g| g.split(',').map(PathBuf::from).collect())
        .collect()
}

impl PeakArgs {
    /// Whether `--example` was given.
    pub(super) fn example(&self) -> bool {
        self.example
    }

    /// The `--config` file, if given.
    pub(super) fn config_file(&self) -> Option<&Path> {
        self.config.as_deref()
    }

    fn config(&self, ex: Option<&Path>) -> anyhow::Result<PeakConfig> {
        let mut c = if self.example {
            PeakConfig::example(&examples(ex)?)
        } else {
            PeakConfig::default()
        };
        if let Some(p) = &self.config {
            c = read_toml(p)?;
        }
        self.apply(&mut c);
        if c.peaks.is_empty() || c.fasta.as_os_str().is_empty() {
            bail!("give --peaks and --fasta (or --config FILE, or --example)");
        }
        Ok(c)
    }

    /// Applies the flags given on the command line to `c`.
    pub(super) fn apply(&self, c: &mut PeakConfig) {
        if let Some(f) = &self.fasta {
            c.fasta = f.clone();
        }
        if !self.peaks.is_empty() {
            c.peaks = self.peaks.clone();
        }
        if !self.negatives.is_empty() {
            c.negatives = self.negatives.clone();
        }
        if !self.signals.is_empty() {
            c.signals = groups(&self.signals);
        }
        if !self.controls.is_empty() {
            c.controls = groups(&self.controls);
        }
        if !self.chroms.is_empty() {
            c.chroms = self.chroms.clone();
        }
        if !self.exclusion.is_empty() {
            c.exclusion_lists = self.exclusion.clone();
        }
        c.in_window = self.in_window.unwrap_or(c.in_window);
        c.out_window = self.out_window.unwrap_or(c.out_window);
        c.max_jitter = self.max_jitter.unwrap_or(c.max_jitter);
        c.negative_ratio = self.negative_ratio.unwrap_or(c.negative_ratio);
        c.reverse_complement &= !self.no_reverse_complement;
        c.shuffle &= !self.no_shuffle;
        c.min_counts = self.min_counts.or(c.min_counts);
        c.max_counts = self.max_counts.or(c.max_counts);
        c.summits |= self.summits;
        c.seed = self.seed.or(c.seed);
        c.loader.batch_size = self.batch_size.unwrap_or(c.loader.batch_size);
        c.loader.num_workers = self.workers.unwrap_or(c.loader.num_workers);
        if let Some(d) = self.onehot_dtype {
            c.onehot_dtype = match d {
                OneHotArg::U8 => OneHotDtype::U8,
                OneHotArg::F32 => OneHotDtype::F32,
            };
        }
        if let Some(m) = self.missing {
            c.missing = match m {
                MissingArg::Error => MissingChrom::Error,
                MissingArg::Zeros => MissingChrom::Zeros,
                MissingArg::Drop => MissingChrom::Drop,
            };
        }
        if let Some(n) = self.nan {
            c.nan = match n {
                NanArg::Error => NanPolicy::Error,
                NanArg::Zeros => NanPolicy::Zeros,
            };
        }
        c.strict |= self.strict;
        c.outlier_filter &= !self.no_outlier_filter;
        c.counts_filter_negatives |= self.counts_filter_negatives;
        c.loader.progress |= self.progress;
        if self.no_cache {
            c.cache_dir = None;
        } else if let Some(d) = &self.cache_dir {
            c.cache_dir = Some(d.clone());
            // URL inputs keep their blocks there too.
            crate::cli::remote_cache_dir(d);
        } else if c.cache_dir.is_none() {
            c.cache_dir = biobatch::datasets::default_cache_dir();
        }
    }
}

/// A TOML file of settings, read into `T`.
pub(crate) fn read_toml<T: serde::de::DeserializeOwned>(p: &Path) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(p).with_context(|| p.display().to_string())?;
    toml::from_str(&text).with_context(|| p.display().to_string())
}

fn loader_of(c: &PeakConfig) -> anyhow::Result<(Loader, serde_json::Value, f64)> {
    let t = Instant::now();
    let ds = PeakDataset::open(c)?;
    let construction_s = t.elapsed().as_secs_f64();
    let counts = serde_json::json!({
        "peaks_kept": ds.num_peaks(),
        "negatives_kept": ds.num_negatives(),
        "peaks_dropped": ds.drops(),
        "negatives_dropped": ds.negative_drops(),
        "cache": ds.cache_status().name(),
    });
    let loader = ds.into_loader(Partition::single())?;
    Ok((loader, counts, construction_s))
}

pub(crate) fn run(p: Peaks, ex: Option<&Path>) -> anyhow::Result<()> {
    match p {
        Peaks::Check { inputs } => {
            let c = inputs.config(ex)?;
            out_json(&PeakDataset::open(&c)?.report())
        }
        Peaks::Bench {
            inputs,
            batches,
            epochs,
        } => {
            let c = inputs.config(ex)?;
            let (loader, counts, construction_s) = loader_of(&c)?;
            let r = bench(&loader, epochs, batches)?;
            let memcpy = memcpy_bytes_per_s(r.bytes, 1, 1);
            out_json(&serde_json::json!({
                "examples_per_s": r.examples_per_s().round(),
                "batches_per_s": r.batches_per_s().round(),
                "output_bytes_per_s": r.bytes_per_s().round(),
                "memcpy_bytes_per_s": memcpy.round(),
                "ratio_to_memcpy": r.bytes_per_s() / memcpy,
                "construction_s": construction_s,
                "first_batch_s": r.first_batch_s,
                "peak_rss_mb": biobatch::loader::peak_rss_mb(),
                "batches": r.batches,
                "examples": r.examples,
                "workers": c.loader.num_workers,
                "counts": counts,
                "digest": format!("{:016x}", r.digest),
                "digest_s": r.digest_s,
            }))
        }
        Peaks::Digest {
            inputs,
            batches,
            epochs,
            resume,
        } => {
            let c = inputs.config(ex)?;
            let (loader, _, _) = loader_of(&c)?;
            super::digest_lines(&loader, resume.as_deref(), epochs, batches)
        }
    }
}
