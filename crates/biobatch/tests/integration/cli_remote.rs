//! The command line on inputs at URLs (feature `remote`), served by a real HTTP server on
//! 127.0.0.1: the same batches as from the local files, and a second run that makes no data
//! request.
#![cfg(feature = "remote")]

use crate::common;

use biobatch_tests::servers::{Fault, MotoServer, RangeServer};
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

/// `biobatch` with the environment that points object_store at moto, and a cache of its own.
fn biobatch_s3(
    moto: &MotoServer,
    cache: &std::path::Path,
    args: &[&str],
    rank: Option<(u64, u64)>,
) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_biobatch"));
    c.env("BIOBATCH_CACHE_DIR", cache);
    for (k, v) in moto.store_options() {
        c.env(k.to_ascii_uppercase(), v);
    }
    if let Some((r, w)) = rank {
        c.env("RANK", r.to_string())
            .env("WORLD_SIZE", w.to_string());
    }
    c.args(args).output().expect("the binary runs")
}

/// The 10x fixture imported into a local store.
fn local_store(dir: &std::path::Path) -> PathBuf {
    let store = dir.join("pbmc");
    let out = biobatch(&[
        "cells",
        "import",
        "--mtx",
        soma_fixture("10x_v3").to_str().unwrap(),
        "--out",
        store.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    store
}

const DIGEST: [&str; 8] = [
    "--batch-size",
    "64",
    "--io-batch-size",
    "256",
    "--shuffle-chunk-size",
    "32",
    "--seed",
    "5",
];

#[test]
fn a_store_over_http_gives_the_local_batches_and_a_warm_cache_makes_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let store = local_store(dir.path());
    let server = RangeServer::start(dir.path());
    let url = server.url("pbmc");
    let digest_with = |store: &str, cache: &str, extra: &[&str]| {
        let mut args = vec![
            "--cache-limit",
            "1G",
            "cells",
            "digest",
            store,
            "--batches",
            "8",
        ];
        args.extend(DIGEST);
        args.extend_from_slice(extra);
        let mut c = Command::new(env!("CARGO_BIN_EXE_biobatch"));
        c.env("BIOBATCH_CACHE_DIR", cache).args(&args);
        lines(c.output().unwrap())
    };
    let digest = |store: &str, cache: &str| digest_with(store, cache, &[]);
    let cache = dir.path().join("cache");
    let cache = cache.to_str().unwrap();
    let local = digest(store.to_str().unwrap(), cache);
    assert_eq!(local.len(), 8);
    assert_eq!(digest(&url, cache), local);
    // Sparse batches too (another cache: the gather reads the rows from the server).
    let sparse_cache = dir.path().join("cache-sparse");
    let sparse_cache = sparse_cache.to_str().unwrap();
    assert_eq!(
        digest_with(&url, sparse_cache, &["--sparse"]),
        digest_with(store.to_str().unwrap(), sparse_cache, &["--sparse"])
    );
    let gets = server.gets();
    assert!(gets > 0);
    assert_eq!(digest(&url, cache), local);
    assert_eq!(server.gets(), gets, "the second run fetched data");
    // `cells info` on the URL reads the same shape.
    let info = lines(biobatch(&["cells", "info", &url]));
    let v: serde_json::Value = serde_json::from_str(&info[0]).unwrap();
    assert_eq!(
        (v["n_obs"].as_u64(), v["n_vars"].as_u64()),
        (Some(1107), Some(507))
    );
    assert_eq!(v["layers"]["counts"]["nnz"], 23866);
}

#[test]
fn ranks_against_one_s3_store_share_the_epoch_exactly_and_any_cursor_resumes_them() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    moto.create_bucket("cells");
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = "s3://cells/atlas/pbmc";
    // Import straight to the URL: built locally, uploaded, manifest last.
    let out = biobatch_s3(
        &moto,
        &cache,
        &[
            "cells",
            "import",
            "--mtx",
            soma_fixture("10x_v3").to_str().unwrap(),
            "--out",
            url,
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&lines(out)[0]).unwrap();
    assert_eq!(v["n_obs"].as_u64(), Some(1107));

    // Three ranks at once, as torchrun or srun start them (RANK / WORLD_SIZE), each with its
    // own cache directory, as on three machines.
    let world = 3u64;
    let rank_run = |r: u64, extra: &[&str]| {
        let cache = dir.path().join(format!("rank{r}"));
        let mut args = vec!["cells", "digest", url, "--batches", "1000", "--ids"];
        args.extend(DIGEST);
        args.extend_from_slice(extra);
        lines(biobatch_s3(&moto, &cache, &args, Some((r, world))))
    };
    let outs: Vec<Vec<String>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..world)
            .map(|r| s.spawn(move || rank_run(r, &[])))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ids = |v: &[String]| -> Vec<u64> {
        v.iter()
            .flat_map(|l| {
                l.split('\t')
                    .nth(5)
                    .unwrap()
                    .split(',')
                    .map(|x| x.parse::<u64>().unwrap())
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let per_rank: Vec<Vec<u64>> = outs.iter().map(|o| ids(o)).collect();
    // Equal shares (the epoch is cut to a multiple of the world size), disjoint, and
    // together every cell but the remainder.
    let share = 1107 / world as usize;
    assert!(
        per_rank.iter().all(|v| v.len() == share),
        "{:?}",
        per_rank.iter().map(Vec::len).collect::<Vec<_>>()
    );
    let mut all: Vec<u64> = per_rank.concat();
    all.sort_unstable();
    let n = all.len();
    all.dedup();
    assert_eq!(all.len(), n, "a cell went to two ranks");
    assert_eq!(n, share * world as usize);
    assert!(all.iter().all(|&c| c < 1107));
    // The same as one process on the local store: the batches do not depend on where the
    // store is.
    let local = local_store(dir.path());
    let mut args = vec![
        "cells",
        "digest",
        local.to_str().unwrap(),
        "--batches",
        "1000",
        "--ids",
        "--rank",
        "1",
        "--world-size",
        "3",
    ];
    args.extend(DIGEST);
    assert_eq!(lines(biobatch(&args)), outs[1]);
    // A cursor printed by rank 0 resumes every rank at the same point of its share.
    let k = 2;
    let cursor = outs[0][k].split('\t').nth(4).unwrap().to_string();
    for r in 0..world {
        let resumed = rank_run(r, &["--resume", &cursor]);
        assert_eq!(resumed[..], outs[r as usize][k + 1..], "rank {r}");
    }
}

#[test]
fn a_store_whose_upload_stopped_before_the_manifest_does_not_open() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    moto.create_bucket("half");
    let dir = tempfile::tempdir().unwrap();
    let store = local_store(dir.path());
    let cache = dir.path().join("cache");
    // Every file but the manifest: what an upload killed before its last step leaves.
    let mut opts = biobatch::formats::remote::RemoteOptions {
        cache_dir: cache.clone(),
        ..Default::default()
    };
    opts.store_options = moto.store_options();
    for f in [
        "obs.parquet",
        "var.parquet",
        "X/counts/indptr.npy",
        "X/counts/indices.npy",
        "X/counts/values.npy",
    ] {
        biobatch::formats::remote::upload(&store.join(f), &format!("s3://half/pbmc/{f}"), &opts)
            .unwrap();
    }
    let out = biobatch_s3(&moto, &cache, &["cells", "info", "s3://half/pbmc"], None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("s3://half/pbmc/manifest.json") && err.contains("not found"),
        "{err}"
    );
}
