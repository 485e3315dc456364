//! kipoiseq's `SeqIntervalDl` and `StringSeqIntervalDl`, the dataloaders of most Kipoi
//! sequence models, with kipoiseq 0.7's arguments and output (checked against values kipoiseq
//! itself computed: `tests/data/zoo/kipoiseq`).
//!
//! What kipoiseq does, and we do too:
//! - intervals from a tab-separated BED: 3 columns (6 with `use_strand`), every further column
//!   a label (`targets`, float64 unless `label_dtype` says otherwise); no label columns or
//!   `ignore_targets` give no targets;
//! - chromosome names: if the first row does not start with `chr` and `num_chr_fasta` is false,
//!   `chr` is prepended to every name; if it does and `num_chr_fasta` is true, the prefix is
//!   stripped (what kipoiseq means; with pandas ≥ 2 its own code silently keeps it);
//! - `auto_resize_len W`: centre `c = ⌊(start + end) / 2⌋`, new interval
//!   `[c − ⌊W/2⌋, c + ⌊W/2⌋ + W mod 2)`, before any strand handling;
//! - one-hot over `alphabet` (default `ACGT`: `N` is 0.25 everywhere, anything else zeros;
//!   any other alphabet: `N` is 0.25, a base outside it is an error), after upper-casing;
//!   `dtype` default float64 (an integer dtype makes the 0.25 of `N` a 0); `alphabet_axis` /
//!   `dummy_axis` place the axes exactly as kipoiseq's `ReorderedOneHot`;
//! - `use_strand`: a 6-column BED whose `-` rows are reverse-complemented (labels from column
//!   7);
//! - `StringSeqIntervalDl`: the sequence as text, upper-cased with `force_upper` (default);
//! - metadata `ranges`: `chr`, `start`, `end` of the (resized) interval, `id` = the row index,
//!   `strand` (`*` for a 3-column BED).
//!
//! What we do differently, on purpose:
//! - intervals reaching past a chromosome end are an error naming the line (kipoiseq silently
//!   returns a shorter sequence, or an empty one — a negative start wraps around — and then
//!   fails to batch); `out_of_bounds: pad` pads them with `N` instead;
//! - every row is checked when the dataloader is built (chromosome known, coordinates whole,
//!   labels readable), so a bad line fails in a second, not an hour into prediction;
//! - lines starting with `#`, `track` or `browser` are skipped; gzip files are read.

mod encoder;
mod intervals;

use biobatch_core::{
    Array, ArraySchema, Batch, DType, Data, DataSchema, Node, SchemaNode, SpecialType,
};
use biobatch_loader::{BatchDataset, BoxError};
use biobatch_sampling::Sample;

use crate::args::Args;
use crate::{Error, Result};

/// A dataset error handed back through the loader's boxed error, as the zoo's.
fn unbox(e: BoxError) -> Error {
    match e.downcast::<Error>() {
        Ok(e) => *e,
        Err(e) => match e.downcast::<biobatch_core::Error>() {
            Ok(e) => Error::Core(*e),
            Err(e) => Error::Config(e.to_string()),
        },
    }
}

fn not_array(what: &str) -> Error {
    Error::Core(biobatch_core::Error::PathNotFound {
        path: format!("inputs ({what})"),
    })
}
use encoder::Encoder;
use intervals::Intervals;

/// The dataloader names kipoiseq's sequence dataloaders go by.
pub const SEQ_INTERVAL_DL: &str = "kipoiseq.dataloaders.SeqIntervalDl";
/// See [`SEQ_INTERVAL_DL`].
pub const STRING_SEQ_INTERVAL_DL: &str = "kipoiseq.dataloaders.StringSeqIntervalDl";

const COMMON_ARGS: [&str; 8] = [
    "intervals_file",
    "fasta_file",
    "num_chr_fasta",
    "label_dtype",
    "auto_resize_len",
    "use_strand",
    "ignore_targets",
    "out_of_bounds",
];

/// kipoiseq's `SeqIntervalDl`: one-hot sequences of BED intervals.
pub struct SeqIntervalDl {
    iv: Intervals,
    enc: Encoder,
}

impl SeqIntervalDl {
    /// The arguments it takes (kipoiseq's, plus `out_of_bounds`).
    pub const ARGS: [&'static str; 12] = [
        COMMON_ARGS[0],
        COMMON_ARGS[1],
        COMMON_ARGS[2],
        COMMON_ARGS[3],
        COMMON_ARGS[4],
        COMMON_ARGS[5],
        COMMON_ARGS[6],
        COMMON_ARGS[7],
        "alphabet_axis",
        "dummy_axis",
        "alphabet",
        "dtype",
    ];

    /// Builds it from kipoiseq's arguments, checking every interval.
    pub fn from_args(a: &Args) -> Result<Self> {
        a.only(&Self::ARGS)?;
        let enc = Encoder::from_args(a)?;
        let iv = Intervals::open(a)?;
        Ok(SeqIntervalDl { iv, enc })
    }

    /// Number of intervals.
    pub fn len(&self) -> usize {
        self.iv.len()
    }

    /// Whether there are none (never: an empty file is refused).
    pub fn is_empty(&self) -> bool {
        self.iv.len() == 0
    }

    /// What a batch holds.
    pub fn schema(&self) -> DataSchema {
        let mut x = ArraySchema::new(self.enc.shape(self.iv.common_len)).with_dtype(self.enc.dtype);
        x.special_type = Some(SpecialType::DnaSeq);
        x.doc = Some(format!("one-hot sequence over {}", self.enc.alphabet));
        x.associated_metadata = vec!["ranges".into()];
        DataSchema {
            inputs: SchemaNode::Array(x),
            targets: self.iv.targets_schema(),
            metadata: Some(Intervals::metadata_schema()),
        }
    }

    fn buffer(&self, b: usize, len: usize) -> Batch {
        let mut shape = vec![b];
        shape.extend(
            self.enc
                .shape(Some(len))
                .into_iter()
                .map(|d| d.unwrap_or(len)),
        );
        Batch {
            inputs: Node::Array(Array::zeros(self.enc.dtype, shape)),
            targets: self.iv.targets_buffer(b),
            metadata: Some(Intervals::metadata_buffer(b)),
        }
    }

    fn fill_rows(&self, rows: &[usize], len: usize, out: &mut Batch) -> Result<()> {
        let mut seqs = Vec::with_capacity(rows.len() * len);
        let mut buf = Vec::with_capacity(len);
        for &r in rows {
            self.iv.fetch(r, &mut buf)?;
            if buf.len() != len {
                return Err(Error::Interval {
                    place: self.iv.where_(r),
                    message: format!(
                        "{} bp, the other intervals of the batch have {len}: set auto_resize_len \
                         to batch intervals of different lengths",
                        buf.len()
                    ),
                });
            }
            if let Some(p) = buf.iter().position(|&b| self.enc.invalid[b as usize]) {
                return Err(Error::Interval {
                    place: self.iv.where_(r),
                    message: format!(
                        "base `{}` at position {p} is not in the alphabet `{}` (nor N)",
                        buf[p].escape_ascii(),
                        self.enc.alphabet
                    ),
                });
            }
            seqs.extend_from_slice(&buf);
        }
        let x = out
            .inputs
            .as_array_mut()
            .ok_or_else(|| not_array("an array"))?;
        match x.data_mut() {
            Data::F64(v) => self.enc.encode(&seqs, len, v),
            Data::F32(v) => self.enc.encode(&seqs, len, v),
            Data::F16(v) => self.enc.encode(&seqs, len, v),
            Data::I64(v) => self.enc.encode(&seqs, len, v),
            Data::I32(v) => self.enc.encode(&seqs, len, v),
            Data::I8(v) => self.enc.encode(&seqs, len, v),
            Data::U8(v) => self.enc.encode(&seqs, len, v),
            d => {
                return Err(Error::Config(format!(
                    "dtype: one-hot sequences cannot be {}",
                    d.dtype()
                )));
            }
        }
        self.iv.fill_common(rows, out)
    }

    /// Example `i` alone (a batch of one), at its own length: how kipoiseq's `__getitem__`
    /// sees it, also for intervals of different lengths.
    pub fn example(&self, i: usize) -> Result<Batch> {
        let rows = self.iv.rows(&[Sample {
            index: i as u64,
            ..Default::default()
        }])?;
        let len = (self.iv.end[i] - self.iv.start[i]) as usize;
        let mut out = self.buffer(1, len);
        self.fill_rows(&rows, len, &mut out)?;
        Ok(out)
    }
}

impl BatchDataset for SeqIntervalDl {
    fn new_buffer(&self, batch_size: usize) -> std::result::Result<Batch, BoxError> {
        let len = self.iv.common_len.ok_or_else(|| Error::Interval {
            place: self.iv.path.display().to_string(),
            message: "the intervals have different lengths; set auto_resize_len so that they \
                      can be batched"
                .into(),
        })?;
        Ok(self.buffer(batch_size, len))
    }

    fn fill(&self, samples: &[Sample], out: &mut Batch) -> std::result::Result<(), BoxError> {
        let rows = self.iv.rows(samples)?;
        let len = self.iv.common_len.unwrap_or(0);
        Ok(self.fill_rows(&rows, len, out)?)
    }
}

/// kipoiseq's `StringSeqIntervalDl`: the sequences of BED intervals as text.
pub struct StringSeqIntervalDl {
    iv: Intervals,
    force_upper: bool,
}

impl StringSeqIntervalDl {
    /// The arguments it takes (kipoiseq's, plus `out_of_bounds`).
    pub const ARGS: [&'static str; 9] = [
        COMMON_ARGS[0],
        COMMON_ARGS[1],
        COMMON_ARGS[2],
        COMMON_ARGS[3],
        COMMON_ARGS[4],
        COMMON_ARGS[5],
        COMMON_ARGS[6],
        COMMON_ARGS[7],
        "force_upper",
    ];

    /// Builds it from kipoiseq's arguments, checking every interval.
    pub fn from_args(a: &Args) -> Result<Self> {
        a.only(&Self::ARGS)?;
        let force_upper = a.flag("force_upper", true)?;
        let iv = Intervals::open(a)?;
        Ok(StringSeqIntervalDl { iv, force_upper })
    }

    /// Number of intervals.
    pub fn len(&self) -> usize {
        self.iv.len()
    }

    /// Whether there are none (never: an empty file is refused).
    pub fn is_empty(&self) -> bool {
        self.iv.len() == 0
    }

    /// What a batch holds.
    pub fn schema(&self) -> DataSchema {
        let mut x = ArraySchema::new(vec![]).with_dtype(DType::Str);
        x.doc = Some("the interval's sequence".into());
        x.associated_metadata = vec!["ranges".into()];
        DataSchema {
            inputs: SchemaNode::Array(x),
            targets: self.iv.targets_schema(),
            metadata: Some(Intervals::metadata_schema()),
        }
    }

    /// Example `i` alone (a batch of one).
    pub fn example(&self, i: usize) -> Result<Batch> {
        let mut out = self.new_buffer(1).map_err(unbox)?;
        self.fill(
            &[Sample {
                index: i as u64,
                ..Default::default()
            }],
            &mut out,
        )
        .map_err(unbox)?;
        Ok(out)
    }
}

impl BatchDataset for StringSeqIntervalDl {
    fn new_buffer(&self, batch_size: usize) -> std::result::Result<Batch, BoxError> {
        Ok(Batch {
            inputs: Node::Array(Array::zeros(DType::Str, vec![batch_size])),
            targets: self.iv.targets_buffer(batch_size),
            metadata: Some(Intervals::metadata_buffer(batch_size)),
        })
    }

    fn fill(&self, samples: &[Sample], out: &mut Batch) -> std::result::Result<(), BoxError> {
        let rows = self.iv.rows(samples)?;
        let x = out
            .inputs
            .as_array_mut()
            .ok_or_else(|| not_array("an array"))?;
        let Data::Str(v) = x.data_mut() else {
            return Err(not_array("text").into());
        };
        let mut buf = Vec::new();
        for (o, &r) in v.iter_mut().zip(&rows) {
            self.iv.fetch(r, &mut buf)?;
            if self.force_upper {
                buf.make_ascii_uppercase();
            }
            o.clear();
            o.push_str(&String::from_utf8_lossy(&buf));
        }
        Ok(self.iv.fill_common(&rows, out)?)
    }
}
