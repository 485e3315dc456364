//! Validation metrics, computed on the host from predictions and targets:
//! profile Pearson and Jensen–Shannon distance (per example and task, averaged), count Pearson
//! and MSE (across examples, per task, averaged).

use serde::{Deserialize, Serialize};

/// One epoch's validation figures.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Metrics {
    /// Mean loss (profile MNLL + weight × count MSE).
    pub loss: f64,
    /// Mean profile MNLL.
    pub profile_mnll: f64,
    /// Mean count MSE (of log(1 + counts)).
    pub count_mse: f64,
    /// Mean Pearson correlation of predicted and observed profiles (examples with signal).
    pub profile_pearson: f64,
    /// Mean Jensen–Shannon distance (natural log, in [0, √ln 2]) of predicted and observed
    /// profile distributions (examples with signal).
    pub profile_jsd: f64,
    /// Pearson correlation of predicted and observed log(1 + counts) across examples.
    pub count_pearson: f64,
}

/// Pearson correlation; NaN when either side is constant.
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len()) as f64;
    if n < 2.0 {
        return f64::NAN;
    }
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (dx, dy) = (x - ma, y - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    sab / (saa * sbb).sqrt()
}

/// Jensen–Shannon distance between two distributions (each normalised here).
pub fn js_distance(p: &[f64], q: &[f64]) -> f64 {
    let (sp, sq) = (p.iter().sum::<f64>(), q.iter().sum::<f64>());
    let kl = |a: f64, m: f64| if a > 0.0 { a * (a / m).ln() } else { 0.0 };
    let mut d = 0.0;
    for (&x, &y) in p.iter().zip(q) {
        let (x, y) = (x / sp, y / sq);
        let m = 0.5 * (x + y);
        d += 0.5 * kl(x, m) + 0.5 * kl(y, m);
    }
    d.max(0.0).sqrt()
}

/// Accumulates predictions and targets of many batches.
#[derive(Debug, Default)]
pub struct Accumulator {
    tasks: Vec<usize>,
    len: usize,
    profile_pearson: (f64, usize),
    profile_jsd: (f64, usize),
    pred_counts: Vec<Vec<f64>>,
    obs_counts: Vec<Vec<f64>>,
    loss: (f64, f64, f64, usize),
}

impl Accumulator {
    /// For `tasks` (tracks per task) over `len` positions.
    pub fn new(tasks: &[usize], len: usize) -> Self {
        Accumulator {
            tasks: tasks.to_vec(),
            len,
            pred_counts: vec![Vec::new(); tasks.len()],
            obs_counts: vec![Vec::new(); tasks.len()],
            ..Default::default()
        }
    }

    /// Adds a batch: profile logits and targets `[B, tracks, len]`, log counts `[B, tasks]`,
    /// and the batch's mean losses.
    pub fn add(
        &mut self,
        logits: &[f32],
        targets: &[f32],
        log_counts: &[f32],
        losses: (f64, f64, f64),
    ) {
        let tracks: usize = self.tasks.iter().sum();
        let b = logits.len() / (tracks * self.len).max(1);
        for i in 0..b {
            let mut t0 = 0;
            for (k, &tg) in self.tasks.iter().enumerate() {
                let span = (i * tracks + t0) * self.len..(i * tracks + t0 + tg) * self.len;
                let lg = &logits[span.clone()];
                let y: Vec<f64> = targets[span].iter().map(|&v| v as f64).collect();
                let max = lg.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
                let e: Vec<f64> = lg.iter().map(|&v| (v as f64 - max).exp()).collect();
                let total: f64 = y.iter().sum();
                if total > 0.0 {
                    let r = pearson(&e, &y);
                    if r.is_finite() {
                        self.profile_pearson.0 += r;
                        self.profile_pearson.1 += 1;
                    }
                    self.profile_jsd.0 += js_distance(&e, &y);
                    self.profile_jsd.1 += 1;
                }
                self.pred_counts[k].push(log_counts[i * self.tasks.len() + k] as f64);
                self.obs_counts[k].push(total.ln_1p());
                t0 += tg;
            }
        }
        self.loss.0 += losses.0 * b as f64;
        self.loss.1 += losses.1 * b as f64;
        self.loss.2 += losses.2 * b as f64;
        self.loss.3 += b;
    }

    /// The figures over everything added.
    pub fn finish(&self) -> Metrics {
        let mean = |s: (f64, usize)| if s.1 > 0 { s.0 / s.1 as f64 } else { f64::NAN };
        let n = self.loss.3.max(1) as f64;
        let count_pearson = self
            .pred_counts
            .iter()
            .zip(&self.obs_counts)
            .map(|(p, o)| pearson(p, o))
            .sum::<f64>()
            / self.tasks.len().max(1) as f64;
        Metrics {
            loss: self.loss.0 / n,
            profile_mnll: self.loss.1 / n,
            count_mse: self.loss.2 / n,
            profile_pearson: mean(self.profile_pearson),
            profile_jsd: mean(self.profile_jsd),
            count_pearson,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_match_hand_computed_values() {
        assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]) - 1.0).abs() < 1e-12);
        assert!((pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        assert!(pearson(&[1.0, 1.0], &[1.0, 2.0]).is_nan());
        assert_eq!(js_distance(&[1.0, 3.0], &[2.0, 6.0]), 0.0);
        // Disjoint supports: JSD = ln 2, distance √ln 2.
        assert!((js_distance(&[1.0, 0.0], &[0.0, 1.0]) - 2f64.ln().sqrt()).abs() < 1e-12);
        // A batch whose logits match the targets' shape exactly.
        let mut acc = Accumulator::new(&[1], 3);
        let y = [1.0f32, 2.0, 4.0];
        let logits: Vec<f32> = y.iter().map(|v| v.ln()).collect();
        acc.add(&logits, &y, &[7f32.ln_1p()], (1.0, 0.5, 0.25));
        acc.add(
            &logits,
            &[2.0, 4.0, 8.0],
            &[14f32.ln_1p()],
            (3.0, 1.5, 0.75),
        );
        let m = acc.finish();
        assert!(
            (m.profile_pearson - 1.0).abs() < 1e-6 && m.profile_jsd < 1e-6,
            "{m:?}"
        );
        assert!((m.count_pearson - 1.0).abs() < 1e-6);
        assert_eq!((m.loss, m.profile_mnll, m.count_mse), (2.0, 1.0, 0.5));
    }
}
