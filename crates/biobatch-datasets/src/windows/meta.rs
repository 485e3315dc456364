//! The metadata every example of a window dataset carries — `ranges` (chr, start, end, id,
//! strand of the window given), `jitter` and `row` — its buffer, schema and filling.

use std::fmt::Write as _;

use biobatch_core::{Array, ArraySchema, Batch, DType, Node, SchemaNode};
use biobatch_loader::BoxError;

/// An example's `id`: a name, or a row number (written into the reused string, without
/// allocating one per example).
pub(crate) enum Id<'a> {
    Text(&'a str),
    Number(u64),
}

/// One example's metadata.
pub(crate) struct Meta<'a> {
    pub chrom: &'a str,
    /// The window given, 0-based half-open.
    pub start: i64,
    pub end: i64,
    pub id: Id<'a>,
    /// Given reverse-complemented (strand `-`), else `+`.
    pub reverse: bool,
    /// The plan's offset inside the extracted span.
    pub jitter: i64,
    /// The record's row across its files.
    pub row: i64,
}

/// The metadata buffer of a batch of `b` examples.
pub(crate) fn buffer(b: usize) -> Node {
    let ranges = Node::from_iter([
        ("chr", Array::zeros(DType::Str, vec![b])),
        ("start", Array::zeros(DType::I64, vec![b])),
        ("end", Array::zeros(DType::I64, vec![b])),
        ("id", Array::zeros(DType::Str, vec![b])),
        ("strand", Array::zeros(DType::Str, vec![b])),
    ]);
    Node::from_iter([
        ("ranges", ranges),
        ("jitter", Node::Array(Array::zeros(DType::I64, vec![b]))),
        ("row", Node::Array(Array::zeros(DType::I64, vec![b]))),
    ])
}

/// The schema of [`buffer`]'s metadata.
pub(crate) fn schema() -> SchemaNode {
    let col = |d: DType| SchemaNode::Array(ArraySchema::new(vec![]).with_dtype(d));
    SchemaNode::Map(
        [
            ("ranges".to_string(), SchemaNode::genomic_ranges()),
            ("jitter".to_string(), col(DType::I64)),
            ("row".to_string(), col(DType::I64)),
        ]
        .into(),
    )
}

/// Writes the metadata of a batch's examples, in order, into `out` (strings reuse their
/// buffers).
pub(crate) fn fill(out: &mut Batch, meta: &[Meta<'_>]) -> std::result::Result<(), BoxError> {
    for (key, which) in [
        ("metadata/jitter", 0),
        ("metadata/row", 1),
        ("metadata/ranges/start", 2),
        ("metadata/ranges/end", 3),
    ] {
        let col = out.array_mut(key)?.as_slice_mut::<i64>()?;
        for (c, m) in col.iter_mut().zip(meta) {
            *c = match which {
                0 => m.jitter,
                1 => m.row,
                2 => m.start,
                _ => m.end,
            };
        }
    }
    for (key, which) in [
        ("metadata/ranges/chr", 0),
        ("metadata/ranges/strand", 1),
        ("metadata/ranges/id", 2),
    ] {
        let col = out.array_mut(key)?.as_slice_mut::<String>()?;
        for (c, m) in col.iter_mut().zip(meta) {
            c.clear();
            match (which, &m.id) {
                (0, _) => c.push_str(m.chrom),
                (1, _) => c.push(if m.reverse { '-' } else { '+' }),
                (_, Id::Text(t)) => c.push_str(t),
                // Writing into a String cannot fail.
                (_, Id::Number(n)) => {
                    let _ = write!(c, "{n}");
                }
            }
        }
    }
    Ok(())
}
