//! A trained BPNet as a zoo model. Its folder gets `model.yaml` (type `biobatch.bpnet`, its
//! weights and settings, schema, provenance), `dataloader.yaml` (`biobatch.PeakDataset` in
//! prediction mode, the training's windows and inputs as examples) and example loci
//! ([`describe`], run on the staged folder before training renames it into place); after
//! training, [`add_expected`] adds its predictions on the example loci (`expected.parquet`) and
//! a `test:` section naming them, the folder replaced whole. `biobatch zoo test DIR` then
//! checks that the folder, wherever it is copied, still predicts the same.
//!
//! `biobatch train bpnet` is [`biobatch_bpnet::train::train`] observed by [`Describe`], then
//! [`add_expected`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use biobatch_bpnet::{EpochReport, Observer, TrainConfig};
use biobatch_core::{ArraySchema, SchemaNode, SpecialType};
use biobatch_formats::fs::{AtomicDir, copy_contents, write_file};
use serde_json::{Value, json};

use crate::run::RunOptions;
use crate::spec::{
    ArgSpec, DataloaderRef, DataloaderSpec, Dependencies, Info, ModelSchema, ModelSpec,
    OutputSchema, TestSpec, model_from_str,
};
use crate::{Error, Result};

/// Loci a trained model keeps as its example (`example/loci.bed`): enough for `zoo test`
/// to mean something, few enough to run in seconds.
pub const EXAMPLE_LOCI: usize = 64;

/// Where the example loci go, relative to the model folder.
pub const EXAMPLE_FILE: &str = "example/loci.bed";

/// The expected predictions on the example loci, relative to the model folder.
pub const EXPECTED_FILE: &str = "expected.parquet";

/// The model's example loci: the first [`EXAMPLE_LOCI`] records of its first peak file on a
/// validation chromosome (held out from training), else its first records, verbatim (so a
/// narrowPeak keeps its summits). `None` when the file has no records.
pub fn example_loci(c: &TrainConfig) -> Result<Option<String>> {
    let Some(path) = c.peaks.peaks.first() else {
        return Ok(None);
    };
    let text = biobatch_formats::text::read_text(path)?;
    let records: Vec<&str> = text
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            !(l.is_empty()
                || l.starts_with('#')
                || l.starts_with("track")
                || l.starts_with("browser"))
        })
        .collect();
    let held_out: Vec<&str> = records
        .iter()
        .copied()
        .filter(|l| {
            let chrom = l.split('\t').next().unwrap_or_default();
            c.validation_chroms.iter().any(|v| v == chrom)
        })
        .take(EXAMPLE_LOCI)
        .collect();
    let chosen = if held_out.is_empty() {
        records.into_iter().take(EXAMPLE_LOCI).collect()
    } else {
        held_out
    };
    if chosen.is_empty() {
        return Ok(None);
    }
    Ok(Some(chosen.join("\n") + "\n"))
}

fn array(shape: Vec<usize>, doc: &str) -> ArraySchema {
    ArraySchema {
        shape: shape.into_iter().map(Some).collect(),
        doc: Some(doc.into()),
        ..Default::default()
    }
}

fn one_hot(len: usize, doc: &str, metadata: bool) -> SchemaNode {
    SchemaNode::Array(ArraySchema {
        special_type: Some(SpecialType::DnaSeq),
        associated_metadata: if metadata {
            vec!["ranges".into()]
        } else {
            Vec::new()
        },
        ..array(vec![4, len], doc)
    })
}

fn arg(doc: &str) -> ArgSpec {
    ArgSpec {
        doc: Some(doc.into()),
        ..Default::default()
    }
}

fn paths(p: &[PathBuf]) -> Value {
    json!(
        p.iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
    )
}

/// The `model.yaml` of a trained model whose weights are the file `weights` (`model.bpk`, or
/// `model.safetensors` in bpnet-lite's names) beside `config.json`.
pub fn model_spec(c: &TrainConfig, weights: &str) -> ModelSpec {
    let m = &c.model;
    let files: Vec<String> = c
        .peaks
        .peaks
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let mut args = BTreeMap::new();
    for (k, v) in [("weights", weights), ("config", "config.json")] {
        args.insert(
            k.to_string(),
            ArgSpec {
                value: Some(json!(v)),
                ..Default::default()
            },
        );
    }
    let mut inputs = BTreeMap::new();
    inputs.insert(
        "seq".to_string(),
        one_hot(
            m.in_window,
            "one-hot sequence, channels A C G T first",
            true,
        ),
    );
    if m.control_tracks > 0 {
        inputs.insert(
            "controls".to_string(),
            SchemaNode::Array(array(
                vec![m.control_tracks, m.in_window],
                "control tracks (stranded pairs plus, minus)",
            )),
        );
    }
    let mut targets = BTreeMap::new();
    targets.insert(
        "profile".to_string(),
        SchemaNode::Array(array(
            vec![m.output_tracks(), m.out_window],
            "expected counts per base and track over the output window (each task's profile \
             distribution times its counts)",
        )),
    );
    targets.insert(
        "counts".to_string(),
        SchemaNode::Array(array(
            vec![m.tasks.len()],
            "predicted total counts per task over the output window",
        )),
    );
    ModelSpec {
        path: PathBuf::from("model.yaml"),
        kind: "biobatch.bpnet".into(),
        defined_as: None,
        args,
        info: Info {
            doc: format!(
                "BPNet ({} filters, {} dilated layers) trained by `biobatch train bpnet`",
                m.n_filters, m.n_layers
            ),
            version: Some("0.1".into()),
            license: Some("unknown".into()),
            trained_on: Some(format!(
                "peaks {}; validation chromosomes {}",
                files.join(", "),
                c.validation_chroms.join(", ")
            )),
            tags: vec!["BPNet".into(), "profile".into()],
            ..Default::default()
        },
        default_dataloader: Some(DataloaderRef {
            name: ".".into(),
            default_args: BTreeMap::new(),
        }),
        schema: ModelSchema {
            inputs: SchemaNode::Map(inputs),
            targets: Some(SchemaNode::Map(targets)),
        },
        dependencies: Dependencies::default(),
        postprocessing: None,
        test: TestSpec {
            expect: None,
            precision_decimal: crate::spec::DEFAULT_PRECISION_DECIMAL,
        },
        warnings: Vec::new(),
    }
}

/// The `dataloader.yaml` of a trained model: the peak loader in prediction mode, with the
/// training's genome and control tracks as examples, `example_loci` (a file relative to the
/// model folder) or else the training's loci as the example loci, and its windows as
/// defaults.
pub fn dataloader_spec(c: &TrainConfig, example_loci: Option<&str>) -> DataloaderSpec {
    let p = &c.peaks;
    let mut args = BTreeMap::new();
    args.insert(
        "peaks".to_string(),
        ArgSpec {
            example: Some(match example_loci {
                Some(f) => json!([f]),
                None => paths(&p.peaks),
            }),
            ..arg("BED or narrowPeak files of the loci to predict")
        },
    );
    args.insert(
        "fasta".to_string(),
        ArgSpec {
            example: Some(json!(p.fasta.display().to_string())),
            ..arg("the genome (FASTA with .fai)")
        },
    );
    if !p.controls.is_empty() {
        args.insert(
            "controls".to_string(),
            ArgSpec {
                example: Some(Value::Array(p.controls.iter().map(|g| paths(g)).collect())),
                ..arg("control bigWigs, in groups (a stranded pair is plus, minus)")
            },
        );
    }
    for (k, doc, v) in [
        (
            "in_window",
            "input window (must be the model's)",
            json!(p.in_window),
        ),
        (
            "out_window",
            "output window (must be the model's)",
            json!(p.out_window),
        ),
        (
            "summits",
            "centre narrowPeak loci on their summit",
            json!(p.summits),
        ),
    ] {
        args.insert(
            k.to_string(),
            ArgSpec {
                default: Some(v),
                ..arg(doc)
            },
        );
    }
    args.insert(
        "missing".to_string(),
        ArgSpec {
            optional: true,
            ..arg("loci on chromosomes a bigWig lacks (error, zeros or drop)")
        },
    );
    let mut inputs = BTreeMap::new();
    inputs.insert(
        "seq".to_string(),
        one_hot(p.in_window as usize, "one-hot sequence", false),
    );
    if c.model.control_tracks > 0 {
        inputs.insert(
            "controls".to_string(),
            SchemaNode::Array(array(
                vec![c.model.control_tracks, p.in_window as usize],
                "control tracks",
            )),
        );
    }
    DataloaderSpec {
        path: PathBuf::from("dataloader.yaml"),
        kind: "Dataset".into(),
        defined_as: Some("biobatch.PeakDataset".into()),
        args,
        info: Info {
            doc: "Loci (BED / narrowPeak) as BPNet sees them, centred, without jitter or \
                  reverse complement."
                .into(),
            ..Default::default()
        },
        output_schema: OutputSchema {
            inputs: SchemaNode::Map(inputs),
            targets: None,
            metadata: Some(json!({
                "ranges": {"type": "GenomicRanges", "doc": "the input window of each locus"}
            })),
        },
        dependencies: Dependencies::default(),
        warnings: Vec::new(),
    }
}

/// Writes the zoo description of the model trained with `c` into the folder `dir`:
/// `model.yaml`, `dataloader.yaml` and the example loci.
pub fn describe(dir: &Path, c: &TrainConfig) -> Result<()> {
    let example = match example_loci(c)? {
        Some(text) => {
            let f = dir.join(EXAMPLE_FILE);
            if let Some(d) = f.parent() {
                std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
            }
            write_file(&f, text)?;
            Some(EXAMPLE_FILE)
        }
        None => None,
    };
    write_file(
        &dir.join("model.yaml"),
        model_spec(c, "model.bpk").to_yaml()?,
    )?;
    write_file(
        &dir.join("dataloader.yaml"),
        dataloader_spec(c, example).to_yaml()?,
    )?;
    Ok(())
}

/// An [`Observer`] of training that adds the zoo description to every model folder before
/// it is renamed into place (so the folder is a zoo model at every moment), and passes
/// everything on to `inner`.
pub struct Describe<'a>(pub &'a mut dyn Observer);

impl Observer for Describe<'_> {
    fn epoch(&mut self, report: &EpochReport) {
        self.0.epoch(report);
    }

    fn model_staged(
        &mut self,
        staged: &Path,
        config: &TrainConfig,
    ) -> std::result::Result<(), biobatch_bpnet::BoxError> {
        describe(staged, config)?;
        self.0.model_staged(staged, config)
    }

    fn model_saved(&mut self, dir: &Path, epoch: u64) {
        self.0.model_saved(dir, epoch);
    }
}

/// The final model's predictions on its example loci, through the zoo's own pipeline, as
/// `expected.parquet`, and a `test:` section in its model.yaml that names them. The folder
/// is copied, completed and renamed over the old one: it is whole at every moment. A folder
/// without example loci is left as it is.
pub fn add_expected(dir: &Path, opts: &RunOptions) -> Result<()> {
    if !dir.join(EXAMPLE_FILE).is_file() {
        return Ok(());
    }
    let staged = AtomicDir::create(dir)?;
    copy_contents(dir, staged.path())?;
    let m = crate::source::resolve_dir(staged.path())?;
    let examples = crate::dataloaders::choose(&m, &serde_json::Map::new(), true, None)?;
    crate::run::predict_to_file(
        &m,
        &examples.args,
        &staged.path().join(EXPECTED_FILE),
        opts,
        None,
    )?;
    let yaml = staged.path().join("model.yaml");
    let text = std::fs::read_to_string(&yaml).map_err(|e| Error::io(&yaml, e))?;
    let mut spec = model_from_str(&text, &yaml)?;
    spec.test = TestSpec {
        expect: Some(json!(EXPECTED_FILE)),
        precision_decimal: 3,
    };
    write_file(&yaml, spec.to_yaml()?)?;
    staged.commit()?;
    Ok(())
}

/// What `biobatch predict bpnet` predicts: loci, and what to read them with (defaults: the
/// training's genome, control tracks and summit setting, from the model folder's
/// `config.json`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PredictInputs {
    /// Loci (BED / narrowPeak).
    pub peaks: Vec<PathBuf>,
    /// The genome.
    pub fasta: Option<PathBuf>,
    /// Control track groups.
    pub controls: Option<Vec<Vec<PathBuf>>>,
    /// Centre narrowPeak loci on their summits.
    pub summits: Option<bool>,
}

/// The `biobatch.PeakDataset` arguments that predict `inputs` with the model in `dir`.
pub fn prediction_args(
    dir: &Path,
    inputs: &PredictInputs,
) -> Result<serde_json::Map<String, Value>> {
    let p = dir.join("config.json");
    let text = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
    let trained: TrainConfig = serde_json::from_slice(&text).map_err(|source| Error::Json {
        what: p.display().to_string(),
        source,
    })?;
    let t = &trained.peaks;
    let v = json!({
        "peaks": paths(&inputs.peaks),
        "fasta": inputs.fasta.as_ref().unwrap_or(&t.fasta).display().to_string(),
        "controls": inputs
            .controls
            .as_ref()
            .unwrap_or(&t.controls)
            .iter()
            .map(|g| paths(g))
            .collect::<Vec<_>>(),
        "summits": inputs.summits.unwrap_or(t.summits),
        "in_window": trained.model.in_window,
        "out_window": trained.model.out_window,
    });
    Ok(v.as_object().cloned().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{dataloader_from_str, model_from_str};

    #[test]
    fn the_export_reads_back_as_zoo_specs() {
        let mut c = TrainConfig::default();
        c.peaks.peaks = vec!["/data/a \"b\".narrowPeak".into()];
        c.peaks.fasta = "/data/genome.fa".into();
        c.peaks.controls = vec![vec!["/c/plus.bw".into(), "/c/minus.bw".into()]];
        c.model.control_tracks = 2;
        let spec = model_spec(&c, "model.bpk");
        let m = model_from_str(&spec.to_yaml().unwrap(), Path::new("model.yaml")).unwrap();
        assert_eq!(m.kind, "biobatch.bpnet");
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
        assert_eq!(m.schema, spec.schema);
        assert_eq!(m.args, spec.args);
        let d = dataloader_from_str(
            &dataloader_spec(&c, None).to_yaml().unwrap(),
            Path::new("dataloader.yaml"),
        )
        .unwrap();
        assert!(d.warnings.is_empty(), "{:?}", d.warnings);
        assert_eq!(d.defined_as.as_deref(), Some("biobatch.PeakDataset"));
        assert_eq!(
            d.args["peaks"].example,
            Some(serde_json::json!(["/data/a \"b\".narrowPeak"]))
        );
        assert_eq!(
            d.args["controls"].example,
            Some(serde_json::json!([["/c/plus.bw", "/c/minus.bw"]]))
        );
        assert_eq!(
            d.args["in_window"].default,
            Some(serde_json::json!(c.peaks.in_window))
        );
    }
}
