//! BED / narrowPeak (plain or gzip): the reader and a field-by-field reading of the format
//! must agree both ways — the same records when the file is valid, and an error (on the same
//! line) when it is not.

use std::io::Write;
use std::path::Path;

use biobatch_core::Strand;
use biobatch_formats::bed::read_bed;

use super::ensure;
use crate::{Case, Target, Verdict, fixture, oracle};

pub(super) const TARGET: Target = Target {
    name: "bed",
    about: "BED3-6 and narrowPeak, plain or gzip, against the format's rules read field by field",
    seeds,
    check,
};

const BED: &str = "peaks.bed";

fn head(bytes: &[u8], lines: usize) -> Vec<u8> {
    bytes
        .split_inclusive(|&c| c == b'\n')
        .take(lines)
        .flatten()
        .copied()
        .collect()
}

fn seeds() -> Vec<Case> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&fixture("a.bed")).expect("in memory");
    let gz = gz.finish().expect("in memory");
    [
        fixture("a.bed"),
        fixture("example.narrowPeak"),
        head(&fixture("CTCF_Kc_Bushey_2009.bed"), 30),
        head(&fixture("rmsk.hg18.chr21.small.bed"), 30),
        b"\xEF\xBB\xBFchr1\t0\t10\tn\t5.5\t+\r\nchr1\t10\t20\t.\t.\t-\r\n# c\n\nchr2\t5\t6\tm\t0\t*\n"
            .to_vec(),
        b"browser x\ntrack y\nchr1\t100\t200\tp\t0\t.\t3.5\t-1\t2\t99\nchr1\t300\t400\t.\t0\t.\t1e3\t5\t-1\t-1\n"
            .to_vec(),
        gz,
    ]
    .into_iter()
    .map(|b| Case::new([(BED, b)]))
    .collect()
}

fn same_float(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

fn check(input: &Path, _work: &Path) -> Result<Verdict, String> {
    let path = input.join(BED);
    let ours = read_bed(&path);
    let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
    let Some(text) = oracle::maybe_gunzip(&bytes) else {
        // Damaged compression: the reader must refuse too.
        ensure(ours.is_err(), || {
            "damaged gzip read: the stream does not inflate".into()
        })?;
        return Ok(Verdict::Refused);
    };
    let expected = oracle::bed(&text);
    match (ours, expected) {
        (Err(e), Err(line)) => {
            let msg = e.to_string();
            ensure(msg.contains(&format!(":{line}:")), || {
                format!(
                    "refused on another line: the format breaks on line {line}, the error says: {msg}"
                )
            })?;
            Ok(Verdict::Refused)
        }
        (Err(e), Ok(_)) => Err(format!("valid file refused: {e}")),
        (Ok(recs), Err(line)) => Err(format!(
            "invalid file read: line {line} breaks the format but {} records were read",
            recs.len()
        )),
        (Ok(recs), Ok(exp)) => {
            ensure(recs.len() == exp.len(), || {
                format!(
                    "record count differs: {} read, the file has {}",
                    recs.len(),
                    exp.len()
                )
            })?;
            for (r, e) in recs.iter().zip(&exp) {
                let strand = match r.strand {
                    Strand::Forward => 1,
                    Strand::Reverse => -1,
                    _ => 0,
                };
                let narrow = r
                    .narrow_peak
                    .map(|n| (n.signal_value, n.p_value, n.q_value, n.summit));
                let same = r.line == e.line
                    && r.chrom == e.chrom
                    && r.start == e.start
                    && r.end == e.end
                    && r.name == e.name
                    && match (r.score, e.score) {
                        (Some(a), Some(b)) => same_float(a, b),
                        (a, b) => a.is_none() && b.is_none(),
                    }
                    && strand == e.strand
                    && match (narrow, e.narrow) {
                        (Some(a), Some(b)) => {
                            same_float(a.0, b.0)
                                && same_float(a.1, b.1)
                                && same_float(a.2, b.2)
                                && a.3 == b.3
                        }
                        (a, b) => a.is_none() && b.is_none(),
                    };
                ensure(same, || {
                    format!("record differs: read {r:?}, the file says {e:?}")
                })?;
            }
            Ok(Verdict::Accepted)
        }
    }
}
