//! `cargo xtask bench train`: BPNet training speed on the bench dataset — training examples/s
//! (forward, backward, Adam) and the share of time the trainer waited for the loader, with
//! bpnet-lite's default model (64 filters, 8 layers; in 2114, out 1000, batch 64), on the CPU
//! (burn's flex) or, in a build with the `wgpu` feature, on a GPU through wgpu.

use std::path::PathBuf;

use biobatch_bpnet::{BpnetConfig, DeviceChoice, TrainConfig, train};
use serde_json::{Value, json};

use crate::peaks::bench_config;

/// Settings of the training benchmark.
#[derive(Debug, Clone)]
pub struct Options {
    /// A directory made by `cargo xtask gen-data --scale bench`.
    pub data: PathBuf,
    /// Batches timed (after the loader's first batch).
    pub batches: u64,
    /// Loader worker threads.
    pub workers: usize,
    /// Where the model runs.
    pub device: DeviceChoice,
}

/// Runs the case, handing its JSON line to `emit`.
pub fn run(o: &Options, emit: &mut dyn FnMut(Value)) -> Result<(), String> {
    biobatch_bpnet::tune_allocator();
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
        ..Default::default()
    };
    let h = train::train(&c, false, &mut ()).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&out);
    let total = h.step_seconds + h.wait_seconds;
    emit(json!({
        "area": "train",
        "case": format!("bpnet_default_{}", o.device),
        "device": if o.device.is_gpu() { o.device.to_string() } else { "flex (CPU)".to_string() },
        "threads": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "workers": o.workers,
        "batches": o.batches,
        "examples": h.examples_trained,
        "examples_per_s": (h.examples_trained as f64 / total).round(),
        "step_seconds": h.step_seconds,
        "wait_seconds": h.wait_seconds,
        "wait_share": h.wait_seconds / total,
        "model": {"n_filters": 64, "n_layers": 8, "in_window": 2114, "out_window": 1000, "batch_size": 64},
    }));
    Ok(())
}
