//! Settings of a [`super::PeakDataset`] and the account of what it dropped.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Element type of the one-hot sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OneHotDtype {
    /// `u8` (4× smaller batches; convert on the device).
    #[default]
    U8,
    /// `f32` (what a model takes directly).
    F32,
}

/// What to do with a locus on a chromosome that a signal or control bigWig lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MissingChrom {
    /// An error naming the locus (file and line), the chromosome and the bigWig.
    #[default]
    Error,
    /// Read the track as zeros there (warned once per chromosome and file).
    #[serde(alias = "missing")]
    Zeros,
    /// Drop the locus, counted as `missing_chromosome`.
    Drop,
}

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
    /// Samples per batch.
    pub batch_size: usize,
    /// Loader worker threads.
    pub num_workers: usize,
    /// One-hot element type.
    pub onehot_dtype: OneHotDtype,
    /// Loci on chromosomes absent from a signal or control bigWig: `error`, `zeros` or `drop`.
    pub missing: MissingChrom,
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
    /// Show a progress bar while loading.
    pub progress: bool,
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
            batch_size: 32,
            num_workers: 2,
            onehot_dtype: OneHotDtype::U8,
            missing: MissingChrom::Error,
            outlier_filter: true,
            min_counts: None,
            max_counts: None,
            counts_filter_negatives: false,
            exclusion_lists: Vec::new(),
            strict: false,
            cache_dir: None,
            progress: false,
        }
    }
}

/// Loci dropped at open, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropCounts {
    /// The extracted span leaves the chromosome.
    pub off_chromosome: u64,
    /// Not on a chromosome listed in `chroms`.
    pub chrom_filter: u64,
    /// The span overlaps an exclusion-list region.
    pub excluded: u64,
    /// Total signal outside `min_counts..=max_counts`.
    pub count_filter: u64,
    /// Total signal above 1.2 × the 0.99 quantile (outlier filter).
    pub outlier: u64,
    /// On a chromosome a signal or control bigWig lacks (`missing = drop`).
    pub missing_chromosome: u64,
}

impl DropCounts {
    /// A one-line account, e.g. for errors and logs.
    pub fn describe(&self) -> String {
        format!(
            "{} off the chromosome ends, {} not in `chroms`, {} excluded, {} outside the count \
             limits, {} outliers, {} on chromosomes a bigWig lacks",
            self.off_chromosome,
            self.chrom_filter,
            self.excluded,
            self.count_filter,
            self.outlier,
            self.missing_chromosome
        )
    }

    /// All loci dropped.
    pub fn total(&self) -> u64 {
        Reason::ALL.iter().map(|&r| self.get(r)).sum()
    }

    pub(crate) fn get(&self, r: Reason) -> u64 {
        match r {
            Reason::OffChromosome => self.off_chromosome,
            Reason::ChromFilter => self.chrom_filter,
            Reason::Excluded => self.excluded,
            Reason::CountFilter => self.count_filter,
            Reason::Outlier => self.outlier,
            Reason::MissingChromosome => self.missing_chromosome,
        }
    }

    fn get_mut(&mut self, r: Reason) -> &mut u64 {
        match r {
            Reason::OffChromosome => &mut self.off_chromosome,
            Reason::ChromFilter => &mut self.chrom_filter,
            Reason::Excluded => &mut self.excluded,
            Reason::CountFilter => &mut self.count_filter,
            Reason::Outlier => &mut self.outlier,
            Reason::MissingChromosome => &mut self.missing_chromosome,
        }
    }
}

/// Why a locus was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Reason {
    OffChromosome,
    ChromFilter,
    Excluded,
    CountFilter,
    Outlier,
    MissingChromosome,
}

impl Reason {
    const ALL: [Reason; 6] = [
        Reason::OffChromosome,
        Reason::ChromFilter,
        Reason::Excluded,
        Reason::CountFilter,
        Reason::Outlier,
        Reason::MissingChromosome,
    ];

    fn name(self) -> &'static str {
        match self {
            Reason::OffChromosome => "off_chromosome",
            Reason::ChromFilter => "chrom_filter",
            Reason::Excluded => "excluded",
            Reason::CountFilter => "count_filter",
            Reason::Outlier => "outlier",
            Reason::MissingChromosome => "missing_chromosome",
        }
    }

    /// What to change to keep such loci.
    fn advice(self) -> &'static str {
        match self {
            Reason::OffChromosome => "narrow the windows or remove loci near chromosome ends",
            Reason::ChromFilter => "widen `chroms`",
            Reason::Excluded => "check the exclusion lists",
            Reason::CountFilter => "relax min_counts / max_counts",
            Reason::Outlier => "turn the outlier filter off (outlier_filter = false)",
            Reason::MissingChromosome => "add the chromosome to the bigWig or use missing = zeros",
        }
    }
}

/// Drop counts with the first dropped locus of each reason, described (for `strict` errors
/// and for `check`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Drops {
    pub counts: DropCounts,
    pub first: BTreeMap<String, String>,
}

impl Drops {
    /// Records one drop; `what` describes the locus (called for the first of each reason).
    pub fn add(&mut self, r: Reason, what: impl FnOnce() -> String) {
        self.add_n(r, 1, what);
    }

    /// Records `n` drops.
    pub fn add_n(&mut self, r: Reason, n: u64, what: impl FnOnce() -> String) {
        if n == 0 {
            return;
        }
        *self.counts.get_mut(r) += n;
        self.first.entry(r.name().to_string()).or_insert_with(what);
    }

    /// Under `strict`, an error describing every drop other than the `chroms` selection.
    pub fn strict_error(&self, what: &str) -> Option<String> {
        let lines: Vec<String> = Reason::ALL
            .iter()
            .filter(|&&r| r != Reason::ChromFilter && self.counts.get(r) > 0)
            .map(|&r| {
                format!(
                    "{} {what} dropped ({}), first {}; {}",
                    self.counts.get(r),
                    r.name(),
                    self.first.get(r.name()).map_or("", String::as_str),
                    r.advice()
                )
            })
            .collect();
        (!lines.is_empty()).then(|| format!("strict: {}", lines.join("; ")))
    }
}
