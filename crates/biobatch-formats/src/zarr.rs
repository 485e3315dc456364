//! Zarr v2 and v3 arrays as [`BlockSource`]s (feature `zarr`, through `zarrs`).
//!
//! A Zarr store is a directory: every folder holding `.zarray` (v2) or a `zarr.json` whose
//! `node_type` is `array` (v3) is a variable, named by its path in the store. Metadata are
//! read from those files (type, shape, chunks, attributes, dimension names); chunks are read
//! and decoded by `zarrs` — v2 compressors Blosc, zlib, gzip and Zstandard; v3 codecs `bytes`
//! (either endianness), `transpose`, `blosc`, `gzip`, `zstd`, `crc32c` and sharding —
//! and chunks never written read as the fill value. A block is the records of one chunk along
//! the first axis (of one shard, for a sharded array), decoded whole.
//!
//! - Types: `u1 i1 i4 i8 f4 f8` (and `bool`, served as `u8`) keep their type; `u2`/`i2` come
//!   out as `i32`, `u4`/`u8` as `i64`; strings, structured and complex types are refused.
//! - CF attributes as xarray writes and reads them: `scale_factor`, `add_offset`,
//!   `missing_value` and `_FillValue` (numeric, or base64 bytes of the array's type as xarray
//!   stores float fill values in v3) become NaN and scaling; for v2 arrays written by xarray
//!   (those with `_ARRAY_DIMENSIONS`), the array's `fill_value` is the `_FillValue`, as xarray
//!   reads it.
//!
//! # Examples
//!
//! ```
//! use biobatch_core::{Array, BlockSource};
//! use biobatch_formats::zarr::ZarrStore;
//!
//! let store = ZarrStore::open("../../tests/data/arrays/holodec_small_v3.zarr")?;
//! let image = store.variable("image")?;
//! assert_eq!((image.shape(), image.block_rows()), (&[12, 6, 5][..], 4));
//! let all = image.read_all()?;
//! assert_eq!(all.shape(), &[12, 6, 5]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use biobatch_core::{Array, BlockSource, DType};
use serde_json::{Map, Value};
use zarrs::array::{ArrayBytes, ArraySubset, CodecOptions};
use zarrs::filesystem::FilesystemStore;

use crate::decode::{Cf, Stored, convert};
use crate::{Error, Result};

/// An open Zarr store (a directory).
#[derive(Clone)]
pub struct ZarrStore {
    path: PathBuf,
    store: Arc<FilesystemStore>,
}

impl std::fmt::Debug for ZarrStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZarrStore")
            .field("path", &self.path)
            .finish()
    }
}

/// What [`ZarrStore::variables`] reports of one array.
#[derive(Debug, Clone, PartialEq)]
pub struct ZarrInfo {
    /// Its path in the store (`image`, `group/array`).
    pub name: String,
    /// 2 or 3.
    pub zarr_format: u8,
    /// The stored type as the metadata names it (`|u1`, `uint8`, …).
    pub stored: String,
    /// The dtype it is read as, or why it cannot be read.
    pub dtype: std::result::Result<DType, String>,
    /// The shape.
    pub shape: Vec<usize>,
    /// Dimension names (`_ARRAY_DIMENSIONS` in v2, `dimension_names` in v3), when given.
    pub dims: Vec<String>,
    /// The chunk shape (the shard shape, for sharded arrays).
    pub chunks: Vec<usize>,
    /// Compressor / codecs, by name.
    pub codecs: Vec<String>,
    /// The CF decoding that applies.
    pub cf: Cf,
}

/// Whether `path` looks like a Zarr store or array (a directory with Zarr metadata).
pub fn is_zarr(path: &Path) -> bool {
    path.is_dir()
        && [".zgroup", ".zarray", "zarr.json", ".zmetadata"]
            .iter()
            .any(|m| path.join(m).is_file())
}

fn read_json(path: &Path) -> Result<Option<Map<String, Value>>> {
    match std::fs::read(path) {
        Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(m)) => Ok(Some(m)),
            Ok(_) => Err(Error::corrupt(path, 0, "metadata is not a JSON object")),
            Err(e) => Err(Error::corrupt(
                path,
                0,
                format!("metadata is not JSON ({e})"),
            )),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// The metadata of one array, read from its files.
pub(crate) struct Meta {
    format: u8,
    pub(crate) stored: String,
    pub(crate) shape: Vec<usize>,
    chunks: Vec<usize>,
    pub(crate) attrs: Map<String, Value>,
    dims: Vec<String>,
    fill: Value,
    codecs: Vec<String>,
}

/// The attributes of the group at `dir`, if it is one (`.zgroup` + `.zattrs`, or a v3
/// `zarr.json` whose `node_type` is `group`). Used by the AnnData Zarr reader (`soma`).
#[cfg(feature = "soma")]
pub(crate) fn group_attrs(dir: &Path) -> Result<Option<Map<String, Value>>> {
    if dir.join(".zgroup").is_file() {
        return Ok(Some(read_json(&dir.join(".zattrs"))?.unwrap_or_default()));
    }
    match read_json(&dir.join("zarr.json"))? {
        Some(m) if m.get("node_type").and_then(Value::as_str) == Some("group") => Ok(Some(
            m.get("attributes")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        )),
        _ => Ok(None),
    }
}

fn usizes(v: Option<&Value>) -> Option<Vec<usize>> {
    v?.as_array()?
        .iter()
        .map(|x| x.as_u64().map(|n| n as usize))
        .collect()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().unwrap_or("?").to_string())
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn read_meta(dir: &Path) -> Result<Option<Meta>> {
    let bad = |what: &str| Error::corrupt(dir, 0, format!("Zarr array metadata: {what}"));
    if let Some(m) = read_json(&dir.join(".zarray"))? {
        let attrs = read_json(&dir.join(".zattrs"))?.unwrap_or_default();
        let mut codecs: Vec<String> = m
            .get("filters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|f| f.get("id").and_then(Value::as_str).map(String::from))
            .collect();
        if let Some(c) = m
            .get("compressor")
            .and_then(|c| c.get("id"))
            .and_then(Value::as_str)
        {
            codecs.push(c.to_string());
        }
        return Ok(Some(Meta {
            format: 2,
            stored: m
                .get("dtype")
                .map(|d| d.as_str().map_or_else(|| d.to_string(), String::from))
                .ok_or_else(|| bad("no dtype"))?,
            shape: usizes(m.get("shape")).ok_or_else(|| bad("no shape"))?,
            chunks: usizes(m.get("chunks")).ok_or_else(|| bad("no chunks"))?,
            dims: strings(attrs.get("_ARRAY_DIMENSIONS")),
            fill: m.get("fill_value").cloned().unwrap_or(Value::Null),
            attrs,
            codecs,
        }));
    }
    let Some(m) = read_json(&dir.join("zarr.json"))? else {
        return Ok(None);
    };
    if m.get("node_type").and_then(Value::as_str) != Some("array") {
        return Ok(None);
    }
    let grid = m
        .get("chunk_grid")
        .and_then(|g| g.get("configuration"))
        .and_then(|c| c.get("chunk_shape"));
    let codecs: Vec<String> = m
        .get("codecs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(String::from))
        .collect();
    Ok(Some(Meta {
        format: 3,
        stored: m
            .get("data_type")
            .map(|d| d.as_str().map_or_else(|| d.to_string(), String::from))
            .ok_or_else(|| bad("no data_type"))?,
        shape: usizes(m.get("shape")).ok_or_else(|| bad("no shape"))?,
        chunks: usizes(grid).ok_or_else(|| bad("no regular chunk_grid"))?,
        dims: strings(m.get("dimension_names")),
        fill: m.get("fill_value").cloned().unwrap_or(Value::Null),
        attrs: m
            .get("attributes")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
        codecs,
    }))
}

/// The stored type of a v2 `dtype` (`|u1`, `<f4`, `>i2`) or a v3 `data_type` (`uint8`).
fn stored_type(s: &str) -> std::result::Result<Stored, String> {
    let t = match s.trim_start_matches(['<', '>', '|', '=']) {
        "u1" | "uint8" | "b1" | "bool" => Stored::U8,
        "i1" | "int8" => Stored::I8,
        "u2" | "uint16" => Stored::U16,
        "i2" | "int16" => Stored::I16,
        "u4" | "uint32" => Stored::U32,
        "i4" | "int32" => Stored::I32,
        "u8" | "uint64" => Stored::U64,
        "i8" | "int64" => Stored::I64,
        "f4" | "float32" => Stored::F32,
        "f8" | "float64" => Stored::F64,
        _ => return Err(format!("unsupported data type {s}")),
    };
    Ok(t)
}

/// Decodes standard base64 (xarray stores float fill values of v3 arrays as the bytes).
fn base64(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let s = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

/// A fill value as f64: a number, `NaN` / `Infinity` strings, or base64 bytes of `stored`.
fn fill_number(v: &Value, stored: Stored) -> std::result::Result<Option<f64>, String> {
    Ok(match v {
        Value::Null => None,
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            other => {
                let b = base64(other).ok_or_else(|| {
                    format!("fill value `{other}` is neither a number nor base64")
                })?;
                match (stored, b.as_slice()) {
                    (Stored::F32, &[a, b, c, d]) => {
                        Some(f64::from(f32::from_le_bytes([a, b, c, d])))
                    }
                    (_, &[a, b, c, d, e, f, g, h]) => {
                        Some(f64::from_le_bytes([a, b, c, d, e, f, g, h]))
                    }
                    _ => return Err(format!("fill value `{other}` does not decode to a number")),
                }
            }
        },
        other => return Err(format!("fill value {other} is not a number")),
    })
}

fn cf_of(meta: &Meta, stored: Stored) -> std::result::Result<Cf, String> {
    let num = |k: &str| -> std::result::Result<Option<f64>, String> {
        match meta.attrs.get(k) {
            None => Ok(None),
            Some(v) => fill_number(v, stored).map_err(|e| format!("attribute {k}: {e}")),
        }
    };
    let mut fill_values = Vec::new();
    for k in ["_FillValue", "missing_value"] {
        if let Some(f) = num(k)? {
            fill_values.push(f);
        }
    }
    if meta.format == 2
        && meta.attrs.contains_key("_ARRAY_DIMENSIONS")
        && fill_values.is_empty()
        && let Some(f) = fill_number(&meta.fill, stored)?
    {
        fill_values.push(f);
    }
    // NaN fills of float arrays change nothing; leave them out so the values pass untouched.
    if matches!(stored, Stored::F32 | Stored::F64) {
        fill_values.retain(|f| !f.is_nan());
    }
    Ok(Cf {
        scale_factor: num("scale_factor")?,
        add_offset: num("add_offset")?,
        fill_values,
    })
}

impl ZarrStore {
    /// Opens a store (a directory with `.zgroup` / `.zarray` / `zarr.json`).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if !is_zarr(&path) {
            return Err(Error::Invalid(format!(
                "{}: not a Zarr store (no .zgroup, .zarray or zarr.json)",
                path.display()
            )));
        }
        let store = FilesystemStore::new(&path)
            .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        Ok(ZarrStore {
            path,
            store: Arc::new(store),
        })
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every array of the store, depth-first in name order.
    pub fn variables(&self) -> Result<Vec<ZarrInfo>> {
        let mut out = Vec::new();
        self.walk(&self.path.clone(), "", &mut out)?;
        Ok(out)
    }

    fn walk(&self, dir: &Path, prefix: &str, out: &mut Vec<ZarrInfo>) -> Result<()> {
        if let Some(meta) = read_meta(dir)? {
            out.push(self.info(prefix.trim_matches('/'), &meta));
            return Ok(());
        }
        let mut entries: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .collect();
        entries.sort();
        for (name, p) in entries {
            self.walk(&p, &format!("{prefix}/{name}"), out)?;
        }
        Ok(())
    }

    fn info(&self, name: &str, m: &Meta) -> ZarrInfo {
        let stored = stored_type(&m.stored);
        let cf = stored
            .as_ref()
            .ok()
            .map(|&s| cf_of(m, s))
            .transpose()
            .unwrap_or_default()
            .unwrap_or_default();
        ZarrInfo {
            name: name.to_string(),
            zarr_format: m.format,
            stored: m.stored.clone(),
            dtype: stored.map(|s| cf.out_dtype(s)),
            shape: m.shape.clone(),
            dims: m.dims.clone(),
            chunks: m.chunks.clone(),
            codecs: m.codecs.clone(),
            cf,
        }
    }

    /// The strings of a 1-D string array (`|O` with `vlen-utf8` in v2, `string` in v3).
    pub fn read_strings(&self, name: &str) -> Result<Vec<String>> {
        let clean = name.trim_matches('/');
        let array = zarrs::array::Array::open(Arc::clone(&self.store), &format!("/{clean}"))
            .map_err(|e| {
                Error::Invalid(format!("{}: variable `{clean}`: {e}", self.path.display()))
            })?;
        array
            .retrieve_array_subset::<Vec<String>>(&array.subset_all())
            .map_err(|e| {
                Error::Invalid(format!(
                    "{}: variable `{clean}`: not readable as strings ({e})",
                    self.path.display()
                ))
            })
    }

    /// Opens array `name` for reading (validated: type, codecs, CF attributes).
    pub fn variable(&self, name: &str) -> Result<ZarrVariable> {
        let clean = name.trim_matches('/');
        let dir = self.path.join(clean);
        let bad = |what: String| {
            Error::Invalid(format!(
                "{}: variable `{clean}`: {what}",
                self.path.display()
            ))
        };
        let meta = if clean.is_empty() || !dir.is_dir() {
            None
        } else {
            read_meta(&dir)?
        };
        let Some(meta) = meta else {
            let known: Vec<String> = self
                .variables()
                .map(|v| v.into_iter().map(|v| v.name).take(12).collect())
                .unwrap_or_default();
            return Err(Error::Invalid(format!(
                "{}: no variable `{clean}` (it has {})",
                self.path.display(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )));
        };
        let stored = stored_type(&meta.stored).map_err(&bad)?;
        if meta.shape.is_empty() {
            return Err(bad("a scalar: it needs a record axis".into()));
        }
        if meta.chunks.len() != meta.shape.len() || meta.chunks.contains(&0) {
            return Err(bad(format!(
                "chunk shape {:?} does not fit shape {:?}",
                meta.chunks, meta.shape
            )));
        }
        let cf = cf_of(&meta, stored).map_err(&bad)?;
        let array = zarrs::array::Array::open(Arc::clone(&self.store), &format!("/{clean}"))
            .map_err(|e| bad(format!("{e}")))?;
        Ok(ZarrVariable {
            path: self.path.clone(),
            name: clean.to_string(),
            dtype: cf.out_dtype(stored),
            stored,
            shape: meta.shape.clone(),
            block_rows: meta.chunks[0],
            cf,
            array,
        })
    }
}

/// An array of a Zarr store, read in blocks of whole records (one chunk, or one shard, along
/// the first axis). Cheap to share between threads.
pub struct ZarrVariable {
    path: PathBuf,
    name: String,
    stored: Stored,
    dtype: DType,
    shape: Vec<usize>,
    block_rows: usize,
    cf: Cf,
    array: zarrs::array::Array<FilesystemStore>,
}

impl std::fmt::Debug for ZarrVariable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZarrVariable")
            .field("path", &self.path)
            .field("name", &self.name)
            .field("shape", &self.shape)
            .field("block_rows", &self.block_rows)
            .finish()
    }
}

impl ZarrVariable {
    /// The variable's path in the store.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The CF decoding applied.
    pub fn cf(&self) -> &Cf {
        &self.cf
    }
}

impl BlockSource for ZarrVariable {
    fn dtype(&self) -> DType {
        self.dtype
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn block_rows(&self) -> usize {
        self.block_rows
    }

    fn read_block(&self, block: usize, out: &mut Array) -> biobatch_core::Result<()> {
        let rows = self.block_range(block);
        let err = |what: String| {
            biobatch_core::Error::Invalid(format!(
                "{}: variable `{}`, records {rows:?}: {what}",
                self.path.display(),
                self.name
            ))
        };
        if rows.is_empty() || out.dtype() != self.dtype || out.len() != rows.len() * self.row_len()
        {
            return Err(err(format!(
                "block {block} does not fit a {} buffer of shape {:?}",
                out.dtype(),
                out.shape()
            )));
        }
        if cfg!(target_endian = "big") {
            return Err(err("Zarr reading needs a little-endian host".into()));
        }
        let ranges: Vec<std::ops::Range<u64>> = std::iter::once(rows.start as u64..rows.end as u64)
            .chain(self.shape[1..].iter().map(|&d| 0..d as u64))
            .collect();
        let subset = ArraySubset::new_with_ranges(&ranges);
        // One thread per block: the loader already decodes blocks on its own threads, and
        // zarrs' internal parallelism on top of them would oversubscribe the cores.
        let options = CodecOptions::default().with_concurrent_target(1);
        let bytes: ArrayBytes<'static> = self
            .array
            .retrieve_array_subset_opt(&subset, &options)
            .map_err(|e| err(format!("{e}")))?;
        let raw = bytes
            .into_fixed()
            .map_err(|e| err(format!("not fixed-size data ({e})")))?;
        convert(self.stored, &self.cf, &raw, out.data_mut(), 0)
            .map_err(|i| err(format!("value {i} of the block does not fit an i64")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_xarray_fill_values() {
        // xarray's NaN fill value of a float64 v3 array.
        let b = base64("AAAAAAAA+H8=").unwrap();
        assert!(f64::from_le_bytes(b.try_into().unwrap()).is_nan());
        assert_eq!(base64("aGVsbG8=").unwrap(), b"hello");
        assert!(base64("a*b").is_none());
    }
}
