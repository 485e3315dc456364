//! The BPNet / ChromBPNet peak-and-negative dataset.
//!
//! Semantics (see `docs/peaks.md`):
//! - A locus's centre is `start + (end - start) / 2` (floor), or `start + summit` with
//!   `summits` (narrowPeak column 10). A window of width `w` covers `[c - w/2, c - w/2 + w)`.
//! - Peaks are extracted once at `in_window + 2·max_jitter` (sequence, controls) and
//!   `out_window + 2·max_jitter` (signals); negatives at `in_window` / `out_window`, never
//!   jittered. The sampling plan's jitter `J ∈ 0..=2·max_jitter` is the start offset inside the
//!   extracted span, the same for sequence, signals and controls, so they stay aligned.
//! - Reverse complement: the sequence is reversed and complemented; signals and controls are
//!   reversed and the two strands of each stranded group (two files: plus, minus) swapped.
//! - Loci whose extracted span leaves the chromosome are dropped and counted
//!   ([`DropCounts`]); a chromosome absent from the FASTA is an error naming it and the file;
//!   bases other than nucleotide letters are an error naming chromosome and position.
//!
//! Outputs per batch: `inputs/seq` one-hot `[B, 4, in_window]` (u8 or f32), `inputs/controls`
//! `[B, C, in_window]` (when controls are given), `targets/signal` `[B, T, out_window]`,
//! `targets/is_peak` `[B]` (u8), and `metadata`: `ranges` (chr, start, end, id, strand of
//! the input window), `jitter` and `row` (the locus's row in its files).

mod fill;

use std::path::PathBuf;
use std::sync::Arc;

use biobatch_formats::bed::read_bed;
use biobatch_formats::bigwig::{AbsentChrom, BigWig, ReadOptions, Window};
use biobatch_formats::fasta::{Fasta, Padding};
use biobatch_formats::sequence;
use biobatch_sampling::{Augment, Mixture, MixtureConfig, Partition};
use serde::{Deserialize, Serialize};

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

/// Every setting of a [`PeakDataset`]; serde-serialisable so a run can be written down.
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
    /// Chromosomes absent from a bigWig: `error` or read as zeros (warned once).
    pub missing: AbsentChrom,
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
            missing: AbsentChrom::Error,
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
}

/// One locus: chromosome (index into the FASTA), centre, and its row in its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Locus {
    pub chrom: u32,
    pub centre: i64,
    pub row: u64,
}

/// Extracted windows of one set of loci: sequence bytes, signal and control values.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub loci: Vec<Locus>,
    /// Span of the sequence / control windows (in + 2·jitter for peaks, in for negatives).
    pub seq_len: usize,
    /// Span of the signal windows.
    pub sig_len: usize,
    /// `[n, seq_len]` bases as stored in the FASTA.
    pub seq: Vec<u8>,
    /// `[n, T, sig_len]`.
    pub signal: Vec<f32>,
    /// `[n, C, seq_len]`.
    pub control: Vec<f32>,
}

/// The peak-and-negative dataset: everything extracted at open, batches assembled from
/// compact stores (1 byte per base, f32 per signal value).
#[derive(Debug)]
pub struct PeakDataset {
    config: PeakConfig,
    chrom_names: Vec<String>,
    pub(crate) peaks: Store,
    pub(crate) negatives: Store,
    /// Output track `t` under reverse complement reads source track `swap[t]`.
    pub(crate) signal_swap: Vec<usize>,
    pub(crate) control_swap: Vec<usize>,
    drops: DropCounts,
    negative_drops: DropCounts,
}

fn tracks(groups: &[Vec<PathBuf>], what: &str) -> Result<(Vec<PathBuf>, Vec<usize>)> {
    let (mut files, mut swap) = (Vec::new(), Vec::new());
    for g in groups {
        let base = files.len();
        match g.len() {
            1 => swap.push(base),
            2 => swap.extend([base + 1, base]),
            n => {
                return Err(Error::Invalid(format!(
                    "a {what} group has {n} files: give one (unstranded) or two (plus,minus)"
                )));
            }
        }
        files.extend(g.iter().cloned());
    }
    Ok((files, swap))
}

impl PeakDataset {
    /// Reads, validates and extracts everything the configuration names.
    pub fn open(config: &PeakConfig) -> Result<Self> {
        let c = config;
        if c.peaks.is_empty() {
            return Err(Error::Invalid("no peak files given".into()));
        }
        if c.in_window == 0 || c.out_window == 0 {
            return Err(Error::Invalid(
                "in_window and out_window must be positive".into(),
            ));
        }
        let fasta = Fasta::open(&c.fasta)?;
        let (signal_files, signal_swap) = tracks(&c.signals, "signal")?;
        let (control_files, control_swap) = tracks(&c.controls, "control")?;
        let chrom_names: Vec<String> = fasta.chroms().map(|(n, _)| n.to_string()).collect();
        let (mut drops, mut negative_drops) = (DropCounts::default(), DropCounts::default());
        let j = c.max_jitter as i64;
        let peak_seq = (c.in_window as i64 + 2 * j) as usize;
        let peak_sig = (c.out_window as i64 + 2 * j) as usize;
        let peak_loci = load_loci(
            &c.peaks,
            c.summits,
            &c.chroms,
            &fasta,
            peak_seq.max(peak_sig),
            &mut drops,
        )?;
        let neg_loci = load_loci(
            &c.negatives,
            false,
            &c.chroms,
            &fasta,
            c.in_window.max(c.out_window) as usize,
            &mut negative_drops,
        )?;
        if peak_loci.is_empty() {
            return Err(Error::Invalid(format!(
                "no peaks left: {} off the chromosome ends, {} not in `chroms`",
                drops.off_chromosome, drops.chrom_filter
            )));
        }
        let opts = ReadOptions {
            absent_chrom: c.missing,
            ..Default::default()
        };
        let signals: Vec<Arc<BigWig>> = signal_files
            .iter()
            .map(|p| BigWig::open(p).map(Arc::new))
            .collect::<std::result::Result<_, _>>()?;
        let controls: Vec<Arc<BigWig>> = control_files
            .iter()
            .map(|p| BigWig::open(p).map(Arc::new))
            .collect::<std::result::Result<_, _>>()?;
        let peaks = extract(
            peak_loci,
            peak_seq,
            peak_sig,
            &fasta,
            &chrom_names,
            &signals,
            &controls,
            opts,
        )?;
        let negatives = extract(
            neg_loci,
            c.in_window as usize,
            c.out_window as usize,
            &fasta,
            &chrom_names,
            &signals,
            &controls,
            opts,
        )?;
        tracing::info!(
            peaks = peaks.loci.len(),
            negatives = negatives.loci.len(),
            peaks_off_chromosome = drops.off_chromosome,
            peaks_chrom_filter = drops.chrom_filter,
            negatives_off_chromosome = negative_drops.off_chromosome,
            negatives_chrom_filter = negative_drops.chrom_filter,
            "peak dataset extracted"
        );
        Ok(PeakDataset {
            config: c.clone(),
            chrom_names,
            peaks,
            negatives,
            signal_swap,
            control_swap,
            drops,
            negative_drops,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PeakConfig {
        &self.config
    }

    /// Peaks kept.
    pub fn num_peaks(&self) -> usize {
        self.peaks.loci.len()
    }

    /// Negatives kept.
    pub fn num_negatives(&self) -> usize {
        self.negatives.loci.len()
    }

    /// Peaks dropped at open, by reason.
    pub fn drops(&self) -> DropCounts {
        self.drops
    }

    /// Negatives dropped at open, by reason.
    pub fn negative_drops(&self) -> DropCounts {
        self.negative_drops
    }

    /// Signal tracks (stranded groups count two).
    pub fn num_signal_tracks(&self) -> usize {
        self.signal_swap.len()
    }

    /// Control tracks.
    pub fn num_control_tracks(&self) -> usize {
        self.control_swap.len()
    }

    /// The peak/negative mixture plan of this dataset's settings, on `partition`.
    pub fn plan(&self, partition: Partition) -> Result<Mixture> {
        let c = &self.config;
        Ok(Mixture::new(
            self.num_peaks() as u64,
            self.num_negatives() as u64,
            MixtureConfig {
                seed: c.seed,
                negative_ratio: c.negative_ratio,
                shuffle: c.shuffle,
                augment: Augment {
                    max_jitter: c.max_jitter,
                    reverse_complement: c.reverse_complement,
                },
                partition,
            },
        )?)
    }

    pub(crate) fn chrom_name(&self, chrom: u32) -> &str {
        &self.chrom_names[chrom as usize]
    }
}

/// Reads loci from BED files; drops (and counts) those filtered out or whose `span`-wide
/// window leaves the chromosome.
fn load_loci(
    files: &[PathBuf],
    summits: bool,
    chroms: &[String],
    fasta: &Fasta,
    span: usize,
    drops: &mut DropCounts,
) -> Result<Vec<Locus>> {
    let mut out = Vec::new();
    let mut row = 0u64;
    for f in files {
        for r in read_bed(f)? {
            let this = row;
            row += 1;
            if !chroms.is_empty() && !chroms.contains(&r.chrom) {
                drops.chrom_filter += 1;
                continue;
            }
            let chrom = fasta.chrom_id(&r.chrom).ok_or_else(|| {
                Error::Invalid(format!(
                    "{}:{}: chromosome `{}` is not in the FASTA {}",
                    f.display(),
                    r.line,
                    r.chrom,
                    fasta.path().display()
                ))
            })?;
            let centre = if summits {
                let summit = r.narrow_peak.and_then(|n| n.summit).ok_or_else(|| {
                    Error::Invalid(format!(
                        "{}:{}: `summits` is on but this record has no summit (narrowPeak column 10)",
                        f.display(),
                        r.line
                    ))
                })?;
                (r.start + summit) as i64
            } else {
                (r.start + (r.end - r.start) / 2) as i64
            };
            let len = fasta.index().records()[chrom].length as i64;
            let start = centre - (span / 2) as i64;
            if start < 0 || start + span as i64 > len {
                drops.off_chromosome += 1;
                continue;
            }
            out.push(Locus {
                chrom: chrom as u32,
                centre,
                row: this,
            });
        }
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn extract(
    loci: Vec<Locus>,
    seq_len: usize,
    sig_len: usize,
    fasta: &Fasta,
    chrom_names: &[String],
    signals: &[Arc<BigWig>],
    controls: &[Arc<BigWig>],
    opts: ReadOptions,
) -> Result<Store> {
    let n = loci.len();
    let mut seq = vec![0u8; n * seq_len];
    for (l, dst) in loci.iter().zip(seq.chunks_exact_mut(seq_len.max(1))) {
        let start = l.centre - (seq_len / 2) as i64;
        fasta.fetch_id_into(
            l.chrom as usize,
            start,
            start + seq_len as i64,
            Padding::Error,
            dst,
        )?;
        if let Err(bad) = sequence::validate(dst) {
            return Err(Error::Invalid(format!(
                "{}: invalid base {:?} at {}:{} (0-based)",
                fasta.path().display(),
                bad.byte as char,
                chrom_names[l.chrom as usize],
                start + bad.pos as i64
            )));
        }
    }
    let read_tracks = |files: &[Arc<BigWig>], len: usize| -> Result<Vec<f32>> {
        let t = files.len();
        let mut out = vec![0f32; n * t * len];
        let mut buf = vec![0f32; n * len];
        let windows: Vec<Window> = loci
            .iter()
            .map(|l| {
                let s = l.centre - (len / 2) as i64;
                Window::new(&chrom_names[l.chrom as usize], s, s + len as i64)
            })
            .collect();
        for (k, bw) in files.iter().enumerate() {
            bw.reader_with(opts).read_windows(&windows, &mut buf)?;
            for i in 0..n {
                out[(i * t + k) * len..(i * t + k + 1) * len]
                    .copy_from_slice(&buf[i * len..(i + 1) * len]);
            }
        }
        Ok(out)
    };
    let signal = read_tracks(signals, sig_len)?;
    let control = read_tracks(controls, seq_len)?;
    Ok(Store {
        loci,
        seq_len,
        sig_len,
        seq,
        signal,
        control,
    })
}
