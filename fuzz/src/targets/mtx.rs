//! 10x MatrixMarket import: a directory (matrix, barcodes, genes) imported into a store, then
//! read back in full. The import must refuse what breaks the format, and otherwise serve
//! exactly the matrix the MatrixMarket text defines (duplicates summed, as scipy reads it),
//! with one cell per barcode line and one gene per gene line.

use std::path::Path;

use biobatch_formats::soma::{Experiment, Verify, import_mtx};

use super::store::{same_as_mtx, served};
use crate::{Case, Target, Verdict, fixture, oracle};

pub(super) const TARGET: Target = Target {
    name: "mtx",
    about: "10x MatrixMarket import and read-back, against a line-by-line reading of the matrix",
    seeds,
    check,
};

fn tenx(matrix: &[u8], barcodes: &[u8], genes: &[u8]) -> Case {
    Case::new([
        ("10x/matrix.mtx", matrix.to_vec()),
        ("10x/barcodes.tsv", barcodes.to_vec()),
        ("10x/genes.tsv", genes.to_vec()),
    ])
}

fn seeds() -> Vec<Case> {
    let f = |n: &str| fixture(&format!("soma/10x_v2/{n}"));
    vec![
        tenx(&f("matrix.mtx"), &f("barcodes.tsv"), &f("genes.tsv")),
        tenx(
            b"%%MatrixMarket matrix coordinate real general\n% written by hand\n3 2 4\n1 1 0.5\n3 1 2\n2 2 1e-3\n3 2 70000\n",
            b"AAAC-1\nAAAG-1\n",
            b"g1\tG1\ng2\tG2\ng3\tG3\n",
        ),
        tenx(
            b"%%MatrixMarket matrix coordinate integer general\n2 3 4\n2 3 5\n1 1 70000\n1 2 1\n2 1 3\n",
            b"c1\nc2\nc3\n",
            b"ENSG1\tA\tGene Expression\nENSG2\tB\tGene Expression\n",
        ),
    ]
}

fn check(input: &Path, work: &Path) -> Result<Verdict, String> {
    let store = work.join("store");
    if import_mtx(input.join("10x"), &store, "counts").is_err() {
        return Ok(Verdict::Refused);
    }
    let exp = Experiment::open_with(&store, Verify::Full)
        .map_err(|e| format!("imported store does not open: {e}"))?;
    let ours = served(&exp, "counts")?.ok_or("the imported store's matrix cannot be read")?;
    let text = std::fs::read(input.join("10x/matrix.mtx")).map_err(|e| e.to_string())?;
    let Some(mtx) = oracle::matrix_market(&text) else {
        return Err("imported an invalid matrix: it breaks the MatrixMarket format".into());
    };
    same_as_mtx(&exp, &ours, &mtx)?;
    Ok(Verdict::Accepted)
}
