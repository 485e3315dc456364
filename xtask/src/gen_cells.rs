//! `cargo xtask gen-data cells`: a deterministic synthetic single-cell dataset.
//!
//! Counts follow a gamma-Poisson (negative binomial) model: each cell expresses about
//! `nnz_per_cell` genes drawn by a Zipf-like gene popularity, each with count
//! `1 + Poisson(Gamma(r, μ_g·s_c / r))` (gene mean `μ_g`, cell size factor `s_c`, dispersion
//! `r = 2`). Cells carry obs columns `obs_id`, `tissue` (categorical), `batch` (categorical),
//! `donor`, `n_genes` and `total_counts`; genes carry `var_id` and `gene_name`. Written as a
//! store (`STORE`) and, with `--mtx`, as a 10x MatrixMarket directory (`mtx/`) for the
//! import benchmark.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, DictionaryArray, Int32Array, Int64Array, RecordBatch, StringArray};
use biobatch_benches::Rand;
use biobatch_formats::csr::CsrMatrix;
use biobatch_formats::soma::{LayerData, write_experiment};

/// Bump when the generated values change for the same settings and seed.
pub const GENERATOR_VERSION: u32 = 1;

/// Settings of the cells generator.
#[derive(Debug, Clone, Copy)]
pub struct CellsSpec {
    /// Cells.
    pub cells: usize,
    /// Genes.
    pub genes: usize,
    /// Mean expressed genes per cell.
    pub nnz_per_cell: usize,
    /// The seed.
    pub seed: u64,
}

fn gamma(r: &mut Rand, shape: f64) -> f64 {
    // Marsaglia–Tsang for shape >= 1.
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        // Box–Muller normal.
        let (u1, u2) = (r.f64().max(1e-300), r.f64());
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let v = (1.0 + c * z).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = r.f64().max(1e-300);
        if u.ln() < 0.5 * z * z + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

fn poisson(r: &mut Rand, lambda: f64) -> u64 {
    if lambda < 30.0 {
        // Inversion.
        let (mut k, mut p, mut s) = (0u64, (-lambda).exp(), 0.0);
        s += p;
        let u = r.f64();
        while u > s && k < 1_000 {
            k += 1;
            p *= lambda / k as f64;
            s += p;
        }
        k
    } else {
        // Normal approximation, rounded and clamped.
        let (u1, u2) = (r.f64().max(1e-300), r.f64());
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        (lambda + z * lambda.sqrt()).round().max(0.0) as u64
    }
}

/// One cell's sorted genes and counts.
fn cell(spec: &CellsSpec, i: usize, cumulative: &[f64], mean: &[f64]) -> (Vec<u32>, Vec<u16>) {
    let mut r = Rand::new(spec.seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let size = 0.5 + 1.5 * r.f64();
    let target = (spec.nnz_per_cell as f64 * (0.6 + 0.8 * r.f64())) as usize;
    let target = target.clamp(1, spec.genes);
    let total = *cumulative.last().unwrap_or(&1.0);
    let mut genes: Vec<u32> = Vec::with_capacity(target);
    let mut seen = vec![false; spec.genes];
    let mut tries = 0;
    while genes.len() < target && tries < target * 20 {
        tries += 1;
        let x = r.f64() * total;
        let g = cumulative.partition_point(|&c| c < x).min(spec.genes - 1);
        if !seen[g] {
            seen[g] = true;
            genes.push(g as u32);
        }
    }
    genes.sort_unstable();
    let counts = genes
        .iter()
        .map(|&g| {
            let mu = mean[g as usize] * size;
            let lambda = gamma(&mut r, 2.0) * mu / 2.0;
            (1 + poisson(&mut r, lambda)).min(u16::MAX as u64) as u16
        })
        .collect();
    (genes, counts)
}

/// The matrix, cells in parallel (each cell's values depend only on the seed and its index).
fn matrix(spec: &CellsSpec) -> Result<CsrMatrix<u16, u32>> {
    // Zipf-like popularity (exponent 0.9), shuffled over gene ids; means follow popularity.
    let mut order: Vec<usize> = (0..spec.genes).collect();
    let mut r = Rand::new(spec.seed);
    for i in (1..order.len()).rev() {
        order.swap(i, r.below(i as u64 + 1) as usize);
    }
    let mut weight = vec![0f64; spec.genes];
    for (rank, &g) in order.iter().enumerate() {
        weight[g] = 1.0 / (rank as f64 + 10.0).powf(0.9);
    }
    let mut cumulative = Vec::with_capacity(spec.genes);
    let mut acc = 0.0;
    for w in &weight {
        acc += w;
        cumulative.push(acc);
    }
    let max_w = weight.iter().copied().fold(0.0, f64::max);
    let mean: Vec<f64> = weight.iter().map(|w| 0.3 + 8.0 * w / max_w).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = spec.cells.div_ceil(threads);
    let parts: Vec<(Vec<u64>, Vec<u32>, Vec<u16>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (cumulative, mean) = (&cumulative, &mean);
                s.spawn(move || {
                    let (mut lens, mut idx, mut val) = (Vec::new(), Vec::new(), Vec::new());
                    for i in t * per..((t + 1) * per).min(spec.cells) {
                        let (g, c) = cell(spec, i, cumulative, mean);
                        lens.push(g.len() as u64);
                        idx.extend(g);
                        val.extend(c);
                    }
                    (lens, idx, val)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut indptr = vec![0u64];
    let (mut indices, mut values) = (Vec::new(), Vec::new());
    for (lens, idx, val) in parts {
        for l in lens {
            indptr.push(indptr.last().copied().unwrap_or(0) + l);
        }
        indices.extend(idx);
        values.extend(val);
    }
    CsrMatrix::from_parts(spec.genes, indptr, indices, values).context("building the matrix")
}

fn strings(v: impl Iterator<Item = String>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(v))
}

/// Writes the store at `out/store` (and, with `mtx`, the 10x directory `out/mtx`).
pub fn generate(spec: &CellsSpec, out: &Path, mtx: bool) -> Result<String> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let m = matrix(spec)?;
    let n = spec.cells;
    let tissues = ["lung", "liver", "brain", "kidney", "heart", "blood"];
    let mut r = Rand::new(spec.seed ^ 0x7157_u64);
    let tissue: DictionaryArray<Int32Type> = (0..n)
        .map(|_| tissues[r.below(tissues.len() as u64) as usize])
        .collect();
    let batch: DictionaryArray<Int32Type> = (0..n)
        .map(|i| ["b0", "b1", "b2", "b3"][i * 4 / n.max(1)])
        .collect();
    let nnz: Vec<i32> = m
        .indptr()
        .windows(2)
        .map(|w| (w[1] - w[0]) as i32)
        .collect();
    let totals: Vec<i64> = (0..n)
        .map(|i| m.view().row(i).1.iter().map(|&v| v as i64).sum())
        .collect();
    let obs = RecordBatch::try_from_iter([
        ("obs_id", strings((0..n).map(|i| format!("cell{i:07}")))),
        ("tissue", Arc::new(tissue) as ArrayRef),
        ("batch", Arc::new(batch) as ArrayRef),
        ("donor", strings((0..n).map(|i| format!("d{}", i % 17)))),
        ("n_genes", Arc::new(Int32Array::from(nnz)) as ArrayRef),
        (
            "total_counts",
            Arc::new(Int64Array::from(totals)) as ArrayRef,
        ),
    ])?;
    let var = RecordBatch::try_from_iter([
        (
            "var_id",
            strings((0..spec.genes).map(|j| format!("ENSG{j:011}"))),
        ),
        (
            "gene_name",
            strings((0..spec.genes).map(|j| format!("GENE{j}"))),
        ),
    ])?;
    let store = out.join("store");
    if store.exists() {
        std::fs::remove_dir_all(&store).with_context(|| format!("removing {}", store.display()))?;
    }
    write_experiment(&store, &obs, &var, &[("counts", LayerData::from(&m))])?;
    let mut mtx_bytes = 0u64;
    if mtx {
        let dir = out.join("mtx");
        std::fs::create_dir_all(&dir)?;
        let mut w =
            BufWriter::with_capacity(1 << 22, std::fs::File::create(dir.join("matrix.mtx"))?);
        writeln!(w, "%%MatrixMarket matrix coordinate integer general")?;
        writeln!(
            w,
            "% written by cargo xtask gen-data cells (genes x cells, 1-based)"
        )?;
        writeln!(w, "{} {} {}", spec.genes, n, m.nnz())?;
        let mut line = itoa_buffer();
        for i in 0..n {
            let (idx, val) = m.view().row(i);
            for (&g, &v) in idx.iter().zip(val) {
                line.clear();
                push_u64(&mut line, g as u64 + 1);
                line.push(b' ');
                push_u64(&mut line, i as u64 + 1);
                line.push(b' ');
                push_u64(&mut line, v as u64);
                line.push(b'\n');
                w.write_all(&line)?;
            }
        }
        w.flush()?;
        mtx_bytes = std::fs::metadata(dir.join("matrix.mtx"))?.len();
        let mut b = BufWriter::new(std::fs::File::create(dir.join("barcodes.tsv"))?);
        for i in 0..n {
            writeln!(b, "cell{i:07}")?;
        }
        b.flush()?;
        let mut f = BufWriter::new(std::fs::File::create(dir.join("features.tsv"))?);
        for j in 0..spec.genes {
            writeln!(f, "ENSG{j:011}\tGENE{j}\tGene Expression")?;
        }
        f.flush()?;
    }
    Ok(format!(
        "wrote {} ({} cells × {} genes, {} non-zeros, {:.0} per cell{}; generator v{GENERATOR_VERSION})",
        out.display(),
        n,
        spec.genes,
        m.nnz(),
        m.nnz() as f64 / n.max(1) as f64,
        if mtx {
            format!(", matrix.mtx {:.0} MB", mtx_bytes as f64 / 1e6)
        } else {
            String::new()
        }
    ))
}

fn itoa_buffer() -> Vec<u8> {
    Vec::with_capacity(64)
}

fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}
