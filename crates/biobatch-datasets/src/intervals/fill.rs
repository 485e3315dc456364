//! Assembling batches of an [`IntervalDataset`] into pooled buffers.

use biobatch_core::{Array, Batch, DType, Node};
use biobatch_formats::sequence::{Ambiguous, Layout, OneHot};
use biobatch_loader::{BatchDataset, BoxError};
use biobatch_sampling::Sample;

use super::IntervalDataset;
use crate::windows::{self, OneHotDtype};

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
        batch.metadata = Some(windows::meta::buffer(b));
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
        let meta: Vec<windows::meta::Meta<'_>> = samples
            .iter()
            .map(|s| {
                let idx = s.index as usize;
                let locus = st.loci[idx];
                let start = locus.centre - (st.seq_len / 2) as i64 + s.jitter as i64;
                windows::meta::Meta {
                    chrom: &self.chrom_names[locus.chrom as usize],
                    start,
                    end: start + l as i64,
                    id: match &self.ids {
                        Some(ids) => windows::meta::Id::Text(&ids[idx]),
                        None => windows::meta::Id::Number(locus.row),
                    },
                    reverse: self.flipped(s),
                    jitter: s.jitter as i64,
                    row: locus.row as i64,
                }
            })
            .collect();
        windows::meta::fill(out, &meta)?;
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
