//! obs / var dataframes of an `.h5ad`, in each anndata encoding.

pub(super) use crate::hdf5::string_attr;
use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, BooleanArray, DictionaryArray, Float64Array, Int32Array, Int64Array, RecordBatch,
    StringArray,
};
use hdf5::types::{TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5_metno as hdf5;

use super::Ctx;
use crate::Result;

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
pub(super) fn dataframe(
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
