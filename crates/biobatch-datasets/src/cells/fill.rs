//! Filling batches: gathering the rows of a batch (dense or sparse), codes and obs columns.

use biobatch_core::{Array, Batch, DType, Node, SparseRows};
use biobatch_formats::csr::{CsrIndex, CsrValue, CsrView};
use biobatch_formats::soma::RowsVisitor;
use biobatch_loader::{BatchDataset, BoxError};
use biobatch_sampling::Sample;

use super::ExperimentDataset;

/// Gathers the rows of one batch into a dense buffer or sparse rows.
struct Gather<'a> {
    map: Option<&'a [u32]>,
    genes: usize,
    dense: Option<&'a mut [f32]>,
    sparse: Option<&'a mut SparseRows>,
}

impl RowsVisitor for Gather<'_> {
    type Out = std::result::Result<(), BoxError>;

    fn visit<V: CsrValue, I: CsrIndex>(self, view: CsrView<'_, V, I>, rows: &[u64]) -> Self::Out {
        let Gather {
            map,
            genes,
            dense,
            sparse,
        } = self;
        match (dense, sparse, map) {
            (Some(out), _, None) => view.rows_to_dense(rows, out)?,
            (Some(out), _, Some(map)) => {
                for (&r, dst) in rows.iter().zip(out.chunks_exact_mut(genes.max(1))) {
                    dst.fill(0.0);
                    let (idx, val) = checked_row(&view, r)?;
                    for (&c, &v) in idx.iter().zip(val) {
                        match map.get(c.get()) {
                            Some(&k) if k != u32::MAX => dst[k as usize] = v.to_f32(),
                            Some(_) => {}
                            None => return Err(bad_column(r, c.get(), view.n_cols)),
                        }
                    }
                }
            }
            (None, Some(sp), None) => {
                // One pass: sizes come from indptr; column bounds are checked by a max
                // taken while converting (vectorised), before the batch is handed out.
                let mut nnz = 0;
                for &r in rows {
                    nnz += checked_row(&view, r)?.0.len();
                }
                let (p, out_idx, out_val) = sp.resize(rows.len(), nnz)?;
                let mut at = 0usize;
                p[0] = 0;
                for (k, &r) in rows.iter().enumerate() {
                    let (idx, val) = checked_row(&view, r)?;
                    let n = idx.len();
                    let mut max = 0usize;
                    for (d, c) in out_idx[at..at + n].iter_mut().zip(idx) {
                        let c = c.get();
                        max = max.max(c);
                        *d = c as i32;
                    }
                    if n > 0 && max >= view.n_cols {
                        return Err(bad_column(r, max, view.n_cols));
                    }
                    for (d, v) in out_val[at..at + n].iter_mut().zip(val) {
                        *d = v.to_f32();
                    }
                    at += n;
                    p[k + 1] = at as i32;
                }
            }
            (None, Some(sp), Some(m)) => {
                // Two passes: count the selected genes' entries, then write them.
                let mut nnz = 0;
                for &r in rows {
                    let (idx, _) = checked_row(&view, r)?;
                    if let Some(c) = max_index(idx).filter(|&c| c >= view.n_cols) {
                        return Err(bad_column(r, c, view.n_cols));
                    }
                    nnz += idx.iter().filter(|c| m[c.get()] != u32::MAX).count();
                }
                let (p, out_idx, out_val) = sp.resize(rows.len(), nnz)?;
                let mut at = 0usize;
                p[0] = 0;
                for (k, &r) in rows.iter().enumerate() {
                    // Every column index was checked against n_cols in the first pass.
                    let (idx, val) = checked_row(&view, r)?;
                    // Output columns follow the requested gene order: sort this row's
                    // entries by output column.
                    let start = at;
                    for (&c, &v) in idx.iter().zip(val) {
                        let o = m[c.get()];
                        if o != u32::MAX {
                            out_idx[at] = o as i32;
                            out_val[at] = v.to_f32();
                            at += 1;
                        }
                    }
                    sort_row(&mut out_idx[start..at], &mut out_val[start..at]);
                    p[k + 1] = at as i32;
                }
            }
            _ => return Err("the batch buffer has no inputs/X".into()),
        }
        Ok(())
    }
}

/// The largest column index of a row (a vectorised max), `None` for an empty row.
fn max_index<I: CsrIndex>(idx: &[I]) -> Option<usize> {
    idx.iter().copied().max().map(CsrIndex::get)
}

/// Sorts a short row by column (insertion sort: rows are a few thousand entries, usually
/// already sorted when genes keep store order).
fn sort_row(idx: &mut [i32], val: &mut [f32]) {
    for i in 1..idx.len() {
        let mut j = i;
        while j > 0 && idx[j - 1] > idx[j] {
            idx.swap(j - 1, j);
            val.swap(j - 1, j);
            j -= 1;
        }
    }
}

fn checked_row<'a, V: CsrValue, I: CsrIndex>(
    view: &CsrView<'a, V, I>,
    r: u64,
) -> std::result::Result<(&'a [I], &'a [V]), BoxError> {
    let r = r as usize;
    match (view.indptr.get(r), view.indptr.get(r + 1)) {
        (Some(&s), Some(&e))
            if s <= e && e as usize <= view.indices.len().min(view.values.len()) =>
        {
            Ok((
                &view.indices[s as usize..e as usize],
                &view.values[s as usize..e as usize],
            ))
        }
        _ => Err(format!("cell {r}: its indptr entries are out of range").into()),
    }
}

fn bad_column(row: u64, col: usize, n: usize) -> BoxError {
    format!("cell {row} has gene column {col}, but the store has {n} genes (damaged indices)")
        .into()
}

impl BatchDataset for ExperimentDataset {
    fn new_buffer(&self, b: usize) -> std::result::Result<Batch, BoxError> {
        let x: Node = if self.config.return_sparse {
            Node::Sparse(SparseRows::empty(b, self.genes))
        } else {
            Node::Array(Array::zeros(DType::F32, vec![b, self.genes]))
        };
        let mut batch = Batch::new(Node::from_iter([("X", x)]));
        let mut meta = Node::from_iter([("soma_joinid", Array::zeros(DType::I64, vec![b]))]);
        for c in &self.coded {
            let (part, key) = c.path.split_once('/').unwrap_or(("inputs", &c.path));
            let arr = Array::zeros(DType::I64, vec![b]);
            match part {
                "targets" => batch
                    .targets
                    .get_or_insert_with(Node::map)
                    .insert(key, arr)?,
                _ => batch.inputs.insert(key, arr)?,
            }
        }
        if !self.obs_out.is_empty() {
            let mut obs = Node::map();
            for (name, col) in &self.obs_out {
                obs.insert(name.as_str(), Array::zeros(col.dtype(), vec![b]))?;
            }
            meta.insert("obs", obs)?;
        }
        batch.metadata = Some(meta);
        Ok(batch)
    }

    fn fill(&self, samples: &[Sample], out: &mut Batch) -> std::result::Result<(), BoxError> {
        let n = self.pool.len();
        if let Some(s) = samples.iter().find(|s| s.index as usize >= n) {
            return Err(format!("sample {} out of range ({n} cells)", s.index).into());
        }
        let layer = self.layer()?;
        let map = self.gene_map.as_deref();
        ROWS.with_borrow_mut(|rows| -> std::result::Result<(), BoxError> {
            rows.clear();
            rows.extend(samples.iter().map(|s| self.pool[s.index as usize]));
            // A store at a URL gathers from a matrix of just these rows, fetched together.
            let gather = |dense, sparse| Gather {
                map,
                genes: self.genes,
                dense,
                sparse,
            };
            if self.config.return_sparse {
                layer.visit_rows(rows, gather(None, Some(out.sparse_mut("inputs/X")?)))??;
            } else {
                let x = out.array_mut("inputs/X")?.as_slice_mut::<f32>()?;
                layer.visit_rows(rows, gather(Some(x), None))??;
            }
            let ids = out
                .array_mut("metadata/soma_joinid")?
                .as_slice_mut::<i64>()?;
            for (d, &r) in ids.iter_mut().zip(rows.iter()) {
                *d = r as i64;
            }
            Ok(())
        })?;
        for c in &self.coded {
            let dst = out.array_mut(&c.path)?.as_slice_mut::<i64>()?;
            for (d, s) in dst.iter_mut().zip(samples) {
                *d = c.codes[s.index as usize];
            }
        }
        for (name, col) in &self.obs_out {
            // Paths are built per batch only when obs columns are requested.
            col.copy_to(samples, out.array_mut(&format!("metadata/obs/{name}"))?)?;
        }
        self.progress.consumed(samples.len());
        Ok(())
    }
}

thread_local! {
    /// Per-worker scratch of store rows (no allocation per batch).
    static ROWS: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}
