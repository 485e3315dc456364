//! The model zoo from the command line, run as a user would.

use crate::common;

use common::*;

#[test]
fn zoo_lists_inspects_tests_and_predicts_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("zoo.yaml");
    std::fs::write(
        &config,
        format!(
            "model_sources:\n  kipoi:\n    type: local\n    local_path: {}\n",
            data("zoo/kipoi").display()
        ),
    )
    .unwrap();
    let ls = lines(zoo(&["zoo", "ls"], &config));
    assert!(ls.contains(&"examples\tpeak-cnn".to_string()), "{ls:?}");
    assert!(
        ls.contains(&"kipoi\tCpGenie/A549_ENCSR000DDI".to_string()),
        "{ls:?}"
    );
    let only = lines(zoo(&["zoo", "ls", "--source", "kipoi"], &config));
    assert!(only.iter().all(|l| l.starts_with("kipoi\t")));

    let info = lines(zoo(&["zoo", "info", "Basset"], &config)).join("\n");
    assert!(
        info.contains("type: pytorch") && info.contains("runnable here: no"),
        "{info}"
    );
    assert!(info.contains("inputs: shape (4, 600, 1)"), "{info}");
    assert!(
        info.contains("model's default_args: alphabet_axis=0, auto_resize_len=600"),
        "{info}"
    );

    // The bundled ONNX model: its test, its example files, a prediction on them.
    let t = lines(zoo(
        &["zoo", "test", "peak-cnn", "--batch-size", "16"],
        &config,
    ));
    let v: serde_json::Value = serde_json::from_str(t.last().unwrap()).unwrap();
    assert_eq!(
        (v["examples"].as_u64(), v["compared"].as_u64()),
        (Some(40), Some(240))
    );
    let ex = dir.path().join("ex");
    let args = lines(zoo(
        &["zoo", "get-example", "peak-cnn", "-o", ex.to_str().unwrap()],
        &config,
    ));
    assert!(ex.join("intervals.bed").is_file() && ex.join("genome.fa.fai").is_file());
    let out = dir.path().join("p.parquet");
    let p = lines(zoo(
        &[
            "zoo",
            "predict",
            "peak-cnn",
            "--dataloader-args",
            &args[0],
            "-o",
            out.to_str().unwrap(),
        ],
        &config,
    ));
    let v: serde_json::Value = serde_json::from_str(&p[0]).unwrap();
    assert_eq!(v["examples"], 40);
    assert!(out.is_file());
    // A batch size of 0 is refused, not run as batches of one.
    let zero = zoo(
        &[
            "zoo",
            "predict",
            "peak-cnn",
            "--dataloader-args",
            &args[0],
            "--batch-size",
            "0",
            "-o",
            dir.path().join("z.parquet").to_str().unwrap(),
        ],
        &config,
    );
    assert_eq!(zero.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&zero.stderr).contains("batch_size must be at least 1"));
    assert!(!dir.path().join("z.parquet").exists());

    // Errors name what is wrong.
    let e = zoo(&["zoo", "predict", "Basset", "-o", "x.parquet"], &config);
    assert!(!e.status.success());
    let msg = String::from_utf8(e.stderr).unwrap();
    assert!(
        msg.contains("unsupported model type `pytorch`") && msg.contains("torch.onnx.export"),
        "{msg}"
    );
    let e = zoo(
        &[
            "zoo",
            "predict",
            "peak-cnn",
            "--dataloader-args",
            "{not json",
            "-o",
            "x.parquet",
        ],
        &config,
    );
    assert!(
        String::from_utf8(e.stderr)
            .unwrap()
            .contains("--dataloader-args is not JSON")
    );
    let e = zoo(&["zoo", "info", "NoSuchModel"], &config);
    assert!(
        String::from_utf8(e.stderr)
            .unwrap()
            .contains("no model `NoSuchModel` in the sources examples, kipoi")
    );

    // A new model folder reads back.
    let new = dir.path().join("my-model");
    assert!(
        zoo(&["zoo", "init", new.to_str().unwrap()], &config)
            .status
            .success()
    );
    let info = lines(zoo(&["zoo", "info", new.to_str().unwrap()], &config)).join("\n");
    assert!(
        info.contains("type: onnx") && info.contains("kipoiseq.dataloaders.SeqIntervalDl"),
        "{info}"
    );
    assert!(
        !zoo(&["zoo", "init", new.to_str().unwrap()], &config)
            .status
            .success(),
        "init never overwrites"
    );
    // A BPNet folder: its model and dataloader schemas fit each other.
    let bp = dir.path().join("my-bpnet");
    let init = zoo(
        &[
            "zoo",
            "init",
            bp.to_str().unwrap(),
            "--type",
            "biobatch.bpnet",
        ],
        &config,
    );
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let m = biobatch::zoo::source::resolve_dir(&bp).unwrap();
    assert_eq!(m.model.kind, "biobatch.bpnet");
    let dl = m.dataloader.as_ref().unwrap();
    assert_eq!(dl.defined_as.as_deref(), Some("biobatch.PeakDataset"));
    biobatch::zoo::run::check_schema(&m.model.schema.inputs, &dl.output_schema.inputs, "inputs")
        .unwrap();
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bp.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["model"]["n_filters"], 64);
}

#[test]
fn zoo_reports_a_broken_spec_in_a_source_not_a_missing_model() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("mine/Broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("model.yaml"), "type: onnx\nargs: [unclosed\n").unwrap();
    let config = dir.path().join("zoo.yaml");
    std::fs::write(
        &config,
        format!(
            "model_sources:\n  mine:\n    type: local\n    local_path: {}\n",
            dir.path().join("mine").display()
        ),
    )
    .unwrap();
    let e = zoo(&["zoo", "info", "Broken"], &config);
    assert!(!e.status.success());
    let msg = String::from_utf8(e.stderr).unwrap();
    assert!(
        msg.contains("source mine") && msg.contains("Broken/model.yaml"),
        "{msg}"
    );
    assert!(!msg.contains("no model"), "{msg}");
}
