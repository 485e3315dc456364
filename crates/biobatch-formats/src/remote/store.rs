//! The object_store client behind a URL, and the runtime its requests run on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::http::HttpBuilder;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};
use url::Url;

use super::RemoteOptions;
use crate::{Error, Result};

/// The runtime every request runs on: two threads, started on first use.
pub(super) fn runtime(url: &str) -> Result<&'static tokio::runtime::Runtime> {
    static RT: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("biobatch-remote")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| Error::Remote {
        url: url.to_string(),
        range: None,
        what: format!("could not start the I/O runtime: {e}"),
    })
}

/// Stores are built once per scheme, host and options, and shared: each holds a connection
/// pool.
type StoreKey = (String, String, String);

fn cached() -> &'static Mutex<HashMap<StoreKey, Arc<dyn ObjectStore>>> {
    static STORES: OnceLock<Mutex<HashMap<StoreKey, Arc<dyn ObjectStore>>>> = OnceLock::new();
    STORES.get_or_init(Default::default)
}

fn invalid(url: &str, what: impl Into<String>) -> Error {
    Error::Remote {
        url: url.to_string(),
        range: None,
        what: what.into(),
    }
}

/// The store serving `url` and the object's path in it.
pub(super) fn store_for(
    url: &str,
    opts: &RemoteOptions,
) -> Result<(Arc<dyn ObjectStore>, object_store::path::Path)> {
    let parsed = Url::parse(url).map_err(|e| invalid(url, format!("not a valid URL: {e}")))?;
    let host = parsed.host_str().unwrap_or_default().to_string();
    let (key_host, path) = match parsed.scheme() {
        // The bucket (or container) is the host; the key is the path.
        "s3" | "s3a" | "gs" | "az" | "adl" | "azure" | "abfs" | "abfss" => {
            (host.clone(), parsed.path().to_string())
        }
        "http" | "https" => (
            parsed[url::Position::BeforeHost..url::Position::AfterPort].to_string(),
            parsed.path().to_string(),
        ),
        other => return Err(invalid(url, format!("unsupported URL scheme `{other}`"))),
    };
    let path = object_store::path::Path::from_url_path(&path)
        .map_err(|e| invalid(url, format!("not a valid object path: {e}")))?;
    if path.as_ref().is_empty() {
        return Err(invalid(url, "names no object (the path is empty)"));
    }
    let key = (
        parsed.scheme().to_string(),
        key_host,
        format!(
            "{:?}",
            (
                &opts.store_options,
                opts.retries,
                opts.backoff,
                opts.timeout
            )
        ),
    );
    let mut stores = cached().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(s) = stores.get(&key) {
        return Ok((Arc::clone(s), path));
    }
    let store = build(url, &parsed, opts)?;
    stores.insert(key, Arc::clone(&store));
    Ok((store, path))
}

/// Settings from the environment (`PREFIX…` variables, as object_store's `from_env` reads
/// them) then the explicit ones, each applied where the backend knows the key.
fn settings(prefixes: &[&str], opts: &RemoteOptions) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| prefixes.iter().any(|p| k.starts_with(p)))
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    out.extend(opts.store_options.iter().cloned());
    out
}

fn client_and_retry(opts: &RemoteOptions) -> (ClientOptions, RetryConfig) {
    let client = ClientOptions::new()
        .with_timeout(opts.timeout)
        .with_connect_timeout(opts.timeout.min(std::time::Duration::from_secs(10)));
    let retry = RetryConfig {
        backoff: BackoffConfig {
            init_backoff: opts.backoff,
            max_backoff: std::time::Duration::from_secs(2).max(opts.backoff),
            base: 2.0,
        },
        max_retries: opts.retries,
        // Bounded by the count above; this only stops a run of slow failures early.
        retry_timeout: std::time::Duration::from_secs(300),
    };
    (client, retry)
}

fn build(url: &str, parsed: &Url, opts: &RemoteOptions) -> Result<Arc<dyn ObjectStore>> {
    let (client, retry) = client_and_retry(opts);
    let unknown = |k: &str| {
        tracing::debug!(
            url,
            key = k,
            "store setting not known to this backend, ignored"
        );
    };
    let fail = |e: object_store::Error| invalid(url, format!("could not set up the store: {e}"));
    let store: Arc<dyn ObjectStore> = match parsed.scheme() {
        "s3" | "s3a" => {
            let mut b = AmazonS3Builder::new()
                .with_client_options(client)
                .with_retry(retry);
            for (k, v) in settings(&["AWS_"], opts) {
                match k.parse() {
                    Ok(key) => b = b.with_config(key, v),
                    Err(_) => unknown(&k),
                }
            }
            Arc::new(b.with_url(url).build().map_err(fail)?)
        }
        "gs" => {
            let mut b = GoogleCloudStorageBuilder::new()
                .with_client_options(client)
                .with_retry(retry);
            for (k, v) in settings(&["GOOGLE_"], opts) {
                match k.parse() {
                    Ok(key) => b = b.with_config(key, v),
                    Err(_) => unknown(&k),
                }
            }
            Arc::new(b.with_url(url).build().map_err(fail)?)
        }
        "az" | "adl" | "azure" | "abfs" | "abfss" => {
            let mut b = MicrosoftAzureBuilder::new()
                .with_client_options(client)
                .with_retry(retry);
            for (k, v) in settings(&["AZURE_"], opts) {
                match k.parse() {
                    Ok(key) => b = b.with_config(key, v),
                    Err(_) => unknown(&k),
                }
            }
            Arc::new(b.with_url(url).build().map_err(fail)?)
        }
        _ => {
            // Plain HTTP(S): the origin is the store, the path the object. `http://` URLs
            // are allowed: the user wrote one.
            let origin = &parsed[..url::Position::BeforePath];
            let mut client = client.with_allow_http(parsed.scheme() == "http");
            for (k, v) in &opts.store_options {
                match k.parse() {
                    Ok(key) => client = client.with_config(key, v),
                    Err(_) => unknown(k),
                }
            }
            Arc::new(
                HttpBuilder::new()
                    .with_url(origin)
                    .with_client_options(client)
                    .with_retry(retry)
                    .build()
                    .map_err(fail)?,
            )
        }
    };
    Ok(store)
}
