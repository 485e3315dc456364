//! kipoiseq's `ReorderedOneHot`: the alphabet's table and where the axes go.

use biobatch_core::{DType, f16};

use crate::Result;
use crate::args::Args;

/// A one-hot element type: the value written for 0, 1 and the 0.25 of `N`.
pub(super) trait OneHotElem: Copy {
    fn from_f32(v: f32) -> Self;
}
macro_rules! one_hot_elem {
    ($($t:ty => $f:expr),*) => { $(impl OneHotElem for $t { fn from_f32(v: f32) -> Self { $f(v) } })* };
}
one_hot_elem!(f32 => |v| v, f64 => |v: f32| v as f64, f16 => f16::from_f32, i64 => |v: f32| v as i64,
    i32 => |v: f32| v as i32, i8 => |v: f32| v as i8, u8 => |v: f32| v as u8);

/// kipoiseq's `ReorderedOneHot`: the alphabet, its table, and where the axes go.
#[derive(Debug, Clone)]
pub(super) struct Encoder {
    pub(super) alphabet: String,
    /// `table[b * k + c]`: channel `c` of byte `b`, upper-cased first.
    pub(super) table: Vec<f32>,
    /// Bytes the alphabet cannot encode (only for alphabets other than `ACGT`).
    pub(super) invalid: [bool; 256],
    pub(super) k: usize,
    pub(super) alphabet_axis: usize,
    pub(super) dummy_axis: Option<usize>,
    pub(super) dtype: DType,
}

impl Encoder {
    pub(super) fn from_args(a: &Args) -> Result<Self> {
        // A string (`ACGT`) or a list of letters (`[A, C, G, T]`), as kipoiseq takes it.
        let alphabet = match a.values.get("alphabet") {
            Some(serde_json::Value::Array(l)) => l
                .iter()
                .map(|v| v.as_str().filter(|s| s.len() == 1).map(str::to_string))
                .collect::<Option<String>>()
                .ok_or_else(|| {
                    a.err("alphabet", "expected a string or a list of single letters")
                })?,
            _ => a.opt_str("alphabet")?.unwrap_or_else(|| "ACGT".into()),
        };
        if alphabet.is_empty() || !alphabet.is_ascii() {
            return Err(a.err(
                "alphabet",
                format!("expected ASCII letters, found `{alphabet}`"),
            ));
        }
        let alphabet_axis = a.opt_int("alphabet_axis")?.unwrap_or(1);
        let dummy_axis = a.opt_int("dummy_axis")?;
        let axis_ok = |v: i64| (0..=2).contains(&v);
        if !axis_ok(alphabet_axis) {
            return Err(a.err(
                "alphabet_axis",
                format!("must be 0, 1 or 2, found {alphabet_axis}"),
            ));
        }
        match dummy_axis {
            Some(d) if !axis_ok(d) => {
                return Err(a.err("dummy_axis", format!("must be 0, 1 or 2, found {d}")));
            }
            Some(d) if d == alphabet_axis => {
                return Err(a.err("dummy_axis", "cannot be the same as alphabet_axis"));
            }
            None if alphabet_axis == 2 => {
                return Err(a.err(
                    "alphabet_axis",
                    "2 needs a dummy_axis (the output has only two axes)",
                ));
            }
            _ => {}
        }
        let bytes = alphabet.as_bytes();
        let k = bytes.len();
        let mut table = vec![0f32; 256 * k];
        let mut invalid = [alphabet != "ACGT"; 256];
        for b in 0..256usize {
            let up = (b as u8).to_ascii_uppercase();
            if let Some(c) = bytes.iter().position(|&x| x == up) {
                table[b * k + c] = 1.0;
                invalid[b] = false;
            } else if up == b'N' {
                table[b * k..(b + 1) * k].fill(0.25);
                invalid[b] = false;
            }
        }
        Ok(Encoder {
            alphabet,
            table,
            invalid,
            k,
            alphabet_axis: alphabet_axis as usize,
            dummy_axis: dummy_axis.map(|d| d as usize),
            dtype: a.opt_dtype("dtype")?.unwrap_or(DType::F64),
        })
    }

    /// The per-example shape for sequences of `len`.
    pub(super) fn shape(&self, len: Option<usize>) -> Vec<Option<usize>> {
        let mut axes = vec![None; if self.dummy_axis.is_some() { 3 } else { 2 }];
        axes[self.alphabet_axis] = Some(Some(self.k));
        if let Some(d) = self.dummy_axis {
            axes[d] = Some(Some(1));
        }
        axes.into_iter().map(|a| a.unwrap_or(len)).collect()
    }

    /// Whether the alphabet axis comes before the sequence axis (memory layout `(k, L)`).
    pub(super) fn channels_first(&self) -> bool {
        let seq_axis = (0..3)
            .find(|&x| x != self.alphabet_axis && Some(x) != self.dummy_axis)
            .unwrap_or(0);
        self.alphabet_axis < seq_axis
    }

    pub(super) fn encode<T: OneHotElem>(&self, seqs: &[u8], len: usize, out: &mut [T]) {
        let k = self.k;
        let per = len * k;
        if self.channels_first() {
            // Channel by channel, from each base's code (its channel, N, or none): a select
            // the compiler vectorises, where a table lookup per element would not.
            const N: u8 = 254;
            let code: [u8; 256] = std::array::from_fn(|b| {
                let row = &self.table[b * k..(b + 1) * k];
                match row.iter().position(|&v| v == 1.0) {
                    Some(c) => c as u8,
                    None if row.first() == Some(&0.25) => N,
                    None => 255,
                }
            });
            let (one, quarter, zero) = (T::from_f32(1.0), T::from_f32(0.25), T::from_f32(0.0));
            let mut codes = vec![0u8; len];
            for (seq, o) in seqs.chunks_exact(len).zip(out.chunks_exact_mut(per)) {
                for (q, &b) in codes.iter_mut().zip(seq) {
                    *q = code[b as usize];
                }
                for (c, row) in o.chunks_exact_mut(len).enumerate() {
                    let c = c as u8;
                    for (x, &q) in row.iter_mut().zip(&codes) {
                        *x = if q == c {
                            one
                        } else if q == N {
                            quarter
                        } else {
                            zero
                        };
                    }
                }
            }
        } else {
            let table: Vec<T> = self.table.iter().map(|&v| T::from_f32(v)).collect();
            for (seq, o) in seqs.chunks_exact(len).zip(out.chunks_exact_mut(per)) {
                for (x, &b) in o.chunks_exact_mut(k).zip(seq) {
                    x.copy_from_slice(&table[b as usize * k..(b as usize + 1) * k]);
                }
            }
        }
    }
}
