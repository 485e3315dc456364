//! A FASTA at a URL (feature `remote`): plain, or bgzip with its `.gzi`, with the `.fai`
//! beside it, read by byte ranges through [`crate::remote`]'s block cache.

use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::{FaiIndex, Fasta, Source, is_bgzf, scan_bgzf, validate};
use crate::remote::RemoteFile;
use crate::{Error, Result};

/// Lines sampled per sequence when checking the index of a FASTA at a URL: every probe there
/// may cost a block fetch (see [`super::SAMPLED_LINES`] for local files). Every fetch still
/// checks the line ends of the lines it copies.
const SAMPLED_LINES: u64 = 1;

/// The bytes of a FASTA at a URL.
pub(super) enum RemoteSource {
    Plain(RemoteFile),
    Bgzf {
        file: RemoteFile,
        gzi: noodles_bgzf::gzi::Index,
        uncompressed_len: u64,
    },
}

/// A file beside `file` (its URL plus `suffix`), read whole; a missing one is an error that
/// says what it is for.
fn beside(file: &RemoteFile, suffix: &str, what: &str) -> Result<(PathBuf, Vec<u8>)> {
    let url = format!("{}{suffix}", file.url());
    let side = RemoteFile::open_with(&url, file.options()).map_err(|e| {
        Error::Invalid(format!(
            "{}: a FASTA at a URL needs {what} beside it ({url}): {e}",
            file.url()
        ))
    })?;
    Ok((PathBuf::from(url), side.read_all()?))
}

impl RemoteSource {
    /// Uncompressed bytes.
    pub(super) fn len(&self) -> u64 {
        match self {
            RemoteSource::Plain(f) => f.len(),
            RemoteSource::Bgzf {
                uncompressed_len, ..
            } => *uncompressed_len,
        }
    }

    pub(super) fn is_bgzf(&self) -> bool {
        matches!(self, RemoteSource::Bgzf { .. })
    }

    /// Uncompressed bytes `[off, off + buf.len())`.
    pub(super) fn read_raw(&self, path: &Path, off: u64, buf: &mut [u8]) -> Result<()> {
        match self {
            RemoteSource::Plain(f) => f.read_at(off, buf),
            RemoteSource::Bgzf { file, gzi, .. } => {
                let mut reader = noodles_bgzf::io::Reader::new(file.reader());
                reader
                    .seek_by_uncompressed_position(gzi, off)
                    .and_then(|_| reader.read_exact(buf))
                    .map_err(|e| Error::corrupt(path, off, format!("BGZF read failed: {e}")))
            }
        }
    }

    /// Fetches the bytes holding uncompressed `ranges` (for bgzip, the whole blocks that
    /// hold them) into the block cache.
    pub(super) fn prefetch(&self, ranges: &[Range<u64>]) -> Result<()> {
        match self {
            RemoteSource::Plain(f) => {
                let len = f.len();
                let clipped: Vec<Range<u64>> = ranges
                    .iter()
                    .map(|r| r.start.min(len)..r.end.min(len))
                    .collect();
                f.prefetch(&clipped)
            }
            RemoteSource::Bgzf { file, gzi, .. } => {
                // gzi lists (compressed, uncompressed) starts of every block but the first.
                let entries = gzi.as_ref();
                let block_of = |u: u64| entries.partition_point(|&(_, bu)| bu <= u);
                let compressed: Vec<Range<u64>> = ranges
                    .iter()
                    .filter(|r| r.start < r.end)
                    .map(|r| {
                        let first = block_of(r.start);
                        let last = block_of(r.end - 1);
                        let start = if first == 0 { 0 } else { entries[first - 1].0 };
                        let end = entries.get(last).map_or(file.len(), |&(c, _)| c);
                        start..end.min(file.len())
                    })
                    .collect();
                file.prefetch(&compressed)
            }
        }
    }
}

impl Fasta {
    /// A FASTA at a URL, already opened as a [`RemoteFile`](crate::remote::RemoteFile): plain,
    /// or bgzip-compressed with its `.gzi` beside it (`URL.gzi`, as `bgzip -i` writes it), and
    /// its index at `URL.fai` (read whole, and checked against the file as a local index is).
    pub fn from_remote(file: RemoteFile) -> Result<Self> {
        let path = PathBuf::from(file.url());
        let head = file.read_range(0..file.len().min(18))?;
        let (fai_path, fai) = beside(&file, ".fai", "its index (as `samtools faidx` writes it)")?;
        let index = FaiIndex::parse(std::io::Cursor::new(fai), &fai_path)?;
        let source = if is_bgzf(&head) {
            let (gzi_path, raw) = beside(&file, ".gzi", "its .gzi (as `bgzip -i` writes it)")?;
            let gzi = noodles_bgzf::gzi::io::Reader::new(&raw[..])
                .read_index()
                .map_err(|e| Error::corrupt(&gzi_path, 0, format!("not a .gzi index: {e}")))?;
            // The uncompressed length: the last indexed block's start, plus the blocks from
            // there to the end (a few, read once).
            let &(c, u) = gzi.as_ref().last().unwrap_or(&(0, 0));
            if c > file.len() {
                return Err(Error::corrupt(
                    &gzi_path,
                    0,
                    format!(
                        "indexes a block at byte {c} of a {} byte file (a stale .gzi?)",
                        file.len()
                    ),
                ));
            }
            let tail = file.read_range(c..file.len())?;
            let (_, rest) = scan_bgzf(&path, &tail)?;
            RemoteSource::Bgzf {
                file,
                gzi,
                uncompressed_len: u + rest,
            }
        } else if head.starts_with(&[0x1f, 0x8b]) {
            return Err(Error::Invalid(format!(
                "{}: gzip-compressed but not BGZF; random access needs `bgzip` compression",
                path.display()
            )));
        } else {
            RemoteSource::Plain(file)
        };
        let fasta = Fasta {
            path,
            index,
            source: Source::Remote(source),
        };
        validate::validate_index(&fasta, &fai_path, SAMPLED_LINES)?;
        Ok(fasta)
    }
}
