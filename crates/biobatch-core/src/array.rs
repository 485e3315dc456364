//! [`Array`]: one dtype, one shape, one contiguous buffer.

use half::f16;
use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, IxDyn};

use crate::{DType, Error, Result};

/// The typed buffer behind an [`Array`]: one `Vec` per element type.
///
/// Keeping a real `Vec<T>` (rather than bytes) is what lets [`Array::into_vec`] hand the
/// buffer to `burn::tensor::TensorData::new(vec, shape)` without a copy.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum Data {
    Bool(Vec<bool>),
    U8(Vec<u8>),
    I8(Vec<i8>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F16(Vec<f16>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Str(Vec<String>),
}

macro_rules! for_each_data {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            Data::Bool($v) => $body,
            Data::U8($v) => $body,
            Data::I8($v) => $body,
            Data::I32($v) => $body,
            Data::I64($v) => $body,
            Data::F16($v) => $body,
            Data::F32($v) => $body,
            Data::F64($v) => $body,
            Data::Str($v) => $body,
        }
    };
}

impl Data {
    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            Data::Bool(_) => DType::Bool,
            Data::U8(_) => DType::U8,
            Data::I8(_) => DType::I8,
            Data::I32(_) => DType::I32,
            Data::I64(_) => DType::I64,
            Data::F16(_) => DType::F16,
            Data::F32(_) => DType::F32,
            Data::F64(_) => DType::F64,
            Data::Str(_) => DType::Str,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        for_each_data!(self, v => v.len())
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every element as `f64` (`false`/`true` as 0/1; `i64` beyond 2⁵³ rounded), or `None`
    /// for text: the one conversion readers, checks and tests share.
    pub fn to_f64(&self) -> Option<Vec<f64>> {
        Some(match self {
            Data::Bool(v) => v.iter().map(|&x| f64::from(u8::from(x))).collect(),
            Data::U8(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Data::I8(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Data::I32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Data::I64(v) => v.iter().map(|&x| x as f64).collect(),
            Data::F16(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Data::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Data::F64(v) => v.clone(),
            Data::Str(_) => return None,
        })
    }

    /// Every element as `i64` (`false`/`true` as 0/1), or `None` for floating-point and
    /// text elements, which do not convert exactly: the one integer widening readers and
    /// bindings share.
    pub fn to_i64(&self) -> Option<Vec<i64>> {
        Some(match self {
            Data::Bool(v) => v.iter().map(|&x| i64::from(x)).collect(),
            Data::U8(v) => v.iter().map(|&x| i64::from(x)).collect(),
            Data::I8(v) => v.iter().map(|&x| i64::from(x)).collect(),
            Data::I32(v) => v.iter().map(|&x| i64::from(x)).collect(),
            Data::I64(v) => v.clone(),
            Data::F16(_) | Data::F32(_) | Data::F64(_) | Data::Str(_) => return None,
        })
    }

    /// `n` default elements (zero, `false`, empty string) of `dtype`.
    pub fn zeros(dtype: DType, n: usize) -> Data {
        match dtype {
            DType::Bool => Data::Bool(vec![false; n]),
            DType::U8 => Data::U8(vec![0; n]),
            DType::I8 => Data::I8(vec![0; n]),
            DType::I32 => Data::I32(vec![0; n]),
            DType::I64 => Data::I64(vec![0; n]),
            DType::F16 => Data::F16(vec![f16::ZERO; n]),
            DType::F32 => Data::F32(vec![0.0; n]),
            DType::F64 => Data::F64(vec![0.0; n]),
            DType::Str => Data::Str(vec![String::new(); n]),
        }
    }

    /// An empty buffer of `dtype` with room for `n` elements.
    pub fn with_capacity(dtype: DType, n: usize) -> Data {
        match dtype {
            DType::Bool => Data::Bool(Vec::with_capacity(n)),
            DType::U8 => Data::U8(Vec::with_capacity(n)),
            DType::I8 => Data::I8(Vec::with_capacity(n)),
            DType::I32 => Data::I32(Vec::with_capacity(n)),
            DType::I64 => Data::I64(Vec::with_capacity(n)),
            DType::F16 => Data::F16(Vec::with_capacity(n)),
            DType::F32 => Data::F32(Vec::with_capacity(n)),
            DType::F64 => Data::F64(Vec::with_capacity(n)),
            DType::Str => Data::Str(Vec::with_capacity(n)),
        }
    }

    /// Appends elements `range` of `other` (same dtype) to `self`.
    pub fn extend_from(&mut self, other: &Data, range: std::ops::Range<usize>) -> Result<()> {
        match (self, other) {
            (Data::Bool(a), Data::Bool(b)) => a.extend_from_slice(&b[range]),
            (Data::U8(a), Data::U8(b)) => a.extend_from_slice(&b[range]),
            (Data::I8(a), Data::I8(b)) => a.extend_from_slice(&b[range]),
            (Data::I32(a), Data::I32(b)) => a.extend_from_slice(&b[range]),
            (Data::I64(a), Data::I64(b)) => a.extend_from_slice(&b[range]),
            (Data::F16(a), Data::F16(b)) => a.extend_from_slice(&b[range]),
            (Data::F32(a), Data::F32(b)) => a.extend_from_slice(&b[range]),
            (Data::F64(a), Data::F64(b)) => a.extend_from_slice(&b[range]),
            (Data::Str(a), Data::Str(b)) => a.extend_from_slice(&b[range]),
            (a, b) => {
                return Err(Error::DType {
                    expected: a.dtype(),
                    actual: b.dtype(),
                });
            }
        }
        Ok(())
    }
}

/// A Rust type that can be the element of an [`Array`].
pub trait Element: Clone + Send + Sync + 'static {
    /// The dtype tag of this type.
    const DTYPE: DType;
    /// The slice if `data` holds this type.
    fn slice(data: &Data) -> Option<&[Self]>;
    /// The mutable slice if `data` holds this type.
    fn slice_mut(data: &mut Data) -> Option<&mut [Self]>;
    /// Takes the `Vec` out of `data` without copying; gives `data` back if the type differs.
    fn take(data: Data) -> std::result::Result<Vec<Self>, Data>;
    /// Wraps a `Vec` as [`Data`] without copying.
    fn wrap(v: Vec<Self>) -> Data;
}

macro_rules! element {
    ($t:ty, $variant:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            fn slice(data: &Data) -> Option<&[Self]> {
                match data {
                    Data::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn slice_mut(data: &mut Data) -> Option<&mut [Self]> {
                match data {
                    Data::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn take(data: Data) -> std::result::Result<Vec<Self>, Data> {
                match data {
                    Data::$variant(v) => Ok(v),
                    other => Err(other),
                }
            }
            fn wrap(v: Vec<Self>) -> Data {
                Data::$variant(v)
            }
        }
    };
}

element!(bool, Bool);
element!(u8, U8);
element!(i8, I8);
element!(i32, I32);
element!(i64, I64);
element!(f16, F16);
element!(f32, F32);
element!(f64, F64);
element!(String, Str);

/// A dynamically typed, C-contiguous n-dimensional array.
///
/// The first axis of every array in a batch is the batch axis. The buffer is a plain
/// `Vec<T>`, so [`Array::into_vec`] gives it away without copying and
/// [`Array::view`] borrows it as an `ndarray` view.
///
/// ```
/// use biobatch_core::{Array, DType};
///
/// let a = Array::new(vec![2, 3], vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
/// assert_eq!(a.dtype(), DType::F32);
/// assert_eq!(a.view::<f32>().unwrap()[[1, 2]], 6.0);
/// let (vec, shape) = a.into_vec::<f32>().unwrap();
/// assert_eq!((vec.len(), shape), (6, vec![2, 3]));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    shape: Vec<usize>,
    data: Data,
}

fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

impl Array {
    /// An array of `shape` over `data` (row-major). Errors if the sizes disagree.
    pub fn new<T: Element>(shape: impl Into<Vec<usize>>, data: Vec<T>) -> Result<Self> {
        Self::from_data(shape, T::wrap(data))
    }

    /// An array of `shape` over an already typed buffer.
    pub fn from_data(shape: impl Into<Vec<usize>>, data: Data) -> Result<Self> {
        let shape = shape.into();
        let expected = numel(&shape);
        if expected != data.len() {
            return Err(Error::Shape {
                shape,
                expected,
                actual: data.len(),
            });
        }
        Ok(Array { shape, data })
    }

    /// A 1-D array.
    pub fn from_vec<T: Element>(data: Vec<T>) -> Self {
        Array {
            shape: vec![data.len()],
            data: T::wrap(data),
        }
    }

    /// A 0-D array holding one value.
    pub fn scalar<T: Element>(value: T) -> Self {
        Array {
            shape: Vec::new(),
            data: T::wrap(vec![value]),
        }
    }

    /// An array of `shape` filled with zeros (or `false`, or empty strings).
    pub fn zeros(dtype: DType, shape: impl Into<Vec<usize>>) -> Self {
        let shape = shape.into();
        let data = Data::zeros(dtype, numel(&shape));
        Array { shape, data }
    }

    /// Takes an `ndarray` array; copies only if it is not in standard (C) layout.
    pub fn from_ndarray<T: Element>(a: ArrayD<T>) -> Self {
        let shape = a.shape().to_vec();
        let a = if a.is_standard_layout() {
            a
        } else {
            a.as_standard_layout().into_owned()
        };
        let (vec, offset) = a.into_raw_vec_and_offset();
        let data = match offset {
            Some(0) | None => vec,
            Some(off) => vec[off..].to_vec(),
        };
        Array {
            shape,
            data: T::wrap(data),
        }
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// The shape; the first entry is the batch axis in a batch.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The first dimension, or `None` for a scalar.
    pub fn batch_len(&self) -> Option<usize> {
        self.shape.first().copied()
    }

    /// Payload bytes (for strings: the UTF-8 bytes of all elements).
    pub fn nbytes(&self) -> usize {
        match &self.data {
            Data::Str(v) => v.iter().map(String::len).sum(),
            d => d.len() * d.dtype().size().unwrap_or(0),
        }
    }

    /// Every element as `f64`, row-major, or `None` for text (see [`Data::to_f64`]).
    pub fn to_f64(&self) -> Option<Vec<f64>> {
        self.data.to_f64()
    }

    /// The typed buffer.
    pub fn data(&self) -> &Data {
        &self.data
    }

    /// The typed buffer, mutably (the length cannot change through it).
    pub fn data_mut(&mut self) -> &mut Data {
        &mut self.data
    }

    fn dtype_err<T: Element>(&self) -> Error {
        Error::DType {
            expected: T::DTYPE,
            actual: self.dtype(),
        }
    }

    /// The elements in row-major order.
    pub fn as_slice<T: Element>(&self) -> Result<&[T]> {
        T::slice(&self.data).ok_or_else(|| self.dtype_err::<T>())
    }

    /// The elements in row-major order, mutably.
    pub fn as_slice_mut<T: Element>(&mut self) -> Result<&mut [T]> {
        let err = self.dtype_err::<T>();
        T::slice_mut(&mut self.data).ok_or(err)
    }

    /// A zero-copy `ndarray` view.
    pub fn view<T: Element>(&self) -> Result<ArrayViewD<'_, T>> {
        let s = self.as_slice::<T>()?;
        // The constructor checked that the buffer length equals the product of the shape.
        ArrayViewD::from_shape(IxDyn(&self.shape), s).map_err(|e| Error::Invalid(e.to_string()))
    }

    /// A zero-copy mutable `ndarray` view.
    pub fn view_mut<T: Element>(&mut self) -> Result<ArrayViewMutD<'_, T>> {
        let shape = self.shape.clone();
        let s = self.as_slice_mut::<T>()?;
        ArrayViewMutD::from_shape(IxDyn(&shape), s).map_err(|e| Error::Invalid(e.to_string()))
    }

    /// Gives the buffer and shape away without copying (e.g. to `TensorData::new`).
    ///
    /// On a dtype mismatch the array is returned unchanged inside the error.
    pub fn into_vec<T: Element>(self) -> std::result::Result<(Vec<T>, Vec<usize>), Array> {
        let Array { shape, data } = self;
        match T::take(data) {
            Ok(v) => Ok((v, shape)),
            Err(data) => Err(Array { shape, data }),
        }
    }

    /// The shape and the typed buffer, without copying.
    pub fn into_parts(self) -> (Vec<usize>, Data) {
        (self.shape, self.data)
    }

    /// Converts into an owned `ndarray` array without copying.
    pub fn into_ndarray<T: Element>(self) -> Result<ArrayD<T>> {
        let dtype = self.dtype();
        let (v, shape) = self.into_vec::<T>().map_err(|_| Error::DType {
            expected: T::DTYPE,
            actual: dtype,
        })?;
        ArrayD::from_shape_vec(IxDyn(&shape), v).map_err(|e| Error::Invalid(e.to_string()))
    }

    /// Changes the shape, keeping the elements. Errors if the element count differs.
    pub fn reshape(&mut self, shape: impl Into<Vec<usize>>) -> Result<()> {
        let shape = shape.into();
        let expected = numel(&shape);
        if expected != self.len() {
            return Err(Error::Shape {
                shape,
                expected,
                actual: self.len(),
            });
        }
        self.shape = shape;
        Ok(())
    }

    /// Sets the length of the first axis to `rows`, keeping the allocation: shrinking drops
    /// trailing rows, growing appends default rows (no allocation while within the capacity
    /// the buffer once had). Lets a pooled batch buffer hold a short last batch and be reused.
    pub fn set_rows(&mut self, rows: usize) -> Result<()> {
        if self.shape.is_empty() {
            return Err(Error::Invalid(
                "a 0-dimensional array has no rows".to_string(),
            ));
        }
        let n = rows * self.row_len();
        match &mut self.data {
            Data::Bool(v) => v.resize(n, false),
            Data::U8(v) => v.resize(n, 0),
            Data::I8(v) => v.resize(n, 0),
            Data::I32(v) => v.resize(n, 0),
            Data::I64(v) => v.resize(n, 0),
            Data::F16(v) => v.resize(n, f16::ZERO),
            Data::F32(v) => v.resize(n, 0.0),
            Data::F64(v) => v.resize(n, 0.0),
            Data::Str(v) => v.resize(n, String::new()),
        }
        self.shape[0] = rows;
        Ok(())
    }

    /// Elements per entry of the first axis.
    pub fn row_len(&self) -> usize {
        numel(self.shape.get(1..).unwrap_or(&[]))
    }

    /// A copy of rows `range` of the first axis.
    pub fn slice_rows(&self, range: std::ops::Range<usize>) -> Result<Array> {
        let n = self.batch_len().ok_or_else(|| {
            Error::Invalid("cannot slice rows of a 0-dimensional array".to_string())
        })?;
        if range.start > range.end || range.end > n {
            return Err(Error::Invalid(format!(
                "row range {}..{} out of bounds for {n} rows",
                range.start, range.end
            )));
        }
        let row = self.row_len();
        let mut data = Data::with_capacity(self.dtype(), (range.end - range.start) * row);
        data.extend_from(&self.data, range.start * row..range.end * row)?;
        let mut shape = self.shape.clone();
        shape[0] = range.end - range.start;
        Ok(Array { shape, data })
    }
}

impl<T: Element> From<Vec<T>> for Array {
    fn from(v: Vec<T>) -> Self {
        Array::from_vec(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_checks_element_count() {
        let err = Array::new(vec![2, 3], vec![1u8; 5]).unwrap_err();
        assert_eq!(
            err,
            Error::Shape {
                shape: vec![2, 3],
                expected: 6,
                actual: 5
            }
        );
    }

    #[test]
    fn to_i64_widens_every_integer_type_and_refuses_the_rest() {
        let cases = [
            (Data::Bool(vec![true, false]), 1),
            (Data::U8(vec![255, 0]), 255),
            (Data::I8(vec![-128, 0]), -128),
            (Data::I32(vec![i32::MIN, 0]), i64::from(i32::MIN)),
            (Data::I64(vec![i64::MIN, 0]), i64::MIN),
        ];
        for (d, w) in cases {
            assert_eq!(d.to_i64(), Some(vec![w, 0]), "{:?}", d.dtype());
        }
        for d in [
            Data::F16(vec![f16::ONE]),
            Data::F32(vec![1.0]),
            Data::F64(vec![1.0]),
            Data::Str(vec!["1".into()]),
        ] {
            assert_eq!(d.to_i64(), None, "{:?}", d.dtype());
        }
    }

    #[test]
    fn to_f64_converts_every_numeric_type_and_refuses_text() {
        let half = |x: f32| f16::from_f32(x);
        let cases = [
            Data::Bool(vec![true, false]),
            Data::U8(vec![255, 0]),
            Data::I8(vec![-128, 0]),
            Data::I32(vec![i32::MIN, 0]),
            Data::I64(vec![-(1 << 53), 0]),
            Data::F16(vec![half(-2.5), half(0.0)]),
            Data::F32(vec![0.1, 0.0]),
            Data::F64(vec![1e300, 0.0]),
        ];
        let want = [
            1.0,
            255.0,
            -128.0,
            -2147483648.0,
            -9007199254740992.0,
            -2.5,
            0.1f32 as f64,
            1e300,
        ];
        for (d, w) in cases.iter().zip(want) {
            assert_eq!(d.to_f64(), Some(vec![w, 0.0]), "{:?}", d.dtype());
        }
        assert_eq!(Data::Str(vec!["1".into()]).to_f64(), None);
        let a = Array::new(vec![2, 2], vec![1i32, 2, 3, 4]).unwrap();
        assert_eq!(a.to_f64(), Some(vec![1.0, 2.0, 3.0, 4.0]));
    }

    #[test]
    fn into_vec_is_zero_copy() {
        let v = vec![1.0f32; 1024];
        let ptr = v.as_ptr();
        let a = Array::new(vec![32, 32], v).unwrap();
        let (back, shape) = a.into_vec::<f32>().unwrap();
        assert_eq!(back.as_ptr(), ptr);
        assert_eq!(shape, vec![32, 32]);
    }

    #[test]
    fn into_vec_wrong_dtype_returns_array() {
        let a = Array::new(vec![2], vec![1i32, 2]).unwrap();
        let back = a.into_vec::<f32>().unwrap_err();
        assert_eq!(back.as_slice::<i32>().unwrap(), &[1, 2]);
    }

    #[test]
    fn view_indexes_row_major() {
        let a = Array::new(vec![2, 2, 2], (0..8i64).collect::<Vec<_>>()).unwrap();
        let v = a.view::<i64>().unwrap();
        assert_eq!(v[[1, 0, 1]], 5);
        assert_eq!(
            a.view::<f64>().unwrap_err(),
            Error::DType {
                expected: DType::F64,
                actual: DType::I64
            }
        );
    }

    #[test]
    fn ndarray_round_trip_handles_non_standard_layout() {
        let a = ndarray::Array2::from_shape_fn((3, 4), |(i, j)| (i * 10 + j) as f64);
        let t = a.t().to_owned().into_dyn(); // Fortran-ordered memory
        let arr = Array::from_ndarray(t.clone());
        assert_eq!(arr.shape(), &[4, 3]);
        assert_eq!(arr.view::<f64>().unwrap(), t.view());
        assert_eq!(arr.into_ndarray::<f64>().unwrap(), t);
    }

    #[test]
    fn slice_rows_copies_the_right_rows() {
        let a = Array::new(
            vec![4, 2],
            vec!["a", "b", "c", "d", "e", "f", "g", "h"]
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>(),
        )
        .unwrap();
        let s = a.slice_rows(1..3).unwrap();
        assert_eq!(s.shape(), &[2, 2]);
        assert_eq!(s.as_slice::<String>().unwrap(), &["c", "d", "e", "f"]);
        assert!(a.slice_rows(3..5).is_err());
    }

    #[test]
    fn set_rows_keeps_the_allocation() {
        let mut a = Array::new(vec![4, 3], (0..12i32).collect::<Vec<_>>()).unwrap();
        let ptr = a.as_slice::<i32>().unwrap().as_ptr();
        a.set_rows(2).unwrap();
        assert_eq!(a.shape(), &[2, 3]);
        assert_eq!(a.as_slice::<i32>().unwrap(), &[0, 1, 2, 3, 4, 5]);
        a.set_rows(4).unwrap();
        assert_eq!(a.as_slice::<i32>().unwrap()[6..], [0; 6]);
        assert_eq!(a.as_slice::<i32>().unwrap().as_ptr(), ptr);
        assert!(Array::scalar(1u8).set_rows(1).is_err());
    }

    #[test]
    fn nbytes_and_reshape() {
        let mut a = Array::zeros(DType::F16, vec![3, 4]);
        assert_eq!(a.nbytes(), 24);
        a.reshape(vec![12]).unwrap();
        assert_eq!(a.shape(), &[12]);
        assert!(a.reshape(vec![5]).is_err());
    }
}
