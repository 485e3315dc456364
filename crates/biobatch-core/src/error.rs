//! The error type of `biobatch-core`.

use crate::DType;

/// A `Result` whose error is [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong when building, reading or checking arrays and batches.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An array holds another element type than the one asked for.
    #[error("dtype mismatch: expected {expected}, found {actual}")]
    DType {
        /// The element type asked for.
        expected: DType,
        /// The element type the array holds.
        actual: DType,
    },
    /// The number of elements does not match the product of the shape.
    #[error("shape {shape:?} needs {expected} elements, got {actual}")]
    Shape {
        /// The shape given.
        shape: Vec<usize>,
        /// The product of the shape.
        expected: usize,
        /// The number of elements supplied.
        actual: usize,
    },
    /// A path does not name a node of the batch tree.
    #[error("no node at path `{path}`")]
    PathNotFound {
        /// The path looked up, e.g. `inputs/seq`.
        path: String,
    },
    /// A leaf of a batch has no first (batch) axis.
    #[error("array at `{path}` is a scalar: every leaf of a batch needs a batch axis")]
    NoBatchAxis {
        /// Where the leaf is.
        path: String,
    },
    /// Two leaves of a batch disagree on the batch size.
    #[error("batch axis mismatch: `{path}` has {len} rows but `{first_path}` has {first_len}")]
    BatchAxis {
        /// The leaf that disagrees.
        path: String,
        /// Its first dimension.
        len: usize,
        /// The first leaf seen.
        first_path: String,
        /// The first leaf's first dimension.
        first_len: usize,
    },
    /// A batch does not match a schema.
    #[error("schema mismatch at `{path}`: expected {expected}, found {actual}")]
    Schema {
        /// Where in the tree.
        path: String,
        /// What the schema asks for.
        expected: String,
        /// What the batch holds.
        actual: String,
    },
    /// An argument is out of its allowed range or malformed.
    #[error("invalid argument: {0}")]
    Invalid(String),
}

/// An error and its causes on one line, each cause after `": "` unless the text before
/// already says it (wrappers that repeat their source are not repeated twice): the message
/// the command line prints and the Python package raises.
///
/// ```
/// let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
/// assert_eq!(biobatch_core::one_line(&io), "no such file");
/// ```
pub fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let c_text = c.to_string();
        if !text.contains(&c_text) {
            text.push_str(": ");
            text.push_str(&c_text);
        }
        cause = c.source();
    }
    text.replace('\n', " ")
}
