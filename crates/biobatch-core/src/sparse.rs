//! [`SparseRows`]: one sparse row per example, in CSR form, as a leaf of the batch tree.
//!
//! Its three arrays — `indptr` (`i32`, rows + 1, from 0 to nnz), `indices` (`i32` column of
//! each value) and `values` (`f32`) — are what `torch.sparse_csr_tensor` takes (int32
//! indices, as cuSPARSE prefers), so a device can densify a batch itself. A batch holds at
//! most 2³¹ − 1 values and columns. In a batch they appear as the leaves `…/indptr`,
//! `…/indices` and `…/values`; the node's batch length is its number of rows.

use crate::{Array, DType, Error, Result};

/// Rows of a sparse matrix with `n_cols` columns, in CSR form.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseRows {
    n_cols: usize,
    indptr: Array,
    indices: Array,
    values: Array,
}

impl SparseRows {
    /// `rows` empty rows (`n_cols` must fit an `i32`; larger counts are clamped, and
    /// [`SparseRows::validate`] then refuses the columns beyond).
    pub fn empty(rows: usize, n_cols: usize) -> Self {
        SparseRows {
            n_cols,
            indptr: Array::zeros(DType::I32, vec![rows + 1]),
            indices: Array::zeros(DType::I32, vec![0]),
            values: Array::zeros(DType::F32, vec![0]),
        }
    }

    /// From CSR arrays, checked ([`SparseRows::validate`]).
    pub fn from_parts(
        n_cols: usize,
        indptr: Vec<i32>,
        indices: Vec<i32>,
        values: Vec<f32>,
    ) -> Result<Self> {
        let s = SparseRows {
            n_cols,
            indptr: Array::from_vec(indptr),
            indices: Array::from_vec(indices),
            values: Array::from_vec(values),
        };
        s.validate()?;
        Ok(s)
    }

    /// Rows (the batch length).
    pub fn rows(&self) -> usize {
        self.indptr.len().saturating_sub(1)
    }

    /// Columns of the full matrix.
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// Stored values.
    pub fn nnz(&self) -> usize {
        self.values.len()
    }

    /// Row offsets, `i32`, `rows + 1`.
    pub fn indptr(&self) -> &Array {
        &self.indptr
    }

    /// Column indices, `i32`, `nnz`.
    pub fn indices(&self) -> &Array {
        &self.indices
    }

    /// Values, `f32`, `nnz`.
    pub fn values(&self) -> &Array {
        &self.values
    }

    /// The three arrays with their names, in path order.
    pub fn arrays(&self) -> [(&'static str, &Array); 3] {
        [
            ("indices", &self.indices),
            ("indptr", &self.indptr),
            ("values", &self.values),
        ]
    }

    /// Sets `rows` rows and `nnz` values (keeping the allocations, like
    /// [`Array::set_rows`]) and returns the buffers to fill: `indptr`, `indices`, `values`.
    /// The caller writes a valid CSR structure into them.
    pub fn resize(
        &mut self,
        rows: usize,
        nnz: usize,
    ) -> Result<(&mut [i32], &mut [i32], &mut [f32])> {
        self.indptr.set_rows(rows + 1)?;
        self.indices.set_rows(nnz)?;
        self.values.set_rows(nnz)?;
        Ok((
            self.indptr.as_slice_mut()?,
            self.indices.as_slice_mut()?,
            self.values.as_slice_mut()?,
        ))
    }

    /// Keeps the first `rows` rows (appending empty rows when growing).
    pub fn set_rows(&mut self, rows: usize) -> Result<()> {
        let old = self.rows();
        let offsets = self.indptr.as_slice::<i32>()?;
        let keep = if rows <= old {
            offsets[rows]
        } else {
            offsets[old]
        };
        let keep = usize::try_from(keep).map_err(|_| Error::Invalid("negative indptr".into()))?;
        self.indptr.set_rows(rows + 1)?;
        if rows > old {
            let p = self.indptr.as_slice_mut::<i32>()?;
            let last = p[old];
            p[old + 1..].fill(last);
        }
        self.indices.set_rows(keep)?;
        self.values.set_rows(keep)?;
        Ok(())
    }

    /// Checks the structure: dtypes, `indptr` from 0 to nnz without decreasing, columns in
    /// range.
    pub fn validate(&self) -> Result<()> {
        let p = self.indptr.as_slice::<i32>()?;
        let idx = self.indices.as_slice::<i32>()?;
        self.values.as_slice::<f32>()?;
        let bad = |what: String| Err(Error::Invalid(format!("sparse rows: {what}")));
        if idx.len() != self.values.len() {
            return bad(format!(
                "{} indices, {} values",
                idx.len(),
                self.values.len()
            ));
        }
        if p.first() != Some(&0) || p.last() != Some(&(idx.len() as i32)) {
            return bad(format!("indptr must run from 0 to {}", idx.len()));
        }
        if p.windows(2).any(|w| w[1] < w[0]) {
            return bad("indptr decreases".into());
        }
        if let Some(c) = idx.iter().find(|&&c| c < 0 || c as usize >= self.n_cols) {
            return bad(format!("column {c} outside 0..{}", self.n_cols));
        }
        Ok(())
    }

    /// The rows as a dense `f32` array `[rows, n_cols]`.
    pub fn to_dense(&self) -> Result<Array> {
        self.validate()?;
        let (p, idx, val) = (
            self.indptr.as_slice::<i32>()?,
            self.indices.as_slice::<i32>()?,
            self.values.as_slice::<f32>()?,
        );
        let mut out = vec![0f32; self.rows() * self.n_cols];
        for r in 0..self.rows() {
            for k in p[r] as usize..p[r + 1] as usize {
                out[r * self.n_cols + idx[k] as usize] = val[k];
            }
        }
        Array::new(vec![self.rows(), self.n_cols], out)
    }

    /// Writes rows `rows` of `self` into `dst` (same number of columns), reusing its buffers.
    pub fn gather_into(&self, rows: &[usize], dst: &mut SparseRows) -> Result<()> {
        if dst.n_cols != self.n_cols {
            return Err(Error::Invalid(format!(
                "sparse rows of {} columns cannot be gathered into {}",
                self.n_cols, dst.n_cols
            )));
        }
        let (p, idx, val) = (
            self.indptr.as_slice::<i32>()?,
            self.indices.as_slice::<i32>()?,
            self.values.as_slice::<f32>()?,
        );
        let span = |r: usize| -> Result<(usize, usize)> {
            match (p.get(r), p.get(r + 1)) {
                (Some(&s), Some(&e)) if 0 <= s && s <= e && e as usize <= idx.len() => {
                    Ok((s as usize, e as usize))
                }
                _ => Err(Error::Invalid(format!("sparse row {r} is out of range"))),
            }
        };
        let mut nnz = 0;
        for &r in rows {
            let (s, e) = span(r)?;
            nnz += e - s;
        }
        let (dp, di, dv) = dst.resize(rows.len(), nnz)?;
        let mut at = 0;
        dp[0] = 0;
        for (k, &r) in rows.iter().enumerate() {
            let (s, e) = span(r)?;
            di[at..at + e - s].copy_from_slice(&idx[s..e]);
            dv[at..at + e - s].copy_from_slice(&val[s..e]);
            at += e - s;
            dp[k + 1] = at as i32;
        }
        Ok(())
    }

    /// The rows of `parts`, one after another (same number of columns).
    pub fn concat(parts: &[&SparseRows]) -> Result<Self> {
        let n_cols = parts.first().map_or(0, |p| p.n_cols);
        let (mut indptr, mut indices, mut values) = (vec![0i32], Vec::new(), Vec::new());
        for p in parts {
            if p.n_cols != n_cols {
                return Err(Error::Invalid(format!(
                    "sparse rows of {} and {n_cols} columns cannot be stacked",
                    p.n_cols
                )));
            }
            let base = i32::try_from(indices.len())
                .map_err(|_| Error::Invalid("stacked sparse rows exceed 2^31 values".into()))?;
            let offs = p.indptr.as_slice::<i32>()?;
            indptr.extend(offs[1..].iter().map(|&o| base + o));
            indices.extend_from_slice(p.indices.as_slice::<i32>()?);
            values.extend_from_slice(p.values.as_slice::<f32>()?);
        }
        SparseRows::from_parts(n_cols, indptr, indices, values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_fill_shrink_and_densify() {
        let mut s = SparseRows::empty(2, 4);
        let (p, i, v) = s.resize(3, 3).unwrap();
        p.copy_from_slice(&[0, 1, 1, 3]);
        i.copy_from_slice(&[2, 0, 3]);
        v.copy_from_slice(&[1.0, 2.0, 3.0]);
        s.validate().unwrap();
        assert_eq!(
            s.to_dense().unwrap().as_slice::<f32>().unwrap(),
            &[0., 0., 1., 0., 0., 0., 0., 0., 2., 0., 0., 3.]
        );
        s.set_rows(1).unwrap();
        assert_eq!((s.rows(), s.nnz()), (1, 1));
        s.set_rows(3).unwrap();
        assert_eq!((s.rows(), s.nnz()), (3, 1));
        s.validate().unwrap();
        let two = SparseRows::concat(&[&s, &s]).unwrap();
        assert_eq!(
            two.indptr().as_slice::<i32>().unwrap(),
            &[0, 1, 1, 1, 2, 2, 2]
        );
        assert!(SparseRows::from_parts(4, vec![0, 1], vec![4], vec![1.0]).is_err());
        assert!(SparseRows::from_parts(4, vec![0, 2], vec![1], vec![1.0]).is_err());
    }
}
