//! Rust errors as Python exceptions: the message is [`biobatch_core::one_line`] (the text the
//! command line prints), the type is one of `biobatch._errors`' classes, chosen from the
//! error's causes:
//!
//! | cause | exception (subclass of) |
//! |---|---|
//! | an I/O error "not found" | `biobatch.DataFileNotFoundError` (`FileNotFoundError`) |
//! | any other I/O error | `biobatch.BiobatchIOError` (`OSError`) |
//! | anything else: bad arguments, damaged or disagreeing files | `biobatch.InvalidInputError` (`ValueError`) |
//!
//! All of them are `biobatch.BiobatchError`.

use pyo3::prelude::*;

/// Which Python class an error becomes.
fn class_of(e: &(dyn std::error::Error + 'static)) -> &'static str {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::NotFound => "DataFileNotFoundError",
                _ => "BiobatchIOError",
            };
        }
        cause = c.source();
    }
    "InvalidInputError"
}

/// A Python exception for a Rust error, its message on one line.
pub(crate) fn to_py(e: &(dyn std::error::Error + 'static)) -> PyErr {
    raise(class_of(e), biobatch_core::one_line(e))
}

/// A `biobatch._errors` exception of class `class` with `message`.
pub(crate) fn raise(class: &str, message: String) -> PyErr {
    Python::attach(
        |py| match py.import("biobatch._errors").and_then(|m| m.getattr(class)) {
            Ok(cls) => match cls.cast_into::<pyo3::types::PyType>() {
                Ok(t) => PyErr::from_type(t, message),
                Err(e) => e.into(),
            },
            Err(e) => e,
        },
    )
}

/// `ValueError`-kind error (bad arguments).
pub(crate) fn invalid(message: impl Into<String>) -> PyErr {
    raise("InvalidInputError", message.into())
}

/// Converts any error that can be viewed as a `std::error::Error`.
pub(crate) trait IntoPy<T> {
    /// The result with its error as a Python exception.
    fn py_err(self) -> PyResult<T>;
}

impl<T, E: std::error::Error + 'static> IntoPy<T> for Result<T, E> {
    fn py_err(self) -> PyResult<T> {
        self.map_err(|e| to_py(&e))
    }
}
