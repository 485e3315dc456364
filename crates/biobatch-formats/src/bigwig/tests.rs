//! Tests of [`super`].

use super::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data")
        .join(name)
}

#[test]
fn batch_and_single_reads_agree_and_inflate_once() {
    let bw = Arc::new(BigWig::open(fixture("signal_plus.bw")).unwrap());
    assert!(bw.num_blocks() > 10);
    let mut r = bw.reader_with(ReadOptions {
        cache_bytes: 0,
        ..Default::default()
    });
    // Many overlapping windows over chrA in scrambled order.
    let starts: Vec<i64> = (0..200).map(|i| (i * 7919 % 19_000) as i64).collect();
    let windows: Vec<Window> = starts
        .iter()
        .map(|&s| Window::new("chrA", s, s + 1000))
        .collect();
    let mut batch = vec![0f32; 200 * 1000];
    r.read_windows(&windows, &mut batch).unwrap();
    let chr_a_blocks = bw
        .index
        .blocks
        .iter()
        .filter(|b| b.chrom_id == bw.chroms[0].id)
        .count();
    assert!(
        r.blocks_inflated() <= chr_a_blocks as u64,
        "inflated {} blocks, chrA has {chr_a_blocks}",
        r.blocks_inflated()
    );
    let mut single = vec![0f32; 1000];
    for (i, w) in windows.iter().enumerate() {
        r.read_window(w.chrom, w.start, w.end, &mut single).unwrap();
        assert_eq!(&batch[i * 1000..(i + 1) * 1000], &single[..], "window {i}");
    }
}

#[test]
fn outside_and_absent_policies() {
    let bw = Arc::new(BigWig::open(fixture("signal_fixed.bw")).unwrap());
    let mut r = bw.reader();
    let mut out = [1f32; 10];
    // chrB is declared but has no data.
    r.read_window("chrB", 0, 10, &mut out).unwrap();
    assert_eq!(out, [0.0; 10]);
    let err = r
        .read_window("chrZ", 0, 10, &mut out)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no chromosome named `chrZ`"), "{err}");
    let mut r = bw.reader_with(ReadOptions {
        missing: Missing::Nan,
        absent_chrom: AbsentChrom::Missing,
        ..Default::default()
    });
    r.read_window("chrZ", 0, 10, &mut out).unwrap();
    assert!(out.iter().all(|v| v.is_nan()));
    // One warning per chromosome and file, however many windows and readers ask.
    r.read_window("chrZ", 20, 30, &mut out).unwrap();
    bw.reader_with(r.options())
        .read_window("chrZ", 0, 10, &mut out)
        .unwrap();
    assert_eq!(bw.warned.lock().unwrap().len(), 1);
    r.read_window("chrY", 0, 10, &mut out).unwrap();
    assert_eq!(bw.warned.lock().unwrap().len(), 2);
    r.read_window("chrA", -5, 5, &mut out).unwrap();
    assert!(out[..5].iter().all(|v| v.is_nan()));
    assert!(r.read_window("chrA", 5, 4, &mut []).is_err());
    assert!(r.read_window("chrA", 0, 4, &mut out).is_err());
}

#[test]
fn corrupt_files_are_errors_not_panics() {
    let good = std::fs::read(fixture("signal_plus.bw")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.bw");
    // Not a bigWig.
    std::fs::write(
        &p,
        b"hello, this is not a bigwig file at all; padding to 64 bytes....",
    )
    .unwrap();
    assert!(
        BigWig::open(&p)
            .unwrap_err()
            .to_string()
            .contains("bad magic")
    );
    // Truncated: the index or blocks lie past the end.
    std::fs::write(&p, &good[..good.len() / 2]).unwrap();
    let err = BigWig::open(&p).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    // Garbage inside every data block: open works, reads fail with the offset.
    let bw = BigWig::open(fixture("signal_plus.bw")).unwrap();
    let mut bad = good.clone();
    for b in &bw.index.blocks {
        let s = b.offset as usize;
        for x in &mut bad[s + 2..s + b.size as usize] {
            *x = 0xA5;
        }
    }
    std::fs::write(&p, &bad).unwrap();
    let bw = Arc::new(BigWig::open(&p).unwrap());
    let mut out = vec![0f32; 20_000];
    let err = bw
        .reader()
        .read_window("chrA", 0, 20_000, &mut out)
        .unwrap_err();
    match err {
        Error::Corrupt { offset, what, .. } => {
            assert!(bw.index.blocks.iter().any(|b| b.offset == offset));
            assert!(what.contains("inflate"), "{what}");
        }
        other => panic!("expected a corrupt-block error, got {other}"),
    }
}
