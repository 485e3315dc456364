//! [`Cursor`]: the whole resume state of a plan, and [`Fingerprint`]: a hash of its settings.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::rng::splitmix64;
use crate::{Error, Result};

/// Where a plan's stream stands: the next sample to produce is `position` of `epoch`.
///
/// Five integers, O(1) to save and to restore. `stream_version` and `fingerprint` make
/// restoring into a plan with other settings (or another version of a random stream) an error
/// instead of a silent mismatch. Text form: `bb1-SEED-EPOCH-POSITION-VERSION-FINGERPRINT`
/// (fingerprint in hex).
///
/// ```
/// use biobatch_sampling::Cursor;
///
/// let c = Cursor { seed: 7, epoch: 2, position: 130, stream_version: 1, fingerprint: 0xabc };
/// let text = c.to_string();
/// assert_eq!(text, "bb1-7-2-130-1-0000000000000abc");
/// assert_eq!(text.parse::<Cursor>().unwrap(), c);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cursor {
    /// The plan's seed.
    pub seed: u64,
    /// The epoch.
    pub epoch: u64,
    /// The next position to produce in this rank's stream of the epoch.
    pub position: u64,
    /// The plan's random-stream version.
    pub stream_version: u32,
    /// Hash of the plan's settings ([`Fingerprint`]).
    pub fingerprint: u64,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bb1-{}-{}-{}-{}-{:016x}",
            self.seed, self.epoch, self.position, self.stream_version, self.fingerprint
        )
    }
}

impl FromStr for Cursor {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::Invalid(format!(
                "cursor `{s}` is not of the form bb1-SEED-EPOCH-POSITION-VERSION-FINGERPRINT"
            ))
        };
        let parts: Vec<&str> = s.trim().split('-').collect();
        if parts.len() != 6 || parts[0] != "bb1" {
            return Err(bad());
        }
        Ok(Cursor {
            seed: parts[1].parse().map_err(|_| bad())?,
            epoch: parts[2].parse().map_err(|_| bad())?,
            position: parts[3].parse().map_err(|_| bad())?,
            stream_version: parts[4].parse().map_err(|_| bad())?,
            fingerprint: u64::from_str_radix(parts[5], 16).map_err(|_| bad())?,
        })
    }
}

/// One materialised epoch of a plan: O(1) access to any position of this rank's stream.
pub trait EpochPlan: Send + Sync {
    /// Positions of this rank in the epoch.
    fn positions(&self) -> u64;

    /// The sample at position `p` (`p < positions()`).
    fn sample(&self, p: u64) -> crate::Sample;
}

/// What every plan kind offers: its stream identity, its length per epoch, its epochs, and
/// from those the cursor protocol.
pub trait Plan: Send + Sync {
    /// Seed, stream version and settings fingerprint.
    fn stream(&self) -> StreamId;

    /// Positions of this rank per epoch.
    fn positions(&self) -> u64;

    /// Epoch `epoch`, materialised once and shareable between workers.
    fn epoch_plan(&self, epoch: u64) -> Result<std::sync::Arc<dyn EpochPlan>>;

    /// The cursor for `(epoch, position)` of this rank's stream.
    fn cursor(&self, epoch: u64, position: u64) -> Cursor {
        self.stream().cursor(epoch, position)
    }

    /// Checks a cursor against this plan and returns the `(epoch, position)` to continue at;
    /// a cursor at the end of an epoch continues at the start of the next.
    fn resume(&self, cursor: &Cursor) -> Result<(u64, u64)> {
        self.stream().resume(cursor, self.positions())
    }
}

/// What identifies a plan's stream: its seed, the random-stream version of its kind and the
/// fingerprint of its settings. Plans hand out and check cursors through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamId {
    /// The seed.
    pub seed: u64,
    /// The plan kind's `STREAM_VERSION`.
    pub version: u32,
    /// [`Fingerprint`] of the plan's settings.
    pub fingerprint: u64,
}

impl StreamId {
    /// This stream tied to what a dataset serves: `fingerprint` (of its selection, files or
    /// served variables) folded into the settings' fingerprint under the name `kind`, so a
    /// cursor never resumes over other data.
    pub fn tied_to(self, kind: &str, fingerprint: u64) -> Self {
        StreamId {
            fingerprint: Fingerprint::new(kind)
                .u64(self.fingerprint)
                .u64(fingerprint)
                .value(),
            ..self
        }
    }

    /// The cursor for `(epoch, position)`.
    pub fn cursor(&self, epoch: u64, position: u64) -> Cursor {
        Cursor {
            seed: self.seed,
            epoch,
            position,
            stream_version: self.version,
            fingerprint: self.fingerprint,
        }
    }

    /// Checks `c` against this stream and returns the `(epoch, position)` to continue at, for
    /// epochs of `len` positions; a cursor at the end of an epoch continues at the start of
    /// the next.
    pub fn resume(&self, c: &Cursor, len: u64) -> Result<(u64, u64)> {
        if c.stream_version != self.version {
            return Err(Error::CursorMismatch {
                what: "stream version",
                cursor: c.stream_version.to_string(),
                plan: self.version.to_string(),
            });
        }
        if c.seed != self.seed {
            return Err(Error::CursorMismatch {
                what: "seed",
                cursor: c.seed.to_string(),
                plan: self.seed.to_string(),
            });
        }
        if c.fingerprint != self.fingerprint {
            return Err(Error::CursorMismatch {
                what: "settings fingerprint",
                cursor: format!("{:016x}", c.fingerprint),
                plan: format!("{:016x}", self.fingerprint),
            });
        }
        match c.position.cmp(&len) {
            std::cmp::Ordering::Less => Ok((c.epoch, c.position)),
            std::cmp::Ordering::Equal => Ok((c.epoch + 1, 0)),
            std::cmp::Ordering::Greater => Err(Error::OutOfRange {
                epoch: c.epoch,
                position: c.position,
                len,
            }),
        }
    }
}

/// A stable 64-bit hash of a plan's settings, fed field by field.
///
/// Stable across runs, platforms and Rust versions (no `std::hash`): a cursor written today
/// must be checkable tomorrow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint(u64);

impl Fingerprint {
    /// Starts a fingerprint for a plan kind.
    pub fn new(kind: &str) -> Self {
        Fingerprint(0x6262_6174_6368_0001).str(kind)
    }

    /// Mixes in an integer.
    pub fn u64(self, v: u64) -> Self {
        Fingerprint(splitmix64(self.0 ^ v))
    }

    /// Mixes in a float (by its bits).
    pub fn f64(self, v: f64) -> Self {
        self.u64(v.to_bits())
    }

    /// Mixes in a string (length first, so concatenations differ).
    pub fn str(self, s: &str) -> Self {
        let mut fp = self.u64(s.len() as u64);
        for chunk in s.as_bytes().chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            fp = fp.u64(u64::from_le_bytes(w));
        }
        fp
    }

    /// The hash value.
    pub fn value(self) -> u64 {
        self.0
    }

    /// Mixes in a rank partition: the world size, policy and layout, not the rank. Every
    /// rank's stream has the same positions, so a cursor saved by any rank resumes each rank
    /// of the same job at the same point of its own share (a data-parallel job saves one
    /// cursor, from rank 0, and resumes every rank from it).
    pub fn partition(self, p: &crate::Partition) -> Self {
        self.u64(p.world_size)
            .u64(p.policy as u64)
            .u64(p.layout as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rejects_garbage() {
        for s in [
            "",
            "bb2-1-2-3-4-5",
            "bb1-1-2-3-4",
            "bb1-x-2-3-4-5",
            "bb1-1-2-3-4-zz",
        ] {
            assert!(s.parse::<Cursor>().is_err(), "{s}");
        }
    }

    #[test]
    fn serde_round_trip() {
        let c = Cursor {
            seed: u64::MAX,
            epoch: 0,
            position: 0,
            stream_version: 3,
            fingerprint: 42,
        };
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Cursor>(&json).unwrap(), c);
        assert_eq!(c.to_string().parse::<Cursor>().unwrap(), c);
    }

    #[test]
    fn fingerprints_separate_fields() {
        let a = Fingerprint::new("x").str("ab").str("c").value();
        let b = Fingerprint::new("x").str("a").str("bc").value();
        assert_ne!(a, b);
        assert_ne!(
            Fingerprint::new("x").u64(1).value(),
            Fingerprint::new("y").u64(1).value()
        );
        assert_eq!(
            Fingerprint::new("x").f64(0.5).value(),
            Fingerprint::new("x").f64(0.5).value()
        );
    }
}
