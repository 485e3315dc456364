//! Filling a batch: records copied from decoded blocks (or preloaded variables), normalised,
//! flipped; ragged items padded.

use std::sync::Arc;

use biobatch_core::{Array, Batch, DType, Data, Node};
use biobatch_loader::{BatchDataset, BoxError};
use biobatch_sampling::Sample;

use super::ragged::RaggedLayout;
use super::{ArraysDataset, Var};
use crate::{Error, Result};

/// Every value of a numeric array as f64.
pub(crate) fn to_f64(a: &Array) -> Result<Vec<f64>> {
    a.to_f64()
        .ok_or_else(|| Error::Config("a text variable has no numeric values".into()))
}

/// Copies record `row` of `src` into record `i` of `dst` (`w` elements each), as
/// `(v - mean) / std` in f32 when `norm` is given, else unchanged.
fn copy_row(
    src: &Array,
    row: usize,
    dst: &mut Array,
    i: usize,
    w: usize,
    norm: Option<(f64, f64)>,
) -> std::result::Result<(), BoxError> {
    let (s0, d0) = (row * w, i * w);
    macro_rules! same {
        ($($v:ident),*) => {
            match (src.data(), dst.data_mut()) {
                $((Data::$v(s), Data::$v(d)) => d[d0..d0 + w].clone_from_slice(&s[s0..s0 + w]),)*
                (s, d) => return Err(format!("cannot copy {} into {}", s.dtype(), d.dtype()).into()),
            }
        };
    }
    macro_rules! scaled {
        ($d:expr, $mean:expr, $std:expr; $($v:ident),*) => {
            match src.data() {
                $(Data::$v(s) => {
                    for (o, &x) in $d[d0..d0 + w].iter_mut().zip(&s[s0..s0 + w]) {
                        *o = ((f64::from(x) - $mean) / $std) as f32;
                    }
                })*
                Data::I64(s) => {
                    for (o, &x) in $d[d0..d0 + w].iter_mut().zip(&s[s0..s0 + w]) {
                        *o = ((x as f64 - $mean) / $std) as f32;
                    }
                }
                other => return Err(format!("cannot normalise {}", other.dtype()).into()),
            }
        };
    }
    match norm {
        None => same!(Bool, U8, I8, I32, I64, F16, F32, F64),
        Some((mean, std)) => {
            let Data::F32(d) = dst.data_mut() else {
                return Err("normalised leaves are f32".into());
            };
            scaled!(d, mean, std; U8, I8, I32, F16, F32, F64);
        }
    }
    Ok(())
}

/// Reverses `row` (a record of shape `dims`) along axis `axis` of the record: whole runs
/// of the inner axes swapped as slices (the last axis: each run reversed in place).
fn flip<T>(row: &mut [T], dims: &[usize], axis: usize) {
    let n = dims[axis];
    let inner: usize = dims[axis + 1..].iter().product();
    for block in row.chunks_exact_mut(n * inner) {
        if inner == 1 {
            block.reverse();
            continue;
        }
        for j in 0..n / 2 {
            let (lo, hi) = block.split_at_mut((n - 1 - j) * inner);
            lo[j * inner..(j + 1) * inner].swap_with_slice(&mut hi[..inner]);
        }
    }
}

fn flip_record(dst: &mut Array, i: usize, w: usize, dims: &[usize], axis: usize) {
    let r = i * w..(i + 1) * w;
    match dst.data_mut() {
        Data::Bool(d) => flip(&mut d[r], dims, axis),
        Data::U8(d) => flip(&mut d[r], dims, axis),
        Data::I8(d) => flip(&mut d[r], dims, axis),
        Data::I32(d) => flip(&mut d[r], dims, axis),
        Data::I64(d) => flip(&mut d[r], dims, axis),
        Data::F16(d) => flip(&mut d[r], dims, axis),
        Data::F32(d) => flip(&mut d[r], dims, axis),
        Data::F64(d) => flip(&mut d[r], dims, axis),
        Data::Str(d) => flip(&mut d[r], dims, axis),
    }
}

impl ArraysDataset {
    /// Writes variable `v`'s records of `samples` into its leaf.
    fn fill_var(
        &self,
        k: usize,
        v: &Var,
        samples: &[Sample],
        out: &mut Batch,
    ) -> std::result::Result<(), BoxError> {
        let dst = out.array_mut(&v.path)?;
        let w = v.source.row_len();
        let dims = &v.source.shape()[1..];
        let br = v.source.block_rows().max(1);
        let mut held: Option<(usize, Arc<Array>)> = None;
        for (i, s) in samples.iter().enumerate() {
            let r = s.index as usize;
            let (src, row) = match &v.preloaded {
                Some(a) => (Arc::clone(a), r),
                None => {
                    let b = r / br;
                    let block = match &held {
                        Some((hb, a)) if *hb == b => Arc::clone(a),
                        _ => {
                            let a = self.cache.get(k, v.source.as_ref(), b)?;
                            held = Some((b, Arc::clone(&a)));
                            a
                        }
                    };
                    (block, r - b * br)
                }
            };
            copy_row(&src, row, dst, i, w, v.norm)?;
            for (f, flip) in self.flips.iter().enumerate() {
                if s.jitter >> f & 1 == 1 && v.is_input && flip.axis >= 1 && flip.axis <= dims.len()
                {
                    flip_record(dst, i, w, dims, flip.axis - 1);
                }
            }
        }
        Ok(())
    }
}

fn targets(b: &mut Batch) -> &mut Node {
    b.targets.get_or_insert_with(Node::map)
}

impl BatchDataset for ArraysDataset {
    fn new_buffer(&self, batch_size: usize) -> std::result::Result<Batch, BoxError> {
        let mut b = Batch::new(Node::map());
        for v in &self.vars {
            let mut shape = v.source.shape().to_vec();
            shape[0] = batch_size;
            let part = if v.is_input {
                &mut b.inputs
            } else {
                targets(&mut b)
            };
            part.insert(v.name.clone(), Array::zeros(v.dtype, shape))?;
        }
        if let Some(r) = &self.ragged {
            for (name, node) in r.leaves(batch_size) {
                targets(&mut b).insert(name, node)?;
            }
        }
        let meta = b.metadata.get_or_insert_with(Node::map);
        meta.insert("index", Array::zeros(DType::I64, [batch_size]))?;
        if !self.flips.is_empty() {
            meta.insert("flips", Array::zeros(DType::U8, [batch_size]))?;
        }
        Ok(b)
    }

    fn fill(&self, samples: &[Sample], out: &mut Batch) -> std::result::Result<(), BoxError> {
        if let Some(s) = samples.iter().find(|s| s.index >= self.records as u64) {
            return Err(
                format!("record {} out of range ({} records)", s.index, self.records).into(),
            );
        }
        for (k, v) in self.vars.iter().enumerate() {
            self.fill_var(k, v, samples, out)?;
        }
        if let Some(r) = &self.ragged {
            let name = &r.name;
            // The sign of each column of each sample: flips negate the columns they name.
            let k = r.columns.len();
            let mut signs = vec![1f32; samples.len() * k];
            for (i, s) in samples.iter().enumerate() {
                for (f, flip) in self.flips.iter().enumerate() {
                    if s.jitter >> f & 1 == 1 {
                        for &j in &flip.negate_columns {
                            signs[i * k + j] = -signs[i * k + j];
                        }
                    }
                }
            }
            let counts: Vec<usize> = samples.iter().map(|s| r.served(s.index as usize)).collect();
            match r.layout {
                RaggedLayout::Padded => {
                    let values = out
                        .array_mut(&format!("targets/{name}"))?
                        .as_slice_mut::<f32>()?;
                    for (i, s) in samples.iter().enumerate() {
                        r.fill_values(
                            s.index as usize,
                            i,
                            &signs[i * k..(i + 1) * k],
                            &self.ragged_norm,
                            values,
                        );
                    }
                    let m = out
                        .array_mut(&format!("targets/{name}_mask"))?
                        .as_slice_mut::<bool>()?;
                    for (row, &n) in m.chunks_exact_mut(r.max_items.max(1)).zip(&counts) {
                        row.fill(false);
                        row[..n].fill(true);
                    }
                }
                RaggedLayout::Sparse => {
                    let rows: Vec<usize> = samples.iter().map(|s| s.index as usize).collect();
                    let norm = &self.ragged_norm;
                    let value = |i: usize, j: usize, v: f32| {
                        let (mean, std) = norm[j];
                        (v * signs[i * k + j] - mean) / std
                    };
                    r.fill_sparse(&rows, &value, out.sparse_mut(&format!("targets/{name}"))?)?;
                }
            }
            let c = out
                .array_mut(&format!("targets/{name}_count"))?
                .as_slice_mut::<i64>()?;
            for (o, &n) in c.iter_mut().zip(&counts) {
                *o = n as i64;
            }
        }
        let idx = out.array_mut("metadata/index")?.as_slice_mut::<i64>()?;
        for (o, s) in idx.iter_mut().zip(samples) {
            *o = s.index as i64;
        }
        if !self.flips.is_empty() {
            let f = out.array_mut("metadata/flips")?.as_slice_mut::<u8>()?;
            for (o, s) in f.iter_mut().zip(samples) {
                *o = s.jitter as u8;
            }
        }
        self.progress.consumed(samples.len());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flips_reverse_one_axis_of_a_record() {
        // A 2 × 3 record.
        let mut r = vec![1, 2, 3, 4, 5, 6];
        flip(&mut r, &[2, 3], 1);
        assert_eq!(r, [3, 2, 1, 6, 5, 4]);
        flip(&mut r, &[2, 3], 0);
        assert_eq!(r, [6, 5, 4, 3, 2, 1]);
    }
}
