//! Remote objects (feature `remote`) against real servers on 127.0.0.1: our HTTP range
//! server (request counts, injected failures) and moto's S3 server. Every read is compared
//! with the bytes of the local file.
#![cfg(feature = "remote")]

use std::path::Path;
use std::time::{Duration, Instant};

use biobatch_formats::Error;
use biobatch_formats::remote::{RemoteFile, RemoteOptions};
use biobatch_tests::servers::{Fault, MotoServer, RangeServer};

/// Options for a test: its own cache, small blocks, fast retries.
fn opts(cache: &Path) -> RemoteOptions {
    RemoteOptions {
        cache_dir: cache.to_path_buf(),
        block_size: 4096,
        max_request: 64 << 10,
        retries: 2,
        backoff: Duration::from_millis(10),
        timeout: Duration::from_secs(10),
        ..Default::default()
    }
}

/// A deterministic file of `n` bytes.
fn content(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn served(n: usize) -> (tempfile::TempDir, RangeServer, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let data = content(n, n as u64);
    std::fs::create_dir_all(dir.path().join("www")).unwrap();
    std::fs::write(dir.path().join("www/obj.bin"), &data).unwrap();
    let server = RangeServer::start(&dir.path().join("www"));
    (dir, server, data)
}

#[test]
fn ranges_read_the_bytes_of_the_file_and_a_second_open_is_served_from_the_cache() {
    let (dir, server, data) = served(100_000);
    let cache = dir.path().join("cache");
    let f = RemoteFile::open_with(&server.url("obj.bin"), &opts(&cache)).unwrap();
    assert_eq!(f.len(), data.len() as u64);
    // Ranges across block edges, at the start, at the end, and empty ones.
    for (a, b) in [
        (0, 1),
        (4095, 4097),
        (10, 20_000),
        (99_999, 100_000),
        (50_000, 50_000),
        (0, 100_000),
    ] {
        let mut buf = vec![0u8; b - a];
        f.read_at(a as u64, &mut buf).unwrap();
        assert_eq!(buf, &data[a..b], "{a}..{b}");
    }
    let gets = server.gets();
    assert!(gets > 0);
    // Past the end: an error naming the URL and the range, no request.
    let e = f.read_range(99_990..100_001).unwrap_err().to_string();
    assert!(e.contains("obj.bin") && e.contains("99990..100001"), "{e}");
    assert_eq!(server.gets(), gets);

    // Another handle on the same cache (another epoch, another process): no data request.
    let again = RemoteFile::open_with(&server.url("obj.bin"), &opts(&cache)).unwrap();
    assert_eq!(again.read_all().unwrap(), data);
    assert_eq!(again.requests(), 0);
    assert_eq!(server.gets(), gets, "the second read made data requests");
}

#[test]
fn a_changed_object_is_read_again_never_mixed() {
    let (dir, server, data) = served(20_000);
    let cache = dir.path().join("cache");
    let url = server.url("obj.bin");
    let f = RemoteFile::open_with(&url, &opts(&cache)).unwrap();
    assert_eq!(f.read_range(0..8192).unwrap(), &data[..8192]);
    // The object changes (same size, new bytes: a new ETag).
    let new = content(20_000, 7);
    std::fs::write(server.root().join("obj.bin"), &new).unwrap();
    // A later modification time whatever the clock's granularity (the server's ETag is made
    // from the size and the modification time, as nginx's is).
    std::fs::File::options()
        .append(true)
        .open(server.root().join("obj.bin"))
        .unwrap()
        .set_modified(std::time::SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    // The open handle refuses the new version rather than mixing the two.
    let e = f.read_range(8192..20_000).unwrap_err();
    assert!(
        matches!(&e, Error::Remote { what, .. } if what.contains("changed")),
        "{e}"
    );
    // A new open sees the new ETag and reads the new bytes, not the cached old blocks.
    let g = RemoteFile::open_with(&url, &opts(&cache)).unwrap();
    assert_ne!(g.identity(), f.identity());
    assert_eq!(g.read_all().unwrap(), new);
    assert!(g.requests() > 0);
}

#[test]
fn missing_blocks_are_coalesced_into_few_requests() {
    let (dir, server, data) = served(64 * 4096);
    let f = RemoteFile::open_with(&server.url("obj.bin"), &opts(&dir.path().join("c"))).unwrap();
    let block = |i: u64| i * 4096..i * 4096 + 10;
    // Blocks 0, 1 and 3 (one-block gap): one request for 0..4.
    f.prefetch(&[block(0), block(1), block(3)]).unwrap();
    assert_eq!(f.requests(), 1);
    assert_eq!(
        server.log().last().unwrap().1.as_deref(),
        Some("bytes=0-16383")
    );
    // Blocks 10 and 20: two requests; 0..4 are cached and cost nothing.
    f.prefetch(&[block(20), block(10), block(2)]).unwrap();
    assert_eq!(f.requests(), 3);
    // A run longer than the request limit (16 blocks) is split.
    f.prefetch(std::slice::from_ref(&(40 * 4096..64 * 4096)))
        .unwrap();
    assert_eq!(f.requests(), 5);
    assert_eq!(server.gets(), 5);
    // All of it is right.
    assert_eq!(f.read_all().unwrap(), data);
}

#[test]
fn a_transient_failure_is_retried_and_a_permanent_one_is_a_clear_error() {
    let (dir, server, data) = served(30_000);
    let o = opts(&dir.path().join("c"));
    let url = server.url("obj.bin");
    let f = RemoteFile::open_with(&url, &o).unwrap();
    // One 500: retried, the bytes are right.
    server.fail_next(1, Fault::Status500);
    assert_eq!(f.read_range(0..5000).unwrap(), &data[..5000]);
    assert_eq!(server.gets(), 2);
    // 500s past the retries: an error with the URL, the range and the status.
    server.fail_next(10, Fault::Status500);
    let e = f.read_range(12_288..16_000).unwrap_err().to_string();
    assert!(
        e.contains(&url) && e.contains("12288..16384") && e.contains("500"),
        "{e}"
    );
    assert_eq!(server.gets(), 2 + 3, "one try and two retries");
}

#[test]
fn short_or_misplaced_bodies_are_never_served() {
    let (dir, server, data) = served(30_000);
    let f = RemoteFile::open_with(&server.url("obj.bin"), &opts(&dir.path().join("c"))).unwrap();
    // A body cut short every time: an error, not a short read.
    server.fail_next(10, Fault::Truncate);
    let e = f.read_range(0..8000).unwrap_err();
    assert!(matches!(e, Error::Remote { .. }), "{e}");
    // A Content-Range for other bytes: refused.
    server.fail_next(10, Fault::WrongRange);
    let e = f.read_range(8192..9000).unwrap_err();
    assert!(matches!(e, Error::Remote { .. }), "{e}");
    // Once the server behaves, the same reads give the file's bytes (nothing bad was cached).
    server.clear_faults();
    assert_eq!(f.read_all().unwrap(), data);
}

#[test]
fn a_stopped_server_gives_an_error_not_a_hang() {
    let (dir, mut server, _) = served(30_000);
    let f = RemoteFile::open_with(&server.url("obj.bin"), &opts(&dir.path().join("c"))).unwrap();
    f.read_range(0..100).unwrap();
    server.stop();
    let t = Instant::now();
    let e = f.read_range(20_000..20_100).unwrap_err().to_string();
    assert!(e.contains("obj.bin") && e.contains("20480"), "{e}");
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "took {:?}",
        t.elapsed()
    );
}

#[test]
fn a_missing_object_is_named() {
    let (dir, server, _) = served(10);
    let url = server.url("nope.bw");
    let e = RemoteFile::open_with(&url, &opts(&dir.path().join("c")))
        .unwrap_err()
        .to_string();
    assert!(e.contains(&url) && e.contains("not found"), "{e}");
}

#[test]
fn s3_objects_upload_and_read_back_through_moto() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    moto.create_bucket("bbtest");
    let dir = tempfile::tempdir().unwrap();
    let data = content(300_000, 3);
    let local = dir.path().join("x.bin");
    std::fs::write(&local, &data).unwrap();
    let mut o = opts(&dir.path().join("c"));
    o.store_options = moto.store_options();
    let url = "s3://bbtest/data/x.bin";
    biobatch_formats::remote::upload(&local, url, &o).unwrap();
    let f = RemoteFile::open_with(url, &o).unwrap();
    assert_eq!(f.len(), data.len() as u64);
    assert!(f.identity().etag.is_some());
    assert_eq!(f.read_range(123..250_000).unwrap(), &data[123..250_000]);
    assert_eq!(f.read_all().unwrap(), data);
    // A second handle reads from the cache.
    let g = RemoteFile::open_with(url, &o).unwrap();
    assert_eq!(g.read_all().unwrap(), data);
    assert_eq!(g.requests(), 0);
    // Past 32 MiB the upload is multipart; the object reads back whole.
    let big = content(33 << 20, 9);
    let big_local = dir.path().join("big.bin");
    std::fs::write(&big_local, &big).unwrap();
    biobatch_formats::remote::upload(&big_local, "s3://bbtest/data/big.bin", &o).unwrap();
    let b = RemoteFile::open_with("s3://bbtest/data/big.bin", &o).unwrap();
    assert_eq!(b.len(), big.len() as u64);
    assert_eq!(b.read_range(0..4096).unwrap(), &big[..4096]);
    let tail = big.len() as u64 - 5000;
    assert_eq!(
        b.read_range(tail - 100_000..tail).unwrap(),
        &big[tail as usize - 100_000..tail as usize]
    );
    // A missing key and a missing bucket are named.
    let e = RemoteFile::open_with("s3://bbtest/data/none.bin", &o)
        .unwrap_err()
        .to_string();
    assert!(e.contains("s3://bbtest/data/none.bin"), "{e}");
}

/// pyBigWig's values for a file's windows (tests/data/expected_bigwig.tsv), as windows and
/// the concatenated values.
fn pybigwig_windows(file: &str) -> (Vec<(String, i64, i64)>, Vec<f32>) {
    let mut windows = Vec::new();
    let mut values = Vec::new();
    for row in biobatch_tests::read_tsv("expected_bigwig.tsv") {
        if row[0] != file {
            continue;
        }
        windows.push((
            row[1].clone(),
            row[2].parse().unwrap(),
            row[3].parse().unwrap(),
        ));
        values.extend(crate::bigwig::parse_values(&row[4]));
    }
    (windows, values)
}

#[test]
fn a_bigwig_url_reads_what_pybigwig_read_and_the_second_pass_is_local() {
    use biobatch_formats::bigwig::{BigWig, Missing, ReadOptions, Window};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let server = RangeServer::start(&biobatch_tests::data(""));
    let o = opts(&dir.path().join("c"));
    for file in ["signal_plus.bw", "signal_minus.bw", "signal_fixed.bw"] {
        let (windows, expected) = pybigwig_windows(file);
        assert!(windows.len() > 30, "{file}");
        let ws: Vec<Window> = windows
            .iter()
            .map(|(c, s, e)| Window::new(c, *s, *e))
            .collect();
        let read = |bw: BigWig| {
            let bw = Arc::new(bw);
            let mut r = bw.reader_with(ReadOptions {
                missing: Missing::Nan,
                ..Default::default()
            });
            let mut got = vec![0f32; expected.len()];
            r.read_windows(&ws, &mut got).unwrap();
            got
        };
        let url = server.url(file);
        let before = server.gets();
        let remote = BigWig::from_remote(RemoteFile::open_with(&url, &o).unwrap()).unwrap();
        assert_eq!(remote.path(), Path::new(&url));
        let local = BigWig::open(biobatch_tests::data(file)).unwrap();
        assert_eq!(remote.chroms(), local.chroms());
        assert!(crate::bigwig::same(&read(remote), &expected), "{file}");
        assert!(server.gets() > before, "{file}: nothing was fetched");
        // Another open on the same cache: no data request at all.
        let before = server.gets();
        let again = BigWig::from_remote(RemoteFile::open_with(&url, &o).unwrap()).unwrap();
        assert!(crate::bigwig::same(&read(again), &expected), "{file} again");
        assert_eq!(
            server.gets(),
            before,
            "{file}: the second pass fetched data"
        );
    }
}

#[test]
fn fasta_and_bed_urls_read_what_the_local_files_hold() {
    use biobatch_formats::bed::read_bed;
    use biobatch_formats::fasta::{Fasta, Padding};
    let server = RangeServer::start(&biobatch_tests::data(""));
    let dir = tempfile::tempdir().unwrap();
    let o = opts(&dir.path().join("c"));
    for file in [
        "multi.fa",
        "lambda_virus.fa",
        "multi.fa.gz",
        "lambda_virus.fa.gz",
    ] {
        let local = Fasta::open(biobatch_tests::data(file)).unwrap();
        let remote =
            Fasta::from_remote(RemoteFile::open_with(&server.url(file), &o).unwrap()).unwrap();
        assert_eq!(
            remote.chroms().collect::<Vec<_>>(),
            local.chroms().collect::<Vec<_>>()
        );
        assert_eq!(remote.is_bgzf(), file.ends_with(".gz"));
        // Windows over every sequence: starts, ends, line breaks, padding past the ends.
        let mut windows = Vec::new();
        for (id, (_, len)) in local.chroms().enumerate() {
            let len = len as i64;
            for (s, e) in [
                (0, 1),
                (0, 70),
                (59, 141),
                (len - 5, len),
                (len - 3, len + 4),
            ] {
                windows.push((id, s.max(-2), e));
            }
            windows.push((id, -2, 3));
        }
        remote.prefetch(&windows).unwrap();
        for &(id, s, e) in &windows {
            let mut a = vec![0u8; (e - s) as usize];
            let mut b = a.clone();
            local.fetch_id_into(id, s, e, Padding::N, &mut a).unwrap();
            remote.fetch_id_into(id, s, e, Padding::N, &mut b).unwrap();
            assert_eq!(a, b, "{file} {id}:{s}-{e}");
        }
    }
    // A FASTA whose index is not beside it is refused with both URLs named.
    std::fs::create_dir_all(dir.path().join("www")).unwrap();
    std::fs::copy(
        biobatch_tests::data("multi.fa"),
        dir.path().join("www/x.fa"),
    )
    .unwrap();
    let bare = RangeServer::start(&dir.path().join("www"));
    let e = Fasta::from_remote(RemoteFile::open_with(&bare.url("x.fa"), &o).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains(&bare.url("x.fa.fai")), "{e}");
    // bgzip without its .gzi: refused, naming what is missing.
    std::fs::copy(
        biobatch_tests::data("multi.fa.gz"),
        dir.path().join("www/y.fa.gz"),
    )
    .unwrap();
    std::fs::copy(
        biobatch_tests::data("multi.fa.gz.fai"),
        dir.path().join("www/y.fa.gz.fai"),
    )
    .unwrap();
    let e = Fasta::from_remote(RemoteFile::open_with(&bare.url("y.fa.gz"), &o).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains(&bare.url("y.fa.gz.gzi")), "{e}");

    // BED, plain and gzip: the readers take the URL as they take a path, with the process's
    // remote options (no other test here opens a URL by path).
    biobatch_formats::remote::configure(o.clone()).unwrap();
    for file in [
        "a.bed",
        "rmsk.hg18.chr21.small.bed.gz",
        "example.narrowPeak",
    ] {
        let local = read_bed(biobatch_tests::data(file)).unwrap();
        let remote = read_bed(server.url(file)).unwrap();
        assert_eq!(remote, local, "{file}");
    }
}

#[test]
fn threads_that_need_the_same_blocks_at_once_fetch_them_once() {
    let (dir, server, data) = served(256 << 10);
    let f = RemoteFile::open_with(&server.url("obj.bin"), &opts(&dir.path().join("c"))).unwrap();
    let go = std::sync::Barrier::new(4);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                go.wait();
                // 16 blocks of 4 KiB: one request of 64 KiB.
                assert_eq!(f.read_range(0..64 << 10).unwrap(), &data[..64 << 10]);
            });
        }
    });
    assert_eq!(server.gets(), 1, "{:?}", server.log());
}
