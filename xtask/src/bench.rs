//! Runs the `biobatch-bench` binary (crate `biobatch-benches`, built in release on demand):
//! the benchmark areas that run in-process, and our side of some comparisons. It is a binary
//! of its own so that `xtask` does not link the model stack.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// `cargo run --release -p biobatch-benches` with `features` and `args`.
fn command(features: &[&str], args: &[&str]) -> Command {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    // The working directory stays ours: dataset paths are relative to it.
    cmd.args(["run", "--release", "--quiet", "--manifest-path"])
        .arg(manifest)
        .args(["-p", "biobatch-benches"])
        .args(["--bin", "biobatch-bench"]);
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    cmd.arg("--").args(args);
    cmd
}

/// Runs an area, its JSON lines going straight to our standard output.
pub fn run(features: &[&str], args: &[&str]) -> Result<()> {
    let ok = command(features, args)
        .status()
        .context("could not run cargo")?
        .success();
    if !ok {
        bail!("biobatch-bench {} failed", args.join(" "));
    }
    Ok(())
}

/// Runs a command of the bench binary and parses every line it prints as JSON.
pub fn lines(features: &[&str], args: &[&str]) -> Result<Vec<Value>> {
    let out = command(features, args)
        .stderr(Stdio::inherit())
        .output()
        .context("could not run cargo")?;
    if !out.status.success() {
        bail!("biobatch-bench {} failed", args.join(" "));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .with_context(|| format!("biobatch-bench printed a line that is not JSON: {l}"))
        })
        .collect()
}
