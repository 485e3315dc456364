//! Element types of [`Array`](crate::Array).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The element type of an [`Array`](crate::Array).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// `bool`
    Bool,
    /// `u8`
    U8,
    /// `i8`
    I8,
    /// `i32`
    I32,
    /// `i64`
    I64,
    /// IEEE half precision (`half::f16`).
    F16,
    /// `f32`
    F32,
    /// `f64`
    F64,
    /// UTF-8 strings (`String`), e.g. chromosome names or ids in metadata.
    Str,
}

impl DType {
    /// Every dtype, in declaration order.
    pub const ALL: [DType; 9] = [
        DType::Bool,
        DType::U8,
        DType::I8,
        DType::I32,
        DType::I64,
        DType::F16,
        DType::F32,
        DType::F64,
        DType::Str,
    ];

    /// The lowercase name used in schemas and messages (`"f32"`, `"str"`, …).
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::U8 => "u8",
            DType::I8 => "i8",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::F16 => "f16",
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::Str => "str",
        }
    }

    /// Bytes per element, or `None` for strings (variable size).
    pub fn size(self) -> Option<usize> {
        match self {
            DType::Bool | DType::U8 | DType::I8 => Some(1),
            DType::F16 => Some(2),
            DType::I32 | DType::F32 => Some(4),
            DType::I64 | DType::F64 => Some(8),
            DType::Str => None,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DType {
    type Err = Error;

    /// Parses our names and the numpy spellings (`uint8`, `float32`, `int64`, `str`, …).
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "bool" | "bool_" => DType::Bool,
            "u8" | "uint8" => DType::U8,
            "i8" | "int8" => DType::I8,
            "i32" | "int32" => DType::I32,
            "i64" | "int64" | "int" => DType::I64,
            "f16" | "float16" | "half" => DType::F16,
            "f32" | "float32" => DType::F32,
            "f64" | "float64" | "float" | "double" => DType::F64,
            "str" | "string" | "object" => DType::Str,
            other => {
                return Err(Error::Invalid(format!(
                    "unknown dtype `{other}` (expected one of bool, u8, i8, i32, i64, f16, f32, f64, str)"
                )));
            }
        })
    }
}
