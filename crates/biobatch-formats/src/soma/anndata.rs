//! AnnData's on-disk layout, read the same way from HDF5 (`.h5ad`, feature `h5ad`) and Zarr
//! (feature `zarr`): an [`AnnStore`] answers "what is at this path, and what does it hold",
//! and the import — X dense, CSR or CSC; obs / var dataframes with categoricals, nullable
//! integers and booleans — is written once over it. Encodings only HDF5 files have (the 0.7
//! categories by object reference, the pre-0.7 compound dataframes) come in through the
//! store's hooks.

use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{
    Array as _, ArrayRef, BooleanArray, DictionaryArray, Float64Array, Int32Array, Int64Array,
    RecordBatch, StringArray,
};

use super::{LayerData, Manifest, write_experiment};
use crate::csr::CsrMatrix;
use crate::{Error, Result};

/// What an AnnData import read and wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnDataImport {
    /// The store's manifest.
    pub manifest: Manifest,
    /// How X was stored: `dense`, `csr` or `csc`.
    pub x_storage: String,
    /// The dataframe encoding found: `anndata >= 0.8`, `anndata 0.7` or `anndata < 0.7`.
    pub encoding: String,
}

/// What a node of the tree is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Node {
    Array,
    Group,
    Missing,
}

/// What an array's values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Int,
    Float,
    Bool,
}

/// A tree of groups and arrays with attributes: an HDF5 file or a Zarr store. Paths have no
/// leading `/` (`obs/leiden/codes`).
pub(crate) trait AnnStore {
    /// An error about the file.
    fn err(&self, what: String) -> Error;
    fn node(&self, path: &str) -> Node;
    fn attr_string(&self, path: &str, name: &str) -> Option<String>;
    fn attr_strings(&self, path: &str, name: &str) -> Result<Option<Vec<String>>>;
    fn attr_ints(&self, path: &str, name: &str) -> Option<Vec<i64>>;
    /// The members of a group.
    fn members(&self, path: &str) -> Result<Vec<String>>;
    fn shape(&self, path: &str) -> Result<Vec<usize>>;
    fn kind(&self, path: &str) -> Result<Option<Kind>>;
    fn read_f64(&self, path: &str) -> Result<Vec<f64>>;
    fn read_i64(&self, path: &str) -> Result<Vec<i64>>;
    fn read_bools(&self, path: &str) -> Result<Vec<bool>>;
    fn read_strings(&self, path: &str) -> Result<Vec<String>>;
    /// Rows `rows` of a 2-D array, row-major, as f64.
    fn read_rows_f64(&self, path: &str, rows: std::ops::Range<usize>) -> Result<Vec<f64>>;
    /// A dataframe stored in an encoding only this kind of file has (HDF5: pre-0.7 compound).
    fn legacy_frame(&self, _name: &str, _id_name: &str) -> Option<Result<RecordBatch>> {
        None
    }
    /// The categories a codes array points at in an encoding only this kind of file has
    /// (HDF5, anndata 0.7: an object reference).
    fn referenced_categories(&self, _path: &str) -> Option<Result<Vec<String>>> {
        None
    }
}

/// A plain 1-D array as an Arrow array.
pub(crate) fn plain_column(s: &dyn AnnStore, path: &str) -> Result<ArrayRef> {
    Ok(match s.kind(path)? {
        Some(Kind::Text) => Arc::new(StringArray::from(s.read_strings(path)?)),
        Some(Kind::Int) => Arc::new(Int64Array::from(s.read_i64(path)?)),
        Some(Kind::Float) => Arc::new(Float64Array::from(s.read_f64(path)?)),
        Some(Kind::Bool) => Arc::new(BooleanArray::from(s.read_bools(path)?)),
        None => return Err(s.err(format!("/{path}: unsupported column type"))),
    })
}

/// A categorical column from its codes (−1: missing) and categories.
pub(crate) fn categorical(
    s: &dyn AnnStore,
    codes: Vec<i64>,
    categories: Vec<String>,
    at: &str,
) -> Result<ArrayRef> {
    let n = categories.len() as i64;
    if let Some(c) = codes.iter().find(|&&c| c < -1 || c >= n) {
        return Err(s.err(format!("{at}: code {c} outside its {n} categories")));
    }
    let keys = Int32Array::from(
        codes
            .iter()
            .map(|&c| (c >= 0).then_some(c as i32))
            .collect::<Vec<_>>(),
    );
    let values = Arc::new(StringArray::from(categories));
    Ok(Arc::new(
        DictionaryArray::<Int32Type>::try_new(keys, values)
            .map_err(|e| s.err(format!("{at}: {e}")))?,
    ))
}

/// Categories of any type, as text.
pub(crate) fn categories_of(s: &dyn AnnStore, path: &str) -> Result<Vec<String>> {
    let col = plain_column(s, path)?;
    let n = col.len();
    let any = col.as_any();
    Ok(if let Some(v) = any.downcast_ref::<StringArray>() {
        (0..n).map(|i| v.value(i).to_string()).collect()
    } else if let Some(v) = any.downcast_ref::<Int64Array>() {
        (0..n).map(|i| v.value(i).to_string()).collect()
    } else if let Some(v) = any.downcast_ref::<Float64Array>() {
        (0..n).map(|i| v.value(i).to_string()).collect()
    } else if let Some(v) = any.downcast_ref::<BooleanArray>() {
        (0..n).map(|i| v.value(i).to_string()).collect()
    } else {
        Vec::new()
    })
}

/// `values` with the rows where `valid` is false set to null.
pub(crate) fn with_nulls(
    s: &dyn AnnStore,
    values: ArrayRef,
    valid: Vec<bool>,
    at: &str,
) -> Result<ArrayRef> {
    if valid.len() != values.len() {
        return Err(s.err(format!("{at}: mask and values differ in length")));
    }
    let nulls = Some(arrow_buffer::NullBuffer::from(valid));
    let data = values
        .to_data()
        .into_builder()
        .nulls(nulls)
        .build()
        .map_err(|e| s.err(format!("{at}: {e}")))?;
    Ok(arrow_array::make_array(data))
}

/// One dataframe (obs or var) as a table whose first column is `id_name`, and the encoding
/// it was found in.
pub(crate) fn dataframe(
    s: &dyn AnnStore,
    name: &str,
    id_name: &str,
) -> Result<(RecordBatch, &'static str)> {
    if let Some(legacy) = s.legacy_frame(name, id_name) {
        return Ok((legacy?, "anndata < 0.7"));
    }
    let at = format!("/{name}");
    if s.node(name) != Node::Group {
        return Err(s.err(format!("{at}: no such dataframe group")));
    }
    let index = s
        .attr_string(name, "_index")
        .unwrap_or_else(|| "_index".into());
    let ids = s.read_strings(&format!("{name}/{index}"))?;
    let order: Vec<String> = match s.attr_strings(name, "column-order")? {
        Some(o) if !o.is_empty() => o,
        _ => {
            let mut m = s.members(name)?;
            m.retain(|k| k != &index && k != "__categories");
            m
        }
    };
    let mut encoding = "anndata 0.7";
    let mut cols: Vec<(String, ArrayRef)> = vec![(
        id_name.to_string(),
        Arc::new(StringArray::from(ids.clone())) as ArrayRef,
    )];
    for col in order {
        let path = format!("{name}/{col}");
        let cat = format!("/{path}");
        let column: ArrayRef = match s.node(&path) {
            Node::Group => {
                encoding = "anndata >= 0.8";
                match s.attr_string(&path, "encoding-type").as_deref() {
                    Some("categorical") => {
                        let codes = s.read_i64(&format!("{path}/codes"))?;
                        let cats = categories_of(s, &format!("{path}/categories"))?;
                        categorical(s, codes, cats, &cat)?
                    }
                    Some("nullable-integer") | Some("nullable-boolean") => {
                        let values = plain_column(s, &format!("{path}/values"))?;
                        // anndata's mask is true where the value is missing.
                        let valid = s
                            .read_bools(&format!("{path}/mask"))?
                            .into_iter()
                            .map(|m| !m)
                            .collect();
                        with_nulls(s, values, valid, &cat)?
                    }
                    other => {
                        return Err(s.err(format!("{cat}: unsupported column encoding {other:?}")));
                    }
                }
            }
            Node::Array => {
                match s.attr_string(&path, "encoding-type").as_deref() {
                    Some("categorical") | None => {
                        if let Some(cats) = s.referenced_categories(&path) {
                            let codes = s.read_i64(&path)?;
                            cols.push((col.clone(), categorical(s, codes, cats?, &cat)?));
                            continue;
                        }
                    }
                    Some(_) => encoding = "anndata >= 0.8",
                }
                plain_column(s, &path)?
            }
            Node::Missing => return Err(s.err(format!("{cat}: no such column"))),
        };
        if column.len() != ids.len() {
            return Err(s.err(format!(
                "{cat} has {} rows, the index {}",
                column.len(),
                ids.len()
            )));
        }
        cols.push((col, column));
    }
    let batch = RecordBatch::try_from_iter(cols).map_err(|e| s.err(format!("{at}: {e}")))?;
    Ok((batch, encoding))
}

/// X's values as f64 with its CSR structure.
pub(crate) struct RawCsr {
    pub(crate) n_rows: usize,
    pub(crate) n_cols: usize,
    pub(crate) indptr: Vec<u64>,
    pub(crate) indices: Vec<u32>,
    pub(crate) values: Vec<f64>,
    pub(crate) integer_type: bool,
}

/// X as CSR: from a dense 2-D array (zeros dropped, read in row blocks of about 16 MB), a CSR
/// group or a CSC group (transposed through COO).
pub(crate) fn read_x(s: &dyn AnnStore) -> Result<(RawCsr, &'static str)> {
    match s.node("X") {
        Node::Array => {
            let shape = s.shape("X")?;
            let [n_rows, n_cols] = shape[..] else {
                return Err(s.err(format!("/X has shape {shape:?}, expected 2 dimensions")));
            };
            let integer_type = s.kind("X")? == Some(Kind::Int);
            let (mut indptr, mut indices, mut values) = (vec![0u64], Vec::new(), Vec::new());
            let block = (2_000_000 / n_cols.max(1)).max(1);
            let mut r0 = 0;
            while r0 < n_rows {
                let r1 = (r0 + block).min(n_rows);
                let a = s.read_rows_f64("X", r0..r1)?;
                for row in a.chunks_exact(n_cols.max(1)) {
                    for (j, &v) in row.iter().enumerate() {
                        if v != 0.0 {
                            indices.push(j as u32);
                            values.push(v);
                        }
                    }
                    indptr.push(indices.len() as u64);
                }
                r0 = r1;
            }
            if n_cols == 0 {
                indptr = vec![0; n_rows + 1];
            }
            return Ok((
                RawCsr {
                    n_rows,
                    n_cols,
                    indptr,
                    indices,
                    values,
                    integer_type,
                },
                "dense",
            ));
        }
        Node::Missing => return Err(s.err("/X: no such array or group".into())),
        Node::Group => {}
    }
    let format = s
        .attr_string("X", "encoding-type")
        .or_else(|| s.attr_string("X", "h5sparse_format"))
        .unwrap_or_default();
    let csc = match format.as_str() {
        "csr_matrix" | "csr" => false,
        "csc_matrix" | "csc" => true,
        other => {
            return Err(s.err(format!(
                "/X: unsupported storage `{other}` (expected dense, CSR or CSC)"
            )));
        }
    };
    let (n_rows, n_cols) = ["shape", "h5sparse_shape"]
        .iter()
        .find_map(|n| match s.attr_ints("X", n).as_deref() {
            Some(&[r, c]) if r >= 0 && c >= 0 => Some((r as usize, c as usize)),
            _ => None,
        })
        .ok_or_else(|| s.err("/X has no shape attribute".into()))?;
    let integer_type = s.kind("X/data")? == Some(Kind::Int);
    let values = s.read_f64("X/data")?;
    let idx = s.read_i64("X/indices")?;
    let ptr = s.read_i64("X/indptr")?;
    let (major, minor) = if csc {
        (n_cols, n_rows)
    } else {
        (n_rows, n_cols)
    };
    if ptr.len() != major + 1
        || idx.len() != values.len()
        || ptr.last().copied() != Some(idx.len() as i64)
    {
        return Err(s.err(format!(
            "/X: indptr has {} entries for {major} {} and ends at {:?}, with {} indices and {} values",
            ptr.len(),
            if csc { "columns" } else { "rows" },
            ptr.last(),
            idx.len(),
            values.len()
        )));
    }
    if let Some(&bad) = idx.iter().find(|&&i| i < 0 || i as usize >= minor) {
        return Err(s.err(format!("/X/indices holds {bad}, outside 0..{minor}")));
    }
    if ptr.windows(2).any(|w| w[1] < w[0]) || ptr[0] != 0 {
        return Err(s.err("/X/indptr is not a non-decreasing run from 0".into()));
    }
    let indices: Vec<u32> = idx.iter().map(|&i| i as u32).collect();
    let indptr: Vec<u64> = ptr.iter().map(|&p| p as u64).collect();
    if !csc {
        return Ok((
            RawCsr {
                n_rows,
                n_cols,
                indptr,
                indices,
                values,
                integer_type,
            },
            "csr",
        ));
    }
    // CSC → CSR through COO (row = stored index, column = the indptr segment).
    let mut cols = Vec::with_capacity(indices.len());
    for j in 0..n_cols {
        cols.extend(std::iter::repeat_n(
            j as u32,
            (indptr[j + 1] - indptr[j]) as usize,
        ));
    }
    let m = CsrMatrix::<f32, u32>::from_coo(
        n_rows,
        n_cols,
        &indices,
        &cols,
        &values.iter().map(|&v| v as f32).collect::<Vec<_>>(),
    )?;
    // Back to f64 values for the dtype decision below (exact: they came from f32 or less).
    let values = m.values().iter().map(|&v| v as f64).collect();
    Ok((
        RawCsr {
            n_rows,
            n_cols,
            indptr: m.indptr().to_vec(),
            indices: m.indices().to_vec(),
            values,
            integer_type,
        },
        "csc",
    ))
}

/// Imports the AnnData in `s` into a new store at `out` with X as layer `layer`: integer
/// counts that fit become `u16`, other integers `i32`, the rest `f32`.
pub(crate) fn import(
    s: &dyn AnnStore,
    out: &std::path::Path,
    layer: &str,
) -> Result<AnnDataImport> {
    let (obs, obs_enc) = dataframe(s, "obs", "obs_id")?;
    let (var, _) = dataframe(s, "var", "var_id")?;
    let (x, storage) = read_x(s)?;
    if (x.n_rows, x.n_cols) != (obs.num_rows(), var.num_rows()) {
        return Err(s.err(format!(
            "X is {} × {}, but obs has {} rows and var {}",
            x.n_rows,
            x.n_cols,
            obs.num_rows(),
            var.num_rows()
        )));
    }
    let counts = x
        .values
        .iter()
        .all(|&v| v.fract() == 0.0 && (0.0..=65_535.0).contains(&v));
    let manifest = if counts {
        let v: Vec<u16> = x.values.iter().map(|&v| v as u16).collect();
        let m = CsrMatrix::from_parts(x.n_cols, x.indptr, x.indices, v)?;
        write_experiment(out, &obs, &var, &[(layer, LayerData::from(&m))])?
    } else if x.integer_type
        && x.values
            .iter()
            .all(|&v| v.fract() == 0.0 && v.abs() <= i32::MAX as f64)
    {
        let v: Vec<i32> = x.values.iter().map(|&v| v as i32).collect();
        let m = CsrMatrix::from_parts(x.n_cols, x.indptr, x.indices, v)?;
        write_experiment(out, &obs, &var, &[(layer, LayerData::from(&m))])?
    } else {
        let v: Vec<f32> = x.values.iter().map(|&v| v as f32).collect();
        let m = CsrMatrix::from_parts(x.n_cols, x.indptr, x.indices, v)?;
        write_experiment(out, &obs, &var, &[(layer, LayerData::from(&m))])?
    };
    Ok(AnnDataImport {
        manifest,
        x_storage: storage.to_string(),
        encoding: obs_enc.to_string(),
    })
}
