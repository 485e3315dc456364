//! The command line, run as a user would: views and indexes against outputs of samtools
//! and pyBigWig, errors, help.

use crate::common;

use common::*;

#[test]
fn view_fasta_prints_what_samtools_prints() {
    let rows: Vec<_> = tsv("expected_fasta.tsv")
        .into_iter()
        .filter(|r| r[0] == "multi.fa.gz")
        .take(12)
        .collect();
    let file = data("multi.fa.gz");
    let mut args = vec!["view", "fasta", file.to_str().unwrap(), "--width", "0"];
    args.extend(rows.iter().map(|r| r[1].as_str()));
    let out = biobatch(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2 * rows.len());
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(lines[2 * i], format!(">{}", r[1]));
        assert_eq!(lines[2 * i + 1], r[2]);
    }
}

#[test]
fn view_fasta_wraps_lines() {
    let out = biobatch(&[
        "view",
        "fasta",
        data("multi.fa").to_str().unwrap(),
        "chrA:1-25",
        "--width",
        "10",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    let lens: Vec<usize> = text.lines().map(str::len).collect();
    assert_eq!(lens, [">chrA:1-25".len(), 10, 10, 5]);
}

#[test]
fn view_bigwig_tsv_matches_pybigwig() {
    let rows: Vec<_> = tsv("expected_bigwig.tsv")
        .into_iter()
        .filter(|r| r[0] == "signal_fixed.bw")
        .take(10)
        .collect();
    let file = data("signal_fixed.bw");
    for r in rows {
        let (start, end): (u64, u64) = (r[2].parse().unwrap(), r[3].parse().unwrap());
        let region = format!("{}:{}-{}", r[1], start + 1, end);
        let out = biobatch(&[
            "view",
            "bigwig",
            file.to_str().unwrap(),
            &region,
            "--missing",
            "nan",
        ]);
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        let expected: Vec<&str> = r[4].split(',').collect();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), expected.len(), "{region}");
        for (i, (line, want)) in lines.iter().zip(&expected).enumerate() {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols[0], r[1]);
            assert_eq!(cols[1], (start + 1 + i as u64).to_string());
            if *want == "nan" {
                assert_eq!(cols[2], "nan", "{region} +{i}");
            } else {
                let got: f32 = cols[2].parse().unwrap();
                assert_eq!(got, want.parse::<f64>().unwrap() as f32, "{region} +{i}");
            }
        }
    }
}

#[test]
fn view_bigwig_json_uses_null_for_missing() {
    let out = biobatch(&[
        "view",
        "bigwig",
        data("signal_fixed.bw").to_str().unwrap(),
        "chrB:1-3",
        "--format",
        "json",
        "--missing",
        "nan",
    ]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "{\"region\":\"chrB:1-3\",\"chrom\":\"chrB\",\"start\":0,\"end\":3,\"values\":[null,null,null]}\n"
    );
}

#[test]
fn index_writes_the_samtools_index() {
    let dir = tempfile::tempdir().unwrap();
    let fa = dir.path().join("lambda.fa.gz");
    std::fs::copy(data("lambda_virus.fa.gz"), &fa).unwrap();
    let out = biobatch(&["index", fa.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(dir.path().join("lambda.fa.gz.fai")).unwrap(),
        std::fs::read(data("lambda_virus.fa.gz.fai")).unwrap()
    );
}

#[test]
fn errors_are_one_line_and_exit_non_zero() {
    let fa = data("multi.fa");
    let cases: [(&[&str], &str); 8] = [
        // A typo'd region is checked against the sequence before anything is allocated.
        (
            &["view", "fasta", fa.to_str().unwrap(), "chrA:1-100000000000"],
            "runs past the end of `chrA` (length 20000)",
        ),
        (
            &[
                "view",
                "fasta",
                fa.to_str().unwrap(),
                "chrA:1-18446744073709551615",
            ],
            "beyond any sequence",
        ),
        // Parameters that would wrap or spin are refused when the config is built.
        (
            &["peaks", "check", "--example", "--negative-ratio", "1e15"],
            "at most 2^32 are possible",
        ),
        (
            &["peaks", "check", "--example", "--negative-ratio", "nan"],
            "negative_ratio must be a finite number",
        ),
        (
            &["view", "fasta", fa.to_str().unwrap(), "chrQ:1-5"],
            "no sequence named `chrQ`",
        ),
        (
            &["view", "fasta", fa.to_str().unwrap(), "chrC:3490-3510"],
            "`--pad` pads with N",
        ),
        (
            &["view", "fasta", fa.to_str().unwrap(), "chrC:0-10"],
            "1-based",
        ),
        (
            &["view", "bigwig", fa.to_str().unwrap(), "chrC"],
            "not a bigWig file",
        ),
    ];
    for (args, needle) in cases {
        let out = biobatch(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("biobatch: error: ") && err.contains(needle),
            "{err}"
        );
    }
    let padded = biobatch(&[
        "view",
        "fasta",
        fa.to_str().unwrap(),
        "chrC:3500-3504",
        "--pad",
    ]);
    assert!(padded.status.success());
    assert!(String::from_utf8(padded.stdout).unwrap().ends_with("NN\n"));
}

#[test]
fn help_lists_every_command() {
    let out = biobatch(&["--help"]);
    let text = String::from_utf8(out.stdout).unwrap();
    for cmd in ["view", "index", "zoo", "train", "cells"] {
        assert!(text.contains(cmd), "{text}");
    }
    let out = biobatch(&["view", "bigwig", "--help"]);
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in ["--format", "--missing", "1-based"] {
        assert!(text.contains(flag), "{text}");
    }
}
