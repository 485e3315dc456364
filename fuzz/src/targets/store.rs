//! The single-cell store: a store written by our 10x importer, then damaged (manifest, tables,
//! array files). Opened with the default check, it must be refused or serve exactly the
//! matrix of the MatrixMarket file it was imported from — the store has checksums, so a
//! changed byte may never turn into changed data.

use std::collections::BTreeMap;
use std::path::Path;

use biobatch_formats::csr::{CsrIndex, CsrRows, CsrValue, CsrView};
use biobatch_formats::soma::{CsrVisitor, Experiment, Verify, import_mtx};

use super::ensure;
use crate::{Case, ORACLE_PREFIX, Target, Verdict, fixture, oracle};

pub(super) const TARGET: Target = Target {
    name: "store",
    about: "single-cell store open (default check) and full read, against the matrix it was imported from",
    seeds,
    check,
};

/// A matrix as served: `(row, col) → value`.
pub(super) type Entries = BTreeMap<(usize, usize), f32>;

struct Served;

impl CsrVisitor for Served {
    type Out = Result<Entries, String>;
    fn visit<V: CsrValue, I: CsrIndex>(self, view: CsrView<'_, V, I>) -> Self::Out {
        let rows: Vec<u64> = (0..view.n_rows() as u64).collect();
        let mut out = CsrRows::default();
        view.rows_to_csr(&rows, &mut out)
            .map_err(|e| format!("refused: {e}"))?;
        let mut m = Entries::new();
        for r in 0..rows.len() {
            let (s, e) = (out.indptr[r] as usize, out.indptr[r + 1] as usize);
            let cols = &out.indices[s..e];
            if !cols.windows(2).all(|w| w[0] < w[1]) {
                return Err(format!(
                    "row columns not increasing: row {r} is served with columns {cols:?}"
                ));
            }
            for k in s..e {
                m.insert((r, out.indices[k] as usize), out.values[k]);
            }
        }
        Ok(m)
    }
}

/// Every entry of `layer` as the loader would serve it; `Ok(None)` if reading refuses.
pub(super) fn served(exp: &Experiment, layer: &str) -> Result<Option<Entries>, String> {
    let Ok(l) = exp.layer(layer) else {
        return Ok(None);
    };
    match l.visit(Served) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.starts_with("refused: ") => Ok(None),
        Err(e) => Err(e),
    }
}

/// Compares a served matrix with a MatrixMarket oracle (features × barcodes, transposed
/// into cells × genes), values as `f32`.
pub(super) fn same_as_mtx(
    exp: &Experiment,
    ours: &Entries,
    mtx: &(usize, usize, bool, BTreeMap<(usize, usize), f64>),
) -> Result<(), String> {
    let (genes, cells, _, m) = mtx;
    ensure(exp.n_obs() == *cells && exp.n_vars() == *genes, || {
        format!(
            "shape differs: {} × {}, the matrix is {cells} × {genes}",
            exp.n_obs(),
            exp.n_vars()
        )
    })?;
    let theirs: Entries = m
        .iter()
        .map(|(&(g, c), &v)| ((c, g), v as f32))
        .filter(|(_, v)| *v != 0.0)
        .collect();
    let ours: Entries = ours
        .iter()
        .filter(|(_, v)| **v != 0.0)
        .map(|(k, v)| (*k, *v))
        .collect();
    let same = ours.len() == theirs.len()
        && ours.iter().zip(&theirs).all(|((ka, va), (kb, vb))| {
            ka == kb && (va.to_bits() == vb.to_bits() || va.is_nan() && vb.is_nan())
        });
    if !same {
        let diff = ours
            .iter()
            .find(|(k, v)| {
                theirs
                    .get(k)
                    .is_none_or(|t| t.to_bits() != v.to_bits() && !t.is_nan())
            })
            .map(|(k, v)| {
                format!(
                    "({}, {}) = {v} served, the file has {:?}",
                    k.0,
                    k.1,
                    theirs.get(k)
                )
            })
            .or_else(|| {
                theirs
                    .iter()
                    .find(|(k, _)| !ours.contains_key(k))
                    .map(|(k, v)| format!("({}, {}) = {v} in the file is not served", k.0, k.1))
            })
            .unwrap_or_default();
        return Err(format!("served matrix differs: {diff}"));
    }
    Ok(())
}

fn seeds() -> Vec<Case> {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let tenx = dir.path().join("10x");
    std::fs::create_dir_all(&tenx).expect("a folder");
    for f in ["barcodes.tsv", "genes.tsv", "matrix.mtx"] {
        std::fs::write(tenx.join(f), fixture(&format!("soma/10x_v2/{f}"))).expect("a copy");
    }
    let store = dir.path().join("store");
    import_mtx(&tenx, &store, "counts").expect("the fixture imports");
    let mut case = Case::load(dir.path()).expect("the store reads back");
    case.files.retain(|(n, _)| n.starts_with("store/"));
    case.files.push((
        format!("{ORACLE_PREFIX}matrix.mtx"),
        fixture("soma/10x_v2/matrix.mtx"),
    ));
    vec![case]
}

fn check(input: &Path, _work: &Path) -> Result<Verdict, String> {
    let Ok(exp) = Experiment::open_with(input.join("store"), Verify::Fast) else {
        return Ok(Verdict::Refused);
    };
    let Some(ours) = served(&exp, "counts")? else {
        return Ok(Verdict::Refused);
    };
    let text =
        std::fs::read(input.join(ORACLE_PREFIX).join("matrix.mtx")).map_err(|e| e.to_string())?;
    let mtx = oracle::matrix_market(&text).ok_or("the oracle matrix does not parse")?;
    same_as_mtx(&exp, &ours, &mtx)?;
    Ok(Verdict::Accepted)
}
