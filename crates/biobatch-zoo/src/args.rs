//! Dataloader arguments as Kipoi passes them: a JSON/YAML map of values, read with the
//! leniency Kipoi's Python has (`"1000"` and `1000` are both a length, `None` / `null` is
//! unset, `np.float32` names a dtype) and errors that name the dataloader and argument.

use std::path::{Path, PathBuf};

use biobatch_core::DType;
use serde_json::{Map, Value};

use crate::{Error, Result};

/// A dataloader's arguments, with the dataloader's name for error messages.
#[derive(Debug, Clone)]
pub struct Args {
    /// The dataloader (for messages).
    pub dataloader: String,
    /// The values.
    pub values: Map<String, Value>,
}

fn is_unset(v: &Value) -> bool {
    matches!(v, Value::Null) || matches!(v, Value::String(s) if s == "None" || s.is_empty())
}

impl Args {
    /// Arguments of `dataloader`.
    pub fn new(dataloader: impl Into<String>, values: Map<String, Value>) -> Self {
        Args {
            dataloader: dataloader.into(),
            values,
        }
    }

    /// An error about argument `name`.
    pub fn err(&self, name: &str, msg: impl std::fmt::Display) -> Error {
        Error::Argument {
            dataloader: self.dataloader.clone(),
            name: name.to_string(),
            message: msg.to_string(),
        }
    }

    /// Refuses arguments outside `known` (Python raises `TypeError` for them too: a typo
    /// would otherwise silently fall back to a default).
    pub fn only(&self, known: &[&str]) -> Result<()> {
        if let Some(k) = self.values.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(self.err(
                k,
                format!(
                    "not an argument of this dataloader (arguments: {})",
                    known.join(", ")
                ),
            ));
        }
        Ok(())
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name).filter(|v| !is_unset(v))
    }

    /// A required path.
    pub fn path(&self, name: &str) -> Result<PathBuf> {
        self.opt_path(name)?
            .ok_or_else(|| self.err(name, "required: give a file path"))
    }

    /// An optional path.
    pub fn opt_path(&self, name: &str) -> Result<Option<PathBuf>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(PathBuf::from(s))),
            Some(v) => Err(self.err(name, format!("expected a file path, found `{v}`"))),
        }
    }

    /// A list of paths (a single path is a list of one).
    pub fn paths(&self, name: &str) -> Result<Vec<PathBuf>> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![PathBuf::from(s)]),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(PathBuf::from)
                        .ok_or_else(|| self.err(name, format!("expected file paths, found `{v}`")))
                })
                .collect(),
            Some(v) => Err(self.err(
                name,
                format!("expected a file path or a list of them, found `{v}`"),
            )),
        }
    }

    /// A flag (`true`/`false`, Python's `True`/`False`, `1`/`0`).
    pub fn flag(&self, name: &str, default: bool) -> Result<bool> {
        match self.get(name) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::Number(n)) if n.as_u64() == Some(0) || n.as_u64() == Some(1) => {
                Ok(n.as_u64() == Some(1))
            }
            Some(Value::String(s)) => match s.as_str() {
                "true" | "True" | "1" => Ok(true),
                "false" | "False" | "0" => Ok(false),
                _ => Err(self.err(name, format!("expected true or false, found `{s}`"))),
            },
            Some(v) => Err(self.err(name, format!("expected true or false, found `{v}`"))),
        }
    }

    /// An optional whole number.
    pub fn opt_int(&self, name: &str) -> Result<Option<i64>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                        .map(|f| f as i64)
                })
                .map(Some)
                .ok_or_else(|| self.err(name, format!("expected a whole number, found `{n}`"))),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| self.err(name, format!("expected a whole number, found `{s}`"))),
            Some(v) => Err(self.err(name, format!("expected a whole number, found `{v}`"))),
        }
    }

    /// An optional number.
    pub fn opt_f64(&self, name: &str) -> Result<Option<f64>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| self.err(name, format!("expected a number, found `{s}`"))),
            Some(v) => Err(self.err(name, format!("expected a number, found `{v}`"))),
        }
    }

    /// An optional text value.
    pub fn opt_str(&self, name: &str) -> Result<Option<String>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(v) => Err(self.err(name, format!("expected text, found `{v}`"))),
        }
    }

    /// An optional dtype, spelled as numpy or Python would (`float32`, `np.float32`,
    /// `numpy.float32`, `float` = float64, `int` = int64).
    pub fn opt_dtype(&self, name: &str) -> Result<Option<DType>> {
        let Some(s) = self.opt_str(name)? else {
            return Ok(None);
        };
        parse_dtype(&s).map(Some).ok_or_else(|| {
            self.err(
                name,
                format!("`{s}` is not a dtype we produce (float16, float32, float64/float, int8, int32, int64/int, uint8)"),
            )
        })
    }
}

/// A numpy dtype name as kipoiseq's `parse_dtype` reads it (`eval` in Python).
pub fn parse_dtype(s: &str) -> Option<DType> {
    let s = s.trim();
    let s = s
        .strip_prefix("np.")
        .or_else(|| s.strip_prefix("numpy."))
        .unwrap_or(s);
    Some(match s {
        "float" | "float64" | "double" | "float_" => DType::F64,
        "float32" | "single" => DType::F32,
        "float16" | "half" => DType::F16,
        "int" | "int64" | "int_" => DType::I64,
        "int32" => DType::I32,
        "int8" => DType::I8,
        "uint8" => DType::U8,
        _ => return None,
    })
}

/// Resolves a relative path against `base` (absolute paths are kept).
pub fn resolve_path(base: &Path, p: &str) -> PathBuf {
    let path = Path::new(p);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_as_python_would() {
        let v: Map<String, Value> = serde_json::from_str(
            r#"{"n": "1000", "m": 600.0, "f": "True", "g": 0, "d": "np.float32", "u": "None", "bad": [1]}"#,
        )
        .unwrap();
        let a = Args::new("X", v);
        assert_eq!(a.opt_int("n").unwrap(), Some(1000));
        assert_eq!(a.opt_int("m").unwrap(), Some(600));
        assert!(a.flag("f", false).unwrap());
        assert!(!a.flag("g", true).unwrap());
        assert_eq!(a.opt_dtype("d").unwrap(), Some(DType::F32));
        assert_eq!(a.opt_int("u").unwrap(), None);
        assert!(a.flag("absent", true).unwrap());
        let e = a.opt_int("bad").unwrap_err().to_string();
        assert_eq!(
            e,
            "dataloader X: argument `bad`: expected a whole number, found `[1]`"
        );
        let e = a.only(&["n", "m"]).unwrap_err().to_string();
        assert!(e.contains("not an argument of this dataloader"), "{e}");
        assert_eq!(parse_dtype("int"), Some(DType::I64));
        assert_eq!(parse_dtype("complex64"), None);
    }
}
