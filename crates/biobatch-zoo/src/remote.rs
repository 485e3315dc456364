//! Remote files (`{url, md5}` arguments): downloaded into a cache only when a model needs
//! them, and **always** checked against their MD5 — after every download and before every use
//! of a cached copy. A file that does not match is never used: it is deleted and the error
//! names the URL, the expected and the actual digest.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

use crate::spec::RemoteFile;
use crate::{BoxError, Error, Result};

/// The cache directory of remote files: `$BIOBATCH_CACHE_DIR/zoo`, else
/// `$XDG_CACHE_HOME/biobatch/zoo`, else `~/.cache/biobatch/zoo`.
pub fn cache_dir() -> Option<PathBuf> {
    biobatch_datasets::default_cache_dir().map(|d| d.join("zoo"))
}

/// The MD5 of a file, as 32 lowercase hex digits.
pub fn md5_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The cached file's name: the spec's `name`, else the URL's last path segment. Either must
/// be one plain file name, so a spec can never place a file outside its cache folder.
fn file_name(r: &RemoteFile) -> Result<String> {
    let name = r.name.clone().unwrap_or_else(|| {
        r.url
            .rsplit('/')
            .next()
            .filter(|s| !s.is_empty())
            .map(|s| s.split('?').next().unwrap_or(s).to_string())
            .unwrap_or_else(|| "file".into())
    });
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
        return Err(Error::Config(format!(
            "remote file {}: `{name}` is not a plain file name",
            r.url
        )));
    }
    Ok(name)
}

/// The MD5 a spec gives, checked to be 32 hex digits (it names the cache folder).
fn checked_md5(r: &RemoteFile) -> Result<String> {
    let md5 = r.md5.to_ascii_lowercase();
    if md5.len() != 32 || !md5.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Config(format!(
            "remote file {}: md5 `{}` is not 32 hex digits",
            r.url, r.md5
        )));
    }
    Ok(md5)
}

/// The local copy of `r` in `cache` (`cache/<md5>/<name>`): reused when its MD5 matches,
/// downloaded (to a temporary file, checked, then renamed) otherwise.
pub fn fetch(r: &RemoteFile, cache: &Path) -> Result<PathBuf> {
    let md5 = checked_md5(r)?;
    let dir = cache.join(&md5);
    let path = dir.join(file_name(r)?);
    if path.exists() {
        if md5_file(&path)? == md5 {
            return Ok(path);
        }
        tracing::warn!(file = %path.display(), "cached copy does not match its md5; downloading again");
        std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let mut tmp = biobatch_formats::fs::AtomicFile::create(&path)?;
    download(&r.url, tmp.file())?;
    let got = md5_file(tmp.temp_path())?;
    if got != md5 {
        // Dropped without a commit: the download is removed.
        return Err(Error::Md5 {
            url: r.url.clone(),
            expected: r.md5.clone(),
            got,
        });
    }
    tmp.commit()?;
    Ok(path)
}

fn download(url: &str, out: &mut std::fs::File) -> Result<()> {
    if let Some(local) = url.strip_prefix("file://") {
        let mut f = std::fs::File::open(local).map_err(|e| Error::io(Path::new(local), e))?;
        std::io::copy(&mut f, out).map_err(|e| Error::io(Path::new(local), e))?;
        return Ok(());
    }
    let agent = ureq::Agent::new_with_defaults();
    let failed = |source: BoxError| Error::Download {
        url: url.to_string(),
        source,
    };
    let resp = agent.get(url).call().map_err(|e| failed(e.into()))?;
    let mut body = resp.into_body();
    let mut reader = body.as_reader();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buf).map_err(|e| failed(e.into()))?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).map_err(|e| failed(e.into()))?;
    }
    out.flush().map_err(|e| failed(e.into()))?;
    Ok(())
}
