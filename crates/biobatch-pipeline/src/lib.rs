//! Models fed by biobatch loaders.
//!
//! - [`bpnet`]: BPNet in burn — the model ([`bpnet::BpnetConfig`], [`bpnet::Bpnet`]), its
//!   losses, training with validation by chromosome, early stopping and checkpoints that
//!   resume exactly ([`bpnet::train`]), and prediction to Parquet or bigWig
//!   ([`bpnet::predict`]). See `docs/training.md`.
//! - [`device`]: where models run — burn's `flex` CPU backend, or a GPU through wgpu (feature
//!   `wgpu`), chosen at run time.
//! - [`zoo`]: Kipoi's contract — specs, sources, dataloaders, models, prediction. See
//!   `docs/zoo.md`.
#![warn(missing_docs)]

pub mod bpnet;
pub mod device;
mod error;
pub mod zoo;

pub use device::DeviceChoice;
pub use error::{Error, Result};

/// A whole text file, gunzipped when it starts with gzip's magic bytes.
pub(crate) fn read_text(path: &std::path::Path) -> Result<String> {
    use std::io::Read;
    let mut raw = Vec::new();
    biobatch_formats::bed::open_text(path)?
        .read_to_end(&mut raw)
        .map_err(|e| Error::io(path, e))?;
    String::from_utf8(raw)
        .map_err(|e| Error::Invalid(format!("{}: not UTF-8 text: {e}", path.display())))
}

/// Keeps large allocations in the heap instead of mapping and unmapping them on every
/// training step (glibc's malloc maps blocks above 128 KiB–32 MiB afresh each time, and the
/// page faults of re-touching them cost as much as the convolutions: measured 14 → 23
/// examples/s for BPNet on 2 cores). Process-wide, so the binary calls it at start; call it
/// from your own `main` before training. Does nothing outside glibc.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's thresholds; it is safe to call at any time.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}
