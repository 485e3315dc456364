//! A SOMA-like single-cell experiment store: per-cell (`obs`) and per-gene (`var`) tables in
//! Parquet, and one or more cell-by-gene matrices (`X` layers) as CSR arrays in `.npy` files
//! that are memory-mapped and read in place.
//!
//! ```text
//! STORE/
//!   manifest.json              format, version, shape, files with sizes and xxh3 checksums
//!   obs.parquet                one row per cell (n_obs), any Arrow columns
//!   var.parquet                one row per gene (n_vars)
//!   X/<layer>/indptr.npy       u64, n_obs + 1 (row offsets: 0 … nnz)
//!   X/<layer>/indices.npy      u16 (n_vars ≤ 65,536) or u32 column indices, nnz
//!   X/<layer>/values.npy       u8 / u16 / i32 / f32 values, nnz
//! ```
//!
//! Every array file is a plain version-1 `.npy` (`numpy.load(path, mmap_mode="r")` reads
//! it), and the tables are plain Parquet, so other tools read a store without biobatch; the
//! layout is documented in `docs/soma.md`.
//!
//! Opening validates ([`Verify::Fast`], the default): the manifest, every file's presence and
//! size, the `.npy` headers against the manifest's dtypes and lengths, the table row counts
//! against the shape, and each layer's `indptr` (starts at 0, never decreases, ends at nnz).
//! [`Verify::Full`] adds every file's checksum and a scan that every column index is below
//! `n_vars`. Readers bounds-check column indices as they gather rows, so even an unverified
//! damaged `indices` file is an error, never an out-of-bounds write.
//!
//! Writers are atomic: a new store is written into a temporary directory beside the target
//! and renamed into place; [`append_layer`] writes the layer's files under a temporary name,
//! renames them, and only then swaps in the new manifest. A crash leaves either the old store
//! or the new one, never a store that opens as valid with missing or partial data.

#[cfg(any(feature = "h5ad", feature = "zarr"))]
mod anndata;
#[cfg(feature = "zarr")]
mod anndata_zarr;
#[cfg(feature = "h5ad")]
pub mod h5ad;
mod mtx;
#[cfg(feature = "remote")]
mod remote;
mod tables;
mod verify;
mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use serde::{Deserialize, Serialize};

#[cfg(any(feature = "h5ad", feature = "zarr"))]
pub use anndata::AnnDataImport;
#[cfg(feature = "zarr")]
pub use anndata_zarr::import_anndata_zarr;
pub use arrow_array::RecordBatch;
pub use mtx::{MtxImport, import_mtx};
#[cfg(feature = "remote")]
pub use remote::upload_store;
pub use write::{LayerData, append_layer, write_experiment};

use crate::column::Column;
use crate::csr::{CsrIndex, CsrValue, CsrView};
use crate::npy::raw_header;
use crate::{Error, Result};
use tables::read_table;
use verify::check_file;

/// The `format` of a store's manifest.
pub const FORMAT: &str = "biobatch-soma";
/// The store layout version this build writes and reads.
pub const VERSION: u32 = 1;
const MANIFEST: &str = "manifest.json";

/// How much [`Experiment::open_with`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verify {
    /// Structure — manifest, file sizes, headers, table rows, `indptr` (O(cells)) — plus the
    /// checksums of [`SAMPLED_CHUNKS`] chunks of each file, chosen at random (every chunk of
    /// a file of at most that many). Damage inside chunks not sampled at this open (a flipped
    /// value, swapped column indices that stay in range) is not seen: [`Verify::Full`] is the
    /// way to be sure.
    #[default]
    Fast,
    /// Also every file's checksum and every column index (O(bytes)).
    Full,
}

/// One file of a store, as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the store.
    pub file: String,
    /// Size in bytes.
    pub bytes: u64,
    /// xxh3-64 of the whole file, 16 hex digits.
    pub checksum: String,
    /// xxh3-64 of each [`CHUNK`]-byte chunk of the file, in order, 16 hex digits each (what
    /// the fast check samples; stores written before these existed have none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chunks: Vec<String>,
}

/// Bytes per checksummed chunk of a store file ([`FileEntry::chunks`]).
pub const CHUNK: u64 = 8 << 20;

/// Chunks of each file the fast check ([`Verify::Fast`]) reads and hashes, chosen at random
/// at every open: every chunk of a file this small or smaller is checked.
pub const SAMPLED_CHUNKS: u64 = 2;

/// One X layer, as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerEntry {
    /// Stored entries.
    pub nnz: u64,
    /// `u16` or `u32`.
    pub index_dtype: String,
    /// `u8`, `u16`, `i32` or `f32`.
    pub value_dtype: String,
    /// The row offsets.
    pub indptr: FileEntry,
    /// The column indices.
    pub indices: FileEntry,
    /// The values.
    pub values: FileEntry,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// The layout version ([`VERSION`]).
    pub version: u32,
    /// Cells.
    pub n_obs: u64,
    /// Genes.
    pub n_vars: u64,
    /// The per-cell table.
    pub obs: FileEntry,
    /// The per-gene table.
    pub var: FileEntry,
    /// The X layers by name.
    pub layers: BTreeMap<String, LayerEntry>,
}

/// Column indices of a layer.
#[derive(Debug, Clone)]
pub enum Indices {
    /// For up to 65,536 genes.
    U16(Column<u16>),
    /// Otherwise.
    U32(Column<u32>),
}

/// Values of a layer.
#[derive(Debug, Clone)]
pub enum Values {
    /// Small counts.
    U8(Column<u8>),
    /// Counts.
    U16(Column<u16>),
    /// Signed integers.
    I32(Column<i32>),
    /// Anything else.
    F32(Column<f32>),
}

/// Code that runs on some rows of a layer ([`Layer::visit_rows`]): the view and which of its
/// rows are the ones asked for.
pub trait RowsVisitor {
    /// What the visit returns.
    type Out;
    /// Called with a matrix holding the rows, and their row numbers in it.
    fn visit<V: CsrValue, I: CsrIndex>(self, view: CsrView<'_, V, I>, rows: &[u64]) -> Self::Out;
}

/// Code that runs on a layer's CSR view whatever its index and value types are (each type
/// pair gets its own monomorphised copy).
pub trait CsrVisitor {
    /// What the visit returns.
    type Out;
    /// Called with the layer's matrix.
    fn visit<V: CsrValue, I: CsrIndex>(self, view: CsrView<'_, V, I>) -> Self::Out;
}

/// One X layer: a CSR matrix read in place from its files (cloning shares the maps).
#[derive(Debug, Clone)]
pub struct Layer {
    name: String,
    dir: PathBuf,
    n_vars: usize,
    indptr: Column<u64>,
    indices: Indices,
    values: Values,
    /// A store at a URL: the entries are read per batch from there, and `indices` and
    /// `values` above stay empty (they only carry the types).
    #[cfg(feature = "remote")]
    remote: Option<Arc<remote::Entries>>,
}

impl Layer {
    /// The layer's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stored entries.
    pub fn nnz(&self) -> usize {
        // `indptr` ends at the entry count (checked at open), wherever the entries are.
        self.indptr.last().map_or(0, |&n| n as usize)
    }

    /// Whether the entries are read from a URL ([`Layer::visit_rows`] reads them; a
    /// [`Layer::visit`] sees only the row offsets).
    pub fn is_remote(&self) -> bool {
        #[cfg(feature = "remote")]
        if self.remote.is_some() {
            return true;
        }
        false
    }

    /// Runs `v` on a matrix holding rows `rows`: the layer's own matrix with the rows as
    /// given for a local store; for a store at a URL, a small matrix of just those rows
    /// (fetched together), rows `0..rows.len()`. Either way row `rows'[k]` of the view the
    /// visitor gets is cell `rows[k]`.
    pub fn visit_rows<T: RowsVisitor>(&self, rows: &[u64], v: T) -> Result<T::Out> {
        #[cfg(feature = "remote")]
        if let Some(r) = &self.remote {
            return r.gather(self, rows, v);
        }
        struct Whole<'a, T>(T, &'a [u64]);
        impl<T: RowsVisitor> CsrVisitor for Whole<'_, T> {
            type Out = T::Out;
            fn visit<V: CsrValue, I: CsrIndex>(self, view: CsrView<'_, V, I>) -> T::Out {
                self.0.visit(view, self.1)
            }
        }
        Ok(self.visit(Whole(v, rows)))
    }

    /// The row offsets (`n_obs + 1`).
    pub fn indptr(&self) -> &[u64] {
        &self.indptr
    }

    /// The directory of the layer's files (for messages).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Asks the kernel to start reading the stored entries of rows `rows` (a contiguous range
    /// of cells) in the background; best effort, nothing happens for rows out of range.
    pub fn will_need(&self, rows: std::ops::Range<usize>) {
        #[cfg(feature = "remote")]
        if let Some(r) = &self.remote {
            // A store at a URL: fetch the rows' entries into the block cache now.
            return r.will_need(self, rows);
        }
        let p = self.indptr();
        let (Some(&s), Some(&e)) = (p.get(rows.start), p.get(rows.end.min(p.len() - 1))) else {
            return;
        };
        let r = s as usize..e as usize;
        match &self.indices {
            Indices::U16(c) => c.will_need(r.clone()),
            Indices::U32(c) => c.will_need(r.clone()),
        }
        match &self.values {
            Values::U8(c) => c.will_need(r),
            Values::U16(c) => c.will_need(r),
            Values::I32(c) => c.will_need(r),
            Values::F32(c) => c.will_need(r),
        }
    }

    /// `u8`, `u16`, `i32` or `f32`.
    pub fn value_dtype(&self) -> &'static str {
        match self.values {
            Values::U8(_) => "u8",
            Values::U16(_) => "u16",
            Values::I32(_) => "i32",
            Values::F32(_) => "f32",
        }
    }

    /// Runs `v` on the layer's matrix (for a store at a URL, the entries are not here: use
    /// [`Layer::visit_rows`]).
    pub fn visit<T: CsrVisitor>(&self, v: T) -> T::Out {
        macro_rules! go {
            ($i:expr, $v:expr) => {
                v.visit(CsrView {
                    n_cols: self.n_vars,
                    indptr: &self.indptr,
                    indices: $i,
                    values: $v,
                })
            };
        }
        match (&self.indices, &self.values) {
            (Indices::U16(i), Values::U8(x)) => go!(i, x),
            (Indices::U16(i), Values::U16(x)) => go!(i, x),
            (Indices::U16(i), Values::I32(x)) => go!(i, x),
            (Indices::U16(i), Values::F32(x)) => go!(i, x),
            (Indices::U32(i), Values::U8(x)) => go!(i, x),
            (Indices::U32(i), Values::U16(x)) => go!(i, x),
            (Indices::U32(i), Values::I32(x)) => go!(i, x),
            (Indices::U32(i), Values::F32(x)) => go!(i, x),
        }
    }
}

/// An open experiment.
#[derive(Debug)]
pub struct Experiment {
    dir: PathBuf,
    manifest: Manifest,
    obs: RecordBatch,
    var: RecordBatch,
    layers: BTreeMap<String, Layer>,
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::io(path, e)
}

fn invalid(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("{}: {what}", path.display()))
}

/// The `.npy` descriptor and element size of a manifest dtype.
fn npy_type(dtype: &str) -> Option<(&'static str, u64)> {
    Some(match dtype {
        "u8" => ("|u1", 1),
        "u16" => ("<u2", 2),
        "u32" => ("<u4", 4),
        "u64" => ("<u8", 8),
        "i32" => ("<i4", 4),
        "f32" => ("<f4", 4),
        _ => return None,
    })
}

/// Checks a 1-D `.npy` column against the manifest, locally and at a URL alike: `head` (the
/// file's first bytes) must hold a header of `dtype` and shape `(len,)`, and the file's
/// `file_len` bytes exactly that header and data. Returns where the data starts and its size.
fn npy_layout(
    path: &Path,
    head: &[u8],
    file_len: u64,
    dtype: &str,
    len: u64,
) -> Result<(u64, u64)> {
    let (descr, shape, offset) = raw_header(head, path)?;
    let (want, size) = npy_type(dtype).unwrap_or(("?", 8));
    // A one-byte type may carry any byte-order mark (`|u1`, `<u1`); `get`, not indexing: a
    // damaged header's descriptor may be empty or start with a multi-byte character.
    if descr != want && !(want.starts_with('|') && descr.get(1..) == want.get(1..)) {
        return Err(invalid(
            path,
            format!("holds `{descr}` values, the manifest says {dtype} (`{want}`)"),
        ));
    }
    if shape.len() != 1 || shape[0] as u64 != len {
        return Err(invalid(
            path,
            format!("has shape {shape:?}, the manifest says ({len},)"),
        ));
    }
    let offset = offset as u64;
    let bytes = len.saturating_mul(size);
    if offset.checked_add(bytes) != Some(file_len) {
        return Err(Error::corrupt(
            path,
            file_len,
            format!(
                "{} bytes of data, {len} values need {bytes} (truncated or padded file)",
                file_len.saturating_sub(offset)
            ),
        ));
    }
    Ok((offset, bytes))
}

fn map_file(path: &Path) -> Result<Arc<Mmap>> {
    let f = crate::fs::open_regular(path)?;
    // SAFETY: store files are written once (into a temporary directory, then renamed) and
    // never modified in place; a store is not to be edited while it is open.
    let m = unsafe { Mmap::map(&f) }.map_err(|e| io(path, e))?;
    Ok(Arc::new(m))
}

/// Maps a 1-D `.npy` of `dtype` and `len` values as a column.
fn npy_column<T: bytemuck::Pod>(path: &Path, dtype: &str, len: u64) -> Result<Column<T>> {
    let map = map_file(path)?;
    let (offset, bytes) = npy_layout(path, &map, map.len() as u64, dtype, len)?;
    debug_assert_eq!(
        npy_type(dtype).map(|t| t.1),
        Some(std::mem::size_of::<T>() as u64)
    );
    // Both fit in the mapped file's length, a usize.
    let (offset, bytes) = (offset as usize, bytes as usize);
    Column::mapped(map, offset, bytes).ok_or_else(|| {
        invalid(
            path,
            "data is not aligned for its type (rewrite the file with numpy or biobatch)",
        )
    })
}

impl Experiment {
    /// Opens a store with the default ([`Verify::Fast`]) checks.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(dir, Verify::Fast)
    }

    /// Opens a store with the given checks.
    ///
    /// A URL (with the `remote` feature) opens a store uploaded as is (see
    /// `biobatch cells import --to`), read through the block cache of [`crate::remote`].
    pub fn open_with(dir: impl AsRef<Path>, verify: Verify) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        if crate::remote::is_url(&dir) {
            #[cfg(feature = "remote")]
            return remote::open(&dir, verify);
            #[cfg(not(feature = "remote"))]
            return Err(crate::remote::unsupported(&dir, "a store URL"));
        }
        let mpath = dir.join(MANIFEST);
        let text = std::fs::read(&mpath).map_err(|e| io(&mpath, e))?;
        let manifest: Manifest = serde_json::from_slice(&text)
            .map_err(|e| invalid(&mpath, format!("not a store manifest: {e}")))?;
        if manifest.format != FORMAT {
            return Err(invalid(
                &mpath,
                format!("format `{}`, expected `{FORMAT}`", manifest.format),
            ));
        }
        if manifest.version != VERSION {
            return Err(invalid(
                &mpath,
                format!(
                    "store version {}, this build reads {VERSION}",
                    manifest.version
                ),
            ));
        }
        let (n_obs, n_vars) = (manifest.n_obs as usize, manifest.n_vars as usize);
        let obs_path = check_file(&dir, &manifest.obs, verify)?;
        let var_path = check_file(&dir, &manifest.var, verify)?;
        let obs = read_table(&obs_path)?;
        let var = read_table(&var_path)?;
        if obs.num_rows() != n_obs {
            return Err(invalid(
                &obs_path,
                format!("has {} rows, the store has {n_obs} cells", obs.num_rows()),
            ));
        }
        if var.num_rows() != n_vars {
            return Err(invalid(
                &var_path,
                format!("has {} rows, the store has {n_vars} genes", var.num_rows()),
            ));
        }
        let mut layers = BTreeMap::new();
        for (name, e) in &manifest.layers {
            let layer = open_layer(&dir, name, e, n_obs, n_vars, verify)?;
            layers.insert(name.clone(), layer);
        }
        Ok(Experiment {
            dir,
            manifest,
            obs,
            var,
            layers,
        })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Cells.
    pub fn n_obs(&self) -> usize {
        self.manifest.n_obs as usize
    }

    /// Genes.
    pub fn n_vars(&self) -> usize {
        self.manifest.n_vars as usize
    }

    /// The per-cell table.
    pub fn obs(&self) -> &RecordBatch {
        &self.obs
    }

    /// The per-gene table.
    pub fn var(&self) -> &RecordBatch {
        &self.var
    }

    /// Layer names.
    pub fn layer_names(&self) -> impl Iterator<Item = &str> {
        self.layers.keys().map(String::as_str)
    }

    /// A layer by name; the error lists the layers there are.
    pub fn layer(&self, name: &str) -> Result<&Layer> {
        self.layers.get(name).ok_or_else(|| {
            let names: Vec<&str> = self.layer_names().collect();
            invalid(
                &self.dir,
                format!("no X layer named `{name}` (layers: {})", names.join(", ")),
            )
        })
    }
}

fn open_layer(
    dir: &Path,
    name: &str,
    e: &LayerEntry,
    n_obs: usize,
    n_vars: usize,
    verify: Verify,
) -> Result<Layer> {
    let indptr_path = check_file(dir, &e.indptr, verify)?;
    let indices_path = check_file(dir, &e.indices, verify)?;
    let values_path = check_file(dir, &e.values, verify)?;
    let indptr = npy_column::<u64>(&indptr_path, "u64", n_obs as u64 + 1)?;
    let indices = match e.index_dtype.as_str() {
        "u16" => Indices::U16(npy_column(&indices_path, "u16", e.nnz)?),
        "u32" => Indices::U32(npy_column(&indices_path, "u32", e.nnz)?),
        other => {
            return Err(invalid(
                &indices_path,
                format!("unknown index dtype `{other}`"),
            ));
        }
    };
    if matches!(indices, Indices::U16(_)) && n_vars > 1 << 16 {
        return Err(invalid(
            &indices_path,
            format!("u16 indices cannot address {n_vars} genes"),
        ));
    }
    let values = match e.value_dtype.as_str() {
        "u8" => Values::U8(npy_column(&values_path, "u8", e.nnz)?),
        "u16" => Values::U16(npy_column(&values_path, "u16", e.nnz)?),
        "i32" => Values::I32(npy_column(&values_path, "i32", e.nnz)?),
        "f32" => Values::F32(npy_column(&values_path, "f32", e.nnz)?),
        other => {
            return Err(invalid(
                &values_path,
                format!("unknown value dtype `{other}`"),
            ));
        }
    };
    let layer = Layer {
        name: name.to_string(),
        dir: dir.join("X").join(name),
        n_vars,
        indptr,
        indices,
        values,
        #[cfg(feature = "remote")]
        remote: None,
    };
    // indptr structure always; column indices only on a full check (the gather checks them).
    let p = layer.indptr();
    let bad = |what: String| Err(invalid(&indptr_path, what));
    if p.first() != Some(&0) {
        return bad(format!("starts at {:?}, not 0", p.first()));
    }
    if let Some(i) = p.windows(2).position(|w| w[1] < w[0]) {
        return bad(format!("decreases at row {i}: {} then {}", p[i], p[i + 1]));
    }
    if p.last() != Some(&e.nnz) {
        return bad(format!(
            "ends at {:?}, but the layer stores {} entries",
            p.last(),
            e.nnz
        ));
    }
    if verify == Verify::Full {
        struct Check;
        impl CsrVisitor for Check {
            type Out = Result<()>;
            fn visit<V: CsrValue, I: CsrIndex>(self, view: CsrView<'_, V, I>) -> Result<()> {
                view.validate()
            }
        }
        layer
            .visit(Check)
            .map_err(|err| invalid(&indices_path, err))?;
    }
    Ok(layer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::npy::tests::npy;

    fn layout(b: &[u8], dtype: &str, len: u64) -> Result<(u64, u64)> {
        npy_layout(Path::new("values.npy"), b, b.len() as u64, dtype, len)
    }

    #[test]
    fn a_column_header_is_checked_against_the_manifest_without_panicking() {
        let good = npy(
            "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }",
            &[0; 3],
        );
        let at = |b: &[u8], data: u64| b.len() as u64 - data;
        assert_eq!(layout(&good, "u8", 3).unwrap(), (at(&good, 3), 3));
        let other_mark = npy(
            "{'descr': '<u1', 'fortran_order': False, 'shape': (3,), }",
            &[0; 3],
        );
        assert_eq!(
            layout(&other_mark, "u8", 3).unwrap(),
            (at(&other_mark, 3), 3)
        );
        let wide = npy(
            "{'descr': '<u4', 'fortran_order': False, 'shape': (3,), }",
            &[0; 12],
        );
        assert_eq!(layout(&wide, "u32", 3).unwrap(), (at(&wide, 12), 12));
        // Damaged descriptors: empty, a multi-byte first character, another type.
        for descr in ["", "é1", "<i1"] {
            let b = npy(
                &format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (3,), }}"),
                &[0; 3],
            );
            let err = layout(&b, "u8", 3).unwrap_err().to_string();
            assert!(
                err.contains("values.npy") && err.contains("the manifest says u8"),
                "{err}"
            );
        }
        let err = layout(&good, "u8", 4).unwrap_err().to_string();
        assert!(
            err.contains("has shape [3], the manifest says (4,)"),
            "{err}"
        );
        let short = &good[..good.len() - 1];
        let err = layout(short, "u8", 3).unwrap_err().to_string();
        assert!(err.contains("2 bytes of data, 3 values need 3"), "{err}");
        // A manifest length whose byte size overflows is refused, not wrapped.
        let huge = npy(
            "{'descr': '<u8', 'fortran_order': False, 'shape': (2305843009213693952,), }",
            &[],
        );
        let err = layout(&huge, "u64", 1 << 61).unwrap_err().to_string();
        assert!(err.contains("truncated or padded"), "{err}");
    }
}
