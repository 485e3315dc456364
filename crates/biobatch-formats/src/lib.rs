//! Fast, validated readers for the genomic formats that feed sequence-to-function models.
//!
//! | module | format | what it gives |
//! |---|---|---|
//! | [`fasta`] | FASTA + `.fai` (plain or bgzip + `.gzi`) | windows into caller buffers, thread-safe, memory-mapped |
//! | [`sequence`] | nucleotide bytes | one-hot (`u8`/`f32`, `[L,4]`/`[4,L]`), reverse complement |
//! | [`bed`] | BED3–BED6, narrowPeak | records with line-precise errors, gzip |
//! | [`bigwig`] | bigWig | windows into caller buffers, many windows per call, writer |
//! | [`npy`] | NumPy `.npy` / `.npz` | memory-mapped arrays, gathered by record |
//! | [`soma`] | single-cell experiment store | Parquet obs/var, memory-mapped CSR layers, 10x import |
//! | [`csr`] | compressed sparse rows | COO → CSR, merge, rows to dense / CSR without per-row allocation |
//! | [`column`] | typed buffers | owned or in place over a memory map |
//! | [`region`] | `chr:start-end` | samtools-style region strings |
//! | [`remote`] | URLs (S3, GCS, Azure, HTTP(S)) | byte ranges, coalesced and retried, through a local block cache (feature `remote`) |
//! | [`fs`] | files and folders we write | atomic files and folders, stale temporaries swept, the bundled examples |
//! | [`text`] | text files | plain or gzip / bgzip, detected from the bytes |
//!
//! Everything is 0-based and half-open inside; the `region` parser converts the 1-based,
//! inclusive strings people type. Errors ([`enum@Error`]) name the file, the line or byte
//! offset, the field and what was expected.
//!
//! # Examples
//!
//! ```
//! use biobatch_formats::fasta::{Fasta, Padding};
//! use biobatch_formats::sequence::{Layout, OneHot};
//!
//! let fa = Fasta::open("../../tests/data/multi.fa")?;
//! let mut bases = vec![0u8; 100];
//! fa.fetch_into("chrA", 1_000, 1_100, Padding::Error, &mut bases)?;
//! let mut onehot = vec![0u8; 4 * 100];
//! OneHot { layout: Layout::ChannelsFirst, ..Default::default() }
//!     .encode(&bases, &mut onehot)
//!     .expect("chrA holds only ACGT");
//! assert_eq!(onehot.iter().map(|&x| x as usize).sum::<usize>(), 100);
//! # Ok::<(), biobatch_formats::Error>(())
//! ```
#![warn(missing_docs)]

pub mod column;
pub mod csr;
mod error;
pub mod fs;
pub mod region;
pub mod remote;
pub mod sequence;
pub mod text;
mod util;

#[cfg(feature = "bed")]
pub mod bed;
#[cfg(feature = "bigwig")]
pub mod bigwig;
#[cfg(any(feature = "hdf5", feature = "zarr"))]
mod decode;
#[cfg(feature = "fasta")]
pub mod fasta;
#[cfg(any(feature = "hdf5", feature = "zarr"))]
pub use decode::Cf;
#[cfg(feature = "hdf5")]
pub mod hdf5;
#[cfg(any(feature = "npy", feature = "soma"))]
pub mod npy;
#[cfg(feature = "soma")]
pub mod soma;
#[cfg(feature = "zarr")]
pub mod zarr;

pub use error::{Error, Result};

/// The largest coordinate biobatch accepts from a file or a flag: 2^40 (about 1.1·10^12),
/// far beyond any chromosome (the longest known are below 2^33), and small enough that window
/// arithmetic on it (centres, jitter, resizing) stays far inside `i64`. Every reader and
/// dataset refuses larger ones with the file, line and column.
pub const MAX_COORD: u64 = 1 << 40;
