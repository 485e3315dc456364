//! bigWig open and read: every chromosome read whole must equal what bigtools reads from the
//! same bytes, and windows must equal the matching slices of the whole (a base's value may
//! not depend on the window that asks for it).

use std::path::Path;
use std::sync::Arc;

use bigtools::beddata::BedParserStreamingIterator;
use bigtools::{BBIWriteOptions, BigWigRead, BigWigWrite, Value};
use biobatch_formats::bigwig::{BigWig, Missing, ReadOptions};

use super::ensure;
use crate::{Case, Target, Verdict, fixture};

pub(super) const TARGET: Target = Target {
    name: "bigwig",
    about: "bigWig open and window reads, against bigtools on the same bytes and against itself",
    seeds,
    check,
};

const BW: &str = "track.bw";

/// A small bigWig written by bigtools, with or without zlib (uncompressed sections put the
/// mutations straight on the items).
fn written(compress: bool) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("w.bw");
    let chroms = [("chr1".to_string(), 5_000u32), ("chr2".to_string(), 900)];
    let mut values = Vec::new();
    for (c, len) in &chroms {
        let mut s = 3;
        while s + 7 < *len {
            values.push((
                c.clone(),
                Value {
                    start: s,
                    end: s + 1 + s % 7,
                    value: (s % 13) as f32 - 4.5,
                },
            ));
            s += 9 + s % 11;
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let mut out = BigWigWrite::create_file(&path, chroms.into_iter().collect())
        .expect("bigtools creates the file");
    out.options = BBIWriteOptions {
        compress,
        items_per_slot: 64,
        block_size: 8,
        ..Default::default()
    };
    let data = BedParserStreamingIterator::wrap_infallible_iter(values.into_iter(), false);
    out.write(data, runtime).expect("bigtools writes the file");
    std::fs::read(&path).expect("the written file")
}

fn seeds() -> Vec<Case> {
    [
        fixture("signal_fixed.bw"),
        fixture("signal_minus.bw"),
        written(false),
        written(true),
    ]
    .into_iter()
    .map(|b| Case::new([(BW, b)]))
    .collect()
}

fn same(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

/// bigtools' dense reading of every chromosome (NaN where no data), or `None` if it fails or
/// panics on these bytes.
fn bigtools_dense(path: &Path, chroms: &[(String, u32)]) -> Option<Vec<Vec<f32>>> {
    std::panic::catch_unwind(|| {
        let mut r = BigWigRead::open_file(path).ok()?;
        let mut out = Vec::new();
        for (c, len) in chroms {
            let mut dense = vec![f32::NAN; *len as usize];
            for v in r.get_interval(c, 0, *len).ok()? {
                let v = v.ok()?;
                let (s, e) = (v.start.min(*len) as usize, v.end.min(*len) as usize);
                dense[s..e.max(s)].fill(v.value);
            }
            out.push(dense);
        }
        Some(out)
    })
    .ok()
    .flatten()
}

fn check(input: &Path, _work: &Path) -> Result<Verdict, String> {
    let path = input.join(BW);
    let Ok(bw) = BigWig::open(&path) else {
        return Ok(Verdict::Refused);
    };
    let bw = Arc::new(bw);
    let chroms: Vec<(String, u32)> = bw
        .chroms()
        .iter()
        .map(|c| (c.name.clone(), c.length))
        .collect();
    let mut reader = bw.reader_with(ReadOptions {
        missing: Missing::Nan,
        ..Default::default()
    });
    let mut whole = Vec::new();
    for (c, len) in &chroms {
        if *len > 1 << 24 {
            // A chromosome length is not checked against the data; reading 4 Gb of NaN says
            // nothing more than reading the start of it.
            return Ok(Verdict::Unverified);
        }
        let mut v = vec![0f32; *len as usize];
        if reader.read_window(c, 0, *len as i64, &mut v).is_err() {
            return Ok(Verdict::Refused);
        }
        whole.push(v);
    }
    // Windows (with a fresh reader, so no block is cached) agree with the whole.
    let mut fresh = bw.reader_with(ReadOptions {
        missing: Missing::Nan,
        cache_bytes: 0,
        ..Default::default()
    });
    for ((c, len), w) in chroms.iter().zip(&whole) {
        let n = *len as i64;
        for (a, b) in [
            (n / 2, n / 2 + 37),
            (n - 5, n + 5),
            (-3, 11),
            (n / 5, 4 * n / 5),
        ] {
            let (a, b) = (a.max(-10), b.max(a.max(-10)));
            let mut got = vec![0f32; (b - a) as usize];
            if fresh.read_window(c, a, b, &mut got).is_err() {
                return Ok(Verdict::Refused);
            }
            let expected: Vec<f32> = (a..b)
                .map(|p| {
                    if p < 0 || p >= n {
                        f32::NAN
                    } else {
                        w[p as usize]
                    }
                })
                .collect();
            ensure(same(&got, &expected), || {
                format!("window differs from the whole chromosome: {c}:{a}-{b}")
            })?;
        }
    }
    // bigtools allocates the header's inflate-buffer size (offset 52) and the chromosome
    // tree's item count up front; past sane values it would only exhaust memory.
    let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
    let le = bytes.get(..4) == Some(&[0x26, 0xFC, 0x8F, 0x88][..]);
    let buf = bytes.get(52..56).map_or(0, |w| {
        let w = [w[0], w[1], w[2], w[3]];
        if le {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        }
    });
    if buf > 64 << 20 {
        return Ok(Verdict::Unverified);
    }
    let Some(theirs) = bigtools_dense(&path, &chroms) else {
        return Ok(Verdict::Unverified);
    };
    for ((c, _), (ours, theirs)) in chroms.iter().zip(whole.iter().zip(&theirs)) {
        if !same(ours, theirs) {
            let i = ours
                .iter()
                .zip(theirs)
                .position(|(x, y)| !(x.to_bits() == y.to_bits() || x.is_nan() && y.is_nan()))
                .unwrap_or(0);
            return Err(format!(
                "differs from bigtools: {c}:{i}: read {}, bigtools reads {}",
                ours[i], theirs[i]
            ));
        }
    }
    Ok(Verdict::Accepted)
}
