//! Checking a `.fai` index against the file it claims to describe, at open.

use std::path::Path;

use super::{Fasta, Source};
use crate::{Error, Result};

/// Checks every record of the index against the file's structure, so that a stale or
/// wrong index is refused instead of serving other bases: the first base follows a
/// newline; the line ends the index implies are line ends (`\n` or `\r\n`) — the first,
/// the last and up to [`SAMPLED_LINES`] evenly spaced full lines of each sequence — with a
/// base before each; the last base is inside the file and is a base; after it comes a line
/// end or the end of the file, then the next record's `>` or the end of the file.
///
/// `sampled` bounds the evenly spaced lines ([`SAMPLED_LINES`] for a local file; a remote one
/// samples fewer, as every probe there may cost a block fetch, and relies on the checks every
/// fetch makes of the lines it copies).
pub(super) fn validate_index(f: &Fasta, fai_path: &Path, sampled: u64) -> Result<()> {
    let total = match &f.source {
        Source::Plain(d) => d.len() as u64,
        Source::Bgzf {
            uncompressed_len, ..
        } => *uncompressed_len,
        #[cfg(feature = "remote")]
        Source::Remote(src) => src.len(),
    };
    let stale = |name: &str, what: String| {
        Error::Invalid(format!(
            "{}: index does not match {} for sequence `{name}`: {what}; \
             delete the index or rebuild it with `biobatch index`",
            fai_path.display(),
            f.path.display()
        ))
    };
    let byte = |off: u64| -> Result<Option<u8>> {
        if off >= total {
            return Ok(None);
        }
        let mut probe = [0u8; 1];
        f.read_raw(off, &mut probe)?;
        Ok(Some(probe[0]))
    };
    let is_base = |b: Option<u8>| matches!(b, Some(c) if !matches!(c, b'\n' | b'\r' | b'>'));
    // The length of the line end (`\n` or `\r\n`; a lone `\r` is not one) at `at`.
    let line_end = |at: u64| -> Result<Option<u64>> {
        Ok(match byte(at)? {
            Some(b'\n') => Some(1),
            Some(b'\r') if byte(at + 1)? == Some(b'\n') => Some(2),
            _ => None,
        })
    };
    // From `at` (just after a record's last line end): blank lines, then the next record's
    // `>` or the end of the file.
    let next_record = |name: &str, mut at: u64| -> Result<()> {
        let from = at;
        while let Some(k) = line_end(at)? {
            at += k;
            if at - from > 1024 {
                return Ok(());
            }
        }
        match byte(at)? {
            Some(c) if c != b'>' => Err(stale(
                name,
                format!(
                    "byte {at} is {:?}, expected the next record's `>` or the end of the file",
                    c as char
                ),
            )),
            _ => Ok(()),
        }
    };
    for r in f.index.records() {
        let what = |off: u64, b: Option<u8>, expected: &str| match b {
            Some(c) => format!("byte {off} is {:?}, expected {expected}", c as char),
            None => format!("byte {off} is past the end of the file, expected {expected}"),
        };
        if r.offset == 0 || r.offset > total || (r.length > 0 && r.offset == total) {
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
        f.read_raw(r.offset - 1 - back, &mut head)?;
        let line_start = head.iter().rposition(|&c| c == b'\n').map(|i| i + 1);
        if let Some(st) = line_start.or((back == r.offset - 1).then_some(0)) {
            let line = &head[st..];
            // A name with spaces would match the header of a record called by its first word.
            let named = !r.name.bytes().any(|c| c.is_ascii_whitespace())
                && line.first() == Some(&b'>')
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
        if r.length == 0 {
            // An empty record: nothing but line ends before the next record.
            next_record(&r.name, r.offset)?;
            continue;
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
        for k in sampled_lines(full_lines, sampled) {
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
        let at = last + 1;
        if byte(at)?.is_some() && line_end(at)?.is_none() {
            let b = byte(at)?;
            return Err(stale(
                &r.name,
                what(
                    at,
                    b,
                    "a line end after its last base (is the length shortened?)",
                ),
            ));
        }
        next_record(&r.name, at)?;
    }
    Ok(())
}

/// Full lines of a sequence checked at open besides its first and last ([`Fasta::open`](super::Fasta::open)).
pub const SAMPLED_LINES: u64 = 32;

/// The full lines (0-based, `0..full`) whose line ends are checked: the first, the last, and
/// up to `sampled` (at most [`SAMPLED_LINES`] locally) evenly spaced between.
fn sampled_lines(full: u64, sampled: u64) -> impl Iterator<Item = u64> {
    let n = sampled.min(full);
    let mut lines: Vec<u64> = (0..n).map(|i| i * full / n.max(1)).collect();
    if full > 0 {
        lines.push(full - 1);
    }
    lines.dedup();
    lines.into_iter()
}
