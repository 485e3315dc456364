//! The HDF5 / netCDF4 reader against the values h5py and xarray read from the same files
//! (tests/data/arrays, written by tests/data/scripts/make_arrays.py).
#![cfg(feature = "hdf5")]

use std::path::{Path, PathBuf};

use biobatch_core::{Array, BlockSource, DType};
use biobatch_formats::hdf5::{H5File, H5Variable};
use biobatch_formats::npy::read_npz;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/arrays")
        .join(name)
}

fn expected(file: &str) -> Vec<(String, Array)> {
    read_npz(data(file))
        .unwrap()
        .into_iter()
        .map(|(n, a)| (n, a.to_array().unwrap()))
        .collect()
}

/// Every value of `v`, read block by block, as f64 (NaN kept).
fn values(v: &H5Variable) -> Vec<f64> {
    let a = v.read_all().unwrap();
    assert_eq!(a.shape(), v.shape());
    as_f64(&a)
}

fn as_f64(a: &Array) -> Vec<f64> {
    a.to_f64().expect("a numeric array")
}

/// Raw expected values; the npz reader has no u16/u32/u64/i16, so those compare through f64.
fn expected_f64(e: &[(String, Array)], name: &str) -> (Vec<usize>, Vec<f64>) {
    let (_, a) = e
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("{name}"));
    (a.shape().to_vec(), as_f64(a))
}

fn assert_close(name: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{name}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let same = (g.is_nan() && w.is_nan()) || (g - w).abs() <= tol * w.abs().max(1.0);
        assert!(same, "{name}[{i}]: read {g}, expected {w}");
    }
}

#[test]
fn netcdf4_variables_equal_what_xarray_reads() {
    let f = H5File::open(data("holodec_small.nc")).unwrap();
    assert_eq!(f.kind(), "netCDF4");
    let e = expected("expected_holodec_small.npz");
    for name in ["image", "x", "y", "z", "d", "hid", "label"] {
        let v = f.variable(name).unwrap();
        let (shape, want) = expected_f64(&e, name);
        assert_eq!(v.shape(), &shape[..], "{name}");
        assert_close(name, &values(&v), &want, 0.0);
    }
    // image: u8 chunked (4, 6, 5) with shuffle + deflate: three blocks of four records.
    let image = f.variable("image").unwrap();
    assert_eq!(
        (image.dtype(), image.block_rows(), image.blocks()),
        (DType::U8, 4, 3)
    );
    assert_eq!(image.stored_chunks(), 3);
    // temperature: i2 packed with scale_factor, add_offset and a _FillValue → f32, NaN.
    let t = f.variable("temperature").unwrap();
    assert_eq!(t.dtype(), DType::F32);
    let (_, want) = expected_f64(&e, "temperature");
    assert!(
        want.iter().any(|v| v.is_nan()),
        "the fixture has a fill value"
    );
    assert_close("temperature", &values(&t), &want, 1e-6);
}

#[test]
fn info_lists_variables_dimensions_chunks_and_filters() {
    let f = H5File::open(data("holodec_small.nc")).unwrap();
    let vars = f.variables().unwrap();
    let names: Vec<&str> = vars.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        names,
        ["image", "x", "y", "z", "d", "hid", "temperature", "label"]
    );
    let image = &vars[0];
    assert_eq!(image.dims, ["hologram_number", "xsize", "ysize"]);
    assert_eq!(image.chunks.as_deref(), Some(&[4, 6, 5][..]));
    assert_eq!(image.filters, ["shuffle", "deflate(4)"]);
    assert_eq!(image.stored, "u1");
    let t = vars.iter().find(|v| v.name == "temperature").unwrap();
    assert_eq!(t.cf.scale_factor, Some(0.01));
    assert_eq!(t.cf.add_offset, Some(20.0));
    assert_eq!(t.cf.fill_values, [-999.0]);
    let dims = f.dimensions().unwrap();
    assert!(dims.contains(&("particle".to_string(), 24)), "{dims:?}");
}

#[test]
fn hdf5_layouts_and_filters_equal_what_h5py_reads() {
    let f = H5File::open(data("layouts.h5")).unwrap();
    assert_eq!(f.kind(), "HDF5");
    let e = expected("expected_layouts.npz");
    for (name, dtype) in [
        ("contiguous_f8", DType::F64),
        ("chunked_edges", DType::I32),
        ("shuffle_fletcher", DType::F32),
        ("fletcher_only", DType::I32),
        ("unwritten_chunks", DType::F32),
        ("u4", DType::I64),
        ("u8_small", DType::I64),
        ("i1", DType::I8),
        ("compact_i2", DType::I32),
        ("group/nested", DType::I64),
    ] {
        let v = f.variable(name).unwrap();
        assert_eq!(v.dtype(), dtype, "{name}");
        let (shape, want) = expected_f64(&e, &name.replace('/', "__"));
        assert_eq!(v.shape(), &shape[..], "{name}");
        assert_close(name, &values(&v), &want, 0.0);
    }
    // Chunks never written read as the fill value; only one of four chunks is stored.
    let u = f.variable("unwritten_chunks").unwrap();
    assert_eq!(u.stored_chunks(), 1);
    assert_eq!(values(&u)[0], -7.5);
}

#[test]
fn blocks_decode_the_same_however_they_are_read() {
    // Edge chunks (10 × 7 in 3 × 4 chunks): every block, read alone, equals its rows of the
    // whole.
    let f = H5File::open(data("layouts.h5")).unwrap();
    let v = f.variable("chunked_edges").unwrap();
    let all = values(&v);
    assert_eq!((v.block_rows(), v.blocks()), (3, 4));
    for b in (0..v.blocks()).rev() {
        let r = v.block_range(b);
        let mut out = Array::zeros(v.dtype(), [r.len(), 7]);
        v.read_block(b, &mut out).unwrap();
        assert_eq!(as_f64(&out), all[r.start * 7..r.end * 7], "block {b}");
    }
    // A buffer of the wrong size is refused, naming the variable.
    let mut wrong = Array::zeros(v.dtype(), [2, 7]);
    let err = v.read_block(0, &mut wrong).unwrap_err().to_string();
    assert!(err.contains("chunked_edges"), "{err}");
}

#[test]
fn unsupported_variables_and_files_are_refused_by_name() {
    let f = H5File::open(data("layouts.h5")).unwrap();
    for (name, says) in [
        ("big_endian", "big-endian"),
        ("lzf", "lzf"),
        ("strings", "unsupported type"),
        ("scalar", "scalar"),
        ("missing", "no variable `missing`"),
    ] {
        let err = f.variable(name).unwrap_err().to_string();
        assert!(err.contains("layouts.h5"), "{err}");
        assert!(err.contains(says), "{name}: {err}");
    }
    let err = H5File::open(data("classic.nc")).unwrap_err().to_string();
    assert!(
        err.contains("netCDF3 classic") && err.contains("nccopy -k nc4"),
        "{err}"
    );
    let err = H5File::open(data("expected_layouts.npz"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a readable HDF5"), "{err}");
}

/// Copies a fixture into a temporary directory and lets `damage` change its bytes.
fn damaged(name: &str, damage: impl FnOnce(&mut Vec<u8>)) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    let mut bytes = std::fs::read(data(name)).unwrap();
    damage(&mut bytes);
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

/// Damages the middle of every stored chunk of `var` and returns the first error reading it.
fn corrupt_chunk_error(name: &str, var: &str) -> String {
    let chunks = H5File::open(data(name))
        .unwrap()
        .variable(var)
        .unwrap()
        .chunk_locations();
    assert!(!chunks.is_empty());
    let (_dir, path) = damaged(name, |b| {
        for c in &chunks {
            let mid = (c.offset + c.size / 2) as usize;
            b[mid] ^= 0x5a;
            b[mid + 1] ^= 0xa5;
        }
    });
    let v = H5File::open(&path).unwrap().variable(var).unwrap();
    (0..v.blocks())
        .find_map(|b| {
            let r = v.block_range(b);
            let mut shape = v.shape().to_vec();
            shape[0] = r.len();
            let mut out = Array::zeros(v.dtype(), shape);
            v.read_block(b, &mut out).err().map(|e| e.to_string())
        })
        .unwrap_or_else(|| panic!("{var}: damaged chunks decoded without an error"))
}

#[test]
fn corrupt_and_truncated_chunks_are_errors_naming_file_variable_and_records() {
    let err = corrupt_chunk_error("layouts.h5", "shuffle_fletcher");
    assert!(
        err.contains("shuffle_fletcher") && err.contains("records"),
        "{err}"
    );
    let err = corrupt_chunk_error("layouts.h5", "fletcher_only");
    assert!(err.contains("Fletcher-32 checksum mismatch"), "{err}");
    let err = corrupt_chunk_error("holodec_small.nc", "image");
    assert!(err.contains("`image`") && err.contains("chunk"), "{err}");
    // Truncated inside the image's last chunk: the chunk table points past the end.
    let last = H5File::open(data("holodec_small.nc"))
        .unwrap()
        .variable("image")
        .unwrap()
        .chunk_locations()
        .into_iter()
        .max_by_key(|c| c.offset)
        .unwrap();
    let (_dir, path) = damaged("holodec_small.nc", |b| {
        b.truncate((last.offset + last.size / 2) as usize)
    });
    let err = H5File::open(&path)
        .and_then(|f| f.variable("image"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("past the end") || err.contains("not a readable"),
        "{err}"
    );
}

#[test]
fn a_file_truncated_after_open_gives_an_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many_chunks.h5");
    std::fs::copy(data("many_chunks.h5"), &path).unwrap();
    let v = H5File::open(&path).unwrap().variable("images").unwrap();
    let last = v
        .chunk_locations()
        .into_iter()
        .max_by_key(|c| c.offset)
        .unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(last.offset + 1).unwrap();
    let errors: Vec<String> = (0..v.blocks())
        .filter_map(|b| {
            let mut out = Array::zeros(v.dtype(), [4, 8, 8]);
            v.read_block(b, &mut out).err().map(|e| e.to_string())
        })
        .collect();
    assert!(!errors.is_empty());
    assert!(
        errors
            .iter()
            .all(|e| e.contains("`images`") && e.contains("cannot be read")),
        "{errors:?}"
    );
}
