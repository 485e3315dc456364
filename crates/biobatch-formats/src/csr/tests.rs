//! Tests of [`super`].

use super::*;
use proptest::prelude::*;

fn dense_of(m: &CsrMatrix<i32, u16>) -> Vec<Vec<i32>> {
    (0..m.n_rows())
        .map(|r| {
            let mut row = vec![0; m.n_cols()];
            let (i, v) = m.view().row(r);
            for (&c, &x) in i.iter().zip(v) {
                row[c as usize] = x;
            }
            row
        })
        .collect()
}

proptest! {
    #[test]
    fn from_coo_matches_a_brute_force_dense_sum(
        entries in prop::collection::vec((0u32..7, 0u32..9, -5i32..5), 0..60)
    ) {
        let (rows, cols, vals): (Vec<u32>, Vec<u32>, Vec<i32>) = entries.iter().fold(
            (vec![], vec![], vec![]),
            |(mut r, mut c, mut v), &(a, b, x)| { r.push(a); c.push(b); v.push(x); (r, c, v) },
        );
        let m = CsrMatrix::<i32, u16>::from_coo(7, 9, &rows, &cols, &vals).unwrap();
        m.view().validate().unwrap();
        let mut want = vec![vec![0i32; 9]; 7];
        for &(a, b, x) in &entries { want[a as usize][b as usize] += x; }
        prop_assert_eq!(dense_of(&m), want.clone());
        // Columns strictly increase within each row (sorted, no duplicates).
        for r in 0..7 {
            let (i, _) = m.view().row(r);
            prop_assert!(i.windows(2).all(|w| w[0] < w[1]));
        }
        // Merging with itself doubles every value.
        let twice = m.merge(&m).unwrap();
        let doubled: Vec<Vec<i32>> = want.iter().map(|r| r.iter().map(|x| 2 * x).collect()).collect();
        prop_assert_eq!(dense_of(&twice), doubled);
        // Any row selection gathers the same values dense and as CSR.
        let pick: Vec<u64> = (0..7).rev().chain([3, 3]).collect();
        let mut dense = vec![0f32; pick.len() * 9];
        m.view().rows_to_dense(&pick, &mut dense).unwrap();
        let mut rows_out = CsrRows::default();
        m.view().rows_to_csr(&pick, &mut rows_out).unwrap();
        for (k, &r) in pick.iter().enumerate() {
            let mut from_csr = vec![0f32; 9];
            for p in rows_out.indptr[k] as usize..rows_out.indptr[k + 1] as usize {
                from_csr[rows_out.indices[p] as usize] = rows_out.values[p];
            }
            let want_row: Vec<f32> = want[r as usize].iter().map(|&x| x as f32).collect();
            prop_assert_eq!(&dense[k * 9..(k + 1) * 9], &want_row[..]);
            prop_assert_eq!(from_csr, want_row);
        }
    }
}

#[test]
fn append_rows_stacks_and_bad_structures_are_named() {
    let a = CsrMatrix::<f32, u32>::from_coo(2, 3, &[0, 1], &[2, 0], &[1.0, 2.0]).unwrap();
    let mut b = a.clone();
    b.append_rows(&a.view()).unwrap();
    assert_eq!(b.indptr(), &[0, 1, 2, 3, 4]);
    assert_eq!(b.values(), &[1.0, 2.0, 1.0, 2.0]);

    let e = |indptr: Vec<u64>, idx: Vec<u32>| {
        CsrMatrix::<f32, u32>::from_parts(3, indptr, idx.clone(), vec![1.0; idx.len()])
            .unwrap_err()
            .to_string()
    };
    assert!(e(vec![1, 1], vec![0]).contains("starts at 1"));
    assert!(e(vec![0, 2, 1], vec![0, 1]).contains("decreases at row 1"));
    assert!(e(vec![0, 1], vec![0, 1]).contains("ends at 1, but 2"));
    assert!(e(vec![0, 1, 2], vec![0, 3]).contains("entry 1 (row 1) has column 3"));
    assert!(CsrMatrix::<f32, u32>::from_coo(2, 3, &[2], &[0], &[1.0]).is_err());
    let m = CsrMatrix::<f32, u32>::from_coo(2, 3, &[1], &[0], &[1.0]).unwrap();
    let mut out = vec![0f32; 3];
    assert!(
        m.view()
            .rows_to_dense(&[5], &mut out)
            .unwrap_err()
            .to_string()
            .contains("row 5")
    );
    assert!(
        m.view().rows_to_dense(&[0, 1], &mut out).is_err(),
        "buffer too small"
    );
}
