//! Windows of sequence and tracks around loci: exclusion lists, and the extraction of every
//! locus's windows into a compact [`Store`], the sequence and each track on a thread of its
//! own.

use std::path::PathBuf;
use std::sync::Arc;

use biobatch_formats::bed::read_bed;
use biobatch_formats::bigwig::{BigWig, ReadOptions, Window};
use biobatch_formats::fasta::{Fasta, Padding};
use biobatch_formats::sequence;

use super::NanPolicy;
use super::store::{Growing, Locus, Store, Values};
use crate::{Error, Result};

/// Exclusion-list regions per chromosome (FASTA index), merged and sorted.
#[derive(Debug, Default)]
pub(crate) struct Exclusions {
    by_chrom: Vec<Vec<(i64, i64)>>,
}

impl Exclusions {
    pub(crate) fn load(files: &[PathBuf], fasta: &Fasta) -> Result<Self> {
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
    pub(crate) fn overlaps(&self, chrom: usize, start: i64, end: i64) -> bool {
        let Some(v) = self.by_chrom.get(chrom) else {
            return false;
        };
        let i = v.partition_point(|&(_, e)| e <= start);
        v.get(i).is_some_and(|&(s, _)| s < end)
    }
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
) -> Result<(Values, u64)> {
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
    Ok((out.finish(), reader.nan_bases()))
}

/// Reads a group of tracks, each on a thread of its own.
fn read_tracks(
    files: &[Arc<BigWig>],
    loci: &[Locus],
    chrom_names: &[String],
    len: usize,
    opts: ReadOptions,
) -> Result<Vec<(Values, u64)>> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .iter()
            .map(|bw| scope.spawn(move || read_track(bw, loci, chrom_names, len, opts)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(Error::Panicked("bigWig"))))
            .collect()
    })
}

/// Loci whose sequence a remote FASTA fetches in one go.
const PREFETCH: usize = 4096;

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
    /// Values stored as NaN: an error, or zeros (counted).
    pub nan: NanPolicy,
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
        nan,
    } = *src;
    let bytes = n.checked_mul(seq_len).ok_or_else(|| {
        Error::Config(format!(
            "{n} windows of {seq_len} bases are more than memory holds"
        ))
    })?;
    let (seq, signal, control) = std::thread::scope(|scope| {
        let seq = scope.spawn(move || -> Result<(Vec<u8>, u64)> {
            let mut seq = biobatch_formats::column::zeroed_vec::<u8>(bytes);
            let mut ambiguous = 0u64;
            let half = (seq_len / 2) as i64;
            for (k, (l, dst)) in loci_ref
                .iter()
                .zip(seq.chunks_exact_mut(seq_len.max(1)))
                .enumerate()
            {
                // A FASTA at a URL: the bytes of the next loci are fetched together
                // (coalesced, several requests in flight) rather than one window at a time.
                if fasta.is_remote() && k % PREFETCH == 0 {
                    let next: Vec<(usize, i64, i64)> = loci_ref[k..(k + PREFETCH).min(n)]
                        .iter()
                        .map(|l| {
                            let s = l.centre - half;
                            (l.chrom as usize, s, s + seq_len as i64)
                        })
                        .collect();
                    fasta.prefetch(&next)?;
                }
                let start = l.centre - half;
                fasta.fetch_id_into(
                    l.chrom as usize,
                    start,
                    start + seq_len as i64,
                    padding,
                    dst,
                )?;
                if let Err(bad) = sequence::validate(dst) {
                    return Err(Error::InvalidBase {
                        fasta: fasta.path().to_path_buf(),
                        byte: bad.byte as char,
                        chrom: chrom_names[l.chrom as usize].clone(),
                        pos: start + bad.pos as i64,
                    });
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
        (
            seq.join()
                .unwrap_or_else(|_| Err(Error::Panicked("sequence"))),
            signal
                .join()
                .unwrap_or_else(|_| Err(Error::Panicked("signal"))),
            control
                .join()
                .unwrap_or_else(|_| Err(Error::Panicked("control"))),
        )
    });
    let ((seq, ambiguous), signal, control) = (seq?, signal?, control?);
    // Values stored as NaN: refused, or read as zeros and counted per track.
    let files = signals.iter().chain(controls);
    let counts = signal.iter().chain(&control).map(|(_, n)| *n);
    for (bw, bases) in files.zip(counts.clone()) {
        if bases > 0 && nan == NanPolicy::Error {
            return Err(Error::NanValues {
                bigwig: bw.path().to_path_buf(),
                bases,
            });
        }
    }
    let nan = counts.collect();
    Ok(Store {
        ambiguous,
        seq_len,
        sig_len,
        seq: seq.into(),
        signal: signal.into_iter().map(|(v, _)| v).collect(),
        control: control.into_iter().map(|(v, _)| v).collect(),
        nan,
        loci,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
            e.to_string().contains("x.bed:1") && e.to_string().contains("at most 2^40"),
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
