//! The loader runtime: determinism across worker counts, resume, failures, pooling.

use std::sync::atomic::{AtomicU64, Ordering};

use biobatch_core::{Array, ArraySchema, Batch, DType, DataSchema, Node, SchemaNode};
use biobatch_loader::{
    BatchDataset, BoxError, Collated, Dataset, Error, Loader, LoaderConfig, Preloaded, Waited,
};
use biobatch_sampling::{
    Augment, Cursor, Mixture, MixtureConfig, Order, Sample, Sampler, SamplerConfig, Source,
};

/// Each row encodes its sample; batches finish out of order because the work per batch varies.
struct Synthetic {
    width: usize,
    fail_at: Option<u64>,
    panic_at: Option<u64>,
    calls: AtomicU64,
}

impl Synthetic {
    fn new(width: usize) -> Self {
        Synthetic {
            width,
            fail_at: None,
            panic_at: None,
            calls: AtomicU64::new(0),
        }
    }
}

impl BatchDataset for Synthetic {
    fn new_buffer(&self, batch_size: usize) -> Result<Batch, BoxError> {
        let mut b = Batch::new(Node::from_iter([(
            "x",
            Array::zeros(DType::F32, vec![batch_size, self.width]),
        )]));
        b.targets = Some(Node::from_iter([(
            "source",
            Array::zeros(DType::U8, vec![batch_size]),
        )]));
        Ok(b)
    }

    fn fill(&self, samples: &[Sample], out: &mut Batch) -> Result<(), BoxError> {
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        let first = samples[0].index;
        if self.fail_at == Some(first) {
            return Err(format!("record {first} is unreadable").into());
        }
        if self.panic_at == Some(first) {
            panic!("boom at record {first}");
        }
        // Uneven work: later-submitted batches often finish first.
        let spin = (call * 7919 % 13) * 20_000;
        let mut acc = 0u64;
        for i in 0..spin {
            acc = acc.wrapping_add(i ^ acc.rotate_left(3));
        }
        std::hint::black_box(acc);
        let w = self.width;
        let x = out.array_mut("inputs/x")?.as_slice_mut::<f32>()?;
        for (i, s) in samples.iter().enumerate() {
            for j in 0..w {
                x[i * w + j] = (s.index * 1000 + j as u64) as f32
                    + s.jitter as f32 * 0.5
                    + if s.reverse_complement { 0.25 } else { 0.0 };
            }
        }
        let src = out.array_mut("targets/source")?.as_slice_mut::<u8>()?;
        for (i, s) in samples.iter().enumerate() {
            src[i] = (s.source == Source::Negative) as u8;
        }
        Ok(())
    }
}

fn mixture() -> Mixture {
    Mixture::new(
        97,
        40,
        MixtureConfig {
            seed: Some(11),
            negative_ratio: 0.33,
            shuffle: true,
            augment: Augment {
                max_jitter: 8,
                reverse_complement: true,
            },
            ..Default::default()
        },
    )
    .unwrap()
}

fn stream(loader: &Loader, epochs: u64) -> Vec<(u64, u64, Vec<f32>, Vec<u8>)> {
    let mut out = Vec::new();
    for e in 0..epochs {
        for b in loader.epoch(e).unwrap() {
            let b = b.unwrap();
            out.push((
                b.epoch(),
                b.index(),
                b.array("inputs/x")
                    .unwrap()
                    .as_slice::<f32>()
                    .unwrap()
                    .to_vec(),
                b.array("targets/source")
                    .unwrap()
                    .as_slice::<u8>()
                    .unwrap()
                    .to_vec(),
            ));
        }
    }
    out
}

#[test]
fn identical_batches_for_any_worker_count() {
    let cfg = |w, prefetch| LoaderConfig {
        batch_size: 10,
        num_workers: w,
        prefetch,
        drop_last: false,
    };
    let reference = stream(
        &Loader::new(Synthetic::new(3), mixture(), cfg(0, 1)).unwrap(),
        2,
    );
    // 97 peaks + 32 negatives = 129 samples: 13 batches, the last of 9.
    assert_eq!(reference.len(), 26);
    assert_eq!(reference[12].2.len(), 9 * 3);
    for (w, prefetch) in [(1, 1), (2, 4), (8, 3), (8, 16)] {
        let got = stream(
            &Loader::new(Synthetic::new(3), mixture(), cfg(w, prefetch)).unwrap(),
            2,
        );
        assert!(got == reference, "workers {w}, prefetch {prefetch}");
    }
    // A progress bar changes nothing in the stream (it draws nothing without a terminal).
    let with_bar = Loader::new(Synthetic::new(3), mixture(), cfg(2, 4))
        .unwrap()
        .with_progress(true);
    assert!(stream(&with_bar, 2) == reference);
    // Epochs differ.
    assert_ne!(reference[0].2, reference[13].2);
}

/// Sleeps before filling: the consumer has to wait for every batch.
struct Slow(Synthetic, std::time::Duration);

impl BatchDataset for Slow {
    fn new_buffer(&self, batch_size: usize) -> Result<Batch, BoxError> {
        self.0.new_buffer(batch_size)
    }

    fn fill(&self, samples: &[Sample], out: &mut Batch) -> Result<(), BoxError> {
        std::thread::sleep(self.1);
        self.0.fill(samples, out)
    }
}

#[test]
fn waiting_with_a_timeout_loses_nothing_and_keeps_the_order() {
    let cfg = LoaderConfig {
        batch_size: 10,
        num_workers: 2,
        prefetch: 2,
        drop_last: false,
    };
    let reference = stream(&Loader::new(Synthetic::new(3), mixture(), cfg).unwrap(), 1);
    let slow = Slow(Synthetic::new(3), std::time::Duration::from_millis(20));
    let loader = Loader::new(slow, mixture(), cfg).unwrap();
    let mut batches = loader.epoch(0).unwrap();
    let (mut got, mut timeouts) = (Vec::new(), 0);
    loop {
        match batches.next_timeout(std::time::Duration::from_millis(1)) {
            Waited::TimedOut => timeouts += 1,
            Waited::Ready(None) => break,
            Waited::Ready(Some(b)) => {
                let b = b.unwrap();
                let x = b.array("inputs/x").unwrap().as_slice::<f32>().unwrap();
                got.push((b.epoch(), b.index(), x.to_vec()));
            }
        }
    }
    assert!(timeouts > 0, "a 20 ms batch never outlasted a 1 ms wait");
    assert_eq!(got.len(), reference.len());
    for (g, r) in got.iter().zip(&reference) {
        assert!((g.0, g.1, &g.2) == (r.0, r.1, &r.2), "batch {}", r.1);
    }
    assert!(matches!(
        batches.next_timeout(std::time::Duration::ZERO),
        Waited::Ready(None)
    ));
}

#[test]
fn any_positions_of_an_epoch_are_the_samples_its_batches_hold() {
    let cfg = LoaderConfig {
        batch_size: 10,
        num_workers: 2,
        prefetch: 2,
        drop_last: false,
    };
    let loader = Loader::new(Synthetic::new(3), mixture(), cfg).unwrap();
    let reference = stream(&loader, 2);
    assert_eq!(loader.positions(), 129);
    for (epoch, start, end) in [(0, 0, 10), (1, 37, 38), (0, 125, 129), (1, 3, 24)] {
        let b = loader.get(epoch, start..end).unwrap();
        let x = b
            .array("inputs/x")
            .unwrap()
            .as_slice::<f32>()
            .unwrap()
            .to_vec();
        let want: Vec<f32> = (start..end)
            .flat_map(|p| {
                let (batch, row) = ((p / 10) as usize, (p % 10) as usize);
                reference[epoch as usize * 13 + batch].2[row * 3..row * 3 + 3].to_vec()
            })
            .collect();
        assert_eq!(x, want, "epoch {epoch}, positions {start}..{end}");
    }
    #[allow(clippy::reversed_empty_ranges)]
    for bad in [0..0, 128..130, 5..3] {
        let e = loader.get(0, bad.clone()).unwrap_err().to_string();
        assert!(e.contains("not a non-empty range"), "{bad:?}: {e}");
    }
}

#[test]
fn resume_at_every_batch_boundary_continues_the_stream() {
    let cfg = LoaderConfig {
        batch_size: 16,
        num_workers: 3,
        prefetch: 4,
        drop_last: true,
    };
    let loader = Loader::new(Synthetic::new(2), mixture(), cfg).unwrap();
    let full = stream(&loader, 2);
    assert_eq!(loader.num_batches(), 8); // 129 / 16, last partial dropped
    let mut k = 0;
    for e in 0..2 {
        let mut it = loader.epoch(e).unwrap();
        for b in 0..=loader.num_batches() {
            let cursor: Cursor = it.cursor().to_string().parse().unwrap();
            // A new loader, as after a restart.
            let restarted = Loader::new(Synthetic::new(2), mixture(), cfg).unwrap();
            let mut rest = Vec::new();
            let mut batches = restarted.resume(&cursor).unwrap();
            let first_epoch = batches.epoch();
            for x in batches.by_ref() {
                let x = x.unwrap();
                rest.push((
                    x.epoch(),
                    x.index(),
                    x.array("inputs/x")
                        .unwrap()
                        .as_slice::<f32>()
                        .unwrap()
                        .to_vec(),
                ));
            }
            if first_epoch < 2 {
                for e2 in first_epoch + 1..2 {
                    for x in restarted.epoch(e2).unwrap() {
                        let x = x.unwrap();
                        rest.push((
                            x.epoch(),
                            x.index(),
                            x.array("inputs/x")
                                .unwrap()
                                .as_slice::<f32>()
                                .unwrap()
                                .to_vec(),
                        ));
                    }
                }
            }
            let expected: Vec<_> = full[k + b as usize..]
                .iter()
                .map(|(e, i, x, _)| (*e, *i, x.clone()))
                .collect();
            assert_eq!(rest, expected, "epoch {e}, resuming before batch {b}");
            if b < loader.num_batches() {
                let got = it.next().unwrap().unwrap();
                assert_eq!(
                    (got.cursor_after().epoch, got.cursor_after().position),
                    (e, (b + 1) * 16)
                );
            }
        }
        k += loader.num_batches() as usize;
    }
    // A cursor between batch boundaries is refused.
    let odd = loader.epoch(0).unwrap().cursor();
    let odd = Cursor { position: 5, ..odd };
    assert!(matches!(loader.resume(&odd), Err(Error::Invalid(_))));
}

#[test]
fn a_failing_batch_is_an_error_at_its_index_for_every_worker_count() {
    // The plan is sequential so batch 3 starts at record 30.
    let plan = || {
        Sampler::new(
            100,
            SamplerConfig {
                seed: Some(1),
                order: Order::Sequential,
                ..Default::default()
            },
        )
        .unwrap()
    };
    for workers in [0, 1, 4] {
        for kind in ["error", "panic"] {
            let mut ds = Synthetic::new(1);
            if kind == "error" {
                ds.fail_at = Some(30);
            } else {
                ds.panic_at = Some(30);
            }
            let loader = Loader::new(
                ds,
                plan(),
                LoaderConfig {
                    batch_size: 10,
                    num_workers: workers,
                    prefetch: 4,
                    drop_last: false,
                },
            )
            .unwrap();
            let results: Vec<_> = loader.epoch(0).unwrap().collect();
            assert_eq!(
                results.len(),
                4,
                "{kind}, {workers} workers: three batches, then the error, then the end"
            );
            assert!(results[..3].iter().all(|r| r.is_ok()));
            match (&results[3], kind) {
                (
                    Err(Error::Batch {
                        index: 3, source, ..
                    }),
                    "error",
                ) => assert!(source.to_string().contains("record 30")),
                (
                    Err(Error::Panic {
                        index: 3, message, ..
                    }),
                    "panic",
                ) => assert!(message.contains("boom at record 30")),
                (other, _) => panic!("{kind}, {workers} workers: unexpected {other:?}"),
            }
        }
    }
}

#[test]
fn buffers_are_reused_from_the_pool() {
    let plan = Sampler::new(
        1_000,
        SamplerConfig {
            seed: Some(3),
            ..Default::default()
        },
    )
    .unwrap();
    let ds = Synthetic::new(4);
    let loader = Loader::new(
        ds,
        plan,
        LoaderConfig {
            batch_size: 50,
            num_workers: 0,
            prefetch: 2,
            drop_last: false,
        },
    )
    .unwrap();
    let mut ptrs = std::collections::HashSet::new();
    for b in loader.epoch(0).unwrap() {
        let b = b.unwrap();
        ptrs.insert(
            b.array("inputs/x")
                .unwrap()
                .as_slice::<f32>()
                .unwrap()
                .as_ptr() as usize,
        );
    }
    // Inline, each batch is dropped before the next is made: one buffer serves all 20.
    assert_eq!(ptrs.len(), 1, "{} distinct buffers", ptrs.len());
}

#[test]
fn preloaded_gathers_the_planned_rows_and_fits_its_schema() {
    let n = 57;
    let x: Vec<i32> = (0..n * 2).collect();
    let names: Vec<String> = (0..n).map(|i| format!("r{i}")).collect();
    let mut data = Batch::new(Node::from_iter([(
        "x",
        Array::new(vec![n as usize, 2], x).unwrap(),
    )]));
    data.metadata = Some(Node::from_iter([("id", Array::from_vec(names))]));
    let plan = Sampler::new(
        n as u64,
        SamplerConfig {
            seed: Some(5),
            ..Default::default()
        },
    )
    .unwrap();
    let epoch = plan.epoch(0).unwrap();
    let loader = Loader::new(
        Preloaded::new(data).unwrap(),
        plan,
        LoaderConfig {
            batch_size: 8,
            num_workers: 2,
            prefetch: 2,
            drop_last: false,
        },
    )
    .unwrap();
    let schema = DataSchema {
        inputs: SchemaNode::Map(
            [(
                "x".to_string(),
                SchemaNode::Array(ArraySchema::new(vec![Some(2)]).with_dtype(DType::I32)),
            )]
            .into(),
        ),
        targets: None,
        metadata: None,
    };
    let mut p = 0;
    for b in loader.epoch(0).unwrap() {
        let b = b.unwrap();
        schema.validate(&b).unwrap();
        let x = b.array("inputs/x").unwrap().as_slice::<i32>().unwrap();
        let ids = b
            .array("metadata/id")
            .unwrap()
            .as_slice::<String>()
            .unwrap();
        for (i, id) in ids.iter().enumerate() {
            let r = epoch.get(p).index as i32;
            assert_eq!(
                (x[2 * i], x[2 * i + 1], id.as_str()),
                (2 * r, 2 * r + 1, format!("r{r}").as_str())
            );
            p += 1;
        }
    }
    assert_eq!(p, 57);
}

struct Samples;

impl Dataset for Samples {
    fn len(&self) -> u64 {
        20
    }

    fn get(&self, s: Sample) -> Result<Batch, BoxError> {
        let mut b = Batch::new(Node::from_iter([(
            "v",
            Array::new(vec![3], vec![s.index as f64; 3])?,
        )]));
        b.targets = Some(Array::scalar(s.index as i64).into());
        Ok(b)
    }
}

#[test]
fn sample_level_datasets_are_collated() {
    let plan = Sampler::new(
        20,
        SamplerConfig {
            seed: Some(2),
            order: Order::Sequential,
            ..Default::default()
        },
    )
    .unwrap();
    let loader = Loader::new(
        Collated(Samples),
        plan,
        LoaderConfig {
            batch_size: 8,
            num_workers: 2,
            prefetch: 2,
            drop_last: false,
        },
    )
    .unwrap();
    let sizes: Vec<usize> = loader
        .epoch(0)
        .unwrap()
        .map(|b| {
            let b = b.unwrap();
            assert_eq!(b.array("inputs/v").unwrap().shape()[1], 3);
            b.array("targets").unwrap().shape()[0]
        })
        .collect();
    assert_eq!(sizes, [8, 8, 4]);
}

#[test]
fn stats_account_for_every_batch() {
    let plan = Sampler::new(
        300,
        SamplerConfig {
            seed: Some(2),
            ..Default::default()
        },
    )
    .unwrap();
    let loader = Loader::new(
        Synthetic::new(5),
        plan,
        LoaderConfig {
            batch_size: 32,
            num_workers: 2,
            prefetch: 4,
            drop_last: false,
        },
    )
    .unwrap();
    let mut it = loader.epoch(0).unwrap();
    for b in it.by_ref() {
        b.unwrap();
    }
    let s = it.stats();
    assert_eq!((s.batches, s.samples), (10, 300));
    assert_eq!(s.bytes, 300 * (5 * 4 + 1));
    assert!(s.summary().contains("10 batches"), "{}", s.summary());
    assert!((0.0..=1.0).contains(&s.stall_fraction()));
}
