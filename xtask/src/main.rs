//! Project automation for biobatch: `cargo xtask <command>`.

mod arrays;
mod bench;
mod compare;
mod fuzz;
mod gen_cells;
mod gen_data;
mod gpu;
mod python;

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "biobatch project automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What `gen-data` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DataKind {
    /// The peak dataset (genome, peaks, negatives, bigWigs).
    Peaks,
    /// A single-cell store (and optionally its 10x MatrixMarket files).
    Cells,
    /// A holodec-shaped netCDF4 file (images with ragged particles), `OUT/holodec.nc`.
    Arrays,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a deterministic synthetic dataset: `peaks` (FASTA, narrowPeak, BED, bigWigs),
    /// `cells` (a single-cell store and, with --mtx, a 10x MatrixMarket directory) or
    /// `arrays` (a holodec-shaped netCDF4 file, written by netCDF4-python in `.venv`).
    GenData {
        /// What to generate.
        #[arg(value_enum, default_value_t = DataKind::Peaks)]
        kind: DataKind,
        /// `peaks`: `small` (~1 Mb, tests and examples) or `bench` (~100 Mb, benchmarks).
        #[arg(long, value_enum, default_value_t = gen_data::Scale::Small)]
        scale: gen_data::Scale,
        /// `cells`: number of cells.
        #[arg(long, default_value_t = 100_000)]
        cells: usize,
        /// `cells`: number of genes.
        #[arg(long, default_value_t = 20_000)]
        genes: usize,
        /// `cells`: mean expressed genes per cell.
        #[arg(long, default_value_t = 2_000)]
        nnz_per_cell: usize,
        /// `cells`: also write the matrix as a 10x MatrixMarket directory (`OUT/mtx`).
        #[arg(long)]
        mtx: bool,
        /// `arrays`: images.
        #[arg(long, default_value_t = arrays::BENCH.images)]
        images: usize,
        /// `arrays`: image rows.
        #[arg(long, default_value_t = arrays::BENCH.xsize)]
        xsize: usize,
        /// `arrays`: image columns.
        #[arg(long, default_value_t = arrays::BENCH.ysize)]
        ysize: usize,
        /// `arrays`: mean particles per image.
        #[arg(long, default_value_t = arrays::BENCH.particles)]
        particles: usize,
        /// `arrays`: images per on-disk chunk.
        #[arg(long, default_value_t = arrays::BENCH.chunk)]
        chunk: usize,
        /// `arrays`: deflate level (0: uncompressed).
        #[arg(long, default_value_t = arrays::BENCH.level)]
        level: u32,
        /// `arrays`: also write the data as a Zarr v3 store (`OUT/holodec.zarr`, by xarray).
        #[arg(long)]
        zarr: bool,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Run the whole test suite: installs the system libraries the tests need (the HDF5
    /// library, for the HDF5 / netCDF4 reader and the `.h5ad` importer) when they are missing
    /// and a virtualenv under `target/py-venv` (maturin, pytest, moto's S3 server), then runs
    /// `cargo test` on the workspace with the `h5ad` (hence `hdf5`), `zarr` and `remote`
    /// features (the remote tests start their servers on 127.0.0.1 and stop them), then the
    /// Python package's tests (`maturin develop`, pytest). Extra arguments go to `cargo test`
    /// (with `--no-run` the Python tests are skipped).
    Test {
        /// Also install torch (the large build from the package index) and lightning into
        /// the virtualenv, so the tests that need them run instead of being skipped.
        #[arg(long)]
        torch: bool,
        /// Only the GPU path's opt-in checks: build with `wgpu` and with `vulkan`, then train
        /// and predict on this machine's Vulkan driver (Mesa's software one is installed
        /// where there is none) and compare with the CPU. Not part of the default run.
        #[arg(long)]
        gpu_builds: bool,
        /// Passed to `cargo test` (e.g. a test name filter after `--`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run a benchmark area and print one JSON line per case.
    Bench {
        /// Which area: `formats`, `sampling`, `loader`, `peaks`, `cells`, `arrays`, `train`,
        /// `zoo`, `remote` (the peak extraction and a cells epoch over HTTP, cold and warm,
        /// against local files; the cells cases when `bench-cells` exists) or `python` (the
        /// Python package: crossing cost, a Python loop against `peaks bench`).
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
        /// Where `train` runs the model: `cpu`, `wgpu` / `wgpu:N` or `vulkan` / `vulkan:N` (the
        /// bench binary is then built with the `wgpu` or `vulkan` feature).
        #[arg(long, default_value = "cpu")]
        device: String,
        /// `python`: also install torch (the large build from the package index) in the
        /// benchmark's virtualenv, so the Python loop turns each batch into torch tensors, as
        /// a training loop does (numpy arrays without it; once installed, it stays: the
        /// output's `tensors` field says which ran).
        #[arg(long)]
        torch: bool,
    },
    /// Build the Python package's abi3 wheel (CPython ≥ 3.10) under `target/wheels`, with
    /// maturin from a virtualenv under `target/py-venv`.
    Wheel,
    /// Prepare `.gpu/` for the GPU check on a lent machine without a Rust toolchain: the
    /// release `biobatch` with `vulkan` (stripped) and Debian's Vulkan loader. Then
    /// `bash xtask/device/gpu_check.sh` there, carrying `.gpu`.
    GpuBundle,
    /// Fuzz the readers (FASTA + .fai, BED, bigWig, .npy/.npz, 10x import, the store, zoo
    /// specs) against independent oracles for a bounded time; findings are saved under
    /// `fuzz/crashers/<target>/` and replayed by the test suite.
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Only this target (repeatable): fasta, bed, bigwig, npy, mtx, store, spec.
        #[arg(long = "target")]
        targets: Vec<String>,
        /// The seed (default: the current time; printed, so a run can be repeated).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Run a peer side by side with biobatch on the same files (installs it in `.venv`).
    Compare {
        /// Which comparison: `bigwig` (pyBigWig, one 1 kb window per call), `peaks`
        /// (cherimoya's PeakGenerator against `biobatch peaks bench`), `cells`
        /// (TileDB-SOMA-ML against `biobatch cells bench`), `arrays` (an xarray Dataset in a
        /// PyTorch DataLoader, and xbatcher, against `biobatch arrays bench`) or `zoo`
        /// (kipoiseq's SeqIntervalDl against ours) or `train` (bpnet-lite's PyTorch BPNet
        /// training on the CPU against burn's, both fed by our loader), same files and
        /// settings.
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
        /// `peaks` / `cells`: also run the Python package (release build) through the peer's
        /// Python loop (`biobatch.PeakGenerator`, `biobatch.cells.ExperimentDataset`).
        #[arg(long)]
        python: bool,
        /// `arrays`: timed batches of 32 per peer; `train`: batches of 64 trained per run
        /// (a sensible figure there is 20).
        #[arg(long, default_value_t = 40)]
        batches: usize,
    },
}

/// Where the arrays benchmarks keep their file: `bench-arrays` unless `--data` names
/// another directory.
fn arrays_dir(data: &std::path::Path) -> PathBuf {
    if data == std::path::Path::new("bench-data") {
        PathBuf::from("bench-arrays")
    } else {
        data.to_path_buf()
    }
}

/// Where the cells benchmarks keep their dataset: `bench-cells` unless `--data` names
/// another directory.
fn cells_dir(data: &std::path::Path) -> PathBuf {
    if data == std::path::Path::new("bench-data") {
        PathBuf::from("bench-cells")
    } else {
        data.to_path_buf()
    }
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
    venv_in(".venv", packages)
}

/// A virtualenv in `name` (under the repository root) with `packages` installed, for peers
/// whose pins would disturb the others (Kipoi pins old numpy/pandas ranges).
fn venv_in(name: &str, packages: &[&str]) -> Result<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = root.join(name);
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

/// The cells bench dataset in `dir` (100,000 cells × 20,000 genes, ~2,000 non-zeros per
/// cell, seed 1), generated when missing.
fn ensure_cells_data(dir: &std::path::Path) -> Result<()> {
    if !dir.join("store/manifest.json").exists() {
        eprintln!(
            "generating the cells bench dataset in {} ...",
            dir.display()
        );
        let spec = gen_cells::CellsSpec {
            cells: 100_000,
            genes: 20_000,
            nnz_per_cell: 2_000,
            seed: 1,
        };
        eprintln!("{}", gen_cells::generate(&spec, dir, true)?);
    }
    Ok(())
}

/// Whether the HDF5 development files are installed (pkg-config knows `hdf5`).
fn have_hdf5() -> bool {
    std::process::Command::new("pkg-config")
        .args(["--exists", "hdf5"])
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `apt-get ARGS` as root or through `sudo -n`; explains what to do when neither is
/// possible.
pub(crate) fn apt(args: &[&str]) -> Result<()> {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let sudo_ok = !root
        && std::process::Command::new("sudo")
            .args(["-n", "true"])
            .status()
            .is_ok_and(|s| s.success());
    if !root && !sudo_ok {
        bail!(
            "this needs `apt-get {}` as root: run it (Debian/Ubuntu) and try again",
            args.join(" ")
        );
    }
    let mut cmd = if root {
        std::process::Command::new("apt-get")
    } else {
        let mut c = std::process::Command::new("sudo");
        c.args(["-n", "apt-get"]);
        c
    };
    let ok = cmd
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()?
        .success();
    if !ok {
        bail!("apt-get {} failed", args.join(" "));
    }
    Ok(())
}

/// Installs Debian's `libhdf5-dev` (and pkg-config), needed by the HDF5 / netCDF4 and
/// `.h5ad` tests.
fn install_hdf5() -> Result<()> {
    eprintln!("installing libhdf5-dev (needed by the HDF5 / netCDF4 and .h5ad tests) ...");
    apt(&["update", "-qq"])?;
    apt(&["install", "-y", "-qq", "libhdf5-dev", "pkg-config"])
}

/// The features the Rust tests run with: the HDF5 / `.h5ad`, Zarr and remote-input code.
const TEST_FEATURES: &str = "biobatch-tests/h5ad,biobatch-tests/zarr,biobatch-tests/remote,\
                             biobatch/h5ad,biobatch/zarr,biobatch/remote";

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Test {
            gpu_builds: true, ..
        } => gpu::test()?,
        Command::Test { torch, args, .. } => {
            if !have_hdf5() {
                install_hdf5()?;
            }
            let no_run = args.iter().any(|a| a == "--no-run");
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
            let mut cmd = std::process::Command::new(cargo);
            cmd.current_dir(root)
                .args([
                    "test",
                    "--workspace",
                    "--exclude",
                    "biobatch-py",
                    "--features",
                    TEST_FEATURES,
                ])
                .args(&args);
            if !no_run {
                // The remote-input tests start moto's S3 server; here it must be there.
                cmd.env("BIOBATCH_MOTO_SERVER", python::moto_server(torch)?)
                    .env("BIOBATCH_REQUIRE_SERVERS", "1");
            }
            if !cmd.status()?.success() {
                bail!("tests failed");
            }
            if !no_run {
                python::test(torch)?;
            }
        }
        Command::GenData {
            kind,
            scale,
            cells,
            genes,
            nnz_per_cell,
            mtx,
            images,
            xsize,
            ysize,
            particles,
            chunk,
            level,
            zarr,
            out,
            seed,
        } => match kind {
            DataKind::Peaks => println!("{}", gen_data::generate(scale, &out, seed)?),
            DataKind::Cells => {
                let spec = gen_cells::CellsSpec {
                    cells,
                    genes,
                    nnz_per_cell,
                    seed,
                };
                println!("{}", gen_cells::generate(&spec, &out, mtx)?);
            }
            DataKind::Arrays => {
                let spec = arrays::HolodecSpec {
                    images,
                    xsize,
                    ysize,
                    particles,
                    chunk,
                    level,
                    seed,
                    zarr,
                };
                println!("{}", arrays::generate(&spec, &out)?.display());
            }
        },
        Command::Bench {
            area,
            data,
            runs,
            quick,
            only,
            device,
            torch,
        } => {
            if area == "formats" || area == "peaks" || area == "python" {
                ensure_bench_data(&data)?;
            }
            let data_arg = match area.as_str() {
                "cells" => cells_dir(&data),
                _ => data.clone(),
            };
            if area == "cells" {
                ensure_cells_data(&data_arg)?;
            }
            if area == "train" || area == "zoo" || area == "remote" {
                ensure_bench_data(&data)?;
            }
            match area.as_str() {
                "python" => python::bench(&data, runs, torch)?,
                "arrays" => arrays::bench(&arrays_dir(&data), runs)?,
                "formats" | "sampling" | "loader" | "cells" | "train" | "peaks" | "zoo"
                | "remote" => {
                    let data_s = data_arg.display().to_string();
                    let runs_s = runs.to_string();
                    let mut args = vec![area.as_str(), "--data", &data_s, "--runs", &runs_s];
                    if quick {
                        args.push("--quick");
                    }
                    if let Some(o) = &only {
                        args.extend(["--only", o]);
                    }
                    let cells = cells_dir(&PathBuf::from("bench-data"));
                    let cells_s = cells.display().to_string();
                    if area == "remote" && cells.join("store/manifest.json").exists() {
                        args.extend(["--cells", &cells_s]);
                    }
                    let mut features = Vec::new();
                    if area == "train" {
                        args.extend(["--device", &device]);
                        if device.starts_with("wgpu") {
                            features.push("wgpu");
                        } else if device.starts_with("vulkan") {
                            features.push("vulkan");
                        }
                    }
                    bench::run(&features, &args)?;
                }
                other => {
                    bail!(
                        "unknown bench area `{other}` (available: formats, sampling, loader, peaks, cells, arrays, train, zoo, remote, python)"
                    )
                }
            }
        }
        Command::Wheel => python::wheel()?,
        Command::GpuBundle => gpu::bundle()?,
        Command::Fuzz {
            seconds,
            targets,
            seed,
        } => {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
            fuzz::run(
                &root,
                fuzz::FuzzArgs {
                    seconds,
                    targets,
                    seed,
                },
            )?
        }
        Command::Compare {
            what,
            data,
            runs,
            windows,
            epochs,
            python,
            batches,
        } => {
            if what == "bigwig" || what == "peaks" || what == "train" {
                ensure_bench_data(&data)?;
            }
            match what.as_str() {
                "bigwig" => compare::bigwig(&data, runs, windows)?,
                "peaks" => compare::peaks(&data, epochs, python)?,
                "cells" => {
                    let dir = cells_dir(&data);
                    ensure_cells_data(&dir)?;
                    compare::cells(&dir, epochs, python)?
                }
                "zoo" => {
                    ensure_bench_data(&data)?;
                    compare::zoo(&data, epochs)?
                }
                "arrays" => arrays::compare(&arrays_dir(&data), batches)?,
                "train" => compare::train(&data, runs, batches)?,
                other => {
                    bail!(
                        "unknown comparison `{other}` (available: bigwig, peaks, cells, arrays, zoo, train)"
                    )
                }
            }
        }
    }
    Ok(())
}
