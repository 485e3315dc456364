//! Settings of a [`super::PeakDataset`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

use crate::windows::{check_window, tracks};
use crate::{Error, LoaderSettings, MissingChrom, NanPolicy, OneHotDtype, Result};

/// Every setting of a [`super::PeakDataset`]; serde-serialisable so a run can be written down
/// (TOML or JSON, the field names below).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PeakConfig {
    /// Peak files (BED / narrowPeak); rows of several files are concatenated in order.
    pub peaks: Vec<PathBuf>,
    /// Negative (background) region files.
    pub negatives: Vec<PathBuf>,
    /// The genome.
    pub fasta: PathBuf,
    /// Signal track groups: two files are a stranded pair (plus, minus), one is unstranded.
    pub signals: Vec<Vec<PathBuf>>,
    /// Control track groups, as `signals`.
    pub controls: Vec<Vec<PathBuf>>,
    /// Keep only loci on these chromosomes (all when empty).
    pub chroms: Vec<String>,
    /// Input (sequence, controls) window.
    pub in_window: u32,
    /// Output (signal) window.
    pub out_window: u32,
    /// Largest shift of a peak's windows either way.
    pub max_jitter: u32,
    /// Negative slots per peak per epoch.
    pub negative_ratio: f64,
    /// Reverse-complement samples with probability 0.5.
    pub reverse_complement: bool,
    /// Shuffle peaks every epoch.
    pub shuffle: bool,
    /// Use narrowPeak summits (column 10) as centres.
    pub summits: bool,
    /// The seed (required when training on several ranks).
    pub seed: Option<u64>,
    /// Batch size, workers, prefetch, progress bar (`[loader]`; batches of 32, 2 workers).
    #[serde(deserialize_with = "loader_settings")]
    pub loader: LoaderSettings,
    /// One-hot element type.
    pub onehot_dtype: OneHotDtype,
    /// Loci on chromosomes absent from a signal or control bigWig: `error`, `zeros` or `drop`.
    pub missing: MissingChrom,
    /// bigWig values stored as NaN in the windows read: `error` (default) or `zeros` (read
    /// as 0, counted per track).
    pub nan: NanPolicy,
    /// Drop peaks whose total signal exceeds 1.2 × the 0.99 quantile (as cherimoya does).
    pub outlier_filter: bool,
    /// Drop peaks whose total signal (all signal tracks, over the out window) is below this.
    pub min_counts: Option<f64>,
    /// Drop peaks whose total signal is above this.
    pub max_counts: Option<f64>,
    /// Apply `min_counts` / `max_counts` to negatives too.
    pub counts_filter_negatives: bool,
    /// BED files of regions to exclude: a locus whose full (jittered) span overlaps one is
    /// dropped.
    pub exclusion_lists: Vec<PathBuf>,
    /// Turn every drop (off a chromosome end, excluded, count filter, outlier, missing
    /// chromosome) into an error naming the first such locus. `chroms` is a selection, not a
    /// drop, and stays allowed.
    pub strict: bool,
    /// Keep extraction results in a checksummed cache file in this directory and reuse them
    /// while the inputs and the settings that shape extraction are unchanged (`None`: no
    /// cache). See [`super::cache_status`](super::PeakDataset::cache_status).
    pub cache_dir: Option<PathBuf>,
}

fn loader_settings<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<LoaderSettings, D::Error> {
    LoaderSettings::deserialize_over(PeakConfig::default().loader, d)
}

impl Default for PeakConfig {
    fn default() -> Self {
        PeakConfig {
            peaks: Vec::new(),
            negatives: Vec::new(),
            fasta: PathBuf::new(),
            signals: Vec::new(),
            controls: Vec::new(),
            chroms: Vec::new(),
            in_window: 2114,
            out_window: 1000,
            max_jitter: 128,
            negative_ratio: 0.1,
            reverse_complement: true,
            shuffle: true,
            summits: false,
            seed: None,
            loader: LoaderSettings::default(),
            onehot_dtype: OneHotDtype::U8,
            missing: MissingChrom::Error,
            nan: NanPolicy::Error,
            outlier_filter: true,
            min_counts: None,
            max_counts: None,
            counts_filter_negatives: false,
            exclusion_lists: Vec::new(),
            strict: false,
            cache_dir: None,
        }
    }
}

impl PeakConfig {
    /// The bundled example (`examples/data/peaks` under `examples`, the repository's
    /// `examples/` folder; see [`examples_dir`](biobatch_formats::fs::examples_dir)): peaks with
    /// summits, negatives at a ratio of 0.33, stranded signal and control bigWigs, an
    /// exclusion list, seed 1, batches of 64.
    pub fn example(examples: &Path) -> Self {
        let d = examples.join("data/peaks");
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
            loader: LoaderSettings {
                batch_size: 64,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// These settings for prediction: every locus once, in file order, centred, as it is —
    /// no negatives, jitter, reverse complement, shuffling, count or outlier filters, or
    /// exclusion lists; one-hot as `f32`; no cache; drops reported, not refused.
    pub fn for_prediction(&self) -> Self {
        PeakConfig {
            negatives: Vec::new(),
            chroms: Vec::new(),
            max_jitter: 0,
            negative_ratio: 0.0,
            reverse_complement: false,
            shuffle: false,
            seed: Some(0),
            onehot_dtype: OneHotDtype::F32,
            outlier_filter: false,
            min_counts: None,
            max_counts: None,
            counts_filter_negatives: false,
            exclusion_lists: Vec::new(),
            strict: false,
            cache_dir: None,
            ..self.clone()
        }
    }

    /// Checks what needs no file: peaks given, windows positive, count filters with signals,
    /// track groups of one or two files, a finite, non-negative negative ratio, the loader
    /// settings.
    pub fn check(&self) -> Result<()> {
        if self.peaks.is_empty() {
            return Err(Error::Config("no peak files given".into()));
        }
        check_window("in_window", self.in_window as u64, false)?;
        check_window("out_window", self.out_window as u64, false)?;
        check_window("max_jitter", self.max_jitter as u64, true)?;
        if (self.min_counts.is_some() || self.max_counts.is_some()) && self.signals.is_empty() {
            return Err(Error::Config(
                "min_counts / max_counts need signal tracks".into(),
            ));
        }
        if !(self.negative_ratio.is_finite() && self.negative_ratio >= 0.0) {
            return Err(Error::Config(format!(
                "negative_ratio must be a finite number ≥ 0, not {}",
                self.negative_ratio
            )));
        }
        tracks(&self.signals, "signal")?;
        tracks(&self.controls, "control")?;
        self.loader.check()
    }
}
