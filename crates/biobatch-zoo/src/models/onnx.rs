//! ONNX networks through tract (pure Rust): each network input fed from the batch leaf the
//! schema names, in the element type the network declares; plans built per input shape.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use biobatch_core::{Array, Batch, Node, SchemaNode};
use tract_onnx::prelude::*;

use super::{ZooModel, arg_file};
use crate::source::ResolvedModel;
use crate::{Error, Result};

type Plan = Arc<TypedRunnableModel>;

/// An ONNX network; plans are built per batch size (tract optimises for fixed shapes).
pub(super) struct OnnxModel {
    path: std::path::PathBuf,
    outputs: Vec<String>,
    /// Which batch leaf feeds each network input, by position.
    paths: Vec<String>,
    /// The element type each network input declares (f32 where it declares none).
    dtypes: Vec<DatumType>,
    plans: Mutex<HashMap<Vec<Vec<usize>>, Plan>>,
}

fn err(path: &Path, e: impl Into<crate::BoxError>) -> Error {
    Error::Onnx {
        path: path.to_path_buf(),
        source: e.into(),
    }
}

impl OnnxModel {
    pub(super) fn load(m: &ResolvedModel, cache: Option<&Path>) -> Result<Self> {
        let name = if m.model.args.contains_key("file") {
            "file"
        } else {
            "weights"
        };
        let path = arg_file(m, name, cache)?;
        let model = tract_onnx::onnx()
            .model_for_path(&path)
            .map_err(|e| err(&path, e))?;
        let names = |outlets: &[OutletId]| -> Vec<String> {
            outlets
                .iter()
                .map(|o| model.node(o.node).name.clone())
                .collect()
        };
        let inputs = names(model.input_outlets().map_err(|e| err(&path, e))?);
        let outputs = names(model.output_outlets().map_err(|e| err(&path, e))?);
        // Inputs: a single array feeds the single network input; a map is matched by key
        // (or the schema's `name`); a list by position.
        let paths = match &m.model.schema.inputs {
            SchemaNode::Array(_) => vec!["inputs".to_string()],
            SchemaNode::List(l) => (0..l.len()).map(|i| format!("inputs/{i}")).collect(),
            SchemaNode::Map(map) => inputs
                .iter()
                .map(|n| {
                    map.iter()
                        .find(|(k, s)| {
                            *k == n
                                || matches!(s, SchemaNode::Array(a) if a.name.as_deref() == Some(n))
                        })
                        .map(|(k, _)| format!("inputs/{k}"))
                        .ok_or_else(|| {
                            err(
                                &path,
                                format!(
                                    "network input `{n}` matches no key of the schema's inputs"
                                ),
                            )
                        })
                })
                .collect::<Result<_>>()?,
        };
        if paths.len() != inputs.len() {
            return Err(err(
                &path,
                format!(
                    "the network takes {} inputs, the schema describes {}",
                    inputs.len(),
                    paths.len()
                ),
            ));
        }
        let dtypes = (0..inputs.len())
            .map(|i| {
                model
                    .input_fact(i)
                    .map(|f| Fact::datum_type(f).unwrap_or(DatumType::F32))
                    .map_err(|e| err(&path, e))
            })
            .collect::<Result<_>>()?;
        Ok(OnnxModel {
            path,
            outputs,
            paths,
            dtypes,
            plans: Mutex::new(HashMap::new()),
        })
    }

    fn plan(&self, shapes: &[Vec<usize>]) -> Result<Plan> {
        let mut plans = self.plans.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = plans.get(shapes) {
            return Ok(p.clone());
        }
        let mut model = tract_onnx::onnx()
            .model_for_path(&self.path)
            .map_err(|e| err(&self.path, e))?;
        for (i, (s, &dt)) in shapes.iter().zip(&self.dtypes).enumerate() {
            model = model
                .with_input_fact(i, InferenceFact::dt_shape(dt, s.as_slice()))
                .map_err(|e| err(&self.path, e))?;
        }
        let plan = model
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(|e| {
                err(
                    &self.path,
                    format!("cannot prepare the network for inputs {shapes:?}: {e}"),
                )
            })?;
        plans.insert(shapes.to_vec(), plan.clone());
        Ok(plan)
    }
}

impl OnnxModel {
    /// The batch array `a` as a tensor of the network input's type `dt`: built from the
    /// array's own elements, then cast (one-hot u8 to f32, integer codes to i64, …).
    fn tensor(&self, a: &Array, p: &str, dt: DatumType) -> Result<Tensor> {
        use biobatch_core::Data;
        let s = a.shape();
        let t = match a.data() {
            Data::F32(v) => Tensor::from_shape(s, v),
            Data::F64(v) => Tensor::from_shape(s, v),
            Data::F16(v) => {
                Tensor::from_shape(s, &v.iter().map(|x| x.to_f32()).collect::<Vec<_>>())
            }
            Data::U8(v) => Tensor::from_shape(s, v),
            Data::I8(v) => Tensor::from_shape(s, v),
            Data::I32(v) => Tensor::from_shape(s, v),
            Data::I64(v) => Tensor::from_shape(s, v),
            Data::Bool(v) => Tensor::from_shape(s, v),
            d => {
                return Err(Error::Config(format!(
                    "{p}: a network input cannot be {}",
                    d.dtype()
                )));
            }
        }
        .map_err(|e| err(&self.path, e))?;
        if t.datum_type() == dt {
            return Ok(t);
        }
        t.cast_to_dt(dt).map(|c| c.into_owned()).map_err(|e| {
            err(
                &self.path,
                format!(
                    "`{p}` ({}) cannot be given as the network's {dt:?}: {e}",
                    a.dtype()
                ),
            )
        })
    }
}

fn input_array<'a>(batch: &'a Batch, path: &str) -> Result<&'a Array> {
    if path == "inputs" {
        return batch.inputs.as_array().ok_or_else(|| {
            Error::Core(biobatch_core::Error::PathNotFound {
                path: "inputs (a single array)".into(),
            })
        });
    }
    Ok(batch.array(path)?)
}

impl ZooModel for OnnxModel {
    fn predict_on_batch(&self, batch: &Batch) -> Result<Node> {
        let mut shapes = Vec::new();
        let mut values = TVec::new();
        for (p, &dt) in self.paths.iter().zip(&self.dtypes) {
            let a = input_array(batch, p)?;
            shapes.push(a.shape().to_vec());
            values.push(self.tensor(a, p, dt)?.into_tvalue());
        }
        let plan = self.plan(&shapes)?;
        let out = plan.run(values).map_err(|e| err(&self.path, e))?;
        let mut arrays = Vec::with_capacity(out.len());
        for (name, v) in self.outputs.iter().zip(out.iter()) {
            let t = v.cast_to::<f32>().map_err(|e| err(&self.path, e))?;
            let view = t
                .to_plain_array_view::<f32>()
                .map_err(|e| err(&self.path, e))?;
            arrays.push((
                name.clone(),
                Array::new(t.shape().to_vec(), view.iter().copied().collect())?,
            ));
        }
        Ok(if arrays.len() == 1 {
            Node::Array(arrays.remove(0).1)
        } else {
            Node::from_iter(arrays.into_iter().map(|(n, a)| (n, Node::Array(a))))
        })
    }
}
