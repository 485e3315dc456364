//! Import of 10x Genomics MatrixMarket directories: `matrix.mtx[.gz]` (features × barcodes,
//! coordinate format, 1-based), `barcodes.tsv[.gz]` and `features.tsv[.gz]` (or the older
//! `genes.tsv[.gz]`).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};

use super::{LayerData, Manifest, write_experiment};
use crate::csr::CsrMatrix;
use crate::{Error, Result};

/// What [`import_mtx`] read and wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct MtxImport {
    /// The store's manifest.
    pub manifest: Manifest,
    /// Bytes of the matrix file as read (decompressed).
    pub matrix_bytes: u64,
    /// Whether the entries came grouped by cell (then no transposition buffer was needed).
    pub sorted_by_cell: bool,
}

fn find(dir: &Path, names: &[&str]) -> Result<PathBuf> {
    for n in names {
        for ext in ["", ".gz"] {
            let p = dir.join(format!("{n}{ext}"));
            if p.exists() {
                return Ok(p);
            }
        }
    }
    Err(Error::Invalid(format!(
        "{}: no {} (or .gz) in this 10x directory",
        dir.display(),
        names.join(" / ")
    )))
}

/// Reads a TSV's rows (tab-separated fields), skipping nothing: 10x files have no header.
fn read_tsv(path: &Path) -> Result<Vec<Vec<String>>> {
    let mut out = Vec::new();
    let mut r = crate::text::open_text(path)?;
    let mut line = String::new();
    loop {
        line.clear();
        let n = r.read_line(&mut line).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        let l = line.trim_end_matches(['\n', '\r']);
        if l.is_empty() {
            continue;
        }
        out.push(l.split('\t').map(str::to_string).collect());
    }
    Ok(out)
}

/// Parsed entries of a coordinate matrix, already turned into cells × genes.
struct Entries {
    cells: Vec<u32>,
    genes: Vec<u32>,
    values: Vec<f64>,
    integer: bool,
    sorted_by_cell: bool,
    bytes: u64,
}

/// A fast scanner of unsigned integers and decimal numbers in a byte buffer.
struct Line<'a> {
    b: &'a [u8],
    at: usize,
}

impl Line<'_> {
    fn skip_space(&mut self) {
        while self.at < self.b.len() && (self.b[self.at] == b' ' || self.b[self.at] == b'\t') {
            self.at += 1;
        }
    }

    fn uint(&mut self) -> Option<u64> {
        self.skip_space();
        let start = self.at;
        let mut v: u64 = 0;
        while let Some(&c) = self.b.get(self.at) {
            if !c.is_ascii_digit() {
                break;
            }
            v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
            self.at += 1;
        }
        // A whole field: `1.2` or `3x` is not the integer 1 or 3.
        let ends = self.b.get(self.at).is_none_or(u8::is_ascii_whitespace);
        (self.at > start && ends).then_some(v)
    }

    /// Whether only blanks (and the line end) are left.
    fn at_end(&mut self) -> bool {
        self.skip_space();
        self.b[self.at..].iter().all(|c| matches!(c, b'\r' | b'\n'))
    }

    /// The next field as text.
    fn field(&mut self) -> &[u8] {
        self.skip_space();
        let start = self.at;
        while self.at < self.b.len() && !b" \t\r\n".contains(&self.b[self.at]) {
            self.at += 1;
        }
        &self.b[start..self.at]
    }
}

fn parse_matrix(path: &Path) -> Result<(usize, usize, Entries)> {
    let mut r = crate::text::open_text(path)?;
    let mut line = Vec::new();
    let mut lineno = 0u64;
    let mut bytes = 0u64;
    let mut read = |line: &mut Vec<u8>, lineno: &mut u64| -> Result<bool> {
        line.clear();
        let n = r.read_until(b'\n', line).map_err(|e| Error::io(path, e))?;
        *lineno += 1;
        bytes += n as u64;
        Ok(n > 0)
    };
    if !read(&mut line, &mut lineno)? {
        return Err(Error::parse(
            path,
            1,
            "header",
            "%%MatrixMarket matrix coordinate …",
            b"",
        ));
    }
    let header = String::from_utf8_lossy(&line).to_ascii_lowercase();
    let words: Vec<&str> = header.split_whitespace().collect();
    if words.len() != 5 || words[0] != "%%matrixmarket" || words[1] != "matrix" {
        return Err(Error::parse(
            path,
            1,
            "header",
            "%%MatrixMarket matrix coordinate <field> general",
            line.trim_ascii(),
        ));
    }
    if words[2] != "coordinate" {
        return Err(Error::parse(
            path,
            1,
            "header",
            "a coordinate (sparse) matrix",
            words[2].as_bytes(),
        ));
    }
    let integer = match words[3] {
        "integer" => true,
        "real" | "double" => false,
        other => {
            return Err(Error::parse(
                path,
                1,
                "header field",
                "integer or real",
                other.as_bytes(),
            ));
        }
    };
    if words[4] != "general" {
        return Err(Error::parse(
            path,
            1,
            "header symmetry",
            "general",
            words[4].as_bytes(),
        ));
    }
    // Comments, then the size line.
    let (n_features, n_barcodes, nnz) = loop {
        if !read(&mut line, &mut lineno)? {
            return Err(Error::parse(
                path,
                lineno,
                "size line",
                "`rows cols entries`",
                b"end of file",
            ));
        }
        if line.starts_with(b"%") || line.trim_ascii().is_empty() {
            continue;
        }
        let mut l = Line { b: &line, at: 0 };
        match (l.uint(), l.uint(), l.uint(), l.at_end()) {
            (Some(a), Some(b), Some(c), true) => break (a as usize, b as usize, c as usize),
            _ => {
                return Err(Error::parse(
                    path,
                    lineno,
                    "size line",
                    "three integers `rows cols entries`",
                    line.trim_ascii(),
                ));
            }
        }
    };
    if n_features > u32::MAX as usize || n_barcodes > u32::MAX as usize {
        return Err(Error::Invalid(format!(
            "{}: {n_features} × {n_barcodes} is too large",
            path.display()
        )));
    }
    // The size line is a promise, not a fact: reserve for what a file can hold, and let the
    // count check below catch a file that holds more or fewer entries.
    let reserve = nnz.min(1 << 22);
    let mut e = Entries {
        cells: Vec::with_capacity(reserve),
        genes: Vec::with_capacity(reserve),
        values: Vec::new(),
        integer,
        sorted_by_cell: true,
        bytes: 0,
    };
    let mut ints: Vec<u32> = Vec::with_capacity(if integer { reserve } else { 0 });
    let mut last_cell = 0u32;
    while read(&mut line, &mut lineno)? {
        if line.trim_ascii().is_empty() {
            continue;
        }
        let mut l = Line { b: &line, at: 0 };
        let (g, c) = match (l.uint(), l.uint()) {
            (Some(g), Some(c)) => (g, c),
            _ => {
                return Err(Error::parse(
                    path,
                    lineno,
                    "entry",
                    "`row col value` (1-based integers)",
                    line.trim_ascii(),
                ));
            }
        };
        if g == 0 || c == 0 || g as usize > n_features || c as usize > n_barcodes {
            return Err(Error::parse(
                path,
                lineno,
                "entry",
                format!("row in 1..={n_features} and column in 1..={n_barcodes}"),
                line.trim_ascii(),
            ));
        }
        let (gene, cell) = ((g - 1) as u32, (c - 1) as u32);
        if integer {
            // Integer counts are stored exactly (u16 or i32): a fraction, an exponent or a
            // count of 2^31 or more is an error, not a truncation.
            let v = l
                .uint()
                .filter(|&v| v <= i32::MAX as u64)
                .filter(|_| l.b.get(l.at).is_none_or(u8::is_ascii_whitespace))
                .ok_or_else(|| {
                    Error::parse(
                        path,
                        lineno,
                        "column 3 (value)",
                        "a whole number of at most 2^31 − 1 (the header says `integer`)",
                        line.trim_ascii(),
                    )
                })?;
            ints.push(v as u32);
        } else {
            let text = l.field();
            let v = std::str::from_utf8(text)
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .ok_or_else(|| Error::parse(path, lineno, "column 3 (value)", "a number", text))?;
            e.values.push(v);
        }
        if !l.at_end() {
            return Err(Error::parse(
                path,
                lineno,
                "entry",
                "three fields `row col value`",
                line.trim_ascii(),
            ));
        }
        e.sorted_by_cell &= cell >= last_cell;
        last_cell = cell;
        e.cells.push(cell);
        e.genes.push(gene);
    }
    if e.cells.len() != nnz {
        return Err(Error::Invalid(format!(
            "{}: the size line promises {nnz} entries, the file has {}",
            path.display(),
            e.cells.len()
        )));
    }
    if integer {
        e.values = Vec::new();
        // Integers travel through `values` as f64 only when they must be widened below.
        e.bytes = bytes;
        return Ok((
            n_barcodes,
            n_features,
            Entries {
                values: ints.into_iter().map(f64::from).collect(),
                ..e
            },
        ));
    }
    e.bytes = bytes;
    Ok((n_barcodes, n_features, e))
}

fn strings(name: &str, v: Vec<String>) -> (String, ArrayRef) {
    (name.to_string(), Arc::new(StringArray::from(v)) as ArrayRef)
}

/// Builds the CSR of the entries with values converted by `conv`.
fn build<V: crate::csr::CsrValue>(
    n_cells: usize,
    n_genes: usize,
    e: &Entries,
    conv: impl Fn(f64) -> V,
) -> Result<CsrMatrix<V, u32>> {
    let vals: Vec<V> = e.values.iter().map(|&v| conv(v)).collect();
    if e.sorted_by_cell {
        let mut indptr = vec![0u64; n_cells + 1];
        for &c in &e.cells {
            indptr[c as usize + 1] += 1;
        }
        for i in 0..n_cells {
            indptr[i + 1] += indptr[i];
        }
        CsrMatrix::from_grouped_rows(n_genes, indptr, e.genes.clone(), vals)
    } else {
        CsrMatrix::from_coo(n_cells, n_genes, &e.cells, &e.genes, &vals)
    }
}

/// Imports a 10x MatrixMarket directory into a new store at `out` with one layer (`layer`,
/// usually `counts`). Integer matrices are stored as `u16` when every value fits, else `i32`;
/// real matrices as `f32`. obs gets `obs_id` (the barcode); var gets `var_id`, and
/// `gene_name` and `feature_type` when the features file has them.
pub fn import_mtx(dir: impl AsRef<Path>, out: impl AsRef<Path>, layer: &str) -> Result<MtxImport> {
    let dir = dir.as_ref();
    let matrix = find(dir, &["matrix.mtx"])?;
    let barcodes_path = find(dir, &["barcodes.tsv"])?;
    let features_path = find(dir, &["features.tsv", "genes.tsv"])?;
    let barcodes = read_tsv(&barcodes_path)?;
    let features = read_tsv(&features_path)?;
    let (n_cells, n_genes, entries) = parse_matrix(&matrix)?;
    if barcodes.len() != n_cells {
        return Err(Error::Invalid(format!(
            "{} has {} barcodes, {} has {n_cells} columns",
            barcodes_path.display(),
            barcodes.len(),
            matrix.display()
        )));
    }
    if features.len() != n_genes {
        return Err(Error::Invalid(format!(
            "{} has {} features, {} has {n_genes} rows",
            features_path.display(),
            features.len(),
            matrix.display()
        )));
    }
    let obs = RecordBatch::try_from_iter([strings(
        "obs_id",
        barcodes.into_iter().map(|mut r| r.swap_remove(0)).collect(),
    )])
    .map_err(|e| Error::Invalid(format!("obs table: {e}")))?;
    let width = features.iter().map(Vec::len).min().unwrap_or(1);
    let col = |k: usize| -> Vec<String> { features.iter().map(|r| r[k].clone()).collect() };
    let mut var_cols = vec![strings("var_id", col(0))];
    if width >= 2 {
        var_cols.push(strings("gene_name", col(1)));
    }
    if width >= 3 {
        var_cols.push(strings("feature_type", col(2)));
    }
    let var = RecordBatch::try_from_iter(var_cols)
        .map_err(|e| Error::Invalid(format!("var table: {e}")))?;
    let max = entries.values.iter().copied().fold(0f64, f64::max);
    let out = out.as_ref();
    let manifest = if entries.integer && max <= u16::MAX as f64 {
        let m = build(n_cells, n_genes, &entries, |v| v as u16)?;
        write_experiment(out, &obs, &var, &[(layer, LayerData::from(&m))])?
    } else if entries.integer && max <= i32::MAX as f64 {
        let m = build(n_cells, n_genes, &entries, |v| v as i32)?;
        write_experiment(out, &obs, &var, &[(layer, LayerData::from(&m))])?
    } else {
        let m = build(n_cells, n_genes, &entries, |v| v as f32)?;
        write_experiment(out, &obs, &var, &[(layer, LayerData::from(&m))])?
    };
    Ok(MtxImport {
        manifest,
        matrix_bytes: entries.bytes,
        sorted_by_cell: entries.sorted_by_cell,
    })
}
