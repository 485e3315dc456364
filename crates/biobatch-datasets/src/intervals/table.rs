//! Reading the interval files: coordinates, strand, names and label columns, every row
//! checked against the genome (and the tracks) before any data is extracted.

use biobatch_core::Strand;
use biobatch_formats::bed::TableReader;
use biobatch_formats::fasta::Fasta;

use super::config::{Columns, IntervalConfig, OutOfBounds};
use crate::windows::{Drops, Exclusions, Locus, MissingChrom, Reason, TrackMismatch};
use crate::{Error, Result};

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
    /// For each FASTA chromosome, the first track file that lacks it or gives it another
    /// length.
    pub mismatch: &'a [TrackMismatch],
    /// The track window's width (`None`: the sequence length), when there are tracks.
    pub target_length: Option<usize>,
    pub has_tracks: bool,
}

/// Where the label columns are, and their names: the header's (a `#` line just before the
/// data with as many columns), else `column N`.
fn label_columns(t: &TableReader, spec: Option<&Columns>) -> Result<(Vec<usize>, Vec<String>)> {
    let n = t.columns().unwrap_or(0);
    let labels = match spec {
        Some(s) => s.resolve(n).map_err(|e| Error::record(t.place(), e))?,
        None => Vec::new(),
    };
    let names = labels
        .iter()
        .map(|&i| match t.header() {
            Some(h) if !h[i].is_empty() => h[i].clone(),
            _ => format!("column {}", i + 1),
        })
        .collect();
    Ok((labels, names))
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
        .map_err(Error::Config)?;
    let j = c.max_jitter as i64;
    let mut t = Table {
        length: c.sequence_length.unwrap_or(0) as usize,
        ..Default::default()
    };
    // The layout of the first file's first row: its column count and where it was; the
    // label columns.
    let mut shape: Option<(usize, String)> = None;
    let mut labels: Vec<usize> = Vec::new();
    // The place of the first interval, whose length the others must share (no resize).
    let mut length_from: Option<String> = None;
    let mut row = 0u64;
    for (fi, f) in c.intervals.iter().enumerate() {
        let mut r = TableReader::open(f, if c.use_strand { 6 } else { 3 })?;
        while r.next_row()? {
            let at = r.place();
            let this = row;
            row += 1;
            let n = r.columns().unwrap_or(0);
            match &shape {
                Some((m, first)) if *m != n => {
                    return Err(Error::record(
                        at,
                        format!(
                            "{n} columns, but {first} has {m} (every line must have the same \
                             columns)"
                        ),
                    ));
                }
                Some(_) => {}
                None => {
                    let (cols, names) = label_columns(&r, spec.as_ref())?;
                    t.label_names = names;
                    if n >= 4 && !cols.contains(&3) {
                        t.ids = Some(Vec::new());
                    }
                    labels = cols;
                    shape = Some((n, at.clone()));
                }
            }
            let chrom = r.chrom();
            let (start, end) = (r.start(), r.end());
            if !c.chroms.is_empty() && !c.chroms.iter().any(|x| x == chrom) {
                drops.add(Reason::ChromFilter, || {
                    format!("{at}: `{chrom}` is not in `chroms`")
                });
                continue;
            }
            let id = k.fasta.chrom_id(chrom).ok_or_else(|| Error::UnknownChrom {
                place: at.clone(),
                chrom: chrom.to_string(),
                fasta: k.fasta.path().to_path_buf(),
            })?;
            let minus = c.use_strand && r.strand(5)? == Strand::Reverse;
            let len = (end - start) as usize;
            match (&length_from, c.sequence_length) {
                (_, Some(_)) => {}
                (None, None) => {
                    if len == 0 {
                        return Err(Error::record(
                            at,
                            format!(
                                "an empty interval [{start}, {end}): set `sequence_length` to \
                                 take a window around it"
                            ),
                        ));
                    }
                    t.length = len;
                    length_from = Some(at.clone());
                }
                (Some(from), None) if len != t.length => {
                    return Err(Error::record(
                        at,
                        format!(
                            "{len} bp, but {from} has {}: intervals of different lengths need \
                             `sequence_length` (each resized around its centre)",
                            t.length
                        ),
                    ));
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
                        "the window [{lo}, {hi}) around {chrom}:{centre} (jitter included) \
                         leaves the chromosome (length {chrom_len})"
                    )
                };
                match c.out_of_bounds {
                    OutOfBounds::Error => {
                        return Err(Error::record(
                            at,
                            format!(
                                "{} (out_of_bounds = \"pad\" pads it with N, \"drop\" drops \
                                 such intervals)",
                                what()
                            ),
                        ));
                    }
                    OutOfBounds::Drop => {
                        drops.add(Reason::OffChromosome, || format!("{at}: {}", what()));
                        continue;
                    }
                    OutOfBounds::Pad => {}
                }
            }
            if k.exclusions.overlaps(id, seq_start, seq_end) {
                drops.add(Reason::Excluded, || {
                    format!(
                        "{at}: the window {chrom}:{seq_start}-{seq_end} overlaps an exclusion \
                         region"
                    )
                });
                continue;
            }
            if let Some((bw, track_len)) = &k.mismatch[id] {
                match (c.missing, track_len) {
                    (MissingChrom::Error, None) => {
                        return Err(Error::MissingChrom {
                            place: at,
                            chrom: chrom.to_string(),
                            bigwig: bw.clone(),
                        });
                    }
                    (MissingChrom::Error, Some(l)) => {
                        return Err(Error::TrackLength {
                            place: at,
                            chrom: chrom.to_string(),
                            bigwig: bw.clone(),
                            track_len: *l,
                            fasta_len: chrom_len as u64,
                        });
                    }
                    (MissingChrom::Drop, _) => {
                        drops.add(Reason::MissingChromosome, || match track_len {
                            None => format!("{at}: `{chrom}` is not in {}", bw.display()),
                            Some(l) => format!(
                                "{at}: {} gives `{chrom}` {l} bases, the FASTA {chrom_len}",
                                bw.display()
                            ),
                        });
                        continue;
                    }
                    (MissingChrom::Zeros, _) => {}
                }
            }
            for (&col, name) in labels.iter().zip(&t.label_names) {
                let v: f32 = r.parse(col, &format!("label `{name}`"), "a number")?;
                t.labels.push(v);
            }
            if let Some(ids) = &mut t.ids {
                ids.push(r.field(3).trim().to_string());
            }
            t.minus.push(minus);
            t.loci.push(Locus {
                chrom: id as u32,
                file: fi as u32,
                centre,
                row: this,
                line: r.line(),
            });
        }
    }
    if shape.is_none() {
        return Err(Error::Config(format!(
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
