//! Array schemas (Kipoi's `ArraySchema`) and validation of batches against them.
//!
//! A schema shape describes **one example**: the batch axis is not part of it, so a schema
//! shape `(None, 4)` accepts batch arrays of shape `[B, L, 4]` for any `B` and `L`
//! (Kipoi's convention).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::{Array, Batch, DType, Error, Node, Result};

/// Kipoi's special array types, which tell tools how to interpret an array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpecialType {
    /// One-hot encoded DNA.
    #[serde(rename = "DNASeq")]
    DnaSeq,
    /// DNA as strings.
    #[serde(rename = "DNAStringSeq")]
    DnaStringSeq,
    /// A genomic signal track.
    #[serde(rename = "bigwig")]
    BigWig,
    /// A v-plot.
    #[serde(rename = "v-plot")]
    VPlot,
    /// Anything else, kept verbatim.
    #[serde(untagged)]
    Other(String),
}

/// The description of one array: per-example shape (unknown dims as `None`), dtype and docs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArraySchema {
    /// Per-example shape; `None` is a dimension of any length.
    pub shape: Vec<Option<usize>>,
    /// Required element type, if the schema fixes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<DType>,
    /// What the array holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    /// A name (e.g. the model's input layer name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// How tools should read the array.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub special_type: Option<SpecialType>,
    /// Labels of the last axis (e.g. task names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column_labels: Option<Vec<String>>,
    /// Metadata fields that describe this array's rows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub associated_metadata: Vec<String>,
}

fn fmt_shape(shape: &[Option<usize>]) -> String {
    let mut s = String::from("(B");
    for d in shape {
        match d {
            Some(n) => write!(s, ", {n}").ok(),
            None => write!(s, ", None").ok(),
        };
    }
    s.push(')');
    s
}

impl ArraySchema {
    /// A schema of the given per-example shape.
    pub fn new(shape: impl Into<Vec<Option<usize>>>) -> Self {
        ArraySchema {
            shape: shape.into(),
            ..Default::default()
        }
    }

    /// Sets the required dtype.
    pub fn with_dtype(mut self, dtype: DType) -> Self {
        self.dtype = Some(dtype);
        self
    }

    /// Checks that the schema is consistent with itself (column labels fit the last axis).
    pub fn check(&self) -> Result<()> {
        if let (Some(labels), Some(Some(last))) = (&self.column_labels, self.shape.last())
            && labels.len() != *last
        {
            return Err(Error::Invalid(format!(
                "{} column labels for a last axis of length {last}",
                labels.len()
            )));
        }
        Ok(())
    }

    /// Whether a batch array (with its batch axis first) fits this schema.
    pub fn validate(&self, path: &str, a: &Array) -> Result<()> {
        self.validate_parts(path, a.dtype(), a.shape())
    }

    /// Validates an array of `dtype` and `actual` shape (batch axis first) found at `path`.
    pub fn validate_parts(&self, path: &str, dtype: crate::DType, actual: &[usize]) -> Result<()> {
        if let Some(want) = self.dtype
            && want != dtype
        {
            return Err(Error::Schema {
                path: path.to_string(),
                expected: format!("dtype {want}"),
                actual: format!("dtype {dtype}"),
            });
        }
        let fits = actual.len() == self.shape.len() + 1
            && self
                .shape
                .iter()
                .zip(&actual[1..])
                .all(|(want, got)| want.is_none_or(|w| w == *got));
        if !fits {
            return Err(Error::Schema {
                path: path.to_string(),
                expected: format!("shape {}", fmt_shape(&self.shape)),
                actual: format!("shape {actual:?}"),
            });
        }
        Ok(())
    }
}

/// A schema tree mirroring a [`Node`] tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SchemaNode {
    /// One array.
    Array(ArraySchema),
    /// A list of schemas.
    List(Vec<SchemaNode>),
    /// Named schemas.
    Map(BTreeMap<String, SchemaNode>),
}

fn kind(node: &Node) -> &'static str {
    match node {
        Node::Array(_) => "an array",
        Node::Map(_) => "a map",
        Node::List(_) => "a list",
        Node::Sparse(_) => "sparse rows",
    }
}

impl SchemaNode {
    /// Kipoi's `GenomicRanges` metadata, one value per example: `chr` (str), `start`, `end`
    /// (i64, 0-based half-open), `id` and `strand` (str).
    pub fn genomic_ranges() -> SchemaNode {
        SchemaNode::Map(
            [
                ("chr", DType::Str),
                ("start", DType::I64),
                ("end", DType::I64),
                ("id", DType::Str),
                ("strand", DType::Str),
            ]
            .into_iter()
            .map(|(k, d)| {
                (
                    k.to_string(),
                    SchemaNode::Array(ArraySchema::new(vec![]).with_dtype(d)),
                )
            })
            .collect(),
        )
    }

    /// Validates `node` (found at `path`) against this schema.
    ///
    /// Missing and unexpected keys and list entries are errors: a model fed a key it
    /// does not expect, or missing one it does, would predict garbage.
    pub fn validate(&self, path: &str, node: &Node) -> Result<()> {
        let mismatch = |expected: &str| Error::Schema {
            path: path.to_string(),
            expected: expected.to_string(),
            actual: kind(node).to_string(),
        };
        match (self, node) {
            (SchemaNode::Array(s), Node::Array(a)) => s.validate(path, a),
            // Sparse rows stand for the dense f32 array [rows, n_cols] they encode.
            (SchemaNode::Array(s), Node::Sparse(sp)) => {
                s.validate_parts(path, crate::DType::F32, &[sp.rows(), sp.n_cols()])
            }
            (SchemaNode::Map(s), Node::Map(m)) => {
                for (k, child) in s {
                    let p = format!("{path}/{k}");
                    let got = m.get(k).ok_or_else(|| Error::Schema {
                        path: p.clone(),
                        expected: "a value".into(),
                        actual: "nothing (key missing)".into(),
                    })?;
                    child.validate(&p, got)?;
                }
                if let Some(k) = m.keys().find(|k| !s.contains_key(*k)) {
                    return Err(Error::Schema {
                        path: format!("{path}/{k}"),
                        expected: "no such key".into(),
                        actual: "an unexpected key".into(),
                    });
                }
                Ok(())
            }
            (SchemaNode::List(s), Node::List(l)) => {
                if s.len() != l.len() {
                    return Err(Error::Schema {
                        path: path.to_string(),
                        expected: format!("a list of {}", s.len()),
                        actual: format!("a list of {}", l.len()),
                    });
                }
                for (i, (sc, n)) in s.iter().zip(l).enumerate() {
                    sc.validate(&format!("{path}/{i}"), n)?;
                }
                Ok(())
            }
            (SchemaNode::Array(_), _) => Err(mismatch("an array")),
            (SchemaNode::Map(_), _) => Err(mismatch("a map")),
            (SchemaNode::List(_), _) => Err(mismatch("a list")),
        }
    }
}

/// The schema of a whole batch: inputs, and optionally targets and metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSchema {
    /// Schema of `inputs`.
    pub inputs: SchemaNode,
    /// Schema of `targets`; `None` accepts a batch without targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<SchemaNode>,
    /// Schema of `metadata`; `None` skips metadata checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<SchemaNode>,
}

impl DataSchema {
    /// Validates a batch, returning the first mismatch (path, expected, actual).
    ///
    /// ```
    /// use biobatch_core::{Array, ArraySchema, Batch, DType, DataSchema, Node, SchemaNode};
    ///
    /// let schema = DataSchema {
    ///     inputs: SchemaNode::Array(ArraySchema::new(vec![None, Some(4)]).with_dtype(DType::F32)),
    ///     targets: None,
    ///     metadata: None,
    /// };
    /// let ok = Batch::new(Array::zeros(DType::F32, vec![2, 100, 4]));
    /// assert!(schema.validate(&ok).is_ok());
    /// let bad = Batch::new(Array::zeros(DType::F32, vec![2, 4, 100]));
    /// let err = schema.validate(&bad).unwrap_err().to_string();
    /// assert_eq!(err, "schema mismatch at `inputs`: expected shape (B, None, 4), found shape [2, 4, 100]");
    /// ```
    pub fn validate(&self, batch: &Batch) -> Result<()> {
        self.inputs.validate("inputs", &batch.inputs)?;
        match (&self.targets, &batch.targets) {
            (Some(s), Some(t)) => s.validate("targets", t)?,
            (Some(_), None) => {
                return Err(Error::Schema {
                    path: "targets".into(),
                    expected: "targets".into(),
                    actual: "none".into(),
                });
            }
            _ => {}
        }
        if let (Some(s), Some(m)) = (&self.metadata, &batch.metadata) {
            s.validate("metadata", m)?;
        }
        batch.batch_size()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> DataSchema {
        DataSchema {
            inputs: SchemaNode::Map(BTreeMap::from([
                (
                    "seq".to_string(),
                    SchemaNode::Array(ArraySchema::new(vec![Some(4), None]).with_dtype(DType::U8)),
                ),
                (
                    "ctl".to_string(),
                    SchemaNode::Array(ArraySchema::new(vec![Some(2), None])),
                ),
            ])),
            targets: Some(SchemaNode::List(vec![SchemaNode::Array(ArraySchema::new(
                vec![],
            ))])),
            metadata: None,
        }
    }

    fn batch() -> Batch {
        let mut b = Batch::new(Node::from_iter([
            ("seq", Array::zeros(DType::U8, vec![3, 4, 10])),
            ("ctl", Array::zeros(DType::F32, vec![3, 2, 10])),
        ]));
        b.targets = Some(Node::List(vec![Array::zeros(DType::F32, vec![3]).into()]));
        b
    }

    fn schema_err(e: Error) -> (String, String, String) {
        match e {
            Error::Schema {
                path,
                expected,
                actual,
            } => (path, expected, actual),
            other => panic!("expected a schema error, got {other:?}"),
        }
    }

    #[test]
    fn a_matching_batch_passes() {
        schema().validate(&batch()).unwrap();
    }

    #[test]
    fn dtype_shape_and_key_errors_name_the_path() {
        let s = schema();
        let mut b = batch();
        *b.get_mut("inputs/seq").unwrap() = Array::zeros(DType::F32, vec![3, 4, 10]).into();
        assert_eq!(
            schema_err(s.validate(&b).unwrap_err()),
            ("inputs/seq".into(), "dtype u8".into(), "dtype f32".into())
        );

        let mut b = batch();
        *b.get_mut("inputs/ctl").unwrap() = Array::zeros(DType::F32, vec![3, 3, 10]).into();
        assert_eq!(
            schema_err(s.validate(&b).unwrap_err()),
            (
                "inputs/ctl".into(),
                "shape (B, 2, None)".into(),
                "shape [3, 3, 10]".into()
            )
        );

        let mut b = batch();
        b.inputs
            .insert("extra", Array::zeros(DType::U8, vec![3]))
            .unwrap();
        assert_eq!(schema_err(s.validate(&b).unwrap_err()).0, "inputs/extra");

        let mut b = batch();
        b.targets = None;
        assert_eq!(schema_err(s.validate(&b).unwrap_err()).0, "targets");

        let mut b = batch();
        b.targets = Some(Node::List(vec![]));
        assert_eq!(
            schema_err(s.validate(&b).unwrap_err()),
            ("targets".into(), "a list of 1".into(), "a list of 0".into())
        );
    }

    #[test]
    fn column_labels_must_fit_the_last_axis() {
        let mut s = ArraySchema::new(vec![Some(2)]);
        s.column_labels = Some(vec!["a".into()]);
        assert!(s.check().is_err());
        s.column_labels = Some(vec!["a".into(), "b".into()]);
        s.check().unwrap();
    }

    #[test]
    fn schema_serializes_with_kipoi_names() {
        let mut s = ArraySchema::new(vec![None, Some(4)]);
        s.special_type = Some(SpecialType::DnaSeq);
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"shape":[null,4],"special_type":"DNASeq"}"#);
        let back: ArraySchema = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        let other: SpecialType = serde_json::from_str(r#""my_type""#).unwrap();
        assert_eq!(other, SpecialType::Other("my_type".into()));
    }
}
