//! `cargo xtask fuzz`: builds `biobatch-fuzz` in release mode and runs its targets for a
//! bounded time, keeping what they find under `fuzz/crashers/<target>/`.
//!
//! A run that aborts (an allocation past the fuzzer's limit, a hang, a stack overflow)
//! leaves the case it was running in the scratch folder; it is copied to the crashers as
//! `abort-<seed>-<iteration>/` and the target goes on from the next iteration.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Every target of `biobatch-fuzz --list`, in its order.
fn all_targets(bin: &Path) -> Result<Vec<String>> {
    let out = Command::new(bin).arg("--list").output()?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dst = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &dst)?;
        } else {
            std::fs::copy(e.path(), dst)?;
        }
    }
    Ok(())
}

/// Options of [`run`].
pub struct FuzzArgs {
    pub seconds: u64,
    pub targets: Vec<String>,
    pub seed: Option<u64>,
}

pub fn run(root: &Path, args: FuzzArgs) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let ok = Command::new(&cargo)
        .current_dir(root)
        .args(["build", "--release", "-p", "biobatch-fuzz"])
        .status()?
        .success();
    if !ok {
        bail!("building biobatch-fuzz failed");
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target_dir.join("release/biobatch-fuzz");
    let scratch = target_dir.join("fuzz-scratch");
    let crashers = root.join("fuzz/crashers");
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs())
    });
    let targets = if args.targets.is_empty() {
        all_targets(&bin)?
    } else {
        args.targets
    };
    eprintln!(
        "fuzzing {} for {} s each with seed {seed} (rerun with --seed {seed} to repeat)",
        targets.join(", "),
        args.seconds
    );
    let mut found = 0usize;
    for t in &targets {
        let budget = Duration::from_secs(args.seconds);
        let started = Instant::now();
        let mut first = 0u64;
        let mut aborts = Vec::new();
        let mut lines = Vec::new();
        while started.elapsed() < budget {
            let left = (budget - started.elapsed()).as_secs().max(1);
            let out = Command::new(&bin)
                .current_dir(root)
                .args(["--target", t, "--seed", &seed.to_string()])
                .args([
                    "--first",
                    &first.to_string(),
                    "--seconds",
                    &left.to_string(),
                ])
                .arg("--crashers")
                .arg(&crashers)
                .arg("--scratch")
                .arg(&scratch)
                .output()
                .with_context(|| format!("running {}", bin.display()))?;
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            lines.extend(stdout.lines().map(str::to_string));
            if out.status.code().is_some_and(|c| c == 0 || c == 1) {
                eprint!("{stderr}");
                break;
            }
            // Aborted: find the iteration, keep the case, go on after it.
            let iteration = stderr
                .split("in iteration")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .and_then(|s| s.parse::<u64>().ok());
            let Some(iteration) = iteration else {
                bail!("biobatch-fuzz stopped without saying where:\n{stderr}");
            };
            // Readers under test may print too; the fuzzer's own line says what happened.
            let headline = stderr
                .lines()
                .find(|l| l.starts_with("biobatch-fuzz:") || l.starts_with("memory allocation"))
                .unwrap_or("")
                .to_string();
            if !headline.contains("(a hang)") {
                let at = crashers.join(t).join(format!("abort-{seed}-{iteration}"));
                copy_dir(&scratch.join(t).join("input"), &at)?;
                let from = stderr.find(&headline).unwrap_or(0);
                std::fs::write(at.with_extension("txt"), &stderr[from..])?;
            }
            eprintln!("{t}: iteration {iteration} aborted: {headline}");
            aborts.push(headline);
            first = iteration + 1;
        }
        // One line per target: the runs' counts added up.
        let mut total = serde_json::json!({"target": t, "seed": seed, "seconds": started.elapsed().as_secs(),
            "executions": 0, "refused": 0, "accepted": 0, "unverified": 0, "findings": [], "aborts": aborts});
        for l in &lines {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(l) else {
                continue;
            };
            for k in ["executions", "refused", "accepted", "unverified"] {
                total[k] = (total[k].as_u64().unwrap_or(0) + v[k].as_u64().unwrap_or(0)).into();
            }
            if let (Some(all), Some(new)) =
                (total["findings"].as_array_mut(), v["findings"].as_array())
            {
                all.extend(new.iter().cloned());
            }
        }
        found += total["findings"].as_array().map_or(0, Vec::len)
            + total["aborts"].as_array().map_or(0, Vec::len);
        println!("{total}");
    }
    if found > 0 {
        bail!("{found} finding(s), saved under {}", crashers.display());
    }
    Ok(())
}
