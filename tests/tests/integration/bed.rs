//! BED / narrowPeak reading against counts and records taken from the files independently.

use biobatch_formats::bed::{BedFormat, BedReader, read_bed};
use biobatch_tests::{data, read_tsv};

#[test]
fn real_files_read_as_expected() {
    let rows = read_tsv("expected_bed.tsv");
    assert_eq!(rows.len(), 5);
    for row in rows {
        let recs = read_bed(data(&row[0])).unwrap();
        let n: usize = row[1].parse().unwrap();
        assert_eq!(recs.len(), n, "{}", row[0]);
        let (first, last) = (&recs[0], &recs[n - 1]);
        assert_eq!(
            (
                first.chrom.as_str(),
                first.start.to_string(),
                first.end.to_string()
            ),
            (row[4].as_str(), row[5].clone(), row[6].clone()),
            "{} first record",
            row[0]
        );
        assert_eq!(
            (
                last.chrom.as_str(),
                last.start.to_string(),
                last.end.to_string()
            ),
            (row[7].as_str(), row[8].clone(), row[9].clone()),
            "{} last record",
            row[0]
        );
        let is_narrow = row[3] == "10";
        assert_eq!(first.narrow_peak.is_some(), is_narrow, "{}", row[0]);
    }
}

#[test]
fn gzip_and_plain_give_the_same_records() {
    let plain = read_bed(data("rmsk.hg18.chr21.small.bed")).unwrap();
    let gz = read_bed(data("rmsk.hg18.chr21.small.bed.gz")).unwrap();
    assert_eq!(plain, gz);
}

#[test]
fn narrowpeak_fields_of_the_encode_example() {
    let recs = read_bed(data("example.narrowPeak")).unwrap();
    let np: Vec<_> = recs.iter().map(|r| r.narrow_peak.unwrap()).collect();
    assert_eq!(np[0].signal_value, 182.0);
    assert_eq!(np[0].p_value, 5.0945);
    assert_eq!(np[0].q_value, -1.0);
    assert_eq!(
        np.iter().map(|p| p.summit).collect::<Vec<_>>(),
        [Some(50), Some(40), Some(75)]
    );
    // The ENCODE example starts at line 3 (after `track` and `browser`).
    assert_eq!(recs[0].line, 3);
}

#[test]
fn forcing_narrowpeak_on_a_bed6_file_is_an_error() {
    let err = BedReader::open(data("a.bed"))
        .unwrap()
        .with_format(BedFormat::NarrowPeak)
        .records()
        .next()
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(err.contains("a.bed:1:"), "{err}");
    assert!(err.contains("10 columns for narrowPeak, got 6"), "{err}");
}

#[test]
fn arrow_batches_equal_the_records() {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int32Type, UInt64Type};
    let name = "CTCF_Kc_Bushey_2009.bed";
    let recs = read_bed(data(name)).unwrap();
    let batches = biobatch_formats::bed::read_bed_arrow(data(name), 1000).unwrap();
    assert_eq!(
        batches.iter().map(|b| b.num_rows()).collect::<Vec<_>>(),
        [1000, 1000, 264]
    );
    let mut i = 0;
    for b in &batches {
        let chrom = b.column(0).as_dictionary::<Int32Type>();
        let values = chrom.values().as_string::<i32>();
        let start = b.column(1).as_primitive::<UInt64Type>();
        let end = b.column(2).as_primitive::<UInt64Type>();
        for k in 0..b.num_rows() {
            let c = values.value(chrom.keys().value(k) as usize);
            assert_eq!(
                (c, start.value(k), end.value(k)),
                (recs[i].chrom.as_str(), recs[i].start, recs[i].end)
            );
            i += 1;
        }
    }
    let np = biobatch_formats::bed::read_bed_arrow(data("example.narrowPeak"), 10).unwrap();
    let signal = np[0].column(6).as_primitive::<Float64Type>();
    assert_eq!(signal.values(), &[182.0, 91.0, 182.0]);
}
