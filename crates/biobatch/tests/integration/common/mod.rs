//! Running the command line as a user would, for the CLI tests.
#![allow(dead_code)] // each test binary uses some of these

pub(crate) use std::path::PathBuf;
pub(crate) use std::process::{Command, Output};

pub(crate) fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data")
        .join(name)
}

/// Runs the binary with its default cache directory inside the test target directory.
pub(crate) fn biobatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_biobatch"))
        .env(
            "BIOBATCH_CACHE_DIR",
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-cache"),
        )
        .args(args)
        .output()
        .expect("the binary runs")
}

pub(crate) fn tsv(name: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(data(name))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

pub(crate) fn lines(out: Output) -> Vec<String> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

pub(crate) fn soma_fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/soma")
        .join(name)
}

/// `biobatch zoo` with a config file of our own (a local source holding real Kipoi specs).
pub(crate) fn zoo(args: &[&str], config: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_biobatch"))
        .env("BIOBATCH_ZOO_CONFIG", config)
        .env(
            "BIOBATCH_CACHE_DIR",
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-cache"),
        )
        .args(args)
        .output()
        .expect("the binary runs")
}
