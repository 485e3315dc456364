//! The error type of `biobatch-bpnet`.

use std::path::{Path, PathBuf};

/// A `Result` whose error is [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error of code that observes training (an [`Observer`](crate::Observer)).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What can go wrong training or predicting with BPNet.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A dataset could not be built.
    #[error(transparent)]
    Dataset(#[from] biobatch_datasets::Error),
    /// A file could not be read or written.
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
    /// A setting that cannot work, and what to change.
    #[error("invalid setting: {0}")]
    Config(String),
    /// A device spelling that is not one.
    #[error(
        "unknown device `{0}`: expected `cpu`, `wgpu`, `wgpu:N`, `vulkan` or `vulkan:N` (N: the \
         discrete GPU's number)"
    )]
    UnknownDevice(String),
    /// A device this build cannot run on.
    #[error(
        "device `{device}` needs a build with the `{feature}` feature (cargo build --release -p \
         biobatch --features {feature}); this one runs on `cpu` only"
    )]
    DeviceUnavailable {
        /// The device asked for.
        device: String,
        /// The feature that adds it.
        feature: &'static str,
    },
    /// A GPU device this build has but this machine could not open (no adapter, no driver).
    #[error(
        "cannot open device `{device}`: {message} (`biobatch devices` lists the adapters this \
         machine offers; a Vulkan device needs the Vulkan loader, libvulkan1, and a driver)"
    )]
    DeviceOpen {
        /// The device asked for.
        device: String,
        /// What the graphics runtime said.
        message: String,
    },
    /// A compute type the device cannot compute in (mixed precision).
    #[error(
        "device `{device}` cannot compute in {precision} (mixed precision needs a device with \
         {precision} arithmetic; use --precision f32 there)"
    )]
    PrecisionUnsupported {
        /// The compute type asked for.
        precision: crate::precision::Precision,
        /// The device asked for.
        device: String,
    },
    /// A validation chromosome the genome lacks.
    #[error("validation chromosome `{chrom}` is not in {} (it has {available})", fasta.display())]
    ValidationChrom {
        /// The chromosome asked for.
        chrom: String,
        /// The genome.
        fasta: PathBuf,
        /// Its chromosomes, comma-separated.
        available: String,
    },
    /// A model, optimizer or checkpoint record that could not be read or written.
    #[error("{}: {source}", path.display())]
    Record {
        /// The file.
        path: PathBuf,
        /// What burn reported.
        #[source]
        source: burn::store::RecordError,
    },
    /// A SafeTensors file that could not be read or written.
    #[error("{}: {source}", path.display())]
    SafeTensors {
        /// The file.
        path: PathBuf,
        /// What burn reported.
        #[source]
        source: burn::store::SafetensorsStoreError,
    },
    /// Weights that do not fit the model's settings.
    #[error("{}: the weights do not fit the model's settings ({settings}): {problems}", path.display())]
    WeightsMismatch {
        /// The weights file.
        path: PathBuf,
        /// The settings, in words.
        settings: String,
        /// Each tensor that did not fit.
        problems: String,
    },
    /// A JSON file (settings, history, checkpoint state) that could not be read or written.
    #[error("{}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// What serde reported.
        #[source]
        source: serde_json::Error,
    },
    /// A model's settings file that does not describe a usable model.
    #[error("{}: {message}", path.display())]
    Settings {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Control tracks that do not match the model.
    #[error("the model takes {expected} control tracks, {given} were given")]
    ControlTracks {
        /// What the model takes.
        expected: usize,
        /// What the data has.
        given: usize,
    },
    /// A batch array of the wrong rank.
    #[error("{what}: expected a {rank}-D batch, found shape {shape:?}")]
    Rank {
        /// The batch path.
        what: String,
        /// The rank the model needs.
        rank: usize,
        /// The shape found.
        shape: Vec<usize>,
    },
    /// A batch array the model cannot take as numbers.
    #[error("{what}: a model input cannot be {dtype}")]
    InputDtype {
        /// The batch path.
        what: String,
        /// Its element type.
        dtype: biobatch_core::DType,
    },
    /// A tensor whose values could not be read back to the host.
    #[error("reading a tensor back: {0}")]
    Tensor(#[source] burn::tensor::DataError),
    /// An observer failed to add its files to a staged model folder.
    #[error("completing the model folder {}: {source}", dir.display())]
    Observer {
        /// The staged folder.
        dir: PathBuf,
        /// What the observer reported.
        #[source]
        source: BoxError,
    },
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn record(path: &Path, source: burn::store::RecordError) -> Self {
        Error::Record {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn json(path: &Path, source: serde_json::Error) -> Self {
        Error::Json {
            path: path.to_path_buf(),
            source,
        }
    }
}
