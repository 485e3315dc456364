//! The Python package (`crates/biobatch-py`): its tests and its wheel.
//!
//! Both use a virtualenv under `target/py-venv` with maturin and the test dependencies;
//! torch (the large CUDA build from the package index) and lightning only with `--torch`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const MANIFEST: &str = "crates/biobatch-py/Cargo.toml";
const BASE: &[&str] = &[
    "maturin>=1.16,<2",
    "numpy",
    "pandas",
    "scipy",
    "pytest",
    // The S3-compatible server the remote-input tests start on 127.0.0.1.
    "moto[server]",
];
const TORCH: &[&str] = &["torch", "lightning", "cherimoya==0.3.1", "scvi-tools"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Cargo's target directory (`CARGO_TARGET_DIR`, else `target/` in the repository).
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// The virtualenv's python, with `extra` installed on top of maturin and the test tools.
fn venv(extra: &[&str]) -> Result<PathBuf> {
    let mut packages = BASE.to_vec();
    packages.extend_from_slice(extra);
    super::venv_in("target/py-venv", &packages)
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let ok = cmd
        .current_dir(root())
        .status()
        .with_context(|| what.to_string())?
        .success();
    if !ok {
        bail!("{what} failed");
    }
    Ok(())
}

fn in_venv(python: &Path, program: &str) -> Command {
    let bin = python.parent().unwrap_or(Path::new("."));
    let mut c = Command::new(bin.join(program));
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![bin.to_path_buf()];
    paths.extend(std::env::split_paths(&path));
    c.env("VIRTUAL_ENV", bin.parent().unwrap_or(bin));
    if let Ok(joined) = std::env::join_paths(paths) {
        c.env("PATH", joined);
    }
    c
}

/// Installs the test virtualenv (with `torch`'s extras when asked) and returns the path of
/// moto's S3 server in it, for the Rust tests of remote inputs.
pub(crate) fn moto_server(torch: bool) -> Result<PathBuf> {
    let python = venv(if torch { TORCH } else { &[] })?;
    let bin = python
        .parent()
        .unwrap_or(Path::new("."))
        .join("moto_server");
    if !bin.exists() {
        bail!("moto[server] is installed but {} is missing", bin.display());
    }
    Ok(bin)
}

/// Builds the extension into the virtualenv (`maturin develop`) and runs pytest on
/// `crates/biobatch-py/tests` against the `biobatch` binary the Rust tests built.
pub(crate) fn test(torch: bool) -> Result<()> {
    let python = venv(if torch { TORCH } else { &[] })?;
    run(
        in_venv(&python, "maturin").args([
            "develop",
            "--quiet",
            "-m",
            MANIFEST,
            // The package's features (pyproject.toml: kipoi, zarr, remote) and HDF5 /
            // `.h5ad`, which the tests cover (the HDF5 library is installed by then).
            "--features",
            "pyo3/extension-module,kipoi,zarr,remote,h5ad",
        ]),
        "maturin develop (building the Python extension)",
    )?;
    let exe = target_dir().join("debug/biobatch");
    if !exe.exists() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        run(
            Command::new(cargo).args(["build", "-p", "biobatch"]),
            "cargo build -p biobatch",
        )?;
    }
    run(
        in_venv(&python, "python")
            .args(["-m", "pytest", "-q", "crates/biobatch-py/tests"])
            .env("BIOBATCH_BIN", &exe),
        "the Python tests",
    )
}

/// Writes the abi3 wheel (CPython ≥ 3.10) under `target/wheels`; prints its path.
pub(crate) fn wheel() -> Result<()> {
    let python = venv(&[])?;
    let out = target_dir().join("wheels");
    run(
        in_venv(&python, "maturin")
            .args(["build", "--release", "-m", MANIFEST, "-o"])
            .arg(&out),
        "maturin build",
    )?;
    println!("{}", out.display());
    Ok(())
}

/// Installs the package, built in release, into the virtualenv of `python`.
pub(crate) fn develop_release(python: &Path) -> Result<()> {
    run(
        in_venv(python, "maturin").args(["develop", "--quiet", "--release", "-m", MANIFEST]),
        "maturin develop --release",
    )
}

/// `cargo xtask bench python`: the release extension in its own virtualenv
/// (`target/py-bench-venv`), the release `biobatch` binary, then `xtask/bench/python_loader.py`
/// (crossing cost per batch; a Python loop over `PeakGenerator` against `peaks bench`), with
/// torch in that virtualenv when `torch` is set.
pub(crate) fn bench(data: &Path, runs: usize, torch: bool) -> Result<()> {
    let mut packages = vec!["maturin>=1.16,<2", "numpy"];
    if torch {
        packages.push("torch");
    }
    let python = super::venv_in("target/py-bench-venv", &packages)?;
    develop_release(&python)?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run(
        Command::new(cargo).args(["build", "--release", "-p", "biobatch"]),
        "cargo build --release -p biobatch",
    )?;
    let exe = target_dir().join("release/biobatch");
    run(
        in_venv(&python, "python")
            .arg("xtask/bench/python_loader.py")
            .arg(data)
            .arg(&exe)
            .arg(runs.to_string()),
        "the Python benchmark",
    )
}
