//! A store at a URL (feature `remote`): the same layout and checks as a local store, read
//! through [`crate::remote`]'s block cache.
//!
//! At open: the manifest; each file's size (and sampled or whole checksums, as locally);
//! `obs` and `var` whole; each layer's `indptr` whole (8 bytes per cell) and the `.npy`
//! headers of `indices` and `values`. Entries are read per batch: the rows' byte ranges of
//! `indices` and `values` are fetched together (coalesced, several requests in flight) and
//! the batch is gathered from a small CSR of its own rows. [`Layer::will_need`] fetches the
//! rows of the IO batches ahead on the read-ahead thread, so the loader's workers mostly
//! find their rows in the cache; epoch 2 is local up to the cache limit.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::verify::{check_chunks_with, sample_chunks};
use super::{
    Experiment, FORMAT, FileEntry, Indices, Layer, LayerEntry, MANIFEST, Manifest, RowsVisitor,
    VERSION, Values, Verify, invalid, npy_layout,
};
use crate::column::Column;
use crate::csr::{CsrIndex, CsrValue, CsrView};
use crate::remote::RemoteFile;
use crate::{Error, Result};

/// A layer's `indices` and `values` at their URLs, with where their data starts.
#[derive(Debug)]
pub(super) struct Entries {
    indices: RemoteFile,
    indices_at: u64,
    values: RemoteFile,
    values_at: u64,
}

/// `dir/rel` for a store at a URL; `rel` comes from the manifest, so it must stay inside.
fn join(dir: &Path, rel: &str) -> Result<PathBuf> {
    if rel.is_empty()
        || rel.starts_with('/')
        || rel
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(invalid(
            dir,
            format!("the manifest names `{rel}`, which is not a path inside the store"),
        ));
    }
    Ok(PathBuf::from(format!(
        "{}/{rel}",
        dir.to_string_lossy().trim_end_matches('/')
    )))
}

fn open_file(url: &Path) -> Result<RemoteFile> {
    RemoteFile::open(&url.to_string_lossy())
}

/// The checks of [`super::verify::check_file`], on a remote file.
fn check(dir: &Path, e: &FileEntry, verify: Verify) -> Result<(PathBuf, RemoteFile)> {
    let url = join(dir, &e.file)?;
    let f = open_file(&url)?;
    if f.len() != e.bytes {
        return Err(Error::corrupt(
            &url,
            f.len(),
            format!(
                "the object has {} bytes, the manifest says {} (truncated or replaced)",
                f.len(),
                e.bytes
            ),
        ));
    }
    let mut read = |off: u64, buf: &mut [u8]| f.read_at(off, buf);
    let n_chunks = e.bytes.div_ceil(super::CHUNK);
    if verify == Verify::Full {
        let all: Vec<u64> = (0..n_chunks).collect();
        if e.chunks.is_empty() {
            let got = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&f.read_all()?));
            if got != e.checksum {
                return Err(invalid(
                    &url,
                    format!(
                        "checksum {got} differs from the manifest's {} (the object is damaged)",
                        e.checksum
                    ),
                ));
            }
        } else {
            check_chunks_with(&url, e, &all, &mut read)?;
        }
    } else if !e.chunks.is_empty() {
        if e.chunks.len() as u64 != n_chunks {
            return Err(invalid(
                &url,
                format!(
                    "the manifest lists {} chunk checksums for {n_chunks} chunks",
                    e.chunks.len()
                ),
            ));
        }
        check_chunks_with(&url, e, &sample_chunks(n_chunks), &mut read)?;
    }
    Ok((url, f))
}

/// Where the data of a 1-D `.npy` of `dtype` and `len` values starts, checked as locally.
fn npy_data_at(url: &Path, f: &RemoteFile, dtype: &str, len: u64) -> Result<u64> {
    let head = f.read_range(0..f.len().min(4096))?;
    Ok(npy_layout(url, &head, f.len(), dtype, len)?.0)
}

/// Opens the store at `dir` (a URL).
pub(super) fn open(dir: &Path, verify: Verify) -> Result<Experiment> {
    let mpath = join(dir, MANIFEST)?;
    let text = open_file(&mpath)?.read_all()?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| invalid(&mpath, format!("not a store manifest: {e}")))?;
    if manifest.format != FORMAT || manifest.version != VERSION {
        return Err(invalid(
            &mpath,
            format!(
                "format `{}` version {}, this build reads `{FORMAT}` version {VERSION}",
                manifest.format, manifest.version
            ),
        ));
    }
    let (n_obs, n_vars) = (manifest.n_obs as usize, manifest.n_vars as usize);
    let table = |e: &FileEntry, rows: usize, what: &str| -> Result<super::RecordBatch> {
        let (url, f) = check(dir, e, verify)?;
        let t = super::tables::read_table_from(bytes::Bytes::from(f.read_all()?), &url)?;
        if t.num_rows() != rows {
            return Err(invalid(
                &url,
                format!("has {} rows, the store has {rows} {what}", t.num_rows()),
            ));
        }
        Ok(t)
    };
    let obs = table(&manifest.obs, n_obs, "cells")?;
    let var = table(&manifest.var, n_vars, "genes")?;
    let mut layers = std::collections::BTreeMap::new();
    for (name, e) in &manifest.layers {
        layers.insert(
            name.clone(),
            open_layer(dir, name, e, n_obs, n_vars, verify)?,
        );
    }
    Ok(Experiment {
        dir: dir.to_path_buf(),
        manifest,
        obs,
        var,
        layers,
    })
}

fn open_layer(
    dir: &Path,
    name: &str,
    e: &LayerEntry,
    n_obs: usize,
    n_vars: usize,
    verify: Verify,
) -> Result<Layer> {
    let (indptr_url, indptr_f) = check(dir, &e.indptr, verify)?;
    let (indices_url, indices) = check(dir, &e.indices, verify)?;
    let (values_url, values) = check(dir, &e.values, verify)?;
    let at = npy_data_at(&indptr_url, &indptr_f, "u64", n_obs as u64 + 1)?;
    let mut indptr = vec![0u64; n_obs + 1];
    indptr_f.read_at(at, bytemuck::cast_slice_mut(&mut indptr))?;
    let p = &indptr;
    let bad = |what: String| Err(invalid(&indptr_url, what));
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
    let indices_at = npy_data_at(&indices_url, &indices, &e.index_dtype, e.nnz)?;
    let values_at = npy_data_at(&values_url, &values, &e.value_dtype, e.nnz)?;
    // The typed columns stay empty: entries are read per batch (`gather`).
    let idx = match e.index_dtype.as_str() {
        "u16" if n_vars <= 1 << 16 => Indices::U16(Column::default()),
        "u32" => Indices::U32(Column::default()),
        other => {
            return Err(invalid(
                &indices_url,
                format!("index dtype `{other}` cannot address {n_vars} genes"),
            ));
        }
    };
    let val = match e.value_dtype.as_str() {
        "u8" => Values::U8(Column::default()),
        "u16" => Values::U16(Column::default()),
        "i32" => Values::I32(Column::default()),
        "f32" => Values::F32(Column::default()),
        other => {
            return Err(invalid(
                &values_url,
                format!("unknown value dtype `{other}`"),
            ));
        }
    };
    Ok(Layer {
        name: name.to_string(),
        dir: join(dir, &format!("X/{name}"))?,
        n_vars,
        indptr: Column::from(indptr),
        indices: idx,
        values: val,
        remote: Some(Arc::new(Entries {
            indices,
            indices_at,
            values,
            values_at,
        })),
    })
}

impl Entries {
    /// The byte ranges of rows `[s, e)` entries (by `indptr`) in both files.
    fn ranges(
        &self,
        spans: &[(u64, u64)],
        isz: u64,
        vsz: u64,
    ) -> (Vec<std::ops::Range<u64>>, Vec<std::ops::Range<u64>>) {
        spans
            .iter()
            .map(|&(s, e)| {
                (
                    self.indices_at + s * isz..self.indices_at + e * isz,
                    self.values_at + s * vsz..self.values_at + e * vsz,
                )
            })
            .unzip()
    }

    /// Fetches the entries of the rows in `rows` (a range) into the cache; best effort.
    pub(super) fn will_need(&self, layer: &Layer, rows: std::ops::Range<usize>) {
        let p = layer.indptr();
        let (Some(&s), Some(&e)) = (p.get(rows.start), p.get(rows.end.min(p.len() - 1))) else {
            return;
        };
        let (isz, vsz) = (index_size(layer), value_size(layer));
        let (i, v) = self.ranges(&[(s, e)], isz, vsz);
        for (f, r) in [(&self.indices, i), (&self.values, v)] {
            if let Err(e) = f.prefetch(&r) {
                tracing::debug!(error = %e, "read-ahead of remote rows failed; the batch will retry");
            }
        }
    }

    /// Runs `v` on a CSR of just `rows` (row `k` of it is `rows[k]`).
    pub(super) fn gather<T: RowsVisitor>(
        &self,
        layer: &Layer,
        rows: &[u64],
        v: T,
    ) -> Result<T::Out> {
        macro_rules! go {
            ($i:ty, $v:ty) => {
                self.gather_typed::<$v, $i, T>(layer, rows, v)
            };
        }
        match (&layer.indices, &layer.values) {
            (Indices::U16(_), Values::U8(_)) => go!(u16, u8),
            (Indices::U16(_), Values::U16(_)) => go!(u16, u16),
            (Indices::U16(_), Values::I32(_)) => go!(u16, i32),
            (Indices::U16(_), Values::F32(_)) => go!(u16, f32),
            (Indices::U32(_), Values::U8(_)) => go!(u32, u8),
            (Indices::U32(_), Values::U16(_)) => go!(u32, u16),
            (Indices::U32(_), Values::I32(_)) => go!(u32, i32),
            (Indices::U32(_), Values::F32(_)) => go!(u32, f32),
        }
    }

    fn gather_typed<V: CsrValue, I: CsrIndex, T: RowsVisitor>(
        &self,
        layer: &Layer,
        rows: &[u64],
        v: T,
    ) -> Result<T::Out> {
        let p = layer.indptr();
        let mut spans = Vec::with_capacity(rows.len());
        let mut total = 0usize;
        for &r in rows {
            let r = r as usize;
            let (Some(&s), Some(&e)) = (p.get(r), p.get(r + 1)) else {
                return Err(invalid(
                    &layer.dir,
                    format!("row {r} out of range ({} cells)", p.len() - 1),
                ));
            };
            spans.push((s, e));
            total += (e - s) as usize;
        }
        let (isz, vsz) = (size_of::<I>() as u64, size_of::<V>() as u64);
        let (ir, vr) = self.ranges(&spans, isz, vsz);
        self.indices.prefetch(&ir)?;
        self.values.prefetch(&vr)?;
        let mut idx = vec![I::default(); total];
        let mut val = vec![V::default(); total];
        let mut indptr = Vec::with_capacity(rows.len() + 1);
        indptr.push(0u64);
        let mut at = 0usize;
        for ((a, b), (s, e)) in ir.iter().zip(&vr).zip(&spans) {
            let n = (e - s) as usize;
            self.indices
                .read_at(a.start, bytemuck::cast_slice_mut(&mut idx[at..at + n]))?;
            self.values
                .read_at(b.start, bytemuck::cast_slice_mut(&mut val[at..at + n]))?;
            at += n;
            indptr.push(at as u64);
        }
        let local: Vec<u64> = (0..rows.len() as u64).collect();
        let view = CsrView {
            n_cols: layer.n_vars,
            indptr: &indptr,
            indices: &idx,
            values: &val,
        };
        Ok(v.visit(view, &local))
    }
}

fn index_size(layer: &Layer) -> u64 {
    match layer.indices {
        Indices::U16(_) => 2,
        Indices::U32(_) => 4,
    }
}

fn value_size(layer: &Layer) -> u64 {
    match layer.values {
        Values::U8(_) => 1,
        Values::U16(_) => 2,
        Values::I32(_) | Values::F32(_) => 4,
    }
}

/// Uploads the store at `local` to `url` (`s3://bucket/prefix`, …): it is opened (and so
/// checked) first, then every file its manifest lists goes up, and the manifest last. A store
/// at a URL opens only through its manifest, so an upload that stops half-way leaves nothing
/// that opens as a store (or, over an earlier upload, files that no longer match its
/// manifest: an error at open, never other data).
pub fn upload_store(local: &Path, url: &str, opts: &crate::remote::RemoteOptions) -> Result<()> {
    let exp = Experiment::open(local)?;
    let m = exp.manifest();
    let mut files: Vec<&FileEntry> = vec![&m.obs, &m.var];
    for l in m.layers.values() {
        files.extend([&l.indptr, &l.indices, &l.values]);
    }
    let base = PathBuf::from(url);
    for f in files.into_iter().map(|e| e.file.as_str()).chain([MANIFEST]) {
        let from = crate::fs::confined(local, f)?;
        let to = join(&base, f)?;
        crate::remote::upload(&from, &to.to_string_lossy(), opts)?;
        tracing::debug!(file = f, to = %to.display(), "uploaded");
    }
    Ok(())
}
