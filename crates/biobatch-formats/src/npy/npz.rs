//! `.npz` archives: a zip of `.npy` members, read through the central directory.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use super::{Bytes, NpyArray, map_file};
use crate::{Error, Result};

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(d.get(at..at + 8)?.try_into().ok()?))
}

/// Opens a `.npz` archive: `(name, array)` per member in archive order (names without
/// `.npy`). Stored members (`np.savez`) stay memory-mapped; deflated members
/// (`np.savez_compressed`) are inflated into memory once. Every member's size and CRC-32
/// are checked at open, as numpy checks them, so a damaged archive is an error rather than
/// other numbers.
pub fn read_npz(path: impl AsRef<Path>) -> Result<Vec<(String, NpyArray)>> {
    let path = path.as_ref();
    let m = map_file(path)?;
    let d: &[u8] = &m;
    let corrupt = |off: usize, what: &str| Error::corrupt(path, off as u64, format!("zip: {what}"));
    // End of central directory: the last "PK\5\6" within the final 64 KiB + 22 bytes.
    let lo = d.len().saturating_sub(65_536 + 22);
    let eocd = (lo..d.len().saturating_sub(21))
        .rev()
        .find(|&i| &d[i..i + 4] == b"PK\x05\x06")
        .ok_or_else(|| {
            corrupt(
                d.len(),
                "no end-of-central-directory record (not a zip / .npz file?)",
            )
        })?;
    let entries = u16_at(d, eocd + 10).ok_or_else(|| corrupt(eocd, "truncated"))? as usize;
    // One disk: disk numbers 0, and this disk's entries are all the entries.
    let (disk, cd_disk, on_disk) = (
        u16_at(d, eocd + 4),
        u16_at(d, eocd + 6),
        u16_at(d, eocd + 8),
    );
    if disk != Some(0) || cd_disk != Some(0) || on_disk != Some(entries as u16) {
        return Err(corrupt(
            eocd,
            "the end record describes a multi-disk archive (or is damaged)",
        ));
    }
    let cd_size = u32_at(d, eocd + 12).ok_or_else(|| corrupt(eocd, "truncated"))?;
    let cd_off = u32_at(d, eocd + 16).ok_or_else(|| corrupt(eocd, "truncated"))?;
    if cd_off == u32::MAX || entries == u16::MAX as usize {
        return Err(Error::Invalid(format!(
            "{}: zip64 archives (over 4 GiB or 65,535 members) are not supported yet",
            path.display()
        )));
    }
    let mut out = Vec::with_capacity(entries);
    let mut p = cd_off as usize;
    for _ in 0..entries {
        if d.get(p..p + 4) != Some(b"PK\x01\x02") {
            return Err(corrupt(p, "bad central directory entry"));
        }
        let field16 = |at| u16_at(d, p + at).ok_or_else(|| corrupt(p, "truncated entry"));
        let field32 = |at| u32_at(d, p + at).ok_or_else(|| corrupt(p, "truncated entry"));
        let method = field16(10)?;
        let crc_expected = field32(16)?;
        let mut csize = field32(20)? as u64;
        let mut usize_ = field32(24)? as u64;
        let (nlen, elen, clen) = (
            field16(28)? as usize,
            field16(30)? as usize,
            field16(32)? as usize,
        );
        let mut local = field32(42)? as u64;
        let name_bytes = d
            .get(p + 46..p + 46 + nlen)
            .ok_or_else(|| corrupt(p, "truncated name"))?;
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        // Zip64 extra field: 64-bit values for the fields that read 0xFFFFFFFF, in order.
        let extra = d.get(p + 46 + nlen..p + 46 + nlen + elen).unwrap_or(&[]);
        let mut e = 0;
        while e + 4 <= extra.len() {
            let (id, size) = (
                u16_at(extra, e).unwrap_or(0),
                u16_at(extra, e + 2).unwrap_or(0) as usize,
            );
            if id == 1 {
                let mut q = e + 4;
                for v in [&mut usize_, &mut csize, &mut local] {
                    if *v == u32::MAX as u64 {
                        *v = u64_at(extra, q).ok_or_else(|| corrupt(p, "truncated zip64 field"))?;
                        q += 8;
                    }
                }
            }
            e += 4 + size;
        }
        p += 46 + nlen + elen + clen;
        let lh = usize::try_from(local).unwrap_or(usize::MAX);
        if d.get(lh..lh.saturating_add(4)) != Some(b"PK\x03\x04") {
            return Err(corrupt(lh, &format!("bad local header for `{name}`")));
        }
        // As Python's zipfile: the local header names the same member.
        let local_len = u16_at(d, lh + 26).unwrap_or(0) as usize;
        if d.get(lh + 30..lh + 30 + local_len) != Some(name_bytes) {
            return Err(corrupt(
                lh,
                &format!("the local header of `{name}` names another member"),
            ));
        }
        let data_at = lh
            + 30
            + u16_at(d, lh + 26).unwrap_or(0) as usize
            + u16_at(d, lh + 28).unwrap_or(0) as usize;
        let data_end = usize::try_from(csize)
            .ok()
            .and_then(|c| data_at.checked_add(c))
            .filter(|&e| e <= d.len())
            .ok_or_else(|| {
                corrupt(
                    data_at,
                    &format!("member `{name}` runs past the end of the file"),
                )
            })?;
        let member_path = path.join(&name);
        let bytes = match method {
            0 => Bytes::Mapped(Arc::clone(&m), data_at..data_end),
            8 => {
                // The declared size bounds what is inflated (a zip bomb stops there) and
                // reserved (a deflate stream grows at most ~1032-fold).
                let cap = usize_.min(csize.saturating_mul(1032)).min(1 << 30) as usize;
                let mut v = Vec::with_capacity(cap);
                flate2::read::DeflateDecoder::new(&d[data_at..data_end])
                    .take(usize_.saturating_add(1))
                    .read_to_end(&mut v)
                    .map_err(|e| {
                        corrupt(data_at, &format!("member `{name}` does not inflate: {e}"))
                    })?;
                Bytes::Owned(v)
            }
            other => {
                return Err(Error::Invalid(format!(
                    "{}: member `{name}` uses zip compression method {other}; only stored and deflate are supported",
                    path.display()
                )));
            }
        };
        // As numpy (through zipfile) does: the member must have its declared size and CRC.
        let content = bytes.as_slice();
        if content.len() as u64 != usize_ {
            return Err(corrupt(
                data_at,
                &format!(
                    "member `{name}` holds {} bytes, the directory says {usize_}",
                    content.len()
                ),
            ));
        }
        let mut crc = flate2::Crc::new();
        crc.update(content);
        if crc.sum() != crc_expected {
            return Err(corrupt(
                data_at,
                &format!("member `{name}` fails its CRC-32 check (damaged archive)"),
            ));
        }
        let array = NpyArray::new(&member_path, bytes)?;
        out.push((
            name.strip_suffix(".npy").unwrap_or(&name).to_string(),
            array,
        ));
    }
    // The directory's entries must fill exactly the size the end record gives it (Python's
    // zipfile reads entries by that size, not by the count).
    if p as u64 != cd_off as u64 + cd_size as u64 {
        return Err(corrupt(
            p,
            &format!(
                "the central directory holds more or fewer than the {entries} entries its end \
                 record counts"
            ),
        ));
    }
    Ok(out)
}
