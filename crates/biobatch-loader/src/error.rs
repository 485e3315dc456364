//! The error type of `biobatch-loader`.

use std::time::Duration;

/// Any error a dataset returns; the loader wraps it with the batch it failed on.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A `Result` whose error is [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong loading batches.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The dataset failed to produce a batch.
    #[error("epoch {epoch}, batch {index}: {source}")]
    Batch {
        /// The epoch.
        epoch: u64,
        /// The batch index in the epoch.
        index: u64,
        /// What the dataset reported.
        #[source]
        source: BoxError,
    },
    /// The dataset panicked while producing a batch; the loader caught it and shut down.
    #[error("epoch {epoch}, batch {index}: the dataset panicked: {message}")]
    Panic {
        /// The epoch.
        epoch: u64,
        /// The batch index in the epoch.
        index: u64,
        /// The panic message.
        message: String,
    },
    /// Samples that cannot be collated into one batch.
    #[error("collate: sample {sample}, `{path}`: {what}")]
    Collate {
        /// Index of the offending sample in the batch.
        sample: usize,
        /// Path of the node in the sample tree.
        path: String,
        /// What does not fit.
        what: String,
    },
    /// No batch arrived for this long although workers were running: reported, not hidden.
    #[error("no batch for {0:?}: a worker is stuck")]
    Stalled(Duration),
    /// A sampling error (plans, cursors).
    #[error(transparent)]
    Sampling(#[from] biobatch_sampling::Error),
    /// A core error (arrays, trees).
    #[error(transparent)]
    Core(#[from] biobatch_core::Error),
    /// An invalid configuration.
    #[error("{0}")]
    Invalid(String),
}

/// The message of a caught panic (a `&str` or `String` payload).
pub(crate) fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string())
}
