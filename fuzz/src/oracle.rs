//! Independent readings of the formats, written for clarity rather than speed: each follows
//! the format's definition line by line (or byte by byte) and shares no code with the
//! readers under test.

use std::collections::BTreeMap;
use std::io::Read;

/// Gunzips `bytes` if they start with the gzip magic (all members); `None` if that fails.
pub fn maybe_gunzip(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut out)
            .ok()?;
        Some(out)
    } else {
        Some(bytes.to_vec())
    }
}

/// Lines split at `\n`, each without its `\n` and one trailing `\r`; a final empty piece
/// after the last `\n` is not a line.
fn lines(text: &[u8]) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = text.split(|&c| c == b'\n').collect();
    if text.ends_with(b"\n") || text.is_empty() {
        out.pop();
    }
    out.into_iter()
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect()
}

/// Like [`lines`], with every trailing `\r` removed (htslib counts none of them as bases).
fn sequence_line(l: &[u8]) -> &[u8] {
    let end = l.iter().rposition(|&c| c != b'\r').map_or(0, |p| p + 1);
    &l[..end]
}

/// FASTA records `(name, sequence)` in file order: a `>` line starts a record named by its
/// first word; the record's sequence is its other lines joined. Lines before the first
/// header belong to no record.
pub fn fasta_records(text: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for line in lines(text) {
        if let Some(header) = line.strip_prefix(b">") {
            let name = header
                .split(|c| c.is_ascii_whitespace())
                .next()
                .unwrap_or_default();
            out.push((name.to_vec(), Vec::new()));
        } else if let Some((_, seq)) = out.last_mut() {
            seq.extend_from_slice(sequence_line(line));
        }
    }
    out
}

/// The `.fai` text samtools writes for a FASTA whose records all have one line width
/// (`None` otherwise, or for `\r\n` line ends mixed with `\n`).
pub fn fai_text(text: &[u8]) -> Option<String> {
    let mut out = String::new();
    let mut pos = 0usize;
    let mut pieces = text.split_inclusive(|&c| c == b'\n').peekable();
    while let Some(line) = pieces.next() {
        pos += line.len();
        let header = line.strip_prefix(b">")?;
        let name = header.split(|c| c.is_ascii_whitespace()).next()?;
        let offset = pos;
        let (mut length, mut bases, mut width) = (0usize, None::<usize>, None::<usize>);
        let mut short_seen = false;
        while let Some(l) = pieces.next_if(|l| !l.starts_with(b">")) {
            pos += l.len();
            let b = l.iter().filter(|c| !matches!(c, b'\n' | b'\r')).count();
            if b == 0 {
                // Blank lines may only close a record.
                short_seen = true;
                continue;
            }
            if short_seen {
                return None;
            }
            // A last line without its newline is as wide as one with it (as htslib counts).
            let w = l.len() + usize::from(!l.ends_with(b"\n"));
            match bases {
                None => (bases, width) = (Some(b), Some(w)),
                Some(lb) if lb == b && width == Some(w) => {}
                Some(lb) if b < lb => short_seen = true,
                _ => return None,
            }
            length += b;
        }
        out.push_str(&format!(
            "{}\t{length}\t{offset}\t{}\t{}\n",
            String::from_utf8_lossy(name),
            bases.unwrap_or(0),
            width.unwrap_or(0)
        ));
    }
    Some(out)
}

/// One BED record as the format defines it.
#[derive(Debug, Clone, PartialEq)]
pub struct Bed {
    /// 1-based line.
    pub line: u64,
    /// Column 1.
    pub chrom: String,
    /// Column 2.
    pub start: u64,
    /// Column 3.
    pub end: u64,
    /// Column 4 unless `.`.
    pub name: Option<String>,
    /// Column 5 unless `.`.
    pub score: Option<f64>,
    /// Column 6: `+` → 1, `-` → -1, `.`/`*`/absent → 0.
    pub strand: i8,
    /// Columns 7–10 of a 10-column file: signal, p, q, summit (`None` for -1).
    pub narrow: Option<(f64, f64, f64, Option<u64>)>,
}

/// Reads BED3+/narrowPeak text: `Err(line)` names the first line that breaks the format.
///
/// The rules: a UTF-8 byte-order mark at the start is ignored; empty, `#`, `track` and
/// `browser` lines are skipped; fields are tab-separated, at least 3, the same count on every
/// data line; start and end are decimal digits only, at most 2^40, start ≤ end; the name is
/// column 4 unless `.`; the score a number unless `.`; the strand `+`, `-`, `.` or `*`; a
/// 10-column line is narrowPeak (three numbers and a summit offset below end − start, or -1).
pub fn bed(text: &[u8]) -> Result<Vec<Bed>, u64> {
    let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
    let mut out = Vec::new();
    let mut columns = None;
    for (i, line) in lines(text).into_iter().enumerate() {
        let n = i as u64 + 1;
        if line.is_empty()
            || line.starts_with(b"#")
            || line.starts_with(b"track")
            || line.starts_with(b"browser")
        {
            continue;
        }
        let line = std::str::from_utf8(line).map_err(|_| n)?;
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 3 || *columns.get_or_insert(f.len()) != f.len() {
            return Err(n);
        }
        let coord = |s: &str| -> Option<u64> {
            if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            s.parse::<u64>().ok().filter(|&v| v <= 1 << 40)
        };
        let number = |s: &str| s.parse::<f64>().ok();
        if f[0].is_empty() || f[0].contains(' ') {
            return Err(n);
        }
        let (start, end) = (coord(f[1]).ok_or(n)?, coord(f[2]).ok_or(n)?);
        if start > end {
            return Err(n);
        }
        let score = match f.get(4) {
            Some(&".") | None => None,
            Some(s) => Some(number(s).ok_or(n)?),
        };
        let strand = match f.get(5) {
            None | Some(&".") | Some(&"*") => 0,
            Some(&"+") => 1,
            Some(&"-") => -1,
            Some(_) => return Err(n),
        };
        let narrow = if f.len() == 10 {
            let summit = match f[9] {
                "-1" => None,
                s => Some(coord(s).filter(|&v| v < end - start).ok_or(n)?),
            };
            // Checked in the reader's order: the summit first, then the numbers.
            Some((
                number(f[6]).ok_or(n)?,
                number(f[7]).ok_or(n)?,
                number(f[8]).ok_or(n)?,
                summit,
            ))
        } else {
            None
        };
        out.push(Bed {
            line: n,
            chrom: f[0].to_string(),
            start,
            end,
            name: f.get(3).filter(|s| **s != ".").map(|s| s.to_string()),
            score,
            strand,
            narrow,
        });
    }
    Ok(out)
}

/// A decoded `.npy`: its numpy type string, shape and the data bytes (little-endian).
#[derive(Debug, Clone, PartialEq)]
pub struct Npy {
    /// The `descr`.
    pub descr: String,
    /// The shape.
    pub shape: Vec<usize>,
    /// Exactly the array's bytes.
    pub data: Vec<u8>,
}

/// Reads a `.npy` as numpy does: magic, version 1–3, header length, a dictionary with
/// exactly `descr`, `fortran_order` and `shape` (Python literal syntax), then the data.
/// `None` when numpy would refuse it (or it is Fortran-ordered, or too short).
pub fn npy(bytes: &[u8]) -> Option<Npy> {
    let rest = bytes.strip_prefix(b"\x93NUMPY")?;
    let (major, rest) = rest.split_first()?;
    let (_minor, rest) = rest.split_first()?;
    let (len, rest) = match major {
        1 => {
            let (l, r) = rest.split_at_checked(2)?;
            (u16::from_le_bytes([l[0], l[1]]) as usize, r)
        }
        2 | 3 => {
            let (l, r) = rest.split_at_checked(4)?;
            (u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize, r)
        }
        _ => return None,
    };
    let (header, data) = rest.split_at_checked(len)?;
    let header = std::str::from_utf8(header).ok()?;
    // Tokenise: strings, words, punctuation.
    let mut tokens: Vec<String> = Vec::new();
    let mut chars = header.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '\'' | '"' => {
                let mut s = String::from("s");
                loop {
                    match chars.next()? {
                        q if q == c => break,
                        '\\' => return None,
                        x => s.push(x),
                    }
                }
                tokens.push(s);
            }
            '{' | '}' | '(' | ')' | ':' | ',' => tokens.push(c.to_string()),
            c if c.is_ascii_alphanumeric() => {
                let mut w = format!("w{c}");
                while let Some(&x) = chars.peek().filter(|x| x.is_ascii_alphanumeric()) {
                    w.push(x);
                    chars.next();
                }
                tokens.push(w);
            }
            _ => return None,
        }
    }
    let mut t = tokens.iter().map(String::as_str).peekable();
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    let mut shape = None;
    (t.next()? == "{").then_some(())?;
    loop {
        let key = t.next()?;
        if key == "}" {
            break;
        }
        let key = key.strip_prefix('s')?.to_string();
        (t.next()? == ":").then_some(())?;
        if key == "shape" {
            (t.next()? == "(").then_some(())?;
            let mut dims = Vec::new();
            let mut commas = 0;
            loop {
                match t.next()? {
                    ")" => break,
                    "," => commas += 1,
                    w => {
                        let d = w.strip_prefix('w')?;
                        if !d.bytes().all(|c| c.is_ascii_digit()) {
                            return None;
                        }
                        dims.push(d.parse::<usize>().ok()?);
                    }
                }
            }
            // A tuple: one entry needs its comma; entries and commas alternate.
            let ok = match dims.len() {
                0 => commas == 0,
                n => commas == n || commas == n - 1 && n > 1,
            };
            if !ok || shape.replace(dims).is_some() {
                return None;
            }
        } else {
            let v = t.next()?.to_string();
            if fields.insert(key, v).is_some() {
                return None;
            }
        }
        match t.next()? {
            "," => {}
            "}" => break,
            _ => return None,
        }
    }
    if t.next().is_some() || fields.len() != 2 {
        return None;
    }
    let descr = fields.get("descr")?.strip_prefix('s')?.to_string();
    if fields.get("fortran_order")? != "wFalse" {
        return None;
    }
    let shape = shape?;
    let size: usize = match descr.as_str() {
        "|b1" | "<b1" | "=b1" | "|u1" | "<u1" | "=u1" | "|i1" | "<i1" | "=i1" => 1,
        "<f2" => 2,
        "<i4" | "<f4" => 4,
        "<i8" | "<f8" => 8,
        _ => return None,
    };
    let mut n = size as u128;
    for &d in &shape {
        n *= d as u128;
    }
    if n > data.len() as u128 {
        return None;
    }
    Some(Npy {
        descr,
        shape,
        data: data[..n as usize].to_vec(),
    })
}

/// The members of a zip archive read front to back through their local headers (not the
/// central directory the reader under test uses): `(name, uncompressed bytes)`, with each
/// member's CRC-32 checked. `None` if the walk fails.
pub fn zip_members(bytes: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut p = 0usize;
    let u16_at = |at: usize| Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    while bytes.get(p..p + 4) == Some(b"PK\x03\x04") {
        let flags = u16_at(p + 6)?;
        let method = u16_at(p + 8)?;
        let crc = u32_at(p + 14)?;
        let (mut csize, mut usize_) = (u32_at(p + 18)? as u64, u32_at(p + 22)? as u64);
        let (nlen, elen) = (u16_at(p + 26)? as usize, u16_at(p + 28)? as usize);
        if flags & 8 != 0 {
            return None; // sizes in a trailing descriptor: not what numpy writes
        }
        let name = String::from_utf8(bytes.get(p + 30..p + 30 + nlen)?.to_vec()).ok()?;
        let extra = bytes.get(p + 30 + nlen..p + 30 + nlen + elen)?;
        let mut e = 0;
        while e + 4 <= extra.len() {
            let id = u16::from_le_bytes([extra[e], extra[e + 1]]);
            let size = u16::from_le_bytes([extra[e + 2], extra[e + 3]]) as usize;
            if id == 1 {
                let field = |k: usize| {
                    Some(u64::from_le_bytes(
                        extra.get(e + 4 + 8 * k..e + 12 + 8 * k)?.try_into().ok()?,
                    ))
                };
                let mut k = 0;
                if usize_ == u32::MAX as u64 {
                    usize_ = field(k)?;
                    k += 1;
                }
                if csize == u32::MAX as u64 {
                    csize = field(k)?;
                }
            }
            e += 4 + size;
        }
        let start = p + 30 + nlen + elen;
        let end = start.checked_add(usize::try_from(csize).ok()?)?;
        let raw = bytes.get(start..end)?;
        let data = match method {
            0 => raw.to_vec(),
            8 => {
                let mut v = Vec::new();
                flate2::read::DeflateDecoder::new(raw)
                    .take(usize_ + 1)
                    .read_to_end(&mut v)
                    .ok()?;
                v
            }
            _ => return None,
        };
        let mut c = flate2::Crc::new();
        c.update(&data);
        if data.len() as u64 != usize_ || c.sum() != crc {
            return None;
        }
        out.push((name, data));
        p = end;
    }
    // The members end where the central directory starts; anything else and the walk has
    // lost its way (the reader, like zipfile, trusts the directory's sizes instead).
    (bytes.get(p..p + 4) == Some(b"PK\x01\x02")).then_some(out)
}

/// A MatrixMarket coordinate matrix as a map `(row, col) → value` (0-based, duplicates
/// summed as scipy does), with its shape and whether it is `integer`. `None` when the text
/// breaks the format: header, size line, entry count, 1-based indices in range, integers
/// that are integers.
#[allow(clippy::type_complexity)]
pub fn matrix_market(text: &[u8]) -> Option<(usize, usize, bool, BTreeMap<(usize, usize), f64>)> {
    // Comment lines are skipped whatever bytes they hold; every other line must be text.
    let mut ls = lines(text).into_iter();
    let header: Vec<String> = std::str::from_utf8(ls.next()?)
        .ok()?
        .split_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    if header.len() != 5
        || header[0] != "%%matrixmarket"
        || header[1] != "matrix"
        || header[2] != "coordinate"
        || header[4] != "general"
    {
        return None;
    }
    let integer = match header[3].as_str() {
        "integer" => true,
        "real" | "double" => false,
        _ => return None,
    };
    let mut ls = ls.filter(|l| !l.trim_ascii().is_empty() && !l.starts_with(b"%"));
    let size: Vec<usize> = std::str::from_utf8(ls.next()?)
        .ok()?
        .split_whitespace()
        .map(|w| w.parse().ok())
        .collect::<Option<_>>()?;
    let [rows, cols, entries] = size[..] else {
        return None;
    };
    let mut m = BTreeMap::new();
    let mut seen = 0usize;
    for l in ls {
        let w: Vec<&str> = std::str::from_utf8(l).ok()?.split_whitespace().collect();
        let [r, c, v] = w[..] else {
            return None;
        };
        let (r, c): (usize, usize) = (r.parse().ok()?, c.parse().ok()?);
        if r == 0 || c == 0 || r > rows || c > cols {
            return None;
        }
        let v: f64 = if integer {
            if !v.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            v.parse::<u64>().ok().filter(|&v| v <= i32::MAX as u64)? as f64
        } else {
            v.parse().ok()?
        };
        *m.entry((r - 1, c - 1)).or_insert(0.0) += v;
        seen += 1;
    }
    (seen == entries).then_some((rows, cols, integer, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fasta_and_fai_follow_samtools() {
        let fa = b">a desc\nACGT\nAC\n>b\r\nNNN\r\n";
        assert_eq!(
            fasta_records(fa),
            vec![
                (b"a".to_vec(), b"ACGTAC".to_vec()),
                (b"b".to_vec(), b"NNN".to_vec())
            ]
        );
        // samtools faidx on this file writes these two lines.
        assert_eq!(fai_text(fa).unwrap(), "a\t6\t8\t4\t5\nb\t3\t20\t3\t5\n");
        assert_eq!(fai_text(b">a\nAC\nACG\n"), None);
    }

    #[test]
    fn bed_rules() {
        let ok = bed(b"\xEF\xBB\xBFtrack x\nc\t1\t2\tn\t.\t-\n").unwrap();
        assert_eq!(ok[0].line, 2);
        assert_eq!((ok[0].name.as_deref(), ok[0].strand), (Some("n"), -1));
        assert_eq!(bed(b"c\t1\t2\nc\t1\t2\t3\n"), Err(2));
        assert_eq!(bed(b"c\t+1\t2\n"), Err(1));
        assert_eq!(bed(b"c\t3\t2\n"), Err(1));
    }

    #[test]
    fn npy_headers_as_numpy() {
        let make = |h: &str| {
            let mut v = b"\x93NUMPY\x01\x00".to_vec();
            v.extend_from_slice(&(h.len() as u16).to_le_bytes());
            v.extend_from_slice(h.as_bytes());
            v.extend_from_slice(&[1, 2]);
            v
        };
        let a = npy(&make(
            "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }",
        ))
        .unwrap();
        assert_eq!((a.shape, a.data), (vec![2], vec![1, 2]));
        assert!(
            npy(&make(
                "{'descr': '|u1', 'fortran_order': False, 'shape': (2), }"
            ))
            .is_none()
        );
        assert!(
            npy(&make(
                "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }"
            ))
            .is_none()
        );
    }

    #[test]
    fn matrix_market_sums_duplicates() {
        let t =
            b"%%MatrixMarket matrix coordinate integer general\n% c\n2 2 3\n1 1 2\n1 1 3\n2 1 1\n";
        let (r, c, int, m) = matrix_market(t).unwrap();
        assert_eq!((r, c, int), (2, 2, true));
        assert_eq!(m[&(0, 0)], 5.0);
        assert!(
            matrix_market(b"%%MatrixMarket matrix coordinate integer general\n1 1 1\n1 1 1.5\n")
                .is_none()
        );
    }
}
