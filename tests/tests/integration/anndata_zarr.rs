//! AnnData's Zarr layout (`biobatch cells import --zarr`): two `.h5ad` fixtures rewritten by
//! anndata's `write_zarr` (v2 and v3; tests/data/scripts/make_anndata_zarr.py) import to the
//! same store as the `.h5ad` files themselves, whose import is checked against what anndata
//! reads (h5ad.rs).
#![cfg(all(feature = "h5ad", feature = "zarr"))]

use biobatch_formats::soma::{Experiment, Verify, import_anndata_zarr};

use super::h5ad::{Rows, fixture};

#[test]
fn zarr_copies_import_to_the_same_store_as_their_h5ad() {
    for (stem, storage, format) in [
        ("squidpy_test_data", "csr", "v2"),
        ("10x_pbmc68k_reduced", "dense", "v3"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (from_h5ad, from_zarr) = (dir.path().join("h"), dir.path().join("z"));
        biobatch_formats::soma::h5ad::import_h5ad(
            fixture(&format!("{stem}.h5ad")),
            &from_h5ad,
            "X",
        )
        .unwrap();
        let r = import_anndata_zarr(fixture(&format!("{stem}.zarr")), &from_zarr, "X")
            .unwrap_or_else(|e| panic!("{stem} ({format}): {e}"));
        assert_eq!(
            (r.encoding.as_str(), r.x_storage.as_str()),
            ("anndata >= 0.8", storage),
            "{stem}"
        );
        let (h, z) = (
            Experiment::open_with(&from_h5ad, Verify::Full).unwrap(),
            Experiment::open_with(&from_zarr, Verify::Full).unwrap(),
        );
        assert_eq!((z.n_obs(), z.n_vars()), (h.n_obs(), h.n_vars()), "{stem}");
        assert_eq!(h.obs(), z.obs(), "{stem}: obs");
        assert_eq!(h.var(), z.var(), "{stem}: var");
        let (hx, zx) = (h.layer("X").unwrap(), z.layer("X").unwrap());
        assert_eq!(hx.value_dtype(), zx.value_dtype(), "{stem}");
        assert_eq!(hx.visit(Rows), zx.visit(Rows), "{stem}: X");
    }
}

#[test]
fn a_damaged_zarr_anndata_is_an_error_naming_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let e = import_anndata_zarr(fixture("squidpy_test_data.h5ad"), dir.path().join("s"), "X")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a Zarr store"), "{e}");
    // Without its obs group.
    let copy = dir.path().join("c.zarr");
    copy_dir(&fixture("squidpy_test_data.zarr"), &copy);
    std::fs::remove_dir_all(copy.join("obs")).unwrap();
    let e = import_anndata_zarr(&copy, dir.path().join("s2"), "X")
        .unwrap_err()
        .to_string();
    assert!(e.contains("c.zarr") && e.contains("/obs"), "{e}");
    assert!(!dir.path().join("s2").exists(), "nothing is written");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
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
