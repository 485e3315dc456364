//! IntervalDataset against brute force: every window, label and bin recomputed from the
//! genome string and the position-encoded bigWigs of the shared fixture.

use crate::common;

use std::path::Path;

use biobatch_core::Batch;
use biobatch_datasets::{
    IntervalConfig, IntervalDataset, LoaderSettings, MissingChrom, OneHotDtype, OutOfBounds,
};
use biobatch_formats::sequence::{Layout, decode};
use biobatch_sampling::Partition;
use common::{CHR1, chr1, fixture};

fn revcomp(s: &[u8]) -> Vec<u8> {
    s.iter()
        .rev()
        .map(|&b| match b.to_ascii_uppercase() {
            b'A' => b'T',
            b'C' => b'G',
            b'G' => b'C',
            b'T' => b'A',
            _ => b'N',
        })
        .collect()
}

/// The plus and minus fixture tracks' value at position `p` of chr1 (0 off the chromosome).
fn plus(p: i64) -> f32 {
    if (0..CHR1 as i64).contains(&p) {
        p as f32 + 1.0
    } else {
        0.0
    }
}
fn minus(p: i64) -> f32 {
    if (0..CHR1 as i64).contains(&p) {
        100_000.0 + p as f32
    } else {
        0.0
    }
}

fn epoch(ds: IntervalDataset, workers: usize, e: u64) -> Vec<Batch> {
    let plan = ds.plan(Partition::single()).unwrap();
    common::run_epoch(ds, plan, workers, e)
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Intervals with a header naming the label columns, a name column, and labels.
const INTERVALS: &str = "#chrom\tstart\tend\tname\tbound\tscore\n\
                         chr1\t100\t200\tr0\t1\t0.5\n\
                         chr1\t480\t600\tr1\t0\t-2.25\n\
                         chr1\t900\t950\tr2\t1\tNaN\n\
                         chr1\t1500\t1700\tr3\t0\t7\n";

/// What every example of a batch must hold, recomputed from the genome and the tracks.
fn check_batch(b: &Batch, c: &IntervalConfig, starts_by_id: &[(&str, i64, [f32; 2])]) {
    let genome = chr1();
    let l = c.sequence_length.unwrap() as i64;
    let tl = c.target_length.unwrap_or(c.sequence_length.unwrap()) as i64;
    let bin = c.bin_size as i64;
    let n = b.batch_size().unwrap().unwrap();
    let seq = b.array("inputs/seq").unwrap();
    let ids = b.array("metadata/ranges/id").unwrap();
    let ids = ids.as_slice::<String>().unwrap();
    let starts = b.array("metadata/ranges/start").unwrap();
    let ends = b.array("metadata/ranges/end").unwrap();
    let jit = b.array("metadata/jitter").unwrap();
    let strand = b.array("metadata/ranges/strand").unwrap();
    let labels = b.array("targets/labels").unwrap();
    let tracks = b.array("targets/tracks").unwrap();
    let bins = (tl / bin) as usize;
    assert_eq!(tracks.shape(), &[n, 2, bins]);
    for (i, id) in ids.iter().enumerate() {
        let (_, centre, want_labels) = starts_by_id
            .iter()
            .find(|(x, ..)| x == id)
            .unwrap_or_else(|| panic!("unknown id {id}"));
        let j = jit.as_slice::<i64>().unwrap()[i];
        let shift = j - c.max_jitter as i64;
        let start = centre - l / 2 + shift;
        assert_eq!(starts.as_slice::<i64>().unwrap()[i], start);
        assert_eq!(ends.as_slice::<i64>().unwrap()[i], start + l);
        let rc = strand.as_slice::<String>().unwrap()[i] == "-";
        let window = &genome[start as usize..(start + l) as usize];
        let want = if rc {
            revcomp(window)
        } else {
            window.to_ascii_uppercase()
        };
        let one: Vec<u8> = match c.onehot_dtype {
            OneHotDtype::U8 => decode(
                &seq.as_slice::<u8>().unwrap()[i * 4 * l as usize..(i + 1) * 4 * l as usize],
                c.layout,
            ),
            OneHotDtype::F32 => decode(
                &seq.as_slice::<f32>().unwrap()[i * 4 * l as usize..(i + 1) * 4 * l as usize],
                c.layout,
            ),
        };
        assert_eq!(one, want, "example {i} ({id})");
        let got = &labels.as_slice::<f32>().unwrap()[i * 2..i * 2 + 2];
        for (g, w) in got.iter().zip(want_labels) {
            assert!(
                g == w || (g.is_nan() && w.is_nan()),
                "{got:?} vs {want_labels:?}"
            );
        }
        // Tracks: bin means of the position-encoded values; under reverse complement the
        // window is reversed and the strands swapped.
        let tstart = centre - tl / 2 + shift;
        for (k, f) in [plus as fn(i64) -> f32, minus].into_iter().enumerate() {
            let source: fn(i64) -> f32 = if rc { [minus, plus][k] } else { f };
            let per_base: Vec<f32> = if rc {
                (0..tl).rev().map(|p| source(tstart + p)).collect()
            } else {
                (0..tl).map(|p| source(tstart + p)).collect()
            };
            let want: Vec<f32> = per_base
                .chunks(bin as usize)
                .map(|c| c.iter().sum::<f32>() / bin as f32)
                .collect();
            let got =
                &tracks.as_slice::<f32>().unwrap()[(i * 2 + k) * bins..(i * 2 + k + 1) * bins];
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() <= w.abs() * 1e-6,
                    "track {k}: {got:?} vs {want:?}"
                );
            }
        }
    }
}

fn config(dir: &Path, bed: &str) -> IntervalConfig {
    let d = dir;
    IntervalConfig {
        intervals: vec![write(d, "iv.bed", bed)],
        fasta: d.join("g.fa"),
        sequence_length: Some(60),
        labels: Some("5-".into()),
        tracks: vec![vec![d.join("plus.bw"), d.join("minus.bw")]],
        target_length: Some(24),
        bin_size: 4,
        seed: Some(3),
        ..Default::default()
    }
}

const EXPECTED: [(&str, i64, [f32; 2]); 4] = [
    ("r0", 150, [1.0, 0.5]),
    ("r1", 540, [0.0, -2.25]),
    ("r2", 925, [1.0, f32::NAN]),
    ("r3", 1600, [0.0, 7.0]),
];

#[test]
fn windows_labels_and_bins_match_brute_force() {
    let fx = fixture();
    for (layout, dtype) in [
        (Layout::ChannelsFirst, OneHotDtype::U8),
        (Layout::LengthFirst, OneHotDtype::F32),
    ] {
        let c = IntervalConfig {
            layout,
            onehot_dtype: dtype,
            shuffle: false,
            ..config(fx.dir.path(), INTERVALS)
        };
        let ds = IntervalDataset::open(&c).unwrap();
        assert_eq!(ds.len(), 4);
        assert_eq!(ds.label_names(), ["bound", "score"]);
        assert_eq!(
            (ds.sequence_length(), ds.bins(), ds.num_tracks()),
            (60, 6, 2)
        );
        let schema = ds.schema();
        let batches = epoch(ds, 2, 0);
        let ids: Vec<String> = batches
            .iter()
            .flat_map(|b| {
                b.array("metadata/ranges/id")
                    .unwrap()
                    .as_slice::<String>()
                    .unwrap()
                    .to_vec()
            })
            .collect();
        assert_eq!(ids, ["r0", "r1", "r2", "r3"], "file order without shuffle");
        for b in &batches {
            schema.validate(b).unwrap();
            check_batch(b, &c, &EXPECTED);
        }
    }
}

#[test]
fn jitter_strand_and_reverse_complement_move_sequence_and_tracks_together() {
    let fx = fixture();
    // BED6 + labels: r1 and r3 are on the minus strand.
    let bed = "chr1\t100\t200\tr0\t1\t+\t1\t0.5\n\
               chr1\t480\t600\tr1\t0\t-\t0\t-2.25\n\
               chr1\t900\t950\tr2\t0\t.\t1\tNaN\n\
               chr1\t1500\t1700\tr3\t0\t-\t0\t7\n";
    let c = IntervalConfig {
        use_strand: true,
        labels: Some("7-".into()),
        max_jitter: 5,
        reverse_complement: true,
        ..config(fx.dir.path(), bed)
    };
    let (mut flipped, mut shifted, mut minus_seen) = (0, 0, 0);
    for e in 0..6 {
        let ds = IntervalDataset::open(&c).unwrap();
        for b in epoch(ds, 1, e) {
            check_batch(&b, &c, &EXPECTED);
            let strand = b.array("metadata/ranges/strand").unwrap();
            flipped += strand
                .as_slice::<String>()
                .unwrap()
                .iter()
                .filter(|s| *s == "-")
                .count();
            shifted += b
                .array("metadata/jitter")
                .unwrap()
                .as_slice::<i64>()
                .unwrap()
                .iter()
                .filter(|&&j| j != 5)
                .count();
            minus_seen += b.batch_size().unwrap().unwrap();
        }
    }
    assert_eq!(minus_seen, 24);
    assert!(
        flipped > 0 && flipped < 24,
        "{flipped} of 24 given as minus"
    );
    assert!(shifted > 12, "jitter hardly used: {shifted} of 24");
    // Without augmentation the strand alone decides: r1 and r3 read on the minus strand.
    let plain = IntervalDataset::open(&IntervalConfig {
        max_jitter: 0,
        reverse_complement: false,
        shuffle: false,
        ..c.clone()
    })
    .unwrap();
    let b = &epoch(plain, 0, 0)[0];
    let strand = b.array("metadata/ranges/strand").unwrap();
    assert_eq!(strand.as_slice::<String>().unwrap(), ["+", "-", "+"]);
}

#[test]
fn same_batches_for_any_worker_count_and_after_resume() {
    let fx = fixture();
    let c = IntervalConfig {
        loader: LoaderSettings {
            batch_size: 3,
            ..Default::default()
        },
        max_jitter: 7,
        reverse_complement: true,
        // NaN labels would make equal batches compare unequal.
        ..config(fx.dir.path(), &INTERVALS.repeat(5).replace("NaN", "3"))
    };
    let reference = epoch(IntervalDataset::open(&c).unwrap(), 0, 2);
    assert_eq!(reference.len(), 7, "20 intervals in batches of 3");
    for workers in [1, 3] {
        let got = epoch(IntervalDataset::open(&c).unwrap(), workers, 2);
        assert!(got == reference, "{workers} workers give other batches");
    }
    let other = epoch(IntervalDataset::open(&c).unwrap(), 0, 3);
    assert!(other != reference, "epochs differ");
    // Resume after the third batch of epoch 2: the rest is the same.
    let loader = IntervalDataset::open(&c)
        .unwrap()
        .into_loader(Partition::single())
        .unwrap();
    let mut it = loader.epoch(2).unwrap();
    let mut cursor = None;
    for _ in 0..3 {
        cursor = Some(it.next().unwrap().unwrap().cursor_after());
    }
    drop(it);
    let rest: Vec<Batch> = loader
        .resume(&cursor.unwrap())
        .unwrap()
        .map(|b| b.unwrap().into_inner())
        .collect();
    assert!(rest[..] == reference[3..], "resumed batches differ");
}

#[test]
fn bad_input_is_an_error_naming_file_line_and_field() {
    let fx = fixture();
    let d = fx.dir.path();
    let err = |bed: &str, f: &dyn Fn(&mut IntervalConfig)| {
        let mut c = config(d, bed);
        f(&mut c);
        IntervalDataset::open(&c).unwrap_err().to_string()
    };
    let none = &|_: &mut IntervalConfig| {};
    let cases: Vec<(String, &[&str])> = vec![
        (
            err("chr1\t100\t200\tx\t1\t2\nchr1\tten\t200\tx\t1\t2\n", none),
            &["iv.bed:2", "column 2 (start)", "`ten`"],
        ),
        (
            err("chr1\t100\t200\tx\t1\t2\nchr1\t100\t200\tx\t1\n", none),
            &["iv.bed:2", "6 columns as on line 1, got 5"],
        ),
        (
            err("chr1\t100\t200\tx\t1\tNA\n", none),
            &["iv.bed:1", "column 6 (label `column 6`)", "`NA`"],
        ),
        (
            err("chrX\t100\t200\tx\t1\t2\n", none),
            &["iv.bed:1", "`chrX`", "not in the FASTA"],
        ),
        (
            err("chr1\t1990\t2000\tx\t1\t2\n", none),
            &[
                "iv.bed:1",
                "leaves the chromosome (length 2000)",
                "out_of_bounds",
            ],
        ),
        (
            err("chr1\t20\t10\tx\t1\t2\n", none),
            &["iv.bed:1", "start <= end", "20 > 10"],
        ),
        (
            err("chr1\t100\t200\tx\t1\t2\nchr1\t300\t350\ty\t1\t2\n", &|c| {
                c.sequence_length = None;
                c.tracks.clear();
                c.target_length = None;
                c.bin_size = 1;
            }),
            &["iv.bed:2", "50 bp", "iv.bed:1 has 100", "sequence_length"],
        ),
        (
            err("chr1\t100\t200\tx\t1\t2\n", &|c| {
                c.use_strand = true;
                c.labels = None;
            }),
            &["iv.bed:1", "column 6 (strand)", "`2`"],
        ),
        (
            err("chr1\t100\t200\tx\t1\t2\n", &|c| {
                c.labels = Some("4-9".into())
            }),
            &["iv.bed:1", "label column 9 is past the last column (6)"],
        ),
        (
            err("chr1\t100\t200\tx\t1\t2\n", &|c| c.target_length = Some(22)),
            &["22 bp", "4-bp bins"],
        ),
        (
            err("chr3\t100\t200\tx\t1\t2\n", none),
            &["iv.bed:1", "has no chromosome named `chr3`", "missing"],
        ),
        (
            err("chr1\t100\t200\tx\t1\t2\n", &|c| {
                c.labels = Some("2-".into())
            }),
            &["column 2 is not a label column"],
        ),
    ];
    for (e, wanted) in &cases {
        for w in *wanted {
            assert!(e.contains(w), "{e:?} lacks {w:?}");
        }
    }
}

#[test]
fn out_of_bounds_pads_or_drops_and_selections_are_counted() {
    let fx = fixture();
    let d = fx.dir.path();
    let bed = "chr1\t100\t200\tin\t1\t2\n\
               chr1\t1990\t2000\tedge\t1\t2\n\
               chr3\t0\t300\tc3\t1\t2\n\
               chr1\t700\t720\texcl\t1\t2\n";
    std::fs::write(d.join("ex.bed"), "chr1\t705\t706\n").unwrap();
    let c = IntervalConfig {
        out_of_bounds: OutOfBounds::Drop,
        missing: MissingChrom::Drop,
        exclusion_lists: vec![d.join("ex.bed")],
        shuffle: false,
        ..config(d, bed)
    };
    let ds = IntervalDataset::open(&c).unwrap();
    assert_eq!(ds.len(), 1);
    let drops = ds.drops();
    assert_eq!(
        (
            drops.off_chromosome,
            drops.missing_chromosome,
            drops.excluded
        ),
        (1, 1, 1)
    );
    assert!(ds.first_dropped()["off_chromosome"].contains("iv.bed:2"));
    assert!(ds.first_dropped()["excluded"].contains("iv.bed:4"));
    let only_chr3 = IntervalDataset::open(&IntervalConfig {
        chroms: vec!["chr1".into()],
        missing: MissingChrom::Error,
        ..c.clone()
    })
    .unwrap();
    assert_eq!(only_chr3.drops().chrom_filter, 1, "chr3 is not selected");
    // Padding: the edge interval's window [1965, 2025) runs 25 bp past the end: N there
    // (all-zero columns), track values 0.
    let padded = IntervalDataset::open(&IntervalConfig {
        out_of_bounds: OutOfBounds::Pad,
        intervals: vec![write(d, "edge.bed", "chr1\t1990\t2000\tedge\t1\t2\n")],
        layout: Layout::ChannelsFirst,
        ..c.clone()
    })
    .unwrap();
    assert_eq!(padded.ambiguous_bases(), 25);
    let b = &epoch(padded, 0, 0)[0];
    let seq = b.array("inputs/seq").unwrap();
    let bases = decode(seq.as_slice::<u8>().unwrap(), Layout::ChannelsFirst);
    let genome = chr1();
    assert_eq!(&bases[..35], &genome[1965..2000].to_ascii_uppercase()[..]);
    assert!(bases[35..].iter().all(|&x| x == b'N'), "{:?}", &bases[35..]);
    // Track window [1983, 2007): 17 values on the chromosome, 7 past it.
    let t = b.array("targets/tracks").unwrap();
    let plus_bins = &t.as_slice::<f32>().unwrap()[..6];
    let want: Vec<f32> = (0..24)
        .map(|p| plus(1983 + p))
        .collect::<Vec<_>>()
        .chunks(4)
        .map(|c| c.iter().sum::<f32>() / 4.0)
        .collect();
    assert_eq!(plus_bins, &want[..]);
    assert_eq!(plus_bins[5], 0.0);
}
