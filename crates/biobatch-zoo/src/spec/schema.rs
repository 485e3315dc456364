//! Array schemas (`schema:`, `output_schema:`): shapes as Kipoi writes them, the fields of an
//! array, and trees of them.

use std::collections::BTreeMap;
use std::path::Path;

use biobatch_core::{ArraySchema, SchemaNode, SpecialType};
use serde_json::Value;

use super::parse::{Ctx, strings, text};
use crate::Result;

/// A shape as Kipoi writes it: `(None, 4)`, `(4,)`, `[1000, 4]`, `[null, 4]`, a single
/// integer, or `()`.
pub fn parse_shape(v: &Value) -> std::result::Result<Vec<Option<usize>>, String> {
    let dim = |d: &str| -> std::result::Result<Option<usize>, String> {
        let d = d.trim();
        if d.eq_ignore_ascii_case("none") || d == "null" || d == "~" {
            Ok(None)
        } else {
            d.parse::<usize>()
                .map(Some)
                .map_err(|_| format!("`{d}` is not a dimension"))
        }
    };
    match v {
        Value::Array(a) => a
            .iter()
            .map(|d| match d {
                Value::Null => Ok(None),
                Value::Number(n) => n
                    .as_u64()
                    .map(|n| Some(n as usize))
                    .ok_or_else(|| format!("`{n}` is not a dimension")),
                Value::String(s) => dim(s),
                other => Err(format!("`{other}` is not a dimension")),
            })
            .collect(),
        Value::Number(n) => n
            .as_u64()
            .map(|n| vec![Some(n as usize)])
            .ok_or_else(|| format!("`{n}` is not a shape")),
        Value::String(s) => {
            let inner = s
                .trim()
                .trim_start_matches(['(', '['])
                .trim_end_matches([')', ']']);
            inner
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(dim)
                .collect()
        }
        Value::Null => Ok(Vec::new()),
        other => Err(format!("`{other}` is not a shape")),
    }
}

pub(super) fn array_schema(
    m: &serde_json::Map<String, Value>,
    ctx: &mut Ctx<'_>,
    key: &str,
) -> Result<ArraySchema> {
    let shape = m
        .get("shape")
        .map(parse_shape)
        .transpose()
        .map_err(|e| ctx.err(&format!("{key}.shape"), e))?
        .unwrap_or_default();
    // A list of labels, or a file of labels (one per line) next to the spec — also written as
    // a one-item list, which Kipoi reads as a file when it exists. The file must be inside the
    // spec's source (no absolute path, no `..` or symbolic link out of it).
    let dir = ctx.path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let root = ctx.root.to_path_buf();
    let labels_file = |file: &str, ctx: &mut Ctx<'_>| -> Result<Option<Vec<String>>> {
        let p = biobatch_formats::fs::within(&root, &dir, file).map_err(|why| {
            ctx.err(
                &format!("{key}.column_labels"),
                format!("`{file}` {why}: files a spec names must lie inside its source"),
            )
        })?;
        Ok(match std::fs::read_to_string(&p) {
            Ok(t) => Some(
                t.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect::<Vec<_>>(),
            ),
            Err(_) => {
                ctx.warn(format!(
                    "`{key}.column_labels` file {} not found; labels left out",
                    p.display()
                ));
                None
            }
        })
    };
    let column_labels = match m.get("column_labels") {
        Some(Value::Array(a)) if a.len() == 1 => match a.first().and_then(text) {
            Some(f) if biobatch_formats::fs::within(&root, &dir, &f).is_ok_and(|p| p.is_file()) => {
                labels_file(&f, ctx)?
            }
            Some(f) if shape.last() != Some(&Some(1)) => labels_file(&f, ctx)?,
            f => f.map(|f| vec![f]),
        },
        Some(Value::Array(a)) => Some(a.iter().filter_map(text).collect()),
        Some(Value::String(file)) => labels_file(file, ctx)?,
        _ => None,
    };
    // Kipoi only warns when the labels do not fit the last axis; so do we, and drop them.
    let column_labels = match (column_labels, shape.last()) {
        (Some(l), Some(Some(n))) if l.len() != *n => {
            ctx.warn(format!(
                "`{key}.column_labels`: {} labels for a last axis of {n}; labels left out",
                l.len()
            ));
            None
        }
        (l, _) => l,
    };
    for k in m.keys() {
        if ![
            "shape",
            "doc",
            "name",
            "special_type",
            "associated_metadata",
            "column_labels",
            "dtype",
        ]
        .contains(&k.as_str())
        {
            ctx.warn(format!("`{key}.{k}` is not an array schema field; ignored"));
        }
    }
    let s = ArraySchema {
        shape,
        dtype: None,
        doc: m.get("doc").and_then(text),
        name: m.get("name").and_then(text),
        special_type: m
            .get("special_type")
            .and_then(text)
            .map(|t| match t.as_str() {
                "DNASeq" => SpecialType::DnaSeq,
                "DNAStringSeq" => SpecialType::DnaStringSeq,
                "bigwig" => SpecialType::BigWig,
                "v-plot" => SpecialType::VPlot,
                _ => SpecialType::Other(t),
            }),
        column_labels,
        associated_metadata: strings(m.get("associated_metadata")),
    };
    s.check().map_err(|e| ctx.err(key, e))?;
    Ok(s)
}

/// A schema node: an array (a map with `shape`), a list of nodes, or a map of nodes.
pub(super) fn schema_node(v: &Value, ctx: &mut Ctx<'_>, key: &str) -> Result<SchemaNode> {
    match v {
        Value::Object(m) if m.contains_key("shape") => {
            Ok(SchemaNode::Array(array_schema(m, ctx, key)?))
        }
        Value::Object(m) => {
            let mut out = BTreeMap::new();
            for (k, child) in m {
                out.insert(k.clone(), schema_node(child, ctx, &format!("{key}.{k}"))?);
            }
            Ok(SchemaNode::Map(out))
        }
        Value::Array(a) => Ok(SchemaNode::List(
            a.iter()
                .enumerate()
                .map(|(i, c)| schema_node(c, ctx, &format!("{key}.{i}")))
                .collect::<Result<_>>()?,
        )),
        other => Err(ctx.err(
            key,
            format!("expected an array schema, a list or a map, found `{other}`"),
        )),
    }
}
