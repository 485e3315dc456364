//! Partitioning an epoch's stream across ranks (processes) and worker threads.
//!
//! An epoch yields a global stream of `N` positions, identical on every rank (all ranks derive
//! it from the same seed). Rank `r` of `W` takes `N / W` positions with [`Policy::Drop`] (up to
//! `W - 1` trailing positions are dropped, as TileDB-SOMA-ML does) or `ceil(N / W)` with
//! [`Policy::Pad`] (positions past the end wrap around to the start, as torch's
//! `DistributedSampler` does). Every rank gets the same count either way.
//!
//! [`Layout::Strided`] gives rank `r` the global positions `r, r + W, r + 2W, …` (torch's
//! layout); [`Layout::Contiguous`] gives it one contiguous block, which keeps the reads of a
//! chunked shuffle local and disjoint across ranks.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// How uneven totals are made even across ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Drop the last `N mod W` positions.
    #[default]
    Drop,
    /// Wrap around to the start to fill the last round.
    Pad,
}

/// Which global positions a rank takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// `r, r + W, r + 2W, …`
    #[default]
    Strided,
    /// One contiguous block per rank.
    Contiguous,
}

/// This process's place among `world_size` ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// This rank (`0 ≤ rank < world_size`).
    pub rank: u64,
    /// Number of ranks.
    pub world_size: u64,
    /// Evening-out policy.
    pub policy: Policy,
    /// Position layout.
    pub layout: Layout,
}

impl Default for Partition {
    fn default() -> Self {
        Partition::single()
    }
}

impl Partition {
    /// One rank: the whole stream.
    pub fn single() -> Self {
        Partition {
            rank: 0,
            world_size: 1,
            policy: Policy::Drop,
            layout: Layout::Strided,
        }
    }

    /// Rank `rank` of `world_size`, checked.
    pub fn new(rank: u64, world_size: u64, policy: Policy, layout: Layout) -> Result<Self> {
        if world_size == 0 {
            return Err(Error::Distributed(
                "world_size must be at least 1 (the number of ranks)".into(),
            ));
        }
        if rank >= world_size {
            return Err(Error::Distributed(format!(
                "rank {rank} is not in 0..{world_size}"
            )));
        }
        Ok(Partition {
            rank,
            world_size,
            policy,
            layout,
        })
    }

    /// From the variables torchrun sets (`RANK`, `WORLD_SIZE`; `LOCAL_RANK` is checked for
    /// consistency). Without `WORLD_SIZE` this is a single rank.
    pub fn from_env(policy: Policy, layout: Layout) -> Result<Self> {
        Self::from_vars(|k| std::env::var(k).ok(), policy, layout)
    }

    /// [`Partition::from_env`] over any variable lookup (testable without touching the
    /// process environment).
    pub fn from_vars(
        var: impl Fn(&str) -> Option<String>,
        policy: Policy,
        layout: Layout,
    ) -> Result<Self> {
        let num = |k: &str| -> Result<Option<u64>> {
            match var(k) {
                None => Ok(None),
                Some(v) => v.trim().parse().map(Some).map_err(|_| {
                    Error::Distributed(format!("{k}={v:?} is not a non-negative integer"))
                }),
            }
        };
        let (rank, world, local) = (num("RANK")?, num("WORLD_SIZE")?, num("LOCAL_RANK")?);
        match (rank, world) {
            (None, None) => Ok(Partition {
                policy,
                layout,
                ..Partition::single()
            }),
            (Some(r), Some(w)) => {
                if let Some(l) = local
                    && l > r
                {
                    return Err(Error::Distributed(format!(
                        "LOCAL_RANK={l} exceeds RANK={r}"
                    )));
                }
                Partition::new(r, w, policy, layout)
            }
            (Some(_), None) => Err(Error::Distributed(
                "RANK is set but WORLD_SIZE is not".into(),
            )),
            (None, Some(_)) => Err(Error::Distributed(
                "WORLD_SIZE is set but RANK is not".into(),
            )),
        }
    }

    /// Number of positions this rank gets from a global stream of `n`.
    pub fn len(&self, n: u64) -> u64 {
        match self.policy {
            Policy::Drop => n / self.world_size,
            Policy::Pad if n == 0 => 0,
            Policy::Pad => n.div_ceil(self.world_size),
        }
    }

    /// Whether this rank gets nothing from a stream of `n`.
    pub fn is_empty(&self, n: u64) -> bool {
        self.len(n) == 0
    }

    /// The global position of this rank's position `q` (`q < self.len(n)`).
    #[inline]
    pub fn global(&self, q: u64, n: u64) -> u64 {
        let per_rank = self.len(n);
        let g = match self.layout {
            Layout::Strided => q * self.world_size + self.rank,
            Layout::Contiguous => self.rank * per_rank + q,
        };
        if g >= n { g % n } else { g }
    }
}

/// Batches `b` of an epoch of `num_batches` that worker `k` of `workers` computes:
/// `k, k + workers, …`. Batch contents depend only on the batch index, so the number of
/// workers changes speed, never content.
pub fn worker_batches(k: u64, workers: u64, num_batches: u64) -> impl Iterator<Item = u64> {
    (k..num_batches).step_by(workers.max(1) as usize)
}

/// Number of batches of `batch_size` in `len` positions.
pub fn num_batches(len: u64, batch_size: u64, drop_last: bool) -> u64 {
    if batch_size == 0 {
        return 0;
    }
    if drop_last {
        len / batch_size
    } else {
        len.div_ceil(batch_size)
    }
}

/// The positions of batch `b`.
pub fn batch_positions(b: u64, batch_size: u64, len: u64) -> std::ops::Range<u64> {
    let start = (b * batch_size).min(len);
    start..(start + batch_size).min(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn env_parsing() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let p = Partition::from_vars(vars(&[]), Policy::Drop, Layout::Strided).unwrap();
        assert_eq!((p.rank, p.world_size), (0, 1));
        let p = Partition::from_vars(
            vars(&[("RANK", "3"), ("WORLD_SIZE", "4"), ("LOCAL_RANK", "1")]),
            Policy::Pad,
            Layout::Strided,
        )
        .unwrap();
        assert_eq!((p.rank, p.world_size, p.policy), (3, 4, Policy::Pad));
        for bad in [
            &[("RANK", "4"), ("WORLD_SIZE", "4")][..],
            &[("RANK", "1")][..],
            &[("WORLD_SIZE", "2")][..],
            &[("RANK", "x"), ("WORLD_SIZE", "2")][..],
            &[("RANK", "0"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "1")][..],
        ] {
            let owned: Vec<(String, String)> = bad
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            let err = Partition::from_vars(
                move |k| owned.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
                Policy::Drop,
                Layout::Strided,
            );
            assert!(err.is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn ranks_are_disjoint_and_cover_what_the_policy_promises(
            n in 0u64..500, w in 1u64..9, pad in any::<bool>(), contiguous in any::<bool>(),
        ) {
            let policy = if pad { Policy::Pad } else { Policy::Drop };
            let layout = if contiguous { Layout::Contiguous } else { Layout::Strided };
            let mut seen = vec![0u32; n as usize];
            let mut lens = Vec::new();
            for r in 0..w {
                let p = Partition::new(r, w, policy, layout).unwrap();
                lens.push(p.len(n));
                for q in 0..p.len(n) {
                    seen[p.global(q, n) as usize] += 1;
                }
            }
            prop_assert!(lens.iter().all(|&l| l == lens[0]), "equal counts");
            let total: u64 = lens.iter().sum();
            match policy {
                Policy::Drop => {
                    prop_assert_eq!(total, n - n % w);
                    prop_assert!(seen.iter().all(|&c| c <= 1), "disjoint");
                }
                Policy::Pad => {
                    prop_assert_eq!(total, if n == 0 { 0 } else { n.div_ceil(w) * w });
                    prop_assert!(seen.iter().all(|&c| c >= 1), "everything covered");
                    let extra: u32 = seen.iter().map(|&c| c - 1).sum();
                    prop_assert_eq!(extra as u64, total - n);
                }
            }
        }

        #[test]
        fn worker_batches_cover_each_batch_once(nb in 0u64..100, workers in 1u64..9) {
            let mut all: Vec<u64> = (0..workers).flat_map(|k| worker_batches(k, workers, nb)).collect();
            all.sort_unstable();
            prop_assert_eq!(all, (0..nb).collect::<Vec<_>>());
        }
    }

    #[test]
    fn batching_arithmetic() {
        assert_eq!(num_batches(10, 3, false), 4);
        assert_eq!(num_batches(10, 3, true), 3);
        assert_eq!(batch_positions(3, 3, 10), 9..10);
        assert_eq!(num_batches(5, 0, false), 0);
    }
}
