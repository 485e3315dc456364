//! `zoo info`: a model described in words.

use std::collections::BTreeMap;

use biobatch_core::SchemaNode;

use crate::dataloaders::{builtin_spec, canonical};
use crate::source::ResolvedModel;
use crate::spec::{ArgSpec, DataloaderSpec, shape_text};

fn print_schema(o: &mut String, node: &SchemaNode, path: &str, indent: usize) {
    let pad = " ".repeat(indent);
    match node {
        SchemaNode::Array(a) => {
            let mut line = format!("{pad}{path}: shape {}", shape_text(&a.shape));
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

fn print_args(o: &mut String, args: &BTreeMap<String, ArgSpec>) {
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

/// What `zoo info` prints: what the model is, whether it runs here, what it takes and
/// predicts, its dataloader and the dataloader's arguments, its test, and what was tolerated
/// in its specs.
pub fn describe(m: &ResolvedModel) -> String {
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
    o
}
