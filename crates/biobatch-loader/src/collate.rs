//! Collation of sample trees into a batch, with Kipoi's rules and errors where Kipoi is silent.
//!
//! - Arrays of one shape and dtype are stacked along a new first axis: `k` samples of shape
//!   `[L, 4]` give `[k, L, 4]`.
//! - Scalars (0-dimensional arrays: bool, int, float, string) become 1-D arrays of length `k`.
//! - Maps and lists are collated leaf by leaf; `GenomicRanges` metadata (a map of scalar
//!   columns) becomes a map of 1-D columns.
//! - Every sample must have the same keys, list lengths, shapes and dtypes. Kipoi keeps the
//!   keys of the first sample and silently drops keys that appear only later; here any
//!   difference is an error naming the sample and the path.

use std::collections::BTreeMap;

use biobatch_core::{Array, Batch, Data, Node};

use crate::{Error, Result};

fn kind(n: &Node) -> &'static str {
    match n {
        Node::Array(_) => "an array",
        Node::Map(_) => "a map",
        Node::List(_) => "a list",
        Node::Sparse(_) => "sparse rows",
    }
}

fn err(sample: usize, path: &str, what: String) -> Error {
    Error::Collate {
        sample,
        path: path.to_string(),
        what,
    }
}

fn collate_node(nodes: &[&Node], path: &str) -> Result<Node> {
    let first = nodes[0];
    match first {
        Node::Sparse(_) => {
            let mut parts = Vec::with_capacity(nodes.len());
            for (i, n) in nodes.iter().enumerate() {
                match n {
                    Node::Sparse(s) => parts.push(s),
                    _ => {
                        return Err(err(
                            i,
                            path,
                            format!("expected sparse rows as in sample 0, found {}", kind(n)),
                        ));
                    }
                }
            }
            biobatch_core::SparseRows::concat(&parts)
                .map(Node::Sparse)
                .map_err(|e| err(0, path, e.to_string()))
        }
        Node::Array(a0) => {
            let mut data = Data::with_capacity(a0.dtype(), a0.len() * nodes.len());
            for (i, n) in nodes.iter().enumerate() {
                let Node::Array(a) = n else {
                    return Err(err(
                        i,
                        path,
                        format!("expected an array as in sample 0, found {}", kind(n)),
                    ));
                };
                if a.dtype() != a0.dtype() {
                    return Err(err(
                        i,
                        path,
                        format!("dtype {} differs from sample 0's {}", a.dtype(), a0.dtype()),
                    ));
                }
                if a.shape() != a0.shape() {
                    return Err(err(
                        i,
                        path,
                        format!(
                            "shape {:?} differs from sample 0's {:?}",
                            a.shape(),
                            a0.shape()
                        ),
                    ));
                }
                data.extend_from(a.data(), 0..a.len())?;
            }
            let mut shape = Vec::with_capacity(a0.ndim() + 1);
            shape.push(nodes.len());
            shape.extend_from_slice(a0.shape());
            Ok(Node::Array(Array::from_data(shape, data)?))
        }
        Node::Map(m0) => {
            for (i, n) in nodes.iter().enumerate() {
                let Node::Map(m) = n else {
                    return Err(err(
                        i,
                        path,
                        format!("expected a map as in sample 0, found {}", kind(n)),
                    ));
                };
                if let Some(k) = m.keys().find(|k| !m0.contains_key(*k)) {
                    return Err(err(
                        i,
                        &join(path, k),
                        "key appears here but not in sample 0".into(),
                    ));
                }
                if let Some(k) = m0.keys().find(|k| !m.contains_key(*k)) {
                    return Err(err(i, &join(path, k), "key of sample 0 is missing".into()));
                }
            }
            let mut out = BTreeMap::new();
            for k in m0.keys() {
                // Every node was checked above to be a map with exactly m0's keys.
                let children: Vec<&Node> = nodes
                    .iter()
                    .filter_map(|n| match n {
                        Node::Map(m) => m.get(k),
                        _ => None,
                    })
                    .collect();
                out.insert(k.clone(), collate_node(&children, &join(path, k))?);
            }
            Ok(Node::Map(out))
        }
        Node::List(l0) => {
            for (i, n) in nodes.iter().enumerate() {
                match n {
                    Node::List(l) if l.len() == l0.len() => {}
                    Node::List(l) => {
                        return Err(err(
                            i,
                            path,
                            format!("list of {} differs from sample 0's {}", l.len(), l0.len()),
                        ));
                    }
                    other => {
                        return Err(err(
                            i,
                            path,
                            format!("expected a list as in sample 0, found {}", kind(other)),
                        ));
                    }
                }
            }
            let mut out = Vec::with_capacity(l0.len());
            for j in 0..l0.len() {
                // Every node was checked above to be a list of l0's length.
                let children: Vec<&Node> = nodes
                    .iter()
                    .filter_map(|n| match n {
                        Node::List(l) => l.get(j),
                        _ => None,
                    })
                    .collect();
                out.push(collate_node(&children, &join(path, &j.to_string()))?);
            }
            Ok(Node::List(out))
        }
    }
}

fn join(path: &str, seg: &str) -> String {
    format!("{path}/{seg}")
}

/// Collates sample trees into one batch.
///
/// ```
/// use biobatch_core::{Array, Batch, Node};
/// use biobatch_loader::collate;
///
/// let sample = |x: f32| Batch::new(Node::from_iter([
///     ("seq", Node::Array(Array::new(vec![3], vec![x; 3]).unwrap())),
///     ("gc", Node::Array(Array::scalar(x))),
/// ]));
/// let b = collate(&[sample(1.0), sample(2.0)]).unwrap();
/// assert_eq!(b.array("inputs/seq").unwrap().shape(), &[2, 3]);
/// assert_eq!(b.array("inputs/gc").unwrap().as_slice::<f32>().unwrap(), &[1.0, 2.0]);
/// ```
pub fn collate(samples: &[Batch]) -> Result<Batch> {
    let Some(first) = samples.first() else {
        return Err(Error::Invalid(
            "cannot collate an empty list of samples".into(),
        ));
    };
    let part = |name: &str, get: &dyn Fn(&Batch) -> Option<&Node>| -> Result<Option<Node>> {
        let present = get(first).is_some();
        if let Some(i) = samples.iter().position(|s| get(s).is_some() != present) {
            let what = if present {
                "missing here but present in sample 0"
            } else {
                "present here but not in sample 0"
            };
            return Err(err(i, name, what.into()));
        }
        if !present {
            return Ok(None);
        }
        let nodes: Vec<&Node> = samples.iter().filter_map(get).collect();
        collate_node(&nodes, name).map(Some)
    };
    let inputs = part("inputs", &|s| Some(&s.inputs))?.unwrap_or_else(Node::map);
    Ok(Batch {
        inputs,
        targets: part("targets", &|s| s.targets.as_ref())?,
        metadata: part("metadata", &|s| s.metadata.as_ref())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use biobatch_core::{DType, GenomicRanges, Strand};

    fn sample(i: i64) -> Batch {
        let mut ranges = GenomicRanges::default();
        ranges
            .push(
                format!("chr{i}"),
                i,
                i + 10,
                format!("id{i}"),
                Strand::Forward,
            )
            .unwrap();
        // Ranges of one sample: scalar columns.
        let scalar_ranges = Node::from_iter([
            ("chr", Array::scalar(format!("chr{i}"))),
            ("start", Array::scalar(i)),
            ("end", Array::scalar(i + 10)),
            ("id", Array::scalar(format!("id{i}"))),
            ("strand", Array::scalar("+".to_string())),
        ]);
        let mut b = Batch::new(Node::from_iter([
            ("seq", Node::Array(Array::zeros(DType::U8, vec![5, 4]))),
            (
                "extra",
                Node::List(vec![
                    Array::scalar(i as f64).into(),
                    Array::scalar(true).into(),
                ]),
            ),
        ]));
        b.targets = Some(Array::scalar(i as f32).into());
        b.metadata = Some(Node::from_iter([("ranges", scalar_ranges)]));
        b
    }

    #[test]
    fn stacks_arrays_and_turns_scalars_into_columns() {
        let b = collate(&[sample(1), sample(2), sample(3)]).unwrap();
        assert_eq!(b.array("inputs/seq").unwrap().shape(), &[3, 5, 4]);
        assert_eq!(
            b.array("inputs/extra/0")
                .unwrap()
                .as_slice::<f64>()
                .unwrap(),
            &[1.0, 2.0, 3.0]
        );
        assert_eq!(b.array("inputs/extra/1").unwrap().dtype(), DType::Bool);
        assert_eq!(b.array("targets").unwrap().shape(), &[3]);
        let ranges = GenomicRanges::from_node(b.get("metadata/ranges").unwrap()).unwrap();
        assert_eq!(ranges.chr, ["chr1", "chr2", "chr3"]);
        assert_eq!(ranges.start, [1, 2, 3]);
        assert_eq!(b.batch_size().unwrap(), Some(3));
    }

    fn collate_err(samples: &[Batch]) -> (usize, String, String) {
        match collate(samples).unwrap_err() {
            Error::Collate { sample, path, what } => (sample, path, what),
            other => panic!("expected a collate error, got {other}"),
        }
    }

    #[test]
    fn a_key_that_appears_later_is_an_error_not_dropped() {
        let mut late = sample(2);
        late.inputs.insert("new", Array::scalar(1u8)).unwrap();
        let (i, path, what) = collate_err(&[sample(1), late]);
        assert_eq!((i, path.as_str()), (1, "inputs/new"));
        assert!(what.contains("not in sample 0"), "{what}");
    }

    #[test]
    fn shape_dtype_kind_and_part_mismatches_are_named() {
        let mut s = sample(2);
        *s.get_mut("inputs/seq").unwrap() = Array::zeros(DType::U8, vec![6, 4]).into();
        assert_eq!(collate_err(&[sample(1), s]).1, "inputs/seq");

        let mut s = sample(2);
        *s.get_mut("inputs/seq").unwrap() = Array::zeros(DType::F32, vec![5, 4]).into();
        assert!(collate_err(&[sample(1), s]).2.contains("dtype f32"));

        let mut s = sample(2);
        *s.get_mut("inputs/extra").unwrap() = Node::List(vec![]);
        assert!(collate_err(&[sample(1), s]).2.contains("list of 0"));

        let mut s = sample(3);
        s.targets = None;
        assert_eq!(
            collate_err(&[sample(1), sample(2), s]),
            (
                2,
                "targets".into(),
                "missing here but present in sample 0".into()
            )
        );

        let mut s = sample(2);
        if let Node::Map(m) = &mut s.inputs {
            m.remove("seq");
        }
        assert!(collate_err(&[sample(1), s]).2.contains("missing"));
        assert!(matches!(collate(&[]), Err(Error::Invalid(_))));
    }
}
