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

use std::path::{Path, PathBuf};
use std::sync::Arc;

use biobatch_core::{Array, BlockSource, DType, Data, RowSource, check_gather_target, f16};
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

mod header;
mod npz;

pub use header::npy_header;
use header::parse_header;
#[cfg(feature = "soma")]
pub(crate) use header::raw_header;
pub use npz::read_npz;

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

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The shape; the first axis is the record axis.
    pub fn shape(&self) -> &[usize] {
        &self.shape
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
        self.decode(rows, w, RowSource::records(self), out)
    }
}

/// Rows of about 1 MiB per block: a `.npy` has no chunks, so blocks only bound how much one
/// read copies.
impl BlockSource for NpyArray {
    fn dtype(&self) -> DType {
        self.dtype
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn block_rows(&self) -> usize {
        let row_bytes = BlockSource::row_len(self) * self.dtype.size().unwrap_or(1);
        ((1 << 20) / row_bytes.max(1)).max(1)
    }

    fn read_block(&self, block: usize, out: &mut Array) -> biobatch_core::Result<()> {
        let rows = self.block_range(block);
        let w = check_gather_target(self.dtype, &self.shape, out)?;
        if out.shape().first() != Some(&rows.len()) {
            return Err(biobatch_core::Error::Invalid(format!(
                "{}: block {block} holds {} records, the buffer {:?}",
                self.path.display(),
                rows.len(),
                out.shape()
            )));
        }
        self.decode(rows, w, BlockSource::records(self), out)
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A version-1 `.npy` file: the header dict `header`, padded as numpy pads it, then
    /// `data`.
    pub(crate) fn npy(header: &str, data: &[u8]) -> Vec<u8> {
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
