//! FASTA with a `.fai` index: plain or bgzip-compressed, fetched by window into caller buffers.
//!
//! ```text
//! >chr1 description        a.fa.fai:  chr1  12  18  5  6
//! ACGTA                                 (name, length, offset of the first base,
//! CGTAC                                  bases per line, bytes per line)
//! GT
//! ```
//! [`Fasta::open`] memory-maps the file, reads `FILE.fai` (or builds the index in memory when
//! there is none, so read-only data directories work) and checks the index against the file.
//! [`Fasta`] is `Send + Sync`: share one behind an `Arc` and fetch from many threads; the hot
//! path takes no lock and allocates nothing for plain files.
//!
//! Coordinates are 0-based, half-open. Bases come back as the bytes stored in the file
//! (lowercase soft-masking kept); [`crate::sequence`] turns them into one-hot arrays.

mod fai;
#[cfg(feature = "remote")]
mod remote;
mod validate;

use std::cell::RefCell;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use memmap2::Mmap;

pub use fai::{FaiIndex, FaiRecord, build_index};
pub use validate::SAMPLED_LINES;

use crate::fs::with_suffix;
use crate::{Error, Result};

/// What to do with the part of a window that lies outside its chromosome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Padding {
    /// Refuse the window with [`Error::OutOfBounds`].
    #[default]
    Error,
    /// Fill positions before the start or past the end with `N`.
    N,
}

/// Options for [`Fasta::open_with`].
#[derive(Debug, Clone, Default)]
pub struct FastaOptions {
    /// Write the index next to the file (`FILE.fai`) if it had to be built. Off by default so
    /// that read-only data directories work.
    pub write_index: bool,
    /// Ignore an existing `.fai` and rebuild the index from the sequence.
    pub rebuild_index: bool,
}

enum Source {
    Plain(Mmap),
    Bgzf {
        data: Mmap,
        gzi: noodles_bgzf::gzi::Index,
        uncompressed_len: u64,
    },
    /// A FASTA at a URL (plain or bgzip), read through the block cache.
    #[cfg(feature = "remote")]
    Remote(remote::RemoteSource),
}

/// An indexed FASTA file, memory-mapped.
///
/// ```
/// use biobatch_formats::fasta::{Fasta, Padding};
///
/// let fa = Fasta::open("../../tests/data/multi.fa")?;
/// let mut buf = vec![0u8; 10];
/// fa.fetch_into("chrC", 0, 10, Padding::Error, &mut buf)?;
/// assert_eq!(buf.len(), 10);
/// // A window past the end is an error unless padding is asked for.
/// assert!(fa.fetch_into("chrC", 3500, 3510, Padding::Error, &mut buf).is_err());
/// fa.fetch_into("chrC", 3500, 3510, Padding::N, &mut buf)?;
/// assert_eq!(&buf[2..], b"NNNNNNNN");
/// # Ok::<(), biobatch_formats::Error>(())
/// ```
pub struct Fasta {
    path: PathBuf,
    index: FaiIndex,
    source: Source,
}

impl std::fmt::Debug for Fasta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fasta")
            .field("path", &self.path)
            .field("sequences", &self.index.len())
            .field("bgzf", &matches!(self.source, Source::Bgzf { .. }))
            .finish()
    }
}

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

const BGZF_MAGIC: [u8; 4] = [0x1f, 0x8b, 0x08, 0x04];

fn is_bgzf(data: &[u8]) -> bool {
    data.len() >= 18 && data[..4] == BGZF_MAGIC && data[12] == b'B' && data[13] == b'C'
}

/// Walks the BGZF blocks of `data`, returning the `.gzi` entries (compressed and uncompressed
/// start of every block but the first) and the total uncompressed length.
fn scan_bgzf(path: &Path, data: &[u8]) -> Result<(Vec<(u64, u64)>, u64)> {
    let mut entries = Vec::new();
    let (mut off, mut total) = (0usize, 0u64);
    while off < data.len() {
        let h = data
            .get(off..off + 18)
            .ok_or_else(|| Error::corrupt(path, off as u64, "truncated BGZF block header"))?;
        if h[..4] != BGZF_MAGIC || h[12] != b'B' || h[13] != b'C' {
            return Err(Error::corrupt(
                path,
                off as u64,
                "not a BGZF block (bad magic)",
            ));
        }
        let bsize = u16::from_le_bytes([h[16], h[17]]) as usize + 1;
        let end = off + bsize;
        let footer = data
            .get(end.wrapping_sub(4)..end)
            .filter(|_| bsize >= 26)
            .ok_or_else(|| Error::corrupt(path, off as u64, "truncated BGZF block"))?;
        let isize = u32::from_le_bytes([footer[0], footer[1], footer[2], footer[3]]) as u64;
        if off > 0 {
            entries.push((off as u64, total));
        }
        total += isize;
        off = end;
    }
    Ok((entries, total))
}

impl Fasta {
    /// Opens `path`, using `path.fai` if it exists and building the index in memory if not.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, &FastaOptions::default())
    }

    /// Opens `path` with explicit index options. A URL (with the `remote` feature) is read
    /// through the block cache of [`crate::remote`], with the index at the same URL plus
    /// `.fai` (and `.gzi` when bgzip-compressed; see [`Fasta::from_remote`]).
    pub fn open_with(path: impl AsRef<Path>, options: &FastaOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if crate::remote::is_url(&path) {
            let _ = options;
            #[cfg(feature = "remote")]
            return Self::from_remote(crate::remote::RemoteFile::open(&path.to_string_lossy())?);
            #[cfg(not(feature = "remote"))]
            return Err(crate::remote::unsupported(&path, "a FASTA URL"));
        }
        let file = crate::fs::open_regular(&path)?;
        // SAFETY: the map is read-only; as with every memory-mapped reader, the file must not
        // be truncated while it is open.
        let data = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(&path, e))?;
        let source = if is_bgzf(&data) {
            let (entries, uncompressed_len) = scan_bgzf(&path, &data)?;
            Source::Bgzf {
                data,
                gzi: entries.into(),
                uncompressed_len,
            }
        } else if data.starts_with(&[0x1f, 0x8b]) {
            return Err(Error::Invalid(format!(
                "{}: gzip-compressed but not BGZF; random access needs `bgzip` compression \
                 (e.g. `zcat {0} | bgzip > {0}.bgz`)",
                path.display()
            )));
        } else {
            Source::Plain(data)
        };
        let fai_path = with_suffix(&path, ".fai");
        let mut fasta = Fasta {
            path,
            index: FaiIndex::default(),
            source,
        };
        if fai_path.exists() && !options.rebuild_index {
            fasta.index = FaiIndex::read(&fai_path)?;
            validate::validate_index(&fasta, &fai_path, SAMPLED_LINES)?;
        } else {
            fasta.index = fasta.build_index()?;
            if options.write_index {
                fasta.index.write(&fai_path)?;
            }
        }
        Ok(fasta)
    }

    /// Brings the bytes of windows `(sequence id, start, end)` into the block cache at once
    /// (coalesced requests, several in flight) when the file is remote; nothing otherwise.
    /// Fetches that follow are then local.
    pub fn prefetch(&self, windows: &[(usize, i64, i64)]) -> Result<()> {
        #[cfg(feature = "remote")]
        if let Source::Remote(src) = &self.source {
            let mut ranges = Vec::with_capacity(windows.len());
            for &(id, start, end) in windows {
                let Some(rec) = self.index.records().get(id) else {
                    continue;
                };
                let len = rec.length as i64;
                let (lo, hi) = (start.clamp(0, len), end.clamp(0, len));
                if hi > lo {
                    let first = rec.byte_offset(lo as u64);
                    let last = rec.byte_offset(hi as u64 - 1) + 1;
                    ranges.push(first..last);
                }
            }
            return src.prefetch(&ranges);
        }
        let _ = windows;
        Ok(())
    }

    /// Builds the index by reading the whole sequence (what `samtools faidx` does).
    pub fn build_index(&self) -> Result<FaiIndex> {
        match &self.source {
            #[cfg(feature = "remote")]
            Source::Remote(_) => Err(Error::Invalid(format!(
                "{}: the index of a FASTA at a URL is not built here; put the .fai beside it",
                self.path.display()
            ))),
            Source::Plain(data) => fai::build_index(&data[..], &self.path),
            Source::Bgzf { data, .. } => fai::build_index(
                BufReader::with_capacity(1 << 16, noodles_bgzf::io::Reader::new(&data[..])),
                &self.path,
            ),
        }
    }

    /// Writes the index to `FILE.fai`, atomically, and returns that path.
    pub fn write_index(&self) -> Result<PathBuf> {
        let p = with_suffix(&self.path, ".fai");
        self.index.write(&p)?;
        Ok(p)
    }

    /// Reads uncompressed bytes `[off, off + buf.len())` of the file.
    fn read_raw(&self, off: u64, buf: &mut [u8]) -> Result<()> {
        match &self.source {
            Source::Plain(data) => {
                let src = usize::try_from(off)
                    .ok()
                    .and_then(|o| Some(o..o.checked_add(buf.len())?))
                    .and_then(|r| data.get(r))
                    .ok_or_else(|| Error::corrupt(&self.path, off, "read past the end of file"))?;
                buf.copy_from_slice(src);
            }
            Source::Bgzf { data, gzi, .. } => {
                let mut reader = noodles_bgzf::io::Reader::new(std::io::Cursor::new(&data[..]));
                reader
                    .seek_by_uncompressed_position(gzi, off)
                    .and_then(|_| reader.read_exact(buf))
                    .map_err(|e| {
                        Error::corrupt(&self.path, off, format!("BGZF read failed: {e}"))
                    })?;
            }
            #[cfg(feature = "remote")]
            Source::Remote(src) => src.read_raw(&self.path, off, buf)?,
        }
        Ok(())
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The index.
    pub fn index(&self) -> &FaiIndex {
        &self.index
    }

    /// The id (position in the index) of a sequence, for the id-based fetch.
    pub fn chrom_id(&self, name: &str) -> Option<usize> {
        self.index.id(name)
    }

    /// The length of a sequence by name.
    pub fn chrom_len(&self, name: &str) -> Option<u64> {
        self.index.get(name).map(|r| r.length)
    }

    /// Sequence names and lengths in file order.
    pub fn chroms(&self) -> impl Iterator<Item = (&str, u64)> {
        self.index
            .records()
            .iter()
            .map(|r| (r.name.as_str(), r.length))
    }

    /// Whether the file is read from a URL.
    pub fn is_remote(&self) -> bool {
        #[cfg(feature = "remote")]
        if matches!(self.source, Source::Remote(_)) {
            return true;
        }
        false
    }

    /// Whether the file is bgzip-compressed.
    pub fn is_bgzf(&self) -> bool {
        #[cfg(feature = "remote")]
        if let Source::Remote(src) = &self.source {
            return src.is_bgzf();
        }
        matches!(self.source, Source::Bgzf { .. })
    }

    fn unknown(&self, chrom: &str) -> Error {
        Error::unknown_chrom(
            &self.path,
            chrom,
            self.index.records().iter().map(|r| r.name.as_str()),
        )
    }

    /// Fetches `chrom:[start, end)` into `out` (which must hold exactly `end - start` bytes).
    pub fn fetch_into(
        &self,
        chrom: &str,
        start: i64,
        end: i64,
        padding: Padding,
        out: &mut [u8],
    ) -> Result<()> {
        let id = self.chrom_id(chrom).ok_or_else(|| self.unknown(chrom))?;
        self.fetch_id_into(id, start, end, padding, out)
    }

    /// Fetches a whole window into a new `Vec` (convenience; the hot path is `fetch_into`).
    pub fn fetch(&self, chrom: &str, start: i64, end: i64, padding: Padding) -> Result<Vec<u8>> {
        let len = usize::try_from(end - start).map_err(|_| {
            Error::Invalid(format!("window {chrom}:{start}-{end} has end before start"))
        })?;
        let mut v = vec![0u8; len];
        self.fetch_into(chrom, start, end, padding, &mut v)?;
        Ok(v)
    }

    /// [`Fasta::fetch_into`] by sequence id (see [`Fasta::chrom_id`]), skipping the name lookup.
    pub fn fetch_id_into(
        &self,
        id: usize,
        start: i64,
        end: i64,
        padding: Padding,
        out: &mut [u8],
    ) -> Result<()> {
        let rec = self
            .index
            .records()
            .get(id)
            .ok_or_else(|| Error::Invalid(format!("sequence id {id} out of range")))?;
        if end < start || (end - start) as usize != out.len() {
            return Err(Error::Invalid(format!(
                "window {}:{start}-{end} needs a buffer of its length, got {}",
                rec.name,
                out.len()
            )));
        }
        let len = rec.length as i64;
        let (lo, hi) = (start.clamp(0, len), end.clamp(0, len));
        if (lo != start || hi != end) && padding == Padding::Error {
            return Err(Error::OutOfBounds {
                path: self.path.clone(),
                chrom: rec.name.clone(),
                start,
                end,
                len: rec.length,
            });
        }
        // Positions outside the chromosome: N.
        let head = (lo - start).clamp(0, out.len() as i64) as usize;
        out[..head].fill(b'N');
        let inner_end = head + (hi - lo).max(0) as usize;
        out[inner_end..].fill(b'N');
        if hi > lo {
            self.copy_bases(rec, lo as u64, hi as u64, &mut out[head..inner_end])?;
        }
        Ok(())
    }

    /// Copies bases `[start, end)` (inside the sequence) into `out`, skipping newlines.
    fn copy_bases(&self, rec: &FaiRecord, start: u64, end: u64, out: &mut [u8]) -> Result<()> {
        match &self.source {
            Source::Plain(data) => copy_lines(&self.path, data, rec, start, end, out, 0),
            Source::Bgzf { .. } => self.copy_via_scratch(rec, start, end, out),
            #[cfg(feature = "remote")]
            Source::Remote(_) => self.copy_via_scratch(rec, start, end, out),
        }
    }

    /// [`Fasta::copy_bases`] for sources that are not a plain map: the window's bytes (line
    /// ends included) are read into a scratch buffer first.
    fn copy_via_scratch(
        &self,
        rec: &FaiRecord,
        start: u64,
        end: u64,
        out: &mut [u8],
    ) -> Result<()> {
        let first = rec.byte_offset(start);
        let last = rec.byte_offset(end - 1) + 1;
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            s.resize((last - first) as usize, 0);
            self.read_raw(first, &mut s)?;
            copy_lines(&self.path, &s, rec, start, end, out, first)
        })
    }
}

/// Copies bases `[start, end)` of `rec` from `data` (whose byte 0 is file offset `base`).
fn copy_lines(
    path: &Path,
    data: &[u8],
    rec: &FaiRecord,
    start: u64,
    end: u64,
    out: &mut [u8],
    base: u64,
) -> Result<()> {
    let (lb, lw) = (rec.line_bases, rec.line_width);
    let mut pos = start;
    let mut o = 0usize;
    while pos < end {
        let col = pos % lb;
        let n = (lb - col).min(end - pos) as usize;
        let off = (rec.offset + (pos / lb) * lw + col - base) as usize;
        let src = data.get(off..off + n).ok_or_else(|| {
            Error::corrupt(
                path,
                off as u64 + base,
                "sequence runs past the end of the file",
            )
        })?;
        // Bases only: a line end or a header inside a line means the index and the file
        // disagree (a line the index does not know of), and the window would be shifted.
        if let Some(k) = src.iter().position(|&b| matches!(b, b'\n' | b'\r' | b'>')) {
            return Err(Error::corrupt(
                path,
                off as u64 + k as u64 + base,
                format!(
                    "{:?} inside a sequence line of `{}`: the index does not match the file \
                     (rebuild it with `biobatch index`)",
                    src[k] as char, rec.name
                ),
            ));
        }
        out[o..o + n].copy_from_slice(src);
        o += n;
        pos += n as u64;
        // Crossing into the next line: the bytes skipped must be the line end the index
        // promises, or the following bases come from another place than the index says.
        if pos < end && pos.is_multiple_of(lb) {
            let eol = off + n..off + n + (lw - lb) as usize;
            let skipped = data.get(eol.clone()).unwrap_or_default();
            if !matches!(skipped, b"\n" | b"\r\n") {
                return Err(Error::corrupt(
                    path,
                    eol.start as u64 + base,
                    format!(
                        "expected the line end of line {} of `{}`, found {:?}: the index does \
                         not match the file (rebuild it with `biobatch index`)",
                        pos / lb,
                        rec.name,
                        String::from_utf8_lossy(skipped)
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::File::create(&p)
            .unwrap()
            .write_all(content)
            .unwrap();
        p
    }

    #[test]
    fn builds_index_in_memory_and_fetches_across_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "a.fa",
            b">s1 desc\nACGTA\nCGTAC\nGT\n>s2\nNNNN\nacg\n",
        );
        let fa = Fasta::open(&p).unwrap();
        assert!(
            !with_suffix(&p, ".fai").exists(),
            "must not write the index unasked"
        );
        assert_eq!(fa.chroms().collect::<Vec<_>>(), [("s1", 12), ("s2", 7)]);
        assert_eq!(fa.fetch("s1", 3, 11, Padding::Error).unwrap(), b"TACGTACG");
        assert_eq!(fa.fetch("s2", 2, 7, Padding::Error).unwrap(), b"NNacg");
        assert_eq!(fa.fetch("s2", -2, 2, Padding::N).unwrap(), b"NNNN");
        assert_eq!(fa.fetch("s1", 10, 14, Padding::N).unwrap(), b"GTNN");
        assert_eq!(fa.fetch("s1", -3, -1, Padding::N).unwrap(), b"NN");
        assert_eq!(fa.fetch("s1", 20, 22, Padding::N).unwrap(), b"NN");
        let err = fa.fetch("s1", 10, 14, Padding::Error).unwrap_err();
        assert!(matches!(err, Error::OutOfBounds { len: 12, .. }), "{err}");
        let err = fa.fetch("chrX", 0, 1, Padding::Error).unwrap_err();
        assert!(
            err.to_string()
                .contains("no chromosome named `chrX` (it has s1, s2)"),
            "{err}"
        );
    }

    #[test]
    fn write_index_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "a.fa", b">s1\nACGT\nAC\n");
        let opts = FastaOptions {
            write_index: true,
            ..Default::default()
        };
        Fasta::open_with(&p, &opts).unwrap();
        let fai = std::fs::read_to_string(with_suffix(&p, ".fai")).unwrap();
        assert_eq!(fai, "s1\t6\t4\t4\t5\n");
    }

    #[test]
    fn stale_index_is_an_error_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "a.fa", b">s1\nACGT\nAC\n");
        write(dir.path(), "a.fa.fai", b"s1\t60\t4\t4\t5\n");
        let err = Fasta::open(&p).unwrap_err().to_string();
        assert!(err.contains("claims 60 bases"), "{err}");
        write(dir.path(), "a.fa.fai", b"s1\t6\t3\t4\t5\n");
        let err = Fasta::open(&p).unwrap_err().to_string();
        assert!(err.contains("does not match"), "{err}");
    }

    #[test]
    fn plain_gzip_is_refused_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "a.fa.gz", &[0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0]);
        let err = Fasta::open(&p).unwrap_err().to_string();
        assert!(err.contains("not BGZF"), "{err}");
    }

    #[test]
    fn inconsistent_line_lengths_cannot_be_indexed() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "a.fa", b">s1\nACGT\nAC\nACGT\n");
        let err = Fasta::open(&p).unwrap_err().to_string();
        assert!(err.contains("a.fa:4: sequence line"), "{err}");
    }
}
