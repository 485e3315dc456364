//! `.h5ad` import (feature `h5ad`) against what anndata reads from three real files, one per
//! encoding: anndata ≥ 0.8 (squidpy's test data, CSR), 0.7 (scirpy's wu2020, raw counts,
//! categories by object reference) and < 0.7 (scanpy's pbmc68k_reduced, dense X, compound obs).
#![cfg(feature = "h5ad")]

use std::path::PathBuf;

use arrow_array::types::Int32Type;
use arrow_array::{Array, DictionaryArray, RecordBatch, StringArray};
use biobatch_formats::csr::{CsrIndex, CsrValue, CsrView};
use biobatch_formats::soma::{CsrVisitor, Experiment, Verify};

/// A file of tests/data/soma.
pub(super) fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data/soma")
        .join(name)
}

/// A layer's rows as `(column, value)` pairs, whatever its index and value types.
pub(super) struct Rows;
impl CsrVisitor for Rows {
    type Out = Vec<Vec<(usize, f64)>>;
    fn visit<V: CsrValue, I: CsrIndex>(self, v: CsrView<'_, V, I>) -> Self::Out {
        (0..v.n_rows())
            .map(|r| {
                let (i, x) = v.row(r);
                i.iter()
                    .zip(x)
                    .map(|(c, y)| (c.get(), y.to_f32() as f64))
                    .collect()
            })
            .collect()
    }
}

fn strings(t: &RecordBatch, col: &str) -> Vec<String> {
    let a = t.column_by_name(col).unwrap();
    let s = a.as_any().downcast_ref::<StringArray>().unwrap();
    (0..s.len()).map(|i| s.value(i).to_string()).collect()
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + b.abs())
}

#[test]
fn each_encoding_imports_to_what_anndata_reads() {
    for (name, encoding, storage, dtype) in [
        ("squidpy_test_data", "anndata >= 0.8", "csr", "f32"),
        ("wu2020_200_v0_6", "anndata 0.7", "csr", "u16"),
        ("10x_pbmc68k_reduced", "anndata < 0.7", "dense", "f32"),
    ] {
        let want: serde_json::Value = serde_json::from_slice(
            &std::fs::read(fixture(&format!("{name}.expected.json"))).unwrap(),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("s");
        let r =
            biobatch_formats::soma::h5ad::import_h5ad(fixture(&format!("{name}.h5ad")), &out, "X")
                .unwrap();
        assert_eq!(
            (r.encoding.as_str(), r.x_storage.as_str()),
            (encoding, storage),
            "{name}"
        );
        let e = Experiment::open_with(&out, Verify::Full).unwrap();
        let shape = [e.n_obs() as u64, e.n_vars() as u64];
        assert_eq!(
            shape[..],
            [
                want["shape"][0].as_u64().unwrap(),
                want["shape"][1].as_u64().unwrap()
            ],
            "{name}"
        );
        let layer = e.layer("X").unwrap();
        assert_eq!(
            layer.value_dtype(),
            dtype,
            "{name}: raw counts stored as float become u16"
        );
        let rows = layer.visit(Rows);
        let total: f64 = rows.iter().flatten().map(|p| p.1).sum();
        assert!(
            close(total, want["X_sum"].as_f64().unwrap(), 1e-4),
            "{name}: sum {total}"
        );
        for (k, s) in want["cell_sums_first"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let got: f64 = rows[k].iter().map(|p| p.1).sum();
            assert!(
                close(got, s.as_f64().unwrap(), 1e-4),
                "{name}: cell {k}: {got} vs {s}"
            );
        }
        for (k, p) in want["cell0_pairs_first"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let (j, v) = (p[0].as_u64().unwrap() as usize, p[1].as_f64().unwrap());
            assert_eq!(rows[0][k].0, j, "{name}: cell 0 entry {k}");
            assert!(close(rows[0][k].1, v, 1e-5), "{name}: cell 0 gene {j}");
        }
        let ids = strings(e.obs(), "obs_id");
        for (k, n) in want["obs_names_first"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            assert_eq!(ids[k], n.as_str().unwrap(), "{name}");
        }
        let vids = strings(e.var(), "var_id");
        for (k, n) in want["var_names_first"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            assert_eq!(vids[k], n.as_str().unwrap(), "{name}");
        }
        // Every categorical obs column: its categories and first codes.
        let mut checked = 0;
        for (col, spec) in want["obs_columns"].as_object().unwrap() {
            if spec["dtype"] != "categorical" {
                continue;
            }
            let a = e
                .obs()
                .column_by_name(col)
                .unwrap_or_else(|| panic!("{name}: no obs column {col}"));
            let d = a
                .as_any()
                .downcast_ref::<DictionaryArray<Int32Type>>()
                .unwrap();
            let values = d.values().as_any().downcast_ref::<StringArray>().unwrap();
            let cats: Vec<&str> = (0..values.len()).map(|i| values.value(i)).collect();
            let want_cats: Vec<&str> = spec["categories"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(cats, want_cats, "{name}: {col}");
            for (k, c) in spec["codes_first"].as_array().unwrap().iter().enumerate() {
                let c = c.as_i64().unwrap();
                let got = if d.is_null(k) {
                    -1
                } else {
                    d.keys().value(k) as i64
                };
                assert_eq!(got, c, "{name}: {col} row {k}");
            }
            assert_eq!(
                d.null_count() as u64,
                spec["n_missing"].as_u64().unwrap(),
                "{name}: {col}"
            );
            checked += 1;
        }
        assert!(checked > 0, "{name}: no categorical column checked");
    }
}

#[test]
fn a_file_that_is_not_hdf5_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("x.h5ad");
    std::fs::write(&bad, b"not hdf5").unwrap();
    let e = biobatch_formats::soma::h5ad::import_h5ad(&bad, dir.path().join("s"), "X")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("x.h5ad") && e.contains("not a readable HDF5 file"),
        "{e}"
    );
    assert!(!dir.path().join("s").exists());
}
