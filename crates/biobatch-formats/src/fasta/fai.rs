//! The `.fai` index: one line per sequence with its length and where its bases sit in the file.
//!
//! ```text
//! NAME <TAB> LENGTH <TAB> OFFSET <TAB> LINE_BASES <TAB> LINE_WIDTH
//! chr1       248956422    6          60               61
//! ```
//! `OFFSET` is the byte offset of the first base (in the uncompressed stream for bgzip files);
//! every line but the last holds `LINE_BASES` bases and `LINE_WIDTH` bytes with its newline.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::Path;

use crate::fs::write_atomic;
use crate::util::parse_u64;
use crate::{Error, Result};

/// One sequence of a `.fai` index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaiRecord {
    /// The sequence name (first word of the `>` line).
    pub name: String,
    /// Number of bases.
    pub length: u64,
    /// Byte offset of the first base.
    pub offset: u64,
    /// Bases per full line.
    pub line_bases: u64,
    /// Bytes per full line, newline included.
    pub line_width: u64,
}

impl FaiRecord {
    /// Byte offset of base `pos` (0-based) of this sequence (which must have `pos < length`).
    #[inline]
    pub fn byte_offset(&self, pos: u64) -> u64 {
        let lb = self.line_bases.max(1);
        self.offset + (pos / lb) * self.line_width + pos % lb
    }
}

/// A FASTA index: the records in file order and a name lookup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaiIndex {
    records: Vec<FaiRecord>,
    by_name: HashMap<String, usize>,
}

impl FaiIndex {
    /// Builds an index from records, rejecting duplicate names and impossible line layouts.
    pub fn from_records(records: Vec<FaiRecord>) -> Result<Self> {
        let mut by_name = HashMap::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            if let Some(why) = layout_problem(r.length, r.line_bases, r.line_width) {
                return Err(Error::Invalid(format!("sequence `{}`: {why}", r.name)));
            }
            if by_name.insert(r.name.clone(), i).is_some() {
                return Err(Error::Invalid(format!(
                    "duplicate sequence name `{}`",
                    r.name
                )));
            }
        }
        Ok(FaiIndex { records, by_name })
    }

    /// Reads a `.fai` file; errors name the line and column.
    pub fn read(path: &Path) -> Result<Self> {
        let file = crate::fs::open_regular(path)?;
        Self::parse(std::io::BufReader::new(file), path)
    }

    /// Parses `.fai` text; `path` is only used in error messages.
    pub fn parse(mut reader: impl BufRead, path: &Path) -> Result<Self> {
        const COLS: [&str; 5] = ["name", "length", "offset", "line bases", "line width"];
        let mut records = Vec::new();
        let mut by_name = HashMap::new();
        let mut line = Vec::new();
        let mut line_no = 0u64;
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| Error::io(path, e))?;
            if n == 0 {
                break;
            }
            line_no += 1;
            while matches!(line.last(), Some(b'\n' | b'\r')) {
                line.pop();
            }
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&[u8]> = line.split(|&b| b == b'\t').collect();
            if fields.len() < 5 {
                return Err(Error::parse(
                    path,
                    line_no,
                    format!("column {}", fields.len() + 1),
                    "5 tab-separated columns (name, length, offset, line bases, line width)",
                    &line,
                ));
            }
            let mut nums = [0u64; 4];
            for (k, num) in nums.iter_mut().enumerate() {
                *num = parse_u64(fields[k + 1]).ok_or_else(|| {
                    Error::parse(
                        path,
                        line_no,
                        format!("column {} ({})", k + 2, COLS[k + 1]),
                        "a non-negative integer",
                        fields[k + 1],
                    )
                })?;
            }
            let name = std::str::from_utf8(fields[0])
                .map_err(|_| {
                    Error::parse(path, line_no, "column 1 (name)", "UTF-8 text", fields[0])
                })?
                .to_string();
            let [length, offset, line_bases, line_width] = nums;
            if let Some(why) = layout_problem(length, line_bases, line_width) {
                return Err(Error::parse(path, line_no, "columns 2-5", why, &line));
            }
            if by_name.insert(name.clone(), records.len()).is_some() {
                return Err(Error::parse(
                    path,
                    line_no,
                    "column 1 (name)",
                    "a unique name",
                    fields[0],
                ));
            }
            records.push(FaiRecord {
                name,
                length,
                offset,
                line_bases,
                line_width,
            });
        }
        Ok(FaiIndex { records, by_name })
    }

    /// Writes the index atomically (temporary file, then rename).
    pub fn write(&self, path: &Path) -> Result<()> {
        write_atomic(path, |f| {
            let mut w = std::io::BufWriter::new(f);
            for r in &self.records {
                writeln!(
                    w,
                    "{}\t{}\t{}\t{}\t{}",
                    r.name, r.length, r.offset, r.line_bases, r.line_width
                )?;
            }
            w.flush()
        })
    }

    /// The records in file order.
    pub fn records(&self) -> &[FaiRecord] {
        &self.records
    }

    /// The position of `name` in [`FaiIndex::records`].
    pub fn id(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// The record named `name`.
    pub fn get(&self, name: &str) -> Option<&FaiRecord> {
        self.id(name).map(|i| &self.records[i])
    }

    /// Number of sequences.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the index has no sequences.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// What is impossible about a sequence's length and line layout, if anything: a length
/// beyond [`MAX_COORD`](crate::MAX_COORD), or lines whose width is not their bases plus a line
/// end (`\n`, or `\r\n`).
fn layout_problem(length: u64, line_bases: u64, line_width: u64) -> Option<String> {
    if length > crate::MAX_COORD {
        return Some(format!(
            "a length of at most 2^40 (beyond any sequence), not {length}"
        ));
    }
    let eol = line_width.checked_sub(line_bases);
    (length > 0 && (line_bases == 0 || !matches!(eol, Some(1 | 2)))).then(|| {
        format!(
            "line width = line bases (> 0) + 1 or 2 (a line end), not {line_width} and \
             {line_bases}"
        )
    })
}

/// Builds a `.fai` index from the (uncompressed) FASTA stream, with `samtools faidx` rules:
/// every sequence line but the last of a record has the same length; blank lines may only
/// end a record; empty sequences are left out. Errors name the line.
pub fn build_index(mut reader: impl BufRead, path: &Path) -> Result<FaiIndex> {
    struct Open {
        rec: FaiRecord,
        /// Line of the first short (last) sequence line, if seen.
        short_line: Option<u64>,
        blank_line: Option<u64>,
    }
    let mut records: Vec<FaiRecord> = Vec::new();
    let mut current: Option<Open> = None;
    let mut line = Vec::new();
    let (mut offset, mut line_no) = (0u64, 0u64);
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io(path, e))? as u64;
        if n == 0 {
            break;
        }
        line_no += 1;
        offset += n;
        let content_len = line
            .iter()
            .rposition(|&b| b != b'\n' && b != b'\r')
            .map_or(0, |p| p + 1) as u64;
        if line.first() == Some(&b'>') {
            if let Some(open) = current.take().filter(|o| o.rec.length > 0) {
                records.push(open.rec);
            }
            let name_bytes = line[1..content_len as usize]
                .split(|b| b.is_ascii_whitespace())
                .next()
                .unwrap_or_default();
            if name_bytes.is_empty() {
                return Err(Error::parse(
                    path,
                    line_no,
                    "header",
                    "a sequence name after `>`",
                    &line,
                ));
            }
            let name = std::str::from_utf8(name_bytes).map_err(|_| {
                Error::parse(path, line_no, "header", "a UTF-8 sequence name", name_bytes)
            })?;
            current = Some(Open {
                rec: FaiRecord {
                    name: name.to_string(),
                    length: 0,
                    offset,
                    line_bases: 0,
                    line_width: 0,
                },
                short_line: None,
                blank_line: None,
            });
            continue;
        }
        let Some(open) = current.as_mut() else {
            if content_len == 0 {
                continue;
            }
            return Err(Error::parse(
                path,
                line_no,
                "line",
                "a `>` header before any sequence",
                &line,
            ));
        };
        if content_len == 0 {
            open.blank_line.get_or_insert(line_no);
            continue;
        }
        if let Some(blank) = open.blank_line {
            return Err(Error::parse(
                path,
                line_no,
                "sequence line",
                format!(
                    "no sequence after the blank line {blank} within `{}`",
                    open.rec.name
                ),
                &line[..content_len as usize],
            ));
        }
        let rec = &mut open.rec;
        // The last line of a file may lack its newline (htslib and pyfaidx read such files):
        // it is as wide as the other lines' would be.
        let n = if line.last() == Some(&b'\n') {
            n
        } else if rec.line_bases > 0 {
            content_len + (rec.line_width - rec.line_bases)
        } else {
            content_len + 1
        };
        if rec.line_bases == 0 {
            rec.line_bases = content_len;
            rec.line_width = n;
        } else if let Some(short) = open.short_line {
            return Err(Error::parse(
                path,
                line_no,
                "sequence line",
                format!(
                    "no more sequence after the shorter line {short} of `{}` (all lines but the last need {} bases)",
                    rec.name, rec.line_bases
                ),
                &line[..content_len.min(80) as usize],
            ));
        } else if content_len > rec.line_bases
            || (content_len == rec.line_bases && n != rec.line_width)
        {
            return Err(Error::parse(
                path,
                line_no,
                "sequence line",
                format!(
                    "{} bases per line as in the first line of `{}`",
                    rec.line_bases, rec.name
                ),
                format!("{content_len} bases").as_bytes(),
            ));
        } else if content_len < rec.line_bases || n < rec.line_width {
            open.short_line = Some(line_no);
        }
        rec.length += content_len;
    }
    if let Some(open) = current.take().filter(|o| o.rec.length > 0) {
        records.push(open.rec);
    }
    FaiIndex::from_records(records).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reports_line_and_column() {
        let p = Path::new("x.fai");
        let err = FaiIndex::parse(&b"a\t10\t3\t5\t6\nb\t1x\t20\t5\t6\n"[..], p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "x.fai:2: column 2 (length): a non-negative integer, found `1x`"
        );
        let err = FaiIndex::parse(&b"a\t10\t3\t5\n"[..], p).unwrap_err();
        assert!(err.to_string().starts_with("x.fai:1: column 5:"), "{err}");
        let err = FaiIndex::parse(&b"a\t10\t3\t5\t5\n"[..], p).unwrap_err();
        assert!(err.to_string().contains("line width = line bases"), "{err}");
        let err = FaiIndex::parse(&b"a\t10\t3\t5\t6\na\t1\t30\t5\t6\n"[..], p).unwrap_err();
        assert!(err.to_string().contains("unique name"), "{err}");
    }

    fn build(text: &str) -> Result<FaiIndex> {
        build_index(text.as_bytes(), Path::new("x.fa"))
    }

    #[test]
    fn builds_like_samtools() {
        let idx = build(">a desc\nACGT\nAC\n\n>b\nAA\r\nA\r\n>empty\n>c\nA\n\n\n").unwrap();
        let got: Vec<_> = idx
            .records()
            .iter()
            .map(|r| {
                (
                    r.name.as_str(),
                    r.length,
                    r.offset,
                    r.line_bases,
                    r.line_width,
                )
            })
            .collect();
        assert_eq!(
            got,
            // `samtools faidx` 1.16 on the same text; like it, empty sequences are left out.
            [("a", 6, 8, 4, 5), ("b", 3, 20, 2, 4), ("c", 1, 37, 1, 2)]
        );
    }

    #[test]
    fn build_errors_name_the_line() {
        let e = build(">a\nACGT\nAC\nACGT\n").unwrap_err().to_string();
        assert!(
            e.starts_with("x.fa:4: sequence line: no more sequence after the shorter line 3"),
            "{e}"
        );
        let e = build(">a\nACGT\nACGTA\n").unwrap_err().to_string();
        assert!(
            e.starts_with("x.fa:3: sequence line: 4 bases per line"),
            "{e}"
        );
        let e = build(">a\nACGT\n\nAC\n").unwrap_err().to_string();
        assert!(e.contains("x.fa:4:") && e.contains("blank line 3"), "{e}");
        let e = build("ACGT\n>a\nAC\n").unwrap_err().to_string();
        assert!(e.starts_with("x.fa:1: line: a `>` header"), "{e}");
        let e = build(">a\nA\n>a\nC\n").unwrap_err().to_string();
        assert!(e.contains("duplicate sequence name `a`"), "{e}");
    }

    #[test]
    fn byte_offsets_skip_newlines() {
        let r = FaiRecord {
            name: "a".into(),
            length: 12,
            offset: 3,
            line_bases: 5,
            line_width: 6,
        };
        assert_eq!(r.byte_offset(0), 3);
        assert_eq!(r.byte_offset(4), 7);
        assert_eq!(r.byte_offset(5), 9);
        assert_eq!(r.byte_offset(11), 16);
    }
}
