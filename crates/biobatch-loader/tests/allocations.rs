//! Steady state allocates nothing per batch: a counting global allocator (own test binary)
//! watches the middle of an epoch, after the pool has filled.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use biobatch_core::Array;
use biobatch_loader::{ArrayDataset, BatchDataset, Loader, LoaderConfig};
use biobatch_sampling::{Augment, Order, Sampler, SamplerConfig};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);
/// Allocations of at least `LARGE` bytes: the size of any batch array here (the smallest,
/// `targets/y`, is 32 × 8 bytes), larger than anything the channels allocate.
static LARGE_ALLOCS: AtomicU64 = AtomicU64::new(0);
const LARGE: usize = 256;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            if layout.size() >= LARGE {
                LARGE_ALLOCS.fetch_add(1, Ordering::Relaxed);
            }
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn no_allocation_per_batch_in_steady_state() {
    let n = 20_000;
    let x: Vec<f32> = (0..n * 16).map(|i| i as f32).collect();
    let y: Vec<i64> = (0..n as i64).collect();
    let ds = ArrayDataset::new()
        .input("x", Array::new(vec![n, 16], x).unwrap())
        .unwrap()
        .target("y", Array::new(vec![n], y).unwrap())
        .unwrap();
    let plan = Sampler::new(
        n as u64,
        SamplerConfig {
            seed: Some(1),
            order: Order::Shuffle,
            augment: Augment {
                max_jitter: 4,
                reverse_complement: true,
            },
            ..Default::default()
        },
    )
    .unwrap();
    // What one batch buffer costs in batch-sized allocations (its arrays and tree nodes).
    LARGE_ALLOCS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    let one = ds.new_buffer(32).unwrap();
    COUNTING.store(false, Ordering::SeqCst);
    let per_buffer = LARGE_ALLOCS.load(Ordering::SeqCst);
    drop(one);
    assert!(
        per_buffer >= 2,
        "a buffer holds two arrays of ≥ {LARGE} bytes"
    );
    for workers in [0, 2] {
        let loader = Loader::new(
            ds.clone(),
            plan.clone(),
            LoaderConfig {
                batch_size: 32,
                num_workers: workers,
                prefetch: 4,
                drop_last: false,
            },
        )
        .unwrap();
        let mut it = loader.epoch(0).unwrap();
        let mut sum = 0.0f64;
        // Warm up: the pool fills with `prefetch + 1` buffers.
        for b in it.by_ref().take(50) {
            sum += b
                .unwrap()
                .array("inputs/x")
                .unwrap()
                .as_slice::<f32>()
                .unwrap()[0] as f64;
        }
        ALLOCS.store(0, Ordering::SeqCst);
        LARGE_ALLOCS.store(0, Ordering::SeqCst);
        COUNTING.store(true, Ordering::SeqCst);
        for b in it.by_ref().take(400) {
            sum += b
                .unwrap()
                .array("inputs/x")
                .unwrap()
                .as_slice::<f32>()
                .unwrap()[0] as f64;
        }
        COUNTING.store(false, Ordering::SeqCst);
        let allocs = ALLOCS.load(Ordering::SeqCst);
        // Buffers: the pool may still grow to its bound (`prefetch + 1` buffers alive at once)
        // if the warm-up never reached it, never past it; inline it never grows.
        let large = LARGE_ALLOCS.load(Ordering::SeqCst);
        let bound = if workers == 0 { 0 } else { 5 * per_buffer };
        assert!(
            large <= bound,
            "{workers} workers: {large} batch-sized allocations over 400 batches (a buffer \
             makes {per_buffer}; at most {bound})"
        );
        // Per batch: none (that would be 400 or more). With workers a few small ones may still
        // appear, from the channels' blocking machinery when several threads block at the same
        // moment; how many depends on scheduling.
        let small = allocs - large.min(allocs);
        assert!(
            small < 40,
            "{workers} workers: {small} small allocations over 400 batches"
        );
        if workers == 0 {
            assert_eq!(allocs, 0, "inline: {allocs} allocations over 400 batches");
        }
        assert!(sum > 0.0);
    }
}
