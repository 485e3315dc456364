//! Interval tables: tab-separated BED-like files — chromosome, start, end, then any columns
//! (names, scores, strands, labels) — with the same number of columns on every line. The
//! reader of every interval file whose extra columns mean something to a dataset (labels of
//! `IntervalDataset`, kipoiseq's targets); [`BedReader`](super::BedReader) reads BED3–BED6
//! and narrowPeak records.
//!
//! Blank, `track` and `browser` lines are skipped; a `#` line is a comment, and the last one
//! before the first data line is kept as the header ([`TableReader::header`]). Coordinates
//! are checked on every line: non-negative integers, `start ≤ end`, at most
//! [`MAX_COORD`](crate::MAX_COORD). Errors are [`Error::Parse`] with the file, line and
//! column. Gzip and bgzip are detected from the bytes.
//!
//! ```
//! use biobatch_formats::bed::TableReader;
//!
//! let mut t = TableReader::open("../../tests/data/a.bed", 3)?;
//! let mut n = 0;
//! while t.next_row()? {
//!     assert!(t.start() <= t.end());
//!     n += 1;
//! }
//! assert_eq!(n, 4);
//! # Ok::<(), biobatch_formats::Error>(())
//! ```

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use biobatch_core::Strand;

use crate::text::{BoxedBufRead, open_text};
use crate::{Error, MAX_COORD, Result};

/// A streaming reader of an interval table; see the [module docs](self). The current row is
/// read through the accessors after each [`next_row`](Self::next_row).
pub struct TableReader {
    reader: BoxedBufRead,
    path: PathBuf,
    min_columns: usize,
    line_no: u64,
    line: String,
    /// Byte ranges of the current row's fields in `line`.
    fields: Vec<(usize, usize)>,
    /// The column count and line of the first data line.
    columns: Option<(usize, u64)>,
    comment: Option<Vec<String>>,
    header: Option<Vec<String>>,
    start: u64,
    end: u64,
}

impl std::fmt::Debug for TableReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableReader")
            .field("path", &self.path)
            .field("line", &self.line_no)
            .finish_non_exhaustive()
    }
}

impl TableReader {
    /// Opens `path`; every data line must have at least `min_columns` columns (at least 3).
    pub fn open(path: impl AsRef<Path>, min_columns: usize) -> Result<Self> {
        let path = path.as_ref();
        Ok(TableReader {
            reader: open_text(path)?,
            path: path.to_path_buf(),
            min_columns: min_columns.max(3),
            line_no: 0,
            line: String::new(),
            fields: Vec::new(),
            columns: None,
            comment: None,
            header: None,
            start: 0,
            end: 0,
        })
    }

    /// Reads the next data row; `Ok(false)` at the end of the file.
    pub fn next_row(&mut self) -> Result<bool> {
        loop {
            self.line.clear();
            let n = self
                .reader
                .read_line(&mut self.line)
                .map_err(|e| Error::io(&self.path, e))?;
            if n == 0 {
                return Ok(false);
            }
            self.line_no += 1;
            let text = self.line.trim_end_matches(['\n', '\r']);
            let text = if self.line_no == 1 {
                text.trim_start_matches('\u{feff}')
            } else {
                text
            };
            if text.trim().is_empty() || text.starts_with("track") || text.starts_with("browser") {
                continue;
            }
            if let Some(h) = text.strip_prefix('#') {
                if self.columns.is_none() {
                    self.comment = Some(h.split('\t').map(|s| s.trim().to_string()).collect());
                }
                continue;
            }
            let offset = text.as_ptr() as usize - self.line.as_ptr() as usize;
            self.fields.clear();
            let mut at = offset;
            for f in text.split('\t') {
                self.fields.push((at, at + f.len()));
                at += f.len() + 1;
            }
            let (len, spaced) = (text.len(), text.split_whitespace().count());
            self.check_shape(offset, len, spaced)?;
            self.start = self.coordinate(1, "start")?;
            self.end = self.coordinate(2, "end")?;
            if self.start > self.end {
                return Err(Error::parse(
                    &self.path,
                    self.line_no,
                    "columns 2-3 (start, end)",
                    "start <= end",
                    format!("{} > {}", self.start, self.end).as_bytes(),
                ));
            }
            return Ok(true);
        }
    }

    /// Checks the column count of the row at `line[offset..offset + len]` (`words`: its
    /// whitespace-separated words, to recognise a space-separated file).
    fn check_shape(&mut self, offset: usize, len: usize, words: usize) -> Result<()> {
        let n = self.fields.len();
        let line = std::mem::take(&mut self.line);
        let text = &line[offset..offset + len];
        let r = self.check_count(n, text, words);
        self.line = line;
        r
    }

    fn check_count(&mut self, n: usize, text: &str, words: usize) -> Result<()> {
        match self.columns {
            None => {
                if n < self.min_columns {
                    let spaces = words >= self.min_columns;
                    let expected = if spaces && n == 1 {
                        "tab-separated columns (this line is separated by spaces)".to_string()
                    } else {
                        format!(
                            "at least {} tab-separated columns (chrom, start, end{})",
                            self.min_columns,
                            if self.min_columns >= 6 {
                                ", name, score, strand"
                            } else {
                                ""
                            }
                        )
                    };
                    return Err(Error::parse(
                        &self.path,
                        self.line_no,
                        "line",
                        expected,
                        text.as_bytes(),
                    ));
                }
                self.columns = Some((n, self.line_no));
                self.header = self.comment.take().filter(|h| h.len() == n);
            }
            Some((m, first)) if m != n => {
                return Err(Error::parse(
                    &self.path,
                    self.line_no,
                    "line",
                    format!("{m} columns as on line {first}, got {n}"),
                    text.as_bytes(),
                ));
            }
            Some(_) => {}
        }
        Ok(())
    }

    fn coordinate(&self, i: usize, what: &str) -> Result<u64> {
        let f = self.field(i).trim();
        match f.parse::<u64>() {
            Ok(v) if v <= MAX_COORD => Ok(v),
            Ok(_) => Err(self.error(
                i,
                what,
                "a coordinate of at most 2^40 (beyond any chromosome)",
            )),
            Err(_) => Err(self.error(i, what, "a non-negative integer")),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The 1-based line of the current row.
    pub fn line(&self) -> u64 {
        self.line_no
    }

    /// `file:line` of the current row, for messages.
    pub fn place(&self) -> String {
        format!("{}:{}", self.path.display(), self.line_no)
    }

    /// The number of columns of every row (`None` before the first).
    pub fn columns(&self) -> Option<usize> {
        self.columns.map(|(n, _)| n)
    }

    /// The column names: the last `#` line before the first data line, split at tabs, when
    /// it has as many columns as the data.
    pub fn header(&self) -> Option<&[String]> {
        self.header.as_deref()
    }

    /// Field `i` (0-based) of the current row, as written.
    pub fn field(&self, i: usize) -> &str {
        self.fields
            .get(i)
            .map_or("", |&(a, b)| self.line.get(a..b).unwrap_or(""))
    }

    /// Column 1: the chromosome.
    pub fn chrom(&self) -> &str {
        self.field(0).trim()
    }

    /// Column 2: the 0-based start.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Column 3: the exclusive end.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Field `i` parsed as `T`; an error names the column as `column N (what)` and says it
    /// expected `expected`.
    pub fn parse<T: FromStr>(&self, i: usize, what: &str, expected: &str) -> Result<T> {
        self.field(i)
            .trim()
            .parse()
            .map_err(|_| self.error(i, what, expected))
    }

    /// Field `i` as a strand: `+`, `-`, or `.` / `*` (unknown).
    pub fn strand(&self, i: usize) -> Result<Strand> {
        match self.field(i).trim() {
            "+" => Ok(Strand::Forward),
            "-" => Ok(Strand::Reverse),
            "." | "*" => Ok(Strand::Unknown),
            _ => Err(self.error(i, "strand", "`+`, `-` or `.`")),
        }
    }

    /// A parse error at field `i` of the current row.
    pub fn error(&self, i: usize, what: &str, expected: &str) -> Error {
        Error::parse(
            &self.path,
            self.line_no,
            format!("column {} ({what})", i + 1),
            expected,
            self.field(i).as_bytes(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str, min: usize) -> Result<Vec<(String, u64, u64, u64)>> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.bed");
        std::fs::write(&p, text).unwrap();
        let mut t = TableReader::open(&p, min)?;
        let mut out = Vec::new();
        while t.next_row()? {
            out.push((t.chrom().to_string(), t.start(), t.end(), t.line()));
        }
        Ok(out)
    }

    #[test]
    fn rows_headers_and_comments() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.bed");
        std::fs::write(
            &p,
            "\u{feff}track x\n# a comment\n#chrom\tstart\tend\tsignal\nchr1\t0\t10\t2.5\r\n\nchr2\t5\t9\t-1\n",
        )
        .unwrap();
        let mut t = TableReader::open(&p, 3).unwrap();
        assert!(t.next_row().unwrap());
        assert_eq!(t.header().unwrap()[3], "signal");
        assert_eq!(
            (t.chrom(), t.start(), t.end(), t.line()),
            ("chr1", 0, 10, 4)
        );
        assert_eq!(t.parse::<f32>(3, "label", "a number").unwrap(), 2.5);
        assert!(t.next_row().unwrap());
        assert_eq!((t.chrom(), t.line()), ("chr2", 6));
        assert!(!t.next_row().unwrap());
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let e = |text: &str, min: usize| rows(text, min).unwrap_err().to_string();
        assert!(e("c\t1\t2\nc\t1\n", 3).contains(":2: line: 3 columns as on line 1, got 2"));
        let s = e("c\t-5\t2\n", 3);
        assert!(
            s.contains(":1: column 2 (start): a non-negative integer"),
            "{s}"
        );
        let s = e("c\t5\t2\n", 3);
        assert!(s.contains("start <= end"), "{s}");
        let s = e("c\t1\t2000000000000\n", 3);
        assert!(
            s.contains("column 3 (end): a coordinate of at most 2^40"),
            "{s}"
        );
        let s = e("c\t1\t2\tx\t0\n", 6);
        assert!(s.contains("at least 6 tab-separated columns"), "{s}");
        let s = e("c 1 2\n", 3);
        assert!(s.contains("separated by spaces"), "{s}");
    }

    #[test]
    fn a_header_with_other_columns_is_not_a_header() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.bed");
        std::fs::write(&p, "#a\tb\nc\t1\t2\n").unwrap();
        let mut t = TableReader::open(&p, 3).unwrap();
        assert!(t.next_row().unwrap());
        assert!(t.header().is_none());
        let e = t.strand(0).unwrap_err().to_string();
        assert!(e.contains("column 1 (strand)"), "{e}");
    }
}
