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
}
