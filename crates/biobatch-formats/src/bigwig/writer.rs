//! Writing bigWig files with `bigtools` (for fixtures, examples and generated data).

use std::collections::HashMap;
use std::path::Path;

use bigtools::beddata::BedParserStreamingIterator;
use bigtools::{BigWigWrite, Value};

use crate::{Error, Result};

/// One bedGraph interval: `chrom:[start, end)` has `value`.
#[derive(Debug, Clone, PartialEq)]
pub struct BedGraphEntry {
    /// Chromosome name.
    pub chrom: String,
    /// 0-based start.
    pub start: u32,
    /// Exclusive end.
    pub end: u32,
    /// The value.
    pub value: f32,
}

/// Run-length encodes a per-base track of one chromosome into bedGraph entries, skipping
/// zeros (bases without an entry read as missing = 0 by default).
pub fn dense_to_entries(chrom: &str, values: &[f32], out: &mut Vec<BedGraphEntry>) {
    let mut i = 0usize;
    while i < values.len() {
        let v = values[i];
        let mut j = i + 1;
        while j < values.len() && values[j].to_bits() == v.to_bits() {
            j += 1;
        }
        if v != 0.0 {
            out.push(BedGraphEntry {
                chrom: chrom.to_string(),
                start: i as u32,
                end: j as u32,
                value: v,
            });
        }
        i = j;
    }
}

/// Writes a bigWig atomically (temporary file, then rename).
///
/// `chroms` lists every chromosome with its length. `entries` must be grouped by chromosome,
/// sorted by start and non-overlapping within each chromosome.
pub fn write_bigwig(
    path: impl AsRef<Path>,
    chroms: &[(String, u32)],
    entries: impl IntoIterator<Item = BedGraphEntry>,
) -> Result<()> {
    let path = path.as_ref();
    let sizes: HashMap<String, u32> = chroms.iter().cloned().collect();
    let mut entries: Vec<BedGraphEntry> = entries.into_iter().collect();
    for w in entries.windows(2) {
        if w[0].chrom == w[1].chrom && w[1].start < w[0].end {
            return Err(Error::Invalid(format!(
                "bigWig entries overlap or are unsorted at {}:{}",
                w[1].chrom, w[1].start
            )));
        }
    }
    for e in &entries {
        match sizes.get(&e.chrom) {
            None => {
                return Err(Error::Invalid(format!(
                    "bigWig entry on `{}`, which is not among the chromosomes",
                    e.chrom
                )));
            }
            Some(&len) if e.end > len || e.start >= e.end => {
                return Err(Error::Invalid(format!(
                    "bigWig entry {}:{}-{} is empty or past the chromosome end ({len})",
                    e.chrom, e.start, e.end
                )));
            }
            Some(_) => {}
        }
    }
    // bigtools requires chromosomes in sorted name order.
    entries.sort_by(|a, b| a.chrom.cmp(&b.chrom).then(a.start.cmp(&b.start)));
    let staged = crate::fs::AtomicFile::create(path)?;
    let tmp = staged.temp_path().to_path_buf();
    let result = (|| -> std::result::Result<(), String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| e.to_string())?;
        let iter = entries.into_iter().map(|e| {
            (
                e.chrom,
                Value {
                    start: e.start,
                    end: e.end,
                    value: e.value,
                },
            )
        });
        let data = BedParserStreamingIterator::wrap_infallible_iter(iter, false);
        let out = BigWigWrite::create_file(&tmp, sizes).map_err(|e| e.to_string())?;
        out.write(data, runtime).map_err(|e| e.to_string())
    })();
    if let Err(e) = result {
        return Err(Error::io(
            path,
            std::io::Error::other(format!("writing bigWig: {e}")),
        ));
    }
    staged.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bigwig::BigWig;
    use std::sync::Arc;

    #[test]
    fn dense_round_trip_through_a_written_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.bw");
        let a: Vec<f32> = (0..5000)
            .map(|i| if i % 97 < 5 { (i % 7) as f32 } else { 0.0 })
            .collect();
        let b: Vec<f32> = (0..300).map(|i| i as f32 * 0.5).collect();
        let mut entries = Vec::new();
        dense_to_entries("chr2", &b, &mut entries);
        dense_to_entries("chr10", &a, &mut entries);
        write_bigwig(&p, &[("chr10".into(), 5000), ("chr2".into(), 300)], entries).unwrap();
        let bw = Arc::new(BigWig::open(&p).unwrap());
        let mut r = bw.reader();
        let mut out = vec![0f32; 5000];
        r.read_window("chr10", 0, 5000, &mut out).unwrap();
        assert_eq!(out, a);
        let mut out = vec![0f32; 300];
        r.read_window("chr2", 0, 300, &mut out).unwrap();
        assert_eq!(out, b);
    }

    #[test]
    fn rejects_bad_entries() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.bw");
        let e = |c: &str, s, e| BedGraphEntry {
            chrom: c.into(),
            start: s,
            end: e,
            value: 1.0,
        };
        let chroms = [("c".to_string(), 100)];
        assert!(write_bigwig(&p, &chroms, [e("c", 10, 20), e("c", 15, 30)]).is_err());
        assert!(write_bigwig(&p, &chroms, [e("d", 10, 20)]).is_err());
        assert!(write_bigwig(&p, &chroms, [e("c", 90, 120)]).is_err());
        assert!(!p.exists());
    }
}
