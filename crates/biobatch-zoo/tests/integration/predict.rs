//! The bundled zoo's ONNX model end to end: kipoiseq-compatible dataloader → tract → Kipoi's
//! flat output. `examples/zoo/peak-cnn/expected.tsv` was written by Kipoi's own
//! `TsvBatchWriter` from kipoiseq inputs and onnxruntime outputs (see its README), so
//! agreeing with it checks our dataloader, our ONNX runtime and our column layout at once.

use std::path::{Path, PathBuf};

use biobatch_zoo::output::{Values, read_table};
use biobatch_zoo::run::{RunOptions, predict_to_file, test};
use biobatch_zoo::source::{ResolvedModel, bundled_zoo, resolve_in};
use serde_json::{Map, Value, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The bundled ONNX model, its specs' paths confined to the bundled examples (what the
/// `examples` source gives: the zoo shares the example data beside it).
fn peak_cnn() -> Result<ResolvedModel, biobatch_zoo::Error> {
    let zoo = bundled_zoo().unwrap();
    resolve_in(&zoo, zoo.parent().unwrap(), "peak-cnn")
}

fn example_args() -> Map<String, Value> {
    let dir = bundled_zoo().unwrap().join("peak-cnn");
    json!({
        "intervals_file": dir.join("example/intervals.bed"),
        "fasta_file": root().join("examples/data/peaks/genome.fa"),
    })
    .as_object()
    .unwrap()
    .clone()
}

#[test]
fn zoo_test_agrees_with_kipoi_and_onnxruntime() {
    let m = peak_cnn().unwrap();
    assert_eq!(m.model.kind, "onnx");
    assert_eq!(m.model.test.precision_decimal, 5);
    for workers in [0, 2] {
        let opts = RunOptions::with_batches(7, workers);
        let r = test(&m, &opts, None).unwrap();
        assert_eq!(r.run.rows, 40);
        assert_eq!(r.run.batches, 6, "40 examples in batches of 7");
        assert!(r.skipped.is_none());
        // preds/0 and the five metadata columns, 40 rows each.
        assert_eq!(r.compared, 6 * 40);
    }
}

#[test]
fn predictions_round_trip_through_parquet_and_tsv_with_metadata() {
    let m = peak_cnn().unwrap();
    let expected = read_table(&bundled_zoo().unwrap().join("peak-cnn/expected.tsv")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    for name in ["preds.parquet", "preds.tsv"] {
        let out = tmp.path().join(name);
        let r = predict_to_file(&m, &example_args(), &out, &RunOptions::default(), None).unwrap();
        assert_eq!(r.rows, 40);
        let got = read_table(&out).unwrap();
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{name}: Kipoi's columns"
        );
        for (k, want) in &expected {
            match (&got[k], want) {
                (Values::Num(a), Values::Num(b)) => {
                    for (x, y) in a.iter().zip(b) {
                        assert!((x - y).abs() < 1e-5, "{name}: {k}: {x} vs {y}");
                    }
                }
                (a, b) => assert_eq!(a, b, "{name}: {k}"),
            }
        }
        // Nothing but the output is left in the folder (the temporary file was renamed).
        let left: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            left.iter().all(|f| !f.to_string_lossy().contains(".tmp")),
            "{left:?}"
        );
    }
}

#[test]
fn a_failed_run_leaves_no_file_and_names_the_mismatch() {
    let m = peak_cnn().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("preds.parquet");
    // Channels last: the dataloader now gives (B, 500, 4), the model takes (B, 4, 500).
    let mut args = example_args();
    args.insert("alphabet_axis".into(), json!(1));
    let e = predict_to_file(&m, &args, &out, &RunOptions::default(), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("schema mismatch at `inputs`: the model expects shape (B, 4, 500), the dataloader gives shape (B, 500, 4)"),
        "{e}"
    );
    // A window of another length.
    let mut args = example_args();
    args.insert("auto_resize_len".into(), json!(400));
    let e = predict_to_file(&m, &args, &out, &RunOptions::default(), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("(B, 4, 500)") && e.contains("(B, 4, 400)"),
        "{e}"
    );
    // An unknown argument.
    let mut args = example_args();
    args.insert("resize".into(), json!(500));
    let e = predict_to_file(&m, &args, &out, &RunOptions::default(), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("argument `resize`: not an argument"), "{e}");
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "no file, no temporary file"
    );
}

#[test]
fn an_onnx_network_with_integer_inputs_gets_integers() {
    use biobatch_formats::fasta::{Fasta, Padding};
    use biobatch_zoo::output::{Table, collect};
    use biobatch_zoo::run::{prepare, run};
    use biobatch_zoo::source::resolve_dir;

    let m = resolve_dir(&root().join("tests/data/zoo/onnx-int64")).unwrap();
    let bed = root().join("tests/data/zoo/kipoiseq/intervals.bed");
    let fasta = root().join("tests/data/multi.fa");
    let args = json!({"intervals_file": bed, "fasta_file": fasta});
    let (model, dl) = prepare(&m, args.as_object().unwrap(), false, None, "cpu").unwrap();
    let mut t = Table::new();
    let opts = RunOptions::with_batches(5, 2);
    let r = run(&m, model.as_ref(), &dl, &opts, &mut |meta, p| {
        collect(&mut t, meta, p)
    })
    .unwrap();
    assert_eq!(r.rows, 14);
    let num = |k: &str| match &t[k] {
        Values::Num(v) => v.clone(),
        Values::Text(_) => panic!("{k} is text"),
    };
    let text = |k: &str| match &t[k] {
        Values::Text(v) => v.clone(),
        Values::Num(v) => v.iter().map(|x| x.to_string()).collect(),
    };
    // Brute force: count A/C/G/T (either case) in each window straight from the FASTA.
    let fa = Fasta::open(&fasta).unwrap();
    let (chr, start, end) = (
        text("metadata/ranges/chr"),
        num("metadata/ranges/start"),
        num("metadata/ranges/end"),
    );
    let preds = num("preds/0");
    let mut distinct = std::collections::BTreeSet::new();
    for i in 0..14 {
        let (s, e) = (start[i] as i64, end[i] as i64);
        let mut buf = vec![0u8; (e - s) as usize];
        fa.fetch_into(&chr[i], s, e, Padding::Error, &mut buf)
            .unwrap();
        let want = buf.iter().filter(|b| b"ACGTacgt".contains(b)).count() as f64;
        assert_eq!(preds[i], want, "row {i}: {}:{s}-{e}", chr[i]);
        distinct.insert(want as i64);
    }
    assert!(
        distinct.len() > 1,
        "the windows differ in N content: {distinct:?}"
    );
}

#[test]
fn an_interval_dataset_feeds_a_zoo_model_as_kipoiseq_does() {
    // The bundled ONNX model fed by biobatch.IntervalDataset instead of SeqIntervalDl: its
    // inputs are a map with `seq` ([4, 500], the network's input name), its windows the same
    // resize around each centre, so its predictions are Kipoi's expected ones.
    let tmp = tempfile::tempdir().unwrap();
    let src = bundled_zoo().unwrap().join("peak-cnn");
    std::fs::copy(src.join("model.onnx"), tmp.path().join("model.onnx")).unwrap();
    std::fs::write(
        tmp.path().join("model.yaml"),
        "type: onnx\n\
         args:\n  file: model.onnx\n\
         info:\n  doc: peak CNN on IntervalDataset\n\
         default_dataloader:\n  defined_as: biobatch.IntervalDataset\n  default_args:\n    \
         sequence_length: 500\n    labels: \"4\"\n\
         schema:\n  inputs:\n    seq:\n      shape: (4, 500)\n  targets:\n    shape: (1,)\n",
    )
    .unwrap();
    let m = biobatch_zoo::source::resolve_dir(tmp.path()).unwrap();
    let args = json!({
        "intervals": src.join("example/intervals.bed"),
        "fasta": root().join("examples/data/peaks/genome.fa"),
    });
    let out = tmp.path().join("preds.parquet");
    let r = predict_to_file(
        &m,
        args.as_object().unwrap(),
        &out,
        &RunOptions::with_batches(16, 2),
        None,
    )
    .unwrap();
    assert_eq!(r.rows, 40);
    let got = read_table(&out).unwrap();
    let want = read_table(&src.join("expected.tsv")).unwrap();
    for k in [
        "preds/0",
        "metadata/ranges/start",
        "metadata/ranges/end",
        "metadata/ranges/id",
    ] {
        match (&got[k], &want[k]) {
            (Values::Num(a), Values::Num(b)) => {
                assert_eq!(a.len(), 40);
                for (x, y) in a.iter().zip(b) {
                    assert!((x - y).abs() < 1e-5, "{k}: {x} vs {y}");
                }
            }
            (a, b) => assert_eq!(a, b, "{k}"),
        }
    }
    // A window the model does not take is refused before any data is read.
    let mut bad = args.as_object().unwrap().clone();
    bad.insert("sequence_length".into(), json!(400));
    let e = predict_to_file(&m, &bad, &out, &RunOptions::default(), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("inputs/seq") && e.contains("(B, 4, 500)") && e.contains("(B, 4, 400)"),
        "{e}"
    );
}
