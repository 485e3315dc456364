//! Value filters on obs / var tables, written as SQL boolean expressions
//! (`tissue = 'lung' AND n_genes > 200`), parsed by `sqlparser` and evaluated column-wise with
//! Arrow's compute kernels.
//!
//! Supported: `AND`, `OR`, `NOT`, parentheses; `=`, `!=` / `<>`, `<`, `<=`, `>`, `>=` between a
//! column and a literal (either side) or two columns; `IN (…)` and `NOT IN`; `BETWEEN … AND
//! …`; `IS [NOT] NULL`; `[NOT] LIKE` / `ILIKE` on strings; literals: numbers, `'strings'`,
//! `TRUE` / `FALSE`. Columns are names or `"quoted names"`. Strings and categoricals compare as
//! text, numbers as numbers (integers and floats mix), booleans as booleans; anything else is
//! an error naming the column, its type and the literal. A row where the expression is NULL
//! (a missing value) is not selected, as in SQL's `WHERE`.

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BooleanArray, Datum, Float64Array, RecordBatch, Scalar, StringArray,
};
use arrow_schema::DataType;
use sqlparser::ast::{BinaryOperator, Expr, UnaryOperator, Value};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

use crate::{Error, Result};

/// Evaluates `expr` over `table` (named `what` in messages, e.g. `obs`): one flag per row.
pub fn evaluate(table: &RecordBatch, expr: &str, what: &str) -> Result<Vec<bool>> {
    let parsed = Parser::new(&GenericDialect {})
        .try_with_sql(expr)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| Error::Filter {
            table: what.to_string(),
            expr: expr.to_string(),
            message: e.to_string(),
        })?;
    let ev = Eval {
        table,
        what,
        text: expr,
    };
    let mask = ev.bool(&parsed)?;
    Ok((0..mask.len())
        .map(|i| mask.is_valid(i) && mask.value(i))
        .collect())
}

/// A comparison kernel of `arrow-ord`.
type Kernel =
    fn(&dyn Datum, &dyn Datum) -> std::result::Result<BooleanArray, arrow_schema::ArrowError>;

/// The kind a column or literal compares as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Number,
    Bool,
}

struct Eval<'a> {
    table: &'a RecordBatch,
    what: &'a str,
    text: &'a str,
}

/// One side of a comparison: a column (as an array of its kind) or a literal.
enum Operand {
    Column(String, ArrayRef, Kind),
    Literal(Value),
}

fn kind_of(t: &DataType) -> Option<Kind> {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some(Kind::Text),
        DataType::Dictionary(_, v) => kind_of(v).filter(|k| *k == Kind::Text),
        DataType::Boolean => Some(Kind::Bool),
        t if t.is_numeric() => Some(Kind::Number),
        _ => None,
    }
}

fn arrow_err(source: arrow_schema::ArrowError) -> Error {
    Error::Arrow {
        context: "evaluating a filter".into(),
        source,
    }
}

impl Eval<'_> {
    fn err(&self, what: String) -> Error {
        Error::Filter {
            table: self.what.to_string(),
            expr: self.text.to_string(),
            message: what,
        }
    }

    fn column(&self, name: &str) -> Result<Operand> {
        let schema = self.table.schema();
        let Some((i, field)) = schema.column_with_name(name) else {
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            return Err(self.err(format!(
                "{} has no column `{name}` (columns: {})",
                self.what,
                names.join(", ")
            )));
        };
        let kind = kind_of(field.data_type()).ok_or_else(|| {
            self.err(format!(
                "column `{name}` has type {}, which filters cannot compare",
                field.data_type()
            ))
        })?;
        let col = self.table.column(i);
        // Compare text as Utf8 (categoricals decoded) and numbers as f64.
        let target = match kind {
            Kind::Text => DataType::Utf8,
            Kind::Number => DataType::Float64,
            Kind::Bool => DataType::Boolean,
        };
        let arr = if col.data_type() == &target {
            col.clone()
        } else {
            arrow_cast::cast(col, &target).map_err(arrow_err)?
        };
        Ok(Operand::Column(name.to_string(), arr, kind))
    }

    fn operand(&self, e: &Expr) -> Result<Operand> {
        match e {
            Expr::Identifier(id) => self.column(&id.value),
            Expr::CompoundIdentifier(parts) => {
                let name: Vec<&str> = parts.iter().map(|p| p.value.as_str()).collect();
                self.column(&name.join("."))
            }
            Expr::Nested(inner) => self.operand(inner),
            Expr::Value(v) => Ok(Operand::Literal(v.value.clone())),
            Expr::UnaryOp {
                op: UnaryOperator::Minus,
                expr,
            } => match self.operand(expr)? {
                Operand::Literal(Value::Number(n, l)) => {
                    Ok(Operand::Literal(Value::Number(format!("-{n}"), l)))
                }
                _ => Err(self.err(format!("cannot negate `{expr}`"))),
            },
            other => Err(self.err(format!("expected a column or a literal, found `{other}`"))),
        }
    }

    /// A literal as a one-value array of `kind`, or a type error naming the column.
    fn literal(&self, v: &Value, kind: Kind, column: &str) -> Result<Scalar<ArrayRef>> {
        let arr: ArrayRef = match (kind, v) {
            (Kind::Text, Value::SingleQuotedString(s) | Value::DoubleQuotedString(s)) => {
                Arc::new(StringArray::from(vec![s.as_str()]))
            }
            (Kind::Number, Value::Number(n, _)) => {
                let x: f64 = n
                    .parse()
                    .map_err(|_| self.err(format!("`{n}` is not a number")))?;
                Arc::new(Float64Array::from(vec![x]))
            }
            (Kind::Bool, Value::Boolean(b)) => Arc::new(BooleanArray::from(vec![*b])),
            (k, v) => {
                let want = match k {
                    Kind::Text => "a 'string'",
                    Kind::Number => "a number",
                    Kind::Bool => "TRUE or FALSE",
                };
                return Err(self.err(format!(
                    "column `{column}` holds {}, compare it with {want}, not `{v}`",
                    match k {
                        Kind::Text => "text",
                        Kind::Number => "numbers",
                        Kind::Bool => "booleans",
                    }
                )));
            }
        };
        Ok(Scalar::new(arr))
    }

    fn compare(&self, left: &Expr, op: &BinaryOperator, right: &Expr) -> Result<BooleanArray> {
        use arrow_ord::cmp;
        let kernel = |op: &BinaryOperator| -> Option<Kernel> {
            Some(match op {
                BinaryOperator::Eq => cmp::eq,
                BinaryOperator::NotEq => cmp::neq,
                BinaryOperator::Lt => cmp::lt,
                BinaryOperator::LtEq => cmp::lt_eq,
                BinaryOperator::Gt => cmp::gt,
                BinaryOperator::GtEq => cmp::gt_eq,
                _ => return None,
            })
        };
        let flipped = |op: &BinaryOperator| match op {
            BinaryOperator::Lt => BinaryOperator::Gt,
            BinaryOperator::LtEq => BinaryOperator::GtEq,
            BinaryOperator::Gt => BinaryOperator::Lt,
            BinaryOperator::GtEq => BinaryOperator::LtEq,
            o => o.clone(),
        };
        let f = kernel(op).ok_or_else(|| self.err(format!("unsupported operator `{op}`")))?;
        match (self.operand(left)?, self.operand(right)?) {
            (Operand::Column(name, a, k), Operand::Literal(v)) => {
                f(&a, &self.literal(&v, k, &name)?).map_err(arrow_err)
            }
            (Operand::Literal(v), Operand::Column(name, a, k)) => {
                let g = kernel(&flipped(op))
                    .ok_or_else(|| self.err(format!("unsupported operator `{op}`")))?;
                g(&a, &self.literal(&v, k, &name)?).map_err(arrow_err)
            }
            (Operand::Column(n1, a, k1), Operand::Column(n2, b, k2)) => {
                if k1 != k2 {
                    return Err(self.err(format!(
                        "columns `{n1}` and `{n2}` hold different kinds of values"
                    )));
                }
                f(&a, &b).map_err(arrow_err)
            }
            (Operand::Literal(_), Operand::Literal(_)) => {
                Err(self.err("a comparison needs at least one column".into()))
            }
        }
    }

    fn bool(&self, e: &Expr) -> Result<BooleanArray> {
        use arrow_arith::boolean::{and_kleene, is_not_null, is_null, not, or_kleene};
        match e {
            Expr::Nested(inner) => self.bool(inner),
            Expr::BinaryOp {
                left,
                op: BinaryOperator::And,
                right,
            } => and_kleene(&self.bool(left)?, &self.bool(right)?).map_err(arrow_err),
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Or,
                right,
            } => or_kleene(&self.bool(left)?, &self.bool(right)?).map_err(arrow_err),
            Expr::UnaryOp {
                op: UnaryOperator::Not,
                expr,
            } => not(&self.bool(expr)?).map_err(arrow_err),
            Expr::BinaryOp { left, op, right } => self.compare(left, op, right),
            Expr::In {
                expr,
                target,
                negated,
                ..
            } => {
                let sqlparser::ast::InTarget::List(list) = target else {
                    return Err(self.err("IN takes a list of values, e.g. IN ('a', 'b')".into()));
                };
                let mut acc: Option<BooleanArray> = None;
                for item in list {
                    let m = self.compare(expr, &BinaryOperator::Eq, item)?;
                    acc = Some(match acc {
                        None => m,
                        Some(a) => or_kleene(&a, &m).map_err(arrow_err)?,
                    });
                }
                let m = acc.ok_or_else(|| self.err("IN needs at least one value".into()))?;
                if *negated {
                    not(&m).map_err(arrow_err)
                } else {
                    Ok(m)
                }
            }
            Expr::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let lo = self.compare(expr, &BinaryOperator::GtEq, low)?;
                let hi = self.compare(expr, &BinaryOperator::LtEq, high)?;
                let m = and_kleene(&lo, &hi).map_err(arrow_err)?;
                if *negated {
                    not(&m).map_err(arrow_err)
                } else {
                    Ok(m)
                }
            }
            Expr::IsNull(inner) | Expr::IsNotNull(inner) => {
                let Operand::Column(_, _, _) = self.operand(inner)? else {
                    return Err(self.err("IS NULL needs a column".into()));
                };
                // The raw column: casting keeps nulls, but use the original to be exact.
                let name = match inner.as_ref() {
                    Expr::Identifier(id) => id.value.clone(),
                    other => other.to_string(),
                };
                let col = self
                    .table
                    .column_by_name(&name)
                    .ok_or_else(|| self.err(format!("no column `{name}`")))?;
                if matches!(e, Expr::IsNull(_)) {
                    is_null(col)
                } else {
                    is_not_null(col)
                }
                .map_err(arrow_err)
            }
            Expr::Like {
                negated,
                expr,
                pattern,
                ..
            }
            | Expr::ILike {
                negated,
                expr,
                pattern,
                ..
            } => {
                let insensitive = matches!(e, Expr::ILike { .. });
                let (name, col) = match self.operand(expr)? {
                    Operand::Column(name, a, Kind::Text) => (name, a),
                    Operand::Column(name, _, _) => {
                        return Err(
                            self.err(format!("LIKE needs a text column; `{name}` is not one"))
                        );
                    }
                    _ => return Err(self.err("LIKE needs a column on the left".into())),
                };
                let Operand::Literal(v) = self.operand(pattern)? else {
                    return Err(self.err("LIKE needs a 'pattern' on the right".into()));
                };
                let pat = self.literal(&v, Kind::Text, &name)?;
                let m = if insensitive {
                    arrow_string::like::ilike(&col, &pat)
                } else {
                    arrow_string::like::like(&col, &pat)
                }
                .map_err(arrow_err)?;
                if *negated {
                    not(&m).map_err(arrow_err)
                } else {
                    Ok(m)
                }
            }
            Expr::Identifier(_) => match self.operand(e)? {
                Operand::Column(_, a, Kind::Bool) => a
                    .as_any()
                    .downcast_ref::<BooleanArray>()
                    .cloned()
                    .ok_or_else(|| self.err("not a boolean column".into())),
                Operand::Column(name, _, _) => Err(self.err(format!(
                    "column `{name}` is not boolean; compare it with something"
                ))),
                _ => Err(self.err(format!("`{e}` is not a condition"))),
            },
            Expr::Value(v) => match v.value {
                Value::Boolean(b) => Ok(BooleanArray::from(vec![b; self.table.num_rows()])),
                _ => Err(self.err(format!("`{e}` is not a condition"))),
            },
            other => Err(self.err(format!("unsupported expression `{other}`"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::types::Int32Type;
    use arrow_array::{DictionaryArray, Int32Array};

    fn table() -> RecordBatch {
        let tissue: DictionaryArray<Int32Type> = vec![
            Some("lung"),
            Some("liver"),
            None,
            Some("lung"),
            Some("brain"),
        ]
        .into_iter()
        .collect();
        RecordBatch::try_from_iter([
            ("tissue", Arc::new(tissue) as ArrayRef),
            (
                "n_genes",
                Arc::new(Int32Array::from(vec![100, 250, 300, 201, 50])) as ArrayRef,
            ),
            (
                "score",
                Arc::new(Float64Array::from(vec![0.5, 1.5, -2.0, 3.0, 0.0])) as ArrayRef,
            ),
            (
                "qc",
                Arc::new(BooleanArray::from(vec![true, false, true, true, false])) as ArrayRef,
            ),
            (
                "donor",
                Arc::new(StringArray::from(vec!["d1", "d2", "d1", "d10", "x"])) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    fn rows(expr: &str) -> Vec<usize> {
        evaluate(&table(), expr, "obs")
            .unwrap()
            .iter()
            .enumerate()
            .filter(|(_, k)| **k)
            .map(|(i, _)| i)
            .collect()
    }

    #[test]
    fn expressions_select_what_sql_would() {
        assert_eq!(rows("tissue = 'lung' AND n_genes > 200"), [3]);
        assert_eq!(rows("tissue = 'lung' OR n_genes >= 250"), [0, 1, 2, 3]);
        assert_eq!(
            rows("NOT (tissue = 'lung')"),
            [1, 4],
            "NULL tissue is not selected"
        );
        assert_eq!(rows("200 < n_genes"), [1, 2, 3], "literal on the left");
        assert_eq!(rows("tissue IN ('liver', 'brain')"), [1, 4]);
        assert_eq!(rows("tissue NOT IN ('liver', 'brain')"), [0, 3]);
        assert_eq!(rows("score BETWEEN 0 AND 1.5"), [0, 1, 4]);
        assert_eq!(rows("score > -1 AND n_genes <> 100"), [1, 3, 4]);
        assert_eq!(rows("tissue IS NULL"), [2]);
        assert_eq!(rows("tissue IS NOT NULL AND qc"), [0, 3]);
        assert_eq!(rows("qc = FALSE"), [1, 4]);
        assert_eq!(rows("donor LIKE 'd1%'"), [0, 2, 3]);
        assert_eq!(rows("donor NOT LIKE 'd_'"), [3, 4]);
        assert_eq!(rows("\"n_genes\" >= 300"), [2]);
        assert_eq!(rows("n_genes > score"), [0, 1, 2, 3, 4]);
    }

    #[test]
    fn mistakes_are_clear_errors() {
        let e = |x: &str| evaluate(&table(), x, "obs").unwrap_err().to_string();
        assert!(
            e("tisue = 'lung'").contains("obs has no column `tisue` (columns: tissue, n_genes")
        );
        assert!(
            e("n_genes = 'many'")
                .contains("column `n_genes` holds numbers, compare it with a number")
        );
        assert!(e("tissue > 3").contains("compare it with a 'string'"));
        assert!(e("tissue = 'lung' AND").contains("obs filter `tissue = 'lung' AND`"));
        assert!(e("n_genes").contains("is not boolean"));
        assert!(e("n_genes LIKE 'x'").contains("LIKE needs a text column"));
        assert!(e("tissue = donor OR n_genes = tissue").contains("different kinds"));
    }
}
