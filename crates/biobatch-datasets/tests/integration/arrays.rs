//! ArraysDataset on the HDF5 / netCDF4 fixtures (tests/data/arrays) against brute-force
//! references built from what xarray read (expected_holodec_small.npz): images, padded
//! ragged particles found by scanning `hid` per sample, flips, worker-count invariance,
//! resume and chunks decoded once per epoch; every bad-input case is in `arrays/errors.rs`.
#![cfg(feature = "hdf5")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use biobatch_core::{Array, Batch, DType};
use biobatch_datasets::arrays::{FlipConfig, Normalize};
use biobatch_datasets::{ArraysConfig, ArraysDataset, RaggedConfig};
use biobatch_formats::npy::read_npz;
use biobatch_sampling::{Cursor, Partition};

mod errors;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/arrays")
        .join(name)
}

fn f64s(a: &Array) -> Vec<f64> {
    a.to_f64().expect("a numeric array")
}

/// What xarray read, by variable.
fn expected() -> BTreeMap<String, Vec<f64>> {
    read_npz(data("expected_holodec_small.npz"))
        .unwrap()
        .into_iter()
        .map(|(n, a)| (n, f64s(&a.to_array().unwrap())))
        .collect()
}

fn holodec() -> ArraysConfig {
    let mut c = ArraysConfig {
        file: data("holodec_small.nc"),
        inputs: vec!["image".into()],
        targets: vec!["label".into()],
        ragged: Some(RaggedConfig {
            name: "particles".into(),
            variables: vec!["x".into(), "y".into(), "z".into(), "d".into()],
            by: Some("hid".into()),
            base: 1,
            sort_by: Some("d".into()),
            ..Default::default()
        }),
        seed: Some(7),
        // Read the image through the chunk cache, as a large file would be.
        preload_bytes: 0,
        ..Default::default()
    };
    c.loader.batch_size = 5;
    c.loader.num_workers = 2;
    c
}

fn epoch(c: &ArraysConfig, e: u64) -> Vec<Batch> {
    ArraysDataset::open(c)
        .unwrap()
        .into_loader(Partition::single())
        .unwrap()
        .epoch(e)
        .unwrap()
        .map(|b| b.unwrap().into_inner())
        .collect()
}

/// The particles of hologram `i` (0-based) by a scan of every particle, sorted by d, as
/// the xarray pattern does per sample.
fn particles_of(e: &BTreeMap<String, Vec<f64>>, i: usize) -> Vec<[f64; 4]> {
    let mut p: Vec<[f64; 4]> = (0..e["hid"].len())
        .filter(|&k| e["hid"][k] == (i + 1) as f64)
        .map(|k| [e["x"][k], e["y"][k], e["z"][k], e["d"][k]])
        .collect();
    p.sort_by(|a, b| a[3].total_cmp(&b[3]));
    p
}

#[test]
fn holodec_batches_equal_a_per_sample_scan_of_what_xarray_reads() {
    let e = expected();
    let batches = epoch(&holodec(), 0);
    let mut seen = [false; 12];
    for b in &batches {
        let idx = b
            .array("metadata/index")
            .unwrap()
            .as_slice::<i64>()
            .unwrap();
        let image = f64s(b.array("inputs/image").unwrap());
        let label = f64s(b.array("targets/label").unwrap());
        let parts = b.array("targets/particles").unwrap();
        let count = b
            .array("targets/particles_count")
            .unwrap()
            .as_slice::<i64>()
            .unwrap();
        let mask = b
            .array("targets/particles_mask")
            .unwrap()
            .as_slice::<bool>()
            .unwrap();
        // The most particles any hologram has is 4.
        assert_eq!(&parts.shape()[1..], &[4, 4]);
        let parts = f64s(parts);
        for (j, &i) in idx.iter().enumerate() {
            let i = i as usize;
            seen[i] = true;
            assert_eq!(
                image[j * 30..(j + 1) * 30],
                e["image"][i * 30..(i + 1) * 30]
            );
            assert_eq!(label[j], e["label"][i]);
            let want = particles_of(&e, i);
            assert_eq!(count[j] as usize, want.len(), "hologram {i}");
            for slot in 0..4 {
                let got = &parts[(j * 4 + slot) * 4..(j * 4 + slot + 1) * 4];
                match want.get(slot) {
                    Some(p) => {
                        assert!(mask[j * 4 + slot]);
                        for k in 0..4 {
                            assert!((got[k] - p[k]).abs() < 1e-6, "hologram {i} item {slot}");
                        }
                    }
                    None => {
                        assert!(!mask[j * 4 + slot]);
                        assert_eq!(got, [0.0; 4], "padding of hologram {i}");
                    }
                }
            }
        }
    }
    assert!(seen.iter().all(|&s| s), "every hologram once per epoch");
    let d = ArraysDataset::open(&holodec()).unwrap().describe();
    let r = d.ragged.unwrap();
    assert_eq!((r.items, r.max_items, r.empty_samples), (24, 4, 4));
    assert_eq!(d.chunk_records, 4);
}

#[test]
fn flips_reverse_image_axes_and_negate_the_matching_coordinates() {
    let e = expected();
    let mut c = holodec();
    c.flips = vec![
        FlipConfig {
            axis: 1,
            negate: vec!["x".into()],
        },
        FlipConfig {
            axis: 2,
            negate: vec!["y".into()],
        },
    ];
    let mut bits_seen = [0usize; 4];
    for ep in 0..3 {
        for b in epoch(&c, ep) {
            let idx = b
                .array("metadata/index")
                .unwrap()
                .as_slice::<i64>()
                .unwrap();
            let flips = b.array("metadata/flips").unwrap().as_slice::<u8>().unwrap();
            let image = f64s(b.array("inputs/image").unwrap());
            let parts = f64s(b.array("targets/particles").unwrap());
            for (j, (&i, &f)) in idx.iter().zip(flips).enumerate() {
                let i = i as usize;
                bits_seen[f as usize] += 1;
                for x in 0..6 {
                    for y in 0..5 {
                        let sx = if f & 1 == 1 { 5 - x } else { x };
                        let sy = if f & 2 == 2 { 4 - y } else { y };
                        assert_eq!(
                            image[j * 30 + x * 5 + y],
                            e["image"][i * 30 + sx * 5 + sy],
                            "hologram {i} flips {f}"
                        );
                    }
                }
                for (slot, p) in particles_of(&e, i).iter().enumerate() {
                    let got = &parts[(j * 4 + slot) * 4..(j * 4 + slot + 1) * 4];
                    let sx = if f & 1 == 1 { -1.0 } else { 1.0 };
                    let sy = if f & 2 == 2 { -1.0 } else { 1.0 };
                    assert!((got[0] - sx * p[0]).abs() < 1e-6);
                    assert!((got[1] - sy * p[1]).abs() < 1e-6);
                    assert!((got[2] - p[2]).abs() < 1e-5);
                }
            }
        }
    }
    assert!(
        bits_seen.iter().all(|&n| n > 0),
        "every flip combination drawn: {bits_seen:?}"
    );
    // Flips differ between epochs, and are the same for the same seed.
    let flips_of = |ep| -> Vec<(i64, u8)> {
        epoch(&c, ep)
            .iter()
            .flat_map(|b| {
                let i = b
                    .array("metadata/index")
                    .unwrap()
                    .as_slice::<i64>()
                    .unwrap()
                    .to_vec();
                let f = b
                    .array("metadata/flips")
                    .unwrap()
                    .as_slice::<u8>()
                    .unwrap()
                    .to_vec();
                i.into_iter().zip(f)
            })
            .collect()
    };
    assert_eq!(flips_of(1), flips_of(1));
    assert_ne!(flips_of(1), flips_of(2));
}

#[test]
fn batches_are_the_same_for_any_worker_count_and_resume_from_a_cursor() {
    let mut c = ArraysConfig {
        file: data("many_chunks.h5"),
        inputs: vec!["images".into()],
        targets: vec!["label".into()],
        seed: Some(3),
        io_chunks: 2,
        preload_bytes: 0,
        flips: vec![FlipConfig {
            axis: 2,
            negate: vec![],
        }],
        ..Default::default()
    };
    c.loader.batch_size = 6;
    let digests = |workers: usize| -> Vec<u64> {
        let mut c = c.clone();
        c.loader.num_workers = workers;
        epoch(&c, 2).iter().map(Batch::digest).collect()
    };
    let d0 = digests(0);
    assert_eq!(d0.len(), 11);
    assert_eq!(d0, digests(1));
    assert_eq!(d0, digests(3));
    // Resume after the fourth batch.
    let loader = ArraysDataset::open(&c)
        .unwrap()
        .into_loader(Partition::single())
        .unwrap();
    let all: Vec<_> = loader.epoch(2).unwrap().map(|b| b.unwrap()).collect();
    let cursor: Cursor = all[3].cursor_after().to_string().parse().unwrap();
    let fresh = ArraysDataset::open(&c)
        .unwrap()
        .into_loader(Partition::single())
        .unwrap();
    let rest: Vec<u64> = fresh
        .resume(&cursor)
        .unwrap()
        .map(|b| b.unwrap().digest())
        .collect();
    assert_eq!(rest, d0[4..]);
    // Two ranks split the epoch into disjoint halves whose union is every record.
    let mut union = Vec::new();
    for rank in 0..2 {
        let p = Partition::new(rank, 2, Default::default(), Default::default()).unwrap();
        let l = ArraysDataset::open(&c).unwrap().into_loader(p).unwrap();
        for b in l.epoch(0).unwrap() {
            let b = b.unwrap();
            union.extend_from_slice(
                b.array("metadata/index")
                    .unwrap()
                    .as_slice::<i64>()
                    .unwrap(),
            );
        }
    }
    union.sort_unstable();
    assert_eq!(union, (0..64).collect::<Vec<i64>>());
}

#[test]
fn the_chunked_shuffle_decodes_each_chunk_once_per_epoch_with_a_cache_of_half_the_file() {
    let mut c = ArraysConfig {
        file: data("many_chunks.h5"),
        inputs: vec!["images".into()],
        seed: Some(11),
        io_chunks: 2,
        preload_bytes: 0,
        // 16 chunks of 4 × 64 bytes; the cache holds 8.
        cache_bytes: 8 * 256,
        ..Default::default()
    };
    c.loader.batch_size = 4;
    c.loader.num_workers = 2;
    c.loader.prefetch = 2;
    let ds = ArraysDataset::open(&c).unwrap();
    let loader = {
        let plan = ds.plan(Partition::single()).unwrap();
        (ds, plan)
    };
    let (ds, plan) = loader;
    let ds = std::sync::Arc::new(ds);
    let l = biobatch_loader::Loader::from_arcs(ds.clone(), plan, c.loader.config()).unwrap();
    let order: Vec<i64> = l
        .epoch(0)
        .unwrap()
        .flat_map(|b| {
            b.unwrap()
                .array("metadata/index")
                .unwrap()
                .as_slice::<i64>()
                .unwrap()
                .to_vec()
        })
        .collect();
    assert_eq!(
        ds.blocks_decoded(),
        16,
        "each of the 16 chunks decoded once"
    );
    // The order is shuffled (not file order) and chunk-local: every run of 8 positions
    // (an IO batch) covers exactly two whole chunks.
    assert_ne!(order, (0..64).collect::<Vec<_>>());
    for io in order.chunks(8) {
        let mut chunks: Vec<i64> = io.iter().map(|r| r / 4).collect();
        chunks.sort_unstable();
        chunks.dedup();
        assert_eq!(chunks.len(), 2, "{io:?}");
    }
    l.epoch(1).unwrap().for_each(|b| drop(b.unwrap()));
    let second = ds.blocks_decoded() - 16;
    assert!(
        (8..=16).contains(&second),
        "epoch 1 decoded {second} chunks"
    );
}

#[test]
fn normalisation_uses_constants_or_statistics_and_reports_them() {
    let e = expected();
    let mut c = holodec();
    c.shuffle = false;
    c.normalize
        .insert("image".into(), Normalize::Computed("stats".into()));
    c.normalize.insert(
        "z".into(),
        Normalize::Constants {
            mean: 50.0,
            std: 25.0,
        },
    );
    let ds = ArraysDataset::open(&c).unwrap();
    let d = ds.describe();
    let n = &d.normalize["image"];
    let m = e["image"].iter().sum::<f64>() / 360.0;
    let s = (e["image"].iter().map(|v| (v - m) * (v - m)).sum::<f64>() / 360.0).sqrt();
    assert!(n.computed && (n.mean - m).abs() < 1e-9 && (n.std - s).abs() < 1e-9);
    let b = &epoch(&c, 0)[0];
    let image = b.array("inputs/image").unwrap();
    assert_eq!(image.dtype(), DType::F32);
    let got = f64s(image);
    for k in 0..30 {
        assert!((got[k] - (e["image"][k] - m) / s).abs() < 1e-5);
    }
    let parts = f64s(b.array("targets/particles").unwrap());
    let p = particles_of(&e, 0);
    assert!((parts[2] - (p[0][2] - 50.0) / 25.0).abs() < 1e-5);
}

/// The same holodec data as netCDF4, Zarr v2 (Blosc) and Zarr v3 (Zstandard), written by
/// xarray: the same batches, bit for bit.
#[cfg(feature = "zarr")]
#[test]
fn netcdf4_and_zarr_v2_and_v3_copies_give_the_same_batches() {
    let mut c = holodec();
    c.flips = vec![FlipConfig {
        axis: 1,
        negate: vec!["x".into()],
    }];
    c.normalize.insert(
        "temperature".into(),
        Normalize::Constants {
            mean: 20.0,
            std: 2.0,
        },
    );
    c.targets.push("temperature".into());
    let digests = |file: &str| -> Vec<u64> {
        let mut c = c.clone();
        c.file = data(file);
        epoch(&c, 1).iter().map(Batch::digest).collect()
    };
    let nc = digests("holodec_small.nc");
    assert_eq!(nc.len(), 3);
    assert_eq!(digests("holodec_small_v2.zarr"), nc);
    assert_eq!(digests("holodec_small_v3.zarr"), nc);
}

#[test]
fn sparse_ragged_rows_hold_the_padded_items_without_the_padding() {
    let mut padded = holodec();
    padded.flips = vec![FlipConfig {
        axis: 1,
        negate: vec!["x".into()],
    }];
    padded.normalize.insert(
        "z".into(),
        Normalize::Constants {
            mean: 50.0,
            std: 25.0,
        },
    );
    let mut sparse = padded.clone();
    sparse.ragged.as_mut().unwrap().layout = biobatch_datasets::arrays::RaggedLayout::Sparse;
    for (p, s) in epoch(&padded, 2).iter().zip(epoch(&sparse, 2).iter()) {
        assert_eq!(
            p.array("metadata/index").unwrap(),
            s.array("metadata/index").unwrap()
        );
        let count = p
            .array("targets/particles_count")
            .unwrap()
            .as_slice::<i64>()
            .unwrap();
        assert_eq!(
            count,
            s.array("targets/particles_count")
                .unwrap()
                .as_slice::<i64>()
                .unwrap()
        );
        let values = f64s(p.array("targets/particles").unwrap());
        let rows = s.sparse("targets/particles").unwrap();
        rows.validate().unwrap();
        assert_eq!(rows.n_cols(), 4 * 4);
        let indptr = rows.indptr().as_slice::<i32>().unwrap();
        let indices = rows.indices().as_slice::<i32>().unwrap();
        let got = f64s(rows.values());
        for (i, &n) in count.iter().enumerate() {
            let (lo, hi) = (indptr[i] as usize, indptr[i + 1] as usize);
            assert_eq!(hi - lo, n as usize * 4, "row {i}");
            assert_eq!(
                indices[lo..hi],
                (0..hi as i32 - lo as i32).collect::<Vec<_>>()[..]
            );
            assert_eq!(
                got[lo..hi],
                values[i * 16..i * 16 + n as usize * 4],
                "row {i}"
            );
        }
        assert!(s.get("targets/particles_mask").is_none());
    }
}

#[test]
fn an_array_file_at_a_url_is_refused_saying_so() {
    let url = "https://example.org/holodec.nc";
    let e = biobatch_datasets::arrays::file_info(Path::new(url))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains(url) && e.contains("local files only"), "{e}");
}
