//! Every bad setting and damaged file of the array dataset: clear errors naming the file,
//! the variable and the records, never a panic or a wrong batch.

use super::*;

fn open_err(c: &ArraysConfig) -> String {
    biobatch_core::one_line(&ArraysDataset::open(c).unwrap_err())
}

#[test]
fn bad_settings_and_bad_files_are_clear_errors() {
    let mut c = holodec();
    c.inputs = vec!["imagez".into()];
    let err = open_err(&c);
    assert!(
        err.contains("holodec_small.nc") && err.contains("no variable `imagez`"),
        "{err}"
    );

    // A dimension mismatch between the sample axes.
    let c2 = ArraysConfig {
        file: data("layouts.h5"),
        inputs: vec!["chunked_edges".into()],
        targets: vec!["contiguous_f8".into()],
        ..Default::default()
    };
    let err = open_err(&c2);
    assert!(
        err.contains("`contiguous_f8` has 7 records") && err.contains("10"),
        "{err}"
    );

    // Ids outside the sample range (hid is 1-based; base 2 puts hologram 1 outside).
    let mut c = holodec();
    c.ragged.as_mut().unwrap().base = 2;
    let err = open_err(&c);
    assert!(
        err.contains("`hid`") && err.contains("outside the samples' ids 2..=13"),
        "{err}"
    );

    // NaN in the id variable, naming the item.
    let c3 = ArraysConfig {
        file: data("bad_ids.nc"),
        inputs: vec!["image".into()],
        ragged: Some(RaggedConfig {
            variables: vec!["x".into()],
            by: Some("hid".into()),
            base: 1,
            ..Default::default()
        }),
        ..Default::default()
    };
    let err = open_err(&c3);
    assert!(
        err.contains("bad_ids.nc") && err.contains("item 2 is NaN"),
        "{err}"
    );

    // More items than max_items, unless truncated.
    let mut c = holodec();
    c.ragged.as_mut().unwrap().max_items = Some(3);
    let err = open_err(&c);
    assert!(
        err.contains("more than max_items = 3") && err.contains("truncate"),
        "{err}"
    );
    c.ragged.as_mut().unwrap().truncate = true;
    let d = ArraysDataset::open(&c).unwrap().describe();
    assert_eq!(d.ragged.unwrap().truncated_samples, 2);

    // Flips and normalisations that cannot apply.
    let mut c = holodec();
    c.flips = vec![FlipConfig {
        axis: 3,
        negate: vec![],
    }];
    assert!(open_err(&c).contains("axis 3"), "{}", open_err(&c));
    c.flips = vec![FlipConfig {
        axis: 1,
        negate: vec!["w".into()],
    }];
    assert!(open_err(&c).contains("`w`"));
    let mut c = holodec();
    c.normalize.insert(
        "x".into(),
        Normalize::Constants {
            mean: 0.0,
            std: 0.0,
        },
    );
    assert!(open_err(&c).contains("std must be positive"));

    // netCDF3 and unsupported codecs, named.
    let c4 = ArraysConfig {
        file: data("classic.nc"),
        inputs: vec!["v".into()],
        ..Default::default()
    };
    assert!(open_err(&c4).contains("nccopy -k nc4"));
    let c5 = ArraysConfig {
        file: data("layouts.h5"),
        inputs: vec!["lzf".into()],
        ..Default::default()
    };
    let err = open_err(&c5);
    assert!(
        err.contains("`lzf`") && err.contains("lzf, which biobatch does not decode"),
        "{err}"
    );
}

#[test]
fn a_corrupt_chunk_fails_the_batch_with_the_file_variable_and_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many_chunks.h5");
    let mut bytes = std::fs::read(data("many_chunks.h5")).unwrap();
    let chunks = biobatch_formats::hdf5::H5File::open(data("many_chunks.h5"))
        .unwrap()
        .variable("images")
        .unwrap()
        .chunk_locations();
    let c5 = chunks[5];
    for k in 0..8 {
        bytes[(c5.offset + c5.size / 2) as usize + k] ^= 0xff;
    }
    std::fs::write(&path, bytes).unwrap();
    let mut c = ArraysConfig {
        file: path,
        inputs: vec!["images".into()],
        shuffle: false,
        preload_bytes: 0,
        ..Default::default()
    };
    c.loader.batch_size = 4;
    let l = ArraysDataset::open(&c)
        .unwrap()
        .into_loader(Partition::single())
        .unwrap();
    let results: Vec<_> = l.epoch(0).unwrap().collect();
    let errs: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().err().map(|e| biobatch_core::one_line(e)))
        .collect();
    assert!(!errs.is_empty(), "the damaged chunk must fail its batch");
    assert!(
        errs[0].contains("many_chunks.h5")
            && errs[0].contains("`images`")
            && errs[0].contains("20..24"),
        "{}",
        errs[0]
    );
}
