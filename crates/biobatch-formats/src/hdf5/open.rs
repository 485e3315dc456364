//! What libhdf5 is asked once, when a variable opens: the chunk table, a compact variable's
//! bytes, the fill value. Nothing here runs on the batch path.

use hdf5_metno as hdf5;

use super::variable::{ChunkAt, grid_origin};
use crate::decode::Stored;

/// Reads every chunk's address, size and filter mask, once, through libhdf5 (by
/// coordinates: `H5Dget_chunk_info_by_coord`, a B-tree lookup each), and checks that each
/// lies inside the file.
pub(super) fn chunk_table(
    ds: &hdf5::Dataset,
    grid: &[usize],
    chunk: &[usize],
    file_len: u64,
) -> std::result::Result<Vec<Option<ChunkAt>>, String> {
    let n: usize = grid
        .iter()
        .try_fold(1usize, |n, &g| n.checked_mul(g))
        .ok_or("too many chunks")?;
    let id = ds.id();
    let mut table = Vec::with_capacity(n);
    hdf5::sync::sync(|| {
        for lin in 0..n {
            let origin: Vec<u64> = grid_origin(lin, grid, chunk)
                .into_iter()
                .map(|o| o as u64)
                .collect();
            let (mut mask, mut addr, mut size) = (0u32, 0u64, 0u64);
            // SAFETY: `id` is an open dataset, `origin` has one entry per dimension, and the
            // out-pointers are valid for the call; the global lock is held.
            let rc = unsafe {
                hdf5_metno_sys::h5d::H5Dget_chunk_info_by_coord(
                    id,
                    origin.as_ptr(),
                    &mut mask,
                    &mut addr,
                    &mut size,
                )
            };
            if rc < 0 {
                return Err(format!("chunk at {origin:?} cannot be located"));
            }
            if addr == hdf5_metno_sys::h5::HADDR_UNDEF || size == 0 {
                table.push(None);
                continue;
            }
            if addr.checked_add(size).is_none_or(|e| e > file_len) {
                return Err(format!(
                    "chunk at {origin:?} ({size} bytes at byte {addr}) runs past the end of the \
                     file ({file_len} bytes): the file is truncated"
                ));
            }
            table.push(Some(ChunkAt {
                addr,
                size,
                filter_mask: mask,
            }));
        }
        Ok(())
    })?;
    Ok(table)
}

/// The compact variable's bytes (small by definition: under 64 KiB), read as the stored type
/// and re-encoded little-endian.
pub(super) fn read_compact(
    ds: &hdf5::Dataset,
    stored: Stored,
    total: usize,
) -> std::result::Result<Vec<u8>, String> {
    macro_rules! le {
        ($t:ty) => {
            ds.read_raw::<$t>()
                .map(|v| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>())
        };
    }
    let raw = match stored {
        Stored::U8 => le!(u8),
        Stored::I8 => le!(i8),
        Stored::U16 => le!(u16),
        Stored::I16 => le!(i16),
        Stored::U32 => le!(u32),
        Stored::I32 => le!(i32),
        Stored::U64 => le!(u64),
        Stored::I64 => le!(i64),
        Stored::F32 => le!(f32),
        Stored::F64 => le!(f64),
    }
    .map_err(|e| format!("compact data cannot be read ({e})"))?;
    if raw.len() != total {
        return Err(format!(
            "compact data holds {} bytes, expected {total}",
            raw.len()
        ));
    }
    Ok(raw)
}

/// The dataset's fill value as little-endian bytes (zero when none is defined).
pub(super) fn fill_bytes(ds: &hdf5::Dataset, stored: Stored) -> Vec<u8> {
    let Ok(pl) = ds.dcpl() else {
        return vec![0; stored.size()];
    };
    macro_rules! get {
        ($t:ty) => {
            pl.fill_value_as::<$t>().map(|v| v.to_le_bytes().to_vec())
        };
    }
    let v = match stored {
        Stored::U8 => get!(u8),
        Stored::I8 => get!(i8),
        Stored::U16 => get!(u16),
        Stored::I16 => get!(i16),
        Stored::U32 => get!(u32),
        Stored::I32 => get!(i32),
        Stored::U64 => get!(u64),
        Stored::I64 => get!(i64),
        Stored::F32 => get!(f32),
        Stored::F64 => get!(f64),
    };
    v.unwrap_or_else(|| vec![0; stored.size()])
}
