//! `cargo xtask bench sampling`: plan construction, iteration and cursor restore.

use biobatch_sampling::{
    Augment, Cursor, Mixture, MixtureConfig, Order, Plan, Sampler, SamplerConfig,
};
use serde_json::{Value, json};

use crate::{Case, report, time};

/// Settings of the sampling benchmark.
#[derive(Debug, Clone)]
pub struct Options {
    /// Timed runs per case.
    pub runs: usize,
    /// Only 10M indices (skip 100M).
    pub quick: bool,
}

fn per_index(v: &mut Value, n: u64) {
    let med = v["median_s"].as_f64().unwrap_or(f64::NAN);
    v["ns_per_index"] = json!((med * 1e9 / n as f64 * 100.0).round() / 100.0);
}

/// Runs every case, handing each JSON line to `emit`.
pub fn run(opts: &Options, emit: &mut dyn FnMut(Value)) -> Result<(), String> {
    let sizes: &[u64] = if opts.quick {
        &[10_000_000]
    } else {
        &[10_000_000, 100_000_000]
    };
    let e = |r: biobatch_sampling::Result<Sampler>| r.map_err(|e| e.to_string());
    for &n in sizes {
        let case = |name: &'static str| Case {
            area: "sampling",
            name,
            threads: 1,
            items: n as usize,
            unit: "indices",
            bytes: 0,
        };
        let shuffle = e(Sampler::new(
            n,
            SamplerConfig {
                seed: Some(1),
                order: Order::Shuffle,
                ..Default::default()
            },
        ))?;

        // Baseline in the same run: a plain Fisher–Yates over a u32 vector.
        let t = time(opts.runs, || {
            let mut v: Vec<u32> = (0..n as u32).collect();
            let mut r = biobatch_sampling::rng::rng(9, 0, 0, 0);
            for i in (1..v.len()).rev() {
                let j = biobatch_sampling::rng::below(&mut r, i as u64 + 1) as usize;
                v.swap(i, j);
            }
            std::hint::black_box(&v);
        });
        let baseline = t.median();
        let mut v = report(&case("fisher_yates_baseline"), &t, json!({ "n": n }));
        per_index(&mut v, n);
        emit(v);

        let mut epoch = 0;
        let t = time(opts.runs, || {
            epoch += 1;
            std::hint::black_box(shuffle.epoch(epoch).expect("epoch"));
        });
        let mut v = report(
            &case("full_shuffle_epoch_build"),
            &t,
            json!({ "n": n, "speedup_vs_fisher_yates": baseline / t.median() }),
        );
        per_index(&mut v, n);
        emit(v);

        let ep = shuffle.epoch(0).map_err(|e| e.to_string())?;
        let t = time(opts.runs, || {
            let mut acc = 0u64;
            for p in 0..ep.len() {
                acc = acc.wrapping_add(ep.get(p).index);
            }
            std::hint::black_box(acc);
        });
        let mut v = report(&case("full_shuffle_iterate"), &t, json!({ "n": n }));
        per_index(&mut v, n);
        emit(v);

        let augmented = e(Sampler::new(
            n,
            SamplerConfig {
                seed: Some(1),
                order: Order::Shuffle,
                augment: Augment {
                    max_jitter: 128,
                    reverse_complement: true,
                },
                ..Default::default()
            },
        ))?;
        let ep = augmented.epoch(0).map_err(|e| e.to_string())?;
        let t = time(opts.runs, || {
            let mut acc = 0u64;
            for p in 0..ep.len() {
                let s = ep.get(p);
                acc = acc.wrapping_add(s.index + s.jitter as u64 + s.reverse_complement as u64);
            }
            std::hint::black_box(acc);
        });
        let mut v = report(
            &case("full_shuffle_iterate_jitter_rc"),
            &t,
            json!({ "n": n }),
        );
        per_index(&mut v, n);
        emit(v);

        let chunked = e(Sampler::new(
            n,
            SamplerConfig {
                seed: Some(1),
                order: Order::Chunked {
                    shuffle_chunk_size: 64,
                    io_batch_size: 65_536,
                },
                ..Default::default()
            },
        ))?;
        let mut epoch = 0;
        let t = time(opts.runs, || {
            epoch += 1;
            std::hint::black_box(chunked.epoch(epoch).expect("epoch"));
        });
        let mut v = report(
            &case("chunked_shuffle_epoch_build"),
            &t,
            json!({ "n": n, "shuffle_chunk_size": 64, "io_batch_size": 65_536 }),
        );
        per_index(&mut v, n);
        emit(v);

        // Cursor restore: checking the cursor is O(1); the epoch it lands in is built once,
        // at the same cost wherever the cursor points.
        for (label, position) in [("start", 0), ("middle", n / 2), ("last", n - 1)] {
            let cursor: Cursor = shuffle.cursor(5, position);
            let text = cursor.to_string();
            let t = time(opts.runs, || {
                let c: Cursor = text.parse().expect("cursor");
                let (e, p) = shuffle.resume(&c).expect("resume");
                std::hint::black_box((e, p));
            });
            let check_ns = t.median() * 1e9;
            let t = time(opts.runs.min(3), || {
                let c: Cursor = text.parse().expect("cursor");
                let (e, p) = shuffle.resume(&c).expect("resume");
                let ep = shuffle.epoch(e).expect("epoch");
                std::hint::black_box(ep.get(p));
            });
            let name: &'static str = match label {
                "start" => "cursor_restore_at_start",
                "middle" => "cursor_restore_at_middle",
                _ => "cursor_restore_at_last",
            };
            emit(report(
                &case(name),
                &t,
                json!({ "n": n, "position": position, "parse_and_check_ns": check_ns }),
            ));
        }
    }

    // The peak/negative mixture at BPNet scale.
    let m = Mixture::new(
        30_000,
        30_000,
        MixtureConfig {
            seed: Some(1),
            negative_ratio: 0.33,
            shuffle: true,
            augment: Augment {
                max_jitter: 128,
                reverse_complement: true,
            },
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let mut epoch = 0;
    let t = time(opts.runs, || {
        epoch += 1;
        let ep = m.epoch(epoch).expect("epoch");
        let mut acc = 0u64;
        for p in 0..ep.len() {
            acc = acc.wrapping_add(ep.get(p).index);
        }
        std::hint::black_box(acc);
    });
    let n = m.epoch_len();
    let mut v = report(
        &Case {
            area: "sampling",
            name: "mixture_epoch_build_and_iterate",
            threads: 1,
            items: n as usize,
            unit: "samples",
            bytes: 0,
        },
        &t,
        json!({ "peaks": 30_000, "negative_ratio": 0.33 }),
    );
    per_index(&mut v, n);
    emit(v);
    Ok(())
}
