//! `biobatch-bench`: runs one benchmark area in this process and prints one JSON line per case.
//!
//! `cargo xtask bench <area>` builds and runs it (in release, after generating the dataset
//! when it is missing); `cargo xtask compare` runs its `bigwig-ours` and `zoo-ours` commands
//! for our side of a comparison. Keeping the model stack here, out of `xtask`, keeps
//! `cargo xtask test` from compiling it in release.

use std::path::PathBuf;

use biobatch_benches::{cells, formats, loader, peaks, remote, sampling, train, zoo};
use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    name = "biobatch-bench",
    about = "biobatch benchmark areas (one JSON line per case)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What every area takes.
#[derive(Args)]
struct Common {
    /// The dataset directory (the peaks bench dataset, or the cells one for `cells`).
    #[arg(long, default_value = "bench-data")]
    data: PathBuf,
    /// Timed runs per case (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Fewer items per run: checks that the benchmark works, not how fast things are.
    #[arg(long)]
    quick: bool,
    /// Only cases whose name contains this.
    #[arg(long)]
    only: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Readers: bigWig windows, FASTA fetches, BED/narrowPeak lines.
    Formats(Common),
    /// Sampling plans: indices per second.
    Sampling(Common),
    /// The loader runtime against a no-op dataset.
    Loader(Common),
    /// The single-cell loader over a store.
    Cells(Common),
    /// The BPNet peak loader.
    Peaks(Common),
    /// BPNet training steps fed by the peak loader.
    Train {
        #[command(flatten)]
        common: Common,
        /// `cpu`, or `wgpu` / `wgpu:N` (a build with the `wgpu` feature), or `vulkan` /
        /// `vulkan:N` (a build with the `vulkan` feature).
        #[arg(long, default_value = "cpu")]
        device: String,
        /// Batches trained per run [20; 3 with `--quick`].
        #[arg(long)]
        batches: Option<u64>,
    },
    /// The model zoo's data loaders and predictions.
    Zoo(Common),
    /// The peak extraction and a cells epoch from files served over HTTP on 127.0.0.1,
    /// cold and warm, against the local files.
    Remote {
        #[command(flatten)]
        common: Common,
        /// The cells bench dataset (with `store/`), for the cells cases.
        #[arg(long)]
        cells: Option<PathBuf>,
    },
    /// Our side of `compare bigwig`: writes the 1 kb windows file the peer reads
    /// (`DATA/compare_windows_1kb.tsv`), then one JSON line per cache setting.
    BigwigOurs {
        #[command(flatten)]
        common: Common,
        /// Windows per run.
        #[arg(long, default_value_t = 20_000)]
        windows: usize,
    },
    /// Our side of `compare zoo`: writes the intervals file, then one JSON line per case and
    /// worker count with the case's `SeqIntervalDl` arguments, the file and `examples_per_s`.
    ZooOurs {
        #[command(flatten)]
        common: Common,
        /// Epochs per case (the median epoch is reported).
        #[arg(long, default_value_t = 3)]
        epochs: usize,
    },
}

fn main() {
    if let Err(e) = run(Cli::parse().command) {
        eprintln!("biobatch-bench: {e}");
        std::process::exit(1);
    }
}

fn run(command: Command) -> Result<(), String> {
    let mut emit = |v: Value| println!("{v}");
    match command {
        Command::Formats(c) => formats::run(
            &formats::Options {
                data: c.data,
                runs: c.runs,
                quick: c.quick,
                only: c.only,
            },
            &mut emit,
        ),
        Command::Sampling(c) => sampling::run(
            &sampling::Options {
                runs: c.runs,
                quick: c.quick,
            },
            &mut emit,
        ),
        Command::Loader(c) => loader::run(
            &loader::Options {
                runs: c.runs,
                quick: c.quick,
            },
            &mut emit,
        ),
        Command::Cells(c) => cells::run(
            &cells::Options {
                data: c.data,
                runs: c.runs,
                workers: 2,
                only: c.only,
            },
            &mut emit,
        ),
        Command::Peaks(c) => peaks::run(
            &peaks::Options {
                data: c.data,
                runs: c.runs,
                workers: 2,
            },
            &mut emit,
        ),
        Command::Train {
            common,
            device,
            batches,
        } => train::run(
            &train::Options {
                data: common.data,
                batches: batches.unwrap_or(if common.quick { 3 } else { 20 }),
                only: common.only,
                runs: common.runs,
                workers: 2,
                device: device.parse().map_err(|e| format!("--device: {e}"))?,
            },
            &mut emit,
        ),
        Command::Zoo(c) => zoo::run(
            &zoo::Options {
                data: c.data,
                runs: c.runs,
                intervals: if c.quick { 2_000 } else { 20_000 },
                only: c.only,
            },
            &mut emit,
        ),
        Command::Remote { common, cells } => remote::run(
            &remote::Options {
                data: common.data,
                cells,
                runs: common.runs,
                batches: common.quick.then_some(20),
            },
            &mut emit,
        ),
        Command::BigwigOurs { common, windows } => {
            let wfile = common.data.join("compare_windows_1kb.tsv");
            let ws = formats::write_compare_windows(&common.data, windows, &wfile)?;
            let default_cache = biobatch_formats::bigwig::ReadOptions::default().cache_bytes;
            for cache in [default_cache, 0] {
                emit(formats::time_per_call(
                    &common.data,
                    &ws,
                    common.runs,
                    cache,
                )?);
            }
            Ok(())
        }
        Command::ZooOurs { common, epochs } => {
            let bed = zoo::write_intervals(&common.data, 20_000)?;
            let fasta = common.data.join("genome.fa");
            for (name, args) in zoo::seqintervaldl_cases() {
                for workers in [0usize, 2] {
                    let rate = zoo::seqintervaldl_rate(&bed, &fasta, &args, workers, epochs)?;
                    emit(
                        json!({"case": name, "args": args, "bed": bed, "workers": workers,
                                "examples_per_s": rate}),
                    );
                }
            }
            Ok(())
        }
    }
}
