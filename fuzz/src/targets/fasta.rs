//! FASTA with or without its `.fai` (and bgzip with `.gzi`): every sequence the reader lists
//! must be, byte for byte, a record of that name in the file as a plain line-by-line reading
//! sees it — whole, in pieces, and padded past its ends.

use std::path::Path;

use biobatch_formats::fasta::{Fasta, Padding};

use super::{ensure, first_difference};
use crate::{Case, Target, Verdict, fixture, oracle};

pub(super) const TARGET: Target = Target {
    name: "fasta",
    about: "FASTA + .fai (+ .gzi) open and fetch, against a line-by-line reading of the file",
    seeds,
    check,
};

const FA: &str = "genome.fa";

fn small(text: &str) -> Vec<Case> {
    let fa = text.as_bytes().to_vec();
    let fai = oracle::fai_text(&fa).expect("a seed FASTA has one line width per record");
    vec![
        Case::new([(FA, fa.clone())]),
        Case::new([(FA, fa), ("genome.fa.fai", fai.into_bytes())]),
    ]
}

fn seeds() -> Vec<Case> {
    let mut out = Vec::new();
    for text in [
        ">chr1 first\nACGTACGTAC\nGTACGTACGT\nACG\n>chr2\nNNNNacgtnn\nTT\n>chrM\nA\n",
        ">a\r\nACGT\r\nAC\r\n>b\r\nGGGG\r\n",
        ">x\tdesc\nACGTA\nCGTAC\nGT\n\n",
        ">x\nACGTACGT\n>y\nAC",
        ">one\nAAAACCCCGGGGTTTT\nAAAACCCCGGGGTTTT\nAAAACCCCGGGGTTTT\nAAAA\n",
    ] {
        out.extend(small(text));
    }
    out.push(Case::new([
        (FA, fixture("multi.fa")),
        ("genome.fa.fai", fixture("multi.fa.fai")),
    ]));
    out.push(Case::new([
        (FA, fixture("multi.fa.gz")),
        ("genome.fa.fai", fixture("multi.fa.gz.fai")),
        ("genome.fa.gzi", fixture("multi.fa.gz.gzi")),
    ]));
    out
}

fn check(input: &Path, _work: &Path) -> Result<Verdict, String> {
    let path = input.join(FA);
    let Ok(fasta) = Fasta::open(&path) else {
        return Ok(Verdict::Refused);
    };
    let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
    let Some(text) = oracle::maybe_gunzip(&bytes) else {
        return Ok(Verdict::Unverified);
    };
    let records = oracle::fasta_records(&text);
    let listed: Vec<(String, u64)> = fasta.chroms().map(|(n, l)| (n.to_string(), l)).collect();
    if !input.join("genome.fa.fai").exists() {
        // Indexed here: every record, in order (empty ones are left out, as documented).
        let names: Vec<&[u8]> = records
            .iter()
            .filter(|(_, s)| !s.is_empty())
            .map(|(n, _)| n.as_slice())
            .collect();
        let ours: Vec<&[u8]> = listed.iter().map(|(n, _)| n.as_bytes()).collect();
        ensure(names == ours, || {
            format!("indexed records differ: {ours:?}, the file has {names:?}")
        })?;
    }
    for (name, len) in &listed {
        let candidates: Vec<&Vec<u8>> = records
            .iter()
            .filter(|(n, _)| n == name.as_bytes())
            .map(|(_, s)| s)
            .collect();
        let whole = match fasta.fetch(name, 0, *len as i64, Padding::Error) {
            Ok(s) => s,
            Err(_) => return Ok(Verdict::Refused),
        };
        let Some(seq) = candidates.iter().find(|s| s.as_slice() == whole.as_slice()) else {
            return Err(match candidates.first() {
                None => format!("served a record the file lacks: `{name}`"),
                Some(s) => format!(
                    "served sequence differs: `{name}`: {}",
                    first_difference(&whole, s)
                ),
            });
        };
        // Pieces and padding agree with the whole.
        let n = *len as i64;
        for (a, b) in [
            (0, 1.min(n)),
            (n / 3, 2 * n / 3),
            ((n - 1).max(0), n),
            (-5, 5),
            (n - 3, n + 4),
        ] {
            let piece = match fasta.fetch(name, a, b, Padding::N) {
                Ok(p) => p,
                Err(_) => return Ok(Verdict::Refused),
            };
            let expected: Vec<u8> = (a..b)
                .map(|p| {
                    if p < 0 || p >= n {
                        b'N'
                    } else {
                        seq[p as usize]
                    }
                })
                .collect();
            ensure(piece == expected, || {
                format!(
                    "served piece differs: `{name}`:{a}-{b}: {}",
                    first_difference(&piece, &expected)
                )
            })?;
        }
    }
    Ok(Verdict::Accepted)
}
