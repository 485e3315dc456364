//! Throughput and stall accounting.

use std::time::{Duration, Instant};

use biobatch_core::Batch;

/// What a loader has delivered and how long its consumer waited.
#[derive(Debug, Clone)]
pub struct LoaderStats {
    /// Batches yielded.
    pub batches: u64,
    /// Samples yielded.
    pub samples: u64,
    /// Payload bytes yielded.
    pub bytes: u64,
    /// Time the consumer spent waiting for a batch ("stall time").
    pub wait: Duration,
    /// Time spent computing batches, summed over workers (or inline).
    pub busy: Duration,
    /// Worker threads.
    pub workers: usize,
    started: Instant,
}

impl LoaderStats {
    pub(crate) fn new(workers: usize) -> Self {
        LoaderStats {
            batches: 0,
            samples: 0,
            bytes: 0,
            wait: Duration::ZERO,
            busy: Duration::ZERO,
            workers,
            started: Instant::now(),
        }
    }

    pub(crate) fn record(&mut self, batch: &Batch) {
        self.batches += 1;
        self.samples += batch.batch_size().ok().flatten().unwrap_or(0) as u64;
        self.bytes += batch.nbytes() as u64;
    }

    /// Time since the iterator started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Share of the elapsed time the consumer waited for data (0 to 1).
    pub fn stall_fraction(&self) -> f64 {
        let e = self.elapsed().as_secs_f64();
        if e > 0.0 {
            self.wait.as_secs_f64() / e
        } else {
            0.0
        }
    }

    /// Samples per second so far.
    pub fn samples_per_s(&self) -> f64 {
        self.samples as f64 / self.elapsed().as_secs_f64().max(1e-9)
    }

    /// Bytes per second so far.
    pub fn bytes_per_s(&self) -> f64 {
        self.bytes as f64 / self.elapsed().as_secs_f64().max(1e-9)
    }

    /// One line for logs: throughput and whether the loader kept up.
    pub fn summary(&self) -> String {
        let stall = self.stall_fraction() * 100.0;
        let verdict = if stall < 5.0 {
            "loader kept up"
        } else {
            "loader was the bottleneck"
        };
        format!(
            "{verdict}: consumer waited {stall:.1}% of the time; {} batches, {:.0} samples/s, {:.1} MB/s, workers busy {:.2} s",
            self.batches,
            self.samples_per_s(),
            self.bytes_per_s() / 1e6,
            self.busy.as_secs_f64()
        )
    }
}

/// The process's peak resident memory in MiB (`VmHWM` of `/proc/self/status`), or NaN where
/// that is not available.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}
