//! `.npy` and `.npz`: what the reader serves must be, byte for byte, what numpy's rules give
//! for the same file — for `.npz` with the archive walked through its local headers (the
//! reader uses the central directory) and every member's CRC checked.

use std::path::Path;

use biobatch_core::{Array, Data};
use biobatch_formats::npy::{NpyArray, read_npy, read_npz};

use super::ensure;
use crate::{Case, Target, Verdict, fixture, oracle};

pub(super) const TARGET: Target = Target {
    name: "npy",
    about: ".npy headers and data, .npz archives, against numpy's header rules and a local-header zip walk",
    seeds,
    check,
};

fn seeds() -> Vec<Case> {
    let mut out: Vec<Case> = ["images.npy"]
        .into_iter()
        .map(|n| Case::new([("a.npy", fixture(n))]))
        .collect();
    for n in ["arrays.npz", "arrays_compressed.npz"] {
        out.push(Case::new([("a.npz", fixture(n))]));
    }
    // One small array of each supported type, header as numpy writes it.
    for (descr, size) in [("|u1", 1), ("<i4", 4), ("<i8", 8), ("<f2", 2), ("<f8", 8)] {
        let mut v = biobatch_formats::npy::npy_header(descr, 3);
        v.extend((0..3 * size).map(|i| (i * 37 + 5) as u8));
        out.push(Case::new([("a.npy", v)]));
    }
    out
}

/// The array's bytes as they sit in a little-endian `.npy`.
fn le_bytes(a: &Array) -> Vec<u8> {
    match a.data() {
        Data::Bool(v) => v.iter().map(|&b| b as u8).collect(),
        Data::U8(v) => v.clone(),
        Data::I8(v) => v.iter().map(|&x| x as u8).collect(),
        Data::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Data::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Data::F16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Data::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Data::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        other => panic!("unexpected dtype {}", other.dtype()),
    }
}

fn agree(name: &str, ours: &NpyArray, theirs: &oracle::Npy) -> Result<(), String> {
    ensure(ours.shape() == theirs.shape.as_slice(), || {
        format!(
            "shape differs: {name}: {:?}, the header says {:?}",
            ours.shape(),
            theirs.shape
        )
    })?;
    let Ok(array) = ours.to_array() else {
        return Err(format!(
            "data unreadable: {name} opened but its data cannot be read"
        ));
    };
    let bytes = le_bytes(&array);
    if theirs.descr.ends_with("b1") {
        // numpy reads any non-zero byte as True.
        let expected: Vec<u8> = theirs.data.iter().map(|&b| (b != 0) as u8).collect();
        return ensure(bytes == expected, || {
            format!("values differ: {name}: other booleans")
        });
    }
    ensure(bytes == theirs.data, || format!("values differ: {name}"))
}

fn check(input: &Path, _work: &Path) -> Result<Verdict, String> {
    if input.join("a.npy").exists() {
        let path = input.join("a.npy");
        let theirs = oracle::npy(&std::fs::read(&path).map_err(|e| e.to_string())?);
        return match (read_npy(&path), theirs) {
            (Err(_), _) => Ok(Verdict::Refused),
            (Ok(_), None) => Err("numpy would refuse: opened a .npy numpy would not read".into()),
            (Ok(ours), Some(theirs)) => agree("a.npy", &ours, &theirs).map(|_| Verdict::Accepted),
        };
    }
    let path = input.join("a.npz");
    if !path.exists() {
        return Ok(Verdict::Refused);
    }
    let Ok(ours) = read_npz(&path) else {
        return Ok(Verdict::Refused);
    };
    let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
    let Some(members) = oracle::zip_members(&bytes) else {
        // The central directory and the local headers need not agree on a damaged archive;
        // each member the reader served was still checked against its CRC.
        return Ok(Verdict::Unverified);
    };
    ensure(ours.len() == members.len(), || {
        format!(
            "member count differs: {} read, the archive walks to {}",
            ours.len(),
            members.len()
        )
    })?;
    for ((name, array), (zip_name, data)) in ours.iter().zip(&members) {
        ensure(
            zip_name.strip_suffix(".npy").unwrap_or(zip_name) == name,
            || format!("member name differs: `{name}`, the local header says `{zip_name}`"),
        )?;
        let theirs =
            oracle::npy(data).ok_or_else(|| format!("numpy would refuse: member `{name}`"))?;
        agree(name, array, &theirs)?;
    }
    Ok(Verdict::Accepted)
}
