//! PeakDataset semantics on a small fixture whose signal values encode their position, so
//! every window's alignment, jitter, reverse complement and strand swap can be checked.

use std::path::{Path, PathBuf};

use biobatch_core::Batch;
use biobatch_datasets::{OneHotDtype, PeakConfig, PeakDataset};
use biobatch_formats::bigwig::{BedGraphEntry, write_bigwig};
use biobatch_formats::sequence::{Layout, decode, reverse_complement};
use biobatch_loader::{Loader, LoaderConfig};
use biobatch_sampling::Partition;

const CHR1: usize = 2_000;

fn chr1() -> Vec<u8> {
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

fn track(dir: &Path, name: &str, f: impl Fn(usize) -> f32) -> PathBuf {
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

struct Fixture {
    _dir: tempfile::TempDir,
    config: PeakConfig,
}

fn fixture() -> Fixture {
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
        batch_size: 3,
        num_workers: 2,
        onehot_dtype: OneHotDtype::U8,
        ..Default::default()
    };
    Fixture { _dir: dir, config }
}

fn epoch(ds: PeakDataset, workers: usize, e: u64) -> Vec<Batch> {
    let plan = ds.plan(Partition::single()).unwrap();
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

#[test]
fn windows_jitter_and_reverse_complement_are_aligned() {
    let f = fixture();
    let ds = PeakDataset::open(&f.config).unwrap();
    assert_eq!((ds.num_peaks(), ds.num_negatives()), (4, 2));
    assert_eq!((ds.drops().off_chromosome, ds.drops().chrom_filter), (2, 0));
    // Minus-strand values reach 100,000 (f32); control values stay below 65,536 (u16).
    assert_eq!(ds.compact_tracks(), (false, true));
    // Centres (summit = start + column 10): rows 0, 1, 2, 5.
    let centres = [(0u64, 130i64), (1, 540), (2, 900), (5, 1699)];
    let neg_centres = [(0u64, 1250i64), (1, 60)];
    let genome = chr1();
    let (mut seen_rc, mut seen_jitter) = (false, std::collections::HashSet::new());
    let mut peak_rows = Vec::new();
    for e in 0..3 {
        for b in epoch(PeakDataset::open(&f.config).unwrap(), 2, e) {
            let n = b.array("targets/is_peak").unwrap().shape()[0];
            let seq = b.array("inputs/seq").unwrap().as_slice::<u8>().unwrap();
            let sig = b
                .array("targets/signal")
                .unwrap()
                .as_slice::<f32>()
                .unwrap();
            let ctl = b
                .array("inputs/controls")
                .unwrap()
                .as_slice::<f32>()
                .unwrap();
            for i in 0..n {
                let is_peak = b
                    .array("targets/is_peak")
                    .unwrap()
                    .as_slice::<u8>()
                    .unwrap()[i]
                    == 1;
                let jitter = b
                    .array("metadata/jitter")
                    .unwrap()
                    .as_slice::<i64>()
                    .unwrap()[i];
                let row = b.array("metadata/row").unwrap().as_slice::<i64>().unwrap()[i] as u64;
                let strand = &b
                    .array("metadata/ranges/strand")
                    .unwrap()
                    .as_slice::<String>()
                    .unwrap()[i];
                let start = b
                    .array("metadata/ranges/start")
                    .unwrap()
                    .as_slice::<i64>()
                    .unwrap()[i];
                let rc = strand == "-";
                let (centre, j) = if is_peak {
                    peak_rows.push((e, row));
                    (centres.iter().find(|c| c.0 == row).unwrap().1, 3)
                } else {
                    assert_eq!(jitter, 0, "negatives are not jittered");
                    (neg_centres.iter().find(|c| c.0 == row).unwrap().1, 0)
                };
                assert!((0..=2 * j).contains(&jitter));
                seen_jitter.insert(jitter);
                seen_rc |= rc;
                let in_start = centre - (20 + 2 * j) / 2 + jitter;
                let out_start = centre - (10 + 2 * j) / 2 + jitter;
                assert_eq!(start, in_start);
                // Sequence.
                let mut want: Vec<u8> = genome[in_start as usize..in_start as usize + 20]
                    .iter()
                    .map(|b| b.to_ascii_uppercase())
                    .collect();
                if rc {
                    reverse_complement(&mut want);
                }
                assert_eq!(
                    decode(&seq[i * 80..(i + 1) * 80], Layout::ChannelsFirst),
                    want,
                    "epoch {e} row {row} rc {rc}"
                );
                // Signals: plus encodes p + 1, minus 100000 + p; RC reverses and swaps strands.
                let plus: Vec<f32> = (out_start..out_start + 10)
                    .map(|p| p as f32 + 1.0)
                    .collect();
                let minus: Vec<f32> = (out_start..out_start + 10)
                    .map(|p| 100_000.0 + p as f32)
                    .collect();
                let (t0, t1) = if rc {
                    (
                        minus.iter().rev().copied().collect::<Vec<_>>(),
                        plus.iter().rev().copied().collect::<Vec<_>>(),
                    )
                } else {
                    (plus, minus)
                };
                assert_eq!(&sig[(i * 2) * 10..(i * 2 + 1) * 10], &t0[..]);
                assert_eq!(&sig[(i * 2 + 1) * 10..(i * 2 + 2) * 10], &t1[..]);
                // Controls (unstranded): reversed only.
                let mut c: Vec<f32> = (in_start..in_start + 20)
                    .map(|p| 50_000.0 + p as f32)
                    .collect();
                if rc {
                    c.reverse();
                }
                assert_eq!(&ctl[i * 20..(i + 1) * 20], &c[..]);
            }
        }
    }
    assert!(seen_rc, "reverse complement happened");
    assert!(
        seen_jitter.contains(&0) && seen_jitter.contains(&6),
        "both jitter ends reached: {seen_jitter:?}"
    );
    // Every peak exactly once per epoch, and floor(4 * 0.5) = 2 negatives.
    for e in 0..3 {
        let mut rows: Vec<u64> = peak_rows
            .iter()
            .filter(|(x, _)| *x == e)
            .map(|(_, r)| *r)
            .collect();
        rows.sort_unstable();
        assert_eq!(rows, [0, 1, 2, 5]);
    }
}

#[test]
fn exclusion_lists_and_count_filters_drop_and_count() {
    let f = fixture();
    let d = f.config.peaks[0].parent().unwrap();
    // Peak row 1 (centre 540) spans [527, 553): a region starting at 553 misses it, one
    // starting at 552 hits it.
    std::fs::write(d.join("miss.bed"), "chr1\t553\t560\n").unwrap();
    std::fs::write(d.join("hit.bed"), "chr1\t552\t560\n").unwrap();
    let mut c = f.config.clone();
    c.exclusion_lists = vec![d.join("miss.bed")];
    assert_eq!(PeakDataset::open(&c).unwrap().drops().excluded, 0);
    c.exclusion_lists = vec![d.join("hit.bed")];
    let ds = PeakDataset::open(&c).unwrap();
    assert_eq!((ds.num_peaks(), ds.drops().excluded), (3, 1));

    // Totals over the unjittered out window of both strands: 1,000,000 + 20·centre, i.e.
    // 1,002,600 / 1,010,800 / 1,018,000 / 1,033,980 for centres 130, 540, 900, 1699.
    let mut c = f.config.clone();
    c.min_counts = Some(1_010_000.0);
    c.max_counts = Some(1_030_000.0);
    let ds = PeakDataset::open(&c).unwrap();
    assert_eq!((ds.num_peaks(), ds.drops().count_filter), (2, 2));
    assert_eq!(ds.drops().outlier, 0);
    assert_eq!(
        ds.num_negatives(),
        2,
        "negatives are not count-filtered unless asked"
    );
    c.min_counts = Some(2_000_000.0);
    let e = PeakDataset::open(&c).unwrap_err().to_string();
    assert!(
        e.contains("no peaks left") && e.contains("4 outside the count limits"),
        "{e}"
    );
}

#[test]
fn batches_are_identical_for_any_worker_count() {
    let f = fixture();
    let a = epoch(PeakDataset::open(&f.config).unwrap(), 0, 1);
    let b = epoch(PeakDataset::open(&f.config).unwrap(), 2, 1);
    assert_eq!(a, b);
    assert_eq!(a.len(), 2); // 4 peaks + 2 negatives in batches of 3
}

#[test]
fn bad_inputs_are_clear_errors() {
    let f = fixture();
    let mut c = f.config.clone();
    c.chroms = vec!["chr2".into()];
    let e = PeakDataset::open(&c).unwrap_err().to_string();
    assert!(
        e.contains("no peaks left") && e.contains("5 not in `chroms`"),
        "{e}"
    );

    let mut c = f.config.clone();
    c.signals = vec![vec![
        c.signals[0][0].clone(),
        c.signals[0][1].clone(),
        c.signals[0][0].clone(),
    ]];
    assert!(
        PeakDataset::open(&c)
            .unwrap_err()
            .to_string()
            .contains("has 3 files")
    );

    let d = f.config.peaks[0].parent().unwrap();
    std::fs::write(d.join("bad.bed"), "chrX\t10\t20\n").unwrap();
    let mut c = f.config.clone();
    c.peaks = vec![d.join("bad.bed")];
    c.summits = false;
    let e = PeakDataset::open(&c).unwrap_err().to_string();
    assert!(
        e.contains("bad.bed:1") && e.contains("`chrX` is not in the FASTA"),
        "{e}"
    );

    let mut c = f.config.clone();
    c.peaks = vec![f.config.negatives[0].clone()];
    let e = PeakDataset::open(&c).unwrap_err().to_string();
    assert!(e.contains("no summit"), "{e}");

    // A chromosome without signal: an error naming it and the file, or zeros when asked.
    std::fs::write(d.join("chr3.bed"), "chr3\t100\t200\n").unwrap();
    let mut c = f.config.clone();
    c.peaks = vec![d.join("chr3.bed")];
    c.summits = false;
    let e = PeakDataset::open(&c).unwrap_err().to_string();
    assert!(
        e.contains("plus.bw") && e.contains("no chromosome named `chr3`"),
        "{e}"
    );
    c.missing = biobatch_formats::bigwig::AbsentChrom::Missing;
    let b = &epoch(PeakDataset::open(&c).unwrap(), 0, 0)[0];
    assert!(
        b.array("targets/signal")
            .unwrap()
            .as_slice::<f32>()
            .unwrap()
            .iter()
            .all(|&v| v == 0.0)
    );

    let mut c = f.config.clone();
    c.onehot_dtype = OneHotDtype::F32;
    let b = &epoch(PeakDataset::open(&c).unwrap(), 1, 0)[0];
    let seq = b.array("inputs/seq").unwrap().as_slice::<f32>().unwrap();
    assert_eq!(
        seq.iter().sum::<f32>(),
        (3 * 20) as f32,
        "one set channel per base"
    );
}
