//! The HDF5 side of reading an `.h5ad`: strings of every HDF5 string type, value kinds, and
//! the pre-0.7 dataframes stored as one compound dataset.

use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use hdf5::types::{TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5_metno as hdf5;

use super::super::anndata::{Kind, categorical, categories_of};
use super::{Ctx, H5Store};
use crate::Result;

/// Strings of a 1-D dataset or attribute container of any string type.
pub(super) fn read_strings(c: &hdf5::Container, ctx: &Ctx<'_>, at: &str) -> Result<Vec<String>> {
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

/// The kind of values of an HDF5 type.
pub(super) fn kind_of(d: &TypeDescriptor) -> Option<Kind> {
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
pub(super) fn legacy_dataframe(
    store: &H5Store<'_>,
    ds: &hdf5::Dataset,
    id_name: &str,
    at: &str,
) -> Result<RecordBatch> {
    let (file, ctx) = (&store.file, &store.ctx);
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
                let codes = read_field::<i64>(ds, &f.name, ctx, at)?;
                categorical(
                    store,
                    codes,
                    categories_of(store, &format!("uns/{cats}"))?,
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
