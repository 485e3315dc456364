//! `random_split`: dividing records into parts (train / validation / …) with TileDB-SOMA-ML's
//! three methods.

use serde::{Deserialize, Serialize};

use crate::order::shuffled;
use crate::rng::{rng, stream, unit_f64};
use crate::{Error, Result};

/// How part sizes are decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitMethod {
    /// Part `i` gets `round(frac_i · N)` records (the last part takes what remains, so sizes
    /// sum to `N`).
    #[default]
    Deterministic,
    /// Each record picks its part independently with probabilities `fracs`.
    Multinomial,
    /// Part `i` gets `floor(frac_i · N)` or one more; the remainder goes to parts with
    /// probability equal to their fractional parts, so expected sizes are exactly `frac_i · N`.
    StochasticRounding,
}

/// Splits records `0..n` into `fracs.len()` disjoint parts covering all records; each part's
/// ids are sorted ascending (reads stay ordered). Fractions must be ≥ 0 and sum to 1 within
/// 1e-6.
///
/// ```
/// use biobatch_sampling::{random_split, SplitMethod};
///
/// let parts = random_split(1_000, &[0.8, 0.2], 7, SplitMethod::Deterministic).unwrap();
/// assert_eq!((parts[0].len(), parts[1].len()), (800, 200));
/// ```
pub fn random_split(
    n: u64,
    fracs: &[f64],
    seed: u64,
    method: SplitMethod,
) -> Result<Vec<Vec<u64>>> {
    if fracs.is_empty() {
        return Err(Error::Invalid(
            "random_split needs at least one fraction".into(),
        ));
    }
    if let Some(f) = fracs.iter().find(|f| !(f.is_finite() && **f >= 0.0)) {
        return Err(Error::Invalid(format!(
            "fraction {f} is not a finite number ≥ 0"
        )));
    }
    let sum: f64 = fracs.iter().sum();
    if (sum - 1.0).abs() > 1e-6 {
        return Err(Error::Invalid(format!(
            "fractions sum to {sum}, not 1 (within 1e-6)"
        )));
    }
    let k = fracs.len();
    let mut parts: Vec<Vec<u64>> = vec![Vec::new(); k];
    match method {
        SplitMethod::Multinomial => {
            let cum: Vec<f64> = fracs
                .iter()
                .scan(0.0, |acc, f| {
                    *acc += f;
                    Some(*acc)
                })
                .collect();
            for i in 0..n {
                let u = unit_f64(&mut rng(seed, stream::SPLIT, 0, i)) * sum;
                let part = cum.iter().position(|&c| u < c).unwrap_or(k - 1);
                parts[part].push(i);
            }
            return Ok(parts);
        }
        SplitMethod::Deterministic | SplitMethod::StochasticRounding => {}
    }
    let sizes: Vec<u64> = match method {
        SplitMethod::Deterministic => {
            let mut sizes: Vec<u64> = fracs
                .iter()
                .map(|f| (f * n as f64).round() as u64)
                .collect();
            let head: u64 = sizes[..k - 1].iter().sum();
            if head > n {
                // Rounding up several parts can overshoot; trim from the largest.
                let mut over = head - n;
                while over > 0 {
                    let i = (0..k - 1).max_by_key(|&i| sizes[i]).unwrap_or(0);
                    sizes[i] -= 1;
                    over -= 1;
                }
            }
            sizes[k - 1] = n - sizes[..k - 1].iter().sum::<u64>();
            sizes
        }
        _ => {
            // Systematic rounding: one uniform u; part i gets an extra record when
            // [F_{i-1}, F_i) of the cumulative fractional parts holds u + j for an integer j,
            // which happens with probability exactly its fractional part.
            let exact: Vec<f64> = fracs.iter().map(|f| f * n as f64).collect();
            let mut sizes: Vec<u64> = exact.iter().map(|x| x.floor() as u64).collect();
            let u = unit_f64(&mut rng(seed, stream::SPLIT, 1, 0));
            let mut cum = 0.0;
            for i in 0..k {
                let lo = cum;
                cum += exact[i] - exact[i].floor();
                let hits = ((cum - u).floor() - (lo - u).floor()) as u64;
                sizes[i] += hits.min(1);
            }
            // Floating error can leave the total one off; settle on the last part.
            let total: u64 = sizes.iter().sum();
            if total != n {
                let last = k - 1;
                sizes[last] = (sizes[last] + n).saturating_sub(total);
            }
            sizes
        }
    };
    let perm = shuffled(n, &mut rng(seed, stream::SPLIT, 2, 0));
    let mut at = 0u64;
    for (part, &size) in parts.iter_mut().zip(&sizes) {
        part.extend((at..at + size).map(|p| perm.get(p)));
        part.sort_unstable();
        at += size;
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check_disjoint_cover(parts: &[Vec<u64>], n: u64) -> bool {
        let mut all: Vec<u64> = parts.iter().flatten().copied().collect();
        all.sort_unstable();
        all == (0..n).collect::<Vec<_>>()
    }

    #[test]
    fn fractions_must_sum_to_one() {
        assert!(random_split(10, &[0.5, 0.4], 0, SplitMethod::Deterministic).is_err());
        assert!(random_split(10, &[0.5, 0.5 + 1e-7], 0, SplitMethod::Deterministic).is_ok());
        assert!(random_split(10, &[1.5, -0.5], 0, SplitMethod::Deterministic).is_err());
        assert!(random_split(10, &[], 0, SplitMethod::Deterministic).is_err());
    }

    #[test]
    fn multinomial_is_statistically_sane() {
        let parts = random_split(100_000, &[0.7, 0.2, 0.1], 3, SplitMethod::Multinomial).unwrap();
        assert!(check_disjoint_cover(&parts, 100_000));
        for (p, f) in parts.iter().zip([0.7f64, 0.2, 0.1]) {
            let expected = 100_000.0 * f;
            let sd = (100_000.0 * f * (1.0 - f)).sqrt();
            assert!(
                (p.len() as f64 - expected).abs() < 5.0 * sd,
                "{} vs {expected}",
                p.len()
            );
        }
    }

    #[test]
    fn stochastic_rounding_matches_expectations() {
        // fracs * 10 = 3.5, 3.5, 3: the first two get 3 or 4, each 4 half the time.
        let mut fours = [0u32; 2];
        for seed in 0..2_000 {
            let parts = random_split(
                10,
                &[0.35, 0.35, 0.3],
                seed,
                SplitMethod::StochasticRounding,
            )
            .unwrap();
            assert_eq!(parts[2].len(), 3);
            for i in 0..2 {
                fours[i] += (parts[i].len() == 4) as u32;
            }
        }
        for f in fours {
            assert!((900..1_100).contains(&f), "{fours:?}");
        }
    }

    proptest! {
        #[test]
        fn sizes_and_bounds(n in 0u64..2_000, a in 0.0f64..1.0, b in 0.0f64..1.0, seed in any::<u64>()) {
            let total = a + b + 1.0;
            let fracs = [a / total, b / total, 1.0 / total];
            let det = random_split(n, &fracs, seed, SplitMethod::Deterministic).unwrap();
            prop_assert!(check_disjoint_cover(&det, n));
            for i in 0..2 {
                prop_assert!((det[i].len() as f64 - fracs[i] * n as f64).abs() <= 1.0);
            }
            let sr = random_split(n, &fracs, seed, SplitMethod::StochasticRounding).unwrap();
            prop_assert!(check_disjoint_cover(&sr, n));
            for i in 0..3 {
                // Each part gets floor or ceil of its share (the last part absorbs float error).
                let x = fracs[i] * n as f64;
                let slack = if i == 2 { 1.0 } else { 0.0 };
                let len = sr[i].len() as f64;
                prop_assert!(len >= x.floor() - slack && len <= x.ceil() + slack, "part {} has {} for {}", i, len, x);
            }
            prop_assert_eq!(&det, &random_split(n, &fracs, seed, SplitMethod::Deterministic).unwrap());
        }
    }
}
