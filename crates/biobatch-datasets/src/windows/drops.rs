//! The account of what a window dataset dropped at open, and why.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
    pub(crate) fn add(&mut self, r: Reason, what: impl FnOnce() -> String) {
        self.add_n(r, 1, what);
    }

    /// Records `n` drops.
    pub(crate) fn add_n(&mut self, r: Reason, n: u64, what: impl FnOnce() -> String) {
        if n == 0 {
            return;
        }
        *self.counts.get_mut(r) += n;
        self.first.entry(r.name().to_string()).or_insert_with(what);
    }

    /// Under `strict`, an error describing every drop other than the `chroms` selection.
    pub(crate) fn strict_error(&self, what: &str) -> Option<String> {
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
