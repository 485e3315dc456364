//! Sequence windows of BED intervals, with labels from the BED's own columns and bigWig
//! tracks as targets: the dataset of sequence-to-label and sequence-to-track models
//! (DeepSEA / Basset-style classifiers, Basenji-style binned tracks) and of zoo predictions.
//!
//! Semantics (see `docs/intervals.md`):
//! - An interval's centre is `start + (end - start) / 2` (floor). With `sequence_length L`
//!   its window is `[c - L/2, c - L/2 + L)`; without, the interval itself (all intervals must
//!   then share one length). The track window (`target_length T`, default `L`) is centred the
//!   same way, so for `T < L` it is the middle of the sequence window.
//! - Jitter shifts the sequence and track windows together by the plan's offset
//!   (`0..=2·max_jitter`, `max_jitter` = centred); every window with its jitter range is
//!   checked against the chromosome when the dataset opens: `out_of_bounds` = `error`,
//!   `pad` (N bases, zero track values) or `drop`.
//! - With `use_strand`, `-` intervals are reverse-complemented and their tracks reversed, the
//!   two files of each stranded pair swapped; the augmentation's reverse complement flips
//!   that again. Labels never change with strand.
//! - Sequence and track windows are extracted once at open (1 byte per base; track values in
//!   the narrowest exact type) and batches are assembled from them by index.
//!
//! Outputs per batch: `inputs/seq` one-hot `[B, 4, L]` or `[B, L, 4]` (u8 or f32),
//! `targets/labels` `[B, K]` f32 (with `labels`), `targets/tracks` `[B, T, bins]` f32 (with
//! `tracks`; a bin is the mean of `bin_size` bases), and `metadata`: `ranges` (chr, start,
//! end of the sequence window as given, `id` = column 4 or the row number, `strand` of the
//! sequence given: `-` when reverse-complemented), `jitter` and `row` (the interval's row
//! across its files).

mod config;
mod fill;
mod table;

use std::collections::BTreeMap;
use std::sync::Arc;

use biobatch_core::{ArraySchema, DType, DataSchema, SchemaNode, SpecialType};
use biobatch_formats::bigwig::{AbsentChrom, BigWig, ReadOptions};
use biobatch_formats::fasta::{Fasta, Padding};
use biobatch_formats::sequence::Layout;
use biobatch_loader::Loader;
use biobatch_sampling::{Augment, Order, Partition, Sampler, SamplerConfig};

pub use config::{IntervalConfig, OutOfBounds};

use crate::windows::{
    DropCounts, Drops, Exclusions, MissingChrom, OneHotDtype, Sources, Store, extract,
    track_mismatches, tracks,
};
use crate::{Error, Result};

/// Intervals of BED files as one-hot sequence windows with labels and track targets; see the
/// [module docs](self).
///
/// ```
/// use biobatch_datasets::{IntervalConfig, IntervalDataset, LoaderSettings};
/// use biobatch_sampling::Partition;
///
/// let data = "../../examples/data/peaks";
/// // Peaks as 1000-bp windows, their enrichment (narrowPeak column 7) as the label, and the
/// // stranded signal in 50-bp bins over the middle 500 bp.
/// let ds = IntervalDataset::open(&IntervalConfig {
///     intervals: vec![format!("{data}/peaks.narrowPeak").into()],
///     fasta: format!("{data}/genome.fa").into(),
///     sequence_length: Some(1000),
///     labels: Some("7".into()),
///     tracks: vec![vec![
///         format!("{data}/signal.plus.bw").into(),
///         format!("{data}/signal.minus.bw").into(),
///     ]],
///     target_length: Some(500),
///     bin_size: 50,
///     seed: Some(1),
///     loader: LoaderSettings { batch_size: 16, ..Default::default() },
///     ..Default::default()
/// })?;
/// assert_eq!(ds.labels(0), &[83.952]);
/// let loader = ds.into_loader(Partition::single())?;
/// let batch = loader.epoch(0)?.next().unwrap()?;
/// assert_eq!(batch.array("inputs/seq")?.shape(), &[16, 4, 1000]);
/// assert_eq!(batch.array("targets/labels")?.shape(), &[16, 1]);
/// assert_eq!(batch.array("targets/tracks")?.shape(), &[16, 2, 10]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct IntervalDataset {
    config: IntervalConfig,
    chrom_names: Vec<String>,
    store: Store,
    /// Reverse-complement interval `i` (its strand is `-`).
    minus: Vec<bool>,
    labels: Vec<f32>,
    label_names: Vec<String>,
    ids: Option<Vec<String>>,
    /// Sequence window length.
    seq_len: usize,
    /// Track window length.
    target_len: usize,
    /// Output track `t` under reverse complement reads source track `swap[t]`.
    track_swap: Vec<usize>,
    drops: Drops,
}

impl IntervalDataset {
    /// Reads and checks every interval, then extracts the sequence and track windows.
    pub fn open(config: &IntervalConfig) -> Result<Self> {
        let c = config;
        c.check()?;
        let fasta = Fasta::open(&c.fasta)?;
        let (track_files, track_swap) = tracks(&c.tracks, "track")?;
        let chrom_names: Vec<String> = fasta.chroms().map(|(n, _)| n.to_string()).collect();
        let track_bw: Vec<Arc<BigWig>> = track_files
            .iter()
            .map(|p| BigWig::open(p).map(Arc::new))
            .collect::<std::result::Result<_, _>>()?;
        let all: Vec<&Arc<BigWig>> = track_bw.iter().collect();
        let mismatch = track_mismatches(&fasta, &all);
        let exclusions = Exclusions::load(&c.exclusion_lists, &fasta)?;
        let mut drops = Drops::default();
        let t = table::read(
            &table::Checks {
                config: c,
                fasta: &fasta,
                exclusions: &exclusions,
                mismatch: &mismatch,
                target_length: c.target_length.map(|x| x as usize),
                has_tracks: !track_bw.is_empty(),
            },
            &mut drops,
        )?;
        if t.loci.is_empty() {
            return Err(Error::NothingLeft {
                what: "intervals",
                drops: drops.counts.describe(),
            });
        }
        let seq_len = t.length;
        let target_len = c.target_length.map_or(seq_len, |x| x as usize);
        if !track_bw.is_empty() && !target_len.is_multiple_of(c.bin_size as usize) {
            return Err(Error::Config(format!(
                "the track window ({target_len} bp) is not a whole number of {}-bp bins",
                c.bin_size
            )));
        }
        let j = 2 * c.max_jitter as usize;
        let src = Sources {
            fasta: &fasta,
            chrom_names: &chrom_names,
            signals: &track_bw,
            controls: &[],
            opts: ReadOptions {
                absent_chrom: match c.missing {
                    MissingChrom::Zeros => AbsentChrom::Missing,
                    _ => AbsentChrom::Error,
                },
                ..Default::default()
            },
            padding: match c.out_of_bounds {
                OutOfBounds::Pad => Padding::N,
                _ => Padding::Error,
            },
            nan: c.nan,
        };
        let store = extract(t.loci, seq_len + j, target_len + j, &src)?;
        store.prefer_huge_pages();
        let ds = IntervalDataset {
            config: c.clone(),
            chrom_names,
            store,
            minus: t.minus,
            labels: t.labels,
            label_names: t.label_names,
            ids: t.ids,
            seq_len,
            target_len,
            track_swap,
            drops,
        };
        tracing::info!(
            intervals = ds.len(),
            dropped = %ds.drops.counts.describe(),
            ambiguous_bases = ds.store.ambiguous,
            "interval dataset ready"
        );
        Ok(ds)
    }

    /// The configuration.
    pub fn config(&self) -> &IntervalConfig {
        &self.config
    }

    /// Intervals kept.
    pub fn len(&self) -> usize {
        self.store.loci.len()
    }

    /// Whether none were kept (never: opening refuses that).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Length of the sequence windows.
    pub fn sequence_length(&self) -> usize {
        self.seq_len
    }

    /// Length of the track windows, in bases.
    pub fn target_length(&self) -> usize {
        self.target_len
    }

    /// Bins per track window.
    pub fn bins(&self) -> usize {
        self.target_len / self.config.bin_size.max(1) as usize
    }

    /// Track targets (a stranded pair counts two).
    pub fn num_tracks(&self) -> usize {
        self.track_swap.len()
    }

    /// Names of the label columns (from a `#` header line with as many columns as the data,
    /// else `column N`).
    pub fn label_names(&self) -> &[String] {
        &self.label_names
    }

    /// The labels of interval `i` (its row among the kept intervals).
    pub fn labels(&self, i: usize) -> &[f32] {
        let k = self.label_names.len();
        &self.labels[i * k..(i + 1) * k]
    }

    /// Intervals dropped at open, by reason (`off_chromosome`, `chrom_filter`, `excluded`,
    /// `missing_chromosome`; the count filters of peaks never apply here).
    pub fn drops(&self) -> DropCounts {
        self.drops.counts
    }

    /// bigWig bases stored as NaN in the extracted windows, per track (read as 0 under
    /// `nan = "zeros"`; an error otherwise).
    pub fn nan_bases(&self) -> &[u64] {
        &self.store.nan
    }

    /// The first dropped interval of each reason (reason name to file, line and why).
    pub fn first_dropped(&self) -> &BTreeMap<String, String> {
        &self.drops.first
    }

    /// N and IUPAC bases in the extracted windows (valid; encoded as all-zero columns).
    pub fn ambiguous_bases(&self) -> u64 {
        self.store.ambiguous
    }

    /// Bytes of extracted data held (sequence and track windows).
    pub fn store_bytes(&self) -> usize {
        self.store.nbytes()
    }

    /// What a batch holds: shapes, dtypes, and the label names as `column_labels`.
    pub fn schema(&self) -> DataSchema {
        let l = self.seq_len;
        let shape = match self.config.layout {
            Layout::ChannelsFirst => vec![Some(4), Some(l)],
            Layout::LengthFirst => vec![Some(l), Some(4)],
        };
        let dtype = match self.config.onehot_dtype {
            OneHotDtype::U8 => DType::U8,
            OneHotDtype::F32 => DType::F32,
        };
        let mut seq = ArraySchema::new(shape).with_dtype(dtype);
        seq.special_type = Some(SpecialType::DnaSeq);
        seq.doc = Some("one-hot sequence, channels A, C, G, T".into());
        seq.associated_metadata = vec!["ranges".into()];
        let mut targets = BTreeMap::new();
        if !self.label_names.is_empty() {
            let mut a = ArraySchema::new(vec![Some(self.label_names.len())]).with_dtype(DType::F32);
            a.column_labels = Some(self.label_names.clone());
            a.doc = Some("labels from the interval files' columns".into());
            targets.insert("labels".to_string(), SchemaNode::Array(a));
        }
        if self.num_tracks() > 0 {
            let mut a = ArraySchema::new(vec![Some(self.num_tracks()), Some(self.bins())])
                .with_dtype(DType::F32);
            a.doc = Some(format!(
                "bigWig values, mean over {}-bp bins",
                self.config.bin_size
            ));
            targets.insert("tracks".to_string(), SchemaNode::Array(a));
        }
        DataSchema {
            inputs: SchemaNode::Map([("seq".to_string(), SchemaNode::Array(seq))].into()),
            targets: (!targets.is_empty()).then_some(SchemaNode::Map(targets)),
            metadata: Some(crate::windows::meta::schema()),
        }
    }

    /// The plan of this dataset's settings (order, jitter, reverse complement) on `partition`.
    pub fn plan(&self, partition: Partition) -> Result<Sampler> {
        let c = &self.config;
        Ok(Sampler::new(
            self.len() as u64,
            SamplerConfig {
                seed: c.seed,
                order: if c.shuffle {
                    Order::Shuffle
                } else {
                    Order::Sequential
                },
                augment: Augment {
                    max_jitter: c.max_jitter,
                    reverse_complement: c.reverse_complement,
                },
                partition,
            },
        )?)
    }

    /// A loader over this dataset's plan on `partition`, with the configuration's
    /// [`loader`](IntervalConfig::loader) settings.
    pub fn into_loader(self, partition: Partition) -> Result<Loader> {
        let plan = self.plan(partition)?;
        let settings = self.config.loader;
        settings.loader(self, plan)
    }
}
