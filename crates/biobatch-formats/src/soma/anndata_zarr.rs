//! Import of AnnData's Zarr layout (feature `zarr`): the same tree as an `.h5ad` — X dense,
//! CSR or CSC; obs / var dataframe groups with categoricals, nullable integers and booleans —
//! stored as a Zarr v2 or v3 store (`anndata.AnnData.write_zarr`).

use std::path::{Path, PathBuf};

use biobatch_core::{Array, BlockSource, DType};
use serde_json::Value;

use super::anndata::{AnnDataImport, AnnStore, Kind, Node, import};
use crate::zarr::{ZarrStore, group_attrs, read_meta};
use crate::{Error, Result};

/// A Zarr store as an [`AnnStore`].
struct ZarrAnn {
    root: PathBuf,
    store: ZarrStore,
}

impl ZarrAnn {
    fn dir(&self, path: &str) -> PathBuf {
        self.root.join(path)
    }

    fn attrs(&self, path: &str) -> Option<serde_json::Map<String, Value>> {
        let dir = self.dir(path);
        if let Ok(Some(m)) = read_meta(&dir) {
            return Some(m.attrs);
        }
        group_attrs(&dir).ok().flatten()
    }

    fn numbers(&self, path: &str) -> Result<Array> {
        Ok(self.store.variable(path)?.read_all()?)
    }

    /// The values of `a` (read from `path`) as f64; text is an error naming the array.
    fn f64s(&self, path: &str, a: &Array) -> Result<Vec<f64>> {
        a.to_f64()
            .ok_or_else(|| self.err(format!("/{path}: expected numbers, found {}", a.dtype())))
    }
}

impl AnnStore for ZarrAnn {
    fn err(&self, what: String) -> Error {
        Error::Invalid(format!("{}: {what}", self.root.display()))
    }

    fn node(&self, path: &str) -> Node {
        let dir = self.dir(path);
        if matches!(read_meta(&dir), Ok(Some(_))) {
            Node::Array
        } else if matches!(group_attrs(&dir), Ok(Some(_))) {
            Node::Group
        } else {
            Node::Missing
        }
    }

    fn attr_string(&self, path: &str, name: &str) -> Option<String> {
        self.attrs(path)?.get(name)?.as_str().map(String::from)
    }

    fn attr_strings(&self, path: &str, name: &str) -> Result<Option<Vec<String>>> {
        let Some(v) = self.attrs(path).and_then(|a| a.get(name).cloned()) else {
            return Ok(None);
        };
        let list = v
            .as_array()
            .ok_or_else(|| self.err(format!("/{path}: attribute {name} is not a list")))?;
        list.iter()
            .map(|x| {
                x.as_str()
                    .map(String::from)
                    .ok_or_else(|| self.err(format!("/{path}: attribute {name} holds {x}")))
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    fn attr_ints(&self, path: &str, name: &str) -> Option<Vec<i64>> {
        self.attrs(path)?
            .get(name)?
            .as_array()?
            .iter()
            .map(Value::as_i64)
            .collect()
    }

    fn members(&self, path: &str) -> Result<Vec<String>> {
        let dir = self.dir(path);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|e| Error::io(&dir, e))?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| self.node(&format!("{path}/{n}")) != Node::Missing)
            .collect();
        names.sort();
        Ok(names)
    }

    fn shape(&self, path: &str) -> Result<Vec<usize>> {
        match read_meta(&self.dir(path))? {
            Some(m) => Ok(m.shape),
            None => Err(self.err(format!("/{path}: not an array"))),
        }
    }

    fn kind(&self, path: &str) -> Result<Option<Kind>> {
        let Some(m) = read_meta(&self.dir(path))? else {
            return Err(self.err(format!("/{path}: not an array")));
        };
        let t = m.stored.trim_start_matches(['<', '>', '|', '=']);
        Ok(match t {
            "O" | "string" | "str" => Some(Kind::Text),
            _ if t.starts_with('U') || t.starts_with('S') => Some(Kind::Text),
            "b1" | "bool" => Some(Kind::Bool),
            "f2" | "f4" | "f8" | "float16" | "float32" | "float64" => Some(Kind::Float),
            _ if t.starts_with('i') || t.starts_with('u') => Some(Kind::Int),
            _ => None,
        })
    }

    fn read_f64(&self, path: &str) -> Result<Vec<f64>> {
        self.f64s(path, &self.numbers(path)?)
    }

    fn read_i64(&self, path: &str) -> Result<Vec<i64>> {
        let a = self.numbers(path)?;
        a.data()
            .to_i64()
            .filter(|_| a.dtype() != DType::Bool)
            .ok_or_else(|| self.err(format!("/{path}: expected integers, found {}", a.dtype())))
    }

    fn read_bools(&self, path: &str) -> Result<Vec<bool>> {
        Ok(self
            .f64s(path, &self.numbers(path)?)?
            .into_iter()
            .map(|x| x != 0.0)
            .collect())
    }

    fn read_strings(&self, path: &str) -> Result<Vec<String>> {
        self.store.read_strings(path)
    }

    fn read_rows_f64(&self, path: &str, rows: std::ops::Range<usize>) -> Result<Vec<f64>> {
        let v = self.store.variable(path)?;
        let mut out = Vec::with_capacity(rows.len() * v.row_len());
        let br = v.block_rows().max(1);
        for b in rows.start / br..rows.end.div_ceil(br) {
            let r = v.block_range(b);
            let mut shape = v.shape().to_vec();
            shape[0] = r.len();
            let mut block = Array::zeros(v.dtype(), shape);
            v.read_block(b, &mut block)?;
            let vals = self.f64s(path, &block)?;
            let w = v.row_len();
            let lo = rows.start.max(r.start) - r.start;
            let hi = rows.end.min(r.end) - r.start;
            out.extend_from_slice(&vals[lo * w..hi * w]);
        }
        Ok(out)
    }
}

/// Imports an AnnData Zarr store (v2 or v3, as `AnnData.write_zarr` writes it) into a new
/// store at `out` with X as layer `layer`.
pub fn import_anndata_zarr(
    path: impl AsRef<Path>,
    out: impl AsRef<Path>,
    layer: &str,
) -> Result<AnnDataImport> {
    let root = path.as_ref().to_path_buf();
    let store = ZarrStore::open(&root)?;
    import(&ZarrAnn { root, store }, out.as_ref(), layer)
}
