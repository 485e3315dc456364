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

use std::cell::RefCell;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use memmap2::Mmap;

pub use fai::{FaiIndex, FaiRecord, build_index};

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
    static BGZF_SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
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

    /// Opens `path` with explicit index options.
    pub fn open_with(path: impl AsRef<Path>, options: &FastaOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
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
            fasta.validate_index(&fai_path)?;
        } else {
            fasta.index = fasta.build_index()?;
            if options.write_index {
                fasta.index.write(&fai_path)?;
            }
        }
        Ok(fasta)
    }

    /// Builds the index by reading the whole sequence (what `samtools faidx` does).
    pub fn build_index(&self) -> Result<FaiIndex> {
        match &self.source {
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

    /// Checks every record of the index against the file's structure, so that a stale or
    /// wrong index is refused instead of serving other bases: the first base follows a
    /// newline; the line ends the index implies are line ends (`\n` or `\r\n`) — the first,
    /// the last and up to [`SAMPLED_LINES`] evenly spaced full lines of each sequence — with a
    /// base before each; the last base is inside the file and is a base; after it comes a line
    /// end or the end of the file, then the next record's `>` or the end of the file.
    fn validate_index(&self, fai_path: &Path) -> Result<()> {
        let total = match &self.source {
            Source::Plain(d) => d.len() as u64,
            Source::Bgzf {
                uncompressed_len, ..
            } => *uncompressed_len,
        };
        let stale = |name: &str, what: String| {
            Error::Invalid(format!(
                "{}: index does not match {} for sequence `{name}`: {what}; \
                 delete the index or rebuild it with `biobatch index`",
                fai_path.display(),
                self.path.display()
            ))
        };
        let byte = |off: u64| -> Result<Option<u8>> {
            if off >= total {
                return Ok(None);
            }
            let mut probe = [0u8; 1];
            self.read_raw(off, &mut probe)?;
            Ok(Some(probe[0]))
        };
        let is_base = |b: Option<u8>| matches!(b, Some(c) if !matches!(c, b'\n' | b'\r' | b'>'));
        for r in self.index.records() {
            if r.length == 0 {
                continue;
            }
            let what = |off: u64, b: Option<u8>, expected: &str| match b {
                Some(c) => format!("byte {off} is {:?}, expected {expected}", c as char),
                None => format!("byte {off} is past the end of the file, expected {expected}"),
            };
            if r.offset == 0 || r.offset >= total {
                return Err(stale(
                    &r.name,
                    format!("its first base is at byte {} of {total}", r.offset),
                ));
            }
            let b = byte(r.offset - 1)?;
            if b != Some(b'\n') {
                return Err(stale(
                    &r.name,
                    what(r.offset - 1, b, "the newline before the first base"),
                ));
            }
            // The header line just before names this record.
            let back = (r.offset - 1).min(4096);
            let mut head = vec![0u8; back as usize];
            self.read_raw(r.offset - 1 - back, &mut head)?;
            let line_start = head.iter().rposition(|&c| c == b'\n').map(|i| i + 1);
            if let Some(st) = line_start.or((back == r.offset - 1).then_some(0)) {
                let line = &head[st..];
                let named = line.first() == Some(&b'>')
                    && line[1..].starts_with(r.name.as_bytes())
                    && line
                        .get(1 + r.name.len())
                        .is_none_or(|c| c.is_ascii_whitespace());
                if !named {
                    return Err(stale(
                        &r.name,
                        format!(
                            "the header before its first base is `{}`",
                            String::from_utf8_lossy(&line[..line.len().min(80)]).trim_end()
                        ),
                    ));
                }
            }
            let last = r.byte_offset(r.length - 1);
            if last >= total {
                return Err(stale(
                    &r.name,
                    format!(
                        "it claims {} bases ending at byte {last}, but the file holds {total} bytes",
                        r.length
                    ),
                ));
            }
            let eol = r.line_width - r.line_bases;
            let full_lines = (r.length - 1) / r.line_bases;
            for k in sampled_lines(full_lines) {
                let end = r.offset + k * r.line_width + r.line_bases;
                let (a, c) = (byte(end - 1)?, byte(end)?);
                let ends = match eol {
                    1 => c == Some(b'\n'),
                    _ => c == Some(b'\r') && byte(end + 1)? == Some(b'\n'),
                };
                if !is_base(a) || !ends {
                    return Err(stale(
                        &r.name,
                        format!(
                            "line {} should hold {} bases then a line end: {}",
                            k + 1,
                            r.line_bases,
                            if is_base(a) {
                                what(end, c, "a line end")
                            } else {
                                what(end - 1, a, "a base")
                            }
                        ),
                    ));
                }
            }
            let b = byte(last)?;
            if !is_base(b) {
                return Err(stale(&r.name, what(last, b, "its last base")));
            }
            // Then a line end (or the end of the file), blank lines, and the next record.
            let mut at = last + 1;
            let b = byte(at)?;
            if !matches!(b, None | Some(b'\n' | b'\r')) {
                return Err(stale(
                    &r.name,
                    what(
                        at,
                        b,
                        "a line end after its last base (is the length shortened?)",
                    ),
                ));
            }
            while matches!(byte(at)?, Some(b'\n' | b'\r')) && at - last < 1024 {
                at += 1;
            }
            let b = byte(at)?;
            if !matches!(b, None | Some(b'>' | b'\n' | b'\r')) {
                return Err(stale(
                    &r.name,
                    what(at, b, "the next record's `>` or the end of the file"),
                ));
            }
        }
        Ok(())
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

    /// Whether the file is bgzip-compressed.
    pub fn is_bgzf(&self) -> bool {
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
            Source::Bgzf { .. } => {
                let first = rec.byte_offset(start);
                let last = rec.byte_offset(end - 1) + 1;
                BGZF_SCRATCH.with(|s| {
                    let mut s = s.borrow_mut();
                    s.resize((last - first) as usize, 0);
                    self.read_raw(first, &mut s)?;
                    copy_lines(&self.path, &s, rec, start, end, out, first)
                })
            }
        }
    }
}

/// Full lines of a sequence checked at open besides its first and last ([`Fasta::open`]).
pub const SAMPLED_LINES: u64 = 32;

/// The full lines (0-based, `0..full`) whose line ends are checked: the first, the last, and
/// [`SAMPLED_LINES`] evenly spaced between.
fn sampled_lines(full: u64) -> impl Iterator<Item = u64> {
    let n = SAMPLED_LINES.min(full);
    let mut lines: Vec<u64> = (0..n).map(|i| i * full / n.max(1)).collect();
    if full > 0 {
        lines.push(full - 1);
    }
    lines.dedup();
    lines.into_iter()
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
