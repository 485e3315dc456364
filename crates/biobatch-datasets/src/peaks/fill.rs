//! Assembling batches of a [`PeakDataset`] into pooled buffers.

use biobatch_core::{Array, Batch, DType, Node};
use biobatch_formats::sequence::{self, Layout, OneHot};
use biobatch_loader::{BatchDataset, BoxError};
use biobatch_sampling::{Sample, Source};

use super::PeakDataset;
use crate::windows::{self, OneHotDtype, Store};

const ENCODER: OneHot = OneHot {
    layout: Layout::ChannelsFirst,
    ambiguous: sequence::Ambiguous::Zeros,
};

impl PeakDataset {
    fn store(&self, s: &Sample) -> &Store {
        match s.source {
            Source::Primary => &self.peaks,
            Source::Negative => &self.negatives,
        }
    }
}

impl BatchDataset for PeakDataset {
    fn new_buffer(&self, b: usize) -> Result<Batch, BoxError> {
        let c = self.config();
        let (inw, outw) = (c.in_window as usize, c.out_window as usize);
        let seq_dtype = match c.onehot_dtype {
            OneHotDtype::U8 => DType::U8,
            OneHotDtype::F32 => DType::F32,
        };
        let mut batch = Batch::new(Node::from_iter([(
            "seq",
            Array::zeros(seq_dtype, vec![b, 4, inw]),
        )]));
        if self.num_control_tracks() > 0 {
            batch.inputs.insert(
                "controls",
                Array::zeros(DType::F32, vec![b, self.num_control_tracks(), inw]),
            )?;
        }
        let mut targets = Node::map();
        if self.num_signal_tracks() > 0 {
            targets.insert(
                "signal",
                Array::zeros(DType::F32, vec![b, self.num_signal_tracks(), outw]),
            )?;
        }
        targets.insert("is_peak", Array::zeros(DType::U8, vec![b]))?;
        batch.targets = Some(targets);
        batch.metadata = Some(windows::meta::buffer(b));
        Ok(batch)
    }

    fn fill(&self, samples: &[Sample], out: &mut Batch) -> Result<(), BoxError> {
        let c = self.config();
        let (inw, outw) = (c.in_window as usize, c.out_window as usize);
        let (t, ct) = (self.num_signal_tracks(), self.num_control_tracks());
        for s in samples {
            let store = self.store(s);
            if s.index as usize >= store.loci.len() {
                return Err(
                    format!("locus {} out of range ({} loci)", s.index, store.loci.len()).into(),
                );
            }
            let j = s.jitter as usize;
            if j + inw > store.seq_len || j + outw > store.sig_len {
                return Err(format!(
                    "jitter {j} does not fit the extracted span (in {inw} of {}, out {outw} of {}): \
                     the plan's max_jitter exceeds the dataset's",
                    store.seq_len, store.sig_len
                )
                .into());
            }
        }
        // Sequence one-hot, reverse-complemented in the same pass (the stores hold bases
        // validated at extraction).
        let seq = out.array_mut("inputs/seq")?;
        for (i, s) in samples.iter().enumerate() {
            let store = self.store(s);
            let off = s.index as usize * store.seq_len + s.jitter as usize;
            let bases = &store.seq[off..off + inw];
            let rc = s.reverse_complement;
            match c.onehot_dtype {
                OneHotDtype::U8 => ENCODER.encode_validated(
                    bases,
                    &mut seq.as_slice_mut::<u8>()?[i * 4 * inw..(i + 1) * 4 * inw],
                    rc,
                ),
                OneHotDtype::F32 => ENCODER.encode_validated(
                    bases,
                    &mut seq.as_slice_mut::<f32>()?[i * 4 * inw..(i + 1) * 4 * inw],
                    rc,
                ),
            }
            .map_err(|e| format!("locus {}: {e}", s.index))?;
        }
        // Signal and control tracks: same jitter; reverse and swap strands under RC.
        for (path, tracks, len, swap, is_signal) in [
            ("targets/signal", t, outw, &self.signal_swap, true),
            ("inputs/controls", ct, inw, &self.control_swap, false),
        ] {
            if tracks == 0 {
                continue;
            }
            let dst = out.array_mut(path)?.as_slice_mut::<f32>()?;
            for (i, s) in samples.iter().enumerate() {
                let store = self.store(s);
                let (src_all, span) = if is_signal {
                    (&store.signal, store.sig_len)
                } else {
                    (&store.control, store.seq_len)
                };
                let off = s.index as usize * span + s.jitter as usize;
                for k in 0..tracks {
                    let from = if s.reverse_complement { swap[k] } else { k };
                    src_all[from].copy_to(
                        off,
                        &mut dst[(i * tracks + k) * len..(i * tracks + k + 1) * len],
                        s.reverse_complement,
                    );
                }
            }
        }
        let is_peak = out.array_mut("targets/is_peak")?.as_slice_mut::<u8>()?;
        for (i, s) in samples.iter().enumerate() {
            is_peak[i] = (s.source == Source::Primary) as u8;
        }
        // Metadata: the input window's range, strand, jitter, and the locus's row.
        let meta: Vec<windows::meta::Meta<'_>> = samples
            .iter()
            .map(|s| {
                let store = self.store(s);
                let l = store.loci[s.index as usize];
                let start = l.centre - (store.seq_len / 2) as i64 + s.jitter as i64;
                windows::meta::Meta {
                    chrom: self.chrom_name(l.chrom),
                    start,
                    end: start + inw as i64,
                    id: windows::meta::Id::Text(if s.source == Source::Primary {
                        "peak"
                    } else {
                        "negative"
                    }),
                    reverse: s.reverse_complement,
                    jitter: s.jitter as i64,
                    row: l.row as i64,
                }
            })
            .collect();
        windows::meta::fill(out, &meta)?;
        Ok(())
    }
}
