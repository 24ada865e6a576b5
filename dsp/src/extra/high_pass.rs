//! Top-level `highPass`: NodeLink's `{smoothing}` knob, or Rustalink's/LavaDSPX's
//! `{cutoffFrequency, boostFactor}` when `cutoffFrequency` is present (plugins.md §7.3 B).

use super::biquad::{Coeffs, Kind, BUTTERWORTH_Q};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HighPass {
    /// NodeLink: `smoothing` > 1 enables; mapped to a Butterworth cutoff.
    Smoothing { smoothing: f32 },
    /// Rustalink/LavaDSPX: RBJ high-pass at `cutoff_frequency` Hz, × `boost_factor`,
    /// clamped to ±1.
    Cutoff {
        cutoff_frequency: f32,
        boost_factor: f32,
    },
}

impl HighPass {
    pub fn active(&self) -> bool {
        match *self {
            HighPass::Smoothing { smoothing } => smoothing > 1.0 && smoothing.is_finite(),
            HighPass::Cutoff {
                cutoff_frequency, ..
            } => cutoff_frequency > 0.0 && cutoff_frequency.is_finite(),
        }
    }

    /// (coefficients, output gain, clamp) for the biquad stage.
    pub(crate) fn design(&self) -> (Coeffs, f32, bool) {
        match *self {
            HighPass::Smoothing { smoothing } => (
                Coeffs::rbj(Kind::HighPass, smoothing_cutoff(smoothing), BUTTERWORTH_Q),
                1.0,
                false,
            ),
            HighPass::Cutoff {
                cutoff_frequency,
                boost_factor,
            } => (
                Coeffs::rbj(Kind::HighPass, cutoff_frequency, BUTTERWORTH_Q),
                boost_factor,
                true,
            ),
        }
    }
}

/// NodeLink's mapping of the core-`lowPass`-style knob to a cutoff:
/// `a = min(0.5, 0.5·log10(smoothing)/3)`, `fc = −sr/(2π)·ln(1 − a)`, within 20–23 000 Hz.
pub fn smoothing_cutoff(smoothing: f32) -> f32 {
    let s = smoothing.max(1.0) as f64;
    let a = (0.5 * s.log10() / 3.0).min(0.5);
    let fc = -(crate::chain::SAMPLE_RATE as f64) / std::f64::consts::TAU * (1.0 - a).ln();
    fc.clamp(20.0, 23_000.0) as f32
}
