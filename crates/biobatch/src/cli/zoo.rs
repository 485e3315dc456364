//! `biobatch zoo`: list, inspect, test and run model-zoo models (Kipoi's `model.yaml` /
//! `dataloader.yaml` contract), with Kipoi's spellings where a user would type them. The
//! behaviour is `biobatch_zoo`'s; this file parses arguments and prints.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use biobatch::zoo::dataloaders::NATIVE;
use biobatch::zoo::source::SourceKind;
use biobatch::zoo::{Listing, RunOptions, Zoo as Models};
use clap::{Args, Subcommand};
use serde_json::{Map, Value};

use super::{out, out_json};

#[derive(Debug, Subcommand)]
pub(crate) enum Zoo {
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
pub(crate) struct ModelArg {
    /// A model name (e.g. `peak-cnn`, `CpGenie/A549_ENCSR000DDI`) or a model folder.
    model: String,
    /// The source to look in [default: each configured source in turn].
    #[arg(long)]
    source: Option<String>,
}

/// How to run a model.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Examples per batch.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Dataloader worker threads.
    #[arg(long, alias = "num_workers", default_value_t = 2)]
    num_workers: usize,
    /// Show a progress bar.
    #[arg(long)]
    progress: bool,
    /// Where the model runs: `cpu`, or `wgpu` / `wgpu:N` (`vulkan` / `vulkan:N`) for BPNet
    /// models (a build with `--features wgpu` / `vulkan`). ONNX models run on the CPU.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Batches made ready for the model ahead of it (inputs on the device) on a feed thread;
    /// 0 does it between predictions.
    #[arg(long, default_value_t = 2)]
    device_prefetch: usize,
}

impl RunArgs {
    fn options(&self) -> RunOptions {
        let mut o = RunOptions::with_batches(self.batch_size, self.num_workers);
        o.loader.progress = self.progress;
        o.device = self.device.clone();
        o.device_prefetch = self.device_prefetch;
        o
    }
}

fn parse_args(text: &str) -> anyhow::Result<Map<String, Value>> {
    let text = match text.strip_prefix('@') {
        Some(f) => std::fs::read_to_string(f).with_context(|| f.to_string())?,
        None => text.to_string(),
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(v) => bail!("--dataloader-args must be a JSON object, not `{v}`"),
        Err(e) => bail!("--dataloader-args is not JSON: {e}"),
    }
}

/// The zoo of the configured sources, with the bundled examples of `--examples-dir`.
fn models(ex: Option<&Path>) -> anyhow::Result<Models> {
    let mut zoo = Models::load()?;
    if let Some(d) = ex {
        zoo.config.model_sources.insert(
            "examples".into(),
            SourceKind::Local {
                local_path: d.join("zoo"),
                root: Some(d.to_path_buf()),
            },
        );
    }
    Ok(zoo)
}

pub(crate) fn run(z: Zoo, ex: Option<&Path>) -> anyhow::Result<()> {
    let zoo = models(ex)?;
    let find = |m: &ModelArg| zoo.find(&m.model, m.source.as_deref());
    match z {
        Zoo::Ls {
            source,
            dataloaders,
        } => {
            let mut o = String::new();
            if dataloaders {
                for (n, doc) in NATIVE {
                    o.push_str(&format!("{n}\t{doc}\n"));
                }
                return out(&o);
            }
            for (name, listing) in zoo.list(source.as_deref())? {
                match listing {
                    Listing::Models(models) => {
                        for m in models {
                            o.push_str(&format!("{name}\t{m}\n"));
                        }
                    }
                    Listing::NotCloned => {
                        eprintln!("{name}: not cloned yet (run `biobatch zoo update {name}`)")
                    }
                }
            }
            out(&o)
        }
        Zoo::Info(m) => out(&biobatch::zoo::info::describe(&find(&m)?)),
        Zoo::GetExample { model, output } => {
            let args = zoo.get_example(&find(&model)?, &output)?;
            out_json(&Value::Object(args))
        }
        Zoo::Test { model, run } => {
            let m = find(&model)?;
            let r = zoo.test(&m, &run.options())?;
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
            out_json(&serde_json::json!({
                "model": m.name, "examples": r.run.rows, "compared": r.compared,
                "expect": r.expect, "skipped": r.skipped, "seconds": r.run.seconds,
            }))
        }
        Zoo::Predict {
            model,
            dataloader_args,
            output,
            run,
        } => {
            let m = find(&model)?;
            let args = parse_args(&dataloader_args)?;
            let r = zoo.predict_to_file(&m, &args, &output, &run.options())?;
            out_json(&serde_json::json!({
                "model": m.name, "output": output, "files": r.files, "examples": r.rows,
                "batches": r.batches, "seconds": r.seconds,
                "examples_per_s": r.rows as f64 / r.seconds.max(1e-9),
                "model_seconds": r.model_seconds, "wait_seconds": r.wait_seconds,
            }))
        }
        Zoo::Init { dir, kind } => {
            let files = biobatch::zoo::init::init(&dir, &kind)?;
            eprintln!("wrote {}: {}", dir.display(), files.join(", "));
            Ok(())
        }
        Zoo::Update { source } => {
            let done = zoo.update(source.as_deref())?;
            if done.is_empty() {
                eprintln!(
                    "no git sources configured ({})",
                    biobatch::zoo::source::config_path()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                );
            }
            for (n, msg) in done {
                eprintln!("{n}: {msg}");
            }
            Ok(())
        }
    }
}
