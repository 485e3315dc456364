//! Predictions as bigWig tracks, for genome browsers: a per-base prediction leaf
//! (`[B, tracks, L]`, or `[B, L]` for one track) placed at each example's window — the
//! `metadata/ranges` interval, of which the prediction covers the middle `L` bases — one file
//! per track (`NAME.<track>.bw`), overlapping windows averaged. Each file is written
//! atomically when the run finishes.

use std::path::{Path, PathBuf};

use biobatch_core::{Data, Node};
use biobatch_formats::bigwig::{BedGraphEntry, write_bigwig};

use crate::{Error, Result};

/// One example's window and values.
struct Window {
    chrom: String,
    start: i64,
    /// `[tracks, len]` values.
    values: Vec<f32>,
}

/// Collects windows of predictions; [`finish`](Self::finish) writes the files.
pub(super) struct BigWigSink {
    path: PathBuf,
    sizes: Vec<(String, u32)>,
    leaf: Option<String>,
    tracks: usize,
    len: usize,
    windows: Vec<Window>,
}

/// The per-base leaf of `preds`: the one asked for, else the only leaf with three axes
/// (`[B, tracks, L]`), else the only one with two and more than one value per example
/// (`[B, L]`).
fn pick<'a>(preds: &'a Node, asked: Option<&str>) -> Result<(String, &'a biobatch_core::Array)> {
    let mut all = Vec::new();
    preds.visit("preds", &mut |p, a| all.push((p.to_string(), a)));
    let mut found: Vec<_> = match asked {
        Some(x) => all.into_iter().filter(|(p, _)| p == x).collect(),
        None => {
            let three: Vec<_> = all
                .iter()
                .filter(|(_, a)| a.shape().len() == 3)
                .cloned()
                .collect();
            if three.is_empty() {
                all.into_iter()
                    .filter(|(_, a)| a.shape().len() == 2 && a.shape()[1] > 1)
                    .collect()
            } else {
                three
            }
        }
    };
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Error::Config(match asked {
            Some(x) => format!("bigWig output: the predictions have no leaf `{x}`"),
            None => "bigWig output: the predictions have no per-base leaf ([B, L] or [B, \
                     tracks, L])"
                .into(),
        })),
        _ => Err(Error::Config(format!(
            "bigWig output: several per-base leaves ({}); name one",
            found
                .iter()
                .map(|(p, _)| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

impl BigWigSink {
    pub(super) fn new(path: &Path, sizes: Vec<(String, u32)>, leaf: Option<String>) -> Self {
        BigWigSink {
            path: path.to_path_buf(),
            sizes,
            leaf,
            tracks: 0,
            len: 0,
            windows: Vec::new(),
        }
    }

    pub(super) fn write(&mut self, metadata: Option<&Node>, preds: &Node) -> Result<usize> {
        let (leaf, a) = pick(preds, self.leaf.as_deref())?;
        let shape = a.shape();
        let (b, tracks, len) = match *shape {
            [b, l] => (b, 1, l),
            [b, t, l] => (b, t, l),
            _ => {
                return Err(Error::Config(format!(
                    "bigWig output: `{leaf}` has shape {shape:?}, not [B, L] or [B, tracks, L]"
                )));
            }
        };
        if self.windows.is_empty() {
            (self.tracks, self.len) = (tracks, len);
        } else if (tracks, len) != (self.tracks, self.len) {
            return Err(Error::Config(format!(
                "bigWig output: `{leaf}` is [B, {tracks}, {len}] here, [B, {}, {}] before",
                self.tracks, self.len
            )));
        }
        let values: Vec<f32> = match a.data() {
            Data::F32(v) => v.clone(),
            Data::F64(v) => v.iter().map(|&x| x as f32).collect(),
            Data::F16(v) => v.iter().map(|x| x.to_f32()).collect(),
            d => {
                return Err(Error::Config(format!(
                    "bigWig output: `{leaf}` holds {}, not numbers",
                    d.dtype()
                )));
            }
        };
        let ranges = metadata.and_then(|m| m.get("ranges")).ok_or_else(|| {
            Error::Config(
                "bigWig output needs the dataloader's metadata/ranges (where each window is)"
                    .into(),
            )
        })?;
        let col = |k: &str| {
            ranges.get(k).and_then(Node::as_array).ok_or_else(|| {
                biobatch_core::Error::PathNotFound {
                    path: format!("metadata/ranges/{k}"),
                }
            })
        };
        let chrom = col("chr")?.as_slice::<String>()?;
        let start = col("start")?.as_slice::<i64>()?;
        let end = col("end")?.as_slice::<i64>()?;
        for i in 0..b {
            let (s, e) = (start[i], end[i]);
            let trim = ((e - s) - len as i64).div_euclid(2);
            self.windows.push(Window {
                chrom: chrom[i].clone(),
                start: s + trim,
                values: values[i * tracks * len..(i + 1) * tracks * len].to_vec(),
            });
        }
        Ok(b)
    }

    /// Writes one bigWig per track; returns the files.
    pub(super) fn finish(self) -> Result<Vec<PathBuf>> {
        if self.windows.is_empty() {
            return Err(Error::output(&self.path, "nothing to write (no batches)"));
        }
        let rank = |c: &str| {
            self.sizes
                .iter()
                .position(|(n, _)| n == c)
                .unwrap_or(usize::MAX)
        };
        let mut order: Vec<&Window> = self.windows.iter().collect();
        order.sort_by_key(|w| (rank(&w.chrom), w.start));
        let stem = self.path.with_extension("");
        let mut files = Vec::new();
        for t in 0..self.tracks {
            let path = PathBuf::from(format!("{}.{t}.bw", stem.display()));
            write_bigwig(&path, &self.sizes, merged(&order, t, self.len))?;
            files.push(path);
        }
        Ok(files)
    }
}

/// Per-base entries of track `t` over windows sorted by position, averaging overlaps, equal
/// neighbours merged into one interval.
fn merged(windows: &[&Window], t: usize, len: usize) -> Vec<BedGraphEntry> {
    let mut out: Vec<BedGraphEntry> = Vec::new();
    let mut i = 0;
    while i < windows.len() {
        // A run of windows on one chromosome that overlap or touch.
        let chrom = &windows[i].chrom;
        let start = windows[i].start;
        let mut end = start + len as i64;
        let mut j = i;
        while j < windows.len() && &windows[j].chrom == chrom && windows[j].start <= end {
            end = end.max(windows[j].start + len as i64);
            j += 1;
        }
        let mut sum = vec![0f64; (end - start) as usize];
        let mut count = vec![0u32; (end - start) as usize];
        for w in &windows[i..j] {
            for (k, &v) in w.values[t * len..(t + 1) * len].iter().enumerate() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_windows_are_averaged_and_equal_neighbours_merged() {
        let w = |start, values: Vec<f32>| Window {
            chrom: "c".into(),
            start,
            values,
        };
        let (a, b) = (w(10, vec![1.0, 1.0, 3.0]), w(12, vec![5.0, 2.0, 2.0]));
        let e = merged(&[&a, &b], 0, 3);
        let got: Vec<(u32, u32, f32)> = e.iter().map(|e| (e.start, e.end, e.value)).collect();
        assert_eq!(got, [(10, 12, 1.0), (12, 13, 4.0), (13, 15, 2.0)]);
    }
}
