//! [`Column<T>`]: a typed, read-mostly buffer that is either owned or a byte range of a memory
//! map, so data restored from a file (a cache, a store's arrays) is read in place.
//!
//! ```
//! use std::io::Write;
//! use std::sync::Arc;
//! use biobatch_formats::column::Column;
//!
//! let mut f = tempfile::tempfile()?;
//! f.write_all(&[0u8; 8])?;
//! f.write_all(bytemuck::cast_slice(&[1u32, 2, 3]))?;
//! // SAFETY: the file is private to this example and not modified while mapped.
//! let map = Arc::new(unsafe { memmap2::Mmap::map(&f)? });
//! let c = Column::<u32>::mapped(map, 8, 12).expect("aligned and in range");
//! assert_eq!(&c[..], &[1, 2, 3]);
//! assert!(c.is_mapped());
//! # Ok::<(), std::io::Error>(())
//! ```

use std::ops::Deref;
use std::sync::Arc;

use bytemuck::Pod;
use memmap2::Mmap;

/// Values of one array of a dataset's store: owned (built by extraction) or `len` values at
/// byte `offset` of a mapped file. For a mapped column, `offset` is a multiple of the type's
/// alignment and the range lies inside the map (both checked by [`Column::mapped`]).
#[derive(Debug, Clone)]
pub struct Column<T> {
    owned: Vec<T>,
    mapped: Option<Mapped>,
}

#[derive(Debug, Clone)]
struct Mapped {
    map: Arc<Mmap>,
    offset: usize,
    bytes: usize,
}

impl<T> Default for Column<T> {
    fn default() -> Self {
        Column {
            owned: Vec::new(),
            mapped: None,
        }
    }
}

impl<T: Pod> Column<T> {
    /// A column over `bytes` bytes at `offset` of `map`; `None` when the range leaves the
    /// map, is misaligned for `T`, or is not a whole number of values.
    pub fn mapped(map: Arc<Mmap>, offset: usize, bytes: usize) -> Option<Self> {
        let end = offset.checked_add(bytes)?;
        let slice = map.get(offset..end)?;
        // The check the accessor relies on: a cast that succeeds once succeeds forever, as
        // the map never moves.
        bytemuck::try_cast_slice::<u8, T>(slice).ok()?;
        Some(Column {
            owned: Vec::new(),
            mapped: Some(Mapped { map, offset, bytes }),
        })
    }

    /// Whether the values are read in place from a mapped file.
    pub fn is_mapped(&self) -> bool {
        self.mapped.is_some()
    }

    /// Tells the kernel that values `range` will be read soon (`madvise(WILLNEED)`: it starts
    /// reading those pages in the background). Nothing for an owned column; best effort.
    pub fn will_need(&self, range: std::ops::Range<usize>) {
        #[cfg(unix)]
        if let Some(m) = &self.mapped {
            let size = std::mem::size_of::<T>();
            let start = range.start.min(m.bytes / size.max(1)) * size;
            let end = (range.end * size).min(m.bytes);
            if end > start {
                let _ =
                    m.map
                        .advise_range(memmap2::Advice::WillNeed, m.offset + start, end - start);
            }
        }
        #[cfg(not(unix))]
        let _ = range;
    }

    /// Asks the kernel to hold an owned column in 2 MiB pages (see [`prefer_huge_pages`]:
    /// whether it took the advice); nothing for a mapped one, whose pages the kernel's file
    /// cache chooses.
    pub fn prefer_huge_pages(&self) -> bool {
        self.mapped.is_none() && prefer_huge_pages(bytemuck::cast_slice(&self.owned))
    }

    /// The owned values, copying a mapped column into memory first.
    pub fn to_mut(&mut self) -> &mut Vec<T> {
        if let Some(m) = self.mapped.take() {
            self.owned = bytemuck::cast_slice(&m.map[m.offset..m.offset + m.bytes]).to_vec();
        }
        &mut self.owned
    }

    /// The values as bytes (for writing a cache).
    pub fn as_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(self.deref())
    }
}

impl<T: Pod> Deref for Column<T> {
    type Target = [T];

    #[inline]
    fn deref(&self) -> &[T] {
        match &self.mapped {
            None => &self.owned,
            // `Column::mapped` checked range, alignment and length when it made this
            // column, so neither the slice nor the cast can fail.
            Some(m) => bytemuck::cast_slice(&m.map[m.offset..m.offset + m.bytes]),
        }
    }
}

/// `n` zeros, in memory the kernel is asked to back with 2 MiB pages as it is first written
/// (`MADV_HUGEPAGE` on fresh pages, which costs nothing later; see [`prefer_huge_pages`]).
/// For the large arrays a dataset extracts once and reads at random rows every epoch.
pub fn zeroed_vec<T: Pod>(n: usize) -> Vec<T> {
    // An allocation that fails goes on to fail as `vec!`'s does (the allocator's message,
    // or "capacity overflow"), not as an unwrap of bytemuck's unit error.
    let v = bytemuck::try_zeroed_vec::<T>(n).unwrap_or_else(|()| vec![T::zeroed(); n]);
    advise(bytemuck::cast_slice(&v), false);
    v
}

/// Asks the kernel to back the whole 2 MiB pages inside `bytes` with huge pages, now
/// (`madvise` `MADV_HUGEPAGE`, then `MADV_COLLAPSE`, Linux 6.1+; pages that already are
/// huge are left as they are). A store read at random rows (a few kilobytes per row, each
/// row's copy crossing several 4 KiB pages) pays a TLB miss per 4 KiB page; with 2 MiB
/// pages most rows need none. Worth it for large arrays built once and read for many
/// epochs; the contents are unchanged. Best effort: returns whether the kernel took the
/// advice (false for a kernel without it, transparent huge pages off, too little free
/// memory, `bytes` holding no whole 2 MiB page, or outside Linux with glibc), and memory
/// the kernel did not change is as it was.
pub fn prefer_huge_pages(bytes: &[u8]) -> bool {
    advise(bytes, true)
}

/// `MADV_HUGEPAGE` over the whole 2 MiB pages inside `bytes`, and with `collapse`
/// `MADV_COLLAPSE` too: whether every call succeeded (false when there is no whole page).
fn advise(bytes: &[u8], collapse: bool) -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let (start, end) = huge_pages_inside(bytes);
        if end > start {
            // SAFETY: [start, end) lies inside `bytes`, memory this process owns, and both
            // advices keep its contents: they only change how the pages are backed.
            unsafe {
                let p = start as *mut libc::c_void;
                let mut ok = libc::madvise(p, end - start, libc::MADV_HUGEPAGE) == 0;
                if collapse {
                    ok &= libc::madvise(p, end - start, libc::MADV_COLLAPSE) == 0;
                }
                return ok;
            }
        }
        false
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        let _ = (bytes, collapse);
        false
    }
}

/// The addresses `[start, end)` of the whole 2 MiB pages inside `bytes` (`end <= start`
/// when there is none).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn huge_pages_inside(bytes: &[u8]) -> (usize, usize) {
    const HUGE: usize = 2 << 20;
    let at = bytes.as_ptr() as usize;
    (at.next_multiple_of(HUGE), (at + bytes.len()) / HUGE * HUGE)
}

impl<T> From<Vec<T>> for Column<T> {
    fn from(owned: Vec<T>) -> Self {
        Column {
            owned,
            mapped: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn map_of(bytes: &[u8]) -> Arc<Mmap> {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        // SAFETY: the temporary file is private to this test and never modified again.
        Arc::new(unsafe { Mmap::map(&f) }.unwrap())
    }

    #[test]
    fn mapped_columns_read_in_place_and_refuse_bad_ranges() {
        let values: Vec<u16> = (0..64).collect();
        let mut bytes = vec![0u8; 8];
        bytes.extend_from_slice(bytemuck::cast_slice(&values));
        let map = map_of(&bytes);
        let c = Column::<u16>::mapped(map.clone(), 8, 128).unwrap();
        assert_eq!(&c[..], &values[..]);
        assert!(
            Column::<u16>::mapped(map.clone(), 9, 4).is_none(),
            "misaligned"
        );
        assert!(
            Column::<u16>::mapped(map.clone(), 8, 3).is_none(),
            "partial value"
        );
        assert!(
            Column::<u16>::mapped(map.clone(), 8, 200).is_none(),
            "past the end"
        );
        let mut c = c;
        c.to_mut().push(99);
        assert_eq!(c.len(), 65);
        assert!(!c.is_mapped());
    }

    /// Bytes of the mapping that holds `addr` that are backed by huge pages, from
    /// `/proc/self/smaps`.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn huge_bytes_at(addr: usize) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        for line in smaps.lines() {
            let first = line.split_whitespace().next().unwrap_or("");
            if let Some((a, b)) = first.split_once('-')
                && let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
            {
                inside = (a..b).contains(&addr);
            } else if inside && let Some(kb) = line.strip_prefix("AnonHugePages:") {
                return kb
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .unwrap()
                    * 1024;
            }
        }
        panic!("no mapping holds {addr:#x}")
    }

    /// Whether this system hands out transparent huge pages on request.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn thp_on_request() -> bool {
        std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .is_ok_and(|s| !s.contains("[never]"))
    }

    #[test]
    fn huge_page_advice_keeps_the_values_and_backs_whole_pages() {
        const MIB: usize = 1 << 20;
        // Fresh zeros, written after the advice (the extraction path); 40 MiB, above the
        // size glibc always maps afresh, so the pages are untouched before the advice.
        let mut fresh: Vec<u32> = zeroed_vec(10 * MIB);
        assert!(fresh.iter().all(|&x| x == 0));
        for (i, x) in fresh.iter_mut().enumerate() {
            *x = i as u32 ^ 0x9e37_79b9;
        }
        // Memory written first, then advised (the collapse path).
        let written: Vec<u32> = (0..4 * MIB as u32)
            .map(|i| i.wrapping_mul(2_654_435_761))
            .collect();
        let took = prefer_huge_pages(bytemuck::cast_slice(&written));
        assert!(
            fresh
                .iter()
                .enumerate()
                .all(|(i, &x)| x == i as u32 ^ 0x9e37_79b9)
        );
        assert!(
            written
                .iter()
                .enumerate()
                .all(|(i, &x)| x == (i as u32).wrapping_mul(2_654_435_761))
        );
        let column = Column::from(written);
        assert_eq!(column.prefer_huge_pages(), took);
        assert!(!prefer_huge_pages(&[0u8; 64]), "no whole 2 MiB page inside");
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            // Where the kernel took the advice, every whole 2 MiB page inside is huge.
            let (start, end) = huge_pages_inside(column.as_bytes());
            assert!(end - start >= 12 * MIB);
            if took {
                assert!(huge_bytes_at(start) >= (end - start) as u64);
            }
            // Fresh memory under the advice gets huge pages as it is first written,
            // wherever the system hands them out on request.
            if thp_on_request() {
                let (start, _) = huge_pages_inside(bytemuck::cast_slice(&fresh));
                assert!(huge_bytes_at(start) >= 2 * MIB as u64);
            }
        }
    }
}
