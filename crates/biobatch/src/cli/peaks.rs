//! `biobatch peaks bench|digest|check`: the BPNet peak loader from the command line.

use std::path::{Path, PathBuf};
use std::time::Instant;

use biobatch::datasets::{MissingChrom, OneHotDtype, PeakConfig, PeakDataset};
use biobatch::loader::Loader;
use biobatch::sampling::{Cursor, Partition};
use clap::{Args, Subcommand, ValueEnum};

use super::CliError;
use super::digest::{digest, memcpy_bytes_per_s};

#[derive(Debug, Subcommand)]
pub enum Peaks {
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
pub enum OneHotArg {
    U8,
    F32,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MissingArg {
    /// An error naming the locus, the chromosome and the bigWig.
    Error,
    /// Read the track as zeros there.
    Zeros,
    /// Drop such loci (counted as missing_chromosome).
    Drop,
}

/// The dataset's inputs and settings; each flag overrides `--config` / `--example`.
#[derive(Debug, Args)]
pub struct PeakArgs {
    /// Use the small dataset bundled in the repository (examples/data/peaks).
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
    /// Loci on chromosomes a signal or control bigWig lacks.
    #[arg(long, value_enum)]
    missing: Option<MissingArg>,
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
    /// Directory of the extraction cache [default: $BIOBATCH_CACHE_DIR, else
    /// $XDG_CACHE_HOME/biobatch, else ~/.cache/biobatch].
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Extract from the files every time; neither read nor write the cache.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
    /// Show a progress bar.
    #[arg(long)]
    progress: bool,
}

fn example_dir() -> PathBuf {
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/peaks");
    if built.exists() {
        built
    } else {
        PathBuf::from("examples/data/peaks")
    }
}

fn groups(values: &[String]) -> Vec<Vec<PathBuf>> {
    values
        .iter()
        .map(|g| g.split(',').map(PathBuf::from).collect())
        .collect()
}

/// The peak settings of the bundled example.
pub fn example_config() -> PeakConfig {
    let d = example_dir();
    PeakConfig {
        peaks: vec![d.join("peaks.narrowPeak")],
        negatives: vec![d.join("negatives.bed")],
        fasta: d.join("genome.fa"),
        signals: vec![vec![d.join("signal.plus.bw"), d.join("signal.minus.bw")]],
        controls: vec![vec![d.join("control.plus.bw"), d.join("control.minus.bw")]],
        exclusion_lists: vec![d.join("exclusion.bed")],
        negative_ratio: 0.33,
        summits: true,
        seed: Some(1),
        batch_size: 64,
        ..Default::default()
    }
}

impl PeakArgs {
    /// Whether `--example` was given.
    pub fn example(&self) -> bool {
        self.example
    }

    /// The `--config` file, if given.
    pub fn config_file(&self) -> Option<&Path> {
        self.config.as_deref()
    }

    fn config(&self) -> Result<PeakConfig, CliError> {
        let mut c = if self.example {
            example_config()
        } else {
            PeakConfig::default()
        };
        if let Some(p) = &self.config {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            c = toml::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?;
        }
        self.apply(&mut c);
        if c.peaks.is_empty() || c.fasta.as_os_str().is_empty() {
            return Err("give --peaks and --fasta (or --config FILE, or --example)"
                .to_string()
                .into());
        }
        Ok(c)
    }

    /// Applies the flags given on the command line to `c`.
    pub fn apply(&self, c: &mut PeakConfig) {
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
        c.batch_size = self.batch_size.unwrap_or(c.batch_size);
        c.num_workers = self.workers.unwrap_or(c.num_workers);
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
        c.strict |= self.strict;
        c.outlier_filter &= !self.no_outlier_filter;
        c.counts_filter_negatives |= self.counts_filter_negatives;
        c.progress |= self.progress;
        if self.no_cache {
            c.cache_dir = None;
        } else if let Some(d) = &self.cache_dir {
            c.cache_dir = Some(d.clone());
        } else if c.cache_dir.is_none() {
            c.cache_dir = biobatch::datasets::default_cache_dir();
        }
    }
}

fn loader_of(c: &PeakConfig) -> Result<(Loader, serde_json::Value, f64), CliError> {
    let t = Instant::now();
    let ds = PeakDataset::open(c).map_err(|e| e.to_string())?;
    let construction_s = t.elapsed().as_secs_f64();
    let counts = serde_json::json!({
        "peaks_kept": ds.num_peaks(),
        "negatives_kept": ds.num_negatives(),
        "peaks_dropped": ds.drops(),
        "negatives_dropped": ds.negative_drops(),
        "cache": ds.cache_status().name(),
    });
    let loader = ds
        .into_loader(Partition::single())
        .map_err(|e| e.to_string())?;
    Ok((loader, counts, construction_s))
}

pub fn run(p: Peaks) -> Result<(), CliError> {
    match p {
        Peaks::Check { inputs } => {
            let c = inputs.config()?;
            let ds = PeakDataset::open(&c).map_err(|e| e.to_string())?;
            let out = serde_json::json!({
                "peaks_kept": ds.num_peaks(),
                "negatives_kept": ds.num_negatives(),
                "peaks_dropped": ds.drops(),
                "negatives_dropped": ds.negative_drops(),
                "first_dropped_peak": ds.first_dropped_peaks(),
                "first_dropped_negative": ds.first_dropped_negatives(),
                "ambiguous_bases": {"peaks": ds.ambiguous_bases().0, "negatives": ds.ambiguous_bases().1},
                "signal_tracks": ds.num_signal_tracks(),
                "control_tracks": ds.num_control_tracks(),
                "track_dtypes": {"signal": ds.track_dtypes().0, "control": ds.track_dtypes().1},
                "store_mb": ds.store_bytes() as f64 / 1e6,
                "cache": ds.cache_status().to_string(),
            });
            println!("{out}");
        }
        Peaks::Bench {
            inputs,
            batches,
            epochs,
        } => {
            let c = inputs.config()?;
            let (loader, counts, construction_s) = loader_of(&c)?;
            // Pass 1, timed: the loader alone (the consumer only counts).
            let t0 = Instant::now();
            let (mut n_batches, mut examples, mut bytes, mut first_batch_s) =
                (0u64, 0u64, 0usize, f64::NAN);
            'epochs: for e in 0..epochs {
                for b in loader.epoch(e)? {
                    let b = b?;
                    if n_batches == 0 {
                        first_batch_s = t0.elapsed().as_secs_f64();
                    }
                    examples += b.batch_size().ok().flatten().unwrap_or(0) as u64;
                    bytes += b.nbytes();
                    n_batches += 1;
                    if batches.is_some_and(|m| n_batches >= m) {
                        break 'epochs;
                    }
                }
            }
            let secs = t0.elapsed().as_secs_f64();
            // Pass 2, untimed: the same batches again (plans are pure functions of the seed),
            // hashed for the digest.
            let td = Instant::now();
            let (mut h, mut hashed) = (0u64, 0u64);
            'again: for e in 0..epochs {
                for b in loader.epoch(e)? {
                    h = h.rotate_left(5) ^ digest(&b?.into_inner());
                    hashed += 1;
                    if hashed >= n_batches {
                        break 'again;
                    }
                }
            }
            let digest_s = td.elapsed().as_secs_f64();
            let memcpy = memcpy_bytes_per_s(bytes);
            let out = serde_json::json!({
                "examples_per_s": (examples as f64 / secs).round(),
                "batches_per_s": (n_batches as f64 / secs).round(),
                "output_bytes_per_s": (bytes as f64 / secs).round(),
                "memcpy_bytes_per_s": memcpy.round(),
                "ratio_to_memcpy": bytes as f64 / secs / memcpy,
                "construction_s": construction_s,
                "first_batch_s": first_batch_s,
                "peak_rss_mb": biobatch::loader::peak_rss_mb(),
                "batches": n_batches,
                "examples": examples,
                "workers": c.num_workers,
                "counts": counts,
                "digest": format!("{h:016x}"),
                "digest_s": digest_s,
            });
            println!("{out}");
        }
        Peaks::Digest {
            inputs,
            batches,
            epochs,
            resume,
        } => {
            let c = inputs.config()?;
            let (loader, _, _) = loader_of(&c)?;
            let mut printed = 0u64;
            let mut it = match resume {
                Some(text) => {
                    let cursor: Cursor = text
                        .parse()
                        .map_err(|e: biobatch::sampling::Error| e.to_string())?;
                    loader.resume(&cursor)?
                }
                None => loader.epoch(0)?,
            };
            loop {
                for b in it.by_ref() {
                    let b = b?;
                    println!(
                        "{}\t{}\t{:016x}\t{}",
                        b.epoch(),
                        b.index(),
                        digest(&b),
                        b.cursor_after()
                    );
                    printed += 1;
                    if printed >= batches {
                        return Ok(());
                    }
                }
                let next = it.epoch() + 1;
                if next >= epochs {
                    return Ok(());
                }
                it = loader.epoch(next)?;
            }
        }
    }
    Ok(())
}
