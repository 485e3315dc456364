//! The error type of `biobatch-datasets`.

use std::path::PathBuf;

/// A `Result` whose error is [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong building a dataset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or is malformed.
    #[error(transparent)]
    Format(#[from] biobatch_formats::Error),
    /// An array could not be read or decoded.
    #[error(transparent)]
    Core(#[from] biobatch_core::Error),
    /// A sampling plan could not be built.
    #[error(transparent)]
    Sampling(#[from] biobatch_sampling::Error),
    /// A loader could not be built.
    #[error(transparent)]
    Loader(#[from] biobatch_loader::Error),
    /// A setting that cannot work, with what to change.
    #[error("invalid setting: {0}")]
    Config(String),
    /// A record of an input file that cannot be used: `place` is `file:line`.
    #[error("{place}: {message}")]
    Record {
        /// `file:line` of the record.
        place: String,
        /// What is wrong, and what to change.
        message: String,
    },
    /// A record on a chromosome the genome lacks.
    #[error("{place}: chromosome `{chrom}` is not in the FASTA {}", fasta.display())]
    UnknownChrom {
        /// `file:line` of the record.
        place: String,
        /// The chromosome.
        chrom: String,
        /// The genome.
        fasta: PathBuf,
    },
    /// A record on a chromosome a bigWig lacks, under `missing = "error"`.
    #[error(
        "{place}: the bigWig {} has no chromosome named `{chrom}` (missing = \"zeros\" reads it \
         as zeros, missing = \"drop\" drops such records)",
        bigwig.display()
    )]
    MissingChrom {
        /// `file:line` of the record.
        place: String,
        /// The chromosome.
        chrom: String,
        /// The bigWig that lacks it.
        bigwig: PathBuf,
    },
    /// A record on a chromosome a bigWig gives another length than the genome, under
    /// `missing = "error"` (another assembly, most likely).
    #[error(
        "{place}: the bigWig {} gives chromosome `{chrom}` {track_len} bases, the FASTA {fasta_len} \
         (another assembly?); missing = \"zeros\" reads what it lacks as zeros, missing = \
         \"drop\" drops such records",
        bigwig.display()
    )]
    TrackLength {
        /// `file:line` of the record.
        place: String,
        /// The chromosome.
        chrom: String,
        /// The bigWig.
        bigwig: PathBuf,
        /// Its length there.
        track_len: u32,
        /// The genome's.
        fasta_len: u64,
    },
    /// Values stored as NaN in a bigWig's windows, under `nan = "error"`.
    #[error(
        "{}: {bases} bases of the windows read are stored as NaN; nan = \"zeros\" reads them as \
         0 and counts them",
        bigwig.display()
    )]
    NanValues {
        /// The bigWig.
        bigwig: PathBuf,
        /// Bases stored as NaN in the windows read.
        bases: u64,
    },
    /// A base that is not a nucleotide letter in an extracted window.
    #[error("{}: invalid base {byte:?} at {chrom}:{pos} (0-based)", fasta.display())]
    InvalidBase {
        /// The genome.
        fasta: PathBuf,
        /// The byte found.
        byte: char,
        /// The chromosome.
        chrom: String,
        /// Its 0-based position.
        pos: i64,
    },
    /// Nothing is left after the filters and drops.
    #[error("no {what} left: {drops}")]
    NothingLeft {
        /// What (`peaks`, `intervals`, `cells`).
        what: &'static str,
        /// What was dropped, by reason.
        drops: String,
    },
    /// Records dropped under `strict`.
    #[error("{0} (turn `strict` off to drop and report them)")]
    Strict(String),
    /// An obs or var filter that cannot be evaluated.
    #[error("{table} filter `{expr}`: {message}")]
    Filter {
        /// `obs` or `var`.
        table: String,
        /// The expression.
        expr: String,
        /// What is wrong with it.
        message: String,
    },
    /// A column of the store's obs or var table that cannot be used as asked.
    #[error("{table} column `{column}`: {message}")]
    Column {
        /// `obs` or `var`.
        table: String,
        /// The column.
        column: String,
        /// What is wrong.
        message: String,
    },
    /// A worker thread of the extraction panicked (a bug: please report it).
    #[error("the {0} extraction thread panicked")]
    Panicked(&'static str),
    /// An Arrow kernel failed on a store table.
    #[error("{context}: {source}")]
    Arrow {
        /// What was being computed.
        context: String,
        /// What Arrow reported.
        #[source]
        source: arrow_schema::ArrowError,
    },
    /// A cache file whose structure is not what its writer left (it is rebuilt).
    #[error("cache {}: {message}", path.display())]
    Cache {
        /// The cache file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A description that could not be encoded as JSON.
    #[error("encoding {what}: {source}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// What serde reported.
        #[source]
        source: serde_json::Error,
    },
    /// A file could not be read or written.
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
    pub(crate) fn record(place: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Record {
            place: place.into(),
            message: message.into(),
        }
    }
}
