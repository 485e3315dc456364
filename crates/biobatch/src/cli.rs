//! Command-line definitions and dispatch.

mod arrays;
mod cells;
mod peaks;
mod train;
mod view;
mod zoo;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

/// Fast, reproducible data loading for deep learning on genomic and single-cell data.
///
/// Coordinates typed on the command line are samtools-style regions: `chr:start-end`,
/// 1-based with both ends inclusive (`chr` alone is the whole sequence). Inside biobatch
/// everything is 0-based and half-open.
#[derive(Debug, Parser)]
#[command(name = "biobatch", version, propagate_version = true)]
pub(crate) struct Cli {
    /// More log output (-v: debug, -vv: trace); `BIOBATCH_LOG` overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// The folder of the bundled examples (`--example`, the bundled zoo) [default:
    /// $BIOBATCH_EXAMPLES, else `examples` in the working directory or above it, else beside
    /// or above the executable].
    #[arg(long, global = true)]
    examples_dir: Option<PathBuf>,
    /// The most bytes the local block cache of URL inputs keeps (`500M`, `20G`); least
    /// recently used blocks go first [default: $BIOBATCH_CACHE_LIMIT, else 20G]. The blocks
    /// live under the cache directory (`--cache-dir` where a command has it, else
    /// $BIOBATCH_CACHE_DIR, else $XDG_CACHE_HOME/biobatch, else ~/.cache/biobatch).
    #[arg(long, global = true, value_parser = biobatch::formats::remote::parse_size)]
    cache_limit: Option<u64>,
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// The tracing filter implied by `-v` / `-q`.
    pub(crate) fn log_level(&self) -> &'static str {
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
    /// Array files (HDF5 / netCDF4, .npz, .npy): list their variables, benchmark and digest
    /// the array loader (ragged targets, chunk-aware shuffling).
    #[command(subcommand)]
    Arrays(Box<arrays::Arrays>),
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
    /// List the devices a model can run on here: `cpu`, and the graphics adapters wgpu finds
    /// (in a build with `--features wgpu` or `vulkan`), as JSON.
    Devices,
    /// Write the `.fai` index of a FASTA file (plain or bgzip) next to it.
    Index {
        /// The FASTA file.
        fasta: PathBuf,
    },
}

/// Whether an error is only the reader of our output going away (`biobatch view … | head`).
pub(crate) fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// An error and its causes on one line: each cause whose message the text so far does not
/// already hold is appended after `: ` (the library's errors name their sources' messages
/// themselves; a context added on top of one, such as the file a TOML error is in, does not).
pub(crate) fn one_line(e: &anyhow::Error) -> String {
    biobatch::core::one_line(e.as_ref())
}

/// Writes `text` to standard output (a closed pipe is reported as such, not a crash).
pub(crate) fn out(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut w = std::io::stdout().lock();
    w.write_all(text.as_bytes())?;
    w.flush()?;
    Ok(())
}

/// This process's partition for the chunk-shuffled datasets (cells, arrays): `rank` /
/// `world_size` when given, else `$RANK` / `$WORLD_SIZE` as torchrun sets them, else one rank;
/// contiguous blocks of the stream with equal counts, so each rank reads whole chunks.
pub(crate) fn contiguous_partition(
    rank: Option<u64>,
    world_size: Option<u64>,
) -> anyhow::Result<biobatch::sampling::Partition> {
    use biobatch::sampling::{Layout, Partition, Policy};
    let var = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let rank = rank.or_else(|| var("RANK")).unwrap_or(0);
    let world = world_size.or_else(|| var("WORLD_SIZE")).unwrap_or(1);
    Ok(Partition::new(
        rank,
        world,
        Policy::Drop,
        Layout::Contiguous,
    )?)
}

/// `… digest`: one line per batch — epoch, index, hash of its bytes, the cursor after it.
pub(crate) fn digest_lines(
    loader: &biobatch::loader::Loader,
    resume: Option<&str>,
    epochs: u64,
    batches: u64,
) -> anyhow::Result<()> {
    let cursor: Option<biobatch::sampling::Cursor> = resume.map(str::parse).transpose()?;
    biobatch::loader::measure::each_batch::<anyhow::Error>(
        loader,
        cursor.as_ref(),
        epochs,
        batches,
        &mut |b| {
            out(&format!(
                "{}\t{}\t{:016x}\t{}\n",
                b.epoch(),
                b.index(),
                b.digest(),
                b.cursor_after()
            ))
        },
    )
}

/// One JSON value on its own line on standard output.
pub(crate) fn out_json(v: &serde_json::Value) -> anyhow::Result<()> {
    out(&format!("{v}\n"))
}

/// The bundled example files: `--examples-dir`, else found at run time (see
/// [`examples_dir`](biobatch::formats::fs::examples_dir)).
pub(crate) fn examples(flag: Option<&std::path::Path>) -> anyhow::Result<PathBuf> {
    match flag {
        Some(d) => Ok(d.to_path_buf()),
        None => biobatch::formats::fs::examples_dir().ok_or_else(|| {
            anyhow::anyhow!(
                "the bundled examples were not found: run from the repository (or below it), \
                 set BIOBATCH_EXAMPLES to its `examples` folder, or give --examples-dir"
            )
        }),
    }
}

/// Sets how URL inputs are cached in this process: the byte limit (the flag, else
/// `$BIOBATCH_CACHE_LIMIT`) and the default cache folder.
fn configure_remote(limit: Option<u64>) -> anyhow::Result<()> {
    let mut o = biobatch::formats::remote::RemoteOptions::from_env()?;
    if let Some(l) = limit {
        o.cache_limit = l;
    }
    biobatch::formats::remote::configure(o)?;
    Ok(())
}

/// Keeps the blocks of URL inputs under `dir` (a command's `--cache-dir`).
pub(crate) fn remote_cache_dir(dir: &Path) {
    let mut o = biobatch::formats::remote::options();
    o.cache_dir = dir.to_path_buf();
    // The options were checked when they were first set; a folder cannot make them invalid.
    let _ = biobatch::formats::remote::configure(o);
}

/// Runs a parsed command line.
pub(crate) fn run(cli: Cli) -> anyhow::Result<()> {
    let ex = cli.examples_dir.as_deref();
    configure_remote(cli.cache_limit)?;
    match cli.command {
        Command::View(v) => view::run(v),
        Command::Peaks(p) => peaks::run(*p, ex),
        Command::Cells(c) => cells::run(*c),
        Command::Arrays(a) => arrays::run(*a),
        Command::Train(t) => train::run_train(t, ex),
        Command::Predict(p) => train::run_predict(p),
        Command::Zoo(z) => zoo::run(*z, ex),
        Command::Devices => train::run_devices(),
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
