//! The command line, run as a user would, against outputs of samtools and pyBigWig.

use std::path::PathBuf;
use std::process::{Command, Output};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data")
        .join(name)
}

/// Runs the binary with its default cache directory inside the test target directory.
fn biobatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_biobatch"))
        .env(
            "BIOBATCH_CACHE_DIR",
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-cache"),
        )
        .args(args)
        .output()
        .expect("the binary runs")
}

fn tsv(name: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(data(name))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

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
        "{\"chrom\":\"chrB\",\"end\":3,\"region\":\"chrB:1-3\",\"start\":0,\"values\":[null,null,null]}\n"
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

fn lines(out: Output) -> Vec<String> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

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

fn soma_fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/soma")
        .join(name)
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
}

/// `biobatch zoo` with a config file of our own (a local source holding real Kipoi specs).
fn zoo(args: &[&str], config: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_biobatch"))
        .env("BIOBATCH_ZOO_CONFIG", config)
        .env(
            "BIOBATCH_CACHE_DIR",
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-cache"),
        )
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn zoo_lists_inspects_tests_and_predicts_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("zoo.yaml");
    std::fs::write(
        &config,
        format!(
            "model_sources:\n  kipoi:\n    type: local\n    local_path: {}\n",
            data("zoo/kipoi").display()
        ),
    )
    .unwrap();
    let ls = lines(zoo(&["zoo", "ls"], &config));
    assert!(ls.contains(&"examples\tpeak-cnn".to_string()), "{ls:?}");
    assert!(
        ls.contains(&"kipoi\tCpGenie/A549_ENCSR000DDI".to_string()),
        "{ls:?}"
    );
    let only = lines(zoo(&["zoo", "ls", "--source", "kipoi"], &config));
    assert!(only.iter().all(|l| l.starts_with("kipoi\t")));

    let info = lines(zoo(&["zoo", "info", "Basset"], &config)).join("\n");
    assert!(
        info.contains("type: pytorch") && info.contains("runnable here: no"),
        "{info}"
    );
    assert!(info.contains("inputs: shape (4, 600, 1)"), "{info}");
    assert!(
        info.contains("model's default_args: alphabet_axis=0, auto_resize_len=600"),
        "{info}"
    );

    // The bundled ONNX model: its test, its example files, a prediction on them.
    let t = lines(zoo(
        &["zoo", "test", "peak-cnn", "--batch-size", "16"],
        &config,
    ));
    let v: serde_json::Value = serde_json::from_str(t.last().unwrap()).unwrap();
    assert_eq!(
        (v["examples"].as_u64(), v["compared"].as_u64()),
        (Some(40), Some(240))
    );
    let ex = dir.path().join("ex");
    let args = lines(zoo(
        &["zoo", "get-example", "peak-cnn", "-o", ex.to_str().unwrap()],
        &config,
    ));
    assert!(ex.join("intervals.bed").is_file() && ex.join("genome.fa.fai").is_file());
    let out = dir.path().join("p.parquet");
    let p = lines(zoo(
        &[
            "zoo",
            "predict",
            "peak-cnn",
            "--dataloader-args",
            &args[0],
            "-o",
            out.to_str().unwrap(),
        ],
        &config,
    ));
    let v: serde_json::Value = serde_json::from_str(&p[0]).unwrap();
    assert_eq!(v["examples"], 40);
    assert!(out.is_file());
    // A batch size of 0 is refused, not run as batches of one.
    let zero = zoo(
        &[
            "zoo",
            "predict",
            "peak-cnn",
            "--dataloader-args",
            &args[0],
            "--batch-size",
            "0",
            "-o",
            dir.path().join("z.parquet").to_str().unwrap(),
        ],
        &config,
    );
    assert_eq!(zero.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&zero.stderr).contains("batch_size must be at least 1"));
    assert!(!dir.path().join("z.parquet").exists());

    // Errors name what is wrong.
    let e = zoo(&["zoo", "predict", "Basset", "-o", "x.parquet"], &config);
    assert!(!e.status.success());
    let msg = String::from_utf8(e.stderr).unwrap();
    assert!(
        msg.contains("unsupported model type `pytorch`") && msg.contains("torch.onnx.export"),
        "{msg}"
    );
    let e = zoo(
        &[
            "zoo",
            "predict",
            "peak-cnn",
            "--dataloader-args",
            "{not json",
            "-o",
            "x.parquet",
        ],
        &config,
    );
    assert!(
        String::from_utf8(e.stderr)
            .unwrap()
            .contains("--dataloader-args is not JSON")
    );
    let e = zoo(&["zoo", "info", "NoSuchModel"], &config);
    assert!(
        String::from_utf8(e.stderr)
            .unwrap()
            .contains("no model `NoSuchModel` in the sources examples, kipoi")
    );

    // A new model folder reads back.
    let new = dir.path().join("my-model");
    assert!(
        zoo(&["zoo", "init", new.to_str().unwrap()], &config)
            .status
            .success()
    );
    let info = lines(zoo(&["zoo", "info", new.to_str().unwrap()], &config)).join("\n");
    assert!(
        info.contains("type: onnx") && info.contains("kipoiseq.dataloaders.SeqIntervalDl"),
        "{info}"
    );
    assert!(
        !zoo(&["zoo", "init", new.to_str().unwrap()], &config)
            .status
            .success(),
        "init never overwrites"
    );
    // A BPNet folder: its model and dataloader schemas fit each other.
    let bp = dir.path().join("my-bpnet");
    let init = zoo(
        &[
            "zoo",
            "init",
            bp.to_str().unwrap(),
            "--type",
            "biobatch.bpnet",
        ],
        &config,
    );
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let m = biobatch::zoo::source::resolve_dir(&bp).unwrap();
    assert_eq!(m.model.kind, "biobatch.bpnet");
    let dl = m.dataloader.as_ref().unwrap();
    assert_eq!(dl.defined_as.as_deref(), Some("biobatch.PeakDataset"));
    biobatch::zoo::run::check_schema(&m.model.schema.inputs, &dl.output_schema.inputs, "inputs")
        .unwrap();
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bp.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["model"]["n_filters"], 64);
}

#[test]
fn zoo_reports_a_broken_spec_in_a_source_not_a_missing_model() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("mine/Broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("model.yaml"), "type: onnx\nargs: [unclosed\n").unwrap();
    let config = dir.path().join("zoo.yaml");
    std::fs::write(
        &config,
        format!(
            "model_sources:\n  mine:\n    type: local\n    local_path: {}\n",
            dir.path().join("mine").display()
        ),
    )
    .unwrap();
    let e = zoo(&["zoo", "info", "Broken"], &config);
    assert!(!e.status.success());
    let msg = String::from_utf8(e.stderr).unwrap();
    assert!(
        msg.contains("source mine") && msg.contains("Broken/model.yaml"),
        "{msg}"
    );
    assert!(!msg.contains("no model"), "{msg}");
}
