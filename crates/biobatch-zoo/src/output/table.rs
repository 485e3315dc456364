//! Prediction tables read back (ours or Kipoi's, Parquet or TSV) and compared the way
//! `kipoi test` compares them.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use arrow_array::{
    Array as _, BooleanArray, FixedSizeListArray, Float32Array, Float64Array, Int64Array,
};
use biobatch_core::{Array, DType, Data, Node};

use super::{Format, flat_name, leaves, plan};
use crate::{Error, Result};

/// A column read back: numbers or text.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// Numbers (any numeric type).
    Num(Vec<f64>),
    /// Text.
    Text(Vec<String>),
}

impl Values {
    fn len(&self) -> usize {
        match self {
            Values::Num(v) => v.len(),
            Values::Text(v) => v.len(),
        }
    }
}

/// Flat columns of predictions and metadata, by Kipoi name, for comparing runs.
pub type Table = BTreeMap<String, Values>;

/// Appends one batch's flat columns to `table`.
pub fn collect(table: &mut Table, metadata: Option<&Node>, preds: &Node) -> Result<()> {
    let leaves = leaves(metadata, preds)?;
    let (cols, rows) = plan(&leaves, false)?;
    let by_path: BTreeMap<&str, &Array> = leaves.iter().map(|(p, a)| (p.as_str(), a)).collect();
    for c in cols {
        let a = by_path[c.leaf.as_str()];
        let j = c.index.unwrap_or(0);
        let e = table
            .entry(c.name.clone())
            .or_insert_with(|| match a.dtype() {
                DType::Str => Values::Text(Vec::new()),
                _ => Values::Num(Vec::new()),
            });
        match (e, a.data()) {
            (Values::Text(v), Data::Str(s)) => {
                v.extend((0..rows).map(|i| s[i * c.per + j].clone()))
            }
            (Values::Num(v), d) if !matches!(d, Data::Str(_)) => {
                let n = d.to_f64().unwrap_or_default();
                v.extend((0..rows).map(|i| n[i * c.per + j]));
            }
            _ => {
                return Err(Error::Config(format!(
                    "`{}` changed type between batches",
                    c.name
                )));
            }
        }
    }
    Ok(())
}

/// Reads a prediction file (Parquet or TSV, ours or Kipoi's) into flat columns.
pub fn read_table(path: &Path) -> Result<Table> {
    match Format::of(path)? {
        Format::Tsv => read_tsv(path),
        Format::Parquet => read_parquet(path),
        Format::BigWig => Err(Error::output(
            path,
            "a prediction table is Parquet or TSV, not bigWig",
        )),
    }
}

fn read_tsv(path: &Path) -> Result<Table> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut records = tsv_records(&text).into_iter();
    let (_, header) = records.next().ok_or_else(|| Error::output(path, "empty"))?;
    let mut cells: Vec<Vec<String>> = vec![Vec::new(); header.len()];
    for (line, row) in records {
        if row.len() == 1 && row[0].is_empty() {
            continue;
        }
        if row.len() != header.len() {
            return Err(Error::output(
                path,
                format!(
                    "line {line}: {} cells, the header has {}",
                    row.len(),
                    header.len()
                ),
            ));
        }
        for (c, v) in row.into_iter().enumerate() {
            cells[c].push(v);
        }
    }
    Ok(header
        .into_iter()
        .zip(cells)
        .map(|(h, v)| {
            let nums: Option<Vec<f64>> = v.iter().map(|s| s.parse::<f64>().ok()).collect();
            let is_meta_text = h.ends_with("/chr") || h.ends_with("/id") || h.ends_with("/strand");
            (
                h.to_string(),
                match nums {
                    Some(n) if !is_meta_text => Values::Num(n),
                    _ => Values::Text(v),
                },
            )
        })
        .collect())
}

/// The records of a TSV text with their first line numbers (from 1): cells split at tabs,
/// records at line ends, except inside double quotes, where `""` is one quote (the quoting
/// our writer applies to cells holding tabs, line ends or quotes).
fn tsv_records(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let (mut row, mut cell) = (Vec::new(), String::new());
    let (mut line, mut start, mut quoted, mut at_cell_start) = (1, 1, false, true);
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            '"' if quoted => quoted = false,
            '"' if at_cell_start => {
                quoted = true;
                at_cell_start = false;
            }
            '\t' if !quoted => {
                row.push(std::mem::take(&mut cell));
                at_cell_start = true;
            }
            '\n' if !quoted => {
                if cell.ends_with('\r') {
                    cell.pop();
                }
                row.push(std::mem::take(&mut cell));
                out.push((start, std::mem::take(&mut row)));
                line += 1;
                start = line;
                at_cell_start = true;
            }
            c => {
                if c == '\n' {
                    line += 1;
                }
                cell.push(c);
                at_cell_start = false;
            }
        }
    }
    if !cell.is_empty() || !row.is_empty() {
        row.push(cell);
        out.push((start, row));
    }
    out
}

fn read_parquet(path: &Path) -> Result<Table> {
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let err = |e: &dyn std::fmt::Display| Error::output(path, e.to_string());
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(|e| Error::parquet(path, e))?
        .build()
        .map_err(|e| Error::parquet(path, e))?;
    let mut table = Table::new();
    for b in reader {
        let b = b.map_err(|e| Error::arrow(path, e))?;
        for (field, col) in b.schema().fields().iter().zip(b.columns()) {
            let name = field.name();
            let shape: Option<Vec<usize>> = field
                .metadata()
                .get("shape")
                .and_then(|s| serde_json::from_str(s).ok());
            if let Some(list) = col.as_any().downcast_ref::<FixedSizeListArray>() {
                let per = list.value_length() as usize;
                let shape = shape.unwrap_or_else(|| vec![per]);
                let values = column_numbers(list.values().as_ref())
                    .ok_or_else(|| err(&format!("column `{name}`: not numbers")))?;
                for j in 0..per {
                    let Values::Num(v) = table
                        .entry(flat_name(name, &shape, j))
                        .or_insert_with(|| Values::Num(Vec::new()))
                    else {
                        continue;
                    };
                    v.extend((0..list.len()).map(|i| values[i * per + j]));
                }
            } else if let Some(s) = col.as_any().downcast_ref::<arrow_array::StringArray>() {
                if let Values::Text(v) = table
                    .entry(name.clone())
                    .or_insert_with(|| Values::Text(Vec::new()))
                {
                    v.extend(s.iter().map(|x| x.unwrap_or_default().to_string()));
                }
            } else {
                let n = column_numbers(col.as_ref()).ok_or_else(|| {
                    err(&format!(
                        "column `{name}`: unsupported type {}",
                        col.data_type()
                    ))
                })?;
                if let Values::Num(v) = table
                    .entry(name.clone())
                    .or_insert_with(|| Values::Num(Vec::new()))
                {
                    v.extend(n);
                }
            }
        }
    }
    Ok(table)
}

fn column_numbers(a: &dyn arrow_array::Array) -> Option<Vec<f64>> {
    let any = a.as_any();
    if let Some(x) = any.downcast_ref::<Float32Array>() {
        return Some(x.iter().map(|v| v.map_or(f64::NAN, |v| v as f64)).collect());
    }
    if let Some(x) = any.downcast_ref::<Float64Array>() {
        return Some(x.iter().map(|v| v.unwrap_or(f64::NAN)).collect());
    }
    if let Some(x) = any.downcast_ref::<Int64Array>() {
        return Some(x.iter().map(|v| v.map_or(f64::NAN, |v| v as f64)).collect());
    }
    if let Some(x) = any.downcast_ref::<BooleanArray>() {
        return Some(
            x.iter()
                .map(|v| v.map_or(f64::NAN, |v| v as u8 as f64))
                .collect(),
        );
    }
    None
}

/// Compares `got` with `expected` the way `kipoi test` does (every expected `preds…` column,
/// `|got − expected| < 1.5 · 10^−decimal`), and also the metadata both have (exactly).
/// Returns the number of values compared, or where the first difference is.
pub fn compare(got: &Table, expected: &Table, decimal: i32) -> std::result::Result<usize, String> {
    let tol = 1.5 * 10f64.powi(-decimal);
    let mut n = 0;
    let mut preds = 0;
    for (name, want) in expected {
        let is_pred = name == "preds" || name.starts_with("preds/");
        let Some(have) = got.get(name) else {
            if is_pred {
                return Err(format!(
                    "expected column `{name}` is not among the predictions (columns: {})",
                    got.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
            continue;
        };
        if have.len() != want.len() {
            return Err(format!(
                "`{name}`: {} rows predicted, {} expected",
                have.len(),
                want.len()
            ));
        }
        match (have, want) {
            (Values::Num(h), Values::Num(w)) => {
                for (i, (a, b)) in h.iter().zip(w).enumerate() {
                    let ok = if is_pred {
                        (a - b).abs() < tol || (a.is_nan() && b.is_nan())
                    } else {
                        a == b
                    };
                    if !ok {
                        return Err(format!(
                            "`{name}` row {i}: predicted {a}, expected {b} (tolerance {tol:e})"
                        ));
                    }
                }
            }
            (Values::Text(h), Values::Text(w)) => {
                if let Some(i) = (0..h.len()).find(|&i| h[i] != w[i]) {
                    return Err(format!("`{name}` row {i}: `{}`, expected `{}`", h[i], w[i]));
                }
            }
            _ => {
                return Err(format!("`{name}`: numbers on one side, text on the other"));
            }
        }
        n += want.len();
        preds += is_pred as usize;
    }
    if preds == 0 {
        return Err("the expected file has no `preds` columns".into());
    }
    Ok(n)
}
