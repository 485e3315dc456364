//! bigWig reads against values written by pyBigWig and against bigtools as a brute-force
//! reference.

use std::sync::Arc;

use biobatch_formats::bigwig::{BigWig, Missing, ReadOptions, Window};
use biobatch_tests::{data, read_tsv};
use proptest::prelude::*;

pub(crate) fn parse_values(s: &str) -> Vec<f32> {
    s.split(',')
        .map(|v| {
            if v == "nan" {
                f32::NAN
            } else {
                v.parse::<f64>().unwrap() as f32
            }
        })
        .collect()
}

pub(crate) fn same(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

#[test]
fn windows_match_pybigwig_one_by_one_and_batched() {
    let rows = read_tsv("expected_bigwig.tsv");
    assert!(rows.len() >= 100);
    for file in ["signal_plus.bw", "signal_minus.bw", "signal_fixed.bw"] {
        let bw = Arc::new(BigWig::open(data(file)).unwrap());
        let opts = ReadOptions {
            missing: Missing::Nan,
            ..Default::default()
        };
        let mut r = bw.reader_with(opts);
        let mine: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] == file).collect();
        assert!(mine.len() > 30, "{file}");
        let mut windows = Vec::new();
        let mut expected_all = Vec::new();
        for row in &mine {
            let (start, end): (i64, i64) = (row[2].parse().unwrap(), row[3].parse().unwrap());
            let expected = parse_values(&row[4]);
            let mut got = vec![0f32; (end - start) as usize];
            r.read_window(&row[1], start, end, &mut got).unwrap();
            assert!(same(&got, &expected), "{file} {}:{start}-{end}", row[1]);
            windows.push(Window::new(&row[1], start, end));
            expected_all.extend(expected);
        }
        // All windows of the file in one call, with a cold reader and no cache between calls.
        let mut cold = bw.reader_with(ReadOptions {
            cache_bytes: 0,
            ..opts
        });
        let mut got = vec![0f32; expected_all.len()];
        cold.read_windows(&windows, &mut got).unwrap();
        assert!(same(&got, &expected_all), "{file} batched");
        assert!(cold.blocks_inflated() <= bw.num_blocks() as u64);
    }
}

#[test]
fn chromosome_sums_match_pybigwig() {
    for row in read_tsv("expected_bigwig_sums.tsv") {
        let bw = Arc::new(BigWig::open(data(&row[0])).unwrap());
        let len = bw.chrom_len(&row[1]).unwrap() as usize;
        let mut v = vec![0f32; len];
        bw.reader()
            .read_window(&row[1], 0, len as i64, &mut v)
            .unwrap();
        let sum: f64 = v.iter().map(|&x| x as f64).sum();
        let expected: f64 = row[3].parse().unwrap();
        if expected.is_nan() {
            assert_eq!(sum, 0.0, "{} {}: no data reads as zeros", row[0], row[1]);
        } else {
            assert!(
                (sum - expected).abs() <= 1e-9 * expected.abs().max(1.0),
                "{} {}: {sum} vs {expected}",
                row[0],
                row[1]
            );
        }
    }
}

/// Dense per-base values of a chromosome according to bigtools (NaN where no data).
fn bigtools_dense(file: &str, chrom: &str, len: usize) -> Vec<f32> {
    let mut r = bigtools::BigWigRead::open_file(data(file)).unwrap();
    let mut out = vec![f32::NAN; len];
    for v in r.get_interval(chrom, 0, len as u32).unwrap() {
        let v = v.unwrap();
        for x in &mut out[v.start as usize..v.end as usize] {
            *x = v.value;
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_window_batches_agree_with_bigtools(
        file_pick in 0usize..3,
        windows in prop::collection::vec((0usize..3, -100i64..25_100, 1i64..2_000), 1..40),
        cache_kb in 0usize..64,
    ) {
        let file = ["signal_plus.bw", "signal_minus.bw", "signal_fixed.bw"][file_pick];
        let bw = Arc::new(BigWig::open(data(file)).unwrap());
        let chroms: Vec<(String, usize)> = bw.chroms().iter().map(|c| (c.name.clone(), c.length as usize)).collect();
        let dense: Vec<Vec<f32>> = chroms.iter().map(|(c, l)| bigtools_dense(file, c, *l)).collect();
        let ws: Vec<Window> = windows.iter().map(|&(c, s, l)| Window::new(&chroms[c].0, s, s + l)).collect();
        let mut expected = Vec::new();
        for &(c, s, l) in &windows {
            for p in s..s + l {
                let inside = p >= 0 && (p as usize) < chroms[c].1;
                expected.push(if inside { dense[c][p as usize] } else { f32::NAN });
            }
        }
        let mut r = bw.reader_with(ReadOptions { missing: Missing::Nan, cache_bytes: cache_kb << 10, ..Default::default() });
        let mut got = vec![0f32; expected.len()];
        r.read_windows(&ws, &mut got).unwrap();
        prop_assert!(same(&got, &expected));
    }
}

#[test]
fn readers_on_many_threads_share_one_file() {
    let bw = Arc::new(BigWig::open(data("signal_plus.bw")).unwrap());
    let mut expected = vec![0f32; 20_000];
    bw.reader()
        .read_window("chrA", 0, 20_000, &mut expected)
        .unwrap();
    let expected = Arc::new(expected);
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let bw = bw.clone();
            let expected = expected.clone();
            std::thread::spawn(move || {
                let mut r = bw.reader();
                let mut v = vec![0f32; 1_000];
                for k in 0..50 {
                    let s = ((t * 50 + k) * 373 % 19_000) as i64;
                    r.read_window("chrA", s, s + 1_000, &mut v).unwrap();
                    assert_eq!(&v[..], &expected[s as usize..s as usize + 1_000]);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}
