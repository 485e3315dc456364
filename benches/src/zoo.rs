//! `cargo xtask bench zoo`: the model zoo's hot paths on the bench genome —
//! kipoiseq-compatible `SeqIntervalDl` / `StringSeqIntervalDl` and `biobatch.IntervalDataset`
//! throughput through the loader runtime (examples/s, against `memcpy` of the same output
//! bytes), and `zoo predict` of the bundled ONNX model (examples/s end to end, with the
//! model's share).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use biobatch_loader::{Loader, LoaderConfig};
use biobatch_zoo::dataloaders::build;
use biobatch_zoo::run::{RunOptions, predict_to_file};
use biobatch_zoo::source::{bundled_zoo, resolve};
use serde_json::{Map, Value, json};

use crate::{Case, Rand, report, report_vs_memcpy, time};

/// Settings of the zoo benchmark.
#[derive(Debug, Clone)]
pub struct Options {
    /// A directory made by `cargo xtask gen-data --scale bench`.
    pub data: PathBuf,
    /// Timed runs per case.
    pub runs: usize,
    /// Intervals per run.
    pub intervals: usize,
    /// Only cases whose name contains this.
    pub only: Option<String>,
}

/// Writes `n` random intervals of 1000 bp (seed 0) on the bench genome as a BED3 file with
/// one 0/1 label column, kipoiseq's input (also used by `cargo xtask compare zoo`).
pub fn write_intervals(data: &Path, n: usize) -> Result<PathBuf, String> {
    let path = data.join(format!("zoo_intervals_{n}.bed"));
    if path.exists() {
        return Ok(path);
    }
    let fai = std::fs::read_to_string(data.join("genome.fa.fai")).map_err(|e| e.to_string())?;
    let chroms: Vec<(String, u64)> = fai
        .lines()
        .filter_map(|l| {
            let mut c = l.split('\t');
            Some((c.next()?.to_string(), c.next()?.parse().ok()?))
        })
        .collect();
    let mut r = Rand::new(0);
    let mut text = String::new();
    for _ in 0..n {
        let (name, len) = &chroms[r.below(chroms.len() as u64) as usize];
        // Far enough from the ends for any window up to 2 kb.
        let start = 2000 + r.below(len - 5000);
        text.push_str(&format!(
            "{name}\t{start}\t{}\t{}\n",
            start + 1000,
            r.below(2)
        ));
    }
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    Ok(path)
}

fn args(bed: &Path, fasta: &Path, extra: Value) -> Map<String, Value> {
    kipoi_args("intervals_file", "fasta_file", bed, fasta, extra)
}

/// The interval and genome arguments under the names a dataloader takes, plus `extra`.
fn kipoi_args(
    intervals: &str,
    genome: &str,
    bed: &Path,
    fasta: &Path,
    extra: Value,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(intervals.into(), json!(bed));
    m.insert(genome.into(), json!(fasta));
    if let Value::Object(e) = extra {
        m.extend(e);
    }
    m
}

/// Runs the cases, handing each JSON line to `emit`.
pub fn run(o: &Options, emit: &mut dyn FnMut(Value)) -> Result<(), String> {
    let bed = write_intervals(&o.data, o.intervals)?;
    let fasta = o.data.join("genome.fa");
    let cases: [(&str, &str, Value, usize); 6] = [
        (
            "seqintervaldl_f32_channels_first",
            "kipoiseq.dataloaders.SeqIntervalDl",
            json!({"auto_resize_len": 1000, "alphabet_axis": 0, "dtype": "np.float32"}),
            4 * 1000 * 4,
        ),
        (
            "seqintervaldl_defaults_f64",
            "kipoiseq.dataloaders.SeqIntervalDl",
            json!({"auto_resize_len": 1000}),
            4 * 1000 * 8,
        ),
        (
            "seqintervaldl_agct_dummy_axis",
            "kipoiseq.dataloaders.SeqIntervalDl",
            json!({"auto_resize_len": 1000, "alphabet": "AGCT", "alphabet_axis": 0, "dummy_axis": 1, "dtype": "np.float32"}),
            4 * 1000 * 4,
        ),
        (
            "stringseqintervaldl",
            "kipoiseq.dataloaders.StringSeqIntervalDl",
            json!({"auto_resize_len": 1000}),
            1000,
        ),
        // The same windows and bytes as the first case, from windows extracted at open.
        (
            "intervaldataset_f32_channels_first",
            "biobatch.IntervalDataset",
            json!({"sequence_length": 1000, "labels": "4"}),
            4 * 1000 * 4,
        ),
        // Training settings: shuffled, jittered, reverse-complemented, u8 one-hot.
        (
            "intervaldataset_u8_shuffle_jitter_rc",
            "biobatch.IntervalDataset",
            json!({"sequence_length": 1000, "labels": "4", "shuffle": true, "seed": 1,
                   "max_jitter": 64, "reverse_complement": true, "onehot_dtype": "u8"}),
            4 * 1000,
        ),
    ];
    let wanted = |name: &str| o.only.as_deref().is_none_or(|w| name.contains(w));
    for (name, dl_name, extra, bytes_per_example) in cases {
        if !wanted(name) {
            continue;
        }
        for workers in [0usize, 2] {
            let a = if dl_name.starts_with("biobatch.") {
                kipoi_args("intervals", "fasta", &bed, &fasta, extra.clone())
            } else {
                args(&bed, &fasta, extra.clone())
            };
            let t_open = std::time::Instant::now();
            let dl = build(dl_name, a).map_err(|e| e.to_string())?;
            let open_s = t_open.elapsed().as_secs_f64();
            let cfg = LoaderConfig {
                batch_size: 32,
                num_workers: workers,
                prefetch: 8,
                drop_last: false,
            };
            let loader = Loader::from_arcs(Arc::clone(&dl.dataset), Arc::clone(&dl.plan), cfg)
                .map_err(|e| e.to_string())?;
            let mut failed = None;
            let t = time(o.runs, || {
                let mut n = 0;
                match loader.epoch(0) {
                    Ok(batches) => {
                        for b in batches {
                            match b {
                                Ok(b) => n += b.batch_size().ok().flatten().unwrap_or(0),
                                Err(e) => failed = Some(e.to_string()),
                            }
                        }
                    }
                    Err(e) => failed = Some(e.to_string()),
                }
                std::hint::black_box(n);
            });
            if let Some(e) = failed {
                return Err(format!("{name}: {e}"));
            }
            let case = Case {
                area: "zoo",
                name,
                threads: workers.max(1),
                items: o.intervals,
                unit: "examples",
                bytes: o.intervals * bytes_per_example,
            };
            emit(report_vs_memcpy(
                &case,
                &t,
                json!({"workers": workers, "batch_size": 32, "window": 1000, "open_s": open_s}),
                o.runs,
            ));
        }
    }

    // `zoo predict` of the bundled ONNX model (500 bp windows), written to Parquet.
    if !wanted("predict_peak_cnn_onnx") {
        return Ok(());
    }
    let zoo = bundled_zoo().ok_or("the bundled zoo (examples/zoo) was not found")?;
    let m = resolve(&zoo, "peak-cnn").map_err(|e| e.to_string())?;
    let out = o.data.join("zoo_predict_bench.parquet");
    let mut last = None;
    let mut failed = None;
    let opts = RunOptions::with_batches(64, 2);
    let t = time(o.runs, || {
        match predict_to_file(&m, &args(&bed, &fasta, json!({})), &out, &opts, None) {
            Ok(r) => last = Some(r),
            Err(e) => failed = Some(e.to_string()),
        }
    });
    if let Some(e) = failed {
        return Err(format!("predict: {e}"));
    }
    let _ = std::fs::remove_file(&out);
    let r = last.unwrap_or_default();
    let case = Case {
        area: "zoo",
        name: "predict_peak_cnn_onnx",
        threads: 2,
        items: o.intervals,
        unit: "examples",
        bytes: 0,
    };
    emit(report(
        &case,
        &t,
        json!({"workers": 2, "batch_size": 64, "model_share": r.model_seconds / r.seconds.max(1e-9), "wait_share": r.wait_seconds / r.seconds.max(1e-9), "output": "parquet"}),
    ));
    Ok(())
}

/// The `SeqIntervalDl` argument sets `compare zoo` runs on both sides: kipoiseq's defaults
/// (float64, channels last) and float32 channels first.
pub fn seqintervaldl_cases() -> [(&'static str, Value); 2] {
    [
        ("defaults_f64", json!({"auto_resize_len": 1000})),
        (
            "f32_channels_first",
            json!({"auto_resize_len": 1000, "alphabet_axis": 0, "dtype": "np.float32"}),
        ),
    ]
}

/// Examples/s of our `SeqIntervalDl` over `bed` with kipoiseq's `args` (batches of 32 through
/// the loader with `workers` threads): the median of `epochs` epochs after a warm-up one.
pub fn seqintervaldl_rate(
    bed: &Path,
    fasta: &Path,
    extra: &Value,
    workers: usize,
    epochs: usize,
) -> Result<f64, String> {
    let dl = build(
        "kipoiseq.dataloaders.SeqIntervalDl",
        args(bed, fasta, extra.clone()),
    )
    .map_err(|e| e.to_string())?;
    let cfg = LoaderConfig {
        batch_size: 32,
        num_workers: workers,
        prefetch: 8,
        drop_last: false,
    };
    let loader = Loader::from_arcs(Arc::clone(&dl.dataset), Arc::clone(&dl.plan), cfg)
        .map_err(|e| e.to_string())?;
    let mut times = Vec::new();
    for _ in 0..=epochs.max(1) {
        let t = std::time::Instant::now();
        let mut rows = 0;
        for b in loader.epoch(0).map_err(|e| e.to_string())? {
            rows += b
                .map_err(|e| e.to_string())?
                .batch_size()
                .map_err(|e| e.to_string())?
                .unwrap_or(0);
        }
        if rows as u64 != dl.len {
            return Err(format!("{rows} examples, expected {}", dl.len));
        }
        times.push(t.elapsed().as_secs_f64());
    }
    times.remove(0);
    times.sort_by(f64::total_cmp);
    Ok(dl.len as f64 / times[times.len() / 2])
}
