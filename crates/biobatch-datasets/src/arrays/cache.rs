//! The decoded-block cache: each block of a variable is decoded at most once while it is
//! cached (concurrent readers of a block being decoded wait for it rather than decode it
//! again), and the least recently used blocks are dropped once the cache holds more than its
//! byte budget. Blocks the read-ahead decoded count as used when decoded, so they outlive
//! the blocks of IO batches already consumed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use biobatch_core::{Array, BlockSource};

type Slot = Arc<OnceLock<std::result::Result<Arc<Array>, String>>>;

#[derive(Default)]
struct Entry {
    slot: Slot,
    /// The decoded bytes, once accounted.
    bytes: Option<usize>,
    /// When it was last asked for.
    used: u64,
}

#[derive(Default)]
struct Inner {
    slots: HashMap<(usize, usize), Entry>,
    bytes: usize,
    tick: u64,
}

/// Decoded blocks of several variables (keyed by the variable's position and the block).
pub(crate) struct BlockCache {
    budget: usize,
    inner: Mutex<Inner>,
    decodes: AtomicU64,
}

impl std::fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockCache")
            .field("budget", &self.budget)
            .field("decodes", &self.decodes())
            .finish()
    }
}

impl BlockCache {
    pub(crate) fn new(budget: usize) -> Self {
        BlockCache {
            budget,
            inner: Mutex::new(Inner::default()),
            decodes: AtomicU64::new(0),
        }
    }

    /// Blocks decoded so far.
    pub(crate) fn decodes(&self) -> u64 {
        self.decodes.load(Ordering::Relaxed)
    }

    /// Block `block` of variable `var` (the `var`-th source), decoded once while cached.
    pub(crate) fn get(
        &self,
        var: usize,
        source: &dyn BlockSource,
        block: usize,
    ) -> std::result::Result<Arc<Array>, String> {
        let key = (var, block);
        let slot = {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            inner.tick += 1;
            let tick = inner.tick;
            let entry = inner.slots.entry(key).or_default();
            entry.used = tick;
            Arc::clone(&entry.slot)
        };
        let got = slot.get_or_init(|| {
            let rows = source.block_range(block);
            let mut shape = source.shape().to_vec();
            shape[0] = rows.len();
            let mut out = Array::zeros(source.dtype(), shape);
            self.decodes.fetch_add(1, Ordering::Relaxed);
            source
                .read_block(block, &mut out)
                .map(|()| Arc::new(out))
                .map_err(|e| e.to_string())
        });
        let result = got.clone();
        if let Ok(a) = &result {
            self.admit(key, &slot, a.nbytes());
        } else {
            // A failed decode is not cached: the next reader gets the error afresh.
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            if inner
                .slots
                .get(&key)
                .is_some_and(|e| Arc::ptr_eq(&e.slot, &slot))
            {
                inner.slots.remove(&key);
            }
        }
        result
    }

    /// Accounts a decoded block once, then drops the least recently used blocks beyond the
    /// budget (never the one just admitted). A linear scan per eviction: a cache holds at most
    /// thousands of blocks, and each eviction follows a block decode that costs far more.
    fn admit(&self, key: (usize, usize), slot: &Slot, bytes: usize) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match inner.slots.get_mut(&key) {
            Some(e) if Arc::ptr_eq(&e.slot, slot) && e.bytes.is_none() => e.bytes = Some(bytes),
            _ => return,
        }
        inner.bytes += bytes;
        while inner.bytes > self.budget {
            let victim = inner
                .slots
                .iter()
                .filter(|(k, e)| **k != key && e.bytes.is_some())
                .min_by_key(|(_, e)| e.used)
                .map(|(k, e)| (*k, e.bytes.unwrap_or(0)));
            let Some((old, b)) = victim else { break };
            inner.slots.remove(&old);
            inner.bytes -= b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_decoded_once_while_cached_and_evicted_oldest_first() {
        let a = Array::new(vec![10, 2], (0..20u8).collect::<Vec<_>>()).unwrap();
        /// Blocks of three rows.
        struct Rows(Array);
        impl BlockSource for Rows {
            fn dtype(&self) -> biobatch_core::DType {
                self.0.dtype()
            }
            fn shape(&self) -> &[usize] {
                self.0.shape()
            }
            fn block_rows(&self) -> usize {
                3
            }
            fn read_block(&self, b: usize, out: &mut Array) -> biobatch_core::Result<()> {
                *out = self.0.slice_rows(self.block_range(b))?;
                Ok(())
            }
        }
        let src = Rows(a);
        // Budget of two blocks (3 rows × 2 bytes each).
        let cache = BlockCache::new(12);
        let b0 = cache.get(0, &src, 0).unwrap();
        assert_eq!(b0.as_slice::<u8>().unwrap(), &[0, 1, 2, 3, 4, 5]);
        cache.get(0, &src, 0).unwrap();
        cache.get(0, &src, 1).unwrap();
        assert_eq!(cache.decodes(), 2);
        cache.get(0, &src, 2).unwrap(); // evicts block 0, the least recently used
        cache.get(0, &src, 1).unwrap();
        assert_eq!(cache.decodes(), 3);
        cache.get(0, &src, 0).unwrap(); // evicts block 2 (block 1 was used since)
        assert_eq!(cache.decodes(), 4);
        cache.get(0, &src, 1).unwrap();
        assert_eq!(cache.decodes(), 4);
        cache.get(0, &src, 2).unwrap();
        assert_eq!(cache.decodes(), 5);
        // The last block is short.
        assert_eq!(cache.get(0, &src, 3).unwrap().shape(), &[1, 2]);
    }
}
