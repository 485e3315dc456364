//! Project automation for biobatch: `cargo xtask <command>`.

mod compare;
mod gen_data;

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "biobatch project automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a deterministic synthetic dataset (FASTA, narrowPeak, BED, bigWigs).
    GenData {
        /// `small` (~1 Mb, tests and examples) or `bench` (~100 Mb, benchmarks).
        #[arg(long, value_enum, default_value_t = gen_data::Scale::Small)]
        scale: gen_data::Scale,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Run a benchmark area and print one JSON line per case.
    Bench {
        /// Which area: `formats`, `sampling`, `loader` or `peaks`.
        area: String,
        /// Bench dataset (generated with `gen-data --scale bench` if missing).
        #[arg(long, default_value = "bench-data")]
        data: PathBuf,
        /// Timed runs per case (the median is reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Fewer items per run: checks that the benchmark works, not how fast things are.
        #[arg(long)]
        quick: bool,
        /// Only cases whose name contains this (e.g. `bigwig`, `fasta`, `narrowpeak`).
        #[arg(long)]
        only: Option<String>,
    },
    /// Run a peer side by side with biobatch on the same files (installs it in `.venv`).
    Compare {
        /// Which comparison: `bigwig` (pyBigWig, one 1 kb window per call) or `peaks`
        /// (cherimoya's PeakGenerator against `biobatch peaks bench`, same files and settings).
        what: String,
        /// Bench dataset (generated with `gen-data --scale bench` if missing).
        #[arg(long, default_value = "bench-data")]
        data: PathBuf,
        /// Timed runs per side (the median is reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Windows per run (`bigwig`).
        #[arg(long, default_value_t = 20_000)]
        windows: usize,
        /// Epochs per side (`peaks`; the median epoch is reported).
        #[arg(long, default_value_t = 3)]
        epochs: usize,
    },
}

fn ensure_bench_data(data: &std::path::Path) -> Result<()> {
    if !data.join("MANIFEST.json").exists() {
        eprintln!("generating the bench dataset in {} ...", data.display());
        eprintln!("{}", gen_data::generate(gen_data::Scale::Bench, data, 1)?);
    }
    Ok(())
}

/// A virtualenv in `.venv` with `packages` installed; returns its python.
fn venv(packages: &[&str]) -> Result<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = root.join(".venv");
    let python = dir.join("bin/python");
    if !python.exists() {
        let ok = std::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&dir)
            .status()?
            .success();
        if !ok {
            bail!("could not create a virtualenv in {}", dir.display());
        }
    }
    let ok = std::process::Command::new(&python)
        .args(["-m", "pip", "install", "--quiet"])
        .args(packages)
        .status()?
        .success();
    if !ok {
        bail!("pip could not install {packages:?} (is the package index reachable?)");
    }
    Ok(python)
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::GenData { scale, out, seed } => {
            println!("{}", gen_data::generate(scale, &out, seed)?);
        }
        Command::Bench {
            area,
            data,
            runs,
            quick,
            only,
        } => {
            if area == "formats" || area == "peaks" {
                ensure_bench_data(&data)?;
            }
            let mut emit = |v: serde_json::Value| println!("{v}");
            match area.as_str() {
                "formats" => {
                    let opts = biobatch_benches::formats::Options {
                        data,
                        runs,
                        quick,
                        only,
                    };
                    biobatch_benches::formats::run(&opts, &mut emit).map_err(anyhow::Error::msg)?;
                }
                "sampling" => {
                    let opts = biobatch_benches::sampling::Options { runs, quick };
                    biobatch_benches::sampling::run(&opts, &mut emit)
                        .map_err(anyhow::Error::msg)?;
                }
                "loader" => {
                    let opts = biobatch_benches::loader::Options { runs, quick };
                    biobatch_benches::loader::run(&opts, &mut emit).map_err(anyhow::Error::msg)?;
                }
                "peaks" => {
                    let opts = biobatch_benches::peaks::Options {
                        data,
                        runs,
                        workers: 2,
                    };
                    biobatch_benches::peaks::run(&opts, &mut emit).map_err(anyhow::Error::msg)?;
                }
                other => {
                    bail!(
                        "unknown bench area `{other}` (available: formats, sampling, loader, peaks)"
                    )
                }
            }
        }
        Command::Compare {
            what,
            data,
            runs,
            windows,
            epochs,
        } => {
            ensure_bench_data(&data)?;
            match what.as_str() {
                "bigwig" => compare::bigwig(&data, runs, windows)?,
                "peaks" => compare::peaks(&data, epochs)?,
                other => bail!("unknown comparison `{other}` (available: bigwig, peaks)"),
            }
        }
    }
    Ok(())
}
