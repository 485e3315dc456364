//! The command line on inputs at URLs (feature `remote`), served by a real HTTP server on
//! 127.0.0.1: the same batches as from the local files, and a second run that makes no data
//! request.
#![cfg(feature = "remote")]

use crate::common;

use biobatch_tests::servers::{Fault, RangeServer};
use common::*;

fn examples_peaks() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/peaks")
}

/// `peaks digest` over the example dataset, its files given as URLs of `server`.
fn digest_urls(server: &RangeServer, extra: &[&str]) -> Output {
    let u = |f: &str| server.url(f);
    let signals = format!("{},{}", u("signal.plus.bw"), u("signal.minus.bw"));
    let controls = format!("{},{}", u("control.plus.bw"), u("control.minus.bw"));
    let mut args = vec![
        "peaks".to_string(),
        "digest".into(),
        "--example".into(),
        "--batches".into(),
        "4".into(),
        "--fasta".into(),
        u("genome.fa"),
        "--peaks".into(),
        u("peaks.narrowPeak"),
        "--negatives".into(),
        u("negatives.bed"),
        "--exclusion".into(),
        u("exclusion.bed"),
        "--signals".into(),
        signals,
        "--controls".into(),
        controls,
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    biobatch(&args)
}

#[test]
fn peaks_digest_over_urls_equals_the_local_digest_and_the_second_run_is_local() {
    let server = RangeServer::start(&examples_peaks());
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().to_str().unwrap();
    let local = lines(biobatch(&[
        "peaks",
        "digest",
        "--example",
        "--batches",
        "4",
        "--no-cache",
    ]));
    let first = lines(digest_urls(&server, &["--cache-dir", cache]));
    assert_eq!(first, local);
    assert!(server.gets() > 0);
    // The extraction and the blocks are cached: only HEAD requests (to check the versions).
    let gets = server.gets();
    let second = lines(digest_urls(&server, &["--cache-dir", cache]));
    assert_eq!(second, local);
    assert_eq!(server.gets(), gets, "the second run fetched data");
    // Without the extraction cache, the block cache alone makes the run local.
    let dir2 = tempfile::tempdir().unwrap();
    let cache2 = dir2.path().to_str().unwrap();
    let args = ["--cache-dir", cache2];
    assert_eq!(lines(digest_urls(&server, &args)), local);
    let gets = server.gets();
    let mut removed = 0;
    for f in std::fs::read_dir(dir2.path()).unwrap().flatten() {
        if f.path().extension().is_some_and(|e| e == "bbcache") {
            std::fs::remove_file(f.path()).unwrap();
            removed += 1;
        }
    }
    assert_eq!(removed, 1, "the extraction cache file");
    assert_eq!(lines(digest_urls(&server, &args)), local);
    assert_eq!(
        server.gets(),
        gets,
        "a run on a warm block cache fetched data"
    );
}

#[test]
fn a_server_that_keeps_failing_is_a_clear_error() {
    let server = RangeServer::start(&examples_peaks());
    let dir = tempfile::tempdir().unwrap();
    server.fail_next(1000, Fault::Status500);
    let out = digest_urls(&server, &["--cache-dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&server.url("")) && err.contains("500"),
        "{err}"
    );
}

#[test]
fn a_url_the_server_does_not_have_is_named() {
    let server = RangeServer::start(&examples_peaks());
    let out = biobatch(&[
        "peaks",
        "check",
        "--example",
        "--no-cache",
        "--peaks",
        &server.url("missing.narrowPeak"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("missing.narrowPeak") && err.contains("not found"),
        "{err}"
    );
}
