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

use crate::util::{parse_u64, write_atomic};
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
    /// Byte offset of base `pos` (0-based) of this sequence.
    #[inline]
    pub fn byte_offset(&self, pos: u64) -> u64 {
        self.offset + (pos / self.line_bases) * self.line_width + pos % self.line_bases
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
            if r.line_bases == 0 || r.line_width <= r.line_bases {
                return Err(Error::Invalid(format!(
                    "sequence `{}`: line width {} must exceed line bases {} (> 0)",
                    r.name, r.line_width, r.line_bases
                )));
            }
            if by_name.insert(r.name.clone(), i).is_some() {
                return Err(Error::Invalid(format!("duplicate sequence name `{}`", r.name)));
            }
        }
        Ok(FaiIndex { records, by_name })
    }

    /// Reads a `.fai` file; errors name the line and column.
    pub fn read(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
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
            let name = String::from_utf8_lossy(fields[0]).into_owned();
            let [length, offset, line_bases, line_width] = nums;
            if line_bases == 0 || line_width <= line_bases {
                return Err(Error::parse(
                    path,
                    line_no,
                    "columns 4-5 (line bases, line width)",
                    "line width greater than line bases > 0",
                    &line,
                ));
            }
            if by_name.insert(name.clone(), records.len()).is_some() {
                return Err(Error::parse(path, line_no, "column 1 (name)", "a unique name", fields[0]));
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
        assert!(err.to_string().contains("line width greater"), "{err}");
        let err = FaiIndex::parse(&b"a\t10\t3\t5\t6\na\t1\t30\t5\t6\n"[..], p).unwrap_err();
        assert!(err.to_string().contains("unique name"), "{err}");
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
