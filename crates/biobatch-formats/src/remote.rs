//! Inputs at URLs: S3 (and S3-compatible endpoints), GCS, Azure and plain HTTP(S).
//!
//! Every reader that takes a path also takes a URL (`s3://bucket/key`, `gs://…`, `az://…`,
//! `https://host/path`); [`is_url`] tells them apart. With the `remote` feature a URL opens as
//! a [`RemoteFile`](self::RemoteFile): a byte-range source over
//! [object_store](https://docs.rs/object_store), configured the way object_store reads its
//! environment (`AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, `AWS_ACCESS_KEY_ID`, `AWS_REGION`,
//! `GOOGLE_SERVICE_ACCOUNT`, `AZURE_STORAGE_ACCOUNT_NAME`, …) plus the explicit
//! [`RemoteOptions::store_options`].
//!
//! # Reads
//!
//! The object is cut into fixed blocks ([`RemoteOptions::block_size`], 1 MiB by default).
//! A read asks for the blocks it covers; those found in memory or in the local block cache
//! cost no request, the others are fetched as runs of adjacent blocks (up to
//! [`RemoteOptions::max_request`] each), several in flight at once, every request carrying
//! `If-Match` with the ETag seen at open so that a changed object is an error, never a mix of
//! two versions. Transient failures (connection errors, 5xx, timeouts) are retried with
//! exponential backoff; a permanent one is an [`Error::Remote`] naming the URL, the byte range
//! and the server's answer. A body shorter than asked for, or for another range, is refused.
//!
//! # The block cache
//!
//! Blocks are kept in `cache_dir/blocks/<object>/`, the object named by a hash of its URL,
//! size, ETag and modification time, so a changed object is read again and never mixed with
//! the old one. Each block file carries its length and an XXH3 digest, checked when it is
//! read back (a damaged block is fetched again); files are written under a temporary name and
//! renamed. The cache holds at most [`RemoteOptions::cache_limit`] bytes: past it, the least
//! recently used blocks go. Several processes may share one cache directory (each rank of a
//! job, say); each keeps its own account of the limit, so together they may exceed it
//! briefly.
//!
//! # Runtime
//!
//! object_store is asynchronous; one small tokio runtime (two threads) runs its requests
//! behind the blocking API here, so the thread-based loaders call it as they call `pread`.

use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::Duration;

#[cfg(feature = "remote")]
mod blocks;
#[cfg(feature = "remote")]
mod file;
#[cfg(feature = "remote")]
mod store;
#[cfg(feature = "remote")]
mod upload;

#[cfg(feature = "remote")]
pub use file::{Identity, RemoteFile, RemoteReader};
#[cfg(feature = "remote")]
pub use upload::upload;

use crate::{Error, Result};

/// The URL schemes a path may start with to name a remote object.
pub const SCHEMES: &[&str] = &[
    "s3", "s3a", "gs", "az", "adl", "azure", "abfs", "abfss", "http", "https",
];

/// Whether `path` is a URL (`scheme://…` with a scheme of [`SCHEMES`]) rather than a file.
pub fn is_url(path: &Path) -> bool {
    path.to_str().is_some_and(|s| {
        s.split_once("://")
            .is_some_and(|(scheme, rest)| !rest.is_empty() && SCHEMES.contains(&scheme))
    })
}

/// The error for a URL given to a build without the `remote` feature, or to a reader that
/// cannot read it.
pub fn unsupported(path: &Path, what: &str) -> Error {
    Error::Invalid(format!(
        "{}: {what}; this build reads local files only (build biobatch with the `remote` \
         feature to read URLs)",
        path.display()
    ))
}

/// Bytes that change when the input at `path` changes, for the keys of caches built from it:
/// a local file's size, modification and change times, device and inode (ctime, device and
/// inode catch a same-size rewrite that kept the modification time, as `cp -p` or
/// `rsync -a --inplace` make); a URL's size, ETag and modification time, from one `HEAD`
/// request (with the `remote` feature).
pub fn fingerprint(path: &Path) -> Result<Vec<u8>> {
    if is_url(path) {
        #[cfg(feature = "remote")]
        {
            let f = RemoteFile::open(&path.to_string_lossy())?;
            let id = f.identity();
            let mut out = b"url\0".to_vec();
            out.extend_from_slice(&id.size.to_le_bytes());
            out.extend_from_slice(id.etag.as_deref().unwrap_or("").as_bytes());
            out.push(0);
            out.extend_from_slice(id.last_modified.as_bytes());
            return Ok(out);
        }
        #[cfg(not(feature = "remote"))]
        return Err(unsupported(path, "a URL"));
    }
    let m = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    #[cfg(unix)]
    let (ctime, device, inode) = {
        use std::os::unix::fs::MetadataExt;
        (
            (m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128) as u128,
            m.dev(),
            m.ino(),
        )
    };
    #[cfg(not(unix))]
    let (ctime, device, inode) = (0u128, 0u64, 0u64);
    let mut out = Vec::with_capacity(56);
    out.extend_from_slice(&m.len().to_le_bytes());
    out.extend_from_slice(&mtime.to_le_bytes());
    out.extend_from_slice(&ctime.to_le_bytes());
    out.extend_from_slice(&device.to_le_bytes());
    out.extend_from_slice(&inode.to_le_bytes());
    Ok(out)
}

/// How remote objects are read and cached.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteOptions {
    /// The cache directory: blocks go under `cache_dir/blocks` [default:
    /// [`crate::fs::default_cache_dir`], else a folder in the temporary directory].
    pub cache_dir: PathBuf,
    /// The most bytes the block cache keeps on disk (least recently used blocks go first).
    pub cache_limit: u64,
    /// The most bytes of blocks kept in memory, per object.
    pub memory_limit: u64,
    /// Bytes per block (a power of two from 4 KiB to 64 MiB).
    pub block_size: u64,
    /// The most bytes one request asks for (runs of adjacent missing blocks are merged up to
    /// this).
    pub max_request: u64,
    /// Requests in flight at once, per read.
    pub concurrency: usize,
    /// Retries of a transient failure (connection error, 5xx, timeout) before giving up.
    pub retries: usize,
    /// The first wait before a retry; it doubles up to two seconds.
    pub backoff: Duration,
    /// How long one request may take, including its body.
    pub timeout: Duration,
    /// Store settings as object_store names them (`aws_endpoint`, `aws_allow_http`,
    /// `aws_region`, `aws_skip_signature`, `google_service_account`, …), applied over the
    /// environment's.
    pub store_options: Vec<(String, String)>,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        RemoteOptions {
            cache_dir: crate::fs::default_cache_dir()
                .unwrap_or_else(|| std::env::temp_dir().join("biobatch-cache")),
            cache_limit: 20 << 30,
            memory_limit: 64 << 20,
            block_size: 1 << 20,
            max_request: 16 << 20,
            concurrency: 8,
            retries: 5,
            backoff: Duration::from_millis(100),
            timeout: Duration::from_secs(60),
            store_options: Vec::new(),
        }
    }
}

impl RemoteOptions {
    /// The defaults, with the cache limit from `$BIOBATCH_CACHE_LIMIT` (`500M`, `20G`, …)
    /// when it is set (the cache folder's variables are read by the defaults).
    pub fn from_env() -> Result<Self> {
        let mut o = RemoteOptions::default();
        if let Some(v) = std::env::var("BIOBATCH_CACHE_LIMIT")
            .ok()
            .filter(|v| !v.is_empty())
        {
            o.cache_limit =
                parse_size(&v).map_err(|e| Error::Invalid(format!("BIOBATCH_CACHE_LIMIT: {e}")))?;
        }
        Ok(o)
    }

    /// Checks the sizes (a block size that is not a power of two in range, a zero limit).
    pub fn validate(&self) -> Result<()> {
        if !self.block_size.is_power_of_two() || !(4 << 10..=64 << 20).contains(&self.block_size) {
            return Err(Error::Invalid(format!(
                "remote block size {} must be a power of two from 4 KiB to 64 MiB",
                self.block_size
            )));
        }
        if self.max_request < self.block_size {
            return Err(Error::Invalid(format!(
                "remote request size {} is smaller than a block ({})",
                self.max_request, self.block_size
            )));
        }
        if self.concurrency == 0 || self.cache_limit == 0 || self.memory_limit == 0 {
            return Err(Error::Invalid(
                "remote concurrency, cache limit and memory limit must be positive".into(),
            ));
        }
        Ok(())
    }
}

static DEFAULTS: RwLock<Option<RemoteOptions>> = RwLock::new(None);

/// Sets the options URLs opened by path ([`BigWig::open`](crate::bigwig::BigWig::open) and
/// the other readers) use in this process; the command line sets them from
/// `--cache-dir`/`--cache-limit`. Objects already open keep theirs.
pub fn configure(options: RemoteOptions) -> Result<()> {
    options.validate()?;
    *DEFAULTS.write().unwrap_or_else(|p| p.into_inner()) = Some(options);
    Ok(())
}

/// The options set by [`configure`], else [`RemoteOptions::from_env`] (the defaults, with a
/// warning, when the environment holds a bad value).
pub fn options() -> RemoteOptions {
    if let Some(o) = DEFAULTS.read().unwrap_or_else(|p| p.into_inner()).clone() {
        return o;
    }
    RemoteOptions::from_env().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "remote options from the environment ignored");
        RemoteOptions::default()
    })
}

/// A size with an optional unit (`500M`, `20G`, `1.5T`, `4096`; powers of 1024), as
/// `--cache-limit` takes it.
pub fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let unit = t[i..].to_ascii_uppercase();
            let m: u64 = match unit.trim_end_matches("IB").trim_end_matches('B') {
                "" => 1,
                "K" => 1 << 10,
                "M" => 1 << 20,
                "G" => 1 << 30,
                "T" => 1 << 40,
                _ => return Err(format!("`{s}`: unknown unit (use K, M, G or T)")),
            };
            (&t[..i], m)
        }
        None => (t, 1),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a size (e.g. 500M, 20G)"))?;
    let bytes = v * mult as f64;
    if !(bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("`{s}` is not a positive size"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths_are_told_apart() {
        for u in [
            "s3://bucket/key.bw",
            "gs://b/k",
            "https://host/x.fa",
            "http://127.0.0.1:9/a",
        ] {
            assert!(is_url(Path::new(u)), "{u}");
        }
        for p in [
            "data/x.bw",
            "/abs/s3:/x",
            "s3://",
            "ftp://host/x",
            "C:\\x",
            "x://y",
        ] {
            assert!(!is_url(Path::new(p)), "{p}");
        }
    }

    #[cfg(not(feature = "remote"))]
    #[test]
    fn a_build_without_the_feature_refuses_urls_by_name() {
        let url = "https://example.org/signal.bw";
        let e = crate::bigwig::BigWig::open(url).unwrap_err().to_string();
        assert!(e.contains(url) && e.contains("`remote` feature"), "{e}");
        let e = crate::text::open_text(url).err().unwrap().to_string();
        assert!(e.contains(url) && e.contains("`remote` feature"), "{e}");
        let e = fingerprint(Path::new(url)).unwrap_err().to_string();
        assert!(e.contains("`remote` feature"), "{e}");
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("500M").unwrap(), 500 << 20);
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_size("1.5k").unwrap(), 1536);
        for bad in ["", "-1G", "0", "12Q", "G", "nan"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn options_are_checked() {
        assert!(RemoteOptions::default().validate().is_ok());
        for o in [
            RemoteOptions {
                block_size: 3000,
                ..Default::default()
            },
            RemoteOptions {
                block_size: 1 << 30,
                ..Default::default()
            },
            RemoteOptions {
                max_request: 1024,
                ..Default::default()
            },
            RemoteOptions {
                concurrency: 0,
                ..Default::default()
            },
        ] {
            assert!(o.validate().is_err(), "{o:?}");
        }
    }
}
