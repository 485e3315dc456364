//! `cargo xtask bench train`: BPNet training speed on the bench dataset — training examples/s
//! (forward, backward, Adam) and the share of time the trainer waited for the loader, with
//! bpnet-lite's default model (64 filters, 8 layers; in 2114, out 1000, batch 64), on the CPU
//! (burn's flex) or, in a build with the `wgpu` / `vulkan` feature, on a GPU through wgpu. Each
//! case runs with the tensors built ahead on the feed thread and, as the baseline, on the
//! training thread; it reports examples/s, the share of time the step waited for data and the
//! time spent handing batches to the device.

use std::path::PathBuf;

use biobatch_bpnet::{BpnetConfig, DeviceChoice, TrainConfig, train};
use serde_json::{Value, json};

use crate::peaks::bench_config;

/// Settings of the training benchmark.
#[derive(Debug, Clone)]
pub struct Options {
    /// A directory made by `cargo xtask gen-data --scale bench`.
    pub data: PathBuf,
    /// Batches timed per run.
    pub batches: u64,
    /// Runs of each case (the figures are their medians).
    pub runs: usize,
    /// Loader worker threads.
    pub workers: usize,
    /// Where the model runs.
    pub device: DeviceChoice,
    /// Only cases whose name contains this.
    pub only: Option<String>,
}

/// Two decimals: CPU rates are tens of examples a second, and ratios of whole numbers there
/// would be off by several percent.
fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One training run of `o.batches` batches with tensors built `prefetch` batches ahead.
fn once(o: &Options, prefetch: usize) -> Result<biobatch_bpnet::History, String> {
    let out = o.data.join("bench-train");
    let _ = std::fs::remove_dir_all(&out);
    let mut peaks = bench_config(&o.data, o.workers);
    peaks.cache_dir = Some(o.data.join("bench-cache"));
    let c = TrainConfig {
        peaks,
        model: BpnetConfig::default(),
        out: out.clone(),
        validation_chroms: vec!["chr5".into()],
        epochs: 1,
        stop_after_batches: Some(o.batches),
        device: o.device,
        device_prefetch: prefetch,
        ..Default::default()
    };
    let h = train::train(&c, false, &mut ()).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&out);
    Ok(h)
}

/// Runs the cases — tensors built ahead on the feed thread (`device_prefetch` 2, the
/// default) and, as the baseline measured in the same run, on the training thread
/// (`device_prefetch` 0) — handing their JSON lines to `emit`.
pub fn run(o: &Options, emit: &mut dyn FnMut(Value)) -> Result<(), String> {
    biobatch_bpnet::tune_allocator();
    let mut rates = Vec::new();
    for prefetch in [2, 0] {
        let case = format!("bpnet_default_{}_prefetch{prefetch}", o.device);
        if o.only.as_ref().is_some_and(|w| !case.contains(w.as_str())) {
            continue;
        }
        let (mut rate, mut wait, mut transfer, mut step) = (vec![], vec![], vec![], vec![]);
        let mut examples = 0;
        for _ in 0..o.runs.max(1) {
            let h = once(o, prefetch)?;
            let total = h.step_seconds + h.wait_seconds;
            rate.push(h.examples_trained as f64 / total);
            wait.push(h.wait_seconds / total);
            transfer.push(h.transfer_seconds);
            step.push(h.step_seconds);
            examples = h.examples_trained;
        }
        let examples_per_s = median(rate.clone());
        rates.push(examples_per_s);
        emit(json!({
            "area": "train",
            "case": case,
            "device": if o.device.is_gpu() { o.device.to_string() } else { "flex (CPU)".to_string() },
            "threads": std::thread::available_parallelism().map_or(1, |n| n.get()),
            "workers": o.workers,
            "device_prefetch": prefetch,
            "batches": o.batches,
            "runs": rate.len(),
            "examples": examples,
            "examples_per_s": round2(examples_per_s),
            "runs_examples_per_s": rate.iter().map(|&r| round2(r)).collect::<Vec<_>>(),
            "wait_share": median(wait),
            "transfer_seconds": median(transfer),
            "step_seconds": median(step),
            "model": {"n_filters": 64, "n_layers": 8, "in_window": 2114, "out_window": 1000, "batch_size": 64},
        }));
    }
    if let [ahead, inline] = rates[..] {
        emit(json!({
            "area": "train",
            "case": format!("bpnet_default_{}_ahead_vs_inline", o.device),
            "ratio": ahead / inline,
        }));
    }
    Ok(())
}
