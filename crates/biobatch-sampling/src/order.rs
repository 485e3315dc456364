//! Base orders of one epoch: sequential, full shuffle, chunked shuffle.
//!
//! A full shuffle is a uniform random permutation built by a scatter shuffle
//! (Rao–Sandelius): every index draws one of `K` buckets uniformly, the indices are scattered
//! into their buckets in order, and each bucket is Fisher–Yates shuffled. Independent uniform
//! bucket choice plus a uniform shuffle inside each bucket gives a uniform permutation, and
//! the buckets fit in cache, which makes it several times faster than a plain Fisher–Yates
//! over 10^8 indices.
//!
//! The chunked shuffle follows TileDB-SOMA-ML: indices are cut into contiguous chunks of
//! `shuffle_chunk_size`, the chunks are shuffled, and the concatenation is cut into IO batches
//! of `io_batch_size` rows, each shuffled row-wise. Reads stay local (one IO batch touches
//! `io_batch_size / shuffle_chunk_size` contiguous runs) while the order changes every epoch.

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use crate::rng::{below, rng, stream};
use crate::{Error, Result};

/// The base order of an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Order {
    /// `0, 1, 2, …` every epoch (`shuffle = false`).
    Sequential,
    /// A new uniform permutation every epoch.
    #[default]
    Shuffle,
    /// TileDB-SOMA-ML's chunked shuffle; `io_batch_size` must be a multiple of
    /// `shuffle_chunk_size`.
    Chunked {
        /// Rows per contiguous chunk.
        shuffle_chunk_size: u64,
        /// Rows per IO batch (a multiple of the chunk size).
        io_batch_size: u64,
    },
}

impl Order {
    /// Checks the parameters.
    pub fn check(&self) -> Result<()> {
        if let Order::Chunked {
            shuffle_chunk_size: c,
            io_batch_size: io,
        } = *self
        {
            if c == 0 || io == 0 {
                return Err(Error::Invalid(
                    "shuffle_chunk_size and io_batch_size must be positive".into(),
                ));
            }
            if io % c != 0 {
                return Err(Error::Invalid(format!(
                    "io_batch_size ({io}) must be a multiple of shuffle_chunk_size ({c})"
                )));
            }
        }
        Ok(())
    }
}

/// A permutation of `0..n`, stored compactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permutation {
    /// The identity (nothing stored).
    Identity(u64),
    /// Indices that fit in 32 bits.
    U32(Vec<u32>),
    /// Larger indices.
    U64(Vec<u64>),
}

impl Permutation {
    /// Number of indices.
    pub fn len(&self) -> u64 {
        match self {
            Permutation::Identity(n) => *n,
            Permutation::U32(v) => v.len() as u64,
            Permutation::U64(v) => v.len() as u64,
        }
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The index at position `i` (which must be `< len`).
    #[inline]
    pub fn get(&self, i: u64) -> u64 {
        match self {
            Permutation::Identity(_) => i,
            Permutation::U32(v) => v[i as usize] as u64,
            Permutation::U64(v) => v[i as usize],
        }
    }
}

/// Fisher–Yates over `v` with generator `r`.
///
/// Below 2^32 elements, each 64-bit draw serves two steps (Lemire's unbiased
/// multiply-and-reject on 32-bit halves); larger slices use 64-bit draws.
pub(crate) fn fisher_yates<T>(v: &mut [T], r: &mut impl Rng) {
    if v.len() as u64 > u32::MAX as u64 {
        for i in (1..v.len()).rev() {
            let j = below(r, i as u64 + 1) as usize;
            v.swap(i, j);
        }
        return;
    }
    // Two 32-bit draws per 64-bit generator step.
    let (mut word, mut have) = (0u64, false);
    let mut next32 = |r: &mut _| {
        if have {
            have = false;
            (word >> 32) as u32
        } else {
            word = Rng::next_u64(r);
            have = true;
            word as u32
        }
    };
    for i in (1..v.len()).rev() {
        let n = i as u32 + 1;
        let mut m = next32(&mut *r) as u64 * n as u64;
        if (m as u32) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u32) < threshold {
                m = next32(&mut *r) as u64 * n as u64;
            }
        }
        v.swap(i, (m >> 32) as usize);
    }
}

/// Index types a permutation can be stored in.
trait Index: Copy + Default {
    fn from_u64(x: u64) -> Self;
}

impl Index for u32 {
    #[inline]
    fn from_u64(x: u64) -> Self {
        x as u32
    }
}

impl Index for u64 {
    #[inline]
    fn from_u64(x: u64) -> Self {
        x
    }
}

/// Sizes up to this are shuffled by plain Fisher–Yates.
const SCATTER_FROM: u64 = 1 << 16;
/// Buckets hold about `2^BUCKET_SHIFT` indices (1 MiB of `u32`: cache-resident while they
/// are shuffled).
const BUCKET_SHIFT: u32 = 18;
/// At most `2^MAX_BUCKET_BITS` buckets (few enough write streams for the scatter).
const MAX_BUCKET_BITS: u32 = 9;

/// Uniform permutation of `0..n` by scatter shuffle, from generator `r`.
fn scatter_shuffle<T: Index>(n: u64, r: &mut impl Rng) -> Vec<T> {
    scatter_shuffle_with(n, r, SCATTER_FROM, BUCKET_SHIFT)
}

/// Bucket ids of `bits` bits, several taken from each 64-bit draw.
struct BucketDraws {
    g: Xoshiro256PlusPlus,
    bits: u32,
    word: u64,
    left: u32,
}

impl BucketDraws {
    fn new(seed: u64, bits: u32) -> Self {
        BucketDraws {
            g: Xoshiro256PlusPlus::seed_from_u64(seed),
            bits,
            word: 0,
            left: 0,
        }
    }

    #[inline]
    fn next(&mut self) -> usize {
        if self.left < self.bits {
            self.word = self.g.next_u64();
            self.left = 64;
        }
        let b = (self.word & ((1 << self.bits) - 1)) as usize;
        self.word >>= self.bits;
        self.left -= self.bits;
        b
    }
}

fn scatter_shuffle_with<T: Index>(n: u64, r: &mut impl Rng, from: u64, shift: u32) -> Vec<T> {
    if n <= from {
        let mut v: Vec<T> = (0..n).map(T::from_u64).collect();
        fisher_yates(&mut v, r);
        return v;
    }
    let bits = ((n >> shift).max(2).ilog2() + 1).min(MAX_BUCKET_BITS);
    let k = 1usize << bits;
    // Bucket draws come from a generator seeded from `r`, run twice (count, then scatter), so
    // no per-index bucket array is stored.
    let bucket_seed = r.next_u64();
    let mut counts = vec![0usize; k + 1];
    let mut draw = BucketDraws::new(bucket_seed, bits);
    for _ in 0..n {
        counts[draw.next() + 1] += 1;
    }
    for b in 0..k {
        counts[b + 1] += counts[b];
    }
    let mut out: Vec<T> = vec![T::default(); n as usize];
    let mut next = counts.clone();
    let mut draw = BucketDraws::new(bucket_seed, bits);
    for i in 0..n {
        let b = draw.next();
        out[next[b]] = T::from_u64(i);
        next[b] += 1;
    }
    for b in 0..k {
        fisher_yates(&mut out[counts[b]..counts[b + 1]], r);
    }
    out
}

/// A uniform random permutation of `0..n` from `r`.
pub fn shuffled(n: u64, r: &mut impl Rng) -> Permutation {
    if n <= u32::MAX as u64 + 1 {
        Permutation::U32(scatter_shuffle::<u32>(n, r))
    } else {
        Permutation::U64(scatter_shuffle::<u64>(n, r))
    }
}

/// Start positions of the IO batches of a chunked epoch, plus `n` at the end: IO batch `j`
/// covers positions `starts[j]..starts[j + 1]` and holds the whole chunks
/// `j·k .. (j+1)·k` of the shuffled chunk order (`k = io_batch_size / shuffle_chunk_size`), so
/// only the last IO batch and the one holding the short last chunk can be smaller than
/// `io_batch_size`.
fn chunk_plan(c: u64, io: u64, n: u64, seed: u64, epoch: u64) -> (Permutation, Vec<u64>) {
    let n_chunks = n.div_ceil(c);
    let k = io / c;
    let chunk_order = shuffled(n_chunks, &mut rng(seed, stream::CHUNKS, epoch, 0));
    let mut starts = Vec::with_capacity((n_chunks.div_ceil(k) + 1) as usize);
    let mut at = 0;
    for g in 0..n_chunks.div_ceil(k) {
        starts.push(at);
        for slot in g * k..((g + 1) * k).min(n_chunks) {
            let ch = chunk_order.get(slot);
            at += ((ch + 1) * c).min(n) - ch * c;
        }
    }
    starts.push(n);
    (chunk_order, starts)
}

/// The chunked-shuffle order of `0..n`, written straight into the index type.
fn chunked<T: Index>(c: u64, io: u64, n: u64, seed: u64, epoch: u64) -> Vec<T> {
    let (chunk_order, starts) = chunk_plan(c, io, n, seed, epoch);
    let mut out: Vec<T> = Vec::with_capacity(n as usize);
    for k in 0..chunk_order.len() {
        let ch = chunk_order.get(k);
        out.extend((ch * c..((ch + 1) * c).min(n)).map(T::from_u64));
    }
    for (j, w) in starts.windows(2).enumerate() {
        let batch = &mut out[w[0] as usize..w[1] as usize];
        fisher_yates(batch, &mut rng(seed, stream::IO_BATCH, epoch, j as u64));
    }
    out
}

/// The IO batches of an epoch as ranges of global positions (the rows of IO batch `j` are
/// the permutation's values at those positions). Empty for orders other than
/// [`Order::Chunked`].
pub fn io_batches(
    order: &Order,
    n: u64,
    seed: u64,
    epoch: u64,
) -> Result<Vec<std::ops::Range<u64>>> {
    order.check()?;
    Ok(match *order {
        Order::Chunked {
            shuffle_chunk_size: c,
            io_batch_size: io,
        } => chunk_plan(c, io, n, seed, epoch)
            .1
            .windows(2)
            .map(|w| w[0]..w[1])
            .collect(),
        _ => Vec::new(),
    })
}

/// The epoch order of `n` indices.
pub fn epoch_order(order: &Order, n: u64, seed: u64, epoch: u64) -> Result<Permutation> {
    order.check()?;
    Ok(match *order {
        Order::Sequential => Permutation::Identity(n),
        Order::Shuffle => shuffled(n, &mut rng(seed, stream::SHUFFLE, epoch, 0)),
        Order::Chunked {
            shuffle_chunk_size: c,
            io_batch_size: io,
        } => {
            if n <= u32::MAX as u64 + 1 {
                Permutation::U32(chunked::<u32>(c, io, n, seed, epoch))
            } else {
                Permutation::U64(chunked::<u64>(c, io, n, seed, epoch))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn collect(p: &Permutation) -> Vec<u64> {
        (0..p.len()).map(|i| p.get(i)).collect()
    }

    fn is_permutation(v: &[u64]) -> bool {
        let mut s = v.to_vec();
        s.sort_unstable();
        s.iter().enumerate().all(|(i, &x)| x == i as u64)
    }

    #[test]
    fn large_scatter_shuffle_is_a_permutation() {
        let p = shuffled(300_000, &mut rng(1, 2, 3, 4));
        let v = collect(&p);
        assert!(is_permutation(&v));
        assert_ne!(v[..10], (0..10).collect::<Vec<u64>>()[..]);
    }

    #[test]
    fn scatter_positions_are_uniform() {
        // The scatter path with small buckets (16 of ~250): where the first and the last index
        // land over many seeds, chi-square against uniform over 8 bins.
        let n = 4_000u64;
        for target in [0, n - 1] {
            let mut bins = [0u32; 8];
            for seed in 0..1_600 {
                let v: Vec<u32> = scatter_shuffle_with(n, &mut rng(seed, 0, 0, 0), 0, 8);
                let pos = v.iter().position(|&x| x as u64 == target).unwrap() as u64;
                bins[(pos * 8 / n) as usize] += 1;
            }
            let chi2: f64 = bins
                .iter()
                .map(|&b| (b as f64 - 200.0).powi(2) / 200.0)
                .sum();
            assert!(chi2 < 24.3, "chi2 {chi2} bins {bins:?}"); // p = 0.001 for 7 dof
        }
        let v: Vec<u32> = scatter_shuffle_with(n, &mut rng(1, 0, 0, 0), 0, 8);
        assert!(is_permutation(
            &v.iter().map(|&x| x as u64).collect::<Vec<_>>()
        ));
    }

    #[test]
    fn chunked_requires_a_multiple() {
        let bad = Order::Chunked {
            shuffle_chunk_size: 3,
            io_batch_size: 10,
        };
        assert!(
            epoch_order(&bad, 100, 0, 0)
                .unwrap_err()
                .to_string()
                .contains("multiple")
        );
    }

    #[test]
    fn chunked_io_batches_hold_whole_chunks() {
        let (c, io, n) = (4u64, 12u64, 50u64);
        let order = Order::Chunked {
            shuffle_chunk_size: c,
            io_batch_size: io,
        };
        let v = collect(&epoch_order(&order, n, 9, 1).unwrap());
        assert!(is_permutation(&v));
        let batches = io_batches(&order, n, 9, 1).unwrap();
        assert_eq!(batches.len(), 5); // 13 chunks, 3 per IO batch
        // Only the last IO batch and the one holding the short last chunk can be smaller.
        assert!(batches.iter().filter(|r| r.end - r.start != io).count() <= 2);
        assert_eq!(batches.iter().map(|r| r.end - r.start).sum::<u64>(), n);
        for range in batches {
            let batch = &v[range.start as usize..range.end as usize];
            // Every chunk that appears in an IO batch appears whole.
            let mut chunks: Vec<u64> = batch.iter().map(|x| x / c).collect();
            chunks.sort_unstable();
            chunks.dedup();
            let rows: usize = chunks
                .iter()
                .map(|&ch| (((ch + 1) * c).min(n) - ch * c) as usize)
                .sum();
            assert_eq!(rows, batch.len());
        }
        let other = collect(&epoch_order(&order, n, 9, 2).unwrap());
        assert_ne!(v, other, "epochs differ");
    }

    proptest! {
        #[test]
        fn every_order_is_a_permutation(n in 0u64..5_000, seed in any::<u64>(), epoch in 0u64..4, c in 1u64..20, k in 1u64..5) {
            for order in [Order::Sequential, Order::Shuffle, Order::Chunked { shuffle_chunk_size: c, io_batch_size: c * k }] {
                let p = epoch_order(&order, n, seed, epoch).unwrap();
                prop_assert_eq!(p.len(), n);
                prop_assert!(is_permutation(&collect(&p)));
                prop_assert_eq!(&p, &epoch_order(&order, n, seed, epoch).unwrap());
            }
        }
    }
}
