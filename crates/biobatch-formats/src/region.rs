//! Region strings as samtools writes them: `chr:start-end`, 1-based, both ends inclusive.
//!
//! `chr` alone is the whole sequence and `chr:start` runs to its end. Digits may carry
//! thousands separators (`chr1:1,000-2,000`). A name that itself contains `:` (e.g. HLA
//! alleles) is matched whole first, as samtools does. [`Region`] holds the 0-based,
//! half-open equivalent.

use std::fmt;

use crate::{Error, Result};

/// A parsed region, 0-based half-open; `end = None` means "to the end of the sequence".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// Sequence name.
    pub chrom: String,
    /// 0-based start.
    pub start: u64,
    /// Exclusive end, or `None` for the end of the sequence.
    pub end: Option<u64>,
}

impl Region {
    /// Parses `s`; `is_chrom` tells whether a whole string is a known sequence name.
    ///
    /// ```
    /// use biobatch_formats::region::Region;
    ///
    /// let r = Region::parse("chr1:1,001-2000", |_| false).unwrap();
    /// assert_eq!((r.chrom.as_str(), r.start, r.end), ("chr1", 1000, Some(2000)));
    /// let whole = Region::parse("HLA-A*01:01", |n| n == "HLA-A*01:01").unwrap();
    /// assert_eq!(whole.end, None);
    /// ```
    pub fn parse(s: &str, is_chrom: impl Fn(&str) -> bool) -> Result<Region> {
        let bad = |why: &str| {
            Error::Invalid(format!(
                "invalid region `{s}`: {why} (expected chr, chr:start or chr:start-end, 1-based inclusive)"
            ))
        };
        if s.is_empty() {
            return Err(bad("empty"));
        }
        if is_chrom(s) {
            return Ok(Region {
                chrom: s.to_string(),
                start: 0,
                end: None,
            });
        }
        let Some((chrom, range)) = s.rsplit_once(':') else {
            return Ok(Region {
                chrom: s.to_string(),
                start: 0,
                end: None,
            });
        };
        if chrom.is_empty() {
            return Err(bad("missing sequence name"));
        }
        let num = |t: &str| -> Result<u64> {
            let digits: String = t.chars().filter(|&c| c != ',').collect();
            match digits.parse::<u64>() {
                Ok(v) if v <= crate::MAX_COORD => Ok(v),
                Ok(_) => Err(bad(&format!(
                    "`{t}` is beyond any sequence (positions are at most 2^40)"
                ))),
                Err(_) => Err(bad(&format!("`{t}` is not a positive integer"))),
            }
        };
        let (start, end) = match range.split_once('-') {
            Some((a, b)) => (num(a)?, Some(num(b)?)),
            None => (num(range)?, None),
        };
        if start == 0 {
            return Err(bad(
                "positions are 1-based, so the start must be at least 1",
            ));
        }
        if let Some(e) = end
            && e < start
        {
            return Err(bad("end is before start"));
        }
        Ok(Region {
            chrom: chrom.to_string(),
            start: start - 1,
            end,
        })
    }

    /// The 0-based, half-open span given the sequence length, allowing `pad` bases past its
    /// end (a window padded with `N`); errors if the region starts past the end, or runs more
    /// than `pad` bases past it.
    pub fn resolve_padded(&self, len: u64, pad: u64) -> Result<(u64, u64)> {
        let end = self.end.unwrap_or(len);
        if self.start >= len || end > len.saturating_add(pad) {
            return Err(Error::Invalid(format!(
                "region {self} runs past the end of `{}` (length {len}){}",
                self.chrom,
                if pad > 0 {
                    format!(" by more than {pad} bases")
                } else {
                    String::new()
                }
            )));
        }
        Ok((self.start, end))
    }

    /// The exclusive end, given the sequence length; errors if the region starts past it.
    pub fn resolve(&self, len: u64) -> Result<(u64, u64)> {
        let end = self.end.unwrap_or(len);
        if self.start >= len || end > len {
            return Err(Error::Invalid(format!(
                "region {self} runs past the end of `{}` (length {len})",
                self.chrom
            )));
        }
        Ok((self.start, end))
    }
}

impl fmt::Display for Region {
    /// Writes the samtools form (1-based, inclusive).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.end {
            Some(e) => write!(f, "{}:{}-{}", self.chrom, self.start + 1, e),
            None if self.start == 0 => write!(f, "{}", self.chrom),
            None => write!(f, "{}:{}", self.chrom, self.start + 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_samtools_forms() {
        let p = |s| Region::parse(s, |_| false);
        assert_eq!(
            p("chr2:5-5").unwrap(),
            Region {
                chrom: "chr2".into(),
                start: 4,
                end: Some(5)
            }
        );
        assert_eq!(p("chr2:5").unwrap().end, None);
        assert_eq!(
            p("chr2").unwrap(),
            Region {
                chrom: "chr2".into(),
                start: 0,
                end: None
            }
        );
        assert!(p("chr2:0-5").unwrap_err().to_string().contains("1-based"));
        assert!(
            p("chr2:9-5")
                .unwrap_err()
                .to_string()
                .contains("end is before start")
        );
        assert!(p("chr2:x-5").is_err());
        assert!(p(":1-5").is_err());
        assert_eq!(p("chr2:5-9").unwrap().to_string(), "chr2:5-9");
        assert_eq!(p("chr2:5-9").unwrap().resolve(9).unwrap(), (4, 9));
        assert!(p("chr2:5-10").unwrap().resolve(9).is_err());
    }
}
