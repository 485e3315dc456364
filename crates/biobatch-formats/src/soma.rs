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

#[cfg(feature = "h5ad")]
pub mod h5ad;
mod mtx;

use std::collections::BTreeMap;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

pub use arrow_array::RecordBatch;
pub use mtx::{MtxImport, import_mtx};

use crate::column::Column;
use crate::csr::{CsrIndex, CsrMatrix, CsrValue, CsrView};
use crate::npy::{npy_header, raw_header};
use crate::{Error, Result};

/// The `format` of a store's manifest.
pub const FORMAT: &str = "biobatch-soma";
/// The store layout version this build writes and reads.
pub const VERSION: u32 = 1;
const MANIFEST: &str = "manifest.json";

/// How much [`Experiment::open_with`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verify {
    /// Structure: manifest, file sizes, headers, table rows, `indptr` (O(cells)).
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
}

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
}

impl Layer {
    /// The layer's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stored entries.
    pub fn nnz(&self) -> usize {
        match &self.indices {
            Indices::U16(c) => c.len(),
            Indices::U32(c) => c.len(),
        }
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

    /// Runs `v` on the layer's matrix.
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

fn descr_of(dtype: &str) -> Option<&'static str> {
    Some(match dtype {
        "u8" => "|u1",
        "u16" => "<u2",
        "u32" => "<u4",
        "u64" => "<u8",
        "i32" => "<i4",
        "f32" => "<f4",
        _ => return None,
    })
}

fn map_file(path: &Path) -> Result<Arc<Mmap>> {
    let f = std::fs::File::open(path).map_err(|e| io(path, e))?;
    // SAFETY: store files are written once (into a temporary directory, then renamed) and
    // never modified in place; a store is not to be edited while it is open.
    let m = unsafe { Mmap::map(&f) }.map_err(|e| io(path, e))?;
    Ok(Arc::new(m))
}

/// Maps a 1-D `.npy` of `dtype` and `len` values as a column.
fn npy_column<T: bytemuck::Pod>(path: &Path, dtype: &str, len: u64) -> Result<Column<T>> {
    let map = map_file(path)?;
    let (descr, shape, offset) = raw_header(&map, path)?;
    let want = descr_of(dtype).unwrap_or("?");
    if descr != want && !(want.starts_with('|') && descr[1..] == want[1..]) {
        return Err(invalid(
            path,
            format!("holds `{descr}` values, the manifest says {dtype} (`{want}`)"),
        ));
    }
    if shape != [len as usize] {
        return Err(invalid(
            path,
            format!("has shape {shape:?}, the manifest says ({len},)"),
        ));
    }
    let bytes = len as usize * std::mem::size_of::<T>();
    if map.len() != offset + bytes {
        return Err(Error::corrupt(
            path,
            map.len() as u64,
            format!(
                "{} bytes of data, {len} values need {bytes} (truncated or padded file)",
                map.len().saturating_sub(offset)
            ),
        ));
    }
    Column::mapped(map, offset, bytes).ok_or_else(|| {
        invalid(
            path,
            "data is not aligned for its type (rewrite the file with numpy or biobatch)",
        )
    })
}

fn checksum_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let mut h = Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:016x}", h.digest()))
}

fn check_file(dir: &Path, e: &FileEntry, verify: Verify) -> Result<PathBuf> {
    let path = dir.join(&e.file);
    let meta = std::fs::metadata(&path).map_err(|err| io(&path, err))?;
    if meta.len() != e.bytes {
        return Err(Error::corrupt(
            &path,
            meta.len(),
            format!(
                "the file has {} bytes, the manifest says {} (truncated or replaced)",
                meta.len(),
                e.bytes
            ),
        ));
    }
    if verify == Verify::Full {
        let got = checksum_file(&path)?;
        if got != e.checksum {
            return Err(invalid(
                &path,
                format!(
                    "checksum {got} differs from the manifest's {} (the file is damaged)",
                    e.checksum
                ),
            ));
        }
    }
    Ok(path)
}

fn read_table(path: &Path) -> Result<RecordBatch> {
    let f = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(|e| invalid(path, format!("not a readable Parquet file: {e}")))?;
    // The file's Arrow schema, with its metadata (the reader's own schema drops it).
    let schema = builder.schema().clone();
    let reader = builder
        .build()
        .map_err(|e| invalid(path, format!("not a readable Parquet file: {e}")))?;
    let batches = reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| invalid(path, format!("unreadable Parquet data: {e}")))?;
    let table = arrow_select::concat::concat_batches(&schema, &batches)
        .map_err(|e| invalid(path, format!("cannot join the Parquet row groups: {e}")))?;
    restore_categories(table).map_err(|e| invalid(path, e))
}

/// Schema metadata key holding each dictionary column's categories, in order.
const CATEGORIES_KEY: &str = "biobatch.categories";

/// The categories (values, in order) of each string dictionary column, which Parquet alone
/// does not keep (it stores values in order of first use and drops unused ones).
fn categories_of(table: &RecordBatch) -> BTreeMap<String, Vec<String>> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    let mut out = BTreeMap::new();
    for (field, col) in table.schema().fields().iter().zip(table.columns()) {
        if let Some(d) = col.as_any_dictionary_opt()
            && let Some(v) = d.values().as_string_opt::<i32>()
        {
            out.insert(
                field.name().clone(),
                (0..v.len()).map(|i| v.value(i).to_string()).collect(),
            );
        }
    }
    out
}

/// Rebuilds dictionary columns with the categories recorded at write time: same order,
/// unused categories kept, so codes mean what they meant.
fn restore_categories(table: RecordBatch) -> std::result::Result<RecordBatch, String> {
    use arrow_array::cast::AsArray;
    use arrow_array::{Array, DictionaryArray, Int32Array, StringArray, types::Int32Type};
    let schema = table.schema();
    let Some(text) = schema.metadata().get(CATEGORIES_KEY) else {
        return Ok(table);
    };
    let stored: BTreeMap<String, Vec<String>> =
        serde_json::from_str(text).map_err(|e| format!("unreadable {CATEGORIES_KEY}: {e}"))?;
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (field, col) in schema.fields().iter().zip(table.columns()) {
        let (Some(cats), Some(d)) = (stored.get(field.name()), col.as_any_dictionary_opt()) else {
            fields.push(field.as_ref().clone());
            columns.push(col.clone());
            continue;
        };
        let values = d
            .values()
            .as_string_opt::<i32>()
            .ok_or_else(|| format!("column `{}` has non-text categories", field.name()))?;
        let at: std::collections::HashMap<&str, i32> = cats
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i as i32))
            .collect();
        let keys = d.normalized_keys();
        let codes: Vec<Option<i32>> = (0..col.len())
            .map(|i| {
                if col.is_null(i) {
                    Ok(None)
                } else {
                    let v = values.value(keys[i]);
                    at.get(v).map(|&k| Some(k)).ok_or_else(|| {
                        format!(
                            "column `{}`: `{v}` is not a recorded category",
                            field.name()
                        )
                    })
                }
            })
            .collect::<std::result::Result<_, String>>()?;
        let dict = DictionaryArray::<Int32Type>::try_new(
            Int32Array::from(codes),
            Arc::new(StringArray::from(cats.clone())),
        )
        .map_err(|e| e.to_string())?;
        fields.push(
            field
                .as_ref()
                .clone()
                .with_data_type(dict.data_type().clone()),
        );
        columns.push(Arc::new(dict) as arrow_array::ArrayRef);
    }
    // The key is ours: the table comes back as it was written.
    let mut meta = schema.metadata().clone();
    meta.remove(CATEGORIES_KEY);
    let schema = arrow_schema::Schema::new(fields).with_metadata(meta);
    RecordBatch::try_new(Arc::new(schema), columns).map_err(|e| e.to_string())
}

impl Experiment {
    /// Opens a store with the default ([`Verify::Fast`]) checks.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(dir, Verify::Fast)
    }

    /// Opens a store with the given checks.
    pub fn open_with(dir: impl AsRef<Path>, verify: Verify) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
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

/// A sink for a file's bytes.
type Put<'a> = &'a mut dyn FnMut(&[u8]) -> Result<()>;

/// Writes `bytes` (a header then data chunks) to `path`, returning its manifest entry.
fn write_file(
    dir: &Path,
    rel: &str,
    parts: &mut dyn FnMut(Put<'_>) -> Result<()>,
) -> Result<FileEntry> {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    }
    let f = std::fs::File::create(&path).map_err(|e| io(&path, e))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    let mut h = Xxh3::new();
    let mut bytes = 0u64;
    parts(&mut |b: &[u8]| {
        h.update(b);
        bytes += b.len() as u64;
        w.write_all(b).map_err(|e| io(&path, e))
    })?;
    let f = w.into_inner().map_err(|e| io(&path, e.into_error()))?;
    f.sync_all().map_err(|e| io(&path, e))?;
    Ok(FileEntry {
        file: rel.to_string(),
        bytes,
        checksum: format!("{:016x}", h.digest()),
    })
}

fn write_npy<T: bytemuck::Pod>(
    dir: &Path,
    rel: &str,
    descr: &str,
    data: &[T],
) -> Result<FileEntry> {
    write_file(dir, rel, &mut |put| {
        put(&npy_header(descr, data.len()))?;
        for chunk in data.chunks(1 << 18) {
            put(bytemuck::cast_slice(chunk))?;
        }
        Ok(())
    })
}

/// Writes a layer's three files under `dir/X/<name>/`, narrowing indices to `u16` when the
/// genes allow it.
fn write_layer_files<V: CsrValue, I: CsrIndex>(
    dir: &Path,
    name: &str,
    m: CsrView<'_, V, I>,
) -> Result<LayerEntry> {
    let base = format!("X/{name}");
    let indptr = write_npy(dir, &format!("{base}/indptr.npy"), "<u8", m.indptr)?;
    let narrow = m.n_cols <= 1 << 16;
    let indices = if narrow {
        write_file(dir, &format!("{base}/indices.npy"), &mut |put| {
            put(&npy_header("<u2", m.indices.len()))?;
            let mut buf: Vec<u16> = Vec::with_capacity(1 << 18);
            for chunk in m.indices.chunks(1 << 18) {
                buf.clear();
                // Every index is < n_cols ≤ 65,536 (the view was validated by the caller).
                buf.extend(chunk.iter().map(|c| c.get() as u16));
                put(bytemuck::cast_slice(&buf))?;
            }
            Ok(())
        })?
    } else {
        write_file(dir, &format!("{base}/indices.npy"), &mut |put| {
            put(&npy_header("<u4", m.indices.len()))?;
            let mut buf: Vec<u32> = Vec::with_capacity(1 << 18);
            for chunk in m.indices.chunks(1 << 18) {
                buf.clear();
                buf.extend(chunk.iter().map(|c| c.get() as u32));
                put(bytemuck::cast_slice(&buf))?;
            }
            Ok(())
        })?
    };
    let values = write_npy(dir, &format!("{base}/values.npy"), V::DESCR, m.values)?;
    let value_dtype = match V::DESCR {
        "|u1" => "u8",
        "<u2" => "u16",
        "<i4" => "i32",
        _ => "f32",
    };
    Ok(LayerEntry {
        nnz: m.indices.len() as u64,
        index_dtype: if narrow { "u16" } else { "u32" }.into(),
        value_dtype: value_dtype.into(),
        indptr,
        indices,
        values,
    })
}

fn write_table(dir: &Path, rel: &str, table: &RecordBatch) -> Result<FileEntry> {
    let path = dir.join(rel);
    let cats = categories_of(table);
    let table = if cats.is_empty() {
        table.clone()
    } else {
        let mut meta = table.schema().metadata().clone();
        let text = serde_json::to_string(&cats).map_err(|e| invalid(&path, e))?;
        meta.insert(CATEGORIES_KEY.to_string(), text);
        let schema = table.schema().as_ref().clone().with_metadata(meta);
        RecordBatch::try_new(Arc::new(schema), table.columns().to_vec())
            .map_err(|e| invalid(&path, e))?
    };
    let table = &table;
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .build();
    let mut buf = Vec::new();
    {
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, table.schema(), Some(props))
            .map_err(|e| invalid(&path, format!("cannot write Parquet: {e}")))?;
        w.write(table)
            .map_err(|e| invalid(&path, format!("cannot write Parquet: {e}")))?;
        w.close()
            .map_err(|e| invalid(&path, format!("cannot write Parquet: {e}")))?;
    }
    write_file(dir, rel, &mut |put| put(&buf))
}

fn write_manifest(dir: &Path, m: &Manifest) -> Result<()> {
    let text = serde_json::to_vec_pretty(m)
        .map_err(|e| Error::Invalid(format!("cannot encode the manifest: {e}")))?;
    crate::write_atomic(&dir.join(MANIFEST), |f| f.write_all(&text))
}

/// A matrix to store as a layer: any value type, `u32` column indices.
pub enum LayerData<'a> {
    /// Small counts.
    U8(CsrView<'a, u8, u32>),
    /// Counts.
    U16(CsrView<'a, u16, u32>),
    /// Signed integers.
    I32(CsrView<'a, i32, u32>),
    /// Anything else.
    F32(CsrView<'a, f32, u32>),
}

impl LayerData<'_> {
    fn shape(&self) -> (usize, usize) {
        match self {
            LayerData::U8(m) => (m.n_rows(), m.n_cols),
            LayerData::U16(m) => (m.n_rows(), m.n_cols),
            LayerData::I32(m) => (m.n_rows(), m.n_cols),
            LayerData::F32(m) => (m.n_rows(), m.n_cols),
        }
    }

    fn write(&self, dir: &Path, name: &str) -> Result<LayerEntry> {
        let check = |r: Result<()>| r.map_err(|e| Error::Invalid(format!("layer `{name}`: {e}")));
        match self {
            LayerData::U8(m) => check(m.validate()).and_then(|_| write_layer_files(dir, name, *m)),
            LayerData::U16(m) => check(m.validate()).and_then(|_| write_layer_files(dir, name, *m)),
            LayerData::I32(m) => check(m.validate()).and_then(|_| write_layer_files(dir, name, *m)),
            LayerData::F32(m) => check(m.validate()).and_then(|_| write_layer_files(dir, name, *m)),
        }
    }
}

impl<'a> From<&'a CsrMatrix<u16, u32>> for LayerData<'a> {
    fn from(m: &'a CsrMatrix<u16, u32>) -> Self {
        LayerData::U16(m.view())
    }
}

impl<'a> From<&'a CsrMatrix<f32, u32>> for LayerData<'a> {
    fn from(m: &'a CsrMatrix<f32, u32>) -> Self {
        LayerData::F32(m.view())
    }
}

impl<'a> From<&'a CsrMatrix<i32, u32>> for LayerData<'a> {
    fn from(m: &'a CsrMatrix<i32, u32>) -> Self {
        LayerData::I32(m.view())
    }
}

impl<'a> From<&'a CsrMatrix<u8, u32>> for LayerData<'a> {
    fn from(m: &'a CsrMatrix<u8, u32>) -> Self {
        LayerData::U8(m.view())
    }
}

fn check_layer_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "layer name `{name}`: use letters, digits, `_`, `-` and `.` (not first)"
        )))
    }
}

/// Writes a new store at `dir` (which must not exist) with the `obs` and `var` tables and the
/// given layers: everything goes to a temporary directory beside `dir`, which is renamed
/// into place last.
pub fn write_experiment(
    dir: impl AsRef<Path>,
    obs: &RecordBatch,
    var: &RecordBatch,
    layers: &[(&str, LayerData<'_>)],
) -> Result<Manifest> {
    let dir = dir.as_ref();
    if dir.exists() {
        return Err(invalid(
            dir,
            "already exists; remove it or choose another output",
        ));
    }
    let (n_obs, n_vars) = (obs.num_rows(), var.num_rows());
    for (name, m) in layers {
        check_layer_name(name)?;
        if m.shape() != (n_obs, n_vars) {
            return Err(Error::Invalid(format!(
                "layer `{name}` is {} × {}, but obs has {n_obs} rows and var {n_vars}",
                m.shape().0,
                m.shape().1
            )));
        }
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| io(&parent, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(".soma-tmp-")
        .tempdir_in(&parent)
        .map_err(|e| io(&parent, e))?;
    let mut manifest = Manifest {
        format: FORMAT.into(),
        version: VERSION,
        n_obs: n_obs as u64,
        n_vars: n_vars as u64,
        obs: write_table(tmp.path(), "obs.parquet", obs)?,
        var: write_table(tmp.path(), "var.parquet", var)?,
        layers: BTreeMap::new(),
    };
    for (name, m) in layers {
        let entry = m.write(tmp.path(), name)?;
        manifest.layers.insert(name.to_string(), entry);
    }
    write_manifest(tmp.path(), &manifest)?;
    let tmp = tmp.keep();
    std::fs::rename(&tmp, dir).map_err(|e| {
        let _ = std::fs::remove_dir_all(&tmp);
        io(dir, e)
    })?;
    Ok(manifest)
}

/// Adds layer `name` to the store at `dir`: its files are written under a temporary name and
/// renamed into `X/<name>/`, then the manifest is replaced atomically. A layer of that name
/// already listed is an error; leftovers of an interrupted append are removed first.
pub fn append_layer(dir: impl AsRef<Path>, name: &str, m: LayerData<'_>) -> Result<Manifest> {
    let dir = dir.as_ref();
    check_layer_name(name)?;
    let exp = Experiment::open(dir)?;
    if exp.layers.contains_key(name) {
        return Err(invalid(dir, format!("already has a layer named `{name}`")));
    }
    if m.shape() != (exp.n_obs(), exp.n_vars()) {
        return Err(Error::Invalid(format!(
            "layer `{name}` is {} × {}, the store is {} × {}",
            m.shape().0,
            m.shape().1,
            exp.n_obs(),
            exp.n_vars()
        )));
    }
    let mut manifest = exp.manifest.clone();
    drop(exp);
    let xdir = dir.join("X");
    std::fs::create_dir_all(&xdir).map_err(|e| io(&xdir, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(".layer-tmp-")
        .tempdir_in(&xdir)
        .map_err(|e| io(&xdir, e))?;
    let entry = m.write(tmp.path(), name)?;
    let target = xdir.join(name);
    if target.exists() {
        // Not in the manifest: the leftovers of an interrupted append.
        std::fs::remove_dir_all(&target).map_err(|e| io(&target, e))?;
    }
    let tmp = tmp.keep();
    std::fs::rename(tmp.join("X").join(name), &target).map_err(|e| io(&target, e))?;
    let _ = std::fs::remove_dir_all(&tmp);
    // The entries' paths (`X/<name>/…`) are relative to the temporary directory's root, so
    // they hold for the store once the layer directory has moved.
    manifest.layers.insert(name.to_string(), entry);
    write_manifest(dir, &manifest)?;
    Ok(manifest)
}
