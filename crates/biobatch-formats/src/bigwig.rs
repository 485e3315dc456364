//! bigWig: per-base genomic signal, read by window into caller buffers.
//!
//! ```text
//! header (64 B) ─ chromosome B+ tree ─ data sections (zlib) ─ R-tree index ─ zoom levels
//! ```
//! [`BigWig::open`] memory-maps the file, parses the header and the chromosome tree and loads
//! the leaves of the R-tree index into a sorted table (checking that every data block lies
//! inside the file). A [`BigWig`] is `Send + Sync` and immutable: share it behind an
//! [`Arc`] and give each worker its own [`BigWigReader`], which holds the decompressor and a
//! cache of decoded blocks (16 MiB by default, [`ReadOptions::cache_bytes`]), so no lock is
//! taken on the read path.
//!
//! [`BigWigReader::read_windows`] reads many windows in one call: they are visited in
//! genomic order and each data block is inflated at most once per call. Random single-window
//! reads are inflate-bound, so extraction should batch.
//!
//! Policies ([`ReadOptions`]): bases without data read as `0.0` (or NaN with
//! [`Missing::Nan`]); values stored as NaN count as missing; a chromosome the file does not
//! have is an error (or, with [`AbsentChrom::Missing`], reads as missing with one warning per
//! chromosome and file). Corrupt data blocks give [`Error::Corrupt`] with the byte offset.
//!
//! The read path is implemented here on the memory map rather than through `bigtools`,
//! whose readers need `&mut self`, do not expose block offsets and unwrap block
//! decompression; [`write_bigwig`] uses `bigtools` to write files.
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use biobatch_formats::bigwig::{BigWig, Window};
//!
//! let bw = Arc::new(BigWig::open("../../tests/data/signal_plus.bw")?);
//! let mut reader = bw.reader();
//! let mut one = [0f32; 100];
//! reader.read_window("chrA", 0, 100, &mut one)?;
//!
//! let windows = [Window::new("chrB", 5_000, 5_100), Window::new("chrA", 0, 100)];
//! let mut many = vec![0f32; 200];
//! reader.read_windows(&windows, &mut many)?;
//! assert_eq!(&many[100..], &one[..]);
//! # Ok::<(), biobatch_formats::Error>(())
//! ```

mod format;
mod reader;
mod writer;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use memmap2::Mmap;

pub use format::ChromInfo;
use format::{BlockIndex, Bytes, Data, Header};
pub use reader::BigWigReader;
pub use writer::{BedGraphEntry, dense_to_entries, write_bigwig};

use crate::{Error, Result};

/// The value of bases that have no data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Missing {
    /// `0.0` (what a count track means by "no reads").
    #[default]
    Zero,
    /// `NaN`.
    Nan,
}

impl Missing {
    fn value(self) -> f32 {
        match self {
            Missing::Zero => 0.0,
            Missing::Nan => f32::NAN,
        }
    }
}

/// What to do with a window on a chromosome the file does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AbsentChrom {
    /// Fail with [`Error::UnknownChrom`].
    #[default]
    Error,
    /// Read the window as missing; warn once per chromosome and file.
    Missing,
}

/// Read policies for a [`BigWigReader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// Value of bases without data.
    pub missing: Missing,
    /// Windows on chromosomes absent from the file.
    pub absent_chrom: AbsentChrom,
    /// Bytes of decoded blocks a reader keeps between calls (12 bytes per stored interval).
    /// `0` keeps only what the current call needs; within a call a block that later windows
    /// still need is never evicted, so it is inflated at most once per call either way.
    pub cache_bytes: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            missing: Missing::Zero,
            absent_chrom: AbsentChrom::Error,
            cache_bytes: 16 << 20,
        }
    }
}

/// A window to read: `chrom:[start, end)`; parts outside the chromosome read as missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window<'a> {
    /// Chromosome name.
    pub chrom: &'a str,
    /// 0-based start (may be negative).
    pub start: i64,
    /// Exclusive end.
    pub end: i64,
}

impl<'a> Window<'a> {
    /// A window.
    pub fn new(chrom: &'a str, start: i64, end: i64) -> Self {
        Window { chrom, start, end }
    }
}

/// Where a [`BigWig`]'s bytes come from.
enum Storage {
    Mapped(Mmap),
    #[cfg(feature = "remote")]
    Remote(crate::remote::RemoteFile),
}

/// An open bigWig file (memory-mapped, or a URL read through the block cache; index
/// loaded). Share it between threads.
pub struct BigWig {
    path: PathBuf,
    data: Storage,
    header: Header,
    chroms: Vec<ChromInfo>,
    by_name: HashMap<String, usize>,
    index: BlockIndex,
    warned: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for BigWig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BigWig")
            .field("path", &self.path)
            .field("chroms", &self.chroms.len())
            .field("blocks", &self.index.blocks.len())
            .finish()
    }
}

impl BigWig {
    /// Opens and validates a bigWig file, or a URL (with the `remote` feature: the header,
    /// the chromosome tree and the index are read at open, data blocks as windows need them,
    /// through the block cache of [`crate::remote`]).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if crate::remote::is_url(&path) {
            #[cfg(feature = "remote")]
            return Self::from_remote(crate::remote::RemoteFile::open(&path.to_string_lossy())?);
            #[cfg(not(feature = "remote"))]
            return Err(crate::remote::unsupported(&path, "a bigWig URL"));
        }
        let file = crate::fs::open_regular(&path)?;
        // SAFETY: read-only map; the file must not be truncated while open.
        let data = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(&path, e))?;
        Self::from_storage(path, Storage::Mapped(data))
    }

    /// Opens a remote bigWig already opened as a [`RemoteFile`](crate::remote::RemoteFile)
    /// (with options of its own).
    #[cfg(feature = "remote")]
    pub fn from_remote(file: crate::remote::RemoteFile) -> Result<Self> {
        Self::from_storage(PathBuf::from(file.url()), Storage::Remote(file))
    }

    fn from_storage(path: PathBuf, data: Storage) -> Result<Self> {
        let head: Cow<'_, [u8]> = match &data {
            Storage::Mapped(m) => Cow::Borrowed(&m[..]),
            #[cfg(feature = "remote")]
            Storage::Remote(f) => Cow::Owned(f.read_range(0..f.len().min(64))?),
        };
        let header = format::read_header(&head, &path)?;
        let bytes = Bytes {
            data: view(&data),
            le: header.le,
            path: &path,
        };
        let chroms = format::read_chroms(bytes, header.chrom_tree_offset)?;
        let mut by_name = HashMap::with_capacity(chroms.len());
        for (i, c) in chroms.iter().enumerate() {
            if by_name.insert(c.name.clone(), i).is_some() {
                return Err(Error::corrupt(
                    &path,
                    header.chrom_tree_offset,
                    format!("chromosome `{}` listed twice", c.name),
                ));
            }
        }
        let mut lengths = vec![0u32; chroms.len()];
        for c in &chroms {
            lengths[c.id as usize] = c.length;
        }
        let blocks = format::read_blocks(bytes, header.full_index_offset, &lengths)?;
        let index = BlockIndex::new(blocks);
        tracing::debug!(
            path = %path.display(),
            chroms = chroms.len(),
            blocks = index.blocks.len(),
            version = header.version,
            zoom_levels = header.zoom_levels,
            data_offset = header.full_data_offset,
            "opened bigWig"
        );
        Ok(BigWig {
            path,
            data,
            header,
            chroms,
            by_name,
            index,
            warned: Mutex::new(HashSet::new()),
        })
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Chromosomes in the file's order.
    pub fn chroms(&self) -> &[ChromInfo] {
        &self.chroms
    }

    /// The length of a chromosome.
    pub fn chrom_len(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).map(|&i| self.chroms[i].length)
    }

    /// Number of data blocks in the index.
    pub fn num_blocks(&self) -> usize {
        self.index.blocks.len()
    }

    /// A reader with default options.
    pub fn reader(self: &Arc<Self>) -> BigWigReader {
        self.reader_with(ReadOptions::default())
    }

    /// A reader with explicit options.
    pub fn reader_with(self: &Arc<Self>, options: ReadOptions) -> BigWigReader {
        BigWigReader::new(Arc::clone(self), options)
    }
}

/// The bytes of a storage, for the parser.
fn view(data: &Storage) -> Data<'_> {
    match data {
        Storage::Mapped(m) => Data::Mapped(m),
        #[cfg(feature = "remote")]
        Storage::Remote(f) => Data::Remote(f),
    }
}

#[cfg(test)]
mod tests;
