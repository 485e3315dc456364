//! Iterator- and generator-kind datasets.

use biobatch_core::{Array, Batch, Node};
use biobatch_loader::{BoxError, Error, stream};
use biobatch_sampling::ShuffleBuffer;

fn sample(i: i64) -> Result<Batch, BoxError> {
    Ok(Batch::new(Node::from_iter([("i", Array::scalar(i))])))
}

fn values(b: &Batch) -> Vec<i64> {
    b.array("inputs/i")
        .unwrap()
        .as_slice::<i64>()
        .unwrap()
        .to_vec()
}

#[test]
fn samples_are_collated_in_order_with_a_short_last_batch() {
    let got: Vec<Vec<i64>> = stream::samples((0..10).map(sample), 4, 2, false)
        .unwrap()
        .map(|b| values(&b.unwrap()))
        .collect();
    assert_eq!(got, [vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]);
    let dropped: Vec<Vec<i64>> = stream::samples((0..10).map(sample), 4, 2, true)
        .unwrap()
        .map(|b| values(&b.unwrap()))
        .collect();
    assert_eq!(dropped.len(), 2);
}

#[test]
fn a_seeded_shuffle_buffer_makes_the_stream_reproducible() {
    let run = |seed| -> Vec<i64> {
        let input = ShuffleBuffer::new((0..200).map(sample), 32, seed, 0);
        stream::samples(input, 16, 3, false)
            .unwrap()
            .flat_map(|b| values(&b.unwrap()))
            .collect()
    };
    let a = run(5);
    assert_eq!(a, run(5));
    assert_ne!(a, run(6));
    let mut sorted = a.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..200).collect::<Vec<_>>());
}

#[test]
fn generator_errors_and_panics_end_the_stream_with_the_batch_index() {
    let failing = (0..100).map(|i| {
        if i == 9 {
            Err::<Batch, BoxError>("bad record 9".into())
        } else {
            sample(i)
        }
    });
    let out: Vec<_> = stream::samples(failing, 4, 2, false).unwrap().collect();
    assert_eq!(out.len(), 3);
    assert!(
        matches!(&out[2], Err(Error::Batch { index: 2, .. })),
        "{:?}",
        out[2]
    );

    let panicking = (0..100).map(|i| {
        if i == 5 {
            panic!("generator died at 5")
        } else {
            sample(i)
        }
    });
    let out: Vec<_> = stream::batches(panicking, 2).unwrap().collect();
    assert_eq!(out.len(), 6);
    match &out[5] {
        Err(Error::Panic {
            index: 5, message, ..
        }) => assert!(message.contains("died at 5")),
        other => panic!("unexpected {other:?}"),
    }
}
