//! Nucleotide helpers: validation, reverse complement and one-hot encoding.
//!
//! Policy (documented in `docs/formats.md`):
//! - `a c g t` encode like `A C G T` (soft-masking is ignored).
//! - `N` and the IUPAC ambiguity codes `R Y S W K M B D H V` (either case) are valid bases
//!   that encode as an all-zero column by default, or as 0.25 in every channel with
//!   [`Ambiguous::Quarter`] (Kipoi's `neutral_value`, float outputs only).
//! - Any other byte is an error naming its position.
//!
//! Channel order is `A, C, G, T`.

use std::fmt;

/// How `N` and IUPAC ambiguity codes are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ambiguous {
    /// An all-zero column.
    #[default]
    Zeros,
    /// 0.25 in each of the four channels (float outputs only).
    Quarter,
}

/// Memory layout of a one-hot window of length `L` (in settings files: `length_first`, also
/// spelled `channels_last`, or `channels_first`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// `[L, 4]`: the alphabet axis last (Kipoi's default).
    #[default]
    #[serde(alias = "channels_last")]
    LengthFirst,
    /// `[4, L]`: channels first (BPNet / PyTorch convolutions).
    ChannelsFirst,
}

/// A one-hot output element: `u8` or `f32`.
pub trait OneHotValue: Copy + Default + Send + Sync + 'static {
    /// The value of a set channel.
    const ONE: Self;
    /// The 0.25 fill, if this type can hold it.
    const QUARTER: Option<Self>;
}

impl OneHotValue for u8 {
    const ONE: Self = 1;
    const QUARTER: Option<Self> = None;
}

impl OneHotValue for f32 {
    const ONE: Self = 1.0;
    const QUARTER: Option<Self> = Some(0.25);
}

/// A byte that is not a nucleotide letter, at `pos` in the encoded sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidBase {
    /// 0-based position in the slice given to the encoder.
    pub pos: usize,
    /// The byte found.
    pub byte: u8,
}

impl fmt::Display for InvalidBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid base {:?} at position {}: expected A, C, G, T, N or an IUPAC code",
            self.byte as char, self.pos
        )
    }
}

impl std::error::Error for InvalidBase {}

/// Code of each byte: 0-3 for A C G T (either case), 4 for N / IUPAC, 255 for invalid.
const CODE: [u8; 256] = {
    let mut t = [255u8; 256];
    let amb = b"NRYSWKMBDHVnryswkmbdhv";
    let mut i = 0;
    while i < amb.len() {
        t[amb[i] as usize] = 4;
        i += 1;
    }
    t[b'A' as usize] = 0;
    t[b'a' as usize] = 0;
    t[b'C' as usize] = 1;
    t[b'c' as usize] = 1;
    t[b'G' as usize] = 2;
    t[b'g' as usize] = 2;
    t[b'T' as usize] = 3;
    t[b't' as usize] = 3;
    t
};

/// Complement of each byte, IUPAC-aware and case-preserving; other bytes map to themselves,
/// so the table is an involution.
const COMPLEMENT: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i as u8;
        i += 1;
    }
    let pairs = b"ATCGRYKMBVDH";
    let mut k = 0;
    while k < pairs.len() {
        let (a, b) = (pairs[k], pairs[k + 1]);
        t[a as usize] = b;
        t[b as usize] = a;
        t[(a + 32) as usize] = b + 32;
        t[(b + 32) as usize] = a + 32;
        k += 2;
    }
    t
};

/// The base code of a byte: `Some(0..=3)` for A C G T, `Some(4)` for N / IUPAC, `None` otherwise.
#[inline]
pub fn base_code(b: u8) -> Option<u8> {
    match CODE[b as usize] {
        255 => None,
        c => Some(c),
    }
}

/// The first byte of `seq` that is not a nucleotide letter.
pub fn validate(seq: &[u8]) -> Result<(), InvalidBase> {
    // Branch-free OR over chunks keeps the common (all valid) case fast.
    let mut bad = 0u8;
    for &b in seq {
        bad |= (CODE[b as usize] == 255) as u8;
    }
    if bad == 0 {
        return Ok(());
    }
    let pos = seq
        .iter()
        .position(|&b| CODE[b as usize] == 255)
        .unwrap_or_default();
    Err(InvalidBase {
        pos,
        byte: seq[pos],
    })
}

/// Reverse-complements `seq` in place (IUPAC-aware, case-preserving).
pub fn reverse_complement(seq: &mut [u8]) {
    seq.reverse();
    for b in seq {
        *b = COMPLEMENT[*b as usize];
    }
}

/// The complement of one base.
#[inline]
pub fn complement(b: u8) -> u8 {
    COMPLEMENT[b as usize]
}

/// One-hot encoding settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OneHot {
    /// Output layout.
    pub layout: Layout,
    /// Encoding of N and IUPAC codes.
    pub ambiguous: Ambiguous,
}

impl OneHot {
    /// Encodes `seq` into `out` (length `4 * seq.len()`), overwriting every element.
    ///
    /// ```
    /// use biobatch_formats::sequence::{Layout, OneHot};
    ///
    /// let enc = OneHot { layout: Layout::ChannelsFirst, ..Default::default() };
    /// let mut out = [0u8; 12];
    /// enc.encode(b"AcN", &mut out).unwrap();
    /// assert_eq!(out, [1, 0, 0,  0, 1, 0,  0, 0, 0,  0, 0, 0]);
    /// assert_eq!(enc.encode(b"AX!", &mut out).unwrap_err().pos(), Some(1));
    /// ```
    pub fn encode<T: OneHotValue>(&self, seq: &[u8], out: &mut [T]) -> Result<(), EncodeError> {
        validate(seq).map_err(EncodeError::Base)?;
        self.encode_validated(seq, out, false)
    }

    /// Encodes `seq` like [`OneHot::encode`], reverse-complemented first when
    /// `reverse_complement`, without validating the bases again: for sequences that already
    /// passed [`validate`] (the hot path of batch assembly). A byte that is not a nucleotide
    /// letter encodes as an all-zero column; it is never an error or undefined behaviour.
    ///
    /// ```
    /// use biobatch_formats::sequence::{Layout, OneHot, reverse_complement};
    ///
    /// let enc = OneHot { layout: Layout::ChannelsFirst, ..Default::default() };
    /// let (mut fused, mut plain) = ([0u8; 16], [0u8; 16]);
    /// enc.encode_validated(b"AACG", &mut fused, true).unwrap();
    /// let mut rc = *b"AACG";
    /// reverse_complement(&mut rc);
    /// enc.encode(&rc, &mut plain).unwrap();
    /// assert_eq!(fused, plain);
    /// ```
    pub fn encode_validated<T: OneHotValue>(
        &self,
        seq: &[u8],
        out: &mut [T],
        reverse_complement: bool,
    ) -> Result<(), EncodeError> {
        let l = seq.len();
        if out.len() != 4 * l {
            return Err(EncodeError::Length {
                expected: 4 * l,
                actual: out.len(),
            });
        }
        let quarter = match self.ambiguous {
            Ambiguous::Zeros => None,
            Ambiguous::Quarter => Some(T::QUARTER.ok_or(EncodeError::QuarterNeedsFloat)?),
        };
        // Under reverse complement, output position i holds the complement of seq[l-1-i]:
        // channel A is set where the source has T, and so on.
        let letters = if reverse_complement {
            *b"TGCA"
        } else {
            *b"ACGT"
        };
        let one = T::ONE;
        let zero = T::default();
        match self.layout {
            Layout::ChannelsFirst => {
                // Four vectorisable passes of byte compares (uppercase via & 0xDF).
                let (a, rest) = out.split_at_mut(l);
                let (c, rest) = rest.split_at_mut(l);
                let (g, t) = rest.split_at_mut(l);
                for (ch, letter) in [a, c, g, t].into_iter().zip(letters) {
                    if reverse_complement {
                        for (o, &b) in ch.iter_mut().zip(seq.iter().rev()) {
                            *o = if b & 0xDF == letter { one } else { zero };
                        }
                    } else {
                        for (o, &b) in ch.iter_mut().zip(seq) {
                            *o = if b & 0xDF == letter { one } else { zero };
                        }
                    }
                }
                if let Some(q) = quarter {
                    for (i, &b) in seq.iter().enumerate() {
                        if CODE[b as usize] == 4 {
                            let at = if reverse_complement { l - 1 - i } else { i };
                            for k in 0..4 {
                                out[k * l + at] = q;
                            }
                        }
                    }
                }
            }
            Layout::LengthFirst => {
                let q = quarter.unwrap_or(zero);
                let column = |o: &mut [T], b: u8| {
                    let u = b & 0xDF;
                    let fill = if CODE[b as usize] == 4 { q } else { zero };
                    for (x, letter) in o.iter_mut().zip(letters) {
                        *x = if u == letter { one } else { fill };
                    }
                };
                if reverse_complement {
                    for (o, &b) in out.chunks_exact_mut(4).zip(seq.iter().rev()) {
                        column(o, b);
                    }
                } else {
                    for (o, &b) in out.chunks_exact_mut(4).zip(seq) {
                        column(o, b);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Why [`OneHot::encode`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// A byte that is not a nucleotide letter.
    Base(InvalidBase),
    /// The output buffer has the wrong length.
    Length {
        /// `4 * sequence length`.
        expected: usize,
        /// The buffer length.
        actual: usize,
    },
    /// [`Ambiguous::Quarter`] asked of an integer output.
    QuarterNeedsFloat,
}

impl EncodeError {
    /// The position of the invalid base, if that is the error.
    pub fn pos(&self) -> Option<usize> {
        match self {
            EncodeError::Base(b) => Some(b.pos),
            _ => None,
        }
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::Base(b) => b.fmt(f),
            EncodeError::Length { expected, actual } => {
                write!(f, "one-hot buffer holds {actual} values, needs {expected}")
            }
            EncodeError::QuarterNeedsFloat => {
                f.write_str("the 0.25 fill for ambiguous bases needs a float output (f32)")
            }
        }
    }
}

impl std::error::Error for EncodeError {}

/// Decodes a one-hot window back to `A C G T N` (N for any column that is not exactly one-hot).
pub fn decode<T: OneHotValue + PartialEq>(onehot: &[T], layout: Layout) -> Vec<u8> {
    let l = onehot.len() / 4;
    (0..l)
        .map(|i| {
            let at = |k: usize| match layout {
                Layout::ChannelsFirst => onehot[k * l + i],
                Layout::LengthFirst => onehot[i * 4 + k],
            };
            let set: Vec<usize> = (0..4).filter(|&k| at(k) == T::ONE).collect();
            let zeros = (0..4).filter(|&k| at(k) == T::default()).count();
            match (set.as_slice(), zeros) {
                ([k], 3) => b"ACGT"[*k],
                _ => b'N',
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_base() -> impl Strategy<Value = u8> {
        prop::sample::select(b"ACGTacgtNnRYSWKMBDHVryswkmbdhv".to_vec())
    }

    #[test]
    fn complement_table() {
        let mut s = b"ACGTNacgtnRYKMBVDHSW".to_vec();
        reverse_complement(&mut s);
        assert_eq!(&s, b"WSDHBVKMRYnacgtNACGT");
    }

    #[test]
    fn quarter_fill_and_its_refusal_for_u8() {
        let enc = OneHot {
            layout: Layout::LengthFirst,
            ambiguous: Ambiguous::Quarter,
        };
        let mut out = [0f32; 8];
        enc.encode(b"gR", &mut out).unwrap();
        assert_eq!(out, [0.0, 0.0, 1.0, 0.0, 0.25, 0.25, 0.25, 0.25]);
        let mut out8 = [0u8; 8];
        assert_eq!(
            enc.encode(b"gR", &mut out8).unwrap_err(),
            EncodeError::QuarterNeedsFloat
        );
        let cf = OneHot {
            layout: Layout::ChannelsFirst,
            ambiguous: Ambiguous::Quarter,
        };
        cf.encode(b"gR", &mut out).unwrap();
        assert_eq!(out, [0.0, 0.25, 0.0, 0.25, 1.0, 0.25, 0.0, 0.25]);
    }

    #[test]
    fn invalid_bytes_are_reported_with_position() {
        let mut out = [0u8; 16];
        let err = OneHot::default().encode(b"AC-T", &mut out).unwrap_err();
        assert_eq!(err, EncodeError::Base(InvalidBase { pos: 2, byte: b'-' }));
        assert!(err.to_string().contains("'-' at position 2"));
        assert!(matches!(
            OneHot::default().encode(b"AC", &mut out).unwrap_err(),
            EncodeError::Length {
                expected: 8,
                actual: 16
            }
        ));
    }

    proptest! {
        #[test]
        fn reverse_complement_is_an_involution(mut s in prop::collection::vec(any::<u8>(), 0..300)) {
            let orig = s.clone();
            reverse_complement(&mut s);
            reverse_complement(&mut s);
            prop_assert_eq!(s, orig);
        }

        #[test]
        fn one_hot_round_trips(s in prop::collection::vec(any_base(), 0..300), cf in any::<bool>()) {
            let layout = if cf { Layout::ChannelsFirst } else { Layout::LengthFirst };
            let enc = OneHot { layout, ambiguous: Ambiguous::Zeros };
            let mut u = vec![7u8; 4 * s.len()];
            enc.encode(&s, &mut u).unwrap();
            let mut f = vec![7f32; 4 * s.len()];
            enc.encode(&s, &mut f).unwrap();
            let expected: Vec<u8> = s.iter().map(|b| match b & 0xDF { b'A' | b'C' | b'G' | b'T' => b & 0xDF, _ => b'N' }).collect();
            prop_assert_eq!(decode(&u, layout), expected.clone());
            prop_assert_eq!(decode(&f, layout), expected);
            // Each column sums to one for ACGT and zero otherwise.
            let ones: usize = u.iter().map(|&x| x as usize).sum();
            prop_assert_eq!(ones, s.iter().filter(|&&b| base_code(b).unwrap() < 4).count());
        }

        #[test]
        fn one_hot_of_reverse_complement_is_the_flipped_one_hot(s in prop::collection::vec(any_base(), 1..200)) {
            let enc = OneHot { layout: Layout::ChannelsFirst, ambiguous: Ambiguous::Zeros };
            let l = s.len();
            let mut fwd = vec![0u8; 4 * l];
            enc.encode(&s, &mut fwd).unwrap();
            let mut rc = s.clone();
            reverse_complement(&mut rc);
            let mut rev = vec![0u8; 4 * l];
            enc.encode(&rc, &mut rev).unwrap();
            for k in 0..4 {
                for i in 0..l {
                    prop_assert_eq!(rev[k * l + i], fwd[(3 - k) * l + (l - 1 - i)]);
                }
            }
        }

        #[test]
        fn fused_reverse_complement_equals_reverse_complement_then_encode(
            s in prop::collection::vec(any_base(), 0..200),
            cf in any::<bool>(),
            quarter in any::<bool>(),
        ) {
            let layout = if cf { Layout::ChannelsFirst } else { Layout::LengthFirst };
            let ambiguous = if quarter { Ambiguous::Quarter } else { Ambiguous::Zeros };
            let enc = OneHot { layout, ambiguous };
            let mut rc = s.clone();
            reverse_complement(&mut rc);
            let (mut want, mut got) = (vec![9f32; 4 * s.len()], vec![7f32; 4 * s.len()]);
            enc.encode(&rc, &mut want).unwrap();
            enc.encode_validated(&s, &mut got, true).unwrap();
            prop_assert_eq!(&got, &want);
            enc.encode(&s, &mut want).unwrap();
            enc.encode_validated(&s, &mut got, false).unwrap();
            prop_assert_eq!(&got, &want);
            if !quarter {
                let (mut want, mut got) = (vec![9u8; 4 * s.len()], vec![7u8; 4 * s.len()]);
                enc.encode(&rc, &mut want).unwrap();
                enc.encode_validated(&s, &mut got, true).unwrap();
                prop_assert_eq!(got, want);
            }
        }
    }
}
