//! The error type of `biobatch-pipeline`.

use std::path::{Path, PathBuf};

/// A `Result` whose error is [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong training or predicting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A dataset could not be built.
    #[error(transparent)]
    Dataset(#[from] biobatch_datasets::Error),
    /// A file could not be read.
    #[error(transparent)]
    Format(#[from] biobatch_formats::Error),
    /// The loader failed.
    #[error(transparent)]
    Loader(#[from] biobatch_loader::Error),
    /// A plan or cursor was refused.
    #[error(transparent)]
    Sampling(#[from] biobatch_sampling::Error),
    /// A batch did not have what the model needs.
    #[error(transparent)]
    Core(#[from] biobatch_core::Error),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// An invalid setting or input, with what to change.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
