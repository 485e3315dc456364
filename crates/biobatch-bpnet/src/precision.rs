//! Mixed precision: the forward and backward passes in `f16` or `bf16` while the master
//! weights, the optimiser, the losses and the metrics stay in `f32` (opt-in; `f32`
//! throughout is the default).
//!
//! Each training step casts the `f32` master parameters to the compute type (the casts are
//! part of the autodiff graph, so the gradients arrive back in `f32` on the master
//! parameters), runs the model in that type, and casts its outputs back to `f32` before the
//! losses. The model's control totals are summed in `f32` (a sum of counts overflows `f16`).
//!
//! `f16`'s range is narrow (largest 65,504, smallest normal 6·10⁻⁵), so its gradients are
//! computed on the loss multiplied by a [`LossScale`]: a step whose gradients overflow is
//! skipped and the scale halved; after [`LossScale::GROWTH_INTERVAL`] good steps it doubles.
//! The scale is part of the checkpoint, so a resumed run scales exactly as an unbroken one.
//! `bf16` has `f32`'s range and needs no scaling.
//!
//! A device that cannot compute in the type asked for is an error before any data is read
//! (burn's `supports_dtype`). On the CPU, `flex` computes `f16` natively but without fast
//! `f16` arithmetic (about 6× slower than `f32` on an AVX2 CPU) and `bf16` by converting to
//! `f32`: both are correct there, for checking the numerics; the gain is on GPUs with
//! half-precision units.

use std::fmt;
use std::str::FromStr;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::FloatDType;
use serde::{Deserialize, Serialize};

use crate::model::Bpnet;
use crate::{DeviceChoice, Error, Result};

/// The type the model computes in; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Precision {
    /// `f32` throughout.
    #[default]
    F32,
    /// `f16` compute with `f32` master weights and dynamic loss scaling.
    F16,
    /// `bf16` compute with `f32` master weights.
    Bf16,
}

impl Precision {
    /// The compute type, or `None` for `f32` throughout.
    pub fn compute_dtype(&self) -> Option<FloatDType> {
        match self {
            Precision::F32 => None,
            Precision::F16 => Some(FloatDType::F16),
            Precision::Bf16 => Some(FloatDType::BF16),
        }
    }

    /// Whether the loss is scaled (`f16`).
    pub fn scales_loss(&self) -> bool {
        matches!(self, Precision::F16)
    }

    /// Checks that `device` (chosen as `choice`) can compute in this type.
    pub fn check(&self, device: &Device, choice: DeviceChoice) -> Result<()> {
        match self.compute_dtype() {
            Some(dtype) if !device.supports_dtype(dtype) => Err(Error::PrecisionUnsupported {
                precision: *self,
                device: choice.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// The model to compute with, when it is not `model` itself (`f32`): a copy whose
    /// parameters are the master parameters cast to the compute type (tracked by autodiff
    /// when `model` is).
    pub fn compute_model(&self, model: &Bpnet) -> Option<Bpnet> {
        let dtype = self.compute_dtype()?;
        Some(model.clone().map(&mut CastParams(dtype)))
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Bf16 => "bf16",
        })
    }
}

impl FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "f32" | "fp32" | "float32" => Ok(Precision::F32),
            "f16" | "fp16" | "float16" | "half" => Ok(Precision::F16),
            "bf16" | "bfloat16" => Ok(Precision::Bf16),
            other => Err(format!(
                "unknown precision `{other}`: expected f32, f16 or bf16"
            )),
        }
    }
}

impl TryFrom<String> for Precision {
    type Error = String;

    fn try_from(s: String) -> std::result::Result<Self, String> {
        s.parse()
    }
}

impl From<Precision> for String {
    fn from(p: Precision) -> String {
        p.to_string()
    }
}

/// Casts every float parameter of a module to one type.
struct CastParams(FloatDType);

impl ModuleMapper for CastParams {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dtype = self.0;
        param.map(|t| t.cast(dtype))
    }
}

/// Dynamic loss scaling for `f16` training; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossScale {
    /// The factor the loss is multiplied by before the backward pass.
    pub scale: f64,
    /// Steps since the scale last changed without an overflow.
    pub good_steps: u64,
    /// Steps skipped over the run because their gradients overflowed.
    pub skipped_steps: u64,
}

impl Default for LossScale {
    fn default() -> Self {
        LossScale {
            scale: Self::INITIAL,
            good_steps: 0,
            skipped_steps: 0,
        }
    }
}

impl LossScale {
    /// The first scale, 2¹⁰. (PyTorch's `GradScaler` starts at 2¹⁶, for losses near 1;
    /// BPNet's MNLL gradients grow with the read counts, and at 2¹⁶ the first several steps
    /// of the example overflow `f16` and are skipped. Underflow, what scaling guards against,
    /// is not BPNet's problem; the scale still grows when it can.)
    pub const INITIAL: f64 = 1_024.0;
    /// Good steps after which the scale doubles.
    pub const GROWTH_INTERVAL: u64 = 2_000;
    /// The scale never drops below this (a run whose gradients overflow even then is
    /// diverging, and the skipped-step count says so).
    pub const MIN: f64 = 1.0;

    /// Divides the gradients of `model`'s parameters by the scale, in place, and says whether
    /// every one of them is finite.
    pub fn unscale(&self, grads: &mut GradientsParams, model: &Bpnet) -> bool {
        let mut v = Unscale {
            grads,
            inv: 1.0 / self.scale,
            sums: Vec::new(),
        };
        model.visit(&mut v);
        if v.sums.is_empty() {
            return true;
        }
        // One reading for all parameters: a sum is finite only if every gradient is.
        let total = Tensor::cat(v.sums, 0).sum().into_scalar::<f32>();
        total.is_finite()
    }

    /// Records a step: an overflow halves the scale (the step is skipped by the caller), and
    /// [`GROWTH_INTERVAL`](Self::GROWTH_INTERVAL) good steps in a row double it.
    pub fn update(&mut self, finite: bool) {
        if finite {
            self.good_steps += 1;
            if self.good_steps >= Self::GROWTH_INTERVAL {
                self.scale *= 2.0;
                self.good_steps = 0;
            }
        } else {
            self.skipped_steps += 1;
            self.scale = (self.scale / 2.0).max(Self::MIN);
            self.good_steps = 0;
        }
    }
}

struct Unscale<'a> {
    grads: &'a mut GradientsParams,
    inv: f64,
    sums: Vec<Tensor<1>>,
}

impl ModuleVisitor for Unscale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            let g = g.mul_scalar(self.inv);
            self.sums.push(g.clone().abs().sum());
            self.grads.register(param.id, g);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        for p in [Precision::F32, Precision::F16, Precision::Bf16] {
            assert_eq!(p.to_string().parse::<Precision>(), Ok(p));
        }
        assert_eq!("BFloat16".parse::<Precision>(), Ok(Precision::Bf16));
        let e = "f8".parse::<Precision>().unwrap_err();
        assert!(e.contains("`f8`") && e.contains("f16"), "{e}");
    }

    #[test]
    fn loss_scale_halves_on_overflow_and_grows_after_good_steps() {
        let mut s = LossScale::default();
        s.update(false);
        assert_eq!((s.scale, s.skipped_steps), (LossScale::INITIAL / 2.0, 1));
        for _ in 0..LossScale::GROWTH_INTERVAL - 1 {
            s.update(true);
        }
        assert_eq!(s.scale, LossScale::INITIAL / 2.0);
        s.update(true);
        assert_eq!((s.scale, s.good_steps), (LossScale::INITIAL, 0));
        let mut low = LossScale {
            scale: 1.5,
            ..Default::default()
        };
        low.update(false);
        low.update(false);
        assert_eq!(low.scale, LossScale::MIN);
    }

    #[test]
    fn compute_model_casts_parameters_and_keeps_master_f32() {
        let c = crate::BpnetConfig {
            n_filters: 4,
            n_layers: 1,
            in_window: 100,
            out_window: 50,
            control_tracks: 0,
            ..Default::default()
        };
        let device = Device::flex();
        let model = c.init(&device);
        for (p, want) in [
            (Precision::F16, burn::tensor::DType::F16),
            (Precision::Bf16, burn::tensor::DType::BF16),
            (Precision::F32, burn::tensor::DType::F32),
        ] {
            let half = p.compute_model(&model).unwrap_or_else(|| model.clone());
            let mut seen = Dtypes(Vec::new());
            half.visit(&mut seen);
            assert!(!seen.0.is_empty());
            assert!(seen.0.iter().all(|d| *d == want), "{p}: {:?}", seen.0);
            // The outputs come back in f32 whatever the compute type.
            let x = Tensor::<3>::ones([2, 4, 100], &device);
            let (logits, counts) = half.forward(x, None);
            assert_eq!(logits.dtype(), burn::tensor::DType::F32);
            assert_eq!(counts.dtype(), burn::tensor::DType::F32);
        }
        let mut master = Dtypes(Vec::new());
        model.visit(&mut master);
        assert!(master.0.iter().all(|d| *d == burn::tensor::DType::F32));
    }

    struct Dtypes(Vec<burn::tensor::DType>);

    impl ModuleVisitor for Dtypes {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.val().dtype());
        }
    }
}
