//! .npy / .npz reading against values computed by numpy.

use biobatch_core::{Array, RowSource};
use biobatch_formats::npy::{read_npy, read_npz};
use biobatch_tests::{data, read_tsv};

fn row_sums(a: &Array) -> Vec<f64> {
    let n = a.shape()[0];
    let w = a.row_len();
    let vals: Vec<f64> = match a.dtype() {
        biobatch_core::DType::U8 => a
            .as_slice::<u8>()
            .unwrap()
            .iter()
            .map(|&x| x as f64)
            .collect(),
        biobatch_core::DType::F32 => a
            .as_slice::<f32>()
            .unwrap()
            .iter()
            .map(|&x| x as f64)
            .collect(),
        biobatch_core::DType::I64 => a
            .as_slice::<i64>()
            .unwrap()
            .iter()
            .map(|&x| x as f64)
            .collect(),
        other => panic!("unexpected dtype {other}"),
    };
    (0..n)
        .map(|r| vals[r * w..(r + 1) * w].iter().sum())
        .collect()
}

#[test]
fn npz_members_match_numpy_stored_and_compressed() {
    let expected = read_tsv("expected_npy.tsv");
    for (file, mapped) in [("arrays.npz", true), ("arrays_compressed.npz", false)] {
        let members = read_npz(data(file)).unwrap();
        assert_eq!(members.len(), 3);
        for ((name, arr), row) in members.iter().zip(&expected) {
            assert_eq!(name, &row[0]);
            assert_eq!(arr.is_mapped(), mapped, "{file} {name}");
            let shape: Vec<usize> = row[2].split(',').map(|s| s.parse().unwrap()).collect();
            assert_eq!(arr.shape(), &shape[..]);
            let sums = row_sums(&arr.to_array().unwrap());
            let want: Vec<f64> = row[3].split(',').map(|s| s.parse().unwrap()).collect();
            for (g, w) in sums.iter().zip(&want) {
                assert!(
                    (g - w).abs() <= 1e-9 * w.abs().max(1.0),
                    "{file} {name}: {g} vs {w}"
                );
            }
        }
    }
    let single = read_npy(data("images.npy")).unwrap();
    let from_npz = &read_npz(data("arrays.npz")).unwrap()[0].1;
    assert_eq!(single.to_array().unwrap(), from_npz.to_array().unwrap());
}

#[test]
fn gathering_rows_from_the_map_equals_slicing_the_loaded_array() {
    let members = read_npz(data("arrays.npz")).unwrap();
    let targets = &members[1].1;
    let full = targets.to_array().unwrap();
    let mut out = Array::zeros(targets.dtype(), vec![3, 4, 4]);
    targets
        .gather(&mut [11usize, 0, 5].into_iter(), &mut out)
        .unwrap();
    let rows = full.as_slice::<f32>().unwrap();
    let got = out.as_slice::<f32>().unwrap();
    for (i, r) in [11usize, 0, 5].into_iter().enumerate() {
        assert_eq!(&got[i * 16..(i + 1) * 16], &rows[r * 16..(r + 1) * 16]);
    }
    assert!(
        targets
            .gather(&mut [12usize].into_iter(), &mut out)
            .is_err()
    );
}

#[test]
fn fortran_order_and_big_endian_are_refused_with_advice() {
    let e = read_npy(data("fortran.npy")).unwrap_err().to_string();
    assert!(
        e.contains("Fortran-ordered") && e.contains("ascontiguousarray"),
        "{e}"
    );
    let e = read_npy(data("bigendian.npy")).unwrap_err().to_string();
    assert!(e.contains("`>f4`") && e.contains("newbyteorder"), "{e}");
    let e = read_npz(data("images.npy")).unwrap_err().to_string();
    assert!(e.contains("not a zip"), "{e}");
}
