//! Ragged per-sample targets (holodec's particles): items on their own dimension, keyed to
//! samples by an id variable (`hid`, with its base) or an offsets variable, indexed once at
//! open by a counting sort and served padded to `[B, max_items, k]` with a count and a mask.

use biobatch_core::{Array, DType, Node, SparseRows};
use serde::{Deserialize, Serialize};

use super::source::ArrayFile;
use crate::{Error, Result};

/// How ragged targets are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RaggedLayout {
    /// `f32 [B, max_items, k]` padded with 0, with `_count` and `_mask`.
    #[default]
    Padded,
    /// Sparse rows (CSR): sample `i`'s items, flattened item by item, are the values of row
    /// `i`; item `m`'s column `c` sits at column `m · k + c` of `max_items · k`. With `_count`.
    Sparse,
}

/// How ragged targets are found and served (`[ragged]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RaggedConfig {
    /// Where they go: `targets/<name>` (values), `targets/<name>_count`, `targets/<name>_mask`
    /// [`items`].
    pub name: String,
    /// The per-item variables, one column each of `[B, max_items, k]` (e.g. `x, y, z, d`).
    pub variables: Vec<String>,
    /// An id variable on the item dimension naming each item's sample (e.g. `hid`) …
    pub by: Option<String>,
    /// … whose value for the first sample is `base` (holodec's `hid` is 1-based) [0].
    pub base: i64,
    /// Or an offsets variable: `samples + 1` ascending values, sample `i`'s items being
    /// `offsets[i]..offsets[i + 1]`.
    pub offsets: Option<String>,
    /// Order each sample's items by this variable (one of `variables`) …
    pub sort_by: Option<String>,
    /// … descending.
    pub descending: bool,
    /// Items per sample in the output (default: the most any sample has).
    pub max_items: Option<usize>,
    /// Keep the first `max_items` items of a sample that has more (otherwise such a sample
    /// is an error at open).
    pub truncate: bool,
    /// Padded (the default) or sparse rows.
    pub layout: RaggedLayout,
}

impl Default for RaggedConfig {
    fn default() -> Self {
        RaggedConfig {
            name: "items".into(),
            variables: Vec::new(),
            by: None,
            base: 0,
            offsets: None,
            sort_by: None,
            descending: false,
            max_items: None,
            truncate: false,
            layout: RaggedLayout::Padded,
        }
    }
}

/// What the ragged index found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RaggedDescription {
    /// Output name.
    pub name: String,
    /// Columns, in order.
    pub columns: Vec<String>,
    /// Items in the file.
    pub items: usize,
    /// Items per sample in the output.
    pub max_items: usize,
    /// The most items any sample has.
    pub most_items: usize,
    /// Samples without items.
    pub empty_samples: usize,
    /// Samples with more items than `max_items` (cut, under `truncate`).
    pub truncated_samples: usize,
}

/// The index and the item values.
#[derive(Debug)]
pub(crate) struct Ragged {
    pub(crate) name: String,
    pub(crate) columns: Vec<String>,
    /// Item values `[items, k]`, grouped by sample (and sorted within).
    values: Vec<f32>,
    /// Sample `i`'s items are rows `offsets[i]..offsets[i + 1]` of `values`.
    offsets: Vec<usize>,
    pub(crate) max_items: usize,
    pub(crate) layout: RaggedLayout,
    most: usize,
    truncated: usize,
}

/// A 1-D variable of the item dimension as f64 values.
fn read_column(file: &ArrayFile, name: &str) -> Result<Vec<f64>> {
    let src = file.variable(name)?;
    if src.shape().len() != 1 {
        return Err(Error::Config(format!(
            "{}: ragged variable `{name}` has shape {:?}; expected one dimension (the items)",
            file.path().display(),
            src.shape()
        )));
    }
    super::fill::to_f64(&src.read_all()?)
}

impl Ragged {
    /// Builds the index for `samples` samples.
    pub(crate) fn open(file: &ArrayFile, c: &RaggedConfig, samples: usize) -> Result<Self> {
        let path = file.path().display().to_string();
        if c.variables.is_empty() {
            return Err(Error::Config("ragged.variables names no variable".into()));
        }
        let columns: Vec<Vec<f64>> = c
            .variables
            .iter()
            .map(|v| read_column(file, v))
            .collect::<Result<_>>()?;
        let items = columns[0].len();
        if let Some((v, col)) = c
            .variables
            .iter()
            .zip(&columns)
            .find(|(_, c)| c.len() != items)
        {
            return Err(Error::Config(format!(
                "{path}: ragged variable `{v}` has {} items, `{}` has {items}",
                col.len(),
                c.variables[0]
            )));
        }
        // Item rows in sample order.
        let (mut order, offsets) = match (&c.by, &c.offsets) {
            (Some(by), None) => {
                let ids = read_column(file, by)?;
                if ids.len() != items {
                    return Err(Error::Config(format!(
                        "{path}: id variable `{by}` has {} items, the ragged variables {items}",
                        ids.len()
                    )));
                }
                counting_sort(&ids, c.base, samples)
                    .map_err(|e| Error::Config(format!("{path}: id variable `{by}`, {e}")))?
            }
            (None, Some(off)) => {
                let o = read_column(file, off)?;
                let offsets = check_offsets(&o, samples, items)
                    .map_err(|e| Error::Config(format!("{path}: offsets variable `{off}`, {e}")))?;
                ((0..items).collect(), offsets)
            }
            _ => {
                return Err(Error::Config(
                    "ragged needs exactly one of `by` (an id variable) and `offsets`".into(),
                ));
            }
        };
        if let Some(key) = &c.sort_by {
            let k = c.variables.iter().position(|v| v == key).ok_or_else(|| {
                Error::Config(format!(
                    "ragged.sort_by = `{key}` is not one of ragged.variables ({})",
                    c.variables.join(", ")
                ))
            })?;
            let col = &columns[k];
            for s in 0..samples {
                let part = &mut order[offsets[s]..offsets[s + 1]];
                part.sort_by(|&a, &b| {
                    let o = col[a].total_cmp(&col[b]);
                    if c.descending { o.reverse() } else { o }
                });
            }
        }
        let k = columns.len();
        let mut values = Vec::with_capacity(items * k);
        for &i in &order {
            values.extend(columns.iter().map(|col| col[i] as f32));
        }
        let most = (0..samples)
            .map(|s| offsets[s + 1] - offsets[s])
            .max()
            .unwrap_or(0);
        let max_items = c.max_items.unwrap_or(most);
        let over: Vec<usize> = (0..samples)
            .filter(|&s| offsets[s + 1] - offsets[s] > max_items)
            .collect();
        if let Some(&s) = over.first()
            && !c.truncate
        {
            return Err(Error::Config(format!(
                "{path}: sample {s} has {} ragged items, more than max_items = {max_items} ({} \
                 samples do; the most is {most}): raise max_items or set truncate = true",
                offsets[s + 1] - offsets[s],
                over.len()
            )));
        }
        Ok(Ragged {
            name: c.name.clone(),
            columns: c.variables.clone(),
            values,
            offsets,
            max_items,
            layout: c.layout,
            most,
            truncated: over.len(),
        })
    }

    /// Summary for the dataset's description.
    pub(crate) fn describe(&self) -> RaggedDescription {
        RaggedDescription {
            name: self.name.clone(),
            columns: self.columns.clone(),
            items: self.values.len() / self.columns.len().max(1),
            max_items: self.max_items,
            most_items: self.most,
            empty_samples: self.offsets.windows(2).filter(|w| w[0] == w[1]).count(),
            truncated_samples: self.truncated,
        }
    }

    /// The item values of one column (raw), for statistics.
    pub(crate) fn column(&self, j: usize) -> impl Iterator<Item = f32> + '_ {
        let k = self.columns.len();
        self.values.iter().skip(j).step_by(k).copied()
    }

    /// The nodes a batch of `b` samples holds.
    pub(crate) fn leaves(&self, b: usize) -> Vec<(String, Node)> {
        let k = self.columns.len();
        let count = (
            format!("{}_count", self.name),
            Node::from(Array::zeros(DType::I64, [b])),
        );
        match self.layout {
            RaggedLayout::Padded => vec![
                (
                    self.name.clone(),
                    Array::zeros(DType::F32, [b, self.max_items, k]).into(),
                ),
                count,
                (
                    format!("{}_mask", self.name),
                    Array::zeros(DType::Bool, [b, self.max_items]).into(),
                ),
            ],
            RaggedLayout::Sparse => vec![
                (
                    self.name.clone(),
                    Node::Sparse(SparseRows::empty(b, self.max_items * k)),
                ),
                count,
            ],
        }
    }

    /// Items served for sample `s` (at most `max_items`).
    pub(crate) fn served(&self, s: usize) -> usize {
        (self.offsets[s + 1] - self.offsets[s]).min(self.max_items)
    }

    /// Writes the items of `samples` as sparse rows: row `i` holds sample `i`'s served items
    /// flattened, item `m`'s column `c` at `m · k + c`; `value(i, j, v)` maps each raw value
    /// of column `j`.
    pub(crate) fn fill_sparse(
        &self,
        samples: &[usize],
        value: &dyn Fn(usize, usize, f32) -> f32,
        out: &mut SparseRows,
    ) -> biobatch_core::Result<()> {
        let k = self.columns.len();
        let nnz: usize = samples.iter().map(|&s| self.served(s) * k).sum();
        if nnz > i32::MAX as usize || self.max_items * k > i32::MAX as usize {
            return Err(biobatch_core::Error::Invalid(format!(
                "{nnz} ragged values in one batch: more than sparse rows hold (2^31 - 1)"
            )));
        }
        let (p, idx, val) = out.resize(samples.len(), nnz)?;
        p[0] = 0;
        let mut at = 0;
        for (i, &s) in samples.iter().enumerate() {
            let n = self.served(s);
            let lo = self.offsets[s];
            for (t, &v) in self.values[lo * k..(lo + n) * k].iter().enumerate() {
                idx[at + t] = t as i32;
                val[at + t] = value(i, t % k, v);
            }
            at += n * k;
            p[i + 1] = at as i32;
        }
        Ok(())
    }

    /// Writes sample `s`'s items into row `i` of the values leaf, padded with 0: column `j`
    /// multiplied by `sign[j]`, then normalised by `norm[j]` (mean, std). Returns the number
    /// of items written.
    pub(crate) fn fill_values(
        &self,
        s: usize,
        i: usize,
        sign: &[f32],
        norm: &[(f32, f32)],
        values: &mut [f32],
    ) -> usize {
        let k = self.columns.len();
        let (lo, hi) = (self.offsets[s], self.offsets[s + 1]);
        let n = (hi - lo).min(self.max_items);
        let row = &mut values[i * self.max_items * k..(i + 1) * self.max_items * k];
        row.fill(0.0);
        for (dst, src) in row
            .chunks_exact_mut(k)
            .zip(self.values[lo * k..(lo + n) * k].chunks_exact(k))
        {
            for j in 0..k {
                let (mean, std) = norm[j];
                dst[j] = (src[j] * sign[j] - mean) / std;
            }
        }
        n
    }
}

/// Groups item rows by sample id (`id - base` in `0..samples`): a stable counting sort,
/// O(items). Returns the item rows in sample order and each sample's offsets.
fn counting_sort(
    ids: &[f64],
    base: i64,
    samples: usize,
) -> std::result::Result<(Vec<usize>, Vec<usize>), String> {
    let mut sample = Vec::with_capacity(ids.len());
    for (row, &v) in ids.iter().enumerate() {
        if v.is_nan() {
            return Err(format!("item {row} is NaN"));
        }
        if v.fract() != 0.0 {
            return Err(format!("item {row} is {v}, not a whole number"));
        }
        let s = v - base as f64;
        if s < 0.0 || s >= samples as f64 {
            return Err(format!(
                "item {row} is {v}, outside the samples' ids {base}..={}",
                base + samples as i64 - 1
            ));
        }
        sample.push(s as usize);
    }
    let mut offsets = vec![0usize; samples + 1];
    for &s in &sample {
        offsets[s + 1] += 1;
    }
    for i in 0..samples {
        offsets[i + 1] += offsets[i];
    }
    let mut next = offsets.clone();
    let mut order = vec![0usize; ids.len()];
    for (row, &s) in sample.iter().enumerate() {
        order[next[s]] = row;
        next[s] += 1;
    }
    Ok((order, offsets))
}

fn check_offsets(
    o: &[f64],
    samples: usize,
    items: usize,
) -> std::result::Result<Vec<usize>, String> {
    if o.len() != samples + 1 {
        return Err(format!(
            "has {} values; expected samples + 1 = {}",
            o.len(),
            samples + 1
        ));
    }
    let mut out = Vec::with_capacity(o.len());
    for (i, &v) in o.iter().enumerate() {
        if v.is_nan() || v.fract() != 0.0 || v < 0.0 {
            return Err(format!("value {i} is {v}, not a count"));
        }
        if i > 0 && v < o[i - 1] {
            return Err(format!(
                "value {i} ({v}) is below value {} ({})",
                i - 1,
                o[i - 1]
            ));
        }
        out.push(v as usize);
    }
    if out[0] != 0 || out[samples] != items {
        return Err(format!(
            "runs from {} to {}; expected 0 to the number of items ({items})",
            out[0], out[samples]
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_sort_groups_items_stably_and_refuses_bad_ids() {
        let ids = [2.0, 1.0, 2.0, 3.0, 1.0];
        let (order, offsets) = counting_sort(&ids, 1, 4).unwrap();
        assert_eq!(offsets, [0, 2, 4, 5, 5]);
        assert_eq!(order, [1, 4, 0, 2, 3]);
        assert!(
            counting_sort(&[1.0, f64::NAN], 1, 2)
                .unwrap_err()
                .contains("item 1 is NaN")
        );
        assert!(
            counting_sort(&[1.5], 1, 2)
                .unwrap_err()
                .contains("not a whole number")
        );
        assert!(counting_sort(&[3.0], 1, 2).unwrap_err().contains("outside"));
        assert!(counting_sort(&[0.0], 1, 2).unwrap_err().contains("outside"));
    }

    #[test]
    fn offsets_are_checked() {
        assert_eq!(
            check_offsets(&[0.0, 2.0, 2.0, 5.0], 3, 5).unwrap(),
            [0, 2, 2, 5]
        );
        assert!(
            check_offsets(&[0.0, 2.0, 5.0], 3, 5)
                .unwrap_err()
                .contains("samples + 1")
        );
        assert!(
            check_offsets(&[0.0, 3.0, 2.0, 5.0], 3, 5)
                .unwrap_err()
                .contains("below")
        );
        assert!(
            check_offsets(&[0.0, 2.0, 2.0, 4.0], 3, 5)
                .unwrap_err()
                .contains("runs from")
        );
    }
}
