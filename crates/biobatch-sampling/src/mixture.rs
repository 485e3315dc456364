//! Peak/negative mixtures, with the semantics of cherimoya's `PeakNegativeSampler`.
//!
//! Per epoch, with `P` peaks and `floor(P · negative_ratio)` negative slots:
//! - every peak appears exactly once, shuffled (or in input order with `shuffle = false`);
//! - the negative slots sit at uniformly random positions among the `P + floor(P·ratio)`;
//! - each negative slot draws a negative uniformly, with replacement;
//! - peaks get a jitter offset uniform on `0..=2·max_jitter` (both ends inclusive: a peer
//!   never reached the upper end), negatives get 0;
//! - with `reverse_complement`, every sample is flipped with probability 0.5.
//!
//! We follow these semantics, not numpy's bit stream: the same seed gives the same epoch here,
//! not the same epoch as the peer.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::cursor::{EpochPlan, Fingerprint, Plan, StreamId};
use crate::order::{Permutation, shuffled};
use crate::partition::Partition;
use crate::rng::{below, rng, stream};
use crate::sampler::{Augment, Sample, Source, resolve_seed};
use crate::{Error, Result};

/// Settings of a [`Mixture`].
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct MixtureConfig {
    /// The seed; `None` draws one (refused when `world_size > 1`).
    pub seed: Option<u64>,
    /// Negative slots per peak (`floor(P · ratio)` per epoch).
    pub negative_ratio: f64,
    /// Shuffle the peaks every epoch.
    pub shuffle: bool,
    /// Jitter (peaks only) and reverse complement (all samples).
    pub augment: Augment,
    /// Rank partition.
    pub partition: Partition,
}

/// A peak/negative mixture plan.
///
/// ```
/// use biobatch_sampling::{Augment, Mixture, MixtureConfig, Source};
///
/// let cfg = MixtureConfig {
///     seed: Some(1),
///     negative_ratio: 0.5,
///     shuffle: true,
///     augment: Augment { max_jitter: 128, reverse_complement: true },
///     ..Default::default()
/// };
/// let m = Mixture::new(100, 1_000, cfg).unwrap();
/// let e = m.epoch(0).unwrap();
/// assert_eq!(e.len(), 150);
/// let negatives = (0..e.len()).filter(|&p| e.get(p).source == Source::Negative).count();
/// assert_eq!(negatives, 50);
/// ```
#[derive(Debug, Clone)]
pub struct Mixture {
    n_peaks: u64,
    n_negatives: u64,
    seed: u64,
    config: MixtureConfig,
    fingerprint: u64,
}

impl Mixture {
    /// Version of this plan's random streams; bump on any change to them.
    pub const STREAM_VERSION: u32 = 1;

    /// The most positions an epoch may have: its order is held as one `u64` per position.
    pub const MAX_EPOCH_LEN: u64 = 1 << 32;

    /// Positions per epoch of `n_peaks` peaks at `negative_ratio`, checked: the ratio finite
    /// and ≥ 0, the epoch at most [`Self::MAX_EPOCH_LEN`] positions (so no ratio can wrap it
    /// around or make an epoch that cannot be held).
    pub fn checked_epoch_len(n_peaks: u64, negative_ratio: f64) -> Result<u64> {
        let r = negative_ratio;
        if !(r.is_finite() && r >= 0.0) {
            return Err(Error::Invalid(format!(
                "negative_ratio must be a finite number ≥ 0, got {r}"
            )));
        }
        let len = n_peaks as f64 + (n_peaks as f64 * r).floor();
        if len > Self::MAX_EPOCH_LEN as f64 {
            return Err(Error::Invalid(format!(
                "negative_ratio {r} with {n_peaks} peaks makes an epoch of {len:.0} positions; \
                 at most 2^32 are possible"
            )));
        }
        Ok(len as u64)
    }

    /// A mixture of `n_peaks` peaks and a pool of `n_negatives` negatives.
    pub fn new(n_peaks: u64, n_negatives: u64, config: MixtureConfig) -> Result<Self> {
        let r = config.negative_ratio;
        let slots = Self::checked_epoch_len(n_peaks, r)? - n_peaks;
        if slots > 0 && n_negatives == 0 {
            return Err(Error::Invalid(format!(
                "negative_ratio is {r} but there are no negatives to draw from"
            )));
        }
        let seed = resolve_seed(config.seed, &config.partition)?;
        let p = &config.partition;
        let fp = config
            .augment
            .fingerprint(
                Fingerprint::new("mixture")
                    .u64(n_peaks)
                    .u64(n_negatives)
                    .f64(r)
                    .u64(config.shuffle as u64),
            )
            .partition(p);
        Ok(Mixture {
            n_peaks,
            n_negatives,
            seed,
            config,
            fingerprint: fp.value(),
        })
    }

    /// Negative slots per epoch: `floor(P · negative_ratio)`.
    pub fn negative_slots(&self) -> u64 {
        (self.n_peaks as f64 * self.config.negative_ratio).floor() as u64
    }

    /// Global positions per epoch (peaks + negative slots).
    pub fn epoch_len(&self) -> u64 {
        self.n_peaks + self.negative_slots()
    }

    /// Positions this rank gets per epoch.
    pub fn len(&self) -> u64 {
        self.config.partition.len(self.epoch_len())
    }

    /// Whether this rank gets nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The seed in use.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The hash of the plan's settings.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The epoch, materialised (O(P)).
    pub fn epoch(&self, epoch: u64) -> Result<MixtureEpoch> {
        let n = self.epoch_len();
        let peak_order = if self.config.shuffle {
            shuffled(self.n_peaks, &mut rng(self.seed, stream::SHUFFLE, epoch, 0))
        } else {
            Permutation::Identity(self.n_peaks)
        };
        // Which slots hold negatives: those whose layout rank is >= P (a uniform subset).
        let layout = shuffled(n, &mut rng(self.seed, stream::MIXTURE, epoch, 0));
        let mut slots = Vec::with_capacity(n as usize);
        let mut next_peak = 0u64;
        for s in 0..n {
            if layout.get(s) < self.n_peaks {
                slots.push(peak_order.get(next_peak));
                next_peak += 1;
            } else {
                let neg = below(
                    &mut rng(self.seed, stream::MIXTURE, epoch, 1 + s),
                    self.n_negatives,
                );
                slots.push(NEGATIVE | neg);
            }
        }
        Ok(MixtureEpoch {
            epoch,
            seed: self.seed,
            slots: slots.into(),
            augment: self.config.augment,
            partition: self.config.partition,
        })
    }
}

impl Plan for Mixture {
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

impl EpochPlan for MixtureEpoch {
    fn positions(&self) -> u64 {
        self.len()
    }

    fn sample(&self, p: u64) -> Sample {
        self.get(p)
    }
}

const NEGATIVE: u64 = 1 << 63;

/// One epoch of a [`Mixture`].
#[derive(Debug, Clone)]
pub struct MixtureEpoch {
    epoch: u64,
    seed: u64,
    slots: Arc<[u64]>,
    augment: Augment,
    partition: Partition,
}

impl MixtureEpoch {
    /// Positions of this rank.
    pub fn len(&self) -> u64 {
        self.partition.len(self.slots.len() as u64)
    }

    /// Whether this rank has none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sample at this rank's position `p` (`p < len`).
    #[inline]
    pub fn get(&self, p: u64) -> Sample {
        let g = self.partition.global(p, self.slots.len() as u64);
        let slot = self.slots[g as usize];
        let negative = slot & NEGATIVE != 0;
        let (jitter, reverse_complement) = self.augment.draw(self.seed, self.epoch, g, !negative);
        Sample {
            source: if negative {
                Source::Negative
            } else {
                Source::Primary
            },
            index: slot & !NEGATIVE,
            jitter,
            reverse_complement,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cfg(seed: u64, ratio: f64, shuffle: bool) -> MixtureConfig {
        MixtureConfig {
            seed: Some(seed),
            negative_ratio: ratio,
            shuffle,
            augment: Augment {
                max_jitter: 2,
                reverse_complement: true,
            },
            partition: Partition::single(),
        }
    }

    #[test]
    fn ratio_without_negatives_is_an_error() {
        assert!(Mixture::new(10, 0, cfg(0, 0.5, true)).is_err());
        assert!(Mixture::new(10, 0, cfg(0, 0.0, true)).is_ok());
        assert!(Mixture::new(10, 5, cfg(0, -1.0, true)).is_err());
        assert!(Mixture::new(10, 5, cfg(0, f64::NAN, true)).is_err());
    }

    #[test]
    fn unshuffled_peaks_keep_input_order() {
        let m = Mixture::new(50, 10, cfg(4, 0.3, false)).unwrap();
        let e = m.epoch(0).unwrap();
        let peaks: Vec<u64> = (0..e.len())
            .map(|p| e.get(p))
            .filter(|s| s.source == Source::Primary)
            .map(|s| s.index)
            .collect();
        assert_eq!(peaks, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn jitter_bounds_are_both_reached_and_negatives_are_not_jittered() {
        let m = Mixture::new(3_000, 100, cfg(8, 0.5, true)).unwrap();
        let e = m.epoch(1).unwrap();
        let (mut seen, mut neg_rc) = ([0u32; 5], 0);
        for p in 0..e.len() {
            let s = e.get(p);
            match s.source {
                Source::Primary => seen[s.jitter as usize] += 1,
                Source::Negative => {
                    assert_eq!(s.jitter, 0);
                    neg_rc += s.reverse_complement as u32;
                }
            }
        }
        assert!(seen.iter().all(|&c| c > 450), "{seen:?}"); // 600 expected each
        assert!((600..900).contains(&neg_rc), "{neg_rc}"); // 750 expected
    }

    proptest! {
        #[test]
        fn every_peak_once_and_exact_negative_count(
            peaks in 0u64..300, negs in 1u64..50, ratio in 0.0f64..2.0, seed in any::<u64>(), epoch in 0u64..3, shuffle in any::<bool>(),
        ) {
            let m = Mixture::new(peaks, negs, cfg(seed, ratio, shuffle)).unwrap();
            let e = m.epoch(epoch).unwrap();
            let expected_neg = (peaks as f64 * ratio).floor() as u64;
            prop_assert_eq!(e.len(), peaks + expected_neg);
            let mut seen = vec![0u32; peaks as usize];
            let mut n_neg = 0;
            for p in 0..e.len() {
                let s = e.get(p);
                match s.source {
                    Source::Primary => {
                        seen[s.index as usize] += 1;
                        prop_assert!(s.jitter <= 4);
                    }
                    Source::Negative => {
                        n_neg += 1;
                        prop_assert!(s.index < negs);
                    }
                }
            }
            prop_assert!(seen.iter().all(|&c| c == 1));
            prop_assert_eq!(n_neg, expected_neg);
        }
    }
}
