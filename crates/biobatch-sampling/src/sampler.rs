//! [`Sampler`]: records → epoch order → augmentation → partition, with cursors.

use std::sync::Arc;

use rand_core::Rng;
use serde::{Deserialize, Serialize};

use crate::cursor::{EpochPlan, Fingerprint, Plan, StreamId};
use crate::order::{Order, Permutation, epoch_order};
use crate::partition::Partition;
use crate::rng::{below, rng, stream};
use crate::{Error, Result};

/// Which pool a sample comes from (mixtures draw from two).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The main records (e.g. peaks).
    #[default]
    Primary,
    /// The secondary pool (e.g. negatives).
    Negative,
}

/// One sample of a plan: which record, and its augmentation parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Sample {
    /// The pool.
    pub source: Source,
    /// Index of the record in its pool.
    pub index: u64,
    /// Start offset of the window inside its extracted span (`0..=2·max_jitter`).
    pub jitter: u32,
    /// Whether to reverse-complement.
    pub reverse_complement: bool,
}

/// Per-sample augmentation, drawn from `(seed, epoch, global position)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Augment {
    /// Jitter offsets are uniform on `0..=2·max_jitter` (inclusive at both ends).
    pub max_jitter: u32,
    /// Reverse-complement with probability 0.5.
    pub reverse_complement: bool,
}

impl Augment {
    /// The jitter and reverse-complement flag of global position `g` of `epoch`.
    #[inline]
    pub fn draw(&self, seed: u64, epoch: u64, g: u64, jitter_allowed: bool) -> (u32, bool) {
        if self.max_jitter == 0 && !self.reverse_complement {
            return (0, false);
        }
        let mut r = rng(seed, stream::AUGMENT, epoch, g);
        let jitter = if jitter_allowed && self.max_jitter > 0 {
            below(&mut r, 2 * self.max_jitter as u64 + 1) as u32
        } else {
            0
        };
        let rc = self.reverse_complement && r.next_u64() >> 63 == 1;
        (jitter, rc)
    }

    pub(crate) fn fingerprint(&self, fp: Fingerprint) -> Fingerprint {
        fp.u64(self.max_jitter as u64)
            .u64(self.reverse_complement as u64)
    }
}

/// Settings of a [`Sampler`] (serde, so a run can be written down and replayed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SamplerConfig {
    /// The seed; `None` draws one from the OS (refused when `world_size > 1`).
    pub seed: Option<u64>,
    /// Base order.
    pub order: Order,
    /// Augmentation.
    pub augment: Augment,
    /// Rank partition.
    pub partition: Partition,
}

/// A seed for runs that did not give one; refused under `world_size > 1`, where every rank
/// would draw its own and silently train on different orders.
pub(crate) fn resolve_seed(seed: Option<u64>, partition: &Partition) -> Result<u64> {
    match seed {
        Some(s) => Ok(s),
        None if partition.world_size > 1 => Err(Error::Distributed(format!(
            "no seed given with world_size = {}: every rank would shuffle differently; \
             pass the same explicit seed to every rank",
            partition.world_size
        ))),
        None => {
            use std::hash::{BuildHasher, RandomState};
            Ok(RandomState::new().hash_one(std::time::SystemTime::now()))
        }
    }
}

/// A plan over `n` records (or over a subset of record ids, e.g. one part of a
/// [`random_split`](crate::random_split)).
///
/// ```
/// use biobatch_sampling::{Order, Sampler, SamplerConfig};
///
/// let cfg = SamplerConfig { seed: Some(42), order: Order::Shuffle, ..Default::default() };
/// let s = Sampler::new(1_000, cfg).unwrap();
/// let e0 = s.epoch(0).unwrap();
/// assert_eq!(e0.len(), 1_000);
/// // A pure function of (seed, epoch, position): any worker can compute any sample.
/// assert_eq!(e0.get(17), s.epoch(0).unwrap().get(17));
/// assert_ne!((0..20).map(|p| e0.get(p).index).collect::<Vec<_>>(),
///            (0..20).map(|p| s.epoch(1).unwrap().get(p).index).collect::<Vec<_>>());
/// ```
#[derive(Debug, Clone)]
pub struct Sampler {
    n: u64,
    subset: Option<Arc<[u64]>>,
    seed: u64,
    config: SamplerConfig,
    fingerprint: u64,
}

impl Sampler {
    /// Version of the random streams of this plan kind. Bump on any change that alters which
    /// sample a `(seed, epoch, position)` gives.
    pub const STREAM_VERSION: u32 = 1;

    /// A plan over records `0..n`.
    pub fn new(n: u64, config: SamplerConfig) -> Result<Self> {
        Self::build(n, None, config)
    }

    /// A plan over the given record ids (in this order before shuffling).
    pub fn over(ids: impl Into<Arc<[u64]>>, config: SamplerConfig) -> Result<Self> {
        let ids = ids.into();
        Self::build(ids.len() as u64, Some(ids), config)
    }

    fn build(n: u64, subset: Option<Arc<[u64]>>, config: SamplerConfig) -> Result<Self> {
        config.order.check()?;
        let seed = resolve_seed(config.seed, &config.partition)?;
        let mut fp = Fingerprint::new("sampler").u64(n);
        fp = match config.order {
            Order::Sequential => fp.u64(0),
            Order::Shuffle => fp.u64(1),
            Order::Chunked {
                shuffle_chunk_size,
                io_batch_size,
            } => fp.u64(2).u64(shuffle_chunk_size).u64(io_batch_size),
        };
        fp = config.augment.fingerprint(fp);
        fp = fp.partition(&config.partition);
        if let Some(ids) = &subset {
            fp = ids.iter().fold(fp.u64(ids.len() as u64), |f, &i| f.u64(i));
        }
        Ok(Sampler {
            n,
            subset,
            seed,
            config,
            fingerprint: fp.value(),
        })
    }

    /// The seed in use (drawn at construction if none was given).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The settings.
    pub fn config(&self) -> &SamplerConfig {
        &self.config
    }

    /// Records in the plan.
    pub fn num_records(&self) -> u64 {
        self.n
    }

    /// The hash of the plan's settings.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// Positions this rank gets per epoch.
    pub fn len(&self) -> u64 {
        self.config.partition.len(self.n)
    }

    /// Whether this rank gets no positions.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The epoch's order, materialised once (O(n)); share it between workers.
    pub fn epoch(&self, epoch: u64) -> Result<EpochSampler> {
        Ok(EpochSampler {
            epoch,
            seed: self.seed,
            n: self.n,
            perm: Arc::new(epoch_order(&self.config.order, self.n, self.seed, epoch)?),
            subset: self.subset.clone(),
            augment: self.config.augment,
            partition: self.config.partition,
        })
    }
}

impl Plan for Sampler {
    fn stream(&self) -> StreamId {
        StreamId {
            seed: self.seed,
            version: Self::STREAM_VERSION,
            fingerprint: self.fingerprint,
        }
    }

    fn positions(&self) -> u64 {
        self.len()
    }

    fn epoch_plan(&self, epoch: u64) -> Result<Arc<dyn EpochPlan>> {
        Ok(Arc::new(self.epoch(epoch)?))
    }
}

impl EpochPlan for EpochSampler {
    fn positions(&self) -> u64 {
        self.len()
    }

    fn sample(&self, p: u64) -> Sample {
        self.get(p)
    }
}

/// One epoch of a [`Sampler`], materialised: O(1) random access to any position.
#[derive(Debug, Clone)]
pub struct EpochSampler {
    epoch: u64,
    seed: u64,
    n: u64,
    perm: Arc<Permutation>,
    subset: Option<Arc<[u64]>>,
    augment: Augment,
    partition: Partition,
}

impl EpochSampler {
    /// The epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Positions of this rank in the epoch.
    pub fn len(&self) -> u64 {
        self.partition.len(self.n)
    }

    /// Whether this rank has no positions.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The global epoch position of this rank's position `p`.
    pub fn global(&self, p: u64) -> u64 {
        self.partition.global(p, self.n)
    }

    /// The sample at this rank's position `p` (`p < len`).
    #[inline]
    pub fn get(&self, p: u64) -> Sample {
        let g = self.partition.global(p, self.n);
        let local = self.perm.get(g);
        let index = match &self.subset {
            Some(ids) => ids[local as usize],
            None => local,
        };
        let (jitter, reverse_complement) = self.augment.draw(self.seed, self.epoch, g, true);
        Sample {
            source: Source::Primary,
            index,
            jitter,
            reverse_complement,
        }
    }

    /// The sample at `p`, or an error if `p` is outside the epoch.
    pub fn try_get(&self, p: u64) -> Result<Sample> {
        if p >= self.len() {
            return Err(Error::OutOfRange {
                epoch: self.epoch,
                position: p,
                len: self.len(),
            });
        }
        Ok(self.get(p))
    }

    /// All samples from `p` to the end of the epoch.
    pub fn iter_from(&self, p: u64) -> impl Iterator<Item = Sample> + '_ {
        (p..self.len()).map(|q| self.get(q))
    }

    /// The epoch's global order (before partitioning).
    pub fn permutation(&self) -> &Permutation {
        &self.perm
    }

    /// The global stream's IO batches (ranges of global positions) for a chunked order;
    /// empty otherwise. A single-cell reader fetches one IO batch at a time.
    pub fn io_batches(&self, order: &Order) -> Result<Vec<std::ops::Range<u64>>> {
        crate::order::io_batches(order, self.n, self.seed, self.epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Cursor;
    use crate::partition::{Layout, Policy};
    use proptest::prelude::*;

    fn cfg(seed: u64) -> SamplerConfig {
        SamplerConfig {
            seed: Some(seed),
            order: Order::Shuffle,
            augment: Augment {
                max_jitter: 3,
                reverse_complement: true,
            },
            partition: Partition::single(),
        }
    }

    #[test]
    fn unseeded_multi_rank_is_refused() {
        let mut c = cfg(0);
        c.seed = None;
        c.partition = Partition::new(0, 2, Policy::Drop, Layout::Strided).unwrap();
        let err = Sampler::new(10, c).unwrap_err();
        assert!(matches!(err, Error::Distributed(_)), "{err}");
        c.partition = Partition::single();
        let a = Sampler::new(10, c).unwrap();
        // The drawn seed is recorded, so the run can be replayed.
        let mut replay = c;
        replay.seed = Some(a.seed());
        let b = Sampler::new(10, replay).unwrap();
        assert_eq!(a.epoch(0).unwrap().get(3), b.epoch(0).unwrap().get(3));
    }

    #[test]
    fn cursor_mismatches_are_errors() {
        let s = Sampler::new(100, cfg(1)).unwrap();
        let c = s.cursor(2, 50);
        assert_eq!(s.resume(&c).unwrap(), (2, 50));
        assert_eq!(s.resume(&s.cursor(2, 100)).unwrap(), (3, 0));
        assert!(matches!(
            s.resume(&s.cursor(2, 101)),
            Err(Error::OutOfRange { .. })
        ));
        let other = Sampler::new(101, cfg(1)).unwrap();
        assert!(matches!(
            other.resume(&c),
            Err(Error::CursorMismatch {
                what: "settings fingerprint",
                ..
            })
        ));
        let reseeded = Sampler::new(100, cfg(2)).unwrap();
        assert!(matches!(
            reseeded.resume(&c),
            Err(Error::CursorMismatch { what: "seed", .. })
        ));
        let mut old = c;
        old.stream_version = 0;
        assert!(matches!(
            s.resume(&old),
            Err(Error::CursorMismatch {
                what: "stream version",
                ..
            })
        ));
        let mut no_rc = cfg(1);
        no_rc.augment.reverse_complement = false;
        assert!(Sampler::new(100, no_rc).unwrap().resume(&c).is_err());
    }

    #[test]
    fn a_cursor_of_any_rank_resumes_every_rank_of_the_job() {
        let rank = |r: u64, w: u64| {
            let mut c = cfg(4);
            c.partition = Partition::new(r, w, Policy::Drop, Layout::Strided).unwrap();
            Sampler::new(100, c).unwrap()
        };
        let (r0, r1, r2) = (rank(0, 3), rank(1, 3), rank(2, 3));
        let saved = r0.cursor(1, 20);
        for s in [&r0, &r1, &r2] {
            assert_eq!(s.resume(&saved).unwrap(), (1, 20));
        }
        // Each rank goes on with its own share: other samples than rank 0's.
        assert_ne!(r1.epoch(1).unwrap().get(20), r0.epoch(1).unwrap().get(20));
        // Another world size is another job.
        assert!(matches!(
            rank(0, 2).resume(&saved),
            Err(Error::CursorMismatch {
                what: "settings fingerprint",
                ..
            })
        ));
    }

    #[test]
    fn jitter_reaches_both_ends_and_rc_is_fair() {
        let s = Sampler::new(20_000, cfg(5)).unwrap();
        let e = s.epoch(0).unwrap();
        let mut counts = [0u32; 7];
        let mut rc = 0;
        for p in 0..e.len() {
            let x = e.get(p);
            counts[x.jitter as usize] += 1;
            rc += x.reverse_complement as u32;
        }
        assert!(counts.iter().all(|&c| c > 2_500), "{counts:?}"); // ~2857 each
        assert!((9_700..10_300).contains(&rc), "{rc}");
    }

    #[test]
    fn subset_maps_to_record_ids() {
        let ids: Vec<u64> = vec![10, 20, 30, 40];
        let s = Sampler::over(ids.clone(), cfg(3)).unwrap();
        let e = s.epoch(0).unwrap();
        let mut got: Vec<u64> = (0..4).map(|p| e.get(p).index).collect();
        got.sort_unstable();
        assert_eq!(got, ids);
    }

    proptest! {
        #[test]
        fn resume_at_every_position_reproduces_the_stream(n in 1u64..60, seed in any::<u64>(), w in 1u64..4, pad in any::<bool>()) {
            let mut c = cfg(seed);
            c.partition = Partition::new(w - 1, w, if pad { Policy::Pad } else { Policy::Drop }, Layout::Strided).unwrap();
            let s = Sampler::new(n, c).unwrap();
            // The uninterrupted stream over two epochs.
            let full: Vec<(u64, Sample)> = (0..2).flat_map(|e| {
                let ep = s.epoch(e).unwrap();
                (0..ep.len()).map(move |p| (e, ep.get(p))).collect::<Vec<_>>()
            }).collect();
            let mut k = 0;
            for e in 0..2 {
                for p in 0..=s.len() {
                    // A cursor saved now, parsed back from text, restored into a new plan.
                    let cursor: Cursor = s.cursor(e, p).to_string().parse().unwrap();
                    let restored = Sampler::new(n, c).unwrap();
                    let (re, rp) = restored.resume(&cursor).unwrap();
                    let rest: Vec<(u64, Sample)> = (re..2).flat_map(|e2| {
                        let ep = restored.epoch(e2).unwrap();
                        let from = if e2 == re { rp } else { 0 };
                        (from..ep.len()).map(move |q| (e2, ep.get(q))).collect::<Vec<_>>()
                    }).collect();
                    let skip = (k + p as usize).min(full.len());
                    prop_assert_eq!(&rest[..], &full[skip..]);
                }
                k += s.len() as usize;
            }
        }
    }
}
