//! The batch tree of the Kipoi dataloader contract: `{inputs, targets?, metadata?}`.
//!
//! Each part is a [`Node`]: an [`Array`] leaf, a map of named nodes, or a list of nodes.
//! Paths name nodes with `/` separators; list entries are addressed by their index
//! (`inputs/seq`, `inputs/0`, `metadata/ranges/chr`).

use std::collections::BTreeMap;

use crate::{Array, Error, Result, SparseRows};

/// One node of a batch tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A leaf.
    Array(Array),
    /// Named children (sorted by name, so iteration order is deterministic).
    Map(BTreeMap<String, Node>),
    /// Positional children.
    List(Vec<Node>),
    /// A leaf of sparse rows (one per example): its arrays are the leaves `indices`,
    /// `indptr` and `values` below the node's path.
    Sparse(SparseRows),
}

impl From<SparseRows> for Node {
    fn from(s: SparseRows) -> Self {
        Node::Sparse(s)
    }
}

impl From<Array> for Node {
    fn from(a: Array) -> Self {
        Node::Array(a)
    }
}

impl<K: Into<String>, V: Into<Node>> FromIterator<(K, V)> for Node {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Node::Map(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

fn join(prefix: &str, seg: &str) -> String {
    if prefix.is_empty() {
        seg.to_string()
    } else {
        format!("{prefix}/{seg}")
    }
}

impl Node {
    /// An empty map node.
    pub fn map() -> Self {
        Node::Map(BTreeMap::new())
    }

    /// The leaf array, if this node is one.
    pub fn as_array(&self) -> Option<&Array> {
        match self {
            Node::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The leaf array mutably, if this node is one.
    pub fn as_array_mut(&mut self) -> Option<&mut Array> {
        match self {
            Node::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Inserts `child` under `key` of a map node; errors if this node is not a map.
    pub fn insert(&mut self, key: impl Into<String>, child: impl Into<Node>) -> Result<()> {
        match self {
            Node::Map(m) => {
                m.insert(key.into(), child.into());
                Ok(())
            }
            _ => Err(Error::Invalid(
                "insert into a node that is not a map".into(),
            )),
        }
    }

    /// The node at a relative path (`""` is this node).
    pub fn get(&self, path: &str) -> Option<&Node> {
        let mut node = self;
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            node = match node {
                Node::Map(m) => m.get(seg)?,
                Node::List(l) => l.get(seg.parse::<usize>().ok()?)?,
                Node::Array(_) | Node::Sparse(_) => return None,
            };
        }
        Some(node)
    }

    /// The node at a relative path, mutably.
    pub fn get_mut(&mut self, path: &str) -> Option<&mut Node> {
        let mut node = self;
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            node = match node {
                Node::Map(m) => m.get_mut(seg)?,
                Node::List(l) => l.get_mut(seg.parse::<usize>().ok()?)?,
                Node::Array(_) | Node::Sparse(_) => return None,
            };
        }
        Some(node)
    }

    /// The sparse rows, if this node is such a leaf.
    pub fn as_sparse(&self) -> Option<&SparseRows> {
        match self {
            Node::Sparse(s) => Some(s),
            _ => None,
        }
    }

    /// The sparse rows mutably, if this node is such a leaf.
    pub fn as_sparse_mut(&mut self) -> Option<&mut SparseRows> {
        match self {
            Node::Sparse(s) => Some(s),
            _ => None,
        }
    }

    /// Calls `f(path, array)` for every leaf array, depth first, in key / index order (the
    /// arrays of a sparse leaf as `path/indices`, `path/indptr`, `path/values`).
    pub fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Array)) {
        match self {
            Node::Array(a) => f(prefix, a),
            Node::Sparse(s) => {
                for (name, a) in s.arrays() {
                    f(&join(prefix, name), a);
                }
            }
            Node::Map(m) => {
                for (k, v) in m {
                    v.visit(&join(prefix, k), f);
                }
            }
            Node::List(l) => {
                for (i, v) in l.iter().enumerate() {
                    v.visit(&join(prefix, &i.to_string()), f);
                }
            }
        }
    }

    /// Calls `f` for every leaf, depth first, without building paths (no allocation).
    pub fn for_each_array<'a>(&'a self, f: &mut dyn FnMut(&'a Array)) {
        match self {
            Node::Array(a) => f(a),
            Node::Sparse(s) => s.arrays().into_iter().for_each(|(_, a)| f(a)),
            Node::Map(m) => m.values().for_each(|v| v.for_each_array(f)),
            Node::List(l) => l.iter().for_each(|v| v.for_each_array(f)),
        }
    }

    /// Calls `f(path, batch length)` for every leaf — an array's first-axis length (`None`
    /// for a scalar) or a sparse leaf's number of rows.
    pub fn visit_lengths(&self, prefix: &str, f: &mut dyn FnMut(&str, Option<usize>)) {
        match self {
            Node::Array(a) => f(prefix, a.batch_len()),
            Node::Sparse(s) => f(prefix, Some(s.rows())),
            Node::Map(m) => {
                for (k, v) in m {
                    v.visit_lengths(&join(prefix, k), f);
                }
            }
            Node::List(l) => {
                for (i, v) in l.iter().enumerate() {
                    v.visit_lengths(&join(prefix, &i.to_string()), f);
                }
            }
        }
    }

    fn for_each_length(&self, f: &mut dyn FnMut(Option<usize>)) {
        match self {
            Node::Array(a) => f(a.batch_len()),
            Node::Sparse(s) => f(Some(s.rows())),
            Node::Map(m) => m.values().for_each(|v| v.for_each_length(f)),
            Node::List(l) => l.iter().for_each(|v| v.for_each_length(f)),
        }
    }

    /// All leaves with their paths (relative to `prefix`).
    pub fn leaves(&self, prefix: &str) -> Vec<(String, &Array)> {
        let mut out = Vec::new();
        self.visit(prefix, &mut |p, a| out.push((p.to_string(), a)));
        out
    }
}

/// One batch (or one sample) in the Kipoi layout: `{inputs, targets?, metadata?}`.
///
/// ```
/// use biobatch_core::{Array, Batch, Node};
///
/// let mut b = Batch::new(Node::map());
/// b.inputs.insert("seq", Array::zeros(biobatch_core::DType::U8, vec![8, 4, 100])).unwrap();
/// b.targets = Some(Node::from_iter([("signal", Array::zeros(biobatch_core::DType::F32, vec![8, 2, 50]))]));
/// assert_eq!(b.array("inputs/seq").unwrap().shape(), &[8, 4, 100]);
/// assert_eq!(b.batch_size().unwrap(), Some(8));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The model inputs.
    pub inputs: Node,
    /// The training targets, if any.
    pub targets: Option<Node>,
    /// Per-example metadata (ranges, ids, …), if any.
    pub metadata: Option<Node>,
}

impl Batch {
    /// A batch with inputs only.
    pub fn new(inputs: impl Into<Node>) -> Self {
        Batch {
            inputs: inputs.into(),
            targets: None,
            metadata: None,
        }
    }

    /// The three parts with their names, skipping absent ones.
    pub fn parts(&self) -> impl Iterator<Item = (&'static str, &Node)> {
        [
            ("inputs", Some(&self.inputs)),
            ("targets", self.targets.as_ref()),
            ("metadata", self.metadata.as_ref()),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
    }

    /// The node at `path`, whose first segment is `inputs`, `targets` or `metadata`.
    pub fn get(&self, path: &str) -> Option<&Node> {
        let (head, rest) = path.split_once('/').unwrap_or((path, ""));
        let part = match head {
            "inputs" => Some(&self.inputs),
            "targets" => self.targets.as_ref(),
            "metadata" => self.metadata.as_ref(),
            _ => None,
        }?;
        part.get(rest)
    }

    /// The node at `path`, mutably.
    pub fn get_mut(&mut self, path: &str) -> Option<&mut Node> {
        let (head, rest) = path.split_once('/').unwrap_or((path, ""));
        let part = match head {
            "inputs" => Some(&mut self.inputs),
            "targets" => self.targets.as_mut(),
            "metadata" => self.metadata.as_mut(),
            _ => None,
        }?;
        part.get_mut(rest)
    }

    /// The leaf array at `path`, or an error naming the path.
    pub fn array(&self, path: &str) -> Result<&Array> {
        self.get(path)
            .and_then(Node::as_array)
            .ok_or_else(|| Error::PathNotFound {
                path: path.to_string(),
            })
    }

    /// The sparse leaf at `path`, or an error naming the path.
    pub fn sparse(&self, path: &str) -> Result<&SparseRows> {
        self.get(path)
            .and_then(Node::as_sparse)
            .ok_or_else(|| Error::PathNotFound {
                path: path.to_string(),
            })
    }

    /// The sparse leaf at `path`, mutably.
    pub fn sparse_mut(&mut self, path: &str) -> Result<&mut SparseRows> {
        self.get_mut(path)
            .and_then(Node::as_sparse_mut)
            .ok_or_else(|| Error::PathNotFound {
                path: path.to_string(),
            })
    }

    /// The leaf array at `path`, mutably.
    pub fn array_mut(&mut self, path: &str) -> Result<&mut Array> {
        self.get_mut(path)
            .and_then(Node::as_array_mut)
            .ok_or_else(|| Error::PathNotFound {
                path: path.to_string(),
            })
    }

    /// Every leaf with its full path (`inputs/seq`, …).
    pub fn leaves(&self) -> Vec<(String, &Array)> {
        let mut out = Vec::new();
        for (name, node) in self.parts() {
            node.visit(name, &mut |p, a| out.push((p.to_string(), a)));
        }
        out
    }

    /// Sets the first-axis length of every leaf (see [`Array::set_rows`]).
    pub fn set_rows(&mut self, rows: usize) -> Result<()> {
        fn walk(node: &mut Node, rows: usize) -> Result<()> {
            match node {
                Node::Array(a) => a.set_rows(rows),
                Node::Sparse(s) => s.set_rows(rows),
                Node::Map(m) => m.values_mut().try_for_each(|n| walk(n, rows)),
                Node::List(l) => l.iter_mut().try_for_each(|n| walk(n, rows)),
            }
        }
        walk(&mut self.inputs, rows)?;
        if let Some(t) = &mut self.targets {
            walk(t, rows)?;
        }
        if let Some(m) = &mut self.metadata {
            walk(m, rows)?;
        }
        Ok(())
    }

    /// Calls `f` for every leaf of every part, without building paths (no allocation).
    pub fn for_each_array<'a>(&'a self, f: &mut dyn FnMut(&'a Array)) {
        for (_, node) in self.parts() {
            node.for_each_array(f);
        }
    }

    /// Total payload bytes of all leaves.
    pub fn nbytes(&self) -> usize {
        let mut n = 0;
        self.for_each_array(&mut |a| n += a.nbytes());
        n
    }

    /// The common first-axis length of all leaves (`None` for a batch without leaves).
    ///
    /// Errors name the first leaf that is a scalar or disagrees with the others.
    pub fn batch_size(&self) -> Result<Option<usize>> {
        // Fast path without paths (no allocation); paths only to name an offender.
        let (mut len, mut ok) = (None, true);
        for (_, node) in self.parts() {
            node.for_each_length(&mut |l| match (l, len) {
                (None, _) => ok = false,
                (Some(l), None) => len = Some(l),
                (Some(l), Some(first)) => ok &= l == first,
            });
        }
        if ok {
            return Ok(len);
        }
        let mut lengths = Vec::new();
        for (name, node) in self.parts() {
            node.visit_lengths(name, &mut |p, l| lengths.push((p.to_string(), l)));
        }
        let mut first: Option<(String, usize)> = None;
        for (path, len) in lengths {
            let Some(len) = len else {
                return Err(Error::NoBatchAxis { path });
            };
            match &first {
                None => first = Some((path, len)),
                Some((first_path, first_len)) if *first_len != len => {
                    return Err(Error::BatchAxis {
                        path,
                        len,
                        first_path: first_path.clone(),
                        first_len: *first_len,
                    });
                }
                Some(_) => {}
            }
        }
        Ok(first.map(|(_, n)| n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DType;

    fn sample() -> Batch {
        let mut b = Batch::new(Node::from_iter([
            ("seq", Node::Array(Array::zeros(DType::U8, vec![4, 4, 10]))),
            (
                "extra",
                Node::List(vec![
                    Array::zeros(DType::F32, vec![4]).into(),
                    Array::zeros(DType::F32, vec![4, 2]).into(),
                ]),
            ),
        ]));
        b.metadata = Some(Node::from_iter([(
            "ranges",
            Node::from_iter([("chr", Array::zeros(DType::Str, vec![4]))]),
        )]));
        b
    }

    #[test]
    fn paths_reach_maps_and_lists() {
        let b = sample();
        assert_eq!(b.array("inputs/extra/1").unwrap().shape(), &[4, 2]);
        assert_eq!(b.array("metadata/ranges/chr").unwrap().dtype(), DType::Str);
        assert!(b.get("targets").is_none());
        assert_eq!(
            b.array("inputs/nope").unwrap_err(),
            Error::PathNotFound {
                path: "inputs/nope".into()
            }
        );
        let paths: Vec<_> = b.leaves().into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            paths,
            [
                "inputs/extra/0",
                "inputs/extra/1",
                "inputs/seq",
                "metadata/ranges/chr"
            ]
        );
    }

    #[test]
    fn batch_axis_mismatch_names_the_path() {
        let mut b = sample();
        assert_eq!(b.batch_size().unwrap(), Some(4));
        *b.get_mut("inputs/seq").unwrap() = Array::zeros(DType::U8, vec![3, 4, 10]).into();
        assert_eq!(
            b.batch_size().unwrap_err(),
            Error::BatchAxis {
                path: "inputs/seq".into(),
                len: 3,
                first_path: "inputs/extra/0".into(),
                first_len: 4
            }
        );
        *b.get_mut("inputs/seq").unwrap() = Array::scalar(1.0f32).into();
        assert_eq!(
            b.batch_size().unwrap_err(),
            Error::NoBatchAxis {
                path: "inputs/seq".into()
            }
        );
    }

    #[test]
    fn sparse_leaves_count_their_rows_and_show_their_arrays() {
        let x = SparseRows::from_parts(5, vec![0, 2, 2, 3], vec![0, 4, 1], vec![1.0, 2.0, 3.0])
            .unwrap();
        let mut b = Batch::new(Node::from_iter([("x", Node::Sparse(x))]));
        b.metadata = Some(Node::from_iter([("id", Array::zeros(DType::I64, vec![3]))]));
        assert_eq!(b.batch_size().unwrap(), Some(3));
        let paths: Vec<String> = b.leaves().into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            paths,
            [
                "inputs/x/indices",
                "inputs/x/indptr",
                "inputs/x/values",
                "metadata/id"
            ]
        );
        assert_eq!(b.sparse("inputs/x").unwrap().nnz(), 3);
        assert_eq!(b.nbytes(), 3 * 4 + 4 * 4 + 3 * 4 + 3 * 8);
        b.set_rows(1).unwrap();
        assert_eq!(b.batch_size().unwrap(), Some(1));
        assert_eq!(b.sparse("inputs/x").unwrap().nnz(), 2);
        b.metadata = Some(Node::from_iter([("id", Array::zeros(DType::I64, vec![2]))]));
        let e = b.batch_size().unwrap_err().to_string();
        assert!(e.contains("metadata/id") && e.contains("inputs/x"), "{e}");
    }
}
