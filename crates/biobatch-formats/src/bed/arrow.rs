//! BED records as Arrow record batches (feature `arrow`).
//!
//! Columns: `chrom` (dictionary-encoded UTF-8), `start`, `end` (u64), `name` (UTF-8),
//! `score` (f64), `strand` (UTF-8: `+`, `-`, `.`), `signal_value`, `p_value`, `q_value` (f64),
//! `summit` (u64) and `line` (u64, the 1-based source line). Absent values are nulls.

use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{Float64Builder, StringBuilder, StringDictionaryBuilder, UInt64Builder};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::{BedReader, BedRecord};
use crate::{Error, Result};

/// The Arrow schema of [`BedReader::read_batch`] batches.
pub fn schema() -> SchemaRef {
    let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    Arc::new(Schema::new(vec![
        Field::new("chrom", dict, false),
        Field::new("start", DataType::UInt64, false),
        Field::new("end", DataType::UInt64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("score", DataType::Float64, true),
        Field::new("strand", DataType::Utf8, false),
        Field::new("signal_value", DataType::Float64, true),
        Field::new("p_value", DataType::Float64, true),
        Field::new("q_value", DataType::Float64, true),
        Field::new("summit", DataType::UInt64, true),
        Field::new("line", DataType::UInt64, false),
    ]))
}

impl<R: BufRead> BedReader<R> {
    /// Reads up to `max_rows` records as one record batch; `Ok(None)` at the end.
    pub fn read_batch(&mut self, max_rows: usize) -> Result<Option<RecordBatch>> {
        let mut chrom = StringDictionaryBuilder::<Int32Type>::new();
        let mut start = UInt64Builder::with_capacity(max_rows);
        let mut end = UInt64Builder::with_capacity(max_rows);
        let mut name = StringBuilder::new();
        let mut score = Float64Builder::with_capacity(max_rows);
        let mut strand = StringBuilder::new();
        let mut signal = Float64Builder::with_capacity(max_rows);
        let mut p = Float64Builder::with_capacity(max_rows);
        let mut q = Float64Builder::with_capacity(max_rows);
        let mut summit = UInt64Builder::with_capacity(max_rows);
        let mut line = UInt64Builder::with_capacity(max_rows);
        let mut rec = BedRecord::default();
        let mut n = 0;
        while n < max_rows && self.read_record(&mut rec)? {
            chrom.append_value(&rec.chrom);
            start.append_value(rec.start);
            end.append_value(rec.end);
            name.append_option(rec.name.as_deref());
            score.append_option(rec.score);
            strand.append_value(rec.strand.as_str());
            let np = rec.narrow_peak;
            signal.append_option(np.map(|x| x.signal_value));
            p.append_option(np.map(|x| x.p_value));
            q.append_option(np.map(|x| x.q_value));
            summit.append_option(np.and_then(|x| x.summit));
            line.append_value(rec.line);
            n += 1;
        }
        if n == 0 {
            return Ok(None);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(chrom.finish()),
            Arc::new(start.finish()),
            Arc::new(end.finish()),
            Arc::new(name.finish()),
            Arc::new(score.finish()),
            Arc::new(strand.finish()),
            Arc::new(signal.finish()),
            Arc::new(p.finish()),
            Arc::new(q.finish()),
            Arc::new(summit.finish()),
            Arc::new(line.finish()),
        ];
        RecordBatch::try_new(schema(), columns)
            .map(Some)
            .map_err(|e| Error::Invalid(format!("building a record batch: {e}")))
    }
}

/// Reads a whole BED / narrowPeak file as record batches of at most `batch_rows` rows.
pub fn read_bed_arrow(path: impl AsRef<Path>, batch_rows: usize) -> Result<Vec<RecordBatch>> {
    let mut reader = BedReader::open(path)?;
    let mut out = Vec::new();
    while let Some(b) = reader.read_batch(batch_rows.max(1))? {
        out.push(b);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, UInt64Type};

    #[test]
    fn batches_hold_the_records() {
        let text = "c1\t5\t10\tx\t1.5\t+\t2\t3\t4\t1\nc2\t0\t7\t.\t.\t.\t1\t-1\t-1\t-1\nc1\t1\t2\ty\t0\t-\t0\t0\t0\t0\n";
        let mut r = BedReader::new(text.as_bytes(), "t.bed");
        let b = r.read_batch(2).unwrap().unwrap();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(b.schema(), schema());
        let start = b.column(1).as_primitive::<UInt64Type>();
        assert_eq!(start.values(), &[5, 0]);
        let name = b.column(3).as_string::<i32>();
        assert_eq!((name.value(0), name.is_null(1)), ("x", true));
        let score = b.column(4).as_primitive::<Float64Type>();
        assert_eq!((score.value(0), score.is_null(1)), (1.5, true));
        let summit = b.column(9).as_primitive::<UInt64Type>();
        assert_eq!((summit.value(0), summit.is_null(1)), (1, true));
        let rest = r.read_batch(2).unwrap().unwrap();
        assert_eq!(rest.num_rows(), 1);
        assert_eq!(rest.column(10).as_primitive::<UInt64Type>().value(0), 3);
        assert!(r.read_batch(2).unwrap().is_none());
    }
}
