//! `zoo init`: a new model folder to fill in — `model.yaml` and `dataloader.yaml` written
//! from the spec types (so they read back as specs), a README, an empty `example/` — for an
//! ONNX model on kipoiseq's `SeqIntervalDl`, or a BPNet (`biobatch.bpnet`) on the peak
//! dataset. The folder appears whole or not at all.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use biobatch_core::{ArraySchema, SchemaNode, SpecialType};
use biobatch_formats::fs::AtomicDir;
use serde_json::json;

use crate::spec::{
    ArgSpec, Author, DataloaderRef, DataloaderSpec, Dependencies, Info, ModelSchema, ModelSpec,
    OutputSchema, TestSpec,
};
use crate::{Error, Result};

/// The kinds of model `init` writes.
pub const KINDS: [&str; 2] = ["onnx", "biobatch.bpnet"];

fn todo_info(doc: &str) -> Info {
    Info {
        authors: vec![Author {
            name: "TODO".into(),
            ..Default::default()
        }],
        doc: doc.into(),
        version: Some("0.1".into()),
        license: Some("TODO".into()),
        cite_as: Some("TODO (a DOI)".into()),
        trained_on: Some("TODO (data, held-out chromosomes)".into()),
        tags: vec!["TODO".into()],
        ..Default::default()
    }
}

fn arg(
    doc: &str,
    example: Option<serde_json::Value>,
    default: Option<serde_json::Value>,
) -> ArgSpec {
    ArgSpec {
        doc: Some(doc.into()),
        example,
        default,
        ..Default::default()
    }
}

fn one_hot(name: Option<&str>, doc: &str) -> SchemaNode {
    SchemaNode::Array(ArraySchema {
        shape: vec![Some(4), Some(1000)],
        name: name.map(String::from),
        special_type: Some(SpecialType::DnaSeq),
        doc: Some(doc.into()),
        associated_metadata: vec!["ranges".into()],
        ..Default::default()
    })
}

/// The specs of a new ONNX model on kipoiseq's `SeqIntervalDl`.
fn onnx() -> (ModelSpec, DataloaderSpec) {
    let model = ModelSpec {
        path: PathBuf::from("model.yaml"),
        kind: "onnx".into(),
        defined_as: None,
        args: BTreeMap::from([(
            "file".to_string(),
            ArgSpec {
                value: Some(json!("model.onnx")),
                ..Default::default()
            },
        )]),
        info: todo_info("TODO: what the model predicts, from what, and how it was trained."),
        default_dataloader: Some(DataloaderRef {
            name: ".".into(),
            default_args: BTreeMap::new(),
        }),
        schema: ModelSchema {
            inputs: one_hot(
                Some("seq"),
                "one-hot DNA sequence, channels A, C, G, T first (`name`: the network's input)",
            ),
            targets: Some(SchemaNode::Array(ArraySchema {
                shape: vec![Some(1)],
                doc: Some("TODO what each output is".into()),
                ..Default::default()
            })),
        },
        dependencies: Dependencies::default(),
        postprocessing: None,
        test: TestSpec {
            expect: Some(json!("expected.tsv")),
            precision_decimal: 5,
        },
        warnings: Vec::new(),
    };
    let dataloader = DataloaderSpec {
        path: PathBuf::from("dataloader.yaml"),
        kind: "Dataset".into(),
        defined_as: Some(crate::kipoiseq::SEQ_INTERVAL_DL.into()),
        args: BTreeMap::from([
            (
                "intervals_file".to_string(),
                arg(
                    "BED3 file of intervals",
                    Some(json!("example/intervals.bed")),
                    None,
                ),
            ),
            (
                "fasta_file".to_string(),
                arg(
                    "the reference genome",
                    Some(json!("example/genome.fa")),
                    None,
                ),
            ),
            (
                "auto_resize_len".to_string(),
                arg("window length", None, Some(json!(1000))),
            ),
            (
                "alphabet_axis".to_string(),
                arg("channels first", None, Some(json!(0))),
            ),
            (
                "dtype".to_string(),
                arg("element type", None, Some(json!("np.float32"))),
            ),
        ]),
        info: todo_info("TODO"),
        output_schema: OutputSchema {
            inputs: one_hot(Some("seq"), "one-hot DNA sequence"),
            targets: None,
            metadata: Some(json!({
                "ranges": {"type": "GenomicRanges", "doc": "the window of each interval"}
            })),
        },
        dependencies: Dependencies::default(),
        warnings: Vec::new(),
    };
    (model, dataloader)
}

/// Writes a new model folder `dir` of `kind` (one of [`KINDS`]); returns the files written.
pub fn init(dir: &Path, kind: &str) -> Result<Vec<String>> {
    if dir.exists() {
        return Err(Error::output(
            dir,
            "exists already; init writes a new folder",
        ));
    }
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "my-model".into());
    let header = |what: &str| {
        format!(
            "# {what} for `biobatch zoo` (Kipoi's format; see docs/zoo.md). Replace every \
             TODO.\n"
        )
    };
    let mut files: Vec<(String, String)> = Vec::new();
    match kind {
        "onnx" => {
            let (m, d) = onnx();
            files.push((
                "model.yaml".into(),
                header("The model (the network in model.onnx, with a dynamic batch axis)")
                    + &m.to_yaml()?,
            ));
            files.push((
                "dataloader.yaml".into(),
                header("The dataloader") + &d.to_yaml()?,
            ));
        }
        "biobatch.bpnet" => files.extend(bpnet_files(&header)?),
        other => {
            return Err(Error::Config(format!(
                "model type `{other}`: init writes {}",
                KINDS.join(" or ")
            )));
        }
    }
    files.push((
        "README.md".into(),
        format!(
            "# {name}\n\nTODO: describe the model.\n\n- `model.yaml`, `dataloader.yaml`: the zoo \
             description (see docs/zoo.md of biobatch).\n- `example/`: small example inputs for \
             `biobatch zoo test {d}`.\n\n```\nbiobatch zoo info {d}\nbiobatch zoo test {d}\n```\n",
            d = dir.display()
        ),
    ));
    let staged = AtomicDir::create(dir)?;
    let example = staged.path().join("example");
    std::fs::create_dir_all(&example).map_err(|e| Error::io(&example, e))?;
    for (f, text) in &files {
        let p = staged.path().join(f);
        std::fs::write(&p, text).map_err(|e| Error::io(&p, e))?;
    }
    staged.commit_new()?;
    let mut names: Vec<String> = files.into_iter().map(|(f, _)| f).collect();
    names.push("example/".into());
    Ok(names)
}

/// A `biobatch.bpnet` model folder: the description `biobatch train bpnet` exports, for
/// bpnet-lite's default model, with example files expected in `example/` and the settings in
/// `config.json`; the weights (`model.safetensors` from bpnet-lite, or `model.bpk`) go beside.
#[cfg(feature = "bpnet")]
fn bpnet_files(header: &dyn Fn(&str) -> String) -> Result<Vec<(String, String)>> {
    use biobatch_bpnet::TrainConfig;
    let mut c = TrainConfig::default();
    c.peaks.peaks = vec!["example/peaks.narrowPeak".into()];
    c.peaks.fasta = "example/genome.fa".into();
    c.peaks.controls = vec![vec![
        "example/control.plus.bw".into(),
        "example/control.minus.bw".into(),
    ]];
    c.model.control_tracks = 2;
    let mut model = crate::package::model_spec(&c, "model.safetensors");
    model.info = Info {
        doc: "TODO: what the BPNet predicts (bpnet-lite's default architecture)".into(),
        ..todo_info("")
    };
    let config = serde_json::to_string_pretty(&json!({ "model": c.model })).map_err(|source| {
        Error::Json {
            what: "config.json".into(),
            source,
        }
    })?;
    Ok(vec![
        (
            "model.yaml".into(),
            header(
                "A BPNet: put its weights beside this file — model.safetensors (bpnet-lite's \
                 state_dict, `safetensors.torch.save_file(model.state_dict(), ...)`) or \
                 model.bpk — and its settings in config.json (out_window = in_window - 2 × \
                 trimming)",
            ) + &model.to_yaml()?,
        ),
        (
            "dataloader.yaml".into(),
            header("The dataloader") + &crate::package::dataloader_spec(&c, None).to_yaml()?,
        ),
        ("config.json".into(), config),
    ])
}

#[cfg(not(feature = "bpnet"))]
fn bpnet_files(_: &dyn Fn(&str) -> String) -> Result<Vec<(String, String)>> {
    Err(Error::MissingFeature {
        kind: "biobatch.bpnet".into(),
        feature: "bpnet",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{dataloader_from_str, model_from_str};

    #[test]
    fn new_folders_hold_specs_that_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        for kind in KINDS {
            if kind == "biobatch.bpnet" && !cfg!(feature = "bpnet") {
                continue;
            }
            let dir = tmp.path().join(kind);
            let files = init(&dir, kind).unwrap();
            assert!(files.contains(&"model.yaml".to_string()));
            let m = dir.join("model.yaml");
            let spec = model_from_str(&std::fs::read_to_string(&m).unwrap(), &m).unwrap();
            assert_eq!(spec.kind, kind);
            assert!(spec.warnings.is_empty(), "{:?}", spec.warnings);
            let d = dir.join("dataloader.yaml");
            let dl = dataloader_from_str(&std::fs::read_to_string(&d).unwrap(), &d).unwrap();
            assert!(dl.warnings.is_empty(), "{:?}", dl.warnings);
            assert!(dir.join("example").is_dir());
            let e = init(&dir, kind).unwrap_err().to_string();
            assert!(e.contains("exists already"), "{e}");
        }
        let e = init(&tmp.path().join("x"), "keras")
            .unwrap_err()
            .to_string();
        assert!(e.contains("init writes onnx or biobatch.bpnet"), "{e}");
        assert!(!tmp.path().join("x").exists());
    }
}
