//! Iterator- and generator-kind datasets (unknown length): one producer thread, a bounded
//! queue, collation on the producer.
//!
//! Kipoi's `SampleIterator` / `SampleGenerator` map to [`samples`], `BatchIterator` /
//! `BatchGenerator` to [`batches`]: anything `IntoIterator`. For a deterministic shuffled
//! order, wrap the input in [`biobatch_sampling::ShuffleBuffer`] with a fixed seed.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::JoinHandle;
use std::time::Instant;

use biobatch_core::Batch;
use crossbeam_channel::Receiver;

use crate::collate::collate;
use crate::error::{BoxError, panic_message};
use crate::stats::LoaderStats;
use crate::{Error, Result};

/// Batches from a producer thread. Dropping it stops the producer (at its next item) and
/// joins it.
pub struct Streamed {
    rx: Option<Receiver<Result<Batch>>>,
    handle: Option<JoinHandle<()>>,
    stats: LoaderStats,
    done: bool,
}

impl Streamed {
    /// Throughput and stall accounting so far.
    pub fn stats(&self) -> &LoaderStats {
        &self.stats
    }
}

fn spawn<F>(prefetch: usize, produce: F) -> Result<Streamed>
where
    F: FnOnce(&dyn Fn(Result<Batch>) -> bool) + Send + 'static,
{
    let (tx, rx) = crossbeam_channel::bounded::<Result<Batch>>(prefetch.max(1));
    let handle = std::thread::Builder::new()
        .name("biobatch-loader-stream".into())
        .spawn(move || {
            let send = |item: Result<Batch>| tx.send(item).is_ok();
            produce(&send);
        })
        .map_err(|e| Error::Invalid(format!("cannot start the producer thread: {e}")))?;
    Ok(Streamed {
        rx: Some(rx),
        handle: Some(handle),
        stats: LoaderStats::new(1),
        done: false,
    })
}

/// Collates a stream of samples into batches of `batch_size` (the last may be shorter unless
/// `drop_last`). An error or a panic in the input ends the stream with an `Err` naming the
/// batch.
pub fn samples<I>(input: I, batch_size: usize, prefetch: usize, drop_last: bool) -> Result<Streamed>
where
    I: IntoIterator<Item = std::result::Result<Batch, BoxError>> + Send + 'static,
    I::IntoIter: Send,
{
    if batch_size == 0 {
        return Err(Error::Invalid("batch_size must be at least 1".into()));
    }
    spawn(prefetch, move |send| {
        let mut it = input.into_iter();
        let mut buf: Vec<Batch> = Vec::with_capacity(batch_size.min(1024));
        let mut index = 0u64;
        loop {
            let item = catch_unwind(AssertUnwindSafe(|| it.next()));
            let fail = |e: Error| {
                send(Err(e));
            };
            match item {
                Ok(Some(Ok(s))) => buf.push(s),
                Ok(Some(Err(source))) => {
                    return fail(Error::Batch {
                        epoch: 0,
                        index,
                        source,
                    });
                }
                Err(p) => {
                    return fail(Error::Panic {
                        epoch: 0,
                        index,
                        message: panic_message(p),
                    });
                }
                Ok(None) => {
                    if !buf.is_empty() && !drop_last {
                        send(collate(&buf));
                    }
                    return;
                }
            }
            if buf.len() == batch_size {
                if !send(collate(&buf)) {
                    return;
                }
                buf.clear();
                index += 1;
            }
        }
    })
}

/// Runs a stream of ready batches through the producer thread and bounded queue.
pub fn batches<I>(input: I, prefetch: usize) -> Result<Streamed>
where
    I: IntoIterator<Item = std::result::Result<Batch, BoxError>> + Send + 'static,
    I::IntoIter: Send,
{
    spawn(prefetch, move |send| {
        let mut it = input.into_iter();
        let mut index = 0u64;
        loop {
            match catch_unwind(AssertUnwindSafe(|| it.next())) {
                Ok(Some(Ok(b))) => {
                    if !send(Ok(b)) {
                        return;
                    }
                }
                Ok(Some(Err(source))) => {
                    send(Err(Error::Batch {
                        epoch: 0,
                        index,
                        source,
                    }));
                    return;
                }
                Err(p) => {
                    send(Err(Error::Panic {
                        epoch: 0,
                        index,
                        message: panic_message(p),
                    }));
                    return;
                }
                Ok(None) => return,
            }
            index += 1;
        }
    })
}

impl Iterator for Streamed {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        if self.done {
            return None;
        }
        let rx = self.rx.as_ref()?;
        let t = Instant::now();
        let item = rx.recv().ok();
        self.stats.wait += t.elapsed();
        match item {
            Some(Ok(b)) => {
                self.stats.record(&b);
                Some(Ok(b))
            }
            Some(Err(e)) => {
                self.done = true;
                Some(Err(e))
            }
            None => {
                self.done = true;
                None
            }
        }
    }
}

impl Drop for Streamed {
    fn drop(&mut self) {
        self.rx = None; // the producer's next send fails and it returns
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
