//! Specs written back in Kipoi's layout: [`ModelSpec`] and [`DataloaderSpec`] serialise (with
//! serde) to the maps `model.yaml` and `dataloader.yaml` hold, and [`ModelSpec::to_yaml`] /
//! [`DataloaderSpec::to_yaml`] write them as YAML that the parser reads back to the same
//! spec. What `biobatch train bpnet` exports and `zoo init` starts from are written this way.

use biobatch_core::{ArraySchema, SchemaNode, SpecialType};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};

use super::{ArgSpec, Author, DataloaderSpec, Dependencies, Info, ModelSpec, RemoteFile};
use crate::{Error, Result};

/// A shape as Kipoi writes it: `(4, 1000)`, `(1000,)`, `()`, unknown lengths as `None`.
pub fn shape_text(shape: &[Option<usize>]) -> String {
    let d: Vec<String> = shape
        .iter()
        .map(|d| d.map_or("None".into(), |n| n.to_string()))
        .collect();
    match d.len() {
        1 => format!("({},)", d[0]),
        _ => format!("({})", d.join(", ")),
    }
}

fn put(m: &mut Map<String, Value>, k: &str, v: Option<Value>) {
    if let Some(v) = v {
        m.insert(k.into(), v);
    }
}

fn text(s: &Option<String>) -> Option<Value> {
    s.as_ref().map(|s| Value::String(s.clone()))
}

fn remote(r: &RemoteFile) -> Value {
    let mut m = Map::new();
    m.insert("url".into(), json!(r.url));
    m.insert("md5".into(), json!(r.md5));
    put(&mut m, "name", text(&r.name));
    Value::Object(m)
}

fn arg(a: &ArgSpec) -> Value {
    if let Some(v) = &a.value {
        return v.clone();
    }
    let mut m = Map::new();
    put(&mut m, "doc", text(&a.doc));
    match (&a.remote, &a.example, &a.default) {
        // A remote file written as the argument itself (`arg: {url, md5}`).
        (Some(r), None, None) if a.doc.is_none() && !a.optional => return remote(r),
        _ => {
            put(&mut m, "example", a.example.clone());
            put(&mut m, "default", a.default.clone());
        }
    }
    if a.optional || m.is_empty() {
        // An argument declared with no field at all still needs one, or `{}` would read
        // back as the value `{}`.
        m.insert("optional".into(), Value::Bool(a.optional));
    }
    Value::Object(m)
}

fn args(a: &std::collections::BTreeMap<String, ArgSpec>) -> Value {
    Value::Object(a.iter().map(|(k, v)| (k.clone(), arg(v))).collect())
}

fn authors(a: &[Author]) -> Value {
    Value::Array(
        a.iter()
            .map(|a| {
                let mut m = Map::new();
                m.insert("name".into(), json!(a.name));
                put(&mut m, "github", text(&a.github));
                put(&mut m, "email", text(&a.email));
                Value::Object(m)
            })
            .collect(),
    )
}

fn info(i: &Info) -> Value {
    let mut m = Map::new();
    if !i.authors.is_empty() {
        m.insert("authors".into(), authors(&i.authors));
    }
    if !i.contributors.is_empty() {
        m.insert("contributors".into(), authors(&i.contributors));
    }
    m.insert("doc".into(), json!(i.doc));
    put(&mut m, "version", text(&i.version));
    put(&mut m, "license", text(&i.license));
    put(&mut m, "cite_as", text(&i.cite_as));
    put(&mut m, "trained_on", text(&i.trained_on));
    if !i.tags.is_empty() {
        m.insert("tags".into(), json!(i.tags));
    }
    Value::Object(m)
}

fn dependencies(d: &Dependencies) -> Option<Value> {
    (!d.conda.is_empty() || !d.pip.is_empty()).then(|| {
        let mut m = Map::new();
        if !d.conda.is_empty() {
            m.insert("conda".into(), json!(d.conda));
        }
        if !d.pip.is_empty() {
            m.insert("pip".into(), json!(d.pip));
        }
        Value::Object(m)
    })
}

fn special_type(t: &SpecialType) -> Value {
    json!(match t {
        SpecialType::DnaSeq => "DNASeq",
        SpecialType::DnaStringSeq => "DNAStringSeq",
        SpecialType::BigWig => "bigwig",
        SpecialType::VPlot => "v-plot",
        SpecialType::Other(s) => s.as_str(),
    })
}

fn array(a: &ArraySchema) -> Value {
    let mut m = Map::new();
    m.insert("shape".into(), json!(shape_text(&a.shape)));
    put(&mut m, "name", text(&a.name));
    put(
        &mut m,
        "special_type",
        a.special_type.as_ref().map(special_type),
    );
    put(&mut m, "doc", text(&a.doc));
    put(
        &mut m,
        "column_labels",
        a.column_labels.as_ref().map(|l| json!(l)),
    );
    match a.associated_metadata.as_slice() {
        [] => {}
        [one] => {
            m.insert("associated_metadata".into(), json!(one));
        }
        many => {
            m.insert("associated_metadata".into(), json!(many));
        }
    }
    Value::Object(m)
}

/// A schema tree as Kipoi writes it: an array is a map with `shape`; lists and maps nest.
pub fn schema_value(node: &SchemaNode) -> Value {
    match node {
        SchemaNode::Array(a) => array(a),
        SchemaNode::List(l) => Value::Array(l.iter().map(schema_value).collect()),
        SchemaNode::Map(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), schema_value(v)))
                .collect(),
        ),
    }
}

impl ModelSpec {
    /// The `model.yaml` map.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), json!(self.kind));
        put(&mut m, "defined_as", text(&self.defined_as));
        if !self.args.is_empty() {
            m.insert("args".into(), args(&self.args));
        }
        m.insert("info".into(), info(&self.info));
        if let Some(d) = &self.default_dataloader {
            let v = if d.default_args.is_empty() {
                json!(d.name)
            } else {
                json!({"defined_as": d.name, "default_args": d.default_args})
            };
            m.insert("default_dataloader".into(), v);
        }
        let mut schema = Map::new();
        schema.insert("inputs".into(), schema_value(&self.schema.inputs));
        put(
            &mut schema,
            "targets",
            self.schema.targets.as_ref().map(schema_value),
        );
        m.insert("schema".into(), Value::Object(schema));
        put(&mut m, "dependencies", dependencies(&self.dependencies));
        put(&mut m, "postprocessing", self.postprocessing.clone());
        if self.test.expect.is_some()
            || self.test.precision_decimal != super::DEFAULT_PRECISION_DECIMAL
        {
            let mut t = Map::new();
            put(&mut t, "expect", self.test.expect.clone());
            t.insert(
                "precision_decimal".into(),
                json!(self.test.precision_decimal),
            );
            m.insert("test".into(), Value::Object(t));
        }
        Value::Object(m)
    }

    /// The spec as `model.yaml` text.
    pub fn to_yaml(&self) -> Result<String> {
        yaml(self, "model.yaml")
    }
}

impl DataloaderSpec {
    /// The `dataloader.yaml` map.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), json!(self.kind));
        put(&mut m, "defined_as", text(&self.defined_as));
        if !self.args.is_empty() {
            m.insert("args".into(), args(&self.args));
        }
        m.insert("info".into(), info(&self.info));
        let mut os = Map::new();
        os.insert("inputs".into(), schema_value(&self.output_schema.inputs));
        put(
            &mut os,
            "targets",
            self.output_schema.targets.as_ref().map(schema_value),
        );
        put(&mut os, "metadata", self.output_schema.metadata.clone());
        m.insert("output_schema".into(), Value::Object(os));
        put(&mut m, "dependencies", dependencies(&self.dependencies));
        Value::Object(m)
    }

    /// The spec as `dataloader.yaml` text.
    pub fn to_yaml(&self) -> Result<String> {
        yaml(self, "dataloader.yaml")
    }
}

fn yaml(v: &impl Serialize, what: &str) -> Result<String> {
    serde_saphyr::to_string(v).map_err(|source| Error::YamlOut {
        what: what.into(),
        source: Box::new(source),
    })
}

impl Serialize for ModelSpec {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl Serialize for DataloaderSpec {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::spec::{dataloader_from_str, model_from_str};

    #[test]
    fn every_bundled_and_fixture_spec_reads_back_the_same_after_writing() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut checked = 0;
        let mut stack = vec![root.join("examples/zoo"), root.join("tests/data/zoo")];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                if !matches!(name.as_str(), "model.yaml" | "dataloader.yaml") {
                    continue;
                }
                let text = std::fs::read_to_string(&p).unwrap();
                if name == "model.yaml" {
                    let Ok(a) = model_from_str(&text, &p) else {
                        continue;
                    };
                    let b = model_from_str(&a.to_yaml().unwrap(), &p).unwrap();
                    assert_eq!(
                        (
                            a.kind.clone(),
                            a.args.clone(),
                            a.info.clone(),
                            a.schema.clone()
                        ),
                        (b.kind, b.args, b.info, b.schema),
                        "{}",
                        p.display()
                    );
                    assert_eq!(a.default_dataloader, b.default_dataloader);
                    assert_eq!(a.test, b.test);
                    checked += 1;
                } else if name == "dataloader.yaml" {
                    let Ok(a) = dataloader_from_str(&text, &p) else {
                        continue;
                    };
                    let b = dataloader_from_str(&a.to_yaml().unwrap(), &p).unwrap();
                    assert_eq!(
                        (a.kind.clone(), a.args.clone(), a.output_schema.clone()),
                        (b.kind, b.args, b.output_schema),
                        "{}",
                        p.display()
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked >= 10, "only {checked} specs");
    }

    #[test]
    fn shapes_are_written_as_kipoi_writes_them() {
        assert_eq!(shape_text(&[Some(4), Some(1000)]), "(4, 1000)");
        assert_eq!(shape_text(&[None]), "(None,)");
        assert_eq!(shape_text(&[]), "()");
    }
}
