//! Prediction output: Kipoi's flat layout (`metadata/ranges/chr`, `preds/0`, `preds/0/1`, …),
//! written to Parquet (default) or TSV atomically, batch by batch, in bounded memory, and read
//! back for `zoo test`; or per-base predictions as bigWig tracks (`bigwig`).
//!
//! Each leaf of `{metadata, preds}` becomes columns as Kipoi's `flatten_batch` names them: an
//! array with per-example shape `()` or `(n)` gives `name` or `name/0 … name/n-1`; more axes
//! add more indices. In Parquet, a leaf with more than [`LIST_COLUMN_ABOVE`] values per
//! example (a BPNet profile: 2 × 1000) is one fixed-size list column `name` instead, with its
//! per-example shape in the field metadata (`shape`), so files stay narrow; TSV always has
//! the flat columns, as Kipoi writes them.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{
    Array as _, ArrayRef, BooleanArray, FixedSizeListArray, Float32Array, Float64Array, Int64Array,
    RecordBatch,
};
use arrow_schema::{DataType, Field, Schema};
use biobatch_core::{Array, DType, Data, Node};
use biobatch_formats::fs::AtomicFile;

use crate::{Error, Result};

mod bigwig;
mod table;

pub use table::{Table, Values, collect, compare, read_table};

/// Leaves with more values per example than this become one list column in Parquet.
pub const LIST_COLUMN_ABOVE: usize = 1024;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Apache Parquet (the default).
    Parquet,
    /// Tab-separated text with a header (Kipoi's `TsvBatchWriter` layout).
    Tsv,
    /// One bigWig per track of a per-base prediction (`NAME.<track>.bw`).
    BigWig,
}

impl Format {
    /// The format a file name asks for.
    pub fn of(path: &Path) -> Result<Format> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("parquet" | "pq") => Ok(Format::Parquet),
            Some("tsv" | "txt") => Ok(Format::Tsv),
            Some("bw" | "bigwig" | "bigWig") => Ok(Format::BigWig),
            other => Err(Error::output(
                path,
                format!(
                    "write predictions to a .parquet, .tsv or .bw file (not {})",
                    other.map_or("a file without extension".to_string(), |e| format!(
                        "`.{e}`"
                    ))
                ),
            )),
        }
    }
}

/// How one output column is cut from a leaf.
#[derive(Debug, Clone, PartialEq)]
struct Column {
    name: String,
    /// Path of the leaf in the `{metadata, preds}` tree.
    leaf: String,
    dtype: DType,
    /// Values per example in the leaf.
    per: usize,
    /// `Some(j)`: element `j` of each example; `None`: all of them, as a list.
    index: Option<usize>,
    /// Per-example shape (for list columns' metadata).
    shape: Vec<usize>,
}

/// Kipoi's name of element `j` of a leaf of per-example `shape`.
fn flat_name(leaf: &str, shape: &[usize], mut j: usize) -> String {
    let mut idx = vec![0; shape.len()];
    for (d, &n) in shape.iter().enumerate().rev() {
        idx[d] = j % n.max(1);
        j /= n.max(1);
    }
    let mut s = leaf.to_string();
    for i in idx {
        s.push('/');
        s.push_str(&i.to_string());
    }
    s
}

fn leaves(metadata: Option<&Node>, preds: &Node) -> Result<Vec<(String, Array)>> {
    let mut out = Vec::new();
    let mut sparse = None;
    let mut take = |node: &Node, prefix: &str| {
        node.visit(prefix, &mut |p, a| out.push((p.to_string(), a.clone())));
        if let Some(p) = find_sparse(node, prefix) {
            sparse = Some(p);
        }
    };
    if let Some(m) = metadata {
        take(m, "metadata");
    }
    take(preds, "preds");
    if let Some(p) = sparse {
        return Err(Error::Config(format!(
            "`{p}` is sparse; predictions and metadata are written dense"
        )));
    }
    Ok(out)
}

fn find_sparse(node: &Node, prefix: &str) -> Option<String> {
    match node {
        Node::Sparse(_) => Some(prefix.to_string()),
        Node::Array(_) => None,
        Node::Map(m) => m
            .iter()
            .find_map(|(k, v)| find_sparse(v, &format!("{prefix}/{k}"))),
        Node::List(l) => l
            .iter()
            .enumerate()
            .find_map(|(i, v)| find_sparse(v, &format!("{prefix}/{i}"))),
    }
}

fn plan(leaves: &[(String, Array)], lists: bool) -> Result<(Vec<Column>, usize)> {
    let rows = leaves
        .iter()
        .map(|(_, a)| a.shape().first().copied().unwrap_or(1))
        .max()
        .unwrap_or(0);
    let mut cols = Vec::new();
    for (path, a) in leaves {
        let Some(&n) = a.shape().first() else {
            return Err(Error::Core(biobatch_core::Error::NoBatchAxis {
                path: path.clone(),
            }));
        };
        if n != rows {
            return Err(Error::Config(format!(
                "`{path}` has {n} rows, other outputs have {rows}"
            )));
        }
        let shape = a.shape()[1..].to_vec();
        let per: usize = shape.iter().product();
        if lists && per > LIST_COLUMN_ABOVE && a.dtype() != DType::Str {
            cols.push(Column {
                name: path.clone(),
                leaf: path.clone(),
                dtype: a.dtype(),
                per,
                index: None,
                shape,
            });
        } else {
            for j in 0..per {
                cols.push(Column {
                    name: flat_name(path, &shape, j),
                    leaf: path.clone(),
                    dtype: a.dtype(),
                    per,
                    index: Some(j),
                    shape: shape.clone(),
                });
            }
        }
    }
    Ok((cols, rows))
}

fn arrow_type(d: DType) -> DataType {
    match d {
        DType::Bool => DataType::Boolean,
        DType::F16 | DType::F32 => DataType::Float32,
        DType::F64 => DataType::Float64,
        DType::Str => DataType::Utf8,
        _ => DataType::Int64,
    }
}

fn schema(cols: &[Column]) -> Arc<Schema> {
    Arc::new(Schema::new(
        cols.iter()
            .map(|c| match c.index {
                Some(_) => Field::new(&c.name, arrow_type(c.dtype), true),
                None => Field::new(
                    &c.name,
                    DataType::FixedSizeList(
                        Arc::new(Field::new("item", arrow_type(c.dtype), true)),
                        c.per as i32,
                    ),
                    true,
                )
                .with_metadata(std::collections::HashMap::from([(
                    "shape".to_string(),
                    format!("{:?}", c.shape),
                )])),
            })
            .collect::<Vec<_>>(),
    ))
}

/// Values of `a` picked by `pick` (indices into its data) as an Arrow array.
fn arrow_values(a: &Array, pick: impl Iterator<Item = usize> + Clone) -> ArrayRef {
    match a.data() {
        Data::F32(v) => Arc::new(Float32Array::from_iter_values(pick.map(|i| v[i]))),
        Data::F16(v) => Arc::new(Float32Array::from_iter_values(pick.map(|i| v[i].to_f32()))),
        Data::F64(v) => Arc::new(Float64Array::from_iter_values(pick.map(|i| v[i]))),
        Data::I64(v) => Arc::new(Int64Array::from_iter_values(pick.map(|i| v[i]))),
        Data::I32(v) => Arc::new(Int64Array::from_iter_values(pick.map(|i| v[i] as i64))),
        Data::I8(v) => Arc::new(Int64Array::from_iter_values(pick.map(|i| v[i] as i64))),
        Data::U8(v) => Arc::new(Int64Array::from_iter_values(pick.map(|i| v[i] as i64))),
        Data::Bool(v) => Arc::new(BooleanArray::from_iter(pick.map(|i| Some(v[i])))),
        Data::Str(v) => {
            let mut b = StringBuilder::new();
            pick.for_each(|i| b.append_value(&v[i]));
            Arc::new(b.finish())
        }
    }
}

fn record_batch(
    cols: &[Column],
    leaves: &[(String, Array)],
    rows: usize,
    schema: &Arc<Schema>,
) -> Result<RecordBatch> {
    let by_path: BTreeMap<&str, &Array> = leaves.iter().map(|(p, a)| (p.as_str(), a)).collect();
    let mut arrays = Vec::with_capacity(cols.len());
    for c in cols {
        let a = by_path.get(c.leaf.as_str()).ok_or_else(|| {
            Error::Config(format!(
                "`{}` is missing from this batch (it was in the first)",
                c.leaf
            ))
        })?;
        if a.shape()[1..] != c.shape[..] {
            return Err(Error::Config(format!(
                "`{}` has per-example shape {:?} in this batch, {:?} in the first",
                c.leaf,
                &a.shape()[1..],
                c.shape
            )));
        }
        let per = c.per;
        arrays.push(match c.index {
            Some(j) => arrow_values(a, (0..rows).map(move |i| i * per + j)),
            None => {
                let values = arrow_values(a, 0..rows * per);
                let field = Arc::new(Field::new("item", values.data_type().clone(), true));
                Arc::new(
                    FixedSizeListArray::try_new(field, per as i32, values, None)
                        .map_err(|e| Error::arrow(std::path::Path::new(&c.name), e))?,
                )
            }
        });
    }
    RecordBatch::try_new(schema.clone(), arrays)
        .map_err(|e| Error::arrow(std::path::Path::new("a prediction batch"), e))
}

enum Sink {
    /// Created at the first batch, when the columns are known.
    Parquet(Option<Box<parquet::arrow::ArrowWriter<AtomicFile>>>),
    Tsv(BufWriter<AtomicFile>),
    BigWig(bigwig::BigWigSink),
}

/// What a [`PredictionWriter`] needs besides the file name.
#[derive(Debug, Clone, Default)]
pub struct OutputOptions {
    /// Key/values stored in the Parquet footer (what made the file).
    pub file_metadata: Vec<(String, String)>,
    /// The genome's chromosomes and lengths (bigWig output needs them).
    pub chrom_sizes: Option<Vec<(String, u32)>>,
    /// The prediction leaf written as bigWig tracks (default: the only per-base one).
    pub track_leaf: Option<String>,
}

/// Writes predictions with their metadata, batch by batch, into a temporary file that
/// [`PredictionWriter::finish`] renames over the target; dropped unfinished, it leaves nothing.
pub struct PredictionWriter {
    path: PathBuf,
    format: Format,
    sink: Option<Sink>,
    plan: Option<(Vec<Column>, Arc<Schema>)>,
    file_metadata: Vec<(String, String)>,
    rows: u64,
}

impl std::fmt::Debug for PredictionWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PredictionWriter")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl PredictionWriter {
    /// A writer for `path` (format by extension: `.parquet`, `.tsv` or `.bw`).
    pub fn create(path: &Path, options: OutputOptions) -> Result<Self> {
        let format = Format::of(path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            return Err(Error::output(dir, "the folder does not exist"));
        }
        let sink = match format {
            Format::Parquet => Sink::Parquet(None),
            Format::Tsv => Sink::Tsv(BufWriter::with_capacity(1 << 20, AtomicFile::create(path)?)),
            Format::BigWig => {
                let sizes = options.chrom_sizes.clone().ok_or_else(|| {
                    Error::output(
                        path,
                        "bigWig output needs the genome's chromosome sizes (a `fasta` or \
                         `fasta_file` argument)",
                    )
                })?;
                Sink::BigWig(bigwig::BigWigSink::new(path, sizes, options.track_leaf))
            }
        };
        Ok(PredictionWriter {
            path: path.to_path_buf(),
            format,
            sink: Some(sink),
            plan: None,
            file_metadata: options.file_metadata,
            rows: 0,
        })
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Appends one batch: `metadata` (the dataloader's) and `preds` (the model's).
    pub fn write(&mut self, metadata: Option<&Node>, preds: &Node) -> Result<()> {
        if let Some(Sink::BigWig(b)) = self.sink.as_mut() {
            self.rows += b.write(metadata, preds)? as u64;
            return Ok(());
        }
        let leaves = leaves(metadata, preds)?;
        let lists = self.format == Format::Parquet;
        let (cols, rows) = plan(&leaves, lists)?;
        if self.plan.is_none() {
            let s = schema(&cols);
            self.plan = Some((cols, s));
        }
        let Some((cols, schema)) = &self.plan else {
            return Ok(());
        };
        let batch = record_batch(cols, &leaves, rows, schema)?;
        let path = self.path.clone();
        match self.sink.as_mut() {
            Some(Sink::Parquet(w)) => {
                if w.is_none() {
                    // Row groups of at most 64 MiB whatever the row width: bounded memory.
                    let kv = self
                        .file_metadata
                        .iter()
                        .map(|(k, v)| parquet::file::metadata::KeyValue::new(k.clone(), v.clone()))
                        .collect();
                    let props = parquet::file::properties::WriterProperties::builder()
                        .set_compression(parquet::basic::Compression::SNAPPY)
                        .set_max_row_group_bytes(Some(64 << 20))
                        .set_key_value_metadata(Some(kv));
                    let f = AtomicFile::create(&path)?;
                    *w = Some(Box::new(
                        parquet::arrow::ArrowWriter::try_new(
                            f,
                            schema.clone(),
                            Some(props.build()),
                        )
                        .map_err(|e| Error::parquet(&path, e))?,
                    ));
                }
                if let Some(w) = w {
                    w.write(&batch).map_err(|e| Error::parquet(&path, e))?;
                }
            }
            Some(Sink::Tsv(w)) => {
                if self.rows == 0 {
                    let header: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
                    writeln!(w, "{}", header.join("\t")).map_err(|e| Error::io(&path, e))?;
                }
                write_tsv_rows(w, &batch).map_err(|e| Error::io(&path, e))?;
            }
            Some(Sink::BigWig(_)) => {}
            None => return Err(Error::output(&path, "the writer is finished")),
        }
        self.rows += rows as u64;
        Ok(())
    }

    /// Closes the file and renames it over the target; returns the files written (one, or
    /// one per track for bigWig).
    pub fn finish(mut self) -> Result<Vec<PathBuf>> {
        let path = self.path.clone();
        let nothing = || Error::output(&path, "nothing to write (no batches)");
        match self.sink.take() {
            Some(Sink::Parquet(Some(w))) => {
                let f = w.into_inner().map_err(|e| Error::parquet(&path, e))?;
                f.commit()?;
            }
            Some(Sink::Parquet(None)) => return Err(nothing()),
            // As for Parquet: no header-less empty file stands in for predictions.
            Some(Sink::Tsv(_)) if self.rows == 0 => return Err(nothing()),
            Some(Sink::Tsv(w)) => {
                let f = w
                    .into_inner()
                    .map_err(|e| Error::io(&path, e.into_error()))?;
                f.commit()?;
            }
            Some(Sink::BigWig(b)) => return b.finish(),
            None => {}
        }
        Ok(vec![path])
    }
}

fn tsv_cell(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(['\t', '\n', '\r', '"']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

fn write_tsv_rows(w: &mut impl Write, b: &RecordBatch) -> std::io::Result<()> {
    let mut line = String::new();
    for i in 0..b.num_rows() {
        line.clear();
        for (c, col) in b.columns().iter().enumerate() {
            if c > 0 {
                line.push('\t');
            }
            use std::fmt::Write as _;
            let any = col.as_any();
            if let Some(a) = any.downcast_ref::<Float32Array>() {
                let _ = write!(line, "{}", a.value(i));
            } else if let Some(a) = any.downcast_ref::<Float64Array>() {
                let _ = write!(line, "{}", a.value(i));
            } else if let Some(a) = any.downcast_ref::<Int64Array>() {
                let _ = write!(line, "{}", a.value(i));
            } else if let Some(a) = any.downcast_ref::<BooleanArray>() {
                line.push_str(if a.value(i) { "True" } else { "False" });
            } else if let Some(a) = any.downcast_ref::<arrow_array::StringArray>() {
                line.push_str(&tsv_cell(a.value(i)));
            }
        }
        line.push('\n');
        w.write_all(line.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_batches_is_an_error_and_leaves_no_file_for_either_format() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["p.parquet", "p.tsv"] {
            let path = dir.path().join(name);
            let w = PredictionWriter::create(&path, OutputOptions::default()).unwrap();
            let e = w.finish().unwrap_err().to_string();
            assert!(e.contains("nothing to write"), "{name}: {e}");
        }
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn tsv_text_with_tabs_quotes_and_line_ends_reads_back() {
        use biobatch_core::Array;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.tsv");
        let ids = vec![
            "a\tb".to_string(),
            "say \"hi\"\r\nthere".to_string(),
            "plain".to_string(),
        ];
        let meta =
            Node::from_iter([("id", Node::Array(Array::new(vec![3], ids.clone()).unwrap()))]);
        let preds = Node::Array(Array::new(vec![3, 1], vec![1.5f32, -2.0, 0.25]).unwrap());
        let mut w = PredictionWriter::create(&path, OutputOptions::default()).unwrap();
        w.write(Some(&meta), &preds).unwrap();
        assert_eq!(w.rows(), 3);
        assert_eq!(w.finish().unwrap(), std::slice::from_ref(&path));
        let t = read_table(&path).unwrap();
        match &t["metadata/id"] {
            Values::Text(v) => assert_eq!(v, &ids),
            other => panic!("{other:?}"),
        }
        match &t["preds/0"] {
            Values::Num(v) => assert_eq!(v, &[1.5, -2.0, 0.25]),
            other => panic!("{other:?}"),
        }
    }
}
