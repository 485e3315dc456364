//! `cargo xtask bench peaks`: the BPNet peak loader on the bench dataset — opening it cold
//! (extraction from the files), cold with the cache written, warm from the cache (to the
//! first batch), and steady-state examples/s against memcpy of the same bytes, with peak RSS;
//! steady state also on the dataset as extraction built it (owned arrays, not mapped).

use std::path::{Path, PathBuf};
use std::time::Instant;

use biobatch_datasets::{LoaderSettings, PeakConfig, PeakDataset};
use biobatch_sampling::Partition;
use serde_json::{Value, json};

use crate::{Case, Timing, report, report_vs_memcpy};

/// Settings of the peaks benchmark.
#[derive(Debug, Clone)]
pub struct Options {
    /// A directory made by `cargo xtask gen-data --scale bench`.
    pub data: PathBuf,
    /// Timed runs.
    pub runs: usize,
    /// Worker threads of the steady-state case.
    pub workers: usize,
}

/// The bench configuration of the issue: in 2114, out 1000, jitter 128, ratio 0.33, RC on,
/// batch 64, u8 one-hot, one stranded signal pair and one stranded control pair.
pub fn bench_config(data: &Path, workers: usize) -> PeakConfig {
    PeakConfig {
        loader: LoaderSettings {
            batch_size: 64,
            num_workers: workers,
            ..Default::default()
        },
        peaks: vec![data.join("peaks.narrowPeak")],
        negatives: vec![data.join("negatives.bed")],
        fasta: data.join("genome.fa"),
        signals: vec![vec![
            data.join("signal.plus.bw"),
            data.join("signal.minus.bw"),
        ]],
        controls: vec![vec![
            data.join("control.plus.bw"),
            data.join("control.minus.bw"),
        ]],
        negative_ratio: 0.33,
        seed: Some(1),
        ..Default::default()
    }
}

fn open(cfg: &PeakConfig) -> Result<PeakDataset, String> {
    PeakDataset::open(cfg).map_err(|e| e.to_string())
}

/// A warm-up run and `runs` timed runs of `f`; each run's result is dropped before the next
/// starts, outside the timed region, so runs neither add up in memory nor pay for freeing.
fn timed<T>(runs: usize, mut f: impl FnMut() -> Result<T, String>) -> Result<(Timing, T), String> {
    let mut last = Some(f()?);
    let mut times = Vec::new();
    for _ in 0..runs.max(1) {
        drop(last.take());
        let t = Instant::now();
        last = Some(f()?);
        times.push(t.elapsed().as_secs_f64());
    }
    let last = last.ok_or("no run")?;
    Ok((Timing { runs: times }, last))
}

fn open_case(name: &'static str, t: &Timing, ds: &PeakDataset, extra: Value) -> Value {
    let case = Case {
        area: "peaks",
        name,
        threads: crate::all_threads(),
        items: ds.num_peaks() + ds.num_negatives(),
        unit: "loci",
        bytes: ds.store_bytes(),
    };
    let mut extra = extra;
    extra["cache"] = json!(ds.cache_status().name());
    extra["store_mb"] = json!((ds.store_bytes() as f64 / 1e6).round());
    report(&case, t, extra)
}

/// Runs the cases, handing each JSON line to `emit`.
pub fn run(opts: &Options, emit: &mut dyn FnMut(Value)) -> Result<(), String> {
    let cfg = bench_config(&opts.data, opts.workers);
    let cache_dir = opts.data.join("bench-cache");
    let clear = || {
        let _ = std::fs::remove_dir_all(&cache_dir);
    };

    // 1. Cold: everything extracted from the files (peak RSS measured after these runs,
    //    before any other case has allocated).
    let (t, ds) = timed(opts.runs, || open(&cfg))?;
    let (peaks, negatives, drops) = (ds.num_peaks(), ds.num_negatives(), ds.drops());
    let dtypes = ds.track_dtypes();
    emit(open_case(
        "peak_open_cold",
        &t,
        &ds,
        json!({
            "peaks": peaks,
            "negatives": negatives,
            "dropped_outlier": drops.outlier,
            "signal_dtypes": dtypes.0,
            "control_dtypes": dtypes.1,
            "peak_rss_mb": biobatch_loader::peak_rss_mb(),
        }),
    ));
    drop(ds);

    // 2. Cold, writing the cache file.
    let cached = PeakConfig {
        cache_dir: Some(cache_dir.clone()),
        ..cfg.clone()
    };
    let (t, ds) = timed(opts.runs, || {
        clear();
        open(&cached)
    })?;
    emit(open_case("peak_open_cold_write_cache", &t, &ds, json!({})));
    drop(ds);

    // 3. Warm: from the cache file (verified), to the first batch.
    let mut open_s = Vec::new();
    let mut status = String::new();
    let (t, loader) = timed(opts.runs, || {
        let t0 = Instant::now();
        let ds = open(&cached)?;
        open_s.push(t0.elapsed().as_secs_f64());
        status = ds.cache_status().name().to_string();
        let plan = ds.plan(Partition::single()).map_err(|e| e.to_string())?;
        let loader = biobatch_loader::Loader::new(ds, plan, loader_config(opts.workers))
            .map_err(|e| e.to_string())?;
        let first = loader.epoch(0).map_err(|e| e.to_string())?.next();
        first.ok_or("empty epoch")?.map_err(|e| e.to_string())?;
        Ok(loader)
    })?;
    let opened = Timing {
        runs: open_s[1..].to_vec(),
    };
    emit(json!({
        "area": "peaks",
        "case": "peak_open_warm_cache_to_first_batch",
        "cache": status,
        "median_s": t.median(),
        "runs_s": t.runs,
        "open_median_s": opened.median(),
        "open_runs_s": opened.runs,
    }));

    // 4. Steady state: whole epochs on the dataset restored from the cache (mapped) and on
    //    the same dataset built by extraction (owned arrays), one epoch of each in turn so a
    //    drift of the machine lands on both; the mapped one against memcpy on as many
    //    threads as workers.
    // Peak RSS of the mapped case, before a second store is built beside it.
    let peak_rss_mb = biobatch_loader::peak_rss_mb();
    let extracted = {
        let ds = open(&cfg)?;
        let plan = ds.plan(Partition::single()).map_err(|e| e.to_string())?;
        biobatch_loader::Loader::new(ds, plan, loader_config(opts.workers))
            .map_err(|e| e.to_string())?
    };
    let examples = loader.num_items() as usize;
    let (mut mapped, mut owned) = (Timing { runs: Vec::new() }, Timing { runs: Vec::new() });
    let mut bytes = 0;
    // Run 0 warms both up (the pools grow to their size) and is not counted.
    for epoch in 0..=opts.runs.max(1) as u64 {
        for (l, t) in [(&loader, &mut mapped), (&extracted, &mut owned)] {
            let t0 = Instant::now();
            bytes = epoch_bytes(l, epoch + 1)?;
            if epoch > 0 {
                t.runs.push(t0.elapsed().as_secs_f64());
            }
        }
    }
    let case = |name| Case {
        area: "peaks",
        name,
        threads: opts.workers,
        items: examples,
        unit: "examples",
        bytes,
    };
    let batch_bytes = bytes / loader.num_batches().max(1) as usize;
    emit(report_vs_memcpy(
        &case("peak_loader_epoch"),
        &mapped,
        json!({
            "batch_bytes": batch_bytes,
            "store": "mapped cache",
            "peak_rss_mb": peak_rss_mb,
        }),
        opts.runs,
    ));
    emit(report(
        &case("peak_loader_epoch_extracted"),
        &owned,
        json!({
            "batch_bytes": batch_bytes,
            "store": "extracted (owned, 2 MiB pages where the kernel allows)",
            "ratio_to_mapped": mapped.median() / owned.median(),
        }),
    ));
    clear();
    Ok(())
}

/// Runs epoch `epoch` of `loader` to its end: the bytes of its batches.
fn epoch_bytes(loader: &biobatch_loader::Loader, epoch: u64) -> Result<usize, String> {
    let mut bytes = 0;
    for b in loader.epoch(epoch).map_err(|e| e.to_string())? {
        bytes += b.map_err(|e| e.to_string())?.nbytes();
    }
    Ok(bytes)
}

fn loader_config(workers: usize) -> biobatch_loader::LoaderConfig {
    biobatch_loader::LoaderConfig {
        batch_size: 64,
        num_workers: workers,
        prefetch: 8,
        drop_last: false,
    }
}
