//! `cargo xtask gen-data arrays`, `bench arrays` and `compare arrays`: the holodec-shaped
//! netCDF4 file, the array loader on it, and the xarray + PyTorch loaders side by side.
//!
//! The file is written by netCDF4-python (a real netCDF4 file, as the peers read it), and
//! biobatch runs as the release `biobatch` binary built with the `hdf5` feature: xtask
//! itself never links the HDF5 library (it installs it for the tests).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::compare::{biobatch_binary, json_of};
use crate::venv;

/// The generated file's shape.
#[derive(Debug, Clone, Copy)]
pub struct HolodecSpec {
    /// Images (holograms).
    pub images: usize,
    /// Image size.
    pub xsize: usize,
    /// Image size.
    pub ysize: usize,
    /// Mean particles per image.
    pub particles: usize,
    /// Images per on-disk chunk.
    pub chunk: usize,
    /// Deflate level (0: uncompressed).
    pub level: u32,
    /// Seed.
    pub seed: u64,
    /// Also write the data as a Zarr v3 store (`holodec.zarr`).
    pub zarr: bool,
}

/// The benchmark file: 20,000 images of 600 × 400 u8, ~30 particles each, chunks of
/// 16 images, deflate level 1.
pub const BENCH: HolodecSpec = HolodecSpec {
    images: 20_000,
    xsize: 600,
    ysize: 400,
    particles: 30,
    chunk: 16,
    level: 1,
    seed: 1,
    zarr: false,
};

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(name)
}

/// Writes `out/holodec.nc` (netCDF4-python in `.venv`; with `zarr`, also `out/holodec.zarr`
/// through xarray) and prints what it wrote.
pub fn generate(spec: &HolodecSpec, out: &Path) -> Result<PathBuf> {
    let python = if spec.zarr {
        venv(&["numpy", "netCDF4", "xarray", "zarr", "dask"])?
    } else {
        venv(&["numpy", "netCDF4"])?
    };
    std::fs::create_dir_all(out)?;
    let file = out.join("holodec.nc");
    let tmp = out.join("holodec.nc.partial");
    let mut cmd = Command::new(python);
    cmd.arg(script("gen/arrays_holodec.py")).arg(&tmp);
    let v = json_of(
        cmd.args(
            [
                spec.images,
                spec.xsize,
                spec.ysize,
                spec.particles,
                spec.chunk,
                spec.level as usize,
                spec.seed as usize,
            ]
            .map(|n| n.to_string()),
        )
        .args(spec.zarr.then(|| out.join("holodec.zarr"))),
        "arrays_holodec.py",
    )?;
    std::fs::rename(&tmp, &file)?;
    eprintln!("{v}");
    Ok(file)
}

/// The bench file in `dir`, generated when missing.
fn ensure(dir: &Path) -> Result<PathBuf> {
    let file = dir.join("holodec.nc");
    if !file.exists() {
        eprintln!(
            "generating the holodec-shaped file in {} ...",
            dir.display()
        );
        generate(&BENCH, dir)?;
    }
    Ok(file)
}

/// `biobatch arrays bench` on the holodec file with the settings; `extra` adds flags.
fn ours(bin: &Path, file: &Path, extra: &[&str]) -> Result<Value> {
    let f = file.display().to_string();
    let mut cmd = Command::new(bin);
    cmd.args(["arrays", "bench", &f, "--inputs", "image"])
        .args([
            "--ragged",
            "x,y,z,d",
            "--ragged-by",
            "hid",
            "--ragged-base",
            "1",
        ])
        .args(["--sort-by", "d", "--flip", "1:x", "--flip", "2:y"])
        .args(["--batch-size", "32", "--workers", "2", "--seed", "1"])
        .args(extra);
    json_of(&mut cmd, "biobatch arrays bench")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn f(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or(f64::NAN)
}

/// `cargo xtask bench arrays`: `runs` epochs of shuffled batches of 32 with padded targets
/// and flips on 2 workers, the single-threaded decode of the same chunks as the baseline;
/// and a uniform (not chunk-aware) shuffle for a few batches, to show what it costs.
pub fn bench(dir: &Path, runs: usize) -> Result<()> {
    let file = ensure(dir)?;
    let bin = biobatch_binary(&["hdf5", "zarr"])?;
    let mut all = Vec::new();
    for _ in 0..runs.max(1) {
        let v = ours(&bin, &file, &["--baseline"])?;
        all.push(v);
    }
    let rates: Vec<f64> = all.iter().map(|v| f(v, "samples_per_s")).collect();
    let ratios: Vec<f64> = all.iter().map(|v| f(v, "ratio_to_serial_decode")).collect();
    let last = all.last().context("no run")?;
    println!(
        "{}",
        json!({
            "area": "arrays", "case": "holodec_chunked_shuffle_padded_2_workers",
            "runs": runs, "samples_per_s": median(rates.clone()), "samples_per_s_runs": rates,
            "loader_decode_bytes_per_s": median(all.iter().map(|v| f(v, "loader_decode_bytes_per_s")).collect()),
            "serial_decode_bytes_per_s": median(all.iter().map(|v| f(v, "serial_decode_bytes_per_s")).collect()),
            "ratio_to_serial_decode": median(ratios),
            "chunks_decoded_per_pass": f(last, "chunks_decoded") / 2.0,
            "chunks_per_epoch": last["chunks_per_epoch"],
            "peak_rss_mb": median(all.iter().map(|v| f(v, "peak_rss_mb")).collect()),
            "first_batch_s": median(all.iter().map(|v| f(v, "open_s") + f(v, "first_batch_s")).collect()),
        })
    );
    let zarr = dir.join("holodec.zarr");
    if zarr.exists() {
        // The same data as Zarr v3 (`gen-data arrays --zarr`), through zarrs.
        let v = ours(&bin, &zarr, &["--baseline"])?;
        println!(
            "{}",
            json!({
                "area": "arrays", "case": "holodec_zarr_v3_chunked_shuffle_padded_2_workers",
                "samples_per_s": f(&v, "samples_per_s"),
                "loader_decode_bytes_per_s": f(&v, "loader_decode_bytes_per_s"),
                "serial_decode_bytes_per_s": f(&v, "serial_decode_bytes_per_s"),
                "ratio_to_serial_decode": f(&v, "ratio_to_serial_decode"),
                "peak_rss_mb": f(&v, "peak_rss_mb"),
                "same_batches_as_netcdf4": v["digest"] == last["digest"],
            })
        );
    }
    let full = ours(&bin, &file, &["--full-shuffle", "--batches", "40"])?;
    println!(
        "{}",
        json!({
            "area": "arrays", "case": "holodec_uniform_shuffle_40_batches",
            "samples_per_s": f(&full, "samples_per_s"),
            "chunks_decoded_per_sample": f(&full, "chunks_decoded") / f(&full, "samples") / 2.0,
            "peak_rss_mb": f(&full, "peak_rss_mb"),
        })
    );
    Ok(())
}

/// `cargo xtask compare arrays`: the xarray + PyTorch loader (lazy, and with the particles in
/// memory; 0 and 2 worker processes) and xbatcher (images only, file order) on the same file,
/// then biobatch; the ratio is against the best holodec-style peer.
pub fn compare(dir: &Path, batches: usize) -> Result<()> {
    let file = ensure(dir)?;
    let python = venv(&["xarray", "netCDF4", "xbatcher", "torch"])?;
    let mut peers = Vec::new();
    for (variant, workers) in [("lazy", 0), ("lazy", 2), ("in_memory", 2), ("xbatcher", 0)] {
        let v = json_of(
            Command::new(&python)
                .arg(script("compare/arrays_xarray.py"))
                .arg(&file)
                .arg(batches.to_string())
                .arg(workers.to_string())
                .arg(variant),
            "arrays_xarray.py",
        )?;
        println!("{v}");
        peers.push(v);
    }
    let best = peers
        .iter()
        .filter(|p| p["peer"] != "xbatcher")
        .max_by(|a, b| f(a, "samples_per_s").total_cmp(&f(b, "samples_per_s")))
        .context("no holodec-style peer ran")?;
    let xb = peers.iter().find(|p| p["peer"] == "xbatcher");
    let bin = biobatch_binary(&["hdf5", "zarr"])?;
    let mut v = ours(&bin, &file, &[])?;
    v["case"] = json!("biobatch_chunked_shuffle_padded");
    println!("{v}");
    if f(&v, "samples") < 1.0 {
        bail!("biobatch served no samples");
    }
    let rss = |p: &Value| f(p, "peak_rss_mb") + f(p, "peak_rss_children_mb");
    println!(
        "{}",
        json!({
            "area": "compare", "case": "biobatch_over_xarray_torch",
            "peer": best["peer"], "peer_num_workers": best["num_workers"],
            "samples_per_s": {"biobatch": f(&v, "samples_per_s"), "peer": f(best, "samples_per_s")},
            "samples_per_s_ratio": f(&v, "samples_per_s") / f(best, "samples_per_s"),
            "ratio_over_xbatcher_images_only": xb.map(|x| f(&v, "samples_per_s") / f(x, "samples_per_s")),
            "peak_rss_mb": {"biobatch": f(&v, "peak_rss_mb"), "peer": rss(best)},
            "first_batch_s": {"biobatch": f(&v, "open_s") + f(&v, "first_batch_s"),
                              "peer": f(best, "setup_s") + f(best, "first_batch_s")},
        })
    );
    Ok(())
}
