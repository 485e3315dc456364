//! Writing a local file to a URL.

use std::io::Read;
use std::path::Path;

use object_store::WriteMultipart;
use object_store::{ObjectStoreExt, PutPayload};

use super::{RemoteOptions, store};
use crate::{Error, Result};

/// Files up to this size go up in one `PUT`; larger ones as a multipart upload of parts this
/// size.
const PART: u64 = 32 << 20;

/// Uploads the file at `local` to `url`: one `PUT`, or a multipart upload for a large file.
/// Either way the object appears whole or not at all (a store publishes a `PUT`, or a
/// completed multipart upload, at once); a failed multipart upload is aborted.
pub fn upload(local: &Path, url: &str, opts: &RemoteOptions) -> Result<()> {
    opts.validate()?;
    let (store, path) = store::store_for(url, opts)?;
    let rt = store::runtime(url)?;
    let fail = |e: object_store::Error| Error::Remote {
        url: url.to_string(),
        range: None,
        what: format!("upload of {} failed: {e}", local.display()),
    };
    let mut file = crate::fs::open_regular(local)?;
    let len = file.metadata().map_err(|e| Error::io(local, e))?.len();
    if len <= PART {
        let mut bytes = Vec::with_capacity(len as usize);
        file.read_to_end(&mut bytes)
            .map_err(|e| Error::io(local, e))?;
        rt.block_on(store.put(&path, PutPayload::from(bytes)))
            .map_err(fail)?;
        return Ok(());
    }
    rt.block_on(async {
        let up = store.put_multipart(&path).await.map_err(fail)?;
        let mut w = WriteMultipart::new_with_chunk_size(up, PART as usize);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    let _ = w.abort().await;
                    return Err(Error::io(local, e));
                }
            };
            // Keeps a bounded number of parts in flight.
            if let Err(e) = w.wait_for_capacity(8).await {
                return Err(fail(e));
            }
            w.write(&buf[..n]);
        }
        w.finish().await.map_err(fail).map(drop)
    })
}
