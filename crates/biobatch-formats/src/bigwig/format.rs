//! Byte-level parsing of the bigWig container: header, chromosome B+ tree, R-tree index and
//! data sections. Every read is bounds-checked and reports the file offset on failure.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use crate::{Error, Result};

pub(crate) const BIGWIG_MAGIC: u32 = 0x888F_FC26;
const BIGBED_MAGIC: u32 = 0x8789_F2EB;
const CHROM_TREE_MAGIC: u32 = 0x78CA_8C91;
const RTREE_MAGIC: u32 = 0x2468_ACE0;
/// Guard against cyclic or absurdly deep trees in corrupt files.
const MAX_DEPTH: usize = 32;

/// Where the bytes are: the memory-mapped file, or a remote object read through its block
/// cache.
#[derive(Clone, Copy)]
pub(crate) enum Data<'a> {
    Mapped(&'a [u8]),
    #[cfg(feature = "remote")]
    Remote(&'a crate::remote::RemoteFile),
}

impl Data<'_> {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Data::Mapped(d) => d.len() as u64,
            #[cfg(feature = "remote")]
            Data::Remote(f) => f.len(),
        }
    }
}

/// Bounds-checked, endian-aware reads from the file.
#[derive(Clone, Copy)]
pub(crate) struct Bytes<'a> {
    pub data: Data<'a>,
    pub le: bool,
    pub path: &'a Path,
}

impl<'a> Bytes<'a> {
    /// Checks that `[off, off + len)` lies inside the file, without reading it.
    pub(super) fn check(&self, off: u64, len: u64, what: &str) -> Result<()> {
        match off.checked_add(len) {
            Some(end) if end <= self.data.len() => Ok(()),
            _ => Err(Error::corrupt(
                self.path,
                off,
                format!(
                    "{what}: {len} bytes needed but the file ends at {}",
                    self.data.len()
                ),
            )),
        }
    }

    pub(super) fn slice(&self, off: u64, len: u64, what: &str) -> Result<Cow<'a, [u8]>> {
        self.check(off, len, what)?;
        match self.data {
            Data::Mapped(d) => Ok(Cow::Borrowed(&d[off as usize..(off + len) as usize])),
            #[cfg(feature = "remote")]
            Data::Remote(f) => f.read_range(off..off + len).map(Cow::Owned),
        }
    }

    pub(super) fn u8(&self, off: u64, what: &str) -> Result<u8> {
        Ok(self.slice(off, 1, what)?[0])
    }

    pub(super) fn u16(&self, off: u64, what: &str) -> Result<u16> {
        let b: [u8; 2] = self
            .slice(off, 2, what)?
            .as_ref()
            .try_into()
            .map_err(|_| self.short(off, what))?;
        Ok(if self.le {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    }

    pub(super) fn u32(&self, off: u64, what: &str) -> Result<u32> {
        let b: [u8; 4] = self
            .slice(off, 4, what)?
            .as_ref()
            .try_into()
            .map_err(|_| self.short(off, what))?;
        Ok(if self.le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    pub(super) fn u64(&self, off: u64, what: &str) -> Result<u64> {
        let b: [u8; 8] = self
            .slice(off, 8, what)?
            .as_ref()
            .try_into()
            .map_err(|_| self.short(off, what))?;
        Ok(if self.le {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        })
    }

    fn short(&self, off: u64, what: &str) -> Error {
        Error::corrupt(self.path, off, format!("{what}: short read"))
    }
}

/// The fixed 64-byte header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    pub le: bool,
    pub version: u16,
    pub zoom_levels: u16,
    pub chrom_tree_offset: u64,
    pub full_data_offset: u64,
    pub full_index_offset: u64,
    pub uncompress_buf_size: u32,
}

pub(crate) fn read_header(data: &[u8], path: &Path) -> Result<Header> {
    let head = data.get(..64).ok_or_else(|| {
        Error::corrupt(path, 0, "file is shorter than a bigWig header (64 bytes)")
    })?;
    let magic_le = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let le = match magic_le {
        BIGWIG_MAGIC => true,
        m if m.swap_bytes() == BIGWIG_MAGIC => false,
        BIGBED_MAGIC => {
            return Err(Error::corrupt(
                path,
                0,
                "this is a bigBed file, not a bigWig",
            ));
        }
        m if m.swap_bytes() == BIGBED_MAGIC => {
            return Err(Error::corrupt(
                path,
                0,
                "this is a bigBed file, not a bigWig",
            ));
        }
        _ => {
            return Err(Error::corrupt(
                path,
                0,
                "not a bigWig file (bad magic number)",
            ));
        }
    };
    let b = Bytes {
        data: Data::Mapped(head),
        le,
        path,
    };
    Ok(Header {
        le,
        version: b.u16(4, "version")?,
        zoom_levels: b.u16(6, "zoom levels")?,
        chrom_tree_offset: b.u64(8, "chromosome tree offset")?,
        full_data_offset: b.u64(16, "data offset")?,
        full_index_offset: b.u64(24, "index offset")?,
        uncompress_buf_size: b.u32(52, "uncompress buffer size")?,
    })
}

/// One chromosome as the file declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChromInfo {
    /// Name.
    pub name: String,
    /// Length in bases.
    pub length: u32,
    /// The id used inside the file's index and data sections.
    pub id: u32,
}

pub(crate) fn read_chroms(b: Bytes<'_>, offset: u64) -> Result<Vec<ChromInfo>> {
    if b.u32(offset, "chromosome tree magic")? != CHROM_TREE_MAGIC {
        return Err(Error::corrupt(b.path, offset, "bad chromosome tree magic"));
    }
    let key_size = b.u32(offset + 8, "chromosome tree key size")? as u64;
    let val_size = b.u32(offset + 12, "chromosome tree value size")? as u64;
    if val_size != 8 || key_size == 0 || key_size > 4096 {
        return Err(Error::corrupt(
            b.path,
            offset,
            format!("unsupported chromosome tree (key size {key_size}, value size {val_size})"),
        ));
    }
    let item_count = b.u64(offset + 16, "chromosome tree item count")?;
    let mut out = Vec::new();
    walk_chrom_node(b, offset + 32, key_size, 0, &mut out)?;
    if out.len() as u64 != item_count {
        return Err(Error::corrupt(
            b.path,
            offset + 16,
            format!(
                "the chromosome tree promises {item_count} chromosomes, its leaves hold {}",
                out.len()
            ),
        ));
    }
    // The data sections and the index name chromosomes by id: ids must be exactly 0..N−1,
    // or a chromosome would read as empty.
    let mut seen = vec![false; out.len()];
    for c in &out {
        let slot = seen.get_mut(c.id as usize).filter(|s| !**s);
        let Some(slot) = slot else {
            return Err(Error::corrupt(
                b.path,
                offset,
                format!(
                    "chromosome `{}` has id {}: ids must be 0..{} (one each)",
                    c.name,
                    c.id,
                    out.len()
                ),
            ));
        };
        *slot = true;
        if c.length == 0 {
            return Err(Error::corrupt(
                b.path,
                offset,
                format!("chromosome `{}` has length 0", c.name),
            ));
        }
    }
    Ok(out)
}

fn walk_chrom_node(
    b: Bytes<'_>,
    node: u64,
    key_size: u64,
    depth: usize,
    out: &mut Vec<ChromInfo>,
) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(Error::corrupt(
            b.path,
            node,
            "chromosome tree is too deep (cycle?)",
        ));
    }
    let is_leaf = b.u8(node, "chromosome tree node")? != 0;
    let count = b.u16(node + 2, "chromosome tree node count")? as u64;
    let item = key_size + 8;
    for i in 0..count {
        let at = node + 4 + i * item;
        let key = b.slice(at, key_size, "chromosome name")?;
        if is_leaf {
            let name_len = key.iter().position(|&c| c == 0).unwrap_or(key.len());
            let name = std::str::from_utf8(&key[..name_len])
                .map_err(|_| Error::corrupt(b.path, at, "chromosome name is not UTF-8"))?;
            out.push(ChromInfo {
                name: name.to_string(),
                id: b.u32(at + key_size, "chromosome id")?,
                length: b.u32(at + key_size + 4, "chromosome length")?,
            });
        } else {
            let child = b.u64(at + key_size, "chromosome tree child")?;
            walk_chrom_node(b, child, key_size, depth + 1, out)?;
        }
    }
    Ok(())
}

/// A data block (compressed section) and the genomic span the index gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockRef {
    pub chrom_id: u32,
    /// The index item spans several chromosomes (its section holds one of them).
    pub spans: bool,
    pub start: u32,
    pub end: u32,
    pub offset: u64,
    pub size: u64,
}

/// All leaves of the R-tree index, in file order; every item's chromosomes must be among the
/// `lengths` (by id) and its span inside them.
pub(crate) fn read_blocks(
    b: Bytes<'_>,
    index_offset: u64,
    lengths: &[u32],
) -> Result<Vec<BlockRef>> {
    if b.u32(index_offset, "index magic")? != RTREE_MAGIC {
        return Err(Error::corrupt(
            b.path,
            index_offset,
            "bad R-tree index magic",
        ));
    }
    let mut out = Vec::new();
    walk_rtree(b, index_offset + 48, 0, lengths, &mut out)?;
    Ok(out)
}

fn walk_rtree(
    b: Bytes<'_>,
    node: u64,
    depth: usize,
    lengths: &[u32],
    out: &mut Vec<BlockRef>,
) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(Error::corrupt(
            b.path,
            node,
            "index tree is too deep (cycle?)",
        ));
    }
    let is_leaf = b.u8(node, "index node")? != 0;
    let count = b.u16(node + 2, "index node count")? as u64;
    let item = if is_leaf { 32 } else { 24 };
    for i in 0..count {
        let at = node + 4 + i * item;
        let start_chrom = b.u32(at, "index item")?;
        let start = b.u32(at + 4, "index item")?;
        let end_chrom = b.u32(at + 8, "index item")?;
        let end = b.u32(at + 12, "index item")?;
        let offset = b.u64(at + 16, "index item")?;
        if is_leaf {
            let size = b.u64(at + 24, "index item")?;
            // Check now that the block lies inside the file, so reads never fail later.
            b.check(offset, size, "data block")?;
            // A block holds at least one item of at least one base: an empty span would hide
            // its values from every window.
            if end_chrom < start_chrom || (end_chrom == start_chrom && end <= start) {
                return Err(Error::corrupt(
                    b.path,
                    at,
                    format!(
                        "index item {start_chrom}:{start} to {end_chrom}:{end} is empty or ends before it starts"
                    ),
                ));
            }
            let known = |id: u32| lengths.get(id as usize).copied();
            match (known(start_chrom), known(end_chrom)) {
                (Some(_), Some(len)) if end <= len => {}
                (Some(_), Some(len)) => {
                    return Err(Error::corrupt(
                        b.path,
                        at,
                        format!("index item ends at {end}, past its chromosome's length {len}"),
                    ));
                }
                _ => {
                    return Err(Error::corrupt(
                        b.path,
                        at,
                        format!(
                            "index item on chromosome ids {start_chrom}..={end_chrom}; the file \
                             has {} chromosomes",
                            lengths.len()
                        ),
                    ));
                }
            }
            // A block spanning chromosomes is listed once per chromosome it touches.
            for chrom_id in start_chrom..=end_chrom {
                out.push(BlockRef {
                    chrom_id,
                    spans: start_chrom != end_chrom,
                    start: if chrom_id == start_chrom { start } else { 0 },
                    end: if chrom_id == end_chrom { end } else { u32::MAX },
                    offset,
                    size,
                });
            }
        } else {
            walk_rtree(b, offset, depth + 1, lengths, out)?;
        }
    }
    Ok(())
}

/// One decoded value: `[start, end)` holds `value`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Item {
    pub start: u32,
    pub end: u32,
    pub value: f32,
}

/// The largest a data section can be: its header and 65,535 items of 12 bytes.
pub(crate) const MAX_SECTION: usize = 24 + 65_535 * 12;

/// Decodes an uncompressed data section into `items` (cleared first).
pub(crate) fn decode_section(
    sec: &[u8],
    le: bool,
    path: &Path,
    offset: u64,
    items: &mut Vec<Item>,
) -> Result<u32> {
    items.clear();
    let corrupt = |what: &str| Error::corrupt(path, offset, format!("data block: {what}"));
    if sec.len() < 24 {
        return Err(corrupt("section shorter than its 24-byte header"));
    }
    let rd32 = |i: usize| {
        let w = [sec[i], sec[i + 1], sec[i + 2], sec[i + 3]];
        if le {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        }
    };
    let chrom_id = rd32(0);
    let chrom_start = rd32(4);
    let step = rd32(12);
    let span = rd32(16);
    let kind = sec[20];
    let count = if le {
        u16::from_le_bytes([sec[22], sec[23]])
    } else {
        u16::from_be_bytes([sec[22], sec[23]])
    } as usize;
    let item_size = match kind {
        1 => 12,
        2 => 8,
        3 => 4,
        other => return Err(corrupt(&format!("unknown section type {other}"))),
    };
    if sec.len() < 24 + count * item_size {
        return Err(corrupt(&format!(
            "{count} items of {item_size} bytes do not fit in {} bytes",
            sec.len() - 24
        )));
    }
    items.reserve(count);
    let body = &sec[24..24 + count * item_size];
    let word = |b: &[u8]| {
        let w = [b[0], b[1], b[2], b[3]];
        if le {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        }
    };
    match kind {
        1 => items.extend(body.chunks_exact(12).map(|c| Item {
            start: word(&c[0..4]),
            end: word(&c[4..8]),
            value: f32::from_bits(word(&c[8..12])),
        })),
        2 => items.extend(body.chunks_exact(8).map(|c| {
            let s = word(&c[0..4]);
            Item {
                start: s,
                end: s.saturating_add(span),
                value: f32::from_bits(word(&c[4..8])),
            }
        })),
        _ => items.extend(body.chunks_exact(4).enumerate().map(|(k, c)| {
            let s = chrom_start.saturating_add((k as u32).saturating_mul(step));
            Item {
                start: s,
                end: s.saturating_add(span),
                value: f32::from_bits(word(c)),
            }
        })),
    }
    if items.iter().any(|it| it.end < it.start) {
        return Err(corrupt("an item ends before it starts"));
    }
    // Writers emit items sorted and disjoint; overlapping ones would make a base's value
    // depend on the order they are applied in.
    if let Some(w) = items.windows(2).find(|w| w[1].start < w[0].end) {
        return Err(corrupt(&format!(
            "items out of order or overlapping ({}-{} then {}-{})",
            w[0].start, w[0].end, w[1].start, w[1].end
        )));
    }
    Ok(chrom_id)
}

/// Per-chromosome lookup of blocks: sorted by start, with a running maximum of ends so that
/// the first block that can overlap a position is found by binary search even if blocks
/// overlap each other.
#[derive(Debug, Default)]
pub(crate) struct BlockIndex {
    pub blocks: Vec<BlockRef>,
    pub max_end: Vec<u32>,
    pub by_chrom: HashMap<u32, (usize, usize)>,
}

impl BlockIndex {
    pub(super) fn new(mut blocks: Vec<BlockRef>) -> Self {
        blocks.sort_by_key(|b| (b.chrom_id, b.start, b.offset));
        let mut max_end = Vec::with_capacity(blocks.len());
        let mut by_chrom: HashMap<u32, (usize, usize)> = HashMap::new();
        let mut run = 0u32;
        let mut prev = None;
        for (i, b) in blocks.iter().enumerate() {
            if prev != Some(b.chrom_id) {
                // Sorted by chromosome: each chromosome's blocks are contiguous.
                prev = Some(b.chrom_id);
                run = 0;
                by_chrom.insert(b.chrom_id, (i, i));
            }
            if let Some(range) = by_chrom.get_mut(&b.chrom_id) {
                range.1 = i + 1;
            }
            run = run.max(b.end);
            max_end.push(run);
        }
        BlockIndex {
            blocks,
            max_end,
            by_chrom,
        }
    }

    /// Indices of blocks of `chrom_id` that may overlap `[start, end)`.
    pub(super) fn candidates(&self, chrom_id: u32, start: u32, end: u32) -> std::ops::Range<usize> {
        let Some(&(lo, hi)) = self.by_chrom.get(&chrom_id) else {
            return 0..0;
        };
        let first = lo + self.max_end[lo..hi].partition_point(|&e| e <= start);
        let last = lo + self.blocks[lo..hi].partition_point(|b| b.start < end);
        first..last.max(first)
    }
}
