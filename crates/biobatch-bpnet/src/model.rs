//! The BPNet architecture in burn, after bpnet-lite's `BPNet`: a first convolution, a stack
//! of dilated residual convolutions, a profile head (per-track logits over the output window,
//! optionally seeing the control tracks) and a counts head (log total counts per task).

use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig1d};
use burn::prelude::*;
use burn::tensor::FloatDType;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

use crate::conv::{same_conv, same_conv_window};

/// The architecture's settings; the defaults are bpnet-lite's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BpnetConfig {
    /// Filters of every convolution [64].
    pub n_filters: usize,
    /// Dilated residual layers; layer `i` (from 1) has dilation `2^i` [8].
    pub n_layers: usize,
    /// Width of the first convolution [21].
    pub first_kernel: usize,
    /// Width of the residual convolutions [3].
    pub residual_kernel: usize,
    /// Width of the profile head's convolution [75].
    pub profile_kernel: usize,
    /// Input (sequence) window [2114].
    pub in_window: usize,
    /// Output (profile) window [1000].
    pub out_window: usize,
    /// Tracks predicted per task, in order (e.g. `[2]` for one stranded task) [[2]].
    pub tasks: Vec<usize>,
    /// Control tracks given to the heads (0: none) [2].
    pub control_tracks: usize,
}

impl Default for BpnetConfig {
    fn default() -> Self {
        BpnetConfig {
            n_filters: 64,
            n_layers: 8,
            first_kernel: 21,
            residual_kernel: 3,
            profile_kernel: 75,
            in_window: 2114,
            out_window: 1000,
            tasks: vec![2],
            control_tracks: 2,
        }
    }
}

impl BpnetConfig {
    /// Tracks predicted in all.
    pub fn output_tracks(&self) -> usize {
        self.tasks.iter().sum()
    }

    /// Checks that the windows and kernels fit together.
    pub fn check(&self) -> crate::Result<()> {
        self.problem()
            .map_or(Ok(()), |m| Err(crate::Error::Config(m)))
    }

    fn problem(&self) -> Option<String> {
        let check = || -> Result<(), String> {
            if self.tasks.is_empty() || self.tasks.contains(&0) {
                return Err(
                    "tasks must list at least one task, each with at least one track".into(),
                );
            }
            if self.out_window == 0 || self.out_window > self.in_window {
                return Err(format!(
                    "out_window {} must be between 1 and in_window {}",
                    self.out_window, self.in_window
                ));
            }
            if !(self.in_window - self.out_window).is_multiple_of(2) {
                return Err("in_window − out_window must be even (the output is centred)".into());
            }
            for (what, k) in [
                ("first_kernel", self.first_kernel),
                ("residual_kernel", self.residual_kernel),
                ("profile_kernel", self.profile_kernel),
            ] {
                if k % 2 == 0 {
                    return Err(format!(
                        "{what} must be odd (centred convolutions), not {k}"
                    ));
                }
            }
            if self.n_layers > 16 {
                return Err("n_layers above 16 gives dilations beyond any window".into());
            }
            Ok(())
        };
        check().err()
    }

    /// Builds the model on `device`.
    pub fn init(&self, device: &Device) -> Bpnet {
        let f = self.n_filters;
        let same = |k: usize, d: usize| PaddingConfig1d::Explicit(d * (k - 1) / 2, d * (k - 1) / 2);
        let first = Conv1dConfig::new(4, f, self.first_kernel)
            .with_padding(same(self.first_kernel, 1))
            .init(device);
        let residual = (1..=self.n_layers)
            .map(|i| {
                let d = 1usize << i;
                Conv1dConfig::new(f, f, self.residual_kernel)
                    .with_dilation(d)
                    .with_padding(same(self.residual_kernel, d))
                    .init(device)
            })
            .collect();
        let profile = Conv1dConfig::new(
            f + self.control_tracks,
            self.output_tracks(),
            self.profile_kernel,
        )
        .with_padding(same(self.profile_kernel, 1))
        .init(device);
        let with_ctl = usize::from(self.control_tracks > 0);
        let counts = LinearConfig::new(f + with_ctl, self.tasks.len()).init(device);
        Bpnet {
            first,
            residual,
            profile,
            counts,
            trim: (self.in_window - self.out_window) / 2,
            profile_half: self.profile_kernel / 2,
            out_window: self.out_window,
            control_tracks: self.control_tracks,
        }
    }
}

/// The model.
#[derive(Module, Debug)]
pub struct Bpnet {
    first: Conv1d,
    residual: Vec<Conv1d>,
    profile: Conv1d,
    counts: Linear,
    trim: usize,
    profile_half: usize,
    out_window: usize,
    control_tracks: usize,
}

impl Bpnet {
    /// Profile logits `[B, tracks, out_window]` and log counts `[B, tasks]` for one-hot
    /// sequence `x` `[B, 4, in_window]` and, when the model has control tracks, `controls`
    /// `[B, C, in_window]`.
    ///
    /// The model computes in the type of its parameters (`f32`, or `f16`/`bf16` for a copy
    /// made by [`Precision::compute_model`](crate::precision::Precision::compute_model)):
    /// the inputs are cast to it, the control totals are summed in `f32`, and both outputs
    /// come back in `f32`.
    pub fn forward(&self, x: Tensor<3>, controls: Option<Tensor<3>>) -> (Tensor<3>, Tensor<2>) {
        let dtype: FloatDType = self.first.weight.val().dtype().into();
        let x = x.cast(dtype);
        let [b, _, len] = x.dims();
        // A model with control tracks given none sees zeros (no control signal).
        let controls = match controls {
            None if self.control_tracks > 0 => {
                Some(Tensor::zeros([b, self.control_tracks, len], &x.device()))
            }
            c => c,
        };
        let mut h = relu(self.first.forward(x));
        for conv in &self.residual {
            h = h.clone() + relu(same_conv(conv, h));
        }
        let (start, end) = (self.trim, self.trim + self.out_window);
        // The counts head averages the features over the output window widened by the
        // profile kernel's reach (bpnet-lite's `start - 37 : end + 37`), clamped to the input.
        let (lo, hi) = (
            start.saturating_sub(self.profile_half),
            (end + self.profile_half).min(len),
        );
        let pooled = h
            .clone()
            .slice(s![.., .., lo..hi])
            .mean_dim(2)
            .reshape([b as i32, -1]);
        let (profile_in, pooled) = match controls {
            Some(c) if self.control_tracks > 0 => {
                let total = c
                    .clone()
                    .cast(FloatDType::F32)
                    .slice(s![.., .., lo..hi])
                    .sum_dim(2)
                    .sum_dim(1)
                    .reshape([b as i32, 1]);
                (
                    Tensor::cat(vec![h, c.cast(dtype)], 1),
                    Tensor::cat(vec![pooled, total.log1p().cast(dtype)], 1),
                )
            }
            _ => (h, pooled),
        };
        // Only the output window of the profile convolution is kept, so only it is computed.
        let profile = same_conv_window(&self.profile, profile_in, start, end);
        let counts = self.counts.forward(pooled);
        (profile.cast(FloatDType::F32), counts.cast(FloatDType::F32))
    }
}
