//! The `.npy` header: magic, version, and the dictionary literal numpy writes.

use std::path::Path;

use biobatch_core::DType;

use crate::{Error, Result};

pub(super) fn dtype_of(descr: &str) -> Option<(DType, usize)> {
    Some(match descr {
        "|b1" | "<b1" | "=b1" => (DType::Bool, 1),
        "|u1" | "<u1" | "=u1" => (DType::U8, 1),
        "|i1" | "<i1" | "=i1" => (DType::I8, 1),
        "<i4" => (DType::I32, 4),
        "<i8" => (DType::I64, 8),
        "<f2" => (DType::F16, 2),
        "<f4" => (DType::F32, 4),
        "<f8" => (DType::F64, 8),
        _ => return None,
    })
}

/// The header dictionary of a `.npy`, read as numpy reads it (a Python literal with exactly
/// the keys `descr`, `fortran_order` and `shape`, then only spaces and the final newline).
#[derive(Debug, PartialEq)]
struct HeaderDict {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// A cursor over header text.
struct Lit<'a> {
    s: &'a [u8],
    at: usize,
}

impl Lit<'_> {
    fn skip_ws(&mut self) {
        while self.s.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    /// Consumes `c` (after spaces) if it is next.
    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        let hit = self.s.get(self.at) == Some(&c);
        self.at += usize::from(hit);
        hit
    }

    fn expect(&mut self, c: u8) -> std::result::Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected `{}` at byte {}", c as char, self.at))
        }
    }

    /// A quoted string without escapes (numpy's keys and dtype strings have none).
    fn string(&mut self) -> std::result::Result<String, String> {
        self.skip_ws();
        let q = match self.s.get(self.at) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => return Err(format!("expected a quoted string at byte {}", self.at)),
        };
        let from = self.at + 1;
        let len = self.s[from..]
            .iter()
            .position(|&c| c == q || c == b'\\')
            .filter(|&n| self.s[from + n] == q)
            .ok_or_else(|| format!("unterminated or escaped string at byte {}", self.at))?;
        self.at = from + len + 1;
        Ok(String::from_utf8_lossy(&self.s[from..from + len]).into_owned())
    }

    fn word(&mut self) -> &[u8] {
        self.skip_ws();
        let from = self.at;
        while self.s.get(self.at).is_some_and(u8::is_ascii_alphanumeric) {
            self.at += 1;
        }
        &self.s[from..self.at]
    }
}

impl HeaderDict {
    fn parse(text: &str) -> std::result::Result<Self, String> {
        let mut l = Lit {
            s: text.as_bytes(),
            at: 0,
        };
        let (mut descr, mut fortran, mut shape) = (None, None, None);
        l.expect(b'{')?;
        while !l.eat(b'}') {
            let key = l.string()?;
            l.expect(b':')?;
            match key.as_str() {
                "descr" if descr.is_none() => descr = Some(l.string()?),
                "fortran_order" if fortran.is_none() => {
                    fortran = Some(match l.word() {
                        b"True" => true,
                        b"False" => false,
                        _ => return Err("fortran_order is not True or False".into()),
                    })
                }
                "shape" if shape.is_none() => {
                    l.expect(b'(')?;
                    let mut dims = Vec::new();
                    while !l.eat(b')') {
                        let w = l.word();
                        let d = std::str::from_utf8(w)
                            .ok()
                            .filter(|w| w.bytes().all(|c| c.is_ascii_digit()))
                            .and_then(|w| w.parse::<usize>().ok())
                            .ok_or_else(|| {
                                format!("bad shape entry `{}`", String::from_utf8_lossy(w))
                            })?;
                        dims.push(d);
                        if !l.eat(b',') {
                            l.expect(b')')?;
                            if dims.len() == 1 {
                                // `(5)` is the number 5 in Python, not a tuple.
                                return Err("a one-entry shape needs its comma: `(n,)`".into());
                            }
                            break;
                        }
                    }
                    shape = Some(dims);
                }
                other => return Err(format!("unexpected or repeated key `{other}`")),
            }
            if !l.eat(b',') {
                l.expect(b'}')?;
                break;
            }
        }
        l.skip_ws();
        if l.at != l.s.len() {
            return Err(format!("text after the dictionary at byte {}", l.at));
        }
        match (descr, fortran, shape) {
            (Some(descr), Some(fortran_order), Some(shape)) => Ok(HeaderDict {
                descr,
                fortran_order,
                shape,
            }),
            _ => Err("the keys must be `descr`, `fortran_order` and `shape`".into()),
        }
    }
}

/// The raw header fields of a `.npy` held in `data`: `descr`, shape and data offset.
/// Fortran order is refused.
pub(crate) fn raw_header(data: &[u8], path: &Path) -> Result<(String, Vec<usize>, usize)> {
    let bad = |what: String| Error::corrupt(path, 0, what);
    if data.len() < 10 || &data[..6] != b"\x93NUMPY" {
        return Err(bad("not a .npy file (bad magic)".into()));
    }
    let (len, start) = match data[6] {
        1 => (u16::from_le_bytes([data[8], data[9]]) as usize, 10),
        2 | 3 => {
            let b = data
                .get(8..12)
                .ok_or_else(|| bad("truncated header".into()))?;
            (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 12)
        }
        v => return Err(bad(format!("unsupported .npy format version {v}"))),
    };
    let header = data
        .get(start..start + len)
        .ok_or_else(|| bad("truncated header".into()))?;
    let header = std::str::from_utf8(header).map_err(|_| bad("header is not text".into()))?;
    let dict = HeaderDict::parse(header).map_err(|e| bad(format!("header: {e}")))?;
    if dict.fortran_order {
        return Err(Error::Invalid(format!(
            "{}: Fortran-ordered arrays are not supported; save `np.ascontiguousarray(a)` instead",
            path.display()
        )));
    }
    let (descr, shape) = (dict.descr, dict.shape);
    Ok((descr.to_string(), shape, start + len))
}

/// Parses the header of a `.npy` held in `data`; returns (dtype, shape, data offset).
pub(super) fn parse_header(data: &[u8], path: &Path) -> Result<(DType, Vec<usize>, usize)> {
    let (descr, shape, offset) = raw_header(data, path)?;
    let (dtype, _) = dtype_of(&descr).ok_or_else(|| {
        let hint = if descr.starts_with('>') {
            " (big-endian: convert with `a.astype(a.dtype.newbyteorder('<'))`)"
        } else {
            " (supported: bool, uint8, int8, int32, int64, float16, float32, float64)"
        };
        Error::Invalid(format!(
            "{}: unsupported dtype `{descr}`{hint}",
            path.display()
        ))
    })?;
    Ok((dtype, shape, offset))
}

/// The header of a version-1 `.npy` of a 1-D little-endian array of `len` values of numpy type
/// `descr`, padded so the data starts at a multiple of 64 bytes (as numpy writes it).
pub fn npy_header(descr: &str, len: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({len},), }}");
    let unpadded = 10 + dict.len() + 1;
    let total = unpadded.div_ceil(64) * 64;
    let mut h = b"\x93NUMPY\x01\x00".to_vec();
    h.extend_from_slice(&((total - 10) as u16).to_le_bytes());
    h.extend_from_slice(dict.as_bytes());
    h.resize(total - 1, b' ');
    h.push(b'\n');
    h
}
