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
            outlier_filter: true,
            min_counts: None,
            max_counts: None,
            counts_filter_negatives: false,
            exclusion_lists: Vec::new(),
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
}

impl DropCounts {
    /// A one-line account, e.g. for errors and logs.
    pub fn describe(&self) -> String {
        format!(
            "{} off the chromosome ends, {} not in `chroms`, {} excluded, {} outside the count limits, {} outliers",
            self.off_chromosome, self.chrom_filter, self.excluded, self.count_filter, self.outlier
        )
    }
}

/// One locus: chromosome (index into the FASTA), centre, and its row in its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Locus {
    pub chrom: u32,
    pub centre: i64,
    pub row: u64,
}

/// Track values at rest: `u16` when every value is an integer in `0..=65535` (count tracks:
/// lossless, half the memory), `f32` otherwise.
#[derive(Debug)]
pub(crate) enum Values {
    F32(Vec<f32>),
    U16(Vec<u16>),
}

impl Default for Values {
    fn default() -> Self {
        Values::U16(Vec::new())
    }
}

impl Values {
    /// Copies `dst.len()` values from `off` into `dst`, reversed when `rev`.
    #[inline]
    pub fn copy_to(&self, off: usize, dst: &mut [f32], rev: bool) {
        let n = dst.len();
        match self {
            Values::F32(v) => {
                let src = &v[off..off + n];
                if rev {
                    dst.iter_mut()
                        .zip(src.iter().rev())
                        .for_each(|(d, s)| *d = *s);
                } else {
                    dst.copy_from_slice(src);
                }
            }
            Values::U16(v) => {
                let src = &v[off..off + n];
                if rev {
                    dst.iter_mut()
                        .zip(src.iter().rev())
                        .for_each(|(d, s)| *d = *s as f32);
                } else {
                    dst.iter_mut().zip(src).for_each(|(d, s)| *d = *s as f32);
                }
            }
        }
    }

    /// The sum of `len` values from `off`.
    pub fn sum(&self, off: usize, len: usize) -> f64 {
        match self {
            Values::F32(v) => v[off..off + len].iter().map(|&x| x as f64).sum(),
            Values::U16(v) => v[off..off + len].iter().map(|&x| x as f64).sum(),
        }
    }

    /// Whether the values are stored as `u16`.
    pub fn is_compact(&self) -> bool {
        matches!(self, Values::U16(_))
    }
}

/// An element type track values can be written in; `put` refuses values it cannot hold
/// exactly.
trait Sink: Copy + Default + Send + Sync {
    fn put(v: f32) -> Option<Self>;
}

impl Sink for f32 {
    #[inline]
    fn put(v: f32) -> Option<Self> {
        Some(v)
    }
}

impl Sink for u16 {
    #[inline]
    fn put(v: f32) -> Option<Self> {
        ((0.0..=65_535.0).contains(&v) && v.fract() == 0.0).then_some(v as u16)
    }
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
    /// Signal tracks.
    pub tracks: usize,
    /// Control tracks.
    pub control_tracks: usize,
    /// `[n, tracks, sig_len]` (a locus's tracks side by side: one region per locus).
    pub signal: Values,
    /// `[n, control_tracks, seq_len]`.
    pub control: Values,
}

impl Store {
    /// Keeps the loci whose `keep` is true (rows of every array follow); returns how many
    /// were dropped.
    fn retain(&mut self, keep: &[bool]) -> u64 {
        fn compact<T: Copy>(v: &mut Vec<T>, width: usize, keep: &[bool]) {
            let mut w = 0;
            for (r, &k) in keep.iter().enumerate() {
                if k {
                    if w != r {
                        v.copy_within(r * width..(r + 1) * width, w * width);
                    }
                    w += 1;
                }
            }
            v.truncate(w * width);
        }
        let before = self.loci.len();
        compact(&mut self.loci, 1, keep);
        compact(&mut self.seq, self.seq_len, keep);
        for (values, width) in [
            (&mut self.signal, self.tracks * self.sig_len),
            (&mut self.control, self.control_tracks * self.seq_len),
        ] {
            match values {
                Values::F32(v) => compact(v, width, keep),
                Values::U16(v) => compact(v, width, keep),
            }
        }
        (before - self.loci.len()) as u64
    }
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
        let exclusions = Exclusions::load(&c.exclusion_lists, &fasta)?;
        let peak_loci = load_loci(
            &c.peaks,
            c.summits,
            &c.chroms,
            &fasta,
            peak_seq.max(peak_sig),
            &exclusions,
            &mut drops,
        )?;
        let neg_loci = load_loci(
            &c.negatives,
            false,
            &c.chroms,
            &fasta,
            c.in_window.max(c.out_window) as usize,
            &exclusions,
            &mut negative_drops,
        )?;
        if peak_loci.is_empty() {
            return Err(Error::Invalid(format!(
                "no peaks left: {}",
                drops.describe()
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
        let mut negatives = extract(
            neg_loci,
            c.in_window as usize,
            c.out_window as usize,
            &fasta,
            &chrom_names,
            &signals,
            &controls,
            opts,
        )?;
        let mut peaks = peaks;
        // Count filters, then the outlier filter over what remains (totals over the
        // unjittered out window, all signal tracks).
        let (t, out) = (signal_swap.len(), c.out_window as usize);
        let totals = |st: &Store, skip: usize| -> Vec<f64> {
            (0..st.loci.len())
                .map(|i| {
                    (0..st.tracks)
                        .map(|k| {
                            let off = (i * st.tracks + k) * st.sig_len + skip;
                            st.signal.sum(off, out)
                        })
                        .sum()
                })
                .collect()
        };
        let in_limits =
            |x: f64| c.min_counts.is_none_or(|m| x >= m) && c.max_counts.is_none_or(|m| x <= m);
        if c.min_counts.is_some() || c.max_counts.is_some() {
            if t == 0 {
                return Err(Error::Invalid(
                    "min_counts / max_counts need signal tracks".into(),
                ));
            }
            let keep: Vec<bool> = totals(&peaks, j as usize)
                .into_iter()
                .map(in_limits)
                .collect();
            drops.count_filter += peaks.retain(&keep);
            if c.counts_filter_negatives {
                let keep: Vec<bool> = totals(&negatives, 0).into_iter().map(in_limits).collect();
                negative_drops.count_filter += negatives.retain(&keep);
            }
        }
        if c.outlier_filter && t > 0 && !peaks.loci.is_empty() {
            let tot = totals(&peaks, j as usize);
            let threshold = 1.2 * quantile(&tot, 0.99);
            let keep: Vec<bool> = tot.iter().map(|&x| x <= threshold).collect();
            drops.outlier += peaks.retain(&keep);
        }
        if peaks.loci.is_empty() {
            return Err(Error::Invalid(format!(
                "no peaks left: {}",
                drops.describe()
            )));
        }
        tracing::info!(
            peaks = peaks.loci.len(),
            negatives = negatives.loci.len(),
            peaks_dropped = %drops.describe(),
            negatives_dropped = %negative_drops.describe(),
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

    /// Whether the peaks' signal and control values are held compactly (`u16`, lossless for
    /// integer counts up to 65,535) rather than as `f32`.
    pub fn compact_tracks(&self) -> (bool, bool) {
        (
            self.peaks.signal.is_compact(),
            self.peaks.control.is_compact(),
        )
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

/// Exclusion-list regions per chromosome (FASTA index), merged and sorted.
#[derive(Debug, Default)]
struct Exclusions {
    by_chrom: Vec<Vec<(i64, i64)>>,
}

impl Exclusions {
    fn load(files: &[PathBuf], fasta: &Fasta) -> Result<Self> {
        let mut by_chrom: Vec<Vec<(i64, i64)>> = vec![Vec::new(); fasta.index().len()];
        for f in files {
            for r in read_bed(f)? {
                // Regions on chromosomes the genome lacks cannot overlap any locus.
                if let Some(c) = fasta.chrom_id(&r.chrom) {
                    by_chrom[c].push((r.start as i64, r.end as i64));
                }
            }
        }
        for v in &mut by_chrom {
            v.sort_unstable();
            let mut merged: Vec<(i64, i64)> = Vec::with_capacity(v.len());
            for &(s, e) in v.iter() {
                match merged.last_mut() {
                    Some(last) if s <= last.1 => last.1 = last.1.max(e),
                    _ => merged.push((s, e)),
                }
            }
            *v = merged;
        }
        Ok(Exclusions { by_chrom })
    }

    /// Whether `[start, end)` on `chrom` overlaps a region (exact interval overlap).
    fn overlaps(&self, chrom: usize, start: i64, end: i64) -> bool {
        let Some(v) = self.by_chrom.get(chrom) else {
            return false;
        };
        let i = v.partition_point(|&(_, e)| e <= start);
        v.get(i).is_some_and(|&(s, _)| s < end)
    }
}

/// The `q` quantile with numpy's default (linear) interpolation.
fn quantile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let pos = (v.len() - 1) as f64 * q;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// Reads loci from BED files; drops (and counts) those filtered out or whose `span`-wide
/// window leaves the chromosome.
fn load_loci(
    files: &[PathBuf],
    summits: bool,
    chroms: &[String],
    fasta: &Fasta,
    span: usize,
    exclusions: &Exclusions,
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
            if exclusions.overlaps(chrom, start, start + span as i64) {
                drops.excluded += 1;
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

/// Reads one bigWig at every locus's centred window of `len` values into `rows` (one row
/// per locus). Loci are read in chunks with one reader, so blocks are inflated about once
/// when the loci are sorted, and the temporary buffer stays small. `Ok(false)` when a value
/// does not fit the element type.
fn read_track_into<T: Sink>(
    bw: &Arc<BigWig>,
    loci: &[Locus],
    chrom_names: &[String],
    len: usize,
    opts: ReadOptions,
    mut rows: Vec<&mut [T]>,
) -> Result<bool> {
    const CHUNK: usize = 4096;
    let mut reader = bw.reader_with(opts);
    let mut buf = vec![0f32; CHUNK.min(loci.len()) * len];
    let mut windows = Vec::with_capacity(CHUNK);
    for (c, chunk) in loci.chunks(CHUNK).enumerate() {
        windows.clear();
        windows.extend(chunk.iter().map(|l| {
            let s = l.centre - (len / 2) as i64;
            Window::new(&chrom_names[l.chrom as usize], s, s + len as i64)
        }));
        let buf = &mut buf[..chunk.len() * len];
        reader.read_windows(&windows, buf)?;
        for (i, src) in buf.chunks_exact(len).enumerate() {
            for (d, &v) in rows[c * CHUNK + i].iter_mut().zip(src) {
                match T::put(v) {
                    Some(x) => *d = x,
                    None => return Ok(false),
                }
            }
        }
    }
    Ok(true)
}

/// Splits `[n, t, len]` into `t` lists of row slices, one list per track.
fn track_rows<T>(buf: &mut [T], t: usize, len: usize) -> Vec<Vec<&mut [T]>> {
    let mut per: Vec<Vec<&mut [T]>> = (0..t).map(|_| Vec::new()).collect();
    if len > 0 {
        for (i, row) in buf.chunks_exact_mut(len).enumerate() {
            per[i % t].push(row);
        }
    }
    per
}

/// Reads a group of tracks (each on a thread of its own) into `[n, T, len]` of `T`; `None`
/// when some value does not fit `T`.
fn read_group<T: Sink>(
    files: &[Arc<BigWig>],
    loci: &[Locus],
    chrom_names: &[String],
    len: usize,
    opts: ReadOptions,
) -> Result<Option<Vec<T>>> {
    let t = files.len();
    let mut out = vec![T::default(); loci.len() * t * len];
    let rows = track_rows(&mut out, t.max(1), len);
    let fits = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .iter()
            .zip(rows)
            .map(|(bw, rows)| {
                scope.spawn(move || read_track_into(bw, loci, chrom_names, len, opts, rows))
            })
            .collect();
        handles.into_iter().try_fold(true, |all, h| {
            let ok = h.join().unwrap_or_else(|_| {
                Err(Error::Invalid("a bigWig extraction thread panicked".into()))
            })?;
            Ok::<bool, Error>(all && ok)
        })
    })?;
    Ok(fits.then_some(out))
}

/// Reads a group compactly (`u16`) when every value allows it, else as `f32`.
fn read_values(
    files: &[Arc<BigWig>],
    loci: &[Locus],
    chrom_names: &[String],
    len: usize,
    opts: ReadOptions,
) -> Result<Values> {
    if let Some(v) = read_group::<u16>(files, loci, chrom_names, len, opts)? {
        return Ok(Values::U16(v));
    }
    let v = read_group::<f32>(files, loci, chrom_names, len, opts)?
        .ok_or_else(|| Error::Invalid("f32 holds every value; this cannot fail".into()))?;
    Ok(Values::F32(v))
}

/// Extracts sequence, signal and control windows for `loci`, the sequence and every track
/// on threads of their own.
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
    let loci_ref = &loci;
    let (t, ct) = (signals.len(), controls.len());
    let (seq, signal, control) = std::thread::scope(|scope| {
        let seq = scope.spawn(move || -> Result<Vec<u8>> {
            let mut seq = vec![0u8; n * seq_len];
            for (l, dst) in loci_ref.iter().zip(seq.chunks_exact_mut(seq_len.max(1))) {
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
            Ok(seq)
        });
        let signal =
            scope.spawn(move || read_values(signals, loci_ref, chrom_names, sig_len, opts));
        let control =
            scope.spawn(move || read_values(controls, loci_ref, chrom_names, seq_len, opts));
        let panicked =
            |what: &str| Error::Invalid(format!("the {what} extraction thread panicked"));
        (
            seq.join().unwrap_or_else(|_| Err(panicked("sequence"))),
            signal.join().unwrap_or_else(|_| Err(panicked("signal"))),
            control.join().unwrap_or_else(|_| Err(panicked("control"))),
        )
    });
    let (seq, signal, control) = (seq?, signal?, control?);
    Ok(Store {
        seq_len,
        sig_len,
        seq,
        tracks: t,
        control_tracks: ct,
        signal,
        control,
        loci,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u16_holds_only_exact_counts() {
        assert_eq!(<u16 as Sink>::put(7.0), Some(7));
        assert_eq!(<u16 as Sink>::put(65_535.0), Some(65_535));
        for v in [-1.0, 0.5, 65_536.0, f32::NAN, f32::INFINITY] {
            assert_eq!(<u16 as Sink>::put(v), None, "{v}");
        }
    }

    #[test]
    fn quantile_matches_numpy_linear_interpolation() {
        // numpy.quantile([1, 2, 3, 4, 100], 0.99) == 96.16
        assert!((quantile(&[100.0, 1.0, 3.0, 2.0, 4.0], 0.99) - 96.16).abs() < 1e-9);
        assert_eq!(quantile(&[5.0], 0.99), 5.0);
        assert_eq!(quantile(&[1.0, 2.0], 0.5), 1.5);
    }

    #[test]
    fn exclusion_overlap_is_exact_and_merged() {
        let ex = Exclusions {
            by_chrom: vec![vec![(10, 20), (30, 40)]],
        };
        assert!(
            !ex.overlaps(0, 0, 10),
            "touching the start is not overlapping"
        );
        assert!(ex.overlaps(0, 0, 11));
        assert!(ex.overlaps(0, 19, 25));
        assert!(!ex.overlaps(0, 20, 30));
        assert!(ex.overlaps(0, 25, 31));
        assert!(!ex.overlaps(1, 0, 100), "a chromosome without regions");
    }

    #[test]
    fn retain_keeps_rows_of_every_array_together() {
        let mut st = Store {
            loci: (0..4)
                .map(|i| Locus {
                    chrom: 0,
                    centre: i,
                    row: i as u64,
                })
                .collect(),
            seq_len: 2,
            sig_len: 3,
            seq: (0..8).collect(),
            tracks: 2,
            control_tracks: 1,
            signal: Values::F32((0..4 * 2 * 3).map(|x| x as f32).collect()),
            control: Values::U16((0..4 * 2).collect()),
        };
        assert_eq!(st.retain(&[true, false, true, false]), 2);
        assert_eq!(st.loci.iter().map(|l| l.row).collect::<Vec<_>>(), [0, 2]);
        assert_eq!(st.seq, [0, 1, 4, 5]);
        let (mut sig, mut ctl) = (vec![0f32; 12], vec![0f32; 4]);
        st.signal.copy_to(0, &mut sig, false);
        st.control.copy_to(0, &mut ctl, false);
        assert_eq!(sig, [0., 1., 2., 3., 4., 5., 12., 13., 14., 15., 16., 17.]);
        assert_eq!(ctl, [0., 1., 4., 5.]);
    }
}
