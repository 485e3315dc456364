//! obs columns returned with each batch, held per pool cell in the type batches carry.

use arrow_array::{Array as _, RecordBatch};
use biobatch_core::{Array, DType};
use biobatch_loader::BoxError;
use biobatch_sampling::Sample;

use crate::{Error, Result};

/// An obs column's values for the pool's cells, in the type batches carry.
#[derive(Debug)]
pub(crate) enum ObsValues {
    Bool(Vec<bool>),
    I64(Vec<i64>),
    F64(Vec<f64>),
    Str(Vec<String>),
}

impl ObsValues {
    /// Column `name` of `obs` at store rows `pool` (missing values: false, 0, NaN, "").
    pub(super) fn of(obs: &RecordBatch, name: &str, pool: &[u64]) -> Result<Self> {
        use arrow_schema::DataType as T;
        let bad = |message: &str| Error::Column {
            table: "obs".into(),
            column: name.to_string(),
            message: message.to_string(),
        };
        let col = obs
            .column_by_name(name)
            .ok_or_else(|| bad("no such column to return"))?;
        let cast = |to: &T| {
            arrow_cast::cast(col, to).map_err(|source| Error::Arrow {
                context: format!("obs column `{name}`"),
                source,
            })
        };
        let rows = pool.iter().map(|&r| r as usize);
        Ok(match col.data_type() {
            T::Boolean => {
                let c = cast(&T::Boolean)?;
                let c = c
                    .as_any()
                    .downcast_ref::<arrow_array::BooleanArray>()
                    .ok_or_else(|| bad("is not boolean"))?;
                ObsValues::Bool(rows.map(|r| c.is_valid(r) && c.value(r)).collect())
            }
            t if t.is_integer() => {
                let c = cast(&T::Int64)?;
                let c = c
                    .as_any()
                    .downcast_ref::<arrow_array::Int64Array>()
                    .ok_or_else(|| bad("is not integer"))?;
                ObsValues::I64(
                    rows.map(|r| if c.is_valid(r) { c.value(r) } else { 0 })
                        .collect(),
                )
            }
            t if t.is_floating() => {
                let c = cast(&T::Float64)?;
                let c = c
                    .as_any()
                    .downcast_ref::<arrow_array::Float64Array>()
                    .ok_or_else(|| bad("is not float"))?;
                ObsValues::F64(
                    rows.map(|r| if c.is_valid(r) { c.value(r) } else { f64::NAN })
                        .collect(),
                )
            }
            _ => {
                let c = cast(&T::Utf8)?;
                let c = c
                    .as_any()
                    .downcast_ref::<arrow_array::StringArray>()
                    .ok_or_else(|| bad("is not text"))?;
                ObsValues::Str(
                    rows.map(|r| {
                        if c.is_valid(r) {
                            c.value(r).to_string()
                        } else {
                            String::new()
                        }
                    })
                    .collect(),
                )
            }
        })
    }

    pub(super) fn dtype(&self) -> DType {
        match self {
            ObsValues::Bool(_) => DType::Bool,
            ObsValues::I64(_) => DType::I64,
            ObsValues::F64(_) => DType::F64,
            ObsValues::Str(_) => DType::Str,
        }
    }

    pub(super) fn copy_to(
        &self,
        samples: &[Sample],
        dst: &mut Array,
    ) -> std::result::Result<(), BoxError> {
        let at = |s: &Sample| s.index as usize;
        match self {
            ObsValues::Bool(v) => dst
                .as_slice_mut::<bool>()?
                .iter_mut()
                .zip(samples)
                .for_each(|(d, s)| *d = v[at(s)]),
            ObsValues::I64(v) => dst
                .as_slice_mut::<i64>()?
                .iter_mut()
                .zip(samples)
                .for_each(|(d, s)| *d = v[at(s)]),
            ObsValues::F64(v) => dst
                .as_slice_mut::<f64>()?
                .iter_mut()
                .zip(samples)
                .for_each(|(d, s)| *d = v[at(s)]),
            ObsValues::Str(v) => dst
                .as_slice_mut::<String>()?
                .iter_mut()
                .zip(samples)
                .for_each(|(d, s)| {
                    d.clear();
                    d.push_str(&v[at(s)]);
                }),
        }
        Ok(())
    }
}
