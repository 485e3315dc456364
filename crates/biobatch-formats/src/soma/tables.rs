//! The obs / var tables: Parquet files whose dictionary columns keep their categories.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatch;

use super::invalid;
use crate::Result;

pub(super) fn read_table(path: &Path) -> Result<RecordBatch> {
    read_table_from(crate::fs::open_regular(path)?, path)
}

/// [`read_table`] from any Parquet source (a file, bytes fetched from a URL); `path` names it
/// in errors.
pub(super) fn read_table_from<R: parquet::file::reader::ChunkReader + 'static>(
    f: R,
    path: &Path,
) -> Result<RecordBatch> {
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(|e| invalid(path, format!("not a readable Parquet file: {e}")))?;
    // The file's Arrow schema, with its metadata (the reader's own schema drops it).
    let schema = builder.schema().clone();
    let reader = builder
        .build()
        .map_err(|e| invalid(path, format!("not a readable Parquet file: {e}")))?;
    let batches = reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| invalid(path, format!("unreadable Parquet data: {e}")))?;
    let table = arrow_select::concat::concat_batches(&schema, &batches)
        .map_err(|e| invalid(path, format!("cannot join the Parquet row groups: {e}")))?;
    restore_categories(table).map_err(|e| invalid(path, e))
}

/// Schema metadata key holding each dictionary column's categories, in order.
pub(super) const CATEGORIES_KEY: &str = "biobatch.categories";

/// The categories (values, in order) of each string dictionary column, which Parquet alone
/// does not keep (it stores values in order of first use and drops unused ones).
pub(super) fn categories_of(table: &RecordBatch) -> BTreeMap<String, Vec<String>> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    let mut out = BTreeMap::new();
    for (field, col) in table.schema().fields().iter().zip(table.columns()) {
        if let Some(d) = col.as_any_dictionary_opt()
            && let Some(v) = d.values().as_string_opt::<i32>()
        {
            out.insert(
                field.name().clone(),
                (0..v.len()).map(|i| v.value(i).to_string()).collect(),
            );
        }
    }
    out
}

/// Rebuilds dictionary columns with the categories recorded at write time: same order,
/// unused categories kept, so codes mean what they meant.
fn restore_categories(table: RecordBatch) -> std::result::Result<RecordBatch, String> {
    use arrow_array::cast::AsArray;
    use arrow_array::{Array, DictionaryArray, Int32Array, StringArray, types::Int32Type};
    let schema = table.schema();
    let Some(text) = schema.metadata().get(CATEGORIES_KEY) else {
        return Ok(table);
    };
    let stored: BTreeMap<String, Vec<String>> =
        serde_json::from_str(text).map_err(|e| format!("unreadable {CATEGORIES_KEY}: {e}"))?;
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (field, col) in schema.fields().iter().zip(table.columns()) {
        let (Some(cats), Some(d)) = (stored.get(field.name()), col.as_any_dictionary_opt()) else {
            fields.push(field.as_ref().clone());
            columns.push(col.clone());
            continue;
        };
        let values = d
            .values()
            .as_string_opt::<i32>()
            .ok_or_else(|| format!("column `{}` has non-text categories", field.name()))?;
        let at: std::collections::HashMap<&str, i32> = cats
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i as i32))
            .collect();
        let keys = d.normalized_keys();
        let codes: Vec<Option<i32>> = (0..col.len())
            .map(|i| {
                if col.is_null(i) {
                    Ok(None)
                } else {
                    let v = values.value(keys[i]);
                    at.get(v).map(|&k| Some(k)).ok_or_else(|| {
                        format!(
                            "column `{}`: `{v}` is not a recorded category",
                            field.name()
                        )
                    })
                }
            })
            .collect::<std::result::Result<_, String>>()?;
        let dict = DictionaryArray::<Int32Type>::try_new(
            Int32Array::from(codes),
            Arc::new(StringArray::from(cats.clone())),
        )
        .map_err(|e| e.to_string())?;
        fields.push(
            field
                .as_ref()
                .clone()
                .with_data_type(dict.data_type().clone()),
        );
        columns.push(Arc::new(dict) as arrow_array::ArrayRef);
    }
    // The key is ours: the table comes back as it was written.
    let mut meta = schema.metadata().clone();
    meta.remove(CATEGORIES_KEY);
    let schema = arrow_schema::Schema::new(fields).with_metadata(meta);
    RecordBatch::try_new(Arc::new(schema), columns).map_err(|e| e.to_string())
}
