//! Work done ahead, in order, on a thread of its own: [`Ahead`] runs an iterator (typically
//! the loader's batches mapped through a conversion, such as building device tensors) on a
//! feed thread, at most `depth` items ahead of the consumer.
//!
//! It is how a model's step never waits for work it could have overlapped: while the step
//! runs on the calling thread, the next batches are taken from the loader and converted on
//! the feed thread. The items and their order are those of the iterator itself; only the
//! thread that computes them changes. [`Ahead::inline`] computes each item when asked, on the
//! calling thread (depth 0), which is how the overlap is compared with its absence.
//!
//! Dropping an `Ahead` disconnects the feed thread: its next send fails and it stops (after
//! the item it is computing, if any); a thread of [`Ahead::spawn`] is joined on drop, a thread
//! of [`Ahead::scoped`] by its scope. A feed thread that panics never passes for the end of
//! the items: a spawned one's panic is resumed by the `next` that finds the feed gone, a
//! scoped one's by its scope.

use std::thread::{JoinHandle, Scope};

use crossbeam_channel::{Receiver, Sender};

use crate::{Error, Result};

/// Items of an iterator computed ahead on a feed thread (or inline); see the
/// [module docs](self).
pub struct Ahead<'a, T> {
    inner: Inner<'a, T>,
}

enum Inner<'a, T> {
    Inline(Box<dyn Iterator<Item = T> + 'a>),
    Thread {
        rx: Option<Receiver<T>>,
        handle: Option<JoinHandle<()>>,
    },
}

impl<T> std::fmt::Debug for Ahead<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.inner {
            Inner::Inline(_) => "Ahead(inline)",
            Inner::Thread { .. } => "Ahead(thread)",
        })
    }
}

/// The feed thread's loop: items in order until the iterator ends or the consumer is gone.
fn feed<T>(items: impl Iterator<Item = T>, tx: Sender<T>) {
    for item in items {
        if tx.send(item).is_err() {
            break; // the consumer dropped its end
        }
    }
}

/// The most items a feed may run ahead (its channel's slots are allocated up front).
pub const MAX_DEPTH: usize = 1024;

fn feed_thread() -> std::thread::Builder {
    std::thread::Builder::new().name("biobatch-feed".into())
}

impl<'a, T: Send + 'a> Ahead<'a, T> {
    /// Items computed on the calling thread as they are asked for (no feed thread).
    pub fn inline(items: impl Iterator<Item = T> + 'a) -> Self {
        Ahead {
            inner: Inner::Inline(Box::new(items)),
        }
    }

    /// Items computed on a feed thread of its own, up to `depth` (at least 1) ahead; the
    /// thread is joined when the `Ahead` is dropped.
    pub fn spawn(items: impl Iterator<Item = T> + Send + 'static, depth: usize) -> Result<Self>
    where
        T: 'static,
    {
        Self::start(depth, |tx| {
            feed_thread().spawn(move || feed(items, tx)).map(Some)
        })
    }

    /// Items computed on a feed thread of `scope`, up to `depth` (at least 1) ahead; the
    /// iterator may borrow what the scope outlives.
    pub fn scoped<'scope, 'env>(
        scope: &'scope Scope<'scope, 'env>,
        items: impl Iterator<Item = T> + Send + 'scope,
        depth: usize,
    ) -> Result<Self>
    where
        T: 'scope,
    {
        Self::start(depth, |tx| {
            feed_thread()
                .spawn_scoped(scope, move || feed(items, tx))
                .map(|_| None) // joined by the scope
        })
    }

    /// The channel of a feed `depth` deep, and its thread started by `spawn`.
    fn start(
        depth: usize,
        spawn: impl FnOnce(Sender<T>) -> std::io::Result<Option<JoinHandle<()>>>,
    ) -> Result<Self> {
        // The channel allocates its slots up front: a depth from a flag or a file is checked.
        if depth > MAX_DEPTH {
            return Err(Error::Invalid(format!(
                "a feed may run at most {MAX_DEPTH} items ahead, not {depth}"
            )));
        }
        let (tx, rx) = crossbeam_channel::bounded(depth.max(1));
        let handle =
            spawn(tx).map_err(|e| Error::Invalid(format!("cannot start the feed thread: {e}")))?;
        Ok(Ahead {
            inner: Inner::Thread {
                rx: Some(rx),
                handle,
            },
        })
    }

    /// `spawn`ed or `scoped` work when `depth > 0`, inline when 0: the one switch callers
    /// expose as their "device prefetch" setting.
    pub fn with_depth<'scope, 'env>(
        scope: &'scope Scope<'scope, 'env>,
        items: impl Iterator<Item = T> + Send + 'scope,
        depth: usize,
    ) -> Result<Self>
    where
        T: 'scope,
        'scope: 'a,
    {
        if depth == 0 {
            Ok(Self::inline(items))
        } else {
            Self::scoped(scope, items, depth)
        }
    }
}

impl<T> Iterator for Ahead<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        match &mut self.inner {
            Inner::Inline(items) => items.next(),
            Inner::Thread { rx, handle } => match rx.as_ref()?.recv() {
                Ok(item) => Some(item),
                Err(_) => {
                    // The feed ended: its items ran out, or it panicked, which must not pass
                    // for the end of the items (a scoped feed's panic reaches its scope).
                    if let Some(Err(panic)) = handle.take().map(JoinHandle::join) {
                        std::panic::resume_unwind(panic);
                    }
                    None
                }
            },
        }
    }
}

impl<T> Drop for Ahead<'_, T> {
    fn drop(&mut self) {
        if let Inner::Thread { rx, handle } = &mut self.inner {
            *rx = None; // the feed thread's next send fails
            if let Some(h) = handle.take() {
                let _ = h.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn every_kind_yields_the_items_in_order() {
        let want: Vec<u64> = (0..100).map(|i| i * i).collect();
        let got: Vec<u64> = Ahead::inline((0..100u64).map(|i| i * i)).collect();
        assert_eq!(got, want);
        let got: Vec<u64> = Ahead::spawn((0..100u64).map(|i| i * i), 3)
            .unwrap()
            .collect();
        assert_eq!(got, want);
        let base = 7u64; // borrowed by the scoped iterator
        let got: Vec<u64> = std::thread::scope(|s| {
            Ahead::with_depth(s, (0..100u64).map(|i| i * i + base - 7), 2)
                .unwrap()
                .collect()
        });
        assert_eq!(got, want);
    }

    #[test]
    fn the_feed_runs_at_most_depth_ahead_and_stops_when_dropped() {
        let made = Arc::new(AtomicUsize::new(0));
        let m = Arc::clone(&made);
        let mut ahead = Ahead::spawn(
            (0..1_000).inspect(move |_| {
                m.fetch_add(1, Ordering::SeqCst);
            }),
            2,
        )
        .unwrap();
        assert_eq!(ahead.next(), Some(0));
        // The feed blocks with at most `depth` items queued and one more in its hand.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while made.load(Ordering::SeqCst) < 4 && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(
            made.load(Ordering::SeqCst),
            4,
            "1 taken + 2 queued + 1 blocked"
        );
        drop(ahead); // joins: must not hang
        assert_eq!(made.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn a_feed_that_panics_is_a_panic_not_a_short_stream() {
        let mut ahead = Ahead::spawn(
            (0..10).map(|i| {
                if i == 3 {
                    panic!("feed failed at 3")
                } else {
                    i
                }
            }),
            2,
        )
        .unwrap();
        let got: Vec<i32> = (&mut ahead).take(3).collect();
        assert_eq!(got, [0, 1, 2]);
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ahead.next()));
        let message = panic.unwrap_err();
        assert_eq!(message.downcast_ref::<&str>(), Some(&"feed failed at 3"));
    }

    #[test]
    fn a_depth_past_the_limit_is_refused_before_allocating() {
        let e = Ahead::spawn(0..3, MAX_DEPTH + 1).unwrap_err().to_string();
        assert!(e.contains("at most 1024 items ahead, not 1025"), "{e}");
        assert_eq!(Ahead::spawn(0..3, MAX_DEPTH).unwrap().count(), 3);
    }

    #[test]
    fn inline_computes_only_what_is_asked() {
        let made = AtomicUsize::new(0);
        let mut ahead = Ahead::inline((0..10).inspect(|_| {
            made.fetch_add(1, Ordering::SeqCst);
        }));
        assert_eq!(ahead.next(), Some(0));
        assert_eq!(ahead.next(), Some(1));
        drop(ahead);
        assert_eq!(made.load(Ordering::SeqCst), 2);
    }
}
