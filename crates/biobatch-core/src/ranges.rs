//! [`GenomicRanges`]: Kipoi's range metadata (chr, start, end, id, strand) as columns.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Array, Error, Node, Result};

/// The strand of a genomic interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Strand {
    /// `+`
    #[serde(rename = "+")]
    Forward,
    /// `-`
    #[serde(rename = "-")]
    Reverse,
    /// `.` (BED) or `*` (Kipoi): not stranded or not known.
    #[default]
    #[serde(rename = ".")]
    Unknown,
}

impl Strand {
    /// The one-character form: `+`, `-` or `.`.
    pub fn as_str(self) -> &'static str {
        match self {
            Strand::Forward => "+",
            Strand::Reverse => "-",
            Strand::Unknown => ".",
        }
    }
}

impl fmt::Display for Strand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Strand {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "+" => Ok(Strand::Forward),
            "-" => Ok(Strand::Reverse),
            "." | "*" => Ok(Strand::Unknown),
            other => Err(Error::Invalid(format!(
                "invalid strand `{other}` (expected +, - or .)"
            ))),
        }
    }
}

/// Genomic intervals stored as columns, 0-based half-open (`[start, end)`).
///
/// In a batch tree they form a map node with the leaves `chr`, `start`, `end`, `id` and
/// `strand` (strings and `i64`), so they collate and slice like any other metadata.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenomicRanges {
    /// Chromosome names.
    pub chr: Vec<String>,
    /// 0-based starts.
    pub start: Vec<i64>,
    /// Exclusive ends.
    pub end: Vec<i64>,
    /// Identifiers (empty strings where there are none).
    pub id: Vec<String>,
    /// Strands.
    pub strand: Vec<Strand>,
}

const FIELDS: [&str; 5] = ["chr", "start", "end", "id", "strand"];

impl GenomicRanges {
    /// Empty ranges with room for `n`.
    pub fn with_capacity(n: usize) -> Self {
        GenomicRanges {
            chr: Vec::with_capacity(n),
            start: Vec::with_capacity(n),
            end: Vec::with_capacity(n),
            id: Vec::with_capacity(n),
            strand: Vec::with_capacity(n),
        }
    }

    /// Number of ranges.
    pub fn len(&self) -> usize {
        self.chr.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.chr.is_empty()
    }

    /// Appends one range; errors if `start > end`.
    pub fn push(
        &mut self,
        chr: impl Into<String>,
        start: i64,
        end: i64,
        id: impl Into<String>,
        strand: Strand,
    ) -> Result<()> {
        if start > end {
            return Err(Error::Invalid(format!(
                "range start {start} is after its end {end}"
            )));
        }
        self.chr.push(chr.into());
        self.start.push(start);
        self.end.push(end);
        self.id.push(id.into());
        self.strand.push(strand);
        Ok(())
    }

    /// The ranges as a map node of five 1-D columns.
    pub fn to_node(&self) -> Node {
        let strands: Vec<String> = self.strand.iter().map(|s| s.as_str().to_string()).collect();
        Node::Map(BTreeMap::from([
            ("chr".to_string(), Array::from_vec(self.chr.clone()).into()),
            (
                "start".to_string(),
                Array::from_vec(self.start.clone()).into(),
            ),
            ("end".to_string(), Array::from_vec(self.end.clone()).into()),
            ("id".to_string(), Array::from_vec(self.id.clone()).into()),
            ("strand".to_string(), Array::from_vec(strands).into()),
        ]))
    }

    /// Reads ranges back from a map node written by [`GenomicRanges::to_node`].
    pub fn from_node(node: &Node) -> Result<Self> {
        let col = |k: &str| {
            node.get(k)
                .and_then(Node::as_array)
                .ok_or_else(|| Error::PathNotFound {
                    path: k.to_string(),
                })
        };
        let mut lens = Vec::new();
        for k in FIELDS {
            let a = col(k)?;
            if a.ndim() != 1 {
                return Err(Error::Invalid(format!(
                    "ranges column `{k}` must be 1-D, has shape {:?}",
                    a.shape()
                )));
            }
            lens.push(a.len());
        }
        if lens.iter().any(|&l| l != lens[0]) {
            return Err(Error::Invalid(format!(
                "ranges columns have different lengths {lens:?}"
            )));
        }
        let strand = col("strand")?
            .as_slice::<String>()?
            .iter()
            .map(|s| s.parse())
            .collect::<Result<Vec<_>>>()?;
        Ok(GenomicRanges {
            chr: col("chr")?.as_slice::<String>()?.to_vec(),
            start: col("start")?.as_slice::<i64>()?.to_vec(),
            end: col("end")?.as_slice::<i64>()?.to_vec(),
            id: col("id")?.as_slice::<String>()?.to_vec(),
            strand,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_round_trip() {
        let mut r = GenomicRanges::with_capacity(2);
        r.push("chr1", 10, 20, "a", Strand::Forward).unwrap();
        r.push("chr2", 0, 5, "", Strand::Unknown).unwrap();
        let node = r.to_node();
        assert_eq!(
            node.get("start")
                .unwrap()
                .as_array()
                .unwrap()
                .as_slice::<i64>()
                .unwrap(),
            &[10, 0]
        );
        assert_eq!(GenomicRanges::from_node(&node).unwrap(), r);
    }

    #[test]
    fn rejects_inverted_ranges_and_bad_strands() {
        let mut r = GenomicRanges::default();
        assert!(r.push("chr1", 20, 10, "x", Strand::Unknown).is_err());
        assert!(r.is_empty());
        assert_eq!("*".parse::<Strand>().unwrap(), Strand::Unknown);
        assert!("x".parse::<Strand>().is_err());
    }

    #[test]
    fn from_node_checks_columns() {
        let mut r = GenomicRanges::default();
        r.push("chr1", 1, 2, "a", Strand::Reverse).unwrap();
        let mut node = r.to_node();
        node.insert("end", Array::from_vec(vec![1i64, 2])).unwrap();
        assert!(GenomicRanges::from_node(&node).is_err());
    }
}
