//! A stable 64-bit digest of batches: the same value on every platform, run and worker count
//! for the same content, so that two runs (or a run and its resume) can be compared batch by
//! batch. Not cryptographic; 8 bytes per mixing step.

use crate::{Batch, Data};

const K: u64 = 0x9E37_79B9_7F4A_7C15;
const SEED: u64 = 0xcbf2_9ce4_8422_2325;

/// The mixing state of [`Batch::digest`] and [`digest_ids`].
#[derive(Debug, Clone, Copy)]
struct Mixer(u64);

impl Mixer {
    fn word(&mut self, w: u64) {
        self.0 = (self.0 ^ w).wrapping_mul(K).rotate_left(29);
    }

    /// Bytes in little-endian words, the tail padded and tagged with the length.
    fn bytes(&mut self, v: &[u8]) {
        let mut chunks = v.chunks_exact(8);
        for c in &mut chunks {
            self.word(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        let mut tail = [0u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.word(u64::from_le_bytes(tail) ^ ((v.len() as u64) << 56));
    }

    fn data(&mut self, d: &Data) {
        match d {
            Data::U8(v) => self.bytes(v),
            Data::F32(v) => {
                let mut pairs = v.chunks_exact(2);
                for p in &mut pairs {
                    self.word((p[0].to_bits() as u64) << 32 | p[1].to_bits() as u64);
                }
                for x in pairs.remainder() {
                    self.word(x.to_bits() as u64);
                }
            }
            Data::I64(v) => v.iter().for_each(|&x| self.word(x as u64)),
            Data::I32(v) => v.iter().for_each(|&x| self.word(x as u32 as u64)),
            Data::F64(v) => v.iter().for_each(|&x| self.word(x.to_bits())),
            Data::Bool(v) => v.iter().for_each(|&x| self.word(x as u64)),
            Data::Str(v) => v.iter().for_each(|s| self.bytes(s.as_bytes())),
            Data::I8(v) => v.iter().for_each(|&x| self.word(x as u8 as u64)),
            Data::F16(v) => v.iter().for_each(|x| self.word(x.to_bits() as u64)),
        }
    }
}

impl Batch {
    /// A stable hash of every leaf's path and values, in path order (see the
    /// [module docs](self)). Equal batches give equal digests; any changed value, shape-
    /// preserving or not, almost surely changes it.
    ///
    /// ```
    /// use biobatch_core::{Array, Batch, Node};
    ///
    /// let a = Batch::new(Node::from_iter([("x", Array::new(vec![2], vec![1.0f32, 2.0])?)]));
    /// let mut b = a.clone();
    /// assert_eq!(a.digest(), b.digest());
    /// b.array_mut("inputs/x")?.as_slice_mut::<f32>()?[1] = 2.5;
    /// assert_ne!(a.digest(), b.digest());
    /// # Ok::<(), biobatch_core::Error>(())
    /// ```
    pub fn digest(&self) -> u64 {
        let mut m = Mixer(SEED);
        for (path, a) in self.leaves() {
            m.bytes(path.as_bytes());
            m.data(a.data());
        }
        m.0
    }
}

/// A stable hash of a list of integers (a batch's record or cell ids), mixed as
/// [`Batch::digest`] mixes `i64` values.
pub fn digest_ids(ids: &[i64]) -> u64 {
    let mut m = Mixer(SEED);
    ids.iter().for_each(|&x| m.word(x as u64));
    m.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Array, Node};

    #[test]
    fn digests_see_paths_values_and_order() {
        let batch = |k: &str, v: Vec<i64>| {
            Batch::new(Node::from_iter([(
                k,
                Array::new(vec![v.len()], v).unwrap(),
            )]))
        };
        let a = batch("x", vec![1, 2, 3]);
        assert_eq!(a.digest(), batch("x", vec![1, 2, 3]).digest());
        assert_ne!(a.digest(), batch("y", vec![1, 2, 3]).digest());
        assert_ne!(a.digest(), batch("x", vec![1, 3, 2]).digest());
        assert_eq!(digest_ids(&[1, 2]), digest_ids(&[1, 2]));
        assert_ne!(digest_ids(&[1, 2]), digest_ids(&[2, 1]));
    }
}
