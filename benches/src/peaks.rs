//! `cargo xtask bench peaks`: the BPNet peak loader on the bench dataset (first step: open
//! time, first batch, steady-state examples/s against memcpy of the same bytes, peak RSS).

use std::path::PathBuf;
use std::time::Instant;

use biobatch_datasets::{PeakConfig, PeakDataset};
use biobatch_loader::{Loader, LoaderConfig};
use biobatch_sampling::Partition;
use serde_json::{Value, json};

use crate::{Case, report_vs_memcpy, time};

/// Settings of the peaks benchmark.
#[derive(Debug, Clone)]
pub struct Options {
    /// A directory made by `cargo xtask gen-data --scale bench`.
    pub data: PathBuf,
    /// Timed runs.
    pub runs: usize,
    /// Worker threads.
    pub workers: usize,
}

/// The bench configuration of the issue: in 2114, out 1000, jitter 128, ratio 0.33, RC on,
/// batch 64, u8 one-hot, one stranded signal pair and one stranded control pair.
pub fn bench_config(data: &std::path::Path, workers: usize) -> PeakConfig {
    PeakConfig {
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
        batch_size: 64,
        num_workers: workers,
        ..Default::default()
    }
}

/// Runs the case, handing its JSON line to `emit`.
pub fn run(opts: &Options, emit: &mut dyn FnMut(Value)) -> Result<(), String> {
    let cfg = bench_config(&opts.data, opts.workers);
    let t0 = Instant::now();
    let ds = PeakDataset::open(&cfg).map_err(|e| e.to_string())?;
    let construction_s = t0.elapsed().as_secs_f64();
    let (peaks, negatives, drops) = (ds.num_peaks(), ds.num_negatives(), ds.drops());
    let plan = ds.plan(Partition::single()).map_err(|e| e.to_string())?;
    let loader = Loader::new(
        ds,
        plan,
        LoaderConfig {
            batch_size: 64,
            num_workers: opts.workers,
            prefetch: 8,
            drop_last: false,
        },
    )
    .map_err(|e| e.to_string())?;
    let t1 = Instant::now();
    let first = loader
        .epoch(0)
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("empty epoch")?
        .map_err(|e| e.to_string())?;
    let first_batch_s = t1.elapsed().as_secs_f64();
    let batch_bytes = first.nbytes();
    drop(first);
    let examples = loader.num_items() as usize;
    let mut epoch = 0;
    let mut bytes = 0usize;
    let t = time(opts.runs, || {
        epoch += 1;
        bytes = 0;
        for b in loader.epoch(epoch).expect("epoch") {
            bytes += b.expect("batch").nbytes();
        }
    });
    let case = Case {
        area: "peaks",
        name: "peak_loader_epoch",
        threads: opts.workers,
        items: examples,
        unit: "examples",
        bytes,
    };
    emit(report_vs_memcpy(
        &case,
        &t,
        json!({
            "construction_s": construction_s,
            "first_batch_s": first_batch_s,
            "batch_bytes": batch_bytes,
            "peaks": peaks,
            "negatives": negatives,
            "dropped_off_chromosome": drops.off_chromosome,
            "peak_rss_mb": biobatch_loader::peak_rss_mb(),
        }),
        opts.runs,
    ));
    Ok(())
}
