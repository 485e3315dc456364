//! NumPy `.npy` arrays and `.npz` archives, memory-mapped where the bytes are stored plainly.
//!
//! ```text
//! .npy:  \x93NUMPY | major minor | header length | {'descr': '<f4', 'fortran_order': False, 'shape': (12, 6, 5), } | data
//! .npz:  a zip of .npy members (np.savez: stored → mapped; np.savez_compressed: deflate → inflated once)
//! ```
//! Supported element types: `|b1`, `|u1`, `|i1`, `<i4`, `<i8`, `<f2`, `<f4`, `<f8` (and `|`
//! or `=` byte orders for one-byte types). Big-endian data and Fortran order are refused
//! with a message saying how to convert them. [`NpyArray`] implements
//! [`biobatch_core::RowSource`], so a loader gathers records straight from the mapped file.
//!
//! # Examples
//!
//! ```
//! use biobatch_core::RowSource;
//! use biobatch_formats::npy::{read_npy, read_npz};
//!
//! let images = read_npy("../../tests/data/images.npy")?;
//! assert_eq!(images.shape(), &[12, 6, 5]);
//! let members = read_npz("../../tests/data/arrays.npz")?;
//! assert_eq!(members.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["images", "targets", "labels"]);
//! # Ok::<(), biobatch_formats::Error>(())
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use biobatch_core::{Array, DType, Data, RowSource, check_gather_target, f16};
use memmap2::Mmap;

use crate::{Error, Result};

enum Bytes {
    Mapped(Arc<Mmap>, std::ops::Range<usize>),
    Owned(Vec<u8>),
}

impl Bytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m, r) => &m[r.clone()],
            Bytes::Owned(v) => v,
        }
    }
}

/// One NumPy array: its dtype, shape and (mapped or owned) little-endian bytes.
pub struct NpyArray {
    path: PathBuf,
    dtype: DType,
    shape: Vec<usize>,
    bytes: Bytes,
}

impl std::fmt::Debug for NpyArray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NpyArray")
            .field("path", &self.path)
            .field("dtype", &self.dtype)
            .field("shape", &self.shape)
            .field("mapped", &matches!(self.bytes, Bytes::Mapped(..)))
            .finish()
    }
}

fn dtype_of(descr: &str) -> Option<(DType, usize)> {
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
fn parse_header(data: &[u8], path: &Path) -> Result<(DType, Vec<usize>, usize)> {
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

macro_rules! decode_rows {
    ($bytes:expr, $out:expr, $rows:expr, $w:expr, $n:expr, $path:expr; $($variant:ident => $size:expr, $conv:expr);*) => {
        match $out {
            $(Data::$variant(d) => {
                for (i, r) in $rows.enumerate() {
                    if r >= $n || (i + 1) * $w > d.len() {
                        return Err(biobatch_core::Error::Invalid(format!(
                            "{}: row {r} of {} records, or more rows than the target holds", $path.display(), $n
                        )));
                    }
                    let src = &$bytes[r * $w * $size..(r + 1) * $w * $size];
                    for (o, c) in d[i * $w..(i + 1) * $w].iter_mut().zip(src.chunks_exact($size)) {
                        *o = $conv(c);
                    }
                }
            })*
            other => {
                return Err(biobatch_core::Error::Invalid(format!("unexpected target dtype {}", other.dtype())));
            }
        }
    };
}

impl NpyArray {
    fn new(path: &Path, bytes_of_file: Bytes) -> Result<Self> {
        let data = bytes_of_file.as_slice();
        let (dtype, shape, offset) = parse_header(data, path)?;
        let elem = dtype.size().unwrap_or(1);
        let needed = shape
            .iter()
            .try_fold(elem, |n, &d| n.checked_mul(d))
            .ok_or_else(|| {
                Error::corrupt(path, 0, format!("shape {shape:?} is larger than memory"))
            })?;
        if (data.len() - offset) < needed {
            return Err(Error::corrupt(
                path,
                offset as u64,
                format!(
                    "data holds {} bytes, shape {shape:?} needs {needed}",
                    data.len() - offset
                ),
            ));
        }
        let bytes = match bytes_of_file {
            Bytes::Mapped(m, r) => Bytes::Mapped(m, r.start + offset..r.start + offset + needed),
            Bytes::Owned(mut v) => {
                v.drain(..offset);
                v.truncate(needed);
                Bytes::Owned(v)
            }
        };
        Ok(NpyArray {
            path: path.to_path_buf(),
            dtype,
            shape,
            bytes,
        })
    }

    /// Whether the data is read from a memory map (rather than inflated into memory).
    pub fn is_mapped(&self) -> bool {
        matches!(self.bytes, Bytes::Mapped(..))
    }

    /// Copies the whole array into an in-memory [`Array`] (a 0-d array too: its one value).
    pub fn to_array(&self) -> Result<Array> {
        let mut out = Array::zeros(self.dtype, self.shape.clone());
        let total: usize = self.shape.iter().product();
        if total > 0 {
            self.decode(std::iter::once(0), total, 1, &mut out)?;
        }
        Ok(out)
    }

    /// Decodes rows `rows` of `w` elements each (of `n` rows) into `out`.
    fn decode(
        &self,
        rows: impl Iterator<Item = usize>,
        w: usize,
        n: usize,
        out: &mut Array,
    ) -> biobatch_core::Result<()> {
        let bytes = self.bytes.as_slice();
        decode_rows!(bytes, out.data_mut(), rows, w, n, self.path;
            Bool => 1, |c: &[u8]| c[0] != 0;
            U8 => 1, |c: &[u8]| c[0];
            I8 => 1, |c: &[u8]| c[0] as i8;
            I32 => 4, |c: &[u8]| i32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            I64 => 8, |c: &[u8]| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            F16 => 2, |c: &[u8]| f16::from_le_bytes([c[0], c[1]]);
            F32 => 4, |c: &[u8]| f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            F64 => 8, |c: &[u8]| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])
        );
        Ok(())
    }
}

impl RowSource for NpyArray {
    fn dtype(&self) -> DType {
        self.dtype
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn gather(
        &self,
        rows: &mut dyn Iterator<Item = usize>,
        out: &mut Array,
    ) -> biobatch_core::Result<()> {
        let w = check_gather_target(self.dtype, &self.shape, out)?;
        self.decode(rows, w, self.records(), out)
    }
}

fn map_file(path: &Path) -> Result<Arc<Mmap>> {
    let f = crate::fs::open_regular(path)?;
    // SAFETY: read-only map; the file must not be truncated while in use.
    Ok(Arc::new(
        unsafe { Mmap::map(&f) }.map_err(|e| Error::io(path, e))?,
    ))
}

/// Opens a `.npy` file, memory-mapped.
pub fn read_npy(path: impl AsRef<Path>) -> Result<NpyArray> {
    let path = path.as_ref();
    let m = map_file(path)?;
    let len = m.len();
    NpyArray::new(path, Bytes::Mapped(m, 0..len))
}

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(d.get(at..at + 8)?.try_into().ok()?))
}

/// Opens a `.npz` archive: `(name, array)` per member in archive order (names without
/// `.npy`). Stored members (`np.savez`) stay memory-mapped; deflated members
/// (`np.savez_compressed`) are inflated into memory once. Every member's size and CRC-32
/// are checked at open, as numpy checks them, so a damaged archive is an error rather than
/// other numbers.
pub fn read_npz(path: impl AsRef<Path>) -> Result<Vec<(String, NpyArray)>> {
    let path = path.as_ref();
    let m = map_file(path)?;
    let d: &[u8] = &m;
    let corrupt = |off: usize, what: &str| Error::corrupt(path, off as u64, format!("zip: {what}"));
    // End of central directory: the last "PK\5\6" within the final 64 KiB + 22 bytes.
    let lo = d.len().saturating_sub(65_536 + 22);
    let eocd = (lo..d.len().saturating_sub(21))
        .rev()
        .find(|&i| &d[i..i + 4] == b"PK\x05\x06")
        .ok_or_else(|| {
            corrupt(
                d.len(),
                "no end-of-central-directory record (not a zip / .npz file?)",
            )
        })?;
    let entries = u16_at(d, eocd + 10).ok_or_else(|| corrupt(eocd, "truncated"))? as usize;
    // One disk: disk numbers 0, and this disk's entries are all the entries.
    let (disk, cd_disk, on_disk) = (
        u16_at(d, eocd + 4),
        u16_at(d, eocd + 6),
        u16_at(d, eocd + 8),
    );
    if disk != Some(0) || cd_disk != Some(0) || on_disk != Some(entries as u16) {
        return Err(corrupt(
            eocd,
            "the end record describes a multi-disk archive (or is damaged)",
        ));
    }
    let cd_size = u32_at(d, eocd + 12).ok_or_else(|| corrupt(eocd, "truncated"))?;
    let cd_off = u32_at(d, eocd + 16).ok_or_else(|| corrupt(eocd, "truncated"))?;
    if cd_off == u32::MAX || entries == u16::MAX as usize {
        return Err(Error::Invalid(format!(
            "{}: zip64 archives (over 4 GiB or 65,535 members) are not supported yet",
            path.display()
        )));
    }
    let mut out = Vec::with_capacity(entries);
    let mut p = cd_off as usize;
    for _ in 0..entries {
        if d.get(p..p + 4) != Some(b"PK\x01\x02") {
            return Err(corrupt(p, "bad central directory entry"));
        }
        let field16 = |at| u16_at(d, p + at).ok_or_else(|| corrupt(p, "truncated entry"));
        let field32 = |at| u32_at(d, p + at).ok_or_else(|| corrupt(p, "truncated entry"));
        let method = field16(10)?;
        let crc_expected = field32(16)?;
        let mut csize = field32(20)? as u64;
        let mut usize_ = field32(24)? as u64;
        let (nlen, elen, clen) = (
            field16(28)? as usize,
            field16(30)? as usize,
            field16(32)? as usize,
        );
        let mut local = field32(42)? as u64;
        let name_bytes = d
            .get(p + 46..p + 46 + nlen)
            .ok_or_else(|| corrupt(p, "truncated name"))?;
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        // Zip64 extra field: 64-bit values for the fields that read 0xFFFFFFFF, in order.
        let extra = d.get(p + 46 + nlen..p + 46 + nlen + elen).unwrap_or(&[]);
        let mut e = 0;
        while e + 4 <= extra.len() {
            let (id, size) = (
                u16_at(extra, e).unwrap_or(0),
                u16_at(extra, e + 2).unwrap_or(0) as usize,
            );
            if id == 1 {
                let mut q = e + 4;
                for v in [&mut usize_, &mut csize, &mut local] {
                    if *v == u32::MAX as u64 {
                        *v = u64_at(extra, q).ok_or_else(|| corrupt(p, "truncated zip64 field"))?;
                        q += 8;
                    }
                }
            }
            e += 4 + size;
        }
        p += 46 + nlen + elen + clen;
        let lh = usize::try_from(local).unwrap_or(usize::MAX);
        if d.get(lh..lh.saturating_add(4)) != Some(b"PK\x03\x04") {
            return Err(corrupt(lh, &format!("bad local header for `{name}`")));
        }
        // As Python's zipfile: the local header names the same member.
        let local_len = u16_at(d, lh + 26).unwrap_or(0) as usize;
        if d.get(lh + 30..lh + 30 + local_len) != Some(name_bytes) {
            return Err(corrupt(
                lh,
                &format!("the local header of `{name}` names another member"),
            ));
        }
        let data_at = lh
            + 30
            + u16_at(d, lh + 26).unwrap_or(0) as usize
            + u16_at(d, lh + 28).unwrap_or(0) as usize;
        let data_end = usize::try_from(csize)
            .ok()
            .and_then(|c| data_at.checked_add(c))
            .filter(|&e| e <= d.len())
            .ok_or_else(|| {
                corrupt(
                    data_at,
                    &format!("member `{name}` runs past the end of the file"),
                )
            })?;
        let member_path = path.join(&name);
        let bytes = match method {
            0 => Bytes::Mapped(Arc::clone(&m), data_at..data_end),
            8 => {
                // The declared size bounds what is inflated (a zip bomb stops there) and
                // reserved (a deflate stream grows at most ~1032-fold).
                let cap = usize_.min(csize.saturating_mul(1032)).min(1 << 30) as usize;
                let mut v = Vec::with_capacity(cap);
                flate2::read::DeflateDecoder::new(&d[data_at..data_end])
                    .take(usize_.saturating_add(1))
                    .read_to_end(&mut v)
                    .map_err(|e| {
                        corrupt(data_at, &format!("member `{name}` does not inflate: {e}"))
                    })?;
                Bytes::Owned(v)
            }
            other => {
                return Err(Error::Invalid(format!(
                    "{}: member `{name}` uses zip compression method {other}; only stored and deflate are supported",
                    path.display()
                )));
            }
        };
        // As numpy (through zipfile) does: the member must have its declared size and CRC.
        let content = bytes.as_slice();
        if content.len() as u64 != usize_ {
            return Err(corrupt(
                data_at,
                &format!(
                    "member `{name}` holds {} bytes, the directory says {usize_}",
                    content.len()
                ),
            ));
        }
        let mut crc = flate2::Crc::new();
        crc.update(content);
        if crc.sum() != crc_expected {
            return Err(corrupt(
                data_at,
                &format!("member `{name}` fails its CRC-32 check (damaged archive)"),
            ));
        }
        let array = NpyArray::new(&member_path, bytes)?;
        out.push((
            name.strip_suffix(".npy").unwrap_or(&name).to_string(),
            array,
        ));
    }
    // The directory's entries must fill exactly the size the end record gives it (Python's
    // zipfile reads entries by that size, not by the count).
    if p as u64 != cd_off as u64 + cd_size as u64 {
        return Err(corrupt(
            p,
            &format!(
                "the central directory holds more or fewer than the {entries} entries its end \
                 record counts"
            ),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(header: &str, data: &[u8]) -> Vec<u8> {
        let mut h = header.to_string();
        while !(10 + h.len() + 1).is_multiple_of(64) {
            h.push(' ');
        }
        h.push('\n');
        let mut v = b"\x93NUMPY\x01\x00".to_vec();
        v.extend_from_slice(&(h.len() as u16).to_le_bytes());
        v.extend_from_slice(h.as_bytes());
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn header_errors_are_clear() {
        let p = Path::new("x.npy");
        let ok = npy(
            "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }",
            &[1, 0, 0, 0, 2, 0, 0, 0],
        );
        let a = NpyArray::new(p, Bytes::Owned(ok)).unwrap();
        assert_eq!(a.to_array().unwrap().as_slice::<i32>().unwrap(), &[1, 2]);
        let short = npy(
            "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }",
            &[1, 0, 0, 0],
        );
        assert!(
            NpyArray::new(p, Bytes::Owned(short))
                .unwrap_err()
                .to_string()
                .contains("needs 12")
        );
        let u16s = npy(
            "{'descr': '<u2', 'fortran_order': False, 'shape': (1,), }",
            &[1, 0],
        );
        assert!(
            NpyArray::new(p, Bytes::Owned(u16s))
                .unwrap_err()
                .to_string()
                .contains("unsupported dtype `<u2`")
        );
        assert!(NpyArray::new(p, Bytes::Owned(b"hello".to_vec())).is_err());
        let scalar = npy(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (), }",
            &1.5f64.to_le_bytes(),
        );
        let scalar = NpyArray::new(p, Bytes::Owned(scalar)).unwrap();
        assert_eq!(scalar.shape(), &[] as &[usize]);
        // Its one value, not a zero.
        assert_eq!(
            scalar.to_array().unwrap().as_slice::<f64>().unwrap(),
            &[1.5]
        );
    }

    #[test]
    fn headers_are_read_as_numpy_reads_them() {
        let p = Path::new("x.npy");
        let open = |h: &str| NpyArray::new(p, Bytes::Owned(npy(h, &[7, 0, 0, 0, 9, 0, 0, 0])));
        for ok in [
            "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }",
            "{\"shape\": (2,), \"descr\": \"<i4\", \"fortran_order\": False}",
            "{'descr':'<i4','fortran_order':False,'shape':(1, 2)}",
        ] {
            let a = open(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(a.to_array().unwrap().as_slice::<i32>().unwrap(), &[7, 9]);
        }
        for (bad, why) in [
            (
                "{'descr': '<i4', 'fortran_order': False, 'shape': (2), }",
                "comma",
            ),
            ("{'descr': '<i4', 'fortran_order': False, }", "keys"),
            (
                "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), 'x': 1}",
                "`x`",
            ),
            (
                "{'descr': '<i4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}",
                "repeated",
            ),
            (
                "{'descr': '<i4', 'fortran_order': False, 'shape': (2,)} x",
                "after",
            ),
            (
                "{'descr': '<i4', 'fortran_order': 0, 'shape': (2,)}",
                "True or False",
            ),
            (
                "{'descr': '<i4', 'fortran_order': False, 'shape': (-2,)}",
                "shape entry",
            ),
            (
                "{'shape': (4611686018427387904, 4), 'descr': '<i4', 'fortran_order': False}",
                "larger than memory",
            ),
            (
                "{'descr': '<i4', 'fortran_order': False, 'shape': (3,)}",
                "needs 12",
            ),
        ] {
            let e = open(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
