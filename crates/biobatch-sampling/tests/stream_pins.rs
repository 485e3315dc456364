//! Pinned outputs of every random stream.
//!
//! These values were produced by this crate itself; they are not an independent reference.
//! Their job is to fail when a change alters which sample a `(seed, epoch, position)` yields.
//! If one fails: the change altered a random stream, so bump that plan kind's
//! `STREAM_VERSION`, say so in the change's notes, and update the pins.

use biobatch_sampling::{
    Augment, Mixture, MixtureConfig, Order, Partition, Sampler, SamplerConfig, SplitMethod,
    Weighted, WeightedConfig, random_split,
};

fn sampler(n: u64, order: Order) -> Sampler {
    let cfg = SamplerConfig {
        seed: Some(42),
        order,
        augment: Augment {
            max_jitter: 128,
            reverse_complement: true,
        },
        partition: Partition::single(),
    };
    Sampler::new(n, cfg).unwrap()
}

fn head(s: &Sampler, epoch: u64, k: u64) -> Vec<(u64, u32, bool)> {
    let e = s.epoch(epoch).unwrap();
    (0..k)
        .map(|p| e.get(p))
        .map(|x| (x.index, x.jitter, x.reverse_complement))
        .collect()
}

#[test]
fn full_shuffle_fisher_yates_path() {
    assert_eq!(
        head(&sampler(1_000, Order::Shuffle), 0, 4),
        [
            (846, 105, false),
            (680, 252, false),
            (510, 243, true),
            (171, 2, false)
        ]
    );
}

#[test]
fn full_shuffle_scatter_path() {
    assert_eq!(
        head(&sampler(300_000, Order::Shuffle), 1, 4),
        [
            (254057, 233, true),
            (186182, 77, false),
            (74694, 227, false),
            (24807, 190, true)
        ]
    );
}

#[test]
fn chunked_shuffle() {
    let order = Order::Chunked {
        shuffle_chunk_size: 64,
        io_batch_size: 4_096,
    };
    assert_eq!(
        head(&sampler(100_000, order), 2, 4),
        [
            (95407, 235, false),
            (96306, 45, false),
            (95409, 5, true),
            (97154, 142, false)
        ]
    );
}

#[test]
fn mixture() {
    let cfg = MixtureConfig {
        seed: Some(42),
        negative_ratio: 0.5,
        shuffle: true,
        augment: Augment {
            max_jitter: 16,
            reverse_complement: true,
        },
        partition: Partition::single(),
    };
    let e = Mixture::new(100, 50, cfg).unwrap().epoch(1).unwrap();
    let got: Vec<_> = (0..5)
        .map(|p| e.get(p))
        .map(|x| (x.source as u8, x.index, x.jitter, x.reverse_complement))
        .collect();
    assert_eq!(
        got,
        [
            (0, 12, 29, true),
            (0, 64, 9, false),
            (0, 81, 29, false),
            (0, 94, 24, true),
            (0, 65, 16, false)
        ]
    );
}

#[test]
fn weighted() {
    let cfg = WeightedConfig {
        seed: Some(42),
        epoch_len: 100,
        partition: Partition::single(),
    };
    let w = Weighted::new(&[1.0, 2.0, 3.0, 4.0], cfg).unwrap();
    assert_eq!(
        (0..8).map(|p| w.get(3, p).index).collect::<Vec<_>>(),
        [3, 2, 0, 1, 2, 2, 2, 2]
    );
}

#[test]
fn splits() {
    let pins: [(SplitMethod, [usize; 3], [u64; 4]); 3] = [
        (SplitMethod::Deterministic, [551, 250, 200], [6, 11, 14, 22]),
        (SplitMethod::Multinomial, [552, 273, 176], [1, 2, 8, 9]),
        (
            SplitMethod::StochasticRounding,
            [550, 250, 201],
            [6, 11, 14, 22],
        ),
    ];
    for (method, sizes, first) in pins {
        let parts = random_split(1_001, &[0.55, 0.25, 0.2], 42, method).unwrap();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            sizes,
            "{method:?}"
        );
        assert_eq!(parts[1][..4], first, "{method:?}");
    }
}

#[test]
fn shuffle_buffer() {
    let buf: Vec<u32> = biobatch_sampling::ShuffleBuffer::new(0..100u32, 8, 42, 3)
        .take(8)
        .collect();
    assert_eq!(buf, [0, 5, 2, 8, 6, 9, 7, 13]);
}
