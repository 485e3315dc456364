//! [`RowSource`]: anything that can copy records (rows of its first axis) into a batch
//! buffer — an in-memory [`Array`], or a memory-mapped file implemented by a format crate.

use crate::{Array, DType, Data, Error, Result};

/// Records stored along a first axis, gathered by index into batch buffers.
pub trait RowSource: Send + Sync {
    /// The element type.
    fn dtype(&self) -> DType;

    /// The full shape; `shape()[0]` is the number of records.
    fn shape(&self) -> &[usize];

    /// Copies record `rows[i]` into row `i` of `out`, whose dtype is [`RowSource::dtype`] and
    /// whose shape is `[rows.len(), shape()[1..]]`.
    fn gather(&self, rows: &mut dyn Iterator<Item = usize>, out: &mut Array) -> Result<()>;

    /// Number of records.
    fn records(&self) -> usize {
        self.shape().first().copied().unwrap_or(0)
    }
}

/// An array stored in blocks of whole records along its first axis — the on-disk chunks of an
/// HDF5, netCDF4 or Zarr variable, or runs of rows of a contiguous one. Block `b` holds records
/// `b · block_rows() .. min(records, (b + 1) · block_rows())`; reading one decodes it whole
/// (decompression, byte order, scale and offset), so a reader that caches blocks decodes each
/// once however its records are visited.
pub trait BlockSource: Send + Sync {
    /// The element type of the decoded records.
    fn dtype(&self) -> DType;

    /// The full shape; `shape()[0]` is the number of records.
    fn shape(&self) -> &[usize];

    /// Records per block (at least 1).
    fn block_rows(&self) -> usize;

    /// Decodes block `block` into `out`, whose dtype is [`BlockSource::dtype`] and whose shape
    /// is `[rows of the block, shape()[1..]]` (the last block may be shorter).
    fn read_block(&self, block: usize, out: &mut Array) -> Result<()>;

    /// Number of records.
    fn records(&self) -> usize {
        self.shape().first().copied().unwrap_or(0)
    }

    /// Number of blocks.
    fn blocks(&self) -> usize {
        self.records().div_ceil(self.block_rows().max(1))
    }

    /// The records of block `block`.
    fn block_range(&self, block: usize) -> std::ops::Range<usize> {
        let r = self.block_rows().max(1);
        (block * r).min(self.records())..((block + 1) * r).min(self.records())
    }

    /// Elements per record.
    fn row_len(&self) -> usize {
        self.shape().iter().skip(1).product()
    }

    /// Decodes the whole array, block by block (for small variables: ids, per-item values).
    fn read_all(&self) -> Result<Array> {
        let total = self
            .shape()
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d));
        let total = total.ok_or_else(|| {
            Error::Invalid(format!("shape {:?} is larger than memory", self.shape()))
        })?;
        let mut data = Data::with_capacity(self.dtype(), total);
        for b in 0..self.blocks() {
            let mut shape = self.shape().to_vec();
            shape[0] = self.block_range(b).len();
            let mut block = Array::zeros(self.dtype(), shape);
            self.read_block(b, &mut block)?;
            data.extend_from(block.data(), 0..block.len())?;
        }
        Array::from_data(self.shape().to_vec(), data)
    }
}

/// Checks `out` against a source before a gather; returns the elements per record.
pub fn check_gather_target(dtype: DType, shape: &[usize], out: &Array) -> Result<usize> {
    if out.dtype() != dtype {
        return Err(Error::DType {
            expected: dtype,
            actual: out.dtype(),
        });
    }
    if shape.is_empty() || out.shape().get(1..) != shape.get(1..) {
        return Err(Error::Invalid(format!(
            "gather target of shape {:?} does not hold records of shape {:?}",
            out.shape(),
            shape.get(1..).unwrap_or(&[])
        )));
    }
    Ok(out.row_len())
}

macro_rules! gather_rows {
    ($src:expr, $dst:expr, $rows:expr, $w:expr, $n:expr, $($variant:ident),*) => {
        match ($src, $dst) {
            $((Data::$variant(s), Data::$variant(d)) => {
                for (i, r) in $rows.enumerate() {
                    if r >= $n || (i + 1) * $w > d.len() {
                        return Err(Error::Invalid(format!(
                            "row {r} of {} records, or more rows than the target holds", $n
                        )));
                    }
                    d[i * $w..(i + 1) * $w].clone_from_slice(&s[r * $w..(r + 1) * $w]);
                }
            })*
            (s, d) => {
                return Err(Error::DType { expected: s.dtype(), actual: d.dtype() });
            }
        }
    };
}

impl RowSource for Array {
    fn dtype(&self) -> DType {
        Array::dtype(self)
    }

    fn shape(&self) -> &[usize] {
        Array::shape(self)
    }

    fn gather(&self, rows: &mut dyn Iterator<Item = usize>, out: &mut Array) -> Result<()> {
        let w = check_gather_target(Array::dtype(self), Array::shape(self), out)?;
        let n = self.records();
        gather_rows!(
            self.data(),
            out.data_mut(),
            rows,
            w,
            n,
            Bool,
            U8,
            I8,
            I32,
            I64,
            F16,
            F32,
            F64,
            Str
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathers_rows_and_checks_targets() {
        let src = Array::new(vec![4, 2], vec![0u8, 1, 2, 3, 4, 5, 6, 7]).unwrap();
        let mut out = Array::zeros(DType::U8, vec![3, 2]);
        src.gather(&mut [3usize, 0, 3].into_iter(), &mut out)
            .unwrap();
        assert_eq!(out.as_slice::<u8>().unwrap(), &[6, 7, 0, 1, 6, 7]);
        assert!(src.gather(&mut [4usize].into_iter(), &mut out).is_err());
        let mut wrong = Array::zeros(DType::U8, vec![3, 3]);
        assert!(src.gather(&mut [0usize].into_iter(), &mut wrong).is_err());
        let mut wrong_dtype = Array::zeros(DType::F32, vec![3, 2]);
        assert!(
            src.gather(&mut [0usize].into_iter(), &mut wrong_dtype)
                .is_err()
        );
    }
}
