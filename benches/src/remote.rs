//! `cargo xtask bench remote`: the peak extraction and a single-cell epoch from files served
//! over HTTP on 127.0.0.1 (our range server), cold (an empty block cache each run) and warm
//! (the cache of the run before), against the same work on the local files in the same run.
//!
//! Loopback has no latency and ~GB/s of bandwidth, so "cold" here measures our side (range
//! planning, coalescing, the cache writes), not a network; a real object store adds its
//! round trips to the cold figure only.

use std::path::{Path, PathBuf};
use std::time::Instant;

use biobatch_datasets::{ExperimentDataset, PeakConfig, PeakDataset};
use biobatch_formats::remote::{self, RemoteOptions};
use biobatch_sampling::Partition;
use biobatch_tests::servers::RangeServer;
use serde_json::{Value, json};

use crate::Timing;

/// Settings of the remote benchmark.
#[derive(Debug, Clone)]
pub struct Options {
    /// The peaks bench dataset (`cargo xtask gen-data --scale bench`).
    pub data: PathBuf,
    /// The cells bench dataset (its `store`), if there is one.
    pub cells: Option<PathBuf>,
    /// Timed runs per case.
    pub runs: usize,
    /// Batches of the cells epoch (all of them when `None`).
    pub batches: Option<usize>,
}

/// Points the process's remote options at a cache folder of its own.
fn use_cache(dir: &Path) -> Result<(), String> {
    let o = RemoteOptions {
        cache_dir: dir.to_path_buf(),
        ..RemoteOptions::default()
    };
    remote::configure(o).map_err(|e| e.to_string())
}

fn median(v: &[f64]) -> f64 {
    Timing { runs: v.to_vec() }.median()
}

/// Per timed run: seconds, `GET` requests, bytes fetched.
type Runs = (Vec<f64>, Vec<u64>, Vec<u64>);

/// Runs `f` once as a warm-up, then `runs` times: (seconds, GETs, bytes) per timed run.
/// `before` runs before each run (untimed): a fresh cache for the cold case.
fn measure(
    server: &RangeServer,
    runs: usize,
    mut before: impl FnMut(usize) -> Result<(), String>,
    mut f: impl FnMut() -> Result<(), String>,
) -> Result<Runs, String> {
    before(0)?;
    f()?;
    let (mut secs, mut gets, mut bytes) = (Vec::new(), Vec::new(), Vec::new());
    for k in 1..=runs.max(1) {
        before(k)?;
        let (g, b) = (server.gets(), server.bytes_sent());
        let t = Instant::now();
        f()?;
        secs.push(t.elapsed().as_secs_f64());
        gets.push(server.gets() - g);
        bytes.push(server.bytes_sent() - b);
    }
    Ok((secs, gets, bytes))
}

fn url_config(server: &RangeServer, local: &PeakConfig, root: &Path) -> PeakConfig {
    let url = |p: &PathBuf| {
        let rel = p.strip_prefix(root).unwrap_or(p);
        PathBuf::from(server.url(&rel.to_string_lossy()))
    };
    let mut c = local.clone();
    c.peaks = local.peaks.iter().map(url).collect();
    c.negatives = local.negatives.iter().map(url).collect();
    c.fasta = url(&local.fasta);
    c.signals = local
        .signals
        .iter()
        .map(|g| g.iter().map(url).collect())
        .collect();
    c.controls = local
        .controls
        .iter()
        .map(|g| g.iter().map(url).collect())
        .collect();
    c
}

fn case(name: &str, local_s: &[f64], secs: &[f64], gets: &[u64], bytes: &[u64]) -> Value {
    let med = median(secs);
    json!({
        "area": "remote",
        "case": name,
        "median_s": med,
        "runs_s": secs,
        "local_median_s": median(local_s),
        "ratio_to_local": med / median(local_s),
        "requests_per_run": gets,
        "mb_fetched_per_run": bytes.iter().map(|b| (*b as f64 / 1e6 * 10.0).round() / 10.0).collect::<Vec<_>>(),
    })
}

/// Runs the cases, handing each JSON line to `emit`.
pub fn run(o: &Options, emit: &mut dyn FnMut(Value)) -> Result<(), String> {
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let server = RangeServer::start(&o.data);
    // Peaks: the extraction (no extraction cache), local files against URLs.
    let mut local = crate::peaks::bench_config(&o.data, 2);
    local.cache_dir = None;
    let remote_cfg = url_config(&server, &local, &o.data);
    let open = |c: &PeakConfig| PeakDataset::open(c).map(drop).map_err(|e| e.to_string());
    let (local_s, _, _) = measure(&server, o.runs, |_| Ok(()), || open(&local))?;
    let warm_dir = scratch.path().join("warm");
    let (s, g, b) = measure(
        &server,
        o.runs,
        |_| use_cache(&warm_dir),
        || open(&remote_cfg),
    )?;
    emit(case("peaks_extract_url_warm", &local_s, &s, &g, &b));
    let (s, g, b) = measure(
        &server,
        o.runs,
        |k| use_cache(&scratch.path().join(format!("cold{k}"))),
        || open(&remote_cfg),
    )?;
    emit(case("peaks_extract_url_cold", &local_s, &s, &g, &b));
    for k in 0..=o.runs {
        let _ = std::fs::remove_dir_all(scratch.path().join(format!("cold{k}")));
    }
    // Cells: one epoch (or the first batches) of dense batches, 2 workers.
    let Some(cells) = &o.cells else {
        return Ok(());
    };
    let cells_server = RangeServer::start(cells);
    let epoch = |store: PathBuf| -> Result<(), String> {
        let mut cfg = crate::cells::bench_config(
            &crate::cells::Options {
                data: cells.clone(),
                runs: 1,
                workers: 2,
                only: None,
            },
            false,
        );
        cfg.store = store;
        let ds = ExperimentDataset::open(&cfg).map_err(|e| e.to_string())?;
        let loader = ds
            .into_loader(Partition::single())
            .map_err(|e| e.to_string())?;
        let n = o.batches.unwrap_or(usize::MAX);
        for b in loader.epoch(0).map_err(|e| e.to_string())?.take(n) {
            b.map_err(|e| e.to_string())?;
        }
        Ok(())
    };
    let local_store = cells.join("store");
    let url_store = PathBuf::from(cells_server.url("store"));
    let (local_s, _, _) = measure(
        &cells_server,
        o.runs,
        |_| Ok(()),
        || epoch(local_store.clone()),
    )?;
    let warm_dir = scratch.path().join("cells-warm");
    let (s, g, b) = measure(
        &cells_server,
        o.runs,
        |_| use_cache(&warm_dir),
        || epoch(url_store.clone()),
    )?;
    emit(case("cells_epoch_url_warm", &local_s, &s, &g, &b));
    let (s, g, b) = measure(
        &cells_server,
        o.runs,
        |k| {
            let _ = std::fs::remove_dir_all(
                scratch
                    .path()
                    .join(format!("cells-cold{}", k.wrapping_sub(1))),
            );
            use_cache(&scratch.path().join(format!("cells-cold{k}")))
        },
        || epoch(url_store.clone()),
    )?;
    emit(case("cells_epoch_url_cold", &local_s, &s, &g, &b));
    Ok(())
}
