//! `cargo xtask compare …`: peers run side by side with biobatch on the same files.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::{venv, venv_in};

/// pyBigWig against our reader, one 1 kb window per call.
pub fn bigwig(data: &Path, runs: usize, windows: usize) -> Result<()> {
    let python = venv(&["pyBigWig", "numpy"])?;
    // Ours first: it writes the windows file both sides read.
    let ours = crate::bench::lines(
        &[],
        &[
            "bigwig-ours",
            "--data",
            &data.display().to_string(),
            "--runs",
            &runs.to_string(),
            "--windows",
            &windows.to_string(),
        ],
    )?;
    let wfile = data.join("compare_windows_1kb.tsv");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("compare/bigwig_pybigwig.py");
    let peer = json_of(
        Command::new(python)
            .arg(script)
            .arg(data.join("signal.plus.bw"))
            .arg(&wfile)
            .arg(runs.to_string()),
        "pyBigWig",
    )?;
    println!("{peer}");
    let peer_rate = peer["windows_per_s"].as_f64().unwrap_or(f64::NAN);
    for ours in ours {
        println!("{ours}");
        let ratio = ours["windows_per_s"].as_f64().unwrap_or(0.0) / peer_rate;
        let case = format!(
            "ratio_{}_over_pybigwig",
            ours["case"].as_str().unwrap_or("?")
        );
        println!(
            "{}",
            json!({"area": "compare", "case": case, "ratio": ratio})
        );
    }
    Ok(())
}

/// Runs a command and parses the last line of its standard output as JSON.
pub(crate) fn json_of(cmd: &mut Command, what: &str) -> Result<Value> {
    let out = cmd
        .output()
        .with_context(|| format!("could not run {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or_default();
    serde_json::from_str(last).with_context(|| format!("{what} printed no JSON line: {text}"))
}

/// The release `biobatch` binary, built first (with `features`, e.g. `hdf5`).
pub(crate) fn biobatch_binary(features: &[&str]) -> Result<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let ok = Command::new(cargo)
        .args(["build", "--release", "--quiet", "-p", "biobatch"])
        .args(["--features", &features.join(",")])
        .current_dir(&root)
        .status()?
        .success();
    if !ok {
        bail!("could not build the biobatch binary");
    }
    Ok(crate::python::target_dir().join("release/biobatch"))
}

/// cherimoya's PeakGenerator against `biobatch peaks bench`, each in a process of its own,
/// on the same files and settings: examples/s, start-up and peak RSS, and the ratios.
///
/// With `python`, `biobatch.PeakGenerator` (the Python package, built in release into the
/// same virtualenv) runs through the same Python loop as cherimoya's, with 2 threads.
pub fn peaks(data: &Path, epochs: usize, python_too: bool) -> Result<()> {
    let python = if python_too {
        venv(&["cherimoya==0.3.1", "maturin>=1.16,<2"])?
    } else {
        venv(&["cherimoya==0.3.1"])?
    };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("compare/peaks_cherimoya.py");
    let ours_in_python = if python_too {
        crate::python::develop_release(&python)?;
        let v = json_of(
            Command::new(&python)
                .arg(&script)
                .arg(data)
                .arg(epochs.to_string())
                .arg("2")
                .arg("biobatch"),
            "biobatch.PeakGenerator",
        )?;
        println!("{v}");
        Some(v)
    } else {
        None
    };
    let mut peers = Vec::new();
    for workers in [0, 1] {
        let v = json_of(
            Command::new(&python)
                .arg(&script)
                .arg(data)
                .arg(epochs.to_string())
                .arg(workers.to_string()),
            "cherimoya",
        )?;
        println!("{v}");
        peers.push(v);
    }
    let bin = biobatch_binary(&[])?;
    let cache = data.join("compare-cache");
    let _ = std::fs::remove_dir_all(&cache);
    let d = |name: &str| data.join(name).display().to_string();
    let signals = format!("{},{}", d("signal.plus.bw"), d("signal.minus.bw"));
    let controls = format!("{},{}", d("control.plus.bw"), d("control.minus.bw"));
    let ours = |cache_args: &[&str]| -> Result<Value> {
        let epochs = epochs.to_string();
        let mut cmd = Command::new(&bin);
        cmd.args(["peaks", "bench", "--fasta", &d("genome.fa")])
            .args(["--peaks", &d("peaks.narrowPeak")])
            .args(["--negatives", &d("negatives.bed")])
            .args(["--signals", &signals, "--controls", &controls])
            .args([
                "--negative-ratio",
                "0.33",
                "--seed",
                "1",
                "--batch-size",
                "64",
            ])
            .args(["--workers", "2", "--epochs", &epochs])
            .args(cache_args);
        json_of(&mut cmd, "biobatch peaks bench")
    };
    let cache_s = cache.display().to_string();
    let runs = [
        ("biobatch_cold_no_cache", ours(&["--no-cache"])?),
        (
            "biobatch_cold_writing_cache",
            ours(&["--cache-dir", &cache_s])?,
        ),
        ("biobatch_warm_cache", ours(&["--cache-dir", &cache_s])?),
    ];
    let _ = std::fs::remove_dir_all(&cache);
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    let best = peers
        .iter()
        .max_by(|a, b| f(a, "examples_per_s").total_cmp(&f(b, "examples_per_s")))
        .context("no cherimoya run")?;
    for (name, v) in &runs {
        let mut v = v.clone();
        v["case"] = json!(name);
        println!("{v}");
    }
    let peer_startup = f(best, "import_s") + f(best, "construction_s");
    if let Some(v) = &ours_in_python {
        let startup = f(v, "import_s") + f(v, "construction_s");
        println!(
            "{}",
            json!({
                "area": "compare",
                "case": "biobatch_python_over_cherimoya",
                "cherimoya_num_workers": best["num_workers"],
                "examples_per_s": {"biobatch": f(v, "examples_per_s"), "cherimoya": f(best, "examples_per_s")},
                "examples_per_s_ratio": f(v, "examples_per_s") / f(best, "examples_per_s"),
                "startup_s": {"biobatch": startup, "cherimoya": peer_startup},
                "peak_rss_mb": {
                    "biobatch": f(v, "peak_rss_mb") + f(v, "peak_rss_children_mb"),
                    "cherimoya": f(best, "peak_rss_mb") + f(best, "peak_rss_children_mb"),
                },
                "first_batch": {"biobatch": v["first_batch"], "cherimoya": best["first_batch"]},
            })
        );
    }
    let peer_rss = f(best, "peak_rss_mb") + f(best, "peak_rss_children_mb");
    for (name, v) in &runs {
        println!(
            "{}",
            json!({
                "area": "compare",
                "case": format!("{name}_over_cherimoya"),
                "cherimoya_num_workers": best["num_workers"],
                "examples_per_s_ratio": f(v, "examples_per_s") / f(best, "examples_per_s"),
                "startup_s": {"biobatch": f(v, "construction_s"), "cherimoya": peer_startup},
                "startup_speedup": peer_startup / f(v, "construction_s"),
                "peak_rss_mb": {"biobatch": f(v, "peak_rss_mb"), "cherimoya": peer_rss},
                "peak_rss_ratio": f(v, "peak_rss_mb") / peer_rss,
                "kept": {
                    "biobatch": [v["counts"]["peaks_kept"], v["counts"]["negatives_kept"]],
                    "cherimoya": [best["peaks_kept"], best["negatives_kept"]],
                },
            })
        );
    }
    Ok(())
}

/// TileDB-SOMA-ML against `biobatch cells bench` on the same cells (the store converted to a
/// TileDB-SOMA experiment once), each in processes of their own.
///
/// With `python`, `biobatch.cells.ExperimentDataset` (the Python package, built in release
/// into the same virtualenv) runs through the same Python loop as TileDB-SOMA-ML's.
pub fn cells(data: &Path, epochs: usize, python_too: bool) -> Result<()> {
    let python = venv(&[
        "cherimoya==0.3.1",
        "tiledbsoma",
        "tiledbsoma-ml",
        "anndata",
        "scipy",
        "pyarrow",
        "maturin>=1.16,<2",
    ])?;
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("compare");
    let store = data.join("store");
    let soma = data.join("soma");
    let conv = json_of(
        Command::new(&python)
            .arg(here.join("cells_to_soma.py"))
            .arg(&store)
            .arg(&soma),
        "cells_to_soma.py",
    )?;
    println!("{conv}");
    let out = Command::new(&python)
        .arg(here.join("cells_tiledbsoma_ml.py"))
        .arg(&soma)
        .arg(epochs.to_string())
        .output()
        .context("could not run cells_tiledbsoma_ml.py")?;
    let peers: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    for p in &peers {
        println!("{p}");
    }
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    let best = peers
        .iter()
        .filter(|p| p["failed"] != true)
        .max_by(|a, b| f(a, "cells_per_s").total_cmp(&f(b, "cells_per_s")))
        .context("no TileDB-SOMA-ML run succeeded")?;
    if python_too {
        crate::python::develop_release(&python)?;
        let ours = json_of(
            Command::new(&python)
                .arg(here.join("cells_biobatch_python.py"))
                .arg(&store)
                .arg(epochs.max(2).to_string()),
            "cells_biobatch_python.py",
        )?;
        println!("{ours}");
        println!(
            "{}",
            json!({
                "area": "compare",
                "case": "biobatch_python_over_tiledbsoma_ml",
                "tiledbsoma_ml_num_workers": best["num_workers"],
                "cells_per_s": {"biobatch": f(&ours, "cells_per_s"), "tiledbsoma_ml": f(best, "cells_per_s")},
                "cells_per_s_ratio": f(&ours, "cells_per_s") / f(best, "cells_per_s"),
                "startup_s": {"biobatch": f(&ours, "import_s") + f(&ours, "setup_s"),
                              "tiledbsoma_ml": f(best, "import_s") + f(best, "setup_s")},
                "peak_rss_mb": {
                    "biobatch": f(&ours, "peak_rss_mb") + f(&ours, "peak_rss_children_mb"),
                    "tiledbsoma_ml": f(best, "peak_rss_mb") + f(best, "peak_rss_children_mb"),
                },
                "every_cell_once": ours["every_cell_once"],
            })
        );
    }
    let bin = biobatch_binary(&[])?;
    for sparse in [false, true] {
        let mut cmd = Command::new(&bin);
        cmd.args(["cells", "bench"])
            .arg(&store)
            .args(["--batch-size", "256", "--io-batch-size", "65536"])
            .args([
                "--shuffle-chunk-size",
                "64",
                "--seed",
                "1",
                "--workers",
                "2",
            ])
            .args(["--epochs", &epochs.max(2).to_string()]);
        if sparse {
            cmd.arg("--sparse");
        }
        let mut ours = json_of(&mut cmd, "biobatch cells bench")?;
        ours["case"] = json!(if sparse {
            "biobatch_sparse"
        } else {
            "biobatch_dense"
        });
        println!("{ours}");
        let peer_rss = f(best, "peak_rss_mb") + f(best, "peak_rss_children_mb");
        println!(
            "{}",
            json!({
                "area": "compare",
                "case": format!("{}_over_tiledbsoma_ml", ours["case"].as_str().unwrap_or("?")),
                "tiledbsoma_ml_num_workers": best["num_workers"],
                "cells_per_s_ratio": f(&ours, "cells_per_s") / f(best, "cells_per_s"),
                "first_batch_s": {"biobatch": f(&ours, "open_s") + f(&ours, "first_batch_s"),
                                  "tiledbsoma_ml": f(best, "setup_s") + f(best, "first_batch_s")},
                "peak_rss_mb": {"biobatch": f(&ours, "peak_rss_mb"), "tiledbsoma_ml": peer_rss},
                "epochs_differ": {"biobatch": true, "tiledbsoma_ml": best["same_order_epoch0_epoch1"] != true},
            })
        );
    }
    Ok(())
}

/// kipoiseq's `SeqIntervalDl` (its `batch_iter`, as `kipoi predict` drives it) against ours
/// through the loader runtime, on the same 1 kb intervals of the bench genome and the same
/// arguments: examples/s of each, and the ratio. kipoiseq runs in `.venv-kipoi` (Kipoi's
/// pins would disturb the other peers).
pub fn zoo(data: &Path, epochs: usize) -> Result<()> {
    let python = venv_in(
        ".venv-kipoi",
        &["kipoiseq==0.7.1", "kipoi==0.8.6", "six", "pybedtools"],
    )?;
    let ours = crate::bench::lines(
        &[],
        &[
            "zoo-ours",
            "--data",
            &data.display().to_string(),
            "--epochs",
            &epochs.to_string(),
        ],
    )?;
    let fasta = data.join("genome.fa");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("compare/zoo_kipoiseq.py");
    let mut peers: Vec<(String, Value)> = Vec::new();
    for o in &ours {
        let name = o["case"].as_str().unwrap_or("?").to_string();
        let theirs = match peers.iter().find(|(n, _)| *n == name) {
            Some((_, p)) => p.clone(),
            None => {
                let bed = o["bed"].as_str().context("zoo-ours printed no `bed`")?;
                let peer = json_of(
                    Command::new(&python)
                        .arg(&script)
                        .arg(bed)
                        .arg(&fasta)
                        .arg(o["args"].to_string())
                        .arg(epochs.to_string()),
                    "kipoiseq",
                )?;
                println!("{peer}");
                peers.push((name.clone(), peer.clone()));
                peer
            }
        };
        let ours_rate = o["examples_per_s"].as_f64().unwrap_or(f64::NAN);
        let theirs_rate = theirs["examples_per_s"].as_f64().unwrap_or(f64::NAN);
        println!(
            "{}",
            json!({"area": "compare", "case": format!("zoo_seqintervaldl_{name}"), "workers": o["workers"],
                   "biobatch_examples_per_s": ours_rate.round(), "kipoiseq_examples_per_s": theirs_rate.round(),
                   "ratio": ours_rate / theirs_rate})
        );
    }
    Ok(())
}

/// bpnet-lite's PyTorch BPNet training against burn's (`biobatch-bench train`, on the CPU)
/// on the same data, batch size (64), thread count, loader (ours, 2 worker threads) and
/// number of batches: examples/s of each, the share of time each step waited for data, and
/// the ratio. PyTorch gets the batches through `biobatch.PeakGenerator` (the Python package,
/// built in release into the same virtualenv), so both sides train on the same examples.
///
/// bpnet-lite and tangermeme are installed without their dependencies, then the few their
/// model, loss and imports need: the rest (MACS3, modisco, bam2bw, plotting) compile from
/// source for many minutes and play no part in a training step.
pub fn train(data: &Path, runs: usize, batches: usize) -> Result<()> {
    let python = venv(&[
        "torch",
        "numpy",
        "scipy",
        "pandas",
        "h5py",
        "tqdm",
        "numba",
        "maturin>=1.16,<2",
    ])?;
    let ok = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--no-deps"])
        .args(["bpnet-lite==1.1.0", "tangermeme==1.6.0"])
        .status()?
        .success();
    if !ok {
        bail!("pip could not install bpnet-lite 1.1.0 and tangermeme 1.6.0");
    }
    crate::python::develop_release(&python)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("compare/train_bpnet_lite.py");
    let peer = json_of(
        Command::new(&python)
            .arg(&script)
            .arg(data)
            .arg(batches.to_string())
            .arg(runs.to_string())
            .arg(threads.to_string())
            .arg("2")
            .arg("0"),
        "bpnet-lite training",
    )?;
    println!("{peer}");
    let ours = crate::bench::lines(
        &[],
        &[
            "train",
            "--data",
            &data.display().to_string(),
            "--runs",
            &runs.to_string(),
            "--batches",
            &batches.to_string(),
            "--only",
            "prefetch2",
        ],
    )?;
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    for o in ours {
        println!("{o}");
        if o["examples_per_s"].is_null() {
            continue;
        }
        println!(
            "{}",
            json!({
                "area": "compare",
                "case": format!("{}_over_bpnet_lite_pytorch_cpu", o["case"].as_str().unwrap_or("?")),
                "threads": threads,
                "batches": batches,
                "examples_per_s": {"burn": f(&o, "examples_per_s"), "pytorch": f(&peer, "examples_per_s")},
                "wait_share": {"burn": f(&o, "wait_share"), "pytorch": f(&peer, "wait_share")},
                "ratio": f(&o, "examples_per_s") / f(&peer, "examples_per_s"),
            })
        );
    }
    Ok(())
}
