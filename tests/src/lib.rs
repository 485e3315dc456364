//! Helpers for the integration tests: where the fixtures are and how to read the expected
//! values that independent tools (samtools, pyBigWig) wrote. See `tests/data/README.md`.

use std::path::PathBuf;

pub mod servers;

/// The path of a file in `tests/data/`.
pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name)
}

/// Rows of a tab-separated file with a header line, as `Vec<String>` per row.
pub fn read_tsv(name: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(data(name))
        .unwrap_or_else(|e| panic!("cannot read fixture {name}: {e}"));
    text.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}
