//! End-to-end benchmarks of biobatch, run by `cargo xtask bench <area>`.
//!
//! Every case prints one JSON line: the median of several timed runs (after a warm-up run),
//! the individual runs, throughput figures, and a baseline measured in the same process
//! (e.g. `memcpy` of the same number of output bytes) with the ratio to it. Benchmarks never
//! run in CI; their numbers live in `docs/benchmarks.md` with the command that made them.

#[cfg(feature = "suite")]
pub mod cells;
#[cfg(feature = "suite")]
pub mod formats;
#[cfg(feature = "suite")]
pub mod loader;
#[cfg(feature = "suite")]
pub mod peaks;
#[cfg(feature = "suite")]
pub mod remote;
#[cfg(feature = "suite")]
pub mod sampling;
#[cfg(feature = "suite")]
pub mod train;
#[cfg(feature = "suite")]
pub mod zoo;

use std::time::Instant;

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde_json::{Value, json};

/// A small deterministic random source for data generation and window sampling.
pub struct Rand(Xoshiro256PlusPlus);

impl Rand {
    /// Seeded from one `u64`.
    pub fn new(seed: u64) -> Self {
        Rand(Xoshiro256PlusPlus::seed_from_u64(seed))
    }

    /// A uniform `u64`.
    pub fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform on `[0, n)` (multiply-shift; the bias is below 2^-40 for the sizes used here).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.0.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform on `[0, 1)`.
    pub fn f64(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        self.0.fill_bytes(buf);
    }
}

/// Timings of one case: a warm-up run, then `runs` timed runs.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Seconds of each timed run.
    pub runs: Vec<f64>,
}

impl Timing {
    /// The median run time in seconds.
    pub fn median(&self) -> f64 {
        let mut v = self.runs.clone();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    }
}

/// Runs `f` once to warm up, then `runs` times, timing each.
pub fn time(runs: usize, mut f: impl FnMut()) -> Timing {
    f();
    let runs = (0..runs.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    Timing { runs }
}

pub use biobatch_loader::measure::memcpy_bytes_per_s;

/// What a benchmark case did: `items` of `unit` (e.g. windows) and `bytes` of output.
#[derive(Debug, Clone)]
pub struct Case<'a> {
    /// Benchmark area (`formats`, …).
    pub area: &'a str,
    /// Case name.
    pub name: &'a str,
    /// Threads used.
    pub threads: usize,
    /// Items processed per run.
    pub items: usize,
    /// What an item is (`windows`, `lines`).
    pub unit: &'a str,
    /// Bytes produced (or read) per run.
    pub bytes: usize,
}

/// One JSON result line for a case, with `extra` fields merged in.
pub fn report(case: &Case<'_>, t: &Timing, extra: Value) -> Value {
    let med = t.median();
    let mut v = json!({
        "area": case.area,
        "case": case.name,
        "threads": case.threads,
        "items": case.items,
        format!("{}_per_s", case.unit): (case.items as f64 / med).round(),
        "mb_per_s": (case.bytes as f64 / med / 1e6 * 10.0).round() / 10.0,
        "median_s": med,
        "runs_s": t.runs,
    });
    if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
        m.extend(e);
    }
    v
}

/// [`report`] plus the `memcpy` baseline for the case's output bytes on its threads, measured
/// now: `memcpy_mb_per_s` and `ratio_to_memcpy` (the case's bytes/s over memcpy's).
pub fn report_vs_memcpy(case: &Case<'_>, t: &Timing, mut extra: Value, runs: usize) -> Value {
    let mem = memcpy_bytes_per_s(case.bytes, case.threads, runs);
    extra["memcpy_mb_per_s"] = json!((mem / 1e6).round());
    extra["ratio_to_memcpy"] = json!(case.bytes as f64 / t.median() / mem);
    report(case, t, extra)
}

/// The number of threads "all threads" means on this machine.
pub fn all_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
