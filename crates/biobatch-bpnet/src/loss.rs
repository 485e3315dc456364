//! BPNet's losses: the multinomial negative log-likelihood of each task's profile (its tracks
//! flattened into one distribution) and the mean squared error of `log(1 + counts)`.
//!
//! For one example and task with observed counts `y` (over its tracks × positions), total
//! `n = Σy` and predicted log-probabilities `log p = log_softmax(logits)`:
//!
//! ```text
//! MNLL = −[ log Γ(n + 1) − Σ log Γ(y + 1) + Σ y · log p ]
//! ```
//!
//! averaged over the examples and tasks of a batch. The Γ terms do not depend on the model;
//! they are computed on the host from the targets so the loss is the true likelihood.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7, 9 terms; about 15 significant digits).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 − x) = π / sin(πx).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, &c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The model-independent part of each example's and task's MNLL, `log Γ(n+1) − Σ log Γ(y+1)`,
/// from targets `[B, tracks, L]` laid out row-major; `[B, tasks]` row-major.
pub fn mnll_constants(targets: &[f32], batch: usize, tasks: &[usize], len: usize) -> Vec<f32> {
    let tracks: usize = tasks.iter().sum();
    let mut out = Vec::with_capacity(batch * tasks.len());
    for b in 0..batch {
        let mut t0 = 0;
        for &tg in tasks {
            let ys = &targets[(b * tracks + t0) * len..(b * tracks + t0 + tg) * len];
            let n: f64 = ys.iter().map(|&y| y as f64).sum();
            let prod: f64 = ys
                .iter()
                .filter(|&&y| y > 0.0)
                .map(|&y| ln_gamma(y as f64 + 1.0))
                .sum();
            out.push((ln_gamma(n + 1.0) - prod) as f32);
            t0 += tg;
        }
    }
    out
}

/// Total counts `[B, tasks]` of targets `[B, tracks, L]`.
pub fn task_totals(targets: &[f32], batch: usize, tasks: &[usize], len: usize) -> Vec<f32> {
    let tracks: usize = tasks.iter().sum();
    let mut out = Vec::with_capacity(batch * tasks.len());
    for b in 0..batch {
        let mut t0 = 0;
        for &tg in tasks {
            let ys = &targets[(b * tracks + t0) * len..(b * tracks + t0 + tg) * len];
            out.push(ys.iter().map(|&y| y as f64).sum::<f64>() as f32);
            t0 += tg;
        }
    }
    out
}

/// Mean MNLL over examples and tasks: `logits` and `targets` `[B, tracks, L]`, `constants`
/// `[B, tasks]` from [`mnll_constants`].
pub fn profile_loss(
    logits: Tensor<3>,
    targets: Tensor<3>,
    constants: Tensor<2>,
    tasks: &[usize],
) -> Tensor<1> {
    let [b, _, len] = logits.dims();
    let mut terms = Vec::with_capacity(tasks.len());
    let mut t0 = 0;
    for &tg in tasks {
        let lg = logits
            .clone()
            .slice(s![.., t0..t0 + tg, ..])
            .reshape([b as i32, (tg * len) as i32]);
        let y = targets
            .clone()
            .slice(s![.., t0..t0 + tg, ..])
            .reshape([b as i32, (tg * len) as i32]);
        terms.push((y * log_softmax(lg, 1)).sum_dim(1));
        t0 += tg;
    }
    let ll = Tensor::cat(terms, 1) + constants;
    ll.neg().mean()
}

/// Mean squared error between predicted log counts and `log(1 + totals)`, both `[B, tasks]`.
pub fn count_loss(log_counts: Tensor<2>, totals: Tensor<2>) -> Tensor<1> {
    (log_counts - totals.log1p()).powi_scalar(2).mean()
}

/// bpnet-lite's default count-loss weight: the median total signal of the training peaks
/// (all tracks, out window) divided by 10; 1 when there are no peaks.
pub fn default_count_weight(peak_totals: &[f64]) -> f64 {
    if peak_totals.is_empty() {
        return 1.0;
    }
    let mut v = peak_totals.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    median / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_gamma_matches_factorials_and_known_values() {
        for (n, fact) in [(1u32, 1.0f64), (2, 1.0), (5, 24.0), (11, 3_628_800.0)] {
            assert!((ln_gamma(n as f64) - fact.ln()).abs() < 1e-12, "Γ({n})");
        }
        // Γ(1/2) = √π; Γ(0.1) = 9.513507698668731836…
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-13);
        assert!((ln_gamma(0.1) - 9.513_507_698_668_732f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn losses_equal_hand_computed_values() {
        let device = Device::flex();
        // One example, one stranded task (2 tracks × 2 positions), uniform logits: p = 1/4.
        // y = [1, 0 | 2, 1], n = 4: MNLL = −(ln 4! − ln 2! + 4 ln ¼) = 3.060271…
        let y = vec![1.0f32, 0.0, 2.0, 1.0];
        let c = mnll_constants(&y, 1, &[2], 2);
        assert!((c[0] as f64 - (24f64.ln() - 2f64.ln())).abs() < 1e-6);
        let logits = Tensor::<3>::zeros([1, 2, 2], &device);
        let targets = Tensor::<3>::from_data(TensorData::new(y.clone(), [1, 2, 2]), &device);
        let consts = Tensor::<2>::from_data(TensorData::new(c, [1, 1]), &device);
        let l = profile_loss(logits, targets.clone(), consts.clone(), &[2]).into_scalar::<f32>();
        let want = -(24f64.ln() - 2f64.ln() + 4.0 * 0.25f64.ln());
        assert!((l as f64 - want).abs() < 1e-5, "{l} vs {want}");
        // Logits that put all mass where the counts are lower the loss.
        let sharp = Tensor::<3>::from_data(
            TensorData::new(vec![0.7f32, -9.0, 1.4, 0.7], [1, 2, 2]),
            &device,
        );
        assert!(profile_loss(sharp, targets, consts, &[2]).into_scalar::<f32>() < l);

        // Count loss: (ln 5 − ln(1 + 4))² = 0 and (0 − ln 5)².
        let pred = Tensor::<2>::from_data(TensorData::new(vec![5f32.ln(), 0.0], [2, 1]), &device);
        let tot = Tensor::<2>::from_data(TensorData::new(vec![4.0f32, 4.0], [2, 1]), &device);
        let m = count_loss(pred, tot).into_scalar::<f32>();
        assert!((m as f64 - 5f64.ln().powi(2) / 2.0).abs() < 1e-5, "{m}");
        assert_eq!(task_totals(&y, 1, &[1, 1], 2), [1.0, 3.0]);
        assert_eq!(default_count_weight(&[10.0, 30.0, 20.0]), 2.0);
    }
}
