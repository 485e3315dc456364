//! Writing stores: atomic creation, layer appends, and the files' manifest entries.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatch;
use xxhash_rust::xxh3::Xxh3;

use super::tables::{CATEGORIES_KEY, categories_of};
use super::{
    CHUNK, Experiment, FORMAT, FileEntry, LayerEntry, MANIFEST, Manifest, VERSION, invalid, io,
};
use crate::csr::{CsrIndex, CsrMatrix, CsrValue, CsrView};
use crate::npy::npy_header;
use crate::{Error, Result};

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
    let (mut h, mut chunk) = (Xxh3::new(), Xxh3::new());
    let (mut bytes, mut in_chunk) = (0u64, 0u64);
    let mut chunks = Vec::new();
    parts(&mut |b: &[u8]| {
        h.update(b);
        bytes += b.len() as u64;
        // The chunk checksums the fast check samples: split `b` at chunk boundaries.
        let mut rest = b;
        while !rest.is_empty() {
            let take = ((CHUNK - in_chunk) as usize).min(rest.len());
            chunk.update(&rest[..take]);
            in_chunk += take as u64;
            rest = &rest[take..];
            if in_chunk == CHUNK {
                chunks.push(format!("{:016x}", chunk.digest()));
                chunk.reset();
                in_chunk = 0;
            }
        }
        w.write_all(b).map_err(|e| io(&path, e))
    })?;
    if in_chunk > 0 {
        chunks.push(format!("{:016x}", chunk.digest()));
    }
    let f = w.into_inner().map_err(|e| io(&path, e.into_error()))?;
    f.sync_all().map_err(|e| io(&path, e))?;
    Ok(FileEntry {
        file: rel.to_string(),
        bytes,
        checksum: format!("{:016x}", h.digest()),
        chunks,
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
    crate::fs::write_file(&dir.join(MANIFEST), &text)
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
    let staged = crate::fs::AtomicDir::create(dir)?;
    let mut manifest = Manifest {
        format: FORMAT.into(),
        version: VERSION,
        n_obs: n_obs as u64,
        n_vars: n_vars as u64,
        obs: write_table(staged.path(), "obs.parquet", obs)?,
        var: write_table(staged.path(), "var.parquet", var)?,
        layers: BTreeMap::new(),
    };
    for (name, m) in layers {
        let entry = m.write(staged.path(), name)?;
        manifest.layers.insert(name.to_string(), entry);
    }
    write_manifest(staged.path(), &manifest)?;
    staged.commit_new()?;
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
    // A scratch folder (removed when dropped) whose `X/<name>` is renamed into place.
    let scratch = crate::fs::AtomicDir::create(xdir.join(name))?;
    let entry = m.write(scratch.path(), name)?;
    let target = xdir.join(name);
    if target.exists() {
        // Not in the manifest: the leftovers of an interrupted append.
        std::fs::remove_dir_all(&target).map_err(|e| io(&target, e))?;
    }
    std::fs::rename(scratch.path().join("X").join(name), &target).map_err(|e| io(&target, e))?;
    drop(scratch);
    // The entries' paths (`X/<name>/…`) are relative to the temporary directory's root, so
    // they hold for the store once the layer directory has moved.
    manifest.layers.insert(name.to_string(), entry);
    write_manifest(dir, &manifest)?;
    Ok(manifest)
}
