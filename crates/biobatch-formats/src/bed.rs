//! BED3–BED6 and narrowPeak (BED6+4) intervals.
//!
//! ```text
//! chrom  start  end   name  score  strand  signalValue  pValue  qValue  peak
//! chr1   9356548 9356648 .  0      .       182          5.0945  -1      50
//! ```
//! Tab-separated, 0-based half-open. `track`, `browser`, `#` and blank lines are skipped.
//! Gzip (and bgzip) input is detected from its magic bytes. Every data line must have the
//! same number of columns; 10 columns are read as narrowPeak, whose `peak` column is the
//! summit offset from `start` (`-1`: none called).
//!
//! Errors name the file, the line, the column and the text found, e.g.
//! `peaks.bed:17: column 2 (start): a non-negative integer, found `-5``.
//!
//! # Examples
//!
//! ```
//! use biobatch_formats::bed::{read_bed, BedReader, BedRecord};
//!
//! let peaks = read_bed("../../tests/data/example.narrowPeak")?;
//! assert_eq!(peaks.len(), 3);
//! assert_eq!(peaks[0].narrow_peak.as_ref().unwrap().summit, Some(50));
//!
//! // Streaming with one reused record:
//! let mut reader = BedReader::open("../../tests/data/a.bed")?;
//! let mut rec = BedRecord::default();
//! let mut n = 0;
//! while reader.read_record(&mut rec)? {
//!     n += 1;
//! }
//! assert_eq!(n, 4);
//! # Ok::<(), biobatch_formats::Error>(())
//! ```

use std::io::BufRead;
use std::path::{Path, PathBuf};

use biobatch_core::Strand;

use crate::{Error, Result};

/// The extra columns of a narrowPeak record.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NarrowPeak {
    /// Column 7: overall enrichment.
    pub signal_value: f64,
    /// Column 8: -log10 p-value (-1 if not given).
    pub p_value: f64,
    /// Column 9: -log10 q-value (-1 if not given).
    pub q_value: f64,
    /// Column 10: summit offset from `start`, `None` when the file says -1.
    pub summit: Option<u64>,
}

/// One interval.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BedRecord {
    /// Chromosome name.
    pub chrom: String,
    /// 0-based start.
    pub start: u64,
    /// Exclusive end.
    pub end: u64,
    /// Column 4, if present and not `.`.
    pub name: Option<String>,
    /// Column 5, if present and not `.`.
    pub score: Option<f64>,
    /// Column 6 (`.` when absent).
    pub strand: Strand,
    /// Columns 7–10 of a narrowPeak file.
    pub narrow_peak: Option<NarrowPeak>,
    /// The 1-based line the record came from.
    pub line: u64,
}

/// How to interpret the columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BedFormat {
    /// narrowPeak when a record has exactly 10 columns, plain BED otherwise.
    #[default]
    Auto,
    /// Plain BED: columns past the sixth are ignored.
    Bed,
    /// narrowPeak: exactly 10 columns required.
    NarrowPeak,
}

/// A streaming BED reader that reuses one record's buffers.
pub struct BedReader<R> {
    inner: R,
    path: PathBuf,
    format: BedFormat,
    line_no: u64,
    buf: Vec<u8>,
    /// Column count of the first data line and that line's number.
    columns: Option<(usize, u64)>,
}

pub use crate::text::BoxedBufRead;
use crate::text::open_text;

impl BedReader<BoxedBufRead> {
    /// Opens a file, decompressing gzip / bgzip transparently.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Ok(BedReader::new(open_text(path)?, path))
    }
}

impl<R: BufRead> BedReader<R> {
    /// Wraps a reader; `path` names the source in error messages.
    pub fn new(inner: R, path: impl Into<PathBuf>) -> Self {
        BedReader {
            inner,
            path: path.into(),
            format: BedFormat::Auto,
            line_no: 0,
            buf: Vec::with_capacity(256),
            columns: None,
        }
    }

    /// Sets the column interpretation.
    pub fn with_format(mut self, format: BedFormat) -> Self {
        self.format = format;
        self
    }

    /// Reads the next record into `rec`; `Ok(false)` at the end of the input.
    pub fn read_record(&mut self, rec: &mut BedRecord) -> Result<bool> {
        if self.line_no == 0 {
            // A UTF-8 byte-order mark (some editors write one) is not part of the chromosome.
            let head = self
                .inner
                .fill_buf()
                .map_err(|e| Error::io(&self.path, e))?;
            if head.starts_with(b"\xEF\xBB\xBF") {
                self.inner.consume(3);
            }
        }
        loop {
            // Parse straight from the reader's buffer when the whole line is in it; copy only
            // lines that straddle a buffer refill.
            let available = self
                .inner
                .fill_buf()
                .map_err(|e| Error::io(&self.path, e))?;
            if available.is_empty() {
                return Ok(false);
            }
            self.line_no += 1;
            let mut tabs = Tabs::default();
            let (consumed, parsed) = if let Some(nl) = scan_line(available, &mut tabs) {
                let parsed = parse_line(
                    &self.path,
                    self.line_no,
                    &available[..nl],
                    &tabs,
                    self.format,
                    &mut self.columns,
                    rec,
                )?;
                (Some(nl + 1), parsed)
            } else {
                self.buf.clear();
                self.inner
                    .read_until(b'\n', &mut self.buf)
                    .map_err(|e| Error::io(&self.path, e))?;
                let end = self.buf.len() - usize::from(self.buf.last() == Some(&b'\n'));
                tabs = Tabs::default();
                scan_line(&self.buf[..end], &mut tabs);
                let parsed = parse_line(
                    &self.path,
                    self.line_no,
                    &self.buf[..end],
                    &tabs,
                    self.format,
                    &mut self.columns,
                    rec,
                )?;
                (None, parsed)
            };
            if let Some(n) = consumed {
                self.inner.consume(n);
            }
            if parsed {
                return Ok(true);
            }
        }
    }

    /// An iterator of owned records.
    pub fn records(self) -> Records<R> {
        Records { reader: self }
    }
}

/// Iterator returned by [`BedReader::records`].
pub struct Records<R> {
    reader: BedReader<R>,
}

impl<R: BufRead> Iterator for Records<R> {
    type Item = Result<BedRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut rec = BedRecord::default();
        match self.reader.read_record(&mut rec) {
            Ok(true) => Some(Ok(rec)),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

/// Reads a whole BED / narrowPeak file.
pub fn read_bed(path: impl AsRef<Path>) -> Result<Vec<BedRecord>> {
    BedReader::open(path)?.records().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<BedRecord>> {
        BedReader::new(text.as_bytes(), "t.bed").records().collect()
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn reads_bed3_to_bed6_and_skips_headers() {
        let recs = parse(
            "track name=x\nbrowser position chr1:1-2\n# comment\n\nchr1\t0\t10\tn1\t5.5\t-\r\n",
        )
        .unwrap();
        assert_eq!(recs.len(), 1);
        let r = &recs[0];
        assert_eq!(
            (r.chrom.as_str(), r.start, r.end, r.line),
            ("chr1", 0, 10, 5)
        );
        assert_eq!(
            (r.name.as_deref(), r.score, r.strand),
            (Some("n1"), Some(5.5), Strand::Reverse)
        );
        let last_line_without_newline = parse("c\t1\t2\nc\t3\t4").unwrap();
        assert_eq!(last_line_without_newline[1].end, 4);
        let r = &parse("chrX\t5\t5\n").unwrap()[0];
        assert_eq!((r.name.clone(), r.strand), (None, Strand::Unknown));
    }

    #[test]
    fn narrowpeak_summits() {
        let r = &parse("c\t100\t200\t.\t0\t.\t3.5\t-1\t2\t99\n").unwrap()[0];
        assert_eq!(
            r.narrow_peak,
            Some(NarrowPeak {
                signal_value: 3.5,
                p_value: -1.0,
                q_value: 2.0,
                summit: Some(99)
            })
        );
        let r = &parse("c\t100\t200\t.\t0\t.\t3.5\t-1\t2\t-1\n").unwrap()[0];
        assert_eq!(r.narrow_peak.unwrap().summit, None);
        assert_eq!(
            err("c\t100\t200\t.\t0\t.\t3.5\t-1\t2\t100\n"),
            "t.bed:1: column 10 (peak): a summit offset inside the peak (0..100), found `100`"
        );
        let e = BedReader::new(&b"c\t1\t2\n"[..], "t.bed")
            .with_format(BedFormat::NarrowPeak)
            .records()
            .next()
            .unwrap()
            .unwrap_err()
            .to_string();
        assert!(e.contains("10 columns for narrowPeak, got 3"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn scan_line_finds_tabs_and_newline(bytes in proptest::collection::vec(proptest::sample::select(b"ab\t\n".to_vec()), 0..60)) {
            let mut tabs = Tabs::default();
            let nl = scan_line(&bytes, &mut tabs);
            let expected_nl = bytes.iter().position(|&b| b == b'\n');
            proptest::prop_assert_eq!(nl, expected_nl);
            let end = expected_nl.unwrap_or(bytes.len());
            let expected: Vec<usize> = (0..end).filter(|&i| bytes[i] == b'\t').take(MAX_FIELDS - 1).collect();
            proptest::prop_assert_eq!(&tabs.pos[..tabs.n], &expected[..]);
            proptest::prop_assert_eq!(tabs.total, (0..end).filter(|&i| bytes[i] == b'\t').count());
        }
    }

    #[test]
    fn column_counts_past_sixteen_are_compared_too() {
        let line = |n: usize| {
            let mut l = "c\t1\t2\tname\t0\t+".to_string();
            for i in 6..n {
                l.push_str(&format!("\tx{i}"));
            }
            l + "\n"
        };
        assert_eq!(parse(&(line(17) + &line(17))).unwrap().len(), 2);
        let e = err(&(line(17) + &line(18)));
        assert!(e.contains("17 columns as on line 1, got 18"), "{e}");
    }

    #[test]
    fn simple_float_fast_path_equals_std_parse() {
        let cases = [
            "0",
            "-0",
            "1",
            "5.0945",
            "-1",
            "182",
            "0.1",
            "123456.789012345",
            "-9.99999",
            "1.",
            ".5",
            "0.30000000000000004",
            "1e3",
            "inf",
            "nan",
            "",
            "-",
            ".",
            "1.2.3",
            "12a",
            "999999999999999",
            "0.000000000000000000001",
            "+3.25",
        ];
        for c in cases {
            let fast = parse_simple_f64(c.as_bytes());
            if let Some(v) = fast {
                assert_eq!(v.to_bits(), c.parse::<f64>().unwrap().to_bits(), "{c}");
            }
        }
        assert_eq!(parse_simple_f64(b"1e3"), None);
        assert_eq!(parse_simple_f64(b"0.30000000000000004"), None);
        assert_eq!(parse_simple_f64(b"5.0945"), Some(5.0945));
    }

    proptest::proptest! {
        #[test]
        fn simple_float_fast_path_is_exact(m in 0u64..1_000_000_000_000_000, k in 0usize..16, neg in proptest::bool::ANY) {
            let digits = m.to_string();
            let text = if k == 0 || k >= digits.len() {
                digits.clone()
            } else {
                format!("{}.{}", &digits[..digits.len() - k], &digits[digits.len() - k..])
            };
            let text = if neg { format!("-{text}") } else { text };
            if let Some(v) = parse_simple_f64(text.as_bytes()) {
                proptest::prop_assert_eq!(v.to_bits(), text.parse::<f64>().unwrap().to_bits(), "{}", text);
            }
        }
    }

    #[test]
    fn bad_lines_are_named_precisely() {
        assert_eq!(
            err("chr1\t0\t10\nchr1\t-5\t10\n"),
            "t.bed:2: column 2 (start): a non-negative integer, found `-5`"
        );
        assert_eq!(
            err("chr1\t20\t10\n"),
            "t.bed:1: columns 2-3 (start, end): start <= end, found `20 > 10`"
        );
        assert_eq!(
            err("chr1 0 10\n"),
            "t.bed:1: line: tab-separated columns (this line is separated by spaces), found `chr1 0 10`"
        );
        assert_eq!(
            err("chr1\t0\n"),
            "t.bed:1: column 3: at least 3 tab-separated columns (chrom, start, end), found `chr1\t0`"
        );
        assert_eq!(
            err("chr1\t0\t1e3\n"),
            "t.bed:1: column 3 (end): a non-negative integer, found `1e3`"
        );
        assert_eq!(
            err("chr1\t0\t10\tx\t0\t?\n"),
            "t.bed:1: column 6 (strand): +, - or ., found `?`"
        );
        assert_eq!(
            err("chr1\t0\t10\tx\tabc\n"),
            "t.bed:1: column 5 (score): a number, found `abc`"
        );
        assert_eq!(
            err("chr1\t0\t10\n\nchr1\t0\t10\tx\n"),
            "t.bed:3: line: 3 columns as on line 1, got 4, found `chr1\t0\t10\tx`"
        );
    }
}

#[cfg(feature = "arrow")]
mod arrow;
mod parse;
mod table;

#[cfg(feature = "arrow")]
pub use arrow::{read_bed_arrow, schema as arrow_schema};
#[cfg(test)]
use parse::{MAX_FIELDS, parse_simple_f64};
use parse::{Tabs, parse_line, scan_line};
pub use table::TableReader;
