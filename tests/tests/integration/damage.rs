//! Damaged copies of real fixtures: every reader refuses them with an error naming the file
//! (and where it can, the line, record or byte) — never a panic, a hang or other data.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use biobatch_formats::bed::read_bed;
use biobatch_formats::bigwig::BigWig;
use biobatch_formats::fasta::{Fasta, Padding};
use biobatch_formats::region::Region;
use biobatch_tests::data;

fn copy(dir: &Path, name: &str) -> PathBuf {
    let to = dir.join(name);
    std::fs::copy(data(name), &to).unwrap();
    to
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Offsets in a bigWig: the first chromosome-tree leaf item (its key size) and the first
/// R-tree leaf item.
struct Layout {
    key_size: usize,
    first_chrom: usize,
    chroms: usize,
    first_block: usize,
}

fn layout(b: &[u8]) -> Layout {
    let tree = u64_at(b, 8) as usize;
    let key_size = u32_at(b, tree + 8) as usize;
    let node = tree + 32;
    assert_eq!(b[node], 1, "the fixture's chromosome tree is one leaf");
    let chroms = u16::from_le_bytes([b[node + 2], b[node + 3]]) as usize;
    let index = u64_at(b, 24) as usize;
    let root = index + 48;
    assert_eq!(b[root], 1, "the fixture's index is one leaf");
    Layout {
        key_size,
        first_chrom: node + 4,
        chroms,
        first_block: root + 4,
    }
}

#[test]
fn a_damaged_bigwig_chromosome_tree_or_index_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read(data("signal_plus.bw")).unwrap();
    let l = layout(&original);
    assert!(l.chroms >= 2, "the fixture has several chromosomes");
    let item = l.key_size + 8;
    let id_at = |k: usize| l.first_chrom + k * item + l.key_size;
    type Damage<'a> = Box<dyn Fn(&mut Vec<u8>) + 'a>;
    let cases: Vec<(&str, Damage<'_>, &str)> = vec![
        (
            "id out of range",
            Box::new(|b: &mut Vec<u8>| {
                b[id_at(0)..id_at(0) + 4].copy_from_slice(&99u32.to_le_bytes())
            }),
            "ids must be 0..",
        ),
        (
            "duplicated id",
            Box::new(|b: &mut Vec<u8>| {
                let id1 = b[id_at(1)..id_at(1) + 4].to_vec();
                b[id_at(0)..id_at(0) + 4].copy_from_slice(&id1);
            }),
            "ids must be 0..",
        ),
        (
            "zero length",
            Box::new(|b: &mut Vec<u8>| b[id_at(0) + 4..id_at(0) + 8].fill(0)),
            "has length 0",
        ),
        (
            "duplicated name",
            Box::new(|b: &mut Vec<u8>| {
                let name0 = b[l.first_chrom..l.first_chrom + l.key_size].to_vec();
                let at = l.first_chrom + item;
                b[at..at + l.key_size].copy_from_slice(&name0);
            }),
            "listed twice",
        ),
        (
            "index item on an unknown chromosome",
            Box::new(|b: &mut Vec<u8>| {
                let at = l.first_block;
                b[at..at + 4].copy_from_slice(&7u32.to_le_bytes());
                b[at + 8..at + 12].copy_from_slice(&u32::MAX.to_le_bytes());
            }),
            "the file has",
        ),
        (
            "index item past its chromosome",
            Box::new(|b: &mut Vec<u8>| {
                let at = l.first_block + 12;
                b[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
            }),
            "past its chromosome's length",
        ),
    ];
    for (what, damage, expected) in cases {
        let mut b = original.clone();
        damage(&mut b);
        let p = dir.path().join("damaged.bw");
        std::fs::write(&p, &b).unwrap();
        let e = BigWig::open(&p).map(|_| ()).unwrap_err().to_string();
        assert!(
            e.contains("damaged.bw") && e.contains(expected),
            "{what}: {e}"
        );
    }
}

#[test]
fn a_section_of_another_chromosome_than_its_index_item_is_refused() {
    // Two index items whose data offsets are swapped: each section decodes fine but holds
    // the other chromosome: reading either is an error, not the other's values.
    let dir = tempfile::tempdir().unwrap();
    let mut b = std::fs::read(data("signal_plus.bw")).unwrap();
    let l = layout(&b);
    let count = u16::from_le_bytes([b[l.first_block - 2], b[l.first_block - 1]]) as usize;
    let chrom_of = |b: &[u8], k: usize| u32_at(b, l.first_block + k * 32);
    let other = (1..count)
        .find(|&k| chrom_of(&b, k) != chrom_of(&b, 0))
        .expect("blocks of two chromosomes");
    let (a, c) = (l.first_block + 16, l.first_block + other * 32 + 16);
    let (oa, ob) = (b[a..a + 16].to_vec(), b[c..c + 16].to_vec());
    b[a..a + 16].copy_from_slice(&ob);
    b[c..c + 16].copy_from_slice(&oa);
    let p = dir.path().join("swapped.bw");
    std::fs::write(&p, &b).unwrap();
    let bw = Arc::new(BigWig::open(&p).unwrap());
    let name = bw
        .chroms()
        .iter()
        .find(|c| c.id == chrom_of(&b, 0))
        .unwrap()
        .name
        .clone();
    let len = bw.chrom_len(&name).unwrap() as i64;
    let mut out = vec![0f32; len as usize];
    let e = bw
        .reader()
        .read_window(&name, 0, len, &mut out)
        .unwrap_err()
        .to_string();
    assert!(e.contains("indexed under id"), "{e}");
}

/// A FASTA of two records with 4-base lines, and its correct index.
const FA: &[u8] = b">a first\nACGT\nACGT\nAC\n>b\nGGGG\nTT\n";
const FAI: &str = "a\t10\t9\t4\t5\nb\t6\t25\t4\t5\n";

#[test]
fn a_stale_or_wrong_fai_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let fa = dir.path().join("g.fa");
    std::fs::write(&fa, FA).unwrap();
    let fai = dir.path().join("g.fa.fai");
    std::fs::write(&fai, FAI).unwrap();
    let ok = Fasta::open(&fa).unwrap();
    assert_eq!(ok.fetch("a", 0, 10, Padding::Error).unwrap(), b"ACGTACGTAC");
    assert_eq!(ok.fetch("b", 0, 6, Padding::Error).unwrap(), b"GGGGTT");
    let cases = [
        // the offset of `a` shifted by one line
        ("a\t10\t14\t4\t5\nb\t6\t25\t4\t5\n", "`a`"),
        // the offset shifted by one byte
        ("a\t10\t10\t4\t5\nb\t6\t25\t4\t5\n", "`a`"),
        // a wrong line width
        ("a\t10\t9\t4\t6\nb\t6\t25\t4\t5\n", "`a`"),
        // wrong bases per line
        ("a\t10\t9\t3\t4\nb\t6\t25\t4\t5\n", "`a`"),
        // a shortened length
        ("a\t9\t9\t4\t5\nb\t6\t25\t4\t5\n", "`a`"),
        // a lengthened one
        ("a\t11\t9\t4\t5\nb\t6\t25\t4\t5\n", "`a`"),
        // the second record's offset one line late
        ("a\t10\t9\t4\t5\nb\t6\t30\t4\t5\n", "`b`"),
        // the records' names swapped
        ("b\t10\t9\t4\t5\na\t6\t25\t4\t5\n", "`b`"),
        // a record said to be empty that holds bases
        ("a\t0\t9\t4\t5\nb\t6\t25\t4\t5\n", "`a`"),
        // a name with a space, whose first word is the header's name
        ("a first\t10\t9\t4\t5\nb\t6\t25\t4\t5\n", "`a first`"),
    ];
    for (text, record) in cases {
        std::fs::write(&fai, text).unwrap();
        let e = Fasta::open(&fa).map(|_| ()).unwrap_err().to_string();
        assert!(
            e.contains("does not match") && e.contains(record),
            "{text:?}: {e}"
        );
    }
    // A length near 2^63 is refused when the index is read, not in a fetch.
    std::fs::write(&fai, "a\t9223372036854775000\t9\t4\t5\n").unwrap();
    let e = Fasta::open(&fa).map(|_| ()).unwrap_err().to_string();
    assert!(
        e.contains("g.fa.fai:1") && e.contains("at most 2^40"),
        "{e}"
    );
}

#[test]
fn a_stale_index_of_a_bgzip_fasta_is_refused_too() {
    let dir = tempfile::tempdir().unwrap();
    for ext in ["", ".fai", ".gzi"] {
        copy(dir.path(), &format!("multi.fa.gz{ext}"));
    }
    let gz = dir.path().join("multi.fa.gz");
    let fai = dir.path().join("multi.fa.gz.fai");
    let good = std::fs::read_to_string(&fai).unwrap();
    Fasta::open(&gz).unwrap();
    // Every record's offset one byte late.
    let shifted: String = good
        .lines()
        .map(|l| {
            let mut f: Vec<String> = l.split('\t').map(String::from).collect();
            f[2] = (f[2].parse::<u64>().unwrap() + 1).to_string();
            f.join("\t") + "\n"
        })
        .collect();
    std::fs::write(&fai, shifted).unwrap();
    let e = Fasta::open(&gz).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("does not match"), "{e}");
}

#[test]
fn a_fasta_without_a_final_newline_is_indexed_as_samtools_does() {
    let dir = tempfile::tempdir().unwrap();
    let fa = dir.path().join("n.fa");
    std::fs::write(&fa, b">a\nACGT\nAC\n>b\nGGGG\nTTA").unwrap();
    let f = Fasta::open(&fa).unwrap();
    assert_eq!(f.fetch("b", 0, 7, Padding::Error).unwrap(), b"GGGGTTA");
    let rec = f.index().get("b").unwrap();
    assert_eq!((rec.length, rec.line_bases, rec.line_width), (7, 4, 5));
    // A single-line record without its newline too.
    std::fs::write(&fa, b">c\nACG").unwrap();
    let f = Fasta::open(&fa).unwrap();
    assert_eq!(f.fetch("c", 0, 3, Padding::Error).unwrap(), b"ACG");
    let p = f.write_index().unwrap();
    assert_eq!(std::fs::read_to_string(p).unwrap(), "c\t3\t3\t3\t4\n");
    // The written index reads back and validates.
    Fasta::open(&fa).unwrap();
}

#[test]
fn a_newline_inside_a_sequence_line_is_never_served_as_a_base() {
    // Same length, one base replaced by a line end: the index is stale in a line the open
    // does not sample; the fetch that crosses it is an error, never a newline as a base.
    let dir = tempfile::tempdir().unwrap();
    let fa = dir.path().join("g.fa");
    let fai = dir.path().join("g.fa.fai");
    let mut text = b">a\n".to_vec();
    for _ in 0..100 {
        text.extend_from_slice(b"ACGTACGTAC\n");
    }
    let idx = 3 + 40 * 11 + 5;
    std::fs::write(&fa, &text).unwrap();
    Fasta::open_with(
        &fa,
        &biobatch_formats::fasta::FastaOptions {
            write_index: true,
            ..Default::default()
        },
    )
    .unwrap();
    text[idx] = b'\n';
    std::fs::write(&fa, &text).unwrap();
    assert!(fai.exists());
    let f = Fasta::open(&fa).unwrap();
    let e = f
        .fetch("a", 0, 1000, Padding::Error)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("inside a sequence line") && e.contains("`a`"),
        "{e}"
    );
}

#[test]
fn region_typos_are_errors_before_anything_is_allocated() {
    let e = Region::parse("chrA:1-100000000000000", |_| false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("at most 2^40"), "{e}");
    let e = Region::parse("chrA:1-18446744073709551615", |_| false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("at most 2^40"), "{e}");
    let r = Region::parse("chrA:1-100000000000", |_| false).unwrap();
    let e = r.resolve_padded(20_000, 0).unwrap_err().to_string();
    assert!(e.contains("runs past the end"), "{e}");
    assert!(r.resolve_padded(20_000, 1_000_000).is_err());
    assert_eq!(
        Region::parse("chrA:19991-20005", |_| false)
            .unwrap()
            .resolve_padded(20_000, 1_000_000)
            .unwrap(),
        (19_990, 20_005)
    );
}

#[test]
fn a_bed_with_a_byte_order_mark_reads_its_first_chromosome() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bom.bed");
    std::fs::write(&p, b"\xEF\xBB\xBFchr1\t10\t20\nchr2\t5\t6\n").unwrap();
    let recs = read_bed(&p).unwrap();
    assert_eq!(recs[0].chrom, "chr1");
    assert_eq!(recs.len(), 2);
}

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_by_every_mapped_reader_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("x.fa");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        return;
    }
    for e in [
        Fasta::open(&fifo).map(|_| ()).unwrap_err().to_string(),
        BigWig::open(&fifo).map(|_| ()).unwrap_err().to_string(),
        biobatch_formats::npy::read_npy(&fifo)
            .map(|_| ())
            .unwrap_err()
            .to_string(),
    ] {
        assert!(e.contains("not a regular file"), "{e}");
    }
}

/// A 10x directory whose matrix is `body` (the fixture's barcodes and features).
fn tenx(dir: &Path, header: &str, entries: &str) -> PathBuf {
    let d = dir.join("10x");
    std::fs::create_dir_all(&d).unwrap();
    for f in ["barcodes.tsv.gz", "features.tsv.gz"] {
        std::fs::copy(data(&format!("soma/10x_v3/{f}")), d.join(f)).unwrap();
    }
    std::fs::write(
        d.join("matrix.mtx"),
        format!("%%MatrixMarket matrix coordinate integer general\n{header}\n{entries}"),
    )
    .unwrap();
    d
}

#[test]
fn a_matrix_market_file_that_does_not_hold_integers_is_refused() {
    use biobatch_formats::soma::import_mtx;
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("3.7", "column 3 (value)"),
        ("3e2", "column 3 (value)"),
        ("3 9", "three fields `row col value`"),
        ("2147483648", "at most 2^31"),
        ("-1", "column 3 (value)"),
    ];
    for (value, expected) in cases {
        let d = tenx(
            dir.path(),
            "507 1107 2",
            &format!("458 1 3\n456 1 {value}\n"),
        );
        let out = dir.path().join("store");
        let e = import_mtx(&d, &out, "counts").unwrap_err().to_string();
        assert!(
            e.contains("matrix.mtx:4") && e.contains(expected),
            "{value}: {e}"
        );
        assert!(!out.exists(), "no store is left");
    }
    // The largest count stored exactly: i32, read back as written.
    let d = tenx(dir.path(), "507 1107 1", "458 1 2147483647\n");
    let out = dir.path().join("big.store");
    import_mtx(&d, &out, "counts").unwrap();
    let e = biobatch_formats::soma::Experiment::open(&out).unwrap();
    assert_eq!(e.layer("counts").unwrap().value_dtype(), "i32");
    // A size line that promises 10^12 entries is a count mismatch, not an allocation.
    let d = tenx(dir.path(), "507 1107 1000000000000", "458 1 3\n");
    let e = import_mtx(&d, dir.path().join("x.store"), "counts")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("promises 1000000000000 entries, the file has 1"),
        "{e}"
    );
}

/// A store imported from the fixture's 10x directory.
fn store(dir: &Path) -> PathBuf {
    let out = dir.join("pbmc.store");
    biobatch_formats::soma::import_mtx(data("soma/10x_v3"), &out, "counts").unwrap();
    out
}

#[test]
fn the_fast_check_samples_checksums_and_sees_a_flipped_value() {
    use biobatch_formats::soma::{Experiment, Verify};
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let values = std::fs::read_dir(s.join("X/counts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("values"))
        .unwrap();
    let mut b = std::fs::read(&values).unwrap();
    let last = b.len() - 1;
    b[last] ^= 0x01;
    std::fs::write(&values, &b).unwrap();
    // Small files have every chunk sampled: the fast check (the default) sees it.
    let e = Experiment::open(&s).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("checksum") && e.contains("damaged"), "{e}");
    let e = Experiment::open_with(&s, Verify::Full)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("damaged"), "{e}");
}

#[test]
fn a_store_manifest_cannot_point_outside_its_store() {
    use biobatch_formats::soma::Experiment;
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let manifest = s.join("manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::create_dir_all(dir.path().join("outside")).unwrap();
    std::fs::copy(
        s.join("obs.parquet"),
        dir.path().join("outside/obs.parquet"),
    )
    .unwrap();
    for bad in ["../outside/obs.parquet", "/etc/passwd"] {
        std::fs::write(
            &manifest,
            text.replace("\"obs.parquet\"", &format!("\"{bad}\"")),
        )
        .unwrap();
        let e = Experiment::open(&s).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("must stay inside their folder"), "{bad}: {e}");
    }
}

#[test]
fn a_damaged_npz_member_fails_its_crc_instead_of_serving_other_numbers() {
    use biobatch_formats::npy::read_npz;
    let dir = tempfile::tempdir().unwrap();
    for name in ["arrays.npz", "arrays_compressed.npz"] {
        let original = std::fs::read(data(name)).unwrap();
        assert!(read_npz(data(name)).is_ok());
        // A byte in the middle of the first member's data (stored) or stream (deflated).
        let at = original
            .windows(4)
            .position(|w| w == b"PK\x03\x04")
            .unwrap()
            + 30
            + 200;
        let mut bytes = original.clone();
        bytes[at] ^= 0x10;
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let e = read_npz(&path).unwrap_err().to_string();
        assert!(
            e.contains(name) && (e.contains("CRC-32") || e.contains("inflate")),
            "{name}: {e}"
        );
    }
}
