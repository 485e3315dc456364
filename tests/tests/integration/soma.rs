//! The SOMA-like store: round trips, every kind of damage, atomic appends, and the 10x
//! importer against values computed by scipy.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, DictionaryArray, Float64Array, Int32Array, RecordBatch, StringArray,
};
use biobatch_formats::csr::{CsrIndex, CsrMatrix, CsrValue, CsrView};
use biobatch_formats::soma::{
    CsrVisitor, Experiment, LayerData, Verify, append_layer, write_experiment,
};

/// A small matrix with a known pattern: cell i has genes (i·7 + k) % n_genes for
/// k < i % 5, value k + 1 + i.
fn matrix(cells: usize, genes: usize) -> CsrMatrix<u16, u32> {
    let (mut r, mut c, mut v) = (vec![], vec![], vec![]);
    for i in 0..cells {
        for k in 0..i % 5 {
            r.push(i as u32);
            c.push(((i * 7 + k) % genes) as u32);
            v.push((k + 1 + i) as u16);
        }
    }
    CsrMatrix::from_coo(cells, genes, &r, &c, &v).unwrap()
}

fn tables(cells: usize, genes: usize) -> (RecordBatch, RecordBatch) {
    let tissue: DictionaryArray<Int32Type> = (0..cells)
        .map(|i| ["lung", "liver", "brain"][i % 3])
        .collect();
    let obs = RecordBatch::try_from_iter([
        (
            "obs_id",
            Arc::new(StringArray::from_iter_values(
                (0..cells).map(|i| format!("cell{i}")),
            )) as ArrayRef,
        ),
        ("tissue", Arc::new(tissue) as ArrayRef),
        (
            "n_genes",
            Arc::new(Int32Array::from_iter_values(
                (0..cells).map(|i| (i % 5) as i32),
            )) as ArrayRef,
        ),
        (
            "score",
            Arc::new(Float64Array::from_iter_values(
                (0..cells).map(|i| i as f64 / 2.0),
            )) as ArrayRef,
        ),
    ])
    .unwrap();
    let var = RecordBatch::try_from_iter([(
        "var_id",
        Arc::new(StringArray::from_iter_values(
            (0..genes).map(|j| format!("g{j}")),
        )) as ArrayRef,
    )])
    .unwrap();
    (obs, var)
}

/// Dense copy of a stored layer, through the visitor (whatever its types).
struct Dense;
impl CsrVisitor for Dense {
    type Out = Vec<f32>;
    fn visit<V: CsrValue, I: CsrIndex>(self, view: CsrView<'_, V, I>) -> Vec<f32> {
        let rows: Vec<u64> = (0..view.n_rows() as u64).collect();
        let mut out = vec![0f32; rows.len() * view.n_cols];
        view.rows_to_dense(&rows, &mut out).unwrap();
        out
    }
}

fn dense_of(m: &CsrMatrix<u16, u32>) -> Vec<f32> {
    let rows: Vec<u64> = (0..m.n_rows() as u64).collect();
    let mut out = vec![0f32; rows.len() * m.n_cols()];
    m.view().rows_to_dense(&rows, &mut out).unwrap();
    out
}

fn store(dir: &Path) -> (PathBuf, CsrMatrix<u16, u32>) {
    let p = dir.join("exp");
    let m = matrix(50, 30);
    let (obs, var) = tables(50, 30);
    write_experiment(&p, &obs, &var, &[("counts", LayerData::from(&m))]).unwrap();
    (p, m)
}

#[test]
fn a_store_round_trips_every_value_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let (p, m) = store(dir.path());
    for verify in [Verify::Fast, Verify::Full] {
        let e = Experiment::open_with(&p, verify).unwrap();
        assert_eq!((e.n_obs(), e.n_vars()), (50, 30));
        let layer = e.layer("counts").unwrap();
        assert_eq!(layer.nnz(), m.nnz());
        assert_eq!(layer.value_dtype(), "u16");
        assert_eq!(
            e.manifest().layers["counts"].index_dtype,
            "u16",
            "30 genes fit u16"
        );
        assert_eq!(layer.visit(Dense), dense_of(&m));
        let (obs, _) = tables(50, 30);
        assert_eq!(
            e.obs(),
            &obs,
            "obs (strings, dictionary, ints, floats) round-trips"
        );
        assert_eq!(e.var().num_rows(), 30);
    }
    // Only the store is left in the parent: the temporary directory was renamed.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["exp"]);
    // Writing over an existing store is refused.
    let (obs, var) = tables(50, 30);
    let err = write_experiment(&p, &obs, &var, &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("already exists"), "{err}");
    // Shapes must agree.
    let err = write_experiment(
        dir.path().join("bad"),
        &obs,
        &var,
        &[("x", LayerData::from(&matrix(49, 30)))],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("49 × 30") && err.contains("50 rows"), "{err}");
}

#[test]
fn layers_are_appended_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let (p, m) = store(dir.path());
    let f = CsrMatrix::<f32, u32>::from_coo(50, 30, &[0, 49], &[1, 29], &[0.5, 2.5]).unwrap();
    append_layer(&p, "normalized", LayerData::from(&f)).unwrap();
    let e = Experiment::open_with(&p, Verify::Full).unwrap();
    assert_eq!(
        e.layer_names().collect::<Vec<_>>(),
        ["counts", "normalized"]
    );
    assert_eq!(e.layer("normalized").unwrap().value_dtype(), "f32");
    assert_eq!(e.layer("counts").unwrap().visit(Dense), dense_of(&m));
    drop(e);
    let err = append_layer(&p, "counts", LayerData::from(&f))
        .unwrap_err()
        .to_string();
    assert!(err.contains("already has a layer named `counts`"), "{err}");
    let err = Experiment::open(&p)
        .unwrap()
        .layer("nope")
        .unwrap_err()
        .to_string();
    assert!(err.contains("counts, normalized"), "{err}");

    // An interrupted append (files in place, manifest not yet swapped) leaves a store that
    // opens without the layer, and the append can be redone.
    let leftover = p.join("X/half");
    std::fs::create_dir_all(&leftover).unwrap();
    std::fs::write(leftover.join("values.npy"), b"partial").unwrap();
    let e = Experiment::open_with(&p, Verify::Full).unwrap();
    assert!(e.layer("half").is_err());
    drop(e);
    append_layer(&p, "half", LayerData::from(&f)).unwrap();
    assert!(
        Experiment::open_with(&p, Verify::Full)
            .unwrap()
            .layer("half")
            .is_ok()
    );
}

/// Rewrites `rel` inside the store with `edit` applied to its bytes.
fn edit(store: &Path, rel: &str, edit: impl FnOnce(&mut Vec<u8>)) {
    let p = store.join(rel);
    let mut b = std::fs::read(&p).unwrap();
    edit(&mut b);
    std::fs::write(&p, b).unwrap();
}

/// Rewrites the manifest's checksums of the file `rel` to match its (damaged) bytes: damage
/// that a writer with a bug would seal in, which only the structural checks can catch.
fn reseal(store: &Path, rel: &str) {
    use xxhash_rust::xxh3::xxh3_64;
    let b = std::fs::read(store.join(rel)).unwrap();
    let chunks: Vec<String> = b
        .chunks(biobatch_formats::soma::CHUNK as usize)
        .map(|c| format!("{:016x}", xxh3_64(c)))
        .collect();
    edit(store, "manifest.json", |m| {
        let mut v: serde_json::Value = serde_json::from_slice(m).unwrap();
        fn find<'a>(v: &'a mut serde_json::Value, rel: &str) -> Option<&'a mut serde_json::Value> {
            match v {
                serde_json::Value::Object(o)
                    if o.get("file").and_then(|f| f.as_str()) == Some(rel) =>
                {
                    Some(v)
                }
                serde_json::Value::Object(o) => o.values_mut().find_map(|x| find(x, rel)),
                _ => None,
            }
        }
        let e = find(&mut v, rel).unwrap();
        e["checksum"] = format!("{:016x}", xxh3_64(&b)).into();
        e["bytes"] = b.len().into();
        e["chunks"] = chunks.into();
        *m = serde_json::to_vec(&v).unwrap();
    });
}

fn open_err(p: &Path, verify: Verify) -> String {
    Experiment::open_with(p, verify).unwrap_err().to_string()
}

#[test]
fn every_kind_of_damage_is_an_error_naming_the_file() {
    type Damage = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Damage, Verify, &str)> = vec![
        (
            "truncated values",
            Box::new(|p| edit(p, "X/counts/values.npy", |b| b.truncate(b.len() - 2))),
            Verify::Fast,
            "values.npy",
        ),
        (
            "flipped value byte",
            Box::new(|p| edit(p, "X/counts/values.npy", |b| *b.last_mut().unwrap() ^= 1)),
            Verify::Full,
            "values.npy: checksum",
        ),
        (
            "missing indices",
            Box::new(|p| std::fs::remove_file(p.join("X/counts/indices.npy")).unwrap()),
            Verify::Fast,
            "indices.npy",
        ),
        (
            "garbage manifest",
            Box::new(|p| std::fs::write(p.join("manifest.json"), b"{not json").unwrap()),
            Verify::Fast,
            "manifest.json: not a store manifest",
        ),
        (
            "future version",
            Box::new(|p| {
                edit(p, "manifest.json", |b| {
                    *b = String::from_utf8(b.clone())
                        .unwrap()
                        .replace("\"version\": 1", "\"version\": 9")
                        .into_bytes()
                })
            }),
            Verify::Fast,
            "store version 9",
        ),
        (
            "obs replaced by a table of another length",
            Box::new(|p| {
                let (obs, var) = tables(49, 30);
                let other = p.parent().unwrap().join("other");
                write_experiment(&other, &obs, &var, &[]).unwrap();
                std::fs::copy(other.join("obs.parquet"), p.join("obs.parquet")).unwrap();
                // Keep the recorded size and checksums so only the row count can tell.
                reseal(p, "obs.parquet");
            }),
            Verify::Fast,
            "obs.parquet: has 49 rows, the store has 50 cells",
        ),
        (
            "indptr that decreases",
            Box::new(|p| {
                edit(p, "X/counts/indptr.npy", |b| {
                    // Row 10's start (after the header): make it larger than row 11's.
                    let header = 10 + u16::from_le_bytes([b[8], b[9]]) as usize;
                    let at = header + 10 * 8;
                    b[at..at + 8].copy_from_slice(&1_000u64.to_le_bytes());
                });
                reseal(p, "X/counts/indptr.npy");
            }),
            Verify::Fast,
            "indptr.npy: decreases at row 10",
        ),
        (
            "a column index past n_vars",
            Box::new(|p| {
                edit(p, "X/counts/indices.npy", |b| {
                    let n = b.len();
                    b[n - 2..].copy_from_slice(&500u16.to_le_bytes());
                });
                reseal(p, "X/counts/indices.npy");
            }),
            Verify::Full,
            "indices.npy",
        ),
        (
            "wrong dtype in a header",
            Box::new(|p| {
                edit(p, "X/counts/values.npy", |b| {
                    let at = b.windows(3).position(|w| w == b"<u2").unwrap();
                    b[at + 1] = b'i';
                });
                reseal(p, "X/counts/values.npy");
            }),
            Verify::Fast,
            "values.npy: holds `<i2` values, the manifest says u16",
        ),
    ];
    for (what, damage, verify, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let (p, _) = store(dir.path());
        damage(&p);
        let err = open_err(&p, verify);
        assert!(err.contains(want), "{what}: {err}");
    }
}

#[test]
fn an_out_of_range_index_is_refused_when_gathering_even_without_a_full_check() {
    let dir = tempfile::tempdir().unwrap();
    let (p, _) = store(dir.path());
    edit(&p, "X/counts/indices.npy", |b| {
        let n = b.len();
        b[n - 2..].copy_from_slice(&500u16.to_le_bytes());
    });
    // Sealed in by the manifest, so that no checksum sees it.
    reseal(&p, "X/counts/indices.npy");
    let e = Experiment::open(&p).unwrap();
    struct Gather;
    impl CsrVisitor for Gather {
        type Out = String;
        fn visit<V: CsrValue, I: CsrIndex>(self, view: CsrView<'_, V, I>) -> String {
            let mut out = vec![0f32; view.n_cols];
            view.rows_to_dense(&[49], &mut out).unwrap_err().to_string()
        }
    }
    let err = e.layer("counts").unwrap().visit(Gather);
    assert!(err.contains("row 49 has column 500"), "{err}");
    // The dictionary column survives as a dictionary.
    assert!(matches!(
        e.obs().column_by_name("tissue").unwrap().data_type(),
        arrow_schema::DataType::Dictionary(..)
    ));
    let _ = e.obs().column_by_name("tissue").unwrap().len();
}

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data/soma")
        .join(rel)
}

fn expected(rel: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(fixture(rel)).unwrap()).unwrap()
}

/// The stored layer's rows as (gene, value) pairs.
struct Pairs(Vec<u64>);
impl CsrVisitor for Pairs {
    type Out = Vec<Vec<(u64, f64)>>;
    fn visit<V: CsrValue, I: CsrIndex>(self, view: CsrView<'_, V, I>) -> Self::Out {
        self.0
            .iter()
            .map(|&r| {
                let (i, v) = view.row(r as usize);
                i.iter()
                    .zip(v)
                    .map(|(c, x)| (c.get() as u64, x.to_f32() as f64))
                    .collect()
            })
            .collect()
    }
}

fn strings_of(batch: &RecordBatch, col: &str) -> Vec<String> {
    let a = batch.column_by_name(col).unwrap();
    let s = a.as_any().downcast_ref::<StringArray>().unwrap();
    (0..s.len()).map(|i| s.value(i).to_string()).collect()
}

#[test]
fn ten_x_directories_import_to_the_values_scipy_reads() {
    for dir in ["10x_v2", "10x_v3"] {
        let want = expected(&format!("{dir}/expected.json"));
        let out = tempfile::tempdir().unwrap();
        let store = out.path().join("s");
        let report = biobatch_formats::soma::import_mtx(fixture(dir), &store, "counts").unwrap();
        let e = Experiment::open_with(&store, Verify::Full).unwrap();
        assert_eq!(e.n_obs() as u64, want["n_cells"].as_u64().unwrap(), "{dir}");
        assert_eq!(
            e.n_vars() as u64,
            want["n_genes"].as_u64().unwrap(),
            "{dir}"
        );
        let layer = e.layer("counts").unwrap();
        assert_eq!(layer.nnz() as u64, want["nnz"].as_u64().unwrap(), "{dir}");
        assert_eq!(layer.value_dtype(), "u16", "{dir}: integer counts fit u16");
        let n = e.n_obs() as u64;
        let rows = layer.visit(Pairs((0..n).collect()));
        let total: f64 = rows.iter().flatten().map(|p| p.1).sum();
        assert_eq!(total, want["sum"].as_f64().unwrap(), "{dir}");
        let sums: Vec<f64> = rows
            .iter()
            .take(10)
            .map(|r| r.iter().map(|p| p.1).sum())
            .collect();
        let want_sums: Vec<f64> = want["cell_sums_first"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(sums, want_sums, "{dir}");
        let pairs = |v: &serde_json::Value| -> Vec<(u64, f64)> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].as_u64().unwrap(), p[1].as_f64().unwrap()))
                .collect()
        };
        assert_eq!(rows[0], pairs(&want["cell0_pairs"]), "{dir}: cell 0");
        assert_eq!(
            rows[n as usize - 1],
            pairs(&want["last_cell_pairs"]),
            "{dir}: last cell"
        );
        let barcodes = strings_of(e.obs(), "obs_id");
        let want_barcodes: Vec<String> = want["barcodes_first"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(barcodes[..want_barcodes.len()], want_barcodes[..], "{dir}");
        let ids = strings_of(e.var(), "var_id");
        let names = strings_of(e.var(), "gene_name");
        for (k, (id, name)) in want["feature_ids_first"]
            .as_array()
            .unwrap()
            .iter()
            .zip(want["feature_names_first"].as_array().unwrap())
            .enumerate()
        {
            assert_eq!(
                (ids[k].as_str(), names[k].as_str()),
                (id.as_str().unwrap(), name.as_str().unwrap())
            );
        }
        // v3 lists genes in decreasing order within each cell: rows are sorted on import.
        assert!(
            report.sorted_by_cell,
            "{dir}: both files group entries by cell"
        );
        let has_types = e.var().column_by_name("feature_type").is_some();
        assert_eq!(has_types, want["feature_columns"] == 3, "{dir}");
    }
}

#[test]
fn malformed_matrix_market_files_name_file_and_line() {
    let cases = [
        (
            "%%MatrixMarket matrix array integer general\n2 2\n",
            "a coordinate (sparse) matrix",
        ),
        (
            "%%MatrixMarket matrix coordinate integer general\n2 2 1\n3 1 5\n",
            ":3:",
        ),
        (
            "%%MatrixMarket matrix coordinate integer general\n2 2 2\n1 1 5\n",
            "promises 2 entries",
        ),
        (
            "%%MatrixMarket matrix coordinate integer general\n2 2 1\n1 1 x\n",
            ":3: column 3 (value)",
        ),
        ("not a header\n", ":1: header"),
    ];
    for (text, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("matrix.mtx"), text).unwrap();
        std::fs::write(dir.path().join("barcodes.tsv"), "a\nb\n").unwrap();
        std::fs::write(dir.path().join("features.tsv"), "g1\tG1\ng2\tG2\n").unwrap();
        let err = biobatch_formats::soma::import_mtx(dir.path(), dir.path().join("out"), "counts")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(want) && err.contains("matrix.mtx"),
            "{want}: {err}"
        );
        assert!(
            !dir.path().join("out").exists(),
            "nothing written on failure"
        );
    }
}

#[test]
fn categories_keep_their_order_and_unused_values_through_parquet() {
    use arrow_array::cast::AsArray;
    let dir = tempfile::tempdir().unwrap();
    // Categories in a deliberate order, one never used; data uses them out of order.
    let keys = Int32Array::from(vec![Some(2), Some(0), None, Some(2)]);
    let values = Arc::new(StringArray::from(vec!["z-first", "unused", "a-last"]));
    let dict = DictionaryArray::<Int32Type>::try_new(keys, values).unwrap();
    let obs = RecordBatch::try_from_iter([
        (
            "obs_id",
            Arc::new(StringArray::from(vec!["a", "b", "c", "d"])) as ArrayRef,
        ),
        ("kind", Arc::new(dict) as ArrayRef),
    ])
    .unwrap();
    let var = RecordBatch::try_from_iter([(
        "var_id",
        Arc::new(StringArray::from(vec!["g"])) as ArrayRef,
    )])
    .unwrap();
    let p = dir.path().join("s");
    write_experiment(&p, &obs, &var, &[]).unwrap();
    let e = Experiment::open(&p).unwrap();
    assert_eq!(e.obs(), &obs, "codes, categories and nulls as written");
    let d = e.obs().column_by_name("kind").unwrap().as_any_dictionary();
    assert_eq!(d.values().as_string::<i32>().value(1), "unused");
}
