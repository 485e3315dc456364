//! obs columns as integer codes (labels, or covariates such as scVI's batch key), with the
//! vocabulary kept once.

use arrow_array::{Array, RecordBatch, StringArray};
use arrow_schema::DataType;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// What a code means: `values[code]`. Several obs columns joined make one key (`a+b` in the
/// settings), their values joined with `|`; a missing value is `NA`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vocabulary {
    /// The output name (the setting as written, e.g. `batch+donor`).
    pub name: String,
    /// The obs columns joined.
    pub columns: Vec<String>,
    /// Distinct values, sorted; a cell's code is its value's position here.
    pub values: Vec<String>,
}

/// Text of each row of column `name` (categoricals decoded, numbers printed), `NA` for nulls.
fn text_column(table: &RecordBatch, name: &str) -> Result<Vec<String>> {
    let schema = table.schema();
    let col = table.column_by_name(name).ok_or_else(|| {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        Error::Column {
            table: "obs".into(),
            column: name.to_string(),
            message: format!("no such column (columns: {})", names.join(", ")),
        }
    })?;
    let text = arrow_cast::cast(col, &DataType::Utf8).map_err(|e| Error::Column {
        table: "obs".into(),
        column: name.to_string(),
        message: format!("{} cannot be used as labels: {e}", col.data_type()),
    })?;
    let s = text
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| Error::Column {
            table: "obs".into(),
            column: name.to_string(),
            message: "did not cast to text".into(),
        })?;
    Ok((0..s.len())
        .map(|i| {
            if s.is_null(i) {
                "NA".to_string()
            } else {
                s.value(i).to_string()
            }
        })
        .collect())
}

/// Codes of `rows` (store row ids) for the key `spec` (`col` or `col1+col2`), and its
/// vocabulary (only the values that occur among `rows`).
pub(super) fn encode(
    table: &RecordBatch,
    spec: &str,
    rows: &[u64],
) -> Result<(Vec<i64>, Vocabulary)> {
    let columns: Vec<String> = spec.split('+').map(|s| s.trim().to_string()).collect();
    if columns.iter().any(String::is_empty) {
        return Err(Error::Config(format!(
            "label key `{spec}` has an empty column name"
        )));
    }
    let texts = columns
        .iter()
        .map(|c| text_column(table, c))
        .collect::<Result<Vec<_>>>()?;
    let key = |r: u64| -> String {
        texts
            .iter()
            .map(|t| t[r as usize].as_str())
            .collect::<Vec<_>>()
            .join("|")
    };
    let mut values: Vec<String> = rows.iter().map(|&r| key(r)).collect();
    values.sort_unstable();
    values.dedup();
    let codes = rows
        .iter()
        .map(|&r| values.binary_search(&key(r)).map_or(-1, |i| i as i64))
        .collect();
    Ok((
        codes,
        Vocabulary {
            name: spec.to_string(),
            columns,
            values,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::types::Int32Type;
    use arrow_array::{ArrayRef, DictionaryArray, Int32Array};
    use std::sync::Arc;

    #[test]
    fn joined_columns_get_sorted_vocabularies_of_the_selected_rows() {
        let batch: DictionaryArray<Int32Type> = vec![Some("b2"), Some("b1"), None, Some("b2")]
            .into_iter()
            .collect();
        let t = RecordBatch::try_from_iter([
            ("batch", Arc::new(batch) as ArrayRef),
            (
                "donor",
                Arc::new(Int32Array::from(vec![7, 7, 8, 9])) as ArrayRef,
            ),
        ])
        .unwrap();
        let (codes, v) = encode(&t, "batch+donor", &[0, 1, 2, 3]).unwrap();
        assert_eq!(v.values, ["NA|8", "b1|7", "b2|7", "b2|9"]);
        assert_eq!(codes, [2, 1, 0, 3]);
        assert_eq!(v.columns, ["batch", "donor"]);
        let (codes, v) = encode(&t, "batch", &[3, 0]).unwrap();
        assert_eq!((codes, v.values), (vec![0, 0], vec!["b2".to_string()]));
        assert!(
            encode(&t, "nope", &[0])
                .unwrap_err()
                .to_string()
                .contains("columns: batch, donor")
        );
        assert!(encode(&t, "batch+", &[0]).is_err());
    }
}
