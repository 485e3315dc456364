//! Batch trees crossing into Python without copies.
//!
//! A [`BatchBuffer`] owns one batch from the loader. `tree()` returns the Kipoi dict
//! (`{"inputs": …, "targets": …, "metadata": …}`, nested dicts and lists as the Rust tree
//! has them) whose numpy leaves view the buffer's memory and hold the `BatchBuffer` as their
//! `base`: the buffer returns to the loader's pool when the last view (and any tensor made
//! from one with `torch.from_numpy`) is gone. Sparse leaves become [`Csr`] triples; text
//! leaves (metadata) are copied into numpy string arrays.

use biobatch_core::{Array, Batch, Data, Node, SparseRows};
use biobatch_loader::LoadedBatch;
use numpy::{PyArray, PyArrayDescrMethods, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::errors::{IntoPy, invalid};

/// What a [`BatchBuffer`] holds.
enum Held {
    /// A batch from the loader: its buffer goes back to the pool on drop.
    Loaded(LoadedBatch),
    /// A batch computed on request (`Loader.get`) at plan positions of an epoch.
    Plain {
        batch: Batch,
        epoch: u64,
        index: u64,
    },
}

/// One batch from the loader, owning its memory. Its numpy views (from
/// [`BatchBuffer::tree`]) keep it alive; when the last is gone the buffer returns to the
/// loader's pool.
#[pyclass(module = "biobatch._native", frozen)]
pub(crate) struct BatchBuffer {
    held: Held,
}

impl BatchBuffer {
    pub(crate) fn loaded(b: LoadedBatch) -> Self {
        BatchBuffer {
            held: Held::Loaded(b),
        }
    }

    pub(crate) fn plain(batch: Batch, epoch: u64, index: u64) -> Self {
        BatchBuffer {
            held: Held::Plain {
                batch,
                epoch,
                index,
            },
        }
    }

    pub(crate) fn batch(&self) -> &Batch {
        match &self.held {
            Held::Loaded(b) => b,
            Held::Plain { batch, .. } => batch,
        }
    }
}

#[pymethods]
impl BatchBuffer {
    /// The batch as Kipoi's nested dict of numpy arrays that view this buffer (no copy).
    pub(crate) fn tree<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyDict>> {
        let py = slf.py();
        let d = PyDict::new(py);
        for (part, node) in slf.get().batch().parts() {
            d.set_item(part, node_to_py(py, node, slf)?)?;
        }
        Ok(d)
    }

    /// One leaf by path (`"inputs/seq"`, `"targets/signal"`): a numpy view of this buffer
    /// (no copy), or a `Csr` for a sparse leaf.
    fn array<'py>(slf: &Bound<'py, Self>, path: &str) -> PyResult<Bound<'py, PyAny>> {
        let node = slf
            .get()
            .batch()
            .get(path)
            .ok_or_else(|| invalid(format!("the batch has no leaf {path:?}")))?;
        node_to_py(slf.py(), node, slf)
    }

    /// Several leaves in one call: a tuple with one array per entry of `paths`, for a loop
    /// that reads the same few leaves of every batch (one crossing instead of one per leaf).
    ///
    /// `casts`, when given, has one entry per path: `None` is the leaf as [`array`] gives it
    /// (a view, no copy); `"int8"` views a `uint8` leaf's bytes as `int8` (no copy: one-hot
    /// 0/1 values read the same); `"int64"` copies an integer or bool leaf into a new `int64`
    /// array (labels, as torch's losses take them). Any other cast, or one the leaf's dtype
    /// does not allow, is a `ValueError` naming the leaf.
    ///
    /// [`array`]: BatchBuffer::array
    #[pyo3(signature = (paths, casts=None))]
    fn arrays<'py>(
        slf: &Bound<'py, Self>,
        paths: &Bound<'py, PyTuple>,
        casts: Option<&Bound<'py, PyTuple>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        if let Some(c) = casts
            && c.len() != paths.len()
        {
            return Err(invalid(format!(
                "casts has {} entries for {} paths: give one per path",
                c.len(),
                paths.len()
            )));
        }
        let batch = slf.get().batch();
        let mut out = Vec::with_capacity(paths.len());
        for (i, p) in paths.iter().enumerate() {
            let path = p.cast::<PyString>()?.to_str()?;
            let node = batch
                .get(path)
                .ok_or_else(|| invalid(format!("the batch has no leaf {path:?}")))?;
            let cast = match casts {
                Some(c) => c.get_item(i)?,
                None => py.None().into_bound(py),
            };
            if cast.is_none() {
                out.push(node_to_py(py, node, slf)?);
                continue;
            }
            let cast = cast.cast::<PyString>()?.to_str()?;
            let Node::Array(a) = node else {
                return Err(invalid(format!(
                    "{path}: only an array leaf can be cast to {cast}"
                )));
            };
            out.push(match cast {
                "int8" => int8_view(a, slf, path)?,
                "int64" => int64_copy(py, a, path)?,
                other => {
                    return Err(invalid(format!(
                        "{path}: unknown cast {other:?} (None, \"int8\" or \"int64\")"
                    )));
                }
            });
        }
        PyTuple::new(py, out)
    }

    /// The epoch this batch belongs to.
    #[getter]
    fn epoch(&self) -> u64 {
        match &self.held {
            Held::Loaded(b) => b.epoch(),
            Held::Plain { epoch, .. } => *epoch,
        }
    }

    /// The batch's index in its epoch (for `Loader.get`: the batch holding its first
    /// position).
    #[getter]
    fn index(&self) -> u64 {
        match &self.held {
            Held::Loaded(b) => b.index(),
            Held::Plain { index, .. } => *index,
        }
    }

    /// The cursor (text) that resumes right after this batch (None for `Loader.get`).
    #[getter]
    fn cursor_after(&self) -> Option<String> {
        match &self.held {
            Held::Loaded(b) => Some(b.cursor_after().to_string()),
            Held::Plain { .. } => None,
        }
    }

    /// Number of samples in the batch.
    fn __len__(&self) -> PyResult<usize> {
        Ok(self.batch().batch_size().py_err()?.unwrap_or(0))
    }

    /// The batch digest (`biobatch peaks digest` prints the same value) as 16 hex digits.
    fn digest(&self) -> String {
        format!("{:016x}", self.batch().digest())
    }

    /// Bytes of array data in the batch.
    #[getter]
    fn nbytes(&self) -> usize {
        self.batch().nbytes()
    }
}

/// A sparse batch leaf: compressed sparse rows (`indptr`, `indices`, `data`) and its
/// `shape`; `biobatch` turns it into a `scipy.sparse.csr_matrix` without copying.
#[pyclass(module = "biobatch._native", frozen, get_all)]
pub(crate) struct Csr {
    /// Row pointers (`rows + 1` values).
    indptr: Py<PyAny>,
    /// Column of each stored value.
    indices: Py<PyAny>,
    /// The stored values.
    data: Py<PyAny>,
    /// `(rows, columns)`.
    shape: (usize, usize),
}

fn view<'py, T: numpy::Element + biobatch_core::Element>(
    a: &Array,
    owner: &Bound<'py, BatchBuffer>,
) -> PyResult<Bound<'py, PyAny>> {
    let v = a.view::<T>().py_err()?;
    // SAFETY: the array's memory belongs to `owner`'s batch, which is never mutated or
    // dropped while `owner` lives; numpy keeps `owner` alive as the view's base.
    let arr = unsafe { PyArray::<T, _>::borrow_from_array(&v, owner.clone().into_any()) };
    Ok(arr.into_any())
}

/// A `uint8` (or `int8`) leaf viewed as `int8`: the same bytes, no copy.
fn int8_view<'py>(
    a: &Array,
    owner: &Bound<'py, BatchBuffer>,
    path: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let bytes: &[i8] = match a.data() {
        Data::U8(v) => bytemuck::cast_slice(v),
        Data::I8(v) => v,
        _ => {
            return Err(invalid(format!(
                "{path}: only a uint8 or int8 leaf can be viewed as int8, not {}",
                a.dtype()
            )));
        }
    };
    let v = ndarray::ArrayViewD::from_shape(ndarray::IxDyn(a.shape()), bytes)
        .map_err(|e| invalid(format!("{path}: {e}")))?;
    // SAFETY: as in `view`: the bytes belong to `owner`'s batch, which numpy keeps alive.
    let arr = unsafe { PyArray::<i8, _>::borrow_from_array(&v, owner.clone().into_any()) };
    Ok(arr.into_any())
}

/// An integer or bool leaf copied into a new `int64` array.
fn int64_copy<'py>(py: Python<'py>, a: &Array, path: &str) -> PyResult<Bound<'py, PyAny>> {
    let wide = a.data().to_i64().ok_or_else(|| {
        invalid(format!(
            "{path}: only an integer or bool leaf can be cast to int64, not {}",
            a.dtype()
        ))
    })?;
    let arr = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(a.shape()), wide)
        .map_err(|e| invalid(format!("{path}: {e}")))?;
    Ok(PyArray::from_owned_array(py, arr).into_any())
}

fn array_to_py<'py>(
    py: Python<'py>,
    a: &Array,
    owner: &Bound<'py, BatchBuffer>,
) -> PyResult<Bound<'py, PyAny>> {
    match a.data() {
        Data::Bool(_) => view::<bool>(a, owner),
        Data::U8(_) => view::<u8>(a, owner),
        Data::I8(_) => view::<i8>(a, owner),
        Data::I32(_) => view::<i32>(a, owner),
        Data::I64(_) => view::<i64>(a, owner),
        Data::F16(_) => view::<half::f16>(a, owner),
        Data::F32(_) => view::<f32>(a, owner),
        Data::F64(_) => view::<f64>(a, owner),
        Data::Str(v) => {
            let list = PyList::new(py, v.iter().map(|s| PyString::new(py, s)))?;
            let np = py.import("numpy")?;
            let arr = np.call_method1("array", (list,))?;
            arr.call_method1("reshape", (a.shape().to_vec(),))
        }
    }
}

fn node_to_py<'py>(
    py: Python<'py>,
    node: &Node,
    owner: &Bound<'py, BatchBuffer>,
) -> PyResult<Bound<'py, PyAny>> {
    match node {
        Node::Array(a) => array_to_py(py, a, owner),
        Node::Map(m) => {
            let d = PyDict::new(py);
            for (k, v) in m {
                d.set_item(k, node_to_py(py, v, owner)?)?;
            }
            Ok(d.into_any())
        }
        Node::List(l) => {
            let items = l
                .iter()
                .map(|v| node_to_py(py, v, owner))
                .collect::<PyResult<Vec<_>>>()?;
            Ok(PyList::new(py, items)?.into_any())
        }
        Node::Sparse(s) => {
            let csr = Csr {
                indptr: array_to_py(py, s.indptr(), owner)?.unbind(),
                indices: array_to_py(py, s.indices(), owner)?.unbind(),
                data: array_to_py(py, s.values(), owner)?.unbind(),
                shape: (s.rows(), s.n_cols()),
            };
            Ok(Bound::new(py, csr)?.into_any())
        }
    }
}

/// A numpy array (any supported dtype, any layout) copied into an [`Array`].
fn array_from_py(obj: &Bound<'_, PyAny>, path: &str) -> PyResult<Array> {
    let py = obj.py();
    let np = py.import("numpy")?;
    let arr = np.call_method1("ascontiguousarray", (obj,))?;
    let untyped = arr.cast::<PyUntypedArray>()?;
    let shape = untyped.shape().to_vec();
    let kind = untyped.dtype().kind();
    macro_rules! copy {
        ($t:ty) => {{
            let a = arr.cast::<PyArray<$t, ndarray::IxDyn>>()?;
            let v: Vec<$t> = a.readonly().as_array().iter().cloned().collect();
            Array::new(shape, v).py_err()
        }};
    }
    if kind == b'U' || kind == b'S' || kind == b'O' {
        let flat = arr.call_method0("ravel")?.call_method0("tolist")?;
        let v: Vec<String> = flat
            .extract()
            .map_err(|_| invalid(format!("{path}: a text array must hold str values")))?;
        return Array::from_data(shape, Data::Str(v)).py_err();
    }
    let dt = untyped.dtype();
    let is = |t: Bound<'_, numpy::PyArrayDescr>| dt.is_equiv_to(&t);
    if is(numpy::dtype::<bool>(py)) {
        copy!(bool)
    } else if is(numpy::dtype::<u8>(py)) {
        copy!(u8)
    } else if is(numpy::dtype::<i8>(py)) {
        copy!(i8)
    } else if is(numpy::dtype::<i32>(py)) {
        copy!(i32)
    } else if is(numpy::dtype::<i64>(py)) {
        copy!(i64)
    } else if is(numpy::dtype::<half::f16>(py)) {
        copy!(half::f16)
    } else if is(numpy::dtype::<f32>(py)) {
        copy!(f32)
    } else if is(numpy::dtype::<f64>(py)) {
        copy!(f64)
    } else {
        Err(invalid(format!(
            "{path}: dtype {} is not one biobatch batches hold (bool, uint8, int8, int32, \
             int64, float16, float32, float64, str)",
            dt.str()?
        )))
    }
}

pub(crate) fn node_from_py(obj: &Bound<'_, PyAny>, path: &str) -> PyResult<Node> {
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut node = Node::map();
        for (k, v) in d.iter() {
            let k: String = k
                .extract()
                .map_err(|_| invalid(format!("{path}: dict keys must be str")))?;
            let child = node_from_py(&v, &format!("{path}/{k}"))?;
            node.insert(k, child).py_err()?;
        }
        return Ok(node);
    }
    if let Ok(l) = obj.cast::<PyList>() {
        let items = l
            .iter()
            .enumerate()
            .map(|(i, v)| node_from_py(&v, &format!("{path}/{i}")))
            .collect::<PyResult<Vec<_>>>()?;
        return Ok(Node::List(items));
    }
    if let Ok(c) = obj.cast::<Csr>() {
        let c = c.get();
        let py = obj.py();
        let part = |o: &Py<PyAny>, name: &str| array_from_py(o.bind(py), &format!("{path}/{name}"));
        fn vec_of<T: biobatch_core::Element>(a: Array, what: &str) -> PyResult<Vec<T>> {
            let dtype = a.dtype();
            a.into_vec::<T>().map(|(v, _)| v).map_err(|_| {
                invalid(format!(
                    "{what}: sparse leaves hold {} here, not {dtype}",
                    std::any::type_name::<T>()
                ))
            })
        }
        let s = SparseRows::from_parts(
            c.shape.1,
            vec_of::<i32>(part(&c.indptr, "indptr")?, "indptr")?,
            vec_of::<i32>(part(&c.indices, "indices")?, "indices")?,
            vec_of::<f32>(part(&c.data, "values")?, "values")?,
        )
        .py_err()?;
        return Ok(Node::Sparse(s));
    }
    Ok(Node::Array(array_from_py(obj, path)?))
}

/// The digest of a batch given as Kipoi's nested dict of numpy arrays (as `tree()` returns
/// it, or as any other loader builds it): the value `biobatch peaks digest` and
/// `BatchBuffer.digest()` print for the same content. The arrays are copied; use it to
/// compare loaders, not on the hot path.
#[pyfunction]
pub(crate) fn digest(batch: &Bound<'_, PyDict>) -> PyResult<String> {
    let part = |name: &str| -> PyResult<Option<Node>> {
        batch
            .get_item(name)?
            .map(|v| node_from_py(&v, name))
            .transpose()
    };
    let inputs = part("inputs")?.ok_or_else(|| invalid("a batch needs an \"inputs\" entry"))?;
    let mut b = Batch::new(inputs);
    b.targets = part("targets")?;
    b.metadata = part("metadata")?;
    Ok(format!("{:016x}", b.digest()))
}
