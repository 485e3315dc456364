//! Import of AnnData `.h5ad` files (feature `h5ad`, through the HDF5 C library).
//!
//! - `X` stored dense (a 2-D dataset), as CSR or as CSC (a group with `data`, `indices`,
//!   `indptr` and a `shape` attribute — `encoding-type` = `csr_matrix` / `csc_matrix`, or the
//!   older `h5sparse_format` = `csr` / `csc`). Dense and CSC matrices become CSR; explicit
//!   zeros of a dense matrix are dropped. Integer-valued floats that fit (raw counts saved as
//!   `float32`) are stored as `u16`, other floats as `f32`, integers as `i32` (or `u16`).
//! - `obs` / `var` dataframes in the current encoding (anndata ≥ 0.8: columns with
//!   `encoding-type`; categoricals as groups of `codes` and `categories`; nullable integers
//!   and booleans as `values` + `mask`) and in the 0.7 encoding (categorical codes whose
//!   `categories` attribute references a dataset under `__categories`). The index (`_index`)
//!   becomes `obs_id` / `var_id`; categoricals become dictionary columns (code −1: null).
//! - The pre-0.7 layout: obs / var as one compound dataset (a field per column, the index in
//!   field `index`), categorical codes whose categories sit in `uns/<column>_categories`.

use std::path::Path;

use hdf5::types::TypeDescriptor;
use hdf5_metno as hdf5;

mod frame;

use frame::{dataframe, string_attr};

use super::{LayerData, Manifest, write_experiment};
use crate::csr::CsrMatrix;
use crate::{Error, Result};

/// What [`import_h5ad`] read and wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct H5adImport {
    /// The store's manifest.
    pub manifest: Manifest,
    /// How X was stored: `dense`, `csr` or `csc`.
    pub x_storage: String,
    /// The dataframe encoding found: `anndata >= 0.8` or `anndata 0.7`.
    pub encoding: String,
}

struct Ctx<'a> {
    path: &'a Path,
}

impl Ctx<'_> {
    fn err(&self, what: impl std::fmt::Display) -> Error {
        Error::Invalid(format!("{}: {what}", self.path.display()))
    }

    fn h5(&self, at: &str) -> impl Fn(hdf5::Error) -> Error + '_ {
        let at = at.to_string();
        move |e| self.err(format!("{at}: {e}"))
    }
}

/// X's values as f64 with its CSR structure.
struct RawCsr {
    n_rows: usize,
    n_cols: usize,
    indptr: Vec<u64>,
    indices: Vec<u32>,
    values: Vec<f64>,
    integer_type: bool,
}

fn shape_attr(g: &hdf5::Group, ctx: &Ctx<'_>) -> Result<(usize, usize)> {
    for name in ["shape", "h5sparse_shape"] {
        if let Ok(a) = g.attr(name) {
            let v = a.read_raw::<i64>().map_err(ctx.h5("X shape"))?;
            if let [r, c] = v[..] {
                return Ok((r as usize, c as usize));
            }
        }
    }
    Err(ctx.err("/X has no shape attribute"))
}

fn read_x(file: &hdf5::File, ctx: &Ctx<'_>) -> Result<(RawCsr, &'static str)> {
    if let Ok(ds) = file.dataset("X") {
        let shape = ds.shape();
        let [n_rows, n_cols] = shape[..] else {
            return Err(ctx.err(format!("/X has shape {shape:?}, expected 2 dimensions")));
        };
        let integer_type = matches!(
            ds.dtype()
                .and_then(|t| t.to_descriptor())
                .map_err(ctx.h5("/X"))?,
            TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_)
        );
        let (mut indptr, mut indices, mut values) = (vec![0u64], Vec::new(), Vec::new());
        // Row blocks of about 16 MB.
        let block = (2_000_000 / n_cols.max(1)).max(1);
        let mut r0 = 0;
        while r0 < n_rows {
            let r1 = (r0 + block).min(n_rows);
            let a = ds
                .read_slice_2d::<f64, _>(ndarray_s(r0, r1))
                .map_err(ctx.h5("/X"))?;
            for row in a.rows() {
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
    let g = file.group("X").map_err(ctx.h5("/X"))?;
    let format = string_attr(&g, "encoding-type")
        .or_else(|| string_attr(&g, "h5sparse_format"))
        .unwrap_or_default();
    let csc = match format.as_str() {
        "csr_matrix" | "csr" => false,
        "csc_matrix" | "csc" => true,
        other => {
            return Err(ctx.err(format!(
                "/X: unsupported storage `{other}` (expected dense, CSR or CSC)"
            )));
        }
    };
    let (n_rows, n_cols) = shape_attr(&g, ctx)?;
    let data = g.dataset("data").map_err(ctx.h5("/X/data"))?;
    let integer_type = matches!(
        data.dtype()
            .and_then(|t| t.to_descriptor())
            .map_err(ctx.h5("/X/data"))?,
        TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_)
    );
    let values = data.read_raw::<f64>().map_err(ctx.h5("/X/data"))?;
    let idx = g
        .dataset("indices")
        .and_then(|d| d.read_raw::<i64>())
        .map_err(ctx.h5("/X/indices"))?;
    let ptr = g
        .dataset("indptr")
        .and_then(|d| d.read_raw::<i64>())
        .map_err(ctx.h5("/X/indptr"))?;
    let (major, minor) = if csc {
        (n_cols, n_rows)
    } else {
        (n_rows, n_cols)
    };
    if ptr.len() != major + 1
        || idx.len() != values.len()
        || ptr.last().copied() != Some(idx.len() as i64)
    {
        return Err(ctx.err(format!(
            "/X: indptr has {} entries for {major} {} and ends at {:?}, with {} indices and {} values",
            ptr.len(),
            if csc { "columns" } else { "rows" },
            ptr.last(),
            idx.len(),
            values.len()
        )));
    }
    if let Some(&bad) = idx.iter().find(|&&i| i < 0 || i as usize >= minor) {
        return Err(ctx.err(format!("/X/indices holds {bad}, outside 0..{minor}")));
    }
    if ptr.windows(2).any(|w| w[1] < w[0]) || ptr[0] != 0 {
        return Err(ctx.err("/X/indptr is not a non-decreasing run from 0"));
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

fn ndarray_s(r0: usize, r1: usize) -> (std::ops::Range<usize>, std::ops::RangeFull) {
    (r0..r1, ..)
}

/// Imports an `.h5ad` into a new store at `out` with X as layer `layer`.
pub fn import_h5ad(
    path: impl AsRef<Path>,
    out: impl AsRef<Path>,
    layer: &str,
) -> Result<H5adImport> {
    let path = path.as_ref();
    let ctx = Ctx { path };
    let file =
        hdf5::File::open(path).map_err(|e| ctx.err(format!("not a readable HDF5 file: {e}")))?;
    let (obs, obs_enc) = dataframe(&file, "obs", "obs_id", &ctx)?;
    let (var, _) = dataframe(&file, "var", "var_id", &ctx)?;
    let (x, storage) = read_x(&file, &ctx)?;
    if (x.n_rows, x.n_cols) != (obs.num_rows(), var.num_rows()) {
        return Err(ctx.err(format!(
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
    let out = out.as_ref();
    let name = layer;
    let manifest = if counts {
        let v: Vec<u16> = x.values.iter().map(|&v| v as u16).collect();
        let m = CsrMatrix::from_parts(x.n_cols, x.indptr, x.indices, v)?;
        write_experiment(out, &obs, &var, &[(name, LayerData::from(&m))])?
    } else if x.integer_type
        && x.values
            .iter()
            .all(|&v| v.fract() == 0.0 && v.abs() <= i32::MAX as f64)
    {
        let v: Vec<i32> = x.values.iter().map(|&v| v as i32).collect();
        let m = CsrMatrix::from_parts(x.n_cols, x.indptr, x.indices, v)?;
        write_experiment(out, &obs, &var, &[(name, LayerData::from(&m))])?
    } else {
        let v: Vec<f32> = x.values.iter().map(|&v| v as f32).collect();
        let m = CsrMatrix::from_parts(x.n_cols, x.indptr, x.indices, v)?;
        write_experiment(out, &obs, &var, &[(name, LayerData::from(&m))])?
    };
    Ok(H5adImport {
        manifest,
        x_storage: storage.to_string(),
        encoding: obs_enc.to_string(),
    })
}
