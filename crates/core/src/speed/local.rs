//! Local calibration: this machine's effective memory bandwidth and compute,
//! as factors on what the speed model assumes, fitted from the machine's own
//! `canirun bench` history (`canirun calibrate`).
//!
//! Two parameters, each physical and bounded: decode reads the weights and
//! the KV cache, so the decode figures say which memory bandwidth this
//! machine really reaches; prefill multiplies, so the prefill figures say its
//! compute. Only part of a predicted time scales with the rate (kernel
//! launches and links do not): a point carries that share `s`, so the
//! predicted time with factor k is s·T/k + (1 − s)·T, and the factor that
//! makes it the measured time T_m is k = s·T ÷ (T_m − (1 − s)·T). Each
//! factor is the geometric mean of its points' k (one slow run does not
//! dominate), bounded to [`FACTOR_BOUNDS`]. Runs of other hardware or
//! engines never reach the fit: the history is keyed by a hardware
//! fingerprint and engine, and the caller passes one key's runs.
//!
//! The factors scale every device of the target alike; the history does not
//! say which device did which part of a split run, so a machine whose runs
//! mix devices gets one blended pair.

use super::DeviceRates;
use crate::units::{BytesPerSecond, FlopsPerSecond};
use serde::Serialize;

/// The range a factor may take: a thousandth to a hundred times the assumed
/// rate. The assumed device can be a stand-in (a typical 16-core desktop for
/// a CPU nobody named, run by one thread of a shared 2-core machine: measured
/// here at 0.005 to 0.017 of it), so the ratio can be far from 1; beyond these
/// the prediction used the wrong device.
pub const FACTOR_BOUNDS: (f64, f64) = (0.001, 100.0);

/// Which figure a history point is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Prompt processing (compute-bound).
    Prefill,
    /// Token generation (bandwidth-bound).
    Decode,
}

/// One measured figure with the uncalibrated prediction for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalPoint {
    /// Prefill or decode.
    pub phase: Phase,
    /// Predicted tokens per second, without local calibration.
    pub predicted: f64,
    /// Measured tokens per second.
    pub measured: f64,
    /// Share of the predicted time that scales with the factor (0..=1).
    pub scalable: f64,
}

/// This machine's factors.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LocalCalibration {
    /// Effective bandwidth ÷ the bandwidth the model assumed.
    pub bandwidth_factor: f64,
    /// Effective compute ÷ the compute the model assumed.
    pub compute_factor: f64,
    /// Decode figures behind `bandwidth_factor` (0: left at 1).
    pub decode_runs: usize,
    /// Prefill figures behind `compute_factor` (0: left at 1).
    pub prefill_runs: usize,
}

/// Why no calibration could be fitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LocalFitError {
    /// No usable point.
    #[error("no bench run with a prediction to fit (run `canirun bench` first)")]
    NoRuns,
}

impl LocalCalibration {
    /// Whether a factor sits at a bound of [`FACTOR_BOUNDS`] (the fit could
    /// not reach the measurements).
    pub fn at_bound(&self) -> bool {
        [self.bandwidth_factor, self.compute_factor]
            .iter()
            .any(|&f| f <= FACTOR_BOUNDS.0 || f >= FACTOR_BOUNDS.1)
    }

    /// Figures fitted in all.
    pub fn runs(&self) -> usize {
        self.decode_runs + self.prefill_runs
    }

    /// Scale a device's rates to what this machine reaches.
    pub fn apply(&self, d: &mut DeviceRates) {
        d.bandwidth = BytesPerSecond(d.bandwidth.0 * self.bandwidth_factor);
        d.compute = d.compute.map(|c| FlopsPerSecond(c.0 * self.compute_factor));
        if let Some(m) = d.mmq.as_mut() {
            m.compute = FlopsPerSecond(m.compute.0 * self.compute_factor);
        }
    }
}

impl LocalPoint {
    /// The factor that makes this point's prediction its measurement.
    pub fn factor(&self) -> f64 {
        let (t, t_m) = (1.0 / self.predicted, 1.0 / self.measured);
        let s = self.scalable.clamp(0.0, 1.0);
        let left = t_m - (1.0 - s) * t;
        if left <= 0.0 || s == 0.0 {
            // Faster than the part that does not scale: as fast as allowed.
            return FACTOR_BOUNDS.1;
        }
        (s * t / left).clamp(FACTOR_BOUNDS.0, FACTOR_BOUNDS.1)
    }

    /// The predicted rate with factor `k` on the scalable share.
    pub fn predicted_with(&self, k: f64) -> f64 {
        let t = 1.0 / self.predicted;
        let s = self.scalable.clamp(0.0, 1.0);
        1.0 / (s * t / k + (1.0 - s) * t)
    }
}

fn geo_mean_ratio(points: &[LocalPoint], phase: Phase) -> (f64, usize) {
    let logs: Vec<f64> = points
        .iter()
        .filter(|p| p.phase == phase && p.predicted > 0.0 && p.measured > 0.0)
        .filter(|p| p.predicted.is_finite() && p.measured.is_finite())
        .map(|p| p.factor().ln())
        .collect();
    if logs.is_empty() {
        return (1.0, 0);
    }
    let f = (logs.iter().sum::<f64>() / logs.len() as f64).exp();
    (f.clamp(FACTOR_BOUNDS.0, FACTOR_BOUNDS.1), logs.len())
}

/// Fit the two factors from one machine's and engine's history points.
pub fn fit(points: &[LocalPoint]) -> Result<LocalCalibration, LocalFitError> {
    let (bandwidth_factor, decode_runs) = geo_mean_ratio(points, Phase::Decode);
    let (compute_factor, prefill_runs) = geo_mean_ratio(points, Phase::Prefill);
    if decode_runs + prefill_runs == 0 {
        return Err(LocalFitError::NoRuns);
    }
    Ok(LocalCalibration {
        bandwidth_factor,
        compute_factor,
        decode_runs,
        prefill_runs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(phase: Phase, predicted: f64, measured: f64) -> LocalPoint {
        LocalPoint {
            phase,
            predicted,
            measured,
            scalable: 1.0,
        }
    }

    #[test]
    fn a_fixed_share_of_the_time_does_not_scale() {
        // Predicted 10 ms per token, half of it kernel launches; measured 25 ms:
        // the bandwidth part must take 20 ms, a factor of 5 ms ÷ 20 ms = 0.25.
        let q = LocalPoint {
            phase: Phase::Decode,
            predicted: 100.0,
            measured: 40.0,
            scalable: 0.5,
        };
        assert!((q.factor() - 0.25).abs() < 1e-12);
        assert!((q.predicted_with(q.factor()) - 40.0).abs() < 1e-9);
        // Faster than the launches alone: as fast as the bounds allow.
        let fast = LocalPoint {
            measured: 250.0,
            ..q
        };
        assert_eq!(fast.factor(), FACTOR_BOUNDS.1);
    }

    #[test]
    fn each_factor_is_the_geometric_mean_of_its_phase() {
        let c = fit(&[
            p(Phase::Decode, 10.0, 20.0),
            p(Phase::Decode, 10.0, 5.0),
            p(Phase::Prefill, 100.0, 50.0),
        ])
        .unwrap();
        // √(2 × 0.5) = 1: a fast and a slow run cancel.
        assert!((c.bandwidth_factor - 1.0).abs() < 1e-12);
        assert!((c.compute_factor - 0.5).abs() < 1e-12);
        assert_eq!((c.decode_runs, c.prefill_runs, c.runs()), (2, 1, 3));
    }

    #[test]
    fn a_missing_phase_stays_at_one_and_factors_are_bounded() {
        let c = fit(&[p(Phase::Decode, 1.0, 1e6)]).unwrap();
        assert_eq!(c.bandwidth_factor, FACTOR_BOUNDS.1);
        assert_eq!(c.compute_factor, 1.0);
        assert_eq!(
            fit(&[p(Phase::Prefill, 0.0, 3.0)]),
            Err(LocalFitError::NoRuns)
        );
    }
}
