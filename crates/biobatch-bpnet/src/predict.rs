//! A trained BPNet on a device, predicting on batches: per-base expected counts (each task's
//! profile distribution times its predicted total) and total counts per task.
//!
//! This is the one prediction path: `biobatch predict bpnet` and `biobatch zoo predict` both
//! run batches of the peak dataset (in prediction mode) through a [`Predictor`] and write
//! what it returns with the zoo's writers (Parquet or TSV in Kipoi's flat layout, or bigWig).

use std::path::Path;

use biobatch_core::{Array, Batch, Data, Node};
use burn::prelude::*;
use burn::tensor::activation::softmax;

use crate::checkpoint::read_json;
use crate::model::{Bpnet, BpnetConfig};
use crate::{DeviceChoice, Error, Result};

/// A model, its settings and the device it runs on.
pub struct Predictor {
    config: BpnetConfig,
    model: Bpnet,
    device: Device,
}

impl std::fmt::Debug for Predictor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Predictor")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The model settings of a settings file: a training's `config.json` (its `model` section is
/// read) or that section alone.
pub fn read_model_config(path: &Path) -> Result<BpnetConfig> {
    let v: serde_json::Value = read_json(path)?;
    let section = v.get("model").cloned().unwrap_or(v);
    let config: BpnetConfig = serde_json::from_value(section).map_err(|e| Error::json(path, e))?;
    config.check().map_err(|e| Error::Settings {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(config)
}

impl Predictor {
    /// Loads the model of a model folder written by training (`config.json`, `model.bpk`).
    pub fn load(dir: &Path, device: DeviceChoice) -> Result<Self> {
        Self::load_files(&dir.join("config.json"), &dir.join("model.bpk"), device)
    }

    /// Loads a model from its settings (see [`read_model_config`]) and its weights
    /// (`model.bpk`, or `model.safetensors` in bpnet-lite's names: see [`crate::weights`]),
    /// wherever they lie (a zoo model names both), onto `device`.
    pub fn load_files(config: &Path, weights: &Path, device: DeviceChoice) -> Result<Self> {
        let dev = device.device()?;
        let config = read_model_config(config)?;
        let model = crate::weights::load(&config, weights)?;
        let model = if device.is_gpu() {
            model.to_device(&dev)
        } else {
            model
        };
        Ok(Predictor {
            config,
            model,
            device: dev,
        })
    }

    /// The model's settings.
    pub fn config(&self) -> &BpnetConfig {
        &self.config
    }

    /// Predictions for a batch whose `inputs` are the one-hot sequence `[B, 4, in_window]` —
    /// a single array (kipoiseq's `SeqIntervalDl` with `alphabet_axis: 0`), or `seq` of a map
    /// with `controls` `[B, C, in_window]` beside it (the peak dataset) — as the node
    /// `{profile: [B, tracks, out_window], counts: [B, tasks]}`.
    pub fn predict_on_batch(&self, batch: &Batch) -> Result<Node> {
        self.predict_inputs(self.stage(batch)?)
    }

    /// A batch's inputs as tensors on the device (checked, converted to f32, staged in pinned
    /// memory where the backend has it): the part of [`predict_on_batch`](Self::predict_on_batch)
    /// that can run ahead on a feed thread while the model predicts the previous batch.
    pub fn stage(&self, batch: &Batch) -> Result<Inputs> {
        let (seq, what) = match batch.inputs.as_array() {
            Some(a) => (a, "inputs"),
            None => (batch.array("inputs/seq")?, "inputs/seq"),
        };
        let controls = batch.inputs.get("controls").and_then(Node::as_array);
        let given = controls.map_or(0, |a| a.shape().get(1).copied().unwrap_or(0));
        if given != self.config.control_tracks {
            return Err(Error::ControlTracks {
                expected: self.config.control_tracks,
                given,
            });
        }
        let x = self.tensor(seq, what)?;
        let controls = match controls {
            Some(a) => Some(self.tensor(a, "inputs/controls")?),
            None => None,
        };
        Ok(Inputs {
            n: seq.shape()[0],
            x,
            controls,
        })
    }

    /// Predictions for inputs made by [`stage`](Self::stage) (see
    /// [`predict_on_batch`](Self::predict_on_batch)).
    pub fn predict_inputs(&self, inputs: Inputs) -> Result<Node> {
        let Inputs { n, x, controls } = inputs;
        let (logits, log_counts) = self.model.forward(x, controls);
        let (profile, counts) = postprocess(&self.config, logits, log_counts)?;
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

    /// A batch array as a 3-D f32 tensor on the device (one-hot `u8` and other numbers are
    /// converted), staged before the copy.
    fn tensor(&self, a: &Array, what: &str) -> Result<Tensor<3>> {
        let shape = a.shape().to_vec();
        if shape.len() != 3 {
            return Err(Error::Rank {
                what: what.to_string(),
                rank: 3,
                shape,
            });
        }
        let values: Vec<f32> = match a.data() {
            Data::F32(v) => v.clone(),
            Data::F64(v) => v.iter().map(|&x| x as f32).collect(),
            Data::F16(v) => v.iter().map(|x| x.to_f32()).collect(),
            Data::U8(v) => v.iter().map(|&x| x as f32).collect(),
            Data::I8(v) => v.iter().map(|&x| x as f32).collect(),
            Data::I32(v) => v.iter().map(|&x| x as f32).collect(),
            Data::I64(v) => v.iter().map(|&x| x as f32).collect(),
            Data::Bool(_) | Data::Str(_) => {
                return Err(Error::InputDtype {
                    what: what.to_string(),
                    dtype: a.dtype(),
                });
            }
        };
        let mut data = [TensorData::new(values, shape)];
        self.device.staging(data.iter_mut());
        let [data] = data;
        Ok(Tensor::<3>::from_data(data, &self.device))
    }
}

/// A batch's inputs on the device, made by [`Predictor::stage`].
pub struct Inputs {
    n: usize,
    x: Tensor<3>,
    controls: Option<Tensor<3>>,
}

impl std::fmt::Debug for Inputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inputs")
            .field("n", &self.n)
            .field("controls", &self.controls.is_some())
            .finish_non_exhaustive()
    }
}

/// Turns the network's outputs into predictions: per-base expected counts
/// (`[n, tracks, out_window]`: the softmax over each task's tracks × positions, times the
/// task's counts) and total counts per task (`[n, tasks]`: `exp(log counts) − 1`, at least 0).
pub fn postprocess(
    m: &BpnetConfig,
    logits: Tensor<3>,
    log_counts: Tensor<2>,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let [n, _, _] = logits.dims();
    let mut probs = Vec::with_capacity(m.tasks.len());
    let mut t0 = 0;
    for &tg in &m.tasks {
        let lg = logits
            .clone()
            .slice(s![.., t0..t0 + tg, ..])
            .reshape([n as i32, (tg * m.out_window) as i32]);
        probs.push(softmax(lg, 1).reshape([n as i32, tg as i32, m.out_window as i32]));
        t0 += tg;
    }
    let mut expected = Tensor::cat(probs, 1)
        .into_data()
        .try_into_vec::<f32>()
        .map_err(Error::Tensor)?;
    let counts: Vec<f32> = log_counts
        .into_data()
        .try_into_vec::<f32>()
        .map_err(Error::Tensor)?
        .into_iter()
        .map(|v| v.exp_m1().max(0.0))
        .collect();
    let tracks = m.output_tracks();
    for i in 0..n {
        let mut t = 0;
        for (k, &tg) in m.tasks.iter().enumerate() {
            for _ in 0..tg {
                let c = counts[i * m.tasks.len() + k];
                expected[(i * tracks + t) * m.out_window..(i * tracks + t + 1) * m.out_window]
                    .iter_mut()
                    .for_each(|v| *v *= c);
                t += 1;
            }
        }
    }
    Ok((expected, counts))
}
