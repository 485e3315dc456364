//! The files an [`ArraysDataset`](super::ArraysDataset) reads: HDF5 / netCDF4 (feature
//! `hdf5`), Zarr v2 / v3 stores (feature `zarr`; a directory), `.npz` archives and single
//! `.npy` arrays, told apart by their first bytes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use biobatch_core::BlockSource;
use biobatch_formats::npy::{NpyArray, read_npy, read_npz};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One variable of a file, as `biobatch arrays info` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariableInfo {
    /// Its name (path inside the file).
    pub name: String,
    /// The stored type (`u1`, `f4`, …).
    pub stored: String,
    /// The dtype it is read as, or why it cannot be read.
    pub dtype: String,
    /// The shape.
    pub shape: Vec<usize>,
    /// Dimension names, when the file records them (netCDF4).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dims: Vec<String>,
    /// The on-disk chunk shape, for chunked variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunks: Option<Vec<usize>>,
    /// The filter pipeline (`shuffle`, `deflate(4)`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<String>,
    /// CF decoding applied (`scale_factor=…`, `add_offset=…`, `_FillValue=…`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cf: Vec<String>,
}

/// What `biobatch arrays info` prints for a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileInfo {
    /// The file.
    pub file: PathBuf,
    /// `netCDF4`, `HDF5`, `Zarr v2`, `Zarr v3`, `npz` or `npy`.
    pub format: String,
    /// Dimensions (netCDF4): name and length.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dimensions: Vec<(String, usize)>,
    /// The variables.
    pub variables: Vec<VariableInfo>,
}

/// An open array file.
pub(crate) enum ArrayFile {
    #[cfg(feature = "hdf5")]
    H5(biobatch_formats::hdf5::H5File),
    #[cfg(feature = "zarr")]
    Zarr(biobatch_formats::zarr::ZarrStore),
    Npz(PathBuf, Vec<(String, Arc<NpyArray>)>),
}

impl std::fmt::Debug for ArrayFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ArrayFile").field(&self.path()).finish()
    }
}

const HDF5_MAGIC: &[u8] = b"\x89HDF\r\n\x1a\n";

impl ArrayFile {
    /// Opens `path`: a Zarr store (a directory with Zarr metadata), HDF5 / netCDF (by
    /// magic), `.npz` (a zip) or `.npy`.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        if biobatch_formats::remote::is_url(path) {
            return Err(biobatch_formats::Error::Invalid(format!(
                "{}: array files are read from local files only (copy it here first)",
                path.display()
            ))
            .into());
        }
        if path.is_dir() {
            return open_zarr(path);
        }
        let mut head = [0u8; 8];
        let n = {
            use std::io::Read;
            let mut f = biobatch_formats::fs::open_regular(path)?;
            f.read(&mut head)
                .map_err(|e| biobatch_formats::Error::io(path, e))?
        };
        let head = &head[..n];
        if head.starts_with(HDF5_MAGIC) || head.starts_with(b"CDF") {
            return open_hdf5(path);
        }
        if head.starts_with(b"PK") {
            let members = read_npz(path)?
                .into_iter()
                .map(|(n, a)| (n, Arc::new(a)))
                .collect();
            return Ok(ArrayFile::Npz(path.to_path_buf(), members));
        }
        if head.starts_with(b"\x93NUMPY") {
            let name = path
                .file_stem()
                .map_or("array".into(), |s| s.to_string_lossy().into_owned());
            return Ok(ArrayFile::Npz(
                path.to_path_buf(),
                vec![(name, Arc::new(read_npy(path)?))],
            ));
        }
        Err(Error::Config(format!(
            "{}: not an HDF5 / netCDF4 file, a .npz archive or a .npy array",
            path.display()
        )))
    }

    pub(crate) fn path(&self) -> &Path {
        match self {
            #[cfg(feature = "hdf5")]
            ArrayFile::H5(f) => f.path(),
            #[cfg(feature = "zarr")]
            ArrayFile::Zarr(z) => z.path(),
            ArrayFile::Npz(p, _) => p,
        }
    }

    /// Variable `name`, validated (exists, readable type, readable filters).
    pub(crate) fn variable(&self, name: &str) -> Result<Arc<dyn BlockSource>> {
        match self {
            #[cfg(feature = "hdf5")]
            ArrayFile::H5(f) => Ok(Arc::new(f.variable(name)?)),
            #[cfg(feature = "zarr")]
            ArrayFile::Zarr(z) => Ok(Arc::new(z.variable(name)?)),
            ArrayFile::Npz(p, members) => members
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, a)| Arc::clone(a) as Arc<dyn BlockSource>)
                .ok_or_else(|| {
                    let known: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
                    Error::Config(format!(
                        "{}: no variable `{name}` (it has {})",
                        p.display(),
                        known.join(", ")
                    ))
                }),
        }
    }

    /// What the file holds.
    pub(crate) fn info(&self) -> Result<FileInfo> {
        match self {
            #[cfg(feature = "hdf5")]
            ArrayFile::H5(f) => Ok(FileInfo {
                file: f.path().to_path_buf(),
                format: f.kind().to_string(),
                dimensions: f.dimensions()?,
                variables: f
                    .variables()?
                    .into_iter()
                    .map(|v| {
                        let cf = cf_strings(&v.cf);
                        VariableInfo {
                            name: v.name,
                            stored: v.stored,
                            dtype: match v.dtype {
                                Ok(d) => d.to_string(),
                                Err(why) => format!("unreadable: {why}"),
                            },
                            shape: v.shape,
                            dims: v.dims,
                            chunks: v.chunks,
                            filters: v.filters,
                            cf,
                        }
                    })
                    .collect(),
            }),
            #[cfg(feature = "zarr")]
            ArrayFile::Zarr(z) => {
                let vars = z.variables()?;
                let format = match vars.first().map(|v| v.zarr_format) {
                    Some(2) => "Zarr v2",
                    _ => "Zarr v3",
                };
                Ok(FileInfo {
                    file: z.path().to_path_buf(),
                    format: format.into(),
                    dimensions: Vec::new(),
                    variables: vars
                        .into_iter()
                        .map(|v| VariableInfo {
                            cf: cf_strings(&v.cf),
                            name: v.name,
                            stored: v.stored,
                            dtype: match v.dtype {
                                Ok(d) => d.to_string(),
                                Err(why) => format!("unreadable: {why}"),
                            },
                            shape: v.shape,
                            dims: v.dims,
                            chunks: Some(v.chunks),
                            filters: v.codecs,
                        })
                        .collect(),
                })
            }
            ArrayFile::Npz(p, members) => Ok(FileInfo {
                file: p.clone(),
                format: if members.len() == 1
                    && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy"))
                {
                    "npy".into()
                } else {
                    "npz".into()
                },
                dimensions: Vec::new(),
                variables: members
                    .iter()
                    .map(|(n, a)| VariableInfo {
                        name: n.clone(),
                        stored: a.dtype().to_string(),
                        dtype: a.dtype().to_string(),
                        shape: a.shape().to_vec(),
                        dims: Vec::new(),
                        chunks: None,
                        filters: if a.is_mapped() {
                            Vec::new()
                        } else {
                            vec!["deflate".into()]
                        },
                        cf: Vec::new(),
                    })
                    .collect(),
            }),
        }
    }
}

/// The CF decoding of a variable, for `info`.
#[cfg(any(feature = "hdf5", feature = "zarr"))]
fn cf_strings(cf: &biobatch_formats::Cf) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(s) = cf.scale_factor {
        out.push(format!("scale_factor={s}"));
    }
    if let Some(o) = cf.add_offset {
        out.push(format!("add_offset={o}"));
    }
    out.extend(cf.fill_values.iter().map(|f| format!("fill={f}")));
    out
}

#[cfg(feature = "zarr")]
fn open_zarr(path: &Path) -> Result<ArrayFile> {
    Ok(ArrayFile::Zarr(biobatch_formats::zarr::ZarrStore::open(
        path,
    )?))
}

#[cfg(not(feature = "zarr"))]
fn open_zarr(path: &Path) -> Result<ArrayFile> {
    Err(Error::Config(format!(
        "{}: a directory; Zarr stores need the `zarr` feature, and this build lacks it",
        path.display()
    )))
}

#[cfg(feature = "hdf5")]
fn open_hdf5(path: &Path) -> Result<ArrayFile> {
    Ok(ArrayFile::H5(biobatch_formats::hdf5::H5File::open(path)?))
}

#[cfg(not(feature = "hdf5"))]
fn open_hdf5(path: &Path) -> Result<ArrayFile> {
    Err(Error::Config(format!(
        "{}: an HDF5 / netCDF file, and this build reads none: build with the `hdf5` feature \
         (it needs the HDF5 C library; Debian: libhdf5-dev)",
        path.display()
    )))
}
