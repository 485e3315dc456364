//! The error type of `biobatch-formats`.

use std::path::{Path, PathBuf};

/// A `Result` whose error is [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong reading or writing genomic files.
///
/// Every variant names the file; parse errors add the line, the column and the text found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error on a file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A malformed line in a text format (BED, .fai, …).
    #[error("{}:{line}: {column}: {expected}, found `{found}`", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Which column or field (e.g. `column 2 (start)`).
        column: String,
        /// What was expected.
        expected: String,
        /// The offending text (truncated to 80 characters).
        found: String,
    },
    /// A file whose structure is broken (bad magic, offsets past the end, undecodable data).
    #[error("{}: corrupt file at byte offset {offset}: {what}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Byte offset in the file where the problem was found.
        offset: u64,
        /// What is wrong.
        what: String,
    },
    /// A chromosome name that the file does not contain.
    #[error("{}: no chromosome named `{chrom}`{hint}", path.display())]
    UnknownChrom {
        /// The file.
        path: PathBuf,
        /// The chromosome asked for.
        chrom: String,
        /// A hint such as the available names.
        hint: String,
    },
    /// A window that runs past a chromosome's ends.
    #[error(
        "{}: window {chrom}:[{start}, {end}) (0-based, half-open) runs outside the chromosome \
         (length {len}); choose a padding policy to allow it",
        path.display()
    )]
    OutOfBounds {
        /// The file.
        path: PathBuf,
        /// The chromosome.
        chrom: String,
        /// 0-based start (may be negative).
        start: i64,
        /// Exclusive end.
        end: i64,
        /// The chromosome length.
        len: u64,
    },
    /// A byte in a sequence that is not a nucleotide letter.
    #[error(
        "{}: invalid base {byte:?} at {chrom}:{pos} (0-based); expected A, C, G, T, N or an IUPAC code",
        path.display()
    )]
    InvalidBase {
        /// The file.
        path: PathBuf,
        /// The chromosome.
        chrom: String,
        /// 0-based position.
        pos: u64,
        /// The offending byte, as a char.
        byte: char,
    },
    /// An invalid argument or configuration.
    #[error("{0}")]
    Invalid(String),
    /// An error from the core types.
    #[error(transparent)]
    Core(#[from] biobatch_core::Error),
    /// A remote object that could not be read (after the retries a transient failure gets):
    /// the URL, the byte range asked for, and the server's answer.
    #[error("{url}{}: {what}", range_text(range))]
    Remote {
        /// The object's URL.
        url: String,
        /// The bytes `[start, end)` asked for, when the failure was a read.
        range: Option<(u64, u64)>,
        /// What went wrong (the HTTP status and the store's message).
        what: String,
    },
}

fn range_text(range: &Option<(u64, u64)>) -> String {
    range.map_or_else(String::new, |(s, e)| format!(" (bytes {s}..{e})"))
}

#[cfg_attr(
    not(all(feature = "fasta", feature = "bed", feature = "bigwig")),
    allow(dead_code)
)]
impl Error {
    /// Wraps an I/O error with the file it happened on.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    pub(crate) fn corrupt(path: &Path, offset: u64, what: impl Into<String>) -> Self {
        Error::Corrupt {
            path: path.to_path_buf(),
            offset,
            what: what.into(),
        }
    }

    pub(crate) fn parse(
        path: &Path,
        line: u64,
        column: impl Into<String>,
        expected: impl Into<String>,
        found: &[u8],
    ) -> Self {
        let mut found = String::from_utf8_lossy(found).into_owned();
        if found.chars().count() > 80 {
            found = found.chars().take(77).collect::<String>() + "...";
        }
        Error::Parse {
            path: path.to_path_buf(),
            line,
            column: column.into(),
            expected: expected.into(),
            found,
        }
    }

    pub(crate) fn unknown_chrom<'a>(
        path: &Path,
        chrom: &str,
        known: impl Iterator<Item = &'a str>,
    ) -> Self {
        let names: Vec<&str> = known.take(6).collect();
        let hint = if names.is_empty() {
            String::new()
        } else {
            format!(
                " (it has {}{})",
                names.join(", "),
                if names.len() == 6 { ", …" } else { "" }
            )
        };
        Error::UnknownChrom {
            path: path.to_path_buf(),
            chrom: chrom.to_string(),
            hint,
        }
    }
}
