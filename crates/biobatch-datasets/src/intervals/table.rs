//! Reading the interval files: coordinates, strand, names and label columns, every row
//! checked against the genome (and the tracks) before any data is extracted.

use std::io::BufRead;
use std::path::PathBuf;

use biobatch_formats::bed::open_text;
use biobatch_formats::fasta::Fasta;

use super::config::{Columns, IntervalConfig, OutOfBounds};
use crate::peaks::{Drops, Exclusions, Locus, Reason};
use crate::{Error, MissingChrom, Result};

/// Coordinates beyond this are refused (no genome is that long; window arithmetic stays far
/// inside `i64`).
const MAX_COORD: u64 = 1 << 62;

/// The rows kept, with what the extraction does not hold.
#[derive(Debug, Default)]
pub(super) struct Table {
    pub loci: Vec<Locus>,
    /// Reverse-complement this interval (`-` in column 6, with `use_strand`).
    pub minus: Vec<bool>,
    /// `[n, K]` label values.
    pub labels: Vec<f32>,
    /// Names of the label columns: the header's (a `#` line just before the data with as many
    /// columns), else `column N`.
    pub label_names: Vec<String>,
    /// Column 4 of each kept row, when the files have one that is not a label column.
    pub ids: Option<Vec<String>>,
    /// The sequence length: `sequence_length`, or the length every interval shares.
    pub length: usize,
}

/// What the rows are checked against.
pub(super) struct Checks<'a> {
    pub config: &'a IntervalConfig,
    pub fasta: &'a Fasta,
    pub exclusions: &'a Exclusions,
    /// For each FASTA chromosome, the first track file that lacks it.
    pub absent: &'a [Option<PathBuf>],
    /// The track window's width (`None`: the sequence length), when there are tracks.
    pub target_length: Option<usize>,
    pub has_tracks: bool,
}

/// The layout the first data line fixed: its column count and where it was.
struct Shape {
    columns: usize,
    place: String,
    labels: Vec<usize>,
}

fn parse_coord(field: &str, at: &str, col: usize, name: &str) -> Result<u64> {
    let v: u64 = field.trim().parse().map_err(|_| {
        Error::Invalid(format!(
            "{at}: column {col} ({name}): a non-negative integer, found `{field}`"
        ))
    })?;
    if v > MAX_COORD {
        return Err(Error::Invalid(format!(
            "{at}: column {col} ({name}): {v} is beyond any chromosome (coordinates must be \
             below 2^62)"
        )));
    }
    Ok(v)
}

/// The layout of the first data line, and the names of its label columns.
fn first_shape(
    at: &str,
    fields: &[&str],
    c: &IntervalConfig,
    spec: Option<&Columns>,
    header: Option<&[String]>,
) -> Result<(Shape, Vec<String>)> {
    let min_columns = if c.use_strand { 6 } else { 3 };
    if fields.len() < min_columns {
        return Err(Error::Invalid(format!(
            "{at}: {} columns, expected at least {min_columns} (chrom, start, end{})",
            fields.len(),
            if c.use_strand {
                ", name, score, strand: `use_strand` reads column 6"
            } else {
                ""
            }
        )));
    }
    let labels = match spec {
        Some(s) => s
            .resolve(fields.len())
            .map_err(|e| Error::Invalid(format!("{at}: {e}")))?,
        None => Vec::new(),
    };
    let named = header.filter(|h| h.len() == fields.len());
    let names = labels
        .iter()
        .map(|&i| match named {
            Some(h) if !h[i].is_empty() => h[i].clone(),
            _ => format!("column {}", i + 1),
        })
        .collect();
    Ok((
        Shape {
            columns: fields.len(),
            place: at.to_string(),
            labels,
        },
        names,
    ))
}

/// Reads every interval file.
pub(super) fn read(k: &Checks<'_>, drops: &mut Drops) -> Result<Table> {
    let c = k.config;
    let first_label = if c.use_strand { 7 } else { 4 };
    let spec = c
        .labels
        .as_deref()
        .map(|s| Columns::parse(s, first_label))
        .transpose()
        .map_err(Error::Invalid)?;
    let j = c.max_jitter as i64;
    let mut t = Table {
        length: c.sequence_length.unwrap_or(0) as usize,
        ..Default::default()
    };
    let mut shape: Option<Shape> = None;
    // The place of the first interval, whose length the others must share (no resize).
    let mut length_from: Option<String> = None;
    let mut header: Option<Vec<String>> = None;
    let (mut row, mut line) = (0u64, String::new());
    for (fi, f) in c.intervals.iter().enumerate() {
        let mut reader = open_text(f)?;
        let mut lineno = 0u64;
        loop {
            line.clear();
            let n = reader.read_line(&mut line).map_err(|e| Error::Io {
                path: f.clone(),
                source: e,
            })?;
            if n == 0 {
                break;
            }
            lineno += 1;
            let text = line.trim_end_matches(['\n', '\r']);
            if text.trim().is_empty() || text.starts_with("track") || text.starts_with("browser") {
                continue;
            }
            if let Some(h) = text.strip_prefix('#') {
                if shape.is_none() {
                    header = Some(h.split('\t').map(|s| s.trim().to_string()).collect());
                }
                continue;
            }
            let at = format!("{}:{lineno}", f.display());
            let fields: Vec<&str> = text.split('\t').collect();
            let this = row;
            row += 1;
            let shape: &Shape = match shape {
                Some(ref s) if s.columns != fields.len() => {
                    return Err(Error::Invalid(format!(
                        "{at}: {} columns, but {} has {} (every line must have the same columns)",
                        fields.len(),
                        s.place,
                        s.columns
                    )));
                }
                Some(ref s) => s,
                None => {
                    let first = first_shape(&at, &fields, c, spec.as_ref(), header.as_deref())?;
                    t.label_names = first.1;
                    if fields.len() >= 4 && !first.0.labels.contains(&3) {
                        t.ids = Some(Vec::new());
                    }
                    shape.insert(first.0)
                }
            };
            let chrom = fields[0];
            let start = parse_coord(fields[1], &at, 2, "start")?;
            let end = parse_coord(fields[2], &at, 3, "end")?;
            if end < start {
                return Err(Error::Invalid(format!(
                    "{at}: end {end} is before start {start}"
                )));
            }
            if !c.chroms.is_empty() && !c.chroms.iter().any(|x| x == chrom) {
                drops.add(Reason::ChromFilter, || {
                    format!("{at}: `{chrom}` is not in `chroms`")
                });
                continue;
            }
            let id = k.fasta.chrom_id(chrom).ok_or_else(|| {
                Error::Invalid(format!(
                    "{at}: chromosome `{chrom}` is not in the FASTA {}",
                    k.fasta.path().display()
                ))
            })?;
            let minus = if c.use_strand {
                match fields[5].trim() {
                    "-" => true,
                    "+" | "." | "*" => false,
                    s => {
                        return Err(Error::Invalid(format!(
                            "{at}: column 6 (strand): `+`, `-` or `.`, found `{s}`"
                        )));
                    }
                }
            } else {
                false
            };
            let len = (end - start) as usize;
            match (&length_from, c.sequence_length) {
                (_, Some(_)) => {}
                (None, None) => {
                    if len == 0 {
                        return Err(Error::Invalid(format!(
                            "{at}: an empty interval [{start}, {end}): set `sequence_length` to \
                             take a window around it"
                        )));
                    }
                    t.length = len;
                    length_from = Some(at.clone());
                }
                (Some(from), None) if len != t.length => {
                    return Err(Error::Invalid(format!(
                        "{at}: {len} bp, but {from} has {}: intervals of different lengths need \
                         `sequence_length` (each resized around its centre)",
                        t.length
                    )));
                }
                _ => {}
            }
            let centre = (start + (end - start) / 2) as i64;
            let chrom_len = k.fasta.index().records()[id].length as i64;
            let seq_start = centre - (t.length / 2) as i64 - j;
            let seq_end = seq_start + t.length as i64 + 2 * j;
            let (mut lo, mut hi) = (seq_start, seq_end);
            if k.has_tracks {
                let tl = k.target_length.unwrap_or(t.length) as i64;
                let s = centre - tl / 2 - j;
                lo = lo.min(s);
                hi = hi.max(s + tl + 2 * j);
            }
            if lo < 0 || hi > chrom_len {
                let what = || {
                    format!(
                        "{at}: the window [{lo}, {hi}) around {chrom}:{centre} (jitter \
                         included) leaves the chromosome (length {chrom_len})"
                    )
                };
                match c.out_of_bounds {
                    OutOfBounds::Error => {
                        return Err(Error::Invalid(format!(
                            "{} (out_of_bounds = \"pad\" pads it with N, \"drop\" drops such \
                             intervals)",
                            what()
                        )));
                    }
                    OutOfBounds::Drop => {
                        drops.add(Reason::OffChromosome, what);
                        continue;
                    }
                    OutOfBounds::Pad => {}
                }
            }
            if k.exclusions.overlaps(id, seq_start, seq_end) {
                drops.add(Reason::Excluded, || {
                    format!("{at}: the window {chrom}:{seq_start}-{seq_end} overlaps an exclusion region")
                });
                continue;
            }
            if let Some(bw) = &k.absent[id] {
                match c.missing {
                    MissingChrom::Error => {
                        return Err(Error::Invalid(format!(
                            "{at}: the bigWig {} has no chromosome named `{chrom}` (missing = \
                             \"zeros\" reads it as zeros, missing = \"drop\" drops such \
                             intervals)",
                            bw.display()
                        )));
                    }
                    MissingChrom::Drop => {
                        drops.add(Reason::MissingChromosome, || {
                            format!("{at}: `{chrom}` is not in {}", bw.display())
                        });
                        continue;
                    }
                    MissingChrom::Zeros => {}
                }
            }
            for (&col, name) in shape.labels.iter().zip(&t.label_names) {
                let s = fields[col].trim();
                let v: f32 = s.parse().map_err(|_| {
                    Error::Invalid(format!(
                        "{at}: column {} (label `{name}`): a number, found `{s}`",
                        col + 1
                    ))
                })?;
                t.labels.push(v);
            }
            if let Some(ids) = &mut t.ids {
                ids.push(fields[3].trim().to_string());
            }
            t.minus.push(minus);
            t.loci.push(Locus {
                chrom: id as u32,
                file: fi as u32,
                centre,
                row: this,
                line: lineno,
            });
        }
    }
    if shape.is_none() {
        return Err(Error::Invalid(format!(
            "no intervals in {}",
            c.intervals
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(t)
}
