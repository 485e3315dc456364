//! Kipoi's `model.yaml` and `dataloader.yaml`, read as Kipoi reads them.
//!
//! Real specs carry duplicate keys (the last one wins, as PyYAML does), versions written as
//! floats (`version: 0.1` is the text `0.1`), Python-ish values (`None`, `True`, shapes as
//! strings like `"(None, 4)"`) and keys Kipoi ignores. We are tolerant where Kipoi is —
//! unknown keys and oddities become warnings kept with the spec — and strict where a mistake
//! would give wrong predictions: a missing `type`, a shape we cannot read, a malformed remote
//! file are errors naming the file and the key.

use std::collections::BTreeMap;
use std::path::PathBuf;

use biobatch_core::SchemaNode;
use serde_json::Value;

mod parse;
mod schema;
mod write;

pub use parse::{
    dataloader_from_str, dataloader_from_str_in, model_from_str, model_from_str_in, parse_yaml,
};
pub use schema::parse_shape;
pub use write::{schema_value, shape_text};

/// A file an argument points to on the web, checked against its MD5 after every download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    /// Where to fetch it.
    pub url: String,
    /// Its MD5, 32 hex digits.
    pub md5: String,
    /// A file name to keep it under, if the spec gives one.
    pub name: Option<String>,
}

/// One argument of a model or dataloader.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArgSpec {
    /// What it is.
    pub doc: Option<String>,
    /// A value that works with the model's example files.
    pub example: Option<Value>,
    /// The value used when none is given.
    pub default: Option<Value>,
    /// Whether it may be left out.
    pub optional: bool,
    /// A remote file (the argument's value, or its example / default).
    pub remote: Option<RemoteFile>,
    /// A plain value given directly (`arg: value`).
    pub value: Option<Value>,
}

/// An author.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Author {
    /// Name.
    pub name: String,
    /// GitHub handle.
    pub github: Option<String>,
    /// Email.
    pub email: Option<String>,
}

/// `info:`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Info {
    /// Authors.
    pub authors: Vec<Author>,
    /// Contributors.
    pub contributors: Vec<Author>,
    /// Description.
    pub doc: String,
    /// Version, as written (a float in YAML is kept as its text).
    pub version: Option<String>,
    /// License.
    pub license: Option<String>,
    /// How to cite.
    pub cite_as: Option<String>,
    /// What it was trained on.
    pub trained_on: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
}

/// `dependencies:`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dependencies {
    /// Conda packages.
    pub conda: Vec<String>,
    /// Pip packages.
    pub pip: Vec<String>,
}

/// `default_dataloader:` — a name (`kipoiseq.dataloaders.SeqIntervalDl`, or `.` for the
/// model's own `dataloader.yaml`) with default arguments.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataloaderRef {
    /// The dataloader's name.
    pub name: String,
    /// Arguments given by the model.
    pub default_args: BTreeMap<String, Value>,
}

/// A model's `schema:`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSchema {
    /// What the model takes.
    pub inputs: SchemaNode,
    /// What it predicts.
    pub targets: Option<SchemaNode>,
}

/// A dataloader's `output_schema:`.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSchema {
    /// Inputs it yields.
    pub inputs: SchemaNode,
    /// Targets it yields, if any.
    pub targets: Option<SchemaNode>,
    /// Metadata it yields, as raw YAML (ranges, ids).
    pub metadata: Option<Value>,
}

/// A parsed `model.yaml`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    /// The file read (for messages).
    pub path: PathBuf,
    /// `type:` (keras, pytorch, onnx, biobatch.bpnet, custom, …).
    pub kind: String,
    /// `defined_as:` (custom models).
    pub defined_as: Option<String>,
    /// Arguments.
    pub args: BTreeMap<String, ArgSpec>,
    /// `info:`.
    pub info: Info,
    /// `default_dataloader:`.
    pub default_dataloader: Option<DataloaderRef>,
    /// `schema:`.
    pub schema: ModelSchema,
    /// `dependencies:`.
    pub dependencies: Dependencies,
    /// `postprocessing:`, kept as written.
    pub postprocessing: Option<Value>,
    /// `test:`: the expected predictions on the example files.
    pub test: TestSpec,
    /// What was tolerated (unknown keys, float versions, …).
    pub warnings: Vec<String>,
}

/// Kipoi's default `test.precision_decimal`.
pub const DEFAULT_PRECISION_DECIMAL: i32 = 7;

/// A model's `test:` block.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TestSpec {
    /// `expect:`: a file of expected predictions (a path next to the spec, or `{url, md5}`).
    pub expect: Option<Value>,
    /// `precision_decimal:`: predictions must agree to `1.5 · 10^−d` (Kipoi's default 7).
    pub precision_decimal: i32,
}

/// A parsed `dataloader.yaml`.
#[derive(Debug, Clone, PartialEq)]
pub struct DataloaderSpec {
    /// The file read.
    pub path: PathBuf,
    /// `type:` (Dataset, BatchDataset, …).
    pub kind: String,
    /// `defined_as:`.
    pub defined_as: Option<String>,
    /// Arguments.
    pub args: BTreeMap<String, ArgSpec>,
    /// `info:`.
    pub info: Info,
    /// `output_schema:`.
    pub output_schema: OutputSchema,
    /// `dependencies:`.
    pub dependencies: Dependencies,
    /// What was tolerated.
    pub warnings: Vec<String>,
}
