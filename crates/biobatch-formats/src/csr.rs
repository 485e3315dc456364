//! Compressed sparse rows: the cell-by-gene matrix of single-cell stores.
//!
//! [`CsrMatrix`] owns its arrays; [`CsrView`] borrows them (from memory or from a memory map)
//! and does the read-side work without allocating per row: gathering rows into a dense
//! caller buffer ([`CsrView::rows_to_dense`]) or into reusable CSR buffers
//! ([`CsrView::rows_to_csr`]). `indptr` is `u64` (`n_rows + 1` entries, starting at 0, ending
//! at `nnz`); column indices are `u16` or `u32` ([`CsrIndex`]); values are any [`CsrValue`].
//!
//! ```
//! use biobatch_formats::csr::CsrMatrix;
//!
//! // (row, col, value) triples in any order; duplicates are summed.
//! let m = CsrMatrix::<f32, u32>::from_coo(2, 4, &[1, 0, 1, 1], &[3, 1, 0, 3], &[1.0, 2.0, 3.0, 4.0])?;
//! assert_eq!(m.indptr(), &[0, 1, 3]);
//! assert_eq!(m.indices(), &[1, 0, 3]);
//! assert_eq!(m.values(), &[2.0, 3.0, 5.0]);
//! let mut dense = [9f32; 8];
//! m.view().rows_to_dense(&[1, 0], &mut dense)?;
//! assert_eq!(dense, [3.0, 0.0, 0.0, 5.0, 0.0, 2.0, 0.0, 0.0]);
//! # Ok::<(), biobatch_formats::Error>(())
//! ```

use bytemuck::Pod;

use crate::{Error, Result};

/// A value type of a sparse matrix.
pub trait CsrValue: Pod + Default + PartialEq + Send + Sync + std::fmt::Debug {
    /// The value as `f32` (what dense batches hold).
    fn to_f32(self) -> f32;
    /// `self + other` (duplicates in COO input are summed), or `None` on overflow.
    fn checked_add(self, other: Self) -> Option<Self>;
    /// The numpy `descr` of the type (`<f4`, `<i4`, `<u2`, `|u1`).
    const DESCR: &'static str;
}

macro_rules! int_value {
    ($t:ty, $descr:expr) => {
        impl CsrValue for $t {
            #[inline]
            fn to_f32(self) -> f32 {
                self as f32
            }
            fn checked_add(self, other: Self) -> Option<Self> {
                <$t>::checked_add(self, other)
            }
            const DESCR: &'static str = $descr;
        }
    };
}
int_value!(u8, "|u1");
int_value!(u16, "<u2");
int_value!(i32, "<i4");

impl CsrValue for f32 {
    #[inline]
    fn to_f32(self) -> f32 {
        self
    }
    fn checked_add(self, other: Self) -> Option<Self> {
        Some(self + other)
    }
    const DESCR: &'static str = "<f4";
}

/// A column-index type of a sparse matrix: `u16` (up to 65,536 columns) or `u32`.
pub trait CsrIndex: Pod + Default + Ord + Send + Sync + std::fmt::Debug {
    /// The index as `usize`.
    fn get(self) -> usize;
    /// `i` as this type, if it fits.
    fn from_usize(i: usize) -> Option<Self>;
    /// The numpy `descr` of the type.
    const DESCR: &'static str;
}

impl CsrIndex for u16 {
    #[inline]
    fn get(self) -> usize {
        self as usize
    }
    fn from_usize(i: usize) -> Option<Self> {
        u16::try_from(i).ok()
    }
    const DESCR: &'static str = "<u2";
}

impl CsrIndex for u32 {
    #[inline]
    fn get(self) -> usize {
        self as usize
    }
    fn from_usize(i: usize) -> Option<Self> {
        u32::try_from(i).ok()
    }
    const DESCR: &'static str = "<u4";
}

/// A CSR matrix that owns its arrays.
#[derive(Debug, Clone, PartialEq)]
pub struct CsrMatrix<V, I = u32> {
    n_cols: usize,
    indptr: Vec<u64>,
    indices: Vec<I>,
    values: Vec<V>,
}

impl<V: CsrValue, I: CsrIndex> CsrMatrix<V, I> {
    /// An empty matrix of `n_rows × n_cols`.
    pub fn empty(n_rows: usize, n_cols: usize) -> Self {
        CsrMatrix {
            n_cols,
            indptr: vec![0; n_rows + 1],
            indices: Vec::new(),
            values: Vec::new(),
        }
    }

    /// Builds from COO triples in any order: a counting sort by row, then columns sorted
    /// within each row and duplicates summed. Explicit zeros are kept (as scipy does).
    pub fn from_coo(
        n_rows: usize,
        n_cols: usize,
        rows: &[u32],
        cols: &[u32],
        vals: &[V],
    ) -> Result<Self> {
        if rows.len() != cols.len() || rows.len() != vals.len() {
            return Err(Error::Invalid(format!(
                "COO arrays differ in length: {} rows, {} cols, {} values",
                rows.len(),
                cols.len(),
                vals.len()
            )));
        }
        let mut counts = vec![0u64; n_rows + 1];
        for (k, (&r, &c)) in rows.iter().zip(cols).enumerate() {
            if r as usize >= n_rows || c as usize >= n_cols {
                return Err(Error::Invalid(format!(
                    "COO entry {k} at ({r}, {c}) is outside the {n_rows} × {n_cols} matrix"
                )));
            }
            counts[r as usize + 1] += 1;
        }
        for i in 0..n_rows {
            counts[i + 1] += counts[i];
        }
        let nnz = rows.len();
        let mut indices = vec![I::default(); nnz];
        let mut values = vec![V::default(); nnz];
        let mut next = counts.clone();
        for ((&r, &c), &v) in rows.iter().zip(cols).zip(vals) {
            let at = next[r as usize] as usize;
            // `c < n_cols` was checked; the caller's index type must hold n_cols - 1.
            indices[at] = I::from_usize(c as usize)
                .ok_or_else(|| Error::Invalid(format!("column {c} does not fit the index type")))?;
            values[at] = v;
            next[r as usize] += 1;
        }
        let mut m = CsrMatrix {
            n_cols,
            indptr: counts,
            indices,
            values,
        };
        m.sort_and_sum()?;
        Ok(m)
    }

    /// Builds from arrays that are already CSR; checked like a stored matrix.
    pub fn from_parts(
        n_cols: usize,
        indptr: Vec<u64>,
        indices: Vec<I>,
        values: Vec<V>,
    ) -> Result<Self> {
        let m = CsrMatrix {
            n_cols,
            indptr,
            indices,
            values,
        };
        m.view().validate()?;
        Ok(m)
    }

    /// Builds from rows that are grouped (row offsets given) but whose columns may be unsorted
    /// or repeated within a row: each row is sorted and duplicates summed, in place.
    pub fn from_grouped_rows(
        n_cols: usize,
        indptr: Vec<u64>,
        indices: Vec<I>,
        values: Vec<V>,
    ) -> Result<Self> {
        if indptr.first() != Some(&0)
            || indptr.windows(2).any(|w| w[1] < w[0])
            || indptr.last().copied() != Some(indices.len() as u64)
            || indices.len() != values.len()
        {
            return Err(Error::Invalid(
                "grouped rows have inconsistent offsets".into(),
            ));
        }
        if let Some(k) = first_out_of_range(&indices, n_cols) {
            return Err(Error::Invalid(format!(
                "entry {k} has column {}, but there are {n_cols} columns",
                indices[k].get()
            )));
        }
        let mut m = CsrMatrix {
            n_cols,
            indptr,
            indices,
            values,
        };
        m.sort_and_sum()?;
        Ok(m)
    }

    /// Sorts each row by column and sums duplicate columns.
    fn sort_and_sum(&mut self) -> Result<()> {
        let n_rows = self.indptr.len() - 1;
        let mut pairs: Vec<(I, V)> = Vec::new();
        let mut w = 0usize;
        let mut new_indptr = Vec::with_capacity(n_rows + 1);
        new_indptr.push(0u64);
        for r in 0..n_rows {
            let (s, e) = (self.indptr[r] as usize, self.indptr[r + 1] as usize);
            let sorted = self.indices[s..e].windows(2).all(|p| p[0] < p[1]);
            if sorted {
                self.indices.copy_within(s..e, w);
                self.values.copy_within(s..e, w);
                w += e - s;
            } else {
                pairs.clear();
                pairs.extend(
                    self.indices[s..e]
                        .iter()
                        .copied()
                        .zip(self.values[s..e].iter().copied()),
                );
                pairs.sort_by_key(|p| p.0);
                let mut last: Option<I> = None;
                for &(c, v) in &pairs {
                    if last == Some(c) {
                        let sum = self.values[w - 1].checked_add(v).ok_or_else(|| {
                            Error::Invalid(format!(
                                "duplicate entries of row {r} overflow when summed"
                            ))
                        })?;
                        self.values[w - 1] = sum;
                    } else {
                        self.indices[w] = c;
                        self.values[w] = v;
                        w += 1;
                        last = Some(c);
                    }
                }
            }
            new_indptr.push(w as u64);
        }
        self.indices.truncate(w);
        self.values.truncate(w);
        self.indptr = new_indptr;
        Ok(())
    }

    /// Element-wise sum with a matrix of the same shape (a sorted merge of each row).
    pub fn merge(&self, other: &Self) -> Result<Self> {
        if self.n_rows() != other.n_rows() || self.n_cols != other.n_cols {
            return Err(Error::Invalid(format!(
                "cannot merge a {} × {} matrix with a {} × {} one",
                self.n_rows(),
                self.n_cols,
                other.n_rows(),
                other.n_cols
            )));
        }
        let mut out = CsrMatrix {
            n_cols: self.n_cols,
            indptr: Vec::with_capacity(self.indptr.len()),
            indices: Vec::with_capacity(self.nnz() + other.nnz()),
            values: Vec::with_capacity(self.nnz() + other.nnz()),
        };
        out.indptr.push(0);
        let (a, b) = (self.view(), other.view());
        for r in 0..self.n_rows() {
            let ((ai, av), (bi, bv)) = (a.row(r), b.row(r));
            let (mut x, mut y) = (0, 0);
            while x < ai.len() || y < bi.len() {
                let take_a = y >= bi.len() || (x < ai.len() && ai[x] <= bi[y]);
                let take_b = x >= ai.len() || (y < bi.len() && bi[y] <= ai[x]);
                let (c, v) = match (take_a, take_b) {
                    (true, true) => {
                        let v = av[x].checked_add(bv[y]).ok_or_else(|| {
                            Error::Invalid(format!("merged values of row {r} overflow"))
                        })?;
                        x += 1;
                        y += 1;
                        (ai[x - 1], v)
                    }
                    (true, false) => {
                        x += 1;
                        (ai[x - 1], av[x - 1])
                    }
                    _ => {
                        y += 1;
                        (bi[y - 1], bv[y - 1])
                    }
                };
                out.indices.push(c);
                out.values.push(v);
            }
            out.indptr.push(out.indices.len() as u64);
        }
        Ok(out)
    }

    /// Stacks the rows of `other` below these (same number of columns).
    pub fn append_rows(&mut self, other: &CsrView<'_, V, I>) -> Result<()> {
        if other.n_cols != self.n_cols {
            return Err(Error::Invalid(format!(
                "cannot stack a matrix of {} columns under one of {}",
                other.n_cols, self.n_cols
            )));
        }
        let base = self.nnz() as u64;
        self.indptr.extend(
            other.indptr[1..]
                .iter()
                .map(|&p| base + p - other.indptr[0]),
        );
        let (s, e) = (
            other.indptr[0] as usize,
            other.indptr[other.n_rows()] as usize,
        );
        self.indices.extend_from_slice(&other.indices[s..e]);
        self.values.extend_from_slice(&other.values[s..e]);
        Ok(())
    }

    /// A borrowed view.
    pub fn view(&self) -> CsrView<'_, V, I> {
        CsrView {
            n_cols: self.n_cols,
            indptr: &self.indptr,
            indices: &self.indices,
            values: &self.values,
        }
    }

    /// Rows.
    pub fn n_rows(&self) -> usize {
        self.indptr.len() - 1
    }

    /// Columns.
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// Stored entries.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Row offsets (`n_rows + 1`).
    pub fn indptr(&self) -> &[u64] {
        &self.indptr
    }

    /// Column indices.
    pub fn indices(&self) -> &[I] {
        &self.indices
    }

    /// Values.
    pub fn values(&self) -> &[V] {
        &self.values
    }
}

/// A borrowed CSR matrix (in memory or memory-mapped).
#[derive(Debug, Clone, Copy)]
pub struct CsrView<'a, V, I> {
    /// Columns.
    pub n_cols: usize,
    /// Row offsets (`n_rows + 1`, from 0 to nnz).
    pub indptr: &'a [u64],
    /// Column indices.
    pub indices: &'a [I],
    /// Values.
    pub values: &'a [V],
}

/// Reusable output buffers of [`CsrView::rows_to_csr`]: `indptr` (`i64`, rows + 1),
/// `indices` (`i64` column indices) and `values` (`f32`). They keep their capacity between
/// calls.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CsrRows {
    /// Row offsets, starting at 0.
    pub indptr: Vec<i64>,
    /// Column of each value.
    pub indices: Vec<i64>,
    /// The values.
    pub values: Vec<f32>,
}

impl<'a, V: CsrValue, I: CsrIndex> CsrView<'a, V, I> {
    /// Rows.
    pub fn n_rows(&self) -> usize {
        self.indptr.len().saturating_sub(1)
    }

    /// Row `r`'s column indices and values (`r < n_rows`).
    #[inline]
    pub fn row(&self, r: usize) -> (&'a [I], &'a [V]) {
        let (s, e) = (self.indptr[r] as usize, self.indptr[r + 1] as usize);
        (&self.indices[s..e], &self.values[s..e])
    }

    /// Checks the structure: `indptr` starts at 0, never decreases and ends at the number of
    /// stored entries; every column index is below `n_cols`. Errors say where.
    pub fn validate(&self) -> Result<()> {
        let nnz = self.indices.len();
        if self.values.len() != nnz {
            return Err(Error::Invalid(format!(
                "{} column indices but {} values",
                nnz,
                self.values.len()
            )));
        }
        match self.indptr.first() {
            None => {
                return Err(Error::Invalid(
                    "indptr is empty (needs n_rows + 1 entries)".into(),
                ));
            }
            Some(&0) => {}
            Some(&x) => return Err(Error::Invalid(format!("indptr starts at {x}, not 0"))),
        }
        if let Some(i) = self.indptr.windows(2).position(|w| w[1] < w[0]) {
            return Err(Error::Invalid(format!(
                "indptr decreases at row {i}: {} then {}",
                self.indptr[i],
                self.indptr[i + 1]
            )));
        }
        let last = *self.indptr.last().unwrap_or(&0);
        if last != nnz as u64 {
            return Err(Error::Invalid(format!(
                "indptr ends at {last}, but {nnz} entries are stored"
            )));
        }
        if let Some(k) = first_out_of_range(self.indices, self.n_cols) {
            let row = self
                .indptr
                .partition_point(|&p| p <= k as u64)
                .saturating_sub(1);
            return Err(Error::Invalid(format!(
                "entry {k} (row {row}) has column {}, but there are {} columns",
                self.indices[k].get(),
                self.n_cols
            )));
        }
        Ok(())
    }

    /// Writes rows `rows` densely into `out` (`rows.len() × n_cols`, row-major), zeros where
    /// nothing is stored. A row or column out of range is an error, never a panic.
    pub fn rows_to_dense(&self, rows: &[u64], out: &mut [f32]) -> Result<()> {
        let w = self.n_cols;
        if out.len() != rows.len() * w {
            return Err(Error::Invalid(format!(
                "dense buffer holds {} values, {} rows × {w} columns need {}",
                out.len(),
                rows.len(),
                rows.len() * w
            )));
        }
        for (&r, dst) in rows.iter().zip(out.chunks_exact_mut(w.max(1))) {
            let (idx, val) = self.checked_row(r)?;
            dst.fill(0.0);
            for (&c, &v) in idx.iter().zip(val) {
                match dst.get_mut(c.get()) {
                    Some(d) => *d = v.to_f32(),
                    None => return Err(self.bad_column(r, c.get())),
                }
            }
        }
        Ok(())
    }

    /// Gathers rows `rows` into `out` as CSR (cleared first; capacity reused).
    pub fn rows_to_csr(&self, rows: &[u64], out: &mut CsrRows) -> Result<()> {
        out.indptr.clear();
        out.indices.clear();
        out.values.clear();
        out.indptr.push(0);
        for &r in rows {
            let (idx, val) = self.checked_row(r)?;
            if let Some(c) = idx.iter().find(|c| c.get() >= self.n_cols) {
                return Err(self.bad_column(r, c.get()));
            }
            out.indices.extend(idx.iter().map(|c| c.get() as i64));
            out.values.extend(val.iter().map(|v| v.to_f32()));
            out.indptr.push(out.indices.len() as i64);
        }
        Ok(())
    }

    fn checked_row(&self, r: u64) -> Result<(&'a [I], &'a [V])> {
        let r = r as usize;
        let (s, e) = match (self.indptr.get(r), self.indptr.get(r + 1)) {
            (Some(&s), Some(&e)) if s <= e && e as usize <= self.indices.len() => {
                (s as usize, e as usize)
            }
            _ => {
                return Err(Error::Invalid(format!(
                    "row {r} is out of range or its indptr entries are broken ({} rows)",
                    self.n_rows()
                )));
            }
        };
        Ok((
            &self.indices[s..e],
            &self.values[s..e.min(self.values.len())],
        ))
    }

    fn bad_column(&self, row: u64, col: usize) -> Error {
        Error::Invalid(format!(
            "row {row} has column {col}, but there are {} columns",
            self.n_cols
        ))
    }

    /// An owned copy.
    pub fn to_owned(&self) -> CsrMatrix<V, I> {
        CsrMatrix {
            n_cols: self.n_cols,
            indptr: self.indptr.to_vec(),
            indices: self.indices.to_vec(),
            values: self.values.to_vec(),
        }
    }
}

/// The first position whose index is `>= n` (branch-free max scan in blocks, then a search
/// only when one exists).
fn first_out_of_range<I: CsrIndex>(indices: &[I], n: usize) -> Option<usize> {
    const BLOCK: usize = 4096;
    for (b, block) in indices.chunks(BLOCK).enumerate() {
        let max = block.iter().copied().max().map_or(0, CsrIndex::get);
        if max >= n && !block.is_empty() {
            let i = block.iter().position(|c| c.get() >= n).unwrap_or(0);
            return Some(b * BLOCK + i);
        }
    }
    None
}

#[cfg(test)]
mod tests;
