//! The command line on datasets: peaks, cells and BPNet training, run as a user would.

use crate::common;

use common::*;

#[test]
fn peaks_digest_is_the_same_for_any_worker_count_and_resumes() {
    let run = |extra: &[&str]| {
        let mut args = vec![
            "peaks",
            "digest",
            "--example",
            "--batches",
            "6",
            "--epochs",
            "2",
        ];
        args.extend_from_slice(extra);
        lines(biobatch(&args))
    };
    let inline = run(&["--workers", "0"]);
    assert_eq!(inline.len(), 6);
    assert_eq!(run(&["--workers", "3"]), inline);
    // Resume after the second line: the rest of the same lines.
    let cursor = inline[1].split('\t').nth(3).unwrap().to_string();
    let rest = lines(biobatch(&[
        "peaks",
        "digest",
        "--example",
        "--batches",
        "4",
        "--epochs",
        "2",
        "--resume",
        &cursor,
    ]));
    assert_eq!(rest, inline[2..]);
    // Another seed gives other batches.
    assert_ne!(run(&["--seed", "2"])[0], inline[0]);
}

#[test]
fn peaks_check_and_bench_report_counts_as_json() {
    let check = lines(biobatch(&["peaks", "check", "--example"]));
    let v: serde_json::Value = serde_json::from_str(&check[0]).unwrap();
    let kept = v["peaks_kept"].as_u64().unwrap();
    assert!(kept > 200 && kept <= 300, "{v}");
    let dropped = &v["peaks_dropped"];
    let total_dropped: u64 = [
        "off_chromosome",
        "chrom_filter",
        "excluded",
        "count_filter",
        "outlier",
        "missing_chromosome",
    ]
    .iter()
    .map(|k| dropped[k].as_u64().unwrap())
    .sum();
    assert_eq!(
        kept + total_dropped,
        300,
        "every peak is kept or dropped for a reason"
    );

    let bench = lines(biobatch(&["peaks", "bench", "--example", "--batches", "3"]));
    let b: serde_json::Value = serde_json::from_str(&bench[0]).unwrap();
    assert_eq!(b["batches"], 3);
    assert_eq!(b["examples"], 3 * 64);
    assert!(b["examples_per_s"].as_f64().unwrap() > 0.0);

    let err = biobatch(&["peaks", "check"]);
    assert_eq!(err.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&err.stderr).contains("give --peaks and --fasta"));
}

#[test]
fn peaks_cache_is_reused_and_gives_the_same_batches_and_strict_refuses_drops() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("c");
    let cache = cache.to_str().unwrap();
    let status = |extra: &[&str]| {
        let mut args = vec!["peaks", "check", "--example"];
        args.extend_from_slice(extra);
        let out = lines(biobatch(&args));
        let v: serde_json::Value = serde_json::from_str(&out[0]).unwrap();
        v["cache"]
            .as_str()
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(status(&["--cache-dir", cache]), "built");
    assert_eq!(status(&["--cache-dir", cache]), "hit");
    assert_eq!(status(&["--no-cache"]), "off");
    let digest = |extra: &[&str]| {
        let mut args = vec!["peaks", "digest", "--example", "--batches", "4"];
        args.extend_from_slice(extra);
        lines(biobatch(&args))
    };
    assert_eq!(digest(&["--cache-dir", cache]), digest(&["--no-cache"]));

    // The example drops peaks (exclusion list, outliers): --strict makes that an error
    // naming the first dropped record.
    let out = biobatch(&["peaks", "check", "--example", "--strict", "--no-cache"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("strict:") && err.contains("(excluded)") && err.contains("peaks.narrowPeak:"),
        "{err}"
    );
    let out = biobatch(&[
        "peaks",
        "check",
        "--example",
        "--strict",
        "--cache-dir",
        cache,
    ]);
    assert_eq!(out.status.code(), Some(1), "a cache hit is as strict");
}

#[test]
fn cells_import_info_digest_and_bench() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("pbmc");
    let store_s = store.to_str().unwrap();
    let out = biobatch(&[
        "cells",
        "import",
        "--mtx",
        soma_fixture("10x_v3").to_str().unwrap(),
        "--out",
        store_s,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&lines(out)[0]).unwrap();
    assert_eq!(
        (v["n_obs"].as_u64(), v["n_vars"].as_u64()),
        (Some(1107), Some(507))
    );
    assert_eq!(v["layers"]["counts"]["nnz"], 23866);
    assert!(v["import"]["mb_per_s"].as_f64().unwrap() > 0.0);
    let info = lines(biobatch(&["cells", "info", store_s, "--full"]));
    let i: serde_json::Value = serde_json::from_str(&info[0]).unwrap();
    assert_eq!(i["verified"], "full");
    assert_eq!(i["var"][0]["name"], "var_id");

    let digest_n = |n: &str, extra: &[&str]| {
        let mut args = vec![
            "cells",
            "digest",
            store_s,
            "--batches",
            n,
            "--batch-size",
            "64",
        ];
        args.extend_from_slice(&[
            "--io-batch-size",
            "256",
            "--shuffle-chunk-size",
            "32",
            "--seed",
            "5",
        ]);
        args.extend_from_slice(extra);
        lines(biobatch(&args))
    };
    let digest = |extra: &[&str]| digest_n("6", extra);
    let inline = digest(&["--workers", "0"]);
    assert_eq!(inline.len(), 6);
    assert_eq!(digest(&["--workers", "3"]), inline, "any worker count");
    let sparse = digest(&["--sparse"]);
    assert_eq!(
        sparse
            .iter()
            .map(|l| l.split('\t').nth(3).unwrap())
            .collect::<Vec<_>>(),
        inline
            .iter()
            .map(|l| l.split('\t').nth(3).unwrap())
            .collect::<Vec<_>>(),
        "dense and sparse batches hold the same cells"
    );
    let cursor = inline[2].split('\t').nth(4).unwrap();
    assert_eq!(digest(&["--resume", cursor])[..3], inline[3..]);
    // Two ranks: disjoint cells, the same number of batches.
    let zero = biobatch(&[
        "cells",
        "digest",
        store_s,
        "--batches",
        "1",
        "--world-size",
        "0",
    ]);
    assert_eq!(zero.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&zero.stderr).contains("world_size must be at least 1"));
    let r0 = digest_n("100", &["--rank", "0", "--world-size", "2"]);
    let r1 = digest_n("100", &["--rank", "1", "--world-size", "2"]);
    assert_eq!(r0.len(), r1.len());
    assert_eq!(
        r0.len(),
        1107 / 2 / 64 + 1,
        "553 cells per rank in batches of 64"
    );
    let ids = |v: &[String]| {
        v.iter()
            .map(|l| l.split('\t').nth(3).unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert!(
        ids(&r0).iter().all(|h| !ids(&r1).contains(h)),
        "ranks hold other cells"
    );

    let bench = lines(biobatch(&[
        "cells",
        "bench",
        store_s,
        "--batch-size",
        "128",
        "--filter",
        "obs_id LIKE 'A%'",
    ]));
    let b: serde_json::Value = serde_json::from_str(&bench[0]).unwrap();
    assert!(b["cells_per_s"].as_f64().unwrap() > 0.0);
    let filtered = b["dataset"]["filtered_cells"].as_u64().unwrap();
    assert!(filtered > 0 && filtered < 1107, "{b}");
    assert_eq!(b["cells"].as_u64(), Some(filtered));

    let err = biobatch(&["cells", "bench", store_s, "--filter", "nope = 1"]);
    assert_eq!(err.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&err.stderr).contains("obs has no column `nope`"));
}

#[test]
fn train_resume_and_predict_bpnet_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m");
    let out_s = out.to_str().unwrap();
    // A tiny model and windows, so the test is quick in a debug build.
    let tiny = [
        "train",
        "bpnet",
        "--example",
        "--no-cache",
        "--out",
        out_s,
        "--in-window",
        "96",
        "--out-window",
        "48",
        "--max-jitter",
        "4",
        "--n-filters",
        "4",
        "--n-layers",
        "1",
        "--first-kernel",
        "9",
        "--profile-kernel",
        "9",
        "--epochs",
        "2",
    ];
    let mut first = tiny.to_vec();
    first.extend(["--stop-after-batches", "3"]);
    let cut = biobatch(&first);
    assert!(
        cut.status.success(),
        "{}",
        String::from_utf8_lossy(&cut.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&lines(cut)[0]).unwrap();
    assert_eq!(v["stopped"], "interrupted");
    let mut again = tiny.to_vec();
    again.push("--resume");
    let done = biobatch(&again);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let stderr = String::from_utf8_lossy(&done.stderr).to_string();
    assert!(
        stderr.contains("epoch   1") && stderr.contains("profile pearson"),
        "{stderr}"
    );
    let v: serde_json::Value = serde_json::from_str(&lines(done)[0]).unwrap();
    assert_eq!(
        (v["stopped"].as_str(), v["epochs"].as_u64()),
        (Some("epochs"), Some(2))
    );
    assert!(v["validation"]["loss"].as_f64().unwrap().is_finite());
    for f in ["model.bpk", "config.json", "history.json", "model.yaml"] {
        assert!(out.join("model").join(f).exists(), "{f}");
    }

    let model = out.join("model");
    let peaks = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/data/peaks/peaks.narrowPeak");
    let pred = dir.path().join("p.bw");
    let o = biobatch(&[
        "predict",
        "bpnet",
        "--model",
        model.to_str().unwrap(),
        "--peaks",
        peaks.to_str().unwrap(),
        "-o",
        pred.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_str(&lines(o)[0]).unwrap();
    assert!(v["loci"].as_u64().unwrap() > 200, "{v}");
    assert_eq!(
        v["files"].as_array().unwrap().len(),
        2,
        "one bigWig per strand"
    );
    for f in v["files"].as_array().unwrap() {
        biobatch::formats::bigwig::BigWig::open(f.as_str().unwrap()).unwrap();
    }
    let err = biobatch(&[
        "train",
        "bpnet",
        "--example",
        "--no-cache",
        "--out",
        out_s,
        "--validation-chroms",
        "chrZ",
    ]);
    assert_eq!(err.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&err.stderr).contains("validation chromosome `chrZ`"));

    // Mixed precision: bf16 compute, the settings say so, the weights stay f32.
    let mixed_out = dir.path().join("bf16");
    let mut mixed = tiny.to_vec();
    mixed[5] = mixed_out.to_str().unwrap();
    mixed.extend(["--precision", "bf16"]);
    let o = biobatch(&mixed);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let settings: serde_json::Value =
        serde_json::from_slice(&std::fs::read(mixed_out.join("model/config.json")).unwrap())
            .unwrap();
    assert_eq!(settings["precision"], "bf16", "{settings}");
    let mut bad = tiny.to_vec();
    bad.extend(["--precision", "f8"]);
    let err = biobatch(&bad);
    assert_eq!(err.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&err.stderr).contains("unknown precision `f8`"),
        "{}",
        String::from_utf8_lossy(&err.stderr)
    );
}
