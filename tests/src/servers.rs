//! Real servers for the remote-input tests, on 127.0.0.1 only, stopped when dropped.
//!
//! - [`RangeServer`]: a plain HTTP/1.1 file server with `Range`, `ETag`, `Last-Modified` and
//!   `If-Match`, which counts the requests it answers and can be told to fail the next ones in
//!   a given way (a 500, a truncated body, a wrong `Content-Range`) or to stop.
//! - [`MotoServer`]: moto's S3-compatible server (`pip install 'moto[server]'`), started as a
//!   process on a free port. `cargo xtask test` installs it and names it in
//!   `BIOBATCH_MOTO_SERVER`; when it is missing the S3 tests say so and pass, unless
//!   `BIOBATCH_REQUIRE_SERVERS` is set (as `cargo xtask test` sets it), when they fail.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A way to answer a request wrongly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `500 Internal Server Error`.
    Status500,
    /// The right headers, then half the body and a closed connection.
    Truncate,
    /// A `206` whose `Content-Range` (and bytes) start one byte later than asked.
    WrongRange,
}

#[derive(Default)]
struct Shared {
    stopped: AtomicBool,
    gets: AtomicU64,
    heads: AtomicU64,
    bytes: AtomicU64,
    faults: Mutex<VecDeque<Fault>>,
    /// Every GET's path and `Range` header, in order.
    log: Mutex<Vec<(String, Option<String>)>>,
}

/// A file server over a folder (see the [module docs](self)).
pub struct RangeServer {
    addr: String,
    root: PathBuf,
    shared: Arc<Shared>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl RangeServer {
    /// Serves the files under `root` on a free port of 127.0.0.1.
    pub fn start(root: &Path) -> RangeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr").to_string();
        let shared = Arc::new(Shared::default());
        let (s, r) = (Arc::clone(&shared), root.to_path_buf());
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (s, r) = (Arc::clone(&s), r.clone());
                std::thread::spawn(move || serve(conn, &r, &s));
            }
        });
        RangeServer {
            addr,
            root: root.to_path_buf(),
            shared,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:PORT/` + `rel`.
    pub fn url(&self, rel: &str) -> String {
        format!("http://{}/{rel}", self.addr)
    }

    /// The folder served.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `GET` requests answered so far (failed ones included).
    pub fn gets(&self) -> u64 {
        self.shared.gets.load(Ordering::SeqCst)
    }

    /// Body bytes sent so far.
    pub fn bytes_sent(&self) -> u64 {
        self.shared.bytes.load(Ordering::SeqCst)
    }

    /// `HEAD` requests answered so far.
    pub fn heads(&self) -> u64 {
        self.shared.heads.load(Ordering::SeqCst)
    }

    /// Every `GET` so far: its path and `Range` header.
    pub fn log(&self) -> Vec<(String, Option<String>)> {
        self.shared
            .log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The next `n` `GET`s fail with `fault`.
    pub fn fail_next(&self, n: usize, fault: Fault) {
        let mut f = self.shared.faults.lock().unwrap_or_else(|p| p.into_inner());
        f.extend(std::iter::repeat_n(fault, n));
    }

    /// Forgets the failures not yet served.
    pub fn clear_faults(&self) {
        self.shared
            .faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Stops answering: the port is closed and open connections end.
    pub fn stop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it drops the listener.
        let _ = TcpStream::connect(&self.addr);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

impl Drop for RangeServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An HTTP date (RFC 9110 IMF-fixdate) for a time since the epoch.
fn http_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let (h, m, s) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {d:02} {} {y} {h:02}:{m:02}:{s:02} GMT",
        WD[(days % 7) as usize],
        MON[(mo - 1) as usize]
    )
}

/// An ETag from the file's size and modification time (as nginx makes them): a rewrite
/// changes it without the server reading the file.
fn etag(meta: &std::fs::Metadata) -> String {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let tag = xxhash_rust::xxh3::xxh3_64(format!("{}-{mtime}", meta.len()).as_bytes());
    format!("\"{tag:016x}\"")
}

/// `bytes=a-b` or `bytes=a-` → `[a, b + 1)` clipped to `len`.
fn parse_range(h: &str, len: u64) -> Option<(u64, u64)> {
    let spec = h.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let a: u64 = a.trim().parse().ok()?;
    let b: u64 = match b.trim() {
        "" => len.checked_sub(1)?,
        b => b.parse().ok()?,
    };
    (a <= b && a < len).then(|| (a, (b + 1).min(len)))
}

fn serve(conn: TcpStream, root: &Path, s: &Shared) {
    let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
    let Ok(write_half) = conn.try_clone() else {
        return;
    };
    let mut out = write_half;
    let mut rd = BufReader::new(conn);
    loop {
        // The request line and headers, polling the stop flag while idle.
        let mut head = Vec::<String>::new();
        let mut line = String::new();
        loop {
            if s.stopped.load(Ordering::SeqCst) {
                let _ = out.shutdown(Shutdown::Both);
                return;
            }
            match rd.read_line(&mut line) {
                Ok(0) => return,
                Ok(_) => {
                    let l = line.trim_end().to_string();
                    line.clear();
                    if l.is_empty() {
                        if head.is_empty() {
                            continue;
                        }
                        break;
                    }
                    head.push(l);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue;
                }
                Err(_) => return,
            }
        }
        let mut parts = head[0].split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("/").to_string(),
        );
        let header = |name: &str| {
            head[1..].iter().find_map(|h| {
                let (k, v) = h.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
        };
        let content_len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if content_len > 0 {
            let mut body = vec![0u8; content_len];
            if rd.read_exact(&mut body).is_err() {
                return;
            }
        }
        let rel = target
            .trim_start_matches('/')
            .split('?')
            .next()
            .unwrap_or("");
        let file = root.join(rel);
        let meta = if rel.is_empty() || rel.split('/').any(|c| c == "..") {
            None
        } else {
            std::fs::metadata(&file).ok().filter(|m| m.is_file())
        };
        let ok = match (&method[..], meta) {
            ("HEAD", Some(m)) => {
                s.heads.fetch_add(1, Ordering::SeqCst);
                write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nETag: {}\r\nLast-Modified: {}\r\n\
                     Accept-Ranges: bytes\r\n\r\n",
                    m.len(),
                    etag(&m),
                    http_date(m.modified().unwrap_or(UNIX_EPOCH))
                )
                .is_ok()
            }
            ("GET", Some(m)) => {
                s.gets.fetch_add(1, Ordering::SeqCst);
                let range_h = header("range");
                s.log
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((rel.to_string(), range_h.clone()));
                let fault = s
                    .faults
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .pop_front();
                answer_get(&mut out, s, &file, &m, range_h, header("if-match"), fault)
            }
            ("HEAD" | "GET", None) => {
                if method == "GET" {
                    s.gets.fetch_add(1, Ordering::SeqCst);
                }
                out.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                    .is_ok()
            }
            _ => out
                .write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                .is_ok(),
        };
        if !ok || out.flush().is_err() {
            return;
        }
    }
}

fn answer_get(
    out: &mut TcpStream,
    s: &Shared,
    file: &Path,
    meta: &std::fs::Metadata,
    range: Option<String>,
    if_match: Option<String>,
    fault: Option<Fault>,
) -> bool {
    let tag = etag(meta);
    let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
    if let Some(m) = if_match
        && m.trim() != "*"
        && !m.split(',').any(|t| t.trim() == tag)
    {
        return out
            .write_all(b"HTTP/1.1 412 Precondition Failed\r\nContent-Length: 0\r\n\r\n")
            .is_ok();
    }
    if fault == Some(Fault::Status500) {
        return out
            .write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
            .is_ok();
    }
    let len = meta.len();
    let (status, (a, b)) = match range.as_deref().map(|h| parse_range(h, len)) {
        None => ("200 OK", (0, len)),
        Some(Some(r)) => ("206 Partial Content", r),
        Some(None) => {
            return write!(
                out,
                "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\n\
                 Content-Length: 0\r\n\r\n"
            )
            .is_ok();
        }
    };
    let (a, b) = if fault == Some(Fault::WrongRange) && b < len {
        (a + 1, b + 1)
    } else {
        (a, b)
    };
    // Only the bytes asked for are read.
    let mut body = vec![0u8; (b - a) as usize];
    let read = std::fs::File::open(file).and_then(|mut f| {
        use std::io::Seek;
        f.seek(std::io::SeekFrom::Start(a))?;
        f.read_exact(&mut body)
    });
    if read.is_err() {
        return out
            .write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
            .is_ok();
    }
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nETag: {tag}\r\nLast-Modified: {}\r\n\
         Accept-Ranges: bytes\r\n",
        body.len(),
        http_date(mtime)
    );
    if status.starts_with("206") {
        head.push_str(&format!("Content-Range: bytes {a}-{}/{len}\r\n", b - 1));
    }
    head.push_str("\r\n");
    if out.write_all(head.as_bytes()).is_err() {
        return false;
    }
    if fault == Some(Fault::Truncate) {
        let _ = out.write_all(&body[..body.len() / 2]);
        let _ = out.flush();
        let _ = out.shutdown(Shutdown::Both);
        return false;
    }
    s.bytes.fetch_add(body.len() as u64, Ordering::SeqCst);
    out.write_all(&body).is_ok()
}

/// moto's S3 server, as a process on a free port of 127.0.0.1 (see the [module docs](self)).
pub struct MotoServer {
    child: Child,
    port: u16,
}

impl MotoServer {
    /// Starts it, or says why not: `None` when moto is not installed and servers are not
    /// required (the caller skips, saying so).
    pub fn start() -> Option<MotoServer> {
        let required = std::env::var_os("BIOBATCH_REQUIRE_SERVERS").is_some();
        let program = std::env::var_os("BIOBATCH_MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("moto_server"));
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) if !required => {
                eprintln!(
                    "skipped: no S3 test server ({} could not start: {e}); `cargo xtask test` \
                     installs moto",
                    program.display()
                );
                return None;
            }
            Err(e) => panic!(
                "{} could not start ({e}); BIOBATCH_REQUIRE_SERVERS is set",
                program.display()
            ),
        };
        let mut server = MotoServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("moto_server exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen in 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(server)
    }

    /// `http://127.0.0.1:PORT`, the `aws_endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a bucket (an unsigned `PUT /bucket`, which moto accepts).
    pub fn create_bucket(&self, name: &str) {
        let mut c = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to moto");
        write!(
            c,
            "PUT /{name} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .expect("send");
        let mut answer = String::new();
        let _ = c.read_to_string(&mut answer);
        assert!(
            answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"),
            "create bucket {name}: {}",
            answer.lines().next().unwrap_or("")
        );
    }

    /// The store settings that point object_store at this server.
    pub fn store_options(&self) -> Vec<(String, String)> {
        [
            ("aws_endpoint", self.endpoint()),
            ("aws_allow_http", "true".into()),
            ("aws_access_key_id", "testing".into()),
            ("aws_secret_access_key", "testing".into()),
            ("aws_region", "us-east-1".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_match_known_days() {
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        let t = UNIX_EPOCH + Duration::from_secs(1_784_000_000);
        // date -u -d @1784000000: Tue Jul 14 03:33:20 UTC 2026
        assert_eq!(http_date(t), "Tue, 14 Jul 2026 03:33:20 GMT");
    }

    #[test]
    fn ranges_parse_and_clip() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 10)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 100)));
        assert_eq!(parse_range("bytes=95-200", 100), Some((95, 100)));
        assert_eq!(parse_range("bytes=100-101", 100), None);
        assert_eq!(parse_range("bytes=5-1", 100), None);
    }
}
