//! What the window datasets ([`PeakDataset`](crate::PeakDataset),
//! [`IntervalDataset`](crate::IntervalDataset)) share: windows of sequence and bigWig tracks
//! around loci, extracted once into compact stores; what was dropped and why; and the
//! metadata every example carries.
//!
//! - `extract`: exclusion lists, and the extraction of sequence and track windows (on
//!   threads of their own) into a `Store`;
//! - `store`: the compact, locus-major store (1 byte per base; `u8`, `u16` or `f32` per
//!   track value) and how batches read from it;
//! - `drops`: [`DropCounts`] and the first dropped record of each reason;
//! - `meta`: the `metadata` of a batch (`ranges`, `jitter`, `row`).

pub(crate) mod drops;
pub(crate) mod extract;
pub(crate) mod meta;
pub(crate) mod store;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use drops::DropCounts;
pub(crate) use drops::{Drops, Reason};
pub(crate) use extract::{Exclusions, Sources, extract};
pub(crate) use store::{Locus, Store};

use crate::{Error, Result};

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

/// The widest window (sequence, track or jitter span) a dataset accepts: 2^24 bases. Wider
/// is a typo, and a few of them would not fit in memory.
pub(crate) const MAX_WINDOW: u64 = 1 << 24;

/// Checks that a window setting is positive (unless it may be 0) and at most [`MAX_WINDOW`].
pub(crate) fn check_window(name: &str, value: u64, may_be_zero: bool) -> Result<()> {
    if value == 0 && !may_be_zero {
        return Err(Error::Config(format!("{name} must be positive")));
    }
    if value > MAX_WINDOW {
        return Err(Error::Config(format!(
            "{name} is {value} bases; at most 2^24 (16,777,216) are allowed"
        )));
    }
    Ok(())
}

/// What to do with bigWig values stored as NaN in the windows read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NanPolicy {
    /// An error naming the bigWig and how many bases are NaN.
    #[default]
    Error,
    /// Read them as 0; the count per track is reported (`nan_bases`).
    Zeros,
}

/// For each FASTA chromosome, the first track file that lacks it or gives it another length
/// (`None`: every track has it, as long), with its length there (`None`: absent).
pub(crate) type TrackMismatch = Option<(PathBuf, Option<u32>)>;

/// [`TrackMismatch`] of every chromosome of `fasta` against `tracks`.
pub(crate) fn track_mismatches(
    fasta: &biobatch_formats::fasta::Fasta,
    tracks: &[&std::sync::Arc<biobatch_formats::bigwig::BigWig>],
) -> Vec<TrackMismatch> {
    fasta
        .chroms()
        .map(|(name, len)| {
            tracks.iter().find_map(|bw| match bw.chrom_len(name) {
                None => Some((bw.path().to_path_buf(), None)),
                Some(l) if l as u64 != len => Some((bw.path().to_path_buf(), Some(l))),
                Some(_) => None,
            })
        })
        .collect()
}

/// Flattens track groups into files, with the strand swap of each output track: a group of
/// two files is a stranded pair (plus, minus), swapped under reverse complement; a group of
/// one is unstranded.
pub(crate) fn tracks(groups: &[Vec<PathBuf>], what: &str) -> Result<(Vec<PathBuf>, Vec<usize>)> {
    let (mut files, mut swap) = (Vec::new(), Vec::new());
    for g in groups {
        let base = files.len();
        match g.len() {
            1 => swap.push(base),
            2 => swap.extend([base + 1, base]),
            n => {
                return Err(Error::Config(format!(
                    "a {what} group has {n} files: give one (unstranded) or two (plus,minus)"
                )));
            }
        }
        files.extend(g.iter().cloned());
    }
    Ok((files, swap))
}

/// `file:line` of a locus.
pub(crate) fn place(files: &[PathBuf], l: &Locus) -> String {
    let f = files.get(l.file as usize).map(|p| p.display().to_string());
    format!("{}:{}", f.unwrap_or_default(), l.line)
}
