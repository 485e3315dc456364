//! HDF5 and netCDF4 variables as [`BlockSource`](biobatch_core::BlockSource)s (feature
//! `hdf5`).
//!
//! libhdf5 (through `hdf5-metno`) is used once, at open: to list the variables, their types,
//! shapes, filters and CF attributes, and to read each chunked variable's chunk table (file
//! address and size of every chunk). After that the library is never called again: chunks are
//! read with positioned reads (`pread`) and decoded by our own code — inflate (libdeflate),
//! byte shuffle, Fletcher-32 check — on whichever thread asks. Positioned reads rather than a
//! memory map: the file's pages then stay in the kernel's page cache instead of counting in
//! the process's resident memory, and a file truncated while it is read gives an error, not
//! a crash. hdf5-metno serialises every
//! libhdf5 call under one global lock, so reading through it would run the loader's workers
//! one at a time; decoding ourselves lets them run in parallel.
//!
//! - Layouts: contiguous, chunked (any chunk shape; chunks never written
//!   read as the variable's fill value), compact (read whole at open).
//! - Filters: deflate, shuffle, Fletcher-32. Any other filter (SZIP, LZF, Blosc, N-bit,
//!   scale-offset, …) is refused at open, naming the variable and the filter.
//! - Types: little-endian integers of 1–8 bytes and `f4` / `f8`. `u1`/`i1`, `i4`/`i8`,
//!   `f4`/`f8` keep their type; `u2`/`i2` come out as `i32`, `u4`/`u8` as `i64` (a `u8`
//!   value above `i64::MAX` is an error naming the block). Big-endian, string, compound and
//!   other types are refused at open.
//! - CF attributes: `_FillValue` and `missing_value` become NaN, then `scale_factor` and
//!   `add_offset` apply (xarray's `mask_and_scale`); integers so decoded come out as `f32`.
//! - netCDF3 classic files (`CDF\x01`, `CDF\x02`, `CDF\x05`) are refused with how to convert
//!   them (`nccopy -k nc4`).
//!
//! # Examples
//!
//! ```
//! use biobatch_core::{Array, BlockSource};
//! use biobatch_formats::hdf5::H5File;
//!
//! let file = H5File::open("../../tests/data/arrays/holodec_small.nc")?;
//! let image = file.variable("image")?;
//! assert_eq!(image.shape(), &[12, 6, 5]);
//! let mut block = Array::zeros(image.dtype(), [image.block_range(0).len(), 6, 5]);
//! image.read_block(0, &mut block)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hdf5::types::{FloatSize, IntSize, TypeDescriptor};
use hdf5_metno as hdf5;

mod open;
mod variable;

pub use crate::decode::Cf;
use crate::decode::Stored;
pub use variable::{ChunkLocation, H5Variable};

use crate::{Error, Result};

/// An open HDF5 or netCDF4 file.
pub struct H5File {
    path: PathBuf,
    file: hdf5::File,
    data: Arc<std::fs::File>,
    len: u64,
}

impl std::fmt::Debug for H5File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H5File").field("path", &self.path).finish()
    }
}

/// What [`H5File::variables`] reports of one variable (dataset).
#[derive(Debug, Clone, PartialEq)]
pub struct VarInfo {
    /// Its path in the file, without the leading `/` (`image`, `group/var`).
    pub name: String,
    /// The stored type as numpy names it (`u1`, `f4`, …), or a description of an
    /// unsupported one.
    pub stored: String,
    /// The dtype it is read as, or why it cannot be read.
    pub dtype: std::result::Result<biobatch_core::DType, String>,
    /// The shape.
    pub shape: Vec<usize>,
    /// The dimension names (netCDF4's dimension scales), when the file records them.
    pub dims: Vec<String>,
    /// The chunk shape, for chunked variables.
    pub chunks: Option<Vec<usize>>,
    /// The filter pipeline (`deflate(4)`, `shuffle`, `fletcher32`, …).
    pub filters: Vec<String>,
    /// The CF decoding that applies.
    pub cf: Cf,
}

impl H5File {
    /// Opens `path`; a netCDF3 classic file is refused with how to convert it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let f = crate::fs::open_regular(&path)?;
        let len = f.metadata().map_err(|e| Error::io(&path, e))?.len();
        let mut head = [0u8; 4];
        let n = std::os::unix::fs::FileExt::read_at(&f, &mut head, 0)
            .map_err(|e| Error::io(&path, e))?;
        if let Some(v) = netcdf3_version(&head[..n]) {
            return Err(Error::Invalid(format!(
                "{}: a netCDF3 classic file ({v}); biobatch reads netCDF4 (HDF5) files: \
                 convert it with `nccopy -k nc4 {} out.nc`",
                path.display(),
                path.display()
            )));
        }
        let file = hdf5::File::open(&path).map_err(|e| {
            Error::Invalid(format!(
                "{}: not a readable HDF5 or netCDF4 file ({e})",
                path.display()
            ))
        })?;
        Ok(H5File {
            path,
            file,
            data: Arc::new(f),
            len,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `netCDF4` when the file carries netCDF's `_NCProperties`, else `HDF5`.
    pub fn kind(&self) -> &'static str {
        if self.file.attr("_NCProperties").is_ok() {
            "netCDF4"
        } else {
            "HDF5"
        }
    }

    /// Every variable (dataset) in the file, groups walked depth-first; netCDF4 dimension
    /// scales that are not variables are left out.
    pub fn variables(&self) -> Result<Vec<VarInfo>> {
        let dims = self.dimensions()?;
        let mut out = Vec::new();
        self.walk(&self.file, &dims, &mut out)?;
        Ok(out)
    }

    fn walk(
        &self,
        g: &hdf5::Group,
        dims: &[(String, usize)],
        out: &mut Vec<VarInfo>,
    ) -> Result<()> {
        for name in member_names(g).map_err(|e| self.h5err(&g.name(), e))? {
            if let Ok(ds) = g.dataset(&name) {
                if !is_dimension_only(&ds) {
                    out.push(info(&ds, dims));
                }
            } else if let Ok(sub) = g.group(&name) {
                self.walk(&sub, dims, out)?;
            }
        }
        Ok(())
    }

    /// The dimensions netCDF4 records (its dimension scales): name and length.
    pub fn dimensions(&self) -> Result<Vec<(String, usize)>> {
        let mut out = Vec::new();
        for name in member_names(&self.file).map_err(|e| self.h5err("/", e))? {
            let Ok(ds) = self.file.dataset(&name) else {
                continue;
            };
            if string_attr(&ds, "CLASS").as_deref() == Some("DIMENSION_SCALE") {
                out.push((short_name(&ds), ds.shape().first().copied().unwrap_or(0)));
            }
        }
        Ok(out)
    }

    /// Opens variable `name` for reading (validated: type, filters, chunk table).
    pub fn variable(&self, name: &str) -> Result<H5Variable> {
        let ds = self.file.dataset(name).map_err(|_| {
            let known: Vec<String> = self
                .variables()
                .map(|v| v.into_iter().map(|v| v.name).take(12).collect())
                .unwrap_or_default();
            Error::Invalid(format!(
                "{}: no variable `{name}` (it has {})",
                self.path.display(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ))
        })?;
        H5Variable::open(&self.path, Arc::clone(&self.data), self.len, &ds)
    }

    fn h5err(&self, at: &str, e: hdf5::Error) -> Error {
        Error::Invalid(format!("{}: {at}: {e}", self.path.display()))
    }
}

/// What [`H5File::variables`] reports of one dataset; `dims` are the file's dimension
/// scales.
fn info(ds: &hdf5::Dataset, dims: &[(String, usize)]) -> VarInfo {
    let cf = cf_attrs(ds);
    let (stored, dtype) = match stored_type(ds) {
        Ok(s) => (s.name().to_string(), Ok(cf.out_dtype(s))),
        Err(why) => (why.clone(), Err(why)),
    };
    VarInfo {
        dims: dim_names(ds, dims),
        stored,
        dtype,
        shape: ds.shape(),
        chunks: ds.chunk(),
        filters: ds.filters().iter().map(filter_name).collect(),
        cf,
        name: short_name(ds),
    }
}

/// netCDF4 names a variable's dimensions with its dimension scales; they are matched here by
/// length. An axis whose length matches no scale, or several of which none bears the
/// variable's own name, is reported as `?`.
fn dim_names(ds: &hdf5::Dataset, dims: &[(String, usize)]) -> Vec<String> {
    if dims.is_empty() {
        return Vec::new();
    }
    let own = short_name(ds);
    ds.shape()
        .iter()
        .map(|&len| {
            let hits: Vec<&(String, usize)> = dims.iter().filter(|d| d.1 == len).collect();
            match hits[..] {
                [one] => one.0.clone(),
                _ => hits
                    .iter()
                    .find(|d| d.0 == own)
                    .map_or_else(|| "?".to_string(), |d| d.0.clone()),
            }
        })
        .collect()
}

/// The netCDF3 format of a file that starts with its magic, if it does.
fn netcdf3_version(head: &[u8]) -> Option<&'static str> {
    match head.get(..4)? {
        b"CDF\x01" => Some("CDF-1, classic"),
        b"CDF\x02" => Some("CDF-2, 64-bit offset"),
        b"CDF\x05" => Some("CDF-5, 64-bit data"),
        _ => None,
    }
}

fn short_name(ds: &hdf5::Dataset) -> String {
    ds.name().trim_start_matches('/').to_string()
}

/// A netCDF4 dimension without a variable of its name (netCDF writes a placeholder scale).
fn is_dimension_only(ds: &hdf5::Dataset) -> bool {
    string_attr(ds, "NAME")
        .is_some_and(|n| n.starts_with("This is a netCDF dimension but not a netCDF variable"))
}

/// A group's members in creation order where the file tracks it (netCDF4 does), else by name.
fn member_names(g: &hdf5::Group) -> hdf5::Result<Vec<String>> {
    use hdf5::{IndexType, IterationOrder};
    g.member_names_by(IndexType::CreationOrder, IterationOrder::Increasing)
        .or_else(|_| g.member_names_by(IndexType::Name, IterationOrder::Increasing))
}

/// A string attribute of any string type, if present.
pub(crate) fn string_attr(loc: &hdf5::Location, name: &str) -> Option<String> {
    use hdf5::types::{FixedAscii, FixedUnicode, VarLenAscii, VarLenUnicode};
    let a = loc.attr(name).ok()?;
    match a.dtype().ok()?.to_descriptor().ok()? {
        TypeDescriptor::VarLenUnicode => a
            .read_scalar::<VarLenUnicode>()
            .ok()
            .map(|s| s.as_str().to_string()),
        TypeDescriptor::VarLenAscii => a
            .read_scalar::<VarLenAscii>()
            .ok()
            .map(|s| s.as_str().to_string()),
        TypeDescriptor::FixedAscii(_) => a
            .read_scalar::<FixedAscii<1024>>()
            .ok()
            .map(|s| s.as_str().to_string()),
        TypeDescriptor::FixedUnicode(_) => a
            .read_scalar::<FixedUnicode<4096>>()
            .ok()
            .map(|s| s.as_str().to_string()),
        _ => None,
    }
}

/// A numeric attribute's first value as f64 (netCDF stores attributes as 1-element arrays).
fn number_attr(ds: &hdf5::Dataset, name: &str) -> Option<f64> {
    let a = ds.attr(name).ok()?;
    match a.dtype().ok()?.to_descriptor().ok()? {
        TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) | TypeDescriptor::Float(_) => {
            a.read_raw::<f64>().ok()?.first().copied()
        }
        _ => None,
    }
}

pub(crate) fn cf_attrs(ds: &hdf5::Dataset) -> Cf {
    let fill_values = ["_FillValue", "missing_value"]
        .iter()
        .filter_map(|n| number_attr(ds, n))
        .collect();
    Cf {
        scale_factor: number_attr(ds, "scale_factor"),
        add_offset: number_attr(ds, "add_offset"),
        fill_values,
    }
}

/// The stored element type, or why it cannot be read.
pub(crate) fn stored_type(ds: &hdf5::Dataset) -> std::result::Result<Stored, String> {
    let t = ds.dtype().map_err(|e| format!("unreadable type ({e})"))?;
    let desc = t
        .to_descriptor()
        .map_err(|e| format!("unsupported type ({e})"))?;
    let s = match desc {
        TypeDescriptor::Unsigned(IntSize::U1) => Stored::U8,
        TypeDescriptor::Unsigned(IntSize::U2) => Stored::U16,
        TypeDescriptor::Unsigned(IntSize::U4) => Stored::U32,
        TypeDescriptor::Unsigned(IntSize::U8) => Stored::U64,
        TypeDescriptor::Integer(IntSize::U1) => Stored::I8,
        TypeDescriptor::Integer(IntSize::U2) => Stored::I16,
        TypeDescriptor::Integer(IntSize::U4) => Stored::I32,
        TypeDescriptor::Integer(IntSize::U8) => Stored::I64,
        TypeDescriptor::Float(FloatSize::U4) => Stored::F32,
        TypeDescriptor::Float(FloatSize::U8) => Stored::F64,
        TypeDescriptor::Boolean => Stored::U8,
        other => return Err(format!("unsupported type {other}")),
    };
    if s.size() > 1 && t.byte_order() != hdf5::datatype::ByteOrder::LittleEndian {
        return Err(format!(
            "big-endian {}; rewrite it little-endian (e.g. `h5repack` or numpy's \
             `astype('<{}')`)",
            s.name(),
            s.name()
        ));
    }
    Ok(s)
}

pub(crate) fn filter_name(f: &hdf5::filters::Filter) -> String {
    use hdf5::filters::Filter;
    match f {
        Filter::Deflate(level) => format!("deflate({level})"),
        Filter::Shuffle => "shuffle".into(),
        Filter::Fletcher32 => "fletcher32".into(),
        Filter::SZip(..) => "szip".into(),
        Filter::NBit => "nbit".into(),
        Filter::ScaleOffset(_) => "scaleoffset".into(),
        Filter::User(id, _) => match id {
            32000 => "lzf".into(),
            32001 => "blosc".into(),
            32004 => "lz4".into(),
            32015 => "zstd".into(),
            307 => "bzip2".into(),
            _ => format!("filter {id}"),
        },
        #[allow(unreachable_patterns)]
        _ => "unknown filter".into(),
    }
}
