//! PeakDataset semantics on a small fixture whose signal values encode their position, so
//! every window's alignment, jitter, reverse complement and strand swap can be checked.

use crate::common;

use biobatch_datasets::{MissingChrom, OneHotDtype, PeakDataset};
use biobatch_formats::sequence::{Layout, decode, reverse_complement};
use common::{chr1, epoch, fixture};

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
    c.missing = MissingChrom::Zeros;
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

#[test]
fn strict_turns_every_drop_into_an_error_naming_the_first_locus() {
    let f = fixture();
    let mut c = f.config.clone();
    c.strict = true;
    // Rows 3 (`edge`) and 4 (`short`) leave their chromosomes.
    let e = PeakDataset::open(&c).unwrap_err().to_string();
    assert!(
        e.starts_with("strict: 2 peaks dropped (off_chromosome)")
            && e.contains("peaks.narrowPeak:4")
            && e.contains("leaves the chromosome")
            && e.contains("turn `strict` off"),
        "{e}"
    );
    // Without those rows nothing is dropped, and strict opens.
    let d = f.dir.path();
    let text = std::fs::read_to_string(&c.peaks[0]).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains("edge") && !l.contains("short"))
        .collect();
    std::fs::write(d.join("inside.narrowPeak"), kept.join("\n")).unwrap();
    c.peaks = vec![d.join("inside.narrowPeak")];
    let ds = PeakDataset::open(&c).unwrap();
    assert_eq!((ds.num_peaks(), ds.drops().total()), (4, 0));
    // The `chroms` selection is not a drop: strict still opens.
    c.chroms = vec!["chr1".into()];
    assert_eq!(PeakDataset::open(&c).unwrap().num_peaks(), 4);
    // A count filter is.
    c.min_counts = Some(1_010_000.0);
    let e = PeakDataset::open(&c).unwrap_err().to_string();
    assert!(
        e.contains("1 peaks dropped (count_filter)") && e.contains("inside.narrowPeak:1"),
        "{e}"
    );
}

#[test]
fn missing_drop_drops_and_counts_loci_on_chromosomes_a_bigwig_lacks() {
    let f = fixture();
    let d = f.dir.path();
    std::fs::write(d.join("mixed.bed"), "chr3\t100\t200\nchr1\t900\t950\n").unwrap();
    let mut c = f.config.clone();
    c.peaks = vec![d.join("mixed.bed")];
    c.summits = false;
    c.missing = MissingChrom::Drop;
    let ds = PeakDataset::open(&c).unwrap();
    assert_eq!((ds.num_peaks(), ds.drops().missing_chromosome), (1, 1));
    let examples = ds.first_dropped_peaks();
    assert_eq!(examples.len(), 1);
    let first = &examples["missing_chromosome"];
    assert!(
        first.contains("mixed.bed:1") && first.contains("plus.bw"),
        "{first}"
    );
    c.strict = true;
    let e = PeakDataset::open(&c).unwrap_err().to_string();
    assert!(e.contains("missing_chromosome"), "{e}");
}

#[test]
fn ambiguous_bases_are_counted_and_malformed_records_name_file_and_line() {
    let f = fixture();
    let d = f.dir.path();
    // Five Ns at chr1:120..125, inside peak row 0's extracted span [117, 143) only.
    let mut genome = chr1();
    genome[120..125].copy_from_slice(b"NNNNN");
    let mut fa = b">chr1\n".to_vec();
    for line in genome.chunks(60) {
        fa.extend_from_slice(line);
        fa.push(b'\n');
    }
    fa.extend_from_slice(b">chr2\nAAAAAAAAAAAAAAAAAAAA\n>chr3\n");
    fa.extend(std::iter::repeat_n(b'C', 300));
    fa.push(b'\n');
    std::fs::write(d.join("n.fa"), fa).unwrap();
    let mut c = f.config.clone();
    c.fasta = d.join("n.fa");
    let ds = PeakDataset::open(&c).unwrap();
    assert_eq!(ds.ambiguous_bases(), (5, 0));

    for (name, text, want) in [
        ("rev.bed", "chr1\t10\t20\nchr1\t300\t200\n", "rev.bed:2"),
        ("short.bed", "chr1\t10\n", "short.bed:1"),
        (
            "summit.narrowPeak",
            "chr1\t100\t200\tp\t0\t.\t1\t1\t1\t150\n",
            "summit.narrowPeak:1",
        ),
    ] {
        std::fs::write(d.join(name), text).unwrap();
        let mut c = f.config.clone();
        c.peaks = vec![d.join(name)];
        c.summits = name.ends_with("narrowPeak");
        let e = PeakDataset::open(&c).unwrap_err().to_string();
        assert!(e.contains(want), "{name}: {e}");
    }
}

#[test]
fn a_plan_with_more_jitter_than_the_dataset_is_an_error_not_a_panic() {
    use biobatch_loader::{Loader, LoaderConfig};
    use biobatch_sampling::{Augment, Mixture, MixtureConfig, Partition};
    let f = fixture();
    let ds = PeakDataset::open(&f.config).unwrap();
    let plan = Mixture::new(
        ds.num_peaks() as u64,
        ds.num_negatives() as u64,
        MixtureConfig {
            seed: Some(1),
            negative_ratio: 0.5,
            shuffle: true,
            augment: Augment {
                max_jitter: 50,
                reverse_complement: false,
            },
            partition: Partition::single(),
        },
    )
    .unwrap();
    let cfg = LoaderConfig {
        batch_size: 6,
        num_workers: 1,
        prefetch: 1,
        drop_last: false,
    };
    let loader = Loader::new(ds, plan, cfg).unwrap();
    let e = loader
        .epoch(0)
        .unwrap()
        .next()
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(e.contains("max_jitter exceeds"), "{e}");
}
