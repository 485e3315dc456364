//! FASTA fetches against `samtools faidx` output and a brute-force reader.

use std::collections::HashMap;

use biobatch_formats::fasta::{Fasta, FastaOptions, Padding};
use biobatch_formats::region::Region;
use biobatch_tests::{data, read_tsv};
use proptest::prelude::*;

#[test]
fn fetches_match_samtools_for_plain_and_bgzip_files() {
    let rows = read_tsv("expected_fasta.tsv");
    assert!(rows.len() >= 80, "fixture has {} rows", rows.len());
    let mut open: HashMap<String, Fasta> = HashMap::new();
    for row in &rows {
        let (file, region, expected) = (&row[0], &row[1], &row[2]);
        let fa = open
            .entry(file.clone())
            .or_insert_with(|| Fasta::open(data(file)).unwrap());
        let r = Region::parse(region, |n| fa.chrom_id(n).is_some()).unwrap();
        let (s, e) = r.resolve(fa.chrom_len(&r.chrom).unwrap()).unwrap();
        let got = fa
            .fetch(&r.chrom, s as i64, e as i64, Padding::Error)
            .unwrap();
        assert_eq!(
            std::str::from_utf8(&got).unwrap(),
            expected,
            "{file} {region}"
        );
    }
    assert!(open["multi.fa.gz"].is_bgzf());
}

#[test]
fn built_index_equals_samtools_index() {
    for name in [
        "lambda_virus.fa",
        "multi.fa",
        "multi.fa.gz",
        "lambda_virus.fa.gz",
    ] {
        let from_fai = Fasta::open(data(name)).unwrap();
        let rebuilt = Fasta::open_with(
            data(name),
            &FastaOptions {
                rebuild_index: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(from_fai.index(), rebuilt.index(), "{name}");
    }
}

#[test]
fn written_index_is_byte_identical_to_samtools() {
    let dir = tempfile::tempdir().unwrap();
    let fa = dir.path().join("multi.fa");
    std::fs::copy(data("multi.fa"), &fa).unwrap();
    Fasta::open_with(
        &fa,
        &FastaOptions {
            write_index: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("multi.fa.fai")).unwrap(),
        std::fs::read(data("multi.fa.fai")).unwrap()
    );
}

/// The sequences of a FASTA file, parsed naively.
fn brute_force(name: &str) -> Vec<(String, Vec<u8>)> {
    let text = std::fs::read(data(name)).unwrap();
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        if let Some(h) = line.strip_prefix(b">") {
            let name = String::from_utf8_lossy(h)
                .split_whitespace()
                .next()
                .unwrap()
                .to_string();
            out.push((name, Vec::new()));
        } else if let Some(last) = out.last_mut() {
            last.1.extend_from_slice(line);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn random_windows_agree_with_brute_force(
        chrom_pick in 0usize..3,
        start in -50i64..25_100,
        len in 0i64..3_000,
        gz in any::<bool>(),
    ) {
        let seqs = brute_force("multi.fa");
        let (name, seq) = &seqs[chrom_pick];
        let fa = Fasta::open(data(if gz { "multi.fa.gz" } else { "multi.fa" })).unwrap();
        let end = start + len;
        let got = fa.fetch(name, start, end, Padding::N).unwrap();
        let expected: Vec<u8> = (start..end)
            .map(|p| if p < 0 || p >= seq.len() as i64 { b'N' } else { seq[p as usize] })
            .collect();
        prop_assert_eq!(got, expected);
        let inside = start >= 0 && end <= seq.len() as i64;
        prop_assert_eq!(fa.fetch(name, start, end, Padding::Error).is_ok(), inside);
    }
}

#[test]
fn fasta_is_shareable_across_threads() {
    let fa = std::sync::Arc::new(Fasta::open(data("multi.fa.gz")).unwrap());
    let expected = fa.fetch("chrB", 100, 5_100, Padding::Error).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let fa = fa.clone();
            std::thread::spawn(move || fa.fetch("chrB", 100, 5_100, Padding::Error).unwrap())
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), expected);
    }
}
