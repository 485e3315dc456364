//! The mutation engine: byte-level and text-aware changes, stacked a few at a time on a seed.
//!
//! Binary formats are hit with bit flips, interesting integers (0, ±1, powers of two and
//! their neighbours, the all-ones values) written little- or big-endian, small additions to
//! existing integers, and range deletions, insertions and duplications. Text formats also get
//! their numbers replaced by edge values (`-1`, `2^31`, `2^40`, `1e9`, `nan`, huge digit
//! strings), lines deleted, duplicated or swapped, and separators (`\t`, `\n`, `\r\n`, `>`,
//! a byte-order mark) inserted. A case's files may also be spliced with a file of the same
//! name from another seed, or removed.

use biobatch_sampling::rng::below;
use rand_core::Rng;

use crate::{Case, ORACLE_PREFIX};

const BYTES: &[u8] = b"\x00\x01\x7f\x80\xff\n\r\t >#-+.019eNn\"'{}:,/";

const INTS: &[u64] = &[
    0,
    1,
    2,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x7fff,
    0x8000,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    1 << 40,
    (1 << 40) + 1,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    u64::MAX,
    u64::MAX - 1,
];

const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "-0",
    "2",
    "65535",
    "65536",
    "16777217",
    "2147483647",
    "2147483648",
    "4294967295",
    "4294967296",
    "1099511627776",
    "1099511627777",
    "9223372036854775807",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
    "1e9",
    "1e300",
    "-1e-300",
    "1.5",
    "0.0",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "+5",
    "0x10",
    "",
];

const TOKENS: &[&[u8]] = &[
    b"\n",
    b"\t",
    b"\r\n",
    b"\r",
    b">",
    b">x\n",
    b"#",
    b" ",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"..",
    b"../",
    b"/",
    b"'",
    b"\"",
    b"{",
    b"}",
    b":",
    b",",
    b"- ",
    b"track x\n",
    b"%",
    b"\x00",
    b"True",
    b"False",
    b"(1,)",
];

/// A uniform index below `n` (which must be > 0).
fn pick(rng: &mut impl Rng, n: usize) -> usize {
    below(rng, n as u64) as usize
}

/// A seed with 1 to 8 stacked mutations (mostly 1 or 2).
pub fn mutated(seeds: &[Case], rng: &mut impl Rng) -> Case {
    let mut case = seeds[pick(rng, seeds.len())].clone();
    let n = match pick(rng, 8) {
        0..=3 => 1,
        4 | 5 => 2,
        _ => 1 + pick(rng, 8),
    };
    for _ in 0..n {
        mutate_case(&mut case, seeds, rng);
    }
    case
}

/// One mutation of one file of `case` (or, rarely, of the set of files).
pub fn mutate_case(case: &mut Case, seeds: &[Case], rng: &mut impl Rng) {
    let mutable: Vec<usize> = (0..case.files.len())
        .filter(|&i| !case.files[i].0.starts_with(ORACLE_PREFIX))
        .collect();
    if mutable.is_empty() {
        return;
    }
    let k = mutable[pick(rng, mutable.len())];
    match pick(rng, 64) {
        // A file goes missing.
        0 if mutable.len() > 1 => {
            case.files.remove(k);
        }
        // Splice with the same file of another seed.
        1 | 2 => {
            let other = &seeds[pick(rng, seeds.len())];
            if let Some(theirs) = other.file(&case.files[k].0) {
                let ours = &mut case.files[k].1;
                let cut_ours = pick(rng, ours.len() + 1);
                let cut_theirs = pick(rng, theirs.len() + 1);
                ours.truncate(cut_ours);
                ours.extend_from_slice(&theirs[cut_theirs..]);
            }
        }
        _ => mutate_bytes(&mut case.files[k].1, rng),
    }
}

fn is_text(b: &[u8]) -> bool {
    let sample = &b[..b.len().min(512)];
    !sample.is_empty()
        && sample
            .iter()
            .filter(|c| c.is_ascii_graphic() || c.is_ascii_whitespace())
            .count()
            * 10
            >= sample.len() * 9
}

/// One byte-level or text-aware mutation of `b`.
pub fn mutate_bytes(b: &mut Vec<u8>, rng: &mut impl Rng) {
    if b.is_empty() {
        b.push(BYTES[pick(rng, BYTES.len())]);
        return;
    }
    let text = is_text(b);
    let choice = pick(rng, if text { 16 } else { 11 });
    let len = b.len();
    let at = pick(rng, len);
    match choice {
        0 => b[at] ^= 1 << pick(rng, 8),
        1 => b[at] = BYTES[pick(rng, BYTES.len())],
        2 => b[at] = rng.next_u32() as u8,
        3 => {
            // An interesting integer, 2/4/8 bytes, either byte order, often aligned.
            let width = [2usize, 4, 8][pick(rng, 3)];
            let mut v = INTS[pick(rng, INTS.len())];
            if pick(rng, 4) == 0 {
                v = v.wrapping_sub(1);
            }
            let at = if pick(rng, 2) == 0 { at & !3 } else { at };
            let (le, be) = (v.to_le_bytes(), v.to_be_bytes());
            let bytes = if pick(rng, 2) == 0 {
                &le[..width]
            } else {
                &be[8 - width..]
            };
            for (i, &x) in bytes.iter().enumerate() {
                if let Some(slot) = b.get_mut(at + i) {
                    *slot = x;
                }
            }
        }
        4 => {
            // Add a small delta to a 4-byte little-endian integer.
            if at + 4 <= len {
                let mut w = [0u8; 4];
                w.copy_from_slice(&b[at..at + 4]);
                let delta = pick(rng, 33) as i64 - 16;
                let v = (u32::from_le_bytes(w) as i64 + delta) as u32;
                b[at..at + 4].copy_from_slice(&v.to_le_bytes());
            }
        }
        5 => {
            let n = 1 + pick(rng, (len - at).min(64));
            b.drain(at..at + n);
        }
        6 => {
            let n = 1 + pick(rng, 16);
            let fill: Vec<u8> = (0..n).map(|_| rng.next_u32() as u8).collect();
            b.splice(at..at, fill);
        }
        7 => {
            let n = 1 + pick(rng, (len - at).min(256));
            let chunk = b[at..at + n].to_vec();
            let to = pick(rng, len + 1);
            b.splice(to..to, chunk);
        }
        8 => b.truncate(at),
        9 => {
            let token = TOKENS[pick(rng, TOKENS.len())];
            b.splice(at..at, token.iter().copied());
        }
        10 => {
            // Overwrite a run with a copy of another part of the file.
            let n = 1 + pick(rng, (len - at).min(32));
            let from = pick(rng, len - n + 1);
            let chunk = b[from..from + n].to_vec();
            b[at..at + n].copy_from_slice(&chunk);
        }
        // Text-aware from here.
        11 | 12 => replace_number(b, at, rng),
        13 => line_op(b, rng),
        14 => {
            // Replace a field (up to the next tab, space or newline) with a token or number.
            let start = b[..at]
                .iter()
                .rposition(|c| matches!(c, b'\t' | b'\n' | b' '))
                .map_or(0, |p| p + 1);
            let end = b[at..]
                .iter()
                .position(|c| matches!(c, b'\t' | b'\n' | b' ' | b'\r'))
                .map_or(len, |p| at + p);
            let with: Vec<u8> = if pick(rng, 2) == 0 {
                NUMBERS[pick(rng, NUMBERS.len())].as_bytes().to_vec()
            } else {
                TOKENS[pick(rng, TOKENS.len())].to_vec()
            };
            b.splice(start..end, with);
        }
        _ => {
            let token = [b"\t".as_slice(), b"\n", b"\r\n", b" "][pick(rng, 4)];
            b.splice(at..at, token.iter().copied());
        }
    }
}

/// Replaces the number nearest after `at` (a run of digits, with its sign) by an edge value
/// or by itself plus or minus a little.
fn replace_number(b: &mut Vec<u8>, at: usize, rng: &mut impl Rng) {
    let Some(first) = b[at..].iter().position(u8::is_ascii_digit).map(|p| at + p) else {
        return;
    };
    let mut start = first;
    while start > 0 && b[start - 1].is_ascii_digit() {
        start -= 1;
    }
    if start > 0 && b[start - 1] == b'-' {
        start -= 1;
    }
    let end = b[first..]
        .iter()
        .position(|c| !c.is_ascii_digit())
        .map_or(b.len(), |p| first + p);
    let with = if pick(rng, 3) == 0 {
        let v: i128 = std::str::from_utf8(&b[start..end])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (v + pick(rng, 7) as i128 - 3).to_string()
    } else {
        NUMBERS[pick(rng, NUMBERS.len())].to_string()
    };
    b.splice(start..end, with.into_bytes());
}

/// Deletes, duplicates or swaps whole lines.
fn line_op(b: &mut Vec<u8>, rng: &mut impl Rng) {
    let mut lines: Vec<Vec<u8>> = b
        .split_inclusive(|&c| c == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    if lines.is_empty() {
        return;
    }
    let i = pick(rng, lines.len());
    match pick(rng, 3) {
        0 if lines.len() > 1 => {
            lines.remove(i);
        }
        1 => {
            let l = lines[i].clone();
            lines.insert(pick(rng, lines.len() + 1), l);
        }
        _ => {
            let j = pick(rng, lines.len());
            lines.swap(i, j);
        }
    }
    *b = lines.concat();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_are_a_pure_function_of_the_generator() {
        let seeds = vec![Case::new([("a.txt", b"chr1\t10\t20\n".to_vec())])];
        let run = |s: u64| {
            let mut rng = biobatch_sampling::rng::rng(s, 1, 0, 0);
            (0..200)
                .map(|_| mutated(&seeds, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        // Something actually changes in most cases.
        let changed = run(7).iter().filter(|c| c != &&seeds[0]).count();
        assert!(changed > 150, "{changed} of 200 changed");
    }

    #[test]
    fn oracle_files_are_never_mutated() {
        let oracle = format!("{ORACLE_PREFIX}expected");
        let seeds = vec![Case::new([
            ("a.bin", vec![1, 2, 3]),
            (oracle.as_str(), vec![9, 9]),
        ])];
        let mut rng = biobatch_sampling::rng::rng(1, 2, 0, 0);
        for _ in 0..500 {
            let c = mutated(&seeds, &mut rng);
            assert_eq!(c.file(&oracle), Some(&[9u8, 9][..]));
        }
    }
}
