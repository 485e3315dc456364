//! `biobatch zoo`: list, inspect, test and run model-zoo models (Kipoi's `model.yaml` /
//! `dataloader.yaml` contract), with Kipoi's spellings where a user would type them.

use std::path::{Path, PathBuf};

use biobatch::core::SchemaNode;
use biobatch::pipeline::zoo::dataloaders::{NATIVE, builtin_spec, canonical, choose};
use biobatch::pipeline::zoo::predict::{PredictOptions, predict_to_file, test};
use biobatch::pipeline::zoo::remote::cache_dir;
use biobatch::pipeline::zoo::source::{
    ResolvedModel, SourceKind, ZooConfig, contains, list, resolve, resolve_dir, update,
};
use biobatch::pipeline::zoo::spec::{ArgSpec, DataloaderSpec};
use clap::{Args, Subcommand};
use serde_json::{Map, Value};

use super::CliError;

#[derive(Debug, Subcommand)]
pub enum Zoo {
    /// List the models of the configured sources (or of one), or the native dataloaders.
    Ls {
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
        /// List the dataloaders `default_dataloader` may name instead.
        #[arg(long)]
        dataloaders: bool,
    },
    /// Describe a model: what it is, what it takes and predicts, its dataloader's arguments.
    Info(ModelArg),
    /// Copy a model's example files into a folder and print the dataloader arguments that
    /// use them (for `zoo predict --dataloader-args`).
    GetExample {
        #[command(flatten)]
        model: ModelArg,
        /// The folder to write (created; must be empty if it exists).
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Run a model on its example files and compare with its expected predictions
    /// (`test.expect`, within `test.precision_decimal` decimals).
    Test {
        #[command(flatten)]
        model: ModelArg,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Predict with a model and write the predictions with their metadata (Parquet, or TSV
    /// in Kipoi's layout, by the extension of `--output`).
    Predict {
        #[command(flatten)]
        model: ModelArg,
        /// The dataloader's arguments as a JSON object, e.g.
        /// '{"intervals_file": "a.bed", "fasta_file": "hg38.fa"}' (or @FILE.json).
        #[arg(long, alias = "dataloader_args", default_value = "{}")]
        dataloader_args: String,
        /// Output file: `.parquet` (default layout) or `.tsv`.
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Write a new model folder: model.yaml and dataloader.yaml to fill in, and a README.
    Init {
        /// The folder to create.
        dir: PathBuf,
        /// The model type: `onnx` or `biobatch.bpnet`.
        #[arg(long = "type", default_value = "onnx")]
        kind: String,
    },
    /// Clone or pull git sources (all, or one). Nothing else ever touches the network for
    /// sources.
    Update {
        /// Only this source.
        source: Option<String>,
    },
}

/// Which model.
#[derive(Debug, Args)]
pub struct ModelArg {
    /// A model name (e.g. `peak-cnn`, `CpGenie/A549_ENCSR000DDI`) or a model folder.
    model: String,
    /// The source to look in [default: each configured source in turn].
    #[arg(long)]
    source: Option<String>,
}

/// How to run a model.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Examples per batch.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Dataloader worker threads.
    #[arg(long, alias = "num_workers", default_value_t = 2)]
    num_workers: usize,
    /// Show a progress bar.
    #[arg(long)]
    progress: bool,
}

impl RunArgs {
    fn options(&self) -> PredictOptions {
        PredictOptions {
            batch_size: self.batch_size,
            num_workers: self.num_workers,
            progress: self.progress,
            ..Default::default()
        }
    }
}

/// Writes to standard output (a closed pipe is not a crash).
fn out(text: &str) -> Result<(), CliError> {
    use std::io::Write;
    let mut w = std::io::stdout().lock();
    w.write_all(text.as_bytes())?;
    w.flush()?;
    Ok(())
}

fn err(e: impl std::fmt::Display) -> CliError {
    e.to_string().into()
}

/// Finds a model: a folder path, else the named source, else every source in order.
fn find(m: &ModelArg) -> Result<ResolvedModel, CliError> {
    let p = Path::new(&m.model);
    if m.source.is_none() && p.join("model.yaml").is_file() {
        return resolve_dir(p).map_err(err);
    }
    let cfg = ZooConfig::load().map_err(err)?;
    if let Some(s) = &m.source {
        let src = cfg.source(s).map_err(err)?;
        return resolve(src.root(), &m.model).map_err(|e| format!("source {s}: {e}").into());
    }
    let mut tried = Vec::new();
    for (name, src) in &cfg.model_sources {
        if !src.root().exists() {
            tried.push(format!(
                "{name} (not cloned: run `biobatch zoo update {name}`)"
            ));
            continue;
        }
        // A model that is there but does not parse is that error, not "no model".
        if contains(src.root(), &m.model) {
            return resolve(src.root(), &m.model).map_err(|e| format!("source {name}: {e}").into());
        }
        tried.push(name.clone());
    }
    Err(format!(
        "no model `{}` in the sources {} (nor a folder of that name with a model.yaml)",
        m.model,
        tried.join(", ")
    )
    .into())
}

pub fn run(z: Zoo) -> Result<(), CliError> {
    match z {
        Zoo::Ls {
            source,
            dataloaders,
        } => ls(source.as_deref(), dataloaders),
        Zoo::Info(m) => info(&find(&m)?),
        Zoo::GetExample { model, output } => get_example(&find(&model)?, &output),
        Zoo::Test { model, run } => {
            let m = find(&model)?;
            let r = test(&m, &run.options(), cache_dir().as_deref()).map_err(err)?;
            match &r.skipped {
                Some(why) => eprintln!(
                    "{}: predicted {} examples; not compared: {why}",
                    m.name, r.run.rows
                ),
                None => eprintln!(
                    "{}: ok, {} examples predicted, {} values agree with {} (to {} decimals)",
                    m.name,
                    r.run.rows,
                    r.compared,
                    r.expect
                        .as_deref()
                        .map(Path::display)
                        .map(|d| d.to_string())
                        .unwrap_or_default(),
                    m.model.test.precision_decimal
                ),
            }
            out(&format!(
                "{}\n",
                serde_json::json!({"model": m.name, "examples": r.run.rows, "compared": r.compared, "expect": r.expect, "skipped": r.skipped, "seconds": r.run.seconds})
            ))?;
            Ok(())
        }
        Zoo::Predict {
            model,
            dataloader_args,
            output,
            run,
        } => {
            let m = find(&model)?;
            let args = parse_args(&dataloader_args)?;
            let r = predict_to_file(&m, &args, &output, &run.options(), cache_dir().as_deref())
                .map_err(err)?;
            out(&format!(
                "{}\n",
                serde_json::json!({
                    "model": m.name, "output": output, "examples": r.rows, "batches": r.batches,
                    "seconds": r.seconds, "examples_per_s": r.rows as f64 / r.seconds.max(1e-9),
                    "model_seconds": r.model_seconds, "wait_seconds": r.wait_seconds,
                })
            ))?;
            Ok(())
        }
        Zoo::Init { dir, kind } => init(&dir, &kind),
        Zoo::Update { source } => {
            let cfg = ZooConfig::load().map_err(err)?;
            let names: Vec<String> = match source {
                Some(s) => vec![s],
                None => cfg
                    .model_sources
                    .iter()
                    .filter(|(_, s)| matches!(s, SourceKind::Git { .. }))
                    .map(|(n, _)| n.clone())
                    .collect(),
            };
            if names.is_empty() {
                eprintln!(
                    "no git sources configured ({})",
                    biobatch::pipeline::zoo::source::config_path()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                );
            }
            for n in names {
                let msg = update(cfg.source(&n).map_err(err)?).map_err(err)?;
                eprintln!("{n}: {msg}");
            }
            Ok(())
        }
    }
}

fn parse_args(text: &str) -> Result<Map<String, Value>, CliError> {
    let text = match text.strip_prefix('@') {
        Some(f) => std::fs::read_to_string(f).map_err(|e| format!("{f}: {e}"))?,
        None => text.to_string(),
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(v) => Err(format!("--dataloader-args must be a JSON object, not `{v}`").into()),
        Err(e) => Err(format!("--dataloader-args is not JSON: {e}").into()),
    }
}

fn ls(source: Option<&str>, dataloaders: bool) -> Result<(), CliError> {
    let mut o = String::new();
    if dataloaders {
        for (n, doc) in NATIVE {
            o.push_str(&format!("{n}\t{doc}\n"));
        }
        return out(&o);
    }
    let cfg = ZooConfig::load().map_err(err)?;
    for (name, src) in &cfg.model_sources {
        if source.is_some_and(|s| s != name) {
            continue;
        }
        if !src.root().exists() {
            eprintln!("{name}: not cloned yet (run `biobatch zoo update {name}`)");
            continue;
        }
        for m in list(src.root()).map_err(err)? {
            o.push_str(&format!("{name}\t{m}\n"));
        }
    }
    if let Some(s) = source {
        cfg.source(s).map_err(err)?;
    }
    out(&o)
}

fn shape(s: &[Option<usize>]) -> String {
    let d: Vec<String> = s
        .iter()
        .map(|d| d.map_or("None".into(), |n| n.to_string()))
        .collect();
    if d.len() == 1 {
        format!("({},)", d[0])
    } else {
        format!("({})", d.join(", "))
    }
}

fn print_schema(o: &mut String, node: &SchemaNode, path: &str, indent: usize) {
    let pad = " ".repeat(indent);
    match node {
        SchemaNode::Array(a) => {
            let mut line = format!("{pad}{path}: shape {}", shape(&a.shape));
            if let Some(d) = a.dtype {
                line.push_str(&format!(", {d}"));
            }
            if let Some(doc) = &a.doc {
                line.push_str(&format!(" — {}", doc.trim()));
            }
            o.push_str(&line);
            o.push('\n');
        }
        SchemaNode::List(l) => l
            .iter()
            .enumerate()
            .for_each(|(i, n)| print_schema(o, n, &format!("{path}/{i}"), indent)),
        SchemaNode::Map(m) => m
            .iter()
            .for_each(|(k, n)| print_schema(o, n, &format!("{path}/{k}"), indent)),
    }
}

fn print_args(o: &mut String, args: &std::collections::BTreeMap<String, ArgSpec>) {
    for (k, a) in args {
        let mut line = format!("    {k}");
        if let Some(d) = &a.default {
            line.push_str(&format!(" [default: {d}]"));
        }
        if a.optional {
            line.push_str(" (optional)");
        }
        if let Some(doc) = &a.doc {
            line.push_str(&format!(": {}", doc.trim()));
        }
        if let Some(r) = &a.remote {
            line.push_str(&format!(" (remote example: {})", r.url));
        } else if let Some(e) = &a.example {
            line.push_str(&format!(" (example: {e})"));
        }
        o.push_str(&line);
        o.push('\n');
    }
}

fn info(m: &ResolvedModel) -> Result<(), CliError> {
    use std::fmt::Write as _;
    let mut o = String::new();
    let s = &m.model;
    let _ = writeln!(o, "model {}  ({})", m.name, m.dir.display());
    let _ = writeln!(
        o,
        "  type: {}{}",
        s.kind,
        s.defined_as
            .as_ref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        o,
        "  runnable here: {}",
        if matches!(s.kind.as_str(), "onnx" | "biobatch.bpnet") {
            "yes"
        } else {
            "no (convert it to ONNX)"
        }
    );
    let _ = writeln!(
        o,
        "  doc: {}",
        s.info.doc.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    if let Some(v) = &s.info.version {
        let _ = writeln!(o, "  version: {v}");
    }
    let authors: Vec<&str> = s.info.authors.iter().map(|a| a.name.as_str()).collect();
    if !authors.is_empty() {
        let _ = writeln!(o, "  authors: {}", authors.join(", "));
    }
    for (k, v) in [
        ("license", &s.info.license),
        ("trained on", &s.info.trained_on),
        ("cite as", &s.info.cite_as),
    ] {
        if let Some(v) = v {
            let _ = writeln!(
                o,
                "  {k}: {}",
                v.split_whitespace().collect::<Vec<_>>().join(" ")
            );
        }
    }
    if !s.info.tags.is_empty() {
        let _ = writeln!(o, "  tags: {}", s.info.tags.join(", "));
    }
    let _ = writeln!(o, "  inputs:");
    print_schema(&mut o, &s.schema.inputs, "inputs", 4);
    if let Some(t) = &s.schema.targets {
        let _ = writeln!(o, "  predictions:");
        print_schema(&mut o, t, "preds", 4);
    }
    match &s.default_dataloader {
        None => {
            let _ = writeln!(o, "  dataloader: none");
        }
        Some(r) => {
            let spec: Option<DataloaderSpec> = if r.name == "." {
                m.dataloader.clone()
            } else {
                builtin_spec(&r.name)
            };
            let class = spec
                .as_ref()
                .and_then(|d| d.defined_as.clone())
                .unwrap_or_else(|| r.name.clone());
            let native = canonical(&class).map_or("Python, not run here".to_string(), |c| {
                format!("native: {c}")
            });
            let _ = writeln!(o, "  dataloader: {class} ({native})");
            if !r.default_args.is_empty() {
                let v: Vec<String> = r
                    .default_args
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                let _ = writeln!(o, "    model's default_args: {}", v.join(", "));
            }
            if let Some(d) = &spec {
                print_args(&mut o, &d.args);
            }
        }
    }
    if let Some(e) = &s.test.expect {
        let _ = writeln!(
            o,
            "  test: expect {e} (to {} decimals)",
            s.test.precision_decimal
        );
    }
    for w in s
        .warnings
        .iter()
        .chain(m.dataloader.iter().flat_map(|d| d.warnings.iter()))
    {
        let _ = writeln!(o, "  note: {w}");
    }
    out(&o)
}

fn get_example(m: &ResolvedModel, dir: &Path) -> Result<(), CliError> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(format!("{}: exists and is not empty", dir.display()).into());
    }
    let cache = cache_dir();
    let example_only = choose(m, &Map::new(), false, cache.as_deref()).map_err(err)?;
    let c = choose(m, &Map::new(), true, cache.as_deref()).map_err(err)?;
    // Copied into a sibling folder, then renamed: a failed copy leaves no partial folder.
    let staged = biobatch::formats::temp_sibling(dir);
    let copy = || -> Result<Map<String, Value>, CliError> {
        std::fs::create_dir_all(&staged).map_err(|e| format!("{}: {e}", staged.display()))?;
        let mut args = c.args.clone();
        for (k, v) in &c.args {
            if example_only.args.contains_key(k) {
                continue;
            }
            let Some(src) = v.as_str().map(PathBuf::from).filter(|p| p.is_file()) else {
                continue;
            };
            let name = src
                .file_name()
                .map(|n| n.to_os_string())
                .unwrap_or_default();
            std::fs::copy(&src, staged.join(&name))
                .map_err(|e| format!("copying {}: {e}", src.display()))?;
            // Indexes travel with their files.
            for ext in ["fai", "gzi", "tbi"] {
                let side = PathBuf::from(format!("{}.{ext}", src.display()));
                if side.is_file() {
                    std::fs::copy(
                        &side,
                        staged.join(format!("{}.{ext}", name.to_string_lossy())),
                    )
                    .map_err(|e| format!("copying {}: {e}", side.display()))?;
                }
            }
            let dest = dir.join(&name);
            eprintln!("{k}: {}", dest.display());
            args.insert(k.clone(), Value::String(dest.display().to_string()));
        }
        if dir.exists() {
            // Checked above to be empty.
            std::fs::remove_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::rename(&staged, dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(args)
    };
    let args = match copy() {
        Ok(a) => a,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staged);
            return Err(e);
        }
    };
    out(&format!("{}\n", Value::Object(args)))
}

fn init(dir: &Path, kind: &str) -> Result<(), CliError> {
    if dir.exists() {
        return Err(format!(
            "{}: exists already; init writes a new folder",
            dir.display()
        )
        .into());
    }
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "my-model".into());
    let (args, inputs) = match kind {
        "onnx" => (
            "  file: model.onnx   # the network, exported to ONNX with a dynamic batch axis\n",
            "    name: seq         # the network's input name\n    shape: (4, 1000)\n    special_type: DNASeq\n    doc: one-hot DNA sequence, channels A, C, G, T first\n    associated_metadata: ranges\n",
        ),
        "biobatch.bpnet" => return init_bpnet(dir, &name),
        other => return Err(format!("--type {other}: expected onnx or biobatch.bpnet").into()),
    };
    let model = format!(
        "# A model for `biobatch zoo` (Kipoi's model.yaml). Fill in every TODO.\ntype: {kind}\nargs:\n{args}info:\n  authors:\n    - name: TODO\n  doc: >\n    TODO: what the model predicts, from what, and how it was trained.\n  version: \"0.1\"\n  license: TODO\n  cite_as: TODO (a DOI)\n  trained_on: TODO (data, held-out chromosomes)\n  tags:\n    - TODO\ndefault_dataloader: .\nschema:\n  inputs:\n{inputs}  targets:\n    shape: (1, )\n    doc: TODO what each output is\ntest:\n  expect: expected.tsv   # predictions on the example files (e.g. from `biobatch zoo predict … -o expected.tsv`)\n  precision_decimal: 5\n"
    );
    let dataloader = "# The dataloader (Kipoi's dataloader.yaml): a native one named in defined_as\n# (`biobatch zoo ls --dataloaders`), with example files for `biobatch zoo test`.\ntype: Dataset\ndefined_as: kipoiseq.dataloaders.SeqIntervalDl\nargs:\n  intervals_file:\n    doc: BED3 file of intervals\n    example: example/intervals.bed\n  fasta_file:\n    doc: the reference genome\n    example: example/genome.fa\n  auto_resize_len:\n    doc: window length\n    default: 1000\n  alphabet_axis:\n    doc: channels first\n    default: 0\n  dtype:\n    doc: element type\n    default: np.float32\ninfo:\n  authors:\n    - name: TODO\n  doc: TODO\noutput_schema:\n  inputs:\n    name: seq\n    shape: (4, 1000)\n    special_type: DNASeq\n    doc: one-hot DNA sequence\n    associated_metadata: ranges\n  metadata:\n    ranges:\n      type: GenomicRanges\n      doc: the window of each interval\n";
    let readme = format!(
        "# {name}\n\nTODO: describe the model.\n\n- `model.yaml`, `dataloader.yaml`: the zoo description (see docs/zoo.md of biobatch).\n- `example/`: small example inputs for `biobatch zoo test {name}`.\n\n```\nbiobatch zoo info {}\nbiobatch zoo test {}\n```\n",
        dir.display(),
        dir.display()
    );
    write_new_dir(
        dir,
        &[
            ("model.yaml", model.as_str()),
            ("dataloader.yaml", dataloader),
            ("README.md", readme.as_str()),
        ],
    )
}

/// A `biobatch.bpnet` model folder: the zoo description `biobatch train bpnet` exports, for
/// bpnet-lite's default model, with example files expected in `example/` and the settings in
/// `config.json`; the weights (`model.safetensors` from bpnet-lite, or `model.bpk`) go beside.
fn init_bpnet(dir: &Path, name: &str) -> Result<(), CliError> {
    use biobatch::pipeline::bpnet::{TrainConfig, export};
    let mut c = TrainConfig::default();
    c.peaks.peaks = vec!["example/peaks.narrowPeak".into()];
    c.peaks.fasta = "example/genome.fa".into();
    c.peaks.controls = vec![vec![
        "example/control.plus.bw".into(),
        "example/control.minus.bw".into(),
    ]];
    c.model.control_tracks = 2;
    let model = format!(
        "# A BPNet for `biobatch zoo`. Put its weights beside this file: model.safetensors\n\
         # (bpnet-lite's state_dict, `safetensors.torch.save_file(model.state_dict(), ...)`) or\n\
         # model.bpk, and set config.json to its settings (out_window = in_window - 2 * trimming).\n{}",
        export::model_yaml(&c).replace("weights: model.bpk", "weights: model.safetensors")
    );
    let dataloader = export::dataloader_yaml(&c, None);
    let config =
        serde_json::to_string_pretty(&serde_json::json!({ "model": c.model })).map_err(err)?;
    let readme = format!(
        "# {name}\n\nTODO: describe the model.\n\n- `model.yaml`, `dataloader.yaml`: the zoo description (see docs/zoo.md of biobatch).\n- `config.json`: the model's settings; `model.safetensors`: its weights (TODO).\n- `example/`: peaks, genome and control bigWigs for `biobatch zoo test {}`.\n",
        dir.display()
    );
    write_new_dir(
        dir,
        &[
            ("model.yaml", model.as_str()),
            ("dataloader.yaml", dataloader.as_str()),
            ("config.json", config.as_str()),
            ("README.md", readme.as_str()),
        ],
    )
}

/// Writes `files` and an empty `example/` into a new folder `dir`: into a sibling folder,
/// then renamed, so there is never a half-made model folder.
fn write_new_dir(dir: &Path, files: &[(&str, &str)]) -> Result<(), CliError> {
    let staged = biobatch::formats::temp_sibling(dir);
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(staged.join("example"))?;
        for (f, text) in files {
            std::fs::write(staged.join(f), text)?;
        }
        std::fs::rename(&staged, dir)
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(format!("{}: {e}", dir.display()).into());
    }
    let names: Vec<&str> = files.iter().map(|(f, _)| *f).collect();
    eprintln!("wrote {}: {}, example/", dir.display(), names.join(", "));
    Ok(())
}
