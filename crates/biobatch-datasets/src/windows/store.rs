//! The compact, locus-major store a [`super::PeakDataset`] assembles batches from.

use biobatch_formats::column::{self, Column};
use bytemuck::Pod;

/// One locus: chromosome (index into the FASTA), centre, its row across its files, and the
/// file and line it came from (for messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Locus {
    pub chrom: u32,
    pub file: u32,
    pub centre: i64,
    pub row: u64,
    pub line: u64,
}

/// One track's values at rest, in the narrowest type that holds every value exactly: `u8`
/// or `u16` when all are integers in range (count tracks: lossless, a quarter or half of
/// `f32`), `f32` otherwise.
#[derive(Debug)]
pub(crate) enum Values {
    U8(Column<u8>),
    U16(Column<u16>),
    F32(Column<f32>),
}

impl Default for Values {
    fn default() -> Self {
        Values::U8(Column::default())
    }
}

/// Copies `src` into `dst` as f32, reversed when `rev` (one vectorisable loop per case).
#[inline]
fn widen<T: Copy + Into<f32>>(src: &[T], dst: &mut [f32], rev: bool) {
    if rev {
        dst.iter_mut()
            .zip(src.iter().rev())
            .for_each(|(d, &s)| *d = s.into());
    } else {
        dst.iter_mut().zip(src).for_each(|(d, &s)| *d = s.into());
    }
}

impl Values {
    /// Copies `dst.len()` values from `off` into `dst`, reversed when `rev`.
    #[inline]
    pub(crate) fn copy_to(&self, off: usize, dst: &mut [f32], rev: bool) {
        let n = dst.len();
        match self {
            Values::U8(v) => widen(&v[off..off + n], dst, rev),
            Values::U16(v) => widen(&v[off..off + n], dst, rev),
            Values::F32(v) if !rev => dst.copy_from_slice(&v[off..off + n]),
            Values::F32(v) => widen(&v[off..off + n], dst, rev),
        }
    }

    /// The sum of `len` values from `off`.
    pub(crate) fn sum(&self, off: usize, len: usize) -> f64 {
        match self {
            Values::U8(v) => v[off..off + len].iter().map(|&x| x as f64).sum(),
            Values::U16(v) => v[off..off + len].iter().map(|&x| x as f64).sum(),
            Values::F32(v) => v[off..off + len].iter().map(|&x| x as f64).sum(),
        }
    }

    /// The element type's name, as the cache records it.
    pub(crate) fn dtype(&self) -> &'static str {
        match self {
            Values::U8(_) => "u8",
            Values::U16(_) => "u16",
            Values::F32(_) => "f32",
        }
    }

    /// Bytes per value.
    pub(crate) fn width(dtype: &str) -> Option<usize> {
        match dtype {
            "u8" => Some(1),
            "u16" => Some(2),
            "f32" => Some(4),
            _ => None,
        }
    }

    /// The values as bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Values::U8(v) => v.as_bytes(),
            Values::U16(v) => v.as_bytes(),
            Values::F32(v) => v.as_bytes(),
        }
    }

    /// Asks for 2 MiB pages under owned values ([`Column::prefer_huge_pages`]): whether the
    /// kernel took the advice.
    fn prefer_huge_pages(&self) -> bool {
        match self {
            Values::U8(v) => v.prefer_huge_pages(),
            Values::U16(v) => v.prefer_huge_pages(),
            Values::F32(v) => v.prefer_huge_pages(),
        }
    }

    /// Whether the values are read in place from a cache file.
    pub(crate) fn is_mapped(&self) -> bool {
        match self {
            Values::U8(v) => v.is_mapped(),
            Values::U16(v) => v.is_mapped(),
            Values::F32(v) => v.is_mapped(),
        }
    }

    /// Keeps the rows (of `width` values) whose `keep` is true.
    fn retain_rows(&mut self, width: usize, keep: &[bool]) {
        match self {
            Values::U8(v) => compact(v.to_mut(), width, keep),
            Values::U16(v) => compact(v.to_mut(), width, keep),
            Values::F32(v) => compact(v.to_mut(), width, keep),
        }
    }
}

/// Keeps the rows (of `width` values) of `v` whose `keep` is true, in order.
fn compact<T: Copy>(v: &mut Vec<T>, width: usize, keep: &[bool]) {
    let mut w = 0;
    for (r, &k) in keep.iter().enumerate() {
        if k {
            if w != r {
                v.copy_within(r * width..(r + 1) * width, w * width);
            }
            w += 1;
        }
    }
    v.truncate(w * width);
}

/// An element type track values can be written in.
pub(crate) trait Sink: Copy + Default + Send + Sync {
    /// Converts a chunk of values; `false` when some value cannot be held exactly (the
    /// contents of `dst` are then unspecified). Written as one branch-free pass so it
    /// vectorises.
    fn put_all(src: &[f32], dst: &mut [Self]) -> bool;
}

impl Sink for f32 {
    #[inline]
    fn put_all(src: &[f32], dst: &mut [Self]) -> bool {
        dst.copy_from_slice(src);
        true
    }
}

macro_rules! integer_sink {
    ($t:ty) => {
        impl Sink for $t {
            #[inline]
            fn put_all(src: &[f32], dst: &mut [Self]) -> bool {
                // `as` saturates (NaN becomes 0), so a value survives the round trip exactly
                // when it is an integer in range (-0.0 becomes 0, which reads back equal).
                let mut exact = true;
                for (d, &v) in dst.iter_mut().zip(src) {
                    let u = v as $t;
                    exact &= u as f32 == v;
                    *d = u;
                }
                exact
            }
        }
    };
}
integer_sink!(u8);
integer_sink!(u16);

/// A track being extracted: starts as `u8` and widens (`u16`, then `f32`) the first time a
/// value does not fit, converting what was written so far.
#[derive(Debug)]
pub(crate) enum Growing {
    U8(Vec<u8>),
    U16(Vec<u16>),
    F32(Vec<f32>),
}

impl Growing {
    /// `n` zeros.
    pub(crate) fn zeros(n: usize) -> Self {
        Growing::U8(column::zeroed_vec(n))
    }

    /// Writes `src` at value offset `at`, widening as needed.
    pub(crate) fn put(&mut self, at: usize, src: &[f32]) {
        let range = at..at + src.len();
        loop {
            let widened = match self {
                Growing::U8(v) => {
                    if u8::put_all(src, &mut v[range.clone()]) {
                        return;
                    }
                    Growing::U16(widened(v))
                }
                Growing::U16(v) => {
                    if u16::put_all(src, &mut v[range.clone()]) {
                        return;
                    }
                    Growing::F32(widened(v))
                }
                Growing::F32(v) => {
                    v[range].copy_from_slice(src);
                    return;
                }
            };
            *self = widened;
        }
    }

    /// The values at rest.
    pub(crate) fn finish(self) -> Values {
        match self {
            Growing::U8(v) => Values::U8(v.into()),
            Growing::U16(v) => Values::U16(v.into()),
            Growing::F32(v) => Values::F32(v.into()),
        }
    }
}

/// `v` in a wider type, in memory allocated as [`column::zeroed_vec`] allocates it.
fn widened<A: Copy + Into<B>, B: Pod>(v: &[A]) -> Vec<B> {
    let mut out = column::zeroed_vec(v.len());
    for (o, &x) in out.iter_mut().zip(v) {
        *o = x.into();
    }
    out
}

/// Extracted windows of one set of loci: sequence bytes, signal and control values, each
/// track in its own array so each is held in its narrowest exact type.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub loci: Vec<Locus>,
    /// Span of the sequence / control windows (in + 2·jitter for peaks, in for negatives).
    pub seq_len: usize,
    /// Span of the signal windows.
    pub sig_len: usize,
    /// `[n, seq_len]` bases as stored in the FASTA.
    pub seq: Column<u8>,
    /// N and IUPAC bases among `seq` (valid; one-hot encodes them as zeros).
    pub ambiguous: u64,
    /// One `[n, sig_len]` array per signal track.
    pub signal: Vec<Values>,
    /// One `[n, seq_len]` array per control track.
    pub control: Vec<Values>,
    /// Bases stored as NaN (read as 0) in the windows extracted, per track: the signal
    /// tracks, then the control tracks.
    pub nan: Vec<u64>,
}

impl Store {
    /// Keeps the loci whose `keep` is true (rows of every array follow); returns how many
    /// were dropped.
    pub(crate) fn retain(&mut self, keep: &[bool]) -> u64 {
        let before = self.loci.len();
        if keep.iter().all(|&k| k) {
            return 0;
        }
        compact(&mut self.loci, 1, keep);
        compact(self.seq.to_mut(), self.seq_len, keep);
        for v in &mut self.signal {
            v.retain_rows(self.sig_len, keep);
        }
        for v in &mut self.control {
            v.retain_rows(self.seq_len, keep);
        }
        (before - self.loci.len()) as u64
    }

    /// Asks for 2 MiB pages under the owned arrays once they are final (allocated with the
    /// advice, they mostly are already; see [`column::prefer_huge_pages`]). Batches read
    /// them at random rows every epoch, a few kilobytes per row and array; with 4 KiB pages
    /// fills from an extracted store ran about 10% slower than from the same store restored
    /// from its cache file, whose mapped pages the kernel's file cache held in huge pages.
    pub(crate) fn prefer_huge_pages(&self) {
        self.seq.prefer_huge_pages();
        for v in self.signal.iter().chain(&self.control) {
            v.prefer_huge_pages();
        }
    }

    /// Total signal of each locus over the `out`-wide window starting `skip` values into its
    /// span, summed over all signal tracks.
    pub(crate) fn totals(&self, skip: usize, out: usize) -> Vec<f64> {
        (0..self.loci.len())
            .map(|i| {
                self.signal
                    .iter()
                    .map(|v| v.sum(i * self.sig_len + skip, out))
                    .sum()
            })
            .collect()
    }

    /// Bytes held (sequence and track values).
    pub(crate) fn nbytes(&self) -> usize {
        self.seq.len()
            + self
                .signal
                .iter()
                .chain(&self.control)
                .map(|v| v.as_bytes().len())
                .sum::<usize>()
    }

    /// Whether every array is read in place from a cache file.
    pub(crate) fn is_mapped(&self) -> bool {
        self.seq.is_mapped()
            && self
                .signal
                .iter()
                .chain(&self.control)
                .all(Values::is_mapped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_sinks_hold_only_exact_values() {
        let mut d = [0u16; 2];
        assert!(u16::put_all(&[7.0, 65_535.0], &mut d));
        assert_eq!(d, [7, 65_535]);
        assert!(u16::put_all(&[0.0, -0.0], &mut d));
        for v in [
            -1.0,
            0.5,
            65_536.0,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ] {
            assert!(!u16::put_all(&[3.0, v], &mut d), "{v}");
        }
        let mut d = [0u8; 2];
        assert!(u8::put_all(&[0.0, 255.0], &mut d));
        assert!(!u8::put_all(&[256.0, 1.0], &mut d));
    }

    #[test]
    fn a_growing_track_widens_only_as_far_as_needed_and_keeps_earlier_values() {
        let mut g = Growing::zeros(6);
        g.put(0, &[1.0, 2.0]);
        assert!(matches!(g, Growing::U8(_)));
        g.put(2, &[300.0, 4.0]);
        assert!(matches!(g, Growing::U16(_)));
        g.put(4, &[0.5, 70_000.0]);
        let v = g.finish();
        assert_eq!(v.dtype(), "f32");
        let mut out = [0f32; 6];
        v.copy_to(0, &mut out, false);
        assert_eq!(out, [1.0, 2.0, 300.0, 4.0, 0.5, 70_000.0]);
        v.copy_to(0, &mut out, true);
        assert_eq!(out, [70_000.0, 0.5, 4.0, 300.0, 2.0, 1.0]);
    }

    #[test]
    fn retain_keeps_rows_of_every_array_together() {
        let mut st = Store {
            loci: (0..4)
                .map(|i| Locus {
                    chrom: 0,
                    file: 0,
                    centre: i,
                    row: i as u64,
                    line: i as u64 + 1,
                })
                .collect(),
            seq_len: 2,
            sig_len: 3,
            seq: (0..8).collect::<Vec<u8>>().into(),
            ambiguous: 0,
            signal: vec![
                Values::F32((0..12).map(|x| x as f32).collect::<Vec<_>>().into()),
                Values::U8((100..112).collect::<Vec<u8>>().into()),
            ],
            control: vec![Values::U16((0..8).collect::<Vec<u16>>().into())],
            nan: vec![0, 0],
        };
        assert_eq!(st.retain(&[true; 4]), 0);
        assert_eq!(st.retain(&[true, false, true, false]), 2);
        assert_eq!(st.loci.iter().map(|l| l.row).collect::<Vec<_>>(), [0, 2]);
        assert_eq!(&st.seq[..], [0, 1, 4, 5]);
        let (mut s0, mut s1, mut ctl) = (vec![0f32; 6], vec![0f32; 6], vec![0f32; 4]);
        st.signal[0].copy_to(0, &mut s0, false);
        st.signal[1].copy_to(0, &mut s1, false);
        st.control[0].copy_to(0, &mut ctl, false);
        assert_eq!(s0, [0., 1., 2., 6., 7., 8.]);
        assert_eq!(s1, [100., 101., 102., 106., 107., 108.]);
        assert_eq!(ctl, [0., 1., 4., 5.]);
        // Totals over 2 values from offset 1, both tracks: (1+2) + (101+102), (7+8) + (107+108).
        assert_eq!(st.totals(1, 2), [206.0, 230.0]);
    }
}
