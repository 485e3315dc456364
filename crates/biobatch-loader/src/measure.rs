//! Measuring a loader the same way everywhere (`biobatch peaks bench`, `cells bench`, the
//! benchmarks): the loader alone, timed, then the same batches again, untimed, for a digest;
//! and a memory-bandwidth baseline measured in the same process.

use std::time::Instant;

use biobatch_sampling::Cursor;

use crate::{LoadedBatch, Loader, Result};

/// What [`bench`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    /// Batches yielded in the timed pass.
    pub batches: u64,
    /// Examples (rows) in those batches.
    pub examples: u64,
    /// Payload bytes of those batches.
    pub bytes: usize,
    /// Wall time of the timed pass.
    pub seconds: f64,
    /// Time from the start of the timed pass to its first batch.
    pub first_batch_s: f64,
    /// [`Batch::digest`](biobatch_core::Batch::digest)s of the same batches, folded in order
    /// (`h = h.rotl(5) ^ digest`), from a second, untimed pass.
    pub digest: u64,
    /// Wall time of the digest pass.
    pub digest_s: f64,
}

impl BenchReport {
    /// Examples per second of the timed pass.
    pub fn examples_per_s(&self) -> f64 {
        self.examples as f64 / self.seconds.max(1e-9)
    }

    /// Batches per second of the timed pass.
    pub fn batches_per_s(&self) -> f64 {
        self.batches as f64 / self.seconds.max(1e-9)
    }

    /// Output bytes per second of the timed pass.
    pub fn bytes_per_s(&self) -> f64 {
        self.bytes as f64 / self.seconds.max(1e-9)
    }
}

/// Runs `epochs` epochs of `loader` (or stops after `max_batches`), the consumer only
/// counting, then the same batches again to digest them (plans are pure functions of their
/// seed, so the second pass sees the same batches).
pub fn bench(loader: &Loader, epochs: u64, max_batches: Option<u64>) -> Result<BenchReport> {
    let t0 = Instant::now();
    let (mut batches, mut examples, mut bytes, mut first_batch_s) = (0u64, 0u64, 0usize, f64::NAN);
    'epochs: for e in 0..epochs {
        for b in loader.epoch(e)? {
            let b = b?;
            if batches == 0 {
                first_batch_s = t0.elapsed().as_secs_f64();
            }
            examples += examples_in(&b);
            bytes += b.nbytes();
            batches += 1;
            if max_batches.is_some_and(|m| batches >= m) {
                break 'epochs;
            }
        }
    }
    let seconds = t0.elapsed().as_secs_f64();
    let td = Instant::now();
    let (mut digest, mut hashed) = (0u64, 0u64);
    'again: for e in 0..epochs {
        for b in loader.epoch(e)? {
            if hashed >= batches {
                break 'again;
            }
            digest = digest.rotate_left(5) ^ b?.digest();
            hashed += 1;
        }
    }
    Ok(BenchReport {
        batches,
        examples,
        bytes,
        seconds,
        first_batch_s,
        digest,
        digest_s: td.elapsed().as_secs_f64(),
    })
}

/// Examples (rows) in a batch; 0 for a batch without a batch axis.
fn examples_in(b: &LoadedBatch) -> u64 {
    b.batch_size().ok().flatten().unwrap_or(0) as u64
}

/// Runs epoch `epoch` of `loader` to its end, the consumer only counting: `(examples,
/// seconds)`, the epoch's start (workers spawned, first batches filled) included. The
/// native rate that a consumer in another language is compared with in its own process.
pub fn drain(loader: &Loader, epoch: u64) -> Result<(u64, f64)> {
    let t = Instant::now();
    let mut examples = 0u64;
    for b in loader.epoch(epoch)? {
        examples += examples_in(&b?);
    }
    Ok((examples, t.elapsed().as_secs_f64()))
}

/// Calls `each` on the batches of `loader` in order — from epoch 0, or after `resume` — for
/// at most `max_batches` batches and up to (not including) epoch `epochs`. What `peaks
/// digest` and `cells digest` print one line per. An error from `each` stops the walk and is
/// returned.
pub fn each_batch<E: From<crate::Error>>(
    loader: &Loader,
    resume: Option<&Cursor>,
    epochs: u64,
    max_batches: u64,
    each: &mut dyn FnMut(&LoadedBatch) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let mut it = match resume {
        Some(c) => loader.resume(c)?,
        None => loader.epoch(0)?,
    };
    let mut seen = 0u64;
    loop {
        for b in it.by_ref() {
            if seen >= max_batches {
                return Ok(());
            }
            each(&b?)?;
            seen += 1;
        }
        let next = it.epoch() + 1;
        if next >= epochs || seen >= max_batches {
            return Ok(());
        }
        it = loader.epoch(next)?;
    }
}

/// Bytes per second of `memcpy` moving `bytes` bytes (in 8 MiB chunks), on `threads` threads
/// at once, median of `runs` after one warm-up: the bandwidth ceiling of something that
/// writes `bytes` of output.
pub fn memcpy_bytes_per_s(bytes: usize, threads: usize, runs: usize) -> f64 {
    const CHUNK: usize = 8 << 20;
    let threads = threads.max(1);
    let per_thread = bytes.max(CHUNK).div_ceil(threads);
    let mut bufs: Vec<(Vec<u8>, Vec<u8>)> = (0..threads)
        .map(|i| (vec![i as u8 + 1; CHUNK], vec![0u8; CHUNK]))
        .collect();
    let mut once = || {
        let t = Instant::now();
        std::thread::scope(|s| {
            for (src, dst) in bufs.iter_mut() {
                s.spawn(move || {
                    let mut left = per_thread;
                    while left > 0 {
                        let n = left.min(CHUNK);
                        dst[..n].copy_from_slice(&src[..n]);
                        std::hint::black_box(&mut dst[..n]);
                        left -= n;
                    }
                });
            }
        });
        t.elapsed().as_secs_f64()
    };
    once();
    let mut times: Vec<f64> = (0..runs.max(1)).map(|_| once()).collect();
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    (per_thread * threads) as f64 / median.max(1e-12)
}

#[cfg(test)]
mod tests {
    use biobatch_core::{Array, Batch, Node};
    use biobatch_sampling::{Order, Sampler, SamplerConfig};

    use super::*;
    use crate::{LoaderConfig, Preloaded};

    fn loader(workers: usize) -> Loader {
        let x: Vec<i64> = (0..50).collect();
        let data = Preloaded::new(Batch::new(Node::from_iter([(
            "x",
            Array::new(vec![50], x).unwrap(),
        )])))
        .unwrap();
        let plan = Sampler::new(
            50,
            SamplerConfig {
                seed: Some(3),
                order: Order::Shuffle,
                ..Default::default()
            },
        )
        .unwrap();
        let cfg = LoaderConfig {
            batch_size: 8,
            num_workers: workers,
            ..Default::default()
        };
        Loader::new(data, plan, cfg).unwrap()
    }

    #[test]
    fn bench_counts_every_batch_and_digests_the_same_ones() {
        let r = bench(&loader(2), 2, None).unwrap();
        assert_eq!((r.batches, r.examples), (14, 100));
        // The digest is the fold of the batches' own digests, whatever the worker count.
        let mut want = 0u64;
        each_batch::<crate::Error>(&loader(0), None, 2, u64::MAX, &mut |b| {
            want = want.rotate_left(5) ^ b.digest();
            Ok(())
        })
        .unwrap();
        assert_eq!(r.digest, want);
        let capped = bench(&loader(1), 2, Some(9)).unwrap();
        assert_eq!(capped.batches, 9);
        assert_ne!(capped.digest, r.digest);
    }

    #[test]
    fn each_batch_resumes_after_a_cursor_and_stops_where_told() {
        let l = loader(1);
        let mut all = Vec::new();
        each_batch::<crate::Error>(&l, None, 2, u64::MAX, &mut |b| {
            all.push((b.epoch(), b.index(), b.digest(), b.cursor_after()));
            Ok(())
        })
        .unwrap();
        assert_eq!(all.len(), 14);
        let mut rest = Vec::new();
        each_batch::<crate::Error>(&l, Some(&all[4].3), 2, 3, &mut |b| {
            rest.push((b.epoch(), b.index(), b.digest()));
            Ok(())
        })
        .unwrap();
        let want: Vec<_> = all[5..8].iter().map(|x| (x.0, x.1, x.2)).collect();
        assert_eq!(rest, want);
    }

    #[test]
    fn memcpy_baseline_is_a_positive_rate() {
        assert!(memcpy_bytes_per_s(1 << 20, 2, 1) > 0.0);
    }
}
