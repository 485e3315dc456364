//! The extraction cache: a second open reads the same windows in place; touching an input,
//! changing an extraction setting or damaging the file rebuilds it; settings that shape only
//! sampling reuse it.

use crate::common;

use std::time::{Duration, SystemTime};

use biobatch_datasets::{CacheStatus, PeakDataset};
use common::{epoch, fixture};

fn status(ds: &PeakDataset) -> &'static str {
    ds.cache_status().name()
}

/// The cache files in `dir` (not their build locks).
fn cache_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().ends_with(".bbcache")
        })
        .count()
}

#[test]
fn a_valid_cache_is_read_in_place_and_gives_identical_batches() {
    let f = fixture();
    let cache = tempfile::tempdir().unwrap();
    let mut c = f.config.clone();
    let reference = epoch(PeakDataset::open(&c).unwrap(), 0, 2);
    c.cache_dir = Some(cache.path().to_path_buf());

    let built = PeakDataset::open(&c).unwrap();
    assert_eq!(status(&built), "built");
    assert!(!built.is_mapped());
    let CacheStatus::Built(path) = built.cache_status().clone() else {
        unreachable!()
    };
    assert!(path.exists());
    assert_eq!(epoch(built, 2, 2), reference);

    let hit = PeakDataset::open(&c).unwrap();
    assert_eq!(hit.cache_status(), &CacheStatus::Hit(path.clone()));
    assert!(hit.is_mapped(), "windows are read from the mapped file");
    assert_eq!((hit.num_peaks(), hit.num_negatives()), (4, 2));
    assert_eq!(hit.drops().off_chromosome, 2, "drop counts are restored");
    assert_eq!(
        hit.compact_tracks(),
        (false, true),
        "both track dtypes restored"
    );
    assert_eq!(epoch(hit, 1, 2), reference);

    // Settings that shape only sampling share the cache file.
    let mut other = c.clone();
    other.seed = Some(99);
    other.negative_ratio = 1.0;
    other.loader.batch_size = 5;
    assert_eq!(status(&PeakDataset::open(&other).unwrap()), "hit");
    // Only the cache file and its build lock are in the directory: no temporary files.
    assert_eq!(cache_files(cache.path()), 1);
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 2);
}

#[test]
fn touching_an_input_or_changing_extraction_settings_rebuilds() {
    let f = fixture();
    let cache = tempfile::tempdir().unwrap();
    let mut c = f.config.clone();
    c.cache_dir = Some(cache.path().to_path_buf());
    assert_eq!(status(&PeakDataset::open(&c).unwrap()), "built");

    // Touch a signal bigWig: same bytes, new modification time.
    let file = std::fs::File::options()
        .write(true)
        .open(&c.signals[0][1])
        .unwrap();
    file.set_modified(SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    let ds = PeakDataset::open(&c).unwrap();
    match ds.cache_status() {
        CacheStatus::Rebuilt(_, why) => assert!(why.contains("an input changed"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(status(&PeakDataset::open(&c).unwrap()), "hit");

    // Rewriting the peaks with one row fewer is seen, and the new count is used.
    let text = std::fs::read_to_string(&c.peaks[0]).unwrap();
    let fewer: Vec<&str> = text.lines().filter(|l| !l.contains("p3")).collect();
    std::fs::write(&c.peaks[0], fewer.join("\n")).unwrap();
    let ds = PeakDataset::open(&c).unwrap();
    assert_eq!((status(&ds), ds.num_peaks()), ("rebuilt", 3));

    // An extraction setting gives a file of its own.
    let mut wider = c.clone();
    wider.in_window = 24;
    let ds = PeakDataset::open(&wider).unwrap();
    assert_eq!(status(&ds), "built");
    assert_eq!(cache_files(cache.path()), 2);
    assert_eq!(status(&PeakDataset::open(&c).unwrap()), "hit");
}

#[test]
fn a_damaged_cache_is_detected_and_rebuilt() {
    let f = fixture();
    let cache = tempfile::tempdir().unwrap();
    let mut c = f.config.clone();
    let reference = epoch(PeakDataset::open(&c).unwrap(), 0, 0);
    c.cache_dir = Some(cache.path().to_path_buf());
    let CacheStatus::Built(path) = PeakDataset::open(&c).unwrap().cache_status().clone() else {
        panic!("expected a fresh file");
    };
    let good = std::fs::read(&path).unwrap();
    // One flipped bit in the last section, in the header, and a truncated file.
    let n = good.len();
    for (what, bytes) in [
        ("data", {
            let mut b = good.clone();
            b[n - 70] ^= 0x10;
            b
        }),
        ("header", {
            let mut b = good.clone();
            b[40] ^= 0x01;
            b
        }),
        ("truncated", good[..n / 2].to_vec()),
    ] {
        std::fs::write(&path, &bytes).unwrap();
        let ds = PeakDataset::open(&c).unwrap();
        match ds.cache_status() {
            CacheStatus::Rebuilt(_, why) => assert!(
                ["checksum", "padding", "truncated", "misplaced"]
                    .iter()
                    .any(|w| why.contains(w)),
                "{what}: {why}"
            ),
            other => panic!("{what}: {other:?}"),
        }
        assert_eq!(epoch(ds, 0, 0), reference, "{what}");
        assert_eq!(std::fs::read(&path).unwrap(), good, "{what}: rewritten");
    }
}

#[test]
fn an_unwritable_cache_directory_is_reported_not_fatal() {
    let f = fixture();
    let mut c = f.config.clone();
    // A regular file where the directory should be.
    let blocker = f.dir.path().join("not-a-dir");
    std::fs::write(&blocker, "x").unwrap();
    c.cache_dir = Some(blocker.join("cache"));
    let ds = PeakDataset::open(&c).unwrap();
    assert_eq!(status(&ds), "write_failed");
    assert_eq!(ds.num_peaks(), 4);
}

#[test]
fn processes_opening_at_once_build_once_and_all_get_the_same_batches() {
    let f = fixture();
    let cache = tempfile::tempdir().unwrap();
    let mut c = f.config.clone();
    let reference = epoch(PeakDataset::open(&c).unwrap(), 0, 1);
    c.cache_dir = Some(cache.path().to_path_buf());
    let statuses: Vec<&'static str> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let ds = PeakDataset::open(&c).unwrap();
                    let st = status(&ds);
                    assert_eq!(epoch(ds, 1, 1), reference);
                    st
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|&&s| s == "built").count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == "hit").count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(cache_files(cache.path()), 1);
}
