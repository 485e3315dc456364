//! Parsing one BED / narrowPeak line from bytes: tabs found in one scan, fields checked in
//! place, the record's buffers reused.

use std::path::Path;

use biobatch_core::Strand;

use super::{BedFormat, BedRecord, NarrowPeak};
use crate::util::parse_u64;
use crate::{Error, Result};

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
pub(super) const MAX_FIELDS: usize = 16;

/// Exact fast path for plain decimals (`-12.345`): with at most 15 significant digits and
/// 22 decimals, `digits / 10^k` is one correctly rounded IEEE division, so the result equals
/// `str::parse::<f64>`. Anything else (exponents, `inf`, long digit strings) returns `None`.
#[inline]
pub(super) fn parse_simple_f64(s: &[u8]) -> Option<f64> {
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
pub(super) struct Tabs {
    pub(super) pos: [usize; MAX_FIELDS - 1],
    pub(super) n: usize,
    /// All tabs of the line, also those past `pos`: the line's column count is `total + 1`.
    pub(super) total: usize,
}

impl Tabs {
    #[inline]
    fn push(&mut self, p: usize) {
        self.total += 1;
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
pub(super) fn scan_line(buf: &[u8], tabs: &mut Tabs) -> Option<usize> {
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
pub(super) fn parse_line(
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
    let n_columns = tabs.total + 1;
    parse_fields(
        path,
        line_no,
        line,
        (&fields[..nf], n_columns),
        format,
        columns,
        rec,
    )?;
    Ok(true)
}

fn parse_fields(
    path: &Path,
    line_no: u64,
    line: &[u8],
    (f, n_columns): (&[&[u8]], usize),
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
    // `f` holds at most MAX_FIELDS fields; the count compared is the line's own.
    match columns {
        None => *columns = Some((n_columns, line_no)),
        Some((n, first)) if *n != n_columns => {
            return Err(Error::parse(
                path,
                line_no,
                "line",
                format!("{n} columns as on line {first}, got {n_columns}"),
                line,
            ));
        }
        Some(_) => {}
    }
    let narrow = match format {
        BedFormat::Auto => n_columns == 10,
        BedFormat::Bed => false,
        BedFormat::NarrowPeak => {
            if n_columns != 10 {
                return Err(Error::parse(
                    path,
                    line_no,
                    "line",
                    format!("10 columns for narrowPeak, got {n_columns}"),
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
    let int = |i: usize| match parse_u64(f[i]) {
        Some(v) if v <= crate::MAX_COORD => Ok(v),
        Some(_) => Err(err(
            i,
            "a coordinate of at most 2^40 (beyond any chromosome)",
            f[i],
        )),
        None => Err(err(i, "a non-negative integer", f[i])),
    };
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
