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

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use biobatch_core::Strand;

use crate::util::parse_u64;
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

const COLUMN_NAMES: [&str; 10] = [
    "chrom",
    "start",
    "end",
    "name",
    "score",
    "strand",
    "signalValue",
    "pValue",
    "qValue",
    "peak",
];
const MAX_FIELDS: usize = 16;

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

/// The boxed reader [`BedReader::open`] returns (plain or gzip).
pub type BoxedBufRead = Box<dyn BufRead + Send>;

/// Opens a text file for buffered reading, decompressing gzip / bgzip transparently (detected
/// from the magic bytes, not the name). Other tab-separated formats built on BED lines (label
/// tables, interval lists with extra columns) read through this too.
pub fn open_text(path: impl AsRef<Path>) -> Result<BoxedBufRead> {
    let path = path.as_ref();
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut magic = [0u8; 2];
    let n = file.read(&mut magic).map_err(|e| Error::io(path, e))?;
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    Ok(if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::read::MultiGzDecoder::new(file),
        ))
    } else {
        Box::new(BufReader::with_capacity(1 << 16, file))
    })
}

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

/// Exact fast path for plain decimals (`-12.345`): with at most 15 significant digits and
/// 22 decimals, `digits / 10^k` is one correctly rounded IEEE division, so the result equals
/// `str::parse::<f64>`. Anything else (exponents, `inf`, long digit strings) returns `None`.
#[inline]
fn parse_simple_f64(s: &[u8]) -> Option<f64> {
    const POW10: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];
    let (neg, digits) = match s.first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (mut mantissa, mut n_digits, mut frac) = (0u64, 0usize, None::<usize>);
    for (i, &b) in digits.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + (b - b'0') as u64;
                n_digits += 1;
                if n_digits > 15 {
                    return None;
                }
            }
            b'.' if frac.is_none() => frac = Some(i),
            _ => return None,
        }
    }
    if n_digits == 0 {
        return None;
    }
    let k = frac.map_or(0, |i| digits.len() - i - 1);
    let v = mantissa as f64 / *POW10.get(k)?;
    Some(if neg { -v } else { v })
}

fn column(i: usize) -> String {
    format!(
        "column {} ({})",
        i + 1,
        COLUMN_NAMES.get(i).unwrap_or(&"extra")
    )
}

fn set_opt_string(dst: &mut Option<String>, src: &str) {
    match dst {
        Some(s) => {
            s.clear();
            s.push_str(src);
        }
        None => *dst = Some(src.to_string()),
    }
}

/// Positions of the first `MAX_FIELDS - 1` tabs of a line.
#[derive(Default)]
struct Tabs {
    pos: [usize; MAX_FIELDS - 1],
    n: usize,
}

impl Tabs {
    #[inline]
    fn push(&mut self, p: usize) {
        if self.n < self.pos.len() {
            self.pos[self.n] = p;
            self.n += 1;
        }
    }
}

/// High bit of each byte of `x` that is zero (exact: no false positives).
#[inline]
fn zero_bytes(x: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7)
}

/// One pass over `buf`, eight bytes at a time: records the tabs of the first line in `tabs`
/// and returns the position of its `\n` (`None` if `buf` holds no complete line; the tabs
/// of all of `buf` are recorded then).
#[inline]
fn scan_line(buf: &[u8], tabs: &mut Tabs) -> Option<usize> {
    const TAB: u64 = 0x0909_0909_0909_0909;
    const NL: u64 = 0x0a0a_0a0a_0a0a_0a0a;
    let mut i = 0;
    let mut words = buf.chunks_exact(8);
    for w in &mut words {
        let x = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        let nl = zero_bytes(x ^ NL);
        let mut t = zero_bytes(x ^ TAB);
        if nl != 0 {
            let at = nl.trailing_zeros() as usize / 8;
            t &= (1u64 << (at * 8)).wrapping_sub(1);
            while t != 0 {
                tabs.push(i + t.trailing_zeros() as usize / 8);
                t &= t - 1;
            }
            return Some(i + at);
        }
        while t != 0 {
            tabs.push(i + t.trailing_zeros() as usize / 8);
            t &= t - 1;
        }
        i += 8;
    }
    for (k, &b) in words.remainder().iter().enumerate() {
        match b {
            b'\n' => return Some(i + k),
            b'\t' => tabs.push(i + k),
            _ => {}
        }
    }
    None
}

/// Parses one line (without its `\n`); `Ok(false)` for lines to skip.
fn parse_line(
    path: &Path,
    line_no: u64,
    line: &[u8],
    tabs: &Tabs,
    format: BedFormat,
    columns: &mut Option<(usize, u64)>,
    rec: &mut BedRecord,
) -> Result<bool> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty()
        || line[0] == b'#'
        || line.starts_with(b"track")
        || line.starts_with(b"browser")
    {
        return Ok(false);
    }
    let mut fields: [&[u8]; MAX_FIELDS] = [&[]; MAX_FIELDS];
    let mut nf = 0;
    let mut from = 0;
    for &t in &tabs.pos[..tabs.n] {
        if t >= line.len() {
            break; // a tab in a stripped `\r` position cannot happen; guard anyway
        }
        fields[nf] = &line[from..t];
        nf += 1;
        from = t + 1;
    }
    fields[nf] = &line[from..];
    nf += 1;
    parse_fields(path, line_no, line, &fields[..nf], format, columns, rec)?;
    Ok(true)
}

fn parse_fields(
    path: &Path,
    line_no: u64,
    line: &[u8],
    f: &[&[u8]],
    format: BedFormat,
    columns: &mut Option<(usize, u64)>,
    rec: &mut BedRecord,
) -> Result<()> {
    let err = |i: usize, expected: &str, found: &[u8]| {
        Error::parse(path, line_no, column(i), expected, found)
    };
    if f.len() < 3 {
        let words = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty())
            .count();
        if words >= 3 {
            return Err(Error::parse(
                path,
                line_no,
                "line",
                "tab-separated columns (this line is separated by spaces)",
                line,
            ));
        }
        return Err(Error::parse(
            path,
            line_no,
            format!("column {}", f.len() + 1),
            "at least 3 tab-separated columns (chrom, start, end)",
            line,
        ));
    }
    match columns {
        None => *columns = Some((f.len(), line_no)),
        Some((n, first)) if *n != f.len() => {
            return Err(Error::parse(
                path,
                line_no,
                "line",
                format!("{n} columns as on line {first}, got {}", f.len()),
                line,
            ));
        }
        Some(_) => {}
    }
    let narrow = match format {
        BedFormat::Auto => f.len() == 10,
        BedFormat::Bed => false,
        BedFormat::NarrowPeak => {
            if f.len() != 10 {
                return Err(Error::parse(
                    path,
                    line_no,
                    "line",
                    format!("10 columns for narrowPeak, got {}", f.len()),
                    line,
                ));
            }
            true
        }
    };
    // Validate UTF-8 once per line (ASCII fast path); fields split at tabs stay valid.
    if !line.is_ascii() && std::str::from_utf8(line).is_err() {
        let i = (0..f.len())
            .find(|&i| std::str::from_utf8(f[i]).is_err())
            .unwrap_or(0);
        return Err(err(i, "UTF-8 text", f[i]));
    }
    let text = |i: usize| std::str::from_utf8(f[i]).map_err(|_| err(i, "UTF-8 text", f[i]));
    // Consecutive lines usually share the chromosome: check and copy it only when it changes.
    let same_chrom = !rec.chrom.is_empty() && rec.chrom.as_bytes() == f[0];
    if !same_chrom {
        let chrom = text(0)?;
        if chrom.is_empty() || chrom.contains(' ') {
            return Err(err(0, "a chromosome name without spaces", f[0]));
        }
    }
    let int = |i: usize| parse_u64(f[i]).ok_or_else(|| err(i, "a non-negative integer", f[i]));
    let start = int(1)?;
    let end = int(2)?;
    if start > end {
        return Err(Error::parse(
            path,
            line_no,
            "columns 2-3 (start, end)",
            "start <= end",
            format!("{start} > {end}").as_bytes(),
        ));
    }
    if !same_chrom {
        rec.chrom.clear();
        rec.chrom.push_str(text(0)?);
    }
    rec.start = start;
    rec.end = end;
    rec.line = line_no;
    rec.score = None;
    rec.strand = Strand::Unknown;
    rec.narrow_peak = None;
    let float = |i: usize| -> Result<f64> {
        match parse_simple_f64(f[i]) {
            Some(v) => Ok(v),
            None => text(i)?
                .parse::<f64>()
                .map_err(|_| err(i, "a number", f[i])),
        }
    };
    if f.len() > 3 && f[3] != b"." {
        set_opt_string(&mut rec.name, text(3)?);
    } else {
        rec.name = None;
    }
    if f.len() > 4 && f[4] != b"." {
        rec.score = Some(float(4)?);
    }
    if f.len() > 5 {
        rec.strand = match f[5] {
            b"+" => Strand::Forward,
            b"-" => Strand::Reverse,
            b"." | b"*" => Strand::Unknown,
            other => return Err(err(5, "+, - or .", other)),
        };
    }
    if narrow {
        let summit = match f[9] {
            b"-1" => None,
            s => {
                let v = parse_u64(s).ok_or_else(|| err(9, "a non-negative integer or -1", s))?;
                if v >= end - start {
                    return Err(err(
                        9,
                        &format!("a summit offset inside the peak (0..{})", end - start),
                        s,
                    ));
                }
                Some(v)
            }
        };
        rec.narrow_peak = Some(NarrowPeak {
            signal_value: float(6)?,
            p_value: float(7)?,
            q_value: float(8)?,
            summit,
        });
    }
    Ok(())
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
        }
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
#[cfg(feature = "arrow")]
pub use arrow::{read_bed_arrow, schema as arrow_schema};
