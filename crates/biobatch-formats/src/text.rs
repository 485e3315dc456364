//! Opening text files whatever their compression: gzip and bgzip are detected from the magic
//! bytes (not the name) and decompressed as they are read. Every line-based reader in
//! biobatch (BED, interval tables, MatrixMarket, model specs) opens its files through here.
//!
//! ```
//! use std::io::BufRead;
//!
//! let lines = biobatch_formats::text::open_text("../../tests/data/a.bed")?
//!     .lines()
//!     .count();
//! assert!(lines > 0);
//! let text = biobatch_formats::text::read_text("../../tests/data/a.bed".as_ref())?;
//! assert_eq!(text.lines().count(), lines);
//! # Ok::<(), biobatch_formats::Error>(())
//! ```

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::{Error, Result};

/// A buffered reader of a plain or decompressed text file.
pub type BoxedBufRead = Box<dyn BufRead + Send>;

/// Opens a text file for buffered reading, decompressing gzip / bgzip transparently. A URL
/// (with the `remote` feature) is read through the block cache of [`crate::remote`], fetched
/// whole up front (coalesced requests, several in flight).
pub fn open_text(path: impl AsRef<Path>) -> Result<BoxedBufRead> {
    let path = path.as_ref();
    if crate::remote::is_url(path) {
        #[cfg(feature = "remote")]
        {
            let file = crate::remote::RemoteFile::open(&path.to_string_lossy())?;
            file.prefetch(std::slice::from_ref(&(0..file.len())))?;
            let gz = file.len() >= 2 && file.read_range(0..2)? == [0x1f, 0x8b];
            let reader = file.reader();
            return Ok(if gz {
                Box::new(BufReader::with_capacity(
                    1 << 16,
                    flate2::read::MultiGzDecoder::new(reader),
                ))
            } else {
                Box::new(BufReader::with_capacity(1 << 16, reader))
            });
        }
        #[cfg(not(feature = "remote"))]
        return Err(crate::remote::unsupported(path, "a URL"));
    }
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut magic = [0u8; 2];
    let n = file.read(&mut magic).map_err(|e| Error::io(path, e))?;
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    Ok(if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::read::MultiGzDecoder::new(file),
        ))
    } else {
        Box::new(BufReader::with_capacity(1 << 16, file))
    })
}

/// A whole text file (gunzipped when compressed) as a string; text that is not UTF-8 is an
/// error naming the file and the byte offset.
pub fn read_text(path: &Path) -> Result<String> {
    let mut raw = Vec::new();
    open_text(path)?
        .read_to_end(&mut raw)
        .map_err(|e| Error::io(path, e))?;
    String::from_utf8(raw).map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        offset: e.utf8_error().valid_up_to() as u64,
        what: "not UTF-8 text".into(),
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn gzip_is_read_by_its_magic_not_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("plain-name.txt");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"a\tb\n").unwrap();
        std::fs::write(&p, gz.finish().unwrap()).unwrap();
        assert_eq!(read_text(&p).unwrap(), "a\tb\n");
        std::fs::write(&p, b"ok\n\xff\xfe").unwrap();
        let e = read_text(&p).unwrap_err().to_string();
        assert!(e.contains("byte offset 3") && e.contains("UTF-8"), "{e}");
    }
}
