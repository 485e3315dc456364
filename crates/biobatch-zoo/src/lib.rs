//! A model zoo in Kipoi's terms, run natively: `model.yaml` / `dataloader.yaml` specs read as
//! Kipoi reads them (and written back), model sources and groups, remote files checked
//! against their MD5, native dataloaders (kipoiseq's `SeqIntervalDl` and
//! `StringSeqIntervalDl`, the biobatch datasets), models (ONNX through tract with the `onnx`
//! feature, BPNet in burn with `bpnet`), and predictions to Parquet, TSV or bigWig. See
//! `docs/zoo.md`.
//!
//! | module | what it holds |
//! |---|---|
//! | [`spec`] | the specs: types, the tolerant reader, the YAML writer |
//! | [`source`] | local and git sources, model groups (Jinja2), name resolution |
//! | [`catalog`] | [`Zoo`]: the sources and the download cache, and what a user does with them |
//! | [`remote`] | remote files, downloaded once and MD5-checked before every use |
//! | [`args`] | dataloader arguments as Kipoi's Python takes them |
//! | [`dataloaders`] | the registry of native dataloaders and how their arguments merge |
//! | [`kipoiseq`] | `SeqIntervalDl` and `StringSeqIntervalDl`, as kipoiseq 0.7 gives them |
//! | [`models`] | [`ZooModel`](models::ZooModel): ONNX and BPNet models |
//! | [`run`] | schema checks, the run through the loader runtime, `predict`, `test` |
//! | [`output`] | Kipoi's flat layout to Parquet / TSV, bigWig tracks, tables read back |
//! | [`info`] | a model described in words (`zoo info`) |
//! | [`mod@init`] | new model folders to fill in |
//! | `package` | a trained BPNet as a zoo model (feature `bpnet`) |
//!
//! # Examples
//!
//! The bundled ONNX model on its example files, compared with Kipoi's expected predictions:
//!
//! ```no_run
//! use biobatch_zoo::{RunOptions, Zoo};
//!
//! let zoo = Zoo::load()?;
//! let model = zoo.find("peak-cnn", None)?;
//! let report = zoo.test(&model, &RunOptions::default())?;
//! assert!(report.compared > 0);
//! # Ok::<(), biobatch_zoo::Error>(())
//! ```
//!
//! A spec read, and written back as YAML that reads back the same:
//!
//! ```
//! use std::path::Path;
//! use biobatch_zoo::spec::model_from_str;
//!
//! let text = "type: onnx\nargs: {file: model.onnx}\ninfo: {doc: a model}\n\
//!             schema: {inputs: {shape: (4, 100)}, targets: {shape: (1,)}}\n";
//! let spec = model_from_str(text, Path::new("model.yaml"))?;
//! let again = model_from_str(&spec.to_yaml()?, Path::new("model.yaml"))?;
//! assert_eq!(again.schema, spec.schema);
//! # Ok::<(), biobatch_zoo::Error>(())
//! ```
#![warn(missing_docs)]

pub mod args;
pub mod catalog;
pub mod dataloaders;
mod error;
pub mod info;
pub mod init;
pub mod kipoiseq;
pub mod models;
pub mod output;
#[cfg(feature = "bpnet")]
pub mod package;
pub mod remote;
pub mod run;
pub mod source;
pub mod spec;

pub use catalog::{Listing, Zoo};
pub use error::{BoxError, Error, Result};
pub use run::{PredictReport, RunOptions, TestReport};
