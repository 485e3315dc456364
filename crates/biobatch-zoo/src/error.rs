//! The error type of `biobatch-zoo`.

use std::path::{Path, PathBuf};

/// A `Result` whose error is [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error from a library the zoo calls whose own type is not public or not an
/// `std::error::Error` (tract's, ureq's), kept as the source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What can go wrong finding, loading and running zoo models.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A dataloader's dataset could not be built.
    #[error(transparent)]
    Dataset(#[from] biobatch_datasets::Error),
    /// A file could not be read or written.
    #[error(transparent)]
    Format(#[from] biobatch_formats::Error),
    /// The loader failed.
    #[error(transparent)]
    Loader(#[from] biobatch_loader::Error),
    /// A plan could not be built.
    #[error(transparent)]
    Sampling(#[from] biobatch_sampling::Error),
    /// A batch or schema problem.
    #[error(transparent)]
    Core(#[from] biobatch_core::Error),
    /// A BPNet model failed.
    #[cfg(feature = "bpnet")]
    #[error(transparent)]
    Bpnet(#[from] biobatch_bpnet::Error),
    /// A spec (`model.yaml`, `dataloader.yaml`, `models.tsv`, the sources' configuration)
    /// that cannot be used: the file and what is wrong (`key`: what was expected).
    #[error("{}: {message}", path.display())]
    Spec {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Text that is not YAML.
    #[error("{}: not readable YAML: {source}", path.display())]
    Yaml {
        /// The file.
        path: PathBuf,
        /// What the parser reported.
        #[source]
        source: Box<serde_saphyr::Error>,
    },
    /// A spec that could not be written as YAML.
    #[error("writing {what} as YAML: {source}")]
    YamlOut {
        /// What was being written.
        what: String,
        /// What the writer reported.
        #[source]
        source: Box<serde_saphyr::SerializeError>,
    },
    /// A model group's Jinja2 template that does not render.
    #[error("{}: {stage}: {source}", path.display())]
    Template {
        /// The template.
        path: PathBuf,
        /// `template` (parsing) or `rendering`.
        stage: &'static str,
        /// What minijinja reported.
        #[source]
        source: minijinja::Error,
    },
    /// A model no source has.
    #[error("no model `{name}` in {tried}")]
    NoModel {
        /// The name asked for.
        name: String,
        /// Where it was looked for.
        tried: String,
    },
    /// A model of a source that cannot be resolved.
    #[error("source {name}: {error}")]
    InSource {
        /// The source.
        name: String,
        /// What went wrong resolving the model there.
        #[source]
        error: Box<Error>,
    },
    /// A source name the configuration does not have.
    #[error("no model source `{name}` (sources: {known})")]
    NoSource {
        /// The name asked for.
        name: String,
        /// The sources there are.
        known: String,
    },
    /// A dataloader argument that cannot be used.
    #[error("dataloader {dataloader}: argument `{name}`: {message}")]
    Argument {
        /// The dataloader.
        dataloader: String,
        /// The argument.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// An interval a dataloader cannot serve: `place` is `file:line (chrom:start-end)`.
    #[error("{place}: {message}")]
    Interval {
        /// Where the interval is.
        place: String,
        /// What is wrong, and what to change.
        message: String,
    },
    /// A dataloader that is Python code.
    #[error(
        "dataloader `{name}` is Python code, which biobatch does not run; native dataloaders: \
         {native}"
    )]
    PythonDataloader {
        /// The name in the spec.
        name: String,
        /// The native dataloaders.
        native: String,
    },
    /// A model type that does not run here.
    #[error(
        "{}: unsupported model type `{kind}`: {how}, then set `type: onnx` and `args: {{file: \
         model.onnx}}`",
        path.display()
    )]
    UnsupportedModel {
        /// The model.yaml.
        path: PathBuf,
        /// Its type.
        kind: String,
        /// How to convert it.
        how: &'static str,
    },
    /// A model type this build lacks.
    #[error("model type `{kind}` needs a build with the `{feature}` feature")]
    MissingFeature {
        /// The model type.
        kind: String,
        /// The feature.
        feature: &'static str,
    },
    /// What a dataloader gives does not fit what a model takes, or a model's predictions do
    /// not fit its schema.
    #[error("model {model}: {message}")]
    Model {
        /// The model.
        model: String,
        /// What does not fit, with the batch path.
        message: String,
    },
    /// An ONNX network that could not be loaded or run.
    #[error("{}: {source}", path.display())]
    Onnx {
        /// The network file.
        path: PathBuf,
        /// What tract reported.
        #[source]
        source: BoxError,
    },
    /// A remote file that could not be downloaded.
    #[error("{url}: download failed: {source}")]
    Download {
        /// The address.
        url: String,
        /// What failed.
        #[source]
        source: BoxError,
    },
    /// A download whose MD5 is not the spec's.
    #[error(
        "{url}: md5 {got}, the spec says {expected}: the download is not the file the model was \
         made with, and is not used"
    )]
    Md5 {
        /// The address.
        url: String,
        /// The spec's MD5.
        expected: String,
        /// The download's.
        got: String,
    },
    /// A remote file a command needs, and no cache directory to keep it in.
    #[error("{what} is a remote file and there is no cache directory (set $BIOBATCH_CACHE_DIR)")]
    NoCache {
        /// Which file.
        what: String,
    },
    /// Predictions that differ from a model's expected ones.
    #[error("model {model}: predictions differ from {}: {message}", expected.display())]
    Differ {
        /// The model.
        model: String,
        /// The expected predictions.
        expected: PathBuf,
        /// Where and by how much.
        message: String,
    },
    /// A predictions file that cannot be written or read as asked.
    #[error("{}: {message}", path.display())]
    Output {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Parquet could not read or write a file.
    #[error("{}: {source}", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What parquet reported.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Arrow could not build or convert a table.
    #[error("{}: {source}", path.display())]
    Arrow {
        /// The file.
        path: PathBuf,
        /// What Arrow reported.
        #[source]
        source: arrow_schema::ArrowError,
    },
    /// JSON that could not be read or written (arguments, settings).
    #[error("{what}: {source}")]
    Json {
        /// What was being read or written.
        what: String,
        /// What serde reported.
        #[source]
        source: serde_json::Error,
    },
    /// git failed on a source.
    #[error("git {args}: {message}")]
    Git {
        /// The git command's arguments.
        args: String,
        /// What git said.
        message: String,
    },
    /// A setting that cannot work, with what to change.
    #[error("invalid setting: {0}")]
    Config(String),
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

    pub(crate) fn spec(path: &Path, message: impl Into<String>) -> Self {
        Error::Spec {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    pub(crate) fn output(path: &Path, message: impl Into<String>) -> Self {
        Error::Output {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    pub(crate) fn parquet(path: &Path, source: parquet::errors::ParquetError) -> Self {
        Error::Parquet {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn arrow(path: &Path, source: arrow_schema::ArrowError) -> Self {
        Error::Arrow {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn model(model: &str, message: impl Into<String>) -> Self {
        Error::Model {
            model: model.to_string(),
            message: message.into(),
        }
    }
}
