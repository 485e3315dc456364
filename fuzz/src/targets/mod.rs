//! The fuzz targets, one module per reader.

mod bed;
mod bigwig;
mod fasta;
mod mtx;
mod npy;
mod spec;
mod store;

use crate::Target;

/// Every target, in the order `cargo xtask fuzz` runs them.
pub static TARGETS: &[Target] = &[
    fasta::TARGET,
    bed::TARGET,
    bigwig::TARGET,
    npy::TARGET,
    mtx::TARGET,
    store::TARGET,
    spec::TARGET,
];

/// The target named `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// `Err` with a message when `cond` fails: the check's way to report a disagreement.
fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(msg()) }
}

/// Shows at most 60 bytes around the first difference of two byte strings.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let i = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let show = |s: &[u8]| {
        String::from_utf8_lossy(&s[i.saturating_sub(20).min(s.len())..(i + 40).min(s.len())])
            .into_owned()
    };
    format!(
        "lengths {} and {}, first difference at {i}: {:?} vs {:?}",
        a.len(),
        b.len(),
        show(a),
        show(b)
    )
}
