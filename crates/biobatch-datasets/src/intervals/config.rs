//! Settings of an [`super::IntervalDataset`].

use std::path::PathBuf;

use biobatch_formats::sequence::Layout;
use serde::{Deserialize, Deserializer, Serialize};

use crate::windows::{check_window, tracks};
use crate::{Error, LoaderSettings, MissingChrom, NanPolicy, OneHotDtype, Result};

/// What to do with an interval whose window (with jitter) reaches past a chromosome end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutOfBounds {
    /// An error naming the file, line, window and chromosome length.
    #[default]
    Error,
    /// Keep it: bases past the end read as `N` (all-zero one-hot columns), track values as 0.
    #[serde(alias = "n")]
    Pad,
    /// Drop it, counted as `off_chromosome`.
    Drop,
}

/// Every setting of an [`super::IntervalDataset`]; serde-serialisable (TOML or JSON, the field
/// names below), unknown fields refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntervalConfig {
    /// Interval files (tab-separated BED: chrom, start, end, then any columns; gzip or not);
    /// rows of several files are concatenated in order and must have the same columns.
    pub intervals: Vec<PathBuf>,
    /// The genome.
    pub fasta: PathBuf,
    /// Resize every interval to this length around its centre `start + (end - start) / 2`
    /// (window `[c - L/2, c - L/2 + L)`); without it every interval must have the same length.
    pub sequence_length: Option<u32>,
    /// Label columns, 1-based as `cut -f` numbers them: `"4-"` (every column from the 4th),
    /// `"4-10"`, `"5,7,9-12"`. Values are numbers (`NaN` and `inf` allowed), given as
    /// `targets/labels` `[B, K]` f32. None: no labels.
    pub labels: Option<String>,
    /// Column 6 is the strand: `-` intervals are reverse-complemented (tracks reversed and
    /// stranded pairs swapped), so every example reads 5′ to 3′ on its own strand.
    pub use_strand: bool,
    /// bigWig target groups: two files are a stranded pair (plus, minus), one is unstranded.
    /// Given as `targets/tracks` `[B, T, target_length / bin_size]` f32.
    pub tracks: Vec<Vec<PathBuf>>,
    /// Width of the track window, centred as the sequence window [the sequence length].
    pub target_length: Option<u32>,
    /// Track values are averaged over bins of this many bases [1: per base].
    pub bin_size: u32,
    /// Keep only intervals on these chromosomes (all when empty): a selection, not a drop
    /// (validation by chromosome, for instance).
    pub chroms: Vec<String>,
    /// BED files of regions to exclude: an interval whose (jittered) window overlaps one is
    /// dropped, counted as `excluded`.
    pub exclusion_lists: Vec<PathBuf>,
    /// Windows past a chromosome end: `error`, `pad` or `drop`.
    pub out_of_bounds: OutOfBounds,
    /// Intervals on a chromosome a bigWig lacks: `error`, `zeros` or `drop`.
    pub missing: MissingChrom,
    /// bigWig values stored as NaN in the windows read: `error` (default) or `zeros` (read
    /// as 0, counted per track).
    pub nan: NanPolicy,
    /// Largest shift of an interval's windows either way (sequence and tracks together).
    pub max_jitter: u32,
    /// Reverse-complement examples with probability 0.5 (augmentation; tracks follow).
    pub reverse_complement: bool,
    /// A new order every epoch.
    pub shuffle: bool,
    /// The seed (required when training on several ranks).
    pub seed: Option<u64>,
    /// Batch size, workers, prefetch, progress bar (`[loader]`; batches of 32, 2 workers).
    #[serde(deserialize_with = "loader_settings")]
    pub loader: LoaderSettings,
    /// One-hot element type.
    pub onehot_dtype: OneHotDtype,
    /// One-hot layout: `channels_first` (`[B, 4, L]`, as PeakDataset and PyTorch
    /// convolutions) or `length_first` / `channels_last` (`[B, L, 4]`, as Keras and kipoiseq).
    pub layout: Layout,
}

fn loader_settings<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<LoaderSettings, D::Error> {
    LoaderSettings::deserialize_over(IntervalConfig::default().loader, d)
}

impl Default for IntervalConfig {
    fn default() -> Self {
        IntervalConfig {
            intervals: Vec::new(),
            fasta: PathBuf::new(),
            sequence_length: None,
            labels: None,
            use_strand: false,
            tracks: Vec::new(),
            target_length: None,
            bin_size: 1,
            chroms: Vec::new(),
            exclusion_lists: Vec::new(),
            out_of_bounds: OutOfBounds::Error,
            missing: MissingChrom::Error,
            nan: NanPolicy::Error,
            max_jitter: 0,
            reverse_complement: false,
            shuffle: true,
            seed: None,
            loader: LoaderSettings::default(),
            onehot_dtype: OneHotDtype::U8,
            layout: Layout::ChannelsFirst,
        }
    }
}

impl IntervalConfig {
    /// Checks what needs no file: intervals given, lengths positive and at most 2^24, track
    /// settings only with tracks, track groups of one or two files, the loader settings.
    pub fn check(&self) -> Result<()> {
        if self.intervals.is_empty() {
            return Err(Error::Config("no interval files given".into()));
        }
        if let Some(l) = self.sequence_length {
            check_window("sequence_length", l as u64, false)?;
        }
        if let Some(l) = self.target_length {
            check_window("target_length", l as u64, false)?;
        }
        check_window("max_jitter", self.max_jitter as u64, true)?;
        check_window("bin_size", self.bin_size as u64, false)?;
        if self.tracks.is_empty() && (self.target_length.is_some() || self.bin_size != 1) {
            return Err(Error::Config(
                "target_length and bin_size describe track targets, and no tracks are given".into(),
            ));
        }
        tracks(&self.tracks, "track")?;
        self.loader.check()
    }

    /// These settings for prediction: every interval once, in file order, as it is — no
    /// jitter, reverse complement or shuffling; one-hot as `f32`.
    pub fn for_prediction(&self) -> Self {
        IntervalConfig {
            max_jitter: 0,
            reverse_complement: false,
            shuffle: false,
            seed: Some(0),
            onehot_dtype: OneHotDtype::F32,
            ..self.clone()
        }
    }
}

/// 1-based column numbers, as `cut -f` takes them: `4-`, `4-10`, `5,7,9-12`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Columns {
    /// Inclusive ranges; `None` as the end: to the last column.
    ranges: Vec<(usize, Option<usize>)>,
}

impl Columns {
    /// Parses a column list; `first` is the first column that may be chosen.
    pub(super) fn parse(spec: &str, first: usize) -> Result<Self, String> {
        let bad = |why: &str| format!("labels = {spec:?}: {why} (e.g. \"4-\", \"4-10\", \"5,7\")");
        let mut ranges = Vec::new();
        for part in spec.split(',').map(str::trim) {
            let num = |s: &str| -> Result<usize, String> {
                s.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| bad(&format!("`{s}` is not a column number")))
            };
            let (lo, hi) = match part.split_once('-') {
                Some((a, "")) => (num(a)?, None),
                Some((a, b)) => (num(a)?, Some(num(b)?)),
                None => {
                    let n = num(part)?;
                    (n, Some(n))
                }
            };
            if hi.is_some_and(|h| h < lo) {
                return Err(bad(&format!("`{part}` ends before it starts")));
            }
            if lo < first {
                return Err(bad(&format!(
                    "column {lo} is not a label column: columns 1-{} are chrom, start, end{}",
                    first - 1,
                    if first > 4 {
                        ", name, score, strand"
                    } else {
                        ""
                    }
                )));
            }
            ranges.push((lo, hi));
        }
        Ok(Columns { ranges })
    }

    /// The 0-based column indices for lines of `n` columns, in the order given.
    pub(super) fn resolve(&self, n: usize) -> Result<Vec<usize>, String> {
        let mut out = Vec::new();
        for &(lo, hi) in &self.ranges {
            let hi = hi.unwrap_or(n);
            if hi > n {
                return Err(format!("label column {hi} is past the last column ({n})"));
            }
            out.extend((lo..=hi).map(|c| c - 1));
        }
        if out.is_empty() {
            return Err(format!(
                "no label columns: the lines have {n} columns, none from the first label column"
            ));
        }
        let mut seen = out.clone();
        seen.sort_unstable();
        if let Some(w) = seen.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("label column {} is named twice", w[0] + 1));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_lists_read_as_cut_reads_them() {
        let c = Columns::parse("4-", 4).unwrap();
        assert_eq!(c.resolve(7).unwrap(), vec![3, 4, 5, 6]);
        assert_eq!(
            Columns::parse("5, 7,9-10", 4).unwrap().resolve(12).unwrap(),
            vec![4, 6, 8, 9]
        );
        assert!(Columns::parse("4-10", 4).unwrap().resolve(8).is_err());
        assert!(Columns::parse("4-", 4).unwrap().resolve(3).is_err());
        assert!(Columns::parse("4,4", 4).unwrap().resolve(5).is_err());
        for bad in ["", "a", "0", "3-", "6-5", "4-x"] {
            assert!(Columns::parse(bad, 4).is_err(), "{bad:?} was accepted");
        }
        let e = Columns::parse("6", 7).unwrap_err();
        assert!(e.contains("strand"), "{e}");
    }

    #[test]
    fn settings_round_trip_and_refuse_unknown_fields() {
        let c = IntervalConfig {
            labels: Some("4-".into()),
            layout: Layout::LengthFirst,
            out_of_bounds: OutOfBounds::Pad,
            ..Default::default()
        };
        let text = serde_json::to_string(&c).unwrap();
        assert!(text.contains("\"length_first\"") && text.contains("\"pad\""));
        assert_eq!(serde_json::from_str::<IntervalConfig>(&text).unwrap(), c);
        let alias: IntervalConfig = serde_json::from_str(r#"{"layout": "channels_last"}"#).unwrap();
        assert_eq!(alias.layout, Layout::LengthFirst);
        let e = serde_json::from_str::<IntervalConfig>(r#"{"sequence_len": 10}"#).unwrap_err();
        assert!(e.to_string().contains("sequence_len"), "{e}");
    }
}
