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
//! - Loci whose extracted span leaves the chromosome, overlaps an exclusion region, fails a
//!   count filter or is an outlier are dropped and counted ([`DropCounts`]); with `strict`
//!   any drop is an error. A chromosome absent from the FASTA is an error naming it and the
//!   file; bases other than nucleotide letters are an error naming chromosome and position.
//! - With `cache_dir`, extraction results are kept in a checksummed cache file and read in
//!   place on the next open with the same inputs and extraction settings.
//!
//! Outputs per batch: `inputs/seq` one-hot `[B, 4, in_window]` (u8 or f32), `inputs/controls`
//! `[B, C, in_window]` (when controls are given), `targets/signal` `[B, T, out_window]`,
//! `targets/is_peak` `[B]` (u8), and `metadata`: `ranges` (chr, start, end, id, strand of
//! the input window), `jitter` and `row` (the locus's row in its files).

mod cache;
mod config;
mod fill;
mod loci;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use biobatch_formats::bigwig::{AbsentChrom, BigWig, ReadOptions};
use biobatch_formats::fasta::{Fasta, Padding};
use biobatch_loader::Loader;
use biobatch_sampling::{Augment, Mixture, MixtureConfig, Partition};

pub use cache::CacheStatus;
pub use config::PeakConfig;
use loci::{LociSource, load_loci, quantile};

use crate::windows::store::Values;
use crate::windows::{
    DropCounts, Drops, Exclusions, MissingChrom, Reason, Sources, Store, extract, place,
    track_mismatches, tracks,
};
use crate::{Error, Result};

/// The peak-and-negative dataset: everything extracted at open, batches assembled from
/// compact stores (1 byte per base; `u16` or `f32` per track value).
#[derive(Debug)]
pub struct PeakDataset {
    config: PeakConfig,
    chrom_names: Vec<String>,
    pub(crate) peaks: Store,
    pub(crate) negatives: Store,
    /// Output track `t` under reverse complement reads source track `swap[t]`.
    pub(crate) signal_swap: Vec<usize>,
    pub(crate) control_swap: Vec<usize>,
    drops: Drops,
    negative_drops: Drops,
    cache: CacheStatus,
}

impl PeakDataset {
    /// Reads, validates and extracts everything the configuration names — or, with
    /// `cache_dir`, restores it from a valid cache file of the same inputs and extraction
    /// settings (a stale or damaged one is rebuilt, never trusted).
    pub fn open(config: &PeakConfig) -> Result<Self> {
        config.check()?;
        let (mut build, mut _lock) = (None, None);
        if let Some(dir) = &config.cache_dir {
            // Look, and on a miss take the build lock and look again: of several processes
            // opening the same dataset at once (ranks on one node), one extracts and the
            // others wait and read its file.
            for attempt in 0..2 {
                match cache::lookup(config, dir)? {
                    cache::Found::Hit(ds) => {
                        ds.check_strict()?;
                        Mixture::checked_epoch_len(ds.num_peaks() as u64, config.negative_ratio)?;
                        return Ok(*ds);
                    }
                    cache::Found::Build(status, key) if attempt == 0 => {
                        _lock = status.path().and_then(crate::container::lock);
                        if _lock.is_none() {
                            build = Some((status, key));
                            break;
                        }
                    }
                    cache::Found::Build(status, key) => build = Some((status, key)),
                }
            }
        }
        let mut ds = Self::extract(config)?;
        if let Some((status, key)) = build {
            ds.cache = cache::store(&ds, status, key);
        }
        ds.log();
        Ok(ds)
    }

    /// Extraction from the files.
    fn extract(c: &PeakConfig) -> Result<Self> {
        let fasta = Fasta::open(&c.fasta)?;
        let (signal_files, signal_swap) = tracks(&c.signals, "signal")?;
        let (control_files, control_swap) = tracks(&c.controls, "control")?;
        let chrom_names: Vec<String> = fasta.chroms().map(|(n, _)| n.to_string()).collect();
        let open_all = |files: &[PathBuf]| -> Result<Vec<Arc<BigWig>>> {
            Ok(files
                .iter()
                .map(|p| BigWig::open(p).map(Arc::new))
                .collect::<std::result::Result<_, _>>()?)
        };
        let (signals, controls) = (open_all(&signal_files)?, open_all(&control_files)?);
        // For each FASTA chromosome, the first track file that lacks it or gives it another
        // length.
        let all: Vec<&Arc<BigWig>> = signals.iter().chain(&controls).collect();
        let mismatch = track_mismatches(&fasta, &all);
        let (mut drops, mut negative_drops) = (Drops::default(), Drops::default());
        let j = c.max_jitter as usize;
        let (inw, outw) = (c.in_window as usize, c.out_window as usize);
        let (peak_seq, peak_sig) = (inw + 2 * j, outw + 2 * j);
        let exclusions = Exclusions::load(&c.exclusion_lists, &fasta)?;
        let source = |files, summits, span| LociSource {
            files,
            summits,
            chroms: &c.chroms,
            fasta: &fasta,
            span,
            exclusions: &exclusions,
            mismatch: &mismatch,
            missing: c.missing,
        };
        let peak_loci = load_loci(
            &source(&c.peaks, c.summits, peak_seq.max(peak_sig)),
            &mut drops,
        )?;
        let neg_loci = load_loci(
            &source(&c.negatives, false, inw.max(outw)),
            &mut negative_drops,
        )?;
        if peak_loci.is_empty() {
            return Err(Error::NothingLeft {
                what: "peaks",
                drops: drops.counts.describe(),
            });
        }
        // Before any window is read: the epoch these settings make must be possible.
        Mixture::checked_epoch_len(peak_loci.len() as u64, c.negative_ratio)?;
        let src = Sources {
            fasta: &fasta,
            chrom_names: &chrom_names,
            signals: &signals,
            controls: &controls,
            opts: ReadOptions {
                absent_chrom: match c.missing {
                    MissingChrom::Zeros => AbsentChrom::Missing,
                    _ => AbsentChrom::Error,
                },
                ..Default::default()
            },
            padding: Padding::Error,
            nan: c.nan,
        };
        // Peaks and negatives at once: each spreads over its own threads.
        let (peaks, negatives) = std::thread::scope(|s| {
            let p = s.spawn(|| extract(peak_loci, peak_seq, peak_sig, &src));
            let n = extract(neg_loci, inw, outw, &src);
            let p = p.join().unwrap_or_else(|_| Err(Error::Panicked("peak")));
            (p, n)
        });
        let (mut peaks, mut negatives) = (peaks?, negatives?);
        // Count filters, then the outlier filter over what remains (totals over the
        // unjittered out window, all signal tracks).
        let in_limits =
            |x: f64| c.min_counts.is_none_or(|m| x >= m) && c.max_counts.is_none_or(|m| x <= m);
        let describe = |files: &[PathBuf], st: &Store, i: usize, total: f64| {
            format!("{}: total signal {total}", place(files, &st.loci[i]))
        };
        let count_filter = |st: &mut Store, files: &[PathBuf], skip: usize, d: &mut Drops| {
            let tot = st.totals(skip, outw);
            let keep: Vec<bool> = tot.iter().map(|&x| in_limits(x)).collect();
            if let Some(i) = keep.iter().position(|&k| !k) {
                let first = describe(files, st, i, tot[i]);
                let n = st.retain(&keep);
                d.add_n(Reason::CountFilter, n, || {
                    format!("{first}, limits {:?}..={:?}", c.min_counts, c.max_counts)
                });
            }
        };
        if c.min_counts.is_some() || c.max_counts.is_some() {
            count_filter(&mut peaks, &c.peaks, j, &mut drops);
            if c.counts_filter_negatives {
                count_filter(&mut negatives, &c.negatives, 0, &mut negative_drops);
            }
        }
        if c.outlier_filter && !signal_swap.is_empty() && !peaks.loci.is_empty() {
            // The quantile of the finite totals; a peak with a NaN or infinite total (NaN
            // values in a bigWig) is an outlier too.
            let tot = peaks.totals(j, outw);
            let finite: Vec<f64> = tot.iter().copied().filter(|x| x.is_finite()).collect();
            let threshold = 1.2 * quantile(&finite, 0.99);
            let keep: Vec<bool> = tot.iter().map(|&x| x <= threshold).collect();
            if let Some(i) = keep.iter().position(|&k| !k) {
                let first = describe(&c.peaks, &peaks, i, tot[i]);
                let n = peaks.retain(&keep);
                drops.add_n(Reason::Outlier, n, || {
                    format!("{first}, not ≤ {threshold} (1.2 × the 0.99 quantile of finite totals)")
                });
            }
        }
        if peaks.loci.is_empty() {
            return Err(Error::NothingLeft {
                what: "peaks",
                drops: drops.counts.describe(),
            });
        }
        peaks.prefer_huge_pages();
        negatives.prefer_huge_pages();
        let ds = PeakDataset {
            config: c.clone(),
            chrom_names,
            peaks,
            negatives,
            signal_swap,
            control_swap,
            drops,
            negative_drops,
            cache: CacheStatus::Off,
        };
        ds.check_strict()?;
        Ok(ds)
    }

    fn check_strict(&self) -> Result<()> {
        if !self.config.strict {
            return Ok(());
        }
        let errors: Vec<String> = [
            self.drops.strict_error("peaks"),
            self.negative_drops.strict_error("negatives"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Strict(errors.join("; ")))
        }
    }

    fn log(&self) {
        tracing::info!(
            peaks = self.peaks.loci.len(),
            negatives = self.negatives.loci.len(),
            peaks_dropped = %self.drops.counts.describe(),
            negatives_dropped = %self.negative_drops.counts.describe(),
            ambiguous_bases = self.peaks.ambiguous + self.negatives.ambiguous,
            cache = %self.cache,
            "peak dataset ready"
        );
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
        self.drops.counts
    }

    /// Negatives dropped at open, by reason.
    pub fn negative_drops(&self) -> DropCounts {
        self.negative_drops.counts
    }

    /// The first dropped peak of each reason (reason name, e.g. `off_chromosome`, to a
    /// description with file and line).
    pub fn first_dropped_peaks(&self) -> &BTreeMap<String, String> {
        &self.drops.first
    }

    /// The first dropped negative of each reason, as [`PeakDataset::first_dropped_peaks`].
    pub fn first_dropped_negatives(&self) -> &BTreeMap<String, String> {
        &self.negative_drops.first
    }

    /// N and IUPAC bases in the extracted windows of peaks and of negatives (valid bases that
    /// one-hot encodes as all-zero columns; reported so they are never silent).
    pub fn ambiguous_bases(&self) -> (u64, u64) {
        (self.peaks.ambiguous, self.negatives.ambiguous)
    }

    /// bigWig bases stored as NaN in the extracted windows (read as 0 under `nan = "zeros"`;
    /// an error otherwise), per track: signal tracks, then control tracks, over peaks and
    /// negatives.
    pub fn nan_bases(&self) -> Vec<u64> {
        let (p, n) = (&self.peaks.nan, &self.negatives.nan);
        (0..p.len().max(n.len()))
            .map(|k| p.get(k).copied().unwrap_or(0) + n.get(k).copied().unwrap_or(0))
            .collect()
    }

    /// What opening found, as JSON: loci kept and dropped (with the first dropped of each
    /// reason), ambiguous and NaN bases, tracks and their stored dtypes, the store's size and
    /// the cache status. `biobatch peaks check` prints it; the Python package returns it.
    pub fn report(&self) -> serde_json::Value {
        serde_json::json!({
            "peaks_kept": self.num_peaks(),
            "negatives_kept": self.num_negatives(),
            "peaks_dropped": self.drops(),
            "negatives_dropped": self.negative_drops(),
            "first_dropped_peak": self.first_dropped_peaks(),
            "first_dropped_negative": self.first_dropped_negatives(),
            "ambiguous_bases": {"peaks": self.ambiguous_bases().0, "negatives": self.ambiguous_bases().1},
            "nan_bases": self.nan_bases(),
            "signal_tracks": self.num_signal_tracks(),
            "control_tracks": self.num_control_tracks(),
            "track_dtypes": {"signal": self.track_dtypes().0, "control": self.track_dtypes().1},
            "store_mb": self.store_bytes() as f64 / 1e6,
            "cache": self.cache_status().to_string(),
        })
    }

    /// Whether the extraction came from the cache, was built, or was rebuilt (and why).
    pub fn cache_status(&self) -> &CacheStatus {
        &self.cache
    }

    /// Whether the extracted windows are read in place from the cache file (memory-mapped)
    /// rather than held in memory.
    pub fn is_mapped(&self) -> bool {
        self.peaks.is_mapped() && self.negatives.is_mapped()
    }

    /// Total signal of each kept peak over its unjittered out window, all signal tracks
    /// (what the count filters and the outlier filter see).
    pub fn peak_totals(&self) -> Vec<f64> {
        self.peaks.totals(
            self.config.max_jitter as usize,
            self.config.out_window as usize,
        )
    }

    /// Bytes of extracted data held (sequence and track values of peaks and negatives).
    pub fn store_bytes(&self) -> usize {
        self.peaks.nbytes() + self.negatives.nbytes()
    }

    /// Whether every signal track and every control track is held compactly (`u8` or `u16`:
    /// lossless for integer counts) rather than as `f32`.
    pub fn compact_tracks(&self) -> (bool, bool) {
        let compact = |v: &[Values]| v.iter().all(|x| x.dtype() != "f32");
        (
            compact(&self.peaks.signal) && compact(&self.negatives.signal),
            compact(&self.peaks.control) && compact(&self.negatives.control),
        )
    }

    /// The element type each signal and control track is held in at rest (`u8`, `u16` or
    /// `f32`; a track is as wide as its widest value needs, over peaks and negatives).
    pub fn track_dtypes(&self) -> (Vec<&'static str>, Vec<&'static str>) {
        let widest = |a: &[Values], b: &[Values]| -> Vec<&'static str> {
            a.iter()
                .zip(b)
                .map(|(x, y)| {
                    let w = |v: &Values| Values::width(v.dtype()).unwrap_or(4);
                    if w(x) >= w(y) { x.dtype() } else { y.dtype() }
                })
                .collect()
        };
        (
            widest(&self.peaks.signal, &self.negatives.signal),
            widest(&self.peaks.control, &self.negatives.control),
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

    /// A loader over this dataset's plan on `partition`, with the configuration's
    /// [`loader`](PeakConfig::loader) settings.
    pub fn into_loader(self, partition: Partition) -> Result<Loader> {
        let plan = self.plan(partition)?;
        let settings = self.config.loader;
        settings.loader(self, plan)
    }

    pub(crate) fn chrom_name(&self, chrom: u32) -> &str {
        &self.chrom_names[chrom as usize]
    }
}
