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

use hdf5_metno as hdf5;

mod frame;

pub use super::anndata::AnnDataImport as H5adImport;
use super::anndata::{AnnStore, Kind, Node, categories_of, import};
use crate::hdf5::string_attr;
use crate::{Error, Result};

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

/// An `.h5ad` file as an [`AnnStore`].
struct H5Store<'a> {
    file: hdf5::File,
    ctx: Ctx<'a>,
}

impl H5Store<'_> {
    fn dataset(&self, path: &str) -> Result<hdf5::Dataset> {
        self.file
            .dataset(path)
            .map_err(self.ctx.h5(&format!("/{path}")))
    }

    /// Runs `f` on the attribute holder at `path` (a group or a dataset).
    fn with_location<T>(&self, path: &str, f: impl Fn(&hdf5::Location) -> Option<T>) -> Option<T> {
        if let Ok(g) = self.file.group(path) {
            return f(&g);
        }
        self.file.dataset(path).ok().and_then(|d| f(&d))
    }
}

impl AnnStore for H5Store<'_> {
    fn err(&self, what: String) -> Error {
        self.ctx.err(what)
    }

    fn node(&self, path: &str) -> Node {
        if self.file.dataset(path).is_ok() {
            Node::Array
        } else if self.file.group(path).is_ok() {
            Node::Group
        } else {
            Node::Missing
        }
    }

    fn attr_string(&self, path: &str, name: &str) -> Option<String> {
        self.with_location(path, |l| string_attr(l, name))
    }

    fn attr_strings(&self, path: &str, name: &str) -> Result<Option<Vec<String>>> {
        let at = format!("/{path} {name}");
        let got = self.with_location(path, |l| {
            let a = l.attr(name).ok()?;
            (a.size() > 0).then(|| frame::read_strings(&a, &self.ctx, &at))
        });
        got.transpose()
    }

    fn attr_ints(&self, path: &str, name: &str) -> Option<Vec<i64>> {
        self.with_location(path, |l| l.attr(name).ok()?.read_raw::<i64>().ok())
    }

    fn members(&self, path: &str) -> Result<Vec<String>> {
        let g = self
            .file
            .group(path)
            .map_err(self.ctx.h5(&format!("/{path}")))?;
        g.member_names().map_err(self.ctx.h5(&format!("/{path}")))
    }

    fn shape(&self, path: &str) -> Result<Vec<usize>> {
        Ok(self.dataset(path)?.shape())
    }

    fn kind(&self, path: &str) -> Result<Option<Kind>> {
        let d = self
            .dataset(path)?
            .dtype()
            .and_then(|t| t.to_descriptor())
            .map_err(self.ctx.h5(&format!("/{path}")))?;
        Ok(frame::kind_of(&d))
    }

    fn read_f64(&self, path: &str) -> Result<Vec<f64>> {
        self.dataset(path)?
            .read_raw::<f64>()
            .map_err(self.ctx.h5(&format!("/{path}")))
    }

    fn read_i64(&self, path: &str) -> Result<Vec<i64>> {
        self.dataset(path)?
            .read_raw::<i64>()
            .map_err(self.ctx.h5(&format!("/{path}")))
    }

    fn read_bools(&self, path: &str) -> Result<Vec<bool>> {
        // h5py writes bool as an enum of int8 {FALSE: 0, TRUE: 1}: read its base type.
        Ok(self
            .dataset(path)?
            .read_raw::<i8>()
            .map_err(self.ctx.h5(&format!("/{path}")))?
            .into_iter()
            .map(|x| x != 0)
            .collect())
    }

    fn read_strings(&self, path: &str) -> Result<Vec<String>> {
        let ds = self.dataset(path)?;
        frame::read_strings(&ds, &self.ctx, &format!("/{path}"))
    }

    fn read_rows_f64(&self, path: &str, rows: std::ops::Range<usize>) -> Result<Vec<f64>> {
        let a = self
            .dataset(path)?
            .read_slice_2d::<f64, _>((rows, ..))
            .map_err(self.ctx.h5(&format!("/{path}")))?;
        Ok(a.iter().copied().collect())
    }

    fn legacy_frame(&self, name: &str, id_name: &str) -> Option<Result<arrow_array::RecordBatch>> {
        let ds = self.file.dataset(name).ok()?;
        Some(frame::legacy_dataframe(
            self,
            &ds,
            id_name,
            &format!("/{name}"),
        ))
    }

    fn referenced_categories(&self, path: &str) -> Option<Result<Vec<String>>> {
        // anndata 0.7: codes whose `categories` attribute references the categories dataset.
        let ds = self.file.dataset(path).ok()?;
        let a = ds.attr("categories").ok()?;
        let at = format!("/{path} categories");
        let r: hdf5::ObjectReference1 = match a.read_scalar() {
            Ok(r) => r,
            Err(e) => return Some(Err(self.ctx.h5(&at)(e))),
        };
        let target = match hdf5::ObjectReference::dereference(&r, &self.file) {
            Ok(t) => t,
            Err(e) => return Some(Err(self.ctx.h5(&at)(e))),
        };
        let hdf5::ReferencedObject::Dataset(cds) = target else {
            return Some(Err(self
                .ctx
                .err(format!("/{path}: its categories are not a dataset"))));
        };
        Some(categories_of(self, cds.name().trim_start_matches('/')))
    }
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
    import(&H5Store { file, ctx }, out.as_ref(), layer)
}
