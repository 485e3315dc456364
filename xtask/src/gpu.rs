//! The GPU path's opt-in work: `cargo xtask test --gpu-builds` (the `wgpu` and `vulkan` builds,
//! and training and prediction on whatever Vulkan driver this machine has, Mesa's software
//! one included) and `cargo xtask gpu-bundle` (what `xtask/device/gpu_check.sh` needs on a GPU
//! machine without a Rust toolchain, under `.gpu/`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root());
    c
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    if !cmd.status().with_context(|| what.to_string())?.success() {
        bail!("{what} failed");
    }
    Ok(())
}

/// Whether a Vulkan driver is installed (a Mesa or vendor ICD manifest).
fn have_vulkan_driver() -> bool {
    ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d"]
        .iter()
        .any(|d| std::fs::read_dir(d).is_ok_and(|mut e| e.next().is_some()))
}

/// `cargo xtask test --gpu-builds`: builds the command line with `wgpu` and with `vulkan`,
/// then runs the BPNet tests with `wgpu` on this machine's Vulkan driver (installing Mesa's
/// software driver, `mesa-vulkan-drivers`, where there is none), requiring the device to open.
/// The `vulkan` build's SPIR-V kernels crash lavapipe's pipeline compiler (Mesa 22.3 and
/// 25.0, inside `vkCreateComputePipelines`), so on a software driver only the `wgpu` build
/// (WGSL kernels on the same Vulkan driver) is run; `BIOBATCH_TEST_DEVICE=vulkan` with
/// `--features vulkan` runs the same test on a real GPU.
pub(crate) fn test() -> Result<()> {
    for feature in ["wgpu", "vulkan"] {
        eprintln!("building biobatch with `{feature}` ...");
        run(
            cargo().args(["build", "-p", "biobatch", "--features", feature]),
            &format!("cargo build -p biobatch --features {feature}"),
        )?;
    }
    if !have_vulkan_driver() {
        eprintln!("installing Mesa's software Vulkan driver (mesa-vulkan-drivers) ...");
        super::apt(&["install", "-y", "-qq", "mesa-vulkan-drivers", "libvulkan1"])?;
    }
    run(
        cargo()
            .args([
                "test",
                "-p",
                "biobatch-bpnet",
                "--features",
                "wgpu",
                "--test",
                "integration",
            ])
            .env("BIOBATCH_REQUIRE_GPU", "1"),
        "the BPNet tests on the GPU (wgpu)",
    )
}

/// `cargo xtask gpu-bundle`: `.gpu/biobatch.gz` (the release command line with `vulkan`,
/// stripped and gzipped) and `.gpu/deb` (Debian's Vulkan loader, unpacked there when the image lacks it),
/// git-ignored, for `run(command="bash xtask/device/gpu_check.sh", carry=[".gpu"])`.
pub(crate) fn bundle() -> Result<()> {
    let root = root();
    let dir = root.join(".gpu");
    std::fs::create_dir_all(dir.join("deb"))?;
    ignore(&root, "/.gpu/")?;
    run(
        cargo().args([
            "build",
            "--release",
            "-p",
            "biobatch",
            "--features",
            "vulkan",
        ]),
        "cargo build --release -p biobatch --features vulkan",
    )?;
    // Stripped and gzipped: the stripped binary alone (about 70 MB) would not travel.
    let built = super::python::target_dir().join("release/biobatch");
    let bin = dir.join("biobatch");
    run(
        Command::new("strip").arg("-o").arg(&bin).arg(&built),
        "strip",
    )?;
    let _ = std::fs::remove_file(dir.join("biobatch.gz"));
    run(Command::new("gzip").arg("-9").arg(&bin), "gzip")?;
    let lists = std::env::temp_dir().join("biobatch-apt-amd64");
    std::fs::create_dir_all(lists.join("partial"))?;
    let opts = [
        "-oAPT::Architecture=amd64".to_string(),
        "-oAPT::Architectures=amd64".to_string(),
        format!("-oDir::State::Lists={}", lists.display()),
    ];
    run(
        Command::new("apt-get").args(&opts).args(["update", "-qq"]),
        "apt-get update (amd64 lists)",
    )?;
    run(
        Command::new("apt-get")
            .args(&opts)
            .args(["download", "libvulkan1"])
            .current_dir(dir.join("deb")),
        "apt-get download libvulkan1",
    )?;
    let size: u64 = walk(&dir)?;
    println!(
        "{} ({:.1} MiB): run(command=\"bash xtask/device/gpu_check.sh\", carry=[\".gpu\"], timeout_s=480)",
        dir.display(),
        size as f64 / (1 << 20) as f64
    );
    if size > 60 << 20 {
        bail!("{} is over 60 MiB: it would not travel", dir.display());
    }
    Ok(())
}

/// Adds `pattern` to the repository's `.git/info/exclude` once.
fn ignore(root: &Path, pattern: &str) -> Result<()> {
    let path = root.join(".git/info/exclude");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    if !text.lines().any(|l| l.trim() == pattern) {
        std::fs::create_dir_all(root.join(".git/info"))?;
        std::fs::write(&path, format!("{text}{pattern}\n"))?;
    }
    Ok(())
}

/// Bytes under `dir`.
fn walk(dir: &Path) -> Result<u64> {
    let mut n = 0;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let m = e.metadata()?;
        n += if m.is_dir() {
            walk(&e.path())?
        } else {
            m.len()
        };
    }
    Ok(n)
}
