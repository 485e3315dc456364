//! How the model's convolutions are computed: the same functions as burn's `Conv1d`, in the
//! form that runs fastest on each backend.
//!
//! - **Dilated residual convolutions on the CPU** run as one matrix product per kernel tap:
//!   `y = b + Σⱼ Wⱼ · x[.., j·d ..]`, where `Wⱼ` is the `[out, in]` slice of the weight at tap
//!   `j` and `x` is the zero-padded input read at offset `j·d` (a strided view, no copy).
//!   burn's `flex` `conv1d` gathers im2col columns through a 3-D convolution and computes the
//!   input gradient with direct transposed-convolution loops; here the forward pass and both
//!   gradients are GEMMs.
//! - **The profile head** is computed over the output window only (widened by the kernel's
//!   reach, zero-padded where the input ends), not over the whole input and then cropped:
//!   bpnet-lite's profile convolution is evaluated at 2,114 positions to keep 1,000. On the
//!   CPU it is one GEMM and a skewed sum ([`valid_by_gemm`]), so its gradients are GEMMs too.
//!
//! Together they make a training step of bpnet-lite's default model on `flex` about twice as
//! fast as with `Conv1d` (`docs/benchmarks.md`, `compare train`). GPUs keep burn's convolution
//! kernels. The values are burn's `Conv1d`'s with "same" padding up to the rounding of sums
//! taken in another order (the tests below compare them, gradients included).

use burn::nn::conv::Conv1d;
use burn::prelude::*;
use burn::tensor::module::conv1d;
use burn::tensor::ops::{ConvOptions, PadMode};

/// `conv` (stride 1, one group, odd kernel, "same" padding of `dilation · (k − 1) / 2` each
/// side) applied to `x` `[B, in, L]`: per-tap matrix products on the CPU, burn's kernel
/// elsewhere.
pub(crate) fn same_conv(conv: &Conv1d, x: Tensor<3>) -> Tensor<3> {
    if on_cpu(&x) {
        per_tap(conv, x)
    } else {
        conv.forward(x)
    }
}

/// Whether `x` lives on burn's `flex` CPU backend (with or without autodiff), where the
/// GEMM forms pay; other devices keep burn's convolution kernels.
fn on_cpu(x: &Tensor<3>) -> bool {
    x.device().without_autodiff() == Device::flex()
}

/// The per-tap form of [`same_conv`].
fn per_tap(conv: &Conv1d, x: Tensor<3>) -> Tensor<3> {
    let w = conv.weight.val();
    let [out, input, k] = w.dims();
    let d = conv.dilation;
    let [_, _, len] = x.dims();
    let pad = d * (k - 1) / 2;
    let x = x.pad((pad, pad, 0, 0), PadMode::Constant(0.0));
    let mut y = None;
    for j in 0..k {
        let wj = w
            .clone()
            .slice(s![.., .., j..j + 1])
            .reshape([1, out, input]);
        let t = wj.matmul(x.clone().slice(s![.., .., j * d..j * d + len]));
        y = Some(match y {
            None => t,
            Some(y) => y + t,
        });
    }
    let y = y.unwrap_or_else(|| Tensor::zeros([1, out, len], &conv.weight.device()));
    match &conv.bias {
        Some(b) => y + b.val().reshape([1, out, 1]),
        None => y,
    }
}

/// `conv` (stride 1, odd kernel of half-width `half`) with "same" padding, evaluated only at
/// positions `start..end` of `x` `[B, in, L]`: reads `x[.., start − half .. end + half]`, with
/// zeros where that reaches past either end of `x`. Equals `conv.forward(x)` (padding `half`)
/// cropped to `start..end`.
pub(crate) fn same_conv_window(conv: &Conv1d, x: Tensor<3>, start: usize, end: usize) -> Tensor<3> {
    let half = conv.dilation * (conv.kernel_size - 1) / 2;
    let [_, _, len] = x.dims();
    let (lo, hi) = (start.saturating_sub(half), (end + half).min(len));
    let x = x.slice(s![.., .., lo..hi]);
    let (left, right) = (half - (start - lo), half - (hi - end));
    let x = if left + right > 0 {
        x.pad((left, right, 0, 0), PadMode::Constant(0.0))
    } else {
        x
    };
    if conv.dilation == 1 && on_cpu(&x) {
        return valid_by_gemm(conv, x);
    }
    conv1d(
        x,
        conv.weight.val(),
        conv.bias.as_ref().map(|b| b.val()),
        ConvOptions::new([1], [0], [conv.dilation], 1),
    )
}

/// `conv` (stride 1, dilation 1) over `x` `[B, in, N]` without padding (`N − k + 1` outputs)
/// as one GEMM and a skewed sum: `Z = W' · x` with `W'` the `[out·k, in]` rows of every
/// (output channel, tap), then `y[o, t] = Σⱼ Z[(o, j), t + j]`. In `Z`'s row-major layout
/// element `(j, t + j)` of an output channel's `[k, N]` block sits at `j·(N + 1) + t`, so
/// padding the block by `k` and viewing it as `[k, N + 1]` puts each diagonal in a column.
/// For a head with few output channels and a wide kernel (the profile head: 2 × 75) the
/// gradients are then GEMMs too, where `conv1d`'s input gradient is a direct transposed
/// convolution.
fn valid_by_gemm(conv: &Conv1d, x: Tensor<3>) -> Tensor<3> {
    let w = conv.weight.val();
    let [out, input, k] = w.dims();
    let [b, _, n] = x.dims();
    let t = n + 1 - k;
    let rows = w.permute([0, 2, 1]).reshape([1, out * k, input]);
    let y = rows
        .matmul(x)
        .reshape([b, out, k * n])
        .pad((0, k, 0, 0), PadMode::Constant(0.0))
        .reshape([b * out, k, n + 1])
        .slice(s![.., .., 0..t])
        .sum_dim(1)
        .reshape([b, out, t]);
    match &conv.bias {
        Some(bias) => y + bias.val().reshape([1, out, 1]),
        None => y,
    }
}

#[cfg(test)]
mod tests {
    use burn::nn::PaddingConfig1d;
    use burn::nn::conv::Conv1dConfig;
    use burn::tensor::Distribution;

    use super::*;

    fn conv(input: usize, out: usize, k: usize, d: usize, dev: &Device) -> Conv1d {
        let p = d * (k - 1) / 2;
        Conv1dConfig::new(input, out, k)
            .with_dilation(d)
            .with_padding(PaddingConfig1d::Explicit(p, p))
            .init(dev)
    }

    fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar()
    }

    fn random(shape: [usize; 3], dev: &Device) -> Tensor<3> {
        Tensor::random(shape, Distribution::Normal(0.0, 1.0), dev)
    }

    /// The gradients of the same scalar (`Σ output · probe`) through `ours` and `theirs`,
    /// both computed from `x` and `c`'s parameters: equal for the input, weight and bias.
    fn same_gradients(c: &Conv1d, x: &Tensor<3>, ours: Tensor<3>, theirs: Tensor<3>, what: &str) {
        let probe = random(ours.dims(), &ours.device());
        let g_ours = (ours * probe.clone()).sum().backward();
        let g_theirs = (theirs * probe).sum().backward();
        let gx = |g| x.grad(g).expect("x gets a gradient");
        let gw = |g| c.weight.val().grad(g).expect("the weight gets a gradient");
        let gb = |g| {
            let b = c.bias.as_ref().expect("a bias");
            b.val().grad(g).expect("the bias gets a gradient")
        };
        assert!(
            max_abs_diff(gx(&g_ours), gx(&g_theirs)) < 1e-4,
            "dx, {what}"
        );
        assert!(
            max_abs_diff(gw(&g_ours), gw(&g_theirs)) < 1e-3,
            "dw, {what}"
        );
        assert!(
            max_abs_diff(gb(&g_ours), gb(&g_theirs)) < 1e-3,
            "db, {what}"
        );
    }

    #[test]
    fn per_tap_convolution_equals_burns_with_its_gradients() {
        let dev = Device::flex().autodiff();
        for (k, d, len) in [(3, 2, 50), (3, 16, 40), (5, 1, 33), (1, 1, 7), (3, 32, 20)] {
            let c = conv(6, 5, k, d, &dev);
            let x = random([3, 6, len], &dev).require_grad();
            let ours = per_tap(&c, x.clone());
            let theirs = c.forward(x.clone());
            assert_eq!(ours.dims(), [3, 5, len]);
            assert!(
                max_abs_diff(ours.clone(), theirs.clone()) < 1e-4,
                "k {k} d {d}"
            );
            same_gradients(&c, &x, ours, theirs, &format!("k {k} d {d}"));
        }
    }

    #[test]
    fn the_windowed_convolution_is_the_full_one_cropped_with_its_gradients() {
        let dev = Device::flex().autodiff();
        // Inside the input; reaching past the left end; past both ends; the whole input.
        for (len, start, end, k) in [
            (60, 20, 40, 9),
            (60, 2, 30, 9),
            (12, 1, 11, 9),
            (30, 0, 30, 5),
        ] {
            let c = conv(4, 3, k, 1, &dev);
            let x = random([2, 4, len], &dev).require_grad();
            let ours = same_conv_window(&c, x.clone(), start, end);
            let theirs = c.forward(x.clone()).slice(s![.., .., start..end]);
            assert_eq!(ours.dims(), [2, 3, end - start]);
            assert!(
                max_abs_diff(ours.clone(), theirs.clone()) < 1e-5,
                "{start}..{end}"
            );
            same_gradients(&c, &x, ours, theirs, &format!("{start}..{end}"));
        }
    }

    #[test]
    fn same_conv_on_the_cpu_is_burns_convolution() {
        // On the CPU `same_conv` takes the per-tap form; its values are burn's.
        let dev = Device::flex();
        let c = conv(8, 8, 3, 4, &dev);
        let x = random([2, 8, 64], &dev);
        assert!(max_abs_diff(same_conv(&c, x.clone()), c.forward(x)) < 1e-4);
    }
}
