//! Assembling batches of an [`IntervalDataset`] into pooled buffers.

use biobatch_core::{Array, Batch, DType, Node};
use biobatch_formats::sequence::{Ambiguous, Layout, OneHot};
use biobatch_loader::{BatchDataset, BoxError};
use biobatch_sampling::Sample;

use super::IntervalDataset;
use crate::OneHotDtype;

/// Averages `src` over bins of `bin` values into `dst` (`dst.len() * bin == src.len()`).
fn bin_means(src: &[f32], bin: usize, dst: &mut [f32]) {
    let scale = 1.0 / bin as f32;
    for (d, chunk) in dst.iter_mut().zip(src.chunks_exact(bin)) {
        *d = chunk.iter().sum::<f32>() * scale;
    }
}

impl IntervalDataset {
    /// Whether sample `s` is given reverse-complemented: its strand, flipped by augmentation.
    fn flipped(&self, s: &Sample) -> bool {
        self.minus[s.index as usize] ^ s.reverse_complement
    }
}

impl BatchDataset for IntervalDataset {
    fn new_buffer(&self, b: usize) -> Result<Batch, BoxError> {
        let c = self.config();
        let l = self.seq_len;
        let dtype = match c.onehot_dtype {
            OneHotDtype::U8 => DType::U8,
            OneHotDtype::F32 => DType::F32,
        };
        let shape = match c.layout {
            Layout::ChannelsFirst => vec![b, 4, l],
            Layout::LengthFirst => vec![b, l, 4],
        };
        let mut batch = Batch::new(Node::from_iter([("seq", Array::zeros(dtype, shape))]));
        let mut targets = Node::map();
        if !self.label_names.is_empty() {
            targets.insert(
                "labels",
                Array::zeros(DType::F32, vec![b, self.label_names.len()]),
            )?;
        }
        if self.num_tracks() > 0 {
            targets.insert(
                "tracks",
                Array::zeros(DType::F32, vec![b, self.num_tracks(), self.bins()]),
            )?;
        }
        if !self.label_names.is_empty() || self.num_tracks() > 0 {
            batch.targets = Some(targets);
        }
        let ranges = Node::from_iter([
            ("chr", Array::zeros(DType::Str, vec![b])),
            ("start", Array::zeros(DType::I64, vec![b])),
            ("end", Array::zeros(DType::I64, vec![b])),
            ("id", Array::zeros(DType::Str, vec![b])),
            ("strand", Array::zeros(DType::Str, vec![b])),
        ]);
        batch.metadata = Some(Node::from_iter([
            ("ranges", ranges),
            ("jitter", Node::Array(Array::zeros(DType::I64, vec![b]))),
            ("row", Node::Array(Array::zeros(DType::I64, vec![b]))),
        ]));
        Ok(batch)
    }

    fn fill(&self, samples: &[Sample], out: &mut Batch) -> Result<(), BoxError> {
        let c = self.config();
        let (l, tl) = (self.seq_len, self.target_len);
        let span = 2 * c.max_jitter as usize;
        for s in samples {
            if s.index as usize >= self.len() {
                return Err(format!(
                    "interval {} out of range ({} intervals)",
                    s.index,
                    self.len()
                )
                .into());
            }
            if s.jitter as usize > span {
                return Err(format!(
                    "jitter {} exceeds the extracted span (max_jitter {}): the plan's \
                     max_jitter exceeds the dataset's",
                    s.jitter, c.max_jitter
                )
                .into());
            }
        }
        let enc = OneHot {
            layout: c.layout,
            ambiguous: Ambiguous::Zeros,
        };
        let st = &self.store;
        let seq = out.array_mut("inputs/seq")?;
        for (i, s) in samples.iter().enumerate() {
            let off = s.index as usize * st.seq_len + s.jitter as usize;
            let bases = &st.seq[off..off + l];
            let rc = self.flipped(s);
            let range = i * 4 * l..(i + 1) * 4 * l;
            match c.onehot_dtype {
                OneHotDtype::U8 => {
                    enc.encode_validated(bases, &mut seq.as_slice_mut::<u8>()?[range], rc)
                }
                OneHotDtype::F32 => {
                    enc.encode_validated(bases, &mut seq.as_slice_mut::<f32>()?[range], rc)
                }
            }
            .map_err(|e| format!("interval {}: {e}", s.index))?;
        }
        let k = self.label_names.len();
        if k > 0 {
            let dst = out.array_mut("targets/labels")?.as_slice_mut::<f32>()?;
            for (i, s) in samples.iter().enumerate() {
                dst[i * k..(i + 1) * k].copy_from_slice(self.labels(s.index as usize));
            }
        }
        let t = self.num_tracks();
        if t > 0 {
            let (bin, bins) = (c.bin_size as usize, self.bins());
            let mut scratch = vec![0f32; if bin > 1 { tl } else { 0 }];
            let dst = out.array_mut("targets/tracks")?.as_slice_mut::<f32>()?;
            for (i, s) in samples.iter().enumerate() {
                let off = s.index as usize * st.sig_len + s.jitter as usize;
                let rc = self.flipped(s);
                for k in 0..t {
                    let from = if rc { self.track_swap[k] } else { k };
                    let row = &mut dst[(i * t + k) * bins..(i * t + k + 1) * bins];
                    if bin == 1 {
                        st.signal[from].copy_to(off, row, rc);
                    } else {
                        st.signal[from].copy_to(off, &mut scratch, rc);
                        bin_means(&scratch, bin, row);
                    }
                }
            }
        }
        for (key, which) in [
            ("metadata/jitter", 0),
            ("metadata/row", 1),
            ("metadata/ranges/start", 2),
            ("metadata/ranges/end", 3),
        ] {
            let col = out.array_mut(key)?.as_slice_mut::<i64>()?;
            for (i, s) in samples.iter().enumerate() {
                let locus = st.loci[s.index as usize];
                let start = locus.centre - (st.seq_len / 2) as i64 + s.jitter as i64;
                col[i] = match which {
                    0 => s.jitter as i64,
                    1 => locus.row as i64,
                    2 => start,
                    _ => start + l as i64,
                };
            }
        }
        for key in [
            "metadata/ranges/chr",
            "metadata/ranges/strand",
            "metadata/ranges/id",
        ] {
            let col = out.array_mut(key)?.as_slice_mut::<String>()?;
            for (i, s) in samples.iter().enumerate() {
                let idx = s.index as usize;
                let locus = st.loci[idx];
                col[i].clear();
                match key {
                    "metadata/ranges/chr" => {
                        col[i].push_str(&self.chrom_names[locus.chrom as usize])
                    }
                    "metadata/ranges/strand" => {
                        col[i].push(if self.flipped(s) { '-' } else { '+' })
                    }
                    _ => match &self.ids {
                        Some(ids) => col[i].push_str(&ids[idx]),
                        None => col[i].push_str(&locus.row.to_string()),
                    },
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::bin_means;

    #[test]
    fn bins_are_means() {
        let mut out = [0f32; 3];
        bin_means(&[1.0, 3.0, 0.0, 0.0, 2.0, 4.5], 2, &mut out);
        assert_eq!(out, [2.0, 0.0, 3.25]);
    }
}
