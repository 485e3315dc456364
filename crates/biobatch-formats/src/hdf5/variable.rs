//! [`H5Variable`]: one variable's layout and chunk table, read in blocks of whole records.

use std::cell::RefCell;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use biobatch_core::{Array, BlockSource, DType};
use hdf5::filters::Filter;
use hdf5_metno as hdf5;

use super::open::{chunk_table, fill_bytes, read_compact};
use super::{cf_attrs, filter_name, stored_type};
use crate::decode::{Cf, Stored, convert, copy_chunk, fletcher32, unshuffle};
use crate::{Error, Result};

/// Records per block of a contiguous variable: about this many bytes.
const CONTIGUOUS_BLOCK_BYTES: usize = 1 << 20;

/// One step of the filter pipeline, in write order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Deflate,
    Shuffle,
    Fletcher32,
}

/// Where a stored chunk lies in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLocation {
    /// Byte offset of the chunk in the file.
    pub offset: u64,
    /// Stored (compressed) size in bytes.
    pub size: u64,
}

/// Where a chunk lies in the file.
#[derive(Debug, Clone, Copy)]
pub(super) struct ChunkAt {
    pub(super) addr: u64,
    pub(super) size: u64,
    /// Bit `i` set: filter `i` of the pipeline was skipped for this chunk.
    pub(super) filter_mask: u32,
}

#[derive(Debug)]
enum Layout {
    /// Contiguous bytes at `addr` (`None`: never written, all fill).
    Contiguous(Option<u64>),
    /// Chunked: the chunk shape, the chunk grid, and each chunk's place (row-major over the
    /// grid; `None`: never written).
    Chunked {
        chunk: Vec<usize>,
        grid: Vec<usize>,
        table: Vec<Option<ChunkAt>>,
        pipeline: Vec<Step>,
    },
    /// Compact storage, read whole at open.
    Compact(Vec<u8>),
}

/// A variable of an HDF5 / netCDF4 file, read in blocks of whole records with positioned
/// reads (see [the module docs](super)). Cheap to share between threads.
pub struct H5Variable {
    path: PathBuf,
    name: String,
    file: Arc<std::fs::File>,
    stored: Stored,
    dtype: DType,
    shape: Vec<usize>,
    block_rows: usize,
    layout: Layout,
    cf: Cf,
    /// The variable's fill value, stored little-endian (for chunks never written).
    fill: Vec<u8>,
}

impl std::fmt::Debug for H5Variable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H5Variable")
            .field("path", &self.path)
            .field("name", &self.name)
            .field("stored", &self.stored)
            .field("shape", &self.shape)
            .field("block_rows", &self.block_rows)
            .finish()
    }
}

/// Per-thread decoding state: two scratch buffers for the filter steps, one for a whole
/// chunk, and an inflater (libdeflate keeps a few KiB of state). Reused, so decoding a chunk
/// allocates nothing once the buffers have grown.
struct Scratch {
    raw: Vec<u8>,
    a: Vec<u8>,
    b: Vec<u8>,
    inflater: libdeflater::Decompressor,
}

struct ThreadScratch {
    steps: Scratch,
    chunk: Vec<u8>,
}

thread_local! {
    static SCRATCH: RefCell<ThreadScratch> = RefCell::new(ThreadScratch {
        steps: Scratch {
            raw: Vec::new(),
            a: Vec::new(),
            b: Vec::new(),
            inflater: libdeflater::Decompressor::new(),
        },
        chunk: Vec::new(),
    });
}

/// The bytes of `out` when values of type `stored` are served unchanged (same width and
/// representation, little-endian host), so a chunk can be decoded straight into it.
fn direct_bytes(stored: Stored, out: &mut biobatch_core::Data) -> Option<&mut [u8]> {
    use biobatch_core::Data;
    if cfg!(target_endian = "big") {
        return None;
    }
    match (stored, out) {
        (Stored::U8, Data::U8(v)) => Some(v.as_mut_slice()),
        (Stored::I8, Data::I8(v)) => Some(bytemuck::cast_slice_mut(v.as_mut_slice())),
        (Stored::I32, Data::I32(v)) => Some(bytemuck::cast_slice_mut(v.as_mut_slice())),
        (Stored::I64, Data::I64(v)) => Some(bytemuck::cast_slice_mut(v.as_mut_slice())),
        (Stored::F32, Data::F32(v)) => Some(bytemuck::cast_slice_mut(v.as_mut_slice())),
        (Stored::F64, Data::F64(v)) => Some(bytemuck::cast_slice_mut(v.as_mut_slice())),
        _ => None,
    }
}

impl H5Variable {
    pub(super) fn open(
        path: &Path,
        file: Arc<std::fs::File>,
        file_len: u64,
        ds: &hdf5::Dataset,
    ) -> Result<Self> {
        let name = ds.name().trim_start_matches('/').to_string();
        let bad =
            |what: String| Error::Invalid(format!("{}: variable `{name}`: {what}", path.display()));
        let stored = stored_type(ds).map_err(bad)?;
        let shape = ds.shape();
        if shape.is_empty() {
            return Err(bad("a scalar: it needs a record axis".into()));
        }
        let elem = stored.size();
        let total = shape
            .iter()
            .try_fold(elem, |n, &d| n.checked_mul(d))
            .ok_or_else(|| bad(format!("shape {shape:?} is larger than memory")))?;
        let cf = cf_attrs(ds);
        let fill = fill_bytes(ds, stored);
        let row_bytes = total / shape[0].max(1);
        let dcpl = ds
            .dcpl()
            .map_err(|e| bad(format!("creation properties: {e}")))?;
        let (layout, block_rows) = match dcpl.layout() {
            hdf5::plist::dataset_create::Layout::Contiguous => {
                let addr = ds.offset();
                if let Some(a) = addr {
                    let end = a.checked_add(total as u64);
                    if end.is_none_or(|e| e > file_len) {
                        return Err(Error::corrupt(
                            path,
                            a,
                            format!(
                                "variable `{name}`: {total} bytes declared past the end of the \
                                 file ({file_len} bytes)"
                            ),
                        ));
                    }
                }
                let rows = (CONTIGUOUS_BLOCK_BYTES / row_bytes.max(1)).clamp(1, shape[0].max(1));
                (Layout::Contiguous(addr), rows)
            }
            hdf5::plist::dataset_create::Layout::Compact => {
                let raw: Vec<u8> = read_compact(ds, stored, total).map_err(bad)?;
                (Layout::Compact(raw), shape[0].max(1))
            }
            hdf5::plist::dataset_create::Layout::Chunked => {
                let chunk = dcpl
                    .chunk()
                    .ok_or_else(|| bad("chunked without a chunk shape".into()))?;
                if chunk.len() != shape.len() || chunk.contains(&0) {
                    return Err(bad(format!(
                        "chunk shape {chunk:?} does not fit shape {shape:?}"
                    )));
                }
                let pipeline = dcpl
                    .filters()
                    .iter()
                    .map(|f| match f {
                        Filter::Deflate(_) => Ok(Step::Deflate),
                        Filter::Shuffle => Ok(Step::Shuffle),
                        Filter::Fletcher32 => Ok(Step::Fletcher32),
                        other => Err(bad(format!(
                            "compressed with {}, which biobatch does not decode (deflate, \
                             shuffle and fletcher32 are read); rewrite it with e.g. \
                             `nccopy -d 4 -s` or `h5repack -f GZIP=4`",
                            filter_name(other)
                        ))),
                    })
                    .collect::<Result<Vec<_>>>()?;
                let grid: Vec<usize> = shape
                    .iter()
                    .zip(&chunk)
                    .map(|(&s, &c)| s.div_ceil(c))
                    .collect();
                let table = chunk_table(ds, &grid, &chunk, file_len)
                    .map_err(|e| bad(format!("chunk table: {e}")))?;
                let rows = chunk[0];
                (
                    Layout::Chunked {
                        chunk,
                        grid,
                        table,
                        pipeline,
                    },
                    rows,
                )
            }
            other => return Err(bad(format!("unsupported storage layout {other:?}"))),
        };
        Ok(H5Variable {
            path: path.to_path_buf(),
            dtype: cf.out_dtype(stored),
            name,
            file,
            stored,
            shape,
            block_rows,
            layout,
            cf,
            fill,
        })
    }

    /// The variable's path in the file.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The CF decoding applied.
    pub fn cf(&self) -> &Cf {
        &self.cf
    }

    /// Number of stored chunks (0 for contiguous and compact variables).
    pub fn stored_chunks(&self) -> usize {
        match &self.layout {
            Layout::Chunked { table, .. } => table.iter().flatten().count(),
            _ => 0,
        }
    }

    /// Where each stored chunk lies in the file, in chunk-grid order (empty for contiguous
    /// and compact variables).
    pub fn chunk_locations(&self) -> Vec<ChunkLocation> {
        match &self.layout {
            Layout::Chunked { table, .. } => table
                .iter()
                .flatten()
                .map(|c| ChunkLocation {
                    offset: c.addr,
                    size: c.size,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    fn err_block(&self, block: usize, what: impl std::fmt::Display) -> biobatch_core::Error {
        biobatch_core::Error::Invalid(format!(
            "{}: variable `{}`, records {:?}: {what}",
            self.path.display(),
            self.name,
            self.block_range(block)
        ))
    }

    /// Decodes chunk `at` into `dst` (its decoded size), undoing the filters in reverse
    /// order (skipping those the chunk's mask names) through two scratch buffers; the last
    /// step writes straight into `dst`.
    fn decode_chunk(
        &self,
        at: &ChunkAt,
        pipeline: &[Step],
        dst: &mut [u8],
        scratch: &mut Scratch,
    ) -> std::result::Result<(), String> {
        /// Where the bytes decoded so far are.
        #[derive(Clone, Copy)]
        enum Cur {
            Raw(usize),
            A(usize),
            B(usize),
            Dst,
        }
        let raw_len = dst.len();
        let steps: Vec<Step> = pipeline
            .iter()
            .enumerate()
            .rev()
            .filter(|(i, _)| at.filter_mask & (1 << i) == 0)
            .map(|(_, s)| *s)
            .collect();
        let last = steps.iter().rposition(|s| *s != Step::Fletcher32);
        let Scratch {
            raw,
            a,
            b,
            inflater,
        } = scratch;
        let size = at.size as usize;
        raw.resize(size, 0);
        self.file
            .read_exact_at(&mut raw[..size], at.addr)
            .map_err(|e| format!("cannot be read ({e})"))?;
        let mut cur = Cur::Raw(size);
        for (k, step) in steps.iter().enumerate() {
            let src_len = match cur {
                Cur::Raw(n) | Cur::A(n) | Cur::B(n) => n,
                Cur::Dst => raw_len,
            };
            if *step == Step::Fletcher32 {
                let data: &[u8] = match cur {
                    Cur::Raw(n) => &raw[..n],
                    Cur::A(n) => &a[..n],
                    Cur::B(n) => &b[..n],
                    Cur::Dst => return Err("a checksum after the last filter".into()),
                };
                let Some(split) = data.len().checked_sub(4) else {
                    return Err("chunk shorter than its Fletcher-32 checksum".into());
                };
                let stored = u32::from_le_bytes(std::array::from_fn(|i| data[split + i]));
                let sum = fletcher32(&data[..split]);
                if sum != stored && sum.swap_bytes() != stored {
                    return Err(format!(
                        "Fletcher-32 checksum mismatch (stored {stored:#010x}, computed \
                         {sum:#010x}): the chunk is corrupt"
                    ));
                }
                cur = match cur {
                    Cur::Raw(_) => Cur::Raw(split),
                    Cur::A(_) => Cur::A(split),
                    Cur::B(_) => Cur::B(split),
                    Cur::Dst => Cur::Dst,
                };
                continue;
            }
            let out_len = if *step == Step::Deflate {
                raw_len
            } else {
                src_len
            };
            let into_dst = Some(k) == last;
            if into_dst && out_len != raw_len {
                return Err(format!("holds {out_len} bytes, expected {raw_len}"));
            }
            let apply =
                |src: &[u8], out: &mut [u8], inflater: &mut libdeflater::Decompressor| match step {
                    Step::Deflate => {
                        let n = inflater
                            .zlib_decompress(src, out)
                            .map_err(|e| format!("the deflate stream does not inflate ({e})"))?;
                        if n != out.len() {
                            return Err(format!("inflates to {n} bytes, expected {}", out.len()));
                        }
                        Ok(())
                    }
                    _ => {
                        unshuffle(src, self.stored.size(), out);
                        Ok(())
                    }
                };
            cur = match (cur, into_dst) {
                (Cur::Raw(n), true) => {
                    apply(&raw[..n], dst, inflater)?;
                    Cur::Dst
                }
                (Cur::Raw(n), false) => {
                    a.resize(out_len, 0);
                    apply(&raw[..n], &mut a[..out_len], inflater)?;
                    Cur::A(out_len)
                }
                (Cur::A(n), true) => {
                    apply(&a[..n], dst, inflater)?;
                    Cur::Dst
                }
                (Cur::A(n), false) => {
                    b.resize(out_len, 0);
                    apply(&a[..n], &mut b[..out_len], inflater)?;
                    Cur::B(out_len)
                }
                (Cur::B(n), true) => {
                    apply(&b[..n], dst, inflater)?;
                    Cur::Dst
                }
                (Cur::B(n), false) => {
                    a.resize(out_len, 0);
                    apply(&b[..n], &mut a[..out_len], inflater)?;
                    Cur::A(out_len)
                }
                (Cur::Dst, _) => return Err("a filter after the last one".into()),
            };
        }
        let data: &[u8] = match cur {
            Cur::Dst => return Ok(()),
            Cur::Raw(n) => &raw[..n],
            Cur::A(n) => &a[..n],
            Cur::B(n) => &b[..n],
        };
        if data.len() != raw_len {
            return Err(format!("holds {} bytes, expected {raw_len}", data.len()));
        }
        dst.copy_from_slice(data);
        Ok(())
    }
}

impl BlockSource for H5Variable {
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
        let row_len = self.row_len();
        if rows.is_empty() || out.dtype() != self.dtype || out.len() != rows.len() * row_len {
            return Err(self.err_block(
                block,
                format!(
                    "block {block} of {} does not fit a {} buffer of shape {:?}",
                    self.blocks(),
                    out.dtype(),
                    out.shape()
                ),
            ));
        }
        let elem = self.stored.size();
        let nbytes = rows.len() * row_len * elem;
        let put = |bytes: &[u8], out: &mut Array| {
            convert(self.stored, &self.cf, bytes, out.data_mut(), 0).map_err(|i| {
                self.err_block(block, format!("value {i} of the block does not fit an i64"))
            })
        };
        match &self.layout {
            Layout::Contiguous(Some(addr)) => SCRATCH.with(|scratch| {
                let buf = &mut scratch.borrow_mut().chunk;
                buf.resize(nbytes, 0);
                let start = addr + (rows.start * row_len * elem) as u64;
                self.file
                    .read_exact_at(&mut buf[..nbytes], start)
                    .map_err(|e| self.err_block(block, format!("cannot be read ({e})")))?;
                put(&buf[..nbytes], out)
            }),
            Layout::Contiguous(None) => put(&self.fill.repeat(nbytes / elem), out),
            Layout::Compact(raw) => {
                let start = rows.start * row_len * elem;
                put(&raw[start..start + nbytes], out)
            }
            Layout::Chunked {
                chunk,
                grid,
                table,
                pipeline,
            } => SCRATCH.with(|scratch| {
                let scratch = &mut *scratch.borrow_mut();
                let raw_len = chunk.iter().product::<usize>() * elem;
                // Every chunk whose first grid coordinate is this block.
                let per_block: usize = grid[1..].iter().product();
                let fail = |lin: usize, at: &ChunkAt, e: String| {
                    self.err_block(block, format!("chunk {lin} at byte {}: {e}", at.addr))
                };
                // The fast path: one chunk holds the block's records whole, stored as they are
                // served — inflate straight into the caller's buffer.
                if per_block == 1
                    && nbytes == raw_len
                    && self.cf.is_identity()
                    && let Some(dst) = direct_bytes(self.stored, out.data_mut())
                {
                    match table[block] {
                        Some(at) => self
                            .decode_chunk(&at, pipeline, dst, &mut scratch.steps)
                            .map_err(|e| fail(block, &at, e))?,
                        None => {
                            for d in dst.chunks_exact_mut(elem) {
                                d.copy_from_slice(&self.fill);
                            }
                        }
                    }
                    return Ok(());
                }
                let mut staged = self.fill.repeat(nbytes / elem);
                let mut decoded = std::mem::take(&mut scratch.chunk);
                decoded.resize(raw_len, 0);
                for k in 0..per_block {
                    let lin = block * per_block + k;
                    let Some(at) = table[lin] else { continue };
                    if let Err(e) =
                        self.decode_chunk(&at, pipeline, &mut decoded, &mut scratch.steps)
                    {
                        scratch.chunk = decoded;
                        return Err(fail(lin, &at, e));
                    }
                    let origin = grid_origin(lin, grid, chunk);
                    copy_chunk(
                        &decoded,
                        chunk,
                        &origin,
                        &self.shape,
                        rows.start,
                        &mut staged,
                        elem,
                    );
                }
                scratch.chunk = decoded;
                put(&staged, out)
            }),
        }
    }
}

/// The dataset coordinates of the first element of chunk `lin` (row-major over the grid).
pub(super) fn grid_origin(mut lin: usize, grid: &[usize], chunk: &[usize]) -> Vec<usize> {
    let mut origin = vec![0; grid.len()];
    for d in (0..grid.len()).rev() {
        origin[d] = (lin % grid[d]) * chunk[d];
        lin /= grid[d];
    }
    origin
}
