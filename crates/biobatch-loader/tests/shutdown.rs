//! Dropping a loader mid-epoch joins its threads (own test binary: it counts the process's
//! threads by name, so no other test may run loaders meanwhile).

use biobatch_core::{Array, Batch, DType, Node};
use biobatch_loader::{BatchDataset, BoxError, Loader, LoaderConfig, stream};
use biobatch_sampling::{Sample, Sampler, SamplerConfig};

/// The loader threads left once those just joined are gone: a joined thread can still be
/// listed for a moment (the kernel removes its `/proc` entry after `join` returns), so this
/// waits up to a second for the count to reach 0; a thread that was not joined stays.
fn loader_threads_after_join() -> usize {
    let t = std::time::Instant::now();
    loop {
        let n = loader_threads();
        if n == 0 || t.elapsed() > std::time::Duration::from_secs(1) {
            return n;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

fn loader_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
                .filter(|name| name.starts_with("biobatch-loader"))
                .count()
        })
        .unwrap_or(0)
}

struct Slow;

impl BatchDataset for Slow {
    fn new_buffer(&self, n: usize) -> Result<Batch, BoxError> {
        Ok(Batch::new(Array::zeros(DType::U8, vec![n, 1000])))
    }

    fn fill(&self, _s: &[Sample], _out: &mut Batch) -> Result<(), BoxError> {
        std::thread::sleep(std::time::Duration::from_millis(5));
        Ok(())
    }
}

#[test]
fn dropping_mid_epoch_joins_every_thread() {
    if !std::path::Path::new("/proc/self/task").exists() {
        return; // thread listing is Linux-only; CI runs on Linux
    }
    let plan = Sampler::new(
        10_000,
        SamplerConfig {
            seed: Some(1),
            ..Default::default()
        },
    )
    .unwrap();
    let loader = Loader::new(
        Slow,
        plan,
        LoaderConfig {
            batch_size: 10,
            num_workers: 6,
            prefetch: 32,
            drop_last: false,
        },
    )
    .unwrap();
    let mut it = loader.epoch(0).unwrap();
    for _ in 0..3 {
        it.next().unwrap().unwrap();
    }
    assert_eq!(loader_threads(), 6);
    let t = std::time::Instant::now();
    drop(it);
    assert_eq!(loader_threads_after_join(), 0);
    // Prompt: the queued prefetch window is discarded, not computed.
    assert!(
        t.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        t.elapsed()
    );

    // The iterator-kind producer too.
    let samples = (0..).map(|i: i64| -> Result<Batch, BoxError> {
        Ok(Batch::new(Node::from_iter([("i", Array::scalar(i))])))
    });
    let mut s = stream::samples(samples, 4, 2, false).unwrap();
    assert_eq!(
        s.next()
            .unwrap()
            .unwrap()
            .array("inputs/i")
            .unwrap()
            .as_slice::<i64>()
            .unwrap(),
        &[0, 1, 2, 3]
    );
    assert_eq!(loader_threads(), 1);
    drop(s);
    assert_eq!(loader_threads_after_join(), 0);
}
