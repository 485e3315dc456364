//! The Zarr reader against the values xarray and zarr-python read from the same stores
//! (tests/data/arrays, written by tests/data/scripts/make_arrays.py).
#![cfg(feature = "zarr")]

use std::path::{Path, PathBuf};

use biobatch_core::{Array, BlockSource, DType};
use biobatch_formats::npy::read_npz;
use biobatch_formats::zarr::ZarrStore;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/arrays")
        .join(name)
}

fn f64s(a: &Array) -> Vec<f64> {
    a.to_f64().expect("a numeric array")
}

fn expected(file: &str, name: &str) -> (Vec<usize>, Vec<f64>) {
    let (_, a) = read_npz(data(file))
        .unwrap()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("{name}"));
    let a = a.to_array().unwrap();
    (a.shape().to_vec(), f64s(&a))
}

fn assert_close(name: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{name}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let same = (g.is_nan() && w.is_nan()) || (g - w).abs() <= tol * w.abs().max(1.0);
        assert!(same, "{name}[{i}]: read {g}, expected {w}");
    }
}

#[test]
fn xarray_written_v2_and_v3_stores_read_as_xarray_reads_the_netcdf4_file() {
    for store in ["holodec_small_v2.zarr", "holodec_small_v3.zarr"] {
        let z = ZarrStore::open(data(store)).unwrap();
        let names: Vec<String> = z.variables().unwrap().into_iter().map(|v| v.name).collect();
        assert_eq!(
            names,
            ["d", "hid", "image", "label", "temperature", "x", "y", "z"],
            "{store}"
        );
        for name in ["image", "x", "y", "z", "d", "hid", "label", "temperature"] {
            let v = z.variable(name).unwrap();
            let (shape, want) = expected("expected_holodec_small.npz", name);
            assert_eq!(v.shape(), &shape[..], "{store} {name}");
            let tol = if name == "temperature" { 1e-6 } else { 0.0 };
            assert_close(
                &format!("{store} {name}"),
                &f64s(&v.read_all().unwrap()),
                &want,
                tol,
            );
        }
        // image is chunked by 4 holograms; temperature is packed i2 → f32 with NaN fills.
        let image = z.variable("image").unwrap();
        assert_eq!(
            (image.dtype(), image.block_rows(), image.blocks()),
            (DType::U8, 4, 3)
        );
        assert_eq!(z.variable("temperature").unwrap().dtype(), DType::F32);
        let info = z.variables().unwrap();
        let img = info.iter().find(|v| v.name == "image").unwrap();
        assert_eq!(img.dims, ["hologram_number", "xsize", "ysize"], "{store}");
    }
}

#[test]
fn sharded_gzip_zstd_and_blosc_arrays_equal_what_zarr_python_reads() {
    let z = ZarrStore::open(data("sharded_v3.zarr")).unwrap();
    for (name, dtype, block_rows) in [
        ("image", DType::U8, 4),
        ("partial", DType::I32, 4),
        ("blosc_f8", DType::F64, 3),
    ] {
        let v = z.variable(name).unwrap();
        assert_eq!((v.dtype(), v.block_rows()), (dtype, block_rows), "{name}");
        let (shape, want) = expected("expected_sharded_v3.npz", name);
        assert_eq!(v.shape(), &shape[..]);
        assert_close(name, &f64s(&v.read_all().unwrap()), &want, 0.0);
        // Every block alone equals its rows of the whole.
        for b in 0..v.blocks() {
            let r = v.block_range(b);
            let mut shape = v.shape().to_vec();
            shape[0] = r.len();
            let mut out = Array::zeros(v.dtype(), shape);
            v.read_block(b, &mut out).unwrap();
            let w = v.row_len();
            assert_eq!(f64s(&out), want[r.start * w..r.end * w], "{name} block {b}");
        }
    }
    // Chunks never written read as the fill value (-1).
    let (_, p) = expected("expected_sharded_v3.npz", "partial");
    assert_eq!(p[12..], [-1.0; 18]);
}

#[test]
fn missing_variables_and_damaged_chunks_are_errors_naming_store_and_variable() {
    let z = ZarrStore::open(data("holodec_small_v2.zarr")).unwrap();
    let err = z.variable("imagez").unwrap_err().to_string();
    assert!(
        err.contains("holodec_small_v2.zarr") && err.contains("no variable `imagez`"),
        "{err}"
    );
    let err = ZarrStore::open(data("layouts.h5")).unwrap_err().to_string();
    assert!(err.contains("not a Zarr store"), "{err}");

    // A truncated Blosc chunk (v2) and a damaged gzip shard (v3).
    for (store, chunk) in [
        ("holodec_small_v2.zarr", "image/1.0.0"),
        ("sharded_v3.zarr", "image/c/1/0/0"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join(store);
        copy_dir(&data(store), &copy);
        let f = copy.join(chunk);
        let mut bytes = std::fs::read(&f).unwrap();
        let n = bytes.len();
        if store.ends_with("v2.zarr") {
            bytes.truncate(n / 2);
        } else {
            for b in &mut bytes[n / 4..n / 2] {
                *b ^= 0x5a;
            }
        }
        std::fs::write(&f, bytes).unwrap();
        let v = ZarrStore::open(&copy).unwrap().variable("image").unwrap();
        let mut out = Array::zeros(DType::U8, [4, 6, 5]);
        let err = v.read_block(1, &mut out).unwrap_err().to_string();
        assert!(
            err.contains("`image`") && err.contains("4..8"),
            "{store}: {err}"
        );
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}
