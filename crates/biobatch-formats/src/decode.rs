//! Decoding of stored elements, shared by the HDF5 and Zarr readers: the HDF5 filter pipeline
//! (deflate, shuffle, Fletcher-32), hyperslab copies from chunks into blocks, and the
//! conversion of stored values to the output dtype with CF's `scale_factor` / `add_offset` /
//! `_FillValue` applied.

use biobatch_core::{DType, Data};

/// A stored element type (little-endian; big-endian variables are refused at open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stored {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
}

impl Stored {
    /// Bytes per element.
    pub(crate) fn size(self) -> usize {
        match self {
            Stored::U8 | Stored::I8 => 1,
            Stored::U16 | Stored::I16 => 2,
            Stored::U32 | Stored::I32 | Stored::F32 => 4,
            Stored::U64 | Stored::I64 | Stored::F64 => 8,
        }
    }

    /// The numpy-style name (`u1`, `f4`, …).
    #[cfg_attr(not(feature = "hdf5"), allow(dead_code))]
    pub(crate) fn name(self) -> &'static str {
        match self {
            Stored::U8 => "u1",
            Stored::I8 => "i1",
            Stored::U16 => "u2",
            Stored::I16 => "i2",
            Stored::U32 => "u4",
            Stored::I32 => "i4",
            Stored::U64 => "u8",
            Stored::I64 => "i8",
            Stored::F32 => "f4",
            Stored::F64 => "f8",
        }
    }

    /// The dtype values come out as when no CF decoding applies: the same type where the
    /// batch tree has it, else the smallest signed type that holds every value.
    pub(crate) fn plain_dtype(self) -> DType {
        match self {
            Stored::U8 => DType::U8,
            Stored::I8 => DType::I8,
            Stored::U16 | Stored::I16 | Stored::I32 => DType::I32,
            Stored::U32 | Stored::I64 | Stored::U64 => DType::I64,
            Stored::F32 => DType::F32,
            Stored::F64 => DType::F64,
        }
    }
}

/// CF decoding of a variable, as xarray's `mask_and_scale` does it: values equal to a fill
/// (`_FillValue`, `missing_value`) become NaN, then `value · scale_factor + add_offset`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cf {
    /// `scale_factor`.
    pub scale_factor: Option<f64>,
    /// `add_offset`.
    pub add_offset: Option<f64>,
    /// `_FillValue` and `missing_value`, in the stored type's values.
    pub fill_values: Vec<f64>,
}

impl Cf {
    /// Whether any decoding applies.
    pub fn is_identity(&self) -> bool {
        self.scale_factor.is_none() && self.add_offset.is_none() && self.fill_values.is_empty()
    }

    /// The dtype a variable stored as `stored` comes out as: floats keep their width, masked
    /// or packed integers become `f32` (xarray gives `float32` for packed 1- and 2-byte
    /// integers and `float64` beyond; the batch tree's models want `f32`), others keep
    /// [`Stored::plain_dtype`].
    pub(crate) fn out_dtype(&self, stored: Stored) -> DType {
        match stored {
            Stored::F64 => DType::F64,
            Stored::F32 => DType::F32,
            _ if self.is_identity() => stored.plain_dtype(),
            _ => DType::F32,
        }
    }
}

#[cfg_attr(not(feature = "hdf5"), allow(dead_code))]
/// Inverts HDF5's byte shuffle: `src` holds byte 0 of every element, then byte 1, ….
pub(crate) fn unshuffle(src: &[u8], elem: usize, dst: &mut [u8]) {
    let n = src.len() / elem;
    for b in 0..elem {
        let plane = &src[b * n..(b + 1) * n];
        for (i, &v) in plane.iter().enumerate() {
            dst[i * elem + b] = v;
        }
    }
    // Bytes past the last whole element are stored unshuffled.
    let tail = n * elem;
    dst[tail..src.len()].copy_from_slice(&src[tail..]);
}

#[cfg_attr(not(feature = "hdf5"), allow(dead_code))]
/// HDF5's Fletcher-32 checksum (`H5_checksum_fletcher32`): 16-bit big-endian words, sums
/// folded every 360 words.
pub(crate) fn fletcher32(data: &[u8]) -> u32 {
    let (mut sum1, mut sum2) = (0u32, 0u32);
    let mut words = data.chunks_exact(2);
    loop {
        let mut n = 0;
        for w in words.by_ref().take(360) {
            sum1 += u32::from(w[0]) << 8 | u32::from(w[1]);
            sum2 += sum1;
            n += 1;
        }
        if n == 0 {
            break;
        }
        sum1 = (sum1 & 0xffff) + (sum1 >> 16);
        sum2 = (sum2 & 0xffff) + (sum2 >> 16);
    }
    if let [last] = words.remainder() {
        sum1 += u32::from(*last) << 8;
        sum2 += sum1;
        sum1 = (sum1 & 0xffff) + (sum1 >> 16);
        sum2 = (sum2 & 0xffff) + (sum2 >> 16);
    }
    sum1 = (sum1 & 0xffff) + (sum1 >> 16);
    sum2 = (sum2 & 0xffff) + (sum2 >> 16);
    (sum2 << 16) | sum1
}

#[cfg_attr(not(feature = "hdf5"), allow(dead_code))]
/// Copies the part of a decoded chunk that lies inside the dataset into a block buffer.
///
/// `chunk` has the full chunk shape `cshape` (edge chunks are stored whole) and starts at
/// `origin` in dataset coordinates; `block` holds records `row0 ..` with the dataset's shape
/// `shape` past the first axis. All in elements of `elem` bytes.
pub(crate) fn copy_chunk(
    chunk: &[u8],
    cshape: &[usize],
    origin: &[usize],
    shape: &[usize],
    row0: usize,
    block: &mut [u8],
    elem: usize,
) {
    let nd = shape.len();
    // The extent of the chunk inside the dataset along each axis.
    let ext: Vec<usize> = (0..nd)
        .map(|d| cshape[d].min(shape[d].saturating_sub(origin[d])))
        .collect();
    if ext.contains(&0) {
        return;
    }
    // Row-major strides of the chunk and of the block (whose first axis starts at row0).
    let mut cstride = vec![1usize; nd];
    let mut bstride = vec![1usize; nd];
    for d in (0..nd.saturating_sub(1)).rev() {
        cstride[d] = cstride[d + 1] * cshape[d + 1];
        bstride[d] = bstride[d + 1] * shape[d + 1];
    }
    let run = ext[nd - 1] * elem;
    let mut idx = vec![0usize; nd];
    loop {
        let mut c = 0;
        let mut b = 0;
        for d in 0..nd {
            c += idx[d] * cstride[d];
            let pos = origin[d] + idx[d] - if d == 0 { row0 } else { 0 };
            b += pos * bstride[d];
        }
        block[b * elem..b * elem + run].copy_from_slice(&chunk[c * elem..c * elem + run]);
        // Odometer over every axis but the last.
        let mut d = nd.saturating_sub(1);
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < ext[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

macro_rules! read_le {
    ($src:expr, $t:ty) => {
        $src.chunks_exact(std::mem::size_of::<$t>())
            .map(|c| <$t>::from_le_bytes(std::array::from_fn(|i| c[i])))
    };
}

/// Iterates the stored values of `src` as f64 (for CF decoding).
fn as_f64(stored: Stored, src: &[u8]) -> Box<dyn Iterator<Item = f64> + '_> {
    match stored {
        Stored::U8 => Box::new(src.iter().map(|&v| v as f64)),
        Stored::I8 => Box::new(src.iter().map(|&v| v as i8 as f64)),
        Stored::U16 => Box::new(read_le!(src, u16).map(|v| v as f64)),
        Stored::I16 => Box::new(read_le!(src, i16).map(|v| v as f64)),
        Stored::U32 => Box::new(read_le!(src, u32).map(|v| v as f64)),
        Stored::I32 => Box::new(read_le!(src, i32).map(|v| v as f64)),
        Stored::U64 => Box::new(read_le!(src, u64).map(|v| v as f64)),
        Stored::I64 => Box::new(read_le!(src, i64).map(|v| v as f64)),
        Stored::F32 => Box::new(read_le!(src, f32).map(|v| v as f64)),
        Stored::F64 => Box::new(read_le!(src, f64)),
    }
}

/// Converts stored little-endian values into `out[at..]` (of dtype `cf.out_dtype(stored)`).
/// Returns the index of the first value that does not fit the output type (a `u64` above
/// `i64::MAX`), if any.
pub(crate) fn convert(
    stored: Stored,
    cf: &Cf,
    src: &[u8],
    out: &mut Data,
    at: usize,
) -> Result<(), usize> {
    let n = src.len() / stored.size();
    if cf.is_identity() {
        return convert_plain(stored, src, out, at, n);
    }
    let scale = cf.scale_factor.unwrap_or(1.0);
    let offset = cf.add_offset.unwrap_or(0.0);
    let fills = &cf.fill_values;
    let decode = |v: f64| {
        if fills.iter().any(|&f| f == v || (f.is_nan() && v.is_nan())) {
            f64::NAN
        } else {
            v * scale + offset
        }
    };
    match out {
        Data::F32(d) => {
            for (o, v) in d[at..at + n].iter_mut().zip(as_f64(stored, src)) {
                *o = decode(v) as f32;
            }
        }
        Data::F64(d) => {
            for (o, v) in d[at..at + n].iter_mut().zip(as_f64(stored, src)) {
                *o = decode(v);
            }
        }
        _ => unreachable!("CF-decoded variables come out as floats"),
    }
    Ok(())
}

fn convert_plain(
    stored: Stored,
    src: &[u8],
    out: &mut Data,
    at: usize,
    n: usize,
) -> Result<(), usize> {
    match (stored, out) {
        (Stored::U8, Data::U8(d)) => d[at..at + n].copy_from_slice(src),
        (Stored::I8, Data::I8(d)) => {
            for (o, &v) in d[at..at + n].iter_mut().zip(src) {
                *o = v as i8;
            }
        }
        (Stored::U16, Data::I32(d)) => fill(&mut d[at..at + n], read_le!(src, u16).map(i32::from)),
        (Stored::I16, Data::I32(d)) => fill(&mut d[at..at + n], read_le!(src, i16).map(i32::from)),
        (Stored::I32, Data::I32(d)) => fill(&mut d[at..at + n], read_le!(src, i32)),
        (Stored::U32, Data::I64(d)) => fill(&mut d[at..at + n], read_le!(src, u32).map(i64::from)),
        (Stored::I64, Data::I64(d)) => fill(&mut d[at..at + n], read_le!(src, i64)),
        (Stored::U64, Data::I64(d)) => {
            for (i, (o, v)) in d[at..at + n].iter_mut().zip(read_le!(src, u64)).enumerate() {
                *o = i64::try_from(v).map_err(|_| i)?;
            }
        }
        (Stored::F32, Data::F32(d)) => fill(&mut d[at..at + n], read_le!(src, f32)),
        (Stored::F64, Data::F64(d)) => fill(&mut d[at..at + n], read_le!(src, f64)),
        (s, d) => unreachable!("stored {s:?} into {:?}", d.dtype()),
    }
    Ok(())
}

fn fill<T>(dst: &mut [T], src: impl Iterator<Item = T>) {
    for (o, v) in dst.iter_mut().zip(src) {
        *o = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unshuffle_inverts_the_byte_planes() {
        let values: Vec<u32> = vec![0x0403_0201, 0x0807_0605, 0x0c0b_0a09];
        let plain: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut shuffled = vec![0u8; 12];
        for (i, v) in plain.chunks(4).enumerate() {
            for b in 0..4 {
                shuffled[b * 3 + i] = v[b];
            }
        }
        let mut back = vec![0u8; 12];
        unshuffle(&shuffled, 4, &mut back);
        assert_eq!(back, plain);
    }

    #[test]
    fn fletcher32_matches_the_reference_values() {
        // The classic test vectors use little-endian 16-bit words; HDF5 reads big-endian
        // words, so the bytes of each pair are swapped here.
        assert_eq!(fletcher32(b"badc\0e"), 0xF04F_C729);
        assert_eq!(fletcher32(b"badcfe"), 0x5650_2D2A);
        assert_eq!(fletcher32(b"badcfehg"), 0xEBE1_9591);
        let mut a = vec![0u8; 1000];
        for (i, v) in a.iter_mut().enumerate() {
            *v = (i * 7 % 251) as u8;
        }
        // A brute-force 64-bit accumulation, reduced mod 65535 at the end, must agree.
        let (mut s1, mut s2) = (0u64, 0u64);
        for w in a.chunks(2) {
            s1 += (u64::from(w[0]) << 8) | u64::from(w[1]);
            s2 += s1;
        }
        let f = fletcher32(&a);
        assert_eq!(u64::from(f & 0xffff) % 65535, s1 % 65535);
        assert_eq!(u64::from(f >> 16) % 65535, s2 % 65535);
    }

    #[test]
    fn copy_chunk_places_edge_chunks_and_drops_their_padding() {
        // Dataset 3×5, chunks 2×3: the chunk at (2, 3) covers one row and two columns.
        let shape = [3usize, 5];
        let chunk: Vec<u8> = (0..6).collect();
        let mut block = vec![255u8; 5]; // block of the last record only (row0 = 2)
        copy_chunk(&chunk, &[2, 3], &[2, 3], &shape, 2, &mut block, 1);
        assert_eq!(block, [255, 255, 255, 0, 1]);
    }

    #[test]
    fn cf_decoding_masks_then_scales() {
        let cf = Cf {
            scale_factor: Some(0.5),
            add_offset: Some(10.0),
            fill_values: vec![255.0],
        };
        let mut out = Data::zeros(DType::F32, 3);
        convert(Stored::U8, &cf, &[0, 4, 255], &mut out, 0).unwrap();
        let Data::F32(v) = out else { unreachable!() };
        assert_eq!(&v[..2], &[10.0, 12.0]);
        assert!(v[2].is_nan());
    }
}
