//! [`Sliced`]: a contiguous range of another plan's positions, as a plan of its own (what a
//! trainer does to split one loader across devices).

use std::sync::Arc;

use crate::cursor::{EpochPlan, Fingerprint, Plan, StreamId};
use crate::{Error, Result, Sample};

/// Positions `start..end` of `inner`'s epochs.
#[derive(Clone)]
pub struct Sliced {
    inner: Arc<dyn Plan>,
    start: u64,
    end: u64,
}

impl std::fmt::Debug for Sliced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sliced")
            .field("start", &self.start)
            .field("end", &self.end)
            .finish()
    }
}

impl Sliced {
    /// Positions `start..end` (clamped to the inner plan's length) of `inner`.
    pub fn new(inner: Arc<dyn Plan>, start: u64, end: u64) -> Result<Self> {
        let n = inner.positions();
        let end = end.min(n);
        if start > end {
            return Err(Error::Invalid(format!(
                "slice {start}..{end} of a plan with {n} positions"
            )));
        }
        Ok(Sliced { inner, start, end })
    }
}

struct SlicedEpoch {
    inner: Arc<dyn EpochPlan>,
    start: u64,
    len: u64,
}

impl EpochPlan for SlicedEpoch {
    fn positions(&self) -> u64 {
        self.len
    }

    fn sample(&self, p: u64) -> Sample {
        self.inner.sample(self.start + p)
    }
}

impl Plan for Sliced {
    fn stream(&self) -> StreamId {
        let inner = self.inner.stream();
        StreamId {
            fingerprint: Fingerprint::new("slice")
                .u64(inner.fingerprint)
                .u64(self.start)
                .u64(self.end)
                .value(),
            ..inner
        }
    }

    fn positions(&self) -> u64 {
        self.end - self.start
    }

    fn epoch_plan(&self, epoch: u64) -> Result<Arc<dyn EpochPlan>> {
        Ok(Arc::new(SlicedEpoch {
            inner: self.inner.epoch_plan(epoch)?,
            start: self.start,
            len: self.end - self.start,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Sampler, SamplerConfig};

    #[test]
    fn slices_partition_the_epoch() {
        let plan: Arc<dyn Plan> = Arc::new(
            Sampler::new(
                100,
                SamplerConfig {
                    seed: Some(4),
                    ..Default::default()
                },
            )
            .unwrap(),
        );
        let whole = plan.epoch_plan(2).unwrap();
        let a = Sliced::new(Arc::clone(&plan), 0, 40).unwrap();
        let b = Sliced::new(Arc::clone(&plan), 40, 1_000).unwrap();
        assert_eq!((a.positions(), b.positions()), (40, 60));
        let (ea, eb) = (a.epoch_plan(2).unwrap(), b.epoch_plan(2).unwrap());
        let joined: Vec<Sample> = (0..40)
            .map(|p| ea.sample(p))
            .chain((0..60).map(|p| eb.sample(p)))
            .collect();
        assert_eq!(
            joined,
            (0..100).map(|p| whole.sample(p)).collect::<Vec<_>>()
        );
        assert_ne!(a.stream().fingerprint, b.stream().fingerprint);
        assert!(a.resume(&b.cursor(0, 0)).is_err());
        assert!(Sliced::new(plan, 50, 10).is_err());
    }
}
