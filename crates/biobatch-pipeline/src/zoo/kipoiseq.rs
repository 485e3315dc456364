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

use std::io::Read;
use std::path::{Path, PathBuf};

use biobatch_core::{
    Array, ArraySchema, Batch, DType, Data, DataSchema, Node, SchemaNode, SpecialType, f16,
};
use biobatch_formats::fasta::{Fasta, Padding};
use biobatch_loader::{BatchDataset, BoxError};
use biobatch_sampling::Sample;

use super::args::Args;
use crate::{Error, Result};

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

/// The intervals of a BED file, checked against a genome.
struct Intervals {
    path: PathBuf,
    fasta: Fasta,
    /// Chromosome names as the FASTA has them, by FASTA id.
    names: Vec<String>,
    chrom: Vec<u32>,
    start: Vec<i64>,
    end: Vec<i64>,
    /// `*` (3-column BED), `+`, `-` or `.`.
    strand: Vec<u8>,
    line: Vec<u32>,
    labels: Vec<f64>,
    n_tasks: usize,
    label_dtype: DType,
    ignore_targets: bool,
    padding: Padding,
    /// Reverse-complement `-` rows.
    use_strand: bool,
    /// The length every interval has, if they all have the same.
    common_len: Option<usize>,
}

fn read_text(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut raw = Vec::new();
    file.read_to_end(&mut raw).map_err(|e| Error::io(path, e))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| Error::io(path, e))?;
        out
    } else {
        raw
    };
    String::from_utf8(bytes)
        .map_err(|e| Error::Invalid(format!("{}: not UTF-8 text: {e}", path.display())))
}

impl Intervals {
    fn open(a: &Args) -> Result<Self> {
        let use_strand = a.flag("use_strand", false)?;
        let bed_columns = if use_strand { 6 } else { 3 };
        let path = a.path("intervals_file")?;
        let fasta_path = a.path("fasta_file")?;
        let num_chr = a.flag("num_chr_fasta", false)?;
        let label_dtype = a.opt_dtype("label_dtype")?.unwrap_or(DType::F64);
        let resize = match a.opt_int("auto_resize_len")? {
            Some(w) if w <= 0 => {
                return Err(a.err("auto_resize_len", format!("must be at least 1, found {w}")));
            }
            w => w,
        };
        let ignore_targets = a.flag("ignore_targets", false)?;
        let padding = match a.opt_str("out_of_bounds")?.as_deref() {
            None | Some("error") => Padding::Error,
            Some("pad") | Some("N") => Padding::N,
            Some(o) => {
                return Err(a.err(
                    "out_of_bounds",
                    format!("expected `error` or `pad`, found `{o}`"),
                ));
            }
        };
        let fasta = Fasta::open(&fasta_path)?;
        let names: Vec<String> = fasta.chroms().map(|(n, _)| n.to_string()).collect();
        let lens: Vec<u64> = fasta.chroms().map(|(_, l)| l).collect();
        let text = read_text(&path)?;
        let p = path.display().to_string();
        let mut t = Intervals {
            path: path.clone(),
            fasta,
            names,
            chrom: Vec::new(),
            start: Vec::new(),
            end: Vec::new(),
            strand: Vec::new(),
            line: Vec::new(),
            labels: Vec::new(),
            n_tasks: 0,
            label_dtype,
            ignore_targets,
            padding,
            use_strand,
            common_len: None,
        };
        let mut n_cols = None;
        // `Some(true)`: strip `chr`; `Some(false)`: prepend it; decided on the first row.
        let mut rename: Option<Option<bool>> = None;
        let mut lengths = std::collections::BTreeSet::new();
        for (i, raw) in text.lines().enumerate() {
            let lineno = i + 1;
            let l = raw.strip_suffix('\r').unwrap_or(raw);
            if l.trim().is_empty()
                || l.starts_with('#')
                || l.starts_with("track")
                || l.starts_with("browser")
            {
                continue;
            }
            let cells: Vec<&str> = l.split('\t').collect();
            let n = *n_cols.get_or_insert(cells.len());
            if n < bed_columns {
                return Err(Error::Invalid(format!(
                    "{p}:{lineno}: {} columns, expected at least {bed_columns}{}",
                    cells.len(),
                    if bed_columns == 6 {
                        " (use_strand reads chrom, start, end, name, score, strand)"
                    } else {
                        " (chrom, start, end)"
                    }
                )));
            }
            if cells.len() != n {
                return Err(Error::Invalid(format!(
                    "{p}:{lineno}: {} columns, the first row has {n} (tab-separated)",
                    cells.len()
                )));
            }
            let int = |col: usize, what: &str| -> Result<i64> {
                cells[col].trim().parse::<i64>().map_err(|_| {
                    Error::Invalid(format!(
                        "{p}:{lineno}: column {} ({what}) `{}` is not a whole number",
                        col + 1,
                        cells[col]
                    ))
                })
            };
            let (s, e) = (int(1, "start")?, int(2, "end")?);
            if s < 0 || e < s {
                return Err(Error::Invalid(format!(
                    "{p}:{lineno}: interval {s}-{e} is not a BED interval (0 ≤ start ≤ end)"
                )));
            }
            let strand = if bed_columns == 6 {
                match cells[5].trim() {
                    "+" => b'+',
                    "-" => b'-',
                    "." => b'.',
                    o => {
                        return Err(Error::Invalid(format!(
                            "{p}:{lineno}: column 6 (strand) `{o}` is not +, - or ."
                        )));
                    }
                }
            } else {
                b'*'
            };
            let rule = *rename.get_or_insert_with(|| {
                let chr = cells[0].starts_with("chr");
                match (num_chr, chr) {
                    (true, true) => Some(true),
                    (false, false) => Some(false),
                    _ => None,
                }
            });
            let name = match rule {
                Some(true) => cells[0].strip_prefix("chr").unwrap_or(cells[0]).to_string(),
                Some(false) => format!("chr{}", cells[0]),
                None => cells[0].to_string(),
            };
            let (s, e) = match resize {
                Some(w) => {
                    let c = (s + e).div_euclid(2);
                    (c - w / 2, c + w / 2 + w % 2)
                }
                None => (s, e),
            };
            let id = t.fasta.chrom_id(&name).ok_or_else(|| {
                let why = match rule {
                    Some(false) => " (`chr` was prepended because the first row has none and num_chr_fasta is false; set num_chr_fasta to true if the FASTA has no `chr`)",
                    Some(true) => " (`chr` was stripped because num_chr_fasta is true)",
                    None => "",
                };
                Error::Invalid(format!(
                    "{p}:{lineno}: chromosome `{name}` is not in {}{why}",
                    fasta_path.display()
                ))
            })?;
            let len = lens[id] as i64;
            if padding == Padding::Error && (s < 0 || e > len) {
                return Err(Error::Invalid(format!(
                    "{p}:{lineno}: interval {name}:{s}-{e}{} reaches past the chromosome ({name} has {len} bp); kipoiseq would silently return a shorter sequence. Drop the row, or set out_of_bounds to `pad` to fill with N",
                    if resize.is_some() {
                        " (after auto_resize_len)"
                    } else {
                        ""
                    }
                )));
            }
            if e == s {
                return Err(Error::Invalid(format!(
                    "{p}:{lineno}: interval {name}:{s}-{e} is empty; set auto_resize_len to give it a length"
                )));
            }
            lengths.insert(e - s);
            for (j, cell) in cells[bed_columns..].iter().enumerate() {
                t.labels.push(parse_label(cell.trim(), label_dtype).ok_or_else(|| {
                    let hint = if bed_columns == 3 && j < 3 { " (if this is a 6-column BED, set use_strand)" } else { "" };
                    Error::Invalid(format!(
                        "{p}:{lineno}: column {} (label {}) `{cell}` is not a {label_dtype} value{hint}",
                        bed_columns + j + 1,
                        j + 1
                    ))
                })?);
            }
            t.chrom.push(id as u32);
            t.start.push(s);
            t.end.push(e);
            t.strand.push(strand);
            t.line.push(lineno as u32);
        }
        if t.chrom.is_empty() {
            return Err(Error::Invalid(format!("{p}: no intervals")));
        }
        t.n_tasks = n_cols.unwrap_or(bed_columns) - bed_columns;
        if lengths.len() == 1 {
            t.common_len = lengths.first().map(|&l| l as usize);
        }
        Ok(t)
    }

    fn len(&self) -> usize {
        self.chrom.len()
    }

    fn has_targets(&self) -> bool {
        self.n_tasks > 0 && !self.ignore_targets
    }

    fn where_(&self, i: usize) -> String {
        format!(
            "{}:{} ({}:{}-{})",
            self.path.display(),
            self.line[i],
            self.names[self.chrom[i] as usize],
            self.start[i],
            self.end[i]
        )
    }

    /// The (padded) sequence of interval `i` into `buf`, reverse-complemented on `-` rows
    /// with `use_strand`.
    fn fetch(&self, i: usize, buf: &mut Vec<u8>) -> Result<()> {
        let n = (self.end[i] - self.start[i]) as usize;
        buf.resize(n, 0);
        self.fasta
            .fetch_id_into(
                self.chrom[i] as usize,
                self.start[i],
                self.end[i],
                self.padding,
                buf,
            )
            .map_err(|e| Error::Invalid(format!("{}: {e}", self.where_(i))))?;
        if self.use_strand && self.strand[i] == b'-' {
            biobatch_formats::sequence::reverse_complement(buf);
        }
        Ok(())
    }

    fn targets_buffer(&self, b: usize) -> Option<Node> {
        self.has_targets()
            .then(|| Node::Array(Array::zeros(self.label_dtype, vec![b, self.n_tasks])))
    }

    fn metadata_buffer(b: usize) -> Node {
        let s = || Node::Array(Array::zeros(DType::Str, vec![b]));
        let i = || Node::Array(Array::zeros(DType::I64, vec![b]));
        Node::from_iter([(
            "ranges",
            Node::from_iter([
                ("chr", s()),
                ("start", i()),
                ("end", i()),
                ("id", s()),
                ("strand", s()),
            ]),
        )])
    }

    /// Writes targets and metadata of `rows` into `out`.
    fn fill_common(&self, rows: &[usize], out: &mut Batch) -> Result<()> {
        if let Some(t) = out.targets.as_mut().and_then(Node::as_array_mut) {
            let k = self.n_tasks;
            let src = |r: usize| &self.labels[r * k..(r + 1) * k];
            match t.data_mut() {
                Data::F64(v) => rows
                    .iter()
                    .enumerate()
                    .for_each(|(j, &r)| v[j * k..(j + 1) * k].copy_from_slice(src(r))),
                Data::F32(v) => fill_labels(v, rows, k, &self.labels, |x| x as f32),
                Data::F16(v) => fill_labels(v, rows, k, &self.labels, f16::from_f64),
                Data::I64(v) => fill_labels(v, rows, k, &self.labels, |x| x as i64),
                Data::I32(v) => fill_labels(v, rows, k, &self.labels, |x| x as i32),
                Data::I8(v) => fill_labels(v, rows, k, &self.labels, |x| x as i8),
                Data::U8(v) => fill_labels(v, rows, k, &self.labels, |x| x as u8),
                d => return Err(Error::Invalid(format!("labels cannot be {}", d.dtype()))),
            }
        }
        let meta = out
            .metadata
            .as_mut()
            .and_then(|m| m.get_mut("ranges"))
            .ok_or_else(|| Error::Invalid("batch buffer has no metadata/ranges".into()))?;
        let mut col = |name: &str, f: &mut dyn FnMut(&mut Data)| -> Result<()> {
            let a = meta
                .get_mut(name)
                .and_then(Node::as_array_mut)
                .ok_or_else(|| {
                    Error::Invalid(format!("batch buffer has no metadata/ranges/{name}"))
                })?;
            f(a.data_mut());
            Ok(())
        };
        col("chr", &mut |d| {
            if let Data::Str(v) = d {
                for (o, &r) in v.iter_mut().zip(rows) {
                    o.clone_from(&self.names[self.chrom[r] as usize]);
                }
            }
        })?;
        col("start", &mut |d| {
            if let Data::I64(v) = d {
                v.iter_mut()
                    .zip(rows)
                    .for_each(|(o, &r)| *o = self.start[r]);
            }
        })?;
        col("end", &mut |d| {
            if let Data::I64(v) = d {
                v.iter_mut().zip(rows).for_each(|(o, &r)| *o = self.end[r]);
            }
        })?;
        col("id", &mut |d| {
            if let Data::Str(v) = d {
                for (o, &r) in v.iter_mut().zip(rows) {
                    o.clear();
                    use std::fmt::Write;
                    let _ = write!(o, "{r}");
                }
            }
        })?;
        col("strand", &mut |d| {
            if let Data::Str(v) = d {
                for (o, &r) in v.iter_mut().zip(rows) {
                    o.clear();
                    o.push(self.strand[r] as char);
                }
            }
        })?;
        Ok(())
    }

    fn rows(&self, samples: &[Sample]) -> Result<Vec<usize>> {
        samples
            .iter()
            .map(|s| {
                usize::try_from(s.index)
                    .ok()
                    .filter(|&i| i < self.len())
                    .ok_or_else(|| {
                        Error::Invalid(format!(
                            "record {} out of range ({} intervals)",
                            s.index,
                            self.len()
                        ))
                    })
            })
            .collect()
    }

    fn metadata_schema() -> SchemaNode {
        let col = |dtype: DType| SchemaNode::Array(ArraySchema::new(vec![]).with_dtype(dtype));
        SchemaNode::Map(
            [(
                "ranges".to_string(),
                SchemaNode::Map(
                    [
                        ("chr", DType::Str),
                        ("start", DType::I64),
                        ("end", DType::I64),
                        ("id", DType::Str),
                        ("strand", DType::Str),
                    ]
                    .into_iter()
                    .map(|(k, d)| (k.to_string(), col(d)))
                    .collect(),
                ),
            )]
            .into_iter()
            .collect(),
        )
    }

    fn targets_schema(&self) -> Option<SchemaNode> {
        self.has_targets().then(|| {
            SchemaNode::Array(
                ArraySchema::new(vec![Some(self.n_tasks)]).with_dtype(self.label_dtype),
            )
        })
    }
}

fn fill_labels<T: Copy>(
    v: &mut [T],
    rows: &[usize],
    k: usize,
    labels: &[f64],
    f: impl Fn(f64) -> T,
) {
    for (j, &r) in rows.iter().enumerate() {
        for c in 0..k {
            v[j * k + c] = f(labels[r * k + c]);
        }
    }
}

/// A label cell as pandas reads it with `dtype=label_dtype` (NaN spellings for floats).
fn parse_label(s: &str, dtype: DType) -> Option<f64> {
    match dtype {
        DType::F64 | DType::F32 | DType::F16 => match s {
            "" | "NA" | "NaN" | "nan" | "N/A" | "null" => Some(f64::NAN),
            _ => s.parse().ok(),
        },
        DType::I64 | DType::I32 | DType::I8 | DType::U8 => {
            let v: i64 = s.parse().ok()?;
            let fits = match dtype {
                DType::I32 => i32::try_from(v).is_ok(),
                DType::I8 => i8::try_from(v).is_ok(),
                DType::U8 => u8::try_from(v).is_ok(),
                _ => true,
            };
            // Whole numbers below 2^53 are exact in f64.
            (fits && v.unsigned_abs() < (1 << 53)).then_some(v as f64)
        }
        _ => None,
    }
}

/// A one-hot element type: the value written for 0, 1 and the 0.25 of `N`.
trait OneHotElem: Copy {
    fn from_f32(v: f32) -> Self;
}
macro_rules! one_hot_elem {
    ($($t:ty => $f:expr),*) => { $(impl OneHotElem for $t { fn from_f32(v: f32) -> Self { $f(v) } })* };
}
one_hot_elem!(f32 => |v| v, f64 => |v: f32| v as f64, f16 => f16::from_f32, i64 => |v: f32| v as i64,
    i32 => |v: f32| v as i32, i8 => |v: f32| v as i8, u8 => |v: f32| v as u8);

/// kipoiseq's `ReorderedOneHot`: the alphabet, its table, and where the axes go.
#[derive(Debug, Clone)]
struct Encoder {
    alphabet: String,
    /// `table[b * k + c]`: channel `c` of byte `b`, upper-cased first.
    table: Vec<f32>,
    /// Bytes the alphabet cannot encode (only for alphabets other than `ACGT`).
    invalid: [bool; 256],
    k: usize,
    alphabet_axis: usize,
    dummy_axis: Option<usize>,
    dtype: DType,
}

impl Encoder {
    fn from_args(a: &Args) -> Result<Self> {
        // A string (`ACGT`) or a list of letters (`[A, C, G, T]`), as kipoiseq takes it.
        let alphabet = match a.values.get("alphabet") {
            Some(serde_json::Value::Array(l)) => l
                .iter()
                .map(|v| v.as_str().filter(|s| s.len() == 1).map(str::to_string))
                .collect::<Option<String>>()
                .ok_or_else(|| {
                    a.err("alphabet", "expected a string or a list of single letters")
                })?,
            _ => a.opt_str("alphabet")?.unwrap_or_else(|| "ACGT".into()),
        };
        if alphabet.is_empty() || !alphabet.is_ascii() {
            return Err(a.err(
                "alphabet",
                format!("expected ASCII letters, found `{alphabet}`"),
            ));
        }
        let alphabet_axis = a.opt_int("alphabet_axis")?.unwrap_or(1);
        let dummy_axis = a.opt_int("dummy_axis")?;
        let axis_ok = |v: i64| (0..=2).contains(&v);
        if !axis_ok(alphabet_axis) {
            return Err(a.err(
                "alphabet_axis",
                format!("must be 0, 1 or 2, found {alphabet_axis}"),
            ));
        }
        match dummy_axis {
            Some(d) if !axis_ok(d) => {
                return Err(a.err("dummy_axis", format!("must be 0, 1 or 2, found {d}")));
            }
            Some(d) if d == alphabet_axis => {
                return Err(a.err("dummy_axis", "cannot be the same as alphabet_axis"));
            }
            None if alphabet_axis == 2 => {
                return Err(a.err(
                    "alphabet_axis",
                    "2 needs a dummy_axis (the output has only two axes)",
                ));
            }
            _ => {}
        }
        let bytes = alphabet.as_bytes();
        let k = bytes.len();
        let mut table = vec![0f32; 256 * k];
        let mut invalid = [alphabet != "ACGT"; 256];
        for b in 0..256usize {
            let up = (b as u8).to_ascii_uppercase();
            if let Some(c) = bytes.iter().position(|&x| x == up) {
                table[b * k + c] = 1.0;
                invalid[b] = false;
            } else if up == b'N' {
                table[b * k..(b + 1) * k].fill(0.25);
                invalid[b] = false;
            }
        }
        Ok(Encoder {
            alphabet,
            table,
            invalid,
            k,
            alphabet_axis: alphabet_axis as usize,
            dummy_axis: dummy_axis.map(|d| d as usize),
            dtype: a.opt_dtype("dtype")?.unwrap_or(DType::F64),
        })
    }

    /// The per-example shape for sequences of `len`.
    fn shape(&self, len: Option<usize>) -> Vec<Option<usize>> {
        let mut axes = vec![None; if self.dummy_axis.is_some() { 3 } else { 2 }];
        axes[self.alphabet_axis] = Some(Some(self.k));
        if let Some(d) = self.dummy_axis {
            axes[d] = Some(Some(1));
        }
        axes.into_iter().map(|a| a.unwrap_or(len)).collect()
    }

    /// Whether the alphabet axis comes before the sequence axis (memory layout `(k, L)`).
    fn channels_first(&self) -> bool {
        let seq_axis = (0..3)
            .find(|&x| x != self.alphabet_axis && Some(x) != self.dummy_axis)
            .unwrap_or(0);
        self.alphabet_axis < seq_axis
    }

    fn encode<T: OneHotElem>(&self, seqs: &[u8], len: usize, out: &mut [T]) {
        let k = self.k;
        let table: Vec<T> = self.table.iter().map(|&v| T::from_f32(v)).collect();
        let per = len * k;
        for (seq, o) in seqs.chunks_exact(len).zip(out.chunks_exact_mut(per)) {
            if self.channels_first() {
                for c in 0..k {
                    for (x, &b) in o[c * len..(c + 1) * len].iter_mut().zip(seq) {
                        *x = table[b as usize * k + c];
                    }
                }
            } else {
                for (x, &b) in o.chunks_exact_mut(k).zip(seq) {
                    x.copy_from_slice(&table[b as usize * k..(b as usize + 1) * k]);
                }
            }
        }
    }
}

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
                return Err(Error::Invalid(format!(
                    "{}: {} bp, the other intervals of the batch have {len}: set auto_resize_len to batch intervals of different lengths",
                    self.iv.where_(r),
                    buf.len()
                )));
            }
            if let Some(p) = buf.iter().position(|&b| self.enc.invalid[b as usize]) {
                return Err(Error::Invalid(format!(
                    "{}: base `{}` at position {p} is not in the alphabet `{}` (nor N)",
                    self.iv.where_(r),
                    buf[p].escape_ascii(),
                    self.enc.alphabet
                )));
            }
            seqs.extend_from_slice(&buf);
        }
        let x = out
            .inputs
            .as_array_mut()
            .ok_or_else(|| Error::Invalid("batch buffer inputs are not an array".into()))?;
        match x.data_mut() {
            Data::F64(v) => self.enc.encode(&seqs, len, v),
            Data::F32(v) => self.enc.encode(&seqs, len, v),
            Data::F16(v) => self.enc.encode(&seqs, len, v),
            Data::I64(v) => self.enc.encode(&seqs, len, v),
            Data::I32(v) => self.enc.encode(&seqs, len, v),
            Data::I8(v) => self.enc.encode(&seqs, len, v),
            Data::U8(v) => self.enc.encode(&seqs, len, v),
            d => {
                return Err(Error::Invalid(format!(
                    "one-hot sequences cannot be {}",
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
        let len = self.iv.common_len.ok_or_else(|| {
            Error::Invalid(format!(
                "{}: the intervals have different lengths; set auto_resize_len so that they can be batched",
                self.iv.path.display()
            ))
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
        let mut out = self
            .new_buffer(1)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        self.fill(
            &[Sample {
                index: i as u64,
                ..Default::default()
            }],
            &mut out,
        )
        .map_err(|e| Error::Invalid(e.to_string()))?;
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
            .ok_or_else(|| Error::Invalid("batch buffer inputs are not an array".into()))?;
        let Data::Str(v) = x.data_mut() else {
            return Err(Error::Invalid("batch buffer inputs are not text".into()).into());
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
