//! The intervals of a BED file as kipoiseq's `BedDataset` reads them, checked against the
//! genome when the dataloader is built; targets and `ranges` metadata.

use std::path::PathBuf;

use biobatch_core::{Array, ArraySchema, Batch, DType, Data, Node, SchemaNode, Strand, f16};
use biobatch_formats::MAX_COORD;
use biobatch_formats::bed::TableReader;
use biobatch_formats::fasta::{Fasta, Padding};
use biobatch_sampling::Sample;

use crate::args::Args;
use crate::{Error, Result};

/// A path of the batch buffer that is not there (a bug of this dataloader).
fn no_node(path: &str) -> Error {
    Error::Core(biobatch_core::Error::PathNotFound {
        path: path.to_string(),
    })
}

/// The intervals of a BED file, checked against a genome.
pub(super) struct Intervals {
    pub(super) path: PathBuf,
    pub(super) fasta: Fasta,
    /// Chromosome names as the FASTA has them, by FASTA id.
    pub(super) names: Vec<String>,
    pub(super) chrom: Vec<u32>,
    pub(super) start: Vec<i64>,
    pub(super) end: Vec<i64>,
    /// `*` (3-column BED), `+`, `-` or `.`.
    pub(super) strand: Vec<u8>,
    pub(super) line: Vec<u32>,
    pub(super) labels: Vec<f64>,
    pub(super) n_tasks: usize,
    pub(super) label_dtype: DType,
    pub(super) ignore_targets: bool,
    pub(super) padding: Padding,
    /// Reverse-complement `-` rows.
    pub(super) use_strand: bool,
    /// The length every interval has, if they all have the same.
    pub(super) common_len: Option<usize>,
}

impl Intervals {
    pub(super) fn open(a: &Args) -> Result<Self> {
        let use_strand = a.flag("use_strand", false)?;
        let bed_columns = if use_strand { 6 } else { 3 };
        let path = a.path("intervals_file")?;
        let fasta_path = a.path("fasta_file")?;
        let num_chr = a.flag("num_chr_fasta", false)?;
        let label_dtype = a.opt_dtype("label_dtype")?.unwrap_or(DType::F64);
        let resize = match a.opt_int("auto_resize_len")? {
            Some(w) if w <= 0 || w > MAX_COORD as i64 => {
                return Err(a.err(
                    "auto_resize_len",
                    format!("must be between 1 and {MAX_COORD}, found {w}"),
                ));
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
        let longest = lens.iter().copied().max().unwrap_or(0) as i64;
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
        // `Some(true)`: strip `chr`; `Some(false)`: prepend it; decided on the first row.
        let mut rename: Option<Option<bool>> = None;
        let mut lengths = std::collections::BTreeSet::new();
        let mut r = TableReader::open(&path, bed_columns)?;
        while r.next_row()? {
            let lineno = r.line();
            let (s, e) = (r.start() as i64, r.end() as i64);
            let strand = if bed_columns == 6 {
                match r.strand(5)? {
                    Strand::Forward => b'+',
                    Strand::Reverse => b'-',
                    Strand::Unknown => b'.',
                }
            } else {
                b'*'
            };
            let chrom = r.chrom();
            let rule = *rename.get_or_insert_with(|| {
                let chr = chrom.starts_with("chr");
                match (num_chr, chr) {
                    (true, true) => Some(true),
                    (false, false) => Some(false),
                    _ => None,
                }
            });
            let name = match rule {
                Some(true) => chrom.strip_prefix("chr").unwrap_or(chrom).to_string(),
                Some(false) => format!("chr{chrom}"),
                None => chrom.to_string(),
            };
            let (s, e) = match resize {
                Some(w) => {
                    let c = (s + e).div_euclid(2);
                    (c - w / 2, c + w / 2 + w % 2)
                }
                None => (s, e),
            };
            let at = r.place();
            let id = t.fasta.chrom_id(&name).ok_or_else(|| {
                let why = match rule {
                    Some(false) => " (`chr` was prepended because the first row has none and num_chr_fasta is false; set num_chr_fasta to true if the FASTA has no `chr`)",
                    Some(true) => " (`chr` was stripped because num_chr_fasta is true)",
                    None => "",
                };
                Error::Argument {
                    dataloader: a.dataloader.clone(),
                    name: "intervals_file".into(),
                    message: format!(
                        "{at}: chromosome `{name}` is not in {}{why}",
                        fasta_path.display()
                    ),
                }
            })?;
            let bad = |message: String| Error::Argument {
                dataloader: a.dataloader.clone(),
                name: "intervals_file".into(),
                message: format!("{at}: {message}"),
            };
            let len = lens[id] as i64;
            if padding == Padding::Error && (s < 0 || e > len) {
                return Err(bad(format!(
                    "interval {name}:{s}-{e}{} reaches past the chromosome ({name} has {len} bp); kipoiseq would silently return a shorter sequence. Drop the row, or set out_of_bounds to `pad` to fill with N",
                    if resize.is_some() {
                        " (after auto_resize_len)"
                    } else {
                        ""
                    }
                )));
            }
            if e == s {
                return Err(bad(format!(
                    "interval {name}:{s}-{e} is empty; set auto_resize_len to give it a length"
                )));
            }
            // Padding fills what lies off the chromosome, but no window is longer than the
            // genome's longest chromosome (a typo such as a missing tab would otherwise ask
            // for gigabytes per example).
            if e - s > longest {
                return Err(bad(format!(
                    "interval {name}:{s}-{e} is {} bp, longer than any chromosome of {} (at most {longest} bp)",
                    e - s,
                    fasta_path.display()
                )));
            }
            lengths.insert(e - s);
            let n = r.columns().unwrap_or(bed_columns);
            for (j, col) in (bed_columns..n).enumerate() {
                let v = parse_label(r.field(col).trim(), label_dtype).ok_or_else(|| {
                    let hint = if bed_columns == 3 && j < 3 {
                        " (if this is a 6-column BED, set use_strand)"
                    } else {
                        ""
                    };
                    r.error(
                        col,
                        &format!("label {}", j + 1),
                        &format!("a {label_dtype} value{hint}"),
                    )
                })?;
                t.labels.push(v);
            }
            t.chrom.push(id as u32);
            t.start.push(s);
            t.end.push(e);
            t.strand.push(strand);
            t.line.push(lineno as u32);
        }
        if t.chrom.is_empty() {
            return Err(Error::Argument {
                dataloader: a.dataloader.clone(),
                name: "intervals_file".into(),
                message: format!("{p}: no intervals"),
            });
        }
        t.n_tasks = r.columns().unwrap_or(bed_columns) - bed_columns;
        if lengths.len() == 1 {
            t.common_len = lengths.first().map(|&l| l as usize);
        }
        Ok(t)
    }

    pub(super) fn len(&self) -> usize {
        self.chrom.len()
    }

    pub(super) fn has_targets(&self) -> bool {
        self.n_tasks > 0 && !self.ignore_targets
    }

    pub(super) fn where_(&self, i: usize) -> String {
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
    pub(super) fn fetch(&self, i: usize, buf: &mut Vec<u8>) -> Result<()> {
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
            .map_err(|e| Error::Argument {
                dataloader: "SeqIntervalDl".into(),
                name: "intervals_file".into(),
                message: format!("{}: {e}", self.where_(i)),
            })?;
        if self.use_strand && self.strand[i] == b'-' {
            biobatch_formats::sequence::reverse_complement(buf);
        }
        Ok(())
    }

    pub(super) fn targets_buffer(&self, b: usize) -> Option<Node> {
        self.has_targets()
            .then(|| Node::Array(Array::zeros(self.label_dtype, vec![b, self.n_tasks])))
    }

    pub(super) fn metadata_buffer(b: usize) -> Node {
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
    pub(super) fn fill_common(&self, rows: &[usize], out: &mut Batch) -> Result<()> {
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
                d => {
                    return Err(Error::Config(format!(
                        "label_dtype: labels cannot be {}",
                        d.dtype()
                    )));
                }
            }
        }
        let meta = out
            .metadata
            .as_mut()
            .and_then(|m| m.get_mut("ranges"))
            .ok_or_else(|| no_node("metadata/ranges"))?;
        let mut col = |name: &str, f: &mut dyn FnMut(&mut Data)| -> Result<()> {
            let a = meta
                .get_mut(name)
                .and_then(Node::as_array_mut)
                .ok_or_else(|| no_node(&format!("metadata/ranges/{name}")))?;
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

    pub(super) fn rows(&self, samples: &[Sample]) -> Result<Vec<usize>> {
        samples
            .iter()
            .map(|s| {
                usize::try_from(s.index)
                    .ok()
                    .filter(|&i| i < self.len())
                    .ok_or_else(|| {
                        Error::Core(biobatch_core::Error::Invalid(format!(
                            "record {} out of range ({} intervals)",
                            s.index,
                            self.len()
                        )))
                    })
            })
            .collect()
    }

    pub(super) fn metadata_schema() -> SchemaNode {
        SchemaNode::Map([("ranges".to_string(), SchemaNode::genomic_ranges())].into())
    }

    pub(super) fn targets_schema(&self) -> Option<SchemaNode> {
        self.has_targets().then(|| {
            SchemaNode::Array(
                ArraySchema::new(vec![Some(self.n_tasks)]).with_dtype(self.label_dtype),
            )
        })
    }
}

pub(super) fn fill_labels<T: Copy>(
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
pub(super) fn parse_label(s: &str, dtype: DType) -> Option<f64> {
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
