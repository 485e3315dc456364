//! The dataloader registry: the names a model's `default_dataloader` (or a `dataloader.yaml`'s
//! `defined_as`) may use, each built natively from its arguments, and how those arguments
//! are gathered (spec defaults < the model's `default_args` < the user's, plus the spec's
//! examples for `zoo test` / `zoo get-example`).
//!
//! | name | what |
//! |---|---|
//! | `kipoiseq.dataloaders.SeqIntervalDl` | one-hot sequences of BED intervals ([`super::kipoiseq`]) |
//! | `kipoiseq.dataloaders.StringSeqIntervalDl` | the same as text |
//! | `biobatch.PeakDataset` | BPNet loci: sequence and control tracks, signal targets ([`biobatch_datasets::PeakDataset`], prediction settings) |
//! | `biobatch.IntervalDataset` | one-hot sequences of BED intervals with labels and bigWig tracks ([`biobatch_datasets::IntervalDataset`], file order, no augmentation) |
//! | `biobatch.ExperimentDataset` | cells of a single-cell store ([`biobatch_datasets::ExperimentDataset`], store order) |
//!
//! `kipoiseq.SeqIntervalDl` and the bare class names are accepted too. Any other name is
//! Python code, which we do not run: the error says so and lists these.

use std::path::Path;
use std::sync::Arc;

use biobatch_core::{ArraySchema, DataSchema, SchemaNode, SpecialType};
use biobatch_datasets::{
    ExperimentConfig, ExperimentDataset, IntervalConfig, IntervalDataset, PeakConfig, PeakDataset,
};
use biobatch_loader::BatchDataset;
use biobatch_sampling::{Order, Partition, Plan, Sampler, SamplerConfig};
use serde_json::{Map, Value};

use crate::args::{Args, resolve_path};
use crate::kipoiseq::{
    SEQ_INTERVAL_DL, STRING_SEQ_INTERVAL_DL, SeqIntervalDl, StringSeqIntervalDl,
};
use crate::source::ResolvedModel;
use crate::spec::{DataloaderSpec, RemoteFile, dataloader_from_str};
use crate::{Error, Result};

/// `biobatch.PeakDataset`.
pub const PEAK_DATASET: &str = "biobatch.PeakDataset";
/// `biobatch.IntervalDataset`.
pub const INTERVAL_DATASET: &str = "biobatch.IntervalDataset";
/// `biobatch.ExperimentDataset`.
pub const EXPERIMENT_DATASET: &str = "biobatch.ExperimentDataset";

/// The native dataloaders, with one line each.
pub const NATIVE: [(&str, &str); 5] = [
    (
        SEQ_INTERVAL_DL,
        "one-hot sequences of BED intervals (kipoiseq's arguments)",
    ),
    (
        STRING_SEQ_INTERVAL_DL,
        "sequences of BED intervals as text (kipoiseq's arguments)",
    ),
    (
        PEAK_DATASET,
        "BPNet loci: one-hot sequence, control tracks, signal targets",
    ),
    (
        INTERVAL_DATASET,
        "one-hot sequences of BED intervals, labels from its columns, bigWig tracks",
    ),
    (
        EXPERIMENT_DATASET,
        "cells of a single-cell store, dense or sparse",
    ),
];

/// A built dataloader: the dataset, the (sequential) plan over it, and what its batches hold.
pub struct ZooDataloader {
    /// Its registry name.
    pub name: String,
    /// The dataset the loader runtime fills batches from.
    pub dataset: Arc<dyn BatchDataset>,
    /// Every record once, in file order.
    pub plan: Arc<dyn Plan>,
    /// The batch layout, when the dataloader knows it before loading.
    pub schema: Option<DataSchema>,
    /// Records.
    pub len: u64,
}

impl std::fmt::Debug for ZooDataloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZooDataloader")
            .field("name", &self.name)
            .field("len", &self.len)
            .finish()
    }
}

/// The registry name for `name`, if it is one of ours.
pub fn canonical(name: &str) -> Option<&'static str> {
    let bare = name.rsplit(['.', ':']).next().unwrap_or(name);
    let kipoiseq = name == bare || name.starts_with("kipoiseq.");
    let biobatch = name == bare || name.starts_with("biobatch.");
    match bare {
        "SeqIntervalDl" if kipoiseq => Some(SEQ_INTERVAL_DL),
        "StringSeqIntervalDl" if kipoiseq => Some(STRING_SEQ_INTERVAL_DL),
        "PeakDataset" if biobatch => Some(PEAK_DATASET),
        "IntervalDataset" if biobatch => Some(INTERVAL_DATASET),
        "ExperimentDataset" if biobatch => Some(EXPERIMENT_DATASET),
        _ => None,
    }
}

fn unsupported(name: &str) -> Error {
    Error::PythonDataloader {
        name: name.to_string(),
        native: NATIVE
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn sequential(len: u64) -> Result<Arc<dyn Plan>> {
    Ok(Arc::new(Sampler::new(
        len,
        SamplerConfig {
            seed: Some(0),
            order: Order::Sequential,
            ..Default::default()
        },
    )?))
}

/// Merges `over` into `base` (objects key by key; anything else replaces).
fn merge(base: &mut Map<String, Value>, over: &Map<String, Value>) {
    for (k, v) in over {
        base.insert(k.clone(), v.clone());
    }
}

/// Lists of paths may be given as one path; groups of tracks as one flat group.
fn normalise_lists(v: &mut Map<String, Value>, lists: &[&str], groups: &[&str]) {
    for k in lists {
        if let Some(Value::String(s)) = v.get(*k) {
            let s = s.clone();
            v.insert(k.to_string(), Value::Array(vec![Value::String(s)]));
        }
    }
    for k in groups {
        let flat = match v.get(*k) {
            Some(Value::String(s)) => Some(vec![Value::String(s.clone())]),
            Some(Value::Array(a)) if a.iter().all(Value::is_string) && !a.is_empty() => {
                Some(a.clone())
            }
            _ => None,
        };
        if let Some(f) = flat {
            v.insert(k.to_string(), Value::Array(vec![Value::Array(f)]));
        }
    }
}

fn from_json<T: serde::de::DeserializeOwned>(name: &str, v: Map<String, Value>) -> Result<T> {
    serde_json::from_value(Value::Object(v)).map_err(|source| Error::Json {
        what: format!("dataloader {name}'s arguments"),
        source,
    })
}

/// A configuration as a JSON map (its fields' names as keys), the base that a user's
/// arguments are merged over.
fn to_json<T: serde::Serialize>(name: &str, c: &T) -> Result<Map<String, Value>> {
    match serde_json::to_value(c) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Ok(Map::new()),
        Err(source) => Err(Error::Json {
            what: format!("dataloader {name}'s defaults"),
            source,
        }),
    }
}

/// Builds the dataloader `name` from its arguments.
pub fn build(name: &str, args: Map<String, Value>) -> Result<ZooDataloader> {
    let canon = canonical(name).ok_or_else(|| unsupported(name))?;
    let a = Args::new(canon, args);
    let (dataset, plan, schema, len): (
        Arc<dyn BatchDataset>,
        Arc<dyn Plan>,
        Option<DataSchema>,
        u64,
    ) = match canon {
        SEQ_INTERVAL_DL => {
            let d = SeqIntervalDl::from_args(&a)?;
            let (len, schema) = (d.len() as u64, d.schema());
            (Arc::new(d), sequential(len)?, Some(schema), len)
        }
        STRING_SEQ_INTERVAL_DL => {
            let d = StringSeqIntervalDl::from_args(&a)?;
            let (len, schema) = (d.len() as u64, d.schema());
            (Arc::new(d), sequential(len)?, Some(schema), len)
        }
        PEAK_DATASET => {
            // Prediction settings (every locus once, centred, as is) under the user's.
            let mut v = to_json(canon, &PeakConfig::default().for_prediction())?;
            let mut user = a.values.clone();
            normalise_lists(
                &mut user,
                &["peaks", "negatives", "exclusion_lists"],
                &["signals", "controls"],
            );
            merge(&mut v, &user);
            let cfg: PeakConfig = from_json(canon, v)?;
            let ds = PeakDataset::open(&cfg)?;
            let plan: Arc<dyn Plan> = Arc::new(ds.plan(Partition::single())?);
            let len = plan.positions();
            (Arc::new(ds), plan, None, len)
        }
        INTERVAL_DATASET => {
            // Prediction settings (every interval once, in file order, as is) under the user's.
            let mut v = to_json(canon, &IntervalConfig::default().for_prediction())?;
            let mut user = a.values.clone();
            normalise_lists(&mut user, &["intervals", "exclusion_lists"], &["tracks"]);
            merge(&mut v, &user);
            let cfg: IntervalConfig = from_json(canon, v)?;
            let ds = IntervalDataset::open(&cfg)?;
            let schema = ds.schema();
            let plan: Arc<dyn Plan> = Arc::new(ds.plan(Partition::single())?);
            let len = plan.positions();
            (Arc::new(ds), plan, Some(schema), len)
        }
        EXPERIMENT_DATASET => {
            let mut v = to_json(
                canon,
                &ExperimentConfig {
                    shuffle: false,
                    ..Default::default()
                },
            )?;
            merge(&mut v, &a.values);
            let cfg: ExperimentConfig = from_json(canon, v)?;
            let ds = ExperimentDataset::open(&cfg)?;
            let plan = ds.plan(Partition::single())?;
            let len = plan.positions();
            (Arc::new(ds), plan, None, len)
        }
        _ => return Err(unsupported(name)),
    };
    Ok(ZooDataloader {
        name: canon.to_string(),
        dataset,
        plan,
        schema,
        len,
    })
}

/// kipoiseq's own descriptions of its two sequence dataloaders (with its example files), so
/// that models naming them without a `dataloader.yaml` have documented arguments and examples.
const SEQ_SPEC: &str = r#"type: Dataset
defined_as: kipoiseq.dataloaders.SeqIntervalDl
info:
  doc: One-hot encoded sequences of the intervals of a BED file, read from a FASTA file (kipoiseq's SeqIntervalDl).
args:
  intervals_file:
    doc: BED3 file of intervals; further columns are labels (targets)
    example:
      url: https://raw.githubusercontent.com/kipoi/kipoiseq/master/tests/data/intervals_51bp.tsv
      md5: a76e47b3df87fd514860cf27fdc10eb4
  fasta_file:
    doc: the reference genome (FASTA; a .fai index is built if missing)
    example:
      url: https://raw.githubusercontent.com/kipoi/kipoiseq/master/tests/data/hg38_chr22_32000000_32300000.fa
      md5: 01320157a250a3d2eea63e89ecf79eba
  num_chr_fasta:
    doc: the FASTA names chromosomes without `chr` (strip it from the BED names)
    optional: true
  label_dtype:
    doc: dtype of the label columns (default float64)
    optional: true
  auto_resize_len:
    doc: resize every interval to this length around its centre
    optional: true
  use_strand:
    doc: read a 6-column BED and reverse-complement `-` rows
    optional: true
  alphabet_axis:
    doc: axis of the alphabet (0 or 1, or 2 with a dummy axis)
    optional: true
  dummy_axis:
    doc: where to add an axis of length 1 (none by default)
    optional: true
  alphabet:
    doc: the one-hot channels, in order (default ACGT)
    optional: true
  dtype:
    doc: element type of the one-hot array (default float64)
    optional: true
  ignore_targets:
    doc: return no targets
    optional: true
  out_of_bounds:
    doc: "biobatch: `error` (default) or `pad` with N for intervals past a chromosome end"
    optional: true
output_schema:
  inputs:
    name: seq
    shape: (None, 4)
    special_type: DNASeq
    doc: one-hot sequence
    associated_metadata: ranges
  targets:
    shape: (None,)
    doc: the label columns of the BED file
  metadata:
    ranges:
      type: GenomicRanges
      doc: the (resized) intervals
"#;

/// The `dataloader.yaml`-like description of a native dataloader, if it has one.
pub fn builtin_spec(name: &str) -> Option<DataloaderSpec> {
    let canon = canonical(name)?;
    if ![SEQ_INTERVAL_DL, STRING_SEQ_INTERVAL_DL].contains(&canon) {
        return None;
    }
    let mut spec = dataloader_from_str(SEQ_SPEC, Path::new(name)).ok()?;
    if canon == STRING_SEQ_INTERVAL_DL {
        // The same arguments; the sequence as text.
        spec.defined_as = Some(STRING_SEQ_INTERVAL_DL.into());
        spec.info.doc = "Sequences (text) of the intervals of a BED file, read from a FASTA \
                         file (kipoiseq's StringSeqIntervalDl)."
            .into();
        spec.output_schema.inputs = SchemaNode::Array(ArraySchema {
            shape: vec![],
            special_type: Some(SpecialType::DnaStringSeq),
            doc: Some("the sequence".into()),
            name: Some("seq".into()),
            associated_metadata: vec!["ranges".into()],
            ..Default::default()
        });
    }
    Some(spec)
}

/// The dataloader a model uses and the arguments to build it with.
#[derive(Debug, Clone)]
pub struct DataloaderChoice {
    /// The registry name.
    pub name: String,
    /// The merged arguments.
    pub args: Map<String, Value>,
    /// The spec it came from (a `dataloader.yaml` or the built-in description).
    pub spec: Option<DataloaderSpec>,
    /// The folder relative example and default files are found in.
    pub dir: std::path::PathBuf,
}

/// A spec value as an argument: a remote file is fetched (and checked); a relative path that
/// exists next to the spec is made absolute, in lists too — and must lie inside `root`, the
/// model's source; anything else is kept.
fn spec_value(
    v: &Value,
    dir: &Path,
    root: &Path,
    cache: Option<&Path>,
    what: &str,
) -> Result<Value> {
    if let Value::Object(m) = v
        && let (Some(url), Some(md5)) = (
            m.get("url").and_then(Value::as_str),
            m.get("md5").and_then(Value::as_str),
        )
    {
        let cache = cache.ok_or_else(|| Error::NoCache {
            what: what.to_string(),
        })?;
        let md5 = md5.trim_start_matches("md5:").to_ascii_lowercase();
        let r = RemoteFile {
            url: url.to_string(),
            md5,
            name: m.get("name").and_then(Value::as_str).map(String::from),
        };
        let p = crate::remote::fetch(&r, cache)?;
        return Ok(Value::String(p.display().to_string()));
    }
    match v {
        Value::String(s) => {
            let p = resolve_path(dir, s);
            if p != Path::new(s) && p.exists() {
                if !biobatch_formats::fs::is_within(root, &p) {
                    return Err(Error::spec(
                        dir,
                        format!(
                            "{what}: `{s}` leads outside the model's source ({}): paths in \
                             specs must stay inside it",
                            root.display()
                        ),
                    ));
                }
                return Ok(Value::String(p.display().to_string()));
            }
        }
        // Lists of files (and groups of them, like stranded control pairs) too.
        Value::Array(items) => {
            return items
                .iter()
                .map(|x| spec_value(x, dir, root, cache, what))
                .collect::<Result<Vec<_>>>()
                .map(Value::Array);
        }
        _ => {}
    }
    Ok(v.clone())
}

/// Chooses the model's dataloader and merges its arguments: the spec's defaults, then the
/// model's `default_args`, then `user`. With `examples`, arguments still missing take the
/// spec's example values (remote ones fetched into `cache`).
pub fn choose(
    m: &ResolvedModel,
    user: &Map<String, Value>,
    examples: bool,
    cache: Option<&Path>,
) -> Result<DataloaderChoice> {
    let r = m
        .model
        .default_dataloader
        .as_ref()
        .ok_or_else(|| Error::spec(&m.model.path, "the model names no default_dataloader"))?;
    let (spec, dir) = if r.name == "." || r.name.contains('/') {
        let spec = if r.name == "." {
            m.dataloader.clone().ok_or_else(|| {
                Error::spec(
                    &m.model.path,
                    "default_dataloader is `.` but there is no dataloader.yaml beside it",
                )
            })?
        } else {
            let folder = m.dir.join(&r.name);
            if !folder.exists() || !biobatch_formats::fs::is_within(&m.root, &folder) {
                return Err(Error::spec(
                    &m.model.path,
                    format!(
                        "default_dataloader `{}` is not a folder inside the model's source",
                        r.name
                    ),
                ));
            }
            let p = folder.join("dataloader.yaml");
            let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
            dataloader_from_str(&text, &p)?
        };
        let dir = spec
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        (Some(spec), dir)
    } else {
        (builtin_spec(&r.name), m.dir.clone())
    };
    let name = match &spec {
        Some(s) if r.name == "." || r.name.contains('/') => {
            let class = s.defined_as.clone().unwrap_or_else(|| s.kind.clone());
            canonical(&class)
                .or_else(|| canonical(&s.kind))
                .ok_or_else(|| unsupported(&class))?
        }
        _ => canonical(&r.name).ok_or_else(|| unsupported(&r.name))?,
    };
    // Lower layers are resolved only for keys no higher layer sets, so a remote default the
    // user overrides is never downloaded.
    let mut args = Map::new();
    if let Some(s) = &spec {
        for (k, a) in &s.args {
            if user.contains_key(k) || r.default_args.contains_key(k) {
                continue;
            }
            if let Some(d) = &a.default {
                args.insert(
                    k.clone(),
                    spec_value(d, &dir, &m.root, cache, &format!("argument `{k}`"))?,
                );
            }
        }
    }
    for (k, v) in &r.default_args {
        if user.contains_key(k) {
            continue;
        }
        args.insert(
            k.clone(),
            spec_value(v, &m.dir, &m.root, cache, &format!("argument `{k}`"))?,
        );
    }
    merge(&mut args, user);
    if examples && let Some(s) = &spec {
        for (k, a) in &s.args {
            if args.contains_key(k) {
                continue;
            }
            if let Some(e) = &a.example {
                args.insert(
                    k.clone(),
                    spec_value(e, &dir, &m.root, cache, &format!("example of `{k}`"))?,
                );
            }
        }
    }
    Ok(DataloaderChoice {
        name: name.to_string(),
        args,
        spec,
        dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_as_kipoi_spells_them() {
        assert_eq!(
            canonical("kipoiseq.dataloaders.SeqIntervalDl"),
            Some(SEQ_INTERVAL_DL)
        );
        assert_eq!(canonical("kipoiseq.SeqIntervalDl"), Some(SEQ_INTERVAL_DL));
        assert_eq!(
            canonical("StringSeqIntervalDl"),
            Some(STRING_SEQ_INTERVAL_DL)
        );
        assert_eq!(canonical("biobatch.PeakDataset"), Some(PEAK_DATASET));
        assert_eq!(canonical("IntervalDataset"), Some(INTERVAL_DATASET));
        assert_eq!(canonical("kipoiseq.IntervalDataset"), None);
        assert_eq!(
            canonical("dataloader.py::SeqIntervalDl"),
            None,
            "a local Python class of the same name is not kipoiseq's"
        );
        assert_eq!(canonical("dataloader.MyDataset"), None);
        let e = build("dataloader.py::BranchPointDataset", Map::new())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("is Python code") && e.contains(SEQ_INTERVAL_DL),
            "{e}"
        );
        let s = builtin_spec(SEQ_INTERVAL_DL).unwrap();
        assert!(s.args["fasta_file"].remote.is_some());
        let s = builtin_spec(STRING_SEQ_INTERVAL_DL).unwrap();
        assert_eq!(s.defined_as.as_deref(), Some(STRING_SEQ_INTERVAL_DL));
    }
}
