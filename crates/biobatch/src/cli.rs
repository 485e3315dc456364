//! Command-line definitions and dispatch.

mod cells;
mod digest;
mod peaks;
mod train;
mod view;
mod zoo;

use std::fmt;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Fast, reproducible data loading for deep learning on genomic and single-cell data.
///
/// Coordinates typed on the command line are samtools-style regions: `chr:start-end`,
/// 1-based with both ends inclusive (`chr` alone is the whole sequence). Inside biobatch
/// everything is 0-based and half-open.
#[derive(Debug, Parser)]
#[command(name = "biobatch", version, propagate_version = true)]
pub struct Cli {
    /// More log output (-v: debug, -vv: trace); `BIOBATCH_LOG` overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// The tracing filter implied by `-v` / `-q`.
    pub fn log_level(&self) -> &'static str {
        match (self.quiet, self.verbose) {
            (true, _) => "error",
            (false, 0) => "warn",
            (false, 1) => "debug",
            (false, _) => "trace",
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the contents of genomic files.
    #[command(subcommand)]
    View(view::View),
    /// The BPNet peak/negative loader: benchmark it, digest its batches, check its inputs.
    #[command(subcommand)]
    Peaks(Box<peaks::Peaks>),
    /// Single-cell stores: import 10x / h5ad data, inspect a store, benchmark and digest the
    /// cell loader.
    #[command(subcommand)]
    Cells(Box<cells::Cells>),
    /// Train a model: `biobatch train bpnet --example` runs on the bundled data.
    #[command(subcommand)]
    Train(train::Train),
    /// Predict with a trained model.
    #[command(subcommand)]
    Predict(train::Predict),
    /// The model zoo: list, inspect, test and run models described by Kipoi's model.yaml
    /// and dataloader.yaml (`biobatch zoo test peak-cnn` runs the bundled one).
    #[command(subcommand)]
    Zoo(Box<zoo::Zoo>),
    /// Write the `.fai` index of a FASTA file (plain or bgzip) next to it.
    Index {
        /// The FASTA file.
        fasta: PathBuf,
    },
}

/// An error of the command line: a message and whether it is a closed output pipe.
pub struct CliError {
    message: String,
    broken_pipe: bool,
}

impl CliError {
    /// Whether the error is only the reader of our output going away.
    pub fn is_broken_pipe(&self) -> bool {
        self.broken_pipe
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<biobatch::formats::Error> for CliError {
    fn from(e: biobatch::formats::Error) -> Self {
        CliError {
            message: e.to_string(),
            broken_pipe: false,
        }
    }
}

impl From<biobatch::loader::Error> for CliError {
    fn from(e: biobatch::loader::Error) -> Self {
        CliError {
            message: e.to_string(),
            broken_pipe: false,
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError {
            broken_pipe: e.kind() == std::io::ErrorKind::BrokenPipe,
            message: format!("writing output: {e}"),
        }
    }
}

impl From<String> for CliError {
    fn from(message: String) -> Self {
        CliError {
            message,
            broken_pipe: false,
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::View(v) => view::run(v),
        Command::Peaks(p) => peaks::run(*p),
        Command::Cells(c) => cells::run(*c),
        Command::Train(t) => train::run_train(t),
        Command::Predict(p) => train::run_predict(p),
        Command::Zoo(z) => zoo::run(*z),
        Command::Index { fasta } => {
            let fa = biobatch::formats::fasta::Fasta::open_with(
                &fasta,
                &biobatch::formats::fasta::FastaOptions {
                    rebuild_index: true,
                    ..Default::default()
                },
            )?;
            let path = fa.write_index()?;
            eprintln!("wrote {} ({} sequences)", path.display(), fa.index().len());
            Ok(())
        }
    }
}
