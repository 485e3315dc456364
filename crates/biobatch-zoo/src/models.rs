//! Zoo models: what `type:` a model.yaml names, loaded into something that predicts on a
//! batch. `biobatch.bpnet` (BPNet in burn, as `biobatch train bpnet` exports it; feature
//! `bpnet`) and `onnx` (through tract, pure Rust; feature `onnx`) run; Keras, TensorFlow,
//! PyTorch, scikit-learn and custom Python models are reported with how to convert them to
//! ONNX, never a crash.

#[cfg(feature = "bpnet")]
mod bpnet;
#[cfg(feature = "onnx")]
mod onnx;

use std::path::{Path, PathBuf};

use biobatch_core::{Batch, Node};

use crate::source::ResolvedModel;
use crate::spec::ArgSpec;
use crate::{Error, Result};

/// A model that predicts on batches of the core batch tree.
pub trait ZooModel: Send + Sync {
    /// Predictions for `batch` (its `inputs`), as a node of arrays with the batch axis first.
    fn predict_on_batch(&self, batch: &Batch) -> Result<Node>;

    /// The part of a prediction that can run ahead, on the feed thread, while the model
    /// predicts the previous batch: for a model on a GPU, its inputs converted, staged and
    /// copied to the device. The default does nothing.
    fn stage(&self, batch: &Batch) -> Result<Option<Staged>> {
        let _ = batch;
        Ok(None)
    }

    /// Predictions for `batch` given what [`stage`](Self::stage) made of it; the default
    /// ignores it and calls [`predict_on_batch`](Self::predict_on_batch).
    fn predict_staged(&self, batch: &Batch, staged: Option<Staged>) -> Result<Node> {
        let _ = staged;
        self.predict_on_batch(batch)
    }
}

/// What a model's [`ZooModel::stage`] made of a batch, handed back to its
/// [`ZooModel::predict_staged`].
pub type Staged = Box<dyn std::any::Any + Send>;

/// Where a model runs: `cpu`, or a GPU for models that can (`wgpu` / `wgpu:N` for BPNet in a
/// build with the `wgpu` feature). ONNX models run on the CPU only.
pub const CPU: &str = "cpu";

/// The local file an argument names: a path relative to the model's directory, or a remote
/// file fetched (and MD5-checked) into `cache`.
pub fn arg_file(m: &ResolvedModel, name: &str, cache: Option<&Path>) -> Result<PathBuf> {
    let a: &ArgSpec = m.model.args.get(name).ok_or_else(|| {
        Error::spec(
            &m.model.path,
            format!(
                "the model has no argument `{name}` (arguments: {})",
                m.model.args.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        )
    })?;
    if let Some(r) = &a.remote {
        let cache = cache.ok_or_else(|| Error::NoCache {
            what: format!("model argument `{name}`"),
        })?;
        return crate::remote::fetch(r, cache);
    }
    let v = a
        .value
        .as_ref()
        .or(a.default.as_ref())
        .or(a.example.as_ref());
    let rel = v
        .and_then(|v| v.as_str())
        .ok_or_else(|| Error::spec(&m.model.path, format!("argument `{name}` names no file")))?;
    m.file(rel)
}

/// Loads the model of a resolved spec onto `device` (see [`CPU`]).
#[cfg_attr(not(any(feature = "onnx", feature = "bpnet")), allow(unused_variables))]
pub fn load(m: &ResolvedModel, cache: Option<&Path>, device: &str) -> Result<Box<dyn ZooModel>> {
    let cpu_only = |kind: &str| -> Result<()> {
        if device.trim().eq_ignore_ascii_case(CPU) {
            Ok(())
        } else {
            Err(Error::Config(format!(
                "device `{device}`: {kind} models run on the CPU (through tract); use --device cpu"
            )))
        }
    };
    match m.model.kind.as_str() {
        #[cfg(feature = "bpnet")]
        "biobatch.bpnet" => Ok(Box::new(bpnet::BpnetModel::load(m, cache, device)?)),
        #[cfg(not(feature = "bpnet"))]
        "biobatch.bpnet" => Err(Error::MissingFeature {
            kind: "biobatch.bpnet".into(),
            feature: "bpnet",
        }),
        #[cfg(feature = "onnx")]
        "onnx" => {
            cpu_only("ONNX")?;
            Ok(Box::new(onnx::OnnxModel::load(m, cache)?))
        }
        #[cfg(not(feature = "onnx"))]
        "onnx" => {
            cpu_only("ONNX")?;
            Err(Error::MissingFeature {
                kind: "onnx".into(),
                feature: "onnx",
            })
        }
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
            Err(Error::UnsupportedModel {
                path: m.model.path.clone(),
                kind: other.to_string(),
                how,
            })
        }
    }
}
