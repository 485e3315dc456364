//! Helpers shared by the dataset commands: a stable batch digest and a memcpy baseline.

use std::time::Instant;

use biobatch::core::Batch;

/// A stable 64-bit hash of every leaf's values, in path order (8 bytes per step; the same
/// on every platform and run).
pub fn digest(b: &Batch) -> u64 {
    use biobatch::core::Data;
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut mix = |w: u64| h = (h ^ w).wrapping_mul(K).rotate_left(29);
    let bytes = |v: &[u8], mix: &mut dyn FnMut(u64)| {
        let mut chunks = v.chunks_exact(8);
        for c in &mut chunks {
            mix(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        let mut tail = [0u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        mix(u64::from_le_bytes(tail) ^ ((v.len() as u64) << 56));
    };
    for (path, a) in b.leaves() {
        bytes(path.as_bytes(), &mut mix);
        match a.data() {
            Data::U8(v) => bytes(v, &mut mix),
            Data::F32(v) => {
                let mut pairs = v.chunks_exact(2);
                for p in &mut pairs {
                    mix((p[0].to_bits() as u64) << 32 | p[1].to_bits() as u64);
                }
                for x in pairs.remainder() {
                    mix(x.to_bits() as u64);
                }
            }
            Data::I64(v) => v.iter().for_each(|&x| mix(x as u64)),
            Data::I32(v) => v.iter().for_each(|&x| mix(x as u32 as u64)),
            Data::F64(v) => v.iter().for_each(|&x| mix(x.to_bits())),
            Data::Bool(v) => v.iter().for_each(|&x| mix(x as u64)),
            Data::Str(v) => v.iter().for_each(|s| bytes(s.as_bytes(), &mut mix)),
            other => bytes(format!("{other:?}").as_bytes(), &mut mix),
        }
    }
    h
}

/// Hash of a slice of integers (e.g. a batch's cell ids), as [`digest`] mixes them.
pub fn digest_ids(ids: &[i64]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    ids.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
        (h ^ x as u64).wrapping_mul(K).rotate_left(29)
    })
}

/// Bytes per second of `memcpy` moving `bytes` (at least 8 MiB) on one thread.
pub fn memcpy_bytes_per_s(bytes: usize) -> f64 {
    const CHUNK: usize = 8 << 20;
    let src = vec![1u8; CHUNK];
    let mut dst = vec![0u8; CHUNK];
    let t = Instant::now();
    let mut left = bytes.max(CHUNK);
    let total = left;
    while left > 0 {
        let n = left.min(CHUNK);
        dst[..n].copy_from_slice(&src[..n]);
        std::hint::black_box(&mut dst);
        left -= n;
    }
    total as f64 / t.elapsed().as_secs_f64()
}
