//! The error type of `biobatch-datasets`.

/// A `Result` whose error is [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong building a dataset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or is malformed.
    #[error(transparent)]
    Format(#[from] biobatch_formats::Error),
    /// A sampling plan could not be built.
    #[error(transparent)]
    Sampling(#[from] biobatch_sampling::Error),
    /// A loader could not be built.
    #[error(transparent)]
    Loader(#[from] biobatch_loader::Error),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// An invalid configuration or input, with what to change.
    #[error("{0}")]
    Invalid(String),
}
