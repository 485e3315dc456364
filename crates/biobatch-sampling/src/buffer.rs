//! A seeded shuffle buffer for streams of unknown length (tf.data semantics).
//!
//! The buffer is filled with the first `buffer_size` items; then each step emits a uniformly
//! chosen buffered item and puts the next input item in its place; at the end of the input the
//! rest is emitted in random order. Same input, seed and epoch ⇒ same output.

use rand_xoshiro::Xoshiro256PlusPlus;

use crate::rng::{below, rng, stream};

/// An iterator adaptor that shuffles within a window of `buffer_size` items.
///
/// ```
/// use biobatch_sampling::ShuffleBuffer;
///
/// let out: Vec<u32> = ShuffleBuffer::new(0..100u32, 10, 42, 0).collect();
/// assert_eq!(out.len(), 100);
/// assert_eq!(out, ShuffleBuffer::new(0..100u32, 10, 42, 0).collect::<Vec<_>>());
/// ```
pub struct ShuffleBuffer<I: Iterator> {
    input: I,
    buffer: Vec<I::Item>,
    size: usize,
    rng: Xoshiro256PlusPlus,
}

impl<I: Iterator> ShuffleBuffer<I> {
    /// Wraps `input`; a `buffer_size` of 0 or 1 leaves the order unchanged.
    pub fn new(input: I, buffer_size: usize, seed: u64, epoch: u64) -> Self {
        ShuffleBuffer {
            input,
            buffer: Vec::with_capacity(buffer_size.max(1)),
            size: buffer_size.max(1),
            rng: rng(seed, stream::BUFFER, epoch, 0),
        }
    }
}

impl<I: Iterator> Iterator for ShuffleBuffer<I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        while self.buffer.len() < self.size {
            match self.input.next() {
                Some(x) => self.buffer.push(x),
                None => break,
            }
        }
        if self.buffer.is_empty() {
            return None;
        }
        let j = below(&mut self.rng, self.buffer.len() as u64) as usize;
        Some(self.buffer.swap_remove(j))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutes_within_the_window() {
        let out: Vec<u32> = ShuffleBuffer::new(0..1_000u32, 16, 1, 0).collect();
        let mut sorted = out.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1_000).collect::<Vec<_>>());
        assert_ne!(out, sorted);
        // An item can only be emitted after it was read: output k holds an input < k + 16.
        assert!(out.iter().enumerate().all(|(k, &x)| (x as usize) < k + 16));
        let other: Vec<u32> = ShuffleBuffer::new(0..1_000u32, 16, 1, 1).collect();
        assert_ne!(out, other, "epoch changes the order");
        let same: Vec<u32> = ShuffleBuffer::new(0..50u32, 1, 1, 0).collect();
        assert_eq!(same, (0..50).collect::<Vec<_>>());
    }
}
