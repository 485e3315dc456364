//! Weighted sampling with replacement (e.g. class-balanced cell types).
//!
//! Vose's alias table is built once from the weights; position `p` of epoch `e` draws from a
//! generator derived from `(seed, e, p)`, so any position is computed in O(1) and the epoch
//! length is the user's choice.

use serde::{Deserialize, Serialize};

use crate::cursor::{EpochPlan, Fingerprint, Plan, StreamId};
use crate::partition::Partition;
use crate::rng::{below, rng, stream, unit_f64};
use crate::sampler::{Sample, Source, resolve_seed};
use crate::{Error, Result};

/// Settings of a [`Weighted`] plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WeightedConfig {
    /// The seed; `None` draws one (refused when `world_size > 1`).
    pub seed: Option<u64>,
    /// Samples per epoch (across all ranks).
    pub epoch_len: u64,
    /// Rank partition.
    pub partition: Partition,
}

/// Sampling records with probability proportional to their weight, with replacement.
#[derive(Debug, Clone)]
pub struct Weighted {
    prob: Vec<f64>,
    alias: Vec<u64>,
    seed: u64,
    config: WeightedConfig,
    fingerprint: u64,
}

impl Weighted {
    /// Version of this plan's random streams; bump on any change to them.
    pub const STREAM_VERSION: u32 = 1;

    /// A plan from per-record weights (non-negative, finite, not all zero).
    pub fn new(weights: &[f64], config: WeightedConfig) -> Result<Self> {
        if let Some((i, w)) = weights
            .iter()
            .enumerate()
            .find(|(_, w)| !(w.is_finite() && **w >= 0.0))
        {
            return Err(Error::Invalid(format!(
                "weight {i} is {w}; weights must be finite and ≥ 0"
            )));
        }
        let total: f64 = weights.iter().sum();
        if weights.is_empty() || total <= 0.0 {
            return Err(Error::Invalid("weights are empty or all zero".into()));
        }
        let n = weights.len();
        // Vose's alias method.
        let mut prob: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut alias = vec![0u64; n];
        let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| prob[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            alias[s] = l as u64;
            prob[l] -= 1.0 - prob[s];
            if prob[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        for i in large.into_iter().chain(small) {
            prob[i] = 1.0;
        }
        let seed = resolve_seed(config.seed, &config.partition)?;
        let p = &config.partition;
        let fp = weights
            .iter()
            .fold(Fingerprint::new("weighted").u64(n as u64), |f, &w| f.f64(w))
            .u64(config.epoch_len)
            .partition(p);
        Ok(Weighted {
            prob,
            alias,
            seed,
            config,
            fingerprint: fp.value(),
        })
    }

    /// Weights that balance classes: each record gets `1 / (records of its class)`.
    pub fn class_balanced_weights(labels: &[u64]) -> Vec<f64> {
        let mut counts = std::collections::HashMap::new();
        for &l in labels {
            *counts.entry(l).or_insert(0u64) += 1;
        }
        labels.iter().map(|l| 1.0 / counts[l] as f64).collect()
    }

    /// Positions this rank gets per epoch.
    pub fn len(&self) -> u64 {
        self.config.partition.len(self.config.epoch_len)
    }

    /// Whether this rank gets nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The seed in use.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The sample at this rank's position `p` of `epoch`.
    pub fn get(&self, epoch: u64, p: u64) -> Sample {
        let g = self.config.partition.global(p, self.config.epoch_len);
        let mut r = rng(self.seed, stream::WEIGHTED, epoch, g);
        let i = below(&mut r, self.prob.len() as u64) as usize;
        let index = if unit_f64(&mut r) < self.prob[i] {
            i as u64
        } else {
            self.alias[i]
        };
        Sample {
            source: Source::Primary,
            index,
            jitter: 0,
            reverse_complement: false,
        }
    }
}

impl Plan for Weighted {
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

    fn epoch_plan(&self, epoch: u64) -> Result<std::sync::Arc<dyn EpochPlan>> {
        Ok(std::sync::Arc::new(WeightedEpoch {
            plan: self.clone(),
            epoch,
        }))
    }
}

/// One epoch of a [`Weighted`] plan (draws are computed per position; nothing is stored).
#[derive(Debug, Clone)]
struct WeightedEpoch {
    plan: Weighted,
    epoch: u64,
}

impl EpochPlan for WeightedEpoch {
    fn positions(&self) -> u64 {
        self.plan.len()
    }

    fn sample(&self, p: u64) -> Sample {
        self.plan.get(self.epoch, p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequencies_follow_weights() {
        let w = Weighted::new(
            &[1.0, 2.0, 0.0, 5.0],
            WeightedConfig {
                seed: Some(3),
                epoch_len: 80_000,
                partition: Partition::single(),
            },
        )
        .unwrap();
        let mut counts = [0u32; 4];
        for p in 0..w.len() {
            counts[w.get(0, p).index as usize] += 1;
        }
        assert_eq!(counts[2], 0);
        for (c, expected) in [
            (counts[0], 10_000.0),
            (counts[1], 20_000.0),
            (counts[3], 50_000.0),
        ] {
            assert!(
                (c as f64 - expected).abs() < 5.0 * expected.sqrt() * 1.2,
                "{counts:?}"
            );
        }
    }

    #[test]
    fn class_balance_equalises_classes() {
        let labels: Vec<u64> = (0..1000).map(|i| if i < 900 { 0 } else { 1 }).collect();
        let weights = Weighted::class_balanced_weights(&labels);
        let w = Weighted::new(
            &weights,
            WeightedConfig {
                seed: Some(9),
                epoch_len: 20_000,
                partition: Partition::single(),
            },
        )
        .unwrap();
        let minority = (0..w.len())
            .filter(|&p| labels[w.get(0, p).index as usize] == 1)
            .count();
        assert!((9_500..10_500).contains(&minority), "{minority}");
    }

    #[test]
    fn bad_weights_are_refused() {
        let cfg = WeightedConfig {
            seed: Some(1),
            epoch_len: 10,
            partition: Partition::single(),
        };
        assert!(Weighted::new(&[], cfg).is_err());
        assert!(Weighted::new(&[0.0, 0.0], cfg).is_err());
        assert!(Weighted::new(&[1.0, -1.0], cfg).is_err());
        assert!(Weighted::new(&[1.0, f64::INFINITY], cfg).is_err());
    }

    #[test]
    fn epochs_differ_and_repeat() {
        let cfg = WeightedConfig {
            seed: Some(1),
            epoch_len: 100,
            partition: Partition::single(),
        };
        let w = Weighted::new(&[1.0; 50], cfg).unwrap();
        let e0: Vec<u64> = (0..100).map(|p| w.get(0, p).index).collect();
        let e1: Vec<u64> = (0..100).map(|p| w.get(1, p).index).collect();
        assert_ne!(e0, e1);
        assert_eq!(e0, (0..100).map(|p| w.get(0, p).index).collect::<Vec<_>>());
        assert_eq!(w.resume(&w.cursor(0, 100)).unwrap(), (1, 0));
    }
}
