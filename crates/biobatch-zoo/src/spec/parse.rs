//! Reading `model.yaml` and `dataloader.yaml` as Kipoi reads them (see the
//! [module docs](super)).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::{
    ArgSpec, Author, DataloaderRef, DataloaderSpec, Dependencies, Info, ModelSchema, ModelSpec,
    OutputSchema, RemoteFile, TestSpec,
};
use crate::{Error, Result};

/// Parses YAML text the way PyYAML + Kipoi do: duplicate keys keep the last value.
pub fn parse_yaml(text: &str, path: &Path) -> Result<Value> {
    let opts = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::options::DuplicateKeyPolicy::LastWins,
    };
    serde_saphyr::from_str_with_options::<Value>(text, opts).map_err(|source| Error::Yaml {
        path: path.to_path_buf(),
        source: Box::new(source),
    })
}

pub(super) struct Ctx<'a> {
    pub(super) path: &'a Path,
    /// The folder files the spec names must stay inside (its source).
    pub(super) root: &'a Path,
    pub(super) warnings: Vec<String>,
}

/// The spec's own folder: the confinement when no source root is known.
fn folder(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

impl Ctx<'_> {
    pub(super) fn err(&self, key: &str, what: impl std::fmt::Display) -> Error {
        Error::spec(self.path, format!("`{key}`: {what}"))
    }

    pub(super) fn warn(&mut self, w: String) {
        tracing::warn!(file = %self.path.display(), "{w}");
        self.warnings.push(w);
    }
}

/// A scalar as text (numbers and booleans as YAML writes them).
pub(super) fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(super) fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a.iter().filter_map(text).collect(),
        Some(v) => text(v).into_iter().collect(),
        None => Vec::new(),
    }
}

/// Kipoi writes "null" as the Python `None` in places.
fn is_none(v: &Value) -> bool {
    matches!(v, Value::Null) || matches!(v, Value::String(s) if s == "None")
}

fn remote(v: &Value, ctx: &mut Ctx<'_>, key: &str) -> Result<Option<RemoteFile>> {
    let Value::Object(m) = v else { return Ok(None) };
    if !m.contains_key("url") {
        return Ok(None);
    }
    let url = m
        .get("url")
        .and_then(text)
        .ok_or_else(|| ctx.err(key, "`url` must be text"))?;
    let md5 = m
        .get("md5")
        .and_then(text)
        .ok_or_else(|| {
            ctx.err(
                key,
                "a remote file needs its `md5` (Kipoi downloads are checked against it)",
            )
        })?
        .to_ascii_lowercase();
    // Zenodo shows digests as `md5:…`, and specs copy that; Kipoi then compares the prefixed
    // text with the digest, never matches, and downloads the file again on every use.
    let md5 = match md5.strip_prefix("md5:") {
        Some(rest) => {
            ctx.warn(format!(
                "`{key}.md5` has a `md5:` prefix; read as the digest after it"
            ));
            rest.to_string()
        }
        None => md5,
    };
    if md5.len() != 32 || !md5.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ctx.err(key, format!("md5 `{md5}` is not 32 hex digits")));
    }
    Ok(Some(RemoteFile {
        url,
        md5,
        name: m.get("name").and_then(text),
    }))
}

fn args(v: Option<&Value>, ctx: &mut Ctx<'_>) -> Result<BTreeMap<String, ArgSpec>> {
    let mut out = BTreeMap::new();
    let Some(v) = v else { return Ok(out) };
    let Value::Object(m) = v else {
        if !is_none(v) {
            ctx.warn(format!("`args` is not a map ({v}); ignored"));
        }
        return Ok(out);
    };
    for (name, a) in m {
        let key = format!("args.{name}");
        let spec = match a {
            Value::Object(o) if o.contains_key("url") => ArgSpec {
                remote: remote(a, ctx, &key)?,
                ..Default::default()
            },
            Value::Object(o)
                if [
                    "doc", "example", "default", "optional", "type", "tags", "name",
                ]
                .iter()
                .any(|k| o.contains_key(*k)) =>
            {
                let mut s = ArgSpec {
                    doc: o.get("doc").and_then(text),
                    example: o.get("example").cloned().filter(|v| !is_none(v)),
                    default: o.get("default").cloned().filter(|v| !is_none(v)),
                    optional: o.get("optional").is_some_and(|v| {
                        matches!(v, Value::Bool(true)) || text(v).as_deref() == Some("True")
                    }),
                    ..Default::default()
                };
                for field in [&s.example, &s.default].into_iter().flatten() {
                    if let Some(r) = remote(field, ctx, &key)? {
                        s.remote = Some(r);
                    }
                }
                for k in o.keys() {
                    if ![
                        "doc", "example", "default", "optional", "type", "tags", "name",
                    ]
                    .contains(&k.as_str())
                    {
                        ctx.warn(format!(
                            "`{key}.{k}` is not a Kipoi argument field; ignored"
                        ));
                    }
                }
                s
            }
            other => ArgSpec {
                value: Some(other.clone()),
                ..Default::default()
            },
        };
        out.insert(name.clone(), spec);
    }
    Ok(out)
}

fn authors(v: Option<&Value>) -> Vec<Author> {
    let one = |a: &Value| match a {
        Value::Object(m) => Author {
            name: m.get("name").and_then(text).unwrap_or_default(),
            github: m.get("github").and_then(text),
            email: m.get("email").and_then(text),
        },
        other => Author {
            name: text(other).unwrap_or_default(),
            ..Default::default()
        },
    };
    match v {
        Some(Value::Array(a)) => a.iter().map(one).collect(),
        Some(v) if !is_none(v) => vec![one(v)],
        _ => Vec::new(),
    }
}

fn info(v: Option<&Value>, ctx: &mut Ctx<'_>) -> Info {
    let Some(Value::Object(m)) = v else {
        ctx.warn("no `info` section".into());
        return Info::default();
    };
    let version = m.get("version").and_then(|v| {
        if matches!(v, Value::Number(_)) {
            ctx.warn(format!(
                "`info.version` is a number ({v}); read as the text `{v}`"
            ));
        }
        text(v)
    });
    for k in m.keys() {
        if ![
            "authors",
            "contributors",
            "doc",
            "version",
            "license",
            "cite_as",
            "trained_on",
            "tags",
            "training_procedure",
            "name",
            "maintainers",
        ]
        .contains(&k.as_str())
        {
            ctx.warn(format!("`info.{k}` is not a Kipoi info field; ignored"));
        }
    }
    Info {
        authors: authors(m.get("authors")),
        contributors: authors(m.get("contributors")),
        doc: m.get("doc").and_then(text).unwrap_or_default(),
        version,
        license: m.get("license").and_then(text),
        cite_as: m.get("cite_as").and_then(text),
        trained_on: m.get("trained_on").and_then(text),
        tags: strings(m.get("tags")),
    }
}

fn dependencies(v: Option<&Value>) -> Dependencies {
    let Some(Value::Object(m)) = v else {
        return Dependencies::default();
    };
    Dependencies {
        conda: strings(m.get("conda")),
        pip: strings(m.get("pip")),
    }
}

use super::schema::schema_node;

fn top(v: &Value, ctx: &Ctx<'_>) -> Result<serde_json::Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m.clone()),
        _ => Err(Error::spec(ctx.path, "expected a YAML map at the top")),
    }
}

/// `type:`, or what `defined_as:` implies when a spec names a Kipoi class instead
/// (`kipoi.model.PyTorchModel` is `pytorch`, …); a dataloader without either is a `Dataset`.
fn kind(m: &serde_json::Map<String, Value>, ctx: &Ctx<'_>, dataloader: bool) -> Result<String> {
    if let Some(t) = m.get("type").and_then(text) {
        return Ok(t);
    }
    if let Some(d) = m.get("defined_as").and_then(text) {
        let class = d.rsplit('.').next().unwrap_or(&d);
        let implied = match class {
            _ if dataloader => "Dataset",
            "PyTorchModel" => "pytorch",
            "KerasModel" => "keras",
            "TensorFlowModel" | "TensorFlow2Model" => "tensorflow",
            "SklearnModel" => "sklearn",
            "XGBoostModel" => "xgboost",
            _ => "custom",
        };
        return Ok(implied.to_string());
    }
    if dataloader {
        return Ok("Dataset".to_string());
    }
    Err(ctx.err(
        "type",
        "missing: say what kind of model this is (or name its class in `defined_as`)",
    ))
}

fn test_spec(v: Option<&Value>, ctx: &mut Ctx<'_>) -> Result<TestSpec> {
    let mut t = TestSpec {
        expect: None,
        precision_decimal: super::DEFAULT_PRECISION_DECIMAL,
    };
    let Some(Value::Object(m)) = v else {
        return Ok(t);
    };
    t.expect = m.get("expect").cloned().filter(|v| !is_none(v));
    if let Some(Value::Object(_)) = &t.expect {
        remote(
            t.expect.as_ref().unwrap_or(&Value::Null),
            ctx,
            "test.expect",
        )?;
    }
    if let Some(d) = m.get("precision_decimal") {
        t.precision_decimal = d
            .as_i64()
            .or_else(|| text(d).and_then(|s| s.parse().ok()))
            .filter(|d| (0..=15).contains(d))
            .ok_or_else(|| {
                ctx.err(
                    "test.precision_decimal",
                    format!("expected a whole number of decimals, found `{d}`"),
                )
            })? as i32;
    }
    Ok(t)
}

/// Parses a `model.yaml` already read into `text`; files it names (a `column_labels` file)
/// must lie in its folder.
pub fn model_from_str(text_: &str, path: &Path) -> Result<ModelSpec> {
    model_from_str_in(text_, path, folder(path))
}

/// [`model_from_str`] for a spec of a model source rooted at `root`: files it names may be
/// anywhere inside `root` (Kipoi's model groups share files one folder up), never outside.
pub fn model_from_str_in(text_: &str, path: &Path, root: &Path) -> Result<ModelSpec> {
    let v = parse_yaml(text_, path)?;
    let mut ctx = Ctx {
        path,
        root,
        warnings: Vec::new(),
    };
    let m = top(&v, &ctx)?;
    let kind = kind(&m, &ctx, false)?;
    let schema = m.get("schema").ok_or_else(|| {
        ctx.err(
            "schema",
            "missing: a model must say what it takes and predicts",
        )
    })?;
    let Value::Object(sm) = schema else {
        return Err(ctx.err("schema", "expected a map with `inputs` (and `targets`)"));
    };
    let inputs = sm
        .get("inputs")
        .ok_or_else(|| ctx.err("schema.inputs", "missing"))?;
    let inputs = schema_node(inputs, &mut ctx, "schema.inputs")?;
    let targets = sm
        .get("targets")
        .filter(|t| !is_none(t))
        .map(|t| schema_node(t, &mut ctx, "schema.targets"))
        .transpose()?;
    let default_dataloader = match m.get("default_dataloader") {
        Some(Value::String(s)) => Some(DataloaderRef {
            name: s.clone(),
            default_args: BTreeMap::new(),
        }),
        Some(Value::Object(d)) => Some(DataloaderRef {
            name: d
                .get("defined_as")
                .and_then(text)
                .ok_or_else(|| ctx.err("default_dataloader.defined_as", "missing"))?,
            default_args: match d.get("default_args") {
                Some(Value::Object(a)) => a.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                _ => BTreeMap::new(),
            },
        }),
        Some(v) if !is_none(v) => {
            return Err(ctx.err(
                "default_dataloader",
                format!("expected a name or a map, found `{v}`"),
            ));
        }
        _ => None,
    };
    let known = [
        "type",
        "defined_as",
        "args",
        "info",
        "default_dataloader",
        "schema",
        "dependencies",
        "postprocessing",
        "test",
    ];
    for k in m.keys() {
        if !known.contains(&k.as_str()) {
            ctx.warn(format!("`{k}` is not a model.yaml field; ignored"));
        }
    }
    let args = args(m.get("args"), &mut ctx)?;
    let info = info(m.get("info"), &mut ctx);
    Ok(ModelSpec {
        path: path.to_path_buf(),
        kind,
        defined_as: m.get("defined_as").and_then(text),
        args,
        info,
        default_dataloader,
        schema: ModelSchema { inputs, targets },
        dependencies: dependencies(m.get("dependencies")),
        postprocessing: m.get("postprocessing").cloned(),
        test: test_spec(m.get("test"), &mut ctx)?,
        warnings: ctx.warnings,
    })
}

/// Parses a `dataloader.yaml` already read into `text`; files it names must lie in its
/// folder.
pub fn dataloader_from_str(text_: &str, path: &Path) -> Result<DataloaderSpec> {
    dataloader_from_str_in(text_, path, folder(path))
}

/// [`dataloader_from_str`] for a spec of a model source rooted at `root`.
pub fn dataloader_from_str_in(text_: &str, path: &Path, root: &Path) -> Result<DataloaderSpec> {
    let v = parse_yaml(text_, path)?;
    let mut ctx = Ctx {
        path,
        root,
        warnings: Vec::new(),
    };
    let m = top(&v, &ctx)?;
    let kind = kind(&m, &ctx, true)?;
    let os = m.get("output_schema").ok_or_else(|| {
        ctx.err(
            "output_schema",
            "missing: a dataloader must say what it yields",
        )
    })?;
    let Value::Object(om) = os else {
        return Err(ctx.err("output_schema", "expected a map with `inputs`"));
    };
    let inputs = schema_node(
        om.get("inputs")
            .ok_or_else(|| ctx.err("output_schema.inputs", "missing"))?,
        &mut ctx,
        "output_schema.inputs",
    )?;
    let targets = om
        .get("targets")
        .filter(|t| !is_none(t))
        .map(|t| schema_node(t, &mut ctx, "output_schema.targets"))
        .transpose()?;
    let known = [
        "type",
        "defined_as",
        "args",
        "info",
        "output_schema",
        "dependencies",
        "postprocessing",
    ];
    for k in m.keys() {
        if !known.contains(&k.as_str()) {
            ctx.warn(format!("`{k}` is not a dataloader.yaml field; ignored"));
        }
    }
    let args = args(m.get("args"), &mut ctx)?;
    let info = info(m.get("info"), &mut ctx);
    Ok(DataloaderSpec {
        path: path.to_path_buf(),
        kind,
        defined_as: m.get("defined_as").and_then(text),
        args,
        info,
        output_schema: OutputSchema {
            inputs,
            targets,
            metadata: om.get("metadata").cloned(),
        },
        dependencies: dependencies(m.get("dependencies")),
        warnings: ctx.warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse_shape;
    use biobatch_core::SchemaNode;
    use biobatch_core::SpecialType;

    #[test]
    fn shapes_read_as_kipoi_writes_them() {
        let s = |t: &str| parse_shape(&Value::String(t.into()));
        assert_eq!(s("(None, 4)").unwrap(), [None, Some(4)]);
        assert_eq!(s("(4,)").unwrap(), [Some(4)]);
        assert_eq!(s("()").unwrap(), Vec::<Option<usize>>::new());
        assert_eq!(s("[1000, 4]").unwrap(), [Some(1000), Some(4)]);
        assert!(s("(four, 4)").unwrap_err().contains("`four`"));
        assert_eq!(
            parse_shape(&serde_json::json!([null, 4])).unwrap(),
            [None, Some(4)]
        );
        assert_eq!(parse_shape(&serde_json::json!(7)).unwrap(), [Some(7)]);
    }

    #[test]
    fn tolerant_where_kipoi_is_and_strict_where_it_matters() {
        let yaml = "type: keras\ntype: onnx\nargs:\n  weights:\n    url: https://example.org/w.h5\n    md5: 0123456789ABCDEF0123456789abcdef\n  arch: model.json\ninfo:\n  version: 0.1\n  authors:\n    - name: Ada\n      github: ada\n  doc: A model\n  colour: blue\nschema:\n  inputs:\n    shape: (None, 4)\n    special_type: DNASeq\n  targets:\n    shape: (1, )\nextra_key: 3\ndefault_dataloader:\n  defined_as: kipoiseq.dataloaders.SeqIntervalDl\n  default_args:\n    auto_resize_len: 1000\n";
        let m = model_from_str(yaml, Path::new("m/model.yaml")).unwrap();
        assert_eq!(m.kind, "onnx", "the last duplicate wins");
        assert_eq!(m.info.version.as_deref(), Some("0.1"));
        assert_eq!(m.info.authors[0].github.as_deref(), Some("ada"));
        let w = m.args["weights"].remote.as_ref().unwrap();
        assert_eq!(w.md5, "0123456789abcdef0123456789abcdef");
        assert_eq!(
            m.args["arch"].value,
            Some(Value::String("model.json".into()))
        );
        let dl = m.default_dataloader.unwrap();
        assert_eq!(dl.name, "kipoiseq.dataloaders.SeqIntervalDl");
        assert_eq!(dl.default_args["auto_resize_len"], 1000);
        let SchemaNode::Array(x) = &m.schema.inputs else {
            panic!()
        };
        assert_eq!(
            (x.shape.clone(), x.special_type.clone()),
            (vec![None, Some(4)], Some(SpecialType::DnaSeq))
        );
        assert!(m.warnings.iter().any(|w| w.contains("extra_key")));
        assert!(m.warnings.iter().any(|w| w.contains("info.colour")));
        assert!(m.warnings.iter().any(|w| w.contains("is a number")));

        let bad = |y: &str| {
            model_from_str(y, Path::new("x/model.yaml"))
                .unwrap_err()
                .to_string()
        };
        assert!(
            bad("schema:\n  inputs:\n    shape: (1,)\n").contains("x/model.yaml: `type`: missing")
        );
        assert!(bad("type: keras\n").contains("`schema`: missing"));
        assert!(
            bad("type: keras\nschema:\n  inputs:\n    shape: (a, 4)\n")
                .contains("`schema.inputs.shape`: `a` is not a dimension")
        );
        assert!(
            bad(
                "type: keras\nargs:\n  w:\n    url: http://x\nschema:\n  inputs:\n    shape: (4,)\n"
            )
            .contains("needs its `md5`")
        );
        assert!(bad("type: keras\nargs:\n  w:\n    url: http://x\n    md5: abc\nschema:\n  inputs:\n    shape: (4,)\n").contains("not 32 hex digits"));
        assert!(bad("type: [oops\n").contains("not readable YAML"));
    }
}
