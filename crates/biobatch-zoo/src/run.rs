//! The predict pipeline: dataloader batches through the loader runtime (workers, ordered
//! prefetch, progress), checked against the model's schema, predicted, and handed on with
//! their metadata — to a [`PredictionWriter`](crate::output::PredictionWriter) or, for
//! `zoo test`, into a table compared with the expected output.

use std::path::{Path, PathBuf};
use std::time::Instant;

use biobatch_core::{Node, SchemaNode};
use biobatch_datasets::LoaderSettings;
use biobatch_loader::Loader;
use biobatch_loader::ahead::Ahead;
use serde_json::{Map, Value};

use crate::dataloaders::{ZooDataloader, build, choose};
use crate::models::{ZooModel, load};
use crate::output::{OutputOptions, PredictionWriter, Table, collect, compare, read_table};
use crate::source::ResolvedModel;
use crate::{Error, Result};

/// How to run predictions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    /// Batch size, worker threads (0: inline), batches in flight, progress bar (batches of
    /// 32, 2 workers, 4 ahead).
    pub loader: LoaderSettings,
    /// Where the model runs: `cpu`, or `wgpu` / `wgpu:N` (`vulkan` / `vulkan:N`) for BPNet
    /// in a build with the `wgpu` (`vulkan`) feature.
    pub device: String,
    /// Batches made ready for the model ahead of it (inputs converted and copied to the
    /// device, for models that can) on a feed thread [2]; 0 does it between predictions.
    pub device_prefetch: usize,
}

impl RunOptions {
    /// The default options with batches of `batch_size` made by `num_workers` threads.
    pub fn with_batches(batch_size: usize, num_workers: usize) -> Self {
        let mut o = RunOptions::default();
        (o.loader.batch_size, o.loader.num_workers) = (batch_size, num_workers);
        o
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            loader: LoaderSettings {
                batch_size: 32,
                num_workers: 2,
                prefetch: 4,
                drop_last: false,
                progress: false,
            },
            device: crate::models::CPU.into(),
            device_prefetch: 2,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PredictReport {
    /// The files written (`predict_to_file`: one, or one per track for bigWig).
    pub files: Vec<PathBuf>,
    /// Examples predicted.
    pub rows: u64,
    /// Batches.
    pub batches: u64,
    /// Wall time.
    pub seconds: f64,
    /// Time in the model.
    pub model_seconds: f64,
    /// Time waiting for the dataloader (and, with `device_prefetch` 0, staging).
    pub wait_seconds: f64,
    /// Time spent making batches ready for the model ahead of it (on the feed thread unless
    /// `device_prefetch` is 0).
    pub stage_seconds: f64,
}

fn with_context(m: &ResolvedModel, dl: &str, e: impl std::fmt::Display) -> Error {
    Error::model(&m.name, format!("with dataloader {dl}: {e}"))
}

/// Checks, before loading anything, that what the dataloader declares fits what the model
/// takes: same structure, same number of axes, equal lengths where both fix them, equal
/// dtypes where both fix them. The error says where and how they differ.
pub fn check_schema(
    model: &SchemaNode,
    dataloader: &SchemaNode,
    path: &str,
) -> std::result::Result<(), String> {
    let mismatch = |expected: String, actual: String| {
        format!(
            "schema mismatch at `{path}`: the model expects {expected}, the dataloader gives {actual}"
        )
    };
    let shape = |s: &[Option<usize>]| {
        let d: Vec<String> = s
            .iter()
            .map(|d| d.map_or("None".into(), |n| n.to_string()))
            .collect();
        format!("shape (B, {})", d.join(", "))
    };
    match (model, dataloader) {
        (SchemaNode::Array(m), SchemaNode::Array(d)) => {
            let fits = m.shape.len() == d.shape.len()
                && m.shape
                    .iter()
                    .zip(&d.shape)
                    .all(|(a, b)| a.is_none() || b.is_none() || a == b);
            if !fits {
                return Err(mismatch(shape(&m.shape), shape(&d.shape)));
            }
            if let (Some(a), Some(b)) = (m.dtype, d.dtype)
                && a != b
            {
                return Err(mismatch(format!("dtype {a}"), format!("dtype {b}")));
            }
            Ok(())
        }
        (SchemaNode::Map(m), SchemaNode::Map(d)) => {
            for (k, s) in m {
                let p = format!("{path}/{k}");
                let other = d.get(k).ok_or_else(|| {
                    format!(
                        "schema mismatch at `{p}`: the model takes it, the dataloader does not \
                         give it"
                    )
                })?;
                check_schema(s, other, &p)?;
            }
            Ok(())
        }
        (SchemaNode::List(m), SchemaNode::List(d)) if m.len() == d.len() => m
            .iter()
            .zip(d)
            .enumerate()
            .try_for_each(|(i, (a, b))| check_schema(a, b, &format!("{path}/{i}"))),
        _ => Err(mismatch(describe(model), describe(dataloader))),
    }
}

/// What of `node` the model takes: map keys the schema does not name are left out; all else
/// is kept as it is, so that a missing key or a wrong shape still shows.
fn taken(schema: &SchemaNode, node: &Node) -> Node {
    match (schema, node) {
        (SchemaNode::Map(s), Node::Map(m)) => Node::Map(
            m.iter()
                .filter_map(|(k, v)| s.get(k).map(|sc| (k.clone(), taken(sc, v))))
                .collect(),
        ),
        (SchemaNode::List(s), Node::List(l)) if s.len() == l.len() => {
            Node::List(s.iter().zip(l).map(|(sc, n)| taken(sc, n)).collect())
        }
        _ => node.clone(),
    }
}

fn describe(s: &SchemaNode) -> String {
    match s {
        SchemaNode::Array(_) => "one array".into(),
        SchemaNode::List(l) => format!("a list of {}", l.len()),
        SchemaNode::Map(m) => format!(
            "a map of {}",
            m.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Runs `model` over every batch of `dl`, calling `sink(metadata, predictions)` in order.
pub fn run(
    m: &ResolvedModel,
    model: &dyn ZooModel,
    dl: &ZooDataloader,
    opts: &RunOptions,
    sink: &mut dyn FnMut(Option<&Node>, &Node) -> Result<()>,
) -> Result<PredictReport> {
    if let Some(s) = &dl.schema {
        check_schema(&m.model.schema.inputs, &s.inputs, "inputs")
            .map_err(|e| with_context(m, &dl.name, e))?;
    }
    opts.loader.check()?;
    let cfg = biobatch_loader::LoaderConfig {
        // Every example is predicted: a short last batch is kept.
        drop_last: false,
        ..opts.loader.config()
    };
    let loader = Loader::from_arcs(dl.dataset.clone(), dl.plan.clone(), cfg)?
        .with_progress(opts.loader.progress);
    let start = Instant::now();
    let mut report = PredictReport::default();
    let batches = loader.epoch(0)?;
    std::thread::scope(|scope| -> Result<()> {
        // Staged on the feed thread; a staging error waits for the schema check below, which
        // explains a mismatch better.
        let items = batches.map(|b| -> Result<_> {
            let b = b?;
            let t = Instant::now();
            let staged = model.stage(&b);
            Ok((b, staged, t.elapsed().as_secs_f64()))
        });
        let mut feed = Ahead::with_depth(scope, items, opts.device_prefetch)?;
        loop {
            let t = Instant::now();
            let Some(item) = feed.next() else { break };
            report.wait_seconds += t.elapsed().as_secs_f64();
            let (b, staged, stage_seconds) = item?;
            report.stage_seconds += stage_seconds;
            if report.batches == 0 {
                // As in Kipoi, the dataloader may give keys the model does not take.
                m.model
                    .schema
                    .inputs
                    .validate("inputs", &taken(&m.model.schema.inputs, &b.inputs))
                    .map_err(|e| with_context(m, &dl.name, e))?;
            }
            let rows = b.batch_size()?.unwrap_or(0);
            let t = Instant::now();
            let preds = model.predict_staged(&b, staged?)?;
            report.model_seconds += t.elapsed().as_secs_f64();
            if report.batches == 0
                && let Some(targets) = &m.model.schema.targets
            {
                targets.validate("preds", &preds).map_err(|e| {
                    Error::model(
                        &m.name,
                        format!("its predictions do not fit its schema.targets: {e}"),
                    )
                })?;
            }
            let mut got = None;
            preds.visit("preds", &mut |p, a| {
                if got.is_none() && a.shape().first() != Some(&rows) {
                    got = Some(format!(
                        "`{p}` has shape {:?} for a batch of {rows}",
                        a.shape()
                    ));
                }
            });
            if let Some(g) = got {
                return Err(Error::model(&m.name, g));
            }
            sink(b.metadata.as_ref(), &preds)?;
            report.rows += rows as u64;
            report.batches += 1;
        }
        Ok(())
    })?;
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}

/// Loads the model onto `device` and builds its dataloader (with `dataloader_args` over
/// its defaults; `examples` fills what is missing from the spec's example files).
pub fn prepare(
    m: &ResolvedModel,
    dataloader_args: &Map<String, Value>,
    examples: bool,
    cache: Option<&Path>,
    device: &str,
) -> Result<(Box<dyn ZooModel>, ZooDataloader)> {
    // The model first: an unsupported type or device is reported before any data is read.
    let model = load(m, cache, device)?;
    let choice = choose(m, dataloader_args, examples, cache)?;
    let dl = build(&choice.name, choice.args.clone())?;
    Ok((model, dl))
}

/// The genome's chromosome sizes, from a dataloader's `fasta` / `fasta_file` argument.
fn chrom_sizes(args: &Map<String, Value>) -> Result<Option<Vec<(String, u32)>>> {
    let Some(path) = ["fasta", "fasta_file"]
        .iter()
        .find_map(|k| args.get(*k).and_then(Value::as_str))
    else {
        return Ok(None);
    };
    let fa = biobatch_formats::fasta::Fasta::open(path)?;
    let sizes = fa
        .chroms()
        .map(|(n, l)| {
            u32::try_from(l).map(|l| (n.to_string(), l)).map_err(|_| {
                Error::Config(format!(
                    "chromosome `{n}` ({l} bp) is longer than a bigWig can hold (2^32 − 1)"
                ))
            })
        })
        .collect::<Result<_>>()?;
    Ok(Some(sizes))
}

/// `zoo predict`: predictions with metadata written to `out` (Parquet or TSV, atomically; or
/// a per-base prediction as one bigWig per track).
pub fn predict_to_file(
    m: &ResolvedModel,
    dataloader_args: &Map<String, Value>,
    out: &Path,
    opts: &RunOptions,
    cache: Option<&Path>,
) -> Result<PredictReport> {
    let (model, dl) = prepare(m, dataloader_args, false, cache, &opts.device)?;
    let provenance = serde_json::json!({
        "model": m.name,
        "model_type": m.model.kind,
        "dataloader": dl.name,
        "dataloader_args": dataloader_args,
        "biobatch": env!("CARGO_PKG_VERSION"),
    });
    let chrom_sizes = if crate::output::Format::of(out)? == crate::output::Format::BigWig {
        chrom_sizes(dataloader_args)?
    } else {
        None
    };
    let mut w = PredictionWriter::create(
        out,
        OutputOptions {
            file_metadata: vec![("biobatch.zoo".into(), provenance.to_string())],
            chrom_sizes,
            track_leaf: None,
        },
    )?;
    let mut report = run(m, model.as_ref(), &dl, opts, &mut |meta, preds| {
        w.write(meta, preds)
    })?;
    report.files = w.finish()?;
    Ok(report)
}

/// What `zoo test` found.
#[derive(Debug, Clone)]
pub struct TestReport {
    /// The prediction run.
    pub run: PredictReport,
    /// The expected file compared with, if the model has one.
    pub expect: Option<PathBuf>,
    /// Values compared.
    pub compared: usize,
    /// Why nothing was compared, if so.
    pub skipped: Option<String>,
}

/// `zoo test`: predicts on the dataloader's example files and compares with `test.expect`.
pub fn test(m: &ResolvedModel, opts: &RunOptions, cache: Option<&Path>) -> Result<TestReport> {
    let (model, dl) = prepare(m, &Map::new(), true, cache, &opts.device)?;
    let mut table = Table::new();
    let run = run(m, model.as_ref(), &dl, opts, &mut |meta, preds| {
        collect(&mut table, meta, preds)
    })?;
    let Some(expect) = &m.model.test.expect else {
        return Ok(TestReport {
            run,
            expect: None,
            compared: 0,
            skipped: Some("the model has no test.expect".into()),
        });
    };
    let path = match expect {
        Value::String(s) => m.file(s)?,
        Value::Object(o) => {
            let r = crate::spec::RemoteFile {
                url: o
                    .get("url")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                md5: o
                    .get("md5")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .trim_start_matches("md5:")
                    .to_ascii_lowercase(),
                name: None,
            };
            let cache = cache.ok_or_else(|| Error::NoCache {
                what: "test.expect".into(),
            })?;
            crate::remote::fetch(&r, cache)?
        }
        v => {
            return Err(Error::spec(
                &m.model.path,
                format!("test.expect `{v}` is not a file"),
            ));
        }
    };
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if matches!(ext, "h5" | "hdf5") {
        return Ok(TestReport {
            run,
            expect: Some(path),
            compared: 0,
            skipped: Some(
                "the expected predictions are Kipoi HDF5; biobatch compares Parquet or TSV".into(),
            ),
        });
    }
    let expected = read_table(&path)?;
    let compared =
        compare(&table, &expected, m.model.test.precision_decimal).map_err(|message| {
            Error::Differ {
                model: m.name.clone(),
                expected: path.clone(),
                message,
            }
        })?;
    Ok(TestReport {
        run,
        expect: Some(path),
        compared,
        skipped: None,
    })
}

#[cfg(test)]
mod tests {
    use biobatch_core::{Array, ArraySchema, DType};

    use super::*;

    #[test]
    fn the_first_batch_check_ignores_keys_the_model_does_not_take() {
        let schema = SchemaNode::Map(
            [(
                "seq".to_string(),
                SchemaNode::Array(ArraySchema::new(vec![Some(4), None]).with_dtype(DType::F32)),
            )]
            .into(),
        );
        let seq = || Node::Array(Array::zeros(DType::F32, vec![2, 4, 10]));
        let extra = Node::from_iter([
            ("seq", seq()),
            ("gc", Node::Array(Array::zeros(DType::F32, vec![2, 1]))),
        ]);
        assert!(schema.validate("inputs", &extra).is_err(), "strict alone");
        schema.validate("inputs", &taken(&schema, &extra)).unwrap();
        // A missing key or a wrong shape is still an error.
        let missing = Node::from_iter([("gc", Node::Array(Array::zeros(DType::F32, vec![2, 1])))]);
        let e = schema
            .validate("inputs", &taken(&schema, &missing))
            .unwrap_err()
            .to_string();
        assert!(e.contains("inputs/seq"), "{e}");
        let wrong =
            Node::from_iter([("seq", Node::Array(Array::zeros(DType::F32, vec![2, 5, 10])))]);
        assert!(schema.validate("inputs", &taken(&schema, &wrong)).is_err());
    }
}
