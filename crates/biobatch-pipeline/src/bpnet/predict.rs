//! Predicting with a trained BPNet: profiles and counts for loci, written as Parquet (one row
//! per locus, with its range) or as bigWig tracks (one file per predicted track) for genome
//! browsers. Both are written atomically.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{Float32Builder, ListBuilder};
use arrow_array::{ArrayRef, Float32Array, Int64Array, RecordBatch, StringArray};
use biobatch_datasets::{OneHotDtype, PeakConfig, PeakDataset};
use biobatch_formats::bigwig::{BedGraphEntry, write_bigwig};
use biobatch_formats::fasta::Fasta;
use biobatch_loader::burn::HostBatch;
use biobatch_sampling::Partition;
use burn::prelude::*;
use burn::tensor::activation::softmax;

use super::model::{Bpnet, BpnetConfig};
use super::train::TrainConfig;
use crate::{DeviceChoice, Error, Result};

/// What to predict.
#[derive(Debug, Clone)]
pub struct PredictConfig {
    /// The model directory written by training (`config.json`, `model.bpk`).
    pub model: PathBuf,
    /// Loci (BED / narrowPeak).
    pub peaks: Vec<PathBuf>,
    /// The genome (default: the training genome).
    pub fasta: Option<PathBuf>,
    /// Control track groups (default: the training controls).
    pub controls: Option<Vec<Vec<PathBuf>>>,
    /// Centre on narrowPeak summits (default: as in training).
    pub summits: Option<bool>,
    /// Output: `*.parquet`, or `*.bw` (one file per track: `NAME.<track>.bw`).
    pub out: PathBuf,
    /// Loci per batch.
    pub batch_size: usize,
    /// Where to run the model (`cpu`, or `wgpu` with the `wgpu` feature).
    pub device: DeviceChoice,
}

/// One locus's predictions.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Chromosome.
    pub chrom: String,
    /// Start of the output window (0-based).
    pub start: i64,
    /// End of the output window (exclusive).
    pub end: i64,
    /// The locus's row in its files.
    pub row: i64,
    /// Predicted total counts per task (`exp(log counts) − 1`, at least 0).
    pub counts: Vec<f32>,
    /// Predicted counts per base, per track: the task's profile distribution × its counts.
    pub profiles: Vec<Vec<f32>>,
}

/// Loads the model and its settings from a model directory (`config.json`, `model.bpk`).
pub fn load(dir: &Path) -> Result<(TrainConfig, Bpnet)> {
    load_files(&dir.join("config.json"), &dir.join("model.bpk"))
}

/// Loads the model from its settings (`config.json` as training writes it) and its weights
/// (`model.bpk`, or `model.safetensors` in bpnet-lite's names: see [`super::weights`]),
/// wherever they lie (a zoo model names both).
pub fn load_files(config: &Path, weights: &Path) -> Result<(TrainConfig, Bpnet)> {
    let text = std::fs::read(config).map_err(|e| Error::io(config, e))?;
    let cfg: TrainConfig = serde_json::from_slice(&text)
        .map_err(|e| Error::Invalid(format!("{}: {e}", config.display())))?;
    cfg.model
        .check()
        .map_err(|e| Error::Invalid(format!("{}: {e}", config.display())))?;
    let model = super::weights::load(&cfg.model, weights)?;
    Ok((cfg, model))
}

/// Predicts every locus of `c.peaks` (centred, no jitter, no reverse complement).
pub fn predict(c: &PredictConfig) -> Result<Vec<Prediction>> {
    let device = c.device.device()?;
    let (train, model) = load(&c.model)?;
    let m = &train.model;
    let peaks = PeakConfig {
        peaks: c.peaks.clone(),
        negatives: Vec::new(),
        fasta: c.fasta.clone().unwrap_or_else(|| train.peaks.fasta.clone()),
        signals: Vec::new(),
        controls: c
            .controls
            .clone()
            .unwrap_or_else(|| train.peaks.controls.clone()),
        chroms: Vec::new(),
        max_jitter: 0,
        negative_ratio: 0.0,
        reverse_complement: false,
        shuffle: false,
        summits: c.summits.unwrap_or(train.peaks.summits),
        seed: Some(0),
        batch_size: c.batch_size.max(1),
        onehot_dtype: OneHotDtype::F32,
        outlier_filter: false,
        min_counts: None,
        max_counts: None,
        exclusion_lists: Vec::new(),
        strict: false,
        cache_dir: None,
        ..train.peaks.clone()
    };
    let ds = PeakDataset::open(&peaks)?;
    if ds.num_control_tracks() != m.control_tracks {
        return Err(Error::Invalid(format!(
            "the model takes {} control tracks, {} were given",
            m.control_tracks,
            ds.num_control_tracks()
        )));
    }
    let loader = ds.into_loader(Partition::single())?;
    let model = if c.device.is_gpu() {
        model.to_device(&device)
    } else {
        model
    };
    let trim = ((m.in_window - m.out_window) / 2) as i64;
    let mut out = Vec::new();
    for b in loader.epoch(0)? {
        let batch = b?.into_inner();
        let n = batch.batch_size()?.unwrap_or(0);
        let chroms = batch
            .array("metadata/ranges/chr")?
            .as_slice::<String>()?
            .to_vec();
        let starts = batch
            .array("metadata/ranges/start")?
            .as_slice::<i64>()?
            .to_vec();
        let rows = batch.array("metadata/row")?.as_slice::<i64>()?.to_vec();
        let has_ctl = batch.array("inputs/controls").is_ok();
        let mut host = HostBatch::from_batch(batch)?;
        let x = host.float::<3>("inputs/seq", &device)?;
        let ctl = if has_ctl {
            Some(host.float::<3>("inputs/controls", &device)?)
        } else {
            None
        };
        let (logits, log_counts) = model.forward(x, ctl);
        let (expected, counts_all) = postprocess(m, logits, log_counts)?;
        let tracks = m.output_tracks();
        for i in 0..n {
            let counts = counts_all[i * m.tasks.len()..(i + 1) * m.tasks.len()].to_vec();
            let profiles = (0..tracks)
                .map(|t| {
                    expected[(i * tracks + t) * m.out_window..(i * tracks + t + 1) * m.out_window]
                        .to_vec()
                })
                .collect();
            out.push(Prediction {
                chrom: chroms[i].clone(),
                start: starts[i] + trim,
                end: starts[i] + trim + m.out_window as i64,
                row: rows[i],
                counts,
                profiles,
            });
        }
    }
    Ok(out)
}

/// Turns the network's outputs into predictions: per-base expected counts
/// (`[n, tracks, out_window]`: the softmax over each task's tracks × positions, times the
/// task's counts) and total counts per task (`[n, tasks]`: `exp(log counts) − 1`, at least 0).
pub fn postprocess(
    m: &BpnetConfig,
    logits: Tensor<3>,
    log_counts: Tensor<2>,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let [n, _, _] = logits.dims();
    let mut probs = Vec::with_capacity(m.tasks.len());
    let mut t0 = 0;
    for &tg in &m.tasks {
        let lg = logits
            .clone()
            .slice(s![.., t0..t0 + tg, ..])
            .reshape([n as i32, (tg * m.out_window) as i32]);
        probs.push(softmax(lg, 1).reshape([n as i32, tg as i32, m.out_window as i32]));
        t0 += tg;
    }
    let mut expected = Tensor::cat(probs, 1)
        .into_data()
        .try_into_vec::<f32>()
        .map_err(tensor_err)?;
    let counts: Vec<f32> = log_counts
        .into_data()
        .try_into_vec::<f32>()
        .map_err(tensor_err)?
        .into_iter()
        .map(|v| v.exp_m1().max(0.0))
        .collect();
    let tracks = m.output_tracks();
    for i in 0..n {
        let mut t = 0;
        for (k, &tg) in m.tasks.iter().enumerate() {
            for _ in 0..tg {
                let c = counts[i * m.tasks.len() + k];
                expected[(i * tracks + t) * m.out_window..(i * tracks + t + 1) * m.out_window]
                    .iter_mut()
                    .for_each(|v| *v *= c);
                t += 1;
            }
        }
    }
    Ok((expected, counts))
}

fn tensor_err(e: impl std::fmt::Debug) -> Error {
    Error::Invalid(format!("reading a tensor back: {e:?}"))
}

/// Writes predictions to `c.out` (Parquet or bigWig by extension); returns the files written.
pub fn write(c: &PredictConfig, preds: &[Prediction]) -> Result<Vec<PathBuf>> {
    let ext = c.out.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext {
        "parquet" => {
            write_parquet(&c.out, preds)?;
            Ok(vec![c.out.clone()])
        }
        "bw" | "bigwig" | "bigWig" => {
            let fasta = c
                .fasta
                .clone()
                .map_or_else(|| load(&c.model).map(|(t, _)| t.peaks.fasta), Ok)?;
            write_bigwigs(&c.out, &fasta, preds)
        }
        other => Err(Error::Invalid(format!(
            "{}: write predictions to a .parquet or a .bw file (not `.{other}`)",
            c.out.display()
        ))),
    }
}

fn write_parquet(path: &Path, preds: &[Prediction]) -> Result<()> {
    let tasks = preds.first().map_or(0, |p| p.counts.len());
    let tracks = preds.first().map_or(0, |p| p.profiles.len());
    let mut cols: Vec<(String, ArrayRef)> = vec![
        (
            "chrom".into(),
            Arc::new(StringArray::from_iter_values(
                preds.iter().map(|p| p.chrom.as_str()),
            )),
        ),
        (
            "start".into(),
            Arc::new(Int64Array::from_iter_values(preds.iter().map(|p| p.start))),
        ),
        (
            "end".into(),
            Arc::new(Int64Array::from_iter_values(preds.iter().map(|p| p.end))),
        ),
        (
            "row".into(),
            Arc::new(Int64Array::from_iter_values(preds.iter().map(|p| p.row))),
        ),
    ];
    for k in 0..tasks {
        cols.push((
            format!("counts_{k}"),
            Arc::new(Float32Array::from_iter_values(
                preds.iter().map(|p| p.counts[k]),
            )),
        ));
    }
    for t in 0..tracks {
        let mut b = ListBuilder::new(Float32Builder::new());
        for p in preds {
            b.values().append_slice(&p.profiles[t]);
            b.append(true);
        }
        cols.push((format!("profile_{t}"), Arc::new(b.finish())));
    }
    let table = RecordBatch::try_from_iter(cols).map_err(|e| Error::Invalid(e.to_string()))?;
    let tmp = biobatch_formats::temp_sibling(path);
    let result = (|| -> Result<()> {
        let f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut w = parquet::arrow::ArrowWriter::try_new(f, table.schema(), None)
            .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        w.write(&table)
            .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        w.close()
            .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// One bigWig per track (`NAME.<track>.bw` next to `out`); where windows overlap, the mean.
fn write_bigwigs(out: &Path, fasta: &Path, preds: &[Prediction]) -> Result<Vec<PathBuf>> {
    let fa = Fasta::open(fasta)?;
    let sizes: Vec<(String, u32)> = fa
        .chroms()
        .map(|(n, l)| (n.to_string(), l as u32))
        .collect();
    let tracks = preds.first().map_or(0, |p| p.profiles.len());
    let stem = out.with_extension("");
    let mut order: Vec<&Prediction> = preds.iter().collect();
    let rank = |c: &str| sizes.iter().position(|(n, _)| n == c).unwrap_or(usize::MAX);
    order.sort_by_key(|p| (rank(&p.chrom), p.start));
    let mut files = Vec::new();
    for t in 0..tracks {
        let path = PathBuf::from(format!("{}.{t}.bw", stem.display()));
        let entries = merged(&order, t);
        write_bigwig(&path, &sizes, entries)?;
        files.push(path);
    }
    Ok(files)
}

/// Per-base entries of track `t` over sorted windows, averaging overlaps, equal neighbours
/// merged into one interval.
fn merged(windows: &[&Prediction], t: usize) -> Vec<BedGraphEntry> {
    let mut out: Vec<BedGraphEntry> = Vec::new();
    let mut i = 0;
    while i < windows.len() {
        // A run of windows on one chromosome that overlap or touch.
        let chrom = &windows[i].chrom;
        let (start, mut end) = (windows[i].start, windows[i].end);
        let mut j = i;
        while j < windows.len() && &windows[j].chrom == chrom && windows[j].start <= end {
            end = end.max(windows[j].end);
            j += 1;
        }
        let mut sum = vec![0f64; (end - start) as usize];
        let mut count = vec![0u32; (end - start) as usize];
        for w in &windows[i..j] {
            for (k, &v) in w.profiles[t].iter().enumerate() {
                let at = (w.start - start) as usize + k;
                sum[at] += v as f64;
                count[at] += 1;
            }
        }
        for (k, (&s, &n)) in sum.iter().zip(&count).enumerate() {
            if n == 0 || start + (k as i64) < 0 {
                continue;
            }
            let (pos, v) = ((start + k as i64) as u32, (s / n as f64) as f32);
            match out.last_mut() {
                Some(e) if &e.chrom == chrom && e.end == pos && e.value == v => e.end += 1,
                _ => out.push(BedGraphEntry {
                    chrom: chrom.clone(),
                    start: pos,
                    end: pos + 1,
                    value: v,
                }),
            }
        }
        i = j;
    }
    out
}
