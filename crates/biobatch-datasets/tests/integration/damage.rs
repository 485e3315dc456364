//! Inputs that disagree with each other, settings that cannot work, and damaged cache
//! entries: each is an error naming what is wrong (or, under an explicit policy, a counted
//! drop) — never other data, a panic or a hang.

use crate::common;

use biobatch_datasets::{
    CacheStatus, IntervalConfig, IntervalDataset, MissingChrom, NanPolicy, PeakDataset,
};
use biobatch_formats::bigwig::{BedGraphEntry, write_bigwig};
use biobatch_sampling::Partition;
use common::{CHR1, fixture};

/// A bigWig over the fixture's genome with `chr1` as long as `len`, values `f(pos)`.
fn track(
    dir: &std::path::Path,
    name: &str,
    len: u32,
    f: impl Fn(u32) -> f32,
) -> std::path::PathBuf {
    let p = dir.join(name);
    let entries = (0..len).map(|i| BedGraphEntry {
        chrom: "chr1".into(),
        start: i,
        end: i + 1,
        value: f(i),
    });
    write_bigwig(&p, &[("chr1".into(), len), ("chr2".into(), 300)], entries).unwrap();
    p
}

#[test]
fn a_bigwig_of_another_assembly_is_refused_or_dropped_as_asked() {
    let fx = fixture();
    let d = fx.dir.path();
    // chr1 is 1,900 bases in this bigWig, 2,000 in the FASTA.
    let short = track(d, "short.bw", CHR1 as u32 - 100, |p| p as f32);
    let mut c = fx.config.clone();
    c.signals = vec![vec![short.clone()]];
    let e = PeakDataset::open(&c).unwrap_err().to_string();
    assert!(
        e.contains("peaks.narrowPeak:1")
            && e.contains("short.bw gives chromosome `chr1` 1900 bases, the FASTA 2000"),
        "{e}"
    );
    c.missing = MissingChrom::Drop;
    let e = PeakDataset::open(&c).unwrap_err().to_string();
    assert!(
        e.contains("no peaks left"),
        "every chr1 peak is dropped: {e}"
    );
    c.missing = MissingChrom::Zeros;
    let ds = PeakDataset::open(&c).unwrap();
    assert!(ds.num_peaks() > 0);
    // Intervals the same.
    std::fs::write(d.join("iv.bed"), "chr1\t100\t120\n").unwrap();
    let ic = IntervalConfig {
        intervals: vec![d.join("iv.bed")],
        fasta: d.join("g.fa"),
        tracks: vec![vec![short]],
        ..Default::default()
    };
    let e = IntervalDataset::open(&ic).unwrap_err().to_string();
    assert!(e.contains("iv.bed:1") && e.contains("1900 bases"), "{e}");
}

#[test]
fn nan_values_in_a_bigwig_are_refused_or_counted() {
    let fx = fixture();
    let d = fx.dir.path();
    let nan = track(d, "nan.bw", CHR1 as u32, |p| {
        if (125..135).contains(&p) {
            f32::NAN
        } else {
            1.0
        }
    });
    let mut c = fx.config.clone();
    c.signals = vec![vec![nan]];
    c.outlier_filter = false;
    let e = PeakDataset::open(&c).unwrap_err().to_string();
    assert!(
        e.contains("nan.bw") && e.contains("bases of the windows read are stored as NaN"),
        "{e}"
    );
    c.nan = NanPolicy::Zeros;
    let ds = PeakDataset::open(&c).unwrap();
    let counts = ds.nan_bases();
    assert_eq!(counts.len(), 2, "one signal track and one control track");
    // The peak at 100..200 with its summit at 130 has the signal window [122, 138) (out 10 ±
    // jitter 3): it covers the 10 NaN bases; no other window reaches them, and the fixture's
    // control track has none.
    assert_eq!(counts, [10, 0]);
}

#[test]
fn ratios_and_windows_that_cannot_work_are_refused_before_any_work() {
    let fx = fixture();
    let c = fx.config.clone();
    for (ratio, expected) in [
        (f64::NAN, "finite number"),
        (f64::INFINITY, "finite number"),
        (-1.0, "finite number"),
        (1e15, "at most 2^32"),
    ] {
        let mut c = c.clone();
        c.negative_ratio = ratio;
        let t = std::time::Instant::now();
        let e = PeakDataset::open(&c).unwrap_err().to_string();
        assert!(e.contains(expected), "{ratio}: {e}");
        assert!(t.elapsed().as_secs() < 10, "{ratio}: refused at once");
    }
    for (field, expected) in [("in", "in_window"), ("jitter", "max_jitter")] {
        let mut c = c.clone();
        match field {
            "in" => c.in_window = u32::MAX,
            _ => c.max_jitter = 1 << 30,
        }
        let e = PeakDataset::open(&c).unwrap_err().to_string();
        assert!(e.contains(expected) && e.contains("2^24"), "{e}");
    }
}

#[test]
fn a_batch_larger_than_the_epoch_allocates_the_epoch() {
    let fx = fixture();
    let mut c = fx.config.clone();
    c.loader.batch_size = 100_000_000;
    let ds = PeakDataset::open(&c).unwrap();
    let n = ds.num_peaks() + ds.num_peaks() / 2;
    let loader = ds.into_loader(Partition::single()).unwrap();
    let batches: Vec<_> = loader.epoch(0).unwrap().map(|b| b.unwrap()).collect();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].batch_size().unwrap(), Some(n));
    assert_eq!(batches[0].array("inputs/seq").unwrap().shape()[0], n);
}

#[cfg(unix)]
#[test]
fn a_fifo_where_the_cache_file_should_be_is_replaced_not_waited_on() {
    let fx = fixture();
    let mut c = fx.config.clone();
    c.cache_dir = Some(fx.dir.path().join("cache"));
    let first = PeakDataset::open(&c).unwrap();
    let CacheStatus::Built(path) = first.cache_status().clone() else {
        panic!("{:?}", first.cache_status())
    };
    drop(first);
    std::fs::remove_file(&path).unwrap();
    let made = std::process::Command::new("mkfifo").arg(&path).status();
    if !made.is_ok_and(|s| s.success()) {
        return;
    }
    let again = PeakDataset::open(&c).unwrap();
    assert!(
        matches!(again.cache_status(), CacheStatus::Rebuilt(_, why) if why.contains("not a regular file")),
        "{:?}",
        again.cache_status()
    );
    assert!(std::fs::metadata(&path).unwrap().is_file());
}
