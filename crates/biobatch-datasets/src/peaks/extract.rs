//! Reading loci from BED files and extracting their sequence and track windows.

use std::path::PathBuf;
use std::sync::Arc;

use biobatch_formats::bed::read_bed;
use biobatch_formats::bigwig::{BigWig, ReadOptions, Window};
use biobatch_formats::fasta::{Fasta, Padding};
use biobatch_formats::sequence;

use super::store::{Growing, Locus, Store, Values};
use super::{Drops, MissingChrom, Reason};
use crate::{Error, Result};

/// Coordinates beyond this are refused: no genome is that long, and below it every window
/// computation fits an `i64` with room to spare.
const MAX_COORD: u64 = 1 << 62;

fn too_large(f: &std::path::Path, line: u64, end: u64) -> Error {
    Error::Invalid(format!(
        "{}:{line}: end {end} is beyond any chromosome (coordinates must be below 2^62)",
        f.display()
    ))
}

/// Exclusion-list regions per chromosome (FASTA index), merged and sorted.
#[derive(Debug, Default)]
pub(crate) struct Exclusions {
    by_chrom: Vec<Vec<(i64, i64)>>,
}

impl Exclusions {
    pub fn load(files: &[PathBuf], fasta: &Fasta) -> Result<Self> {
        let mut by_chrom: Vec<Vec<(i64, i64)>> = vec![Vec::new(); fasta.index().len()];
        for f in files {
            for r in read_bed(f)? {
                if r.end > MAX_COORD {
                    return Err(too_large(f, r.line, r.end));
                }
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
    pub fn overlaps(&self, chrom: usize, start: i64, end: i64) -> bool {
        let Some(v) = self.by_chrom.get(chrom) else {
            return false;
        };
        let i = v.partition_point(|&(_, e)| e <= start);
        v.get(i).is_some_and(|&(s, _)| s < end)
    }
}

/// The `q` quantile with numpy's default (linear) interpolation; `values` is not empty.
pub(crate) fn quantile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let pos = (v.len().saturating_sub(1)) as f64 * q;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    match (v.get(lo), v.get(hi)) {
        (Some(a), Some(b)) => a + (b - a) * (pos - lo as f64),
        _ => f64::NAN,
    }
}

/// Where loci are read from and what they are checked against.
pub(crate) struct LociSource<'a> {
    pub files: &'a [PathBuf],
    pub summits: bool,
    pub chroms: &'a [String],
    pub fasta: &'a Fasta,
    /// Width of the widest extracted window (the span that must fit the chromosome).
    pub span: usize,
    pub exclusions: &'a Exclusions,
    /// For each FASTA chromosome, the first track file that lacks it.
    pub absent: &'a [Option<PathBuf>],
    pub missing: MissingChrom,
}

/// `file:line` of a locus.
pub(crate) fn place(files: &[PathBuf], l: &Locus) -> String {
    let f = files.get(l.file as usize).map(|p| p.display().to_string());
    format!("{}:{}", f.unwrap_or_default(), l.line)
}

/// Reads loci from BED files; drops (and records) those filtered out, on a chromosome a
/// track lacks (with `missing = drop`), or whose `span`-wide window leaves the chromosome
/// or overlaps an exclusion region.
pub(crate) fn load_loci(src: &LociSource<'_>, drops: &mut Drops) -> Result<Vec<Locus>> {
    let mut out = Vec::new();
    let mut row = 0u64;
    for (fi, f) in src.files.iter().enumerate() {
        for r in read_bed(f)? {
            let this = row;
            row += 1;
            if r.end > MAX_COORD {
                return Err(too_large(f, r.line, r.end));
            }
            let at = || format!("{}:{}", f.display(), r.line);
            if !src.chroms.is_empty() && !src.chroms.contains(&r.chrom) {
                drops.add(Reason::ChromFilter, || {
                    format!("{}: `{}` is not in `chroms`", at(), r.chrom)
                });
                continue;
            }
            let chrom = src.fasta.chrom_id(&r.chrom).ok_or_else(|| {
                Error::Invalid(format!(
                    "{}: chromosome `{}` is not in the FASTA {}",
                    at(),
                    r.chrom,
                    src.fasta.path().display()
                ))
            })?;
            let centre = if src.summits {
                let summit = r.narrow_peak.and_then(|n| n.summit).ok_or_else(|| {
                    Error::Invalid(format!(
                        "{}: `summits` is on but this record has no summit (narrowPeak column 10)",
                        at()
                    ))
                })?;
                (r.start + summit) as i64
            } else {
                (r.start + (r.end - r.start) / 2) as i64
            };
            let len = src.fasta.index().records()[chrom].length as i64;
            let start = centre - (src.span / 2) as i64;
            let end = start + src.span as i64;
            if start < 0 || end > len {
                drops.add(Reason::OffChromosome, || {
                    format!(
                        "{}: the {}-bp window [{start}, {end}) around {}:{centre} leaves the \
                         chromosome (length {len})",
                        at(),
                        src.span,
                        r.chrom
                    )
                });
                continue;
            }
            if src.exclusions.overlaps(chrom, start, end) {
                drops.add(Reason::Excluded, || {
                    format!(
                        "{}: the window {}:{start}-{end} overlaps an exclusion region",
                        at(),
                        r.chrom
                    )
                });
                continue;
            }
            if let Some(bw) = &src.absent[chrom] {
                match src.missing {
                    MissingChrom::Error => {
                        return Err(Error::Invalid(format!(
                            "{}: the bigWig {} has no chromosome named `{}` (missing = \"zeros\" \
                             reads it as zeros, missing = \"drop\" drops such loci)",
                            at(),
                            bw.display(),
                            r.chrom
                        )));
                    }
                    MissingChrom::Drop => {
                        drops.add(Reason::MissingChromosome, || {
                            format!("{}: `{}` is not in {}", at(), r.chrom, bw.display())
                        });
                        continue;
                    }
                    MissingChrom::Zeros => {}
                }
            }
            out.push(Locus {
                chrom: chrom as u32,
                file: fi as u32,
                centre,
                row: this,
                line: r.line,
            });
        }
    }
    Ok(out)
}

/// Reads one bigWig at every locus's centred window of `len` values into an `[n, len]` array
/// of the narrowest exact type. Loci are read in chunks with one reader, so blocks are
/// inflated about once when the loci are sorted, and the temporary buffer stays small.
fn read_track(
    bw: &Arc<BigWig>,
    loci: &[Locus],
    chrom_names: &[String],
    len: usize,
    opts: ReadOptions,
) -> Result<Values> {
    const CHUNK: usize = 4096;
    let mut reader = bw.reader_with(opts);
    let mut buf = vec![0f32; CHUNK.min(loci.len()) * len];
    let mut windows = Vec::with_capacity(CHUNK);
    let mut out = Growing::zeros(loci.len() * len);
    for (c, chunk) in loci.chunks(CHUNK).enumerate() {
        windows.clear();
        windows.extend(chunk.iter().map(|l| {
            let s = l.centre - (len / 2) as i64;
            Window::new(&chrom_names[l.chrom as usize], s, s + len as i64)
        }));
        let buf = &mut buf[..chunk.len() * len];
        reader.read_windows(&windows, buf)?;
        out.put(c * CHUNK * len, buf);
    }
    Ok(out.finish())
}

/// Reads a group of tracks, each on a thread of its own.
fn read_tracks(
    files: &[Arc<BigWig>],
    loci: &[Locus],
    chrom_names: &[String],
    len: usize,
    opts: ReadOptions,
) -> Result<Vec<Values>> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .iter()
            .map(|bw| scope.spawn(move || read_track(bw, loci, chrom_names, len, opts)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(Error::Invalid("a bigWig extraction thread panicked".into()))
                })
            })
            .collect()
    })
}

/// What every extraction reads from.
pub(crate) struct Sources<'a> {
    pub fasta: &'a Fasta,
    pub chrom_names: &'a [String],
    pub signals: &'a [Arc<BigWig>],
    pub controls: &'a [Arc<BigWig>],
    pub opts: ReadOptions,
    /// Bases of a window beyond a chromosome end: an error, or `N` (track values there read
    /// as missing either way).
    pub padding: Padding,
}

/// Extracts sequence, signal and control windows for `loci`, the sequence and every track
/// on threads of their own.
pub(crate) fn extract(
    loci: Vec<Locus>,
    seq_len: usize,
    sig_len: usize,
    src: &Sources<'_>,
) -> Result<Store> {
    let n = loci.len();
    let loci_ref = &loci;
    let Sources {
        fasta,
        chrom_names,
        signals,
        controls,
        opts,
        padding,
    } = *src;
    let (seq, signal, control) = std::thread::scope(|scope| {
        let seq = scope.spawn(move || -> Result<(Vec<u8>, u64)> {
            let mut seq = vec![0u8; n * seq_len];
            let mut ambiguous = 0u64;
            for (l, dst) in loci_ref.iter().zip(seq.chunks_exact_mut(seq_len.max(1))) {
                let start = l.centre - (seq_len / 2) as i64;
                fasta.fetch_id_into(
                    l.chrom as usize,
                    start,
                    start + seq_len as i64,
                    padding,
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
                // N and IUPAC codes (valid, encoded as zeros): counted so they are reported.
                ambiguous += dst
                    .iter()
                    .filter(|&&b| !matches!(b & 0xDF, b'A' | b'C' | b'G' | b'T'))
                    .count() as u64;
            }
            Ok((seq, ambiguous))
        });
        let signal =
            scope.spawn(move || read_tracks(signals, loci_ref, chrom_names, sig_len, opts));
        let control =
            scope.spawn(move || read_tracks(controls, loci_ref, chrom_names, seq_len, opts));
        let panicked =
            |what: &str| Error::Invalid(format!("the {what} extraction thread panicked"));
        (
            seq.join().unwrap_or_else(|_| Err(panicked("sequence"))),
            signal.join().unwrap_or_else(|_| Err(panicked("signal"))),
            control.join().unwrap_or_else(|_| Err(panicked("control"))),
        )
    });
    let ((seq, ambiguous), signal, control) = (seq?, signal?, control?);
    Ok(Store {
        ambiguous,
        seq_len,
        sig_len,
        seq: seq.into(),
        signal,
        control,
        loci,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_matches_numpy_linear_interpolation() {
        // numpy.quantile([1, 2, 3, 4, 100], 0.99) == 96.16
        assert!((quantile(&[100.0, 1.0, 3.0, 2.0, 4.0], 0.99) - 96.16).abs() < 1e-9);
        assert_eq!(quantile(&[5.0], 0.99), 5.0);
        assert_eq!(quantile(&[1.0, 2.0], 0.5), 1.5);
        assert!(quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn exclusion_overlap_is_exact_and_merged() {
        let dir = tempfile::tempdir().unwrap();
        let fa = dir.path().join("g.fa");
        std::fs::write(&fa, ">c\n".to_string() + &"A".repeat(100) + "\n").unwrap();
        let bed = dir.path().join("x.bed");
        // Overlapping (10-15, 12-20) and touching (30-35, 35-40) regions merge; chrZ is not
        // in the genome and is ignored.
        std::fs::write(
            &bed,
            "c\t30\t35\nc\t12\t20\nc\t10\t15\nchrZ\t0\t5\nc\t35\t40\n",
        )
        .unwrap();
        let ex = Exclusions::load(std::slice::from_ref(&bed), &Fasta::open(&fa).unwrap()).unwrap();
        assert_eq!(ex.by_chrom, vec![vec![(10, 20), (30, 40)]]);
        std::fs::write(&bed, "c\t0\t9223372036854775807\n").unwrap();
        let e = Exclusions::load(&[bed], &Fasta::open(&fa).unwrap()).unwrap_err();
        assert!(
            e.to_string().contains("x.bed:1") && e.to_string().contains("2^62"),
            "{e}"
        );
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
}
