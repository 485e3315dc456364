//! Import of AnnData `.h5ad` files (feature `h5ad`, through the HDF5 C library).
//!
//! - `X` stored dense (a 2-D dataset), as CSR or as CSC (a group with `data`, `indices`,
//!   `indptr` and a `shape` attribute — `encoding-type` = `csr_matrix` / `csc_matrix`, or the
//!   older `h5sparse_format` = `csr` / `csc`). Dense and CSC matrices become CSR; explicit
//!   zeros of a dense matrix are dropped. Integer-valued floats that fit (raw counts saved as
//!   `float32`) are stored as `u16`, other floats as `f32`, integers as `i32` (or `u16`).
//! - `obs` / `var` dataframes in the current encoding (anndata ≥ 0.8: columns with
//!   `encoding-type`; categoricals as groups of `codes` and `categories`; nullable integers
//!   and booleans as `values` + `mask`) and in the 0.7 encoding (categorical codes whose
//!   `categories` attribute references a dataset under `__categories`). The index (`_index`)
//!   becomes `obs_id` / `var_id`; categoricals become dictionary columns (code −1: null).
//! - The pre-0.7 layout: obs / var as one compound dataset (a field per column, the index in
//!   field `index`), categorical codes whose categories sit in `uns/<column>_categories`.

use std::path::Path;
use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, BooleanArray, DictionaryArray, Float64Array, Int32Array, Int64Array, RecordBatch,
    StringArray,
};
use hdf5::types::{TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5_metno as hdf5;

use super::{LayerData, Manifest, write_experiment};
use crate::csr::CsrMatrix;
use crate::{Error, Result};

/// What [`import_h5ad`] read and wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct H5adImport {
    /// The store's manifest.
    pub manifest: Manifest,
    /// How X was stored: `dense`, `csr` or `csc`.
    pub x_storage: String,
    /// The dataframe encoding found: `anndata >= 0.8` or `anndata 0.7`.
    pub encoding: String,
}

struct Ctx<'a> {
    path: &'a Path,
}

impl Ctx<'_> {
    fn err(&self, what: impl std::fmt::Display) -> Error {
        Error::Invalid(format!("{}: {what}", self.path.display()))
    }

    fn h5(&self, at: &str) -> impl Fn(hdf5::Error) -> Error + '_ {
        let at = at.to_string();
        move |e| self.err(format!("{at}: {e}"))
    }
}

/// A string attribute (variable- or fixed-length), if present.
fn string_attr(loc: &hdf5::Location, name: &str) -> Option<String> {
    let a = loc.attr(name).ok()?;
    match a.dtype().ok()?.to_descriptor().ok()? {
        TypeDescriptor::VarLenUnicode => a
            .read_scalar::<VarLenUnicode>()
            .ok()
            .map(|s| s.as_str().to_string()),
        TypeDescriptor::VarLenAscii => a
            .read_scalar::<VarLenAscii>()
            .ok()
            .map(|s| s.as_str().to_string()),
        TypeDescriptor::FixedAscii(_) => a
            .read_scalar::<hdf5::types::FixedAscii<1024>>()
            .ok()
            .map(|s| s.as_str().to_string()),
        TypeDescriptor::FixedUnicode(_) => a
            .read_scalar::<hdf5::types::FixedUnicode<4096>>()
            .ok()
            .map(|s| s.as_str().to_string()),
        _ => None,
    }
}

/// Strings of a 1-D dataset or attribute container of any string type.
fn read_strings(c: &hdf5::Container, ctx: &Ctx<'_>, at: &str) -> Result<Vec<String>> {
    let d = c
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(ctx.h5(at))?;
    Ok(match d {
        TypeDescriptor::VarLenUnicode => c
            .read_raw::<VarLenUnicode>()
            .map_err(ctx.h5(at))?
            .iter()
            .map(|s| s.as_str().to_string())
            .collect(),
        TypeDescriptor::VarLenAscii => c
            .read_raw::<VarLenAscii>()
            .map_err(ctx.h5(at))?
            .iter()
            .map(|s| s.as_str().to_string())
            .collect(),
        TypeDescriptor::FixedAscii(_) => c
            .read_raw::<hdf5::types::FixedAscii<1024>>()
            .map_err(ctx.h5(at))?
            .iter()
            .map(|s| s.as_str().to_string())
            .collect(),
        TypeDescriptor::FixedUnicode(_) => c
            .read_raw::<hdf5::types::FixedUnicode<4096>>()
            .map_err(ctx.h5(at))?
            .iter()
            .map(|s| s.as_str().to_string())
            .collect(),
        other => return Err(ctx.err(format!("{at}: expected strings, found {other}"))),
    })
}

/// What a dataset's values are.
enum Kind {
    Text,
    Int,
    Float,
    Bool,
}

fn kind_of(d: &TypeDescriptor) -> Option<Kind> {
    Some(match d {
        TypeDescriptor::VarLenUnicode
        | TypeDescriptor::VarLenAscii
        | TypeDescriptor::FixedAscii(_)
        | TypeDescriptor::FixedUnicode(_) => Kind::Text,
        TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) => Kind::Int,
        TypeDescriptor::Float(_) => Kind::Float,
        // h5py writes bool as an enum of int8 {FALSE: 0, TRUE: 1}.
        TypeDescriptor::Boolean => Kind::Bool,
        TypeDescriptor::Enum(e)
            if e.members
                .iter()
                .any(|m| m.name.eq_ignore_ascii_case("true")) =>
        {
            Kind::Bool
        }
        _ => return None,
    })
}

/// A plain 1-D dataset as an Arrow array.
fn plain_column(ds: &hdf5::Dataset, ctx: &Ctx<'_>, at: &str) -> Result<ArrayRef> {
    let d = ds
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(ctx.h5(at))?;
    Ok(match kind_of(&d) {
        Some(Kind::Text) => Arc::new(StringArray::from(read_strings(ds, ctx, at)?)),
        Some(Kind::Int) => Arc::new(Int64Array::from(ds.read_raw::<i64>().map_err(ctx.h5(at))?)),
        Some(Kind::Float) => Arc::new(Float64Array::from(
            ds.read_raw::<f64>().map_err(ctx.h5(at))?,
        )),
        Some(Kind::Bool) => {
            let v = ds.read_raw::<i8>().map_err(ctx.h5(at))?;
            Arc::new(BooleanArray::from(
                v.iter().map(|&x| x != 0).collect::<Vec<_>>(),
            ))
        }
        None => return Err(ctx.err(format!("{at}: unsupported column type {d}"))),
    })
}

/// A categorical column from its codes (−1: missing) and categories.
fn categorical(
    codes: Vec<i64>,
    categories: Vec<String>,
    ctx: &Ctx<'_>,
    at: &str,
) -> Result<ArrayRef> {
    let n = categories.len() as i64;
    if let Some(c) = codes.iter().find(|&&c| c < -1 || c >= n) {
        return Err(ctx.err(format!("{at}: code {c} outside its {n} categories")));
    }
    let keys = Int32Array::from(
        codes
            .iter()
            .map(|&c| (c >= 0).then_some(c as i32))
            .collect::<Vec<_>>(),
    );
    let values = Arc::new(StringArray::from(categories));
    Ok(Arc::new(
        DictionaryArray::<Int32Type>::try_new(keys, values)
            .map_err(|e| ctx.err(format!("{at}: {e}")))?,
    ))
}

/// Categories of any type, as text.
fn categories_of(ds: &hdf5::Dataset, ctx: &Ctx<'_>, at: &str) -> Result<Vec<String>> {
    let col = plain_column(ds, ctx, at)?;
    let text = arrow_cast_to_strings(&col);
    Ok(text)
}

fn arrow_cast_to_strings(col: &ArrayRef) -> Vec<String> {
    use arrow_array::Array;
    let n = col.len();
    if let Some(s) = col.as_any().downcast_ref::<StringArray>() {
        return (0..n).map(|i| s.value(i).to_string()).collect();
    }
    if let Some(s) = col.as_any().downcast_ref::<Int64Array>() {
        return (0..n).map(|i| s.value(i).to_string()).collect();
    }
    if let Some(s) = col.as_any().downcast_ref::<Float64Array>() {
        return (0..n).map(|i| s.value(i).to_string()).collect();
    }
    if let Some(s) = col.as_any().downcast_ref::<BooleanArray>() {
        return (0..n).map(|i| s.value(i).to_string()).collect();
    }
    Vec::new()
}

/// One dataframe (obs or var) as a table whose first column is `id_name`.
fn dataframe(
    file: &hdf5::File,
    name: &str,
    id_name: &str,
    ctx: &Ctx<'_>,
) -> Result<(RecordBatch, &'static str)> {
    let at = format!("/{name}");
    if let Ok(ds) = file.dataset(name) {
        return Ok((
            legacy_dataframe(file, &ds, id_name, ctx, &at)?,
            "anndata < 0.7",
        ));
    }
    let g = file.group(name).map_err(ctx.h5(&at))?;
    let index = string_attr(&g, "_index").unwrap_or_else(|| "_index".into());
    let index_ds = g
        .dataset(&index)
        .map_err(ctx.h5(&format!("{at}/{index}")))?;
    let ids = read_strings(&index_ds, ctx, &format!("{at}/{index}"))?;
    let order: Vec<String> = match g.attr("column-order") {
        Ok(a) if a.size() > 0 => read_strings(&a, ctx, &format!("{at} column-order"))?,
        _ => {
            let mut m = g.member_names().map_err(ctx.h5(&at))?;
            m.retain(|k| k != &index && k != "__categories");
            m
        }
    };
    let mut encoding = "anndata 0.7";
    let mut cols: Vec<(String, ArrayRef)> = vec![(
        id_name.to_string(),
        Arc::new(StringArray::from(ids.clone())) as ArrayRef,
    )];
    for col in order {
        let cat = format!("{at}/{col}");
        let column: ArrayRef = if let Ok(sub) = g.group(&col) {
            encoding = "anndata >= 0.8";
            match string_attr(&sub, "encoding-type").as_deref() {
                Some("categorical") => {
                    let codes = sub
                        .dataset("codes")
                        .and_then(|d| d.read_raw::<i64>())
                        .map_err(ctx.h5(&format!("{cat}/codes")))?;
                    let cats = categories_of(
                        &sub.dataset("categories")
                            .map_err(ctx.h5(&format!("{cat}/categories")))?,
                        ctx,
                        &format!("{cat}/categories"),
                    )?;
                    categorical(codes, cats, ctx, &cat)?
                }
                Some("nullable-integer") | Some("nullable-boolean") => {
                    let values = plain_column(
                        &sub.dataset("values")
                            .map_err(ctx.h5(&format!("{cat}/values")))?,
                        ctx,
                        &cat,
                    )?;
                    let mask = sub
                        .dataset("mask")
                        .and_then(|d| d.read_raw::<i8>())
                        .map_err(ctx.h5(&format!("{cat}/mask")))?;
                    let nulls = arrow_buffer_nulls(&mask);
                    with_nulls(values, nulls, ctx, &cat)?
                }
                other => {
                    return Err(ctx.err(format!("{cat}: unsupported column encoding {other:?}")));
                }
            }
        } else {
            let ds = g.dataset(&col).map_err(ctx.h5(&cat))?;
            if let Some("categorical") | None = string_attr(&ds, "encoding-type").as_deref() {
                // 0.7: codes with a reference to their categories.
                if let Ok(a) = ds.attr("categories") {
                    let r: hdf5::ObjectReference1 = a
                        .read_scalar()
                        .map_err(ctx.h5(&format!("{cat} categories")))?;
                    let target = hdf5::ObjectReference::dereference(&r, file)
                        .map_err(ctx.h5(&format!("{cat} categories")))?;
                    let hdf5::ReferencedObject::Dataset(cds) = target else {
                        return Err(ctx.err(format!("{cat}: its categories are not a dataset")));
                    };
                    let codes = ds.read_raw::<i64>().map_err(ctx.h5(&cat))?;
                    let cats = categories_of(&cds, ctx, &format!("{cat} categories"))?;
                    cols.push((col.clone(), categorical(codes, cats, ctx, &cat)?));
                    continue;
                }
            } else {
                encoding = "anndata >= 0.8";
            }
            plain_column(&ds, ctx, &cat)?
        };
        use arrow_array::Array;
        if column.len() != ids.len() {
            return Err(ctx.err(format!(
                "{cat} has {} rows, the index {}",
                column.len(),
                ids.len()
            )));
        }
        cols.push((col, column));
    }
    let batch = RecordBatch::try_from_iter(cols).map_err(|e| ctx.err(format!("{at}: {e}")))?;
    Ok((batch, encoding))
}

thread_local! {
    /// The compound field [`Field`] reads (set just before each read).
    static FIELD_NAME: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// One field of a compound record: HDF5 reads just that field (by name) into `T`.
#[repr(transparent)]
struct Field<T>(T);

// SAFETY: `Field<T>` is `repr(transparent)` over `T`, so its memory layout is exactly `T`'s:
// a compound of one member of type `T` at offset 0 whose size is `size_of::<T>()`, which is
// what the descriptor says.
unsafe impl<T: hdf5::H5Type> hdf5::H5Type for Field<T> {
    fn type_descriptor() -> TypeDescriptor {
        let name = FIELD_NAME.with(|n| n.borrow().clone());
        TypeDescriptor::Compound(hdf5::types::CompoundType {
            fields: vec![hdf5::types::CompoundField {
                name,
                ty: T::type_descriptor(),
                offset: 0,
                index: 0,
            }],
            size: std::mem::size_of::<T>(),
        })
    }
}

/// Field `name` of every record of a compound dataset.
fn read_field<T: hdf5::H5Type>(
    ds: &hdf5::Dataset,
    name: &str,
    ctx: &Ctx<'_>,
    at: &str,
) -> Result<Vec<T>> {
    FIELD_NAME.with(|n| *n.borrow_mut() = name.to_string());
    let v: Vec<Field<T>> = ds
        .read_raw()
        .map_err(ctx.h5(&format!("{at} field `{name}`")))?;
    Ok(v.into_iter().map(|f| f.0).collect())
}

/// A pre-0.7 dataframe: one compound dataset, the index in field `index`, categories of a
/// categorical column `c` in `uns/c_categories`.
fn legacy_dataframe(
    file: &hdf5::File,
    ds: &hdf5::Dataset,
    id_name: &str,
    ctx: &Ctx<'_>,
    at: &str,
) -> Result<RecordBatch> {
    let TypeDescriptor::Compound(ty) = ds
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(ctx.h5(at))?
    else {
        return Err(ctx.err(format!("{at} is a dataset but not a compound one")));
    };
    let mut fields = ty.fields.clone();
    fields.sort_by_key(|f| f.index);
    let text = |name: &str, ty: &TypeDescriptor| -> Result<Vec<String>> {
        Ok(match ty {
            TypeDescriptor::VarLenUnicode => read_field::<VarLenUnicode>(ds, name, ctx, at)?
                .iter()
                .map(|s| s.as_str().to_string())
                .collect(),
            TypeDescriptor::VarLenAscii => read_field::<VarLenAscii>(ds, name, ctx, at)?
                .iter()
                .map(|s| s.as_str().to_string())
                .collect(),
            _ => read_field::<hdf5::types::FixedAscii<1024>>(ds, name, ctx, at)?
                .iter()
                .map(|s| s.as_str().to_string())
                .collect(),
        })
    };
    let index = fields
        .iter()
        .find(|f| f.name == "index")
        .ok_or_else(|| ctx.err(format!("{at} has no `index` field")))?;
    let ids = text("index", &index.ty)?;
    let mut cols: Vec<(String, ArrayRef)> = vec![(
        id_name.to_string(),
        Arc::new(StringArray::from(ids)) as ArrayRef,
    )];
    for f in fields.iter().filter(|f| f.name != "index") {
        let cats = format!("{}_categories", f.name);
        let col: ArrayRef = match kind_of(&f.ty) {
            Some(Kind::Int) if file.dataset(&format!("uns/{cats}")).is_ok() => {
                let cds = file
                    .dataset(&format!("uns/{cats}"))
                    .map_err(ctx.h5(&format!("/uns/{cats}")))?;
                let codes = read_field::<i64>(ds, &f.name, ctx, at)?;
                categorical(
                    codes,
                    categories_of(&cds, ctx, &format!("/uns/{cats}"))?,
                    ctx,
                    &format!("{at}/{}", f.name),
                )?
            }
            Some(Kind::Int) => Arc::new(Int64Array::from(read_field::<i64>(ds, &f.name, ctx, at)?)),
            Some(Kind::Float) => {
                Arc::new(Float64Array::from(read_field::<f64>(ds, &f.name, ctx, at)?))
            }
            Some(Kind::Bool) => {
                let v = read_field::<i8>(ds, &f.name, ctx, at)?;
                Arc::new(BooleanArray::from(
                    v.iter().map(|&x| x != 0).collect::<Vec<_>>(),
                ))
            }
            Some(Kind::Text) => Arc::new(StringArray::from(text(&f.name, &f.ty)?)),
            None => {
                return Err(ctx.err(format!(
                    "{at} field `{}` has unsupported type {}",
                    f.name, f.ty
                )));
            }
        };
        cols.push((f.name.clone(), col));
    }
    RecordBatch::try_from_iter(cols).map_err(|e| ctx.err(format!("{at}: {e}")))
}

fn arrow_buffer_nulls(mask: &[i8]) -> Vec<bool> {
    // anndata's mask is true where the value is missing.
    mask.iter().map(|&m| m == 0).collect()
}

fn with_nulls(values: ArrayRef, valid: Vec<bool>, ctx: &Ctx<'_>, at: &str) -> Result<ArrayRef> {
    use arrow_array::Array;
    if valid.len() != values.len() {
        return Err(ctx.err(format!("{at}: mask and values differ in length")));
    }
    let nulls = Some(arrow_buffer::NullBuffer::from(valid));
    let data = values
        .to_data()
        .into_builder()
        .nulls(nulls)
        .build()
        .map_err(|e| ctx.err(format!("{at}: {e}")))?;
    Ok(arrow_array::make_array(data))
}

/// X's values as f64 with its CSR structure.
struct RawCsr {
    n_rows: usize,
    n_cols: usize,
    indptr: Vec<u64>,
    indices: Vec<u32>,
    values: Vec<f64>,
    integer_type: bool,
}

fn shape_attr(g: &hdf5::Group, ctx: &Ctx<'_>) -> Result<(usize, usize)> {
    for name in ["shape", "h5sparse_shape"] {
        if let Ok(a) = g.attr(name) {
            let v = a.read_raw::<i64>().map_err(ctx.h5("X shape"))?;
            if let [r, c] = v[..] {
                return Ok((r as usize, c as usize));
            }
        }
    }
    Err(ctx.err("/X has no shape attribute"))
}

fn read_x(file: &hdf5::File, ctx: &Ctx<'_>) -> Result<(RawCsr, &'static str)> {
    if let Ok(ds) = file.dataset("X") {
        let shape = ds.shape();
        let [n_rows, n_cols] = shape[..] else {
            return Err(ctx.err(format!("/X has shape {shape:?}, expected 2 dimensions")));
        };
        let integer_type = matches!(
            ds.dtype()
                .and_then(|t| t.to_descriptor())
                .map_err(ctx.h5("/X"))?,
            TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_)
        );
        let (mut indptr, mut indices, mut values) = (vec![0u64], Vec::new(), Vec::new());
        // Row blocks of about 16 MB.
        let block = (2_000_000 / n_cols.max(1)).max(1);
        let mut r0 = 0;
        while r0 < n_rows {
            let r1 = (r0 + block).min(n_rows);
            let a = ds
                .read_slice_2d::<f64, _>(ndarray_s(r0, r1))
                .map_err(ctx.h5("/X"))?;
            for row in a.rows() {
                for (j, &v) in row.iter().enumerate() {
                    if v != 0.0 {
                        indices.push(j as u32);
                        values.push(v);
                    }
                }
                indptr.push(indices.len() as u64);
            }
            r0 = r1;
        }
        return Ok((
            RawCsr {
                n_rows,
                n_cols,
                indptr,
                indices,
                values,
                integer_type,
            },
            "dense",
        ));
    }
    let g = file.group("X").map_err(ctx.h5("/X"))?;
    let format = string_attr(&g, "encoding-type")
        .or_else(|| string_attr(&g, "h5sparse_format"))
        .unwrap_or_default();
    let csc = match format.as_str() {
        "csr_matrix" | "csr" => false,
        "csc_matrix" | "csc" => true,
        other => {
            return Err(ctx.err(format!(
                "/X: unsupported storage `{other}` (expected dense, CSR or CSC)"
            )));
        }
    };
    let (n_rows, n_cols) = shape_attr(&g, ctx)?;
    let data = g.dataset("data").map_err(ctx.h5("/X/data"))?;
    let integer_type = matches!(
        data.dtype()
            .and_then(|t| t.to_descriptor())
            .map_err(ctx.h5("/X/data"))?,
        TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_)
    );
    let values = data.read_raw::<f64>().map_err(ctx.h5("/X/data"))?;
    let idx = g
        .dataset("indices")
        .and_then(|d| d.read_raw::<i64>())
        .map_err(ctx.h5("/X/indices"))?;
    let ptr = g
        .dataset("indptr")
        .and_then(|d| d.read_raw::<i64>())
        .map_err(ctx.h5("/X/indptr"))?;
    let (major, minor) = if csc {
        (n_cols, n_rows)
    } else {
        (n_rows, n_cols)
    };
    if ptr.len() != major + 1
        || idx.len() != values.len()
        || ptr.last().copied() != Some(idx.len() as i64)
    {
        return Err(ctx.err(format!(
            "/X: indptr has {} entries for {major} {} and ends at {:?}, with {} indices and {} values",
            ptr.len(),
            if csc { "columns" } else { "rows" },
            ptr.last(),
            idx.len(),
            values.len()
        )));
    }
    if let Some(&bad) = idx.iter().find(|&&i| i < 0 || i as usize >= minor) {
        return Err(ctx.err(format!("/X/indices holds {bad}, outside 0..{minor}")));
    }
    if ptr.windows(2).any(|w| w[1] < w[0]) || ptr[0] != 0 {
        return Err(ctx.err("/X/indptr is not a non-decreasing run from 0"));
    }
    let indices: Vec<u32> = idx.iter().map(|&i| i as u32).collect();
    let indptr: Vec<u64> = ptr.iter().map(|&p| p as u64).collect();
    if !csc {
        return Ok((
            RawCsr {
                n_rows,
                n_cols,
                indptr,
                indices,
                values,
                integer_type,
            },
            "csr",
        ));
    }
    // CSC → CSR through COO (row = stored index, column = the indptr segment).
    let mut cols = Vec::with_capacity(indices.len());
    for j in 0..n_cols {
        cols.extend(std::iter::repeat_n(
            j as u32,
            (indptr[j + 1] - indptr[j]) as usize,
        ));
    }
    let m = CsrMatrix::<f32, u32>::from_coo(
        n_rows,
        n_cols,
        &indices,
        &cols,
        &values.iter().map(|&v| v as f32).collect::<Vec<_>>(),
    )?;
    // Back to f64 values for the dtype decision below (exact: they came from f32 or less).
    let values = m.values().iter().map(|&v| v as f64).collect();
    Ok((
        RawCsr {
            n_rows,
            n_cols,
            indptr: m.indptr().to_vec(),
            indices: m.indices().to_vec(),
            values,
            integer_type,
        },
        "csc",
    ))
}

fn ndarray_s(r0: usize, r1: usize) -> (std::ops::Range<usize>, std::ops::RangeFull) {
    (r0..r1, ..)
}

/// Imports an `.h5ad` into a new store at `out` with X as layer `layer`.
pub fn import_h5ad(
    path: impl AsRef<Path>,
    out: impl AsRef<Path>,
    layer: &str,
) -> Result<H5adImport> {
    let path = path.as_ref();
    let ctx = Ctx { path };
    let file =
        hdf5::File::open(path).map_err(|e| ctx.err(format!("not a readable HDF5 file: {e}")))?;
    let (obs, obs_enc) = dataframe(&file, "obs", "obs_id", &ctx)?;
    let (var, _) = dataframe(&file, "var", "var_id", &ctx)?;
    let (x, storage) = read_x(&file, &ctx)?;
    if (x.n_rows, x.n_cols) != (obs.num_rows(), var.num_rows()) {
        return Err(ctx.err(format!(
            "X is {} × {}, but obs has {} rows and var {}",
            x.n_rows,
            x.n_cols,
            obs.num_rows(),
            var.num_rows()
        )));
    }
    let counts = x
        .values
        .iter()
        .all(|&v| v.fract() == 0.0 && (0.0..=65_535.0).contains(&v));
    let out = out.as_ref();
    let name = layer;
    let manifest = if counts {
        let v: Vec<u16> = x.values.iter().map(|&v| v as u16).collect();
        let m = CsrMatrix::from_parts(x.n_cols, x.indptr, x.indices, v)?;
        write_experiment(out, &obs, &var, &[(name, LayerData::from(&m))])?
    } else if x.integer_type
        && x.values
            .iter()
            .all(|&v| v.fract() == 0.0 && v.abs() <= i32::MAX as f64)
    {
        let v: Vec<i32> = x.values.iter().map(|&v| v as i32).collect();
        let m = CsrMatrix::from_parts(x.n_cols, x.indptr, x.indices, v)?;
        write_experiment(out, &obs, &var, &[(name, LayerData::from(&m))])?
    } else {
        let v: Vec<f32> = x.values.iter().map(|&v| v as f32).collect();
        let m = CsrMatrix::from_parts(x.n_cols, x.indptr, x.indices, v)?;
        write_experiment(out, &obs, &var, &[(name, LayerData::from(&m))])?
    };
    Ok(H5adImport {
        manifest,
        x_storage: storage.to_string(),
        encoding: obs_enc.to_string(),
    })
}
