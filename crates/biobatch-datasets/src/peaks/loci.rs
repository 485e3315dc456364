//! Reading the peak and negative loci from BED / narrowPeak files, each checked against the
//! genome, the tracks and the exclusion lists, and dropped (and counted) or refused.

use std::path::PathBuf;

use biobatch_formats::bed::read_bed;
use biobatch_formats::fasta::Fasta;

use crate::windows::{Drops, Exclusions, Locus, MissingChrom, Reason, TrackMismatch};
use crate::{Error, Result};

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
    /// For each FASTA chromosome, the first track file that lacks it or gives it another
    /// length.
    pub mismatch: &'a [TrackMismatch],
    pub missing: MissingChrom,
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
            let at = || format!("{}:{}", f.display(), r.line);
            if !src.chroms.is_empty() && !src.chroms.contains(&r.chrom) {
                drops.add(Reason::ChromFilter, || {
                    format!("{}: `{}` is not in `chroms`", at(), r.chrom)
                });
                continue;
            }
            let chrom = src
                .fasta
                .chrom_id(&r.chrom)
                .ok_or_else(|| Error::UnknownChrom {
                    place: at(),
                    chrom: r.chrom.clone(),
                    fasta: src.fasta.path().to_path_buf(),
                })?;
            let centre = if src.summits {
                let summit = r.narrow_peak.and_then(|n| n.summit).ok_or_else(|| {
                    Error::record(
                        at(),
                        "`summits` is on but this record has no summit (narrowPeak column 10)",
                    )
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
            if let Some((bw, track_len)) = &src.mismatch[chrom] {
                match (src.missing, track_len) {
                    (MissingChrom::Error, None) => {
                        return Err(Error::MissingChrom {
                            place: at(),
                            chrom: r.chrom.clone(),
                            bigwig: bw.clone(),
                        });
                    }
                    (MissingChrom::Error, Some(l)) => {
                        return Err(Error::TrackLength {
                            place: at(),
                            chrom: r.chrom.clone(),
                            bigwig: bw.clone(),
                            track_len: *l,
                            fasta_len: len as u64,
                        });
                    }
                    (MissingChrom::Drop, _) => {
                        drops.add(Reason::MissingChromosome, || match track_len {
                            None => format!("{}: `{}` is not in {}", at(), r.chrom, bw.display()),
                            Some(l) => format!(
                                "{}: {} gives `{}` {l} bases, the FASTA {len}",
                                at(),
                                bw.display(),
                                r.chrom
                            ),
                        });
                        continue;
                    }
                    (MissingChrom::Zeros, _) => {}
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
}
