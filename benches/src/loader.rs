//! `cargo xtask bench loader`: runtime overhead per batch, and throughput of a memory-bound
//! dataset against a plain loop and memcpy measured in the same run.

use biobatch_core::{Array, Batch, DType, Node};
use biobatch_loader::{BatchDataset, BoxError, Loader, LoaderConfig, Preloaded};
use biobatch_sampling::{EpochPlan, Order, Plan, Sample, Sampler, SamplerConfig, batch_positions};
use serde_json::{Value, json};

use crate::{Case, Rand, report, report_vs_memcpy, time};

/// Settings of the loader benchmark.
#[derive(Debug, Clone)]
pub struct Options {
    /// Timed runs per case.
    pub runs: usize,
    /// Smaller sizes.
    pub quick: bool,
}

/// A dataset whose fill does nothing: what is left is the runtime's own cost.
struct Noop {
    row_bytes: usize,
}

impl BatchDataset for Noop {
    fn new_buffer(&self, n: usize) -> Result<Batch, BoxError> {
        Ok(Batch::new(Array::zeros(DType::U8, vec![n, self.row_bytes])))
    }

    fn fill(&self, _samples: &[Sample], _out: &mut Batch) -> Result<(), BoxError> {
        Ok(())
    }
}

fn plan(n: u64) -> Result<Sampler, String> {
    Sampler::new(
        n,
        SamplerConfig {
            seed: Some(1),
            order: Order::Shuffle,
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())
}

/// Runs every case, handing each JSON line to `emit`.
pub fn run(opts: &Options, emit: &mut dyn FnMut(Value)) -> Result<(), String> {
    let e = |x: biobatch_loader::Error| x.to_string();

    // (1) Overhead per batch: a no-op dataset, small and large buffers.
    let batches = if opts.quick { 20_000 } else { 200_000 };
    for row_bytes in [16usize, 16_384] {
        for workers in [0usize, 1, 2] {
            let batch_size = 64;
            let loader = Loader::new(
                Noop { row_bytes },
                plan((batches * batch_size) as u64)?,
                LoaderConfig {
                    batch_size,
                    num_workers: workers,
                    prefetch: 8,
                    drop_last: false,
                },
            )
            .map_err(e)?;
            let t = time(opts.runs, || {
                let mut n = 0u64;
                for b in loader.epoch(0).expect("epoch") {
                    n += b.expect("batch").index();
                }
                std::hint::black_box(n);
            });
            let mut v = report(
                &Case {
                    area: "loader",
                    name: "overhead_noop_dataset",
                    threads: workers,
                    items: batches,
                    unit: "batches",
                    bytes: 0,
                },
                &t,
                json!({ "batch_size": batch_size, "batch_bytes": batch_size * row_bytes }),
            );
            v["us_per_batch"] =
                json!((t.median() * 1e6 / batches as f64 * 1000.0).round() / 1000.0);
            emit(v);
        }
    }

    // (2) A memory-bound batch dataset: rows of 16 KiB gathered at random.
    let rows = if opts.quick { 4_096 } else { 16_384 };
    let width = 4_096; // f32 per row
    let mut rng = Rand::new(3);
    let x: Vec<f32> = (0..rows * width)
        .map(|_| (rng.u64() >> 40) as f32)
        .collect();
    let data = Preloaded::new(Batch::new(Node::from_iter([(
        "x",
        Array::new(vec![rows, width], x).map_err(|e| e.to_string())?,
    )])))
    .map_err(e)?;
    let batch_size = 64;
    let epochs = if opts.quick { 2 } else { 4 };
    let n_batches = rows.div_ceil(batch_size) * epochs;
    let bytes = rows * epochs * width * 4;
    let sampler = plan(rows as u64)?;

    // Plain single-threaded loop: the same fills, no runtime.
    let plans: Vec<std::sync::Arc<dyn EpochPlan>> = (0..epochs as u64)
        .map(|ep| sampler.epoch_plan(ep))
        .collect::<Result<_, _>>()
        .map_err(|x| x.to_string())?;
    let mut buf = data.new_buffer(batch_size).map_err(|x| x.to_string())?;
    let mut samples = Vec::with_capacity(batch_size);
    let plain = time(opts.runs, || {
        for p in &plans {
            for b in 0..rows.div_ceil(batch_size) as u64 {
                samples.clear();
                samples.extend(
                    batch_positions(b, batch_size as u64, p.positions()).map(|q| p.sample(q)),
                );
                buf.set_rows(samples.len()).expect("rows");
                data.fill(&samples, &mut buf).expect("fill");
                std::hint::black_box(&buf);
            }
        }
    });
    let plain_rate = bytes as f64 / plain.median();
    emit(report_vs_memcpy(
        &Case {
            area: "loader",
            name: "memory_bound_plain_loop",
            threads: 1,
            items: n_batches,
            unit: "batches",
            bytes,
        },
        &plain,
        json!({ "batch_size": batch_size, "row_bytes": width * 4 }),
        opts.runs,
    ));
    for workers in [1usize, 2] {
        let loader = Loader::new(
            data.clone(),
            sampler.clone(),
            LoaderConfig {
                batch_size,
                num_workers: workers,
                prefetch: 4,
                drop_last: false,
            },
        )
        .map_err(e)?;
        let t = time(opts.runs, || {
            for ep in 0..epochs as u64 {
                for b in loader.epoch(ep).expect("epoch") {
                    std::hint::black_box(&*b.expect("batch"));
                }
            }
        });
        let ratio = bytes as f64 / t.median() / plain_rate;
        emit(report_vs_memcpy(
            &Case {
                area: "loader",
                name: "memory_bound_loader",
                threads: workers,
                items: n_batches,
                unit: "batches",
                bytes,
            },
            &t,
            json!({ "batch_size": batch_size, "row_bytes": width * 4, "ratio_to_plain_loop": ratio }),
            opts.runs,
        ));
    }
    Ok(())
}
