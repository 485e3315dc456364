//! Zoo models: what `type:` a model.yaml names, loaded into something that predicts on a
//! batch. `biobatch.bpnet` (BPNet in burn, as `biobatch train bpnet` exports it) and `onnx`
//! (through tract, pure Rust) run; Keras, TensorFlow, PyTorch, scikit-learn and custom Python
//! models are reported with how to convert them to ONNX, never a crash.

use std::path::{Path, PathBuf};

use biobatch_core::{Array, Batch, Node};

use super::source::ResolvedModel;
use super::spec::ArgSpec;
use crate::{Error, Result};

/// A model that predicts on batches of the core batch tree.
pub trait ZooModel: Send + Sync {
    /// Predictions for `batch` (its `inputs`), as a node of arrays with the batch axis first.
    fn predict_on_batch(&self, batch: &Batch) -> Result<Node>;
}

/// The local file an argument names: a path relative to the model's directory, or a remote
/// file fetched (and MD5-checked) into `cache`.
pub fn arg_file(m: &ResolvedModel, name: &str, cache: Option<&Path>) -> Result<PathBuf> {
    let a: &ArgSpec = m.model.args.get(name).ok_or_else(|| {
        Error::Invalid(format!(
            "{}: the model has no argument `{name}` (arguments: {})",
            m.model.path.display(),
            m.model.args.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    })?;
    if let Some(r) = &a.remote {
        let cache = cache.ok_or_else(|| {
            Error::Invalid("no cache directory for remote files (set $BIOBATCH_CACHE_DIR)".into())
        })?;
        return super::remote::fetch(r, cache);
    }
    let v = a
        .value
        .as_ref()
        .or(a.default.as_ref())
        .or(a.example.as_ref());
    let rel = v.and_then(|v| v.as_str()).ok_or_else(|| {
        Error::Invalid(format!(
            "{}: argument `{name}` names no file",
            m.model.path.display()
        ))
    })?;
    Ok(m.dir.join(rel))
}

/// Loads the model of a resolved spec.
pub fn load(m: &ResolvedModel, cache: Option<&Path>) -> Result<Box<dyn ZooModel>> {
    match m.model.kind.as_str() {
        "biobatch.bpnet" => Ok(Box::new(BpnetModel::load(m, cache)?)),
        #[cfg(feature = "onnx")]
        "onnx" => Ok(Box::new(onnx::OnnxModel::load(m, cache)?)),
        #[cfg(not(feature = "onnx"))]
        "onnx" => Err(Error::Invalid(
            "this build has no ONNX runtime: rebuild with the `onnx` feature".into(),
        )),
        other => {
            let how = match other {
                "keras" | "tensorflow" => {
                    "convert it with tf2onnx (`python -m tf2onnx.convert --keras model.h5 --output model.onnx`)"
                }
                "pytorch" => {
                    "export it with `torch.onnx.export(model, example_input, \"model.onnx\", dynamic_axes={...})`"
                }
                "sklearn" | "xgboost" => "convert it with skl2onnx / onnxmltools",
                _ => "export the network to ONNX",
            };
            Err(Error::Invalid(format!(
                "{}: unsupported model type `{other}`: {how}, then set `type: onnx` and `args: {{file: model.onnx}}`",
                m.model.path.display()
            )))
        }
    }
}

/// A BPNet exported by `biobatch train bpnet` (`args: {weights, config}`): `config` is the
/// training's `config.json` (only its `model` section is read) or that section alone;
/// `weights` is burnpack (`.bpk`) or SafeTensors in bpnet-lite's names (`.safetensors`), so
/// a bpnet-lite model's `state_dict` runs here too.
struct BpnetModel {
    config: crate::bpnet::BpnetConfig,
    model: crate::bpnet::Bpnet,
}

impl BpnetModel {
    fn load(m: &ResolvedModel, cache: Option<&Path>) -> Result<Self> {
        let config_path = arg_file(m, "config", cache)?;
        let weights = arg_file(m, "weights", cache)?;
        let text = std::fs::read(&config_path).map_err(|e| Error::io(&config_path, e))?;
        let v: serde_json::Value = serde_json::from_slice(&text)
            .map_err(|e| Error::Invalid(format!("{}: {e}", config_path.display())))?;
        let section = v.get("model").cloned().unwrap_or(v);
        let config: crate::bpnet::BpnetConfig = serde_json::from_value(section).map_err(|e| {
            Error::Invalid(format!("{}: model settings: {e}", config_path.display()))
        })?;
        config
            .check()
            .map_err(|e| Error::Invalid(format!("{}: {e}", config_path.display())))?;
        let model = crate::bpnet::weights::load(&config, &weights)?;
        Ok(BpnetModel { config, model })
    }
}

/// A float array as f32 values (f64, f16 and integer one-hot are converted).
fn as_f32(a: &Array, what: &str) -> Result<Vec<f32>> {
    use biobatch_core::Data;
    Ok(match a.data() {
        Data::F32(v) => v.clone(),
        Data::F64(v) => v.iter().map(|&x| x as f32).collect(),
        Data::F16(v) => v.iter().map(|x| x.to_f32()).collect(),
        Data::U8(v) => v.iter().map(|&x| x as f32).collect(),
        Data::I8(v) => v.iter().map(|&x| x as f32).collect(),
        Data::I32(v) => v.iter().map(|&x| x as f32).collect(),
        Data::I64(v) => v.iter().map(|&x| x as f32).collect(),
        d => {
            return Err(Error::Invalid(format!(
                "{what}: a model input cannot be {}",
                d.dtype()
            )));
        }
    })
}

fn array_to_tensor<const D: usize>(
    a: &Array,
    what: &str,
    device: &burn::prelude::Device,
) -> Result<burn::prelude::Tensor<D>> {
    use burn::prelude::*;
    let shape = a.shape().to_vec();
    if shape.len() != D {
        return Err(Error::Invalid(format!(
            "{what}: expected a {D}-D batch, found shape {shape:?}"
        )));
    }
    Ok(Tensor::<D>::from_data(
        TensorData::new(as_f32(a, what)?, shape),
        device,
    ))
}

impl ZooModel for BpnetModel {
    fn predict_on_batch(&self, batch: &Batch) -> Result<Node> {
        let device = burn::prelude::Device::flex();
        // A single array is the sequence (kipoiseq's SeqIntervalDl, alphabet_axis 0); a map
        // has `seq` and optionally `controls` (biobatch.PeakDataset).
        let (seq, what) = match batch.inputs.as_array() {
            Some(a) => (a, "inputs"),
            None => (batch.array("inputs/seq")?, "inputs/seq"),
        };
        let x = array_to_tensor::<3>(seq, what, &device)?;
        let ctl = match batch.inputs.get("controls").and_then(Node::as_array) {
            Some(a) => Some(array_to_tensor::<3>(a, "inputs/controls", &device)?),
            None => None,
        };
        let n = seq.shape()[0];
        let (logits, log_counts) = self.model.forward(x, ctl);
        let (profile, counts) =
            crate::bpnet::predict::postprocess(&self.config, logits, log_counts)?;
        let c = &self.config;
        Ok(Node::from_iter([
            (
                "profile",
                Node::Array(Array::new(
                    vec![n, c.output_tracks(), c.out_window],
                    profile,
                )?),
            ),
            (
                "counts",
                Node::Array(Array::new(vec![n, c.tasks.len()], counts)?),
            ),
        ]))
    }
}

#[cfg(feature = "onnx")]
mod onnx {
    use std::collections::HashMap;
    use std::path::Path;
    use std::sync::{Arc, Mutex};

    use biobatch_core::{Array, Batch, Node, SchemaNode};
    use tract_onnx::prelude::*;

    use super::{ZooModel, arg_file};
    use crate::zoo::source::ResolvedModel;
    use crate::{Error, Result};

    type Plan = Arc<TypedRunnableModel>;

    /// An ONNX network; plans are built per batch size (tract optimises for fixed shapes).
    pub struct OnnxModel {
        path: std::path::PathBuf,
        outputs: Vec<String>,
        /// Which batch leaf feeds each network input, by position.
        paths: Vec<String>,
        /// The element type each network input declares (f32 where it declares none).
        dtypes: Vec<DatumType>,
        plans: Mutex<HashMap<Vec<Vec<usize>>, Plan>>,
    }

    fn err(path: &Path, e: impl std::fmt::Display) -> Error {
        Error::Invalid(format!("{}: {e}", path.display()))
    }

    impl OnnxModel {
        pub fn load(m: &ResolvedModel, cache: Option<&Path>) -> Result<Self> {
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
                            .find(|(k, s)| *k == n || matches!(s, SchemaNode::Array(a) if a.name.as_deref() == Some(n)))
                            .map(|(k, _)| format!("inputs/{k}"))
                            .ok_or_else(|| err(&path, format!("network input `{n}` matches no key of the schema's inputs")))
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
                    return Err(Error::Invalid(format!(
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
            return batch
                .inputs
                .as_array()
                .ok_or_else(|| Error::Invalid("the batch's inputs are not a single array".into()));
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
}
