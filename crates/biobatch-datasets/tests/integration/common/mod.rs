//! The shared fixture: a small genome, peaks and negatives, and bigWigs whose values encode
//! their position, so every window's alignment, jitter, reverse complement and strand swap
//! can be checked.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use biobatch_core::Batch;
use biobatch_datasets::{LoaderSettings, OneHotDtype, PeakConfig, PeakDataset};
use biobatch_formats::bigwig::{BedGraphEntry, write_bigwig};
use biobatch_loader::{BatchDataset, Loader, LoaderConfig};
use biobatch_sampling::{Partition, Plan};

pub(crate) const CHR1: usize = 2_000;

pub(crate) fn chr1() -> Vec<u8> {
    let mut x = 12345u64;
    (0..CHR1)
        .map(|i| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let b = b"ACGT"[(x >> 62) as usize];
            if (500..560).contains(&i) {
                b.to_ascii_lowercase()
            } else {
                b
            }
        })
        .collect()
}

pub(crate) fn track(dir: &Path, name: &str, f: impl Fn(usize) -> f32) -> PathBuf {
    let p = dir.join(name);
    let entries = (0..CHR1).map(|i| BedGraphEntry {
        chrom: "chr1".into(),
        start: i as u32,
        end: i as u32 + 1,
        value: f(i),
    });
    write_bigwig(
        &p,
        &[("chr1".into(), CHR1 as u32), ("chr2".into(), 300)],
        entries,
    )
    .unwrap();
    p
}

pub(crate) struct Fixture {
    pub dir: tempfile::TempDir,
    pub config: PeakConfig,
}

pub(crate) fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut fa = b">chr1\n".to_vec();
    for line in chr1().chunks(60) {
        fa.extend_from_slice(line);
        fa.push(b'\n');
    }
    // chr2 is shorter than a peak's span; chr3 has no signal in the bigWigs.
    fa.extend_from_slice(b">chr2\n");
    fa.extend(std::iter::repeat_n(b'A', 20));
    fa.extend_from_slice(b"\n>chr3\n");
    fa.extend(std::iter::repeat_n(b'C', 300));
    fa.push(b'\n');
    std::fs::write(d.join("g.fa"), fa).unwrap();
    // Peaks: narrowPeak with summits; one too close to chr1's end and one on the short chr2.
    let peaks = "chr1\t100\t200\tp0\t0\t.\t1\t1\t1\t30\n\
                 chr1\t480\t600\tp1\t0\t.\t1\t1\t1\t60\n\
                 chr1\t900\t950\tp2\t0\t.\t1\t1\t1\t0\n\
                 chr1\t1990\t2000\tedge\t0\t.\t1\t1\t1\t5\n\
                 chr2\t5\t15\tshort\t0\t.\t1\t1\t1\t5\n\
                 chr1\t1500\t1700\tp3\t0\t.\t1\t1\t1\t199\n";
    std::fs::write(d.join("peaks.narrowPeak"), peaks).unwrap();
    std::fs::write(d.join("neg.bed"), "chr1\t1200\t1300\nchr1\t50\t70\n").unwrap();
    let plus = track(d, "plus.bw", |p| p as f32 + 1.0);
    let minus = track(d, "minus.bw", |p| 100_000.0 + p as f32);
    let ctl = track(d, "ctl.bw", |p| 50_000.0 + p as f32);
    let config = PeakConfig {
        loader: LoaderSettings {
            batch_size: 3,
            num_workers: 2,
            ..Default::default()
        },
        peaks: vec![d.join("peaks.narrowPeak")],
        negatives: vec![d.join("neg.bed")],
        fasta: d.join("g.fa"),
        signals: vec![vec![plus, minus]],
        controls: vec![vec![ctl]],
        in_window: 20,
        out_window: 10,
        max_jitter: 3,
        negative_ratio: 0.5,
        summits: true,
        seed: Some(1),
        onehot_dtype: OneHotDtype::U8,
        ..Default::default()
    };
    Fixture { dir, config }
}

pub(crate) fn epoch(ds: PeakDataset, workers: usize, e: u64) -> Vec<Batch> {
    let plan = ds.plan(Partition::single()).unwrap();
    run_epoch(ds, plan, workers, e)
}

/// Epoch `e` of `plan` over `ds` in batches of 3 with `workers` threads.
pub(crate) fn run_epoch(
    ds: impl BatchDataset,
    plan: impl Plan + 'static,
    workers: usize,
    e: u64,
) -> Vec<Batch> {
    let loader = Loader::new(
        ds,
        plan,
        LoaderConfig {
            batch_size: 3,
            num_workers: workers,
            prefetch: 2,
            drop_last: false,
        },
    )
    .unwrap();
    loader
        .epoch(e)
        .unwrap()
        .map(|b| b.unwrap().into_inner())
        .collect()
}
